/*
 * The CLI's renderings of the migration queue (cli/queue_view.c, and the
 * shared pieces of cli/output.c): JSON parsed back and checked key by key,
 * nulls included; the text tables; human units; and the frames of `drover
 * top`, which must fit 80x24 whatever the cluster holds, with the running
 * migration's progress bar, the queued job's blocker and "+N more" when lists
 * are cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "names.h"
#include "output.h"
#include "queue_view.h"

/* ---- building replies ---- */

#define MAX_ITEMS 64

static Drover__JobView jobs[MAX_ITEMS];
static Drover__JobView *jobp[MAX_ITEMS];
static Drover__JobAttemptView attempt;
static Drover__JobAttemptView *attemptp[1] = {&attempt};
static Drover__NetworkView nets[4];
static Drover__NetworkView *netp[4];
static char *mig_a_down[] = {"n1-n3"};
static Drover__NodeSlots slots[MAX_ITEMS];
static Drover__NodeSlots *slotp[MAX_ITEMS];
static Drover__MigrationLimits limits;
static Drover__NetworkCap cap_a;
static Drover__NetworkCap *capp[1] = {&cap_a};
static Drover__QueueReply queue;
static Drover__HistoryView hist[MAX_ITEMS];
static Drover__HistoryView *histp[MAX_ITEMS];
static Drover__HistoryReply history;
static Drover__NodeStatus nstat[MAX_ITEMS];
static Drover__NodeStatus *nstatp[MAX_ITEMS];
static char *n2_failures[] = {"db9: no target has 65536 MiB free", "web7: no usable network"};
static Drover__StatusReply status;
static char names[MAX_ITEMS][3][32];

static void set_limits(void)
{
	drover__migration_limits__init(&limits);
	drover__network_cap__init(&cap_a);
	limits.set = true;
	limits.per_source = 2;
	limits.per_target = 2;
	limits.cluster = 0;
	limits.max_retries = 2;
	cap_a.network = "mig-a";
	cap_a.cap = 1;
	limits.n_network_caps = 1;
	limits.network_caps = capp;
}

static void set_networks(size_t n)
{
	static const char *const nn[] = {"mig-a", "mig-b", "corosync0", "mig-d"};

	for (size_t i = 0; i < n; i++) {
		drover__network_view__init(&nets[i]);
		nets[i].name = (char *)nn[i];
		nets[i].order = (uint32_t)i + 1;
		nets[i].cap = i == 0 ? 1 : 0;
		nets[i].active = i == 0 ? 1 : 0;
		nets[i].rate_bps = i == 0 ? 117440512 : 0; /* 112.0 MiB/s */
		nets[i].pairs_up = i == 0 ? 2 : 3;
		nets[i].pairs_total = 3;
		nets[i].kind = i == 2 ? "corosync link 0" : "addresses";
		if (i == 0) {
			nets[i].n_down = 1;
			nets[i].down = mig_a_down;
		}
		netp[i] = &nets[i];
	}
	queue.n_networks = n;
	queue.networks = netp;
	status.n_networks = n;
	status.networks = netp;
}

/* Node i (0-based) is n<i+1>. */
static void set_nodes(size_t n)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i][0], sizeof(names[i][0]), "n%zu", i + 1);
		drover__node_slots__init(&slots[i]);
		slots[i].name = names[i][0];
		slots[i].id = (uint32_t)i + 1;
		slots[i].state = DROVER__NODE_STATE__NODE_STATE_ACTIVE;
		slots[i].online = true;
		slots[i].vms = 3;
		slots[i].memory_mib = 65536;
		slots[i].memory_used_mib = 12288;
		slotp[i] = &slots[i];

		drover__node_status__init(&nstat[i]);
		nstat[i].id = (uint32_t)i + 1;
		nstat[i].name = names[i][0];
		nstat[i].online = true;
		nstat[i].state = DROVER__NODE_STATE__NODE_STATE_ACTIVE;
		nstatp[i] = &nstat[i];
	}
	queue.n_nodes = n;
	queue.nodes = slotp;
	status.n_nodes = n;
	status.nodes = nstatp;
}

static Drover__JobView *add_job(const char *vm, const char *state)
{
	Drover__JobView *j = &jobs[queue.n_jobs];

	drover__job_view__init(j);
	j->id = queue.n_jobs + 1;
	j->vm = (char *)vm;
	j->from = "n1";
	j->state = (char *)state;
	j->eta_s = -1;
	j->origin = "drain";
	j->priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	j->memory_mib = 2048;
	jobp[queue.n_jobs++] = j;
	return j;
}

static Drover__JobView *add_running(const char *vm)
{
	Drover__JobView *j = add_job(vm, "running");

	j->to = "n2";
	j->network = "mig-a";
	j->progress_pct = 42;
	j->processed_bytes = 900ull << 20;
	j->remaining_bytes = 1148ull << 20;
	j->total_bytes = 2048ull << 20;
	j->rate_bps = 117440512;
	j->eta_s = 65;
	j->started_ms = 1700000000000ull;
	return j;
}

static Drover__JobView *add_queued(const char *vm, const char *blocker)
{
	Drover__JobView *j = add_job(vm, "queued");

	j->blocker = (char *)blocker;
	j->blocker_code = "source_limit";
	return j;
}

static void add_history(const char *vm, const char *result, const char *error)
{
	Drover__HistoryView *h = &hist[history.n_entries];

	drover__history_view__init(h);
	h->job_id = 100 + history.n_entries;
	h->vm = (char *)vm;
	h->from = "n1";
	h->to = "n3";
	h->network = "mig-b";
	h->result = (char *)result;
	h->started_ms = 1700000000000ull;
	h->finished_ms = 1700000065000ull;
	h->duration_ms = 65000;
	h->downtime_ms = 45;
	h->bytes = 3ull << 30;
	h->attempts = 1;
	h->error = (char *)error;
	h->origin = "drain";
	histp[history.n_entries++] = h;
}

/* A three-node cluster: one running migration, one queued job that retried once, one done. */
static int setup_small(void **state)
{
	Drover__JobView *q;

	(void)state;
	drover__queue_reply__init(&queue);
	drover__history_reply__init(&history);
	drover__status_reply__init(&status);
	queue.jobs = jobp;
	history.entries = histp;
	set_limits();
	queue.limits = &limits;
	set_nodes(3);
	set_networks(2);
	status.quorate = true;
	status.coordinator_id = 1;
	status.coordinator = "n1";
	status.local_id = 2;
	status.local_name = "n2";
	status.epoch = 1234;
	status.synced = true;
	nstat[0].state = DROVER__NODE_STATE__NODE_STATE_DRAINING;
	nstat[0].migrations_out = 1;
	nstat[0].jobs_queued = 1;
	nstat[1].migrations_in = 1;
	slots[0].state = DROVER__NODE_STATE__NODE_STATE_DRAINING;
	slots[0].out = 1;
	slots[1].in = 1;

	add_running("web1");
	q = add_queued("db1", "source outgoing limit 1/1");
	q->priority = DROVER__VM_PRIORITY__VM_PRIORITY_HIGH;
	q->n_attempts = 1;
	q->attempts = attemptp;
	drover__job_attempt_view__init(&attempt);
	attempt.network = "mig-b";
	attempt.target = "n3";
	attempt.result = "failed";
	attempt.reason = "connection reset";
	add_job("app1", "done")->to = "n3";
	jobs[2].network = "mig-b";
	add_history("app1", "done", "");
	add_history("old1", "failed", "libvirt: migration aborted");
	return 0;
}

/* ---- helpers ---- */

static char *render(int (*fn)(const void *, FILE *), const void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(fn(arg, f), 0);
	fclose(f);
	return buf;
}

static int queue_text(const void *a, FILE *f)
{
	return queue_view_queue_text(a, f);
}
static int history_text(const void *a, FILE *f)
{
	return queue_view_history_text(a, f);
}
static int plan_text(const void *a, FILE *f)
{
	return queue_view_plan_text(a, f);
}
static int limits_text(const void *a, FILE *f)
{
	return queue_view_limits_text(a, f);
}
static int status_text(const void *a, FILE *f)
{
	return output_status_text(a, f);
}

/* Serialise and parse back: what a script reading our stdout gets. */
static struct json_object *roundtrip(struct json_object *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json_object *back;

	assert_non_null(f);
	assert_int_equal(output_json_print(o, f), 0);
	fclose(f);
	json_object_put(o);
	back = json_tokener_parse(buf);
	free(buf);
	assert_non_null(back);
	return back;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("key '%s' missing in %s", key, json_object_to_json_string(o));
	return v;
}

static void expect_null(struct json_object *o, const char *key)
{
	if (get(o, key) != NULL)
		fail_msg("key '%s' should be null in %s", key, json_object_to_json_string(o));
}

static void expect_str(struct json_object *o, const char *key, const char *want)
{
	struct json_object *v = get(o, key);

	if (!v || !json_object_is_type(v, json_type_string))
		fail_msg("key '%s' is not a string in %s", key, json_object_to_json_string(o));
	assert_string_equal(json_object_get_string(v), want);
}

static void expect_int(struct json_object *o, const char *key, int64_t want)
{
	struct json_object *v = get(o, key);

	if (!v || !json_object_is_type(v, json_type_int))
		fail_msg("key '%s' is not a number in %s", key, json_object_to_json_string(o));
	assert_int_equal(json_object_get_int64(v), want);
}

static void expect_bool(struct json_object *o, const char *key, bool want)
{
	struct json_object *v = get(o, key);

	if (!v || !json_object_is_type(v, json_type_boolean))
		fail_msg("key '%s' is not a boolean in %s", key, json_object_to_json_string(o));
	assert_int_equal(json_object_get_boolean(v), want);
}

static struct json_object *idx(struct json_object *arr, size_t i)
{
	assert_non_null(arr);
	assert_true(json_object_is_type(arr, json_type_array));
	assert_true(i < json_object_array_length(arr));
	return json_object_array_get_idx(arr, i);
}

static void assert_contains(const char *hay, const char *needle)
{
	const char *text = hay ? hay : "(no text)";

	if (!hay || !strstr(hay, needle))
		fail_msg("'%s' not found in:\n%s", needle, text);
}

static void assert_lacks(const char *hay, const char *needle)
{
	const char *text = hay ? hay : "(no text)";

	if (!hay || strstr(hay, needle))
		fail_msg("'%s' unexpectedly found in:\n%s", needle, text);
}

/* ---- units ---- */

static void test_units(void **state)
{
	char b[OUTPUT_UNIT_MAX];

	(void)state;
	output_format_bytes(0, b, sizeof(b));
	assert_string_equal(b, "0 B");
	output_format_bytes(1023, b, sizeof(b));
	assert_string_equal(b, "1023 B");
	output_format_bytes(1536, b, sizeof(b));
	assert_string_equal(b, "1.5 KiB");
	output_format_bytes(1048575, b, sizeof(b));
	assert_string_equal(b, "1.0 MiB");
	output_format_bytes(3ull << 30, b, sizeof(b));
	assert_string_equal(b, "3.0 GiB");
	output_format_bytes(UINT64_MAX, b, sizeof(b));
	assert_string_equal(b, "16.0 EiB");
	output_format_rate(117440512, b, sizeof(b));
	assert_string_equal(b, "112.0 MiB/s");
	output_format_rate(0, b, sizeof(b));
	assert_string_equal(b, "0 B/s");

	output_format_duration_s(-1, b, sizeof(b));
	assert_string_equal(b, "-");
	output_format_duration_s(0, b, sizeof(b));
	assert_string_equal(b, "0s");
	output_format_duration_s(59, b, sizeof(b));
	assert_string_equal(b, "59s");
	output_format_duration_s(65, b, sizeof(b));
	assert_string_equal(b, "1m05s");
	output_format_duration_s(3600 + 120 + 59, b, sizeof(b));
	assert_string_equal(b, "1h02m");
	output_format_duration_s(3 * 86400 + 4 * 3600 + 5, b, sizeof(b));
	assert_string_equal(b, "3d04h");
	output_format_duration_ms(0, b, sizeof(b));
	assert_string_equal(b, "0ms");
	output_format_duration_ms(850, b, sizeof(b));
	assert_string_equal(b, "850ms");
	output_format_duration_ms(4250, b, sizeof(b));
	assert_string_equal(b, "4.2s");
	output_format_duration_ms(65000, b, sizeof(b));
	assert_string_equal(b, "1m05s");
}

static void test_progress_bar(void **state)
{
	char b[64];

	(void)state;
	queue_view_progress_bar(0, 12, b, sizeof(b));
	assert_string_equal(b, "[----------]");
	queue_view_progress_bar(50, 12, b, sizeof(b));
	assert_string_equal(b, "[#####-----]");
	queue_view_progress_bar(100, 12, b, sizeof(b));
	assert_string_equal(b, "[##########]");
	queue_view_progress_bar(250, 7, b, sizeof(b));
	assert_string_equal(b, "[#####]");
	/* Never past the buffer. */
	queue_view_progress_bar(50, 200, b, 10);
	assert_int_equal(strlen(b), 9);
}

static void test_node_state_names(void **state)
{
	(void)state;
	assert_string_equal(node_state_name(DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED),
			    "drain-failed");
	assert_string_equal(node_state_name(DROVER__NODE_STATE__NODE_STATE_DRAINING), "draining");
}

/* ---- drover queue ---- */

static void test_queue_json(void **state)
{
	struct json_object *o = roundtrip(queue_view_queue_json(&queue));
	struct json_object *jobs_a = get(o, "jobs"), *j, *a;

	(void)state;
	assert_int_equal(json_object_array_length(jobs_a), 3);

	j = idx(jobs_a, 0); /* running */
	expect_int(j, "id", 1);
	expect_str(j, "vm", "web1");
	expect_str(j, "from", "n1");
	expect_str(j, "to", "n2");
	expect_str(j, "network", "mig-a");
	expect_str(j, "state", "running");
	expect_int(j, "progress_pct", 42);
	expect_int(j, "processed_bytes", 900ll << 20);
	expect_int(j, "remaining_bytes", 1148ll << 20);
	expect_int(j, "total_bytes", 2048ll << 20);
	expect_int(j, "rate_bps", 117440512);
	expect_int(j, "eta_s", 65);
	expect_null(j, "blocker");
	expect_null(j, "blocker_code");
	assert_int_equal(json_object_array_length(get(j, "attempts")), 0);
	expect_str(j, "origin", "drain");
	expect_str(j, "priority", "medium");
	expect_int(j, "memory_mib", 2048);
	expect_int(j, "started_ms", 1700000000000ll);
	expect_null(j, "error");

	j = idx(jobs_a, 1); /* queued, after a failed attempt */
	expect_str(j, "vm", "db1");
	expect_null(j, "to");
	expect_null(j, "network");
	expect_str(j, "state", "queued");
	expect_int(j, "progress_pct", 0);
	expect_int(j, "rate_bps", 0);
	expect_null(j, "eta_s");
	expect_str(j, "blocker", "source outgoing limit 1/1");
	expect_str(j, "blocker_code", "source_limit");
	expect_str(j, "priority", "high");
	a = idx(get(j, "attempts"), 0);
	expect_str(a, "network", "mig-b");
	expect_str(a, "target", "n3");
	expect_str(a, "result", "failed");
	expect_str(a, "reason", "connection reset");

	j = idx(jobs_a, 2);
	expect_str(j, "state", "done");
	expect_str(j, "to", "n3");

	a = idx(get(o, "networks"), 0);
	expect_str(a, "name", "mig-a");
	expect_int(a, "order", 1);
	expect_int(a, "cap", 1);
	expect_int(a, "active", 1);
	expect_int(a, "rate_bps", 117440512);
	expect_int(a, "pairs_up", 2);
	expect_int(a, "pairs_total", 3);
	expect_str(a, "kind", "addresses");
	json_object_put(o);
}

static void test_queue_json_limits_nodes(void **state)
{
	struct json_object *o = roundtrip(queue_view_queue_json(&queue));
	struct json_object *l = get(o, "limits"), *n, *down;

	(void)state;
	down = get(idx(get(o, "networks"), 0), "down");
	assert_int_equal(json_object_array_length(down), 1);
	assert_string_equal(json_object_get_string(idx(down, 0)), "n1-n3");
	assert_int_equal(json_object_array_length(get(idx(get(o, "networks"), 1), "down")), 0);

	expect_bool(l, "set", true);
	expect_int(l, "max_out", 2);
	expect_int(l, "max_in", 2);
	expect_int(l, "max_total", 0);
	expect_int(l, "max_retries", 2);
	expect_str(idx(get(l, "network_caps"), 0), "network", "mig-a");
	expect_int(idx(get(l, "network_caps"), 0), "cap", 1);

	n = idx(get(o, "nodes"), 0);
	expect_str(n, "name", "n1");
	expect_int(n, "id", 1);
	expect_str(n, "state", "draining");
	expect_bool(n, "online", true);
	expect_int(n, "out", 1);
	expect_int(n, "in", 0);
	expect_int(n, "vms", 3);
	expect_int(n, "memory_mib", 65536);
	expect_int(n, "memory_used_mib", 12288);
	json_object_put(o);

	/* No limits in the reply: null, not a made-up object. */
	queue.limits = NULL;
	o = roundtrip(queue_view_queue_json(&queue));
	expect_null(o, "limits");
	json_object_put(o);
	queue.limits = &limits;
}

static void test_queue_text(void **state)
{
	char *t = render(queue_text, &queue);

	(void)state;
	assert_contains(
	    t, "ID  OP       VM    FROM  TO  NET    STATE    PROG  RATE         ETA    BLOCKER\n");
	assert_contains(t,
			"1   migrate  web1  n1    n2  mig-a  running  42%   112.0 MiB/s  1m05s  -\n");
	assert_contains(t, "2   migrate  db1   n1    -   -      queued   -     -            -      "
			   "source outgoing limit 1/1\n");
	assert_contains(t, "    attempt 1 over mig-b to n3: failed: connection reset\n");
	assert_contains(t, "3   migrate  app1  n1    n3  mig-b  done     100%");
	assert_contains(
	    t, "\nLimits: max-out 2, max-in 2, max-total unlimited, max-retries 2, mig-a cap 1\n");
	free(t);

	queue.n_jobs = 0;
	t = render(queue_text, &queue);
	assert_contains(t, "No operations.\n");
	free(t);
}

/* ---- drover history ---- */

static void test_history(void **state)
{
	struct json_object *o = roundtrip(queue_view_history_json(&history));
	struct json_object *h;
	char *t;

	(void)state;
	assert_int_equal(json_object_array_length(get(o, "history")), 2);
	h = idx(get(o, "history"), 0);
	expect_int(h, "job_id", 100);
	expect_str(h, "vm", "app1");
	expect_str(h, "from", "n1");
	expect_str(h, "to", "n3");
	expect_str(h, "network", "mig-b");
	expect_str(h, "result", "done");
	expect_int(h, "started_ms", 1700000000000ll);
	expect_int(h, "finished_ms", 1700000065000ll);
	expect_int(h, "duration_ms", 65000);
	expect_int(h, "downtime_ms", 45);
	expect_int(h, "bytes", 3ll << 30);
	expect_int(h, "attempts", 1);
	expect_null(h, "error");
	expect_str(h, "origin", "drain");
	expect_str(idx(get(o, "history"), 1), "error", "libvirt: migration aborted");
	json_object_put(o);

	t = render(history_text, &history);
	assert_contains(
	    t, "OP       VM    FROM  TO  NET    RESULT  DURATION  DOWNTIME  BYTES    ATTEMPTS\n");
	assert_contains(t, "migrate  app1  n1    n3  mig-b  done    1m05s     45ms      3.0 GiB  1\n");
	assert_contains(t, "migrate  old1  n1    n3  mig-b  failed");
	assert_contains(t, "    error: libvirt: migration aborted\n");
	free(t);

	/* A job cancelled before it started: no target, no network, no duration. */
	hist[0].to = "";
	hist[0].network = "";
	hist[0].started_ms = 0;
	hist[0].result = "cancelled";
	o = roundtrip(queue_view_history_json(&history));
	h = idx(get(o, "history"), 0);
	expect_null(h, "to");
	expect_null(h, "network");
	expect_int(h, "started_ms", 0);
	json_object_put(o);
	t = render(history_text, &history);
	assert_contains(t, "migrate  app1  n1    -   -      cancelled  -  ");
	free(t);

	history.n_entries = 0;
	t = render(history_text, &history);
	assert_contains(t, "No finished operations.\n");
	free(t);
}

/* ---- drover node drain --dry-run ---- */

static void test_plan(void **state)
{
	Drover__PlanStep steps[3], *stepp[3];
	Drover__DrainPlan plan = DROVER__DRAIN_PLAN__INIT;
	struct json_object *o, *s;
	char *t;

	(void)state;
	for (int i = 0; i < 3; i++) {
		drover__plan_step__init(&steps[i]);
		stepp[i] = &steps[i];
		steps[i].memory_mib = 1024u << i;
	}
	steps[0].vm = "web1";
	steps[0].to = "n2";
	steps[0].network = "mig-a";
	steps[0].wave = 1;
	steps[1].vm = "web2";
	steps[1].to = "n3";
	steps[1].network = "mig-b";
	steps[1].wave = 2;
	steps[1].blocker = "source outgoing limit 2/2";
	steps[2].vm = "big1";
	steps[2].blocker = "no target has 4096 MiB free";
	plan.node = "n1";
	plan.n_steps = 3;
	plan.steps = stepp;

	o = roundtrip(queue_view_plan_json(&plan));
	expect_str(o, "node", "n1");
	assert_int_equal(json_object_array_length(get(o, "steps")), 3);
	s = idx(get(o, "steps"), 0);
	expect_str(s, "vm", "web1");
	expect_str(s, "to", "n2");
	expect_str(s, "network", "mig-a");
	expect_int(s, "wave", 1);
	expect_null(s, "blocker");
	expect_int(s, "memory_mib", 1024);
	s = idx(get(o, "steps"), 2);
	expect_null(s, "to");
	expect_null(s, "network");
	expect_int(s, "wave", 0);
	expect_str(s, "blocker", "no target has 4096 MiB free");
	expect_int(s, "memory_mib", 4096);
	json_object_put(o);

	t = render(plan_text, &plan);
	assert_contains(t, "Drain plan for n1 (dry run, nothing changed):\n");
	assert_contains(t, "VM    TO  NETWORK  WAVE  BLOCKER\n");
	assert_contains(t, "web1  n2  mig-a    1     -\n");
	assert_contains(t, "web2  n3  mig-b    2     source outgoing limit 2/2\n");
	assert_contains(t, "big1  -   -        -     no target has 4096 MiB free\n");
	assert_contains(t, "3 VMs: 1 in the first wave, 1 later, 1 cannot move\n");

	/* Without a VF asked for: no VF column, "vf" null in JSON. */
	assert_null(strstr(t, " VF "));
	free(t);
	o = roundtrip(queue_view_plan_json(&plan));
	expect_null(idx(get(o, "steps"), 0), "vf");
	json_object_put(o);

	/* SR-IOV: one gets a VF, one lands degraded, one waits for a VF (vf = required). */
	steps[0].vf = "vf";
	steps[0].vf_pool = "lab";
	steps[1].vf = "degraded";
	steps[1].vf_pool = "lab";
	steps[2].vf = "waits";
	steps[2].vf_pool = "lab";
	steps[2].blocker = "no free VF in pool lab on any target";
	o = roundtrip(queue_view_plan_json(&plan));
	expect_str(idx(get(o, "steps"), 0), "vf", "vf");
	expect_str(idx(get(o, "steps"), 0), "vf_pool", "lab");
	expect_str(idx(get(o, "steps"), 1), "vf", "degraded");
	expect_str(idx(get(o, "steps"), 2), "vf", "waits");
	json_object_put(o);
	t = render(plan_text, &plan);
	assert_contains(t, "VM    TO  NETWORK  WAVE  VF                BLOCKER\n");
	assert_contains(t, "web1  n2  mig-a    1     VF lab            -\n");
	assert_contains(t, "web2  n3  mig-b    2     degraded (no VF)  source outgoing limit 2/2\n");
	assert_contains(t, "big1  -   -        -     waits for a VF    no free VF in pool lab on any target\n");
	assert_contains(t, "1 VM will run degraded (no free VF on its target)\n");
	free(t);

	plan.n_steps = 0;
	t = render(plan_text, &plan);
	assert_contains(t, "n1: no VMs to move");
	free(t);
}

/* ---- drover config show ---- */

static void test_limits(void **state)
{
	struct json_object *o;
	char *t;

	(void)state;
	t = render(limits_text, &limits);
	assert_contains(t, "KEY                VALUE      MEANING\n");
	assert_contains(t, "max-out            2          migrations leaving one node at a time\n");
	assert_contains(
	    t, "max-in             2          migrations arriving at one node at a time\n");
	assert_contains(t, "max-total          unlimited  migrations in the cluster at a time\n");
	assert_contains(
	    t, "max-retries        2          retries on another network after a failed attempt\n");
	assert_contains(t,
			"network.mig-a.cap  1          migrations over this network at a time\n");
	assert_lacks(t, "Never set");
	free(t);

	limits.set = false;
	t = render(limits_text, &limits);
	assert_contains(t, "Never set with 'drover config set'");
	free(t);
	o = roundtrip(queue_view_limits_json(&limits));
	expect_bool(o, "set", false);
	json_object_put(o);
	limits.set = true;

	assert_null(queue_view_limits_json(NULL));
	t = render(limits_text, NULL);
	assert_contains(t, "No limits known.");
	free(t);
}

/* ---- drover status ---- */

static void test_status(void **state)
{
	struct json_object *o, *n;
	char *t;

	(void)state;
	nstat[1].state = DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED;
	nstat[1].n_drain_failures = 2;
	nstat[1].drain_failures = n2_failures;
	t = render(status_text, &status);
	/* The lines the lab tests and people read stay as they were. */
	assert_contains(t, "Quorum: yes\nCoordinator: n1 (id 1)\nLocal node: n2 (id 2)\n"
			   "Cluster state: epoch 1234 of term 0, synchronised\n\n"
			   "NAME  ID  ONLINE  STATE         LINKS\n"
			   "n1    1   yes     draining      -\n"
			   "n2    2   yes     drain-failed  -\n"
			   "    drain failure: db9: no target has 65536 MiB free\n"
			   "    drain failure: web7: no usable network\n"
			   "n3    3   yes     active        -\n");
	assert_contains(t, "\nMigrations:\n  n1: 1 out, 0 in, 1 queued to leave\n"
			   "  n2: 0 out, 1 in, 0 queued to leave\n");
	assert_lacks(t, "  n3: ");
	assert_contains(
	    t, "\nNetworks:\nNAME   ORDER  KIND       CAP  ACTIVE  RATE         PAIRS  DOWN\n"
	       "mig-a  1      addresses  1    1       112.0 MiB/s  2/3    n1-n3\n"
	       "mig-b  2      addresses  -    0       0 B/s        3/3    -\n");
	free(t);

	o = roundtrip(output_status_json(&status));
	n = idx(get(o, "nodes"), 1);
	expect_str(n, "state", "drain-failed");
	expect_int(n, "migrations_in", 1);
	expect_int(n, "migrations_out", 0);
	expect_int(n, "jobs_queued", 0);
	assert_string_equal(json_object_get_string(idx(get(n, "drain_failures"), 1)),
			    "web7: no usable network");
	expect_str(idx(get(o, "networks"), 1), "name", "mig-b");
	expect_null(get(n, "fence"), "lost_ms");
	expect_null(get(n, "fence"), "fenced_ms");
	json_object_put(o);

	/* A lost node, fenced: when each happened (bench/failover reads them). */
	nstat[2].fence = DROVER__FENCE_STATE__FENCE_STATE_FENCED;
	nstat[2].fence_device = "device1 (fence-lab)";
	nstat[2].fence_lost_ms = 1700000000000ull;
	nstat[2].fence_fenced_ms = 1700000000750ull;
	o = roundtrip(output_status_json(&status));
	n = get(idx(get(o, "nodes"), 2), "fence");
	expect_str(n, "state", "fenced");
	expect_int(n, "lost_ms", 1700000000000ll);
	expect_int(n, "fenced_ms", 1700000000750ll);
	json_object_put(o);
	nstat[2].fence = DROVER__FENCE_STATE__FENCE_STATE_NONE;
	nstat[2].fence_device = "";

	/* Nothing moving, no networks: no extra sections. */
	for (int i = 0; i < 3; i++) {
		nstat[i].migrations_out = nstat[i].migrations_in = nstat[i].jobs_queued = 0;
		nstat[i].n_drain_failures = 0;
	}
	status.n_networks = 0;
	t = render(status_text, &status);
	assert_lacks(t, "Migrations:");
	assert_lacks(t, "Networks:");
	free(t);
}

/* ---- drover top ---- */

static void check_frame(const struct top_frame *f, int width, int height)
{
	assert_true(f->n_lines >= 1);
	assert_true(f->n_lines <= height);
	for (int i = 0; i < f->n_lines; i++) {
		if ((int)strlen(f->lines[i]) > width)
			fail_msg("line %d is %zu bytes wide, more than %d: '%s'", i,
				 strlen(f->lines[i]), width, f->lines[i]);
		assert_null(strchr(f->lines[i], '\n'));
	}
}

static char *frame_text(const struct top_frame *f)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	assert_int_equal(queue_view_top_print(f, out), 0);
	fclose(out);
	return buf;
}

static struct top_input input(void)
{
	return (struct top_input){.status = &status,
				  .queue = &queue,
				  .history = &history,
				  .hint = "live  q: quit",
				  .now = 1700000000};
}

static void test_top_small(void **state)
{
	struct top_input in = input();
	struct top_frame f;
	char *t;

	(void)state;
	assert_int_equal(queue_view_top_render(&in, 80, 24, &f), 0);
	check_frame(&f, 80, 24);
	t = frame_text(&f);
	assert_contains(t, "drover  quorate  coordinator n1  epoch 1234  local n2");
	assert_contains(t, "live  q: quit");
	assert_int_equal(f.kinds[0], TOP_LINE_HEADER);
	assert_int_equal(strlen(f.lines[0]), 80); /* the clock is right-aligned */
	assert_contains(t, "NODE  STATE     OUT  IN   VMS  QUEUED  MEMORY\n");
	assert_contains(t, "n1    draining  1/2  0/2  3    1       12.0 GiB/64.0 GiB\n");
	assert_contains(t, "NETWORK  ORDER  ACTIVE  RATE         PAIRS  DOWN\n");
	assert_contains(t, "mig-a    1      1/1     112.0 MiB/s  2/3    n1-n3\n");
	assert_contains(t, "RUNNING 1  ROUTE   NET    PROGRESS");
	assert_contains(t, "web1       n1->n2  mig-a  [");
	assert_contains(t, "]  42%  112.0 MiB/s  1m05s\n");
	assert_contains(t, "QUEUED 1  FROM  PRIO  WAITING FOR\n");
	assert_contains(t, "db1       n1    high  retry 1: source outgoing limit 1/1\n");
	assert_contains(t, "RECENT");
	assert_contains(t, "22:14:25  migrate  app1  n1->n3  mig-b  done    1m05s  45ms      -\n");
	/* The last column is cut at the edge. */
	assert_contains(
	    t,
	    "22:14:25  migrate  old1  n1->n3  mig-b  failed  1m05s  45ms      libvirt: migrat\n");
	assert_lacks(t, "more");
	/* The finished job of the queue is history's, not a running or queued line. */
	assert_lacks(t, "app1       n1->n3");
	free(t);
	queue_view_top_frame_clear(&f);
}

/*
 * SR-IOV in top: a VM running without its VF, and one whose host's live XML
 * disagrees with the VF drover allocated it (the inventory check), both under
 * DEGRADED with why.
 */
static void test_top_degraded_vf_mismatch(void **state)
{
	Drover__VmStatus v[3], *vp[3];
	Drover__VmListReply list = DROVER__VM_LIST_REPLY__INIT;
	struct top_input in = input();
	struct top_frame f;
	char *t;

	(void)state;
	for (int i = 0; i < 3; i++) {
		drover__vm_status__init(&v[i]);
		vp[i] = &v[i];
		v[i].state = "running";
	}
	v[0].name = "vfvm1";
	v[0].node = "n2";
	v[0].degraded = "no VF";
	v[1].name = "vfvm2";
	v[1].node = "n3";
	v[1].vf_mismatch = "vfvm2: VF 'vf1' allocated, absent from the live XML";
	v[2].name = "fine1";
	v[2].node = "n1";
	list.n_vms = 3;
	list.vms = vp;
	in.vms = &list;
	assert_int_equal(queue_view_top_render(&in, 120, 40, &f), 0);
	t = frame_text(&f);
	assert_contains(t, "vfvm1     n2    no VF\n");
	assert_contains(t, "vfvm2     n3    VF MISMATCH: vfvm2: VF 'vf1' allocated, absent from the live XML\n");
	assert_lacks(t, "fine1");
	free(t);
	queue_view_top_frame_clear(&f);
}

/*
 * A failover's restart and a preemption beside a migration: labelled by what
 * they do in the queue, the history and top, which shows them in a section of
 * their own, never as migrations.
 */
static void test_operations_beside_migrations(void **state)
{
	struct top_input in = {.status = &status, .queue = &queue, .history = &history,
			       .now = 1700000000};
	struct top_frame f;
	Drover__JobView *j;
	struct json_object *o;
	char *t;

	(void)state;
	j = add_job("crm", "running");
	j->kind = "start";
	j->origin = "recovery";
	j->from = "n3";
	j->to = "n2";
	j->started_ms = 1700000000000ll - 1500;
	j = add_job("batch", "running");
	j->kind = "stop";
	j->origin = "preempt";
	j->from = "n2";
	t = render(queue_text, &queue);
	assert_contains(t, "4   restart  crm    n3    n2  -      running  -     -            -      -\n");
	assert_contains(t, "5   preempt  batch  n2    -   -      running  -");
	free(t);
	o = roundtrip(queue_view_queue_json(&queue));
	expect_str(idx(get(o, "jobs"), 3), "kind", "start");
	expect_str(idx(get(o, "jobs"), 0), "kind", "migrate");
	json_object_put(o);

	assert_int_equal(queue_view_top_render(&in, 80, 24, &f), 0);
	check_frame(&f, 80, 24);
	t = frame_text(&f);
	assert_contains(t, "RUNNING 1  ROUTE");
	assert_contains(t, "OPERATIONS 2  OP       ROUTE   FOR\n");
	assert_contains(t, "crm           restart  n3->n2  1.5s\n");
	assert_contains(t, "batch         preempt  n2      -\n");
	free(t);
	queue_view_top_frame_clear(&f);

	hist[1].kind = "start";
	hist[1].origin = "recovery";
	hist[1].from = "n3";
	hist[1].to = "n2";
	hist[1].network = "";
	hist[1].result = "ok";
	hist[1].error = "";
	hist[1].fenced_ms = hist[1].finished_ms - 2300;
	t = render(history_text, &history);
	assert_contains(t, "restart  old1  n3    n2  -      ok");
	assert_contains(t, "    failover: n3 fenced at ");
	assert_contains(t, ", restart began at ");
	assert_contains(t, ", running again 2.3s later\n");
	free(t);
	o = roundtrip(queue_view_history_json(&history));
	expect_str(idx(get(o, "history"), 1), "kind", "start");
	expect_int(idx(get(o, "history"), 1), "fenced_ms", (long long)hist[1].fenced_ms);
	expect_null(idx(get(o, "history"), 0), "fenced_ms");
	json_object_put(o);
}

/* Recoveries beside migrations: each with what is done and why it waits; JSON too. */
static void test_top_recoveries(void **state)
{
	static Drover__RecoveryView rec[5];
	static Drover__RecoveryView *recp[5];
	static const struct {
		const char *vm, *st, *prio, *from, *to, *for_vm, *reason;
		uint64_t ago_ms;
	} R[] = {
	    {"vm2", "starting", "high", "n2", "n1", "", "", 1500},
	    {"vm7", "fencing", "high", "n3", "", "", "", 1500},
	    {"vm8", "fencing", "medium", "n3", "", "", "exit 1", 1500},
	    {"vm1", "preempting", "low", "", "n1", "vm2", "", 0},
	    {"vm5", "waiting", "low", "n2", "", "", "waiting for preempted VMs to stop", 0},
	};
	struct top_input in = {.status = &status, .queue = &queue, .history = &history,
			       .now = 1700000000};
	struct top_frame f;
	struct json_object *o, *r;
	Drover__JobView *j;
	char *t, why[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(R); i++) {
		drover__recovery_view__init(&rec[i]);
		recp[i] = &rec[i];
		rec[i].vm = (char *)R[i].vm;
		rec[i].state = (char *)R[i].st;
		rec[i].priority = (char *)R[i].prio;
		rec[i].from = (char *)R[i].from;
		rec[i].to = (char *)R[i].to;
		rec[i].for_vm = (char *)R[i].for_vm;
		rec[i].reason = (char *)R[i].reason;
		rec[i].since_ms = R[i].ago_ms ? 1700000000000ull - R[i].ago_ms : 0;
	}
	queue.n_recoveries = ARRAY_SIZE(R);
	queue.recoveries = recp;
	/* vm2's restart is a running job too; an operator's stop is not recovery's. */
	j = add_job("vm2", "running");
	j->kind = "start";
	j->origin = "recovery";
	j->from = "n2";
	j->to = "n1";
	j = add_job("batch", "running");
	j->kind = "stop";
	j->origin = "operator";
	j->from = "n2";

	queue_view_recovery_why(&rec[1], 1700000000000ull, why, sizeof(why));
	assert_string_equal(why, "waits for n3 to be fenced (lost 1.5s ago)");
	queue_view_recovery_why(&rec[2], 1700000000000ull, why, sizeof(why));
	assert_string_equal(why, "waits for n3 to be fenced; it failed: exit 1");

	assert_int_equal(queue_view_top_render(&in, 100, 30, &f), 0);
	check_frame(&f, 100, 30);
	t = frame_text(&f);
	assert_contains(t, "RECOVERIES 5  STATE       FROM  PRIO    WHY\n");
	assert_contains(t, "vm2           starting    n2    high    restarting on n1 for 1.5s\n");
	assert_contains(t, "vm8           fencing     n3    medium  waits for n3 to be fenced; it failed: exit 1\n");
	assert_contains(t, "vm1           preempting  -     low     stopped on n1 to make room for 'vm2'\n");
	assert_contains(t, "vm5           waiting     n2    low     waiting for preempted VMs to stop\n");
	/* vm2 shows once, under RECOVERIES; OPERATIONS keeps the operator's stop. */
	assert_contains(t, "OPERATIONS 1  OP");
	assert_contains(t, "batch");
	assert_null(strstr(strstr(t, "OPERATIONS"), "vm2"));
	free(t);
	queue_view_top_frame_clear(&f);

	o = roundtrip(queue_view_queue_json(&queue));
	assert_int_equal(json_object_array_length(get(o, "recoveries")), 5);
	r = idx(get(o, "recoveries"), 0);
	expect_str(r, "vm", "vm2");
	expect_str(r, "state", "starting");
	expect_str(r, "priority", "high");
	expect_str(r, "from", "n2");
	expect_str(r, "to", "n1");
	expect_int(r, "since_ms", 1700000000000ll - 1500);
	expect_null(r, "for_vm");
	expect_null(r, "reason");
	r = idx(get(o, "recoveries"), 3);
	expect_null(r, "from");
	expect_null(r, "since_ms");
	expect_str(r, "for_vm", "vm2");
	expect_str(idx(get(o, "recoveries"), 4), "reason", "waiting for preempted VMs to stop");
	json_object_put(o);

	/* Nothing to recover: no section, and the JSON has an empty list. */
	queue.n_recoveries = 0;
	assert_int_equal(queue_view_top_render(&in, 100, 30, &f), 0);
	t = frame_text(&f);
	assert_null(strstr(t, "RECOVERIES"));
	assert_contains(t, "OPERATIONS 2  OP");
	free(t);
	queue_view_top_frame_clear(&f);
	o = roundtrip(queue_view_queue_json(&queue));
	assert_int_equal(json_object_array_length(get(o, "recoveries")), 0);
	json_object_put(o);
}

/* A cluster far too big for 80x24: everything is cut to "+N more". */
static void test_top_80x24_cut(void **state)
{
	struct top_input in = input();
	struct top_frame f;
	char vm[MAX_ITEMS][24], *t;
	int bar_lines = 0;

	(void)state;
	set_nodes(8);
	set_networks(4);
	queue.n_jobs = 0;
	for (int i = 0; i < 6; i++) {
		snprintf(vm[i], sizeof(vm[i]), "run%02d", i);
		add_running(vm[i]);
	}
	for (int i = 6; i < 46; i++) {
		snprintf(vm[i], sizeof(vm[i]), "wait%02d", i);
		add_queued(vm[i], i == 6 ? "target n2 incoming limit 2/2" : "cluster limit 4/4");
	}
	history.n_entries = 0;
	for (int i = 0; i < 5; i++)
		add_history("done1", "done", "");

	assert_int_equal(queue_view_top_render(&in, 80, 24, &f), 0);
	check_frame(&f, 80, 24);
	assert_int_equal(f.n_lines, 24); /* the screen is used, not wasted */
	t = frame_text(&f);
	/* The first running migration with its bar, the first queued job with its blocker. */
	assert_contains(t, "run00");
	assert_contains(t, "[########");
	assert_contains(t, " 42%");
	assert_contains(t, "wait06");
	assert_contains(t, "target n2 incoming limit 2/2");
	assert_contains(t, "RUNNING 6");
	assert_contains(t, "QUEUED 40");
	/* 40 queued never fit: the rest is counted. */
	assert_contains(t, "more\n");
	for (int i = 0; i < f.n_lines; i++) {
		if (strstr(f.lines[i], "[###"))
			bar_lines++;
		/* A cut list keeps at least one item: a title over "+N more" says nothing. */
		if (f.kinds[i] == TOP_LINE_MORE)
			assert_int_not_equal(f.kinds[i - 1], TOP_LINE_TITLE);
	}
	/* Every section still has a place in 80x24. */
	assert_contains(t, "NODE ");
	assert_contains(t, "NETWORK ");
	assert_contains(t, "RECENT ");
	assert_true(bar_lines >= 2);
	{
		/* Every "+N more" adds up: the queued ones shown plus N make 40. */
		int shown = 0, more = -1;

		for (int i = 0; i < f.n_lines; i++) {
			if (strncmp(f.lines[i], "wait", 4) == 0)
				shown++;
		}
		for (int i = 0; i < f.n_lines; i++) {
			if (f.kinds[i] == TOP_LINE_MORE && i > 0 &&
			    (strncmp(f.lines[i - 1], "wait", 4) == 0))
				assert_int_equal(sscanf(f.lines[i], "  +%d more", &more), 1);
		}
		assert_true(shown >= 1);
		assert_int_equal(shown + more, 40);
	}
	free(t);
	queue_view_top_frame_clear(&f);

	/* Narrower and shorter still: never over the edges. */
	for (int w = 20; w <= 100; w += 7)
		for (int h = 1; h <= 30; h += 3) {
			assert_int_equal(queue_view_top_render(&in, w, h, &f), 0);
			check_frame(&f, w, h);
			queue_view_top_frame_clear(&f);
		}
	assert_int_equal(queue_view_top_render(&in, 19, 24, &f), -EINVAL);
	assert_int_equal(queue_view_top_render(&in, 80, 0, &f), -EINVAL);
}

/* Names from outside: cut on a UTF-8 boundary, control characters defused. */
static void test_top_names(void **state)
{
	struct top_input in = input();
	struct top_frame f;

	(void)state;
	queue.n_jobs = 0;
	add_queued("\xc3\xa9t\xc3\xa9-\xc3\xa9t\xc3\xa9-\xc3\xa9t\xc3\xa9", /* "été-été-été" */
		   "blocked\nby \x1b[31m an escape");
	history.n_entries = 0;
	assert_int_equal(queue_view_top_render(&in, 80, 24, &f), 0);
	check_frame(&f, 80, 24);
	for (int i = 0; i < f.n_lines; i++)
		assert_null(strchr(f.lines[i], '\x1b'));
	queue_view_top_frame_clear(&f);
	/* At every width, no line ends inside a UTF-8 sequence. */
	for (int w = 20; w < 40; w++) {
		assert_int_equal(queue_view_top_render(&in, w, 24, &f), 0);
		check_frame(&f, w, 24);
		for (int k = 0; k < f.n_lines; k++) {
			size_t n = strlen(f.lines[k]), start = n;

			/* Walk back to the lead byte of the last character. */
			while (start > 0 && ((unsigned char)f.lines[k][start - 1] & 0xC0) == 0x80)
				start--;
			if (start > 0 && (unsigned char)f.lines[k][start - 1] >= 0xC0)
				assert_int_equal(n - start + 1, 2); /* é is 2 bytes, whole */
		}
		queue_view_top_frame_clear(&f);
	}
}

static void test_top_without_daemon(void **state)
{
	struct top_input in = {.error = "cannot connect to droverd (is it running?)",
			       .now = 1700000000};
	struct top_frame f;
	char *t;

	(void)state;
	assert_int_equal(queue_view_top_render(&in, 80, 24, &f), 0);
	check_frame(&f, 80, 24);
	assert_int_equal(f.n_lines, 2);
	t = frame_text(&f);
	assert_contains(t, "no status from droverd");
	assert_contains(t, "! cannot connect to droverd (is it running?)\n");
	assert_int_equal(f.kinds[1], TOP_LINE_ALERT);
	free(t);
	queue_view_top_frame_clear(&f);

	/* No quorum shows in the header, as an alert. */
	in = input();
	status.quorate = false;
	assert_int_equal(queue_view_top_render(&in, 80, 24, &f), 0);
	assert_int_equal(f.kinds[0], TOP_LINE_ALERT);
	assert_non_null(strstr(f.lines[0], "NO QUORUM"));
	queue_view_top_frame_clear(&f);
	status.quorate = true;

	/* An idle cluster says so. */
	queue.n_jobs = 0;
	assert_int_equal(queue_view_top_render(&in, 80, 24, &f), 0);
	t = frame_text(&f);
	assert_contains(t, "No migrations running or queued.\n");
	free(t);
	queue_view_top_frame_clear(&f);
}

static void test_top_drain_failed(void **state)
{
	struct top_input in = input();
	struct top_frame f;
	bool found = false;

	(void)state;
	nstat[1].state = DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED;
	nstat[1].n_drain_failures = 2;
	nstat[1].drain_failures = n2_failures;
	nstat[2].online = false;
	assert_int_equal(queue_view_top_render(&in, 80, 24, &f), 0);
	check_frame(&f, 80, 24);
	for (int i = 0; i < f.n_lines; i++) {
		if (strncmp(f.lines[i], "n2 ", 3) == 0) {
			assert_non_null(strstr(f.lines[i], "drain-failed"));
			assert_true(i + 1 < f.n_lines);
			assert_int_equal(f.kinds[i + 1], TOP_LINE_ALERT);
			assert_string_equal(f.lines[i + 1],
					    "  drain failed: db9: no target has 65536 MiB free; "
					    "web7: no usable network");
			found = true;
		}
		if (strncmp(f.lines[i], "n3 ", 3) == 0)
			assert_non_null(strstr(f.lines[i], "active/offline"));
	}
	assert_true(found);
	queue_view_top_frame_clear(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_units),
	    cmocka_unit_test(test_progress_bar),
	    cmocka_unit_test(test_node_state_names),
	    cmocka_unit_test_setup(test_queue_json, setup_small),
	    cmocka_unit_test_setup(test_queue_json_limits_nodes, setup_small),
	    cmocka_unit_test_setup(test_queue_text, setup_small),
	    cmocka_unit_test_setup(test_history, setup_small),
	    cmocka_unit_test_setup(test_plan, setup_small),
	    cmocka_unit_test_setup(test_top_degraded_vf_mismatch, setup_small),
	    cmocka_unit_test_setup(test_limits, setup_small),
	    cmocka_unit_test_setup(test_status, setup_small),
	    cmocka_unit_test_setup(test_top_small, setup_small),
	    cmocka_unit_test_setup(test_operations_beside_migrations, setup_small),
	    cmocka_unit_test_setup(test_top_recoveries, setup_small),
	    cmocka_unit_test_setup(test_top_80x24_cut, setup_small),
	    cmocka_unit_test_setup(test_top_names, setup_small),
	    cmocka_unit_test_setup(test_top_without_daemon, setup_small),
	    cmocka_unit_test_setup(test_top_drain_failed, setup_small),
	};

	/* History times print in local time: make it the same everywhere. */
	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
