/*
 * The migration queue as replicated state: which JobsAdd specs become jobs,
 * how JobStart/JobFinish/JobsCancel/LimitsSet move them, the history, the
 * bounds, refusal of malformed messages without a trace, the protobuf round
 * trip, and that replicas fed the same messages agree.
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

#define DRAIN DROVER__JOB_ORIGIN__JOB_ORIGIN_DRAIN
#define MANUAL DROVER__JOB_ORIGIN__JOB_ORIGIN_MANUAL
#define ACTIVE DROVER__NODE_STATE__NODE_STATE_ACTIVE
#define DRAINING DROVER__NODE_STATE__NODE_STATE_DRAINING
#define MAINTENANCE DROVER__NODE_STATE__NODE_STATE_MAINTENANCE

static int add_vm(struct cluster_state *s, const char *name, uint64_t mib, uint32_t vcpus, int prio)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
	char xml[256];

	snprintf(xml, sizeof(xml),
		 "<domain><name>%s</name><memory unit='MiB'>%llu</memory><vcpu>%u</vcpu></domain>",
		 name, (unsigned long long)mib, vcpus);
	vm.name = (char *)name;
	vm.xml = xml;
	vm.memory_mib = mib;
	vm.vcpus = vcpus;
	vm.priority = (Drover__VmPriority)prio;
	m.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	return state_apply(s, &env);
}

static int set_node(struct cluster_state *s, uint32_t id, int st)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__SetNodeState m = DROVER__SET_NODE_STATE__INIT;

	m.node_id = id;
	m.state = (Drover__NodeState)st;
	env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
	env.set_node_state = &m;
	return state_apply(s, &env);
}

struct spec {
	const char *vm;
	uint32_t source;
	uint32_t fixed_target;
	int origin;
};

static int jobs_add(struct cluster_state *s, uint64_t created_ms, const struct spec *specs, size_t n)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsAdd m = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec *sp = calloc(n + 1, sizeof(*sp));
	Drover__JobSpec **ptrs = calloc(n + 1, sizeof(*ptrs));
	int r;

	for (size_t i = 0; i < n; i++) {
		drover__job_spec__init(&sp[i]);
		sp[i].vm = (char *)specs[i].vm;
		sp[i].source = specs[i].source;
		sp[i].fixed_target = specs[i].fixed_target;
		sp[i].origin = (Drover__JobOrigin)specs[i].origin;
		ptrs[i] = &sp[i];
	}
	m.n_jobs = n;
	m.jobs = ptrs;
	m.created_ms = created_ms;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &m;
	r = state_apply(s, &env);
	free(sp);
	free(ptrs);
	return r;
}

static int add_one(struct cluster_state *s, const char *vm, uint32_t source, uint64_t created_ms)
{
	struct spec sp = { vm, source, 0, DRAIN };

	return jobs_add(s, created_ms, &sp, 1);
}

static int job_start(struct cluster_state *s, uint64_t id, uint32_t target, const char *network,
		     uint64_t started_ms)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobStart m = DROVER__JOB_START__INIT;

	m.job_id = id;
	m.target = target;
	m.network = (char *)network;
	m.started_ms = started_ms;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
	env.job_start = &m;
	return state_apply(s, &env);
}

static int job_finish(struct cluster_state *s, uint64_t id, bool ok, const char *reason,
		      uint64_t finished_ms, uint64_t downtime_ms, uint64_t bytes)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobFinish m = DROVER__JOB_FINISH__INIT;

	m.job_id = id;
	m.ok = ok;
	m.reason = (char *)reason;
	m.finished_ms = finished_ms;
	m.downtime_ms = downtime_ms;
	m.bytes = bytes;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
	env.job_finish = &m;
	return state_apply(s, &env);
}

static int jobs_cancel(struct cluster_state *s, uint32_t node, uint64_t at_ms, const char *reason)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsCancel m = DROVER__JOBS_CANCEL__INIT;

	m.node = node;
	m.at_ms = at_ms;
	m.reason = (char *)reason;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_CANCEL;
	env.jobs_cancel = &m;
	return state_apply(s, &env);
}

struct cap {
	const char *network;
	uint32_t cap;
};

static int limits_set(struct cluster_state *s, uint32_t out, uint32_t in, uint32_t total,
		      uint32_t retries, const struct cap *caps, size_t n_caps)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__LimitsSet m = DROVER__LIMITS_SET__INIT;
	Drover__MigrationLimits l = DROVER__MIGRATION_LIMITS__INIT;
	Drover__NetworkCap c[16], *cp[16];

	assert_true(n_caps <= 16);
	for (size_t i = 0; i < n_caps; i++) {
		drover__network_cap__init(&c[i]);
		c[i].network = (char *)caps[i].network;
		c[i].cap = caps[i].cap;
		cp[i] = &c[i];
	}
	l.per_source = out;
	l.per_target = in;
	l.cluster = total;
	l.max_retries = retries;
	l.n_network_caps = n_caps;
	l.network_caps = cp;
	m.limits = &l;
	env.body_case = DROVER__ENVELOPE__BODY_LIMITS_SET;
	env.limits_set = &m;
	return state_apply(s, &env);
}

/* Three VMs: a (high, 1024 MiB, 2 vCPUs), b (low, 512, 1), c (medium, 256, 1). */
static void setup_vms(struct cluster_state *s)
{
	state_init(s);
	assert_int_equal(add_vm(s, "a", 1024, 2, 1), 1);
	assert_int_equal(add_vm(s, "b", 512, 1, 3), 1);
	assert_int_equal(add_vm(s, "c", 256, 1, 2), 1);
}

static void test_defaults(void **unused)
{
	struct cluster_state s;
	struct mig_limits l;

	(void)unused;
	state_init(&s);
	assert_int_equal(s.n_jobs, 0);
	assert_int_equal(s.next_job_id, 1);
	assert_int_equal(s.n_history, 0);
	assert_false(s.limits.set);
	assert_int_equal(s.limits.per_source, 2);
	assert_int_equal(s.limits.per_target, 2);
	assert_int_equal(s.limits.cluster, 0);
	assert_int_equal(s.limits.max_retries, 2);
	assert_int_equal(s.limits.n_caps, 0);
	memset(&l, 0xff, sizeof(l));
	state_limits_default(&l);
	assert_memory_equal(&l, &s.limits, sizeof(l));
	assert_null(state_job_find(&s, 1));
	assert_null(state_job_active(&s, "a"));
	assert_int_equal(state_jobs_unfinished(&s), 0);
}

static void test_add_rules(void **unused)
{
	struct cluster_state s;
	const struct spec specs[] = {
		{ "a", 1, 0, DRAIN },
		{ "zz", 1, 0, DRAIN },   /* not registered: skipped */
		{ "b", 0, 0, DRAIN },    /* no source: skipped */
		{ "a", 2, 0, MANUAL },   /* a already got a job from this message: skipped */
		{ "c", 2, 3, MANUAL },
	};
	const struct queue_job *j;
	uint64_t epoch, h;

	(void)unused;
	setup_vms(&s);
	epoch = s.epoch;
	assert_int_equal(jobs_add(&s, 5000, specs, 5), 1);
	assert_int_equal(s.epoch, epoch + 1);
	assert_int_equal(s.n_jobs, 2);
	assert_int_equal(s.next_job_id, 3);

	j = &s.jobs[0];
	assert_int_equal(j->id, 1);
	assert_string_equal(j->vm, "a");
	assert_int_equal(j->state, QUEUE_JOB_QUEUED);
	assert_int_equal(j->priority, QUEUE_PRIO_HIGH);
	assert_int_equal(j->memory_mib, 1024);
	assert_int_equal(j->vcpus, 2);
	assert_int_equal(j->source, 1);
	assert_int_equal(j->fixed_target, 0);
	assert_int_equal(j->origin, DRAIN);
	assert_int_equal(j->created_ms, 5000);
	assert_int_equal(j->max_retries, 2);
	assert_int_equal(j->n_attempts, 0);

	j = &s.jobs[1];
	assert_int_equal(j->id, 2);
	assert_string_equal(j->vm, "c");
	assert_int_equal(j->priority, QUEUE_PRIO_MEDIUM);
	assert_int_equal(j->memory_mib, 256);
	assert_int_equal(j->source, 2);
	assert_int_equal(j->fixed_target, 3);
	assert_int_equal(j->origin, MANUAL);

	assert_ptr_equal(state_job_find(&s, 2), &s.jobs[1]);
	assert_null(state_job_find(&s, 3));
	assert_null(state_job_find(&s, 0));
	assert_ptr_equal(state_job_active(&s, "a"), &s.jobs[0]);
	assert_null(state_job_active(&s, "b"));
	assert_null(state_job_active(&s, NULL));
	assert_int_equal(state_jobs_unfinished(&s), 2);

	/* Everything skipped, or nothing asked: valid, no change, epoch kept. */
	h = state_hash(&s);
	assert_int_equal(jobs_add(&s, 6000, specs, 4), 0);
	assert_int_equal(jobs_add(&s, 6000, NULL, 0), 0);
	assert_int_equal(state_hash(&s), h);
	assert_int_equal(s.epoch, epoch + 1);

	/* max_retries comes from the limits in force when the job is added. */
	assert_int_equal(limits_set(&s, 2, 2, 0, 5, NULL, 0), 1);
	assert_int_equal(add_one(&s, "b", 2, 7000), 1);
	assert_int_equal(state_job_active(&s, "b")->max_retries, 5);
	assert_int_equal(state_job_active(&s, "b")->id, 3);
	assert_int_equal(s.epoch, epoch + 3);
	state_free(&s);
}

static void test_start_finish_ok(void **unused)
{
	struct cluster_state s;
	struct queue_job *j;
	const struct history_entry *h;

	(void)unused;
	setup_vms(&s);
	assert_int_equal(add_one(&s, "a", 1, 100), 1);
	assert_int_equal(job_start(&s, 1, 2, "mig-a", 1000), 1);
	j = state_job_find(&s, 1);
	assert_int_equal(j->state, QUEUE_JOB_RUNNING);
	assert_int_equal(j->target, 2);
	assert_string_equal(j->network, "mig-a");
	assert_int_equal(j->started_ms, 1000);
	assert_int_equal(state_jobs_unfinished(&s), 1);
	/* Started twice: the second is refused by every member alike. */
	assert_int_equal(job_start(&s, 1, 3, "mig-b", 1100), -EINVAL);

	assert_int_equal(job_finish(&s, 1, true, "", 5000, 30, 1ull << 30), 1);
	j = state_job_find(&s, 1);
	assert_int_equal(j->state, QUEUE_JOB_DONE);
	assert_int_equal(j->finished_ms, 5000);
	assert_int_equal(j->n_attempts, 1);
	assert_int_equal(j->attempts[0].result, QUEUE_RESULT_OK);
	assert_int_equal(j->attempts[0].target, 2);
	assert_string_equal(j->attempts[0].network, "mig-a");
	assert_int_equal(j->attempts[0].started_ms, 1000);
	assert_int_equal(j->attempts[0].finished_ms, 5000);
	assert_string_equal(j->error, "");
	assert_null(state_job_active(&s, "a"));
	assert_int_equal(state_jobs_unfinished(&s), 0);

	assert_int_equal(s.n_history, 1);
	h = &s.history[0];
	assert_int_equal(h->job_id, 1);
	assert_string_equal(h->vm, "a");
	assert_int_equal(h->source, 1);
	assert_int_equal(h->target, 2);
	assert_string_equal(h->network, "mig-a");
	assert_int_equal(h->result, QUEUE_JOB_DONE);
	assert_int_equal(h->origin, DRAIN);
	assert_int_equal(h->started_ms, 1000);
	assert_int_equal(h->finished_ms, 5000);
	assert_int_equal(h->downtime_ms, 30);
	assert_int_equal(h->bytes, 1ull << 30);
	assert_int_equal(h->attempts, 1);
	assert_string_equal(h->error, "");

	/* Finished twice: refused. A finished VM may be queued again. */
	assert_int_equal(job_finish(&s, 1, true, "", 6000, 0, 0), -EINVAL);
	assert_int_equal(add_one(&s, "a", 2, 7000), 1);
	assert_int_equal(state_job_active(&s, "a")->id, 2);
	assert_int_equal(s.n_jobs, 2);
	/* add, start, finish, add */
	assert_int_equal(s.epoch, 3 + 4);
	state_free(&s);
}

static void test_start_invalid(void **unused)
{
	struct cluster_state s;
	char longname[QUEUE_NAME_MAX + 1];
	uint64_t h;

	(void)unused;
	setup_vms(&s);
	assert_int_equal(add_one(&s, "a", 1, 100), 1);
	h = state_hash(&s);
	memset(longname, 'n', QUEUE_NAME_MAX);
	longname[QUEUE_NAME_MAX] = '\0';
	assert_int_equal(job_start(&s, 9, 2, "mig-a", 1), -EINVAL);  /* no such job */
	assert_int_equal(job_start(&s, 1, 0, "mig-a", 1), -EINVAL);  /* no target */
	assert_int_equal(job_start(&s, 1, 1, "mig-a", 1), -EINVAL);  /* the source */
	assert_int_equal(job_start(&s, 1, 2, "", 1), -EINVAL);       /* no network */
	assert_int_equal(job_start(&s, 1, 2, NULL, 1), -EINVAL);
	assert_int_equal(job_start(&s, 1, 2, longname, 1), -EINVAL); /* would be cut */
	longname[QUEUE_NAME_MAX - 1] = '\0';                         /* 63 chars fit */
	assert_int_equal(job_finish(&s, 1, true, "", 2, 0, 0), -EINVAL); /* not running */
	assert_int_equal(job_finish(&s, 1, false, "x", 2, 0, 0), -EINVAL);
	assert_int_equal(state_hash(&s), h);
	assert_int_equal(job_start(&s, 1, 2, longname, 1), 1);
	assert_string_equal(s.jobs[0].network, longname);
	state_free(&s);
}

static void view_two_networks(struct queue_view *v)
{
	struct queue_node n = { 0 };

	queue_view_init(v);
	for (uint32_t id = 1; id <= 2; id++) {
		n.id = id;
		snprintf(n.name, sizeof(n.name), "n%u", id);
		n.online = true;
		n.usable_target = true;
		n.free_mib = 1u << 20;
		n.free_vcpus = 64;
		assert_int_equal(queue_view_add_node(v, &n), 0);
	}
	assert_int_equal(queue_view_add_network(v, "mig-a", 0), 0);
	assert_int_equal(queue_view_add_network(v, "mig-b", 0), 0);
	assert_int_equal(queue_view_set_usable(v, 0, 1, 2, true), 0);
	assert_int_equal(queue_view_set_usable(v, 1, 1, 2, true), 0);
}

/* Start whatever the queue decides; returns the network it chose. */
static const char *dispatch_start(struct cluster_state *s, const struct queue_view *v, uint64_t now)
{
	static char net[QUEUE_NAME_MAX];
	struct queue_action act[4];
	size_t n;

	assert_int_equal(queue_dispatch(v, s->jobs, s->n_jobs, now, act, 4, &n), 0);
	assert_int_equal(n, 1);
	memcpy(net, act[0].network_name, sizeof(net));
	assert_int_equal(job_start(s, act[0].job_id, act[0].target, act[0].network_name, act[0].start_ms), 1);
	return net;
}

static void test_failure_retry(void **unused)
{
	struct cluster_state s;
	struct queue_view v;
	struct queue_job *j;
	const struct history_entry *h;

	(void)unused;
	setup_vms(&s);
	view_two_networks(&v);
	assert_int_equal(add_one(&s, "a", 1, 100), 1);
	assert_string_equal(dispatch_start(&s, &v, 1000), "mig-a");
	assert_int_equal(job_finish(&s, 1, false, "link down", 1500, 0, 0), 1);
	j = state_job_find(&s, 1);
	assert_int_equal(j->state, QUEUE_JOB_QUEUED);
	assert_int_equal(j->target, 0);
	assert_string_equal(j->network, "");
	assert_int_equal(j->n_attempts, 1);
	assert_int_equal(j->attempts[0].result, QUEUE_RESULT_FAILED);
	assert_string_equal(j->attempts[0].network, "mig-a");
	assert_string_equal(j->attempts[0].reason, "link down");
	assert_int_equal(j->attempts[0].target, 2);
	assert_int_equal(j->attempts[0].started_ms, 1000);
	assert_int_equal(j->attempts[0].finished_ms, 1500);
	assert_int_equal(s.n_history, 0);
	assert_ptr_equal(state_job_active(&s, "a"), j);

	/* The queue avoids the network the last attempt failed on. */
	assert_string_equal(dispatch_start(&s, &v, 2000), "mig-b");
	assert_int_equal(job_finish(&s, 1, false, "timeout", 2500, 0, 0), 1);
	assert_string_equal(dispatch_start(&s, &v, 3000), "mig-a");
	/* Third failure with max_retries 2: failed for good. */
	assert_int_equal(job_finish(&s, 1, false, "host gone", 3500, 0, 0), 1);
	j = state_job_find(&s, 1);
	assert_int_equal(j->state, QUEUE_JOB_FAILED);
	assert_string_equal(j->error, "host gone");
	assert_int_equal(j->finished_ms, 3500);
	assert_int_equal(j->n_attempts, 3);
	assert_int_equal(j->attempts[2].finished_ms, 3500);
	assert_null(state_job_active(&s, "a"));

	assert_int_equal(s.n_history, 1);
	h = &s.history[0];
	assert_int_equal(h->result, QUEUE_JOB_FAILED);
	assert_string_equal(h->error, "host gone");
	assert_int_equal(h->attempts, 3);
	assert_int_equal(h->started_ms, 1000); /* the first attempt */
	assert_int_equal(h->finished_ms, 3500);
	assert_string_equal(h->network, "mig-a");
	assert_int_equal(h->target, 2);
	assert_int_equal(h->bytes, 0);
	/* add + 3 x (start, finish) */
	assert_int_equal(s.epoch, 3 + 7);
	state_free(&s);
}

static void test_cancel_queued_vs_running(void **unused)
{
	struct cluster_state s;
	struct queue_job *j;
	uint64_t epoch, h;

	(void)unused;
	setup_vms(&s);
	assert_int_equal(add_one(&s, "a", 1, 100), 1); /* 1: will stay queued */
	assert_int_equal(add_one(&s, "b", 1, 100), 1); /* 2: will run */
	assert_int_equal(add_one(&s, "c", 2, 100), 1); /* 3: another source */
	assert_int_equal(job_start(&s, 2, 3, "mig-a", 1000), 1);
	assert_int_equal(set_node(&s, 1, DRAINING), 1);

	epoch = s.epoch;
	assert_int_equal(jobs_cancel(&s, 1, 7000, ""), 1);
	assert_int_equal(s.epoch, epoch + 1);
	j = state_job_find(&s, 1);
	assert_int_equal(j->state, QUEUE_JOB_CANCELLED);
	assert_string_equal(j->error, "cancelled by the operator");
	assert_int_equal(j->finished_ms, 7000);
	j = state_job_find(&s, 2);
	assert_int_equal(j->state, QUEUE_JOB_RUNNING);
	assert_true(j->cancel_requested);
	assert_int_equal(state_job_find(&s, 3)->state, QUEUE_JOB_QUEUED);
	assert_int_equal(state_node_get(&s, 1), ACTIVE);
	assert_int_equal(s.n_history, 1);
	assert_int_equal(s.history[0].job_id, 1);
	assert_int_equal(s.history[0].result, QUEUE_JOB_CANCELLED);
	assert_int_equal(s.history[0].attempts, 0);
	assert_int_equal(s.history[0].started_ms, 0);
	assert_int_equal(s.history[0].finished_ms, 7000);
	assert_string_equal(s.history[0].error, "cancelled by the operator");

	/* Again: nothing left to change. */
	h = state_hash(&s);
	assert_int_equal(jobs_cancel(&s, 1, 7100, "again"), 0);
	assert_int_equal(state_hash(&s), h);
	assert_int_equal(s.epoch, epoch + 1);

	/* The running one fails: cancelled, not re-queued. */
	assert_int_equal(job_finish(&s, 2, false, "aborted", 8000, 0, 0), 1);
	j = state_job_find(&s, 2);
	assert_int_equal(j->state, QUEUE_JOB_CANCELLED);
	assert_false(j->cancel_requested);
	assert_string_equal(j->error, "cancelled by the operator: aborted");
	assert_int_equal(j->finished_ms, 8000);
	assert_int_equal(j->n_attempts, 1);
	assert_int_equal(j->attempts[0].result, QUEUE_RESULT_FAILED);
	assert_string_equal(j->attempts[0].reason, "aborted");
	assert_int_equal(j->attempts[0].finished_ms, 8000);
	assert_int_equal(j->target, 3);
	assert_null(state_job_active(&s, "b"));
	assert_int_equal(s.n_history, 2);
	assert_int_equal(s.history[1].job_id, 2);
	assert_int_equal(s.history[1].result, QUEUE_JOB_CANCELLED);
	assert_int_equal(s.history[1].started_ms, 1000);
	assert_int_equal(s.history[1].target, 3);
	assert_string_equal(s.history[1].network, "mig-a");
	assert_string_equal(s.history[1].error, "cancelled by the operator: aborted");

	/* Every node: job 3 goes, with the operator's words. */
	assert_int_equal(jobs_cancel(&s, 0, 9000, "maintenance window"), 1);
	j = state_job_find(&s, 3);
	assert_int_equal(j->state, QUEUE_JOB_CANCELLED);
	assert_string_equal(j->error, "maintenance window");
	assert_int_equal(state_jobs_unfinished(&s), 0);
	assert_int_equal(s.n_history, 3);
	state_free(&s);
}

/* A running job whose cancellation was requested but that completes is done. */
static void test_cancel_running_then_ok(void **unused)
{
	struct cluster_state s;
	struct queue_job *j;

	(void)unused;
	setup_vms(&s);
	assert_int_equal(add_one(&s, "a", 1, 100), 1);
	assert_int_equal(job_start(&s, 1, 2, "mig-a", 1000), 1);
	assert_int_equal(jobs_cancel(&s, 0, 1500, "stop"), 1);
	assert_true(state_job_find(&s, 1)->cancel_requested);
	assert_int_equal(job_finish(&s, 1, true, "", 2000, 5, 77), 1);
	j = state_job_find(&s, 1);
	assert_int_equal(j->state, QUEUE_JOB_DONE);
	assert_false(j->cancel_requested);
	assert_string_equal(j->error, "");
	assert_int_equal(s.history[0].result, QUEUE_JOB_DONE);
	assert_int_equal(s.history[0].bytes, 77);
	state_free(&s);
}

static void test_cancel_node_states(void **unused)
{
	struct cluster_state s;
	uint64_t epoch;

	(void)unused;
	state_init(&s);
	assert_int_equal(set_node(&s, 3, MAINTENANCE), 1);
	assert_int_equal(set_node(&s, 4, DRAINING), 1);
	epoch = s.epoch;
	/* Only a draining node returns to active. */
	assert_int_equal(jobs_cancel(&s, 3, 1, ""), 0);
	assert_int_equal(state_node_get(&s, 3), MAINTENANCE);
	assert_int_equal(jobs_cancel(&s, 5, 1, ""), 0); /* never mentioned: active already */
	assert_int_equal(s.epoch, epoch);
	assert_int_equal(jobs_cancel(&s, 4, 1, ""), 1);
	assert_int_equal(state_node_get(&s, 4), ACTIVE);
	assert_int_equal(s.epoch, epoch + 1);
	state_free(&s);
}

static void register_many(struct cluster_state *s, int n)
{
	char name[16];

	state_init(s);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "vm%04d", i);
		assert_int_equal(add_vm(s, name, 64, 1, 2), 1);
	}
}

static void assert_sorted(const struct cluster_state *s)
{
	for (size_t i = 1; i < s->n_jobs; i++)
		assert_true(s->jobs[i - 1].id < s->jobs[i].id);
}

/* The oldest finished go first, by finish time and not by id. */
static void test_trim_finished(void **unused)
{
	struct cluster_state s;
	char name[16];

	(void)unused;
	register_many(&s, 100);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "vm%04d", i);
		assert_int_equal(add_one(&s, name, 1, (uint64_t)i), 1);
		/* Each later job finishes at an earlier time. */
		assert_int_equal(jobs_cancel(&s, 1, 1000 - (uint64_t)i, ""), 1);
		assert_true(s.n_jobs <= DROVER_KEEP_FINISHED);
		assert_sorted(&s);
	}
	assert_int_equal(s.n_jobs, DROVER_KEEP_FINISHED);
	for (size_t i = 0; i < s.n_jobs; i++)
		assert_int_equal(s.jobs[i].id, i + 1);
	assert_int_equal(s.n_history, 100);
	assert_int_equal(s.next_job_id, 101);
	state_free(&s);

	/* Equal finish times: the lowest ids go. */
	register_many(&s, 70);
	for (int i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "vm%04d", i);
		assert_int_equal(add_one(&s, name, 1, 0), 1);
	}
	assert_int_equal(jobs_cancel(&s, 0, 500, ""), 1);
	assert_int_equal(s.n_jobs, DROVER_KEEP_FINISHED);
	assert_int_equal(s.jobs[0].id, 70 - DROVER_KEEP_FINISHED + 1);
	assert_int_equal(s.jobs[s.n_jobs - 1].id, 70);
	assert_sorted(&s);
	state_free(&s);
}

static void test_history_bound(void **unused)
{
	struct cluster_state s;
	const int total = DROVER_HISTORY_MAX + 44;

	(void)unused;
	register_many(&s, 1);
	for (int i = 0; i < total; i++) {
		assert_int_equal(add_one(&s, "vm0000", 1, (uint64_t)i), 1);
		assert_int_equal(job_start(&s, s.next_job_id - 1, 2, "mig-a", (uint64_t)i), 1);
		assert_int_equal(job_finish(&s, s.next_job_id - 1, true, "", (uint64_t)i, 0, 0), 1);
	}
	assert_int_equal(s.n_history, DROVER_HISTORY_MAX);
	assert_int_equal(s.history[0].job_id, total - DROVER_HISTORY_MAX + 1);
	assert_int_equal(s.history[DROVER_HISTORY_MAX - 1].job_id, total);
	for (size_t i = 1; i < s.n_history; i++)
		assert_true(s.history[i - 1].job_id < s.history[i].job_id);
	assert_int_equal(s.n_jobs, DROVER_KEEP_FINISHED);
	assert_int_equal(s.epoch, 1 + 3 * (uint64_t)total);
	state_free(&s);
}

/* A full queue refuses a whole JobsAdd rather than part of it. */
static void test_add_full(void **unused)
{
	struct cluster_state s;
	struct spec *specs = calloc(DROVER_MAX_JOBS + 20, sizeof(*specs));
	char (*names)[16] = calloc(DROVER_MAX_JOBS + 20, sizeof(*names));
	uint64_t h, epoch;

	(void)unused;
	register_many(&s, DROVER_MAX_JOBS + 20);
	for (int i = 0; i < DROVER_MAX_JOBS + 20; i++) {
		snprintf(names[i], sizeof(names[i]), "vm%04d", i);
		specs[i].vm = names[i];
		/* The first ten leave node 9, to be cancelled and so finished. */
		specs[i].source = i < 10 ? 9 : 1;
		specs[i].origin = DRAIN;
	}
	h = state_hash(&s);
	assert_int_equal(jobs_add(&s, 1, specs, DROVER_MAX_JOBS + 1), -ENOSPC);
	assert_int_equal(state_hash(&s), h);
	assert_int_equal(s.n_jobs, 0);
	assert_int_equal(jobs_add(&s, 1, specs, DROVER_MAX_JOBS), 1);
	assert_int_equal(s.n_jobs, DROVER_MAX_JOBS);
	h = state_hash(&s);
	assert_int_equal(jobs_add(&s, 2, &specs[DROVER_MAX_JOBS], 1), -ENOSPC);
	assert_int_equal(state_hash(&s), h);

	/* Ten finished jobs make room for up to ten new ones, oldest dropped first. */
	assert_int_equal(jobs_cancel(&s, 9, 50, ""), 1);
	assert_int_equal(s.n_jobs, DROVER_MAX_JOBS);
	assert_int_equal(jobs_add(&s, 3, &specs[DROVER_MAX_JOBS], 3), 1);
	assert_int_equal(s.n_jobs, DROVER_MAX_JOBS);
	assert_int_equal(s.jobs[0].id, 4); /* ids 1..3 dropped (same time, lowest ids) */
	assert_int_equal(s.jobs[s.n_jobs - 1].id, DROVER_MAX_JOBS + 3);
	assert_sorted(&s);
	h = state_hash(&s);
	epoch = s.epoch;
	assert_int_equal(jobs_add(&s, 4, &specs[DROVER_MAX_JOBS + 3], 8), -ENOSPC); /* 7 free */
	assert_int_equal(state_hash(&s), h);
	assert_int_equal(s.epoch, epoch);
	assert_int_equal(jobs_add(&s, 4, &specs[DROVER_MAX_JOBS + 3], 7), 1);
	assert_int_equal(state_jobs_unfinished(&s), DROVER_MAX_JOBS);
	free(specs);
	free(names);
	state_free(&s);
}

static void test_limits(void **unused)
{
	struct cluster_state s;
	const struct cap caps[] = { { "mig-a", 1 }, { "mig-b", 0 } };
	struct cap many[QUEUE_MAX_NETWORKS + 1];
	char names[QUEUE_MAX_NETWORKS + 1][8];
	char longname[QUEUE_NAME_MAX + 1];
	uint64_t h, epoch;

	(void)unused;
	state_init(&s);
	assert_int_equal(limits_set(&s, 3, 1, 5, 4, caps, 2), 1);
	assert_true(s.limits.set);
	assert_int_equal(s.limits.per_source, 3);
	assert_int_equal(s.limits.per_target, 1);
	assert_int_equal(s.limits.cluster, 5);
	assert_int_equal(s.limits.max_retries, 4);
	assert_int_equal(s.limits.n_caps, 2);
	assert_string_equal(s.limits.caps[0].network, "mig-a");
	assert_int_equal(s.limits.caps[0].cap, 1);
	assert_string_equal(s.limits.caps[1].network, "mig-b");
	assert_int_equal(s.limits.caps[1].cap, 0);
	assert_int_equal(s.epoch, 1);
	/* The same again changes nothing. */
	assert_int_equal(limits_set(&s, 3, 1, 5, 4, caps, 2), 0);
	assert_int_equal(s.epoch, 1);
	/* Setting the defaults explicitly is a change: set becomes true. */
	state_free(&s);
	assert_int_equal(limits_set(&s, 2, 2, 0, 2, NULL, 0), 1);
	assert_true(s.limits.set);
	assert_int_equal(limits_set(&s, 3, 1, 5, 4, caps, 2), 1);

	h = state_hash(&s);
	epoch = s.epoch;
	for (int i = 0; i <= QUEUE_MAX_NETWORKS; i++) {
		snprintf(names[i], sizeof(names[i]), "net%d", i);
		many[i].network = names[i];
		many[i].cap = 1;
	}
	assert_int_equal(limits_set(&s, 1, 1, 1, 1, many, QUEUE_MAX_NETWORKS + 1), -EINVAL);
	many[1].network = "net0"; /* duplicate */
	assert_int_equal(limits_set(&s, 1, 1, 1, 1, many, 2), -EINVAL);
	many[1].network = "";
	assert_int_equal(limits_set(&s, 1, 1, 1, 1, many, 2), -EINVAL);
	many[1].network = NULL;
	assert_int_equal(limits_set(&s, 1, 1, 1, 1, many, 2), -EINVAL);
	memset(longname, 'x', QUEUE_NAME_MAX);
	longname[QUEUE_NAME_MAX] = '\0';
	many[1].network = longname;
	assert_int_equal(limits_set(&s, 1, 1, 1, 1, many, 2), -EINVAL);
	assert_int_equal(state_hash(&s), h);
	assert_int_equal(s.epoch, epoch);
	/* Exactly QUEUE_MAX_NETWORKS caps of 63 characters are fine. */
	many[1].network = names[1];
	longname[QUEUE_NAME_MAX - 1] = '\0';
	many[0].network = longname;
	assert_int_equal(limits_set(&s, 1, 1, 1, 1, many, QUEUE_MAX_NETWORKS), 1);
	assert_int_equal(s.limits.n_caps, QUEUE_MAX_NETWORKS);
	assert_string_equal(s.limits.caps[0].network, longname);
	state_free(&s);
}

/* Whatever a hostile or buggy peer sends, the state stays exactly as it was. */
static void test_malformed(void **unused)
{
	struct cluster_state s, before;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsAdd add = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec sp = DROVER__JOB_SPEC__INIT, *spp[2] = { &sp, NULL };
	Drover__LimitsSet ls = DROVER__LIMITS_SET__INIT;
	Drover__MigrationLimits ml = DROVER__MIGRATION_LIMITS__INIT;
	const int bodies[] = {
		DROVER__ENVELOPE__BODY_JOBS_ADD, DROVER__ENVELOPE__BODY_JOB_START,
		DROVER__ENVELOPE__BODY_JOB_FINISH, DROVER__ENVELOPE__BODY_JOBS_CANCEL,
		DROVER__ENVELOPE__BODY_LIMITS_SET,
	};
	char longvm[DROVER_VM_NAME_MAX + 1], longreason[QUEUE_REASON_MAX + 1];
	uint64_t h;

	(void)unused;
	setup_vms(&s);
	assert_int_equal(add_one(&s, "a", 1, 100), 1);
	assert_int_equal(add_one(&s, "b", 1, 100), 1);
	assert_int_equal(job_start(&s, 2, 2, "mig-a", 1000), 1);
	assert_int_equal(limits_set(&s, 1, 1, 1, 1, NULL, 0), 1);
	h = state_hash(&s);
	state_copy(&s, &before);

	/* Every body missing. */
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		Drover__Envelope e = DROVER__ENVELOPE__INIT;

		e.body_case = (Drover__Envelope__BodyCase)bodies[i];
		assert_int_equal(state_apply(&s, &e), -EINVAL);
	}
	assert_int_equal(state_apply(&s, NULL), -EINVAL);

	/* JobsAdd: a bad spec anywhere refuses the whole message. */
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &add;
	add.n_jobs = 1;
	add.jobs = NULL;
	assert_int_equal(state_apply(&s, &env), -EINVAL);
	add.jobs = spp;
	add.n_jobs = 2; /* second spec is NULL */
	sp.vm = "c";
	sp.source = 1;
	assert_int_equal(state_apply(&s, &env), -EINVAL);
	add.n_jobs = 1;
	sp.vm = NULL;
	assert_int_equal(state_apply(&s, &env), -EINVAL);
	memset(longvm, 'v', DROVER_VM_NAME_MAX);
	longvm[DROVER_VM_NAME_MAX] = '\0';
	sp.vm = longvm;
	assert_int_equal(state_apply(&s, &env), -EINVAL);
	sp.vm = "c";
	sp.origin = 9;
	assert_int_equal(state_apply(&s, &env), -EINVAL);
	sp.origin = -1;
	assert_int_equal(state_apply(&s, &env), -EINVAL);

	/* JobStart / JobFinish / JobsCancel. */
	assert_int_equal(job_start(&s, 0, 2, "mig-a", 1), -EINVAL);
	assert_int_equal(job_start(&s, 2, 3, "mig-a", 1), -EINVAL); /* running */
	assert_int_equal(job_finish(&s, 2, false, NULL, 1, 0, 0), -EINVAL);
	memset(longreason, 'r', QUEUE_REASON_MAX);
	longreason[QUEUE_REASON_MAX] = '\0';
	assert_int_equal(job_finish(&s, 2, false, longreason, 1, 0, 0), -EINVAL);
	assert_int_equal(job_finish(&s, 99, true, "", 1, 0, 0), -EINVAL);
	assert_int_equal(jobs_cancel(&s, 0, 1, NULL), -EINVAL);
	assert_int_equal(jobs_cancel(&s, 0, 1, longreason), -EINVAL);

	/* LimitsSet without limits, or with a NULL cap. */
	env.body_case = DROVER__ENVELOPE__BODY_LIMITS_SET;
	env.limits_set = &ls;
	assert_int_equal(state_apply(&s, &env), -EINVAL);
	ls.limits = &ml;
	ml.n_network_caps = 1;
	ml.network_caps = NULL;
	assert_int_equal(state_apply(&s, &env), -EINVAL);

	assert_int_equal(state_hash(&s), h);
	assert_int_equal(s.epoch, before.epoch);
	assert_int_equal(s.n_jobs, before.n_jobs);
	assert_memory_equal(s.jobs, before.jobs, s.n_jobs * sizeof(*s.jobs));
	assert_memory_equal(&s.limits, &before.limits, sizeof(s.limits));

	/* The longest reason that fits is taken whole. */
	longreason[QUEUE_REASON_MAX - 1] = '\0';
	assert_int_equal(job_finish(&s, 2, false, longreason, 2000, 0, 0), 1);
	assert_string_equal(state_job_find(&s, 2)->attempts[0].reason, longreason);
	state_free(&s);
	state_free(&before);
}

/*
 * A state with every kind of job, limits with caps, and history. Odd ids
 * leave node 1, even ids node 2; job 6 has a fixed target.
 *   1 done, 2 failed once and re-queued, 3 running with its cancellation
 *   requested, 4 running, 5 failed for good, 6 running, 7 cancelled while
 *   queued, 8 queued. History: 1, 5, 7.
 */
static void build_rich(struct cluster_state *s)
{
	const struct cap caps[] = { { "mig-a", 1 }, { "mig-b", 3 } };

	register_many(s, 8);
	assert_int_equal(limits_set(s, 3, 2, 6, 2, caps, 2), 1);
	for (int i = 0; i < 8; i++) {
		char name[16];
		struct spec sp = { name, (uint32_t)(i % 2 + 1), i == 5 ? 3u : 0u, i % 4 };

		snprintf(name, sizeof(name), "vm%04d", i);
		assert_int_equal(jobs_add(s, 100 + (uint64_t)i, &sp, 1), 1);
	}
	assert_int_equal(job_start(s, 1, 2, "mig-a", 1000), 1);
	assert_int_equal(job_finish(s, 1, true, "", 2000, 12, 4096), 1);
	assert_int_equal(job_start(s, 2, 1, "mig-b", 1100), 1);
	assert_int_equal(job_finish(s, 2, false, "refused", 1200, 0, 0), 1);
	assert_int_equal(job_start(s, 5, 3, "mig-a", 1600), 1);
	for (uint64_t k = 0; k < 3; k++) {
		assert_int_equal(job_finish(s, 5, false, "no", 1700 + k, 0, 0), 1);
		if (k < 2)
			assert_int_equal(job_start(s, 5, 3, k ? "mig-a" : "mig-b", 1800 + k), 1);
	}
	assert_int_equal(job_start(s, 3, 2, "mig-b", 1400), 1);
	assert_int_equal(job_start(s, 4, 1, "mig-a", 1300), 1);
	assert_int_equal(job_start(s, 6, 3, "mig-a", 1600), 1);
	assert_int_equal(jobs_cancel(s, 1, 1500, "operator said so"), 1);
}

static void test_rich_state_contents(void **unused)
{
	struct cluster_state s;
	const enum queue_job_state want[] = {
		QUEUE_JOB_DONE, QUEUE_JOB_QUEUED, QUEUE_JOB_RUNNING, QUEUE_JOB_RUNNING,
		QUEUE_JOB_FAILED, QUEUE_JOB_RUNNING, QUEUE_JOB_CANCELLED, QUEUE_JOB_QUEUED,
	};

	(void)unused;
	build_rich(&s);
	assert_int_equal(s.n_jobs, 8);
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(s.jobs[i].id, i + 1);
		assert_int_equal(s.jobs[i].state, want[i]);
		assert_int_equal(s.jobs[i].cancel_requested, i == 2);
	}
	assert_int_equal(state_job_find(&s, 2)->n_attempts, 1);
	assert_string_equal(state_job_find(&s, 3)->error, "operator said so");
	assert_int_equal(state_job_find(&s, 5)->n_attempts, 3);
	assert_int_equal(state_job_find(&s, 6)->fixed_target, 3);
	assert_string_equal(state_job_find(&s, 7)->error, "operator said so");
	assert_int_equal(s.n_history, 3);
	assert_int_equal(s.history[0].job_id, 1);
	assert_int_equal(s.history[1].job_id, 5);
	assert_int_equal(s.history[2].job_id, 7);
	assert_int_equal(state_jobs_unfinished(&s), 5);
	state_free(&s);
}

static uint8_t *pack_state(const struct cluster_state *s, size_t *len)
{
	Drover__ClusterState msg;
	struct state_proto_storage st;
	uint8_t *buf;

	state_to_proto(s, &msg, &st);
	*len = drover__cluster_state__get_packed_size(&msg);
	buf = malloc(*len ? *len : 1);
	assert_int_equal(drover__cluster_state__pack(&msg, buf), *len);
	state_proto_storage_free(&st);
	return buf;
}

static int unpack_state(const uint8_t *buf, size_t len, struct cluster_state *ret)
{
	Drover__ClusterState *msg = drover__cluster_state__unpack(NULL, len, buf);
	int r;

	assert_non_null(msg);
	r = state_from_proto(msg, ret);
	drover__cluster_state__free_unpacked(msg, NULL);
	return r;
}

/* cancel_requested travels as its own field, and a job claiming it without a reason is refused. */
static void test_proto_cancel_requested(void **unused)
{
	struct cluster_state a, b;
	Drover__ClusterState msg;
	struct state_proto_storage st;
	size_t n_flagged = 0;

	(void)unused;
	build_rich(&a);
	assert_int_equal(jobs_cancel(&a, 2, 1950, ""), 1);
	state_to_proto(&a, &msg, &st);
	for (size_t i = 0; i < msg.n_jobs; i++) {
		assert_int_equal(msg.jobs[i]->cancel_requested,
				 state_job_find(&a, msg.jobs[i]->id)->cancel_requested);
		n_flagged += msg.jobs[i]->cancel_requested;
	}
	assert_true(n_flagged >= 1);
	/* Job 1 is done: a finished job cannot have a cancel pending. */
	assert_int_equal(msg.jobs[0]->id, 1);
	assert_int_equal(msg.jobs[0]->state, DROVER__JOB_STATE__JOB_STATE_DONE);
	msg.jobs[0]->cancel_requested = 1;
	memset(&b, 0x5a, sizeof(b));
	assert_int_equal(state_from_proto(&msg, &b), -EINVAL);
	state_proto_storage_free(&st);
	state_free(&a);
}

static void test_proto_roundtrip(void **unused)
{
	struct cluster_state a, b;
	uint8_t *buf, *buf2;
	size_t len, len2;
	struct queue_job *j;

	(void)unused;
	build_rich(&a);
	/* Job 4 (source 2) running with its cancellation requested. */
	assert_int_equal(jobs_cancel(&a, 2, 1950, ""), 1);
	assert_true(state_job_find(&a, 4)->cancel_requested);
	assert_true(a.n_history >= 3);

	buf = pack_state(&a, &len);
	assert_int_equal(unpack_state(buf, len, &b), 0);
	assert_int_equal(state_hash(&a), state_hash(&b));
	assert_int_equal(b.n_jobs, a.n_jobs);
	assert_int_equal(b.next_job_id, a.next_job_id);
	assert_int_equal(b.n_history, a.n_history);
	assert_memory_equal(b.history, a.history, a.n_history * sizeof(*a.history));
	assert_memory_equal(&b.limits, &a.limits, sizeof(a.limits));
	j = state_job_find(&b, 4);
	assert_true(j->cancel_requested);
	assert_int_equal(j->state, QUEUE_JOB_RUNNING);
	j = state_job_find(&b, 5);
	assert_int_equal(j->n_attempts, 3);
	assert_int_equal(j->attempts[1].started_ms, 1800);
	assert_int_equal(j->attempts[1].finished_ms, 1701);
	assert_string_equal(j->attempts[1].network, "mig-b");
	assert_string_equal(j->error, "no");
	/* The same bytes again: the encoding is canonical. */
	buf2 = pack_state(&b, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(buf2, buf, len);

	/* The adopted copy behaves like the original from here on. */
	assert_int_equal(job_finish(&a, 4, false, "x", 3000, 0, 0), 1);
	assert_int_equal(job_finish(&b, 4, false, "x", 3000, 0, 0), 1);
	assert_int_equal(state_job_find(&b, 4)->state, QUEUE_JOB_CANCELLED);
	assert_int_equal(state_hash(&a), state_hash(&b));

	free(buf);
	free(buf2);
	state_free(&a);
	state_free(&b);
}

/*
 * The totals (ClusterCounters): every end counted once, a retried attempt
 * not at all; kept through the state file's encoding; not hashed.
 */
static void test_counters(void **unused)
{
	struct cluster_state s, back;
	struct queue_view v;
	uint8_t *buf;
	uint64_t h;
	size_t len;

	(void)unused;
	setup_vms(&s);
	view_two_networks(&v);
	assert_int_equal(add_one(&s, "a", 1, 100), 1);
	assert_string_equal(dispatch_start(&s, &v, 1000), "mig-a");
	assert_int_equal(job_finish(&s, 1, false, "link down", 1500, 0, 0), 1);
	assert_int_equal(s.counters.migrations_failed, 0); /* re-queued: not over */
	assert_string_equal(dispatch_start(&s, &v, 1600), "mig-b");
	assert_int_equal(job_finish(&s, 1, true, "", 2000, 30, 100), 1);
	assert_int_equal(s.counters.migrations_ok, 1);
	assert_int_equal(add_one(&s, "b", 1, 3000), 1);
	assert_int_equal(jobs_cancel(&s, 1, 3100, ""), 1);
	assert_int_equal(s.counters.migrations_cancelled, 1);
	assert_int_equal(s.counters.migrations_failed, 0);

	h = state_hash(&s);
	s.counters.fences_confirmed = 5;
	assert_true(state_hash(&s) == h);
	buf = pack_state(&s, &len);
	assert_int_equal(unpack_state(buf, len, &back), 0);
	assert_int_equal(back.counters.migrations_ok, 1);
	assert_int_equal(back.counters.migrations_cancelled, 1);
	assert_int_equal(back.counters.fences_confirmed, 5);
	free(buf);
	state_free(&back);
	state_free(&s);
}

static void test_copy_is_deep(void **unused)
{
	struct cluster_state a, b;
	uint64_t h;

	(void)unused;
	build_rich(&a);
	h = state_hash(&a);
	state_copy(&a, &b);
	assert_int_equal(state_hash(&b), h);
	assert_ptr_not_equal(a.jobs, b.jobs);
	assert_ptr_not_equal(a.history, b.history);
	assert_int_equal(jobs_cancel(&b, 0, 5000, ""), 1);
	assert_int_equal(state_hash(&a), h);
	assert_int_not_equal(state_hash(&b), h);
	state_free(&a);
	state_free(&b);
}

/* The hash sees every replicated field of the queue, and not the blockers. */
static void test_hash_coverage(void **unused)
{
	struct cluster_state a, b;
	uint64_t h;

	(void)unused;
	build_rich(&a);
	h = state_hash(&a);
	state_copy(&a, &b);
	b.jobs[0].blocker = QUEUE_BLOCK_NO_MEMORY;
	strcpy(b.jobs[0].blocker_text, "no target has 1 MiB free");
	assert_int_equal(state_hash(&b), h);
	b.jobs[1].attempts[0].finished_ms++;
	assert_int_not_equal(state_hash(&b), h);
	state_free(&b);
	state_copy(&a, &b);
	b.next_job_id++;
	assert_int_not_equal(state_hash(&b), h);
	state_free(&b);
	state_copy(&a, &b);
	b.limits.caps[1].cap++;
	assert_int_not_equal(state_hash(&b), h);
	state_free(&b);
	state_copy(&a, &b);
	b.history[0].downtime_ms++;
	assert_int_not_equal(state_hash(&b), h);
	state_free(&b);
	state_copy(&a, &b);
	b.jobs[3].cancel_requested = !b.jobs[3].cancel_requested;
	assert_int_not_equal(state_hash(&b), h);
	state_free(&b);
	state_free(&a);
}

static void test_proto_rejects(void **unused)
{
	struct cluster_state a, ret, orig;
	Drover__ClusterState msg;
	struct state_proto_storage st;
	Drover__MigrationJob *j0, *j1;
	Drover__JobAttempt *att[QUEUE_MAX_ATTEMPTS + 1];
	Drover__HistoryEntry **hist;
	Drover__NetworkCap *caps[QUEUE_MAX_NETWORKS + 1];
	char longname[QUEUE_NAME_MAX + 1];
	uint64_t saved;

	(void)unused;
	build_rich(&a);
	state_init(&ret);
	ret.epoch = 4242;
	orig = ret;
	state_to_proto(&a, &msg, &st);
	assert_true(msg.n_jobs >= 2);
	j0 = msg.jobs[0];
	j1 = msg.jobs[1];
	memset(longname, 'n', QUEUE_NAME_MAX);
	longname[QUEUE_NAME_MAX] = '\0';

	assert_int_equal(state_from_proto(&msg, &ret), 0);
	state_free(&ret);
	ret = orig;

#define REJECT() assert_int_equal(state_from_proto(&msg, &ret), -EINVAL)
	saved = j1->id;
	j1->id = j0->id; /* duplicate */
	REJECT();
	j1->id = 0;
	REJECT();
	j1->id = a.next_job_id; /* not yet handed out */
	REJECT();
	j1->id = saved;
	msg.jobs[0] = j1; /* unsorted */
	msg.jobs[1] = j0;
	REJECT();
	msg.jobs[0] = j0;
	msg.jobs[1] = j1;
	msg.jobs[1] = NULL;
	REJECT();
	msg.jobs[1] = j1;

	assert_int_equal(j0->state, DROVER__JOB_STATE__JOB_STATE_DONE);
	j0->state = DROVER__JOB_STATE__JOB_STATE_UNSPECIFIED;
	REJECT();
	j0->state = 6;
	REJECT();
	j0->state = DROVER__JOB_STATE__JOB_STATE_DONE;
	j0->origin = 7;
	REJECT();
	j0->origin = -1;
	REJECT();
	j0->origin = (Drover__JobOrigin)a.jobs[0].origin;
	j0->priority = 5;
	REJECT();
	j0->priority = (Drover__VmPriority)a.jobs[0].priority;
	j0->vm = longname;
	REJECT();
	j0->vm = "bad name";
	REJECT();
	j0->vm = NULL;
	REJECT();
	j0->vm = (char *)a.jobs[0].vm;
	j0->source = 0;
	REJECT();
	j0->source = a.jobs[0].source;
	j0->network = longname;
	REJECT();
	j0->network = (char *)a.jobs[0].network;

	/* Attempts: at most QUEUE_MAX_ATTEMPTS, each well-formed. */
	for (size_t k = 0; k <= QUEUE_MAX_ATTEMPTS; k++)
		att[k] = j0->attempts[0];
	{
		Drover__JobAttempt **saved_att = j0->attempts;
		size_t saved_n = j0->n_attempts;

		j0->attempts = att;
		j0->n_attempts = QUEUE_MAX_ATTEMPTS + 1;
		REJECT();
		j0->n_attempts = QUEUE_MAX_ATTEMPTS;
		assert_int_equal(state_from_proto(&msg, &ret), 0);
		state_free(&ret);
		ret = orig;
		att[3] = NULL;
		REJECT();
		j0->attempts = saved_att;
		j0->n_attempts = saved_n;
	}

	/* A running job needs its target and network; a queued one has no error. */
	for (size_t i = 0; i < msg.n_jobs; i++) {
		Drover__MigrationJob *m = msg.jobs[i];

		if (m->state == DROVER__JOB_STATE__JOB_STATE_RUNNING) {
			uint32_t t = m->target;

			m->target = 0;
			REJECT();
			m->target = m->source;
			REJECT();
			m->target = t;
		} else if (m->state == DROVER__JOB_STATE__JOB_STATE_QUEUED) {
			m->error = "stale";
			REJECT();
			m->error = "";
			/* Two unfinished jobs for one VM. */
			saved = 0;
			for (size_t k = 0; k < msg.n_jobs; k++)
				if (k != i && msg.jobs[k]->state == DROVER__JOB_STATE__JOB_STATE_RUNNING) {
					char *vm = m->vm;

					m->vm = msg.jobs[k]->vm;
					REJECT();
					m->vm = vm;
					saved = 1;
					break;
				}
			assert_int_equal(saved, 1);
		}
	}

	/* History. */
	assert_true(msg.n_history >= 1);
	hist = msg.history;
	hist[0]->result = DROVER__JOB_STATE__JOB_STATE_RUNNING;
	REJECT();
	hist[0]->result = DROVER__JOB_STATE__JOB_STATE_DONE;
	hist[0]->job_id = a.next_job_id;
	REJECT();
	hist[0]->job_id = a.history[0].job_id;
	hist[0]->error = NULL;
	REJECT();
	hist[0]->error = "";
	msg.n_history = DROVER_HISTORY_MAX + 1;
	REJECT();
	msg.n_history = a.n_history;

	/* Limits. */
	for (size_t k = 0; k <= QUEUE_MAX_NETWORKS; k++)
		caps[k] = msg.limits->network_caps[0];
	{
		Drover__NetworkCap **saved_caps = msg.limits->network_caps;
		size_t saved_n = msg.limits->n_network_caps;

		msg.limits->network_caps = caps;
		msg.limits->n_network_caps = QUEUE_MAX_NETWORKS + 1;
		REJECT();
		msg.limits->n_network_caps = 2; /* the same network twice */
		REJECT();
		msg.limits->network_caps = saved_caps;
		msg.limits->n_network_caps = saved_n;
	}
	msg.n_jobs = DROVER_MAX_JOBS + 1;
	REJECT();
	msg.n_jobs = a.n_jobs;
	/* next_job_id 0 reads as 1, so existing jobs are above it. */
	msg.next_job_id = 0;
	REJECT();
	msg.next_job_id = a.next_job_id;
#undef REJECT
	assert_memory_equal(&ret, &orig, sizeof(ret));

	/* Everything restored: accepted again, and equal. */
	assert_int_equal(state_from_proto(&msg, &ret), 0);
	assert_int_equal(state_hash(&ret), state_hash(&a));
	state_proto_storage_free(&st);
	state_free(&ret);
	state_free(&a);
}

/* A ClusterState written before the queue existed: no jobs, limits or ids. */
static void test_proto_old_state(void **unused)
{
	Drover__ClusterState msg = DROVER__CLUSTER_STATE__INIT;
	Drover__NodeConfig n = DROVER__NODE_CONFIG__INIT, *np = &n;
	struct cluster_state s, fresh;

	(void)unused;
	msg.epoch = 17;
	n.id = 3;
	n.state = MAINTENANCE;
	msg.n_nodes = 1;
	msg.nodes = &np;
	assert_int_equal(state_from_proto(&msg, &s), 0);
	assert_int_equal(s.epoch, 17);
	assert_int_equal(s.n_jobs, 0);
	assert_int_equal(s.next_job_id, 1);
	assert_int_equal(s.n_history, 0);
	state_init(&fresh);
	assert_memory_equal(&s.limits, &fresh.limits, sizeof(s.limits));
	/* The queue works on it. */
	assert_int_equal(add_vm(&s, "a", 64, 1, 2), 1);
	assert_int_equal(add_one(&s, "a", 3, 1), 1);
	assert_int_equal(s.jobs[0].id, 1);
	state_free(&s);
}

/* Two replicas, and a third that joins midway by the state exchange, agree. */
static void test_replicas_agree(void **unused)
{
	struct cluster_state a, b, c;
	const char *networks[] = { "mig-a", "mig-b", "", NULL };
	const char *reasons[] = { "", "link down", "timeout", NULL };
	bool have_c = false;
	uint64_t changes = 0;
	int counts[4] = { 0 };

	(void)unused;
	register_many(&a, 12);
	register_many(&b, 12);
	srandom(7);
	for (int i = 0; i < 12000; i++) {
		int op = (int)(random() % 10), ra, rb, rc = 0;
		uint64_t id = (uint64_t)(random() % (a.next_job_id + 2));
		uint32_t node = (uint32_t)(random() % 4);
		char name[16];

		snprintf(name, sizeof(name), "vm%04d", (int)(random() % 14)); /* 12, 13 unknown */
		if (op < 3) {
			struct spec sp[2] = { { name, node, 0, (int)(random() % 5) },
					      { "vm0001", node, (uint32_t)(random() % 4), MANUAL } };
			size_t n = (size_t)(random() % 3);

			ra = jobs_add(&a, (uint64_t)i, sp, n);
			rb = jobs_add(&b, (uint64_t)i, sp, n);
			if (have_c)
				rc = jobs_add(&c, (uint64_t)i, sp, n);
		} else if (op < 6) {
			const char *net = networks[random() % 4];

			ra = job_start(&a, id, node, net, (uint64_t)i);
			rb = job_start(&b, id, node, net, (uint64_t)i);
			if (have_c)
				rc = job_start(&c, id, node, net, (uint64_t)i);
		} else if (op < 9) {
			bool ok = random() % 3 == 0;
			const char *why = reasons[random() % 4];

			ra = job_finish(&a, id, ok, why, (uint64_t)i, 1, 2);
			rb = job_finish(&b, id, ok, why, (uint64_t)i, 1, 2);
			if (have_c)
				rc = job_finish(&c, id, ok, why, (uint64_t)i, 1, 2);
		} else if (random() % 4) {
			ra = set_node(&a, node + 1, DRAINING);
			rb = set_node(&b, node + 1, DRAINING);
			if (have_c)
				rc = set_node(&c, node + 1, DRAINING);
		} else {
			ra = jobs_cancel(&a, node, (uint64_t)i, "");
			rb = jobs_cancel(&b, node, (uint64_t)i, "");
			if (have_c)
				rc = jobs_cancel(&c, node, (uint64_t)i, "");
		}
		assert_int_equal(ra, rb);
		if (have_c)
			assert_int_equal(ra, rc);
		if (ra == 1)
			changes++;
		counts[ra == 1 ? 0 : ra == 0 ? 1 : ra == -EINVAL ? 2 : 3]++;
		/* The hash walks the whole queue: every few messages is enough to catch a drift. */
		if (i % 16 == 0) {
			assert_int_equal(state_hash(&a), state_hash(&b));
			if (have_c)
				assert_int_equal(state_hash(&a), state_hash(&c));
		}
		if (i == 7000) {
			size_t len;
			uint8_t *buf = pack_state(&b, &len);

			assert_int_equal(unpack_state(buf, len, &c), 0);
			free(buf);
			have_c = true;
		}
	}
	assert_int_equal(state_hash(&a), state_hash(&b));
	assert_int_equal(state_hash(&a), state_hash(&c));
	assert_int_equal(a.epoch, 12 + changes);
	assert_int_equal(b.epoch, a.epoch);
	/* The stream exercised changes, no-ops and refusals. */
	assert_true(counts[0] > 1000);
	assert_true(counts[1] > 100);
	assert_true(counts[2] > 1000);
	assert_true(a.n_history > 100);
	state_free(&a);
	state_free(&b);
	state_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_add_rules),
		cmocka_unit_test(test_start_finish_ok),
		cmocka_unit_test(test_start_invalid),
		cmocka_unit_test(test_failure_retry),
		cmocka_unit_test(test_cancel_queued_vs_running),
		cmocka_unit_test(test_cancel_running_then_ok),
		cmocka_unit_test(test_cancel_node_states),
		cmocka_unit_test(test_trim_finished),
		cmocka_unit_test(test_history_bound),
		cmocka_unit_test(test_add_full),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_rich_state_contents),
		cmocka_unit_test(test_proto_roundtrip),
		cmocka_unit_test(test_proto_cancel_requested),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_copy_is_deep),
		cmocka_unit_test(test_hash_coverage),
		cmocka_unit_test(test_proto_rejects),
		cmocka_unit_test(test_proto_old_state),
		cmocka_unit_test(test_replicas_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
