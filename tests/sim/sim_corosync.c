/*
 * What the simulator stands in for corosync with: one totally ordered bus,
 * delivered to the members of the sender's configuration on its side of any
 * partition, and the configurations themselves (the nodes whose droverd runs,
 * per partition group), each change delivered as a confchg with the quorum
 * rule's verdict.
 */
#include <stdio.h>
#include <string.h>

#include "sim.h"

void bus_deliver_all(void)
{
	while (S.bus_head != S.bus_tail) {
		struct bus_msg *m = &S.bus[S.bus_head % MAX_BUS];
		struct replica *src = rep(m->from);
		Drover__Envelope *env = NULL;

		S.delivering = S.bus_head++;

		/*
		 * Decoded once for every receiver: the same bytes decode alike, and
		 * at 32 nodes decoding each copy was most of the simulator's time.
		 */
		if (frame_decode(m->buf, m->len, &env) < 0) {
			violation("a message from %s could not be decoded", nm(m->from));
			free(m->buf);
			continue;
		}
		for (size_t i = 0; i < S.n; i++) {
			struct replica *r = &S.r[i];
			bool member = false;

			/* The sender's configuration, as the receiver holds it. */
			for (size_t k = 0; k < r->n_members; k++)
				member |= r->members[k] == m->from;
			if (!r->up || !member || S.h[i].group != S.h[m->from - 1].group || !src)
				continue;
			replica_deliver(r, m->from, env);
		}
		frame_free(env);
		free(m->buf);
	}
}

/*
 * A member's new configuration; with `log summary`, each configuration once
 * (the first member that got it), its members as ranges.
 */
static void log_membership(const struct replica *r, uint32_t votes, uint32_t expected,
			   uint64_t *logged, size_t *n_logged)
{
	char list[8 * MAX_NODES] = "";
	size_t off = 0;
	uint64_t mask = 0;

	for (size_t i = 0; i < r->n_members; i++)
		mask |= UINT64_C(1) << (r->members[i] - 1);
	if (S.log_summary) {
		char nodes[256];

		for (size_t i = 0; i < *n_logged; i++)
			if (logged[i] == mask)
				return;
		logged[(*n_logged)++] = mask;
		summary_nodes(mask, nodes, sizeof(nodes));
		LOG("t=%d membership [%s] %s (%u/%u votes), term %llu", S.tick, nodes,
		    r->config_quorate ? "quorate" : "not quorate", votes, expected,
		    (unsigned long long)r->state.term);
		return;
	}
	for (size_t i = 0; i < r->n_members && off < sizeof(list) - 4; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? " " : "",
					nm(r->members[i]));
	LOG("t=%d %s: membership [%s] %s (%u/%u votes), term %llu", S.tick, r->name, list,
	    r->config_quorate ? "quorate" : "not quorate", votes, expected,
	    (unsigned long long)r->state.term);
}

/* Recompute every configuration; members whose view changed get a confchg. */
void corosync_reconfigure(void)
{
	struct quorum_voter voters[MAX_NODES];
	uint64_t logged[MAX_NODES];
	size_t n_logged = 0;

	for (size_t i = 0; i < S.n; i++)
		voters[i] = (struct quorum_voter){ S.r[i].id, 1 };
	for (size_t i = 0; i < S.n; i++) {
		struct replica *r = &S.r[i];
		uint32_t members[MAX_NODES], joined[MAX_NODES], votes, expected;
		size_t n = 0, nj = 0;
		bool self_joined = r->n_members == 0, same = true;

		if (!r->up)
			continue;
		for (size_t k = 0; k < S.n; k++)
			if (S.r[k].up && S.h[k].group == S.h[i].group)
				members[n++] = S.r[k].id;
		for (size_t k = 0; k < n; k++) {
			bool had = false;

			for (size_t m = 0; m < r->n_members; m++)
				had |= r->members[m] == members[k];
			if (!had)
				joined[nj++] = members[k];
		}
		same = n == r->n_members && nj == 0;
		if (same)
			continue;
		memcpy(r->members, members, n * sizeof(members[0]));
		r->n_members = n;
		r->n_undelivered = 0;
		r->config_quorate = quorum_rule_quorate(voters, S.n, 0, members, n, &votes, &expected);
		obs_on_confchg(r->obs, members, n, joined, nj, self_joined);
		if (r->config_quorate) {
			state_term_bump(&r->state);
			r->chain = replica_chain(r->chain, UINT64_MAX, r->state.term);
			replica_persist(r);
		}
		log_membership(r, votes, expected, logged, &n_logged);
		if (nj || r->sync.active || !r->synced) {
			Drover__Envelope env = DROVER__ENVELOPE__INIT;
			Drover__StateDigest dg = DROVER__STATE_DIGEST__INIT;

			r->synced = false;
			sync_begin(&r->sync, members, n);
			dg.term = r->state.term;
			dg.epoch = r->state.epoch;
			dg.hash = state_hash(&r->state);
			env.body_case = DROVER__ENVELOPE__BODY_STATE_DIGEST;
			env.state_digest = &dg;
			replica_send(r, &env);
		}
		/* Observations are not exchanged: joiners get every agent's report again. */
		if (nj && S.h[i].powered && !S.quiet)
			replica_send_inventory(r);
		if (r->n_held)
			sim_coord_retry_held(r, false);
		replica_reconcile(r);
	}
}
