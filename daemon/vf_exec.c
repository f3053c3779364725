/*
 * SR-IOV on this node (docs/SRIOV.md): the announcement of its VF pools and
 * IPsec SA capacity (NodeHardware), and the VF steps of the operations it
 * executes, each through its agent: a migration's detach on the source and
 * attach on the target (or on the source again, after a failed transfer),
 * ended with an OpStepResult; the attach of a vf-attach operation (a
 * degraded VM's repair) is vm_actions.c's, ended with a VmActionResult.
 *
 * The device a step concerns is always the replicated state's: the VF the
 * VM holds (a migration's steps) or the one the operation reserved (a
 * repair), named by pool and number; the element attached is this node's
 * drover.conf template of that number, with the VM's MAC put in
 * (core/vf_device.c). A pool whose templates were reordered by a reload
 * means other devices: that is the operator's to avoid, as with any
 * hardware edit under running VMs.
 *
 * Nothing here blocks: the agent does the hypervisor's work and answers
 * through agent_link.c; a step whose executor left is ended by the
 * coordinator (core/coord.c), one whose droverd restarted by that droverd when it is
 * synchronised again (it cannot know whether the agent finished), both as
 * failed, which keeps what the state says of the VF.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "droverd.h"
#include "log.h"
#include "util.h"
#include "vf_device.h"

/*
 * Detach and attach wait for the guest (the unplug's acknowledgement): the
 * guest gets VF_ACK_TIMEOUT_MS (AgentDeviceJob.timeout_ms), the agent's job a
 * deadline above it, so that a guest that does not answer is reported as
 * such rather than as a job killed at its deadline.
 */
#define VF_ACK_TIMEOUT_MS 30000u
#define VF_STEP_DEADLINE_MS 60000u

/* ---- what this node has ---- */

static bool hardware_equal(const struct droverd *d, const struct node_cfg *n)
{
	uint32_t cap = n ? n->ipsec_sa_capacity : 0;
	size_t np = n ? n->n_vf_pools : 0;

	if (cap != d->cfg.ipsec_sa_capacity || np != d->cfg.n_vf_pools)
		return false;
	for (size_t i = 0; i < np; i++) {
		const struct drover_vf_pool *c = &d->cfg.vf_pools[i];
		const struct vf_pool *p = &n->vf_pools[i];
		char label[DROVER_VF_LABEL_MAX];

		if (strcmp(c->name, p->name) != 0 || c->n_devices != p->n_devices)
			return false;
		for (size_t k = 0; k < c->n_devices; k++) {
			vf_device_label(c->devices[k], (unsigned)k + 1, label, sizeof(label));
			if (strcmp(label, p->labels[k]) != 0)
				return false;
		}
	}
	return true;
}

void vf_exec_announce(struct droverd *d)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NodeHardware m = DROVER__NODE_HARDWARE__INIT;
	Drover__VfPool pools[CONFIG_MAX_VF_POOLS], *pp[CONFIG_MAX_VF_POOLS];
	char labels[CONFIG_MAX_VF_POOLS][CONFIG_MAX_VF_DEVICES][DROVER_VF_LABEL_MAX];
	char *lp[CONFIG_MAX_VF_POOLS][CONFIG_MAX_VF_DEVICES];

	/* Applied only where quorate and synchronised: sent only then, and only when it differs. */
	if (!d->synced || !d->config_quorate ||
	    hardware_equal(d, state_node_find(&d->state, d->local_id)))
		return;
	for (size_t i = 0; i < d->cfg.n_vf_pools; i++) {
		const struct drover_vf_pool *c = &d->cfg.vf_pools[i];

		drover__vf_pool__init(&pools[i]);
		pools[i].name = (char *)c->name;
		for (size_t k = 0; k < c->n_devices; k++) {
			vf_device_label(c->devices[k], (unsigned)k + 1, labels[i][k], sizeof(labels[i][k]));
			lp[i][k] = labels[i][k];
		}
		pools[i].labels = lp[i];
		pools[i].n_labels = c->n_devices;
		pp[i] = &pools[i];
	}
	m.node = d->local_id;
	m.vf_pools = pp;
	m.n_vf_pools = d->cfg.n_vf_pools;
	m.ipsec_sa_capacity = d->cfg.ipsec_sa_capacity;
	env.body_case = DROVER__ENVELOPE__BODY_NODE_HARDWARE;
	env.node_hardware = &m;
	log_info("announcing this node's hardware: %zu VF pool(s), IPsec SA capacity %u",
		 d->cfg.n_vf_pools, d->cfg.ipsec_sa_capacity);
	membership_send(d, &env, false);
}

int vf_exec_device(const struct droverd *d, const struct queue_vf *vf, const char *vm, char *buf,
		   size_t len)
{
	const struct vm_cfg *v = state_vm_find(&d->state, vm);

	for (size_t i = 0; i < d->cfg.n_vf_pools; i++) {
		const struct drover_vf_pool *c = &d->cfg.vf_pools[i];

		if (strcmp(c->name, vf->pool) != 0)
			continue;
		if (!vf->device || vf->device > c->n_devices)
			return -ENOENT;
		return vf_device_xml(c->devices[vf->device - 1], v ? v->xml : NULL, buf, len);
	}
	return -ENOENT;
}

/* ---- a migration's VF steps ---- */

static struct vf_step_exec *step_find(struct droverd *d, uint64_t op, uint32_t step)
{
	for (size_t i = 0; i < d->n_vf_steps; i++)
		if (d->vf_steps[i].op_id == op && d->vf_steps[i].step == step)
			return &d->vf_steps[i];
	return NULL;
}

/* What we said of step of op's attempt that started at started_ms, if anything. */
static const struct vf_sent *sent_find(const struct droverd *d, uint64_t op, uint32_t step,
				       uint64_t started_ms)
{
	for (size_t i = 0; i < DROVER_MAX_VF_STEPS; i++)
		if (d->vf_sent[i].op_id == op && d->vf_sent[i].step == step &&
		    d->vf_sent[i].started_ms == started_ms)
			return &d->vf_sent[i];
	return NULL;
}

static void send_step_result(struct droverd *d, uint64_t op, uint32_t step, bool ok,
			     const char *error)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__OpStepResult m = DROVER__OP_STEP_RESULT__INIT;
	const struct queue_job *j;
	char why[QUEUE_REASON_MAX];

	/* Every member refuses a longer one; cut here so the step still ends. */
	strscpy(why, error ? error : "", sizeof(why));
	m.op_id = op;
	m.step = step;
	m.ok = ok;
	m.error = why;
	m.finished_ms = wall_ms();
	env.body_case = DROVER__ENVELOPE__BODY_OP_STEP_RESULT;
	env.op_step_result = &m;
	membership_send(d, &env, false);
	/* Remembered: what our agent said is said again, never replaced by a guess. */
	if ((j = state_job_find(&d->state, op)) && !sent_find(d, op, step, j->started_ms)) {
		d->vf_sent[d->vf_sent_next] =
			(struct vf_sent){ .op_id = op, .step = step, .started_ms = j->started_ms, .ok = ok };
		strscpy(d->vf_sent[d->vf_sent_next].error, why, sizeof(d->vf_sent[0].error));
		d->vf_sent_next = (d->vf_sent_next + 1) % DROVER_MAX_VF_STEPS;
	}
}

static bool is_vf_step(const struct queue_job *j)
{
	uint32_t k;

	if (j->kind != QUEUE_OP_MIGRATE || j->state != QUEUE_JOB_RUNNING || j->step >= j->n_plan)
		return false;
	k = j->plan[j->step].kind;
	return k == DROVER__OP_STEP_KIND__OP_STEP_VF_DETACH || k == DROVER__OP_STEP_KIND__OP_STEP_VF_ATTACH;
}

void vf_exec_step(struct droverd *d, const struct queue_job *j)
{
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentDeviceJob dev = DROVER__AGENT_DEVICE_JOB__INIT;
	const struct vm_cfg *v;
	struct vf_step_exec *e;
	char xml[CONFIG_VF_DEVICE_MAX + 64];
	bool detach;

	if (!j || !is_vf_step(j) || state_op_executor(j) != d->local_id ||
	    step_find(d, j->id, j->step))
		return;
	if (d->leaving) {
		/* A failed step ends the plan on its failure path: the VM keeps its VF, or runs degraded. */
		send_step_result(d, j->id, j->step, false, "droverd on this node is stopping");
		return;
	}
	detach = j->plan[j->step].kind == DROVER__OP_STEP_KIND__OP_STEP_VF_DETACH;
	v = state_vm_find(&d->state, j->vm);
	/* The VF of a migration's step is the one the VM holds (state_vf.c). */
	if (!v || v->vf.node != d->local_id ||
	    vf_exec_device(d, &v->vf, j->vm, xml, sizeof(xml)) < 0) {
		send_step_result(d, j->id, j->step, false,
				 "this node's drover.conf has no such VF device (pool or number)");
		return;
	}
	if (d->n_vf_steps == DROVER_MAX_VF_STEPS) {
		send_step_result(d, j->id, j->step, false, "too many VF steps in progress here");
		return;
	}
	dev.vm = (char *)j->vm;
	dev.device_xml = xml;
	dev.timeout_ms = VF_ACK_TIMEOUT_MS;
	if (detach) {
		job.kind_case = DROVER__AGENT_JOB__KIND_DEVICE_DETACH;
		job.device_detach = &dev;
	} else {
		job.kind_case = DROVER__AGENT_JOB__KIND_DEVICE_ATTACH;
		job.device_attach = &dev;
	}
	job.deadline_ms = VF_STEP_DEADLINE_MS;
	e = &d->vf_steps[d->n_vf_steps];
	memset(e, 0, sizeof(*e));
	e->op_id = j->id;
	e->step = j->step;
	e->detach = detach;
	if (agent_link_submit(d, &job, &e->agent_job) < 0) {
		send_step_result(d, j->id, j->step, false, "this node's agent is unavailable");
		return;
	}
	d->n_vf_steps++;
	log_notice("job %llu: %s the VF %s/%u of VM '%s'", (unsigned long long)j->id,
		   detach ? "detaching" : "attaching", v->vf.pool, v->vf.device, j->vm);
}

bool vf_exec_job_done(struct droverd *d, uint64_t agent_job, const Drover__AgentJobResult *r)
{
	char msg[QUEUE_REASON_MAX];

	for (size_t i = 0; i < d->n_vf_steps; i++) {
		struct vf_step_exec e = d->vf_steps[i];
		bool ok = r->outcome == DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK;

		if (e.agent_job != agent_job)
			continue;
		memmove(&d->vf_steps[i], &d->vf_steps[i + 1],
			(--d->n_vf_steps - i) * sizeof(d->vf_steps[0]));
		if (ok)
			msg[0] = '\0';
		else if (r->outcome == DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_TIMEOUT)
			snprintf(msg, sizeof(msg), "timed out: %s", r->error ? r->error : "");
		else
			snprintf(msg, sizeof(msg), "%s", r->error && *r->error ? r->error : "failed");
		log_notice("job %llu: VF %s %s%s%s", (unsigned long long)e.op_id,
			   e.detach ? "detach" : "attach", ok ? "done" : "failed", ok ? "" : ": ", msg);
		send_step_result(d, e.op_id, e.step, ok, msg);
		agent_link_request_inventory(d);
		return true;
	}
	return false;
}

void vf_exec_agent_lost(struct droverd *d)
{
	for (size_t i = 0; i < d->n_vf_steps; i++)
		send_step_result(d, d->vf_steps[i].op_id, d->vf_steps[i].step, false,
				 "this node's agent died during the VF step");
	d->n_vf_steps = 0;
}

/*
 * A VF step of ours that nothing here runs: this droverd restarted meanwhile.
 * (One whose node left is the coordinator's to fail: coord.c, COORD_STEP_FAIL.)
 */
void vf_exec_reconcile(struct droverd *d)
{
	if (!d->synced || !d->config_quorate)
		return;
	for (size_t i = 0; i < d->state.n_jobs; i++) {
		const struct queue_job *j = &d->state.jobs[i];

		const struct vf_sent *f;

		if (!is_vf_step(j) || state_op_executor(j) != d->local_id ||
		    step_find(d, j->id, j->step))
			continue;
		f = sent_find(d, j->id, j->step, j->started_ms);
		if (f) {
			/* Said before and not applied (an exchange dropped it): again. */
			struct vf_sent again = *f;

			log_info("job %llu: saying the end of its VF step again", (unsigned long long)j->id);
			send_step_result(d, again.op_id, again.step, again.ok, again.error);
		} else {
			send_step_result(d, j->id, j->step, false, "droverd restarted during the VF step");
		}
	}
}

void vf_exec_on_applied(struct droverd *d, uint32_t from, bool from_self,
			const Drover__Envelope *env, int r)
{
	(void)from;
	(void)from_self;
	if (r != 1)
		return;
	if (env->body_case == DROVER__ENVELOPE__BODY_OP_STEP_RESULT && env->op_step_result) {
		const struct queue_job *j = state_job_find(&d->state, env->op_step_result->op_id);

		/* The next step may be ours: a transfer (drain.c), a VF attach. */
		if (j)
			drain_take_step(d, j);
		ctl_server_jobs_ended(d);
	}
	drain_kick(d);
	failover_kick(d);
	ctl_server_notify(d);
}
