/*
 * What every node's agent last reported (NodeInventory), as each member keeps
 * it: observations, not replicated state, but updated only in delivery order
 * (inventories and configuration changes are delivered in the same stream),
 * so every member of a configuration holds the same table and locates every
 * VM alike. Pure: droverd (droverd.c) and the simulator (tests/sim) both keep
 * one table per daemon with these functions.
 *
 * A node's report is *current* once a successful inventory of it is
 * delivered after it last joined the membership (and after we did); it stops
 * being current when the node leaves or rejoins, or its agent fails. What it
 * said before stays as its *record*. Every operation or job that could put a
 * VM on a node *touches* the VM there; a current report taken after the
 * operation ended settles the touch. obs_locate() turns the table into
 * core/locate.h's input for the whole nodelist.
 */
#ifndef DROVER_CORE_OBSERVE_H
#define DROVER_CORE_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "locate.h"
#include "state.h"

#define OBS_GUEST_AGENT_MAX 32
/* Host network devices kept per domain: a VM has one VF; more is a finding. */
#define OBS_VF_DEVICES_MAX 4

struct obs_domain {
	char name[DROVER_VM_NAME_MAX];
	Drover__VmRunState state;
	char guest_agent[OBS_GUEST_AGENT_MAX]; /* its guest agent's version, "" if none */
	/*
	 * The host network devices in its live XML, labelled like [vf_pool]
	 * templates (core/vf_check.h), if the plugin reported them (vf_known).
	 */
	bool vf_known;
	uint32_t n_vf_devices;
	char vf_devices[OBS_VF_DEVICES_MAX][DROVER_VF_LABEL_MAX];
};

struct node_obs {
	uint32_t node_id;         /* 0: slot unused */
	bool agent_ok;
	/*
	 * A successful inventory of this node was delivered since it last
	 * joined the membership (and since we did): domains[] is the truth now.
	 */
	bool current;
	bool has_record;          /* domains[] is from a successful inventory */
	bool no_hypervisor;       /* its agent is disabled by configuration: it holds no VM */
	char agent_error[160];
	uint64_t memory_mib;
	uint32_t vcpus;
	size_t n_domains;
	struct obs_domain *domains;
	/*
	 * VMs an action or job may have put on this node since domains[] was
	 * taken: while the node is not current, they may be there (locate.h).
	 */
	size_t n_touched;
	char (*touched)[DROVER_VM_NAME_MAX];
	/*
	 * The fence (its fenced_ms in the replicated state) this node reported
	 * after: it came back since, may have run VMs, and is no longer known
	 * off when it leaves again, until it is fenced anew.
	 */
	uint64_t reported_after_fence_ms;
	bool reported_after_fence;
};

/* A table is DROVER_MAX_NODES entries, zeroed to start. */
#define OBS_TABLE_SIZE DROVER_MAX_NODES

/* The entry of node_id, NULL if none; create: make one (NULL if full). */
struct node_obs *obs_slot(struct node_obs *t, uint32_t node_id, bool create);
const struct node_obs *obs_find(const struct node_obs *t, uint32_t node_id);
/* Release what the table owns and zero it. */
void obs_free(struct node_obs *t);

/*
 * A configuration change: nodes that left or joined, and everyone when we
 * joined (self_joined), are no longer current.
 */
void obs_on_confchg(struct node_obs *t, const uint32_t *members, size_t n_members,
		    const uint32_t *joined, size_t n_joined, bool self_joined);

/* An operation or job may put vm on node. */
void obs_touch(struct node_obs *t, uint32_t node, const char *vm);

/*
 * A FenceResult that fenced `node` was applied: the node was powered off, so
 * whatever an operation had put on it before is gone, and its touches are
 * settled. (Touches made after the fence, once it is back, are new ones.)
 */
void obs_on_fenced(struct node_obs *t, uint32_t node);

/*
 * After a state exchange: touch every VM on every node an unfinished
 * operation of s involves. The table's touches were made from the changes
 * this member applied; a state adopted in an exchange (after a restart, or
 * a partition's other side) holds operations it never saw start, whose ends
 * would otherwise look settled on reports taken before them.
 */
void obs_touch_state(struct node_obs *t, const struct cluster_state *s);

/*
 * A NodeInventory from `from`, delivered; its departures mark their VMs on
 * their targets (a touch, settled by the target's next report). Returns 0, -ENOSPC (table full),
 * -E2BIG (more domains than tracked: dropped, nothing changes).
 */
int obs_on_inventory(struct node_obs *t, const struct cluster_state *s, uint32_t from,
		     const Drover__NodeInventory *m);

/* One node of the nodelist: its id and name (duplicates and id 0 are skipped). */
struct obs_node {
	uint32_t id;
	const char *name;
};

/* Locate vm (locate.h) over the nodelist nl, as the table and the state say. */
int obs_locate(const struct node_obs *t, const struct cluster_state *s, const struct obs_node *nl,
	       size_t n_nl, const uint32_t *members, size_t n_members, const char *vm,
	       struct locate_result *ret);

#endif
