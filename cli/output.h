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

#include <stddef.h>
#include <stdint.h>
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
/* A JSON string, or JSON null when s is NULL or "" (protobuf's "not set"). */
struct json_object *output_json_nonempty(const char *s);

/*
 * Print obj as one pretty-printed JSON document and a newline on f. Returns 0
 * or -EIO if the stream reports a write error.
 */
int output_json_print(struct json_object *obj, FILE *f);

/*
 * The versioned envelope every JSON document of the CLI carries, as its
 * first two members:
 *   {"format": "drover/1", "command": "vm list", ...the command's members}
 * The rule that makes it a version: within one format version, members are
 * only ever added, never renamed, removed or given another type or spelling;
 * anything else makes the next version ("drover/2"). A script checks
 * "format" and then reads the members it knows, ignoring the others. The
 * envelope was added to documents that had no version: it is additive, so
 * scripts written before it keep working.
 */
#define OUTPUT_JSON_FORMAT "drover/1"

/*
 * A new object: the envelope for command (a command path, "vm list"), then
 * obj's members in their order (obj may be NULL: the envelope alone). obj is
 * left to the caller. A member of obj named "format" or "command" would be
 * replaced: command documents never use those names.
 */
struct json_object *output_json_envelope(struct json_object *obj, const char *command);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct json_object *, json_object_put)
#define _cleanup_json_ _cleanup_(json_object_putp)

/*
 * A text table with a header row, columns left-aligned and padded to their
 * widest cell (the last column is not padded). Cells are copied.
 */
struct output_table;

struct output_table *output_table_new(size_t ncols, const char *const *headers);
void output_table_add_row(struct output_table *t, const char *const *cells);
/*
 * A free-form line printed under the last row added (after the header if
 * none), as given: it does not count for the column widths.
 */
void output_table_add_note(struct output_table *t, const char *line);
int output_table_print(const struct output_table *t, FILE *f);
void output_table_free(struct output_table *t);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct output_table *, output_table_free)
#define _cleanup_table_ _cleanup_(output_table_freep)

/*
 * Human units, plain ASCII (so a byte is a column), into buf (at least
 * OUTPUT_UNIT_MAX bytes is always enough):
 *   bytes:       "0 B", "512 B", "1.5 KiB", "112.3 MiB", "2.0 GiB"
 *   rate:        the same and "/s": "112.3 MiB/s"
 *   duration_s:  "-" when negative (unknown), "0s", "45s", "1m05s", "2h03m", "3d04h"
 *   duration_ms: "0ms", "850ms", "4.2s" below 10 s, then as duration_s
 */
#define OUTPUT_UNIT_MAX 32
void output_format_bytes(uint64_t bytes, char *buf, size_t size);
void output_format_rate(uint64_t bytes_per_s, char *buf, size_t size);
void output_format_duration_s(int64_t secs, char *buf, size_t size);
void output_format_duration_ms(uint64_t ms, char *buf, size_t size);

/*
 * A migration network (status and queue share it):
 *   {"name", "order", "kind", "cap", "active", "rate_bps", "pairs_up",
 *    "pairs_total", "down": ["n1-n3", ...]}
 * "cap" is 0 for no cap.
 */
struct json_object *output_network_json(const Drover__NetworkView *n);
/* The networks as a table: NAME ORDER KIND CAP ACTIVE RATE PAIRS DOWN. */
int output_networks_text(Drover__NetworkView *const *networks, size_t n, FILE *f);

/*
 * `drover status`. The JSON shape is the contract:
 *   {"quorate": bool, "coordinator": "n1"|null, "coordinator_id": int,
 *    "local": "n2", "local_id": int, "epoch": int, "synced": bool,
 *    "nodes": [{"name", "id", "online", "state", "links": [{"link", "up"}],
 *               "migrations_out", "migrations_in", "jobs_queued",
 *               "drain_failures": ["vm: reason", ...]}],
 *    "networks": [output_network_json(), ...]}
 * "coordinator" is null exactly when coordinator_id is 0. A node's state is
 * node_state_name(): "active", "draining", "drained", "maintenance",
 * "fenced", "drain-failed".
 *
 * The text keeps its first lines and node table as they were; a networks
 * table, a migrations summary (only when something moves or waits) and a
 * drain-failed node's failures (under its row) were added.
 */
struct json_object *output_status_json(const Drover__StatusReply *st);
int output_status_text(const Drover__StatusReply *st, FILE *f);

#endif
