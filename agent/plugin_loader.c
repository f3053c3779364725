/*
 * The plugin loader (see plugin_loader.h): dlopen(RTLD_NOW | RTLD_LOCAL),
 * one symbol, version and size checks, unique names, never dlclose().
 *
 * RTLD_NOW makes a plugin with an unresolved symbol fail here, at load time,
 * with a message naming the symbol, instead of killing a worker in the middle
 * of a migration. RTLD_LOCAL keeps two plugins' symbols (say, two libvirt
 * builds) from resolving against each other.
 *
 * The size check is the whole of forward compatibility: a plugin built
 * against a newer plugin.h has a larger struct and loads; one built against
 * an older one must still cover version 1, and the agent calls a later member
 * only if DROVER_PLUGIN_HAS() says it fits. Checking the file exists before
 * dlopen() gives ENOENT its own error: dlerror() is a string, not an errno.
 */
#include "plugin_loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

struct plugin_loader {
	size_t n;
	/* Pointers, so a record a caller holds survives the array growing. */
	struct loaded_plugin **plugins;
};

struct plugin_loader *plugin_loader_new(void)
{
	return xcalloc(1, sizeof(struct plugin_loader));
}

void plugin_loader_free(struct plugin_loader *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->plugins[i]->path);
		free(l->plugins[i]);
	}
	free(l->plugins);
	free(l);
}

int plugin_name_valid(const char *name)
{
	size_t n = 0;

	if (!name)
		return 0;
	for (const char *c = name; *c; c++, n++) {
		if (n >= DROVER_PLUGIN_NAME_MAX)
			return 0;
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
			return 0;
	}
	return n > 0;
}

static int refuse(char *err, size_t errlen, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int refuse(char *err, size_t errlen, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -errnum;
}

int plugin_loader_load(struct plugin_loader *l, const char *path,
		       const struct loaded_plugin **ret_plugin, char *err, size_t errlen)
{
	const struct drover_plugin *p;
	const struct loaded_plugin *dup;
	struct loaded_plugin *rec;
	struct stat st;
	void *h;

	if (err && errlen)
		err[0] = '\0';
	if (stat(path, &st) < 0)
		return refuse(err, errlen, errno, "plugin '%s': %s", path, strerror(errno));
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return refuse(err, errlen, ELIBBAD, "plugin '%s': cannot load: %s", path, dlerror());
	dlerror();
	p = dlsym(h, DROVER_PLUGIN_SYMBOL_NAME);
	if (!p)
		return refuse(err, errlen, ENOEXEC,
			      "plugin '%s': not a drover plugin (no symbol '%s')", path,
			      DROVER_PLUGIN_SYMBOL_NAME);
	if (p->abi_version != DROVER_PLUGIN_ABI_VERSION)
		return refuse(err, errlen, EPROTONOSUPPORT,
			      "plugin '%s': built for plugin ABI version %u, this agent speaks "
			      "version %u; rebuild the plugin against this drover's plugin.h",
			      path, p->abi_version, DROVER_PLUGIN_ABI_VERSION);
	if (p->size < DROVER_PLUGIN_SIZE_V1)
		return refuse(err, errlen, EINVAL,
			      "plugin '%s': plugin struct is %u bytes, shorter than the %zu of ABI "
			      "version %u; it was built against a broken plugin.h",
			      path, p->size, (size_t)DROVER_PLUGIN_SIZE_V1,
			      DROVER_PLUGIN_ABI_VERSION);
	if (!plugin_name_valid(p->name))
		return refuse(err, errlen, EINVAL,
			      "plugin '%s': invalid name (want 1-%d characters of A-Z a-z 0-9 _ -)",
			      path, DROVER_PLUGIN_NAME_MAX);
	if (!p->init || !p->fini)
		return refuse(err, errlen, EINVAL, "plugin '%s' ('%s'): init or fini missing", path,
			      p->name);
	dup = plugin_loader_find(l, p->name);
	if (dup)
		return refuse(err, errlen, EEXIST,
			      "plugin '%s': a plugin named '%s' is already loaded from '%s'", path,
			      p->name, dup->path);

	l->plugins = xrealloc(l->plugins, (l->n + 1) * sizeof(*l->plugins));
	rec = xcalloc(1, sizeof(*rec));
	l->plugins[l->n++] = rec;
	rec->plugin = p;
	rec->path = xstrdup(path);
	rec->handle = h;
	if (ret_plugin)
		*ret_plugin = rec;
	return 0;
}

const struct loaded_plugin *plugin_loader_find(const struct plugin_loader *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->plugins[i]->plugin->name, name) == 0)
			return l->plugins[i];
	return NULL;
}

size_t plugin_loader_count(const struct plugin_loader *l)
{
	return l->n;
}

const struct loaded_plugin *plugin_loader_get(const struct plugin_loader *l, size_t i)
{
	return i < l->n ? l->plugins[i] : NULL;
}
