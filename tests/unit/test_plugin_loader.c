/*
 * The plugin loader (agent/plugin_loader.c) against real shared objects
 * built from tests/plugins/: every way a plugin can be wrong is refused with
 * its own -errno and a message that names the file and the reason, nothing
 * refused is registered, a plugin built against a later ABI loads, and the
 * good plugin's members and the host callbacks all work in process.
 *
 * The tests share one loader and run in order: the good plugin must be
 * loaded before the duplicate-name tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "plugin_loader.h"

static struct plugin_loader *L;
static const char *plugin_dir;
static char err[1024];

static const char *path_of(const char *name)
{
	static char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/%s.so", plugin_dir, name);
	return buf;
}

static int setup(void **unused)
{
	(void)unused;
	plugin_dir = getenv("DROVER_TEST_PLUGIN_DIR");
	if (!plugin_dir) {
		fprintf(stderr, "DROVER_TEST_PLUGIN_DIR is not set (run under meson test)\n");
		return -1;
	}
	L = plugin_loader_new();
	return 0;
}

static int teardown(void **unused)
{
	(void)unused;
	plugin_loader_free(L);
	return 0;
}

/* Load name; expect errnum and a message containing each of the needles. */
static void expect_refused(const char *name, int errnum, const char *needle1, const char *needle2)
{
	const struct loaded_plugin *lp = (const struct loaded_plugin *)0x1;
	size_t before = plugin_loader_count(L);
	const char *path = strchr(name, '/') ? name : path_of(name);

	memset(err, 0, sizeof(err));
	assert_int_equal(plugin_loader_load(L, path, &lp, err, sizeof(err)), -errnum);
	/* ret_ is written only on success; nothing refused is registered. */
	assert_ptr_equal(lp, (const struct loaded_plugin *)0x1);
	assert_int_equal(plugin_loader_count(L), before);
	print_message("refused %s: %s\n", name, err);
	assert_non_null(strstr(err, path));
	if (needle1)
		assert_non_null(strstr(err, needle1));
	if (needle2)
		assert_non_null(strstr(err, needle2));
}

static void test_missing_file(void **unused)
{
	(void)unused;
	expect_refused("no_such_plugin", ENOENT, "No such file", NULL);
}

static void test_not_a_shared_object(void **unused)
{
	char path[] = "/tmp/drover-not-elf-XXXXXX";
	int fd;

	(void)unused;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
	close(fd);
	expect_refused(path, ELIBBAD, "cannot load", NULL);
	unlink(path);
}

static void test_unresolved_symbol(void **unused)
{
	(void)unused;
	/* RTLD_NOW: refused at load time, naming what is missing. */
	expect_refused("unresolved", ELIBBAD, "drover_test_no_such_function", NULL);
}

static void test_no_symbol(void **unused)
{
	(void)unused;
	expect_refused("no_symbol", ENOEXEC, "not a drover plugin", DROVER_PLUGIN_SYMBOL_NAME);
}

static void test_wrong_abi(void **unused)
{
	(void)unused;
	expect_refused("wrong_abi", EPROTONOSUPPORT, "ABI version 2", "speaks version 1");
}

static void test_short_size(void **unused)
{
	char want[32];

	(void)unused;
	snprintf(want, sizeof(want), "the %zu of ABI", (size_t)DROVER_PLUGIN_SIZE_V1);
	expect_refused("short_size", EINVAL, "shorter than", want);
}

/* ---- the good plugin, called in process ---- */

static int n_logs, n_events;
static char last_event_vm[64];

static void host_log(const struct drover_plugin_host *host, int priority, const char *fmt, ...)
{
	(void)host;
	(void)priority;
	(void)fmt;
	n_logs++;
}

static void host_event(const struct drover_plugin_host *host, const struct drover_vm_event *ev)
{
	(void)host;
	assert_true(DROVER_FITS(struct drover_vm_event, ev, detail));
	assert_int_equal(ev->type, DROVER_EVENT_STARTED);
	snprintf(last_event_vm, sizeof(last_event_vm), "%s", ev->vm);
	n_events++;
}

struct collected {
	int n;
	char names[4][16];
	int32_t states[4];
};

static int add_domain(struct drover_inventory *inv, const struct drover_domain *d)
{
	struct collected *c = inv->host_data;

	assert_true(c->n < 4);
	snprintf(c->names[c->n], sizeof(c->names[0]), "%s", d->name);
	c->states[c->n] = d->state;
	c->n++;
	return 0;
}

static int n_progress;
static uint64_t last_processed;

static void progress(void *opaque, const struct drover_migrate_progress *p)
{
	assert_int_equal(*(int *)opaque, 1234);
	assert_true(p->memory_processed > last_processed);
	last_processed = p->memory_processed;
	n_progress++;
}

static void test_good_loads_and_is_callable(void **unused)
{
	const struct drover_plugin_host host = {
		.abi_version = DROVER_PLUGIN_ABI_VERSION,
		.size = sizeof(host),
		.log = host_log,
		.event = host_event,
	};
	const struct loaded_plugin *lp = NULL;
	const struct drover_plugin *p;
	struct collected c;
	struct drover_inventory inv;
	struct drover_migrate_req req = {
		.size = sizeof(req), .vm = "vm1", .dest_uri = "test://n2", .migrate_uri = "",
	};
	const struct drover_fence_req fence = {
		.size = sizeof(fence), .node = "n2", .action = "off", .device = "dev1",
		.timeout_ms = 1000,
	};
	void *ctx = NULL;
	int opaque = 1234;

	(void)unused;
	assert_int_equal(plugin_loader_load(L, path_of("good"), &lp, err, sizeof(err)), 0);
	assert_non_null(lp);
	assert_ptr_equal(plugin_loader_find(L, "good"), lp);
	assert_null(plugin_loader_find(L, "hang"));
	assert_ptr_equal(plugin_loader_get(L, 0), lp);
	assert_string_equal(lp->path, path_of("good"));
	p = lp->plugin;
	assert_string_equal(p->name, "good");
	assert_true(DROVER_PLUGIN_HAS(p, inventory));
	assert_true(DROVER_PLUGIN_HAS(p, events_dispatch));

	/* init's error path: message and -errno come back. */
	memset(err, 0, sizeof(err));
	assert_int_equal(p->init(&host, "fail-init", &ctx, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, "on purpose"));
	assert_null(ctx);

	assert_int_equal(p->init(&host, "", &ctx, err, sizeof(err)), 0);
	assert_non_null(ctx);
	assert_true(n_logs >= 1);

	memset(&c, 0, sizeof(c));
	memset(&inv, 0, sizeof(inv));
	inv.size = sizeof(inv);
	inv.add_domain = add_domain;
	inv.host_data = &c;
	assert_int_equal(p->inventory(ctx, &inv, err, sizeof(err)), 0);
	assert_int_equal(inv.memory_mib, 4096);
	assert_int_equal(inv.vcpus, 8);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.names[0], "vm1");
	assert_int_equal(c.states[0], DROVER_VM_RUNNING);
	assert_string_equal(c.names[1], "vm2");
	assert_int_equal(c.states[1], DROVER_VM_STOPPED);

	assert_int_equal(p->vm_start(ctx, "vm1", "<domain/>", err, sizeof(err)), 0);
	assert_int_equal(p->vm_start(ctx, "fail", "<domain/>", err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "'fail'"));
	assert_int_equal(p->vm_stop(ctx, "vm1", 1000, err, sizeof(err)), 0);
	assert_int_equal(p->vm_migrate(ctx, &req, progress, &opaque, err, sizeof(err)), 0);
	assert_int_equal(n_progress, 3);
	assert_int_equal(p->vm_abort_migration(ctx, "vm1", err, sizeof(err)), -ESRCH);
	assert_int_equal(p->device_attach(ctx, "vm1", "<interface/>", err, sizeof(err)), 0);
	assert_int_equal(p->device_detach(ctx, "vm1", "<interface/>", err, sizeof(err)), 0);

	assert_true(DROVER_PLUGIN_HAS(p, fence));
	assert_int_equal(p->fence(ctx, &fence, err, sizeof(err)), 0);

	assert_true(p->events_fd(ctx) >= 0);
	assert_int_equal(p->events_dispatch(ctx), 0);
	assert_int_equal(n_events, 1);
	assert_string_equal(last_event_vm, "vm1");
	p->fini(ctx);
}

static void test_duplicate_name(void **unused)
{
	(void)unused;
	assert_non_null(plugin_loader_find(L, "good"));
	expect_refused("good2_same_name", EEXIST, "named 'good' is already loaded",
		       path_of("good2_same_name"));
	/* The same file twice is a duplicate too. */
	expect_refused("good", EEXIST, "already loaded", NULL);
	/* The first one is untouched. */
	assert_string_equal(plugin_loader_find(L, "good")->path, path_of("good"));
}

static void test_later_abi_loads(void **unused)
{
	const struct loaded_plugin *lp = NULL;
	const struct drover_plugin *p;

	(void)unused;
	assert_int_equal(plugin_loader_load(L, path_of("future"), &lp, err, sizeof(err)), 0);
	p = lp->plugin;
	assert_true(p->size > sizeof(struct drover_plugin));
	assert_true(DROVER_PLUGIN_HAS(p, vm_stop));
	assert_false(DROVER_PLUGIN_HAS(p, vm_start)); /* fits, but NULL */
	assert_int_equal(p->vm_stop(NULL, "vm1", 0, err, sizeof(err)), 0);
	/* Records stay valid as the loader grows. */
	assert_string_equal(plugin_loader_find(L, "good")->plugin->name, "good");
	assert_int_equal(plugin_loader_count(L), 2);
}

/*
 * fence was appended within ABI 1: a plugin built before it has a size that
 * ends at events_dispatch, and whatever lies beyond (the next symbol's
 * bytes) must not count as a fence call.
 */
static void test_appended_member_beyond_size(void **unused)
{
	struct drover_plugin old;

	(void)unused;
	memset(&old, 0xff, sizeof(old)); /* every pointer non-NULL */
	old.size = DROVER_PLUGIN_SIZE_V1;
	assert_true(DROVER_PLUGIN_HAS(&old, events_dispatch));
	assert_false(DROVER_PLUGIN_HAS(&old, fence));
	old.size = sizeof(old);
	assert_true(DROVER_PLUGIN_HAS(&old, fence));
	old.fence = NULL;
	assert_false(DROVER_PLUGIN_HAS(&old, fence));
}

static void test_names(void **unused)
{
	char long_name[DROVER_PLUGIN_NAME_MAX + 2];

	(void)unused;
	assert_true(plugin_name_valid("libvirt"));
	assert_true(plugin_name_valid("fence-command_2"));
	assert_false(plugin_name_valid(""));
	assert_false(plugin_name_valid(NULL));
	assert_false(plugin_name_valid("a b"));
	assert_false(plugin_name_valid("../x"));
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_false(plugin_name_valid(long_name));
	long_name[DROVER_PLUGIN_NAME_MAX] = '\0';
	assert_true(plugin_name_valid(long_name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_not_a_shared_object),
		cmocka_unit_test(test_unresolved_symbol),
		cmocka_unit_test(test_no_symbol),
		cmocka_unit_test(test_wrong_abi),
		cmocka_unit_test(test_short_size),
		cmocka_unit_test(test_good_loads_and_is_callable),
		cmocka_unit_test(test_duplicate_name),
		cmocka_unit_test(test_later_abi_loads),
		cmocka_unit_test(test_appended_member_beyond_size),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
