/*
 * libvirt errors as drover errors: an errno from docs/PLUGIN_ABI.md's table
 * and a one-line message that says what was being done, followed by
 * libvirt's own words ("starting 'vm1': internal error: ...").
 *
 * libvirt keeps its last error per thread, so a failure in another thread
 * (the migration thread) is copied there with virCopyLastError() and passed
 * in as e. The mapping looks at the error code first and at the error domain
 * for transport failures (VIR_FROM_RPC covers "cannot connect", "socket
 * closed" and keepalive timeouts), because those arrive with several codes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "libvirt_plugin.h"

int lv_errno(const virError *e, int unreachable)
{
	if (!e)
		return EIO;
	switch (e->code) {
	case VIR_ERR_OK:
		return EIO;
	case VIR_ERR_NO_DOMAIN:
	case VIR_ERR_DEVICE_MISSING:
	case VIR_ERR_NO_DEVICE:
		return ENOENT;
	case VIR_ERR_DOM_EXIST:
		return EEXIST;
	case VIR_ERR_XML_ERROR:
	case VIR_ERR_XML_DETAIL:
	case VIR_ERR_XML_INVALID_SCHEMA:
	case VIR_ERR_INVALID_ARG:
	case VIR_ERR_NO_NAME:
	case VIR_ERR_MIGRATE_UNSAFE:
		return EINVAL;
	case VIR_ERR_NO_SUPPORT:
	case VIR_ERR_ARGUMENT_UNSUPPORTED:
	case VIR_ERR_CONFIG_UNSUPPORTED:
	case VIR_ERR_OPERATION_UNSUPPORTED:
	case VIR_ERR_CPU_INCOMPATIBLE:
		return EOPNOTSUPP;
	case VIR_ERR_OPERATION_ABORTED:
		return ECANCELED;
	/* "cannot acquire state change lock": another job holds the domain. */
	case VIR_ERR_OPERATION_TIMEOUT:
	case VIR_ERR_RESOURCE_BUSY:
		return EBUSY;
	case VIR_ERR_ACCESS_DENIED:
	case VIR_ERR_OPERATION_DENIED:
		return EACCES;
	case VIR_ERR_NO_MEMORY:
		return ENOMEM;
	case VIR_ERR_NO_CONNECT:
	case VIR_ERR_INVALID_CONN:
	case VIR_ERR_RPC:
	case VIR_ERR_UNKNOWN_HOST:
	case VIR_ERR_AUTH_FAILED:
	case VIR_ERR_AUTH_CANCELLED:
	case VIR_ERR_AUTH_UNAVAILABLE:
	case VIR_ERR_GNUTLS_ERROR:
	case VIR_ERR_SSH:
	case VIR_ERR_LIBSSH:
		return unreachable;
	default:
		break;
	}
	if (e->domain == VIR_FROM_RPC || e->domain == VIR_FROM_REMOTE)
		return unreachable;
	return EIO;
}

int lv_last_code(void)
{
	const virError *e = virGetLastError();

	return e ? e->code : VIR_ERR_OK;
}

int lv_fail_from(const virError *e, int unreachable, char *err, size_t errlen, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	int errnum;

	if (!e)
		e = virGetLastError();
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	errnum = lv_errno(e, unreachable);
	return drover_plugin_error(err, errlen, errnum, "%s: %s", what,
				   e && e->message ? e->message : "unknown libvirt error");
}
