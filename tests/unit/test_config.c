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

static void assert_network_equal(const struct drover_network *a, const struct drover_network *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->corosync_link, b->corosync_link);
	assert_int_equal(a->cap, b->cap);
	assert_int_equal(a->n_addrs, b->n_addrs);
	for (size_t i = 0; i < a->n_addrs; i++) {
		assert_string_equal(a->addrs[i].node, b->addrs[i].node);
		assert_string_equal(a->addrs[i].addr, b->addrs[i].addr);
	}
}

/* Every field: strings may differ after their NUL, so no memcmp(). */
static void assert_config_equal(const struct drover_config *a, const struct drover_config *b)
{
	assert_string_equal(a->state_dir, b->state_dir);
	assert_int_equal(a->log_priority, b->log_priority);
	assert_string_equal(a->ipc_group, b->ipc_group);
	assert_int_equal(a->link_poll_ms, b->link_poll_ms);
	assert_int_equal(a->request_timeout_ms, b->request_timeout_ms);
	assert_int_equal(a->agent_enabled, b->agent_enabled);
	assert_string_equal(a->agent_path, b->agent_path);
	assert_string_equal(a->agent_plugin, b->agent_plugin);
	assert_string_equal(a->agent_plugin_config, b->agent_plugin_config);
	assert_int_equal(a->inventory_ms, b->inventory_ms);
	assert_int_equal(a->start_deadline_ms, b->start_deadline_ms);
	assert_int_equal(a->n_alerts, b->n_alerts);
	for (size_t i = 0; i < a->n_alerts; i++)
		assert_string_equal(a->alert_paths[i], b->alert_paths[i]);
	assert_int_equal(a->alert_timeout_ms, b->alert_timeout_ms);
	assert_string_equal(a->alert_recipient, b->alert_recipient);
	assert_string_equal(a->metrics_listen, b->metrics_listen);
	assert_string_equal(a->agent_dest_uri, b->agent_dest_uri);
	assert_string_equal(a->agent_migrate_uri, b->agent_migrate_uri);
	assert_string_equal(a->cpg_group, b->cpg_group);
	assert_int_equal(a->mig_max_out, b->mig_max_out);
	assert_int_equal(a->mig_max_in, b->mig_max_in);
	assert_int_equal(a->mig_max_total, b->mig_max_total);
	assert_int_equal(a->mig_max_retries, b->mig_max_retries);
	assert_int_equal(a->mig_stall_ms, b->mig_stall_ms);
	assert_int_equal(a->probe_interval_ms, b->probe_interval_ms);
	assert_int_equal(a->probe_timeout_ms, b->probe_timeout_ms);
	assert_int_equal(a->probe_port, b->probe_port);
	assert_int_equal(a->fence_mode, b->fence_mode);
	assert_string_equal(a->fence_plugin, b->fence_plugin);
	assert_int_equal(a->n_fence_devices, b->n_fence_devices);
	for (size_t i = 0; i < CONFIG_MAX_FENCE_DEVICES; i++)
		assert_string_equal(a->fence_devices[i], b->fence_devices[i]);
	assert_int_equal(a->fence_timeout_ms, b->fence_timeout_ms);
	assert_int_equal(a->fence_retry_ms, b->fence_retry_ms);
	assert_int_equal(a->watchdog_timeout_ms, b->watchdog_timeout_ms);
	assert_int_equal(a->watchdog_margin_ms, b->watchdog_margin_ms);
	assert_string_equal(a->watchdog_device, b->watchdog_device);
	assert_int_equal(a->failover_max_starts, b->failover_max_starts);
	assert_int_equal(a->node_vm_memory_mib, b->node_vm_memory_mib);
	assert_int_equal(a->node_reserved_mib, b->node_reserved_mib);
	assert_int_equal(a->migration_tls, b->migration_tls);
	assert_int_equal(a->security.allow_qemu_passthrough, b->security.allow_qemu_passthrough);
	assert_int_equal(a->security.allow_host_devices, b->security.allow_host_devices);
	for (int l = 0; l < VMPOLICY_N_LISTS; l++) {
		assert_int_equal(a->security.list[l].n, b->security.list[l].n);
		for (size_t i = 0; i < a->security.list[l].n; i++)
			assert_string_equal(a->security.list[l].item[i], b->security.list[l].item[i]);
	}
	assert_int_equal(a->n_networks, b->n_networks);
	for (size_t i = 0; i < a->n_networks; i++)
		assert_network_equal(&a->networks[i], &b->networks[i]);
	assert_int_equal(a->ipsec_sa_capacity, b->ipsec_sa_capacity);
	assert_int_equal(a->n_vf_pools, b->n_vf_pools);
	for (size_t i = 0; i < a->n_vf_pools; i++) {
		assert_string_equal(a->vf_pools[i].name, b->vf_pools[i].name);
		assert_int_equal(a->vf_pools[i].n_devices, b->vf_pools[i].n_devices);
		for (size_t d = 0; d < a->vf_pools[i].n_devices; d++)
			assert_string_equal(a->vf_pools[i].devices[d], b->vf_pools[i].devices[d]);
	}
}

/* Print c to a new file in dir, load it back into *ret, and leave its name in path. */
static void print_and_load(const struct drover_config *c, struct drover_config *ret)
{
	FILE *f;

	snprintf(path, sizeof(path), "%s/printed-%u.conf", dir, n_files++);
	f = fopen(path, "w");
	assert_non_null(f);
	config_print(f, c);
	assert_int_equal(fclose(f), 0);
	memset(ret, 0xa5, sizeof(*ret));
	err[0] = '\0';
	assert_int_equal(config_load(path, 1, ret, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

/*
 * The file at path, as config_print() wrote it: every line short enough for
 * inih to read whole; how many start with key.
 */
static unsigned printed_lines(const char *key)
{
	char line[512];
	unsigned lines = 0;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		assert_true(strlen(line) <= 199);
		if (strncmp(line, key, strlen(key)) == 0)
			lines++;
	}
	assert_int_equal(fclose(f), 0);
	return lines;
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
	assert_int_equal(c.mig_max_out, 2);
	assert_int_equal(c.mig_max_in, 2);
	assert_int_equal(c.mig_max_total, 0);
	assert_int_equal(c.mig_max_retries, 2);
	assert_int_equal(c.mig_stall_ms, 30000);
	assert_int_equal(c.probe_interval_ms, 1000);
	assert_int_equal(c.probe_timeout_ms, 1000);
	assert_int_equal(c.probe_port, 16509);
	assert_int_equal(c.n_networks, 0);
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

/* A value that would print back as a comment (config_print writes "key = value"). */
static void test_value_starting_with_comment(void **unused)
{
	(void)unused;
	expect_error("[security]\nallow_pools =;pool\n", -EINVAL, 2,
		     "the value of 'allow_pools' starts with ';', which drover.conf reads as a "
		     "comment after a space");
	expect_error("[agent]\nplugin_config =;uri=qemu:///system\n", -EINVAL, 2,
		     "the value of 'plugin_config' starts with ';', which drover.conf reads as a "
		     "comment after a space");
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

static void test_migration_section(void **unused)
{
	struct drover_config c, def;

	(void)unused;
	write_conf("[migration]\n"
		   "max_out = 0\n"
		   "max_in = 1000\n"
		   "max_total = 8\n"
		   "max_retries = 7\n"
		   "stall_timeout_ms = 1000\n"
		   "probe_interval_ms = 60000\n"
		   "probe_timeout_ms = 100\n"
		   "probe_port = 65535\n");
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), 0);
	assert_int_equal(c.mig_max_out, 0);
	assert_int_equal(c.mig_max_in, 1000);
	assert_int_equal(c.mig_max_total, 8);
	assert_int_equal(c.mig_max_retries, 7);
	assert_int_equal(c.mig_stall_ms, 1000);
	assert_int_equal(c.probe_interval_ms, 60000);
	assert_int_equal(c.probe_timeout_ms, 100);
	assert_int_equal(c.probe_port, 65535);
	assert_int_equal(c.n_networks, 0);

	write_conf("[migration]\nmax_retries = 0\nstall_timeout_ms = 3600000\n"
		   "probe_interval_ms = 100\nprobe_timeout_ms = 60000\nprobe_port = 1\n");
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), 0);
	config_defaults(&def);
	def.mig_max_retries = 0;
	def.mig_stall_ms = 3600000;
	def.probe_interval_ms = 100;
	def.probe_timeout_ms = 60000;
	def.probe_port = 1;
	assert_config_equal(&c, &def);
}

static void test_migration_bad_values(void **unused)
{
	(void)unused;
	expect_error("[migration]\nmax_out = 1001\n", -EINVAL, 2,
		     "bad value '1001' for max_out: expected an integer 0..1000");
	expect_error("[migration]\nmax_in = -1\n", -EINVAL, 2,
		     "bad value '-1' for max_in: expected an integer 0..1000");
	expect_error("[migration]\nmax_total = lots\n", -EINVAL, 2,
		     "bad value 'lots' for max_total: expected an integer 0..1000");
	expect_error("[migration]\nmax_retries = 8\n", -EINVAL, 2,
		     "bad value '8' for max_retries: expected an integer 0..7");
	expect_error("[migration]\nstall_timeout_ms = 999\n", -EINVAL, 2,
		     "bad value '999' for stall_timeout_ms: expected an integer 1000..3600000");
	expect_error("[migration]\nstall_timeout_ms = 3600001\n", -EINVAL, 2,
		     "bad value '3600001' for stall_timeout_ms: expected an integer "
		     "1000..3600000");
	expect_error("[migration]\nprobe_interval_ms = 99\n", -EINVAL, 2,
		     "bad value '99' for probe_interval_ms: expected an integer 100..60000");
	expect_error("[migration]\nprobe_timeout_ms = 60001\n", -EINVAL, 2,
		     "bad value '60001' for probe_timeout_ms: expected an integer 100..60000");
	expect_error("[migration]\nprobe_port = 0\n", -EINVAL, 2,
		     "bad value '0' for probe_port: expected an integer 1..65535");
	expect_error("[migration]\nprobe_port = 65536\n", -EINVAL, 2,
		     "bad value '65536' for probe_port: expected an integer 1..65535");
	expect_error("[migration]\nmax_out = 1\n\nmax_out = 2\n", -EINVAL, 4,
		     "duplicate key 'max_out' in [migration] (first set on line 2)");
	expect_error("[migration]\nmax_outgoing = 1\n", -EINVAL, 2,
		     "unknown key 'max_outgoing' in [migration]");
	expect_error("[migration]\ncap = 1\n", -EINVAL, 2, "unknown key 'cap' in [migration]");
	expect_error("[Migration]\n", -EINVAL, 1, "unknown section [Migration]");
}

static void test_networks(void **unused)
{
	struct drover_config c;

	(void)unused;
	write_conf("[daemon]\n"
		   "log_level = info\n"
		   "\n"
		   "[network mig-a]\n"
		   "addresses = n1=10.77.2.1   n2=10.77.2.2\tn3=10.77.2.3 ; the fast one\n"
		   "cap = 2\n"
		   "\n"
		   "[migration]\n"
		   "max_total = 4\n"
		   "[network mig_b.6]\n"
		   "; addresses may take several lines\n"
		   "addresses = node-1.example=fd00:77::1\n"
		   "  addresses = node-2.example=FD00:77::2 node-3=::ffff:10.0.0.3\n"
		   "[network ring1]\n"
		   "corosync_link = 1\n"
		   "[network Z]\n"
		   "cap = 1000\n"
		   "corosync_link = 0\n"
		   "last_resort = no\n"
		   "[network backup]\n"
		   "last_resort = yes\n"
		   "addresses = n1=10.9.0.1\n");
	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), 0);
	assert_int_equal(c.mig_max_total, 4);
	assert_int_equal(c.n_networks, 5);

	assert_string_equal(c.networks[0].name, "mig-a");
	assert_int_equal(c.networks[0].corosync_link, -1);
	assert_int_equal(c.networks[0].cap, 2);
	assert_int_equal(c.networks[0].n_addrs, 3);
	assert_string_equal(c.networks[0].addrs[0].node, "n1");
	assert_string_equal(c.networks[0].addrs[0].addr, "10.77.2.1");
	assert_string_equal(c.networks[0].addrs[1].node, "n2");
	assert_string_equal(c.networks[0].addrs[1].addr, "10.77.2.2");
	assert_string_equal(c.networks[0].addrs[2].node, "n3");
	assert_string_equal(c.networks[0].addrs[2].addr, "10.77.2.3");

	assert_string_equal(c.networks[1].name, "mig_b.6");
	assert_int_equal(c.networks[1].corosync_link, -1);
	assert_int_equal(c.networks[1].cap, 0);
	assert_int_equal(c.networks[1].n_addrs, 3);
	assert_string_equal(c.networks[1].addrs[0].node, "node-1.example");
	assert_string_equal(c.networks[1].addrs[0].addr, "fd00:77::1");
	/* Kept as written: it is handed on, not compared. */
	assert_string_equal(c.networks[1].addrs[1].addr, "FD00:77::2");
	assert_string_equal(c.networks[1].addrs[2].node, "node-3");
	assert_string_equal(c.networks[1].addrs[2].addr, "::ffff:10.0.0.3");

	assert_string_equal(c.networks[2].name, "ring1");
	assert_int_equal(c.networks[2].corosync_link, 1);
	assert_int_equal(c.networks[2].cap, 0);
	assert_int_equal(c.networks[2].n_addrs, 0);

	assert_string_equal(c.networks[3].name, "Z");
	assert_int_equal(c.networks[3].corosync_link, 0);
	assert_int_equal(c.networks[3].cap, 1000);

	/* A corosync link is a last resort unless told otherwise; addresses are not. */
	assert_false(c.networks[0].last_resort);
	assert_false(c.networks[1].last_resort);
	assert_true(c.networks[2].last_resort);
	assert_false(c.networks[3].last_resort);
	assert_true(c.networks[4].last_resort);

	expect_error("[network a]\ncorosync_link = 1\nlast_resort = maybe\n", -EINVAL, 3,
		     "bad value 'maybe' for last_resort: expected yes or no");
	expect_error("[network a]\ncorosync_link = 1\nlast_resort = no\nlast_resort = yes\n",
		     -EINVAL, 4, "duplicate key 'last_resort' in [network a] (first set on line 3)");
}

/* The limits: CONFIG_MAX_NETWORKS networks, CONFIG_MAX_NET_ADDRS nodes, 31-char names. */
static void test_networks_at_limits(void **unused)
{
	struct drover_config c, back;
	char content[8192], name[CONFIG_NETWORK_NAME_MAX];
	size_t n = 0;

	(void)unused;
	memset(name, 'x', CONFIG_NETWORK_NAME_MAX - 1);
	name[CONFIG_NETWORK_NAME_MAX - 1] = '\0';
	n += (size_t)snprintf(content + n, sizeof(content) - n, "[network %s]\n", name);
	for (unsigned i = 1; i <= CONFIG_MAX_NET_ADDRS; i++) {
		if (i % 8 == 1)
			n += (size_t)snprintf(content + n, sizeof(content) - n, "addresses =");
		n += (size_t)snprintf(content + n, sizeof(content) - n, " n%u=10.1.%u.%u", i,
				      i / 8, i);
		if (i % 8 == 0)
			n += (size_t)snprintf(content + n, sizeof(content) - n, "\n");
	}
	for (unsigned k = 1; k < CONFIG_MAX_NETWORKS; k++)
		n += (size_t)snprintf(content + n, sizeof(content) - n,
				      "[network l%u]\ncorosync_link = %u\n", k, k % 8);
	assert_true(n < sizeof(content));
	write_conf(content);
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), 0);
	assert_int_equal(c.n_networks, CONFIG_MAX_NETWORKS);
	assert_string_equal(c.networks[0].name, name);
	assert_int_equal(c.networks[0].n_addrs, CONFIG_MAX_NET_ADDRS);
	assert_string_equal(c.networks[0].addrs[63].node, "n64");
	assert_string_equal(c.networks[0].addrs[63].addr, "10.1.8.64");
	assert_string_equal(c.networks[7].name, "l7");
	assert_int_equal(c.networks[7].corosync_link, 7);

	print_and_load(&c, &back);
	assert_config_equal(&c, &back);
}

static void test_network_bad_names(void **unused)
{
	(void)unused;
	expect_error("[daemon]\n[network]\ncorosync_link = 1\n", -EINVAL, 2,
		     "bad network name '': expected 1..31 letters, digits, '.', '_' or '-'");
	expect_error("[network ]\ncorosync_link = 1\n", -EINVAL, 1,
		     "bad network name '': expected 1..31 letters, digits, '.', '_' or '-'");
	expect_error("[network mig a]\ncorosync_link = 1\n", -EINVAL, 1,
		     "bad network name 'mig a': expected 1..31 letters, digits, '.', '_' or '-'");
	expect_error("[network  mig]\ncorosync_link = 1\n", -EINVAL, 1,
		     "bad network name ' mig': expected 1..31 letters, digits, '.', '_' or '-'");
	expect_error("[network mig/a]\n", -EINVAL, 1,
		     "bad network name 'mig/a': expected 1..31 letters, digits, '.', '_' or '-'");
	/* 32 characters. */
	expect_error("[network abcdefghijklmnopqrstuvwxyz012345]\ncorosync_link = 1\n", -EINVAL, 1,
		     "bad network name 'abcdefghijklmnopqrstuvwxyz012345': expected 1..31 "
		     "letters, digits, '.', '_' or '-'");
	/* Not a network section at all. */
	expect_error("[networks mig]\n", -EINVAL, 1, "unknown section [networks mig]");
	expect_error("[Network mig]\n", -EINVAL, 1, "unknown section [Network mig]");
}

static void test_network_duplicates(void **unused)
{
	char content[1024];
	size_t n = 0;

	(void)unused;
	expect_error("[network a]\ncorosync_link = 1\n[network b]\ncorosync_link = 2\n"
		     "[network a]\n",
		     -EINVAL, 5, "duplicate network 'a' (first on line 1)");
	/* Names are case-sensitive, like everything else. */
	write_conf("[network a]\ncorosync_link = 1\n[network A]\ncorosync_link = 2\n");
	assert_int_equal(config_load(path, 1, &(struct drover_config){0}, err, sizeof(err)), 0);

	for (unsigned k = 0; k <= CONFIG_MAX_NETWORKS; k++)
		n += (size_t)snprintf(content + n, sizeof(content) - n,
				      "[network n%u]\ncorosync_link = 1\n", k);
	expect_error(content, -EINVAL, 2 * CONFIG_MAX_NETWORKS + 1,
		     "too many networks (at most 8)");

	expect_error("[network a]\ncorosync_link = 1\ncap = 1\ncorosync_link = 1\n", -EINVAL, 4,
		     "duplicate key 'corosync_link' in [network a] (first set on line 2)");
	expect_error("[network a]\ncap = 1\ncorosync_link = 1\n\ncap = 1\n", -EINVAL, 5,
		     "duplicate key 'cap' in [network a] (first set on line 2)");
	expect_error("[network a]\naddresses = n1=10.0.0.1\n[network b]\n"
		     "addresses = n1=10.0.1.1 n2=10.0.1.2\naddresses = n3=10.0.1.3 n1=10.0.1.4\n",
		     -EINVAL, 5, "duplicate node 'n1' in addresses of [network b]");
	expect_error("[network a]\naddresses = n1=10.0.0.1 n2=10.0.0.2 n1=10.0.0.1\n", -EINVAL, 2,
		     "duplicate node 'n1' in addresses of [network a]");
}

static void test_network_link_or_addresses(void **unused)
{
	(void)unused;
	expect_error("[network a]\naddresses = n1=10.0.0.1\ncorosync_link = 1\n", -EINVAL, 3,
		     "addresses and corosync_link in one [network a] (addresses on line 2): give "
		     "only one");
	expect_error("[network a]\ncorosync_link = 1\naddresses = n1=10.0.0.1\n", -EINVAL, 3,
		     "addresses and corosync_link in one [network a] (corosync_link on line 2): "
		     "give only one");
	/* Neither: reported at the header, at the end of the file or not. */
	expect_error("[network a]\ncorosync_link = 1\n[network b]\ncap = 2\n[daemon]\n"
		     "log_level = info\n",
		     -EINVAL, 3, "[network b] needs addresses or corosync_link");
	expect_error("[daemon]\n[network a]\n", -EINVAL, 2,
		     "[network a] needs addresses or corosync_link");
	/* A later error in the file is reported before a network is found incomplete. */
	expect_error("[network a]\n[daemon]\nfoo = 1\n", -EINVAL, 3,
		     "unknown key 'foo' in [daemon]");
	/* And a malformed addresses line is reported as such. */
	expect_error("[network a]\naddresses\n", -EINVAL, 2, "syntax error");

	expect_error("[network a]\ncorosync_link = 8\n", -EINVAL, 2,
		     "bad value '8' for corosync_link: expected an integer 0..7");
	expect_error("[network a]\ncorosync_link = ring1\n", -EINVAL, 2,
		     "bad value 'ring1' for corosync_link: expected an integer 0..7");
	expect_error("[network a]\ncorosync_link = -1\n", -EINVAL, 2,
		     "bad value '-1' for corosync_link: expected an integer 0..7");
	expect_error("[network a]\ncorosync_link = 1\ncap = 1001\n", -EINVAL, 3,
		     "bad value '1001' for cap: expected an integer 0..1000");
	expect_error("[network a]\ncap = none\n", -EINVAL, 2,
		     "bad value 'none' for cap: expected an integer 0..1000");
	expect_error("[network a]\ncorosync_link = 1\nlink = 1\n", -EINVAL, 3,
		     "unknown key 'link' in [network a]");
	expect_error("[network a]\ncorosync_link = 1\nmax_out = 1\n", -EINVAL, 3,
		     "unknown key 'max_out' in [network a]");
}

static void test_network_bad_addresses(void **unused)
{
	char content[256];

	(void)unused;
	expect_error("[network a]\naddresses =\n", -EINVAL, 2,
		     "bad value '' for addresses: expected NODE=IP pairs separated by spaces");
	expect_error("[network a]\naddresses = ; nothing\n", -EINVAL, 2,
		     "bad value '' for addresses: expected NODE=IP pairs separated by spaces");
	expect_error("[network a]\naddresses = n1=10.0.0.1 n2\n", -EINVAL, 2,
		     "bad entry 'n2' in addresses: expected NODE=IP");
	expect_error("[network a]\naddresses = n1=10.0.0.1 =10.0.0.2\n", -EINVAL, 2,
		     "bad entry '=10.0.0.2' in addresses: expected NODE=IP");
	expect_error("[network a]\naddresses = n1=\n", -EINVAL, 2,
		     "bad entry 'n1=' in addresses: expected NODE=IP");
	expect_error("[network a]\naddresses = n1 = 10.0.0.1\n", -EINVAL, 2,
		     "bad entry 'n1' in addresses: expected NODE=IP");
	expect_error("[network a]\naddresses = n1=10.0.0.256\n", -EINVAL, 2,
		     "bad address '10.0.0.256' for node 'n1' in addresses: expected an IPv4 or "
		     "IPv6 address");
	/* No names: droverd never resolves. */
	expect_error("[network a]\naddresses = n1=n1-mig-a\n", -EINVAL, 2,
		     "bad address 'n1-mig-a' for node 'n1' in addresses: expected an IPv4 or "
		     "IPv6 address");
	expect_error("[network a]\naddresses = n1=10.0.0.1/24\n", -EINVAL, 2,
		     "bad address '10.0.0.1/24' for node 'n1' in addresses: expected an IPv4 or "
		     "IPv6 address");
	expect_error("[network a]\naddresses = n1=fe80::1%eth0\n", -EINVAL, 2,
		     "bad address 'fe80::1%eth0' for node 'n1' in addresses: expected an IPv4 "
		     "or IPv6 address");
	expect_error("[network a]\naddresses = n1=[fd00::1]\n", -EINVAL, 2,
		     "bad address '[fd00::1]' for node 'n1' in addresses: expected an IPv4 or "
		     "IPv6 address");
	expect_error("[network a]\naddresses = n1=10.0.0.1=2\n", -EINVAL, 2,
		     "bad address '10.0.0.1=2' for node 'n1' in addresses: expected an IPv4 or "
		     "IPv6 address");
	expect_error("[network a]\naddresses = n1=1.2.3.4\x01\n", -EINVAL, 2,
		     "bad address '1.2.3.4\x01' for node 'n1' in addresses: expected an IPv4 or "
		     "IPv6 address");
	expect_error("[network a]\naddresses = n\x7f=1.2.3.4\n", -EINVAL, 2,
		     "bad node name 'n\x7f' in addresses: expected 1..63 printable characters");
	/* A 64-character node name, and a 64-character address. */
	snprintf(content, sizeof(content), "[network a]\naddresses = %0*d=1.2.3.4\n", 64, 0);
	write_conf(content);
	assert_int_equal(config_load(path, 1, &(struct drover_config){0}, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, ":2: bad node name '0000"));
	snprintf(content, sizeof(content), "[network a]\naddresses = n1=%0*d\n", 64, 0);
	write_conf(content);
	assert_int_equal(config_load(path, 1, &(struct drover_config){0}, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, ":2: bad address '0000"));
	/* 63 characters is fine. */
	snprintf(content, sizeof(content), "[network a]\naddresses = %0*d=1.2.3.4\n", 63, 0);
	write_conf(content);
	assert_int_equal(config_load(path, 1, &(struct drover_config){0}, err, sizeof(err)), 0);
}

static void test_network_too_many_addresses(void **unused)
{
	char content[4096];
	size_t n = 0;

	(void)unused;
	n += (size_t)snprintf(content + n, sizeof(content) - n, "[network a]\n");
	for (unsigned i = 1; i <= CONFIG_MAX_NET_ADDRS + 1; i++)
		n += (size_t)snprintf(content + n, sizeof(content) - n,
				      "addresses = n%u=10.0.0.%u\n", i, i);
	expect_error(content, -EINVAL, CONFIG_MAX_NET_ADDRS + 2,
		     "too many addresses in [network a] (at most 64)");
}

/* A failed load leaves the caller's networks alone, as everything else. */
static void test_network_error_keeps_old_config(void **unused)
{
	struct drover_config c;

	(void)unused;
	write_conf("[network a]\naddresses = n1=10.0.0.1\n");
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), 0);
	write_conf("[network b]\ncorosync_link = 1\n[network c]\naddresses = n1=x\n");
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), -EINVAL);
	assert_int_equal(c.n_networks, 1);
	assert_string_equal(c.networks[0].name, "a");
	assert_string_equal(c.networks[0].addrs[0].addr, "10.0.0.1");
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

	/* With [migration] and networks, in their order. */
	write_conf("[migration]\nmax_out = 5\nmax_in = 0\nmax_total = 9\nmax_retries = 7\n"
		   "stall_timeout_ms = 1234\nprobe_interval_ms = 250\nprobe_timeout_ms = 750\n"
		   "probe_port = 22\n"
		   "[network zz]\ncorosync_link = 3\ncap = 7\n"
		   "[network aa]\naddresses = n2=10.0.0.2 n1=fd00::1\n");
	assert_int_equal(config_load(path, 1, &a, err, sizeof(err)), 0);
	assert_int_equal(a.n_networks, 2);
	print_and_load(&a, &b);
	assert_config_equal(&a, &b);
	assert_string_equal(b.networks[0].name, "zz");
	assert_int_equal(b.mig_max_out, 5);
	assert_int_equal(b.probe_port, 22);

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

/*
 * A file can hold more address pairs on a line than fit once printed with
 * " = "; config_print() then takes more lines, each short enough to load.
 */
static void test_print_long_addresses(void **unused)
{
	struct drover_config a, b;
	char content[4096], node[64];
	size_t n = 0;

	(void)unused;
	n += (size_t)snprintf(content + n, sizeof(content) - n, "[network wide]\n");
	/* Pairs of 46 characters (34 + 2 + 1 + 9), four on a line of 197. */
	memset(node, 'n', 34);
	for (unsigned i = 0; i < 16; i++) {
		if (i % 4 == 0)
			n += (size_t)snprintf(content + n, sizeof(content) - n, "addresses=");
		snprintf(node + 34, sizeof(node) - 34, "%02u", i);
		n += (size_t)snprintf(content + n, sizeof(content) - n, "%s%s=10.0.0.%u",
				      i % 4 ? " " : "", node, 10 + i);
		if (i % 4 == 3)
			n += (size_t)snprintf(content + n, sizeof(content) - n, "\n");
	}
	assert_int_equal(strlen(strchr(content, '\n') + 1), 4 * 198);
	write_conf(content);
	assert_int_equal(config_load(path, 1, &a, err, sizeof(err)), 0);
	assert_int_equal(a.networks[0].n_addrs, 16);
	print_and_load(&a, &b);
	assert_config_equal(&a, &b);

	/* Printed, they take more lines, none longer than what inih reads whole. */
	assert_true(printed_lines("addresses") > 4);
}

static int load_text(const char *content, struct drover_config *ret)
{
	write_conf(content);
	err[0] = '\0';
	return config_load(path, 1, ret, err, sizeof(err));
}

/* Fence levels: in order, without gaps; mode = device needs one; printed and read back alike. */
static void test_fence_section(void **unused)
{
	struct drover_config c, back;

	(void)unused;
	assert_int_equal(load_text("[fence]\nmode = device\n"
				   "device1 = /usr/sbin/fence_ipmilan ip=%n-bmc username=admin\n"
				   "device2 = /usr/sbin/fence_apc ip=pdu1 port=%n\n"
				   "timeout_ms = 20000\n[failover]\nmax_starts = 2\n", &c), 0);
	assert_int_equal(c.fence_mode, FENCE_MODE_DEVICE);
	assert_int_equal(c.n_fence_devices, 2);
	assert_string_equal(c.fence_devices[1], "/usr/sbin/fence_apc ip=pdu1 port=%n");
	assert_int_equal(c.fence_timeout_ms, 20000);
	assert_int_equal(c.failover_max_starts, 2);
	print_and_load(&c, &back);
	assert_config_equal(&c, &back);
	assert_int_equal(load_text("[fence]\nmode = device\n", &c), -EINVAL);
	assert_non_null(strstr(err, "needs device1"));
	assert_int_equal(load_text("[fence]\ndevice2 = /bin/true\n", &c), -EINVAL);
	assert_non_null(strstr(err, "device2 is set but device1 is not"));
	assert_int_equal(load_text("[fence]\ndevice1 = fence_ipmilan ip=x\n", &c), -EINVAL);
	assert_int_equal(load_text("[fence]\nmode = sometimes\n", &c), -EINVAL);
	assert_int_equal(load_text("[failover]\nmax_starts = 0\n", &c), -EINVAL);
	/* Watchdog self-fencing: its timings and device, printed and read back. */
	assert_int_equal(load_text("[fence]\nmode = watchdog\nwatchdog_timeout_ms = 10000\n"
				   "watchdog_margin_ms = 4000\nwatchdog_device = /dev/watchdog\n", &c), 0);
	assert_int_equal(c.fence_mode, FENCE_MODE_WATCHDOG);
	assert_int_equal(c.watchdog_timeout_ms, 10000);
	assert_int_equal(c.watchdog_margin_ms, 4000);
	assert_string_equal(c.watchdog_device, "/dev/watchdog");
	print_and_load(&c, &back);
	assert_config_equal(&c, &back);
	assert_int_equal(load_text("[fence]\nwatchdog_timeout_ms = 1999\n", &c), -EINVAL);
	assert_int_equal(load_text("[fence]\nwatchdog_margin_ms = 999\n", &c), -EINVAL);
	assert_int_equal(load_text("[fence]\nwatchdog_device = dev/watchdog\n", &c), -EINVAL);
	assert_non_null(strstr(err, "absolute"));
}

/*
 * [node] vm_memory_mib and reserved_memory_mib: the capacity this node offers
 * VMs, with file:line errors, printed and read back; the rule that combines
 * them with the hypervisor's report.
 */
static void test_node_memory(void **unused)
{
	struct drover_config c, back;

	(void)unused;
	config_defaults(&c);
	assert_int_equal(c.node_vm_memory_mib, 0);
	assert_int_equal(c.node_reserved_mib, 0);
	/* Unset: the hypervisor's report as is; unknown (0) stays unknown. */
	assert_int_equal(config_vm_memory_mib(&c, 24000), 24000);
	assert_int_equal(config_vm_memory_mib(&c, 0), 0);

	assert_int_equal(load_text("[node]\nvm_memory_mib = 192\n", &c), 0);
	assert_int_equal(c.node_vm_memory_mib, 192);
	assert_int_equal(config_vm_memory_mib(&c, 24000), 192);
	/* Never more than the host has. */
	assert_int_equal(config_vm_memory_mib(&c, 100), 100);
	assert_int_equal(config_vm_memory_mib(&c, 0), 0);
	print_and_load(&c, &back);
	assert_config_equal(&c, &back);

	assert_int_equal(load_text("[node]\nreserved_memory_mib = 2048\n", &c), 0);
	assert_int_equal(config_vm_memory_mib(&c, 24000), 21952);
	assert_int_equal(config_vm_memory_mib(&c, 2048), 0);
	assert_int_equal(config_vm_memory_mib(&c, 1000), 0);

	/* Both: the reserve comes off first, then the cap. */
	assert_int_equal(load_text("[node]\nvm_memory_mib = 4096\nreserved_memory_mib = 1024\n", &c), 0);
	assert_int_equal(config_vm_memory_mib(&c, 24000), 4096);
	assert_int_equal(config_vm_memory_mib(&c, 4608), 3584);
	print_and_load(&c, &back);
	assert_config_equal(&c, &back);

	expect_error("[node]\nvm_memory_mib = 1G\n", -EINVAL, 2,
		     "bad value '1G' for vm_memory_mib: expected an integer 0..16777216");
	expect_error("\n[node]\nreserved_memory_mib = -1\n", -EINVAL, 3,
		     "bad value '-1' for reserved_memory_mib: expected an integer 0..16777216");
	expect_error("[node]\nvm_memory_mib = 16777217\n", -EINVAL, 2,
		     "bad value '16777217' for vm_memory_mib: expected an integer 0..16777216");
	expect_error("[node]\nmemory_mib = 5\n", -EINVAL, 2, "unknown key 'memory_mib' in [node]");
	expect_error("[node]\nvm_memory_mib = 5\nvm_memory_mib = 6\n", -EINVAL, 3,
		     "duplicate key 'vm_memory_mib' in [node] (first set on line 2)");
}

/* [alerts] programs and [metrics] listen: absolute paths, numeric addresses, printed and read back. */
static void test_alerts_and_metrics(void **unused)
{
	struct drover_config c, back;

	(void)unused;
	assert_int_equal(load_text("[alerts]\npath = /usr/bin/a  /opt/b\ntimeout_ms = 5000\n"
				   "recipient = ops@example.org\n[metrics]\nlisten = 127.0.0.1:9664\n",
				   &c),
			 0);
	assert_int_equal(c.n_alerts, 2);
	assert_string_equal(c.alert_paths[0], "/usr/bin/a");
	assert_string_equal(c.alert_paths[1], "/opt/b");
	assert_int_equal(c.alert_timeout_ms, 5000);
	assert_string_equal(c.alert_recipient, "ops@example.org");
	assert_string_equal(c.metrics_listen, "127.0.0.1:9664");
	print_and_load(&c, &back);
	assert_config_equal(&c, &back);
	assert_int_equal(back.n_alerts, 2);
	assert_string_equal(back.alert_paths[1], "/opt/b");
	assert_string_equal(back.metrics_listen, "127.0.0.1:9664");
	assert_int_equal(load_text("[metrics]\nlisten = [::1]:9664\n", &c), 0);
	assert_int_equal(load_text("[metrics]\nlisten = [::]:1\n", &c), 0);
	assert_int_equal(load_text("[alerts]\npath = alert.sh\n", &c), -EINVAL);
	assert_non_null(strstr(err, "absolute program paths"));
	assert_int_equal(load_text("[alerts]\npath = /a /b /c /d /e\n", &c), -EINVAL);
	assert_int_equal(load_text("[alerts]\ntimeout_ms = 999\n", &c), -EINVAL);
	/* Names are never looked up: DNS has no place in a daemon's start. */
	assert_int_equal(load_text("[metrics]\nlisten = localhost:9664\n", &c), -EINVAL);
	assert_non_null(strstr(err, "numeric address"));
	assert_int_equal(load_text("[metrics]\nlisten = 127.0.0.1\n", &c), -EINVAL);
	assert_int_equal(load_text("[metrics]\nlisten = 127.0.0.1:0\n", &c), -EINVAL);
	assert_int_equal(load_text("[metrics]\nlisten = 127.0.0.1:65536\n", &c), -EINVAL);
	assert_int_equal(load_text("[metrics]\nlisten = ::1:9664\n", &c), -EINVAL);
	assert_int_equal(load_text("[metrics]\nlisten = [::1]9664\n", &c), -EINVAL);
	assert_int_equal(load_text("[metrics]\nlisten = 1.2.3.4:96x\n", &c), -EINVAL);
}

/*
 * [security]: switches, and lists whose lines add up and whose first line
 * replaces the default; bad entries name the key; printed and read back alike,
 * long lists on several lines.
 */
static void test_security_section(void **unused)
{
	struct drover_config c, back;
	char content[2048];
	size_t n = 0;

	(void)unused;
	assert_int_equal(load_text("[migration]\nmigration_tls = yes\n", &c), 0);
	assert_true(c.migration_tls);
	assert_false(c.security.allow_qemu_passthrough);
	assert_int_equal(c.security.list[VMPOLICY_PATHS].n, 2);

	assert_int_equal(load_text("[security]\nallow_qemu_passthrough = yes\n"
				   "allow_host_devices = true\n"
				   "allow_paths = /srv/vm/ /var/tmp/lab\n"
				   "allow_pools = default\n"
				   "allow_paths = /data\n"
				   "allow_programs =\n", &c), 0);
	assert_true(c.security.allow_qemu_passthrough);
	assert_true(c.security.allow_host_devices);
	assert_int_equal(c.security.list[VMPOLICY_PATHS].n, 3);
	assert_string_equal(c.security.list[VMPOLICY_PATHS].item[0], "/srv/vm");
	assert_string_equal(c.security.list[VMPOLICY_PATHS].item[2], "/data");
	assert_int_equal(c.security.list[VMPOLICY_POOLS].n, 1);
	assert_int_equal(c.security.list[VMPOLICY_PROGRAMS].n, 0);
	print_and_load(&c, &back);
	assert_config_equal(&c, &back);

	expect_error("[security]\nallow_paths = images\n", -EINVAL, 2,
		     "bad value 'images' for allow_paths: expected absolute directories without "
		     "'.' or '..' components, separated by spaces, at most 16 in all");
	expect_error("[security]\nallow_programs = /usr/bin/../bin/sh\n", -EINVAL, 2,
		     "bad value '/usr/bin/../bin/sh' for allow_programs: expected absolute program "
		     "paths without '.' or '..' components, separated by spaces, at most 16 in all");
	expect_error("[security]\nallow_host_devices = maybe\n", -EINVAL, 2,
		     "bad value 'maybe' for allow_host_devices: expected yes or no");
	expect_error("[security]\nallow_host_devices = no\nallow_host_devices = yes\n", -EINVAL, 3,
		     "duplicate key 'allow_host_devices' in [security] (first set on line 2)");

	/* 16 long directories: more than a line holds when printed. */
	n += (size_t)snprintf(content + n, sizeof(content) - n, "[security]\n");
	for (unsigned i = 0; i < 16; i++)
		n += (size_t)snprintf(content + n, sizeof(content) - n,
				      "allow_paths = /srv/a-rather-long-directory-name-for-images-%02u\n", i);
	assert_int_equal(load_text(content, &c), 0);
	assert_int_equal(c.security.list[VMPOLICY_PATHS].n, 16);
	print_and_load(&c, &back);
	assert_config_equal(&c, &back);
	assert_true(printed_lines("allow_paths") > 1);
	/* One more is too many. */
	n += (size_t)snprintf(content + n, sizeof(content) - n, "allow_paths = /srv/x\n");
	assert_int_equal(load_text(content, &c), -EINVAL);
	assert_non_null(strstr(err, "at most 16"));
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

#define HOSTDEV1                                                                                   \
	"<interface type='hostdev' managed='yes'><source><address type='pci' domain='0x0000' "     \
	"bus='0x03' slot='0x10' function='0x1'/></source></interface>"
#define DIRECT1 "<interface type='direct'><source dev='vfp0' mode='passthrough'/></interface>"

/* [vf_pool NAME] and [node]: read, in file order, and printed back to the same configuration. */
static void test_vf_pools(void **unused)
{
	struct drover_config c, back;

	(void)unused;
	write_conf("[node]\n"
		   "ipsec_sa_capacity = 512\n"
		   "[vf_pool fast]\n"
		   "device1 = " HOSTDEV1 "\n"
		   "device2 = " DIRECT1 "\n"
		   "[vf_pool lab.2]\n"
		   "device1 = <hostdev mode='subsystem' type='pci' managed='yes'/>\n");
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), 0);
	assert_int_equal(c.ipsec_sa_capacity, 512);
	assert_int_equal(c.n_vf_pools, 2);
	assert_string_equal(c.vf_pools[0].name, "fast");
	assert_int_equal(c.vf_pools[0].n_devices, 2);
	assert_string_equal(c.vf_pools[0].devices[0], HOSTDEV1);
	assert_string_equal(c.vf_pools[0].devices[1], DIRECT1);
	assert_string_equal(c.vf_pools[1].name, "lab.2");
	assert_int_equal(c.vf_pools[1].n_devices, 1);
	print_and_load(&c, &back);
	assert_config_equal(&c, &back);
}

static void test_vf_pool_errors(void **unused)
{
	(void)unused;
	expect_error("[vf_pool]\ndevice1 = " DIRECT1 "\n", -EINVAL, 1,
		     "bad VF pool name '': expected 1..31 letters, digits, '.', '_' or '-'");
	expect_error("[vf_pool a b]\n", -EINVAL, 1,
		     "bad VF pool name 'a b': expected 1..31 letters, digits, '.', '_' or '-'");
	expect_error("[vf_pool p]\ndevice1 = " DIRECT1 "\n[vf_pool p]\n", -EINVAL, 3,
		     "duplicate VF pool 'p' (first on line 1)");
	expect_error("[vf_pool p]\n", -EINVAL, 1, "[vf_pool p] needs device1");
	expect_error("[vf_pool p]\ndevice1 = " DIRECT1 "\ndevice3 = " DIRECT1 "\n", -EINVAL, 3,
		     "[vf_pool p] device3 is set but device2 is not");
	expect_error("[vf_pool p]\ndevice1 = " DIRECT1 "\ndevice1 = " DIRECT1 "\n", -EINVAL, 3,
		     "duplicate key 'device1' in [vf_pool p] (first set on line 2)");
	expect_error("[vf_pool p]\ndevice17 = " DIRECT1 "\n", -EINVAL, 2,
		     "unknown key 'device17' in [vf_pool p] (expected device1..device16)");
	expect_error("[vf_pool p]\naddresses = x\n", -EINVAL, 2,
		     "unknown key 'addresses' in [vf_pool p] (expected device1..device16)");
	expect_error("[vf_pool p]\ndevice1 = <disk type='file'/>\n", -EINVAL, 2,
		     "bad value for device1 in [vf_pool p]: expected one libvirt <interface ...> "
		     "or <hostdev ...> element on one line, printable ASCII, shorter than 256 bytes");
	expect_error("[vf_pool p]\ndevice1 = <interface type='direct'\n", -EINVAL, 2,
		     "bad value for device1 in [vf_pool p]: expected one libvirt <interface ...> "
		     "or <hostdev ...> element on one line, printable ASCII, shorter than 256 bytes");
	expect_error("[node]\nipsec_sa_capacity = 1000001\n", -EINVAL, 2,
		     "bad value '1000001' for ipsec_sa_capacity: expected an integer 0..1000000");
	expect_error("[node]\nsa = 1\n", -EINVAL, 2, "unknown key 'sa' in [node]");
	expect_error("[vf_pool p]\ndevice1 = " DIRECT1 "\n[vf_pool q]\n[vf_pool r]\n"
		     "[vf_pool s]\n[vf_pool t]\n[vf_pool u]\n[vf_pool v]\n[vf_pool w]\n"
		     "[vf_pool x]\n",
		     -EINVAL, 10, "too many VF pools (at most 8)");
}

/* --check-config: every problem of a file, each with its line, in the order found. */
static void test_every_problem_reported(void **unused)
{
	struct config_errors *errs = calloc(1, sizeof(*errs));
	struct drover_config c, sentinel;
	static const struct {
		unsigned line;
		const char *reason;
	} want[] = {
		{2, "unknown key 'bogus' in [daemon]"},
		{4, "bad value 'many' for max_out: expected an integer 0..1000"},
		{6, "syntax error"},
		{7, "unknown section [nosuch]"},
		{11, "bad network name 'bad name!': expected 1..31 letters, digits, '.', '_' or '-'"},
		{16, "syntax error"},
		{19, "duplicate key 'max_starts' in [failover] (first set on line 18)"},
		/* Then the checks of the whole file. */
		{13, "[network mig-x] needs addresses or corosync_link"},
		{22, "[fence] device3 is set but device1 is not"},
		{21, "[fence] mode = device needs device1"},
	};

	(void)unused;
	assert_non_null(errs);
	write_conf("[daemon]\n"                      /* 1 */
		   "bogus = 1\n"                     /* 2 */
		   "[migration]\n"                   /* 3 */
		   "max_out = many\n"                /* 4 */
		   "[agent]\n"                       /* 5 */
		   "this line is wrong\n"            /* 6 */
		   "[nosuch]\n"                      /* 7: its keys are not reported again */
		   "a = 1\n"                         /* 8 */
		   "b = 2\n"                         /* 9 */
		   "[migration]\n"                   /* 10 */
		   "[network bad name!]\n"           /* 11 */
		   "cap = 1\n"                       /* 12: under a rejected header */
		   "[network mig-x]\n"               /* 13 */
		   "cap = 1\n"                       /* 14 */
		   "[daemon]\n"                      /* 15 */
		   "[oops\n"                         /* 16 */
		   "[failover]\n"                    /* 17 */
		   "max_starts = 2\n"                /* 18 */
		   "max_starts = 3\n"                /* 19 */
		   "[fence]\nmode = device\n"        /* 20, 21 */
		   "device3 = /bin/true\n");         /* 22 */
	memset(&c, 0xa5, sizeof(c));
	memset(&sentinel, 0xa5, sizeof(sentinel));
	assert_int_equal(config_load_all(path, 1, &c, errs), -EINVAL);
	assert_memory_equal(&c, &sentinel, sizeof(c));
	for (size_t i = 0; i < errs->n && i < (sizeof(want) / sizeof(want[0])); i++) {
		char text[sizeof(path) + 256];

		snprintf(text, sizeof(text), "%s:%u: %s", path, want[i].line, want[i].reason);
		assert_string_equal(errs->e[i].text, text);
		assert_int_equal(errs->e[i].line, want[i].line);
	}
	assert_int_equal(errs->n, (sizeof(want) / sizeof(want[0])));
	assert_int_equal(errs->more, 0);
	/* config_load() hands over the first. */
	assert_int_equal(config_load(path, 1, &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, errs->e[0].text);
	free(errs);
}

/* More problems than are kept: counted, not lost silently. */
static void test_problems_beyond_the_limit(void **unused)
{
	struct config_errors *errs = calloc(1, sizeof(*errs));
	char *text = calloc(CONFIG_MAX_ERRORS + 10, 16);
	struct drover_config c;

	(void)unused;
	assert_non_null(errs);
	assert_non_null(text);
	strcpy(text, "[daemon]\n");
	for (int i = 0; i < CONFIG_MAX_ERRORS + 5; i++)
		sprintf(text + strlen(text), "k%d = 1\n", i);
	write_conf(text);
	assert_int_equal(config_load_all(path, 1, &c, errs), -EINVAL);
	assert_int_equal(errs->n, CONFIG_MAX_ERRORS);
	assert_int_equal(errs->more, 5);
	free(text);
	free(errs);
}

/* A good file, and a missing one that may be missing: no problem at all. */
static void test_no_problem(void **unused)
{
	struct config_errors errs;
	struct drover_config c;
	char missing[sizeof(dir) + 32];

	(void)unused;
	write_conf("[migration]\nmax_out = 3\n");
	assert_int_equal(config_load_all(path, 1, &c, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(c.mig_max_out, 3);
	snprintf(missing, sizeof(missing), "%s/nosuch.conf", dir);
	assert_int_equal(config_load_all(missing, 0, &c, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(config_load_all(missing, 1, &c, &errs), -ENOENT);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.e[0].text, "cannot open"));
}

struct diff_lines {
	size_t n;
	char line[16][256];
};

static void collect(void *userdata, const char *line)
{
	struct diff_lines *d = userdata;

	assert_true(d->n < 16);
	snprintf(d->line[d->n++], sizeof(d->line[0]), "%s", line);
}

/* What a reload logs: each changed key, added and removed networks, a new order. */
static void test_diff(void **unused)
{
	struct drover_config a, b;
	struct diff_lines d = {0};

	(void)unused;
	assert_int_equal(load_text("[migration]\nmax_out = 2\n"
				   "[network mig-a]\naddresses = n1=10.0.0.1 n2=10.0.0.2\n"
				   "[network mig-b]\ncorosync_link = 1\n"
				   "[network mig-c]\ncorosync_link = 0\n",
				   &a),
			 0);
	assert_int_equal(config_diff(&a, &a, collect, &d), 0);
	assert_int_equal(load_text("[migration]\nmax_out = 4\nmax_total = 3\n"
				   "[network mig-b]\ncorosync_link = 1\ncap = 1\n"
				   "[network mig-a]\naddresses = n1=10.0.0.1 n2=10.0.0.9\n"
				   "[network mig-d]\ncorosync_link = 0\n",
				   &b),
			 0);
	assert_int_equal(config_diff(&a, &b, collect, &d), 7);
	assert_string_equal(d.line[0], "[migration] max_out: 2 -> 4");
	assert_string_equal(d.line[1], "[migration] max_total: 0 -> 3");
	assert_string_equal(d.line[2], "[network mig-b] cap: 0 -> 1");
	assert_string_equal(d.line[3],
			    "[network mig-a] addresses: n1=10.0.0.1 n2=10.0.0.2 -> n1=10.0.0.1 "
			    "n2=10.0.0.9");
	assert_string_equal(d.line[4], "[network mig-d]: added");
	assert_string_equal(d.line[5], "[network mig-c]: removed");
	assert_string_equal(d.line[6], "networks reordered: mig-a mig-b -> mig-b mig-a");
}

/*
 * drover.conf(5) names every key the parser accepts, under its section: a
 * ".B key" or ".BR key ..." line after ".SS [section]". The page's path comes
 * from meson (DROVER_MAN_DIR).
 */
static void test_man_page_has_every_key(void **unused)
{
	const char *man_dir = getenv("DROVER_MAN_DIR");
	char page[PATH_MAX], line[1024], section[128] = "";
	char (*seen)[192] = calloc(256, sizeof(*seen));
	size_t n_seen = 0;
	const char *ksec, *kname;
	FILE *f;

	(void)unused;
	if (!man_dir)
		skip();
	assert_non_null(seen);
	snprintf(page, sizeof(page), "%s/drover.conf.5", man_dir);
	f = fopen(page, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL, *w;

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, ".SS [", 5) == 0) {
			snprintf(section, sizeof(section), "%.*s", (int)strcspn(line + 5, "]"),
				 line + 5);
			continue;
		}
		if (strncmp(line, ".B ", 3) != 0 && strncmp(line, ".BR ", 4) != 0)
			continue;
		/* The words of the line, less the quoted separators of .BR. */
		for (w = strtok_r(strchr(line, ' '), " ", &save); w; w = strtok_r(NULL, " ", &save)) {
			if (w[0] == '"' || n_seen >= 256)
				continue;
			snprintf(seen[n_seen++], sizeof(seen[0]), "%s/%s", section, w);
		}
	}
	fclose(f);
	for (size_t i = 0; config_key_at(i, &ksec, &kname); i++) {
		char want[192];
		bool found = false;

		snprintf(want, sizeof(want), "%s/%s", ksec, kname);
		for (size_t k = 0; k < n_seen && !found; k++)
			found = strcmp(seen[k], want) == 0;
		if (!found)
			fail_msg("drover.conf.5 does not document [%s] %s (a .B line under .SS [%s])",
				 ksec, kname, ksec);
	}
	free(seen);
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
		cmocka_unit_test(test_value_starting_with_comment),
		cmocka_unit_test(test_bad_integer),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_relative_state_dir),
		cmocka_unit_test(test_bad_log_level),
		cmocka_unit_test(test_bad_groups),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_alerts_and_metrics),
		cmocka_unit_test(test_indented_line_is_not_a_continuation),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_migration_section),
		cmocka_unit_test(test_migration_bad_values),
		cmocka_unit_test(test_networks),
		cmocka_unit_test(test_networks_at_limits),
		cmocka_unit_test(test_network_bad_names),
		cmocka_unit_test(test_network_duplicates),
		cmocka_unit_test(test_network_link_or_addresses),
		cmocka_unit_test(test_network_bad_addresses),
		cmocka_unit_test(test_network_too_many_addresses),
		cmocka_unit_test(test_network_error_keeps_old_config),
		cmocka_unit_test(test_print_round_trip),
		cmocka_unit_test(test_print_long_addresses),
		cmocka_unit_test(test_security_section),
		cmocka_unit_test(test_example_is_the_defaults),
		cmocka_unit_test(test_fence_section),
		cmocka_unit_test(test_vf_pools),
		cmocka_unit_test(test_vf_pool_errors),
		cmocka_unit_test(test_every_problem_reported),
		cmocka_unit_test(test_problems_beyond_the_limit),
		cmocka_unit_test(test_no_problem),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_man_page_has_every_key),
		cmocka_unit_test(test_node_memory),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
