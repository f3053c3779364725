/*
 * How the drover CLI shows things: the text and JSON renderings every command
 * shares. Commands build their answer from the protobuf replies and hand it to
 * these helpers, so a node state is spelled the same in `status`, `top` and
 * `history`, and every JSON document leaves through one printer.
 *
 * JSON output is a contract with scripts (the lab tests parse it with jq):
 * field names and value spellings only ever get added, never renamed. Text
 * output is for people and may change.
 */
#ifndef DROVER_OUTPUT_H
#define DROVER_OUTPUT_H

#include <stdio.h>

#include <json-c/json.h>

#include "drover.pb-c.h"
#include "names.h"
#include "util.h"

enum output_format {
	OUTPUT_TEXT,
	OUTPUT_JSON,
};

/* "text" or "json" into *ret; -EINVAL for anything else. */
int output_format_parse(const char *s, enum output_format *ret);


/* A JSON string, or JSON null when s is NULL. */
struct json_object *output_json_string_or_null(const char *s);

/*
 * Print obj as one pretty-printed JSON document and a newline on f. Returns 0
 * or -EIO if the stream reports a write error.
 */
int output_json_print(struct json_object *obj, FILE *f);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct json_object *, json_object_put)
#define _cleanup_json_ _cleanup_(json_object_putp)

/*
 * A text table with a header row, columns left-aligned and padded to their
 * widest cell (the last column is not padded). Cells are copied.
 */
struct output_table;

struct output_table *output_table_new(size_t ncols, const char *const *headers);
void output_table_add_row(struct output_table *t, const char *const *cells);
int output_table_print(const struct output_table *t, FILE *f);
void output_table_free(struct output_table *t);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct output_table *, output_table_free)
#define _cleanup_table_ _cleanup_(output_table_freep)

/*
 * `drover status`. The JSON shape is the contract:
 *   {"quorate": bool, "coordinator": "n1"|null, "coordinator_id": int,
 *    "local": "n2", "local_id": int, "epoch": int, "synced": bool,
 *    "nodes": [{"name", "id", "online", "state", "links": [{"link", "up"}]}]}
 * "coordinator" is null exactly when coordinator_id is 0.
 */
struct json_object *output_status_json(const Drover__StatusReply *st);
int output_status_text(const Drover__StatusReply *st, FILE *f);

#endif
