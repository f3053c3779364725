/*
 * The replicated cluster state: what every droverd holds identically, changed
 * only by applying CPG messages in agreed order (and replaced wholesale by the
 * state exchange in sync.c). Pure code: no I/O, no clock, no corosync, so the
 * same messages in the same order give the same state on every node, and unit
 * tests can prove it.
 *
 * Dynamic facts that each node observes for itself (who is online, knet link
 * health, quorum) are deliberately not here: replicating observations would
 * make them stale, and every node can see them directly.
 */
#ifndef DROVER_STATE_H
#define DROVER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drover.pb-c.h"
#include "names.h"

/* Corosync's nodelist tops out far above this; the mission is ~32 hosts. */
#define DROVER_MAX_NODES 64
/* ~32 hosts with a few dozen VMs each; bounded so a peer cannot exhaust memory. */
#define DROVER_MAX_VMS 2048
#define DROVER_VM_NAME_MAX 64

struct node_cfg {
	uint32_t id;
	Drover__NodeState state;
};

struct vm_cfg {
	char name[DROVER_VM_NAME_MAX];
	char *xml;                    /* owned */
	Drover__VmPriority priority;
	uint64_t memory_mib;
	uint32_t vcpus;
	uint32_t home_node;
};

struct cluster_state {
	uint64_t epoch;     /* number of changes applied since the cluster was made */
	size_t n_nodes;     /* entries in nodes[], sorted by id */
	struct node_cfg nodes[DROVER_MAX_NODES];
	size_t n_vms;       /* entries in vms[], sorted by name */
	struct vm_cfg *vms; /* owned */
};

void state_init(struct cluster_state *s);
/* Release what s owns and leave it empty. */
void state_free(struct cluster_state *s);
/* Deep copy of src into *ret (which must not own anything). */
void state_copy(const struct cluster_state *src, struct cluster_state *ret);

const struct vm_cfg *state_vm_find(const struct cluster_state *s, const char *name);

/* 64-bit FNV-1a over a canonical encoding of the whole state, epoch included. */
uint64_t state_hash(const struct cluster_state *s);

/* The node's administrative state; a node never mentioned is active. */
Drover__NodeState state_node_get(const struct cluster_state *s, uint32_t id);

/* True for the states an operator may set directly with `drover node`. */
bool state_operator_settable(Drover__NodeState st);

/*
 * Apply one state-changing peer message. Returns 1 if the state changed (the
 * epoch was incremented), 0 if the message was valid but changed nothing,
 * -EINVAL if it is invalid (the state is untouched), -ENOTSUP if the body is
 * not a state change, -ENOSPC if a table is full, -EEXIST for a VM name
 * already registered, -ENOENT for removing a VM that is not.
 */
int state_apply(struct cluster_state *s, const Drover__Envelope *env);

/*
 * Conversion to and from the protobuf form used by StateFull and the state
 * file. state_to_proto() fills msg with pointers into *storage and s: keep
 * both alive while msg is used. state_from_proto() validates (ids non-zero,
 * unique, known states, at most DROVER_MAX_NODES) and writes *ret only on
 * success.
 */
struct state_proto_storage {
	Drover__NodeConfig nodes[DROVER_MAX_NODES];
	Drover__NodeConfig *ptrs[DROVER_MAX_NODES];
	Drover__VmConfig *vms;       /* allocated: free with state_proto_storage_free() */
	Drover__VmConfig **vm_ptrs;
};
void state_proto_storage_free(struct state_proto_storage *storage);
void state_to_proto(const struct cluster_state *s, Drover__ClusterState *msg,
		    struct state_proto_storage *storage);
int state_from_proto(const Drover__ClusterState *msg, struct cluster_state *ret);



#endif
