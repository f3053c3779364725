/*
 * Loading drover plugins (plugins/plugin.h) into this process.
 *
 * A loader is a set of loaded plugins with unique names. Loading checks, in
 * this order, and refuses with its own -errno and a message naming the file:
 *   -ENOENT           the file does not exist
 *   -ELIBBAD          dlopen() failed (not a shared object, unresolved symbol)
 *   -ENOEXEC          no DROVER_PLUGIN_SYMBOL_NAME symbol: not a drover plugin
 *   -EPROTONOSUPPORT  abi_version is not DROVER_PLUGIN_ABI_VERSION
 *   -EINVAL           size below DROVER_PLUGIN_SIZE_V1, a bad or missing name,
 *                     or a required member (init, fini) missing
 *   -EEXIST           a plugin of that name is already loaded
 * A plugin is never unloaded (no dlclose(), libvirt's habit): its code may
 * have left threads, atexit handlers or callbacks registered with libraries
 * behind, and unmapping them turns a harmless leak into a crash. That holds
 * for refused plugins too, whose constructors have run.
 */
#ifndef DROVER_PLUGIN_LOADER_H
#define DROVER_PLUGIN_LOADER_H

#include <stddef.h>

#include "plugin.h"

struct loaded_plugin {
	const struct drover_plugin *plugin;
	char *path;
	void *handle; /* dlopen()'s; kept, never closed */
};

struct plugin_loader;

struct plugin_loader *plugin_loader_new(void);
/* Forget the records; the shared objects stay mapped. Accepts NULL. */
void plugin_loader_free(struct plugin_loader *l);

/*
 * Load and check the plugin at path. On success *ret_plugin (if not NULL)
 * points to the record, valid until plugin_loader_free(). On failure err
 * holds the reason.
 */
int plugin_loader_load(struct plugin_loader *l, const char *path,
		       const struct loaded_plugin **ret_plugin, char *err, size_t errlen);

/* The plugin named name, or NULL. */
const struct loaded_plugin *plugin_loader_find(const struct plugin_loader *l, const char *name);
size_t plugin_loader_count(const struct plugin_loader *l);
/* The i-th plugin in load order (i < plugin_loader_count()). */
const struct loaded_plugin *plugin_loader_get(const struct plugin_loader *l, size_t i);

/* Whether name is a valid plugin name: 1-32 characters of [A-Za-z0-9_-]. */
int plugin_name_valid(const char *name);

#endif
