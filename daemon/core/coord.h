/*
 * The coordinator's next decision about the migration queue, as pure code:
 * given the replicated state, the queue's view of the cluster (nodes, network
 * health, limits) and what each node's agent last reported, coord_decide()
 * returns the one thing to multicast next, or nothing. No I/O, no clock, no
 * globals: drain.c builds the input from droverd and sends the result; the
 * unit tests and the simulator (tests/sim) call it directly.
 *
 * In order of precedence, it:
 *  0. fails the VF step (detach, attach: docs/SRIOV.md) of a running job
 *     whose executing node left the cluster (OpStepResult);
 *  1. finishes (as failed) a running job whose source left the cluster
 *     during its transfer;
 *  2. asks for the abort of a running migration whose target left or whose
 *     network stopped being usable between source and target (once per
 *     attempt: the caller passes the jobs it asked already);
 *  3. cancels queued jobs that can never start: their VM was removed, or no
 *     longer runs on the job's source (stopped, or moved by other means), as
 *     a current report of the source says that no operation can have
 *     overtaken (nothing touched the VM there since);
 *  4. ends drains: a draining node with nothing queued or running, with a
 *     current report no operation can have overtaken (nothing touched there
 *     since), is drained when no managed VM runs there, drain-failed when
 *     some VM's newest job (from any node) left from there and failed or was
 *     cancelled; a VM that appeared there without a job, or whose newest job
 *     brought it there, or that came back well after its job moved it, gets
 *     one first;
 *  5. starts what queue_dispatch() says may start.
 */
#ifndef DROVER_COORD_H
#define DROVER_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"
#include "state.h"

#define COORD_MAX_IDS 64
#define COORD_MAX_ADD 64
#define COORD_BATCH 32
/*
 * A VM still reported on a draining node this long after its job moved it
 * away is back (by other means) and gets another job; before that, the
 * inventory may simply not have caught up yet.
 */
#define COORD_INVENTORY_GRACE_MS 60000u

/* A node as its agent last described it. */
struct coord_node {
	uint32_t id;
	bool member;   /* its droverd is in the CPG membership */
	bool agent_ok; /* its agent works: the list below is current */
	size_t n_vms;  /* the domains it reports running, paused or shutting down */
	const char *const *vms;
	/*
	 * Its report predates its last join (not current, observe.h): the list
	 * above is an old record and proves nothing about now.
	 */
	bool stale;
	/* VMs an operation may have put there since the report (observe.h's touches). */
	size_t n_touched;
	const char *const *touched;
};

struct coord_input {
	const struct cluster_state *state;
	const struct queue_view *view; /* nodes with names and room, networks and health, limits */
	size_t n_nodes;                /* every node with a report, member or not */
	const struct coord_node *nodes;
	size_t n_busy;                 /* VMs with another action (`drover vm`) in flight */
	const char *const *busy;
	size_t n_aborted;              /* running jobs whose abort was asked for already */
	const uint64_t *aborted;
	uint64_t now_ms;
};

enum coord_kind {
	COORD_NONE,
	COORD_FINISH,     /* JobFinish(job_id, failed, reason) */
	COORD_ABORT,      /* JobAbort(job_id, reason) */
	COORD_CANCEL,     /* JobsCancel(ids, reason) */
	COORD_ADD,        /* JobsAdd(vms from node, origin drain) */
	COORD_NODE_STATE, /* SetNodeState(node, node_state) */
	COORD_START,      /* JobStart for each of starts[] */
	COORD_STEP_FAIL,  /* OpStepResult(job_id, step, failed, reason): its VF step's node left */
};

struct coord_decision {
	enum coord_kind kind;
	uint64_t job_id;
	uint32_t step;
	char reason[QUEUE_REASON_MAX];
	size_t n_ids;
	uint64_t ids[COORD_MAX_IDS];
	uint32_t node;
	Drover__NodeState node_state;
	size_t n_vms;
	char vms[COORD_MAX_ADD][DROVER_VM_NAME_MAX];
	size_t n_starts;
	struct queue_action starts[COORD_BATCH];
};

/* The next decision (kind COORD_NONE: nothing to do). -EINVAL, or queue_dispatch()'s errors. */
int coord_decide(const struct coord_input *in, struct coord_decision *ret);

/*
 * queue_dispatch() over jobs[0..n) (a copy of the unfinished jobs) with the
 * jobs that must not start whatever the limits say held back, each with its
 * blocker: its VM has another action in flight (QUEUE_BLOCK_VM_BUSY) or does
 * not run on its source (QUEUE_BLOCK_VM_ELSEWHERE). For the coordinator and
 * for `drover queue`'s blockers alike.
 */
int coord_dispatch(const struct coord_input *in, struct queue_job *jobs, size_t n,
		   struct queue_action *acts, size_t max, size_t *n_acts);

/*
 * SR-IOV in the queue's input (coord_dispatch() does both): the view's VF
 * pools with each node's free VFs and its SA capacity and use, and a job's
 * VF pool, vf = required and SAs, all from the replicated state.
 */
void coord_view_add_vf(const struct cluster_state *s, struct queue_view *v);
void coord_job_add_vf(const struct cluster_state *s, struct queue_job *j);

#endif
