/*
 * The coordinator's decisions about the migration queue (see coord.h). One
 * decision at a time: the caller multicasts it and calls again only once it
 * came back in agreed order, so every decision is made on a view that shows
 * the previous one.
 *
 * Where a VM runs is always what the agents report, never what a job
 * intended: a job is cancelled as moot only when a working agent on its
 * source does not report the VM and no node that could be hiding it (member
 * without a working agent, or not a member) reports it either.
 */
#include "coord.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const struct coord_node *node_of(const struct coord_input *in, uint32_t id)
{
	for (size_t i = 0; i < in->n_nodes; i++)
		if (in->nodes[i].id == id)
			return &in->nodes[i];
	return NULL;
}

static bool is_member(const struct coord_input *in, uint32_t id)
{
	const struct coord_node *n = node_of(in, id);

	return n && n->member;
}

static bool lists(const struct coord_node *n, const char *vm)
{
	for (size_t i = 0; i < n->n_vms; i++)
		if (strcmp(n->vms[i], vm) == 0)
			return true;
	return false;
}

/* The VM is reported active on node by that node's working agent. */
static bool vm_on_node(const struct coord_input *in, const char *vm, uint32_t node)
{
	const struct coord_node *n = node_of(in, node);

	return n && n->agent_ok && lists(n, vm);
}

static bool touched(const struct coord_node *n, const char *vm)
{
	for (size_t i = 0; i < n->n_touched; i++)
		if (strcmp(n->touched[i], vm) == 0)
			return true;
	return false;
}

static bool busy(const struct coord_input *in, const char *vm)
{
	for (size_t i = 0; i < in->n_busy; i++)
		if (strcmp(in->busy[i], vm) == 0)
			return true;
	return false;
}

static const char *name_of(const struct coord_input *in, uint32_t id, char *buf, size_t len)
{
	for (size_t i = 0; i < in->view->n_nodes && i < QUEUE_MAX_NODES; i++)
		if (in->view->nodes[i].id == id)
			return in->view->nodes[i].name;
	snprintf(buf, len, "node %u", id);
	return buf;
}

static int view_index(const struct queue_view *v, uint32_t id)
{
	for (size_t i = 0; i < v->n_nodes && i < QUEUE_MAX_NODES; i++)
		if (v->nodes[i].id == id)
			return (int)i;
	return -1;
}

static bool usable(const struct queue_view *v, const char *net, uint32_t a, uint32_t b)
{
	int ia = view_index(v, a), ib = view_index(v, b);

	if (ia < 0 || ib < 0)
		return false;
	for (size_t k = 0; k < v->n_networks && k < QUEUE_MAX_NETWORKS; k++)
		if (strcmp(v->networks[k].name, net) == 0)
			return (v->usable[k][ia] >> ib) & 1u;
	return false;
}

static bool was_aborted(const struct coord_input *in, uint64_t id)
{
	for (size_t i = 0; i < in->n_aborted; i++)
		if (in->aborted[i] == id)
			return true;
	return false;
}

/*
 * Running jobs whose source left (finished as failed: nobody else can report
 * them), then running migrations whose target or network went away under
 * them (aborted by their source).
 */
/* The running migration's current step is a VF detach or attach, not the transfer. */
static bool vf_step(const struct queue_job *j)
{
	return j->step < j->n_plan && j->plan[j->step].kind != DROVER__OP_STEP_KIND__OP_STEP_TRANSFER;
}

static bool check_running(const struct coord_input *in, struct coord_decision *ret)
{
	char b1[32], b2[32];

	for (size_t i = 0; i < in->state->n_jobs; i++) {
		const struct queue_job *j = &in->state->jobs[i];
		uint32_t exec;

		if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING || !vf_step(j))
			continue;
		/* A VF step (detach, attach) whose node left: failed, so the plan goes on or ends. */
		exec = state_op_executor(j);
		if (is_member(in, exec))
			continue;
		ret->kind = COORD_STEP_FAIL;
		ret->job_id = j->id;
		ret->step = j->step;
		snprintf(ret->reason, sizeof(ret->reason), "%.40s left the cluster during the VF %s",
			 name_of(in, exec, b1, sizeof(b1)),
			 j->plan[j->step].kind == DROVER__OP_STEP_KIND__OP_STEP_VF_DETACH ? "detach"
											   : "attach");
		return true;
	}
	for (size_t i = 0; i < in->state->n_jobs; i++) {
		const struct queue_job *j = &in->state->jobs[i];

		/* Only the transfer ends with JobFinish; a VF step is handled above. */
		if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING ||
		    is_member(in, j->source) || vf_step(j))
			continue;
		ret->kind = COORD_FINISH;
		ret->job_id = j->id;
		snprintf(ret->reason, sizeof(ret->reason),
			 "source %.40s left the cluster during the migration",
			 name_of(in, j->source, b1, sizeof(b1)));
		return true;
	}
	for (size_t i = 0; i < in->state->n_jobs; i++) {
		const struct queue_job *j = &in->state->jobs[i];

		/* Nothing moves during a VF step: nothing to abort. */
		if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING ||
		    was_aborted(in, j->id) || vf_step(j))
			continue;
		if (!is_member(in, j->target))
			/* libvirt would notice only when its keepalive gives up. */
			snprintf(ret->reason, sizeof(ret->reason),
				 "target %.40s left the cluster during the migration",
				 name_of(in, j->target, b2, sizeof(b2)));
		else if (!usable(in->view, j->network, j->source, j->target))
			snprintf(ret->reason, sizeof(ret->reason),
				 "network %.31s went down between %.31s and %.31s", j->network,
				 name_of(in, j->source, b1, sizeof(b1)),
				 name_of(in, j->target, b2, sizeof(b2)));
		else
			continue;
		ret->kind = COORD_ABORT;
		ret->job_id = j->id;
		return true;
	}
	return false;
}

/* Queued jobs that can never start: cancelled with the reason, so no drain waits on them. */
static bool check_moot(const struct coord_input *in, struct coord_decision *ret)
{
	char b[32];

	for (size_t i = 0; i < in->state->n_jobs && ret->n_ids < COORD_MAX_IDS; i++) {
		const struct queue_job *j = &in->state->jobs[i];
		const struct coord_node *src = node_of(in, j->source);
		const struct coord_node *elsewhere = NULL;
		bool hidden = false;

		if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_QUEUED || busy(in, j->vm))
			continue;
		if (!state_vm_find(in->state, j->vm)) {
			ret->ids[ret->n_ids++] = j->id;
			snprintf(ret->reason, sizeof(ret->reason), "VM %.63s was removed from the registry",
				 j->vm);
			continue;
		}
		/*
		 * Only a working, present source with a current report can say
		 * the VM is not there, and only if no operation touched the VM
		 * there since (a migration back that ended after the report).
		 */
		if (!src || !src->member || !src->agent_ok || src->stale || lists(src, j->vm) ||
		    touched(src, j->vm))
			continue;
		for (size_t k = 0; k < in->n_nodes; k++) {
			const struct coord_node *n = &in->nodes[k];

			if (n->id == j->source || !lists(n, j->vm))
				continue;
			if (n->member && n->agent_ok)
				elsewhere = n;
			else if (n->member || state_node_fence(in->state, n->id) !=
						      DROVER__FENCE_STATE__FENCE_STATE_FENCED)
				hidden = true;
			/*
			 * Fenced and away: known off (locate.h), whatever its last
			 * report listed; nothing is placed on a fenced node, so
			 * nothing came there since.
			 */
		}
		if (hidden && !elsewhere)
			continue; /* it may run where nobody can see: unknown, not moot */
		ret->ids[ret->n_ids++] = j->id;
		if (elsewhere)
			snprintf(ret->reason, sizeof(ret->reason), "VM %.63s now runs on %.40s", j->vm,
				 name_of(in, elsewhere->id, b, sizeof(b)));
		else
			snprintf(ret->reason, sizeof(ret->reason), "VM %.63s is no longer running", j->vm);
	}
	if (!ret->n_ids)
		return false;
	ret->kind = COORD_CANCEL;
	if (ret->n_ids > 1)
		snprintf(ret->reason, sizeof(ret->reason), "the VM is no longer where the job says");
	return true;
}

/*
 * The newest migration job of vm, from any node: a job from elsewhere that
 * brought the VM here after its job from here failed makes that failure old
 * news (the VM needs a job from here again), and one from here that failed
 * after an older one succeeded is what the drain must report.
 */
static const struct queue_job *latest_job(const struct cluster_state *s, const char *vm)
{
	const struct queue_job *best = NULL;

	for (size_t i = 0; i < s->n_jobs; i++) {
		const struct queue_job *j = &s->jobs[i];

		if (j->kind == QUEUE_OP_MIGRATE && strcmp(j->vm, vm) == 0 &&
		    (!best || j->id > best->id))
			best = j;
	}
	return best;
}

static bool check_drains(const struct coord_input *in, struct coord_decision *ret)
{
	const struct cluster_state *s = in->state;

	for (size_t i = 0; i < s->n_nodes; i++) {
		uint32_t node = s->nodes[i].id;
		const struct coord_node *n = node_of(in, node);
		size_t n_failed = 0, n_stale = 0;
		bool moving = false;

		if (s->nodes[i].state != DROVER__NODE_STATE__NODE_STATE_DRAINING)
			continue;
		for (size_t k = 0; k < s->n_jobs; k++)
			if (s->jobs[k].kind == QUEUE_OP_MIGRATE && s->jobs[k].source == node &&
			    (s->jobs[k].state == QUEUE_JOB_QUEUED || s->jobs[k].state == QUEUE_JOB_RUNNING))
				moving = true;
		/*
		 * Without a current report of the node nothing can be concluded,
		 * nor from one an operation may have overtaken: a migration
		 * onto the node that ended after the report was taken.
		 */
		if (moving || !n || !n->member || !n->agent_ok || n->stale || n->n_touched)
			continue;
		ret->n_vms = 0;
		for (size_t k = 0; k < n->n_vms; k++) {
			const char *vm = n->vms[k];
			const struct queue_job *j;

			if (!state_vm_find(s, vm))
				continue;
			/*
			 * A start or a stop under way is the VM's one operation: no
			 * job can be added beside it (JobsAdd would skip it, and
			 * asking again would never settle). The drain waits for
			 * it, and the next report says whether the VM is still here.
			 */
			if (busy(in, vm) || state_op_for_vm(s, vm)) {
				n_stale++;
				continue;
			}
			j = latest_job(s, vm);
			if (!j || j->source != node) {
				if (ret->n_vms < COORD_MAX_ADD &&
				    strscpy(ret->vms[ret->n_vms], vm, DROVER_VM_NAME_MAX) >= 0)
					ret->n_vms++;
			} else if (j->state == QUEUE_JOB_DONE &&
				   in->now_ms < j->finished_ms + COORD_INVENTORY_GRACE_MS) {
				n_stale++; /* moved, and the inventory has not caught up yet */
			} else if (j->state == QUEUE_JOB_DONE) {
				/* Moved, and back since by other means: it needs another job. */
				if (ret->n_vms < COORD_MAX_ADD &&
				    strscpy(ret->vms[ret->n_vms], vm, DROVER_VM_NAME_MAX) >= 0)
					ret->n_vms++;
			} else {
				n_failed++;
			}
		}
		ret->node = node;
		if (ret->n_vms) {
			ret->kind = COORD_ADD;
			return true;
		}
		if (n_stale)
			continue;
		ret->kind = COORD_NODE_STATE;
		ret->node_state = n_failed ? DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED
					   : DROVER__NODE_STATE__NODE_STATE_DRAINED;
		return true;
	}
	return false;
}

static enum queue_blocker held_back(const struct coord_input *in, const struct queue_job *j,
				    char *why, size_t len)
{
	char b[32];

	if (j->state != QUEUE_JOB_QUEUED)
		return QUEUE_BLOCK_NONE;
	if (busy(in, j->vm)) {
		snprintf(why, len, "VM %s has another action in progress", j->vm);
		return QUEUE_BLOCK_VM_BUSY;
	}
	if (is_member(in, j->source) && !vm_on_node(in, j->vm, j->source)) {
		snprintf(why, len, "VM %.63s is not running on %.40s", j->vm,
			 name_of(in, j->source, b, sizeof(b)));
		return QUEUE_BLOCK_VM_ELSEWHERE;
	}
	return QUEUE_BLOCK_NONE;
}

void coord_view_add_vf(const struct cluster_state *s, struct queue_view *v)
{
	v->n_vf_pools = 0;
	memset(v->vf_free, 0, sizeof(v->vf_free));
	for (size_t i = 0; i < v->n_nodes; i++) {
		const struct node_cfg *n = state_node_find(s, v->nodes[i].id);

		v->nodes[i].sa_capacity = state_sa_capacity(s, v->nodes[i].id);
		v->nodes[i].sa_used = state_sa_used(s, v->nodes[i].id);
		for (size_t p = 0; n && p < n->n_vf_pools; p++) {
			size_t k;

			for (k = 0; k < v->n_vf_pools; k++)
				if (strcmp(v->vf_pools[k], n->vf_pools[p].name) == 0)
					break;
			if (k == v->n_vf_pools) {
				/* More distinct names than a view holds: the rest count as no VF. */
				if (k == QUEUE_MAX_VF_POOLS)
					continue;
				strscpy(v->vf_pools[k], n->vf_pools[p].name, sizeof(v->vf_pools[k]));
				v->n_vf_pools++;
			}
			v->vf_free[k][i] = state_vf_free(s, v->nodes[i].id, n->vf_pools[p].name);
		}
	}
}

void coord_job_add_vf(const struct cluster_state *s, struct queue_job *j)
{
	const struct vm_cfg *vm = state_vm_find(s, j->vm);

	strscpy(j->want_vf_pool, vm ? vm->vf_pool : "", sizeof(j->want_vf_pool));
	j->want_vf_required = vm && vm->vf_pool[0] && vm->vf_required;
	j->want_sa = vm ? vm->ipsec_offload_sa : 0;
}

int coord_dispatch(const struct coord_input *in, struct queue_job *jobs, size_t n,
		   struct queue_action *acts, size_t max, size_t *n_acts)
{
	_cleanup_free_ uint8_t *held = NULL;
	_cleanup_free_ struct queue_view *view = NULL;
	char why[QUEUE_BLOCKER_MAX];
	int r;

	if (n > QUEUE_MAX_JOBS)
		return -E2BIG;
	/* The VFs and SAs of the view and the jobs come from the replicated state, alike everywhere. */
	view = xcalloc(1, sizeof(*view));
	*view = *in->view;
	coord_view_add_vf(in->state, view);
	held = xcalloc(n ? n : 1, 1);
	for (size_t i = 0; i < n; i++) {
		coord_job_add_vf(in->state, &jobs[i]);
		held[i] = (uint8_t)held_back(in, &jobs[i], why, sizeof(why));
		if (held[i])
			jobs[i].state = QUEUE_JOB_CANCELLED; /* invisible to queue_dispatch() */
	}
	r = queue_dispatch(view, jobs, n, in->now_ms, acts, max, n_acts);
	for (size_t i = 0; i < n; i++) {
		if (!held[i])
			continue;
		jobs[i].state = QUEUE_JOB_QUEUED;
		jobs[i].blocker = (enum queue_blocker)held[i];
		held_back(in, &jobs[i], jobs[i].blocker_text, sizeof(jobs[i].blocker_text));
	}
	return r;
}

static int dispatch(const struct coord_input *in, struct coord_decision *ret)
{
	_cleanup_free_ struct queue_job *jobs = NULL;
	size_t n = 0;
	int r;

	if (!state_jobs_unfinished(in->state))
		return 0;
	jobs = xcalloc(in->state->n_jobs, sizeof(*jobs));
	for (size_t i = 0; i < in->state->n_jobs; i++)
		if (in->state->jobs[i].kind == QUEUE_OP_MIGRATE &&
		    (in->state->jobs[i].state == QUEUE_JOB_QUEUED ||
		     in->state->jobs[i].state == QUEUE_JOB_RUNNING))
			jobs[n++] = in->state->jobs[i];
	r = coord_dispatch(in, jobs, n, ret->starts, COORD_BATCH, &ret->n_starts);
	if (r < 0)
		return r;
	if (ret->n_starts)
		ret->kind = COORD_START;
	return 0;
}

int coord_decide(const struct coord_input *in, struct coord_decision *ret)
{
	if (!ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (!in || !in->state || !in->view)
		return -EINVAL;
	if (check_running(in, ret) || check_moot(in, ret) || check_drains(in, ret))
		return 0;
	memset(ret, 0, sizeof(*ret));
	return dispatch(in, ret);
}
