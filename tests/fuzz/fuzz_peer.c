/*
 * Fuzz target: every peer message handler of the replicated state, fed
 * through the dispatch droverd runs on a delivered CPG message
 * (droverd_on_peer_message and on_change in daemon/droverd.c): the frame
 * decoder, the transport check (a peer body), the membership check, the
 * apply-time gate (core/apply_gate.c) and state_apply() for the state
 * changes; the state exchange (core/sync.c, state_from_proto, the chunked
 * transfer of core/state_xfer.c) for StateDigest, StateFull and StateChunk;
 * the observation table (core/observe.c) for NodeInventory; the
 * coordinator's decisions on a VmRequest (core/vmdecide.c) and, after every
 * delivery, on the migration queue (core/coord.c), their messages delivered
 * back. droverd.c itself
 * needs corosync and libqb's loop, so this file is the glue it has around
 * the core, for one node (node 1) of a four-node nodelist; the simulator's
 * replica (tests/sim/sim_replica.c) is the same glue.
 *
 * The input is a sequence of events, each one control byte then, for a
 * message, one frame as CPG carries it (4-byte length, Envelope):
 *   ctl & 0xe0 == 0xe0  a configuration change: the next byte's low 4 bits
 *                        are the new members (bit i: node i+1), no frame;
 *   else                 a message from node 1 + (ctl & 3) (node 4 is not a
 *                        member at first), delivered in a configuration
 *                        that is quorate unless ctl & 0x08 says otherwise,
 *                        with the state exchange marked done unless ctl & 0x10.
 * The seeds (make_seeds.c) are real messages in this form.
 *
 * After every event the state's invariants are checked: it encodes (as the
 * state file and the exchange do) and decodes to the same hash and size, its
 * deep copy hashes the same, a refused or no-op change left it untouched,
 * an applied one counted one epoch, and every VM can be located.
 */
#include <errno.h>
#include <string.h>

#include "apply_gate.h"
#include "coord.h"
#include "coord_input.h"
#include "coord_msgs.h"
#include "frame.h"
#include "fuzz.h"
#include "observe.h"
#include "quorum_rule.h"
#include "state.h"
#include "state_xfer.h"
#include "sync.h"
#include "util.h"
#include "vmdecide.h"

#define LOCAL_ID 1u
/* FUZZ_TRACE=1 in the environment: what happened to each event, to check a seed. */
#define trace(...)                                   \
	do {                                         \
		if (getenv("FUZZ_TRACE"))            \
			fprintf(stderr, __VA_ARGS__); \
	} while (0)
#define N_NODES 4u

struct peer_node {
	struct cluster_state state;
	struct node_obs obs[OBS_TABLE_SIZE];
	struct sync_round sync;
	struct state_xfer_rx xfer;
	uint32_t members[N_NODES];
	size_t n_members;
	bool config_quorate, synced;
};

static bool is_member(const struct peer_node *p, uint32_t id)
{
	for (size_t i = 0; i < p->n_members; i++)
		if (p->members[i] == id)
			return true;
	return false;
}

/* The state's invariants: what every member must be able to send, persist and reload. */
static void check_state(const struct peer_node *p)
{
	struct cluster_state back, copy;
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t h = state_hash(&p->state);
	int r;

	r = state_xfer_encode(&p->state, &buf, &len);
	fuzz_check(r == 0, "the state does not encode: %d", r);
	r = state_xfer_decode(buf, len, &back);
	fuzz_check(r == 0, "the encoded state does not decode: %d (%zu VMs, %zu jobs)", r,
		   p->state.n_vms, p->state.n_jobs);
	fuzz_check(state_hash(&back) == h, "the state changed through encode and decode");
	fuzz_check(back.n_vms == p->state.n_vms && back.n_jobs == p->state.n_jobs &&
			   back.epoch == p->state.epoch && back.term == p->state.term &&
			   back.registry_bytes == p->state.registry_bytes,
		   "encode and decode changed the state's counts");
	state_free(&back);
	free(buf);

	state_copy(&p->state, &copy);
	fuzz_check(state_hash(&copy) == h, "a copy of the state hashes differently");
	state_free(&copy);

	for (size_t i = 1; i < p->state.n_vms; i++)
		fuzz_check(strcmp(p->state.vms[i - 1].name, p->state.vms[i].name) < 0,
			   "the registry is not sorted by name");
	for (size_t i = 1; i < p->state.n_jobs; i++)
		fuzz_check(p->state.jobs[i - 1].id < p->state.jobs[i].id,
			   "the operations are not sorted by id");
	fuzz_check(p->state.n_vms <= DROVER_MAX_VMS, "too many VMs");
	fuzz_check(p->state.n_jobs <= DROVER_MAX_JOBS, "too many operations");
	fuzz_check(p->state.n_history <= DROVER_HISTORY_MAX, "too much history");
	fuzz_check(p->state.registry_bytes <= DROVER_REGISTRY_MAX, "the registry is over its bound");

	/* At most one unfinished operation per VM (state.h). */
	for (size_t i = 0; i < p->state.n_vms; i++) {
		const struct queue_job *o = state_op_for_vm(&p->state, p->state.vms[i].name);
		struct obs_node nl[N_NODES];
		struct locate_result loc;
		size_t open = 0;

		for (size_t j = 0; j < p->state.n_jobs; j++)
			if (strcmp(p->state.jobs[j].vm, p->state.vms[i].name) == 0 &&
			    (p->state.jobs[j].state == QUEUE_JOB_QUEUED ||
			     p->state.jobs[j].state == QUEUE_JOB_RUNNING))
				open++;
		fuzz_check(open <= 1, "VM '%s' has %zu unfinished operations",
			   p->state.vms[i].name, open);
		fuzz_check(!open || o, "state_op_for_vm misses VM '%s''s operation",
			   p->state.vms[i].name);
		for (uint32_t n = 0; n < N_NODES; n++)
			nl[n] = (struct obs_node){ n + 1, "n" };
		r = obs_locate(p->obs, &p->state, nl, N_NODES, p->members, p->n_members,
			       p->state.vms[i].name, &loc);
		fuzz_check(r >= 0 || r == -ENOENT, "cannot locate VM '%s': %d", p->state.vms[i].name, r);
	}
}

static void on_confchg(struct peer_node *p, uint8_t mask)
{
	uint32_t old[N_NODES], joined[N_NODES];
	size_t n_old = p->n_members, n_joined = 0;
	struct quorum_voter voters[N_NODES];
	uint32_t votes, expected;

	/* The local node is always in its own configuration. */
	mask |= 1u << (LOCAL_ID - 1);
	memcpy(old, p->members, sizeof(old));
	p->n_members = 0;
	for (uint32_t i = 0; i < N_NODES; i++) {
		bool was = false;

		if (!(mask & (1u << i)))
			continue;
		p->members[p->n_members++] = i + 1;
		for (size_t k = 0; k < n_old; k++)
			was |= old[k] == i + 1;
		if (!was)
			joined[n_joined++] = i + 1;
	}
	for (uint32_t i = 0; i < N_NODES; i++)
		voters[i] = (struct quorum_voter){ i + 1, 1 };
	p->config_quorate = quorum_rule_quorate(voters, N_NODES, 0, p->members, p->n_members,
						&votes, &expected);
	/* As droverd_on_confchg(): a quorate configuration starts a term, then the exchange. */
	if (p->config_quorate)
		state_term_bump(&p->state);
	if (n_joined || p->sync.active || !p->synced) {
		p->synced = false;
		sync_begin(&p->sync, p->members, p->n_members);
	}
	obs_on_confchg(p->obs, p->members, p->n_members, joined, n_joined, false);
}

static void on_message(struct peer_node *p, uint32_t from, uint8_t ctl,
		       const Drover__Envelope *env);

/*
 * A VmRequest reaches the coordinator (node 1 when it is the lowest member of
 * a quorate, synchronised configuration): vm_actions.c decides with
 * core/vmdecide.c over the observations, and multicasts the VmAction it
 * decided, which is delivered back like any other. The invariant of issue 8:
 * never a start while the VM may run somewhere.
 */
static void on_vm_request(struct peer_node *p, uint32_t from, const Drover__VmRequest *m)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction act = DROVER__VM_ACTION__INIT;
	struct vmd_node nodes[N_NODES];
	struct obs_node nl[N_NODES];
	struct vmd_view view = { .state = &p->state, .n_nodes = N_NODES, .nodes = nodes };
	struct vmd_request rq = { .kind = m->kind, .vm = m->vm, .may_hold = true };
	struct locate_result loc;
	struct vmd_decision dec;

	if (!p->config_quorate || !p->synced || !p->n_members || p->members[0] != LOCAL_ID)
		return;
	if (!m->vm || !state_vm_find(&p->state, m->vm))
		return;
	for (uint32_t i = 0; i < N_NODES; i++) {
		const struct node_obs *o = obs_find(p->obs, i + 1);
		uint64_t load = 0;

		for (size_t j = 0; o && j < o->n_domains; j++) {
			const struct vm_cfg *v = state_vm_find(&p->state, o->domains[j].name);

			if (v && locate_state_active(o->domains[j].state))
				load += v->memory_mib;
		}
		nodes[i] = (struct vmd_node){ .id = i + 1, .name = "n", .member = is_member(p, i + 1),
					      .agent_ok = o && o->agent_ok && o->current,
					      .memory_mib = o ? o->memory_mib : 0, .load_mib = load };
		nl[i] = (struct obs_node){ i + 1, "n" };
	}
	if (obs_locate(p->obs, &p->state, nl, N_NODES, p->members, p->n_members, m->vm, &loc) < 0 ||
	    vm_decide(&view, &rq, &loc, &dec) < 0)
		return;
	trace("VmRequest %d for '%s' from %u: decision %d (%s), located %s\n", (int)m->kind, m->vm,
	      from, (int)dec.kind, dec.message, locate_state_name(loc.state));
	if (dec.kind != VMD_ACT)
		return;
	fuzz_check(m->kind != DROVER__VM_ACTION_KIND__VM_ACTION_START ||
			   (loc.state != LOCATE_UNKNOWN && loc.state != LOCATE_RUNNING),
		   "decided to start VM '%s' that is %s", m->vm, locate_state_name(loc.state));
	fuzz_check(dec.node >= 1 && dec.node <= N_NODES, "decided on node %u", dec.node);
	act.kind = m->kind;
	act.vm = m->vm;
	act.node = dec.node;
	act.network = "";
	act.origin_node = from;
	act.request_id = m->request_id;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &act;
	on_message(p, LOCAL_ID, 0, &env);
}

/*
 * The queue's coordinator (drain.c): node 1, when it coordinates, takes one
 * decision with coord_decide() on the input core/coord_input.c builds, and
 * its messages (coord_messages) are delivered back in order, as drain.c
 * sends them. Networks "default" and "fast" link every pair of members. A
 * decision taken on the state must apply to that same state: every message
 * of it passes the gate and is not refused.
 */
static void coordinate(struct peer_node *p, uint64_t now_ms)
{
	struct queue_view *view;
	struct coord_node nodes[DROVER_MAX_NODES];
	const char *busy[DROVER_MAX_OPS], **names;
	struct coord_input in;
	struct coord_decision *dec;
	struct coord_msgs *msgs;
	static const char *const nets[] = { "default", "fast" };

	if (!p->config_quorate || !p->synced || !p->n_members || p->members[0] != LOCAL_ID)
		return;
	view = xcalloc(1, sizeof(*view));
	queue_view_init(view);
	view->limits.per_source = p->state.limits.per_source;
	view->limits.per_target = p->state.limits.per_target;
	view->limits.cluster = p->state.limits.cluster;
	for (uint32_t i = 0; i < N_NODES; i++) {
		const struct node_obs *o = obs_find(p->obs, i + 1);
		struct queue_node qn;

		memset(&qn, 0, sizeof(qn));
		qn.id = i + 1;
		snprintf(qn.name, sizeof(qn.name), "n%u", i + 1);
		qn.online = is_member(p, qn.id) && o && o->agent_ok;
		qn.usable_target = qn.online && state_node_get(&p->state, qn.id) ==
							DROVER__NODE_STATE__NODE_STATE_ACTIVE;
		coord_input_room(&p->state, o, &qn.free_mib, &qn.free_vcpus);
		queue_view_add_node(view, &qn);
	}
	for (size_t k = 0; k < 2; k++) {
		uint32_t cap = 0;

		for (size_t c = 0; c < p->state.limits.n_caps; c++)
			if (strcmp(p->state.limits.caps[c].network, nets[k]) == 0)
				cap = p->state.limits.caps[c].cap;
		queue_view_add_network(view, nets[k], cap);
		for (size_t a = 0; a < p->n_members; a++)
			for (size_t b = a + 1; b < p->n_members; b++)
				queue_view_set_usable(view, k, p->members[a], p->members[b], true);
	}
	memset(&in, 0, sizeof(in));
	names = xcalloc(coord_input_n_names(p->obs) + 1, sizeof(*names));
	in.n_nodes = coord_input_nodes(p->obs, p->members, p->n_members, nodes, DROVER_MAX_NODES,
				       names);
	in.n_busy = coord_input_busy(&p->state, busy, DROVER_MAX_OPS);
	in.state = &p->state;
	in.view = view;
	in.nodes = nodes;
	in.busy = busy;
	in.now_ms = now_ms;
	dec = xcalloc(1, sizeof(*dec));
	msgs = xcalloc(1, sizeof(*msgs));
	fuzz_check(coord_decide(&in, dec) == 0, "coord_decide failed");
	coord_messages(dec, now_ms, msgs);
	trace("coordinator decides %d: %zu message(s)%s%s\n", (int)dec->kind, msgs->n,
	      dec->reason[0] ? ": " : "", dec->reason);
	for (size_t i = 0; i < msgs->n; i++) {
		Drover__Envelope *env = &msgs->env[i];
		enum apply_verdict v;
		int r;

		if (!apply_gate_is_change(env))
			continue; /* a JobAbort asks the source; nothing to apply */
		v = apply_gate(&p->state, p->members, p->n_members, true, true, LOCAL_ID, env);
		fuzz_check(v == APPLY_OK, "the coordinator's decision %d (body %d) is not its to send",
			   (int)dec->kind, (int)env->body_case);
		r = state_apply(&p->state, env);
		trace("body %d from the coordinator: applied: %d (epoch %llu)\n", (int)env->body_case,
		      r, (unsigned long long)p->state.epoch);
		fuzz_check(r >= 0, "the coordinator's decision %d (body %d) was refused: %d",
			   (int)dec->kind, (int)env->body_case, r);
		if (r == 1 && env->body_case == DROVER__ENVELOPE__BODY_JOB_START) {
			const struct queue_job *j = state_job_find(&p->state, env->job_start->job_id);

			if (j) {
				obs_touch(p->obs, j->source, j->vm);
				obs_touch(p->obs, j->target, j->vm);
			}
		}
	}
	free(msgs);
	free(dec);
	free(names);
	free(view);
}

/* As full_state_delivered() in droverd.c: adopt a valid awaited state, or exclude its sender. */
static void full_delivered(struct peer_node *p, uint32_t from, struct cluster_state *s, bool ok)
{
	if (ok && !sync_full_matches(&p->sync, s->epoch, state_hash(s))) {
		state_free(s);
		ok = false;
	}
	if (!ok) {
		trace("node %u's full state is invalid\n", from);
		state_xfer_rx_reset(&p->xfer);
		if (sync_on_full_invalid(&p->sync, LOCAL_ID, from) == SYNC_DONE)
			p->synced = true;
		return;
	}
	sync_on_full(&p->sync, from);
	trace("adopted node %u's state: epoch %llu, %zu VMs\n", from, (unsigned long long)s->epoch,
	      s->n_vms);
	state_free(&p->state);
	p->state = *s;
	p->synced = true;
}

static void on_message(struct peer_node *p, uint32_t from, uint8_t ctl, const Drover__Envelope *env)
{
	/* The control byte may deliver it in a minority or mid-exchange. */
	bool quorate = p->config_quorate && !(ctl & 0x08), synced = p->synced && !(ctl & 0x10);
	uint64_t before = state_hash(&p->state), epoch = p->state.epoch;
	struct cluster_state s;
	enum apply_verdict v;
	int r;

	if (!frame_body_is_peer(env) || !is_member(p, from))
		return;
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_STATE_DIGEST: {
		const Drover__StateDigest *dg = env->state_digest;

		if (sync_on_digest(&p->sync, LOCAL_ID, from, dg->term, dg->epoch, dg->hash) ==
		    SYNC_DONE)
			p->synced = true;
		return;
	}
	case DROVER__ENVELOPE__BODY_STATE_FULL:
		if (!sync_awaits_full(&p->sync, from))
			return;
		r = env->state_full->state ? state_from_proto(env->state_full->state, &s) : -EINVAL;
		full_delivered(p, from, &s, r == 0);
		return;
	case DROVER__ENVELOPE__BODY_STATE_CHUNK: {
		char err[160];

		if (!sync_awaits_full(&p->sync, from))
			return;
		switch (state_xfer_rx_feed(&p->xfer, p->sync.winner, sync_xfer_round(&p->sync), from,
					   env->state_chunk, err, sizeof(err))) {
		case STATE_XFER_BAD:
			full_delivered(p, from, NULL, false);
			return;
		case STATE_XFER_COMPLETE:
			r = state_xfer_decode(p->xfer.buf, p->xfer.len, &s);
			state_xfer_rx_reset(&p->xfer);
			full_delivered(p, from, &s, r == 0);
			return;
		default:
			return;
		}
	}
	case DROVER__ENVELOPE__BODY_NODE_INVENTORY:
		r = obs_on_inventory(p->obs, &p->state, from, env->node_inventory);
		fuzz_check(r == 0 || r == -ENOSPC || r == -E2BIG, "obs_on_inventory: %d", r);
		fuzz_check(state_hash(&p->state) == before, "an inventory changed the state");
		return;
	case DROVER__ENVELOPE__BODY_VM_REQUEST:
		on_vm_request(p, from, env->vm_request);
		return;
	default:
		break;
	}
	if (env->body_case == DROVER__ENVELOPE__BODY_VM_ACTION_RESULT &&
	    !env->vm_action_result->action_id)
		return;
	if (!apply_gate_is_change(env))
		return;
	v = apply_gate(&p->state, p->members, p->n_members, quorate, synced, from, env);
	fuzz_check(apply_verdict_text(v) != NULL, "no text for verdict %d", (int)v);
	if (v != APPLY_OK) {
		trace("body %d from %u: %s\n", (int)env->body_case, from, apply_verdict_text(v));
		return;
	}
	r = state_apply(&p->state, env);
	trace("body %d from %u: applied: %d (epoch %llu)\n", (int)env->body_case, from, r,
	      (unsigned long long)p->state.epoch);
	if (r == 1) {
		fuzz_check(p->state.epoch == epoch + 1, "an applied change counted %llu epochs",
			   (unsigned long long)(p->state.epoch - epoch));
		/* As on_change(): a started job may put its VM on either end. */
		if (env->body_case == DROVER__ENVELOPE__BODY_JOB_START) {
			const struct queue_job *j = state_job_find(&p->state, env->job_start->job_id);

			if (j) {
				obs_touch(p->obs, j->source, j->vm);
				obs_touch(p->obs, j->target, j->vm);
			}
		}
		if (env->body_case == DROVER__ENVELOPE__BODY_VM_ACTION)
			obs_touch(p->obs, env->vm_action->node, env->vm_action->vm);
	} else {
		/* state.h: an invalid change leaves the state untouched; 0 changed nothing. */
		fuzz_check(r == 0 || r == -EINVAL || r == -ENOSPC || r == -EEXIST || r == -ENOENT ||
				   r == -EBUSY || r == -ENOTSUP || r == -EPERM,
			   "state_apply(body %d) returned an undocumented %d", (int)env->body_case, r);
		fuzz_check(p->state.epoch == epoch && state_hash(&p->state) == before,
			   "state_apply(body %d) returned %d but changed the state",
			   (int)env->body_case, r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct peer_node *p = xcalloc(1, sizeof(*p));
	size_t off = 0;
	uint64_t now_ms = 1000000;

	state_init(&p->state);
	/* Nodes 1-3 of 4 form a quorate, synchronised configuration. */
	on_confchg(p, 0x7);
	p->synced = true;
	p->sync.active = false;
	while (off < size) {
		uint8_t ctl = data[off++];
		Drover__Envelope *env = NULL;
		size_t n;

		if ((ctl & 0xe0) == 0xe0) {
			if (off < size)
				on_confchg(p, data[off++] & 0xf);
			check_state(p);
			continue;
		}
		if (size - off < FRAME_HEADER)
			break;
		n = (size_t)data[off] << 24 | (size_t)data[off + 1] << 16 |
		    (size_t)data[off + 2] << 8 | data[off + 3];
		if (n > size - off - FRAME_HEADER)
			n = size - off - FRAME_HEADER;
		if (frame_decode(data + off, FRAME_HEADER + n, &env) == 0) {
			on_message(p, 1 + (ctl & 3), ctl, env);
			frame_free(env);
			check_state(p);
			/* Every delivery may unblock the queue: drain_kick(). */
			now_ms += 1000;
			coordinate(p, now_ms);
			check_state(p);
		}
		off += FRAME_HEADER + n;
	}
	state_xfer_rx_reset(&p->xfer);
	obs_free(p->obs);
	state_free(&p->state);
	free(p);
	return 0;
}
