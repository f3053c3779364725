/*
 * VM operations as replicated state (daemon/state_ops.c): a VmAction adds
 * one, its VmActionResult removes it; at most one per VM; none for a VM with
 * a migration job, and no JobStart for a VM with an operation; malformed
 * ones refused without a trace; the protobuf round trip keeps them and the
 * hash sees them. On the old code, actions lived in each daemon's memory: a
 * second action for the same VM and a JobStart beside an action were taken.
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

#include "state.h"

#define START DROVER__VM_ACTION_KIND__VM_ACTION_START
#define STOP DROVER__VM_ACTION_KIND__VM_ACTION_STOP
#define MIGRATE DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE

static int add_vm(struct cluster_state *s, const char *name)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
	char xml[256];

	snprintf(xml, sizeof(xml),
		 "<domain><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu></domain>", name);
	vm.name = (char *)name;
	vm.xml = xml;
	vm.memory_mib = 64;
	vm.vcpus = 1;
	vm.priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	m.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	return state_apply(s, &env);
}

static int action(struct cluster_state *s, uint64_t id, int kind, const char *vm, uint32_t node,
		  uint32_t target)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction m = DROVER__VM_ACTION__INIT;

	m.action_id = id;
	m.kind = (Drover__VmActionKind)kind;
	m.vm = (char *)vm;
	m.node = node;
	m.target_node = target;
	m.network = (char *)"";
	m.origin_node = 1;
	m.request_id = 7;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &m;
	return state_apply(s, &env);
}

static int result(struct cluster_state *s, uint64_t id)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmActionResult m = DROVER__VM_ACTION_RESULT__INIT;

	m.action_id = id;
	m.ok = true;
	m.error = (char *)"";
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_RESULT;
	env.vm_action_result = &m;
	return state_apply(s, &env);
}

static int jobs_add(struct cluster_state *s, const char *vm, uint32_t source)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsAdd m = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec sp = DROVER__JOB_SPEC__INIT, *ptr = &sp;

	sp.vm = (char *)vm;
	sp.source = source;
	sp.origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_DRAIN;
	m.jobs = &ptr;
	m.n_jobs = 1;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &m;
	return state_apply(s, &env);
}

static int job_start(struct cluster_state *s, uint64_t id, uint32_t target)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobStart m = DROVER__JOB_START__INIT;

	m.job_id = id;
	m.target = target;
	m.network = (char *)"mig-a";
	m.started_ms = 1000;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
	env.job_start = &m;
	return state_apply(s, &env);
}

static void test_add_and_finish(void **st)
{
	struct cluster_state s;
	uint64_t e;

	(void)st;
	state_init(&s);
	assert_int_equal(add_vm(&s, "vm1"), 1);
	e = s.epoch;
	assert_int_equal(action(&s, 0x100000001ull, START, "vm1", 2, 0), 1);
	assert_int_equal(s.epoch, e + 1);
	assert_int_equal(s.n_ops, 1);
	assert_non_null(state_op_for_vm(&s, "vm1"));
	assert_int_equal(state_op_find(&s, 0x100000001ull)->node, 2);
	assert_int_equal(result(&s, 0x100000001ull), 1);
	assert_int_equal(s.n_ops, 0);
	assert_int_equal(s.epoch, e + 2);
	/* A refusal (id 0) or an unknown id changes nothing. */
	assert_int_equal(result(&s, 0), 0);
	assert_int_equal(result(&s, 42), -ENOENT);
	assert_int_equal(s.epoch, e + 2);
	state_free(&s);
}

static void test_one_operation_per_vm(void **st)
{
	struct cluster_state s;
	uint64_t e;

	(void)st;
	state_init(&s);
	add_vm(&s, "vm1");
	add_vm(&s, "vm2");
	assert_int_equal(action(&s, 1, START, "vm1", 2, 0), 1);
	e = s.epoch;
	/* Two coordinators' decisions for one VM: the second is refused everywhere. */
	assert_int_equal(action(&s, 2, START, "vm1", 3, 0), -EBUSY);
	assert_int_equal(action(&s, 1, STOP, "vm2", 3, 0), -EEXIST);
	assert_int_equal(s.epoch, e);
	assert_int_equal(action(&s, 3, STOP, "vm2", 3, 0), 1);
	assert_int_equal(s.n_ops, 2);
	state_free(&s);
}

static void test_operation_and_job_exclude_each_other(void **st)
{
	struct cluster_state s;
	uint64_t job;

	(void)st;
	state_init(&s);
	add_vm(&s, "vm1");
	add_vm(&s, "vm2");
	assert_int_equal(jobs_add(&s, "vm1", 1), 1);
	job = s.jobs[0].id;
	assert_int_equal(action(&s, 5, MIGRATE, "vm1", 1, 2), -EBUSY);
	assert_int_equal(action(&s, 6, MIGRATE, "vm2", 1, 2), 1);
	assert_int_equal(jobs_add(&s, "vm2", 1), 1);
	/* The queue may not start vm2's job while an operation moves it. */
	assert_int_equal(job_start(&s, s.jobs[1].id, 3), -EBUSY);
	assert_int_equal(job_start(&s, job, 3), 1);
	state_free(&s);
}

static void test_malformed_refused(void **st)
{
	struct cluster_state s;
	uint64_t e, h;

	(void)st;
	state_init(&s);
	add_vm(&s, "vm1");
	e = s.epoch;
	h = state_hash(&s);
	assert_int_equal(action(&s, 0, START, "vm1", 2, 0), -EINVAL);
	assert_int_equal(action(&s, 1, 99, "vm1", 2, 0), -EINVAL);
	assert_int_equal(action(&s, 1, START, "vm1", 0, 0), -EINVAL);
	assert_int_equal(action(&s, 1, START, NULL, 2, 0), -EINVAL);
	assert_int_equal(action(&s, 1, START, "", 2, 0), -EINVAL);
	assert_int_equal(action(&s, 1, MIGRATE, "vm1", 2, 2), -EINVAL);
	assert_int_equal(action(&s, 1, MIGRATE, "vm1", 2, 0), -EINVAL);
	assert_int_equal(action(&s, 1, START, "nosuch", 2, 0), -ENOENT);
	assert_int_equal(s.epoch, e);
	assert_true(state_hash(&s) == h);
	state_free(&s);
}

static void test_round_trip_and_hash(void **st)
{
	struct cluster_state s, t, c;
	Drover__ClusterState msg;
	struct state_proto_storage storage;
	uint64_t h0;

	(void)st;
	state_init(&s);
	add_vm(&s, "vm1");
	add_vm(&s, "vm2");
	h0 = state_hash(&s);
	assert_int_equal(action(&s, 9, MIGRATE, "vm2", 1, 3), 1);
	assert_int_equal(action(&s, 4, START, "vm1", 2, 0), 1);
	assert_true(state_hash(&s) != h0);
	state_to_proto(&s, &msg, &storage);
	assert_int_equal(msg.n_ops, 2);
	assert_int_equal(state_from_proto(&msg, &t), 0);
	state_proto_storage_free(&storage);
	assert_int_equal(t.n_ops, 2);
	assert_int_equal(t.ops[0].id, 4); /* sorted by id */
	assert_int_equal(t.ops[1].target, 3);
	assert_true(state_hash(&t) == state_hash(&s));
	state_copy(&s, &c);
	assert_true(state_hash(&c) == state_hash(&s));
	assert_int_equal(result(&c, 9), 1);
	assert_int_equal(s.n_ops, 2); /* the copy owns its own table */
	state_free(&c);
	state_free(&t);
	state_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_and_finish),
		cmocka_unit_test(test_one_operation_per_vm),
		cmocka_unit_test(test_operation_and_job_exclude_each_other),
		cmocka_unit_test(test_malformed_refused),
		cmocka_unit_test(test_round_trip_and_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
