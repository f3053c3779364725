/*
 * The CLI's door into droverd: libqb IPC service "drover".
 *
 * Who may connect is decided in the accept handler from the peer credentials
 * the kernel gives libqb (SO_PEERCRED): root, or a process whose group is the
 * configured ipc_group (default "drover"), or a user listed as a member of it.
 * The group and its members' uids are looked up at start and on reload, never
 * per connection.
 *
 * Each request is one frame carrying CtlRequest; each gets exactly one
 * CtlResponse, because the client blocks in qb_ipcc_recv(). Reads are answered
 * at once from local state. A change is multicast as a peer message and
 * answered when it comes back in agreed order (so "ok" means every member has
 * applied it), or with a timeout after request_timeout_ms.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <qb/qbipc_common.h>

#include "agent_version.h"
#include "ctl.h"
#include "droverd.h"
#include "exitcode.h"
#include "ipc_owner.h"
#include "log.h"
#include "names.h"
#include "recover_view.h"
#include "util.h"
#include "vmpolicy.h"
#include "vmxml.h"

#define PENDING_TICK_MS 200

/*
 * The IPC front end is the one part of droverd with process-wide state: libqb
 * calls its poll handlers (job_add, dispatch_add, ...) with no context, so
 * the loop they need is found here, and one CLI service per process is what
 * libqb offers anyway. The state machine itself (droverd.c, the core, drain.c,
 * vm_actions.c, nethealth.c, quorum.c) keeps everything in struct droverd.
 */
static struct droverd *ctl_ctx;
/*
 * The uids of the group's listed members, resolved at start and on reload: the
 * accept handler then needs no user database lookup, which with LDAP or sssd
 * could block the loop.
 */
static uid_t *member_uids;
static size_t n_member_uids;

static void free_members(void)
{
	free(member_uids);
	member_uids = NULL;
	n_member_uids = 0;
}

int ctl_server_reload_group(struct droverd *d)
{
	struct group *g;
	size_t n = 0;

	free_members();
	d->ipc_gid_valid = false;
	errno = 0;
	g = getgrnam(d->cfg.ipc_group);
	if (!g) {
		log_notice("group '%s' does not exist: only root may use the drover CLI",
			   d->cfg.ipc_group);
		return 0;
	}
	d->ipc_gid = g->gr_gid;
	d->ipc_gid_valid = true;
	while (g->gr_mem && g->gr_mem[n])
		n++;
	{
		/* getpwnam() below may reuse getgrnam()'s static buffer: copy first. */
		char **names = xcalloc(n + 1, sizeof(char *));

		for (size_t i = 0; i < n; i++)
			names[i] = xstrdup(g->gr_mem[i]);
		member_uids = xcalloc(n + 1, sizeof(uid_t));
		for (size_t i = 0; i < n; i++) {
			struct passwd *pw = getpwnam(names[i]);

			if (pw)
				member_uids[n_member_uids++] = pw->pw_uid;
			free(names[i]);
		}
		free(names);
	}
	return 0;
}

static bool user_in_group(uid_t uid)
{
	for (size_t i = 0; i < n_member_uids; i++)
		if (member_uids[i] == uid)
			return true;
	return false;
}

static int32_t conn_accept(qb_ipcs_connection_t *c, uid_t uid, gid_t gid)
{
	struct droverd *d = ctl_ctx;

	(void)c;
	if (uid == 0 || (d->ipc_gid_valid && gid == d->ipc_gid) ||
	    (d->ipc_gid_valid && user_in_group(uid)))
		return 0;
	log_warn("refused CLI connection from uid %u gid %u: not root and not in group '%s'",
		 (unsigned)uid, (unsigned)gid, d->cfg.ipc_group);
	return -EACCES;
}

static void conn_created(qb_ipcs_connection_t *c)
{
	(void)c;
}

static int send_response(qb_ipcs_connection_t *c, Drover__CtlResponse *resp)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	struct qb_ipc_response_header h;
	_cleanup_free_ uint8_t *buf = NULL;
	struct iovec iov[2];
	size_t len;
	ssize_t r;
	int e;

	env.body_case = DROVER__ENVELOPE__BODY_CTL_RESPONSE;
	env.ctl_response = resp;
	e = frame_encode_capped(&env, DROVER_CTL_FRAME_MAX, &buf, &len);
	if (e == -EMSGSIZE) {
		Drover__CtlResponse big = DROVER__CTL_RESPONSE__INIT;

		/* Say so in a small answer rather than overrun the client's ring. */
		log_err("a CLI answer of %zu bytes exceeds the control channel's %u",
			drover__envelope__get_packed_size(&env), (unsigned)DROVER_CTL_FRAME_MAX);
		big.exit_code = DROVER_EXIT_SOFTWARE;
		big.error = (char *)"the answer is larger than the control channel carries";
		env.ctl_response = &big;
		e = frame_encode(&env, &buf, &len);
	}
	if (e < 0) {
		log_err("cannot encode CLI response: %s", strerror(-e));
		return e;
	}
	h.id = DROVER_IPC_MSG_ENVELOPE;
	h.size = (int32_t)(sizeof(h) + len);
	h.error = 0;
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = buf;
	iov[1].iov_len = len;
	r = qb_ipcs_response_sendv(c, iov, 2);
	if (r < 0) {
		log_info("cannot answer CLI client: %s", strerror((int)-r));
		return (int)r;
	}
	return 0;
}

static void reply_error(qb_ipcs_connection_t *c, int exit_code, const char *error)
{
	Drover__CtlResponse resp = DROVER__CTL_RESPONSE__INIT;

	resp.exit_code = exit_code;
	resp.error = (char *)(error ? error : "");
	send_response(c, &resp);
}

/* ---- status ---- */

static void reply_status(struct droverd *d, qb_ipcs_connection_t *c)
{
	Drover__CtlResponse resp = DROVER__CTL_RESPONSE__INIT;
	Drover__StatusReply st = DROVER__STATUS_REPLY__INIT;
	Drover__NodeStatus ns[DROVER_MAX_NODES], *nsp[DROVER_MAX_NODES];
	Drover__LinkStatus ls[DROVER_MAX_NODES][DROVER_MAX_LINKS];
	Drover__LinkStatus *lsp[DROVER_MAX_NODES][DROVER_MAX_LINKS];
	_cleanup_free_ Drover__VfPoolStatus *vps = xcalloc(DROVER_MAX_NODES * DROVER_MAX_VF_POOLS,
							   sizeof(*vps));
	_cleanup_free_ Drover__VfPoolStatus **vpp = xcalloc(DROVER_MAX_NODES * DROVER_MAX_VF_POOLS,
							    sizeof(*vpp));
	/* The inventory check's findings, per node: the text and the pointers to it. */
	_cleanup_free_ char(*vmt)[VF_CHECK_MAX][200] = xcalloc(DROVER_MAX_NODES, sizeof(*vmt));
	_cleanup_free_ char *(*vmp)[VF_CHECK_MAX] = xcalloc(DROVER_MAX_NODES, sizeof(*vmp));
	uint32_t coord = droverd_coordinator(d);
	char buf[2][32];

	st.quorate = d->quorate;
	st.coordinator_id = coord;
	st.coordinator = (char *)(coord ? links_node_name(d, coord, buf[0], sizeof(buf[0])) : "");
	st.local_id = d->local_id;
	st.local_name = (char *)links_node_name(d, d->local_id, buf[1], sizeof(buf[1]));
	st.epoch = d->state.epoch;
	st.term = d->state.term;
	st.synced = d->synced;
	st.n_nodes = d->n_nodes;
	st.nodes = nsp;
	for (size_t i = 0; i < d->n_nodes; i++) {
		const struct known_node *k = &d->nodes[i];
		size_t nl = 0;

		drover__node_status__init(&ns[i]);
		nsp[i] = &ns[i];
		ns[i].id = k->id;
		ns[i].name = (char *)k->name;
		ns[i].online = droverd_is_member(d, k->id);
		ns[i].state = state_node_get(&d->state, k->id);
		{
			const struct node_obs *o = droverd_obs(d, k->id);

			ns[i].inventory = (char *)(o && o->no_hypervisor && o->current
						       ? "no-hypervisor"
					    : o && o->current && o->agent_ok && ns[i].online
						       ? "current"
					    : o && o->has_record ? "stale"
								 : "none");
		}
		{
			const struct node_cfg *nc = state_node_find(&d->state, k->id);
			const char *note = failover_fence_note(d, k->id);

			if (nc && nc->fence != DROVER__FENCE_STATE__FENCE_STATE_NONE) {
				ns[i].fence = nc->fence;
				ns[i].fence_attempts = nc->fence_attempts;
				ns[i].fence_error = (char *)(*nc->fence_error ? nc->fence_error : note);
				ns[i].fence_device = (char *)nc->fence_device;
				ns[i].recovering = failover_recovering(d, k->id);
				ns[i].self_fence_left_ms = failover_self_fence_left(d, k->id);
				ns[i].fence_lost_ms = nc->lost_ms;
				ns[i].fence_fenced_ms = nc->fenced_ms;
			}
			if (k->id == d->local_id) {
				ns[i].lease_left_ms = failover_lease_left(d);
				ns[i].self_fenced = failover_self_fenced(d);
			}
		}
		{
			/* SR-IOV: its pools as it announced them, and its IPsec SAs. */
			const struct node_cfg *nc = state_node_find(&d->state, k->id);
			size_t base = i * DROVER_MAX_VF_POOLS;

			for (size_t p = 0; nc && p < nc->n_vf_pools; p++) {
				drover__vf_pool_status__init(&vps[base + p]);
				vps[base + p].name = (char *)nc->vf_pools[p].name;
				vps[base + p].total = nc->vf_pools[p].n_devices;
				vps[base + p].free = state_vf_free(&d->state, k->id, nc->vf_pools[p].name);
				vpp[base + p] = &vps[base + p];
			}
			ns[i].n_vf_pools = nc ? nc->n_vf_pools : 0;
			ns[i].vf_pools = &vpp[base];
			ns[i].ipsec_sa_capacity = state_sa_capacity(&d->state, k->id);
			ns[i].ipsec_sa_used = state_sa_used(&d->state, k->id);
		}
		{
			/* The inventory check of its VFs (vf_audit.c), "" when not checked. */
			const struct vf_audit_slot *a = vf_audit_node(d, k->id);

			ns[i].vf_check = (char *)"";
			if (a && a->shown.checked) {
				ns[i].vf_check = (char *)(a->shown.n ? "mismatch" : "ok");
				ns[i].vf_check_ms = a->at_ms;
				ns[i].vf_check_in_flight = a->shown.n_in_flight;
				ns[i].vf_check_unconfirmed = (uint32_t)(a->prev.n + a->prev.n_dropped);
				for (size_t m = 0; m < a->shown.n; m++) {
					vf_check_issue_text(&a->shown.issues[m], vmt[i][m],
							    sizeof(vmt[i][m]));
					vmp[i][m] = vmt[i][m];
				}
				ns[i].n_vf_mismatches = a->shown.n;
				ns[i].vf_mismatches = vmp[i];
			}
		}
		for (unsigned l = 0; l < DROVER_MAX_LINKS; l++) {
			if (!(k->links_configured & (1u << l)))
				continue;
			drover__link_status__init(&ls[i][nl]);
			ls[i][nl].link = l;
			ls[i][nl].up = (k->links_up >> l) & 1u;
			lsp[i][nl] = &ls[i][nl];
			nl++;
		}
		ns[i].n_links = nl;
		ns[i].links = lsp[i];
	}
	{
		struct ctl_status_extra x = { 0 };

		ctl_jobs_fill_status(d, &st, nsp, &x);
		resp.exit_code = DROVER_EXIT_OK;
		resp.status = &st;
		send_response(c, &resp);
		ctl_status_extra_free(&x);
	}
}

/* ---- changes ---- */

/*
 * Refuse a change this node may not make now; 0 if it may. The checks are the
 * same for every change: connected, quorate, synchronised.
 */
static int change_refused(struct droverd *d, qb_ipcs_connection_t *c)
{
	if (!d->corosync_ready) {
		reply_error(c, DROVER_EXIT_UNAVAILABLE, "droverd is not connected to corosync yet");
		return 1;
	}
	if (d->leaving) {
		reply_error(c, DROVER_EXIT_UNAVAILABLE,
			    "droverd on this node is stopping; use another node's drover");
		return 1;
	}
	if (!d->quorate || !d->config_quorate) {
		reply_error(c, DROVER_EXIT_QUORUM,
			    d->quorate ? "the droverds of this partition hold no majority of the "
					 "nodelist's votes: it makes no changes"
				       : "this partition has no quorum: it makes no changes");
		return 1;
	}
	if (!d->synced) {
		reply_error(c, DROVER_EXIT_UNAVAILABLE,
			    "cluster state is being synchronised after a membership change; retry");
		return 1;
	}
	return 0;
}

/*
 * Multicast a change and keep the client waiting until it comes back in
 * agreed order (ctl_request_done) or request_timeout_ms passes.
 */
static void submit_change_until(struct droverd *d, qb_ipcs_connection_t *c,
				Drover__Envelope *env, uint64_t request_id, const char *what,
				uint32_t timeout_ms)
{
	struct pending_req *p;
	char msg[160];
	int r;

	r = membership_send(d, env, false);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "cannot send the change to the cluster: %s", strerror(-r));
		reply_error(c, DROVER_EXIT_UNAVAILABLE, msg);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->request_id = request_id;
	p->deadline_ms = now_ms() + timeout_ms;
	p->conn = c;
	strscpy(p->what, what, sizeof(p->what));
	qb_ipcs_connection_ref(c);
	p->next = d->pending;
	d->pending = p;
	log_info("request %llu: %s", (unsigned long long)request_id, what);
}

static void submit_change(struct droverd *d, qb_ipcs_connection_t *c, Drover__Envelope *env,
			  uint64_t request_id, const char *what)
{
	submit_change_until(d, c, env, request_id, what, d->cfg.request_timeout_ms);
}

/*
 * vm start|stop|migrate: multicast the request; the coordinator decides and
 * the answer comes with the action's result, after the hypervisor is done.
 */
/*
 * `vm migrate` is a job in the migration queue, like a drain's: the same
 * limits, network choice (or the one asked for, and only that one), retries
 * and history. Checked here first so that a mistake is answered at once; the
 * client is answered when the job ends.
 */
static void submit_migration(struct droverd *d, qb_ipcs_connection_t *c, const char *name,
			     const struct known_node *to, const char *network)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsAdd m = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec spec = DROVER__JOB_SPEC__INIT, *sp = &spec;
	const struct node_obs *o = droverd_obs(d, to->id);
	struct locate_result loc;
	struct pending_req *p;
	char msg[400], b[32];

	if (state_op_for_vm(&d->state, name)) {
		snprintf(msg, sizeof(msg), "VM '%s' has a migration job or an action in progress (see "
			 "`drover queue`)", name);
		reply_error(c, DROVER_EXIT_UNAVAILABLE, msg);
		return;
	}
	if (droverd_locate(d, name, &loc) < 0 || loc.state == LOCATE_UNKNOWN) {
		snprintf(msg, sizeof(msg), "VM '%.63s' may be running where drover cannot see: %.192s; "
			 "not migrating on a guess", name, loc.reason);
		reply_error(c, DROVER_EXIT_UNSAFE, msg);
		return;
	}
	if (loc.state != LOCATE_RUNNING) {
		snprintf(msg, sizeof(msg), "VM '%s' is not running (%s): nothing to migrate", name,
			 locate_state_name(loc.state));
		reply_error(c, DROVER_EXIT_INVALID_PARAM, msg);
		return;
	}
	if (loc.node_id == to->id) {
		snprintf(msg, sizeof(msg), "VM '%s' already runs on %s", name, to->name);
		reply_error(c, DROVER_EXIT_OK, msg);
		return;
	}
	if (!droverd_is_member(d, to->id) || !o || !o->agent_ok || !o->current ||
	    state_node_get(&d->state, to->id) != DROVER__NODE_STATE__NODE_STATE_ACTIVE) {
		snprintf(msg, sizeof(msg), "target %s %s", to->name,
			 !droverd_is_member(d, to->id) ? "is offline"
			 : !o || !o->agent_ok || !o->current ? "has no working agent"
							     : "is not active (maintenance, draining or drained)");
		reply_error(c, DROVER_EXIT_UNAVAILABLE, msg);
		return;
	}
	{
		bool linked = false;

		/* A job that cannot start would only wait: say so now. */
		for (size_t k = 0; k < nethealth_n_networks(d); k++)
			if ((!network || !*network || strcmp(nethealth_network_name(d, k), network) == 0) &&
			    nethealth_usable(d, k, loc.node_id, to->id))
				linked = true;
		if (!linked) {
			if (network && *network)
				snprintf(msg, sizeof(msg), "network '%.31s' does not link %s and %s now",
					 network, links_node_name(d, loc.node_id, b, sizeof(b)), to->name);
			else
				snprintf(msg, sizeof(msg), "no migration network links %s and %s now",
					 links_node_name(d, loc.node_id, b, sizeof(b)), to->name);
			reply_error(c, DROVER_EXIT_UNAVAILABLE, msg);
			return;
		}
	}
	spec.vm = (char *)name;
	spec.source = loc.node_id;
	spec.fixed_target = to->id;
	spec.origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_MANUAL;
	spec.fixed_network = (char *)(network ? network : "");
	m.jobs = &sp;
	m.n_jobs = 1;
	m.created_ms = wall_ms();
	m.request_id = ++d->next_request_id;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &m;
	snprintf(msg, sizeof(msg), "migrate VM '%s' from %s to %s%s%s", name,
		 links_node_name(d, loc.node_id, b, sizeof(b)), to->name,
		 network && *network ? " over " : "", network ? network : "");
	submit_change_until(d, c, &env, m.request_id, msg, 905000u);
	for (p = d->pending; p; p = p->next)
		if (p->request_id == m.request_id)
			strscpy(p->await_vm, name, sizeof(p->await_vm));
}

static void handle_vm_request(struct droverd *d, qb_ipcs_connection_t *c,
			      Drover__VmActionKind kind, const char *name, const char *to,
			      const char *network)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmRequest m = DROVER__VM_REQUEST__INIT;
	const struct known_node *k = NULL;
	char msg[200];

	if (!name || !state_vm_find(&d->state, name)) {
		snprintf(msg, sizeof(msg), "no such VM '%s'", name ? name : "");
		reply_error(c, DROVER_EXIT_NOSUCH, msg);
		return;
	}
	if (kind == DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE) {
		k = to && *to ? links_find_by_name(d, to) : NULL;
		if (!k) {
			snprintf(msg, sizeof(msg), "no such node '%s' in corosync's nodelist",
				 to ? to : "");
			reply_error(c, DROVER_EXIT_NOSUCH, msg);
			return;
		}
		if (network && *network) {
			bool known = false;

			if (!name_is_identifier(network, NETWORK_NAME_MAX)) {
				reply_error(c, DROVER_EXIT_USAGE,
					    "a network name is letters, digits, '.', '_' and '-'");
				return;
			}
			for (size_t i = 0; i < nethealth_n_networks(d); i++)
				known |= strcmp(nethealth_network_name(d, i), network) == 0;
			if (!known) {
				snprintf(msg, sizeof(msg), "no such network '%.32s' (see `drover "
					 "config show`)", network);
				reply_error(c, DROVER_EXIT_NOSUCH, msg);
				return;
			}
		}
	}
	if (change_refused(d, c))
		return;
	if (kind == DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE) {
		submit_migration(d, c, name, k, network);
		return;
	}
	m.kind = kind;
	m.vm = (char *)name;
	m.target_node = k ? k->id : 0;
	m.network = (char *)(network ? network : "");
	m.request_id = ++d->next_request_id;
	env.body_case = DROVER__ENVELOPE__BODY_VM_REQUEST;
	env.vm_request = &m;
	snprintf(msg, sizeof(msg), "%s VM '%s'%s%s",
		 kind == DROVER__VM_ACTION_KIND__VM_ACTION_START  ? "start"
		 : kind == DROVER__VM_ACTION_KIND__VM_ACTION_STOP ? "stop"
								  : "migrate",
		 name, k ? " to " : "", k ? k->name : "");
	/* The hypervisor's work takes its time: the agent's deadlines bound it. */
	submit_change_until(d, c, &env, m.request_id, msg,
			    kind == DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE ? 905000u
			    : kind == DROVER__VM_ACTION_KIND__VM_ACTION_START
				    ? d->cfg.start_deadline_ms + 5000u
				    : 155000u);
}

static void handle_set_node_state(struct droverd *d, qb_ipcs_connection_t *c,
				  const Drover__NodeStateRequest *req)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__SetNodeState m = DROVER__SET_NODE_STATE__INIT;
	const struct known_node *k;
	char msg[160];

	if (!req || !req->node || !*req->node) {
		reply_error(c, DROVER_EXIT_USAGE, "no node given");
		return;
	}
	if (!state_operator_settable(req->state)) {
		reply_error(c, DROVER_EXIT_INVALID_PARAM,
			    "only 'active' and 'maintenance' can be set directly");
		return;
	}
	k = links_find_by_name(d, req->node);
	if (!k) {
		snprintf(msg, sizeof(msg), "no such node '%s' in corosync's nodelist", req->node);
		reply_error(c, DROVER_EXIT_NOSUCH, msg);
		return;
	}
	if (change_refused(d, c))
		return;
	m.node_id = k->id;
	m.state = req->state;
	m.request_id = ++d->next_request_id;
	env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
	env.set_node_state = &m;
	snprintf(msg, sizeof(msg), "set node '%s' to %s", k->name,
		 node_state_name(req->state));
	submit_change(d, c, &env, m.request_id, msg);
}

/*
 * The domain XML policy ([security], vmpolicy.h), checked here only, by the
 * node that accepts the request, never again when members apply VmAdd: the
 * policy is each node's drover.conf, and a member whose file differs must not
 * refuse what the others apply (the registry would diverge). Whoever could
 * send VmAdd past this check over CPG is root on a member already.
 */
static bool vm_add_refused_by_policy(struct droverd *d, qb_ipcs_connection_t *c, const char *vm,
				     const char *xml)
{
	char why[1536], msg[2048], b[32];
	int r;

	r = vmpolicy_check(&d->cfg.security, xml, strlen(xml), why, sizeof(why));
	if (r == 0)
		return false;
	if (r == -EPERM) {
		struct qb_ipcs_connection_stats st = {0};

		qb_ipcs_connection_stats_get(c, &st, 0);
		log_notice("refused to add VM '%s' (request from pid %d): the domain reaches into "
			   "the host: %s", vm, (int)st.client_pid, why);
		snprintf(msg, sizeof(msg),
			 "VM '%s' is refused by the [security] policy of drover.conf on %s: %s. "
			 "Only root can allow that there (see docs/OPERATIONS.md, Security)",
			 vm, links_node_name(d, d->local_id, b, sizeof(b)), why);
		reply_error(c, DROVER_EXIT_INSUFFICIENT_PRIV, msg);
	} else {
		snprintf(msg, sizeof(msg), "invalid domain XML: %s", why);
		reply_error(c, DROVER_EXIT_DATAERR, msg);
	}
	return true;
}

static void handle_vm_add(struct droverd *d, qb_ipcs_connection_t *c, const Drover__VmAddRequest *req)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
	struct vm_xml_info info;
	const struct known_node *k = NULL;
	char err[256], msg[400];

	if (!req || !req->xml || vmxml_parse(req->xml, strlen(req->xml), &info, err,
					     sizeof(err)) < 0) {
		snprintf(msg, sizeof(msg), "invalid domain XML: %s", req ? err : "none given");
		reply_error(c, DROVER_EXIT_DATAERR, msg);
		return;
	}
	if (req->name && *req->name && strcmp(req->name, info.name) != 0) {
		snprintf(msg, sizeof(msg), "the XML's <name> is '%s', not '%s'", info.name,
			 req->name);
		reply_error(c, DROVER_EXIT_DATAERR, msg);
		return;
	}
	if (vm_add_refused_by_policy(d, c, info.name, req->xml))
		return;
	if ((req->vf_pool && !state_vf_pool_name_valid(req->vf_pool)) ||
	    (req->vf_mode == DROVER__VF_MODE__VF_MODE_REQUIRED && !(req->vf_pool && *req->vf_pool))) {
		reply_error(c, DROVER_EXIT_USAGE,
			    "bad VF pool: expected 1..31 letters, digits, '.', '_' or '-' "
			    "(and --vf required needs --vf-pool)");
		return;
	}
	if (req->ipsec_offload_sa > DROVER_IPSEC_SA_MAX) {
		snprintf(msg, sizeof(msg), "bad IPsec SA count %u: at most %u", req->ipsec_offload_sa,
			 DROVER_IPSEC_SA_MAX);
		reply_error(c, DROVER_EXIT_USAGE, msg);
		return;
	}
	if (req->node && *req->node) {
		k = links_find_by_name(d, req->node);
		if (!k) {
			snprintf(msg, sizeof(msg), "no such node '%s' in corosync's nodelist",
				 req->node);
			reply_error(c, DROVER_EXIT_NOSUCH, msg);
			return;
		}
	}
	if (state_vm_find(&d->state, info.name)) {
		snprintf(msg, sizeof(msg), "VM '%s' already exists", info.name);
		reply_error(c, DROVER_EXIT_EXISTS, msg);
		return;
	}
	/*
	 * The bound every member checks again when it applies VmAdd (state.h):
	 * refused here first, with the figures, rather than by the cluster.
	 */
	if (d->state.n_vms >= DROVER_MAX_VMS ||
	    d->state.registry_bytes + state_vm_bytes(info.name, req->xml) > DROVER_REGISTRY_MAX) {
		snprintf(msg, sizeof(msg),
			 "the VM registry is full: adding '%s' (%llu KiB) would pass its maximum "
			 "of %u VMs and %u MiB (it holds %zu VMs, %llu MiB); remove VMs or "
			 "shorten their domain XML", info.name,
			 (unsigned long long)(state_vm_bytes(info.name, req->xml) + 1023) / 1024,
			 DROVER_MAX_VMS, DROVER_REGISTRY_MAX / (1024u * 1024u), d->state.n_vms,
			 (unsigned long long)(d->state.registry_bytes / (1024u * 1024u)));
		reply_error(c, DROVER_EXIT_ERROR, msg);
		return;
	}
	if (change_refused(d, c))
		return;
	vm.name = info.name;
	vm.xml = req->xml;
	vm.priority = req->priority ? req->priority : DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	vm.memory_mib = info.memory_mib;
	vm.vcpus = info.vcpus;
	vm.home_node = k ? k->id : 0;
	vm.vf_pool = (char *)(req->vf_pool ? req->vf_pool : "");
	vm.vf_mode = req->vf_mode;
	vm.ipsec_offload_sa = req->ipsec_offload_sa;
	m.vm = &vm;
	m.request_id = ++d->next_request_id;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	snprintf(msg, sizeof(msg), "add VM '%s'", info.name);
	submit_change(d, c, &env, m.request_id, msg);
}

static void handle_vm_remove(struct droverd *d, qb_ipcs_connection_t *c,
			     const Drover__VmNameRequest *req)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmRemove m = DROVER__VM_REMOVE__INIT;
	char msg[160];

	if (!req || !req->name || !state_vm_find(&d->state, req->name)) {
		snprintf(msg, sizeof(msg), "no such VM '%s'", req && req->name ? req->name : "");
		reply_error(c, DROVER_EXIT_NOSUCH, msg);
		return;
	}
	if (change_refused(d, c))
		return;
	m.name = req->name;
	m.request_id = ++d->next_request_id;
	env.body_case = DROVER__ENVELOPE__BODY_VM_REMOVE;
	env.vm_remove = &m;
	snprintf(msg, sizeof(msg), "remove VM '%s'", req->name);
	submit_change(d, c, &env, m.request_id, msg);
}

/*
 * The guest agent version that the node running vm reported, and whether it
 * is below this node's [cluster] guest_agent_min. Points into droverd's
 * observations, which outlive the reply.
 */
static void vm_guest_agent(const struct droverd *d, const struct vm_location *loc, const char *vm,
			   Drover__VmStatus *ret)
{
	const struct node_obs *o = loc->node_id ? droverd_obs(d, loc->node_id) : NULL;

	for (size_t k = 0; o && k < o->n_domains; k++) {
		if (strcmp(o->domains[k].name, vm) != 0 || !o->domains[k].guest_agent[0])
			continue;
		ret->guest_agent = (char *)o->domains[k].guest_agent;
		ret->guest_agent_old =
		    agent_version_below(o->domains[k].guest_agent, d->cfg.guest_agent_min);
		return;
	}
}

static void reply_vm_list(struct droverd *d, qb_ipcs_connection_t *c)
{
	Drover__CtlResponse resp = DROVER__CTL_RESPONSE__INIT;
	Drover__VmListReply list = DROVER__VM_LIST_REPLY__INIT;
	size_t n = d->state.n_vms;
	_cleanup_free_ Drover__VmStatus *vs = xcalloc(n, sizeof(*vs));
	_cleanup_free_ Drover__VmStatus **vp = xcalloc(n, sizeof(*vp));
	_cleanup_free_ struct vm_location *loc = xcalloc(n, sizeof(*loc));
	Drover__MigrationProgress no_progress = DROVER__MIGRATION_PROGRESS__INIT;
	const struct queue_job *op;
	/* One buffer per VM: a name made up for an unknown node must not be shared. */
	_cleanup_free_ char(*tbuf)[32] = xcalloc(n, sizeof(*tbuf));
	_cleanup_free_ char(*obuf)[32] = xcalloc(n, sizeof(*obuf));
	_cleanup_free_ char(*vbuf)[32] = xcalloc(n, sizeof(*vbuf));
	_cleanup_free_ char(*dbuf)[DROVER_REASON_MAX + 16] = xcalloc(n, sizeof(*dbuf));
	_cleanup_free_ char(*mbuf)[200] = xcalloc(n, sizeof(*mbuf));
	_cleanup_free_ struct rec_row *rows = NULL;
	int n_rows = failover_rows(d, &rows);

	for (size_t i = 0; i < n; i++) {
		const struct vm_cfg *v = &d->state.vms[i];

		drover__vm_status__init(&vs[i]);
		vp[i] = &vs[i];
		droverd_vm_locate(d, v->name, &loc[i]);
		vs[i].name = (char *)v->name;
		vs[i].node = (char *)loc[i].node_name;
		vs[i].state = (char *)loc[i].state;
		vs[i].priority = v->priority;
		vs[i].memory_mib = v->memory_mib;
		vs[i].vcpus = v->vcpus;
		vs[i].n_also_on = loc[i].n_also;
		vs[i].reason = loc[i].reason;
		vs[i].also_on = loc[i].also;
		vs[i].owner = (char *)(v->owner ? links_node_name(d, v->owner, obuf[i], sizeof(obuf[i]))
						: "");
		vs[i].want = (char *)vm_want_name(v->want);
		/* SR-IOV: what it asks for, what it holds, why it runs without one. */
		vs[i].vf_pool = (char *)v->vf_pool;
		vs[i].vf_required = v->vf_required;
		vs[i].ipsec_offload_sa = v->ipsec_offload_sa;
		vs[i].ipsec_short = state_sa_short(&d->state, v);
		vs[i].vf_held_pool = (char *)v->vf.pool;
		vs[i].vf_device = (char *)"";
		vs[i].vf_node = (char *)"";
		if (v->vf.node) {
			const struct vf_pool *pool = state_vf_pool(&d->state, v->vf.node, v->vf.pool);

			vs[i].vf_device = (char *)(pool && v->vf.device <= pool->n_devices
							   ? pool->labels[v->vf.device - 1]
							   : "");
			vs[i].vf_node = (char *)links_node_name(d, v->vf.node, vbuf[i], sizeof(vbuf[i]));
			vs[i].vf_attached = v->vf.attached;
		}
		vs[i].degraded = (char *)(state_vf_degraded(v, dbuf[i], sizeof(dbuf[i])) ? dbuf[i] : "");
		vm_guest_agent(d, &loc[i], v->name, &vs[i]);
		vs[i].vf_mismatch = (char *)"";
		for (size_t k = 0; k < d->n_nodes; k++) {
			const struct vf_audit_slot *a = vf_audit_node(d, d->nodes[k].id);
			const struct vf_check_issue *is = a ? vf_check_find(&a->shown, v->name) : NULL;

			if (is) {
				vf_check_issue_text(is, mbuf[i], sizeof(mbuf[i]));
				vs[i].vf_mismatch = mbuf[i];
				break;
			}
		}
		op = state_op_for_vm(&d->state, v->name);
		/*
		 * Stopped as the hypervisors say, and what drover means to do
		 * about it: restart it (its host was fenced, or room returned),
		 * or nothing, and why.
		 */
		if (!strcmp(loc[i].state, "stopped") || !strcmp(loc[i].state, "failed")) {
			bool starting = op && op->kind == QUEUE_OP_START &&
					op->origin == DROVER__JOB_ORIGIN__JOB_ORIGIN_RECOVERY;

			if (starting || (!v->owner && v->want == DROVER__VM_WANT__VM_WANT_RUNNING &&
					 v->priority != DROVER__VM_PRIORITY__VM_PRIORITY_NONE)) {
				vs[i].state = (char *)"recovering";
				vs[i].reason = (char *)v->want_reason;
				/* Why it has not started yet, when recovery says (core/recover_view.h). */
				for (int k = 0; k < n_rows; k++)
					if (rows[k].state == REC_ROW_WAITING && rows[k].reason[0] &&
					    !strcmp(rows[k].vm, v->name))
						vs[i].reason = rows[k].reason;
			} else if (v->want == DROVER__VM_WANT__VM_WANT_PREEMPTED) {
				vs[i].state = (char *)"preempted";
				vs[i].reason = (char *)v->want_reason;
			} else if (v->want == DROVER__VM_WANT__VM_WANT_GAVE_UP ||
				   v->want == DROVER__VM_WANT__VM_WANT_STOPPED) {
				vs[i].reason = (char *)v->want_reason;
			}
		}
		if (op && op->kind == QUEUE_OP_MIGRATE && op->state == QUEUE_JOB_RUNNING) {
			/* A queue job (a drain's, or `vm migrate`): its source's latest progress. */
			const struct job_progress *jp = drain_progress(d, op->id);

			vs[i].state = (char *)"migrating";
			vs[i].migration = jp ? (Drover__MigrationProgress *)&jp->p : &no_progress;
			vs[i].migration_target =
				(char *)links_node_name(d, op->target, tbuf[i], sizeof(tbuf[i]));
			vs[i].migration_network = (char *)op->network;
		}
	}
	list.n_vms = n;
	list.vms = vp;
	resp.exit_code = DROVER_EXIT_OK;
	resp.vm_list = &list;
	send_response(c, &resp);
}

static void pending_free(struct pending_req *p)
{
	qb_ipcs_connection_unref(p->conn);
	free(p);
}

void ctl_request_done(struct droverd *d, uint64_t request_id, int exit_code, const char *error)
{
	for (struct pending_req **pp = &d->pending; *pp; pp = &(*pp)->next) {
		struct pending_req *p = *pp;

		if (p->request_id != request_id)
			continue;
		if (p->await_vm[0] && exit_code == 0 && !p->await_job) {
			const struct queue_job *j = state_op_for_vm(&d->state, p->await_vm);

			/* Queued: the answer waits for the job's end (ctl_server_jobs_ended). */
			if (j && j->kind == QUEUE_OP_MIGRATE) {
				p->await_job = j->id;
				return;
			}
			exit_code = DROVER_EXIT_ERROR;
			error = "the migration job was not queued; see `drover queue`";
		}
		*pp = p->next;
		log_info("request %llu (%s): %s", (unsigned long long)request_id, p->what,
			 exit_code == 0 ? "done" : error);
		reply_error(p->conn, exit_code, error);
		pending_free(p);
		return;
	}
}

void ctl_server_jobs_ended(struct droverd *d)
{
	for (struct pending_req **pp = &d->pending; *pp;) {
		struct pending_req *p = *pp;
		const struct queue_job *j = p->await_job ? state_job_find(&d->state, p->await_job)
							 : NULL;
		char msg[QUEUE_REASON_MAX + 64];

		if (!p->await_job || (j && (j->state == QUEUE_JOB_QUEUED || j->state == QUEUE_JOB_RUNNING))) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		if (j && j->state == QUEUE_JOB_DONE) {
			log_info("request %llu (%s): done over %s", (unsigned long long)p->request_id,
				 p->what, j->network);
			reply_error(p->conn, DROVER_EXIT_OK, "");
		} else {
			snprintf(msg, sizeof(msg), "the migration %s: %s",
				 j && j->state == QUEUE_JOB_CANCELLED ? "was cancelled" : "failed",
				 j && j->error[0] ? j->error : "see `drover history`");
			log_info("request %llu (%s): %s", (unsigned long long)p->request_id, p->what, msg);
			reply_error(p->conn, DROVER_EXIT_ERROR, msg);
		}
		pending_free(p);
	}
}

static void pending_tick(void *data)
{
	struct droverd *d = data;
	uint64_t now = now_ms();

	for (struct pending_req **pp = &d->pending; *pp;) {
		struct pending_req *p = *pp;

		if (p->deadline_ms > now) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		log_warn("request %llu (%s) not delivered within %u ms; answering timeout",
			 (unsigned long long)p->request_id, p->what, d->cfg.request_timeout_ms);
		reply_error(p->conn, DROVER_EXIT_TIMEOUT,
			    "the change was not confirmed by the cluster in time; check `drover status`");
		pending_free(p);
	}
	if (!d->stopping)
		qb_loop_timer_add(d->loop, QB_LOOP_LOW, PENDING_TICK_MS * QB_TIME_NS_IN_MSEC, d,
				  pending_tick, &d->pending_timer);
}

/* ---- for ctl_jobs.c ---- */

int ctl_send_response(qb_ipcs_connection_t *c, Drover__CtlResponse *resp)
{
	return send_response(c, resp);
}

void ctl_reply_error(qb_ipcs_connection_t *c, int exit_code, const char *error)
{
	reply_error(c, exit_code, error);
}

int ctl_change_refused(struct droverd *d, qb_ipcs_connection_t *c)
{
	return change_refused(d, c);
}

void ctl_submit_change(struct droverd *d, qb_ipcs_connection_t *c, Drover__Envelope *env,
		       uint64_t request_id, const char *what)
{
	submit_change(d, c, env, request_id, what);
}

/* ---- subscriptions (drover top) ---- */

/*
 * A subscriber gets a small event, not the data: it asks for what it shows
 * with ordinary requests. Events are coalesced to one per NOTIFY_MS, so a
 * dozen migrations reporting progress cost a subscriber five wakeups a second.
 */
#define NOTIFY_MS 200
#define MAX_SUBSCRIBERS 32

static qb_ipcs_connection_t *subscribers[MAX_SUBSCRIBERS];
static size_t n_subscribers;
static bool notify_armed;
static uint64_t event_seq;
static qb_loop_timer_handle notify_timer;

void ctl_server_subscribe(struct droverd *d, qb_ipcs_connection_t *c)
{
	(void)d;
	for (size_t i = 0; i < n_subscribers; i++)
		if (subscribers[i] == c)
			return;
	if (n_subscribers == MAX_SUBSCRIBERS) {
		log_warn("too many subscribers; one more `drover top` will redraw on its timer only");
		return;
	}
	qb_ipcs_connection_ref(c);
	subscribers[n_subscribers++] = c;
}

static void unsubscribe(qb_ipcs_connection_t *c)
{
	for (size_t i = 0; i < n_subscribers; i++)
		if (subscribers[i] == c) {
			subscribers[i] = subscribers[--n_subscribers];
			qb_ipcs_connection_unref(c);
			return;
		}
}

static void notify_fn(void *data)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__CtlResponse resp = DROVER__CTL_RESPONSE__INIT;
	struct qb_ipc_response_header h;
	_cleanup_free_ uint8_t *buf = NULL;
	struct iovec iov[2];
	size_t len;

	(void)data;
	notify_armed = false;
	resp.event_seq = ++event_seq;
	env.body_case = DROVER__ENVELOPE__BODY_CTL_RESPONSE;
	env.ctl_response = &resp;
	if (frame_encode(&env, &buf, &len) < 0)
		return;
	h.id = DROVER_IPC_MSG_ENVELOPE;
	h.size = (int32_t)(sizeof(h) + len);
	h.error = 0;
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = buf;
	iov[1].iov_len = len;
	for (size_t i = 0; i < n_subscribers;) {
		ssize_t r = qb_ipcs_event_sendv(subscribers[i], iov, 2);

		/* A subscriber too slow to read misses events, not data: it polls too. */
		if (r < 0 && r != -EAGAIN && r != -ENOBUFS) {
			unsubscribe(subscribers[i]);
			continue;
		}
		i++;
	}
}

void ctl_server_notify(struct droverd *d)
{
	if (notify_armed || !n_subscribers || d->stopping)
		return;
	notify_armed = true;
	qb_loop_timer_add(d->loop, QB_LOOP_LOW, (uint64_t)NOTIFY_MS * QB_TIME_NS_IN_MSEC, d,
			  notify_fn, &notify_timer);
}

/* ---- dispatch ---- */

/* ---- the table of control requests: one row per request, its handler ---- */

static void rq_status(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	(void)req;
	reply_status(d, c);
}

static void rq_set_node_state(struct droverd *d, qb_ipcs_connection_t *c,
			      const Drover__CtlRequest *req)
{
	handle_set_node_state(d, c, req->set_node_state);
}

static void rq_vm_add(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	handle_vm_add(d, c, req->vm_add);
}

static void rq_vm_remove(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	handle_vm_remove(d, c, req->vm_remove);
}

static void rq_vm_list(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	(void)req;
	reply_vm_list(d, c);
}

static void rq_vm_start(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	handle_vm_request(d, c, DROVER__VM_ACTION_KIND__VM_ACTION_START,
			  req->vm_start ? req->vm_start->name : NULL, NULL, NULL);
}

static void rq_vm_stop(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	handle_vm_request(d, c, DROVER__VM_ACTION_KIND__VM_ACTION_STOP,
			  req->vm_stop ? req->vm_stop->name : NULL, NULL, NULL);
}

static void rq_vm_migrate(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	const Drover__VmMigrateRequest *m = req->vm_migrate;

	handle_vm_request(d, c, DROVER__VM_ACTION_KIND__VM_ACTION_MIGRATE, m ? m->name : NULL,
			  m ? m->to : NULL, m ? m->network : NULL);
}

static void rq_subscribe(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	(void)req;
	ctl_server_subscribe(d, c);
	reply_error(c, DROVER_EXIT_OK, "");
}

struct ctl_request_row {
	Drover__CtlRequest__ReqCase req;
	void (*run)(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req);
};

/*
 * Adding a request is a row here and its handler. The handlers of changes
 * check quorum and the exchange through change_refused() before sending.
 */
static const struct ctl_request_row ctl_requests[] = {
	{ DROVER__CTL_REQUEST__REQ_STATUS, rq_status },
	{ DROVER__CTL_REQUEST__REQ_SET_NODE_STATE, rq_set_node_state },
	{ DROVER__CTL_REQUEST__REQ_VM_ADD, rq_vm_add },
	{ DROVER__CTL_REQUEST__REQ_VM_REMOVE, rq_vm_remove },
	{ DROVER__CTL_REQUEST__REQ_VM_LIST, rq_vm_list },
	{ DROVER__CTL_REQUEST__REQ_VM_START, rq_vm_start },
	{ DROVER__CTL_REQUEST__REQ_VM_STOP, rq_vm_stop },
	{ DROVER__CTL_REQUEST__REQ_VM_MIGRATE, rq_vm_migrate },
	{ DROVER__CTL_REQUEST__REQ_NODE_DRAIN, ctl_jobs_drain },
	{ DROVER__CTL_REQUEST__REQ_NODE_RESUME, ctl_jobs_resume },
	{ DROVER__CTL_REQUEST__REQ_DRAIN_CANCEL, ctl_jobs_cancel },
	{ DROVER__CTL_REQUEST__REQ_QUEUE, ctl_jobs_queue },
	{ DROVER__CTL_REQUEST__REQ_HISTORY, ctl_jobs_history },
	{ DROVER__CTL_REQUEST__REQ_CONFIG_SET, ctl_jobs_config_set },
	{ DROVER__CTL_REQUEST__REQ_CONFIG_SHOW, ctl_jobs_config_show },
	{ DROVER__CTL_REQUEST__REQ_SUBSCRIBE, rq_subscribe },
	{ DROVER__CTL_REQUEST__REQ_CONFIRM_OFF, failover_ctl_confirm_off },
	{ DROVER__CTL_REQUEST__REQ_DEBUG_BLACKBOX, blackbox_ctl },
};

static const struct ctl_request_row *ctl_request_find(Drover__CtlRequest__ReqCase req)
{
	for (size_t i = 0; i < sizeof(ctl_requests) / sizeof(ctl_requests[0]); i++)
		if (ctl_requests[i].req == req)
			return &ctl_requests[i];
	return NULL;
}

static int32_t msg_process(qb_ipcs_connection_t *c, void *data, size_t size)
{
	struct droverd *d = ctl_ctx;
	const struct qb_ipc_request_header *h = data;
	const struct ctl_request_row *rq;
	Drover__Envelope *env = NULL;
	char msg[128];
	int r;

	if (size < sizeof(*h) || h->size < 0 || (size_t)h->size != size ||
	    h->id != DROVER_IPC_MSG_ENVELOPE) {
		log_warn("malformed CLI request (%zu bytes): bad libqb header", size);
		reply_error(c, DROVER_EXIT_DATAERR, "malformed request header");
		return 0;
	}
	r = frame_decode((const uint8_t *)data + sizeof(*h), size - sizeof(*h), &env);
	if (r < 0) {
		log_warn("malformed CLI request (%zu bytes): %s", size, frame_strerror(r));
		snprintf(msg, sizeof(msg), "malformed request: %s", frame_strerror(r));
		reply_error(c, DROVER_EXIT_DATAERR, msg);
		return 0;
	}
	if (env->body_case != DROVER__ENVELOPE__BODY_CTL_REQUEST) {
		log_warn("CLI sent a message that is not a request (body %d)", (int)env->body_case);
		reply_error(c, DROVER_EXIT_DATAERR, "not a control request");
		frame_free(env);
		return 0;
	}
	rq = ctl_request_find(env->ctl_request->req_case);
	if (rq)
		rq->run(d, c, env->ctl_request);
	else
		reply_error(c, DROVER_EXIT_DATAERR, "unknown request (is the CLI newer than droverd?)");
	frame_free(env);
	return 0;
}

static int32_t conn_closed(qb_ipcs_connection_t *c)
{
	struct droverd *d = ctl_ctx;

	unsubscribe(c);
	/* A client that gave up no longer wants its answer; the change itself stands. */
	for (struct pending_req **pp = &d->pending; *pp;) {
		struct pending_req *p = *pp;
		if (p->conn == c) {
			*pp = p->next;
			pending_free(p);
		} else {
			pp = &p->next;
		}
	}
	return 0;
}

static void conn_destroyed(qb_ipcs_connection_t *c)
{
	(void)c;
}

static int32_t job_add(enum qb_loop_priority p, void *data, qb_loop_job_dispatch_fn fn)
{
	return qb_loop_job_add(ctl_ctx->loop, p, data, fn);
}

static int32_t dispatch_add(enum qb_loop_priority p, int32_t fd, int32_t evts, void *data,
			    qb_ipcs_dispatch_fn_t fn)
{
	return qb_loop_poll_add(ctl_ctx->loop, p, fd, evts, data, fn);
}

static int32_t dispatch_mod(enum qb_loop_priority p, int32_t fd, int32_t evts, void *data,
			    qb_ipcs_dispatch_fn_t fn)
{
	return qb_loop_poll_mod(ctl_ctx->loop, p, fd, evts, data, fn);
}

static int32_t dispatch_del(int32_t fd)
{
	return qb_loop_poll_del(ctl_ctx->loop, fd);
}

/*
 * The service name is taken: say by whom, as precisely as the kernel lets us.
 * Another droverd (root) or a squatter (any local user may bind an abstract
 * name, and the CLI would then talk to it; the CLI refuses to): either way
 * droverd must not start, and the operator must learn which process to stop.
 */
static void name_taken(void)
{
	struct ipc_owner o;
	char who[160];
	int r = ipc_owner_probe(DROVER_IPC_NAME, &o);

	if (r < 0) {
		log_err("the control socket '%s' is taken (%s); refusing to start. `ss -xlp | "
			"grep @%s` shows its holder",
			DROVER_IPC_NAME,
			r == -ECONNREFUSED ? "bound by a socket that does not accept connections"
					   : strerror(-r),
			DROVER_IPC_NAME);
		return;
	}
	ipc_owner_describe(&o, who, sizeof(who));
	log_err("another process (pid %d, uid %u) holds the control socket '%s'; refusing to "
		"start. It is %s: %s", (int)o.pid, (unsigned)o.uid, DROVER_IPC_NAME, who,
		o.uid == 0 ? "another droverd in this network namespace?"
			   : "not root, so not a droverd: someone may be impersonating droverd "
			     "to capture the CLI's requests; stop it");
}

int ctl_server_start(struct droverd *d)
{
	static struct qb_ipcs_service_handlers sh = {
		.connection_accept = conn_accept,
		.connection_created = conn_created,
		.msg_process = msg_process,
		.connection_closed = conn_closed,
		.connection_destroyed = conn_destroyed,
	};
	static struct qb_ipcs_poll_handlers ph = {
		.job_add = job_add,
		.dispatch_add = dispatch_add,
		.dispatch_mod = dispatch_mod,
		.dispatch_del = dispatch_del,
	};
	int r;

	ctl_ctx = d;
	ctl_server_reload_group(d);
	d->ipcs = qb_ipcs_create(DROVER_IPC_NAME, 0, QB_IPC_SOCKET, &sh);
	if (!d->ipcs)
		return -errno ? -errno : -ENOMEM;
	qb_ipcs_enforce_buffer_size(d->ipcs, DROVER_IPC_BUFSIZE);
	qb_ipcs_poll_handlers_set(d->ipcs, &ph);
	r = qb_ipcs_run(d->ipcs);
	if (r < 0) {
		/*
		 * A failed qb_ipcs_run() drops the service's only reference
		 * itself (libqb 2.x ipcs.c): destroying it again would abort
		 * on libqb's reference count assertion.
		 */
		d->ipcs = NULL;
		if (r == -EADDRINUSE)
			name_taken();
		return r;
	}
	qb_loop_timer_add(d->loop, QB_LOOP_LOW, PENDING_TICK_MS * QB_TIME_NS_IN_MSEC, d,
			  pending_tick, &d->pending_timer);
	return 0;
}

void ctl_server_stop(struct droverd *d)
{
	while (d->pending) {
		struct pending_req *p = d->pending;
		d->pending = p->next;
		reply_error(p->conn, DROVER_EXIT_UNAVAILABLE, "droverd is shutting down");
		pending_free(p);
	}
	while (n_subscribers)
		unsubscribe(subscribers[0]);
	if (notify_armed)
		qb_loop_timer_del(d->loop, notify_timer);
	notify_armed = false;
	if (d->ipcs) {
		qb_ipcs_destroy(d->ipcs);
		d->ipcs = NULL;
	}
	free_members();
}
