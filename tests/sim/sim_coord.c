/*
 * The coordinator, as the simulated lowest member of a quorate configuration
 * runs it: the VM decision (vm_decide(), as vm_actions.c calls it) with its
 * held requests, the queue's decisions (coord_decide() and the messages
 * coord_messages() makes of them, as drain.c sends them) and failover.c's
 * round (recover_decide()). sim_coord_all() lets it decide until it has
 * nothing more to say.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_input.h"
#include "sim.h"

static bool undelivered_has(const struct replica *r, const char *vm)
{
	for (size_t i = 0; i < r->n_undelivered; i++)
		if (strcmp(r->undelivered[i], vm) == 0)
			return true;
	return false;
}
/* A decision of r's is sent and not delivered yet: the queue's, recovery's or a VM action. */
bool sim_coord_in_flight(const struct replica *r)
{
	return S.bus_head < r->queue_wait_tail || r->n_undelivered;
}

void sim_coord_vm_request(struct replica *r, const struct held *q, bool may_hold)
{
	struct vmd_node nodes[MAX_NODES];
	struct vmd_view v = { .state = &r->state, .n_nodes = S.n, .nodes = nodes };
	struct vmd_request rq = { .kind = q->kind, .vm = q->vm,
				  .in_flight = undelivered_has(r, q->vm),
				  .others_in_flight = sim_coord_in_flight(r),
				  .may_hold = may_hold && r->n_held < MAX_HELD };
	struct locate_result loc;
	struct vmd_decision dec;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction act = DROVER__VM_ACTION__INIT;

	for (size_t i = 0; i < S.n; i++) {
		const struct node_obs *o = obs_find(r->obs, S.r[i].id);
		uint64_t load = 0;
		uint32_t vcpus;

		coord_input_load(&r->state, o, &load, &vcpus);
		nodes[i] = (struct vmd_node){ .id = S.r[i].id, .name = S.r[i].name,
					      .member = false, .agent_ok = o && o->agent_ok && o->current,
					      .memory_mib = o ? o->memory_mib : 0, .load_mib = load };
		for (size_t m = 0; m < r->n_members; m++)
			nodes[i].member |= r->members[m] == S.r[i].id;
	}
	replica_locate(r, q->vm, &loc);
	if (vm_decide(&v, &rq, &loc, &dec) < 0) {
		violation("%s could not decide", r->name);
		return;
	}
	if (dec.kind == VMD_HOLD) {
		r->held[r->n_held] = *q;
		if (r->held[r->n_held++].logged)
			return;
		r->held[r->n_held - 1].logged = true;
		LOG("t=%d %s holds: %s %s: %s", S.tick, r->name, sim_kind_name(q->kind), q->vm, dec.message);
		return;
	}
	if (dec.kind == VMD_ANSWER) {
		LOG("t=%d %s answers %s: %s %s: exit %d: %s", S.tick, r->name, nm(q->origin),
		    sim_kind_name(q->kind), q->vm, dec.exit_code, dec.message);
		replica_send_result(r, 0, q->origin, q->request_id, dec.exit_code, dec.message);
		return;
	}
	/* The simulator's own check of the invariant the decision must keep. */
	if (q->kind == DROVER__VM_ACTION_KIND__VM_ACTION_START)
		for (size_t i = 0; i < S.n; i++)
			if (S.h[i].powered && world_host_runs(S.r[i].id, q->vm))
				violation("%s decided to start %s on %s while %s runs it", r->name, q->vm,
					  nm(dec.node), S.r[i].name);
	act.kind = q->kind;
	act.vm = (char *)q->vm;
	act.node = dec.node;
	act.network = "";
	act.origin_node = q->origin;
	act.request_id = q->request_id;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &act;
	LOGD("t=%d %s decides: %s %s on %s", S.tick, r->name, sim_kind_name(q->kind), q->vm,
	    nm(dec.node));
	replica_send(r, &env);
	if (r->n_undelivered < MAX_HELD)
		strscpy(r->undelivered[r->n_undelivered++], q->vm, DROVER_VM_NAME_MAX);
}

void sim_coord_retry_held(struct replica *r, bool expire)
{
	struct held q[MAX_HELD];
	size_t n = r->n_held;

	memcpy(q, r->held, n * sizeof(q[0]));
	r->n_held = 0;
	for (size_t i = 0; i < n; i++) {
		if (replica_coordinator(r) != r->id) {
			LOG("t=%d %s answers %s: %s %s: exit %d: the coordinator changed; retry", S.tick,
			    r->name, nm(q[i].origin), sim_kind_name(q[i].kind), q[i].vm,
			    DROVER_EXIT_UNAVAILABLE);
			replica_send_result(r, 0, q[i].origin, q[i].request_id, DROVER_EXIT_UNAVAILABLE,
				    "the coordinator changed while the request waited; retry");
			continue;
		}
		sim_coord_vm_request(r, &q[i], !(expire && S.tick >= q[i].expires));
	}
}

/* drain.c's input_build(): the coordinator's input as r knows it now; in points into *buf. */
struct coord_buf {
	struct queue_view view;
	struct coord_node nodes[DROVER_MAX_NODES];
	const char **names;
	const char *busy[DROVER_MAX_OPS];
};

static void coord_input_build(const struct replica *r, struct coord_input *in, struct coord_buf *buf)
{
	struct queue_view *view = &buf->view;

	queue_view_init(view);
	view->limits.per_source = r->state.limits.per_source;
	view->limits.per_target = r->state.limits.per_target;
	view->limits.cluster = r->state.limits.cluster;
	for (size_t i = 0; i < S.n; i++) {
		const struct node_obs *o = obs_find(r->obs, S.r[i].id);
		struct queue_node qn;

		memset(&qn, 0, sizeof(qn));
		qn.id = S.r[i].id;
		strscpy(qn.name, S.r[i].name, sizeof(qn.name));
		qn.online = replica_is_member(r, qn.id) && o && o->agent_ok;
		qn.usable_target = qn.online && coord_input_may_receive(&r->state, qn.id);
		coord_input_room(&r->state, o, &qn.free_mib, &qn.free_vcpus);
		queue_view_add_node(view, &qn);
	}
	/* The networks' health: the links' truth (the nodes' probes are not simulated). */
	for (size_t k = 0; k < S.n_nets; k++) {
		uint32_t cap = 0;

		/* As drain_build_view(): the replicated caps, by name. */
		for (size_t c = 0; c < r->state.limits.n_caps; c++)
			if (strcmp(r->state.limits.caps[c].network, S.nets[k].name) == 0)
				cap = r->state.limits.caps[c].cap;
		queue_view_add_network(view, S.nets[k].name, cap);
		for (uint32_t a = 1; a <= S.n; a++)
			for (uint32_t b = a + 1; b <= S.n; b++)
				if (world_net_usable(k, a, b))
					queue_view_set_usable(view, k, a, b, true);
	}
	memset(in, 0, sizeof(*in));
	buf->names = xcalloc(coord_input_n_names(r->obs) + 1, sizeof(*buf->names));
	in->n_nodes = coord_input_nodes(r->obs, r->members, r->n_members, buf->nodes,
					DROVER_MAX_NODES, buf->names);
	in->n_busy = coord_input_busy(&r->state, buf->busy, DROVER_MAX_OPS);
	in->state = &r->state;
	in->view = view;
	in->nodes = buf->nodes;
	in->busy = buf->busy;
	in->n_aborted = r->n_aborted;
	in->aborted = r->aborted;
	in->now_ms = S.now_ms;
}

static void coord_buf_free(struct coord_buf *buf)
{
	free(buf->names);
	free(buf);
}

/* A MigrationLimits message of l; it points into l, caps and cp. */
void limits_message(const struct mig_limits *l, Drover__MigrationLimits *ret, Drover__NetworkCap *caps,
		    Drover__NetworkCap **cp)
{
	drover__migration_limits__init(ret);
	ret->set = true;
	ret->per_source = l->per_source;
	ret->per_target = l->per_target;
	ret->cluster = l->cluster;
	ret->max_retries = l->max_retries;
	for (size_t i = 0; i < l->n_caps && i < MAX_NETS; i++) {
		drover__network_cap__init(&caps[i]);
		caps[i].network = (char *)l->caps[i].network;
		caps[i].cap = l->caps[i].cap;
		cp[i] = &caps[i];
		ret->n_network_caps++;
	}
	ret->network_caps = cp;
}

struct queue_job *sim_coord_queue(const struct replica *r, size_t *ret_n)
{
	struct queue_job *jobs = xcalloc(r->state.n_jobs + 1, sizeof(*jobs));
	struct coord_buf *buf = xcalloc(1, sizeof(*buf));
	struct queue_action acts[COORD_BATCH];
	struct coord_input in;
	size_t n = 0, n_acts = 0;

	/* As reply_queue() and drain_blockers(). */
	for (size_t i = 0; i < r->state.n_jobs; i++)
		if (r->state.jobs[i].state == QUEUE_JOB_QUEUED || r->state.jobs[i].state == QUEUE_JOB_RUNNING)
			jobs[n++] = r->state.jobs[i];
	coord_input_build(r, &in, buf);
	if (coord_dispatch(&in, jobs, n, acts, COORD_BATCH, &n_acts) < 0)
		violation("%s: `drover queue` could not dispatch", r->name);
	coord_buf_free(buf);
	*ret_n = n;
	return jobs;
}

/* The coordinator's queue work, as drain.c does it: one decision, its messages. */
static bool coordinate_queue(struct replica *r)
{
	struct coord_input in;
	struct coord_buf *buf;
	struct coord_decision *dec;
	struct coord_msgs *msgs;
	size_t n_sent;

	if (!r->up || replica_coordinator(r) != r->id) {
		r->n_aborted = 0;
		return false;
	}
	/* drain.c's coordinate(): recovery's or a VM request's decision in flight. */
	if (r->n_undelivered)
		return false;
	if (!r->state.limits.set) {
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__LimitsSet m = DROVER__LIMITS_SET__INIT;
		Drover__MigrationLimits ml = DROVER__MIGRATION_LIMITS__INIT;
		Drover__NetworkCap caps[MAX_NETS], *cp[MAX_NETS];

		/* drain.c's send_limits(): the coordinator seeds its drover.conf's limits. */
		limits_message(&S.conf, &ml, caps, cp);
		m.limits = &ml;
		env.body_case = DROVER__ENVELOPE__BODY_LIMITS_SET;
		env.limits_set = &m;
		replica_send(r, &env);
		r->queue_wait_tail = S.bus_tail;
		return true;
	}
	buf = xcalloc(1, sizeof(*buf));
	coord_input_build(r, &in, buf);
	dec = xcalloc(1, sizeof(*dec));
	msgs = xcalloc(1, sizeof(*msgs));
	if (coord_decide(&in, dec) < 0) {
		violation("%s: coord_decide failed", r->name);
		coord_buf_free(buf);
		free(dec), free(msgs);
		return false;
	}
	checks_decision(r, &in, dec);
	coord_messages(dec, in.now_ms, msgs);
	if (dec->kind == COORD_ABORT && r->n_aborted < MAX_MIGS)
		r->aborted[r->n_aborted++] = dec->job_id;
	S.stats.aborts += dec->kind == COORD_ABORT;
	if (dec->kind == COORD_ABORT || dec->kind == COORD_FINISH || dec->kind == COORD_STEP_FAIL)
		LOGD("t=%d %s decides: %s job %llu: %s", S.tick, r->name,
		    dec->kind == COORD_ABORT ? "abort" : dec->kind == COORD_FINISH ? "end" : "fail the step of",
		    (unsigned long long)dec->job_id, dec->reason);
	for (size_t i = 0; i < msgs->n; i++)
		replica_send(r, &msgs->env[i]);
	n_sent = msgs->n;
	if (n_sent)
		r->queue_wait_tail = S.bus_tail;
	coord_buf_free(buf);
	free(dec);
	free(msgs);
	return n_sent > 0;
}

static int sim_locate(const void *ctx, const char *vm, struct locate_result *ret)
{
	replica_locate(ctx, vm, ret);
	return 0;
}

static void mark_undelivered(struct replica *r, const char *vm)
{
	if (r->n_undelivered < MAX_HELD)
		strscpy(r->undelivered[r->n_undelivered++], vm, DROVER_VM_NAME_MAX);
}

static void send_vm_action(struct replica *r, const struct rec_action *a,
			   Drover__VmActionKind kind, Drover__VmActionCause cause)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction act = DROVER__VM_ACTION__INIT;

	act.kind = kind;
	act.vm = (char *)a->vm;
	act.node = a->node;
	act.network = "";
	act.cause = cause;
	act.for_vm = (char *)a->for_vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &act;
	LOGD("t=%d %s decides: %s %s on %s%s%s", S.tick, r->name, rec_kind_name(a->kind), a->vm,
	    nm(a->node), *a->for_vm ? " for " : "", a->for_vm);
	replica_send(r, &env);
	mark_undelivered(r, a->vm);
}

/* failover.c's round, as the simulated coordinator runs it. true if it sent anything. */
static bool coordinate_failover(struct replica *r)
{
	struct rec_node nodes[MAX_NODES];
	struct rec_action acts[64];
	struct rec_view v;
	bool sent = false;
	int n;

	/* Every member counts how long it has seen each node gone (fence watchdog). */
	for (uint32_t id = 1; r->up && id <= S.n; id++)
		if (!replica_host_gone(r, id) || replica_is_member(r, id))
			r->gone_since[id] = 0;
		else if (!r->gone_since[id])
			r->gone_since[id] = S.now_ms ? S.now_ms : 1;
	if (!S.fence || !r->up || replica_coordinator(r) != r->id)
		return false;
	for (uint32_t id = 1; id <= S.n; id++) {
		Drover__FenceState st = state_node_fence(&r->state, id);
		Drover__Envelope env = DROVER__ENVELOPE__INIT;

		if (id == r->id)
			continue;
		if (S.fence == 3 && replica_host_gone(r, id) && r->fenced_at[id] != S.tick + 1 &&
		    (st == DROVER__FENCE_STATE__FENCE_STATE_PENDING ||
		     st == DROVER__FENCE_STATE__FENCE_STATE_FAILED)) {
			Drover__FenceResult m = DROVER__FENCE_RESULT__INIT;

			/* No device: the node counts fenced once the rule says it destroyed its VMs. */
			if (selffence_left_ms(S.now_ms, r->gone_since[id], &S.watchdog) != 0)
				continue;
			r->fenced_at[id] = S.tick + 1;
			m.node = id;
			m.ok = true;
			m.device = "watchdog (sim)";
			m.error = "";
			LOGD("t=%d %s counts %s self-fenced (gone since %llu ms)", S.tick, r->name,
			     nm(id), (unsigned long long)r->gone_since[id]);
			env.body_case = DROVER__ENVELOPE__BODY_FENCE_RESULT;
			env.fence_result = &m;
			replica_send(r, &env);
			sent = true;
			continue;
		}
		if (replica_host_gone(r, id) && st == DROVER__FENCE_STATE__FENCE_STATE_NONE &&
		    r->lost_at[id] != S.tick + 1) {
			Drover__NodeLost m = DROVER__NODE_LOST__INIT;

			m.node = id;
			m.reason = "left the configuration";
			env.body_case = DROVER__ENVELOPE__BODY_NODE_LOST;
			env.node_lost = &m;
			LOGD("t=%d %s decides: %s is lost", S.tick, r->name, nm(id));
			replica_send(r, &env);
			r->lost_at[id] = S.tick + 1;
			sent = true;
		} else if (S.fence != 3 && replica_host_gone(r, id) && r->fenced_at[id] != S.tick + 1 &&
			   (st == DROVER__FENCE_STATE__FENCE_STATE_PENDING ||
			    st == DROVER__FENCE_STATE__FENCE_STATE_FAILED)) {
			Drover__FenceResult m = DROVER__FENCE_RESULT__INIT;

			r->fenced_at[id] = S.tick + 1;
			m.node = id;
			m.ok = S.fence == 1;
			m.device = m.ok ? "device1 (sim)" : "";
			m.error = m.ok ? "" : "device1 (sim): exit 1";
			if (m.ok && S.h[id - 1].powered) {
				/* The device powers the host off, wherever it is. */
				LOGD("t=%d %s fences %s: powered off", S.tick, r->name, nm(id));
				world_host_power_off(id);
				replica_stop(rep(id));
				corosync_reconfigure();
			}
			env.body_case = DROVER__ENVELOPE__BODY_FENCE_RESULT;
			env.fence_result = &m;
			replica_send(r, &env);
			sent = true;
		} else if (!replica_host_gone(r, id) && st != DROVER__FENCE_STATE__FENCE_STATE_NONE &&
			   replica_is_member(r, id) && r->unfenced_at[id] != S.tick + 1) {
			const struct node_obs *o = obs_find(r->obs, id);
			bool second = false;
			Drover__NodeUnfenced m = DROVER__NODE_UNFENCED__INIT;

			if (!o || !o->current || !o->agent_ok)
				continue;
			for (size_t k = 0; k < o->n_domains; k++) {
				struct locate_result l;

				replica_locate(r, o->domains[k].name, &l);
				second |= l.n_also > 0 || state_op_for_vm(&r->state, o->domains[k].name);
			}
			if (second && st == DROVER__FENCE_STATE__FENCE_STATE_FENCED)
				continue;
			m.node = id;
			env.body_case = DROVER__ENVELOPE__BODY_NODE_UNFENCED;
			env.node_unfenced = &m;
			replica_send(r, &env);
			r->unfenced_at[id] = S.tick + 1;
			sent = true;
		}
	}
	if (!r->up || replica_coordinator(r) != r->id)
		return sent;
	/* failover.c's recover_round(): the queue's or a VM request's decision in flight. */
	if (sim_coord_in_flight(r))
		return sent;
	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < S.n; i++) {
		const struct node_obs *o = obs_find(r->obs, S.r[i].id);
		struct rec_node *rn = &nodes[i];

		memset(rn, 0, sizeof(*rn));
		rn->id = S.r[i].id;
		rn->usable = replica_is_member(r, rn->id) && o && o->current && o->agent_ok &&
			     state_node_get(&r->state, rn->id) == DROVER__NODE_STATE__NODE_STATE_ACTIVE &&
			     state_node_fence(&r->state, rn->id) == DROVER__FENCE_STATE__FENCE_STATE_NONE;
		if (!o)
			continue;
		rn->memory_mib = o->memory_mib;
		rn->vcpus = o->vcpus;
		coord_input_load(&r->state, o, &rn->load_mib, &rn->load_vcpus);
	}
	v.state = &r->state;
	v.n_nodes = S.n;
	v.nodes = nodes;
	v.locate = sim_locate;
	v.locate_ctx = r;
	v.max_starts = 2;
	n = recover_decide(&v, acts, 64);
	for (int i = 0; i < n; i++) {
		const struct rec_action *a = &acts[i];

		if (a->kind == REC_WAIT || undelivered_has(r, a->vm))
			continue;
		sent = true;
		if (a->kind == REC_PLACE) {
			Drover__Envelope env = DROVER__ENVELOPE__INIT;
			Drover__VmPlaced m = DROVER__VM_PLACED__INIT;

			m.vm = (char *)a->vm;
			m.owner = a->owner;
			m.want = a->want;
			m.reason = (char *)a->reason;
			env.body_case = DROVER__ENVELOPE__BODY_VM_PLACED;
			env.vm_placed = &m;
			replica_send(r, &env);
			mark_undelivered(r, a->vm);
		} else if (a->kind == REC_START) {
			send_vm_action(r, a, DROVER__VM_ACTION_KIND__VM_ACTION_START,
				       DROVER__VM_ACTION_CAUSE__VM_CAUSE_RECOVERY);
		} else if (a->kind == REC_PREEMPT) {
			send_vm_action(r, a, DROVER__VM_ACTION_KIND__VM_ACTION_STOP,
				       DROVER__VM_ACTION_CAUSE__VM_CAUSE_PREEMPT);
		} else if (a->kind == REC_DESTROY) {
			send_vm_action(r, a, DROVER__VM_ACTION_KIND__VM_ACTION_STOP,
				       DROVER__VM_ACTION_CAUSE__VM_CAUSE_DUPLICATE);
		} else if (a->kind == REC_VF_ATTACH) {
			send_vm_action(r, a, DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH,
				       DROVER__VM_ACTION_CAUSE__VM_CAUSE_OPERATOR);
		}
	}
	return sent;
}

/* Let every coordinator decide until it has nothing more to say (bounded). */
void sim_coord_all(void)
{
	for (int round = 0; round < 64; round++) {
		bool sent = false;

		for (size_t i = 0; i < S.n; i++)
			sent |= coordinate_queue(&S.r[i]);
		for (size_t i = 0; i < S.n; i++)
			sent |= coordinate_failover(&S.r[i]);
		if (!sent) {
			checks_settled();
			return;
		}
		bus_deliver_all();
	}
	violation("the coordinator did not settle in 64 decisions");
}
