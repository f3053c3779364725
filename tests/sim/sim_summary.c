/*
 * The log at scale. `log summary` leaves out the per-message lines (every
 * node's applies, drops and decisions: tens of thousands at 32 nodes) and
 * writes instead, after each tick where anything changed, one line of what
 * the queue and the drains look like from the coordinator's replica, with
 * counts the simulator keeps (each change counted once, where it was sent);
 * a configuration is one line, not one per member. Events, answers to the
 * CLI, state adoptions, checks and violations are logged at both levels, so
 * a 32-node run stays a few hundred reviewable lines.
 */
#include <stdio.h>
#include <string.h>

#include "sim.h"

/* Node ids of mask, with runs as ranges: "n1-n6 n9". */
void summary_nodes(uint64_t mask, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (uint32_t id = 1; id <= MAX_NODES && off + 1 < len; id++) {
		uint32_t end = id;

		if (!((mask >> (id - 1)) & 1u))
			continue;
		while (end < MAX_NODES && ((mask >> end) & 1u))
			end++;
		off += (size_t)snprintf(buf + off, len - off, end > id ? "%s%s-%s" : "%s%s",
					off ? " " : "", nm(id), nm(end));
		if (off >= len)
			off = len - 1;
		id = end;
	}
}

void summary_count(const struct replica *r, const Drover__Envelope *env, size_t unfinished_before)
{
	struct sim_stats *st = &S.stats;
	const struct queue_job *j;

	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_JOB_START:
		j = state_op_find(&r->state, env->job_start->job_id);
		st->starts++;
		if (j && j->n_attempts && j->attempts[j->n_attempts - 1].result == QUEUE_RESULT_FAILED &&
		    strcmp(j->attempts[j->n_attempts - 1].network, j->network) != 0)
			st->retries_elsewhere++;
		break;
	case DROVER__ENVELOPE__BODY_JOB_FINISH:
		j = state_op_find(&r->state, env->job_finish->job_id);
		if (!j || j->kind != QUEUE_OP_MIGRATE)
			break;
		if (env->job_finish->ok)
			st->done++;
		else
			st->attempts_failed++;
		st->failed += j->state == QUEUE_JOB_FAILED;
		st->cancelled += j->state == QUEUE_JOB_CANCELLED;
		break;
	case DROVER__ENVELOPE__BODY_JOBS_CANCEL:
		if (unfinished_before > state_jobs_unfinished(&r->state))
			st->cancelled += unfinished_before - state_jobs_unfinished(&r->state);
		break;
	default:
		break;
	}
}

/* A tick with more running than the limits in force allow (lowered under running migrations). */
static void summary_over_limits(const struct replica *r)
{
	const struct mig_limits *l = &r->state.limits;
	uint32_t out[MAX_NODES + 1] = { 0 }, in[MAX_NODES + 1] = { 0 }, net[MAX_NETS + 1] = { 0 }, all = 0;
	bool over = false;

	for (size_t i = 0; i < r->state.n_jobs; i++) {
		const struct queue_job *j = &r->state.jobs[i];

		if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING || j->source > MAX_NODES ||
		    j->target > MAX_NODES)
			continue;
		out[j->source]++, in[j->target]++, net[world_net_index(j->network)]++, all++;
	}
	for (size_t id = 1; id <= MAX_NODES; id++)
		over |= (l->per_source && out[id] > l->per_source) || (l->per_target && in[id] > l->per_target);
	for (size_t c = 0; c < l->n_caps; c++)
		over |= l->caps[c].cap && net[world_net_index(l->caps[c].network)] > l->caps[c].cap;
	over |= l->cluster && all > l->cluster;
	S.stats.over_limit_ticks += over;
}

void summary_tick(void)
{
	const struct replica *r = replica_coordinating();
	const struct sim_stats *st = &S.stats;
	uint64_t draining = 0, drained = 0, failed = 0;
	size_t running[MAX_NETS + 1] = { 0 }, queued = 0, off;
	char line[512], nodes[3][160];

	if (!r)
		return;
	summary_over_limits(r);
	if (!S.log_summary)
		return;
	for (size_t i = 0; i < r->state.n_jobs; i++) {
		const struct queue_job *j = &r->state.jobs[i];

		if (j->kind != QUEUE_OP_MIGRATE)
			continue;
		if (j->state == QUEUE_JOB_RUNNING)
			running[world_net_index(j->network)]++, running[MAX_NETS]++;
		queued += j->state == QUEUE_JOB_QUEUED;
	}
	for (size_t i = 0; i < r->state.n_nodes; i++) {
		uint64_t bit = UINT64_C(1) << (r->state.nodes[i].id - 1);

		switch (r->state.nodes[i].state) {
		case DROVER__NODE_STATE__NODE_STATE_DRAINING:
			draining |= bit;
			break;
		case DROVER__NODE_STATE__NODE_STATE_DRAINED:
			drained |= bit;
			break;
		case DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED:
			failed |= bit;
			break;
		default:
			break;
		}
	}
	off = (size_t)snprintf(line, sizeof(line), "%zu running (", running[MAX_NETS]);
	for (size_t k = 0; k < S.n_nets; k++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s %zu", k ? ", " : "",
					S.nets[k].name, running[k]);
	summary_nodes(draining, nodes[0], sizeof(nodes[0]));
	summary_nodes(drained, nodes[1], sizeof(nodes[1]));
	summary_nodes(failed, nodes[2], sizeof(nodes[2]));
	snprintf(line + off, sizeof(line) - off,
		 "), %zu queued; %llu started, %llu done, %llu attempts failed, %llu jobs failed, "
		 "%llu cancelled%s%s%s%s%s%s",
		 queued, (unsigned long long)st->starts, (unsigned long long)st->done,
		 (unsigned long long)st->attempts_failed, (unsigned long long)st->failed,
		 (unsigned long long)st->cancelled, draining ? "; draining " : "", nodes[0],
		 drained ? "; drained " : "", nodes[1], failed ? "; drain-failed " : "", nodes[2]);
	if (strcmp(line, S.stats.last) == 0)
		return;
	strscpy(S.stats.last, line, sizeof(S.stats.last));
	LOG("t=%d %s", S.tick, line);
}
