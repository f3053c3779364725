/*
 * State exchange after a configuration change (protocol in sync.h).
 *
 * Considered and rejected: "the lowest node id always sends its state". It is
 * simpler, but a freshly reinstalled node with the lowest id would wipe the
 * cluster's configuration. Comparing epochs first makes the newest copy win.
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

static void choose_winner(struct sync_round *r)
{
	uint64_t best_epoch = 0;
	size_t best_count = 0;
	uint32_t best_node = 0;
	uint64_t best_hash = 0;

	for (size_t i = 0; i < r->n_members; i++)
		if (r->epoch[i] > best_epoch)
			best_epoch = r->epoch[i];

	for (size_t i = 0; i < r->n_members; i++) {
		size_t count = 0;
		uint32_t lowest = r->members[i];

		if (r->epoch[i] != best_epoch)
			continue;
		for (size_t j = 0; j < r->n_members; j++) {
			if (r->epoch[j] != best_epoch || r->hash[j] != r->hash[i])
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
	r->win_epoch = best_epoch;
	r->win_hash = best_hash;
}

enum sync_action sync_on_digest(struct sync_round *r, uint32_t local_id, uint32_t from,
				uint64_t epoch, uint64_t hash)
{
	int i = index_of(r, from);
	bool all_same = true;

	if (!r->active || r->awaiting_full || i < 0 || r->have[i])
		return SYNC_IGNORED;
	r->have[i] = true;
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

enum sync_action sync_on_full(struct sync_round *r, uint32_t from)
{
	if (!r->active || !r->awaiting_full || from != r->winner)
		return SYNC_IGNORED;
	r->active = false;
	r->awaiting_full = false;
	return SYNC_DONE;
}
