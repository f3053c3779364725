/*
 * SR-IOV in the replicated state (daemon/core/state_vf.c): nodes' pools as
 * announced, a migration's plan with its VF steps, every end of such a plan
 * (done, no VF on the target, detach refused, transfer failed after the
 * detach, attach failed), the repair of a degraded VM, fencing; after every
 * applied message no VF is held or reserved twice (state_vf_check), and the
 * pools, holds and reservations survive the protobuf round trip that
 * persistence and the state exchange use, and change the hash.
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
#include "state_priv.h"

#define DETACH DROVER__OP_STEP_KIND__OP_STEP_VF_DETACH
#define ATTACH DROVER__OP_STEP_KIND__OP_STEP_VF_ATTACH
#define TRANSFER DROVER__OP_STEP_KIND__OP_STEP_TRANSFER

static void check_invariant(const struct cluster_state *s)
{
	/* Never a VF held or reserved twice; never more taken than a pool has. */
	assert_int_equal(state_vf_check(s), 0);
	for (size_t i = 0; i < s->n_nodes; i++)
		for (size_t p = 0; p < s->nodes[i].n_vf_pools; p++)
			assert_true(state_vf_free(s, s->nodes[i].id, s->nodes[i].vf_pools[p].name) <=
				    s->nodes[i].vf_pools[p].n_devices);
}

static int apply(struct cluster_state *s, Drover__Envelope *env)
{
	int r = state_apply(s, env);

	check_invariant(s);
	return r;
}

static int add_vm(struct cluster_state *s, const char *name, const char *pool, bool required,
		  uint32_t sa)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
	Drover__VfHold forged = DROVER__VF_HOLD__INIT;
	char xml[256];

	snprintf(xml, sizeof(xml),
		 "<domain><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu></domain>", name);
	vm.name = (char *)name;
	vm.xml = xml;
	vm.memory_mib = 64;
	vm.vcpus = 1;
	vm.priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	vm.vf_pool = (char *)pool;
	vm.vf_mode = required ? DROVER__VF_MODE__VF_MODE_REQUIRED : DROVER__VF_MODE__VF_MODE_PREFERRED;
	vm.ipsec_offload_sa = sa;
	/* A client cannot hand a VM a VF: VmAdd drops it. */
	forged.node = 1;
	forged.pool = (char *)"fast";
	forged.device = 1;
	forged.attached = true;
	vm.vf = &forged;
	m.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	return apply(s, &env);
}

/* node announces one pool "fast" of n devices (none when n is 0) and an SA capacity. */
static int hardware(struct cluster_state *s, uint32_t node, uint32_t n, uint32_t sa)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NodeHardware m = DROVER__NODE_HARDWARE__INIT;
	Drover__VfPool pool = DROVER__VF_POOL__INIT, *pp = &pool;
	char labels[DROVER_MAX_VF_DEVICES + 1][16];
	char *lp[DROVER_MAX_VF_DEVICES + 1];

	for (uint32_t d = 0; d < n && d <= DROVER_MAX_VF_DEVICES; d++) {
		snprintf(labels[d], sizeof(labels[d]), "vf%u", d);
		lp[d] = labels[d];
	}
	pool.name = (char *)"fast";
	pool.labels = lp;
	pool.n_labels = n;
	m.node = node;
	m.vf_pools = n ? &pp : NULL;
	m.n_vf_pools = n ? 1 : 0;
	m.ipsec_sa_capacity = sa;
	env.body_case = DROVER__ENVELOPE__BODY_NODE_HARDWARE;
	env.node_hardware = &m;
	return apply(s, &env);
}

static int action(struct cluster_state *s, int kind, const char *vm, uint32_t node)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction m = DROVER__VM_ACTION__INIT;

	m.kind = (Drover__VmActionKind)kind;
	m.vm = (char *)vm;
	m.node = node;
	m.at_ms = 100;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &m;
	return apply(s, &env);
}

static int result(struct cluster_state *s, uint64_t id, bool ok, const char *error)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmActionResult m = DROVER__VM_ACTION_RESULT__INIT;

	m.action_id = id;
	m.ok = ok;
	m.error = (char *)error;
	m.finished_ms = 200;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_RESULT;
	env.vm_action_result = &m;
	return apply(s, &env);
}

static uint64_t last_op(const struct cluster_state *s)
{
	return s->next_job_id - 1;
}

/* vm runs on node (a start that succeeded) and, with_vf, holds an attached VF there. */
static void run_on(struct cluster_state *s, const char *vm, uint32_t node, bool with_vf)
{
	assert_int_equal(action(s, DROVER__VM_ACTION_KIND__VM_ACTION_START, vm, node), 1);
	assert_int_equal(result(s, last_op(s), true, ""), 1);
	if (!with_vf)
		return;
	assert_int_equal(action(s, DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH, vm, node), 1);
	assert_int_equal(result(s, last_op(s), true, ""), 1);
	assert_int_equal(state_vm_find(s, vm)->vf.node, node);
	assert_true(state_vm_find(s, vm)->vf.attached);
}

static uint64_t migrate_start(struct cluster_state *s, const char *vm, uint32_t source,
			      uint32_t target)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsAdd m = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec sp = DROVER__JOB_SPEC__INIT, *ptr = &sp;
	Drover__JobStart js = DROVER__JOB_START__INIT;
	uint64_t id;

	sp.vm = (char *)vm;
	sp.source = source;
	sp.origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_MANUAL;
	m.jobs = &ptr;
	m.n_jobs = 1;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &m;
	assert_int_equal(apply(s, &env), 1);
	id = last_op(s);
	js.job_id = id;
	js.target = target;
	js.network = (char *)"default";
	js.started_ms = 300;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
	env.job_start = &js;
	assert_int_equal(apply(s, &env), 1);
	return id;
}

static int step_result(struct cluster_state *s, uint64_t id, uint32_t step, bool ok,
		       const char *error)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__OpStepResult m = DROVER__OP_STEP_RESULT__INIT;

	m.op_id = id;
	m.step = step;
	m.ok = ok;
	m.error = (char *)error;
	m.finished_ms = 400;
	env.body_case = DROVER__ENVELOPE__BODY_OP_STEP_RESULT;
	env.op_step_result = &m;
	return apply(s, &env);
}

static int job_finish(struct cluster_state *s, uint64_t id, bool ok, const char *reason)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobFinish m = DROVER__JOB_FINISH__INIT;

	m.job_id = id;
	m.ok = ok;
	m.reason = (char *)reason;
	m.finished_ms = 500;
	m.bytes = 4096;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
	env.job_finish = &m;
	return apply(s, &env);
}

/* Three nodes: n1 with 2 VFs, n2 none, n3 with 1; vm1 runs on n1 with a VF. */
static void setup3(struct cluster_state *s)
{
	state_init(s);
	assert_int_equal(hardware(s, 1, 2, 100), 1);
	assert_int_equal(hardware(s, 3, 1, 0), 1);
	assert_int_equal(add_vm(s, "vm1", "fast", false, 40), 1);
	assert_null(state_vm_find(s, "vm1")->vf.node);
	run_on(s, "vm1", 1, true);
	assert_int_equal(state_vf_free(s, 1, "fast"), 1);
}

static void assert_plan(const struct queue_job *j, size_t n, const uint32_t *kinds,
			const uint32_t *nodes)
{
	assert_int_equal(j->n_plan, n);
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(j->plan[k].kind, kinds[k]);
		assert_int_equal(j->plan[k].node, nodes[k]);
	}
}

static void test_hardware_announce(void **unused)
{
	struct cluster_state s;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NodeHardware m = DROVER__NODE_HARDWARE__INIT;
	Drover__VfPool a = DROVER__VF_POOL__INIT, b = DROVER__VF_POOL__INIT;
	Drover__VfPool *pp[2] = { &a, &b };
	uint64_t h, e;

	(void)unused;
	state_init(&s);
	h = state_hash(&s);
	assert_int_equal(hardware(&s, 2, 0, 0), 0); /* nothing to say of a node never mentioned */
	assert_int_equal(hardware(&s, 2, 3, 64), 1);
	assert_int_not_equal(state_hash(&s), h);
	assert_non_null(state_vf_pool(&s, 2, "fast"));
	assert_null(state_vf_pool(&s, 2, "slow"));
	assert_null(state_vf_pool(&s, 1, "fast"));
	assert_int_equal(state_vf_free(&s, 2, "fast"), 3);
	assert_int_equal(state_vf_pick(&s, 2, "fast"), 1);
	assert_int_equal(state_sa_capacity(&s, 2), 64);
	e = s.epoch;
	assert_int_equal(hardware(&s, 2, 3, 64), 0); /* the same again: no change */
	assert_int_equal(s.epoch, e);
	assert_int_equal(hardware(&s, 2, DROVER_MAX_VF_DEVICES + 1, 0), -EINVAL);
	/* Two pools of one name, an empty name: refused, nothing written. */
	a.name = (char *)"p";
	b.name = (char *)"p";
	m.node = 2;
	m.vf_pools = pp;
	m.n_vf_pools = 2;
	env.body_case = DROVER__ENVELOPE__BODY_NODE_HARDWARE;
	env.node_hardware = &m;
	h = state_hash(&s);
	assert_int_equal(apply(&s, &env), -EINVAL);
	b.name = (char *)"";
	assert_int_equal(apply(&s, &env), -EINVAL);
	m.ipsec_sa_capacity = DROVER_IPSEC_SA_MAX + 1;
	b.name = (char *)"q";
	assert_int_equal(apply(&s, &env), -EINVAL);
	assert_int_equal(state_hash(&s), h);
	/* A node whose pools went away. */
	assert_int_equal(hardware(&s, 2, 0, 0), 1);
	assert_null(state_vf_pool(&s, 2, "fast"));
	state_free(&s);
}

static void test_migration_with_vf_to_a_node_with_one(void **unused)
{
	static const uint32_t kinds[] = { DETACH, TRANSFER, ATTACH }, nodes[] = { 1, 1, 3 };
	struct cluster_state s;
	const struct queue_job *j;
	const struct vm_cfg *v;
	char buf[128];
	uint64_t id;

	(void)unused;
	setup3(&s);
	id = migrate_start(&s, "vm1", 1, 3);
	j = state_op_find(&s, id);
	assert_plan(j, 3, kinds, nodes);
	assert_int_equal(state_op_executor(j), 1);
	/* The target's VF is reserved from the start: nobody else gets it. */
	assert_int_equal(state_vf_free(&s, 3, "fast"), 0);
	/* A result for another step than the current one is refused. */
	assert_int_equal(step_result(&s, id, 1, true, ""), -EINVAL);
	/* The transfer does not start before the detach ended. */
	assert_int_equal(job_finish(&s, id, true, ""), -EINVAL);
	assert_int_equal(step_result(&s, id, 0, true, ""), 1);
	v = state_vm_find(&s, "vm1");
	assert_false(v->vf.attached);
	assert_int_equal(job_finish(&s, id, true, ""), 1);
	j = state_op_find(&s, id);
	assert_int_equal(j->state, QUEUE_JOB_RUNNING);
	assert_int_equal(j->step, 2);
	assert_int_equal(state_op_executor(j), 3);
	v = state_vm_find(&s, "vm1");
	assert_int_equal(v->owner, 3);
	assert_int_equal(v->vf.node, 3);
	/* n1's VF went back to its pool with the transfer. */
	assert_int_equal(state_vf_free(&s, 1, "fast"), 2);
	assert_int_equal(step_result(&s, id, 2, true, ""), 1);
	j = state_op_find(&s, id);
	assert_int_equal(j->state, QUEUE_JOB_DONE);
	v = state_vm_find(&s, "vm1");
	assert_true(v->vf.attached);
	assert_null(state_vf_degraded(v, buf, sizeof(buf)));
	assert_int_equal(s.history[s.n_history - 1].bytes, 4096);
	assert_int_equal(s.history[s.n_history - 1].result, QUEUE_JOB_DONE);
	state_free(&s);
}

static void test_no_vf_on_target_degraded_then_repaired(void **unused)
{
	static const uint32_t kinds[] = { DETACH, TRANSFER }, nodes[] = { 1, 1 };
	struct cluster_state s;
	const struct vm_cfg *v;
	char buf[128];
	uint64_t id;

	(void)unused;
	setup3(&s);
	id = migrate_start(&s, "vm1", 1, 2);
	assert_plan(state_op_find(&s, id), 2, kinds, nodes);
	assert_int_equal(step_result(&s, id, 0, true, ""), 1);
	assert_int_equal(job_finish(&s, id, true, ""), 1);
	assert_int_equal(state_op_find(&s, id)->state, QUEUE_JOB_DONE);
	v = state_vm_find(&s, "vm1");
	assert_int_equal(v->owner, 2);
	assert_int_equal(v->vf.node, 0);
	assert_string_equal(state_vf_degraded(v, buf, sizeof(buf)), "no VF");
	assert_int_equal(state_vf_free(&s, 1, "fast"), 2);
	/* n2 has no pool: a repair there is refused, nothing taken. */
	assert_int_equal(action(&s, DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH, "vm1", 2), -ENOSPC);
	assert_null(state_op_for_vm(&s, "vm1"));
	/* n2's pool grows (a reload): now it gets one. */
	assert_int_equal(hardware(&s, 2, 1, 0), 1);
	assert_int_equal(action(&s, DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH, "vm1", 2), 1);
	assert_int_equal(state_vf_free(&s, 2, "fast"), 0);
	/* An attach on a node the VM does not run on is refused. */
	assert_int_equal(action(&s, DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH, "vm1", 3), -EBUSY);
	assert_int_equal(result(&s, last_op(&s), true, ""), 1);
	v = state_vm_find(&s, "vm1");
	assert_int_equal(v->vf.node, 2);
	assert_true(v->vf.attached);
	assert_null(state_vf_degraded(v, buf, sizeof(buf)));
	/* One that has its VF gets no second one; nor one on a node it does not run on. */
	assert_int_equal(action(&s, DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH, "vm1", 2), -EINVAL);
	assert_int_equal(action(&s, DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH, "vm1", 3), -EINVAL);
	state_free(&s);
}

static void test_detach_refused_migration_does_not_start(void **unused)
{
	struct cluster_state s;
	const struct queue_job *j;
	const struct vm_cfg *v;
	uint64_t id;

	(void)unused;
	setup3(&s);
	id = migrate_start(&s, "vm1", 1, 3);
	assert_int_equal(state_vf_free(&s, 3, "fast"), 0);
	assert_int_equal(step_result(&s, id, 0, false, "the guest did not acknowledge the unplug"), 1);
	j = state_op_find(&s, id);
	assert_int_equal(j->state, QUEUE_JOB_FAILED);
	assert_string_equal(j->error, "VF detach failed: the guest did not acknowledge the unplug");
	v = state_vm_find(&s, "vm1");
	assert_int_equal(v->owner, 1);
	assert_int_equal(v->vf.node, 1);
	assert_true(v->vf.attached);
	/* The target's reservation is free again. */
	assert_int_equal(state_vf_free(&s, 3, "fast"), 1);
	assert_null(state_op_for_vm(&s, "vm1"));
	state_free(&s);
}

static void test_transfer_failed_vf_back_on_source(void **unused)
{
	static const uint32_t kinds[] = { DETACH, TRANSFER, ATTACH }, nodes[] = { 1, 1, 1 };
	struct cluster_state s;
	const struct queue_job *j;
	const struct vm_cfg *v;
	uint64_t id;

	(void)unused;
	setup3(&s);
	id = migrate_start(&s, "vm1", 1, 3);
	assert_int_equal(step_result(&s, id, 0, true, ""), 1);
	assert_int_equal(job_finish(&s, id, false, "connection reset"), 1);
	j = state_op_find(&s, id);
	/* Still running: its last step now re-attaches the VF on the source. */
	assert_int_equal(j->state, QUEUE_JOB_RUNNING);
	assert_plan(j, 3, kinds, nodes);
	assert_int_equal(j->step, 2);
	assert_int_equal(state_op_executor(j), 1);
	assert_int_equal(state_vf_free(&s, 3, "fast"), 1);
	/* The source's VF stays the VM's meanwhile. */
	assert_int_equal(state_vf_free(&s, 1, "fast"), 1);
	assert_int_equal(step_result(&s, id, 2, true, ""), 1);
	j = state_op_find(&s, id);
	/* Then the failure takes its course: re-queued for another try. */
	assert_int_equal(j->state, QUEUE_JOB_QUEUED);
	assert_int_equal(j->n_attempts, 1);
	assert_string_equal(j->attempts[0].reason, "connection reset");
	v = state_vm_find(&s, "vm1");
	assert_int_equal(v->owner, 1);
	assert_int_equal(v->vf.node, 1);
	assert_true(v->vf.attached);
	state_free(&s);
}

static void test_cancel_during_detach(void **unused)
{
	struct cluster_state s;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsCancel jc = DROVER__JOBS_CANCEL__INIT;
	const struct queue_job *j;
	uint64_t id;

	(void)unused;
	setup3(&s);
	id = migrate_start(&s, "vm1", 1, 3);
	jc.abort = true;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_CANCEL;
	env.jobs_cancel = &jc;
	assert_int_equal(apply(&s, &env), 1);
	/* The detach ended well, but the transfer must not start: the VF goes back first. */
	assert_int_equal(step_result(&s, id, 0, true, ""), 1);
	j = state_op_find(&s, id);
	assert_int_equal(j->state, QUEUE_JOB_RUNNING);
	assert_int_equal(j->plan[j->step].kind, ATTACH);
	assert_int_equal(j->plan[j->step].node, 1);
	assert_int_equal(state_vf_free(&s, 3, "fast"), 1);
	assert_int_equal(step_result(&s, id, j->step, true, ""), 1);
	j = state_op_find(&s, id);
	assert_int_equal(j->state, QUEUE_JOB_CANCELLED);
	assert_true(state_vm_find(&s, "vm1")->vf.attached);
	assert_int_equal(state_vm_find(&s, "vm1")->vf.node, 1);
	state_free(&s);
}

static void test_transfer_failed_without_detach_no_rollback(void **unused)
{
	struct cluster_state s;
	uint64_t id;

	(void)unused;
	state_init(&s);
	assert_int_equal(hardware(&s, 3, 1, 0), 1);
	assert_int_equal(add_vm(&s, "vm2", "fast", false, 0), 1);
	run_on(&s, "vm2", 1, false); /* n1 has no pool: it runs degraded */
	id = migrate_start(&s, "vm2", 1, 3);
	assert_int_equal(state_op_find(&s, id)->n_plan, 2); /* transfer, attach */
	assert_int_equal(state_vf_free(&s, 3, "fast"), 0);
	assert_int_equal(job_finish(&s, id, false, "no route"), 1);
	assert_int_equal(state_op_find(&s, id)->state, QUEUE_JOB_QUEUED);
	assert_int_equal(state_vf_free(&s, 3, "fast"), 1);
	state_free(&s);
}

static void test_attach_failed_degraded_and_vf_back(void **unused)
{
	struct cluster_state s;
	const struct vm_cfg *v;
	char buf[256];
	uint64_t id;

	(void)unused;
	setup3(&s);
	id = migrate_start(&s, "vm1", 1, 3);
	assert_int_equal(step_result(&s, id, 0, true, ""), 1);
	assert_int_equal(job_finish(&s, id, true, ""), 1);
	assert_int_equal(step_result(&s, id, 2, false, "device busy"), 1);
	/* The migration is done: the VM runs on n3, on its standby NIC. */
	assert_int_equal(state_op_find(&s, id)->state, QUEUE_JOB_DONE);
	v = state_vm_find(&s, "vm1");
	assert_int_equal(v->owner, 3);
	assert_int_equal(v->vf.node, 0);
	assert_string_equal(state_vf_degraded(v, buf, sizeof(buf)),
			    "no VF (VF attach failed: device busy)");
	assert_int_equal(state_vf_free(&s, 3, "fast"), 1);
	assert_int_equal(state_vf_free(&s, 1, "fast"), 2);
	state_free(&s);
}

static void test_never_allocated_twice(void **unused)
{
	struct cluster_state s;
	uint64_t a, b;

	(void)unused;
	state_init(&s);
	assert_int_equal(hardware(&s, 3, 1, 0), 1);
	assert_int_equal(add_vm(&s, "a", "fast", false, 0), 1);
	assert_int_equal(add_vm(&s, "b", "fast", false, 0), 1);
	run_on(&s, "a", 1, false);
	run_on(&s, "b", 2, false);
	/* Two migrations to n3's one VF, decided one after the other: the first gets it. */
	a = migrate_start(&s, "a", 1, 3);
	b = migrate_start(&s, "b", 2, 3);
	assert_int_equal(state_op_find(&s, a)->vf_reserved.node, 3);
	assert_int_equal(state_op_find(&s, b)->vf_reserved.node, 0);
	assert_int_equal(state_op_find(&s, b)->n_plan, 1);
	/* A repair cannot take it either while it is reserved. */
	assert_int_equal(job_finish(&s, b, true, ""), 1);
	assert_int_equal(action(&s, DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH, "b", 3), -ENOSPC);
	assert_int_equal(job_finish(&s, a, true, ""), 1);
	assert_int_equal(step_result(&s, a, 1, true, ""), 1);
	assert_int_equal(state_vm_find(&s, "a")->vf.node, 3);
	assert_int_equal(action(&s, DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH, "b", 3), -ENOSPC);
	state_free(&s);
}

static void test_stop_and_fence_free_the_vf(void **unused)
{
	struct cluster_state s;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NodeLost lost = DROVER__NODE_LOST__INIT;
	Drover__FenceResult fr = DROVER__FENCE_RESULT__INIT;

	(void)unused;
	setup3(&s);
	assert_int_equal(add_vm(&s, "vm3", "fast", false, 0), 1);
	run_on(&s, "vm3", 1, true);
	assert_int_equal(state_vf_free(&s, 1, "fast"), 0);
	/* A stopped VM gives its VF back. */
	assert_int_equal(action(&s, DROVER__VM_ACTION_KIND__VM_ACTION_STOP, "vm3", 1), 1);
	assert_int_equal(state_vf_free(&s, 1, "fast"), 0); /* not while it stops */
	assert_int_equal(result(&s, last_op(&s), true, ""), 1);
	assert_int_equal(state_vm_find(&s, "vm3")->vf.node, 0);
	assert_int_equal(state_vf_free(&s, 1, "fast"), 1);
	/* A fenced node's VMs run nowhere: their VFs are free. */
	lost.node = 1;
	env.body_case = DROVER__ENVELOPE__BODY_NODE_LOST;
	env.node_lost = &lost;
	assert_int_equal(apply(&s, &env), 1);
	fr.node = 1;
	fr.ok = true;
	fr.device = (char *)"test";
	env.body_case = DROVER__ENVELOPE__BODY_FENCE_RESULT;
	env.fence_result = &fr;
	assert_int_equal(apply(&s, &env), 1);
	assert_int_equal(state_vm_find(&s, "vm1")->vf.node, 0);
	assert_int_equal(state_vf_free(&s, 1, "fast"), 2);
	state_free(&s);
}

static void test_sa_accounting(void **unused)
{
	struct cluster_state s;
	uint64_t id;

	(void)unused;
	setup3(&s);
	assert_int_equal(add_vm(&s, "vm2", "", false, 70), 1);
	run_on(&s, "vm2", 1, false);
	assert_int_equal(state_sa_capacity(&s, 1), 100);
	assert_int_equal(state_sa_used(&s, 1), 110); /* 40 + 70: over, both still run */
	assert_int_equal(state_sa_used(&s, 2), 0);
	/* vm1 comes first and fits; vm2 runs short (its IPsec costs guest CPU). */
	assert_false(state_sa_short(&s, state_vm_find(&s, "vm1")));
	assert_true(state_sa_short(&s, state_vm_find(&s, "vm2")));
	id = migrate_start(&s, "vm2", 1, 2);
	assert_int_equal(job_finish(&s, id, true, ""), 1);
	assert_int_equal(state_sa_used(&s, 1), 40);
	assert_int_equal(state_sa_used(&s, 2), 70);
	assert_true(state_sa_short(&s, state_vm_find(&s, "vm2"))); /* n2 announced no capacity */
	state_free(&s);
}

static void test_vm_add_vf_fields(void **unused)
{
	struct cluster_state s;
	const struct vm_cfg *v;

	(void)unused;
	state_init(&s);
	assert_int_equal(add_vm(&s, "r", "fast", true, 8), 1);
	v = state_vm_find(&s, "r");
	assert_string_equal(v->vf_pool, "fast");
	assert_true(v->vf_required);
	assert_int_equal(v->ipsec_offload_sa, 8);
	assert_int_equal(v->vf.node, 0); /* the forged hold was dropped */
	assert_int_equal(add_vm(&s, "bad", "a b", false, 0), -EINVAL);
	assert_int_equal(add_vm(&s, "bad", "fast", false, DROVER_IPSEC_SA_MAX + 1), -EINVAL);
	assert_null(state_vm_find(&s, "bad"));
	state_free(&s);
}

/* Pack, unpack and read back, as the state file and the exchange (state_xfer.c) do. */
static void round_trip(const struct cluster_state *s, struct cluster_state *ret)
{
	Drover__ClusterState msg;
	struct state_proto_storage st;
	Drover__ClusterState *back;
	uint8_t *buf;
	size_t len;

	state_to_proto(s, &msg, &st);
	len = drover__cluster_state__get_packed_size(&msg);
	buf = malloc(len ? len : 1);
	assert_non_null(buf);
	drover__cluster_state__pack(&msg, buf);
	state_proto_storage_free(&st);
	back = drover__cluster_state__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(state_from_proto(back, ret), 0);
	drover__cluster_state__free_unpacked(back, NULL);
	free(buf);
}

static void test_persisted_and_exchanged(void **unused)
{
	struct cluster_state s, back, copy;
	const struct vm_cfg *v;
	uint64_t id;

	(void)unused;
	setup3(&s);
	id = migrate_start(&s, "vm1", 1, 3);
	assert_int_equal(step_result(&s, id, 0, true, ""), 1);
	round_trip(&s, &back);
	assert_int_equal(state_hash(&back), state_hash(&s));
	assert_int_equal(state_op_find(&back, id)->vf_reserved.node, 3);
	assert_int_equal(state_vf_free(&back, 3, "fast"), 0);
	v = state_vm_find(&back, "vm1");
	assert_int_equal(v->vf.node, 1);
	assert_false(v->vf.attached);
	assert_string_equal(back.nodes[0].vf_pools[0].labels[1], "vf1");
	assert_int_equal(back.nodes[0].ipsec_sa_capacity, 100);
	/* Both copies go on alike. */
	assert_int_equal(job_finish(&back, id, true, ""), 1);
	assert_int_equal(job_finish(&s, id, true, ""), 1);
	assert_int_equal(state_hash(&back), state_hash(&s));
	state_copy(&s, &copy);
	assert_int_equal(state_hash(&copy), state_hash(&s));
	state_free(&copy);
	state_free(&back);
	state_free(&s);
}

static void test_double_hold_refused_on_load(void **unused)
{
	struct cluster_state s, back;
	Drover__ClusterState msg;
	struct state_proto_storage st;
	Drover__VfHold dup = DROVER__VF_HOLD__INIT;

	(void)unused;
	setup3(&s);
	assert_int_equal(add_vm(&s, "vm2", "fast", false, 0), 1);
	state_to_proto(&s, &msg, &st);
	/* vm2 claims vm1's VF: such a state is refused whole. */
	dup = *msg.vms[0]->vf;
	msg.vms[1]->vf = &dup;
	assert_int_equal(state_from_proto(&msg, &back), -EINVAL);
	msg.vms[1]->vf = NULL;
	assert_int_equal(state_from_proto(&msg, &back), 0);
	state_free(&back);
	state_proto_storage_free(&st);
	state_free(&s);
}

static void test_hash_sees_the_hold(void **unused)
{
	struct cluster_state s, t;

	(void)unused;
	setup3(&s);
	state_copy(&s, &t);
	assert_int_equal(state_hash(&s), state_hash(&t));
	t.vms[0].vf.device = 2;
	assert_int_not_equal(state_hash(&s), state_hash(&t));
	t.vms[0].vf.device = 1;
	t.vms[0].vf.attached = false;
	assert_int_not_equal(state_hash(&s), state_hash(&t));
	state_free(&t);
	state_free(&s);
}

/* ---- random streams: two replicas, every path, nothing given twice, everything back ---- */

static uint64_t rnd_state = 88172645463325252ull;

static uint32_t rnd(uint32_t n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (uint32_t)(rnd_state % n);
}

/* Apply to both replicas; they must answer alike and stay alike. */
static int both_apply(struct cluster_state *a, struct cluster_state *b, Drover__Envelope *env)
{
	int ra = apply(a, env), rb = apply(b, env);

	assert_int_equal(ra, rb);
	assert_int_equal(state_hash(a), state_hash(b));
	return ra;
}

static void random_message(struct cluster_state *a, struct cluster_state *b)
{
	static const char *const vms[] = { "r0", "r1", "r2", "r3", "r4", "r5" };
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction act = DROVER__VM_ACTION__INIT;
	Drover__VmActionResult res = DROVER__VM_ACTION_RESULT__INIT;
	Drover__JobsAdd add = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec sp = DROVER__JOB_SPEC__INIT, *spp = &sp;
	Drover__JobStart js = DROVER__JOB_START__INIT;
	Drover__JobFinish jf = DROVER__JOB_FINISH__INIT;
	Drover__OpStepResult sr = DROVER__OP_STEP_RESULT__INIT;
	const char *vm = vms[rnd(6)];
	uint64_t id = a->next_job_id > 1 ? a->next_job_id - 1 - rnd(4) : 1;
	const struct queue_job *j = state_op_find(a, id);
	const struct vm_cfg *v = state_vm_find(a, vm);

	switch (rnd(8)) {
	case 0: {
		/* A node announces (a reload may grow or shrink its pool), on a copy of each. */
		struct cluster_state *both[2] = { a, b };
		uint32_t node = 1 + rnd(3), n = rnd(4), sa = rnd(3) * 50;
		int r[2];

		for (int k = 0; k < 2; k++)
			r[k] = hardware(both[k], node, n, sa);
		assert_int_equal(r[0], r[1]);
		assert_int_equal(state_hash(a), state_hash(b));
		return;
	}
	case 1:
		act.kind = rnd(2) ? DROVER__VM_ACTION_KIND__VM_ACTION_START
				  : DROVER__VM_ACTION_KIND__VM_ACTION_STOP;
		if (v && v->owner && act.kind == DROVER__VM_ACTION_KIND__VM_ACTION_START)
			act.kind = DROVER__VM_ACTION_KIND__VM_ACTION_STOP;
		act.vm = (char *)vm;
		act.node = v && v->owner ? v->owner : 1 + rnd(3);
		env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
		env.vm_action = &act;
		break;
	case 2:
		act.kind = DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH;
		act.vm = (char *)vm;
		act.node = v && v->owner && rnd(4) ? v->owner : 1 + rnd(3);
		env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
		env.vm_action = &act;
		break;
	case 3:
		res.action_id = id;
		res.ok = rnd(3) != 0;
		res.error = (char *)"no";
		env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_RESULT;
		env.vm_action_result = &res;
		break;
	case 4:
		sp.vm = (char *)vm;
		sp.source = v && v->owner ? v->owner : 1 + rnd(3);
		sp.origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_MANUAL;
		add.jobs = &spp;
		add.n_jobs = 1;
		env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
		env.jobs_add = &add;
		break;
	case 5:
		js.job_id = id;
		js.target = 1 + rnd(3);
		js.network = (char *)"net";
		env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
		env.job_start = &js;
		break;
	case 6:
		jf.job_id = id;
		jf.ok = rnd(2);
		jf.reason = (char *)(jf.ok ? "" : "cut");
		env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
		env.job_finish = &jf;
		break;
	default:
		sr.op_id = id;
		sr.step = j ? j->step : 0;
		sr.ok = rnd(3) != 0;
		sr.error = (char *)(sr.ok ? "" : "refused");
		env.body_case = DROVER__ENVELOPE__BODY_OP_STEP_RESULT;
		env.op_step_result = &sr;
		break;
	}
	both_apply(a, b, &env);
}

/* End every operation as failed, then stop every VM: every VF must be back in its pool. */
static void wind_down(struct cluster_state *a, struct cluster_state *b)
{
	for (int round = 0; round < 64; round++) {
		bool any = false;

		for (size_t i = 0; i < a->n_jobs; i++) {
			const struct queue_job *j = &a->jobs[i];
			Drover__Envelope env = DROVER__ENVELOPE__INIT;
			Drover__JobsCancel jc = DROVER__JOBS_CANCEL__INIT;
			Drover__JobFinish jf = DROVER__JOB_FINISH__INIT;
			Drover__OpStepResult sr = DROVER__OP_STEP_RESULT__INIT;
			Drover__VmActionResult res = DROVER__VM_ACTION_RESULT__INIT;
			uint64_t ids[1] = { j->id };

			if (!(j->state == QUEUE_JOB_QUEUED || j->state == QUEUE_JOB_RUNNING))
				continue;
			any = true;
			if (j->state == QUEUE_JOB_QUEUED) {
				jc.job_ids = ids;
				jc.n_job_ids = 1;
				jc.reason = (char *)"wind down";
				env.body_case = DROVER__ENVELOPE__BODY_JOBS_CANCEL;
				env.jobs_cancel = &jc;
			} else if (j->kind != QUEUE_OP_MIGRATE) {
				res.action_id = j->id;
				res.ok = false;
				res.error = (char *)"wind down";
				env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_RESULT;
				env.vm_action_result = &res;
			} else if (j->plan[j->step].kind == DROVER__OP_STEP_KIND__OP_STEP_TRANSFER) {
				jf.job_id = j->id;
				jf.ok = false;
				jf.reason = (char *)"wind down";
				env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
				env.job_finish = &jf;
			} else {
				sr.op_id = j->id;
				sr.step = j->step;
				sr.ok = false;
				sr.error = (char *)"wind down";
				env.body_case = DROVER__ENVELOPE__BODY_OP_STEP_RESULT;
				env.op_step_result = &sr;
			}
			assert_int_equal(both_apply(a, b, &env), 1);
			break;
		}
		if (!any)
			break;
	}
	for (size_t i = 0; i < a->n_vms; i++) {
		if (!a->vms[i].owner)
			continue;
		assert_int_equal(action(a, DROVER__VM_ACTION_KIND__VM_ACTION_STOP, a->vms[i].name,
					a->vms[i].owner), 1);
		assert_int_equal(action(b, DROVER__VM_ACTION_KIND__VM_ACTION_STOP, b->vms[i].name,
					b->vms[i].owner), 1);
		assert_int_equal(result(a, last_op(a), true, ""), 1);
		assert_int_equal(result(b, last_op(b), true, ""), 1);
	}
	assert_int_equal(state_hash(a), state_hash(b));
	for (size_t i = 0; i < a->n_vms; i++)
		assert_int_equal(a->vms[i].vf.node, 0);
	for (size_t i = 0; i < a->n_nodes; i++)
		for (size_t p = 0; p < a->nodes[i].n_vf_pools; p++)
			assert_int_equal(state_vf_free(a, a->nodes[i].id, a->nodes[i].vf_pools[p].name),
					 a->nodes[i].vf_pools[p].n_devices);
}

static void test_random_streams_free_everything(void **unused)
{
	(void)unused;
	for (int run = 0; run < 40; run++) {
		struct cluster_state a, b;
		uint64_t vf_ops = 0;

		state_init(&a);
		for (int k = 0; k < 6; k++) {
			char name[8];

			snprintf(name, sizeof(name), "r%d", k);
			assert_int_equal(add_vm(&a, name, "fast", k == 5, 10), 1);
		}
		assert_int_equal(hardware(&a, 1, 2, 50), 1);
		assert_int_equal(hardware(&a, 3, 1, 0), 1);
		state_copy(&a, &b);
		for (int i = 0; i < 400; i++) {
			random_message(&a, &b);
			for (size_t k = 0; k < a.n_jobs; k++)
				vf_ops += a.jobs[k].vf_reserved.node != 0;
		}
		/* The stream did reach the VF paths, or this test proves nothing. */
		assert_true(vf_ops > 0);
		wind_down(&a, &b);
		state_free(&a);
		state_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hardware_announce),
		cmocka_unit_test(test_migration_with_vf_to_a_node_with_one),
		cmocka_unit_test(test_no_vf_on_target_degraded_then_repaired),
		cmocka_unit_test(test_detach_refused_migration_does_not_start),
		cmocka_unit_test(test_transfer_failed_vf_back_on_source),
		cmocka_unit_test(test_transfer_failed_without_detach_no_rollback),
		cmocka_unit_test(test_cancel_during_detach),
		cmocka_unit_test(test_attach_failed_degraded_and_vf_back),
		cmocka_unit_test(test_never_allocated_twice),
		cmocka_unit_test(test_stop_and_fence_free_the_vf),
		cmocka_unit_test(test_sa_accounting),
		cmocka_unit_test(test_vm_add_vf_fields),
		cmocka_unit_test(test_persisted_and_exchanged),
		cmocka_unit_test(test_double_hold_refused_on_load),
		cmocka_unit_test(test_hash_sees_the_hold),
		cmocka_unit_test(test_random_streams_free_everything),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
