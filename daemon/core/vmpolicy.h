/*
 * The domain XML policy: what a domain may make libvirt do to the host.
 *
 * Whoever may register a domain with drover (root and the ipc_group) has it
 * defined and started by libvirt as root on every node it lands on. Libvirt
 * itself checks nothing of the kind: a domain may name any host file as its
 * disk or serial log, any host device, any program as its emulator, and hand
 * QEMU arbitrary options. vmpolicy_check() refuses, unless the policy allows
 * them, the parts of a domain that reach past the guest into the host:
 *  - elements in a hypervisor namespace outside <metadata> (<qemu:commandline>,
 *    <qemu:override>, ...): allow_qemu_passthrough;
 *  - host devices (<hostdev>, <interface type='hostdev'|'vdpa'>, a macvtap in
 *    passthrough mode, <disk type='nvme'>, <disk device='lun'>, input, TPM and
 *    smartcard passthrough, GPU render nodes): allow_host_devices;
 *  - host paths (disk, filesystem and chardev sources, logs, sockets, kernel,
 *    initrd, firmware, nvram, nvdimm backing, fw_cfg files, leases) outside
 *    the directories of allow_paths; read-only firmware under /usr/share/ is
 *    always allowed, as are the host's RNG devices and /dev/net/tun;
 *  - programs libvirt runs (<emulator>, an interface's <script> and
 *    <downscript>, virtiofsd's <binary>, <bootloader>) not listed in
 *    allow_programs;
 *  - storage pool volumes of pools not listed in allow_pools.
 *
 * Pure (libxml2 only): it looks at the text, never at the file system, so the
 * same XML gets the same answer on every node. A symlink inside an allowed
 * directory, or a disk image whose own header names a backing file elsewhere,
 * is beyond what the XML shows: allowed directories must be writable by root
 * only (docs/OPERATIONS.md, "Security").
 */
#ifndef DROVER_VMPOLICY_H
#define DROVER_VMPOLICY_H

#include <stdbool.h>
#include <stddef.h>

#define VMPOLICY_MAX_ITEMS 16
#define VMPOLICY_ITEM_MAX 256

enum vmpolicy_list {
	VMPOLICY_PATHS,    /* allow_paths: directories */
	VMPOLICY_PROGRAMS, /* allow_programs: absolute program paths */
	VMPOLICY_POOLS,    /* allow_pools: libvirt storage pool names */
	VMPOLICY_N_LISTS,
};

struct vmpolicy_items {
	size_t n;
	char item[VMPOLICY_MAX_ITEMS][VMPOLICY_ITEM_MAX];
};

struct vm_policy {
	bool allow_qemu_passthrough;
	bool allow_host_devices;
	struct vmpolicy_items list[VMPOLICY_N_LISTS];
};

/* The defaults: no passthrough, no host devices, libvirt's image and nvram
 * directories, Debian's and RHEL's QEMU binaries and virtiofsd, no pools. */
void vmpolicy_defaults(struct vm_policy *p);

/* The drover.conf key of a list ("allow_paths", ...). */
const char *vmpolicy_list_key(enum vmpolicy_list l);

/*
 * Add the space-separated items of value to list l. Paths and programs must
 * be absolute, without '.' or '..' components; a directory's trailing '/' is
 * dropped. A duplicate is ignored. -EINVAL names the bad item in err, -E2BIG
 * when the list would hold more than VMPOLICY_MAX_ITEMS; p is unchanged then.
 */
int vmpolicy_list_add(struct vm_policy *p, enum vmpolicy_list l, const char *value, char *err,
		      size_t errlen);

/*
 * Check a domain's XML (len bytes) against p. 0: allowed. -EPERM: refused,
 * with every reason (up to what fits) in err, each naming the element and
 * the [security] key that would allow it. -EINVAL: not well-formed XML,
 * -EMSGSIZE: larger than VM_XML_MAX (vmxml_parse() says so too).
 */
int vmpolicy_check(const struct vm_policy *p, const char *xml, size_t len, char *err,
		   size_t errlen);

#endif
