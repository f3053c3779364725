/*
 * The operator: what the CLI sends and what its droverd checks before sending
 * (ctl_server.c, ctl_jobs.c), for each command a scenario can give.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

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

void cli_vm_add(struct replica *r, const char *name)
{
	struct vm_add_msg m;

	if (cli_refused(r, "vm add"))
		return;
	setup_vm_add(&m, name, 0, DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM, 512, 1);
	m.add.request_id = ++r->next_request;
	replica_send(r, &m.env);
}

void cli_vm(struct replica *r, Drover__VmActionKind kind, const char *vm, uint32_t target)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmRequest m = DROVER__VM_REQUEST__INIT;

	if (cli_refused(r, sim_kind_name(kind)))
		return;
	m.kind = kind;
	m.vm = (char *)vm;
	m.target_node = target;
	m.network = (char *)"";
	m.request_id = ++r->next_request;
	env.body_case = DROVER__ENVELOPE__BODY_VM_REQUEST;
	env.vm_request = &m;
	replica_send(r, &env);
}

/*
 * `drover vm migrate VM --to TARGET` on NODE: a queue job (ctl_server.c's
 * submit_migration), checked there first; the client's answer comes when the
 * job ends.
 */
void cli_migrate(struct replica *r, const char *vm, uint32_t target)
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
	replica_locate(r, vm, &loc);
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
	m.created_ms = S.now_ms;
	m.request_id = ++r->next_request;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &m;
	replica_send(r, &env);
	if (r->n_awaiting < MAX_HELD)
		strscpy(r->awaiting[r->n_awaiting++], vm, DROVER_VM_NAME_MAX);
}

/* `drover node drain NODE` on NODE: its state, then a job per VM it reports (ctl_jobs.c). */
void cli_drain(struct replica *r)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__SetNodeState ns = DROVER__SET_NODE_STATE__INIT;
	Drover__JobsAdd ja = DROVER__JOBS_ADD__INIT;
	const struct node_obs *o = obs_find(r->obs, r->id);
	_cleanup_free_ Drover__JobSpec *specs = NULL;
	_cleanup_free_ Drover__JobSpec **sp = NULL;

	if (cli_refused(r, "node drain"))
		return;
	specs = xcalloc(o && o->n_domains ? o->n_domains : 1, sizeof(*specs));
	sp = xcalloc(o && o->n_domains ? o->n_domains : 1, sizeof(*sp));
	ns.node_id = r->id;
	ns.state = DROVER__NODE_STATE__NODE_STATE_DRAINING;
	ns.request_id = ++r->next_request;
	env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
	env.set_node_state = &ns;
	replica_send(r, &env);
	for (size_t i = 0; o && i < o->n_domains; i++) {
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
	ja.created_ms = S.now_ms;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &ja;
	replica_send(r, &env);
}


/* `drover drain cancel NODE [--abort]` on NODE (ctl_jobs.c's handle_cancel). */
void cli_drain_cancel(struct replica *r, bool abort)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsCancel m = DROVER__JOBS_CANCEL__INIT;

	if (cli_refused(r, "drain cancel"))
		return;
	m.node = r->id;
	m.abort = abort;
	m.at_ms = S.now_ms;
	m.reason = (char *)(abort ? "drain cancelled by the operator (--abort)"
				  : "drain cancelled by the operator");
	m.request_id = ++r->next_request;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_CANCEL;
	env.jobs_cancel = &m;
	replica_send(r, &env);
}

/*
 * `drover config set KEY VALUE` on NODE (ctl_jobs.c's handle_config_set):
 * the cluster's limits as they are (drover.conf's until any were set) with
 * one key changed, multicast as LimitsSet.
 */
void cli_config_set(struct replica *r, const char *key, const char *value)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__LimitsSet m = DROVER__LIMITS_SET__INIT;
	Drover__MigrationLimits ml;
	Drover__NetworkCap caps[MAX_NETS], *cp[MAX_NETS];
	struct mig_limits l = r->state.limits.set ? r->state.limits : S.conf;
	char *end;
	unsigned long v = strtoul(value, &end, 10);
	size_t len = strlen(key), i;

	if (*end || end == value) {
		LOG("t=%d cli on %s: config set: exit %d: invalid value '%s'", S.tick, r->name,
		    DROVER_EXIT_INVALID_PARAM, value);
		return;
	}
	if (strcmp(key, "max-out") == 0) {
		l.per_source = (uint32_t)v;
	} else if (strcmp(key, "max-in") == 0) {
		l.per_target = (uint32_t)v;
	} else if (strcmp(key, "max-total") == 0) {
		l.cluster = (uint32_t)v;
	} else if (strcmp(key, "max-retries") == 0 && v < QUEUE_MAX_ATTEMPTS) {
		l.max_retries = (uint32_t)v;
	} else if (strncmp(key, "network.", 8) == 0 && len > 12 && strcmp(key + len - 4, ".cap") == 0 &&
		   len - 12 < QUEUE_NAME_MAX) {
		char name[QUEUE_NAME_MAX];

		memcpy(name, key + 8, len - 12);
		name[len - 12] = '\0';
		if (world_net_index(name) == S.n_nets) {
			LOG("t=%d cli on %s: config set: exit %d: no network '%s'", S.tick, r->name,
			    DROVER_EXIT_NOSUCH, name);
			return;
		}
		for (i = 0; i < l.n_caps && strcmp(l.caps[i].network, name) != 0; i++)
			;
		if (i == l.n_caps)
			strscpy(l.caps[l.n_caps++].network, name, QUEUE_NAME_MAX);
		l.caps[i].cap = (uint32_t)v;
	} else {
		LOG("t=%d cli on %s: config set: exit %d: unknown key '%s'", S.tick, r->name,
		    DROVER_EXIT_INVALID_PARAM, key);
		return;
	}
	if (cli_refused(r, "config set"))
		return;
	limits_message(&l, &ml, caps, cp);
	m.limits = &ml;
	m.request_id = ++r->next_request;
	env.body_case = DROVER__ENVELOPE__BODY_LIMITS_SET;
	env.limits_set = &m;
	replica_send(r, &env);
}
