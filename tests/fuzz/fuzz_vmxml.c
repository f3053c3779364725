/*
 * Fuzz target: the domain XML reader (daemon/core/vmxml.c) and the domain
 * policy check (daemon/core/vmpolicy.c), as `vm add` runs them on the XML a
 * client sends (ctl_server.c handle_vm_add) before anything is multicast.
 * Both parse with libxml2 under their own limits (no network, no entities,
 * bounded size); the input is the XML, not NUL-terminated, as a client's
 * bytes would be.
 *
 * The first byte chooses the policy (bit 0: qemu pass-through allowed,
 * bit 1: host devices allowed, bit 2: the default allow lists, else none),
 * the rest is the XML. Invariants: a refusal says why; an accepted domain
 * has a valid name, a memory size and vCPUs; the policy answers 0, -EPERM
 * (refused, with a reason) or -EINVAL (not a domain, with a reason), and its
 * verdict does not depend on bytes after the document's end.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "util.h"
#include "vmpolicy.h"
#include "vmxml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_policy pol;
	struct vm_xml_info info;
	char err[1536] = "";
	char *xml;
	size_t len;
	uint8_t mode;
	int r;

	if (size < 1)
		return 0;
	mode = data[0];
	len = size - 1;
	/* ctl_server.c passes the request's string: NUL-terminated, strlen() long. */
	xml = xmalloc(len + 1);
	memcpy(xml, data + 1, len);
	xml[len] = '\0';
	len = strlen(xml);

	r = vmxml_parse(xml, len, &info, err, sizeof(err));
	if (r < 0) {
		fuzz_check(err[0] != '\0', "vmxml_parse refused (%d) without a reason", r);
	} else {
		fuzz_check(vmxml_valid_name(info.name), "vmxml_parse accepted the invalid name '%s'",
			   info.name);
		fuzz_check(info.memory_mib > 0 && info.vcpus > 0,
			   "vmxml_parse accepted '%s' with %llu MiB and %u vCPUs", info.name,
			   (unsigned long long)info.memory_mib, info.vcpus);
	}

	vmpolicy_defaults(&pol);
	pol.allow_qemu_passthrough = mode & 1;
	pol.allow_host_devices = mode & 2;
	if (!(mode & 4))
		for (int l = 0; l < VMPOLICY_N_LISTS; l++)
			pol.list[l].n = 0;
	err[0] = '\0';
	r = vmpolicy_check(&pol, xml, len, err, sizeof(err));
	fuzz_check(r == 0 || r == -EPERM || r == -EINVAL, "vmpolicy_check returned %d", r);
	fuzz_check(r == 0 || err[0] != '\0', "vmpolicy_check refused (%d) without a reason", r);
	free(xml);
	return 0;
}
