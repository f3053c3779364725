/*
 * Migration networks and their health.
 *
 * The networks are drover.conf's [network NAME] sections, in preference
 * order; without any, one network named "default" stands for whatever route
 * the hypervisors take between them. Each node watches its own ends: a
 * network over a corosync link is up towards a peer while knet says that link
 * is connected (links.c polls it); a network with addresses is up towards a
 * peer while non-blocking TCP probes of the peer's address get an answer
 * (netprobe.c). Nobody can see both ends of a cable, so each node multicasts
 * what it sees (NetworkHealth, on change and after joins), and a network is
 * usable between a and b only when a reports b up and b reports a up: a
 * one-sided view, such as a cut that only one end has noticed yet, does not
 * carry migrations.
 *
 * The reports are observations, like the inventories: replicated in agreed
 * order so that every member (and so the next coordinator) reaches the same
 * decisions, but not persisted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "droverd.h"
#include "log.h"
#include "netprobe.h"
#include "util.h"

/* What we last multicast, to send only changes. */

size_t nethealth_n_networks(const struct droverd *d)
{
	return d->cfg.n_networks ? d->cfg.n_networks : 1;
}

const char *nethealth_network_name(const struct droverd *d, size_t k)
{
	if (!d->cfg.n_networks)
		return "default";
	return k < d->cfg.n_networks ? d->cfg.networks[k].name : "";
}

bool nethealth_last_resort(const struct droverd *d, size_t k)
{
	return d->cfg.n_networks && k < d->cfg.n_networks && d->cfg.networks[k].last_resort;
}

const char *nethealth_kind(const struct droverd *d, size_t k, char *buf, size_t len)
{
	if (!d->cfg.n_networks)
		snprintf(buf, len, "default route");
	else if (d->cfg.networks[k].corosync_link >= 0)
		snprintf(buf, len, "corosync link %d%s", d->cfg.networks[k].corosync_link,
			 d->cfg.networks[k].last_resort ? ", last resort" : "");
	else
		snprintf(buf, len, "addresses%s", d->cfg.networks[k].last_resort ? ", last resort" : "");
	return buf;
}

static const char *net_addr(const struct droverd *d, size_t k, uint32_t node)
{
	const struct drover_network *n = &d->cfg.networks[k];
	const struct known_node *kn = links_find(d, node);

	if (!kn)
		return NULL;
	if (n->corosync_link >= 0)
		return kn->link_addr[n->corosync_link][0] ? kn->link_addr[n->corosync_link] : NULL;
	for (size_t i = 0; i < n->n_addrs; i++)
		if (strcmp(n->addrs[i].node, kn->name) == 0)
			return n->addrs[i].addr;
	return NULL;
}

int nethealth_migrate_uri(const struct droverd *d, const char *net, uint32_t target, char *buf,
			  size_t len)
{
	struct in6_addr a6;
	const char *addr;
	size_t k;

	buf[0] = '\0';
	if (!d->cfg.n_networks || !net || !*net || strcmp(net, "default") == 0)
		return 0; /* the hypervisors' default route */
	for (k = 0; k < d->cfg.n_networks; k++)
		if (strcmp(d->cfg.networks[k].name, net) == 0)
			break;
	if (k == d->cfg.n_networks)
		return -ENOENT;
	addr = net_addr(d, k, target);
	if (!addr)
		return -ENXIO;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		snprintf(buf, len, "tcp://[%s]", addr);
	else
		snprintf(buf, len, "tcp://%s", addr);
	return 0;
}

static void on_probe_change(void *opaque, uint32_t network_idx, uint32_t node_id, bool up)
{
	struct droverd *d = opaque;
	char b[32];

	log_notice("network %s towards %s is %s", nethealth_network_name(d, network_idx),
		   links_node_name(d, node_id, b, sizeof(b)), up ? "up" : "DOWN");
	nethealth_refresh(d);
}

static void set_probe_targets(struct droverd *d)
{
	struct netprobe_target t[CONFIG_MAX_NETWORKS * DROVER_MAX_NODES];
	size_t n = 0;

	for (size_t k = 0; k < d->cfg.n_networks; k++) {
		if (d->cfg.networks[k].corosync_link >= 0)
			continue;
		for (size_t i = 0; i < d->n_nodes; i++) {
			const char *addr;

			if (d->nodes[i].id == d->local_id)
				continue;
			addr = net_addr(d, k, d->nodes[i].id);
			if (!addr) {
				log_warn("network %s has no address for node %s: it cannot carry "
					 "migrations to or from it", d->cfg.networks[k].name,
					 d->nodes[i].name);
				continue;
			}
			memset(&t[n], 0, sizeof(t[n]));
			t[n].network_idx = (uint32_t)k;
			t[n].node_id = d->nodes[i].id;
			strscpy(t[n].addr, addr, sizeof(t[n].addr));
			n++;
		}
	}
	if (d->probe)
		netprobe_set_targets(d->probe, t, n);
}

int nethealth_start(struct droverd *d)
{
	bool need_probe = false;

	for (size_t k = 0; k < d->cfg.n_networks; k++)
		if (d->cfg.networks[k].corosync_link < 0)
			need_probe = true;
	if (need_probe && !d->probe) {
		d->probe = netprobe_new(d->loop, d->cfg.probe_interval_ms, d->cfg.probe_timeout_ms,
					(uint16_t)d->cfg.probe_port, on_probe_change, d);
		if (!d->probe)
			return -ENOMEM;
	}
	set_probe_targets(d);
	return 0;
}

void nethealth_stop(struct droverd *d)
{
	if (d->probe)
		netprobe_free(d->probe);
	d->probe = NULL;
}

static struct node_reach *reach_slot(struct droverd *d, uint32_t id, bool create)
{
	struct node_reach *free_slot = NULL;

	for (size_t i = 0; i < DROVER_MAX_NODES; i++) {
		if (d->reach[i].node_id == id)
			return &d->reach[i];
		if (!free_slot && !d->reach[i].node_id)
			free_slot = &d->reach[i];
	}
	if (!create || !free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->node_id = id;
	return free_slot;
}

static const struct node_reach *reach_find(const struct droverd *d, uint32_t id)
{
	for (size_t i = 0; i < DROVER_MAX_NODES; i++)
		if (d->reach[i].node_id == id)
			return &d->reach[i];
	return NULL;
}

static bool reports_up(const struct node_reach *r, const char *net, uint32_t peer)
{
	if (!r)
		return false;
	for (size_t k = 0; k < r->n_nets; k++) {
		if (strcmp(r->nets[k].name, net) != 0)
			continue;
		for (size_t i = 0; i < r->nets[k].n_up; i++)
			if (r->nets[k].up_ids[i] == peer)
				return true;
		return false;
	}
	return false;
}

bool nethealth_usable(const struct droverd *d, size_t k, uint32_t a, uint32_t b)
{
	const char *net = nethealth_network_name(d, k);

	if (a == b || !*net)
		return false;
	return reports_up(reach_find(d, a), net, b) && reports_up(reach_find(d, b), net, a);
}

/* Our own view now. */
static void local_view(const struct droverd *d, struct node_reach *r)
{
	memset(r, 0, sizeof(*r));
	r->node_id = d->local_id;
	r->n_nets = nethealth_n_networks(d);
	for (size_t k = 0; k < r->n_nets; k++) {
		strscpy(r->nets[k].name, nethealth_network_name(d, k), sizeof(r->nets[k].name));
		for (size_t i = 0; i < d->n_nodes; i++) {
			const struct known_node *kn = &d->nodes[i];
			bool up;

			if (kn->id == d->local_id)
				continue;
			if (!d->cfg.n_networks)
				up = kn->reachable;
			else if (d->cfg.networks[k].corosync_link >= 0)
				up = (kn->links_up >> d->cfg.networks[k].corosync_link) & 1u;
			else
				up = d->probe && netprobe_is_up(d->probe, (uint32_t)k, kn->id);
			if (up)
				r->nets[k].up_ids[r->nets[k].n_up++] = kn->id;
		}
	}
}

static void send_view(struct droverd *d, const struct node_reach *r)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NetworkHealth m = DROVER__NETWORK_HEALTH__INIT;
	Drover__NetworkReach nr[QUEUE_MAX_NETWORKS], *nrp[QUEUE_MAX_NETWORKS];

	for (size_t k = 0; k < r->n_nets; k++) {
		drover__network_reach__init(&nr[k]);
		nr[k].network = (char *)r->nets[k].name;
		nr[k].n_up = r->nets[k].n_up;
		nr[k].up = (uint32_t *)r->nets[k].up_ids;
		nrp[k] = &nr[k];
	}
	m.n_networks = r->n_nets;
	m.networks = nrp;
	env.body_case = DROVER__ENVELOPE__BODY_NETWORK_HEALTH;
	env.network_health = &m;
	if (membership_send(d, &env, false) == 0) {
		d->reach_last_sent = *r;
		d->reach_have_sent = true;
	}
}

void nethealth_refresh(struct droverd *d)
{
	struct node_reach r;

	if (!d->cpg_joined)
		return;
	local_view(d, &r);
	if (d->reach_have_sent && !d->reach_dirty && memcmp(&r, &d->reach_last_sent, sizeof(r)) == 0)
		return;
	d->reach_dirty = false;
	send_view(d, &r);
}

void nethealth_on_members_changed(struct droverd *d, bool joined_any)
{
	/* A departed node's report is stale; it reports again when it returns. */
	for (size_t i = 0; i < DROVER_MAX_NODES; i++)
		if (d->reach[i].node_id && !droverd_is_member(d, d->reach[i].node_id))
			memset(&d->reach[i], 0, sizeof(d->reach[i]));
	/* Joiners have none of the reports: everyone sends theirs again. */
	if (joined_any)
		d->reach_dirty = true;
	nethealth_refresh(d);
}

void nethealth_on_report(struct droverd *d, uint32_t from, const Drover__NetworkHealth *m)
{
	struct node_reach r, *slot;

	memset(&r, 0, sizeof(r));
	r.node_id = from;
	if (m->n_networks > QUEUE_MAX_NETWORKS) {
		log_warn("dropping network health from node %u: %zu networks", from, m->n_networks);
		return;
	}
	for (size_t k = 0; k < m->n_networks; k++) {
		const Drover__NetworkReach *nr = m->networks[k];

		if (!nr || !nr->network || strscpy(r.nets[k].name, nr->network,
						   sizeof(r.nets[k].name)) < 0 ||
		    nr->n_up > DROVER_MAX_NODES) {
			log_warn("dropping malformed network health from node %u", from);
			return;
		}
		r.nets[k].n_up = nr->n_up;
		memcpy(r.nets[k].up_ids, nr->up, nr->n_up * sizeof(uint32_t));
	}
	r.n_nets = m->n_networks;
	slot = reach_slot(d, from, true);
	if (!slot)
		return;
	if (memcmp(slot, &r, sizeof(r)) != 0) {
		*slot = r;
		drain_kick(d);
		ctl_server_notify(d);
	}
}
