/*
 * The inventory check of SR-IOV on this droverd (docs/SRIOV.md): every
 * node's inventory, as it is delivered, is compared with the VFs the
 * replicated state allocated there (core/vf_check.c, pure), and what two of
 * that node's inventories in a row disagree on is kept for the views
 * (`drover status`, `drover vm list`) and logged loudly by the node whose
 * hypervisor it is (every member checks every node, and one error line per
 * finding is enough). Nothing is changed: a disagreement means the state or
 * the hypervisor is wrong, and the check cannot tell which (vf_check.h).
 *
 * The results are observations, like the inventories they come from: kept
 * per node in the order inventories are delivered, not replicated, not
 * persisted, and dropped when the node's inventory stops being current.
 */
#include <stdio.h>
#include <string.h>

#include "droverd.h"
#include "log.h"
#include "util.h"
#include "vf_check.h"

static struct vf_audit_slot *slot(struct droverd *d, uint32_t node, bool create)
{
	struct vf_audit_slot *free_slot = NULL;

	if (!d->vf_audit) {
		if (!create)
			return NULL;
		d->vf_audit = xcalloc(DROVER_MAX_NODES, sizeof(*d->vf_audit));
	}
	for (size_t i = 0; i < DROVER_MAX_NODES; i++) {
		if (d->vf_audit[i].node_id == node)
			return &d->vf_audit[i];
		if (!free_slot && !d->vf_audit[i].node_id)
			free_slot = &d->vf_audit[i];
	}
	if (!create || !free_slot)
		return NULL;
	free_slot->node_id = node;
	return free_slot;
}

void vf_audit_on_inventory(struct droverd *d, uint32_t from)
{
	struct vf_audit_slot *a = slot(d, from, true);
	struct vf_check_result cur, shown;
	char text[256];

	if (!a)
		return;
	vf_check_node(&d->state, droverd_obs(d, from), &cur);
	vf_check_confirm(a->have_prev ? &a->prev : NULL, &cur, &shown);
	/* Only the hypervisor's own node logs: every member checks every node. */
	for (size_t i = 0; from == d->local_id && i < shown.n; i++) {
		if (a->shown.checked && vf_check_find(&a->shown, shown.issues[i].vm))
			continue;
		vf_check_issue_text(&shown.issues[i], text, sizeof(text));
		log_err(
		    "VF inventory check: %s (the replicated state and this hypervisor disagree; "
		    "nothing is changed: find out which is right)",
		    text);
	}
	if (from == d->local_id && a->shown.checked && a->shown.n && shown.checked && !shown.n)
		log_notice(
		    "VF inventory check: the replicated VFs and this hypervisor agree again");
	a->prev = cur;
	a->have_prev = true;
	a->shown = shown;
	a->at_ms = wall_ms();
}

void vf_audit_forget(struct droverd *d, uint32_t node)
{
	struct vf_audit_slot *a = slot(d, node, false);

	if (a)
		memset(a, 0, sizeof(*a));
}

const struct vf_audit_slot *vf_audit_node(const struct droverd *d, uint32_t node)
{
	const struct node_obs *o = droverd_obs(d, node);

	if (!d->vf_audit || !o || !o->current)
		return NULL;
	for (size_t i = 0; i < DROVER_MAX_NODES; i++)
		if (d->vf_audit[i].node_id == node)
			return d->vf_audit[i].have_prev ? &d->vf_audit[i] : NULL;
	return NULL;
}
