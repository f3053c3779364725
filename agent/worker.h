/*
 * The worker side of drover-agent: what runs in the process the agent
 * exec()s with --worker or --events-worker (see jobs.c for why a process,
 * and why exec). A worker loads one plugin, calls its init() once, reports
 * AgentWorkerReady on fd 3, and then either runs AgentJobs one at a time
 * (job worker) or dispatches the plugin's events (events worker, which runs
 * the short jobs the agent hands it between events, see jobs.c), until the
 * agent closes the socket; then it calls fini() and exits 0.
 */
#ifndef DROVER_AGENT_WORKER_H
#define DROVER_AGENT_WORKER_H

#include <stdbool.h>

struct worker_args {
	const char *plugin_path;
	const char *config;
	bool events; /* events worker instead of job worker */
	int fd;      /* the socket to the agent */
};

/*
 * Logging for a worker: like log_setup() but without libqb's blackbox. The
 * blackbox lives in /dev/shm (RAM) until its process exits in order, and a
 * worker killed at a deadline would leave 1 MiB behind every time.
 */
void worker_log_setup(int priority, bool to_stderr);

/* Run the worker; returns the process's exit status. */
int worker_main(const struct worker_args *args);

/* An events_dispatch() call that takes longer than this kills the events worker. */
#define WORKER_EVENTS_DISPATCH_MAX_S 30

#endif
