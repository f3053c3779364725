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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "droverd.h"
#include "exitcode.h"
#include "log.h"
#include "persist.h"
#include "util.h"

#define CONNECT_RETRY_MS 1000

static int exit_status = 0;

static void resend_own_inventory(struct droverd *d);
static uint32_t last_coordinator;
static bool last_quorate;

bool droverd_is_member(const struct droverd *d, uint32_t id)
{
	for (size_t i = 0; i < d->n_members; i++)
		if (d->members[i] == id)
			return true;
	return false;
}

uint32_t droverd_coordinator(const struct droverd *d)
{
	/* members[] is sorted, so the first is the lowest node id. */
	if (!d->quorate || !d->synced || d->n_members == 0)
		return 0;
	return d->members[0];
}

static void note_coordinator(struct droverd *d)
{
	uint32_t c = droverd_coordinator(d);
	char buf[32];

	if (c == last_coordinator)
		return;
	last_coordinator = c;
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
	d->stopping = true;
	qb_loop_stop(d->loop);
}

static void save_state(struct droverd *d)
{
	int r = persist_save(d->cfg.state_dir, &d->state);

	if (r < 0)
		log_err("cannot persist cluster state to '%s/%s': %s (kept in memory; the "
			"cluster holds it too)",
			d->cfg.state_dir, PERSIST_FILE, strerror(-r));
}

static void send_digest(struct droverd *d)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__StateDigest dg = DROVER__STATE_DIGEST__INIT;
	int r;

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
	int r;

	state_to_proto(&d->state, &cs, &storage);
	full.state = &cs;
	env.body_case = DROVER__ENVELOPE__BODY_STATE_FULL;
	env.state_full = &full;
	r = membership_send(d, &env, true);
	state_proto_storage_free(&storage);
	if (r < 0)
		log_err("cannot send full state: %s", strerror(-r));
}

static void sync_finished(struct droverd *d)
{
	d->synced = true;
	log_info("cluster state synchronised among %zu members: epoch %llu", d->n_members,
		 (unsigned long long)d->state.epoch);
	note_coordinator(d);
	drain_on_synced(d);
	ctl_server_notify(d);
}

void droverd_on_confchg(struct droverd *d, bool joined_any, bool self_joined)
{
	char list[DROVER_MAX_NODES * 11 + 1] = "";
	size_t off = 0;

	for (size_t i = 0; i < d->n_members && off < sizeof(list) - 12; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%u", i ? " " : "",
					d->members[i]);
	log_notice("membership: [%s]%s", list, self_joined ? " (we joined)" : "");

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
	vm_actions_on_members_changed(d);
	/* Observations are not part of the exchange: joiners get ours again. */
	if (joined_any)
		resend_own_inventory(d);
	nethealth_on_members_changed(d, joined_any);
	note_coordinator(d);
	drain_on_members_changed(d);
	ctl_server_notify(d);
}

static void on_digest(struct droverd *d, uint32_t from, const Drover__StateDigest *dg)
{
	switch (sync_on_digest(&d->sync, d->local_id, from, dg->epoch, dg->hash)) {
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

static void on_full(struct droverd *d, uint32_t from, const Drover__StateFull *full)
{
	struct cluster_state s;

	if (sync_on_full(&d->sync, from) != SYNC_DONE) {
		log_debug("ignoring full state from node %u: not the awaited one", from);
		return;
	}
	if (!full->state || state_from_proto(full->state, &s) < 0) {
		/* Every member validates alike, so all keep their copies alike. */
		log_err("full state from node %u is invalid; keeping our copy", from);
	} else if (state_hash(&s) != state_hash(&d->state)) {
		log_notice("adopting node %u's cluster state (epoch %llu, ours was %llu)", from,
			   (unsigned long long)s.epoch, (unsigned long long)d->state.epoch);
		state_free(&d->state);
		d->state = s;
		save_state(d);
	} else {
		state_free(&s);
	}
	sync_finished(d);
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

/* An operator's change, delivered: every member applies it alike. */
static void on_change(struct droverd *d, uint32_t from, bool from_self, const Drover__Envelope *env)
{
	uint64_t request_id = change_request_id(env);
	int r, code;
	const char *why;

	if (!d->synced) {
		/* Every member is mid-exchange at this point of the stream: all drop it. */
		log_info("dropping a change from node %u: state exchange in progress", from);
		if (from_self)
			ctl_request_done(d, request_id, DROVER_EXIT_UNAVAILABLE,
					 "membership changed while applying; retry");
		return;
	}
	if (!drain_sender_ok(d, from, env)) {
		/* Every member sees the same sender and the same state: all drop it. */
		log_warn("dropping a queue change from node %u: not its to make", from);
		r = -EPERM;
	} else {
		r = state_apply(&d->state, env);
	}
	if (r == 1) {
		log_change(d, from, env);
		save_state(d);
	} else if (r < 0) {
		log_warn("rejected a change (body %d) from node %u: %s", (int)env->body_case, from,
			 strerror(-r));
	}
	drain_on_applied(d, from, from_self, env, r);
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

static struct node_obs *obs_slot(struct droverd *d, uint32_t node_id, bool create)
{
	struct node_obs *free_slot = NULL;

	for (size_t i = 0; i < DROVER_MAX_NODES; i++) {
		if (d->obs[i].node_id == node_id)
			return &d->obs[i];
		if (!free_slot && d->obs[i].node_id == 0)
			free_slot = &d->obs[i];
	}
	if (create && free_slot)
		free_slot->node_id = node_id;
	return create ? free_slot : NULL;
}

const struct node_obs *droverd_obs(const struct droverd *d, uint32_t node_id)
{
	for (size_t i = 0; i < DROVER_MAX_NODES; i++)
		if (d->obs[i].node_id == node_id)
			return &d->obs[i];
	return NULL;
}

bool droverd_vm_state_active(Drover__VmRunState st)
{
	return st == DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING ||
	       st == DROVER__VM_RUN_STATE__VM_RUN_STATE_PAUSED ||
	       st == DROVER__VM_RUN_STATE__VM_RUN_STATE_SHUTTING_DOWN;
}

/* A node's agent report, delivered: replace that node's observation. */
static void on_inventory(struct droverd *d, uint32_t from, const Drover__NodeInventory *m)
{
	struct node_obs *o = obs_slot(d, from, true);
	const Drover__AgentInventory *inv = m->inventory;
	size_t n = inv ? inv->n_domains : 0;

	if (!o)
		return;
	if (!m->agent_ok) {
		/*
		 * No working agent is not "no VMs": keep what it last saw, marked
		 * unknown, so nothing is started twice on the strength of silence.
		 */
		if (o->agent_ok || !*o->agent_error)
			log_warn("node %u has no working agent: %s", from,
				 m->agent_error ? m->agent_error : "");
		o->agent_ok = false;
		strscpy(o->agent_error, m->agent_error ? m->agent_error : "",
			sizeof(o->agent_error));
		return;
	}
	if (n > 2 * DROVER_MAX_VMS) {
		log_warn("dropping inventory of node %u: %zu domains is more than we track", from,
			 n);
		return;
	}
	free(o->domains);
	o->domains = n ? xcalloc(n, sizeof(*o->domains)) : NULL;
	o->n_domains = 0;
	for (size_t i = 0; i < n; i++) {
		const Drover__AgentDomain *dom = inv->domains[i];

		if (!dom || !dom->name || strscpy(o->domains[o->n_domains].name, dom->name,
						  DROVER_VM_NAME_MAX) < 0)
			continue;
		o->domains[o->n_domains++].state = dom->state;
	}
	o->agent_ok = m->agent_ok;
	strscpy(o->agent_error, m->agent_error ? m->agent_error : "", sizeof(o->agent_error));
	o->memory_mib = inv ? inv->memory_mib : 0;
	o->vcpus = inv ? inv->vcpus : 0;
}

/* Multicast our own observation (again), e.g. for a node that just joined. */
static void send_inventory(struct droverd *d, const Drover__AgentInventory *inv, const char *why)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NodeInventory m = DROVER__NODE_INVENTORY__INIT;
	Drover__AgentInventory empty = DROVER__AGENT_INVENTORY__INIT;

	if (!d->cpg_joined)
		return;
	m.inventory = (Drover__AgentInventory *)(inv ? inv : &empty);
	m.agent_ok = inv != NULL;
	m.agent_error = (char *)(why ? why : "");
	env.body_case = DROVER__ENVELOPE__BODY_NODE_INVENTORY;
	env.node_inventory = &m;
	membership_send(d, &env, false);
}

void droverd_on_local_inventory(struct droverd *d, const Drover__AgentInventory *inv,
				const char *why)
{
	send_inventory(d, inv, why);
}

static void resend_own_inventory(struct droverd *d)
{
	const struct node_obs *o = obs_slot(d, d->local_id, false);
	Drover__AgentInventory inv = DROVER__AGENT_INVENTORY__INIT;
	Drover__AgentDomain *doms, **ptrs;

	if (!o)
		return;
	doms = xcalloc(o->n_domains, sizeof(*doms));
	ptrs = xcalloc(o->n_domains, sizeof(*ptrs));
	for (size_t i = 0; i < o->n_domains; i++) {
		drover__agent_domain__init(&doms[i]);
		doms[i].name = (char *)o->domains[i].name;
		doms[i].state = o->domains[i].state;
		ptrs[i] = &doms[i];
	}
	inv.memory_mib = o->memory_mib;
	inv.vcpus = o->vcpus;
	inv.n_domains = o->n_domains;
	inv.domains = ptrs;
	send_inventory(d, o->agent_ok ? &inv : NULL, o->agent_error);
	free(doms);
	free(ptrs);
}

void droverd_vm_locate(const struct droverd *d, const char *vm, struct vm_location *ret)
{
	const char *defined_on = NULL;
	bool crashed = false, stale = false, paused_only = false;

	memset(ret, 0, sizeof(*ret));
	ret->node_name = "";
	for (size_t i = 0; i < DROVER_MAX_NODES; i++) {
		const struct node_obs *o = &d->obs[i];
		bool online = o->node_id && o->agent_ok && droverd_is_member(d, o->node_id);
		const struct known_node *k = o->node_id ? links_find(d, o->node_id) : NULL;
		const char *name = k ? k->name : "?";

		for (size_t j = 0; o->node_id && j < o->n_domains; j++) {
			const struct obs_domain *dom = &o->domains[j];

			if (strcmp(dom->name, vm) != 0)
				continue;
			if (!online) {
				stale = true;
				continue;
			}
			if (dom->state == DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING ||
			    dom->state == DROVER__VM_RUN_STATE__VM_RUN_STATE_SHUTTING_DOWN) {
				if (!*ret->node_name || paused_only)
					ret->node_name = name;
				else if (ret->n_also < DROVER_MAX_NODES)
					ret->also[ret->n_also++] = (char *)name;
				paused_only = false;
			} else if (dom->state == DROVER__VM_RUN_STATE__VM_RUN_STATE_PAUSED) {
				/*
				 * A live migration's target holds the incoming guest paused
				 * until the hand-over: the node that runs it wins, and the
				 * paused copy is not a second one.
				 */
				if (!*ret->node_name) {
					ret->node_name = name;
					paused_only = true;
				}
			} else {
				if (dom->state == DROVER__VM_RUN_STATE__VM_RUN_STATE_CRASHED)
					crashed = true;
				if (!defined_on)
					defined_on = name;
			}
		}
	}
	if (*ret->node_name)
		ret->state = "running";
	else if (crashed)
		ret->state = "failed", ret->node_name = defined_on;
	else if (stale)
		ret->state = "unknown";
	else
		ret->state = "stopped", ret->node_name = defined_on ? defined_on : "";
}

void droverd_on_peer_message(struct droverd *d, uint32_t nodeid, uint32_t pid,
			     const Drover__Envelope *env)
{
	bool from_self = nodeid == d->local_id && pid == (uint32_t)getpid();

	if (from_self)
		drain_on_own_delivered(d, env->seq);
	if (!droverd_is_member(d, nodeid)) {
		log_warn("dropping message from node %u: not a member", nodeid);
		return;
	}
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_STATE_DIGEST:
		on_digest(d, nodeid, env->state_digest);
		break;
	case DROVER__ENVELOPE__BODY_STATE_FULL:
		on_full(d, nodeid, env->state_full);
		break;
	case DROVER__ENVELOPE__BODY_SET_NODE_STATE:
	case DROVER__ENVELOPE__BODY_VM_ADD:
	case DROVER__ENVELOPE__BODY_VM_REMOVE:
	case DROVER__ENVELOPE__BODY_JOBS_ADD:
	case DROVER__ENVELOPE__BODY_JOB_START:
	case DROVER__ENVELOPE__BODY_JOB_FINISH:
	case DROVER__ENVELOPE__BODY_JOBS_CANCEL:
	case DROVER__ENVELOPE__BODY_LIMITS_SET:
		on_change(d, nodeid, from_self, env);
		break;
	case DROVER__ENVELOPE__BODY_NODE_INVENTORY:
		on_inventory(d, nodeid, env->node_inventory);
		drain_kick(d);
		ctl_server_notify(d);
		break;
	case DROVER__ENVELOPE__BODY_JOB_PROGRESS:
		drain_on_progress(d, nodeid, env->job_progress);
		break;
	case DROVER__ENVELOPE__BODY_JOB_ABORT:
		drain_on_abort(d, nodeid, env->job_abort);
		break;
	case DROVER__ENVELOPE__BODY_NETWORK_HEALTH:
		nethealth_on_report(d, nodeid, env->network_health);
		break;
	case DROVER__ENVELOPE__BODY_VM_REQUEST:
		vm_actions_on_request(d, nodeid, env->vm_request);
		break;
	case DROVER__ENVELOPE__BODY_VM_ACTION:
		vm_actions_on_action(d, nodeid, env->vm_action);
		break;
	case DROVER__ENVELOPE__BODY_VM_ACTION_PROGRESS:
		vm_actions_on_progress(d, nodeid, env->vm_action_progress);
		break;
	case DROVER__ENVELOPE__BODY_VM_ACTION_RESULT:
		vm_actions_on_result(d, nodeid, env->vm_action_result);
		break;
	default:
		log_warn("dropping message from node %u: unexpected body %d", nodeid,
			 (int)env->body_case);
		break;
	}
	note_coordinator(d);
}

void droverd_on_quorum(struct droverd *d, bool quorate)
{
	d->quorate = quorate;
	if (quorate != last_quorate) {
		if (quorate)
			log_notice("partition is quorate");
		else
			log_warn("partition lost quorum: this node makes no decisions and "
				 "refuses changes until quorum returns");
		last_quorate = quorate;
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
	if (!d->agent)
		agent_link_start(d);
}

static int sig_stop(int sig, void *data)
{
	struct droverd *d = data;

	log_notice("signal %d: stopping", sig);
	sd_notify(0, "STOPPING=1");
	d->stopping = true;
	qb_loop_stop(d->loop);
	return 0;
}

static int sig_reload(int sig, void *data)
{
	struct droverd *d = data;
	struct drover_config c;
	char err[512];
	bool limits_changed;
	int r;

	(void)sig;
	sd_notify(0, "RELOADING=1");
	/* A file that existed at start and vanished is an error, not "use defaults". */
	r = config_load(d->config_path, d->config_existed, &c, err, sizeof(err));
	if (r < 0) {
		log_err("reload failed, keeping the running configuration: %s", err);
		sd_notify(0, "READY=1");
		return 0;
	}
	if (strcmp(c.state_dir, d->cfg.state_dir) != 0 || strcmp(c.cpg_group, d->cfg.cpg_group))
		log_warn("state_dir and cpg_group changes take effect at the next restart");
	strscpy(c.state_dir, d->cfg.state_dir, sizeof(c.state_dir));
	strscpy(c.cpg_group, d->cfg.cpg_group, sizeof(c.cpg_group));
	limits_changed = c.mig_max_out != d->cfg.mig_max_out || c.mig_max_in != d->cfg.mig_max_in ||
			 c.mig_max_total != d->cfg.mig_max_total ||
			 c.mig_max_retries != d->cfg.mig_max_retries;
	for (size_t k = 0; k < c.n_networks && !limits_changed; k++)
		limits_changed = k >= d->cfg.n_networks || c.networks[k].cap != d->cfg.networks[k].cap;
	d->cfg = c;
	log_set_priority(d->cfg.log_priority);
	ctl_server_reload_group(d);
	if (d->cmap_connected)
		links_load_nodelist(d);
	if (d->corosync_ready) {
		/* New networks or addresses: probe what the file says now. */
		nethealth_stop(d);
		nethealth_start(d);
		d->reach_dirty = true;
		nethealth_refresh(d);
	}
	/* The operator edited the limits in the file: that edit is meant for the cluster. */
	if (limits_changed)
		drain_push_config_limits(d);
	log_notice("configuration reloaded from '%s'", d->config_path);
	sd_notify(0, "READY=1");
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: droverd [-f] [-c FILE] [--check-config]\n"
		   "  -c, --config FILE   configuration file (default " DROVER_CONF_DEFAULT ")\n"
		   "  -f, --foreground    log to stderr instead of syslog\n"
		   "      --check-config  validate the configuration, print the effective one, exit\n"
		   "  -h, --help          this help\n"
		   "  -V, --version       print the version\n");
}

static void load_state(struct droverd *d)
{
	char from[PATH_MAX + 32], to[PATH_MAX + 48];
	int r = persist_load(d->cfg.state_dir, &d->state);

	if (r == 0) {
		log_info("loaded cluster state (epoch %llu) from '%s'",
			 (unsigned long long)d->state.epoch, d->cfg.state_dir);
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
	char err[512];
	int c, r;

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
	if (optind != argc) {
		usage(stderr);
		return DROVER_EXIT_USAGE;
	}
	r = config_load(path, explicit_path, &d.cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "droverd: %s\n", err);
		return DROVER_EXIT_CONFIG;
	}
	if (check) {
		config_print(stdout, &d.cfg);
		return 0;
	}
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

	r = ctl_server_start(&d);
	if (r < 0) {
		log_err("cannot start the CLI service '%s': %s (is another droverd running?)",
			"drover", strerror(-r));
		return DROVER_EXIT_UNAVAILABLE;
	}
	qb_loop_job_add(d.loop, QB_LOOP_HIGH, &d, connect_timer_fn);

	qb_loop_run(d.loop);

	log_notice("droverd stopping");
	ctl_server_stop(&d);
	drain_stop(&d);
	nethealth_stop(&d);
	agent_link_stop(&d);
	membership_disconnect(&d);
	quorum_disconnect(&d);
	links_disconnect(&d);
	qb_loop_destroy(d.loop);
	log_teardown();
	return exit_status;
}
