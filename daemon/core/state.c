/*
 * Replicated cluster state (see state.h). Invariants: nodes[] sorted by id,
 * ids unique and non-zero, epoch incremented exactly once per change. The
 * migration queue's messages and their conversions are in state_jobs.c; its
 * fields are copied, hashed and freed here with the rest.
 *
 * A message that would not change anything (setting a node to the state it
 * already has) leaves the epoch alone, so the epoch counts real changes and a
 * retried command does not make this node's copy look newer than its peers'.
 */
#include "state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vmxml.h"

#include "state_priv.h"

void state_init(struct cluster_state *s)
{
	memset(s, 0, sizeof(*s));
	s->next_job_id = 1;
	state_limits_default(&s->limits);
}

void state_free(struct cluster_state *s)
{
	for (size_t i = 0; i < s->n_nodes; i++)
		free(s->nodes[i].vf_pools);
	for (size_t i = 0; i < s->n_vms; i++)
		free(s->vms[i].xml);
	free(s->vms);
	free(s->jobs);
	free(s->history);
	state_init(s);
}

void state_copy(const struct cluster_state *src, struct cluster_state *ret)
{
	*ret = *src;
	for (size_t i = 0; i < src->n_nodes; i++) {
		ret->nodes[i].vf_pools = NULL;
		if (src->nodes[i].n_vf_pools) {
			ret->nodes[i].vf_pools =
				xcalloc(src->nodes[i].n_vf_pools, sizeof(*ret->nodes[i].vf_pools));
			memcpy(ret->nodes[i].vf_pools, src->nodes[i].vf_pools,
			       src->nodes[i].n_vf_pools * sizeof(*ret->nodes[i].vf_pools));
		}
	}
	ret->vms = NULL;
	if (src->n_vms) {
		ret->vms = xcalloc(src->n_vms, sizeof(*ret->vms));
		for (size_t i = 0; i < src->n_vms; i++) {
			ret->vms[i] = src->vms[i];
			ret->vms[i].xml = xstrdup(src->vms[i].xml);
		}
	}
	ret->jobs = NULL;
	if (src->n_jobs) {
		ret->jobs = xcalloc(src->n_jobs, sizeof(*ret->jobs));
		memcpy(ret->jobs, src->jobs, src->n_jobs * sizeof(*ret->jobs));
	}
	ret->history = NULL;
	if (src->history) {
		ret->history = xcalloc(DROVER_HISTORY_MAX, sizeof(*ret->history));
		memcpy(ret->history, src->history, src->n_history * sizeof(*ret->history));
	}
}

/* vms[] is sorted by name (vm_insert()): searched by halves, not scanned. */
ssize_t state_vm_index(const struct cluster_state *s, const char *name)
{
	size_t lo = 0, hi = s->n_vms;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->vms[mid].name, name);

		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

const struct vm_cfg *state_vm_find(const struct cluster_state *s, const char *name)
{
	ssize_t i = state_vm_index(s, name);

	return i < 0 ? NULL : &s->vms[i];
}

uint64_t state_hash_u64(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Strings are hashed with their terminating NUL, so "ab"+"c" != "a"+"bc". */
uint64_t state_hash_str(uint64_t h, const char *p)
{
	do {
		h ^= (unsigned char)*p;
		h *= 0x100000001b3ull;
	} while (*p++);
	return h;
}

static uint64_t state_hash_vf(uint64_t h, const struct queue_vf *vf)
{
	h = state_hash_u64(h, vf->node);
	h = state_hash_str(h, vf->pool);
	h = state_hash_u64(h, vf->device);
	return state_hash_u64(h, vf->attached);
}

/*
 * Every field of the queue that the messages set, in a fixed order; not the
 * blockers, which each member computes for display and which are not sent.
 */
static uint64_t hash_job(uint64_t h, const struct queue_job *j)
{
	h = state_hash_u64(h, j->id);
	h = state_hash_str(h, j->vm);
	h = state_hash_u64(h, (uint64_t)j->priority);
	h = state_hash_u64(h, j->memory_mib);
	h = state_hash_u64(h, j->vcpus);
	h = state_hash_u64(h, j->source);
	h = state_hash_u64(h, j->fixed_target);
	h = state_hash_str(h, j->fixed_network);
	h = state_hash_u64(h, j->created_ms);
	h = state_hash_u64(h, (uint64_t)j->state);
	h = state_hash_u64(h, j->target);
	h = state_hash_str(h, j->network);
	h = state_hash_u64(h, j->started_ms);
	h = state_hash_u64(h, j->max_retries);
	h = state_hash_u64(h, j->n_attempts);
	for (size_t a = 0; a < j->n_attempts; a++) {
		const struct queue_attempt *at = &j->attempts[a];

		h = state_hash_str(h, at->network);
		h = state_hash_u64(h, at->target);
		h = state_hash_u64(h, (uint64_t)at->result);
		h = state_hash_str(h, at->reason);
		h = state_hash_u64(h, at->started_ms);
		h = state_hash_u64(h, at->finished_ms);
	}
	h = state_hash_u64(h, j->origin);
	h = state_hash_u64(h, j->finished_ms);
	h = state_hash_u64(h, j->cancel_requested);
	h = state_hash_str(h, j->error);
	h = state_hash_u64(h, (uint64_t)j->kind);
	h = state_hash_u64(h, j->n_plan);
	for (size_t k = 0; k < j->n_plan; k++) {
		h = state_hash_u64(h, j->plan[k].kind);
		h = state_hash_u64(h, j->plan[k].node);
	}
	h = state_hash_u64(h, j->step);
	h = state_hash_u64(h, j->origin_node);
	h = state_hash_u64(h, j->request_id);
	h = state_hash_str(h, j->for_vm);
	h = state_hash_u64(h, j->lost_from);
	h = state_hash_u64(h, j->fenced_ms);
	/* SR-IOV fields only when set: a state without VFs hashes as before they existed. */
	if (j->vf_reserved.node || j->vf_rollback || j->vf_reason[0] || j->vf_bytes ||
	    j->vf_downtime_ms) {
		h = state_hash_str(h, "vf");
		h = state_hash_vf(h, &j->vf_reserved);
		h = state_hash_u64(h, j->vf_rollback);
		h = state_hash_str(h, j->vf_reason);
		h = state_hash_u64(h, j->vf_bytes);
		h = state_hash_u64(h, j->vf_downtime_ms);
	}
	return h;
}

static uint64_t hash_queue(uint64_t h, const struct cluster_state *s)
{
	const struct mig_limits *l = &s->limits;

	h = state_hash_u64(h, s->n_jobs);
	for (size_t i = 0; i < s->n_jobs; i++)
		h = hash_job(h, &s->jobs[i]);
	h = state_hash_u64(h, s->next_job_id);
	h = state_hash_u64(h, l->set);
	h = state_hash_u64(h, l->per_source);
	h = state_hash_u64(h, l->per_target);
	h = state_hash_u64(h, l->cluster);
	h = state_hash_u64(h, l->max_retries);
	h = state_hash_u64(h, l->n_caps);
	for (size_t i = 0; i < l->n_caps; i++) {
		h = state_hash_str(h, l->caps[i].network);
		h = state_hash_u64(h, l->caps[i].cap);
	}
	h = state_hash_u64(h, s->n_history);
	for (size_t i = 0; i < s->n_history; i++) {
		const struct history_entry *e = &s->history[i];

		h = state_hash_u64(h, e->job_id);
		h = state_hash_str(h, e->vm);
		h = state_hash_u64(h, e->source);
		h = state_hash_u64(h, e->target);
		h = state_hash_str(h, e->network);
		h = state_hash_u64(h, (uint64_t)e->result);
		h = state_hash_u64(h, e->origin);
		h = state_hash_u64(h, e->started_ms);
		h = state_hash_u64(h, e->finished_ms);
		h = state_hash_u64(h, e->downtime_ms);
		h = state_hash_u64(h, e->bytes);
		h = state_hash_u64(h, e->attempts);
		h = state_hash_str(h, e->error);
		h = state_hash_u64(h, (uint64_t)e->kind);
		h = state_hash_u64(h, e->fenced_ms);
	}
	return h;
}

uint64_t state_hash(const struct cluster_state *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = state_hash_u64(h, s->epoch);
	h = state_hash_u64(h, s->term);
	h = state_hash_u64(h, s->n_nodes);
	for (size_t i = 0; i < s->n_nodes; i++) {
		h = state_hash_u64(h, s->nodes[i].id);
		h = state_hash_u64(h, (uint64_t)s->nodes[i].state);
		h = state_hash_u64(h, (uint64_t)s->nodes[i].fence);
		h = state_hash_u64(h, s->nodes[i].fence_attempts);
		h = state_hash_str(h, s->nodes[i].fence_error);
		h = state_hash_str(h, s->nodes[i].fence_device);
		h = state_hash_u64(h, s->nodes[i].lost_ms);
		h = state_hash_u64(h, s->nodes[i].fenced_ms);
		if (!s->nodes[i].ipsec_sa_capacity && !s->nodes[i].n_vf_pools)
			continue;
		h = state_hash_str(h, "vf");
		h = state_hash_u64(h, s->nodes[i].ipsec_sa_capacity);
		h = state_hash_u64(h, s->nodes[i].n_vf_pools);
		for (size_t p = 0; p < s->nodes[i].n_vf_pools; p++) {
			const struct vf_pool *pool = &s->nodes[i].vf_pools[p];

			h = state_hash_str(h, pool->name);
			h = state_hash_u64(h, pool->n_devices);
			for (uint32_t d = 0; d < pool->n_devices; d++)
				h = state_hash_str(h, pool->labels[d]);
		}
	}
	h = state_hash_u64(h, s->n_vms);
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct vm_cfg *v = &s->vms[i];

		h = state_hash_str(h, v->name);
		h = state_hash_str(h, v->xml);
		h = state_hash_u64(h, (uint64_t)v->priority);
		h = state_hash_u64(h, v->memory_mib);
		h = state_hash_u64(h, v->vcpus);
		h = state_hash_u64(h, v->home_node);
		h = state_hash_u64(h, v->owner);
		h = state_hash_u64(h, (uint64_t)v->want);
		h = state_hash_u64(h, v->recover_attempts);
		h = state_hash_str(h, v->want_reason);
		h = state_hash_u64(h, v->lost_from);
		if (!v->vf_pool[0] && !v->vf_required && !v->ipsec_offload_sa && !v->vf.node &&
		    !v->vf_error[0])
			continue;
		h = state_hash_str(h, "vf");
		h = state_hash_str(h, v->vf_pool);
		h = state_hash_u64(h, v->vf_required);
		h = state_hash_u64(h, v->ipsec_offload_sa);
		h = state_hash_vf(h, &v->vf);
		h = state_hash_str(h, v->vf_error);
	}
	return hash_queue(h, s);
}

static bool state_valid(int st)
{
	return st >= DROVER__NODE_STATE__NODE_STATE_ACTIVE &&
	       st <= DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED;
}

bool state_operator_settable(Drover__NodeState st)
{
	return st == DROVER__NODE_STATE__NODE_STATE_ACTIVE ||
	       st == DROVER__NODE_STATE__NODE_STATE_MAINTENANCE;
}

static struct node_cfg *insert(struct cluster_state *s, uint32_t id);

static struct node_cfg *find(struct cluster_state *s, uint32_t id)
{
	for (size_t i = 0; i < s->n_nodes; i++)
		if (s->nodes[i].id == id)
			return &s->nodes[i];
	return NULL;
}

Drover__NodeState state_node_get(const struct cluster_state *s, uint32_t id)
{
	struct node_cfg *n = find((struct cluster_state *)s, id);

	return n ? n->state : DROVER__NODE_STATE__NODE_STATE_ACTIVE;
}

struct node_cfg *state_node_slot(struct cluster_state *s, uint32_t id, bool create)
{
	struct node_cfg *n = find(s, id);

	return n || !create ? n : insert(s, id);
}

/* Insert keeping nodes[] sorted; returns the new entry or NULL when full. */
static struct node_cfg *insert(struct cluster_state *s, uint32_t id)
{
	size_t i;

	if (s->n_nodes == DROVER_MAX_NODES)
		return NULL;
	for (i = s->n_nodes; i > 0 && s->nodes[i - 1].id > id; i--)
		s->nodes[i] = s->nodes[i - 1];
	memset(&s->nodes[i], 0, sizeof(s->nodes[i]));
	s->nodes[i].id = id;
	s->nodes[i].state = DROVER__NODE_STATE__NODE_STATE_ACTIVE;
	s->n_nodes++;
	return &s->nodes[i];
}

static int apply_set_node_state(struct cluster_state *s, const Drover__SetNodeState *m)
{
	struct node_cfg *n;

	if (!m || m->node_id == 0 || !state_valid(m->state))
		return -EINVAL;
	n = find(s, m->node_id);
	if (!n) {
		if (m->state == DROVER__NODE_STATE__NODE_STATE_ACTIVE)
			return 0;
		n = insert(s, m->node_id);
		if (!n)
			return -ENOSPC;
	} else if (n->state == m->state) {
		return 0;
	}
	n->state = m->state;
	s->epoch++;
	return 1;
}

static bool priority_valid(int p)
{
	return p >= DROVER__VM_PRIORITY__VM_PRIORITY_HIGH &&
	       p <= DROVER__VM_PRIORITY__VM_PRIORITY_NONE;
}

/*
 * Validate a VmConfig from the wire: every member runs the same checks on the
 * same bytes, so all accept or all refuse. The XML must agree with the
 * memory/vCPU figures it carries, so a peer cannot register a VM whose size
 * placement would misjudge.
 */
static int vm_from_proto(const Drover__VmConfig *m, struct vm_cfg *ret)
{
	struct vm_xml_info info;
	char err[256];

	if (!m || !m->name || !m->xml || !vmxml_valid_name(m->name) ||
	    !priority_valid(m->priority))
		return -EINVAL;
	if (vmxml_parse(m->xml, strlen(m->xml), &info, err, sizeof(err)) < 0 ||
	    strcmp(info.name, m->name) != 0 || info.memory_mib != m->memory_mib ||
	    info.vcpus != m->vcpus)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	strscpy(ret->name, m->name, sizeof(ret->name));
	ret->priority = m->priority;
	ret->memory_mib = m->memory_mib;
	ret->vcpus = m->vcpus;
	ret->home_node = m->home_node;
	/* Registration carries no placement: only a VmAdd from a file or an exchange does. */
	if (m->want < 0 || m->want > DROVER__VM_WANT__VM_WANT_GAVE_UP ||
	    (m->want_reason && strlen(m->want_reason) >= sizeof(ret->want_reason)))
		return -EINVAL;
	ret->owner = m->owner;
	ret->want = m->want;
	ret->recover_attempts = m->recover_attempts;
	ret->lost_from = m->lost_from;
	strscpy(ret->want_reason, m->want_reason ? m->want_reason : "", sizeof(ret->want_reason));
	if (state_vf_vm_from_proto(m, ret) < 0)
		return -EINVAL;
	ret->xml = xstrdup(m->xml);
	return 0;
}

uint64_t state_vm_bytes(const char *name, const char *xml)
{
	/*
	 * In ClusterState a VmConfig costs its field's tag and length (<= 6),
	 * name and xml with theirs (<= 12), priority, memory, vCPUs and home
	 * node (<= 24): 64 covers it with room. Placement and SR-IOV (owner,
	 * want and its reason, the VF pool, the VF held, the last VF error)
	 * add at most 256 more.
	 */
	return (uint64_t)strlen(name) + strlen(xml) + 64 + 256;
}

static void vm_insert(struct cluster_state *s, struct vm_cfg *v)
{
	size_t i;

	s->vms = xrealloc(s->vms, (s->n_vms + 1) * sizeof(*s->vms));
	for (i = s->n_vms; i > 0 && strcmp(s->vms[i - 1].name, v->name) > 0; i--)
		s->vms[i] = s->vms[i - 1];
	s->vms[i] = *v;
	s->n_vms++;
	s->registry_bytes += state_vm_bytes(v->name, v->xml);
}

static int apply_vm_add(struct cluster_state *s, const Drover__VmAdd *m)
{
	struct vm_cfg v;
	int r;

	if (!m)
		return -EINVAL;
	r = vm_from_proto(m->vm, &v);
	if (r < 0)
		return r;
	/* Where it runs is learned from the hypervisors (VmPlaced), never taken from a client. */
	v.owner = 0;
	v.want = DROVER__VM_WANT__VM_WANT_UNSPECIFIED;
	v.recover_attempts = 0;
	v.want_reason[0] = '\0';
	/* Which VF it holds is the state's to say: none yet. */
	memset(&v.vf, 0, sizeof(v.vf));
	v.vf_error[0] = '\0';
	if (state_vm_index(s, v.name) >= 0) {
		free(v.xml);
		return -EEXIST;
	}
	/*
	 * The size bound is a function of the replicated state and the message
	 * only, so every member refuses the same VmAdd; a registry past it could
	 * be neither exchanged nor persisted (DROVER_STATE_MAX).
	 */
	if (s->n_vms >= DROVER_MAX_VMS ||
	    s->registry_bytes + state_vm_bytes(v.name, v.xml) > DROVER_REGISTRY_MAX) {
		free(v.xml);
		return -ENOSPC;
	}
	vm_insert(s, &v);
	s->epoch++;
	return 1;
}

static int apply_vm_remove(struct cluster_state *s, const Drover__VmRemove *m)
{
	ssize_t i;

	if (!m || !m->name)
		return -EINVAL;
	i = state_vm_index(s, m->name);
	if (i < 0)
		return -ENOENT;
	s->registry_bytes -= state_vm_bytes(s->vms[i].name, s->vms[i].xml);
	free(s->vms[i].xml);
	memmove(&s->vms[i], &s->vms[i + 1], (s->n_vms - (size_t)i - 1) * sizeof(*s->vms));
	s->n_vms--;
	s->epoch++;
	return 1;
}

int state_apply(struct cluster_state *s, const Drover__Envelope *env)
{
	if (!env)
		return -EINVAL;
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_SET_NODE_STATE:
		return apply_set_node_state(s, env->set_node_state);
	case DROVER__ENVELOPE__BODY_VM_ADD:
		return apply_vm_add(s, env->vm_add);
	case DROVER__ENVELOPE__BODY_VM_REMOVE:
		return apply_vm_remove(s, env->vm_remove);
	case DROVER__ENVELOPE__BODY_JOBS_ADD:
	case DROVER__ENVELOPE__BODY_JOB_START:
	case DROVER__ENVELOPE__BODY_JOB_FINISH:
	case DROVER__ENVELOPE__BODY_JOBS_CANCEL:
	case DROVER__ENVELOPE__BODY_LIMITS_SET:
		return state_jobs_apply(s, env);
	case DROVER__ENVELOPE__BODY_VM_ACTION:
	case DROVER__ENVELOPE__BODY_VM_ACTION_RESULT:
		return state_ops_apply(s, env);
	case DROVER__ENVELOPE__BODY_NODE_LOST:
	case DROVER__ENVELOPE__BODY_FENCE_RESULT:
	case DROVER__ENVELOPE__BODY_VM_PLACED:
	case DROVER__ENVELOPE__BODY_NODE_UNFENCED:
		return state_fence_apply(s, env);
	case DROVER__ENVELOPE__BODY_NODE_HARDWARE:
	case DROVER__ENVELOPE__BODY_OP_STEP_RESULT:
		return state_vf_apply(s, env);
	default:
		return -ENOTSUP;
	}
}

void state_to_proto(const struct cluster_state *s, Drover__ClusterState *msg,
		    struct state_proto_storage *st)
{
	drover__cluster_state__init(msg);
	msg->epoch = s->epoch;
	msg->term = s->term;
	msg->n_nodes = s->n_nodes;
	msg->nodes = st->ptrs;
	for (size_t i = 0; i < s->n_nodes; i++) {
		drover__node_config__init(&st->nodes[i]);
		st->nodes[i].id = s->nodes[i].id;
		st->nodes[i].state = s->nodes[i].state;
		st->nodes[i].fence = s->nodes[i].fence;
		st->nodes[i].fence_attempts = s->nodes[i].fence_attempts;
		st->nodes[i].fence_error = (char *)s->nodes[i].fence_error;
		st->nodes[i].fence_device = (char *)s->nodes[i].fence_device;
		st->nodes[i].lost_ms = s->nodes[i].lost_ms;
		st->nodes[i].fenced_ms = s->nodes[i].fenced_ms;
		st->ptrs[i] = &st->nodes[i];
	}
	st->vf = state_vf_to_proto(s, st->nodes);
	st->vms = s->n_vms ? xcalloc(s->n_vms, sizeof(*st->vms)) : NULL;
	st->vm_ptrs = s->n_vms ? xcalloc(s->n_vms, sizeof(*st->vm_ptrs)) : NULL;
	msg->n_vms = s->n_vms;
	msg->vms = st->vm_ptrs;
	for (size_t i = 0; i < s->n_vms; i++) {
		Drover__VmConfig *v = &st->vms[i];

		drover__vm_config__init(v);
		v->name = (char *)s->vms[i].name;
		v->xml = s->vms[i].xml;
		v->priority = s->vms[i].priority;
		v->memory_mib = s->vms[i].memory_mib;
		v->vcpus = s->vms[i].vcpus;
		v->home_node = s->vms[i].home_node;
		v->owner = s->vms[i].owner;
		v->want = s->vms[i].want;
		v->recover_attempts = s->vms[i].recover_attempts;
		v->want_reason = (char *)s->vms[i].want_reason;
		v->lost_from = s->vms[i].lost_from;
		state_vf_vm_to_proto(&s->vms[i], i, v, st->vf);
		st->vm_ptrs[i] = v;
	}
	st->queue = state_jobs_to_proto(s, msg);
	drover__cluster_counters__init(&st->counters);
	st->counters.migrations_ok = s->counters.migrations_ok;
	st->counters.migrations_failed = s->counters.migrations_failed;
	st->counters.migrations_cancelled = s->counters.migrations_cancelled;
	st->counters.failovers_ok = s->counters.failovers_ok;
	st->counters.failovers_failed = s->counters.failovers_failed;
	st->counters.fences_ok = s->counters.fences_ok;
	st->counters.fences_failed = s->counters.fences_failed;
	st->counters.fences_confirmed = s->counters.fences_confirmed;
	msg->counters = &st->counters;
}

void state_proto_storage_free(struct state_proto_storage *st)
{
	free(st->vms);
	free(st->vm_ptrs);
	state_jobs_proto_free(st->queue);
	state_vf_proto_free(st->vf);
	st->vf = NULL;
	st->vms = NULL;
	st->vm_ptrs = NULL;
	st->queue = NULL;
}

int state_from_proto(const Drover__ClusterState *msg, struct cluster_state *ret)
{
	struct cluster_state s;

	if (!msg || msg->n_nodes > DROVER_MAX_NODES || (msg->n_nodes && !msg->nodes))
		return -EINVAL;
	state_init(&s);
	s.epoch = msg->epoch;
	s.term = msg->term;
	if (msg->counters) {
		const Drover__ClusterCounters *c = msg->counters;

		s.counters = (struct state_counters){
			.migrations_ok = c->migrations_ok,
			.migrations_failed = c->migrations_failed,
			.migrations_cancelled = c->migrations_cancelled,
			.failovers_ok = c->failovers_ok,
			.failovers_failed = c->failovers_failed,
			.fences_ok = c->fences_ok,
			.fences_failed = c->fences_failed,
			.fences_confirmed = c->fences_confirmed,
		};
	}
	for (size_t i = 0; i < msg->n_nodes; i++) {
		const Drover__NodeConfig *n = msg->nodes[i];
		struct node_cfg *e;

		if (!n || n->id == 0 || !state_valid(n->state) || find(&s, n->id)) {
			state_free(&s);
			return -EINVAL;
		}
		if (n->fence < DROVER__FENCE_STATE__FENCE_STATE_NONE ||
		    n->fence > DROVER__FENCE_STATE__FENCE_STATE_FENCED ||
		    (n->fence_error && strlen(n->fence_error) >= sizeof(e->fence_error)) ||
		    (n->fence_device && strlen(n->fence_device) >= sizeof(e->fence_device))) {
			state_free(&s);
			return -EINVAL;
		}
		e = insert(&s, n->id);
		e->state = n->state;
		e->fence = n->fence;
		e->fence_attempts = n->fence_attempts;
		strscpy(e->fence_error, n->fence_error ? n->fence_error : "", sizeof(e->fence_error));
		strscpy(e->fence_device, n->fence_device ? n->fence_device : "",
			sizeof(e->fence_device));
		e->lost_ms = n->lost_ms;
		e->fenced_ms = n->fenced_ms;
		if (state_vf_node_from_proto(e, n->vf_pools, n->n_vf_pools, n->ipsec_sa_capacity) < 0) {
			state_free(&s);
			return -EINVAL;
		}
	}
	if (msg->n_vms > DROVER_MAX_VMS || (msg->n_vms && !msg->vms)) {
		state_free(&s);
		return -EINVAL;
	}
	for (size_t i = 0; i < msg->n_vms; i++) {
		struct vm_cfg v;

		if (vm_from_proto(msg->vms[i], &v) < 0) {
			state_free(&s);
			return -EINVAL;
		}
		if (state_vm_index(&s, v.name) >= 0) {
			free(v.xml);
			state_free(&s);
			return -EINVAL;
		}
		vm_insert(&s, &v);
	}
	if (state_jobs_from_proto(msg, &s) < 0 || state_ops_from_old_proto(msg, &s) < 0 ||
	    state_vf_check(&s) < 0) {
		state_free(&s);
		return -EINVAL;
	}
	*ret = s;
	return 0;
}

void state_term_bump(struct cluster_state *s)
{
	s->term++;
}
