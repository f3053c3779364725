/*
 * Test plugin "good": every version-1 member (fence included), with canned answers, so the
 * loader and agent tests can check each call and each callback path. The
 * config string steers it: "fail-init" makes init() fail. The VM name steers
 * vm_start(): "fail" returns -EIO, "crash" abort()s the worker. fence()
 * succeeds only for node "n2", action "off", device "dev1" and a timeout.
 *
 * Events: init() writes one byte to a pipe whose read end is the events fd,
 * so the events worker reports exactly one STARTED event of "vm1".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "plugin.h"

struct good {
	const struct drover_plugin_host *host;
	int pipe[2];
};

static int good_init(const struct drover_plugin_host *host, const char *config, void **ret_ctx,
		     char *err, size_t errlen)
{
	struct good *g;

	if (strcmp(config, "fail-init") == 0)
		return drover_plugin_error(err, errlen, ECONNREFUSED,
					   "cannot reach the test hypervisor (on purpose)");
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->host = host;
	if (pipe2(g->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(g);
		return drover_plugin_error(err, errlen, errno, "pipe2 failed");
	}
	if (write(g->pipe[1], "e", 1) != 1) {
		close(g->pipe[0]);
		close(g->pipe[1]);
		free(g);
		return -EIO;
	}
	if (DROVER_HOST_HAS(host, log))
		host->log(host, LOG_DEBUG, "initialised with config '%s'", config);
	*ret_ctx = g;
	return 0;
}

static void good_fini(void *ctx)
{
	struct good *g = ctx;

	if (!g)
		return;
	close(g->pipe[0]);
	close(g->pipe[1]);
	free(g);
}

static int good_inventory(void *ctx, struct drover_inventory *inv, char *err, size_t errlen)
{
	static const struct drover_domain doms[] = {
		{ .size = sizeof(struct drover_domain), .state = DROVER_VM_RUNNING, .name = "vm1",
		  .memory_mib = 512, .vcpus = 1 },
		{ .size = sizeof(struct drover_domain), .state = DROVER_VM_STOPPED, .name = "vm2",
		  .memory_mib = 256, .vcpus = 2 },
	};

	(void)ctx;
	(void)err;
	(void)errlen;
	inv->memory_mib = 4096;
	inv->vcpus = 8;
	for (size_t i = 0; i < sizeof(doms) / sizeof(doms[0]); i++) {
		int r = inv->add_domain(inv, &doms[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

static int good_vm_start(void *ctx, const char *vm, const char *xml, char *err, size_t errlen)
{
	(void)ctx;
	(void)xml;
	if (strcmp(vm, "fail") == 0)
		return drover_plugin_error(err, errlen, EIO, "vm '%s' refused to start (on purpose)",
					   vm);
	if (strcmp(vm, "crash") == 0)
		abort();
	return 0;
}

static int good_vm_stop(void *ctx, const char *vm, uint32_t timeout_ms, char *err, size_t errlen)
{
	(void)ctx;
	(void)vm;
	(void)timeout_ms;
	(void)err;
	(void)errlen;
	return 0;
}

static int good_vm_migrate(void *ctx, const struct drover_migrate_req *req,
			   drover_progress_fn progress, void *opaque, char *err, size_t errlen)
{
	const uint64_t total = 64ull << 20;

	(void)ctx;
	if (!req->dest_uri || !req->dest_uri[0])
		return drover_plugin_error(err, errlen, EINVAL, "no destination");
	for (uint32_t i = 1; i <= 3; i++) {
		struct drover_migrate_progress p = {
			.size = sizeof(p),
			.iteration = i,
			.elapsed_ms = 20 * i,
			.memory_total = total,
			.memory_processed = total / 3 * i,
			.memory_remaining = total - total / 3 * i,
			.bytes_per_s = 100ull << 20,
			.dirty_rate = req->bandwidth_mib_s, /* echoed, so the test sees the request */
		};

		usleep(20 * 1000);
		progress(opaque, &p);
	}
	return 0;
}

static int good_vm_abort_migration(void *ctx, const char *vm, char *err, size_t errlen)
{
	(void)ctx;
	return drover_plugin_error(err, errlen, ESRCH, "no migration of '%s' is running", vm);
}

static int good_device(void *ctx, const char *vm, const char *device_xml, char *err,
		       size_t errlen)
{
	(void)ctx;
	(void)vm;
	(void)device_xml;
	(void)err;
	(void)errlen;
	return 0;
}

/*
 * Fences "n2" with the device "dev1" when asked for "off" under a timeout;
 * anything else fails with what it got, so the agent test sees the fields.
 */
static int good_fence(void *ctx, const struct drover_fence_req *req, char *err, size_t errlen)
{
	(void)ctx;
	if (!DROVER_FITS(struct drover_fence_req, req, timeout_ms))
		return drover_plugin_error(err, errlen, EINVAL, "short fence request");
	if (strcmp(req->node, "n2") != 0 || strcmp(req->action, "off") != 0 ||
	    strcmp(req->device, "dev1") != 0 || req->timeout_ms == 0)
		return drover_plugin_error(err, errlen, EIO,
					   "cannot fence node '%s' action '%s' device '%s' "
					   "timeout %u",
					   req->node, req->action, req->device, req->timeout_ms);
	return 0;
}

static int good_events_fd(void *ctx)
{
	struct good *g = ctx;

	return g->pipe[0];
}

static int good_events_dispatch(void *ctx)
{
	struct good *g = ctx;
	char c;

	while (read(g->pipe[0], &c, 1) == 1) {
		struct drover_vm_event ev = {
			.size = sizeof(ev),
			.type = DROVER_EVENT_STARTED,
			.vm = "vm1",
			.detail = "from the good plugin",
		};

		g->host->event(g->host, &ev);
	}
	return 0;
}

DROVER_PLUGIN_EXPORT const struct drover_plugin DROVER_PLUGIN_SYMBOL = {
	.abi_version = DROVER_PLUGIN_ABI_VERSION,
	.size = sizeof(struct drover_plugin),
	.name = "good",
	.description = "test plugin: canned answers",
	.init = good_init,
	.fini = good_fini,
	.inventory = good_inventory,
	.vm_start = good_vm_start,
	.vm_stop = good_vm_stop,
	.vm_migrate = good_vm_migrate,
	.vm_abort_migration = good_vm_abort_migration,
	.device_attach = good_device,
	.device_detach = good_device,
	.events_fd = good_events_fd,
	.events_dispatch = good_events_dispatch,
	.fence = good_fence,
};
