/*
 * The invariants the simulator checks after every event; a violation is
 * logged as "VIOLATION" and fails the run.
 */
#include <string.h>

#include "sim.h"

static void checks_states_agree(void);

/* ---- invariants ---- */

void checks_after_event(void)
{
	for (size_t v = 0; v < S.n_vms; v++)
		if (__builtin_popcountll(S.vms[v].hosts) > 1) {
			uint64_t rest = S.vms[v].hosts & (S.vms[v].hosts - 1);

			violation("%s runs on %s and on %s", S.vms[v].name,
				  nm((uint32_t)__builtin_ctzll(S.vms[v].hosts) + 1),
				  nm((uint32_t)__builtin_ctzll(rest) + 1));
		}
	/* The queue's limits hold in every replica's view (per source, per target). */
	for (size_t a = 0; a < S.n; a++) {
		const struct cluster_state *st = &S.r[a].state;

		for (uint32_t n = 1; S.r[a].up && st->limits.set && n <= S.n; n++) {
			uint32_t out = 0, in = 0;

			for (size_t k = 0; k < st->n_jobs; k++)
				if (st->jobs[k].kind == QUEUE_OP_MIGRATE &&
				    st->jobs[k].state == QUEUE_JOB_RUNNING) {
					out += st->jobs[k].source == n;
					in += st->jobs[k].target == n;
				}
			if ((st->limits.per_source && out > st->limits.per_source) ||
			    (st->limits.per_target && in > st->limits.per_target))
				violation("%s's queue runs %u out of and %u into %s, over its limits",
					  S.r[a].name, out, in, nm(n));
		}
	}
	checks_states_agree();
}

/*
 * The synchronised members of one configuration hold one state (once the bus
 * is empty). Each state is hashed once: at 32 nodes, hashing every pair's
 * states took longer than the rest of the run.
 */
static void checks_states_agree(void)
{
	uint64_t hash[MAX_NODES];
	bool hashed[MAX_NODES] = { false };

	if (S.bus_head != S.bus_tail)
		return;
	for (size_t a = 0; a < S.n; a++)
		for (size_t b = a + 1; b < S.n; b++) {
			const struct replica *x = &S.r[a], *y = &S.r[b];

			if (!x->up || !y->up || !x->synced || !y->synced || S.h[a].group != S.h[b].group ||
			    x->n_members != y->n_members)
				continue;
			if (!hashed[a])
				hash[a] = state_hash(&x->state), hashed[a] = true;
			if (!hashed[b])
				hash[b] = state_hash(&y->state), hashed[b] = true;
			if (hash[a] != hash[b])
				violation("%s and %s are synchronised members of one configuration with "
					  "different states", x->name, y->name);
		}
}

