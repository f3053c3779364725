/*
 * State exchange after a configuration change (protocol in sync.h).
 *
 * Considered and rejected: "the lowest node id always sends its state". It is
 * simpler, but a freshly reinstalled node with the lowest id would wipe the
 * cluster's configuration. Comparing (term, epoch) first makes the newest copy
 * win, where "newest" is the last quorate history: the term counts quorate
 * configurations, so a minority's extra changes (epoch) never outrank it.
 *
 * Also rejected: on an invalid full state, each member keeping its own copy
 * and calling the exchange done. Members that held different copies would
 * then stay different for good. Excluding the winner and moving on to the
 * next candidate is a function of the delivered stream only, so every member
 * moves on alike; with nobody left the exchange stays open, which costs
 * availability (no changes, no decisions) but never consistency.
 */
#include "sync.h"

#include <string.h>

void sync_begin(struct sync_round *r, const uint32_t *members, size_t n)
{
	memset(r, 0, sizeof(*r));
	r->active = true;
	if (n > DROVER_MAX_NODES)
		n = DROVER_MAX_NODES;
	r->n_members = n;
	memcpy(r->members, members, n * sizeof(*members));
}

static int index_of(const struct sync_round *r, uint32_t id)
{
	for (size_t i = 0; i < r->n_members; i++)
		if (r->members[i] == id)
			return (int)i;
	return -1;
}

/* (term, epoch) of member i is newer than (term, epoch). */
static bool newer(const struct sync_round *r, size_t i, uint64_t term, uint64_t epoch)
{
	return r->term[i] > term || (r->term[i] == term && r->epoch[i] > epoch);
}

static void choose_winner(struct sync_round *r)
{
	uint64_t best_term = 0, best_epoch = 0;
	size_t best_count = 0;
	uint32_t best_node = 0;
	uint64_t best_hash = 0;

	for (size_t i = 0; i < r->n_members; i++)
		if (newer(r, i, best_term, best_epoch)) {
			best_term = r->term[i];
			best_epoch = r->epoch[i];
		}

	for (size_t i = 0; i < r->n_members; i++) {
		size_t count = 0;
		uint32_t lowest = r->members[i];

		if (r->term[i] != best_term || r->epoch[i] != best_epoch)
			continue;
		for (size_t j = 0; j < r->n_members; j++) {
			if (r->term[j] != best_term || r->epoch[j] != best_epoch ||
			    r->hash[j] != r->hash[i])
				continue;
			count++;
			if (r->members[j] < lowest)
				lowest = r->members[j];
		}
		if (count > best_count || (count == best_count && lowest < best_node)) {
			best_count = count;
			best_node = lowest;
			best_hash = r->hash[i];
		}
	}
	r->winner = best_node;
	r->win_term = best_term;
	r->win_epoch = best_epoch;
	r->win_hash = best_hash;
}

enum sync_action sync_on_digest(struct sync_round *r, uint32_t local_id, uint32_t from,
				uint64_t term, uint64_t epoch, uint64_t hash)
{
	int i = index_of(r, from);
	bool all_same = true;

	if (!r->active || r->awaiting_full || i < 0 || r->have[i])
		return SYNC_IGNORED;
	r->have[i] = true;
	r->term[i] = term;
	r->epoch[i] = epoch;
	r->hash[i] = hash;
	for (size_t j = 0; j < r->n_members; j++)
		if (!r->have[j])
			return SYNC_WAIT;

	choose_winner(r);
	for (size_t j = 0; j < r->n_members; j++)
		if (r->epoch[j] != r->win_epoch || r->hash[j] != r->win_hash)
			all_same = false;
	if (all_same) {
		r->active = false;
		return SYNC_DONE;
	}
	r->awaiting_full = true;
	return r->winner == local_id ? SYNC_SEND_FULL : SYNC_AWAIT_FULL;
}

bool sync_awaits_full(const struct sync_round *r, uint32_t from)
{
	return r->active && r->awaiting_full && !r->exhausted && from == r->winner;
}


uint64_t sync_xfer_round(const struct sync_round *r)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = state_hash_u64(h, r->n_members);
	for (size_t i = 0; i < r->n_members; i++)
		h = state_hash_u64(h, r->members[i]);
	h = state_hash_u64(h, r->winner);
	h = state_hash_u64(h, r->win_term);
	h = state_hash_u64(h, r->win_epoch);
	h = state_hash_u64(h, r->win_hash);
	return state_hash_u64(h, r->n_excluded);
}

bool sync_full_matches(const struct sync_round *r, uint64_t epoch, uint64_t hash)
{
	return epoch == r->win_epoch && hash == r->win_hash;
}

enum sync_action sync_on_full(struct sync_round *r, uint32_t from)
{
	if (!r->active || !r->awaiting_full || r->exhausted || from != r->winner)
		return SYNC_IGNORED;
	r->active = false;
	r->awaiting_full = false;
	return SYNC_DONE;
}

/*
 * choose_winner() over the members not excluded, on a compacted copy, so the
 * rule of step 2 is applied unchanged to whoever is left.
 * Every per-member array of struct sync_round must be compacted here.
 */
static bool choose_among_rest(struct sync_round *r)
{
	struct sync_round c = *r;
	size_t n = 0;

	for (size_t i = 0; i < r->n_members; i++) {
		if (r->excluded[i])
			continue;
		c.members[n] = r->members[i];
		c.have[n] = r->have[i];
		c.term[n] = r->term[i];
		c.epoch[n] = r->epoch[i];
		c.hash[n] = r->hash[i];
		c.excluded[n] = false;
		n++;
	}
	if (n == 0)
		return false;
	c.n_members = n;
	choose_winner(&c);
	r->winner = c.winner;
	r->win_term = c.win_term;
	r->win_epoch = c.win_epoch;
	r->win_hash = c.win_hash;
	return true;
}

enum sync_action sync_on_full_invalid(struct sync_round *r, uint32_t local_id, uint32_t from)
{
	int w = index_of(r, from);
	bool all_same = true;

	if (!sync_awaits_full(r, from) || w < 0)
		return SYNC_IGNORED;
	r->excluded[w] = true;
	r->n_excluded++;
	if (!choose_among_rest(r)) {
		/* awaiting_full stays set: digests and full states are ignored until sync_begin(). */
		r->exhausted = true;
		r->winner = 0;
		return SYNC_WAIT;
	}
	/* Excluded members count too: they must end with the same copy as the rest. */
	for (size_t j = 0; j < r->n_members; j++)
		if (r->epoch[j] != r->win_epoch || r->hash[j] != r->win_hash)
			all_same = false;
	if (all_same) {
		r->active = false;
		r->awaiting_full = false;
		return SYNC_DONE;
	}
	return r->winner == local_id ? SYNC_SEND_FULL : SYNC_AWAIT_FULL;
}
