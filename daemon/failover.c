/*
 * Failover: a node that leaves corosync is fenced, then its VMs restart on
 * the others by priority.
 *
 *   corosync membership (quorum.c) -> the coordinator multicasts NodeLost
 *   -> fence PENDING -> the coordinator's agent runs the fence devices in
 *      order (fencing levels) -> FenceResult (CPG) -> FENCED, or FAILED and
 *      retried with backoff
 *   -> every member clears the owner of the node's VMs (state_fence.c)
 *   -> recover_decide() (core/recover.h) on the coordinator: VmAction
 *      starts (cause recovery) by priority within capacity, preemptions
 *   -> the fenced node rejoins, reports, holds no second copy -> NodeUnfenced
 *
 * What makes it safe: a VM starts only when its location is known
 * (core/locate.h), and a lost node's VMs are unknown until it is FENCED,
 * which needs a fence device's success or an operator's confirmation,
 * applied only while the node is not a member. A failing fence blocks the
 * recovery and says so in `drover status` and the log, forever if need be;
 * nothing is guessed. Only a node that left corosync is fenced: one whose
 * droverd alone stopped still runs its VMs, and they stay unknown until it
 * reports again.
 *
 * The same round also records what the hypervisors show (VmPlaced: who owns
 * each VM) and destroys second copies, keeping the owner's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_input.h"
#include "droverd.h"
#include "exitcode.h"
#include "log.h"
#include "recover.h"
#include "selffence.h"
#include "recover_view.h"
#include "util.h"

#define TICK_MS 500u
/* A node never seen since we started is fenced only after this long (startup fencing). */
#define STARTUP_FENCE_DELAY_MS 60000u
#define RESEND_MS 2000u
#define BACKOFF_MAX_MS 60000u
#define MAX_ROUND_ACTIONS 256

struct fo_node {
	uint32_t id;
	bool seen;                 /* a corosync or CPG member since we started */
	uint64_t lost_sent_ms;     /* our NodeLost, until applied */
	uint64_t unfence_sent_ms;
	/* our fence attempt */
	bool fencing;
	uint64_t agent_job;
	size_t level;              /* the device being tried */
	char errors[DROVER_REASON_MAX];
	uint64_t next_try_ms;
	uint32_t backoff_ms;
	char note[DROVER_REASON_MAX];
	/* [fence] mode = watchdog: since when (monotonic) we see it gone; 0: not gone */
	uint64_t gone_since_ms;
	/*
	 * [fence] mode = watchdog: its droverd was a CPG member since we
	 * started and has not left CPG by itself (a stop or a crash) since:
	 * only then does an agent there hold a lease that destroys its VMs
	 * when it loses quorum. The agent exits with its droverd.
	 */
	bool lease_held;
};

struct failover {
	struct fo_node nodes[DROVER_MAX_NODES];
	uint64_t started_ms;
	qb_loop_timer_handle timer, kick_timer, beat_timer;
	bool kick_armed;
	struct rec_action acts[MAX_ROUND_ACTIONS];
	/* [fence] mode = watchdog, this node's own lease (core/selffence.h) */
	uint64_t lease_expires_ms; /* the latest granted to our agent (monotonic) */
	bool self_fenced;          /* our agent said so; cleared by a new lease */
	char note[DROVER_REASON_MAX];
	bool self_fence_failed;    /* its last report named an error */
	/* droverd's exit waits for the self-fence (failover_may_exit()): since when, 0: not */
	uint64_t exit_wait_ms;
	bool exit_held;            /* droverd_fatal() waits (failover_hold_exit()) */
	qb_loop_timer_handle exit_timer;
	/* The VMs our agent destroyed when it self-fenced, until they run again somewhere. */
	char (*destroyed)[DROVER_VM_NAME_MAX];
	size_t n_destroyed;
};

/* The node's name, always written into buf (links_node_name() may return its own copy). */
static const char *name_of(const struct droverd *d, uint32_t id, char *buf, size_t len)
{
	const char *n = links_node_name(d, id, buf, len);

	if (n != buf)
		strscpy(buf, n, len);
	return buf;
}

static struct fo_node *fo_node(struct droverd *d, uint32_t id)
{
	struct fo_node *free_slot = NULL;

	if (!d->fo || !id)
		return NULL;
	for (size_t i = 0; i < DROVER_MAX_NODES; i++) {
		if (d->fo->nodes[i].id == id)
			return &d->fo->nodes[i];
		if (!free_slot && !d->fo->nodes[i].id)
			free_slot = &d->fo->nodes[i];
	}
	if (free_slot) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->id = id;
	}
	return free_slot;
}

static bool cs_member(const struct droverd *d, uint32_t id)
{
	for (size_t i = 0; i < d->n_cs_members; i++)
		if (d->cs_members[i] == id)
			return true;
	return false;
}

/* Gone as a host: neither its droverd nor its corosync is with us. */
static bool node_gone(const struct droverd *d, uint32_t id)
{
	return d->cs_known && !droverd_is_member(d, id) && !cs_member(d, id);
}

static bool is_coordinator(const struct droverd *d)
{
	return d->local_id && droverd_coordinator(d) == d->local_id;
}

/* ---- fencing ---- */

static void send_fence_result(struct droverd *d, uint32_t node, bool ok, const char *device,
			      const char *error, bool by_operator, uint64_t request_id)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__FenceResult m = DROVER__FENCE_RESULT__INIT;

	m.node = node;
	m.ok = ok;
	m.device = (char *)(device ? device : "");
	m.error = (char *)(error ? error : "");
	m.at_ms = wall_ms();
	m.by_operator = by_operator;
	m.request_id = request_id;
	env.body_case = DROVER__ENVELOPE__BODY_FENCE_RESULT;
	env.fence_result = &m;
	membership_send(d, &env, false);
}

/* The program of a device definition, for logs and views. */
static void device_label(const struct droverd *d, size_t level, char *buf, size_t len)
{
	const char *def = d->cfg.fence_devices[level];
	const char *sp = strchr(def, ' ');
	const char *base;
	size_t n = sp ? (size_t)(sp - def) : strlen(def);
	char prog[256];

	snprintf(prog, sizeof(prog), "%.*s", (int)n, def);
	base = strrchr(prog, '/');
	snprintf(buf, len, "device%zu (%.60s)", level + 1, base ? base + 1 : prog);
}

static int submit_level(struct droverd *d, struct fo_node *f)
{
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentFenceJob fj = DROVER__AGENT_FENCE_JOB__INIT;
	const char *plugin = agent_link_fence_plugin(d);
	char name[NODE_NAME_MAX], label[96];
	int r;

	if (!plugin)
		return -ENOTCONN;
	name_of(d, f->id, name, sizeof(name));
	fj.node = name;
	fj.action = "off";
	fj.device = d->cfg.fence_devices[f->level];
	job.kind_case = DROVER__AGENT_JOB__KIND_FENCE;
	job.fence = &fj;
	job.plugin = (char *)plugin;
	job.deadline_ms = d->cfg.fence_timeout_ms + 5000;
	r = agent_link_submit(d, &job, &f->agent_job);
	device_label(d, f->level, label, sizeof(label));
	if (r == 0)
		log_notice("fencing %s with %s", name, label);
	return r;
}

static void attempt_failed(struct droverd *d, struct fo_node *f, const char *why)
{
	char name[NODE_NAME_MAX];

	f->fencing = false;
	f->agent_job = 0;
	f->backoff_ms = f->backoff_ms ? f->backoff_ms * 2 : d->cfg.fence_retry_ms;
	if (f->backoff_ms > BACKOFF_MAX_MS)
		f->backoff_ms = BACKOFF_MAX_MS;
	f->next_try_ms = now_ms() + f->backoff_ms;
	log_err("FENCING OF %s FAILED: %s; its VMs are not restarted; retrying in %u s "
		"(or, if it is known to be off: drover node confirm-off %s)",
		name_of(d, f->id, name, sizeof(name)), why, f->backoff_ms / 1000, name);
	send_fence_result(d, f->id, false, "", why, false, 0);
}

static void start_fence(struct droverd *d, struct fo_node *f)
{
	int r;

	f->fencing = true;
	f->level = 0;
	f->errors[0] = '\0';
	r = submit_level(d, f);
	if (r < 0)
		attempt_failed(d, f, r == -ENOTCONN ? "this node's agent has no fence plugin loaded"
						    : "this node's agent is unavailable");
}

bool failover_agent_job_done(struct droverd *d, uint64_t agent_job, const Drover__AgentJobResult *r)
{
	struct fo_node *f = NULL;
	char label[96], name[NODE_NAME_MAX];
	size_t off;

	for (size_t i = 0; d->fo && agent_job && i < DROVER_MAX_NODES; i++)
		if (d->fo->nodes[i].fencing && d->fo->nodes[i].agent_job == agent_job)
			f = &d->fo->nodes[i];
	if (!f)
		return false;
	device_label(d, f->level, label, sizeof(label));
	if (r->outcome == DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK) {
		f->fencing = false;
		f->agent_job = 0;
		f->backoff_ms = 0;
		log_notice("%s is fenced (%s)", name_of(d, f->id, name, sizeof(name)), label);
		send_fence_result(d, f->id, true, label, "", false, 0);
		return true;
	}
	off = strlen(f->errors);
	snprintf(f->errors + off, sizeof(f->errors) - off, "%s%s: %s", off ? "; " : "", label,
		 r->error && *r->error ? r->error : "failed");
	log_warn("fencing %s with %s failed: %s", name_of(d, f->id, name, sizeof(name)), label,
		 r->error ? r->error : "");
	/* The next level, if any, at once: that is what levels are for. */
	if (++f->level < d->cfg.n_fence_devices && submit_level(d, f) == 0)
		return true;
	attempt_failed(d, f, f->errors);
	return true;
}

const char *failover_fence_note(const struct droverd *d, uint32_t node)
{
	const struct fo_node *f = NULL;
	Drover__FenceState st = state_node_fence(&d->state, node);

	if (st != DROVER__FENCE_STATE__FENCE_STATE_PENDING &&
	    st != DROVER__FENCE_STATE__FENCE_STATE_FAILED)
		return "";
	if (d->cfg.fence_mode == FENCE_MODE_NONE)
		return "no fence device configured ([fence] mode = none): its VMs wait for "
		       "`drover node confirm-off`";
	if (d->cfg.fence_mode == FENCE_MODE_WATCHDOG && d->fo) {
		uint64_t left = failover_self_fence_left(d, node);

		for (size_t i = 0; i < DROVER_MAX_NODES; i++)
			if (d->fo->nodes[i].id == node)
				f = &d->fo->nodes[i];
		if (!f || !f->lease_held)
			return "self-fencing (watchdog) does not cover it: its droverd was not running "
			       "with it (stopped or crashed before the loss, or never seen by this "
			       "droverd), so nothing there destroys its VMs; they wait for its return "
			       "or `drover node confirm-off`";
		if (!left)
			return "self-fencing (watchdog): waiting until its loss is seen";
		snprintf(d->fo->note, sizeof(d->fo->note),
			 "self-fencing (watchdog): it destroys its VMs itself without quorum; "
			 "counted as fenced in %llu.%llu s",
			 (unsigned long long)(left / 1000), (unsigned long long)(left % 1000 / 100));
		return d->fo->note;
	}
	for (size_t i = 0; d->fo && i < DROVER_MAX_NODES; i++)
		if (d->fo->nodes[i].id == node)
			f = &d->fo->nodes[i];
	if (f && f->fencing)
		return "fencing now";
	return "";
}

/* ---- watchdog self-fencing (core/selffence.h) ---- */

static struct selffence_timing timing(const struct droverd *d)
{
	return (struct selffence_timing){ .timeout_ms = d->cfg.watchdog_timeout_ms,
					  .margin_ms = d->cfg.watchdog_margin_ms };
}

/*
 * A lost node with no fence device: it destroyed its VMs itself by the time
 * the rule says; only then does it count as fenced. The count is this
 * node's own, from when it saw the node gone: a coordinator that takes over
 * mid-count starts later, never earlier.
 */
static void watchdog_fence(struct droverd *d, struct fo_node *f, uint64_t now)
{
	struct selffence_timing t = timing(d);
	char label[96], name[NODE_NAME_MAX];

	/* Nothing destroys its VMs when its droverd was not running: not counted, ever. */
	if (!f->lease_held || selffence_left_ms(now, f->gone_since_ms, &t) != 0)
		return;
	/* Once per RESEND_MS until it is applied (fencing: sent at next_try_ms). */
	if (f->fencing && now - f->next_try_ms < RESEND_MS)
		return;
	f->fencing = true;
	f->next_try_ms = now;
	snprintf(label, sizeof(label), "watchdog (self-fenced: %u s without quorum, + %u s)",
		 t.timeout_ms / 1000, t.margin_ms / 1000);
	log_notice("%s has been gone for %u ms: it self-fenced, its VMs may run elsewhere",
		   name_of(d, f->id, name, sizeof(name)), t.timeout_ms + t.margin_ms);
	send_fence_result(d, f->id, true, label, "", false, 0);
}

uint64_t failover_self_fence_left(const struct droverd *d, uint32_t node)
{
	const struct fo_node *f = NULL;
	struct selffence_timing t;
	Drover__FenceState st = state_node_fence(&d->state, node);
	uint64_t left;

	if (!d->fo || d->cfg.fence_mode != FENCE_MODE_WATCHDOG ||
	    (st != DROVER__FENCE_STATE__FENCE_STATE_PENDING &&
	     st != DROVER__FENCE_STATE__FENCE_STATE_FAILED))
		return 0;
	for (size_t i = 0; i < DROVER_MAX_NODES; i++)
		if (d->fo->nodes[i].id == node)
			f = &d->fo->nodes[i];
	t = timing(d);
	left = f && f->lease_held ? selffence_left_ms(now_ms(), f->gone_since_ms, &t) : UINT64_MAX;
	return left == UINT64_MAX ? 0 : left ? left : 1;
}

uint64_t failover_lease_left(const struct droverd *d)
{
	uint64_t now = now_ms();

	if (!d->fo || d->cfg.fence_mode != FENCE_MODE_WATCHDOG || d->fo->self_fenced ||
	    selffence_lease_expired(now, d->fo->lease_expires_ms) || !d->fo->lease_expires_ms)
		return 0;
	return d->fo->lease_expires_ms - now;
}

void failover_agent_up(struct droverd *d)
{
	/*
	 * A new agent armed a lease of its own from its start; the one this
	 * droverd granted last (our agent's predecessor's) is what the quorate
	 * side counts from: the new agent adopts it (agent/lease.c), even when it
	 * ran out already. Without a grant yet, the agent keeps its own.
	 */
	if (!d->fo || d->cfg.fence_mode != FENCE_MODE_WATCHDOG || !d->fo->lease_expires_ms)
		return;
	if (agent_link_send_lease(d, d->fo->lease_expires_ms) < 0)
		log_warn("cannot hand the current lease to the new drover-agent");
}

bool failover_self_fenced(const struct droverd *d)
{
	return d->fo && d->fo->self_fenced;
}

/* Our own beat came back: renew the agent's lease if it was delivered in a quorate configuration. */
static void on_beat(struct droverd *d, bool from_self, const Drover__LeaseBeat *m)
{
	uint64_t now = now_ms();
	uint64_t exp = selffence_lease_from_beat(from_self, d->config_quorate, m->sent_mono_ms, now,
						 d->cfg.watchdog_timeout_ms);

	if (!exp || d->cfg.fence_mode != FENCE_MODE_WATCHDOG)
		return;
	d->fo->lease_expires_ms = selffence_lease_extend(d->fo->lease_expires_ms, exp);
	if (selffence_lease_expired(now, exp))
		return; /* read too late (we were stopped): it vouches for nothing now */
	if (d->fo->self_fenced)
		log_notice("quorate again: the lease is renewed, this node may run VMs again");
	d->fo->self_fenced = false;
	if (agent_link_send_lease(d, d->fo->lease_expires_ms) < 0)
		log_debug("no agent to renew the lease of");
}

static void beat_fn(void *data)
{
	struct droverd *d = data;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__LeaseBeat m = DROVER__LEASE_BEAT__INIT;

	if (d->stopping || !d->fo)
		return;
	/*
	 * Only while the last configuration we saw is quorate: a minority has
	 * nothing to renew, and its beats would queue while its ring is down.
	 */
	if (d->config_quorate) {
		m.sent_mono_ms = now_ms();
		env.body_case = DROVER__ENVELOPE__BODY_LEASE_BEAT;
		env.lease_beat = &m;
		/* As a sync message: dropped, not retried, when the membership changes. */
		membership_send(d, &env, true);
	}
	qb_loop_timer_add(d->loop, QB_LOOP_HIGH,
			  (uint64_t)selffence_beat_ms(d->cfg.watchdog_timeout_ms) * QB_TIME_NS_IN_MSEC,
			  d, beat_fn, &d->fo->beat_timer);
}

void failover_on_self_fence(struct droverd *d, const Drover__AgentSelfFence *m)
{
	char list[DROVER_REASON_MAX] = "";
	size_t off = 0;

	if (!d->fo)
		return;
	for (size_t i = 0; i < m->n_destroyed && off < sizeof(list) - 2; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "",
					m->destroyed[i]);
	d->fo->self_fenced = true;
	d->fo->self_fence_failed = m->error && *m->error;
	for (size_t i = 0; i < m->n_destroyed && d->fo->n_destroyed < 4096; i++) {
		bool known = false;

		for (size_t k = 0; k < d->fo->n_destroyed; k++)
			known = known || strcmp(d->fo->destroyed[k], m->destroyed[i]) == 0;
		if (known)
			continue;
		d->fo->destroyed = xrealloc(d->fo->destroyed,
					    (d->fo->n_destroyed + 1) * sizeof(*d->fo->destroyed));
		strscpy(d->fo->destroyed[d->fo->n_destroyed++], m->destroyed[i],
			sizeof(*d->fo->destroyed));
	}
	if (m->error && *m->error)
		log_err("SELF-FENCING OF THIS NODE FAILED: %s (destroyed so far: %s)", m->error,
			 off ? list : "none");
	else
		log_err("this node self-fenced: no quorate configuration for %u ms; its agent "
			 "destroyed %zu VM(s)%s%s; the others restart them",
			 d->cfg.watchdog_timeout_ms, m->n_destroyed, off ? ": " : "", list);
}

/*
 * A VM our agent destroyed when it self-fenced did not stop by anyone's
 * wish: report it crashed, not shut off (nor absent: a transient domain is
 * gone once destroyed), so that the coordinator restarts it (core/recover.h)
 * rather than record that it was stopped. Until it runs again, here or, once
 * this node was counted fenced, elsewhere (its owner is then another node).
 */
void failover_local_inventory(struct droverd *d, Drover__AgentInventory *inv)
{
	struct failover *fo = d->fo;
	Drover__AgentInventory copy;
	Drover__AgentDomain **doms, *extra;
	size_t n_missing = 0, n;
	bool *missing;

	if (!fo || !fo->n_destroyed) {
		droverd_on_local_inventory(d, inv, NULL);
		return;
	}
	missing = xcalloc(fo->n_destroyed, sizeof(*missing));
	for (size_t k = 0; k < fo->n_destroyed;) {
		const struct vm_cfg *v = state_vm_find(&d->state, fo->destroyed[k]);
		bool done = !v || (v->owner && v->owner != d->local_id), found = false;

		for (size_t i = 0; i < inv->n_domains && !done; i++) {
			Drover__AgentDomain *dom = inv->domains[i];

			if (strcmp(dom->name, fo->destroyed[k]) != 0)
				continue;
			found = true;
			if (dom->state == DROVER__VM_RUN_STATE__VM_RUN_STATE_STOPPED)
				dom->state = DROVER__VM_RUN_STATE__VM_RUN_STATE_CRASHED;
			else
				done = true;
		}
		if (done) {
			memmove(&fo->destroyed[k], &fo->destroyed[k + 1],
				(--fo->n_destroyed - k) * sizeof(*fo->destroyed));
			continue;
		}
		missing[k] = !found;
		n_missing += !found;
		k++;
	}
	if (!n_missing) {
		free(missing);
		droverd_on_local_inventory(d, inv, NULL);
		return;
	}
	copy = *inv;
	doms = xcalloc(inv->n_domains + n_missing, sizeof(*doms));
	extra = xcalloc(n_missing, sizeof(*extra));
	memcpy(doms, inv->domains, inv->n_domains * sizeof(*doms));
	n = inv->n_domains;
	for (size_t k = 0, e = 0; k < fo->n_destroyed; k++) {
		const struct vm_cfg *v = state_vm_find(&d->state, fo->destroyed[k]);

		if (!missing[k] || !v)
			continue;
		drover__agent_domain__init(&extra[e]);
		extra[e].name = fo->destroyed[k];
		extra[e].state = DROVER__VM_RUN_STATE__VM_RUN_STATE_CRASHED;
		extra[e].memory_mib = v->memory_mib;
		extra[e].vcpus = v->vcpus;
		doms[n++] = &extra[e++];
	}
	copy.n_domains = n;
	copy.domains = doms;
	droverd_on_local_inventory(d, &copy, NULL);
	free(doms);
	free(extra);
	free(missing);
}

/* The coordinator's fencing duties for every node of the nodelist. */
static void fence_round(struct droverd *d, uint64_t now)
{
	char name[NODE_NAME_MAX];

	for (size_t i = 0; i < d->n_nodes; i++) {
		uint32_t id = d->nodes[i].id;
		struct fo_node *f = fo_node(d, id);
		Drover__FenceState st = state_node_fence(&d->state, id);

		if (!f || id == d->local_id)
			continue;
		if (!node_gone(d, id))
			continue;
		if (st == DROVER__FENCE_STATE__FENCE_STATE_NONE) {
			/* Startup fencing: a node never seen may run anything. */
			if (!f->seen && now - d->fo->started_ms < STARTUP_FENCE_DELAY_MS)
				continue;
			if (f->lost_sent_ms && now - f->lost_sent_ms < RESEND_MS)
				continue;
			Drover__Envelope env = DROVER__ENVELOPE__INIT;
			Drover__NodeLost m = DROVER__NODE_LOST__INIT;

			m.node = id;
			m.lost_ms = wall_ms();
			m.reason = (char *)(f->seen ? "left corosync's membership"
						    : "not seen since this droverd started");
			env.body_case = DROVER__ENVELOPE__BODY_NODE_LOST;
			env.node_lost = &m;
			log_warn("node %s is lost (%s): it must be fenced before its VMs run elsewhere",
				 name_of(d, id, name, sizeof(name)), m.reason);
			if (membership_send(d, &env, false) == 0)
				f->lost_sent_ms = now;
			continue;
		}
		if (st == DROVER__FENCE_STATE__FENCE_STATE_FENCED)
			continue;
		if (d->cfg.fence_mode == FENCE_MODE_WATCHDOG) {
			watchdog_fence(d, f, now);
			continue;
		}
		if (f->fencing || d->cfg.fence_mode != FENCE_MODE_DEVICE || now < f->next_try_ms)
			continue;
		start_fence(d, f);
	}
}

void failover_on_cpg_left(struct droverd *d, uint32_t node, bool node_down)
{
	struct fo_node *f;
	char name[NODE_NAME_MAX];

	/*
	 * Called once members[] holds the configuration without it. A node
	 * whose corosync left carries its droverd and agent away with it, lease
	 * and all; a droverd that left alone (another of its processes may
	 * remain) took its agent's lease with it.
	 */
	if (node_down || node == d->local_id || droverd_is_member(d, node) ||
	    !(f = fo_node(d, node)) || !f->lease_held)
		return;
	f->lease_held = false;
	if (d->cfg.fence_mode == FENCE_MODE_WATCHDOG)
		log_warn("droverd on %s left while its host stays: its agent left with it, so "
			 "nothing there destroys its VMs without quorum; should the host be lost "
			 "now, it does not count as self-fenced (its VMs wait for its return or "
			 "`drover node confirm-off`)",
			 name_of(d, node, name, sizeof(name)));
}

/* ---- exiting with VMs the others count on being destroyed ---- */

/* After the lease, this long for the agent's destroy and its report; then droverd exits regardless. */
#define EXIT_WAIT_GRACE_MS 60000u

bool failover_may_exit(struct droverd *d)
{
	uint64_t now = now_ms(), bound;

	/*
	 * The agent exits with droverd, and nothing destroys this host's VMs
	 * after that. The others count this node self-fenced only if they lose
	 * its host while its droverd is with it (failover_on_cpg_left()). A
	 * droverd that leaves while quorate is seen leaving on its own: the
	 * others do not count on the lease. One without quorum is cut off, or
	 * its corosync is gone: the others see its host lost with the lease, so
	 * it waits until the agent has destroyed the VMs (the lease runs out
	 * within watchdog_timeout_ms without quorum), or, bounded, gives up.
	 *
	 * Only a stop while quorate releases the lease: the agent then disarms
	 * a watchdog device on its way out. After a self-fence the agent keeps
	 * it armed anyway, and a stop that gives up below must not disarm it.
	 */
	d->lease_release = d->cpg_joined && d->quorate && d->config_quorate;
	if (!d->fo || d->cfg.fence_mode != FENCE_MODE_WATCHDOG ||
	    (d->fo->self_fenced && !d->fo->self_fence_failed) || d->lease_release)
		return true;
	if (!d->fo->exit_wait_ms) {
		d->fo->exit_wait_ms = now;
		log_err("exiting without quorum: waiting until this node's lease runs out and its agent "
			"destroys its VMs, which the others restart once they count this node "
			"self-fenced (a second SIGTERM exits at once and leaves them running twice)");
	}
	bound = d->fo->exit_wait_ms + d->cfg.watchdog_timeout_ms + EXIT_WAIT_GRACE_MS;
	if (now < bound)
		return false;
	log_err("SELF-FENCING DID NOT COMPLETE within %u ms of the stop: exiting anyway; "
		"the VMs of this host may run while the others restart them",
		d->cfg.watchdog_timeout_ms + EXIT_WAIT_GRACE_MS);
	return true;
}

static void exit_wait_fn(void *data)
{
	struct droverd *d = data;

	if (failover_may_exit(d)) {
		d->stopping = true;
		qb_loop_stop(d->loop);
		return;
	}
	qb_loop_timer_add(d->loop, QB_LOOP_HIGH, (uint64_t)SELFFENCE_TICK_MS * QB_TIME_NS_IN_MSEC, d,
			  exit_wait_fn, &d->fo->exit_timer);
}

bool failover_hold_exit(struct droverd *d)
{
	if (!d->fo || d->fo->exit_held)
		return d->fo && d->fo->exit_held;
	/* Without corosync, this droverd is in no configuration: it decides and renews nothing. */
	d->quorate = false;
	d->config_quorate = false;
	if (failover_may_exit(d))
		return false;
	d->fo->exit_held = qb_loop_timer_add(d->loop, QB_LOOP_HIGH,
					     (uint64_t)SELFFENCE_TICK_MS * QB_TIME_NS_IN_MSEC, d,
					     exit_wait_fn, &d->fo->exit_timer) == 0;
	return d->fo->exit_held;
}

/* ---- rejoin ---- */

/* A lost or fenced node is back: it may be used again once it holds no second copy. */
static void unfence_round(struct droverd *d, uint64_t now)
{
	for (size_t i = 0; i < d->state.n_nodes; i++) {
		const struct node_cfg *n = &d->state.nodes[i];
		const struct node_obs *o = droverd_obs(d, n->id);
		struct fo_node *f = fo_node(d, n->id);
		bool second_copy = false;
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__NodeUnfenced m = DROVER__NODE_UNFENCED__INIT;

		if (n->fence == DROVER__FENCE_STATE__FENCE_STATE_NONE || !f ||
		    !droverd_is_member(d, n->id) || !o || !o->current || !o->agent_ok)
			continue;
		for (size_t k = 0; k < o->n_domains && n->fence == DROVER__FENCE_STATE__FENCE_STATE_FENCED;
		     k++) {
			struct locate_result l;

			if (!droverd_vm_state_active(o->domains[k].state) ||
			    !state_vm_find(&d->state, o->domains[k].name))
				continue;
			if (droverd_locate(d, o->domains[k].name, &l) < 0 || l.n_also ||
			    state_op_for_vm(&d->state, o->domains[k].name))
				second_copy = true; /* recover_decide() destroys it first */
		}
		if (second_copy || (f->unfence_sent_ms && now - f->unfence_sent_ms < RESEND_MS))
			continue;
		m.node = n->id;
		env.body_case = DROVER__ENVELOPE__BODY_NODE_UNFENCED;
		env.node_unfenced = &m;
		if (membership_send(d, &env, false) == 0)
			f->unfence_sent_ms = now;
	}
}

/* ---- recovery ---- */

static int view_locate(const void *ctx, const char *vm, struct locate_result *ret)
{
	return droverd_locate(ctx, vm, ret);
}

static void build_nodes(const struct droverd *d, struct rec_node *nodes, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < d->n_nodes && *n < DROVER_MAX_NODES; i++) {
		const struct known_node *k = &d->nodes[i];
		const struct node_obs *o = droverd_obs(d, k->id);
		struct rec_node *r = &nodes[(*n)++];

		memset(r, 0, sizeof(*r));
		r->id = k->id;
		r->usable = droverd_is_member(d, k->id) && o && o->current && o->agent_ok &&
			    !o->no_hypervisor &&
			    state_node_get(&d->state, k->id) == DROVER__NODE_STATE__NODE_STATE_ACTIVE &&
			    state_node_fence(&d->state, k->id) == DROVER__FENCE_STATE__FENCE_STATE_NONE;
		if (!o)
			continue;
		r->memory_mib = o->memory_mib;
		r->vcpus = o->vcpus;
		coord_input_load(&d->state, o, &r->load_mib, &r->load_vcpus);
	}
}

static void send_placed(struct droverd *d, const struct rec_action *a)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmPlaced m = DROVER__VM_PLACED__INIT;

	m.vm = (char *)a->vm;
	m.owner = a->owner;
	m.want = a->want;
	m.reason = (char *)a->reason;
	env.body_case = DROVER__ENVELOPE__BODY_VM_PLACED;
	env.vm_placed = &m;
	if (membership_send(d, &env, false) == 0)
		vm_actions_mark_undelivered(d, a->vm);
}

/* One round of recover_decide() on this node's state and inventories. */
static int decide_round(const struct droverd *d, struct rec_action *acts, size_t max)
{
	struct rec_node nodes[DROVER_MAX_NODES];
	struct rec_view v;

	memset(&v, 0, sizeof(v));
	build_nodes(d, nodes, &v.n_nodes);
	v.state = &d->state;
	v.nodes = nodes;
	v.locate = view_locate;
	v.locate_ctx = d;
	v.max_starts = d->cfg.failover_max_starts;
	return recover_decide(&v, acts, max);
}

int failover_rows(const struct droverd *d, struct rec_row **ret)
{
	/*
	 * Any member decides the round as the coordinator would, on the same
	 * replicated state and inventories, only to say why VMs wait; it acts
	 * on nothing (recover_round() is the coordinator's).
	 */
	struct rec_action *acts = xcalloc(MAX_ROUND_ACTIONS, sizeof(*acts));
	int n = decide_round(d, acts, MAX_ROUND_ACTIONS);
	int r = recover_rows(&d->state, acts, n > 0 ? (size_t)n : 0, ret);

	free(acts);
	return r;
}

static void recover_round(struct droverd *d)
{
	char b[NODE_NAME_MAX];
	int n;

	/* The queue's or a VM request's decision in flight: decide on a view that shows it. */
	if (d->coord_wait_seq || d->n_undelivered)
		return;
	n = decide_round(d, d->fo->acts, MAX_ROUND_ACTIONS);
	for (int i = 0; i < n; i++) {
		const struct rec_action *a = &d->fo->acts[i];

		if (a->kind == REC_WAIT || vm_actions_undelivered(d, a->vm))
			continue;
		switch (a->kind) {
		case REC_PLACE:
			send_placed(d, a);
			break;
		case REC_START:
			log_notice("recovery: starting VM '%s' on %s", a->vm,
				   name_of(d, a->node, b, sizeof(b)));
			vm_actions_send_action(d, DROVER__VM_ACTION_KIND__VM_ACTION_START, a->vm,
					       a->node, DROVER__VM_ACTION_CAUSE__VM_CAUSE_RECOVERY,
					       NULL);
			break;
		case REC_PREEMPT:
			log_warn("recovery: preempting VM '%s' on %s to make room for '%s'", a->vm,
				 name_of(d, a->node, b, sizeof(b)), a->for_vm);
			vm_actions_send_action(d, DROVER__VM_ACTION_KIND__VM_ACTION_STOP, a->vm,
					       a->node, DROVER__VM_ACTION_CAUSE__VM_CAUSE_PREEMPT,
					       a->for_vm);
			break;
		case REC_DESTROY:
			log_err("VM '%s' RUNS ON MORE THAN ONE NODE: destroying the copy on %s, "
				"keeping its owner's", a->vm, name_of(d, a->node, b, sizeof(b)));
			vm_actions_send_action(d, DROVER__VM_ACTION_KIND__VM_ACTION_STOP, a->vm,
					       a->node, DROVER__VM_ACTION_CAUSE__VM_CAUSE_DUPLICATE,
					       NULL);
			break;
		case REC_VF_ATTACH:
			log_notice("VM '%s' runs without its VF on %s, where one is free: attaching it",
				   a->vm, name_of(d, a->node, b, sizeof(b)));
			vm_actions_send_action(d, DROVER__VM_ACTION_KIND__VM_ACTION_VF_ATTACH, a->vm,
					       a->node, DROVER__VM_ACTION_CAUSE__VM_CAUSE_OPERATOR,
					       NULL);
			break;
		default:
			break;
		}
	}
}

uint32_t failover_recovering(const struct droverd *d, uint32_t node)
{
	Drover__FenceState fence = state_node_fence(&d->state, node);
	bool unfenced = fence == DROVER__FENCE_STATE__FENCE_STATE_PENDING ||
			fence == DROVER__FENCE_STATE__FENCE_STATE_FAILED;
	uint32_t n = 0;

	for (size_t i = 0; i < d->state.n_vms; i++) {
		const struct vm_cfg *v = &d->state.vms[i];

		if ((v->want != DROVER__VM_WANT__VM_WANT_RUNNING &&
		     v->want != DROVER__VM_WANT__VM_WANT_PREEMPTED) ||
		    v->priority == DROVER__VM_PRIORITY__VM_PRIORITY_NONE)
			continue;
		/* Its VMs wait for the fence, or, once it is fenced, for their restart. */
		if ((unfenced && v->owner == node) || (!v->owner && v->lost_from == node))
			n++;
	}
	return n;
}

/* ---- the round ---- */

static void round_run(struct droverd *d)
{
	uint64_t now = now_ms();

	if (!d->fo || d->stopping)
		return;
	for (size_t i = 0; i < d->n_nodes; i++) {
		struct fo_node *f = fo_node(d, d->nodes[i].id);

		if (f && (droverd_is_member(d, f->id) || cs_member(d, f->id))) {
			f->lease_held = f->lease_held || droverd_is_member(d, f->id);
			f->seen = true;
			f->lost_sent_ms = 0;
			f->backoff_ms = 0;
			f->next_try_ms = 0;
			f->gone_since_ms = 0;
			if (d->cfg.fence_mode == FENCE_MODE_WATCHDOG)
				f->fencing = false;
		} else if (f && f->id != d->local_id && node_gone(d, f->id) && !f->gone_since_ms) {
			/* Every member counts, so that a new coordinator's count is its own. */
			f->gone_since_ms = now;
		}
	}
	if (!is_coordinator(d))
		return;
	fence_round(d, now);
	unfence_round(d, now);
	recover_round(d);
}

static void tick_fn(void *data)
{
	struct droverd *d = data;

	round_run(d);
	if (!d->stopping)
		qb_loop_timer_add(d->loop, QB_LOOP_LOW, (uint64_t)TICK_MS * QB_TIME_NS_IN_MSEC, d,
				  tick_fn, &d->fo->timer);
}

static void kick_fn(void *data)
{
	struct droverd *d = data;

	d->fo->kick_armed = false;
	round_run(d);
}

void failover_kick(struct droverd *d)
{
	if (!d->fo || d->fo->kick_armed || d->stopping)
		return;
	/* Coalesced: a burst of deliveries makes one round, soon after. */
	if (qb_loop_timer_add(d->loop, QB_LOOP_LOW, 20 * QB_TIME_NS_IN_MSEC, d, kick_fn,
			      &d->fo->kick_timer) == 0)
		d->fo->kick_armed = true;
}

int failover_start(struct droverd *d)
{
	d->fo = xcalloc(1, sizeof(*d->fo));
	d->fo->started_ms = now_ms();
	if (d->cfg.fence_mode == FENCE_MODE_WATCHDOG)
		beat_fn(d);
	return qb_loop_timer_add(d->loop, QB_LOOP_LOW, (uint64_t)TICK_MS * QB_TIME_NS_IN_MSEC, d,
				 tick_fn, &d->fo->timer);
}

void failover_stop(struct droverd *d)
{
	if (!d->fo)
		return;
	qb_loop_timer_del(d->loop, d->fo->timer);
	qb_loop_timer_del(d->loop, d->fo->beat_timer);
	if (d->fo->exit_held)
		qb_loop_timer_del(d->loop, d->fo->exit_timer);
	if (d->fo->kick_armed)
		qb_loop_timer_del(d->loop, d->fo->kick_timer);
	free(d->fo->destroyed);
	free(d->fo);
	d->fo = NULL;
}

/* ---- applied messages ---- */

void failover_on_applied(struct droverd *d, uint32_t from, bool from_self,
			 const Drover__Envelope *env, int r)
{
	char name[NODE_NAME_MAX];

	(void)from;
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_LEASE_BEAT:
		if (d->fo && env->lease_beat)
			on_beat(d, from_self, env->lease_beat);
		return; /* an observation: no round to kick */
	case DROVER__ENVELOPE__BODY_VM_PLACED:
		if (from_self && env->vm_placed->vm)
			vm_actions_drop_undelivered(d, env->vm_placed->vm);
		if (r == 1)
			log_info("VM '%s': owner %s, %s%s%s", env->vm_placed->vm,
				 env->vm_placed->owner ? name_of(d, env->vm_placed->owner, name,
								 sizeof(name))
						       : "none",
				 vm_want_name(env->vm_placed->want), *env->vm_placed->reason ? ": " : "",
				 env->vm_placed->reason);
		break;
	case DROVER__ENVELOPE__BODY_NODE_LOST:
		if (r == 1)
			log_warn("node %s is lost: fencing it before its VMs run elsewhere",
				 name_of(d, env->node_lost->node, name, sizeof(name)));
		break;
	case DROVER__ENVELOPE__BODY_FENCE_RESULT: {
		const Drover__FenceResult *m = env->fence_result;

		if (r == 1 && m->ok)
			log_notice("node %s is fenced (%s): its VMs may now run elsewhere",
				   name_of(d, m->node, name, sizeof(name)),
				   m->by_operator ? "confirmed off by an operator" : m->device);
		else if (r == 1)
			log_err("node %s is NOT fenced: %s", name_of(d, m->node, name, sizeof(name)),
				m->error);
		if (from_self && m->request_id)
			ctl_request_done(d, m->request_id,
					 r >= 0 ? 0 : r == -EPERM ? DROVER_EXIT_UNSAFE : DROVER_EXIT_ERROR,
					 r == -EPERM ? "the node is a member of the cluster: it is not off"
						     : r < 0 ? "the cluster refused the confirmation" : "");
		break;
	}
	case DROVER__ENVELOPE__BODY_NODE_UNFENCED:
		if (r == 1)
			log_notice("node %s is back and holds no second copy: usable again",
				   name_of(d, env->node_unfenced->node, name, sizeof(name)));
		break;
	default:
		break;
	}
	failover_kick(d);
}

/* ---- `drover node confirm-off NODE` ---- */

void failover_ctl_confirm_off(struct droverd *d, qb_ipcs_connection_t *c,
			      const Drover__CtlRequest *req)
{
	const Drover__NodeConfirmOffRequest *m = req->confirm_off;
	const struct known_node *k = m && m->node ? links_find_by_name(d, m->node) : NULL;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__FenceResult fr = DROVER__FENCE_RESULT__INIT;
	char what[96];

	if (!k) {
		ctl_reply_error(c, DROVER_EXIT_NOSUCH, "no such node in corosync's nodelist");
		return;
	}
	if (k->id == d->local_id || droverd_is_member(d, k->id) || cs_member(d, k->id)) {
		ctl_reply_error(c, DROVER_EXIT_UNSAFE,
				"the node is a member of the cluster: it is not off; refusing");
		return;
	}
	if (ctl_change_refused(d, c))
		return;
	fr.node = k->id;
	fr.ok = true;
	fr.device = "operator";
	fr.error = "";
	fr.at_ms = wall_ms();
	fr.by_operator = true;
	fr.request_id = ++d->next_request_id;
	env.body_case = DROVER__ENVELOPE__BODY_FENCE_RESULT;
	env.fence_result = &fr;
	log_warn("an operator confirms that node %s is off", k->name);
	snprintf(what, sizeof(what), "confirm-off %s", k->name);
	ctl_submit_change(d, c, &env, fr.request_id, what);
}
