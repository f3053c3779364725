/*
 * Fencing and what drover wants of each VM, in the replicated state. Pure,
 * like state.c, and reached through state_apply():
 *
 *   node lost (NodeLost) -> PENDING -> a fence attempt fails (FenceResult)
 *   -> FAILED -> ... -> one succeeds, or an operator confirms -> FENCED
 *   -> the node rejoins and holds no second copy (NodeUnfenced) -> NONE
 *
 * A node's VMs may run elsewhere only once it is FENCED: that is when their
 * owner is cleared, so that recovery (core/recover.h) sees VMs that want to
 * run and run nowhere. Nothing here looks at a clock or at observations; the
 * coordinator decides from those and multicasts the result, and every member
 * applies the same change in the same place of the stream.
 */
#include "state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* Shared with state.c; not part of the API. */
struct node_cfg *state_node_slot(struct cluster_state *s, uint32_t id, bool create);

const struct node_cfg *state_node_find(const struct cluster_state *s, uint32_t id)
{
	return state_node_slot((struct cluster_state *)s, id, false);
}

Drover__FenceState state_node_fence(const struct cluster_state *s, uint32_t id)
{
	const struct node_cfg *n = state_node_find(s, id);

	return n ? n->fence : DROVER__FENCE_STATE__FENCE_STATE_NONE;
}

static struct vm_cfg *vm_mut(struct cluster_state *s, const char *name)
{
	return (struct vm_cfg *)state_vm_find(s, name);
}

static void set_reason(struct vm_cfg *v, const char *why)
{
	strscpy(v->want_reason, why ? why : "", sizeof(v->want_reason));
}

static int apply_lost(struct cluster_state *s, const Drover__NodeLost *m)
{
	struct node_cfg *n;

	if (!m || !m->node)
		return -EINVAL;
	n = state_node_slot(s, m->node, true);
	if (!n)
		return -ENOSPC;
	if (n->fence != DROVER__FENCE_STATE__FENCE_STATE_NONE)
		return 0;
	n->fence = DROVER__FENCE_STATE__FENCE_STATE_PENDING;
	n->fence_attempts = 0;
	n->fence_error[0] = '\0';
	n->fence_device[0] = '\0';
	n->lost_ms = m->lost_ms;
	n->fenced_ms = 0;
	s->epoch++;
	return 1;
}

/* The node is off: what it owned runs nowhere now. */
static void release_owned(struct cluster_state *s, uint32_t node, const char *name)
{
	char why[DROVER_REASON_MAX];

	for (size_t i = 0; i < s->n_vms; i++) {
		struct vm_cfg *v = &s->vms[i];

		if (v->owner != node)
			continue;
		v->owner = 0;
		v->lost_from = node;
		v->recover_attempts = 0;
		if (v->want == DROVER__VM_WANT__VM_WANT_RUNNING &&
		    v->priority == DROVER__VM_PRIORITY__VM_PRIORITY_NONE) {
			v->want = DROVER__VM_WANT__VM_WANT_STOPPED;
			snprintf(why, sizeof(why), "its host %s was fenced; priority none: not "
				 "restarted automatically", name);
			set_reason(v, why);
		} else if (v->want == DROVER__VM_WANT__VM_WANT_RUNNING) {
			snprintf(why, sizeof(why), "its host %s was fenced; restarting", name);
			set_reason(v, why);
		}
	}
}

static int apply_fence_result(struct cluster_state *s, const Drover__FenceResult *m)
{
	struct node_cfg *n;
	char name[24];

	/*
	 * Checked before state_node_slot() may add the node's entry: a refused
	 * message leaves the state untouched (state.h), and an operator's
	 * confirmation is only ever of success. Found by tests/fuzz/fuzz_peer.
	 */
	if (!m || !m->node || (!m->ok && m->by_operator))
		return -EINVAL;
	n = state_node_slot(s, m->node, m->by_operator);
	if (!n)
		return m->by_operator ? -ENOSPC : -EINVAL;
	if (n->fence == DROVER__FENCE_STATE__FENCE_STATE_FENCED)
		return 0;
	if (n->fence == DROVER__FENCE_STATE__FENCE_STATE_NONE && !m->by_operator)
		return -EINVAL; /* an attempt nobody asked for, or one that ended after a rejoin */
	if (!m->ok) {
		n->fence = DROVER__FENCE_STATE__FENCE_STATE_FAILED;
		n->fence_attempts++;
		s->counters.fences_failed++;
		strscpy(n->fence_error, m->error ? m->error : "", sizeof(n->fence_error));
		strscpy(n->fence_device, m->device ? m->device : "", sizeof(n->fence_device));
		s->epoch++;
		return 1;
	}
	if (n->fence == DROVER__FENCE_STATE__FENCE_STATE_NONE)
		n->lost_ms = m->at_ms;
	n->fence = DROVER__FENCE_STATE__FENCE_STATE_FENCED;
	if (!m->by_operator)
		n->fence_attempts++;
	if (m->by_operator)
		s->counters.fences_confirmed++;
	else
		s->counters.fences_ok++;
	n->fence_error[0] = '\0';
	strscpy(n->fence_device, m->by_operator ? "operator" : (m->device ? m->device : ""),
		sizeof(n->fence_device));
	n->fenced_ms = m->at_ms;
	snprintf(name, sizeof(name), "node %u", m->node);
	release_owned(s, m->node, name);
	s->epoch++;
	return 1;
}

static bool want_valid(int w)
{
	return w >= DROVER__VM_WANT__VM_WANT_RUNNING && w <= DROVER__VM_WANT__VM_WANT_GAVE_UP;
}

static int apply_placed(struct cluster_state *s, const Drover__VmPlaced *m)
{
	struct vm_cfg *v;

	/*
	 * An owner only for a VM that runs; running without an owner is a VM
	 * that wants to run and runs nowhere (it crashed, or its host
	 * self-fenced): recovery restarts it, as after a fence.
	 */
	if (!m || !m->vm || !want_valid(m->want) ||
	    (m->owner != 0 && m->want != DROVER__VM_WANT__VM_WANT_RUNNING))
		return -EINVAL;
	if (!(v = vm_mut(s, m->vm)))
		return -ENOENT;
	if (v->owner == m->owner && v->want == m->want &&
	    strcmp(v->want_reason, m->reason ? m->reason : "") == 0)
		return 0;
	v->owner = m->owner;
	v->want = m->want;
	if (m->owner)
		v->lost_from = 0;
	if (m->want == DROVER__VM_WANT__VM_WANT_RUNNING)
		v->recover_attempts = 0;
	set_reason(v, m->reason);
	s->epoch++;
	return 1;
}

static int apply_unfenced(struct cluster_state *s, const Drover__NodeUnfenced *m)
{
	struct node_cfg *n;

	if (!m || !m->node)
		return -EINVAL;
	if (!(n = state_node_slot(s, m->node, false)) ||
	    n->fence == DROVER__FENCE_STATE__FENCE_STATE_NONE)
		return 0;
	n->fence = DROVER__FENCE_STATE__FENCE_STATE_NONE;
	n->fence_attempts = 0;
	n->fence_error[0] = '\0';
	s->epoch++;
	return 1;
}

static int fence_apply(struct cluster_state *s, const Drover__Envelope *env)
{
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_NODE_LOST:
		return apply_lost(s, env->node_lost);
	case DROVER__ENVELOPE__BODY_FENCE_RESULT:
		return apply_fence_result(s, env->fence_result);
	case DROVER__ENVELOPE__BODY_VM_PLACED:
		return apply_placed(s, env->vm_placed);
	case DROVER__ENVELOPE__BODY_NODE_UNFENCED:
		return apply_unfenced(s, env->node_unfenced);
	default:
		return -ENOTSUP;
	}
}

int state_fence_apply(struct cluster_state *s, const Drover__Envelope *env)
{
	int r = fence_apply(s, env);

	/* A fenced node's VFs, and those of a VM found stopped or elsewhere, return to their pools. */
	if (r > 0)
		state_vf_settle(s);
	return r;
}

void state_fence_on_op_end(struct cluster_state *s, const struct queue_job *o, bool ok,
			   const char *error)
{
	struct vm_cfg *v = vm_mut(s, o->vm);
	char why[DROVER_REASON_MAX];

	if (!v)
		return;
	switch (o->kind) {
	case QUEUE_OP_START:
		if (ok) {
			v->owner = o->source;
			v->lost_from = 0;
			v->want = DROVER__VM_WANT__VM_WANT_RUNNING;
			v->recover_attempts = 0;
			set_reason(v, "");
		} else if (o->origin == DROVER__JOB_ORIGIN__JOB_ORIGIN_RECOVERY) {
			v->recover_attempts++;
			if (v->recover_attempts >= DROVER_RECOVER_MAX_ATTEMPTS) {
				v->want = DROVER__VM_WANT__VM_WANT_GAVE_UP;
				snprintf(why, sizeof(why), "gave up after %u failed restarts: %s",
					 v->recover_attempts, error ? error : "");
			} else {
				snprintf(why, sizeof(why), "restart %u failed: %s",
					 v->recover_attempts, error ? error : "");
			}
			set_reason(v, why);
		}
		break;
	case QUEUE_OP_STOP:
		if (!ok)
			break;
		if (o->origin == DROVER__JOB_ORIGIN__JOB_ORIGIN_DUPLICATE) {
			/* The second copy is gone; the owner's stays as it was. */
			break;
		}
		v->owner = 0;
		if (o->origin == DROVER__JOB_ORIGIN__JOB_ORIGIN_PREEMPT) {
			v->want = DROVER__VM_WANT__VM_WANT_PREEMPTED;
			snprintf(why, sizeof(why), "preempted to make room for '%s'", o->for_vm);
		} else {
			v->want = DROVER__VM_WANT__VM_WANT_STOPPED;
			snprintf(why, sizeof(why), "stopped by an operator");
		}
		v->recover_attempts = 0;
		set_reason(v, why);
		break;
	case QUEUE_OP_MIGRATE:
		break; /* a migration's end is state_fence_on_job_done() */
	case QUEUE_OP_VF_ATTACH:
		break; /* the VM runs on as it did, with or without the VF (state_vf.c) */
	}
}

void state_fence_on_job_done(struct cluster_state *s, const char *vm, uint32_t target)
{
	struct vm_cfg *v = vm_mut(s, vm);

	if (!v || !target)
		return;
	v->owner = target;
	v->lost_from = 0;
	v->want = DROVER__VM_WANT__VM_WANT_RUNNING;
	v->recover_attempts = 0;
	set_reason(v, "");
}
