/*
 * Alert programs: drover.conf [alerts] path names programs run on every
 * event that alerts (event_text.h: event_alerts()), with the event in
 * DROVER_ALERT_* environment variables, Pacemaker's alert-agent model.
 *
 * Invariants:
 *  - the loop never waits for an alert: each runs in its own process
 *    (posix_spawn, so the daemon's memory is never copied and its HTTP
 *    thread cannot leave a lock held in a forked copy), in its own process
 *    group, with stdin from /dev/null and stdout and stderr into a pipe the
 *    loop reads; the loop learns the end from that pipe's end of file and
 *    reaps the child by its pid (retried from a timer while it lingers);
 *  - every alert has a deadline ([alerts] timeout_ms): then its whole
 *    process group is SIGKILLed, so whatever it spawned dies with it;
 *  - at most ALERTS_MAX_RUNNING run at once; later ones wait in arrival
 *    order, at most ALERTS_MAX_PENDING (the oldest waiting one is dropped,
 *    with a warning, beyond that): a storm of events costs bounded memory
 *    and processes, never the loop;
 *  - nothing is left behind at stop: running alerts' groups are killed and
 *    reaped.
 *
 * agent_link.c reaps with waitpid(-1) on SIGCHLD and may reap an alert
 * first; it hands the status over through alerts_child_exited().
 *
 * Considered and rejected: running alerts through the agent as a job (the
 * agent may be down, disabled on a quorum-only node, or busy with the very
 * migrations an alert is about); fork() without exec in a helper
 * (copy-on-write of a daemon holding 40 MiB of state, and locks of other
 * threads held in the copy); a shell (`sh -c`): the path is run as is, so
 * no quoting of event data can ever become a command.
 */
#include "alerts.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define ALERTS_MAX_RUNNING 4
#define ALERTS_MAX_PENDING 64
#define ALERTS_REAP_RETRY_MS 20u
#define ALERT_OUTPUT_MAX 1024

extern char **environ;

struct alert_run {
	struct alerts *a;
	bool used;
	pid_t pid;
	int fd;                  /* the read end of its stdout/stderr; -1 once closed */
	bool polling;
	char prog[ALERTS_PATH_MAX];
	char what[64];           /* "node_lost #3" */
	uint64_t started_ms;
	bool timed_out;
	bool have_status;        /* agent_link.c reaped it and told us */
	int status;
	qb_loop_timer_handle timer; /* the deadline, then the reap retries */
	bool timer_armed;
	char out[ALERT_OUTPUT_MAX];
	size_t out_len;
};

struct alert_pending {
	char **env;
	char prog[ALERTS_PATH_MAX];
	char what[64];
};

struct alerts {
	qb_loop_t *loop;
	uint32_t timeout_ms;
	struct alert_run runs[ALERTS_MAX_RUNNING];
	struct alert_pending pending[ALERTS_MAX_PENDING];
	size_t n_pending, head; /* a ring: head is the oldest */
	uint64_t dropped;
};

static void run_next(struct alerts *a);

struct alerts *alerts_new(qb_loop_t *loop)
{
	struct alerts *a = xcalloc(1, sizeof(*a));

	a->loop = loop;
	a->timeout_ms = 30000;
	for (size_t i = 0; i < ALERTS_MAX_RUNNING; i++) {
		a->runs[i].a = a;
		a->runs[i].fd = -1;
	}
	return a;
}

void alerts_set_timeout(struct alerts *a, uint32_t timeout_ms)
{
	a->timeout_ms = timeout_ms;
}

/* Log what the program printed, a line at a time. */
static void log_output(struct alert_run *r)
{
	char *line = r->out, *nl;

	r->out[r->out_len < sizeof(r->out) ? r->out_len : sizeof(r->out) - 1] = '\0';
	while (*line) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (*line)
			log_info("alert '%s' (%s) says: %s", r->prog, r->what, line);
		if (!nl)
			break;
		line = nl + 1;
	}
	r->out_len = 0;
}

static void run_finish(struct alerts *a, struct alert_run *r, bool have_status, int status)
{
	uint64_t took = now_ms() - r->started_ms;

	log_output(r);
	if (r->timed_out)
		log_warn("alert '%s' (%s) timed out after %u ms: its process group was killed",
			 r->prog, r->what, a->timeout_ms);
	else if (!have_status)
		log_info("alert '%s' (%s) ended after %llu ms", r->prog, r->what,
			 (unsigned long long)took);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		log_info("alert '%s' (%s) done in %llu ms", r->prog, r->what,
			 (unsigned long long)took);
	else if (WIFEXITED(status))
		log_warn("alert '%s' (%s) failed: exit status %d%s", r->prog, r->what,
			 WEXITSTATUS(status),
			 WEXITSTATUS(status) == 127 ? " (cannot be executed)" : "");
	else
		log_warn("alert '%s' (%s) killed by signal %d", r->prog, r->what,
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	if (r->timer_armed)
		qb_loop_timer_del(a->loop, r->timer);
	if (r->polling)
		qb_loop_poll_del(a->loop, r->fd);
	if (r->fd >= 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->a = a;
	r->fd = -1;
	run_next(a);
}

static void arm(struct alert_run *r, uint32_t ms, void (*fn)(void *))
{
	if (r->timer_armed)
		qb_loop_timer_del(r->a->loop, r->timer);
	r->timer_armed = qb_loop_timer_add(r->a->loop, QB_LOOP_LOW,
					   (uint64_t)ms * QB_TIME_NS_IN_MSEC, r, fn, &r->timer) == 0;
}

/* The output is at its end: reap the child now, or soon if it lingers. */
static void reap_fn(void *data)
{
	struct alert_run *r = data;
	int status;
	pid_t p;

	r->timer_armed = false;
	do
		p = waitpid(r->pid, &status, WNOHANG);
	while (p < 0 && errno == EINTR);
	if (p == r->pid) {
		run_finish(r->a, r, true, status);
		return;
	}
	if (p < 0 || r->have_status) {
		/* ECHILD: agent_link.c's waitpid(-1) was first (and maybe told us). */
		run_finish(r->a, r, r->have_status, r->status);
		return;
	}
	/* Closed its output but still running (or a child of it holds on): wait for it. */
	arm(r, ALERTS_REAP_RETRY_MS, reap_fn);
}

static void deadline_fn(void *data)
{
	struct alert_run *r = data;
	int status;

	r->timer_armed = false;
	if (!r->polling && waitpid(r->pid, &status, WNOHANG) == r->pid) {
		run_finish(r->a, r, true, status);
		return;
	}
	r->timed_out = true;
	kill(-r->pid, SIGKILL);
	/* The group is gone: its pipe ends with it; reap from here on. */
	if (r->polling) {
		qb_loop_poll_del(r->a->loop, r->fd);
		r->polling = false;
	}
	reap_fn(r);
}

static int readable_fn(int fd, int revents, void *data)
{
	struct alert_run *r = data;
	char buf[512];
	ssize_t n;

	(void)revents;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			r->out[r->out_len++] = buf[i];
			/* A line at a time; one longer than we keep, in pieces. */
			if (buf[i] == '\n' || r->out_len == sizeof(r->out) - 1)
				log_output(r);
		}
	}
	/* End of file: the program (and all that held its output) is done. */
	qb_loop_poll_del(r->a->loop, fd);
	r->polling = false;
	if (r->timer_armed) {
		qb_loop_timer_del(r->a->loop, r->timer);
		r->timer_armed = false;
	}
	reap_fn(r);
	return 0;
}

/* Spawn prog with env into run slot r; -errno if it could not start. */
static int spawn(struct alerts *a, struct alert_run *r, const char *prog, char **env,
		 const char *what)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dflt;
	char *argv[] = { (char *)prog, NULL };
	int p[2], err;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	/* libqb's handlers write into the loop's pipe: the program gets the defaults. */
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGTERM);
	sigaddset(&dflt, SIGINT);
	sigaddset(&dflt, SIGHUP);
	sigaddset(&dflt, SIGCHLD);
	sigaddset(&dflt, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dflt);
	/* Its own process group (pgid = its pid): the deadline kills all it spawned. */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					       POSIX_SPAWN_SETPGROUP);
	err = posix_spawn(&pid, prog, &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[1]);
	if (err) {
		close(p[0]);
		return -err;
	}
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	r->used = true;
	r->pid = pid;
	r->fd = p[0];
	strscpy(r->prog, prog, sizeof(r->prog));
	strscpy(r->what, what, sizeof(r->what));
	r->started_ms = now_ms();
	r->polling = qb_loop_poll_add(a->loop, QB_LOOP_LOW, r->fd, POLLIN, r, readable_fn) == 0;
	/* Without a watched pipe, the deadline is when we look (and kill). */
	arm(r, a->timeout_ms, deadline_fn);
	log_debug("alert '%s' (%s) started, pid %d", prog, what, (int)pid);
	return 0;
}

static struct alert_run *free_slot(struct alerts *a)
{
	for (size_t i = 0; i < ALERTS_MAX_RUNNING; i++)
		if (!a->runs[i].used)
			return &a->runs[i];
	return NULL;
}

static void run_next(struct alerts *a)
{
	struct alert_run *r;

	while (a->n_pending && (r = free_slot(a))) {
		struct alert_pending *p = &a->pending[a->head];
		int err;

		a->head = (a->head + 1) % ALERTS_MAX_PENDING;
		a->n_pending--;
		err = spawn(a, r, p->prog, p->env, p->what);
		if (err < 0)
			log_warn("cannot run alert '%s' (%s): %s", p->prog, p->what, strerror(-err));
		event_env_free(p->env);
		p->env = NULL;
	}
}

void alerts_queue(struct alerts *a, const char *prog, char **env, const char *what)
{
	struct alert_pending *p;

	if (a->n_pending == ALERTS_MAX_PENDING) {
		p = &a->pending[a->head];
		if (a->dropped++ % 100 == 0)
			log_warn("alerts are %d behind: dropping the oldest waiting one ('%s', %s); "
				 "%llu dropped so far", ALERTS_MAX_PENDING, p->prog, p->what,
				 (unsigned long long)a->dropped);
		event_env_free(p->env);
		a->head = (a->head + 1) % ALERTS_MAX_PENDING;
		a->n_pending--;
	}
	p = &a->pending[(a->head + a->n_pending) % ALERTS_MAX_PENDING];
	p->env = env;
	strscpy(p->prog, prog, sizeof(p->prog));
	strscpy(p->what, what, sizeof(p->what));
	a->n_pending++;
	run_next(a);
}

bool alerts_child_exited(struct alerts *a, pid_t pid, int status)
{
	if (!a)
		return false;
	for (size_t i = 0; i < ALERTS_MAX_RUNNING; i++) {
		struct alert_run *r = &a->runs[i];

		if (r->used && r->pid == pid) {
			r->have_status = true;
			r->status = status;
			/* The pipe's end of file finishes it (or the deadline). */
			return true;
		}
	}
	return false;
}

void alerts_free(struct alerts *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < ALERTS_MAX_RUNNING; i++) {
		struct alert_run *r = &a->runs[i];
		int status;

		if (!r->used)
			continue;
		log_notice("stopping: killing alert '%s' (%s)", r->prog, r->what);
		kill(-r->pid, SIGKILL);
		while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
			;
		if (r->timer_armed)
			qb_loop_timer_del(a->loop, r->timer);
		if (r->polling)
			qb_loop_poll_del(a->loop, r->fd);
		if (r->fd >= 0)
			close(r->fd);
	}
	for (size_t i = 0; i < a->n_pending; i++)
		event_env_free(a->pending[(a->head + i) % ALERTS_MAX_PENDING].env);
	if (a->n_pending)
		log_notice("stopping: %zu waiting alert(s) not run", a->n_pending);
	free(a);
}
