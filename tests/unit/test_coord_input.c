/*
 * The coordinator's input from a member's observations (coord_input.c): the
 * room the queue sees on a node (registered active guests count, paused ones
 * too, but not the paused copy a migration brings in; a VM a finished
 * migration brought before the node reported again counts; vCPUs
 * overcommitted; no report, no room), the node reports (active domains only, members that
 * never reported added as seeing nothing) and the VMs busy with a start or a
 * stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "coord_input.h"

#define RUNNING DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING
#define PAUSED DROVER__VM_RUN_STATE__VM_RUN_STATE_PAUSED
#define STOPPED DROVER__VM_RUN_STATE__VM_RUN_STATE_STOPPED

static struct cluster_state state;
static struct node_obs table[OBS_TABLE_SIZE];

static void apply(Drover__Envelope *env)
{
	assert_int_equal(state_apply(&state, env), 1);
}

static void registered(const char *name, uint64_t mib, uint32_t vcpus)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
	char xml[200];

	snprintf(xml, sizeof(xml),
		 "<domain><name>%s</name><memory unit='MiB'>%llu</memory><vcpu>%u</vcpu></domain>",
		 name, (unsigned long long)mib, (unsigned)vcpus);
	vm.name = (char *)name;
	vm.xml = xml;
	vm.memory_mib = mib;
	vm.vcpus = vcpus;
	vm.priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	m.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	apply(&env);
}

/* A drain job for vm from source, started towards target. */
static void migrating(const char *vm, uint32_t source, uint32_t target)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsAdd add = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec spec = DROVER__JOB_SPEC__INIT, *sp = &spec;
	Drover__JobStart start = DROVER__JOB_START__INIT;
	uint64_t id = state.next_job_id;

	spec.vm = (char *)vm;
	spec.source = source;
	spec.origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_DRAIN;
	add.n_jobs = 1;
	add.jobs = &sp;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &add;
	apply(&env);
	start.job_id = id;
	start.target = target;
	start.network = (char *)"mig-a";
	env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
	env.job_start = &start;
	apply(&env);
}

/* node reports these domains (name, state pairs), memory and CPUs. */
static void reports(uint32_t node, uint64_t mib, uint32_t cpus, size_t n, const char *const *names,
		    const Drover__VmRunState *states)
{
	Drover__NodeInventory m = DROVER__NODE_INVENTORY__INIT;
	Drover__AgentInventory inv = DROVER__AGENT_INVENTORY__INIT;
	Drover__AgentDomain doms[8], *ptrs[8];

	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		drover__agent_domain__init(&doms[i]);
		doms[i].name = (char *)names[i];
		doms[i].state = states[i];
		ptrs[i] = &doms[i];
	}
	inv.n_domains = n;
	inv.domains = ptrs;
	inv.memory_mib = mib;
	inv.vcpus = cpus;
	m.inventory = &inv;
	m.agent_ok = true;
	assert_int_equal(obs_on_inventory(table, &state, node, &m), 0);
}

static int setup(void **unused)
{
	(void)unused;
	state_init(&state);
	memset(table, 0, sizeof(table));
	registered("a", 2048, 2);
	registered("b", 1024, 1);
	registered("c", 4096, 4);
	registered("d", 512, 8);
	return 0;
}

static int teardown(void **unused)
{
	(void)unused;
	state_free(&state);
	obs_free(table);
	return 0;
}

static void test_room(void **unused)
{
	static const char *const names[] = { "a", "b", "c", "x", "d" };
	static const Drover__VmRunState states[] = { RUNNING, PAUSED, STOPPED, RUNNING, PAUSED };
	uint64_t mib;
	uint32_t vcpus;

	(void)unused;
	/* d's paused copy is what its migration to n1 brings in: the queue counts that itself. */
	migrating("d", 2, 1);
	reports(1, 8192, 4, 5, names, states);
	coord_input_room(&state, obs_find(table, 1), &mib, &vcpus);
	/* a and the paused b hold theirs; c is off; x is not ours. */
	assert_int_equal(mib, 8192 - 2048 - 1024);
	assert_int_equal(vcpus, 4 * COORD_VCPU_OVERCOMMIT - 3);
	/* No report: no room. */
	coord_input_room(&state, NULL, &mib, &vcpus);
	assert_int_equal(mib, 0);
	assert_int_equal(vcpus, 0);
}

static void test_room_paused_elsewhere(void **unused)
{
	static const char *const names[] = { "d", "c" };
	static const Drover__VmRunState states[] = { PAUSED, RUNNING };
	uint64_t mib;
	uint32_t vcpus;

	(void)unused;
	/* d migrates to n3, not here: its paused guest on n1 holds its memory. */
	migrating("d", 2, 3);
	reports(1, 4096, 1, 2, names, states);
	coord_input_room(&state, obs_find(table, 1), &mib, &vcpus);
	assert_int_equal(mib, 0);
	assert_int_equal(vcpus, COORD_VCPU_OVERCOMMIT - 12);
	/* More in use than there is: nothing free, not a wrap-around. */
	registered("huge", 8192, 64);
	{
		static const char *const big[] = { "huge" };
		static const Drover__VmRunState run[] = { RUNNING };

		reports(1, 4096, 1, 1, big, run);
	}
	coord_input_room(&state, obs_find(table, 1), &mib, &vcpus);
	assert_int_equal(mib, 0);
	assert_int_equal(vcpus, 0);
}

/*
 * A migration that just ended here, before this node reported again: the
 * VM is touched here, not listed, and holds its memory already. While it
 * still runs here, the queue counts it itself.
 */
static void test_room_touched(void **unused)
{
	static const char *const names[] = { "a" };
	static const Drover__VmRunState states[] = { RUNNING };
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobFinish fin = DROVER__JOB_FINISH__INIT;
	uint64_t mib;
	uint32_t vcpus;

	(void)unused;
	reports(1, 8192, 4, 1, names, states);
	migrating("c", 2, 1);
	obs_touch(table, 1, "c");
	coord_input_room(&state, obs_find(table, 1), &mib, &vcpus);
	assert_int_equal(mib, 8192 - 2048);
	fin.job_id = state.next_job_id - 1;
	fin.ok = true;
	fin.reason = (char *)"";
	env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
	env.job_finish = &fin;
	apply(&env);
	coord_input_room(&state, obs_find(table, 1), &mib, &vcpus);
	assert_int_equal(mib, 8192 - 2048 - 4096);
	assert_int_equal(vcpus, 4 * COORD_VCPU_OVERCOMMIT - 2 - 4);
	/* Its report lists it: counted once. */
	{
		static const char *const both[] = { "a", "c" };
		static const Drover__VmRunState run[] = { RUNNING, RUNNING };

		reports(1, 8192, 4, 2, both, run);
	}
	coord_input_room(&state, obs_find(table, 1), &mib, &vcpus);
	assert_int_equal(mib, 8192 - 2048 - 4096);
}

static void test_nodes(void **unused)
{
	static const char *const n1[] = { "a", "c", "b" };
	static const Drover__VmRunState s1[] = { RUNNING, STOPPED, PAUSED };
	static const char *const n3[] = { "d" };
	static const Drover__VmRunState s3[] = { RUNNING };
	static const uint32_t members[] = { 1, 2 };
	struct coord_node nodes[4];
	const char *names[8];
	size_t n;

	(void)unused;
	reports(1, 8192, 4, 3, n1, s1);
	reports(3, 8192, 4, 1, n3, s3);
	assert_int_equal(coord_input_n_names(table), 4);
	n = coord_input_nodes(table, members, 2, nodes, 4, names);
	assert_int_equal(n, 3);
	assert_int_equal(nodes[0].id, 1);
	assert_true(nodes[0].member && nodes[0].agent_ok);
	assert_int_equal(nodes[0].n_vms, 2);
	assert_string_equal(nodes[0].vms[0], "a");
	assert_string_equal(nodes[0].vms[1], "b");
	assert_int_equal(nodes[1].id, 3);
	assert_false(nodes[1].member);
	assert_int_equal(nodes[1].n_vms, 1);
	assert_string_equal(nodes[1].vms[0], "d");
	/* n2 is a member that never reported: a node that sees nothing. */
	assert_int_equal(nodes[2].id, 2);
	assert_true(nodes[2].member);
	assert_false(nodes[2].agent_ok);
	assert_int_equal(nodes[2].n_vms, 0);
	/* At most max. */
	assert_int_equal(coord_input_nodes(table, members, 2, nodes, 1, names), 1);
}

static void test_busy(void **unused)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction act = DROVER__VM_ACTION__INIT;
	const char *busy[4];

	(void)unused;
	migrating("a", 1, 2);
	assert_int_equal(coord_input_busy(&state, busy, 4), 0);
	act.kind = DROVER__VM_ACTION_KIND__VM_ACTION_START;
	act.vm = (char *)"b";
	act.node = 2;
	act.network = (char *)"";
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &act;
	apply(&env);
	assert_int_equal(coord_input_busy(&state, busy, 4), 1);
	assert_string_equal(busy[0], "b");
	assert_int_equal(coord_input_busy(&state, busy, 0), 0);
}

/* n2 left and was fenced (by the state machine, as failover does it). */
static void fenced(uint32_t node, uint64_t at_ms)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NodeLost lost = DROVER__NODE_LOST__INIT;
	Drover__FenceResult fr = DROVER__FENCE_RESULT__INIT;

	lost.node = node;
	lost.lost_ms = at_ms;
	lost.reason = (char *)"left";
	env.body_case = DROVER__ENVELOPE__BODY_NODE_LOST;
	env.node_lost = &lost;
	apply(&env);
	fr.node = node;
	fr.ok = true;
	fr.device = (char *)"dev";
	fr.error = (char *)"";
	fr.at_ms = at_ms;
	env.body_case = DROVER__ENVELOPE__BODY_FENCE_RESULT;
	env.fence_result = &fr;
	apply(&env);
}

/* A start's load counts what is under way there: touched, not listed yet. */
static void test_load(void **unused)
{
	const char *names[] = { "a" };
	const Drover__VmRunState st[] = { DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING };
	uint64_t mib;
	uint32_t vcpus;

	(void)unused;
	reports(1, 8192, 4, 1, names, st);
	coord_input_load(&state, obs_find(table, 1), &mib, &vcpus);
	assert_int_equal(mib, 2048);
	assert_int_equal(vcpus, 2);
	obs_touch(table, 1, "b"); /* a start of b, decided on n1 */
	obs_touch(table, 1, "a"); /* listed already: counted once */
	coord_input_load(&state, obs_find(table, 1), &mib, &vcpus);
	assert_int_equal(mib, 3072);
	assert_int_equal(vcpus, 3);
	coord_input_load(&state, NULL, &mib, &vcpus);
	assert_int_equal(mib, 0);
}

/*
 * A fenced node receives nothing until it is usable again; it is known off
 * while away, until it reports after that fence: then it may run anything
 * again when it leaves, until it is fenced anew.
 */
static void test_fenced_node(void **unused)
{
	const uint32_t members[] = { 1, 3 }, all[] = { 1, 2, 3 };
	const struct obs_node nl[] = { { 1, "n1" }, { 2, "n2" }, { 3, "n3" } };
	const char *names[] = { "c" };
	const Drover__VmRunState st[] = { DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING };
	struct locate_result r;

	(void)unused;
	assert_true(coord_input_may_receive(&state, 2));
	reports(1, 8192, 4, 0, NULL, NULL);
	reports(3, 8192, 4, 0, NULL, NULL);
	reports(2, 8192, 4, 1, names, st);
	obs_on_confchg(table, members, 2, NULL, 0, false);
	fenced(2, 5000);
	assert_false(coord_input_may_receive(&state, 2));
	assert_int_equal(obs_locate(table, &state, nl, 3, members, 2, "c", &r), 0);
	assert_int_equal(r.state, LOCATE_STOPPED);
	/* Back, it reports (c autostarted), and leaves again: c is unknown. */
	obs_on_confchg(table, all, 3, (const uint32_t[]){ 2 }, 1, false);
	reports(2, 8192, 4, 1, names, st);
	obs_on_confchg(table, members, 2, NULL, 0, false);
	assert_int_equal(obs_locate(table, &state, nl, 3, members, 2, "c", &r), 0);
	assert_int_equal(r.state, LOCATE_UNKNOWN);
	assert_int_equal(r.unknown_node, 2);
	/* Usable again, then lost and fenced anew: known off again. */
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__NodeUnfenced m = DROVER__NODE_UNFENCED__INIT;

		m.node = 2;
		env.body_case = DROVER__ENVELOPE__BODY_NODE_UNFENCED;
		env.node_unfenced = &m;
		apply(&env);
	}
	assert_true(coord_input_may_receive(&state, 2));
	fenced(2, 9000);
	assert_int_equal(obs_locate(table, &state, nl, 3, members, 2, "c", &r), 0);
	assert_int_equal(r.state, LOCATE_STOPPED);
}

/*
 * An orphan migration (an attempt the cluster ended while its source was
 * away) that completed: the source's inventory lacks the VM and announces
 * its departure to n2, whose current report predates the hand-over. The VM
 * is unknown on n2 until n2 reports again, never "stopped".
 */
static void test_departure_marks_target(void **unused)
{
	const uint32_t members[] = { 1, 2, 3 };
	const struct obs_node nl[] = { { 1, "n1" }, { 2, "n2" }, { 3, "n3" } };
	const char *names[] = { "c" };
	const Drover__VmRunState st[] = { DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING };
	Drover__NodeInventory m = DROVER__NODE_INVENTORY__INIT;
	Drover__AgentInventory inv = DROVER__AGENT_INVENTORY__INIT;
	Drover__InventoryDeparture dep = DROVER__INVENTORY_DEPARTURE__INIT, *dp = &dep;
	struct locate_result r;

	(void)unused;
	reports(1, 8192, 4, 1, names, st);
	reports(2, 8192, 4, 0, NULL, NULL);
	reports(3, 8192, 4, 0, NULL, NULL);
	dep.vm = (char *)"c";
	dep.target = 2;
	m.inventory = &inv;
	m.agent_ok = true;
	m.n_departures = 1;
	m.departures = &dp;
	assert_int_equal(obs_on_inventory(table, &state, 1, &m), 0);
	assert_int_equal(obs_locate(table, &state, nl, 3, members, 3, "c", &r), 0);
	assert_int_equal(r.state, LOCATE_UNKNOWN);
	assert_int_equal(r.unknown_node, 2);
	/* n2 reports it: it runs there. */
	reports(2, 8192, 4, 1, names, st);
	assert_int_equal(obs_locate(table, &state, nl, 3, members, 3, "c", &r), 0);
	assert_int_equal(r.state, LOCATE_RUNNING);
	assert_int_equal(r.node_id, 2);
}

/*
 * A migration moved c onto n2 (a touch there), then n2 died before it
 * reported: unknown. Once n2 is fenced, the fence settles that touch: c was
 * on a node that is off now, so it is stopped and may restart elsewhere.
 */
static void test_fence_settles_touch(void **unused)
{
	const uint32_t members[] = { 1, 3 };
	const struct obs_node nl[] = { { 1, "n1" }, { 2, "n2" }, { 3, "n3" } };
	struct locate_result r;

	(void)unused;
	reports(1, 8192, 4, 0, NULL, NULL);
	reports(2, 8192, 4, 0, NULL, NULL);
	reports(3, 8192, 4, 0, NULL, NULL);
	obs_touch(table, 2, "c");
	obs_on_confchg(table, members, 2, NULL, 0, false);
	fenced(2, 5000);
	assert_int_equal(obs_locate(table, &state, nl, 3, members, 2, "c", &r), 0);
	assert_int_equal(r.state, LOCATE_UNKNOWN);
	obs_on_fenced(table, 2);
	assert_int_equal(obs_locate(table, &state, nl, 3, members, 2, "c", &r), 0);
	assert_int_equal(r.state, LOCATE_STOPPED);
}

/* After an exchange, the state's unfinished operations touch their nodes. */
static void test_touch_state(void **unused)
{
	(void)unused;
	migrating("a", 1, 2);
	obs_touch_state(table, &state);
	assert_non_null(obs_find(table, 1));
	assert_int_equal(obs_find(table, 1)->n_touched, 1);
	assert_string_equal(obs_find(table, 2)->touched[0], "a");
	assert_null(obs_find(table, 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_room, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_paused_elsewhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_touched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fenced_node, setup, teardown),
		cmocka_unit_test_setup_teardown(test_touch_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fence_settles_touch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_departure_marks_target, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
