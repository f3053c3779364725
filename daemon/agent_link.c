/*
 * droverd's side of drover-agent: spawn it on a SOCK_SEQPACKET socketpair
 * (its fd 3), supervise it, and exchange agent messages (agent/README.md).
 *
 * droverd itself never calls the hypervisor. It asks the agent for an
 * inventory on a timer and whenever the agent reports a hypervisor event, and
 * multicasts what the agent saw as this node's observation (NodeInventory).
 *
 * An agent that dies or cannot load its plugin is not a node with no VMs: its
 * observation says "agent unavailable", and the VMs it last reported stay
 * where they were, of unknown state, until a working agent reports again.
 * Restarts back off from 1 s to 30 s and the backoff resets after a minute of
 * uptime, so a broken plugin cannot make droverd fork in a loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "droverd.h"
#include "log.h"
#include "selffence.h"
#include "seqpacket.h"
#include "util.h"

#define BACKOFF_MIN_MS 1000u
#define BACKOFF_MAX_MS 30000u
#define STABLE_MS 60000u
#define HELLO_TIMEOUT_MS 10000u
#define INVENTORY_DEADLINE_MS 15000u

struct agent_link {
	struct droverd *d;
	pid_t pid;
	int fd;
	bool hello;
	bool inv_inflight;
	uint64_t inv_job;
	uint64_t next_job;
	uint64_t started_ms;
	uint64_t inv_sent_ms;
	uint32_t backoff_ms;
	uint8_t *rbuf;
	qb_loop_timer_handle restart_timer, inv_timer, hello_timer;
	bool restart_armed;
	char fence_plugin[64];     /* the name the agent gave our fence plugin, "" if none */
};

static void spawn(struct agent_link *a);

static void arm(struct agent_link *a, uint32_t ms, qb_loop_timer_dispatch_fn fn,
		qb_loop_timer_handle *h)
{
	if (!a->d->stopping)
		qb_loop_timer_add(a->d->loop, QB_LOOP_LOW, (uint64_t)ms * QB_TIME_NS_IN_MSEC, a, fn,
				  h);
}

static void restart_fn(void *data)
{
	struct agent_link *a = data;

	a->restart_armed = false;
	spawn(a);
}

/* The agent is gone or useless: report it, reap it, schedule a restart. */
static void agent_down(struct agent_link *a, const char *why)
{
	struct droverd *d = a->d;

	if (a->fd >= 0) {
		qb_loop_poll_del(d->loop, a->fd);
		close(a->fd);
		a->fd = -1;
	}
	if (a->pid > 0) {
		/* It exits on EOF by itself; make sure of it. */
		kill(a->pid, SIGKILL);
		a->pid = 0;
	}
	qb_loop_timer_del(d->loop, a->hello_timer);
	a->hello = false;
	a->inv_inflight = false;
	vm_actions_agent_lost(d);
	drain_agent_lost(d);
	vf_exec_agent_lost(d);
	droverd_on_local_inventory(d, NULL, why);
	if (d->stopping || d->leaving || a->restart_armed)
		return;
	if (now_ms() - a->started_ms > STABLE_MS)
		a->backoff_ms = BACKOFF_MIN_MS;
	log_warn("drover-agent unavailable (%s); restarting it in %u ms", why, a->backoff_ms);
	arm(a, a->backoff_ms, restart_fn, &a->restart_timer);
	a->restart_armed = true;
	a->backoff_ms = a->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : a->backoff_ms * 2;
}

static int send_job(struct agent_link *a, Drover__AgentJob *job)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;

	env.body_case = DROVER__ENVELOPE__BODY_AGENT_JOB;
	env.agent_job = job;
	return seqpacket_send(a->fd, &env);
}

static void request_inventory(struct agent_link *a)
{
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentInventoryJob inv = DROVER__AGENT_INVENTORY_JOB__INIT;
	int r;

	if (a->fd < 0 || !a->hello)
		return;
	/* One in flight at a time; a stuck one is abandoned by its deadline. */
	if (a->inv_inflight && now_ms() - a->inv_sent_ms < INVENTORY_DEADLINE_MS + 2000)
		return;
	job.job_id = ++a->next_job;
	job.deadline_ms = INVENTORY_DEADLINE_MS;
	job.kind_case = DROVER__AGENT_JOB__KIND_INVENTORY;
	job.inventory = &inv;
	r = send_job(a, &job);
	if (r < 0) {
		log_warn("cannot send an inventory job to drover-agent: %s", strerror(-r));
		return;
	}
	a->inv_inflight = true;
	a->inv_job = job.job_id;
	a->inv_sent_ms = now_ms();
}

static void inv_timer_fn(void *data)
{
	struct agent_link *a = data;

	request_inventory(a);
	arm(a, a->d->cfg.inventory_ms, inv_timer_fn, &a->inv_timer);
}

static void hello_timeout_fn(void *data)
{
	struct agent_link *a = data;

	if (!a->hello && a->fd >= 0)
		agent_down(a, "no hello from drover-agent within 10 s");
}

static void on_result(struct agent_link *a, const Drover__AgentJobResult *r)
{
	if (r->job_id != a->inv_job) {
		if (!drain_agent_job_done(a->d, r->job_id, r) &&
		    !vf_exec_job_done(a->d, r->job_id, r) &&
		    !failover_agent_job_done(a->d, r->job_id, r))
			vm_actions_job_done(a->d, r->job_id, r);
		return;
	}
	if (!a->inv_inflight) {
		log_debug("agent result for job %llu that is not ours anymore",
			  (unsigned long long)r->job_id);
		return;
	}
	a->inv_inflight = false;
	if (r->outcome == DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK && r->inventory) {
		/* Ours to change: the decoded frame is freed after this. */
		failover_local_inventory(a->d, (Drover__AgentInventory *)r->inventory);
	} else {
		char why[200];

		snprintf(why, sizeof(why), "inventory failed: %s",
			 r->error && *r->error ? r->error : "no reason given");
		log_warn("drover-agent %s", why);
		droverd_on_local_inventory(a->d, NULL, why);
	}
}

static int agent_readable(int fd, int revents, void *data)
{
	struct agent_link *a = data;

	(void)revents;
	for (;;) {
		Drover__Envelope *env = NULL;
		ssize_t n = seqpacket_recv(fd, a->rbuf, SEQPACKET_BUF);
		int r;

		if (n == -EAGAIN)
			return 0;
		if (n <= 0) {
			agent_down(a, n == 0 ? "drover-agent closed its socket" : strerror((int)-n));
			return -1;
		}
		r = frame_decode(a->rbuf, (size_t)n, &env);
		if (r < 0 || !frame_body_is_agent(env)) {
			log_warn("dropping a malformed message from drover-agent: %s",
				 r < 0 ? frame_strerror(r) : "not an agent message");
			frame_free(env);
			continue;
		}
		switch (env->body_case) {
		case DROVER__ENVELOPE__BODY_AGENT_HELLO:
			a->hello = true;
			/* The hypervisor plugin is loaded first, the fence plugin second. */
			a->fence_plugin[0] = '\0';
			if (env->agent_hello->n_plugins > 1 && env->agent_hello->plugins[1]->name)
				strscpy(a->fence_plugin, env->agent_hello->plugins[1]->name,
					sizeof(a->fence_plugin));
			log_notice("drover-agent %s (pid %u) is up with %zu plugin(s)",
				   env->agent_hello->version, env->agent_hello->pid,
				   env->agent_hello->n_plugins);
			failover_agent_up(a->d);
			request_inventory(a);
			break;
		case DROVER__ENVELOPE__BODY_AGENT_JOB_RESULT:
			on_result(a, env->agent_job_result);
			break;
		case DROVER__ENVELOPE__BODY_AGENT_EVENT:
			/* The inventory is the truth; an event says it just changed. */
			log_info("hypervisor event %d for '%s'", (int)env->agent_event->type,
				 env->agent_event->vm);
			a->inv_inflight = false;
			request_inventory(a);
			break;
		case DROVER__ENVELOPE__BODY_AGENT_SELF_FENCE:
			failover_on_self_fence(a->d, env->agent_self_fence);
			/* What runs here changed: the others must see it at once. */
			a->inv_inflight = false;
			request_inventory(a);
			break;
		case DROVER__ENVELOPE__BODY_AGENT_JOB_PROGRESS:
			/* Only migrations report progress, and they are the queue's. */
			drain_agent_job_progress(a->d, env->agent_job_progress->job_id,
						 env->agent_job_progress->migration);
			break;
		default:
			log_warn("unexpected message %d from drover-agent", (int)env->body_case);
			break;
		}
		frame_free(env);
	}
}

static void spawn(struct agent_link *a)
{
	struct droverd *d = a->d;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		agent_down(a, "socketpair failed");
		return;
	}
	a->started_ms = now_ms();
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		agent_down(a, "fork failed");
		return;
	}
	if (pid == 0) {
		const char *argv[24];
		char lease_ms[16], wd_s[16];
		size_t n = 0;
		struct selffence_timing t = { d->cfg.watchdog_timeout_ms, d->cfg.watchdog_margin_ms };

		argv[n++] = d->cfg.agent_path;
		argv[n++] = "--foreground";
		argv[n++] = "--log-priority";
		argv[n++] = log_priority_name(d->cfg.log_priority);
		argv[n++] = "--plugin";
		argv[n++] = d->cfg.agent_plugin;
		argv[n++] = "--plugin-config";
		argv[n++] = d->cfg.agent_plugin_config;
		/* With fence devices, the fence plugin too (failover.c). */
		if (d->cfg.fence_mode == FENCE_MODE_DEVICE) {
			argv[n++] = "--plugin";
			argv[n++] = d->cfg.fence_plugin;
		}
		/*
		 * Self-fencing: the agent arms its lease before anything else, so
		 * that VMs that run here already are covered from its start on,
		 * whether or not this droverd ever reaches a quorate configuration.
		 */
		if (d->cfg.fence_mode == FENCE_MODE_WATCHDOG) {
			snprintf(lease_ms, sizeof(lease_ms), "%u", (unsigned)d->cfg.watchdog_timeout_ms);
			snprintf(wd_s, sizeof(wd_s), "%u", (unsigned)selffence_watchdog_s(&t));
			argv[n++] = "--lease-ms";
			argv[n++] = lease_ms;
			if (d->cfg.watchdog_device[0]) {
				argv[n++] = "--watchdog-device";
				argv[n++] = d->cfg.watchdog_device;
				argv[n++] = "--watchdog-timeout-s";
				argv[n++] = wd_s;
			}
		}
		argv[n] = NULL;
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0)
			dup2(null, 0);
		dup2(sv[1], 3); /* dup2 clears close-on-exec */
		/* corosync's and libqb's descriptors are not all close-on-exec. */
		close_range(4, ~0u, 0);
		setsid();
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		/* libqb blocked or redirected signals in droverd; the agent starts clean. */
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "droverd: cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	a->pid = pid;
	a->fd = sv[0];
	seqpacket_setup(a->fd, 1);
	qb_loop_poll_add(d->loop, QB_LOOP_MED, a->fd, POLLIN, a, agent_readable);
	arm(a, HELLO_TIMEOUT_MS, hello_timeout_fn, &a->hello_timer);
	log_info("started drover-agent '%s' (pid %d, plugin '%s')", d->cfg.agent_path, (int)pid,
		 d->cfg.agent_plugin);
}

static int sigchld_fn(int sig, void *data)
{
	struct agent_link *a = data;
	int status;
	pid_t pid;

	(void)sig;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		/* An alert program: events.c tells how it ended. */
		if (events_child_exited(a->d, pid, status))
			continue;
		if (WIFEXITED(status))
			log_info("child %d exited with status %d%s", (int)pid, WEXITSTATUS(status),
				 WEXITSTATUS(status) == 78 ? " (its plugin was refused; see its log)"
							   : "");
		else if (WIFSIGNALED(status))
			log_info("child %d killed by signal %d", (int)pid, WTERMSIG(status));
		if (pid == a->pid) {
			a->pid = 0;
			agent_down(a, "drover-agent exited");
		}
	}
	return 0;
}

int agent_link_start(struct droverd *d)
{
	struct agent_link *a;

	if (!d->cfg.agent_enabled) {
		log_notice("drover-agent disabled by configuration: this node reports no VMs");
		droverd_on_no_hypervisor(d);
		return 0;
	}
	a = xcalloc(1, sizeof(*a));
	a->d = d;
	a->fd = -1;
	a->backoff_ms = BACKOFF_MIN_MS;
	a->rbuf = xmalloc(SEQPACKET_BUF);
	d->agent = a;
	qb_loop_signal_add(d->loop, QB_LOOP_HIGH, SIGCHLD, a, sigchld_fn, NULL);
	spawn(a);
	arm(a, d->cfg.inventory_ms, inv_timer_fn, &a->inv_timer);
	return 0;
}

void agent_link_request_inventory(struct droverd *d)
{
	if (d->agent)
		request_inventory(d->agent);
}

int agent_link_submit(struct droverd *d, Drover__AgentJob *job, uint64_t *ret_job_id)
{
	struct agent_link *a = d->agent;
	int r;

	if (!a || a->fd < 0 || !a->hello)
		return -ENOTCONN;
	job->job_id = ++a->next_job;
	r = send_job(a, job);
	if (r < 0)
		return r;
	*ret_job_id = job->job_id;
	return 0;
}

int agent_link_send_lease(struct droverd *d, uint64_t expires_mono_ms)
{
	struct agent_link *a = d->agent;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentLease m = DROVER__AGENT_LEASE__INIT;

	if (!a || a->fd < 0 || !a->hello)
		return -ENOTCONN;
	m.expires_mono_ms = expires_mono_ms;
	m.lease_ms = d->cfg.watchdog_timeout_ms;
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_LEASE;
	env.agent_lease = &m;
	return seqpacket_send(a->fd, &env);
}

/*
 * A clean stop that the others do not count on as a self-fence: the agent
 * may disarm the hardware watchdog when our end closes. Without this, an end
 * of the link leaves it armed (agent/lease.c), so that a droverd that dies
 * on a host cut off from the others resets that host instead of leaving its
 * VMs running unguarded.
 */
int agent_link_release_lease(struct droverd *d)
{
	struct agent_link *a = d->agent;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentLease m = DROVER__AGENT_LEASE__INIT;

	if (!a || a->fd < 0 || !a->hello)
		return -ENOTCONN;
	m.release = true;
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_LEASE;
	env.agent_lease = &m;
	return seqpacket_send(a->fd, &env);
}

int agent_link_prewarm(struct droverd *d, uint32_t jobs)
{
	struct agent_link *a = d->agent;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentPrewarm m = DROVER__AGENT_PREWARM__INIT;

	if (!a || a->fd < 0 || !a->hello)
		return -ENOTCONN;
	m.jobs = jobs;
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_PREWARM;
	env.agent_prewarm = &m;
	return seqpacket_send(a->fd, &env);
}

void agent_link_stop(struct droverd *d)
{
	struct agent_link *a = d->agent;

	if (!a)
		return;
	/* Closing our end is the agent's signal to stop (it exits on EOF). */
	if (a->fd >= 0) {
		qb_loop_poll_del(d->loop, a->fd);
		close(a->fd);
	}
	if (a->pid > 0) {
		int status;

		for (int i = 0; i < 30 && waitpid(a->pid, &status, WNOHANG) == 0; i++)
			usleep(100000); /* shutdown only: the loop has stopped */
		if (waitpid(a->pid, &status, WNOHANG) == 0) {
			kill(a->pid, SIGKILL);
			waitpid(a->pid, &status, 0);
		}
	}
	free(a->rbuf);
	free(a);
	d->agent = NULL;
}

const char *agent_link_fence_plugin(const struct droverd *d)
{
	const struct agent_link *a = d->agent;

	return a && a->hello && a->fence_plugin[0] ? a->fence_plugin : NULL;
}
