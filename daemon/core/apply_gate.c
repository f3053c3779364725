/*
 * The apply-time gate (see apply_gate.h). The membership passed in is the one
 * of the configuration the message was delivered in; "left" means not in it.
 */
#include "apply_gate.h"

static bool member(const uint32_t *members, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (members[i] == id)
			return true;
	return false;
}

bool apply_gate_is_change(const Drover__Envelope *env)
{
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_SET_NODE_STATE:
	case DROVER__ENVELOPE__BODY_VM_ADD:
	case DROVER__ENVELOPE__BODY_VM_REMOVE:
	case DROVER__ENVELOPE__BODY_JOBS_ADD:
	case DROVER__ENVELOPE__BODY_JOB_START:
	case DROVER__ENVELOPE__BODY_JOB_FINISH:
	case DROVER__ENVELOPE__BODY_JOBS_CANCEL:
	case DROVER__ENVELOPE__BODY_LIMITS_SET:
	case DROVER__ENVELOPE__BODY_VM_ACTION:
	case DROVER__ENVELOPE__BODY_NODE_LOST:
	case DROVER__ENVELOPE__BODY_FENCE_RESULT:
	case DROVER__ENVELOPE__BODY_VM_PLACED:
	case DROVER__ENVELOPE__BODY_NODE_UNFENCED:
	case DROVER__ENVELOPE__BODY_NODE_HARDWARE:
	case DROVER__ENVELOPE__BODY_OP_STEP_RESULT:
		return true;
	case DROVER__ENVELOPE__BODY_VM_ACTION_RESULT:
		return env->vm_action_result && env->vm_action_result->action_id != 0;
	default:
		return false;
	}
}

bool apply_gate_sender_ok(const struct cluster_state *s, const uint32_t *members, size_t n_members,
			  uint32_t from, const Drover__Envelope *env)
{
	uint32_t coord = n_members ? members[0] : 0;

	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_JOB_START:
	case DROVER__ENVELOPE__BODY_VM_ACTION:
	case DROVER__ENVELOPE__BODY_VM_PLACED:
		return from == coord;
	/*
	 * A node is lost, or fenced, only while it is not a member of the
	 * configuration the message was delivered in: a node that came back
	 * before its fence result was applied is not "off", whatever was sent.
	 */
	case DROVER__ENVELOPE__BODY_NODE_LOST:
		return from == coord && env->node_lost &&
		       !member(members, n_members, env->node_lost->node);
	case DROVER__ENVELOPE__BODY_FENCE_RESULT:
		return env->fence_result && !member(members, n_members, env->fence_result->node);
	case DROVER__ENVELOPE__BODY_NODE_UNFENCED:
		return from == coord && env->node_unfenced &&
		       member(members, n_members, env->node_unfenced->node);
	case DROVER__ENVELOPE__BODY_JOB_FINISH: {
		const struct queue_job *j = env->job_finish ? state_op_find(s, env->job_finish->job_id)
							    : NULL;

		return j && (from == j->source ||
			     (from == coord && !member(members, n_members, j->source)));
	}
	case DROVER__ENVELOPE__BODY_VM_ACTION_RESULT: {
		const struct queue_job *o = env->vm_action_result
						    ? state_op_find(s, env->vm_action_result->action_id)
						    : NULL;
		uint32_t exec = o ? state_op_executor(o) : 0;

		/* Unknown or finished ones are refused by state_apply() (-ENOENT), alike everywhere. */
		return !o || !exec || from == exec ||
		       (from == coord && !member(members, n_members, exec));
	}
	/* A node speaks for its own hardware only. */
	case DROVER__ENVELOPE__BODY_NODE_HARDWARE:
		return env->node_hardware && from == env->node_hardware->node;
	case DROVER__ENVELOPE__BODY_OP_STEP_RESULT: {
		const struct queue_job *o = env->op_step_result
						    ? state_op_find(s, env->op_step_result->op_id)
						    : NULL;
		uint32_t exec = o ? state_op_executor(o) : 0;

		/* Unknown or finished ones are refused by state_apply() (-EINVAL), alike everywhere. */
		return !o || !exec || from == exec ||
		       (from == coord && !member(members, n_members, exec));
	}
	default:
		return true;
	}
}

enum apply_verdict apply_gate(const struct cluster_state *s, const uint32_t *members,
			      size_t n_members, bool config_quorate, bool synced, uint32_t from,
			      const Drover__Envelope *env)
{
	if (!config_quorate)
		return APPLY_NOT_QUORATE;
	if (!synced)
		return APPLY_NOT_SYNCED;
	if (!apply_gate_sender_ok(s, members, n_members, from, env))
		return APPLY_NOT_SENDERS;
	return APPLY_OK;
}

const char *apply_verdict_text(enum apply_verdict v)
{
	switch (v) {
	case APPLY_OK:
		return "applied";
	case APPLY_NOT_QUORATE:
		return "the configuration is not quorate";
	case APPLY_NOT_SYNCED:
		return "state exchange in progress";
	case APPLY_NOT_SENDERS:
		return "not its to send";
	}
	return "?";
}
