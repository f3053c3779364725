/*
 * `random-drains SEED [waves N] [size N]`: drains at scale, as
 * tests/unit/test_drain_sim.c ran them on its own re-enactment of drain.c and
 * now run on the replicas. From the scenario's cluster (typically 32 nodes,
 * three networks with bandwidths, 600 VMs placed to fill them), drawn from
 * SEED: a first wave of drains at once and a second one 5 to 20 s later
 * (size nodes each, by `drover node drain` on the node), a drain cancelled
 * after 3 to 12 s (with --abort or not), the limits lowered under running
 * migrations after 10 to 40 s (`drover config set` of every limit and cap),
 * one member's droverd restarted after 2 to 60 s (it rejoins through the
 * state exchange), and every 1 to 8 s a link cut for 1 to 30 s: mostly under
 * a running migration, else between two nodes, a node's link on one network,
 * or rarely every link of a node. When nothing runs and every job left waits
 * for memory or vCPUs no target will free, the operator cancels that drain.
 * Each event is logged and run like a written one, and the invariants are
 * checked at every step as always.
 *
 * The run ends when the drains are over and no job is left, every cut is
 * repaired and time settles; then it checks that every drained node is
 * empty, every drain-failed one holds only VMs whose job from there failed,
 * every cancelled one is active, and logs the figures and the state's hash
 * (the same seed gives the same log and state). An hour of virtual time
 * without an end is a violation.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define MAX_CUTS 256
#define MAX_TICKS 3600
#define NOT_YET (-1)

struct cut {
	int repair_at; /* tick */
	size_t net;    /* S.n_nets: every network */
	uint32_t a, b; /* b == 0: a's own link */
};

struct drains_run {
	uint64_t rng;
	int wave2_at, cancel_at, limits_at, restart_at, next_cut;
	uint64_t waved, cancelled; /* nodes drained by the run, nodes whose drain it cancelled */
	size_t n_cuts;
	struct cut cuts[MAX_CUTS];
	uint32_t wave_size;
};

static uint64_t draw(struct drains_run *d, uint64_t lo, uint64_t hi)
{
	uint64_t z = (d->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return lo + z % (hi - lo + 1);
}

static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A scenario line, logged as the run's and run like a written one. */
static void event(const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	LOG("t=%d random-drains: %s", S.tick, line);
	S.generated = true;
	scenario_run_line(line);
	S.generated = false;
}

static void wave(struct drains_run *d)
{
	for (uint32_t i = 0; i < d->wave_size && __builtin_popcountll(d->waved) < (int)S.n; i++) {
		uint32_t node;

		do
			node = (uint32_t)draw(d, 1, S.n);
		while ((d->waved >> (node - 1)) & 1u);
		d->waved |= UINT64_C(1) << (node - 1);
		event("drain n%u", node);
	}
}

static uint64_t nodes_in(Drover__NodeState st)
{
	const struct replica *c = replica_coordinating();
	uint64_t mask = 0;

	for (size_t i = 0; c && i < c->state.n_nodes; i++)
		if (c->state.nodes[i].state == st)
			mask |= UINT64_C(1) << (c->state.nodes[i].id - 1);
	return mask;
}

/* The nth node of mask (from the lowest id). */
static uint32_t nth(uint64_t mask, uint64_t n)
{
	for (uint32_t id = 1; id <= MAX_NODES; id++)
		if (((mask >> (id - 1)) & 1u) && n-- == 0)
			return id;
	return 0;
}

static void cancel_one(struct drains_run *d)
{
	uint64_t draining = nodes_in(DROVER__NODE_STATE__NODE_STATE_DRAINING);
	uint32_t node;

	if (!draining)
		return;
	node = nth(draining, draw(d, 0, (uint64_t)__builtin_popcountll(draining) - 1));
	d->cancelled |= UINT64_C(1) << (node - 1);
	event("drain-cancel n%u%s", node, draw(d, 0, 1) ? " abort" : "");
}

/* `drover config set` of every limit and cap, each lower, on a member drawn at random. */
static void lower_limits(struct drains_run *d)
{
	uint32_t via = (uint32_t)draw(d, 1, S.n);

	event("config-set n%u max-out 1", via);
	event("config-set n%u max-in 1", via);
	event("config-set n%u max-total 4", via);
	event("config-set n%u max-retries 1", via);
	for (size_t k = 0; k < S.n_nets; k++)
		if (S.nets[k].cap)
			event("config-set n%u network.%s.cap %u", via, S.nets[k].name,
			      S.nets[k].cap / 2 ? S.nets[k].cap / 2 : 1);
}

static void cut_apply(const struct cut *c, int delta)
{
	for (size_t k = 0; k < S.n_nets; k++) {
		if (c->net != S.n_nets && c->net != k)
			continue;
		if (c->b) {
			S.pair_cuts[k][c->a - 1][c->b - 1] += (uint8_t)delta;
			S.pair_cuts[k][c->b - 1][c->a - 1] += (uint8_t)delta;
		} else {
			S.h[c->a - 1].nic_cuts[k] += (uint8_t)delta;
		}
	}
}

static void cut_describe(const struct cut *c, char *buf, size_t len)
{
	const char *net = c->net == S.n_nets ? "every network" : S.nets[c->net].name;

	if (c->b)
		snprintf(buf, len, "%s %s-%s", net, nm(c->a), nm(c->b));
	else
		snprintf(buf, len, "%s's link%s %s", nm(c->a), c->net == S.n_nets ? "s on" : " on", net);
}

/*
 * A link fails for a while: often under a running migration, else between
 * a random pair, sometimes a node's link on one network, rarely every link
 * of a node (its switch).
 */
static void cut_one(struct drains_run *d)
{
	const struct replica *c = replica_coordinating();
	struct cut *cut;
	uint64_t kind = draw(d, 0, 99), n_running = 0;
	char what[128];

	if (d->n_cuts == MAX_CUTS)
		return;
	cut = &d->cuts[d->n_cuts++];
	cut->repair_at = S.tick + (int)draw(d, 1, 30);
	for (size_t i = 0; c && i < c->state.n_jobs; i++)
		n_running += c->state.jobs[i].kind == QUEUE_OP_MIGRATE &&
			     c->state.jobs[i].state == QUEUE_JOB_RUNNING;
	if (kind < 40 && n_running) {
		uint64_t pick = draw(d, 0, n_running - 1);

		for (size_t i = 0; i < c->state.n_jobs; i++) {
			const struct queue_job *j = &c->state.jobs[i];

			if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING || pick--)
				continue;
			cut->net = world_net_index(j->network);
			cut->a = j->source;
			cut->b = j->target;
			break;
		}
	} else {
		cut->net = kind < 95 ? (size_t)draw(d, 0, S.n_nets - 1) : S.n_nets;
		cut->a = (uint32_t)draw(d, 1, S.n);
		cut->b = kind < 85 ? (uint32_t)draw(d, 1, S.n) : 0;
		if (cut->b == cut->a)
			cut->b = cut->a % (uint32_t)S.n + 1;
	}
	cut_apply(cut, 1);
	S.stats.link_cuts++;
	cut_describe(cut, what, sizeof(what));
	LOG("t=%d random-drains: cut %s for %d s", S.tick, what, cut->repair_at - S.tick);
	scenario_settle();
}

static void repairs(struct drains_run *d, bool all)
{
	for (size_t i = 0; i < d->n_cuts;) {
		char what[128];

		if (!all && d->cuts[i].repair_at > S.tick) {
			i++;
			continue;
		}
		cut_apply(&d->cuts[i], -1);
		cut_describe(&d->cuts[i], what, sizeof(what));
		LOG("t=%d random-drains: repair %s", S.tick, what);
		memmove(&d->cuts[i], &d->cuts[i + 1], (--d->n_cuts - i) * sizeof(d->cuts[0]));
		scenario_settle();
	}
}

/*
 * Nothing runs and every job left waits for memory or vCPUs that no target
 * will free: the queue rightly waits forever, and the operator cancels the
 * drain of the first such job (as `drover queue` lists them).
 */
static bool cancel_stuck(struct drains_run *d)
{
	const struct replica *c = replica_coordinating();
	struct queue_job *jobs;
	size_t n = 0;
	uint32_t source = 0;
	bool stuck = true;

	if (!c || !state_jobs_unfinished(&c->state))
		return false;
	/* Something runs: not stuck (and `drover queue` need not be asked). */
	for (size_t i = 0; i < c->state.n_jobs; i++)
		if (c->state.jobs[i].state == QUEUE_JOB_RUNNING)
			return false;
	jobs = sim_coord_queue(c, &n);
	for (size_t i = 0; i < n && stuck; i++) {
		if (jobs[i].state == QUEUE_JOB_RUNNING || (jobs[i].blocker != QUEUE_BLOCK_NO_MEMORY &&
							   jobs[i].blocker != QUEUE_BLOCK_NO_VCPUS))
			stuck = false;
		else if (!source && jobs[i].kind == QUEUE_OP_MIGRATE)
			source = jobs[i].source;
	}
	free(jobs);
	if (!n || !stuck || !source ||
	    state_node_get(&c->state, source) != DROVER__NODE_STATE__NODE_STATE_DRAINING)
		return false;
	LOG("t=%d random-drains: every job left waits for room that no target will free", S.tick);
	d->cancelled |= UINT64_C(1) << (source - 1);
	event("drain-cancel n%u", source);
	return true;
}

static bool drains_over(const struct drains_run *d)
{
	const struct replica *c = replica_coordinating();

	if (d->wave2_at != NOT_YET || d->cancel_at != NOT_YET || d->limits_at != NOT_YET ||
	    d->restart_at != NOT_YET || !c || nodes_in(DROVER__NODE_STATE__NODE_STATE_DRAINING))
		return false;
	for (size_t i = 0; i < c->state.n_jobs; i++)
		if (c->state.jobs[i].state == QUEUE_JOB_QUEUED || c->state.jobs[i].state == QUEUE_JOB_RUNNING)
			return false;
	return true;
}

/* Due at this tick: run it once. */
static bool due(int *at)
{
	if (*at == NOT_YET || *at > S.tick)
		return false;
	*at = NOT_YET;
	return true;
}

/* The end: every drain ended as its jobs say, and the figures. */
static void drains_end(const struct drains_run *d, int started)
{
	const struct replica *c = replica_coordinating();
	uint64_t drained = nodes_in(DROVER__NODE_STATE__NODE_STATE_DRAINED);
	uint64_t failed = nodes_in(DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED);
	char a[160], b[160], x[160];

	for (uint32_t id = 1; c && id <= S.n; id++) {
		uint64_t bit = UINT64_C(1) << (id - 1);
		Drover__NodeState st = state_node_get(&c->state, id);
		const struct host *h = &S.h[id - 1];

		if (!(d->waved & bit) || ((d->cancelled & bit) && !(drained & bit) && !(failed & bit))) {
			if (st != DROVER__NODE_STATE__NODE_STATE_ACTIVE)
				violation("%s ends %s, though no drain of it ran to its end", nm(id),
					  node_state_name(st));
			continue;
		}
		if (!(drained & bit) && !(failed & bit))
			violation("the drain of %s ended %s", nm(id), node_state_name(st));
		for (size_t k = 0; k < h->n_running; k++) {
			const struct sim_vm *v = &S.vms[h->running[k]];

			if (drained & bit)
				violation("%s is drained but runs %s", nm(id), v->name);
			else if (!(v->last_job && v->last_job_source == id &&
				   (v->last_job_state == QUEUE_JOB_FAILED ||
				    v->last_job_state == QUEUE_JOB_CANCELLED)))
				violation("%s stays on drain-failed %s, though its last job %llu from there "
					  "did not fail", v->name, nm(id), (unsigned long long)v->last_job);
		}
		if ((failed & bit) && !h->n_running)
			violation("%s is drain-failed but empty", nm(id));
	}
	summary_nodes(drained, a, sizeof(a));
	summary_nodes(failed, b, sizeof(b));
	summary_nodes(d->cancelled, x, sizeof(x));
	LOG("t=%d random-drains: over after %d s: %llu attempts (%llu done, %llu failed, %llu retried "
	    "on another network), %llu jobs failed, %llu cancelled, %llu link cuts, %llu aborts, "
	    "%llu ticks above lowered limits; drained [%s], drain-failed [%s], cancelled [%s]",
	    S.tick, S.tick - started, (unsigned long long)S.stats.starts,
	    (unsigned long long)S.stats.done, (unsigned long long)S.stats.attempts_failed,
	    (unsigned long long)S.stats.retries_elsewhere, (unsigned long long)S.stats.failed,
	    (unsigned long long)S.stats.cancelled, (unsigned long long)S.stats.link_cuts,
	    (unsigned long long)S.stats.aborts, (unsigned long long)S.stats.over_limit_ticks, a, b, x);
	if (c)
		LOG("t=%d random-drains: state hash %016llx", S.tick,
		    (unsigned long long)state_hash(&c->state));
}

void random_drains_run(uint64_t seed, uint32_t waves, uint32_t size)
{
	struct drains_run *d = xcalloc(1, sizeof(*d));
	int started = S.tick;

	d->rng = seed * 0x2545f4914f6cdd1dull + 1;
	d->wave_size = size;
	S.vms_stay = true;
	d->next_cut = S.tick + (int)draw(d, 0, 3);
	d->wave2_at = waves > 1 ? S.tick + (int)draw(d, 5, 20) : NOT_YET;
	d->cancel_at = S.tick + (int)draw(d, 3, 12);
	d->limits_at = S.tick + (int)draw(d, 10, 40);
	d->restart_at = S.tick + (int)draw(d, 2, 60);
	wave(d);
	while (!drains_over(d)) {
		if (S.tick - started >= MAX_TICKS) {
			violation("the drains did not end in %d s", MAX_TICKS);
			break;
		}
		scenario_run_line((char[]){ "tick" });
		repairs(d, false);
		if (due(&d->wave2_at))
			wave(d);
		if (due(&d->cancel_at))
			cancel_one(d);
		if (due(&d->limits_at))
			lower_limits(d);
		if (due(&d->restart_at))
			event("restart n%llu", (unsigned long long)draw(d, 1, S.n));
		while (d->next_cut <= S.tick) {
			cut_one(d);
			d->next_cut += (int)draw(d, 1, 8);
		}
		cancel_stuck(d);
	}
	repairs(d, true);
	for (int i = 0; i < 3; i++)
		scenario_run_line((char[]){ "tick" });
	drains_end(d, started);
	free(d);
}
