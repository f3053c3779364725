/*
 * The inventory check of SR-IOV (see vf_check.h): one pass over a node's
 * last inventory, domain by domain, against its announced pools and the VFs
 * the replicated state holds there. Considered and rejected: comparing the
 * whole cluster at once (each node's inventory arrives on its own, and a
 * node's devices are only its own pools'), and acting on a disagreement (the
 * check sees two sources and cannot tell which one is wrong).
 */
#include "vf_check.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

static const struct node_cfg *node_of(const struct cluster_state *s, uint32_t id)
{
	for (size_t i = 0; i < s->n_nodes; i++)
		if (s->nodes[i].id == id)
			return &s->nodes[i];
	return NULL;
}

/*
 * Whether a pool device's label can be found in a live XML: a template that
 * names neither a PCI address nor a source dev is labelled "deviceN".
 */
static bool label_identifies(const char *label)
{
	size_t n = strlen("device");

	if (strncmp(label, "device", n) != 0 || !label[n])
		return true;
	for (const char *p = label + n; *p; p++)
		if (*p < '0' || *p > '9')
			return true;
	return false;
}

/* Whether label is a device of one of the node's pools. */
static bool is_pool_device(const struct node_cfg *n, const char *label)
{
	for (size_t p = 0; p < n->n_vf_pools; p++)
		for (uint32_t d = 0; d < n->vf_pools[p].n_devices && d < DROVER_MAX_VF_DEVICES; d++)
			if (strcmp(n->vf_pools[p].labels[d], label) == 0)
				return true;
	return false;
}

static void add_issue(struct vf_check_result *r, enum vf_check_kind kind, const char *vm,
		      const char *want, const char *found)
{
	struct vf_check_issue *i;

	if (r->n >= VF_CHECK_MAX) {
		r->n_dropped++;
		return;
	}
	i = &r->issues[r->n++];
	memset(i, 0, sizeof(*i));
	i->kind = kind;
	strscpy(i->vm, vm, sizeof(i->vm));
	strscpy(i->want, want ? want : "", sizeof(i->want));
	strscpy(i->found, found ? found : "", sizeof(i->found));
}

/*
 * The label of the VF vm holds attached on node: 1 and *ret_label, 0 when it
 * holds none there, -1 when the device cannot be recognised in a live XML
 * (its pool is not announced, the device is beyond it, or its template has
 * no identifier).
 */
static int held_label(const struct cluster_state *s, const struct vm_cfg *v, uint32_t node,
		      const char **ret_label)
{
	const struct vf_pool *pool;
	const char *label;

	if (!v || v->vf.node != node || !v->vf.attached)
		return 0;
	pool = state_vf_pool(s, node, v->vf.pool);
	if (!pool || v->vf.device < 1 || v->vf.device > pool->n_devices ||
	    v->vf.device > DROVER_MAX_VF_DEVICES)
		return -1;
	label = pool->labels[v->vf.device - 1];
	if (!label_identifies(label))
		return -1;
	*ret_label = label;
	return 1;
}

void vf_check_node(const struct cluster_state *s, const struct node_obs *o,
		   struct vf_check_result *ret)
{
	const struct node_cfg *n = o ? node_of(s, o->node_id) : NULL;

	memset(ret, 0, sizeof(*ret));
	if (!o || !n || !o->current || !o->agent_ok || o->no_hypervisor)
		return;
	for (size_t k = 0; k < o->n_domains; k++) {
		const struct obs_domain *d = &o->domains[k];
		const struct vm_cfg *v;
		const char *want = NULL, *found = NULL;
		bool want_found = false;
		int held;

		if (d->state != DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING)
			continue;
		if (!d->vf_known) {
			ret->n_unreported++;
			continue;
		}
		v = state_vm_find(s, d->name);
		if (v && state_op_for_vm(s, v->name)) {
			ret->n_in_flight++;
			continue;
		}
		held = held_label(s, v, o->node_id, &want);
		if (held < 0)
			continue;
		ret->n_checked++;
		for (uint32_t i = 0; i < d->n_vf_devices && i < OBS_VF_DEVICES_MAX; i++) {
			const char *label = d->vf_devices[i];

			if (!is_pool_device(n, label))
				continue;
			if (want && strcmp(label, want) == 0) {
				want_found = true;
				continue;
			}
			/*
			 * The first pool device that is not the one allocated is
			 * "the other device" when the allocated one is missing;
			 * every further one is a device it should not have.
			 */
			if (want && !found) {
				found = label;
				continue;
			}
			add_issue(ret, VF_CHECK_UNALLOCATED, d->name, "", label);
		}
		if (want && !want_found)
			add_issue(ret, found ? VF_CHECK_OTHER_DEVICE : VF_CHECK_ABSENT, d->name,
				  want, found);
		else if (want && found)
			add_issue(ret, VF_CHECK_UNALLOCATED, d->name, "", found);
	}
	/*
	 * A node that runs nothing agrees (nothing runs with a VF there); one
	 * whose plugin does not report devices was not checked at all.
	 */
	ret->checked = ret->n_unreported == 0;
}

static bool same_issue(const struct vf_check_issue *a, const struct vf_check_issue *b)
{
	return a->kind == b->kind && strcmp(a->vm, b->vm) == 0 && strcmp(a->want, b->want) == 0 &&
	       strcmp(a->found, b->found) == 0;
}

void vf_check_confirm(const struct vf_check_result *prev, const struct vf_check_result *cur,
		      struct vf_check_result *ret)
{
	struct vf_check_result r = *cur;

	r.n = 0;
	for (size_t i = 0; i < cur->n; i++)
		for (size_t k = 0; prev && k < prev->n; k++)
			if (same_issue(&cur->issues[i], &prev->issues[k])) {
				r.issues[r.n++] = cur->issues[i];
				break;
			}
	*ret = r;
}

void vf_check_issue_text(const struct vf_check_issue *i, char *buf, size_t len)
{
	switch (i->kind) {
	case VF_CHECK_ABSENT:
		snprintf(buf, len, "%s: VF '%s' allocated, absent from the live XML", i->vm,
			 i->want);
		break;
	case VF_CHECK_UNALLOCATED:
		snprintf(buf, len, "%s: VF '%s' in the live XML, not allocated to it", i->vm,
			 i->found);
		break;
	case VF_CHECK_OTHER_DEVICE:
		snprintf(buf, len, "%s: VF '%s' allocated, the live XML has '%s'", i->vm, i->want,
			 i->found);
		break;
	default:
		snprintf(buf, len, "%s: VF check", i->vm);
		break;
	}
}

const struct vf_check_issue *vf_check_find(const struct vf_check_result *r, const char *vm)
{
	for (size_t i = 0; r && i < r->n; i++)
		if (strcmp(r->issues[i].vm, vm) == 0)
			return &r->issues[i];
	return NULL;
}
