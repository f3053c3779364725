/*
 * What state.c, state_ops.c and state_jobs.c share and nobody else calls:
 * the message bodies each applies, the protobuf conversions, and the
 * bookkeeping of the one operation table.
 */
#ifndef DROVER_STATE_PRIV_H
#define DROVER_STATE_PRIV_H

#include <sys/types.h>

#include "state.h"

/* state_jobs.c: the migration queue's bodies and the table's conversions. */
int state_jobs_apply(struct cluster_state *s, const Drover__Envelope *env);
void *state_jobs_to_proto(const struct cluster_state *s, Drover__ClusterState *msg);
void state_jobs_proto_free(void *mem);
int state_jobs_from_proto(const Drover__ClusterState *msg, struct cluster_state *s);

/*
 * A migration's attempt ended (state_jobs.c): done (history, owner), or
 * failed: re-queued or failed for good as the queue says, or for good at
 * once (for_good), or cancelled when the operator asked. Used by JobFinish
 * and by the VF steps (state_vf.c) that end a job.
 */
void state_jobs_attempt_done(struct cluster_state *s, struct queue_job *j, uint64_t finished_ms,
			     uint64_t downtime_ms, uint64_t bytes);
void state_jobs_attempt_failed(struct cluster_state *s, struct queue_job *j, const char *reason,
			       uint64_t finished_ms, bool for_good);

/* state_vf.c: NodeHardware's pools into a node; a vf-attach operation's reservation and end. */
int state_vf_node_from_proto(struct node_cfg *n, Drover__VfPool *const *pools, size_t n_pools,
			     uint32_t sa_capacity);
int state_vf_attach_reserve(struct cluster_state *s, struct queue_job *o);
/* The VM started afresh: it has no VF, and an attach that failed elsewhere may be tried again. */
void state_vf_started(struct cluster_state *s, const char *vm);
void state_vf_attach_ended(struct cluster_state *s, struct queue_job *o, bool ok,
			   const char *error);
/* The protobuf forms (state.c and state_jobs.c call them for nodes, VMs and operations). */
void state_vf_hold_to_proto(const struct queue_vf *vf, Drover__VfHold *ret);
int state_vf_hold_from_proto(const Drover__VfHold *m, struct queue_vf *ret);
void *state_vf_to_proto(const struct cluster_state *s, Drover__NodeConfig *nodes);
void state_vf_vm_to_proto(const struct vm_cfg *v, size_t i, Drover__VmConfig *m, void *mem);
void state_vf_proto_free(void *mem);
int state_vf_vm_from_proto(const Drover__VmConfig *m, struct vm_cfg *ret);
/* A state read from a file or a peer: no VF held or reserved twice (-EINVAL). */
int state_vf_check(const struct cluster_state *s);
struct node_cfg *state_node_slot(struct cluster_state *s, uint32_t id, bool create);

/* state_ops.c: VmAction and VmActionResult; the operations of older state files. */
int state_ops_apply(struct cluster_state *s, const Drover__Envelope *env);
int state_ops_from_old_proto(const Drover__ClusterState *msg, struct cluster_state *s);

/* Queued or running. */
bool state_op_unfinished(const struct queue_job *j);
/* Operations that must stay in the table: unfinished ones, and those a drain still needs. */
size_t state_ops_count_kept(const struct cluster_state *s);
/* Drop finished operations beyond the newest keep (oldest finished first), every member alike. */
void state_ops_trim(struct cluster_state *s, size_t keep);
/* Room for n more operations, trimming finished ones if needed; -ENOSPC if none. */
int state_ops_make_room(struct cluster_state *s, size_t n);
/* Append the finished operation to the history (no trimming: jobs[] stays as it is). */
void state_ops_record(struct cluster_state *s, const struct queue_job *j, uint64_t downtime_ms,
		      uint64_t bytes);
/* The operation ended for good (done, failed or cancelled): history, then trimming. */
void state_ops_ended(struct cluster_state *s, struct queue_job *j, uint64_t finished_ms,
		     uint64_t downtime_ms, uint64_t bytes);
/* The index of the VM named so in the registry (a binary search: vms[] is sorted by name), or -1. */
ssize_t state_vm_index(const struct cluster_state *s, const char *name);
/* A string from the wire that fits a buffer of size bytes, NUL included. */
bool state_str_fits(const char *p, size_t size);

#endif
