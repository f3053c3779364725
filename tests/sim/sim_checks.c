/*
 * The invariants the simulator checks; a violation is logged as "VIOLATION"
 * and fails the run. When each one is checked:
 *
 *  - after every event and after every migration that ends between ticks
 *    (checks_world()): no VM runs on two hosts; no host holds more memory or
 *    vCPUs (16 per CPU, as the queue counts them) than it has, counting the
 *    migrations coming in; in a world where only migrations move VMs (the
 *    random drains), every VM runs on exactly one host;
 *  - at every decision of the queue's coordinator (checks_decision()): a
 *    start is of a queued job whose VM runs on its source, to an active
 *    member over a network that links the pair, keeps every limit in force
 *    (per source, per target, per network, cluster: lowered limits let what
 *    runs finish but start nothing), and a retry avoids the network its last
 *    attempt failed on whenever another one links the pair; the coordinator
 *    starts exactly what `drover queue` shows as starting (coord_dispatch()
 *    over the unfinished jobs, as drain_blockers() calls it), and where only
 *    migrations move VMs no job is held back for its VM; it aborts a
 *    migration only when its target left or its network is down between
 *    source and target; it ends a job only when its source left; it cancels
 *    as moot only jobs whose VM no longer runs on the source or was removed;
 *    it ends a drain as drained only when the node runs no managed VM, as
 *    failed only when each VM left there had its last job from there fail or
 *    be cancelled; it never queues again a VM whose job from that node
 *    failed for good (a trimmed failure);
 *  - at every change a node applies from itself (checks_applied()): a job
 *    gets the retries the limits say, and a failed attempt re-queues the job
 *    until its retries are used up, then fails it (cancels it when its drain
 *    was cancelled);
 *  - once the coordinators settle (checks_settled()): every running
 *    migration whose target left or whose network is down was aborted at
 *    once; a draining node whose current report lists nothing to move and
 *    that has no job left was ended; the running jobs of each replica are
 *    exactly the migrations their sources execute, to the same target over
 *    the same network;
 *  - after every event (checks_after_event()): the world's checks, and the
 *    synchronised members of one configuration hold one state (their
 *    states' histories compared at every event, the states themselves at
 *    every event up to 9 nodes, every 30 ticks and at the end beyond).
 */
#include <string.h>

#include "sim.h"

/* ---- the world ---- */

void checks_world(void)
{
	uint64_t in_mib[MAX_NODES] = { 0 }, in_vcpus[MAX_NODES] = { 0 };

	for (size_t v = 0; v < S.n_vms; v++) {
		int n = __builtin_popcountll(S.vms[v].hosts);

		if (n > 1) {
			uint64_t rest = S.vms[v].hosts & (S.vms[v].hosts - 1);

			violation("%s runs on %s and on %s", S.vms[v].name,
				  nm((uint32_t)__builtin_ctzll(S.vms[v].hosts) + 1),
				  nm((uint32_t)__builtin_ctzll(rest) + 1));
		} else if (S.vms_stay && S.vms[v].registered && n != 1) {
			violation("%s runs nowhere, though only migrations move VMs", S.vms[v].name);
		}
	}
	/* What a host holds: its guests and the guests migrating to it. */
	for (size_t i = 0; i < S.n; i++)
		for (size_t x = 0; S.r[i].up && x < S.r[i].n_migs; x++) {
			int v = world_vm_index(S.r[i].migs[x].vm, false);
			uint32_t t = S.r[i].migs[x].target;

			if (v >= 0 && t >= 1 && t <= S.n && !world_host_runs(t, S.vms[v].name)) {
				in_mib[t - 1] += S.vms[v].memory_mib;
				in_vcpus[t - 1] += S.vms[v].vcpus;
			}
		}
	for (size_t i = 0; i < S.n; i++) {
		const struct host *h = &S.h[i];
		uint64_t mib = in_mib[i], vcpus = in_vcpus[i];

		if (!h->powered)
			continue;
		for (size_t k = 0; k < h->n_running; k++) {
			mib += S.vms[h->running[k]].memory_mib;
			vcpus += S.vms[h->running[k]].vcpus;
		}
		if (mib > h->memory_mib)
			violation("%s holds %llu MiB of guests (incoming included), it has %llu MiB",
				  S.r[i].name, (unsigned long long)mib, (unsigned long long)h->memory_mib);
		if (vcpus > (uint64_t)h->cpus * COORD_VCPU_OVERCOMMIT)
			violation("%s holds %llu vCPUs of guests (incoming included), it has %u CPUs",
				  S.r[i].name, (unsigned long long)vcpus, h->cpus);
	}
}

/* ---- the coordinator's decisions ---- */

static bool limit_over(uint32_t count, uint32_t limit)
{
	return limit && count > limit;
}

static uint32_t cap_of(const struct cluster_state *st, const char *net)
{
	for (size_t i = 0; i < st->limits.n_caps; i++)
		if (strcmp(st->limits.caps[i].network, net) == 0)
			return st->limits.caps[i].cap;
	return 0;
}

/* Running migrations in st: out of a, into b, over net, in all. */
static void count_running(const struct cluster_state *st, uint32_t a, uint32_t b, const char *net,
			  uint32_t *ret_out, uint32_t *ret_in, uint32_t *ret_net, uint32_t *ret_all)
{
	*ret_out = *ret_in = *ret_net = *ret_all = 0;
	for (size_t i = 0; i < st->n_jobs; i++) {
		const struct queue_job *j = &st->jobs[i];

		if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING)
			continue;
		*ret_out += j->source == a;
		*ret_in += j->target == b;
		*ret_net += strcmp(j->network, net) == 0;
		*ret_all += 1;
	}
}

/* The network an attempt's name is in the coordinator's view; -1 if none. */
static int view_net(const struct queue_view *v, const char *name)
{
	for (size_t k = 0; k < v->n_networks; k++)
		if (strcmp(v->networks[k].name, name) == 0)
			return (int)k;
	return -1;
}

static bool view_links(const struct queue_view *v, size_t k, uint32_t a, uint32_t b)
{
	int ia = -1, ib = -1;

	for (size_t i = 0; i < v->n_nodes; i++) {
		ia = v->nodes[i].id == a ? (int)i : ia;
		ib = v->nodes[i].id == b ? (int)i : ib;
	}
	return ia >= 0 && ib >= 0 && ((v->usable[k][ia] >> ib) & 1u);
}

static void check_start(const struct replica *r, const struct coord_input *in,
			const struct queue_action *a, size_t n_before)
{
	const struct cluster_state *st = &r->state;
	const struct queue_job *j = state_op_find(st, a->job_id);
	int k = view_net(in->view, a->network_name);
	uint32_t out, into, net, all;

	if (!j || j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_QUEUED || j->source != a->source) {
		violation("%s starts job %llu, which is not a queued migration from %s", r->name,
			  (unsigned long long)a->job_id, nm(a->source));
		return;
	}
	if (!world_host_runs(j->source, j->vm))
		violation("%s starts job %llu: %s does not run on its source %s", r->name,
			  (unsigned long long)j->id, j->vm, nm(j->source));
	if (k < 0 || !world_net_usable(world_net_index(a->network_name), j->source, a->target))
		violation("%s starts job %llu %s -> %s over %s, which does not link them", r->name,
			  (unsigned long long)j->id, nm(j->source), nm(a->target), a->network_name);
	if (!replica_is_member(r, a->target) ||
	    state_node_get(st, a->target) != DROVER__NODE_STATE__NODE_STATE_ACTIVE)
		violation("%s starts job %llu to %s, which is not an active member", r->name,
			  (unsigned long long)j->id, nm(a->target));
	/* A retry avoids the network that failed whenever another one links the pair. */
	if (j->n_attempts && j->attempts[j->n_attempts - 1].result == QUEUE_RESULT_FAILED &&
	    !j->fixed_network[0] && strcmp(j->attempts[j->n_attempts - 1].network, a->network_name) == 0)
		for (size_t o = 0; k >= 0 && o < in->view->n_networks; o++)
			if ((int)o != k && !in->view->networks[o].last_resort &&
			    view_links(in->view, o, j->source, a->target))
				violation("%s retries job %llu %s -> %s over %s, which failed, though %s "
					  "links them", r->name, (unsigned long long)j->id, nm(j->source),
					  nm(a->target), a->network_name, in->view->networks[o].name);
	/* The limits in force, counting the starts of this decision before it. */
	count_running(st, j->source, a->target, a->network_name, &out, &into, &net, &all);
	all += (uint32_t)n_before + 1;
	out++, into++, net++;
	if (limit_over(out, st->limits.per_source) || limit_over(into, st->limits.per_target) ||
	    limit_over(net, cap_of(st, a->network_name)) || limit_over(all, st->limits.cluster))
		violation("%s starts job %llu above a limit: %u out of %s, %u into %s, %u over %s, "
			  "%u in all (limits %u, %u, %u, %u)", r->name, (unsigned long long)j->id, out,
			  nm(j->source), into, nm(a->target), net, a->network_name, all,
			  st->limits.per_source, st->limits.per_target, cap_of(st, a->network_name),
			  st->limits.cluster);
}

/* What `drover queue` shows as starting now: its actions must be the coordinator's starts. */
static void check_queue_view(const struct replica *r, const struct coord_input *in,
			     const struct coord_decision *dec)
{
	const struct cluster_state *st = &r->state;
	_cleanup_free_ struct queue_job *jobs = xcalloc(st->n_jobs + 1, sizeof(*jobs));
	struct queue_action acts[COORD_BATCH];
	size_t n = 0, n_acts = 0, want = dec->kind == COORD_START ? dec->n_starts : 0;

	for (size_t i = 0; i < st->n_jobs; i++)
		if (st->jobs[i].state == QUEUE_JOB_QUEUED || st->jobs[i].state == QUEUE_JOB_RUNNING)
			jobs[n++] = st->jobs[i];
	if (coord_dispatch(in, jobs, n, acts, COORD_BATCH, &n_acts) < 0) {
		violation("%s: `drover queue` could not dispatch", r->name);
		return;
	}
	/* Where only migrations move VMs, no job waits for its VM to come back or be free. */
	for (size_t i = 0; S.vms_stay && i < n; i++)
		if (jobs[i].state == QUEUE_JOB_QUEUED && (jobs[i].blocker == QUEUE_BLOCK_VM_BUSY ||
							   jobs[i].blocker == QUEUE_BLOCK_VM_ELSEWHERE))
			violation("%s holds job %llu back: %s", r->name, (unsigned long long)jobs[i].id,
				  jobs[i].blocker_text);
	if (n_acts != want) {
		violation("%s's queue shows %zu starting, the coordinator starts %zu", r->name, n_acts, want);
		return;
	}
	for (size_t i = 0; i < n_acts; i++)
		if (acts[i].job_id != dec->starts[i].job_id || acts[i].target != dec->starts[i].target ||
		    strcmp(acts[i].network_name, dec->starts[i].network_name) != 0)
			violation("%s's queue shows job %llu to %s over %s starting, the coordinator "
				  "starts job %llu to %s over %s", r->name,
				  (unsigned long long)acts[i].job_id, nm(acts[i].target),
				  acts[i].network_name, (unsigned long long)dec->starts[i].job_id,
				  nm(dec->starts[i].target), dec->starts[i].network_name);
}

/* The newest job of vm leaving node as the simulator saw it end (sim_replica.c keeps them). */
static bool last_job_failed(const struct sim_vm *v, uint32_t node)
{
	return v->last_job && v->last_job_source == node &&
	       (v->last_job_state == QUEUE_JOB_FAILED || v->last_job_state == QUEUE_JOB_CANCELLED);
}

static void check_drain_end(const struct replica *r, uint32_t node, Drover__NodeState to)
{
	const struct host *h = &S.h[node - 1];

	for (size_t k = 0; k < h->n_running; k++) {
		const struct sim_vm *v = &S.vms[h->running[k]];

		if (!state_vm_find(&r->state, v->name))
			continue;
		if (to == DROVER__NODE_STATE__NODE_STATE_DRAINED)
			violation("%s ends the drain of %s as drained, but %s runs there", r->name,
				  nm(node), v->name);
		else if (!last_job_failed(v, node))
			violation("%s ends the drain of %s as failed, but %s runs there and its last "
				  "job from there did not fail", r->name, nm(node), v->name);
	}
}

void checks_decision(const struct replica *r, const struct coord_input *in,
		     const struct coord_decision *dec)
{
	const struct cluster_state *st = &r->state;
	const struct queue_job *j;

	if (dec->kind == COORD_START || dec->kind == COORD_NONE)
		check_queue_view(r, in, dec);
	switch (dec->kind) {
	case COORD_START:
		for (size_t i = 0; i < dec->n_starts; i++)
			check_start(r, in, &dec->starts[i], i);
		break;
	case COORD_FINISH:
		j = state_op_find(st, dec->job_id);
		if (!j || replica_is_member(r, j->source))
			violation("%s ends job %llu, whose source is a member: %s", r->name,
				  (unsigned long long)dec->job_id, dec->reason);
		break;
	case COORD_STEP_FAIL:
		j = state_op_find(st, dec->job_id);
		if (!j || replica_is_member(r, state_op_executor(j)))
			violation("%s fails a step of job %llu, whose executor is a member: %s", r->name,
				  (unsigned long long)dec->job_id, dec->reason);
		break;
	case COORD_ABORT:
		j = state_op_find(st, dec->job_id);
		if (!j || (replica_is_member(r, j->target) &&
			   world_net_usable(world_net_index(j->network), j->source, j->target)))
			violation("%s aborts job %llu, whose target is a member and network up: %s",
				  r->name, (unsigned long long)dec->job_id, dec->reason);
		break;
	case COORD_CANCEL:
		for (size_t i = 0; i < dec->n_ids; i++) {
			j = state_op_find(st, dec->ids[i]);
			if (j && state_vm_find(st, j->vm) && world_host_runs(j->source, j->vm))
				violation("%s cancels job %llu as moot, but %s still runs on %s: %s",
					  r->name, (unsigned long long)j->id, j->vm, nm(j->source),
					  dec->reason);
		}
		break;
	case COORD_NODE_STATE:
		check_drain_end(r, dec->node, dec->node_state);
		break;
	case COORD_ADD:
		for (size_t i = 0; i < dec->n_vms; i++) {
			int v = world_vm_index(dec->vms[i], false);

			if (v >= 0 && last_job_failed(&S.vms[v], dec->node))
				violation("%s queues %s again from %s, though its job from there %s",
					  r->name, dec->vms[i], nm(dec->node),
					  queue_job_state_name(S.vms[v].last_job_state));
		}
		break;
	default:
		/* Nothing more to check of the others (COORD_NONE, and kinds added later). */
		break;
	}
}

/* ---- changes a node applied from itself ---- */

void checks_applied(const struct replica *r, const Drover__Envelope *env, const struct queue_job *before,
		    uint64_t next_id_before)
{
	const struct cluster_state *st = &r->state;

	if (env->body_case == DROVER__ENVELOPE__BODY_JOBS_ADD) {
		/* The jobs it added: those with the ids it took. */
		for (size_t i = 0; i < st->n_jobs; i++)
			if (st->jobs[i].id >= next_id_before && st->jobs[i].kind == QUEUE_OP_MIGRATE &&
			    st->jobs[i].max_retries != st->limits.max_retries)
				violation("%s: job %llu got %u retries, the limits say %u", r->name,
					  (unsigned long long)st->jobs[i].id, st->jobs[i].max_retries,
					  st->limits.max_retries);
	} else if (env->body_case == DROVER__ENVELOPE__BODY_JOB_FINISH && before && !env->job_finish->ok) {
		const struct queue_job *j = state_op_find(st, before->id);
		uint32_t failed = 0;
		enum queue_job_state want;

		/* The VF comes back to the source first (state_vf.c); the failure is counted after it. */
		if (!j || (j->state == QUEUE_JOB_RUNNING && j->vf_rollback))
			return;
		for (size_t a = 0; a < j->n_attempts; a++)
			failed += j->attempts[a].result == QUEUE_RESULT_FAILED;
		want = before->cancel_requested	  ? QUEUE_JOB_CANCELLED
		       : failed > j->max_retries ? QUEUE_JOB_FAILED
						  : QUEUE_JOB_QUEUED;
		if (j->state != want)
			violation("%s: job %llu is %s after failure %u of %u retries, not %s", r->name,
				  (unsigned long long)j->id, queue_job_state_name(j->state), failed,
				  j->max_retries, queue_job_state_name(want));
	}
}

/* ---- once the coordinators settle ---- */

static bool was_aborted(const struct replica *r, uint64_t id)
{
	for (size_t i = 0; i < r->n_aborted; i++)
		if (r->aborted[i] == id)
			return true;
	return false;
}

static bool executes(const struct replica *src, const struct queue_job *j)
{
	for (size_t x = 0; x < src->n_migs; x++)
		if (src->migs[x].job_id == j->id)
			return src->migs[x].target == j->target && strcmp(src->migs[x].network, j->network) == 0;
	return false;
}

static void check_coordinator_settled(const struct replica *c)
{
	const struct cluster_state *st = &c->state;

	for (size_t i = 0; i < st->n_jobs; i++) {
		const struct queue_job *j = &st->jobs[i];

		if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING)
			continue;
		if (replica_is_member(c, j->source) && !was_aborted(c, j->id) &&
		    (!replica_is_member(c, j->target) ||
		     !world_net_usable(world_net_index(j->network), j->source, j->target)))
			violation("%s leaves job %llu running %s -> %s over %s, which no longer links "
				  "them, without an abort", c->name, (unsigned long long)j->id,
				  nm(j->source), nm(j->target), j->network);
	}
	for (size_t i = 0; i < st->n_nodes; i++) {
		uint32_t node = st->nodes[i].id;
		const struct node_obs *o = obs_find(c->obs, node);
		bool left = false;

		/* A report an operation may have overtaken (touched since) waits for the next one. */
		if (st->nodes[i].state != DROVER__NODE_STATE__NODE_STATE_DRAINING || !o || !o->current ||
		    !o->agent_ok || o->n_touched || !replica_is_member(c, node))
			continue;
		for (size_t k = 0; k < st->n_jobs && !left; k++)
			left = (st->jobs[k].state == QUEUE_JOB_QUEUED || st->jobs[k].state == QUEUE_JOB_RUNNING) &&
			       state_op_involves(&st->jobs[k], node);
		/*
		 * A queued job from the node whose VM may run where nobody can see
		 * (unknown) is not moot: the drain waits for it.
		 */
		for (size_t k = 0; k < st->n_jobs && !left; k++) {
			const struct queue_job *j = &st->jobs[k];
			struct locate_result l;

			if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_QUEUED || j->source != node)
				continue;
			replica_locate(c, j->vm, &l);
			left = l.state == LOCATE_UNKNOWN;
		}
		for (size_t k = 0; k < o->n_domains && !left; k++)
			left = state_vm_find(st, o->domains[k].name) &&
			       locate_state_active(o->domains[k].state);
		if (!left)
			violation("%s drains with nothing left to move, and %s ends nothing", nm(node),
				  c->name);
	}
}

/* Each replica's running jobs are what their sources execute, and the other way round. */
static void check_executions(const struct replica *r)
{
	const struct cluster_state *st = &r->state;

	for (size_t i = 0; i < st->n_jobs; i++) {
		const struct queue_job *j = &st->jobs[i];
		const struct replica *src = rep(j->source);

		if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING || !src || !src->up ||
		    !replica_is_member(r, j->source) || !src->synced)
			continue;
		/* A VF step (detach, attach) is its agent's, not a transfer. */
		if (j->step < j->n_plan && j->plan[j->step].kind != DROVER__OP_STEP_KIND__OP_STEP_TRANSFER)
			continue;
		if (!executes(src, j))
			violation("%s's job %llu runs %s -> %s over %s, which %s does not execute",
				  r->name, (unsigned long long)j->id, nm(j->source), nm(j->target),
				  j->network, src->name);
		else if (!world_host_runs(j->source, j->vm))
			violation("%s's job %llu moves %s from %s, where it does not run", r->name,
				  (unsigned long long)j->id, j->vm, nm(j->source));
	}
	for (size_t x = 0; x < r->n_migs; x++) {
		const struct queue_job *j = state_op_find(st, r->migs[x].job_id);

		if (!j || j->state != QUEUE_JOB_RUNNING || j->source != r->id ||
		    (j->step < j->n_plan && j->plan[j->step].kind != DROVER__OP_STEP_KIND__OP_STEP_TRANSFER))
			violation("%s executes job %llu, which its state says is %s", r->name,
				  (unsigned long long)r->migs[x].job_id,
				  j ? queue_job_state_name(j->state) : "gone");
	}
}

void checks_settled(void)
{
	if (S.bus_head != S.bus_tail)
		return;
	for (size_t i = 0; i < S.n; i++) {
		const struct replica *r = &S.r[i];

		if (!r->up || !r->synced || !r->config_quorate)
			continue;
		if (replica_coordinator(r) == r->id)
			check_coordinator_settled(r);
		check_executions(r);
	}
}

/* ---- after every event ---- */

/*
 * The synchronised members of one configuration hold one state (once the bus
 * is empty): each is compared with the first member of its configuration.
 * Their chains (struct replica) decide when they are equal; when they differ,
 * or when full (every event up to 9 nodes, every 30 ticks and at the end of
 * a run beyond), the states themselves are hashed, each once: at 32 nodes,
 * hashing every state at every event took most of the simulator's time.
 */
static void states_agree(bool full)
{
	uint64_t hash[MAX_NODES];
	bool hashed[MAX_NODES] = { false };

	if (S.bus_head != S.bus_tail)
		return;
	for (size_t b = 0; b < S.n; b++) {
		struct replica *y = &S.r[b], *x = NULL;
		size_t a;

		if (!y->up || !y->synced)
			continue;
		for (a = 0; a < b && !x; a++)
			if (S.r[a].up && S.r[a].synced && S.h[a].group == S.h[b].group &&
			    S.r[a].n_members == y->n_members)
				x = &S.r[a];
		if (!x)
			continue;
		a--;
		if (x->chain == y->chain && !full)
			continue;
		if (!hashed[a])
			hash[a] = state_hash(&x->state), hashed[a] = true;
		if (!hashed[b])
			hash[b] = state_hash(&y->state), hashed[b] = true;
		if (hash[a] != hash[b])
			violation("%s and %s are synchronised members of one configuration with "
				  "different states", x->name, y->name);
		else
			y->chain = x->chain; /* one state, one history from here on */
	}
}

void checks_states_agree(bool full)
{
	states_agree(full || S.n <= 9);
}

void checks_after_event(void)
{
	checks_world();
	checks_states_agree(false);
}
