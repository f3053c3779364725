/*
 * One decision, as messages (see coord_msgs.h). Reasons come from coord.c,
 * which keeps them within QUEUE_REASON_MAX, the length every member accepts.
 */
#include "coord_msgs.h"

#include <string.h>

void coord_messages(const struct coord_decision *c, uint64_t now_ms, struct coord_msgs *ret)
{
	memset(ret, 0, sizeof(*ret));
	switch (c->kind) {
	case COORD_START:
		for (size_t i = 0; i < c->n_starts && i < COORD_BATCH; i++) {
			Drover__JobStart *m = &ret->starts[i];

			drover__job_start__init(m);
			m->job_id = c->starts[i].job_id;
			m->target = c->starts[i].target;
			m->network = (char *)c->starts[i].network_name;
			m->started_ms = now_ms;
			drover__envelope__init(&ret->env[ret->n]);
			ret->env[ret->n].body_case = DROVER__ENVELOPE__BODY_JOB_START;
			ret->env[ret->n++].job_start = m;
		}
		return;
	case COORD_FINISH:
		drover__job_finish__init(&ret->finish);
		ret->finish.job_id = c->job_id;
		ret->finish.ok = false;
		ret->finish.reason = (char *)c->reason;
		ret->finish.finished_ms = now_ms;
		drover__envelope__init(&ret->env[0]);
		ret->env[0].body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
		ret->env[0].job_finish = &ret->finish;
		ret->n = 1;
		return;
	case COORD_STEP_FAIL:
		drover__op_step_result__init(&ret->step_result);
		ret->step_result.op_id = c->job_id;
		ret->step_result.step = c->step;
		ret->step_result.ok = false;
		ret->step_result.error = (char *)c->reason;
		ret->step_result.finished_ms = now_ms;
		drover__envelope__init(&ret->env[0]);
		ret->env[0].body_case = DROVER__ENVELOPE__BODY_OP_STEP_RESULT;
		ret->env[0].op_step_result = &ret->step_result;
		ret->n = 1;
		return;
	case COORD_ABORT:
		drover__job_abort__init(&ret->abort);
		ret->abort.job_id = c->job_id;
		ret->abort.reason = (char *)c->reason;
		drover__envelope__init(&ret->env[0]);
		ret->env[0].body_case = DROVER__ENVELOPE__BODY_JOB_ABORT;
		ret->env[0].job_abort = &ret->abort;
		ret->n = 1;
		return;
	case COORD_CANCEL:
		drover__jobs_cancel__init(&ret->cancel);
		ret->cancel.n_job_ids = c->n_ids;
		ret->cancel.job_ids = (uint64_t *)c->ids;
		ret->cancel.at_ms = now_ms;
		ret->cancel.reason = (char *)c->reason;
		drover__envelope__init(&ret->env[0]);
		ret->env[0].body_case = DROVER__ENVELOPE__BODY_JOBS_CANCEL;
		ret->env[0].jobs_cancel = &ret->cancel;
		ret->n = 1;
		return;
	case COORD_ADD:
		drover__jobs_add__init(&ret->add);
		for (size_t i = 0; i < c->n_vms && i < COORD_MAX_ADD; i++) {
			drover__job_spec__init(&ret->specs[i]);
			ret->specs[i].vm = (char *)c->vms[i];
			ret->specs[i].source = c->node;
			ret->specs[i].origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_DRAIN;
			ret->spec_ptrs[i] = &ret->specs[i];
			ret->add.n_jobs = i + 1;
		}
		ret->add.jobs = ret->spec_ptrs;
		ret->add.created_ms = now_ms;
		drover__envelope__init(&ret->env[0]);
		ret->env[0].body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
		ret->env[0].jobs_add = &ret->add;
		ret->n = 1;
		return;
	case COORD_NODE_STATE:
		drover__set_node_state__init(&ret->node_state);
		ret->node_state.node_id = c->node;
		ret->node_state.state = c->node_state;
		drover__envelope__init(&ret->env[0]);
		ret->env[0].body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
		ret->env[0].set_node_state = &ret->node_state;
		ret->n = 1;
		return;
	case COORD_NONE:
		return;
	}
}
