/*
 * The world the replicas live in, as the simulator holds it: each host's
 * hypervisor (the domains it runs, its agent working or not), the migration
 * networks' links, and time. world_tick() is the passing of time: agents finish
 * their jobs, sources finish their migrations, every agent reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

const char *const net_names[N_NETS] = { "mig-a", "mig-b" };

/* ---- the VMs the world knows ---- */

static uint32_t name_hash(const char *p)
{
	uint32_t h = 2166136261u;

	while (*p)
		h = (h ^ (uint8_t)*p++) * 16777619u;
	return h;
}

int world_vm_index(const char *name, bool create)
{
	uint32_t slot = name_hash(name) & (VM_HASH_SIZE - 1);

	/* Open addressing; the table is never more than half full. */
	for (;; slot = (slot + 1) & (VM_HASH_SIZE - 1)) {
		int32_t i = S.vm_hash[slot] - 1;

		if (i >= 0 && strcmp(S.vms[i].name, name) == 0)
			return i;
		if (i < 0)
			break;
	}
	if (!create || S.n_vms == MAX_VMS || strlen(name) >= DROVER_VM_NAME_MAX)
		return -1;
	memset(&S.vms[S.n_vms], 0, sizeof(S.vms[0]));
	strscpy(S.vms[S.n_vms].name, name, DROVER_VM_NAME_MAX);
	S.vm_hash[slot] = (int32_t)++S.n_vms;
	return (int)S.n_vms - 1;
}

void world_vm_register(const char *name, uint64_t memory_mib, uint32_t vcpus)
{
	int i = world_vm_index(name, true);

	if (i < 0) {
		fprintf(stderr, "drover-sim: line %d: more than %d VMs\n", S.scenario_line, MAX_VMS);
		exit(64);
	}
	S.vms[i].memory_mib = memory_mib;
	S.vms[i].vcpus = vcpus;
}

/* ---- the hypervisors' truth ---- */

bool world_host_runs(uint32_t id, const char *vm)
{
	int i = world_vm_index(vm, false);

	return i >= 0 && ((S.vms[i].hosts >> (id - 1)) & 1u);
}

void world_host_set(uint32_t id, const char *vm, bool run)
{
	struct host *h = &S.h[id - 1];
	int v = world_vm_index(vm, run);
	uint64_t bit = UINT64_C(1) << (id - 1);

	if (v < 0 || !(S.vms[v].hosts & bit) == !run)
		return;
	S.vms[v].hosts ^= bit;
	if (run) {
		h->running[h->n_running++] = (uint16_t)v;
		return;
	}
	for (size_t i = 0; i < h->n_running; i++)
		if (h->running[i] == v) {
			memmove(&h->running[i], &h->running[i + 1],
				(--h->n_running - i) * sizeof(h->running[0]));
			return;
		}
}

/* The host powers off: its guests are gone. */
void world_host_power_off(uint32_t id)
{
	struct host *h = &S.h[id - 1];

	for (size_t i = 0; i < h->n_running; i++)
		S.vms[h->running[i]].hosts &= ~(UINT64_C(1) << (id - 1));
	h->n_running = 0;
	h->powered = false;
}

/* Network k links a and b: both hosts up, on one side of any partition, both links up. */
bool world_net_usable(size_t k, uint32_t a, uint32_t b)
{
	const struct host *x = &S.h[a - 1], *y = &S.h[b - 1];

	return k < N_NETS && x->powered && y->powered && x->group == y->group && !x->net_down[k] &&
	       !y->net_down[k];
}

/* Time passes: agent jobs finish, every agent reports, held requests are decided again. */
void world_tick(void)
{
	S.tick++;
	for (size_t i = 0; i < S.n; i++) {
		struct replica *r = &S.r[i];
		struct host *h = &S.h[i];

		if (!h->powered)
			continue;
		for (size_t j = 0; j < r->n_jobs && r->up; j++) {
			struct agent_job *a = &r->jobs[j];
			int code = 0;

			if (!h->agent_up) {
				replica_send_result(r, a->op_id, a->origin, a->request_id, DROVER_EXIT_ERROR,
					    "the agent failed");
				continue;
			}
			if (a->kind == DROVER__VM_ACTION_KIND__VM_ACTION_START)
				world_host_set(r->id, a->vm, true);
			else if (a->kind == DROVER__VM_ACTION_KIND__VM_ACTION_STOP)
				world_host_set(r->id, a->vm, false);
			else
				code = DROVER_EXIT_ERROR;
			replica_send_result(r, a->op_id, a->origin, a->request_id, code,
				    code ? "not a start or a stop" : "");
		}
		r->n_jobs = 0;
		for (size_t j = 0; j < r->n_migs && r->up; j++) {
			const struct mig_job *m = &r->migs[j];
			size_t k = 0;
			char why[96];

			while (k < N_NETS && strcmp(net_names[k], m->network) != 0)
				k++;
			if (h->agent_up && world_host_runs(r->id, m->vm) && world_net_usable(k, r->id, m->target)) {
				world_host_set(r->id, m->vm, false);
				world_host_set(m->target, m->vm, true);
				replica_send_job_finish(r, m->job_id, true, "");
			} else {
				snprintf(why, sizeof(why), "the migration over %s failed", m->network);
				replica_send_job_finish(r, m->job_id, false, why);
			}
		}
		r->n_migs = 0;
		if (r->up)
			replica_send_inventory(r);
	}
	bus_deliver_all();
	for (size_t i = 0; i < S.n; i++)
		if (S.r[i].up && S.r[i].n_held && replica_coordinator(&S.r[i]) == S.r[i].id)
			sim_coord_retry_held(&S.r[i], true);
	bus_deliver_all();
	sim_coord_all();
}

