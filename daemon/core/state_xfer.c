/*
 * Chunked transfer of the full state (see state_xfer.h). Invariants: a
 * receiver holds at most one transfer, from the awaited sender and round;
 * chunks are appended strictly in order (CPG delivers one sender's messages
 * in the order sent and loses none within a configuration, so a gap or a
 * reordering means a broken or tampered sender, never a slow network); the
 * assembled bytes are trusted only once their length and sum match.
 *
 * Considered and rejected: per-section digests with only the differing
 * sections sent. They save bandwidth when two large copies differ a little,
 * but the exchange runs only when members join, and one order-preserving
 * stream of bytes keeps "every member validates the same bytes the same way"
 * trivially true. Also rejected: accepting chunks out of order into a sparse
 * buffer; nothing delivers them out of order, so it would only widen what a
 * bad peer can make us accept.
 */
#include "state_xfer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

uint64_t state_xfer_sum(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

int state_xfer_encode(const struct cluster_state *s, uint8_t **ret_buf, size_t *ret_len)
{
	Drover__ClusterState msg;
	struct state_proto_storage storage = { 0 };
	uint8_t *buf;
	size_t n;

	state_to_proto(s, &msg, &storage);
	n = drover__cluster_state__get_packed_size(&msg);
	if (n > DROVER_STATE_MAX) {
		state_proto_storage_free(&storage);
		return -EFBIG;
	}
	/* One byte more: protobuf-c packs nothing for an empty state, malloc(0) may be NULL. */
	buf = xmalloc(n + 1);
	drover__cluster_state__pack(&msg, buf);
	state_proto_storage_free(&storage);
	*ret_buf = buf;
	*ret_len = n;
	return 0;
}

int state_xfer_decode(const uint8_t *buf, size_t len, struct cluster_state *ret)
{
	Drover__ClusterState *msg;
	int r;

	if (len > DROVER_STATE_MAX)
		return -EFBIG;
	msg = drover__cluster_state__unpack(NULL, len, buf);
	if (!msg)
		return -EBADMSG;
	r = state_from_proto(msg, ret);
	drover__cluster_state__free_unpacked(msg, NULL);
	return r < 0 ? -EINVAL : 0;
}

void state_xfer_tx_init(struct state_xfer_tx *tx, const uint8_t *buf, size_t len, uint64_t round)
{
	tx->buf = buf;
	tx->len = len;
	tx->round = round;
	tx->sum = state_xfer_sum(buf, len);
	/* An empty state still travels as one (empty) chunk: the receiver needs an end. */
	tx->count = len ? (uint32_t)((len + STATE_XFER_CHUNK - 1) / STATE_XFER_CHUNK) : 1;
}

void state_xfer_tx_chunk(const struct state_xfer_tx *tx, uint32_t index, Drover__StateChunk *ret)
{
	size_t off = (size_t)index * STATE_XFER_CHUNK;
	size_t n = off < tx->len ? tx->len - off : 0;

	if (n > STATE_XFER_CHUNK)
		n = STATE_XFER_CHUNK;
	drover__state_chunk__init(ret);
	ret->round = tx->round;
	ret->total = tx->len;
	ret->index = index;
	ret->count = tx->count;
	ret->offset = off;
	ret->sum = tx->sum;
	ret->data.len = n;
	ret->data.data = (uint8_t *)(n ? tx->buf + off : NULL);
}

void state_xfer_rx_reset(struct state_xfer_rx *rx)
{
	free(rx->buf);
	memset(rx, 0, sizeof(*rx));
}

__attribute__((format(printf, 4, 5))) static enum state_xfer_verdict
bad(struct state_xfer_rx *rx, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	state_xfer_rx_reset(rx);
	return STATE_XFER_BAD;
}

enum state_xfer_verdict state_xfer_rx_feed(struct state_xfer_rx *rx, uint32_t want_from,
					   uint64_t want_round, uint32_t from,
					   const Drover__StateChunk *c, char *err, size_t errlen)
{
	if (err && errlen)
		*err = '\0';
	if (!c || from != want_from || c->round != want_round)
		return STATE_XFER_IGNORED;
	/* Anything held from another sender or round is a transfer that was abandoned. */
	if (rx->active && (rx->from != from || rx->round != want_round))
		state_xfer_rx_reset(rx);

	if (!rx->active) {
		if (c->index != 0)
			return bad(rx, err, errlen, "chunk %u of %u of a transfer whose first chunk was "
				   "never delivered", c->index, c->count);
		if (c->total > DROVER_STATE_MAX)
			return bad(rx, err, errlen, "announced state of %llu bytes is over the "
				   "%u-byte maximum", (unsigned long long)c->total, DROVER_STATE_MAX);
		if (c->count == 0 || c->count > STATE_XFER_MAX_CHUNKS ||
		    (uint64_t)c->count * STATE_XFER_CHUNK < c->total)
			return bad(rx, err, errlen, "%u chunks cannot carry %llu bytes", c->count,
				   (unsigned long long)c->total);
		rx->active = true;
		rx->from = from;
		rx->round = want_round;
		rx->len = (size_t)c->total;
		rx->sum = c->sum;
		rx->count = c->count;
		rx->next = 0;
		rx->got = 0;
		rx->buf = xmalloc(rx->len + 1);
	}
	if (c->index != rx->next)
		return bad(rx, err, errlen, "chunk %u arrived where chunk %u was due", c->index,
			   rx->next);
	if (c->count != rx->count || c->total != rx->len || c->sum != rx->sum)
		return bad(rx, err, errlen, "chunk %u disagrees with the first chunk on the "
			   "transfer's size or sum", c->index);
	if (c->offset != rx->got)
		return bad(rx, err, errlen, "chunk %u at offset %llu where %zu was due", c->index,
			   (unsigned long long)c->offset, rx->got);
	if (c->data.len > STATE_XFER_CHUNK || c->data.len > rx->len - rx->got ||
	    (c->data.len && !c->data.data))
		return bad(rx, err, errlen, "chunk %u carries %zu bytes: more than fits",
			   c->index, c->data.len);
	if (c->data.len)
		memcpy(rx->buf + rx->got, c->data.data, c->data.len);
	rx->got += c->data.len;
	rx->next++;
	if (rx->next < rx->count)
		return STATE_XFER_MORE;
	if (rx->got != rx->len)
		return bad(rx, err, errlen, "the last chunk ended the transfer at %zu of %zu bytes",
			   rx->got, rx->len);
	if (state_xfer_sum(rx->buf, rx->len) != rx->sum)
		return bad(rx, err, errlen, "the %zu assembled bytes do not match their sum",
			   rx->len);
	return STATE_XFER_COMPLETE;
}
