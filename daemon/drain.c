/*
 * Drains and the migration queue at work.
 *
 * The queue itself is replicated state (state_jobs.c) and its decisions are
 * pure code (coord.c, queue.c). This file is the glue around them:
 *
 *  - The coordinator (the lowest member of a quorate, synchronised partition)
 *    runs coordinate() whenever something changed and once a second: it
 *    seeds the replicated limits from drover.conf if none were ever set,
 *    then builds coord_decide()'s input from what droverd knows (the
 *    inventories, membership, network health, actions in flight) and
 *    multicasts its decision, which every member applies alike.
 *    It sends nothing more until its last message came back in agreed order,
 *    so it never decides twice on a view that does not show its own decisions
 *    yet; a new coordinator continues from the replicated queue.
 *  - Every member executes the jobs whose source it is: a JobStart it applies
 *    becomes a migrate job for its agent; progress is multicast as
 *    JobProgress, the end as JobFinish, which re-queues a failure onto the
 *    next network until the retries are used up.
 *
 * Safety: a migration is the hypervisor's atomic hand-over, so a failed or
 * aborted attempt leaves the VM running on the source, and a job starts only
 * while its VM runs on its source and has no other action in flight. Where a
 * VM runs always comes from the inventories, never from a job's intent.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "coord.h"
#include "coord_input.h"
#include "coord_msgs.h"
#include "droverd.h"
#include "exitcode.h"
#include "log.h"
#include "util.h"

#define DRAIN_TICK_MS 1000u
#define DRAIN_KICK_MS 20u
#define MIGRATE_DEADLINE_MS 900000u
#define MIGRATE_COMPLETION_MS 600000u
/* Long enough for the target's next inventories, whatever its interval. */
#define DRAIN_DEPARTED_MS 60000u

/* The seq of our last coordinator message that has not come back yet; 0: none. */

static const char *nname(const struct droverd *d, uint32_t id, char *buf, size_t len)
{
	return links_node_name(d, id, buf, len);
}

static void limits_from_config(const struct drover_config *cfg, struct mig_limits *ret)
{
	state_limits_default(ret);
	ret->per_source = cfg->mig_max_out;
	ret->per_target = cfg->mig_max_in;
	ret->cluster = cfg->mig_max_total;
	ret->max_retries = cfg->mig_max_retries;
	for (size_t k = 0; k < cfg->n_networks && ret->n_caps < QUEUE_MAX_NETWORKS; k++) {
		if (!cfg->networks[k].cap)
			continue;
		strscpy(ret->caps[ret->n_caps].network, cfg->networks[k].name,
			sizeof(ret->caps[0].network));
		ret->caps[ret->n_caps++].cap = cfg->networks[k].cap;
	}
}

void drain_limits(const struct droverd *d, struct mig_limits *ret)
{
	if (d->state.limits.set)
		*ret = d->state.limits;
	else
		limits_from_config(&d->cfg, ret);
}

void drain_build_view(const struct droverd *d, struct queue_view *v)
{
	struct mig_limits l;

	queue_view_init(v);
	drain_limits(d, &l);
	v->limits.per_source = l.per_source;
	v->limits.per_target = l.per_target;
	v->limits.cluster = l.cluster;
	for (size_t i = 0; i < d->n_nodes && i < QUEUE_MAX_NODES; i++) {
		const struct known_node *k = &d->nodes[i];
		const struct node_obs *o = droverd_obs(d, k->id);
		struct queue_node n;

		memset(&n, 0, sizeof(n));
		n.id = k->id;
		strscpy(n.name, k->name, sizeof(n.name));
		n.online = droverd_is_member(d, k->id) && o && o->agent_ok;
		n.usable_target = n.online && coord_input_may_receive(&d->state, k->id);
		coord_input_room(&d->state, o, &n.free_mib, &n.free_vcpus);
		queue_view_add_node(v, &n);
	}
	for (size_t k = 0; k < nethealth_n_networks(d); k++) {
		const char *name = nethealth_network_name(d, k);
		uint32_t cap = 0;

		for (size_t c = 0; c < l.n_caps; c++)
			if (strcmp(l.caps[c].network, name) == 0)
				cap = l.caps[c].cap;
		queue_view_add_network(v, name, cap);
		queue_view_set_last_resort(v, k, nethealth_last_resort(d, k));
		for (size_t a = 0; a < v->n_nodes; a++)
			for (size_t b = a + 1; b < v->n_nodes; b++)
				if (nethealth_usable(d, k, v->nodes[a].id, v->nodes[b].id))
					queue_view_set_usable(v, k, v->nodes[a].id, v->nodes[b].id,
							      true);
	}
}

/*
 * The coordinator's input (coord.h) as droverd knows it now. The pointers in
 * it point into d and into *buf, which the caller frees with input_free().
 */
struct input_buf {
	struct queue_view view;
	struct coord_node nodes[DROVER_MAX_NODES];
	const char **names; /* every node's active domains, back to back */
	const char *busy[DROVER_MAX_OPS];
};

static void input_build(const struct droverd *d, struct coord_input *in, struct input_buf *buf)
{
	memset(in, 0, sizeof(*in));
	drain_build_view(d, &buf->view);
	buf->names = xcalloc(coord_input_n_names(d->obs) + 1, sizeof(*buf->names));
	in->n_nodes = coord_input_nodes(d->obs, d->members, d->n_members, buf->nodes,
					DROVER_MAX_NODES, buf->names);
	in->n_busy = coord_input_busy(&d->state, buf->busy, DROVER_MAX_OPS);
	in->state = &d->state;
	in->view = &buf->view;
	in->nodes = buf->nodes;
	in->busy = buf->busy;
	in->n_aborted = d->n_aborted;
	in->aborted = d->aborted;
	in->now_ms = wall_ms();
}

static void input_free(struct input_buf *buf)
{
	free(buf->names);
	buf->names = NULL;
}

void drain_blockers(const struct droverd *d, struct queue_job *jobs, size_t n)
{
	struct queue_action acts[COORD_BATCH];
	struct coord_input in;
	struct input_buf *buf = xcalloc(1, sizeof(*buf));
	size_t n_acts = 0;

	input_build(d, &in, buf);
	if (coord_dispatch(&in, jobs, n, acts, COORD_BATCH, &n_acts) == 0)
		for (size_t i = 0; i < n_acts; i++) {
			struct queue_job *j = &jobs[acts[i].job];
			char b[32];

			snprintf(j->blocker_text, sizeof(j->blocker_text), "starting now: to %s over %s",
				 nname(d, acts[i].target, b, sizeof(b)), acts[i].network_name);
		}
	input_free(buf);
	free(buf);
}

/* ---- sending ---- */

/* Multicast a coordinator decision and hold further ones until it is back. */
static int coord_send(struct droverd *d, Drover__Envelope *env)
{
	int r = membership_send(d, env, false);

	if (r == 0)
		d->coord_wait_seq = env->seq;
	return r;
}

/*
 * Remember what we said as the source: an exchange drops changes delivered
 * while it runs, and the outcome, not a guess, must be said again then.
 */
static void remember_finish(struct droverd *d, const Drover__JobFinish *m)
{
	struct sent_finish *slot = &d->sent_finish[0];

	for (size_t i = 0; i < DROVER_MAX_EXECS; i++) {
		if (d->sent_finish[i].job_id == m->job_id || !d->sent_finish[i].job_id) {
			slot = &d->sent_finish[i];
			break;
		}
		if (d->sent_finish[i].finished_ms < slot->finished_ms)
			slot = &d->sent_finish[i];
	}
	slot->job_id = m->job_id;
	slot->ok = m->ok;
	strscpy(slot->reason, m->reason, sizeof(slot->reason));
	slot->finished_ms = m->finished_ms;
	slot->bytes = m->bytes;
	slot->downtime_ms = m->downtime_ms;
}

static const struct sent_finish *sent_finish_find(const struct droverd *d, uint64_t job_id)
{
	for (size_t i = 0; i < DROVER_MAX_EXECS; i++)
		if (d->sent_finish[i].job_id == job_id)
			return &d->sent_finish[i];
	return NULL;
}

static void send_finish(struct droverd *d, uint64_t job_id, bool ok, const char *reason,
			uint64_t bytes, uint64_t downtime_ms, bool as_coordinator)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobFinish m = DROVER__JOB_FINISH__INIT;

	char why[QUEUE_REASON_MAX];
	size_t n;

	/*
	 * Every member refuses a reason longer than the job keeps (a cut could
	 * not be told apart from a different reason), which would leave the job
	 * running forever: cut it here, on a UTF-8 character boundary.
	 */
	n = strlen(reason ? reason : "");
	if (n >= sizeof(why)) {
		n = sizeof(why) - 1;
		while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(why, reason ? reason : "", n);
	why[n] = '\0';
	m.job_id = job_id;
	m.ok = ok;
	m.reason = why;
	m.finished_ms = wall_ms();
	m.bytes = bytes;
	m.downtime_ms = downtime_ms;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
	env.job_finish = &m;
	if (as_coordinator) {
		coord_send(d, &env);
	} else {
		remember_finish(d, &m);
		membership_send(d, &env, false);
	}
}

/* ---- the coordinator ---- */

/* Multicast the coordinator's decision (coord.c) and note what it asked for. */
static void send_decision(struct droverd *d, const struct coord_decision *c)
{
	struct coord_msgs *msgs = xcalloc(1, sizeof(*msgs));
	char b1[32], b2[32];

	/* The messages are the core's (coord_msgs.c); what is said and noted is ours. */
	coord_messages(c, wall_ms(), msgs);
	switch (c->kind) {
	case COORD_FINISH: {
		const struct queue_job *j = state_job_find(&d->state, c->job_id);

		log_warn("job %llu (VM %s): %s", (unsigned long long)c->job_id, j ? j->vm : "?",
			 c->reason);
		break;
	}
	case COORD_STEP_FAIL:
		log_warn("job %llu: %s", (unsigned long long)c->job_id, c->reason);
		break;
	case COORD_ABORT:
		if (d->n_aborted == DROVER_MAX_EXECS)
			memmove(&d->aborted[0], &d->aborted[1], sizeof(d->aborted[0]) * --d->n_aborted);
		d->aborted[d->n_aborted++] = c->job_id;
		log_warn("job %llu: %s; aborting the migration", (unsigned long long)c->job_id,
			 c->reason);
		break;
	case COORD_CANCEL:
		log_notice("cancelling %zu job(s) that cannot start: %s", c->n_ids, c->reason);
		break;
	case COORD_ADD:
		log_notice("drain of %s: %zu more VM(s) to move", nname(d, c->node, b1, sizeof(b1)),
			   c->n_vms);
		break;
	case COORD_NODE_STATE:
		log_notice("drain of %s %s", nname(d, c->node, b1, sizeof(b1)),
			   c->node_state == DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED
				   ? "failed: some VMs could not move"
				   : "complete");
		break;
	case COORD_START:
		for (size_t i = 0; i < c->n_starts; i++) {
			const struct queue_action *a = &c->starts[i];
			const struct queue_job *j = state_job_find(&d->state, a->job_id);

			log_notice("starting job %llu: VM %s from %s to %s over %s",
				   (unsigned long long)a->job_id, j ? j->vm : "?",
				   nname(d, a->source, b1, sizeof(b1)),
				   nname(d, a->target, b2, sizeof(b2)), a->network_name);
		}
		break;
	case COORD_NONE:
		break;
	}
	for (size_t i = 0; i < msgs->n; i++)
		coord_send(d, &msgs->env[i]);
	free(msgs);
}

static void send_limits(struct droverd *d, bool as_coordinator)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__LimitsSet m = DROVER__LIMITS_SET__INIT;
	Drover__MigrationLimits ml = DROVER__MIGRATION_LIMITS__INIT;
	Drover__NetworkCap caps[QUEUE_MAX_NETWORKS], *cp[QUEUE_MAX_NETWORKS];
	struct mig_limits l;

	/* Our file's values (the coordinator seeds only while none are set). */
	limits_from_config(&d->cfg, &l);
	ml.set = true;
	ml.per_source = l.per_source;
	ml.per_target = l.per_target;
	ml.cluster = l.cluster;
	ml.max_retries = l.max_retries;
	for (size_t i = 0; i < l.n_caps; i++) {
		drover__network_cap__init(&caps[i]);
		caps[i].network = l.caps[i].network;
		caps[i].cap = l.caps[i].cap;
		cp[i] = &caps[i];
	}
	ml.n_network_caps = l.n_caps;
	ml.network_caps = cp;
	m.limits = &ml;
	env.body_case = DROVER__ENVELOPE__BODY_LIMITS_SET;
	env.limits_set = &m;
	log_notice("%s the cluster's migration limits from drover.conf: %u out, %u in, "
		   "%u in all, %u retries", as_coordinator ? "seeding" : "pushing", l.per_source,
		   l.per_target, l.cluster, l.max_retries);
	if (as_coordinator)
		coord_send(d, &env);
	else
		membership_send(d, &env, false);
}

void drain_push_config_limits(struct droverd *d)
{
	if (!d->quorate || !d->synced)
		return;
	send_limits(d, false);
}

static void coordinate(struct droverd *d)
{
	/* A coordinator that is stopping decides nothing more; the next one takes over. */
	if (d->leaving)
		return;
	if (droverd_coordinator(d) != d->local_id) {
		d->n_aborted = 0;
		return;
	}
	/*
	 * Our last decision is not back yet, nor one of recovery or of a VM
	 * request: deciding now would place on a view that lacks it.
	 */
	if (d->coord_wait_seq || d->n_undelivered)
		return;
	if (!d->state.limits.set) {
		send_limits(d, true);
		return;
	}
	{
		struct coord_decision *c = xcalloc(1, sizeof(*c));
		struct input_buf *buf = xcalloc(1, sizeof(*buf));
		struct coord_input in;
		int r;

		input_build(d, &in, buf);
		r = coord_decide(&in, c);
		if (r < 0)
			log_err("the coordinator's queue decision failed: %s", strerror(-r));
		else
			send_decision(d, c);
		input_free(buf);
		free(buf);
		free(c);
	}
}

static void drain_timer_fn(void *data)
{
	struct droverd *d = data;

	d->drain_kicked = false;
	coordinate(d);
	qb_loop_timer_add(d->loop, QB_LOOP_LOW, (uint64_t)DRAIN_TICK_MS * QB_TIME_NS_IN_MSEC, d,
			  drain_timer_fn, &d->drain_timer);
}

void drain_kick(struct droverd *d)
{
	if (d->drain_kicked || d->stopping)
		return;
	d->drain_kicked = true;
	qb_loop_timer_del(d->loop, d->drain_timer);
	qb_loop_timer_add(d->loop, QB_LOOP_MED, (uint64_t)DRAIN_KICK_MS * QB_TIME_NS_IN_MSEC, d,
			  drain_timer_fn, &d->drain_timer);
}

void drain_start(struct droverd *d)
{
	qb_loop_timer_add(d->loop, QB_LOOP_LOW, (uint64_t)DRAIN_TICK_MS * QB_TIME_NS_IN_MSEC, d,
			  drain_timer_fn, &d->drain_timer);
}

void drain_stop(struct droverd *d)
{
	qb_loop_timer_del(d->loop, d->drain_timer);
}

/* ---- this node's migrations ---- */

static struct job_exec *exec_find(struct droverd *d, uint64_t job_id)
{
	for (size_t i = 0; i < d->n_execs; i++)
		if (d->execs[i].job_id == job_id)
			return &d->execs[i];
	return NULL;
}

static void exec_remove(struct droverd *d, struct job_exec *e)
{
	size_t i = (size_t)(e - d->execs);

	memmove(&d->execs[i], &d->execs[i + 1], (d->n_execs - i - 1) * sizeof(*e));
	d->n_execs--;
}

static void exec_start(struct droverd *d, const struct queue_job *j)
{
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentVmMigrateJob mig = DROVER__AGENT_VM_MIGRATE_JOB__INIT;
	char dest[512], data[512], msg[QUEUE_REASON_MAX], b[32];
	struct job_exec *e;
	int r;

	if (d->n_execs == DROVER_MAX_EXECS) {
		send_finish(d, j->id, false, "too many migrations in progress on the source", 0, 0,
			    false);
		return;
	}
	strscpy(b, nname(d, j->target, b, sizeof(b)), sizeof(b));
	vm_actions_expand_uri(dest, sizeof(dest), d->cfg.agent_dest_uri, b, j->network);
	r = nethealth_migrate_uri(d, j->network, j->target, data, sizeof(data));
	if (r < 0) {
		snprintf(msg, sizeof(msg), "network %.40s has no address for %.32s here", j->network,
			 b);
		send_finish(d, j->id, false, msg, 0, 0, false);
		return;
	}
	mig.vm = (char *)j->vm;
	mig.dest_uri = dest;
	mig.migrate_uri = data;
	mig.auto_converge = true;
	mig.tls = d->cfg.migration_tls;
	mig.completion_timeout_ms = MIGRATE_COMPLETION_MS;
	mig.no_progress_timeout_ms = d->cfg.mig_stall_ms;
	job.kind_case = DROVER__AGENT_JOB__KIND_VM_MIGRATE;
	job.vm_migrate = &mig;
	job.deadline_ms = MIGRATE_DEADLINE_MS;
	e = &d->execs[d->n_execs];
	memset(e, 0, sizeof(*e));
	e->job_id = j->id;
	strscpy(e->vm, j->vm, sizeof(e->vm));
	strscpy(e->network, j->network, sizeof(e->network));
	state_job_attempt(j, &e->attempt);
	if (agent_link_submit(d, &job, &e->agent_job) < 0) {
		send_finish(d, j->id, false, "the source's agent is unavailable", 0, 0, false);
		return;
	}
	d->n_execs++;
	log_notice("job %llu: migrating VM %s to %s over %s (%s, data %s%s)",
		   (unsigned long long)j->id, j->vm, b, j->network, dest, *data ? data : "default",
		   mig.tls ? ", TLS" : "");
}

static void exec_abort(struct droverd *d, struct job_exec *e, const char *reason)
{
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentVmNameJob name = DROVER__AGENT_VM_NAME_JOB__INIT;
	uint64_t id;

	if (e->abort_sent)
		return;
	e->abort_sent = true;
	strscpy(e->abort_reason, reason, sizeof(e->abort_reason));
	name.vm = e->vm;
	job.kind_case = DROVER__AGENT_JOB__KIND_ABORT_MIGRATION;
	job.abort_migration = &name;
	job.deadline_ms = 60000;
	log_notice("job %llu: aborting the migration of VM %s: %s", (unsigned long long)e->job_id,
		   e->vm, reason);
	if (agent_link_submit(d, &job, &id) < 0)
		log_warn("job %llu: cannot ask the agent to abort: no agent",
			 (unsigned long long)e->job_id);
}

void drain_abort_own(struct droverd *d, const char *reason)
{
	for (size_t i = 0; i < d->n_execs; i++)
		exec_abort(d, &d->execs[i], reason);
}

bool drain_agent_job_done(struct droverd *d, uint64_t agent_job, const Drover__AgentJobResult *r)
{
	char msg[QUEUE_REASON_MAX];
	bool ok = r->outcome == DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK;

	for (size_t i = 0; i < d->n_execs; i++) {
		struct job_exec *e = &d->execs[i];

		if (e->agent_job != agent_job)
			continue;
		if (ok)
			msg[0] = '\0';
		else if (e->abort_sent)
			snprintf(msg, sizeof(msg), "%s", e->abort_reason);
		else if (r->outcome == DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_TIMEOUT)
			snprintf(msg, sizeof(msg), "timed out: %s", r->error ? r->error : "");
		else
			snprintf(msg, sizeof(msg), "%s", r->error && *r->error ? r->error : "failed");
		if (e->orphan) {
			uint64_t id = e->job_id;
			const struct queue_job *j;

			/*
			 * The cluster announced this attempt's end for us: ours
			 * is not announced. Where the VM went, the inventories
			 * tell. A later attempt of the same job that started
			 * meanwhile waited for this one: it starts now.
			 */
			log_notice("job %llu: orphan attempt of VM %s %s%s%s (not announced)",
				   (unsigned long long)id, e->vm, ok ? "completed" : "ended",
				   ok ? "" : ": ", msg);
			if (ok) {
				/* The VM is on the target now: our inventories say so a while. */
				struct departure *slot = &d->departed[0];

				for (size_t k = 1; k < DROVER_MAX_EXECS; k++)
					if (d->departed[k].at_ms < slot->at_ms)
						slot = &d->departed[k];
				strscpy(slot->vm, e->vm, sizeof(slot->vm));
				slot->target = e->attempt.target;
				slot->at_ms = now_ms();
				slot->at_ms += !slot->at_ms;
			}
			exec_remove(d, e);
			agent_link_request_inventory(d);
			j = state_job_find(&d->state, id);
			if (j && j->kind == QUEUE_OP_MIGRATE && j->state == QUEUE_JOB_RUNNING &&
			    j->source == d->local_id && d->synced)
				exec_start(d, j);
			return true;
		}
		log_notice("job %llu: migration of VM %s %s%s%s", (unsigned long long)e->job_id,
			   e->vm, ok ? "done" : "failed", ok ? "" : ": ", msg);
		send_finish(d, e->job_id, ok, msg, e->bytes, ok ? e->downtime_ms : 0, false);
		exec_remove(d, e);
		agent_link_request_inventory(d);
		return true;
	}
	return false;
}

bool drain_agent_job_progress(struct droverd *d, uint64_t agent_job, const Drover__MigrationProgress *p)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobProgress m = DROVER__JOB_PROGRESS__INIT;

	for (size_t i = 0; i < d->n_execs; i++) {
		struct job_exec *e = &d->execs[i];

		if (e->agent_job != agent_job)
			continue;
		/* An orphan's progress is no attempt's the cluster runs. */
		if (!p || e->orphan)
			return true;
		e->bytes = p->memory_processed;
		if (p->downtime_ms)
			e->downtime_ms = p->downtime_ms;
		m.job_id = e->job_id;
		m.migration = (Drover__MigrationProgress *)p;
		env.body_case = DROVER__ENVELOPE__BODY_JOB_PROGRESS;
		env.job_progress = &m;
		membership_send(d, &env, false);
		return true;
	}
	return false;
}

void drain_agent_lost(struct droverd *d)
{
	/* An orphan's end is never announced: the cluster ended its attempt already. */
	for (size_t i = 0; i < d->n_execs; i++)
		if (!d->execs[i].orphan)
			send_finish(d, d->execs[i].job_id, false,
				    "the source's agent died during the migration", d->execs[i].bytes, 0,
				    false);
	d->n_execs = 0;
}

void drain_take_step(struct droverd *d, const struct queue_job *j)
{
	if (!j || j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING ||
	    state_op_executor(j) != d->local_id)
		return;
	if (j->step >= j->n_plan || j->plan[j->step].kind == DROVER__OP_STEP_KIND__OP_STEP_TRANSFER) {
		/* An orphan attempt of the same job still ending: its end starts this one. */
		if (j->source != d->local_id || exec_find(d, j->id))
			return;
		/* Decided before our stop was seen: refuse it (leave.c). */
		if (d->leaving)
			send_finish(d, j->id, false, "droverd on the source is stopping", 0, 0, false);
		else
			exec_start(d, j);
		return;
	}
	vf_exec_step(d, j);
}

/* ---- delivered messages ---- */

/*
 * This node is being drained: its migrations are planned next (the
 * coordinator's JobsAdd, then JobStart), so its agent starts the job workers
 * for the first of them now, one round earlier than JobsAdd would.
 */
void drain_on_node_state(struct droverd *d, uint32_t from, bool from_self,
			 const Drover__Envelope *env, int r)
{
	struct mig_limits l;

	(void)from;
	(void)from_self;
	if (r != 1 || env->set_node_state->node_id != d->local_id ||
	    env->set_node_state->state != DROVER__NODE_STATE__NODE_STATE_DRAINING)
		return;
	drain_limits(d, &l);
	(void)agent_link_prewarm(d, l.per_source ? l.per_source : 2);
}

/*
 * Migrations from this node were queued: the agent keeps no job worker at
 * rest, so have it start them now, while the coordinator decides (its round
 * follows DRAIN_KICK_MS later), rather than when the migration's AgentJob
 * arrives. bench/README.md has the figures.
 */
static void prewarm_agent(struct droverd *d)
{
	uint32_t queued = 0, running = 0;
	struct mig_limits l;

	for (size_t i = 0; i < d->state.n_jobs; i++) {
		const struct queue_job *j = &d->state.jobs[i];

		if (j->kind != QUEUE_OP_MIGRATE || j->source != d->local_id)
			continue;
		queued += j->state == QUEUE_JOB_QUEUED;
		running += j->state == QUEUE_JOB_RUNNING;
	}
	/* Only as many as may start now: more would leave before their turn. */
	drain_limits(d, &l);
	if (l.per_source && running >= l.per_source)
		queued = 0;
	else if (l.per_source && queued > l.per_source - running)
		queued = l.per_source - running;
	if (queued)
		(void)agent_link_prewarm(d, queued);
}

void drain_on_applied(struct droverd *d, uint32_t from, bool from_self, const Drover__Envelope *env,
		      int r)
{
	(void)from;
	(void)from_self;
	if (r == 1) {
		switch (env->body_case) {
		case DROVER__ENVELOPE__BODY_JOBS_ADD:
			prewarm_agent(d);
			break;
		case DROVER__ENVELOPE__BODY_JOB_START: {
			const struct queue_job *j = state_job_find(&d->state, env->job_start->job_id);

			/* A new attempt: an abort asked for an earlier one does not cover it. */
			for (size_t i = 0; i < d->n_aborted; i++)
				if (d->aborted[i] == env->job_start->job_id) {
					d->aborted[i] = d->aborted[--d->n_aborted];
					break;
				}
			drain_take_step(d, j);
			break;
		}
		case DROVER__ENVELOPE__BODY_JOBS_CANCEL:
			if (!env->jobs_cancel->abort)
				break;
			for (size_t i = 0; i < d->n_execs; i++) {
				const struct queue_job *j = state_job_find(&d->state, d->execs[i].job_id);

				if (j && j->cancel_requested)
					exec_abort(d, &d->execs[i], "drain cancelled with --abort");
			}
			break;
		case DROVER__ENVELOPE__BODY_JOB_FINISH:
			/* Transferred, and the target attaches a VF next; or the source re-attaches it. */
			drain_take_step(d, state_job_find(&d->state, env->job_finish->job_id));
			for (size_t i = 0; i < DROVER_MAX_PROGRESS; i++)
				if (d->progress[i].job_id == env->job_finish->job_id)
					d->progress[i].job_id = 0;
			for (size_t i = 0; i < DROVER_MAX_EXECS; i++)
				if (d->sent_finish[i].job_id == env->job_finish->job_id)
					d->sent_finish[i].job_id = 0;
			break;
		default:
			break;
		}
	}
	if (r == 1 && (env->body_case == DROVER__ENVELOPE__BODY_JOB_FINISH ||
		       env->body_case == DROVER__ENVELOPE__BODY_JOBS_CANCEL))
		ctl_server_jobs_ended(d);
	drain_kick(d);
	ctl_server_notify(d);
}

void drain_on_own_delivered(struct droverd *d, uint64_t seq)
{
	if (d->coord_wait_seq && seq >= d->coord_wait_seq) {
		d->coord_wait_seq = 0;
		drain_kick(d);
	}
}

void drain_on_progress(struct droverd *d, uint32_t from, const Drover__JobProgress *m)
{
	const struct queue_job *j = state_job_find(&d->state, m->job_id);
	const Drover__MigrationProgress *p = m->migration;
	struct job_progress *slot = NULL;

	if (!j || j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING || from != j->source ||
	    !p)
		return;
	for (size_t i = 0; i < DROVER_MAX_PROGRESS && !slot; i++)
		if (d->progress[i].job_id == m->job_id)
			slot = &d->progress[i];
	for (size_t i = 0; i < DROVER_MAX_PROGRESS && !slot; i++)
		if (!d->progress[i].job_id)
			slot = &d->progress[i];
	if (!slot) {
		/* Full of stale entries (their jobs were trimmed): take the oldest. */
		slot = &d->progress[0];
		for (size_t i = 1; i < DROVER_MAX_PROGRESS; i++)
			if (d->progress[i].at_ms < slot->at_ms)
				slot = &d->progress[i];
	}
	/* Progress never goes backwards on screen within one attempt. */
	if (slot->job_id == m->job_id && p->elapsed_ms >= slot->p.elapsed_ms &&
	    p->memory_processed < slot->p.memory_processed)
		return;
	slot->job_id = m->job_id;
	slot->at_ms = now_ms();
	drover__migration_progress__init(&slot->p);
	slot->p.iteration = p->iteration;
	slot->p.elapsed_ms = p->elapsed_ms;
	slot->p.memory_total = p->memory_total;
	slot->p.memory_processed = p->memory_processed;
	slot->p.memory_remaining = p->memory_remaining;
	slot->p.bytes_per_s = p->bytes_per_s;
	slot->p.dirty_rate = p->dirty_rate;
	ctl_server_notify(d);
}

const struct job_progress *drain_progress(const struct droverd *d, uint64_t job_id)
{
	for (size_t i = 0; i < DROVER_MAX_PROGRESS; i++)
		if (d->progress[i].job_id == job_id)
			return &d->progress[i];
	return NULL;
}

void drain_on_abort(struct droverd *d, uint32_t from, const Drover__JobAbort *m)
{
	struct job_exec *e;

	if (from != (d->n_members ? d->members[0] : 0)) {
		log_warn("dropping a job abort from node %u: not the coordinator", from);
		return;
	}
	e = exec_find(d, m->job_id);
	if (e)
		exec_abort(d, e, m->reason && *m->reason ? m->reason : "aborted by the coordinator");
}

void drain_on_members_changed(struct droverd *d)
{
	/* Everything we sent in the old membership has been delivered by now. */
	d->coord_wait_seq = 0;
	drain_kick(d);
}

size_t drain_departures(struct droverd *d, Drover__InventoryDeparture *ret, size_t max)
{
	uint64_t now = now_ms();
	size_t n = 0;

	for (size_t i = 0; i < d->n_execs && n < max; i++) {
		if (!d->execs[i].orphan)
			continue;
		drover__inventory_departure__init(&ret[n]);
		ret[n].vm = d->execs[i].vm;
		ret[n++].target = d->execs[i].attempt.target;
	}
	for (size_t i = 0; i < DROVER_MAX_EXECS && n < max; i++) {
		if (!d->departed[i].at_ms || now - d->departed[i].at_ms >= DRAIN_DEPARTED_MS)
			continue;
		drover__inventory_departure__init(&ret[n]);
		ret[n].vm = d->departed[i].vm;
		ret[n++].target = d->departed[i].target;
	}
	return n;
}

void drain_on_synced(struct droverd *d)
{
	/*
	 * A migration we execute whose attempt the cluster ended while we were
	 * away (partitioned off, or our droverd restarted while its agent went
	 * on): an orphan. Abort it and announce no end; the cluster announced
	 * one (and may start another attempt, which waits for this one).
	 */
	for (size_t i = 0; i < d->n_execs; i++) {
		struct job_exec *e = &d->execs[i];

		if (e->orphan || state_job_runs_attempt(&d->state, d->local_id, &e->attempt))
			continue;
		e->orphan = true;
		exec_abort(d, e, "the cluster ended this attempt while this node was away");
	}
	/*
	 * A job running from here that we do not execute: this droverd restarted
	 * under it (and its agent with it). Whatever the hypervisor finished, the
	 * inventories tell; the job is over as far as we can say.
	 */
	drain_finish_orphans(d, "droverd on the source restarted during the migration");
	drain_kick(d);
}

void drain_finish_orphans(struct droverd *d, const char *reason)
{
	for (size_t i = 0; i < d->state.n_jobs; i++) {
		const struct queue_job *j = &d->state.jobs[i];

		const struct sent_finish *f;

		/* An orphan of the same job starts this attempt when it ends. */
		if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING ||
		    j->source != d->local_id || exec_find(d, j->id))
			continue;
		/* A VF step is not a transfer: vf_exec_reconcile() ends it. */
		if (j->step < j->n_plan &&
		    j->plan[j->step].kind != DROVER__OP_STEP_KIND__OP_STEP_TRANSFER)
			continue;
		f = sent_finish_find(d, j->id);
		if (f) {
			/* Ours, said before and not applied (an exchange dropped it): again. */
			Drover__Envelope env = DROVER__ENVELOPE__INIT;
			Drover__JobFinish m = DROVER__JOB_FINISH__INIT;

			m.job_id = f->job_id;
			m.ok = f->ok;
			m.reason = (char *)f->reason;
			m.finished_ms = f->finished_ms;
			m.bytes = f->bytes;
			m.downtime_ms = f->downtime_ms;
			env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
			env.job_finish = &m;
			log_info("job %llu: saying its end again (%s): the last one was not applied",
				 (unsigned long long)f->job_id, f->ok ? "done" : "failed");
			membership_send(d, &env, false);
		} else {
			send_finish(d, j->id, false, reason, 0, 0, false);
		}
	}
}
