/*
 * The messages of one coordinator decision (coord.h), ready to multicast, so
 * that droverd (drain.c) and the simulator (tests/sim) send the same ones.
 * Pure: the envelopes point into *ret and into the decision, which must both
 * outlive them.
 */
#ifndef DROVER_CORE_COORD_MSGS_H
#define DROVER_CORE_COORD_MSGS_H

#include <stddef.h>
#include <stdint.h>

#include "coord.h"

struct coord_msgs {
	size_t n;                           /* envelopes, in the order to send them */
	Drover__Envelope env[COORD_BATCH];
	Drover__JobStart starts[COORD_BATCH];
	Drover__JobFinish finish;
	Drover__JobAbort abort;
	Drover__JobsCancel cancel;
	Drover__JobsAdd add;
	Drover__JobSpec specs[COORD_MAX_ADD];
	Drover__JobSpec *spec_ptrs[COORD_MAX_ADD];
	Drover__SetNodeState node_state;
	Drover__OpStepResult step_result;
};

/*
 * COORD_START: a JobStart per start; COORD_FINISH: a failed JobFinish;
 * COORD_ABORT: a JobAbort; COORD_CANCEL: one JobsCancel; COORD_ADD: one
 * JobsAdd of drain jobs; COORD_NODE_STATE: one SetNodeState; COORD_NONE:
 * nothing. now_ms stamps the start, finish, cancel and creation times.
 */
void coord_messages(const struct coord_decision *c, uint64_t now_ms, struct coord_msgs *ret);

#endif
