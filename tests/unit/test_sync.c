/*
 * The state exchange: who wins, when a full transfer is needed, and that every
 * member, fed the same delivered stream, reaches the same conclusion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "sync.h"

static const uint32_t three[] = { 3, 1, 2 };

static void test_all_equal_no_transfer(void **unused)
{
	struct sync_round r;

	(void)unused;
	sync_begin(&r, three, 3);
	assert_int_equal(sync_on_digest(&r, 1, 2, 0, 5, 0xaa), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r, 1, 3, 0, 5, 0xaa), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r, 1, 1, 0, 5, 0xaa), SYNC_DONE);
	assert_false(r.active);
	/* A late full state after the round is over is ignored. */
	assert_int_equal(sync_on_full(&r, 1), SYNC_IGNORED);
}

static void test_highest_epoch_wins(void **unused)
{
	struct sync_round r1, r3;

	(void)unused;
	/* Node 3 was away but has the newest state (epoch 9). */
	sync_begin(&r1, three, 3);
	sync_begin(&r3, three, 3);
	assert_int_equal(sync_on_digest(&r1, 1, 1, 0, 4, 0x1), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r3, 3, 1, 0, 4, 0x1), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r1, 1, 3, 0, 9, 0x9), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r3, 3, 3, 0, 9, 0x9), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r1, 1, 2, 0, 4, 0x1), SYNC_AWAIT_FULL);
	assert_int_equal(sync_on_digest(&r3, 3, 2, 0, 4, 0x1), SYNC_SEND_FULL);
	assert_int_equal(r1.winner, 3);
	assert_int_equal(r3.winner, 3);
	/* Only the winner's full state ends the round. */
	assert_int_equal(sync_on_full(&r1, 2), SYNC_IGNORED);
	assert_true(r1.active);
	assert_int_equal(sync_on_full(&r1, 3), SYNC_DONE);
	assert_false(r1.active);
}

/*
 * Issue 8, defect 3: node 3 was cut off and applied two changes the others
 * never saw (epoch 6); the quorate side bumped its term when it formed and
 * applied one (term 5, epoch 5). The merge keeps the quorate history. By
 * epoch alone, as before, node 3 won.
 */
static void test_quorate_term_beats_minority_epoch(void **unused)
{
	struct sync_round r;

	(void)unused;
	sync_begin(&r, three, 3);
	assert_int_equal(sync_on_digest(&r, 3, 1, 5, 5, 0x15), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r, 3, 2, 5, 5, 0x15), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r, 3, 3, 4, 6, 0x36), SYNC_AWAIT_FULL);
	assert_int_equal(r.winner, 1);
	assert_int_equal(r.win_term, 5);
	assert_int_equal(r.win_epoch, 5);
	/* Within one term the epoch still decides. */
	sync_begin(&r, three, 3);
	sync_on_digest(&r, 1, 1, 5, 5, 0x15);
	sync_on_digest(&r, 1, 2, 5, 7, 0x27);
	assert_int_equal(sync_on_digest(&r, 1, 3, 5, 6, 0x36), SYNC_AWAIT_FULL);
	assert_int_equal(r.winner, 2);
}

static void test_tie_majority_then_lowest(void **unused)
{
	struct sync_round r;
	const uint32_t m[] = { 1, 2, 3 };

	(void)unused;
	/* Node 1 applied a change nobody else saw; 2 and 3 agree on another. */
	sync_begin(&r, m, 3);
	sync_on_digest(&r, 2, 1, 0, 7, 0x111);
	sync_on_digest(&r, 2, 2, 0, 7, 0x222);
	assert_int_equal(sync_on_digest(&r, 2, 3, 0, 7, 0x222), SYNC_SEND_FULL);
	assert_int_equal(r.winner, 2);
	assert_int_equal(r.win_hash, 0x222);

	/* Two different copies, one holder each: the lowest node id wins. */
	const uint32_t two[] = { 4, 6 };
	sync_begin(&r, two, 2);
	sync_on_digest(&r, 6, 6, 0, 3, 0x6);
	assert_int_equal(sync_on_digest(&r, 6, 4, 0, 3, 0x4), SYNC_AWAIT_FULL);
	assert_int_equal(r.winner, 4);
}

static void test_ignores_strangers_and_duplicates(void **unused)
{
	struct sync_round r;
	const uint32_t m[] = { 1, 2 };

	(void)unused;
	sync_begin(&r, m, 2);
	assert_int_equal(sync_on_digest(&r, 1, 9, 0, 100, 0x9), SYNC_IGNORED);
	assert_int_equal(sync_on_digest(&r, 1, 1, 0, 1, 0x1), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r, 1, 1, 0, 50, 0x5), SYNC_IGNORED);
	assert_int_equal(sync_on_digest(&r, 1, 2, 0, 1, 0x1), SYNC_DONE);
}

static void test_single_member(void **unused)
{
	struct sync_round r;
	const uint32_t m[] = { 5 };

	(void)unused;
	sync_begin(&r, m, 1);
	assert_int_equal(sync_on_digest(&r, 5, 5, 0, 0, 0x0), SYNC_DONE);
}

static void test_restart_discards_partial(void **unused)
{
	struct sync_round r;

	(void)unused;
	sync_begin(&r, three, 3);
	sync_on_digest(&r, 1, 3, 0, 9, 0x9);
	sync_begin(&r, three, 3); /* a new configuration change */
	sync_on_digest(&r, 1, 1, 0, 2, 0x2);
	sync_on_digest(&r, 1, 2, 0, 2, 0x2);
	assert_int_equal(sync_on_digest(&r, 1, 3, 0, 2, 0x2), SYNC_DONE);
}

/* Random rounds: every member computes the same winner from the same stream. */
static void test_members_agree(void **unused)
{
	(void)unused;
	srandom(7);
	for (int round = 0; round < 2000; round++) {
		uint32_t m[8];
		uint64_t ep[8], h[8];
		struct sync_round r[8];
		size_t n = 1 + (size_t)(random() % 8);
		enum sync_action last[8] = { SYNC_WAIT };
		int senders = 0;

		for (size_t i = 0; i < n; i++) {
			m[i] = (uint32_t)(i * 3 + 1 + random() % 3);
			ep[i] = (uint64_t)(random() % 3);
			h[i] = ep[i] * 10 + (uint64_t)(random() % 2);
		}
		for (size_t i = 0; i < n; i++)
			sync_begin(&r[i], m, n);
		for (size_t k = 0; k < n; k++)
			for (size_t i = 0; i < n; i++)
				last[i] = sync_on_digest(&r[i], m[i], m[k], 0, ep[k], h[k]);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(r[i].winner, r[0].winner);
			assert_true(last[i] != SYNC_WAIT && last[i] != SYNC_IGNORED);
			senders += last[i] == SYNC_SEND_FULL;
			if (last[i] == SYNC_DONE)
				assert_int_equal(last[0], SYNC_DONE);
		}
		/* Exactly one sender when a transfer is needed, none otherwise. */
		assert_int_equal(senders, last[0] == SYNC_DONE ? 0 : 1);
		/* The winner holds the highest epoch. */
		for (size_t i = 0; i < n; i++)
			assert_true(ep[i] <= r[0].win_epoch);
	}
}

/* ---- an invalid full state (sync.h, step 4) ---- */

/* The digest call in one place, for the tests below. */
static enum sync_action digest(struct sync_round *r, uint32_t local, uint32_t from,
			       uint64_t epoch, uint64_t hash)
{
	return sync_on_digest(r, local, from, 0, epoch, hash);
}

/* The newest copy is invalid: every member, its holder too, moves to the next one. */
static void test_invalid_full_next_candidate(void **unused)
{
	const uint32_t m[] = { 1, 2, 3 };
	struct sync_round r[3];
	uint64_t before;

	(void)unused;
	for (size_t i = 0; i < 3; i++) {
		sync_begin(&r[i], m, 3);
		digest(&r[i], m[i], 3, 9, 0x9);
		digest(&r[i], m[i], 1, 4, 0x4);
		assert_int_equal(digest(&r[i], m[i], 2, 4, 0x4),
				 m[i] == 3 ? SYNC_SEND_FULL : SYNC_AWAIT_FULL);
		assert_true(sync_awaits_full(&r[i], 3));
		assert_false(sync_awaits_full(&r[i], 1));
		assert_true(sync_full_matches(&r[i], 9, 0x9));
		assert_false(sync_full_matches(&r[i], 9, 0x8));
		assert_false(sync_full_matches(&r[i], 8, 0x9));
	}
	before = sync_xfer_round(&r[0]);
	assert_int_equal(sync_xfer_round(&r[1]), before);
	for (size_t i = 0; i < 3; i++) {
		/* Only the awaited winner can be found invalid. */
		assert_int_equal(sync_on_full_invalid(&r[i], m[i], 2), SYNC_IGNORED);
		assert_int_equal(r[i].winner, 3);
		assert_int_equal(sync_on_full_invalid(&r[i], m[i], 3),
				 m[i] == 1 ? SYNC_SEND_FULL : SYNC_AWAIT_FULL);
		assert_int_equal(r[i].winner, 1);
		assert_int_equal(r[i].win_epoch, 4);
		assert_int_equal(r[i].win_hash, 0x4);
		assert_true(r[i].active);
		assert_false(r[i].exhausted);
		/* The excluded one's late full state or chunks count for nothing. */
		assert_false(sync_awaits_full(&r[i], 3));
		assert_int_equal(sync_on_full(&r[i], 3), SYNC_IGNORED);
		assert_true(sync_awaits_full(&r[i], 1));
		/* A new transfer id, the same on every member. */
		assert_int_not_equal(sync_xfer_round(&r[i]), before);
		assert_int_equal(sync_xfer_round(&r[i]), sync_xfer_round(&r[0]));
	}
	/* Node 1's copy is valid: everyone ends the exchange with it, node 3 included. */
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(sync_on_full(&r[i], 1), SYNC_DONE);
		assert_false(r[i].active);
	}
}

/* The next candidate is chosen by the usual rule among those left. */
static void test_invalid_full_rule_among_rest(void **unused)
{
	const uint32_t m[] = { 1, 2, 3 };
	struct sync_round r;

	(void)unused;
	sync_begin(&r, m, 3);
	digest(&r, 3, 1, 7, 0xa);
	digest(&r, 3, 2, 7, 0xa);
	assert_int_equal(digest(&r, 3, 3, 7, 0xb), SYNC_AWAIT_FULL);
	assert_int_equal(r.winner, 1); /* the copy two members hold */
	/* Node 1 is out; 2 and 3 hold one copy each: the lowest id, 2, with 0xa. */
	assert_int_equal(sync_on_full_invalid(&r, 3, 1), SYNC_AWAIT_FULL);
	assert_int_equal(r.winner, 2);
	assert_int_equal(r.win_hash, 0xa);
	/* The same copy fails again: node 3's own is the last candidate. */
	assert_int_equal(sync_on_full_invalid(&r, 3, 2), SYNC_SEND_FULL);
	assert_int_equal(r.winner, 3);
	assert_int_equal(r.win_hash, 0xb);
	assert_int_equal(r.n_excluded, 2);
}

/* Nobody left: the exchange stays open and unsynchronised until the next one. */
static void test_invalid_full_exhausted(void **unused)
{
	const uint32_t m[] = { 4, 6 };
	struct sync_round r;

	(void)unused;
	sync_begin(&r, m, 2);
	digest(&r, 6, 6, 3, 0x6);
	assert_int_equal(digest(&r, 6, 4, 3, 0x4), SYNC_AWAIT_FULL);
	assert_int_equal(sync_on_full_invalid(&r, 6, 4), SYNC_SEND_FULL);
	assert_int_equal(r.winner, 6);
	assert_int_equal(sync_on_full_invalid(&r, 6, 6), SYNC_WAIT);
	assert_true(r.exhausted);
	assert_true(r.active); /* changes are still dropped, nobody is synchronised */
	assert_false(sync_awaits_full(&r, 4));
	assert_false(sync_awaits_full(&r, 6));
	assert_int_equal(sync_on_full(&r, 6), SYNC_IGNORED);
	assert_int_equal(sync_on_full(&r, 4), SYNC_IGNORED);
	assert_int_equal(sync_on_full_invalid(&r, 6, 6), SYNC_IGNORED);
	assert_int_equal(digest(&r, 6, 4, 3, 0x4), SYNC_IGNORED);
	assert_true(r.active);

	/* The next configuration change starts afresh. */
	sync_begin(&r, m, 2);
	assert_false(r.exhausted);
	assert_int_equal(r.n_excluded, 0);
	digest(&r, 6, 6, 3, 0x6);
	assert_int_equal(digest(&r, 6, 4, 3, 0x4), SYNC_AWAIT_FULL);
	assert_int_equal(sync_on_full(&r, 4), SYNC_DONE);
}

/* Random rounds with random invalid full states: the members never disagree. */
static void test_invalid_full_members_agree(void **unused)
{
	(void)unused;
	srandom(11);
	for (int round = 0; round < 2000; round++) {
		uint32_t m[8];
		uint64_t ep[8], h[8];
		struct sync_round r[8];
		size_t n = 1 + (size_t)(random() % 8);
		enum sync_action last[8] = { SYNC_WAIT };
		bool out[8] = { false };

		for (size_t i = 0; i < n; i++) {
			m[i] = (uint32_t)(i * 3 + 1 + random() % 3);
			ep[i] = (uint64_t)(random() % 3);
			h[i] = ep[i] * 10 + (uint64_t)(random() % 2);
		}
		for (size_t i = 0; i < n; i++)
			sync_begin(&r[i], m, n);
		for (size_t k = 0; k < n; k++)
			for (size_t i = 0; i < n; i++)
				last[i] = digest(&r[i], m[i], m[k], ep[k], h[k]);
		/* Invalidate winners until one is good, everyone holds it, or none is left. */
		while (last[0] == SYNC_SEND_FULL || last[0] == SYNC_AWAIT_FULL) {
			uint32_t w = r[0].winner;
			int senders = 0;

			for (size_t i = 0; i < n; i++) {
				assert_int_equal(r[i].winner, w);
				assert_int_equal(sync_xfer_round(&r[i]), sync_xfer_round(&r[0]));
				senders += last[i] == SYNC_SEND_FULL;
			}
			assert_int_equal(senders, 1);
			for (size_t i = 0; i < n; i++)
				if (m[i] == w) {
					assert_false(out[i]);
					out[i] = true;
				}
			if (random() % 3 == 0) {
				for (size_t i = 0; i < n; i++)
					assert_int_equal(sync_on_full(&r[i], w), SYNC_DONE);
				last[0] = SYNC_DONE;
				break;
			}
			for (size_t i = 0; i < n; i++)
				last[i] = sync_on_full_invalid(&r[i], m[i], w);
		}
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(r[i].active, r[0].active);
			assert_int_equal(r[i].exhausted, r[0].exhausted);
			if (last[0] == SYNC_WAIT)
				assert_true(r[i].active && r[i].exhausted);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_equal_no_transfer),
		cmocka_unit_test(test_highest_epoch_wins),
		cmocka_unit_test(test_quorate_term_beats_minority_epoch),
		cmocka_unit_test(test_tie_majority_then_lowest),
		cmocka_unit_test(test_ignores_strangers_and_duplicates),
		cmocka_unit_test(test_single_member),
		cmocka_unit_test(test_restart_discards_partial),
		cmocka_unit_test(test_members_agree),
		cmocka_unit_test(test_invalid_full_next_candidate),
		cmocka_unit_test(test_invalid_full_rule_among_rest),
		cmocka_unit_test(test_invalid_full_exhausted),
		cmocka_unit_test(test_invalid_full_members_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
