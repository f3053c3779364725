/*
 * The operator-visible events of droverd and their three renderings: the
 * structured journal record (MESSAGE_ID and DROVER_* fields), the log line
 * that carries the same fields where there is no journal, and the environment
 * of an alert program (DROVER_ALERT_*). Pure code: no I/O, no clock, no
 * libqb; events.c says when an event happens and where it goes.
 *
 * A caller must know:
 *  - every string member may be NULL or "": such a field is left out;
 *  - the MESSAGE_IDs and field names are an interface (docs/OPERATIONS.md
 *    lists them): never change one, only add.
 */
#ifndef DROVER_EVENT_TEXT_H
#define DROVER_EVENT_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum event_kind {
	EVENT_MIGRATION,   /* a live migration ended: done, failed or cancelled */
	EVENT_FAILOVER,    /* a VM's restart after its node was fenced ended */
	EVENT_FENCE,       /* a fence attempt ended, or an operator confirmed a node off */
	EVENT_NODE_LOST,   /* a node left corosync: it must be fenced */
	EVENT_DRAIN,       /* a drain ended: drained, or drain-failed */
	EVENT_VM_DEGRADED, /* a VM runs without a device it should have (SR-IOV) */
	EVENT_KIND_COUNT,
};

struct event {
	enum event_kind kind;
	bool ok;              /* the result is a success (picks the log priority) */
	const char *result;   /* ok, failed, cancelled, confirmed, drained, drain-failed, lost */
	const char *vm;
	const char *node;     /* the node the event is about (lost, fenced, drained) */
	const char *source;   /* migration: from; failover: the fenced node; fence: who fenced */
	const char *target;   /* migration, failover: where the VM went */
	const char *network;
	const char *device;   /* fence: the device, or "operator" */
	const char *origin;   /* migration: drain, failback, manual, recovery */
	const char *reason;   /* why it failed, or what it means */
	uint64_t job_id;      /* migration, failover: the operation's id */
	uint64_t duration_ms; /* migration: first start to end; failover: fenced to started; fence: lost to end */
	uint64_t downtime_ms; /* migration: the guest's pause as the hypervisor measured it */
	uint64_t bytes;       /* migration: bytes transferred */
	uint32_t attempts;    /* migration: networks tried; fence: attempts so far */
	bool has_duration, has_downtime, has_bytes;
};

/* Stable names: migration, failover, fence, node_lost, drain, vm_degraded. */
const char *event_kind_name(enum event_kind k);
/* The journal's MESSAGE_ID of a kind: 32 lowercase hex digits. */
const char *event_message_id(enum event_kind k);
/* Whether alert programs hear of it: every kind but a migration that did not fail. */
bool event_alerts(const struct event *e);

/* One field: "DROVER_VM" and its value (which points into the event or buf). */
struct event_field {
	const char *name;
	const char *value;
};
#define EVENT_MAX_FIELDS 20
/* Room for the numbers event_fields() formats. */
struct event_numbers {
	char buf[6][24];
};

/*
 * The event's DROVER_* fields in a fixed order, DROVER_EVENT first; unset
 * members are left out. Returns how many were written to ret (at most
 * EVENT_MAX_FIELDS). Numbers are formatted into *nums.
 */
size_t event_fields(const struct event *e, struct event_field *ret, struct event_numbers *nums);

/* The human sentence (the journal's MESSAGE): "migration of VM 'vm1' from n1 to n2 ...". */
void event_message(const struct event *e, char *buf, size_t len);

/*
 * The log line where there is no journal: the message, then in brackets
 * MESSAGE_ID=... and every field, NAME=value, a value quoted ("...", with \"
 * and \\) when it holds a space, a quote, a backslash or is empty, and
 * control characters as \n, \t or \xNN. Cut (never mid-field) to len - 1.
 */
void event_log_line(const struct event *e, char *buf, size_t len);

/*
 * An alert program's environment: every field as DROVER_ALERT_<NAME>
 * (DROVER_VM -> DROVER_ALERT_VM, DROVER_EVENT -> DROVER_ALERT_KIND), plus
 * DROVER_ALERT_DESC (the message), DROVER_ALERT_MESSAGE_ID,
 * DROVER_ALERT_VERSION, DROVER_ALERT_SEQUENCE, DROVER_ALERT_TIMESTAMP (ISO
 * 8601, UTC, milliseconds), DROVER_ALERT_TIMESTAMP_MS,
 * DROVER_ALERT_LOCAL_NODE, DROVER_ALERT_RECIPIENT (when recipient is not
 * empty) and the extra "NAME=value" strings given (PATH, say). A
 * NULL-terminated vector of "NAME=value" strings; free it with
 * event_env_free().
 */
char **event_alert_env(const struct event *e, uint64_t at_ms, uint64_t sequence,
		       const char *local_node, const char *recipient, const char *const *extra);
void event_env_free(char **env);

#endif
