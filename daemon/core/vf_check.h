/*
 * The inventory check of SR-IOV (docs/SRIOV.md): whether the VFs the
 * replicated state allocated on a node are the VF devices its hypervisor's
 * live XML has, domain by domain. Pure: droverd (vf_exec.c) runs it on every
 * node's inventory as it is delivered; the unit tests run it on states built
 * from messages.
 *
 * What counts as a VF device: a device of the domain's live XML whose label
 * (the plugin labels them as core/vf_device.h labels a [vf_pool] template:
 * a host PCI address, a <source dev=...>) is one of the node's announced pool
 * devices. Anything else (the standby NIC, a disk) is none of our business.
 * A pool device whose template names neither (a libvirt hostdev network,
 * labelled "deviceN") cannot be recognised in the live XML: a VM holding
 * one is not checked.
 *
 * The three disagreements: a VF allocated to a running VM but absent from
 * its live XML; a pool device present in a domain's live XML but not
 * allocated to it (also in a domain drover does not manage); the VM has a
 * pool device, but not the one allocated. They are reported, never
 * "repaired": the check cannot know which side is right, and a guess (a
 * detach, a new allocation) could take a VF from a guest that uses it.
 *
 * What is not flagged: a VM with an unfinished operation (a detach or an
 * attach in flight legitimately differs from the replicated state for a
 * while); a domain that does not run on the node (where a VM runs is
 * locate.h's question, and state_vf_settle() frees the VFs of VMs that no
 * longer run); a domain whose devices the plugin did not report. An
 * inventory taken just before an operation ended may be delivered after its
 * end: vf_check_confirm() keeps only what two inventories of the node in a
 * row saw, which is what droverd shows and logs.
 */
#ifndef DROVER_CORE_VF_CHECK_H
#define DROVER_CORE_VF_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "observe.h"
#include "state.h"

/* Disagreements kept per node; more are counted in n_dropped. */
#define VF_CHECK_MAX 16

enum vf_check_kind {
	VF_CHECK_ABSENT = 1,   /* allocated, not in the live XML */
	VF_CHECK_UNALLOCATED,  /* in the live XML, not allocated to this domain */
	VF_CHECK_OTHER_DEVICE, /* the live XML has another device of the pools */
};

struct vf_check_issue {
	enum vf_check_kind kind;
	char vm[DROVER_VM_NAME_MAX];
	char want[DROVER_VF_LABEL_MAX];  /* the device allocated, "" none */
	char found[DROVER_VF_LABEL_MAX]; /* the pool device in the live XML, "" none */
};

struct vf_check_result {
	/* The node's inventory was current, and the plugin reported every running domain's devices.
	 */
	bool checked;
	uint32_t n_checked;    /* running domains compared */
	uint32_t n_unreported; /* running domains whose devices the plugin did not report */
	uint32_t n_in_flight;  /* skipped: an operation of the VM is under way */
	uint32_t n_dropped;    /* disagreements beyond VF_CHECK_MAX */
	size_t n;
	struct vf_check_issue issues[VF_CHECK_MAX];
};

/*
 * Compare o (a node's last inventory) with the replicated state. Not
 * checked (ret->checked false, no issues) when o is not current, its agent
 * fails, the state does not know the node, or a running domain's devices
 * were not reported (an older plugin). A node that runs nothing is checked
 * and agrees.
 */
void vf_check_node(const struct cluster_state *s, const struct node_obs *o,
		   struct vf_check_result *ret);

/*
 * cur with only the issues prev (the node's previous check) had too: the
 * same VM, kind and devices. The counters are cur's.
 */
void vf_check_confirm(const struct vf_check_result *prev, const struct vf_check_result *cur,
		      struct vf_check_result *ret);

/* One line for logs and views: "vm1: VF 'vf1' allocated, absent from the live XML". */
void vf_check_issue_text(const struct vf_check_issue *i, char *buf, size_t len);

/* The issue about vm in r, NULL if none. */
const struct vf_check_issue *vf_check_find(const struct vf_check_result *r, const char *vm);

#endif
