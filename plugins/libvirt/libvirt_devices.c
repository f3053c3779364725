/*
 * Device hot-plug and unplug (an SR-IOV VF, a macvtap NIC), given as libvirt
 * device XML: a drover.conf [vf_pool] device template.
 *
 * Both act on the live domain only (VIR_DOMAIN_AFFECT_LIVE), never on its
 * persistent definition: a VF or a macvtap parent is a property of this host,
 * and a definition that names it would follow the domain to the next host on
 * migration and fail there. droverd re-attaches what a host should give a VM.
 *
 * The live domain is the truth, not libvirt's return codes:
 *  - A detach "succeeds" when libvirt accepted it; libvirt waits a few
 *    seconds for the guest and reports success even if the guest never
 *    acknowledged (/work/shared/LAB-NOTES.md). So device_detach_wait()
 *    returns 0 only when libvirt's DEVICE_REMOVED event names the device's
 *    alias or the live XML no longer holds it, and fails with the reason
 *    after the caller's timeout otherwise; the device then stays.
 *  - An attach is checked in the live XML after libvirt returned.
 *  - Both are idempotent: detaching an absent device and attaching a present
 *    one are success without a call, so a step that droverd retries after a
 *    restart is safe.
 *
 * Which live device a template means: the template's element (interface,
 * hostdev) and type, and every identifier it carries must agree with the
 * live device: MAC, alias, source dev/network/bridge, a host PCI address
 * (<source><address domain bus slot function/>). All of them, not the MAC
 * alone: with net_failover the standby virtio NIC has the VF's MAC. A
 * template with no identifier is refused. The detach then hands libvirt the
 * live device's alias (virDomainDetachDeviceAlias(), which only asks the
 * guest and returns), or without an alias the live device's own XML, because
 * libvirt's lookup by MAC alone refuses two NICs with one MAC as ambiguous.
 *
 * Considered and rejected: waiting in the events worker (its events go to
 * droverd, and a job worker must answer for its own job); trusting
 * virDomainDetachDeviceFlags() with VIR_DOMAIN_AFFECT_LIVE's return code
 * (it proves nothing, see above).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "libvirt_plugin.h"

/* The default unplug timeout of the version-1 device_detach(). */
#define LV_DETACH_DEFAULT_TIMEOUT_MS 30000u
/* How often the live XML is read again while an unplug is pending. */
#define LV_DETACH_POLL_MS 250

/* What identifies a device; NULL members were not given. */
struct dev_id {
	const xmlChar *element; /* "interface", "hostdev" */
	xmlChar *type;
	xmlChar *mac;
	xmlChar *alias;
	xmlChar *source_dev, *source_network, *source_bridge;
	bool has_pci;
	unsigned long pci[4]; /* domain, bus, slot, function */
};

static void dev_id_free(struct dev_id *id)
{
	xmlFree(id->type);
	xmlFree(id->mac);
	xmlFree(id->alias);
	xmlFree(id->source_dev);
	xmlFree(id->source_network);
	xmlFree(id->source_bridge);
	memset(id, 0, sizeof(*id));
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, BAD_CAST name) == 0)
			return c;
	return NULL;
}

static xmlChar *child_prop(xmlNodePtr n, const char *name, const char *prop)
{
	xmlNodePtr c = child(n, name);

	return c ? xmlGetProp(c, BAD_CAST prop) : NULL;
}

static bool parse_pci(xmlNodePtr addr, unsigned long ret_pci[4])
{
	static const char *const keys[4] = {"domain", "bus", "slot", "function"};
	bool any = false;

	for (int i = 0; i < 4; i++) {
		xmlChar *v = xmlGetProp(addr, BAD_CAST keys[i]);

		ret_pci[i] = v ? strtoul((const char *)v, NULL, 0) : 0;
		any = any || v;
		xmlFree(v);
	}
	return any;
}

/* Fill id from a device element (a template's root or a live device). */
static void dev_id_read(xmlNodePtr n, struct dev_id *id)
{
	xmlNodePtr src = child(n, "source"), addr;

	memset(id, 0, sizeof(*id));
	id->element = n->name;
	id->type = xmlGetProp(n, BAD_CAST "type");
	id->mac = child_prop(n, "mac", "address");
	id->alias = child_prop(n, "alias", "name");
	if (src) {
		id->source_dev = xmlGetProp(src, BAD_CAST "dev");
		id->source_network = xmlGetProp(src, BAD_CAST "network");
		id->source_bridge = xmlGetProp(src, BAD_CAST "bridge");
		addr = child(src, "address");
		if (addr)
			id->has_pci = parse_pci(addr, id->pci);
	}
}

static bool same(const xmlChar *want, const xmlChar *have, bool nocase)
{
	if (!want)
		return true;
	if (!have)
		return false;
	return nocase ? strcasecmp((const char *)want, (const char *)have) == 0
		      : xmlStrcmp(want, have) == 0;
}

/* Whether the live device `have` is the one template `want` means. */
static bool dev_id_matches(const struct dev_id *want, const struct dev_id *have)
{
	if (xmlStrcmp(want->element, have->element) != 0)
		return false;
	if (!same(want->type, have->type, false) || !same(want->mac, have->mac, true) ||
	    !same(want->alias, have->alias, false) ||
	    !same(want->source_dev, have->source_dev, false) ||
	    !same(want->source_network, have->source_network, false) ||
	    !same(want->source_bridge, have->source_bridge, false))
		return false;
	return !want->has_pci ||
	       (have->has_pci && memcmp(want->pci, have->pci, sizeof(want->pci)) == 0);
}

/* A short name of the device for messages: "interface 52:54:00:.. (alias net1)". */
static void dev_id_describe(const struct dev_id *id, char *buf, size_t len)
{
	const char *what = id->mac              ? (const char *)id->mac
			   : id->source_dev     ? (const char *)id->source_dev
			   : id->source_network ? (const char *)id->source_network
						: "";
	int n;

	if (id->has_pci && !id->mac)
		n = snprintf(buf, len, "%s %04lx:%02lx:%02lx.%lx", (const char *)id->element,
			     id->pci[0], id->pci[1], id->pci[2], id->pci[3]);
	else
		n = snprintf(buf, len, "%s %s", (const char *)id->element, what);
	if (id->alias && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " (alias %s)", (const char *)id->alias);
}

static xmlDocPtr parse_xml(const char *xml)
{
	return xmlReadMemory(xml, (int)strlen(xml), "device.xml", NULL,
			     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

/* The template's identity; -EINVAL with a reason if it has none. */
static int template_read(const char *vm, const char *xml, struct dev_id *ret_id, char *err,
			 size_t errlen)
{
	xmlDocPtr doc = parse_xml(xml);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	struct dev_id id;

	if (!root) {
		xmlFreeDoc(doc);
		return drover_plugin_error(err, errlen, EINVAL,
					   "the device XML for '%s' is not well-formed", vm);
	}
	dev_id_read(root, &id);
	/* The element name lives in the document: keep a static copy. */
	if (xmlStrcmp(root->name, BAD_CAST "interface") == 0)
		id.element = BAD_CAST "interface";
	else if (xmlStrcmp(root->name, BAD_CAST "hostdev") == 0)
		id.element = BAD_CAST "hostdev";
	else
		id.element = NULL;
	xmlFreeDoc(doc);
	if (!id.element) {
		dev_id_free(&id);
		return drover_plugin_error(err, errlen, EINVAL,
					   "the device XML for '%s' is neither an <interface> nor "
					   "a <hostdev>",
					   vm);
	}
	if (!id.mac && !id.alias && !id.source_dev && !id.source_network && !id.source_bridge &&
	    !id.has_pci) {
		dev_id_free(&id);
		return drover_plugin_error(err, errlen, EINVAL,
					   "the device XML for '%s' names no MAC, alias, source or "
					   "PCI address to identify it by",
					   vm);
	}
	*ret_id = id;
	return 0;
}

/*
 * Look for the template's device in vm's live XML. Returns 1 and, if wanted,
 * the live device's XML (malloc'd) and alias (malloc'd, may be NULL) when
 * found; 0 when not; -errno with a reason.
 */
static int live_find(virDomainPtr dom, const struct dev_id *want, char **ret_xml, char **ret_alias,
		     char *err, size_t errlen)
{
	char *live = virDomainGetXMLDesc(dom, 0);
	xmlDocPtr doc;
	xmlNodePtr devices;
	int found = 0;

	if (!live)
		return lv_fail(err, errlen, "reading the live XML of '%s'", virDomainGetName(dom));
	doc = parse_xml(live);
	free(live);
	devices = doc ? child(xmlDocGetRootElement(doc), "devices") : NULL;
	if (!devices) {
		xmlFreeDoc(doc);
		return drover_plugin_error(err, errlen, EIO,
					   "the live XML of '%s' has no <devices>",
					   virDomainGetName(dom));
	}
	for (xmlNodePtr n = devices->children; n && !found; n = n->next) {
		struct dev_id have;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		dev_id_read(n, &have);
		if (dev_id_matches(want, &have)) {
			found = 1;
			if (ret_alias)
				*ret_alias = have.alias ? strdup((const char *)have.alias) : NULL;
			if (ret_xml) {
				xmlBufferPtr b = xmlBufferCreate();

				if (b && xmlNodeDump(b, doc, n, 0, 0) >= 0)
					*ret_xml = strdup((const char *)xmlBufferContent(b));
				else
					*ret_xml = NULL;
				xmlBufferFree(b);
			}
		}
		dev_id_free(&have);
	}
	xmlFreeDoc(doc);
	return found;
}

static int lookup(struct lv_ctx *ctx, const char *vm, const char *xml, const char *verb,
		  virDomainPtr *ret_dom, char *err, size_t errlen)
{
	virConnectPtr conn;
	virDomainPtr dom;
	int r;

	if (!vm || !*vm)
		return drover_plugin_error(err, errlen, EINVAL, "no domain name");
	if (!xml || !*xml)
		return drover_plugin_error(err, errlen, EINVAL,
					   "%s a device of '%s': no device XML", verb, vm);
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
	if (virDomainIsActive(dom) != 1) {
		virDomainFree(dom);
		virResetLastError();
		return drover_plugin_error(
		    err, errlen, ESRCH, "%s a device of '%s': the domain does not run", verb, vm);
	}
	*ret_dom = dom;
	return 0;
}

int lv_device_attach(void *opaque, const char *vm, const char *device_xml, char *err, size_t errlen)
{
	struct lv_ctx *ctx = opaque;
	virDomainPtr dom = NULL;
	struct dev_id want;
	char what[160];
	int r;

	r = lookup(ctx, vm, device_xml, "attaching", &dom, err, errlen);
	if (r < 0)
		return r;
	r = template_read(vm, device_xml, &want, err, errlen);
	if (r < 0)
		goto out;
	dev_id_describe(&want, what, sizeof(what));
	r = live_find(dom, &want, NULL, NULL, err, errlen);
	if (r == 1) {
		lv_log(ctx, LOG_INFO, "attaching %s to '%s': it is attached already", what, vm);
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	if (virDomainAttachDeviceFlags(dom, device_xml, VIR_DOMAIN_AFFECT_LIVE) < 0) {
		r = lv_fail(err, errlen, "attaching %s to '%s'", what, vm);
		goto out;
	}
	r = live_find(dom, &want, NULL, NULL, err, errlen);
	if (r == 0)
		r = drover_plugin_error(err, errlen, EIO,
					"attaching %s to '%s': libvirt accepted it but the live "
					"domain does not hold it",
					what, vm);
	else if (r == 1) {
		lv_log(ctx, LOG_INFO, "attached %s to '%s'", what, vm);
		r = 0;
	}
out:
	dev_id_free(&want);
	virDomainFree(dom);
	virResetLastError();
	return r;
}

/*
 * The state one detach waits on, shared with libvirt's event loop thread.
 * Reference-counted: libvirt may still be inside a callback when the
 * deregistration returns, so each registration holds a reference that its
 * free callback drops, and the last one frees it.
 */
struct detach_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_int refs;
	char *alias; /* the live device's; NULL: only the live XML tells */
	bool removed;
	bool refused; /* DEVICE_REMOVAL_FAILED: the guest said no */
};

static struct detach_wait *detach_wait_new(const char *alias)
{
	struct detach_wait *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->alias = alias ? strdup(alias) : NULL;
	if (alias && !w->alias) {
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	atomic_init(&w->refs, 1);
	return w;
}

static void detach_wait_unref(void *opaque)
{
	struct detach_wait *w = opaque;

	if (!w || atomic_fetch_sub(&w->refs, 1) != 1)
		return;
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->alias);
	free(w);
}

/* Register cb for event id on dom with a reference of w; the callback id or -1. */
static int listen_removal(virConnectPtr conn, virDomainPtr dom, int id,
			  virConnectDomainEventGenericCallback cb, struct detach_wait *w)
{
	int r;

	atomic_fetch_add(&w->refs, 1);
	r = virConnectDomainEventRegisterAny(conn, dom, id, cb, w, detach_wait_unref);
	if (r < 0)
		detach_wait_unref(w);
	return r;
}

static void removed_cb(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	struct detach_wait *w = opaque;

	(void)conn;
	(void)dom;
	pthread_mutex_lock(&w->lock);
	if (w->alias && alias && strcmp(w->alias, alias) == 0)
		w->removed = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void removal_failed_cb(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	struct detach_wait *w = opaque;

	(void)conn;
	(void)dom;
	pthread_mutex_lock(&w->lock);
	if (w->alias && alias && strcmp(w->alias, alias) == 0)
		w->refused = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void wait_until(struct detach_wait *w, uint64_t until_ms)
{
	struct timespec ts;
	uint64_t now = lv_now_ms(), step;

	if (now >= until_ms)
		return;
	step = until_ms - now < LV_DETACH_POLL_MS ? until_ms - now : LV_DETACH_POLL_MS;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(step / 1000);
	ts.tv_nsec += (long)(step % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->lock);
	if (!w->removed && !w->refused)
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	pthread_mutex_unlock(&w->lock);
}

/* "3 s", "2.5 s": the timeout as an operator reads it. */
static void seconds(uint32_t ms, char *buf, size_t len)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%u s", ms / 1000);
	else
		snprintf(buf, len, "%u.%u s", ms / 1000, (ms % 1000) / 100);
}

/*
 * Whether a failed detach call means "an unplug of this device is pending
 * already" (a retried step while the guest still thinks): then waiting is
 * right, not failing. QEMU words it so for PCIe native hot-plug.
 */
static bool unplug_pending_error(void)
{
	const char *m = virGetLastErrorMessage();

	return m && strstr(m, "already in the process of unplug");
}

static int detach_wait(struct lv_ctx *ctx, const struct drover_device_req *req, char *err,
		       size_t errlen)
{
	struct detach_wait *w = NULL;
	virConnectPtr conn = NULL;
	virDomainPtr dom = NULL;
	struct dev_id want;
	char what[160], secs[32], scratch[256], *live_xml = NULL, *alias = NULL;
	int r, cb_removed = -1, cb_failed = -1;
	uint64_t until;

	r = lookup(ctx, req->vm, req->device_xml, "detaching", &dom, err, errlen);
	if (r < 0)
		return r;
	r = template_read(req->vm, req->device_xml, &want, err, errlen);
	if (r < 0) {
		virDomainFree(dom);
		return r;
	}
	dev_id_describe(&want, what, sizeof(what));
	seconds(req->timeout_ms, secs, sizeof(secs));

	r = live_find(dom, &want, &live_xml, &alias, err, errlen);
	if (r == 0) {
		lv_log(ctx, LOG_INFO, "detaching %s from '%s': it is not attached", what, req->vm);
		goto out;
	}
	if (r < 0)
		goto out;
	if (!live_xml) {
		r = drover_plugin_error(err, errlen, ENOMEM, "out of memory");
		goto out;
	}
	w = detach_wait_new(alias);
	if (!w) {
		r = drover_plugin_error(err, errlen, ENOMEM, "out of memory");
		goto out;
	}
	/* Name it as the operator finds it in `virsh dumpxml`: with its alias. */
	if (alias && !want.alias) {
		size_t n = strlen(what);

		snprintf(what + n, sizeof(what) - n, " (alias %s)", alias);
	}
	/*
	 * Listen before asking: the event may come before the detach call
	 * returns. A failure to listen is not fatal: the live XML still tells.
	 */
	conn = virDomainGetConnect(dom);
	if (alias) {
		cb_removed = listen_removal(conn, dom, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
					    VIR_DOMAIN_EVENT_CALLBACK(removed_cb), w);
		cb_failed = listen_removal(conn, dom, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED,
					   VIR_DOMAIN_EVENT_CALLBACK(removal_failed_cb), w);
		virResetLastError();
	}
	until = lv_now_ms() + req->timeout_ms;
	/*
	 * By alias, libvirt only asks the guest and returns (the completion
	 * is ours to wait for); by XML it would also wait ~5 s itself.
	 */
	if ((alias ? virDomainDetachDeviceAlias(dom, alias, VIR_DOMAIN_AFFECT_LIVE)
		   : virDomainDetachDeviceFlags(dom, live_xml, VIR_DOMAIN_AFFECT_LIVE)) < 0 &&
	    !unplug_pending_error()) {
		r = lv_fail(err, errlen, "detaching %s from '%s'", what, req->vm);
		/* A device that went away meanwhile is what was asked for. */
		if (live_find(dom, &want, NULL, NULL, scratch, sizeof(scratch)) == 0)
			r = 0;
		goto out;
	}
	virResetLastError();
	lv_log(ctx, LOG_INFO, "detaching %s from '%s': requested, waiting up to %s for the guest",
	       what, req->vm, secs);
	for (;;) {
		bool removed, refused;

		pthread_mutex_lock(&w->lock);
		removed = w->removed;
		refused = w->refused;
		pthread_mutex_unlock(&w->lock);
		r = removed ? 0 : live_find(dom, &want, NULL, NULL, err, errlen);
		if (r == 0) {
			lv_log(ctx, LOG_INFO, "detached %s from '%s' (%s)", what, req->vm,
			       removed ? "device-removed event" : "gone from the live XML");
			break;
		}
		if (r < 0)
			break;
		if (refused) {
			r = drover_plugin_error(err, errlen, EIO,
						"the guest refused the unplug of %s from '%s'; the "
						"device stays",
						what, req->vm);
			break;
		}
		if (lv_now_ms() >= until) {
			r = drover_plugin_error(err, errlen, ETIMEDOUT,
						"the guest did not acknowledge the unplug of %s "
						"within %s; the device stays on '%s'",
						what, secs, req->vm);
			break;
		}
		wait_until(w, until);
	}
out:
	if (cb_removed >= 0)
		virConnectDomainEventDeregisterAny(conn, cb_removed);
	if (cb_failed >= 0)
		virConnectDomainEventDeregisterAny(conn, cb_failed);
	virResetLastError();
	free(live_xml);
	free(alias);
	dev_id_free(&want);
	virDomainFree(dom);
	detach_wait_unref(w);
	return r;
}

int lv_device_detach_wait(void *ctx, const struct drover_device_req *req, char *err, size_t errlen)
{
	struct drover_device_req r = {.size = sizeof(r)};

	if (!req || !DROVER_FITS(struct drover_device_req, req, timeout_ms))
		return drover_plugin_error(err, errlen, EINVAL, "malformed device request");
	r.vm = req->vm;
	r.device_xml = req->device_xml;
	r.timeout_ms = req->timeout_ms ? req->timeout_ms : LV_DETACH_DEFAULT_TIMEOUT_MS;
	return detach_wait(ctx, &r, err, errlen);
}

/* Version 1's detach: the same, with the default timeout. */
int lv_device_detach(void *ctx, const char *vm, const char *device_xml, char *err, size_t errlen)
{
	struct drover_device_req req = {
	    .size = sizeof(req),
	    .vm = vm,
	    .device_xml = device_xml,
	    .timeout_ms = LV_DETACH_DEFAULT_TIMEOUT_MS,
	};

	return detach_wait(ctx, &req, err, errlen);
}
