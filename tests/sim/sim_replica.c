/*
 * A replica: what droverd does with the core's functions, one per simulated
 * node. It sends through the simulated bus, applies delivered changes through
 * the apply-time gate and state_apply(), keeps its observation table, takes
 * part in the state exchange (sync.c), persists (its disk copy), executes the
 * agent jobs and migrations it is given, and restarts from its disk copy.
 */
#include <stdio.h>
#include <string.h>

#include "sim.h"

/* ---- the bus: corosync's agreed order ---- */

void replica_send(struct replica *r, Drover__Envelope *env)
{
	struct bus_msg *m;

	if (!r->up || S.bus_tail - S.bus_head >= MAX_BUS)
		return;
	m = &S.bus[S.bus_tail++ % MAX_BUS];
	m->from = r->id;
	if (frame_encode(env, &m->buf, &m->len) < 0) {
		violation("%s could not frame a message", r->name);
		S.bus_tail--;
	}
}

void replica_send_inventory(struct replica *r)
{
	struct host *h = &S.h[r->id - 1];
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NodeInventory m = DROVER__NODE_INVENTORY__INIT;
	Drover__AgentInventory inv = DROVER__AGENT_INVENTORY__INIT;
	_cleanup_free_ Drover__AgentDomain *doms =
		xcalloc(h->n_running + h->n_destroyed + 1, sizeof(*doms));
	_cleanup_free_ Drover__AgentDomain **ptrs =
		xcalloc(h->n_running + h->n_destroyed + 1, sizeof(*ptrs));
	size_t n = 0;

	for (size_t i = 0; i < h->n_running; i++) {
		drover__agent_domain__init(&doms[n]);
		doms[n].name = S.vms[h->running[i]].name;
		doms[n].state = DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING;
		ptrs[n] = &doms[n];
		n++;
	}
	/* failover_local_inventory(): what self-fencing destroyed is reported crashed. */
	for (size_t k = 0; k < h->n_destroyed;) {
		const char *vm = S.vms[h->destroyed[k]].name;
		const struct vm_cfg *v = state_vm_find(&r->state, vm);
		bool runs = false;

		for (size_t i = 0; i < h->n_running; i++)
			runs |= h->running[i] == h->destroyed[k];
		if (!v || runs || (v->owner && v->owner != r->id)) {
			h->destroyed[k] = h->destroyed[--h->n_destroyed];
			continue;
		}
		drover__agent_domain__init(&doms[n]);
		doms[n].name = (char *)vm;
		doms[n].state = DROVER__VM_RUN_STATE__VM_RUN_STATE_CRASHED;
		ptrs[n] = &doms[n];
		n++;
		k++;
	}
	inv.n_domains = n;
	inv.domains = ptrs;
	inv.memory_mib = h->memory_mib;
	inv.vcpus = h->cpus;
	m.inventory = &inv;
	m.agent_ok = h->agent_up;
	m.agent_error = (char *)(h->agent_up ? "" : "inventory failed: the hypervisor does not answer");
	env.body_case = DROVER__ENVELOPE__BODY_NODE_INVENTORY;
	env.node_inventory = &m;
	replica_send(r, &env);
}

void replica_send_hardware(struct replica *r)
{
	struct host *h = &S.h[r->id - 1];
	const struct node_cfg *n = state_node_find(&r->state, r->id);
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NodeHardware m = DROVER__NODE_HARDWARE__INIT;
	Drover__VfPool pool = DROVER__VF_POOL__INIT, *pp = &pool;
	char labels[DROVER_MAX_VF_DEVICES][16];
	char *lp[DROVER_MAX_VF_DEVICES];
	uint32_t have_n = 0, have_sa = n ? n->ipsec_sa_capacity : 0;

	if (n && n->n_vf_pools)
		have_n = n->vf_pools[0].n_devices;
	if (!r->up || !r->synced || !r->config_quorate ||
	    (have_n == h->vf_devices && have_sa == h->sa_capacity &&
	     (!have_n || strcmp(n->vf_pools[0].name, h->vf_pool) == 0)))
		return;
	for (uint32_t d = 0; d < h->vf_devices && d < DROVER_MAX_VF_DEVICES; d++) {
		snprintf(labels[d], sizeof(labels[d]), "vf%u", d + 1);
		lp[d] = labels[d];
	}
	pool.name = h->vf_pool;
	pool.labels = lp;
	pool.n_labels = h->vf_devices;
	m.node = r->id;
	m.vf_pools = h->vf_devices ? &pp : NULL;
	m.n_vf_pools = h->vf_devices ? 1 : 0;
	m.ipsec_sa_capacity = h->sa_capacity;
	env.body_case = DROVER__ENVELOPE__BODY_NODE_HARDWARE;
	env.node_hardware = &m;
	replica_send(r, &env);
}

void replica_send_step_result(struct replica *r, uint64_t op, uint32_t step, bool ok,
			      const char *error)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__OpStepResult m = DROVER__OP_STEP_RESULT__INIT;

	m.op_id = op;
	m.step = step;
	m.ok = ok;
	m.error = (char *)error;
	m.finished_ms = S.now_ms;
	env.body_case = DROVER__ENVELOPE__BODY_OP_STEP_RESULT;
	env.op_step_result = &m;
	replica_send(r, &env);
}

void replica_take_step(struct replica *r, const struct queue_job *j)
{
	uint32_t kind;

	if (!j || j->state != QUEUE_JOB_RUNNING || state_op_executor(j) != r->id ||
	    j->step >= j->n_plan || j->kind != QUEUE_OP_MIGRATE)
		return;
	kind = j->plan[j->step].kind;
	if (kind == DROVER__OP_STEP_KIND__OP_STEP_TRANSFER) {
		struct mig_job *m;

		for (size_t i = 0; i < r->n_migs; i++)
			if (r->migs[i].job_id == j->id)
				return;
		if (r->n_migs >= MAX_MIGS)
			return;
		m = &r->migs[r->n_migs++];
		m->job_id = j->id;
		strscpy(m->vm, j->vm, sizeof(m->vm));
		m->target = j->target;
		strscpy(m->network, j->network, sizeof(m->network));
		m->net = world_net_index(j->network);
		state_job_attempt(j, &m->attempt);
		world_migration_begin(m, j->memory_mib);
	} else if (r->n_vf_steps < MAX_MIGS) {
		r->vf_steps[r->n_vf_steps++] = (struct vf_step){ j->id, j->step };
	}
}

void replica_send_result(struct replica *r, uint64_t op, uint32_t origin, uint64_t request_id,
			int code, const char *error)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmActionResult m = DROVER__VM_ACTION_RESULT__INIT;

	m.action_id = op;
	m.ok = code == 0;
	m.exit_code = code;
	m.error = (char *)(error ? error : "");
	m.origin_node = origin;
	m.request_id = request_id;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_RESULT;
	env.vm_action_result = &m;
	replica_send(r, &env);
}

void replica_persist(struct replica *r)
{
	r->unsaved = true;
}

const struct replica *replica_coordinating(void)
{
	const struct replica *any = NULL;

	for (size_t i = 0; i < S.n; i++) {
		if (!S.r[i].up)
			continue;
		if (replica_coordinator(&S.r[i]) == S.r[i].id)
			return &S.r[i];
		if (!any)
			any = &S.r[i];
	}
	return any;
}

const struct cluster_state *replica_persisted(const struct replica *r)
{
	return r->up ? &r->state : &r->disk;
}

/* ---- the replica: what droverd.c does, with the core's functions ---- */

uint32_t replica_coordinator(const struct replica *r)
{
	return r->config_quorate && r->synced && r->n_members ? r->members[0] : 0;
}

static void nodelist(struct obs_node *nl)
{
	for (size_t i = 0; i < S.n; i++)
		nl[i] = (struct obs_node){ S.r[i].id, S.r[i].name };
}

void replica_locate(const struct replica *r, const char *vm, struct locate_result *ret)
{
	struct obs_node nl[MAX_NODES];

	nodelist(nl);
	obs_locate(r->obs, &r->state, nl, S.n, r->members, r->n_members, vm, ret);
}


const char *sim_kind_name(Drover__VmActionKind k)
{
	return k == DROVER__VM_ACTION_KIND__VM_ACTION_START	  ? "start"
	       : k == DROVER__VM_ACTION_KIND__VM_ACTION_STOP	  ? "stop"
	       : k == DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH ? "vf-attach"
								  : "migrate";
}

/* The coordinator's decision, through vm_decide() as vm_actions.c calls it. */
/* Operations that cannot finish by themselves (vm_actions_reconcile). */
void replica_reconcile(struct replica *r)
{
	if (!r->synced || !r->config_quorate)
		return;
	for (size_t i = 0; i < r->state.n_jobs; i++) {
		const struct queue_job *o = &r->state.jobs[i];
		bool mine = false, member = false;

		if (o->kind == QUEUE_OP_MIGRATE || o->state != QUEUE_JOB_RUNNING)
			continue;
		for (size_t j = 0; j < r->n_jobs; j++)
			mine |= r->jobs[j].op_id == o->id;
		for (size_t m = 0; m < r->n_members; m++)
			member |= r->members[m] == o->source;
		if (o->source == r->id && !mine)
			replica_send_result(r, o->id, o->origin_node, o->request_id, DROVER_EXIT_ERROR,
				    "droverd restarted during the action");
		else if (replica_coordinator(r) == r->id && !member)
			replica_send_result(r, o->id, o->origin_node, o->request_id, DROVER_EXIT_ERROR,
				    "the executing node left the cluster during the action");
	}
}

void replica_send_job_finish(struct replica *r, uint64_t job_id, bool ok, const char *reason)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobFinish f = DROVER__JOB_FINISH__INIT;

	f.job_id = job_id;
	f.ok = ok;
	f.reason = (char *)reason;
	f.finished_ms = S.now_ms;
	f.bytes = ok ? 1 : 0;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
	env.job_finish = &f;
	replica_send(r, &env);
}

uint64_t replica_chain(uint64_t chain, uint64_t a, uint64_t b)
{
	return state_hash_u64(state_hash_u64(chain, a), b);
}

static void sync_done(struct replica *r)
{
	r->synced = true;
	r->chain = state_hash(&r->state);
	/* sync_finished(): operations the exchange brought touch their nodes. */
	obs_touch_state(r->obs, &r->state);
	replica_reconcile(r);
	/*
	 * drain_on_synced(): a migration we execute whose attempt the cluster
	 * ended while we were away is an orphan. Its source aborts it (here at
	 * once: the VM stays here) and announces no end: the cluster's is said.
	 */
	for (size_t k = 0; k < r->n_migs;) {
		if (state_job_runs_attempt(&r->state, r->id, &r->migs[k].attempt)) {
			k++;
			continue;
		}
		LOG("t=%d %s aborts job %llu's orphan attempt (%s -> %s over %s): the cluster ended it",
		    S.tick, r->name, (unsigned long long)r->migs[k].job_id, r->migs[k].vm,
		    nm(r->migs[k].target), r->migs[k].network);
		r->migs[k] = r->migs[--r->n_migs];
	}
	/* A job running from here that we do not execute: droverd restarted under it (drain.c). */
	for (size_t i = 0; i < r->state.n_jobs; i++) {
		const struct queue_job *j = &r->state.jobs[i];
		bool ours = false;

		for (size_t k = 0; k < r->n_migs; k++)
			ours |= r->migs[k].job_id == j->id;
		if (j->kind == QUEUE_OP_MIGRATE && j->state == QUEUE_JOB_RUNNING && j->source == r->id && !ours)
			replica_send_job_finish(r, j->id, false, "droverd on the source restarted during the migration");
	}
}

/* The coordinator's queue work, as drain.c does it: one decision, its messages. */

/* Gone as a host from r's view: powered off, or on the other side of a partition. */
bool replica_host_gone(const struct replica *r, uint32_t id)
{
	return !S.h[id - 1].powered || S.h[id - 1].group != S.h[r->id - 1].group;
}

bool replica_is_member(const struct replica *r, uint32_t id)
{
	for (size_t i = 0; i < r->n_members; i++)
		if (r->members[i] == id)
			return true;
	return false;
}


/*
 * Every migration job r holds, as the newest one of its VM the simulator has
 * seen: noted from the node that sent the change (every member applies the
 * same), and kept after the queue trims the job.
 */
static void note_jobs(const struct replica *r)
{
	for (size_t i = 0; i < r->state.n_jobs; i++) {
		const struct queue_job *j = &r->state.jobs[i];
		int v = j->kind == QUEUE_OP_MIGRATE ? world_vm_index(j->vm, false) : -1;

		if (v >= 0 && j->id >= S.vms[v].last_job) {
			S.vms[v].last_job = j->id;
			S.vms[v].last_job_source = j->source;
			S.vms[v].last_job_state = j->state;
		}
	}
}

/*
 * The source's agent aborts a migration (exec_abort()): its failed JobFinish
 * re-queues the job, or ends it. Over a network with a bandwidth its agent
 * also reports its domains again, as after any migration.
 */
static void migration_abort(struct replica *r, size_t i, const char *reason)
{
	Drover__Envelope e = DROVER__ENVELOPE__INIT;
	Drover__JobFinish f = DROVER__JOB_FINISH__INIT;
	bool timed = r->migs[i].net < S.n_nets && S.nets[r->migs[i].net].mib_per_s;

	f.job_id = r->migs[i].job_id;
	f.reason = (char *)reason;
	f.finished_ms = S.now_ms;
	e.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
	e.job_finish = &f;
	replica_send(r, &e);
	r->migs[i] = r->migs[--r->n_migs];
	if (timed)
		replica_send_inventory(r);
}

/* ", plan vf-detach@n1 transfer@n1 vf-attach@n3, step 1": a plan with VF steps, for the log. */
static const char *plan_text(const struct queue_job *j)
{
	static char buf[160];
	size_t len = 0;
	bool vf = false;

	for (size_t k = 0; k < j->n_plan; k++)
		vf |= j->plan[k].kind != DROVER__OP_STEP_KIND__OP_STEP_TRANSFER;
	if (!vf)
		return "";
	len += (size_t)snprintf(buf, sizeof(buf), ", plan");
	for (size_t k = 0; k < j->n_plan && len < sizeof(buf); k++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, " %s@%s",
					j->plan[k].kind == DROVER__OP_STEP_KIND__OP_STEP_VF_DETACH ? "vf-detach"
					: j->plan[k].kind == DROVER__OP_STEP_KIND__OP_STEP_VF_ATTACH ? "vf-attach"
												   : "transfer",
					nm(j->plan[k].node));
	if (len < sizeof(buf))
		snprintf(buf + len, sizeof(buf) - len, ", step %u", j->step);
	return buf;
}

/* "; vm1 holds fast/1 on n3" or "; vm1 degraded: no VF": the VM's VF after a step, for the log. */
static const char *vf_text(const struct replica *r, const char *name)
{
	static char buf[DROVER_REASON_MAX + 128];
	const struct vm_cfg *v = state_vm_find(&r->state, name);
	char why[DROVER_REASON_MAX + 16];

	if (!v || (!v->vf_pool[0] && !v->vf.node))
		return "";
	if (v->vf.node)
		snprintf(buf, sizeof(buf), "; %s holds %s/%u on %s%s", name, v->vf.pool, v->vf.device,
			 nm(v->vf.node), v->vf.attached ? "" : " (detached)");
	else if (state_vf_degraded(v, why, sizeof(why)))
		snprintf(buf, sizeof(buf), "; %s degraded: %s", name, why);
	else
		snprintf(buf, sizeof(buf), "; %s has no VF", name);
	return buf;
}

/* A `vm migrate` this node's CLI waits for ended: its answer. */
static void awaiting_answer(struct replica *r, const struct queue_job *j)
{
	for (size_t i = 0; i < r->n_awaiting; i++)
		if (strcmp(r->awaiting[i], j->vm) == 0) {
			LOG("t=%d cli on %s: migrate %s: exit %d%s%s", S.tick, r->name, j->vm,
			    j->state == QUEUE_JOB_DONE ? 0 : DROVER_EXIT_ERROR, j->error[0] ? ": " : "",
			    j->error);
			memmove(r->awaiting[i], r->awaiting[i + 1],
				(--r->n_awaiting - i) * sizeof(r->awaiting[0]));
			break;
		}
}

static void on_change(struct replica *r, uint32_t from, const Drover__Envelope *env)
{
	enum apply_verdict v = apply_gate(&r->state, r->members, r->n_members, r->config_quorate,
					  r->synced, from, env);
	struct queue_job before;
	bool have_before = false;
	size_t unfinished = state_jobs_unfinished(&r->state);
	uint64_t next_id = r->state.next_job_id;
	int ret;

	if ((env->body_case == DROVER__ENVELOPE__BODY_VM_ACTION ||
	     env->body_case == DROVER__ENVELOPE__BODY_VM_PLACED) && from == r->id)
		for (size_t i = 0; i < r->n_undelivered; i++)
			if (strcmp(r->undelivered[i], env->body_case == DROVER__ENVELOPE__BODY_VM_ACTION
							       ? env->vm_action->vm
							       : env->vm_placed->vm) == 0) {
				memmove(r->undelivered[i], r->undelivered[i + 1],
					(--r->n_undelivered - i) * sizeof(r->undelivered[0]));
				break;
			}
	if (v != APPLY_OK) {
		LOGD("t=%d %s drops body %d from %s: %s", S.tick, r->name, (int)env->body_case, nm(from),
		    apply_verdict_text(v));
		return;
	}
	if (env->body_case == DROVER__ENVELOPE__BODY_JOB_FINISH && from == r->id) {
		const struct queue_job *j = state_job_find(&r->state, env->job_finish->job_id);

		if (j)
			before = *j, have_before = true;
	}
	ret = state_apply(&r->state, env);
	if (ret < 0) {
		LOGD("t=%d %s rejects body %d from %s: %s", S.tick, r->name, (int)env->body_case,
		    nm(from), strerror(-ret));
		/* vm_actions.c answers the origin of a decision every member refused. */
		if (env->body_case == DROVER__ENVELOPE__BODY_VM_ACTION &&
		    env->vm_action->origin_node == r->id)
			LOG("t=%d cli on %s: %s %s: exit %d: the VM has another operation or a "
			    "migration job", S.tick, r->name, sim_kind_name(env->vm_action->kind),
			    env->vm_action->vm, DROVER_EXIT_UNAVAILABLE);
		return;
	}
	if (ret == 0)
		return;
	replica_persist(r);
	r->chain = replica_chain(r->chain, S.delivering, (uint64_t)env->body_case);
	if (from == r->id) {
		checks_applied(r, env, have_before ? &before : NULL, next_id);
		summary_count(r, env, unfinished);
		if (env->body_case == DROVER__ENVELOPE__BODY_JOBS_ADD ||
		    env->body_case == DROVER__ENVELOPE__BODY_JOB_FINISH ||
		    env->body_case == DROVER__ENVELOPE__BODY_JOBS_CANCEL)
			note_jobs(r);
	}
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_VM_ADD:
		LOGD("t=%d %s applies VmAdd %s (term %llu epoch %llu)", S.tick, r->name,
		    env->vm_add->vm->name, (unsigned long long)r->state.term,
		    (unsigned long long)r->state.epoch);
		break;
	case DROVER__ENVELOPE__BODY_VM_ACTION: {
		const Drover__VmAction *a = env->vm_action;
		const struct queue_job *o = state_op_for_vm(&r->state, a->vm);

		obs_touch(r->obs, a->node, a->vm);
		if (o && a->node == r->id && r->n_jobs < MAX_JOBS) {
			struct agent_job *j = &r->jobs[r->n_jobs++];

			j->op_id = o->id;
			j->kind = a->kind;
			strscpy(j->vm, a->vm, sizeof(j->vm));
			j->origin = a->origin_node;
			j->request_id = a->request_id;
		}
		if (r->id == 1 || a->node == r->id)
			LOGD("t=%d %s applies: %s %s on %s", S.tick, r->name, sim_kind_name(a->kind), a->vm,
			    nm(a->node));
		break;
	}
	case DROVER__ENVELOPE__BODY_JOB_START: {
		const struct queue_job *j = state_job_find(&r->state, env->job_start->job_id);

		if (!j)
			break;
		obs_touch(r->obs, j->source, j->vm);
		obs_touch(r->obs, j->target, j->vm);
		for (size_t i = 0; i < r->n_aborted; i++)
			if (r->aborted[i] == j->id)
				r->aborted[i] = r->aborted[--r->n_aborted];
		replica_take_step(r, j);
		if (r->id == 1 || j->source == r->id)
			LOGD("t=%d %s applies: job %llu %s %s -> %s over %s%s", S.tick, r->name,
			    (unsigned long long)j->id, j->vm, nm(j->source), nm(j->target), j->network,
			    plan_text(j));
		break;
	}
	case DROVER__ENVELOPE__BODY_NODE_HARDWARE:
		if (r->id == 1 || from == r->id)
			LOGD("t=%d %s applies: %s has %zu VF pool(s)%s%s (%u), IPsec SA capacity %u",
			    S.tick, r->name, nm(env->node_hardware->node), env->node_hardware->n_vf_pools,
			    env->node_hardware->n_vf_pools ? " " : "",
			    env->node_hardware->n_vf_pools ? env->node_hardware->vf_pools[0]->name : "",
			    env->node_hardware->n_vf_pools
				    ? (unsigned)env->node_hardware->vf_pools[0]->n_labels
				    : 0u,
			    env->node_hardware->ipsec_sa_capacity);
		break;
	case DROVER__ENVELOPE__BODY_OP_STEP_RESULT: {
		const Drover__OpStepResult *m = env->op_step_result;
		const struct queue_job *j = state_job_find(&r->state, m->op_id);

		if (j && (r->id == 1 || from == r->id))
			LOGD("t=%d %s applies: job %llu %s step %u %s%s%s; now %s%s", S.tick, r->name,
			    (unsigned long long)j->id, j->vm, m->step, m->ok ? "ok" : "failed",
			    m->error[0] ? ": " : "", m->error, queue_job_state_name(j->state),
			    vf_text(r, j->vm));
		replica_take_step(r, j);
		if (j && j->state != QUEUE_JOB_RUNNING && j->state != QUEUE_JOB_QUEUED)
			awaiting_answer(r, j);
		break;
	}
	case DROVER__ENVELOPE__BODY_JOB_FINISH: {
		const struct queue_job *j = state_job_find(&r->state, env->job_finish->job_id);

		if (j && (r->id == 1 || j->source == r->id))
			LOGD("t=%d %s applies: job %llu %s %s%s%s%s%s", S.tick, r->name, (unsigned long long)j->id,
			    j->vm, queue_job_state_name(j->state), *env->job_finish->reason ? ": " : "",
			    env->job_finish->reason, j->state == QUEUE_JOB_RUNNING ? plan_text(j) : "",
			    vf_text(r, j->vm));
		replica_take_step(r, j);
		if (j && j->state != QUEUE_JOB_QUEUED && j->state != QUEUE_JOB_RUNNING)
			awaiting_answer(r, j);
		break;
	}
	case DROVER__ENVELOPE__BODY_JOBS_ADD:
		if (r->id == 1 || from == r->id)
			LOGD("t=%d %s applies: %zu job(s) queued, %zu unfinished", S.tick, r->name,
			    env->jobs_add->n_jobs, state_jobs_unfinished(&r->state));
		break;
	case DROVER__ENVELOPE__BODY_LIMITS_SET:
		/* An operator's (`drover config set`), not the coordinator's seeding. */
		if ((r->id == 1 || from == r->id) && env->limits_set->request_id)
			LOGD("t=%d %s applies: limits %u out, %u in, %u in all, %u retries", S.tick,
			     r->name, r->state.limits.per_source, r->state.limits.per_target,
			     r->state.limits.cluster, r->state.limits.max_retries);
		break;
	case DROVER__ENVELOPE__BODY_JOBS_CANCEL:
		if (r->id == 1 || from == r->id)
			LOGD("t=%d %s applies: jobs cancelled: %s", S.tick, r->name, env->jobs_cancel->reason);
		/* drain_on_applied(): with --abort every source aborts its cancelled migrations. */
		for (size_t i = 0; env->jobs_cancel->abort && i < r->n_migs;) {
			const struct queue_job *j = state_job_find(&r->state, r->migs[i].job_id);

			if (j && j->cancel_requested)
				migration_abort(r, i, "drain cancelled with --abort");
			else
				i++;
		}
		break;
	case DROVER__ENVELOPE__BODY_SET_NODE_STATE:
		if (r->id == 1 || from == r->id)
			LOGD("t=%d %s applies: %s is %s", S.tick, r->name, nm(env->set_node_state->node_id),
			    node_state_name(env->set_node_state->state));
		break;
	case DROVER__ENVELOPE__BODY_NODE_LOST:
		if (r->id == replica_coordinator(r))
			LOGD("t=%d %s applies: %s is lost", S.tick, r->name, nm(env->node_lost->node));
		break;
	case DROVER__ENVELOPE__BODY_FENCE_RESULT:
		/* droverd.c's apply: the fenced node is off, its touches settled. */
		if (env->fence_result->ok)
			obs_on_fenced(r->obs, env->fence_result->node);
		if (r->id == replica_coordinator(r) || from == r->id)
			LOGD("t=%d %s applies: %s %s%s%s", S.tick, r->name, nm(env->fence_result->node),
			    env->fence_result->ok ? "fenced by " : "not fenced: ",
			    env->fence_result->ok ? env->fence_result->device : "",
			    env->fence_result->error);
		break;
	case DROVER__ENVELOPE__BODY_VM_PLACED:
		if (r->id == replica_coordinator(r))
			LOGD("t=%d %s applies: %s owner %s, %s", S.tick, r->name, env->vm_placed->vm,
			    env->vm_placed->owner ? nm(env->vm_placed->owner) : "none",
			    vm_want_name(env->vm_placed->want));
		break;
	case DROVER__ENVELOPE__BODY_NODE_UNFENCED:
		if (r->id == replica_coordinator(r))
			LOGD("t=%d %s applies: %s is usable again", S.tick, r->name,
			    nm(env->node_unfenced->node));
		break;
	case DROVER__ENVELOPE__BODY_VM_ACTION_RESULT: {
		/* Ended, and kept a while in the table: whose client asked. */
		const struct queue_job *o = state_op_find(&r->state, env->vm_action_result->action_id);

		if (o && o->origin_node == r->id)
			LOG("t=%d cli on %s: %s %s: exit %d%s%s", S.tick, r->name,
			    state_op_kind_name(o->kind), o->vm, env->vm_action_result->exit_code,
			    *env->vm_action_result->error ? ": " : "", env->vm_action_result->error);
		if (o && o->kind == QUEUE_OP_VF_ATTACH && r->id == replica_coordinator(r))
			LOGD("t=%d %s applies: vf-attach %s on %s %s%s", S.tick, r->name, o->vm,
			    nm(o->source), env->vm_action_result->ok ? "done" : "failed",
			    vf_text(r, o->vm));
		break;
	}
	default:
		break;
	}
}

static void on_full(struct replica *r, uint32_t from, const Drover__StateFull *full)
{
	struct cluster_state s;

	if (!sync_awaits_full(&r->sync, from))
		return;
	if (!full->state || state_from_proto(full->state, &s) < 0 ||
	    !sync_full_matches(&r->sync, s.epoch, state_hash(&s))) {
		LOG("t=%d %s: the full state from %s is invalid", S.tick, r->name, nm(from));
		sync_on_full_invalid(&r->sync, r->id, from);
		return;
	}
	sync_on_full(&r->sync, from);
	if (state_hash(&s) != state_hash(&r->state)) {
		LOG("t=%d %s adopts %s's state (term %llu epoch %llu; had term %llu epoch %llu)",
		    S.tick, r->name, nm(from), (unsigned long long)s.term, (unsigned long long)s.epoch,
		    (unsigned long long)r->state.term, (unsigned long long)r->state.epoch);
		state_free(&r->state);
		r->state = s;
		replica_persist(r);
	} else {
		state_free(&s);
	}
	sync_done(r);
}

void replica_deliver(struct replica *r, uint32_t from, const Drover__Envelope *env)
{
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_STATE_DIGEST: {
		const Drover__StateDigest *dg = env->state_digest;

		switch (sync_on_digest(&r->sync, r->id, from, dg->term, dg->epoch, dg->hash)) {
		case SYNC_DONE:
			sync_done(r);
			break;
		case SYNC_SEND_FULL: {
			Drover__Envelope e = DROVER__ENVELOPE__INIT;
			Drover__StateFull full = DROVER__STATE_FULL__INIT;
			Drover__ClusterState cs;
			struct state_proto_storage st;

			state_to_proto(&r->state, &cs, &st);
			full.state = &cs;
			e.body_case = DROVER__ENVELOPE__BODY_STATE_FULL;
			e.state_full = &full;
			replica_send(r, &e);
			state_proto_storage_free(&st);
			break;
		}
		default:
			break;
		}
		break;
	}
	case DROVER__ENVELOPE__BODY_STATE_FULL:
		on_full(r, from, env->state_full);
		break;
	case DROVER__ENVELOPE__BODY_NODE_INVENTORY:
		obs_on_inventory(r->obs, &r->state, from, env->node_inventory);
		if (r->n_held && replica_coordinator(r) == r->id)
			sim_coord_retry_held(r, false);
		break;
	case DROVER__ENVELOPE__BODY_VM_REQUEST: {
		const Drover__VmRequest *m = env->vm_request;
		struct held q = { .kind = m->kind, .origin = from,
				  .request_id = m->request_id, .expires = S.tick + HOLD_TICKS };

		if (replica_coordinator(r) != r->id)
			break;
		strscpy(q.vm, m->vm ? m->vm : "", sizeof(q.vm));
		sim_coord_vm_request(r, &q, true);
		break;
	}
	case DROVER__ENVELOPE__BODY_JOB_ABORT:
		/* The source aborts its migration; its JobFinish re-queues the job. */
		for (size_t i = 0; i < r->n_migs; i++)
			if (r->migs[i].job_id == env->job_abort->job_id && from == r->members[0]) {
				migration_abort(r, i, env->job_abort->reason);
				break;
			}
		break;
	case DROVER__ENVELOPE__BODY_VM_ACTION_RESULT:
		if (!env->vm_action_result->action_id) {
			if (env->vm_action_result->origin_node == r->id)
				LOG("t=%d cli on %s: exit %d: %s", S.tick, r->name,
				    env->vm_action_result->exit_code, env->vm_action_result->error);
			break;
		}
		on_change(r, from, env);
		break;
	default:
		if (apply_gate_is_change(env))
			on_change(r, from, env);
		break;
	}
}

/* Deliver everything on the bus; within its own group only (a partition's first moments). */

void replica_start(struct replica *r)
{
	/* The scenario's registry was written to n1's disk alone: every node's file holds it. */
	for (size_t i = 1; S.disks_pending && i < S.n; i++) {
		state_free(&S.r[i].disk);
		state_copy(&S.r[0].disk, &S.r[i].disk);
	}
	S.disks_pending = false;
	r->up = true;
	state_free(&r->state);
	state_copy(&r->disk, &r->state);
	r->n_members = 0;
	r->synced = false;
	r->config_quorate = false;
	r->n_held = r->n_undelivered = r->n_jobs = r->n_vf_steps = 0;
	r->queue_wait_tail = 0;
	obs_free(r->obs);
	memset(&r->sync, 0, sizeof(r->sync));
}

void replica_stop(struct replica *r)
{
	if (r->up && r->unsaved) {
		/* What it applied last is on disk: the state itself moves there. */
		state_free(&r->disk);
		r->disk = r->state;
		state_init(&r->state);
		r->unsaved = false;
	}
	r->up = false;
	r->n_members = 0;
	r->n_jobs = 0;
	r->n_vf_steps = 0;
	r->n_migs = 0;
	r->n_aborted = 0;
}

