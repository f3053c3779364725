/*
 * The domain XML policy (see vmpolicy.h): one walk over the parsed domain that
 * collects every part reaching into the host which the policy does not allow.
 *
 * The walk keys on element and attribute names, wherever they appear outside
 * <metadata>, rather than on a list of XPaths per device type: libvirt grows
 * device types and source kinds every release, and a new one that puts a host
 * path in <source file|dir|path|socket> or <log file> is caught without a
 * change here. The exceptions are the few names that mean something else in
 * some place: <source dev> is a host NIC for an interface (checked only when
 * it is a path), <filesystem><target dir> is a tag the guest sees, a pty's
 * <source path> is a pseudo-terminal libvirt allocated.
 *
 * Every reason is collected, not only the first, so that an operator fixing a
 * domain (or the policy) sees all of it at once; the error holds as many as
 * fit and counts the rest.
 *
 * Rejected: resolving paths (realpath, symlinks) here. The policy is checked
 * on the node that accepts `vm add`, for a domain that runs on other nodes,
 * whose file systems this node does not see; and the core never touches the
 * file system. Paths with '.' or '..' components are refused instead, and the
 * documentation asks that allowed directories be writable by root only.
 */
#include "vmpolicy.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "util.h"
#include "vmxml.h"

/* Read-only firmware and NVRAM templates ship here (OVMF, SeaBIOS, QEMU's ROMs). */
#define FIRMWARE_DIR "/usr/share"
/* How many reasons the error spells out; the rest are counted. */
#define REASONS_SHOWN 4

static const char *const list_keys[VMPOLICY_N_LISTS] = {
	[VMPOLICY_PATHS] = "allow_paths",
	[VMPOLICY_PROGRAMS] = "allow_programs",
	[VMPOLICY_POOLS] = "allow_pools",
};

const char *vmpolicy_list_key(enum vmpolicy_list l)
{
	return (unsigned)l < VMPOLICY_N_LISTS ? list_keys[l] : "?";
}

/* An absolute path without "." or ".." components and without whitespace. */
static bool path_clean(const char *s)
{
	if (s[0] != '/')
		return false;
	for (const char *c = s; *c; c++)
		if (!isgraph((unsigned char)*c))
			return false;
	for (const char *c = s; *c; c++) {
		if (*c != '/')
			continue;
		if (c[1] == '.' && (c[2] == '/' || c[2] == '\0'))
			return false;
		if (c[1] == '.' && c[2] == '.' && (c[3] == '/' || c[3] == '\0'))
			return false;
	}
	return true;
}

static bool pool_name_valid(const char *s)
{
	if (!*s)
		return false;
	for (const char *c = s; *c; c++)
		if (!isgraph((unsigned char)*c) || *c == '/')
			return false;
	return true;
}

/* Check one item and write its normal form (a directory without trailing '/'). */
static int item_normal(enum vmpolicy_list l, const char *s, size_t n, char *out)
{
	if (n == 0 || n >= VMPOLICY_ITEM_MAX)
		return -EINVAL;
	memcpy(out, s, n);
	out[n] = '\0';
	switch (l) {
	case VMPOLICY_PATHS:
		if (!path_clean(out))
			return -EINVAL;
		while (n > 1 && out[n - 1] == '/')
			out[--n] = '\0';
		return 0;
	case VMPOLICY_PROGRAMS:
		return path_clean(out) && out[n - 1] != '/' ? 0 : -EINVAL;
	case VMPOLICY_POOLS:
		return pool_name_valid(out) ? 0 : -EINVAL;
	default:
		return -EINVAL;
	}
}

int vmpolicy_list_add(struct vm_policy *p, enum vmpolicy_list l, const char *value, char *err,
		      size_t errlen)
{
	struct vmpolicy_items next;
	const char *s = value;

	if ((unsigned)l >= VMPOLICY_N_LISTS)
		return -EINVAL;
	next = p->list[l];
	while (*s) {
		char item[VMPOLICY_ITEM_MAX];
		const char *tok;
		size_t n;
		bool dup = false;

		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		tok = s;
		while (*s && !isspace((unsigned char)*s))
			s++;
		n = (size_t)(s - tok);
		if (item_normal(l, tok, n, item) < 0) {
			snprintf(err, errlen, "bad entry '%.*s' in %s: expected %s", (int)(n > 80 ? 80 : n),
				 tok, list_keys[l],
				 l == VMPOLICY_POOLS ? "a storage pool name"
				 : l == VMPOLICY_PATHS
				     ? "an absolute directory without '.' or '..' components"
				     : "an absolute program path without '.' or '..' components");
			return -EINVAL;
		}
		for (size_t i = 0; i < next.n; i++)
			dup |= strcmp(next.item[i], item) == 0;
		if (dup)
			continue;
		if (next.n == VMPOLICY_MAX_ITEMS) {
			snprintf(err, errlen, "too many entries in %s (at most %d)", list_keys[l],
				 VMPOLICY_MAX_ITEMS);
			return -E2BIG;
		}
		memcpy(next.item[next.n++], item, sizeof(item));
	}
	p->list[l] = next;
	return 0;
}

void vmpolicy_defaults(struct vm_policy *p)
{
	char err[128];

	memset(p, 0, sizeof(*p));
	(void)vmpolicy_list_add(p, VMPOLICY_PATHS, "/var/lib/libvirt/images /var/lib/libvirt/qemu/nvram",
				err, sizeof(err));
	(void)vmpolicy_list_add(p, VMPOLICY_PROGRAMS,
				"/usr/bin/qemu-system-x86_64 /usr/bin/qemu-system-i386 "
				"/usr/bin/qemu-system-aarch64 /usr/bin/kvm /usr/libexec/qemu-kvm "
				"/usr/lib/qemu/virtiofsd /usr/libexec/virtiofsd",
				err, sizeof(err));
}

/* ---- the walk ---- */

struct walk {
	const struct vm_policy *p;
	char *err;
	size_t errlen;
	size_t used;
	unsigned n_reasons;
};

__attribute__((format(printf, 2, 3))) static void refuse(struct walk *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	w->n_reasons++;
	if (w->n_reasons > REASONS_SHOWN || !w->err || w->used + 1 >= w->errlen)
		return;
	if (w->used) {
		n = snprintf(w->err + w->used, w->errlen - w->used, "; ");
		w->used += n > 0 ? (size_t)n : 0;
		if (w->used >= w->errlen) {
			w->used = w->errlen - 1;
			return;
		}
	}
	va_start(ap, fmt);
	n = vsnprintf(w->err + w->used, w->errlen - w->used, fmt, ap);
	va_end(ap);
	w->used += n > 0 ? (size_t)n : 0;
	if (w->used >= w->errlen)
		w->used = w->errlen - 1;
}

static bool is(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* An attribute's value, or NULL; free with xmlFree (the _cleanup_xml_ below). */
static char *attr(const xmlNode *n, const char *name)
{
	return (char *)xmlGetNoNsProp(n, (const xmlChar *)name);
}

static void xml_freep(char **p)
{
	if (*p)
		xmlFree(*p);
}
#define _cleanup_xml_ _cleanup_(xml_freep)

static bool attr_is(const xmlNode *n, const char *name, const char *value)
{
	_cleanup_xml_ char *v = attr(n, name);

	return v && strcmp(v, value) == 0;
}

static const xmlNode *first_child(const xmlNode *n, const char *name)
{
	for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (is(c, name))
			return c;
	return NULL;
}

/* The element's text without surrounding whitespace, or NULL if empty. */
static char *text(const xmlNode *n)
{
	char *t = (char *)xmlNodeGetContent(n);
	size_t a = 0, b;

	if (!t)
		return NULL;
	b = strlen(t);
	while (a < b && isspace((unsigned char)t[a]))
		a++;
	while (b > a && isspace((unsigned char)t[b - 1]))
		b--;
	if (a == b) {
		xmlFree(t);
		return NULL;
	}
	memmove(t, t + a, b - a);
	t[b - a] = '\0';
	return t;
}

/* The device (or <os> item) an element belongs to, for messages: <disk>, <serial>. */
static const char *owner_name(const xmlNode *n)
{
	const xmlNode *top = n;

	while (top->parent && top->parent->type == XML_ELEMENT_NODE && !is(top->parent, "devices") &&
	       !is(top->parent, "os") && !is(top->parent, "domain"))
		top = top->parent;
	return (const char *)top->name;
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static bool path_allowed(const struct vm_policy *p, const char *path)
{
	const struct vmpolicy_items *l = &p->list[VMPOLICY_PATHS];

	for (size_t i = 0; i < l->n; i++)
		if (under(path, l->item[i]))
			return true;
	return false;
}

/*
 * Where a value sits, for messages: "<disk> <source file='/x'>" for an
 * attribute (name), "<kernel>/x</kernel>" for an element's text (name NULL).
 */
static void shown(const xmlNode *n, const char *name, const char *value, char *buf, size_t len)
{
	const char *dev = owner_name(n);
	const char *el = (const char *)n->name;
	bool same = strcmp(dev, el) == 0;

	if (name)
		snprintf(buf, len, "%s%s%s<%s %s='%.100s'>", same ? "" : "<", same ? "" : dev,
			 same ? "" : "> ", el, name, value);
	else
		snprintf(buf, len, "%s%s%s<%s>%.100s</%s>", same ? "" : "<", same ? "" : dev,
			 same ? "" : "> ", el, value, el);
}

/* A host path the domain names, in attribute name of n (NULL: n's text). */
static void check_path(struct walk *w, const xmlNode *n, const char *name, const char *path)
{
	char where[256];

	if (path_clean(path) && path_allowed(w->p, path))
		return;
	shown(n, name, path, where, sizeof(where));
	if (!path_clean(path))
		refuse(w, "%s: not an absolute path of printable ASCII without '.' or '..' components", where);
	else
		refuse(w, "%s: a host path outside allow_paths", where);
}

/* Read-only firmware: allowed under FIRMWARE_DIR besides allow_paths. */
static void check_firmware(struct walk *w, const xmlNode *n, const char *name, const char *path)
{
	if (path_clean(path) && under(path, FIRMWARE_DIR))
		return;
	check_path(w, n, name, path);
}

static void check_program(struct walk *w, const xmlNode *n, const char *program)
{
	const struct vmpolicy_items *l = &w->p->list[VMPOLICY_PROGRAMS];

	for (size_t i = 0; i < l->n; i++)
		if (strcmp(program, l->item[i]) == 0)
			return;
	refuse(w, "<%s> runs '%.100s' on the host: a program not in allow_programs", owner_name(n),
	       program);
}

static void check_pool(struct walk *w, const xmlNode *n, const char *pool)
{
	const struct vmpolicy_items *l = &w->p->list[VMPOLICY_POOLS];

	for (size_t i = 0; i < l->n; i++)
		if (strcmp(pool, l->item[i]) == 0)
			return;
	refuse(w, "<%s> uses a volume of storage pool '%.64s': a pool not in allow_pools",
	       owner_name(n), pool);
}

/* A path-valued attribute of n, if present. */
static void check_path_attr(struct walk *w, const xmlNode *n, const char *name)
{
	_cleanup_xml_ char *v = attr(n, name);

	if (v)
		check_path(w, n, name, v);
}

static void check_path_text(struct walk *w, const xmlNode *n)
{
	_cleanup_xml_ char *t = text(n);

	if (t)
		check_path(w, n, NULL, t);
}

/*
 * Whether n is a host device, and if so what to call it. Host devices are
 * refused (or, when allowed, left unchecked inside) as a whole.
 */
static bool host_device(const xmlNode *n, char *what, size_t len)
{
	_cleanup_xml_ char *type = attr(n, "type");
	_cleanup_xml_ char *rn = attr(n, "rendernode");

	if (is(n, "hostdev")) {
		snprintf(what, len, "<hostdev> (a host PCI, USB, SCSI or mediated device)");
		return true;
	}
	if (is(n, "interface") && type && (!strcmp(type, "hostdev") || !strcmp(type, "vdpa"))) {
		snprintf(what, len, "<interface type='%s'> (a host network device)", type);
		return true;
	}
	if (is(n, "interface") && type && !strcmp(type, "direct") &&
	    attr_is(first_child(n, "source"), "mode", "passthrough")) {
		snprintf(what, len, "<interface type='direct'> in passthrough mode (a host NIC)");
		return true;
	}
	if (is(n, "disk") && type && !strcmp(type, "nvme")) {
		snprintf(what, len, "<disk type='nvme'> (a host NVMe controller)");
		return true;
	}
	if (is(n, "disk") && attr_is(n, "device", "lun") && !(type && !strcmp(type, "network"))) {
		snprintf(what, len, "<disk device='lun'> (SCSI commands passed to a host disk)");
		return true;
	}
	if (is(n, "input") && type && (!strcmp(type, "passthrough") || !strcmp(type, "evdev"))) {
		snprintf(what, len, "<input type='%s'> (a host input device)", type);
		return true;
	}
	if (is(n, "tpm") && attr_is(first_child(n, "backend"), "type", "passthrough")) {
		snprintf(what, len, "<tpm> passthrough (the host's TPM)");
		return true;
	}
	if (is(n, "smartcard") && attr_is(n, "mode", "host")) {
		snprintf(what, len, "<smartcard mode='host'> (the host's card reader)");
		return true;
	}
	if (rn) {
		snprintf(what, len, "<%s rendernode='%.64s'> (a host GPU)", (const char *)n->name, rn);
		return true;
	}
	return false;
}

static bool rng_device(const char *s)
{
	return !strcmp(s, "/dev/random") || !strcmp(s, "/dev/urandom") || !strcmp(s, "/dev/hwrng");
}

/* The checks of one element by its name; its children are walked by the caller. */
static void check_element(struct walk *w, const xmlNode *n)
{
	const xmlNode *parent = n->parent;

	if (is(n, "source")) {
		_cleanup_xml_ char *dev = attr(n, "dev");
		_cleanup_xml_ char *pool = attr(n, "pool");

		/* A pty's path is the pseudo-terminal libvirt allocated (live XML). */
		if (attr_is(parent, "type", "pty"))
			return;
		check_path_attr(w, n, "file");
		check_path_attr(w, n, "dir");
		check_path_attr(w, n, "path");
		check_path_attr(w, n, "socket");
		/* An interface's dev is a host NIC's name; a path only for disks and the like. */
		if (dev && dev[0] == '/')
			check_path(w, n, "dev", dev);
		if (pool)
			check_pool(w, n, pool);
	} else if (is(n, "host")) {
		check_path_attr(w, n, "socket");
	} else if (is(n, "log")) {
		check_path_attr(w, n, "file");
	} else if (is(n, "backend")) {
		_cleanup_xml_ char *tap = attr(n, "tap");
		_cleanup_xml_ char *vhost = attr(n, "vhost");

		check_path_attr(w, n, "logFile");
		if (tap && strcmp(tap, "/dev/net/tun") != 0)
			check_path(w, n, "tap", tap);
		if (vhost && strcmp(vhost, "/dev/vhost-net") != 0)
			check_path(w, n, "vhost", vhost);
		if (is(parent, "rng")) {
			_cleanup_xml_ char *t = text(n);

			if (t && !rng_device(t))
				check_path(w, n, NULL, t);
		}
	} else if (is(n, "server") || (is(n, "target") && is(parent, "lease"))) {
		check_path_attr(w, n, "path");
	} else if (is(n, "entry") && is(parent, "sysinfo")) {
		check_path_attr(w, n, "file");
	} else if (is(n, "graphics") || is(n, "listen")) {
		check_path_attr(w, n, "socket");
	} else if (is(n, "audio")) {
		check_path_attr(w, n, "path");
	} else if ((is(n, "input") || is(n, "output")) && is(parent, "audio")) {
		_cleanup_xml_ char *dev = attr(n, "dev");

		if (dev && dev[0] == '/')
			check_path(w, n, "dev", dev);
	} else if (is(n, "kernel") || is(n, "initrd") || is(n, "dtb") || is(n, "table") ||
		   is(n, "database") || (is(n, "path") && is(parent, "source"))) {
		check_path_text(w, n);
	} else if (is(n, "loader")) {
		_cleanup_xml_ char *t = text(n);

		if (t && (attr_is(n, "readonly", "yes") || attr_is(n, "type", "rom")))
			check_firmware(w, n, NULL, t);
		else if (t)
			check_path(w, n, NULL, t);
	} else if (is(n, "nvram")) {
		_cleanup_xml_ char *t = text(n);
		_cleanup_xml_ char *tmpl = attr(n, "template");

		if (t)
			check_path(w, n, NULL, t);
		if (tmpl)
			check_firmware(w, n, "template", tmpl);
	} else if (is(n, "emulator") || is(n, "bootloader")) {
		_cleanup_xml_ char *t = text(n);

		if (t)
			check_program(w, n, t);
	} else if (is(n, "script") || is(n, "downscript") || is(n, "binary")) {
		_cleanup_xml_ char *path = attr(n, "path");

		if (path)
			check_program(w, n, path);
	}
}

static void walk_element(struct walk *w, const xmlNode *n)
{
	char what[128];

	if (n->ns) {
		if (!w->p->allow_qemu_passthrough)
			refuse(w, "<%s%s%s> (namespace '%.80s') hands options to the hypervisor past "
				  "libvirt's checks: refused unless allow_qemu_passthrough = yes",
			       n->ns->prefix ? (const char *)n->ns->prefix : "",
			       n->ns->prefix ? ":" : "", (const char *)n->name,
			       n->ns->href ? (const char *)n->ns->href : "");
		return;
	}
	if (host_device(n, what, sizeof(what))) {
		if (!w->p->allow_host_devices)
			refuse(w, "%s: refused unless allow_host_devices = yes", what);
		return;
	}
	check_element(w, n);
	for (const xmlNode *c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			walk_element(w, c);
}

int vmpolicy_check(const struct vm_policy *p, const char *xml, size_t len, char *err,
		   size_t errlen)
{
	struct walk w = {.p = p, .err = err, .errlen = errlen};
	xmlDoc *doc;
	const xmlNode *root;

	if (err && errlen)
		err[0] = '\0';
	if (len > VM_XML_MAX) {
		snprintf(err, errlen, "domain XML is larger than %u KiB", VM_XML_MAX / 1024);
		return -EMSGSIZE;
	}
	/* The same parser options as vmxml_parse(): no network, no entities loaded. */
	doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		snprintf(err, errlen, "malformed XML");
		return -EINVAL;
	}
	root = xmlDocGetRootElement(doc);
	if (!root) {
		xmlFreeDoc(doc);
		snprintf(err, errlen, "malformed XML");
		return -EINVAL;
	}
	/*
	 * Entities are not expanded here (expanding them would load external
	 * ones from this host's files), so an entity could carry an element
	 * past the walk: a domain has no use for a DOCTYPE, refuse it.
	 */
	if (doc->intSubset || doc->extSubset) {
		xmlFreeDoc(doc);
		snprintf(err, errlen, "a <!DOCTYPE> (and its entities) has no place in domain XML");
		return -EINVAL;
	}
	/* <metadata> is opaque to libvirt: applications keep their own namespaces there. */
	if (root->ns)
		walk_element(&w, root);
	else
		for (const xmlNode *c = root->children; c; c = c->next)
			if (c->type == XML_ELEMENT_NODE && !is(c, "metadata"))
				walk_element(&w, c);
	xmlFreeDoc(doc);
	if (!w.n_reasons)
		return 0;
	if (w.n_reasons > REASONS_SHOWN && err && w.used + 1 < errlen)
		snprintf(err + w.used, errlen - w.used, "; and %u more", w.n_reasons - REASONS_SHOWN);
	return -EPERM;
}
