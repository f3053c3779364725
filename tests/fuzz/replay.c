/*
 * The corpus replay: a plain main() for a fuzz target, built by the normal
 * (gcc) build, that runs every file of the given directories (and files)
 * through LLVMFuzzerTestOneInput() once. `meson test` runs it over each
 * target's corpus, so the seeds and every crash input added after a fix are
 * checked in each unit run without clang or libFuzzer.
 *
 * An empty or missing corpus is a failure: a replay of nothing would pass
 * while testing nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "replay: cannot open '%s': %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t got;

		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	fclose(f);
	/* libFuzzer hands over exactly len bytes: a copy of that size lets ASan see overreads. */
	{
		uint8_t *exact = malloc(len ? len : 1);

		if (!exact)
			abort();
		memcpy(exact, buf, len);
		free(buf);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	(*n)++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t count = 0;
	int r = 0;

	if (!d) {
		fprintf(stderr, "replay: cannot open '%s': %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		names = realloc(names, (count + 1) * sizeof(*names));
		if (!names || !(names[count] = strdup(e->d_name)))
			abort();
		count++;
	}
	closedir(d);
	/* In name order, so a failure names the same file on every run. */
	qsort(names, count, sizeof(*names), cmp_names);
	for (size_t i = 0; i < count; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fprintf(stderr, "replay: %s\n", path);
		if (replay_file(path, n) < 0)
			r = -1;
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	size_t n = 0;
	int r = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			r |= replay_dir(argv[i], &n);
		else
			r |= replay_file(argv[i], &n);
	}
	printf("replayed %zu input(s)\n", n);
	if (n == 0) {
		fprintf(stderr, "replay: no input: an empty corpus tests nothing\n");
		return 1;
	}
	return r ? 1 : 0;
}
