/*
 * The migration queue as replicated state (see state.h): the migrations among
 * the operations (state_ops.c owns the table, its bounds and the history),
 * their attempts and the live limits, changed only by JobsAdd, JobStart,
 * JobFinish, JobsCancel and LimitsSet in delivery order. The decisions (which
 * job starts where) are queue.c's; this file records them, and uses
 * queue.c's transitions so that both agree on what a state means. It also
 * converts the whole table to and from protobuf, starts and stops included.
 *
 * Every message is checked completely before anything is written: all
 * members run the same checks on the same bytes, so a message is applied by
 * all or refused by all, and a refused one leaves no trace. Strings that do
 * not fit their buffers are refused rather than cut, because a cut name could
 * silently denote another VM or network.
 *
 * Invariants: jobs[] sorted by id, ids unique, non-zero and below
 * next_job_id; at most one queued or running job per VM; cancel_requested is
 * set only on running jobs, and a running job has an error text exactly when
 * its cancellation was requested. MigrationJob carries cancel_requested
 * explicitly; a state file from before that field carries the request in the
 * error text alone, and either way a member that adopted the state cancels
 * the job on its failure like every other member.
 *
 * Considered and rejected: trimming finished jobs by count of messages or by
 * age. Only the finish times and ids are replicated, so the oldest finished
 * jobs (by finished_ms, then id) go first; every member drops the same ones.
 */
#include "state_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vmxml.h"

/* Job and history names are copied between buffers of these sizes uncut. */
_Static_assert(DROVER_VM_NAME_MAX == QUEUE_NAME_MAX, "VM names must fit a job");
_Static_assert(VM_NAME_MAX == QUEUE_NAME_MAX, "registered VM names must fit a job");

#define CANCELLED_TEXT "cancelled by the operator"

void state_limits_default(struct mig_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->per_source = QUEUE_LIMIT_SOURCE_DEFAULT;
	l->per_target = QUEUE_LIMIT_TARGET_DEFAULT;
	l->cluster = 0;
	l->max_retries = QUEUE_MAX_RETRIES_DEFAULT;
}

static bool origin_valid(int o)
{
	return o >= DROVER__JOB_ORIGIN__JOB_ORIGIN_UNSPECIFIED &&
	       o <= DROVER__JOB_ORIGIN__JOB_ORIGIN_DUPLICATE;
}

/* A migration's origin: what JobsAdd accepts (the others are causes of starts and stops). */
static bool mig_origin_valid(int o)
{
	return o >= DROVER__JOB_ORIGIN__JOB_ORIGIN_UNSPECIFIED &&
	       o <= DROVER__JOB_ORIGIN__JOB_ORIGIN_MANUAL;
}


static int apply_jobs_add(struct cluster_state *s, const Drover__JobsAdd *m)
{
	_cleanup_free_ bool *taken = NULL;
	_cleanup_free_ struct queue_job *add = NULL;
	size_t unfin, room, cap, n_add = 0;

	if (!m || (m->n_jobs && !m->jobs))
		return -EINVAL;
	for (size_t i = 0; i < m->n_jobs; i++) {
		const Drover__JobSpec *sp = m->jobs[i];

		if (!sp || !state_str_fits(sp->vm, DROVER_VM_NAME_MAX) || !mig_origin_valid(sp->origin) ||
		    !state_str_fits(sp->fixed_network, QUEUE_NAME_MAX))
			return -EINVAL;
	}

	/* Unfinished and pinned jobs stay; only the other finished ones make room. */
	unfin = state_ops_count_kept(s);
	room = unfin < DROVER_MAX_JOBS ? DROVER_MAX_JOBS - unfin : 0;
	/* Each added job is a distinct spec and a distinct registered VM. */
	cap = m->n_jobs < s->n_vms ? m->n_jobs : s->n_vms;
	if (cap > room)
		cap = room;
	taken = xcalloc(s->n_vms, sizeof(*taken));
	add = xcalloc(cap, sizeof(*add));
	for (size_t i = 0; i < s->n_jobs; i++) {
		ssize_t v = state_op_unfinished(&s->jobs[i]) ? state_vm_index(s, s->jobs[i].vm) : -1;

		if (v >= 0)
			taken[v] = true;
	}
	for (size_t i = 0; i < m->n_jobs; i++) {
		const Drover__JobSpec *sp = m->jobs[i];
		ssize_t v = state_vm_index(s, sp->vm);
		const struct vm_cfg *vm;
		struct queue_job *j;

		/* Skipped alike by every member: unknown VM, one already queued or moving. */
		if (v < 0 || taken[v] || sp->source == 0)
			continue;
		if (n_add == room)
			return -ENOSPC;
		vm = &s->vms[v];
		j = &add[n_add];
		if (queue_job_init(j, 0, vm->name, (enum queue_priority)vm->priority, vm->memory_mib,
				   vm->vcpus, sp->source, m->created_ms) < 0)
			continue;
		j->fixed_target = sp->fixed_target;
		strscpy(j->fixed_network, sp->fixed_network ? sp->fixed_network : "",
			sizeof(j->fixed_network));
		j->origin = (uint32_t)sp->origin;
		j->max_retries = s->limits.max_retries;
		taken[v] = true;
		n_add++;
	}
	if (n_add == 0)
		return 0;
	if (s->next_job_id > UINT64_MAX - n_add)
		return -ENOSPC;

	if (s->n_jobs + n_add > DROVER_MAX_JOBS)
		state_ops_trim(s, DROVER_MAX_JOBS - n_add - unfin);
	s->jobs = xrealloc(s->jobs, (s->n_jobs + n_add) * sizeof(*s->jobs));
	for (size_t i = 0; i < n_add; i++) {
		/* Every existing id is below next_job_id, so appending keeps jobs[] sorted. */
		add[i].id = s->next_job_id++;
		s->jobs[s->n_jobs++] = add[i];
	}
	return 1;
}

static int apply_job_start(struct cluster_state *s, const Drover__JobStart *m)
{
	struct queue_action a;
	struct queue_job *j;

	if (!m || !state_str_fits(m->network, QUEUE_NAME_MAX) || !m->network[0])
		return -EINVAL;
	j = state_job_find(s, m->job_id);
	/*
	 * Only a queued migration starts. It is its VM's one unfinished
	 * operation (JobsAdd and VmAction keep it so), so no start or stop can
	 * be under way beside it.
	 */
	if (!j || j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_QUEUED || m->target == 0 ||
	    m->target == j->source)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	a.job_id = j->id;
	a.source = j->source;
	a.target = m->target;
	strscpy(a.network_name, m->network, sizeof(a.network_name));
	a.start_ms = m->started_ms;
	if (queue_job_started(j, &a) < 0)
		return -EINVAL;
	/*
	 * The plan of a live migration: the source transfers it, peer to peer;
	 * with a VF, a detach first and an attach of a VF reserved now on the
	 * target last (state_vf.c).
	 */
	state_vf_job_started(s, j);
	return 1;
}

void state_jobs_attempt_done(struct cluster_state *s, struct queue_job *j, uint64_t finished_ms,
			     uint64_t downtime_ms, uint64_t bytes)
{
	queue_job_done(j);
	j->attempts[j->n_attempts - 1].finished_ms = finished_ms;
	/* The migration completed anyway: a late cancellation is moot. */
	j->error[0] = '\0';
	state_fence_on_job_done(s, j->vm, j->target);
	state_ops_ended(s, j, finished_ms, downtime_ms, bytes);
}

void state_jobs_attempt_failed(struct cluster_state *s, struct queue_job *j, const char *reason,
			       uint64_t finished_ms, bool for_good)
{
	if (j->cancel_requested || for_good) {
		uint32_t target = j->target;
		uint64_t started_ms = j->started_ms;
		char network[QUEUE_NAME_MAX];
		bool cancelled = j->cancel_requested;

		/*
		 * Record the attempt as the queue does, but the job ends here:
		 * the operator asked for it to stop, or the failure would meet
		 * any other attempt too (a guest that keeps its VF), so no
		 * retry. It keeps where it went, as done and failed jobs do.
		 */
		memcpy(network, j->network, sizeof(network));
		queue_job_failed(j, j->network, reason);
		j->attempts[j->n_attempts - 1].finished_ms = finished_ms;
		j->state = cancelled ? QUEUE_JOB_CANCELLED : QUEUE_JOB_FAILED;
		j->target = target;
		memcpy(j->network, network, sizeof(j->network));
		j->started_ms = started_ms;
		/* Our own text around a reason that fits: cutting it is harmless and alike everywhere. */
		if (!cancelled)
			strscpy(j->error, reason, sizeof(j->error));
		else if (reason[0])
			snprintf(j->error, sizeof(j->error), CANCELLED_TEXT ": %s", reason);
		else
			strscpy(j->error, CANCELLED_TEXT, sizeof(j->error));
		state_ops_ended(s, j, finished_ms, 0, 0);
		return;
	}
	if (queue_job_failed(j, j->network, reason) == 1) {
		j->attempts[j->n_attempts - 1].finished_ms = finished_ms;
		strscpy(j->error, reason, sizeof(j->error));
		state_ops_ended(s, j, finished_ms, 0, 0);
		return;
	}
	j->attempts[j->n_attempts - 1].finished_ms = finished_ms;
}

static int apply_job_finish(struct cluster_state *s, const Drover__JobFinish *m)
{
	struct queue_job *j;

	if (!m || !state_str_fits(m->reason, QUEUE_REASON_MAX))
		return -EINVAL;
	j = state_job_find(s, m->job_id);
	if (!j || j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING)
		return -EINVAL;
	/* Only the transfer step ends with a JobFinish; a VF step ends with an OpStepResult. */
	if (j->step < j->n_plan && j->plan[j->step].kind != DROVER__OP_STEP_KIND__OP_STEP_TRANSFER)
		return -EINVAL;

	if (m->ok) {
		if (state_vf_transfer_ok(s, j, m->downtime_ms, m->bytes)) {
			/* The VM runs on the target; the job ends with the attach there. */
			state_fence_on_job_done(s, j->vm, j->target);
			return 1;
		}
		state_jobs_attempt_done(s, j, m->finished_ms, m->downtime_ms, m->bytes);
		state_vf_settle(s);
		return 1;
	}
	if (state_vf_transfer_failed(s, j, m->reason))
		return 1;
	state_jobs_attempt_failed(s, j, m->reason, m->finished_ms, false);
	state_vf_settle(s);
	return 1;
}

static int apply_jobs_cancel(struct cluster_state *s, const Drover__JobsCancel *m)
{
	const char *reason;
	bool changed = false, ended = false;

	if (!m || !state_str_fits(m->reason, QUEUE_REASON_MAX))
		return -EINVAL;
	reason = m->reason[0] ? m->reason : CANCELLED_TEXT;
	for (size_t i = 0; i < s->n_jobs; i++) {
		struct queue_job *j = &s->jobs[i];

		/* A start or a stop is not the queue's to cancel. */
		if (j->kind != QUEUE_OP_MIGRATE)
			continue;
		if (m->n_job_ids) {
			bool listed = false;

			for (size_t k = 0; k < m->n_job_ids; k++)
				listed |= m->job_ids[k] == j->id;
			if (!listed || j->state != QUEUE_JOB_QUEUED)
				continue;
		} else if (m->node && j->source != m->node) {
			continue;
		}
		if (j->state == QUEUE_JOB_QUEUED) {
			if (queue_job_cancel(j) < 0)
				continue;
			strscpy(j->error, reason, sizeof(j->error));
			j->finished_ms = m->at_ms;
			state_ops_record(s, j, 0, 0);
			changed = ended = true;
		} else if (j->state == QUEUE_JOB_RUNNING && !j->cancel_requested) {
			/* The error text carries the request through the state exchange (see top). */
			j->cancel_requested = true;
			strscpy(j->error, reason, sizeof(j->error));
			changed = true;
		}
	}
	if (m->node && !m->n_job_ids) {
		for (size_t i = 0; i < s->n_nodes; i++)
			if (s->nodes[i].id == m->node &&
			    s->nodes[i].state == DROVER__NODE_STATE__NODE_STATE_DRAINING) {
				s->nodes[i].state = DROVER__NODE_STATE__NODE_STATE_ACTIVE;
				changed = true;
			}
	}
	/* After the loop: trimming moves jobs[] entries under it. */
	if (ended)
		state_ops_trim(s, DROVER_KEEP_FINISHED);
	return changed ? 1 : 0;
}

/* Validate and convert limits from the wire; *ret is written only on success. */
static int limits_from_proto(const Drover__MigrationLimits *m, struct mig_limits *ret)
{
	struct mig_limits l;

	if (!m || m->n_network_caps > QUEUE_MAX_NETWORKS || (m->n_network_caps && !m->network_caps))
		return -EINVAL;
	state_limits_default(&l);
	l.set = m->set;
	l.per_source = m->per_source;
	l.per_target = m->per_target;
	l.cluster = m->cluster;
	l.max_retries = m->max_retries;
	for (size_t i = 0; i < m->n_network_caps; i++) {
		const Drover__NetworkCap *c = m->network_caps[i];

		if (!c || !state_str_fits(c->network, QUEUE_NAME_MAX) || !c->network[0])
			return -EINVAL;
		/* One cap per network: two would leave the queue to pick one. */
		for (size_t k = 0; k < l.n_caps; k++)
			if (strcmp(l.caps[k].network, c->network) == 0)
				return -EINVAL;
		strscpy(l.caps[l.n_caps].network, c->network, sizeof(l.caps[0].network));
		l.caps[l.n_caps].cap = c->cap;
		l.n_caps++;
	}
	*ret = l;
	return 0;
}

static bool limits_equal(const struct mig_limits *a, const struct mig_limits *b)
{
	if (a->set != b->set || a->per_source != b->per_source || a->per_target != b->per_target ||
	    a->cluster != b->cluster || a->max_retries != b->max_retries || a->n_caps != b->n_caps)
		return false;
	for (size_t i = 0; i < a->n_caps; i++)
		if (a->caps[i].cap != b->caps[i].cap || strcmp(a->caps[i].network, b->caps[i].network) != 0)
			return false;
	return true;
}

static int apply_limits_set(struct cluster_state *s, const Drover__LimitsSet *m)
{
	struct mig_limits l;

	if (!m || limits_from_proto(m->limits, &l) < 0)
		return -EINVAL;
	l.set = true;
	if (limits_equal(&l, &s->limits))
		return 0;
	s->limits = l;
	return 1;
}

int state_jobs_apply(struct cluster_state *s, const Drover__Envelope *env)
{
	int r;

	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_JOBS_ADD:
		r = apply_jobs_add(s, env->jobs_add);
		break;
	case DROVER__ENVELOPE__BODY_JOB_START:
		r = apply_job_start(s, env->job_start);
		break;
	case DROVER__ENVELOPE__BODY_JOB_FINISH:
		r = apply_job_finish(s, env->job_finish);
		break;
	case DROVER__ENVELOPE__BODY_JOBS_CANCEL:
		r = apply_jobs_cancel(s, env->jobs_cancel);
		break;
	case DROVER__ENVELOPE__BODY_LIMITS_SET:
		r = apply_limits_set(s, env->limits_set);
		break;
	default:
		return -ENOTSUP;
	}
	/* One change per message, however many jobs it touched. */
	if (r == 1)
		s->epoch++;
	return r;
}

/* ---- protobuf conversion ---- */

struct jobs_proto {
	Drover__MigrationLimits limits;
	Drover__NetworkCap caps[QUEUE_MAX_NETWORKS];
	Drover__NetworkCap *cap_ptrs[QUEUE_MAX_NETWORKS];
	Drover__MigrationJob *jobs;
	Drover__MigrationJob **job_ptrs;
	Drover__JobAttempt *attempts;
	Drover__JobAttempt **attempt_ptrs;
	Drover__HistoryEntry *history;
	Drover__HistoryEntry **history_ptrs;
	Drover__OpStep *steps;
	Drover__OpStep **step_ptrs;
	Drover__VfHold *vf; /* one per job: its vf_reserved */
};

void *state_jobs_to_proto(const struct cluster_state *s, Drover__ClusterState *msg)
{
	struct jobs_proto *p = xcalloc(1, sizeof(*p));
	const struct mig_limits *l = &s->limits;
	size_t n_att = 0, a = 0, n_steps = 0, st = 0;

	drover__migration_limits__init(&p->limits);
	p->limits.set = l->set;
	p->limits.per_source = l->per_source;
	p->limits.per_target = l->per_target;
	p->limits.cluster = l->cluster;
	p->limits.max_retries = l->max_retries;
	for (size_t i = 0; i < l->n_caps; i++) {
		drover__network_cap__init(&p->caps[i]);
		p->caps[i].network = (char *)l->caps[i].network;
		p->caps[i].cap = l->caps[i].cap;
		p->cap_ptrs[i] = &p->caps[i];
	}
	p->limits.n_network_caps = l->n_caps;
	p->limits.network_caps = p->cap_ptrs;
	msg->limits = &p->limits;
	msg->next_job_id = s->next_job_id;

	for (size_t i = 0; i < s->n_jobs; i++) {
		n_att += s->jobs[i].n_attempts;
		n_steps += s->jobs[i].n_plan;
	}
	p->steps = xcalloc(n_steps + 1, sizeof(*p->steps));
	p->step_ptrs = xcalloc(n_steps + 1, sizeof(*p->step_ptrs));
	p->jobs = xcalloc(s->n_jobs, sizeof(*p->jobs));
	p->vf = xcalloc(s->n_jobs + 1, sizeof(*p->vf));
	p->job_ptrs = xcalloc(s->n_jobs, sizeof(*p->job_ptrs));
	p->attempts = xcalloc(n_att, sizeof(*p->attempts));
	p->attempt_ptrs = xcalloc(n_att, sizeof(*p->attempt_ptrs));
	for (size_t i = 0; i < s->n_jobs; i++) {
		const struct queue_job *j = &s->jobs[i];
		Drover__MigrationJob *mj = &p->jobs[i];

		drover__migration_job__init(mj);
		mj->id = j->id;
		mj->vm = (char *)j->vm;
		mj->priority = (Drover__VmPriority)j->priority;
		mj->memory_mib = j->memory_mib;
		mj->vcpus = j->vcpus;
		mj->source = j->source;
		mj->fixed_target = j->fixed_target;
		mj->fixed_network = (char *)j->fixed_network;
		mj->origin = (Drover__JobOrigin)j->origin;
		mj->state = (Drover__JobState)(j->state + 1);
		mj->created_ms = j->created_ms;
		mj->target = j->target;
		mj->network = (char *)j->network;
		mj->started_ms = j->started_ms;
		mj->finished_ms = j->finished_ms;
		mj->max_retries = j->max_retries;
		mj->error = (char *)j->error;
		mj->cancel_requested = j->cancel_requested;
		mj->kind = (Drover__OpKind)j->kind;
		mj->step = j->step;
		mj->origin_node = j->origin_node;
		mj->request_id = j->request_id;
		mj->for_vm = (char *)j->for_vm;
		mj->fenced_ms = j->fenced_ms;
		mj->lost_from = j->lost_from;
		if (j->vf_reserved.node) {
			state_vf_hold_to_proto(&j->vf_reserved, &p->vf[i]);
			mj->vf_reserved = &p->vf[i];
		}
		mj->vf_rollback = j->vf_rollback;
		mj->vf_reason = (char *)j->vf_reason;
		mj->vf_bytes = j->vf_bytes;
		mj->vf_downtime_ms = j->vf_downtime_ms;
		mj->n_plan = j->n_plan;
		mj->plan = &p->step_ptrs[st];
		for (size_t k = 0; k < j->n_plan; k++, st++) {
			drover__op_step__init(&p->steps[st]);
			p->steps[st].kind = (Drover__OpStepKind)j->plan[k].kind;
			p->steps[st].node = j->plan[k].node;
			p->step_ptrs[st] = &p->steps[st];
		}
		mj->n_attempts = j->n_attempts;
		mj->attempts = &p->attempt_ptrs[a];
		for (size_t k = 0; k < j->n_attempts; k++, a++) {
			const struct queue_attempt *at = &j->attempts[k];
			Drover__JobAttempt *ma = &p->attempts[a];

			drover__job_attempt__init(ma);
			ma->network = (char *)at->network;
			ma->target = at->target;
			ma->ok = at->result == QUEUE_RESULT_OK;
			ma->reason = (char *)at->reason;
			ma->started_ms = at->started_ms;
			ma->finished_ms = at->finished_ms;
			p->attempt_ptrs[a] = ma;
		}
		p->job_ptrs[i] = mj;
	}
	msg->n_jobs = s->n_jobs;
	msg->jobs = p->job_ptrs;

	p->history = xcalloc(s->n_history, sizeof(*p->history));
	p->history_ptrs = xcalloc(s->n_history, sizeof(*p->history_ptrs));
	for (size_t i = 0; i < s->n_history; i++) {
		const struct history_entry *h = &s->history[i];
		Drover__HistoryEntry *mh = &p->history[i];

		drover__history_entry__init(mh);
		mh->job_id = h->job_id;
		mh->vm = (char *)h->vm;
		mh->source = h->source;
		mh->target = h->target;
		mh->network = (char *)h->network;
		mh->result = (Drover__JobState)(h->result + 1);
		mh->started_ms = h->started_ms;
		mh->finished_ms = h->finished_ms;
		mh->downtime_ms = h->downtime_ms;
		mh->bytes = h->bytes;
		mh->attempts = h->attempts;
		mh->error = (char *)h->error;
		mh->origin = (Drover__JobOrigin)h->origin;
		mh->kind = (Drover__OpKind)h->kind;
		mh->fenced_ms = h->fenced_ms;
		p->history_ptrs[i] = mh;
	}
	msg->n_history = s->n_history;
	msg->history = p->history_ptrs;
	return p;
}

void state_jobs_proto_free(void *mem)
{
	struct jobs_proto *p = mem;

	if (!p)
		return;
	free(p->jobs);
	free(p->job_ptrs);
	free(p->attempts);
	free(p->attempt_ptrs);
	free(p->history);
	free(p->history_ptrs);
	free(p->steps);
	free(p->step_ptrs);
	free(p->vf);
	free(p);
}

static bool job_state_valid(int st)
{
	return st >= DROVER__JOB_STATE__JOB_STATE_QUEUED && st <= DROVER__JOB_STATE__JOB_STATE_CANCELLED;
}

static bool vm_name_valid(const char *name)
{
	return state_str_fits(name, DROVER_VM_NAME_MAX) && vmxml_valid_name(name);
}

static bool kind_valid(int k)
{
	return k == DROVER__OP_KIND__OP_KIND_MIGRATE || k == DROVER__OP_KIND__OP_KIND_START ||
	       k == DROVER__OP_KIND__OP_KIND_STOP || k == DROVER__OP_KIND__OP_KIND_VF_ATTACH;
}

static bool step_kind_valid(int k)
{
	return k >= DROVER__OP_STEP_KIND__OP_STEP_START && k <= DROVER__OP_STEP_KIND__OP_STEP_VF_ATTACH;
}

/* The plan of an operation read from a file or a peer: what VmAction or JobStart would have made. */
static int plan_from_proto(const Drover__MigrationJob *m, struct queue_job *j)
{
	if (m->n_plan > QUEUE_MAX_STEPS || (m->n_plan && !m->plan) || m->step > m->n_plan)
		return -EINVAL;
	for (size_t k = 0; k < m->n_plan; k++) {
		if (!m->plan[k] || !step_kind_valid(m->plan[k]->kind) || !m->plan[k]->node)
			return -EINVAL;
		j->plan[k].kind = (uint32_t)m->plan[k]->kind;
		j->plan[k].node = m->plan[k]->node;
	}
	j->n_plan = m->n_plan;
	j->step = m->step;
	/* A start or a stop runs from its first moment, with its one step. */
	if (m->kind != DROVER__OP_KIND__OP_KIND_MIGRATE &&
	    (m->n_plan != 1 || m->plan[0]->node != m->source ||
	     m->plan[0]->kind != (m->kind == DROVER__OP_KIND__OP_KIND_START ? DROVER__OP_STEP_KIND__OP_STEP_START
				  : m->kind == DROVER__OP_KIND__OP_KIND_STOP
					  ? DROVER__OP_STEP_KIND__OP_STEP_STOP
					  : DROVER__OP_STEP_KIND__OP_STEP_VF_ATTACH)))
		return -EINVAL;
	return 0;
}

static int job_from_proto(const Drover__MigrationJob *m, struct queue_job *j)
{
	bool migrate;

	if (!m || m->id == 0 || !vm_name_valid(m->vm) || m->source == 0 ||
	    (unsigned)m->priority > QUEUE_PRIO_NONE || !origin_valid(m->origin) ||
	    !kind_valid(m->kind) || !job_state_valid(m->state) ||
	    !state_str_fits(m->network, QUEUE_NAME_MAX) ||
	    !state_str_fits(m->fixed_network, QUEUE_NAME_MAX) ||
	    !state_str_fits(m->error, QUEUE_REASON_MAX) || !state_str_fits(m->for_vm, QUEUE_NAME_MAX) ||
	    m->n_attempts > QUEUE_MAX_ATTEMPTS || (m->n_attempts && !m->attempts))
		return -EINVAL;
	migrate = m->kind == DROVER__OP_KIND__OP_KIND_MIGRATE;
	/* What JobStart guarantees of a running migration, which the queue counts on. */
	if (migrate && m->state == DROVER__JOB_STATE__JOB_STATE_RUNNING &&
	    (m->target == 0 || m->target == m->source || !m->network[0]))
		return -EINVAL;
	/* A start or a stop is never queued nor cancelled, and moves nothing anywhere else. */
	if (!migrate && (m->state == DROVER__JOB_STATE__JOB_STATE_QUEUED ||
			 m->state == DROVER__JOB_STATE__JOB_STATE_CANCELLED || m->target ||
			 m->cancel_requested))
		return -EINVAL;
	/* A queued job has no error: once started, one would read as a cancellation. */
	if (m->state == DROVER__JOB_STATE__JOB_STATE_QUEUED && m->error[0])
		return -EINVAL;
	if (queue_job_init(j, m->id, m->vm, (enum queue_priority)m->priority, m->memory_mib, m->vcpus,
			   m->source, m->created_ms) < 0)
		return -EINVAL;
	j->fixed_target = m->fixed_target;
	strscpy(j->fixed_network, m->fixed_network, sizeof(j->fixed_network));
	j->origin = (uint32_t)m->origin;
	j->state = (enum queue_job_state)(m->state - 1);
	j->target = m->target;
	strscpy(j->network, m->network, sizeof(j->network));
	j->started_ms = m->started_ms;
	j->finished_ms = m->finished_ms;
	j->max_retries = m->max_retries;
	strscpy(j->error, m->error, sizeof(j->error));
	/*
	 * A running job has an error text exactly when its cancel was asked:
	 * files written before the field existed carry the request that way.
	 */
	if (m->cancel_requested && (j->state != QUEUE_JOB_RUNNING || !j->error[0]))
		return -EINVAL;
	j->cancel_requested = j->state == QUEUE_JOB_RUNNING && j->error[0];
	for (size_t k = 0; k < m->n_attempts; k++) {
		const Drover__JobAttempt *ma = m->attempts[k];
		struct queue_attempt *at = &j->attempts[k];

		if (!ma || !state_str_fits(ma->network, QUEUE_NAME_MAX) || !state_str_fits(ma->reason, QUEUE_REASON_MAX))
			return -EINVAL;
		strscpy(at->network, ma->network, sizeof(at->network));
		at->target = ma->target;
		at->result = ma->ok ? QUEUE_RESULT_OK : QUEUE_RESULT_FAILED;
		strscpy(at->reason, ma->reason, sizeof(at->reason));
		at->started_ms = ma->started_ms;
		at->finished_ms = ma->finished_ms;
	}
	j->n_attempts = m->n_attempts;
	j->kind = (enum queue_op_kind)m->kind;
	j->origin_node = m->origin_node;
	j->request_id = m->request_id;
	strscpy(j->for_vm, m->for_vm, sizeof(j->for_vm));
	j->lost_from = m->lost_from;
	j->fenced_ms = m->fenced_ms;
	if (state_vf_hold_from_proto(m->vf_reserved, &j->vf_reserved) < 0 ||
	    (m->vf_reason && !state_str_fits(m->vf_reason, QUEUE_REASON_MAX)))
		return -EINVAL;
	j->vf_rollback = m->vf_rollback;
	strscpy(j->vf_reason, m->vf_reason ? m->vf_reason : "", sizeof(j->vf_reason));
	j->vf_bytes = m->vf_bytes;
	j->vf_downtime_ms = m->vf_downtime_ms;
	return plan_from_proto(m, j);
}

static int history_from_proto(const Drover__HistoryEntry *m, struct history_entry *h)
{
	if (!m || m->job_id == 0 || !vm_name_valid(m->vm) || !state_str_fits(m->network, QUEUE_NAME_MAX) ||
	    !state_str_fits(m->error, QUEUE_REASON_MAX) || !origin_valid(m->origin) || !kind_valid(m->kind) ||
	    m->result < DROVER__JOB_STATE__JOB_STATE_DONE || m->result > DROVER__JOB_STATE__JOB_STATE_CANCELLED)
		return -EINVAL;
	memset(h, 0, sizeof(*h));
	h->job_id = m->job_id;
	strscpy(h->vm, m->vm, sizeof(h->vm));
	h->source = m->source;
	h->target = m->target;
	strscpy(h->network, m->network, sizeof(h->network));
	h->result = (enum queue_job_state)(m->result - 1);
	h->origin = (uint32_t)m->origin;
	h->kind = (enum queue_op_kind)m->kind;
	h->fenced_ms = m->fenced_ms;
	h->started_ms = m->started_ms;
	h->finished_ms = m->finished_ms;
	h->downtime_ms = m->downtime_ms;
	h->bytes = m->bytes;
	h->attempts = m->attempts;
	strscpy(h->error, m->error, sizeof(h->error));
	return 0;
}

/*
 * Fill the queue's part of s (freshly initialised by the caller, who frees it
 * on error). A state from before the queue existed has none of these fields
 * and loads as an empty queue with the default limits.
 */
int state_jobs_from_proto(const Drover__ClusterState *msg, struct cluster_state *s)
{
	s->next_job_id = msg->next_job_id ? msg->next_job_id : 1;
	state_limits_default(&s->limits);
	if (msg->limits && limits_from_proto(msg->limits, &s->limits) < 0)
		return -EINVAL;

	if (msg->n_jobs > DROVER_MAX_JOBS || (msg->n_jobs && !msg->jobs))
		return -EINVAL;
	if (msg->n_jobs)
		s->jobs = xcalloc(msg->n_jobs, sizeof(*s->jobs));
	for (size_t i = 0; i < msg->n_jobs; i++) {
		struct queue_job *j = &s->jobs[i];

		if (job_from_proto(msg->jobs[i], j) < 0 || j->id >= s->next_job_id ||
		    (i > 0 && j->id <= s->jobs[i - 1].id))
			return -EINVAL;
		/* At most one unfinished job per VM, as JobsAdd keeps it. */
		if (state_op_unfinished(j) && state_job_active(s, j->vm))
			return -EINVAL;
		s->n_jobs++;
	}

	if (msg->n_history > DROVER_HISTORY_MAX || (msg->n_history && !msg->history))
		return -EINVAL;
	if (msg->n_history)
		s->history = xcalloc(DROVER_HISTORY_MAX, sizeof(*s->history));
	for (size_t i = 0; i < msg->n_history; i++) {
		if (history_from_proto(msg->history[i], &s->history[i]) < 0 ||
		    s->history[i].job_id >= s->next_job_id)
			return -EINVAL;
		s->n_history++;
	}
	return 0;
}

void state_job_attempt(const struct queue_job *j, struct job_attempt_id *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->job_id = j->id;
	ret->target = j->target;
	strscpy(ret->network, j->network, sizeof(ret->network));
	ret->started_ms = j->started_ms;
	ret->n_ended = j->n_attempts;
}

bool state_job_runs_attempt(const struct cluster_state *s, uint32_t source,
			    const struct job_attempt_id *a)
{
	const struct queue_job *j = NULL;

	for (size_t i = 0; i < s->n_jobs && !j; i++)
		if (s->jobs[i].id == a->job_id)
			j = &s->jobs[i];
	return j && j->kind == QUEUE_OP_MIGRATE && j->state == QUEUE_JOB_RUNNING &&
	       j->source == source && j->target == a->target && j->started_ms == a->started_ms &&
	       j->n_attempts == a->n_ended && strcmp(j->network, a->network) == 0;
}
