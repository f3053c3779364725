/*
 * Text and JSON rendering for the drover CLI (see output.h).
 *
 * JSON goes through json-c rather than hand-written printf: node names come
 * from corosync's nodelist and error strings from the daemon, and json-c gets
 * their escaping right. Documents are pretty-printed: jq reads them as well as
 * a single line, and a person reading `--output json` does not need jq.
 *
 * The table helper keeps every cell as its own copy, so callers can format
 * into a stack buffer and reuse it for the next cell. It is plain ASCII
 * padding by byte count: names are corosync node names, which are host names.
 */
#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

int output_format_parse(const char *s, enum output_format *ret)
{
	if (strcmp(s, "text") == 0)
		*ret = OUTPUT_TEXT;
	else if (strcmp(s, "json") == 0)
		*ret = OUTPUT_JSON;
	else
		return -EINVAL;
	return 0;
}

struct json_object *output_json_string_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

struct json_object *output_json_nonempty(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

int output_json_print(struct json_object *obj, FILE *f)
{
	const char *s;

	s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (fputs(s, f) == EOF || fputc('\n', f) == EOF)
		return -EIO;
	return 0;
}

struct json_object *output_json_envelope(struct json_object *obj, const char *command)
{
	struct json_object *env = json_object_new_object();

	json_object_object_add(env, "format", json_object_new_string(OUTPUT_JSON_FORMAT));
	json_object_object_add(env, "command", json_object_new_string(command));
	if (!obj)
		return env;
	if (!json_object_is_type(obj, json_type_object)) {
		/* Not a command's document shape; kept whole rather than dropped. */
		json_object_object_add(env, "result", json_object_get(obj));
		return env;
	}
	json_object_object_foreach(obj, key, val)
	{
		if (strcmp(key, "format") == 0 || strcmp(key, "command") == 0)
			continue;
		json_object_object_add(env, key, json_object_get(val));
	}
	return env;
}

/* ---- tables ---- */

struct output_table {
	size_t ncols;
	size_t nrows; /* including the header row */
	size_t cap;
	char **cells; /* nrows * ncols, row-major */
	size_t nnotes;
	size_t *note_row; /* printed after this row */
	char **notes;
};

struct output_table *output_table_new(size_t ncols, const char *const *headers)
{
	struct output_table *t = xcalloc(1, sizeof(*t));

	t->ncols = ncols;
	output_table_add_row(t, headers);
	return t;
}

void output_table_add_row(struct output_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 8;
		t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof(char *));
	}
	for (size_t c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] = xstrdup(cells[c] ? cells[c] : "");
	t->nrows++;
}

void output_table_add_note(struct output_table *t, const char *line)
{
	t->note_row = xrealloc(t->note_row, (t->nnotes + 1) * sizeof(*t->note_row));
	t->notes = xrealloc(t->notes, (t->nnotes + 1) * sizeof(*t->notes));
	t->note_row[t->nnotes] = t->nrows - 1;
	t->notes[t->nnotes] = xstrdup(line);
	t->nnotes++;
}

int output_table_print(const struct output_table *t, FILE *f)
{
	_cleanup_free_ size_t *width = xcalloc(t->ncols, sizeof(size_t));
	size_t note = 0;

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t w = strlen(t->cells[r * t->ncols + c]);
			if (w > width[c])
				width[c] = w;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];

			if (c + 1 == t->ncols)
				fprintf(f, "%s\n", cell);
			else
				fprintf(f, "%-*s  ", (int)width[c], cell);
		}
		for (; note < t->nnotes && t->note_row[note] == r; note++)
			fprintf(f, "%s\n", t->notes[note]);
	}
	return ferror(f) ? -EIO : 0;
}

void output_table_free(struct output_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	for (size_t i = 0; i < t->nnotes; i++)
		free(t->notes[i]);
	free(t->notes);
	free(t->note_row);
	free(t->cells);
	free(t);
}

/* ---- units ---- */

void output_format_bytes(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", bytes);
		return;
	}
	while (v >= 1024.0 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024.0;
		u++;
	}
	/* 1023.96 KiB would print as "1024.0 KiB": say "1.0 MiB" instead. */
	if (v >= 1023.95 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, size, "%.1f %s", v, units[u]);
}

void output_format_rate(uint64_t bytes_per_s, char *buf, size_t size)
{
	char b[OUTPUT_UNIT_MAX];

	output_format_bytes(bytes_per_s, b, sizeof(b));
	snprintf(buf, size, "%s/s", b);
}

void output_format_duration_s(int64_t secs, char *buf, size_t size)
{
	if (secs < 0)
		snprintf(buf, size, "-");
	else if (secs < 60)
		snprintf(buf, size, "%" PRId64 "s", secs);
	else if (secs < 3600)
		snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", secs / 60, secs % 60);
	else if (secs < 86400)
		snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", secs / 3600, secs % 3600 / 60);
	else
		snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", secs / 86400,
			 secs % 86400 / 3600);
}

void output_format_duration_ms(uint64_t ms, char *buf, size_t size)
{
	if (ms < 1000)
		snprintf(buf, size, "%" PRIu64 "ms", ms);
	else if (ms < 10000)
		snprintf(buf, size, "%" PRIu64 ".%" PRIu64 "s", ms / 1000, ms % 1000 / 100);
	else
		output_format_duration_s((int64_t)(ms / 1000), buf, size);
}

/* ---- networks ---- */

struct json_object *output_network_json(const Drover__NetworkView *n)
{
	struct json_object *o = json_object_new_object();
	struct json_object *down = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(n->name));
	json_object_object_add(o, "order", json_object_new_int64(n->order));
	json_object_object_add(o, "kind", output_json_nonempty(n->kind));
	json_object_object_add(o, "cap", json_object_new_int64(n->cap));
	json_object_object_add(o, "active", json_object_new_int64(n->active));
	json_object_object_add(o, "rate_bps", json_object_new_uint64(n->rate_bps));
	json_object_object_add(o, "pairs_up", json_object_new_int64(n->pairs_up));
	json_object_object_add(o, "pairs_total", json_object_new_int64(n->pairs_total));
	for (size_t i = 0; i < n->n_down; i++)
		json_object_array_add(down, json_object_new_string(n->down[i]));
	json_object_object_add(o, "down", down);
	return o;
}

/* "n1-n3 n2-n3", or "-"; cut with "..." when it does not fit. */
static void format_down(const Drover__NetworkView *n, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n->n_down; i++) {
		int w = snprintf(buf + used, size - used, "%s%s", i ? " " : "", n->down[i]);

		if (w < 0 || (size_t)w >= size - used) {
			if (size > 4)
				strscpy(buf + size - 4, "...", 4);
			return;
		}
		used += (size_t)w;
	}
	if (!buf[0])
		strscpy(buf, "-", size);
}

int output_networks_text(Drover__NetworkView *const *networks, size_t n, FILE *f)
{
	static const char *const headers[] = {"NAME",   "ORDER", "KIND",  "CAP",
					      "ACTIVE", "RATE",  "PAIRS", "DOWN"};
	_cleanup_table_ struct output_table *t = output_table_new(ARRAY_SIZE(headers), headers);

	for (size_t i = 0; i < n; i++) {
		const Drover__NetworkView *nw = networks[i];
		char order[16], cap[16], active[16], rate[OUTPUT_UNIT_MAX], pairs[32], down[256];
		const char *row[ARRAY_SIZE(headers)];

		snprintf(order, sizeof(order), "%" PRIu32, nw->order);
		if (nw->cap)
			snprintf(cap, sizeof(cap), "%" PRIu32, nw->cap);
		else
			strscpy(cap, "-", sizeof(cap));
		snprintf(active, sizeof(active), "%" PRIu32, nw->active);
		output_format_rate(nw->rate_bps, rate, sizeof(rate));
		snprintf(pairs, sizeof(pairs), "%" PRIu32 "/%" PRIu32, nw->pairs_up,
			 nw->pairs_total);
		format_down(nw, down, sizeof(down));
		row[0] = nw->name;
		row[1] = order;
		row[2] = nw->kind && *nw->kind ? nw->kind : "-";
		row[3] = cap;
		row[4] = active;
		row[5] = rate;
		row[6] = pairs;
		row[7] = down;
		output_table_add_row(t, row);
	}
	return output_table_print(t, f);
}

/* ---- drover status ---- */

struct json_object *output_status_json(const Drover__StatusReply *st)
{
	struct json_object *o = json_object_new_object();
	struct json_object *nodes = json_object_new_array();
	struct json_object *networks, *failures;

	json_object_object_add(o, "quorate", json_object_new_boolean(st->quorate));
	json_object_object_add(
	    o, "coordinator",
	    output_json_string_or_null(st->coordinator_id ? st->coordinator : NULL));
	json_object_object_add(o, "coordinator_id", json_object_new_int64(st->coordinator_id));
	json_object_object_add(o, "local", json_object_new_string(st->local_name));
	json_object_object_add(o, "local_id", json_object_new_int64(st->local_id));
	json_object_object_add(o, "epoch", json_object_new_uint64(st->epoch));
	json_object_object_add(o, "term", json_object_new_uint64(st->term));
	json_object_object_add(o, "synced", json_object_new_boolean(st->synced));
	for (size_t i = 0; i < st->n_nodes; i++) {
		const Drover__NodeStatus *n = st->nodes[i];
		struct json_object *jn = json_object_new_object();
		struct json_object *links = json_object_new_array();

		json_object_object_add(jn, "name", json_object_new_string(n->name));
		json_object_object_add(jn, "id", json_object_new_int64(n->id));
		json_object_object_add(jn, "online", json_object_new_boolean(n->online));
		json_object_object_add(jn, "inventory",
				       json_object_new_string(n->inventory && *n->inventory
								      ? n->inventory
								      : "none"));
		json_object_object_add(jn, "state",
				       json_object_new_string(node_state_name(n->state)));
		{
			struct json_object *fj = json_object_new_object();

			json_object_object_add(fj, "state",
					       json_object_new_string(fence_state_name(n->fence)));
			json_object_object_add(fj, "attempts",
					       json_object_new_int64(n->fence_attempts));
			json_object_object_add(fj, "device",
					       output_json_string_or_null(n->fence_device &&
									  *n->fence_device
									  ? n->fence_device
									  : NULL));
			json_object_object_add(fj, "error",
					       output_json_string_or_null(n->fence_error &&
									  *n->fence_error
									  ? n->fence_error
									  : NULL));
			/* [fence] mode = watchdog: the countdown of a lost node, this node's lease. */
			json_object_object_add(fj, "self_fence_left_ms",
					       json_object_new_int64((int64_t)n->self_fence_left_ms));
			json_object_object_add(fj, "lease_left_ms",
					       json_object_new_int64((int64_t)n->lease_left_ms));
			json_object_object_add(fj, "self_fenced", json_object_new_boolean(n->self_fenced));
			json_object_object_add(fj, "lost_ms",
					       n->fence_lost_ms ? json_object_new_uint64(n->fence_lost_ms)
								: NULL);
			json_object_object_add(fj, "fenced_ms",
					       n->fence_fenced_ms
						       ? json_object_new_uint64(n->fence_fenced_ms)
						       : NULL);
			json_object_object_add(jn, "fence", fj);
			json_object_object_add(jn, "recovering",
					       json_object_new_int64(n->recovering));
		}
		for (size_t l = 0; l < n->n_links; l++) {
			struct json_object *jl = json_object_new_object();

			json_object_object_add(jl, "link",
					       json_object_new_int64(n->links[l]->link));
			json_object_object_add(jl, "up", json_object_new_boolean(n->links[l]->up));
			json_object_array_add(links, jl);
		}
		json_object_object_add(jn, "links", links);
		json_object_object_add(jn, "migrations_out",
				       json_object_new_int64(n->migrations_out));
		json_object_object_add(jn, "migrations_in",
				       json_object_new_int64(n->migrations_in));
		json_object_object_add(jn, "jobs_queued", json_object_new_int64(n->jobs_queued));
		failures = json_object_new_array();
		for (size_t k = 0; k < n->n_drain_failures; k++)
			json_object_array_add(failures,
					      json_object_new_string(n->drain_failures[k]));
		json_object_object_add(jn, "drain_failures", failures);
		{
			/* SR-IOV: its pools ({name, total, free}) and IPsec SAs ({capacity, used}). */
			struct json_object *pools = json_object_new_array(), *sa = json_object_new_object();

			for (size_t k = 0; k < n->n_vf_pools; k++) {
				struct json_object *jp = json_object_new_object();

				json_object_object_add(jp, "name",
						       json_object_new_string(n->vf_pools[k]->name));
				json_object_object_add(jp, "total",
						       json_object_new_int64(n->vf_pools[k]->total));
				json_object_object_add(jp, "free",
						       json_object_new_int64(n->vf_pools[k]->free));
				json_object_array_add(pools, jp);
			}
			json_object_object_add(jn, "vf_pools", pools);
			json_object_object_add(sa, "capacity",
					       json_object_new_int64(n->ipsec_sa_capacity));
			json_object_object_add(sa, "used", json_object_new_uint64(n->ipsec_sa_used));
			json_object_object_add(jn, "ipsec_sa", sa);
		}
		{
			/*
			 * The inventory check of its VFs: {"state": "ok"|"mismatch",
			 * "at_ms", "mismatches": [...], "in_flight", "unconfirmed"}, null
			 * when not checked.
			 */
			struct json_object *vc = NULL, *ms;

			if (n->vf_check && *n->vf_check) {
				vc = json_object_new_object();
				json_object_object_add(vc, "state", json_object_new_string(n->vf_check));
				json_object_object_add(vc, "at_ms", json_object_new_uint64(n->vf_check_ms));
				ms = json_object_new_array();
				for (size_t k = 0; k < n->n_vf_mismatches; k++)
					json_object_array_add(ms, json_object_new_string(n->vf_mismatches[k]));
				json_object_object_add(vc, "mismatches", ms);
				json_object_object_add(vc, "in_flight",
						       json_object_new_int64(n->vf_check_in_flight));
				json_object_object_add(vc, "unconfirmed",
						       json_object_new_int64(n->vf_check_unconfirmed));
			}
			json_object_object_add(jn, "vf_check", vc);
		}
		json_object_array_add(nodes, jn);
	}
	json_object_object_add(o, "nodes", nodes);
	networks = json_object_new_array();
	for (size_t i = 0; i < st->n_networks; i++)
		json_object_array_add(networks, output_network_json(st->networks[i]));
	json_object_object_add(o, "networks", networks);
	return o;
}

/* "0:up 1:down", or "-" when the daemon knows no links for the node. */
static void format_links(const Drover__NodeStatus *n, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t l = 0; l < n->n_links && used < size; l++) {
		int w = snprintf(buf + used, size - used, "%s%" PRIu32 ":%s", l ? " " : "",
				 n->links[l]->link, n->links[l]->up ? "up" : "down");
		if (w < 0)
			break;
		used += (size_t)w;
	}
	if (!buf[0])
		strscpy(buf, "-", size);
}

static const char *name_or_dash(const char *s)
{
	return s && *s ? s : "-";
}

int output_status_text(const Drover__StatusReply *st, FILE *f)
{
	static const char *const headers[] = {"NAME", "ID", "ONLINE", "STATE", "LINKS"};
	_cleanup_table_ struct output_table *t = NULL;
	bool moving = false;
	int r;

	if (st->quorate)
		fprintf(f, "Quorum: yes\n");
	else
		fprintf(f, "Quorum: NO — this partition makes no decisions\n");
	if (st->coordinator_id)
		fprintf(f, "Coordinator: %s (id %" PRIu32 ")\n", name_or_dash(st->coordinator),
			st->coordinator_id);
	else
		fprintf(f, "Coordinator: none (%s)\n",
			!st->quorate  ? "no quorum"
			: !st->synced ? "synchronising"
				      : "not elected");
	fprintf(f, "Local node: %s (id %" PRIu32 ")\n", name_or_dash(st->local_name), st->local_id);
	fprintf(f, "Cluster state: epoch %" PRIu64 " of term %" PRIu64 ", %s\n\n", st->epoch,
		st->term,
		st->synced ? "synchronised" : "synchronising after a membership change");

	t = output_table_new(ARRAY_SIZE(headers), headers);
	for (size_t i = 0; i < st->n_nodes; i++) {
		const Drover__NodeStatus *n = st->nodes[i];
		char id[16], links[256];
		const char *row[ARRAY_SIZE(headers)];

		snprintf(id, sizeof(id), "%" PRIu32, n->id);
		format_links(n, links, sizeof(links));
		row[0] = name_or_dash(n->name);
		row[1] = id;
		row[2] = n->online ? "yes" : "no";
		/* A lost node shows its fencing, not its administrative state (kept for its return). */
		row[3] = n->fence == DROVER__FENCE_STATE__FENCE_STATE_FENCED ? "fenced"
			 : n->fence == DROVER__FENCE_STATE__FENCE_STATE_PENDING ? "lost: fencing"
			 : n->fence == DROVER__FENCE_STATE__FENCE_STATE_FAILED ? "lost: FENCE FAILED"
										: node_state_name(n->state);
		row[4] = links;
		output_table_add_row(t, row);
		if (n->fence != DROVER__FENCE_STATE__FENCE_STATE_NONE) {
			char note[512];

			if (n->fence == DROVER__FENCE_STATE__FENCE_STATE_FENCED)
				snprintf(note, sizeof(note), "    fenced by %s", name_or_dash(n->fence_device));
			else
				snprintf(note, sizeof(note),
					 "    its VMs wait: not known to be off (%" PRIu32
					 " attempt(s)%s%s)", n->fence_attempts,
					 n->fence_error && *n->fence_error ? "; " : "",
					 n->fence_error ? n->fence_error : "");
			output_table_add_note(t, note);
			if (n->recovering) {
				snprintf(note, sizeof(note), "    %" PRIu32 " VM(s) waiting to restart",
					 n->recovering);
				output_table_add_note(t, note);
			}
		}
		if (n->self_fenced)
			output_table_add_note(t, "    SELF-FENCED: it was without quorum too long; its "
						 "agent destroyed its VMs");
		for (size_t k = 0; k < n->n_drain_failures; k++) {
			char note[512];

			snprintf(note, sizeof(note), "    drain failure: %s", n->drain_failures[k]);
			output_table_add_note(t, note);
		}
		/* SR-IOV: only for nodes that announced pools or an SA capacity. */
		if (n->n_vf_pools || n->ipsec_sa_capacity || n->ipsec_sa_used) {
			char note[512];
			size_t used = (size_t)snprintf(note, sizeof(note), "    VFs:");

			for (size_t k = 0; k < n->n_vf_pools && used < sizeof(note); k++)
				used += (size_t)snprintf(note + used, sizeof(note) - used,
							 " %s %" PRIu32 "/%" PRIu32 " free",
							 n->vf_pools[k]->name, n->vf_pools[k]->free,
							 n->vf_pools[k]->total);
			if (!n->n_vf_pools && used < sizeof(note))
				used += (size_t)snprintf(note + used, sizeof(note) - used, " none");
			if (used < sizeof(note))
				snprintf(note + used, sizeof(note) - used,
					 "; IPsec SAs %" PRIu64 "/%" PRIu32 " used%s", n->ipsec_sa_used,
					 n->ipsec_sa_capacity,
					 n->ipsec_sa_used > n->ipsec_sa_capacity ? " (over: some VMs run "
										   "IPsec on their CPU)"
										 : "");
			output_table_add_note(t, note);
		}
		/* The inventory check: said only when it found the live XML disagreeing. */
		for (size_t k = 0; k < n->n_vf_mismatches; k++) {
			char note[320];

			snprintf(note, sizeof(note), "    VF MISMATCH: %s", n->vf_mismatches[k]);
			output_table_add_note(t, note);
		}
		if (n->migrations_out || n->migrations_in || n->jobs_queued)
			moving = true;
	}
	r = output_table_print(t, f);
	if (r < 0)
		return r;
	if (moving) {
		fprintf(f, "\nMigrations:\n");
		for (size_t i = 0; i < st->n_nodes; i++) {
			const Drover__NodeStatus *n = st->nodes[i];

			if (!n->migrations_out && !n->migrations_in && !n->jobs_queued)
				continue;
			fprintf(f,
				"  %s: %" PRIu32 " out, %" PRIu32 " in, %" PRIu32
				" queued to leave\n",
				name_or_dash(n->name), n->migrations_out, n->migrations_in,
				n->jobs_queued);
		}
	}
	if (st->n_networks) {
		fprintf(f, "\nNetworks:\n");
		r = output_networks_text(st->networks, st->n_networks, f);
	}
	return ferror(f) ? -EIO : r;
}
