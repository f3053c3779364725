/*
 * How the CLI shows the migration queue: `drover queue`, `drover history`,
 * `drover node drain --dry-run`, `drover config show` and the frames of
 * `drover top`. Pure formatting of droverd's replies: no I/O besides the
 * FILE * it is handed, no clock (the caller passes the time), so the unit
 * tests can check every rendering.
 *
 * JSON rules, the same everywhere: a string the daemon left empty is null
 * (protobuf cannot tell "" from "not set"), numbers are given as they are,
 * except a job's eta_s, null when unknown (-1). Keys are only ever added.
 */
#ifndef DROVER_QUEUE_VIEW_H
#define DROVER_QUEUE_VIEW_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <json-c/json.h>

#include "drover.pb-c.h"

/*
 * `drover queue`:
 *   {"jobs": [{"id", "vm", "from", "to", "network", "state", "progress_pct",
 *              "processed_bytes", "remaining_bytes", "total_bytes", "rate_bps",
 *              "eta_s", "blocker", "blocker_code", "origin", "priority",
 *              "memory_mib", "created_ms", "started_ms", "finished_ms", "error",
 *              "attempts": [{"network", "target", "result", "reason"}]}],
 *    "networks": [output_network_json()...],
 *    "limits": queue_view_limits_json(),
 *    "nodes": [{"name", "id", "state", "online", "out", "in", "vms",
 *               "memory_mib", "memory_used_mib"}]}
 * "to", "network", "blocker"... are null when empty, "eta_s" when -1.
 * Text: a table ID VM FROM TO NET STATE PROG RATE ETA BLOCKER (a finished
 * job's error stands in its BLOCKER cell), each failed attempt on a line
 * under its job, then the limits in one line.
 */
struct json_object *queue_view_job_json(const Drover__JobView *j);
/*
 * The JSON of `drover queue` also has "recoveries": [{"vm", "state",
 * "priority", "from", "to", "since_ms", "for_vm", "reason"}] (RecoveryView;
 * empty strings and 0 as null), which `drover top` shows as RECOVERIES.
 * queue_view_recovery_why(): the WHY cell of one, in words.
 */
void queue_view_recovery_why(const Drover__RecoveryView *r, uint64_t now_ms, char *buf,
			     size_t size);
struct json_object *queue_view_queue_json(const Drover__QueueReply *q);
int queue_view_queue_text(const Drover__QueueReply *q, FILE *f);

/*
 * `drover history`, newest first:
 *   {"history": [{"job_id", "vm", "from", "to", "network", "result",
 *                 "started_ms", "finished_ms", "duration_ms", "downtime_ms",
 *                 "bytes", "attempts", "error", "origin"}]}
 * Text: VM FROM TO NET RESULT DURATION DOWNTIME BYTES ATTEMPTS, an error on
 * a line under its row.
 */
struct json_object *queue_view_history_json(const Drover__HistoryReply *h);
int queue_view_history_text(const Drover__HistoryReply *h, FILE *f);

/*
 * `drover node drain --dry-run`:
 *   {"node", "steps": [{"vm", "to", "network", "wave", "blocker", "memory_mib"}]}
 * Text: a title, a table VM TO NETWORK WAVE BLOCKER and a one-line summary.
 */
struct json_object *queue_view_plan_json(const Drover__DrainPlan *p);
int queue_view_plan_text(const Drover__DrainPlan *p, FILE *f);

/*
 * `drover config show` (and the "limits" of `drover queue`):
 *   {"set": bool, "max_out", "max_in", "max_total", "max_retries",
 *    "network_caps": [{"network", "cap"}]}
 * 0 is unlimited for max_out, max_in, max_total and a cap. A NULL l (no
 * limits in the reply) gives JSON null and the text "no limits known".
 * Text: one line per `drover config set` key, KEY VALUE MEANING.
 */
struct json_object *queue_view_limits_json(const Drover__MigrationLimits *l);
int queue_view_limits_text(const Drover__MigrationLimits *l, FILE *f);

/* "[#####-----]" for pct (capped at 100), width columns in all (at least 3). */
void queue_view_progress_bar(uint32_t pct, int width, char *buf, size_t size);

/* ---- drover top ---- */

struct top_input {
	const Drover__StatusReply *status;   /* NULL: no answer (yet) */
	const Drover__QueueReply *queue;     /* NULL: no answer (yet) */
	const Drover__HistoryReply *history; /* NULL: no answer (yet) */
	const Drover__VmListReply *vms;      /* NULL: no answer (yet): degraded VMs, SA short */
	const char *error;                   /* the last failure to talk to droverd, or NULL */
	const char *hint;                    /* right of the header, e.g. "q: quit", or NULL */
	time_t now;                          /* shown in the header (local time) */
};

/* What a line is, for a screen that can emphasise (the text is the same). */
enum top_line_kind {
	TOP_LINE_PLAIN,
	TOP_LINE_HEADER, /* the first line */
	TOP_LINE_TITLE,  /* a section's column headings */
	TOP_LINE_ALERT,  /* no quorum, an error, a drain failure */
	TOP_LINE_MORE,   /* "+N more" */
};

struct top_frame {
	int n_lines;
	char **lines; /* n_lines lines without newline, each at most width bytes */
	enum top_line_kind *kinds;
};

/*
 * Render one frame of at most height lines of at most width bytes (plain
 * ASCII but for names from outside, which are cut on a UTF-8 boundary):
 * the header (quorum, coordinator, epoch, time), the nodes with their
 * migration slots, the networks, the running migrations with a progress bar,
 * rate and ETA, the queued jobs with their blockers and the last history
 * entries. When it does not all fit, the lists are shortened to a few items
 * and "+N more", each in proportion to its length and weight (running
 * migrations weigh most, history least); when that is not enough, whole
 * sections go, history first. Returns 0, or -EINVAL for a width below 20
 * or a height below 1. Release with queue_view_top_frame_clear().
 */
int queue_view_top_render(const struct top_input *in, int width, int height, struct top_frame *ret);
void queue_view_top_frame_clear(struct top_frame *f);
/* The frame's lines, each followed by a newline. */
int queue_view_top_print(const struct top_frame *f, FILE *out);

#endif
