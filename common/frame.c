/*
 * Length-prefixed envelope framing (see frame.h). The header is read byte by
 * byte, so an unaligned or short buffer is fine; the cap is checked before
 * protobuf-c sees a single byte, so a hostile length cannot make us allocate.
 */
#include "frame.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "util.h"

int frame_encode(Drover__Envelope *env, uint8_t **ret_buf, size_t *ret_len)
{
	return frame_encode_capped(env, FRAME_MAX, ret_buf, ret_len);
}

int frame_encode_capped(Drover__Envelope *env, size_t cap, uint8_t **ret_buf, size_t *ret_len)
{
	size_t n;
	uint8_t *buf;

	env->version = DROVER_PROTO_VERSION;
	n = drover__envelope__get_packed_size(env);
	if (n > cap || n > UINT32_MAX)
		return -EMSGSIZE;
	buf = xmalloc(FRAME_HEADER + n);
	buf[0] = (uint8_t)(n >> 24);
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	drover__envelope__pack(env, buf + FRAME_HEADER);
	*ret_buf = buf;
	*ret_len = FRAME_HEADER + n;
	return 0;
}

int frame_decode(const uint8_t *buf, size_t len, Drover__Envelope **ret_env)
{
	return frame_decode_capped(buf, len, FRAME_MAX, ret_env);
}

int frame_decode_capped(const uint8_t *buf, size_t len, size_t cap, Drover__Envelope **ret_env)
{
	uint32_t n;
	Drover__Envelope *env;

	if (!buf || len < FRAME_HEADER)
		return -EBADMSG;
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	if (n > cap)
		return -EMSGSIZE;
	if ((size_t)n != len - FRAME_HEADER)
		return -EBADMSG;
	env = drover__envelope__unpack(NULL, n, buf + FRAME_HEADER);
	if (!env)
		return -EBADMSG;
	if (env->version != DROVER_PROTO_VERSION) {
		drover__envelope__free_unpacked(env, NULL);
		return -EPROTONOSUPPORT;
	}
	if (env->body_case == DROVER__ENVELOPE__BODY__NOT_SET) {
		drover__envelope__free_unpacked(env, NULL);
		return -ENOMSG;
	}
	*ret_env = env;
	return 0;
}

void frame_free(Drover__Envelope *env)
{
	if (env)
		drover__envelope__free_unpacked(env, NULL);
}

const char *frame_strerror(int err)
{
	switch (err) {
	case -EBADMSG:
		return "truncated or malformed frame";
	case -EMSGSIZE:
		return "frame larger than the 1 MiB cap";
	case -EPROTONOSUPPORT:
		return "unsupported envelope version";
	case -ENOMSG:
		return "unknown or missing message body";
	default:
		return "frame error";
	}
}

int frame_body_is_peer(const Drover__Envelope *env)
{
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_STATE_DIGEST:
	case DROVER__ENVELOPE__BODY_STATE_FULL:
	case DROVER__ENVELOPE__BODY_STATE_CHUNK:
	case DROVER__ENVELOPE__BODY_SET_NODE_STATE:
	case DROVER__ENVELOPE__BODY_VM_ADD:
	case DROVER__ENVELOPE__BODY_VM_REMOVE:
	case DROVER__ENVELOPE__BODY_NODE_INVENTORY:
	case DROVER__ENVELOPE__BODY_JOBS_ADD:
	case DROVER__ENVELOPE__BODY_JOB_START:
	case DROVER__ENVELOPE__BODY_JOB_FINISH:
	case DROVER__ENVELOPE__BODY_JOBS_CANCEL:
	case DROVER__ENVELOPE__BODY_LIMITS_SET:
	case DROVER__ENVELOPE__BODY_JOB_PROGRESS:
	case DROVER__ENVELOPE__BODY_NETWORK_HEALTH:
	case DROVER__ENVELOPE__BODY_JOB_ABORT:
	case DROVER__ENVELOPE__BODY_VM_REQUEST:
	case DROVER__ENVELOPE__BODY_VM_ACTION:
	case DROVER__ENVELOPE__BODY_VM_ACTION_PROGRESS:
	case DROVER__ENVELOPE__BODY_VM_ACTION_RESULT:
	case DROVER__ENVELOPE__BODY_NODE_LOST:
	case DROVER__ENVELOPE__BODY_FENCE_RESULT:
	case DROVER__ENVELOPE__BODY_VM_PLACED:
	case DROVER__ENVELOPE__BODY_LEASE_BEAT:
	case DROVER__ENVELOPE__BODY_NODE_UNFENCED:
	case DROVER__ENVELOPE__BODY_NODE_HARDWARE:
	case DROVER__ENVELOPE__BODY_OP_STEP_RESULT:
		return 1;
	default:
		return 0;
	}
}

int frame_body_is_control(const Drover__Envelope *env)
{
	return env->body_case == DROVER__ENVELOPE__BODY_CTL_REQUEST ||
	       env->body_case == DROVER__ENVELOPE__BODY_CTL_RESPONSE;
}

int frame_body_is_agent(const Drover__Envelope *env)
{
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_AGENT_HELLO:
	case DROVER__ENVELOPE__BODY_AGENT_JOB:
	case DROVER__ENVELOPE__BODY_AGENT_JOB_PROGRESS:
	case DROVER__ENVELOPE__BODY_AGENT_JOB_RESULT:
	case DROVER__ENVELOPE__BODY_AGENT_EVENT:
	case DROVER__ENVELOPE__BODY_AGENT_JOB_CANCEL:
	case DROVER__ENVELOPE__BODY_AGENT_WORKER_READY:
	case DROVER__ENVELOPE__BODY_AGENT_LEASE:
	case DROVER__ENVELOPE__BODY_AGENT_SELF_FENCE:
	case DROVER__ENVELOPE__BODY_AGENT_PREWARM:
		return 1;
	default:
		return 0;
	}
}
