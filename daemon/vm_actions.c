/*
 * VM actions: start, stop and migrate, from the operator's request to the
 * hypervisor and back.
 *
 *   CLI -> local droverd -> VmRequest (CPG)
 *       -> the coordinator decides -> VmAction (CPG), or VmActionResult with
 *          id 0 when there is nothing to do or it refuses
 *       -> every member applies the VmAction: an operation in the replicated
 *          state (state_ops.c), at most one per VM, none beside a migration job
 *       -> the executing node's agent runs the job -> VmActionProgress (CPG)
 *       -> VmActionResult (CPG): every member removes the operation; the
 *          origin answers its client
 *
 * The operations are replicated state, exchanged with joiners and persisted,
 * so whoever coordinates next knows what is under way; what only this node
 * needs beside them (progress for `drover vm list`, our agent's job, an
 * outcome not yet applied) is in d->op_local. An operation never stays open
 * for good: reconcile() has the executor report what it cannot finish (its
 * droverd restarted) and again what was not applied (a membership change ate
 * it), and the coordinator end those whose executor left.
 *
 * Safety rules: nothing is decided on a guess. A start, a stop or a migration
 * needs the VM's location known (core/locate.h: every node of the nodelist
 * reported afresh, is fenced, or cannot hold it); while a member has not
 * reported yet the request is held, never decided as if the VM were stopped.
 * A start that finds the domain already running is success, not a second copy.
 * Where a VM runs is always taken from the agents' inventories, never from a
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
#define MIGRATE_DEADLINE_MS 900000u
#define MIGRATE_COMPLETION_MS 600000u
#define MIGRATE_STALL_MS 60000u

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

/*
 * Unique across coordinators and restarts: every quorate configuration has a
 * term of its own and one coordinator (state_ops.c).
 */
static uint64_t new_action_id(struct droverd *d)
{
	uint64_t id = (d->state.term << 32) | (++d->next_action & 0xffffffffu);

	if (!(id & 0xffffffffu))
		id |= ++d->next_action & 0xffffffffu;
	return id;
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

const struct vm_op *vm_actions_find(const struct droverd *d, const char *vm)
{
	return state_op_for_vm(&d->state, vm);
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
	drover__migration_progress__init(&free_slot->progress);
	return free_slot;
}

const Drover__MigrationProgress *vm_actions_progress(const struct droverd *d, uint64_t id)
{
	for (size_t i = 0; id && i < DROVER_MAX_OPS; i++)
		if (d->op_local[i].id == id && d->op_local[i].has_progress)
			return &d->op_local[i].progress;
	return NULL;
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

static bool view_usable(const void *ctx, size_t k, uint32_t a, uint32_t b)
{
	return nethealth_usable(ctx, k, a, b);
}

/* vm_decide()'s view of the cluster as this droverd knows it now. */
struct decide_buf {
	struct vmd_node nodes[DROVER_MAX_NODES];
	struct vmd_network nets[QUEUE_MAX_NETWORKS];
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
	/* No [network] section: the default route, no choice to make. */
	if (d->cfg.n_networks)
		for (size_t k = 0; k < nethealth_n_networks(d) && k < QUEUE_MAX_NETWORKS; k++) {
			b->nets[k].name = nethealth_network_name(d, k);
			b->nets[k].last_resort = nethealth_last_resort(d, k);
			v->n_networks = k + 1;
		}
	v->networks = b->nets;
	v->usable = view_usable;
	v->usable_ctx = d;
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
	struct vmd_request rq = { .kind = q->kind, .vm = q->vm, .target = q->target,
				  .network = q->network };
	struct vmd_view view;
	struct decide_buf buf;
	struct locate_result loc;
	struct vmd_decision dec;
	char b1[32], b2[32];

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
	if (d->state.n_ops + d->n_undelivered >= DROVER_MAX_OPS) {
		send_result(d, 0, q->origin, q->request_id, DROVER_EXIT_UNAVAILABLE,
			    "too many actions in flight; retry");
		return;
	}
	act.action_id = new_action_id(d);
	act.kind = q->kind;
	act.vm = (char *)q->vm;
	act.node = dec.node;
	act.target_node = dec.target;
	act.network = dec.network;
	act.origin_node = q->origin;
	act.request_id = q->request_id;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &act;
	log_notice("decided: %s VM '%s' on %s%s%s%s%s", kind_name(q->kind), q->vm,
		   name_of(d, dec.node, b1, sizeof(b1)), dec.target ? " to " : "",
		   dec.target ? name_of(d, dec.target, b2, sizeof(b2)) : "",
		   *act.network ? " over " : "", act.network);
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
	if (d->state.n_ops + d->n_undelivered >= DROVER_MAX_OPS)
		return -ENOSPC;
	act.action_id = new_action_id(d);
	act.kind = kind;
	act.vm = (char *)vm;
	act.node = node;
	act.network = "";
	act.cause = cause;
	act.for_vm = (char *)(for_vm ? for_vm : "");
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
	/* Checked again here: the request may come from a node we do not trust to have. */
	if (m->network && *m->network && !name_is_identifier(m->network, sizeof(q.network))) {
		send_result(d, 0, from, m->request_id, DROVER_EXIT_USAGE,
			    "a network name is letters, digits, '.', '_' and '-'");
		return;
	}
	strscpy(q.network, m->network ? m->network : "", sizeof(q.network));
	q.kind = m->kind;
	q.target = m->target_node;
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
	const struct vm_op *o = state_op_find(&d->state, l->id);

	l->job_id = 0;
	l->done = true;
	l->exit_code = exit_code;
	strscpy(l->error, error ? error : "", sizeof(l->error));
	if (o)
		send_result(d, o->id, o->origin, o->request_id, exit_code, l->error);
}

/* We execute operation o: hand it to our agent. */
static void execute(struct droverd *d, const struct vm_op *o, struct op_local *l)
{
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentVmStartJob start = DROVER__AGENT_VM_START_JOB__INIT;
	Drover__AgentVmStopJob stop = DROVER__AGENT_VM_STOP_JOB__INIT;
	Drover__AgentVmMigrateJob mig = DROVER__AGENT_VM_MIGRATE_JOB__INIT;
	const struct vm_cfg *v = state_vm_find(&d->state, o->vm);
	char dest[512], data[512], b[32];
	int r;

	if (!v) {
		finish_local(d, l, DROVER_EXIT_NOSUCH, "the VM left the registry");
		return;
	}
	switch (o->kind) {
	case DROVER__VM_ACTION_KIND__VM_ACTION_START:
		start.vm = (char *)v->name;
		start.xml = v->xml;
		job.kind_case = DROVER__AGENT_JOB__KIND_VM_START;
		job.vm_start = &start;
		job.deadline_ms = d->cfg.start_deadline_ms;
		break;
	case DROVER__VM_ACTION_KIND__VM_ACTION_STOP:
		stop.vm = (char *)v->name;
		/*
		 * A second copy goes at once (the owner's copy runs on); a
		 * preempted VM gets a short grace, as its room is awaited.
		 */
		stop.timeout_ms = o->cause == DROVER__VM_ACTION_CAUSE__VM_CAUSE_DUPLICATE ? 0
				  : o->cause == DROVER__VM_ACTION_CAUSE__VM_CAUSE_PREEMPT ? PREEMPT_GRACE_MS
											   : STOP_GRACE_MS;
		job.kind_case = DROVER__AGENT_JOB__KIND_VM_STOP;
		job.vm_stop = &stop;
		job.deadline_ms = STOP_DEADLINE_MS;
		break;
	case DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE: {
		const char *tn = name_of(d, o->target, b, sizeof(b));

		vm_actions_expand_uri(dest, sizeof(dest), d->cfg.agent_dest_uri, tn, o->network);
		/*
		 * The data goes to the target's address on the chosen network as
		 * drover.conf says, as for a drain: a name from a request never
		 * becomes part of a URI.
		 */
		if (nethealth_migrate_uri(d, o->network, o->target, data, sizeof(data)) < 0) {
			finish_local(d, l, DROVER_EXIT_NOSUCH,
				     "the network has no address for the target on this node");
			return;
		}
		mig.vm = (char *)v->name;
		mig.dest_uri = dest;
		mig.migrate_uri = data;
		mig.auto_converge = true;
		mig.completion_timeout_ms = MIGRATE_COMPLETION_MS;
		mig.no_progress_timeout_ms = MIGRATE_STALL_MS;
		job.kind_case = DROVER__AGENT_JOB__KIND_VM_MIGRATE;
		job.vm_migrate = &mig;
		job.deadline_ms = MIGRATE_DEADLINE_MS;
		log_info("migrating '%s' to '%s' (data: '%s')", v->name, dest,
			 *data ? data : "default");
		break;
	}
	default:
		finish_local(d, l, DROVER_EXIT_INVALID_PARAM, "unknown VM action");
		return;
	}
	r = agent_link_submit(d, &job, &l->job_id);
	if (r < 0)
		finish_local(d, l, DROVER_EXIT_UNAVAILABLE, "this node's agent is unavailable");
}

void vm_actions_before_apply(struct droverd *d, const Drover__Envelope *env)
{
	const struct vm_op *o = NULL;

	if (env->body_case == DROVER__ENVELOPE__BODY_VM_ACTION_RESULT && env->vm_action_result)
		o = state_op_find(&d->state, env->vm_action_result->action_id);
	if (o)
		d->finishing = *o;
	else
		memset(&d->finishing, 0, sizeof(d->finishing));
}

static void on_action_applied(struct droverd *d, bool from_self, const Drover__VmAction *m, int r)
{
	const struct vm_op *o;
	struct op_local *l;
	char b1[32], b2[32];

	if (from_self && m->vm)
		undelivered_drop(d, m->vm);
	if (r != 1) {
		log_warn("VM action %llx on '%s' not applied: %s", (unsigned long long)m->action_id,
			 m->vm ? m->vm : "", r == -EBUSY ? "the VM has another operation or job"
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
	o = state_op_find(&d->state, m->action_id);
	if (!o)
		return;
	log_info("operation %llx: %s VM '%s' on %s%s%s", (unsigned long long)o->id,
		 kind_name(o->kind), o->vm, name_of(d, o->node, b1, sizeof(b1)), o->target ? " to " : "",
		 o->target ? name_of(d, o->target, b2, sizeof(b2)) : "");
	/* Until the nodes involved report afresh, the VM may be on either. */
	droverd_obs_touch(d, o->node, o->vm);
	if (o->target)
		droverd_obs_touch(d, o->target, o->vm);
	l = local_of(d, o->id, true);
	if (l && o->node == d->local_id)
		execute(d, o, l);
}

static void on_result_applied(struct droverd *d, bool from_self, const Drover__VmActionResult *m,
			      int r)
{
	const struct vm_op *o = &d->finishing;
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
			log_notice("%s of VM '%s' on %s done", kind_name(o->kind), o->vm,
				   name_of(d, o->node, b, sizeof(b)));
		else
			log_warn("%s of VM '%s' on %s failed: %s", kind_name(o->kind), o->vm,
				 name_of(d, o->node, b, sizeof(b)), m->error);
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
	for (size_t i = 0; i < d->state.n_ops; i++) {
		const struct vm_op *o = &d->state.ops[i];
		struct op_local *l;

		if (o->node == d->local_id) {
			l = local_of(d, o->id, false);
			if (l && l->done) {
				send_result(d, o->id, o->origin, o->request_id, l->exit_code, l->error);
			} else if (!l || !l->job_id) {
				/* Ours, but nothing here runs it: this droverd restarted meanwhile. */
				snprintf(msg, sizeof(msg), "droverd on %s restarted during the %s; see "
					 "`drover vm list`", name_of(d, o->node, b, sizeof(b)),
					 kind_name(o->kind));
				l = local_of(d, o->id, true);
				if (l)
					finish_local(d, l, DROVER_EXIT_ERROR, msg);
			}
		} else if (coord == d->local_id && !droverd_is_member(d, o->node)) {
			snprintf(msg, sizeof(msg), "%s left the cluster during the %s; see `drover vm "
				 "list`", name_of(d, o->node, b, sizeof(b)), kind_name(o->kind));
			send_result(d, o->id, o->origin, o->request_id, DROVER_EXIT_ERROR, msg);
		}
	}
	/* Forget local records of operations the state no longer has. */
	for (size_t i = 0; i < DROVER_MAX_OPS; i++)
		if (d->op_local[i].id && !state_op_find(&d->state, d->op_local[i].id))
			memset(&d->op_local[i], 0, sizeof(d->op_local[i]));
}

void vm_actions_on_progress(struct droverd *d, uint32_t from, const Drover__VmActionProgress *m)
{
	const struct vm_op *o = state_op_find(&d->state, m->action_id);
	const Drover__MigrationProgress *p = m->migration;
	struct op_local *l;

	if (!o || from != o->node || !p || !(l = local_of(d, o->id, true)))
		return;
	/* Progress never goes backwards on screen, whatever arrives. */
	if (l->has_progress && p->memory_processed < l->progress.memory_processed)
		return;
	drover__migration_progress__init(&l->progress);
	l->progress.iteration = p->iteration;
	l->progress.elapsed_ms = p->elapsed_ms;
	l->progress.memory_total = p->memory_total;
	l->progress.memory_processed = p->memory_processed;
	l->progress.memory_remaining = p->memory_remaining;
	l->progress.bytes_per_s = p->bytes_per_s;
	l->progress.dirty_rate = p->dirty_rate;
	l->has_progress = true;
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

void vm_actions_job_progress(struct droverd *d, uint64_t job_id, const Drover__MigrationProgress *p)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmActionProgress m = DROVER__VM_ACTION_PROGRESS__INIT;
	struct op_local *l = find_job(d, job_id);

	if (!l || !p)
		return;
	m.action_id = l->id;
	m.migration = (Drover__MigrationProgress *)p;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_PROGRESS;
	env.vm_action_progress = &m;
	membership_send(d, &env, false);
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
