/*
 * The replicated state machine: the same messages in the same order give the
 * same state; invalid messages change nothing; conversions round-trip and
 * reject what a hostile peer could send.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>

#include "state.h"

static int apply_set(struct cluster_state *s, uint32_t id, int st)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__SetNodeState m = DROVER__SET_NODE_STATE__INIT;

	m.node_id = id;
	m.state = (Drover__NodeState)st;
	env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
	env.set_node_state = &m;
	return state_apply(s, &env);
}

static void test_basic_change(void **unused)
{
	struct cluster_state s;

	(void)unused;
	state_init(&s);
	assert_int_equal(state_node_get(&s, 2), DROVER__NODE_STATE__NODE_STATE_ACTIVE);
	assert_int_equal(apply_set(&s, 2, DROVER__NODE_STATE__NODE_STATE_MAINTENANCE), 1);
	assert_int_equal(s.epoch, 1);
	assert_int_equal(state_node_get(&s, 2), DROVER__NODE_STATE__NODE_STATE_MAINTENANCE);
	/* Same state again: valid, no change, epoch kept. */
	assert_int_equal(apply_set(&s, 2, DROVER__NODE_STATE__NODE_STATE_MAINTENANCE), 0);
	assert_int_equal(s.epoch, 1);
	assert_int_equal(apply_set(&s, 2, DROVER__NODE_STATE__NODE_STATE_ACTIVE), 1);
	assert_int_equal(s.epoch, 2);
	/* Active on a node never mentioned is already true. */
	assert_int_equal(apply_set(&s, 7, DROVER__NODE_STATE__NODE_STATE_ACTIVE), 0);
	assert_int_equal(s.epoch, 2);
}

static void test_invalid_changes_nothing(void **unused)
{
	struct cluster_state s, before;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;

	(void)unused;
	state_init(&s);
	apply_set(&s, 3, DROVER__NODE_STATE__NODE_STATE_MAINTENANCE);
	before = s;
	assert_int_equal(apply_set(&s, 0, DROVER__NODE_STATE__NODE_STATE_MAINTENANCE), -EINVAL);
	assert_int_equal(apply_set(&s, 3, 0), -EINVAL);
	assert_int_equal(apply_set(&s, 3, 99), -EINVAL);
	assert_int_equal(apply_set(&s, 3, -1), -EINVAL);
	env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
	env.set_node_state = NULL;
	assert_int_equal(state_apply(&s, &env), -EINVAL);
	env.body_case = DROVER__ENVELOPE__BODY_STATE_DIGEST;
	assert_int_equal(state_apply(&s, &env), -ENOTSUP);
	assert_memory_equal(&s, &before, sizeof(s));
}

static void test_table_full(void **unused)
{
	struct cluster_state s;

	(void)unused;
	state_init(&s);
	for (uint32_t i = 1; i <= DROVER_MAX_NODES; i++)
		assert_int_equal(apply_set(&s, i, DROVER__NODE_STATE__NODE_STATE_MAINTENANCE), 1);
	assert_int_equal(apply_set(&s, 1000, DROVER__NODE_STATE__NODE_STATE_MAINTENANCE),
			 -ENOSPC);
	assert_int_equal(s.n_nodes, DROVER_MAX_NODES);
	for (size_t i = 1; i < s.n_nodes; i++)
		assert_true(s.nodes[i - 1].id < s.nodes[i].id);
}

/* Two replicas fed one random stream stay identical, message by message. */
static void test_same_order_same_state(void **unused)
{
	struct cluster_state a, b;
	uint64_t changes = 0;

	(void)unused;
	srandom(42);
	state_init(&a);
	state_init(&b);
	for (int i = 0; i < 5000; i++) {
		uint32_t id = (uint32_t)(random() % 40);     /* 0 is invalid */
		int st = (int)(random() % 9) - 1;             /* -1, 0, 7 are invalid */
		int ra = apply_set(&a, id, st);
		int rb = apply_set(&b, id, st);

		assert_int_equal(ra, rb);
		if (ra == 1)
			changes++;
		assert_int_equal(state_hash(&a), state_hash(&b));
	}
	assert_int_equal(a.epoch, changes);
	assert_true(changes > 100);
	assert_memory_equal(&a, &b, sizeof(a));
}

/* The hash tells different states apart (it decides whether a sync is needed). */
static void test_hash_distinguishes(void **unused)
{
	struct cluster_state a, b;

	(void)unused;
	state_init(&a);
	state_init(&b);
	apply_set(&a, 1, DROVER__NODE_STATE__NODE_STATE_MAINTENANCE);
	apply_set(&b, 2, DROVER__NODE_STATE__NODE_STATE_MAINTENANCE);
	assert_int_equal(a.epoch, b.epoch);
	assert_int_not_equal(state_hash(&a), state_hash(&b));
}

static void test_proto_roundtrip(void **unused)
{
	struct cluster_state a, b;
	Drover__ClusterState msg;
	struct state_proto_storage st;

	(void)unused;
	state_init(&a);
	apply_set(&a, 5, DROVER__NODE_STATE__NODE_STATE_MAINTENANCE);
	apply_set(&a, 2, DROVER__NODE_STATE__NODE_STATE_MAINTENANCE);
	apply_set(&a, 9, DROVER__NODE_STATE__NODE_STATE_MAINTENANCE);
	apply_set(&a, 5, DROVER__NODE_STATE__NODE_STATE_ACTIVE);
	state_to_proto(&a, &msg, &st);
	assert_int_equal(state_from_proto(&msg, &b), 0);
	state_proto_storage_free(&st);
	assert_int_equal(state_hash(&a), state_hash(&b));
	assert_int_equal(b.epoch, 4);
	/* The queue's part comes along even when empty: the defaults. */
	assert_int_equal(b.next_job_id, 1);
	assert_false(b.limits.set);
	assert_int_equal(b.limits.per_source, 2);
	state_free(&a);
	state_free(&b);
}

static void test_proto_rejects_bad(void **unused)
{
	struct cluster_state ret, orig;
	Drover__ClusterState msg = DROVER__CLUSTER_STATE__INIT;
	Drover__NodeConfig n1 = DROVER__NODE_CONFIG__INIT, n2 = DROVER__NODE_CONFIG__INIT;
	Drover__NodeConfig *nodes[2] = { &n1, &n2 };

	(void)unused;
	state_init(&ret);
	ret.epoch = 77;
	orig = ret;
	msg.nodes = nodes;
	msg.n_nodes = 2;
	n1.id = 1;
	n1.state = DROVER__NODE_STATE__NODE_STATE_ACTIVE;
	n2.id = 1; /* duplicate */
	n2.state = DROVER__NODE_STATE__NODE_STATE_MAINTENANCE;
	assert_int_equal(state_from_proto(&msg, &ret), -EINVAL);
	n2.id = 0; /* zero id */
	assert_int_equal(state_from_proto(&msg, &ret), -EINVAL);
	n2.id = 2;
	n2.state = 42; /* unknown state */
	assert_int_equal(state_from_proto(&msg, &ret), -EINVAL);
	msg.n_nodes = DROVER_MAX_NODES + 1; /* too many */
	assert_int_equal(state_from_proto(&msg, &ret), -EINVAL);
	assert_memory_equal(&ret, &orig, sizeof(ret));
	n2.state = DROVER__NODE_STATE__NODE_STATE_MAINTENANCE;
	msg.n_nodes = 2;
	assert_int_equal(state_from_proto(&msg, &ret), 0);
	assert_int_equal(state_node_get(&ret, 2), DROVER__NODE_STATE__NODE_STATE_MAINTENANCE);
	state_free(&ret);
}

static int apply_vm(struct cluster_state *s, const char *name, const char *xml, uint64_t mem,
		    uint32_t vcpus, int prio)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;

	vm.name = (char *)name;
	vm.xml = (char *)xml;
	vm.memory_mib = mem;
	vm.vcpus = vcpus;
	vm.priority = (Drover__VmPriority)prio;
	m.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	return state_apply(s, &env);
}

static int remove_vm(struct cluster_state *s, const char *name)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmRemove m = DROVER__VM_REMOVE__INIT;

	m.name = (char *)name;
	env.body_case = DROVER__ENVELOPE__BODY_VM_REMOVE;
	env.vm_remove = &m;
	return state_apply(s, &env);
}

#define XML(n, mib, cpus)                                                                  \
	"<domain><name>" n "</name><memory unit='MiB'>" #mib "</memory><vcpu>" #cpus      \
	"</vcpu></domain>"

static void test_vm_registry(void **unused)
{
	struct cluster_state s, copy, back;
	Drover__ClusterState msg;
	struct state_proto_storage st;
	uint64_t h;

	(void)unused;
	state_init(&s);
	assert_int_equal(apply_vm(&s, "b", XML("b", 64, 1), 64, 1, 1), 1);
	assert_int_equal(apply_vm(&s, "a", XML("a", 128, 2), 128, 2, 3), 1);
	assert_int_equal(s.n_vms, 2);
	assert_string_equal(s.vms[0].name, "a"); /* sorted */
	assert_int_equal(s.epoch, 2);
	h = state_hash(&s);
	/* Refused alike by every member, nothing changes. */
	assert_int_equal(apply_vm(&s, "a", XML("a", 128, 2), 128, 2, 3), -EEXIST);
	assert_int_equal(apply_vm(&s, "c", XML("c", 64, 1), 999, 1, 1), -EINVAL); /* size lie */
	assert_int_equal(apply_vm(&s, "c", XML("d", 64, 1), 64, 1, 1), -EINVAL);  /* name lie */
	assert_int_equal(apply_vm(&s, "c", "<domain>", 64, 1, 1), -EINVAL);
	assert_int_equal(apply_vm(&s, "c", XML("c", 64, 1), 64, 1, 0), -EINVAL); /* priority */
	assert_int_equal(apply_vm(&s, "c", XML("c", 64, 1), 64, 1, 9), -EINVAL);
	assert_int_equal(apply_vm(&s, "bad name", XML("bad name", 64, 1), 64, 1, 1), -EINVAL);
	assert_int_equal(remove_vm(&s, "zzz"), -ENOENT);
	assert_int_equal(state_hash(&s), h);
	assert_int_equal(s.epoch, 2);

	/* Deep copy and protobuf round trip keep everything. */
	state_copy(&s, &copy);
	assert_int_equal(state_hash(&copy), h);
	state_to_proto(&s, &msg, &st);
	assert_int_equal(state_from_proto(&msg, &back), 0);
	state_proto_storage_free(&st);
	assert_int_equal(state_hash(&back), h);
	assert_string_equal(state_vm_find(&back, "a")->xml, XML("a", 128, 2));

	assert_int_equal(remove_vm(&s, "a"), 1);
	assert_int_equal(s.n_vms, 1);
	assert_null(state_vm_find(&s, "a"));
	assert_int_not_equal(state_hash(&s), h);
	/* The copy is independent of the original. */
	assert_non_null(state_vm_find(&copy, "a"));
	state_free(&s);
	state_free(&copy);
	state_free(&back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_change),
		cmocka_unit_test(test_invalid_changes_nothing),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_same_order_same_state),
		cmocka_unit_test(test_hash_distinguishes),
		cmocka_unit_test(test_proto_roundtrip),
		cmocka_unit_test(test_proto_rejects_bad),
		cmocka_unit_test(test_vm_registry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
