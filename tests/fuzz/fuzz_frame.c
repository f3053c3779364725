/*
 * Fuzz target: the frame and envelope decoder (common/frame.c) and
 * protobuf-c's unpack of every message the Envelope carries. Every transport
 * hands its bytes to frame_decode() first: CPG (droverd_on_peer_message),
 * the control socket (ctl_server.c, with the control channel's larger cap),
 * the agent link in both directions and the agent's workers (agent/).
 *
 * The input is tried twice: as a whole frame (so the header checks are
 * fuzzed) and as a payload behind a correct header (so protobuf-c sees every
 * input, not only those whose first four bytes happen to match). A decoded
 * envelope must then re-encode, decode again and re-encode to the same bytes,
 * and fall in at most one transport's class of bodies.
 */
#include <errno.h>
#include <string.h>

#include "ctl.h"
#include "frame.h"
#include "fuzz.h"
#include "util.h"

/*
 * Drop the unknown fields of m and of every message inside it. protobuf-c
 * keeps what it does not know and packs it again verbatim; but it accepts an
 * overlong tag 0 (0x80 0x00) as an unknown field and packs it back as 0x00,
 * which it then refuses: a quirk of the library, not of drover's decoder
 * (droverd never forwards a peer's unknown fields), so the round trip below
 * is checked on the known fields.
 */
static void strip_unknown(ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;

	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		char *base = (char *)m;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			ProtobufCMessage *sub = *(ProtobufCMessage **)(base + f->offset);

			if (*(uint32_t *)(base + f->quantifier_offset) == f->id && sub)
				strip_unknown(sub);
		} else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(size_t *)(base + f->quantifier_offset);
			ProtobufCMessage **subs = *(ProtobufCMessage ***)(base + f->offset);

			for (size_t k = 0; k < n; k++)
				if (subs[k])
					strip_unknown(subs[k]);
		} else {
			ProtobufCMessage *sub = *(ProtobufCMessage **)(base + f->offset);

			if (sub)
				strip_unknown(sub);
		}
	}
	for (unsigned k = 0; k < m->n_unknown_fields; k++)
		free(m->unknown_fields[k].data);
	free(m->unknown_fields);
	m->unknown_fields = NULL;
	m->n_unknown_fields = 0;
}

static void check_decoded(Drover__Envelope *env, size_t cap)
{
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	Drover__Envelope *again = NULL;
	int classes, r;

	classes = frame_body_is_peer(env) + frame_body_is_control(env) + frame_body_is_agent(env);
	fuzz_check(classes <= 1, "body %d belongs to %d transports", (int)env->body_case, classes);
	strip_unknown(&env->base);
	r = frame_encode_capped(env, cap + 64, &a, &alen);
	/*
	 * A decoded payload re-packs to at most its size plus a little: unknown
	 * fields are kept, defaults written out may add a few bytes.
	 */
	if (r == -EMSGSIZE)
		return;
	fuzz_check(r == 0, "a decoded envelope does not encode: %d", r);
	r = frame_decode_capped(a, alen, cap + 64, &again);
	fuzz_check(r == 0, "an encoded envelope does not decode: %s", frame_strerror(r));
	fuzz_check(again->body_case == env->body_case, "the body changed: %d -> %d",
		   (int)env->body_case, (int)again->body_case);
	r = frame_encode_capped(again, cap + 64, &b, &blen);
	fuzz_check(r == 0, "a re-decoded envelope does not encode: %d", r);
	fuzz_check(alen == blen && memcmp(a, b, alen) == 0,
		   "encode(decode(encode(x))) differs from encode(x)");
	frame_free(again);
	free(a);
	free(b);
}

static void try_frame(const uint8_t *buf, size_t len)
{
	static const size_t caps[] = { FRAME_MAX, DROVER_CTL_FRAME_MAX };

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		Drover__Envelope *env = NULL;
		int r = frame_decode_capped(buf, len, caps[i], &env);

		if (r < 0) {
			fuzz_check(r == -EBADMSG || r == -EMSGSIZE || r == -EPROTONOSUPPORT ||
					   r == -ENOMSG,
				   "frame_decode returned an undocumented error %d", r);
			fuzz_check(frame_strerror(r) != NULL, "no text for %d", r);
			continue;
		}
		check_decoded(env, caps[i]);
		frame_free(env);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *framed;

	try_frame(data, size);
	if (size > FRAME_MAX)
		return 0;
	framed = xmalloc(FRAME_HEADER + size);
	framed[0] = (uint8_t)(size >> 24);
	framed[1] = (uint8_t)(size >> 16);
	framed[2] = (uint8_t)(size >> 8);
	framed[3] = (uint8_t)size;
	memcpy(framed + FRAME_HEADER, data, size);
	try_frame(framed, FRAME_HEADER + size);
	free(framed);
	return 0;
}
