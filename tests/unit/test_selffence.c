/*
 * Watchdog self-fencing's timing rule (daemon/core/selffence.c): when the
 * quorate side counts a lost node fenced, which beats grant its agent a
 * lease, that a lease is never shortened, and the property the rule exists
 * for: whatever the beats and the moment of the cut, the lost node's lease
 * runs out before the survivors count it fenced.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "selffence.h"

static const struct selffence_timing lab = { .timeout_ms = 10000, .margin_ms = 4000 };

static void test_not_gone_never_counts(void **st)
{
	(void)st;
	assert_true(selffence_left_ms(50000, 0, &lab) == UINT64_MAX);
	assert_true(selffence_left_ms(50000, 100, NULL) == UINT64_MAX);
}

static void test_counts_timeout_plus_margin_from_loss(void **st)
{
	(void)st;
	assert_int_equal(selffence_left_ms(1000, 1000, &lab), 14000);
	assert_int_equal(selffence_left_ms(14999, 1000, &lab), 1);
	assert_int_equal(selffence_left_ms(15000, 1000, &lab), 0);
	assert_int_equal(selffence_left_ms(99000, 1000, &lab), 0);
}

static void test_only_own_quorate_beats_grant(void **st)
{
	(void)st;
	assert_int_equal(selffence_lease_from_beat(true, true, 5000, 5200, 10000), 15000);
	assert_int_equal(selffence_lease_from_beat(false, true, 5000, 5200, 10000), 0);
	assert_int_equal(selffence_lease_from_beat(true, false, 5000, 5200, 10000), 0);
	assert_int_equal(selffence_lease_from_beat(true, true, 0, 5200, 10000), 0);
	/* A beat from the future counts from now. */
	assert_int_equal(selffence_lease_from_beat(true, true, 9000, 5200, 10000), 15200);
}

static void test_late_read_beat_grants_an_expired_lease(void **st)
{
	uint64_t lease;

	(void)st;
	/* droverd stopped at 5 s with its beat of 4.9 s unread, resumed at 40 s. */
	lease = selffence_lease_from_beat(true, true, 4900, 40000, 10000);
	assert_true(selffence_lease_expired(40000, lease));
}

static void test_lease_never_shortened(void **st)
{
	(void)st;
	assert_int_equal(selffence_lease_extend(15000, 12000), 15000);
	assert_int_equal(selffence_lease_extend(15000, 16000), 16000);
	assert_int_equal(selffence_lease_extend(0, 0), 0);
	assert_false(selffence_lease_expired(1u << 30, 0));
	assert_false(selffence_lease_expired(14999, 15000));
	assert_true(selffence_lease_expired(15000, 15000));
}

static void test_beat_and_watchdog_bounds(void **st)
{
	const struct selffence_timing small = { .timeout_ms = 2000, .margin_ms = 1000 };

	(void)st;
	assert_int_equal(selffence_beat_ms(10000), 1000);
	assert_int_equal(selffence_beat_ms(2000), 400);
	assert_int_equal(selffence_beat_ms(600), 200);
	assert_int_equal(selffence_watchdog_s(&lab), 2);
	assert_int_equal(selffence_watchdog_s(&small), 1);
}

/*
 * The safety property, over many runs: beats every beat_ms with delivery
 * delays, a cut at a random moment, the survivors' detection some time
 * after the last token round that carried a beat, the agent ticking every
 * SELFFENCE_TICK_MS. The lost node's VMs are gone (expiry + tick) strictly
 * before the survivors count it fenced.
 */
static void test_lease_ends_before_survivors_count_fenced(void **st)
{
	(void)st;
	srand(7);
	for (int run = 0; run < 20000; run++) {
		struct selffence_timing t = {
			.timeout_ms = 2000 + (uint32_t)(rand() % 30000),
			.margin_ms = 1000 + (uint32_t)(rand() % 10000),
		};
		uint32_t beat = selffence_beat_ms(t.timeout_ms);
		uint64_t cut = 10000 + (uint64_t)(rand() % 100000);
		uint64_t lease = 0, last_round = 0, detect, gone_since, destroyed;

		for (uint64_t sent = beat; sent < cut; sent += beat) {
			/* Ordered by the token at or after it was made, before the cut. */
			uint64_t ordered = sent + (uint64_t)(rand() % 300);
			/* Read by droverd at once, or much later (it was stopped). */
			uint64_t read = ordered + (uint64_t)(rand() % 4 ? rand() % 50 : rand() % 60000);

			if (ordered >= cut)
				break;
			last_round = ordered;
			lease = selffence_lease_extend(
				lease, selffence_lease_from_beat(true, true, sent, read, t.timeout_ms));
		}
		/* The survivors detect after the last round with the node in it. */
		detect = (last_round > cut ? last_round : cut) + 1000 + (uint64_t)(rand() % 4000);
		gone_since = detect + (uint64_t)(rand() % 600);
		if (!lease)
			continue;
		destroyed = lease + SELFFENCE_TICK_MS + t.margin_ms / 4;
		assert_true(destroyed < gone_since + t.timeout_ms + t.margin_ms);
		assert_int_equal(selffence_left_ms(destroyed, gone_since, &t) > 0, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_gone_never_counts),
		cmocka_unit_test(test_counts_timeout_plus_margin_from_loss),
		cmocka_unit_test(test_only_own_quorate_beats_grant),
		cmocka_unit_test(test_late_read_beat_grants_an_expired_lease),
		cmocka_unit_test(test_lease_never_shortened),
		cmocka_unit_test(test_beat_and_watchdog_bounds),
		cmocka_unit_test(test_lease_ends_before_survivors_count_fenced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
