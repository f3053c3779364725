/*
 * The VM operations in the replicated state: what the coordinator decided to
 * do to a VM (start, stop, migrate) and has not seen finish. Pure, like
 * state.c, and reached through state_apply():
 *  - VmAction adds an operation: a non-zero id never used by an unfinished
 *    one, a registered VM, a known kind, an executing node, and for a
 *    migration a target other than the source. Refused (-EBUSY) while the VM
 *    has another unfinished operation or a queued or running migration job:
 *    at most one thing happens to a VM at a time, checked by every member
 *    where it is applied, not only by the coordinator that decided it.
 *  - VmActionResult with the id of an operation removes it; one with id 0
 *    (a refusal, nothing was decided) changes nothing.
 * Who may send either is the glue's check (the coordinator decides; the
 * executing node, or the coordinator when that node left, reports the end),
 * made alike by every member because it depends only on the membership.
 *
 * Replicated, exchanged and persisted rather than kept in memory: a joining
 * lowest-id node used to coordinate without them, so a second start of a VM
 * whose start was under way could be decided, and a JobStart could be sent
 * for a VM an operation was moving.
 *
 * Ids are the coordinator's term in the high 32 bits and a counter in the low
 * ones: unique across restarts and coordinators, since every quorate
 * configuration has a term of its own and one coordinator.
 */
#include "state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Shared with state.c, which dispatches to them; not part of the API. */
int state_ops_apply(struct cluster_state *s, const Drover__Envelope *env);
uint64_t state_ops_hash(uint64_t h, const struct cluster_state *s);
void *state_ops_to_proto(const struct cluster_state *s, Drover__ClusterState *msg);
int state_ops_from_proto(const Drover__ClusterState *msg, struct cluster_state *s);

static bool kind_valid(Drover__VmActionKind k)
{
	return k == DROVER__VM_ACTION_KIND__VM_ACTION_START ||
	       k == DROVER__VM_ACTION_KIND__VM_ACTION_STOP ||
	       k == DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE;
}

const struct vm_op *state_op_find(const struct cluster_state *s, uint64_t id)
{
	for (size_t i = 0; i < s->n_ops; i++)
		if (s->ops[i].id == id)
			return &s->ops[i];
	return NULL;
}

const struct vm_op *state_op_for_vm(const struct cluster_state *s, const char *vm)
{
	for (size_t i = 0; vm && i < s->n_ops; i++)
		if (strcmp(s->ops[i].vm, vm) == 0)
			return &s->ops[i];
	return NULL;
}

/* Checks of one VmAction that do not depend on the state. */
static int op_from_message(const Drover__VmAction *m, struct vm_op *ret)
{
	struct vm_op o;

	memset(&o, 0, sizeof(o));
	if (!m || !m->action_id || !kind_valid(m->kind) || !m->node || !m->vm ||
	    strscpy(o.vm, m->vm, sizeof(o.vm)) < 0 || !*o.vm ||
	    strscpy(o.network, m->network ? m->network : "", sizeof(o.network)) < 0 ||
	    strscpy(o.for_vm, m->for_vm ? m->for_vm : "", sizeof(o.for_vm)) < 0 ||
	    m->cause < DROVER__VM_ACTION_CAUSE__VM_CAUSE_OPERATOR ||
	    m->cause > DROVER__VM_ACTION_CAUSE__VM_CAUSE_DUPLICATE)
		return -EINVAL;
	/* A recovery starts; a preemption or a second copy's end stops. */
	if ((m->cause == DROVER__VM_ACTION_CAUSE__VM_CAUSE_RECOVERY &&
	     m->kind != DROVER__VM_ACTION_KIND__VM_ACTION_START) ||
	    ((m->cause == DROVER__VM_ACTION_CAUSE__VM_CAUSE_PREEMPT ||
	      m->cause == DROVER__VM_ACTION_CAUSE__VM_CAUSE_DUPLICATE) &&
	     m->kind != DROVER__VM_ACTION_KIND__VM_ACTION_STOP))
		return -EINVAL;
	if (m->kind == DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE &&
	    (!m->target_node || m->target_node == m->node))
		return -EINVAL;
	o.id = m->action_id;
	o.kind = m->kind;
	o.node = m->node;
	o.target = m->kind == DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE ? m->target_node : 0;
	o.origin = m->origin_node;
	o.request_id = m->request_id;
	o.cause = m->cause;
	*ret = o;
	return 0;
}

/* Insert keeping ops[] sorted by id; the caller checked room and uniqueness. */
static void op_insert(struct cluster_state *s, const struct vm_op *o)
{
	size_t i;

	if (!s->ops)
		s->ops = xcalloc(DROVER_MAX_OPS, sizeof(*s->ops));
	for (i = s->n_ops; i > 0 && s->ops[i - 1].id > o->id; i--)
		s->ops[i] = s->ops[i - 1];
	s->ops[i] = *o;
	s->n_ops++;
}

static int apply_action(struct cluster_state *s, const Drover__VmAction *m)
{
	struct vm_op o;

	if (op_from_message(m, &o) < 0)
		return -EINVAL;
	if (state_op_find(s, o.id))
		return -EEXIST;
	if (!state_vm_find(s, o.vm))
		return -ENOENT;
	if (state_op_for_vm(s, o.vm) || state_job_active(s, o.vm))
		return -EBUSY;
	if (s->n_ops >= DROVER_MAX_OPS)
		return -ENOSPC;
	op_insert(s, &o);
	s->epoch++;
	return 1;
}

static int apply_result(struct cluster_state *s, const Drover__VmActionResult *m)
{
	const struct vm_op *o;
	size_t i;

	if (!m)
		return -EINVAL;
	if (!m->action_id)
		return 0; /* a refusal: nothing was decided */
	if (!(o = state_op_find(s, m->action_id)))
		return -ENOENT;
	state_fence_on_op_end(s, o, m->ok, m->error);
	i = (size_t)(o - s->ops);
	memmove(&s->ops[i], &s->ops[i + 1], (s->n_ops - i - 1) * sizeof(*s->ops));
	s->n_ops--;
	s->epoch++;
	return 1;
}

int state_ops_apply(struct cluster_state *s, const Drover__Envelope *env)
{
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_VM_ACTION:
		return apply_action(s, env->vm_action);
	case DROVER__ENVELOPE__BODY_VM_ACTION_RESULT:
		return apply_result(s, env->vm_action_result);
	default:
		return -ENOTSUP;
	}
}



uint64_t state_ops_hash(uint64_t h, const struct cluster_state *s)
{
	h = state_hash_u64(h, s->n_ops);
	for (size_t i = 0; i < s->n_ops; i++) {
		const struct vm_op *o = &s->ops[i];

		h = state_hash_u64(h, o->id);
		h = state_hash_u64(h, (uint64_t)o->kind);
		h = state_hash_str(h, o->vm);
		h = state_hash_u64(h, o->node);
		h = state_hash_u64(h, o->target);
		h = state_hash_str(h, o->network);
		h = state_hash_u64(h, o->origin);
		h = state_hash_u64(h, o->request_id);
		h = state_hash_u64(h, (uint64_t)o->cause);
		h = state_hash_str(h, o->for_vm);
	}
	return h;
}

struct ops_proto {
	Drover__VmAction *msgs;
	Drover__VmAction **ptrs;
};

void *state_ops_to_proto(const struct cluster_state *s, Drover__ClusterState *msg)
{
	struct ops_proto *p = xcalloc(1, sizeof(*p));

	p->msgs = xcalloc(s->n_ops + 1, sizeof(*p->msgs));
	p->ptrs = xcalloc(s->n_ops + 1, sizeof(*p->ptrs));
	for (size_t i = 0; i < s->n_ops; i++) {
		const struct vm_op *o = &s->ops[i];
		Drover__VmAction *m = &p->msgs[i];

		drover__vm_action__init(m);
		m->action_id = o->id;
		m->kind = o->kind;
		m->vm = (char *)o->vm;
		m->node = o->node;
		m->target_node = o->target;
		m->network = (char *)o->network;
		m->origin_node = o->origin;
		m->request_id = o->request_id;
		m->cause = o->cause;
		m->for_vm = (char *)o->for_vm;
		p->ptrs[i] = m;
	}
	msg->n_ops = s->n_ops;
	msg->ops = p->ptrs;
	return p;
}

void state_ops_proto_free(void *mem)
{
	struct ops_proto *p = mem;

	if (!p)
		return;
	free(p->msgs);
	free(p->ptrs);
	free(p);
}

int state_ops_from_proto(const Drover__ClusterState *msg, struct cluster_state *s)
{
	if (msg->n_ops > DROVER_MAX_OPS || (msg->n_ops && !msg->ops))
		return -EINVAL;
	for (size_t i = 0; i < msg->n_ops; i++) {
		struct vm_op o;

		/* The same rules as when they were applied, so a bad file or peer is refused. */
		if (op_from_message(msg->ops[i], &o) < 0 || state_op_find(s, o.id) ||
		    !state_vm_find(s, o.vm) || state_op_for_vm(s, o.vm) || state_job_active(s, o.vm))
			return -EINVAL;
		op_insert(s, &o);
	}
	return 0;
}
