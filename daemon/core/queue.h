/*
 * The migration queue: which queued migrations start now, where to and over
 * which network, and why every other one waits. Pure code: the caller passes
 * the cluster view, the jobs and the time, and gets back a list of actions; no
 * I/O, no clock, no globals, no allocation.
 *
 * A caller must know:
 *  - queue_dispatch() does not change a job's state: it returns actions, and
 *    whoever applies them (on every member, in delivery order) calls
 *    queue_job_started(). It does write the blocker of every job.
 *  - node free memory/vCPUs in the view are what is free NOT counting the
 *    migrations in jobs[] that are running towards the node; the queue
 *    subtracts those itself.
 *  - job ids must be unique: they are the last ordering key.
 *  - jobs[] may hold operations that are not migrations (a start, a stop):
 *    the queue neither dispatches them nor counts them against any limit.
 */
#ifndef DROVER_QUEUE_H
#define DROVER_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUEUE_MAX_NODES 64
#define QUEUE_MAX_NETWORKS 8
#define QUEUE_MAX_JOBS 4096
#define QUEUE_NAME_MAX 64
#define QUEUE_MAX_ATTEMPTS 8
#define QUEUE_REASON_MAX 128
#define QUEUE_BLOCKER_MAX 160
#define QUEUE_MAX_VF_POOLS 8  /* = DROVER_MAX_VF_POOLS: distinct pool names in a view */
#define QUEUE_VF_POOL_MAX 32  /* = DROVER_VF_POOL_NAME_MAX */

#define QUEUE_LIMIT_SOURCE_DEFAULT 2u
#define QUEUE_LIMIT_TARGET_DEFAULT 2u
#define QUEUE_MAX_RETRIES_DEFAULT 2u

/* Same values as Drover__VmPriority, so the wiring can cast; 0 counts as medium. */
enum queue_priority {
	QUEUE_PRIO_UNSPECIFIED = 0,
	QUEUE_PRIO_HIGH = 1,
	QUEUE_PRIO_MEDIUM = 2,
	QUEUE_PRIO_LOW = 3,
	QUEUE_PRIO_NONE = 4,
};

enum queue_job_state {
	QUEUE_JOB_QUEUED,
	QUEUE_JOB_RUNNING,
	QUEUE_JOB_DONE,
	QUEUE_JOB_FAILED,
	QUEUE_JOB_CANCELLED,
};

enum queue_blocker {
	QUEUE_BLOCK_NONE,           /* not queued, or starts now */
	QUEUE_BLOCK_SOURCE_OFFLINE, /* "source n1 is offline" */
	QUEUE_BLOCK_NO_TARGET,      /* "no usable target node", "target n3 is offline" */
	QUEUE_BLOCK_NO_MEMORY,      /* "no target has 512 MiB free" */
	QUEUE_BLOCK_NO_VCPUS,       /* "no target has 4 vCPUs free" */
	QUEUE_BLOCK_NO_NETWORK,     /* "no usable network between n1 and n3" */
	QUEUE_BLOCK_SOURCE_LIMIT,   /* "source outgoing limit 2/2" */
	QUEUE_BLOCK_CLUSTER_LIMIT,  /* "cluster limit 4/4" */
	QUEUE_BLOCK_TARGET_LIMIT,   /* "target n2 incoming limit 2/2" */
	QUEUE_BLOCK_NETWORK_LIMIT,  /* "network mig-a limit 1/1" */
	QUEUE_BLOCK_BATCH_FULL,     /* the caller's action array was full */
	/* Set by the caller for jobs it keeps out of queue_dispatch(): */
	QUEUE_BLOCK_VM_BUSY,        /* "VM vm3 has another action in progress" */
	QUEUE_BLOCK_VM_ELSEWHERE,   /* "VM vm3 is not running on n1" */
	QUEUE_BLOCK_NO_VF,          /* vf = required: "no free VF in pool fast on any target" */
};

enum queue_result {
	QUEUE_RESULT_OK,
	QUEUE_RESULT_FAILED,
};

struct queue_node {
	uint32_t id; /* non-zero */
	char name[QUEUE_NAME_MAX];
	bool online;        /* a cluster member: may send */
	bool usable_target; /* active (not draining/maintenance) and agent ok: may receive */
	uint64_t free_mib;
	uint32_t free_vcpus;
	/* IPsec offload (SR-IOV, docs/SRIOV.md): capacity, and SAs of the VMs running there. */
	uint32_t sa_capacity;
	uint64_t sa_used;
};

struct queue_network {
	char name[QUEUE_NAME_MAX];
	uint32_t cap; /* concurrent migrations, 0 = no cap */
	/* Used for a pair only while no other network is usable between them. */
	bool last_resort;
};

struct queue_limits {
	uint32_t per_source; /* outgoing per node, 0 = unlimited */
	uint32_t per_target; /* incoming per node, 0 = unlimited */
	uint32_t cluster;    /* 0 = unlimited */
};

struct queue_view {
	size_t n_nodes;
	struct queue_node nodes[QUEUE_MAX_NODES];
	size_t n_networks; /* networks[] in preference order, best first */
	struct queue_network networks[QUEUE_MAX_NETWORKS];
	/* Bit b of usable[k][a]: network k can carry a migration from nodes[a] to nodes[b]. */
	uint64_t usable[QUEUE_MAX_NETWORKS][QUEUE_MAX_NODES];
	struct queue_limits limits;
	/*
	 * VF pools (SR-IOV): the names, and per name and node (index into
	 * nodes[]) the free VFs, NOT counting what this round's starts take.
	 */
	size_t n_vf_pools;
	char vf_pools[QUEUE_MAX_VF_POOLS][QUEUE_VF_POOL_MAX];
	uint32_t vf_free[QUEUE_MAX_VF_POOLS][QUEUE_MAX_NODES];
};

struct queue_attempt {
	char network[QUEUE_NAME_MAX];
	uint32_t target;
	enum queue_result result;
	char reason[QUEUE_REASON_MAX];
	uint64_t started_ms;  /* the job's started_ms when it was recorded */
	uint64_t finished_ms; /* set by the caller (the queue has no clock) */
};

/*
 * What an operation does (the values of Drover__OpKind). Every operation on a
 * VM, a migration, a start or a stop, is one of these records in one
 * replicated table (state_ops.c); the queue schedules the migrations among
 * them and leaves the others alone (a start or a stop is running from the
 * moment it is decided).
 */
enum queue_op_kind {
	QUEUE_OP_MIGRATE = 0,
	QUEUE_OP_START = 1,
	QUEUE_OP_STOP = 2,
	QUEUE_OP_VF_ATTACH = 3, /* a degraded VM gets a free VF of its pool (state_vf.c) */
};

/* A plan has at most this many steps (a migration of a VM with a VF: detach, transfer, attach). */
#define QUEUE_MAX_STEPS 4

/* A VF: device (1..n) of pool on node; node 0: none (state_vf.c). */
struct queue_vf {
	uint32_t node;
	char pool[32];
	uint32_t device;
	bool attached;
};

/* One step of an operation's plan: what (Drover__OpStepKind) and which node's agent does it. */
struct queue_step {
	uint32_t kind;
	uint32_t node;
};

struct queue_job {
	uint64_t id;
	char vm[QUEUE_NAME_MAX];
	enum queue_priority priority;
	uint64_t memory_mib;
	uint32_t vcpus;
	uint32_t source;
	uint32_t fixed_target; /* 0: placement chooses */
	char fixed_network[QUEUE_NAME_MAX]; /* "": the queue chooses; else only this one */
	uint64_t created_ms;
	enum queue_job_state state;
	/* While running (and kept after done): */
	uint32_t target;
	char network[QUEUE_NAME_MAX];
	uint64_t started_ms;
	/* Retries after the first attempt; capped at QUEUE_MAX_ATTEMPTS - 1. */
	uint32_t max_retries;
	size_t n_attempts;
	struct queue_attempt attempts[QUEUE_MAX_ATTEMPTS];
	/* Kept for the replicated state; the queue does not use them: */
	enum queue_op_kind kind;
	/*
	 * The plan, set when the operation starts running, and its current
	 * step; the step's node executes it. A start or a stop has one step on
	 * source; a migration one transfer from source.
	 */
	size_t n_plan;
	struct queue_step plan[QUEUE_MAX_STEPS];
	uint32_t step;
	uint32_t origin_node;    /* start/stop: whose client asked */
	uint64_t request_id;
	char for_vm[QUEUE_NAME_MAX];  /* a preemption: the VM it makes room for */
	uint32_t lost_from;      /* a recovery: the fenced node it ran on */
	uint64_t fenced_ms;      /* a recovery: when lost_from was fenced */
	uint32_t origin;         /* Drover__JobOrigin: also the cause of a start or stop */
	uint64_t finished_ms;
	bool cancel_requested;   /* `drain cancel` while running: a failure ends it */
	char error[QUEUE_REASON_MAX];
	/*
	 * SR-IOV (state_vf.c): the VF reserved where the operation puts the VM;
	 * a rollback (the transfer failed after the detach: the last step
	 * re-attaches the VF on the source, then vf_reason fails the attempt);
	 * the transfer's figures, until an attach step ends the job.
	 */
	struct queue_vf vf_reserved;
	bool vf_rollback;
	char vf_reason[QUEUE_REASON_MAX];
	uint64_t vf_bytes, vf_downtime_ms;
	/*
	 * Written by the caller before queue_dispatch() from the registry (not
	 * state, not hashed): the VF pool the VM asks for ("": none), whether
	 * it must have one (else the job waits), and its IPsec SAs. Placement
	 * prefers a target with a free VF of the pool, then spare SA capacity.
	 */
	char want_vf_pool[QUEUE_VF_POOL_MAX];
	bool want_vf_required;
	uint32_t want_sa;
	/* Written by queue_dispatch(): */
	enum queue_blocker blocker;
	char blocker_text[QUEUE_BLOCKER_MAX];
};

struct queue_action {
	uint64_t job_id;
	size_t job;     /* index into the jobs[] passed to queue_dispatch() */
	uint32_t source;
	uint32_t target;
	size_t network; /* index into view->networks */
	char network_name[QUEUE_NAME_MAX];
	uint64_t start_ms;
};

/* Empty view with the default limits. */
void queue_view_init(struct queue_view *v);
/* Add a node / a network (appended, so lowest preference so far); -E2BIG, -EINVAL, -EEXIST. */
int queue_view_add_node(struct queue_view *v, const struct queue_node *node);
int queue_view_add_network(struct queue_view *v, const char *name, uint32_t cap);
/* Make network k a last resort (see struct queue_network); -ENOENT. */
int queue_view_set_last_resort(struct queue_view *v, size_t k, bool last_resort);
/* Mark network k usable (or not) between nodes a and b, both directions; -ENOENT. */
int queue_view_set_usable(struct queue_view *v, size_t k, uint32_t a, uint32_t b, bool usable);

/* A queued job with the default retry limit and no attempts. -EINVAL on a bad argument. */
int queue_job_init(struct queue_job *job, uint64_t id, const char *vm, enum queue_priority prio,
		   uint64_t memory_mib, uint32_t vcpus, uint32_t source, uint64_t created_ms);

/*
 * Decide which queued jobs start now. Jobs are considered by VM priority, then
 * age, then id; every job not started gets its blocker (code and sentence),
 * every other job gets QUEUE_BLOCK_NONE. At most max actions are returned in
 * ret[0..*ret_n); a job that could start beyond that is blocked with
 * QUEUE_BLOCK_BATCH_FULL. -EINVAL on a bad argument (nothing written),
 * -E2BIG when n > QUEUE_MAX_JOBS or the view is over its bounds.
 */
int queue_dispatch(const struct queue_view *v, struct queue_job *jobs, size_t n, uint64_t now_ms,
		   struct queue_action *ret, size_t max, size_t *ret_n);

/* What a job's VM, asking for a VF (want_vf_pool), gets where a plan puts it. */
enum queue_plan_vf {
	QUEUE_PLAN_VF_NONE = 0, /* it asks for none (or never starts, for another reason) */
	QUEUE_PLAN_VF_GETS,     /* a free VF of its pool on its target */
	QUEUE_PLAN_VF_DEGRADED, /* none free there: it runs on its standby NIC, degraded */
	QUEUE_PLAN_VF_WAITS,    /* vf = required and no target has one: it never starts */
};

/* One job's fate in queue_plan(). */
struct queue_plan_step {
	uint32_t wave;   /* 1: starts at once; n: after n-1 rounds; 0: never starts */
	uint32_t target;
	char network[QUEUE_NAME_MAX];
	enum queue_plan_vf vf;
	/*
	 * Why it waited in the first round (wave > 1), or why it never starts
	 * (wave 0 and still queued; a job running already keeps wave 0 and "").
	 */
	char blocker[QUEUE_BLOCKER_MAX];
};

/*
 * Simulate the queue to its end on view v, for a dry run: dispatch, let every
 * started (or already running) migration finish at once, its memory and
 * vCPUs moving from source to target, and dispatch again, until nothing more
 * starts or max_waves rounds passed. Waves approximate the order: the real
 * queue hands a slot on the moment a migration ends. v and jobs are changed
 * (pass copies); steps[i] tells jobs[i]'s fate. Errors as queue_dispatch().
 */
int queue_plan(struct queue_view *v, struct queue_job *jobs, size_t n, uint64_t now_ms,
	       uint32_t max_waves, struct queue_plan_step *steps);

/* Apply an action to its job: queued -> running. -EINVAL if the job is not queued or ids differ. */
int queue_job_started(struct queue_job *job, const struct queue_action *a);
/* Running -> done, recording the successful attempt. -EINVAL if not running. */
int queue_job_done(struct queue_job *job);
/*
 * Running -> queued again, recording the failed attempt on network; the next
 * attempt avoids that network whenever another one is usable. When the
 * retries are used up, -> failed instead. Returns 0 if re-queued, 1 if failed
 * for good, -EINVAL if the job was not running.
 */
int queue_job_failed(struct queue_job *job, const char *network, const char *reason);
/* Queued -> cancelled; -EBUSY if running (abort it first), -EINVAL if finished. */
int queue_job_cancel(struct queue_job *job);

/* Stable short names for JSON and logs. */
const char *queue_blocker_name(enum queue_blocker b);
const char *queue_job_state_name(enum queue_job_state s);
const char *queue_result_name(enum queue_result r);

#endif
