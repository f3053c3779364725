/*
 * Test plugin built against a later plugin.h: today's struct drover_plugin
 * plus a member appended after it. Same abi_version, larger size: it must
 * load, and the members it shares with this agent must be usable.
 */
#include "plugin.h"

struct drover_plugin_future {
	struct drover_plugin v1;
	int (*a_later_call)(void *ctx);
};

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

static int vm_stop(void *ctx, const char *vm, uint32_t timeout_ms, char *err, size_t errlen)
{
	(void)ctx;
	(void)vm;
	(void)timeout_ms;
	(void)err;
	(void)errlen;
	return 0;
}

static int later(void *ctx)
{
	(void)ctx;
	return 42;
}

DROVER_PLUGIN_EXPORT const struct drover_plugin_future DROVER_PLUGIN_SYMBOL = {
	.v1 = {
		.abi_version = DROVER_PLUGIN_ABI_VERSION,
		.size = sizeof(struct drover_plugin_future),
		.name = "future",
		.description = "test plugin: built against a later ABI",
		.init = init,
		.fini = fini,
		.vm_stop = vm_stop,
	},
	.a_later_call = later,
};
