/*
 * A large replicated state for the size tests (test_state_xfer, test_persist):
 * n VMs with about xml_bytes of domain XML each, built directly rather than
 * through VmAdd so that only the code under test parses the XML.
 */
#ifndef DROVER_TEST_BIG_STATE_FIXTURE_H
#define DROVER_TEST_BIG_STATE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

static char *big_state_xml(const char *name, size_t xml_bytes, unsigned salt)
{
	static const char head[] = "<domain type='kvm'><name>%s</name><memory unit='MiB'>%u</memory>"
				   "<vcpu>%u</vcpu><description>";
	static const char tail[] = "</description></domain>";
	char *xml = malloc(xml_bytes + 256);
	int n = snprintf(xml, 256, head, name, 64 + salt % 512, 1 + salt % 8);

	/* Filler that differs per VM, so a misplaced chunk changes the content. */
	while ((size_t)n + sizeof(tail) < xml_bytes) {
		xml[n] = (char)('a' + (salt + (unsigned)n) % 26);
		n++;
	}
	memcpy(xml + n, tail, sizeof(tail));
	return xml;
}

static void big_state_make(struct cluster_state *s, size_t n, size_t xml_bytes)
{
	state_init(s);
	s->epoch = 7 + n;
	s->n_nodes = 3;
	for (uint32_t i = 0; i < 3; i++) {
		s->nodes[i].id = i + 1;
		s->nodes[i].state = DROVER__NODE_STATE__NODE_STATE_ACTIVE;
	}
	s->vms = calloc(n, sizeof(*s->vms));
	for (size_t i = 0; i < n; i++) {
		struct vm_cfg *v = &s->vms[i];

		snprintf(v->name, sizeof(v->name), "vm%05zu", i); /* sorted by name */
		v->xml = big_state_xml(v->name, xml_bytes, (unsigned)i);
		v->priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
		v->memory_mib = 64 + i % 512;
		v->vcpus = 1 + (uint32_t)(i % 8);
		v->home_node = (uint32_t)(i % 3) + 1;
		s->registry_bytes += state_vm_bytes(v->name, v->xml);
	}
	s->n_vms = n;
}

#endif
