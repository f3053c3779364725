/*
 * The full state in chunks: a registry of 5,000 VMs with 8 KiB of XML each
 * survives encode, split, reassembly and decode; a tampered, reordered,
 * foreign or stale chunk is refused; and VmAdd keeps the registry within the
 * documented maximum on every member alike.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "big_state_fixture.h"
#include "state_xfer.h"

#define ROUND 0x5eedull
#define SENDER 3u

/* Feed every chunk of tx, in order, to rx; the verdict of the last one. */
static enum state_xfer_verdict feed_all(struct state_xfer_rx *rx, const struct state_xfer_tx *tx)
{
	enum state_xfer_verdict v = STATE_XFER_IGNORED;

	for (uint32_t i = 0; i < tx->count; i++) {
		Drover__StateChunk c;

		state_xfer_tx_chunk(tx, i, &c);
		v = state_xfer_rx_feed(rx, SENDER, ROUND, SENDER, &c, NULL, 0);
		if (i + 1 < tx->count)
			assert_int_equal(v, STATE_XFER_MORE);
	}
	return v;
}

/* A chunk survives the wire as the receiver sees it: packed, then unpacked. */
static Drover__StateChunk *over_the_wire(const Drover__StateChunk *c)
{
	size_t n = drover__state_chunk__get_packed_size(c);
	uint8_t *buf = malloc(n + 1);
	Drover__StateChunk *back;

	drover__state_chunk__pack(c, buf);
	back = drover__state_chunk__unpack(NULL, n, buf);
	free(buf);
	assert_non_null(back);
	return back;
}

static void test_big_roundtrip(void **unused)
{
	struct cluster_state a, b;
	struct state_xfer_tx tx;
	struct state_xfer_rx rx = { 0 };
	uint8_t *buf;
	size_t len;

	(void)unused;
	big_state_make(&a, 5000, 8192);
	assert_int_equal(state_xfer_encode(&a, &buf, &len), 0);
	assert_true(len > 40u * 1000 * 1000);
	assert_true(len <= a.registry_bytes + DROVER_STATE_FIXED_MAX);
	state_xfer_tx_init(&tx, buf, len, ROUND);
	assert_int_equal(tx.count, (len + STATE_XFER_CHUNK - 1) / STATE_XFER_CHUNK);

	/* Every chunk fits in one frame with room to spare. */
	for (uint32_t i = 0; i < tx.count; i++) {
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__StateChunk c;

		state_xfer_tx_chunk(&tx, i, &c);
		env.version = 1;
		env.seq = UINT64_MAX;
		env.body_case = DROVER__ENVELOPE__BODY_STATE_CHUNK;
		env.state_chunk = &c;
		assert_true(drover__envelope__get_packed_size(&env) < 1024u * 1024u);
	}
	/* Through the wire format, chunk by chunk. */
	for (uint32_t i = 0; i < tx.count; i++) {
		Drover__StateChunk c, *w;
		enum state_xfer_verdict v;

		state_xfer_tx_chunk(&tx, i, &c);
		w = over_the_wire(&c);
		v = state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, w, NULL, 0);
		drover__state_chunk__free_unpacked(w, NULL);
		assert_int_equal(v, i + 1 < tx.count ? STATE_XFER_MORE : STATE_XFER_COMPLETE);
	}
	assert_int_equal(rx.len, len);
	assert_memory_equal(rx.buf, buf, len);
	assert_int_equal(state_xfer_decode(rx.buf, rx.len, &b), 0);
	assert_int_equal(b.n_vms, 5000);
	assert_int_equal(state_hash(&b), state_hash(&a));
	assert_int_equal(b.registry_bytes, a.registry_bytes);
	assert_string_equal(b.vms[4321].xml, a.vms[4321].xml);
	state_xfer_rx_reset(&rx);
	assert_null(rx.buf);
	free(buf);
	state_free(&a);
	state_free(&b);
}

struct small {
	struct cluster_state s;
	uint8_t *buf;
	size_t len;
	struct state_xfer_tx tx;
};

/* About 2 MiB: five chunks. */
static void small_make(struct small *m)
{
	big_state_make(&m->s, 250, 8192);
	assert_int_equal(state_xfer_encode(&m->s, &m->buf, &m->len), 0);
	state_xfer_tx_init(&m->tx, m->buf, m->len, ROUND);
	assert_true(m->tx.count >= 4);
}

static void small_free(struct small *m)
{
	free(m->buf);
	state_free(&m->s);
}

static void test_tampered_chunk(void **unused)
{
	struct small m;
	struct state_xfer_rx rx = { 0 };
	Drover__StateChunk c;
	char err[160];
	uint8_t *copy;

	(void)unused;
	small_make(&m);
	/* One flipped byte in the middle of chunk 1: refused once complete. */
	copy = malloc(m.len);
	memcpy(copy, m.buf, m.len);
	copy[STATE_XFER_CHUNK + 1000] ^= 0x20;
	for (uint32_t i = 0; i < m.tx.count; i++) {
		state_xfer_tx_chunk(&m.tx, i, &c);
		if (i == 1)
			c.data.data = copy + STATE_XFER_CHUNK;
		if (i + 1 < m.tx.count)
			assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, err,
							    sizeof(err)),
					 STATE_XFER_MORE);
		else
			assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, err,
							    sizeof(err)),
					 STATE_XFER_BAD);
	}
	assert_non_null(strstr(err, "sum"));
	assert_false(rx.active);
	assert_null(rx.buf);
	free(copy);

	/* A header that disagrees with the first chunk's. */
	state_xfer_tx_chunk(&m.tx, 0, &c);
	assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, NULL, 0), STATE_XFER_MORE);
	state_xfer_tx_chunk(&m.tx, 1, &c);
	c.total += 1;
	assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, NULL, 0), STATE_XFER_BAD);

	/* An offset that does not continue the bytes so far. */
	state_xfer_tx_chunk(&m.tx, 0, &c);
	assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, NULL, 0), STATE_XFER_MORE);
	state_xfer_tx_chunk(&m.tx, 1, &c);
	c.offset += 1;
	assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, NULL, 0), STATE_XFER_BAD);

	/* A short last chunk: the transfer ends before its total. */
	for (uint32_t i = 0; i < m.tx.count; i++) {
		state_xfer_tx_chunk(&m.tx, i, &c);
		if (i + 1 < m.tx.count) {
			assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, NULL, 0),
					 STATE_XFER_MORE);
			continue;
		}
		c.data.len -= 1;
		assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, err, sizeof(err)),
				 STATE_XFER_BAD);
		assert_non_null(strstr(err, "ended the transfer"));
	}

	/* Announcing more than the documented maximum, or too few chunks for the total. */
	state_xfer_tx_chunk(&m.tx, 0, &c);
	c.total = (uint64_t)DROVER_STATE_MAX + 1;
	assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, NULL, 0), STATE_XFER_BAD);
	state_xfer_tx_chunk(&m.tx, 0, &c);
	c.count = 1;
	assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, NULL, 0), STATE_XFER_BAD);
	assert_null(rx.buf);

	/* Whole and untouched, it still goes through. */
	assert_int_equal(feed_all(&rx, &m.tx), STATE_XFER_COMPLETE);
	state_xfer_rx_reset(&rx);
	small_free(&m);
}

static void test_out_of_order(void **unused)
{
	struct small m;
	struct state_xfer_rx rx = { 0 };
	Drover__StateChunk c;
	char err[160];

	(void)unused;
	small_make(&m);
	/* A missing chunk. */
	state_xfer_tx_chunk(&m.tx, 0, &c);
	assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, NULL, 0), STATE_XFER_MORE);
	state_xfer_tx_chunk(&m.tx, 2, &c);
	assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, err, sizeof(err)),
			 STATE_XFER_BAD);
	assert_non_null(strstr(err, "was due"));
	/* A repeated chunk. */
	state_xfer_tx_chunk(&m.tx, 0, &c);
	assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, NULL, 0), STATE_XFER_MORE);
	assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, NULL, 0), STATE_XFER_BAD);
	/* A transfer that starts in the middle. */
	state_xfer_tx_chunk(&m.tx, 1, &c);
	assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, NULL, 0), STATE_XFER_BAD);
	assert_false(rx.active);
	small_free(&m);
}

static void test_foreign_and_stale(void **unused)
{
	struct small m;
	struct state_xfer_rx rx = { 0 };
	Drover__StateChunk c;
	struct state_xfer_tx stale;

	(void)unused;
	small_make(&m);
	state_xfer_tx_init(&stale, m.buf, m.len, ROUND + 1);
	for (uint32_t i = 0; i < m.tx.count; i++) {
		/* Interleaved: another sender's chunk and an earlier round's, dropped unseen. */
		state_xfer_tx_chunk(&m.tx, i, &c);
		assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER + 1, &c, NULL, 0),
				 STATE_XFER_IGNORED);
		state_xfer_tx_chunk(&stale, i, &c);
		assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, NULL, 0),
				 STATE_XFER_IGNORED);
		state_xfer_tx_chunk(&m.tx, i, &c);
		assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, &c, NULL, 0),
				 i + 1 < m.tx.count ? STATE_XFER_MORE : STATE_XFER_COMPLETE);
	}
	state_xfer_rx_reset(&rx);

	/* A half transfer of an abandoned round is dropped when the awaited one starts. */
	state_xfer_tx_chunk(&stale, 0, &c);
	assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND + 1, SENDER, &c, NULL, 0),
			 STATE_XFER_MORE);
	assert_int_equal(feed_all(&rx, &m.tx), STATE_XFER_COMPLETE);
	assert_memory_equal(rx.buf, m.buf, m.len);
	state_xfer_rx_reset(&rx);
	assert_int_equal(state_xfer_rx_feed(&rx, SENDER, ROUND, SENDER, NULL, NULL, 0),
			 STATE_XFER_IGNORED);
	small_free(&m);
}

/* An empty state is one empty chunk, and decodes to an empty state. */
static void test_empty_state(void **unused)
{
	struct cluster_state a, b;
	struct state_xfer_tx tx;
	struct state_xfer_rx rx = { 0 };
	uint8_t *buf;
	size_t len;

	(void)unused;
	state_init(&a);
	assert_int_equal(state_xfer_encode(&a, &buf, &len), 0);
	state_xfer_tx_init(&tx, buf, len, ROUND);
	assert_int_equal(tx.count, 1);
	assert_int_equal(feed_all(&rx, &tx), STATE_XFER_COMPLETE);
	assert_int_equal(state_xfer_decode(rx.buf, rx.len, &b), 0);
	assert_int_equal(state_hash(&b), state_hash(&a));
	state_xfer_rx_reset(&rx);
	free(buf);
	/* Garbage does not decode. */
	assert_int_equal(state_xfer_decode((const uint8_t *)"\xff\xff\xff", 3, &b), -EBADMSG);
}

static int vm_add(struct cluster_state *s, const char *name, const char *xml, uint64_t mem,
		  uint32_t vcpus)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;

	vm.name = (char *)name;
	vm.xml = (char *)xml;
	vm.memory_mib = mem;
	vm.vcpus = vcpus;
	vm.priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	m.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	return state_apply(s, &env);
}

static int vm_remove(struct cluster_state *s, const char *name)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmRemove m = DROVER__VM_REMOVE__INIT;

	m.name = (char *)name;
	env.body_case = DROVER__ENVELOPE__BODY_VM_REMOVE;
	env.vm_remove = &m;
	return state_apply(s, &env);
}

/* VmAdd keeps a running total and refuses, alike everywhere, what would pass the maximum. */
static void test_registry_bound(void **unused)
{
	struct cluster_state s, big, back;
	char *xa = big_state_xml("a", 8192, 0), *xb = big_state_xml("b", 8192, 1);
	uint64_t cost_b = state_vm_bytes("b", xb), h;

	(void)unused;
	assert_true(DROVER_MAX_VMS >= 8192);
	assert_true(DROVER_STATE_MAX >= 128u * 1024 * 1024);
	state_init(&s);
	assert_int_equal(s.registry_bytes, 0);
	assert_int_equal(vm_add(&s, "a", xa, 64, 1), 1);
	assert_int_equal(s.registry_bytes, state_vm_bytes("a", xa));
	assert_int_equal(vm_add(&s, "a", xa, 64, 1), -EEXIST);
	assert_int_equal(s.registry_bytes, state_vm_bytes("a", xa));

	/* Just over the bound: refused, nothing changed. */
	s.registry_bytes = DROVER_REGISTRY_MAX - cost_b + 1;
	h = state_hash(&s);
	assert_int_equal(vm_add(&s, "b", xb, 65, 2), -ENOSPC);
	assert_int_equal(state_hash(&s), h);
	assert_int_equal(s.n_vms, 1);
	/* Exactly at it: taken. */
	s.registry_bytes = DROVER_REGISTRY_MAX - cost_b;
	assert_int_equal(vm_add(&s, "b", xb, 65, 2), 1);
	assert_int_equal(s.registry_bytes, DROVER_REGISTRY_MAX);
	s.registry_bytes = state_vm_bytes("a", xa) + cost_b;
	assert_int_equal(vm_remove(&s, "a"), 1);
	assert_int_equal(vm_remove(&s, "b"), 1);
	assert_int_equal(s.registry_bytes, 0);

	/* The total is derived: a decoded state and a copy have it too. */
	big_state_make(&big, 300, 8192);
	{
		Drover__ClusterState msg;
		struct state_proto_storage st = { 0 };

		state_to_proto(&big, &msg, &st);
		assert_int_equal(state_from_proto(&msg, &back), 0);
		state_proto_storage_free(&st);
	}
	assert_int_equal(back.registry_bytes, big.registry_bytes);
	state_free(&back);
	state_copy(&big, &back);
	assert_int_equal(back.registry_bytes, big.registry_bytes);
	state_free(&back);
	state_free(&big);
	state_free(&s);
	free(xa);
	free(xb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_big_roundtrip),
		cmocka_unit_test(test_tampered_chunk),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_foreign_and_stale),
		cmocka_unit_test(test_empty_state),
		cmocka_unit_test(test_registry_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
