/*
 * Which applied changes are operator-visible events (event_text.h), and
 * where each goes: one structured journal record (or, without a journal, one
 * log line carrying the same fields), and the alert programs of [alerts].
 *
 * Who writes it: the node whose message reported the end, once that message
 * is applied. A migration's end is the JobFinish of its source (or of the
 * coordinator, when the source left); a failover restart's end is the
 * VmActionResult of the node that started the VM; a fence's end is the
 * FenceResult of the node that ran the device (or took the operator's
 * confirm-off); a lost node's NodeLost and a drain's end are the
 * coordinator's. So every event is written once in the cluster, in the
 * journal of the node that did the work, and only once the whole cluster
 * agreed on it (a change a partition without quorum dropped is no event).
 * A node that dies between sending its message and applying it writes no
 * record: the change is still in `drover history` and in the metrics.
 *
 * Considered and rejected: every member writing every event (a cluster of
 * 16 would page 16 times for one lost node, and log pipelines that gather
 * every host would count each migration 16 times); only the coordinator
 * (it would write records of work done elsewhere, and a coordinator change
 * would lose or double them).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include <systemd/sd-journal.h>

#include "alerts.h"
#include "droverd.h"
#include "event_text.h"
#include "log.h"
#include "names.h"
#include "util.h"

struct events {
	struct alerts *alerts;
	uint64_t seq;        /* alerts run since start: DROVER_ALERT_SEQUENCE */
	unsigned journal_failures;
};

void events_start(struct droverd *d)
{
	d->events = xcalloc(1, sizeof(*d->events));
	d->events->alerts = alerts_new(d->loop);
	events_reload(d);
}

void events_reload(struct droverd *d)
{
	if (!d->events)
		return;
	alerts_set_timeout(d->events->alerts, d->cfg.alert_timeout_ms);
	for (size_t i = 0; i < d->cfg.n_alerts; i++)
		if (access(d->cfg.alert_paths[i], X_OK) < 0)
			log_warn("alert program '%s' is not executable here (%s): its alerts will "
				 "fail", d->cfg.alert_paths[i], strerror(errno));
}

void events_stop(struct droverd *d)
{
	if (!d->events)
		return;
	alerts_free(d->events->alerts);
	free(d->events);
	d->events = NULL;
}

bool events_child_exited(struct droverd *d, pid_t pid, int status)
{
	return d->events && alerts_child_exited(d->events->alerts, pid, status);
}

static int event_priority(const struct event *e)
{
	if (e->ok)
		return LOG_NOTICE;
	return e->kind == EVENT_FENCE ? LOG_ERR : LOG_WARNING;
}

/* The structured record, straight to journald; -errno if it did not take it. */
static int journal_send(const struct event *e, int prio)
{
	struct event_field f[EVENT_MAX_FIELDS];
	struct event_numbers nums;
	size_t n = event_fields(e, f, &nums), k = 0;
	char msg[600], id[64], pr[16];
	char *strs[EVENT_MAX_FIELDS];
	struct iovec iov[EVENT_MAX_FIELDS + 4];
	int r;

	snprintf(msg, sizeof(msg), "MESSAGE=");
	event_message(e, msg + strlen("MESSAGE="), sizeof(msg) - strlen("MESSAGE="));
	snprintf(id, sizeof(id), "MESSAGE_ID=%s", event_message_id(e->kind));
	snprintf(pr, sizeof(pr), "PRIORITY=%d", prio);
	iov[k++] = (struct iovec){ msg, strlen(msg) };
	iov[k++] = (struct iovec){ id, strlen(id) };
	iov[k++] = (struct iovec){ pr, strlen(pr) };
	iov[k++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=droverd",
				   strlen("SYSLOG_IDENTIFIER=droverd") };
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(f[i].name), vl = strlen(f[i].value);

		strs[i] = xmalloc(nl + vl + 2);
		memcpy(strs[i], f[i].name, nl);
		strs[i][nl] = '=';
		memcpy(strs[i] + nl + 1, f[i].value, vl + 1);
		iov[k++] = (struct iovec){ strs[i], nl + vl + 1 };
	}
	r = sd_journal_sendv(iov, (int)k);
	for (size_t i = 0; i < n; i++)
		free(strs[i]);
	return r;
}

static void run_alerts(struct droverd *d, const struct event *e)
{
	static const char *const extra[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
					     "/usr/bin:/sbin:/bin",
					     "LANG=C.UTF-8", NULL };
	char buf[NODE_NAME_MAX], what[64];
	const char *local;
	uint64_t at = wall_ms();

	if (!d->cfg.n_alerts || !event_alerts(e))
		return;
	/* Its return value, not buf: a known node's name comes back as is. */
	local = links_node_name(d, d->local_id, buf, sizeof(buf));
	d->events->seq++;
	snprintf(what, sizeof(what), "%s #%llu", event_kind_name(e->kind),
		 (unsigned long long)d->events->seq);
	for (size_t i = 0; i < d->cfg.n_alerts; i++)
		alerts_queue(d->events->alerts, d->cfg.alert_paths[i],
			     event_alert_env(e, at, d->events->seq, local, d->cfg.alert_recipient,
					     extra),
			     what);
}

void events_emit(struct droverd *d, const struct event *e)
{
	int prio = event_priority(e), r = -ENOTCONN;
	char line[1536];

	if (log_to_journal()) {
		r = journal_send(e, prio);
		if (r < 0 && d->events && d->events->journal_failures++ % 100 == 0)
			log_warn("cannot write a record to the journal (%s): logging it as a line",
				 strerror(-r));
	}
	if (r < 0) {
		event_log_line(e, line, sizeof(line));
		qb_log(prio, "%s", line);
	}
	if (d->events)
		run_alerts(d, e);
}

static const char *name_of(const struct droverd *d, uint32_t id, char *buf, size_t len)
{
	return id ? links_node_name(d, id, buf, len) : "";
}

/* A migration's JobFinish was applied: an event if the job is over (not re-queued). */
static void on_job_finish(struct droverd *d, const Drover__JobFinish *m)
{
	const struct queue_job *j = state_job_find(&d->state, m->job_id);
	const struct history_entry *h = NULL;
	char src[NODE_NAME_MAX], dst[NODE_NAME_MAX];
	struct event e = { .kind = EVENT_MIGRATION };

	if (!j || j->kind != QUEUE_OP_MIGRATE ||
	    (j->state != QUEUE_JOB_DONE && j->state != QUEUE_JOB_FAILED &&
	     j->state != QUEUE_JOB_CANCELLED))
		return;
	for (size_t i = d->state.n_history; i-- > 0 && !h;)
		if (d->state.history[i].job_id == j->id)
			h = &d->state.history[i];
	if (!h)
		return;
	e.ok = h->result == QUEUE_JOB_DONE;
	e.result = e.ok ? "ok" : h->result == QUEUE_JOB_CANCELLED ? "cancelled" : "failed";
	e.vm = h->vm;
	e.source = name_of(d, h->source, src, sizeof(src));
	e.target = name_of(d, h->target, dst, sizeof(dst));
	e.network = h->network;
	e.origin = job_origin_name(h->origin);
	e.reason = h->error;
	e.job_id = h->job_id;
	e.attempts = h->attempts;
	if (h->started_ms && h->finished_ms >= h->started_ms) {
		e.duration_ms = h->finished_ms - h->started_ms;
		e.has_duration = true;
	}
	if (e.ok) {
		e.downtime_ms = h->downtime_ms;
		e.has_downtime = h->downtime_ms > 0;
		e.bytes = h->bytes;
		e.has_bytes = true;
	}
	events_emit(d, &e);
}

/* A start's VmActionResult was applied: a failover event if it restarted a fenced node's VM. */
static void on_action_result(struct droverd *d, const Drover__VmActionResult *m)
{
	const struct queue_job *o = &d->finishing;
	char src[NODE_NAME_MAX], dst[NODE_NAME_MAX];
	struct event e = { .kind = EVENT_FAILOVER };

	if (!o->id || o->id != m->action_id || o->kind != QUEUE_OP_START || !o->lost_from)
		return;
	e.ok = m->ok;
	e.result = m->ok ? "ok" : "failed";
	e.vm = o->vm;
	e.source = name_of(d, o->lost_from, src, sizeof(src));
	e.target = name_of(d, o->source, dst, sizeof(dst));
	e.reason = m->error;
	e.job_id = o->id;
	if (o->fenced_ms && m->finished_ms >= o->fenced_ms) {
		e.duration_ms = m->finished_ms - o->fenced_ms;
		e.has_duration = true;
	}
	events_emit(d, &e);
}

static void on_fence_result(struct droverd *d, const Drover__FenceResult *m)
{
	const struct node_cfg *n = state_node_find(&d->state, m->node);
	char node[NODE_NAME_MAX], self[NODE_NAME_MAX];
	struct event e = { .kind = EVENT_FENCE };

	e.ok = m->ok;
	e.result = m->by_operator ? "confirmed" : m->ok ? "ok" : "failed";
	e.node = name_of(d, m->node, node, sizeof(node));
	e.source = name_of(d, d->local_id, self, sizeof(self));
	e.device = m->device;
	e.reason = m->error;
	e.attempts = n ? n->fence_attempts : 0;
	if (n && n->lost_ms && m->at_ms >= n->lost_ms) {
		e.duration_ms = m->at_ms - n->lost_ms;
		e.has_duration = true;
	}
	events_emit(d, &e);
}

void events_on_applied(struct droverd *d, bool from_self, const Drover__Envelope *env, int r)
{
	char node[NODE_NAME_MAX];

	if (r != 1 || !from_self)
		return;
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_JOB_FINISH:
		on_job_finish(d, env->job_finish);
		break;
	case DROVER__ENVELOPE__BODY_VM_ACTION_RESULT:
		on_action_result(d, env->vm_action_result);
		break;
	case DROVER__ENVELOPE__BODY_FENCE_RESULT:
		on_fence_result(d, env->fence_result);
		break;
	case DROVER__ENVELOPE__BODY_NODE_LOST: {
		struct event e = { .kind = EVENT_NODE_LOST, .result = "lost" };

		e.node = name_of(d, env->node_lost->node, node, sizeof(node));
		e.reason = env->node_lost->reason;
		events_emit(d, &e);
		break;
	}
	case DROVER__ENVELOPE__BODY_SET_NODE_STATE: {
		Drover__NodeState st = env->set_node_state->state;
		struct event e = { .kind = EVENT_DRAIN };

		if (st != DROVER__NODE_STATE__NODE_STATE_DRAINED &&
		    st != DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED)
			break;
		e.ok = st == DROVER__NODE_STATE__NODE_STATE_DRAINED;
		e.result = node_state_name(st);
		e.node = name_of(d, env->set_node_state->node_id, node, sizeof(node));
		if (!e.ok)
			e.reason = "some VMs could not move: drover status lists them";
		events_emit(d, &e);
		break;
	}
	default:
		break;
	}
}
