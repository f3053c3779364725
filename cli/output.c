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

int output_json_print(struct json_object *obj, FILE *f)
{
	const char *s;

	s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (fputs(s, f) == EOF || fputc('\n', f) == EOF)
		return -EIO;
	return 0;
}

/* ---- tables ---- */

struct output_table {
	size_t ncols;
	size_t nrows; /* including the header row */
	size_t cap;
	char **cells; /* nrows * ncols, row-major */
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

int output_table_print(const struct output_table *t, FILE *f)
{
	_cleanup_free_ size_t *width = xcalloc(t->ncols, sizeof(size_t));

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
	}
	return ferror(f) ? -EIO : 0;
}

void output_table_free(struct output_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

/* ---- drover status ---- */

struct json_object *output_status_json(const Drover__StatusReply *st)
{
	struct json_object *o = json_object_new_object();
	struct json_object *nodes = json_object_new_array();

	json_object_object_add(o, "quorate", json_object_new_boolean(st->quorate));
	json_object_object_add(
	    o, "coordinator",
	    output_json_string_or_null(st->coordinator_id ? st->coordinator : NULL));
	json_object_object_add(o, "coordinator_id", json_object_new_int64(st->coordinator_id));
	json_object_object_add(o, "local", json_object_new_string(st->local_name));
	json_object_object_add(o, "local_id", json_object_new_int64(st->local_id));
	json_object_object_add(o, "epoch", json_object_new_uint64(st->epoch));
	json_object_object_add(o, "synced", json_object_new_boolean(st->synced));
	for (size_t i = 0; i < st->n_nodes; i++) {
		const Drover__NodeStatus *n = st->nodes[i];
		struct json_object *jn = json_object_new_object();
		struct json_object *links = json_object_new_array();

		json_object_object_add(jn, "name", json_object_new_string(n->name));
		json_object_object_add(jn, "id", json_object_new_int64(n->id));
		json_object_object_add(jn, "online", json_object_new_boolean(n->online));
		json_object_object_add(jn, "state",
				       json_object_new_string(node_state_name(n->state)));
		for (size_t l = 0; l < n->n_links; l++) {
			struct json_object *jl = json_object_new_object();

			json_object_object_add(jl, "link",
					       json_object_new_int64(n->links[l]->link));
			json_object_object_add(jl, "up", json_object_new_boolean(n->links[l]->up));
			json_object_array_add(links, jl);
		}
		json_object_object_add(jn, "links", links);
		json_object_array_add(nodes, jn);
	}
	json_object_object_add(o, "nodes", nodes);
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
	fprintf(f, "Cluster state: epoch %" PRIu64 ", %s\n\n", st->epoch,
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
		row[3] = node_state_name(n->state);
		row[4] = links;
		output_table_add_row(t, row);
	}
	return output_table_print(t, f);
}
