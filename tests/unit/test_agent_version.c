/* Guest agent versions against the configured minimum (daemon/core/agent_version.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent_version.h"

static void test_below(void **state)
{
	(void)state;
	assert_true(agent_version_below("5.2.0", "7.2"));
	assert_true(agent_version_below("7.1.9", "7.2"));
	assert_true(agent_version_below("1.9", "1.10"));
	assert_true(agent_version_below("8.0.0-rc1", "8.1"));
	assert_false(agent_version_below("7.2", "7.2.0"));
	assert_false(agent_version_below("7.2.0", "7.2"));
	assert_false(agent_version_below("8", "7.2"));
	assert_false(agent_version_below("1.10", "1.9"));
	assert_false(agent_version_below("10.0.0", "9.9.9.9"));
}

static void test_nothing_to_flag(void **state)
{
	(void)state;
	/* No agent, no minimum, or a version that is not a number: no flag. */
	assert_false(agent_version_below("", "7.2"));
	assert_false(agent_version_below(NULL, "7.2"));
	assert_false(agent_version_below("5.2.0", ""));
	assert_false(agent_version_below("5.2.0", NULL));
	assert_false(agent_version_below("unknown", "7.2"));
	assert_false(agent_version_below("v5", "7.2"));
}

static void test_valid_min(void **state)
{
	(void)state;
	assert_true(agent_version_valid_min("7"));
	assert_true(agent_version_valid_min("7.2"));
	assert_true(agent_version_valid_min("7.2.0.1"));
	assert_false(agent_version_valid_min(""));
	assert_false(agent_version_valid_min("7.2.0.1.5"));
	assert_false(agent_version_valid_min("7."));
	assert_false(agent_version_valid_min(".7"));
	assert_false(agent_version_valid_min("7.2-rc1"));
	assert_false(agent_version_valid_min("7 2"));
	assert_false(agent_version_valid_min(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_below),
	    cmocka_unit_test(test_nothing_to_flag),
	    cmocka_unit_test(test_valid_min),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
