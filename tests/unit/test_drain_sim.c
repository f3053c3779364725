/*
 * Drains at scale, as a deterministic discrete-event simulation over the real
 * pure code: 32 nodes, 3 migration networks, 600 VMs, two waves of drains,
 * migrations whose time is their memory over the bandwidth they share on
 * their network, network links failing and coming back at random, a drain
 * cancelled, limits lowered mid-run and a member rejoining by the state
 * exchange. The coordinator's decisions come from coord_decide() (coord.c),
 * the very code droverd runs, on the replicated state, the network health
 * and what each agent reports, and every change goes through state_apply()
 * as a packed protobuf envelope that three replicas unpack and apply, so what
 * is proven here is what the cluster would do. Only the glue of drain.c is
 * re-enacted, because drain.c itself needs corosync: building the
 * coordinator's input, turning each decision into messages, the coordinator's
 * record of the aborts it asked for, and the sources executing migrations.
 *
 * After every message: the replicas agree (state_hash), running migrations
 * stay within the per-source, per-target, per-network and cluster limits
 * (limits lowered under running jobs let them finish but start nothing new),
 * no target holds more memory or vCPUs than it has, every VM is in exactly
 * one place and the set of running jobs is the set of migrations the sources
 * execute. At every start: the network links source and target, the target is
 * active, a retry avoids the network that failed whenever another one links
 * the pair, and the coordinator starts exactly what `drover queue` shows as
 * starting. The coordinator aborts a migration only when its network is down
 * between its source and target, never cancels a job as moot (VMs move only
 * by their jobs here), and leaves no drain with nothing to move unended. At
 * the end: every job ended, the drained nodes are empty, the drain-failed
 * ones hold only VMs whose job failed, and the same seed gives the same
 * message stream and state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "frame.h"
#include "state.h"

#define ACTIVE DROVER__NODE_STATE__NODE_STATE_ACTIVE
#define DRAINING DROVER__NODE_STATE__NODE_STATE_DRAINING
#define DRAINED DROVER__NODE_STATE__NODE_STATE_DRAINED
#define DRAIN_FAILED DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED

#define SIM_NODES 32
#define SIM_NETS 3
#define SIM_VMS 600
#define SIM_REPLICAS 3
#define SIM_WAVE 4       /* nodes drained at once, twice */
#define SIM_MAX_IDS 4096 /* job ids the simulation can follow */
#define SIM_MAX_MIGS 256
#define SIM_MAX_RESTORES 512
#define SIM_MAX_EVENTS 200000
#define SIM_MAX_MS (6u * 3600u * 1000u)
/* As drain.c: vCPUs are overcommitted 16 times. */
#define VCPU_OVERCOMMIT 16u
/* As droverd's aborted[] (DROVER_MAX_EXECS): the oldest is forgotten when full. */
#define SIM_MAX_ABORTED 64
#define NONE UINT64_MAX
/* Node memory: tight enough that the drained VMs only just fit in the rest. */
#define SIM_GIB_MIN 64
#define SIM_GIB_MAX 192

/* mig-b is the fast one but not every host has it; mig-c is the slow fallback. */
static const char *const net_name[SIM_NETS] = {"mig-a", "mig-b", "mig-c"};
/* MiB/s, which is also milli-MiB per ms: the unit of sim_mig.left per ms. */
static const uint64_t net_bw[SIM_NETS] = {1200, 2900, 110};

struct sim_vm {
	char name[16];
	uint64_t mib;
	uint32_t vcpus;
	int prio;
	uint32_t node;     /* where it runs: changes only when a JobFinish ok is applied */
	uint64_t last_job; /* 0: never had one */
};

struct sim_node {
	uint64_t mem_mib;
	uint32_t vcpus;    /* after overcommit */
	uint64_t used_mib; /* the VMs that run here, kept as they move */
	uint32_t used_vcpus;
	uint64_t vms[(SIM_VMS + 63) / 64];
	bool wave;      /* drained by the simulation */
	bool cancelled; /* its drain was cancelled */
};

/* A migration its source executes, from JobStart to the JobFinish it sends. */
struct sim_mig {
	uint64_t job_id;
	size_t vm;
	uint32_t source, target;
	size_t net;
	uint64_t left; /* milli-MiB still to copy */
	uint64_t started_ms;
	uint64_t fail_at; /* NONE, or when the source reports a failure */
	bool aborting;    /* asked to abort: it copies nothing more */
	char reason[QUEUE_REASON_MAX];
};

/* What the simulation knows of a job; the replicas drop finished jobs after a while. */
struct sim_job {
	bool known;
	bool ended;
	size_t vm;
	uint32_t source;
	uint32_t max_retries;
	uint32_t failures;
	enum queue_job_state end;
};

struct restore {
	uint64_t at;
	size_t net;    /* SIM_NETS: every network */
	uint32_t a, b; /* b == 0: every link of a */
};

struct counts {
	uint32_t out[SIM_NODES + 1], in[SIM_NODES + 1], net[SIM_NETS], cluster;
	uint64_t in_mib[SIM_NODES + 1];
	uint32_t in_vcpus[SIM_NODES + 1];
};

struct figures {
	uint64_t final_hash, digest;
	size_t n_msgs, n_jobs, done, failed, cancelled, retries, retries_elsewhere, retries_same;
	size_t link_failures, aborts, abort_msgs, readded, over_limit_steps, peak_running;
	size_t blocked[QUEUE_BLOCK_VM_ELSEWHERE + 1];
	size_t drained, drain_failed, cancelled_drains, stuck_cancels;
	size_t net_starts[SIM_NETS], net_done[SIM_NETS];
	uint64_t net_ms[SIM_NETS]; /* time taken by the migrations done over each network */
	uint64_t drains_over_ms;
};

struct sim {
	uint64_t seed, rng, now;
	size_t n_events;
	bool hash_every;
	bool quiet;
	size_t coord; /* the replica the coordinator reads; the role moves around */
	struct cluster_state rep[SIM_REPLICAS];
	struct sim_vm vms[SIM_VMS];
	struct sim_node nodes[SIM_NODES + 1];                  /* by id */
	uint32_t down[SIM_NETS][SIM_NODES + 1][SIM_NODES + 1]; /* reasons a link is down */
	uint64_t usable[SIM_NETS][QUEUE_MAX_NODES];            /* as queue_view: by id - 1 */
	size_t n_migs;
	struct sim_mig migs[SIM_MAX_MIGS];
	struct sim_job jobs[SIM_MAX_IDS];
	size_t n_restores;
	struct restore restores[SIM_MAX_RESTORES];
	uint64_t next_link_failure, at_wave2, at_cancel, at_limits, at_rejoin;
	/* What may run while lowered limits are drained down to (UINT32_MAX: unlimited). */
	uint32_t allow_out[SIM_NODES + 1], allow_in[SIM_NODES + 1], allow_net[SIM_NETS],
	    allow_cluster;
	/* The coordinator's input and output (coord.h), and its own record of aborts. */
	struct queue_view view;
	struct coord_node reports[SIM_NODES];
	const char *report_vms[SIM_VMS];
	struct coord_decision decision;
	size_t n_aborted;
	uint64_t aborted[SIM_MAX_ABORTED];
	struct queue_job *scratch; /* what `drover queue` shows: the unfinished jobs, blockers */
	size_t n_scratch;
	struct figures fig;
};

#define SIM_ASSERT(s, cond, ...)                                                                   \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			print_message("seed %" PRIu64 ", t=%" PRIu64 " ms, message %zu: ",         \
				      (s)->seed, (s)->now, (s)->fig.n_msgs);                       \
			print_message(__VA_ARGS__);                                                \
			print_message("\n");                                                       \
			fail_msg("%s", #cond);                                                     \
		}                                                                                  \
	} while (0)

/* ---- randomness: splitmix64, so a seed means the same run everywhere ---- */

static uint64_t rnd(struct sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static uint64_t rnd_in(struct sim *s, uint64_t lo, uint64_t hi)
{
	return lo + rnd(s) % (hi - lo + 1);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* ---- the network ---- */

static bool link_up(const struct sim *s, size_t k, uint32_t a, uint32_t b)
{
	return s->usable[k][a - 1] & (UINT64_C(1) << (b - 1));
}

static void link_change(struct sim *s, size_t k, uint32_t a, uint32_t b, bool down)
{
	uint32_t *d1 = &s->down[k][a][b], *d2 = &s->down[k][b][a];

	if (down) {
		++*d1;
		++*d2;
	} else {
		assert_true(*d1 > 0);
		--*d1;
		--*d2;
	}
	if (*d1) {
		s->usable[k][a - 1] &= ~(UINT64_C(1) << (b - 1));
		s->usable[k][b - 1] &= ~(UINT64_C(1) << (a - 1));
	} else {
		s->usable[k][a - 1] |= UINT64_C(1) << (b - 1);
		s->usable[k][b - 1] |= UINT64_C(1) << (a - 1);
	}
}

static void links_of_node(struct sim *s, size_t k, uint32_t a, bool down)
{
	for (uint32_t b = 1; b <= SIM_NODES; b++)
		if (b != a)
			link_change(s, k, a, b, down);
}

static size_t net_index(const char *name)
{
	for (size_t k = 0; k < SIM_NETS; k++)
		if (strcmp(net_name[k], name) == 0)
			return k;
	return SIZE_MAX;
}

/* ---- messages: packed, then unpacked and applied by every replica ---- */

static int send_env(struct sim *s, Drover__Envelope *env)
{
	size_t len;
	uint8_t *buf;
	int r = 0;

	env->version = DROVER_PROTO_VERSION;
	env->seq = s->fig.n_msgs + 1;
	len = drover__envelope__get_packed_size(env);
	buf = malloc(len ? len : 1);
	assert_non_null(buf);
	assert_int_equal(drover__envelope__pack(env, buf), len);
	s->fig.digest = fnv(s->fig.digest, buf, len);
	for (size_t i = 0; i < SIM_REPLICAS; i++) {
		Drover__Envelope *m = drover__envelope__unpack(NULL, len, buf);
		int ri;

		assert_non_null(m);
		ri = state_apply(&s->rep[i], m);
		drover__envelope__free_unpacked(m, NULL);
		if (i == 0)
			r = ri;
		SIM_ASSERT(s, ri == r, "replica %zu returned %d, replica 0 %d", i, ri, r);
	}
	free(buf);
	s->fig.n_msgs++;
	if (s->hash_every) {
		uint64_t h = state_hash(&s->rep[0]);

		for (size_t i = 1; i < SIM_REPLICAS; i++)
			SIM_ASSERT(s, state_hash(&s->rep[i]) == h, "replica %zu diverged", i);
	}
	return r;
}

static int send_node_state(struct sim *s, uint32_t node, Drover__NodeState st)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__SetNodeState m = DROVER__SET_NODE_STATE__INIT;

	m.node_id = node;
	m.state = st;
	env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
	env.set_node_state = &m;
	return send_env(s, &env);
}

static void send_vm_add(struct sim *s, const struct sim_vm *v)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
	char xml[256];

	snprintf(xml, sizeof(xml),
		 "<domain><name>%s</name><memory unit='MiB'>%" PRIu64
		 "</memory><vcpu>%u</vcpu></domain>",
		 v->name, v->mib, (unsigned)v->vcpus);
	vm.name = (char *)v->name;
	vm.xml = xml;
	vm.memory_mib = v->mib;
	vm.vcpus = v->vcpus;
	vm.priority = (Drover__VmPriority)v->prio;
	m.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	assert_int_equal(send_env(s, &env), 1);
}

static int send_limits(struct sim *s, uint32_t out, uint32_t in, uint32_t total, uint32_t retries,
		       const uint32_t caps[SIM_NETS])
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__LimitsSet m = DROVER__LIMITS_SET__INIT;
	Drover__MigrationLimits l = DROVER__MIGRATION_LIMITS__INIT;
	Drover__NetworkCap c[SIM_NETS], *cp[SIM_NETS];

	for (size_t k = 0; k < SIM_NETS; k++) {
		drover__network_cap__init(&c[k]);
		c[k].network = (char *)net_name[k];
		c[k].cap = caps[k];
		cp[k] = &c[k];
	}
	l.set = true;
	l.per_source = out;
	l.per_target = in;
	l.cluster = total;
	l.max_retries = retries;
	l.n_network_caps = SIM_NETS;
	l.network_caps = cp;
	m.limits = &l;
	env.body_case = DROVER__ENVELOPE__BODY_LIMITS_SET;
	env.limits_set = &m;
	return send_env(s, &env);
}

/* ---- reading the replicated state ---- */

static const struct cluster_state *coord_state(const struct sim *s)
{
	return &s->rep[s->coord];
}

static uint32_t limit_of(uint32_t l)
{
	return l ? l : UINT32_MAX;
}

static uint32_t cap_of(const struct cluster_state *r, size_t k)
{
	for (size_t i = 0; i < r->limits.n_caps; i++)
		if (strcmp(r->limits.caps[i].network, net_name[k]) == 0)
			return r->limits.caps[i].cap;
	return 0;
}

static void count_running(struct sim *s, const struct cluster_state *r, struct counts *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < r->n_jobs; i++) {
		const struct queue_job *j = &r->jobs[i];
		size_t k;

		if (j->state != QUEUE_JOB_RUNNING)
			continue;
		k = net_index(j->network);
		SIM_ASSERT(s, k < SIM_NETS && j->source >= 1 && j->source <= SIM_NODES &&
				      j->target >= 1 && j->target <= SIM_NODES,
			   "job %" PRIu64 " runs from %u to %u over '%s'", j->id, j->source,
			   j->target, j->network);
		c->out[j->source]++;
		c->in[j->target]++;
		c->in_mib[j->target] += j->memory_mib;
		c->in_vcpus[j->target] += j->vcpus;
		c->net[k]++;
		c->cluster++;
	}
}

/* After a LimitsSet: what runs above the new limits may finish, nothing more may start. */
static void allow_reset(struct sim *s)
{
	const struct cluster_state *r = &s->rep[0];
	struct counts c;

#define RESET(allow, count, limit) allow = (count) > limit_of(limit) ? (count) : limit_of(limit)
	count_running(s, r, &c);
	for (uint32_t n = 1; n <= SIM_NODES; n++) {
		RESET(s->allow_out[n], c.out[n], r->limits.per_source);
		RESET(s->allow_in[n], c.in[n], r->limits.per_target);
	}
	for (size_t k = 0; k < SIM_NETS; k++)
		RESET(s->allow_net[k], c.net[k], cap_of(r, k));
	RESET(s->allow_cluster, c.cluster, r->limits.cluster);
#undef RESET
}

/* ---- the invariants, after every message ---- */

static void check_step(struct sim *s)
{
	const struct cluster_state *r = &s->rep[0];
	struct counts c;
	bool over = false;
	size_t n_running = 0, total = 0;

	count_running(s, r, &c);

	/* The count may stay above a lowered limit only as long as it does not grow again. */
#define LIMIT(allow, count, limit, what, ...)                                                      \
	do {                                                                                       \
		SIM_ASSERT(s, (count) <= (allow), "%u running " what ", limit %u (allowed %u)",    \
			   (unsigned)(count), __VA_ARGS__, (unsigned)(limit), (unsigned)(allow));  \
		if ((count) > limit_of(limit))                                                     \
			over = true;                                                               \
		(allow) = (count) < (allow) ? (count) : (allow);                                   \
		if ((allow) < limit_of(limit))                                                     \
			(allow) = limit_of(limit);                                                 \
	} while (0)
	for (uint32_t n = 1; n <= SIM_NODES; n++) {
		LIMIT(s->allow_out[n], c.out[n], r->limits.per_source, "from n%u", n);
		LIMIT(s->allow_in[n], c.in[n], r->limits.per_target, "to n%u", n);
	}
	for (size_t k = 0; k < SIM_NETS; k++)
		LIMIT(s->allow_net[k], c.net[k], cap_of(r, k), "over %s", net_name[k]);
	LIMIT(s->allow_cluster, c.cluster, r->limits.cluster, "in the cluster%s", "");
#undef LIMIT
	if (over)
		s->fig.over_limit_steps++;
	if (c.cluster > s->fig.peak_running)
		s->fig.peak_running = c.cluster;

	for (uint32_t n = 1; n <= SIM_NODES; n++) {
		const struct sim_node *nd = &s->nodes[n];
		uint64_t mib = 0;
		uint32_t vcpus = 0;

		for (size_t v = 0; v < SIM_VMS; v++)
			if (s->vms[v].node == n) {
				mib += s->vms[v].mib;
				vcpus += s->vms[v].vcpus;
			}
		assert_int_equal(mib, nd->used_mib);
		assert_int_equal(vcpus, nd->used_vcpus);
		SIM_ASSERT(s, nd->used_mib + c.in_mib[n] <= nd->mem_mib,
			   "n%u holds %" PRIu64 " MiB and receives %" PRIu64 " MiB, has %" PRIu64,
			   n, nd->used_mib, c.in_mib[n], nd->mem_mib);
		SIM_ASSERT(s, nd->used_vcpus + c.in_vcpus[n] <= nd->vcpus,
			   "n%u holds %u vCPUs and receives %u, has %u", n, nd->used_vcpus,
			   c.in_vcpus[n], nd->vcpus);
		for (size_t w = 0; w < sizeof(nd->vms) / sizeof(nd->vms[0]); w++)
			total += (size_t)__builtin_popcountll(nd->vms[w]);
	}
	/* Every VM is in the set of the node it runs on, and in no other. */
	SIM_ASSERT(s, total == SIM_VMS, "%zu VM placements for %d VMs", total, SIM_VMS);
	for (size_t v = 0; v < SIM_VMS; v++)
		SIM_ASSERT(s, s->nodes[s->vms[v].node].vms[v / 64] & (UINT64_C(1) << (v % 64)),
			   "VM %s is not on n%u", s->vms[v].name, s->vms[v].node);

	/* The replicated running jobs are exactly the migrations the sources execute. */
	for (size_t i = 0; i < r->n_jobs; i++) {
		const struct queue_job *j = &r->jobs[i];
		const struct sim_mig *m = NULL;

		if (j->state != QUEUE_JOB_RUNNING)
			continue;
		n_running++;
		for (size_t x = 0; x < s->n_migs && !m; x++)
			if (s->migs[x].job_id == j->id)
				m = &s->migs[x];
		SIM_ASSERT(s, m, "job %" PRIu64 " runs but no source executes it", j->id);
		SIM_ASSERT(s, m->source == j->source && m->target == j->target &&
				      strcmp(net_name[m->net], j->network) == 0,
			   "job %" PRIu64 " runs n%u->n%u over %s, its source n%u->n%u over %s",
			   j->id, j->source, j->target, j->network, m->source, m->target,
			   net_name[m->net]);
		SIM_ASSERT(s, s->vms[m->vm].node == j->source,
			   "job %" PRIu64 " moves VM %s from n%u, it is on n%u", j->id, j->vm,
			   j->source, s->vms[m->vm].node);
	}
	SIM_ASSERT(s, n_running == s->n_migs, "%zu running jobs, %zu executed", n_running,
		   s->n_migs);
}

/* ---- the operator and the sources ---- */

static void job_learn(struct sim *s, const char *vm_name, size_t v)
{
	struct queue_job *j = state_job_active(&s->rep[0], vm_name);
	struct sim_job *sj;

	SIM_ASSERT(s, j && j->state == QUEUE_JOB_QUEUED, "no queued job for VM %s", vm_name);
	SIM_ASSERT(s, j->id < SIM_MAX_IDS, "job id %" PRIu64 " beyond the simulation", j->id);
	SIM_ASSERT(s, j->max_retries == s->rep[0].limits.max_retries,
		   "job %" PRIu64 " got %u retries, the limits say %u", j->id, j->max_retries,
		   s->rep[0].limits.max_retries);
	sj = &s->jobs[j->id];
	if (sj->known)
		return;
	sj->known = true;
	sj->vm = v;
	sj->source = j->source;
	sj->max_retries = j->max_retries;
	s->vms[v].last_job = j->id;
	s->fig.n_jobs++;
}

/* One JobsAdd for these VMs leaving node, as `drover node drain` and the coordinator send it. */
static void send_jobs_add(struct sim *s, uint32_t node, const size_t *vms, size_t n)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsAdd m = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec *specs = calloc(n, sizeof(*specs));
	Drover__JobSpec **sp = calloc(n, sizeof(*sp));

	assert_non_null(specs);
	assert_non_null(sp);
	for (size_t i = 0; i < n; i++) {
		drover__job_spec__init(&specs[i]);
		specs[i].vm = s->vms[vms[i]].name;
		specs[i].source = node;
		specs[i].origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_DRAIN;
		sp[i] = &specs[i];
	}
	m.n_jobs = n;
	m.jobs = sp;
	m.created_ms = s->now;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &m;
	SIM_ASSERT(s, send_env(s, &env) == 1, "JobsAdd of %zu VMs from n%u refused", n, node);
	for (size_t i = 0; i < n; i++)
		job_learn(s, s->vms[vms[i]].name, vms[i]);
	free(specs);
	free(sp);
}

/* `drover node drain`: draining first, then a job for every VM without one. */
static void drain_node(struct sim *s, uint32_t node)
{
	size_t vms[SIM_VMS], n = 0;

	s->nodes[node].wave = true;
	assert_int_equal(send_node_state(s, node, DRAINING), 1);
	check_step(s);
	for (size_t v = 0; v < SIM_VMS; v++)
		if (s->vms[v].node == node && !state_job_active(&s->rep[0], s->vms[v].name))
			vms[n++] = v;
	if (n) {
		send_jobs_add(s, node, vms, n);
		check_step(s);
	}
}

static void drain_wave(struct sim *s)
{
	for (int i = 0; i < SIM_WAVE; i++) {
		uint32_t node;

		do
			node = (uint32_t)rnd_in(s, 1, SIM_NODES);
		while (s->nodes[node].wave);
		drain_node(s, node);
	}
}

static void vm_move(struct sim *s, size_t v, uint32_t to)
{
	struct sim_vm *vm = &s->vms[v];
	struct sim_node *from = &s->nodes[vm->node], *dst = &s->nodes[to];

	from->vms[v / 64] &= ~(UINT64_C(1) << (v % 64));
	from->used_mib -= vm->mib;
	from->used_vcpus -= vm->vcpus;
	dst->vms[v / 64] |= UINT64_C(1) << (v % 64);
	dst->used_mib += vm->mib;
	dst->used_vcpus += vm->vcpus;
	vm->node = to;
}

static void vm_place(struct sim *s, size_t v, uint32_t node)
{
	struct sim_node *nd = &s->nodes[node];

	nd->vms[v / 64] |= UINT64_C(1) << (v % 64);
	nd->used_mib += s->vms[v].mib;
	nd->used_vcpus += s->vms[v].vcpus;
	s->vms[v].node = node;
}

static void mig_remove(struct sim *s, size_t x)
{
	s->migs[x] = s->migs[--s->n_migs];
}

/* The source reports the end of an attempt; the VM moves only with a success. */
static void finish(struct sim *s, size_t x, bool ok)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobFinish m = DROVER__JOB_FINISH__INIT;
	struct sim_mig mig = s->migs[x];
	struct sim_job *sj = &s->jobs[mig.job_id];
	struct queue_job *j = state_job_find(&s->rep[0], mig.job_id);
	bool cancel_requested;

	SIM_ASSERT(s, j && j->state == QUEUE_JOB_RUNNING,
		   "job %" PRIu64 " finishes but is not running", mig.job_id);
	cancel_requested = j->cancel_requested;
	m.job_id = mig.job_id;
	m.ok = ok;
	m.reason = ok ? (char *)"" : mig.reason;
	m.finished_ms = s->now;
	m.downtime_ms = ok ? rnd_in(s, 20, 300) : 0;
	m.bytes = ok ? s->vms[mig.vm].mib << 20 : 0;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
	env.job_finish = &m;
	mig_remove(s, x);
	SIM_ASSERT(s, send_env(s, &env) == 1, "JobFinish of job %" PRIu64 " refused", mig.job_id);
	j = state_job_find(&s->rep[0], mig.job_id);
	SIM_ASSERT(s, j, "job %" PRIu64 " vanished when it finished", mig.job_id);
	if (ok) {
		s->fig.net_done[mig.net]++;
		s->fig.net_ms[mig.net] += s->now - mig.started_ms;
		SIM_ASSERT(s, s->vms[mig.vm].node == mig.source,
			   "VM %s moves from n%u but is on n%u", s->vms[mig.vm].name, mig.source,
			   s->vms[mig.vm].node);
		vm_move(s, mig.vm, mig.target);
		SIM_ASSERT(s, j->state == QUEUE_JOB_DONE, "job %" PRIu64 " is %s after success",
			   j->id, queue_job_state_name(j->state));
	} else {
		enum queue_job_state want;

		sj->failures++;
		if (cancel_requested)
			want = QUEUE_JOB_CANCELLED;
		else if (sj->failures > sj->max_retries)
			want = QUEUE_JOB_FAILED;
		else
			want = QUEUE_JOB_QUEUED;
		SIM_ASSERT(s, j->state == want,
			   "job %" PRIu64 " is %s after failure %u of %u retries, want %s", j->id,
			   queue_job_state_name(j->state), sj->failures, sj->max_retries,
			   queue_job_state_name(want));
		if (want == QUEUE_JOB_QUEUED)
			s->fig.retries++;
	}
	if (j->state != QUEUE_JOB_QUEUED) {
		sj->ended = true;
		sj->end = j->state;
	}
	check_step(s);
}

/* `drover drain cancel`, with or without --abort. */
static void cancel_drain(struct sim *s, uint32_t node, bool abort)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsCancel m = DROVER__JOBS_CANCEL__INIT;

	m.node = node;
	m.abort = abort;
	m.at_ms = s->now;
	m.reason = m.abort ? (char *)"drain cancelled by the operator (--abort)"
			   : (char *)"drain cancelled by the operator";
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_CANCEL;
	env.jobs_cancel = &m;
	SIM_ASSERT(s, send_env(s, &env) == 1, "cancelling the drain of n%u changed nothing", node);
	s->nodes[node].cancelled = true;
	s->fig.cancelled_drains++;
	assert_int_equal(state_node_get(&s->rep[0], node), ACTIVE);
	for (size_t id = 1; id < SIM_MAX_IDS; id++) {
		struct sim_job *sj = &s->jobs[id];
		const struct queue_job *j;

		if (!sj->known || sj->ended || sj->source != node)
			continue;
		j = state_job_find(&s->rep[0], id);
		SIM_ASSERT(s, j && (j->state == QUEUE_JOB_CANCELLED ||
				    (j->state == QUEUE_JOB_RUNNING && j->cancel_requested)),
			   "job %zu of the cancelled drain is %s", id,
			   j ? queue_job_state_name(j->state) : "gone");
		if (j->state == QUEUE_JOB_CANCELLED) {
			sj->ended = true;
			sj->end = QUEUE_JOB_CANCELLED;
		}
	}
	/* As drain_on_applied(): with --abort every source aborts its cancelled migrations. */
	for (size_t x = 0; m.abort && x < s->n_migs; x++) {
		struct sim_mig *mig = &s->migs[x];
		const struct queue_job *j = state_job_find(&s->rep[0], mig->job_id);

		if (j && j->cancel_requested && !mig->aborting) {
			mig->aborting = true;
			mig->fail_at = s->now + rnd_in(s, 50, 500);
			snprintf(mig->reason, sizeof(mig->reason), "drain cancelled with --abort");
		}
	}
	check_step(s);
}

/* The operator cancels one of the drains still running, at random. */
static void cancel_some_drain(struct sim *s)
{
	uint32_t cand[SIM_NODES];
	size_t n = 0;

	for (uint32_t i = 1; i <= SIM_NODES; i++)
		if (state_node_get(&s->rep[0], i) == DRAINING)
			cand[n++] = i;
	if (n)
		cancel_drain(s, cand[rnd(s) % n], rnd(s) % 2);
}

/*
 * Nothing runs and every queued job waits for memory or vCPUs that no target
 * will free: the queue rightly waits forever, and the operator cancels the
 * drain of the first such job (by id). Returns whether it did.
 */
static bool cancel_stuck_drain(struct sim *s)
{
	const struct queue_job *first = NULL;

	if (s->n_migs || !state_jobs_unfinished(&s->rep[0]))
		return false;
	for (size_t i = 0; i < s->n_scratch; i++) {
		const struct queue_job *j = &s->scratch[i];

		if (j->blocker != QUEUE_BLOCK_NO_MEMORY && j->blocker != QUEUE_BLOCK_NO_VCPUS)
			return false;
		if (!first)
			first = j;
	}
	if (!first)
		return false;
	SIM_ASSERT(s, state_node_get(&s->rep[0], first->source) == DRAINING,
		   "job %" PRIu64 " waits to leave n%u, which is not draining", first->id,
		   first->source);
	cancel_drain(s, first->source, false);
	s->fig.stuck_cancels++;
	return true;
}

/* `drover config set`: everything lower, under running migrations. */
static void lower_limits(struct sim *s)
{
	static const uint32_t caps[SIM_NETS] = {2, 2, 1};

	SIM_ASSERT(s, send_limits(s, 1, 1, 4, 1, caps) == 1, "lowering the limits changed nothing");
	allow_reset(s);
	check_step(s);
}

/* A member restarts and adopts the state of another by the state exchange. */
static void rejoin(struct sim *s)
{
	Drover__ClusterState msg, *un;
	struct state_proto_storage st;
	size_t len;
	uint8_t *buf;

	state_to_proto(&s->rep[1], &msg, &st);
	len = drover__cluster_state__get_packed_size(&msg);
	buf = malloc(len);
	assert_non_null(buf);
	assert_int_equal(drover__cluster_state__pack(&msg, buf), len);
	state_proto_storage_free(&st);
	state_free(&s->rep[2]);
	un = drover__cluster_state__unpack(NULL, len, buf);
	assert_non_null(un);
	SIM_ASSERT(s, state_from_proto(un, &s->rep[2]) == 0, "the exchanged state was refused");
	drover__cluster_state__free_unpacked(un, NULL);
	free(buf);
	SIM_ASSERT(s, state_hash(&s->rep[2]) == state_hash(&s->rep[1]),
		   "the rejoined replica differs");
}

static void restore_apply(struct sim *s, const struct restore *rs, bool down)
{
	for (size_t k = 0; k < SIM_NETS; k++) {
		if (rs->net != SIM_NETS && rs->net != k)
			continue;
		if (rs->b)
			link_change(s, k, rs->a, rs->b, down);
		else
			links_of_node(s, k, rs->a, down);
	}
}

/*
 * A link fails for a while: often under a running migration, else between a
 * random pair, sometimes a whole NIC, rarely every migration network of a
 * host (its switch).
 */
static void link_failure(struct sim *s)
{
	struct restore *rs;
	uint64_t kind = rnd(s) % 100;

	if (s->n_restores == SIM_MAX_RESTORES)
		return;
	rs = &s->restores[s->n_restores++];
	rs->at = s->now + rnd_in(s, 1000, 30000);
	if (kind < 40 && s->n_migs) {
		const struct sim_mig *m = &s->migs[rnd(s) % s->n_migs];

		rs->net = m->net;
		rs->a = m->source;
		rs->b = m->target;
	} else {
		rs->net = kind < 95 ? (size_t)(rnd(s) % SIM_NETS) : SIM_NETS;
		rs->a = (uint32_t)rnd_in(s, 1, SIM_NODES);
		rs->b = kind < 85 ? (uint32_t)rnd_in(s, 1, SIM_NODES) : 0;
		if (rs->b == rs->a)
			rs->b = rs->a % SIM_NODES + 1;
	}
	restore_apply(s, rs, true);
	s->fig.link_failures++;
}

/*
 * ---- the coordinator: coord_decide() as drain.c's coordinate() calls it ----
 *
 * What stays simulated is drain.c's glue around it: input_build() (every node
 * a member with a working agent that reports exactly the VMs running on it,
 * no inventory lag, no other VM actions) and send_decision() (each decision
 * one message, one JobStart per action; an abort noted in the coordinator's
 * aborted set until a JobStart of that job is applied).
 */

/* The VM index of a name the simulation gave ("vm%03zu"). */
static size_t vm_index(struct sim *s, const char *name)
{
	char *end;
	unsigned long v;

	SIM_ASSERT(s, strncmp(name, "vm", 2) == 0, "VM name '%s' is not the simulation's", name);
	v = strtoul(name + 2, &end, 10);
	SIM_ASSERT(s, *end == '\0' && v < SIM_VMS && strcmp(s->vms[v].name, name) == 0,
		   "VM name '%s' is not the simulation's", name);
	return (size_t)v;
}

static void build_view(struct sim *s, const struct cluster_state *r)
{
	struct queue_view *v = &s->view;

	queue_view_init(v);
	v->limits.per_source = r->limits.per_source;
	v->limits.per_target = r->limits.per_target;
	v->limits.cluster = r->limits.cluster;
	for (uint32_t id = 1; id <= SIM_NODES; id++) {
		const struct sim_node *nd = &s->nodes[id];
		struct queue_node n = {.id = id, .online = true};

		snprintf(n.name, sizeof(n.name), "n%u", (unsigned)id);
		n.usable_target = state_node_get(r, id) == ACTIVE;
		n.free_mib = nd->mem_mib - nd->used_mib;
		n.free_vcpus = nd->vcpus - nd->used_vcpus;
		assert_int_equal(queue_view_add_node(v, &n), 0);
	}
	for (size_t k = 0; k < SIM_NETS; k++) {
		assert_int_equal(queue_view_add_network(v, net_name[k], cap_of(r, k)), 0);
		memcpy(v->usable[k], s->usable[k], sizeof(v->usable[k]));
	}
}

/* input_build(): the replica the coordinator reads, the view, every agent's report. */
static void build_input(struct sim *s, struct coord_input *in)
{
	const struct cluster_state *r = coord_state(s);
	size_t used = 0;

	build_view(s, r);
	for (uint32_t id = 1; id <= SIM_NODES; id++) {
		struct coord_node *n = &s->reports[id - 1];

		n->id = id;
		n->member = true;
		n->agent_ok = true;
		n->vms = &s->report_vms[used];
		n->n_vms = 0;
		for (size_t v = 0; v < SIM_VMS; v++)
			if (s->vms[v].node == id)
				s->report_vms[used + n->n_vms++] = s->vms[v].name;
		used += n->n_vms;
	}
	memset(in, 0, sizeof(*in));
	in->state = r;
	in->view = &s->view;
	in->n_nodes = SIM_NODES;
	in->nodes = s->reports;
	in->n_aborted = s->n_aborted;
	in->aborted = s->aborted;
	in->now_ms = s->now;
}

/*
 * What `drover queue` would show now: coord_dispatch() over a copy of the
 * unfinished jobs, as drain_blockers() calls it. Its actions must be the
 * starts the coordinator decided (none when it decided nothing), and in this
 * world no job is ever held back for its VM.
 */
static void observe_blockers(struct sim *s, const struct coord_input *in,
			     const struct coord_decision *dec)
{
	const struct cluster_state *r = coord_state(s);
	struct queue_action acts[COORD_BATCH];
	struct queue_job *jobs = s->scratch;
	size_t n = 0, n_acts = 0;

	for (size_t i = 0; i < r->n_jobs; i++)
		if (r->jobs[i].state == QUEUE_JOB_QUEUED || r->jobs[i].state == QUEUE_JOB_RUNNING)
			jobs[n++] = r->jobs[i];
	s->n_scratch = n;
	assert_int_equal(coord_dispatch(in, jobs, n, acts, COORD_BATCH, &n_acts), 0);
	SIM_ASSERT(s, n_acts == dec->n_starts, "the queue shows %zu starting, the coordinator "
		   "starts %zu", n_acts, dec->n_starts);
	for (size_t i = 0; i < n_acts; i++)
		SIM_ASSERT(s, acts[i].job_id == dec->starts[i].job_id &&
				      acts[i].target == dec->starts[i].target &&
				      strcmp(acts[i].network_name, dec->starts[i].network_name) == 0,
			   "the queue shows job %" PRIu64 " to n%u over %s starting, the "
			   "coordinator starts job %" PRIu64 " to n%u over %s",
			   acts[i].job_id, acts[i].target, acts[i].network_name,
			   dec->starts[i].job_id, dec->starts[i].target,
			   dec->starts[i].network_name);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].state != QUEUE_JOB_QUEUED || jobs[i].blocker == QUEUE_BLOCK_NONE)
			continue;
		SIM_ASSERT(s, jobs[i].blocker != QUEUE_BLOCK_VM_BUSY &&
				      jobs[i].blocker != QUEUE_BLOCK_VM_ELSEWHERE,
			   "job %" PRIu64 " held back: %s", jobs[i].id, jobs[i].blocker_text);
		s->fig.blocked[jobs[i].blocker]++;
	}
}

/* COORD_ABORT: JobAbort, and the source aborts the migration unless it is aborting already. */
static void do_abort(struct sim *s, const struct coord_decision *dec)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobAbort m = DROVER__JOB_ABORT__INIT;
	struct sim_mig *mig = NULL;
	char want[QUEUE_REASON_MAX];

	for (size_t x = 0; x < s->n_migs && !mig; x++)
		if (s->migs[x].job_id == dec->job_id)
			mig = &s->migs[x];
	SIM_ASSERT(s, mig, "abort of job %" PRIu64 ", which no source executes", dec->job_id);
	/* Every target stays a member: only a network that went down is a reason. */
	snprintf(want, sizeof(want), "network %s went down between n%u and n%u",
		 net_name[mig->net], mig->source, mig->target);
	SIM_ASSERT(s, !link_up(s, mig->net, mig->source, mig->target) &&
			      strcmp(dec->reason, want) == 0,
		   "abort of job %" PRIu64 " (n%u->n%u over %s, link %s): %s", dec->job_id,
		   mig->source, mig->target, net_name[mig->net],
		   link_up(s, mig->net, mig->source, mig->target) ? "up" : "down", dec->reason);

	if (s->n_aborted == SIM_MAX_ABORTED)
		memmove(&s->aborted[0], &s->aborted[1], sizeof(s->aborted[0]) * --s->n_aborted);
	s->aborted[s->n_aborted++] = dec->job_id;
	m.job_id = dec->job_id;
	m.reason = (char *)dec->reason;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_ABORT;
	env.job_abort = &m;
	/* Not a state change: the replicas leave it to the source. */
	assert_int_equal(send_env(s, &env), -ENOTSUP);
	s->fig.abort_msgs++;

	/* drain_on_abort(): the first reason for an abort is the one the source reports. */
	if (mig->aborting)
		return;
	mig->aborting = true;
	mig->fail_at = s->now + rnd_in(s, 50, 500);
	snprintf(mig->reason, sizeof(mig->reason), "%s", dec->reason);
	s->fig.aborts++;
}

/* COORD_ADD: a job for each VM on a draining node that has none. */
static void do_add(struct sim *s, const struct coord_decision *dec)
{
	size_t add[COORD_MAX_ADD];
	uint32_t node = dec->node;

	SIM_ASSERT(s, state_node_get(coord_state(s), node) == DRAINING && dec->n_vms > 0 &&
			      dec->n_vms <= COORD_MAX_ADD,
		   "%zu VMs to add from n%u, which is %d", dec->n_vms, node,
		   state_node_get(coord_state(s), node));
	for (size_t i = 0; i < dec->n_vms; i++) {
		size_t v = vm_index(s, dec->vms[i]);
		const struct sim_job *prev = &s->jobs[s->vms[v].last_job];

		SIM_ASSERT(s, s->vms[v].node == node, "VM %s to leave n%u runs on n%u",
			   s->vms[v].name, node, s->vms[v].node);
		/*
		 * The VM's last job left this very node and failed for good or
		 * was cancelled: the replicas trimmed it from jobs[], so the
		 * drain forgets the failure and starts over with fresh retries.
		 * Counted, and failed at the end.
		 */
		if (s->vms[v].last_job && prev->source == node && prev->ended &&
		    prev->end != QUEUE_JOB_DONE) {
			if (!s->fig.readded && !s->quiet)
				print_message("seed %" PRIu64 ", t=%" PRIu64 " ms: VM %s queued "
					      "again: its job %" PRIu64 " from n%u %s, and the "
					      "replicas no longer list it\n",
					      s->seed, s->now, s->vms[v].name, s->vms[v].last_job,
					      node, queue_job_state_name(prev->end));
			s->fig.readded++;
		}
		add[i] = v;
	}
	send_jobs_add(s, node, add, dec->n_vms);
	check_step(s);
}

/* COORD_START: one JobStart per action; the source starts migrating. */
static void do_starts(struct sim *s, const struct coord_decision *dec)
{
	const struct cluster_state *r = coord_state(s);

	SIM_ASSERT(s, dec->n_starts > 0 && dec->n_starts <= COORD_BATCH, "%zu starts",
		   dec->n_starts);
	for (size_t i = 0; i < dec->n_starts; i++) {
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__JobStart m = DROVER__JOB_START__INIT;
		const struct queue_action *a = &dec->starts[i];
		const struct queue_job *found = state_job_find(&s->rep[s->coord], a->job_id);
		struct queue_job j;
		size_t k = net_index(a->network_name), v;
		struct sim_mig *mig;
		struct counts c;

		SIM_ASSERT(s, found && a->job_id < SIM_MAX_IDS && s->jobs[a->job_id].known,
			   "action for unknown job %" PRIu64, a->job_id);
		j = *found;
		v = s->jobs[j.id].vm;
		SIM_ASSERT(s, j.state == QUEUE_JOB_QUEUED && a->source == j.source,
			   "job %" PRIu64 " from n%u is %s, the action starts it from n%u", j.id,
			   j.source, queue_job_state_name(j.state), a->source);
		SIM_ASSERT(s, s->vms[v].node == j.source,
			   "job %" PRIu64 " starts VM %s from n%u, it is on n%u", j.id, j.vm,
			   j.source, s->vms[v].node);
		SIM_ASSERT(s, k < SIM_NETS && link_up(s, k, j.source, a->target),
			   "job %" PRIu64 " starts n%u->n%u over %s, which does not link them",
			   j.id, j.source, a->target, a->network_name);
		SIM_ASSERT(s, state_node_get(r, a->target) == ACTIVE,
			   "job %" PRIu64 " targets n%u, which is %d", j.id, a->target,
			   state_node_get(r, a->target));
		if (j.n_attempts && j.attempts[j.n_attempts - 1].result == QUEUE_RESULT_FAILED) {
			size_t last = net_index(j.attempts[j.n_attempts - 1].network);

			if (last != k) {
				s->fig.retries_elsewhere++;
			} else {
				/* Only when no other network links this source and target. */
				for (size_t o = 0; o < SIM_NETS; o++)
					SIM_ASSERT(s, o == k || !link_up(s, o, j.source,
									 a->target),
						   "job %" PRIu64 " retries n%u->n%u over %s, "
						   "which failed, though %s links them",
						   j.id, j.source, a->target, net_name[k],
						   net_name[o]);
				s->fig.retries_same++;
			}
		}

		m.job_id = a->job_id;
		m.target = a->target;
		m.network = (char *)a->network_name;
		m.started_ms = s->now;
		env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
		env.job_start = &m;
		SIM_ASSERT(s, send_env(s, &env) == 1, "JobStart of job %" PRIu64 " refused",
			   a->job_id);
		/* drain_on_applied(): a new attempt, which an earlier abort does not cover. */
		for (size_t x = 0; x < s->n_aborted; x++)
			if (s->aborted[x] == a->job_id) {
				s->aborted[x] = s->aborted[--s->n_aborted];
				break;
			}

		/* The source starts migrating; it copies the memory plus what the guest dirties. */
		SIM_ASSERT(s, s->n_migs < SIM_MAX_MIGS, "too many migrations");
		mig = &s->migs[s->n_migs++];
		memset(mig, 0, sizeof(*mig));
		mig->job_id = a->job_id;
		mig->vm = v;
		mig->source = j.source;
		mig->target = a->target;
		mig->net = k;
		mig->started_ms = s->now;
		s->fig.net_starts[k]++;
		mig->left = s->vms[v].mib * 1000u * rnd_in(s, 100, 150) / 100u;
		mig->fail_at = NONE;
		if (rnd(s) % 100 < 4) {
			/* Now and then a migration stalls by itself, whatever the network. */
			mig->fail_at = s->now + rnd_in(s, 100, mig->left / net_bw[k] + 100);
			snprintf(mig->reason, sizeof(mig->reason), "migration stalled");
		}

		/* Nothing starts above the limits in force, lowered or not. */
		count_running(s, r, &c);
		SIM_ASSERT(s, c.out[mig->source] <= limit_of(r->limits.per_source) &&
				      c.in[mig->target] <= limit_of(r->limits.per_target) &&
				      c.net[k] <= limit_of(cap_of(r, k)) &&
				      c.cluster <= limit_of(r->limits.cluster),
			   "job %" PRIu64 " started above a limit: %u from n%u, %u to n%u, "
			   "%u over %s, %u in all",
			   a->job_id, c.out[mig->source], mig->source, c.in[mig->target],
			   mig->target, c.net[k], net_name[k], c.cluster);
		check_step(s);
	}
}

/*
 * Once the coordinator has nothing more to decide, a draining node with
 * nothing queued or running would have been ended (every agent works and
 * reports at once): only a VM back where its done job took it from, which
 * the coordinator takes for inventory lag, could hold the drain.
 */
static void check_settled(struct sim *s)
{
	const struct cluster_state *r = coord_state(s);

	for (size_t i = 0; i < r->n_nodes; i++) {
		uint32_t node = r->nodes[i].id;
		bool moving = false;

		if (r->nodes[i].state != DRAINING)
			continue;
		for (size_t k = 0; k < r->n_jobs; k++)
			moving |= r->jobs[k].source == node && (r->jobs[k].state == QUEUE_JOB_QUEUED ||
								r->jobs[k].state == QUEUE_JOB_RUNNING);
		SIM_ASSERT(s, moving, "n%u drains with nothing left to move, %" PRIu64 " MiB of VMs "
			   "on it, and the coordinator ends nothing", node, s->nodes[node].used_mib);
	}
}

static void coordinate(struct sim *s)
{
	struct coord_decision *dec = &s->decision;
	size_t n = 0;

	/* Whoever coordinates continues from the replicated queue. */
	s->coord = (s->coord + 1) % SIM_REPLICAS;
	for (;;) {
		struct coord_input in;

		build_input(s, &in);
		assert_int_equal(coord_decide(&in, dec), 0);
		/* Each decision changes what the next one sees; a handful settle it. */
		SIM_ASSERT(s, ++n < 1000, "the coordinator does not settle: decision %d, job %" PRIu64,
			   dec->kind, dec->job_id);
		if (dec->kind == COORD_START || dec->kind == COORD_NONE)
			observe_blockers(s, &in, dec);
		switch (dec->kind) {
		case COORD_NONE:
			check_settled(s);
			return;
		case COORD_FINISH:
			SIM_ASSERT(s, false, "job %" PRIu64 " finished by the coordinator, though "
				   "every source stays a member: %s", dec->job_id, dec->reason);
			break;
		case COORD_ABORT:
			do_abort(s, dec);
			break;
		case COORD_CANCEL:
			/* VMs move only by their jobs here: a queued job's VM is on its source. */
			SIM_ASSERT(s, false, "%zu job(s) from %" PRIu64 " cancelled as moot: %s",
				   dec->n_ids, dec->ids[0], dec->reason);
			break;
		case COORD_ADD:
			do_add(s, dec);
			break;
		case COORD_NODE_STATE:
			SIM_ASSERT(s, state_node_get(coord_state(s), dec->node) == DRAINING &&
					      (dec->node_state == DRAINED ||
					       dec->node_state == DRAIN_FAILED),
				   "n%u, %d, set to %d", dec->node,
				   state_node_get(coord_state(s), dec->node), dec->node_state);
			assert_int_equal(send_node_state(s, dec->node, dec->node_state), 1);
			check_step(s);
			break;
		case COORD_START:
			do_starts(s, dec);
			break;
		}
	}
}

/* ---- time ---- */

static void moving_per_net(const struct sim *s, size_t n[SIM_NETS])
{
	memset(n, 0, sizeof(size_t) * SIM_NETS);
	for (size_t x = 0; x < s->n_migs; x++) {
		const struct sim_mig *m = &s->migs[x];

		if (!m->aborting && link_up(s, m->net, m->source, m->target))
			n[m->net]++;
	}
}

static uint64_t rate(const struct sim *s, const struct sim_mig *m, const size_t n[SIM_NETS])
{
	if (m->aborting || !link_up(s, m->net, m->source, m->target))
		return 0;
	return net_bw[m->net] / n[m->net];
}

static uint64_t next_time(const struct sim *s)
{
	uint64_t t = s->next_link_failure;
	size_t n[SIM_NETS];

#define EARLIER(x) t = (x) < t ? (x) : t
	moving_per_net(s, n);
	for (size_t x = 0; x < s->n_migs; x++) {
		const struct sim_mig *m = &s->migs[x];
		uint64_t rt = rate(s, m, n);

		if (rt)
			EARLIER(s->now + (m->left + rt - 1) / rt);
		EARLIER(m->fail_at);
	}
	for (size_t i = 0; i < s->n_restores; i++)
		EARLIER(s->restores[i].at);
	EARLIER(s->at_wave2);
	EARLIER(s->at_cancel);
	EARLIER(s->at_limits);
	EARLIER(s->at_rejoin);
#undef EARLIER
	return t;
}

static void advance(struct sim *s, uint64_t to)
{
	size_t n[SIM_NETS];

	assert_true(to >= s->now);
	moving_per_net(s, n);
	for (size_t x = 0; x < s->n_migs; x++) {
		struct sim_mig *m = &s->migs[x];
		uint64_t done = rate(s, m, n) * (to - s->now);

		m->left = done < m->left ? m->left - done : 0;
	}
	s->now = to;
}

/* Everything due now, in a fixed order so that a seed replays exactly. */
static void events(struct sim *s)
{
	bool again = true;

	while (again) {
		size_t n[SIM_NETS];

		again = false;
		moving_per_net(s, n);
		for (size_t x = 0; x < s->n_migs; x++) {
			const struct sim_mig *m = &s->migs[x];

			if (m->left == 0 && rate(s, m, n)) {
				finish(s, x, true);
				again = true;
				break;
			}
			if (m->fail_at <= s->now) {
				finish(s, x, false);
				again = true;
				break;
			}
		}
	}
	for (size_t i = 0; i < s->n_restores;) {
		struct restore *rs = &s->restores[i];

		if (rs->at > s->now) {
			i++;
			continue;
		}
		restore_apply(s, rs, false);
		*rs = s->restores[--s->n_restores];
	}
	if (s->next_link_failure <= s->now) {
		link_failure(s);
		s->next_link_failure = s->now + rnd_in(s, 1000, 8000);
	}
	if (s->at_wave2 <= s->now) {
		s->at_wave2 = NONE;
		drain_wave(s);
	}
	if (s->at_cancel <= s->now) {
		s->at_cancel = NONE;
		cancel_some_drain(s);
	}
	if (s->at_limits <= s->now) {
		s->at_limits = NONE;
		lower_limits(s);
	}
	if (s->at_rejoin <= s->now) {
		s->at_rejoin = NONE;
		rejoin(s);
	}
}

static bool over(const struct sim *s)
{
	const struct cluster_state *r = &s->rep[0];

	if (s->n_migs || state_jobs_unfinished(r) || s->at_wave2 != NONE || s->at_cancel != NONE ||
	    s->at_limits != NONE || s->at_rejoin != NONE)
		return false;
	for (size_t i = 0; i < r->n_nodes; i++)
		if (r->nodes[i].state == DRAINING)
			return false;
	return true;
}

/* ---- a run ---- */

static void setup(struct sim *s, uint64_t seed)
{
	/* Mostly small VMs, a few large ones: 512 MiB to 32 GiB. */
	static const uint64_t sizes[] = {512, 1024, 2048, 4096, 8192, 16384, 32768};
	static const unsigned weights[] = {10, 20, 25, 20, 15, 7, 3};
	static const uint32_t caps[SIM_NETS] = {4, 6, 2};

	memset(s, 0, sizeof(*s));
	s->seed = seed;
	s->rng = seed * 0x2545f4914f6cdd1dull + 1;
	s->scratch = calloc(DROVER_MAX_JOBS, sizeof(*s->scratch));
	assert_non_null(s->scratch);
	for (size_t i = 0; i < SIM_REPLICAS; i++)
		state_init(&s->rep[i]);

	for (uint32_t n = 1; n <= SIM_NODES; n++) {
		s->nodes[n].mem_mib = rnd_in(s, SIM_GIB_MIN, SIM_GIB_MAX) * 1024u;
		/* 12 to 32 CPUs: as in drain.c, vCPUs catch mistakes, memory is what binds. */
		s->nodes[n].vcpus = (uint32_t)rnd_in(s, 12, 32) * VCPU_OVERCOMMIT;
	}
	for (size_t k = 0; k < SIM_NETS; k++)
		for (uint32_t a = 1; a <= SIM_NODES; a++)
			for (uint32_t b = 1; b <= SIM_NODES; b++)
				if (b != a)
					s->usable[k][a - 1] |= UINT64_C(1) << (b - 1);
	/* Every fifth host has no mig-b NIC: those pairs have two networks, not three. */
	for (uint32_t a = 5; a <= SIM_NODES; a += 5)
		links_of_node(s, 1, a, true);

	for (size_t v = 0; v < SIM_VMS; v++) {
		struct sim_vm *vm = &s->vms[v];
		unsigned w = (unsigned)(rnd(s) % 100), i = 0;

		while (w >= weights[i])
			w -= weights[i++];
		snprintf(vm->name, sizeof(vm->name), "vm%03zu", v);
		vm->mib = sizes[i];
		vm->vcpus = (uint32_t)rnd_in(s, 1, 8);
		vm->prio = (int)rnd_in(s, DROVER__VM_PRIORITY__VM_PRIORITY_HIGH,
				       DROVER__VM_PRIORITY__VM_PRIORITY_NONE);
	}
	/*
	 * Placed at random on a node with room to spare, largest first so that
	 * every one finds a place, which leaves some nodes nearly full.
	 */
	for (size_t i = sizeof(sizes) / sizeof(sizes[0]); i-- > 0;)
		for (size_t v = 0; v < SIM_VMS; v++) {
			struct sim_vm *vm = &s->vms[v];
			uint32_t node;
			int tries = 0;

			if (vm->mib != sizes[i])
				continue;
			do {
				const struct sim_node *nd;

				node = (uint32_t)rnd_in(s, 1, SIM_NODES);
				nd = &s->nodes[node];
				if (nd->used_mib + vm->mib <= nd->mem_mib * 9 / 10 &&
				    nd->used_vcpus + vm->vcpus <= nd->vcpus * 9 / 10)
					break;
				assert_true(++tries < 100000);
			} while (true);
			vm_place(s, v, node);
		}
	for (size_t v = 0; v < SIM_VMS; v++)
		send_vm_add(s, &s->vms[v]);
	s->hash_every = true;
	/* The coordinator seeds the limits from its drover.conf. */
	assert_int_equal(send_limits(s, 3, 2, 12, 2, caps), 1);
	allow_reset(s);
	check_step(s);

	s->next_link_failure = rnd_in(s, 200, 3000);
	s->at_wave2 = rnd_in(s, 5000, 20000);
	s->at_cancel = rnd_in(s, 3000, 12000);
	s->at_limits = rnd_in(s, 10000, 40000);
	s->at_rejoin = rnd_in(s, 2000, 60000);
}

/* The end: every job ended as it should have, every drain ended as its jobs say. */
static void final_checks(struct sim *s)
{
	const struct cluster_state *r = &s->rep[0];
	uint64_t h = state_hash(r);

	for (size_t i = 1; i < SIM_REPLICAS; i++)
		assert_int_equal(state_hash(&s->rep[i]), h);
	for (size_t id = 1; id < SIM_MAX_IDS; id++) {
		const struct sim_job *sj = &s->jobs[id];

		if (!sj->known)
			continue;
		SIM_ASSERT(s, sj->ended, "job %zu never ended", id);
		switch (sj->end) {
		case QUEUE_JOB_DONE:
			s->fig.done++;
			break;
		case QUEUE_JOB_FAILED:
			SIM_ASSERT(s, sj->failures == sj->max_retries + 1,
				   "job %zu failed for good after %u failures", id, sj->failures);
			s->fig.failed++;
			break;
		case QUEUE_JOB_CANCELLED:
			s->fig.cancelled++;
			break;
		default:
			SIM_ASSERT(s, false, "job %zu ended %s", id, queue_job_state_name(sj->end));
		}
	}
	for (uint32_t n = 1; n <= SIM_NODES; n++) {
		const struct sim_node *nd = &s->nodes[n];
		Drover__NodeState st = state_node_get(r, n);

		if (!nd->wave) {
			assert_int_equal(st, ACTIVE);
			continue;
		}
		if (nd->cancelled) {
			assert_int_equal(st, ACTIVE);
			continue;
		}
		SIM_ASSERT(s, st == DRAINED || st == DRAIN_FAILED, "drained n%u ended in state %d",
			   n, st);
		if (st == DRAINED) {
			SIM_ASSERT(s, nd->used_mib == 0, "n%u is drained but still runs VMs", n);
			s->fig.drained++;
			continue;
		}
		s->fig.drain_failed++;
		SIM_ASSERT(s, nd->used_mib > 0, "n%u is drain-failed but empty", n);
		for (size_t v = 0; v < SIM_VMS; v++) {
			const struct sim_job *sj = &s->jobs[s->vms[v].last_job];

			if (s->vms[v].node != n)
				continue;
			SIM_ASSERT(s, s->vms[v].last_job && sj->source == n &&
					      sj->end == QUEUE_JOB_FAILED,
				   "VM %s stays on drain-failed n%u, its last job %" PRIu64
				   " did not fail", s->vms[v].name, n, s->vms[v].last_job);
		}
	}
	s->fig.final_hash = h;
}

static void run(struct sim *s, uint64_t seed, bool quiet)
{
	setup(s, seed);
	s->quiet = quiet;
	drain_wave(s);
	for (;;) {
		size_t drains = 0;

		coordinate(s);
		if (cancel_stuck_drain(s))
			continue;
		for (size_t i = 0; i < s->rep[0].n_nodes; i++)
			drains += s->rep[0].nodes[i].state == DRAINING;
		if (!drains && s->at_wave2 == NONE && !s->fig.drains_over_ms)
			s->fig.drains_over_ms = s->now;
		if (over(s))
			break;
		if (s->n_events++ > SIM_MAX_EVENTS || s->now > SIM_MAX_MS) {
			/* The blockers the queue last showed say what it waits for. */
			for (size_t i = 0; i < s->n_scratch && i < 10; i++) {
				const struct queue_job *j = &s->scratch[i];

				print_message("job %" PRIu64 " %s: %s\n", j->id,
					      queue_job_state_name(j->state), j->blocker_text);
			}
			for (uint32_t n = 1; n <= SIM_NODES; n++)
				print_message("n%u: state %d, %" PRIu64 " MiB and %u vCPUs free\n",
					      n, state_node_get(&s->rep[0], n),
					      s->nodes[n].mem_mib - s->nodes[n].used_mib,
					      s->nodes[n].vcpus - s->nodes[n].used_vcpus);
			SIM_ASSERT(s, false, "the simulation did not end: %zu jobs unfinished",
				   state_jobs_unfinished(&s->rep[0]));
		}
		advance(s, next_time(s));
		events(s);
	}
	final_checks(s);
	for (size_t i = 0; i < SIM_REPLICAS; i++)
		state_free(&s->rep[i]);
	free(s->scratch);
	s->scratch = NULL;
}

static void print_figures(const struct sim *s)
{
	const struct figures *f = &s->fig;

	print_message("seed %" PRIu64 ": %zu jobs (%zu done, %zu failed, %zu cancelled), "
		      "%zu retries (%zu on another network), %zu link failures, %zu aborts (%zu asked), "
		      "drains over at %.1f s (%zu drained, %zu drain-failed, %zu cancelled of "
		      "which %zu for lack of room), peak %zu running, %zu messages, %zu re-queued "
		      "after failing\n",
		      s->seed, f->n_jobs, f->done, f->failed, f->cancelled, f->retries,
		      f->retries_elsewhere, f->link_failures, f->aborts, f->abort_msgs,
		      (double)f->drains_over_ms / 1000.0, f->drained, f->drain_failed,
		      f->cancelled_drains, f->stuck_cancels, f->peak_running, f->n_msgs,
		      f->readded);
}

/* ---- the tests ---- */

static const uint64_t seeds[] = {1, 2, 3, 4};
#define N_SEEDS (sizeof(seeds) / sizeof(seeds[0]))

static void test_drains_at_scale(void **unused)
{
	struct sim *s = malloc(sizeof(*s));
	uint64_t hashes[N_SEEDS];
	struct figures sum;

	(void)unused;
	assert_non_null(s);
	memset(&sum, 0, sizeof(sum));
	for (size_t i = 0; i < N_SEEDS; i++) {
		run(s, seeds[i], false);
		print_figures(s);
		hashes[i] = s->fig.final_hash;
		for (size_t k = 0; k < i; k++)
			assert_true(hashes[k] != hashes[i]);
		sum.retries += s->fig.retries;
		sum.retries_elsewhere += s->fig.retries_elsewhere;
		sum.cancelled += s->fig.cancelled;
		sum.aborts += s->fig.aborts;
		sum.over_limit_steps += s->fig.over_limit_steps;
		sum.drained += s->fig.drained;
		sum.readded += s->fig.readded;
		for (size_t b = 0; b <= QUEUE_BLOCK_VM_ELSEWHERE; b++)
			sum.blocked[b] += s->fig.blocked[b];
		for (size_t k = 0; k < SIM_NETS; k++) {
			sum.net_starts[k] += s->fig.net_starts[k];
			sum.net_done[k] += s->fig.net_done[k];
			sum.net_ms[k] += s->fig.net_ms[k];
		}
	}
	for (size_t k = 0; k < SIM_NETS; k++) {
		double avg = sum.net_done[k] ? (double)sum.net_ms[k] / (double)sum.net_done[k] : 0;

		print_message("%s: %zu attempts, %zu done in %.1f s on average\n", net_name[k],
			      sum.net_starts[k], sum.net_done[k], avg / 1000.0);
	}
	print_message("waits: %zu source-limit, %zu target-limit, %zu network-limit, "
		      "%zu cluster-limit, %zu no-memory, %zu no-network; %zu steps above lowered "
		      "limits\n",
		      sum.blocked[QUEUE_BLOCK_SOURCE_LIMIT], sum.blocked[QUEUE_BLOCK_TARGET_LIMIT],
		      sum.blocked[QUEUE_BLOCK_NETWORK_LIMIT],
		      sum.blocked[QUEUE_BLOCK_CLUSTER_LIMIT], sum.blocked[QUEUE_BLOCK_NO_MEMORY],
		      sum.blocked[QUEUE_BLOCK_NO_NETWORK],
		      sum.over_limit_steps);
	/* The seeds reach what the simulation is for. */
	assert_true(sum.retries > 0);
	assert_true(sum.retries_elsewhere > 0);
	assert_true(sum.cancelled > 0);
	assert_true(sum.aborts > 0);
	assert_true(sum.over_limit_steps > 0);
	assert_true(sum.drained > 0);
	free(s);
	/*
	 * A VM whose drain job failed for good must leave its node drain-failed
	 * (docs/ARCHITECTURE.md), not be queued again with fresh retries.
	 * Finished jobs beyond DROVER_KEEP_FINISHED are dropped from jobs[] as
	 * other jobs finish; were that last job dropped while the drain runs,
	 * coord_decide() would take the VM for one that appeared without a job.
	 * The first case of each seed is printed above.
	 */
	if (sum.readded)
		fail_msg("%zu VM(s) queued again by their drain after their job failed for good: "
			 "the failure was trimmed from the replicated queue",
			 sum.readded);
}

static void test_same_seed_same_run(void **unused)
{
	struct sim *s = malloc(sizeof(*s));
	struct figures a;

	(void)unused;
	assert_non_null(s);
	run(s, 7, true);
	a = s->fig;
	run(s, 7, true);
	assert_int_equal(s->fig.final_hash, a.final_hash);
	assert_int_equal(s->fig.digest, a.digest);
	assert_int_equal(s->fig.n_msgs, a.n_msgs);
	assert_int_equal(s->fig.retries, a.retries);
	assert_int_equal(s->fig.drains_over_ms, a.drains_over_ms);
	assert_memory_equal(&s->fig, &a, sizeof(a));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drains_at_scale),
		cmocka_unit_test(test_same_seed_same_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
