/*
 * Persistence of the replicated configuration: round trip, missing file,
 * corrupt files rejected without touching the caller's state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "persist.h"

static char dir[64];

static int setup(void **unused)
{
	(void)unused;
	strcpy(dir, "/tmp/drover-persist-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **unused)
{
	char cmd[128];

	(void)unused;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *content, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, PERSIST_FILE);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, len, f), len);
	fclose(f);
}

static void test_roundtrip(void **unused)
{
	struct cluster_state a, b;

	(void)unused;
	state_init(&a);
	a.epoch = 12;
	a.n_nodes = 2;
	a.nodes[0].id = 1;
	a.nodes[0].state = DROVER__NODE_STATE__NODE_STATE_ACTIVE;
	a.nodes[1].id = 4;
	a.nodes[1].state = DROVER__NODE_STATE__NODE_STATE_MAINTENANCE;
	assert_int_equal(persist_load(dir, &b), -ENOENT);
	assert_int_equal(persist_save(dir, &a), 0);
	assert_int_equal(persist_load(dir, &b), 0);
	assert_int_equal(state_hash(&a), state_hash(&b));
	/* Overwrite keeps working (rename over an existing file). */
	a.epoch = 13;
	assert_int_equal(persist_save(dir, &a), 0);
	assert_int_equal(persist_load(dir, &b), 0);
	assert_int_equal(b.epoch, 13);
}

static void test_corrupt(void **unused)
{
	struct cluster_state s, orig;
	struct cluster_state good;
	char path[128], buf[256];
	FILE *f;
	size_t n;

	(void)unused;
	state_init(&s);
	s.epoch = 99;
	orig = s;
	write_file("", 0);
	assert_int_equal(persist_load(dir, &s), -EBADMSG);
	write_file("DRVRSTAT\0\0\0\1\0\0\0\5abc", 19); /* length says 5, has 3 */
	assert_int_equal(persist_load(dir, &s), -EBADMSG);
	write_file("NOTMAGIC\0\0\0\1\0\0\0\0", 16);
	assert_int_equal(persist_load(dir, &s), -EBADMSG);
	write_file("DRVRSTAT\0\0\0\2\0\0\0\0", 16); /* future format */
	assert_int_equal(persist_load(dir, &s), -EBADMSG);
	write_file("DRVRSTAT\0\0\0\1\0\0\0\3\xff\xff\xff", 19); /* protobuf garbage */
	assert_int_equal(persist_load(dir, &s), -EBADMSG);
	assert_memory_equal(&s, &orig, sizeof(s));

	/* Truncating a good file anywhere is detected. */
	state_init(&good);
	good.epoch = 3;
	good.n_nodes = 1;
	good.nodes[0].id = 2;
	good.nodes[0].state = DROVER__NODE_STATE__NODE_STATE_MAINTENANCE;
	assert_int_equal(persist_save(dir, &good), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, PERSIST_FILE);
	f = fopen(path, "r");
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	for (size_t cut = 0; cut < n; cut++) {
		write_file(buf, cut);
		assert_int_equal(persist_load(dir, &s), -EBADMSG);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
