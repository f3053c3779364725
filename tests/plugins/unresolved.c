/*
 * Test plugin: calls a function nobody defines. With RTLD_NOW the loader
 * refuses it at load time, naming the symbol, instead of a worker dying
 * on the first call.
 */
#include "plugin.h"

extern int drover_test_no_such_function(void);

static int init(const struct drover_plugin_host *host, const char *config, void **ret_ctx,
		char *err, size_t errlen)
{
	(void)host;
	(void)config;
	(void)err;
	(void)errlen;
	*ret_ctx = NULL;
	return drover_test_no_such_function();
}

static void fini(void *ctx)
{
	(void)ctx;
}

DROVER_PLUGIN_EXPORT const struct drover_plugin DROVER_PLUGIN_SYMBOL = {
	.abi_version = DROVER_PLUGIN_ABI_VERSION,
	.size = sizeof(struct drover_plugin),
	.name = "unresolved",
	.init = init,
	.fini = fini,
};
