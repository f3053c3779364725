/*
 * The world the replicas live in, as the simulator holds it: each host's
 * hypervisor (the domains it runs, its agent working or not), the migration
 * networks' links, and time. world_tick() is the passing of time: agents finish
 * their jobs, sources finish their migrations, every agent reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* ---- the VMs the world knows ---- */

static uint32_t name_hash(const char *p)
{
	uint32_t h = 2166136261u;

	while (*p)
		h = (h ^ (uint8_t)*p++) * 16777619u;
	return h;
}

int world_vm_index(const char *name, bool create)
{
	uint32_t slot = name_hash(name) & (VM_HASH_SIZE - 1);

	/* Open addressing; the table is never more than half full. */
	for (;; slot = (slot + 1) & (VM_HASH_SIZE - 1)) {
		int32_t i = S.vm_hash[slot] - 1;

		if (i >= 0 && strcmp(S.vms[i].name, name) == 0)
			return i;
		if (i < 0)
			break;
	}
	if (!create || S.n_vms == MAX_VMS || strlen(name) >= DROVER_VM_NAME_MAX)
		return -1;
	memset(&S.vms[S.n_vms], 0, sizeof(S.vms[0]));
	strscpy(S.vms[S.n_vms].name, name, DROVER_VM_NAME_MAX);
	S.vm_hash[slot] = (int32_t)++S.n_vms;
	return (int)S.n_vms - 1;
}

void world_vm_register(const char *name, uint64_t memory_mib, uint32_t vcpus)
{
	int i = world_vm_index(name, true);

	if (i < 0) {
		fprintf(stderr, "drover-sim: line %d: more than %d VMs\n", S.scenario_line, MAX_VMS);
		exit(64);
	}
	S.vms[i].memory_mib = memory_mib;
	S.vms[i].vcpus = vcpus;
}

/* ---- the hypervisors' truth ---- */

bool world_host_runs(uint32_t id, const char *vm)
{
	int i = world_vm_index(vm, false);

	return i >= 0 && ((S.vms[i].hosts >> (id - 1)) & 1u);
}

void world_host_set(uint32_t id, const char *vm, bool run)
{
	struct host *h = &S.h[id - 1];
	int v = world_vm_index(vm, run);
	uint64_t bit = UINT64_C(1) << (id - 1);

	if (v < 0 || !(S.vms[v].hosts & bit) == !run)
		return;
	S.vms[v].hosts ^= bit;
	if (run) {
		h->running[h->n_running++] = (uint16_t)v;
		return;
	}
	for (size_t i = 0; i < h->n_running; i++)
		if (h->running[i] == v) {
			memmove(&h->running[i], &h->running[i + 1],
				(--h->n_running - i) * sizeof(h->running[0]));
			return;
		}
}

/* The host powers off: its guests are gone. */
void world_host_power_off(uint32_t id)
{
	struct host *h = &S.h[id - 1];

	for (size_t i = 0; i < h->n_running; i++)
		S.vms[h->running[i]].hosts &= ~(UINT64_C(1) << (id - 1));
	h->n_running = 0;
	h->powered = false;
}

/* ---- the migration networks ---- */

size_t world_net_index(const char *name)
{
	size_t k = 0;

	while (k < S.n_nets && strcmp(S.nets[k].name, name) != 0)
		k++;
	return k;
}

/*
 * Network k links a and b: both hosts up, on one side of any partition, both
 * with a link there that nobody cut, and the pair not cut apart.
 */
bool world_net_usable(size_t k, uint32_t a, uint32_t b)
{
	const struct host *x = &S.h[a - 1], *y = &S.h[b - 1];

	return k < S.n_nets && x->powered && y->powered && x->group == y->group && !x->net_down[k] &&
	       !y->net_down[k] && !x->no_nic[k] && !y->no_nic[k] && !x->nic_cuts[k] &&
	       !y->nic_cuts[k] && !S.pair_down[k][a - 1][b - 1] && !S.pair_cuts[k][a - 1][b - 1];
}

uint64_t world_rnd(uint64_t lo, uint64_t hi)
{
	uint64_t z = (S.rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return lo + z % (hi - lo + 1);
}

/* ---- migrations in virtual time ---- */

void world_migration_begin(struct mig_job *m, uint64_t memory_mib)
{
	uint64_t bw = m->net < S.n_nets ? S.nets[m->net].mib_per_s : 0;
	uint64_t pct = S.dirty_hi ? world_rnd(S.dirty_lo, S.dirty_hi) : 100;

	m->started_ms = S.now_ms;
	m->stuck_since = NEVER;
	m->stall_at = NEVER;
	m->left = 0;
	if (!bw)
		return;
	/* It copies the memory plus what the guest dirties meanwhile. */
	m->left = memory_mib * 1000u * pct / 100u;
	m->left += !m->left;
	/* Now and then a migration stalls by itself, whatever the network. */
	if (S.stall_pct && world_rnd(1, 100) <= S.stall_pct)
		m->stall_at = S.now_ms + world_rnd(100, m->left / bw + 100);
}

static bool timed(const struct mig_job *m)
{
	return m->net < S.n_nets && S.nets[m->net].mib_per_s;
}

/* It copies now: its agent works, the VM is on the source, the network links the pair. */
static bool moving(const struct replica *r, const struct mig_job *m)
{
	return S.h[r->id - 1].agent_up && world_host_runs(r->id, m->vm) &&
	       world_net_usable(m->net, r->id, m->target) && S.now_ms < m->stall_at;
}

/*
 * The source's agent reports the end of a migration: the VM moves only with
 * a success; drain.c sends JobFinish and asks its agent for an inventory.
 */
static void migration_end(struct replica *r, size_t x, bool ok, const char *reason)
{
	struct mig_job m = r->migs[x];

	memmove(&r->migs[x], &r->migs[x + 1], (--r->n_migs - x) * sizeof(r->migs[0]));
	if (ok) {
		world_host_set(r->id, m.vm, false);
		world_host_set(m.target, m.vm, true);
	}
	replica_send_job_finish(r, m.job_id, ok, reason);
	replica_send_inventory(r);
}

/* Whether migration m of r ends now; with how and why. */
static bool migration_due(const struct replica *r, const struct mig_job *m, bool *ret_ok,
			  const char **ret_reason)
{
	if (m->stall_at <= S.now_ms) {
		*ret_ok = false;
		*ret_reason = "migration stalled";
		return true;
	}
	if (m->stuck_since != NEVER && m->stuck_since + STALL_TIMEOUT_MS <= S.now_ms) {
		*ret_ok = false;
		*ret_reason = "timed out: no progress for 30 s";
		return true;
	}
	if (!m->left && moving(r, m)) {
		*ret_ok = true;
		*ret_reason = "";
		return true;
	}
	return false;
}

/*
 * Virtual time runs to `to`: every migration over a network with a bandwidth
 * copies at that bandwidth shared among the migrations that move on it;
 * each one that ends is reported at that moment and the coordinator decides
 * at once (drain.c kicks it 20 ms after a change), so a freed slot is taken
 * before the tick is over. A migration that cannot move (its link is down,
 * its VM is not there) makes no progress and times out.
 */
static void migrations_advance(uint64_t to)
{
	for (;;) {
		uint32_t n_on[MAX_NETS] = { 0 };
		uint64_t next = to;
		bool ended = false;

		for (size_t i = 0; i < S.n; i++)
			for (size_t x = 0; S.r[i].up && x < S.r[i].n_migs; x++) {
				struct mig_job *m = &S.r[i].migs[x];

				if (!timed(m))
					continue;
				if (moving(&S.r[i], m)) {
					n_on[m->net]++;
					m->stuck_since = NEVER;
				} else if (m->stuck_since == NEVER) {
					m->stuck_since = S.now_ms;
				}
			}
		for (size_t i = 0; i < S.n; i++)
			for (size_t x = 0; S.r[i].up && x < S.r[i].n_migs; x++) {
				const struct mig_job *m = &S.r[i].migs[x];
				uint64_t rate, t = NEVER;

				if (!timed(m))
					continue;
				if (m->stuck_since == NEVER) {
					rate = S.nets[m->net].mib_per_s / n_on[m->net];
					rate += !rate;
					t = S.now_ms + (m->left + rate - 1) / rate;
				} else {
					t = m->stuck_since + STALL_TIMEOUT_MS;
				}
				if (m->stall_at < t)
					t = m->stall_at;
				if (t < next)
					next = t;
			}
		for (size_t i = 0; i < S.n; i++)
			for (size_t x = 0; S.r[i].up && x < S.r[i].n_migs; x++) {
				struct mig_job *m = &S.r[i].migs[x];
				uint64_t rate, done;

				if (!timed(m) || m->stuck_since != NEVER)
					continue;
				rate = S.nets[m->net].mib_per_s / n_on[m->net];
				rate += !rate;
				done = rate * (next - S.now_ms);
				m->left = done < m->left ? m->left - done : 0;
			}
		S.now_ms = next;
		for (size_t i = 0; i < S.n; i++)
			for (size_t x = 0; S.r[i].up && x < S.r[i].n_migs;) {
				const char *why;
				bool ok;

				if (timed(&S.r[i].migs[x]) && migration_due(&S.r[i], &S.r[i].migs[x], &ok, &why)) {
					migration_end(&S.r[i], x, ok, why);
					ended = true;
				} else {
					x++;
				}
			}
		if (ended) {
			bus_deliver_all();
			sim_coord_all();
			checks_world();
		}
		if (S.now_ms >= to && !ended)
			return;
	}
}

/* Whether the scenario made the next step of this kind for vm fail (`vf-fail`); counts it down. */
static bool vf_fails(const char *vm, uint32_t kind)
{
	int i = world_vm_index(vm, false);
	uint8_t *n;

	if (i < 0)
		return false;
	n = kind == DROVER__OP_STEP_KIND__OP_STEP_VF_DETACH   ? &S.vms[i].fail_detach
	    : kind == DROVER__OP_STEP_KIND__OP_STEP_VF_ATTACH ? &S.vms[i].fail_attach
							      : &S.vms[i].fail_transfer;
	if (!*n)
		return false;
	(*n)--;
	return true;
}

/*
 * fence watchdog (core/selffence.h): a droverd in a quorate configuration
 * gets its beat back within the tick and renews its agent's lease; an agent
 * whose lease ran out destroys every guest of its host, as agent/lease.c
 * does, whatever its droverd is doing.
 */
void world_leases(void)
{
	if (S.fence != 3)
		return;
	for (size_t i = 0; i < S.n; i++) {
		struct replica *r = &S.r[i];
		struct host *h = &S.h[i];
		uint64_t exp;

		if (!h->powered) {
			h->lease_expires = 0;
			h->self_fenced = false;
			h->n_destroyed = 0;
			continue;
		}
		if (!h->lease_expires) /* the agent starts armed */
			h->lease_expires = S.now_ms + S.watchdog.timeout_ms;
		exp = selffence_lease_from_beat(r->up, r->up && r->config_quorate, S.now_ms, S.now_ms,
						S.watchdog.timeout_ms);
		h->lease_expires = selffence_lease_extend(h->lease_expires, exp);
		if (h->self_fenced && !selffence_lease_expired(S.now_ms, h->lease_expires)) {
			h->self_fenced = false;
			LOG("t=%d %s's lease is renewed: it may run VMs again", S.tick, r->name);
		}
		if (!h->agent_up || !selffence_lease_expired(S.now_ms, h->lease_expires) ||
		    (h->self_fenced && !h->n_running))
			continue;
		h->self_fenced = true;
		LOG("t=%d %s self-fences: its lease ran out %llu ms ago; it destroys %zu VM(s)", S.tick,
		    r->name, (unsigned long long)(S.now_ms - h->lease_expires), h->n_running);
		while (h->n_running) {
			if (h->n_destroyed < MAX_VMS)
				h->destroyed[h->n_destroyed++] = h->running[0];
			world_host_set(r->id, S.vms[h->running[0]].name, false);
		}
	}
}

/* Time passes: agent jobs finish, every agent reports, held requests are decided again. */
void world_tick(void)
{
	S.tick++;
	migrations_advance((uint64_t)S.tick * 1000u);
	S.now_ms = (uint64_t)S.tick * 1000u;
	world_leases();
	for (size_t i = 0; i < S.n; i++) {
		struct replica *r = &S.r[i];
		struct host *h = &S.h[i];
		size_t kept = 0;

		if (!h->powered)
			continue;
		for (size_t j = 0; j < r->n_jobs && r->up; j++) {
			struct agent_job *a = &r->jobs[j];
			int code = 0;

			if (!h->agent_up) {
				replica_send_result(r, a->op_id, a->origin, a->request_id, DROVER_EXIT_ERROR,
					    "the agent failed");
				continue;
			}
			if (a->kind == DROVER__VM_ACTION_KIND__VM_ACTION_START)
				world_host_set(r->id, a->vm, true);
			else if (a->kind == DROVER__VM_ACTION_KIND__VM_ACTION_STOP)
				world_host_set(r->id, a->vm, false);
			else if (a->kind == DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH) {
				if (vf_fails(a->vm, DROVER__OP_STEP_KIND__OP_STEP_VF_ATTACH)) {
					replica_send_result(r, a->op_id, a->origin, a->request_id,
							    DROVER_EXIT_ERROR, "device busy");
					continue;
				}
			} else
				code = DROVER_EXIT_ERROR;
			replica_send_result(r, a->op_id, a->origin, a->request_id, code,
				    code ? "not a start or a stop" : "");
		}
		r->n_jobs = 0;
		/* The VF steps its agent was given: detach or attach, as the scenario says. */
		for (size_t j = 0; j < r->n_vf_steps && r->up; j++) {
			const struct vf_step *st = &r->vf_steps[j];
			const struct queue_job *op = state_job_find(&r->state, st->op_id);
			bool ok;

			if (!op || op->step != st->step || st->step >= op->n_plan)
				continue;
			ok = h->agent_up && !vf_fails(op->vm, op->plan[st->step].kind);
			replica_send_step_result(r, st->op_id, st->step, ok,
						 !h->agent_up ? "the agent failed"
						 : ok ? ""
						 : op->plan[st->step].kind == DROVER__OP_STEP_KIND__OP_STEP_VF_DETACH
							 ? "the guest did not acknowledge the unplug"
							 : "device busy");
		}
		r->n_vf_steps = 0;
		/* Over a network without a bandwidth, a migration ends at the next tick. */
		for (size_t j = 0; j < r->n_migs && r->up; j++) {
			const struct mig_job *m = &r->migs[j];
			char why[96];

			if (timed(m)) {
				r->migs[kept++] = *m;
				continue;
			}
			if (h->agent_up && world_host_runs(r->id, m->vm) &&
			    world_net_usable(m->net, r->id, m->target) &&
			    !vf_fails(m->vm, DROVER__OP_STEP_KIND__OP_STEP_TRANSFER)) {
				world_host_set(r->id, m->vm, false);
				world_host_set(m->target, m->vm, true);
				replica_send_job_finish(r, m->job_id, true, "");
			} else {
				snprintf(why, sizeof(why), "the migration over %s failed", m->network);
				replica_send_job_finish(r, m->job_id, false, why);
			}
		}
		r->n_migs = kept;
		if (r->up) {
			replica_send_inventory(r);
			replica_send_hardware(r);
		}
	}
	bus_deliver_all();
	for (size_t i = 0; i < S.n; i++)
		if (S.r[i].up && S.r[i].n_held && replica_coordinator(&S.r[i]) == S.r[i].id)
			sim_coord_retry_held(&S.r[i], true);
	bus_deliver_all();
	sim_coord_all();
	summary_tick();
	if (S.tick % 30 == 0)
		checks_states_agree(true);
}
