/*
 * The coordinator's decision on one `drover vm start|stop` request, as pure
 * code: given the replicated state, where the VM is (locate.h) and what each
 * node can take, it returns an operation to multicast as a VmAction, an answer without acting (already done, or a
 * refusal with its reason and exit code), or "hold": wait for a member that
 * has not reported yet. droverd's vm_actions.c builds the view and sends the
 * result; the simulator (tests/sim) calls it on its replicas alike.
 *
 * The rules, in order: the VM is registered; it has no unfinished operation
 * (a start, a stop, a queued or running migration; nor a decision of ours
 * still in flight, which the caller says); a start also waits for the coordinator's other
 * decisions in flight (queue, recovery, other VMs); its location is known (unknown with a member that
 * may report soon: hold if allowed, else refuse with exit 107 and the reason
 * naming the node; nothing is ever decided on a guess); then per kind:
 *  - start: running already is success; the start node is where the domain
 *    is defined, else its home node, each if it has room, else the usable
 *    node with the least guest memory held and room for it (ties: lowest
 *    id); the memory held counts the starts and migrations under way there
 *    (coord_input_load());
 *  - stop: not running is success.
 * A migration is not decided here: it is a job of the migration queue
 * (JobsAdd), and a request of kind migrate (from an older droverd) is refused.
 * A usable node is a member with a current, working agent, in state active.
 */
#ifndef DROVER_CORE_VMDECIDE_H
#define DROVER_CORE_VMDECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "locate.h"
#include "state.h"

struct vmd_node {
	uint32_t id;
	const char *name;
	bool member;
	bool agent_ok;        /* a current report from a working agent */
	uint64_t memory_mib;  /* capacity it reports; 0: not reported (not checked) */
	uint64_t load_mib;    /* memory its guests hold (running, paused, suspended; under way too) */
};

struct vmd_view {
	const struct cluster_state *state;
	size_t n_nodes;                 /* the nodelist */
	const struct vmd_node *nodes;
};

struct vmd_request {
	Drover__VmActionKind kind;
	const char *vm;
	bool in_flight;       /* the caller already sent a decision for this VM */
	/*
	 * Another decision of the coordinator (the queue's, recovery's, another
	 * VM's action) is sent and not delivered back yet: a start waits for it,
	 * or two deciders place on views that each lack the other's decision.
	 */
	bool others_in_flight;
	bool may_hold;        /* the caller can wait for a missing report */
};

enum vmd_kind {
	VMD_ACT,     /* multicast a VmAction: node */
	VMD_ANSWER,  /* answer the origin: exit_code (0: nothing to do) and message */
	VMD_HOLD,    /* wait for the report of the member in message, then decide again */
};

struct vmd_decision {
	enum vmd_kind kind;
	int exit_code;
	char message[400];
	uint32_t node;
};

/* Decide on q over v with the VM's location loc. -EINVAL on NULL arguments. */
int vm_decide(const struct vmd_view *v, const struct vmd_request *q,
	      const struct locate_result *loc, struct vmd_decision *ret);

#endif
