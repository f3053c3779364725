/*
 * Names of enum values for logs, CLI output and CLI input (see names.h).
 */
#include "names.h"

#include <errno.h>
#include <string.h>

const char *node_state_name(Drover__NodeState st)
{
	switch (st) {
	case DROVER__NODE_STATE__NODE_STATE_ACTIVE:
		return "active";
	case DROVER__NODE_STATE__NODE_STATE_DRAINING:
		return "draining";
	case DROVER__NODE_STATE__NODE_STATE_DRAINED:
		return "drained";
	case DROVER__NODE_STATE__NODE_STATE_MAINTENANCE:
		return "maintenance";
	case DROVER__NODE_STATE__NODE_STATE_FENCED:
		return "fenced";
	case DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED:
		return "drain-failed";
	default:
		return "unknown";
	}
}

const char *vm_priority_name(Drover__VmPriority p)
{
	switch (p) {
	case DROVER__VM_PRIORITY__VM_PRIORITY_HIGH:
		return "high";
	case DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM:
		return "medium";
	case DROVER__VM_PRIORITY__VM_PRIORITY_LOW:
		return "low";
	case DROVER__VM_PRIORITY__VM_PRIORITY_NONE:
		return "none";
	default:
		return "unknown";
	}
}

int vm_priority_from_name(const char *name, Drover__VmPriority *ret)
{
	for (int p = DROVER__VM_PRIORITY__VM_PRIORITY_HIGH; p <= DROVER__VM_PRIORITY__VM_PRIORITY_NONE;
	     p++)
		if (strcmp(name, vm_priority_name((Drover__VmPriority)p)) == 0) {
			*ret = (Drover__VmPriority)p;
			return 0;
		}
	return -EINVAL;
}

bool name_is_identifier(const char *name, size_t max)
{
	size_t n;

	if (!name || !*name || name[0] == '-' || name[0] == '.')
		return false;
	for (n = 0; name[n]; n++) {
		unsigned char c = (unsigned char)name[n];

		if (n + 1 >= max)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

const char *vm_want_name(Drover__VmWant w)
{
	switch (w) {
	case DROVER__VM_WANT__VM_WANT_RUNNING:
		return "running";
	case DROVER__VM_WANT__VM_WANT_STOPPED:
		return "stopped";
	case DROVER__VM_WANT__VM_WANT_PREEMPTED:
		return "preempted";
	case DROVER__VM_WANT__VM_WANT_GAVE_UP:
		return "gave-up";
	default:
		return "";
	}
}

const char *fence_state_name(Drover__FenceState st)
{
	switch (st) {
	case DROVER__FENCE_STATE__FENCE_STATE_PENDING:
		return "pending";
	case DROVER__FENCE_STATE__FENCE_STATE_FAILED:
		return "failed";
	case DROVER__FENCE_STATE__FENCE_STATE_FENCED:
		return "fenced";
	default:
		return "none";
	}
}

const char *job_origin_name(uint32_t o)
{
	switch (o) {
	case DROVER__JOB_ORIGIN__JOB_ORIGIN_DRAIN:
		return "drain";
	case DROVER__JOB_ORIGIN__JOB_ORIGIN_FAILBACK:
		return "failback";
	case DROVER__JOB_ORIGIN__JOB_ORIGIN_MANUAL:
		return "manual";
	case DROVER__JOB_ORIGIN__JOB_ORIGIN_RECOVERY:
		return "recovery";
	case DROVER__JOB_ORIGIN__JOB_ORIGIN_PREEMPT:
		return "preempt";
	case DROVER__JOB_ORIGIN__JOB_ORIGIN_DUPLICATE:
		return "duplicate";
	default:
		return "";
	}
}
