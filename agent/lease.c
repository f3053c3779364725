/*
 * Watchdog self-fencing in the agent (see lease.h and
 * daemon/core/selffence.h for the rule). One timer every SELFFENCE_TICK_MS
 * checks the lease on CLOCK_MONOTONIC (the clock droverd stamps its beats
 * with) and feeds the hardware watchdog while the lease holds.
 */
#include "lease.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "selffence.h"
#include "util.h"

/* While self-fenced, the destroy runs again this often (a start that raced it). */
#define log_crit(...) qb_log(LOG_CRIT, __VA_ARGS__)

#define REFENCE_MS 5000u
#define SELF_FENCE_DEADLINE_MS 30000u

struct agent_lease {
	uint32_t lease_ms;
	uint64_t expires_ms;    /* monotonic; 0: not armed */
	bool granted;           /* droverd granted one: expires_ms is no longer our own guess */
	bool released;          /* droverd stops cleanly: the watchdog may be disarmed at our end */
	bool stopped;           /* lease_stop() ran: the timer is gone (a signal and an EOF both stop) */
	bool fenced;            /* ran out: VMs destroyed, starts refused */
	uint64_t fenced_at_ms;
	uint64_t last_job_ms;   /* the last self-fence job submitted */
	uint64_t job_id;        /* open self-fence job, 0: none */
	uint64_t next_id;
	const char *wd_path;
	uint32_t wd_timeout_s;
	int wd_fd;
	uint64_t wd_next_try_ms;
	qb_loop_timer_handle timer;
};

static void wd_open(struct agent_lease *l, uint64_t now)
{
	int s;

	/*
	 * Opened at droverd's first grant, not at our start: an agent that
	 * replaces one that died with the device armed must not feed it on its
	 * own start-up guess (the host then resets unless a quorate droverd
	 * renews the lease in time), and a host that boots without quorum is
	 * not reset for that alone.
	 */
	if (!l->wd_path || !l->granted || l->wd_fd >= 0 || now < l->wd_next_try_ms)
		return;
	l->wd_fd = open(l->wd_path, O_WRONLY | O_CLOEXEC);
	if (l->wd_fd < 0) {
		/* Another process may hold it (an agent that is stopping): try again soon. */
		log_err("cannot open the watchdog device %s: %s; retrying", l->wd_path,
			strerror(errno));
		l->wd_next_try_ms = now + 5000;
		return;
	}
	s = (int)l->wd_timeout_s;
	if (ioctl(l->wd_fd, WDIOC_SETTIMEOUT, &s) < 0)
		log_warn("watchdog %s: cannot set its timeout to %d s: %s", l->wd_path,
			 (int)l->wd_timeout_s, strerror(errno));
	log_notice("watchdog %s armed (%d s): fed while this node's lease holds", l->wd_path, s);
}

static void wd_feed(struct agent_lease *l)
{
	if (l->wd_fd >= 0 && ioctl(l->wd_fd, WDIOC_KEEPALIVE, 0) < 0)
		log_err("watchdog %s: keepalive failed: %s", l->wd_path, strerror(errno));
}

static void cancel_jobs(struct agent *a)
{
	uint64_t ids[256];
	size_t n = jobs_open_ids(a, ids, sizeof(ids) / sizeof(ids[0]));

	for (size_t i = 0; i < n; i++)
		if (ids[i] < LEASE_JOB_ID_BASE)
			jobs_cancel(a, ids[i]);
}

static void submit_self_fence(struct agent *a, uint64_t now)
{
	struct agent_lease *l = a->lease;
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentSelfFenceJob sf = DROVER__AGENT_SELF_FENCE_JOB__INIT;

	if (l->job_id || !a->n_plugins)
		return;
	job.job_id = LEASE_JOB_ID_BASE | ++l->next_id;
	job.deadline_ms = SELF_FENCE_DEADLINE_MS;
	job.plugin = (char *)"";
	job.kind_case = DROVER__AGENT_JOB__KIND_SELF_FENCE;
	job.self_fence = &sf;
	l->job_id = job.job_id;
	l->last_job_ms = now;
	jobs_submit(a, &job);
}

static void tick(void *data)
{
	struct agent *a = data;
	struct agent_lease *l = a->lease;
	uint64_t now = now_ms();

	wd_open(l, now);
	if (!selffence_lease_expired(now, l->expires_ms)) {
		wd_feed(l);
	} else if (!l->fenced) {
		l->fenced = true;
		l->fenced_at_ms = now;
		log_crit("SELF-FENCING: this node's lease ran out %llu ms ago (no quorate "
			 "configuration for %u ms, or droverd stopped renewing it): destroying "
			 "every VM of this host%s",
			 (unsigned long long)(now - l->expires_ms), l->lease_ms,
			 l->wd_fd >= 0 ? " and no longer feeding the watchdog" : "");
		cancel_jobs(a);
		submit_self_fence(a, now);
	} else if (!l->job_id && now - l->last_job_ms >= REFENCE_MS) {
		submit_self_fence(a, now);
	}
	if (!a->stopping)
		qb_loop_timer_add(a->loop, QB_LOOP_HIGH,
				  (uint64_t)SELFFENCE_TICK_MS * QB_TIME_NS_IN_MSEC, a, tick, &l->timer);
}

int lease_setup(struct agent *a, uint32_t lease_ms, const char *wd_path, uint32_t wd_timeout_s)
{
	struct agent_lease *l = xcalloc(1, sizeof(*l));

	l->lease_ms = lease_ms;
	l->expires_ms = now_ms() + lease_ms;
	l->wd_path = wd_path && *wd_path ? wd_path : NULL;
	l->wd_timeout_s = wd_timeout_s ? wd_timeout_s : 1;
	l->wd_fd = -1;
	a->lease = l;
	log_notice("self-fencing armed: without a lease from a quorate droverd for %u ms, this "
		   "agent destroys every VM of the host%s%s",
		   lease_ms, l->wd_path ? "; watchdog " : "", l->wd_path ? l->wd_path : "");
	return qb_loop_timer_add(a->loop, QB_LOOP_HIGH,
				 (uint64_t)SELFFENCE_TICK_MS * QB_TIME_NS_IN_MSEC, a, tick, &l->timer);
}

void lease_on_message(struct agent *a, const Drover__AgentLease *m)
{
	struct agent_lease *l = a->lease;
	uint64_t now = now_ms();

	if (m->release) {
		/* Not a grant: droverd is about to close the link after a clean stop. */
		if (l) {
			l->released = true;
			log_info("droverd stops cleanly: the watchdog may be disarmed when it is gone");
		}
		return;
	}
	if (!l) {
		/* droverd asks for self-fencing although we were not started for it. */
		if (lease_setup(a, m->lease_ms ? m->lease_ms : SELFFENCE_TIMEOUT_MIN_MS, NULL, 0) < 0)
			log_err("cannot arm the lease timer");
		l = a->lease;
	}
	if (!m->expires_mono_ms) {
		/* 0 would read as "never runs out" (selffence_lease_expired()). */
		log_warn("dropping a lease from droverd without an expiry");
		return;
	}
	if (m->lease_ms)
		l->lease_ms = m->lease_ms;
	/*
	 * The lease armed at start-up is this agent's own guess, made before
	 * droverd could say anything: droverd's first grant replaces it, shorter
	 * or not (then, if it ran out already, the next tick self-fences). An
	 * agent started again while the node is cut off (it crashed, or droverd
	 * restarted it) would otherwise keep the VMs running for a whole new
	 * lease past the one its predecessor held, past the moment the quorate
	 * side counts this node self-fenced. Later grants only extend it: the
	 * socket keeps their order, and none is shortened by an older one.
	 */
	if (!l->granted)
		l->expires_ms = m->expires_mono_ms;
	else
		l->expires_ms = selffence_lease_extend(l->expires_ms, m->expires_mono_ms);
	l->granted = true;
	if (l->fenced && !selffence_lease_expired(now, l->expires_ms)) {
		l->fenced = false;
		log_notice("lease renewed by a quorate droverd: this node may run VMs again "
			   "(self-fenced %llu ms ago)", (unsigned long long)(now - l->fenced_at_ms));
	}
}

bool lease_job_result(struct agent *a, const Drover__AgentJobResult *res)
{
	struct agent_lease *l = a->lease;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentSelfFence sf = DROVER__AGENT_SELF_FENCE__INIT;
	char *names[512];
	size_t n = 0;

	if (!l || res->job_id < LEASE_JOB_ID_BASE)
		return false;
	if (res->job_id == l->job_id)
		l->job_id = 0;
	for (size_t i = 0; res->inventory && i < res->inventory->n_domains && n < 512; i++)
		names[n++] = res->inventory->domains[i]->name;
	if (res->outcome == DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK) {
		if (n)
			log_crit("self-fenced: destroyed %zu VM(s)", n);
		else
			log_info("self-fenced: no VM runs on this host");
	} else {
		log_crit("SELF-FENCING FAILED: %s; retrying in %u s%s", res->error ? res->error : "",
			 REFENCE_MS / 1000,
			 l->wd_fd >= 0 ? " (the watchdog resets the host meanwhile)" : "");
	}
	if (!n && res->outcome == DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK &&
	    l->last_job_ms != l->fenced_at_ms)
		return true; /* a repeat found nothing: nothing to tell droverd */
	sf.expired_mono_ms = l->expires_ms;
	sf.n_destroyed = n;
	sf.destroyed = names;
	sf.error = (char *)(res->outcome == DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK
				    ? ""
				    : res->error ? res->error : "failed");
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_SELF_FENCE;
	env.agent_self_fence = &sf;
	agent_send(a, &env, false);
	return true;
}

const char *lease_refuses(const struct agent *a, Drover__AgentJob__KindCase kind)
{
	if (!a->lease || !a->lease->fenced)
		return NULL;
	if (kind == DROVER__AGENT_JOB__KIND_VM_START || kind == DROVER__AGENT_JOB__KIND_VM_MIGRATE ||
	    kind == DROVER__AGENT_JOB__KIND_DEVICE_ATTACH)
		return "this node self-fenced (its lease from a quorate droverd ran out): it runs "
		       "no VM until the lease is renewed";
	return NULL;
}

void lease_stop(struct agent *a)
{
	struct agent_lease *l = a->lease;

	if (!l || l->stopped)
		return;
	l->stopped = true;
	if (l->wd_fd >= 0 && !l->fenced && l->released) {
		/* The magic close: a clean stop with a valid lease must not reset the host. */
		if (write(l->wd_fd, "V", 1) != 1)
			log_warn("watchdog %s: the magic close failed: %s", l->wd_path,
				 strerror(errno));
		close(l->wd_fd);
		l->wd_fd = -1;
	} else if (l->wd_fd >= 0 && !l->fenced) {
		/*
		 * droverd ended without releasing the lease: it crashed or was
		 * killed, perhaps on a host cut off from the others, which count
		 * it self-fenced once the lease has run out. Nothing would
		 * destroy its VMs after us, so the watchdog stays armed: the host
		 * resets unless a new agent gets a lease from a quorate droverd
		 * in time and feeds it.
		 */
		log_crit("droverd ended without releasing the lease: leaving the watchdog %s armed; "
			 "this host resets within %u s unless a new droverd renews the lease",
			 l->wd_path, l->wd_timeout_s);
		close(l->wd_fd);
		l->wd_fd = -1;
	}
	qb_loop_timer_del(a->loop, l->timer);
	/* A self-fenced agent keeps its watchdog open to the end: the host then resets. */
}
