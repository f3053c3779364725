/*
 * The migration queue, as a pure decision: given the cluster view (nodes,
 * networks in preference order, which network links which pair of nodes,
 * limits), the jobs and the time, queue_dispatch() returns the migrations to
 * start and writes into every waiting job why it waits, in a code and in the
 * sentence `drover queue` shows. The coordinator runs it; every member applies
 * the resulting actions with queue_job_started() in delivery order, so the
 * queue is replicated state and the next coordinator continues it.
 *
 * Invariants, after applying the returned actions:
 *  - running migrations never exceed the per-source, per-target, per-network
 *    and cluster limits (unless the limits were lowered under running jobs,
 *    in which case nothing new starts until they drain below);
 *  - a target never gets more VM memory or vCPUs than it reported free;
 *  - a job runs over exactly one network, and a retry avoids the network
 *    its last attempt failed on whenever another one links the pair;
 *  - the same inputs give the same outputs, whatever the order of jobs[]:
 *    jobs are sorted by (priority, created_ms, id), nodes are tied by id and
 *    networks by preference order.
 *
 * Considered and rejected:
 *  - Strict head-of-line blocking (nothing starts while a more urgent job
 *    waits): it idles free slots on other sources and targets for as long as
 *    one job is stuck, e.g. on memory. Jobs are considered in order, but a
 *    blocked one does not stop the rest.
 *  - Choosing the target first and the network after: a least-loaded target
 *    at its incoming limit would then block a job that another target could
 *    take now. Placement considers only targets with a free slot and a free
 *    network, and the blocker names the best target when none has both.
 *  - Excluding every network a job ever failed on: with a single network (or
 *    after failing on all of them) the job could never retry even when the
 *    network is back. Only the last failed network is excluded, and only
 *    while another one links the pair; among the rest, the networks this job
 *    failed on fewer times come first.
 *  - A usability callback in the view: a bitmap per network and node keeps
 *    the view a plain value that can be copied, compared and replayed.
 */
#include "queue.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct counts {
	uint32_t out[QUEUE_MAX_NODES];
	uint32_t in[QUEUE_MAX_NODES];
	uint64_t mib[QUEUE_MAX_NODES];   /* memory of migrations running towards the node */
	uint64_t vcpus[QUEUE_MAX_NODES]; /* vCPUs of the same */
	uint32_t net[QUEUE_MAX_NETWORKS];
	uint32_t cluster;
	uint32_t vf[QUEUE_MAX_VF_POOLS][QUEUE_MAX_NODES]; /* VFs this round's starts take */
	uint64_t sa[QUEUE_MAX_NODES];                   /* SAs of migrations towards the node */
};

void queue_view_init(struct queue_view *v)
{
	memset(v, 0, sizeof(*v));
	v->limits.per_source = QUEUE_LIMIT_SOURCE_DEFAULT;
	v->limits.per_target = QUEUE_LIMIT_TARGET_DEFAULT;
	v->limits.cluster = 0;
}

static int node_index(const struct queue_view *v, uint32_t id)
{
	if (id == 0)
		return -1;
	for (size_t i = 0; i < v->n_nodes; i++)
		if (v->nodes[i].id == id)
			return (int)i;
	return -1;
}

static int network_index(const struct queue_view *v, const char *name)
{
	if (!name[0])
		return -1;
	for (size_t k = 0; k < v->n_networks; k++)
		if (strcmp(v->networks[k].name, name) == 0)
			return (int)k;
	return -1;
}

int queue_view_add_node(struct queue_view *v, const struct queue_node *node)
{
	if (!v || !node || node->id == 0 || !memchr(node->name, 0, sizeof(node->name)))
		return -EINVAL;
	if (node_index(v, node->id) >= 0)
		return -EEXIST;
	if (v->n_nodes >= QUEUE_MAX_NODES)
		return -E2BIG;
	v->nodes[v->n_nodes++] = *node;
	return 0;
}

int queue_view_add_network(struct queue_view *v, const char *name, uint32_t cap)
{
	if (!v || !name || !name[0])
		return -EINVAL;
	if (network_index(v, name) >= 0)
		return -EEXIST;
	if (v->n_networks >= QUEUE_MAX_NETWORKS)
		return -E2BIG;
	if (strscpy(v->networks[v->n_networks].name, name, QUEUE_NAME_MAX) < 0)
		return -EINVAL;
	v->networks[v->n_networks].cap = cap;
	memset(v->usable[v->n_networks], 0, sizeof(v->usable[0]));
	v->n_networks++;
	return 0;
}

int queue_view_set_last_resort(struct queue_view *v, size_t k, bool last_resort)
{
	if (!v || k >= v->n_networks)
		return -ENOENT;
	v->networks[k].last_resort = last_resort;
	return 0;
}

int queue_view_set_usable(struct queue_view *v, size_t k, uint32_t a, uint32_t b, bool usable)
{
	int ia, ib;

	if (!v || k >= v->n_networks)
		return -ENOENT;
	ia = node_index(v, a);
	ib = node_index(v, b);
	if (ia < 0 || ib < 0)
		return -ENOENT;
	if (usable) {
		v->usable[k][ia] |= UINT64_C(1) << ib;
		v->usable[k][ib] |= UINT64_C(1) << ia;
	} else {
		v->usable[k][ia] &= ~(UINT64_C(1) << ib);
		v->usable[k][ib] &= ~(UINT64_C(1) << ia);
	}
	return 0;
}

int queue_job_init(struct queue_job *job, uint64_t id, const char *vm, enum queue_priority prio,
		   uint64_t memory_mib, uint32_t vcpus, uint32_t source, uint64_t created_ms)
{
	if (!job || !vm || !vm[0] || source == 0 || (unsigned)prio > QUEUE_PRIO_NONE)
		return -EINVAL;
	memset(job, 0, sizeof(*job));
	if (strscpy(job->vm, vm, sizeof(job->vm)) < 0)
		return -EINVAL;
	job->id = id;
	job->priority = prio;
	job->memory_mib = memory_mib;
	job->vcpus = vcpus;
	job->source = source;
	job->created_ms = created_ms;
	job->state = QUEUE_JOB_QUEUED;
	job->max_retries = QUEUE_MAX_RETRIES_DEFAULT;
	return 0;
}

static unsigned prio_rank(enum queue_priority p)
{
	return p == QUEUE_PRIO_UNSPECIFIED ? QUEUE_PRIO_MEDIUM : (unsigned)p;
}

static int job_cmp(const void *pa, const void *pb)
{
	const struct queue_job *a = *(const struct queue_job *const *)pa;
	const struct queue_job *b = *(const struct queue_job *const *)pb;
	unsigned ra = prio_rank(a->priority), rb = prio_rank(b->priority);

	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (a->created_ms != b->created_ms)
		return a->created_ms < b->created_ms ? -1 : 1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return 0;
}

/*
 * Heapsort of the queued jobs by job_cmp(): no allocation (glibc's qsort may
 * malloc), O(n log n), and the result does not depend on the input order
 * because job_cmp() is a total order when ids are unique.
 */
static void sift_down(struct queue_job **a, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;
		struct queue_job *tmp;

		if (child >= n)
			return;
		if (child + 1 < n && job_cmp(&a[child], &a[child + 1]) < 0)
			child++;
		if (job_cmp(&a[root], &a[child]) >= 0)
			return;
		tmp = a[root];
		a[root] = a[child];
		a[child] = tmp;
		root = child;
	}
}

static void sort_jobs(struct queue_job **a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(a, i, n);
	for (size_t end = n; end > 1; end--) {
		struct queue_job *tmp = a[0];

		a[0] = a[end - 1];
		a[end - 1] = tmp;
		sift_down(a, 0, end - 1);
	}
}

static const char *node_name(const struct queue_view *v, uint32_t id, char *buf, size_t len)
{
	int i = node_index(v, id);

	if (i >= 0 && v->nodes[i].name[0])
		return v->nodes[i].name;
	snprintf(buf, len, "node %" PRIu32, id);
	return buf;
}

static bool under(uint32_t count, uint32_t limit)
{
	return limit == 0 || count < limit;
}

static uint64_t free_mib(const struct queue_view *v, const struct counts *c, int i)
{
	return v->nodes[i].free_mib > c->mib[i] ? v->nodes[i].free_mib - c->mib[i] : 0;
}

static uint64_t free_vcpus(const struct queue_view *v, const struct counts *c, int i)
{
	return v->nodes[i].free_vcpus > c->vcpus[i] ? v->nodes[i].free_vcpus - c->vcpus[i] : 0;
}

static bool can_receive(const struct queue_view *v, int i, int si)
{
	return i != si && v->nodes[i].online && v->nodes[i].usable_target;
}

static bool fits(const struct queue_view *v, const struct counts *c, int i, int si,
		 const struct queue_job *j)
{
	return can_receive(v, i, si) && free_mib(v, c, i) >= j->memory_mib &&
	       free_vcpus(v, c, i) >= j->vcpus;
}

static int vf_pool_index(const struct queue_view *v, const char *pool)
{
	if (!pool[0])
		return -1;
	for (size_t k = 0; k < v->n_vf_pools && k < QUEUE_MAX_VF_POOLS; k++)
		if (strcmp(v->vf_pools[k], pool) == 0)
			return (int)k;
	return -1;
}

/* Whether node i has a VF of the job's pool left this round (false: no pool wanted). */
static bool vf_ok(const struct queue_view *v, const struct counts *c, const struct queue_job *j,
		  int i)
{
	int p = vf_pool_index(v, j->want_vf_pool);

	return p >= 0 && v->vf_free[p][i] > c->vf[p][i];
}

/* Whether node i can offload the job's SAs besides what runs and comes there. */
static bool sa_ok(const struct queue_view *v, const struct counts *c, const struct queue_job *j,
		  int i)
{
	return j->want_sa &&
	       v->nodes[i].sa_used + c->sa[i] + j->want_sa <= v->nodes[i].sa_capacity;
}

/*
 * A free VF of the job's pool first (the VM keeps its fast path), then spare
 * IPsec SA capacity (offload keeps IPsec off the guest's CPU), then least
 * loaded (most memory left), then lowest id.
 */
static bool better_target(const struct queue_view *v, const struct counts *c,
			  const struct queue_job *j, int a, int b)
{
	uint64_t fa, fb;

	if (b < 0)
		return true;
	if (vf_ok(v, c, j, a) != vf_ok(v, c, j, b))
		return vf_ok(v, c, j, a);
	if (sa_ok(v, c, j, a) != sa_ok(v, c, j, b))
		return sa_ok(v, c, j, a);
	fa = free_mib(v, c, a);
	fb = free_mib(v, c, b);
	if (fa != fb)
		return fa > fb;
	return v->nodes[a].id < v->nodes[b].id;
}

static const struct queue_attempt *last_failure(const struct queue_job *j)
{
	if (j->n_attempts == 0 || j->attempts[j->n_attempts - 1].result != QUEUE_RESULT_FAILED)
		return NULL;
	return &j->attempts[j->n_attempts - 1];
}

static uint32_t failures_on(const struct queue_job *j, const char *net)
{
	uint32_t n = 0;

	for (size_t a = 0; a < j->n_attempts; a++)
		if (j->attempts[a].result == QUEUE_RESULT_FAILED && strcmp(j->attempts[a].network, net) == 0)
			n++;
	return n;
}

/*
 * Networks this job may use from si to ti, ignoring caps: a bit per network.
 * Last-resort networks only while no other one links the pair, or when the
 * only other one is the one this job just failed on.
 */
static uint32_t allowed_networks(const struct queue_view *v, const struct queue_job *j, int si, int ti)
{
	const struct queue_attempt *last = last_failure(j);
	uint32_t usable = 0, primary = 0, mask;
	int kl = last ? network_index(v, last->network) : -1;

	for (size_t k = 0; k < v->n_networks && k < QUEUE_MAX_NETWORKS; k++)
		if (v->usable[k][si] & (UINT64_C(1) << ti)) {
			usable |= 1u << k;
			if (!v->networks[k].last_resort)
				primary |= 1u << k;
		}
	mask = primary ? primary : usable;
	/* The operator named the network: that one or none, last resort or not. */
	if (j->fixed_network[0]) {
		int kf = network_index(v, j->fixed_network);

		return kf >= 0 && (usable & (1u << kf)) ? 1u << kf : 0;
	}
	if (kl >= 0 && (mask & (1u << kl))) {
		if (mask & ~(1u << kl))
			mask &= ~(1u << kl);
		else if (usable & ~(1u << kl))
			mask = usable & ~(1u << kl);
	}
	return mask;
}

/* Among the allowed networks under their caps: fewest failures of this job, fewest active, order. */
static int choose_network(const struct queue_view *v, const struct counts *c, const struct queue_job *j,
			  uint32_t mask)
{
	int best = -1;
	uint32_t best_fail = 0;

	for (size_t k = 0; k < v->n_networks; k++) {
		uint32_t f;

		if (!(mask & (1u << k)) || !under(c->net[k], v->networks[k].cap))
			continue;
		f = failures_on(j, v->networks[k].name);
		if (best < 0 || f < best_fail || (f == best_fail && c->net[k] < c->net[best])) {
			best = (int)k;
			best_fail = f;
		}
	}
	return best;
}

static void block(struct queue_job *j, enum queue_blocker b, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void block(struct queue_job *j, enum queue_blocker b, const char *fmt, ...)
{
	va_list ap;

	j->blocker = b;
	va_start(ap, fmt);
	vsnprintf(j->blocker_text, sizeof(j->blocker_text), fmt, ap);
	va_end(ap);
}

/* Why no target can hold the job at all; the caller knows none fits. */
static void block_placement(const struct queue_view *v, const struct counts *c, struct queue_job *j,
			    int si)
{
	char b[32];
	bool any_node = false, any_mem = false;

	if (j->fixed_target) {
		int ti = node_index(v, j->fixed_target);
		const char *tn = node_name(v, j->fixed_target, b, sizeof(b));

		if (ti == si)
			block(j, QUEUE_BLOCK_NO_TARGET, "target %s is the source", tn);
		else if (ti < 0 || !v->nodes[ti].online)
			block(j, QUEUE_BLOCK_NO_TARGET, "target %s is offline", tn);
		else if (!v->nodes[ti].usable_target)
			block(j, QUEUE_BLOCK_NO_TARGET, "target %s is not usable (not active or no agent)", tn);
		else if (free_mib(v, c, ti) < j->memory_mib)
			block(j, QUEUE_BLOCK_NO_MEMORY, "target %s has %" PRIu64 " MiB free, needs %" PRIu64,
			      tn, free_mib(v, c, ti), j->memory_mib);
		else
			block(j, QUEUE_BLOCK_NO_VCPUS, "target %s has %" PRIu64 " vCPUs free, needs %" PRIu32,
			      tn, free_vcpus(v, c, ti), j->vcpus);
		return;
	}
	for (size_t i = 0; i < v->n_nodes; i++) {
		if (!can_receive(v, (int)i, si))
			continue;
		any_node = true;
		if (free_mib(v, c, (int)i) >= j->memory_mib)
			any_mem = true;
	}
	if (!any_node)
		block(j, QUEUE_BLOCK_NO_TARGET, "no usable target node");
	else if (!any_mem)
		block(j, QUEUE_BLOCK_NO_MEMORY, "no target has %" PRIu64 " MiB free", j->memory_mib);
	else
		block(j, QUEUE_BLOCK_NO_VCPUS, "no target has %" PRIu32 " vCPUs free", j->vcpus);
}

static void count_running(const struct queue_view *v, const struct queue_job *j, struct counts *c)
{
	int si = node_index(v, j->source), ti = node_index(v, j->target), k = network_index(v, j->network);

	c->cluster++;
	if (si >= 0)
		c->out[si]++;
	if (ti >= 0) {
		c->in[ti]++;
		c->mib[ti] += j->memory_mib;
		c->vcpus[ti] += j->vcpus;
		c->sa[ti] += j->want_sa;
	}
	if (k >= 0)
		c->net[k]++;
}

/*
 * Decide one queued job against the counts so far. Returns true with
 * *ret_t and *ret_k when it can start; otherwise writes its blocker.
 */
static bool decide(const struct queue_view *v, const struct counts *c, struct queue_job *j, int *ret_t,
		   int *ret_k)
{
	char b1[32], b2[32];
	int si = node_index(v, j->source);
	int best_fit = -1, best_net = -1, best_slot = -1, chosen = -1, chosen_k = -1;
	bool no_vf = false;
	uint32_t mask;

	if (si < 0 || !v->nodes[si].online) {
		block(j, QUEUE_BLOCK_SOURCE_OFFLINE, "source %s is offline",
		      node_name(v, j->source, b1, sizeof(b1)));
		return false;
	}
	/* Durable reasons first: no room anywhere, no network to any room. */
	for (size_t i = 0; i < v->n_nodes; i++) {
		int t = (int)i;

		if (j->fixed_target && v->nodes[i].id != j->fixed_target)
			continue;
		if (!fits(v, c, t, si, j))
			continue;
		/* vf = required: a target without a free VF of its pool is no target. */
		if (j->want_vf_required && !vf_ok(v, c, j, t)) {
			no_vf = true;
			continue;
		}
		if (better_target(v, c, j, t, best_fit))
			best_fit = t;
		mask = allowed_networks(v, j, si, t);
		if (!mask)
			continue;
		if (better_target(v, c, j, t, best_net))
			best_net = t;
		if (!under(c->in[t], v->limits.per_target))
			continue;
		if (better_target(v, c, j, t, best_slot))
			best_slot = t;
		int k = choose_network(v, c, j, mask);
		if (k >= 0 && better_target(v, c, j, t, chosen)) {
			chosen = t;
			chosen_k = k;
		}
	}
	if (best_fit < 0 && no_vf && j->fixed_target) {
		block(j, QUEUE_BLOCK_NO_VF, "target %s has no free VF in pool %s",
		      node_name(v, j->fixed_target, b1, sizeof(b1)), j->want_vf_pool);
		return false;
	}
	if (best_fit < 0 && no_vf) {
		block(j, QUEUE_BLOCK_NO_VF, "no free VF in pool %s on any target", j->want_vf_pool);
		return false;
	}
	if (best_fit < 0) {
		block_placement(v, c, j, si);
		return false;
	}
	if (best_net < 0) {
		block(j, QUEUE_BLOCK_NO_NETWORK, "no usable network between %s and %s",
		      node_name(v, j->source, b1, sizeof(b1)),
		      node_name(v, v->nodes[best_fit].id, b2, sizeof(b2)));
		return false;
	}
	if (!under(c->out[si], v->limits.per_source)) {
		block(j, QUEUE_BLOCK_SOURCE_LIMIT, "source outgoing limit %" PRIu32 "/%" PRIu32, c->out[si],
		      v->limits.per_source);
		return false;
	}
	if (!under(c->cluster, v->limits.cluster)) {
		block(j, QUEUE_BLOCK_CLUSTER_LIMIT, "cluster limit %" PRIu32 "/%" PRIu32, c->cluster,
		      v->limits.cluster);
		return false;
	}
	if (best_slot < 0) {
		block(j, QUEUE_BLOCK_TARGET_LIMIT, "target %s incoming limit %" PRIu32 "/%" PRIu32,
		      node_name(v, v->nodes[best_net].id, b1, sizeof(b1)), c->in[best_net],
		      v->limits.per_target);
		return false;
	}
	if (chosen < 0) {
		/* Every allowed network to the best target with a slot is at its cap: name the first. */
		mask = allowed_networks(v, j, si, best_slot);
		for (size_t k = 0; k < v->n_networks; k++)
			if (mask & (1u << k)) {
				block(j, QUEUE_BLOCK_NETWORK_LIMIT, "network %s limit %" PRIu32 "/%" PRIu32,
				      v->networks[k].name, c->net[k], v->networks[k].cap);
				break;
			}
		return false;
	}
	*ret_t = chosen;
	*ret_k = chosen_k;
	return true;
}

int queue_dispatch(const struct queue_view *v, struct queue_job *jobs, size_t n, uint64_t now_ms,
		   struct queue_action *ret, size_t max, size_t *ret_n)
{
	struct queue_job *order[QUEUE_MAX_JOBS];
	struct counts c;
	size_t n_order = 0, n_act = 0;

	if (!v || (n && !jobs) || (max && !ret) || !ret_n)
		return -EINVAL;
	if (n > QUEUE_MAX_JOBS || v->n_nodes > QUEUE_MAX_NODES || v->n_networks > QUEUE_MAX_NETWORKS)
		return -E2BIG;

	memset(&c, 0, sizeof(c));
	for (size_t i = 0; i < n; i++) {
		jobs[i].blocker = QUEUE_BLOCK_NONE;
		jobs[i].blocker_text[0] = '\0';
		if (jobs[i].kind != QUEUE_OP_MIGRATE)
			continue;
		if (jobs[i].state == QUEUE_JOB_RUNNING)
			count_running(v, &jobs[i], &c);
		else if (jobs[i].state == QUEUE_JOB_QUEUED)
			order[n_order++] = &jobs[i];
	}
	sort_jobs(order, n_order);

	for (size_t o = 0; o < n_order; o++) {
		struct queue_job *j = order[o];
		struct queue_action *a;
		int t, k;

		if (!decide(v, &c, j, &t, &k))
			continue;
		if (n_act == max) {
			block(j, QUEUE_BLOCK_BATCH_FULL, "waiting for the next dispatch round");
			continue;
		}
		a = &ret[n_act++];
		memset(a, 0, sizeof(*a));
		a->job_id = j->id;
		a->job = (size_t)(j - jobs);
		a->source = j->source;
		a->target = v->nodes[t].id;
		a->network = (size_t)k;
		memcpy(a->network_name, v->networks[k].name, sizeof(a->network_name));
		a->start_ms = now_ms;

		c.cluster++;
		c.out[node_index(v, j->source)]++;
		c.in[t]++;
		c.mib[t] += j->memory_mib;
		c.vcpus[t] += j->vcpus;
		c.net[k]++;
		c.sa[t] += j->want_sa;
		if (vf_ok(v, &c, j, t))
			c.vf[vf_pool_index(v, j->want_vf_pool)][t]++;
	}
	*ret_n = n_act;
	return 0;
}

/*
 * Whether a job a plan starts gets a VF of its pool on its target: one that
 * is free and that no start before it in the round took (taken counts them).
 * A VF the VM leaves on its source is not counted free again: a drained
 * source takes nothing, and the real allocation frees it only at the end.
 */
static void plan_vf(const struct queue_view *v, const struct queue_job *j,
		    struct queue_plan_step *st, uint32_t taken[QUEUE_MAX_VF_POOLS][QUEUE_MAX_NODES])
{
	int p = vf_pool_index(v, j->want_vf_pool), t = node_index(v, j->target);

	if (!j->want_vf_pool[0]) {
		st->vf = QUEUE_PLAN_VF_NONE;
		return;
	}
	if (p >= 0 && t >= 0 && t < QUEUE_MAX_NODES && v->vf_free[p][t] > taken[p][t]) {
		taken[p][t]++;
		st->vf = QUEUE_PLAN_VF_GETS;
		return;
	}
	st->vf = QUEUE_PLAN_VF_DEGRADED;
}

/* A finished migration in a plan: what it took moves from source to target. */
static void plan_move(struct queue_view *v, const struct queue_job *j)
{
	int si = node_index(v, j->source), ti = node_index(v, j->target);

	if (ti >= 0) {
		struct queue_node *t = &v->nodes[ti];

		t->free_mib -= t->free_mib > j->memory_mib ? j->memory_mib : t->free_mib;
		t->free_vcpus -= t->free_vcpus > j->vcpus ? j->vcpus : t->free_vcpus;
	}
	if (si >= 0) {
		v->nodes[si].free_mib += j->memory_mib;
		v->nodes[si].free_vcpus += j->vcpus;
	}
}

int queue_plan(struct queue_view *v, struct queue_job *jobs, size_t n, uint64_t now_ms,
	       uint32_t max_waves, struct queue_plan_step *steps)
{
	struct queue_action acts[64];

	if (!v || (n && (!jobs || !steps)))
		return -EINVAL;
	memset(steps, 0, n * sizeof(*steps));
	for (uint32_t w = 1; w <= max_waves; w++) {
		/* The VFs the round's starts take, in dispatch order: the first ones get them. */
		uint32_t vf_taken[QUEUE_MAX_VF_POOLS][QUEUE_MAX_NODES] = {{0}};
		size_t n_acts = 0;
		int r = queue_dispatch(v, jobs, n, now_ms, acts, sizeof(acts) / sizeof(acts[0]), &n_acts);

		if (r < 0)
			return r;
		if (w == 1)
			for (size_t i = 0; i < n; i++)
				strscpy(steps[i].blocker, jobs[i].blocker_text, sizeof(steps[i].blocker));
		for (size_t a = 0; a < n_acts; a++) {
			struct queue_plan_step *st = &steps[acts[a].job];

			queue_job_started(&jobs[acts[a].job], &acts[a]);
			st->wave = w;
			st->target = acts[a].target;
			strscpy(st->network, acts[a].network_name, sizeof(st->network));
			if (w == 1)
				st->blocker[0] = '\0';
			plan_vf(v, &jobs[acts[a].job], st, vf_taken);
		}
		/* What the round's starts took is taken for the next rounds. */
		for (size_t p = 0; p < v->n_vf_pools && p < QUEUE_MAX_VF_POOLS; p++)
			for (size_t i = 0; i < v->n_nodes && i < QUEUE_MAX_NODES; i++)
				v->vf_free[p][i] -= vf_taken[p][i] < v->vf_free[p][i] ? vf_taken[p][i]
										 : v->vf_free[p][i];
		if (!n_acts)
			break;
		for (size_t i = 0; i < n; i++) {
			if (jobs[i].state != QUEUE_JOB_RUNNING || jobs[i].kind != QUEUE_OP_MIGRATE)
				continue;
			plan_move(v, &jobs[i]);
			queue_job_done(&jobs[i]);
		}
	}
	/* Those that never start: why, as the last round saw it. */
	for (size_t i = 0; i < n; i++)
		if (jobs[i].state == QUEUE_JOB_QUEUED) {
			strscpy(steps[i].blocker, jobs[i].blocker_text, sizeof(steps[i].blocker));
			if (jobs[i].blocker == QUEUE_BLOCK_NO_VF)
				steps[i].vf = QUEUE_PLAN_VF_WAITS;
		}
	return 0;
}

int queue_job_started(struct queue_job *job, const struct queue_action *a)
{
	if (!job || !a || job->state != QUEUE_JOB_QUEUED || job->id != a->job_id || a->target == 0)
		return -EINVAL;
	job->state = QUEUE_JOB_RUNNING;
	job->target = a->target;
	memcpy(job->network, a->network_name, sizeof(job->network));
	job->network[sizeof(job->network) - 1] = '\0';
	job->started_ms = a->start_ms;
	job->blocker = QUEUE_BLOCK_NONE;
	job->blocker_text[0] = '\0';
	return 0;
}

static void record(struct queue_job *job, const char *network, enum queue_result r, const char *reason)
{
	struct queue_attempt *at;

	if (job->n_attempts == QUEUE_MAX_ATTEMPTS) {
		/* Keep the latest: drop the oldest. Cannot happen with capped retries. */
		memmove(&job->attempts[0], &job->attempts[1], sizeof(job->attempts[0]) * (QUEUE_MAX_ATTEMPTS - 1));
		job->n_attempts--;
	}
	at = &job->attempts[job->n_attempts++];
	memset(at, 0, sizeof(*at));
	strscpy(at->network, network ? network : "", sizeof(at->network));
	at->target = job->target;
	at->result = r;
	strscpy(at->reason, reason ? reason : "", sizeof(at->reason));
	at->started_ms = job->started_ms;
}

int queue_job_done(struct queue_job *job)
{
	if (!job || job->state != QUEUE_JOB_RUNNING)
		return -EINVAL;
	record(job, job->network, QUEUE_RESULT_OK, "");
	job->state = QUEUE_JOB_DONE;
	return 0;
}

int queue_job_failed(struct queue_job *job, const char *network, const char *reason)
{
	uint32_t retries, failures = 0;

	if (!job || job->state != QUEUE_JOB_RUNNING)
		return -EINVAL;
	record(job, network && network[0] ? network : job->network, QUEUE_RESULT_FAILED, reason);
	for (size_t a = 0; a < job->n_attempts; a++)
		if (job->attempts[a].result == QUEUE_RESULT_FAILED)
			failures++;
	retries = job->max_retries < QUEUE_MAX_ATTEMPTS - 1 ? job->max_retries : QUEUE_MAX_ATTEMPTS - 1;
	if (failures > retries) {
		job->state = QUEUE_JOB_FAILED;
		return 1;
	}
	job->state = QUEUE_JOB_QUEUED;
	job->target = 0;
	job->network[0] = '\0';
	job->started_ms = 0;
	return 0;
}

int queue_job_cancel(struct queue_job *job)
{
	if (!job)
		return -EINVAL;
	if (job->state == QUEUE_JOB_RUNNING)
		return -EBUSY;
	if (job->state != QUEUE_JOB_QUEUED)
		return -EINVAL;
	job->state = QUEUE_JOB_CANCELLED;
	job->blocker = QUEUE_BLOCK_NONE;
	job->blocker_text[0] = '\0';
	return 0;
}

const char *queue_blocker_name(enum queue_blocker b)
{
	switch (b) {
	case QUEUE_BLOCK_NONE:
		return "none";
	case QUEUE_BLOCK_SOURCE_OFFLINE:
		return "source-offline";
	case QUEUE_BLOCK_NO_TARGET:
		return "no-target";
	case QUEUE_BLOCK_NO_MEMORY:
		return "no-memory";
	case QUEUE_BLOCK_NO_VCPUS:
		return "no-vcpus";
	case QUEUE_BLOCK_NO_NETWORK:
		return "no-network";
	case QUEUE_BLOCK_SOURCE_LIMIT:
		return "source-limit";
	case QUEUE_BLOCK_CLUSTER_LIMIT:
		return "cluster-limit";
	case QUEUE_BLOCK_TARGET_LIMIT:
		return "target-limit";
	case QUEUE_BLOCK_NETWORK_LIMIT:
		return "network-limit";
	case QUEUE_BLOCK_BATCH_FULL:
		return "batch-full";
	case QUEUE_BLOCK_VM_BUSY:
		return "vm-busy";
	case QUEUE_BLOCK_VM_ELSEWHERE:
		return "vm-not-on-source";
	case QUEUE_BLOCK_NO_VF:
		return "no-vf";
	}
	return "?";
}

const char *queue_job_state_name(enum queue_job_state s)
{
	switch (s) {
	case QUEUE_JOB_QUEUED:
		return "queued";
	case QUEUE_JOB_RUNNING:
		return "running";
	case QUEUE_JOB_DONE:
		return "done";
	case QUEUE_JOB_FAILED:
		return "failed";
	case QUEUE_JOB_CANCELLED:
		return "cancelled";
	}
	return "?";
}

const char *queue_result_name(enum queue_result r)
{
	return r == QUEUE_RESULT_OK ? "ok" : "failed";
}
