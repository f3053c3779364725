/*
 * Replicated cluster state (see state.h). Invariants: nodes[] sorted by id,
 * ids unique and non-zero, epoch incremented exactly once per change.
 *
 * A message that would not change anything (setting a node to the state it
 * already has) leaves the epoch alone, so the epoch counts real changes and a
 * retried command does not make this node's copy look newer than its peers'.
 */
#include "state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vmxml.h"

void state_init(struct cluster_state *s)
{
	memset(s, 0, sizeof(*s));
}

void state_free(struct cluster_state *s)
{
	for (size_t i = 0; i < s->n_vms; i++)
		free(s->vms[i].xml);
	free(s->vms);
	state_init(s);
}

void state_copy(const struct cluster_state *src, struct cluster_state *ret)
{
	*ret = *src;
	ret->vms = NULL;
	if (src->n_vms) {
		ret->vms = xcalloc(src->n_vms, sizeof(*ret->vms));
		for (size_t i = 0; i < src->n_vms; i++) {
			ret->vms[i] = src->vms[i];
			ret->vms[i].xml = xstrdup(src->vms[i].xml);
		}
	}
}

static ssize_t vm_index(const struct cluster_state *s, const char *name)
{
	for (size_t i = 0; i < s->n_vms; i++)
		if (strcmp(s->vms[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

const struct vm_cfg *state_vm_find(const struct cluster_state *s, const char *name)
{
	ssize_t i = vm_index(s, name);

	return i < 0 ? NULL : &s->vms[i];
}

static uint64_t fnv1a(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Strings are hashed with their terminating NUL, so "ab"+"c" != "a"+"bc". */
static uint64_t fnv1a_str(uint64_t h, const char *p)
{
	do {
		h ^= (unsigned char)*p;
		h *= 0x100000001b3ull;
	} while (*p++);
	return h;
}

uint64_t state_hash(const struct cluster_state *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = fnv1a(h, s->epoch);
	h = fnv1a(h, s->n_nodes);
	for (size_t i = 0; i < s->n_nodes; i++) {
		h = fnv1a(h, s->nodes[i].id);
		h = fnv1a(h, (uint64_t)s->nodes[i].state);
	}
	h = fnv1a(h, s->n_vms);
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct vm_cfg *v = &s->vms[i];

		h = fnv1a_str(h, v->name);
		h = fnv1a_str(h, v->xml);
		h = fnv1a(h, (uint64_t)v->priority);
		h = fnv1a(h, v->memory_mib);
		h = fnv1a(h, v->vcpus);
		h = fnv1a(h, v->home_node);
	}
	return h;
}

static bool state_valid(int st)
{
	return st >= DROVER__NODE_STATE__NODE_STATE_ACTIVE &&
	       st <= DROVER__NODE_STATE__NODE_STATE_FENCED;
}

bool state_operator_settable(Drover__NodeState st)
{
	return st == DROVER__NODE_STATE__NODE_STATE_ACTIVE ||
	       st == DROVER__NODE_STATE__NODE_STATE_MAINTENANCE;
}

static struct node_cfg *find(struct cluster_state *s, uint32_t id)
{
	for (size_t i = 0; i < s->n_nodes; i++)
		if (s->nodes[i].id == id)
			return &s->nodes[i];
	return NULL;
}

Drover__NodeState state_node_get(const struct cluster_state *s, uint32_t id)
{
	struct node_cfg *n = find((struct cluster_state *)s, id);

	return n ? n->state : DROVER__NODE_STATE__NODE_STATE_ACTIVE;
}

/* Insert keeping nodes[] sorted; returns the new entry or NULL when full. */
static struct node_cfg *insert(struct cluster_state *s, uint32_t id)
{
	size_t i;

	if (s->n_nodes == DROVER_MAX_NODES)
		return NULL;
	for (i = s->n_nodes; i > 0 && s->nodes[i - 1].id > id; i--)
		s->nodes[i] = s->nodes[i - 1];
	s->nodes[i].id = id;
	s->nodes[i].state = DROVER__NODE_STATE__NODE_STATE_ACTIVE;
	s->n_nodes++;
	return &s->nodes[i];
}

static int apply_set_node_state(struct cluster_state *s, const Drover__SetNodeState *m)
{
	struct node_cfg *n;

	if (!m || m->node_id == 0 || !state_valid(m->state))
		return -EINVAL;
	n = find(s, m->node_id);
	if (!n) {
		if (m->state == DROVER__NODE_STATE__NODE_STATE_ACTIVE)
			return 0;
		n = insert(s, m->node_id);
		if (!n)
			return -ENOSPC;
	} else if (n->state == m->state) {
		return 0;
	}
	n->state = m->state;
	s->epoch++;
	return 1;
}

static bool priority_valid(int p)
{
	return p >= DROVER__VM_PRIORITY__VM_PRIORITY_HIGH &&
	       p <= DROVER__VM_PRIORITY__VM_PRIORITY_NONE;
}

/*
 * Validate a VmConfig from the wire: every member runs the same checks on the
 * same bytes, so all accept or all refuse. The XML must agree with the
 * memory/vCPU figures it carries, so a peer cannot register a VM whose size
 * placement would misjudge.
 */
static int vm_from_proto(const Drover__VmConfig *m, struct vm_cfg *ret)
{
	struct vm_xml_info info;
	char err[256];

	if (!m || !m->name || !m->xml || !vmxml_valid_name(m->name) ||
	    !priority_valid(m->priority))
		return -EINVAL;
	if (vmxml_parse(m->xml, strlen(m->xml), &info, err, sizeof(err)) < 0 ||
	    strcmp(info.name, m->name) != 0 || info.memory_mib != m->memory_mib ||
	    info.vcpus != m->vcpus)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	strscpy(ret->name, m->name, sizeof(ret->name));
	ret->priority = m->priority;
	ret->memory_mib = m->memory_mib;
	ret->vcpus = m->vcpus;
	ret->home_node = m->home_node;
	ret->xml = xstrdup(m->xml);
	return 0;
}

static void vm_insert(struct cluster_state *s, struct vm_cfg *v)
{
	size_t i;

	s->vms = xrealloc(s->vms, (s->n_vms + 1) * sizeof(*s->vms));
	for (i = s->n_vms; i > 0 && strcmp(s->vms[i - 1].name, v->name) > 0; i--)
		s->vms[i] = s->vms[i - 1];
	s->vms[i] = *v;
	s->n_vms++;
}

static int apply_vm_add(struct cluster_state *s, const Drover__VmAdd *m)
{
	struct vm_cfg v;
	int r;

	if (!m)
		return -EINVAL;
	r = vm_from_proto(m->vm, &v);
	if (r < 0)
		return r;
	if (vm_index(s, v.name) >= 0) {
		free(v.xml);
		return -EEXIST;
	}
	if (s->n_vms >= DROVER_MAX_VMS) {
		free(v.xml);
		return -ENOSPC;
	}
	vm_insert(s, &v);
	s->epoch++;
	return 1;
}

static int apply_vm_remove(struct cluster_state *s, const Drover__VmRemove *m)
{
	ssize_t i;

	if (!m || !m->name)
		return -EINVAL;
	i = vm_index(s, m->name);
	if (i < 0)
		return -ENOENT;
	free(s->vms[i].xml);
	memmove(&s->vms[i], &s->vms[i + 1], (s->n_vms - (size_t)i - 1) * sizeof(*s->vms));
	s->n_vms--;
	s->epoch++;
	return 1;
}

int state_apply(struct cluster_state *s, const Drover__Envelope *env)
{
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_SET_NODE_STATE:
		return apply_set_node_state(s, env->set_node_state);
	case DROVER__ENVELOPE__BODY_VM_ADD:
		return apply_vm_add(s, env->vm_add);
	case DROVER__ENVELOPE__BODY_VM_REMOVE:
		return apply_vm_remove(s, env->vm_remove);
	default:
		return -ENOTSUP;
	}
}

void state_to_proto(const struct cluster_state *s, Drover__ClusterState *msg,
		    struct state_proto_storage *st)
{
	drover__cluster_state__init(msg);
	msg->epoch = s->epoch;
	msg->n_nodes = s->n_nodes;
	msg->nodes = st->ptrs;
	for (size_t i = 0; i < s->n_nodes; i++) {
		drover__node_config__init(&st->nodes[i]);
		st->nodes[i].id = s->nodes[i].id;
		st->nodes[i].state = s->nodes[i].state;
		st->ptrs[i] = &st->nodes[i];
	}
	st->vms = s->n_vms ? xcalloc(s->n_vms, sizeof(*st->vms)) : NULL;
	st->vm_ptrs = s->n_vms ? xcalloc(s->n_vms, sizeof(*st->vm_ptrs)) : NULL;
	msg->n_vms = s->n_vms;
	msg->vms = st->vm_ptrs;
	for (size_t i = 0; i < s->n_vms; i++) {
		Drover__VmConfig *v = &st->vms[i];

		drover__vm_config__init(v);
		v->name = (char *)s->vms[i].name;
		v->xml = s->vms[i].xml;
		v->priority = s->vms[i].priority;
		v->memory_mib = s->vms[i].memory_mib;
		v->vcpus = s->vms[i].vcpus;
		v->home_node = s->vms[i].home_node;
		st->vm_ptrs[i] = v;
	}
}

void state_proto_storage_free(struct state_proto_storage *st)
{
	free(st->vms);
	free(st->vm_ptrs);
	st->vms = NULL;
	st->vm_ptrs = NULL;
}

int state_from_proto(const Drover__ClusterState *msg, struct cluster_state *ret)
{
	struct cluster_state s;

	if (!msg || msg->n_nodes > DROVER_MAX_NODES)
		return -EINVAL;
	state_init(&s);
	s.epoch = msg->epoch;
	for (size_t i = 0; i < msg->n_nodes; i++) {
		const Drover__NodeConfig *n = msg->nodes[i];
		struct node_cfg *e;

		if (!n || n->id == 0 || !state_valid(n->state) || find(&s, n->id))
			return -EINVAL;
		e = insert(&s, n->id);
		e->state = n->state;
	}
	if (msg->n_vms > DROVER_MAX_VMS)
		return -EINVAL;
	for (size_t i = 0; i < msg->n_vms; i++) {
		struct vm_cfg v;

		if (vm_from_proto(msg->vms[i], &v) < 0) {
			state_free(&s);
			return -EINVAL;
		}
		if (vm_index(&s, v.name) >= 0) {
			free(v.xml);
			state_free(&s);
			return -EINVAL;
		}
		vm_insert(&s, &v);
	}
	*ret = s;
	return 0;
}
