/*
 * droverd: one per host. It joins corosync (CPG, votequorum, cmap, cfg), holds
 * the replicated cluster state, and serves the CLI. Everything runs in one
 * libqb loop and nothing in it blocks: corosync is reached through its fds,
 * flow control is retried from timers, and the hypervisor is never called
 * from here (that is the agent's job, in a later issue).
 *
 * This file owns the core of the replicated state machine: what happens on a
 * configuration change, on each delivered peer message, and on a quorum
 * change. The rules it keeps:
 *  - state changes only by applying delivered messages, in delivery order;
 *  - after a membership change that adds anyone, no change is applied until
 *    the state exchange (sync.h) is complete, on every member alike;
 *  - a node changes nothing unless it is quorate and synchronised; the
 *    coordinator (lowest node id of the quorate membership) is the only one
 *    that will take decisions in later issues.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "droverd.h"
#include "exitcode.h"
#include "log.h"
#include "persist.h"
#include "util.h"

#define CONNECT_RETRY_MS 1000

static int exit_status = 0;
static uint32_t last_coordinator;
static bool last_quorate;

bool droverd_is_member(const struct droverd *d, uint32_t id)
{
	for (size_t i = 0; i < d->n_members; i++)
		if (d->members[i] == id)
			return true;
	return false;
}

uint32_t droverd_coordinator(const struct droverd *d)
{
	/* members[] is sorted, so the first is the lowest node id. */
	if (!d->quorate || !d->synced || d->n_members == 0)
		return 0;
	return d->members[0];
}

static void note_coordinator(struct droverd *d)
{
	uint32_t c = droverd_coordinator(d);
	char buf[32];

	if (c == last_coordinator)
		return;
	last_coordinator = c;
	if (c == 0)
		log_notice("no coordinator: %s", d->quorate ? "state exchange in progress"
							    : "partition has no quorum");
	else if (c == d->local_id)
		log_notice("this node ('%s') is the coordinator",
			   links_node_name(d, c, buf, sizeof(buf)));
	else
		log_notice("coordinator is '%s' (node %u)", links_node_name(d, c, buf, sizeof(buf)),
			   c);
}

void droverd_fatal(struct droverd *d, const char *why)
{
	log_err("%s; exiting so that the service manager restarts droverd", why);
	exit_status = 1;
	d->stopping = true;
	qb_loop_stop(d->loop);
}

static void save_state(struct droverd *d)
{
	int r = persist_save(d->cfg.state_dir, &d->state);

	if (r < 0)
		log_err("cannot persist cluster state to '%s/%s': %s (kept in memory; the "
			"cluster holds it too)",
			d->cfg.state_dir, PERSIST_FILE, strerror(-r));
}

static void send_digest(struct droverd *d)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__StateDigest dg = DROVER__STATE_DIGEST__INIT;
	int r;

	dg.epoch = d->state.epoch;
	dg.hash = state_hash(&d->state);
	env.body_case = DROVER__ENVELOPE__BODY_STATE_DIGEST;
	env.state_digest = &dg;
	r = membership_send(d, &env, true);
	if (r < 0)
		log_err("cannot send state digest: %s", strerror(-r));
}

static void send_full(struct droverd *d)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__StateFull full = DROVER__STATE_FULL__INIT;
	Drover__ClusterState cs;
	struct state_proto_storage storage;
	int r;

	state_to_proto(&d->state, &cs, &storage);
	full.state = &cs;
	env.body_case = DROVER__ENVELOPE__BODY_STATE_FULL;
	env.state_full = &full;
	r = membership_send(d, &env, true);
	if (r < 0)
		log_err("cannot send full state: %s", strerror(-r));
}

static void sync_finished(struct droverd *d)
{
	d->synced = true;
	log_info("cluster state synchronised among %zu members: epoch %llu", d->n_members,
		 (unsigned long long)d->state.epoch);
	note_coordinator(d);
}

void droverd_on_confchg(struct droverd *d, bool joined_any, bool self_joined)
{
	char list[DROVER_MAX_NODES * 11 + 1] = "";
	size_t off = 0;

	for (size_t i = 0; i < d->n_members && off < sizeof(list) - 12; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%u", i ? " " : "",
					d->members[i]);
	log_notice("membership: [%s]%s", list, self_joined ? " (we joined)" : "");

	/*
	 * Survivors of a departure applied the same stream, so their copies are
	 * still identical: no exchange is needed, and changes in flight are not
	 * disturbed by a node failure. Anyone joining may hold another copy.
	 */
	if (joined_any || d->sync.active || !d->synced) {
		d->synced = false;
		sync_begin(&d->sync, d->members, d->n_members);
		send_digest(d);
	}
	note_coordinator(d);
}

static void on_digest(struct droverd *d, uint32_t from, const Drover__StateDigest *dg)
{
	switch (sync_on_digest(&d->sync, d->local_id, from, dg->epoch, dg->hash)) {
	case SYNC_DONE:
		sync_finished(d);
		break;
	case SYNC_SEND_FULL:
		log_info("our state (epoch %llu) wins the exchange; sending it",
			 (unsigned long long)d->state.epoch);
		send_full(d);
		break;
	case SYNC_AWAIT_FULL:
		log_info("waiting for node %u's state (epoch %llu)", d->sync.winner,
			 (unsigned long long)d->sync.win_epoch);
		break;
	case SYNC_IGNORED:
		log_debug("ignoring state digest from node %u outside an exchange", from);
		break;
	case SYNC_WAIT:
		break;
	}
}

static void on_full(struct droverd *d, uint32_t from, const Drover__StateFull *full)
{
	struct cluster_state s;

	if (sync_on_full(&d->sync, from) != SYNC_DONE) {
		log_debug("ignoring full state from node %u: not the awaited one", from);
		return;
	}
	if (!full->state || state_from_proto(full->state, &s) < 0) {
		/* Every member validates alike, so all keep their copies alike. */
		log_err("full state from node %u is invalid; keeping our copy", from);
	} else if (state_hash(&s) != state_hash(&d->state)) {
		log_notice("adopting node %u's cluster state (epoch %llu, ours was %llu)", from,
			   (unsigned long long)s.epoch, (unsigned long long)d->state.epoch);
		d->state = s;
		save_state(d);
	}
	sync_finished(d);
}

static void on_set_node_state(struct droverd *d, uint32_t from, bool from_self,
			      const Drover__SetNodeState *m)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	char buf[32];
	int r;

	if (!d->synced) {
		/* Every member is mid-exchange at this point of the stream: all drop it. */
		log_info("dropping node state change from node %u: state exchange in progress",
			 from);
		if (from_self)
			ctl_request_done(d, m->request_id, DROVER_EXIT_UNAVAILABLE,
					 "membership changed while applying; retry");
		return;
	}
	env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
	env.set_node_state = (Drover__SetNodeState *)m;
	r = state_apply(&d->state, &env);
	if (r == 1) {
		log_notice("node '%s' is now %s (requested via node %u; epoch %llu)",
			   links_node_name(d, m->node_id, buf, sizeof(buf)),
			   state_node_state_name(m->state), from,
			   (unsigned long long)d->state.epoch);
		save_state(d);
	} else if (r < 0) {
		log_warn("rejected node state change from node %u: %s", from, strerror(-r));
	}
	if (from_self)
		ctl_request_done(d, m->request_id, r < 0 ? DROVER_EXIT_INVALID_PARAM : 0,
				 r < 0 ? "the cluster rejected the change" : "");
}

void droverd_on_peer_message(struct droverd *d, uint32_t nodeid, uint32_t pid,
			     const Drover__Envelope *env)
{
	bool from_self = nodeid == d->local_id && pid == (uint32_t)getpid();

	if (!droverd_is_member(d, nodeid)) {
		log_warn("dropping message from node %u: not a member", nodeid);
		return;
	}
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_STATE_DIGEST:
		on_digest(d, nodeid, env->state_digest);
		break;
	case DROVER__ENVELOPE__BODY_STATE_FULL:
		on_full(d, nodeid, env->state_full);
		break;
	case DROVER__ENVELOPE__BODY_SET_NODE_STATE:
		on_set_node_state(d, nodeid, from_self, env->set_node_state);
		break;
	default:
		log_warn("dropping message from node %u: unexpected body %d", nodeid,
			 (int)env->body_case);
		break;
	}
	note_coordinator(d);
}

void droverd_on_quorum(struct droverd *d, bool quorate)
{
	d->quorate = quorate;
	if (quorate != last_quorate) {
		if (quorate)
			log_notice("partition is quorate");
		else
			log_warn("partition lost quorum: this node makes no decisions and "
				 "refuses changes until quorum returns");
		last_quorate = quorate;
	}
	note_coordinator(d);
}

/* ---- timers and signals ---- */

static void link_timer_fn(void *data)
{
	struct droverd *d = data;

	links_poll(d);
	if (!d->stopping)
		qb_loop_timer_add(d->loop, QB_LOOP_LOW,
				  (uint64_t)d->cfg.link_poll_ms * QB_TIME_NS_IN_MSEC, d,
				  link_timer_fn, &d->link_timer);
}

static void connect_timer_fn(void *data)
{
	struct droverd *d = data;
	static unsigned attempts;
	int r = 0;

	if (!d->vq_connected)
		r = quorum_connect(d);
	if (r == 0 && (!d->cmap_connected || !d->cfg_connected))
		r = links_connect(d);
	if (r == 0 && !d->cpg_connected)
		r = membership_connect(d);
	if (r < 0) {
		if (attempts++ % 30 == 0)
			log_warn("cannot reach corosync yet (%s); retrying every %d ms",
				 strerror(-r), CONNECT_RETRY_MS);
		qb_loop_timer_add(d->loop, QB_LOOP_MED, CONNECT_RETRY_MS * QB_TIME_NS_IN_MSEC, d,
				  connect_timer_fn, NULL);
		return;
	}
	d->corosync_ready = true;
	log_notice("connected to corosync as node %u", d->local_id);
	links_poll(d);
	link_timer_fn(d);
	sd_notify(0, "READY=1\nSTATUS=connected to corosync");
}

static int sig_stop(int sig, void *data)
{
	struct droverd *d = data;

	log_notice("signal %d: stopping", sig);
	sd_notify(0, "STOPPING=1");
	d->stopping = true;
	qb_loop_stop(d->loop);
	return 0;
}

static int sig_reload(int sig, void *data)
{
	struct droverd *d = data;
	struct drover_config c;
	char err[512];
	int r;

	(void)sig;
	sd_notify(0, "RELOADING=1");
	/* A file that existed at start and vanished is an error, not "use defaults". */
	r = config_load(d->config_path, d->config_existed, &c, err, sizeof(err));
	if (r < 0) {
		log_err("reload failed, keeping the running configuration: %s", err);
		sd_notify(0, "READY=1");
		return 0;
	}
	if (strcmp(c.state_dir, d->cfg.state_dir) != 0 || strcmp(c.cpg_group, d->cfg.cpg_group))
		log_warn("state_dir and cpg_group changes take effect at the next restart");
	strscpy(c.state_dir, d->cfg.state_dir, sizeof(c.state_dir));
	strscpy(c.cpg_group, d->cfg.cpg_group, sizeof(c.cpg_group));
	d->cfg = c;
	log_set_priority(d->cfg.log_priority);
	ctl_server_reload_group(d);
	if (d->cmap_connected)
		links_load_nodelist(d);
	log_notice("configuration reloaded from '%s'", d->config_path);
	sd_notify(0, "READY=1");
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: droverd [-f] [-c FILE] [--check-config]\n"
		   "  -c, --config FILE   configuration file (default " DROVER_CONF_DEFAULT ")\n"
		   "  -f, --foreground    log to stderr instead of syslog\n"
		   "      --check-config  validate the configuration, print the effective one, exit\n"
		   "  -h, --help          this help\n"
		   "  -V, --version       print the version\n");
}

static void load_state(struct droverd *d)
{
	char from[PATH_MAX + 32], to[PATH_MAX + 48];
	int r = persist_load(d->cfg.state_dir, &d->state);

	if (r == 0) {
		log_info("loaded cluster state (epoch %llu) from '%s'",
			 (unsigned long long)d->state.epoch, d->cfg.state_dir);
		return;
	}
	state_init(&d->state);
	if (r == -ENOENT) {
		log_info("no saved cluster state in '%s': starting empty; peers will supply "
			 "theirs", d->cfg.state_dir);
		return;
	}
	snprintf(from, sizeof(from), "%s/%s", d->cfg.state_dir, PERSIST_FILE);
	snprintf(to, sizeof(to), "%s.corrupt", from);
	if (rename(from, to) == 0)
		log_err("saved cluster state '%s' is unreadable (%s); moved it to '%s' and "
			"starting empty; peers will supply theirs", from, strerror(-r), to);
	else
		log_err("saved cluster state '%s' is unreadable (%s); starting empty", from,
			strerror(-r));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct droverd d;
	const char *path = DROVER_CONF_DEFAULT;
	bool explicit_path = false, foreground = false, check = false;
	char err[512];
	int c, r;

	memset(&d, 0, sizeof(d));
	while ((c = getopt_long(argc, argv, "c:fhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			explicit_path = true;
			break;
		case 'f':
			foreground = true;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("droverd %s\n", DROVER_VERSION);
			return 0;
		default:
			usage(stderr);
			return DROVER_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return DROVER_EXIT_USAGE;
	}
	r = config_load(path, explicit_path, &d.cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "droverd: %s\n", err);
		return DROVER_EXIT_CONFIG;
	}
	if (check) {
		config_print(stdout, &d.cfg);
		return 0;
	}
	d.config_path = path;
	d.config_existed = access(path, F_OK) == 0;

	log_setup("droverd", d.cfg.log_priority, foreground);
	log_notice("droverd %s starting (config '%s', state '%s')", DROVER_VERSION, path,
		   d.cfg.state_dir);
	r = persist_prepare_dir(d.cfg.state_dir);
	if (r < 0) {
		log_err("cannot use state directory '%s': %s", d.cfg.state_dir, strerror(-r));
		return DROVER_EXIT_CONFIG;
	}
	load_state(&d);

	d.loop = qb_loop_create();
	if (!d.loop) {
		log_err("cannot create the main loop");
		return DROVER_EXIT_SOFTWARE;
	}
	qb_loop_signal_add(d.loop, QB_LOOP_HIGH, SIGTERM, &d, sig_stop, NULL);
	qb_loop_signal_add(d.loop, QB_LOOP_HIGH, SIGINT, &d, sig_stop, NULL);
	qb_loop_signal_add(d.loop, QB_LOOP_HIGH, SIGHUP, &d, sig_reload, NULL);
	/* After the adds: libqb resets the signals it does not handle when adding. */
	signal(SIGPIPE, SIG_IGN);

	r = ctl_server_start(&d);
	if (r < 0) {
		log_err("cannot start the CLI service '%s': %s (is another droverd running?)",
			"drover", strerror(-r));
		return DROVER_EXIT_UNAVAILABLE;
	}
	qb_loop_job_add(d.loop, QB_LOOP_HIGH, &d, connect_timer_fn);

	qb_loop_run(d.loop);

	log_notice("droverd stopping");
	ctl_server_stop(&d);
	membership_disconnect(&d);
	quorum_disconnect(&d);
	links_disconnect(&d);
	qb_loop_destroy(d.loop);
	log_teardown();
	return exit_status;
}
