/*
 * A clean stop (SIGTERM, SIGINT; `systemctl stop droverd`): this node leaves
 * the cluster without abandoning a VM half-migrated.
 *
 * What the stop does, in order:
 *  1. Nothing new starts here: the coordinator (if it is us) decides nothing
 *     more, a JobStart naming us as source is answered with a failure, and a
 *     start or a stop the coordinator gives us is refused.
 *  2. If the partition is quorate, one JobsCancel for this node with abort:
 *     every member cancels the queued migrations out of this node and marks
 *     the running ones for cancellation, so that their end cancels them
 *     instead of queueing another attempt for a source that is leaving. (A
 *     drain of this node is cancelled with them; drain it again once droverd
 *     runs again.)
 *  3. Our agent is asked to abort every migration this node is the source
 *     of. An abort is the hypervisor's clean way back: the VM keeps running
 *     on the source. A migration that finished before the abort took effect
 *     simply completed: the VM runs on the target.
 *  4. droverd waits until the agent has answered for each of them and for
 *     any start or stop it is executing, and, in a quorate partition, until
 *     every member has applied their ends (so no job stays "running" with a
 *     source that left). Then it leaves CPG and exits; its agent exits with
 *     it. The VMs of this host keep running: droverd does not stop them.
 *  5. Except with [fence] mode = watchdog in a partition without quorum:
 *     the others will count this node self-fenced and restart its VMs, and
 *     its agent, which would destroy them, exits with droverd. There
 *     droverd waits until the agent's lease has run out and it destroyed
 *     them (failover_may_exit()), within watchdog_timeout_ms.
 *
 * Bounds: the agent answers every migration within its deadline (15 min; a
 * hung call costs a killed worker), so the wait is bounded; LEAVE_MAX_MS is
 * a last resort just below the unit's TimeoutStopSec. A second SIGTERM or
 * SIGINT stops at once, as droverd did before this file existed: the
 * hypervisor's migration then goes on alone (libvirt's peer-to-peer
 * migration does not depend on its client), and the next droverd learns
 * the outcome from the inventories.
 *
 * Considered and rejected: waiting for running migrations to complete
 * instead of aborting them. A migration can take minutes and a stop is
 * usually meant now; an abort is as safe (the hypervisor hands a VM over
 * atomically) and takes seconds. Draining the node first is the operator's
 * tool for moving its VMs (`drover node drain NODE --wait`).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "droverd.h"
#include "log.h"
#include "util.h"

#define LEAVE_POLL_MS 100u
/*
 * How often the cancellation is said again while queued jobs out of this
 * node remain (a membership change can drop a message sent before it), and
 * running ones that no agent job of ours runs are ended.
 */
#define LEAVE_RESEND_MS 3000u
/* Just below droverd.service's TimeoutStopSec=20min. */
#define LEAVE_MAX_MS (19u * 60u * 1000u)

struct leave_count {
	size_t execs;    /* migrations our agent runs as source, and VF steps */
	size_t ops;      /* starts and stops our agent runs */
	size_t queued;   /* replicated: queued migrations out of this node */
	size_t running;  /* replicated: running migrations out of this node */
};

static void count(const struct droverd *d, struct leave_count *c)
{
	memset(c, 0, sizeof(*c));
	/*
	 * A VF detach or attach in flight counts as a migration does: exiting
	 * would kill its worker halfway, and a guest that then completes the
	 * unplug leaves the VM without the VF the replicated state gives it.
	 */
	c->execs = d->n_execs + d->n_vf_steps;
	for (size_t i = 0; i < DROVER_MAX_OPS; i++)
		if (d->op_local[i].id && d->op_local[i].job_id)
			c->ops++;
	for (size_t i = 0; i < d->state.n_jobs; i++) {
		const struct queue_job *j = &d->state.jobs[i];

		if (j->kind != QUEUE_OP_MIGRATE || j->source != d->local_id)
			continue;
		if (j->state == QUEUE_JOB_QUEUED)
			c->queued++;
		else if (j->state == QUEUE_JOB_RUNNING)
			c->running++;
	}
}

/* Whether the replicated jobs can still change: only then do we wait for them. */
static bool cluster_listens(const struct droverd *d)
{
	return d->cpg_joined && d->quorate && d->config_quorate && d->synced;
}

static bool done(struct droverd *d, const struct leave_count *c)
{
	if (c->execs || c->ops)
		return false;
	if (cluster_listens(d) && (c->queued || c->running))
		return false;
	/* [fence] mode = watchdog without quorum: the others count on our agent's destroy. */
	return failover_may_exit(d);
}

static void stop_now(struct droverd *d)
{
	d->stopping = true;
	qb_loop_stop(d->loop);
}

static void send_cancel(struct droverd *d)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsCancel jc = DROVER__JOBS_CANCEL__INIT;
	char reason[96], b[32];

	snprintf(reason, sizeof(reason), "droverd on %s is stopping",
		 links_node_name(d, d->local_id, b, sizeof(b)));
	jc.node = d->local_id;
	jc.abort = true;
	jc.at_ms = wall_ms();
	jc.reason = reason;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_CANCEL;
	env.jobs_cancel = &jc;
	if (membership_send(d, &env, false) < 0)
		log_warn("stopping: cannot multicast the cancellation of this node's migrations; "
			 "aborting them here only");
}

static void leave_timer_fn(void *data)
{
	struct droverd *d = data;
	struct leave_count c;
	uint64_t waited = now_ms() - d->leave_started_ms;

	if (d->stopping)
		return;
	count(d, &c);
	if (done(d, &c)) {
		log_notice("stopping: no migration or action of this node is under way (waited "
			   "%llu ms); leaving the cluster",
			   (unsigned long long)waited);
		stop_now(d);
		return;
	}
	if (waited >= LEAVE_MAX_MS) {
		log_err("stopping: %zu migration(s) and %zu action(s) still under way after %u s; "
			"leaving anyway (the next droverd learns their outcome from the hypervisor)",
			c.execs, c.ops, LEAVE_MAX_MS / 1000);
		stop_now(d);
		return;
	}
	/* A source that loses its agent has failed those jobs (drain_agent_lost): nothing to wait for. */
	drain_abort_own(d, "droverd on the source is stopping");
	if (cluster_listens(d) && now_ms() - d->leave_resent_ms >= LEAVE_RESEND_MS) {
		d->leave_resent_ms = now_ms();
		if (c.queued)
			send_cancel(d);
		if (c.running > c.execs)
			drain_finish_orphans(d, "droverd on the source is stopping");
	}
	sd_notifyf(0, "STATUS=stopping: waiting for %zu migration(s) and %zu start(s)/stop(s) of "
		      "this node to end", c.execs > c.running ? c.execs : c.running, c.ops);
	qb_loop_timer_add(d->loop, QB_LOOP_HIGH, (uint64_t)LEAVE_POLL_MS * QB_TIME_NS_IN_MSEC, d,
			  leave_timer_fn, &d->leave_timer);
}

void leave_begin(struct droverd *d, int sig)
{
	struct leave_count c;

	if (d->leaving) {
		log_warn("signal %d again: stopping now, without waiting for this node's migrations",
			 sig);
		stop_now(d);
		return;
	}
	log_notice("signal %d: stopping", sig);
	sd_notify(0, "STOPPING=1");
	if (!d->corosync_ready) {
		stop_now(d);
		return;
	}
	d->leaving = true;
	d->leave_started_ms = d->leave_resent_ms = now_ms();
	count(d, &c);
	if (done(d, &c)) {
		stop_now(d);
		return;
	}
	log_notice("stopping: aborting %zu migration(s) this node is the source of, cancelling %zu "
		   "queued, and waiting for %zu start(s)/stop(s) under way; this host's VMs keep "
		   "running (a second signal stops at once)",
		   c.execs, cluster_listens(d) ? c.queued : 0, c.ops);
	if (cluster_listens(d) && (c.queued || c.running))
		send_cancel(d);
	drain_abort_own(d, "droverd on the source is stopping");
	leave_timer_fn(d);
}

void leave_stop(struct droverd *d)
{
	qb_loop_timer_del(d->loop, d->leave_timer);
}
