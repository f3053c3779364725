/*
 * VM starts and stops, from the operator's request to the hypervisor and back.
 *
 *   CLI -> local droverd -> VmRequest (CPG)
 *       -> the coordinator decides -> VmAction (CPG), or VmActionResult with
 *          id 0 when there is nothing to do or it refuses
 *       -> every member applies the VmAction: an operation in the replicated
 *          table of operations (core/state_ops.c), at most one unfinished per
 *          VM, whatever its kind (a migration job included)
 *       -> the executing node's agent runs the job
 *       -> VmActionResult (CPG): every member ends the operation (history);
 *          the origin answers its client
 * failover.c's restarts, preemptions and second-copy destroys take the same
 * path from the VmAction on. Migrations are jobs of the queue (drain.c).
 *
 * The operations are replicated state, exchanged with joiners and persisted,
 * so whoever coordinates next knows what is under way; what only this node
 * needs beside them (our agent's job, an outcome not yet applied) is in
 * d->op_local. An operation never stays open for good: reconcile() has the
 * executor report what it cannot finish (its droverd restarted) and again
 * what was not applied (a membership change ate it), and the coordinator end
 * those whose executor left.
 *
 * Safety rules: nothing is decided on a guess. A start or a stop needs the
 * VM's location known (core/locate.h: every node of the nodelist reported
 * afresh, is fenced, or cannot hold it); while a member has not reported yet
 * the request is held, never decided as if the VM were stopped. A start that
 * finds the domain already running is success, not a second copy. Where a VM
 * runs is always taken from the agents' inventories, never from a
 * decision's intent.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "droverd.h"
#include "exitcode.h"
#include "log.h"
#include "locate.h"
#include "names.h"
#include "util.h"
#include "vmdecide.h"

#define STOP_DEADLINE_MS 150000u
#define STOP_GRACE_MS 30000u
#define PREEMPT_GRACE_MS 10000u

/*
 * The coordinator's decisions that have not come back yet
 * (d->undelivered): a second request for the same VM can be delivered before
 * the first decision is, and must not be decided again (that could start a VM
 * on two nodes). Only the deciding node needs it, and a new coordinator starts
 * after a configuration change, when every decision in flight has been
 * delivered (virtual synchrony).
 */
static bool undelivered_has(const struct droverd *d, const char *vm)
{
	for (size_t i = 0; i < d->n_undelivered; i++)
		if (strcmp(d->undelivered[i], vm) == 0)
			return true;
	return false;
}

static void undelivered_drop(struct droverd *d, const char *vm)
{
	for (size_t i = 0; i < d->n_undelivered; i++)
		if (strcmp(d->undelivered[i], vm) == 0) {
			memmove(d->undelivered[i], d->undelivered[i + 1],
				(d->n_undelivered - i - 1) * sizeof(d->undelivered[0]));
			d->n_undelivered--;
			return;
		}
}

bool vm_actions_undelivered(const struct droverd *d, const char *vm)
{
	return undelivered_has(d, vm);
}

void vm_actions_mark_undelivered(struct droverd *d, const char *vm)
{
	if (d->n_undelivered < DROVER_MAX_OPS && !undelivered_has(d, vm))
		strscpy(d->undelivered[d->n_undelivered++], vm, DROVER_VM_NAME_MAX);
}

void vm_actions_drop_undelivered(struct droverd *d, const char *vm)
{
	undelivered_drop(d, vm);
}

static const char *kind_name(Drover__VmActionKind k)
{
	switch (k) {
	case DROVER__VM_ACTION_KIND__VM_ACTION_START:
		return "start";
	case DROVER__VM_ACTION_KIND__VM_ACTION_STOP:
		return "stop";
	case DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE:
		return "migrate";
	default:
		return "?";
	}
}

static const char *name_of(const struct droverd *d, uint32_t id, char *buf, size_t len)
{
	return links_node_name(d, id, buf, len);
}


static struct op_local *local_of(struct droverd *d, uint64_t id, bool create)
{
	struct op_local *free_slot = NULL;

	for (size_t i = 0; i < DROVER_MAX_OPS; i++) {
		if (d->op_local[i].id == id)
			return &d->op_local[i];
		if (!free_slot && !d->op_local[i].id)
			free_slot = &d->op_local[i];
	}
	if (!create || !free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->id = id;
	return free_slot;
}

static void send_result(struct droverd *d, uint64_t action_id, uint32_t origin,
			uint64_t request_id, int exit_code, const char *error)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmActionResult m = DROVER__VM_ACTION_RESULT__INIT;

	m.action_id = action_id;
	m.ok = exit_code == 0;
	m.exit_code = exit_code;
	m.error = (char *)(error ? error : "");
	m.origin_node = origin;
	m.request_id = request_id;
	m.finished_ms = wall_ms();
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_RESULT;
	env.vm_action_result = &m;
	membership_send(d, &env, false);
}

/* Memory the guests reported on a node hold: running, paused or suspended. */
static uint64_t node_load_mib(const struct droverd *d, const struct node_obs *o)
{
	uint64_t sum = 0;

	for (size_t j = 0; o && j < o->n_domains; j++) {
		const struct vm_cfg *v = state_vm_find(&d->state, o->domains[j].name);

		if (v && droverd_vm_state_active(o->domains[j].state))
			sum += v->memory_mib;
	}
	return sum;
}

/* vm_decide()'s view of the cluster as this droverd knows it now. */
struct decide_buf {
	struct vmd_node nodes[DROVER_MAX_NODES];
};

static void build_view(const struct droverd *d, struct vmd_view *v, struct decide_buf *b)
{
	memset(v, 0, sizeof(*v));
	v->state = &d->state;
	for (size_t i = 0; i < d->n_nodes && i < DROVER_MAX_NODES; i++) {
		const struct known_node *k = &d->nodes[i];
		const struct node_obs *o = droverd_obs(d, k->id);

		b->nodes[i] = (struct vmd_node){
			.id = k->id,
			.name = k->name,
			.member = droverd_is_member(d, k->id),
			.agent_ok = o && o->agent_ok && o->current,
			.memory_mib = o ? o->memory_mib : 0,
			.load_mib = node_load_mib(d, o),
		};
	}
	v->n_nodes = d->n_nodes < DROVER_MAX_NODES ? d->n_nodes : DROVER_MAX_NODES;
	v->nodes = b->nodes;
}

static void hold_timer_fn(void *data);

static void arm_hold_timer(struct droverd *d)
{
	if (d->held_timer_armed || d->stopping)
		return;
	if (qb_loop_timer_add(d->loop, QB_LOOP_LOW, 500 * QB_TIME_NS_IN_MSEC, d, hold_timer_fn,
			      &d->held_timer) == 0)
		d->held_timer_armed = true;
}

/*
 * Keep q until the member that cannot say yet reports (or the hold expires):
 * "not reported yet" is neither "stopped" nor "no capacity". false if it
 * cannot be held (no room, or held too long already).
 */
static bool hold(struct droverd *d, const struct held_request *q)
{
	if (now_ms() >= q->deadline_ms || d->n_held >= DROVER_MAX_HELD)
		return false;
	d->held[d->n_held++] = *q;
	arm_hold_timer(d);
	return true;
}

/* The coordinator's decision on one request (core/vmdecide.h), sent. */
static void decide(struct droverd *d, const struct held_request *q)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction act = DROVER__VM_ACTION__INIT;
	struct vmd_request rq = { .kind = q->kind, .vm = q->vm };
	struct vmd_view view;
	struct decide_buf buf;
	struct locate_result loc;
	struct vmd_decision dec;
	char b1[32];

	rq.in_flight = undelivered_has(d, q->vm);
	rq.may_hold = now_ms() < q->deadline_ms && d->n_held < DROVER_MAX_HELD;
	build_view(d, &view, &buf);
	if (droverd_locate(d, q->vm, &loc) < 0 || vm_decide(&view, &rq, &loc, &dec) < 0) {
		send_result(d, 0, q->origin, q->request_id, DROVER_EXIT_SOFTWARE, "cannot decide");
		return;
	}
	if (dec.kind == VMD_HOLD) {
		log_info("holding the %s of VM '%s' until every node has reported: %s",
			 kind_name(q->kind), q->vm, dec.message);
		hold(d, q);
		return;
	}
	if (dec.kind == VMD_ANSWER) {
		if (dec.exit_code == DROVER_EXIT_UNSAFE)
			log_warn("refused to %s VM '%s': %s", kind_name(q->kind), q->vm, loc.reason);
		send_result(d, 0, q->origin, q->request_id, dec.exit_code, dec.message);
		return;
	}
	if (state_ops_actions(&d->state) + d->n_undelivered >= DROVER_MAX_OPS) {
		send_result(d, 0, q->origin, q->request_id, DROVER_EXIT_UNAVAILABLE,
			    "too many actions in flight; retry");
		return;
	}
	act.kind = q->kind;
	act.vm = (char *)q->vm;
	act.node = dec.node;
	act.network = "";
	act.origin_node = q->origin;
	act.request_id = q->request_id;
	act.at_ms = wall_ms();
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &act;
	log_notice("decided: %s VM '%s' on %s", kind_name(q->kind), q->vm,
		   name_of(d, dec.node, b1, sizeof(b1)));
	if (membership_send(d, &env, false) == 0)
		strscpy(d->undelivered[d->n_undelivered++], q->vm, DROVER_VM_NAME_MAX);
}

int vm_actions_send_action(struct droverd *d, Drover__VmActionKind kind, const char *vm,
			   uint32_t node, Drover__VmActionCause cause, const char *for_vm)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction act = DROVER__VM_ACTION__INIT;
	int r;

	if (undelivered_has(d, vm) || d->n_undelivered >= DROVER_MAX_OPS)
		return -EBUSY;
	if (state_ops_actions(&d->state) + d->n_undelivered >= DROVER_MAX_OPS)
		return -ENOSPC;
	act.kind = kind;
	act.vm = (char *)vm;
	act.node = node;
	act.network = "";
	act.cause = cause;
	act.for_vm = (char *)(for_vm ? for_vm : "");
	act.at_ms = wall_ms();
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &act;
	r = membership_send(d, &env, false);
	if (r == 0)
		strscpy(d->undelivered[d->n_undelivered++], vm, DROVER_VM_NAME_MAX);
	return r;
}

void vm_actions_on_request(struct droverd *d, uint32_t from, const Drover__VmRequest *m)
{
	struct held_request q;

	/* Only the coordinator decides; everyone else has the same request on file. */
	if (droverd_coordinator(d) != d->local_id)
		return;
	memset(&q, 0, sizeof(q));
	q.origin = from;
	q.request_id = m->request_id;
	if (!m->vm || strscpy(q.vm, m->vm, sizeof(q.vm)) < 0 || !state_vm_find(&d->state, q.vm)) {
		send_result(d, 0, from, m->request_id, DROVER_EXIT_NOSUCH, "no such VM");
		return;
	}
	q.kind = m->kind;
	/* Answer before the origin's client gives up (request_timeout_ms). */
	q.deadline_ms = now_ms() + d->cfg.request_timeout_ms * 3 / 4;
	decide(d, &q);
}

void vm_actions_retry_held(struct droverd *d)
{
	struct held_request q[DROVER_MAX_HELD];
	size_t n = d->n_held;

	if (!n)
		return;
	memcpy(q, d->held, n * sizeof(q[0]));
	d->n_held = 0;
	for (size_t i = 0; i < n; i++) {
		if (droverd_coordinator(d) != d->local_id) {
			send_result(d, 0, q[i].origin, q[i].request_id, DROVER_EXIT_UNAVAILABLE,
				    "the coordinator changed while the request waited; retry");
			continue;
		}
		decide(d, &q[i]);
	}
}

static void hold_timer_fn(void *data)
{
	struct droverd *d = data;

	d->held_timer_armed = false;
	vm_actions_retry_held(d);
	if (d->n_held)
		arm_hold_timer(d);
}

void vm_actions_expand_uri(char *out, size_t len, const char *tmpl, const char *node,
			   const char *net)
{
	size_t o = 0;

	for (const char *p = tmpl; *p && o + 1 < len; p++) {
		const char *ins = NULL;

		if (p[0] == '%' && p[1] == 'n')
			ins = node;
		else if (p[0] == '%' && p[1] == 'N')
			ins = net;
		if (ins) {
			o += (size_t)snprintf(out + o, len - o, "%s", ins);
			if (o >= len)
				o = len - 1;
			p++;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

/* Our outcome of operation id: applied by every member once delivered. */
static void finish_local(struct droverd *d, struct op_local *l, int exit_code, const char *error)
{
	const struct queue_job *o = state_op_find(&d->state, l->id);

	l->job_id = 0;
	l->done = true;
	l->exit_code = exit_code;
	strscpy(l->error, error ? error : "", sizeof(l->error));
	if (o)
		send_result(d, o->id, o->origin_node, o->request_id, exit_code, l->error);
}

/* We execute operation o (a start or a stop on this node): hand it to our agent. */
static void execute(struct droverd *d, const struct queue_job *o, struct op_local *l)
{
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentVmStartJob start = DROVER__AGENT_VM_START_JOB__INIT;
	Drover__AgentVmStopJob stop = DROVER__AGENT_VM_STOP_JOB__INIT;
	const struct vm_cfg *v = state_vm_find(&d->state, o->vm);
	int r;

	if (!v) {
		finish_local(d, l, DROVER_EXIT_NOSUCH, "the VM left the registry");
		return;
	}
	if (d->leaving) {
		finish_local(d, l, DROVER_EXIT_UNAVAILABLE, "droverd on this node is stopping");
		return;
	}
	switch (o->kind) {
	case QUEUE_OP_START:
		start.vm = (char *)v->name;
		start.xml = v->xml;
		job.kind_case = DROVER__AGENT_JOB__KIND_VM_START;
		job.vm_start = &start;
		job.deadline_ms = d->cfg.start_deadline_ms;
		break;
	case QUEUE_OP_STOP:
		stop.vm = (char *)v->name;
		/*
		 * A second copy goes at once (the owner's copy runs on); a
		 * preempted VM gets a short grace, as its room is awaited.
		 */
		stop.timeout_ms = o->origin == DROVER__JOB_ORIGIN__JOB_ORIGIN_DUPLICATE ? 0
				  : o->origin == DROVER__JOB_ORIGIN__JOB_ORIGIN_PREEMPT ? PREEMPT_GRACE_MS
											: STOP_GRACE_MS;
		job.kind_case = DROVER__AGENT_JOB__KIND_VM_STOP;
		job.vm_stop = &stop;
		job.deadline_ms = STOP_DEADLINE_MS;
		break;
	default:
		finish_local(d, l, DROVER_EXIT_INVALID_PARAM, "not a start or a stop");
		return;
	}
	r = agent_link_submit(d, &job, &l->job_id);
	if (r < 0)
		finish_local(d, l, DROVER_EXIT_UNAVAILABLE, "this node's agent is unavailable");
}

void vm_actions_before_apply(struct droverd *d, const Drover__Envelope *env)
{
	const struct queue_job *o = NULL;

	if (env->body_case == DROVER__ENVELOPE__BODY_VM_ACTION_RESULT && env->vm_action_result)
		o = state_op_find(&d->state, env->vm_action_result->action_id);
	if (o)
		d->finishing = *o;
	else
		memset(&d->finishing, 0, sizeof(d->finishing));
}

static void on_action_applied(struct droverd *d, bool from_self, const Drover__VmAction *m, int r)
{
	const struct queue_job *o;
	struct op_local *l;
	char b1[32];

	if (from_self && m->vm)
		undelivered_drop(d, m->vm);
	if (r != 1) {
		log_warn("the %s of VM '%s' was not applied: %s", kind_name(m->kind),
			 m->vm ? m->vm : "", r == -EBUSY ? "the VM has another operation"
					   : r == -EPERM ? "not quorate, or not the coordinator's"
							 : strerror(-r));
		if (m->origin_node == d->local_id)
			ctl_request_done(d, m->request_id, r == -EPERM ? DROVER_EXIT_QUORUM
								       : DROVER_EXIT_UNAVAILABLE,
					 r == -EBUSY ? "the VM has another operation or a migration "
						       "job; retry when it is done"
						     : "the cluster did not apply the decision; retry");
		return;
	}
	/* Just applied: the VM's one unfinished operation. */
	o = state_op_for_vm(&d->state, m->vm);
	if (!o || o->kind == QUEUE_OP_MIGRATE)
		return;
	log_info("operation %llu: %s VM '%s' on %s", (unsigned long long)o->id,
		 state_op_kind_name(o->kind), o->vm, name_of(d, o->source, b1, sizeof(b1)));
	/* Until the node reports afresh, the VM may be there or not. */
	droverd_obs_touch(d, o->source, o->vm);
	l = local_of(d, o->id, true);
	if (l && o->source == d->local_id)
		execute(d, o, l);
}

static void on_result_applied(struct droverd *d, bool from_self, const Drover__VmActionResult *m,
			      int r)
{
	const struct queue_job *o = &d->finishing;
	struct op_local *l = local_of(d, m->action_id, false);
	char b[32];

	if (r != 1) {
		/* Ours, not applied (an exchange or a lost quorum ate it): reconcile() resends. */
		if (from_self && r != -ENOENT)
			log_info("result of operation %llx not applied (%s); sent again later",
				 (unsigned long long)m->action_id, strerror(-r));
		if (r == -ENOENT && l)
			memset(l, 0, sizeof(*l));
		return;
	}
	if (o->id) {
		if (m->ok)
			log_notice("%s of VM '%s' on %s done", state_op_kind_name(o->kind), o->vm,
				   name_of(d, o->source, b, sizeof(b)));
		else
			log_warn("%s of VM '%s' on %s failed: %s", state_op_kind_name(o->kind), o->vm,
				 name_of(d, o->source, b, sizeof(b)), m->error);
	}
	if (l)
		memset(l, 0, sizeof(*l));
	if (m->origin_node == d->local_id)
		ctl_request_done(d, m->request_id, m->ok ? 0 : (m->exit_code ? m->exit_code : 1),
				 m->error);
	/* Whatever changed, our own hypervisor's truth is worth a fresh look. */
	agent_link_request_inventory(d);
}

void vm_actions_on_applied(struct droverd *d, uint32_t from, bool from_self,
			   const Drover__Envelope *env, int r)
{
	(void)from;
	if (env->body_case == DROVER__ENVELOPE__BODY_VM_ACTION && env->vm_action)
		on_action_applied(d, from_self, env->vm_action, r);
	else if (env->body_case == DROVER__ENVELOPE__BODY_VM_ACTION_RESULT && env->vm_action_result)
		on_result_applied(d, from_self, env->vm_action_result, r);
}

void vm_actions_on_refusal(struct droverd *d, const Drover__VmActionResult *m)
{
	/* Nothing was decided: only the origin has something to do. */
	if (m->origin_node == d->local_id)
		ctl_request_done(d, m->request_id, m->ok ? 0 : (m->exit_code ? m->exit_code : 1),
				 m->error);
}

void vm_actions_reconcile(struct droverd *d)
{
	uint32_t coord = droverd_coordinator(d);
	char b[32], msg[160];

	if (!d->synced || !d->config_quorate)
		return;
	for (size_t i = 0; i < d->state.n_jobs; i++) {
		const struct queue_job *o = &d->state.jobs[i];
		struct op_local *l;

		if (o->kind == QUEUE_OP_MIGRATE || o->state != QUEUE_JOB_RUNNING)
			continue;
		if (o->source == d->local_id) {
			l = local_of(d, o->id, false);
			if (l && l->done) {
				send_result(d, o->id, o->origin_node, o->request_id, l->exit_code,
					    l->error);
			} else if (!l || !l->job_id) {
				/* Ours, but nothing here runs it: this droverd restarted meanwhile. */
				snprintf(msg, sizeof(msg), "droverd on %s restarted during the %s; see "
					 "`drover vm list`", name_of(d, o->source, b, sizeof(b)),
					 state_op_kind_name(o->kind));
				l = local_of(d, o->id, true);
				if (l)
					finish_local(d, l, DROVER_EXIT_ERROR, msg);
			}
		} else if (coord == d->local_id && !droverd_is_member(d, o->source)) {
			snprintf(msg, sizeof(msg), "%s left the cluster during the %s; see `drover vm "
				 "list`", name_of(d, o->source, b, sizeof(b)), state_op_kind_name(o->kind));
			send_result(d, o->id, o->origin_node, o->request_id, DROVER_EXIT_ERROR, msg);
		}
	}
	/* Forget local records of operations that ended. */
	for (size_t i = 0; i < DROVER_MAX_OPS; i++) {
		const struct queue_job *o;

		if (!d->op_local[i].id)
			continue;
		o = state_op_find(&d->state, d->op_local[i].id);
		if (!o || o->state != QUEUE_JOB_RUNNING)
			memset(&d->op_local[i], 0, sizeof(d->op_local[i]));
	}
}

void vm_actions_on_members_changed(struct droverd *d)
{
	/* Everything sent in the old membership has been delivered by now. */
	d->n_undelivered = 0;
	vm_actions_retry_held(d);
	vm_actions_reconcile(d);
}

static struct op_local *find_job(struct droverd *d, uint64_t job_id)
{
	for (size_t i = 0; job_id && i < DROVER_MAX_OPS; i++)
		if (d->op_local[i].id && d->op_local[i].job_id == job_id)
			return &d->op_local[i];
	return NULL;
}

void vm_actions_job_done(struct droverd *d, uint64_t job_id, const Drover__AgentJobResult *r)
{
	struct op_local *l = find_job(d, job_id);
	char msg[300];
	int code = 0;

	if (!l)
		return;
	switch (r->outcome) {
	case DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK:
		msg[0] = '\0';
		break;
	case DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_TIMEOUT:
		code = DROVER_EXIT_TIMEOUT;
		snprintf(msg, sizeof(msg), "the hypervisor did not finish in time: %s", r->error);
		break;
	default:
		code = DROVER_EXIT_ERROR;
		snprintf(msg, sizeof(msg), "%s", r->error && *r->error ? r->error : "failed");
		break;
	}
	finish_local(d, l, code, msg);
}

void vm_actions_agent_lost(struct droverd *d)
{
	for (size_t i = 0; i < DROVER_MAX_OPS; i++) {
		struct op_local *l = &d->op_local[i];

		if (!l->id || !l->job_id)
			continue;
		finish_local(d, l, DROVER_EXIT_ERROR,
			     "this node's agent died during the action; check `drover vm list`");
	}
}
