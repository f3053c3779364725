/*
 * Failover in the pure core: the fence states of a lost node
 * (daemon/core/state_fence.c) and the coordinator's recovery decisions
 * (daemon/core/recover.c): nothing restarts before the node is fenced,
 * restarts go by priority within capacity and under the per-node throttle,
 * a VM that fits nowhere preempts lower-priority ones and starts once they
 * are gone, a preempted VM comes back when room returns, a VM on two hosts
 * keeps its owner's copy, failed restarts give up after the limit.
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

#include "recover.h"
#include "recover_view.h"

#define HIGH DROVER__VM_PRIORITY__VM_PRIORITY_HIGH
#define MEDIUM DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM
#define LOW DROVER__VM_PRIORITY__VM_PRIORITY_LOW
#define NONE DROVER__VM_PRIORITY__VM_PRIORITY_NONE
#define RUNNING DROVER__VM_WANT__VM_WANT_RUNNING

/* The hypervisors' truth: which node runs each VM (0: none), and a second copy. */
struct truth {
	char vm[8][16];
	uint32_t on[8], also[8];
	bool unknown[8];
	uint32_t crashed[8];
	size_t n;
};

static struct truth T;

static void runs(const char *vm, uint32_t node)
{
	for (size_t i = 0; i < T.n; i++)
		if (strcmp(T.vm[i], vm) == 0) {
			T.on[i] = node;
			return;
		}
	strcpy(T.vm[T.n], vm);
	T.on[T.n++] = node;
}

static int locate(const void *ctx, const char *vm, struct locate_result *ret)
{
	(void)ctx;
	memset(ret, 0, sizeof(*ret));
	ret->state = LOCATE_STOPPED;
	for (size_t i = 0; i < T.n; i++) {
		if (strcmp(T.vm[i], vm) != 0)
			continue;
		if (T.unknown[i]) {
			ret->state = LOCATE_UNKNOWN;
		} else if (T.crashed[i]) {
			ret->state = LOCATE_FAILED;
			ret->node_id = T.crashed[i];
		} else if (T.on[i]) {
			ret->state = LOCATE_RUNNING;
			ret->node_id = T.on[i];
			if (T.also[i])
				ret->also[ret->n_also++] = T.also[i];
		}
	}
	return 0;
}

static void apply_ok(struct cluster_state *s, Drover__Envelope *env)
{
	assert_int_equal(state_apply(s, env), 1);
}

static void add_vm(struct cluster_state *s, const char *name, uint64_t mib,
		   Drover__VmPriority prio)
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
	vm.priority = prio;
	/* A client cannot claim where a VM runs: VmAdd's owner is dropped. */
	vm.owner = 2;
	vm.want = RUNNING;
	m.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	apply_ok(s, &env);
	assert_int_equal(state_vm_find(s, name)->owner, 0);
}

static int placed(struct cluster_state *s, const char *vm, uint32_t owner, Drover__VmWant want)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmPlaced m = DROVER__VM_PLACED__INIT;

	m.vm = (char *)vm;
	m.owner = owner;
	m.want = want;
	env.body_case = DROVER__ENVELOPE__BODY_VM_PLACED;
	env.vm_placed = &m;
	return state_apply(s, &env);
}

static int lost(struct cluster_state *s, uint32_t node)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NodeLost m = DROVER__NODE_LOST__INIT;

	m.node = node;
	m.lost_ms = 1000;
	env.body_case = DROVER__ENVELOPE__BODY_NODE_LOST;
	env.node_lost = &m;
	return state_apply(s, &env);
}

static int fence_result(struct cluster_state *s, uint32_t node, bool ok, bool by_operator)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__FenceResult m = DROVER__FENCE_RESULT__INIT;

	m.node = node;
	m.ok = ok;
	m.device = "lab";
	m.error = ok ? "" : "exit 1";
	m.by_operator = by_operator;
	m.at_ms = 2000;
	env.body_case = DROVER__ENVELOPE__BODY_FENCE_RESULT;
	env.fence_result = &m;
	return state_apply(s, &env);
}

/*
 * The tests name their operations (id); the state gives each its own id when
 * it is applied, so this maps one to the other for op_end().
 */
static uint64_t op_ids[64];

static int op(struct cluster_state *s, uint64_t id, Drover__VmActionKind kind, const char *vm,
	      uint32_t node, Drover__VmActionCause cause, const char *for_vm)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction m = DROVER__VM_ACTION__INIT;
	int r;

	m.kind = kind;
	m.vm = (char *)vm;
	m.node = node;
	m.cause = cause;
	m.for_vm = (char *)(for_vm ? for_vm : "");
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &m;
	r = state_apply(s, &env);
	if (r == 1)
		op_ids[id % 64] = state_op_for_vm(s, vm)->id;
	return r;
}

static int op_end(struct cluster_state *s, uint64_t id, bool ok, const char *error)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmActionResult m = DROVER__VM_ACTION_RESULT__INIT;

	m.action_id = op_ids[id % 64];
	m.ok = ok;
	m.error = (char *)(error ? error : "");
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_RESULT;
	env.vm_action_result = &m;
	return state_apply(s, &env);
}

struct fixture {
	struct cluster_state s;
	struct rec_node nodes[3];
	struct rec_view v;
	struct rec_action out[32];
	int n;
};

static void setup(struct fixture *f, uint64_t mib_per_node)
{
	memset(f, 0, sizeof(*f));
	memset(&T, 0, sizeof(T));
	state_init(&f->s);
	for (uint32_t i = 0; i < 3; i++)
		f->nodes[i] = (struct rec_node){ .id = i + 1, .usable = true,
						 .memory_mib = mib_per_node, .vcpus = 2 };
	f->v = (struct rec_view){ .state = &f->s, .n_nodes = 3, .nodes = f->nodes,
				  .locate = locate, .max_starts = 4 };
}

static void decide(struct fixture *f)
{
	f->n = recover_decide(&f->v, f->out, 32);
	assert_true(f->n >= 0);
}

static const struct rec_action *find(const struct fixture *f, enum rec_kind k, const char *vm)
{
	for (int i = 0; i < f->n; i++)
		if (f->out[i].kind == k && strcmp(f->out[i].vm, vm) == 0)
			return &f->out[i];
	return NULL;
}

static size_t count(const struct fixture *f, enum rec_kind k)
{
	size_t c = 0;

	for (int i = 0; i < f->n; i++)
		c += f->out[i].kind == k;
	return c;
}

/* The load each node's guests hold, from the truth. */
static void load_from_truth(struct fixture *f)
{
	for (size_t i = 0; i < 3; i++) {
		f->nodes[i].load_mib = 0;
		f->nodes[i].load_vcpus = 0;
	}
	for (size_t k = 0; k < T.n; k++)
		if (T.on[k]) {
			f->nodes[T.on[k] - 1].load_mib += state_vm_find(&f->s, T.vm[k])->memory_mib;
			f->nodes[T.on[k] - 1].load_vcpus++;
		}
}

/* Apply what recover_decide() said as the cluster would, the hypervisors obeying. */
static void obey(struct fixture *f, uint64_t *next_id)
{
	for (int i = 0; i < f->n; i++) {
		const struct rec_action *a = &f->out[i];

		switch (a->kind) {
		case REC_PLACE:
			assert_true(placed(&f->s, a->vm, a->owner, a->want) >= 0);
			break;
		case REC_START:
			assert_int_equal(op(&f->s, ++*next_id, DROVER__VM_ACTION_KIND__VM_ACTION_START,
					    a->vm, a->node, DROVER__VM_ACTION_CAUSE__VM_CAUSE_RECOVERY,
					    NULL), 1);
			runs(a->vm, a->node);
			assert_int_equal(op_end(&f->s, *next_id, true, NULL), 1);
			break;
		case REC_PREEMPT:
			assert_int_equal(op(&f->s, ++*next_id, DROVER__VM_ACTION_KIND__VM_ACTION_STOP,
					    a->vm, a->node, DROVER__VM_ACTION_CAUSE__VM_CAUSE_PREEMPT,
					    a->for_vm), 1);
			runs(a->vm, 0);
			assert_int_equal(op_end(&f->s, *next_id, true, NULL), 1);
			break;
		default:
			break;
		}
	}
	load_from_truth(f);
}

/* vm1..vm3 run on n2, adopted by the coordinator; then n2 is lost. */
static void lose_n2(struct fixture *f)
{
	add_vm(&f->s, "vm1", 512, LOW);
	add_vm(&f->s, "vm2", 512, HIGH);
	add_vm(&f->s, "vm3", 512, MEDIUM);
	runs("vm1", 2);
	runs("vm2", 2);
	runs("vm3", 2);
	decide(f);
	assert_int_equal(count(f, REC_PLACE), 3);
	assert_int_equal(f->out[0].owner, 2);
	for (int i = 0; i < f->n; i++)
		assert_int_equal(placed(&f->s, f->out[i].vm, f->out[i].owner, f->out[i].want), 1);
	decide(f);
	assert_int_equal(f->n, 0); /* settled */
	/* n2 dies: it is not usable, and until it is fenced what it ran is unknown. */
	f->nodes[1].usable = false;
	for (size_t i = 0; i < T.n; i++)
		T.unknown[i] = true;
	assert_int_equal(lost(&f->s, 2), 1);
	assert_int_equal(state_node_fence(&f->s, 2), DROVER__FENCE_STATE__FENCE_STATE_PENDING);
}

static void fenced_n2(struct fixture *f)
{
	assert_int_equal(fence_result(&f->s, 2, true, false), 1);
	for (size_t i = 0; i < T.n; i++) {
		T.unknown[i] = false;
		if (T.on[i] == 2)
			T.on[i] = 0; /* powered off */
	}
	load_from_truth(f);
}

static void test_nothing_restarts_before_the_fence(void **unused)
{
	struct fixture f;

	(void)unused;
	setup(&f, 4096);
	lose_n2(&f);
	decide(&f);
	assert_int_equal(f.n, 0);
	/* A failed fence blocks too, and says so in the node's record. */
	assert_int_equal(fence_result(&f.s, 2, false, false), 1);
	assert_int_equal(state_node_fence(&f.s, 2), DROVER__FENCE_STATE__FENCE_STATE_FAILED);
	assert_int_equal(state_node_find(&f.s, 2)->fence_attempts, 1);
	assert_string_equal(state_node_find(&f.s, 2)->fence_error, "exit 1");
	decide(&f);
	assert_int_equal(f.n, 0);
	/* Owners stay while the node is not known off. */
	assert_int_equal(state_vm_find(&f.s, "vm1")->owner, 2);
	state_free(&f.s);
}

static void test_restart_by_priority_after_the_fence(void **unused)
{
	struct fixture f;

	(void)unused;
	setup(&f, 4096);
	lose_n2(&f);
	fenced_n2(&f);
	assert_int_equal(state_node_fence(&f.s, 2), DROVER__FENCE_STATE__FENCE_STATE_FENCED);
	assert_string_equal(state_node_find(&f.s, 2)->fence_device, "lab");
	assert_int_equal(state_vm_find(&f.s, "vm1")->owner, 0);
	assert_int_equal(state_vm_find(&f.s, "vm1")->want, RUNNING);
	decide(&f);
	assert_int_equal(count(&f, REC_START), 3);
	/* high, medium, low; spread to the node with most room, never to n2 */
	assert_string_equal(f.out[0].vm, "vm2");
	assert_string_equal(f.out[1].vm, "vm3");
	assert_string_equal(f.out[2].vm, "vm1");
	assert_int_equal(f.out[0].node, 1);
	assert_int_equal(f.out[1].node, 3);
	assert_int_equal(f.out[2].node, 1);
	for (int i = 0; i < f.n; i++)
		assert_int_not_equal(f.out[i].node, 2);
	state_free(&f.s);
}

static void test_priority_none_is_not_restarted(void **unused)
{
	struct fixture f;

	(void)unused;
	setup(&f, 4096);
	add_vm(&f.s, "keep", 512, NONE);
	runs("keep", 2);
	assert_int_equal(placed(&f.s, "keep", 2, RUNNING), 1);
	assert_int_equal(lost(&f.s, 2), 1);
	f.nodes[1].usable = false;
	fenced_n2(&f);
	assert_int_equal(state_vm_find(&f.s, "keep")->want, DROVER__VM_WANT__VM_WANT_STOPPED);
	assert_non_null(strstr(state_vm_find(&f.s, "keep")->want_reason, "priority none"));
	decide(&f);
	assert_null(find(&f, REC_START, "keep"));
	state_free(&f.s);
}

static void test_throttle_per_node(void **unused)
{
	struct fixture f;
	char name[8];

	(void)unused;
	setup(&f, 65536);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		add_vm(&f.s, name, 256, MEDIUM);
		runs(name, 2);
		assert_int_equal(placed(&f.s, name, 2, RUNNING), 1);
	}
	f.v.max_starts = 2;
	f.nodes[1].usable = false;
	assert_int_equal(lost(&f.s, 2), 1);
	fenced_n2(&f);
	decide(&f);
	/* two survivors, two starts each at once; the rest wait and say why */
	assert_int_equal(count(&f, REC_START), 4);
	assert_int_equal(count(&f, REC_WAIT), 2);
	assert_non_null(strstr(find(&f, REC_WAIT, "v4")->reason, "starts under way"));
	state_free(&f.s);
}

static void test_preempt_low_for_high(void **unused)
{
	struct fixture f;
	uint64_t id = 0;

	(void)unused;
	setup(&f, 1024);
	f.nodes[2].usable = false; /* two nodes: n1 and n2 */
	add_vm(&f.s, "big", 768, HIGH);
	add_vm(&f.s, "small", 768, LOW);
	runs("big", 2);
	runs("small", 1);
	load_from_truth(&f);
	decide(&f);
	obey(&f, &id);
	assert_int_equal(state_vm_find(&f.s, "small")->owner, 1);
	f.nodes[1].usable = false;
	assert_int_equal(lost(&f.s, 2), 1);
	fenced_n2(&f);
	/* big fits only where small runs: small is preempted, big waits for it */
	decide(&f);
	assert_null(find(&f, REC_START, "big"));
	assert_non_null(find(&f, REC_PREEMPT, "small"));
	assert_string_equal(find(&f, REC_PREEMPT, "small")->for_vm, "big");
	assert_non_null(find(&f, REC_WAIT, "big"));
	obey(&f, &id);
	assert_int_equal(state_vm_find(&f.s, "small")->want, DROVER__VM_WANT__VM_WANT_PREEMPTED);
	assert_non_null(strstr(state_vm_find(&f.s, "small")->want_reason, "big"));
	/* next round: big starts on n1; small waits, and never preempts big back */
	decide(&f);
	assert_non_null(find(&f, REC_START, "big"));
	assert_int_equal(find(&f, REC_START, "big")->node, 1);
	obey(&f, &id);
	decide(&f);
	assert_null(find(&f, REC_PREEMPT, "big"));
	assert_non_null(strstr(find(&f, REC_WAIT, "small")->reason, "no usable node"));
	/* n2 returns: room again, and the preempted VM starts there */
	f.nodes[1].usable = true;
	load_from_truth(&f);
	decide(&f);
	assert_non_null(find(&f, REC_START, "small"));
	assert_int_equal(find(&f, REC_START, "small")->node, 2);
	obey(&f, &id);
	assert_int_equal(state_vm_find(&f.s, "small")->want, RUNNING);
	assert_int_equal(state_vm_find(&f.s, "small")->owner, 2);
	state_free(&f.s);
}

static void test_equal_priority_does_not_preempt(void **unused)
{
	struct fixture f;
	uint64_t id = 0;

	(void)unused;
	setup(&f, 1024);
	f.nodes[2].usable = false;
	add_vm(&f.s, "a", 768, MEDIUM);
	add_vm(&f.s, "b", 768, MEDIUM);
	runs("a", 2);
	runs("b", 1);
	load_from_truth(&f);
	decide(&f);
	obey(&f, &id);
	f.nodes[1].usable = false;
	assert_int_equal(lost(&f.s, 2), 1);
	fenced_n2(&f);
	decide(&f);
	assert_int_equal(count(&f, REC_PREEMPT), 0);
	assert_non_null(strstr(find(&f, REC_WAIT, "a")->reason, "768 MiB"));
	state_free(&f.s);
}

static void test_two_copies_keep_the_owner(void **unused)
{
	struct fixture f;

	(void)unused;
	setup(&f, 4096);
	add_vm(&f.s, "vm1", 512, MEDIUM);
	runs("vm1", 3);
	assert_int_equal(placed(&f.s, "vm1", 3, RUNNING), 1);
	/* a partition healed: n1 runs a copy too (locate lists n1 first) */
	T.on[0] = 1;
	T.also[0] = 3;
	decide(&f);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.out[0].kind, REC_DESTROY);
	assert_int_equal(f.out[0].node, 1);
	/* with an operation under way on the VM nothing is decided for it */
	assert_int_equal(op(&f.s, 7, DROVER__VM_ACTION_KIND__VM_ACTION_STOP, "vm1", 1,
			    DROVER__VM_ACTION_CAUSE__VM_CAUSE_DUPLICATE, NULL), 1);
	decide(&f);
	assert_int_equal(f.n, 0);
	/* the duplicate's end leaves the owner alone */
	assert_int_equal(op_end(&f.s, 7, true, NULL), 1);
	assert_int_equal(state_vm_find(&f.s, "vm1")->owner, 3);
	assert_int_equal(state_vm_find(&f.s, "vm1")->want, RUNNING);
	state_free(&f.s);
}

static void test_restart_gives_up(void **unused)
{
	struct fixture f;

	(void)unused;
	setup(&f, 4096);
	add_vm(&f.s, "vm1", 512, HIGH);
	runs("vm1", 2);
	assert_int_equal(placed(&f.s, "vm1", 2, RUNNING), 1);
	f.nodes[1].usable = false;
	assert_int_equal(lost(&f.s, 2), 1);
	fenced_n2(&f);
	for (uint64_t i = 1; i <= DROVER_RECOVER_MAX_ATTEMPTS; i++) {
		decide(&f);
		assert_non_null(find(&f, REC_START, "vm1"));
		assert_int_equal(op(&f.s, i, DROVER__VM_ACTION_KIND__VM_ACTION_START, "vm1",
				    find(&f, REC_START, "vm1")->node,
				    DROVER__VM_ACTION_CAUSE__VM_CAUSE_RECOVERY, NULL), 1);
		assert_int_equal(op_end(&f.s, i, false, "no disk"), 1);
	}
	assert_int_equal(state_vm_find(&f.s, "vm1")->want, DROVER__VM_WANT__VM_WANT_GAVE_UP);
	assert_non_null(strstr(state_vm_find(&f.s, "vm1")->want_reason, "no disk"));
	decide(&f);
	assert_null(find(&f, REC_START, "vm1"));
	state_free(&f.s);
}

static void test_stopped_by_its_guest_stays_stopped(void **unused)
{
	struct fixture f;

	(void)unused;
	setup(&f, 4096);
	add_vm(&f.s, "vm1", 512, HIGH);
	runs("vm1", 1);
	assert_int_equal(placed(&f.s, "vm1", 1, RUNNING), 1);
	runs("vm1", 0);
	decide(&f);
	assert_non_null(find(&f, REC_PLACE, "vm1"));
	assert_int_equal(find(&f, REC_PLACE, "vm1")->want, DROVER__VM_WANT__VM_WANT_STOPPED);
	assert_int_equal(placed(&f.s, "vm1", 0, DROVER__VM_WANT__VM_WANT_STOPPED), 1);
	decide(&f);
	assert_int_equal(f.n, 0);
	state_free(&f.s);
}

/*
 * A VM that crashed on its owner (its host reports it crashed, as after a
 * self-fence) loses its owner but keeps wanting to run, and is restarted.
 * The VmPlaced that says so was refused as malformed, so such a VM was
 * never restarted.
 */
static void test_crashed_is_restarted(void **unused)
{
	struct fixture f;
	const struct rec_action *a;

	(void)unused;
	setup(&f, 4096);
	add_vm(&f.s, "vm1", 512, HIGH);
	runs("vm1", 1);
	assert_int_equal(placed(&f.s, "vm1", 1, RUNNING), 1);
	runs("vm1", 0);
	T.crashed[0] = 1;
	decide(&f);
	a = find(&f, REC_PLACE, "vm1");
	assert_non_null(a);
	assert_int_equal(a->owner, 0);
	assert_int_equal(a->want, RUNNING);
	assert_int_equal(placed(&f.s, "vm1", a->owner, a->want), 1);
	decide(&f);
	assert_non_null(find(&f, REC_START, "vm1"));
	T.crashed[0] = 0;
	state_free(&f.s);
}

static void test_fence_messages_checked(void **unused)
{
	struct fixture f;

	(void)unused;
	setup(&f, 4096);
	/* a result nobody asked for is refused; a confirmation is not */
	assert_int_equal(fence_result(&f.s, 3, true, false), -EINVAL);
	{
		/* refused, and the state untouched: no entry added for node 3 */
		uint64_t h = state_hash(&f.s);
		size_t n = f.s.n_nodes;

		assert_int_equal(fence_result(&f.s, 3, false, true), -EINVAL);
		assert_true(state_hash(&f.s) == h);
		assert_int_equal(f.s.n_nodes, n);
	}
	assert_int_equal(fence_result(&f.s, 3, true, true), 1);
	assert_string_equal(state_node_find(&f.s, 3)->fence_device, "operator");
	assert_int_equal(fence_result(&f.s, 3, true, true), 0);
	/* lost twice is one loss */
	assert_int_equal(lost(&f.s, 1), 1);
	assert_int_equal(lost(&f.s, 1), 0);
	assert_int_equal(placed(&f.s, "nosuch", 1, RUNNING), -ENOENT);
	add_vm(&f.s, "vm1", 512, HIGH);
	/* an owner means running (running without one: to be restarted) */
	assert_int_equal(placed(&f.s, "vm1", 1, DROVER__VM_WANT__VM_WANT_STOPPED), -EINVAL);
	assert_int_equal(placed(&f.s, "vm1", 0, RUNNING), 1);
	/* a recovery that stops, a preemption that starts: malformed */
	assert_int_equal(op(&f.s, 9, DROVER__VM_ACTION_KIND__VM_ACTION_STOP, "vm1", 1,
			    DROVER__VM_ACTION_CAUSE__VM_CAUSE_RECOVERY, NULL), -EINVAL);
	assert_int_equal(op(&f.s, 9, DROVER__VM_ACTION_KIND__VM_ACTION_START, "vm1", 1,
			    DROVER__VM_ACTION_CAUSE__VM_CAUSE_PREEMPT, NULL), -EINVAL);
	state_free(&f.s);
}

/* The rows `drover top` shows: fencing, then planned, under way and waiting, by priority. */
static void test_recovery_rows(void **unused)
{
	struct fixture f;
	struct rec_row *rows;
	struct rec_action pre = { .kind = REC_PREEMPT, .vm = "vm3", .node = 1, .for_vm = "big" };
	int n;

	(void)unused;
	setup(&f, 1024);
	f.nodes[2].usable = false; /* only n1 takes VMs: room for two of n2's three */
	lose_n2(&f);
	/* Not fenced yet: every VM of n2 waits for the fence, high first. */
	decide(&f);
	n = recover_rows(&f.s, f.out, (size_t)f.n, &rows);
	assert_int_equal(n, 3);
	assert_string_equal(rows[0].vm, "vm2");
	assert_string_equal(rows[1].vm, "vm3");
	assert_string_equal(rows[2].vm, "vm1");
	for (int i = 0; i < n; i++) {
		assert_int_equal(rows[i].state, REC_ROW_FENCING);
		assert_int_equal(rows[i].from, 2);
		assert_int_equal(rows[i].since_ms, 1000);
		assert_string_equal(rows[i].reason, "");
	}
	free(rows);
	/* A failed fence: its error is the reason. */
	assert_int_equal(fence_result(&f.s, 2, false, false), 1);
	n = recover_rows(&f.s, NULL, 0, &rows);
	assert_int_equal(n, 3);
	assert_string_equal(rows[0].reason, "exit 1");
	assert_string_equal(rec_row_state_name(rows[0].state), "fencing");
	free(rows);
	/* Fenced: vm2 and vm3 start on n1, vm1 waits for room (nothing lower to preempt). */
	fenced_n2(&f);
	decide(&f);
	n = recover_rows(&f.s, f.out, (size_t)f.n, &rows);
	assert_int_equal(n, 3);
	assert_string_equal(rows[0].vm, "vm2");
	assert_int_equal(rows[0].state, REC_ROW_PLANNED);
	assert_int_equal(rows[0].to, 1);
	assert_int_equal(rows[0].from, 2);
	assert_int_equal(rows[1].state, REC_ROW_PLANNED);
	assert_string_equal(rows[2].vm, "vm1");
	assert_int_equal(rows[2].state, REC_ROW_WAITING);
	assert_int_equal(rows[2].from, 2);
	assert_non_null(strstr(rows[2].reason, "no usable node has 512 MiB free"));
	free(rows);
	/* vm2's restart under way on n1: starting, the others unchanged. */
	assert_int_equal(op(&f.s, 1, DROVER__VM_ACTION_KIND__VM_ACTION_START, "vm2", 1,
			    DROVER__VM_ACTION_CAUSE__VM_CAUSE_RECOVERY, NULL), 1);
	decide(&f);
	assert_null(find(&f, REC_START, "vm2"));
	n = recover_rows(&f.s, f.out, (size_t)f.n, &rows);
	assert_int_equal(n, 3);
	assert_string_equal(rows[0].vm, "vm2");
	assert_int_equal(rows[0].state, REC_ROW_STARTING);
	assert_string_equal(rec_row_state_name(rows[0].state), "starting");
	assert_int_equal(rows[0].to, 1);
	assert_int_equal(rows[0].from, 2);
	assert_int_equal(rows[1].state, REC_ROW_PLANNED);
	assert_int_equal(rows[2].state, REC_ROW_WAITING);
	free(rows);
	/* Done: a VM running again has no row. */
	runs("vm2", 1);
	assert_int_equal(op_end(&f.s, 1, true, NULL), 1);
	load_from_truth(&f);
	decide(&f);
	n = recover_rows(&f.s, f.out, (size_t)f.n, &rows);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].vm, "vm3");
	free(rows);
	/* A planned preemption names the VM it makes room for; other actions make no row. */
	n = recover_rows(&f.s, &pre, 1, &rows);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].state, REC_ROW_PREEMPTING);
	assert_string_equal(rows[0].for_vm, "big");
	assert_int_equal(rows[0].to, 1);
	free(rows);
	pre.kind = REC_PLACE;
	assert_int_equal(recover_rows(&f.s, &pre, 1, &rows), 0);
	assert_null(rows);
	assert_int_equal(recover_rows(NULL, NULL, 0, &rows), -EINVAL);
	state_free(&f.s);
}

static void test_state_round_trip_keeps_failover_fields(void **unused)
{
	struct fixture f;
	Drover__ClusterState msg;
	struct state_proto_storage st;
	struct cluster_state back;

	(void)unused;
	setup(&f, 4096);
	lose_n2(&f);
	assert_int_equal(fence_result(&f.s, 2, false, false), 1);
	memset(&st, 0, sizeof(st));
	state_to_proto(&f.s, &msg, &st);
	assert_int_equal(state_from_proto(&msg, &back), 0);
	state_proto_storage_free(&st);
	assert_true(state_hash(&back) == state_hash(&f.s));
	assert_int_equal(state_node_fence(&back, 2), DROVER__FENCE_STATE__FENCE_STATE_FAILED);
	assert_int_equal(state_vm_find(&back, "vm2")->owner, 2);
	assert_int_equal(state_vm_find(&back, "vm2")->want, RUNNING);
	state_free(&back);
	state_free(&f.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_restarts_before_the_fence),
		cmocka_unit_test(test_restart_by_priority_after_the_fence),
		cmocka_unit_test(test_priority_none_is_not_restarted),
		cmocka_unit_test(test_throttle_per_node),
		cmocka_unit_test(test_preempt_low_for_high),
		cmocka_unit_test(test_equal_priority_does_not_preempt),
		cmocka_unit_test(test_two_copies_keep_the_owner),
		cmocka_unit_test(test_restart_gives_up),
		cmocka_unit_test(test_stopped_by_its_guest_stays_stopped),
		cmocka_unit_test(test_crashed_is_restarted),
		cmocka_unit_test(test_fence_messages_checked),
		cmocka_unit_test(test_state_round_trip_keeps_failover_fields),
		cmocka_unit_test(test_recovery_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
