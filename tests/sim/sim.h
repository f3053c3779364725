/*
 * The simulator's shared state and the functions its files call one another
 * by (see drover-sim.c for what the simulator is and its scenario grammar).
 * One simulated cluster per process: the global S.
 */
#ifndef DROVER_SIM_H
#define DROVER_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "apply_gate.h"
#include "coord.h"
#include "coord_input.h"
#include "coord_msgs.h"
#include "exitcode.h"
#include "frame.h"
#include "locate.h"
#include "names.h"
#include "observe.h"
#include "quorum_rule.h"
#include "recover.h"
#include "selffence.h"
#include "state.h"
#include "sync.h"
#include "util.h"
#include "vmdecide.h"

/* As droverd: node ids 1..DROVER_MAX_NODES, one bit each in a 64-bit mask. */
#define MAX_NODES DROVER_MAX_NODES
/* VMs the world knows (registered or not); hosts list them by index. */
#define MAX_VMS 2048
#define VM_HASH_SIZE 4096 /* a power of two above 2 * MAX_VMS */
#define MAX_BUS 65536
#define MAX_HELD 16
#define MAX_JOBS 16
#define HOLD_TICKS 3
#define HOST_MIB 4096
#define HOST_CPUS 16
#define MAX_NETS 4
#define MAX_MIGS 64
#define NEVER UINT64_MAX
/* drover.conf's [migration] stall_timeout_ms: the agent gives up a migration that stopped moving. */
#define STALL_TIMEOUT_MS 30000u

/*
 * A migration network. One with a bandwidth carries each migration's memory
 * at its bandwidth shared among the migrations on it, in virtual time; one
 * without (the default mig-a and mig-b) ends every migration at the next tick.
 */
struct sim_net {
	char name[QUEUE_NAME_MAX];
	uint64_t mib_per_s; /* 0: a migration ends at the next tick */
	uint32_t cap;       /* drover.conf's network cap (0: none), seeded with the limits */
};

/* A migration job this node executes as its source (drain.c's job_exec). */
struct mig_job {
	uint64_t job_id;
	char vm[DROVER_VM_NAME_MAX];
	uint32_t target;
	char network[QUEUE_NAME_MAX];
	size_t net;            /* index into S.nets */
	uint64_t started_ms;
	struct job_attempt_id attempt; /* the replicated attempt it executes */
	/* Over a network with a bandwidth: */
	uint64_t left;         /* milli-MiB still to copy (MiB/s is milli-MiB per ms) */
	uint64_t stuck_since;  /* it made no progress since then; NEVER: it moves */
	uint64_t stall_at;     /* NEVER, or when it stalls by itself (sim_world.c) */
};

/*
 * A VM as the world knows it: what it needs and which hypervisors run it
 * (a bit per host, so a VM on two hosts is one popcount away).
 */
struct sim_vm {
	char name[DROVER_VM_NAME_MAX];
	uint64_t memory_mib;
	uint32_t vcpus;
	uint64_t hosts;  /* bit id - 1: that host's hypervisor runs it */
	bool registered; /* by the scenario, before the cluster booted */
	/* SR-IOV: steps of each kind (`vf-fail VM detach|attach|transfer`) that fail next. */
	uint8_t fail_detach, fail_attach, fail_transfer;
	/* Its newest migration job as the nodes applied it (sim_replica.c). */
	uint64_t last_job;
	uint32_t last_job_source;
	enum queue_job_state last_job_state;
};

/* What the queue did so far, counted where each change was sent (sim_summary.c). */
struct sim_stats {
	uint64_t starts, done, attempts_failed, failed, cancelled, retries_elsewhere, aborts;
	uint64_t link_cuts, over_limit_ticks;
	char last[512];                /* the last summary logged, without its time */
};

struct held {
	Drover__VmActionKind kind;
	char vm[DROVER_VM_NAME_MAX];
	uint32_t origin;
	uint64_t request_id;
	int expires;  /* tick */
	bool logged;  /* its hold was logged once */
};

/* A VF step of an operation this node's agent executes (detach, attach). */
struct vf_step {
	uint64_t op_id;
	uint32_t step;
};
struct agent_job {
	uint64_t op_id;
	Drover__VmActionKind kind;
	char vm[DROVER_VM_NAME_MAX];
	uint32_t origin;
	uint64_t request_id;
};

struct replica {
	uint32_t id;
	char name[16];
	bool up;                       /* droverd runs */
	struct cluster_state state;
	/*
	 * What its state file holds: state itself while droverd runs (every
	 * applied change is persisted before the next one), kept here only once
	 * it stops, so a change costs no copy (replica_persist()).
	 */
	struct cluster_state disk;
	bool unsaved;                  /* state changed since disk was last written */
	/*
	 * The state's history since it was last hashed: state_hash() at the end
	 * of each exchange, then folded with every change applied (its place in
	 * the agreed order) and every term bump. Equal chains mean equal states
	 * as long as state_apply() is deterministic, which the full comparisons
	 * check (sim_checks.c).
	 */
	uint64_t chain;
	struct sync_round sync;
	bool synced;
	bool config_quorate;
	size_t n_members;
	uint32_t members[MAX_NODES];
	struct node_obs obs[OBS_TABLE_SIZE];
	uint64_t next_request;
	size_t n_held;
	struct held held[MAX_HELD];
	size_t n_undelivered;
	size_t queue_wait_tail; /* drain.c's coord_wait_seq: its last queue decision is on the bus below this */
	char undelivered[MAX_HELD][DROVER_VM_NAME_MAX];
	size_t n_jobs;                 /* its agent's jobs in progress */
	struct agent_job jobs[MAX_JOBS];
	size_t n_vf_steps;             /* VF steps its agent executes (the next tick) */
	struct vf_step vf_steps[MAX_MIGS];
	size_t n_migs;                 /* migrations it executes as a source */
	struct mig_job migs[MAX_MIGS];
	size_t n_aborted;              /* as coordinator: jobs whose abort it asked */
	uint64_t aborted[MAX_MIGS];
	int fenced_at[MAX_NODES + 1];  /* as coordinator: the tick it last fenced a node (+1) */
	int lost_at[MAX_NODES + 1];    /* as coordinator: the tick it sent NodeLost (+1) */
	int unfenced_at[MAX_NODES + 1];
	/* fence watchdog: since when (ms) it sees each node gone, 0: not gone (failover.c) */
	uint64_t gone_since[MAX_NODES + 1];
	size_t n_awaiting;             /* its CLI's `vm migrate`s waiting for their job's end */
	char awaiting[MAX_HELD][DROVER_VM_NAME_MAX];
};

struct host {
	bool powered;
	bool agent_up;
	uint64_t memory_mib;           /* what its agent reports */
	uint32_t cpus;
	size_t n_running;              /* the domains it runs, in the order they came */
	uint16_t running[MAX_VMS];     /* indexes into S.vms */
	int group;
	bool net_down[MAX_NETS];       /* `link NODE NET down`: its link there is cut */
	bool no_nic[MAX_NETS];         /* it has no link on that network at all */
	uint8_t nic_cuts[MAX_NETS];    /* cuts of its link the random drains made, not repaired yet */
	/* SR-IOV: its drover.conf's one VF pool (`vf-pool NODE NAME N`) and SA capacity. */
	char vf_pool[DROVER_VF_POOL_NAME_MAX];
	uint32_t vf_devices;
	uint32_t sa_capacity;
	/* fence watchdog: its agent's lease (agent/lease.c); 0: not armed (powered off) */
	uint64_t lease_expires;
	bool self_fenced;
	/*
	 * The guests its self-fencing destroyed: its droverd reports them
	 * crashed until they run again or another node owns them
	 * (failover_local_inventory()), so that they are restarted, not
	 * taken for stopped by an operator.
	 */
	size_t n_destroyed;
	uint16_t destroyed[MAX_VMS];
};

struct bus_msg {
	uint32_t from;
	uint8_t *buf;
	size_t len;
};

struct sim {
	size_t n;
	struct replica r[MAX_NODES];
	struct host h[MAX_NODES];
	size_t n_vms;
	struct sim_vm vms[MAX_VMS];
	int32_t vm_hash[VM_HASH_SIZE]; /* index + 1 into vms; 0: empty */
	bool disks_pending;            /* setup wrote n1's disk only: copy it to the others */
	size_t bus_head, bus_tail;
	uint64_t delivering;           /* the place in the agreed order of the message being delivered */
	struct bus_msg bus[MAX_BUS];
	int tick;                      /* whole seconds of virtual time */
	uint64_t now_ms;               /* virtual time; migrations end between ticks */
	size_t n_nets;
	struct sim_net nets[MAX_NETS];
	bool nets_declared;            /* a `network` line replaced the default ones */
	/* `link nA-nB NET down` (operator) and the random drains' cuts of one pair, both ways. */
	bool pair_down[MAX_NETS][MAX_NODES][MAX_NODES];
	uint8_t pair_cuts[MAX_NETS][MAX_NODES][MAX_NODES];
	struct mig_limits conf;        /* drover.conf's limits, which a coordinator seeds */
	uint64_t rng;                  /* the world's randomness (`seed`): sizes, copies, stalls */
	uint32_t dirty_lo, dirty_hi;   /* a migration copies its memory times this, in percent */
	uint32_t stall_pct;            /* chance that a migration stalls by itself */
	bool vms_stay;                 /* only migrations move VMs: each runs on exactly one host */
	bool log_summary;              /* `log summary`: one line per tick instead of every message */
	bool generated;                /* the event comes from a generator, which logged it */
	struct sim_stats stats;
	int violations;
	FILE *out;
	char (*expect)[512];
	size_t n_expect, line_no;
	bool mismatch;
	int scenario_line;
	bool quiet;     /* boot-all quiet: no agent reports yet */
	int fence;      /* 0: failover off; 1: fence devices work; 2: they fail; 3: watchdog */
	struct selffence_timing watchdog; /* fence watchdog TIMEOUT MARGIN */
};

extern struct sim S;

/* drover-sim.c */
/* One line of the run's log, compared with the expected log's next line. */
void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define LOG(...) sim_log(__VA_ARGS__)
/* A line of the full log only (`log summary` leaves it out; see sim_summary.c). */
#define LOGD(...) do { if (!S.log_summary) sim_log(__VA_ARGS__); } while (0)
/* An invariant broken: logged as "VIOLATION: ...", and the run fails. */
void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct replica *rep(uint32_t id);
const char *nm(uint32_t id);

/* sim_checks.c (its opening comment lists the invariants and when each is checked) */
void checks_world(void);
void checks_decision(const struct replica *r, const struct coord_input *in,
		     const struct coord_decision *dec);
/*
 * A change r applied from itself; before: the job a JobFinish ended, as it
 * was; next_id_before: the state's next job id before it.
 */
void checks_applied(const struct replica *r, const Drover__Envelope *env, const struct queue_job *before,
		    uint64_t next_id_before);
void checks_settled(void);
/* The synchronised members of each configuration hold one state; full: hash every state. */
void checks_states_agree(bool full);
void checks_after_event(void);

/* sim_cli.c */
void cli_vm_add(struct replica *r, const char *name);
void cli_vm(struct replica *r, Drover__VmActionKind kind, const char *vm, uint32_t target);
void cli_migrate(struct replica *r, const char *vm, uint32_t target);
void cli_drain(struct replica *r);
void cli_drain_cancel(struct replica *r, bool abort);
void cli_config_set(struct replica *r, const char *key, const char *value);

/* sim_coord.c */
void sim_coord_vm_request(struct replica *r, const struct held *q, bool may_hold);
bool sim_coord_in_flight(const struct replica *r);
void sim_coord_retry_held(struct replica *r, bool expire);
void sim_coord_all(void);
/* What `drover queue` shows: r's unfinished jobs with their blockers (malloc'd, *ret_n of them). */
struct queue_job *sim_coord_queue(const struct replica *r, size_t *ret_n);
/* A MigrationLimits message of l; it points into l, caps and cp (MAX_NETS entries each). */
void limits_message(const struct mig_limits *l, Drover__MigrationLimits *ret, Drover__NetworkCap *caps,
		    Drover__NetworkCap **cp);

/* sim_corosync.c */
void bus_deliver_all(void);
void corosync_reconfigure(void);

/* sim_random.c */
void random_run(uint64_t seed, int n, bool failover);

/* sim_random_drains.c */
void random_drains_run(uint64_t seed, uint32_t waves, uint32_t size);

/* sim_replica.c */
void replica_send(struct replica *r, Drover__Envelope *env);
void replica_send_inventory(struct replica *r);
/* NodeHardware, when the replicated state does not say what r's host has. */
void replica_send_hardware(struct replica *r);
/* r executes the current step of operation j if it is r's (a transfer, a VF step). */
void replica_take_step(struct replica *r, const struct queue_job *j);
void replica_send_step_result(struct replica *r, uint64_t op, uint32_t step, bool ok,
			      const char *error);
void replica_send_result(struct replica *r, uint64_t op, uint32_t origin, uint64_t request_id,
			int code, const char *error);
/* Its state changed: what its state file holds from now on (written when droverd stops). */
void replica_persist(struct replica *r);
/* A state's chain (struct replica) folded with one more change. */
uint64_t replica_chain(uint64_t chain, uint64_t a, uint64_t b);
/* The coordinator's replica, else the first that runs (NULL: none runs): the cluster's view. */
const struct replica *replica_coordinating(void);
/* What its state file holds. */
const struct cluster_state *replica_persisted(const struct replica *r);
uint32_t replica_coordinator(const struct replica *r);
void replica_locate(const struct replica *r, const char *vm, struct locate_result *ret);
const char *sim_kind_name(Drover__VmActionKind k);
void replica_reconcile(struct replica *r);
void replica_send_job_finish(struct replica *r, uint64_t job_id, bool ok, const char *reason);
bool replica_host_gone(const struct replica *r, uint32_t id);
bool replica_is_member(const struct replica *r, uint32_t id);
void replica_deliver(struct replica *r, uint32_t from, const Drover__Envelope *env);
void replica_start(struct replica *r);
void replica_stop(struct replica *r);

/* sim_setup.c */
/* The node named (n1..), or exit 64. */
uint32_t setup_node_arg(const char *s);
/* A list of node ids and ranges ("5,10,15-20") as a mask, or exit 64. */
uint64_t setup_ids_arg(const char *s);
/* A VmAdd of a VM with this minimal domain XML (the world learns what it needs). */
struct vm_add_msg {
	Drover__Envelope env;
	Drover__VmAdd add;
	Drover__VmConfig vm;
	char xml[256];
};
void setup_vm_add(struct vm_add_msg *ret, const char *name, uint32_t home, Drover__VmPriority prio,
		  uint64_t memory_mib, uint32_t vcpus);
/* A VM in the state file every node boots from, running on node unless not. */
void setup_vm(const char *name, uint32_t node, bool running, Drover__VmPriority prio,
	      uint64_t memory_mib, uint32_t vcpus);
/* The default networks, limits and seed. */
void setup_defaults(void);
/* Runs a directive that builds the cluster; false if argv is none. */
bool setup_directive(int argc, char **argv);

/* sim_scenario.c */
void scenario_run_line(char *line);
/* After an event: deliver, let the coordinators decide, check the invariants. */
void scenario_settle(void);

/* sim_summary.c */
/* Node ids of mask, runs as ranges ("n1-n6 n9"). */
void summary_nodes(uint64_t mask, char *buf, size_t len);
/* A change r applied from itself, counted once. */
void summary_count(const struct replica *r, const Drover__Envelope *env, size_t unfinished_before);
/* With `log summary`: the queue and the drains after a tick, if anything changed. */
void summary_tick(void);

/* sim_world.c */
/* The index of a VM in S.vms, made if create (-1: none, or the table is full). */
int world_vm_index(const char *name, bool create);
/* A VM the world knows, with what it needs (made or updated). */
void world_vm_register(const char *name, uint64_t memory_mib, uint32_t vcpus);
bool world_host_runs(uint32_t id, const char *vm);
void world_host_power_off(uint32_t id);
void world_host_set(uint32_t id, const char *vm, bool run);
/* The index of the network named so in S.nets, or S.n_nets. */
size_t world_net_index(const char *name);
bool world_net_usable(size_t k, uint32_t a, uint32_t b);
/* Random in [lo, hi], from the world's generator (splitmix64: the same everywhere). */
uint64_t world_rnd(uint64_t lo, uint64_t hi);
/* A migration this node's agent starts, as the world sets it going. */
void world_migration_begin(struct mig_job *m, uint64_t memory_mib);
void world_tick(void);
/* fence watchdog: leases renewed by quorate droverds, and the agents' self-fencing. */
void world_leases(void);

#endif
