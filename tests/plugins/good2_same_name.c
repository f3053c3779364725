/* Test plugin: valid, but named "good" like good.so, so loading both is refused. */
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
	.size = sizeof(struct drover_plugin),
	.name = "good",
	.description = "test plugin: a second 'good'",
	.init = init,
	.fini = fini,
};
