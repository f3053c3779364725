/*
 * Recovery rows for the views (see recover_view.h): the state says what is
 * under way and which VMs wait for a fence; the round's actions say why the
 * others wait and which start next.
 */
#include "recover_view.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *rec_row_state_name(enum rec_row_state st)
{
	switch (st) {
	case REC_ROW_FENCING:
		return "fencing";
	case REC_ROW_WAITING:
		return "waiting";
	case REC_ROW_PLANNED:
		return "planned";
	case REC_ROW_STARTING:
		return "starting";
	case REC_ROW_PREEMPTING:
		return "preempting";
	}
	return "?";
}

struct rows {
	struct rec_row *r;
	size_t n, cap;
};

/* The row of vm, new if it has none: a VM shows once, whatever says it first. */
static struct rec_row *row(struct rows *rs, const struct cluster_state *s, const char *vm,
			   bool *fresh)
{
	const struct vm_cfg *v = state_vm_find(s, vm);
	struct rec_row *r;

	for (size_t i = 0; i < rs->n; i++)
		if (strcmp(rs->r[i].vm, vm) == 0) {
			*fresh = false;
			return &rs->r[i];
		}
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 16;
		rs->r = xrealloc(rs->r, rs->cap * sizeof(*rs->r));
	}
	r = &rs->r[rs->n++];
	memset(r, 0, sizeof(*r));
	strscpy(r->vm, vm, sizeof(r->vm));
	r->priority = v ? v->priority : DROVER__VM_PRIORITY__VM_PRIORITY_NONE;
	r->from = v ? v->lost_from : 0;
	*fresh = true;
	return r;
}

static bool wants_back(const struct vm_cfg *v)
{
	return v->priority != DROVER__VM_PRIORITY__VM_PRIORITY_NONE &&
	       (v->want == DROVER__VM_WANT__VM_WANT_RUNNING ||
		v->want == DROVER__VM_WANT__VM_WANT_PREEMPTED);
}

static int row_cmp(const void *a, const void *b)
{
	const struct rec_row *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return strcmp(x->vm, y->vm);
}

int recover_rows(const struct cluster_state *s, const struct rec_action *acts, size_t n_acts,
		 struct rec_row **ret)
{
	struct rows rs = { 0 };
	struct rec_row *r;
	bool fresh;

	if (!s || !ret || (n_acts && !acts))
		return -EINVAL;
	*ret = NULL;
	/* Under way: a failover's restarts and the preemptions' stops. */
	for (size_t i = 0; i < s->n_jobs; i++) {
		const struct queue_job *j = &s->jobs[i];

		if (j->state != QUEUE_JOB_RUNNING)
			continue;
		if (j->kind == QUEUE_OP_START && j->origin == DROVER__JOB_ORIGIN__JOB_ORIGIN_RECOVERY) {
			r = row(&rs, s, j->vm, &fresh);
			r->state = REC_ROW_STARTING;
			if (j->lost_from)
				r->from = j->lost_from;
		} else if (j->kind == QUEUE_OP_STOP &&
			   j->origin == DROVER__JOB_ORIGIN__JOB_ORIGIN_PREEMPT) {
			r = row(&rs, s, j->vm, &fresh);
			r->state = REC_ROW_PREEMPTING;
			strscpy(r->for_vm, j->for_vm, sizeof(r->for_vm));
		} else {
			continue;
		}
		r->to = j->source;
		r->since_ms = j->started_ms;
	}
	/* Waiting for a fence: owned by a lost node that is not fenced yet. */
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct vm_cfg *v = &s->vms[i];
		const struct node_cfg *nc = v->owner ? state_node_find(s, v->owner) : NULL;

		if (!nc || !wants_back(v) ||
		    (nc->fence != DROVER__FENCE_STATE__FENCE_STATE_PENDING &&
		     nc->fence != DROVER__FENCE_STATE__FENCE_STATE_FAILED))
			continue;
		r = row(&rs, s, v->name, &fresh);
		if (!fresh)
			continue;
		r->state = REC_ROW_FENCING;
		r->from = v->owner;
		r->since_ms = nc->lost_ms;
		if (nc->fence == DROVER__FENCE_STATE__FENCE_STATE_FAILED)
			strscpy(r->reason, nc->fence_error, sizeof(r->reason));
	}
	/* This round's decisions (they never name a VM with an operation under way). */
	for (size_t i = 0; i < n_acts; i++) {
		const struct rec_action *a = &acts[i];

		if (a->kind != REC_WAIT && a->kind != REC_START && a->kind != REC_PREEMPT)
			continue;
		r = row(&rs, s, a->vm, &fresh);
		if (!fresh)
			continue;
		switch (a->kind) {
		case REC_WAIT:
			r->state = REC_ROW_WAITING;
			strscpy(r->reason, a->reason, sizeof(r->reason));
			break;
		case REC_START:
			r->state = REC_ROW_PLANNED;
			r->to = a->node;
			break;
		default:
			r->state = REC_ROW_PREEMPTING;
			r->to = a->node;
			strscpy(r->for_vm, a->for_vm, sizeof(r->for_vm));
			break;
		}
	}
	if (rs.n)
		qsort(rs.r, rs.n, sizeof(*rs.r), row_cmp);
	*ret = rs.r;
	return (int)rs.n;
}
