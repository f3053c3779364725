/*
 * The migration queue as a pure decision: limits hold under random event
 * sequences, migrations spread over equal networks, priority and age order
 * the queue, every blocker reads as the operator sentence, a failed attempt
 * retries on the next network, and the same inputs give the same actions.
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

#include "queue.h"

#define MAX_TEST_JOBS 40

static struct queue_view view;
static struct queue_job jobs[MAX_TEST_JOBS];
static struct queue_action acts[MAX_TEST_JOBS];

static void add_node(struct queue_view *v, uint32_t id, uint64_t mib, uint32_t vcpus)
{
	struct queue_node n = {.id = id, .online = true, .usable_target = true, .free_mib = mib,
			       .free_vcpus = vcpus};

	snprintf(n.name, sizeof(n.name), "n%u", (unsigned)id);
	assert_int_equal(queue_view_add_node(v, &n), 0);
}

static void link_all(struct queue_view *v, size_t k)
{
	for (size_t a = 0; a < v->n_nodes; a++)
		for (size_t b = 0; b < v->n_nodes; b++)
			if (a != b)
				assert_int_equal(queue_view_set_usable(v, k, v->nodes[a].id, v->nodes[b].id, true), 0);
}

/* n nodes n1..nN with plenty of room, networks mig-a[, mig-b] linking all of them. */
static void simple_view(size_t n_nodes, size_t n_nets, uint32_t cap)
{
	static const char *names[] = {"mig-a", "mig-b", "mig-c"};

	queue_view_init(&view);
	for (uint32_t i = 1; i <= n_nodes; i++)
		add_node(&view, i, 65536, 64);
	for (size_t k = 0; k < n_nets; k++) {
		assert_int_equal(queue_view_add_network(&view, names[k], cap), 0);
		link_all(&view, k);
	}
}

static void job(size_t i, uint64_t id, enum queue_priority p, uint64_t mib, uint32_t source, uint64_t created)
{
	char vm[16];

	snprintf(vm, sizeof(vm), "vm%u", (unsigned)id);
	assert_int_equal(queue_job_init(&jobs[i], id, vm, p, mib, 1, source, created), 0);
}

static size_t dispatch(size_t n)
{
	size_t got = 99;

	assert_int_equal(queue_dispatch(&view, jobs, n, 1000, acts, MAX_TEST_JOBS, &got), 0);
	return got;
}

static void start_all(size_t n_acts)
{
	for (size_t i = 0; i < n_acts; i++)
		assert_int_equal(queue_job_started(&jobs[acts[i].job], &acts[i]), 0);
}

/* ---- random sequences ---- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	/* xorshift64*: fixed seed, the same sequences on every run. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * UINT64_C(2685821657736338717)) >> 33) % n;
}

static void random_cluster(size_t *ret_n_jobs)
{
	size_t n_nodes = 2 + rnd(7), n_nets = 1 + rnd(3), n_jobs = 1 + rnd(30);
	static const char *names[] = {"mig-a", "mig-b", "corosync"};

	queue_view_init(&view);
	view.limits.per_source = 1 + rnd(3);
	view.limits.per_target = 1 + rnd(3);
	view.limits.cluster = rnd(7);
	for (uint32_t i = 1; i <= n_nodes; i++) {
		struct queue_node n = {.id = i * 3 + rnd(2), .online = rnd(10) != 0,
				       .usable_target = rnd(5) != 0, .free_mib = rnd(16384),
				       .free_vcpus = rnd(16)};

		snprintf(n.name, sizeof(n.name), "n%u", (unsigned)n.id);
		assert_int_equal(queue_view_add_node(&view, &n), 0);
	}
	for (size_t k = 0; k < n_nets; k++) {
		assert_int_equal(queue_view_add_network(&view, names[k], rnd(4)), 0);
		for (size_t a = 0; a < n_nodes; a++)
			for (size_t b = a + 1; b < n_nodes; b++)
				if (rnd(5) != 0)
					queue_view_set_usable(&view, k, view.nodes[a].id, view.nodes[b].id, true);
	}
	for (size_t i = 0; i < n_jobs; i++) {
		char vm[16];

		snprintf(vm, sizeof(vm), "vm%zu", i);
		assert_int_equal(queue_job_init(&jobs[i], 1000 - i, vm, (enum queue_priority)rnd(5),
						128 + rnd(4096), 1 + rnd(4),
						view.nodes[rnd((uint32_t)n_nodes)].id, rnd(50)),
				 0);
		jobs[i].max_retries = rnd(4);
		if (rnd(10) == 0)
			jobs[i].fixed_target = view.nodes[rnd((uint32_t)n_nodes)].id;
	}
	*ret_n_jobs = n_jobs;
}

static int idx_of(uint32_t id)
{
	for (size_t i = 0; i < view.n_nodes; i++)
		if (view.nodes[i].id == id)
			return (int)i;
	return -1;
}

static int net_of(const char *name)
{
	for (size_t k = 0; k < view.n_networks; k++)
		if (strcmp(view.networks[k].name, name) == 0)
			return (int)k;
	return -1;
}

static void check_invariants(size_t n_jobs)
{
	uint32_t out[QUEUE_MAX_NODES] = {0}, in[QUEUE_MAX_NODES] = {0}, net[QUEUE_MAX_NETWORKS] = {0};
	uint64_t mib[QUEUE_MAX_NODES] = {0}, cpu[QUEUE_MAX_NODES] = {0};
	uint32_t cluster = 0;

	for (size_t i = 0; i < n_jobs; i++) {
		const struct queue_job *j = &jobs[i];

		if (j->state == QUEUE_JOB_QUEUED) {
			assert_int_not_equal(j->blocker, QUEUE_BLOCK_NONE);
			assert_true(j->blocker_text[0] != '\0');
		} else {
			assert_int_equal(j->blocker, QUEUE_BLOCK_NONE);
		}
		if (j->state != QUEUE_JOB_RUNNING)
			continue;
		int s = idx_of(j->source), t = idx_of(j->target), k = net_of(j->network);

		assert_true(s >= 0 && t >= 0 && k >= 0 && s != t);
		cluster++;
		out[s]++;
		in[t]++;
		net[k]++;
		mib[t] += j->memory_mib;
		cpu[t] += j->vcpus;
	}
	if (view.limits.cluster)
		assert_true(cluster <= view.limits.cluster);
	for (size_t i = 0; i < view.n_nodes; i++) {
		assert_true(out[i] <= view.limits.per_source);
		assert_true(in[i] <= view.limits.per_target);
		assert_true(mib[i] <= view.nodes[i].free_mib);
		assert_true(cpu[i] <= view.nodes[i].free_vcpus);
	}
	for (size_t k = 0; k < view.n_networks; k++)
		if (view.networks[k].cap)
			assert_true(net[k] <= view.networks[k].cap);
}

static void test_limits_never_exceeded(void **unused)
{
	size_t started = 0, failed_final = 0, blocked_kinds[QUEUE_BLOCK_BATCH_FULL + 1] = {0};

	(void)unused;
	rng_state = UINT64_C(0x9e3779b97f4a7c15);
	for (int seq = 0; seq < 2000; seq++) {
		size_t n_jobs, got;

		random_cluster(&n_jobs);
		for (int round = 0; round < 12; round++) {
			size_t max = 1 + rnd(8);

			assert_int_equal(queue_dispatch(&view, jobs, n_jobs, (uint64_t)round * 1000, acts, max, &got), 0);
			assert_true(got <= max);
			for (size_t a = 0; a < got; a++) {
				const struct queue_action *ac = &acts[a];
				const struct queue_job *j = &jobs[ac->job];
				int s = idx_of(j->source), t = idx_of(ac->target);

				assert_int_equal(j->state, QUEUE_JOB_QUEUED);
				assert_int_equal(ac->job_id, j->id);
				assert_true(t >= 0 && t != s);
				assert_true(view.nodes[t].online && view.nodes[t].usable_target);
				assert_true(view.usable[ac->network][s] & (UINT64_C(1) << t));
				if (j->fixed_target)
					assert_int_equal(ac->target, j->fixed_target);
				assert_int_equal(queue_job_started(&jobs[ac->job], ac), 0);
				started++;
			}
			check_invariants(n_jobs);
			for (size_t i = 0; i < n_jobs; i++)
				if (jobs[i].state == QUEUE_JOB_QUEUED)
					blocked_kinds[jobs[i].blocker]++;

			/* Events: completions move the VM's memory, failures retry, links and nodes flap. */
			for (size_t i = 0; i < n_jobs; i++) {
				struct queue_job *j = &jobs[i];
				uint32_t r = rnd(12);

				if (j->state != QUEUE_JOB_RUNNING)
					continue;
				if (r < 4) {
					int t = idx_of(j->target), s = idx_of(j->source);

					assert_int_equal(queue_job_done(j), 0);
					view.nodes[t].free_mib -= j->memory_mib;
					view.nodes[t].free_vcpus -= j->vcpus;
					view.nodes[s].free_mib += j->memory_mib;
					view.nodes[s].free_vcpus += j->vcpus;
				} else if (r < 7) {
					size_t before = j->n_attempts;
					int rc = queue_job_failed(j, j->network, "network down");

					assert_true(rc == 0 || rc == 1);
					assert_int_equal(j->n_attempts, before + 1);
					assert_int_equal(j->attempts[before].result, QUEUE_RESULT_FAILED);
					assert_int_equal(j->state, rc ? QUEUE_JOB_FAILED : QUEUE_JOB_QUEUED);
					failed_final += rc == 1;
				}
			}
			if (rnd(3) == 0) {
				size_t k = rnd((uint32_t)view.n_networks);
				uint32_t a = view.nodes[rnd((uint32_t)view.n_nodes)].id;
				uint32_t b = view.nodes[rnd((uint32_t)view.n_nodes)].id;

				if (a != b)
					queue_view_set_usable(&view, k, a, b, rnd(2));
			}
			if (rnd(4) == 0) {
				struct queue_node *nd = &view.nodes[rnd((uint32_t)view.n_nodes)];

				nd->usable_target = !nd->usable_target;
			}
			if (rnd(6) == 0)
				queue_job_cancel(&jobs[rnd((uint32_t)n_jobs)]);
		}
	}
	/* The sequences must actually exercise the queue, not only block. */
	assert_true(started > 10000);
	assert_true(failed_final > 100);
	for (int b = QUEUE_BLOCK_SOURCE_OFFLINE; b <= QUEUE_BLOCK_BATCH_FULL; b++)
		assert_true(blocked_kinds[b] > 0);
}

/* ---- network spreading ---- */

static void test_network_spreading(void **unused)
{
	size_t got;

	(void)unused;
	simple_view(3, 2, 0);
	job(0, 1, QUEUE_PRIO_MEDIUM, 1024, 1, 10);
	job(1, 2, QUEUE_PRIO_MEDIUM, 1024, 1, 20);
	got = dispatch(2);
	assert_int_equal(got, 2);
	assert_int_not_equal(acts[0].network, acts[1].network);
	assert_string_not_equal(acts[0].network_name, acts[1].network_name);
	/* Least loaded targets: both have the same room, so n2 first, then n3 (n2 now has less). */
	assert_int_equal(acts[0].target, 2);
	assert_int_equal(acts[1].target, 3);

	/* With one target only, both still spread over the two networks. */
	simple_view(2, 2, 0);
	job(0, 1, QUEUE_PRIO_MEDIUM, 1024, 1, 10);
	job(1, 2, QUEUE_PRIO_MEDIUM, 1024, 1, 20);
	start_all(dispatch(2));
	assert_int_equal(jobs[0].state, QUEUE_JOB_RUNNING);
	assert_int_equal(jobs[1].state, QUEUE_JOB_RUNNING);
	assert_string_equal(jobs[0].network, "mig-a");
	assert_string_equal(jobs[1].network, "mig-b");
}

/* ---- priority order ---- */

static void test_priority_order(void **unused)
{
	size_t got;

	(void)unused;
	simple_view(3, 1, 0);
	view.limits.per_source = 1;
	/* Low and old, high and young: high goes first. */
	job(0, 1, QUEUE_PRIO_LOW, 512, 1, 0);
	job(1, 2, QUEUE_PRIO_HIGH, 512, 1, 500);
	job(2, 3, QUEUE_PRIO_NONE, 512, 1, 0);
	job(3, 4, QUEUE_PRIO_UNSPECIFIED, 512, 1, 0); /* counts as medium */
	got = dispatch(4);
	assert_int_equal(got, 1);
	assert_int_equal(acts[0].job_id, 2);
	start_all(got);
	assert_int_equal(jobs[0].blocker, QUEUE_BLOCK_SOURCE_LIMIT);
	assert_int_equal(queue_job_done(&jobs[1]), 0);
	/* Then unspecified (medium), low, none. */
	got = dispatch(4);
	assert_int_equal(acts[0].job_id, 4);
	start_all(got);
	assert_int_equal(queue_job_done(&jobs[3]), 0);
	got = dispatch(4);
	assert_int_equal(acts[0].job_id, 1);
	start_all(got);
	assert_int_equal(queue_job_done(&jobs[0]), 0);
	got = dispatch(4);
	assert_int_equal(acts[0].job_id, 3);

	/* Same priority: the older goes first, whatever the ids and input order. */
	simple_view(3, 1, 0);
	view.limits.per_source = 1;
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 300);
	job(1, 2, QUEUE_PRIO_MEDIUM, 512, 1, 100);
	job(2, 3, QUEUE_PRIO_MEDIUM, 512, 1, 200);
	got = dispatch(3);
	assert_int_equal(got, 1);
	assert_int_equal(acts[0].job_id, 2);
	/* Same priority and age: the lower id. */
	jobs[0].created_ms = 100;
	got = dispatch(3);
	assert_int_equal(acts[0].job_id, 1);
}

/* ---- blocker reasons ---- */

static void assert_blocker(const struct queue_job *j, enum queue_blocker b, const char *text)
{
	assert_int_equal(j->state, QUEUE_JOB_QUEUED);
	assert_string_equal(j->blocker_text, text);
	assert_int_equal(j->blocker, b);
}

static void test_blockers(void **unused)
{
	size_t got;

	(void)unused;
	/* Source: three jobs from n1, limit 2. */
	simple_view(3, 2, 0);
	for (size_t i = 0; i < 3; i++)
		job(i, i + 1, QUEUE_PRIO_MEDIUM, 512, 1, i);
	got = dispatch(3);
	assert_int_equal(got, 2);
	assert_blocker(&jobs[2], QUEUE_BLOCK_SOURCE_LIMIT, "source outgoing limit 2/2");
	/* Still so once they run. */
	start_all(got);
	assert_int_equal(dispatch(3), 0);
	assert_blocker(&jobs[2], QUEUE_BLOCK_SOURCE_LIMIT, "source outgoing limit 2/2");

	/* Target: n2 is the only usable target, two from n1 fill it, n3's job waits. */
	simple_view(3, 2, 0);
	view.nodes[0].usable_target = false;
	view.nodes[2].usable_target = false;
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	job(1, 2, QUEUE_PRIO_MEDIUM, 512, 1, 1);
	job(2, 3, QUEUE_PRIO_MEDIUM, 512, 3, 2);
	assert_int_equal(dispatch(3), 2);
	assert_blocker(&jobs[2], QUEUE_BLOCK_TARGET_LIMIT, "target n2 incoming limit 2/2");

	/* Network: n1 and n3 only, mig-a does not link them. */
	queue_view_init(&view);
	add_node(&view, 1, 4096, 8);
	add_node(&view, 3, 4096, 8);
	assert_int_equal(queue_view_add_network(&view, "mig-a", 0), 0);
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	assert_int_equal(dispatch(1), 0);
	assert_blocker(&jobs[0], QUEUE_BLOCK_NO_NETWORK, "no usable network between n1 and n3");
	/* Link it and the job goes. */
	assert_int_equal(queue_view_set_usable(&view, 0, 1, 3, true), 0);
	assert_int_equal(dispatch(1), 1);
	assert_int_equal(jobs[0].blocker, QUEUE_BLOCK_NONE);

	/* Memory: nobody has 512 MiB, counting what is already migrating in. */
	simple_view(3, 1, 0);
	view.nodes[1].free_mib = 256;
	view.nodes[2].free_mib = 1000;
	job(0, 1, QUEUE_PRIO_MEDIUM, 600, 1, 0);
	job(1, 2, QUEUE_PRIO_MEDIUM, 512, 1, 1);
	assert_int_equal(dispatch(2), 1);
	assert_int_equal(acts[0].target, 3);
	assert_blocker(&jobs[1], QUEUE_BLOCK_NO_MEMORY, "no target has 512 MiB free");
	/* vCPUs, and no target at all. */
	simple_view(2, 1, 0);
	view.nodes[1].free_vcpus = 2;
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	jobs[0].vcpus = 4;
	assert_int_equal(dispatch(1), 0);
	assert_blocker(&jobs[0], QUEUE_BLOCK_NO_VCPUS, "no target has 4 vCPUs free");
	view.nodes[1].online = false;
	assert_int_equal(dispatch(1), 0);
	assert_blocker(&jobs[0], QUEUE_BLOCK_NO_TARGET, "no usable target node");
	view.nodes[0].online = false;
	assert_int_equal(dispatch(1), 0);
	assert_blocker(&jobs[0], QUEUE_BLOCK_SOURCE_OFFLINE, "source n1 is offline");

	/* Network cap: one network with cap 1. */
	simple_view(3, 1, 1);
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	job(1, 2, QUEUE_PRIO_MEDIUM, 512, 1, 1);
	assert_int_equal(dispatch(2), 1);
	assert_blocker(&jobs[1], QUEUE_BLOCK_NETWORK_LIMIT, "network mig-a limit 1/1");

	/* Cluster: limit 4, five jobs from three sources to anyone. */
	simple_view(4, 1, 0);
	view.limits.per_target = 0;
	view.limits.cluster = 4;
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	job(1, 2, QUEUE_PRIO_MEDIUM, 512, 1, 1);
	job(2, 3, QUEUE_PRIO_MEDIUM, 512, 2, 2);
	job(3, 4, QUEUE_PRIO_MEDIUM, 512, 2, 3);
	job(4, 5, QUEUE_PRIO_MEDIUM, 512, 3, 4);
	assert_int_equal(dispatch(5), 4);
	assert_blocker(&jobs[4], QUEUE_BLOCK_CLUSTER_LIMIT, "cluster limit 4/4");

	/* Fixed target, and a full action array. */
	simple_view(3, 1, 0);
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	job(1, 2, QUEUE_PRIO_MEDIUM, 512, 1, 1);
	jobs[0].fixed_target = 3;
	view.nodes[2].online = false;
	got = 7;
	assert_int_equal(queue_dispatch(&view, jobs, 2, 0, acts, 0, &got), 0);
	assert_int_equal(got, 0);
	assert_blocker(&jobs[0], QUEUE_BLOCK_NO_TARGET, "target n3 is offline");
	assert_blocker(&jobs[1], QUEUE_BLOCK_BATCH_FULL, "waiting for the next dispatch round");
	assert_string_equal(queue_blocker_name(QUEUE_BLOCK_SOURCE_LIMIT), "source-limit");
}

/* ---- retry on the next network ---- */

static void test_retry_next_network(void **unused)
{
	(void)unused;
	simple_view(2, 2, 0);
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	jobs[0].max_retries = 2;

	start_all(dispatch(1));
	assert_string_equal(jobs[0].network, "mig-a");
	assert_int_equal(queue_job_failed(&jobs[0], "mig-a", "network down"), 0);
	assert_int_equal(jobs[0].state, QUEUE_JOB_QUEUED);
	assert_int_equal(jobs[0].n_attempts, 1);
	assert_string_equal(jobs[0].attempts[0].network, "mig-a");
	assert_int_equal(jobs[0].attempts[0].result, QUEUE_RESULT_FAILED);
	assert_string_equal(jobs[0].attempts[0].reason, "network down");
	assert_int_equal(jobs[0].attempts[0].target, 2);

	/* mig-a is still reported usable: the retry avoids it anyway. */
	assert_int_equal(dispatch(1), 1);
	assert_string_equal(acts[0].network_name, "mig-b");
	start_all(1);
	assert_int_equal(queue_job_failed(&jobs[0], "mig-b", "stalled"), 0);
	/* Back to mig-a, the network it failed on least recently. */
	assert_int_equal(dispatch(1), 1);
	assert_string_equal(acts[0].network_name, "mig-a");
	start_all(1);
	/* Third failure with two retries allowed: failed for good, history kept. */
	assert_int_equal(queue_job_failed(&jobs[0], "mig-a", "network down"), 1);
	assert_int_equal(jobs[0].state, QUEUE_JOB_FAILED);
	assert_int_equal(jobs[0].n_attempts, 3);
	assert_string_equal(jobs[0].attempts[1].network, "mig-b");
	assert_string_equal(jobs[0].attempts[1].reason, "stalled");
	assert_int_equal(dispatch(1), 0);
	assert_int_equal(jobs[0].blocker, QUEUE_BLOCK_NONE);
	assert_int_equal(queue_job_failed(&jobs[0], "mig-a", "x"), -EINVAL);

	/* Excluded but the other network is full: wait for it, say so. */
	simple_view(3, 2, 1);
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	job(1, 2, QUEUE_PRIO_MEDIUM, 512, 3, 1);
	start_all(dispatch(2));
	assert_string_equal(jobs[0].network, "mig-a");
	assert_string_equal(jobs[1].network, "mig-b");
	assert_int_equal(queue_job_failed(&jobs[0], "mig-a", "network down"), 0);
	assert_int_equal(dispatch(2), 0);
	assert_blocker(&jobs[0], QUEUE_BLOCK_NETWORK_LIMIT, "network mig-b limit 1/1");

	/* A single network is retried on, not excluded forever. */
	simple_view(2, 1, 0);
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	start_all(dispatch(1));
	assert_int_equal(queue_job_failed(&jobs[0], "mig-a", "network down"), 0);
	assert_int_equal(dispatch(1), 1);
	assert_string_equal(acts[0].network_name, "mig-a");
	start_all(1);
	assert_int_equal(queue_job_done(&jobs[0]), 0);
	assert_int_equal(jobs[0].attempts[1].result, QUEUE_RESULT_OK);
}

/* ---- determinism ---- */

/*
 * A last-resort network (a corosync link by default) carries nothing while
 * another network links the pair, however idle it is; it takes over when the
 * others are down, and for the retry of a job whose only other network failed.
 */
static void test_last_resort(void **unused)
{
	size_t n;

	(void)unused;
	simple_view(3, 3, 0);
	assert_int_equal(queue_view_set_last_resort(&view, 2, true), 0);
	assert_int_equal(queue_view_set_last_resort(&view, 3, true), -ENOENT);
	view.limits.per_source = 4;
	view.limits.per_target = 4;
	for (size_t i = 0; i < 4; i++)
		job(i, i + 1, QUEUE_PRIO_MEDIUM, 1024, 1, 10 + i);
	n = dispatch(4);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		assert_string_not_equal(acts[i].network_name, "mig-c");

	/* mig-a and mig-b down between n1 and n2: the last resort carries n1 -> n2. */
	simple_view(2, 3, 0);
	assert_int_equal(queue_view_set_last_resort(&view, 2, true), 0);
	assert_int_equal(queue_view_set_usable(&view, 0, 1, 2, false), 0);
	assert_int_equal(queue_view_set_usable(&view, 1, 1, 2, false), 0);
	job(0, 1, QUEUE_PRIO_MEDIUM, 1024, 1, 10);
	assert_int_equal(dispatch(1), 1);
	assert_string_equal(acts[0].network_name, "mig-c");

	/* Only mig-a links the pair besides the last resort, and the job just failed on it. */
	simple_view(2, 3, 0);
	assert_int_equal(queue_view_set_last_resort(&view, 2, true), 0);
	assert_int_equal(queue_view_set_usable(&view, 1, 1, 2, false), 0);
	job(0, 1, QUEUE_PRIO_MEDIUM, 1024, 1, 10);
	assert_int_equal(dispatch(1), 1);
	assert_string_equal(acts[0].network_name, "mig-a");
	start_all(1);
	assert_int_equal(queue_job_failed(&jobs[0], "mig-a", "stalled"), 0);
	assert_int_equal(dispatch(1), 1);
	assert_string_equal(acts[0].network_name, "mig-c");

	/* A primary at its cap makes the job wait; it does not spill onto the last resort. */
	simple_view(2, 2, 1);
	assert_int_equal(queue_view_set_last_resort(&view, 1, true), 0);
	view.limits.per_source = 4;
	job(0, 1, QUEUE_PRIO_MEDIUM, 1024, 1, 10);
	job(1, 2, QUEUE_PRIO_MEDIUM, 1024, 1, 11);
	assert_int_equal(dispatch(2), 1);
	assert_string_equal(acts[0].network_name, "mig-a");
	assert_int_equal(jobs[1].blocker, QUEUE_BLOCK_NETWORK_LIMIT);
}

/*
 * `vm migrate --network mig-b`: the job goes over mig-b or waits, even when
 * mig-a is the preferred one, has nothing running, or mig-b just failed it.
 */
static void test_fixed_network(void **unused)
{
	(void)unused;
	simple_view(2, 2, 0);
	job(0, 1, QUEUE_PRIO_MEDIUM, 1024, 1, 10);
	strcpy(jobs[0].fixed_network, "mig-b");
	jobs[0].fixed_target = 2;
	assert_int_equal(dispatch(1), 1);
	assert_string_equal(acts[0].network_name, "mig-b");
	start_all(1);
	assert_int_equal(queue_job_failed(&jobs[0], "mig-b", "stalled"), 0);
	assert_int_equal(dispatch(1), 1);
	assert_string_equal(acts[0].network_name, "mig-b");
	/* mig-b down between the pair: it waits, it does not take mig-a. */
	simple_view(2, 2, 0);
	assert_int_equal(queue_view_set_usable(&view, 1, 1, 2, false), 0);
	job(0, 1, QUEUE_PRIO_MEDIUM, 1024, 1, 10);
	strcpy(jobs[0].fixed_network, "mig-b");
	assert_int_equal(dispatch(1), 0);
	assert_int_not_equal(jobs[0].blocker, QUEUE_BLOCK_NONE);
}

/*
 * The dry run's simulation: six 4 GiB VMs leave n1 under 2 out / 2 in; the
 * targets have room for five. Two start at once, two more in each round after
 * (having waited on the source limit), and the last never starts, for lack
 * of memory; the view ends with the memory moved.
 */
static void test_plan(void **unused)
{
	struct queue_plan_step steps[6];
	uint32_t per_wave[4] = {0};

	(void)unused;
	queue_view_init(&view);
	add_node(&view, 1, 0, 64);
	add_node(&view, 2, 3 * 4096, 64);
	add_node(&view, 3, 2 * 4096, 64);
	view.nodes[0].usable_target = false; /* draining */
	assert_int_equal(queue_view_add_network(&view, "mig-a", 0), 0);
	link_all(&view, 0);
	assert_int_equal(queue_view_add_network(&view, "mig-b", 0), 0);
	link_all(&view, 1);
	for (size_t i = 0; i < 6; i++)
		job(i, i + 1, QUEUE_PRIO_MEDIUM, 4096, 1, 10 + i);
	assert_int_equal(queue_plan(&view, jobs, 6, 1000, 16, steps), 0);
	for (size_t i = 0; i < 6; i++) {
		assert_true(steps[i].wave <= 3);
		per_wave[steps[i].wave]++;
		if (steps[i].wave) {
			assert_true(steps[i].target == 2 || steps[i].target == 3);
			assert_true(strcmp(steps[i].network, "mig-a") == 0 ||
				    strcmp(steps[i].network, "mig-b") == 0);
		}
		if (steps[i].wave > 1)
			assert_string_equal(steps[i].blocker, "source outgoing limit 2/2");
		if (steps[i].wave == 1)
			assert_string_equal(steps[i].blocker, "");
	}
	assert_int_equal(per_wave[1], 2);
	assert_int_equal(per_wave[2], 2);
	assert_int_equal(per_wave[3], 1);
	assert_int_equal(per_wave[0], 1);
	/* By priority and age: the youngest is left behind, and says why. */
	assert_int_equal(steps[5].wave, 0);
	assert_string_equal(steps[5].blocker, "no target has 4096 MiB free");
	assert_int_equal(view.nodes[1].free_mib + view.nodes[2].free_mib, 0);
	assert_int_equal(view.nodes[0].free_mib, 5 * 4096);
	/* The first wave spreads over both networks. */
	assert_string_not_equal(steps[0].network, steps[1].network);
	assert_int_equal(queue_plan(NULL, jobs, 6, 1000, 16, steps), -EINVAL);
}

static void test_deterministic(void **unused)
{
	static struct queue_job copy[MAX_TEST_JOBS], shuffled[MAX_TEST_JOBS];
	static struct queue_action a1[MAX_TEST_JOBS], a2[MAX_TEST_JOBS], a3[MAX_TEST_JOBS];
	size_t compared = 0;

	(void)unused;
	rng_state = 42;
	for (int seq = 0; seq < 1000; seq++) {
		size_t n, n1, n2, n3, perm[MAX_TEST_JOBS];

		random_cluster(&n);
		/* Some already running, so counts matter. */
		assert_int_equal(queue_dispatch(&view, jobs, n, 0, a1, 1, &n1), 0);
		for (size_t i = 0; i < n1; i++)
			queue_job_started(&jobs[a1[i].job], &a1[i]);
		/* Equal priorities and ages, so ids decide. */
		for (size_t i = 0; i < n; i++)
			if (rnd(2))
				jobs[i].created_ms = 7;

		memcpy(copy, jobs, sizeof(jobs[0]) * n);
		for (size_t i = 0; i < n; i++)
			perm[i] = i;
		for (size_t i = n; i > 1; i--) {
			size_t r = rnd((uint32_t)i), t = perm[i - 1];

			perm[i - 1] = perm[r];
			perm[r] = t;
		}
		for (size_t i = 0; i < n; i++)
			shuffled[i] = jobs[perm[i]];

		assert_int_equal(queue_dispatch(&view, jobs, n, 5, a1, MAX_TEST_JOBS, &n1), 0);
		assert_int_equal(queue_dispatch(&view, copy, n, 5, a2, MAX_TEST_JOBS, &n2), 0);
		assert_int_equal(queue_dispatch(&view, shuffled, n, 5, a3, MAX_TEST_JOBS, &n3), 0);
		assert_int_equal(n1, n2);
		assert_int_equal(n1, n3);
		assert_memory_equal(a1, a2, sizeof(a1[0]) * n1);
		assert_memory_equal(jobs, copy, sizeof(jobs[0]) * n);
		for (size_t i = 0; i < n1; i++) {
			assert_int_equal(a1[i].job_id, a3[i].job_id);
			assert_int_equal(a1[i].target, a3[i].target);
			assert_int_equal(a1[i].network, a3[i].network);
			assert_int_equal(shuffled[a3[i].job].id, a3[i].job_id);
		}
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(shuffled[i].blocker, jobs[perm[i]].blocker);
			assert_string_equal(shuffled[i].blocker_text, jobs[perm[i]].blocker_text);
		}
		compared += n1;
	}
	assert_true(compared > 1000);
}

static void test_bad_arguments(void **unused)
{
	size_t got = 5;

	(void)unused;
	simple_view(2, 1, 0);
	assert_int_equal(queue_dispatch(NULL, jobs, 1, 0, acts, 1, &got), -EINVAL);
	assert_int_equal(queue_dispatch(&view, NULL, 1, 0, acts, 1, &got), -EINVAL);
	assert_int_equal(queue_dispatch(&view, jobs, 1, 0, NULL, 1, &got), -EINVAL);
	assert_int_equal(queue_dispatch(&view, jobs, QUEUE_MAX_JOBS + 1, 0, acts, 1, &got), -E2BIG);
	assert_int_equal(got, 5);
	assert_int_equal(queue_view_add_network(&view, "mig-a", 0), -EEXIST);
	assert_int_equal(queue_view_set_usable(&view, 0, 1, 99, true), -ENOENT);
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	assert_int_equal(queue_job_done(&jobs[0]), -EINVAL);
	start_all(dispatch(1));
	assert_int_equal(queue_job_cancel(&jobs[0]), -EBUSY);
	assert_int_equal(queue_job_started(&jobs[0], &acts[0]), -EINVAL);
}

/* SR-IOV: view.vf_free[pool][node index] and the jobs' wants, as coord_dispatch() fills them. */
static void vf_view(uint32_t n2_free, uint32_t n3_free)
{
	simple_view(3, 1, 0);
	view.n_vf_pools = 1;
	strcpy(view.vf_pools[0], "fast");
	view.vf_free[0][1] = n2_free;
	view.vf_free[0][2] = n3_free;
	/* n3 has less memory: only the VF makes it win. */
	view.nodes[2].free_mib = 4096;
}

static void test_vf_preferred_target(void **unused)
{
	(void)unused;
	vf_view(0, 1);
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	strcpy(jobs[0].want_vf_pool, "fast");
	job(1, 2, QUEUE_PRIO_MEDIUM, 512, 1, 1);
	strcpy(jobs[1].want_vf_pool, "fast");
	/* The first takes n3's one VF; the second lands where there is most room (degraded). */
	assert_int_equal(dispatch(2), 2);
	assert_int_equal(acts[0].target, 3);
	assert_int_equal(acts[1].target, 2);
}

static void test_vf_required_waits(void **unused)
{
	(void)unused;
	vf_view(0, 0);
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	strcpy(jobs[0].want_vf_pool, "fast");
	jobs[0].want_vf_required = true;
	assert_int_equal(dispatch(1), 0);
	assert_int_equal(jobs[0].blocker, QUEUE_BLOCK_NO_VF);
	assert_string_equal(jobs[0].blocker_text, "no free VF in pool fast on any target");
	assert_string_equal(queue_blocker_name(jobs[0].blocker), "no-vf");
	jobs[0].fixed_target = 2;
	assert_int_equal(dispatch(1), 0);
	assert_string_equal(jobs[0].blocker_text, "target n2 has no free VF in pool fast");
	/* A VF frees on n3: it goes there, even with less memory. */
	jobs[0].fixed_target = 0;
	view.vf_free[0][2] = 1;
	assert_int_equal(dispatch(1), 1);
	assert_int_equal(acts[0].target, 3);
}

/*
 * The dry run with VFs (`drover node drain --dry-run`): n3 has one free VF,
 * n2 none. The first VM asking for one gets n3's; the second lands degraded;
 * a VM asking for none is none of it. The VF taken in one wave is taken in
 * the next (one migration out at a time); a `vf = required` VM waits.
 */
static void test_plan_vf(void **unused)
{
	struct queue_plan_step steps[3];

	(void)unused;
	vf_view(0, 1);
	view.nodes[0].usable_target = false; /* draining */
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	strcpy(jobs[0].want_vf_pool, "fast");
	job(1, 2, QUEUE_PRIO_MEDIUM, 512, 1, 1);
	strcpy(jobs[1].want_vf_pool, "fast");
	job(2, 3, QUEUE_PRIO_MEDIUM, 512, 1, 2);
	assert_int_equal(queue_plan(&view, jobs, 3, 1000, 16, steps), 0);
	assert_int_equal(steps[0].wave, 1);
	assert_int_equal(steps[0].target, 3);
	assert_int_equal(steps[0].vf, QUEUE_PLAN_VF_GETS);
	assert_int_equal(steps[1].wave, 1);
	assert_int_equal(steps[1].target, 2);
	assert_int_equal(steps[1].vf, QUEUE_PLAN_VF_DEGRADED);
	assert_int_equal(steps[2].vf, QUEUE_PLAN_VF_NONE);
	assert_int_equal(view.vf_free[0][2], 0);

	/* One out at a time: the second starts in wave 2, and n3's VF is gone by then. */
	vf_view(0, 1);
	view.nodes[0].usable_target = false;
	view.nodes[2].free_mib = 8192; /* n3 has the most room now: only the VF is missing */
	view.limits.per_source = 1;
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	strcpy(jobs[0].want_vf_pool, "fast");
	job(1, 2, QUEUE_PRIO_MEDIUM, 512, 1, 1);
	strcpy(jobs[1].want_vf_pool, "fast");
	assert_int_equal(queue_plan(&view, jobs, 2, 1000, 16, steps), 0);
	assert_int_equal(steps[0].wave, 1);
	assert_int_equal(steps[0].target, 3);
	assert_int_equal(steps[0].vf, QUEUE_PLAN_VF_GETS);
	assert_int_equal(steps[1].wave, 2);
	assert_int_equal(steps[1].vf, QUEUE_PLAN_VF_DEGRADED);

	/* vf = required: the first gets n3's VF, the second never starts and waits for one. */
	vf_view(0, 1);
	view.nodes[0].usable_target = false;
	view.limits.per_source = 1;
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	strcpy(jobs[0].want_vf_pool, "fast");
	jobs[0].want_vf_required = true;
	job(1, 2, QUEUE_PRIO_MEDIUM, 512, 1, 1);
	strcpy(jobs[1].want_vf_pool, "fast");
	jobs[1].want_vf_required = true;
	assert_int_equal(queue_plan(&view, jobs, 2, 1000, 16, steps), 0);
	assert_int_equal(steps[0].vf, QUEUE_PLAN_VF_GETS);
	assert_int_equal(steps[0].target, 3);
	assert_int_equal(steps[1].wave, 0);
	assert_int_equal(steps[1].vf, QUEUE_PLAN_VF_WAITS);
	assert_string_equal(steps[1].blocker, "no free VF in pool fast on any target");
}

static void test_sa_spare_preferred(void **unused)
{
	(void)unused;
	vf_view(0, 0);
	view.nodes[2].sa_capacity = 100;
	view.nodes[2].sa_used = 30;
	job(0, 1, QUEUE_PRIO_MEDIUM, 512, 1, 0);
	jobs[0].want_sa = 64;
	job(1, 2, QUEUE_PRIO_MEDIUM, 512, 1, 1);
	jobs[1].want_sa = 64;
	/* 30 + 64 fits n3's 100; a second 64 does not: it goes by memory. */
	assert_int_equal(dispatch(2), 2);
	assert_int_equal(acts[0].target, 3);
	assert_int_equal(acts[1].target, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vf_preferred_target),
		cmocka_unit_test(test_vf_required_waits),
		cmocka_unit_test(test_sa_spare_preferred),
		cmocka_unit_test(test_limits_never_exceeded),
		cmocka_unit_test(test_network_spreading),
		cmocka_unit_test(test_priority_order),
		cmocka_unit_test(test_blockers),
		cmocka_unit_test(test_retry_next_network),
		cmocka_unit_test(test_last_resort),
		cmocka_unit_test(test_fixed_network),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_plan_vf),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
