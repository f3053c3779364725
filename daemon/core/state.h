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
#include "queue.h"

/* Corosync's nodelist tops out far above this; the mission is ~32 hosts. */
#define DROVER_MAX_NODES 64
/* 32 hosts with a few hundred VMs each; bounded so a peer cannot exhaust memory. */
#define DROVER_MAX_VMS 8192
/*
 * The documented maximum of the encoded state (a packed ClusterState, as
 * exchanged in StateChunks and written to the state file): 128 MiB. Jobs,
 * history, limits and nodes are bounded by their own tables to well under
 * DROVER_STATE_FIXED_MAX; the VM registry may use the rest. VmAdd is refused
 * (-ENOSPC) when the registry would outgrow DROVER_REGISTRY_MAX, on the CLI's
 * node before sending and by every member at apply time alike, so no member
 * ever holds a state it cannot send or persist. 5,000 VMs with 8 KiB of
 * domain XML each take about 40 MiB.
 */
#define DROVER_STATE_MAX (128u * 1024u * 1024u)
#define DROVER_STATE_FIXED_MAX (8u * 1024u * 1024u)
#define DROVER_REGISTRY_MAX (DROVER_STATE_MAX - DROVER_STATE_FIXED_MAX)
#define DROVER_VM_NAME_MAX 64

#define DROVER_REASON_MAX 160

/* SR-IOV (state_vf.c, docs/SRIOV.md): a node's VF pools as it announced them. */
#define DROVER_MAX_VF_POOLS 8
#define DROVER_VF_POOL_NAME_MAX 32
#define DROVER_MAX_VF_DEVICES 16
#define DROVER_VF_LABEL_MAX 48
/* A bound against typos (config.c's [node] ipsec_sa_capacity). */
#define DROVER_IPSEC_SA_MAX 1000000u

struct vf_pool {
	char name[DROVER_VF_POOL_NAME_MAX];
	uint32_t n_devices;
	char labels[DROVER_MAX_VF_DEVICES][DROVER_VF_LABEL_MAX];
};

struct node_cfg {
	uint32_t id;
	Drover__NodeState state;      /* administrative; kept while fenced */
	/* Fencing (state_fence.c): set by NodeLost, FenceResult, NodeUnfenced. */
	Drover__FenceState fence;
	uint32_t fence_attempts;
	char fence_error[DROVER_REASON_MAX];
	char fence_device[64];
	uint64_t lost_ms, fenced_ms;  /* the deciding node's wall clock, for views */
	/* What it announced (NodeHardware): pools (owned, n_vf_pools entries) and SA capacity. */
	size_t n_vf_pools;
	struct vf_pool *vf_pools;
	uint32_t ipsec_sa_capacity;
};

struct vm_cfg {
	char name[DROVER_VM_NAME_MAX];
	char *xml;                    /* owned */
	Drover__VmPriority priority;
	uint64_t memory_mib;
	uint32_t vcpus;
	uint32_t home_node;
	/*
	 * What drover wants of the VM and where the replicated state says it
	 * runs (state_fence.c keeps them from the operations' ends, the jobs'
	 * ends, fencing and the coordinator's VmPlaced): the owner's copy is the
	 * one kept if a VM is ever found on two hosts, and a fenced owner's VMs
	 * that want to run are the ones recovery restarts.
	 */
	uint32_t owner;
	Drover__VmWant want;
	uint32_t recover_attempts;
	char want_reason[DROVER_REASON_MAX];
	uint32_t lost_from;           /* the fenced node it ran on, until it runs again */
	/* SR-IOV (state_vf.c): what it asks for, the VF it holds, the last VF error. */
	char vf_pool[DROVER_VF_POOL_NAME_MAX]; /* "": no VF */
	bool vf_required;             /* vf = required: migrations wait for a free VF */
	uint32_t ipsec_offload_sa;
	struct queue_vf vf;
	char vf_error[DROVER_REASON_MAX];
};

/* Unfinished jobs plus the finished ones kept for `drover queue`. */
#define DROVER_MAX_JOBS 1024
/* Finished jobs stay in the queue until this many newer ones finished. */
#define DROVER_KEEP_FINISHED 64
/* Finished migrations `drover history` keeps (persisted with the state). */
#define DROVER_HISTORY_MAX 256

struct mig_limits {
	bool set;             /* false: never set; a coordinator uses its drover.conf */
	uint32_t per_source;  /* 0 = unlimited */
	uint32_t per_target;
	uint32_t cluster;
	uint32_t max_retries;
	size_t n_caps;
	struct {
		char network[QUEUE_NAME_MAX];
		uint32_t cap;
	} caps[QUEUE_MAX_NETWORKS];
};

struct history_entry {
	uint64_t job_id;
	char vm[DROVER_VM_NAME_MAX];
	uint32_t source, target;
	char network[QUEUE_NAME_MAX];
	enum queue_job_state result; /* done, failed, cancelled */
	uint32_t origin;             /* Drover__JobOrigin */
	enum queue_op_kind kind;
	uint64_t fenced_ms;          /* a recovery: when source was fenced */
	uint64_t started_ms, finished_ms, downtime_ms, bytes;
	uint32_t attempts;
	char error[QUEUE_REASON_MAX];
};

/*
 * Start and stop operations unfinished at once, cluster-wide (migrations are
 * bounded by the queue's limits). Far above what recovery's per-node
 * throttle and operators produce; a bound so each node's local records of
 * them fit a fixed table.
 */
#define DROVER_MAX_OPS 256

/*
 * Totals since the cluster was made (ClusterCounters in drover.proto), kept
 * alike by every member as it applies the ends: state_ops_record() counts
 * the history's migrations and failover restarts, state_fence_apply() the
 * fence results. Not hashed (see drover.proto).
 */
struct state_counters {
	uint64_t migrations_ok, migrations_failed, migrations_cancelled;
	uint64_t failovers_ok, failovers_failed;
	uint64_t fences_ok, fences_failed, fences_confirmed;
};

struct cluster_state {
	uint64_t epoch;     /* number of changes applied since the cluster was made */
	/*
	 * Quorate configurations this copy went through: every member bumps it
	 * when a quorate configuration forms (state_term_bump), so a copy that
	 * only a minority changed never beats the quorate side's at a merge.
	 */
	uint64_t term;
	size_t n_nodes;     /* entries in nodes[], sorted by id */
	struct node_cfg nodes[DROVER_MAX_NODES];
	size_t n_vms;       /* entries in vms[], sorted by name */
	struct vm_cfg *vms; /* owned */
	/*
	 * state_vm_bytes() summed over vms[]: an upper bound of the registry's
	 * share of the encoded state. Derived (not hashed, not sent), kept by
	 * every insertion and removal so VmAdd can check DROVER_REGISTRY_MAX
	 * without encoding anything.
	 */
	uint64_t registry_bytes;
	/*
	 * Every operation on a VM (state_ops.c): the migration queue's jobs
	 * (state_jobs.c) and the starts and stops the coordinator decided, in
	 * one table, at most one unfinished per VM; finished ones are kept a
	 * while for `drover queue`.
	 */
	size_t n_jobs;            /* entries in jobs[], sorted by id */
	struct queue_job *jobs;   /* owned; blocker fields are not state (not hashed) */
	uint64_t next_job_id;     /* the next operation's id; ids start at 1 */
	struct mig_limits limits;
	size_t n_history;         /* oldest first */
	struct history_entry *history; /* owned, DROVER_HISTORY_MAX slots once allocated */
	struct state_counters counters;
};

void state_init(struct cluster_state *s);
/* Release what s owns and leave it empty. */
void state_free(struct cluster_state *s);
/* Deep copy of src into *ret (which must not own anything). */
void state_copy(const struct cluster_state *src, struct cluster_state *ret);

const struct vm_cfg *state_vm_find(const struct cluster_state *s, const char *name);

/*
 * What one registry entry may add to the encoded state: its name and XML plus
 * a bound on protobuf's tags, lengths and numbers. registry_bytes sums it.
 */
uint64_t state_vm_bytes(const char *name, const char *xml);

/* One step of state_hash()'s 64-bit FNV-1a: a number (8 bytes, LE), a string with its NUL. */
uint64_t state_hash_u64(uint64_t h, uint64_t v);
uint64_t state_hash_str(uint64_t h, const char *p);

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
 * not a state change, -ENOSPC if a table is full (for VmAdd also: the
 * registry would outgrow DROVER_REGISTRY_MAX), -EEXIST for a VM name
 * already registered, -ENOENT for removing a VM that is not.
 */
int state_apply(struct cluster_state *s, const Drover__Envelope *env);

/*
 * The operations (state_ops.c). VmAction adds a start or a stop, running at
 * once on its node; VmActionResult ends it (done or failed, into the
 * history). Both also through state_apply(): -EBUSY for a VM with another
 * unfinished operation, -ENOENT for an unregistered VM or an unknown result,
 * -ENOSPC when DROVER_MAX_OPS starts and stops are unfinished, -EINVAL if
 * malformed (a VmAction of kind migrate included: migrations are jobs).
 */
const struct queue_job *state_op_find(const struct cluster_state *s, uint64_t id);
/* The VM's unfinished operation (queued or running, any kind), if any. */
const struct queue_job *state_op_for_vm(const struct cluster_state *s, const char *vm);
/* Unfinished starts and stops. */
size_t state_ops_actions(const struct cluster_state *s);
/* Whether an unfinished operation may leave or put its VM on node. */
bool state_op_involves(const struct queue_job *o, uint32_t node);
/* The node that executes the operation's current step (0: none yet). */
uint32_t state_op_executor(const struct queue_job *o);
/* Stable names: "migrate", "start", "stop". */
const char *state_op_kind_name(enum queue_op_kind k);

/* ---- fencing and what drover wants of each VM (state_fence.c) ---- */

/* A node's fence state; a node never mentioned is FENCE_STATE_NONE. */
Drover__FenceState state_node_fence(const struct cluster_state *s, uint32_t id);
const struct node_cfg *state_node_find(const struct cluster_state *s, uint32_t id);

/*
 * A restart after a fence or a preemption that failed this often gives the
 * VM up (want GAVE_UP, with the last error) until an operator starts it.
 */
#define DROVER_RECOVER_MAX_ATTEMPTS 3

/*
 * The bodies of state_apply() for fencing (each also reachable through it;
 * who may send them, and that `node` is not a member, is apply_gate.c's
 * check):
 *  - NodeLost: fence NONE -> PENDING (attempts 0); 0 if already lost.
 *  - FenceResult: ok -> FENCED, and every VM it owned loses its owner (a
 *    VM that wants to run and has priority none is set STOPPED: it is never
 *    restarted automatically); a failure counts an attempt, keeps the error
 *    and -> FAILED. -EINVAL unless the node is lost (PENDING or FAILED);
 *    an operator's confirmation also from NONE.
 *  - VmPlaced: owner and want of a registered VM; -ENOENT otherwise.
 *  - NodeUnfenced: lost or fenced -> NONE (the node is back: a fenced one
 *    holds no second copy, one that was lost but never fenced was not off).
 * Operations' and jobs' ends update owner and want through
 * state_fence_on_op_end() and state_fence_on_job_done().
 */
int state_fence_apply(struct cluster_state *s, const Drover__Envelope *env);
void state_fence_on_op_end(struct cluster_state *s, const struct queue_job *o, bool ok,
			   const char *error);
void state_fence_on_job_done(struct cluster_state *s, const char *vm, uint32_t target);

/* ---- SR-IOV: VF pools, the VFs VMs hold, IPsec SA capacity (state_vf.c) ---- */

/*
 * The bodies of state_apply() for SR-IOV (each also reachable through it):
 *  - NodeHardware: replaces the node's pools and SA capacity (0 if the
 *    same); -EINVAL on a bad pool name, a duplicate, too many, a label too
 *    long. VFs held beyond a shrunk pool stay held, never given again.
 *  - OpStepResult: ends the current VF step of a running operation (a
 *    migration's detach, attach, or rollback attach); -EINVAL for another
 *    step or an operation not running.
 */
int state_vf_apply(struct cluster_state *s, const Drover__Envelope *env);

/* A pool name: 1..31 of [A-Za-z0-9._-] (also "": no pool). */
bool state_vf_pool_name_valid(const char *name);

/* The node's pool of that name, or NULL. */
const struct vf_pool *state_vf_pool(const struct cluster_state *s, uint32_t node,
				    const char *pool);
/*
 * Whether device (1..n) of pool on node is held by a VM or reserved by an
 * unfinished operation: the one rule that keeps a VF from being given twice.
 */
bool state_vf_taken(const struct cluster_state *s, uint32_t node, const char *pool,
		    uint32_t device);
/* The first free device of pool on node (1..n), or 0: none free, or no such pool. */
uint32_t state_vf_pick(const struct cluster_state *s, uint32_t node, const char *pool);
/* Free devices of pool on node (0 for no such pool). */
uint32_t state_vf_free(const struct cluster_state *s, uint32_t node, const char *pool);
/*
 * Why a VM runs without the VF it asks for, or NULL: it wants to run, has a
 * pool, an owner, and no VF attached there ("no VF", or the last VF error).
 */
const char *state_vf_degraded(const struct vm_cfg *v, char *buf, size_t len);
/* The IPsec SAs the VMs that run on node (owner, want running) may offload. */
uint64_t state_sa_used(const struct cluster_state *s, uint32_t node);
/*
 * Whether the VM runs short of IPsec offload: it declares SAs, runs on its
 * owner, and the VMs there before it (by name) with its own pass the node's
 * capacity, so its IPsec costs guest CPU.
 */
bool state_sa_short(const struct cluster_state *s, const struct vm_cfg *v);
/* The node's announced SA capacity (0: none or never announced). */
uint32_t state_sa_capacity(const struct cluster_state *s, uint32_t node);

/*
 * Hooks of the operation ends (state_jobs.c, state_ops.c, state_fence.c):
 *  - state_vf_job_started(): a migration starts: its plan, with a detach
 *    first when the VM holds a VF attached on the source, and an attach last
 *    when a VF of the VM's pool is free on the target (reserved now).
 *  - state_vf_transfer_ok(): the transfer ended well: the source's VF is
 *    free; true when an attach step follows (the job goes on), false when
 *    the job ends now.
 *  - state_vf_transfer_failed(): true when the VF was detached: the job goes
 *    on with a re-attach on the source (the caller keeps the failure for
 *    state_jobs_attempt_failed() after it); false: fail it now.
 *  - state_vf_settle(): after any end, a VF whose VM no longer runs on its
 *    node (stopped, fenced, moved) and is under no operation returns to the
 *    pool.
 */
void state_vf_job_started(struct cluster_state *s, struct queue_job *j);
bool state_vf_transfer_ok(struct cluster_state *s, struct queue_job *j, uint64_t downtime_ms,
			  uint64_t bytes);
bool state_vf_transfer_failed(struct cluster_state *s, struct queue_job *j, const char *reason);
void state_vf_settle(struct cluster_state *s);

/* A quorate configuration formed: the next changes belong to a new term. */
void state_term_bump(struct cluster_state *s);

/*
 * Conversion to and from the protobuf form used by StateFull and the state
 * file. state_to_proto() fills msg with pointers into *storage and s: keep
 * both alive while msg is used. state_from_proto() validates (ids non-zero,
 * unique, known states, at most DROVER_MAX_NODES) and writes *ret only on
 * success.
 */
/* ---- the migration queue (state_jobs.c) ---- */

/* Limits with the defaults (2 out, 2 in, cluster unlimited, 2 retries), unset. */
void state_limits_default(struct mig_limits *l);
struct queue_job *state_job_find(struct cluster_state *s, uint64_t id);
/* The VM's queued or running job, if any. */
struct queue_job *state_job_active(struct cluster_state *s, const char *vm);

/*
 * The attempt a source executes: the job's id, target, network, start time
 * and the attempts that ended before it, as the JobStart it applied left them.
 */
struct job_attempt_id {
	uint64_t job_id;
	uint32_t target;
	char network[QUEUE_NAME_MAX];
	uint64_t started_ms;
	size_t n_ended;
};

/* The attempt job j runs now (j must be running). */
void state_job_attempt(const struct queue_job *j, struct job_attempt_id *ret);

/*
 * Whether the replicated state still runs attempt a from source. When it
 * does not, the cluster ended that attempt while the source was away (a
 * partition, a droverd restart: the coordinator finished it as failed and
 * may have started another): the source's migration is an orphan, which it
 * aborts without announcing its end (the end was announced for it).
 */
bool state_job_runs_attempt(const struct cluster_state *s, uint32_t source,
			    const struct job_attempt_id *a);
/* Queued + running jobs. */
size_t state_jobs_unfinished(const struct cluster_state *s);

/*
 * The job bodies of state_apply(), each also reachable through it:
 *  - JobsAdd: one queued job per spec whose VM is registered, has no
 *    unfinished job, and whose source is non-zero; priority, memory and vCPUs
 *    are copied from the registry, max_retries from the limits. 1 if any was
 *    added, 0 if all were skipped; -ENOSPC when full even after trimming
 *    finished jobs.
 *  - JobStart: queued -> running (queue_job_started); -EINVAL if the job is
 *    not queued, the target is 0 or the source, or the network is empty.
 *  - JobFinish: running -> done (history entry appended), or a failure: the
 *    attempt is recorded with the reason and the job re-queued for another
 *    network (queue_job_failed), or failed for good (history entry), or
 *    cancelled when cancel_requested was set. -EINVAL if not running.
 *  - JobsCancel: queued jobs leaving node (every node when 0) -> cancelled
 *    (history entries); running ones get cancel_requested; a draining node
 *    returns to active. 1 if anything changed.
 *  - LimitsSet: replaces the limits (set = true); -EINVAL on more than
 *    QUEUE_MAX_NETWORKS caps or an empty/too long network name.
 * Finished jobs beyond DROVER_KEEP_FINISHED (oldest finished first) are
 * dropped from jobs[] whenever one finishes; history keeps the newest
 * DROVER_HISTORY_MAX entries.
 */

struct state_proto_storage {
	Drover__NodeConfig nodes[DROVER_MAX_NODES];
	Drover__NodeConfig *ptrs[DROVER_MAX_NODES];
	Drover__VmConfig *vms;       /* allocated: free with state_proto_storage_free() */
	Drover__VmConfig **vm_ptrs;
	void *queue;                 /* allocated by state_jobs.c: jobs, limits, history */
	void *vf;                    /* allocated by state_vf.c: pools, VFs held */
	Drover__ClusterCounters counters;
};
void state_proto_storage_free(struct state_proto_storage *storage);
void state_to_proto(const struct cluster_state *s, Drover__ClusterState *msg,
		    struct state_proto_storage *storage);
int state_from_proto(const Drover__ClusterState *msg, struct cluster_state *ret);



#endif
