/*
 * What the agent knows of a plugin without mapping it: its facts, learnt
 * from a short-lived child process that loads and checks it.
 *
 * The agent itself never dlopen()s a plugin. A plugin maps its hypervisor
 * library (libvirt and its dependencies: ~10 MiB resident), and the agent
 * lives as long as droverd, so mapping the plugin just to check it cost
 * every host that memory for good (issue 11's footprint). The checks are the
 * loader's (plugin_loader.h), run in `drover-agent --probe-plugin PATH`,
 * which prints the facts and exits; the workers load the plugin anyway.
 */
#ifndef DROVER_AGENT_PLUGIN_PROBE_H
#define DROVER_AGENT_PLUGIN_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin.h"

/* The optional calls a plugin implements, as bits of plugin_facts.calls. */
enum plugin_call {
	PLUGIN_CALL_INVENTORY = 1u << 0,
	PLUGIN_CALL_VM_START = 1u << 1,
	PLUGIN_CALL_VM_STOP = 1u << 2,
	PLUGIN_CALL_VM_MIGRATE = 1u << 3,
	PLUGIN_CALL_VM_ABORT_MIGRATION = 1u << 4,
	PLUGIN_CALL_DEVICE_ATTACH = 1u << 5,
	PLUGIN_CALL_DEVICE_DETACH = 1u << 6,
	PLUGIN_CALL_EVENTS = 1u << 7, /* events_fd and events_dispatch, both */
	PLUGIN_CALL_FENCE = 1u << 8,
	PLUGIN_CALL_DEVICE_DETACH_WAIT = 1u << 9,
};

struct plugin_facts {
	char name[DROVER_PLUGIN_NAME_MAX + 1];
	char *description; /* "" if none; control characters replaced by spaces */
	char *path;        /* the file, as the workers load it */
	uint32_t abi_version;
	uint32_t size;
	uint32_t calls;         /* PLUGIN_CALL_* */
	uint32_t migrate_flags; /* drover_plugin_migrate_flags() */
};

/* The PLUGIN_CALL_* bits of a loaded plugin. */
uint32_t plugin_calls(const struct drover_plugin *p);

/*
 * The child's side (--probe-plugin): load and check the plugin at path,
 * print its facts on stdout and return 0, or print the loader's reason and
 * return DROVER_EXIT_CONFIG.
 */
int plugin_probe_main(const char *path);

/*
 * The agent's side: run `self_exe --probe-plugin path` and read its answer,
 * waiting at most timeout_ms (the child is killed then). Blocks: call it
 * before the loop runs. Returns 0 and fills *ret (free with
 * plugin_facts_free()), or -errno with the reason in err: the loader's own
 * errno when the plugin was refused, -ETIMEDOUT, or -EIO when the child
 * broke.
 */
int plugin_probe(const char *self_exe, const char *path, uint32_t timeout_ms,
		 struct plugin_facts *ret, char *err, size_t errlen);

void plugin_facts_free(struct plugin_facts *f);

#endif
