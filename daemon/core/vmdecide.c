/*
 * One VM request, decided (the rules are in vmdecide.h). Pure: every input is
 * in the view, every output in the decision, so droverd and the simulator
 * decide alike on the same view.
 */
#include "vmdecide.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "exitcode.h"
#include "util.h"

static const struct vmd_node *node_of(const struct vmd_view *v, uint32_t id)
{
	for (size_t i = 0; id && i < v->n_nodes; i++)
		if (v->nodes[i].id == id)
			return &v->nodes[i];
	return NULL;
}

static const char *name_of(const struct vmd_view *v, uint32_t id, char *buf, size_t len)
{
	const struct vmd_node *n = node_of(v, id);

	if (n && n->name && *n->name)
		return n->name;
	snprintf(buf, len, "node %u", id);
	return buf;
}

/* May run or receive VMs: a member with a current, working agent, active. */
static bool usable(const struct vmd_view *v, uint32_t id, const char **why)
{
	const struct vmd_node *n = node_of(v, id);

	if (!n || !n->member)
		return *why = "is offline", false;
	if (!n->agent_ok)
		return *why = "has no working agent", false;
	if (state_node_get(v->state, id) != DROVER__NODE_STATE__NODE_STATE_ACTIVE)
		return *why = "is not active (maintenance, draining or drained)", false;
	/* Back from a fence but not unfenced yet (coord_input_may_receive()). */
	if (state_node_fence(v->state, id) != DROVER__FENCE_STATE__FENCE_STATE_NONE)
		return *why = "is lost or fenced and not usable again yet", false;
	return true;
}

/* The node has the memory for vm beside what its guests hold (those under way too). */
static bool has_room(const struct vmd_view *v, uint32_t id, const struct vm_cfg *vm)
{
	const struct vmd_node *n = node_of(v, id);

	return n && (!n->memory_mib || n->load_mib + vm->memory_mib <= n->memory_mib);
}

static uint32_t choose_start_node(const struct vmd_view *v, const struct vm_cfg *vm,
				  const struct locate_result *loc)
{
	const char *why;
	uint32_t best = 0;
	uint64_t best_load = 0;

	/*
	 * Where it is defined, its disks are; then where it was added to run;
	 * each only if it has room, or a host fills past its memory.
	 */
	if (loc->node_id && usable(v, loc->node_id, &why) && has_room(v, loc->node_id, vm))
		return loc->node_id;
	if (vm->home_node && usable(v, vm->home_node, &why) && has_room(v, vm->home_node, vm))
		return vm->home_node;
	for (size_t i = 0; i < v->n_nodes; i++) {
		const struct vmd_node *n = &v->nodes[i];

		if (!usable(v, n->id, &why) || !has_room(v, n->id, vm))
			continue;
		if (!best || n->load_mib < best_load || (n->load_mib == best_load && n->id < best)) {
			best = n->id;
			best_load = n->load_mib;
		}
	}
	return best;
}

static int answer(struct vmd_decision *ret, int code)
{
	ret->kind = VMD_ANSWER;
	ret->exit_code = code;
	return 0;
}

int vm_decide(const struct vmd_view *v, const struct vmd_request *q,
	      const struct locate_result *loc, struct vmd_decision *ret)
{
	const struct queue_job *busy;
	const struct vm_cfg *vm;
	char b[32];

	if (!v || !v->state || !q || !loc || !ret || (v->n_nodes && !v->nodes))
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (!q->vm || !(vm = state_vm_find(v->state, q->vm))) {
		snprintf(ret->message, sizeof(ret->message), "no such VM");
		return answer(ret, DROVER_EXIT_NOSUCH);
	}
	busy = state_op_for_vm(v->state, vm->name);
	if (busy && busy->kind == QUEUE_OP_MIGRATE) {
		snprintf(ret->message, sizeof(ret->message), "VM '%s' has a migration job in the "
			 "queue (see `drover queue`); cancel the drain first", vm->name);
		return answer(ret, DROVER_EXIT_UNAVAILABLE);
	}
	if (busy || q->in_flight) {
		snprintf(ret->message, sizeof(ret->message),
			 "VM '%s' has an action in progress; retry when it is done", vm->name);
		return answer(ret, DROVER_EXIT_UNAVAILABLE);
	}
	/*
	 * Nothing is decided on a guess. A start or stop needs to know where
	 * the VM is; a migration needs the node that runs it, reported afresh.
	 */
	if (loc->state == LOCATE_UNKNOWN) {
		if (loc->unknown_member && q->may_hold) {
			ret->kind = VMD_HOLD;
			snprintf(ret->message, sizeof(ret->message), "%s", loc->reason);
			return 0;
		}
		snprintf(ret->message, sizeof(ret->message), "VM '%.63s' may be running where drover "
			 "cannot see: %.192s; not deciding on a guess", vm->name, loc->reason);
		return answer(ret, DROVER_EXIT_UNSAFE);
	}
	switch (q->kind) {
	case DROVER__VM_ACTION_KIND__VM_ACTION_START:
		if (loc->state == LOCATE_RUNNING) {
			snprintf(ret->message, sizeof(ret->message), "VM '%s' is already running on %s",
				 vm->name, name_of(v, loc->node_id, b, sizeof(b)));
			return answer(ret, 0);
		}
		if (q->others_in_flight) {
			snprintf(ret->message, sizeof(ret->message),
				 "the coordinator's decisions in flight are not applied yet");
			if (q->may_hold) {
				ret->kind = VMD_HOLD;
				return 0;
			}
			return answer(ret, DROVER_EXIT_UNAVAILABLE);
		}
		ret->node = choose_start_node(v, vm, loc);
		if (!ret->node) {
			snprintf(ret->message, sizeof(ret->message),
				 "no usable node has %llu MiB free for VM '%s'",
				 (unsigned long long)vm->memory_mib, vm->name);
			return answer(ret, DROVER_EXIT_UNAVAILABLE);
		}
		break;
	case DROVER__VM_ACTION_KIND__VM_ACTION_STOP:
		if (loc->state != LOCATE_RUNNING) {
			snprintf(ret->message, sizeof(ret->message), "VM '%s' is not running (%s)",
				 vm->name, locate_state_name(loc->state));
			return answer(ret, 0);
		}
		ret->node = loc->node_id;
		break;
	case DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE:
		snprintf(ret->message, sizeof(ret->message),
			 "a migration is a job of the queue: run `drover vm migrate` on an upgraded node");
		return answer(ret, DROVER_EXIT_INVALID_PARAM);
	default:
		snprintf(ret->message, sizeof(ret->message), "unknown VM action");
		return answer(ret, DROVER_EXIT_INVALID_PARAM);
	}
	if (!node_of(v, ret->node)) {
		snprintf(ret->message, sizeof(ret->message),
			 "the node that reports the VM is not in the nodelist");
		return answer(ret, DROVER_EXIT_ERROR);
	}
	ret->kind = VMD_ACT;
	return 0;
}
