/*
 * VF device templates (see vf_device.h). Plain string work on what
 * config.c accepted (one element, printable ASCII): no XML parser, since
 * only an attribute value is read and only a <mac/> inserted; libvirt
 * parses the result when the agent attaches it.
 */
#include "vf_device.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The value of attr='…' or attr="…" after p, copied into out; 0 if absent. */
static int attr_value(const char *p, const char *attr, char *out, size_t len)
{
	size_t alen = strlen(attr);

	for (const char *s = strstr(p, attr); s; s = strstr(s + 1, attr)) {
		const char *v, *e;
		char q;

		/* A whole attribute name: preceded by a space, followed by '='. */
		if (s == p || !isspace((unsigned char)s[-1]) || s[alen] != '=')
			continue;
		q = s[alen + 1];
		if (q != '\'' && q != '"')
			continue;
		v = s + alen + 2;
		e = strchr(v, q);
		if (!e || (size_t)(e - v) >= len)
			return 0;
		memcpy(out, v, (size_t)(e - v));
		out[e - v] = '\0';
		return 1;
	}
	return 0;
}

static unsigned hexval(const char *s)
{
	unsigned v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	sscanf(s, "%x", &v);
	return v;
}

void vf_device_label(const char *tmpl, unsigned n, char *buf, size_t len)
{
	char dom[16], bus[16], slot[16], fn[16], dev[64];
	const char *addr = strstr(tmpl, "<address ");

	if (addr && attr_value(addr, "domain", dom, sizeof(dom)) &&
	    attr_value(addr, "bus", bus, sizeof(bus)) && attr_value(addr, "slot", slot, sizeof(slot)) &&
	    attr_value(addr, "function", fn, sizeof(fn))) {
		snprintf(buf, len, "%04x:%02x:%02x.%x", hexval(dom) & 0xffff, hexval(bus) & 0xff,
			 hexval(slot) & 0xff, hexval(fn) & 0xf);
		return;
	}
	if (strstr(tmpl, "<source ") && attr_value(strstr(tmpl, "<source "), "dev", dev, sizeof(dev))) {
		snprintf(buf, len, "%s", dev);
		return;
	}
	snprintf(buf, len, "device%u", n);
}

int vf_device_xml(const char *tmpl, const char *domain_xml, char *buf, size_t len)
{
	char mac[64];
	const char *m, *end;
	int n;

	if (strncmp(tmpl, "<interface ", 11) != 0 || strstr(tmpl, "<mac ") || !domain_xml ||
	    !(m = strstr(domain_xml, "<mac ")) || !attr_value(m, "address", mac, sizeof(mac)) ||
	    !(end = strchr(tmpl, '>')) || end[-1] == '/') {
		n = snprintf(buf, len, "%s", tmpl);
		return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
	}
	n = snprintf(buf, len, "%.*s<mac address='%s'/>%s", (int)(end - tmpl + 1), tmpl, mac,
		     end + 1);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}
