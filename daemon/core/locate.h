/*
 * Where a VM runs, or that drover cannot know: the one answer every decision
 * to start, stop or move a VM stands on. Pure code (no corosync, no libqb, no
 * droverd.h; the build checks it): the caller describes every node of the
 * nodelist as it knows it, and locate_vm() answers for one VM.
 *
 * The rule (issue 8): a VM's location is *known* only when every node of the
 * nodelist either has a current, successful inventory (one delivered since the
 * node last joined the membership), is fenced, or is known not to hold the VM:
 * its last successful inventory did not list the VM and no action or job that
 * could have put the VM there was under way since (the caller's `touched`
 * list). Silence is never "stopped": a node that was never heard from since
 * this droverd started may run anything, and says so in the reason. A
 * current node's report does not answer for a VM an action or job touched
 * there after the report was taken (a migration that ended there, a start it
 * executed): that VM is unknown there until the node reports again.
 *
 * Considered and rejected: treating a node whose agent is down, or that left
 * the membership, as running nothing unless its last report listed the VM.
 * That is what the daemon did, and it started a second copy of a VM whose
 * start was under way on a node that left, and of every VM of a node whose
 * droverd had restarted while its libvirtd did not answer.
 */
#ifndef DROVER_CORE_LOCATE_H
#define DROVER_CORE_LOCATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drover.pb-c.h"

#define LOCATE_MAX_ALSO 64
#define LOCATE_REASON_MAX 192

struct locate_domain {
	const char *name;
	Drover__VmRunState state;
};

/* One node of the nodelist as this droverd knows it. */
struct locate_node {
	uint32_t id;
	const char *name;
	bool member;    /* its droverd is in our CPG membership */
	bool current;   /* a successful inventory delivered since it last joined */
	bool holds_nothing; /* fenced (known off), or no hypervisor by configuration */
	bool has_record; /* domains[] is a successful inventory (perhaps an old one) */
	const char *why_stale; /* its agent's last error, "" if none */
	size_t n_domains;
	const struct locate_domain *domains;
	/* VMs an action or job may have put there since domains[] was taken. */
	size_t n_touched;
	const char *const *touched;
};

enum locate_state {
	LOCATE_STOPPED,  /* no node runs it; node_id: where it is defined, 0 if nowhere */
	LOCATE_RUNNING,  /* node_id runs it (also[]: other nodes that say so too) */
	LOCATE_FAILED,   /* crashed on node_id */
	LOCATE_UNKNOWN,  /* it may run on unknown_node, which cannot say: see reason */
};

struct locate_result {
	enum locate_state state;
	uint32_t node_id;
	bool paused_only;          /* RUNNING: only a paused copy (a migration's incoming one) */
	size_t n_also;
	uint32_t also[LOCATE_MAX_ALSO];
	uint32_t unknown_node;     /* UNKNOWN: the first node that cannot say */
	bool unknown_member;       /* that node is a member: its report may come soon */
	char reason[LOCATE_REASON_MAX];
};

/*
 * The domain still holds its memory and may run: running, paused, shutting
 * down, suspended to memory, or in a state libvirt could not tell.
 */
bool locate_state_active(Drover__VmRunState st);

/*
 * Locate vm over nodes[0..n). A running copy reported by a current node wins
 * over the unknown (the VM is running; where else it might also be is for
 * the double-copy check); otherwise any node that cannot say makes the answer
 * LOCATE_UNKNOWN. Returns 0, or -EINVAL on NULL arguments.
 */
int locate_vm(const struct locate_node *nodes, size_t n, const char *vm,
	      struct locate_result *ret);

const char *locate_state_name(enum locate_state st);

#endif
