/*
 * The coordinator's VM decision (daemon/core/vmdecide.c) rule by rule:
 * unknown locations hold or refuse (never a guess), busy VMs are refused,
 * starts go where the domain is defined, then home, then the least loaded
 * node with room; a stop needs the VM running; a migration is refused (it is
 * a job of the queue, not a decision here).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "exitcode.h"
#include "vmdecide.h"

#define START DROVER__VM_ACTION_KIND__VM_ACTION_START
#define STOP DROVER__VM_ACTION_KIND__VM_ACTION_STOP
#define MIGRATE DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE

static void add_vm(struct cluster_state *s, const char *name, uint64_t mib, uint32_t home)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
	char xml[256];

	snprintf(xml, sizeof(xml),
		 "<domain><name>%s</name><memory unit='MiB'>%llu</memory><vcpu>1</vcpu></domain>",
		 name, (unsigned long long)mib);
	vm.name = (char *)name;
	vm.xml = xml;
	vm.memory_mib = mib;
	vm.vcpus = 1;
	vm.priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	vm.home_node = home;
	m.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	assert_int_equal(state_apply(s, &env), 1);
}

struct fixture {
	struct cluster_state s;
	struct vmd_node nodes[3];
	struct vmd_view v;
};

static void setup(struct fixture *f)
{
	static const char *names[] = { "n1", "n2", "n3" };

	memset(f, 0, sizeof(*f));
	state_init(&f->s);
	for (uint32_t i = 0; i < 3; i++)
		f->nodes[i] = (struct vmd_node){ .id = i + 1, .name = names[i], .member = true,
						 .agent_ok = true, .memory_mib = 4096 };
	f->v = (struct vmd_view){ .state = &f->s, .n_nodes = 3, .nodes = f->nodes };
	add_vm(&f->s, "vm1", 1024, 2);
}

static struct locate_result at(enum locate_state st, uint32_t node)
{
	struct locate_result r;

	memset(&r, 0, sizeof(r));
	r.state = st;
	r.node_id = node;
	return r;
}

static void test_unknown_holds_or_refuses(void **st)
{
	struct fixture f;
	struct vmd_request q = { .kind = START, .vm = "vm1", .may_hold = true };
	struct locate_result loc = at(LOCATE_UNKNOWN, 0);
	struct vmd_decision d;

	(void)st;
	setup(&f);
	loc.unknown_node = 1;
	loc.unknown_member = true;
	strcpy(loc.reason, "n1 has not reported its domains since its droverd started");
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.kind, VMD_HOLD);
	q.may_hold = false;
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.kind, VMD_ANSWER);
	assert_int_equal(d.exit_code, DROVER_EXIT_UNSAFE);
	assert_non_null(strstr(d.message, "n1 has not reported"));
	/* An offline node that may hide it: no wait helps, refused at once. */
	loc.unknown_member = false;
	q.may_hold = true;
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.exit_code, DROVER_EXIT_UNSAFE);
	/* Stops and migrations alike. */
	q.kind = STOP;
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.exit_code, DROVER_EXIT_UNSAFE);
	state_free(&f.s);
}

static void test_start_placement(void **st)
{
	struct fixture f;
	struct vmd_request q = { .kind = START, .vm = "vm1" };
	struct locate_result loc = at(LOCATE_STOPPED, 3);
	struct vmd_decision d;

	(void)st;
	setup(&f);
	/* Defined on n3: its disks are there. */
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.kind, VMD_ACT);
	assert_int_equal(d.node, 3);
	/* Defined nowhere: home n2. */
	loc = at(LOCATE_STOPPED, 0);
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.node, 2);
	/* Home unusable: the least loaded with room (n1 is fuller than n3, n2 is draining). */
	add_vm(&f.s, "vm0", 1024, 0);
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__SetNodeState m = DROVER__SET_NODE_STATE__INIT;

		m.node_id = 2;
		m.state = DROVER__NODE_STATE__NODE_STATE_MAINTENANCE;
		env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
		env.set_node_state = &m;
		assert_int_equal(state_apply(&f.s, &env), 1);
	}
	f.nodes[0].load_mib = 2048;
	f.nodes[2].load_mib = 1024;
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.node, 3);
	/* No room anywhere usable (paused guests count in load_mib). */
	f.nodes[2].load_mib = 3584;
	f.nodes[0].load_mib = 3584;
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.kind, VMD_ANSWER);
	assert_int_equal(d.exit_code, DROVER_EXIT_UNAVAILABLE);
	assert_non_null(strstr(d.message, "1024 MiB free"));
	/* A node without a current report takes nothing. */
	f.nodes[0].load_mib = 0;
	f.nodes[0].agent_ok = false;
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.kind, VMD_ANSWER);
	/* Running already: success, nothing decided. */
	loc = at(LOCATE_RUNNING, 1);
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.kind, VMD_ANSWER);
	assert_int_equal(d.exit_code, 0);
	assert_non_null(strstr(d.message, "already running on n1"));
	state_free(&f.s);
}

/* Where it is defined, and its home, only with room; a fenced node takes nothing. */
static void test_start_needs_room_on_home(void **st)
{
	struct fixture f;
	struct vmd_request q = { .kind = START, .vm = "vm1" };
	struct locate_result loc = at(LOCATE_STOPPED, 3);
	struct vmd_decision d;

	(void)st;
	setup(&f);
	f.nodes[2].load_mib = 3584; /* n3, where it is defined, is full */
	f.nodes[1].load_mib = 3584; /* n2, its home, too */
	f.nodes[0].load_mib = 1024;
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.kind, VMD_ACT);
	assert_int_equal(d.node, 1);
	/* n1 lost and fenced (back, not usable again yet): nowhere. */
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__NodeLost m = DROVER__NODE_LOST__INIT;

		m.node = 1;
		m.reason = (char *)"left";
		env.body_case = DROVER__ENVELOPE__BODY_NODE_LOST;
		env.node_lost = &m;
		assert_int_equal(state_apply(&f.s, &env), 1);
	}
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.kind, VMD_ANSWER);
	assert_int_equal(d.exit_code, DROVER_EXIT_UNAVAILABLE);
	state_free(&f.s);
}

/* A start waits for the coordinator's other decisions in flight; a stop does not. */
static void test_start_waits_for_decisions_in_flight(void **st)
{
	struct fixture f;
	struct vmd_request q = { .kind = START, .vm = "vm1", .others_in_flight = true,
				 .may_hold = true };
	struct locate_result loc = at(LOCATE_STOPPED, 0);
	struct vmd_decision d;

	(void)st;
	setup(&f);
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.kind, VMD_HOLD);
	q.may_hold = false;
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.kind, VMD_ANSWER);
	assert_int_equal(d.exit_code, DROVER_EXIT_UNAVAILABLE);
	q.kind = DROVER__VM_ACTION_KIND__VM_ACTION_STOP;
	loc = at(LOCATE_RUNNING, 2);
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.kind, VMD_ACT);
	state_free(&f.s);
}

static void test_busy_vm_refused(void **st)
{
	struct fixture f;
	struct vmd_request q = { .kind = START, .vm = "vm1", .in_flight = true };
	struct locate_result loc = at(LOCATE_STOPPED, 0);
	struct vmd_decision d;

	(void)st;
	setup(&f);
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.exit_code, DROVER_EXIT_UNAVAILABLE);
	q.in_flight = false;
	q.vm = "nosuch";
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.exit_code, DROVER_EXIT_NOSUCH);
	assert_int_equal(vm_decide(NULL, &q, &loc, &d), -EINVAL);
	state_free(&f.s);
}

static void test_busy_with_a_migration_job(void **st)
{
	struct fixture f;
	struct vmd_request q = { .kind = STOP, .vm = "vm1" };
	struct locate_result loc = at(LOCATE_RUNNING, 1);
	struct vmd_decision d;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsAdd m = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec sp = DROVER__JOB_SPEC__INIT, *ptr = &sp;

	(void)st;
	setup(&f);
	sp.vm = (char *)"vm1";
	sp.source = 1;
	m.jobs = &ptr;
	m.n_jobs = 1;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &m;
	assert_int_equal(state_apply(&f.s, &env), 1);
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.kind, VMD_ANSWER);
	assert_int_equal(d.exit_code, DROVER_EXIT_UNAVAILABLE);
	assert_non_null(strstr(d.message, "migration job"));
	state_free(&f.s);
}

/* A migration is the queue's (JobsAdd): an older droverd's request is refused, not decided. */
static void test_migrate_refused(void **st)
{
	struct fixture f;
	struct vmd_request q = { .kind = MIGRATE, .vm = "vm1" };
	struct locate_result loc = at(LOCATE_RUNNING, 1);
	struct vmd_decision d;

	(void)st;
	setup(&f);
	assert_int_equal(vm_decide(&f.v, &q, &loc, &d), 0);
	assert_int_equal(d.kind, VMD_ANSWER);
	assert_int_equal(d.exit_code, DROVER_EXIT_INVALID_PARAM);
	assert_non_null(strstr(d.message, "job of the queue"));
	state_free(&f.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_holds_or_refuses),
		cmocka_unit_test(test_start_placement),
		cmocka_unit_test(test_start_needs_room_on_home),
		cmocka_unit_test(test_start_waits_for_decisions_in_flight),
		cmocka_unit_test(test_busy_vm_refused),
		cmocka_unit_test(test_busy_with_a_migration_job),
		cmocka_unit_test(test_migrate_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
