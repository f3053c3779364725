/*
 * The operations on VMs, as one replicated table (state.h: jobs[]). Every
 * thing drover does to a VM is an operation there: a migration (a job of the
 * queue, added by JobsAdd and driven by JobStart and JobFinish in
 * state_jobs.c), or a start or a stop the coordinator decided (VmAction and
 * VmActionResult, here). Each has an id from the state's own counter (so it
 * is unique across coordinators, restarts and terms: the counter is
 * replicated and persisted), a kind, its VM, the nodes involved, a plan of
 * steps each executed by one node's agent, the current step, its attempts
 * and its result; when it ends it goes to the history.
 *
 * Invariants, checked where every member applies a message, not only where
 * the coordinator decided it:
 *  - at most one unfinished (queued or running) operation per VM: a VmAction
 *    for a VM with one is refused (-EBUSY) and JobsAdd skips such a VM, so a
 *    start can never meet a migration of the same VM;
 *  - a start or a stop is running from the moment it is applied, with a plan
 *    of one step on its node (source); it is never queued;
 *  - ids are unique, non-zero and below next_job_id; jobs[] is sorted by id.
 *
 * Who may send a VmAction (the coordinator) or a VmActionResult (the
 * executor, or the coordinator when the executor left) is apply_gate.c's
 * check, alike on every member.
 *
 * Considered and rejected: two tables, one for the queue and one for starts
 * and stops (what drover had). Each rule ("one thing at a time per VM", "the
 * coordinator knows what is under way", the history) then had to be kept
 * twice, and the queue could dispatch a migration of a VM a start was
 * moving. Also rejected: ids chosen by the deciding coordinator (term and a
 * counter): an id given when every member applies the decision needs no
 * coordination at all.
 */
#include "state_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

bool state_str_fits(const char *p, size_t size)
{
	return p && strnlen(p, size) < size;
}

bool state_op_unfinished(const struct queue_job *j)
{
	return j->state == QUEUE_JOB_QUEUED || j->state == QUEUE_JOB_RUNNING;
}

struct queue_job *state_job_find(struct cluster_state *s, uint64_t id)
{
	size_t lo = 0, hi = s->n_jobs;

	/* jobs[] is sorted by id. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->jobs[mid].id == id)
			return &s->jobs[mid];
		if (s->jobs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct queue_job *state_op_find(const struct cluster_state *s, uint64_t id)
{
	return state_job_find((struct cluster_state *)s, id);
}

struct queue_job *state_job_active(struct cluster_state *s, const char *vm)
{
	if (!vm)
		return NULL;
	for (size_t i = 0; i < s->n_jobs; i++)
		if (state_op_unfinished(&s->jobs[i]) && strcmp(s->jobs[i].vm, vm) == 0)
			return &s->jobs[i];
	return NULL;
}

const struct queue_job *state_op_for_vm(const struct cluster_state *s, const char *vm)
{
	return state_job_active((struct cluster_state *)s, vm);
}

size_t state_jobs_unfinished(const struct cluster_state *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_jobs; i++)
		if (s->jobs[i].kind == QUEUE_OP_MIGRATE && state_op_unfinished(&s->jobs[i]))
			n++;
	return n;
}

size_t state_ops_actions(const struct cluster_state *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_jobs; i++)
		if (s->jobs[i].kind != QUEUE_OP_MIGRATE && state_op_unfinished(&s->jobs[i]))
			n++;
	return n;
}

bool state_op_involves(const struct queue_job *o, uint32_t node)
{
	if (!node || !state_op_unfinished(o))
		return false;
	if (o->kind != QUEUE_OP_MIGRATE)
		return o->source == node;
	/* A queued migration has moved nothing yet. */
	return o->state == QUEUE_JOB_RUNNING && (o->source == node || o->target == node);
}

uint32_t state_op_executor(const struct queue_job *o)
{
	if (o->state != QUEUE_JOB_RUNNING)
		return 0;
	if (o->step < o->n_plan)
		return o->plan[o->step].node;
	return o->source;
}

const char *state_op_kind_name(enum queue_op_kind k)
{
	switch (k) {
	case QUEUE_OP_MIGRATE:
		return "migrate";
	case QUEUE_OP_START:
		return "start";
	case QUEUE_OP_STOP:
		return "stop";
	case QUEUE_OP_VF_ATTACH:
		return "vf-attach";
	}
	return "?";
}

/* ---- the history and the table's bounds ---- */

void state_ops_record(struct cluster_state *s, const struct queue_job *j, uint64_t downtime_ms,
		      uint64_t bytes)
{
	const struct queue_attempt *last = j->n_attempts ? &j->attempts[j->n_attempts - 1] : NULL;
	struct history_entry *h;

	if (!s->history)
		s->history = xcalloc(DROVER_HISTORY_MAX, sizeof(*s->history));
	if (s->n_history == DROVER_HISTORY_MAX) {
		memmove(&s->history[0], &s->history[1], (DROVER_HISTORY_MAX - 1) * sizeof(*s->history));
		s->n_history--;
	}
	h = &s->history[s->n_history++];
	memset(h, 0, sizeof(*h));
	/* The totals (state.h): every end passes here once, on every member alike. */
	if (j->kind == QUEUE_OP_MIGRATE && j->state == QUEUE_JOB_DONE)
		s->counters.migrations_ok++;
	else if (j->kind == QUEUE_OP_MIGRATE && j->state == QUEUE_JOB_FAILED)
		s->counters.migrations_failed++;
	else if (j->kind == QUEUE_OP_MIGRATE && j->state == QUEUE_JOB_CANCELLED)
		s->counters.migrations_cancelled++;
	else if (j->kind == QUEUE_OP_START && j->lost_from && j->state == QUEUE_JOB_DONE)
		s->counters.failovers_ok++;
	else if (j->kind == QUEUE_OP_START && j->lost_from)
		s->counters.failovers_failed++;
	h->job_id = j->id;
	memcpy(h->vm, j->vm, sizeof(h->vm));
	h->kind = j->kind;
	h->result = j->state;
	h->origin = j->origin;
	h->finished_ms = j->finished_ms;
	h->downtime_ms = downtime_ms;
	h->bytes = bytes;
	memcpy(h->error, j->error, sizeof(h->error));
	switch (j->kind) {
	case QUEUE_OP_MIGRATE:
		h->source = j->source;
		/* Where the last attempt went: a job cancelled while queued may have tried before. */
		if (last) {
			h->target = last->target;
			memcpy(h->network, last->network, sizeof(h->network));
			h->started_ms = j->attempts[0].started_ms;
		}
		h->attempts = (uint32_t)j->n_attempts;
		break;
	case QUEUE_OP_START:
		/* From the fenced host it ran on (a failover), to where it started. */
		h->source = j->lost_from;
		h->target = j->source;
		h->fenced_ms = j->fenced_ms;
		h->started_ms = j->started_ms;
		h->attempts = 1;
		break;
	case QUEUE_OP_STOP:
	case QUEUE_OP_VF_ATTACH:
		h->source = j->source;
		h->started_ms = j->started_ms;
		h->attempts = 1;
		break;
	}
}

struct finished_key {
	uint64_t finished_ms;
	uint64_t id;
};

static int finished_cmp(const void *pa, const void *pb)
{
	const struct finished_key *a = pa, *b = pb;

	if (a->finished_ms != b->finished_ms)
		return a->finished_ms < b->finished_ms ? -1 : 1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return 0;
}

/*
 * A finished migration that a drain in progress still depends on: the newest
 * job of its VM leaving a node that is still draining. The coordinator ends
 * a drain by each VM's last job (drain-failed when it failed), so trimming it
 * would make the VM look as if it never had one and queue it again with
 * fresh retries. Pinned jobs are at most one per VM and are released when
 * the drain ends.
 */
static bool pinned(const struct cluster_state *s, size_t idx)
{
	const struct queue_job *j = &s->jobs[idx];

	if (j->kind != QUEUE_OP_MIGRATE || state_op_unfinished(j) ||
	    state_node_get(s, j->source) != DROVER__NODE_STATE__NODE_STATE_DRAINING)
		return false;
	/* jobs[] is sorted by id: newer jobs come later. */
	for (size_t i = idx + 1; i < s->n_jobs; i++)
		if (s->jobs[i].kind == QUEUE_OP_MIGRATE && s->jobs[i].source == j->source &&
		    strcmp(s->jobs[i].vm, j->vm) == 0)
			return false;
	return true;
}

static bool kept(const struct cluster_state *s, size_t idx)
{
	return state_op_unfinished(&s->jobs[idx]) || pinned(s, idx);
}

size_t state_ops_count_kept(const struct cluster_state *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_jobs; i++)
		n += kept(s, i);
	return n;
}

/*
 * Keep only the newest keep finished operations (by finished_ms, then id),
 * besides the kept ones, in one pass so that cancelling a thousand queued
 * jobs stays linear: find the newest key to drop, then compact jobs[] in id
 * order.
 */
void state_ops_trim(struct cluster_state *s, size_t keep)
{
	_cleanup_free_ struct finished_key *keys = NULL;
	_cleanup_free_ bool *droppable = NULL;
	struct finished_key cut;
	size_t n = 0, w = 0;

	droppable = xcalloc(s->n_jobs ? s->n_jobs : 1, sizeof(*droppable));
	for (size_t i = 0; i < s->n_jobs; i++)
		if ((droppable[i] = !kept(s, i)))
			n++;
	if (n <= keep)
		return;
	keys = xcalloc(n, sizeof(*keys));
	n = 0;
	for (size_t i = 0; i < s->n_jobs; i++)
		if (droppable[i])
			keys[n++] = (struct finished_key){ s->jobs[i].finished_ms, s->jobs[i].id };
	qsort(keys, n, sizeof(*keys), finished_cmp);
	cut = keys[n - keep - 1];
	for (size_t i = 0; i < s->n_jobs; i++) {
		struct finished_key k = { s->jobs[i].finished_ms, s->jobs[i].id };

		if (droppable[i] && finished_cmp(&k, &cut) <= 0)
			continue;
		if (w != i)
			s->jobs[w] = s->jobs[i];
		w++;
	}
	s->n_jobs = w;
}

int state_ops_make_room(struct cluster_state *s, size_t n)
{
	size_t kept_n = state_ops_count_kept(s);

	if (kept_n + n > DROVER_MAX_JOBS || s->next_job_id > UINT64_MAX - n)
		return -ENOSPC;
	if (s->n_jobs + n > DROVER_MAX_JOBS)
		state_ops_trim(s, DROVER_MAX_JOBS - n - kept_n);
	return 0;
}

void state_ops_ended(struct cluster_state *s, struct queue_job *j, uint64_t finished_ms,
		     uint64_t downtime_ms, uint64_t bytes)
{
	j->finished_ms = finished_ms;
	j->cancel_requested = false;
	state_ops_record(s, j, downtime_ms, bytes);
	/* Last: trimming moves jobs[] entries, j among them. */
	state_ops_trim(s, DROVER_KEEP_FINISHED);
}

/* ---- starts and stops: VmAction and VmActionResult ---- */

static bool cause_valid(Drover__VmActionCause c)
{
	return c >= DROVER__VM_ACTION_CAUSE__VM_CAUSE_OPERATOR &&
	       c <= DROVER__VM_ACTION_CAUSE__VM_CAUSE_DUPLICATE;
}

static uint32_t origin_of_cause(Drover__VmActionCause c)
{
	switch (c) {
	case DROVER__VM_ACTION_CAUSE__VM_CAUSE_RECOVERY:
		return DROVER__JOB_ORIGIN__JOB_ORIGIN_RECOVERY;
	case DROVER__VM_ACTION_CAUSE__VM_CAUSE_PREEMPT:
		return DROVER__JOB_ORIGIN__JOB_ORIGIN_PREEMPT;
	case DROVER__VM_ACTION_CAUSE__VM_CAUSE_DUPLICATE:
		return DROVER__JOB_ORIGIN__JOB_ORIGIN_DUPLICATE;
	default:
		return DROVER__JOB_ORIGIN__JOB_ORIGIN_MANUAL;
	}
}

/*
 * The checks of one VmAction that do not depend on the state, and the
 * operation it describes (id, registry copies and history links are the
 * caller's).
 */
static int op_from_action(const Drover__VmAction *m, struct queue_job *ret)
{
	struct queue_job o;
	enum queue_op_kind kind;

	if (!m || !m->node || !state_str_fits(m->vm, QUEUE_NAME_MAX) || !m->vm[0] ||
	    (m->for_vm && !state_str_fits(m->for_vm, QUEUE_NAME_MAX)) || !cause_valid(m->cause))
		return -EINVAL;
	if (m->kind == DROVER__VM_ACTION_KIND__VM_ACTION_START)
		kind = QUEUE_OP_START;
	else if (m->kind == DROVER__VM_ACTION_KIND__VM_ACTION_STOP)
		kind = QUEUE_OP_STOP;
	else if (m->kind == DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH &&
		 m->cause == DROVER__VM_ACTION_CAUSE__VM_CAUSE_OPERATOR)
		kind = QUEUE_OP_VF_ATTACH;
	else
		return -EINVAL; /* migrations are jobs of the queue */
	/* A recovery starts; a preemption or a second copy's end stops. */
	if ((m->cause == DROVER__VM_ACTION_CAUSE__VM_CAUSE_RECOVERY && kind != QUEUE_OP_START) ||
	    ((m->cause == DROVER__VM_ACTION_CAUSE__VM_CAUSE_PREEMPT ||
	      m->cause == DROVER__VM_ACTION_CAUSE__VM_CAUSE_DUPLICATE) &&
	     kind != QUEUE_OP_STOP))
		return -EINVAL;
	memset(&o, 0, sizeof(o));
	strscpy(o.vm, m->vm, sizeof(o.vm));
	strscpy(o.for_vm, m->for_vm ? m->for_vm : "", sizeof(o.for_vm));
	o.kind = kind;
	o.state = QUEUE_JOB_RUNNING;
	o.source = m->node;
	o.origin = origin_of_cause(m->cause);
	o.origin_node = m->origin_node;
	o.request_id = m->request_id;
	o.created_ms = o.started_ms = m->at_ms;
	o.n_plan = 1;
	o.plan[0].kind = kind == QUEUE_OP_START  ? DROVER__OP_STEP_KIND__OP_STEP_START
			 : kind == QUEUE_OP_STOP ? DROVER__OP_STEP_KIND__OP_STEP_STOP
						 : DROVER__OP_STEP_KIND__OP_STEP_VF_ATTACH;
	o.plan[0].node = m->node;
	*ret = o;
	return 0;
}

/* Append o with the next id (the caller made room): ids grow, so jobs[] stays sorted. */
static struct queue_job *op_append(struct cluster_state *s, const struct queue_job *o)
{
	struct queue_job *j;

	s->jobs = xrealloc(s->jobs, (s->n_jobs + 1) * sizeof(*s->jobs));
	j = &s->jobs[s->n_jobs++];
	*j = *o;
	j->id = s->next_job_id++;
	return j;
}

/* What the registry says of the VM, copied into its operation. */
static void op_from_registry(const struct cluster_state *s, const struct vm_cfg *v,
			     struct queue_job *o)
{
	const struct node_cfg *lost;

	o->priority = (enum queue_priority)v->priority;
	o->memory_mib = v->memory_mib;
	o->vcpus = v->vcpus;
	o->max_retries = 0;
	if (o->kind == QUEUE_OP_START && o->origin == DROVER__JOB_ORIGIN__JOB_ORIGIN_RECOVERY &&
	    v->lost_from) {
		o->lost_from = v->lost_from;
		lost = state_node_find(s, v->lost_from);
		o->fenced_ms = lost ? lost->fenced_ms : 0;
	}
}

static int apply_action(struct cluster_state *s, const Drover__VmAction *m)
{
	const struct vm_cfg *v;
	struct queue_job o;
	int r;

	if (op_from_action(m, &o) < 0)
		return -EINVAL;
	if (!(v = state_vm_find(s, o.vm)))
		return -ENOENT;
	if (state_op_for_vm(s, o.vm))
		return -EBUSY;
	if (state_ops_actions(s) >= DROVER_MAX_OPS)
		return -ENOSPC;
	if ((r = state_ops_make_room(s, 1)) < 0)
		return r;
	op_from_registry(s, v, &o);
	/* A VF attach takes its VF now, in delivery order (state_vf.c). */
	if (o.kind == QUEUE_OP_VF_ATTACH && (r = state_vf_attach_reserve(s, &o)) < 0)
		return r;
	op_append(s, &o);
	s->epoch++;
	return 1;
}

static int apply_result(struct cluster_state *s, const Drover__VmActionResult *m)
{
	struct queue_job *o;

	if (!m)
		return -EINVAL;
	if (!m->action_id)
		return 0; /* a refusal: nothing was decided */
	o = state_job_find(s, m->action_id);
	if (!o || o->kind == QUEUE_OP_MIGRATE || o->state != QUEUE_JOB_RUNNING)
		return -ENOENT;
	state_fence_on_op_end(s, o, m->ok, m->error);
	if (o->kind == QUEUE_OP_VF_ATTACH)
		state_vf_attach_ended(s, o, m->ok, m->error);
	else if (o->kind == QUEUE_OP_START && m->ok)
		state_vf_started(s, o->vm);
	o->state = m->ok ? QUEUE_JOB_DONE : QUEUE_JOB_FAILED;
	o->step = (uint32_t)o->n_plan;
	/* Longer errors are cut alike everywhere: a result must end its operation. */
	snprintf(o->error, sizeof(o->error), "%s", m->ok || !m->error ? "" : m->error);
	state_ops_ended(s, o, m->finished_ms, 0, 0);
	state_vf_settle(s);
	s->epoch++;
	return 1;
}

int state_ops_apply(struct cluster_state *s, const Drover__Envelope *env)
{
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_VM_ACTION:
		return apply_action(s, env->vm_action);
	case DROVER__ENVELOPE__BODY_VM_ACTION_RESULT:
		return apply_result(s, env->vm_action_result);
	default:
		return -ENOTSUP;
	}
}

/*
 * A state file of before the one operation model kept unfinished starts and
 * stops apart (ClusterState.ops): they become operations of the table, with
 * ids of the state's counter, so that they end (and reconcile) like any
 * other. Called after the jobs were read; the same rules as when applied.
 */
int state_ops_from_old_proto(const Drover__ClusterState *msg, struct cluster_state *s)
{
	if (msg->n_ops > DROVER_MAX_OPS || (msg->n_ops && !msg->ops))
		return -EINVAL;
	for (size_t i = 0; i < msg->n_ops; i++) {
		const struct vm_cfg *v;
		struct queue_job o;

		if (op_from_action(msg->ops[i], &o) < 0 || !(v = state_vm_find(s, o.vm)) ||
		    state_op_for_vm(s, o.vm) || state_ops_make_room(s, 1) < 0)
			return -EINVAL;
		op_from_registry(s, v, &o);
		op_append(s, &o);
	}
	return 0;
}
