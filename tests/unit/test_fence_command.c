/*
 * The fence_command plugin ($DROVER_FENCE_COMMAND_PLUGIN), dlopen()ed and
 * called in process, against small shell scripts written to a temporary
 * directory: one that records its stdin and succeeds, one that fails with a
 * message, one that hangs, and devices that must be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "plugin.h"

static const struct drover_plugin *P;
static void *ctx;
static char dir[256];
static char err[1024];
static int n_logs;

static void host_log(const struct drover_plugin_host *host, int priority, const char *fmt, ...)
{
	(void)host;
	(void)priority;
	(void)fmt;
	n_logs++;
}

static const struct drover_plugin_host host = {
	.abi_version = DROVER_PLUGIN_ABI_VERSION,
	.size = sizeof(host),
	.log = host_log,
};

static uint64_t ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* dir/name, in one of a few static buffers. */
static const char *at(const char *name)
{
	static char buf[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Read path into buf (NUL-terminated); "" if it does not exist. */
static void read_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (!f)
		return;
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static int fence(const char *node, const char *device, uint32_t timeout_ms)
{
	const struct drover_fence_req req = {
		.size = sizeof(req),
		.node = node,
		.action = "off",
		.device = device,
		.timeout_ms = timeout_ms,
	};

	memset(err, 0, sizeof(err));
	return P->fence(ctx, &req, err, sizeof(err));
}

static int setup(void **unused)
{
	const char *path = getenv("DROVER_FENCE_COMMAND_PLUGIN");
	char script[2048];
	void *h;

	(void)unused;
	if (!path) {
		fprintf(stderr, "DROVER_FENCE_COMMAND_PLUGIN must be set (meson test)\n");
		return -1;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		return -1;
	}
	P = dlsym(h, DROVER_PLUGIN_SYMBOL_NAME);
	if (!P)
		return -1;
	snprintf(dir, sizeof(dir), "%s/drover-fence-test.XXXXXX", getenv("TMPDIR") ?: "/tmp");
	if (!mkdtemp(dir))
		return -1;

	snprintf(script, sizeof(script), "#!/bin/sh\ncat > '%s/stdin'\nexit 0\n", dir);
	write_file(at("ok.sh"), script, 0755);
	write_file(at("fail.sh"),
		   "#!/bin/sh\ncat >/dev/null\necho 'Connecting to the BMC'\n"
		   "echo 'ERROR: unable to connect to 10.0.0.9' >&2\necho >&2\nexit 1\n",
		   0755);
	snprintf(script, sizeof(script), "#!/bin/sh\necho $$ > '%s/hang.pid'\nexec sleep 1000\n",
		 dir);
	write_file(at("hang.sh"), script, 0755);
	write_file(at("noexec.sh"), "#!/bin/sh\nexit 0\n", 0644);
	write_file(at("deaf.sh"), "#!/bin/sh\nexit 0\n", 0755); /* never reads stdin */
	return 0;
}

static int teardown(void **unused)
{
	const char *names[] = { "ok.sh", "fail.sh", "hang.sh", "noexec.sh", "deaf.sh",
				"stdin", "hang.pid" };

	(void)unused;
	if (ctx)
		P->fini(ctx);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(at(names[i]));
	rmdir(dir);
	return 0;
}

static void test_shape_and_init(void **unused)
{
	void *c2 = NULL;

	(void)unused;
	assert_int_equal(P->abi_version, DROVER_PLUGIN_ABI_VERSION);
	assert_string_equal(P->name, "fence_command");
	assert_true(DROVER_PLUGIN_HAS(P, fence));
	assert_false(DROVER_PLUGIN_HAS(P, inventory));
	assert_false(DROVER_PLUGIN_HAS(P, vm_start));
	assert_false(DROVER_PLUGIN_HAS(P, vm_stop));
	assert_false(DROVER_PLUGIN_HAS(P, vm_migrate));
	assert_false(DROVER_PLUGIN_HAS(P, events_fd));

	assert_int_equal(P->init(&host, "uri=qemu:///system", &c2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no configuration"));
	assert_null(c2);
	assert_int_equal(P->init(&host, "", &ctx, err, sizeof(err)), 0);
	assert_non_null(ctx);
}

static void test_success_and_stdin(void **unused)
{
	char device[PATH_MAX + 128], in[4096];
	int logs = n_logs;

	(void)unused;
	snprintf(device, sizeof(device), "  %s ip=%%n-bmc\tusername=admin lanplus=1 ", at("ok.sh"));
	assert_int_equal(fence("n2", device, 5000), 0);
	assert_true(n_logs > logs);
	read_file(at("stdin"), in, sizeof(in));
	assert_string_equal(in, "ip=n2-bmc\nusername=admin\nlanplus=1\nport=n2\nplug=n2\n"
				"nodename=n2\naction=off\n");

	/* The device names the port: no port/plug of ours. */
	unlink(at("stdin"));
	snprintf(device, sizeof(device), "%s ip=pdu1 port=outlet-%%n", at("ok.sh"));
	assert_int_equal(fence("n2", device, 5000), 0);
	read_file(at("stdin"), in, sizeof(in));
	assert_string_equal(in, "ip=pdu1\nport=outlet-n2\nnodename=n2\naction=off\n");

	/* A program that does not read its stdin. */
	assert_int_equal(fence("n2", at("deaf.sh"), 5000), 0);
}

static void test_failure_reports_last_line(void **unused)
{
	char device[PATH_MAX + 64];

	(void)unused;
	snprintf(device, sizeof(device), "%s ip=%%n-bmc", at("fail.sh"));
	assert_int_equal(fence("n2", device, 5000), -EIO);
	assert_non_null(strstr(err, "fence program "));
	assert_non_null(strstr(err, "fail.sh exited 1: ERROR: unable to connect to 10.0.0.9"));
}

static void test_hang_is_killed_at_timeout(void **unused)
{
	char pidbuf[32];
	uint64_t t0 = ms(), took;
	pid_t pid;

	(void)unused;
	assert_int_equal(fence("n2", at("hang.sh"), 300), -ETIMEDOUT);
	took = ms() - t0;
	assert_true(took >= 300);
	assert_true(took < 2000);
	assert_non_null(strstr(err, "did not finish within 300 ms"));
	read_file(at("hang.pid"), pidbuf, sizeof(pidbuf));
	pid = (pid_t)atoi(pidbuf);
	assert_true(pid > 0);
	/* Killed and reaped: the pid is gone. */
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
}

static void test_refusals(void **unused)
{
	char device[PATH_MAX + 64];

	(void)unused;
	assert_int_equal(fence("n2", "bin/fence_ipmilan ip=x", 1000), -EINVAL);
	assert_non_null(strstr(err, "'bin/fence_ipmilan' is not an absolute path"));
	assert_int_equal(fence("n2", at("noexec.sh"), 1000), -EINVAL);
	assert_non_null(strstr(err, "not an executable file"));
	assert_int_equal(fence("n2", at("missing.sh"), 1000), -EINVAL);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(fence("n2", "", 1000), -EINVAL);
	assert_non_null(strstr(err, "empty"));
	snprintf(device, sizeof(device), "%s ip", at("ok.sh"));
	assert_int_equal(fence("n2", device, 1000), -EINVAL);
	assert_non_null(strstr(err, "'ip' is not key=value"));
	snprintf(device, sizeof(device), "%s action=on", at("ok.sh"));
	assert_int_equal(fence("n2", device, 1000), -EINVAL);
	assert_non_null(strstr(err, "action"));
	/* A node name cannot smuggle in a line of its own. */
	assert_int_equal(fence("n2\naction=on", at("ok.sh"), 1000), -EINVAL);
	assert_int_equal(fence("", at("ok.sh"), 1000), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shape_and_init),
		cmocka_unit_test(test_success_and_stdin),
		cmocka_unit_test(test_failure_reports_last_line),
		cmocka_unit_test(test_hang_is_killed_at_timeout),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
