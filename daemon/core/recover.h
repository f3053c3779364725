/*
 * The coordinator's failover decisions, as pure code: given the replicated
 * state (what drover wants of each VM and who owns it), where each VM runs
 * (locate.h) and what each node can take, recover_decide() returns what to
 * do this round. droverd's failover.c builds the view and multicasts the
 * actions; the unit tests and the simulator call it alike.
 *
 * Per registered VM that has no operation and no unfinished migration job,
 * in this order:
 *  - location unknown: nothing (never decided on a guess);
 *  - running on several nodes (a partition healed, a confirm-off that was
 *    wrong): the copy on its owner stays, every other copy is destroyed
 *    (REC_DESTROY, one per round); with no owner among them, the copy on
 *    the lowest node id stays;
 *  - running on one node that is not its owner, or wanted otherwise:
 *    REC_PLACE records it there, wanted running (drover learns from the
 *    hypervisors, never the other way round);
 *  - crashed, or stopped on its owner: REC_PLACE records it as wanting to
 *    run (crashed: it is restarted) or stopped (its guest shut down);
 *  - running nowhere, no owner, and wanted running or preempted, priority
 *    not none: a recovery candidate.
 * Candidates are taken by priority (high, medium, low), those that ran
 * before those preempted, then by name, and placed on the usable node with
 * the most free memory that fits them (memory strictly; vCPUs up to
 * REC_VCPU_RATIO times the host's) and has fewer than max_starts starts
 * under way (REC_START). A candidate that fits nowhere preempts: on the node
 * where the fewest VMs of strictly lower priority make room, those are
 * stopped (REC_PREEMPT, lowest priority and largest first), and it starts
 * in a later round once they are gone. One preemption is planned at a time,
 * and none while a preemption's stop is under way. Every candidate left
 * waiting gets a REC_WAIT saying why.
 *
 * SR-IOV (docs/SRIOV.md): among the nodes that fit, a candidate that asks for
 * a VF goes first to one with a free VF of its pool, and one that declares
 * IPsec SAs to one with spare SA capacity, before the most free memory. A VM
 * that runs on its owner without the VF it asks for (degraded) gets
 * REC_VF_ATTACH as soon as its owner's pool has a free one, so a restart
 * runs with a VF where one is free; not after an attach failed there (its
 * vf_error), which would only fail again until the VM moves or starts again.
 */
#ifndef DROVER_CORE_RECOVER_H
#define DROVER_CORE_RECOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "locate.h"
#include "state.h"

/* vCPUs may be overcommitted this many times over a host's logical CPUs. */
#define REC_VCPU_RATIO 4u

struct rec_node {
	uint32_t id;
	/* A member with a current report from a working agent, active, not fenced. */
	bool usable;
	uint64_t memory_mib; /* reported capacity; 0: unknown (takes nothing) */
	uint32_t vcpus;
	uint64_t load_mib;   /* memory its guests hold (running, paused, suspended) */
	uint32_t load_vcpus;
};

struct rec_view {
	const struct cluster_state *state;
	size_t n_nodes;
	const struct rec_node *nodes;
	/* Where vm runs (locate.h); a negative return counts as unknown. */
	int (*locate)(const void *ctx, const char *vm, struct locate_result *ret);
	const void *locate_ctx;
	uint32_t max_starts;  /* recovery starts under way per node; 0: 1 */
};

enum rec_kind {
	REC_START,    /* start vm on node (cause recovery) */
	REC_PREEMPT,  /* stop vm on node to make room for for_vm */
	REC_DESTROY,  /* destroy the copy of vm on node (a second copy) */
	REC_PLACE,    /* VmPlaced: owner (0: none) and want, with reason */
	REC_WAIT,     /* vm waits: reason */
	REC_VF_ATTACH, /* attach a free VF of its pool to vm on node, its owner */
};

struct rec_action {
	enum rec_kind kind;
	char vm[DROVER_VM_NAME_MAX];
	uint32_t node;
	uint32_t owner;
	Drover__VmWant want;
	char for_vm[DROVER_VM_NAME_MAX];
	char reason[DROVER_REASON_MAX];
};

/*
 * Decide one round into out[0..max). Returns the number of actions written
 * (at most max; the rest wait for the next round), or -EINVAL.
 */
int recover_decide(const struct rec_view *v, struct rec_action *out, size_t max);

const char *rec_kind_name(enum rec_kind k);

#endif
