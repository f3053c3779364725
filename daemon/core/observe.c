/*
 * The observation table (see observe.h). Every function here is a function of
 * the delivered stream and the state, nothing else: no clock, no I/O.
 */
#include "observe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct node_obs *obs_slot(struct node_obs *t, uint32_t node_id, bool create)
{
	struct node_obs *free_slot = NULL;

	for (size_t i = 0; node_id && i < OBS_TABLE_SIZE; i++) {
		if (t[i].node_id == node_id)
			return &t[i];
		if (!free_slot && t[i].node_id == 0)
			free_slot = &t[i];
	}
	if (!node_id || !create || !free_slot)
		return NULL;
	free_slot->node_id = node_id;
	return free_slot;
}

const struct node_obs *obs_find(const struct node_obs *t, uint32_t node_id)
{
	for (size_t i = 0; node_id && i < OBS_TABLE_SIZE; i++)
		if (t[i].node_id == node_id)
			return &t[i];
	return NULL;
}

void obs_free(struct node_obs *t)
{
	for (size_t i = 0; i < OBS_TABLE_SIZE; i++) {
		free(t[i].domains);
		free(t[i].touched);
	}
	memset(t, 0, OBS_TABLE_SIZE * sizeof(*t));
}

static bool listed(const uint32_t *ids, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

void obs_on_confchg(struct node_obs *t, const uint32_t *members, size_t n_members,
		    const uint32_t *joined, size_t n_joined, bool self_joined)
{
	for (size_t i = 0; i < OBS_TABLE_SIZE; i++) {
		struct node_obs *o = &t[i];

		if (!o->node_id)
			continue;
		if (self_joined || listed(joined, n_joined, o->node_id) ||
		    !listed(members, n_members, o->node_id))
			o->current = false;
	}
}

void obs_touch(struct node_obs *t, uint32_t node, const char *vm)
{
	struct node_obs *o;

	if (!node || !vm || !*vm || !(o = obs_slot(t, node, true)))
		return;
	for (size_t i = 0; i < o->n_touched; i++)
		if (strcmp(o->touched[i], vm) == 0)
			return;
	/* Bounded by the registry: only registered VMs are touched, once each. */
	if (o->n_touched >= DROVER_MAX_VMS)
		return;
	o->touched = xrealloc(o->touched, (o->n_touched + 1) * sizeof(*o->touched));
	strscpy(o->touched[o->n_touched++], vm, DROVER_VM_NAME_MAX);
}

void obs_on_fenced(struct node_obs *t, uint32_t node)
{
	struct node_obs *o;

	if (!node || !(o = obs_slot(t, node, false)))
		return;
	free(o->touched);
	o->touched = NULL;
	o->n_touched = 0;
}

void obs_touch_state(struct node_obs *t, const struct cluster_state *s)
{
	for (size_t i = 0; i < s->n_jobs; i++) {
		const struct queue_job *o = &s->jobs[i];

		if (state_op_involves(o, o->source))
			obs_touch(t, o->source, o->vm);
		if (o->kind == QUEUE_OP_MIGRATE && state_op_involves(o, o->target))
			obs_touch(t, o->target, o->vm);
	}
}

/* An unfinished operation that involves node may still land vm there. */
static bool in_flight_on(const struct cluster_state *s, uint32_t node, const char *vm)
{
	const struct queue_job *o = state_op_for_vm(s, vm);

	return o && state_op_involves(o, node);
}

int obs_on_inventory(struct node_obs *t, const struct cluster_state *s, uint32_t from,
		     const Drover__NodeInventory *m)
{
	struct node_obs *o = obs_slot(t, from, true);
	const Drover__AgentInventory *inv = m->inventory;
	size_t n = inv ? inv->n_domains : 0, k = 0;

	if (!o)
		return -ENOSPC;
	o->no_hypervisor = m->no_hypervisor;
	if (m->no_hypervisor) {
		/* Known to run nothing we manage: it neither hides VMs nor takes them. */
		o->agent_ok = false;
		o->current = true;
		strscpy(o->agent_error, "no hypervisor (agent disabled by configuration)",
			sizeof(o->agent_error));
		return 0;
	}
	if (!m->agent_ok) {
		/*
		 * No working agent is not "no VMs": keep what it last saw as its
		 * record, so nothing is started twice on the strength of silence.
		 */
		o->agent_ok = false;
		o->current = false;
		strscpy(o->agent_error, m->agent_error ? m->agent_error : "",
			sizeof(o->agent_error));
		return 0;
	}
	if (n > 2 * DROVER_MAX_VMS)
		return -E2BIG;
	for (size_t i = 0; i < s->n_nodes; i++)
		if (s->nodes[i].id == from &&
		    s->nodes[i].fence == DROVER__FENCE_STATE__FENCE_STATE_FENCED) {
			o->reported_after_fence = true;
			o->reported_after_fence_ms = s->nodes[i].fenced_ms;
		}
	free(o->domains);
	o->domains = n ? xcalloc(n, sizeof(*o->domains)) : NULL;
	o->n_domains = 0;
	for (size_t i = 0; i < n; i++) {
		const Drover__AgentDomain *dom = inv->domains[i];

		if (!dom || !dom->name || strscpy(o->domains[o->n_domains].name, dom->name,
						  DROVER_VM_NAME_MAX) < 0)
			continue;
		/* A version too long for the table is shown as none, not cut. */
		if (!dom->guest_agent ||
		    strscpy(o->domains[o->n_domains].guest_agent, dom->guest_agent,
			    OBS_GUEST_AGENT_MAX) < 0)
			o->domains[o->n_domains].guest_agent[0] = '\0';
		/*
		 * Labels too long for the table, or beyond its size, are left
		 * out: no pool device has one (state.h bounds them alike).
		 */
		o->domains[o->n_domains].vf_known = dom->vf_devices_known;
		for (size_t d = 0; d < dom->n_vf_devices; d++) {
			struct obs_domain *od = &o->domains[o->n_domains];

			if (od->n_vf_devices < OBS_VF_DEVICES_MAX && dom->vf_devices[d] &&
			    strscpy(od->vf_devices[od->n_vf_devices], dom->vf_devices[d],
				    DROVER_VF_LABEL_MAX) >= 0)
				od->n_vf_devices++;
		}
		o->domains[o->n_domains++].state = dom->state;
	}
	/*
	 * VMs that may have left it by a migration no job announces (an orphan
	 * attempt): marked on their target, which may run them now, until it
	 * reports again.
	 */
	for (size_t i = 0; i < m->n_departures; i++)
		if (m->departures[i] && m->departures[i]->vm && m->departures[i]->target &&
		    m->departures[i]->target != from && state_vm_find(s, m->departures[i]->vm))
			obs_touch(t, m->departures[i]->target, m->departures[i]->vm);
	o->agent_ok = true;
	o->current = true;
	o->has_record = true;
	strscpy(o->agent_error, m->agent_error ? m->agent_error : "", sizeof(o->agent_error));
	o->memory_mib = inv ? inv->memory_mib : 0;
	o->vcpus = inv ? inv->vcpus : 0;
	/* This report settles every touch whose operation or job is over. */
	for (size_t i = 0; i < o->n_touched; i++)
		if (in_flight_on(s, o->node_id, o->touched[i]))
			memmove(o->touched[k++], o->touched[i], DROVER_VM_NAME_MAX);
	o->n_touched = k;
	return 0;
}

static uint64_t fenced_ms(const struct cluster_state *s, uint32_t id)
{
	for (size_t i = 0; i < s->n_nodes; i++)
		if (s->nodes[i].id == id)
			return s->nodes[i].fenced_ms;
	return 0;
}

int obs_locate(const struct node_obs *t, const struct cluster_state *s, const struct obs_node *nl,
	       size_t n_nl, const uint32_t *members, size_t n_members, const char *vm,
	       struct locate_result *ret)
{
	struct locate_node nodes[OBS_TABLE_SIZE];
	struct locate_domain *doms;
	const char **touched;
	size_t n = 0, n_doms = 0, n_touched = 0, used_d = 0, used_t = 0;
	int r;

	for (size_t i = 0; i < OBS_TABLE_SIZE; i++) {
		n_doms += t[i].node_id ? t[i].n_domains : 0;
		n_touched += t[i].node_id ? t[i].n_touched : 0;
	}
	doms = xcalloc(n_doms ? n_doms : 1, sizeof(*doms));
	touched = xcalloc(n_touched ? n_touched : 1, sizeof(*touched));
	for (size_t i = 0; i < n_nl && n < OBS_TABLE_SIZE; i++) {
		uint32_t id = nl[i].id;
		const struct node_obs *o = obs_find(t, id);
		struct locate_node *ln;
		bool dup = false;

		for (size_t x = 0; x < n; x++)
			dup |= nodes[x].id == id;
		if (dup || !id)
			continue;
		ln = &nodes[n++];
		memset(ln, 0, sizeof(*ln));
		ln->id = id;
		ln->name = nl[i].name ? nl[i].name : "?";
		ln->member = listed(members, n_members, id);
		/*
		 * Fenced and still away: known off. Once it is back it may run
		 * anything (a confirm-off that was wrong, guests that autostart)
		 * until it reports; and once it reported after that fence it ran
		 * VMs drover put there, so leaving again does not make it off:
		 * only a new fence does.
		 */
		ln->holds_nothing =
			(!ln->member && state_node_fence(s, id) == DROVER__FENCE_STATE__FENCE_STATE_FENCED &&
			 !(o && o->reported_after_fence && o->reported_after_fence_ms == fenced_ms(s, id))) ||
			(o && o->no_hypervisor && o->current);
		ln->why_stale = "";
		if (!o)
			continue;
		ln->current = o->current && o->agent_ok;
		ln->has_record = o->has_record;
		ln->why_stale = o->agent_ok ? "" : o->agent_error;
		ln->domains = &doms[used_d];
		for (size_t j = 0; j < o->n_domains; j++) {
			doms[used_d + j].name = o->domains[j].name;
			doms[used_d + j].state = o->domains[j].state;
		}
		ln->n_domains = o->n_domains;
		used_d += o->n_domains;
		ln->touched = &touched[used_t];
		for (size_t j = 0; j < o->n_touched; j++)
			touched[used_t + j] = o->touched[j];
		ln->n_touched = o->n_touched;
		used_t += o->n_touched;
	}
	r = locate_vm(nodes, n, vm, ret);
	free(doms);
	free(touched);
	return r;
}
