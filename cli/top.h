/*
 * `drover top`: a live view of the cluster and its migrations, in the spirit
 * of crm_mon. The frames come from queue_view.c; this is only the terminal
 * and the connection to droverd.
 */
#ifndef DROVER_TOP_H
#define DROVER_TOP_H

#include <stdbool.h>

#define TOP_INTERVAL_DEFAULT_MS 1000
#define TOP_INTERVAL_MIN_MS 100
#define TOP_INTERVAL_MAX_MS 60000

struct top_options {
	int interval_ms; /* redraw at least this often, events or not */
	int timeout_ms;  /* for each request to droverd */
	bool once;       /* one frame as plain text on stdout, no curses */
	/*
	 * With once: the frame's data as one JSON document instead of text,
	 * in the CLI's envelope naming command:
	 *   {"format", "command", "status": {...}, "queue": {...}, "history": {...}}
	 * each member the document of the command of that name (without its
	 * envelope), null when droverd did not answer that part.
	 */
	bool json;
	const char *command;
};

/*
 * Run the view until 'q', Ctrl-C or SIGTERM; returns the CLI's exit code.
 * With once: print one frame (width $COLUMNS or 80, height $LINES or all of
 * it) and return 0, or the exit code of the first request that failed.
 * Interactive use needs a terminal on stdin and stdout (64 otherwise).
 */
int top_run(const struct top_options *o);

#endif
