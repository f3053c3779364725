/*
 * What droverd needs to know of a libvirt domain XML: its name, memory and
 * vCPUs, for the registry and for placement. Pure parsing (libxml2, no
 * network, no external entities); the XML itself is stored verbatim and handed
 * to the agent, which lets libvirt validate the rest.
 */
#ifndef DROVER_VMXML_H
#define DROVER_VMXML_H

#include <stddef.h>
#include <stdint.h>

#define VM_NAME_MAX 64
#define VM_XML_MAX (256u * 1024u)

struct vm_xml_info {
	char name[VM_NAME_MAX];
	uint64_t memory_mib;
	uint32_t vcpus;
};

/*
 * Parse xml (len bytes, need not be NUL-terminated). On error returns -EINVAL
 * (or -EMSGSIZE when larger than VM_XML_MAX) and writes a one-line reason to
 * err; *ret is written only on success.
 */
int vmxml_parse(const char *xml, size_t len, struct vm_xml_info *ret, char *err, size_t errlen);

/* A VM name is 1..63 of [A-Za-z0-9_.-], not starting with '-' or '.'. */
int vmxml_valid_name(const char *name);

#endif
