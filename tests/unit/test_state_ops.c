/*
 * The one table of operations (daemon/core/state_ops.c): a VmAction adds a
 * start or a stop, running at once with a plan of one step on its node, with
 * the state's next id; its VmActionResult ends it into the history; a
 * migration is a job of the same table. At most one unfinished operation per
 * VM, whatever the kinds; malformed ones refused without a trace; the
 * protobuf round trip keeps them, the hash sees them, and the separate
 * operations of older state files are read into the table.
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
#define OPERATOR DROVER__VM_ACTION_CAUSE__VM_CAUSE_OPERATOR
#define RECOVERY DROVER__VM_ACTION_CAUSE__VM_CAUSE_RECOVERY
#define PREEMPT DROVER__VM_ACTION_CAUSE__VM_CAUSE_PREEMPT

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

static void fill_action(Drover__VmAction *m, int kind, const char *vm, uint32_t node, int cause)
{
	drover__vm_action__init(m);
	m->kind = (Drover__VmActionKind)kind;
	m->vm = (char *)vm;
	m->node = node;
	m->network = (char *)"";
	m->origin_node = 1;
	m->request_id = 7;
	m->cause = (Drover__VmActionCause)cause;
	m->for_vm = (char *)(cause == PREEMPT ? "big" : "");
	m->at_ms = 5000;
}

static int action_cause(struct cluster_state *s, int kind, const char *vm, uint32_t node, int cause)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction m;

	fill_action(&m, kind, vm, node, cause);
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &m;
	return state_apply(s, &env);
}

static int action(struct cluster_state *s, int kind, const char *vm, uint32_t node)
{
	return action_cause(s, kind, vm, node, OPERATOR);
}

static int result(struct cluster_state *s, uint64_t id, bool ok)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmActionResult m = DROVER__VM_ACTION_RESULT__INIT;

	m.action_id = id;
	m.ok = ok;
	m.error = (char *)(ok ? "" : "the hypervisor said no");
	m.finished_ms = 6000;
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

static void test_start_runs_then_ends_in_history(void **st)
{
	struct cluster_state s;
	const struct queue_job *o;
	uint64_t e, id;

	(void)st;
	state_init(&s);
	assert_int_equal(add_vm(&s, "vm1"), 1);
	e = s.epoch;
	id = s.next_job_id;
	assert_int_equal(action(&s, START, "vm1", 2), 1);
	assert_int_equal(s.epoch, e + 1);
	assert_int_equal(s.next_job_id, id + 1);
	o = state_op_for_vm(&s, "vm1");
	assert_non_null(o);
	assert_true(o == state_op_find(&s, id));
	assert_int_equal(o->kind, QUEUE_OP_START);
	assert_int_equal(o->state, QUEUE_JOB_RUNNING);
	assert_int_equal(o->n_plan, 1);
	assert_int_equal(o->plan[0].kind, DROVER__OP_STEP_KIND__OP_STEP_START);
	assert_int_equal(o->plan[0].node, 2);
	assert_int_equal(state_op_executor(o), 2);
	assert_true(state_op_involves(o, 2));
	assert_false(state_op_involves(o, 3));
	assert_int_equal(state_ops_actions(&s), 1);
	assert_int_equal(state_jobs_unfinished(&s), 0); /* the queue's count: migrations only */

	assert_int_equal(result(&s, id, true), 1);
	assert_int_equal(s.epoch, e + 2);
	assert_null(state_op_for_vm(&s, "vm1"));
	o = state_op_find(&s, id);
	assert_non_null(o); /* kept a while, finished */
	assert_int_equal(o->state, QUEUE_JOB_DONE);
	assert_int_equal(s.n_history, 1);
	assert_int_equal(s.history[0].kind, QUEUE_OP_START);
	assert_int_equal(s.history[0].target, 2);
	assert_int_equal(s.history[0].started_ms, 5000);
	assert_int_equal(s.history[0].finished_ms, 6000);
	assert_int_equal(state_vm_find(&s, "vm1")->owner, 2);
	/* A refusal (id 0) changes nothing; an unknown or finished one is refused. */
	assert_int_equal(result(&s, 0, true), 0);
	assert_int_equal(result(&s, 42, true), -ENOENT);
	assert_int_equal(result(&s, id, true), -ENOENT);
	assert_int_equal(s.epoch, e + 2);
	state_free(&s);
}

static void test_failed_stop_keeps_its_error(void **st)
{
	struct cluster_state s;
	uint64_t id;

	(void)st;
	state_init(&s);
	add_vm(&s, "vm1");
	id = s.next_job_id;
	assert_int_equal(action(&s, STOP, "vm1", 3), 1);
	assert_int_equal(result(&s, id, false), 1);
	assert_int_equal(state_op_find(&s, id)->state, QUEUE_JOB_FAILED);
	assert_string_equal(state_op_find(&s, id)->error, "the hypervisor said no");
	assert_int_equal(s.history[0].kind, QUEUE_OP_STOP);
	assert_int_equal(s.history[0].source, 3);
	assert_int_equal(s.history[0].result, QUEUE_JOB_FAILED);
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
	assert_int_equal(action(&s, START, "vm1", 2), 1);
	e = s.epoch;
	/* Two coordinators' decisions for one VM: the second is refused everywhere. */
	assert_int_equal(action(&s, START, "vm1", 3), -EBUSY);
	assert_int_equal(action(&s, STOP, "vm1", 2), -EBUSY);
	assert_int_equal(s.epoch, e);
	assert_int_equal(action(&s, STOP, "vm2", 3), 1);
	assert_int_equal(state_ops_actions(&s), 2);
	/* Ids are the state's, unique and growing. */
	assert_true(state_op_for_vm(&s, "vm2")->id > state_op_for_vm(&s, "vm1")->id);
	state_free(&s);
}

static void test_migration_and_start_exclude_each_other(void **st)
{
	struct cluster_state s;
	uint64_t job;

	(void)st;
	state_init(&s);
	add_vm(&s, "vm1");
	add_vm(&s, "vm2");
	assert_int_equal(jobs_add(&s, "vm1", 1), 1);
	job = s.jobs[0].id;
	/* A queued migration is the VM's operation: no start or stop beside it. */
	assert_int_equal(action(&s, STOP, "vm1", 1), -EBUSY);
	assert_int_equal(action(&s, START, "vm2", 1), 1);
	/* A running start is vm2's operation: JobsAdd skips it. */
	assert_int_equal(jobs_add(&s, "vm2", 1), 0);
	assert_int_equal(job_start(&s, job, 3), 1);
	assert_int_equal(state_op_find(&s, job)->n_plan, 1);
	assert_int_equal(state_op_find(&s, job)->plan[0].kind, DROVER__OP_STEP_KIND__OP_STEP_TRANSFER);
	assert_int_equal(state_op_executor(state_op_find(&s, job)), 1);
	assert_true(state_op_involves(state_op_find(&s, job), 3));
	/* JobStart is for migrations only. */
	assert_int_equal(job_start(&s, state_op_for_vm(&s, "vm2")->id, 3), -EINVAL);
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
	assert_int_equal(action(&s, 99, "vm1", 2), -EINVAL);
	assert_int_equal(action(&s, START, "vm1", 0), -EINVAL);
	assert_int_equal(action(&s, START, NULL, 2), -EINVAL);
	assert_int_equal(action(&s, START, "", 2), -EINVAL);
	/* Migrations are the queue's jobs, whatever an older droverd sends. */
	assert_int_equal(action(&s, MIGRATE, "vm1", 2), -EINVAL);
	/* A recovery starts; a preemption stops. */
	assert_int_equal(action_cause(&s, STOP, "vm1", 2, RECOVERY), -EINVAL);
	assert_int_equal(action_cause(&s, START, "vm1", 2, PREEMPT), -EINVAL);
	assert_int_equal(action_cause(&s, START, "vm1", 2, 42), -EINVAL);
	assert_int_equal(action(&s, START, "nosuch", 2), -ENOENT);
	assert_int_equal(s.epoch, e);
	assert_true(state_hash(&s) == h);
	state_free(&s);
}

static void test_bounded(void **st)
{
	struct cluster_state s;
	char name[32];

	(void)st;
	state_init(&s);
	for (int i = 0; i <= DROVER_MAX_OPS; i++) {
		snprintf(name, sizeof(name), "vm%d", i);
		assert_int_equal(add_vm(&s, name), 1);
	}
	for (int i = 0; i < DROVER_MAX_OPS; i++) {
		snprintf(name, sizeof(name), "vm%d", i);
		assert_int_equal(action(&s, START, name, 1 + (uint32_t)i % 3), 1);
	}
	snprintf(name, sizeof(name), "vm%d", DROVER_MAX_OPS);
	assert_int_equal(action(&s, START, name, 1), -ENOSPC);
	state_free(&s);
}

static void test_round_trip_and_hash(void **st)
{
	struct cluster_state s, t, c;
	Drover__ClusterState msg;
	struct state_proto_storage storage;
	uint64_t h0, stop_id;

	(void)st;
	state_init(&s);
	add_vm(&s, "vm1");
	add_vm(&s, "vm2");
	add_vm(&s, "vm3");
	h0 = state_hash(&s);
	assert_int_equal(jobs_add(&s, "vm3", 1), 1);
	assert_int_equal(job_start(&s, s.jobs[0].id, 2), 1);
	stop_id = s.next_job_id;
	assert_int_equal(action_cause(&s, STOP, "vm2", 1, PREEMPT), 1);
	assert_int_equal(action(&s, START, "vm1", 2), 1);
	assert_true(state_hash(&s) != h0);
	state_to_proto(&s, &msg, &storage);
	assert_int_equal(msg.n_jobs, 3);
	assert_int_equal(msg.n_ops, 0); /* the old field is never written */
	assert_int_equal(state_from_proto(&msg, &t), 0);
	state_proto_storage_free(&storage);
	assert_int_equal(t.n_jobs, 3);
	assert_int_equal(t.jobs[0].kind, QUEUE_OP_MIGRATE);
	assert_int_equal(t.jobs[0].plan[0].kind, DROVER__OP_STEP_KIND__OP_STEP_TRANSFER);
	assert_int_equal(t.jobs[1].kind, QUEUE_OP_STOP);
	assert_string_equal(t.jobs[1].for_vm, "big");
	assert_int_equal(t.jobs[1].origin, DROVER__JOB_ORIGIN__JOB_ORIGIN_PREEMPT);
	assert_int_equal(t.jobs[2].kind, QUEUE_OP_START);
	assert_true(state_hash(&t) == state_hash(&s));
	state_copy(&s, &c);
	assert_true(state_hash(&c) == state_hash(&s));
	assert_int_equal(result(&c, stop_id, true), 1);
	assert_non_null(state_op_for_vm(&s, "vm2")); /* the copy owns its own table */
	state_free(&c);
	state_free(&t);
	state_free(&s);
}

/* A start or a stop that is queued, or one with a foreign plan, is not one any member made. */
static void test_bad_operations_from_a_peer_refused(void **st)
{
	struct cluster_state s, t;
	Drover__ClusterState msg;
	struct state_proto_storage storage;

	(void)st;
	state_init(&s);
	add_vm(&s, "vm1");
	assert_int_equal(action(&s, START, "vm1", 2), 1);
	state_to_proto(&s, &msg, &storage);
	msg.jobs[0]->state = DROVER__JOB_STATE__JOB_STATE_QUEUED;
	assert_int_equal(state_from_proto(&msg, &t), -EINVAL);
	msg.jobs[0]->state = DROVER__JOB_STATE__JOB_STATE_RUNNING;
	msg.jobs[0]->plan[0]->node = 3;
	assert_int_equal(state_from_proto(&msg, &t), -EINVAL);
	msg.jobs[0]->plan[0]->node = 2;
	msg.jobs[0]->kind = (Drover__OpKind)7;
	assert_int_equal(state_from_proto(&msg, &t), -EINVAL);
	msg.jobs[0]->kind = DROVER__OP_KIND__OP_KIND_START;
	assert_int_equal(state_from_proto(&msg, &t), 0);
	state_free(&t);
	state_proto_storage_free(&storage);
	state_free(&s);
}

/* A state file of before the one table: its operations become running starts and stops. */
static void test_old_file_operations_read(void **st)
{
	struct cluster_state s, t;
	Drover__ClusterState msg;
	struct state_proto_storage storage;
	Drover__VmAction old, *oldp = &old;
	const struct queue_job *o;

	(void)st;
	state_init(&s);
	add_vm(&s, "vm1");
	state_to_proto(&s, &msg, &storage);
	fill_action(&old, STOP, "vm1", 3, OPERATOR);
	old.action_id = 0x500000007ull; /* the old ids: term and counter */
	msg.n_ops = 1;
	msg.ops = &oldp;
	assert_int_equal(state_from_proto(&msg, &t), 0);
	o = state_op_for_vm(&t, "vm1");
	assert_non_null(o);
	assert_int_equal(o->kind, QUEUE_OP_STOP);
	assert_int_equal(o->state, QUEUE_JOB_RUNNING);
	assert_int_equal(o->source, 3);
	assert_true(o->id < t.next_job_id);
	state_free(&t);
	/* A migration among them is not one the table can hold. */
	old.kind = MIGRATE;
	old.target_node = 2;
	assert_int_equal(state_from_proto(&msg, &t), -EINVAL);
	msg.n_ops = 0;
	msg.ops = NULL;
	state_proto_storage_free(&storage);
	state_free(&s);
}

/* A failover's restart: from the fenced node, with when it was fenced, in the history. */
static void test_recovery_start_records_the_failover(void **st)
{
	struct cluster_state s;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NodeLost lost = DROVER__NODE_LOST__INIT;
	Drover__FenceResult fr = DROVER__FENCE_RESULT__INIT;
	Drover__VmPlaced placed = DROVER__VM_PLACED__INIT;
	uint64_t id;

	(void)st;
	state_init(&s);
	add_vm(&s, "vm1");
	placed.vm = (char *)"vm1";
	placed.owner = 2;
	placed.want = DROVER__VM_WANT__VM_WANT_RUNNING;
	placed.reason = (char *)"";
	env.body_case = DROVER__ENVELOPE__BODY_VM_PLACED;
	env.vm_placed = &placed;
	assert_int_equal(state_apply(&s, &env), 1);
	lost.node = 2;
	lost.lost_ms = 100;
	lost.reason = (char *)"left";
	env.body_case = DROVER__ENVELOPE__BODY_NODE_LOST;
	env.node_lost = &lost;
	assert_int_equal(state_apply(&s, &env), 1);
	fr.node = 2;
	fr.ok = true;
	fr.device = (char *)"device1";
	fr.error = (char *)"";
	fr.at_ms = 2500;
	env.body_case = DROVER__ENVELOPE__BODY_FENCE_RESULT;
	env.fence_result = &fr;
	assert_int_equal(state_apply(&s, &env), 1);
	assert_int_equal(state_vm_find(&s, "vm1")->owner, 0);
	assert_int_equal(state_vm_find(&s, "vm1")->lost_from, 2);

	id = s.next_job_id;
	assert_int_equal(action_cause(&s, START, "vm1", 3, RECOVERY), 1);
	assert_int_equal(state_op_find(&s, id)->lost_from, 2);
	assert_int_equal(result(&s, id, true), 1);
	assert_int_equal(s.history[0].kind, QUEUE_OP_START);
	assert_int_equal(s.history[0].origin, DROVER__JOB_ORIGIN__JOB_ORIGIN_RECOVERY);
	assert_int_equal(s.history[0].source, 2);
	assert_int_equal(s.history[0].target, 3);
	assert_int_equal(s.history[0].fenced_ms, s.nodes[0].fenced_ms);
	assert_int_equal(state_vm_find(&s, "vm1")->owner, 3);
	assert_int_equal(state_vm_find(&s, "vm1")->lost_from, 0);
	/* The totals (metrics): one fence that fenced, one failover restart that worked. */
	assert_int_equal(s.counters.fences_ok, 1);
	assert_int_equal(s.counters.fences_failed, 0);
	assert_int_equal(s.counters.fences_confirmed, 0);
	assert_int_equal(s.counters.failovers_ok, 1);
	assert_int_equal(s.counters.failovers_failed, 0);
	assert_int_equal(s.counters.migrations_ok, 0);
	state_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_runs_then_ends_in_history),
		cmocka_unit_test(test_failed_stop_keeps_its_error),
		cmocka_unit_test(test_one_operation_per_vm),
		cmocka_unit_test(test_migration_and_start_exclude_each_other),
		cmocka_unit_test(test_malformed_refused),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_round_trip_and_hash),
		cmocka_unit_test(test_bad_operations_from_a_peer_refused),
		cmocka_unit_test(test_old_file_operations_read),
		cmocka_unit_test(test_recovery_start_records_the_failover),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
