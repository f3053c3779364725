/*
 * drover-agent's one context, and the job and worker-pool interface between
 * drover-agent.c (the loop, the link to droverd) and jobs.c (jobs, deadlines,
 * worker processes). Everything here runs in the agent's single-threaded
 * qb_loop and never blocks.
 */
#ifndef DROVER_AGENT_JOBS_H
#define DROVER_AGENT_JOBS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <qb/qbloop.h>

#include "frame.h"
#include "plugin_probe.h"

#define AGENT_MAX_PLUGINS 8
#define AGENT_DEFAULT_MAX_WORKERS 4
#define AGENT_DEFAULT_DEADLINE_MS (5u * 60u * 1000u)
#define AGENT_DEFAULT_INIT_TIMEOUT_MS 30000u
/* A job worker idle this long exits; none is kept at rest (jobs.c says why). */
#define AGENT_DEFAULT_IDLE_WORKER_MS 10000u

struct job;
struct worker;

/* One plugin the agent loaded, and its workers' bookkeeping. */
struct agent_plugin {
	struct agent *agent;
	struct plugin_facts facts; /* learnt by plugin_probe(): the agent never maps a plugin */
	const char *config; /* the operator's string for init(), "" if none */
	struct worker *events;           /* the events worker, if running */
	bool events_off;                 /* the plugin has no events */
	uint32_t events_backoff_ms;      /* before the next restart */
	unsigned events_restarts;        /* events workers that became ready */
	qb_loop_timer_handle events_timer;
	bool events_timer_armed;
};

/* A frame waiting for droverd's socket to drain. */
struct out_msg {
	struct out_msg *next;
	size_t len;
	uint8_t *buf;
};

struct agent {
	qb_loop_t *loop;
	bool stopping;
	int exit_status;

	/* drover-agent.c: the link to droverd */
	int fd;
	size_t max_msg;
	uint64_t seq;
	struct out_msg *outq, **outq_tail;
	size_t outq_len;
	bool pollout;

	/* plugins, from the command line, in load order */
	struct agent_plugin plugins[AGENT_MAX_PLUGINS];
	size_t n_plugins;

	/* settings */
	unsigned max_workers;         /* per plugin */
	uint32_t default_deadline_ms; /* for jobs that bring none */
	uint32_t init_timeout_ms;     /* for a worker's plugin init() */
	uint32_t idle_worker_ms;      /* an idle job worker exits after this */
	int log_priority;
	bool foreground;
	const char *self_exe;         /* what workers exec */

	/* lease.c: watchdog self-fencing, NULL when not armed */
	struct agent_lease *lease;

	/* jobs.c */
	struct job *jobs;       /* open jobs, queued or running, in arrival order */
	struct worker *workers; /* every worker not yet reaped */
	qb_loop_timer_handle stop_timer;
	bool stop_timer_armed;
};

/*
 * drover-agent.c: send env to droverd. Never blocks: frames queue while the
 * socket is full. A droppable frame (progress) is dropped instead when more
 * than a few frames are already waiting.
 */
void agent_send(struct agent *a, Drover__Envelope *env, bool droppable);
/* The ids of the open jobs, at most max of them; returns how many. */
size_t jobs_open_ids(const struct agent *a, uint64_t *ids, size_t max);

/* Called by jobs.c when stopping is complete (every worker reaped). */
void agent_stopped(struct agent *a);

/* jobs.c */
/* Start each plugin's events worker (job workers start when jobs come). */
void jobs_start(struct agent *a);
/* A job from droverd: refused, queued or handed to a worker. */
void jobs_submit(struct agent *a, const Drover__AgentJob *job);
void jobs_cancel(struct agent *a, uint64_t job_id);
/* AgentPrewarm: start job workers for jobs droverd says are coming. */
void jobs_prewarm(struct agent *a, const Drover__AgentPrewarm *m);
/* SIGCHLD: reap every exited worker. */
void jobs_reap(struct agent *a);
/*
 * Answer open jobs as canceled, let idle workers exit through fini(), kill
 * busy ones; agent_stopped() follows once every worker is reaped (at most a
 * few seconds: stragglers are killed).
 */
void jobs_stop(struct agent *a);

#endif
