/*
 * VM actions: start, stop and migrate, from the operator's request to the
 * hypervisor and back.
 *
 *   CLI -> local droverd -> VmRequest (CPG)
 *       -> the coordinator decides -> VmAction (CPG), or VmActionResult when
 *          there is nothing to do or it refuses
 *       -> the executing node's agent runs the job -> VmActionProgress (CPG)
 *       -> VmActionResult (CPG) -> the origin answers its client
 *
 * Every member keeps the same table of actions in flight, applied in delivery
 * order, so whoever coordinates next knows what is under way, and `drover vm
 * list` on any node shows a running migration's progress.
 *
 * Safety rules: the coordinator starts a VM only when no node reports it
 * running and no action on it is in flight, and no node whose agent is
 * unavailable could be hiding it (its last report counts as "maybe running").
 * A start that finds the domain already running is success, not a second copy.
 * Where a VM runs is always taken from the agents' inventories, never from a
 * decision's intent.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "droverd.h"
#include "exitcode.h"
#include "log.h"
#include "util.h"

#define STOP_DEADLINE_MS 150000u
#define STOP_GRACE_MS 30000u
#define MIGRATE_DEADLINE_MS 900000u
#define MIGRATE_COMPLETION_MS 600000u
#define MIGRATE_STALL_MS 60000u

/*
 * Decisions this node multicast as coordinator that have not come back yet.
 * A second request for the same VM can be delivered before the first decision
 * is, and must not be decided again (that could start a VM on two nodes).
 * Local on purpose: only the deciding node needs it, and a new coordinator
 * starts after a configuration change, when every decision in flight has been
 * delivered (virtual synchrony).
 */
static char undelivered[DROVER_MAX_ACTIONS][DROVER_VM_NAME_MAX];
static size_t n_undelivered;

static bool undelivered_has(const char *vm)
{
	for (size_t i = 0; i < n_undelivered; i++)
		if (strcmp(undelivered[i], vm) == 0)
			return true;
	return false;
}

static void undelivered_drop(const char *vm)
{
	for (size_t i = 0; i < n_undelivered; i++)
		if (strcmp(undelivered[i], vm) == 0) {
			memmove(undelivered[i], undelivered[i + 1],
				(n_undelivered - i - 1) * sizeof(undelivered[0]));
			n_undelivered--;
			return;
		}
}

static const char *kind_name(Drover__VmActionKind k)
{
	switch (k) {
	case DROVER__VM_ACTION_KIND__VM_ACTION_START:
		return "start";
	case DROVER__VM_ACTION_KIND__VM_ACTION_STOP:
		return "stop";
	case DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE:
		return "migrate";
	default:
		return "?";
	}
}

static const char *name_of(const struct droverd *d, uint32_t id, char *buf, size_t len)
{
	return links_node_name(d, id, buf, len);
}

const struct vm_action *vm_actions_find(const struct droverd *d, const char *vm)
{
	for (size_t i = 0; i < d->n_actions; i++)
		if (strcmp(d->actions[i].vm, vm) == 0)
			return &d->actions[i];
	return NULL;
}

static struct vm_action *find_id(struct droverd *d, uint64_t id)
{
	for (size_t i = 0; i < d->n_actions; i++)
		if (d->actions[i].id == id)
			return &d->actions[i];
	return NULL;
}

static void remove_action(struct droverd *d, struct vm_action *a)
{
	size_t i = (size_t)(a - d->actions);

	memmove(&d->actions[i], &d->actions[i + 1], (d->n_actions - i - 1) * sizeof(*a));
	d->n_actions--;
}

static void send_result(struct droverd *d, uint64_t action_id, uint32_t origin,
			uint64_t request_id, int exit_code, const char *error)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmActionResult m = DROVER__VM_ACTION_RESULT__INIT;

	m.action_id = action_id;
	m.ok = exit_code == 0;
	m.exit_code = exit_code;
	m.error = (char *)(error ? error : "");
	m.origin_node = origin;
	m.request_id = request_id;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_RESULT;
	env.vm_action_result = &m;
	membership_send(d, &env, false);
}

/* A node that may receive or run VMs: online, agent working, not set aside. */
static bool node_usable(const struct droverd *d, uint32_t id, const char **why)
{
	const struct node_obs *o = droverd_obs(d, id);
	Drover__NodeState st = state_node_get(&d->state, id);
	if (!droverd_is_member(d, id))
		return *why = "is offline", false;
	if (!o || !o->agent_ok)
		return *why = "has no working agent", false;
	if (st != DROVER__NODE_STATE__NODE_STATE_ACTIVE)
		return *why = "is not active (maintenance, draining or drained)", false;
	return true;
}

/* Memory the VMs reported running on a node take, for the least-loaded choice. */
static uint64_t node_load_mib(const struct droverd *d, uint32_t id)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < DROVER_MAX_NODES; i++) {
		const struct node_obs *o = &d->obs[i];

		if (o->node_id != id)
			continue;
		for (size_t j = 0; j < o->n_domains; j++) {
			const struct vm_cfg *v = state_vm_find(&d->state, o->domains[j].name);

			if (v && o->domains[j].state == DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING)
				sum += v->memory_mib;
		}
	}
	return sum;
}

/*
 * Where to start a stopped VM: where it is defined (its disks are there), else
 * its home node, else the usable node with the least VM memory running and
 * enough room, ties to the lowest id. 0 if none.
 */
static uint32_t choose_start_node(const struct droverd *d, const struct vm_cfg *v,
				  const struct vm_location *loc)
{
	const char *why;
	uint32_t best = 0;
	uint64_t best_load = 0;

	if (loc->node_name && *loc->node_name) {
		const struct known_node *k = links_find_by_name(d, loc->node_name);
		if (k && node_usable(d, k->id, &why))
			return k->id;
	}
	if (v->home_node && node_usable(d, v->home_node, &why))
		return v->home_node;
	for (size_t i = 0; i < d->n_nodes; i++) {
		uint32_t id = d->nodes[i].id;
		uint64_t load;
		const struct node_obs *o;

		if (!node_usable(d, id, &why))
			continue;
		o = droverd_obs(d, id);
		load = node_load_mib(d, id);
		if (o && o->memory_mib && load + v->memory_mib > o->memory_mib)
			continue;
		if (!best || load < best_load) {
			best = id;
			best_load = load;
		}
	}
	return best;
}

/* Some node's agent is unavailable while it last reported this VM: unknown. */
static bool vm_maybe_hidden(const struct droverd *d, const char *vm)
{
	for (size_t i = 0; i < DROVER_MAX_NODES; i++) {
		const struct node_obs *o = &d->obs[i];

		if (!o->node_id || (o->agent_ok && droverd_is_member(d, o->node_id)))
			continue;
		for (size_t j = 0; j < o->n_domains; j++)
			if (strcmp(o->domains[j].name, vm) == 0 &&
			    o->domains[j].state != DROVER__VM_RUN_STATE__VM_RUN_STATE_STOPPED)
				return true;
	}
	return false;
}

void vm_actions_on_request(struct droverd *d, uint32_t from, const Drover__VmRequest *m)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction act = DROVER__VM_ACTION__INIT;
	const struct vm_cfg *v;
	struct vm_location loc;
	const struct known_node *src;
	const char *why = NULL;
	char msg[256], b1[32], b2[32];
	uint32_t node = 0;

	/* Only the coordinator decides; everyone else has the same request on file. */
	if (droverd_coordinator(d) != d->local_id)
		return;
	if (!m->vm || !(v = state_vm_find(&d->state, m->vm))) {
		send_result(d, 0, from, m->request_id, DROVER_EXIT_NOSUCH, "no such VM");
		return;
	}
	if (state_job_active((struct cluster_state *)&d->state, v->name)) {
		snprintf(msg, sizeof(msg), "VM '%s' has a migration job in the queue (see `drover "
			 "queue`); cancel the drain first", v->name);
		send_result(d, 0, from, m->request_id, DROVER_EXIT_UNAVAILABLE, msg);
		return;
	}
	if (vm_actions_find(d, v->name) || undelivered_has(v->name)) {
		snprintf(msg, sizeof(msg), "VM '%s' has an action in progress; retry when it is done",
			 v->name);
		send_result(d, 0, from, m->request_id, DROVER_EXIT_UNAVAILABLE, msg);
		return;
	}
	droverd_vm_locate(d, v->name, &loc);
	switch (m->kind) {
	case DROVER__VM_ACTION_KIND__VM_ACTION_START:
		if (strcmp(loc.state, "running") == 0) {
			snprintf(msg, sizeof(msg), "VM '%s' is already running on %s", v->name,
				 loc.node_name);
			send_result(d, 0, from, m->request_id, 0, msg);
			return;
		}
		if (strcmp(loc.state, "unknown") == 0 || vm_maybe_hidden(d, v->name)) {
			snprintf(msg, sizeof(msg), "VM '%s' may still run on a node whose agent is "
				 "unavailable; not starting a second copy", v->name);
			send_result(d, 0, from, m->request_id, DROVER_EXIT_UNSAFE, msg);
			return;
		}
		node = choose_start_node(d, v, &loc);
		if (!node) {
			snprintf(msg, sizeof(msg), "no usable node has %llu MiB free for VM '%s'",
				 (unsigned long long)v->memory_mib, v->name);
			send_result(d, 0, from, m->request_id, DROVER_EXIT_UNAVAILABLE, msg);
			return;
		}
		break;
	case DROVER__VM_ACTION_KIND__VM_ACTION_STOP:
		if (strcmp(loc.state, "running") != 0) {
			snprintf(msg, sizeof(msg), "VM '%s' is not running (%s)", v->name, loc.state);
			send_result(d, 0, from, m->request_id,
				    strcmp(loc.state, "unknown") == 0 ? DROVER_EXIT_UNSAFE : 0, msg);
			return;
		}
		src = links_find_by_name(d, loc.node_name);
		node = src ? src->id : 0;
		break;
	case DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE:
		if (strcmp(loc.state, "running") != 0) {
			snprintf(msg, sizeof(msg), "VM '%s' is not running (%s): nothing to migrate",
				 v->name, loc.state);
			send_result(d, 0, from, m->request_id, DROVER_EXIT_INVALID_PARAM, msg);
			return;
		}
		src = links_find_by_name(d, loc.node_name);
		node = src ? src->id : 0;
		if (node == m->target_node) {
			snprintf(msg, sizeof(msg), "VM '%s' already runs on %s", v->name,
				 loc.node_name);
			send_result(d, 0, from, m->request_id, 0, msg);
			return;
		}
		if (!node_usable(d, m->target_node, &why)) {
			snprintf(msg, sizeof(msg), "target %s %s",
				 name_of(d, m->target_node, b1, sizeof(b1)), why);
			send_result(d, 0, from, m->request_id, DROVER_EXIT_UNAVAILABLE, msg);
			return;
		}
		break;
	default:
		send_result(d, 0, from, m->request_id, DROVER_EXIT_INVALID_PARAM,
			    "unknown VM action");
		return;
	}
	if (d->n_actions + n_undelivered >= DROVER_MAX_ACTIONS) {
		send_result(d, 0, from, m->request_id, DROVER_EXIT_UNAVAILABLE,
			    "too many actions in flight; retry");
		return;
	}
	act.action_id = ((uint64_t)d->local_id << 32) | (++d->next_action & 0xffffffffu);
	act.kind = m->kind;
	act.vm = (char *)v->name;
	act.node = node;
	act.target_node = m->target_node;
	act.network = m->network ? m->network : (char *)"";
	act.origin_node = from;
	act.request_id = m->request_id;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &act;
	log_notice("decided: %s VM '%s' on %s%s%s%s%s", kind_name(m->kind), v->name,
		   name_of(d, node, b1, sizeof(b1)),
		   m->kind == DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE ? " to " : "",
		   m->kind == DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE
			   ? name_of(d, m->target_node, b2, sizeof(b2))
			   : "",
		   *act.network ? " over " : "", act.network);
	if (membership_send(d, &env, false) == 0)
		strscpy(undelivered[n_undelivered++], v->name, DROVER_VM_NAME_MAX);
}

void vm_actions_expand_uri(char *out, size_t len, const char *tmpl, const char *node,
			   const char *net)
{
	size_t o = 0;

	for (const char *p = tmpl; *p && o + 1 < len; p++) {
		const char *ins = NULL;

		if (p[0] == '%' && p[1] == 'n')
			ins = node;
		else if (p[0] == '%' && p[1] == 'N')
			ins = net;
		if (ins) {
			o += (size_t)snprintf(out + o, len - o, "%s", ins);
			if (o >= len)
				o = len - 1;
			p++;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

/* We execute action a: hand it to our agent. */
static void execute(struct droverd *d, struct vm_action *a)
{
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentVmStartJob start = DROVER__AGENT_VM_START_JOB__INIT;
	Drover__AgentVmStopJob stop = DROVER__AGENT_VM_STOP_JOB__INIT;
	Drover__AgentVmMigrateJob mig = DROVER__AGENT_VM_MIGRATE_JOB__INIT;
	const struct vm_cfg *v = state_vm_find(&d->state, a->vm);
	char dest[512], data[512], b[32];
	int r;

	if (!v) {
		send_result(d, a->id, a->origin, a->request_id, DROVER_EXIT_NOSUCH,
			    "the VM left the registry");
		return;
	}
	switch (a->kind) {
	case DROVER__VM_ACTION_KIND__VM_ACTION_START:
		start.vm = (char *)v->name;
		start.xml = v->xml;
		job.kind_case = DROVER__AGENT_JOB__KIND_VM_START;
		job.vm_start = &start;
		job.deadline_ms = d->cfg.start_deadline_ms;
		break;
	case DROVER__VM_ACTION_KIND__VM_ACTION_STOP:
		stop.vm = (char *)v->name;
		stop.timeout_ms = STOP_GRACE_MS;
		job.kind_case = DROVER__AGENT_JOB__KIND_VM_STOP;
		job.vm_stop = &stop;
		job.deadline_ms = STOP_DEADLINE_MS;
		break;
	case DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE: {
		const char *tn = name_of(d, a->target, b, sizeof(b));

		vm_actions_expand_uri(dest, sizeof(dest), d->cfg.agent_dest_uri, tn, a->network);
		if (*a->network)
			vm_actions_expand_uri(data, sizeof(data), d->cfg.agent_migrate_uri, tn, a->network);
		else
			data[0] = '\0';
		mig.vm = (char *)v->name;
		mig.dest_uri = dest;
		mig.migrate_uri = data;
		mig.auto_converge = true;
		mig.completion_timeout_ms = MIGRATE_COMPLETION_MS;
		mig.no_progress_timeout_ms = MIGRATE_STALL_MS;
		job.kind_case = DROVER__AGENT_JOB__KIND_VM_MIGRATE;
		job.vm_migrate = &mig;
		job.deadline_ms = MIGRATE_DEADLINE_MS;
		log_info("migrating '%s' to '%s' (data: '%s')", v->name, dest,
			 *data ? data : "default");
		break;
	}
	default:
		return;
	}
	r = agent_link_submit(d, &job, &a->job_id);
	if (r < 0)
		send_result(d, a->id, a->origin, a->request_id, DROVER_EXIT_UNAVAILABLE,
			    "this node's agent is unavailable");
}

void vm_actions_on_action(struct droverd *d, uint32_t from, const Drover__VmAction *m)
{
	struct vm_action *a;

	/*
	 * Decisions come from the lowest member, a function of the delivered
	 * stream, so every member accepts or drops alike (quorum is checked by the
	 * coordinator before it decides).
	 */
	if (from == d->local_id && m->vm)
		undelivered_drop(m->vm);
	if (d->n_members == 0 || from != d->members[0]) {
		log_warn("dropping a VM action from node %u: not the coordinator", from);
		return;
	}
	if (!m->vm || !*m->vm || strlen(m->vm) >= DROVER_VM_NAME_MAX || m->action_id == 0 ||
	    find_id(d, m->action_id) || d->n_actions >= DROVER_MAX_ACTIONS) {
		log_warn("dropping a malformed or duplicate VM action from node %u", from);
		return;
	}
	a = &d->actions[d->n_actions++];
	memset(a, 0, sizeof(*a));
	drover__migration_progress__init(&a->progress);
	a->id = m->action_id;
	a->kind = m->kind;
	strscpy(a->vm, m->vm, sizeof(a->vm));
	a->node = m->node;
	a->target = m->target_node;
	strscpy(a->network, m->network ? m->network : "", sizeof(a->network));
	a->origin = m->origin_node;
	a->request_id = m->request_id;
	if (a->node == d->local_id)
		execute(d, a);
}

void vm_actions_on_progress(struct droverd *d, uint32_t from, const Drover__VmActionProgress *m)
{
	struct vm_action *a = find_id(d, m->action_id);
	const Drover__MigrationProgress *p = m->migration;

	if (!a || from != a->node || !p)
		return;
	/* Progress never goes backwards on screen, whatever arrives. */
	if (a->has_progress && p->memory_processed < a->progress.memory_processed)
		return;
	drover__migration_progress__init(&a->progress);
	a->progress.iteration = p->iteration;
	a->progress.elapsed_ms = p->elapsed_ms;
	a->progress.memory_total = p->memory_total;
	a->progress.memory_processed = p->memory_processed;
	a->progress.memory_remaining = p->memory_remaining;
	a->progress.bytes_per_s = p->bytes_per_s;
	a->progress.dirty_rate = p->dirty_rate;
	a->has_progress = true;
}

void vm_actions_on_result(struct droverd *d, uint32_t from, const Drover__VmActionResult *m)
{
	struct vm_action *a = m->action_id ? find_id(d, m->action_id) : NULL;
	char b[32];

	if (m->action_id) {
		if (!a || from != a->node) {
			log_debug("ignoring a result for unknown action %llx",
				  (unsigned long long)m->action_id);
			return;
		}
		if (m->ok)
			log_notice("%s of VM '%s' on %s done", kind_name(a->kind), a->vm,
				   name_of(d, a->node, b, sizeof(b)));
		else
			log_warn("%s of VM '%s' on %s failed: %s", kind_name(a->kind), a->vm,
				 name_of(d, a->node, b, sizeof(b)), m->error);
		remove_action(d, a);
	}
	if (m->origin_node == d->local_id)
		ctl_request_done(d, m->request_id, m->ok ? 0 : (m->exit_code ? m->exit_code : 1),
				 m->error);
	/* Whatever changed, our own hypervisor's truth is worth a fresh look. */
	agent_link_request_inventory(d);
}

void vm_actions_on_members_changed(struct droverd *d)
{
	/* Everything sent in the old membership has been delivered by now. */
	n_undelivered = 0;
	for (size_t i = 0; i < d->n_actions;) {
		struct vm_action *a = &d->actions[i];

		if (droverd_is_member(d, a->node)) {
			i++;
			continue;
		}
		/* Its executor is gone: the inventories will say what became of the VM. */
		log_warn("%s of VM '%s' abandoned: node %u left", kind_name(a->kind), a->vm,
			 a->node);
		if (a->origin == d->local_id)
			ctl_request_done(d, a->request_id, DROVER_EXIT_ERROR,
					 "the executing node left the cluster; check `drover vm list`");
		remove_action(d, a);
	}
}

static struct vm_action *find_job(struct droverd *d, uint64_t job_id)
{
	for (size_t i = 0; i < d->n_actions; i++)
		if (d->actions[i].node == d->local_id && d->actions[i].job_id == job_id)
			return &d->actions[i];
	return NULL;
}

void vm_actions_job_done(struct droverd *d, uint64_t job_id, const Drover__AgentJobResult *r)
{
	struct vm_action *a = find_job(d, job_id);
	char msg[300];
	int code = 0;

	if (!a)
		return;
	a->job_id = 0;
	switch (r->outcome) {
	case DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK:
		msg[0] = '\0';
		break;
	case DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_TIMEOUT:
		code = DROVER_EXIT_TIMEOUT;
		snprintf(msg, sizeof(msg), "the hypervisor did not finish in time: %s", r->error);
		break;
	default:
		code = DROVER_EXIT_ERROR;
		snprintf(msg, sizeof(msg), "%s", r->error && *r->error ? r->error : "failed");
		break;
	}
	send_result(d, a->id, a->origin, a->request_id, code, msg);
}

void vm_actions_job_progress(struct droverd *d, uint64_t job_id, const Drover__MigrationProgress *p)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmActionProgress m = DROVER__VM_ACTION_PROGRESS__INIT;
	struct vm_action *a = find_job(d, job_id);

	if (!a || !p)
		return;
	m.action_id = a->id;
	m.migration = (Drover__MigrationProgress *)p;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_PROGRESS;
	env.vm_action_progress = &m;
	membership_send(d, &env, false);
}

void vm_actions_agent_lost(struct droverd *d)
{
	for (size_t i = 0; i < d->n_actions; i++) {
		struct vm_action *a = &d->actions[i];

		if (a->node != d->local_id || a->job_id == 0)
			continue;
		a->job_id = 0;
		send_result(d, a->id, a->origin, a->request_id, DROVER_EXIT_ERROR,
			    "this node's agent died during the action; check `drover vm list`");
	}
}
