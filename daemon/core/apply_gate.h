/*
 * Whether a delivered peer message may change the replicated state, decided
 * by every member alike at the point of the stream where it is delivered:
 * droverd's table of peer messages (droverd.c) and the simulator (tests/sim)
 * both ask here, so the rule they run is the same code.
 *
 * A state change is applied only when the configuration it was delivered in
 * is quorate (core/quorum_rule.h), the state exchange after the last
 * membership change is over, and its sender may send it:
 *  - JobStart, VmAction and VmPlaced: the coordinator, the lowest member;
 *  - NodeLost: the coordinator, about a node that is not a member;
 *  - FenceResult: any member (the one that fenced, or the operator's), about
 *    a node that is not a member; NodeUnfenced: the coordinator, about one
 *    that is;
 *  - JobFinish: the job's source, or the coordinator for a source that left;
 *  - VmActionResult and OpStepResult: the operation's executing node (of its
 *    current step), or the coordinator for one whose node left;
 *  - NodeHardware: the node it describes;
 *  - the operators' changes (SetNodeState, VmAdd, VmRemove, JobsAdd,
 *    JobsCancel, LimitsSet): any member.
 * Observations and requests are not state changes and are never gated.
 */
#ifndef DROVER_CORE_APPLY_GATE_H
#define DROVER_CORE_APPLY_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

enum apply_verdict {
	APPLY_OK,
	APPLY_NOT_QUORATE, /* the configuration holds no majority */
	APPLY_NOT_SYNCED,  /* a state exchange is under way */
	APPLY_NOT_SENDERS, /* this sender may not send it */
};

/* The body changes the replicated state (a VmActionResult with id 0 does not). */
bool apply_gate_is_change(const Drover__Envelope *env);

/* Whether `from` may send env, given the state and the sorted membership. */
bool apply_gate_sender_ok(const struct cluster_state *s, const uint32_t *members, size_t n_members,
			  uint32_t from, const Drover__Envelope *env);

enum apply_verdict apply_gate(const struct cluster_state *s, const uint32_t *members,
			      size_t n_members, bool config_quorate, bool synced, uint32_t from,
			      const Drover__Envelope *env);

const char *apply_verdict_text(enum apply_verdict v);

#endif
