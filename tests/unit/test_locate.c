/*
 * Where a VM runs, or that nobody can know (daemon/core/locate.c): the rule
 * of issue 8 case by case. A node that has not reported since its droverd
 * started, an offline node whose last report listed the VM, and an offline
 * node that an action was moving the VM onto all make the answer unknown,
 * with a reason that names the node; a fenced node and an offline node whose
 * last good report lacks the VM do not. The old rule said "stopped" in the
 * first and third case; those two tests fail on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "locate.h"

#define RUNNING DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING
#define PAUSED DROVER__VM_RUN_STATE__VM_RUN_STATE_PAUSED
#define STOPPED DROVER__VM_RUN_STATE__VM_RUN_STATE_STOPPED
#define CRASHED DROVER__VM_RUN_STATE__VM_RUN_STATE_CRASHED
#define SUSPENDED DROVER__VM_RUN_STATE__VM_RUN_STATE_SUSPENDED

static const char *names[] = { "n1", "n2", "n3" };

/* Three current members with nothing on them; tests change what they need. */
static void three_current(struct locate_node *n)
{
	memset(n, 0, 3 * sizeof(*n));
	for (int i = 0; i < 3; i++) {
		n[i].id = (uint32_t)i + 1;
		n[i].name = names[i];
		n[i].member = true;
		n[i].current = true;
		n[i].has_record = true;
		n[i].why_stale = "";
	}
}

static struct locate_result run(const struct locate_node *n, const char *vm)
{
	struct locate_result r;

	assert_int_equal(locate_vm(n, 3, vm, &r), 0);
	return r;
}

static void test_running_where_reported(void **st)
{
	struct locate_node n[3];
	struct locate_domain d2[] = { { "vm1", RUNNING } };
	struct locate_result r;

	(void)st;
	three_current(n);
	n[1].n_domains = 1, n[1].domains = d2;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_RUNNING);
	assert_int_equal(r.node_id, 2);
	assert_int_equal(r.n_also, 0);
	r = run(n, "vm2");
	assert_int_equal(r.state, LOCATE_STOPPED);
	assert_int_equal(r.node_id, 0);
}

/* droverd restarted on n1 while its libvirtd does not answer: n1 has no report. */
static void test_member_never_reported_is_unknown(void **st)
{
	struct locate_node n[3];
	struct locate_result r;

	(void)st;
	three_current(n);
	n[0].current = false;
	n[0].has_record = false;
	n[0].why_stale = "inventory failed: cannot connect to libvirt";
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_UNKNOWN);
	assert_int_equal(r.unknown_node, 1);
	assert_true(r.unknown_member);
	assert_non_null(strstr(r.reason, "n1 has not reported its domains since its droverd started"));
	assert_non_null(strstr(r.reason, "cannot connect to libvirt"));
}

static void test_offline_never_seen_is_unknown(void **st)
{
	struct locate_node n[3];
	struct locate_result r;

	(void)st;
	three_current(n);
	n[2].member = n[2].current = n[2].has_record = false;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_UNKNOWN);
	assert_int_equal(r.unknown_node, 3);
	assert_false(r.unknown_member);
	assert_non_null(strstr(r.reason, "n3 is offline"));
}

static void test_offline_last_seen_running_is_unknown(void **st)
{
	struct locate_node n[3];
	struct locate_domain d3[] = { { "vm1", RUNNING } };
	struct locate_result r;

	(void)st;
	three_current(n);
	n[2].member = n[2].current = false;
	n[2].n_domains = 1, n[2].domains = d3;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_UNKNOWN);
	assert_non_null(strstr(r.reason, "it ran on n3"));
	/* Another VM was not there and nothing moved it there: known stopped. */
	r = run(n, "vm2");
	assert_int_equal(r.state, LOCATE_STOPPED);
}

/* A node left while it executed a start of vm1: its last report predates the start. */
static void test_touched_by_an_action_is_unknown(void **st)
{
	struct locate_node n[3];
	const char *touched[] = { "vm1" };
	struct locate_result r;

	(void)st;
	three_current(n);
	n[1].member = n[1].current = false;
	n[1].n_touched = 1, n[1].touched = touched;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_UNKNOWN);
	assert_int_equal(r.unknown_node, 2);
	assert_non_null(strstr(r.reason, "an action was moving it onto n2"));
	/*
	 * The same node, current again, but the touch is still there: the
	 * action ended after the report was taken (observe.c settles a touch
	 * only with a report after the end), so the report cannot say.
	 */
	n[1].member = n[1].current = true;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_UNKNOWN);
	assert_int_equal(r.unknown_node, 2);
	assert_true(r.unknown_member);
	assert_non_null(strstr(r.reason, "an action moved it onto n2 after n2's last report"));
	/* Reported afresh (the touch settled): its report is the truth. */
	n[1].n_touched = 0;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_STOPPED);
	/* Touched and listed running: it runs there. */
	n[1].n_touched = 1;
	n[1].n_domains = 1, n[1].domains = (struct locate_domain[]){ { "vm1", RUNNING } };
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_RUNNING);
	assert_int_equal(r.node_id, 2);
}

static void test_agent_down_member_keeps_last_report_as_unknown(void **st)
{
	struct locate_node n[3];
	struct locate_domain d1[] = { { "vm1", PAUSED } };
	struct locate_result r;

	(void)st;
	three_current(n);
	n[0].current = false;
	n[0].why_stale = "agent restarting";
	n[0].n_domains = 1, n[0].domains = d1;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_UNKNOWN);
	assert_non_null(strstr(r.reason, "whose agent cannot report now: agent restarting"));
}

static void test_fenced_node_holds_nothing(void **st)
{
	struct locate_node n[3];
	struct locate_domain d3[] = { { "vm1", RUNNING } };
	struct locate_result r;

	(void)st;
	three_current(n);
	n[2].member = n[2].current = false;
	n[2].holds_nothing = true;
	n[2].n_domains = 1, n[2].domains = d3;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_STOPPED);
	n[2].has_record = false;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_STOPPED);
}

/*
 * Fenced and away is known off for what it ran before the fence, not for a
 * VM an action touched there since (it came back, a start was decided on it,
 * it left again): that VM is unknown.
 */
static void test_fenced_node_touched_since(void **st)
{
	struct locate_node n[3];
	const char *touched[] = { "vm1" };
	struct locate_result r;

	(void)st;
	three_current(n);
	n[2].member = n[2].current = false;
	n[2].holds_nothing = true;
	n[2].n_touched = 1, n[2].touched = touched;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_UNKNOWN);
	assert_int_equal(r.unknown_node, 3);
	assert_non_null(strstr(r.reason, "an action was moving it onto n3"));
	r = run(n, "vm2");
	assert_int_equal(r.state, LOCATE_STOPPED);
}

/* A current node that runs it answers, whatever a silent node may also hold. */
static void test_running_beats_unknown(void **st)
{
	struct locate_node n[3];
	struct locate_domain d2[] = { { "vm1", RUNNING } };
	struct locate_result r;

	(void)st;
	three_current(n);
	n[0].current = n[0].has_record = false;
	n[1].n_domains = 1, n[1].domains = d2;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_RUNNING);
	assert_int_equal(r.node_id, 2);
}

static void test_migration_paused_copy_is_not_a_second(void **st)
{
	struct locate_node n[3];
	struct locate_domain d1[] = { { "vm1", PAUSED } };
	struct locate_domain d2[] = { { "vm1", RUNNING } };
	struct locate_result r;

	(void)st;
	three_current(n);
	n[0].n_domains = 1, n[0].domains = d1;
	n[1].n_domains = 1, n[1].domains = d2;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_RUNNING);
	assert_int_equal(r.node_id, 2);
	assert_false(r.paused_only);
	assert_int_equal(r.n_also, 0);
	/* Only the paused copy: it is where the VM is. */
	n[1].n_domains = 0;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_RUNNING);
	assert_int_equal(r.node_id, 1);
	assert_true(r.paused_only);
}

static void test_two_running_copies_are_reported(void **st)
{
	struct locate_node n[3];
	struct locate_domain d[] = { { "vm1", RUNNING } };
	struct locate_result r;

	(void)st;
	three_current(n);
	n[0].n_domains = 1, n[0].domains = d;
	n[2].n_domains = 1, n[2].domains = d;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_RUNNING);
	assert_int_equal(r.node_id, 1);
	assert_int_equal(r.n_also, 1);
	assert_int_equal(r.also[0], 3);
}

static void test_defined_crashed_and_suspended(void **st)
{
	struct locate_node n[3];
	struct locate_domain d1[] = { { "vm1", STOPPED }, { "vm2", CRASHED }, { "vm3", SUSPENDED } };
	struct locate_result r;

	(void)st;
	three_current(n);
	n[0].n_domains = 3, n[0].domains = d1;
	r = run(n, "vm1");
	assert_int_equal(r.state, LOCATE_STOPPED);
	assert_int_equal(r.node_id, 1);
	r = run(n, "vm2");
	assert_int_equal(r.state, LOCATE_FAILED);
	assert_int_equal(r.node_id, 1);
	/* Suspended to memory still holds the guest: it is not stopped. */
	r = run(n, "vm3");
	assert_int_equal(r.state, LOCATE_RUNNING);
	assert_true(locate_state_active(PAUSED));
	assert_true(locate_state_active(DROVER__VM_RUN_STATE__VM_RUN_STATE_UNKNOWN));
	assert_false(locate_state_active(STOPPED));
	assert_false(locate_state_active(CRASHED));
}

static void test_bad_arguments(void **st)
{
	struct locate_result r;

	(void)st;
	assert_int_equal(locate_vm(NULL, 2, "vm1", &r), -EINVAL);
	assert_int_equal(locate_vm(NULL, 0, NULL, &r), -EINVAL);
	assert_int_equal(locate_vm(NULL, 0, "vm1", NULL), -EINVAL);
	assert_int_equal(locate_vm(NULL, 0, "vm1", &r), 0);
	assert_int_equal(r.state, LOCATE_STOPPED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_running_where_reported),
		cmocka_unit_test(test_member_never_reported_is_unknown),
		cmocka_unit_test(test_offline_never_seen_is_unknown),
		cmocka_unit_test(test_offline_last_seen_running_is_unknown),
		cmocka_unit_test(test_touched_by_an_action_is_unknown),
		cmocka_unit_test(test_agent_down_member_keeps_last_report_as_unknown),
		cmocka_unit_test(test_fenced_node_holds_nothing),
		cmocka_unit_test(test_fenced_node_touched_since),
		cmocka_unit_test(test_running_beats_unknown),
		cmocka_unit_test(test_migration_paused_copy_is_not_a_second),
		cmocka_unit_test(test_two_running_copies_are_reported),
		cmocka_unit_test(test_defined_crashed_and_suspended),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
