/*
 * The full state in pieces: encoding the replicated state into the bytes that
 * the state exchange sends, splitting them into StateChunks that each fit in
 * one CPG frame, and reassembling them on the receiving side. Pure code: no
 * I/O, no clock, no corosync.
 *
 * A caller must know:
 *  - Every member, the sender too, feeds every delivered StateChunk to its
 *    receiver in delivery order, with the sender and round the exchange
 *    awaits (sync_awaits_full(), sync_xfer_round()). The receiver's verdict is a
 *    function of that stream only, so every member reaches the same verdict
 *    on the same chunk.
 *  - The bytes are checked as a whole (length and a 64-bit FNV-1a) before
 *    anything is unpacked; what they decode to is then validated by
 *    state_from_proto() and the exchange (sync.h), not here.
 */
#ifndef DROVER_STATE_XFER_H
#define DROVER_STATE_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

/* Payload bytes per chunk: with its header it stays far below FRAME_MAX. */
#define STATE_XFER_CHUNK (512u * 1024u)
/* Chunks of a state at its documented maximum. */
#define STATE_XFER_MAX_CHUNKS ((DROVER_STATE_MAX + STATE_XFER_CHUNK - 1) / STATE_XFER_CHUNK)

/* 64-bit FNV-1a of len bytes. */
uint64_t state_xfer_sum(const uint8_t *p, size_t len);

/*
 * Pack s as a ClusterState into a new buffer (free() it). -EFBIG if it is
 * larger than DROVER_STATE_MAX (nothing is allocated then).
 */
int state_xfer_encode(const struct cluster_state *s, uint8_t **ret_buf, size_t *ret_len);

/*
 * Unpack and validate (state_from_proto) len bytes. -EFBIG above
 * DROVER_STATE_MAX, -EBADMSG for protobuf garbage, -EINVAL for a state that
 * does not validate; *ret is written only on success.
 */
int state_xfer_decode(const uint8_t *buf, size_t len, struct cluster_state *ret);

/* What the sender splits: one encoded state, for one round. */
struct state_xfer_tx {
	const uint8_t *buf; /* not owned */
	size_t len;
	uint64_t round;
	uint64_t sum;
	uint32_t count;     /* chunks, at least 1 */
};

void state_xfer_tx_init(struct state_xfer_tx *tx, const uint8_t *buf, size_t len, uint64_t round);
/* Fill chunk number index (< tx->count); its data points into tx->buf. */
void state_xfer_tx_chunk(const struct state_xfer_tx *tx, uint32_t index, Drover__StateChunk *ret);

enum state_xfer_verdict {
	STATE_XFER_IGNORED,  /* another sender or round: dropped, nothing changed */
	STATE_XFER_MORE,     /* taken; more chunks to come */
	STATE_XFER_COMPLETE, /* the last one: rx->buf holds rx->len checked bytes */
	STATE_XFER_BAD,      /* the awaited transfer is broken: treat as an invalid full state */
};

/* Reassembly of the one transfer an exchange awaits. Zeroed = empty. */
struct state_xfer_rx {
	bool active;
	uint32_t from;
	uint64_t round;
	uint64_t sum;
	size_t len;       /* total, from the first chunk */
	size_t got;       /* bytes appended so far */
	uint32_t count;
	uint32_t next;    /* index expected next */
	uint8_t *buf;     /* owned, len bytes */
};

/* Free what rx holds and empty it. */
void state_xfer_rx_reset(struct state_xfer_rx *rx);

/*
 * One delivered chunk from node `from`. A chunk from another sender than
 * want_from, or of another round than want_round, is IGNORED (a stale round,
 * a candidate already excluded). A chunk of the awaited transfer that does
 * not continue it (index out of order, header disagreeing with the first
 * chunk, oversized data, a total beyond DROVER_STATE_MAX, a sum that does not
 * match once complete) is BAD and the receiver is reset. err (may be NULL)
 * gets a one-line reason for BAD.
 */
enum state_xfer_verdict state_xfer_rx_feed(struct state_xfer_rx *rx, uint32_t want_from,
					   uint64_t want_round, uint32_t from,
					   const Drover__StateChunk *c, char *err, size_t errlen);

#endif
