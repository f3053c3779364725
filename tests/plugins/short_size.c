/*
 * Test plugin: its size stops before vm_start, as if built against a
 * plugin.h that lacked most of version 1. The loader must refuse it rather
 * than read members the plugin does not have.
 */
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

DROVER_PLUGIN_EXPORT const struct drover_plugin DROVER_PLUGIN_SYMBOL = {
	.abi_version = DROVER_PLUGIN_ABI_VERSION,
	.size = offsetof(struct drover_plugin, vm_start),
	.name = "short_size",
	.init = init,
	.fini = fini,
};
