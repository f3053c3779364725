/*
 * droverd's one context, shared by the files that make up the daemon. Each
 * file owns the fields under its name; others read them.
 */
#ifndef DROVERD_H
#define DROVERD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <corosync/cfg.h>
#include <corosync/cmap.h>
#include <corosync/cpg.h>
#include <corosync/votequorum.h>
#include <qb/qbipcs.h>
#include <qb/qbloop.h>

#include "config.h"
#include "frame.h"
#include "observe.h"
#include "state.h"
#include "sync.h"
#include "vf_check.h"

#define NODE_NAME_MAX 64
#define DROVER_MAX_LINKS 8

struct known_node {
	uint32_t id;
	char name[NODE_NAME_MAX];
	uint8_t links_configured;          /* bit i: ring<i>_addr in the nodelist */
	uint8_t links_up;                  /* bit i: link i carries traffic (local view) */
	bool reachable;                    /* corosync sees the node */
	char link_addr[DROVER_MAX_LINKS][64]; /* ring<i>_addr as written in corosync.conf */
	uint32_t votes;                    /* quorum_votes, default 1 */
};

struct send_item {
	struct send_item *next;
	bool sync_msg; /* digest or full state: stale after a configuration change */
	size_t len;
	uint8_t *buf;
};

struct pending_req {
	struct pending_req *next;
	uint64_t request_id;
	uint64_t deadline_ms;
	qb_ipcs_connection_t *conn;
	char what[96];
	/* `vm migrate`: answered when the VM's migration job ends, not when it is queued */
	char await_vm[DROVER_VM_NAME_MAX];
	uint64_t await_job;
};

/* Where a registered VM is, from the observations (droverd_vm_locate). */
struct vm_location {
	const char *node_name;    /* "" if nowhere */
	const char *state;        /* running, stopped, failed, unknown */
	uint32_t node_id;         /* node_name's id, 0 if none */
	size_t n_also;            /* other nodes that report it running: never expected */
	char *also[DROVER_MAX_NODES];
	bool unknown_member;      /* unknown: the node that cannot say is a member (may report soon) */
	char reason[192];         /* unknown: why, naming the node */
	char name_buf[32];
};

struct agent_link;

#define NETWORK_NAME_MAX 32

/* A request the coordinator holds until every member has reported its domains. */
struct held_request {
	Drover__VmActionKind kind;
	char vm[DROVER_VM_NAME_MAX];
	uint32_t target;
	char network[NETWORK_NAME_MAX];
	uint32_t origin;
	uint64_t request_id;
	uint64_t deadline_ms;     /* local monotonic: refuse with the reason then */
};
#define DROVER_MAX_HELD 64

/*
 * What this node keeps beside a replicated start or stop it executes: our
 * agent's job and the outcome until its VmActionResult is applied.
 */
struct op_local {
	uint64_t id;              /* 0: slot unused */
	uint64_t job_id;          /* our agent's job while we execute it */
	bool done;                /* we executed it: the result to (re)send */
	int exit_code;
	char error[300];
};

/* A node's reported view of the migration networks (NetworkHealth). */
struct node_reach {
	uint32_t node_id;          /* 0: slot unused */
	size_t n_nets;
	struct {
		char name[QUEUE_NAME_MAX];
		size_t n_up;
		uint32_t up_ids[DROVER_MAX_NODES];
	} nets[QUEUE_MAX_NETWORKS];
};

/* A running migration job this node executes through its agent (drain.c). */
struct job_exec {
	uint64_t job_id;           /* the replicated job */
	uint64_t agent_job;        /* the agent's migrate job */
	char vm[DROVER_VM_NAME_MAX];
	char network[QUEUE_NAME_MAX];
	bool abort_sent;           /* an abort_migration job went to the agent */
	char abort_reason[QUEUE_REASON_MAX];
	uint64_t bytes;            /* processed so far, from the latest progress */
	uint64_t downtime_ms;      /* the last progress of a completed migration says */
	struct job_attempt_id attempt; /* the replicated attempt it executes */
	/*
	 * The cluster ended this attempt while we were away (drain_on_synced()):
	 * it is aborted, and its end is not announced.
	 */
	bool orphan;
};

/* The latest progress of a running job, as multicast by its source. */
struct job_progress {
	uint64_t job_id;           /* 0: slot unused */
	uint64_t at_ms;            /* local monotonic time it arrived */
	Drover__MigrationProgress p; /* scalar fields only */
};

#define DROVER_MAX_EXECS 64

/* A VF step of a migration this node executes through its agent (vf_exec.c). */
struct vf_step_exec {
	uint64_t op_id;
	uint32_t step;
	uint64_t agent_job;
	bool detach;
};
#define DROVER_MAX_VF_STEPS 64

/* An OpStepResult this node sent, kept so it is said again (not failed) if an exchange ate it. */
struct vf_sent {
	uint64_t op_id;            /* 0: slot unused */
	uint32_t step;
	uint64_t started_ms;       /* the job's attempt (a retry plans its steps again) */
	bool ok;
	char error[QUEUE_REASON_MAX];
};

/* A JobFinish this node sent as a job's source, kept until it is applied. */
struct sent_finish {
	uint64_t job_id;           /* 0: slot unused */
	bool ok;
	char reason[QUEUE_REASON_MAX];
	uint64_t finished_ms, bytes, downtime_ms;
};
#define DROVER_MAX_PROGRESS 128

struct netprobe;

struct droverd {
	struct drover_config cfg;
	const char *config_path;
	bool config_existed;
	qb_loop_t *loop;
	bool stopping;            /* the loop is ending */
	bool lease_release;       /* watchdog mode: the stop leaves no VM the others count on (failover_may_exit()) */
	bool leaving;             /* leave.c: a clean stop waits for this node's migrations */
	uint64_t leave_started_ms, leave_resent_ms;
	qb_loop_timer_handle leave_timer;
	uint64_t watchdog_usec;   /* watchdog.c: systemd's WatchdogSec, 0 if off */
	qb_loop_timer_handle watchdog_timer;
	bool no_hypervisor;       /* our agent is disabled by configuration */
	bool corosync_ready;      /* every corosync service connected */
	uint32_t local_id;
	uint64_t seq;

	/* membership.c */
	cpg_handle_t cpg;
	bool cpg_connected;
	bool cpg_joined;          /* our own join has been delivered */
	size_t n_members;         /* distinct node ids in the CPG group, sorted */
	uint32_t members[DROVER_MAX_NODES];
	/*
	 * The configuration the next message is delivered in: its totem ring
	 * and whether its members hold a majority (core/quorum_rule.h). Every
	 * member computes the same, so every member applies or drops alike.
	 */
	uint32_t ring_rep;
	uint64_t ring_seq;
	bool config_quorate;
	struct send_item *sendq;
	qb_loop_timer_handle send_timer;
	bool send_timer_armed;

	/* quorum.c */
	votequorum_handle_t vq;
	bool vq_connected;
	bool quorate;
	bool last_quorate;        /* what droverd_on_quorum() last logged */
	uint32_t last_coordinator; /* what note_coordinator() last logged */
	bool cs_known;             /* votequorum has told us its membership */
	size_t n_cs_members;       /* corosync's members (not only droverd's) */
	uint32_t cs_members[DROVER_MAX_NODES];

	/* links.c */
	cmap_handle_t cmap;
	corosync_cfg_handle_t cfgh;
	bool cmap_connected, cfg_connected;
	size_t n_nodes;
	struct known_node nodes[DROVER_MAX_NODES];
	uint32_t expected_votes;  /* quorum.expected_votes; 0: the nodelist's sum */
	qb_loop_timer_handle link_timer;

	/* state: the replicated part and its exchange */
	struct cluster_state state;
	struct sync_round sync;
	bool synced;              /* exchange after the last membership change done */
	struct state_xfer_rx *xfer;   /* droverd.c: a chunked full state being reassembled */
	struct persist_bg *persist;   /* droverd.c: the state file, written by a child process */

	/* observations from every node's agent, replicated in agreed order */
	struct node_obs obs[DROVER_MAX_NODES];
	/* vf_audit.c: the inventory check of each node's VFs (DROVER_MAX_NODES, allocated on use) */
	struct vf_audit_slot *vf_audit;
	struct agent_link *agent;  /* agent_link.c */

	/* vm_actions.c: beside the replicated operations (state.ops) */
	struct op_local op_local[DROVER_MAX_OPS];
	struct queue_job finishing; /* the operation the result being applied ends */
	/* the coordinator's own: decisions sent and not delivered back yet, held requests */
	size_t n_undelivered;
	char undelivered[DROVER_MAX_OPS][DROVER_VM_NAME_MAX];
	size_t n_held;
	struct held_request held[DROVER_MAX_HELD];
	qb_loop_timer_handle held_timer;
	bool held_timer_armed;

	/* nethealth.c: what we see of the migration networks, and what every node reports */
	struct netprobe *probe;
	struct node_reach reach[DROVER_MAX_NODES];
	bool reach_dirty;          /* our own view changed since we last multicast it */
	struct node_reach reach_last_sent; /* what we multicast last */
	bool reach_have_sent;
	qb_loop_timer_handle health_timer;

	/* drain.c: the coordinator's queue work and this node's migrations */
	size_t n_execs;
	struct job_exec execs[DROVER_MAX_EXECS];
	struct job_progress progress[DROVER_MAX_PROGRESS];
	uint32_t coord_inflight;   /* our coordinator messages not yet delivered back */
	uint64_t coord_wait_seq;   /* the seq of our last queue decision, until delivered */
	struct sent_finish sent_finish[DROVER_MAX_EXECS];
	/* Orphan attempts that completed their hand-over lately: our inventories announce them. */
	struct departure {
		char vm[DROVER_VM_NAME_MAX];
		uint32_t target;
		uint64_t at_ms;            /* local monotonic time; 0: slot unused */
	} departed[DROVER_MAX_EXECS];
	qb_loop_timer_handle drain_timer;
	bool drain_kicked;
	uint64_t aborted[DROVER_MAX_EXECS]; /* jobs we asked to abort, as coordinator */
	size_t n_aborted;

	/* vf_exec.c: the VF steps this node executes */
	size_t n_vf_steps;
	struct vf_step_exec vf_steps[DROVER_MAX_VF_STEPS];
	struct vf_sent vf_sent[DROVER_MAX_VF_STEPS];
	size_t vf_sent_next;       /* the slot the next one overwrites */

	/* failover.c: fencing and recovery, the coordinator's and this node's part */
	struct failover *fo;

	/* events.c: journal records and alert programs */
	struct events *events;
	/* metrics.c: the Prometheus endpoint */
	struct metrics *metrics;

	/* ctl_server.c */
	qb_ipcs_service_t *ipcs;
	gid_t ipc_gid;
	bool ipc_gid_valid;
	struct pending_req *pending;
	uint64_t next_request_id;
	qb_loop_timer_handle pending_timer;
};

/* droverd.c: the core, called by the transports. */
void droverd_on_confchg(struct droverd *d, const uint32_t *joined, size_t n_joined,
			bool self_joined);
void droverd_on_peer_message(struct droverd *d, uint32_t nodeid, uint32_t pid,
			     const Drover__Envelope *env);
void droverd_on_quorum(struct droverd *d, bool quorate);
void droverd_fatal(struct droverd *d, const char *why);
uint32_t droverd_coordinator(const struct droverd *d);
bool droverd_is_member(const struct droverd *d, uint32_t id);

void droverd_vm_locate(const struct droverd *d, const char *vm, struct vm_location *ret);
struct locate_result;
/* The same as core/locate.h gives it, over every node of the nodelist. */
int droverd_locate(const struct droverd *d, const char *vm, struct locate_result *ret);
/* A node's last agent report, NULL if it never sent one. */
const struct node_obs *droverd_obs(const struct droverd *d, uint32_t node_id);
/* Running, paused, shutting down, suspended or unknown: it holds its memory there. */
bool droverd_vm_state_active(Drover__VmRunState st);
/* An action or job may put vm on node: until node reports afresh, it may be there. */
void droverd_obs_touch(struct droverd *d, uint32_t node, const char *vm);
/* The local agent's inventory (NULL inv: agent unavailable, with why). */
void droverd_on_local_inventory(struct droverd *d, const Drover__AgentInventory *inv,
				const char *why);
/* This node runs no hypervisor by configuration (agent disabled): it says so. */
void droverd_on_no_hypervisor(struct droverd *d);

/* vm_actions.c: VM requests, the coordinator's actions, their execution. */
void vm_actions_on_request(struct droverd *d, uint32_t from, const Drover__VmRequest *m);
/* Called before a VmActionResult is applied: remembers the operation it ends. */
void vm_actions_before_apply(struct droverd *d, const Drover__Envelope *env);
/* A VmAction or VmActionResult was applied (r == 1) or refused (r < 0). */
void vm_actions_on_applied(struct droverd *d, uint32_t from, bool from_self,
			   const Drover__Envelope *env, int r);
/* A VmActionResult with id 0: the coordinator answered without deciding. */
void vm_actions_on_refusal(struct droverd *d, const Drover__VmActionResult *m);
/* Operations that cannot finish by themselves: resend, or end them (synced only). */
void vm_actions_reconcile(struct droverd *d);
void vm_actions_on_members_changed(struct droverd *d);
void vm_actions_job_done(struct droverd *d, uint64_t job_id, const Drover__AgentJobResult *r);
void vm_actions_agent_lost(struct droverd *d);
/* An inventory arrived: requests held for missing reports may be decided now. */
void vm_actions_retry_held(struct droverd *d);
/*
 * The coordinator's own VmAction (failover.c's restarts, preemptions and
 * destroys): multicast, and the VM marked as decided until it is
 * delivered. -EBUSY if a decision for the VM is in flight.
 */
int vm_actions_send_action(struct droverd *d, Drover__VmActionKind kind, const char *vm,
			   uint32_t node, Drover__VmActionCause cause, const char *for_vm);
/* A decision of ours for vm was sent and has not been delivered yet. */
bool vm_actions_undelivered(const struct droverd *d, const char *vm);
void vm_actions_mark_undelivered(struct droverd *d, const char *vm);
void vm_actions_drop_undelivered(struct droverd *d, const char *vm);
/* Expand %n (node name) and %N (network) in a URI template. */
void vm_actions_expand_uri(char *out, size_t len, const char *tmpl, const char *node,
			   const char *net);

/* nethealth.c: migration networks (drover.conf [network]) and their health. */
int nethealth_start(struct droverd *d);
void nethealth_stop(struct droverd *d);
/* Networks in preference order: the configured ones, or one named "default". */
size_t nethealth_n_networks(const struct droverd *d);
const char *nethealth_network_name(const struct droverd *d, size_t k);
/* Network k can carry a migration between a and b: both report the other up. */
bool nethealth_usable(const struct droverd *d, size_t k, uint32_t a, uint32_t b);
/* The data URI for a migration to target over network named net ("" if default). */
int nethealth_migrate_uri(const struct droverd *d, const char *net, uint32_t target, char *buf,
			  size_t len);
void nethealth_on_report(struct droverd *d, uint32_t from, const Drover__NetworkHealth *m);
void nethealth_on_members_changed(struct droverd *d, bool joined_any);
/* Re-read our local view (links polled, probes changed) and multicast it if it changed. */
void nethealth_refresh(struct droverd *d);
/* Describe network k: "addresses", "corosync link 1", "default". */
const char *nethealth_kind(const struct droverd *d, size_t k, char *buf, size_t len);
/* Network k carries migrations only while no other one links the pair. */
bool nethealth_last_resort(const struct droverd *d, size_t k);

/* drain.c: drains, the migration queue, and this node's part in it. */
void drain_start(struct droverd *d);
void drain_stop(struct droverd *d);
/* Ask our agent to abort every migration this node runs as source (once each). */
void drain_abort_own(struct droverd *d, const char *reason);
/*
 * End the running jobs this node is the source of but does not execute: say
 * again an end that was not applied, or fail them with reason.
 */
void drain_finish_orphans(struct droverd *d, const char *reason);

/* leave.c: the clean stop (its opening comment says what it waits for) */
void leave_begin(struct droverd *d, int sig);
void leave_stop(struct droverd *d);

/* watchdog.c: systemd's watchdog, fed from a timer of the loop */
void watchdog_start(struct droverd *d);
void watchdog_stop(struct droverd *d);
/* Something changed: re-run the coordinator's queue soon (coalesced). */
void drain_kick(struct droverd *d);
/* SetNodeState applied: a drain of this node prewarms its agent's job workers. */
void drain_on_node_state(struct droverd *d, uint32_t from, bool from_self,
			 const Drover__Envelope *env, int r);
/* A replicated queue change was applied (r == 1) or rejected (r <= 0). */
void drain_on_applied(struct droverd *d, uint32_t from, bool from_self, const Drover__Envelope *env,
		      int r);
/* One of our own messages came back (whatever it was): the coordinator may go on. */
void drain_on_own_delivered(struct droverd *d, uint64_t seq);
void drain_on_progress(struct droverd *d, uint32_t from, const Drover__JobProgress *m);
void drain_on_abort(struct droverd *d, uint32_t from, const Drover__JobAbort *m);
void drain_on_members_changed(struct droverd *d);
void drain_on_synced(struct droverd *d);
/* Agent hooks: true if the job was one of our migrations. */
bool drain_agent_job_done(struct droverd *d, uint64_t agent_job, const Drover__AgentJobResult *r);
bool drain_agent_job_progress(struct droverd *d, uint64_t agent_job, const Drover__MigrationProgress *p);
void drain_agent_lost(struct droverd *d);
/*
 * The departures our inventories carry (NodeInventory.departures): every
 * orphan attempt still being aborted, and those that completed in the last
 * DRAIN_DEPARTED_MS. ret[] points into d; returns how many (at most max).
 */
size_t drain_departures(struct droverd *d, Drover__InventoryDeparture *ret, size_t max);
/* Execute the current step of migration j if it is ours: the transfer, or a VF step (vf_exec.c). */
void drain_take_step(struct droverd *d, const struct queue_job *j);

/*
 * vf_audit.c: the inventory check (core/vf_check.h) of each node's last
 * inventories: prev, the last one's findings; shown, those the one before
 * had too (what views show and the node logs); at_ms, when (wall clock).
 */
struct vf_audit_slot {
	uint32_t node_id; /* 0: unused */
	bool have_prev;
	struct vf_check_result prev, shown;
	uint64_t at_ms;
};
void vf_audit_on_inventory(struct droverd *d, uint32_t from);
void vf_audit_forget(struct droverd *d, uint32_t node);
/* The check of node's current inventory, NULL if none (not current, or not checked yet). */
const struct vf_audit_slot *vf_audit_node(const struct droverd *d, uint32_t node);

/* vf_exec.c: this node's VF pools and SA capacity announced; the VF steps it executes */
void vf_exec_announce(struct droverd *d);
/* The device element of vf (this node's template, the VM's MAC put in); -ENOENT, -ENOSPC. */
int vf_exec_device(const struct droverd *d, const struct queue_vf *vf, const char *vm, char *buf,
		   size_t len);
void vf_exec_step(struct droverd *d, const struct queue_job *j);
bool vf_exec_job_done(struct droverd *d, uint64_t agent_job, const Drover__AgentJobResult *r);
void vf_exec_agent_lost(struct droverd *d);
void vf_exec_reconcile(struct droverd *d);
void vf_exec_on_applied(struct droverd *d, uint32_t from, bool from_self,
			const Drover__Envelope *env, int r);
const struct job_progress *drain_progress(const struct droverd *d, uint64_t job_id);
/* Multicast this node's drover.conf limits as the cluster's (after a reload that changed them). */
void drain_push_config_limits(struct droverd *d);
/* The limits in force: replicated once set, else this node's drover.conf. */
void drain_limits(const struct droverd *d, struct mig_limits *ret);
/* The queue's view of the cluster now (nodes, networks, health, limits). */
void drain_build_view(const struct droverd *d, struct queue_view *v);
/* Compute every job's blocker on a copy (jobs: s->jobs copy, n): for display. */
void drain_blockers(const struct droverd *d, struct queue_job *jobs, size_t n);

/* failover.c: fence lost nodes, then restart their VMs by priority (core/recover.h). */
int failover_start(struct droverd *d);
void failover_stop(struct droverd *d);
/* Something changed (membership, quorum, an inventory, a change applied): decide soon. */
void failover_kick(struct droverd *d);
/* A drover-agent said hello: it gets the lease its predecessor held ([fence] mode = watchdog). */
void failover_agent_up(struct droverd *d);
/*
 * Whether droverd may exit now: with [fence] mode = watchdog and no quorum,
 * not before its agent destroyed the VMs the others will restart (bounded).
 */
bool failover_may_exit(struct droverd *d);
/* droverd_fatal(): true if the exit waits for that (the loop is stopped later). */
bool failover_hold_exit(struct droverd *d);
/* CPG: a droverd process of node left (node_down: its corosync left with it). */
void failover_on_cpg_left(struct droverd *d, uint32_t node, bool node_down);
/* Row handler of NodeLost, FenceResult, VmPlaced and NodeUnfenced (peer_msgs[]). */
void failover_on_applied(struct droverd *d, uint32_t from, bool from_self,
			 const Drover__Envelope *env, int r);
/* Agent hook: true if the job was one of our fence attempts. */
bool failover_agent_job_done(struct droverd *d, uint64_t agent_job, const Drover__AgentJobResult *r);
/* `drover node confirm-off` (ctl_requests[]). */
void failover_ctl_confirm_off(struct droverd *d, qb_ipcs_connection_t *c,
			      const Drover__CtlRequest *req);
/* VMs owned by a lost node that wait to restart elsewhere, for `drover status`. */
uint32_t failover_recovering(const struct droverd *d, uint32_t node);
/* Why the fencing of node waits, "" if nothing to say (for `drover status`). */
const char *failover_fence_note(const struct droverd *d, uint32_t node);
/* [fence] mode = watchdog: ms until a lost node counts as self-fenced (0: not counting). */
uint64_t failover_self_fence_left(const struct droverd *d, uint32_t node);
/* [fence] mode = watchdog: ms left of this node's lease (0: expired or none). */
uint64_t failover_lease_left(const struct droverd *d);
bool failover_self_fenced(const struct droverd *d);
/* Agent hook: the agent's lease ran out and it destroyed this host's VMs. */
void failover_on_self_fence(struct droverd *d, const Drover__AgentSelfFence *m);
/* Our agent's inventory goes out through here: what self-fencing destroyed is reported crashed. */
void failover_local_inventory(struct droverd *d, Drover__AgentInventory *inv);
struct rec_row;
/*
 * What recovery does and why VMs wait (core/recover_view.h), as this node
 * sees it, for `drover top` and `drover queue`: *ret allocated; the count or -errno.
 */
int failover_rows(const struct droverd *d, struct rec_row **ret);

/* metrics.c: [metrics] listen, the Prometheus endpoint (served by metrics_http.c's thread). */
void metrics_start(struct droverd *d);
void metrics_stop(struct droverd *d);
/* drover.conf was reloaded: listen somewhere else, or stop, or start. */
void metrics_reload(struct droverd *d);

/* blackbox.c: libqb's blackbox to a file, on request and on a crash. */
void blackbox_setup(struct droverd *d);
/* Write it to a new file under the state directory; its path in ret_path. */
int blackbox_dump(struct droverd *d, char *ret_path, size_t len);
void blackbox_ctl(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req);

/* events.c: operator-visible events (event_text.h) as journal records and alerts. */
void events_start(struct droverd *d);
void events_stop(struct droverd *d);
/* drover.conf was reloaded: the alerts' timeout and programs. */
void events_reload(struct droverd *d);
/* A change was applied (r == 1): if it is an event and ours to tell, tell it. */
void events_on_applied(struct droverd *d, bool from_self, const Drover__Envelope *env, int r);
struct event;
void events_emit(struct droverd *d, const struct event *e);
/* agent_link.c's reaper: true if pid was an alert program. */
bool events_child_exited(struct droverd *d, pid_t pid, int status);

/* ctl_jobs.c: the CLI's drain, queue, history and config requests. */
/* Rows of the control request table (ctl_server.c). */
void ctl_jobs_drain(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req);
void ctl_jobs_resume(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req);
void ctl_jobs_cancel(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req);
void ctl_jobs_queue(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req);
void ctl_jobs_history(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req);
void ctl_jobs_config_set(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req);
void ctl_jobs_config_show(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req);
/* What ctl_jobs_fill_status() allocated for a status reply. */
struct ctl_status_extra {
	void *pool;
};
void ctl_jobs_fill_status(struct droverd *d, Drover__StatusReply *st, Drover__NodeStatus **ns,
			  struct ctl_status_extra *x);
void ctl_status_extra_free(struct ctl_status_extra *x);
/* ctl_server.c helpers for it. */
int ctl_send_response(qb_ipcs_connection_t *c, Drover__CtlResponse *resp);
void ctl_reply_error(qb_ipcs_connection_t *c, int exit_code, const char *error);
int ctl_change_refused(struct droverd *d, qb_ipcs_connection_t *c);
void ctl_submit_change(struct droverd *d, qb_ipcs_connection_t *c, Drover__Envelope *env,
		       uint64_t request_id, const char *what);
/* Subscribed clients get an event soon (coalesced, at most every 200 ms). */
void ctl_server_notify(struct droverd *d);
void ctl_server_subscribe(struct droverd *d, qb_ipcs_connection_t *c);

/* agent_link.c: spawns, supervises and talks to the local drover-agent. */
int agent_link_start(struct droverd *d);
void agent_link_stop(struct droverd *d);
/* Ask for an inventory now (coalesced with one in flight). */
void agent_link_request_inventory(struct droverd *d);
/* Send a job (its job_id is assigned here and returned); -errno if no agent. */
int agent_link_submit(struct droverd *d, Drover__AgentJob *job, uint64_t *ret_job_id);

/* The name of the agent's fence plugin, NULL if it has none (or no agent). */
const char *agent_link_fence_plugin(const struct droverd *d);
/* [fence] mode = watchdog: the agent may keep its VMs until expires_mono_ms. */
int agent_link_send_lease(struct droverd *d, uint64_t expires_mono_ms);
int agent_link_release_lease(struct droverd *d);
/*
 * Tell the agent that jobs (migrations from this node) are queued: it starts
 * job workers now (it keeps none at rest), so that the migrations do not
 * wait for them when they start. Returns 0 or -errno.
 */
int agent_link_prewarm(struct droverd *d, uint32_t jobs);

/* membership.c: CPG group "drover". */
int membership_connect(struct droverd *d);
void membership_disconnect(struct droverd *d);
/* Multicast env in agreed order; queued and retried on flow control. */
int membership_send(struct droverd *d, Drover__Envelope *env, bool sync_msg);
void membership_drop_sync_msgs(struct droverd *d);

/* quorum.c: votequorum. */
int quorum_connect(struct droverd *d);
void quorum_disconnect(struct droverd *d);

/* links.c: node names from cmap, knet link status from cfg. */
int links_connect(struct droverd *d);
void links_disconnect(struct droverd *d);
int links_load_nodelist(struct droverd *d);
void links_poll(struct droverd *d);
const struct known_node *links_find(const struct droverd *d, uint32_t id);
const struct known_node *links_find_by_name(const struct droverd *d, const char *name);
const char *links_node_name(const struct droverd *d, uint32_t id, char *buf, size_t len);

/* ctl_server.c: the CLI's libqb IPC service. */
int ctl_server_start(struct droverd *d);
void ctl_server_stop(struct droverd *d);
int ctl_server_reload_group(struct droverd *d);
/* A state-changing request we multicast was delivered (or dropped). */
void ctl_request_done(struct droverd *d, uint64_t request_id, int exit_code, const char *error);
/* Jobs finished or were cancelled: answer the `vm migrate` clients whose job ended. */
void ctl_server_jobs_ended(struct droverd *d);

#endif
