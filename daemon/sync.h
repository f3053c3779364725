/*
 * The state exchange that follows every CPG configuration change. Pure code:
 * the caller feeds it the membership and the digests in delivery order and
 * performs the action it returns.
 *
 * Protocol (every member runs it on the same delivered stream, so every member
 * reaches the same conclusion at the same point of the stream):
 *  1. On a configuration change each member multicasts StateDigest{epoch, hash}.
 *  2. When digests from all members are in, the winner is chosen: the highest
 *     epoch; among equal epochs with different contents, the content held by
 *     the most members (so a node that applied a change nobody else saw cannot
 *     overrule the rest); then the lowest node id holding it.
 *  3. If every member already holds the winning content the exchange is done.
 *     Otherwise the winner multicasts StateFull; on its delivery every member
 *     adopts it and the exchange is done.
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
	uint64_t win_epoch, win_hash;
	size_t n_members;
	uint32_t members[DROVER_MAX_NODES];
	bool have[DROVER_MAX_NODES];
	uint64_t epoch[DROVER_MAX_NODES];
	uint64_t hash[DROVER_MAX_NODES];
};

/* Start an exchange among members (distinct node ids, any order). */
void sync_begin(struct sync_round *r, const uint32_t *members, size_t n);

/* A StateDigest from node `from` was delivered. */
enum sync_action sync_on_digest(struct sync_round *r, uint32_t local_id, uint32_t from,
				uint64_t epoch, uint64_t hash);

/*
 * A StateFull from node `from` was delivered. Returns SYNC_DONE if it is the
 * one the exchange waits for (the caller adopts it), SYNC_IGNORED otherwise.
 */
enum sync_action sync_on_full(struct sync_round *r, uint32_t from);

#endif
