/*
 * The coordinator's input from a member's observations (see coord_input.h).
 * These were drain.c's own until the simulator needed the very same input:
 * a re-enactment there could drift from what droverd decides on (it counted
 * a fixed 512 MiB per guest and no vCPUs), so both call these now.
 */
#include "coord_input.h"

#include <string.h>

#include "locate.h"

/* dom, on node, is the paused copy a running migration brings in. */
static bool incoming_copy(const struct cluster_state *s, uint32_t node, const struct obs_domain *dom)
{
	const struct queue_job *j;

	if (dom->state != DROVER__VM_RUN_STATE__VM_RUN_STATE_PAUSED)
		return false;
	j = state_op_for_vm(s, dom->name);
	return j && j->kind == QUEUE_OP_MIGRATE && j->state == QUEUE_JOB_RUNNING && j->target == node;
}

static bool listed(const struct node_obs *o, const char *vm)
{
	for (size_t i = 0; i < o->n_domains; i++)
		if (strcmp(o->domains[i].name, vm) == 0)
			return true;
	return false;
}

void coord_input_room(const struct cluster_state *s, const struct node_obs *o,
		      uint64_t *ret_free_mib, uint32_t *ret_free_vcpus)
{
	uint64_t used_mib = 0, used_vcpus = 0, cap_vcpus;

	for (size_t j = 0; o && j < o->n_domains; j++) {
		const struct vm_cfg *vc = state_vm_find(s, o->domains[j].name);

		if (vc && locate_state_active(o->domains[j].state) &&
		    !incoming_copy(s, o->node_id, &o->domains[j])) {
			used_mib += vc->memory_mib;
			used_vcpus += vc->vcpus;
		}
	}
	/*
	 * A VM an operation may have put here since the report (touched, not
	 * listed) may hold its memory already: a migration that just ended
	 * here, before this node reported again, or a start. It counts, but for
	 * a migration still running here, which the queue counts itself.
	 */
	for (size_t t = 0; o && t < o->n_touched; t++) {
		const struct vm_cfg *vc = state_vm_find(s, o->touched[t]);
		const struct queue_job *j = state_op_for_vm(s, o->touched[t]);

		if (!vc || listed(o, o->touched[t]) ||
		    (j && j->kind == QUEUE_OP_MIGRATE && j->state == QUEUE_JOB_RUNNING && j->target == o->node_id))
			continue;
		used_mib += vc->memory_mib;
		used_vcpus += vc->vcpus;
	}
	*ret_free_mib = o && o->memory_mib > used_mib ? o->memory_mib - used_mib : 0;
	cap_vcpus = o ? (uint64_t)o->vcpus * COORD_VCPU_OVERCOMMIT : 0;
	*ret_free_vcpus = cap_vcpus > used_vcpus ? (uint32_t)(cap_vcpus - used_vcpus) : 0;
}

void coord_input_load(const struct cluster_state *s, const struct node_obs *o,
		      uint64_t *ret_mib, uint32_t *ret_vcpus)
{
	uint64_t mib = 0, vcpus = 0;

	for (size_t j = 0; o && j < o->n_domains; j++) {
		const struct vm_cfg *vc = state_vm_find(s, o->domains[j].name);

		if (vc && locate_state_active(o->domains[j].state)) {
			mib += vc->memory_mib;
			vcpus += vc->vcpus;
		}
	}
	for (size_t t = 0; o && t < o->n_touched; t++) {
		const struct vm_cfg *vc = state_vm_find(s, o->touched[t]);

		if (!vc || listed(o, o->touched[t]))
			continue;
		mib += vc->memory_mib;
		vcpus += vc->vcpus;
	}
	*ret_mib = mib;
	*ret_vcpus = vcpus > UINT32_MAX ? UINT32_MAX : (uint32_t)vcpus;
}

bool coord_input_may_receive(const struct cluster_state *s, uint32_t id)
{
	return state_node_get(s, id) == DROVER__NODE_STATE__NODE_STATE_ACTIVE &&
	       state_node_fence(s, id) == DROVER__FENCE_STATE__FENCE_STATE_NONE;
}

size_t coord_input_n_names(const struct node_obs *t)
{
	size_t n = 0;

	for (size_t i = 0; i < OBS_TABLE_SIZE; i++)
		n += t[i].node_id ? t[i].n_domains + t[i].n_touched : 0;
	return n;
}

static bool id_listed(const uint32_t *ids, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

size_t coord_input_nodes(const struct node_obs *t, const uint32_t *members, size_t n_members,
			 struct coord_node *ret, size_t max, const char **names)
{
	size_t n = 0, used = 0;

	for (size_t i = 0; i < OBS_TABLE_SIZE && n < max; i++) {
		const struct node_obs *o = &t[i];
		struct coord_node *c;

		if (!o->node_id)
			continue;
		c = &ret[n++];
		memset(c, 0, sizeof(*c));
		c->id = o->node_id;
		c->member = id_listed(members, n_members, o->node_id);
		c->agent_ok = o->agent_ok;
		c->vms = &names[used];
		for (size_t k = 0; k < o->n_domains; k++)
			if (locate_state_active(o->domains[k].state))
				names[used + c->n_vms++] = o->domains[k].name;
		used += c->n_vms;
		c->stale = !o->current;
		c->touched = &names[used];
		for (size_t k = 0; k < o->n_touched; k++)
			names[used + c->n_touched++] = o->touched[k];
		used += c->n_touched;
	}
	/* A member whose agent never reported still counts: as a node that sees nothing. */
	for (size_t i = 0; i < n_members && n < max; i++) {
		bool seen = false;

		for (size_t k = 0; k < n; k++)
			seen |= ret[k].id == members[i];
		if (!seen)
			ret[n++] = (struct coord_node){ .id = members[i], .member = true };
	}
	return n;
}

size_t coord_input_busy(const struct cluster_state *s, const char **ret, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_jobs && n < max; i++)
		if (s->jobs[i].kind != QUEUE_OP_MIGRATE && s->jobs[i].state == QUEUE_JOB_RUNNING)
			ret[n++] = s->jobs[i].vm;
	return n;
}
