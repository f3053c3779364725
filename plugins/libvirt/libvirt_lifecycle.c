/*
 * Starting and stopping domains. Both are idempotent, because droverd
 * retries a call whose worker was killed without knowing how far it got:
 * starting a running domain and stopping a stopped one are success.
 *
 * Start defines the domain from the registry's XML unless it runs already
 * (a running domain is left alone, its definition too: redefining it would
 * only change its next boot, and a definition this host refuses must not
 * turn "it runs" into an error). The registry's XML usually carries no
 * <uuid>; libvirt would give it a fresh one and then refuse the definition
 * because the existing domain of that name has another UUID ("already exists
 * with uuid"). So when this host has the domain, its UUID is added to the XML
 * first, as `virsh edit` keeps it. An XML that names another domain than the
 * one asked for is refused before libvirt sees it. libxml2 parses without
 * network access or entity expansion, like daemon/core/vmxml.c.
 *
 * Stop asks the guest (ACPI power button) and destroys the domain once
 * timeout_ms have passed; it polls the state every 100 ms rather than
 * waiting for the lifecycle event, because the events belong to the events
 * worker and polling is good enough for a deadline counted in seconds. A
 * firmware-only guest never answers the power button: it is destroyed at the
 * timeout, which is the documented behaviour.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "libvirt_plugin.h"

#define STOP_POLL_MS 100

static xmlNode *xml_child(xmlNode *parent, const char *name)
{
	for (xmlNode *c = parent->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

/*
 * Checks that xml defines vm and, if existing is set and the XML has no
 * <uuid>, adds existing's UUID. *ret_xml is malloc()ed.
 */
static int prepare_xml(const char *vm, const char *xml, virDomainPtr existing, char **ret_xml,
		       char *err, size_t errlen)
{
	xmlDoc *doc;
	xmlNode *root, *name;
	xmlChar *text;
	int r = 0;

	doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return drover_plugin_error(err, errlen, EINVAL,
					   "the domain XML of '%s' is not well-formed XML", vm);
	root = xmlDocGetRootElement(doc);
	if (!root || strcmp((const char *)root->name, "domain") != 0) {
		r = drover_plugin_error(err, errlen, EINVAL,
					"the domain XML of '%s' has no <domain> root element", vm);
		goto out;
	}
	name = xml_child(root, "name");
	text = name ? xmlNodeGetContent(name) : NULL;
	if (!text || strcmp((const char *)text, vm) != 0) {
		r = drover_plugin_error(err, errlen, EINVAL,
					"the domain XML given for '%s' defines '%s'", vm,
					text ? (const char *)text : "(no <name>)");
		xmlFree(text);
		goto out;
	}
	xmlFree(text);

	if (existing && !xml_child(root, "uuid")) {
		char uuid[VIR_UUID_STRING_BUFLEN];
		xmlNode *u;
		xmlChar *buf = NULL;
		int len = 0;

		if (virDomainGetUUIDString(existing, uuid) < 0) {
			r = lv_fail(err, errlen, "reading the UUID of '%s'", vm);
			goto out;
		}
		u = xmlNewDocNode(doc, NULL, BAD_CAST "uuid", BAD_CAST uuid);
		xmlAddNextSibling(name, u);
		xmlDocDumpMemory(doc, &buf, &len);
		if (!buf) {
			r = drover_plugin_error(err, errlen, ENOMEM, "out of memory");
			goto out;
		}
		*ret_xml = strdup((const char *)buf);
		xmlFree(buf);
	} else {
		*ret_xml = strdup(xml);
	}
	if (!*ret_xml)
		r = drover_plugin_error(err, errlen, ENOMEM, "out of memory");
out:
	xmlFreeDoc(doc);
	return r;
}

static const char *paused_reason_name(int reason)
{
	switch (reason) {
	case VIR_DOMAIN_PAUSED_USER:
		return "paused by a user";
	case VIR_DOMAIN_PAUSED_MIGRATION:
		return "migrating";
	case VIR_DOMAIN_PAUSED_SAVE:
		return "being saved";
	case VIR_DOMAIN_PAUSED_DUMP:
		return "being dumped";
	case VIR_DOMAIN_PAUSED_IOERROR:
		return "disk I/O error";
	case VIR_DOMAIN_PAUSED_WATCHDOG:
		return "watchdog fired";
	case VIR_DOMAIN_PAUSED_SHUTTING_DOWN:
		return "shutting down";
	case VIR_DOMAIN_PAUSED_POSTCOPY:
		return "post-copy migration";
	case VIR_DOMAIN_PAUSED_POSTCOPY_FAILED:
		return "post-copy migration failed";
	case VIR_DOMAIN_PAUSED_STARTING_UP:
		return "starting up";
	default:
		return "paused";
	}
}

/* 1 if dom is active, 0 if it is not or no longer exists, -errno on error. */
static int domain_active(virDomainPtr dom, const char *vm, char *err, size_t errlen)
{
	int r = virDomainIsActive(dom);

	if (r >= 0)
		return r;
	if (lv_last_code() == VIR_ERR_NO_DOMAIN) {
		virResetLastError();
		return 0; /* a transient domain vanishes when it stops */
	}
	return lv_fail(err, errlen, "reading the state of '%s'", vm);
}

static int lookup(virConnectPtr conn, const char *vm, virDomainPtr *ret_dom, char *err,
		  size_t errlen)
{
	virDomainPtr dom = virDomainLookupByName(conn, vm);

	if (dom) {
		*ret_dom = dom;
		return 1;
	}
	if (lv_last_code() == VIR_ERR_NO_DOMAIN) {
		virResetLastError();
		*ret_dom = NULL;
		return 0;
	}
	return lv_fail(err, errlen, "looking up domain '%s'", vm);
}

/*
 * For a domain that exists: 1 if it runs now (nothing to do), 0 if it needs
 * to be started, -errno if it is in a state start cannot fix.
 */
static int start_existing(struct lv_ctx *ctx, virDomainPtr dom, const char *vm, char *err,
			  size_t errlen)
{
	int state, reason;

	if (virDomainGetState(dom, &state, &reason, 0) < 0) {
		if (lv_last_code() == VIR_ERR_NO_DOMAIN) {
			virResetLastError();
			return 0;
		}
		return lv_fail(err, errlen, "reading the state of '%s'", vm);
	}
	switch (state) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:
		lv_log(ctx, LOG_DEBUG, "start '%s': already running", vm);
		return 1;
	case VIR_DOMAIN_PAUSED:
		if (reason != VIR_DOMAIN_PAUSED_USER)
			return drover_plugin_error(err, errlen, EBUSY,
						   "domain '%s' is paused (%s); not resuming it",
						   vm, paused_reason_name(reason));
		if (virDomainResume(dom) < 0)
			return lv_fail(err, errlen, "resuming paused domain '%s'", vm);
		lv_log(ctx, LOG_INFO, "start '%s': it was paused by a user; resumed it", vm);
		return 1;
	case VIR_DOMAIN_PMSUSPENDED:
		if (virDomainPMWakeup(dom, 0) < 0)
			return lv_fail(err, errlen, "waking up suspended domain '%s'", vm);
		lv_log(ctx, LOG_INFO, "start '%s': it was suspended by the guest; woke it up", vm);
		return 1;
	case VIR_DOMAIN_SHUTDOWN:
		return drover_plugin_error(err, errlen, EBUSY,
					   "domain '%s' is shutting down; start it once it stopped",
					   vm);
	default:
		return 0;
	}
}

int lv_vm_start(void *opaque, const char *vm, const char *xml, char *err, size_t errlen)
{
	struct lv_ctx *ctx = opaque;
	virConnectPtr conn;
	virDomainPtr dom = NULL;
	char *def = NULL;
	int r;

	if (!vm || !*vm)
		return drover_plugin_error(err, errlen, EINVAL, "no domain name");
	r = lv_conn_get(ctx, &conn, err, errlen);
	if (r < 0)
		return r;
	r = lookup(conn, vm, &dom, err, errlen);
	if (r < 0)
		return r;
	if (dom) {
		r = start_existing(ctx, dom, vm, err, errlen);
		if (r != 0)
			goto out; /* running now (1 -> 0 below), or an error */
	}

	if (xml && *xml) {
		virDomainPtr defined;

		r = prepare_xml(vm, xml, dom, &def, err, errlen);
		if (r < 0)
			goto out;
		defined = virDomainDefineXML(conn, def);
		if (!defined) {
			bool clash = lv_last_code() == VIR_ERR_OPERATION_FAILED ||
				     lv_last_code() == VIR_ERR_DOM_EXIST;

			r = lv_fail(err, errlen, "defining '%s' from its XML", vm);
			/* "domain 'x' already exists with uuid ...": another domain. */
			if (clash)
				r = -EEXIST;
			goto out;
		}
		if (dom)
			virDomainFree(dom);
		dom = defined;
		lv_log(ctx, LOG_DEBUG, "start '%s': defined it from the given XML", vm);
	} else if (!dom) {
		r = drover_plugin_error(err, errlen, ENOENT,
					"no domain '%s' on this host, and no XML to define it", vm);
		goto out;
	}

	if (virDomainCreate(dom) < 0) {
		virError e = {0};
		int state, reason;

		virCopyLastError(&e);
		/* Someone (a retry of ours, an operator) started it meanwhile? */
		if (virDomainGetState(dom, &state, &reason, 0) == 0 &&
		    (state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED)) {
			virResetError(&e);
			r = 0;
			goto out;
		}
		r = lv_fail_from(&e, ECONNREFUSED, err, errlen, "starting '%s'", vm);
		virResetError(&e);
		goto out;
	}
	lv_log(ctx, LOG_INFO, "started '%s'", vm);
	r = 0;
out:
	free(def);
	if (dom)
		virDomainFree(dom);
	virResetLastError();
	return r > 0 ? 0 : r;
}

int lv_vm_stop(void *opaque, const char *vm, uint32_t timeout_ms, char *err, size_t errlen)
{
	struct lv_ctx *ctx = opaque;
	virConnectPtr conn;
	virDomainPtr dom = NULL;
	int r;

	if (!vm || !*vm)
		return drover_plugin_error(err, errlen, EINVAL, "no domain name");
	r = lv_conn_get(ctx, &conn, err, errlen);
	if (r < 0)
		return r;
	r = lookup(conn, vm, &dom, err, errlen);
	if (r < 0)
		return r;
	if (!dom)
		return drover_plugin_error(err, errlen, ENOENT, "no domain '%s' on this host", vm);

	r = domain_active(dom, vm, err, errlen);
	if (r <= 0)
		goto out; /* stopped already (0), or an error */

	if (timeout_ms > 0) {
		uint64_t deadline = lv_now_ms() + timeout_ms;

		if (virDomainShutdown(dom) < 0) {
			lv_log(ctx, LOG_INFO,
			       "stop '%s': the guest cannot be asked to shut down "
			       "(%s); destroying it",
			       vm, virGetLastErrorMessage());
			virResetLastError();
		} else {
			while ((r = domain_active(dom, vm, err, errlen)) == 1 &&
			       lv_now_ms() < deadline)
				lv_sleep_ms(STOP_POLL_MS);
			if (r <= 0) {
				if (r == 0)
					lv_log(ctx, LOG_INFO, "stopped '%s' (guest shutdown)", vm);
				goto out;
			}
			lv_log(ctx, LOG_INFO, "stop '%s': no shutdown within %u ms; destroying it",
			       vm, timeout_ms);
		}
	}

	if (virDomainDestroy(dom) < 0) {
		virError e = {0};

		virCopyLastError(&e);
		r = domain_active(dom, vm, err, errlen);
		if (r == 1)
			r = lv_fail_from(&e, ECONNREFUSED, err, errlen, "destroying '%s'", vm);
		virResetError(&e);
		goto out;
	}
	lv_log(ctx, LOG_INFO, "stopped '%s' (destroyed)", vm);
	r = 0;
out:
	virDomainFree(dom);
	virResetLastError();
	return r;
}
