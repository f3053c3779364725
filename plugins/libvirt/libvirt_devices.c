/*
 * Device hot-plug and unplug (an SR-IOV VF, a macvtap NIC), given as libvirt
 * device XML.
 *
 * Both act on the live domain only (VIR_DOMAIN_AFFECT_LIVE), never on its
 * persistent definition: a VF or a macvtap parent is a property of this host,
 * and a definition that names it would follow the domain to the next host on
 * migration and fail there. droverd re-attaches what a host should give a VM.
 *
 * A detach "succeeds" when libvirt accepted it; libvirt waits a few seconds
 * for the guest and reports success even if the guest never acknowledged
 * (/work/shared/LAB-NOTES.md). Completion is DROVER_EVENT_DEVICE_REMOVED
 * from libvirt_events.c. Idempotence is the caller's: detaching a device that
 * is not there is -ENOENT, attaching one that is there is libvirt's error.
 */
#include <errno.h>
#include <syslog.h>

#include "libvirt_plugin.h"

static int device_call(struct lv_ctx *ctx, const char *vm, const char *xml, bool attach, char *err,
		       size_t errlen)
{
	const char *verb = attach ? "attaching" : "detaching";
	virConnectPtr conn;
	virDomainPtr dom;
	int r;

	if (!vm || !*vm)
		return drover_plugin_error(err, errlen, EINVAL, "no domain name");
	if (!xml || !*xml)
		return drover_plugin_error(err, errlen, EINVAL,
					   "%s a device to '%s': no device XML", verb, vm);
	r = lv_conn_get(ctx, &conn, err, errlen);
	if (r < 0)
		return r;
	dom = virDomainLookupByName(conn, vm);
	if (!dom) {
		if (lv_last_code() == VIR_ERR_NO_DOMAIN) {
			virResetLastError();
			return drover_plugin_error(err, errlen, ENOENT,
						   "no domain '%s' on this host", vm);
		}
		return lv_fail(err, errlen, "looking up domain '%s'", vm);
	}
	if (attach)
		r = virDomainAttachDeviceFlags(dom, xml, VIR_DOMAIN_AFFECT_LIVE);
	else
		r = virDomainDetachDeviceFlags(dom, xml, VIR_DOMAIN_AFFECT_LIVE);
	if (r < 0)
		r = lv_fail(err, errlen, "%s a device %s '%s'", verb, attach ? "to" : "from", vm);
	else
		lv_log(ctx, LOG_INFO, "%s a device %s '%s': accepted", verb, attach ? "to" : "from",
		       vm);
	virDomainFree(dom);
	virResetLastError();
	return r < 0 ? r : 0;
}

int lv_device_attach(void *ctx, const char *vm, const char *device_xml, char *err, size_t errlen)
{
	return device_call(ctx, vm, device_xml, true, err, errlen);
}

int lv_device_detach(void *ctx, const char *vm, const char *device_xml, char *err, size_t errlen)
{
	return device_call(ctx, vm, device_xml, false, err, errlen);
}
