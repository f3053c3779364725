/*
 * The configuration quorum rule (daemon/core/quorum_rule.c): majorities of
 * the nodelist's votes, weighted votes, an explicit expected_votes, members
 * outside the nodelist, and the even split that is never quorate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "quorum_rule.h"

static const struct quorum_voter five[] = { { 1, 1 }, { 2, 1 }, { 3, 1 }, { 4, 1 }, { 5, 1 } };

static void test_majority_of_five(void **st)
{
	const uint32_t three[] = { 1, 2, 3 }, two[] = { 4, 5 };
	uint32_t votes, expected;

	(void)st;
	assert_true(quorum_rule_quorate(five, 5, 0, three, 3, &votes, &expected));
	assert_int_equal(votes, 3);
	assert_int_equal(expected, 5);
	assert_false(quorum_rule_quorate(five, 5, 0, two, 2, &votes, NULL));
	assert_int_equal(votes, 2);
}

static void test_even_split_is_not_quorate(void **st)
{
	const struct quorum_voter four[] = { { 1, 1 }, { 2, 1 }, { 3, 1 }, { 4, 1 } };
	const uint32_t half[] = { 1, 2 }, three[] = { 1, 2, 4 };

	(void)st;
	assert_false(quorum_rule_quorate(four, 4, 0, half, 2, NULL, NULL));
	assert_true(quorum_rule_quorate(four, 4, 0, three, 3, NULL, NULL));
}

static void test_weighted_votes_and_expected(void **st)
{
	const struct quorum_voter w[] = { { 1, 3 }, { 2, 1 }, { 3, 1 } };
	const uint32_t big[] = { 1 }, small[] = { 2, 3 };

	(void)st;
	assert_true(quorum_rule_quorate(w, 3, 0, big, 1, NULL, NULL));
	assert_false(quorum_rule_quorate(w, 3, 0, small, 2, NULL, NULL));
	/* expected_votes from corosync.conf wins over the sum. */
	assert_false(quorum_rule_quorate(w, 3, 7, big, 1, NULL, NULL));
}

static void test_strangers_hold_no_vote(void **st)
{
	const uint32_t strangers[] = { 7, 8, 9 }, dup[] = { 1, 1, 1 };

	(void)st;
	assert_false(quorum_rule_quorate(five, 5, 0, strangers, 3, NULL, NULL));
	assert_false(quorum_rule_quorate(five, 5, 0, dup, 3, NULL, NULL));
	assert_false(quorum_rule_quorate(NULL, 0, 0, strangers, 3, NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_majority_of_five),
		cmocka_unit_test(test_even_split_is_not_quorate),
		cmocka_unit_test(test_weighted_votes_and_expected),
		cmocka_unit_test(test_strangers_hold_no_vote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
