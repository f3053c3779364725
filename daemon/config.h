/*
 * droverd's configuration file, /etc/drover/drover.conf (INI, parsed with
 * libinih). Every key has a default, so an empty or missing default file is a
 * valid configuration. Unknown sections or keys and bad values are errors that
 * name file:line, and a reload (SIGHUP) that fails keeps the running config.
 *
 * `droverd --check-config` reports every problem at once (config_load_all()).
 *
 * Only node-local settings live here. Cluster-wide settings that must agree on
 * every node (limits, networks in later issues) are replicated through CPG.
 */
#ifndef DROVER_CONFIG_H
#define DROVER_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmpolicy.h"

#define CONFIG_MAX_NETWORKS 8      /* = QUEUE_MAX_NETWORKS */
#define CONFIG_NETWORK_NAME_MAX 32
#define CONFIG_MAX_NET_ADDRS 64    /* = DROVER_MAX_NODES */
#define CONFIG_MAX_FENCE_DEVICES 4
#define CONFIG_MAX_ALERTS 4
#define CONFIG_MAX_VF_POOLS 8      /* = DROVER_MAX_VF_POOLS */
#define CONFIG_VF_POOL_NAME_MAX 32 /* = DROVER_VF_POOL_NAME_MAX */
#define CONFIG_MAX_VF_DEVICES 16   /* = DROVER_MAX_VF_DEVICES: device1..device16 */
#define CONFIG_VF_DEVICE_MAX 256   /* one libvirt device element, on one line */

/*
 * [fence] mode: none (drover never fences: a lost node's VMs wait for
 * `drover node confirm-off`), device (the devices, in order, through the
 * agent's fence plugin), watchdog (self-fencing: a node without quorum for
 * watchdog_timeout_ms destroys its VMs itself; daemon/core/selffence.h).
 */
enum { FENCE_MODE_NONE = 0, FENCE_MODE_DEVICE = 1, FENCE_MODE_WATCHDOG = 2 };

/*
 * A migration network, [network NAME], in preference order (file order):
 *   addresses = n1=10.77.2.1 n2=10.77.2.2 ...   node name = IP literal
 * or
 *   corosync_link = 1                           the nodes' ring1_addr in cmap
 *   cap = 0                                     concurrent migrations (0: none)
 *   last_resort = yes|no                        see below
 * Exactly one of addresses and corosync_link. IPv6 literals are allowed
 * (n1=fd00::1). Names: [A-Za-z0-9_.-], 1..31 chars, unique.
 */
struct drover_network {
	char name[CONFIG_NETWORK_NAME_MAX];
	int corosync_link;               /* -1: the addresses below */
	uint32_t cap;
	/*
	 * last_resort = yes|no: used only while no other network is usable
	 * between the pair. Default: yes for a corosync link (migration traffic
	 * must not crowd out the token), no for addresses.
	 */
	bool last_resort;
	size_t n_addrs;
	struct {
		char node[64];
		char addr[64];               /* numeric IPv4 or IPv6, validated with inet_pton */
	} addrs[CONFIG_MAX_NET_ADDRS];
};

/*
 * A VF pool of this node, [vf_pool NAME]: its devices, each a libvirt device
 * element on one line that the agent attaches to a VM as it is (docs/SRIOV.md):
 *   device1 = <interface type='hostdev' managed='yes'><source><address type='pci' ...
 *   device2 = <interface type='direct'><source dev='vf1' mode='passthrough'/>...
 * Only <interface ...> and <hostdev ...> elements; device numbers without gaps.
 * Names: [A-Za-z0-9_.-], 1..31 chars, unique. The node announces its pools to
 * the cluster (VfPools); the coordinator allocates their devices.
 */
struct drover_vf_pool {
	char name[CONFIG_VF_POOL_NAME_MAX];
	size_t n_devices;
	char devices[CONFIG_MAX_VF_DEVICES][CONFIG_VF_DEVICE_MAX];
};

struct drover_config {
	/* [daemon] */
	char state_dir[PATH_MAX];     /* state_dir = /var/lib/drover */
	int log_priority;             /* log_level = info (err|warning|notice|info|debug) */
	char ipc_group[64];           /* ipc_group = drover: besides root, who may use the CLI */
	uint32_t link_poll_ms;        /* link_poll_interval_ms = 1000 (100..60000) */
	uint32_t request_timeout_ms;  /* request_timeout_ms = 10000 (100..600000) */
	/* [agent] */
	bool agent_enabled;           /* enabled = yes: droverd runs and supervises drover-agent */
	char agent_path[PATH_MAX];    /* path = DROVER_AGENT_DEFAULT */
	char agent_plugin[256];       /* plugin = libvirt (a name in the plugin dir, or a path) */
	char agent_plugin_config[256];/* plugin_config = uri=qemu:///system */
	uint32_t inventory_ms;        /* inventory_interval_ms = 10000 (1000..3600000) */
	uint32_t start_deadline_ms;   /* start_deadline_ms = 120000 (1000..3600000) */
	char agent_dest_uri[256];     /* dest_uri = qemu+tcp://%n/system (%n: target node name) */
	char agent_migrate_uri[256];  /* migrate_uri = tcp://%n-%N (%N: network name) */
	/* [cluster] */
	char cpg_group[128];          /* cpg_group = drover (CPG group name, 1..127 chars) */
	char guest_agent_min[32];     /* guest_agent_min = "" (X.Y: flag VMs whose guest agent is older) */
	/* [migration]: the limits seed the replicated ones until `drover config set` */
	uint32_t mig_max_out;         /* max_out = 2 (0: unlimited) outgoing per node */
	uint32_t mig_max_in;          /* max_in = 2 (0: unlimited) incoming per node */
	uint32_t mig_max_total;       /* max_total = 0 (0: unlimited) cluster-wide */
	uint32_t mig_max_retries;     /* max_retries = 2 (0..7) on another network */
	uint32_t mig_stall_ms;        /* stall_timeout_ms = 30000 (1000..3600000): no progress, abort */
	uint32_t probe_interval_ms;   /* probe_interval_ms = 1000 (100..60000) */
	uint32_t probe_timeout_ms;    /* probe_timeout_ms = 1000 (100..60000) */
	uint32_t probe_port;          /* probe_port = 16509 (1..65535): TCP port probed on peers */
	bool migration_tls;           /* migration_tls = no: the data stream over TLS (VIR_MIGRATE_TLS) */
	/* [fence]: how a lost node is made safe before its VMs restart elsewhere */
	int fence_mode;               /* mode = none (FENCE_MODE_*) */
	char fence_plugin[256];       /* plugin = fence_command (the agent's fence plugin) */
	char fence_devices[CONFIG_MAX_FENCE_DEVICES][256]; /* device1..device4 = PROGRAM key=value... */
	size_t n_fence_devices;       /* the leading non-empty ones: levels, tried in order */
	uint32_t fence_timeout_ms;    /* timeout_ms = 60000 (1000..600000) per device attempt */
	uint32_t fence_retry_ms;      /* retry_ms = 5000 (1000..600000): first backoff, doubling to 60 s */
	uint32_t watchdog_timeout_ms; /* watchdog_timeout_ms = 15000 (2000..600000): a lease's length */
	uint32_t watchdog_margin_ms;  /* watchdog_margin_ms = 5000 (1000..600000): the survivors' wait on top */
	char watchdog_device[256];    /* watchdog_device = "" (e.g. /dev/watchdog): fed by the agent */
	/* [failover] */
	uint32_t failover_max_starts; /* max_starts = 4 (1..64): restarts under way per node */
	/* [node]: this host's own settings (each node reads its own drover.conf) */
	uint32_t node_vm_memory_mib;  /* vm_memory_mib = 0 (0: all; else at most this much) for VMs */
	uint32_t node_reserved_mib;   /* reserved_memory_mib = 0: kept from VMs for the host itself */
	/* [alerts]: programs run on events (docs/OPERATIONS.md#alerts) */
	size_t n_alerts;
	char alert_paths[CONFIG_MAX_ALERTS][256]; /* path = PROG [PROG...]: absolute, none by default */
	uint32_t alert_timeout_ms;    /* timeout_ms = 30000 (1000..600000) per alert */
	char alert_recipient[256];    /* recipient = (none): handed over as DROVER_ALERT_RECIPIENT */
	/* [metrics] */
	char metrics_listen[64];      /* listen = (off) ADDRESS:PORT, numeric, e.g. 127.0.0.1:9664 */
	/*
	 * [security]: the domain XML policy this node applies to `vm add`
	 * (vmpolicy.h): allow_qemu_passthrough = no, allow_host_devices = no,
	 * allow_paths, allow_programs, allow_pools (lists; lines add up, and
	 * the first line of a list replaces its default).
	 */
	struct vm_policy security;
	/* [network NAME] sections, in file order; none: one network "default"
	 * over the hypervisors' default route (migrate_uri in [agent]) */
	size_t n_networks;
	struct drover_network networks[CONFIG_MAX_NETWORKS];
	/* [node]: this host's hardware, announced to the cluster with its pools */
	uint32_t ipsec_sa_capacity;   /* ipsec_sa_capacity = 0: IPsec SAs its NICs can offload */
	/* [vf_pool NAME] sections, in file order; none: the node has no VFs */
	size_t n_vf_pools;
	struct drover_vf_pool vf_pools[CONFIG_MAX_VF_POOLS];
};

/* Fill c with the defaults. */
void config_defaults(struct drover_config *c);

/*
 * Load path over the defaults into *ret (written only on success).
 * A missing file is an error when must_exist, else it yields the defaults.
 * On error returns -errno (-ENOENT, -EINVAL, ...) and writes a one-line reason
 * such as "/etc/drover/drover.conf:7: unknown key 'foo' in [daemon]" to err.
 */
int config_load(const char *path, int must_exist, struct drover_config *ret, char *err,
		size_t errlen);

/*
 * Every problem of a file, for `droverd --check-config` and reload logs: an
 * operator fixing a file wants all of them at once, not one per attempt.
 * Each text is whole, "FILE:LINE: reason" (or "FILE: reason" for what has no
 * one line), in the order found: the reader's problems in file order, then
 * the checks of the whole file.
 */
#define CONFIG_MAX_ERRORS 32
#define CONFIG_ERROR_MAX 600
struct config_errors {
	size_t n;    /* in e[] */
	size_t more; /* found after e[] was full */
	struct {
		unsigned line; /* 0: the whole file */
		char text[CONFIG_ERROR_MAX];
	} e[CONFIG_MAX_ERRORS];
};

/*
 * config_load(), reporting every problem into *errs (cleared first; n == 0
 * on success). Returns as config_load(); *ret is written only on success.
 */
int config_load_all(const char *path, int must_exist, struct drover_config *ret,
		    struct config_errors *errs);

/*
 * What a reload changes, for the log: one line per key whose effective value
 * differs, per section added or removed, and when the networks' order
 * changed, e.g.
 *   "[migration] max_out: 2 -> 4"
 *   "[network mig-c]: added"
 *   "[network mig-b] cap: 0 -> 1"
 *   "networks reordered: mig-a mig-b -> mig-b mig-a"
 * in the order of config_print(). Calls fn once per line; returns how many.
 */
size_t config_diff(const struct drover_config *from, const struct drover_config *to,
		   void (*fn)(void *userdata, const char *line), void *userdata);

/*
 * The i-th key the parser accepts (i from 0): its section, "network NAME"
 * for the keys of a [network NAME] section, and its name. false past the
 * last. For the documentation's tests: drover.conf(5) must name them all.
 */
bool config_key_at(size_t i, const char **ret_section, const char **ret_name);

struct sockaddr_storage;
/*
 * A listen address as [metrics] listen takes it: IPv4 "A.B.C.D:PORT" or
 * IPv6 "[ADDR]:PORT", numeric (never a name: no DNS), port 1..65535.
 * -EINVAL otherwise; *ret and *ret_len written only on success.
 */
int config_listen_parse(const char *s, struct sockaddr_storage *ret, unsigned *ret_len);

/*
 * The memory (MiB) drover may place VMs into on this node, given what the
 * hypervisor reports: the report less [node] reserved_memory_mib (never
 * below 0), and at most [node] vm_memory_mib when that is set. A node that
 * reports nothing (0) stays 0: unknown capacity takes nothing.
 */
uint64_t config_vm_memory_mib(const struct drover_config *c, uint64_t reported_mib);

/* Print the effective configuration as a valid drover.conf. */
void config_print(FILE *f, const struct drover_config *c);

#endif
