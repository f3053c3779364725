/*
 * What an operator-visible event says, in the journal, in the log and to an
 * alert program (event_text.h). The three renderings come from one list of
 * fields (event_fields()), so a field added there shows up everywhere alike
 * and the journal's DROVER_VM is always the alert's DROVER_ALERT_VM.
 *
 * The MESSAGE_IDs were generated once at random (128 bits, as
 * systemd-id128(1) does) and are never to change: they are what
 * `journalctl MESSAGE_ID=...` and log pipelines match on.
 *
 * Considered and rejected: the alert variables as a subset named apart
 * (Pacemaker's CRM_alert_* are their own list): two lists drift; one list
 * with a prefix swapped cannot.
 */
#include "event_text.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

static const struct {
	const char *name;
	const char *message_id;
} kinds[EVENT_KIND_COUNT] = {
	[EVENT_MIGRATION] = { "migration", "43e893f93afc4746a7a1d438f5034b28" },
	[EVENT_FAILOVER] = { "failover", "12f10cc6129b4615bd64349e4b327f43" },
	[EVENT_FENCE] = { "fence", "77fd6365b9e34dbcbe41f4f3510cda20" },
	[EVENT_NODE_LOST] = { "node_lost", "cffb8fce57e349de9dc5f935852c3cf5" },
	[EVENT_DRAIN] = { "drain", "d4c90cda042f41ae9e8c2f2ba53e580b" },
	[EVENT_VM_DEGRADED] = { "vm_degraded", "7e8d0debd2e64b48beede4da7b0b875a" },
};

const char *event_kind_name(enum event_kind k)
{
	return k < EVENT_KIND_COUNT ? kinds[k].name : "unknown";
}

const char *event_message_id(enum event_kind k)
{
	return k < EVENT_KIND_COUNT ? kinds[k].message_id : "";
}

bool event_alerts(const struct event *e)
{
	/* A drain moves hundreds of VMs: each success is a record, not a page. */
	return e->kind != EVENT_MIGRATION || (!e->ok && e->result && strcmp(e->result, "failed") == 0);
}

static bool set(const char *s)
{
	return s && *s;
}

size_t event_fields(const struct event *e, struct event_field *ret, struct event_numbers *nums)
{
	size_t n = 0, k = 0;

#define STR(NAME, V)                                                                               \
	do {                                                                                       \
		if (set(V))                                                                        \
			ret[n++] = (struct event_field){ NAME, V };                                \
	} while (0)
#define NUM(NAME, V)                                                                               \
	do {                                                                                       \
		snprintf(nums->buf[k], sizeof(nums->buf[k]), "%" PRIu64, (uint64_t)(V));          \
		ret[n++] = (struct event_field){ NAME, nums->buf[k++] };                           \
	} while (0)
	ret[n++] = (struct event_field){ "DROVER_EVENT", event_kind_name(e->kind) };
	STR("DROVER_RESULT", e->result);
	STR("DROVER_VM", e->vm);
	STR("DROVER_NODE", e->node);
	STR("DROVER_SOURCE", e->source);
	STR("DROVER_TARGET", e->target);
	STR("DROVER_NETWORK", e->network);
	STR("DROVER_DEVICE", e->device);
	STR("DROVER_ORIGIN", e->origin);
	if (e->job_id)
		NUM("DROVER_JOB_ID", e->job_id);
	if (e->has_duration)
		NUM("DROVER_DURATION_MS", e->duration_ms);
	if (e->has_downtime)
		NUM("DROVER_DOWNTIME_MS", e->downtime_ms);
	if (e->has_bytes)
		NUM("DROVER_BYTES", e->bytes);
	if (e->attempts)
		NUM("DROVER_ATTEMPTS", e->attempts);
	STR("DROVER_REASON", e->reason);
#undef STR
#undef NUM
	return n;
}

/* Append to buf (len) at *off, keeping it terminated; stops quietly when full. */
static void put(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	r = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	*off = (size_t)r >= len - *off ? len : *off + (size_t)r;
}

static const char *or(const char *s, const char *dflt)
{
	return set(s) ? s : dflt;
}

void event_message(const struct event *e, char *buf, size_t len)
{
	size_t off = 0;
	bool failed = set(e->result) && strcmp(e->result, "failed") == 0;

	if (!len)
		return;
	buf[0] = '\0';
	switch (e->kind) {
	case EVENT_MIGRATION:
		put(buf, len, &off, "migration of VM '%s' from %s", or(e->vm, "?"), or(e->source, "?"));
		if (set(e->target))
			put(buf, len, &off, " to %s", e->target);
		if (set(e->network))
			put(buf, len, &off, " over %s", e->network);
		put(buf, len, &off, " %s", e->ok ? "done" : or(e->result, "failed"));
		if (e->has_duration)
			put(buf, len, &off, " in %" PRIu64 ".%" PRIu64 " s", e->duration_ms / 1000,
			    e->duration_ms % 1000 / 100);
		if (e->ok && e->has_downtime)
			put(buf, len, &off, " (downtime %" PRIu64 " ms)", e->downtime_ms);
		if (e->attempts > 1)
			put(buf, len, &off, " after %" PRIu32 " attempts", e->attempts);
		break;
	case EVENT_FAILOVER:
		put(buf, len, &off, "failover of VM '%s' from fenced node %s to %s %s", or(e->vm, "?"),
		    or(e->source, "?"), or(e->target, "?"), e->ok ? "done" : "failed");
		if (e->has_duration)
			put(buf, len, &off, ", %" PRIu64 ".%" PRIu64 " s after the fence",
			    e->duration_ms / 1000, e->duration_ms % 1000 / 100);
		break;
	case EVENT_FENCE:
		if (e->ok && set(e->result) && strcmp(e->result, "confirmed") == 0)
			put(buf, len, &off, "node %s confirmed off by an operator", or(e->node, "?"));
		else if (e->ok)
			put(buf, len, &off, "node %s fenced by '%s'", or(e->node, "?"),
			    or(e->device, "?"));
		else
			put(buf, len, &off, "fencing node %s with '%s' failed (attempt %" PRIu32 ")",
			    or(e->node, "?"), or(e->device, "?"), e->attempts);
		if (e->has_duration)
			put(buf, len, &off, ", %" PRIu64 ".%" PRIu64 " s after it was lost",
			    e->duration_ms / 1000, e->duration_ms % 1000 / 100);
		break;
	case EVENT_NODE_LOST:
		put(buf, len, &off, "node %s lost", or(e->node, "?"));
		break;
	case EVENT_DRAIN:
		put(buf, len, &off, "drain of node %s %s", or(e->node, "?"),
		    e->ok ? "complete" : "failed");
		break;
	case EVENT_VM_DEGRADED:
		put(buf, len, &off, "VM '%s' on %s is degraded", or(e->vm, "?"), or(e->node, "?"));
		break;
	case EVENT_KIND_COUNT:
		put(buf, len, &off, "unknown event");
		break;
	}
	if (set(e->reason) && (!e->ok || failed || e->kind == EVENT_NODE_LOST ||
			       e->kind == EVENT_VM_DEGRADED))
		put(buf, len, &off, ": %s", e->reason);
}

/* Whether a log line's value needs quotes to be read back as one word. */
static bool needs_quotes(const char *v)
{
	if (!*v)
		return true;
	for (; *v; v++)
		if (*v == ' ' || *v == '"' || *v == '\\' || *v == ']' || (unsigned char)*v < 0x20 ||
		    *v == 0x7f)
			return true;
	return false;
}

/* NAME=value as event_log_line() writes it, into f (size fl); its length, or 0 if it does not fit. */
static size_t format_field(char *f, size_t fl, const char *name, const char *v)
{
	size_t off = 0;
	bool q = needs_quotes(v);

	put(f, fl, &off, " %s=%s", name, q ? "\"" : "");
	for (; *v && off < fl; v++) {
		unsigned char c = (unsigned char)*v;

		if (c == '"' || c == '\\')
			put(f, fl, &off, "\\%c", c);
		else if (c == '\n')
			put(f, fl, &off, "\\n");
		else if (c == '\t')
			put(f, fl, &off, "\\t");
		else if (c < 0x20 || c == 0x7f)
			put(f, fl, &off, "\\x%02x", c);
		else
			put(f, fl, &off, "%c", c);
	}
	if (q)
		put(f, fl, &off, "\"");
	return off < fl ? off : 0;
}

void event_log_line(const struct event *e, char *buf, size_t len)
{
	struct event_field fields[EVENT_MAX_FIELDS];
	struct event_numbers nums;
	size_t n = event_fields(e, fields, &nums), off;
	char f[512];

	if (!len)
		return;
	event_message(e, buf, len);
	/* One line: the fields below say exactly what a reason held. */
	for (off = 0; buf[off]; off++)
		if ((unsigned char)buf[off] < 0x20 || buf[off] == 0x7f)
			buf[off] = ' ';
	snprintf(f, sizeof(f), " [MESSAGE_ID=%s", event_message_id(e->kind));
	if (off + strlen(f) + 2 > len)
		return;
	memcpy(buf + off, f, strlen(f) + 1);
	off += strlen(f);
	for (size_t i = 0; i < n && off < len; i++) {
		size_t fl = format_field(f, sizeof(f), fields[i].name, fields[i].value);

		/* A field that does not fit whole is left out, with the rest: never half a value. */
		if (!fl || off + fl + 2 > len)
			break;
		memcpy(buf + off, f, fl + 1);
		off += fl;
	}
	if (off + 2 <= len) {
		buf[off++] = ']';
		buf[off] = '\0';
	}
}

static char *env_str(const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	char *s = xmalloc(nl + vl + 2);

	memcpy(s, name, nl);
	s[nl] = '=';
	memcpy(s + nl + 1, value, vl + 1);
	return s;
}

char **event_alert_env(const struct event *e, uint64_t at_ms, uint64_t sequence,
		       const char *local_node, const char *recipient, const char *const *extra)
{
	struct event_field fields[EVENT_MAX_FIELDS];
	struct event_numbers nums;
	size_t n = event_fields(e, fields, &nums), n_extra = 0, k = 0;
	char **env, num[24], name[64], ts[40], desc[512];
	time_t secs = (time_t)(at_ms / 1000);
	struct tm tm;

	while (extra && extra[n_extra])
		n_extra++;
	env = xcalloc(n + n_extra + 10, sizeof(*env));
	for (size_t i = 0; i < n; i++) {
		const char *suffix = fields[i].name + strlen("DROVER_");

		snprintf(name, sizeof(name), "DROVER_ALERT_%s",
			 strcmp(suffix, "EVENT") == 0 ? "KIND" : suffix);
		env[k++] = env_str(name, fields[i].value);
	}
	event_message(e, desc, sizeof(desc));
	env[k++] = env_str("DROVER_ALERT_DESC", desc);
	env[k++] = env_str("DROVER_ALERT_MESSAGE_ID", event_message_id(e->kind));
	env[k++] = env_str("DROVER_ALERT_VERSION", DROVER_VERSION);
	snprintf(num, sizeof(num), "%" PRIu64, sequence);
	env[k++] = env_str("DROVER_ALERT_SEQUENCE", num);
	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts) - 5, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + strlen(ts), 6, ".%03uZ", (unsigned)(at_ms % 1000));
	env[k++] = env_str("DROVER_ALERT_TIMESTAMP", ts);
	snprintf(num, sizeof(num), "%" PRIu64, at_ms);
	env[k++] = env_str("DROVER_ALERT_TIMESTAMP_MS", num);
	env[k++] = env_str("DROVER_ALERT_LOCAL_NODE", or(local_node, "?"));
	if (set(recipient))
		env[k++] = env_str("DROVER_ALERT_RECIPIENT", recipient);
	for (size_t i = 0; i < n_extra; i++)
		env[k++] = xstrdup(extra[i]);
	env[k] = NULL;
	return env;
}

void event_env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}
