/*
 * The drover plugin ABI, version 1. A plugin is a shared object that exports
 * exactly one symbol, DROVER_PLUGIN_SYMBOL_NAME ("drover_plugin"), of type
 * const struct drover_plugin. drover-agent loads it with
 * dlopen(RTLD_NOW | RTLD_LOCAL), checks abi_version, size and name, and never
 * unloads it. docs/PLUGIN_ABI.md is the full contract; what a plugin author
 * must know at each call is repeated at the member below.
 *
 * How the structs evolve (SQLite's iVersion tables, Knot's modules):
 *  - Every struct that crosses the boundary starts with its size (the plugin
 *    and host structs with abi_version, then size). The side that fills a
 *    struct sets size to sizeof() as it was compiled; the side that reads it
 *    uses a member only if the member lies wholly within size
 *    (DROVER_FITS()). So an old plugin works with a new agent and a new
 *    plugin with an old agent, as long as neither relies on a member the
 *    other does not have.
 *  - Members are only ever appended. Never reorder, retype, or remove one;
 *    a member that is no longer used stays, documented as ignored.
 *  - abi_version changes only if an existing member changes meaning. The
 *    agent refuses any abi_version other than its own.
 *
 * Conventions for every call:
 *  - Return 0 (or a documented non-negative value) on success and -errno on
 *    failure, and on failure write a one-line, operator-readable reason into
 *    err (errlen bytes, the host's buffer; drover_plugin_error() does it).
 *    An empty err makes the host fall back to strerror(). -ETIMEDOUT,
 *    -ECANCELED and -EOPNOTSUPP keep their usual meanings.
 *  - Every pointer the host passes is borrowed for the duration of the call
 *    (or of the callback); every pointer the plugin passes back (in an event,
 *    a domain, a progress report) is borrowed for the duration of the
 *    callback, and the host copies what it keeps. Nothing allocated by one
 *    side is freed by the other.
 *  - A call may block for as long as the work takes. It runs in a worker
 *    process of the agent under a deadline; past the deadline the whole
 *    process group is killed (SIGKILL) without warning and fini() is not
 *    called. Hypervisor state must therefore be safe to abandon mid-call.
 */
#ifndef DROVER_PLUGIN_H
#define DROVER_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DROVER_PLUGIN_ABI_VERSION 1u
#define DROVER_PLUGIN_SYMBOL drover_plugin
#define DROVER_PLUGIN_SYMBOL_NAME "drover_plugin"
/* A plugin name: 1-32 characters of [A-Za-z0-9_-]. */
#define DROVER_PLUGIN_NAME_MAX 32

/*
 * Build plugins with -fvisibility=hidden and mark the one symbol:
 *   DROVER_PLUGIN_EXPORT const struct drover_plugin DROVER_PLUGIN_SYMBOL = {...};
 */
#define DROVER_PLUGIN_EXPORT __attribute__((visibility("default")))

/* Whether member m of *s (a struct of type T) lies within the size its writer set. */
#define DROVER_FITS(T, s, m) ((s)->size >= offsetof(T, m) + sizeof(((T *)0)->m))

/* ---- what a plugin reports ---- */

/* A domain's run state. Numbers are shared with drover.VmRunState. */
enum drover_vm_state {
	DROVER_VM_UNKNOWN = 0,
	DROVER_VM_RUNNING = 1,
	DROVER_VM_PAUSED = 2,
	DROVER_VM_SHUTTING_DOWN = 3,
	DROVER_VM_STOPPED = 4, /* defined but not running */
	DROVER_VM_CRASHED = 5,
	DROVER_VM_SUSPENDED = 6, /* guest power management (S3/S4) */
};

/* A hypervisor event. Numbers are shared with drover.VmEventType. */
enum drover_event_type {
	DROVER_EVENT_UNKNOWN = 0,
	DROVER_EVENT_STARTED = 1,
	DROVER_EVENT_STOPPED = 2,  /* shut down or destroyed */
	DROVER_EVENT_CRASHED = 3,
	DROVER_EVENT_PAUSED = 4,
	DROVER_EVENT_RESUMED = 5,
	DROVER_EVENT_MIGRATED_AWAY = 6, /* the domain left this host */
	DROVER_EVENT_DEFINED = 7,
	DROVER_EVENT_UNDEFINED = 8,
	DROVER_EVENT_DEVICE_ADDED = 9,    /* detail: the device alias */
	DROVER_EVENT_DEVICE_REMOVED = 10, /* detail: the device alias; the guest acknowledged */
	DROVER_EVENT_CONNECTION_LOST = 11,     /* vm is "": the hypervisor connection dropped */
	DROVER_EVENT_CONNECTION_RESTORED = 12, /* vm is "": reconnected; re-read the inventory */
};

struct drover_domain {
	uint32_t size; /* set by the plugin: sizeof(struct drover_domain) */
	int32_t state; /* enum drover_vm_state */
	const char *name;
	uint64_t memory_mib; /* configured maximum */
	uint32_t vcpus;
	/*
	 * The version of the guest agent that answers inside the running
	 * domain (a QEMU guest agent's guest-info), or NULL: none, not
	 * running, or not asked yet. Added within ABI 1: a host reads it only
	 * if size covers it.
	 */
	const char *guest_agent;
	/*
	 * The host network devices in the running domain's live XML that a
	 * [vf_pool] template could name, one label a line, each labelled as
	 * drover labels a template (daemon/core/vf_device.h): the host PCI
	 * address of a <hostdev> or <interface type='hostdev'> source
	 * ("0000:03:10.1"), else the <source dev=...> of an <interface>.
	 * "" when it has none; NULL when not reported (not running, or the
	 * plugin does not look). droverd compares them with the VFs it
	 * allocated. Added within ABI 1: a host reads it only if size covers it.
	 */
	const char *vf_devices;
};

/*
 * The host's capacity and its domains. The host sets size, add_domain and
 * host_data; the plugin fills memory_mib and vcpus and calls add_domain()
 * once per domain (running or defined), which copies it and returns 0 or
 * -errno (then stop and return that error).
 */
struct drover_inventory {
	uint32_t size;
	uint32_t vcpus;      /* logical CPUs usable by guests */
	uint64_t memory_mib; /* physical memory */
	int (*add_domain)(struct drover_inventory *inv, const struct drover_domain *dom);
	void *host_data; /* the host's; do not touch */
};

/* Throttle the guest's vCPUs if the migration does not converge. */
#define DROVER_MIGRATE_AUTO_CONVERGE (1u << 0)
/* Allow switching to post-copy. */
#define DROVER_MIGRATE_POSTCOPY (1u << 1)
/*
 * Encrypt the data stream (the guest's memory) with TLS, e.g. libvirt's
 * VIR_MIGRATE_TLS. Added within ABI 1 together with drover_plugin.migrate_flags:
 * the agent asks for it only from a plugin that lists it there.
 */
#define DROVER_MIGRATE_TLS (1u << 2)
/* The flags of ABI 1 before migrate_flags existed: what an older plugin honours. */
#define DROVER_MIGRATE_FLAGS_V1 (DROVER_MIGRATE_AUTO_CONVERGE | DROVER_MIGRATE_POSTCOPY)

/* A live migration, as the agent asks for it. Set by the host. */
struct drover_migrate_req {
	uint32_t size;
	uint32_t flags; /* DROVER_MIGRATE_* */
	const char *vm;
	/* The target hypervisor, e.g. "qemu+tcp://10.0.0.2/system". */
	const char *dest_uri;
	/*
	 * Where the migration data flows, e.g. "tcp://10.1.0.2": this is how
	 * the caller picks the migration network. "" means the hypervisor's
	 * default.
	 */
	const char *migrate_uri;
	uint64_t bandwidth_mib_s; /* 0: no cap */
	/* Abort if not complete after this long; 0: only the job deadline applies. */
	uint32_t completion_timeout_ms;
	/* Abort if memory_remaining has not shrunk for this long; 0: never. */
	uint32_t no_progress_timeout_ms;
};

/* One progress report of a running migration. Bytes unless said otherwise. */
struct drover_migrate_progress {
	uint32_t size; /* set by the plugin */
	uint32_t iteration; /* pre-copy pass, 1-based; 0 before the first */
	uint64_t elapsed_ms;
	uint64_t memory_total;
	uint64_t memory_processed;
	uint64_t memory_remaining;
	uint64_t bytes_per_s;
	uint64_t dirty_rate; /* bytes dirtied per second by the guest */
	/*
	 * Set only in the last report of a migration that completed: how long
	 * the guest was paused for the switch-over, in ms (0: unknown). Added
	 * within ABI 1: a host reads it only if size covers it (DROVER_FITS).
	 */
	uint64_t downtime_ms;
};

/*
 * Called by the plugin about once a second while vm_migrate() runs, from any
 * thread, but never concurrently with itself and never after vm_migrate()
 * returned. Reports should never go backwards (memory_processed and
 * iteration do not decrease).
 */
typedef void (*drover_progress_fn)(void *opaque, const struct drover_migrate_progress *p);

struct drover_vm_event {
	uint32_t size; /* set by the plugin */
	int32_t type;  /* enum drover_event_type */
	const char *vm;     /* "" for host-wide events */
	const char *detail; /* may be NULL */
};

/*
 * A fence request, as the agent asks for it. Set by the host. Added within
 * ABI 1 together with drover_plugin.fence.
 */
struct drover_fence_req {
	uint32_t size;
	const char *node;   /* the target node's name, as corosync knows it */
	const char *action; /* "off" */
	/*
	 * The device definition, the operator's string from drover.conf
	 * ([fence] deviceN); its syntax is the plugin's.
	 */
	const char *device;
	/* Give up (-ETIMEDOUT) after this long; the job deadline kills the worker anyway. */
	uint32_t timeout_ms;
};

/*
 * A device hot-plug request, as the agent asks for it. Set by the host. Added
 * within ABI 1 together with drover_plugin.device_detach_wait.
 */
struct drover_device_req {
	uint32_t size;
	const char *vm;
	/* The device as hypervisor XML (a drover.conf [vf_pool] device template). */
	const char *device_xml;
	/*
	 * How long the guest has to acknowledge the unplug. The host keeps it
	 * below the job deadline, so the plugin answers with its reason first.
	 */
	uint32_t timeout_ms;
};

/* ---- what the host gives a plugin ---- */

struct drover_plugin_host {
	uint32_t abi_version; /* DROVER_PLUGIN_ABI_VERSION */
	uint32_t size;        /* sizeof as the host was built; check with DROVER_FITS */
	void *host_data;      /* the host's; do not touch */
	/*
	 * Log one line at a syslog priority (LOG_ERR ... LOG_DEBUG). The host
	 * prefixes the plugin's name. Thread-safe.
	 */
	void (*log)(const struct drover_plugin_host *host, int priority, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
	/*
	 * Report a hypervisor event; see events_dispatch(). Thread-safe, never
	 * blocks for long. Outside the events worker, events are forwarded too,
	 * but a plugin should report them from events_dispatch() only.
	 */
	void (*event)(const struct drover_plugin_host *host, const struct drover_vm_event *ev);
};

/* ---- what a plugin gives the host ---- */

struct drover_plugin {
	uint32_t abi_version; /* DROVER_PLUGIN_ABI_VERSION */
	uint32_t size;        /* sizeof(struct drover_plugin) as the plugin was built */
	const char *name;     /* unique among loaded plugins; static storage */
	const char *description;

	/*
	 * Required. Called once in each worker process, before any other call.
	 * config is the operator's string for this plugin ("" if none), e.g. a
	 * libvirt URI. The host, config and *ret_ctx outlive every later call.
	 * May connect to the hypervisor; it runs under the agent's init timeout.
	 */
	int (*init)(const struct drover_plugin_host *host, const char *config, void **ret_ctx,
		    char *err, size_t errlen);
	/* Required. Called when a worker exits in order; not called when it is killed. */
	void (*fini)(void *ctx);

	/* Host capacity and every domain the hypervisor knows. */
	int (*inventory)(void *ctx, struct drover_inventory *inv, char *err, size_t errlen);
	/*
	 * Start vm. xml is its full definition: define it first if this host
	 * lacks it or holds an older one. Returns when the domain runs.
	 * Starting a running domain is success.
	 */
	int (*vm_start)(void *ctx, const char *vm, const char *xml, char *err, size_t errlen);
	/*
	 * Stop vm: a graceful shutdown, then a forced stop once timeout_ms have
	 * passed (0: force at once). Returns when the domain no longer runs.
	 * Stopping a stopped domain is success.
	 */
	int (*vm_stop)(void *ctx, const char *vm, uint32_t timeout_ms, char *err, size_t errlen);
	/*
	 * Live-migrate and return when the domain runs on the target and is gone
	 * from here (0), or when the migration failed or was aborted (-errno;
	 * -ECANCELED if vm_abort_migration() stopped it, -ETIMEDOUT if one of
	 * req's timeouts did). progress(opaque, ...) reports about once a second.
	 */
	int (*vm_migrate)(void *ctx, const struct drover_migrate_req *req, drover_progress_fn progress,
			  void *opaque, char *err, size_t errlen);
	/*
	 * Abort vm's outgoing migration. Called in another worker process than
	 * the one blocked in vm_migrate(), so it must work through a
	 * connection of its own. No migration running: -ESRCH.
	 */
	int (*vm_abort_migration)(void *ctx, const char *vm, char *err, size_t errlen);
	/*
	 * Hot-plug or unplug a device (an SR-IOV VF, a macvtap NIC) given as
	 * hypervisor XML. Both return when the hypervisor accepted the request.
	 * A detach is complete only when DROVER_EVENT_DEVICE_REMOVED arrives:
	 * a guest may never acknowledge it, and libvirt reports success anyway.
	 */
	int (*device_attach)(void *ctx, const char *vm, const char *device_xml, char *err,
			     size_t errlen);
	int (*device_detach)(void *ctx, const char *vm, const char *device_xml, char *err,
			     size_t errlen);
	/*
	 * Events. The agent runs one events worker per plugin, which calls
	 * events_fd() once after init(); -EOPNOTSUPP means the plugin has no
	 * events. Whenever the fd is readable the worker calls
	 * events_dispatch(), which handles what is pending without waiting
	 * for more and calls host->event() for each event. A dispatch that
	 * does not return within 30 s gets the worker killed and restarted.
	 */
	int (*events_fd)(void *ctx);
	int (*events_dispatch)(void *ctx);

	/* Version 1 ends here. Append new members below this line only. */

	/*
	 * Fence req->node with the device req->device: carry out req->action
	 * ("off") and return 0 only when the node is known to be off (powered
	 * down, cut off its storage and networks), -errno with a reason
	 * otherwise (-ETIMEDOUT once req->timeout_ms passed). A node that is
	 * already off is success. droverd restarts the node's VMs elsewhere on
	 * 0, so never report success on a guess. Added within ABI 1: a plugin
	 * built before it has a size that does not cover it, and the agent
	 * refuses fence jobs for it (-EOPNOTSUPP), as for any member left NULL.
	 */
	int (*fence)(void *ctx, const struct drover_fence_req *req, char *err, size_t errlen);

	/*
	 * The DROVER_MIGRATE_* flags added after version 1 that vm_migrate()
	 * honours (DROVER_MIGRATE_TLS); those of DROVER_MIGRATE_FLAGS_V1 are
	 * honoured by every plugin and need not be listed. A flag asked for
	 * and not honoured is never passed to the plugin: the agent fails the
	 * migration instead (-EOPNOTSUPP), because a flag such as
	 * DROVER_MIGRATE_TLS must not be silently ignored. Added within ABI 1:
	 * a plugin whose size does not cover it honours the version 1 flags.
	 */
	uint32_t migrate_flags;

	/*
	 * Unplug req->device_xml from req->vm and return 0 only once the device
	 * is gone from the running domain: the guest acknowledged the unplug
	 * (libvirt's DEVICE_REMOVED) or the live definition no longer holds it.
	 * A device that is not there is success, so a retried step (after a
	 * droverd restart) is safe. The guest not acknowledging within
	 * req->timeout_ms is -ETIMEDOUT with the reason, and the device stays.
	 * Added within ABI 1: the agent uses it in place of device_detach()
	 * when the plugin has it.
	 */
	int (*device_detach_wait)(void *ctx, const struct drover_device_req *req, char *err,
				  size_t errlen);
};

/* The size a version-1 plugin struct has at least; the loader refuses less. */
#define DROVER_PLUGIN_SIZE_V1                                                                      \
	(offsetof(struct drover_plugin, events_dispatch) +                                         \
	 sizeof(((struct drover_plugin *)0)->events_dispatch))

/* Whether plugin p provides member m (it fits in p->size and is set). */
#define DROVER_PLUGIN_HAS(p, m) (DROVER_FITS(struct drover_plugin, p, m) && (p)->m != NULL)

/* The DROVER_MIGRATE_* flags plugin p's vm_migrate() honours. */
static inline uint32_t drover_plugin_migrate_flags(const struct drover_plugin *p)
{
	return DROVER_MIGRATE_FLAGS_V1 |
	       (DROVER_FITS(struct drover_plugin, p, migrate_flags) ? p->migrate_flags : 0);
}

/* Whether host h provides member m. */
#define DROVER_HOST_HAS(h, m) (DROVER_FITS(struct drover_plugin_host, h, m) && (h)->m != NULL)

/* Write a reason into err and return -errnum (pass a positive errno). */
static inline int drover_plugin_error(char *err, size_t errlen, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static inline int drover_plugin_error(char *err, size_t errlen, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -errnum;
}

#ifdef __cplusplus
}
#endif

#endif
