/*
 * The CLI's requests about drains and the migration queue: node drain (and
 * its dry run), node resume, drain cancel, queue, history, config set/show,
 * and subscriptions for `drover top`.
 *
 * Reads are answered at once from this node's copy of the replicated queue,
 * with blockers computed here on a copy (every member holds the same view, so
 * every member explains a wait alike). Changes are multicast and answered when
 * they come back in agreed order, like every other change (ctl_server.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "droverd.h"
#include "exitcode.h"
#include "log.h"
#include "coord.h"
#include "names.h"
#include "recover_view.h"
#include "util.h"

#define PLAN_MAX_WAVES 256
#define DOWN_PAIRS_MAX 16

/* Strings a reply points to, freed together once it is sent. */
struct pool {
	char **s;
	size_t n, cap;
};

/* Keep ptr (from malloc) until pool_free(); returns it. */
static void *pool_keep(struct pool *p, void *ptr)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->s = xrealloc(p->s, p->cap * sizeof(*p->s));
	}
	p->s[p->n++] = ptr;
	return ptr;
}

static char *pool_printf(struct pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *pool_printf(struct pool *p, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		abort();
	return pool_keep(p, s);
}

static void pool_free(struct pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->s[i]);
	free(p->s);
	memset(p, 0, sizeof(*p));
}

static const char *nname(const struct droverd *d, uint32_t id, struct pool *p)
{
	char b[NODE_NAME_MAX];

	if (!id)
		return "";
	return pool_printf(p, "%s", links_node_name(d, id, b, sizeof(b)));
}

static const struct known_node *node_arg(struct droverd *d, qb_ipcs_connection_t *c,
					 const char *name)
{
	const struct known_node *k;
	char msg[160];

	if (!name || !*name) {
		ctl_reply_error(c, DROVER_EXIT_USAGE, "no node given");
		return NULL;
	}
	k = links_find_by_name(d, name);
	if (!k) {
		snprintf(msg, sizeof(msg), "no such node '%s' in corosync's nodelist", name);
		ctl_reply_error(c, DROVER_EXIT_NOSUCH, msg);
	}
	return k;
}


static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The node's managed VMs that run there, sorted by name (jobs are queued in this order). */
static size_t vms_on(const struct droverd *d, const struct node_obs *o, const char **ret)
{
	size_t n = 0;

	for (size_t i = 0; o && o->agent_ok && i < o->n_domains; i++)
		if (droverd_vm_state_active(o->domains[i].state) && state_vm_find(&d->state, o->domains[i].name))
			ret[n++] = o->domains[i].name;
	qsort(ret, n, sizeof(*ret), cmp_str);
	return n;
}

/* ---- views ---- */

static void fill_job(const struct droverd *d, const struct queue_job *j, Drover__JobView *v,
		     struct pool *p)
{
	const struct job_progress *jp = j->state == QUEUE_JOB_RUNNING ? drain_progress(d, j->id) : NULL;
	Drover__JobAttemptView **ap = NULL;

	drover__job_view__init(v);
	v->id = j->id;
	v->vm = (char *)j->vm;
	v->kind = (char *)state_op_kind_name(j->kind);
	switch (j->kind) {
	case QUEUE_OP_MIGRATE:
		v->from = (char *)nname(d, j->source, p);
		v->to = (char *)(j->state == QUEUE_JOB_QUEUED ? "" : nname(d, j->target, p));
		v->network = (char *)(j->state == QUEUE_JOB_QUEUED ? "" : j->network);
		break;
	case QUEUE_OP_START:
		/* From the fenced host it ran on (a failover), to where it starts. */
		v->from = (char *)(j->lost_from ? nname(d, j->lost_from, p) : "");
		v->to = (char *)nname(d, j->source, p);
		v->network = (char *)"";
		break;
	case QUEUE_OP_STOP:
		v->from = (char *)nname(d, j->source, p);
		v->to = (char *)"";
		v->network = (char *)"";
		break;
	case QUEUE_OP_VF_ATTACH:
		/* Where the VF is attached: the VM's own host. */
		v->from = (char *)"";
		v->to = (char *)nname(d, j->source, p);
		v->network = (char *)"";
		break;
	}
	v->state = (char *)queue_job_state_name(j->state);
	v->eta_s = -1;
	if (jp) {
		const Drover__MigrationProgress *m = &jp->p;

		v->total_bytes = m->memory_total;
		v->processed_bytes = m->memory_processed;
		v->remaining_bytes = m->memory_remaining;
		v->rate_bps = m->bytes_per_s;
		if (m->memory_total) {
			uint64_t done = m->memory_total > m->memory_remaining
						? m->memory_total - m->memory_remaining
						: 0;
			v->progress_pct = (uint32_t)(done * 100u / m->memory_total);
		}
		if (m->bytes_per_s)
			v->eta_s = (int64_t)((m->memory_remaining + m->bytes_per_s - 1) / m->bytes_per_s);
	} else if (j->state == QUEUE_JOB_DONE) {
		v->progress_pct = 100;
		v->eta_s = 0;
	}
	if (j->state == QUEUE_JOB_QUEUED) {
		v->blocker = (char *)j->blocker_text;
		v->blocker_code = (char *)queue_blocker_name(j->blocker);
	} else {
		v->blocker = (char *)"";
		v->blocker_code = (char *)"";
	}
	if (j->n_attempts) {
		Drover__JobAttemptView *av = pool_keep(p, xcalloc(j->n_attempts, sizeof(*av)));

		ap = pool_keep(p, xcalloc(j->n_attempts, sizeof(*ap)));
		for (size_t a = 0; a < j->n_attempts; a++) {
			const struct queue_attempt *at = &j->attempts[a];

			drover__job_attempt_view__init(&av[a]);
			av[a].network = (char *)at->network;
			av[a].target = (char *)nname(d, at->target, p);
			av[a].result = (char *)queue_result_name(at->result);
			av[a].reason = (char *)at->reason;
			ap[a] = &av[a];
		}
	}
	v->n_attempts = j->n_attempts;
	v->attempts = ap;
	v->origin = (char *)job_origin_name(j->origin);
	v->priority = (Drover__VmPriority)j->priority;
	v->created_ms = j->created_ms;
	v->started_ms = j->started_ms;
	v->finished_ms = j->finished_ms;
	v->error = (char *)j->error;
	v->memory_mib = j->memory_mib;
}

/* Running migrations leaving / arriving at a node, and queued ones leaving it. */
static void node_counts(const struct droverd *d, uint32_t id, uint32_t *out, uint32_t *in,
			uint32_t *queued)
{
	*out = *in = *queued = 0;
	for (size_t i = 0; i < d->state.n_jobs; i++) {
		const struct queue_job *j = &d->state.jobs[i];

		if (j->kind != QUEUE_OP_MIGRATE)
			continue;
		if (j->state == QUEUE_JOB_RUNNING) {
			*out += j->source == id;
			*in += j->target == id;
		} else if (j->state == QUEUE_JOB_QUEUED) {
			*queued += j->source == id;
		}
	}
}

static Drover__NetworkView **fill_networks(const struct droverd *d, struct pool *p, size_t *ret_n)
{
	size_t n = nethealth_n_networks(d);
	Drover__NetworkView *nv = pool_keep(p, xcalloc(n, sizeof(*nv)));
	Drover__NetworkView **nvp = pool_keep(p, xcalloc(n, sizeof(*nvp)));
	struct mig_limits l;

	drain_limits(d, &l);
	for (size_t k = 0; k < n; k++) {
		const char *name = nethealth_network_name(d, k);
		char **down = pool_keep(p, xcalloc(DOWN_PAIRS_MAX, sizeof(*down)));
		char kb[48];

		drover__network_view__init(&nv[k]);
		nvp[k] = &nv[k];
		nv[k].name = (char *)name;
		nv[k].order = (uint32_t)k + 1;
		nv[k].kind = pool_printf(p, "%s", nethealth_kind(d, k, kb, sizeof(kb)));
		for (size_t c = 0; c < l.n_caps; c++)
			if (strcmp(l.caps[c].network, name) == 0)
				nv[k].cap = l.caps[c].cap;
		for (size_t i = 0; i < d->state.n_jobs; i++) {
			const struct queue_job *j = &d->state.jobs[i];
			const struct job_progress *jp;

			if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING ||
			    strcmp(j->network, name) != 0)
				continue;
			nv[k].active++;
			jp = drain_progress(d, j->id);
			if (jp)
				nv[k].rate_bps += jp->p.bytes_per_s;
		}
		for (size_t a = 0; a < d->n_members; a++)
			for (size_t b = a + 1; b < d->n_members; b++) {
				uint32_t x = d->members[a], y = d->members[b];

				nv[k].pairs_total++;
				if (nethealth_usable(d, k, x, y)) {
					nv[k].pairs_up++;
				} else if (nv[k].n_down < DOWN_PAIRS_MAX) {
					const char *xn = nname(d, x, p), *yn = nname(d, y, p);

					down[nv[k].n_down++] = pool_printf(p, "%s-%s", xn, yn);
				}
			}
		nv[k].down = down;
	}
	*ret_n = n;
	return nvp;
}

static void fill_limits(const struct mig_limits *l, Drover__MigrationLimits *m,
			Drover__NetworkCap *caps, Drover__NetworkCap **cp)
{
	drover__migration_limits__init(m);
	m->set = l->set;
	m->per_source = l->per_source;
	m->per_target = l->per_target;
	m->cluster = l->cluster;
	m->max_retries = l->max_retries;
	for (size_t i = 0; i < l->n_caps; i++) {
		drover__network_cap__init(&caps[i]);
		caps[i].network = (char *)l->caps[i].network;
		caps[i].cap = l->caps[i].cap;
		cp[i] = &caps[i];
	}
	m->n_network_caps = l->n_caps;
	m->network_caps = cp;
}

static int cmp_finished_desc(const void *a, const void *b)
{
	const struct queue_job *x = a, *y = b;

	if (x->finished_ms != y->finished_ms)
		return x->finished_ms > y->finished_ms ? -1 : 1;
	return x->id > y->id ? -1 : x->id < y->id;
}

static void reply_queue(struct droverd *d, qb_ipcs_connection_t *c)
{
	Drover__CtlResponse resp = DROVER__CTL_RESPONSE__INIT;
	Drover__QueueReply q = DROVER__QUEUE_REPLY__INIT;
	Drover__MigrationLimits ml;
	Drover__NetworkCap caps[QUEUE_MAX_NETWORKS], *cp[QUEUE_MAX_NETWORKS];
	Drover__NodeSlots ns[DROVER_MAX_NODES], *nsp[DROVER_MAX_NODES];
	struct mig_limits l;
	struct pool p = { 0 };
	size_t n = d->state.n_jobs, nu = 0, nf = 0;
	struct queue_job *jobs = xcalloc(n ? n : 1, sizeof(*jobs));
	struct queue_job *fin = xcalloc(n ? n : 1, sizeof(*fin));
	Drover__JobView *jv = xcalloc(n ? n : 1, sizeof(*jv));
	Drover__JobView **jvp = xcalloc(n ? n : 1, sizeof(*jvp));
	size_t n_nets;
	struct rec_row *rows = NULL;
	Drover__RecoveryView *rv = NULL, **rvp = NULL;
	int n_rows;

	for (size_t i = 0; i < n; i++) {
		const struct queue_job *j = &d->state.jobs[i];

		if (j->state == QUEUE_JOB_QUEUED || j->state == QUEUE_JOB_RUNNING)
			jobs[nu++] = *j;
		else
			fin[nf++] = *j;
	}
	drain_blockers(d, jobs, nu);
	qsort(fin, nf, sizeof(*fin), cmp_finished_desc);
	for (size_t i = 0; i < nu; i++) {
		fill_job(d, &jobs[i], &jv[i], &p);
		jvp[i] = &jv[i];
	}
	for (size_t i = 0; i < nf; i++) {
		fill_job(d, &fin[i], &jv[nu + i], &p);
		jvp[nu + i] = &jv[nu + i];
	}
	q.n_jobs = nu + nf;
	q.jobs = jvp;
	q.networks = fill_networks(d, &p, &n_nets);
	q.n_networks = n_nets;
	drain_limits(d, &l);
	fill_limits(&l, &ml, caps, cp);
	q.limits = &ml;
	for (size_t i = 0; i < d->n_nodes; i++) {
		const struct known_node *k = &d->nodes[i];
		const struct node_obs *o = droverd_obs(d, k->id);
		uint32_t queued;

		drover__node_slots__init(&ns[i]);
		nsp[i] = &ns[i];
		ns[i].name = (char *)k->name;
		ns[i].id = k->id;
		ns[i].state = state_node_get(&d->state, k->id);
		ns[i].online = droverd_is_member(d, k->id);
		node_counts(d, k->id, &ns[i].out, &ns[i].in, &queued);
		for (size_t j = 0; o && j < o->n_domains; j++) {
			const struct vm_cfg *v = state_vm_find(&d->state, o->domains[j].name);

			if (!droverd_vm_state_active(o->domains[j].state) || !v)
				continue;
			if (o->domains[j].state == DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING) {
				ns[i].vms++;
				ns[i].memory_used_mib += v->memory_mib;
			}
		}
		ns[i].memory_mib = o ? o->memory_mib : 0;
	}
	q.n_nodes = d->n_nodes;
	q.nodes = nsp;
	n_rows = failover_rows(d, &rows);
	if (n_rows > 0) {
		rv = xcalloc((size_t)n_rows, sizeof(*rv));
		rvp = xcalloc((size_t)n_rows, sizeof(*rvp));
		for (int i = 0; i < n_rows; i++) {
			const struct rec_row *w = &rows[i];

			drover__recovery_view__init(&rv[i]);
			rvp[i] = &rv[i];
			rv[i].vm = (char *)w->vm;
			rv[i].state = (char *)rec_row_state_name(w->state);
			rv[i].priority = (char *)vm_priority_name(w->priority);
			rv[i].from = (char *)(w->from ? nname(d, w->from, &p) : "");
			rv[i].to = (char *)(w->to ? nname(d, w->to, &p) : "");
			rv[i].since_ms = w->since_ms;
			rv[i].for_vm = (char *)w->for_vm;
			rv[i].reason = (char *)w->reason;
		}
		q.n_recoveries = (size_t)n_rows;
		q.recoveries = rvp;
	}
	resp.exit_code = DROVER_EXIT_OK;
	resp.queue = &q;
	ctl_send_response(c, &resp);
	pool_free(&p);
	free(rows);
	free(rv);
	free(rvp);
	free(jobs);
	free(fin);
	free(jv);
	free(jvp);
}

static const char *result_name(enum queue_job_state s)
{
	return s == QUEUE_JOB_DONE ? "ok" : queue_job_state_name(s);
}

static void reply_history(struct droverd *d, qb_ipcs_connection_t *c, const Drover__HistoryRequest *req)
{
	Drover__CtlResponse resp = DROVER__CTL_RESPONSE__INIT;
	Drover__HistoryReply h = DROVER__HISTORY_REPLY__INIT;
	size_t n = d->state.n_history, lim = req && req->limit ? req->limit : n;
	Drover__HistoryView *hv, **hvp;
	struct pool p = { 0 };

	if (lim > n)
		lim = n;
	hv = xcalloc(lim ? lim : 1, sizeof(*hv));
	hvp = xcalloc(lim ? lim : 1, sizeof(*hvp));
	for (size_t i = 0; i < lim; i++) {
		const struct history_entry *e = &d->state.history[n - 1 - i];

		drover__history_view__init(&hv[i]);
		hvp[i] = &hv[i];
		hv[i].job_id = e->job_id;
		hv[i].vm = (char *)e->vm;
		hv[i].kind = (char *)state_op_kind_name(e->kind);
		hv[i].from = (char *)(e->source ? nname(d, e->source, &p) : "");
		hv[i].to = (char *)(e->target ? nname(d, e->target, &p) : "");
		hv[i].fenced_ms = e->fenced_ms;
		hv[i].network = (char *)e->network;
		hv[i].result = (char *)result_name(e->result);
		hv[i].started_ms = e->started_ms;
		hv[i].finished_ms = e->finished_ms;
		hv[i].duration_ms = e->started_ms && e->finished_ms > e->started_ms
					    ? e->finished_ms - e->started_ms
					    : 0;
		hv[i].downtime_ms = e->downtime_ms;
		hv[i].bytes = e->bytes;
		hv[i].attempts = e->attempts;
		hv[i].error = (char *)e->error;
		hv[i].origin = (char *)job_origin_name(e->origin);
	}
	h.n_entries = lim;
	h.entries = hvp;
	resp.exit_code = DROVER_EXIT_OK;
	resp.history = &h;
	ctl_send_response(c, &resp);
	pool_free(&p);
	free(hv);
	free(hvp);
}

static void reply_config(struct droverd *d, qb_ipcs_connection_t *c)
{
	Drover__CtlResponse resp = DROVER__CTL_RESPONSE__INIT;
	Drover__ConfigReply cr = DROVER__CONFIG_REPLY__INIT;
	Drover__MigrationLimits ml;
	Drover__NetworkCap caps[QUEUE_MAX_NETWORKS], *cp[QUEUE_MAX_NETWORKS];
	struct mig_limits l;

	drain_limits(d, &l);
	fill_limits(&l, &ml, caps, cp);
	cr.limits = &ml;
	resp.exit_code = DROVER_EXIT_OK;
	resp.config = &cr;
	ctl_send_response(c, &resp);
}

/* ---- drain plan (dry run) ---- */

/*
 * Simulate the drain on the current view: dispatch, let every started
 * migration finish (moving its memory from source to target), dispatch
 * again, until nothing more starts. Waves approximate the order: a real drain
 * hands a slot on the moment a migration ends.
 */
/* What a plan step says of the VM's VF (PlanStep.vf). */
static const char *plan_vf_name(enum queue_plan_vf vf)
{
	switch (vf) {
	case QUEUE_PLAN_VF_GETS:
		return "vf";
	case QUEUE_PLAN_VF_DEGRADED:
		return "degraded";
	case QUEUE_PLAN_VF_WAITS:
		return "waits";
	case QUEUE_PLAN_VF_NONE:
	default:
		return "";
	}
}

static void reply_plan(struct droverd *d, qb_ipcs_connection_t *c, const struct known_node *k)
{
	Drover__CtlResponse resp = DROVER__CTL_RESPONSE__INIT;
	Drover__DrainPlan plan = DROVER__DRAIN_PLAN__INIT;
	const struct node_obs *o = droverd_obs(d, k->id);
	struct queue_view v;
	size_t n = 0, n_plan = 0, cap = d->state.n_jobs + (o ? o->n_domains : 0) + 1;
	struct queue_job *jobs = xcalloc(cap, sizeof(*jobs));
	bool *mine = xcalloc(cap, sizeof(*mine));
	struct queue_plan_step *steps;
	Drover__PlanStep *st, **stp;
	struct pool p = { 0 };
	uint64_t now = wall_ms();
	const char **names;
	size_t n_names;
	drain_build_view(d, &v);
	/* SR-IOV: the free VFs, so that the plan says who gets one, who lands degraded. */
	coord_view_add_vf(&d->state, &v);
	/* As if draining already: nothing lands on it. */
	for (size_t i = 0; i < v.n_nodes; i++)
		if (v.nodes[i].id == k->id)
			v.nodes[i].usable_target = false;
	for (size_t i = 0; i < d->state.n_jobs; i++) {
		const struct queue_job *j = &d->state.jobs[i];

		if (j->kind != QUEUE_OP_MIGRATE ||
		    (j->state != QUEUE_JOB_QUEUED && j->state != QUEUE_JOB_RUNNING))
			continue;
		mine[n] = j->source == k->id && j->state == QUEUE_JOB_QUEUED;
		jobs[n] = *j;
		coord_job_add_vf(&d->state, &jobs[n++]);
	}
	names = xcalloc(o && o->n_domains ? o->n_domains : 1, sizeof(*names));
	n_names = vms_on(d, o, names);
	for (size_t i = 0; i < n_names; i++) {
		const struct vm_cfg *vc = state_vm_find(&d->state, names[i]);

		if (!vc || state_job_active((struct cluster_state *)&d->state, vc->name))
			continue;
		if (queue_job_init(&jobs[n], d->state.next_job_id + n, vc->name,
				   (enum queue_priority)vc->priority, vc->memory_mib, vc->vcpus, k->id,
				   now) < 0)
			continue;
		coord_job_add_vf(&d->state, &jobs[n]);
		mine[n++] = true;
	}
	steps = xcalloc(n ? n : 1, sizeof(*steps));
	queue_plan(&v, jobs, n, now, PLAN_MAX_WAVES, steps);
	for (size_t i = 0; i < n; i++)
		n_plan += mine[i];
	st = xcalloc(n_plan ? n_plan : 1, sizeof(*st));
	stp = xcalloc(n_plan ? n_plan : 1, sizeof(*stp));
	n_plan = 0;
	/* In the order they start: by wave, then the queue's own order; never last. */
	for (uint32_t w = 1; w <= PLAN_MAX_WAVES + 1; w++)
		for (size_t i = 0; i < n; i++) {
			Drover__PlanStep *s;
			uint32_t sw = steps[i].wave ? steps[i].wave : PLAN_MAX_WAVES + 1;

			if (!mine[i] || sw != w)
				continue;
			s = &st[n_plan];
			drover__plan_step__init(s);
			stp[n_plan++] = s;
			s->vm = pool_printf(&p, "%s", jobs[i].vm);
			s->to = (char *)nname(d, steps[i].target, &p);
			s->network = pool_printf(&p, "%s", steps[i].network);
			s->wave = steps[i].wave;
			s->blocker = pool_printf(&p, "%s", steps[i].blocker);
			s->memory_mib = jobs[i].memory_mib;
			s->vf_pool = pool_printf(&p, "%s", jobs[i].want_vf_pool);
			s->vf = (char *)plan_vf_name(steps[i].vf);
		}
	plan.node = (char *)k->name;
	plan.n_steps = n_plan;
	plan.steps = stp;
	resp.exit_code = DROVER_EXIT_OK;
	resp.plan = &plan;
	ctl_send_response(c, &resp);
	pool_free(&p);
	free(st);
	free(stp);
	free(jobs);
	free(steps);
	free(mine);
	free(names);
}

/* ---- changes ---- */

/*
 * Multicast first (a node state change or a cancel) and then, if there are
 * any, the jobs to add, answering the client when the last of them is
 * applied. A sender's messages keep their order in CPG, so every member
 * applies first before the jobs. *first_rid is first's request_id field.
 */
static void submit_with_jobs(struct droverd *d, qb_ipcs_connection_t *c, Drover__Envelope *first,
			     uint64_t *first_rid, Drover__JobSpec **specs, size_t n, const char *what)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsAdd add = DROVER__JOBS_ADD__INIT;
	uint64_t rid = ++d->next_request_id;

	if (!n) {
		*first_rid = rid;
		ctl_submit_change(d, c, first, rid, what);
		return;
	}
	membership_send(d, first, false);
	add.n_jobs = n;
	add.jobs = specs;
	add.created_ms = wall_ms();
	add.request_id = rid;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &add;
	ctl_submit_change(d, c, &env, rid, what);
}

static void handle_drain(struct droverd *d, qb_ipcs_connection_t *c, const Drover__NodeDrainRequest *req)
{
	Drover__Envelope env1 = DROVER__ENVELOPE__INIT;
	Drover__SetNodeState sns = DROVER__SET_NODE_STATE__INIT;
	const struct known_node *k = node_arg(d, c, req ? req->node : NULL);
	const struct node_obs *o;
	Drover__JobSpec *specs, **sp;
	Drover__NodeState st;
	const char **names;
	size_t n = 0, n_names;
	char msg[200];

	if (!k)
		return;
	if (req->dry_run) {
		reply_plan(d, c, k);
		return;
	}
	if (ctl_change_refused(d, c))
		return;
	st = state_node_get(&d->state, k->id);
	if (st == DROVER__NODE_STATE__NODE_STATE_FENCED) {
		snprintf(msg, sizeof(msg), "node '%s' is fenced: nothing runs there to drain", k->name);
		ctl_reply_error(c, DROVER_EXIT_INVALID_PARAM, msg);
		return;
	}
	o = droverd_obs(d, k->id);
	specs = xcalloc(o && o->n_domains ? o->n_domains : 1, sizeof(*specs));
	sp = xcalloc(o && o->n_domains ? o->n_domains : 1, sizeof(*sp));
	names = xcalloc(o && o->n_domains ? o->n_domains : 1, sizeof(*names));
	n_names = vms_on(d, o, names);
	for (size_t i = 0; i < n_names; i++) {
		const char *vm = names[i];

		if (state_job_active(&d->state, vm))
			continue;
		drover__job_spec__init(&specs[n]);
		specs[n].vm = (char *)vm;
		specs[n].source = k->id;
		specs[n].origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_DRAIN;
		sp[n] = &specs[n];
		n++;
	}
	/* The node turns draining first: nothing is placed on it once its VMs are queued. */
	sns.node_id = k->id;
	sns.state = DROVER__NODE_STATE__NODE_STATE_DRAINING;
	env1.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
	env1.set_node_state = &sns;
	snprintf(msg, sizeof(msg), "drain node '%s' (%zu VMs to move)", k->name, n);
	submit_with_jobs(d, c, &env1, &sns.request_id, sp, n, msg);
	free(specs);
	free(sp);
	free(names);
}

static void handle_resume(struct droverd *d, qb_ipcs_connection_t *c, const Drover__NodeResumeRequest *req)
{
	Drover__Envelope env1 = DROVER__ENVELOPE__INIT;
	Drover__SetNodeState sns = DROVER__SET_NODE_STATE__INIT;
	Drover__JobsCancel jc = DROVER__JOBS_CANCEL__INIT;
	const struct known_node *k = node_arg(d, c, req ? req->node : NULL);
	Drover__JobSpec *specs, **sp;
	size_t n = 0;
	char msg[200];

	if (!k || ctl_change_refused(d, c))
		return;
	if (state_node_get(&d->state, k->id) == DROVER__NODE_STATE__NODE_STATE_DRAINING) {
		/* Resuming a node mid-drain first stops the drain's queued moves. */
		jc.node = k->id;
		jc.at_ms = wall_ms();
		jc.reason = (char *)"the node was resumed";
		env1.body_case = DROVER__ENVELOPE__BODY_JOBS_CANCEL;
		env1.jobs_cancel = &jc;
	} else {
		sns.node_id = k->id;
		sns.state = DROVER__NODE_STATE__NODE_STATE_ACTIVE;
		env1.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
		env1.set_node_state = &sns;
	}
	specs = xcalloc(d->state.n_jobs + 1, sizeof(*specs));
	sp = xcalloc(d->state.n_jobs + 1, sizeof(*sp));
	/* Failback: the newest done drain job of each VM that left, if it still runs where it went. */
	for (size_t i = d->state.n_jobs; req->failback && i-- > 0;) {
		const struct queue_job *j = &d->state.jobs[i];
		const struct node_obs *o;
		bool seen = false, there = false;

		if (j->source != k->id || j->origin != DROVER__JOB_ORIGIN__JOB_ORIGIN_DRAIN ||
		    j->state != QUEUE_JOB_DONE || state_job_active(&d->state, j->vm))
			continue;
		for (size_t s = 0; s < n; s++)
			seen |= strcmp(specs[s].vm, j->vm) == 0;
		o = droverd_obs(d, j->target);
		for (size_t x = 0; o && o->agent_ok && x < o->n_domains; x++)
			there |= strcmp(o->domains[x].name, j->vm) == 0 && droverd_vm_state_active(o->domains[x].state);
		if (seen || !there)
			continue;
		drover__job_spec__init(&specs[n]);
		specs[n].vm = (char *)j->vm;
		specs[n].source = j->target;
		specs[n].fixed_target = k->id;
		specs[n].origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_FAILBACK;
		sp[n] = &specs[n];
		n++;
	}
	snprintf(msg, sizeof(msg), "resume node '%s'%s", k->name,
		 req->failback ? " with failback" : "");
	submit_with_jobs(d, c, &env1,
			 env1.body_case == DROVER__ENVELOPE__BODY_JOBS_CANCEL ? &jc.request_id
									    : &sns.request_id,
			 sp, n, msg);
	free(specs);
	free(sp);
}

static void handle_cancel(struct droverd *d, qb_ipcs_connection_t *c, const Drover__DrainCancelRequest *req)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsCancel jc = DROVER__JOBS_CANCEL__INIT;
	const struct known_node *k = node_arg(d, c, req ? req->node : NULL);
	char msg[160];

	if (!k || ctl_change_refused(d, c))
		return;
	jc.node = k->id;
	jc.abort = req->abort;
	jc.at_ms = wall_ms();
	jc.reason = (char *)(req->abort ? "drain cancelled by the operator (--abort)"
					: "drain cancelled by the operator");
	jc.request_id = ++d->next_request_id;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_CANCEL;
	env.jobs_cancel = &jc;
	snprintf(msg, sizeof(msg), "cancel the drain of '%s'%s", k->name, req->abort ? " (abort)" : "");
	ctl_submit_change(d, c, &env, jc.request_id, msg);
}

static int parse_limit(const char *s, uint32_t max, uint32_t *ret)
{
	uint64_t v;

	if (!s || parse_u64(s, 0, max, &v) < 0)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static void handle_config_set(struct droverd *d, qb_ipcs_connection_t *c, const Drover__ConfigSetRequest *req)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__LimitsSet ls = DROVER__LIMITS_SET__INIT;
	Drover__MigrationLimits ml;
	Drover__NetworkCap caps[QUEUE_MAX_NETWORKS], *cp[QUEUE_MAX_NETWORKS];
	struct mig_limits l;
	const char *key = req && req->key ? req->key : "";
	uint32_t val;
	char msg[200];
	int r = -EINVAL;

	drain_limits(d, &l);
	if (strcmp(key, "max-out") == 0)
		r = parse_limit(req->value, 1000, &l.per_source);
	else if (strcmp(key, "max-in") == 0)
		r = parse_limit(req->value, 1000, &l.per_target);
	else if (strcmp(key, "max-total") == 0)
		r = parse_limit(req->value, 100000, &l.cluster);
	else if (strcmp(key, "max-retries") == 0)
		r = parse_limit(req->value, QUEUE_MAX_ATTEMPTS - 1, &l.max_retries);
	else if (strncmp(key, "network.", 8) == 0 && strlen(key) > 12 &&
		 strcmp(key + strlen(key) - 4, ".cap") == 0) {
		char name[QUEUE_NAME_MAX];
		size_t len = strlen(key) - 12, k, i;

		if (len >= sizeof(name)) {
			ctl_reply_error(c, DROVER_EXIT_INVALID_PARAM, "network name too long");
			return;
		}
		memcpy(name, key + 8, len);
		name[len] = '\0';
		for (k = 0; k < nethealth_n_networks(d); k++)
			if (strcmp(nethealth_network_name(d, k), name) == 0)
				break;
		if (k == nethealth_n_networks(d)) {
			snprintf(msg, sizeof(msg), "no network '%s' in this node's drover.conf", name);
			ctl_reply_error(c, DROVER_EXIT_NOSUCH, msg);
			return;
		}
		r = parse_limit(req->value, 1000, &val);
		if (r == 0) {
			for (i = 0; i < l.n_caps; i++)
				if (strcmp(l.caps[i].network, name) == 0)
					break;
			if (i == l.n_caps) {
				if (l.n_caps == QUEUE_MAX_NETWORKS) {
					ctl_reply_error(c, DROVER_EXIT_INVALID_PARAM, "too many network caps");
					return;
				}
				strscpy(l.caps[l.n_caps++].network, name, QUEUE_NAME_MAX);
			}
			l.caps[i].cap = val;
		}
	} else {
		snprintf(msg, sizeof(msg), "unknown key '%s' (max-out, max-in, max-total, "
			 "max-retries, network.NAME.cap)", key);
		ctl_reply_error(c, DROVER_EXIT_INVALID_PARAM, msg);
		return;
	}
	if (r < 0) {
		snprintf(msg, sizeof(msg), "invalid value '%s' for %s: a non-negative integer "
			 "(0: unlimited)%s", req->value ? req->value : "", key,
			 strcmp(key, "max-retries") == 0 ? ", at most 7" : "");
		ctl_reply_error(c, DROVER_EXIT_INVALID_PARAM, msg);
		return;
	}
	if (ctl_change_refused(d, c))
		return;
	l.set = true;
	fill_limits(&l, &ml, caps, cp);
	ls.limits = &ml;
	ls.request_id = ++d->next_request_id;
	env.body_case = DROVER__ENVELOPE__BODY_LIMITS_SET;
	env.limits_set = &ls;
	snprintf(msg, sizeof(msg), "set %s = %s", key, req->value);
	ctl_submit_change(d, c, &env, ls.request_id, msg);
}

/* The rows of ctl_server.c's request table that live here. */
void ctl_jobs_drain(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	if (!req->node_drain)
		ctl_reply_error(c, DROVER_EXIT_USAGE, "empty request");
	else
		handle_drain(d, c, req->node_drain);
}

void ctl_jobs_resume(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	if (!req->node_resume)
		ctl_reply_error(c, DROVER_EXIT_USAGE, "empty request");
	else
		handle_resume(d, c, req->node_resume);
}

void ctl_jobs_cancel(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	if (!req->drain_cancel)
		ctl_reply_error(c, DROVER_EXIT_USAGE, "empty request");
	else
		handle_cancel(d, c, req->drain_cancel);
}

void ctl_jobs_queue(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	(void)req;
	reply_queue(d, c);
}

void ctl_jobs_history(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	reply_history(d, c, req->history);
}

void ctl_jobs_config_set(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	handle_config_set(d, c, req->config_set);
}

void ctl_jobs_config_show(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	(void)req;
	reply_config(d, c);
}

/* ---- additions to `drover status` ---- */

void ctl_jobs_fill_status(struct droverd *d, Drover__StatusReply *st, Drover__NodeStatus **ns,
			  struct ctl_status_extra *x)
{
	struct pool *p = xcalloc(1, sizeof(*p));
	size_t n_nets;

	x->pool = p;
	for (size_t i = 0; i < st->n_nodes; i++) {
		Drover__NodeStatus *n = ns[i];
		char **fails;
		size_t nf = 0;

		node_counts(d, n->id, &n->migrations_out, &n->migrations_in, &n->jobs_queued);
		if (n->state != DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED)
			continue;
		fails = pool_keep(p, xcalloc(d->state.n_jobs + 1, sizeof(*fails)));
		/* The newest job of each VM that left this node and did not make it. */
		for (size_t k = d->state.n_jobs; k-- > 0;) {
			const struct queue_job *j = &d->state.jobs[k];
			bool seen = false;

			if (j->kind != QUEUE_OP_MIGRATE || j->source != n->id ||
			    (j->state != QUEUE_JOB_FAILED && j->state != QUEUE_JOB_CANCELLED))
				continue;
			for (size_t s = 0; s < nf; s++)
				seen |= strncmp(fails[s], j->vm, strlen(j->vm)) == 0 &&
					fails[s][strlen(j->vm)] == ':';
			if (!seen)
				fails[nf++] = pool_printf(p, "%s: %s", j->vm,
							  j->error[0] ? j->error : queue_job_state_name(j->state));
		}
		n->n_drain_failures = nf;
		n->drain_failures = fails;
	}
	st->networks = fill_networks(d, p, &n_nets);
	st->n_networks = n_nets;
}

void ctl_status_extra_free(struct ctl_status_extra *x)
{
	if (x->pool)
		pool_free(x->pool);
	free(x->pool);
	x->pool = NULL;
}
