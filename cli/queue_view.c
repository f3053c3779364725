/*
 * Rendering of the migration queue's replies for the CLI (see queue_view.h).
 *
 * The one-shot commands print through output.c's table, so `drover queue`
 * looks like `drover vm list`. `drover top` cannot: a frame is a fixed
 * rectangle that must stay legible in 80x24 however many nodes, jobs and
 * networks there are, so it is built here in two steps. First every section
 * (nodes, networks, running, queued, recent) is formatted in full as lines of
 * a small table whose heading row is also the section's title; then the rows
 * are shared out, the longest list for its weight giving way first (a queue
 * of 40 before 8 nodes, history before running migrations), each cut list
 * ending with "+N more". Lines
 * are cut to the width last, on a UTF-8 boundary, so a VM name from outside
 * can never push a line past the screen's edge.
 *
 * Frames are plain strings with a kind per line, not curses calls: top.c
 * paints them, `drover top --once` prints them, and the unit tests measure
 * them.
 */
#include "queue_view.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "names.h"
#include "output.h"
#include "util.h"

#define COL_SEP 2

static const char *dash(const char *s)
{
	return s && *s ? s : "-";
}

/* A migration of the queue, not a start or a stop (an older droverd sends no kind). */
static bool is_migration(const char *kind)
{
	return !kind || !*kind || strcmp(kind, "migrate") == 0;
}

/*
 * What an operation does, in one word for a column: a start after a failover
 * is a restart, a stop to make room a preemption, a second copy's stop a
 * destroy.
 */
static const char *op_label(const char *kind, const char *origin)
{
	bool recovery = origin && strcmp(origin, "recovery") == 0;

	if (is_migration(kind))
		return "migrate";
	if (strcmp(kind, "start") == 0)
		return recovery ? "restart" : "start";
	if (origin && strcmp(origin, "preempt") == 0)
		return "preempt";
	if (origin && strcmp(origin, "duplicate") == 0)
		return "destroy";
	return kind;
}

static bool is_state(const Drover__JobView *j, const char *state)
{
	return j->state && strcmp(j->state, state) == 0;
}

/* ---- drover queue ---- */

struct json_object *queue_view_job_json(const Drover__JobView *j)
{
	struct json_object *o = json_object_new_object();
	struct json_object *attempts = json_object_new_array();

	json_object_object_add(o, "id", json_object_new_uint64(j->id));
	json_object_object_add(o, "kind", json_object_new_string(is_migration(j->kind) ? "migrate"
										: j->kind));
	json_object_object_add(o, "vm", json_object_new_string(j->vm));
	json_object_object_add(o, "from", output_json_nonempty(j->from));
	json_object_object_add(o, "to", output_json_nonempty(j->to));
	json_object_object_add(o, "network", output_json_nonempty(j->network));
	json_object_object_add(o, "state", output_json_nonempty(j->state));
	json_object_object_add(o, "progress_pct", json_object_new_int64(j->progress_pct));
	json_object_object_add(o, "processed_bytes", json_object_new_uint64(j->processed_bytes));
	json_object_object_add(o, "remaining_bytes", json_object_new_uint64(j->remaining_bytes));
	json_object_object_add(o, "total_bytes", json_object_new_uint64(j->total_bytes));
	json_object_object_add(o, "rate_bps", json_object_new_uint64(j->rate_bps));
	json_object_object_add(o, "eta_s", j->eta_s < 0 ? NULL : json_object_new_int64(j->eta_s));
	json_object_object_add(o, "blocker", output_json_nonempty(j->blocker));
	json_object_object_add(o, "blocker_code", output_json_nonempty(j->blocker_code));
	for (size_t i = 0; i < j->n_attempts; i++) {
		const Drover__JobAttemptView *a = j->attempts[i];
		struct json_object *ja = json_object_new_object();

		json_object_object_add(ja, "network", output_json_nonempty(a->network));
		json_object_object_add(ja, "target", output_json_nonempty(a->target));
		json_object_object_add(ja, "result", output_json_nonempty(a->result));
		json_object_object_add(ja, "reason", output_json_nonempty(a->reason));
		json_object_array_add(attempts, ja);
	}
	json_object_object_add(o, "attempts", attempts);
	json_object_object_add(o, "origin", output_json_nonempty(j->origin));
	json_object_object_add(o, "priority",
			       json_object_new_string(vm_priority_name(j->priority)));
	json_object_object_add(o, "memory_mib", json_object_new_uint64(j->memory_mib));
	json_object_object_add(o, "created_ms", json_object_new_uint64(j->created_ms));
	json_object_object_add(o, "started_ms", json_object_new_uint64(j->started_ms));
	json_object_object_add(o, "finished_ms", json_object_new_uint64(j->finished_ms));
	json_object_object_add(o, "error", output_json_nonempty(j->error));
	return o;
}

static struct json_object *slots_json(const Drover__NodeSlots *n)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(n->name));
	json_object_object_add(o, "id", json_object_new_int64(n->id));
	json_object_object_add(o, "state", json_object_new_string(node_state_name(n->state)));
	json_object_object_add(o, "online", json_object_new_boolean(n->online));
	json_object_object_add(o, "out", json_object_new_int64(n->out));
	json_object_object_add(o, "in", json_object_new_int64(n->in));
	json_object_object_add(o, "vms", json_object_new_int64(n->vms));
	json_object_object_add(o, "memory_mib", json_object_new_uint64(n->memory_mib));
	json_object_object_add(o, "memory_used_mib", json_object_new_uint64(n->memory_used_mib));
	return o;
}

static struct json_object *recovery_json(const Drover__RecoveryView *r)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "vm", json_object_new_string(r->vm));
	json_object_object_add(o, "state", output_json_nonempty(r->state));
	json_object_object_add(o, "priority", output_json_nonempty(r->priority));
	json_object_object_add(o, "from", output_json_nonempty(r->from));
	json_object_object_add(o, "to", output_json_nonempty(r->to));
	json_object_object_add(o, "since_ms",
			       r->since_ms ? json_object_new_uint64(r->since_ms) : NULL);
	json_object_object_add(o, "for_vm", output_json_nonempty(r->for_vm));
	json_object_object_add(o, "reason", output_json_nonempty(r->reason));
	return o;
}

struct json_object *queue_view_queue_json(const Drover__QueueReply *q)
{
	struct json_object *o = json_object_new_object();
	struct json_object *jobs = json_object_new_array();
	struct json_object *networks = json_object_new_array();
	struct json_object *nodes = json_object_new_array();
	struct json_object *recoveries = json_object_new_array();

	for (size_t i = 0; i < q->n_jobs; i++)
		json_object_array_add(jobs, queue_view_job_json(q->jobs[i]));
	json_object_object_add(o, "jobs", jobs);
	for (size_t i = 0; i < q->n_networks; i++)
		json_object_array_add(networks, output_network_json(q->networks[i]));
	json_object_object_add(o, "networks", networks);
	json_object_object_add(o, "limits", queue_view_limits_json(q->limits));
	for (size_t i = 0; i < q->n_nodes; i++)
		json_object_array_add(nodes, slots_json(q->nodes[i]));
	json_object_object_add(o, "nodes", nodes);
	for (size_t i = 0; i < q->n_recoveries; i++)
		json_object_array_add(recoveries, recovery_json(q->recoveries[i]));
	json_object_object_add(o, "recoveries", recoveries);
	return o;
}

/* "3" or "unlimited" for a limit where 0 means none. */
static void format_limit(uint32_t v, char *buf, size_t size)
{
	if (v)
		snprintf(buf, size, "%" PRIu32, v);
	else
		strscpy(buf, "unlimited", size);
}

/* "max-out 2, max-in 2, max-total unlimited, max-retries 2, mig-a cap 1" */
static void format_limits_line(const Drover__MigrationLimits *l, char *buf, size_t size)
{
	char out[16], in[16], total[16];
	size_t used;

	format_limit(l->per_source, out, sizeof(out));
	format_limit(l->per_target, in, sizeof(in));
	format_limit(l->cluster, total, sizeof(total));
	snprintf(buf, size, "max-out %s, max-in %s, max-total %s, max-retries %" PRIu32, out, in,
		 total, l->max_retries);
	used = strlen(buf);
	for (size_t i = 0; i < l->n_network_caps && used < size; i++) {
		const Drover__NetworkCap *c = l->network_caps[i];
		int w;

		if (!c->cap)
			continue;
		w = snprintf(buf + used, size - used, ", %s cap %" PRIu32, c->network, c->cap);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

int queue_view_queue_text(const Drover__QueueReply *q, FILE *f)
{
	static const char *const headers[] = {"ID",   "OP",   "VM",  "FROM", "TO",     "NET",
					      "STATE", "PROG", "RATE", "ETA", "BLOCKER"};
	_cleanup_table_ struct output_table *t = NULL;
	int r = 0;

	if (!q->n_jobs) {
		fprintf(f, "No operations.\n");
	} else {
		t = output_table_new(ARRAY_SIZE(headers), headers);
		for (size_t i = 0; i < q->n_jobs; i++) {
			const Drover__JobView *j = q->jobs[i];
			/* A start or a stop has no progress to show: only a migration moves bytes. */
			bool running = is_state(j, "running") && is_migration(j->kind);
			char id[24], prog[16], rate[OUTPUT_UNIT_MAX], eta[OUTPUT_UNIT_MAX];
			const char *row[ARRAY_SIZE(headers)];

			snprintf(id, sizeof(id), "%" PRIu64, j->id);
			if (running)
				snprintf(prog, sizeof(prog), "%" PRIu32 "%%",
					 j->progress_pct > 100 ? 100 : j->progress_pct);
			else
				strscpy(prog, is_state(j, "done") ? "100%" : "-", sizeof(prog));
			if (running && j->rate_bps)
				output_format_rate(j->rate_bps, rate, sizeof(rate));
			else
				strscpy(rate, "-", sizeof(rate));
			output_format_duration_s(running ? j->eta_s : -1, eta, sizeof(eta));
			row[0] = id;
			row[1] = op_label(j->kind, j->origin);
			row[2] = j->vm;
			row[3] = dash(j->from);
			row[4] = dash(j->to);
			row[5] = dash(j->network);
			row[6] = dash(j->state);
			row[7] = prog;
			row[8] = rate;
			row[9] = eta;
			row[10] = j->blocker && *j->blocker ? j->blocker : dash(j->error);
			output_table_add_row(t, row);
			for (size_t k = 0; k < j->n_attempts; k++) {
				const Drover__JobAttemptView *a = j->attempts[k];
				char note[512];

				if (a->result && strcmp(a->result, "ok") == 0)
					continue;
				snprintf(note, sizeof(note),
					 "    attempt %zu over %s to %s: %s%s%s", k + 1,
					 dash(a->network), dash(a->target), dash(a->result),
					 a->reason && *a->reason ? ": " : "",
					 a->reason ? a->reason : "");
				output_table_add_note(t, note);
			}
		}
		r = output_table_print(t, f);
	}
	if (q->limits) {
		char line[512];

		format_limits_line(q->limits, line, sizeof(line));
		fprintf(f, "\nLimits: %s\n", line);
	}
	return r < 0 ? r : ferror(f) ? -EIO : 0;
}

/* ---- drover history ---- */

struct json_object *queue_view_history_json(const Drover__HistoryReply *h)
{
	struct json_object *o = json_object_new_object();
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < h->n_entries; i++) {
		const Drover__HistoryView *e = h->entries[i];
		struct json_object *je = json_object_new_object();

		json_object_object_add(je, "job_id", json_object_new_uint64(e->job_id));
		json_object_object_add(je, "kind", json_object_new_string(is_migration(e->kind)
										  ? "migrate"
										  : e->kind));
		json_object_object_add(je, "vm", json_object_new_string(e->vm));
		json_object_object_add(je, "from", output_json_nonempty(e->from));
		json_object_object_add(je, "to", output_json_nonempty(e->to));
		json_object_object_add(je, "network", output_json_nonempty(e->network));
		json_object_object_add(je, "result", output_json_nonempty(e->result));
		json_object_object_add(je, "started_ms", json_object_new_uint64(e->started_ms));
		json_object_object_add(je, "finished_ms", json_object_new_uint64(e->finished_ms));
		json_object_object_add(je, "duration_ms", json_object_new_uint64(e->duration_ms));
		json_object_object_add(je, "downtime_ms", json_object_new_uint64(e->downtime_ms));
		json_object_object_add(je, "bytes", json_object_new_uint64(e->bytes));
		json_object_object_add(je, "attempts", json_object_new_int64(e->attempts));
		json_object_object_add(je, "error", output_json_nonempty(e->error));
		json_object_object_add(je, "origin", output_json_nonempty(e->origin));
		json_object_object_add(je, "fenced_ms",
				       e->fenced_ms ? json_object_new_uint64(e->fenced_ms) : NULL);
		json_object_array_add(arr, je);
	}
	json_object_object_add(o, "history", arr);
	return o;
}

/* HH:MM:SS of a wall-clock time in ms, local time; "-" for none. */
static void clock_of(uint64_t ms, char *buf, size_t size)
{
	time_t tt = (time_t)(ms / 1000);
	struct tm tm;

	if (!ms)
		strscpy(buf, "-", size);
	else if (localtime_r(&tt, &tm))
		strftime(buf, size, "%H:%M:%S", &tm);
	else
		strscpy(buf, "?", size);
}

int queue_view_history_text(const Drover__HistoryReply *h, FILE *f)
{
	static const char *const headers[] = {"OP",     "VM",       "FROM",     "TO",    "NET",
					      "RESULT", "DURATION", "DOWNTIME", "BYTES", "ATTEMPTS"};
	_cleanup_table_ struct output_table *t = NULL;

	if (!h->n_entries) {
		fprintf(f, "No finished operations.\n");
		return ferror(f) ? -EIO : 0;
	}
	t = output_table_new(ARRAY_SIZE(headers), headers);
	for (size_t i = 0; i < h->n_entries; i++) {
		const Drover__HistoryView *e = h->entries[i];
		char dur[OUTPUT_UNIT_MAX], down[OUTPUT_UNIT_MAX], bytes[OUTPUT_UNIT_MAX], att[16];
		const char *row[ARRAY_SIZE(headers)];

		if (e->started_ms)
			output_format_duration_ms(e->duration_ms, dur, sizeof(dur));
		else
			strscpy(dur, "-", sizeof(dur)); /* never started */
		if (e->downtime_ms)
			output_format_duration_ms(e->downtime_ms, down, sizeof(down));
		else
			strscpy(down, "-", sizeof(down));
		if (e->bytes)
			output_format_bytes(e->bytes, bytes, sizeof(bytes));
		else
			strscpy(bytes, "-", sizeof(bytes));
		snprintf(att, sizeof(att), "%" PRIu32, e->attempts);
		row[0] = op_label(e->kind, e->origin);
		row[1] = e->vm;
		row[2] = dash(e->from);
		row[3] = dash(e->to);
		row[4] = dash(e->network);
		row[5] = dash(e->result);
		row[6] = dur;
		row[7] = down;
		row[8] = bytes;
		row[9] = att;
		output_table_add_row(t, row);
		if (e->fenced_ms && e->finished_ms >= e->fenced_ms) {
			char note[256], when[16], began[16], after[OUTPUT_UNIT_MAX];

			clock_of(e->fenced_ms, when, sizeof(when));
			clock_of(e->started_ms, began, sizeof(began));
			output_format_duration_ms(e->finished_ms - e->fenced_ms, after, sizeof(after));
			snprintf(note, sizeof(note),
				 "    failover: %s fenced at %s, restart began at %s, %s %s later",
				 dash(e->from), when, began,
				 e->result && strcmp(e->result, "ok") == 0 ? "running again"
									   : "restart failed",
				 after);
			output_table_add_note(t, note);
		}
		if (e->error && *e->error) {
			char note[512];

			snprintf(note, sizeof(note), "    error: %s", e->error);
			output_table_add_note(t, note);
		}
	}
	return output_table_print(t, f);
}

/* ---- drover node drain --dry-run ---- */

struct json_object *queue_view_plan_json(const Drover__DrainPlan *p)
{
	struct json_object *o = json_object_new_object();
	struct json_object *steps = json_object_new_array();

	json_object_object_add(o, "node", json_object_new_string(p->node));
	for (size_t i = 0; i < p->n_steps; i++) {
		const Drover__PlanStep *s = p->steps[i];
		struct json_object *js = json_object_new_object();

		json_object_object_add(js, "vm", json_object_new_string(s->vm));
		json_object_object_add(js, "to", output_json_nonempty(s->to));
		json_object_object_add(js, "network", output_json_nonempty(s->network));
		json_object_object_add(js, "wave", json_object_new_int64(s->wave));
		json_object_object_add(js, "blocker", output_json_nonempty(s->blocker));
		json_object_object_add(js, "memory_mib", json_object_new_uint64(s->memory_mib));
		/* SR-IOV: "vf", "degraded", "waits", or null (no VF asked for). */
		json_object_object_add(js, "vf", output_json_nonempty(s->vf));
		json_object_object_add(js, "vf_pool", output_json_nonempty(s->vf_pool));
		json_object_array_add(steps, js);
	}
	json_object_object_add(o, "steps", steps);
	return o;
}

int queue_view_plan_text(const Drover__DrainPlan *p, FILE *f)
{
	static const char *const headers[] = {"VM", "TO", "NETWORK", "WAVE", "BLOCKER"};
	static const char *const vf_headers[] = {"VM", "TO", "NETWORK", "WAVE", "VF", "BLOCKER"};
	_cleanup_table_ struct output_table *t = NULL;
	size_t first = 0, later = 0, stuck = 0, degraded = 0;
	bool any_vf = false;
	int r;

	if (!p->n_steps) {
		fprintf(f, "%s: no VMs to move (dry run, nothing changed)\n", p->node);
		return ferror(f) ? -EIO : 0;
	}
	fprintf(f, "Drain plan for %s (dry run, nothing changed):\n", p->node);
	/* A VF column only when a VM asks for a VF: plans without SR-IOV look as before. */
	for (size_t i = 0; i < p->n_steps; i++)
		any_vf |= p->steps[i]->vf_pool && *p->steps[i]->vf_pool;
	t = any_vf ? output_table_new(ARRAY_SIZE(vf_headers), vf_headers)
		   : output_table_new(ARRAY_SIZE(headers), headers);
	for (size_t i = 0; i < p->n_steps; i++) {
		const Drover__PlanStep *s = p->steps[i];
		char wave[16], vf[64];
		const char *row[ARRAY_SIZE(vf_headers)];
		bool moves = s->to && *s->to;

		if (moves)
			snprintf(wave, sizeof(wave), "%" PRIu32, s->wave);
		else
			strscpy(wave, "-", sizeof(wave));
		if (!moves)
			stuck++;
		else if (s->wave <= 1)
			first++;
		else
			later++;
		row[0] = s->vm;
		row[1] = dash(s->to);
		row[2] = dash(s->network);
		row[3] = wave;
		row[4] = dash(s->blocker);
		if (any_vf) {
			/* "VF lab", "degraded (no VF)", "waits for a VF", or "-". */
			if (s->vf && !strcmp(s->vf, "vf"))
				snprintf(vf, sizeof(vf), "VF %s", s->vf_pool);
			else if (s->vf && !strcmp(s->vf, "degraded"))
				snprintf(vf, sizeof(vf), "degraded (no VF)");
			else if (s->vf && !strcmp(s->vf, "waits"))
				snprintf(vf, sizeof(vf), "waits for a VF");
			else
				snprintf(vf, sizeof(vf), "-");
			degraded += s->vf && !strcmp(s->vf, "degraded");
			row[4] = vf;
			row[5] = dash(s->blocker);
		}
		output_table_add_row(t, row);
	}
	r = output_table_print(t, f);
	fprintf(f, "%zu VM%s: %zu in the first wave, %zu later, %zu cannot move\n", p->n_steps,
		p->n_steps == 1 ? "" : "s", first, later, stuck);
	if (degraded)
		fprintf(f, "%zu VM%s will run degraded (no free VF on %s target)\n", degraded,
			degraded == 1 ? "" : "s", degraded == 1 ? "its" : "their");
	return r < 0 ? r : ferror(f) ? -EIO : 0;
}

/* ---- drover config show ---- */

struct json_object *queue_view_limits_json(const Drover__MigrationLimits *l)
{
	struct json_object *o, *caps;

	if (!l)
		return NULL;
	o = json_object_new_object();
	caps = json_object_new_array();
	json_object_object_add(o, "set", json_object_new_boolean(l->set));
	json_object_object_add(o, "max_out", json_object_new_int64(l->per_source));
	json_object_object_add(o, "max_in", json_object_new_int64(l->per_target));
	json_object_object_add(o, "max_total", json_object_new_int64(l->cluster));
	json_object_object_add(o, "max_retries", json_object_new_int64(l->max_retries));
	for (size_t i = 0; i < l->n_network_caps; i++) {
		struct json_object *c = json_object_new_object();

		json_object_object_add(c, "network",
				       json_object_new_string(l->network_caps[i]->network));
		json_object_object_add(c, "cap", json_object_new_int64(l->network_caps[i]->cap));
		json_object_array_add(caps, c);
	}
	json_object_object_add(o, "network_caps", caps);
	return o;
}

int queue_view_limits_text(const Drover__MigrationLimits *l, FILE *f)
{
	static const char *const headers[] = {"KEY", "VALUE", "MEANING"};
	_cleanup_table_ struct output_table *t = NULL;
	char v[4][16];
	int r;

	if (!l) {
		fprintf(f, "No limits known.\n");
		return ferror(f) ? -EIO : 0;
	}
	t = output_table_new(ARRAY_SIZE(headers), headers);
	format_limit(l->per_source, v[0], sizeof(v[0]));
	format_limit(l->per_target, v[1], sizeof(v[1]));
	format_limit(l->cluster, v[2], sizeof(v[2]));
	snprintf(v[3], sizeof(v[3]), "%" PRIu32, l->max_retries);
	output_table_add_row(
	    t, (const char *const[]){"max-out", v[0], "migrations leaving one node at a time"});
	output_table_add_row(
	    t, (const char *const[]){"max-in", v[1], "migrations arriving at one node at a time"});
	output_table_add_row(
	    t, (const char *const[]){"max-total", v[2], "migrations in the cluster at a time"});
	output_table_add_row(
	    t, (const char *const[]){"max-retries", v[3],
				     "retries on another network after a failed attempt"});
	for (size_t i = 0; i < l->n_network_caps; i++) {
		const Drover__NetworkCap *c = l->network_caps[i];
		char key[256], cap[16];

		snprintf(key, sizeof(key), "network.%s.cap", c->network);
		format_limit(c->cap, cap, sizeof(cap));
		output_table_add_row(
		    t, (const char *const[]){key, cap, "migrations over this network at a time"});
	}
	r = output_table_print(t, f);
	if (!l->set)
		fprintf(f, "\nNever set with 'drover config set': each coordinator uses its "
			   "drover.conf.\n");
	return r < 0 ? r : ferror(f) ? -EIO : 0;
}

/* ---- progress bar ---- */

void queue_view_progress_bar(uint32_t pct, int width, char *buf, size_t size)
{
	int inner, full;

	if (!size)
		return;
	if (width < 3)
		width = 3;
	if ((size_t)width >= size)
		width = (int)size - 1;
	if (width < 3) {
		buf[0] = '\0';
		return;
	}
	if (pct > 100)
		pct = 100;
	inner = width - 2;
	full = (int)((uint64_t)pct * (uint64_t)inner / 100);
	buf[0] = '[';
	for (int i = 0; i < inner; i++)
		buf[1 + i] = i < full ? '#' : '-';
	buf[width - 1] = ']';
	buf[width] = '\0';
}

/* ---- drover top: lines and small tables ---- */

/* Cut s to at most max bytes, never inside a UTF-8 sequence. */
static void cut_utf8(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	s[n] = '\0';
}

/* Control characters from the daemon's strings would move the cursor. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* A table for one section: row 0 is its heading row. */
struct vtab {
	size_t ncols, nrows, cap;
	char **cells;
	const int *limit; /* per column, the most it may take; 0: no limit */
};

static void vtab_init(struct vtab *t, size_t ncols, const int *limit, const char *const *headers)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->limit = limit;
	if (headers) {
		t->cells = xcalloc(ncols, sizeof(char *));
		t->cap = 1;
		for (size_t c = 0; c < ncols; c++)
			t->cells[c] = xstrdup(headers[c]);
		t->nrows = 1;
	}
}

static void vtab_add(struct vtab *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 8;
		t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof(char *));
	}
	for (size_t c = 0; c < t->ncols; c++) {
		char *s = xstrdup(cells[c] ? cells[c] : "");

		sanitize(s);
		t->cells[t->nrows * t->ncols + c] = s;
	}
	t->nrows++;
}

static void vtab_set(struct vtab *t, size_t row, size_t col, const char *s)
{
	free(t->cells[row * t->ncols + col]);
	t->cells[row * t->ncols + col] = xstrdup(s);
}

static void vtab_free(struct vtab *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

static void vtab_widths(const struct vtab *t, int *w)
{
	for (size_t c = 0; c < t->ncols; c++) {
		w[c] = 0;
		for (size_t r = 0; r < t->nrows; r++) {
			int n = (int)strlen(t->cells[r * t->ncols + c]);

			if (n > w[c])
				w[c] = n;
		}
		if (t->limit && t->limit[c] && w[c] > t->limit[c])
			w[c] = t->limit[c];
	}
}

/* Row r as one line: columns padded to w[], the last one not; malloc'd. */
static char *vtab_line(const struct vtab *t, size_t r, const int *w)
{
	size_t size = 1;
	char *line, *p;

	for (size_t c = 0; c < t->ncols; c++)
		size += strlen(t->cells[r * t->ncols + c]) + (size_t)w[c] + COL_SEP;
	line = xmalloc(size);
	p = line;
	for (size_t c = 0; c < t->ncols; c++) {
		_cleanup_free_ char *cell = xstrdup(t->cells[r * t->ncols + c]);
		size_t n;

		if (c + 1 < t->ncols)
			cut_utf8(cell, (size_t)w[c]);
		n = strlen(cell);
		memcpy(p, cell, n);
		p += n;
		if (c + 1 < t->ncols)
			for (size_t k = n; k < (size_t)w[c] + COL_SEP; k++)
				*p++ = ' ';
	}
	*p = '\0';
	while (p > line && p[-1] == ' ')
		*--p = '\0';
	return line;
}

/* A section of the frame: a heading line (or none) and its item lines. */
struct section {
	char *title;
	size_t n;
	char **items;
	enum top_line_kind *kinds;
	bool *primary; /* counts as one more in "+N more" (a node, a job) */
	size_t shown;  /* lines budgeted to the items, "+N more" included */
};

static void section_add(struct section *s, char *line, enum top_line_kind kind, bool primary)
{
	s->items = xrealloc(s->items, (s->n + 1) * sizeof(*s->items));
	s->kinds = xrealloc(s->kinds, (s->n + 1) * sizeof(*s->kinds));
	s->primary = xrealloc(s->primary, (s->n + 1) * sizeof(*s->primary));
	s->items[s->n] = line;
	s->kinds[s->n] = kind;
	s->primary[s->n] = primary;
	s->n++;
}

/* The table's rows as the section: row 0 its title, every other row an item. */
static void section_from_vtab(struct section *s, const struct vtab *t, const int *w)
{
	s->title = vtab_line(t, 0, w);
	for (size_t r = 1; r < t->nrows; r++)
		section_add(s, vtab_line(t, r, w), TOP_LINE_PLAIN, true);
}

static void section_free(struct section *s)
{
	free(s->title);
	for (size_t i = 0; i < s->n; i++)
		free(s->items[i]);
	free(s->items);
	free(s->kinds);
	free(s->primary);
	memset(s, 0, sizeof(*s));
}

static size_t section_cost(const struct section *s)
{
	if (!s->shown)
		return 0;
	return (s->title ? 1 : 0) + s->shown;
}

struct frame_builder {
	struct top_frame *f;
	int width, height;
};

static void frame_add(struct frame_builder *b, const char *text, enum top_line_kind kind)
{
	struct top_frame *f = b->f;
	char *line;

	if (f->n_lines >= b->height)
		return;
	line = xstrdup(text);
	sanitize(line);
	cut_utf8(line, (size_t)b->width);
	f->lines[f->n_lines] = line;
	f->kinds[f->n_lines] = kind;
	f->n_lines++;
}

static void emit_section(struct frame_builder *b, const struct section *s)
{
	size_t show;

	if (!s->shown)
		return;
	if (s->title)
		frame_add(b, s->title, TOP_LINE_TITLE);
	show = s->shown >= s->n ? s->n : s->shown - 1;
	for (size_t i = 0; i < show; i++)
		frame_add(b, s->items[i], s->kinds[i]);
	if (show < s->n) {
		size_t more = 0;
		char line[64];

		for (size_t i = show; i < s->n; i++)
			more += s->primary[i];
		if (more)
			snprintf(line, sizeof(line), "  +%zu more", more);
		else
			snprintf(line, sizeof(line), "  +%zu more lines", s->n - show);
		frame_add(b, line, TOP_LINE_MORE);
	}
}

/* ---- drover top: the sections ---- */

static const Drover__NodeSlots *find_slots(const Drover__QueueReply *q, uint32_t id,
					   const char *name)
{
	if (!q)
		return NULL;
	for (size_t i = 0; i < q->n_nodes; i++) {
		const Drover__NodeSlots *n = q->nodes[i];

		if ((id && n->id == id) || (name && n->name && strcmp(n->name, name) == 0))
			return n;
	}
	return NULL;
}

/* "1/2", or "1" when the limit is 0 (none) or unknown. */
static void format_slots(uint32_t used, uint32_t limit, char *buf, size_t size)
{
	if (limit)
		snprintf(buf, size, "%" PRIu32 "/%" PRIu32, used, limit);
	else
		snprintf(buf, size, "%" PRIu32, used);
}

static size_t count_queued_from(const Drover__QueueReply *q, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; q && i < q->n_jobs; i++)
		if (is_state(q->jobs[i], "queued") && q->jobs[i]->from &&
		    strcmp(q->jobs[i]->from, name) == 0)
			n++;
	return n;
}

static void node_row(struct vtab *t, const Drover__QueueReply *q, const char *name, uint32_t id,
		     Drover__NodeState state, bool online, uint32_t out, uint32_t in, long queued)
{
	const Drover__NodeSlots *sl = find_slots(q, id, name);
	const Drover__MigrationLimits *l = q ? q->limits : NULL;
	char st[64], o[24], i[24], vms[16], qd[24], mem[2 * OUTPUT_UNIT_MAX + 2];

	snprintf(st, sizeof(st), "%s%s", node_state_name(state), online ? "" : "/offline");
	if (sl) {
		out = sl->out;
		in = sl->in;
	}
	format_slots(out, l ? l->per_source : 0, o, sizeof(o));
	format_slots(in, l ? l->per_target : 0, i, sizeof(i));
	if (sl)
		snprintf(vms, sizeof(vms), "%" PRIu32, sl->vms);
	else
		strscpy(vms, "-", sizeof(vms));
	if (queued >= 0)
		snprintf(qd, sizeof(qd), "%ld", queued);
	else
		strscpy(qd, "-", sizeof(qd));
	if (sl && sl->memory_mib) {
		char used[OUTPUT_UNIT_MAX], total[OUTPUT_UNIT_MAX];

		output_format_bytes(sl->memory_used_mib * 1024 * 1024, used, sizeof(used));
		output_format_bytes(sl->memory_mib * 1024 * 1024, total, sizeof(total));
		snprintf(mem, sizeof(mem), "%s/%s", used, total);
	} else {
		strscpy(mem, "-", sizeof(mem));
	}
	vtab_add(t, (const char *const[]){name, st, o, i, vms, qd, mem});
}

static void build_nodes(struct section *s, const struct top_input *in, int width)
{
	static const char *const headers[] = {"NODE", "STATE",  "OUT",   "IN",
					      "VMS",  "QUEUED", "MEMORY"};
	static const int limit[] = {16, 20, 9, 9, 5, 6, 0};
	const Drover__StatusReply *st = in->status;
	const Drover__QueueReply *q = in->queue;
	struct vtab t;
	int w[ARRAY_SIZE(headers)];

	if ((!st || !st->n_nodes) && (!q || !q->n_nodes))
		return;
	vtab_init(&t, ARRAY_SIZE(headers), limit, headers);
	if (st && st->n_nodes) {
		for (size_t i = 0; i < st->n_nodes; i++) {
			const Drover__NodeStatus *n = st->nodes[i];

			node_row(&t, q, n->name, n->id, n->state, n->online, n->migrations_out,
				 n->migrations_in, (long)n->jobs_queued);
		}
	} else {
		for (size_t i = 0; i < q->n_nodes; i++) {
			const Drover__NodeSlots *n = q->nodes[i];

			node_row(&t, q, n->name, n->id, n->state, n->online, n->out, n->in,
				 (long)count_queued_from(q, n->name));
		}
	}
	vtab_widths(&t, w);
	s->title = vtab_line(&t, 0, w);
	for (size_t r = 1; r < t.nrows; r++) {
		const Drover__NodeStatus *n = st && st->n_nodes ? st->nodes[r - 1] : NULL;

		section_add(s, vtab_line(&t, r, w), TOP_LINE_PLAIN, true);
		if (n && (n->n_vf_pools || n->ipsec_sa_capacity || n->ipsec_sa_used)) {
			/* SR-IOV: its VF pools' free VFs and its IPsec SA use, on one line. */
			size_t size = (size_t)width + 64, used;
			char *line = xmalloc(size);

			used = (size_t)snprintf(line, size, "  VFs");
			for (size_t k = 0; k < n->n_vf_pools && used < size; k++)
				used += (size_t)snprintf(line + used, size - used, " %s %u/%u free",
							 n->vf_pools[k]->name, n->vf_pools[k]->free,
							 n->vf_pools[k]->total);
			if (!n->n_vf_pools && used < size)
				used += (size_t)snprintf(line + used, size - used, " none");
			if (used < size)
				snprintf(line + used, size - used, "  IPsec SAs %llu/%u",
					 (unsigned long long)n->ipsec_sa_used, n->ipsec_sa_capacity);
			section_add(s, line, n->ipsec_sa_used > n->ipsec_sa_capacity ? TOP_LINE_ALERT
										  : TOP_LINE_PLAIN,
				    false);
		}
		if (n && n->n_drain_failures) {
			/* One line per node however many VMs failed: the width cuts it. */
			size_t size = (size_t)width + 64, used;
			char *line = xmalloc(size);

			used = (size_t)snprintf(line, size, "  drain failed:");
			for (size_t k = 0; k < n->n_drain_failures && used < size; k++) {
				int m = snprintf(line + used, size - used, "%s %s", k ? ";" : "",
						 n->drain_failures[k]);
				if (m < 0)
					break;
				used += (size_t)m;
			}
			section_add(s, line, TOP_LINE_ALERT, false);
		}
	}
	vtab_free(&t);
}

static void build_networks(struct section *s, const struct top_input *in)
{
	static const char *const headers[] = {"NETWORK", "ORDER", "ACTIVE",
					      "RATE",    "PAIRS", "DOWN"};
	static const int limit[] = {16, 5, 9, 12, 9, 0};
	Drover__NetworkView *const *nets = NULL;
	size_t n = 0;
	struct vtab t;
	int w[ARRAY_SIZE(headers)];

	/* The queue's view is the coordinator's; status has it too. */
	if (in->queue && in->queue->n_networks) {
		nets = in->queue->networks;
		n = in->queue->n_networks;
	} else if (in->status && in->status->n_networks) {
		nets = in->status->networks;
		n = in->status->n_networks;
	}
	if (!n)
		return;
	vtab_init(&t, ARRAY_SIZE(headers), limit, headers);
	for (size_t i = 0; i < n; i++) {
		const Drover__NetworkView *nw = nets[i];
		char order[16], active[24], rate[OUTPUT_UNIT_MAX], pairs[32];
		_cleanup_free_ char *down = NULL;
		size_t size = 1;

		snprintf(order, sizeof(order), "%" PRIu32, nw->order);
		format_slots(nw->active, nw->cap, active, sizeof(active));
		output_format_rate(nw->rate_bps, rate, sizeof(rate));
		snprintf(pairs, sizeof(pairs), "%" PRIu32 "/%" PRIu32, nw->pairs_up,
			 nw->pairs_total);
		for (size_t k = 0; k < nw->n_down; k++)
			size += strlen(nw->down[k]) + 1;
		down = xcalloc(1, size + 1);
		for (size_t k = 0; k < nw->n_down; k++) {
			if (k)
				strcat(down, ",");
			strcat(down, nw->down[k]);
		}
		vtab_add(&t, (const char *const[]){nw->name, order, active, rate, pairs,
						   *down ? down : "-"});
	}
	vtab_widths(&t, w);
	section_from_vtab(s, &t, w);
	vtab_free(&t);
}

/*
 * Where an operation goes: "n1->n2" for a migration ("?" while it has no
 * target), the one node of a start or a stop, or "n3->n2" for a restart after
 * n3 was fenced.
 */
static void op_route(const char *kind, const char *from, const char *to, char *buf, size_t size)
{
	bool has_from = from && *from, has_to = to && *to;

	if (is_migration(kind) || (has_from && has_to))
		snprintf(buf, size, "%s->%s", dash(from), has_to ? to : "?");
	else
		snprintf(buf, size, "%s", has_to ? to : dash(from));
}

static void route(const Drover__JobView *j, char *buf, size_t size)
{
	op_route(j->kind, j->from, j->to, buf, size);
}

static void build_running(struct section *s, const struct top_input *in, int width)
{
	static const char *const base_headers[] = {"RUNNING",  "ROUTE", "NET",
						   "PROGRESS", "RATE",  "ETA"};
	static const int limit[] = {20, 25, 12, 0, 12, 8};
	const Drover__QueueReply *q = in->queue;
	const char *headers[ARRAY_SIZE(base_headers)];
	char title[32];
	struct vtab t;
	int w[ARRAY_SIZE(base_headers)], bar, others = 0;
	size_t n = 0;

	for (size_t i = 0; q && i < q->n_jobs; i++)
		n += is_state(q->jobs[i], "running") && is_migration(q->jobs[i]->kind);
	if (!n)
		return;
	memcpy(headers, base_headers, sizeof(headers));
	snprintf(title, sizeof(title), "RUNNING %zu", n);
	headers[0] = title;
	vtab_init(&t, ARRAY_SIZE(headers), limit, headers);
	for (size_t i = 0; i < q->n_jobs; i++) {
		const Drover__JobView *j = q->jobs[i];
		char rt[160], rate[OUTPUT_UNIT_MAX], eta[OUTPUT_UNIT_MAX];

		if (!is_state(j, "running") || !is_migration(j->kind))
			continue;
		route(j, rt, sizeof(rt));
		if (j->rate_bps)
			output_format_rate(j->rate_bps, rate, sizeof(rate));
		else
			strscpy(rate, "-", sizeof(rate));
		output_format_duration_s(j->eta_s, eta, sizeof(eta));
		vtab_add(&t, (const char *const[]){j->vm, rt, dash(j->network), "", rate, eta});
	}
	/* The bar takes what the other columns leave, within reason. */
	vtab_widths(&t, w);
	for (size_t c = 0; c < ARRAY_SIZE(headers); c++)
		if (c != 3)
			others += w[c] + COL_SEP;
	bar = width - others - COL_SEP - 5; /* " 100%" */
	if (bar > 42)
		bar = 42;
	if (bar < 12)
		bar = 12;
	for (size_t r = 1, i = 0; i < q->n_jobs; i++) {
		const Drover__JobView *j = q->jobs[i];
		char cell[64], b[48];
		uint32_t pct;

		if (!is_state(j, "running") || !is_migration(j->kind))
			continue;
		pct = j->progress_pct > 100 ? 100 : j->progress_pct;
		queue_view_progress_bar(pct, bar, b, sizeof(b));
		snprintf(cell, sizeof(cell), "%s %3" PRIu32 "%%", b, pct);
		vtab_set(&t, r++, 3, cell);
	}
	vtab_widths(&t, w);
	section_from_vtab(s, &t, w);
	vtab_free(&t);
}

/* Whether recovery has a row for vm (then RECOVERIES shows it, with its reason). */
static bool in_recoveries(const Drover__QueueReply *q, const char *vm)
{
	for (size_t i = 0; q && vm && i < q->n_recoveries; i++)
		if (q->recoveries[i]->vm && strcmp(q->recoveries[i]->vm, vm) == 0)
			return true;
	return false;
}

static bool is_ours(const Drover__JobView *j, const Drover__QueueReply *q)
{
	return is_state(j, "running") && !is_migration(j->kind) && !in_recoveries(q, j->vm);
}

void queue_view_recovery_why(const Drover__RecoveryView *r, uint64_t now_ms, char *buf,
			     size_t size)
{
	const char *st = r->state ? r->state : "";
	const char *reason = r->reason ? r->reason : "";
	char took[OUTPUT_UNIT_MAX];

	if (r->since_ms && now_ms > r->since_ms)
		output_format_duration_ms(now_ms - r->since_ms, took, sizeof(took));
	else
		strscpy(took, "-", sizeof(took));
	if (strcmp(st, "fencing") == 0) {
		if (*reason)
			snprintf(buf, size, "waits for %s to be fenced; it failed: %s", dash(r->from),
				 reason);
		else
			snprintf(buf, size, "waits for %s to be fenced (lost %s ago)", dash(r->from),
				 took);
	} else if (strcmp(st, "waiting") == 0) {
		snprintf(buf, size, "%s", *reason ? reason : "waiting");
	} else if (strcmp(st, "planned") == 0) {
		snprintf(buf, size, "starts on %s next", dash(r->to));
	} else if (strcmp(st, "starting") == 0) {
		snprintf(buf, size, "restarting on %s for %s", dash(r->to), took);
	} else if (strcmp(st, "preempting") == 0) {
		snprintf(buf, size, "stopped on %s to make room for '%s'", dash(r->to),
			 r->for_vm && *r->for_vm ? r->for_vm : "?");
	} else {
		snprintf(buf, size, "%s", *reason ? reason : st);
	}
}

/*
 * Recovery: a lost node's VMs and preempted ones, what is done for each and
 * why it waits (fencing, room, the per-node throttle), high priority first.
 */
static void build_recoveries(struct section *s, const struct top_input *in)
{
	static const char *const base_headers[] = {"RECOVERIES", "STATE", "FROM", "PRIO", "WHY"};
	static const int limit[] = {20, 10, 16, 6, 0};
	const Drover__QueueReply *q = in->queue;
	const char *headers[ARRAY_SIZE(base_headers)];
	char title[32];
	struct vtab t;
	int w[ARRAY_SIZE(base_headers)];

	if (!q || !q->n_recoveries)
		return;
	memcpy(headers, base_headers, sizeof(headers));
	snprintf(title, sizeof(title), "RECOVERIES %zu", q->n_recoveries);
	headers[0] = title;
	vtab_init(&t, ARRAY_SIZE(headers), limit, headers);
	for (size_t i = 0; i < q->n_recoveries; i++) {
		const Drover__RecoveryView *r = q->recoveries[i];
		char why[512];

		queue_view_recovery_why(r, (uint64_t)in->now * 1000u, why, sizeof(why));
		vtab_add(&t, (const char *const[]){r->vm, dash(r->state), dash(r->from),
						   dash(r->priority), why});
	}
	vtab_widths(&t, w);
	section_from_vtab(s, &t, w);
	vtab_free(&t);
}

/*
 * Starts and stops under way that recovery does not show: operators' starts
 * and stops, second copies' destroys (and a failover's restarts and
 * preemptions when droverd sends no recoveries).
 */
static void build_operations(struct section *s, const struct top_input *in)
{
	static const char *const base_headers[] = {"OPERATIONS", "OP", "ROUTE", "FOR"};
	static const int limit[] = {20, 8, 25, 0};
	const Drover__QueueReply *q = in->queue;
	const char *headers[ARRAY_SIZE(base_headers)];
	char title[32];
	struct vtab t;
	int w[ARRAY_SIZE(base_headers)];
	size_t n = 0;

	for (size_t i = 0; q && i < q->n_jobs; i++)
		n += is_ours(q->jobs[i], q);
	if (!n)
		return;
	memcpy(headers, base_headers, sizeof(headers));
	snprintf(title, sizeof(title), "OPERATIONS %zu", n);
	headers[0] = title;
	vtab_init(&t, ARRAY_SIZE(headers), limit, headers);
	for (size_t i = 0; i < q->n_jobs; i++) {
		const Drover__JobView *j = q->jobs[i];
		char rt[160], took[OUTPUT_UNIT_MAX];
		uint64_t now_ms = (uint64_t)in->now * 1000u;

		if (!is_ours(j, q))
			continue;
		route(j, rt, sizeof(rt));
		if (j->started_ms && now_ms > j->started_ms)
			output_format_duration_ms(now_ms - j->started_ms, took, sizeof(took));
		else
			strscpy(took, "-", sizeof(took));
		vtab_add(&t, (const char *const[]){j->vm, op_label(j->kind, j->origin), rt, took});
	}
	vtab_widths(&t, w);
	section_from_vtab(s, &t, w);
	vtab_free(&t);
}

static void build_queued(struct section *s, const struct top_input *in)
{
	static const char *const base_headers[] = {"QUEUED", "FROM", "PRIO", "WAITING FOR"};
	static const int limit[] = {20, 16, 6, 0};
	const Drover__QueueReply *q = in->queue;
	const char *headers[ARRAY_SIZE(base_headers)];
	char title[32];
	struct vtab t;
	int w[ARRAY_SIZE(base_headers)];
	size_t n = 0;

	for (size_t i = 0; q && i < q->n_jobs; i++)
		n += is_state(q->jobs[i], "queued");
	if (!n)
		return;
	memcpy(headers, base_headers, sizeof(headers));
	snprintf(title, sizeof(title), "QUEUED %zu", n);
	headers[0] = title;
	vtab_init(&t, ARRAY_SIZE(headers), limit, headers);
	for (size_t i = 0; i < q->n_jobs; i++) {
		const Drover__JobView *j = q->jobs[i];
		char why[512];

		if (!is_state(j, "queued"))
			continue;
		if (j->n_attempts)
			snprintf(why, sizeof(why), "retry %zu: %s", j->n_attempts,
				 j->blocker && *j->blocker ? j->blocker : "starting");
		else
			snprintf(why, sizeof(why), "%s",
				 j->blocker && *j->blocker ? j->blocker : "starting");
		vtab_add(&t, (const char *const[]){j->vm, dash(j->from),
						   vm_priority_name(j->priority), why});
	}
	vtab_widths(&t, w);
	section_from_vtab(s, &t, w);
	vtab_free(&t);
}

/*
 * VMs that run without the VF they ask for, short of IPsec offload capacity,
 * or whose host's live XML disagrees with the VF drover allocated them.
 */
static void build_degraded(struct section *s, const struct top_input *in)
{
	static const char *const headers[] = {"DEGRADED", "NODE", "WHY"};
	static const int limit[] = {20, 16, 0};
	struct vtab t;
	int w[ARRAY_SIZE(headers)];

	if (!in->vms)
		return;
	vtab_init(&t, ARRAY_SIZE(headers), limit, headers);
	for (size_t i = 0; i < in->vms->n_vms; i++) {
		const Drover__VmStatus *v = in->vms->vms[i];
		char why[400];
		const char *row[3];
		bool mismatch = v->vf_mismatch && *v->vf_mismatch;
		int n;

		if (!(v->degraded && *v->degraded) && !v->ipsec_short && !mismatch)
			continue;
		n = snprintf(why, sizeof(why), "%s%s%s", v->degraded && *v->degraded ? v->degraded : "",
			     v->degraded && *v->degraded && v->ipsec_short ? "; " : "",
			     v->ipsec_short ? "IPsec SAs beyond the node's offload capacity" : "");
		if (mismatch && n >= 0 && (size_t)n < sizeof(why))
			snprintf(why + n, sizeof(why) - (size_t)n, "%sVF MISMATCH: %s", n ? "; " : "",
				 v->vf_mismatch);
		row[0] = v->name;
		row[1] = v->node && *v->node ? v->node : "-";
		row[2] = why;
		vtab_add(&t, row);
	}
	if (t.nrows > 1) {
		vtab_widths(&t, w);
		section_from_vtab(s, &t, w);
	}
	vtab_free(&t);
}

static void build_history(struct section *s, const struct top_input *in)
{
	static const char *const headers[] = {"RECENT", "OP",   "VM",   "ROUTE",    "NET",
					      "RESULT", "TOOK", "DOWNTIME", "ERROR"};
	static const int limit[] = {8, 8, 20, 25, 12, 9, 7, 8, 0};
	const Drover__HistoryReply *h = in->history;
	struct vtab t;
	int w[ARRAY_SIZE(headers)];

	if (!h || !h->n_entries)
		return;
	vtab_init(&t, ARRAY_SIZE(headers), limit, headers);
	for (size_t i = 0; i < h->n_entries; i++) {
		const Drover__HistoryView *e = h->entries[i];
		char when[16], rt[160], took[OUTPUT_UNIT_MAX], down[OUTPUT_UNIT_MAX];

		if (e->finished_ms) {
			time_t tt = (time_t)(e->finished_ms / 1000);
			struct tm tm;

			if (localtime_r(&tt, &tm))
				strftime(when, sizeof(when), "%H:%M:%S", &tm);
			else
				strscpy(when, "-", sizeof(when));
		} else {
			strscpy(when, "-", sizeof(when));
		}
		op_route(e->kind, e->from, e->to, rt, sizeof(rt));
		if (e->started_ms)
			output_format_duration_ms(e->duration_ms, took, sizeof(took));
		else
			strscpy(took, "-", sizeof(took));
		if (e->downtime_ms)
			output_format_duration_ms(e->downtime_ms, down, sizeof(down));
		else
			strscpy(down, "-", sizeof(down));
		vtab_add(&t, (const char *const[]){when, op_label(e->kind, e->origin), e->vm, rt,
						   dash(e->network), dash(e->result), took, down,
						   dash(e->error)});
	}
	vtab_widths(&t, w);
	section_from_vtab(s, &t, w);
	vtab_free(&t);
}

/* ---- drover top: the frame ---- */

static void header_line(const struct top_input *in, int width, char *buf, size_t size)
{
	const Drover__StatusReply *st = in->status;
	char left[512], right[160], clock[16] = "";
	size_t l, r;
	struct tm tm;

	if (localtime_r(&in->now, &tm))
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	if (st) {
		char coord[160];

		if (st->coordinator_id)
			snprintf(coord, sizeof(coord), "%s", dash(st->coordinator));
		else
			strscpy(coord, "none", sizeof(coord));
		snprintf(left, sizeof(left),
			 "drover  %s  coordinator %s  epoch %" PRIu64 "  local %s%s",
			 st->quorate ? "quorate" : "NO QUORUM", coord, st->epoch,
			 dash(st->local_name), st->synced ? "" : "  (synchronising)");
	} else {
		strscpy(left, "drover  (no status from droverd yet)", sizeof(left));
	}
	snprintf(right, sizeof(right), "%s%s%s", in->hint ? in->hint : "",
		 in->hint && *clock ? "  " : "", clock);
	l = strlen(left);
	r = strlen(right);
	if (l + 2 + r > (size_t)width) {
		/* Keep the clock, drop the hint; then drop both. */
		strscpy(right, clock, sizeof(right));
		r = strlen(right);
		if (l + 2 + r > (size_t)width)
			r = 0;
	}
	if (r)
		snprintf(buf, size, "%-*s%s", width - (int)r, left, right);
	else
		snprintf(buf, size, "%s", left);
}

/*
 * Share avail lines among the sections. While too much: shorten the list that
 * is longest for its weight (a running migration weighs most, a history line
 * least), never below one item and its "+N more"; when every list is that
 * short, drop whole sections, the least urgent first.
 */
enum {
	SEC_NODES,
	SEC_NETWORKS,
	SEC_RUNNING,
	SEC_RECOVERIES,
	SEC_OPERATIONS,
	SEC_QUEUED,
	SEC_IDLE,
	SEC_DEGRADED,
	SEC_HISTORY,
	N_SECTIONS
};

static void share_lines(struct section *sec, size_t avail)
{
	static const size_t weight[N_SECTIONS] = {
	    [SEC_NODES] = 4,  [SEC_NETWORKS] = 3, [SEC_RUNNING] = 6, [SEC_RECOVERIES] = 5,
	    [SEC_OPERATIONS] = 5, [SEC_QUEUED] = 2, [SEC_IDLE] = 6, [SEC_DEGRADED] = 2,
	    [SEC_HISTORY] = 1,
	};
	static const int drop_order[] = {SEC_HISTORY, SEC_NETWORKS, SEC_DEGRADED,   SEC_QUEUED,
					 SEC_IDLE,    SEC_NODES,    SEC_RUNNING,    SEC_OPERATIONS,
					 SEC_RECOVERIES};
	size_t need = 0;

	for (int i = 0; i < N_SECTIONS; i++) {
		sec[i].shown = sec[i].n;
		need += section_cost(&sec[i]);
	}
	while (need > avail) {
		int pick = -1;

		for (int i = N_SECTIONS - 1; i >= 0; i--) {
			if (sec[i].shown <= 2)
				continue;
			if (pick < 0 || sec[i].shown * weight[pick] > sec[pick].shown * weight[i])
				pick = i;
		}
		if (pick < 0)
			break;
		sec[pick].shown--;
		need--;
	}
	for (size_t d = 0; d < ARRAY_SIZE(drop_order) && need > avail; d++) {
		need -= section_cost(&sec[drop_order[d]]);
		sec[drop_order[d]].shown = 0;
	}
}

int queue_view_top_render(const struct top_input *in, int width, int height, struct top_frame *ret)
{
	struct section sec[N_SECTIONS] = {0};
	struct top_frame f = {0};
	struct frame_builder b = {.f = &f, .width = width, .height = height};
	_cleanup_free_ char *header = NULL;
	size_t fixed = 1;

	if (!in || width < 20 || height < 1)
		return -EINVAL;
	f.lines = xcalloc((size_t)height, sizeof(*f.lines));
	f.kinds = xcalloc((size_t)height, sizeof(*f.kinds));

	header = xmalloc((size_t)width + 600);
	header_line(in, width, header, (size_t)width + 600);
	if (in->error && *in->error)
		fixed++;

	build_nodes(&sec[SEC_NODES], in, width);
	build_networks(&sec[SEC_NETWORKS], in);
	build_running(&sec[SEC_RUNNING], in, width);
	build_recoveries(&sec[SEC_RECOVERIES], in);
	build_operations(&sec[SEC_OPERATIONS], in);
	build_queued(&sec[SEC_QUEUED], in);
	if (in->queue && !sec[SEC_RUNNING].n && !sec[SEC_QUEUED].n && !sec[SEC_OPERATIONS].n &&
	    !sec[SEC_RECOVERIES].n)
		section_add(&sec[SEC_IDLE], xstrdup("No migrations running or queued."),
			    TOP_LINE_PLAIN, false);
	build_degraded(&sec[SEC_DEGRADED], in);
	build_history(&sec[SEC_HISTORY], in);
	share_lines(sec, (size_t)height > fixed ? (size_t)height - fixed : 0);

	frame_add(&b, header,
		  in->status && !in->status->quorate ? TOP_LINE_ALERT : TOP_LINE_HEADER);
	if (in->error && *in->error) {
		_cleanup_free_ char *e = xmalloc(strlen(in->error) + 3);

		sprintf(e, "! %s", in->error);
		frame_add(&b, e, TOP_LINE_ALERT);
	}
	for (int i = 0; i < N_SECTIONS; i++) {
		emit_section(&b, &sec[i]);
		section_free(&sec[i]);
	}
	*ret = f;
	return 0;
}

void queue_view_top_frame_clear(struct top_frame *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->n_lines; i++)
		free(f->lines[i]);
	free(f->lines);
	free(f->kinds);
	memset(f, 0, sizeof(*f));
}

int queue_view_top_print(const struct top_frame *f, FILE *out)
{
	for (int i = 0; i < f->n_lines; i++)
		fprintf(out, "%s\n", f->lines[i]);
	return ferror(out) ? -EIO : 0;
}
