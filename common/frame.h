/*
 * Framing of drover messages: a 4-byte big-endian payload length, then a
 * protobuf-packed drover.Envelope. Every transport (CPG, libqb IPC, the agent
 * socket) carries exactly one frame per message.
 *
 * The decoder checks, in this order and before anything is unpacked: the
 * header is complete, the length is within FRAME_MAX, the buffer holds exactly
 * that many bytes; then it unpacks, checks the envelope version, and that the
 * body is one this build knows. Each failure has its own -errno so the caller
 * can log why a peer's message was dropped.
 */
#ifndef DROVER_FRAME_H
#define DROVER_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "drover.pb-c.h"

#define DROVER_PROTO_VERSION 1u
#define FRAME_HEADER 4u
#define FRAME_MAX (1024u * 1024u) /* payload bytes */

/*
 * Pack env (its version is set to DROVER_PROTO_VERSION) into a new buffer.
 * Returns 0 and the buffer (free() it) or -EMSGSIZE if the payload exceeds
 * FRAME_MAX.
 */
int frame_encode(Drover__Envelope *env, uint8_t **ret_buf, size_t *ret_len);

/*
 * Decode one frame of exactly len bytes.
 *   -EBADMSG   header truncated, length disagrees with len, or protobuf garbage
 *   -EMSGSIZE  declared length above FRAME_MAX
 *   -EPROTONOSUPPORT  envelope version is not DROVER_PROTO_VERSION
 *   -ENOMSG    no body this build knows (empty or from a newer peer)
 * On success *ret_env must be released with frame_free().
 */
int frame_decode(const uint8_t *buf, size_t len, Drover__Envelope **ret_env);

/*
 * The same with another payload cap: the control channel's answers (a VM
 * list of thousands) outgrow FRAME_MAX, which bounds every CPG and agent
 * message, so they use DROVER_CTL_FRAME_MAX (ctl.h).
 */
int frame_encode_capped(Drover__Envelope *env, size_t cap, uint8_t **ret_buf, size_t *ret_len);
int frame_decode_capped(const uint8_t *buf, size_t len, size_t cap, Drover__Envelope **ret_env);

void frame_free(Drover__Envelope *env);

/* A name for a frame_decode() error, for logs. */
const char *frame_strerror(int err);

/*
 * Peer bodies travel over CPG only; control bodies over IPC only; agent
 * bodies over the droverd <-> drover-agent socket only (which direction each
 * may take is the receiver's check, see agent/README.md).
 */
int frame_body_is_peer(const Drover__Envelope *env);
int frame_body_is_control(const Drover__Envelope *env);
int frame_body_is_agent(const Drover__Envelope *env);

#endif
