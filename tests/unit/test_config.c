/*
 * The configuration parser: good, empty and missing files, and every kind of
 * error, each checked for its return code, for the exact "FILE:LINE: reason"
 * message, and for leaving the caller's struct untouched.
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
#include <syslog.h>
#include <unistd.h>

#include "config.h"

static char dir[256];
static char path[sizeof(dir) + 64];
static char err[1024];
static unsigned n_files;

static int setup(void **unused)
{
	const char *tmp = getenv("TMPDIR");

	(void)unused;
	snprintf(dir, sizeof(dir), "%s/drover-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **unused)
{
	char cmd[sizeof(dir) + 16];

	(void)unused;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write content to a new file in dir and leave its name in path. */
static void write_conf(const char *content)
{
	FILE *f;
	size_t len = strlen(content);

	snprintf(path, sizeof(path), "%s/drover-%u.conf", dir, n_files++);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void assert_config_equal(const struct drover_config *a, const struct drover_config *b)
{
	assert_string_equal(a->state_dir, b->state_dir);
	assert_int_equal(a->log_priority, b->log_priority);
	assert_string_equal(a->ipc_group, b->ipc_group);
	assert_int_equal(a->link_poll_ms, b->link_poll_ms);
	assert_int_equal(a->request_timeout_ms, b->request_timeout_ms);
	assert_string_equal(a->cpg_group, b->cpg_group);
}

/*
 * Load content, expect it to fail with r and the message "PATH:LINE: reason",
 * and check that the output struct was not written.
 */
static void expect_error(const char *content, int r, unsigned line, const char *reason)
{
	struct drover_config c, sentinel;
	char want[sizeof(path) + 512];

	write_conf(content);
	memset(&c, 0xa5, sizeof(c));
	memset(&sentinel, 0xa5, sizeof(sentinel));
	err[0] = '\0';
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), r);
	snprintf(want, sizeof(want), "%s:%u: %s", path, line, reason);
	assert_string_equal(err, want);
	assert_memory_equal(&c, &sentinel, sizeof(c));
}

static void test_defaults(void **unused)
{
	struct drover_config c;

	(void)unused;
	config_defaults(&c);
	assert_string_equal(c.state_dir, "/var/lib/drover");
	assert_int_equal(c.log_priority, LOG_INFO);
	assert_string_equal(c.ipc_group, "drover");
	assert_int_equal(c.link_poll_ms, 1000);
	assert_int_equal(c.request_timeout_ms, 10000);
	assert_string_equal(c.cpg_group, "drover");
}

static void test_good_file(void **unused)
{
	struct drover_config c;

	(void)unused;
	write_conf("# a comment\n"
		   "; another comment\n"
		   "\n"
		   "[daemon]\n"
		   "state_dir = /srv/drover/state\n"
		   "log_level=debug\n"
		   "  ipc_group = hv-admins   ; inline comment\n"
		   "link_poll_interval_ms = 250\r\n"
		   "request_timeout_ms = 600000\n"
		   "\n"
		   "[cluster]\n"
		   "cpg_group = drover-prod.2\n");
	memset(&c, 0, sizeof(c));
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), 0);
	assert_string_equal(c.state_dir, "/srv/drover/state");
	assert_int_equal(c.log_priority, LOG_DEBUG);
	assert_string_equal(c.ipc_group, "hv-admins");
	assert_int_equal(c.link_poll_ms, 250);
	assert_int_equal(c.request_timeout_ms, 600000);
	assert_string_equal(c.cpg_group, "drover-prod.2");
}

static void test_partial_file_keeps_defaults(void **unused)
{
	struct drover_config c, def;

	(void)unused;
	write_conf("[daemon]\nlog_level = warning\n");
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), 0);
	config_defaults(&def);
	def.log_priority = LOG_WARNING;
	assert_config_equal(&c, &def);
}

static void test_range_limits_accepted(void **unused)
{
	struct drover_config c;
	char cpg[128], content[256];

	(void)unused;
	memset(cpg, 'g', 127);
	cpg[127] = '\0';
	snprintf(content, sizeof(content),
		 "[daemon]\nlink_poll_interval_ms = 100\nrequest_timeout_ms = 100\n"
		 "[cluster]\ncpg_group = %s\n",
		 cpg);
	write_conf(content);
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), 0);
	assert_int_equal(c.link_poll_ms, 100);
	assert_int_equal(c.request_timeout_ms, 100);
	assert_string_equal(c.cpg_group, cpg);

	write_conf("[daemon]\nlink_poll_interval_ms = 60000\nlog_level = err\n");
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), 0);
	assert_int_equal(c.link_poll_ms, 60000);
	assert_int_equal(c.log_priority, LOG_ERR);
}

static void test_empty_file(void **unused)
{
	struct drover_config c, def;

	(void)unused;
	write_conf("");
	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), 0);
	config_defaults(&def);
	assert_config_equal(&c, &def);

	/* Sections with nothing in them are fine too. */
	write_conf("\n# nothing\n[daemon]\n[cluster]\n");
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), 0);
	assert_config_equal(&c, &def);
}

static void test_missing_file(void **unused)
{
	struct drover_config c, def, sentinel;
	char want[sizeof(path) + 64];

	(void)unused;
	config_defaults(&def);
	snprintf(path, sizeof(path), "%s/does-not-exist.conf", dir);

	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(config_load(path, 0, &c, err, sizeof(err)), 0);
	assert_config_equal(&c, &def);

	memset(&c, 0xa5, sizeof(c));
	memset(&sentinel, 0xa5, sizeof(sentinel));
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);
	assert_memory_equal(&c, &sentinel, sizeof(c));
}

static void test_directory_is_not_a_file(void **unused)
{
	struct drover_config c;

	(void)unused;
	err[0] = '\0';
	assert_int_equal(config_load(dir, 0, &c, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, dir));
}

static void test_unknown_key(void **unused)
{
	(void)unused;
	expect_error("[daemon]\nlog_level = info\n\nfoo = 1\n", -EINVAL, 4,
		     "unknown key 'foo' in [daemon]");
	/* A key of the other section is unknown here. */
	expect_error("[daemon]\ncpg_group = x\n", -EINVAL, 2,
		     "unknown key 'cpg_group' in [daemon]");
	/* Keys are case-sensitive. */
	expect_error("[cluster]\nCPG_group = x\n", -EINVAL, 2,
		     "unknown key 'CPG_group' in [cluster]");
}

static void test_key_outside_section(void **unused)
{
	(void)unused;
	expect_error("# top\nlog_level = info\n", -EINVAL, 2,
		     "key 'log_level' is not in a section");
}

static void test_unknown_section(void **unused)
{
	(void)unused;
	expect_error("[daemon]\nlog_level = info\n[deamon]\nstate_dir = /x\n", -EINVAL, 3,
		     "unknown section [deamon]");
	/* Reported even with no key in it. */
	expect_error("[cluster]\n\n\n[extra]\n", -EINVAL, 4, "unknown section [extra]");
	/* And behind a byte order mark on the first line. */
	expect_error("\xEF\xBB\xBF[Daemon]\n", -EINVAL, 1, "unknown section [Daemon]");
}

static void test_bad_integer(void **unused)
{
	(void)unused;
	expect_error("[daemon]\nlink_poll_interval_ms = abc\n", -EINVAL, 2,
		     "bad value 'abc' for link_poll_interval_ms: expected an integer 100..60000");
	expect_error("[daemon]\n\nrequest_timeout_ms = 10s\n", -EINVAL, 3,
		     "bad value '10s' for request_timeout_ms: expected an integer 100..600000");
	expect_error("[daemon]\nlink_poll_interval_ms = -500\n", -EINVAL, 2,
		     "bad value '-500' for link_poll_interval_ms: expected an integer 100..60000");
	expect_error("[daemon]\nlink_poll_interval_ms =\n", -EINVAL, 2,
		     "bad value '' for link_poll_interval_ms: expected an integer 100..60000");
}

static void test_out_of_range(void **unused)
{
	(void)unused;
	expect_error("[daemon]\nlink_poll_interval_ms = 99\n", -EINVAL, 2,
		     "bad value '99' for link_poll_interval_ms: expected an integer 100..60000");
	expect_error("[daemon]\nlink_poll_interval_ms = 60001\n", -EINVAL, 2,
		     "bad value '60001' for link_poll_interval_ms: expected an integer 100..60000");
	expect_error("[daemon]\nrequest_timeout_ms = 600001\n", -EINVAL, 2,
		     "bad value '600001' for request_timeout_ms: expected an integer 100..600000");
	/* Beyond uint64_t, and a value that would wrap a uint32_t to 1000. */
	expect_error("[daemon]\nrequest_timeout_ms = 99999999999999999999999\n", -EINVAL, 2,
		     "bad value '99999999999999999999999' for request_timeout_ms: expected an "
		     "integer 100..600000");
	expect_error("[daemon]\nlink_poll_interval_ms = 4294968296\n", -EINVAL, 2,
		     "bad value '4294968296' for link_poll_interval_ms: expected an integer "
		     "100..60000");
}

static void test_relative_state_dir(void **unused)
{
	(void)unused;
	expect_error("[daemon]\nstate_dir = var/lib/drover\n", -EINVAL, 2,
		     "bad value 'var/lib/drover' for state_dir: expected an absolute path");
	expect_error("[daemon]\nstate_dir =\n", -EINVAL, 2,
		     "bad value '' for state_dir: expected an absolute path");
	expect_error("[daemon]\nstate_dir = /var/lib/\tdrover\n", -EINVAL, 2,
		     "bad value '/var/lib/\tdrover' for state_dir: expected an absolute path");
}

static void test_bad_log_level(void **unused)
{
	(void)unused;
	expect_error("[daemon]\nlog_level = loud\n", -EINVAL, 2,
		     "bad value 'loud' for log_level: expected one of err, warning, notice, "
		     "info, debug");
	expect_error("[daemon]\nlog_level = INFO\n", -EINVAL, 2,
		     "bad value 'INFO' for log_level: expected one of err, warning, notice, "
		     "info, debug");
}

static void test_bad_groups(void **unused)
{
	char content[256], value[160];

	(void)unused;
	expect_error("[daemon]\nipc_group = -wheel\n", -EINVAL, 2,
		     "bad value '-wheel' for ipc_group: expected a group name: 1..63 letters, "
		     "digits, '.', '_' or '-', not starting with '-'");
	expect_error("[daemon]\nipc_group = drover admins\n", -EINVAL, 2,
		     "bad value 'drover admins' for ipc_group: expected a group name: 1..63 "
		     "letters, digits, '.', '_' or '-', not starting with '-'");
	memset(value, 'a', 64);
	value[64] = '\0';
	snprintf(content, sizeof(content), "[daemon]\nipc_group = %s\n", value);
	write_conf(content);
	assert_int_equal(config_load(path, 1, &(struct drover_config){0}, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, ":2: bad value 'aaaa"));

	expect_error("[cluster]\ncpg_group =\n", -EINVAL, 2,
		     "bad value '' for cpg_group: expected 1..127 printable characters without "
		     "spaces");
	expect_error("[cluster]\ncpg_group = a b\n", -EINVAL, 2,
		     "bad value 'a b' for cpg_group: expected 1..127 printable characters "
		     "without spaces");
	memset(value, 'g', 128);
	value[128] = '\0';
	snprintf(content, sizeof(content), "[cluster]\ncpg_group = %s\n", value);
	write_conf(content);
	assert_int_equal(config_load(path, 1, &(struct drover_config){0}, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, ":2: bad value 'gggg"));
}

static void test_syntax_error(void **unused)
{
	(void)unused;
	expect_error("[daemon]\nlog_level info\n", -EINVAL, 2, "syntax error");
	expect_error("[daemon]\nlog_level = info\n\n[cluster\ncpg_group = x\n", -EINVAL, 4,
		     "syntax error");
	/* The first error wins, whichever kind it is. */
	expect_error("[daemon]\nlog_level info\nfoo = 1\n", -EINVAL, 2, "syntax error");
	expect_error("[daemon]\nfoo = 1\nlog_level info\n", -EINVAL, 2,
		     "unknown key 'foo' in [daemon]");
	expect_error("[nope]\nlog_level info\n", -EINVAL, 1, "unknown section [nope]");
}

static void test_nul_byte(void **unused)
{
	struct drover_config c;
	const char content[] = "[daemon]\nlog_level = in\0fo\n";
	FILE *f;

	(void)unused;
	snprintf(path, sizeof(path), "%s/nul.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, sizeof(content) - 1, f), sizeof(content) - 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: syntax error"));
}

static void test_duplicate_key(void **unused)
{
	(void)unused;
	expect_error("[daemon]\nlog_level = info\nlog_level = debug\n", -EINVAL, 3,
		     "duplicate key 'log_level' in [daemon] (first set on line 2)");
	/* Even across two headers of the same section. */
	expect_error("[cluster]\ncpg_group = a\n[daemon]\n[cluster]\ncpg_group = b\n", -EINVAL, 5,
		     "duplicate key 'cpg_group' in [cluster] (first set on line 2)");
}

static void test_indented_line_is_not_a_continuation(void **unused)
{
	struct drover_config c;

	(void)unused;
	/* libinih alone would append "  log_level = ..." to state_dir's value. */
	write_conf(
		"[daemon]\nstate_dir = /a\n    log_level = debug\n\t[cluster]\n cpg_group = x\n");
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), 0);
	assert_string_equal(c.state_dir, "/a");
	assert_int_equal(c.log_priority, LOG_DEBUG);
	assert_string_equal(c.cpg_group, "x");

	expect_error("[daemon]\nstate_dir = /a\n    bogus\n", -EINVAL, 3, "syntax error");
}

static void test_long_line(void **unused)
{
	char content[1200];
	int n;

	(void)unused;
	n = snprintf(content, sizeof(content), "[daemon]\n# fine\nstate_dir = /");
	memset(content + n, 'd', 1000);
	strcpy(content + n + 1000, "\nlog_level = info\n");
	write_conf(content);
	assert_int_equal(config_load(path, 1, &(struct drover_config){0}, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, ":3: line too long"));
}

/* What config_print() writes loads back to the same configuration. */
static void test_print_round_trip(void **unused)
{
	struct drover_config a, b;
	FILE *f;

	(void)unused;
	write_conf("[daemon]\nstate_dir = /srv/x;y\nlog_level = notice\nipc_group = ops.team\n"
		   "link_poll_interval_ms = 4321\nrequest_timeout_ms = 123456\n"
		   "[cluster]\ncpg_group = #odd;name\n");
	assert_int_equal(config_load(path, 1, &a, err, sizeof(err)), 0);
	assert_string_equal(a.state_dir, "/srv/x;y");
	assert_string_equal(a.cpg_group, "#odd;name");

	snprintf(path, sizeof(path), "%s/printed.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	config_print(f, &a);
	assert_int_equal(fclose(f), 0);
	memset(&b, 0, sizeof(b));
	assert_int_equal(config_load(path, 1, &b, err, sizeof(err)), 0);
	assert_config_equal(&a, &b);

	/* Every key is printed: the defaults printed and reloaded are the defaults. */
	config_defaults(&a);
	a.log_priority = LOG_ERR;
	f = fopen(path, "w");
	assert_non_null(f);
	config_print(f, &a);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(config_load(path, 1, &b, err, sizeof(err)), 0);
	assert_config_equal(&a, &b);
}

/* The example shipped in etc/ is valid and documents exactly the defaults. */
static void test_example_is_the_defaults(void **unused)
{
	struct drover_config c, def;
	const char *example = getenv("DROVER_CONF_EXAMPLE");

	(void)unused;
	if (!example)
		skip();
	assert_int_equal(config_load(example, 1, &c, err, sizeof(err)), 0);
	config_defaults(&def);
	assert_config_equal(&c, &def);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_partial_file_keeps_defaults),
		cmocka_unit_test(test_range_limits_accepted),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_directory_is_not_a_file),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_key_outside_section),
		cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_bad_integer),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_relative_state_dir),
		cmocka_unit_test(test_bad_log_level),
		cmocka_unit_test(test_bad_groups),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_indented_line_is_not_a_continuation),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_print_round_trip),
		cmocka_unit_test(test_example_is_the_defaults),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
