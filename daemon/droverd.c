/*
 * droverd: one per host. It joins corosync (CPG, votequorum, cmap, cfg), holds
 * the replicated cluster state, and serves the CLI. Everything runs in one
 * libqb loop and nothing in it blocks: corosync is reached through its fds,
 * flow control is retried from timers, and the hypervisor is never called
 * from here (that is the agent's job, in a later issue).
 *
 * This file owns the core of the replicated state machine: what happens on a
 * configuration change, on each delivered peer message, and on a quorum
 * change. The rules it keeps:
 *  - state changes only by applying delivered messages, in delivery order;
 *  - after a membership change that adds anyone, no change is applied until
 *    the state exchange (sync.h) is complete, on every member alike;
 *  - a node changes nothing unless it is quorate and synchronised; the
 *    coordinator (lowest node id of the quorate membership) is the only one
 *    that will take decisions in later issues.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "droverd.h"
#include "exitcode.h"
#include "locate.h"
#include "quorum_rule.h"
#include "apply_gate.h"
#include "observe.h"
#include "log.h"
#include "persist.h"
#include "state_xfer.h"
#include "util.h"

#define CONNECT_RETRY_MS 1000

static int exit_status = 0;

static void resend_own_inventory(struct droverd *d);

bool droverd_is_member(const struct droverd *d, uint32_t id)
{
	for (size_t i = 0; i < d->n_members; i++)
		if (d->members[i] == id)
			return true;
	return false;
}

uint32_t droverd_coordinator(const struct droverd *d)
{
	/*
	 * members[] is sorted, so the first is the lowest node id. Both quorum
	 * views must agree: votequorum's, and the configuration's own, which is
	 * what every member checks again when the decision is applied.
	 */
	if (!d->quorate || !d->config_quorate || !d->synced || d->n_members == 0)
		return 0;
	return d->members[0];
}

static void note_coordinator(struct droverd *d)
{
	uint32_t c = droverd_coordinator(d);
	char buf[32];

	if (c == d->last_coordinator)
		return;
	d->last_coordinator = c;
	if (c == 0)
		log_notice("no coordinator: %s", d->quorate ? "state exchange in progress"
							    : "partition has no quorum");
	else if (c == d->local_id)
		log_notice("this node ('%s') is the coordinator",
			   links_node_name(d, c, buf, sizeof(buf)));
	else
		log_notice("coordinator is '%s' (node %u)", links_node_name(d, c, buf, sizeof(buf)),
			   c);
}

void droverd_fatal(struct droverd *d, const char *why)
{
	log_err("%s; exiting so that the service manager restarts droverd", why);
	exit_status = 1;
	if (failover_hold_exit(d))
		return;
	d->stopping = true;
	qb_loop_stop(d->loop);
}

/*
 * The state file is written by a child process (persist.h), one at a time,
 * so the loop never waits for encoding 40 MiB or for two fsyncs. A change
 * applied while a child writes marks the state for one more write, started
 * when that child is done: a burst of changes costs two writes, not one
 * each. The file on disk is always a whole state, old or new. The child is
 * reaped by its pid only (agent_link.c reaps with waitpid(-1) on SIGCHLD and
 * may get it first; its result comes through the pipe either way).
 */
struct persist_bg {
	struct persist_child child;   /* pid 0: no write in flight */
	bool dirty;                   /* memory is newer than the file (or the last write failed) */
	bool again;                   /* changed while the child wrote: write once more */
	bool polling;                 /* child.fd is in the loop */
	bool reap_armed;
	qb_loop_timer_handle reap_timer;
	unsigned failures;            /* writes failed in a row */
};

/* The child closed its pipe but has not quite exited: look again this soon. */
#define PERSIST_REAP_RETRY_MS 10

static void persist_start(struct droverd *d);

static void persist_done(struct droverd *d, int r)
{
	struct persist_bg *p = d->persist;

	if (r < 0) {
		if (p->failures++ == 0 || p->failures % 100 == 0)
			log_err("cannot persist cluster state to '%s/%s': %s (kept in memory; the "
				"cluster holds it too; retried at the next change and at stop)",
				d->cfg.state_dir, PERSIST_FILE, strerror(-r));
	} else {
		if (p->failures)
			log_notice("cluster state persisted to '%s/%s' again", d->cfg.state_dir,
				   PERSIST_FILE);
		p->failures = 0;
		if (!p->again)
			p->dirty = false;
	}
	/* At stop the final flush writes what is left, in the foreground. */
	if (p->again && !d->stopping)
		persist_start(d);
}

static void persist_reap_fn(void *data)
{
	struct droverd *d = data;
	struct persist_bg *p = d->persist;

	p->reap_armed = false;
	if (persist_child_reap(&p->child) == -EAGAIN) {
		if (qb_loop_timer_add(d->loop, QB_LOOP_LOW,
				      PERSIST_REAP_RETRY_MS * QB_TIME_NS_IN_MSEC, d, persist_reap_fn,
				      &p->reap_timer) == 0)
			p->reap_armed = true;
		return;
	}
	persist_done(d, p->child.result);
}

static int persist_readable_fn(int fd, int revents, void *data)
{
	struct droverd *d = data;
	struct persist_bg *p = d->persist;

	(void)revents;
	if (persist_child_poll(&p->child) == -EAGAIN)
		return 0;
	qb_loop_poll_del(d->loop, fd);
	p->polling = false;
	persist_reap_fn(d);
	return 0;
}

static void persist_start(struct droverd *d)
{
	struct persist_bg *p = d->persist;
	int r;

	p->again = false;
	r = persist_child_start(&p->child, d->cfg.state_dir, &d->state);
	if (r == 0) {
		r = qb_loop_poll_add(d->loop, QB_LOOP_LOW, p->child.fd, POLLIN, d,
				     persist_readable_fn);
		if (r == 0) {
			p->polling = true;
			return;
		}
		/* A child we cannot watch: wait for it here, once. */
		persist_child_wait(&p->child);
		persist_done(d, p->child.result);
		return;
	}
	/* No process to spare (out of memory or pids): write here, slower but as safe. */
	log_warn("cannot start a writer process for the cluster state (%s); writing it in "
		 "the loop", strerror(-r));
	persist_done(d, persist_save(d->cfg.state_dir, &d->state));
}

static void save_state(struct droverd *d)
{
	struct persist_bg *p = d->persist;

	if (!p) {
		p = d->persist = xcalloc(1, sizeof(*p));
		p->child.fd = -1;
	}
	p->dirty = true;
	if (p->child.pid > 0) {
		p->again = true;
		return;
	}
	persist_start(d);
}

/* At stop: let a write in flight finish, then write once more, here, if anything is newer. */
static void flush_state(struct droverd *d)
{
	struct persist_bg *p = d->persist;
	int r;

	if (!p)
		return;
	if (p->polling)
		qb_loop_poll_del(d->loop, p->child.fd);
	if (p->reap_armed)
		qb_loop_timer_del(d->loop, p->reap_timer);
	if (p->child.pid > 0 || p->child.fd >= 0) {
		persist_child_wait(&p->child);
		if (p->child.result == 0 && !p->again)
			p->dirty = false;
	}
	if (p->dirty) {
		r = persist_save(d->cfg.state_dir, &d->state);
		if (r < 0)
			log_err("cannot persist cluster state to '%s/%s' at stop: %s; the cluster "
				"holds it", d->cfg.state_dir, PERSIST_FILE, strerror(-r));
		else
			log_info("cluster state (epoch %llu) persisted at stop",
				 (unsigned long long)d->state.epoch);
	}
	free(p);
	d->persist = NULL;
}

static void send_digest(struct droverd *d)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__StateDigest dg = DROVER__STATE_DIGEST__INIT;
	int r;

	dg.term = d->state.term;
	dg.epoch = d->state.epoch;
	dg.hash = state_hash(&d->state);
	env.body_case = DROVER__ENVELOPE__BODY_STATE_DIGEST;
	env.state_digest = &dg;
	r = membership_send(d, &env, true);
	if (r < 0)
		log_err("cannot send state digest: %s", strerror(-r));
}

static void send_full(struct droverd *d)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__StateFull full = DROVER__STATE_FULL__INIT;
	Drover__ClusterState cs;
	struct state_proto_storage storage;
	struct state_xfer_tx tx;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	env.body_case = DROVER__ENVELOPE__BODY_STATE_FULL;
	env.state_full = &full;
	r = state_xfer_encode(&d->state, &buf, &len);
	if (r < 0) {
		/*
		 * Silence would leave every member waiting for us. An empty
		 * StateFull is invalid on every member alike, so all of them
		 * (this node too) exclude us and move on to the next candidate.
		 */
		log_err("cannot encode our cluster state (%s); sending an empty one so that "
			"every member excludes us and takes the next candidate", strerror(-r));
		r = membership_send(d, &env, true);
		if (r < 0)
			log_err("cannot send full state: %s", strerror(-r));
		return;
	}
	if (len <= FRAME_MAX - 64) {
		/*
		 * It fits in one frame (64 bytes cover the envelope around it): a
		 * StateFull, which every daemon since the first understands.
		 */
		state_to_proto(&d->state, &cs, &storage);
		full.state = &cs;
		r = membership_send(d, &env, true);
		state_proto_storage_free(&storage);
		if (r < 0)
			log_err("cannot send full state: %s", strerror(-r));
		return;
	}
	/*
	 * Larger: StateChunks, each its own CPG message. They are sync messages,
	 * so a configuration change drops the ones still queued with the round.
	 */
	state_xfer_tx_init(&tx, buf, len, sync_xfer_round(&d->sync));
	log_info("sending our cluster state: %zu bytes in %u chunks", len, tx.count);
	for (uint32_t i = 0; i < tx.count; i++) {
		Drover__Envelope cenv = DROVER__ENVELOPE__INIT;
		Drover__StateChunk c;

		state_xfer_tx_chunk(&tx, i, &c);
		cenv.body_case = DROVER__ENVELOPE__BODY_STATE_CHUNK;
		cenv.state_chunk = &c;
		r = membership_send(d, &cenv, true);
		if (r < 0) {
			log_err("cannot send chunk %u of %u of our cluster state: %s", i + 1,
				tx.count, strerror(-r));
			return;
		}
	}
}

static void sync_finished(struct droverd *d)
{
	d->synced = true;
	log_info("cluster state synchronised among %zu members: epoch %llu", d->n_members,
		 (unsigned long long)d->state.epoch);
	note_coordinator(d);
	/* Operations the exchange brought may have moved VMs since the reports we hold. */
	obs_touch_state(d->obs, &d->state);
	/* Operations an exchange or a departure left open get their ends now. */
	vm_actions_reconcile(d);
	drain_on_synced(d);
	vf_exec_reconcile(d);
	vf_exec_announce(d);
	ctl_server_notify(d);
}

void droverd_on_confchg(struct droverd *d, const uint32_t *joined, size_t n_joined,
			bool self_joined)
{
	char list[DROVER_MAX_NODES * 11 + 1] = "";
	size_t off = 0;
	bool joined_any = n_joined > 0;

	struct quorum_voter voters[DROVER_MAX_NODES];
	uint32_t votes = 0, expected = 0;

	for (size_t i = 0; i < d->n_members && off < sizeof(list) - 12; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%u", i ? " " : "",
					d->members[i]);
	for (size_t i = 0; i < d->n_nodes; i++)
		voters[i] = (struct quorum_voter){ .id = d->nodes[i].id, .votes = d->nodes[i].votes };
	d->config_quorate = quorum_rule_quorate(voters, d->n_nodes, d->expected_votes, d->members,
						d->n_members, &votes, &expected);
	log_notice("membership: [%s]%s, ring %u/%llu: %s (%u of %u votes)", list,
		   self_joined ? " (we joined)" : "", d->ring_rep, (unsigned long long)d->ring_seq,
		   d->config_quorate ? "quorate" : "not quorate", votes, expected);
	/*
	 * A quorate configuration starts a new term, on every member at this
	 * point of the stream: whatever a minority applied before cannot then
	 * outrank what this configuration applies (sync.h).
	 */
	if (d->config_quorate) {
		state_term_bump(&d->state);
		save_state(d);
	}

	/*
	 * Survivors of a departure applied the same stream, so their copies are
	 * still identical: no exchange is needed, and changes in flight are not
	 * disturbed by a node failure. Anyone joining may hold another copy.
	 */
	if (joined_any || d->sync.active || !d->synced) {
		d->synced = false;
		sync_begin(&d->sync, d->members, d->n_members);
		send_digest(d);
	}
	obs_on_confchg(d->obs, d->members, d->n_members, joined, n_joined, self_joined);
	vm_actions_on_members_changed(d);
	/* Observations are not part of the exchange: joiners get ours again. */
	if (joined_any)
		resend_own_inventory(d);
	nethealth_on_members_changed(d, joined_any);
	note_coordinator(d);
	drain_on_members_changed(d);
	vf_exec_reconcile(d);
	failover_kick(d);
	ctl_server_notify(d);
}

static void on_digest(struct droverd *d, uint32_t from, const Drover__StateDigest *dg)
{
	switch (sync_on_digest(&d->sync, d->local_id, from, dg->term, dg->epoch, dg->hash)) {
	case SYNC_DONE:
		sync_finished(d);
		break;
	case SYNC_SEND_FULL:
		log_info("our state (epoch %llu) wins the exchange; sending it",
			 (unsigned long long)d->state.epoch);
		send_full(d);
		break;
	case SYNC_AWAIT_FULL:
		log_info("waiting for node %u's state (epoch %llu)", d->sync.winner,
			 (unsigned long long)d->sync.win_epoch);
		break;
	case SYNC_IGNORED:
		log_debug("ignoring state digest from node %u outside an exchange", from);
		break;
	case SYNC_WAIT:
		break;
	}
}

/*
 * The full state the exchange awaited was invalid: every member, the winner
 * too, reached this point on the same delivered bytes, and all move on alike
 * (sync.h, step 4). Nobody keeps "its own copy" and calls itself synchronised.
 */
static void full_state_invalid(struct droverd *d, uint32_t from, const char *why)
{
	if (d->xfer)
		state_xfer_rx_reset(d->xfer);
	switch (sync_on_full_invalid(&d->sync, d->local_id, from)) {
	case SYNC_SEND_FULL:
		log_err("the full state from node %u is invalid (%s); every member excludes it, "
			"and ours (epoch %llu) is the next candidate: sending it", from, why,
			(unsigned long long)d->state.epoch);
		send_full(d);
		break;
	case SYNC_AWAIT_FULL:
		log_err("the full state from node %u is invalid (%s); every member excludes it "
			"and waits for node %u's (epoch %llu) instead", from, why, d->sync.winner,
			(unsigned long long)d->sync.win_epoch);
		break;
	case SYNC_DONE:
		log_err("the full state from node %u is invalid (%s); every member already holds "
			"the next candidate's copy", from, why);
		sync_finished(d);
		break;
	case SYNC_WAIT:
		log_err("the full state from node %u is invalid (%s) and no member is left whose "
			"state could replace it: staying UNSYNCHRONISED (no changes, no decisions) "
			"until the next membership change; see every member's log for why each "
			"candidate was refused", from, why);
		ctl_server_notify(d);
		break;
	case SYNC_IGNORED:
		break;
	}
}

/*
 * The awaited full state, wholly delivered and decoded (s valid) or not
 * (invalid says why). Every member, the winner too, judges the same bytes the
 * same way: they must decode to the content the winner's digest announced.
 */
static void full_state_delivered(struct droverd *d, uint32_t from, struct cluster_state *s,
				 const char *invalid)
{
	uint64_t h = 0;

	if (!invalid) {
		h = state_hash(s);
		if (!sync_full_matches(&d->sync, s->epoch, h)) {
			invalid = "it is not the state its digest announced";
			state_free(s);
		}
	}
	if (invalid) {
		full_state_invalid(d, from, invalid);
		return;
	}
	sync_on_full(&d->sync, from);
	if (h != state_hash(&d->state)) {
		/*
		 * Ours may hold more changes and still lose: those a minority
		 * applied (a lower term) are not the quorate history. Say so,
		 * since they were acknowledged here once.
		 */
		if (d->state.term < s->term && d->state.epoch > s->epoch)
			log_warn("adopting node %u's cluster state (term %llu, epoch %llu; ours was "
				 "term %llu, epoch %llu): changes this node applied that the quorate "
				 "side never saw are dropped", from, (unsigned long long)s->term,
				 (unsigned long long)s->epoch, (unsigned long long)d->state.term,
				 (unsigned long long)d->state.epoch);
		else
			log_notice("adopting node %u's cluster state (term %llu, epoch %llu, %zu VMs; "
				   "ours was term %llu, epoch %llu)", from, (unsigned long long)s->term,
				   (unsigned long long)s->epoch, s->n_vms,
				   (unsigned long long)d->state.term, (unsigned long long)d->state.epoch);
		state_free(&d->state);
		d->state = *s;
		save_state(d);
	} else {
		state_free(s);
	}
	sync_finished(d);
}

static void on_full(struct droverd *d, uint32_t from, const Drover__StateFull *full)
{
	struct cluster_state s;
	bool ok;

	if (!sync_awaits_full(&d->sync, from)) {
		log_debug("ignoring full state from node %u: not the awaited one", from);
		return;
	}
	ok = full->state && state_from_proto(full->state, &s) == 0;
	full_state_delivered(d, from, &s, ok ? NULL : "it does not decode to a valid state");
}

/* One piece of a full state too large for a frame (state_xfer.h). */
static void on_chunk(struct droverd *d, uint32_t from, const Drover__StateChunk *c)
{
	struct cluster_state s;
	char err[160];
	bool ok;

	if (!sync_awaits_full(&d->sync, from)) {
		log_debug("ignoring a state chunk from node %u: not the awaited sender", from);
		return;
	}
	if (!d->xfer)
		d->xfer = xcalloc(1, sizeof(*d->xfer));
	switch (state_xfer_rx_feed(d->xfer, d->sync.winner, sync_xfer_round(&d->sync), from, c,
				   err, sizeof(err))) {
	case STATE_XFER_IGNORED:
		log_debug("ignoring a state chunk from node %u: of another round", from);
		return;
	case STATE_XFER_MORE:
		return;
	case STATE_XFER_BAD:
		full_state_invalid(d, from, err);
		return;
	case STATE_XFER_COMPLETE:
		break;
	}
	log_info("received node %u's cluster state: %zu bytes in %u chunks", from, d->xfer->len,
		 d->xfer->count);
	ok = state_xfer_decode(d->xfer->buf, d->xfer->len, &s) == 0;
	state_xfer_rx_reset(d->xfer);
	full_state_delivered(d, from, &s, ok ? NULL : "it does not decode to a valid state");
}

static uint64_t change_request_id(const Drover__Envelope *env)
{
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_SET_NODE_STATE:
		return env->set_node_state ? env->set_node_state->request_id : 0;
	case DROVER__ENVELOPE__BODY_VM_ADD:
		return env->vm_add ? env->vm_add->request_id : 0;
	case DROVER__ENVELOPE__BODY_VM_REMOVE:
		return env->vm_remove ? env->vm_remove->request_id : 0;
	case DROVER__ENVELOPE__BODY_JOBS_ADD:
		return env->jobs_add ? env->jobs_add->request_id : 0;
	case DROVER__ENVELOPE__BODY_JOBS_CANCEL:
		return env->jobs_cancel ? env->jobs_cancel->request_id : 0;
	case DROVER__ENVELOPE__BODY_LIMITS_SET:
		return env->limits_set ? env->limits_set->request_id : 0;
	case DROVER__ENVELOPE__BODY_FENCE_RESULT:
		return env->fence_result ? env->fence_result->request_id : 0;
	default:
		return 0;
	}
}

static void log_change(struct droverd *d, uint32_t from, const Drover__Envelope *env)
{
	char buf[32];

	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_SET_NODE_STATE:
		log_notice("node '%s' is now %s (requested via node %u; epoch %llu)",
			   links_node_name(d, env->set_node_state->node_id, buf, sizeof(buf)),
			   node_state_name(env->set_node_state->state), from,
			   (unsigned long long)d->state.epoch);
		break;
	case DROVER__ENVELOPE__BODY_VM_ADD:
		log_notice("VM '%s' registered (requested via node %u; epoch %llu)",
			   env->vm_add->vm->name, from, (unsigned long long)d->state.epoch);
		break;
	case DROVER__ENVELOPE__BODY_VM_REMOVE:
		log_notice("VM '%s' removed from the registry (requested via node %u; epoch %llu)",
			   env->vm_remove->name, from, (unsigned long long)d->state.epoch);
		break;
	case DROVER__ENVELOPE__BODY_JOBS_ADD:
		log_notice("%zu migration job(s) requested via node %u; %zu unfinished (epoch %llu)",
			   env->jobs_add->n_jobs, from, state_jobs_unfinished(&d->state),
			   (unsigned long long)d->state.epoch);
		break;
	case DROVER__ENVELOPE__BODY_JOB_FINISH: {
		const struct queue_job *j = state_job_find(&d->state, env->job_finish->job_id);

		if (j)
			log_info("job %llu (VM %s) is now %s", (unsigned long long)j->id, j->vm,
				 queue_job_state_name(j->state));
		break;
	}
	case DROVER__ENVELOPE__BODY_JOBS_CANCEL:
		if (env->jobs_cancel->n_job_ids)
			log_notice("%zu queued job(s) cancelled (via node %u): %s",
				   env->jobs_cancel->n_job_ids, from, env->jobs_cancel->reason);
		else
			log_notice("drain of node '%s' cancelled (requested via node %u)",
				   links_node_name(d, env->jobs_cancel->node, buf, sizeof(buf)),
				   from);
		break;
	case DROVER__ENVELOPE__BODY_LIMITS_SET:
		log_notice("migration limits now %u out, %u in, %u in all, %u retries (via node %u)",
			   d->state.limits.per_source, d->state.limits.per_target,
			   d->state.limits.cluster, d->state.limits.max_retries, from);
		break;
	default:
		break;
	}
}

/*
 * The peer messages (CPG), one row each: whether it changes the replicated
 * state (then core/apply_gate.h decides, on every member alike at apply time,
 * whether it may: quorate and synchronised configuration, the right sender),
 * and its handler or post-apply hook. Adding a message is one row and one function;
 * frame_body_is_peer() (common/frame.c) must list the body too, so the
 * transport lets it through.
 */
struct peer_msg {
	Drover__Envelope__BodyCase body;
	const char *name;
	bool change; /* gated by core/apply_gate.h: quorate, synchronised, its sender's */
	/* change: after state_apply() (r == 1 applied, r < 0 refused); else: the handler */
	void (*run)(struct droverd *d, uint32_t from, bool from_self, const Drover__Envelope *env,
		    int r);
};

/* A state change, delivered: every member applies or drops it alike. */
static void on_change(struct droverd *d, const struct peer_msg *pm, uint32_t from, bool from_self,
		      const Drover__Envelope *env)
{
	uint64_t request_id = change_request_id(env);
	int r, code;
	const char *why;

	enum apply_verdict v = apply_gate(&d->state, d->members, d->n_members, d->config_quorate,
					  d->synced, from, env);

	switch (v) {
	case APPLY_NOT_QUORATE:
		/*
		 * Decided here, at apply time, by every member alike: whatever
		 * the sender believed when it sent, this configuration holds no
		 * majority, and its changes could lose to the quorate side's.
		 */
		log_warn("dropping %s from node %u: configuration of ring %u/%llu is not quorate",
			 pm->name, from, d->ring_rep, (unsigned long long)d->ring_seq);
		if (from_self)
			ctl_request_done(d, request_id, DROVER_EXIT_QUORUM,
					 "the partition lost quorum before the change was applied");
		if (pm->run)
			pm->run(d, from, from_self, env, -EPERM);
		return;
	case APPLY_NOT_SYNCED:
		/* Every member is mid-exchange at this point of the stream: all drop it. */
		log_info("dropping %s from node %u: state exchange in progress", pm->name, from);
		if (from_self)
			ctl_request_done(d, request_id, DROVER_EXIT_UNAVAILABLE,
					 "membership changed while applying; retry");
		if (pm->run)
			pm->run(d, from, from_self, env, -EAGAIN);
		return;
	case APPLY_NOT_SENDERS:
		/* Every member sees the same sender and the same state: all drop it. */
		log_warn("dropping %s from node %u: not its to send", pm->name, from);
		r = -EPERM;
		break;
	case APPLY_OK:
	default:
		vm_actions_before_apply(d, env);
		r = state_apply(&d->state, env);
		break;
	}
	if (r == 1 && env->body_case == DROVER__ENVELOPE__BODY_JOB_START) {
		const struct queue_job *j = state_job_find(&d->state, env->job_start->job_id);

		/* Until both ends report afresh, the VM may be on either. */
		if (j) {
			droverd_obs_touch(d, j->source, j->vm);
			droverd_obs_touch(d, j->target, j->vm);
		}
	}
	/* The fenced node is off: what operations had put on it is gone. */
	if (r == 1 && env->body_case == DROVER__ENVELOPE__BODY_FENCE_RESULT && env->fence_result->ok)
		obs_on_fenced(d->obs, env->fence_result->node);
	if (r == 1) {
		log_change(d, from, env);
		save_state(d);
		events_on_applied(d, from_self, env, r);
	} else if (r < 0) {
		log_warn("rejected %s from node %u: %s", pm->name, from, strerror(-r));
	}
	if (pm->run)
		pm->run(d, from, from_self, env, r);
	/* Any change may unblock the queue or change what clients see. */
	drain_kick(d);
	failover_kick(d);
	ctl_server_notify(d);
	if (!from_self || !request_id)
		return;
	switch (r) {
	case -EEXIST:
		code = DROVER_EXIT_EXISTS, why = "it already exists (a concurrent request won)";
		break;
	case -ENOENT:
		code = DROVER_EXIT_NOSUCH, why = "it no longer exists (a concurrent request won)";
		break;
	case -ENOSPC:
		code = DROVER_EXIT_ERROR, why = "the registry is full";
		break;
	default:
		code = r < 0 ? DROVER_EXIT_INVALID_PARAM : 0;
		why = r < 0 ? "the cluster rejected the change" : "";
		break;
	}
	ctl_request_done(d, request_id, code, why);
}

const struct node_obs *droverd_obs(const struct droverd *d, uint32_t node_id)
{
	return obs_find(d->obs, node_id);
}

bool droverd_vm_state_active(Drover__VmRunState st)
{
	return locate_state_active(st);
}

void droverd_obs_touch(struct droverd *d, uint32_t node, const char *vm)
{
	obs_touch(d->obs, node, vm);
}

/* A node's agent report, delivered: replace that node's observation. */
static void on_inventory(struct droverd *d, uint32_t from, const Drover__NodeInventory *m)
{
	const struct node_obs *before = droverd_obs(d, from);
	bool was_ok = before && before->agent_ok, had_error = before && *before->agent_error;
	int r = obs_on_inventory(d->obs, &d->state, from, m);

	if (r == 0)
		vf_audit_on_inventory(d, from);
	if (r == -E2BIG)
		log_warn("dropping inventory of node %u: more domains than we track", from);
	else if (r == 0 && !m->agent_ok && !m->no_hypervisor && (was_ok || !had_error))
		log_warn("node %u has no working agent: %s", from,
			 m->agent_error ? m->agent_error : "");
}

/* Multicast our own observation (again), e.g. for a node that just joined. */
static void send_inventory(struct droverd *d, const Drover__AgentInventory *inv, const char *why)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NodeInventory m = DROVER__NODE_INVENTORY__INIT;
	Drover__AgentInventory empty = DROVER__AGENT_INVENTORY__INIT;
	Drover__InventoryDeparture deps[2 * DROVER_MAX_EXECS], *dp[2 * DROVER_MAX_EXECS];

	if (!d->cpg_joined)
		return;
	m.n_departures = drain_departures(d, deps, 2 * DROVER_MAX_EXECS);
	for (size_t i = 0; i < m.n_departures; i++)
		dp[i] = &deps[i];
	m.departures = dp;
	m.inventory = (Drover__AgentInventory *)(inv ? inv : &empty);
	m.agent_ok = inv != NULL;
	m.agent_error = (char *)(why ? why : "");
	m.no_hypervisor = d->no_hypervisor;
	env.body_case = DROVER__ENVELOPE__BODY_NODE_INVENTORY;
	env.node_inventory = &m;
	membership_send(d, &env, false);
}

void droverd_on_local_inventory(struct droverd *d, const Drover__AgentInventory *inv,
				const char *why)
{
	Drover__AgentInventory own;

	if (!inv) {
		send_inventory(d, NULL, why);
		vf_exec_announce(d);
		return;
	}
	/*
	 * The capacity every node places by is what this node's own [node]
	 * settings leave of the hypervisor's report: it travels in the
	 * replicated inventory, so that all coordinators see the same figure.
	 */
	own = *inv;
	own.memory_mib = config_vm_memory_mib(&d->cfg, inv->memory_mib);
	send_inventory(d, &own, why);
	/* Also a retry of an announcement an exchange or a lost quorum ate. */
	vf_exec_announce(d);
}

void droverd_on_no_hypervisor(struct droverd *d)
{
	d->no_hypervisor = true;
	send_inventory(d, NULL, "agent disabled by configuration");
}

static void resend_own_inventory(struct droverd *d)
{
	const struct node_obs *o = droverd_obs(d, d->local_id);
	Drover__AgentInventory inv = DROVER__AGENT_INVENTORY__INIT;
	Drover__AgentDomain *doms, **ptrs;
	char *(*vf_ptrs)[OBS_VF_DEVICES_MAX];

	if (!o)
		return;
	doms = xcalloc(o->n_domains, sizeof(*doms));
	ptrs = xcalloc(o->n_domains, sizeof(*ptrs));
	vf_ptrs = xcalloc(o->n_domains, sizeof(*vf_ptrs));
	for (size_t i = 0; i < o->n_domains; i++) {
		drover__agent_domain__init(&doms[i]);
		doms[i].name = (char *)o->domains[i].name;
		doms[i].state = o->domains[i].state;
		doms[i].guest_agent = (char *)o->domains[i].guest_agent;
		doms[i].vf_devices_known = o->domains[i].vf_known;
		doms[i].n_vf_devices = o->domains[i].n_vf_devices;
		doms[i].vf_devices = vf_ptrs[i];
		for (size_t k = 0; k < o->domains[i].n_vf_devices; k++)
			vf_ptrs[i][k] = (char *)o->domains[i].vf_devices[k];
		ptrs[i] = &doms[i];
	}
	inv.memory_mib = o->memory_mib;
	inv.vcpus = o->vcpus;
	inv.n_domains = o->n_domains;
	inv.domains = ptrs;
	send_inventory(d, o->agent_ok ? &inv : NULL, o->agent_error);
	free(doms);
	free(ptrs);
	free(vf_ptrs);
}

int droverd_locate(const struct droverd *d, const char *vm, struct locate_result *ret)
{
	struct obs_node nl[2 * DROVER_MAX_NODES];
	size_t n = 0;

	/*
	 * Every node of the nodelist counts, reported or not; a member missing
	 * from the nodelist (a config being rolled out) counts too.
	 */
	for (size_t i = 0; i < d->n_nodes; i++)
		nl[n++] = (struct obs_node){ d->nodes[i].id, d->nodes[i].name };
	for (size_t i = 0; i < d->n_members; i++)
		nl[n++] = (struct obs_node){ d->members[i], "?" };
	return obs_locate(d->obs, &d->state, nl, n, d->members, d->n_members, vm, ret);
}

void droverd_vm_locate(const struct droverd *d, const char *vm, struct vm_location *ret)
{
	struct locate_result r;

	memset(ret, 0, sizeof(*ret));
	ret->node_name = "";
	ret->state = "unknown";
	if (droverd_locate(d, vm, &r) < 0)
		return;
	ret->state = locate_state_name(r.state);
	ret->node_id = r.state == LOCATE_UNKNOWN ? 0 : r.node_id;
	if (ret->node_id) {
		const struct known_node *k = links_find(d, ret->node_id);

		ret->node_name = k ? k->name : links_node_name(d, ret->node_id, ret->name_buf,
							      sizeof(ret->name_buf));
	}
	for (size_t i = 0; i < r.n_also && i < DROVER_MAX_NODES; i++) {
		const struct known_node *k = links_find(d, r.also[i]);

		ret->also[ret->n_also++] = (char *)(k ? k->name : "?");
	}
	if (r.state == LOCATE_UNKNOWN) {
		ret->unknown_member = r.unknown_member;
		strscpy(ret->reason, r.reason, sizeof(ret->reason));
	}
}

/* ---- the handlers of the table's observation and exchange rows ---- */

static void run_digest(struct droverd *d, uint32_t from, bool self, const Drover__Envelope *env,
		       int r)
{
	(void)self, (void)r;
	on_digest(d, from, env->state_digest);
}

static void run_full(struct droverd *d, uint32_t from, bool self, const Drover__Envelope *env,
		     int r)
{
	(void)self, (void)r;
	on_full(d, from, env->state_full);
}

static void run_chunk(struct droverd *d, uint32_t from, bool self, const Drover__Envelope *env,
		      int r)
{
	(void)self, (void)r;
	on_chunk(d, from, env->state_chunk);
}

static void run_inventory(struct droverd *d, uint32_t from, bool self, const Drover__Envelope *env,
			  int r)
{
	(void)self, (void)r;
	on_inventory(d, from, env->node_inventory);
	vm_actions_retry_held(d);
	drain_kick(d);
	failover_kick(d);
	ctl_server_notify(d);
}

static void run_job_progress(struct droverd *d, uint32_t from, bool self,
			     const Drover__Envelope *env, int r)
{
	(void)self, (void)r;
	drain_on_progress(d, from, env->job_progress);
}

static void run_job_abort(struct droverd *d, uint32_t from, bool self, const Drover__Envelope *env,
			  int r)
{
	(void)self, (void)r;
	drain_on_abort(d, from, env->job_abort);
}

static void run_net_health(struct droverd *d, uint32_t from, bool self,
			   const Drover__Envelope *env, int r)
{
	(void)self, (void)r;
	nethealth_on_report(d, from, env->network_health);
}

static void run_vm_request(struct droverd *d, uint32_t from, bool self,
			   const Drover__Envelope *env, int r)
{
	(void)self, (void)r;
	vm_actions_on_request(d, from, env->vm_request);
}

static void run_vm_progress(struct droverd *d, uint32_t from, bool self,
			    const Drover__Envelope *env, int r)
{
	(void)d, (void)env, (void)self, (void)r;
	/* Only older droverds migrate through VmAction; its progress has nothing to show now. */
	log_debug("dropping a VmActionProgress from node %u", from);
}

static const struct peer_msg peer_msgs[] = {
	/* the state exchange (sync.h): every member, any configuration */
	{ DROVER__ENVELOPE__BODY_STATE_DIGEST, "StateDigest", false, run_digest },
	{ DROVER__ENVELOPE__BODY_STATE_FULL, "StateFull", false, run_full },
	{ DROVER__ENVELOPE__BODY_STATE_CHUNK, "StateChunk", false, run_chunk },
	/* operators' changes, from any member */
	{ DROVER__ENVELOPE__BODY_SET_NODE_STATE, "SetNodeState", true, drain_on_node_state },
	{ DROVER__ENVELOPE__BODY_VM_ADD, "VmAdd", true, NULL },
	{ DROVER__ENVELOPE__BODY_VM_REMOVE, "VmRemove", true, NULL },
	{ DROVER__ENVELOPE__BODY_JOBS_ADD, "JobsAdd", true, drain_on_applied },
	{ DROVER__ENVELOPE__BODY_JOBS_CANCEL, "JobsCancel", true, drain_on_applied },
	{ DROVER__ENVELOPE__BODY_LIMITS_SET, "LimitsSet", true, drain_on_applied },
	/* the coordinator's decisions, and their ends from the executing node */
	{ DROVER__ENVELOPE__BODY_JOB_START, "JobStart", true, drain_on_applied },
	{ DROVER__ENVELOPE__BODY_JOB_FINISH, "JobFinish", true, drain_on_applied },
	{ DROVER__ENVELOPE__BODY_VM_ACTION, "VmAction", true, vm_actions_on_applied },
	{ DROVER__ENVELOPE__BODY_VM_ACTION_RESULT, "VmActionResult", true, vm_actions_on_applied },
	/* failover (failover.c): the coordinator's, and a fence's end from whoever ran it */
	{ DROVER__ENVELOPE__BODY_NODE_LOST, "NodeLost", true, failover_on_applied },
	{ DROVER__ENVELOPE__BODY_FENCE_RESULT, "FenceResult", true, failover_on_applied },
	{ DROVER__ENVELOPE__BODY_VM_PLACED, "VmPlaced", true, failover_on_applied },
	{ DROVER__ENVELOPE__BODY_NODE_UNFENCED, "NodeUnfenced", true, failover_on_applied },
	/* SR-IOV (vf_exec.c): a node's own hardware; a VF step's end from its executor */
	{ DROVER__ENVELOPE__BODY_NODE_HARDWARE, "NodeHardware", true, vf_exec_on_applied },
	{ DROVER__ENVELOPE__BODY_OP_STEP_RESULT, "OpStepResult", true, vf_exec_on_applied },
	/* observations and requests: not state, never gated by quorum */
	{ DROVER__ENVELOPE__BODY_NODE_INVENTORY, "NodeInventory", false, run_inventory },
	{ DROVER__ENVELOPE__BODY_NETWORK_HEALTH, "NetworkHealth", false, run_net_health },
	{ DROVER__ENVELOPE__BODY_JOB_PROGRESS, "JobProgress", false, run_job_progress },
	{ DROVER__ENVELOPE__BODY_JOB_ABORT, "JobAbort", false, run_job_abort },
	{ DROVER__ENVELOPE__BODY_VM_REQUEST, "VmRequest", false, run_vm_request },
	{ DROVER__ENVELOPE__BODY_VM_ACTION_PROGRESS, "VmActionProgress", false, run_vm_progress },
	/* [fence] mode = watchdog: our own beat renews our agent's lease (failover.c) */
	{ DROVER__ENVELOPE__BODY_LEASE_BEAT, "LeaseBeat", false, failover_on_applied },
};

static const struct peer_msg *peer_msg_find(Drover__Envelope__BodyCase body)
{
	for (size_t i = 0; i < sizeof(peer_msgs) / sizeof(peer_msgs[0]); i++)
		if (peer_msgs[i].body == body)
			return &peer_msgs[i];
	return NULL;
}

void droverd_on_peer_message(struct droverd *d, uint32_t nodeid, uint32_t pid,
			     const Drover__Envelope *env)
{
	bool from_self = nodeid == d->local_id && pid == (uint32_t)getpid();
	const struct peer_msg *pm = peer_msg_find(env->body_case);

	if (from_self)
		drain_on_own_delivered(d, env->seq);
	if (!droverd_is_member(d, nodeid)) {
		log_warn("dropping message from node %u: not a member", nodeid);
		return;
	}
	if (!pm) {
		log_warn("dropping message from node %u: unexpected body %d", nodeid,
			 (int)env->body_case);
		return;
	}
	if (env->body_case == DROVER__ENVELOPE__BODY_VM_ACTION_RESULT &&
	    !env->vm_action_result->action_id)
		/* Id 0: the coordinator refused; nothing was decided, nothing to apply. */
		vm_actions_on_refusal(d, env->vm_action_result);
	else if (pm->change && apply_gate_is_change(env))
		on_change(d, pm, nodeid, from_self, env);
	else
		pm->run(d, nodeid, from_self, env, 0);
	note_coordinator(d);
}

void droverd_on_quorum(struct droverd *d, bool quorate)
{
	d->quorate = quorate;
	if (quorate != d->last_quorate) {
		if (quorate)
			log_notice("partition is quorate");
		else
			log_warn("partition lost quorum: this node makes no decisions and "
				 "refuses changes until quorum returns");
		d->last_quorate = quorate;
		if (quorate)
			vm_actions_reconcile(d);
	}
	note_coordinator(d);
}

/* ---- timers and signals ---- */

static void link_timer_fn(void *data)
{
	struct droverd *d = data;

	links_poll(d);
	nethealth_refresh(d);
	if (!d->stopping)
		qb_loop_timer_add(d->loop, QB_LOOP_LOW,
				  (uint64_t)d->cfg.link_poll_ms * QB_TIME_NS_IN_MSEC, d,
				  link_timer_fn, &d->link_timer);
}

static void connect_timer_fn(void *data)
{
	struct droverd *d = data;
	static unsigned attempts;
	int r = 0;

	if (!d->vq_connected)
		r = quorum_connect(d);
	if (r == 0 && (!d->cmap_connected || !d->cfg_connected))
		r = links_connect(d);
	if (r == 0 && !d->cpg_connected)
		r = membership_connect(d);
	if (r < 0) {
		if (attempts++ % 30 == 0)
			log_warn("cannot reach corosync yet (%s); retrying every %d ms",
				 strerror(-r), CONNECT_RETRY_MS);
		qb_loop_timer_add(d->loop, QB_LOOP_MED, CONNECT_RETRY_MS * QB_TIME_NS_IN_MSEC, d,
				  connect_timer_fn, NULL);
		return;
	}
	d->corosync_ready = true;
	log_notice("connected to corosync as node %u", d->local_id);
	links_poll(d);
	link_timer_fn(d);
	sd_notify(0, "READY=1\nSTATUS=connected to corosync");
	if (nethealth_start(d) < 0)
		log_err("cannot start the migration network probes; those networks count as down");
	drain_start(d);
	failover_start(d);
	if (!d->agent)
		agent_link_start(d);
}

static int sig_stop(int sig, void *data)
{
	/* A clean stop waits for this node's migrations to end (leave.c). */
	leave_begin(data, sig);
	return 0;
}

static void log_reload_change(void *userdata, const char *line)
{
	(void)userdata;
	log_notice("reload: %s", line);
}

/*
 * The prober keeps each target's state by (network index, node) across a
 * new target set: it can stay when the networks keep their names and order
 * and the probing itself is unchanged; otherwise it starts over.
 */
static bool probe_must_restart(const struct drover_config *a, const struct drover_config *b)
{
	if (a->probe_interval_ms != b->probe_interval_ms ||
	    a->probe_timeout_ms != b->probe_timeout_ms || a->probe_port != b->probe_port ||
	    a->n_networks != b->n_networks)
		return true;
	for (size_t k = 0; k < a->n_networks; k++)
		if (strcmp(a->networks[k].name, b->networks[k].name) != 0)
			return true;
	return false;
}

/*
 * SIGHUP: read the file again and apply it. What a reload never touches:
 * migrations in flight. Their network and URI were fixed when they started
 * and their agent job runs on; new limits and networks govern only the
 * coordinator's next decisions (a lower limit lets the running ones finish
 * and starts fewer), and the probes keep what they know of unchanged
 * networks, so a reload does not make a healthy network look down for a
 * probe interval.
 */
static int sig_reload(int sig, void *data)
{
	struct droverd *d = data;
	struct drover_config c;
	_cleanup_free_ struct config_errors *errs = xcalloc(1, sizeof(*errs));
	bool limits_changed, restart_probe;
	int r;

	(void)sig;
	sd_notify(0, "RELOADING=1");
	/* A file that existed at start and vanished is an error, not "use defaults". */
	r = config_load_all(d->config_path, d->config_existed, &c, errs);
	if (r < 0) {
		/* The first problem on the line that says so, as before; then the others. */
		log_err("reload failed, keeping the running configuration: %s",
			errs->n ? errs->e[0].text : d->config_path);
		for (size_t i = 1; i < errs->n; i++)
			log_err("reload: %s", errs->e[i].text);
		if (errs->more)
			log_err("reload: %zu more problems in '%s'", errs->more, d->config_path);
		sd_notify(0, "READY=1");
		return 0;
	}
	if (strcmp(c.state_dir, d->cfg.state_dir) != 0 || strcmp(c.cpg_group, d->cfg.cpg_group))
		log_warn("state_dir and cpg_group changes take effect at the next restart");
	strscpy(c.state_dir, d->cfg.state_dir, sizeof(c.state_dir));
	strscpy(c.cpg_group, d->cfg.cpg_group, sizeof(c.cpg_group));
	/*
	 * Self-fencing is armed in the agent at its start and counted on by the
	 * others: switching to or from it, or changing its timings, on one node
	 * at a reload could let the others count on a lease nobody holds.
	 */
	if ((c.fence_mode == FENCE_MODE_WATCHDOG) != (d->cfg.fence_mode == FENCE_MODE_WATCHDOG) ||
	    c.watchdog_timeout_ms != d->cfg.watchdog_timeout_ms ||
	    c.watchdog_margin_ms != d->cfg.watchdog_margin_ms ||
	    strcmp(c.watchdog_device, d->cfg.watchdog_device) != 0) {
		if (c.fence_mode == FENCE_MODE_WATCHDOG || d->cfg.fence_mode == FENCE_MODE_WATCHDOG)
			log_warn("[fence] mode = watchdog and its settings take effect at the next "
				 "restart (of every node: they must be the same everywhere)");
		if ((c.fence_mode == FENCE_MODE_WATCHDOG) != (d->cfg.fence_mode == FENCE_MODE_WATCHDOG))
			c.fence_mode = d->cfg.fence_mode;
		c.watchdog_timeout_ms = d->cfg.watchdog_timeout_ms;
		c.watchdog_margin_ms = d->cfg.watchdog_margin_ms;
		strscpy(c.watchdog_device, d->cfg.watchdog_device, sizeof(c.watchdog_device));
	}
	limits_changed = c.mig_max_out != d->cfg.mig_max_out || c.mig_max_in != d->cfg.mig_max_in ||
			 c.mig_max_total != d->cfg.mig_max_total ||
			 c.mig_max_retries != d->cfg.mig_max_retries;
	for (size_t k = 0; k < c.n_networks && !limits_changed; k++)
		limits_changed = k >= d->cfg.n_networks || c.networks[k].cap != d->cfg.networks[k].cap;
	restart_probe = probe_must_restart(&d->cfg, &c);
	if (config_diff(&d->cfg, &c, log_reload_change, NULL) == 0)
		log_notice("reload: no change");
	d->cfg = c;
	log_set_priority(d->cfg.log_priority);
	ctl_server_reload_group(d);
	events_reload(d);
	metrics_reload(d);
	if (d->cmap_connected)
		links_load_nodelist(d);
	if (d->corosync_ready) {
		/* New networks or addresses: probe what the file says now. */
		if (restart_probe)
			nethealth_stop(d);
		nethealth_start(d);
		d->reach_dirty = true;
		nethealth_refresh(d);
	}
	/* The operator edited the limits in the file: that edit is meant for the cluster. */
	if (limits_changed)
		drain_push_config_limits(d);
	/* A pool that grew frees VFs for degraded VMs here; one that shrank gives out fewer. */
	vf_exec_announce(d);
	log_notice("configuration reloaded from '%s'", d->config_path);
	sd_notify(0, "READY=1");
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: droverd [-f] [-c FILE]\n"
		   "       droverd --check-config [FILE]\n"
		   "  -c, --config FILE   configuration file (default " DROVER_CONF_DEFAULT ")\n"
		   "  -f, --foreground    log to stderr instead of syslog\n"
		   "      --check-config  validate the configuration (FILE, else -c's or the\n"
		   "                      default), print the effective one and exit 0; or\n"
		   "                      print every problem as FILE:LINE: reason and exit %d\n"
		   "  -h, --help          this help\n"
		   "  -V, --version       print the version\n",
		DROVER_EXIT_CONFIG);
}

static void load_state(struct droverd *d)
{
	char from[PATH_MAX + 32], to[PATH_MAX + 48];
	int r = persist_load(d->cfg.state_dir, &d->state);

	if (r == 0) {
		log_info("loaded cluster state (epoch %llu, %zu VMs, registry %llu KiB) from '%s'",
			 (unsigned long long)d->state.epoch, d->state.n_vms,
			 (unsigned long long)(d->state.registry_bytes / 1024), d->cfg.state_dir);
		return;
	}
	state_init(&d->state);
	if (r == -ENOENT) {
		log_info("no saved cluster state in '%s': starting empty; peers will supply "
			 "theirs", d->cfg.state_dir);
		return;
	}
	snprintf(from, sizeof(from), "%s/%s", d->cfg.state_dir, PERSIST_FILE);
	snprintf(to, sizeof(to), "%s.corrupt", from);
	if (rename(from, to) == 0)
		log_err("saved cluster state '%s' is unreadable (%s); moved it to '%s' and "
			"starting empty; peers will supply theirs", from, strerror(-r), to);
	else
		log_err("saved cluster state '%s' is unreadable (%s); starting empty", from,
			strerror(-r));
}

/*
 * Load the configuration at start, or for `--check-config` (print it): every
 * problem on stderr, then DROVER_EXIT_CONFIG; 0 when it loaded.
 */
static int load_config(const char *path, bool must_exist, bool print, struct drover_config *ret)
{
	_cleanup_free_ struct config_errors *errs = xcalloc(1, sizeof(*errs));

	if (config_load_all(path, must_exist, ret, errs) == 0) {
		if (print)
			config_print(stdout, ret);
		return 0;
	}
	for (size_t i = 0; i < errs->n; i++)
		fprintf(stderr, "droverd: %s\n", errs->e[i].text);
	if (errs->more)
		fprintf(stderr, "droverd: %s: %zu more problems not shown\n", path, errs->more);
	return DROVER_EXIT_CONFIG;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct droverd d;
	const char *path = DROVER_CONF_DEFAULT;
	bool explicit_path = false, foreground = false, check = false;
	int c, r;

	/*
	 * A fixed mmap threshold: glibc otherwise raises it to the size of each
	 * large block freed, so the coordinator's per-round decision buffers
	 * (calloc'd and freed about every second) came from the heap after the
	 * first, zeroed page by page, and the heap kept them resident: ~8 MiB
	 * on the coordinator at rest (bench/footprint). Mapped afresh, their
	 * untouched pages cost nothing and each free returns them.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	memset(&d, 0, sizeof(d));
	while ((c = getopt_long(argc, argv, "c:fhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			explicit_path = true;
			break;
		case 'f':
			foreground = true;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("droverd %s\n", DROVER_VERSION);
			return 0;
		default:
			usage(stderr);
			return DROVER_EXIT_USAGE;
		}
	}
	/* `--check-config FILE`: the file to check may follow, as for other checkers. */
	if (check && optind == argc - 1 && !explicit_path) {
		path = argv[optind++];
		explicit_path = true;
	}
	if (optind != argc) {
		usage(stderr);
		return DROVER_EXIT_USAGE;
	}
	r = load_config(path, explicit_path, check, &d.cfg);
	if (r != 0 || check)
		return r;
	d.config_path = path;
	d.config_existed = access(path, F_OK) == 0;

	log_setup("droverd", d.cfg.log_priority, foreground);
	log_notice("droverd %s starting (config '%s', state '%s')", DROVER_VERSION, path,
		   d.cfg.state_dir);
	r = persist_prepare_dir(d.cfg.state_dir);
	if (r < 0) {
		log_err("cannot use state directory '%s': %s", d.cfg.state_dir, strerror(-r));
		return DROVER_EXIT_CONFIG;
	}
	load_state(&d);
	blackbox_setup(&d);

	d.loop = qb_loop_create();
	if (!d.loop) {
		log_err("cannot create the main loop");
		return DROVER_EXIT_SOFTWARE;
	}
	qb_loop_signal_add(d.loop, QB_LOOP_HIGH, SIGTERM, &d, sig_stop, NULL);
	qb_loop_signal_add(d.loop, QB_LOOP_HIGH, SIGINT, &d, sig_stop, NULL);
	qb_loop_signal_add(d.loop, QB_LOOP_HIGH, SIGHUP, &d, sig_reload, NULL);
	/* After the adds: libqb resets the signals it does not handle when adding. */
	signal(SIGPIPE, SIG_IGN);
	events_start(&d);
	metrics_start(&d);

	r = ctl_server_start(&d);
	if (r < 0) {
		/* A name already taken was explained by ctl_server_start(). */
		if (r != -EADDRINUSE)
			log_err("cannot start the CLI service '%s': %s", "drover", strerror(-r));
		return DROVER_EXIT_UNAVAILABLE;
	}
	qb_loop_job_add(d.loop, QB_LOOP_HIGH, &d, connect_timer_fn);
	watchdog_start(&d);

	qb_loop_run(d.loop);

	log_notice("droverd stopping");
	/*
	 * systemd's watchdog still runs while the unit stops: one more ping gives
	 * the final write of the state a whole WatchdogSec.
	 */
	if (d.watchdog_usec)
		sd_notify(0, "WATCHDOG=1");
	/* First: the service manager's stop timeout runs, and this is what must not be lost. */
	flush_state(&d);
	leave_stop(&d);
	watchdog_stop(&d);
	ctl_server_stop(&d);
	drain_stop(&d);
	failover_stop(&d);
	nethealth_stop(&d);
	if (d.lease_release && d.cfg.fence_mode == FENCE_MODE_WATCHDOG &&
	    agent_link_release_lease(&d) < 0)
		log_warn("stopping: cannot tell the agent that it may disarm the watchdog; "
			 "a watchdog device then resets this host");
	agent_link_stop(&d);
	events_stop(&d);
	metrics_stop(&d);
	membership_disconnect(&d);
	quorum_disconnect(&d);
	links_disconnect(&d);
	if (d.xfer) {
		state_xfer_rx_reset(d.xfer);
		free(d.xfer);
	}
	qb_loop_destroy(d.loop);
	log_teardown();
	return exit_status;
}
