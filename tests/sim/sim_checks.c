/*
 * The invariants the simulator checks after every event; a violation is
 * logged as "VIOLATION" and fails the run.
 */
#include <string.h>

#include "sim.h"

/* ---- invariants ---- */

void checks_after_event(void)
{
	for (size_t a = 0; a < S.n; a++)
		for (size_t i = 0; S.h[a].powered && i < S.h[a].n_running; i++)
			for (size_t b = a + 1; b < S.n; b++)
				if (S.h[b].powered && world_host_runs(S.r[b].id, S.h[a].running[i]))
					violation("%s runs on %s and on %s", S.h[a].running[i],
						  S.r[a].name, S.r[b].name);
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
	for (size_t a = 0; a < S.n; a++)
		for (size_t b = a + 1; b < S.n; b++) {
			const struct replica *x = &S.r[a], *y = &S.r[b];

			if (!x->up || !y->up || !x->synced || !y->synced || S.h[a].group != S.h[b].group ||
			    x->n_members != y->n_members || S.bus_head != S.bus_tail)
				continue;
			if (state_hash(&x->state) != state_hash(&y->state))
				violation("%s and %s are synchronised members of one configuration with "
					  "different states", x->name, y->name);
		}
}

