/*
 * droverd's configuration file (see config.h): a table of keys, each with a
 * default, a section and a validator, read with libinih.
 *
 * A configuration is built in a local copy that starts from the defaults and
 * is handed to the caller only when the whole file was read without an error,
 * so a failed SIGHUP reload cannot half-apply a file. Every problem is
 * reported, each with the file and line (config_load_all()), so that an
 * operator fixes a file in one pass; config_load() hands over the first.
 * After a problem the reader goes on with the next line, and skips the keys
 * of a section whose header was rejected (one problem, not one per key).
 *
 * libinih reads through our own line reader (ini_parse_stream) instead of
 * ini_parse_file, because the reader is where we can see what inih cannot tell
 * us on Debian 12 (libinih 55 is built without INI_HANDLER_LINENO):
 *  - the line number: inih calls the handler for a line right after our reader
 *    returned it, so our count is the line of the key being handled;
 *  - section headers: inih calls the handler only for keys, so an unknown
 *    section with no keys in it would otherwise pass unnoticed;
 *  - leading whitespace, which we strip: inih would take an indented line as
 *    a continuation of the previous value (multi-line values), which is never
 *    what an indented "key = value" in drover.conf means;
 *  - lines longer than inih's line buffer (about 200 bytes), which inih would
 *    silently split into two lines; we reject them instead.
 * Debian's patched libinih also exports runtime switches (ini_allow_multiline,
 * ini_max_line); we do not use them: they are process-global and exist only in
 * Debian's build, and the reader does the same portably.
 *
 * A key given twice is an error, even in two [daemon] sections: with no
 * include files or drop-ins, a second value is a mistake, and "last one wins"
 * would hide which one the operator meant. Keys and section names are
 * case-sensitive. The one exception is addresses in a [network NAME]
 * section, which may take several lines that add up (see parse_addresses()).
 *
 * [network NAME] sections are not in the key table: there can be several, in
 * an order that matters, so the reader creates each network at its header
 * (where an error can name the header's line) and the keys of that section
 * fill it in.
 *
 * Values are checked for what this file can know (ranges, characters, an
 * absolute path), not for what only the running system can tell (whether the
 * group exists, whether state_dir can be created): the daemon checks those
 * when it uses them, and `droverd --check-config` works on any machine.
 * Everything config_print() writes reads back to the same configuration.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include <ini.h>

#include "agent_version.h"
#include "log.h"
#include "selffence.h"
#include "util.h"

#ifndef DROVER_STATE_DIR_DEFAULT
#define DROVER_STATE_DIR_DEFAULT "/var/lib/drover"
#endif

#define LINK_POLL_MIN 100u
#define LINK_POLL_MAX 60000u
#define REQUEST_TIMEOUT_MIN 100u
#define REQUEST_TIMEOUT_MAX 600000u
#define CPG_GROUP_MAX 127u /* CPG_MAX_NAME_LENGTH (128) less the NUL */
/* Limits and caps: a bound against typos; no host runs 1000 migrations at once. */
#define MIG_LIMIT_MAX 1000u
/* [node] memory settings: up to 16 TiB, beyond any host drover runs on today. */
#define CONFIG_MAX_NODE_MIB (16u * 1024 * 1024)
#define NETWORK_PREFIX "network "
#define VF_POOL_PREFIX "vf_pool "
/* An IPsec offload capacity beyond any NIC's; a bound against typos. */
#define IPSEC_SA_MAX 1000000u
#define NODE_NAME_MAX 63u
/* The longest line inih reads whole: its buffer less the newline and the NUL. */
#define LINE_MAX_CHARS (INI_MAX_LINE - 2)

struct key;
typedef int (*key_set_fn)(struct drover_config *c, const struct key *k, const char *value);

struct key {
	const char *section;
	const char *name;
	key_set_fn set;
	const char *expected; /* ends "bad value 'x' for NAME: expected ..."; NULL: integer */
	uint32_t min, max;    /* integers only */
	size_t offset;        /* integers only: a uint32_t in struct drover_config */
	/*
	 * Lists whose lines add up (allow_paths ...): called before the first
	 * line of the key is set, to drop the default; a repeated key is then
	 * not an error.
	 */
	void (*reset)(struct drover_config *c, const struct key *k);
};

static int set_state_dir(struct drover_config *c, const struct key *k, const char *value);
static int set_log_level(struct drover_config *c, const struct key *k, const char *value);
static int set_ipc_group(struct drover_config *c, const struct key *k, const char *value);
static int set_u32(struct drover_config *c, const struct key *k, const char *value);
static int set_cpg_group(struct drover_config *c, const struct key *k, const char *value);
static int set_guest_agent_min(struct drover_config *c, const struct key *k, const char *value);
static int set_bool(struct drover_config *c, const struct key *k, const char *value);
static int set_text(struct drover_config *c, const struct key *k, const char *value);
static int set_policy_list(struct drover_config *c, const struct key *k, const char *value);
static void reset_policy_list(struct drover_config *c, const struct key *k);

/* [network NAME] sections are handled apart from these (see network_header()). */
static const char *const sections[] = {"daemon", "agent", "cluster", "migration", "fence",
					"failover", "node", "alerts", "metrics", "security"};

static int set_fence_mode(struct drover_config *c, const struct key *k, const char *value);
static int set_alert_paths(struct drover_config *c, const struct key *k, const char *value);
static int set_listen(struct drover_config *c, const struct key *k, const char *value);

static const struct key keys[] = {
	{
		.section = "daemon",
		.name = "state_dir",
		.set = set_state_dir,
		.expected = "an absolute path",
	},
	{
		.section = "daemon",
		.name = "log_level",
		.set = set_log_level,
		.expected = "one of err, warning, notice, info, debug",
	},
	{
		.section = "daemon",
		.name = "ipc_group",
		.set = set_ipc_group,
		.expected = "a group name: 1..63 letters, digits, '.', '_' or '-', not starting "
			    "with '-'",
	},
	{
		.section = "daemon",
		.name = "link_poll_interval_ms",
		.set = set_u32,
		.min = LINK_POLL_MIN,
		.max = LINK_POLL_MAX,
		.offset = offsetof(struct drover_config, link_poll_ms),
	},
	{
		.section = "daemon",
		.name = "request_timeout_ms",
		.set = set_u32,
		.min = REQUEST_TIMEOUT_MIN,
		.max = REQUEST_TIMEOUT_MAX,
		.offset = offsetof(struct drover_config, request_timeout_ms),
	},
	{
		.section = "agent",
		.name = "enabled",
		.set = set_bool,
		.expected = "yes or no",
		.offset = offsetof(struct drover_config, agent_enabled),
	},
	{
		.section = "agent",
		.name = "path",
		.set = set_text,
		.expected = "an absolute path",
		.min = 1, /* must be absolute */
		.max = PATH_MAX,
		.offset = offsetof(struct drover_config, agent_path),
	},
	{
		.section = "agent",
		.name = "plugin",
		.set = set_text,
		.expected = "a plugin name or an absolute path, at most 255 characters",
		.max = 256,
		.offset = offsetof(struct drover_config, agent_plugin),
	},
	{
		.section = "agent",
		.name = "plugin_config",
		.set = set_text,
		.expected = "at most 255 printable characters",
		.max = 256,
		.offset = offsetof(struct drover_config, agent_plugin_config),
	},
	{
		.section = "agent",
		.name = "inventory_interval_ms",
		.set = set_u32,
		.min = 1000,
		.max = 3600000,
		.offset = offsetof(struct drover_config, inventory_ms),
	},
	{
		.section = "agent",
		.name = "start_deadline_ms",
		.set = set_u32,
		.min = 1000,
		.max = 3600000,
		.offset = offsetof(struct drover_config, start_deadline_ms),
	},
	{
		.section = "agent",
		.name = "dest_uri",
		.set = set_text,
		.expected = "a libvirt URI template, %n the target node's name",
		.max = 256,
		.offset = offsetof(struct drover_config, agent_dest_uri),
	},
	{
		.section = "agent",
		.name = "migrate_uri",
		.set = set_text,
		.expected = "a migration URI template, %n the target node, %N the network",
		.max = 256,
		.offset = offsetof(struct drover_config, agent_migrate_uri),
	},
	{
		.section = "cluster",
		.name = "cpg_group",
		.set = set_cpg_group,
		.expected = "1..127 printable characters without spaces",
	},
	{
		.section = "cluster",
		.name = "guest_agent_min",
		.set = set_guest_agent_min,
		.expected = "a version of 1-4 dot-separated numbers, e.g. 7.2",
	},
	{
		.section = "migration",
		.name = "max_out",
		.set = set_u32,
		.min = 0,
		.max = MIG_LIMIT_MAX,
		.offset = offsetof(struct drover_config, mig_max_out),
	},
	{
		.section = "migration",
		.name = "max_in",
		.set = set_u32,
		.min = 0,
		.max = MIG_LIMIT_MAX,
		.offset = offsetof(struct drover_config, mig_max_in),
	},
	{
		.section = "migration",
		.name = "max_total",
		.set = set_u32,
		.min = 0,
		.max = MIG_LIMIT_MAX,
		.offset = offsetof(struct drover_config, mig_max_total),
	},
	{
		.section = "migration",
		.name = "max_retries",
		.set = set_u32,
		.min = 0,
		.max = 7, /* QUEUE_MAX_ATTEMPTS - 1 */
		.offset = offsetof(struct drover_config, mig_max_retries),
	},
	{
		.section = "migration",
		.name = "stall_timeout_ms",
		.set = set_u32,
		.min = 1000,
		.max = 3600000,
		.offset = offsetof(struct drover_config, mig_stall_ms),
	},
	{
		.section = "migration",
		.name = "probe_interval_ms",
		.set = set_u32,
		.min = 100,
		.max = 60000,
		.offset = offsetof(struct drover_config, probe_interval_ms),
	},
	{
		.section = "migration",
		.name = "probe_timeout_ms",
		.set = set_u32,
		.min = 100,
		.max = 60000,
		.offset = offsetof(struct drover_config, probe_timeout_ms),
	},
	{
		.section = "fence",
		.name = "mode",
		.set = set_fence_mode,
		.expected = "none, device or watchdog",
	},
	{
		.section = "fence",
		.name = "plugin",
		.set = set_text,
		.expected = "a plugin name or an absolute path, at most 255 characters",
		.max = 256,
		.offset = offsetof(struct drover_config, fence_plugin),
	},
	{
		.section = "fence",
		.name = "device1",
		.set = set_text,
		.expected = "an absolute program path, then key=value pairs",
		.min = 1,
		.max = 256,
		.offset = offsetof(struct drover_config, fence_devices[0]),
	},
	{
		.section = "fence",
		.name = "device2",
		.set = set_text,
		.expected = "an absolute program path, then key=value pairs",
		.min = 1,
		.max = 256,
		.offset = offsetof(struct drover_config, fence_devices[1]),
	},
	{
		.section = "fence",
		.name = "device3",
		.set = set_text,
		.expected = "an absolute program path, then key=value pairs",
		.min = 1,
		.max = 256,
		.offset = offsetof(struct drover_config, fence_devices[2]),
	},
	{
		.section = "fence",
		.name = "device4",
		.set = set_text,
		.expected = "an absolute program path, then key=value pairs",
		.min = 1,
		.max = 256,
		.offset = offsetof(struct drover_config, fence_devices[3]),
	},
	{
		.section = "fence",
		.name = "timeout_ms",
		.set = set_u32,
		.min = 1000,
		.max = 600000,
		.offset = offsetof(struct drover_config, fence_timeout_ms),
	},
	{
		.section = "fence",
		.name = "retry_ms",
		.set = set_u32,
		.min = 1000,
		.max = 600000,
		.offset = offsetof(struct drover_config, fence_retry_ms),
	},
	{
		.section = "node",
		.name = "ipsec_sa_capacity",
		.set = set_u32,
		.min = 0,
		.max = IPSEC_SA_MAX,
		.offset = offsetof(struct drover_config, ipsec_sa_capacity),
	},
	{
		.section = "fence",
		.name = "watchdog_timeout_ms",
		.set = set_u32,
		.min = SELFFENCE_TIMEOUT_MIN_MS,
		.max = SELFFENCE_TIMEOUT_MAX_MS,
		.offset = offsetof(struct drover_config, watchdog_timeout_ms),
	},
	{
		.section = "fence",
		.name = "watchdog_margin_ms",
		.set = set_u32,
		.min = SELFFENCE_MARGIN_MIN_MS,
		.max = SELFFENCE_MARGIN_MAX_MS,
		.offset = offsetof(struct drover_config, watchdog_margin_ms),
	},
	{
		.section = "fence",
		.name = "watchdog_device",
		.set = set_text,
		.expected = "an absolute device path, at most 255 characters",
		.max = 256,
		.offset = offsetof(struct drover_config, watchdog_device),
	},
	{
		.section = "failover",
		.name = "max_starts",
		.set = set_u32,
		.min = 1,
		.max = 64,
		.offset = offsetof(struct drover_config, failover_max_starts),
	},
	{
		.section = "node",
		.name = "vm_memory_mib",
		.set = set_u32,
		.min = 0,
		.max = CONFIG_MAX_NODE_MIB,
		.offset = offsetof(struct drover_config, node_vm_memory_mib),
	},
	{
		.section = "node",
		.name = "reserved_memory_mib",
		.set = set_u32,
		.min = 0,
		.max = CONFIG_MAX_NODE_MIB,
		.offset = offsetof(struct drover_config, node_reserved_mib),
	},
	{
		.section = "alerts",
		.name = "path",
		.set = set_alert_paths,
		.expected = "1 to 4 absolute program paths, separated by spaces",
	},
	{
		.section = "alerts",
		.name = "timeout_ms",
		.set = set_u32,
		.min = 1000,
		.max = 600000,
		.offset = offsetof(struct drover_config, alert_timeout_ms),
	},
	{
		.section = "alerts",
		.name = "recipient",
		.set = set_text,
		.expected = "printable text, at most 255 characters",
		.max = 256,
		.offset = offsetof(struct drover_config, alert_recipient),
	},
	{
		.section = "metrics",
		.name = "listen",
		.set = set_listen,
		.expected = "a numeric address and port: 127.0.0.1:9664 or [::1]:9664",
	},
	{
		.section = "migration",
		.name = "probe_port",
		.set = set_u32,
		.min = 1,
		.max = 65535,
		.offset = offsetof(struct drover_config, probe_port),
	},
	{
		.section = "migration",
		.name = "migration_tls",
		.set = set_bool,
		.expected = "yes or no",
		.offset = offsetof(struct drover_config, migration_tls),
	},
	{
		.section = "security",
		.name = "allow_qemu_passthrough",
		.set = set_bool,
		.expected = "yes or no",
		.offset = offsetof(struct drover_config, security.allow_qemu_passthrough),
	},
	{
		.section = "security",
		.name = "allow_host_devices",
		.set = set_bool,
		.expected = "yes or no",
		.offset = offsetof(struct drover_config, security.allow_host_devices),
	},
	{
		.section = "security",
		.name = "allow_paths",
		.set = set_policy_list,
		.reset = reset_policy_list,
		.expected = "absolute directories without '.' or '..' components, separated by "
			    "spaces, at most 16 in all",
		.min = VMPOLICY_PATHS,
	},
	{
		.section = "security",
		.name = "allow_programs",
		.set = set_policy_list,
		.reset = reset_policy_list,
		.expected = "absolute program paths without '.' or '..' components, separated "
			    "by spaces, at most 16 in all",
		.min = VMPOLICY_PROGRAMS,
	},
	{
		.section = "security",
		.name = "allow_pools",
		.set = set_policy_list,
		.reset = reset_policy_list,
		.expected = "libvirt storage pool names separated by spaces, at most 16 in all",
		.min = VMPOLICY_POOLS,
	},
};

/* Where the keys of one [network NAME] section were set; 0: not set. */
struct network_lines {
	unsigned header;    /* the [network NAME] line */
	unsigned addresses; /* the first addresses line */
	unsigned link;
	unsigned cap;
	unsigned last_resort;
};

struct parser {
	FILE *f;
	struct drover_config c;
	const char *path;                    /* for the texts of errs */
	unsigned lineno;                     /* lines handed to inih so far */
	size_t n_failed;                     /* problems found, reported or not */
	struct config_errors *errs;
	bool skip_section;                   /* the current header was rejected */
	unsigned set_line[ARRAY_SIZE(keys)]; /* where each key was set; 0: not set */
	char *buf;                           /* getline() buffer */
	size_t bufsz;
	int read_errno;
	struct network_lines net_lines[CONFIG_MAX_NETWORKS];
	/* Where each [vf_pool NAME] header and each of its devices was set; 0: not set. */
	unsigned pool_header[CONFIG_MAX_VF_POOLS];
	unsigned pool_dev_line[CONFIG_MAX_VF_POOLS][CONFIG_MAX_VF_DEVICES];
};

uint64_t config_vm_memory_mib(const struct drover_config *c, uint64_t reported_mib)
{
	uint64_t mib = reported_mib > c->node_reserved_mib ? reported_mib - c->node_reserved_mib : 0;

	if (c->node_vm_memory_mib && mib > c->node_vm_memory_mib)
		mib = c->node_vm_memory_mib;
	return mib;
}

void config_defaults(struct drover_config *c)
{
	memset(c, 0, sizeof(*c));
	strscpy(c->state_dir, DROVER_STATE_DIR_DEFAULT, sizeof(c->state_dir));
	c->log_priority = LOG_INFO;
	strscpy(c->ipc_group, "drover", sizeof(c->ipc_group));
	c->link_poll_ms = 1000;
	c->request_timeout_ms = 10000;
	strscpy(c->cpg_group, "drover", sizeof(c->cpg_group));
	c->agent_enabled = true;
	strscpy(c->agent_path, DROVER_AGENT_DEFAULT, sizeof(c->agent_path));
	strscpy(c->agent_plugin, "libvirt", sizeof(c->agent_plugin));
	strscpy(c->agent_plugin_config, "uri=qemu:///system", sizeof(c->agent_plugin_config));
	c->inventory_ms = 10000;
	c->start_deadline_ms = 120000;
	strscpy(c->agent_dest_uri, "qemu+tcp://%n/system", sizeof(c->agent_dest_uri));
	strscpy(c->agent_migrate_uri, "tcp://%n-%N", sizeof(c->agent_migrate_uri));
	c->mig_max_out = 2;
	c->mig_max_in = 2;
	c->mig_max_total = 0;
	c->mig_max_retries = 2;
	c->mig_stall_ms = 30000;
	c->probe_interval_ms = 1000;
	c->probe_timeout_ms = 1000;
	c->probe_port = 16509;
	c->fence_mode = FENCE_MODE_NONE;
	strscpy(c->fence_plugin, "fence_command", sizeof(c->fence_plugin));
	memset(c->fence_devices, 0, sizeof(c->fence_devices));
	c->n_fence_devices = 0;
	c->fence_timeout_ms = 60000;
	c->fence_retry_ms = 5000;
	c->watchdog_timeout_ms = 15000;
	c->watchdog_margin_ms = 5000;
	c->watchdog_device[0] = '\0';
	c->failover_max_starts = 4;
	c->node_vm_memory_mib = 0;
	c->node_reserved_mib = 0;
	c->alert_timeout_ms = 30000;
	c->n_networks = 0;
	c->migration_tls = false;
	vmpolicy_defaults(&c->security);
}

/* A [security] list: k->min is the vmpolicy_list. */
static int set_policy_list(struct drover_config *c, const struct key *k, const char *value)
{
	char err[256];

	return vmpolicy_list_add(&c->security, (enum vmpolicy_list)k->min, value, err, sizeof(err));
}

static void reset_policy_list(struct drover_config *c, const struct key *k)
{
	c->security.list[k->min].n = 0;
}

static int set_alert_paths(struct drover_config *c, const struct key *k, const char *value)
{
	size_t n = 0;

	(void)k;
	for (const char *s = value; *s;) {
		size_t len;

		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		len = strcspn(s, " \t");
		if (n == CONFIG_MAX_ALERTS || s[0] != '/' || len >= sizeof(c->alert_paths[0]))
			return -EINVAL;
		for (size_t i = 0; i < len; i++)
			if (!isprint((unsigned char)s[i]))
				return -EINVAL;
		memcpy(c->alert_paths[n], s, len);
		c->alert_paths[n++][len] = '\0';
		s += len;
	}
	if (!n)
		return -EINVAL;
	c->n_alerts = n;
	return 0;
}

int config_listen_parse(const char *s, struct sockaddr_storage *ret, unsigned *ret_len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port;
	uint64_t p;
	size_t hl;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		hl = (size_t)(end - s - 1);
		if (hl == 0 || hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		port = end + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
		if (hl == 0 || hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hl);
		host[hl] = '\0';
		port = colon + 1;
	}
	if (parse_u64(port, 1, 65535, &p) < 0)
		return -EINVAL;
	if (s[0] == '[') {
		struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)p) };

		if (inet_pton(AF_INET6, host, &a6.sin6_addr) != 1)
			return -EINVAL;
		memset(ret, 0, sizeof(*ret));
		memcpy(ret, &a6, sizeof(a6));
		*ret_len = sizeof(a6);
	} else {
		struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };

		if (inet_pton(AF_INET, host, &a4.sin_addr) != 1)
			return -EINVAL;
		memset(ret, 0, sizeof(*ret));
		memcpy(ret, &a4, sizeof(a4));
		*ret_len = sizeof(a4);
	}
	return 0;
}

static int set_listen(struct drover_config *c, const struct key *k, const char *value)
{
	struct sockaddr_storage ss;
	unsigned len;

	(void)k;
	if (strlen(value) >= sizeof(c->metrics_listen) || config_listen_parse(value, &ss, &len) < 0)
		return -EINVAL;
	strscpy(c->metrics_listen, value, sizeof(c->metrics_listen));
	return 0;
}

static int set_fence_mode(struct drover_config *c, const struct key *k, const char *value)
{
	(void)k;
	if (strcmp(value, "none") == 0)
		c->fence_mode = FENCE_MODE_NONE;
	else if (strcmp(value, "device") == 0)
		c->fence_mode = FENCE_MODE_DEVICE;
	else if (strcmp(value, "watchdog") == 0)
		c->fence_mode = FENCE_MODE_WATCHDOG;
	else
		return -EINVAL;
	return 0;
}

static int set_bool(struct drover_config *c, const struct key *k, const char *value)
{
	bool *b = (bool *)((char *)c + k->offset);

	if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
		*b = true;
	else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
		 strcmp(value, "0") == 0)
		*b = false;
	else
		return -EINVAL;
	return 0;
}

/* A printable string into a char[k->max] at k->offset; k->min 1: absolute path. */
static int set_text(struct drover_config *c, const struct key *k, const char *value)
{
	size_t n = strlen(value);

	if (n == 0 || n >= k->max || (k->min && value[0] != '/'))
		return -EINVAL;
	for (const char *s = value; *s; s++)
		if (!isprint((unsigned char)*s))
			return -EINVAL;
	memcpy((char *)c + k->offset, value, n + 1);
	return 0;
}

static int set_state_dir(struct drover_config *c, const struct key *k, const char *value)
{
	(void)k;
	if (value[0] != '/')
		return -EINVAL;
	for (const char *s = value; *s; s++)
		if (iscntrl((unsigned char)*s))
			return -EINVAL;
	return strscpy(c->state_dir, value, sizeof(c->state_dir)) < 0 ? -EINVAL : 0;
}

static int set_log_level(struct drover_config *c, const struct key *k, const char *value)
{
	int prio = log_priority_from_name(value);

	(void)k;
	if (prio < 0)
		return -EINVAL;
	c->log_priority = prio;
	return 0;
}

static int set_ipc_group(struct drover_config *c, const struct key *k, const char *value)
{
	(void)k;
	if (value[0] == '\0' || value[0] == '-')
		return -EINVAL;
	for (const char *s = value; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
			return -EINVAL;
	return strscpy(c->ipc_group, value, sizeof(c->ipc_group)) < 0 ? -EINVAL : 0;
}

static int set_u32(struct drover_config *c, const struct key *k, const char *value)
{
	uint64_t v;
	int r = parse_u64(value, k->min, k->max, &v);

	if (r < 0)
		return r;
	*(uint32_t *)((char *)c + k->offset) = (uint32_t)v;
	return 0;
}

static int set_cpg_group(struct drover_config *c, const struct key *k, const char *value)
{
	size_t n = strlen(value);

	(void)k;
	if (n == 0 || n > CPG_GROUP_MAX || n >= sizeof(c->cpg_group))
		return -EINVAL;
	for (const char *s = value; *s; s++)
		if (!isgraph((unsigned char)*s))
			return -EINVAL;
	memcpy(c->cpg_group, value, n + 1);
	return 0;
}

/*
 * The oldest guest agent version that is not flagged in `drover vm list`
 * (agent_version.h says how versions compare).
 */
static int set_guest_agent_min(struct drover_config *c, const struct key *k, const char *value)
{
	(void)k;
	if (!agent_version_valid_min(value) || strlen(value) >= sizeof(c->guest_agent_min))
		return -EINVAL;
	strscpy(c->guest_agent_min, value, sizeof(c->guest_agent_min));
	return 0;
}

/* Record an error at line unless an earlier one is already recorded. */
/* A problem at line (0: the whole file), added to p->errs. */
__attribute__((format(printf, 3, 4))) static void fail(struct parser *p, unsigned line,
						       const char *fmt, ...)
{
	struct config_errors *e = p->errs;
	char msg[CONFIG_ERROR_MAX - 64];
	va_list ap;

	p->n_failed++;
	if (e->n >= CONFIG_MAX_ERRORS) {
		e->more++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e->e[e->n].line = line;
	if (line)
		snprintf(e->e[e->n].text, sizeof(e->e[e->n].text), "%s:%u: %s", p->path, line,
			 msg);
	else
		snprintf(e->e[e->n].text, sizeof(e->e[e->n].text), "%s: %s", p->path, msg);
	e->n++;
}

static bool failed_at(const struct parser *p, unsigned line)
{
	for (size_t i = 0; i < p->errs->n; i++)
		if (p->errs->e[i].line == line)
			return true;
	return p->errs->more > 0; /* it may be among those not kept: do not add one */
}

static bool section_known(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
		if (strlen(sections[i]) == len && memcmp(sections[i], name, len) == 0)
			return true;
	return false;
}

/*
 * Named sections, [network NAME] and [vf_pool NAME]: prefix is "network " or
 * "vf_pool ". "PREFIX NAME", or the bare word, is such a header.
 */
static bool is_named_section(const char *prefix, const char *name, size_t len)
{
	size_t plen = strlen(prefix);

	return (len >= plen && memcmp(name, prefix, plen) == 0) ||
	       (len == plen - 1 && memcmp(name, prefix, plen - 1) == 0);
}

static bool is_network_section(const char *name, size_t len)
{
	return is_named_section(NETWORK_PREFIX, name, len);
}

static bool network_name_valid(const char *name, size_t len)
{
	if (len == 0 || len >= CONFIG_NETWORK_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' && name[i] != '_' &&
		    name[i] != '-')
			return false;
	return true;
}

/*
 * The NAME of a [PREFIX NAME] header (a bare [PREFIX] has none), checked
 * against the names' rule (1..max-1 letters, digits, '.', '_' or '-');
 * false, with the problem recorded, if it does not follow it.
 */
static bool section_name(struct parser *p, const char *prefix, const char *what, int max,
			 const char *section, size_t len, const char **name, size_t *nlen)
{
	*name = section + strlen(prefix) - 1;
	*nlen = len - (strlen(prefix) - 1);
	/* Skip the space after the word. */
	if (*nlen > 0) {
		(*name)++;
		(*nlen)--;
	}
	if (*nlen >= (size_t)max || !network_name_valid(*name, *nlen)) {
		fail(p, p->lineno, "bad %s name '%.*s': expected 1..%d letters, digits, '.', '_' or '-'",
		     what, (int)*nlen, *name, max - 1);
		return false;
	}
	return true;
}

static ssize_t network_index(const struct drover_config *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->n_networks; i++)
		if (strlen(c->networks[i].name) == len && memcmp(c->networks[i].name, name, len) == 0)
			return (ssize_t)i;
	return -1;
}

/*
 * A [network NAME] header starts a new network, so file order is preference
 * order. A second header with the same name is an error rather than a
 * continuation: the order would be ambiguous, and it is surely a copy and
 * paste mistake.
 */
static bool network_header(struct parser *p, const char *section, size_t len)
{
	const char *name;
	size_t nlen;
	struct drover_network *n;
	ssize_t i;

	if (!section_name(p, NETWORK_PREFIX, "network", CONFIG_NETWORK_NAME_MAX, section, len, &name,
			  &nlen))
		return false;
	i = network_index(&p->c, name, nlen);
	if (i >= 0) {
		fail(p, p->lineno, "duplicate network '%.*s' (first on line %u)", (int)nlen, name,
		     p->net_lines[i].header);
		return false;
	}
	if (p->c.n_networks >= CONFIG_MAX_NETWORKS) {
		fail(p, p->lineno, "too many networks (at most %d)", CONFIG_MAX_NETWORKS);
		return false;
	}
	n = &p->c.networks[p->c.n_networks];
	memset(n, 0, sizeof(*n));
	memcpy(n->name, name, nlen);
	n->corosync_link = -1;
	p->net_lines[p->c.n_networks] = (struct network_lines){.header = p->lineno};
	p->c.n_networks++;
	return true;
}

static bool is_vf_pool_section(const char *name, size_t len)
{
	return is_named_section(VF_POOL_PREFIX, name, len);
}

static ssize_t vf_pool_index(const struct drover_config *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->n_vf_pools; i++)
		if (strlen(c->vf_pools[i].name) == len && memcmp(c->vf_pools[i].name, name, len) == 0)
			return (ssize_t)i;
	return -1;
}

/*
 * A [vf_pool NAME] header creates the pool, as network_header() does a
 * network; false if the header is refused (its keys are then skipped).
 */
static bool vf_pool_header(struct parser *p, const char *section, size_t len)
{
	const char *name;
	size_t nlen;
	struct drover_vf_pool *pool;
	ssize_t i;

	/* Pool names follow the network names' rule. */
	if (!section_name(p, VF_POOL_PREFIX, "VF pool", CONFIG_VF_POOL_NAME_MAX, section, len, &name,
			  &nlen))
		return false;
	i = vf_pool_index(&p->c, name, nlen);
	if (i >= 0) {
		fail(p, p->lineno, "duplicate VF pool '%.*s' (first on line %u)", (int)nlen, name,
		     p->pool_header[i]);
		return false;
	}
	if (p->c.n_vf_pools >= CONFIG_MAX_VF_POOLS) {
		fail(p, p->lineno, "too many VF pools (at most %d)", CONFIG_MAX_VF_POOLS);
		return false;
	}
	pool = &p->c.vf_pools[p->c.n_vf_pools];
	memset(pool, 0, sizeof(*pool));
	memcpy(pool->name, name, nlen);
	p->pool_header[p->c.n_vf_pools] = p->lineno;
	memset(p->pool_dev_line[p->c.n_vf_pools], 0, sizeof(p->pool_dev_line[0]));
	p->c.n_vf_pools++;
	return true;
}

/*
 * A device template: one <interface ...> or <hostdev ...> element, printable
 * ASCII. Its content is libvirt's to judge when the agent attaches it (the
 * node's own libvirtd is the only one that can tell whether a PCI address
 * exists); here only what keeps a typo or another kind of device out.
 */
static bool vf_device_valid(const char *v)
{
	size_t len = strlen(v);

	if (len < 3 || len >= CONFIG_VF_DEVICE_MAX || v[0] != '<' || v[len - 1] != '>')
		return false;
	if (strncmp(v, "<interface ", 11) != 0 && strncmp(v, "<hostdev ", 9) != 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (v[i] < 0x20 || v[i] > 0x7e)
			return false;
	return true;
}

/* A key in [vf_pool NAME]: deviceN = <template>. */
static void vf_pool_key(struct parser *p, const char *section, const char *name,
			const char *value)
{
	size_t plen = strlen(VF_POOL_PREFIX);
	const char *pname = section + plen;
	ssize_t i = strlen(section) > plen ? vf_pool_index(&p->c, pname, strlen(pname)) : -1;
	struct drover_vf_pool *pool;
	uint64_t n;

	if (i < 0) {
		/* The reader rejected the header already; this is a safety net. */
		fail(p, p->lineno, "unknown section [%s]", section);
		return;
	}
	pool = &p->c.vf_pools[i];
	if (strncmp(name, "device", 6) != 0 ||
	    parse_u64(name + 6, 1, CONFIG_MAX_VF_DEVICES, &n) < 0) {
		fail(p, p->lineno, "unknown key '%s' in [%s] (expected device1..device%d)", name,
		     section, CONFIG_MAX_VF_DEVICES);
		return;
	}
	if (p->pool_dev_line[i][n - 1]) {
		fail(p, p->lineno, "duplicate key '%s' in [%s] (first set on line %u)", name,
		     section, p->pool_dev_line[i][n - 1]);
		return;
	}
	if (!vf_device_valid(value)) {
		fail(p, p->lineno,
		     "bad value for %s in [%s]: expected one libvirt <interface ...> or <hostdev ...> "
		     "element on one line, printable ASCII, shorter than %d bytes",
		     name, section, CONFIG_VF_DEVICE_MAX);
		return;
	}
	p->pool_dev_line[i][n - 1] = p->lineno;
	strscpy(pool->devices[n - 1], value, sizeof(pool->devices[0]));
}

/*
 * Every pool has device1..deviceN without a gap (a gap would silently hide
 * the devices after it from some reader of the file), and at least one.
 */
static void check_vf_pools(struct parser *p)
{
	for (size_t i = 0; i < p->c.n_vf_pools; i++) {
		struct drover_vf_pool *pool = &p->c.vf_pools[i];
		size_t n = 0;

		for (size_t d = 0; d < CONFIG_MAX_VF_DEVICES; d++) {
			if (!p->pool_dev_line[i][d])
				continue;
			if (d != n) {
				fail(p, p->pool_dev_line[i][d],
				     "[vf_pool %s] device%zu is set but device%zu is not", pool->name,
				     d + 1, n + 1);
				return;
			}
			n++;
		}
		if (!n) {
			fail(p, p->pool_header[i], "[vf_pool %s] needs device1", pool->name);
			return;
		}
		pool->n_devices = n;
	}
}

/* An fgets()-style reader for ini_parse_stream(); see the comment at the top. */
static char *read_line(char *str, int num, void *stream)
{
	struct parser *p = stream;
	ssize_t n;
	size_t skip, len;
	const char *line;

	errno = 0;
	n = getline(&p->buf, &p->bufsz, p->f);
	if (n < 0) {
		if (ferror(p->f))
			p->read_errno = errno ? errno : EIO;
		return NULL;
	}
	p->lineno++;
	line = p->buf;
	len = (size_t)n;
	skip = 0;
	/* Drop a UTF-8 byte order mark here, so the header check below sees '['. */
	if (p->lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
		skip = 3;
	while (skip < len && line[skip] != '\n' && isspace((unsigned char)line[skip]))
		skip++;
	line += skip;
	len -= skip;
	if (memchr(line, '\0', len)) {
		fail(p, p->lineno, "syntax error (NUL byte)");
		line = "\n";
		len = 1;
	} else if (num < 2 || len > (size_t)num - 1) {
		fail(p, p->lineno, "line too long (more than %d bytes)", num > 2 ? num - 2 : 0);
		line = "\n";
		len = 1;
	}
	memcpy(str, line, len);
	str[len] = '\0';

	/* inih takes a line starting with '[' as a section header. */
	if (str[0] == '[') {
		const char *end = strchr(str + 1, ']');

		size_t len = end ? (size_t)(end - str - 1) : 0;

		if (!end) {
			fail(p, p->lineno, "syntax error");
			p->skip_section = true;
		} else if (is_network_section(str + 1, len)) {
			p->skip_section = !network_header(p, str + 1, len);
		} else if (is_vf_pool_section(str + 1, len)) {
			p->skip_section = !vf_pool_header(p, str + 1, len);
		} else if (!section_known(str + 1, len)) {
			fail(p, p->lineno, "unknown section [%.*s]", (int)len, str + 1);
			p->skip_section = true;
		} else {
			p->skip_section = false;
		}
	} else if (str[0] != '\0' && str[0] != '\n' && str[0] != '\r' && str[0] != ';' &&
		   str[0] != '#' && !strpbrk(str, "=:")) {
		/*
		 * inih would reject it too, but tells only of the first such line;
		 * this reader sees them all.
		 */
		fail(p, p->lineno, "syntax error");
	}
	return str;
}

/* A corosync node name as given in cmap; no spaces (they separate pairs). */
static bool node_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > NODE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isgraph((unsigned char)name[i]))
			return false;
	return true;
}

static bool ip_literal_valid(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET, s, &a) == 1 || inet_pton(AF_INET6, s, &a) == 1;
}

/*
 * "n1=10.77.2.1 n2=10.77.2.2": add the pairs to n. addresses may be given on
 * several lines of one section, each adding pairs, because a line holds only
 * about a dozen pairs (see LINE_MAX_CHARS) and a cluster has up to
 * CONFIG_MAX_NET_ADDRS nodes. That is not "last one wins" (the reason a
 * repeated key is an error): nothing is replaced, and a node named twice is
 * an error.
 */
static void parse_addresses(struct parser *p, struct drover_network *n, const char *value)
{
	const char *s = value;

	if (*s == '\0') {
		fail(p, p->lineno,
		     "bad value '' for addresses: expected NODE=IP pairs separated by spaces");
		return;
	}
	while (*s) {
		const char *tok, *eq;
		size_t len, nlen, alen;
		char addr[sizeof(n->addrs[0].addr)];

		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			break;
		tok = s;
		while (*s && !isspace((unsigned char)*s))
			s++;
		len = (size_t)(s - tok);
		eq = memchr(tok, '=', len);
		if (!eq || eq == tok || eq == tok + len - 1) {
			fail(p, p->lineno, "bad entry '%.*s' in addresses: expected NODE=IP",
			     (int)len, tok);
			return;
		}
		nlen = (size_t)(eq - tok);
		alen = len - nlen - 1;
		if (!node_name_valid(tok, nlen)) {
			fail(p, p->lineno,
			     "bad node name '%.*s' in addresses: expected 1..%u printable characters",
			     (int)nlen, tok, NODE_NAME_MAX);
			return;
		}
		if (alen >= sizeof(addr)) {
			fail(p, p->lineno,
			     "bad address '%.*s' for node '%.*s' in addresses: expected an IPv4 or "
			     "IPv6 address",
			     (int)alen, eq + 1, (int)nlen, tok);
			return;
		}
		memcpy(addr, eq + 1, alen);
		addr[alen] = '\0';
		if (!ip_literal_valid(addr)) {
			fail(p, p->lineno,
			     "bad address '%s' for node '%.*s' in addresses: expected an IPv4 or "
			     "IPv6 address",
			     addr, (int)nlen, tok);
			return;
		}
		for (size_t i = 0; i < n->n_addrs; i++) {
			if (strlen(n->addrs[i].node) == nlen &&
			    memcmp(n->addrs[i].node, tok, nlen) == 0) {
				fail(p, p->lineno, "duplicate node '%.*s' in addresses of [network %s]",
				     (int)nlen, tok, n->name);
				return;
			}
		}
		if (n->n_addrs >= CONFIG_MAX_NET_ADDRS) {
			fail(p, p->lineno, "too many addresses in [network %s] (at most %d)", n->name,
			     CONFIG_MAX_NET_ADDRS);
			return;
		}
		memcpy(n->addrs[n->n_addrs].node, tok, nlen);
		n->addrs[n->n_addrs].node[nlen] = '\0';
		memcpy(n->addrs[n->n_addrs].addr, addr, alen + 1);
		n->n_addrs++;
	}
}

/* A key in [network NAME]; "section" is the whole "network NAME". */
static void network_key(struct parser *p, const char *section, const char *name,
			const char *value)
{
	size_t plen = strlen(NETWORK_PREFIX);
	const char *net = section + plen;
	ssize_t i = strlen(section) > plen ? network_index(&p->c, net, strlen(net)) : -1;
	struct drover_network *n;
	struct network_lines *l;
	uint64_t v;

	if (i < 0) {
		/* The reader rejected the header already; this is a safety net. */
		fail(p, p->lineno, "unknown section [%s]", section);
		return;
	}
	n = &p->c.networks[i];
	l = &p->net_lines[i];
	if (strcmp(name, "addresses") == 0) {
		if (l->link) {
			fail(p, p->lineno,
			     "addresses and corosync_link in one [%s] (corosync_link on line %u): "
			     "give only one",
			     section, l->link);
			return;
		}
		if (!l->addresses)
			l->addresses = p->lineno;
		parse_addresses(p, n, value);
	} else if (strcmp(name, "corosync_link") == 0) {
		if (l->link) {
			fail(p, p->lineno, "duplicate key '%s' in [%s] (first set on line %u)", name,
			     section, l->link);
			return;
		}
		if (l->addresses) {
			fail(p, p->lineno,
			     "addresses and corosync_link in one [%s] (addresses on line %u): give "
			     "only one",
			     section, l->addresses);
			return;
		}
		l->link = p->lineno;
		if (parse_u64(value, 0, 7, &v) < 0) {
			fail(p, p->lineno,
			     "bad value '%s' for corosync_link: expected an integer 0..7", value);
			return;
		}
		n->corosync_link = (int)v;
	} else if (strcmp(name, "cap") == 0) {
		if (l->cap) {
			fail(p, p->lineno, "duplicate key '%s' in [%s] (first set on line %u)", name,
			     section, l->cap);
			return;
		}
		l->cap = p->lineno;
		if (parse_u64(value, 0, MIG_LIMIT_MAX, &v) < 0) {
			fail(p, p->lineno, "bad value '%s' for cap: expected an integer 0..%u", value,
			     MIG_LIMIT_MAX);
			return;
		}
		n->cap = (uint32_t)v;
	} else if (strcmp(name, "last_resort") == 0) {
		if (l->last_resort) {
			fail(p, p->lineno, "duplicate key '%s' in [%s] (first set on line %u)", name,
			     section, l->last_resort);
			return;
		}
		l->last_resort = p->lineno;
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
			n->last_resort = true;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
			 strcmp(value, "0") == 0)
			n->last_resort = false;
		else
			fail(p, p->lineno, "bad value '%s' for last_resort: expected yes or no", value);
	} else {
		fail(p, p->lineno, "unknown key '%s' in [%s]", name, section);
	}
}

/*
 * A network needs addresses or corosync_link. Checked once the whole file was
 * read without another error, so that a malformed addresses line is reported
 * as what it is, not as a network without addresses.
 */
static void check_networks(struct parser *p)
{
	for (size_t i = 0; i < p->c.n_networks; i++) {
		if (!p->net_lines[i].addresses && !p->net_lines[i].link) {
			fail(p, p->net_lines[i].header,
			     "[network %s] needs addresses or corosync_link", p->c.networks[i].name);
			continue;
		}
		/* A corosync link carries the token: by default only a last resort. */
		if (!p->net_lines[i].last_resort)
			p->c.networks[i].last_resort = p->c.networks[i].corosync_link >= 0;
	}
}

static int handle_key(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	const struct key *k = NULL;
	size_t i, before = p->n_failed;

	/* Its header was reported: one problem, not one more per key under it. */
	if (p->skip_section)
		return 1;
	if (section[0] == '\0') {
		fail(p, p->lineno, "key '%s' is not in a section", name);
		return 0;
	}
	/*
	 * "key =;x" gives the value ";x", but "key = ;x", as config_print()
	 * writes it, an empty value and a comment: a value starting with ';'
	 * would make --check-config print another configuration than the one
	 * in force (found by tests/fuzz/fuzz_config). No value needs one.
	 */
	if (value[0] == ';') {
		fail(p, p->lineno, "the value of '%s' starts with ';', which drover.conf reads "
				   "as a comment after a space", name);
		return 0;
	}
	if (is_network_section(section, strlen(section))) {
		network_key(p, section, name, value);
		return p->n_failed == before;
	}
	if (is_vf_pool_section(section, strlen(section))) {
		vf_pool_key(p, section, name, value);
		return p->n_failed == before;
	}
	if (!section_known(section, strlen(section))) {
		/* The reader reported the header already; this is a safety net. */
		fail(p, p->lineno, "unknown section [%s]", section);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0) {
			k = &keys[i];
			break;
		}
	}
	if (!k) {
		fail(p, p->lineno, "unknown key '%s' in [%s]", name, section);
		return 0;
	}
	if (p->set_line[i] && !k->reset) {
		fail(p, p->lineno, "duplicate key '%s' in [%s] (first set on line %u)", name,
		     section, p->set_line[i]);
		return 0;
	}
	if (!p->set_line[i] && k->reset)
		k->reset(&p->c, k);
	p->set_line[i] = p->lineno;
	if (k->set(&p->c, k, value) < 0) {
		if (k->expected)
			fail(p, p->lineno, "bad value '%s' for %s: expected %s", value, name,
			     k->expected);
		else
			fail(p, p->lineno, "bad value '%s' for %s: expected an integer %u..%u",
			     value, name, k->min, k->max);
		return 0;
	}
	return 1;
}

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
							  ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Where key section/name was set (0: not set). */
static unsigned key_line(const struct parser *p, const char *section, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return p->set_line[i];
	return 0;
}

/* Checks of the whole file, once it was read. */
static void check_fence(struct parser *p)
{
	size_t missing = 0;

	/* Fence levels are tried in order: a gap would silently skip the ones after it. */
	p->c.n_fence_devices = 0;
	for (size_t i = 0; i < CONFIG_MAX_FENCE_DEVICES; i++) {
		char key[16];

		if (!p->c.fence_devices[i][0]) {
			if (!missing)
				missing = i + 1;
			continue;
		}
		if (missing) {
			snprintf(key, sizeof(key), "device%zu", i + 1);
			fail(p, key_line(p, "fence", key), "[fence] device%zu is set but device%zu is not",
			     i + 1, missing);
			continue;
		}
		p->c.n_fence_devices++;
	}
	if (p->c.fence_mode == FENCE_MODE_DEVICE && !p->c.fence_devices[0][0])
		fail(p, key_line(p, "fence", "mode"), "[fence] mode = device needs device1");
	if (p->c.watchdog_device[0] && p->c.watchdog_device[0] != '/')
		fail(p, key_line(p, "fence", "watchdog_device"),
		     "[fence] watchdog_device must be an absolute path");
}

/* A problem that ends the reading: the one error. */
static int load_error(struct config_errors *errs, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int load_error(struct config_errors *errs, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errs->e[0].text, sizeof(errs->e[0].text), fmt, ap);
	va_end(ap);
	errs->e[0].line = 0;
	errs->n = 1;
	return r;
}

int config_load_all(const char *path, int must_exist, struct drover_config *ret,
		    struct config_errors *errs)
{
	struct parser p;
	struct stat st;
	int r;

	memset(errs, 0, sizeof(*errs));
	memset(&p, 0, sizeof(p));
	p.path = path;
	p.errs = errs;
	config_defaults(&p.c);
	p.f = fopen(path, "re");
	if (!p.f) {
		r = -errno;
		if (r == -ENOENT && !must_exist) {
			*ret = p.c;
			return 0;
		}
		return load_error(errs, r, "%s: cannot open: %s", path, strerror(-r));
	}
	if (fstat(fileno(p.f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(p.f);
		return load_error(errs, -EISDIR, "%s: cannot read: %s", path, strerror(EISDIR));
	}
	r = ini_parse_stream(read_line, &p, handle_key, &p);
	fclose(p.f);
	free(p.buf);
	if (p.read_errno)
		return load_error(errs, -p.read_errno, "%s: cannot read: %s", path,
				  strerror(p.read_errno));
	/* -1 cannot happen (we opened the file), -2 is an allocation failure. */
	if (r < 0)
		return load_error(errs, -ENOMEM, "%s: cannot parse (libinih error %d)", path, r);
	/* inih returns the first line it (or our handler) rejected. */
	if (r > 0 && !failed_at(&p, (unsigned)r))
		fail(&p, (unsigned)r, "syntax error");
	check_networks(&p);
	check_vf_pools(&p);
	check_fence(&p);
	if (p.n_failed)
		return -EINVAL;
	*ret = p.c;
	return 0;
}

int config_load(const char *path, int must_exist, struct drover_config *ret, char *err,
		size_t errlen)
{
	struct config_errors *errs = xcalloc(1, sizeof(*errs));
	int r = config_load_all(path, must_exist, ret, errs);

	set_err(err, errlen, "%s", r < 0 && errs->n ? errs->e[0].text : "");
	free(errs);
	return r;
}

/*
 * addresses go on as many lines as it takes for each to fit inih's line
 * buffer: a file that loaded can have more pairs on a line than fit once
 * printed with " = ", and the output must load back.
 */
static void print_network(FILE *f, const struct drover_network *n)
{
	static const char key[] = "addresses =";
	size_t col = 0;

	fprintf(f, "\n[network %s]\n", n->name);
	if (n->corosync_link >= 0)
		fprintf(f, "corosync_link = %d\n", n->corosync_link);
	for (size_t i = 0; i < n->n_addrs; i++) {
		size_t len = 1 + strlen(n->addrs[i].node) + 1 + strlen(n->addrs[i].addr);

		if (col > 0 && col + len > LINE_MAX_CHARS) {
			fputc('\n', f);
			col = 0;
		}
		if (col == 0)
			col = (size_t)fprintf(f, "%s", key);
		fprintf(f, " %s=%s", n->addrs[i].node, n->addrs[i].addr);
		col += len;
	}
	if (col > 0)
		fputc('\n', f);
	fprintf(f, "cap = %u\n", (unsigned)n->cap);
	fprintf(f, "last_resort = %s\n", n->last_resort ? "yes" : "no");
}

/* A list on as many "key = ..." lines as it takes (an empty list: one empty line). */
static void print_list(FILE *f, const char *key, const struct vmpolicy_items *l)
{
	size_t col = 0;

	if (l->n == 0)
		fprintf(f, "%s =\n", key);
	for (size_t i = 0; i < l->n; i++) {
		size_t len = 1 + strlen(l->item[i]);

		if (col > 0 && col + len > LINE_MAX_CHARS) {
			fputc('\n', f);
			col = 0;
		}
		if (col == 0)
			col = (size_t)fprintf(f, "%s =", key);
		fprintf(f, " %s", l->item[i]);
		col += len;
	}
	if (col > 0)
		fputc('\n', f);
}

void config_print(FILE *f, const struct drover_config *c)
{
	fprintf(f,
		"# drover.conf: the effective configuration, every key.\n"
		"\n"
		"[daemon]\n"
		"state_dir = %s\n"
		"log_level = %s\n"
		"ipc_group = %s\n"
		"link_poll_interval_ms = %u\n"
		"request_timeout_ms = %u\n"
		"\n"
		"[agent]\n"
		"enabled = %s\n"
		"path = %s\n"
		"plugin = %s\n"
		"plugin_config = %s\n"
		"inventory_interval_ms = %u\n"
		"start_deadline_ms = %u\n"
		"dest_uri = %s\n"
		"migrate_uri = %s\n"
		"\n"
		"[cluster]\n"
		"cpg_group = %s\n",
		c->state_dir, log_priority_name(c->log_priority), c->ipc_group,
		(unsigned)c->link_poll_ms, (unsigned)c->request_timeout_ms,
		c->agent_enabled ? "yes" : "no", c->agent_path, c->agent_plugin,
		c->agent_plugin_config, (unsigned)c->inventory_ms, (unsigned)c->start_deadline_ms,
		c->agent_dest_uri,
		c->agent_migrate_uri, c->cpg_group);
	if (c->guest_agent_min[0])
		fprintf(f, "guest_agent_min = %s\n", c->guest_agent_min);
	fprintf(f,
		"\n"
		"[migration]\n"
		"max_out = %u\n"
		"max_in = %u\n"
		"max_total = %u\n"
		"max_retries = %u\n"
		"stall_timeout_ms = %u\n"
		"probe_interval_ms = %u\n"
		"probe_timeout_ms = %u\n"
		"probe_port = %u\n"
		"migration_tls = %s\n",
		(unsigned)c->mig_max_out, (unsigned)c->mig_max_in, (unsigned)c->mig_max_total,
		(unsigned)c->mig_max_retries, (unsigned)c->mig_stall_ms,
		(unsigned)c->probe_interval_ms, (unsigned)c->probe_timeout_ms,
		(unsigned)c->probe_port, c->migration_tls ? "yes" : "no");
	fprintf(f,
		"\n"
		"[fence]\n"
		"mode = %s\n"
		"plugin = %s\n",
		c->fence_mode == FENCE_MODE_DEVICE     ? "device"
		: c->fence_mode == FENCE_MODE_WATCHDOG ? "watchdog"
						       : "none",
		c->fence_plugin);
	for (size_t i = 0; i < CONFIG_MAX_FENCE_DEVICES; i++)
		if (c->fence_devices[i][0])
			fprintf(f, "device%zu = %s\n", i + 1, c->fence_devices[i]);
	fprintf(f,
		"timeout_ms = %u\n"
		"retry_ms = %u\n"
		"watchdog_timeout_ms = %u\n"
		"watchdog_margin_ms = %u\n",
		(unsigned)c->fence_timeout_ms, (unsigned)c->fence_retry_ms,
		(unsigned)c->watchdog_timeout_ms, (unsigned)c->watchdog_margin_ms);
	if (c->watchdog_device[0])
		fprintf(f, "watchdog_device = %s\n", c->watchdog_device);
	fprintf(f,
		"\n"
		"[failover]\n"
		"max_starts = %u\n",
		(unsigned)c->failover_max_starts);
	fprintf(f,
		"\n"
		"[node]\n"
		"vm_memory_mib = %u\n"
		"reserved_memory_mib = %u\n",
		(unsigned)c->node_vm_memory_mib, (unsigned)c->node_reserved_mib);
	fprintf(f, "\n[alerts]\n");
	if (c->n_alerts) {
		fprintf(f, "path =");
		for (size_t i = 0; i < c->n_alerts; i++)
			fprintf(f, " %s", c->alert_paths[i]);
		fprintf(f, "\n");
	}
	fprintf(f, "timeout_ms = %u\n", (unsigned)c->alert_timeout_ms);
	if (c->alert_recipient[0])
		fprintf(f, "recipient = %s\n", c->alert_recipient);
	fprintf(f, "\n[metrics]\n");
	if (c->metrics_listen[0])
		fprintf(f, "listen = %s\n", c->metrics_listen);
	fprintf(f,
		"\n"
		"[security]\n"
		"allow_qemu_passthrough = %s\n"
		"allow_host_devices = %s\n",
		c->security.allow_qemu_passthrough ? "yes" : "no",
		c->security.allow_host_devices ? "yes" : "no");
	for (int l = 0; l < VMPOLICY_N_LISTS; l++)
		print_list(f, vmpolicy_list_key((enum vmpolicy_list)l), &c->security.list[l]);
	for (size_t i = 0; i < c->n_networks; i++)
		print_network(f, &c->networks[i]);
	fprintf(f, "\n[node]\nipsec_sa_capacity = %u\n", (unsigned)c->ipsec_sa_capacity);
	for (size_t i = 0; i < c->n_vf_pools; i++) {
		fprintf(f, "\n[vf_pool %s]\n", c->vf_pools[i].name);
		for (size_t d = 0; d < c->vf_pools[i].n_devices; d++)
			fprintf(f, "device%zu = %s\n", d + 1, c->vf_pools[i].devices[d]);
	}
}

/* The keys of a [network NAME] section, as network_key() takes them. */
static const char *const network_keys[] = {"addresses", "corosync_link", "cap", "last_resort"};

bool config_key_at(size_t i, const char **ret_section, const char **ret_name)
{
	if (i < ARRAY_SIZE(keys)) {
		*ret_section = keys[i].section;
		*ret_name = keys[i].name;
		return true;
	}
	i -= ARRAY_SIZE(keys);
	if (i < ARRAY_SIZE(network_keys)) {
		*ret_section = "network NAME";
		*ret_name = network_keys[i];
		return true;
	}
	return false;
}

/* ---- what a reload changes ---- */

/*
 * config_diff() compares the two configurations as config_print() writes
 * them: every key is there, so a field added to the file is compared without
 * a change here. A key on several lines (addresses, allow_paths) is one
 * value, its lines joined.
 */
struct printed_key {
	char *section; /* "migration", "network mig-a" */
	char *key;
	char *value;
};

struct printed {
	struct printed_key *k;
	size_t n;
};

static void printed_free(struct printed *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->k[i].section);
		free(p->k[i].key);
		free(p->k[i].value);
	}
	free(p->k);
}

static struct printed_key *printed_find(const struct printed *p, const char *section,
					const char *key)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->k[i].section, section) == 0 &&
		    (!key || strcmp(p->k[i].key, key) == 0))
			return &p->k[i];
	return NULL;
}

static void printed_read(const struct drover_config *c, struct printed *ret)
{
	_cleanup_free_ char *buf = NULL, *section = xstrdup("");
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	char *line, *save = NULL;

	if (!f)
		abort(); /* allocation failure, as xcalloc */
	config_print(f, c);
	fclose(f);
	memset(ret, 0, sizeof(*ret));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strstr(line, " =");
		struct printed_key *k;
		const char *value;

		if (line[0] == '#')
			continue;
		if (line[0] == '[') {
			free(section);
			section = xstrdup(line + 1);
			section[strcspn(section, "]")] = '\0';
			/* A section with no keys still exists ([metrics] without listen). */
			ret->k = xrealloc(ret->k, (ret->n + 1) * sizeof(*ret->k));
			ret->k[ret->n++] = (struct printed_key){xstrdup(section), xstrdup(""),
								 xstrdup("")};
			continue;
		}
		if (!eq)
			continue;
		*eq = '\0';
		value = eq[2] == ' ' ? eq + 3 : eq + 2;
		k = printed_find(ret, section, line);
		if (k) {
			char *joined = NULL;

			if (asprintf(&joined, "%s %s", k->value, value) < 0)
				abort();
			free(k->value);
			k->value = joined;
			continue;
		}
		ret->k = xrealloc(ret->k, (ret->n + 1) * sizeof(*ret->k));
		ret->k[ret->n++] =
		    (struct printed_key){xstrdup(section), xstrdup(line), xstrdup(value)};
	}
}

/* The names of the networks of p, in order, space separated, among those of other. */
static void network_order(const struct printed *p, const struct printed *other, char *buf,
			  size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < p->n; i++) {
		const char *s = p->k[i].section;

		if (p->k[i].key[0] || strncmp(s, NETWORK_PREFIX, strlen(NETWORK_PREFIX)) != 0 ||
		    !printed_find(other, s, ""))
			continue;
		len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s%s",
					len ? " " : "", s + strlen(NETWORK_PREFIX));
	}
}

size_t config_diff(const struct drover_config *from, const struct drover_config *to,
		   void (*fn)(void *userdata, const char *line), void *userdata)
{
	struct printed a, b;
	char order_a[CONFIG_MAX_NETWORKS * CONFIG_NETWORK_NAME_MAX + 8];
	char order_b[sizeof(order_a)];
	size_t n = 0;

	printed_read(from, &a);
	printed_read(to, &b);
	for (size_t i = 0; i < b.n; i++) {
		const struct printed_key *k = &b.k[i], *old = printed_find(&a, k->section, k->key);
		_cleanup_free_ char *line = NULL;

		if (!k->key[0]) {
			if (!old && asprintf(&line, "[%s]: added", k->section) < 0)
				abort();
		} else if (!printed_find(&a, k->section, "")) {
			continue; /* in a section that was added: said above */
		} else if (!old) {
			if (asprintf(&line, "[%s] %s: (unset) -> %s", k->section, k->key, k->value) < 0)
				abort();
		} else if (strcmp(old->value, k->value) != 0) {
			if (asprintf(&line, "[%s] %s: %s -> %s", k->section, k->key, old->value,
				     k->value) < 0)
				abort();
		}
		if (line) {
			fn(userdata, line);
			n++;
		}
	}
	for (size_t i = 0; i < a.n; i++) {
		const struct printed_key *k = &a.k[i];
		_cleanup_free_ char *line = NULL;

		if (!k->key[0] && !printed_find(&b, k->section, "")) {
			if (asprintf(&line, "[%s]: removed", k->section) < 0)
				abort();
		} else if (k->key[0] && printed_find(&b, k->section, "") &&
			   !printed_find(&b, k->section, k->key)) {
			if (asprintf(&line, "[%s] %s: %s -> (unset)", k->section, k->key, k->value) < 0)
				abort();
		}
		if (line) {
			fn(userdata, line);
			n++;
		}
	}
	/* The file's order of networks is their preference order. */
	network_order(&a, &b, order_a, sizeof(order_a));
	network_order(&b, &a, order_b, sizeof(order_b));
	if (strcmp(order_a, order_b) != 0) {
		_cleanup_free_ char *line = NULL;

		if (asprintf(&line, "networks reordered: %s -> %s", order_a, order_b) < 0)
			abort();
		fn(userdata, line);
		n++;
	}
	printed_free(&a);
	printed_free(&b);
	return n;
}
