/*
 * What corosync knows about the nodes: their names (cmap nodelist) and the
 * health of each knet link to them (cfg node status), polled on a timer.
 *
 * Link status is the local node's view: link L of a peer is up when our knet
 * link L to that peer is connected. For the local node, link L is up when it
 * carries traffic to at least one reachable peer, so a cut of one of our own
 * links shows on our own line as well as on every peer's view of us. Later
 * issues take network health for migrations from here.
 *
 * The cfg and cmap calls are local IPC round trips to corosync, answered from
 * its memory; they are quick and bounded, unlike the hypervisor calls that
 * droverd never makes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "droverd.h"
#include "log.h"
#include "util.h"

/*
 * Without knet's crypto, anyone who can send packets to the corosync networks
 * can join the ring or forge CPG messages, and droverd acts on them as it
 * would on a member's (it checks senders by corosync's word). Corosync 3
 * encrypts only over knet, with both crypto_cipher and crypto_hash set;
 * without them in corosync.conf the keys are absent from cmap. Said once per
 * connection to corosync, at warning level when off.
 */
static void check_crypto(struct droverd *d)
{
	char *transport = NULL, *cipher = NULL, *hash = NULL;
	bool knet, on;

	if (cmap_get_string(d->cmap, "totem.transport", &transport) != CS_OK)
		transport = NULL;
	if (cmap_get_string(d->cmap, "totem.crypto_cipher", &cipher) != CS_OK)
		cipher = NULL;
	if (cmap_get_string(d->cmap, "totem.crypto_hash", &hash) != CS_OK)
		hash = NULL;
	/* knet is corosync 3's default transport. */
	knet = !transport || strcmp(transport, "knet") == 0;
	on = knet && cipher && hash && strcmp(cipher, "none") != 0 && strcmp(hash, "none") != 0;
	if (on)
		log_info("corosync encrypts and authenticates its traffic (knet, %s/%s)", cipher,
			 hash);
	else
		log_warn("corosync's traffic is not encrypted (transport '%s', crypto_cipher '%s', "
			 "crypto_hash '%s'): anyone who can reach the corosync networks can forge "
			 "cluster messages that droverd obeys; set crypto_cipher and crypto_hash "
			 "in corosync.conf (docs/OPERATIONS.md, Security)",
			 transport ? transport : "knet", cipher ? cipher : "none",
			 hash ? hash : "none");
	free(transport);
	free(cipher);
	free(hash);
}

int links_connect(struct droverd *d)
{
	static const corosync_cfg_callbacks_t cb = { 0 };

	if (!d->cmap_connected) {
		if (cmap_initialize(&d->cmap) != CS_OK)
			return -ENOTCONN;
		d->cmap_connected = true;
		check_crypto(d);
	}
	if (!d->cfg_connected) {
		if (corosync_cfg_initialize(&d->cfgh, &cb) != CS_OK)
			return -ENOTCONN;
		d->cfg_connected = true;
	}
	return links_load_nodelist(d);
}

void links_disconnect(struct droverd *d)
{
	if (d->cmap_connected)
		cmap_finalize(d->cmap);
	if (d->cfg_connected)
		corosync_cfg_finalize(d->cfgh);
	d->cmap_connected = d->cfg_connected = false;
}

static int cmp_node(const void *a, const void *b)
{
	const struct known_node *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

int links_load_nodelist(struct droverd *d)
{
	struct known_node nodes[DROVER_MAX_NODES];
	size_t n = 0;

	memset(nodes, 0, sizeof(nodes));
	for (unsigned i = 0; i < 256 && n < DROVER_MAX_NODES; i++) {
		char key[128];
		char *name = NULL;
		uint32_t id;
		struct known_node *k = &nodes[n];

		snprintf(key, sizeof(key), "nodelist.node.%u.nodeid", i);
		if (cmap_get_uint32(d->cmap, key, &id) != CS_OK)
			continue;
		k->id = id;
		snprintf(key, sizeof(key), "nodelist.node.%u.quorum_votes", i);
		if (cmap_get_uint32(d->cmap, key, &k->votes) != CS_OK)
			k->votes = 1;
		snprintf(key, sizeof(key), "nodelist.node.%u.name", i);
		if (cmap_get_string(d->cmap, key, &name) == CS_OK) {
			if (strscpy(k->name, name, sizeof(k->name)) < 0)
				log_warn("node name '%s' truncated to '%s'", name, k->name);
			free(name);
		} else {
			snprintf(k->name, sizeof(k->name), "node%u", id);
		}
		for (unsigned l = 0; l < DROVER_MAX_LINKS; l++) {
			char *addr = NULL;

			snprintf(key, sizeof(key), "nodelist.node.%u.ring%u_addr", i, l);
			if (cmap_get_string(d->cmap, key, &addr) == CS_OK) {
				k->links_configured |= (uint8_t)(1u << l);
				/* A migration network may ride on this link (nethealth.c). */
				if (strscpy(k->link_addr[l], addr, sizeof(k->link_addr[l])) < 0)
					k->link_addr[l][0] = '\0';
				free(addr);
			}
		}
		n++;
	}
	if (n == 0) {
		log_err("corosync's nodelist is empty: droverd needs a nodelist with names");
		return -ENOENT;
	}
	qsort(nodes, n, sizeof(nodes[0]), cmp_node);
	/* Keep the link view we already had for nodes that remain. */
	for (size_t i = 0; i < n; i++) {
		const struct known_node *old = links_find(d, nodes[i].id);
		if (old) {
			nodes[i].links_up = old->links_up & nodes[i].links_configured;
			nodes[i].reachable = old->reachable;
		}
	}
	memcpy(d->nodes, nodes, sizeof(nodes));
	d->n_nodes = n;
	if (cmap_get_uint32(d->cmap, "quorum.expected_votes", &d->expected_votes) != CS_OK)
		d->expected_votes = 0;
	return 0;
}

static void log_link_changes(const struct known_node *k, uint8_t before)
{
	for (unsigned l = 0; l < DROVER_MAX_LINKS; l++) {
		uint8_t bit = (uint8_t)(1u << l);

		if (!(k->links_configured & bit) || ((before ^ k->links_up) & bit) == 0)
			continue;
		if (k->links_up & bit)
			log_notice("link %u of node '%s' is up", l, k->name);
		else
			log_warn("link %u of node '%s' is down", l, k->name);
	}
}

void links_poll(struct droverd *d)
{
	uint8_t local_up = 0;
	struct known_node *self = NULL;

	if (!d->cfg_connected)
		return;
	for (size_t i = 0; i < d->n_nodes; i++) {
		struct known_node *k = &d->nodes[i];
		struct corosync_cfg_node_status_v1 st;
		uint8_t before = k->links_up;

		if (k->id == d->local_id) {
			self = k;
			continue;
		}
		memset(&st, 0, sizeof(st));
		k->links_up = 0;
		k->reachable = false;
		if (corosync_cfg_node_status_get(d->cfgh, k->id, CFG_NODE_STATUS_V1, &st) == CS_OK) {
			k->reachable = st.reachable != 0;
			for (unsigned l = 0; l < DROVER_MAX_LINKS && l < CFG_MAX_LINKS; l++)
				if (st.link_status[l].enabled && st.link_status[l].connected)
					k->links_up |= (uint8_t)(1u << l);
			k->links_up &= k->links_configured;
			if (!k->reachable)
				k->links_up = 0;
		}
		local_up |= k->links_up;
		if (before != k->links_up)
			log_link_changes(k, before);
	}
	if (self) {
		uint8_t before = self->links_up;

		self->reachable = true;
		self->links_up = local_up & self->links_configured;
		if (before != self->links_up)
			log_link_changes(self, before);
	}
}

const struct known_node *links_find(const struct droverd *d, uint32_t id)
{
	for (size_t i = 0; i < d->n_nodes; i++)
		if (d->nodes[i].id == id)
			return &d->nodes[i];
	return NULL;
}

const struct known_node *links_find_by_name(const struct droverd *d, const char *name)
{
	uint64_t id;

	for (size_t i = 0; i < d->n_nodes; i++)
		if (strcmp(d->nodes[i].name, name) == 0)
			return &d->nodes[i];
	if (parse_u64(name, 1, UINT32_MAX, &id) == 0)
		return links_find(d, (uint32_t)id);
	return NULL;
}

const char *links_node_name(const struct droverd *d, uint32_t id, char *buf, size_t len)
{
	const struct known_node *k = links_find(d, id);

	if (k)
		return k->name;
	snprintf(buf, len, "node%u", id);
	return buf;
}
