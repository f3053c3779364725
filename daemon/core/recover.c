/*
 * Failover decisions (see recover.h). One pass over the registry in name
 * order settles what the hypervisors show against what the state says
 * (REC_PLACE, REC_DESTROY) and collects the recovery candidates; a second
 * pass places them by priority, preempting when nothing fits.
 */
#include "recover.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *rec_kind_name(enum rec_kind k)
{
	switch (k) {
	case REC_START:
		return "start";
	case REC_PREEMPT:
		return "preempt";
	case REC_DESTROY:
		return "destroy";
	case REC_PLACE:
		return "place";
	case REC_WAIT:
		return "wait";
	case REC_VF_ATTACH:
		return "vf-attach";
	}
	return "?";
}

struct rec_ctx {
	const struct rec_view *v;
	struct rec_action *out;
	size_t max, n;
	/* Per node (index into v->nodes): planned this round on top of the load. */
	uint64_t plan_mib[DROVER_MAX_NODES];
	uint32_t plan_vcpus[DROVER_MAX_NODES];
	uint32_t starts[DROVER_MAX_NODES];
	uint32_t plan_vf[DROVER_MAX_NODES]; /* starts planned of VMs that ask for a VF */
	uint64_t plan_sa[DROVER_MAX_NODES]; /* their IPsec SAs */
	bool preempting; /* a preemption is under way or planned */
};

static struct rec_action *emit(struct rec_ctx *c, enum rec_kind k, const char *vm, uint32_t node)
{
	struct rec_action *a;

	if (c->n >= c->max)
		return NULL;
	a = &c->out[c->n++];
	memset(a, 0, sizeof(*a));
	a->kind = k;
	strscpy(a->vm, vm, sizeof(a->vm));
	a->node = node;
	return a;
}

static void place(struct rec_ctx *c, const char *vm, uint32_t owner, Drover__VmWant want,
		  const char *reason)
{
	struct rec_action *a = emit(c, REC_PLACE, vm, owner);

	if (!a)
		return;
	a->owner = owner;
	a->want = want;
	strscpy(a->reason, reason ? reason : "", sizeof(a->reason));
}

static ssize_t node_index(const struct rec_view *v, uint32_t id)
{
	for (size_t i = 0; i < v->n_nodes; i++)
		if (v->nodes[i].id == id)
			return (ssize_t)i;
	return -1;
}

static bool busy(const struct cluster_state *s, const char *vm)
{
	return state_op_for_vm(s, vm) != NULL;
}

/* A VM with several running copies: keep the owner's (else the first), destroy one other. */
static void resolve_copies(struct rec_ctx *c, const struct vm_cfg *vm, const struct locate_result *l)
{
	uint32_t keep = l->node_id;
	uint32_t drop = 0;

	for (size_t i = 0; i < l->n_also; i++)
		if (l->also[i] == vm->owner)
			keep = vm->owner;
	if (keep != l->node_id)
		drop = l->node_id;
	else if (l->n_also)
		drop = l->also[0];
	if (!drop)
		return;
	emit(c, REC_DESTROY, vm->name, drop);
	if (vm->owner != keep || vm->want != DROVER__VM_WANT__VM_WANT_RUNNING)
		place(c, vm->name, keep, DROVER__VM_WANT__VM_WANT_RUNNING,
		      "found running on several nodes; this copy kept");
}

/*
 * A VM that runs on its owner without the VF it asks for gets one of its
 * pool there when one is free; the allocation itself is the VmAction's, at
 * apply time (state_vf.c).
 */
static void repair_vf(struct rec_ctx *c, const struct vm_cfg *vm)
{
	char buf[DROVER_REASON_MAX];
	ssize_t k = node_index(c->v, vm->owner);

	if (!state_vf_degraded(vm, buf, sizeof(buf)) || vm->vf_error[0] || k < 0 ||
	    !c->v->nodes[k].usable || !state_vf_pick(c->v->state, vm->owner, vm->vf_pool))
		return;
	emit(c, REC_VF_ATTACH, vm->name, vm->owner);
}

/* Settle one VM's record against its location; true if it is a recovery candidate. */
static bool settle(struct rec_ctx *c, const struct vm_cfg *vm, const struct locate_result *l)
{
	char why[DROVER_REASON_MAX];

	switch (l->state) {
	case LOCATE_UNKNOWN:
		return false;
	case LOCATE_RUNNING:
		if (l->paused_only)
			return false; /* a migration's incoming copy, or a paused guest: leave it */
		if (l->n_also) {
			resolve_copies(c, vm, l);
			return false;
		}
		if (vm->owner != l->node_id || vm->want != DROVER__VM_WANT__VM_WANT_RUNNING)
			place(c, vm->name, l->node_id, DROVER__VM_WANT__VM_WANT_RUNNING, "");
		else
			repair_vf(c, vm);
		return false;
	case LOCATE_FAILED:
		if (vm->owner || vm->want == DROVER__VM_WANT__VM_WANT_UNSPECIFIED) {
			snprintf(why, sizeof(why), "crashed on node %u; restarting", l->node_id);
			place(c, vm->name, 0, DROVER__VM_WANT__VM_WANT_RUNNING, why);
			return false;
		}
		break;
	case LOCATE_STOPPED:
		if (vm->owner) {
			snprintf(why, sizeof(why), "stopped outside drover on node %u", vm->owner);
			place(c, vm->name, 0, DROVER__VM_WANT__VM_WANT_STOPPED, why);
			return false;
		}
		break;
	}
	if (vm->owner || vm->priority == DROVER__VM_PRIORITY__VM_PRIORITY_NONE)
		return false;
	return vm->want == DROVER__VM_WANT__VM_WANT_RUNNING ||
	       vm->want == DROVER__VM_WANT__VM_WANT_PREEMPTED;
}

static int cand_cmp(const void *a, const void *b)
{
	const struct vm_cfg *x = *(const struct vm_cfg *const *)a;
	const struct vm_cfg *y = *(const struct vm_cfg *const *)b;
	bool xp = x->want == DROVER__VM_WANT__VM_WANT_PREEMPTED;
	bool yp = y->want == DROVER__VM_WANT__VM_WANT_PREEMPTED;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	if (xp != yp)
		return xp ? 1 : -1;
	return strcmp(x->name, y->name);
}

static uint64_t free_mib(const struct rec_ctx *c, size_t i)
{
	const struct rec_node *n = &c->v->nodes[i];
	uint64_t used = n->load_mib + c->plan_mib[i];

	return used >= n->memory_mib ? 0 : n->memory_mib - used;
}

static bool vcpus_fit(const struct rec_ctx *c, size_t i, uint32_t vcpus)
{
	const struct rec_node *n = &c->v->nodes[i];

	return (uint64_t)n->load_vcpus + c->plan_vcpus[i] + vcpus <=
	       (uint64_t)n->vcpus * REC_VCPU_RATIO;
}

/* Whether node i has a VF of vm's pool left after this round's planned starts. */
static bool vf_left(const struct rec_ctx *c, const struct vm_cfg *vm, size_t i)
{
	return vm->vf_pool[0] &&
	       state_vf_free(c->v->state, c->v->nodes[i].id, vm->vf_pool) > c->plan_vf[i];
}

/* Whether node i can offload vm's IPsec SAs besides what runs and is planned there. */
static bool sa_left(const struct rec_ctx *c, const struct vm_cfg *vm, size_t i)
{
	uint32_t id = c->v->nodes[i].id;

	return vm->ipsec_offload_sa &&
	       state_sa_used(c->v->state, id) + c->plan_sa[i] + vm->ipsec_offload_sa <=
		       state_sa_capacity(c->v->state, id);
}

/* A free VF first, then spare SA capacity, then the most free memory (ties: lowest id). */
static bool better(const struct rec_ctx *c, const struct vm_cfg *vm, size_t a, size_t b)
{
	if (vf_left(c, vm, a) != vf_left(c, vm, b))
		return vf_left(c, vm, a);
	if (sa_left(c, vm, a) != sa_left(c, vm, b))
		return sa_left(c, vm, a);
	return free_mib(c, a) > free_mib(c, b);
}

/* The node that takes vm now (see better()); -1 if none. */
static ssize_t choose(const struct rec_ctx *c, const struct vm_cfg *vm, bool *throttled)
{
	uint32_t max_starts = c->v->max_starts ? c->v->max_starts : 1;
	ssize_t best = -1;

	*throttled = false;
	for (size_t i = 0; i < c->v->n_nodes; i++) {
		const struct rec_node *n = &c->v->nodes[i];

		if (!n->usable || !n->memory_mib || free_mib(c, i) < vm->memory_mib ||
		    !vcpus_fit(c, i, vm->vcpus))
			continue;
		if (c->starts[i] >= max_starts) {
			*throttled = true;
			continue;
		}
		if (best < 0 || better(c, vm, i, (size_t)best))
			best = (ssize_t)i;
	}
	return best;
}

/* A VM that may be stopped to make room on node `id`: running there, owned, idle. */
static bool victim_ok(const struct rec_ctx *c, const struct vm_cfg *w, uint32_t id,
		      const struct vm_cfg *for_vm)
{
	struct locate_result l;

	if (w->owner != id || w->want != DROVER__VM_WANT__VM_WANT_RUNNING ||
	    w->priority <= for_vm->priority || busy(c->v->state, w->name))
		return false;
	if (c->v->locate(c->v->locate_ctx, w->name, &l) < 0)
		return false;
	return l.state == LOCATE_RUNNING && l.node_id == id && !l.n_also && !l.paused_only;
}

static int victim_cmp(const void *a, const void *b)
{
	const struct vm_cfg *x = *(const struct vm_cfg *const *)a;
	const struct vm_cfg *y = *(const struct vm_cfg *const *)b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	if (x->memory_mib != y->memory_mib)
		return x->memory_mib > y->memory_mib ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * Plan the stops that make room for vm on one node: the node needing the
 * fewest victims (then the lowest id). Returns true if one was planned.
 */
static bool preempt(struct rec_ctx *c, const struct vm_cfg *vm)
{
	const struct cluster_state *s = c->v->state;
	const struct vm_cfg **vics = xcalloc(s->n_vms + 1, sizeof(*vics));
	const struct vm_cfg **best = xcalloc(s->n_vms + 1, sizeof(*best));
	size_t n_best = 0;
	uint32_t best_node = 0;
	bool found = false;

	for (size_t i = 0; i < c->v->n_nodes; i++) {
		const struct rec_node *n = &c->v->nodes[i];
		uint64_t room = free_mib(c, i);
		uint32_t vcpus_freed = 0;
		size_t nv = 0, take = 0;

		if (!n->usable || !n->memory_mib || n->memory_mib < vm->memory_mib)
			continue;
		for (size_t k = 0; k < s->n_vms; k++)
			if (victim_ok(c, &s->vms[k], n->id, vm))
				vics[nv++] = &s->vms[k];
		qsort(vics, nv, sizeof(*vics), victim_cmp);
		while (take < nv && (room < vm->memory_mib ||
				     !vcpus_fit(c, i, vm->vcpus > vcpus_freed ? vm->vcpus - vcpus_freed : 0))) {
			room += vics[take]->memory_mib;
			vcpus_freed += vics[take]->vcpus;
			take++;
		}
		if (room < vm->memory_mib || !take)
			continue;
		if (!found || take < n_best) {
			found = true;
			n_best = take;
			best_node = n->id;
			memcpy(best, vics, take * sizeof(*best));
		}
	}
	for (size_t k = 0; found && k < n_best; k++) {
		struct rec_action *a = emit(c, REC_PREEMPT, best[k]->name, best_node);

		if (a)
			strscpy(a->for_vm, vm->name, sizeof(a->for_vm));
	}
	free(vics);
	free(best);
	return found;
}

static void wait_for(struct rec_ctx *c, const struct vm_cfg *vm, const char *reason)
{
	struct rec_action *a = emit(c, REC_WAIT, vm->name, 0);

	if (a)
		strscpy(a->reason, reason, sizeof(a->reason));
}

int recover_decide(const struct rec_view *v, struct rec_action *out, size_t max)
{
	const struct cluster_state *s;
	const struct vm_cfg **cand;
	size_t n_cand = 0;
	struct rec_ctx *c;
	int n;

	if (!v || !v->state || !v->locate || (max && !out) || v->n_nodes > DROVER_MAX_NODES)
		return -EINVAL;
	s = v->state;
	c = xcalloc(1, sizeof(*c));
	c->v = v;
	c->out = out;
	c->max = max;
	/* Starts and preemptions under way count against this round. */
	for (size_t i = 0; i < s->n_jobs; i++) {
		const struct queue_job *o = &s->jobs[i];
		const struct vm_cfg *vm = state_vm_find(s, o->vm);
		ssize_t k = node_index(v, o->source);

		if (o->state != QUEUE_JOB_RUNNING)
			continue;
		if (o->kind == QUEUE_OP_STOP && o->origin == DROVER__JOB_ORIGIN__JOB_ORIGIN_PREEMPT)
			c->preempting = true;
		if (o->kind != QUEUE_OP_START || k < 0 || !vm)
			continue;
		c->starts[k]++;
		c->plan_mib[k] += vm->memory_mib;
		c->plan_vcpus[k] += vm->vcpus;
	}
	cand = xcalloc(s->n_vms + 1, sizeof(*cand));
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct vm_cfg *vm = &s->vms[i];
		struct locate_result l;

		if (busy(s, vm->name))
			continue;
		if (v->locate(v->locate_ctx, vm->name, &l) < 0)
			continue;
		if (settle(c, vm, &l))
			cand[n_cand++] = vm;
	}
	qsort(cand, n_cand, sizeof(*cand), cand_cmp);
	for (size_t i = 0; i < n_cand; i++) {
		const struct vm_cfg *vm = cand[i];
		bool throttled;
		ssize_t k = choose(c, vm, &throttled);

		if (k >= 0) {
			emit(c, REC_START, vm->name, v->nodes[k].id);
			c->plan_vf[k] += vm->vf_pool[0] != '\0';
			c->plan_sa[k] += vm->ipsec_offload_sa;
			c->starts[k]++;
			c->plan_mib[k] += vm->memory_mib;
			c->plan_vcpus[k] += vm->vcpus;
		} else if (throttled) {
			wait_for(c, vm, "waiting: every node with room has its starts under way");
		} else if (c->preempting) {
			wait_for(c, vm, "waiting for preempted VMs to stop");
		} else if (preempt(c, vm)) {
			c->preempting = true;
			wait_for(c, vm, "waiting for lower-priority VMs to stop to make room");
		} else {
			char why[DROVER_REASON_MAX];

			snprintf(why, sizeof(why), "no usable node has %llu MiB free",
				 (unsigned long long)vm->memory_mib);
			wait_for(c, vm, why);
		}
	}
	n = (int)c->n;
	free(cand);
	free(c);
	return n;
}
