/*
 * SR-IOV in the replicated state (docs/SRIOV.md): each node's VF pools as it
 * announced them (NodeHardware), which VF each VM holds, which VF each
 * unfinished operation has reserved, and the IPsec SA capacity and use of
 * every node. Pure code, like the rest of the state.
 *
 * Invariants, kept where every member applies a message:
 *  - a device of a pool is given to at most one VM or operation: it is
 *    either free, held by one VM (vm_cfg.vf) or reserved by one unfinished
 *    operation (queue_job.vf_reserved), never two of these. Allocation is
 *    state_vf_pick() at apply time, in delivery order, on a state every
 *    member holds alike: the coordinator decides *that* a VF is wanted (a
 *    JobStart to a target, a VmAction of kind vf-attach), the agreed order
 *    decides *which* one, so two operations can never get the same one.
 *  - every end of an operation (done, failed, rolled back, cancelled, its
 *    node fenced) gives back what it reserved and leaves the VM's own VF
 *    held only where the VM runs: state_vf_settle() after each end.
 *  - SA use is derived (the VMs that run on a node and what they declare),
 *    never stored: it cannot drift from the VMs' placement.
 *
 * Considered and rejected: the coordinator naming the device in its
 * decision. The applying members would then have to refuse a device that
 * another decision took in between, and a refused JobStart leaves a job
 * queued with nothing said; the first free device at apply time cannot
 * conflict. Also rejected: keeping the device templates in the replicated
 * state: only the node that owns the pool attaches its devices, from its own
 * drover.conf; the state keeps the names and labels that views need.
 */
#include "state_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static struct vm_cfg *vm_mut(struct cluster_state *s, const char *name)
{
	ssize_t i = state_vm_index(s, name);

	return i < 0 ? NULL : &s->vms[i];
}

const struct vf_pool *state_vf_pool(const struct cluster_state *s, uint32_t node,
				    const char *pool)
{
	const struct node_cfg *n = state_node_find(s, node);

	if (!n || !pool || !pool[0])
		return NULL;
	for (size_t i = 0; i < n->n_vf_pools; i++)
		if (strcmp(n->vf_pools[i].name, pool) == 0)
			return &n->vf_pools[i];
	return NULL;
}

static bool vf_is(const struct queue_vf *vf, uint32_t node, const char *pool, uint32_t device)
{
	return vf->node == node && vf->device == device && strcmp(vf->pool, pool) == 0;
}

bool state_vf_taken(const struct cluster_state *s, uint32_t node, const char *pool,
		    uint32_t device)
{
	for (size_t i = 0; i < s->n_vms; i++)
		if (vf_is(&s->vms[i].vf, node, pool, device))
			return true;
	for (size_t i = 0; i < s->n_jobs; i++)
		if (state_op_unfinished(&s->jobs[i]) &&
		    vf_is(&s->jobs[i].vf_reserved, node, pool, device))
			return true;
	return false;
}

_Static_assert(DROVER_MAX_VF_DEVICES <= 32, "a pool's devices fit a 32-bit mask");

/* Bit d-1 set: device d of pool on node is held or reserved. One pass, for the coordinator's loops. */
static uint32_t taken_mask(const struct cluster_state *s, uint32_t node, const char *pool)
{
	uint32_t m = 0;

	for (size_t i = 0; i < s->n_vms; i++) {
		const struct queue_vf *vf = &s->vms[i].vf;

		if (vf->node == node && vf->device && vf->device <= 32 && strcmp(vf->pool, pool) == 0)
			m |= 1u << (vf->device - 1);
	}
	for (size_t i = 0; i < s->n_jobs; i++) {
		const struct queue_vf *vf = &s->jobs[i].vf_reserved;

		if (vf->node == node && vf->device && vf->device <= 32 &&
		    state_op_unfinished(&s->jobs[i]) && strcmp(vf->pool, pool) == 0)
			m |= 1u << (vf->device - 1);
	}
	return m;
}

uint32_t state_vf_pick(const struct cluster_state *s, uint32_t node, const char *pool)
{
	const struct vf_pool *p = state_vf_pool(s, node, pool);
	uint32_t m;

	if (!p)
		return 0;
	m = taken_mask(s, node, pool);
	for (uint32_t d = 1; d <= p->n_devices; d++)
		if (!(m & (1u << (d - 1))))
			return d;
	return 0;
}

uint32_t state_vf_free(const struct cluster_state *s, uint32_t node, const char *pool)
{
	const struct vf_pool *p = state_vf_pool(s, node, pool);
	uint32_t m, n = 0;

	if (!p)
		return 0;
	m = taken_mask(s, node, pool);
	for (uint32_t d = 1; d <= p->n_devices; d++)
		n += !(m & (1u << (d - 1)));
	return n;
}

const char *state_vf_degraded(const struct vm_cfg *v, char *buf, size_t len)
{
	if (!v->vf_pool[0] || !v->owner || v->want != DROVER__VM_WANT__VM_WANT_RUNNING)
		return NULL;
	if (v->vf.node == v->owner && v->vf.attached)
		return NULL;
	if (v->vf_error[0])
		snprintf(buf, len, "no VF (%s)", v->vf_error);
	else
		snprintf(buf, len, "no VF");
	return buf;
}

uint64_t state_sa_used(const struct cluster_state *s, uint32_t node)
{
	uint64_t n = 0;

	for (size_t i = 0; i < s->n_vms; i++)
		if (node && s->vms[i].owner == node &&
		    s->vms[i].want == DROVER__VM_WANT__VM_WANT_RUNNING)
			n += s->vms[i].ipsec_offload_sa;
	return n;
}

bool state_sa_short(const struct cluster_state *s, const struct vm_cfg *v)
{
	uint64_t sum = 0;

	if (!v->ipsec_offload_sa || !v->owner || v->want != DROVER__VM_WANT__VM_WANT_RUNNING)
		return false;
	/* vms[] is sorted by name: the VMs before v are those that come first. */
	for (size_t i = 0; i < s->n_vms && &s->vms[i] != v; i++)
		if (s->vms[i].owner == v->owner && s->vms[i].want == DROVER__VM_WANT__VM_WANT_RUNNING)
			sum += s->vms[i].ipsec_offload_sa;
	return sum + v->ipsec_offload_sa > state_sa_capacity(s, v->owner);
}

uint32_t state_sa_capacity(const struct cluster_state *s, uint32_t node)
{
	const struct node_cfg *n = state_node_find(s, node);

	return n ? n->ipsec_sa_capacity : 0;
}

static void vf_clear(struct queue_vf *vf)
{
	memset(vf, 0, sizeof(*vf));
}

/* ---- the hooks of the operations ---- */

void state_vf_job_started(struct cluster_state *s, struct queue_job *j)
{
	struct vm_cfg *v = vm_mut(s, j->vm);
	size_t n = 0;
	uint32_t d;

	vf_clear(&j->vf_reserved);
	j->vf_rollback = false;
	j->vf_reason[0] = '\0';
	j->vf_bytes = j->vf_downtime_ms = 0;
	/* A VF cannot be live-migrated: the guest gives it up first, on the source. */
	if (v && v->vf.node == j->source && v->vf.attached)
		j->plan[n++] = (struct queue_step){ DROVER__OP_STEP_KIND__OP_STEP_VF_DETACH, j->source };
	j->plan[n++] = (struct queue_step){ DROVER__OP_STEP_KIND__OP_STEP_TRANSFER, j->source };
	if (v && v->vf_pool[0] && (d = state_vf_pick(s, j->target, v->vf_pool))) {
		j->vf_reserved.node = j->target;
		strscpy(j->vf_reserved.pool, v->vf_pool, sizeof(j->vf_reserved.pool));
		j->vf_reserved.device = d;
		j->plan[n++] = (struct queue_step){ DROVER__OP_STEP_KIND__OP_STEP_VF_ATTACH, j->target };
	}
	j->n_plan = n;
	j->step = 0;
}

bool state_vf_transfer_ok(struct cluster_state *s, struct queue_job *j, uint64_t downtime_ms,
			  uint64_t bytes)
{
	struct vm_cfg *v = vm_mut(s, j->vm);

	/* The VM left the source: whatever it held there is free. */
	if (v && v->vf.node && v->vf.node != j->target) {
		vf_clear(&v->vf);
		v->vf_error[0] = '\0';
	}
	if (!v || !j->vf_reserved.node || j->step + 1 >= j->n_plan)
		return false;
	/* The reservation becomes the VM's, attached once the target's agent says so. */
	v->vf = j->vf_reserved;
	v->vf.attached = false;
	vf_clear(&j->vf_reserved);
	j->vf_bytes = bytes;
	j->vf_downtime_ms = downtime_ms;
	j->step++;
	return true;
}

bool state_vf_transfer_failed(struct cluster_state *s, struct queue_job *j, const char *reason)
{
	struct vm_cfg *v = vm_mut(s, j->vm);

	/* What the target had reserved is not needed any more. */
	vf_clear(&j->vf_reserved);
	if (!v || v->vf.node != j->source || v->vf.attached)
		return false;
	/*
	 * The guest gave its VF up for a move that did not happen: it gets it
	 * back on the source before the failure takes its course (a retry
	 * detaches it again). The plan's last step becomes that re-attach.
	 */
	j->vf_rollback = true;
	strscpy(j->vf_reason, reason ? reason : "", sizeof(j->vf_reason));
	j->step = j->n_plan < QUEUE_MAX_STEPS && j->plan[j->n_plan - 1].kind !=
							 DROVER__OP_STEP_KIND__OP_STEP_VF_ATTACH
			  ? (uint32_t)j->n_plan++
			  : (uint32_t)j->n_plan - 1;
	j->plan[j->step] =
		(struct queue_step){ DROVER__OP_STEP_KIND__OP_STEP_VF_ATTACH, j->source };
	return true;
}

void state_vf_settle(struct cluster_state *s)
{
	for (size_t i = 0; i < s->n_vms; i++) {
		struct vm_cfg *v = &s->vms[i];

		if (!v->vf.node || state_op_for_vm(s, v->name))
			continue;
		if (v->owner != v->vf.node || v->want != DROVER__VM_WANT__VM_WANT_RUNNING ||
		    !v->vf.attached)
			vf_clear(&v->vf);
	}
}

/* ---- the repair: a VmAction of kind vf-attach ---- */

int state_vf_attach_reserve(struct cluster_state *s, struct queue_job *o)
{
	const struct vm_cfg *v = state_vm_find(s, o->vm);
	uint32_t d;

	if (!v)
		return -ENOENT;
	/* Only a VM that runs where the state says, asks for a VF and has none attached. */
	if (!v->vf_pool[0] || v->owner != o->source ||
	    v->want != DROVER__VM_WANT__VM_WANT_RUNNING || (v->vf.node && v->vf.attached))
		return -EINVAL;
	if (!(d = state_vf_pick(s, o->source, v->vf_pool)))
		return -ENOSPC;
	o->vf_reserved.node = o->source;
	strscpy(o->vf_reserved.pool, v->vf_pool, sizeof(o->vf_reserved.pool));
	o->vf_reserved.device = d;
	return 0;
}

void state_vf_started(struct cluster_state *s, const char *vm)
{
	struct vm_cfg *v = vm_mut(s, vm);

	if (!v)
		return;
	vf_clear(&v->vf);
	v->vf_error[0] = '\0';
}

/* An attach ended (a repair, a migration's last step, a rollback): the VM has it, or the pool. */
static void attach_ended(struct vm_cfg *v, const struct queue_vf *vf, bool ok, const char *error)
{
	if (ok) {
		v->vf = *vf;
		v->vf.attached = true;
		v->vf_error[0] = '\0';
	} else {
		vf_clear(&v->vf);
		snprintf(v->vf_error, sizeof(v->vf_error), "VF attach failed: %s",
			 error && error[0] ? error : "unknown error");
	}
}

void state_vf_attach_ended(struct cluster_state *s, struct queue_job *o, bool ok,
			   const char *error)
{
	struct vm_cfg *v = vm_mut(s, o->vm);

	if (v && o->vf_reserved.node)
		attach_ended(v, &o->vf_reserved, ok, error);
	vf_clear(&o->vf_reserved);
}

/* ---- NodeHardware ---- */

static int pools_from_proto(Drover__VfPool *const *m, size_t n, struct vf_pool **ret)
{
	_cleanup_free_ struct vf_pool *pools = NULL;

	if (n > DROVER_MAX_VF_POOLS || (n && !m))
		return -EINVAL;
	pools = xcalloc(n ? n : 1, sizeof(*pools));
	for (size_t i = 0; i < n; i++) {
		if (!m[i] || !state_str_fits(m[i]->name, DROVER_VF_POOL_NAME_MAX) || !m[i]->name[0] ||
		    m[i]->n_labels > DROVER_MAX_VF_DEVICES || (m[i]->n_labels && !m[i]->labels))
			return -EINVAL;
		for (size_t k = 0; k < i; k++)
			if (strcmp(pools[k].name, m[i]->name) == 0)
				return -EINVAL;
		strscpy(pools[i].name, m[i]->name, sizeof(pools[i].name));
		for (size_t d = 0; d < m[i]->n_labels; d++) {
			if (!state_str_fits(m[i]->labels[d], DROVER_VF_LABEL_MAX))
				return -EINVAL;
			strscpy(pools[i].labels[d], m[i]->labels[d], sizeof(pools[i].labels[d]));
		}
		pools[i].n_devices = (uint32_t)m[i]->n_labels;
	}
	*ret = TAKE_PTR(pools);
	return 0;
}

int state_vf_node_from_proto(struct node_cfg *n, Drover__VfPool *const *pools, size_t n_pools,
			     uint32_t sa_capacity)
{
	struct vf_pool *p = NULL;
	int r;

	if (sa_capacity > DROVER_IPSEC_SA_MAX)
		return -EINVAL;
	if ((r = pools_from_proto(pools, n_pools, &p)) < 0)
		return r;
	free(n->vf_pools);
	n->vf_pools = n_pools ? p : NULL;
	if (!n_pools)
		free(p);
	n->n_vf_pools = n_pools;
	n->ipsec_sa_capacity = sa_capacity;
	return 0;
}

static bool pools_equal(const struct node_cfg *n, Drover__VfPool *const *m, size_t count,
			uint32_t sa)
{
	if (n->n_vf_pools != count || n->ipsec_sa_capacity != sa)
		return false;
	for (size_t i = 0; i < count; i++) {
		if (strcmp(n->vf_pools[i].name, m[i]->name) != 0 ||
		    n->vf_pools[i].n_devices != m[i]->n_labels)
			return false;
		for (size_t d = 0; d < m[i]->n_labels; d++)
			if (strcmp(n->vf_pools[i].labels[d], m[i]->labels[d]) != 0)
				return false;
	}
	return true;
}

static int apply_node_hardware(struct cluster_state *s, const Drover__NodeHardware *m)
{
	struct vf_pool *check = NULL;
	struct node_cfg *n;
	int r;

	if (!m || !m->node || m->ipsec_sa_capacity > DROVER_IPSEC_SA_MAX)
		return -EINVAL;
	/* Validate before anything is written: a refused message leaves no trace. */
	if ((r = pools_from_proto(m->vf_pools, m->n_vf_pools, &check)) < 0)
		return r;
	free(check);
	n = state_node_slot(s, m->node, false);
	if (n && pools_equal(n, m->vf_pools, m->n_vf_pools, m->ipsec_sa_capacity))
		return 0;
	if (!n && !m->n_vf_pools && !m->ipsec_sa_capacity)
		return 0;
	if (!n && !(n = state_node_slot(s, m->node, true)))
		return -ENOSPC;
	if (state_vf_node_from_proto(n, m->vf_pools, m->n_vf_pools, m->ipsec_sa_capacity) < 0)
		return -EINVAL;
	s->epoch++;
	return 1;
}

/* ---- OpStepResult ---- */

static int apply_step_result(struct cluster_state *s, const Drover__OpStepResult *m)
{
	struct queue_job *j;
	struct vm_cfg *v;
	uint32_t kind;

	if (!m || !state_str_fits(m->error, QUEUE_REASON_MAX))
		return -EINVAL;
	j = state_job_find(s, m->op_id);
	if (!j || j->state != QUEUE_JOB_RUNNING || j->kind != QUEUE_OP_MIGRATE ||
	    m->step != j->step || j->step >= j->n_plan)
		return -EINVAL;
	kind = j->plan[j->step].kind;
	if (kind != DROVER__OP_STEP_KIND__OP_STEP_VF_DETACH &&
	    kind != DROVER__OP_STEP_KIND__OP_STEP_VF_ATTACH)
		return -EINVAL;
	v = vm_mut(s, j->vm);
	if (kind == DROVER__OP_STEP_KIND__OP_STEP_VF_DETACH) {
		char why[QUEUE_REASON_MAX];

		if (m->ok) {
			if (v)
				v->vf.attached = false;
			j->step++;
			/*
			 * `drain cancel --abort` came during the detach: the transfer
			 * does not start; the VF goes back first, then the job ends
			 * cancelled (state_jobs_attempt_failed()).
			 */
			if (j->cancel_requested)
				state_vf_transfer_failed(s, j, "cancelled before the transfer");
			s->epoch++;
			return 1;
		}
		/*
		 * The guest kept its VF (it did not acknowledge the unplug):
		 * the migration does not start, and is not retried elsewhere,
		 * since another target would meet the same guest. The VM keeps
		 * running on the source with its VF.
		 */
		snprintf(why, sizeof(why), "VF detach failed: %s", m->error[0] ? m->error : "unknown error");
		vf_clear(&j->vf_reserved);
		state_jobs_attempt_failed(s, j, why, m->finished_ms, true);
		state_vf_settle(s);
		s->epoch++;
		return 1;
	}
	if (j->vf_rollback) {
		/* The re-attach on the source ended; now the transfer's failure takes its course. */
		char reason[QUEUE_REASON_MAX];

		if (v) {
			struct queue_vf back = v->vf;

			attach_ended(v, &back, m->ok, m->error);
		}
		j->vf_rollback = false;
		memcpy(reason, j->vf_reason, sizeof(reason));
		j->vf_reason[0] = '\0';
		state_jobs_attempt_failed(s, j, reason, m->finished_ms, false);
		state_vf_settle(s);
		s->epoch++;
		return 1;
	}
	/* The migration's last step: it is done whatever the attach says; a failure leaves it degraded. */
	if (v) {
		struct queue_vf got = v->vf;

		attach_ended(v, &got, m->ok, m->error);
	}
	state_jobs_attempt_done(s, j, m->finished_ms, j->vf_downtime_ms, j->vf_bytes);
	state_vf_settle(s);
	s->epoch++;
	return 1;
}

int state_vf_apply(struct cluster_state *s, const Drover__Envelope *env)
{
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_NODE_HARDWARE:
		return apply_node_hardware(s, env->node_hardware);
	case DROVER__ENVELOPE__BODY_OP_STEP_RESULT:
		return apply_step_result(s, env->op_step_result);
	default:
		return -ENOTSUP;
	}
}

/* ---- the protobuf forms ---- */

void state_vf_hold_to_proto(const struct queue_vf *vf, Drover__VfHold *ret)
{
	drover__vf_hold__init(ret);
	ret->node = vf->node;
	ret->pool = (char *)vf->pool;
	ret->device = vf->device;
	ret->attached = vf->attached;
}

int state_vf_hold_from_proto(const Drover__VfHold *m, struct queue_vf *ret)
{
	vf_clear(ret);
	if (!m || !m->node)
		return 0;
	if (!state_str_fits(m->pool, sizeof(ret->pool)) || !m->pool[0] || !m->device ||
	    m->device > DROVER_MAX_VF_DEVICES)
		return -EINVAL;
	ret->node = m->node;
	strscpy(ret->pool, m->pool, sizeof(ret->pool));
	ret->device = m->device;
	ret->attached = m->attached;
	return 0;
}

struct vf_proto {
	Drover__VfPool *pools;    /* every node's, one after another */
	Drover__VfPool **pool_ptrs;
	char **labels;            /* pointers into the nodes' pools */
	Drover__VfHold *holds;    /* one per VM */
};

void *state_vf_to_proto(const struct cluster_state *s, Drover__NodeConfig *nodes)
{
	struct vf_proto *p = xcalloc(1, sizeof(*p));
	size_t n_pools = 0, n_labels = 0, k = 0, l = 0;

	for (size_t i = 0; i < s->n_nodes; i++) {
		n_pools += s->nodes[i].n_vf_pools;
		for (size_t j = 0; j < s->nodes[i].n_vf_pools; j++)
			n_labels += s->nodes[i].vf_pools[j].n_devices;
	}
	p->pools = xcalloc(n_pools + 1, sizeof(*p->pools));
	p->pool_ptrs = xcalloc(n_pools + 1, sizeof(*p->pool_ptrs));
	p->labels = xcalloc(n_labels + 1, sizeof(*p->labels));
	p->holds = xcalloc(s->n_vms + 1, sizeof(*p->holds));
	for (size_t i = 0; i < s->n_nodes; i++) {
		const struct node_cfg *n = &s->nodes[i];

		nodes[i].ipsec_sa_capacity = n->ipsec_sa_capacity;
		nodes[i].n_vf_pools = n->n_vf_pools;
		nodes[i].vf_pools = &p->pool_ptrs[k];
		for (size_t j = 0; j < n->n_vf_pools; j++, k++) {
			const struct vf_pool *pool = &n->vf_pools[j];

			drover__vf_pool__init(&p->pools[k]);
			p->pools[k].name = (char *)pool->name;
			p->pools[k].n_labels = pool->n_devices;
			p->pools[k].labels = &p->labels[l];
			for (uint32_t d = 0; d < pool->n_devices; d++)
				p->labels[l++] = (char *)pool->labels[d];
			p->pool_ptrs[k] = &p->pools[k];
		}
	}
	return p;
}

void state_vf_vm_to_proto(const struct vm_cfg *v, size_t i, Drover__VmConfig *m, void *mem)
{
	struct vf_proto *p = mem;

	m->vf_pool = (char *)v->vf_pool;
	m->vf_mode = v->vf_required ? DROVER__VF_MODE__VF_MODE_REQUIRED
				    : DROVER__VF_MODE__VF_MODE_PREFERRED;
	m->ipsec_offload_sa = v->ipsec_offload_sa;
	m->vf_error = (char *)v->vf_error;
	if (v->vf.node) {
		state_vf_hold_to_proto(&v->vf, &p->holds[i]);
		m->vf = &p->holds[i];
	}
}

void state_vf_proto_free(void *mem)
{
	struct vf_proto *p = mem;

	if (!p)
		return;
	free(p->pools);
	free(p->pool_ptrs);
	free(p->labels);
	free(p->holds);
	free(p);
}

bool state_vf_pool_name_valid(const char *name)
{
	size_t len;

	if (!state_str_fits(name, DROVER_VF_POOL_NAME_MAX))
		return false;
	len = strlen(name);
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int state_vf_vm_from_proto(const Drover__VmConfig *m, struct vm_cfg *ret)
{
	if ((m->vf_pool && !state_vf_pool_name_valid(m->vf_pool)) ||
	    (m->vf_mode != DROVER__VF_MODE__VF_MODE_PREFERRED &&
	     m->vf_mode != DROVER__VF_MODE__VF_MODE_REQUIRED) ||
	    m->ipsec_offload_sa > DROVER_IPSEC_SA_MAX ||
	    (m->vf_error && !state_str_fits(m->vf_error, sizeof(ret->vf_error))))
		return -EINVAL;
	strscpy(ret->vf_pool, m->vf_pool ? m->vf_pool : "", sizeof(ret->vf_pool));
	ret->vf_required = m->vf_mode == DROVER__VF_MODE__VF_MODE_REQUIRED;
	ret->ipsec_offload_sa = m->ipsec_offload_sa;
	strscpy(ret->vf_error, m->vf_error ? m->vf_error : "", sizeof(ret->vf_error));
	return state_vf_hold_from_proto(m->vf, &ret->vf);
}

/* Whether vf is one of the first `upto` VFs of the table below (a duplicate). */
static bool seen_before(const struct queue_vf *const *all, size_t upto, const struct queue_vf *vf)
{
	for (size_t i = 0; i < upto; i++)
		if (vf_is(all[i], vf->node, vf->pool, vf->device))
			return true;
	return false;
}

int state_vf_check(const struct cluster_state *s)
{
	_cleanup_free_ const struct queue_vf **all = NULL;
	size_t n = 0;

	all = xcalloc(s->n_vms + s->n_jobs + 1, sizeof(*all));
	for (size_t i = 0; i < s->n_vms; i++)
		if (s->vms[i].vf.node)
			all[n++] = &s->vms[i].vf;
	for (size_t i = 0; i < s->n_jobs; i++)
		if (state_op_unfinished(&s->jobs[i]) && s->jobs[i].vf_reserved.node)
			all[n++] = &s->jobs[i].vf_reserved;
	for (size_t i = 0; i < n; i++)
		if (seen_before(all, i, all[i]))
			return -EINVAL;
	return 0;
}
