/*
 * drover-sim: scenarios against replicas made of the real core.
 *
 * Each simulated node is a replica of droverd's state machine built from the
 * very functions droverd calls (daemon/core/): the apply-time gate
 * (apply_gate.c), state_apply() with its jobs and operations, the state
 * exchange (sync.c) with its terms, the configuration quorum rule
 * (quorum_rule.c), the observation table (observe.c), the VM location rule
 * (locate.c) and the coordinator's VM decision (vmdecide.c). Messages are
 * real envelopes, framed with frame_encode() and decoded by each receiver.
 * What the simulator stands in for: corosync (one totally ordered bus;
 * configurations are the nodes whose droverd runs, per partition group),
 * the agents and hypervisors (each host's truth: the domains it runs), the
 * CLI (operator commands) and time (ticks).
 *
 * After every event it checks the invariants: no VM runs on two hosts; no
 * start is decided for a VM a host runs; the synchronised members of one
 * configuration hold one state. A violation is logged as "VIOLATION" and
 * makes the exit status 2. The log (decisions, applied and dropped changes,
 * answers, memberships, exchanges) goes to stdout; with --expect FILE it is
 * compared with FILE and the first difference fails the run (exit 1).
 *
 * Scenario lines (tests/sim/scenarios/NAME.sim), one event each; '#' comments:
 *   nodes N                      N nodes n1..nN, droverd and agent up, one group
 *   vm NAME NODE [stopped]       a VM registered with home NODE, running there unless stopped
 *   boot-all [quiet]             every droverd starts (quiet: before any agent reports)
 *   vm-add NODE NAME             the operator registers NAME via NODE's CLI
 *   start|stop NODE VM           `drover vm start|stop VM` on NODE
 *   migrate NODE VM TARGET       `drover vm migrate VM --to TARGET` on NODE
 *   partition 1,2|3              groups; messages on the bus are delivered within
 *                                each side first (in the old configuration)
 *   heal                         one group again
 *   kill NODE                    the host powers off: its guests and droverd are gone
 *   boot NODE                    the host and droverd start (droverd from its disk copy)
 *   restart NODE                 droverd restarts (from its disk copy); guests keep running
 *   agent NODE down|up           its agent fails (reports so) or works again
 *   drain NODE                   `drover node drain NODE` on NODE (its reported VMs)
 *   link NODE mig-a|mig-b up|down  NODE's link on a migration network
 *   random SEED N                N events drawn at random (see run_random())
 *   tick [N]                     time passes: agent jobs finish, inventories are sent,
 *                                held requests are decided again or expire
 *   expect VM on NODE|nowhere    the hypervisors' truth, checked (a failure is a VIOLATION)
 *   fence device|fail            failover on (off by default): the coordinator marks a node
 *                                that left its configuration lost, fences it (device: the
 *                                host powers off at once; fail: every attempt fails), and
 *                                recovers its VMs with recover_decide() (core/recover.h)
 *   confirm-off VIA NODE         `drover node confirm-off NODE` on VIA
 *   vm NAME NODE [stopped] [high|medium|low|none]  (priority, default medium)
 * A trailing '&' leaves the bus undelivered until the next event.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_gate.h"
#include "coord.h"
#include "coord_msgs.h"
#include "exitcode.h"
#include "frame.h"
#include "locate.h"
#include "names.h"
#include "observe.h"
#include "quorum_rule.h"
#include "recover.h"
#include "state.h"
#include "sync.h"
#include "util.h"
#include "vmdecide.h"

#define MAX_NODES 9
#define MAX_VMS 32
#define MAX_BUS 4096
#define MAX_HELD 16
#define MAX_JOBS 16
#define HOLD_TICKS 3
#define HOST_MIB 4096
#define N_NETS 2
#define MAX_MIGS 16

static const char *const net_names[N_NETS] = { "mig-a", "mig-b" };

/* A migration job this node executes as its source (drain.c's job_exec). */
struct mig_job {
	uint64_t job_id;
	char vm[DROVER_VM_NAME_MAX];
	uint32_t target;
	char network[QUEUE_NAME_MAX];
};

struct held {
	Drover__VmActionKind kind;
	char vm[DROVER_VM_NAME_MAX];
	uint32_t origin;
	uint64_t request_id;
	int expires;  /* tick */
	bool logged;  /* its hold was logged once */
};

struct agent_job {
	uint64_t op_id;
	Drover__VmActionKind kind;
	char vm[DROVER_VM_NAME_MAX];
	uint32_t origin;
	uint64_t request_id;
};

struct replica {
	uint32_t id;
	char name[8];
	bool up;                       /* droverd runs */
	struct cluster_state state;
	struct cluster_state disk;     /* what its state file holds */
	struct sync_round sync;
	bool synced;
	bool config_quorate;
	size_t n_members;
	uint32_t members[MAX_NODES];
	struct node_obs obs[OBS_TABLE_SIZE];
	uint64_t next_request;
	size_t n_held;
	struct held held[MAX_HELD];
	size_t n_undelivered;
	char undelivered[MAX_HELD][DROVER_VM_NAME_MAX];
	size_t n_jobs;                 /* its agent's jobs in progress */
	struct agent_job jobs[MAX_JOBS];
	size_t n_migs;                 /* migrations it executes as a source */
	struct mig_job migs[MAX_MIGS];
	size_t n_aborted;              /* as coordinator: jobs whose abort it asked */
	uint64_t aborted[MAX_MIGS];
	int fenced_at[MAX_NODES + 1];  /* as coordinator: the tick it last fenced a node (+1) */
	int lost_at[MAX_NODES + 1];    /* as coordinator: the tick it sent NodeLost (+1) */
	int unfenced_at[MAX_NODES + 1];
	size_t n_awaiting;             /* its CLI's `vm migrate`s waiting for their job's end */
	char awaiting[MAX_HELD][DROVER_VM_NAME_MAX];
};

struct host {
	bool powered;
	bool agent_up;
	size_t n_running;
	char running[MAX_VMS][DROVER_VM_NAME_MAX];
	int group;
	bool net_down[N_NETS];         /* its link on that migration network is cut */
};

struct bus_msg {
	uint32_t from;
	uint8_t *buf;
	size_t len;
};

static struct sim {
	size_t n;
	struct replica r[MAX_NODES];
	struct host h[MAX_NODES];
	size_t bus_head, bus_tail;
	struct bus_msg bus[MAX_BUS];
	int tick;
	int violations;
	FILE *out;
	char (*expect)[512];
	size_t n_expect, line_no;
	bool mismatch;
	int scenario_line;
	bool quiet;     /* boot-all quiet: no agent reports yet */
	int fence;      /* 0: failover off; 1: fence devices work; 2: they fail */
} S;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(S.out, "%s\n", line);
	if (S.expect && !S.mismatch) {
		if (S.line_no >= S.n_expect || strcmp(S.expect[S.line_no], line) != 0) {
			fprintf(stderr, "drover-sim: log line %zu differs (scenario line %d)\n  expected: %s\n  got:      %s\n",
				S.line_no + 1, S.scenario_line,
				S.line_no < S.n_expect ? S.expect[S.line_no] : "(end of file)", line);
			S.mismatch = true;
		}
	}
	S.line_no++;
}

#define LOG(...) logf_(__VA_ARGS__)

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	char line[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	LOG("VIOLATION: %s", line);
	S.violations++;
}

static struct replica *rep(uint32_t id)
{
	return id >= 1 && id <= S.n ? &S.r[id - 1] : NULL;
}

static const char *nm(uint32_t id)
{
	static char buf[4][16];
	static int k;

	if (id >= 1 && id <= S.n)
		return S.r[id - 1].name;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "node%u", id);
	return buf[k];
}

/* ---- the hypervisors' truth ---- */

static bool host_runs(uint32_t id, const char *vm)
{
	struct host *h = &S.h[id - 1];

	for (size_t i = 0; i < h->n_running; i++)
		if (strcmp(h->running[i], vm) == 0)
			return true;
	return false;
}

static void host_set(uint32_t id, const char *vm, bool run)
{
	struct host *h = &S.h[id - 1];

	for (size_t i = 0; i < h->n_running; i++)
		if (strcmp(h->running[i], vm) == 0) {
			if (!run)
				memmove(h->running[i], h->running[i + 1],
					(--h->n_running - i) * sizeof(h->running[0]));
			return;
		}
	if (run && h->n_running < MAX_VMS)
		strscpy(h->running[h->n_running++], vm, DROVER_VM_NAME_MAX);
}

/* ---- the bus: corosync's agreed order ---- */

static void send(struct replica *r, Drover__Envelope *env)
{
	struct bus_msg *m;

	if (!r->up || S.bus_tail - S.bus_head >= MAX_BUS)
		return;
	m = &S.bus[S.bus_tail++ % MAX_BUS];
	m->from = r->id;
	if (frame_encode(env, &m->buf, &m->len) < 0) {
		violation("%s could not frame a message", r->name);
		S.bus_tail--;
	}
}

static void send_inventory(struct replica *r)
{
	struct host *h = &S.h[r->id - 1];
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NodeInventory m = DROVER__NODE_INVENTORY__INIT;
	Drover__AgentInventory inv = DROVER__AGENT_INVENTORY__INIT;
	Drover__AgentDomain doms[MAX_VMS], *ptrs[MAX_VMS];

	for (size_t i = 0; i < h->n_running; i++) {
		drover__agent_domain__init(&doms[i]);
		doms[i].name = h->running[i];
		doms[i].state = DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING;
		ptrs[i] = &doms[i];
	}
	inv.n_domains = h->n_running;
	inv.domains = ptrs;
	inv.memory_mib = HOST_MIB;
	inv.vcpus = 16;
	m.inventory = &inv;
	m.agent_ok = h->agent_up;
	m.agent_error = (char *)(h->agent_up ? "" : "inventory failed: the hypervisor does not answer");
	env.body_case = DROVER__ENVELOPE__BODY_NODE_INVENTORY;
	env.node_inventory = &m;
	send(r, &env);
}

static void send_result(struct replica *r, uint64_t op, uint32_t origin, uint64_t request_id,
			int code, const char *error)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmActionResult m = DROVER__VM_ACTION_RESULT__INIT;

	m.action_id = op;
	m.ok = code == 0;
	m.exit_code = code;
	m.error = (char *)(error ? error : "");
	m.origin_node = origin;
	m.request_id = request_id;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_RESULT;
	env.vm_action_result = &m;
	send(r, &env);
}

static void save(struct replica *r)
{
	state_free(&r->disk);
	state_copy(&r->state, &r->disk);
}

static void drain_bus(void);

/* Network k links a and b: both hosts up, on one side of any partition, both links up. */
static bool net_usable(size_t k, uint32_t a, uint32_t b)
{
	const struct host *x = &S.h[a - 1], *y = &S.h[b - 1];

	return k < N_NETS && x->powered && y->powered && x->group == y->group && !x->net_down[k] &&
	       !y->net_down[k];
}

/* ---- the replica: what droverd.c does, with the core's functions ---- */

static uint32_t coordinator(const struct replica *r)
{
	return r->config_quorate && r->synced && r->n_members ? r->members[0] : 0;
}

static void nodelist(struct obs_node *nl)
{
	for (size_t i = 0; i < S.n; i++)
		nl[i] = (struct obs_node){ S.r[i].id, S.r[i].name };
}

static void locate(const struct replica *r, const char *vm, struct locate_result *ret)
{
	struct obs_node nl[MAX_NODES];

	nodelist(nl);
	obs_locate(r->obs, &r->state, nl, S.n, r->members, r->n_members, vm, ret);
}

static bool undelivered_has(const struct replica *r, const char *vm)
{
	for (size_t i = 0; i < r->n_undelivered; i++)
		if (strcmp(r->undelivered[i], vm) == 0)
			return true;
	return false;
}

static const char *kind_name(Drover__VmActionKind k)
{
	return k == DROVER__VM_ACTION_KIND__VM_ACTION_START  ? "start"
	       : k == DROVER__VM_ACTION_KIND__VM_ACTION_STOP ? "stop"
							     : "migrate";
}

/* The coordinator's decision, through vm_decide() as vm_actions.c calls it. */
static void decide(struct replica *r, const struct held *q, bool may_hold)
{
	struct vmd_node nodes[MAX_NODES];
	struct vmd_view v = { .state = &r->state, .n_nodes = S.n, .nodes = nodes };
	struct vmd_request rq = { .kind = q->kind, .vm = q->vm,
				  .in_flight = undelivered_has(r, q->vm),
				  .may_hold = may_hold && r->n_held < MAX_HELD };
	struct locate_result loc;
	struct vmd_decision dec;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction act = DROVER__VM_ACTION__INIT;

	for (size_t i = 0; i < S.n; i++) {
		const struct node_obs *o = obs_find(r->obs, S.r[i].id);
		uint64_t load = 0;

		for (size_t j = 0; o && j < o->n_domains; j++) {
			const struct vm_cfg *c = state_vm_find(&r->state, o->domains[j].name);

			if (c && locate_state_active(o->domains[j].state))
				load += c->memory_mib;
		}
		nodes[i] = (struct vmd_node){ .id = S.r[i].id, .name = S.r[i].name,
					      .member = false, .agent_ok = o && o->agent_ok && o->current,
					      .memory_mib = o ? o->memory_mib : 0, .load_mib = load };
		for (size_t m = 0; m < r->n_members; m++)
			nodes[i].member |= r->members[m] == S.r[i].id;
	}
	locate(r, q->vm, &loc);
	if (vm_decide(&v, &rq, &loc, &dec) < 0) {
		violation("%s could not decide", r->name);
		return;
	}
	if (dec.kind == VMD_HOLD) {
		r->held[r->n_held] = *q;
		if (r->held[r->n_held++].logged)
			return;
		r->held[r->n_held - 1].logged = true;
		LOG("t=%d %s holds: %s %s: %s", S.tick, r->name, kind_name(q->kind), q->vm, dec.message);
		return;
	}
	if (dec.kind == VMD_ANSWER) {
		LOG("t=%d %s answers %s: %s %s: exit %d: %s", S.tick, r->name, nm(q->origin),
		    kind_name(q->kind), q->vm, dec.exit_code, dec.message);
		send_result(r, 0, q->origin, q->request_id, dec.exit_code, dec.message);
		return;
	}
	/* The simulator's own check of the invariant the decision must keep. */
	if (q->kind == DROVER__VM_ACTION_KIND__VM_ACTION_START)
		for (size_t i = 0; i < S.n; i++)
			if (S.h[i].powered && host_runs(S.r[i].id, q->vm))
				violation("%s decided to start %s on %s while %s runs it", r->name, q->vm,
					  nm(dec.node), S.r[i].name);
	act.kind = q->kind;
	act.vm = (char *)q->vm;
	act.node = dec.node;
	act.network = "";
	act.origin_node = q->origin;
	act.request_id = q->request_id;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &act;
	LOG("t=%d %s decides: %s %s on %s", S.tick, r->name, kind_name(q->kind), q->vm,
	    nm(dec.node));
	send(r, &env);
	if (r->n_undelivered < MAX_HELD)
		strscpy(r->undelivered[r->n_undelivered++], q->vm, DROVER_VM_NAME_MAX);
}

static void retry_held(struct replica *r, bool expire)
{
	struct held q[MAX_HELD];
	size_t n = r->n_held;

	memcpy(q, r->held, n * sizeof(q[0]));
	r->n_held = 0;
	for (size_t i = 0; i < n; i++) {
		if (coordinator(r) != r->id) {
			LOG("t=%d %s answers %s: %s %s: exit %d: the coordinator changed; retry", S.tick,
			    r->name, nm(q[i].origin), kind_name(q[i].kind), q[i].vm,
			    DROVER_EXIT_UNAVAILABLE);
			send_result(r, 0, q[i].origin, q[i].request_id, DROVER_EXIT_UNAVAILABLE,
				    "the coordinator changed while the request waited; retry");
			continue;
		}
		decide(r, &q[i], !(expire && S.tick >= q[i].expires));
	}
}

/* Operations that cannot finish by themselves (vm_actions_reconcile). */
static void reconcile(struct replica *r)
{
	if (!r->synced || !r->config_quorate)
		return;
	for (size_t i = 0; i < r->state.n_jobs; i++) {
		const struct queue_job *o = &r->state.jobs[i];
		bool mine = false, member = false;

		if (o->kind == QUEUE_OP_MIGRATE || o->state != QUEUE_JOB_RUNNING)
			continue;
		for (size_t j = 0; j < r->n_jobs; j++)
			mine |= r->jobs[j].op_id == o->id;
		for (size_t m = 0; m < r->n_members; m++)
			member |= r->members[m] == o->source;
		if (o->source == r->id && !mine)
			send_result(r, o->id, o->origin_node, o->request_id, DROVER_EXIT_ERROR,
				    "droverd restarted during the action");
		else if (coordinator(r) == r->id && !member)
			send_result(r, o->id, o->origin_node, o->request_id, DROVER_EXIT_ERROR,
				    "the executing node left the cluster during the action");
	}
}

static void send_job_finish(struct replica *r, uint64_t job_id, bool ok, const char *reason)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobFinish f = DROVER__JOB_FINISH__INIT;

	f.job_id = job_id;
	f.ok = ok;
	f.reason = (char *)reason;
	f.finished_ms = (uint64_t)S.tick * 1000;
	f.bytes = ok ? 1 : 0;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
	env.job_finish = &f;
	send(r, &env);
}

static void sync_done(struct replica *r)
{
	r->synced = true;
	reconcile(r);
	/* A job running from here that we do not execute: droverd restarted under it (drain.c). */
	for (size_t i = 0; i < r->state.n_jobs; i++) {
		const struct queue_job *j = &r->state.jobs[i];
		bool ours = false;

		for (size_t k = 0; k < r->n_migs; k++)
			ours |= r->migs[k].job_id == j->id;
		if (j->kind == QUEUE_OP_MIGRATE && j->state == QUEUE_JOB_RUNNING && j->source == r->id && !ours)
			send_job_finish(r, j->id, false, "droverd on the source restarted during the migration");
	}
}

/* The coordinator's queue work, as drain.c does it: one decision, its messages. */
static bool coordinate_queue(struct replica *r)
{
	static struct queue_view view;
	struct coord_node nodes[OBS_TABLE_SIZE + MAX_NODES];
	const char *names[OBS_TABLE_SIZE][MAX_VMS];
	const char *busy[DROVER_MAX_OPS];
	struct coord_input in;
	struct coord_decision *dec;
	struct coord_msgs *msgs;
	size_t n_nodes = 0;

	if (!r->up || coordinator(r) != r->id) {
		r->n_aborted = 0;
		return false;
	}
	if (!r->state.limits.set) {
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__LimitsSet m = DROVER__LIMITS_SET__INIT;
		Drover__MigrationLimits ml = DROVER__MIGRATION_LIMITS__INIT;

		ml.set = true;
		ml.per_source = 2;
		ml.per_target = 2;
		ml.max_retries = 2;
		m.limits = &ml;
		env.body_case = DROVER__ENVELOPE__BODY_LIMITS_SET;
		env.limits_set = &m;
		send(r, &env);
		return true;
	}
	queue_view_init(&view);
	view.limits.per_source = r->state.limits.per_source;
	view.limits.per_target = r->state.limits.per_target;
	view.limits.cluster = r->state.limits.cluster;
	for (size_t i = 0; i < S.n; i++) {
		const struct node_obs *o = obs_find(r->obs, S.r[i].id);
		struct queue_node qn;
		uint64_t load = 0;
		bool member = false;

		for (size_t m = 0; m < r->n_members; m++)
			member |= r->members[m] == S.r[i].id;
		for (size_t j = 0; o && j < o->n_domains; j++)
			if (state_vm_find(&r->state, o->domains[j].name) &&
			    locate_state_active(o->domains[j].state))
				load += 512;
		memset(&qn, 0, sizeof(qn));
		qn.id = S.r[i].id;
		strscpy(qn.name, S.r[i].name, sizeof(qn.name));
		qn.online = member && o && o->agent_ok;
		qn.usable_target = qn.online && state_node_get(&r->state, qn.id) ==
							DROVER__NODE_STATE__NODE_STATE_ACTIVE;
		qn.free_mib = o && o->memory_mib > load ? o->memory_mib - load : 0;
		qn.free_vcpus = 64;
		queue_view_add_node(&view, &qn);
	}
	for (size_t k = 0; k < N_NETS; k++) {
		queue_view_add_network(&view, net_names[k], 0);
		for (uint32_t a = 1; a <= S.n; a++)
			for (uint32_t b = a + 1; b <= S.n; b++)
				if (net_usable(k, a, b))
					queue_view_set_usable(&view, k, a, b, true);
	}
	for (size_t i = 0; i < OBS_TABLE_SIZE; i++) {
		const struct node_obs *o = &r->obs[i];
		struct coord_node *cn;

		if (!o->node_id)
			continue;
		cn = &nodes[n_nodes];
		memset(cn, 0, sizeof(*cn));
		cn->id = o->node_id;
		for (size_t m = 0; m < r->n_members; m++)
			cn->member |= r->members[m] == o->node_id;
		cn->agent_ok = o->agent_ok;
		cn->vms = names[n_nodes];
		for (size_t j = 0; j < o->n_domains && cn->n_vms < MAX_VMS; j++)
			if (locate_state_active(o->domains[j].state))
				names[n_nodes][cn->n_vms++] = o->domains[j].name;
		n_nodes++;
	}
	memset(&in, 0, sizeof(in));
	/* As drain.c's input_build(): VMs a start or a stop is under way for. */
	for (size_t i = 0; i < r->state.n_jobs && in.n_busy < DROVER_MAX_OPS; i++)
		if (r->state.jobs[i].kind != QUEUE_OP_MIGRATE &&
		    r->state.jobs[i].state == QUEUE_JOB_RUNNING)
			busy[in.n_busy++] = r->state.jobs[i].vm;
	in.state = &r->state;
	in.view = &view;
	in.n_nodes = n_nodes;
	in.nodes = nodes;
	in.busy = busy;
	in.n_aborted = r->n_aborted;
	in.aborted = r->aborted;
	in.now_ms = (uint64_t)S.tick * 1000 + 100000;
	dec = calloc(1, sizeof(*dec));
	msgs = calloc(1, sizeof(*msgs));
	if (coord_decide(&in, dec) < 0) {
		violation("%s: coord_decide failed", r->name);
		free(dec), free(msgs);
		return false;
	}
	coord_messages(dec, in.now_ms, msgs);
	if (dec->kind == COORD_ABORT && r->n_aborted < MAX_MIGS)
		r->aborted[r->n_aborted++] = dec->job_id;
	if (dec->kind == COORD_ABORT || dec->kind == COORD_FINISH)
		LOG("t=%d %s decides: %s job %llu: %s", S.tick, r->name,
		    dec->kind == COORD_ABORT ? "abort" : "end", (unsigned long long)dec->job_id,
		    dec->reason);
	for (size_t i = 0; i < msgs->n; i++)
		send(r, &msgs->env[i]);
	n_nodes = msgs->n;
	free(dec);
	free(msgs);
	return n_nodes > 0;
}

/* Let every coordinator decide until it has nothing more to say (bounded). */
static void droverd_stop(struct replica *r);
static void reconfigure(void);

/* Gone as a host from r's view: powered off, or on the other side of a partition. */
static bool host_gone(const struct replica *r, uint32_t id)
{
	return !S.h[id - 1].powered || S.h[id - 1].group != S.h[r->id - 1].group;
}

static bool is_member(const struct replica *r, uint32_t id)
{
	for (size_t i = 0; i < r->n_members; i++)
		if (r->members[i] == id)
			return true;
	return false;
}

static int sim_locate(const void *ctx, const char *vm, struct locate_result *ret)
{
	locate(ctx, vm, ret);
	return 0;
}

static void mark_undelivered(struct replica *r, const char *vm)
{
	if (r->n_undelivered < MAX_HELD)
		strscpy(r->undelivered[r->n_undelivered++], vm, DROVER_VM_NAME_MAX);
}

static void send_vm_action(struct replica *r, const struct rec_action *a,
			   Drover__VmActionKind kind, Drover__VmActionCause cause)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction act = DROVER__VM_ACTION__INIT;

	act.kind = kind;
	act.vm = (char *)a->vm;
	act.node = a->node;
	act.network = "";
	act.cause = cause;
	act.for_vm = (char *)a->for_vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &act;
	LOG("t=%d %s decides: %s %s on %s%s%s", S.tick, r->name, rec_kind_name(a->kind), a->vm,
	    nm(a->node), *a->for_vm ? " for " : "", a->for_vm);
	send(r, &env);
	mark_undelivered(r, a->vm);
}

/* failover.c's round, as the simulated coordinator runs it. true if it sent anything. */
static bool coordinate_failover(struct replica *r)
{
	struct rec_node nodes[MAX_NODES];
	struct rec_action acts[64];
	struct rec_view v;
	bool sent = false;
	int n;

	if (!S.fence || !r->up || coordinator(r) != r->id)
		return false;
	for (uint32_t id = 1; id <= S.n; id++) {
		Drover__FenceState st = state_node_fence(&r->state, id);
		Drover__Envelope env = DROVER__ENVELOPE__INIT;

		if (id == r->id)
			continue;
		if (host_gone(r, id) && st == DROVER__FENCE_STATE__FENCE_STATE_NONE &&
		    r->lost_at[id] != S.tick + 1) {
			Drover__NodeLost m = DROVER__NODE_LOST__INIT;

			m.node = id;
			m.reason = "left the configuration";
			env.body_case = DROVER__ENVELOPE__BODY_NODE_LOST;
			env.node_lost = &m;
			LOG("t=%d %s decides: %s is lost", S.tick, r->name, nm(id));
			send(r, &env);
			r->lost_at[id] = S.tick + 1;
			sent = true;
		} else if (host_gone(r, id) && r->fenced_at[id] != S.tick + 1 &&
			   (st == DROVER__FENCE_STATE__FENCE_STATE_PENDING ||
			    st == DROVER__FENCE_STATE__FENCE_STATE_FAILED)) {
			Drover__FenceResult m = DROVER__FENCE_RESULT__INIT;

			r->fenced_at[id] = S.tick + 1;
			m.node = id;
			m.ok = S.fence == 1;
			m.device = m.ok ? "device1 (sim)" : "";
			m.error = m.ok ? "" : "device1 (sim): exit 1";
			if (m.ok && S.h[id - 1].powered) {
				/* The device powers the host off, wherever it is. */
				LOG("t=%d %s fences %s: powered off", S.tick, r->name, nm(id));
				S.h[id - 1].powered = false;
				S.h[id - 1].n_running = 0;
				droverd_stop(rep(id));
				reconfigure();
			}
			env.body_case = DROVER__ENVELOPE__BODY_FENCE_RESULT;
			env.fence_result = &m;
			send(r, &env);
			sent = true;
		} else if (!host_gone(r, id) && st != DROVER__FENCE_STATE__FENCE_STATE_NONE &&
			   is_member(r, id) && r->unfenced_at[id] != S.tick + 1) {
			const struct node_obs *o = obs_find(r->obs, id);
			bool second = false;
			Drover__NodeUnfenced m = DROVER__NODE_UNFENCED__INIT;

			if (!o || !o->current || !o->agent_ok)
				continue;
			for (size_t k = 0; k < o->n_domains; k++) {
				struct locate_result l;

				locate(r, o->domains[k].name, &l);
				second |= l.n_also > 0 || state_op_for_vm(&r->state, o->domains[k].name);
			}
			if (second && st == DROVER__FENCE_STATE__FENCE_STATE_FENCED)
				continue;
			m.node = id;
			env.body_case = DROVER__ENVELOPE__BODY_NODE_UNFENCED;
			env.node_unfenced = &m;
			send(r, &env);
			r->unfenced_at[id] = S.tick + 1;
			sent = true;
		}
	}
	if (!r->up || coordinator(r) != r->id)
		return sent;
	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < S.n; i++) {
		const struct node_obs *o = obs_find(r->obs, S.r[i].id);
		struct rec_node *rn = &nodes[i];

		memset(rn, 0, sizeof(*rn));
		rn->id = S.r[i].id;
		rn->usable = is_member(r, rn->id) && o && o->current && o->agent_ok &&
			     state_node_get(&r->state, rn->id) == DROVER__NODE_STATE__NODE_STATE_ACTIVE &&
			     state_node_fence(&r->state, rn->id) == DROVER__FENCE_STATE__FENCE_STATE_NONE;
		if (!o)
			continue;
		rn->memory_mib = o->memory_mib;
		rn->vcpus = o->vcpus;
		for (size_t k = 0; k < o->n_domains; k++) {
			const struct vm_cfg *vm = state_vm_find(&r->state, o->domains[k].name);

			if (vm && locate_state_active(o->domains[k].state)) {
				rn->load_mib += vm->memory_mib;
				rn->load_vcpus += vm->vcpus;
			}
		}
	}
	v.state = &r->state;
	v.n_nodes = S.n;
	v.nodes = nodes;
	v.locate = sim_locate;
	v.locate_ctx = r;
	v.max_starts = 2;
	n = recover_decide(&v, acts, 64);
	for (int i = 0; i < n; i++) {
		const struct rec_action *a = &acts[i];

		if (a->kind == REC_WAIT || undelivered_has(r, a->vm))
			continue;
		sent = true;
		if (a->kind == REC_PLACE) {
			Drover__Envelope env = DROVER__ENVELOPE__INIT;
			Drover__VmPlaced m = DROVER__VM_PLACED__INIT;

			m.vm = (char *)a->vm;
			m.owner = a->owner;
			m.want = a->want;
			m.reason = (char *)a->reason;
			env.body_case = DROVER__ENVELOPE__BODY_VM_PLACED;
			env.vm_placed = &m;
			send(r, &env);
			mark_undelivered(r, a->vm);
		} else if (a->kind == REC_START) {
			send_vm_action(r, a, DROVER__VM_ACTION_KIND__VM_ACTION_START,
				       DROVER__VM_ACTION_CAUSE__VM_CAUSE_RECOVERY);
		} else if (a->kind == REC_PREEMPT) {
			send_vm_action(r, a, DROVER__VM_ACTION_KIND__VM_ACTION_STOP,
				       DROVER__VM_ACTION_CAUSE__VM_CAUSE_PREEMPT);
		} else if (a->kind == REC_DESTROY) {
			send_vm_action(r, a, DROVER__VM_ACTION_KIND__VM_ACTION_STOP,
				       DROVER__VM_ACTION_CAUSE__VM_CAUSE_DUPLICATE);
		}
	}
	return sent;
}

static void coordinate_all(void)
{
	for (int round = 0; round < 64; round++) {
		bool sent = false;

		for (size_t i = 0; i < S.n; i++)
			sent |= coordinate_queue(&S.r[i]);
		for (size_t i = 0; i < S.n; i++)
			sent |= coordinate_failover(&S.r[i]);
		if (!sent)
			return;
		drain_bus();
	}
	violation("the coordinator did not settle in 64 decisions");
}

static void on_change(struct replica *r, uint32_t from, const Drover__Envelope *env)
{
	enum apply_verdict v = apply_gate(&r->state, r->members, r->n_members, r->config_quorate,
					  r->synced, from, env);
	int ret;

	if ((env->body_case == DROVER__ENVELOPE__BODY_VM_ACTION ||
	     env->body_case == DROVER__ENVELOPE__BODY_VM_PLACED) && from == r->id)
		for (size_t i = 0; i < r->n_undelivered; i++)
			if (strcmp(r->undelivered[i], env->body_case == DROVER__ENVELOPE__BODY_VM_ACTION
							       ? env->vm_action->vm
							       : env->vm_placed->vm) == 0) {
				memmove(r->undelivered[i], r->undelivered[i + 1],
					(--r->n_undelivered - i) * sizeof(r->undelivered[0]));
				break;
			}
	if (v != APPLY_OK) {
		LOG("t=%d %s drops body %d from %s: %s", S.tick, r->name, (int)env->body_case, nm(from),
		    apply_verdict_text(v));
		return;
	}
	ret = state_apply(&r->state, env);
	if (ret < 0) {
		LOG("t=%d %s rejects body %d from %s: %s", S.tick, r->name, (int)env->body_case,
		    nm(from), strerror(-ret));
		/* vm_actions.c answers the origin of a decision every member refused. */
		if (env->body_case == DROVER__ENVELOPE__BODY_VM_ACTION &&
		    env->vm_action->origin_node == r->id)
			LOG("t=%d cli on %s: %s %s: exit %d: the VM has another operation or a "
			    "migration job", S.tick, r->name, kind_name(env->vm_action->kind),
			    env->vm_action->vm, DROVER_EXIT_UNAVAILABLE);
		return;
	}
	if (ret == 0)
		return;
	save(r);
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_VM_ADD:
		LOG("t=%d %s applies VmAdd %s (term %llu epoch %llu)", S.tick, r->name,
		    env->vm_add->vm->name, (unsigned long long)r->state.term,
		    (unsigned long long)r->state.epoch);
		break;
	case DROVER__ENVELOPE__BODY_VM_ACTION: {
		const Drover__VmAction *a = env->vm_action;
		const struct queue_job *o = state_op_for_vm(&r->state, a->vm);

		obs_touch(r->obs, a->node, a->vm);
		if (o && a->node == r->id && r->n_jobs < MAX_JOBS) {
			struct agent_job *j = &r->jobs[r->n_jobs++];

			j->op_id = o->id;
			j->kind = a->kind;
			strscpy(j->vm, a->vm, sizeof(j->vm));
			j->origin = a->origin_node;
			j->request_id = a->request_id;
		}
		if (r->id == 1 || a->node == r->id)
			LOG("t=%d %s applies: %s %s on %s", S.tick, r->name, kind_name(a->kind), a->vm,
			    nm(a->node));
		break;
	}
	case DROVER__ENVELOPE__BODY_JOB_START: {
		const struct queue_job *j = state_job_find(&r->state, env->job_start->job_id);

		if (!j)
			break;
		obs_touch(r->obs, j->source, j->vm);
		obs_touch(r->obs, j->target, j->vm);
		for (size_t i = 0; i < r->n_aborted; i++)
			if (r->aborted[i] == j->id)
				r->aborted[i] = r->aborted[--r->n_aborted];
		if (j->source == r->id && r->n_migs < MAX_MIGS) {
			struct mig_job *m = &r->migs[r->n_migs++];

			m->job_id = j->id;
			strscpy(m->vm, j->vm, sizeof(m->vm));
			m->target = j->target;
			strscpy(m->network, j->network, sizeof(m->network));
		}
		if (r->id == 1 || j->source == r->id)
			LOG("t=%d %s applies: job %llu %s %s -> %s over %s", S.tick, r->name,
			    (unsigned long long)j->id, j->vm, nm(j->source), nm(j->target), j->network);
		break;
	}
	case DROVER__ENVELOPE__BODY_JOB_FINISH: {
		const struct queue_job *j = state_job_find(&r->state, env->job_finish->job_id);

		if (j && (r->id == 1 || j->source == r->id))
			LOG("t=%d %s applies: job %llu %s %s%s%s", S.tick, r->name, (unsigned long long)j->id,
			    j->vm, queue_job_state_name(j->state), *env->job_finish->reason ? ": " : "",
			    env->job_finish->reason);
		for (size_t i = 0; j && j->state != QUEUE_JOB_QUEUED && i < r->n_awaiting; i++)
			if (strcmp(r->awaiting[i], j->vm) == 0) {
				LOG("t=%d cli on %s: migrate %s: exit %d%s%s", S.tick, r->name, j->vm,
				    j->state == QUEUE_JOB_DONE ? 0 : DROVER_EXIT_ERROR, j->error[0] ? ": " : "",
				    j->error);
				memmove(r->awaiting[i], r->awaiting[i + 1],
					(--r->n_awaiting - i) * sizeof(r->awaiting[0]));
				break;
			}
		break;
	}
	case DROVER__ENVELOPE__BODY_JOBS_ADD:
		if (r->id == 1 || from == r->id)
			LOG("t=%d %s applies: %zu job(s) queued, %zu unfinished", S.tick, r->name,
			    env->jobs_add->n_jobs, state_jobs_unfinished(&r->state));
		break;
	case DROVER__ENVELOPE__BODY_JOBS_CANCEL:
		if (r->id == 1 || from == r->id)
			LOG("t=%d %s applies: jobs cancelled: %s", S.tick, r->name, env->jobs_cancel->reason);
		break;
	case DROVER__ENVELOPE__BODY_SET_NODE_STATE:
		if (r->id == 1 || from == r->id)
			LOG("t=%d %s applies: %s is %s", S.tick, r->name, nm(env->set_node_state->node_id),
			    node_state_name(env->set_node_state->state));
		break;
	case DROVER__ENVELOPE__BODY_NODE_LOST:
		if (r->id == coordinator(r))
			LOG("t=%d %s applies: %s is lost", S.tick, r->name, nm(env->node_lost->node));
		break;
	case DROVER__ENVELOPE__BODY_FENCE_RESULT:
		if (r->id == coordinator(r) || from == r->id)
			LOG("t=%d %s applies: %s %s%s%s", S.tick, r->name, nm(env->fence_result->node),
			    env->fence_result->ok ? "fenced by " : "not fenced: ",
			    env->fence_result->ok ? env->fence_result->device : "",
			    env->fence_result->error);
		break;
	case DROVER__ENVELOPE__BODY_VM_PLACED:
		if (r->id == coordinator(r))
			LOG("t=%d %s applies: %s owner %s, %s", S.tick, r->name, env->vm_placed->vm,
			    env->vm_placed->owner ? nm(env->vm_placed->owner) : "none",
			    vm_want_name(env->vm_placed->want));
		break;
	case DROVER__ENVELOPE__BODY_NODE_UNFENCED:
		if (r->id == coordinator(r))
			LOG("t=%d %s applies: %s is usable again", S.tick, r->name,
			    nm(env->node_unfenced->node));
		break;
	case DROVER__ENVELOPE__BODY_VM_ACTION_RESULT: {
		/* Ended, and kept a while in the table: whose client asked. */
		const struct queue_job *o = state_op_find(&r->state, env->vm_action_result->action_id);

		if (o && o->origin_node == r->id)
			LOG("t=%d cli on %s: %s %s: exit %d%s%s", S.tick, r->name,
			    state_op_kind_name(o->kind), o->vm, env->vm_action_result->exit_code,
			    *env->vm_action_result->error ? ": " : "", env->vm_action_result->error);
		break;
	}
	default:
		break;
	}
}

static void on_full(struct replica *r, uint32_t from, const Drover__StateFull *full)
{
	struct cluster_state s;

	if (!sync_awaits_full(&r->sync, from))
		return;
	if (!full->state || state_from_proto(full->state, &s) < 0 ||
	    !sync_full_matches(&r->sync, s.epoch, state_hash(&s))) {
		LOG("t=%d %s: the full state from %s is invalid", S.tick, r->name, nm(from));
		sync_on_full_invalid(&r->sync, r->id, from);
		return;
	}
	sync_on_full(&r->sync, from);
	if (state_hash(&s) != state_hash(&r->state)) {
		LOG("t=%d %s adopts %s's state (term %llu epoch %llu; had term %llu epoch %llu)",
		    S.tick, r->name, nm(from), (unsigned long long)s.term, (unsigned long long)s.epoch,
		    (unsigned long long)r->state.term, (unsigned long long)r->state.epoch);
		state_free(&r->state);
		r->state = s;
		save(r);
	} else {
		state_free(&s);
	}
	sync_done(r);
}

static void deliver(struct replica *r, uint32_t from, const Drover__Envelope *env)
{
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_STATE_DIGEST: {
		const Drover__StateDigest *dg = env->state_digest;

		switch (sync_on_digest(&r->sync, r->id, from, dg->term, dg->epoch, dg->hash)) {
		case SYNC_DONE:
			sync_done(r);
			break;
		case SYNC_SEND_FULL: {
			Drover__Envelope e = DROVER__ENVELOPE__INIT;
			Drover__StateFull full = DROVER__STATE_FULL__INIT;
			Drover__ClusterState cs;
			struct state_proto_storage st;

			state_to_proto(&r->state, &cs, &st);
			full.state = &cs;
			e.body_case = DROVER__ENVELOPE__BODY_STATE_FULL;
			e.state_full = &full;
			send(r, &e);
			state_proto_storage_free(&st);
			break;
		}
		default:
			break;
		}
		break;
	}
	case DROVER__ENVELOPE__BODY_STATE_FULL:
		on_full(r, from, env->state_full);
		break;
	case DROVER__ENVELOPE__BODY_NODE_INVENTORY:
		obs_on_inventory(r->obs, &r->state, from, env->node_inventory);
		if (r->n_held && coordinator(r) == r->id)
			retry_held(r, false);
		break;
	case DROVER__ENVELOPE__BODY_VM_REQUEST: {
		const Drover__VmRequest *m = env->vm_request;
		struct held q = { .kind = m->kind, .origin = from,
				  .request_id = m->request_id, .expires = S.tick + HOLD_TICKS };

		if (coordinator(r) != r->id)
			break;
		strscpy(q.vm, m->vm ? m->vm : "", sizeof(q.vm));
		decide(r, &q, true);
		break;
	}
	case DROVER__ENVELOPE__BODY_JOB_ABORT:
		/* The source aborts its migration; its JobFinish re-queues the job. */
		for (size_t i = 0; i < r->n_migs; i++)
			if (r->migs[i].job_id == env->job_abort->job_id && from == r->members[0]) {
				Drover__Envelope e = DROVER__ENVELOPE__INIT;
				Drover__JobFinish f = DROVER__JOB_FINISH__INIT;

				f.job_id = r->migs[i].job_id;
				f.reason = env->job_abort->reason;
				f.finished_ms = (uint64_t)S.tick * 1000;
				e.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
				e.job_finish = &f;
				send(r, &e);
				r->migs[i] = r->migs[--r->n_migs];
				break;
			}
		break;
	case DROVER__ENVELOPE__BODY_VM_ACTION_RESULT:
		if (!env->vm_action_result->action_id) {
			if (env->vm_action_result->origin_node == r->id)
				LOG("t=%d cli on %s: exit %d: %s", S.tick, r->name,
				    env->vm_action_result->exit_code, env->vm_action_result->error);
			break;
		}
		on_change(r, from, env);
		break;
	default:
		if (apply_gate_is_change(env))
			on_change(r, from, env);
		break;
	}
}

/* Deliver everything on the bus; within its own group only (a partition's first moments). */
static void drain_bus(void)
{
	while (S.bus_head != S.bus_tail) {
		struct bus_msg *m = &S.bus[S.bus_head++ % MAX_BUS];
		struct replica *src = rep(m->from);

		for (size_t i = 0; i < S.n; i++) {
			struct replica *r = &S.r[i];
			Drover__Envelope *env = NULL;
			bool member = false;

			/* The sender's configuration, as the receiver holds it. */
			for (size_t k = 0; k < r->n_members; k++)
				member |= r->members[k] == m->from;
			if (!r->up || !member || S.h[i].group != S.h[m->from - 1].group || !src)
				continue;
			if (frame_decode(m->buf, m->len, &env) < 0) {
				violation("%s could not decode a message from %s", r->name, nm(m->from));
				continue;
			}
			deliver(r, m->from, env);
			frame_free(env);
		}
		free(m->buf);
	}
}

static void log_membership(const struct replica *r, uint32_t votes, uint32_t expected)
{
	char list[64] = "";
	size_t off = 0;

	for (size_t i = 0; i < r->n_members && off < sizeof(list) - 4; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? " " : "",
					nm(r->members[i]));
	LOG("t=%d %s: membership [%s] %s (%u/%u votes), term %llu", S.tick, r->name, list,
	    r->config_quorate ? "quorate" : "not quorate", votes, expected,
	    (unsigned long long)r->state.term);
}

/* Recompute every configuration; members whose view changed get a confchg. */
static void reconfigure(void)
{
	struct quorum_voter voters[MAX_NODES];

	for (size_t i = 0; i < S.n; i++)
		voters[i] = (struct quorum_voter){ S.r[i].id, 1 };
	for (size_t i = 0; i < S.n; i++) {
		struct replica *r = &S.r[i];
		uint32_t members[MAX_NODES], joined[MAX_NODES], votes, expected;
		size_t n = 0, nj = 0;
		bool self_joined = r->n_members == 0, same = true;

		if (!r->up)
			continue;
		for (size_t k = 0; k < S.n; k++)
			if (S.r[k].up && S.h[k].group == S.h[i].group)
				members[n++] = S.r[k].id;
		for (size_t k = 0; k < n; k++) {
			bool had = false;

			for (size_t m = 0; m < r->n_members; m++)
				had |= r->members[m] == members[k];
			if (!had)
				joined[nj++] = members[k];
		}
		same = n == r->n_members && nj == 0;
		if (same)
			continue;
		memcpy(r->members, members, n * sizeof(members[0]));
		r->n_members = n;
		r->n_undelivered = 0;
		r->config_quorate = quorum_rule_quorate(voters, S.n, 0, members, n, &votes, &expected);
		obs_on_confchg(r->obs, members, n, joined, nj, self_joined);
		if (r->config_quorate) {
			state_term_bump(&r->state);
			save(r);
		}
		log_membership(r, votes, expected);
		if (nj || r->sync.active || !r->synced) {
			Drover__Envelope env = DROVER__ENVELOPE__INIT;
			Drover__StateDigest dg = DROVER__STATE_DIGEST__INIT;

			r->synced = false;
			sync_begin(&r->sync, members, n);
			dg.term = r->state.term;
			dg.epoch = r->state.epoch;
			dg.hash = state_hash(&r->state);
			env.body_case = DROVER__ENVELOPE__BODY_STATE_DIGEST;
			env.state_digest = &dg;
			send(r, &env);
		}
		/* Observations are not exchanged: joiners get every agent's report again. */
		if (nj && S.h[i].powered && !S.quiet)
			send_inventory(r);
		if (r->n_held)
			retry_held(r, false);
		reconcile(r);
	}
}

static void droverd_start(struct replica *r)
{
	r->up = true;
	state_free(&r->state);
	state_copy(&r->disk, &r->state);
	r->n_members = 0;
	r->synced = false;
	r->config_quorate = false;
	r->n_held = r->n_undelivered = r->n_jobs = 0;
	obs_free(r->obs);
	memset(&r->sync, 0, sizeof(r->sync));
}

static void droverd_stop(struct replica *r)
{
	r->up = false;
	r->n_members = 0;
	r->n_jobs = 0;
	r->n_migs = 0;
	r->n_aborted = 0;
}

/* ---- operator commands (the CLI and its droverd's checks) ---- */

static bool cli_refused(struct replica *r, const char *what)
{
	if (!r->up) {
		LOG("t=%d cli on %s: %s: exit %d: droverd is not running", S.tick, r->name, what,
		    DROVER_EXIT_NOT_CONNECTED);
		return true;
	}
	if (!r->config_quorate) {
		LOG("t=%d cli on %s: %s: exit %d: no quorum", S.tick, r->name, what, DROVER_EXIT_QUORUM);
		return true;
	}
	if (!r->synced) {
		LOG("t=%d cli on %s: %s: exit %d: synchronising", S.tick, r->name, what,
		    DROVER_EXIT_UNAVAILABLE);
		return true;
	}
	return false;
}

static void cmd_vm_add(struct replica *r, const char *name)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
	char xml[256];

	if (cli_refused(r, "vm add"))
		return;
	snprintf(xml, sizeof(xml),
		 "<domain><name>%s</name><memory unit='MiB'>512</memory><vcpu>1</vcpu></domain>",
		 name);
	vm.name = (char *)name;
	vm.xml = xml;
	vm.memory_mib = 512;
	vm.vcpus = 1;
	vm.priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	m.vm = &vm;
	m.request_id = ++r->next_request;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	send(r, &env);
}

static void cmd_vm(struct replica *r, Drover__VmActionKind kind, const char *vm, uint32_t target)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmRequest m = DROVER__VM_REQUEST__INIT;

	if (cli_refused(r, kind_name(kind)))
		return;
	m.kind = kind;
	m.vm = (char *)vm;
	m.target_node = target;
	m.network = (char *)"";
	m.request_id = ++r->next_request;
	env.body_case = DROVER__ENVELOPE__BODY_VM_REQUEST;
	env.vm_request = &m;
	send(r, &env);
}

/*
 * `drover vm migrate VM --to TARGET` on NODE: a queue job (ctl_server.c's
 * submit_migration), checked there first; the client's answer comes when the
 * job ends.
 */
static void cmd_migrate(struct replica *r, const char *vm, uint32_t target)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsAdd m = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec spec = DROVER__JOB_SPEC__INIT, *sp = &spec;
	const struct node_obs *o;
	struct locate_result loc;
	bool member = false;

	if (cli_refused(r, "migrate"))
		return;
	o = obs_find(r->obs, target);
	for (size_t i = 0; i < r->n_members; i++)
		member |= r->members[i] == target;
	locate(r, vm, &loc);
	if (state_job_active(&r->state, vm) || state_op_for_vm(&r->state, vm)) {
		LOG("t=%d cli on %s: migrate %s: exit %d: a job or an action in progress", S.tick,
		    r->name, vm, DROVER_EXIT_UNAVAILABLE);
		return;
	}
	if (loc.state != LOCATE_RUNNING) {
		LOG("t=%d cli on %s: migrate %s: exit %d: %s", S.tick, r->name, vm,
		    loc.state == LOCATE_UNKNOWN ? DROVER_EXIT_UNSAFE : DROVER_EXIT_INVALID_PARAM,
		    loc.state == LOCATE_UNKNOWN ? loc.reason : "not running");
		return;
	}
	if (loc.node_id == target) {
		LOG("t=%d cli on %s: migrate %s: exit 0: already runs on %s", S.tick, r->name, vm,
		    nm(target));
		return;
	}
	if (!member || !o || !o->agent_ok || !o->current ||
	    state_node_get(&r->state, target) != DROVER__NODE_STATE__NODE_STATE_ACTIVE) {
		LOG("t=%d cli on %s: migrate %s: exit %d: target %s is not usable", S.tick, r->name, vm,
		    DROVER_EXIT_UNAVAILABLE, nm(target));
		return;
	}
	spec.vm = (char *)vm;
	spec.source = loc.node_id;
	spec.fixed_target = target;
	spec.origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_MANUAL;
	spec.fixed_network = (char *)"";
	m.jobs = &sp;
	m.n_jobs = 1;
	m.created_ms = (uint64_t)S.tick * 1000;
	m.request_id = ++r->next_request;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &m;
	send(r, &env);
	if (r->n_awaiting < MAX_HELD)
		strscpy(r->awaiting[r->n_awaiting++], vm, DROVER_VM_NAME_MAX);
}

/* `drover node drain NODE` on NODE: its state, then a job per VM it reports (ctl_jobs.c). */
static void cmd_drain(struct replica *r)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__SetNodeState ns = DROVER__SET_NODE_STATE__INIT;
	Drover__JobsAdd ja = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec specs[MAX_VMS], *sp[MAX_VMS];
	const struct node_obs *o = obs_find(r->obs, r->id);

	if (cli_refused(r, "node drain"))
		return;
	ns.node_id = r->id;
	ns.state = DROVER__NODE_STATE__NODE_STATE_DRAINING;
	ns.request_id = ++r->next_request;
	env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
	env.set_node_state = &ns;
	send(r, &env);
	for (size_t i = 0; o && i < o->n_domains && ja.n_jobs < MAX_VMS; i++) {
		if (!state_vm_find(&r->state, o->domains[i].name) ||
		    !locate_state_active(o->domains[i].state))
			continue;
		drover__job_spec__init(&specs[ja.n_jobs]);
		specs[ja.n_jobs].vm = o->domains[i].name;
		specs[ja.n_jobs].source = r->id;
		specs[ja.n_jobs].origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_DRAIN;
		sp[ja.n_jobs] = &specs[ja.n_jobs];
		ja.n_jobs++;
	}
	ja.jobs = sp;
	ja.created_ms = (uint64_t)S.tick * 1000;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &ja;
	send(r, &env);
}

/* Time passes: agent jobs finish, every agent reports, held requests are decided again. */
static void tick(void)
{
	S.tick++;
	for (size_t i = 0; i < S.n; i++) {
		struct replica *r = &S.r[i];
		struct host *h = &S.h[i];

		if (!h->powered)
			continue;
		for (size_t j = 0; j < r->n_jobs && r->up; j++) {
			struct agent_job *a = &r->jobs[j];
			int code = 0;

			if (!h->agent_up) {
				send_result(r, a->op_id, a->origin, a->request_id, DROVER_EXIT_ERROR,
					    "the agent failed");
				continue;
			}
			if (a->kind == DROVER__VM_ACTION_KIND__VM_ACTION_START)
				host_set(r->id, a->vm, true);
			else if (a->kind == DROVER__VM_ACTION_KIND__VM_ACTION_STOP)
				host_set(r->id, a->vm, false);
			else
				code = DROVER_EXIT_ERROR;
			send_result(r, a->op_id, a->origin, a->request_id, code,
				    code ? "not a start or a stop" : "");
		}
		r->n_jobs = 0;
		for (size_t j = 0; j < r->n_migs && r->up; j++) {
			const struct mig_job *m = &r->migs[j];
			size_t k = 0;
			char why[96];

			while (k < N_NETS && strcmp(net_names[k], m->network) != 0)
				k++;
			if (h->agent_up && host_runs(r->id, m->vm) && net_usable(k, r->id, m->target)) {
				host_set(r->id, m->vm, false);
				host_set(m->target, m->vm, true);
				send_job_finish(r, m->job_id, true, "");
			} else {
				snprintf(why, sizeof(why), "the migration over %s failed", m->network);
				send_job_finish(r, m->job_id, false, why);
			}
		}
		r->n_migs = 0;
		if (r->up)
			send_inventory(r);
	}
	drain_bus();
	for (size_t i = 0; i < S.n; i++)
		if (S.r[i].up && S.r[i].n_held && coordinator(&S.r[i]) == S.r[i].id)
			retry_held(&S.r[i], true);
	drain_bus();
	coordinate_all();
}

/* ---- invariants ---- */

static void check_invariants(void)
{
	for (size_t a = 0; a < S.n; a++)
		for (size_t i = 0; S.h[a].powered && i < S.h[a].n_running; i++)
			for (size_t b = a + 1; b < S.n; b++)
				if (S.h[b].powered && host_runs(S.r[b].id, S.h[a].running[i]))
					violation("%s runs on %s and on %s", S.h[a].running[i],
						  S.r[a].name, S.r[b].name);
	/* The queue's limits hold in every replica's view (per source, per target). */
	for (size_t a = 0; a < S.n; a++) {
		const struct cluster_state *st = &S.r[a].state;

		for (uint32_t n = 1; S.r[a].up && st->limits.set && n <= S.n; n++) {
			uint32_t out = 0, in = 0;

			for (size_t k = 0; k < st->n_jobs; k++)
				if (st->jobs[k].kind == QUEUE_OP_MIGRATE &&
				    st->jobs[k].state == QUEUE_JOB_RUNNING) {
					out += st->jobs[k].source == n;
					in += st->jobs[k].target == n;
				}
			if ((st->limits.per_source && out > st->limits.per_source) ||
			    (st->limits.per_target && in > st->limits.per_target))
				violation("%s's queue runs %u out of and %u into %s, over its limits",
					  S.r[a].name, out, in, nm(n));
		}
	}
	for (size_t a = 0; a < S.n; a++)
		for (size_t b = a + 1; b < S.n; b++) {
			const struct replica *x = &S.r[a], *y = &S.r[b];

			if (!x->up || !y->up || !x->synced || !y->synced || S.h[a].group != S.h[b].group ||
			    x->n_members != y->n_members || S.bus_head != S.bus_tail)
				continue;
			if (state_hash(&x->state) != state_hash(&y->state))
				violation("%s and %s are synchronised members of one configuration with "
					  "different states", x->name, y->name);
		}
}

/* ---- scenario ---- */

static uint32_t node_arg(const char *s)
{
	unsigned id;

	if (!s || sscanf(s, "n%u", &id) != 1 || id < 1 || id > S.n) {
		fprintf(stderr, "drover-sim: line %d: bad node '%s'\n", S.scenario_line, s ? s : "");
		exit(64);
	}
	return id;
}

static void setup(size_t n)
{
	if (n < 1 || n > MAX_NODES) {
		fprintf(stderr, "drover-sim: line %d: 1 to %d nodes\n", S.scenario_line, MAX_NODES);
		exit(64);
	}
	S.n = n;
	for (size_t i = 0; i < n; i++) {
		struct replica *r = &S.r[i];

		r->id = (uint32_t)i + 1;
		snprintf(r->name, sizeof(r->name), "n%u", (unsigned)(i + 1) % 10u);
		state_init(&r->state);
		state_init(&r->disk);
		S.h[i].powered = true;
		S.h[i].agent_up = true;
	}
}

static void setup_vm(const char *name, uint32_t node, bool running, Drover__VmPriority prio)
{
	for (size_t i = 0; i < S.n; i++) {
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__VmAdd m = DROVER__VM_ADD__INIT;
		Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
		char xml[256];

		snprintf(xml, sizeof(xml),
			 "<domain><name>%s</name><memory unit='MiB'>512</memory><vcpu>1</vcpu></domain>",
			 name);
		vm.name = (char *)name;
		vm.xml = xml;
		vm.memory_mib = 512;
		vm.vcpus = 1;
		vm.priority = prio;
		vm.home_node = node;
		m.vm = &vm;
		env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
		env.vm_add = &m;
		state_apply(&S.r[i].disk, &env);
	}
	if (running)
		host_set(node, name, true);
}

/* Every droverd starts; with reports, every agent has reported before the next event. */
static void boot_all(bool reports)
{
	for (size_t i = 0; i < S.n; i++)
		droverd_start(&S.r[i]);
	S.quiet = !reports;
	reconfigure();
	drain_bus();
	S.quiet = false;
	for (size_t i = 0; reports && i < S.n; i++)
		send_inventory(&S.r[i]);
	drain_bus();
}

static void run_line(char *line);

static uint64_t rnd_state;

static uint32_t rnd(uint32_t n)
{
	/* A fixed LCG, not rand(): the same seed gives the same run everywhere. */
	rnd_state = rnd_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rnd_state >> 33) % n;
}

/*
 * `random SEED N`: N events drawn from the scenario's nodes and VMs (time,
 * migration links cut and restored, drains, droverd restarts, starts, stops,
 * migrations, partitions and heals), each logged and run like a written one,
 * then a heal, every link up and time to settle. The invariants are checked
 * after every event as always.
 */
static void run_random(uint64_t seed, int n)
{
	char line[128];
	bool parted = false;
	size_t n_vms = S.r[0].disk.n_vms;

	rnd_state = seed;
	for (int i = 0; i < n; i++) {
		uint32_t a = rnd((uint32_t)S.n) + 1, b = rnd((uint32_t)S.n) + 1, k = rnd(100);
		const char *vm = n_vms ? S.r[0].disk.vms[rnd((uint32_t)n_vms)].name : "none";

		if (k < 40)
			snprintf(line, sizeof(line), "tick");
		else if (k < 55)
			snprintf(line, sizeof(line), "link n%u %s %s", a, net_names[rnd(N_NETS)],
				 rnd(2) ? "down" : "up");
		else if (k < 61)
			snprintf(line, sizeof(line), "drain n%u", a);
		else if (k < 67)
			snprintf(line, sizeof(line), "restart n%u", a);
		else if (k < 77)
			snprintf(line, sizeof(line), "start n%u %s", a, vm);
		else if (k < 85)
			snprintf(line, sizeof(line), "stop n%u %s", a, vm);
		else if (k < 93)
			snprintf(line, sizeof(line), "migrate n%u %s n%u", a, vm, b);
		else if (!parted) {
			/* A random split, one side named by the node ids it holds. */
			char side[2][16] = { "", "" };

			for (uint32_t id = 1; id <= S.n; id++) {
				size_t len = strlen(side[rnd(2)]);
				char *p = side[id == a ? 0 : id == b ? 1 : rnd(2)];

				(void)len;
				len = strlen(p);
				p[len] = (char)('0' + id);
				p[len + 1] = '\0';
			}
			if (!side[0][0] || !side[1][0])
				snprintf(line, sizeof(line), "tick");
			else
				snprintf(line, sizeof(line), "partition %s|%s", side[0], side[1]);
			parted = side[0][0] && side[1][0];
		} else {
			snprintf(line, sizeof(line), "heal");
			parted = false;
		}
		LOG("t=%d random: %s", S.tick, line);
		run_line(line);
	}
	snprintf(line, sizeof(line), "heal");
	run_line(line);
	for (size_t i = 0; i < S.n; i++)
		for (size_t k = 0; k < N_NETS; k++)
			S.h[i].net_down[k] = false;
	for (int i = 0; i < 6; i++) {
		snprintf(line, sizeof(line), "tick");
		run_line(line);
	}
}

static void run_line(char *line)
{
	char *argv[8];
	int argc = 0;
	bool background = false;
	char *p = strchr(line, '#');

	if (p)
		*p = '\0';
	for (char *t = strtok(line, " \t\n"); t && argc < 8; t = strtok(NULL, " \t\n"))
		argv[argc++] = t;
	if (argc && strcmp(argv[argc - 1], "&") == 0) {
		background = true;
		argc--;
	}
	if (!argc)
		return;
	if (strcmp(argv[0], "nodes") == 0 && argc == 2) {
		setup((size_t)atoi(argv[1]));
		return;
	}
	if (strcmp(argv[0], "vm") == 0 && argc >= 3 && argc <= 5) {
		Drover__VmPriority prio = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
		bool running = true;

		for (int k = 3; k < argc; k++) {
			if (strcmp(argv[k], "stopped") == 0)
				running = false;
			else if (vm_priority_from_name(argv[k], &prio) < 0)
				goto bad;
		}
		setup_vm(argv[1], node_arg(argv[2]), running, prio);
		return;
	}
	if (strcmp(argv[0], "fence") == 0 && argc == 2) {
		if (strcmp(argv[1], "device") == 0)
			S.fence = 1;
		else if (strcmp(argv[1], "fail") == 0)
			S.fence = 2;
		else
			goto bad;
		LOG("t=%d fence devices %s", S.tick, S.fence == 1 ? "work" : "fail");
		return;
	}
	if (strcmp(argv[0], "confirm-off") == 0 && argc == 3) {
		struct replica *via = rep(node_arg(argv[1]));
		uint32_t id = node_arg(argv[2]);
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__FenceResult m = DROVER__FENCE_RESULT__INIT;

		LOG("t=%d confirm-off %s via %s", S.tick, argv[2], argv[1]);
		/* failover_ctl_confirm_off(): refused for a member, or a host its corosync sees. */
		if (!via->up || is_member(via, id) || !host_gone(via, id)) {
			LOG("t=%d cli on %s: confirm-off %s: exit %d: the node is a member of the cluster",
			    S.tick, via->name, argv[2], DROVER_EXIT_UNSAFE);
			return;
		}
		m.node = id;
		m.ok = true;
		m.device = "operator";
		m.error = "";
		m.by_operator = true;
		env.body_case = DROVER__ENVELOPE__BODY_FENCE_RESULT;
		env.fence_result = &m;
		send(via, &env);
		drain_bus();
		coordinate_all();
		check_invariants();
		return;
	}
	if (strcmp(argv[0], "boot-all") == 0) {
		boot_all(argc < 2 || strcmp(argv[1], "quiet") != 0);
	} else if (strcmp(argv[0], "vm-add") == 0 && argc == 3) {
		cmd_vm_add(rep(node_arg(argv[1])), argv[2]);
	} else if (strcmp(argv[0], "start") == 0 && argc == 3) {
		cmd_vm(rep(node_arg(argv[1])), DROVER__VM_ACTION_KIND__VM_ACTION_START, argv[2], 0);
	} else if (strcmp(argv[0], "stop") == 0 && argc == 3) {
		cmd_vm(rep(node_arg(argv[1])), DROVER__VM_ACTION_KIND__VM_ACTION_STOP, argv[2], 0);
	} else if (strcmp(argv[0], "migrate") == 0 && argc == 4) {
		cmd_migrate(rep(node_arg(argv[1])), argv[2], node_arg(argv[3]));
	} else if (strcmp(argv[0], "drain") == 0 && argc == 2) {
		cmd_drain(rep(node_arg(argv[1])));
	} else if (strcmp(argv[0], "link") == 0 && argc == 4) {
		uint32_t id = node_arg(argv[1]);
		size_t k = 0;

		while (k < N_NETS && strcmp(net_names[k], argv[2]) != 0)
			k++;
		if (k == N_NETS) {
			fprintf(stderr, "drover-sim: line %d: no network '%s'\n", S.scenario_line, argv[2]);
			exit(64);
		}
		S.h[id - 1].net_down[k] = strcmp(argv[3], "down") == 0;
		LOG("t=%d link %s %s %s", S.tick, argv[1], argv[2], argv[3]);
	} else if (strcmp(argv[0], "partition") == 0 && argc == 2) {
		int g = 0;

		for (char *q = argv[1]; *q; q++) {
			if (*q == '|')
				g++;
			else if (*q >= '1' && *q <= '9' && (size_t)(*q - '0') <= S.n)
				S.h[*q - '1'].group = g;
		}
		LOG("t=%d partition %s", S.tick, argv[1]);
		/* What is on the bus reaches only its own side, in the old configuration. */
		drain_bus();
		reconfigure();
	} else if (strcmp(argv[0], "heal") == 0) {
		for (size_t i = 0; i < S.n; i++)
			S.h[i].group = 0;
		LOG("t=%d heal", S.tick);
		drain_bus();
		reconfigure();
	} else if (strcmp(argv[0], "kill") == 0 && argc == 2) {
		uint32_t id = node_arg(argv[1]);

		LOG("t=%d kill %s", S.tick, argv[1]);
		drain_bus();
		S.h[id - 1].powered = false;
		S.h[id - 1].n_running = 0;
		droverd_stop(rep(id));
		reconfigure();
	} else if (strcmp(argv[0], "boot") == 0 && argc == 2) {
		uint32_t id = node_arg(argv[1]);

		LOG("t=%d boot %s", S.tick, argv[1]);
		drain_bus();
		S.h[id - 1].powered = true;
		droverd_start(rep(id));
		reconfigure();
	} else if (strcmp(argv[0], "restart") == 0 && argc == 2) {
		uint32_t id = node_arg(argv[1]);

		LOG("t=%d restart droverd on %s", S.tick, argv[1]);
		drain_bus();
		droverd_stop(rep(id));
		reconfigure();
		drain_bus();
		droverd_start(rep(id));
		reconfigure();
	} else if (strcmp(argv[0], "agent") == 0 && argc == 3) {
		uint32_t id = node_arg(argv[1]);

		S.h[id - 1].agent_up = strcmp(argv[2], "up") == 0;
		LOG("t=%d agent of %s %s", S.tick, argv[1], argv[2]);
		send_inventory(rep(id));
	} else if (strcmp(argv[0], "random") == 0 && argc == 3) {
		run_random(strtoull(argv[1], NULL, 10), atoi(argv[2]));
	} else if (strcmp(argv[0], "tick") == 0) {
		int n = argc > 1 ? atoi(argv[1]) : 1;

		for (int i = 0; i < n; i++)
			tick();
	} else if (strcmp(argv[0], "expect") == 0 &&
		   (argc == 4 || (argc == 3 && strcmp(argv[2], "nowhere") == 0))) {
		const char *vm = argv[1];
		const char *where = argv[argc - 1];
		size_t count = 0;
		uint32_t at = 0;

		drain_bus();
		for (size_t i = 0; i < S.n; i++)
			if (S.h[i].powered && host_runs(S.r[i].id, vm))
				count++, at = S.r[i].id;
		if (strcmp(where, "nowhere") == 0 ? count != 0
						   : count != 1 || at != node_arg(where))
			violation("expected %s on %s; it runs on %zu host(s)", vm, where, count);
		else
			LOG("t=%d check: %s %s%s", S.tick, vm, strcmp(where, "nowhere") ? "on " : "", where);
	} else {
		goto bad;
	}
	if (!background) {
		drain_bus();
		coordinate_all();
	}
	check_invariants();
	return;
bad:
	fprintf(stderr, "drover-sim: line %d: unknown or malformed event '%s'\n", S.scenario_line, argv[0]);
	exit(64);
}

static void load_expect(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];

	if (!f) {
		fprintf(stderr, "drover-sim: cannot open '%s': %s\n", path, strerror(errno));
		exit(66);
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		S.expect = xrealloc(S.expect, (S.n_expect + 1) * sizeof(*S.expect));
		strscpy(S.expect[S.n_expect++], line, sizeof(S.expect[0]));
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	char line[512];
	FILE *f;

	S.out = stdout;
	if (argc == 4 && strcmp(argv[2], "--expect") == 0) {
		load_expect(argv[3]);
		S.out = fopen("/dev/null", "w");
	} else if (argc != 2) {
		fprintf(stderr, "usage: drover-sim SCENARIO [--expect LOG]\n");
		return 64;
	}
	f = fopen(argv[1], "r");
	if (!f) {
		fprintf(stderr, "drover-sim: cannot open '%s': %s\n", argv[1], strerror(errno));
		return 66;
	}
	while (fgets(line, sizeof(line), f)) {
		S.scenario_line++;
		run_line(line);
	}
	fclose(f);
	drain_bus();
	check_invariants();
	LOG("end: %d violation(s)", S.violations);
	if (S.expect && !S.mismatch && S.line_no != S.n_expect) {
		fprintf(stderr, "drover-sim: the log has %zu lines, the expected one %zu\n", S.line_no,
			S.n_expect);
		S.mismatch = true;
	}
	if (S.expect)
		printf("%s: %s\n", argv[1], S.mismatch ? "log differs from the expected one" : "log as expected");
	for (size_t i = 0; i < S.n; i++) {
		state_free(&S.r[i].state);
		state_free(&S.r[i].disk);
		obs_free(S.r[i].obs);
	}
	free(S.expect);
	if (S.out != stdout)
		fclose(S.out);
	return S.violations ? 2 : S.mismatch ? 1 : 0;
}
