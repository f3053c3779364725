/*
 * The coordinator's decisions (coord.c) on small hand-built clusters: each
 * rule alone (a running job whose source left is finished, one whose target
 * or network went away is aborted once, queued jobs whose VM was removed or
 * runs elsewhere are cancelled unless a node that cannot be seen may hide it,
 * drains end or get jobs for newcomers, the rest is dispatched with busy VMs
 * and VMs not on their source held back), then which rule wins when several
 * apply, and the refusal of bad arguments.
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

#include "coord.h"

#define ACTIVE DROVER__NODE_STATE__NODE_STATE_ACTIVE
#define DRAINING DROVER__NODE_STATE__NODE_STATE_DRAINING
#define DRAINED DROVER__NODE_STATE__NODE_STATE_DRAINED
#define DRAIN_FAILED DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED
#define MAINTENANCE DROVER__NODE_STATE__NODE_STATE_MAINTENANCE

#define N_NODES 4 /* n1..n4 */
#define MAX_LISTED 80
#define MAX_VMS 80

/* A node's report as the test makes it up; turned into a struct coord_node by decide(). */
struct report {
	bool present; /* the node has a report at all */
	bool member;
	bool agent_ok;
	size_t n_vms;
	const char *vms[MAX_LISTED];
	bool stale;       /* its report predates its last join */
	size_t n_touched; /* VMs an operation may have put there since the report */
	const char *touched[4];
};

static struct cluster_state state;
static struct queue_view view;
static struct report reports[N_NODES + 1]; /* by id */
static struct coord_node nodes[N_NODES];
static const char *busy[4];
static size_t n_busy;
static uint64_t aborted[4];
static size_t n_aborted;
static struct coord_input in;
static struct coord_decision dec;
static char vm_names[MAX_VMS][16];

/* ---- replicated state, through state_apply() as the cluster changes it ---- */

static void apply(Drover__Envelope *env, int want)
{
	assert_int_equal(state_apply(&state, env), want);
}

static void add_vm(const char *name)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
	char xml[160];

	snprintf(xml, sizeof(xml),
		 "<domain><name>%s</name><memory unit='MiB'>1024</memory><vcpu>1</vcpu></domain>",
		 name);
	vm.name = (char *)name;
	vm.xml = xml;
	vm.memory_mib = 1024;
	vm.vcpus = 1;
	vm.priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	m.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	apply(&env, 1);
}

static void remove_vm(const char *name)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmRemove m = DROVER__VM_REMOVE__INIT;

	m.name = (char *)name;
	env.body_case = DROVER__ENVELOPE__BODY_VM_REMOVE;
	env.vm_remove = &m;
	apply(&env, 1);
}

static void node_state(uint32_t id, Drover__NodeState st)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__SetNodeState m = DROVER__SET_NODE_STATE__INIT;

	m.node_id = id;
	m.state = st;
	env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
	env.set_node_state = &m;
	apply(&env, 1);
}

/* A queued drain job for vm leaving source; returns its id. */
static uint64_t add_job(const char *vm, uint32_t source)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsAdd m = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec spec = DROVER__JOB_SPEC__INIT, *sp = &spec;
	uint64_t id = state.next_job_id;

	spec.vm = (char *)vm;
	spec.source = source;
	spec.origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_DRAIN;
	m.n_jobs = 1;
	m.jobs = &sp;
	m.created_ms = 1000 + id;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &m;
	apply(&env, 1);
	assert_non_null(state_job_find(&state, id));
	return id;
}

static void start_job(uint64_t id, uint32_t target, const char *network)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobStart m = DROVER__JOB_START__INIT;

	m.job_id = id;
	m.target = target;
	m.network = (char *)network;
	m.started_ms = 5000;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
	env.job_start = &m;
	apply(&env, 1);
}

static void finish_job(uint64_t id, bool ok)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobFinish m = DROVER__JOB_FINISH__INIT;

	m.job_id = id;
	m.ok = ok;
	m.reason = ok ? (char *)"" : (char *)"migration failed";
	m.finished_ms = 6000;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
	env.job_finish = &m;
	apply(&env, 1);
}

static void cancel_jobs(const uint64_t *ids, size_t n)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsCancel m = DROVER__JOBS_CANCEL__INIT;

	m.n_job_ids = n;
	m.job_ids = (uint64_t *)ids;
	m.at_ms = 7000;
	m.reason = (char *)"cancelled";
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_CANCEL;
	env.jobs_cancel = &m;
	apply(&env, 1);
}

/* Started and failed until its retries are used up. */
static void fail_for_good(uint64_t id)
{
	const struct queue_job *j;

	do {
		start_job(id, 2, "mig-a");
		finish_job(id, false);
		j = state_job_find(&state, id);
		assert_non_null(j);
	} while (j->state == QUEUE_JOB_QUEUED);
	assert_int_equal(j->state, QUEUE_JOB_FAILED);
}

/* ---- what the agents report ---- */

static void report(uint32_t id, bool member, bool agent_ok)
{
	reports[id].present = true;
	reports[id].member = member;
	reports[id].agent_ok = agent_ok;
}

static void no_report(uint32_t id)
{
	memset(&reports[id], 0, sizeof(reports[id]));
}

static void lists(uint32_t id, const char *vm)
{
	assert_true(reports[id].n_vms < MAX_LISTED);
	reports[id].vms[reports[id].n_vms++] = vm;
}

static void unlist(uint32_t id, const char *vm)
{
	struct report *r = &reports[id];

	for (size_t i = 0; i < r->n_vms; i++)
		if (strcmp(r->vms[i], vm) == 0) {
			r->vms[i] = r->vms[--r->n_vms];
			return;
		}
	fail_msg("n%u does not list %s", (unsigned)id, vm);
}

/* ---- the decision ---- */

/* The input as drain.c builds it: a view node is online when a member with a working agent. */
/* The coordinator's clock; job finishes are stamped 6000. */
static uint64_t now_ms = 10000;

static void build_input(void)
{
	for (size_t i = 0; i < view.n_nodes; i++) {
		struct queue_node *n = &view.nodes[i];
		const struct report *r;

		if (n->id > N_NODES)
			continue;
		r = &reports[n->id];
		n->online = r->present && r->member && r->agent_ok;
		n->usable_target = n->online && state_node_get(&state, n->id) == ACTIVE;
	}
	memset(&in, 0, sizeof(in));
	for (uint32_t id = 1; id <= N_NODES; id++) {
		const struct report *r = &reports[id];

		if (!r->present)
			continue;
		nodes[in.n_nodes++] = (struct coord_node){ .id = id, .member = r->member,
							   .agent_ok = r->agent_ok,
							   .n_vms = r->n_vms, .vms = r->vms,
							   .stale = r->stale,
							   .n_touched = r->n_touched,
							   .touched = r->touched };
	}
	in.state = &state;
	in.view = &view;
	in.nodes = nodes;
	in.n_busy = n_busy;
	in.busy = busy;
	in.n_aborted = n_aborted;
	in.aborted = aborted;
	in.now_ms = now_ms;
}

static enum coord_kind decide(void)
{
	build_input();
	memset(&dec, 0xa5, sizeof(dec)); /* whatever was there is overwritten */
	assert_int_equal(coord_decide(&in, &dec), 0);
	return dec.kind;
}

static int decide_err(void)
{
	build_input();
	return coord_decide(&in, &dec);
}

/* The blockers `drover queue` shows: coord_dispatch() over a copy of the unfinished jobs. */
static size_t blockers(struct queue_job *jobs, size_t *n_acts)
{
	struct queue_action acts[COORD_BATCH];
	size_t n = 0;

	build_input();
	for (size_t i = 0; i < state.n_jobs; i++)
		if (state.jobs[i].state == QUEUE_JOB_QUEUED || state.jobs[i].state == QUEUE_JOB_RUNNING)
			jobs[n++] = state.jobs[i];
	assert_int_equal(coord_dispatch(&in, jobs, n, acts, COORD_BATCH, n_acts), 0);
	return n;
}

static const struct queue_job *blocked(struct queue_job *jobs, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (jobs[i].id == id)
			return &jobs[i];
	fail_msg("job %llu is not in the queue", (unsigned long long)id);
	return NULL;
}

/*
 * Three VMs vm1..vm3 registered (and vm4.. up to MAX_VMS on demand); nodes
 * n1..n4 members with working agents that list nothing yet, all linked by
 * mig-a, with room for everything; the default limits (2 out, 2 in).
 */
static int setup(void **unused)
{
	(void)unused;
	state_init(&state);
	queue_view_init(&view);
	for (uint32_t id = 1; id <= N_NODES; id++) {
		struct queue_node n = { .id = id, .online = true, .usable_target = true,
					.free_mib = 1u << 20, .free_vcpus = 1024 };

		snprintf(n.name, sizeof(n.name), "n%u", (unsigned)id);
		assert_int_equal(queue_view_add_node(&view, &n), 0);
	}
	assert_int_equal(queue_view_add_network(&view, "mig-a", 0), 0);
	for (uint32_t a = 1; a <= N_NODES; a++)
		for (uint32_t b = a + 1; b <= N_NODES; b++)
			assert_int_equal(queue_view_set_usable(&view, 0, a, b, true), 0);
	memset(reports, 0, sizeof(reports));
	for (uint32_t id = 1; id <= N_NODES; id++)
		report(id, true, true);
	n_busy = 0;
	n_aborted = 0;
	for (size_t i = 0; i < MAX_VMS; i++)
		snprintf(vm_names[i], sizeof(vm_names[i]), "vm%zu", i + 1);
	for (size_t i = 0; i < 3; i++)
		add_vm(vm_names[i]);
	return 0;
}

static int teardown(void **unused)
{
	(void)unused;
	state_free(&state);
	return 0;
}

/* vm running from source to target over mig-a, listed on source (where it runs meanwhile). */
static uint64_t running_job(const char *vm, uint32_t source, uint32_t target)
{
	uint64_t id = add_job(vm, source);

	lists(source, vm);
	start_job(id, target, "mig-a");
	return id;
}

/* ---- 1. running jobs whose source left ---- */

static void test_source_left(void **unused)
{
	uint64_t id;

	(void)unused;
	id = running_job("vm1", 1, 2);
	assert_int_equal(decide(), COORD_NONE);

	report(1, false, true);
	assert_int_equal(decide(), COORD_FINISH);
	assert_int_equal(dec.job_id, id);
	assert_string_equal(dec.reason, "source n1 left the cluster during the migration");

	/* An abort asked for already does not spare it: the source is gone, nobody reports. */
	aborted[n_aborted++] = id;
	assert_int_equal(decide(), COORD_FINISH);
	assert_int_equal(dec.job_id, id);

	/* No report at all: not a member either. */
	no_report(1);
	assert_int_equal(decide(), COORD_FINISH);
	assert_int_equal(dec.job_id, id);

	/* A member whose agent is down still executes (or ends) its migration. */
	report(1, true, false);
	n_aborted = 0;
	assert_int_equal(decide(), COORD_NONE);
}

/* The source is also the name the view does not know: "node <id>". */
static void test_source_left_unnamed(void **unused)
{
	uint64_t id;

	(void)unused;
	id = running_job("vm1", 1, 2);
	view.nodes[0].id = 9; /* n1 out of the view */
	report(1, false, true);
	assert_int_equal(decide(), COORD_FINISH);
	assert_int_equal(dec.job_id, id);
	assert_string_equal(dec.reason, "source node 1 left the cluster during the migration");
}

/* ---- 2. running jobs whose target or network went away ---- */

static void test_network_down(void **unused)
{
	uint64_t id;

	(void)unused;
	id = running_job("vm1", 1, 2);
	assert_int_equal(decide(), COORD_NONE);

	assert_int_equal(queue_view_set_usable(&view, 0, 1, 2, false), 0);
	assert_int_equal(decide(), COORD_ABORT);
	assert_int_equal(dec.job_id, id);
	assert_string_equal(dec.reason, "network mig-a went down between n1 and n2");

	/* Another network between them does not save this attempt. */
	assert_int_equal(queue_view_add_network(&view, "mig-b", 0), 0);
	assert_int_equal(queue_view_set_usable(&view, 1, 1, 2, true), 0);
	assert_int_equal(decide(), COORD_ABORT);
	assert_int_equal(dec.job_id, id);

	/* Back up: nothing to abort. */
	assert_int_equal(queue_view_set_usable(&view, 0, 1, 2, true), 0);
	assert_int_equal(decide(), COORD_NONE);
}

static void test_network_unknown(void **unused)
{
	uint64_t id = add_job("vm1", 1);

	(void)unused;
	lists(1, "vm1");
	start_job(id, 2, "mig-z"); /* a network the view does not know (any more) */
	assert_int_equal(decide(), COORD_ABORT);
	assert_int_equal(dec.job_id, id);
	assert_string_equal(dec.reason, "network mig-z went down between n1 and n2");
}

static void test_target_left(void **unused)
{
	uint64_t id;

	(void)unused;
	id = running_job("vm1", 1, 2);
	report(2, false, true);
	assert_int_equal(decide(), COORD_ABORT);
	assert_int_equal(dec.job_id, id);
	assert_string_equal(dec.reason, "target n2 left the cluster during the migration");

	/* The target's departure is the reason, even with the network gone too. */
	assert_int_equal(queue_view_set_usable(&view, 0, 1, 2, false), 0);
	assert_int_equal(decide(), COORD_ABORT);
	assert_string_equal(dec.reason, "target n2 left the cluster during the migration");

	no_report(2);
	assert_int_equal(decide(), COORD_ABORT);
	assert_int_equal(dec.job_id, id);

	/* A target whose agent is down is still there: its network is what counts. */
	report(2, true, false);
	assert_int_equal(queue_view_set_usable(&view, 0, 1, 2, true), 0);
	assert_int_equal(decide(), COORD_NONE);
}

static void test_aborted_once(void **unused)
{
	uint64_t id1, id2;

	(void)unused;
	id1 = running_job("vm1", 1, 2);
	id2 = running_job("vm2", 3, 4);
	assert_int_equal(queue_view_set_usable(&view, 0, 1, 2, false), 0);
	assert_int_equal(queue_view_set_usable(&view, 0, 3, 4, false), 0);

	assert_int_equal(decide(), COORD_ABORT);
	assert_int_equal(dec.job_id, id1);
	/* Asked already: the next one, then nothing. */
	aborted[n_aborted++] = 999;
	aborted[n_aborted++] = id1;
	assert_int_equal(decide(), COORD_ABORT);
	assert_int_equal(dec.job_id, id2);
	aborted[n_aborted++] = id2;
	assert_int_equal(decide(), COORD_NONE);

	/* The same for a target that left. */
	assert_int_equal(queue_view_set_usable(&view, 0, 1, 2, true), 0);
	report(2, false, true);
	assert_int_equal(decide(), COORD_NONE);

	/* A new attempt (the caller forgets the abort at its JobStart) is watched again. */
	n_aborted = 2;
	assert_int_equal(decide(), COORD_ABORT);
	assert_int_equal(dec.job_id, id2);
}

/* ---- 3. queued jobs that can never start ---- */

static void test_removed_vm(void **unused)
{
	uint64_t id;

	(void)unused;
	id = add_job("vm1", 1);
	lists(1, "vm1");
	remove_vm("vm1");
	assert_int_equal(decide(), COORD_CANCEL);
	assert_int_equal(dec.n_ids, 1);
	assert_int_equal(dec.ids[0], id);
	assert_string_equal(dec.reason, "VM vm1 was removed from the registry");

	/* Whatever the nodes can tell: even with its source gone. */
	report(1, false, false);
	assert_int_equal(decide(), COORD_CANCEL);
	assert_int_equal(dec.ids[0], id);

	/* Not while another action on the VM is in flight. */
	busy[n_busy++] = "vm1";
	assert_int_equal(decide(), COORD_NONE);
}

static void test_vm_elsewhere(void **unused)
{
	uint64_t id;

	(void)unused;
	id = add_job("vm1", 1);
	lists(2, "vm1");
	assert_int_equal(decide(), COORD_CANCEL);
	assert_int_equal(dec.n_ids, 1);
	assert_int_equal(dec.ids[0], id);
	assert_string_equal(dec.reason, "VM vm1 now runs on n2");

	/* Nowhere at all. */
	unlist(2, "vm1");
	assert_int_equal(decide(), COORD_CANCEL);
	assert_int_equal(dec.ids[0], id);
	assert_string_equal(dec.reason, "VM vm1 is no longer running");

	/* Back on its source: nothing moot, it starts. */
	lists(1, "vm1");
	assert_int_equal(decide(), COORD_START);
	assert_int_equal(dec.starts[0].job_id, id);
}

static void test_moot_several(void **unused)
{
	uint64_t id1, id2;

	(void)unused;
	id1 = add_job("vm1", 1);
	id2 = add_job("vm2", 1);
	lists(3, "vm1");
	assert_int_equal(decide(), COORD_CANCEL);
	/* vm2 is nowhere either: both in one message, with a general reason. */
	assert_int_equal(dec.n_ids, 2);
	assert_int_equal(dec.ids[0], id1);
	assert_int_equal(dec.ids[1], id2);
	assert_string_equal(dec.reason, "the VM is no longer where the job says");
}

/* Only a working, present source, and no node that may hide the VM, make a job moot. */
static void test_moot_unknown(void **unused)
{
	struct queue_job jobs[4];
	size_t n, n_acts;
	uint64_t id;

	(void)unused;
	id = add_job("vm1", 1);

	/* Listed only by a node that left, or whose agent is down: it may run there. */
	report(3, false, true);
	lists(3, "vm1");
	assert_int_equal(decide(), COORD_NONE);
	report(3, true, false);
	assert_int_equal(decide(), COORD_NONE);
	/* Held back meanwhile, with the reason. */
	n = blockers(jobs, &n_acts);
	assert_int_equal(n_acts, 0);
	assert_int_equal(blocked(jobs, n, id)->blocker, QUEUE_BLOCK_VM_ELSEWHERE);
	assert_string_equal(blocked(jobs, n, id)->blocker_text, "VM vm1 is not running on n1");

	/* A working node that lists it settles it, hidden copies or not. */
	lists(2, "vm1");
	assert_int_equal(decide(), COORD_CANCEL);
	assert_string_equal(dec.reason, "VM vm1 now runs on n2");
	unlist(2, "vm1");
	unlist(3, "vm1");
	report(3, true, true);

	/* The source cannot say the VM is not there: not a member, agent down, no report. */
	report(1, false, true);
	assert_int_equal(decide(), COORD_NONE);
	report(1, true, false);
	assert_int_equal(decide(), COORD_NONE);
	no_report(1);
	assert_int_equal(decide(), COORD_NONE);
	report(1, true, true);
	assert_int_equal(decide(), COORD_CANCEL);
	assert_int_equal(dec.ids[0], id);
}

/* A VM with another action in flight is neither cancelled nor started, others are. */
static void test_busy(void **unused)
{
	struct queue_job jobs[4];
	size_t n, n_acts;
	uint64_t id1, id2;

	(void)unused;
	id1 = add_job("vm1", 1);
	id2 = add_job("vm2", 1);
	lists(1, "vm1");
	lists(1, "vm2");
	busy[n_busy++] = "vm1";

	assert_int_equal(decide(), COORD_START);
	assert_int_equal(dec.n_starts, 1);
	assert_int_equal(dec.starts[0].job_id, id2);

	n = blockers(jobs, &n_acts);
	assert_int_equal(n_acts, 1);
	assert_int_equal(blocked(jobs, n, id1)->blocker, QUEUE_BLOCK_VM_BUSY);
	assert_string_equal(blocked(jobs, n, id1)->blocker_text,
			    "VM vm1 has another action in progress");
	assert_int_equal(blocked(jobs, n, id1)->state, QUEUE_JOB_QUEUED);
	assert_int_equal(blocked(jobs, n, id2)->blocker, QUEUE_BLOCK_NONE);

	/* Busy and gone from its source (the action moves it): still not cancelled. */
	unlist(1, "vm1");
	lists(2, "vm1");
	start_job(id2, 3, "mig-a");
	assert_int_equal(decide(), COORD_NONE);
	n = blockers(jobs, &n_acts);
	assert_int_equal(blocked(jobs, n, id1)->blocker, QUEUE_BLOCK_VM_BUSY);

	/* The action over: now it is moot. */
	n_busy = 0;
	assert_int_equal(decide(), COORD_CANCEL);
	assert_int_equal(dec.ids[0], id1);
	assert_string_equal(dec.reason, "VM vm1 now runs on n2");
}

/* ---- 4. drains ---- */

static void test_drain_adds_newcomers(void **unused)
{
	(void)unused;
	node_state(1, DRAINING);
	lists(1, "vm2");
	lists(1, "unmanaged"); /* not in the registry: not drover's to move */
	lists(2, "vm1");
	assert_int_equal(decide(), COORD_ADD);
	assert_int_equal(dec.node, 1);
	assert_int_equal(dec.n_vms, 1);
	assert_string_equal(dec.vms[0], "vm2");
}

static void test_drain_adds_at_most_a_batch(void **unused)
{
	(void)unused;
	for (size_t i = 3; i < MAX_VMS; i++)
		add_vm(vm_names[i]);
	for (size_t i = 0; i < MAX_VMS; i++)
		lists(1, vm_names[i]);
	node_state(1, DRAINING);
	assert_int_equal(decide(), COORD_ADD);
	assert_int_equal(dec.node, 1);
	assert_int_equal(dec.n_vms, COORD_MAX_ADD);
	for (size_t i = 0; i < COORD_MAX_ADD; i++)
		assert_string_equal(dec.vms[i], vm_names[i]);
}

static void test_drain_failed(void **unused)
{
	uint64_t id;

	(void)unused;
	node_state(1, DRAINING);
	id = add_job("vm1", 1);
	lists(1, "vm1");
	/* While a job of the node is queued or running, the drain goes on. */
	assert_int_equal(decide(), COORD_START);
	fail_for_good(id);
	assert_int_equal(decide(), COORD_NODE_STATE);
	assert_int_equal(dec.node, 1);
	assert_int_equal(dec.node_state, DRAIN_FAILED);
}

static void test_drain_failed_by_cancel(void **unused)
{
	uint64_t id;

	(void)unused;
	node_state(1, DRAINING);
	id = add_job("vm1", 1);
	lists(1, "vm1");
	cancel_jobs(&id, 1);
	assert_int_equal(state_node_get(&state, 1), DRAINING);
	assert_int_equal(decide(), COORD_NODE_STATE);
	assert_int_equal(dec.node, 1);
	assert_int_equal(dec.node_state, DRAIN_FAILED);
}

static void test_drained(void **unused)
{
	uint64_t id;

	(void)unused;
	node_state(1, DRAINING);
	id = running_job("vm1", 1, 2);
	assert_int_equal(decide(), COORD_NONE);
	finish_job(id, true);
	unlist(1, "vm1");
	lists(2, "vm1");
	lists(1, "unmanaged");
	assert_int_equal(decide(), COORD_NODE_STATE);
	assert_int_equal(dec.node, 1);
	assert_int_equal(dec.node_state, DRAINED);
}

/* A draining node with nothing to move at all is drained at once. */
static void test_drained_empty(void **unused)
{
	(void)unused;
	node_state(2, DRAINING);
	assert_int_equal(decide(), COORD_NODE_STATE);
	assert_int_equal(dec.node, 2);
	assert_int_equal(dec.node_state, DRAINED);
}

/* Done, but the node still lists the VM: its inventory lags; nothing for it, others go on. */
static void test_drain_stale_inventory(void **unused)
{
	uint64_t id;

	(void)unused;
	node_state(1, DRAINING);
	id = running_job("vm1", 1, 2);
	finish_job(id, true);
	assert_int_equal(decide(), COORD_NONE);

	node_state(3, DRAINING);
	assert_int_equal(decide(), COORD_NODE_STATE);
	assert_int_equal(dec.node, 3);
	assert_int_equal(dec.node_state, DRAINED);
}

/* Done long ago, and the node lists the VM again: it came back by other means and needs another job. */
static void test_drain_vm_came_back(void **unused)
{
	uint64_t id;

	(void)unused;
	node_state(1, DRAINING);
	id = running_job("vm1", 1, 2);
	finish_job(id, true);
	now_ms = 6000 + COORD_INVENTORY_GRACE_MS - 1;
	assert_int_equal(decide(), COORD_NONE);
	now_ms = 6000 + COORD_INVENTORY_GRACE_MS;
	assert_int_equal(decide(), COORD_ADD);
	assert_int_equal(dec.node, 1);
	assert_int_equal(dec.n_vms, 1);
	assert_string_equal(dec.vms[0], "vm1");
	now_ms = 10000;
}

/* Without a current report of the node nothing is concluded. */
static void test_drain_unseen(void **unused)
{
	(void)unused;
	node_state(1, DRAINING);
	lists(1, "vm1");
	report(1, true, false);
	assert_int_equal(decide(), COORD_NONE);
	report(1, false, true);
	assert_int_equal(decide(), COORD_NONE);
	no_report(1);
	assert_int_equal(decide(), COORD_NONE);
	report(1, true, true);
	lists(1, "vm1");
	assert_int_equal(decide(), COORD_ADD);
	assert_int_equal(dec.node, 1);
	assert_int_equal(dec.n_vms, 1);
	assert_string_equal(dec.vms[0], "vm1");
}

/*
 * A current report an operation may have overtaken (a migration onto the
 * node that ended after the report was taken: the VM is touched there) ends
 * no drain, and neither does a report from before the node's last join.
 */
static void test_drain_overtaken_report(void **unused)
{
	(void)unused;
	node_state(2, DRAINING);
	reports[2].touched[reports[2].n_touched++] = "vm1";
	assert_int_equal(decide(), COORD_NONE);
	reports[2].n_touched = 0;
	reports[2].stale = true;
	assert_int_equal(decide(), COORD_NONE);
	/* Reported afresh, and vm1 is there: it gets a job, the drain goes on. */
	reports[2].stale = false;
	lists(2, "vm1");
	assert_int_equal(decide(), COORD_ADD);
	assert_int_equal(dec.node, 2);
	assert_string_equal(dec.vms[0], "vm1");
}

/* A queued job is moot only on a current report of its source that nothing overtook. */
static void test_moot_overtaken_report(void **unused)
{
	uint64_t id;

	(void)unused;
	id = add_job("vm1", 1);
	reports[1].touched[reports[1].n_touched++] = "vm1";
	assert_int_equal(decide(), COORD_NONE);
	reports[1].n_touched = 0;
	reports[1].stale = true;
	assert_int_equal(decide(), COORD_NONE);
	reports[1].stale = false;
	assert_int_equal(decide(), COORD_CANCEL);
	assert_int_equal(dec.ids[0], id);
}

/*
 * A drain judges a VM by its newest job from any node: vm1's job from n1
 * failed, then a migration from n2 brought it back to n1. Draining n1 again,
 * vm1 needs a job; the old failure does not make the drain fail.
 */
static void test_drain_newest_job_any_node(void **unused)
{
	uint64_t id;

	(void)unused;
	id = add_job("vm1", 1);
	fail_for_good(id);
	id = running_job("vm1", 2, 1);
	finish_job(id, true);
	unlist(2, "vm1");
	lists(1, "vm1");
	node_state(1, DRAINING);
	assert_int_equal(decide(), COORD_ADD);
	assert_int_equal(dec.node, 1);
	assert_string_equal(dec.vms[0], "vm1");
}

/* ---- 5. dispatch ---- */

static void test_dispatch_limits(void **unused)
{
	uint64_t ids[6];

	(void)unused;
	for (size_t i = 3; i < 6; i++)
		add_vm(vm_names[i]);
	for (size_t i = 0; i < 6; i++) {
		ids[i] = add_job(vm_names[i], i < 4 ? 1 : 2);
		lists(i < 4 ? 1 : 2, vm_names[i]);
	}
	/* 2 out of n1, 2 out of n2 (2 in per target: n3 and n4 take them). */
	assert_int_equal(decide(), COORD_START);
	assert_int_equal(dec.n_starts, 4);
	for (size_t i = 0; i < dec.n_starts; i++) {
		const struct queue_action *a = &dec.starts[i];
		const struct queue_job *j = state_job_find(&state, a->job_id);

		assert_non_null(j);
		assert_int_equal(a->source, j->source);
		assert_true(a->target != a->source && a->target >= 1 && a->target <= N_NODES);
		assert_string_equal(a->network_name, "mig-a");
	}
	assert_int_equal(dec.starts[0].job_id, ids[0]);
	assert_int_equal(dec.starts[1].job_id, ids[1]);

	/* A cluster limit of 1, a target in maintenance skipped. */
	view.limits.cluster = 1;
	node_state(3, MAINTENANCE);
	assert_int_equal(decide(), COORD_START);
	assert_int_equal(dec.n_starts, 1);
	assert_int_equal(dec.starts[0].job_id, ids[0]);
	assert_true(dec.starts[0].target == 2 || dec.starts[0].target == 4);

	/* Started: the limit is taken, nothing more. */
	start_job(ids[0], dec.starts[0].target, "mig-a");
	assert_int_equal(decide(), COORD_NONE);
}

/* No unfinished job: nothing, even with nodes and networks in any state. */
static void test_nothing(void **unused)
{
	(void)unused;
	report(1, false, false);
	assert_int_equal(queue_view_set_usable(&view, 0, 1, 2, false), 0);
	assert_int_equal(decide(), COORD_NONE);
	assert_int_equal(dec.n_starts, 0);
	assert_int_equal(dec.n_ids, 0);
	assert_int_equal(dec.n_vms, 0);
}

/* ---- precedence ---- */

static void test_precedence(void **unused)
{
	uint64_t run, q, moot, drained_node_job;

	(void)unused;
	for (size_t i = 3; i < 6; i++)
		add_vm(vm_names[i]);
	/* n4 draining, its one VM moved: drained, once nothing more urgent is left. */
	node_state(4, DRAINING);
	drained_node_job = running_job("vm5", 4, 3);
	finish_job(drained_node_job, true);
	unlist(4, "vm5");
	lists(3, "vm5");
	/* n2 draining, vm6 on it without a job. */
	node_state(2, DRAINING);
	lists(2, "vm6");
	/* A queued job that could start, one that is moot, and a running one. */
	q = add_job("vm3", 3);
	lists(3, "vm3");
	moot = add_job("vm2", 1);
	run = running_job("vm1", 1, 3);
	assert_int_equal(queue_view_set_usable(&view, 0, 1, 3, false), 0);
	report(1, false, true);

	/* Source left: finished first, though it is also to abort and a job is moot. */
	assert_int_equal(decide(), COORD_FINISH);
	assert_int_equal(dec.job_id, run);

	/* Back: the network is down under it, an abort before the cancel. */
	report(1, true, true);
	assert_int_equal(decide(), COORD_ABORT);
	assert_int_equal(dec.job_id, run);

	/* Asked: the moot job is cancelled before any drain ends or gets jobs. */
	aborted[n_aborted++] = run;
	assert_int_equal(decide(), COORD_CANCEL);
	assert_int_equal(dec.n_ids, 1);
	assert_int_equal(dec.ids[0], moot);
	cancel_jobs(&moot, 1);

	/* Drains in node order: n2 gets a job for vm6 before n4 is drained. */
	assert_int_equal(decide(), COORD_ADD);
	assert_int_equal(dec.node, 2);
	add_job("vm6", 2);

	/* n2 now moves; n4 is drained before anything starts. */
	assert_int_equal(decide(), COORD_NODE_STATE);
	assert_int_equal(dec.node, 4);
	assert_int_equal(dec.node_state, DRAINED);
	node_state(4, DRAINED);

	/* Last, the queue: vm3 from n3 and vm6 from n2, to n1 or n3 (the only active nodes). */
	assert_int_equal(queue_view_set_usable(&view, 0, 1, 3, true), 0);
	assert_int_equal(decide(), COORD_START);
	assert_int_equal(dec.n_starts, 2);
	assert_true((dec.starts[0].job_id == q) != (dec.starts[1].job_id == q));
}

/* ---- bad arguments and errors ---- */

static void test_bad_arguments(void **unused)
{
	struct queue_action acts[2];
	size_t n_acts;

	(void)unused;
	build_input();
	assert_int_equal(coord_decide(NULL, &dec), -EINVAL);
	assert_int_equal(dec.kind, COORD_NONE);
	in.state = NULL;
	memset(&dec, 0xa5, sizeof(dec));
	assert_int_equal(coord_decide(&in, &dec), -EINVAL);
	assert_int_equal(dec.kind, COORD_NONE);
	in.state = &state;
	in.view = NULL;
	assert_int_equal(coord_decide(&in, &dec), -EINVAL);

	/* queue_dispatch()'s errors come through. */
	build_input();
	assert_int_equal(coord_dispatch(&in, NULL, QUEUE_MAX_JOBS + 1, acts, 2, &n_acts), -E2BIG);
	add_job("vm1", 1);
	lists(1, "vm1");
	view.n_networks = QUEUE_MAX_NETWORKS + 1;
	assert_int_equal(decide_err(), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_source_left),
		T(test_source_left_unnamed),
		T(test_network_down),
		T(test_network_unknown),
		T(test_target_left),
		T(test_aborted_once),
		T(test_removed_vm),
		T(test_vm_elsewhere),
		T(test_moot_several),
		T(test_moot_unknown),
		T(test_busy),
		T(test_drain_adds_newcomers),
		T(test_drain_adds_at_most_a_batch),
		T(test_drain_failed),
		T(test_drain_failed_by_cancel),
		T(test_drained),
		T(test_drained_empty),
		T(test_drain_stale_inventory),
		T(test_drain_vm_came_back),
		T(test_drain_unseen),
		T(test_drain_overtaken_report),
		T(test_moot_overtaken_report),
		T(test_drain_newest_job_any_node),
		T(test_dispatch_limits),
		T(test_nothing),
		T(test_precedence),
		T(test_bad_arguments),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
