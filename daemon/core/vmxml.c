/*
 * Domain XML facts for the VM registry (see vmxml.h).
 *
 * libxml2 is told not to resolve entities, not to load external DTDs and not
 * to touch the network: the XML comes from an operator's file through the CLI,
 * and a hostile file must cost nothing but an error. Memory follows libvirt's
 * unit rules (default KiB; b, k, KiB, M, MiB, G, GiB, T, TiB, and the decimal
 * KB, MB, GB, TB) and is rounded up to whole MiB.
 */
#include "vmxml.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "util.h"

int vmxml_valid_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= VM_NAME_MAX || name[0] == '-' || name[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
			return 0;
	return 1;
}

static xmlNode *child(xmlNode *parent, const char *name)
{
	for (xmlNode *c = parent->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

/* Bytes per unit, as libvirt's virScaleInteger reads them. */
static uint64_t unit_scale(const char *u)
{
	static const struct {
		const char *name;
		uint64_t scale;
	} units[] = {
		{ "b", 1 },
		{ "bytes", 1 },
		{ "k", 1024 },
		{ "KiB", 1024 },
		{ "KB", 1000 },
		{ "M", 1024 * 1024 },
		{ "MiB", 1024 * 1024 },
		{ "MB", 1000 * 1000 },
		{ "G", 1024ull * 1024 * 1024 },
		{ "GiB", 1024ull * 1024 * 1024 },
		{ "GB", 1000ull * 1000 * 1000 },
		{ "T", 1024ull * 1024 * 1024 * 1024 },
		{ "TiB", 1024ull * 1024 * 1024 * 1024 },
		{ "TB", 1000ull * 1000 * 1000 * 1000 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (strcmp(u, units[i].name) == 0)
			return units[i].scale;
	return 0;
}

static int text_u64(xmlNode *n, uint64_t max, uint64_t *ret)
{
	xmlChar *t = xmlNodeGetContent(n);
	char buf[32];
	size_t a = 0, b;
	int r;

	if (!t)
		return -EINVAL;
	b = strlen((const char *)t);
	while (a < b && isspace(t[a]))
		a++;
	while (b > a && isspace(t[b - 1]))
		b--;
	if (b - a == 0 || b - a >= sizeof(buf)) {
		xmlFree(t);
		return -EINVAL;
	}
	memcpy(buf, t + a, b - a);
	buf[b - a] = '\0';
	xmlFree(t);
	r = parse_u64(buf, 1, max, ret);
	return r;
}

int vmxml_parse(const char *xml, size_t len, struct vm_xml_info *ret, char *err, size_t errlen)
{
	struct vm_xml_info info;
	xmlDoc *doc;
	xmlNode *root, *n;
	xmlChar *t, *unit;
	uint64_t v, scale;
	int r = -EINVAL;

	if (len > VM_XML_MAX) {
		snprintf(err, errlen, "domain XML is larger than %u KiB", VM_XML_MAX / 1024);
		return -EMSGSIZE;
	}
	memset(&info, 0, sizeof(info));
	doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = xmlGetLastError();
		snprintf(err, errlen, "malformed XML%s%s", e && e->message ? ": " : "",
			 e && e->message ? e->message : "");
		/* libxml2 messages end in a newline. */
		err[strcspn(err, "\n")] = '\0';
		return -EINVAL;
	}
	root = xmlDocGetRootElement(doc);
	if (!root || strcmp((const char *)root->name, "domain") != 0) {
		snprintf(err, errlen, "not a libvirt domain: the root element must be <domain>");
		goto out;
	}
	n = child(root, "name");
	t = n ? xmlNodeGetContent(n) : NULL;
	if (!t || !vmxml_valid_name((const char *)t)) {
		snprintf(err, errlen, "<name> is missing or not a valid VM name "
				      "(1-63 of A-Z a-z 0-9 _ . -)");
		xmlFree(t);
		goto out;
	}
	strscpy(info.name, (const char *)t, sizeof(info.name));
	xmlFree(t);

	n = child(root, "memory");
	if (!n || text_u64(n, UINT64_MAX / 1024, &v) < 0) {
		snprintf(err, errlen, "<memory> is missing or not a positive integer");
		goto out;
	}
	unit = xmlGetProp(n, (const xmlChar *)"unit");
	scale = unit ? unit_scale((const char *)unit) : 1024;
	if (scale == 0) {
		snprintf(err, errlen, "<memory> has an unknown unit '%s'", (const char *)unit);
		xmlFree(unit);
		goto out;
	}
	xmlFree(unit);
	if (v > UINT64_MAX / scale) {
		snprintf(err, errlen, "<memory> is out of range");
		goto out;
	}
	/*
	 * Rounded up without adding to v * scale first: near UINT64_MAX that
	 * sum wraps, and a domain of 16 EiB would count as 0 MiB in placement
	 * (found by tests/fuzz/fuzz_vmxml).
	 */
	info.memory_mib = v * scale / (1024 * 1024) + (v * scale % (1024 * 1024) != 0);

	n = child(root, "vcpu");
	if (!n || text_u64(n, 4096, &v) < 0) {
		snprintf(err, errlen, "<vcpu> is missing or not an integer 1..4096");
		goto out;
	}
	info.vcpus = (uint32_t)v;
	*ret = info;
	r = 0;
out:
	xmlFreeDoc(doc);
	return r;
}
