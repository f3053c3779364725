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
#include <string.h>

void state_init(struct cluster_state *s)
{
	memset(s, 0, sizeof(*s));
}

static uint64_t fnv1a(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
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

int state_apply(struct cluster_state *s, const Drover__Envelope *env)
{
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_SET_NODE_STATE:
		return apply_set_node_state(s, env->set_node_state);
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
	*ret = s;
	return 0;
}

const char *state_node_state_name(Drover__NodeState st)
{
	switch (st) {
	case DROVER__NODE_STATE__NODE_STATE_ACTIVE:
		return "active";
	case DROVER__NODE_STATE__NODE_STATE_DRAINING:
		return "draining";
	case DROVER__NODE_STATE__NODE_STATE_DRAINED:
		return "drained";
	case DROVER__NODE_STATE__NODE_STATE_MAINTENANCE:
		return "maintenance";
	case DROVER__NODE_STATE__NODE_STATE_FENCED:
		return "fenced";
	default:
		return "unknown";
	}
}
