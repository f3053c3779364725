/*
 * Jobs and the worker pool of drover-agent: where a plugin call is run, how
 * long it may take, and what happens when it does not come back.
 *
 * Every plugin call runs in a worker: a child process that exec()s
 * drover-agent again in worker mode, loads one plugin, calls its init() once
 * and then runs one job at a time, for as long as it lives. Workers stay
 * between jobs because a hypervisor connection is worth keeping (libvirt's
 * connection and migration setup cost shows in every migration), and there
 * are up to max_workers per plugin so that a stop runs beside a migration
 * that takes minutes. Jobs beyond that wait in arrival order.
 *
 * Each job has a deadline, counted from its arrival, queueing included. When
 * it passes, the job is answered TIMEOUT at once and its worker's process
 * group is SIGKILLed: a worker is its own process group, so whatever the
 * plugin spawned (an ssh tunnel, a helper) dies with it. A fresh worker
 * starts when a job needs one. The agent never waits for
 * a worker: it learns everything from the worker's socket and from SIGCHLD,
 * both in the loop. A worker that dies on its own fails its job with the
 * exit status; a worker whose init() fails or hangs past init_timeout_ms
 * fails every job waiting for that plugin, so a dead hypervisor costs one
 * fork per droverd retry, not a fork loop.
 *
 * Every plugin with events also gets an events worker, restarted with
 * backoff (1 s doubling to 30 s) whenever it exits.
 *
 * The pool empties when the work is done: a job worker idle for
 * --idle-worker-ms (default AGENT_DEFAULT_IDLE_WORKER_MS) gets end of file
 * on its socket, runs fini() and exits. Each worker maps its hypervisor
 * library (~18 MiB resident for libvirt), and a host at rest needs none:
 * the frequent short jobs there, inventory (droverd asks every 10 s) and
 * the lease's self-fence, run in the plugin's events worker whenever it is
 * idle (else in a job worker), since that process is up and connected
 * anyway. A drain's
 * burst of migrations still finds its workers warm for the next job, since
 * they stay while jobs come. What a job pays for a worker started for it
 * (exec, the plugin's libraries, init()) is logged with each job's start,
 * and bench/migstart measures it against a warm worker.
 *
 * Considered and rejected: threads in the agent (a hung call cannot be
 * abandoned: there is no safe way to kill a thread stuck in libvirt, and it
 * holds libvirt's locks); fork() without exec() (the child would inherit
 * libqb's loop, signal pipe and blackbox mapping, and would share the
 * blackbox ring with the agent); a fresh worker per job (every job would pay
 * for the hypervisor connection).
 */
#include "jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lease.h"
#include "log.h"
#include "seqpacket.h"
#include "util.h"

#define EVENTS_BACKOFF_MIN_MS 1000u
#define EVENTS_BACKOFF_MAX_MS 30000u
#define EVENTS_STABLE_MS 60000u   /* an events worker that lived this long resets the backoff */
#define STOP_GRACE_MS 3000u       /* idle workers get this long to run fini() at shutdown */
#define MSGS_PER_DISPATCH 64      /* from one worker per loop pass, so none starves the rest */

enum worker_kind { WORKER_JOBS, WORKER_EVENTS };

enum worker_state {
	W_STARTING, /* exec'd, init() not reported yet */
	W_IDLE,     /* ready for a job (events worker: running) */
	W_BUSY,     /* running w->job */
	W_GONE,     /* exiting, killed or refused: only waiting to be reaped */
};

struct worker {
	struct worker *next;
	struct agent *a;
	struct agent_plugin *ap;
	enum worker_kind kind;
	enum worker_state state;
	pid_t pid;
	int fd; /* -1 once closed */
	bool killed;
	bool exited; /* reaped; its last messages are being read */
	struct job *job;
	uint64_t started_ms;
	qb_loop_timer_handle init_timer;
	bool init_timer_armed;
	qb_loop_timer_handle idle_timer; /* job workers: retire when idle for long (see above) */
	bool idle_timer_armed;
	bool fresh; /* started for a job and has run none yet (for the start-up cost's log) */
};

struct job {
	struct job *next;
	struct agent *a;
	struct agent_plugin *ap;
	uint64_t id;
	uint64_t received_ms;
	uint32_t deadline_ms;
	bool urgent; /* vm_abort_migration: goes first, may use one worker beyond the cap */
	bool light;  /* inventory, self_fence: short, may run in the events worker */
	char what[192]; /* "job 7 (vm_start 'vm1')", for logs and errors */
	uint8_t *frame; /* the AgentJob as the worker gets it */
	size_t len;
	struct worker *worker; /* NULL while queued */
	qb_loop_timer_handle timer;
	bool timer_armed;
};

static uint8_t rbuf[SEQPACKET_BUF];

static void dispatch(struct agent *a, struct agent_plugin *ap);
static bool worker_drain(struct worker *w, int max);
static void events_schedule(struct agent_plugin *ap);

static const char *plugin_name(const struct agent_plugin *ap)
{
	return ap->facts.name;
}

static const char *kind_name(enum worker_kind k)
{
	return k == WORKER_EVENTS ? "events" : "job";
}

/* ---- answering droverd ---- */

/* Send a result for job_id; an answer too large for the socket becomes an error. */
static void send_result(struct agent *a, Drover__AgentJobResult *res)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentJobResult small = DROVER__AGENT_JOB_RESULT__INIT;
	char msg[128];

	/* The lease's own self-fence jobs are answered to the lease, not to droverd. */
	if (lease_job_result(a, res))
		return;
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_JOB_RESULT;
	env.agent_job_result = res;
	if (drover__envelope__get_packed_size(&env) + FRAME_HEADER <= a->max_msg) {
		agent_send(a, &env, false);
		return;
	}
	snprintf(msg, sizeof(msg), "result of %zu bytes does not fit the agent socket (%zu)",
		 drover__envelope__get_packed_size(&env), a->max_msg);
	log_err("job %llu: %s", (unsigned long long)res->job_id, msg);
	small.job_id = res->job_id;
	small.outcome = DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_FAILED;
	small.error_code = E2BIG;
	small.error = msg;
	small.duration_ms = res->duration_ms;
	env.agent_job_result = &small;
	agent_send(a, &env, false);
}

static const char *outcome_name(Drover__AgentJobOutcome o)
{
	switch (o) {
	case DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK:
		return "ok";
	case DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_FAILED:
		return "failed";
	case DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_TIMEOUT:
		return "timed out";
	case DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_CANCELED:
		return "canceled";
	case DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_REFUSED:
		return "refused";
	default:
		return "unknown";
	}
}

/* Refuse a job that never became one (no record, no timer). */
static void refuse(struct agent *a, uint64_t job_id, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void refuse(struct agent *a, uint64_t job_id, int errnum, const char *fmt, ...)
{
	Drover__AgentJobResult res = DROVER__AGENT_JOB_RESULT__INIT;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("job %llu refused: %s", (unsigned long long)job_id, msg);
	res.job_id = job_id;
	res.outcome = DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_REFUSED;
	res.error_code = errnum;
	res.error = msg;
	send_result(a, &res);
}

static struct job *job_find(struct agent *a, uint64_t id)
{
	for (struct job *j = a->jobs; j; j = j->next)
		if (j->id == id)
			return j;
	return NULL;
}

static void job_free(struct job *j)
{
	struct agent *a = j->a;

	for (struct job **pp = &a->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	if (j->timer_armed)
		qb_loop_timer_del(a->loop, j->timer);
	free(j->frame);
	free(j);
}

/* Answer j with res (its job_id and duration are filled in) and forget it. */
static void job_finish(struct job *j, Drover__AgentJobResult *res)
{
	uint64_t took = now_ms() - j->received_ms;
	int prio;

	res->job_id = j->id;
	res->duration_ms = took;
	prio = res->outcome == DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK ? LOG_INFO
									       : LOG_WARNING;
	if (res->outcome == DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK)
		qb_log(prio, "%s: ok in %llu ms", j->what, (unsigned long long)took);
	else
		qb_log(prio, "%s: %s after %llu ms: %s", j->what, outcome_name(res->outcome),
		       (unsigned long long)took, res->error ? res->error : "");
	send_result(j->a, res);
	job_free(j);
}

static void job_fail(struct job *j, Drover__AgentJobOutcome outcome, int errnum,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void job_fail(struct job *j, Drover__AgentJobOutcome outcome, int errnum,
		     const char *fmt, ...)
{
	Drover__AgentJobResult res = DROVER__AGENT_JOB_RESULT__INIT;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	res.outcome = outcome;
	res.error_code = errnum;
	res.error = msg;
	job_finish(j, &res);
}

/* Fail every job still waiting for a worker of ap (its init failed). */
static void fail_queued(struct agent *a, struct agent_plugin *ap, int errnum, const char *why)
{
	struct job *j, *next;

	for (j = a->jobs; j; j = next) {
		next = j->next;
		if (j->ap == ap && !j->worker)
			job_fail(j, DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_FAILED, errnum, "%s",
				 why);
	}
}

/* ---- workers ---- */

static void worker_close_fd(struct worker *w)
{
	if (w->fd < 0)
		return;
	qb_loop_poll_del(w->a->loop, w->fd);
	close(w->fd);
	w->fd = -1;
}

static void worker_stop_init_timer(struct worker *w)
{
	if (w->init_timer_armed) {
		qb_loop_timer_del(w->a->loop, w->init_timer);
		w->init_timer_armed = false;
	}
	if (w->idle_timer_armed) {
		qb_loop_timer_del(w->a->loop, w->idle_timer);
		w->idle_timer_armed = false;
	}
}

/*
 * Kill w's whole process group now. The caller answers w's job. The record
 * stays until SIGCHLD reaps it: until then its pid, and so its process
 * group id, cannot be reused, which is what makes the kill safe.
 */
static void worker_kill(struct worker *w)
{
	if (w->state != W_GONE || !w->killed) {
		kill(-w->pid, SIGKILL);
		kill(w->pid, SIGKILL); /* should setpgid() have failed, the worker at least */
	}
	w->killed = true;
	w->state = W_GONE;
	w->job = NULL;
	worker_close_fd(w);
	worker_stop_init_timer(w);
}

static size_t count_workers(const struct agent *a, const struct agent_plugin *ap,
			    enum worker_kind kind, int state)
{
	size_t n = 0;

	for (const struct worker *w = a->workers; w; w = w->next)
		if (w->ap == ap && w->kind == kind &&
		    (state < 0 ? w->state != W_GONE : (int)w->state == state))
			n++;
	return n;
}

static void init_timeout(void *data)
{
	struct worker *w = data;
	struct agent *a = w->a;
	char why[256];

	w->init_timer_armed = false;
	if (w->state != W_STARTING)
		return;
	snprintf(why, sizeof(why), "plugin '%s' init() did not finish within %u ms",
		 plugin_name(w->ap), a->init_timeout_ms);
	log_err("%s worker %d: %s; killing it", kind_name(w->kind), (int)w->pid, why);
	worker_kill(w);
	if (w->kind == WORKER_JOBS)
		fail_queued(a, w->ap, ETIMEDOUT, why);
}

static int32_t worker_io(int32_t fd, int32_t revents, void *data);

static struct worker *worker_spawn(struct agent *a, struct agent_plugin *ap, enum worker_kind kind)
{
	const char *argv[16];
	size_t n = 0;
	struct worker *w;
	pid_t pid, parent = getpid();
	int sv[2];

	argv[n++] = "drover-agent";
	argv[n++] = kind == WORKER_EVENTS ? "--events-worker" : "--worker";
	argv[n++] = "--plugin";
	argv[n++] = ap->facts.path;
	argv[n++] = "--plugin-config";
	argv[n++] = ap->config;
	argv[n++] = "--log-priority";
	argv[n++] = log_priority_name(a->log_priority);
	argv[n++] = "--socket-fd";
	argv[n++] = "3";
	if (a->foreground)
		argv[n++] = "--foreground";
	argv[n] = NULL;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_err("cannot create a socket for a worker of plugin '%s': %s", plugin_name(ap),
			strerror(errno));
		return NULL;
	}
	pid = fork();
	if (pid < 0) {
		log_err("cannot fork a worker for plugin '%s': %s", plugin_name(ap),
			strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	if (pid == 0) {
		sigset_t none;

		/* Own process group: the deadline kills the worker and all it spawned. */
		setpgid(0, 0);
		/* Workers must not outlive the agent that would answer for them. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (sv[1] == 3)
			fcntl(3, F_SETFD, 0);
		else if (dup2(sv[1], 3) < 0)
			_exit(127);
		/* Nothing of the agent's but the worker socket and stdio crosses. */
		if (close_range(4, ~0u, 0) < 0)
			for (int fd = 4; fd < 1024; fd++)
				close(fd);
		execv(a->self_exe, (char *const *)argv);
		_exit(127);
	}
	/* Both sides call setpgid(), so the group exists before either goes on. */
	setpgid(pid, pid);
	close(sv[1]);

	w = xcalloc(1, sizeof(*w));
	w->a = a;
	w->ap = ap;
	w->kind = kind;
	w->state = W_STARTING;
	w->pid = pid;
	w->fd = sv[0];
	w->started_ms = now_ms();
	w->next = a->workers;
	a->workers = w;
	if (seqpacket_setup(w->fd, 1) < 0 ||
	    qb_loop_poll_add(a->loop, QB_LOOP_MED, w->fd, POLLIN, w, worker_io) < 0) {
		log_err("cannot watch worker %d of plugin '%s'; killing it", (int)pid,
			plugin_name(ap));
		worker_kill(w);
		return NULL;
	}
	if (qb_loop_timer_add(a->loop, QB_LOOP_MED,
			      (uint64_t)a->init_timeout_ms * QB_TIME_NS_IN_MSEC, w, init_timeout,
			      &w->init_timer) == 0)
		w->init_timer_armed = true;
	log_debug("started %s worker %d for plugin '%s'", kind_name(kind), (int)pid,
		  plugin_name(ap));
	return w;
}

static void idle_expired(void *data)
{
	struct worker *w = data;

	w->idle_timer_armed = false;
	if (w->state != W_IDLE || w->a->stopping)
		return;
	log_debug("job worker %d of plugin '%s' idle for %u ms: retiring it", (int)w->pid,
		  plugin_name(w->ap), w->a->idle_worker_ms);
	/* End of file on its socket: it calls fini() and exits; the reap forgets it. */
	worker_close_fd(w);
	w->state = W_GONE;
}

/* w (a job worker) has just become idle: it retires unless a job comes within idle_worker_ms. */
static void idle_arm(struct worker *w)
{
	if (w->kind != WORKER_JOBS || w->state != W_IDLE)
		return;
	if (w->idle_timer_armed)
		qb_loop_timer_del(w->a->loop, w->idle_timer);
	w->idle_timer_armed = qb_loop_timer_add(w->a->loop, QB_LOOP_LOW,
						(uint64_t)w->a->idle_worker_ms * QB_TIME_NS_IN_MSEC,
						w, idle_expired, &w->idle_timer) == 0;
}

static void events_restart(void *data)
{
	struct agent_plugin *ap = data;

	ap->events_timer_armed = false;
	if (ap->agent->stopping || ap->events || ap->events_off)
		return;
	ap->events = worker_spawn(ap->agent, ap, WORKER_EVENTS);
	if (!ap->events)
		events_schedule(ap);
}

/* Restart ap's events worker after the current backoff, and double it. */
static void events_schedule(struct agent_plugin *ap)
{
	struct agent *a = ap->agent;

	if (a->stopping || ap->events_off || ap->events_timer_armed)
		return;
	if (ap->events_backoff_ms < EVENTS_BACKOFF_MIN_MS)
		ap->events_backoff_ms = EVENTS_BACKOFF_MIN_MS;
	log_notice("restarting the events worker of plugin '%s' in %u ms", plugin_name(ap),
		   ap->events_backoff_ms);
	if (qb_loop_timer_add(a->loop, QB_LOOP_MED,
			      (uint64_t)ap->events_backoff_ms * QB_TIME_NS_IN_MSEC, ap,
			      events_restart, &ap->events_timer) == 0)
		ap->events_timer_armed = true;
	ap->events_backoff_ms *= 2;
	if (ap->events_backoff_ms > EVENTS_BACKOFF_MAX_MS)
		ap->events_backoff_ms = EVENTS_BACKOFF_MAX_MS;
}

/*
 * Hand j to idle worker w: 1 if it runs, 0 if it stays queued (w died an
 * instant ago and was killed), -1 if j was refused and freed.
 */
static int job_run(struct job *j, struct worker *w)
{
	int r = seqpacket_send_buf(w->fd, j->frame, j->len);

	if (r == -EMSGSIZE) {
		job_fail(j, DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_REFUSED, EMSGSIZE,
			 "the job (%zu bytes) does not fit the worker socket", j->len);
		return -1;
	}
	if (r < 0) {
		log_warn("%s: worker %d cannot take it (%s); killing that worker", j->what,
			 (int)w->pid, strerror(-r));
		worker_kill(w);
		return 0;
	}
	w->state = W_BUSY;
	w->job = j;
	j->worker = w;
	/*
	 * How long the job waited before the plugin got it, and whether for a
	 * worker's start: what a migration's start costs (bench/migstart,
	 * bench/footprint). The frequent short jobs only at debug level.
	 */
	qb_log(j->light ? LOG_DEBUG : LOG_INFO,
	       "%s: started in %s worker %d %llu ms after its arrival%s", j->what,
	       kind_name(w->kind), (int)w->pid, (unsigned long long)(now_ms() - j->received_ms),
	       w->fresh ? " (a worker started for it)" : "");
	w->fresh = false;
	return 1;
}

/*
 * Hand queued jobs of ap to idle workers, urgent ones first; start workers
 * for the rest, up to the cap. An abort must not wait behind the very
 * migrations it is meant to stop, so while one is queued the cap is one
 * higher (the extra worker stays in the pool afterwards, idle).
 */
static void dispatch(struct agent *a, struct agent_plugin *ap)
{
	size_t queued = 0, queued_urgent = 0, starting, live, cap;
	struct job *j, *next;

	if (a->stopping)
		return;
	for (int pass = 0; pass < 2; pass++) {
		for (j = a->jobs; j; j = next) {
			struct worker *w;

			next = j->next;
			if (j->ap != ap || j->worker || j->urgent != (pass == 0))
				continue;
			/*
			 * A short job goes to the events worker first: given to an
			 * idle job worker, droverd's inventory every 10 s would
			 * keep that worker from ever leaving.
			 */
			w = NULL;
			if (j->light && ap->events && ap->events->state == W_IDLE &&
			    ap->events->fd >= 0)
				w = ap->events;
			for (struct worker *x = a->workers; x && !w; x = x->next)
				if (x->ap == ap && x->kind == WORKER_JOBS && x->state == W_IDLE)
					w = x;
			if (!w || job_run(j, w) == 0) {
				queued++;
				queued_urgent += j->urgent;
			}
		}
	}
	starting = count_workers(a, ap, WORKER_JOBS, W_STARTING);
	live = count_workers(a, ap, WORKER_JOBS, -1);
	cap = a->max_workers + (queued_urgent ? 1 : 0);
	while (starting < queued && live < cap) {
		struct worker *w = worker_spawn(a, ap, WORKER_JOBS);

		if (!w)
			break;
		w->fresh = true;
		starting++;
		live++;
	}
}

/* ---- what workers say ---- */

/*
 * Events that happened while a plugin's events worker was down are lost.
 * Say so, as a host-wide CONNECTION_RESTORED, so droverd re-reads the
 * inventory, which is the ground truth anyway.
 */
static void events_gap(struct agent_plugin *ap)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentEvent ev = DROVER__AGENT_EVENT__INIT;

	ev.plugin = (char *)plugin_name(ap);
	ev.type = DROVER__VM_EVENT_TYPE__VM_EVENT_CONNECTION_RESTORED;
	ev.detail = "events worker restarted; events may have been missed";
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_EVENT;
	env.agent_event = &ev;
	agent_send(ap->agent, &env, false);
}

static void on_ready(struct worker *w, const Drover__AgentWorkerReady *rd)
{
	struct agent *a = w->a;
	char why[512];

	if (w->state != W_STARTING) {
		log_warn("worker %d of plugin '%s' reported ready twice; ignoring", (int)w->pid,
			 plugin_name(w->ap));
		return;
	}
	worker_stop_init_timer(w);
	if (rd->error_code == 0) {
		w->state = W_IDLE;
		if (w->kind == WORKER_EVENTS && w->ap->events_restarts++ > 0)
			events_gap(w->ap);
		log_info("%s worker %d of plugin '%s' ready in %llu ms", kind_name(w->kind),
			 (int)w->pid, plugin_name(w->ap),
			 (unsigned long long)(now_ms() - w->started_ms));
		dispatch(a, w->ap);
		idle_arm(w);
		return;
	}
	/* The worker exits after saying so; SIGCHLD reaps it. */
	w->state = W_GONE;
	if (w->kind == WORKER_EVENTS && rd->error_code == EOPNOTSUPP) {
		w->ap->events_off = true;
		log_info("plugin '%s' has no events", plugin_name(w->ap));
		return;
	}
	snprintf(why, sizeof(why), "plugin '%s' cannot start: %s", plugin_name(w->ap),
		 rd->error && rd->error[0] ? rd->error : strerror(rd->error_code));
	log_err("%s worker %d: %s", kind_name(w->kind), (int)w->pid, why);
	if (w->kind == WORKER_JOBS)
		fail_queued(a, w->ap, rd->error_code > 0 ? rd->error_code : EIO, why);
}

static void on_result(struct worker *w, const Drover__AgentJobResult *r)
{
	Drover__AgentJobResult res = *r;
	struct job *j = w->job;

	if (w->state != W_BUSY || !j || r->job_id != j->id) {
		log_err("worker %d of plugin '%s' answered job %llu, which it was not running; "
			"killing it", (int)w->pid, plugin_name(w->ap),
			(unsigned long long)r->job_id);
		worker_kill(w);
		if (j)
			job_fail(j, DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_FAILED, EPROTO,
				 "the worker broke the protocol and was killed");
		return;
	}
	w->job = NULL;
	w->state = w->exited ? W_GONE : W_IDLE;
	idle_arm(w);
	j->worker = NULL;
	/*
	 * The events worker's connection went away under the job (it restarts
	 * itself soon): a job worker connects afresh and answers instead, as
	 * it would have had the job gone there in the first place.
	 */
	if (w->kind == WORKER_EVENTS &&
	    res.outcome != DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK &&
	    res.error_code == ENOTCONN && !w->a->stopping) {
		log_info("%s: the events worker lost its connection; handing it to a job worker",
			 j->what);
		j->light = false;
		dispatch(w->a, w->ap);
		return;
	}
	/* Only the worker's verdict is taken; the agent's facts are its own. */
	if (res.outcome != DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK)
		res.outcome = DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_FAILED;
	job_finish(j, &res);
	dispatch(w->a, w->ap);
}

static void on_progress(struct worker *w, const Drover__AgentJobProgress *p)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;

	/* A plugin's late report for a finished job is harmless: drop it. */
	if (w->state != W_BUSY || !w->job || p->job_id != w->job->id) {
		log_debug("dropping progress for job %llu from worker %d: not its job",
			  (unsigned long long)p->job_id, (int)w->pid);
		return;
	}
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_JOB_PROGRESS;
	env.agent_job_progress = (Drover__AgentJobProgress *)p;
	agent_send(w->a, &env, true);
}

static void on_event(struct worker *w, const Drover__AgentEvent *e)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentEvent ev = *e;

	/* Which plugin it came from is the agent's knowledge, not the plugin's claim. */
	ev.plugin = (char *)plugin_name(w->ap);
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_EVENT;
	env.agent_event = &ev;
	log_debug("event from plugin '%s': vm '%s' type %d", ev.plugin, ev.vm, (int)ev.type);
	agent_send(w->a, &env, false);
}

static void worker_message(struct worker *w, const uint8_t *buf, size_t len)
{
	Drover__Envelope *env = NULL;
	int r = frame_decode(buf, len, &env);

	if (r < 0) {
		log_err("worker %d of plugin '%s' sent a bad frame (%s); killing it", (int)w->pid,
			plugin_name(w->ap), frame_strerror(r));
		if (w->job) {
			struct job *j = w->job;

			worker_kill(w);
			job_fail(j, DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_FAILED, EPROTO,
				 "the worker sent a bad frame and was killed");
		} else {
			worker_kill(w);
		}
		return;
	}
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_AGENT_WORKER_READY:
		on_ready(w, env->agent_worker_ready);
		break;
	case DROVER__ENVELOPE__BODY_AGENT_JOB_RESULT:
		on_result(w, env->agent_job_result);
		break;
	case DROVER__ENVELOPE__BODY_AGENT_JOB_PROGRESS:
		on_progress(w, env->agent_job_progress);
		break;
	case DROVER__ENVELOPE__BODY_AGENT_EVENT:
		on_event(w, env->agent_event);
		break;
	default:
		log_warn("worker %d sent an unexpected message (body %d); ignoring it",
			 (int)w->pid, (int)env->body_case);
		break;
	}
	frame_free(env);
}

/* Read what w sent, up to max messages. Returns false once w's socket is closed. */
static bool worker_drain(struct worker *w, int max)
{
	for (int i = 0; i < max && w->fd >= 0; i++) {
		ssize_t n = seqpacket_recv(w->fd, rbuf, sizeof(rbuf));

		if (n == -EAGAIN)
			return true;
		if (n == -EMSGSIZE) {
			log_err("worker %d sent an oversized message; ignoring it", (int)w->pid);
			continue;
		}
		if (n <= 0) {
			if (w->state != W_GONE)
				log_debug("worker %d closed its socket", (int)w->pid);
			worker_close_fd(w);
			/* A worker without its socket is of no use; its job waits for the reap. */
			if (w->state != W_GONE && !w->a->stopping) {
				kill(-w->pid, SIGKILL);
				w->state = W_GONE;
			}
			return false;
		}
		worker_message(w, rbuf, (size_t)n);
	}
	return w->fd >= 0;
}

static int32_t worker_io(int32_t fd, int32_t revents, void *data)
{
	(void)fd;
	(void)revents;
	worker_drain(data, MSGS_PER_DISPATCH);
	return 0;
}

static void describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by signal %d (%s)%s", WTERMSIG(st),
			 strsignal(WTERMSIG(st)), WCOREDUMP(st) ? ", core dumped" : "");
	else
		snprintf(buf, len, "ended with wait status 0x%x", (unsigned)st);
}

static void worker_reaped(struct worker *w, int st)
{
	struct agent *a = w->a;
	struct agent_plugin *ap = w->ap;
	bool was_starting;
	char how[128], why[256];

	/* A result sent just before exiting is still in the socket: take it first. */
	w->exited = true;
	if (w->fd >= 0)
		worker_drain(w, 1 << 20);
	worker_close_fd(w);
	worker_stop_init_timer(w);
	describe_status(st, how, sizeof(how));
	was_starting = w->state == W_STARTING;
	if (w->job) {
		struct job *j = w->job;

		w->job = NULL;
		j->worker = NULL;
		job_fail(j, DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_FAILED, EIO,
			 "plugin '%s' worker %d %s during the call", plugin_name(ap), (int)w->pid,
			 how);
	} else if (w->killed || a->stopping || (WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		log_debug("%s worker %d of plugin '%s' %s", kind_name(w->kind), (int)w->pid,
			  plugin_name(ap), how);
	} else {
		log_warn("%s worker %d of plugin '%s' %s", kind_name(w->kind), (int)w->pid,
			 plugin_name(ap), how);
	}
	if (was_starting && w->kind == WORKER_JOBS) {
		snprintf(why, sizeof(why), "plugin '%s' worker %d %s during init()",
			 plugin_name(ap), (int)w->pid, how);
		fail_queued(a, ap, EIO, why);
	}
	if (w->kind == WORKER_EVENTS && ap->events == w) {
		ap->events = NULL;
		if (now_ms() - w->started_ms >= EVENTS_STABLE_MS)
			ap->events_backoff_ms = EVENTS_BACKOFF_MIN_MS;
		events_schedule(ap);
	}
	for (struct worker **pp = &a->workers; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	free(w);
	dispatch(a, ap);
}

static void stop_if_done(struct agent *a)
{
	if (a->stopping && !a->workers) {
		if (a->stop_timer_armed) {
			qb_loop_timer_del(a->loop, a->stop_timer);
			a->stop_timer_armed = false;
		}
		agent_stopped(a);
	}
}

void jobs_reap(struct agent *a)
{
	for (;;) {
		struct worker *w;
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);

		if (pid <= 0)
			break;
		for (w = a->workers; w; w = w->next)
			if (w->pid == pid)
				break;
		if (w)
			worker_reaped(w, st);
		else
			log_debug("reaped unknown child %d", (int)pid);
	}
	stop_if_done(a);
}

/* ---- jobs from droverd ---- */

static void job_deadline(void *data)
{
	struct job *j = data;
	struct agent *a = j->a;
	struct agent_plugin *ap = j->ap;
	struct worker *w = j->worker;
	uint64_t id;
	pid_t pid;

	j->timer_armed = false;
	if (!w) {
		job_fail(j, DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_TIMEOUT, ETIMEDOUT,
			 "deadline of %u ms passed while waiting for a worker of plugin '%s'",
			 j->deadline_ms, plugin_name(ap));
		return;
	}
	/*
	 * The answer may already be in the socket (a migration that finished at
	 * the last moment): an outcome that happened is reported as it was.
	 */
	id = j->id;
	worker_drain(w, MSGS_PER_DISPATCH);
	if (!job_find(a, id) || j->worker != w)
		return;
	pid = w->pid;
	log_warn("%s: deadline of %u ms passed; killing worker %d and its process group",
		 j->what, j->deadline_ms, (int)pid);
	worker_kill(w);
	j->worker = NULL;
	job_fail(j, DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_TIMEOUT, ETIMEDOUT,
		 "deadline of %u ms passed; the plugin '%s' call was abandoned and its worker "
		 "(pid %d) killed", j->deadline_ms, plugin_name(ap), (int)pid);
	dispatch(a, ap);
}

/* What the job asks, for logs; NULL if it has no kind this agent knows. */
static const char *job_kind(const Drover__AgentJob *job, const char **ret_vm)
{
	*ret_vm = NULL;
	switch (job->kind_case) {
	case DROVER__AGENT_JOB__KIND_INVENTORY:
		return "inventory";
	case DROVER__AGENT_JOB__KIND_VM_START:
		*ret_vm = job->vm_start->vm;
		return "vm_start";
	case DROVER__AGENT_JOB__KIND_VM_STOP:
		*ret_vm = job->vm_stop->vm;
		return "vm_stop";
	case DROVER__AGENT_JOB__KIND_VM_MIGRATE:
		*ret_vm = job->vm_migrate->vm;
		return "vm_migrate";
	case DROVER__AGENT_JOB__KIND_ABORT_MIGRATION:
		*ret_vm = job->abort_migration->vm;
		return "vm_abort_migration";
	case DROVER__AGENT_JOB__KIND_DEVICE_ATTACH:
		*ret_vm = job->device_attach->vm;
		return "device_attach";
	case DROVER__AGENT_JOB__KIND_DEVICE_DETACH:
		*ret_vm = job->device_detach->vm;
		return "device_detach";
	case DROVER__AGENT_JOB__KIND_FENCE:
		return "fence"; /* no VM: the node is checked by the plugin */
	case DROVER__AGENT_JOB__KIND_SELF_FENCE:
		return "self_fence";
	default:
		return NULL;
	}
}

static bool plugin_implements(const struct plugin_facts *f, Drover__AgentJob__KindCase k)
{
	switch (k) {
	case DROVER__AGENT_JOB__KIND_INVENTORY:
		return f->calls & PLUGIN_CALL_INVENTORY;
	case DROVER__AGENT_JOB__KIND_VM_START:
		return f->calls & PLUGIN_CALL_VM_START;
	case DROVER__AGENT_JOB__KIND_VM_STOP:
		return f->calls & PLUGIN_CALL_VM_STOP;
	case DROVER__AGENT_JOB__KIND_VM_MIGRATE:
		return f->calls & PLUGIN_CALL_VM_MIGRATE;
	case DROVER__AGENT_JOB__KIND_ABORT_MIGRATION:
		return f->calls & PLUGIN_CALL_VM_ABORT_MIGRATION;
	case DROVER__AGENT_JOB__KIND_DEVICE_ATTACH:
		return f->calls & PLUGIN_CALL_DEVICE_ATTACH;
	case DROVER__AGENT_JOB__KIND_DEVICE_DETACH:
		return f->calls & PLUGIN_CALL_DEVICE_DETACH;
	case DROVER__AGENT_JOB__KIND_FENCE:
		return f->calls & PLUGIN_CALL_FENCE;
	case DROVER__AGENT_JOB__KIND_SELF_FENCE:
		return (f->calls & PLUGIN_CALL_INVENTORY) && (f->calls & PLUGIN_CALL_VM_STOP);
	default:
		return false;
	}
}

static struct agent_plugin *find_plugin(struct agent *a, const char *name)
{
	if (!name || !name[0])
		return a->n_plugins ? &a->plugins[0] : NULL;
	for (size_t i = 0; i < a->n_plugins; i++)
		if (strcmp(plugin_name(&a->plugins[i]), name) == 0)
			return &a->plugins[i];
	return NULL;
}

void jobs_submit(struct agent *a, const Drover__AgentJob *job)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentJob wjob;
	struct agent_plugin *ap;
	const char *kind, *vm;
	struct job *j, **tail;
	uint32_t deadline;
	int r;

	if (a->stopping) {
		refuse(a, job->job_id, ESHUTDOWN, "drover-agent is stopping");
		return;
	}
	j = job_find(a, job->job_id);
	if (j) {
		refuse(a, job->job_id, EEXIST, "job %llu is already open (%s)",
		       (unsigned long long)job->job_id, j->what);
		return;
	}
	kind = job_kind(job, &vm);
	if (!kind) {
		refuse(a, job->job_id, EINVAL,
		       "job has no kind this agent knows (body %d); is droverd newer?",
		       (int)job->kind_case);
		return;
	}
	if (vm && !vm[0]) {
		refuse(a, job->job_id, EINVAL, "%s without a VM name", kind);
		return;
	}
	if (job->kind_case == DROVER__AGENT_JOB__KIND_SELF_FENCE && job->job_id < LEASE_JOB_ID_BASE) {
		refuse(a, job->job_id, EPERM, "self_fence jobs are the agent's own");
		return;
	}
	if (lease_refuses(a, job->kind_case)) {
		refuse(a, job->job_id, EPERM, "%s", lease_refuses(a, job->kind_case));
		return;
	}
	ap = find_plugin(a, job->plugin);
	if (!ap) {
		refuse(a, job->job_id, ENOENT, "no plugin '%s' is loaded", job->plugin);
		return;
	}
	if (!plugin_implements(&ap->facts, job->kind_case)) {
		refuse(a, job->job_id, EOPNOTSUPP, "plugin '%s' does not implement %s",
		       plugin_name(ap), kind);
		return;
	}
	if (job->kind_case == DROVER__AGENT_JOB__KIND_VM_MIGRATE && job->vm_migrate->tls &&
	    !(ap->facts.migrate_flags & DROVER_MIGRATE_TLS)) {
		refuse(a, job->job_id, EOPNOTSUPP,
		       "plugin '%s' cannot migrate over TLS, which migration_tls = yes asks for; "
		       "not migrating '%s' in the clear",
		       plugin_name(ap), vm);
		return;
	}
	deadline = job->deadline_ms ? job->deadline_ms : a->default_deadline_ms;

	j = xcalloc(1, sizeof(*j));
	j->a = a;
	j->ap = ap;
	j->id = job->job_id;
	j->received_ms = now_ms();
	j->deadline_ms = deadline;
	j->urgent = job->kind_case == DROVER__AGENT_JOB__KIND_ABORT_MIGRATION;
	j->light = job->kind_case == DROVER__AGENT_JOB__KIND_INVENTORY ||
		   job->kind_case == DROVER__AGENT_JOB__KIND_SELF_FENCE;
	if (vm)
		snprintf(j->what, sizeof(j->what), "job %llu (%s '%.100s')",
			 (unsigned long long)j->id, kind, vm);
	else if (job->kind_case == DROVER__AGENT_JOB__KIND_FENCE)
		/* Not the device: it may hold a password. */
		snprintf(j->what, sizeof(j->what), "job %llu (fence '%.100s')",
			 (unsigned long long)j->id, job->fence->node);
	else
		snprintf(j->what, sizeof(j->what), "job %llu (%s)", (unsigned long long)j->id,
			 kind);
	/* The worker gets the deadline in force (a plugin may bound its own work by it). */
	wjob = *job;
	wjob.deadline_ms = deadline;
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_JOB;
	env.agent_job = &wjob;
	r = frame_encode(&env, &j->frame, &j->len);
	if (r < 0) {
		free(j);
		refuse(a, job->job_id, -r, "cannot encode the job: %s", frame_strerror(r));
		return;
	}
	for (tail = &a->jobs; *tail; tail = &(*tail)->next)
		;
	*tail = j;
	if (qb_loop_timer_add(a->loop, QB_LOOP_HIGH, (uint64_t)deadline * QB_TIME_NS_IN_MSEC, j,
			      job_deadline, &j->timer) == 0)
		j->timer_armed = true;
	else
		log_err("%s: cannot arm its deadline timer; it runs without one", j->what);
	log_info("%s: accepted for plugin '%s', deadline %u ms", j->what, plugin_name(ap),
		 deadline);
	dispatch(a, ap);
}

size_t jobs_open_ids(const struct agent *a, uint64_t *ids, size_t max)
{
	size_t n = 0;

	for (const struct job *j = a->jobs; j && n < max; j = j->next)
		ids[n++] = j->id;
	return n;
}

void jobs_cancel(struct agent *a, uint64_t job_id)
{
	struct job *j = job_find(a, job_id);
	struct worker *w;

	if (!j) {
		log_debug("cancel of job %llu: not open", (unsigned long long)job_id);
		return;
	}
	w = j->worker;
	if (!w) {
		job_fail(j, DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_CANCELED, ECANCELED,
			 "canceled while waiting for a worker");
		return;
	}
	log_notice("%s: canceled; killing worker %d and its process group", j->what,
		   (int)w->pid);
	worker_kill(w);
	j->worker = NULL;
	job_fail(j, DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_CANCELED, ECANCELED,
		 "canceled; the plugin call was abandoned and its worker killed");
	dispatch(a, w->ap);
}

void jobs_prewarm(struct agent *a, const Drover__AgentPrewarm *m)
{
	struct agent_plugin *ap = find_plugin(a, m->plugin);
	size_t ready, live, want;

	if (!ap || a->stopping || lease_refuses(a, DROVER__AGENT_JOB__KIND_VM_MIGRATE)) {
		log_debug("prewarm for plugin '%s' ignored", m->plugin);
		return;
	}
	want = m->jobs < a->max_workers ? m->jobs : a->max_workers;
	ready = count_workers(a, ap, WORKER_JOBS, W_IDLE) +
		count_workers(a, ap, WORKER_JOBS, W_STARTING);
	live = count_workers(a, ap, WORKER_JOBS, -1);
	if (ready >= want)
		return;
	log_debug("prewarm: %zu job(s) of plugin '%s' coming, %zu worker(s) ready; starting %zu",
		  (size_t)m->jobs, plugin_name(ap), ready, want - ready);
	/* A worker started here that no job takes leaves after idle_worker_ms (idle_arm()). */
	while (ready < want && live < a->max_workers && worker_spawn(a, ap, WORKER_JOBS)) {
		ready++;
		live++;
	}
}

void jobs_start(struct agent *a)
{
	for (size_t i = 0; i < a->n_plugins; i++) {
		struct agent_plugin *ap = &a->plugins[i];

		ap->agent = a;
		if (ap->facts.calls & PLUGIN_CALL_EVENTS) {
			ap->events_backoff_ms = EVENTS_BACKOFF_MIN_MS;
			ap->events = worker_spawn(a, ap, WORKER_EVENTS);
			if (!ap->events)
				events_schedule(ap);
		} else {
			ap->events_off = true;
		}
	}
}

static void stop_give_up(void *data)
{
	struct agent *a = data;

	a->stop_timer_armed = false;
	for (struct worker *w = a->workers; w; w = w->next)
		log_err("worker %d of plugin '%s' survived SIGKILL (stuck in the kernel?); "
			"leaving it behind", (int)w->pid, plugin_name(w->ap));
	agent_stopped(a);
}

static void stop_timeout(void *data)
{
	struct agent *a = data;

	a->stop_timer_armed = false;
	if (!a->workers) {
		stop_if_done(a);
		return;
	}
	log_warn("workers still running %u ms after the stop; killing them", STOP_GRACE_MS);
	for (struct worker *w = a->workers; w; w = w->next)
		worker_kill(w);
	/* Reaping makes agent_stopped() follow; a worker stuck in D state will not stop it. */
	if (qb_loop_timer_add(a->loop, QB_LOOP_HIGH, 1000 * QB_TIME_NS_IN_MSEC, a, stop_give_up,
			      &a->stop_timer) == 0)
		a->stop_timer_armed = true;
}

void jobs_stop(struct agent *a)
{
	struct job *j, *next;

	if (a->stopping)
		return;
	a->stopping = true;
	for (j = a->jobs; j; j = next) {
		next = j->next;
		if (j->worker) {
			worker_kill(j->worker);
			j->worker = NULL;
		}
		job_fail(j, DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_CANCELED, ESHUTDOWN,
			 "drover-agent is stopping");
	}
	for (size_t i = 0; i < a->n_plugins; i++)
		if (a->plugins[i].events_timer_armed) {
			qb_loop_timer_del(a->loop, a->plugins[i].events_timer);
			a->plugins[i].events_timer_armed = false;
		}
	for (struct worker *w = a->workers; w; w = w->next) {
		if (w->state == W_IDLE) {
			/* End of file on its socket: the worker calls fini() and exits. */
			worker_close_fd(w);
			w->state = W_GONE;
		} else if (w->state != W_GONE) {
			worker_kill(w);
		}
	}
	if (!a->workers) {
		agent_stopped(a);
		return;
	}
	if (qb_loop_timer_add(a->loop, QB_LOOP_HIGH, STOP_GRACE_MS * QB_TIME_NS_IN_MSEC, a,
			      stop_timeout, &a->stop_timer) == 0)
		a->stop_timer_armed = true;
}
