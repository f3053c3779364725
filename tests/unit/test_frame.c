/*
 * Framing (common/frame.c): every body kind survives a round trip, and every
 * way a frame can be wrong gets its own error, checked in the documented
 * order. Hostile inputs are built byte by byte in buffers of exactly their
 * length, so an over-read shows up under ASan; a seeded mutation loop then
 * feeds thousands of damaged frames and checks that each one is either
 * rejected with a documented error or decodes to a usable body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "frame.h"

enum kind {
	K_STATE_DIGEST,
	K_STATE_FULL,
	K_SET_NODE_STATE,
	K_CTL_STATUS,
	K_CTL_SET_NODE_STATE,
	K_CTL_RESPONSE_STATUS,
	K_CTL_RESPONSE_ERROR,
	K_COUNT,
};

/* Storage for one envelope of each kind; the builders point into it. */
struct msgs {
	Drover__StateDigest digest;
	Drover__NodeConfig node_cfg[3];
	Drover__NodeConfig *node_cfg_p[3];
	Drover__ClusterState cluster;
	Drover__StateFull full;
	Drover__SetNodeState set;
	Drover__StatusRequest status_req;
	Drover__NodeStateRequest node_req;
	Drover__CtlRequest req;
	Drover__LinkStatus links[2];
	Drover__LinkStatus *links_p[2];
	Drover__NodeStatus nodes[2];
	Drover__NodeStatus *nodes_p[2];
	Drover__StatusReply reply;
	Drover__CtlResponse resp;
};

static void build(enum kind k, struct msgs *m, Drover__Envelope *env)
{
	memset(m, 0, sizeof(*m));
	drover__envelope__init(env);
	env->seq = 1000 + (uint64_t)k;
	/* frame_encode() must set the version whatever the caller left there. */
	env->version = 77;
	switch (k) {
	case K_STATE_DIGEST:
		drover__state_digest__init(&m->digest);
		m->digest.epoch = 7;
		m->digest.hash = 0xdeadbeefcafef00dull;
		env->body_case = DROVER__ENVELOPE__BODY_STATE_DIGEST;
		env->state_digest = &m->digest;
		break;
	case K_STATE_FULL:
		for (int i = 0; i < 3; i++) {
			drover__node_config__init(&m->node_cfg[i]);
			m->node_cfg[i].id = (uint32_t)(i + 1) * 10;
			m->node_cfg[i].state = (Drover__NodeState)(i + 1);
			m->node_cfg_p[i] = &m->node_cfg[i];
		}
		drover__cluster_state__init(&m->cluster);
		m->cluster.epoch = 9;
		m->cluster.n_nodes = 3;
		m->cluster.nodes = m->node_cfg_p;
		drover__state_full__init(&m->full);
		m->full.state = &m->cluster;
		env->body_case = DROVER__ENVELOPE__BODY_STATE_FULL;
		env->state_full = &m->full;
		break;
	case K_SET_NODE_STATE:
		drover__set_node_state__init(&m->set);
		m->set.node_id = 3;
		m->set.state = DROVER__NODE_STATE__NODE_STATE_MAINTENANCE;
		m->set.request_id = 0x123456789ull;
		env->body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
		env->set_node_state = &m->set;
		break;
	case K_CTL_STATUS:
		drover__status_request__init(&m->status_req);
		drover__ctl_request__init(&m->req);
		m->req.req_case = DROVER__CTL_REQUEST__REQ_STATUS;
		m->req.status = &m->status_req;
		env->body_case = DROVER__ENVELOPE__BODY_CTL_REQUEST;
		env->ctl_request = &m->req;
		break;
	case K_CTL_SET_NODE_STATE:
		drover__node_state_request__init(&m->node_req);
		m->node_req.node = "n2";
		m->node_req.state = DROVER__NODE_STATE__NODE_STATE_DRAINED;
		drover__ctl_request__init(&m->req);
		m->req.req_case = DROVER__CTL_REQUEST__REQ_SET_NODE_STATE;
		m->req.set_node_state = &m->node_req;
		env->body_case = DROVER__ENVELOPE__BODY_CTL_REQUEST;
		env->ctl_request = &m->req;
		break;
	case K_CTL_RESPONSE_STATUS:
		for (int i = 0; i < 2; i++) {
			drover__link_status__init(&m->links[i]);
			m->links[i].link = (uint32_t)i;
			m->links[i].up = i == 0;
			m->links_p[i] = &m->links[i];
			drover__node_status__init(&m->nodes[i]);
			m->nodes[i].id = (uint32_t)i + 1;
			m->nodes[i].name = i == 0 ? "n1" : "n2";
			m->nodes[i].online = 1;
			m->nodes[i].state = DROVER__NODE_STATE__NODE_STATE_ACTIVE;
			m->nodes[i].n_links = 2;
			m->nodes[i].links = m->links_p;
			m->nodes_p[i] = &m->nodes[i];
		}
		drover__status_reply__init(&m->reply);
		m->reply.quorate = 1;
		m->reply.coordinator_id = 1;
		m->reply.coordinator = "n1";
		m->reply.local_id = 2;
		m->reply.local_name = "n2";
		m->reply.epoch = 5;
		m->reply.synced = 1;
		m->reply.n_nodes = 2;
		m->reply.nodes = m->nodes_p;
		drover__ctl_response__init(&m->resp);
		m->resp.status = &m->reply;
		env->body_case = DROVER__ENVELOPE__BODY_CTL_RESPONSE;
		env->ctl_response = &m->resp;
		break;
	case K_CTL_RESPONSE_ERROR:
		drover__ctl_response__init(&m->resp);
		m->resp.exit_code = 105;
		m->resp.error = "no quorum";
		env->body_case = DROVER__ENVELOPE__BODY_CTL_RESPONSE;
		env->ctl_response = &m->resp;
		break;
	case K_COUNT:
		fail();
	}
}

static uint32_t header_len(const uint8_t *buf)
{
	return (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
}

static void put_header(uint8_t *buf, uint32_t n)
{
	buf[0] = (uint8_t)(n >> 24);
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
}

/* A frame of exactly FRAME_HEADER + n bytes whose header says declared. */
static uint8_t *frame_with(uint32_t declared, const uint8_t *payload, size_t n)
{
	uint8_t *buf = malloc(FRAME_HEADER + n);

	assert_non_null(buf);
	put_header(buf, declared);
	if (n)
		memcpy(buf + FRAME_HEADER, payload, n);
	return buf;
}

/* Decode a hand-made payload, correctly framed, and return the error. */
static int decode_payload(const uint8_t *payload, size_t n)
{
	uint8_t *buf = frame_with((uint32_t)n, payload, n);
	Drover__Envelope *env = NULL;
	int r = frame_decode(buf, FRAME_HEADER + n, &env);

	if (r == 0)
		frame_free(env);
	else
		assert_null(env);
	free(buf);
	return r;
}

/* The body pointer of a decoded envelope: a success must never lack one. */
/* The set body's message, whatever the body: found through the descriptor, so
 * bodies added to the schema later are covered without touching this test. */
static const void *body_of(const Drover__Envelope *env)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(&drover__envelope__descriptor,
							(unsigned)env->body_case);

	if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return NULL;
	return *(void *const *)((const char *)env + f->offset);
}

static void check_round_trip(enum kind k)
{
	struct msgs m;
	Drover__Envelope env, *out = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;

	build(k, &m, &env);
	assert_int_equal(frame_encode(&env, &buf, &len), 0);
	assert_non_null(buf);
	assert_int_equal(env.version, DROVER_PROTO_VERSION);
	assert_true(len > FRAME_HEADER);
	assert_int_equal(header_len(buf), len - FRAME_HEADER);
	assert_int_equal(frame_decode(buf, len, &out), 0);
	assert_non_null(out);
	assert_int_equal(out->version, DROVER_PROTO_VERSION);
	assert_int_equal(out->seq, 1000 + (uint64_t)k);
	assert_int_equal(out->body_case, env.body_case);
	assert_non_null(body_of(out));

	switch (k) {
	case K_STATE_DIGEST:
		assert_int_equal(out->state_digest->epoch, 7);
		assert_true(out->state_digest->hash == 0xdeadbeefcafef00dull);
		break;
	case K_STATE_FULL:
		assert_non_null(out->state_full->state);
		assert_int_equal(out->state_full->state->epoch, 9);
		assert_int_equal(out->state_full->state->n_nodes, 3);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(out->state_full->state->nodes[i]->id, (i + 1) * 10);
			assert_int_equal(out->state_full->state->nodes[i]->state, i + 1);
		}
		break;
	case K_SET_NODE_STATE:
		assert_int_equal(out->set_node_state->node_id, 3);
		assert_int_equal(out->set_node_state->state,
				 DROVER__NODE_STATE__NODE_STATE_MAINTENANCE);
		assert_true(out->set_node_state->request_id == 0x123456789ull);
		break;
	case K_CTL_STATUS:
		assert_int_equal(out->ctl_request->req_case, DROVER__CTL_REQUEST__REQ_STATUS);
		assert_non_null(out->ctl_request->status);
		break;
	case K_CTL_SET_NODE_STATE:
		assert_int_equal(out->ctl_request->req_case,
				 DROVER__CTL_REQUEST__REQ_SET_NODE_STATE);
		assert_string_equal(out->ctl_request->set_node_state->node, "n2");
		assert_int_equal(out->ctl_request->set_node_state->state,
				 DROVER__NODE_STATE__NODE_STATE_DRAINED);
		break;
	case K_CTL_RESPONSE_STATUS:
		assert_int_equal(out->ctl_response->exit_code, 0);
		assert_non_null(out->ctl_response->status);
		assert_true(out->ctl_response->status->quorate);
		assert_string_equal(out->ctl_response->status->local_name, "n2");
		assert_int_equal(out->ctl_response->status->n_nodes, 2);
		assert_string_equal(out->ctl_response->status->nodes[1]->name, "n2");
		assert_int_equal(out->ctl_response->status->nodes[1]->n_links, 2);
		assert_true(out->ctl_response->status->nodes[1]->links[0]->up);
		assert_false(out->ctl_response->status->nodes[1]->links[1]->up);
		break;
	case K_CTL_RESPONSE_ERROR:
		assert_int_equal(out->ctl_response->exit_code, 105);
		assert_string_equal(out->ctl_response->error, "no quorum");
		assert_null(out->ctl_response->status);
		break;
	case K_COUNT:
		fail();
	}

	switch (k) {
	case K_STATE_DIGEST:
	case K_STATE_FULL:
	case K_SET_NODE_STATE:
		assert_true(frame_body_is_peer(out));
		assert_false(frame_body_is_control(out));
		break;
	default:
		assert_false(frame_body_is_peer(out));
		assert_true(frame_body_is_control(out));
		break;
	}
	frame_free(out);
	free(buf);
}

static void test_round_trip_each_kind(void **unused)
{
	(void)unused;
	for (int k = 0; k < K_COUNT; k++)
		check_round_trip((enum kind)k);
}

static void test_classify_without_body(void **unused)
{
	Drover__Envelope env;

	(void)unused;
	drover__envelope__init(&env);
	assert_false(frame_body_is_peer(&env));
	assert_false(frame_body_is_control(&env));
	frame_free(NULL);
}

static void test_truncated_header(void **unused)
{
	static const uint8_t bytes[] = {0, 0, 0, 0};
	Drover__Envelope *env = NULL;

	(void)unused;
	for (size_t n = 0; n < FRAME_HEADER; n++) {
		uint8_t *buf = malloc(n ? n : 1);

		assert_non_null(buf);
		memcpy(buf, bytes, n);
		assert_int_equal(frame_decode(buf, n, &env), -EBADMSG);
		assert_null(env);
		free(buf);
	}
	assert_int_equal(frame_decode(NULL, 0, &env), -EBADMSG);
	assert_int_equal(frame_decode(NULL, 100, &env), -EBADMSG);
	assert_null(env);
}

static void test_length_disagrees(void **unused)
{
	struct msgs m;
	Drover__Envelope env, *out = NULL;
	uint8_t *buf, *longer;
	size_t len;
	uint32_t n;

	(void)unused;
	build(K_STATE_FULL, &m, &env);
	assert_int_equal(frame_encode(&env, &buf, &len), 0);
	n = (uint32_t)(len - FRAME_HEADER);

	/* The buffer is shorter than the header says. */
	assert_int_equal(frame_decode(buf, len - 1, &out), -EBADMSG);
	assert_int_equal(frame_decode(buf, FRAME_HEADER, &out), -EBADMSG);
	/* The buffer is longer than the header says (two frames glued, say). */
	longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, buf, len);
	longer[len] = 0x08;
	assert_int_equal(frame_decode(longer, len + 1, &out), -EBADMSG);
	free(longer);
	/* The header is off by one either way for the same buffer. */
	put_header(buf, n + 1);
	assert_int_equal(frame_decode(buf, len, &out), -EBADMSG);
	put_header(buf, n - 1);
	assert_int_equal(frame_decode(buf, len, &out), -EBADMSG);
	put_header(buf, n);
	assert_int_equal(frame_decode(buf, len, &out), 0);
	frame_free(out);
	out = NULL;
	/* An empty header: a zero-length frame with a byte after it. */
	put_header(buf, 0);
	assert_int_equal(frame_decode(buf, FRAME_HEADER + 1, &out), -EBADMSG);
	assert_null(out);
	free(buf);
}

static void test_too_large(void **unused)
{
	Drover__Envelope *out = NULL;
	uint8_t *buf;
	const uint32_t declared[] = {FRAME_MAX + 1, 0x7fffffffu, 0xffffffffu};

	(void)unused;
	/*
	 * Only the 4-byte header exists: the cap must be checked before the
	 * length is compared with the buffer, and nothing past it may be read
	 * (ASan would see it) or allocated.
	 */
	for (size_t i = 0; i < sizeof(declared) / sizeof(declared[0]); i++) {
		buf = frame_with(declared[i], NULL, 0);
		assert_int_equal(frame_decode(buf, FRAME_HEADER, &out), -EMSGSIZE);
		assert_null(out);
		free(buf);
	}
	/* Also when the buffer does hold that many bytes. */
	buf = calloc(1, FRAME_HEADER + FRAME_MAX + 1);
	assert_non_null(buf);
	put_header(buf, FRAME_MAX + 1);
	assert_int_equal(frame_decode(buf, FRAME_HEADER + FRAME_MAX + 1, &out), -EMSGSIZE);
	assert_null(out);
	free(buf);
}

/* An envelope whose payload is exactly FRAME_MAX bytes passes; one more byte does not. */
static void test_size_boundary(void **unused)
{
	Drover__CtlResponse resp;
	Drover__Envelope env, *out = NULL;
	uint8_t *buf = (uint8_t *)"sentinel";
	size_t len = 12345, slen = FRAME_MAX - 32, size;
	char *s = malloc(FRAME_MAX + 1);

	(void)unused;
	assert_non_null(s);
	drover__ctl_response__init(&resp);
	drover__envelope__init(&env);
	env.body_case = DROVER__ENVELOPE__BODY_CTL_RESPONSE;
	env.ctl_response = &resp;
	env.version = DROVER_PROTO_VERSION;
	memset(s, 'x', slen);
	s[slen] = '\0';
	resp.error = s;
	size = drover__envelope__get_packed_size(&env);
	slen += FRAME_MAX - size;
	memset(s, 'x', slen);
	s[slen] = '\0';
	assert_int_equal(drover__envelope__get_packed_size(&env), FRAME_MAX);

	assert_int_equal(frame_encode(&env, &buf, &len), 0);
	assert_int_equal(len, FRAME_HEADER + FRAME_MAX);
	assert_int_equal(frame_decode(buf, len, &out), 0);
	assert_int_equal(strlen(out->ctl_response->error), slen);
	frame_free(out);
	free(buf);

	s[slen] = 'x';
	s[slen + 1] = '\0';
	buf = (uint8_t *)"sentinel";
	len = 12345;
	assert_int_equal(frame_encode(&env, &buf, &len), -EMSGSIZE);
	/* Nothing written on failure. */
	assert_string_equal((char *)buf, "sentinel");
	assert_int_equal(len, 12345);
	free(s);
}

static void test_protobuf_garbage(void **unused)
{
	static const struct {
		size_t n;
		uint8_t b[8];
	} garbage[] = {
		{1, {0x0f}},                   /* field 1, wire type 7 (none exists) */
		{1, {0x00}},                   /* field number 0 */
		{1, {0x08}},                   /* tag, then no value */
		{2, {0x08, 0x80}},             /* varint cut short */
		{3, {0x52, 0x05, 0x08}},       /* state_digest says 5 bytes, has 1 */
		{4, {0x52, 0x02, 0xff, 0xff}}, /* state_digest body is garbage */
		{4, {0x08, 0x01, 0x0a, 0x7f}}, /* length-delimited field 1 past the end */
		{6, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	};

	(void)unused;
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		assert_int_equal(decode_payload(garbage[i].b, garbage[i].n), -EBADMSG);
}

static void test_wrong_version(void **unused)
{
	struct msgs m;
	Drover__Envelope env;
	uint8_t payload[64];
	size_t n;
	static const uint8_t v2_no_body[] = {0x08, 0x02};

	(void)unused;
	/* Pack by hand: frame_encode() would fix the version. */
	build(K_STATE_DIGEST, &m, &env);
	env.version = DROVER_PROTO_VERSION + 1;
	assert_true(drover__envelope__get_packed_size(&env) <= sizeof(payload));
	n = drover__envelope__pack(&env, payload);
	assert_int_equal(decode_payload(payload, n), -EPROTONOSUPPORT);

	/* Version 0 is the proto3 default: a sender that never set it. */
	env.version = 0;
	n = drover__envelope__pack(&env, payload);
	assert_int_equal(decode_payload(payload, n), -EPROTONOSUPPORT);

	/* The version is checked before the body. */
	assert_int_equal(decode_payload(v2_no_body, sizeof(v2_no_body)), -EPROTONOSUPPORT);
	/* An empty payload is an envelope with every field absent. */
	assert_int_equal(decode_payload(NULL, 0), -EPROTONOSUPPORT);

	/* Control: the same envelope with the right version is accepted. */
	env.version = DROVER_PROTO_VERSION;
	n = drover__envelope__pack(&env, payload);
	assert_int_equal(decode_payload(payload, n), 0);
}

static void test_no_known_body(void **unused)
{
	/* version = 1, nothing else */
	static const uint8_t no_body[] = {0x08, 0x01};
	/* version = 1, seq = 5 */
	static const uint8_t seq_only[] = {0x08, 0x01, 0x10, 0x05};
	/* version = 1, field 99 (varint) = 1: a newer peer's scalar */
	static const uint8_t f99_varint[] = {0x08, 0x01, 0x98, 0x06, 0x01};
	/* version = 1, field 99 (length-delimited) = { 08 01 }: a newer peer's body */
	static const uint8_t f99_message[] = {0x08, 0x01, 0x9a, 0x06, 0x02, 0x08, 0x01};
	/* version = 1, field 45 (a oneof number kept free for new peer bodies) = {} */
	static const uint8_t f32_message[] = {0xea, 0x02, 0x00, 0x08, 0x01};

	(void)unused;
	assert_int_equal(decode_payload(no_body, sizeof(no_body)), -ENOMSG);
	assert_int_equal(decode_payload(seq_only, sizeof(seq_only)), -ENOMSG);
	assert_int_equal(decode_payload(f99_varint, sizeof(f99_varint)), -ENOMSG);
	assert_int_equal(decode_payload(f99_message, sizeof(f99_message)), -ENOMSG);
	assert_int_equal(decode_payload(f32_message, sizeof(f32_message)), -ENOMSG);
}

static void test_known_body_beside_unknown_field(void **unused)
{
	/* version = 1, field 99 = 1, state_digest { epoch = 3 } */
	static const uint8_t b[] = {0x08, 0x01, 0x98, 0x06, 0x01, 0x52, 0x02, 0x08, 0x03};
	uint8_t *buf = frame_with(sizeof(b), b, sizeof(b));
	Drover__Envelope *env = NULL;

	(void)unused;
	assert_int_equal(frame_decode(buf, FRAME_HEADER + sizeof(b), &env), 0);
	assert_int_equal(env->body_case, DROVER__ENVELOPE__BODY_STATE_DIGEST);
	assert_int_equal(env->state_digest->epoch, 3);
	assert_true(frame_body_is_peer(env));
	frame_free(env);
	free(buf);
}

static void test_strerror(void **unused)
{
	const int errs[] = {-EBADMSG, -EMSGSIZE, -EPROTONOSUPPORT, -ENOMSG};

	(void)unused;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		assert_non_null(frame_strerror(errs[i]));
		assert_string_not_equal(frame_strerror(errs[i]), frame_strerror(-EIO));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(frame_strerror(errs[i]), frame_strerror(errs[j]));
	}
}

/* xorshift64*: the same sequence on every libc, unlike rand(). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void test_mutations(void **unused)
{
	uint8_t *frames[K_COUNT];
	size_t lens[K_COUNT];
	unsigned ok = 0, bad = 0, seen[5] = {0};

	(void)unused;
	for (int k = 0; k < K_COUNT; k++) {
		struct msgs m;
		Drover__Envelope env;

		build((enum kind)k, &m, &env);
		assert_int_equal(frame_encode(&env, &frames[k], &lens[k]), 0);
	}

	for (unsigned iter = 0; iter < 50000; iter++) {
		unsigned k = (unsigned)(rng() % K_COUNT), mode = (unsigned)(rng() % 4);
		size_t plen = lens[k] - FRAME_HEADER, len;
		uint8_t *buf;
		Drover__Envelope *env = NULL;
		int r;

		switch (mode) {
		case 0: /* flip 1..8 bits of the payload, header kept right */
			buf = frame_with((uint32_t)plen, frames[k] + FRAME_HEADER, plen);
			len = lens[k];
			for (unsigned f = 1 + (unsigned)(rng() % 8); f > 0; f--)
				buf[FRAME_HEADER + rng() % plen] ^= (uint8_t)(1u << (rng() % 8));
			break;
		case 1: /* cut the payload short, header kept right */
			plen = (size_t)(rng() % plen);
			buf = frame_with((uint32_t)plen, frames[k] + FRAME_HEADER, plen);
			len = FRAME_HEADER + plen;
			break;
		case 2: { /* random payload, header kept right */
			uint8_t junk[48];

			plen = (size_t)(rng() % sizeof(junk));
			for (size_t i = 0; i < plen; i++)
				junk[i] = (uint8_t)rng();
			buf = frame_with((uint32_t)plen, junk, plen);
			len = FRAME_HEADER + plen;
			break;
		}
		default: /* flip any bit, header included */
			buf = frame_with((uint32_t)plen, frames[k] + FRAME_HEADER, plen);
			len = lens[k];
			buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
			break;
		}

		r = frame_decode(buf, len, &env);
		if (r == 0) {
			uint8_t *again;
			size_t again_len;
			Drover__Envelope *env2 = NULL;

			ok++;
			assert_non_null(env);
			assert_int_equal(env->version, DROVER_PROTO_VERSION);
			assert_non_null(body_of(env));
			/*
			 * Every body this build knows is exactly one of the three
			 * kinds (a mutated tag may well name an agent body).
			 */
			assert_int_equal(frame_body_is_peer(env) + frame_body_is_control(env) +
						 frame_body_is_agent(env),
					 1);
			/* What was accepted can be sent on again. */
			assert_int_equal(frame_encode(env, &again, &again_len), 0);
			assert_int_equal(frame_decode(again, again_len, &env2), 0);
			assert_int_equal(env2->body_case, env->body_case);
			frame_free(env2);
			free(again);
			frame_free(env);
		} else {
			bad++;
			assert_null(env);
			switch (r) {
			case -EBADMSG:
				seen[0]++;
				break;
			case -EMSGSIZE:
				seen[1]++;
				break;
			case -EPROTONOSUPPORT:
				seen[2]++;
				break;
			case -ENOMSG:
				seen[3]++;
				break;
			default:
				fail_msg("frame_decode returned undocumented %d", r);
			}
		}
		free(buf);
	}
	/* The loop reached both sides and every kind of rejection. */
	assert_true(ok > 1000);
	assert_true(bad > 1000);
	for (int i = 0; i < 4; i++)
		assert_true(seen[i] > 0);
	for (int k = 0; k < K_COUNT; k++)
		free(frames[k]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_each_kind),
		cmocka_unit_test(test_classify_without_body),
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_length_disagrees),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_size_boundary),
		cmocka_unit_test(test_protobuf_garbage),
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_no_known_body),
		cmocka_unit_test(test_known_body_beside_unknown_field),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
