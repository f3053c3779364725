/*
 * The apply-time gate (daemon/core/apply_gate.c): a change delivered in a
 * configuration without quorum, or during an exchange, is not applied, and
 * each decision and report is taken only from the node whose it is.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "apply_gate.h"

static const uint32_t members[] = { 1, 2, 3 }, without3[] = { 1, 2 };

static void test_quorum_and_sync_first(void **st)
{
	struct cluster_state s;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmRemove m = DROVER__VM_REMOVE__INIT;

	(void)st;
	state_init(&s);
	m.name = (char *)"vm1";
	env.body_case = DROVER__ENVELOPE__BODY_VM_REMOVE;
	env.vm_remove = &m;
	assert_true(apply_gate_is_change(&env));
	assert_int_equal(apply_gate(&s, members, 3, false, true, 3, &env), APPLY_NOT_QUORATE);
	assert_int_equal(apply_gate(&s, members, 3, false, false, 3, &env), APPLY_NOT_QUORATE);
	assert_int_equal(apply_gate(&s, members, 3, true, false, 3, &env), APPLY_NOT_SYNCED);
	assert_int_equal(apply_gate(&s, members, 3, true, true, 3, &env), APPLY_OK);
	state_free(&s);
}

static void test_decisions_from_the_coordinator(void **st)
{
	struct cluster_state s;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobStart js = DROVER__JOB_START__INIT;
	Drover__VmAction va = DROVER__VM_ACTION__INIT;

	(void)st;
	state_init(&s);
	env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
	env.job_start = &js;
	assert_int_equal(apply_gate(&s, members, 3, true, true, 2, &env), APPLY_NOT_SENDERS);
	assert_int_equal(apply_gate(&s, members, 3, true, true, 1, &env), APPLY_OK);
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &va;
	assert_int_equal(apply_gate(&s, members, 3, true, true, 3, &env), APPLY_NOT_SENDERS);
	assert_int_equal(apply_gate(&s, without3, 2, true, true, 1, &env), APPLY_OK);
	state_free(&s);
}

static void test_results_from_the_executor(void **st)
{
	struct cluster_state s;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd add = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
	Drover__VmAction va = DROVER__VM_ACTION__INIT;
	Drover__VmActionResult res = DROVER__VM_ACTION_RESULT__INIT;

	(void)st;
	state_init(&s);
	vm.name = (char *)"vm1";
	vm.xml = (char *)"<domain><name>vm1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu></domain>";
	vm.memory_mib = 64;
	vm.vcpus = 1;
	vm.priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	add.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &add;
	assert_int_equal(state_apply(&s, &env), 1);
	va.kind = DROVER__VM_ACTION_KIND__VM_ACTION_START;
	va.vm = (char *)"vm1";
	va.node = 3;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &va;
	assert_int_equal(state_apply(&s, &env), 1);
	res.action_id = state_op_for_vm(&s, "vm1")->id;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_RESULT;
	env.vm_action_result = &res;
	/* The executor, not another member; the coordinator only once the executor left. */
	assert_int_equal(apply_gate(&s, members, 3, true, true, 2, &env), APPLY_NOT_SENDERS);
	assert_int_equal(apply_gate(&s, members, 3, true, true, 1, &env), APPLY_NOT_SENDERS);
	assert_int_equal(apply_gate(&s, members, 3, true, true, 3, &env), APPLY_OK);
	assert_int_equal(apply_gate(&s, without3, 2, true, true, 1, &env), APPLY_OK);
	/* A refusal (id 0) is no change at all. */
	res.action_id = 0;
	assert_false(apply_gate_is_change(&env));
	state_free(&s);
}

/* SR-IOV: a node speaks for its own hardware; a VF step's end comes from its executor. */
static void test_vf_messages(void **st)
{
	struct cluster_state s;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd add = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
	Drover__VmAction va = DROVER__VM_ACTION__INIT;
	Drover__VmActionResult res = DROVER__VM_ACTION_RESULT__INIT;
	Drover__JobsAdd ja = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec sp = DROVER__JOB_SPEC__INIT, *spp = &sp;
	Drover__JobStart js = DROVER__JOB_START__INIT;
	Drover__NodeHardware hw = DROVER__NODE_HARDWARE__INIT;
	Drover__OpStepResult sr = DROVER__OP_STEP_RESULT__INIT;

	(void)st;
	state_init(&s);
	hw.node = 2;
	env.body_case = DROVER__ENVELOPE__BODY_NODE_HARDWARE;
	env.node_hardware = &hw;
	assert_true(apply_gate_is_change(&env));
	assert_int_equal(apply_gate(&s, members, 3, true, true, 1, &env), APPLY_NOT_SENDERS);
	assert_int_equal(apply_gate(&s, members, 3, true, true, 2, &env), APPLY_OK);
	assert_int_equal(apply_gate(&s, members, 3, false, true, 2, &env), APPLY_NOT_QUORATE);

	/* vm1 runs on n3 with a VF; its migration to n2 starts with a detach on n3. */
	vm.name = (char *)"vm1";
	vm.xml = (char *)"<domain><name>vm1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu></domain>";
	vm.memory_mib = 64;
	vm.vcpus = 1;
	vm.priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	vm.vf_pool = (char *)"fast";
	add.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &add;
	assert_int_equal(state_apply(&s, &env), 1);
	{
		Drover__VfPool pool = DROVER__VF_POOL__INIT, *pp = &pool;
		char *labels[1] = { (char *)"vf0" };

		pool.name = (char *)"fast";
		pool.labels = labels;
		pool.n_labels = 1;
		hw.node = 3;
		hw.vf_pools = &pp;
		hw.n_vf_pools = 1;
		env.body_case = DROVER__ENVELOPE__BODY_NODE_HARDWARE;
		env.node_hardware = &hw;
		assert_int_equal(state_apply(&s, &env), 1);
	}
	va.kind = DROVER__VM_ACTION_KIND__VM_ACTION_START;
	va.vm = (char *)"vm1";
	va.node = 3;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &va;
	assert_int_equal(state_apply(&s, &env), 1);
	res.action_id = s.next_job_id - 1;
	res.ok = true;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_RESULT;
	env.vm_action_result = &res;
	assert_int_equal(state_apply(&s, &env), 1);
	va.kind = DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &va; /* the oneof's one pointer */
	assert_int_equal(state_apply(&s, &env), 1);
	res.action_id = s.next_job_id - 1;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_RESULT;
	env.vm_action_result = &res;
	assert_int_equal(state_apply(&s, &env), 1);
	sp.vm = (char *)"vm1";
	sp.source = 3;
	ja.jobs = &spp;
	ja.n_jobs = 1;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &ja;
	assert_int_equal(state_apply(&s, &env), 1);
	js.job_id = s.next_job_id - 1;
	js.target = 2;
	js.network = (char *)"mig-a";
	env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
	env.job_start = &js;
	assert_int_equal(state_apply(&s, &env), 1);
	sr.op_id = js.job_id;
	env.body_case = DROVER__ENVELOPE__BODY_OP_STEP_RESULT;
	env.op_step_result = &sr;
	assert_true(apply_gate_is_change(&env));
	assert_int_equal(apply_gate(&s, members, 3, true, true, 2, &env), APPLY_NOT_SENDERS);
	assert_int_equal(apply_gate(&s, members, 3, true, true, 1, &env), APPLY_NOT_SENDERS);
	assert_int_equal(apply_gate(&s, members, 3, true, true, 3, &env), APPLY_OK);
	assert_int_equal(apply_gate(&s, without3, 2, true, true, 1, &env), APPLY_OK);
	state_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quorum_and_sync_first),
		cmocka_unit_test(test_decisions_from_the_coordinator),
		cmocka_unit_test(test_results_from_the_executor),
		cmocka_unit_test(test_vf_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
