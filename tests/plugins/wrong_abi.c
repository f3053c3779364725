/* Test plugin: claims ABI version 2, which this agent does not speak. */
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
	.abi_version = 2,
	.size = sizeof(struct drover_plugin),
	.name = "wrong_abi",
	.init = init,
	.fini = fini,
};
