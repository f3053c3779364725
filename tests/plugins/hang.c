/*
 * Test plugin "hang": vm_start() never returns, as a libvirt call stuck on a
 * dead host would. Before hanging it forks a child that hangs too, and if
 * given a path as the XML argument, writes "<worker pid> <child pid>" there,
 * so a test can check that the deadline killed the whole process group.
 * inventory(), vm_stop() and vm_abort_migration() return at once: the same
 * plugin still works after its hung worker was replaced, and an abort gets
 * through while every worker hangs.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"

static int init(const struct drover_plugin_host *host, const char *config, void **ret_ctx,
		char *err, size_t errlen)
{
	(void)host;
	(void)config;
	(void)err;
	(void)errlen;
	*ret_ctx = NULL;
	return 0;
}

static void fini(void *ctx)
{
	(void)ctx;
}

static int inventory(void *ctx, struct drover_inventory *inv, char *err, size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	/*
	 * A host with room for the tests' guests: placement checks memory on
	 * every node, the VM's home included (a start goes nowhere that lacks
	 * room for it).
	 */
	inv->memory_mib = 4096;
	inv->vcpus = 4;
	return 0;
}

static int vm_start(void *ctx, const char *vm, const char *xml, char *err, size_t errlen)
{
	pid_t child;

	(void)ctx;
	(void)vm;
	child = fork();
	if (child < 0)
		return drover_plugin_error(err, errlen, errno, "fork failed");
	if (child == 0)
		for (;;)
			pause();
	if (xml && xml[0]) {
		FILE *f = fopen(xml, "w");

		if (f) {
			fprintf(f, "%d %d\n", (int)getpid(), (int)child);
			fclose(f);
		}
	}
	for (;;)
		pause();
}

static int vm_stop(void *ctx, const char *vm, uint32_t timeout_ms, char *err, size_t errlen)
{
	(void)ctx;
	(void)vm;
	(void)timeout_ms;
	(void)err;
	(void)errlen;
	return 0;
}

static int vm_abort_migration(void *ctx, const char *vm, char *err, size_t errlen)
{
	(void)ctx;
	return drover_plugin_error(err, errlen, ESRCH, "no migration of '%s' is running", vm);
}

DROVER_PLUGIN_EXPORT const struct drover_plugin DROVER_PLUGIN_SYMBOL = {
	.abi_version = DROVER_PLUGIN_ABI_VERSION,
	.size = sizeof(struct drover_plugin),
	.name = "hang",
	.description = "test plugin: vm_start never returns",
	.init = init,
	.fini = fini,
	.inventory = inventory,
	.vm_start = vm_start,
	.vm_stop = vm_stop,
	.vm_abort_migration = vm_abort_migration,
};
