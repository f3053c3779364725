/*
 * Fuzz target: the configuration parser (daemon/config.c) on a file of
 * arbitrary bytes, as droverd reads /etc/drover/drover.conf at start, on
 * SIGHUP and for --check-config. The bytes go into a memfd that config_load()
 * opens by its /proc/self/fd path, so the real reader (fopen, the line
 * reader, inih) runs.
 *
 * Invariants: a refused file says why (a non-empty reason); an accepted one
 * prints (config_print, what --check-config shows) as a file that loads
 * again and prints the same, so the printed configuration is the effective
 * one.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static int memfd_with(const void *data, size_t size)
{
	int fd = memfd_create("drover-fuzz-conf", MFD_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		fuzz_fail("memfd_create: %s", strerror(errno));
	while (off < size) {
		ssize_t n = write(fd, (const char *)data + off, size - off);

		if (n <= 0)
			fuzz_fail("write to memfd: %s", strerror(errno));
		off += (size_t)n;
	}
	return fd;
}

static char *printed(const struct drover_config *c, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		fuzz_fail("open_memstream: %s", strerror(errno));
	config_print(f, c);
	fclose(f);
	*ret_len = len;
	return buf;
}

static int load(const void *data, size_t size, struct drover_config *ret, char *err, size_t errlen)
{
	char path[64];
	int fd = memfd_with(data, size), r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = config_load(path, 1, ret, err, errlen);
	close(fd);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct drover_config c, again;
	char err[512] = "", err2[512] = "";
	char *text, *text2;
	size_t len, len2;
	int r;

	r = load(data, size, &c, err, sizeof(err));
	if (r < 0) {
		fuzz_check(err[0] != '\0', "config_load refused a file (%d) without a reason", r);
		fuzz_check(memchr(err, '\0', sizeof(err)) != NULL, "the reason is not terminated");
		return 0;
	}
	text = printed(&c, &len);
	r = load(text, len, &again, err2, sizeof(err2));
	fuzz_check(r == 0, "the printed configuration does not load: %s\n--- printed:\n%s", err2,
		   text);
	text2 = printed(&again, &len2);
	fuzz_check(len == len2 && memcmp(text, text2, len) == 0,
		   "the printed configuration loads as another one\n--- first:\n%s--- second:\n%s",
		   text, text2);
	free(text);
	free(text2);
	return 0;
}
