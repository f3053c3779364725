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
 *
 * Guest agent versions: for a running domain whose guest agent channel
 * libvirt reports connected (org.qemu.guest_agent.0, state='connected' in
 * the live XML), a "guest-info" through virDomainQemuAgentCommand() with a
 * 1 s timeout; the answer's "version" is reported. This runs in the agent's
 * job worker, never in droverd. Answers are cached per domain (name and
 * domain id, which changes on every start) for LV_GA_TTL_MS, failures too
 * (a channel not connected yet, for LV_GA_RETRY_MS), so an inventory asks few
 * guests, and the time spent asking in one
 * inventory is capped (LV_GA_BUDGET_MS): a guest not asked this time keeps
 * its cached answer or none. libvirt marks a domain that got such a command
 * as tainted ("custom-ga-command"), which is harmless; libvirt's
 * virDomainGetGuestInfo() does not report the agent's version.
 *
 * VF devices (drover_domain.vf_devices): for a running domain, the host
 * devices of its live XML's <interface> and <hostdev> elements, labelled by
 * daemon/core/vf_device.c, the very function that labels droverd's
 * [vf_pool] templates, so that both sides name a device alike. Only the
 * element's <source> is labelled: the live XML also gives each device a
 * guest-side PCI <address>, which is not the host's. A source naming neither
 * a PCI address nor a dev (a bridge, a network) is no VF and is left out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <libvirt/libvirt-qemu.h>

#include "libvirt_plugin.h"
#include "vf_device.h"

#define LV_GA_TTL_MS 30000u
/* A guest whose agent channel is not connected yet (booting) is asked again sooner. */
#define LV_GA_RETRY_MS 5000u
#define LV_GA_BUDGET_MS 3000u
#define LV_GA_TIMEOUT_S 1

struct lv_ga_entry {
	char name[256];
	int id;
	uint64_t asked_ms;
	uint32_t ttl_ms;
	char version[32]; /* "" none */
};

/* The guest agent version in a guest-info answer, or "" (no JSON parser: a scan for one key). */
static void ga_parse_version(const char *reply, char *buf, size_t len)
{
	const char *p = reply ? strstr(reply, "\"version\"") : NULL;
	size_t n = 0;

	buf[0] = '\0';
	if (!p)
		return;
	p += strlen("\"version\"");
	while (*p == ' ' || *p == ':')
		p++;
	if (*p++ != '"')
		return;
	while (p[n] && p[n] != '"' && n + 1 < len) {
		char ch = p[n];

		/* Versions are dotted numbers and the like; anything else is not shown. */
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z') || ch == '.' || ch == '-' || ch == '+' ||
		      ch == '~' || ch == '_')) {
			buf[0] = '\0';
			return;
		}
		buf[n] = ch;
		n++;
	}
	buf[p[n] == '"' ? n : 0] = '\0';
}

static bool ga_connected(virDomainPtr dom)
{
	char *xml = virDomainGetXMLDesc(dom, 0);
	const char *p;
	bool on = false;

	if (!xml) {
		virResetLastError();
		return false;
	}
	p = strstr(xml, "name='org.qemu.guest_agent.0'");
	if (p) {
		const char *end = strchr(p, '>');

		on = end && memmem(p, (size_t)(end - p), "state='connected'", 17);
	}
	free(xml);
	return on;
}

/* dom's guest agent version ("" none) from the cache or by asking, within *budget_ms. */
static const char *ga_version(struct lv_ctx *ctx, virDomainPtr dom, const char *name,
			      uint64_t *budget_ms)
{
	struct lv_ga_entry *e = NULL, *oldest = NULL;
	uint64_t now = lv_now_ms(), t0;
	int id = (int)virDomainGetID(dom);
	char *reply;

	if (!ctx->ga_cache)
		ctx->ga_cache = calloc(LV_GA_CACHE, sizeof(*ctx->ga_cache));
	if (!ctx->ga_cache)
		return "";
	for (size_t i = 0; i < LV_GA_CACHE; i++) {
		struct lv_ga_entry *c = &ctx->ga_cache[i];

		if (c->name[0] && strcmp(c->name, name) == 0 && c->id == id) {
			e = c;
			break;
		}
		if (!oldest || c->asked_ms < oldest->asked_ms)
			oldest = c;
	}
	if (e && now - e->asked_ms < e->ttl_ms)
		return e->version;
	if (*budget_ms == 0)
		return e ? e->version : "";
	if (!e) {
		e = oldest;
		memset(e, 0, sizeof(*e));
		if (strlen(name) >= sizeof(e->name))
			return "";
		strcpy(e->name, name);
		e->id = id;
	}
	t0 = lv_now_ms();
	e->asked_ms = t0;
	e->ttl_ms = LV_GA_RETRY_MS;
	e->version[0] = '\0';
	if (ga_connected(dom)) {
		e->ttl_ms = LV_GA_TTL_MS;
		reply = virDomainQemuAgentCommand(dom, "{\"execute\":\"guest-info\"}",
						  LV_GA_TIMEOUT_S, 0);
		if (reply)
			ga_parse_version(reply, e->version, sizeof(e->version));
		else
			lv_log(ctx, LOG_DEBUG, "domain '%s': guest-info: %s", name,
			       virGetLastErrorMessage());
		free(reply);
		virResetLastError();
	}
	now = lv_now_ms() - t0;
	*budget_ms = now >= *budget_ms ? 0 : *budget_ms - now;
	return e->version;
}

/* Room for the VF device labels of one domain: a few, each at most 47 characters. */
#define LV_VF_LABELS_MAX 512

/*
 * The labels of the host devices a [vf_pool] template could name in a live
 * domain XML, one a line, into buf ("" none).
 */
static void vf_labels(const char *xml, char *buf, size_t len)
{
	static const char *const open_tags[] = {"<interface ", "<hostdev "};
	static const char *const close_tags[] = {"</interface>", "</hostdev>"};
	size_t used = 0;

	buf[0] = '\0';
	for (size_t t = 0; t < 2; t++) {
		for (const char *p = strstr(xml, open_tags[t]); p; p = strstr(p + 1, open_tags[t])) {
			const char *end = strstr(p, close_tags[t]), *src, *src_end, *tag_end;
			char part[512], label[64];
			size_t n;

			if (!end)
				break;
			src = strstr(p, "<source");
			if (!src || src > end || !(tag_end = strchr(src, '>')))
				continue;
			/* <source .../> alone, or <source>...</source> with an <address>. */
			if (tag_end[-1] == '/')
				src_end = tag_end + 1;
			else if (!(src_end = strstr(src, "</source>")) || src_end > end)
				continue;
			n = (size_t)(src_end - src);
			if (n >= sizeof(part))
				continue;
			memcpy(part, src, n);
			part[n] = '\0';
			vf_device_label(part, 0, label, sizeof(label));
			if (strcmp(label, "device0") == 0 || strlen(label) >= 48 ||
			    used + strlen(label) + 2 > len)
				continue;
			used += (size_t)snprintf(buf + used, len - used, "%s\n", label);
		}
	}
}

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
	uint64_t ga_budget = LV_GA_BUDGET_MS;
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
		char vf[LV_VF_LABELS_MAX];

		d.name = virDomainGetName(doms[i]);
		if (!d.name) /* cannot happen for a listed domain; never report "" */
			continue;
		if (virDomainGetInfo(doms[i], &info) == 0) {
			d.state = lv_state_from_virt(info.state);
			d.memory_mib = (info.maxMem + 1023) / 1024;
			d.vcpus = info.nrVirtCpu;
			if (d.state == DROVER_VM_RUNNING) {
				const char *v = ga_version(ctx, doms[i], d.name, &ga_budget);

				d.guest_agent = *v ? v : NULL;
				char *xml = virDomainGetXMLDesc(doms[i], 0);

				/* Not read: not reported (NULL), never "none". */
				if (xml) {
					vf_labels(xml, vf, sizeof(vf));
					d.vf_devices = vf;
					free(xml);
				} else {
					virResetLastError();
				}
			}
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
