/*
 * The Prometheus endpoint ([metrics] listen, off by default): what is
 * measured, in the drover_ namespace. The loop builds the whole text once a
 * second (METRICS_BUILD_MS) and hands it to the HTTP thread
 * (metrics_http.c), which serves that copy to every scrape: a scrape costs
 * the loop nothing, and a figure is at most a second old.
 *
 * Names follow Prometheus' conventions as ha_cluster_exporter and KubeVirt
 * use them: a unit suffix (_bytes, _bytes_per_second), _total on counters,
 * one family per quantity with labels for the parts (node, state, network,
 * vm), and a 0/1 gauge per node and state (ha_cluster_pacemaker_nodes'
 * shape) beside the counts by state.
 *
 * Where a figure comes from decides how it behaves across restarts:
 *  - the *_total counters are the replicated totals (state.h: struct
 *    state_counters): every node serves the same values, and a droverd
 *    restart does not reset them;
 *  - gauges are this node's view now: the replicated queue and node states
 *    (the same everywhere), and what only this node sees (quorum as its
 *    partition has it, knet links from here, migration progress as last
 *    multicast).
 * docs/OPERATIONS.md#metrics lists every name.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "droverd.h"
#include "log.h"
#include "metrics_http.h"
#include "names.h"
#include "prom_text.h"
#include "util.h"

#define METRICS_BUILD_MS 1000u

struct metrics {
	struct metrics_http *http;
	char listen[64];
	qb_loop_timer_handle timer;
	bool timer_armed;
};

static const Drover__NodeState admin_states[] = {
	DROVER__NODE_STATE__NODE_STATE_ACTIVE,      DROVER__NODE_STATE__NODE_STATE_DRAINING,
	DROVER__NODE_STATE__NODE_STATE_DRAINED,     DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED,
	DROVER__NODE_STATE__NODE_STATE_MAINTENANCE,
};

static void cluster_figures(const struct droverd *d, struct prom_buf *b)
{
	char local[NODE_NAME_MAX];
	const char *info[] = { "version", DROVER_VERSION, "node",
			       links_node_name(d, d->local_id, local, sizeof(local)) };

	prom_family(b, "drover_info", PROM_GAUGE, "This droverd: its version and node name.");
	prom_sample_u64(b, "drover_info", info, 2, 1);
	prom_family(b, "drover_quorate", PROM_GAUGE,
		    "Whether this node's partition is quorate (1) or not (0).");
	prom_sample_u64(b, "drover_quorate", NULL, 0, d->quorate && d->config_quorate);
	prom_family(b, "drover_synchronised", PROM_GAUGE,
		    "Whether the state exchange after the last membership change is done.");
	prom_sample_u64(b, "drover_synchronised", NULL, 0, d->synced);
	prom_family(b, "drover_coordinator", PROM_GAUGE,
		    "Whether this node is the coordinator (1) or not (0).");
	prom_sample_u64(b, "drover_coordinator", NULL, 0,
			d->local_id && droverd_coordinator(d) == d->local_id);
	prom_family(b, "drover_state_epoch", PROM_GAUGE,
		    "Changes applied to the replicated state since the cluster was made.");
	prom_sample_u64(b, "drover_state_epoch", NULL, 0, d->state.epoch);
}

static void node_figures(const struct droverd *d, struct prom_buf *b)
{
	uint64_t by_state[ARRAY_SIZE(admin_states)] = { 0 }, lost = 0, fenced = 0;

	prom_family(b, "drover_node_state", PROM_GAUGE,
		    "Each node's administrative state: 1 for the state it is in.");
	for (size_t i = 0; i < d->n_nodes; i++) {
		Drover__NodeState st = state_node_get(&d->state, d->nodes[i].id);
		const char *l[] = { "node", d->nodes[i].name, "state", node_state_name(st) };

		prom_sample_u64(b, "drover_node_state", l, 2, 1);
		for (size_t k = 0; k < ARRAY_SIZE(admin_states); k++)
			by_state[k] += st == admin_states[k];
	}
	prom_family(b, "drover_nodes", PROM_GAUGE, "Nodes of corosync's nodelist by administrative "
						    "state.");
	for (size_t k = 0; k < ARRAY_SIZE(admin_states); k++) {
		const char *l[] = { "state", node_state_name(admin_states[k]) };

		prom_sample_u64(b, "drover_nodes", l, 1, by_state[k]);
	}
	prom_family(b, "drover_node_online", PROM_GAUGE,
		    "Whether a node's droverd is a member of this node's cluster membership.");
	for (size_t i = 0; i < d->n_nodes; i++) {
		const char *l[] = { "node", d->nodes[i].name };

		prom_sample_u64(b, "drover_node_online", l, 1, droverd_is_member(d, d->nodes[i].id));
	}
	for (size_t i = 0; i < d->n_nodes; i++) {
		Drover__FenceState f = state_node_fence(&d->state, d->nodes[i].id);

		lost += f == DROVER__FENCE_STATE__FENCE_STATE_PENDING ||
			f == DROVER__FENCE_STATE__FENCE_STATE_FAILED;
		fenced += f == DROVER__FENCE_STATE__FENCE_STATE_FENCED;
	}
	prom_family(b, "drover_nodes_lost", PROM_GAUGE,
		    "Nodes that left the cluster and are not fenced yet.");
	prom_sample_u64(b, "drover_nodes_lost", NULL, 0, lost);
	prom_family(b, "drover_nodes_fenced", PROM_GAUGE,
		    "Nodes fenced (known off) that have not come back.");
	prom_sample_u64(b, "drover_nodes_fenced", NULL, 0, fenced);
	prom_family(b, "drover_links_up", PROM_GAUGE,
		    "Corosync (knet) links up between this node and another, as this node sees "
		    "them.");
	for (size_t i = 0; i < d->n_nodes; i++) {
		const char *l[] = { "node", d->nodes[i].name };

		if (d->nodes[i].id != d->local_id)
			prom_sample_u64(b, "drover_links_up", l, 1,
					(uint64_t)__builtin_popcount(d->nodes[i].links_up &
								     d->nodes[i].links_configured));
	}
	prom_family(b, "drover_links_configured", PROM_GAUGE,
		    "Corosync (knet) links configured to another node.");
	for (size_t i = 0; i < d->n_nodes; i++) {
		const char *l[] = { "node", d->nodes[i].name };

		if (d->nodes[i].id != d->local_id)
			prom_sample_u64(b, "drover_links_configured", l, 1,
					(uint64_t)__builtin_popcount(d->nodes[i].links_configured));
	}
}

static void migration_figures(const struct droverd *d, struct prom_buf *b)
{
	const struct state_counters *c = &d->state.counters;
	uint64_t queued = 0, running = 0, starts = 0, stops = 0;
	char src[NODE_NAME_MAX], dst[NODE_NAME_MAX];

	for (size_t i = 0; i < d->state.n_jobs; i++) {
		const struct queue_job *j = &d->state.jobs[i];

		if (j->kind == QUEUE_OP_MIGRATE) {
			queued += j->state == QUEUE_JOB_QUEUED;
			running += j->state == QUEUE_JOB_RUNNING;
		} else if (j->state == QUEUE_JOB_RUNNING) {
			starts += j->kind == QUEUE_OP_START;
			stops += j->kind == QUEUE_OP_STOP;
		}
	}
	prom_family(b, "drover_migrations_queued", PROM_GAUGE, "Migrations waiting in the queue.");
	prom_sample_u64(b, "drover_migrations_queued", NULL, 0, queued);
	prom_family(b, "drover_migrations_running", PROM_GAUGE, "Migrations running.");
	prom_sample_u64(b, "drover_migrations_running", NULL, 0, running);
	prom_family(b, "drover_migrations_total", PROM_COUNTER,
		    "Migrations finished since the cluster was made, by result (replicated).");
	prom_sample_u64(b, "drover_migrations_total", (const char *[]){ "result", "ok" }, 1,
			c->migrations_ok);
	prom_sample_u64(b, "drover_migrations_total", (const char *[]){ "result", "failed" }, 1,
			c->migrations_failed);
	prom_sample_u64(b, "drover_migrations_total", (const char *[]){ "result", "cancelled" }, 1,
			c->migrations_cancelled);
	prom_family(b, "drover_vm_operations_running", PROM_GAUGE,
		    "Starts and stops of VMs under way.");
	prom_sample_u64(b, "drover_vm_operations_running", (const char *[]){ "kind", "start" }, 1,
			starts);
	prom_sample_u64(b, "drover_vm_operations_running", (const char *[]){ "kind", "stop" }, 1,
			stops);

	/* Per running migration, from its source's latest progress (KubeVirt's names). */
	prom_family(b, "drover_migration_data_processed_bytes", PROM_GAUGE,
		    "Bytes a running migration has transferred.");
	for (int pass = 0; pass < 3; pass++) {
		static const char *const names[] = { "drover_migration_data_processed_bytes",
						     "drover_migration_data_remaining_bytes",
						     "drover_migration_data_rate_bytes_per_second" };

		if (pass == 1)
			prom_family(b, names[1], PROM_GAUGE,
				    "Bytes a running migration has yet to transfer (the hypervisor's "
				    "estimate; it grows while the guest dirties memory).");
		else if (pass == 2)
			prom_family(b, names[2], PROM_GAUGE,
				    "A running migration's transfer rate.");
		for (size_t i = 0; i < d->state.n_jobs; i++) {
			const struct queue_job *j = &d->state.jobs[i];
			const struct job_progress *p;
			const char *l[8];

			if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING)
				continue;
			p = drain_progress(d, j->id);
			if (!p)
				continue;
			l[0] = "vm", l[1] = j->vm, l[2] = "source";
			l[3] = links_node_name(d, j->source, src, sizeof(src));
			l[4] = "target", l[5] = links_node_name(d, j->target, dst, sizeof(dst));
			l[6] = "network", l[7] = j->network;
			prom_sample_u64(b, names[pass], l, 4,
					pass == 0   ? p->p.memory_processed
					: pass == 1 ? p->p.memory_remaining
						    : p->p.bytes_per_s);
		}
	}

	prom_family(b, "drover_network_migrations_running", PROM_GAUGE,
		    "Migrations running over each migration network.");
	for (size_t k = 0; k < nethealth_n_networks(d); k++) {
		const char *name = nethealth_network_name(d, k);
		uint64_t n = 0;

		for (size_t i = 0; i < d->state.n_jobs; i++)
			n += d->state.jobs[i].kind == QUEUE_OP_MIGRATE &&
			     d->state.jobs[i].state == QUEUE_JOB_RUNNING &&
			     strcmp(d->state.jobs[i].network, name) == 0;
		prom_sample_u64(b, "drover_network_migrations_running",
				(const char *[]){ "network", name }, 1, n);
	}
	prom_family(b, "drover_network_throughput_bytes_per_second", PROM_GAUGE,
		    "The summed rate of the migrations running over each migration network.");
	for (size_t k = 0; k < nethealth_n_networks(d); k++) {
		const char *name = nethealth_network_name(d, k);
		uint64_t rate = 0;

		for (size_t i = 0; i < d->state.n_jobs; i++) {
			const struct queue_job *j = &d->state.jobs[i];
			const struct job_progress *p;

			if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING ||
			    strcmp(j->network, name) != 0)
				continue;
			p = drain_progress(d, j->id);
			rate += p ? p->p.bytes_per_s : 0;
		}
		prom_sample_u64(b, "drover_network_throughput_bytes_per_second",
				(const char *[]){ "network", name }, 1, rate);
	}
	prom_family(b, "drover_network_usable_pairs", PROM_GAUGE,
		    "Pairs of member nodes a migration network can carry a migration between.");
	for (size_t k = 0; k < nethealth_n_networks(d); k++) {
		uint64_t up = 0;

		for (size_t a = 0; a < d->n_members; a++)
			for (size_t z = a + 1; z < d->n_members; z++)
				up += nethealth_usable(d, k, d->members[a], d->members[z]);
		prom_sample_u64(b, "drover_network_usable_pairs",
				(const char *[]){ "network", nethealth_network_name(d, k) }, 1, up);
	}
}

static void failover_figures(const struct droverd *d, struct prom_buf *b)
{
	const struct state_counters *c = &d->state.counters;

	prom_family(b, "drover_failovers_total", PROM_COUNTER,
		    "Restarts of a fenced node's VMs elsewhere, by result (replicated).");
	prom_sample_u64(b, "drover_failovers_total", (const char *[]){ "result", "ok" }, 1,
			c->failovers_ok);
	prom_sample_u64(b, "drover_failovers_total", (const char *[]){ "result", "failed" }, 1,
			c->failovers_failed);
	prom_family(b, "drover_fence_actions_total", PROM_COUNTER,
		    "Fence attempts by result, and operators' confirm-off (replicated).");
	prom_sample_u64(b, "drover_fence_actions_total", (const char *[]){ "result", "ok" }, 1,
			c->fences_ok);
	prom_sample_u64(b, "drover_fence_actions_total", (const char *[]){ "result", "failed" }, 1,
			c->fences_failed);
	prom_sample_u64(b, "drover_fence_actions_total", (const char *[]){ "result", "confirmed" },
			1, c->fences_confirmed);
	prom_family(b, "drover_vms_registered", PROM_GAUGE, "VMs in drover's registry.");
	prom_sample_u64(b, "drover_vms_registered", NULL, 0, d->state.n_vms);
	/*
	 * A VM is degraded when it runs without a device it should have (a VF
	 * left behind by a migration): that comes with SR-IOV, which drover
	 * does not manage yet, so no VM can be degraded today.
	 */
	prom_family(b, "drover_vms_degraded", PROM_GAUGE,
		    "VMs running without a device they should have (SR-IOV; none before it).");
	prom_sample_u64(b, "drover_vms_degraded", NULL, 0, 0);
}

static void build(struct droverd *d)
{
	struct metrics *m = d->metrics;
	struct prom_buf b;
	char *text;
	size_t len;

	prom_init(&b);
	cluster_figures(d, &b);
	node_figures(d, &b);
	migration_figures(d, &b);
	failover_figures(d, &b);
	prom_family(&b, "drover_metrics_requests_total", PROM_COUNTER,
		    "HTTP requests this endpoint answered since droverd started.");
	prom_sample_u64(&b, "drover_metrics_requests_total", NULL, 0,
			metrics_http_requests(m->http));
	text = prom_take(&b, &len);
	metrics_http_publish(m->http, text, len);
}

static void build_timer_fn(void *data)
{
	struct droverd *d = data;
	struct metrics *m = d->metrics;

	m->timer_armed = false;
	if (!m->http || d->stopping)
		return;
	build(d);
	m->timer_armed = qb_loop_timer_add(d->loop, QB_LOOP_LOW,
					   (uint64_t)METRICS_BUILD_MS * QB_TIME_NS_IN_MSEC, d,
					   build_timer_fn, &m->timer) == 0;
}

static void server_stop(struct droverd *d)
{
	struct metrics *m = d->metrics;

	if (m->timer_armed)
		qb_loop_timer_del(d->loop, m->timer);
	m->timer_armed = false;
	metrics_http_stop(m->http);
	m->http = NULL;
	m->listen[0] = '\0';
}

static void server_start(struct droverd *d)
{
	struct metrics *m = d->metrics;
	struct sockaddr_storage ss;
	unsigned len;
	int r;

	if (!d->cfg.metrics_listen[0])
		return;
	r = config_listen_parse(d->cfg.metrics_listen, &ss, &len);
	if (r == 0)
		r = metrics_http_start((struct sockaddr *)&ss, len, &m->http);
	if (r < 0) {
		/* The cluster matters more than its figures: droverd runs on without them. */
		log_err("cannot serve metrics on '%s': %s; running without them (fix [metrics] "
			"listen and reload)", d->cfg.metrics_listen, strerror(-r));
		return;
	}
	strscpy(m->listen, d->cfg.metrics_listen, sizeof(m->listen));
	log_notice("serving metrics on http://%s/metrics", m->listen);
	build_timer_fn(d);
}

void metrics_start(struct droverd *d)
{
	d->metrics = xcalloc(1, sizeof(*d->metrics));
	server_start(d);
}

void metrics_reload(struct droverd *d)
{
	if (!d->metrics || strcmp(d->metrics->listen, d->cfg.metrics_listen) == 0)
		return;
	if (d->metrics->http)
		log_notice("metrics: no longer serving on '%s'", d->metrics->listen);
	server_stop(d);
	server_start(d);
}

void metrics_stop(struct droverd *d)
{
	if (!d->metrics)
		return;
	server_stop(d);
	free(d->metrics);
	d->metrics = NULL;
}
