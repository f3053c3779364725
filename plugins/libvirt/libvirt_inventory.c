/*
 * The host's capacity and every domain libvirt knows (running or only
 * defined), for droverd's view of what runs where.
 *
 * The inventory is the ground truth droverd rebuilds from, so a domain is
 * never left out because a call on it failed (it may vanish between listing
 * and asking, or libvirtd may refuse one query): it is reported with state
 * UNKNOWN and zeros, and droverd asks again later. Only a failure to list at
 * all fails the call.
 *
 * Memory is the configured maximum (virDomainInfo.maxMem, KiB) rounded up to
 * whole MiB, as droverd's registry counts it; vCPUs are the current count.
 * The host's memory is the physical memory from virNodeGetInfo(); its free
 * memory (virNodeGetFreeMemory()) is only logged, because version 1 of the
 * ABI has no field for it and droverd places VMs by their configured size.
 */
#include <errno.h>
#include <stdlib.h>
#include <syslog.h>

#include "libvirt_plugin.h"

int lv_state_from_virt(int state)
{
	switch (state) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED: /* running, waiting on a resource */
		return DROVER_VM_RUNNING;
	case VIR_DOMAIN_PAUSED:
		return DROVER_VM_PAUSED;
	case VIR_DOMAIN_SHUTDOWN:
		return DROVER_VM_SHUTTING_DOWN;
	case VIR_DOMAIN_SHUTOFF:
		return DROVER_VM_STOPPED;
	case VIR_DOMAIN_CRASHED:
		return DROVER_VM_CRASHED;
	case VIR_DOMAIN_PMSUSPENDED:
		return DROVER_VM_SUSPENDED;
	case VIR_DOMAIN_NOSTATE:
	default:
		return DROVER_VM_UNKNOWN;
	}
}

const char *lv_state_name(int state)
{
	switch (state) {
	case DROVER_VM_RUNNING:
		return "running";
	case DROVER_VM_PAUSED:
		return "paused";
	case DROVER_VM_SHUTTING_DOWN:
		return "shutting-down";
	case DROVER_VM_STOPPED:
		return "shutoff";
	case DROVER_VM_CRASHED:
		return "crashed";
	case DROVER_VM_SUSPENDED:
		return "pmsuspended";
	default:
		return "unknown";
	}
}

int lv_inventory(void *opaque, struct drover_inventory *inv, char *err, size_t errlen)
{
	struct lv_ctx *ctx = opaque;
	virConnectPtr conn;
	virNodeInfo node;
	virDomainPtr *doms = NULL;
	unsigned long long free_bytes;
	int n, r;

	r = lv_conn_get(ctx, &conn, err, errlen);
	if (r < 0)
		return r;
	if (virNodeGetInfo(conn, &node) < 0)
		return lv_fail(err, errlen, "reading the host's memory and CPUs from '%s'",
			       ctx->cfg.uri);
	inv->memory_mib = node.memory / 1024;
	inv->vcpus = node.cpus;
	free_bytes = virNodeGetFreeMemory(conn);
	if (free_bytes > 0)
		lv_log(ctx, LOG_DEBUG, "host: %u CPUs, %lu MiB, %llu MiB free", node.cpus,
		       node.memory / 1024, free_bytes >> 20);
	virResetLastError();

	n = virConnectListAllDomains(conn, &doms, 0);
	if (n < 0)
		return lv_fail(err, errlen, "listing the domains of '%s'", ctx->cfg.uri);
	r = 0;
	for (int i = 0; i < n; i++) {
		struct drover_domain d = {.size = sizeof(d), .state = DROVER_VM_UNKNOWN};
		virDomainInfo info;

		d.name = virDomainGetName(doms[i]);
		if (!d.name) /* cannot happen for a listed domain; never report "" */
			continue;
		if (virDomainGetInfo(doms[i], &info) == 0) {
			d.state = lv_state_from_virt(info.state);
			d.memory_mib = (info.maxMem + 1023) / 1024;
			d.vcpus = info.nrVirtCpu;
		} else {
			lv_log(ctx, LOG_INFO,
			       "domain '%s': cannot read its state (%s); reported "
			       "as unknown",
			       d.name, virGetLastErrorMessage());
			virResetLastError();
		}
		if (r == 0)
			r = inv->add_domain(inv, &d);
	}
	for (int i = 0; i < n; i++)
		virDomainFree(doms[i]);
	free(doms);
	if (r < 0)
		return drover_plugin_error(err, errlen, -r,
					   "the agent refused a domain of the "
					   "inventory");
	return 0;
}
