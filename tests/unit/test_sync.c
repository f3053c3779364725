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
	assert_int_equal(sync_on_digest(&r, 1, 2, 5, 0xaa), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r, 1, 3, 5, 0xaa), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r, 1, 1, 5, 0xaa), SYNC_DONE);
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
	assert_int_equal(sync_on_digest(&r1, 1, 1, 4, 0x1), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r3, 3, 1, 4, 0x1), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r1, 1, 3, 9, 0x9), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r3, 3, 3, 9, 0x9), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r1, 1, 2, 4, 0x1), SYNC_AWAIT_FULL);
	assert_int_equal(sync_on_digest(&r3, 3, 2, 4, 0x1), SYNC_SEND_FULL);
	assert_int_equal(r1.winner, 3);
	assert_int_equal(r3.winner, 3);
	/* Only the winner's full state ends the round. */
	assert_int_equal(sync_on_full(&r1, 2), SYNC_IGNORED);
	assert_true(r1.active);
	assert_int_equal(sync_on_full(&r1, 3), SYNC_DONE);
	assert_false(r1.active);
}

static void test_tie_majority_then_lowest(void **unused)
{
	struct sync_round r;
	const uint32_t m[] = { 1, 2, 3 };

	(void)unused;
	/* Node 1 applied a change nobody else saw; 2 and 3 agree on another. */
	sync_begin(&r, m, 3);
	sync_on_digest(&r, 2, 1, 7, 0x111);
	sync_on_digest(&r, 2, 2, 7, 0x222);
	assert_int_equal(sync_on_digest(&r, 2, 3, 7, 0x222), SYNC_SEND_FULL);
	assert_int_equal(r.winner, 2);
	assert_int_equal(r.win_hash, 0x222);

	/* Two different copies, one holder each: the lowest node id wins. */
	const uint32_t two[] = { 4, 6 };
	sync_begin(&r, two, 2);
	sync_on_digest(&r, 6, 6, 3, 0x6);
	assert_int_equal(sync_on_digest(&r, 6, 4, 3, 0x4), SYNC_AWAIT_FULL);
	assert_int_equal(r.winner, 4);
}

static void test_ignores_strangers_and_duplicates(void **unused)
{
	struct sync_round r;
	const uint32_t m[] = { 1, 2 };

	(void)unused;
	sync_begin(&r, m, 2);
	assert_int_equal(sync_on_digest(&r, 1, 9, 100, 0x9), SYNC_IGNORED);
	assert_int_equal(sync_on_digest(&r, 1, 1, 1, 0x1), SYNC_WAIT);
	assert_int_equal(sync_on_digest(&r, 1, 1, 50, 0x5), SYNC_IGNORED);
	assert_int_equal(sync_on_digest(&r, 1, 2, 1, 0x1), SYNC_DONE);
}

static void test_single_member(void **unused)
{
	struct sync_round r;
	const uint32_t m[] = { 5 };

	(void)unused;
	sync_begin(&r, m, 1);
	assert_int_equal(sync_on_digest(&r, 5, 5, 0, 0x0), SYNC_DONE);
}

static void test_restart_discards_partial(void **unused)
{
	struct sync_round r;

	(void)unused;
	sync_begin(&r, three, 3);
	sync_on_digest(&r, 1, 3, 9, 0x9);
	sync_begin(&r, three, 3); /* a new configuration change */
	sync_on_digest(&r, 1, 1, 2, 0x2);
	sync_on_digest(&r, 1, 2, 2, 0x2);
	assert_int_equal(sync_on_digest(&r, 1, 3, 2, 0x2), SYNC_DONE);
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
				last[i] = sync_on_digest(&r[i], m[i], m[k], ep[k], h[k]);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_equal_no_transfer),
		cmocka_unit_test(test_highest_epoch_wins),
		cmocka_unit_test(test_tie_majority_then_lowest),
		cmocka_unit_test(test_ignores_strangers_and_duplicates),
		cmocka_unit_test(test_single_member),
		cmocka_unit_test(test_restart_discards_partial),
		cmocka_unit_test(test_members_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
