/*
 * What recovery is doing, for the views (`drover top`, `drover queue
 * --output json`): one row per VM that drover means to run again after a
 * failover or a preemption, or that it stops to make room. Built from the
 * replicated state and one round of recover_decide() (which any node can
 * run on its own copy of the state and the replicated inventories), so
 * every member shows the same recoveries without a message of its own; the
 * coordinator alone acts on the decisions.
 *
 * Rows, one per VM, by priority (high first), then name:
 *  - FENCING: it ran on a lost node that is not fenced yet (pending, or
 *    failed: fence_error says why); nothing restarts it until then;
 *  - WAITING: a candidate that recover_decide() could not place this
 *    round (reason: its REC_WAIT reason);
 *  - PLANNED: recover_decide() would start it now (to: where); the
 *    coordinator sends the start;
 *  - STARTING: its restart is under way on `to`, since since_ms;
 *  - PREEMPTING: it is being stopped (or about to be) on `to` to make room
 *    for reason's VM (for_vm).
 */
#ifndef DROVER_CORE_RECOVER_VIEW_H
#define DROVER_CORE_RECOVER_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "recover.h"

enum rec_row_state {
	REC_ROW_FENCING,
	REC_ROW_WAITING,
	REC_ROW_PLANNED,
	REC_ROW_STARTING,
	REC_ROW_PREEMPTING,
};

struct rec_row {
	char vm[DROVER_VM_NAME_MAX];
	enum rec_row_state state;
	Drover__VmPriority priority;
	uint32_t from;     /* the lost node it ran on; 0: none (a preempted VM) */
	uint32_t to;       /* PLANNED, STARTING, PREEMPTING: the node */
	uint64_t since_ms; /* STARTING, PREEMPTING under way: the job's start; FENCING: the loss */
	char for_vm[DROVER_VM_NAME_MAX]; /* PREEMPTING: the VM it makes room for */
	char reason[DROVER_REASON_MAX];  /* WAITING: why; FENCING: the fence's error, if any */
};

/*
 * The rows for state s and one round's actions acts[0..n_acts) (as
 * recover_decide() returned them for s). *ret is allocated (free() it; NULL
 * when there is none). Returns the number of rows, or -EINVAL.
 */
int recover_rows(const struct cluster_state *s, const struct rec_action *acts, size_t n_acts,
		 struct rec_row **ret);

/* "fencing", "waiting", "planned", "starting", "preempting". */
const char *rec_row_state_name(enum rec_row_state st);

#endif
