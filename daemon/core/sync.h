/*
 * The state exchange that follows every CPG configuration change. Pure code:
 * the caller feeds it the membership and the digests in delivery order and
 * performs the action it returns.
 *
 * Protocol (every member runs it on the same delivered stream, so every member
 * reaches the same conclusion at the same point of the stream):
 *  1. On a configuration change each member multicasts StateDigest{term,
 *     epoch, hash}. If the configuration is quorate, every member has first
 *     bumped its copy's term (state_term_bump), at the same point of the stream.
 *  2. When digests from all members are in, the winner is chosen: the highest
 *     (term, epoch); among equal ones with different contents, the content
 *     held by the most members (so a node that applied a change nobody else
 *     saw cannot overrule the rest); then the lowest node id holding it. The
 *     term goes first: a partition without quorum applies no change and bumps
 *     no term, so the side that stayed quorate, which bumped its term when it
 *     formed, wins the merge even when the other side holds more changes
 *     (delivered to it alone, before it noticed the split).
 *  3. If every member already holds the winning content the exchange is done.
 *     Otherwise the winner multicasts its state (one StateFull, or StateChunks
 *     when it is larger than a frame: state_xfer.h); once it is wholly
 *     delivered every member, the winner too, validates the same bytes the
 *     same way (they decode, and to the content the winner's digest
 *     announced). Valid: every member adopts it and the exchange is done.
 *  4. Invalid: every member excludes that winner and picks the next candidate
 *     among the rest by the rule of step 2 (step 3 again). With no candidate
 *     left the exchange stays open: nobody is synchronised, nobody applies a
 *     change or decides anything, until the next configuration change. So no
 *     member ever ends an exchange holding a copy that differs from another's.
 * A new configuration change restarts the exchange. State-changing messages
 * delivered while an exchange is under way are dropped by every member alike
 * (their senders answer "retry"), which keeps all copies identical without
 * having to queue messages across memberships.
 */
#ifndef DROVER_SYNC_H
#define DROVER_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

enum sync_action {
	SYNC_WAIT,       /* more digests to come */
	SYNC_DONE,       /* everybody holds the same state */
	SYNC_SEND_FULL,  /* we are the winner: multicast StateFull now */
	SYNC_AWAIT_FULL, /* someone else's StateFull is coming */
	SYNC_IGNORED,    /* the message does not belong to this exchange */
};

struct sync_round {
	bool active;
	bool awaiting_full;
	uint32_t winner;
	uint64_t win_term, win_epoch, win_hash;
	size_t n_members;
	uint32_t members[DROVER_MAX_NODES];
	bool have[DROVER_MAX_NODES];
	uint64_t term[DROVER_MAX_NODES];
	uint64_t epoch[DROVER_MAX_NODES];
	uint64_t hash[DROVER_MAX_NODES];
	/* Winners whose full state was invalid, by index into members[] (step 4). */
	bool excluded[DROVER_MAX_NODES];
	size_t n_excluded;
	bool exhausted;   /* step 4 found no candidate: stuck until the next sync_begin() */
};

/* Start an exchange among members (distinct node ids, any order). */
void sync_begin(struct sync_round *r, const uint32_t *members, size_t n);

/* A StateDigest from node `from` was delivered. */
enum sync_action sync_on_digest(struct sync_round *r, uint32_t local_id, uint32_t from,
				uint64_t term, uint64_t epoch, uint64_t hash);

/* True while the exchange waits for node `from`'s full state. */
bool sync_awaits_full(const struct sync_round *r, uint32_t from);

/*
 * The id of the transfer the exchange awaits, carried by every StateChunk: a
 * function of the members, their digests' winner and the exclusions so far,
 * the same on every member. A chunk of an earlier round or of an excluded
 * candidate carries another one and is dropped.
 */
uint64_t sync_xfer_round(const struct sync_round *r);

/*
 * Whether a full state that decoded to (epoch, hash) is the content the
 * winner's digest announced. Anything else is invalid (step 4).
 */
bool sync_full_matches(const struct sync_round *r, uint64_t epoch, uint64_t hash);

/*
 * A valid full state from node `from` was delivered. Returns SYNC_DONE if it
 * is the one the exchange waits for (the caller adopts it), SYNC_IGNORED
 * otherwise.
 */
enum sync_action sync_on_full(struct sync_round *r, uint32_t from);

/*
 * The full state the exchange awaited from node `from` was invalid (it did
 * not decode or validate, did not match the digest, or its chunks were
 * broken): `from` is excluded and the next candidate chosen (step 4).
 * Returns SYNC_SEND_FULL (we are the next candidate), SYNC_AWAIT_FULL
 * (r->winner is), SYNC_DONE (every member already holds the next
 * candidate's content), SYNC_WAIT with r->exhausted set when no candidate is
 * left (stay unsynchronised, say so loudly), or SYNC_IGNORED if `from` is
 * not the awaited winner.
 */
enum sync_action sync_on_full_invalid(struct sync_round *r, uint32_t local_id, uint32_t from);

#endif
