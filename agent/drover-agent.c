/*
 * drover-agent: one per host, started and supervised by droverd. It does the
 * hypervisor work that blocks (connecting, starting, stopping, migrating) so
 * that droverd's loop never does. See agent/README.md for how droverd talks
 * to it.
 *
 * This file owns main(), the qb_loop, signals and the link to droverd: a
 * connected AF_UNIX SOCK_SEQPACKET socket (fd 3 unless --socket-fd says
 * otherwise), one frame per message. The agent says AgentHello first, then
 * answers each AgentJob with one AgentJobResult, forwards AgentJobProgress
 * and AgentEvent, and obeys AgentJobCancel. Jobs and workers are jobs.c's;
 * the worker processes run this same binary with --worker (worker.c).
 *
 * The agent never blocks: the socket to droverd is non-blocking and frames
 * queue while it is full (progress reports are dropped rather than queued
 * without bound). When droverd closes its end, the agent stops its workers
 * and exits 0; droverd restarting means a fresh agent, so no job outlives
 * the droverd that asked for it.
 *
 * Considered and rejected: libqb IPC (a server socket anyone on the host can
 * try to reach, and shared-memory ring sizing; the agent has exactly one
 * client, its parent, so an inherited socketpair needs no access check);
 * SOCK_STREAM (message boundaries would need reassembly).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "jobs.h"
#include "lease.h"
#include "log.h"
#include "plugin_loader.h"
#include "plugin_probe.h"
#include "selffence.h"
#include "seqpacket.h"
#include "util.h"
#include "worker.h"

#ifndef DROVER_PLUGIN_DIR
#define DROVER_PLUGIN_DIR "/usr/lib/drover/plugins-abi1"
#define DROVER_PLUGIN_DIR_ABI 1
#endif
/*
 * The plugin directory is named after the ABI (meson.build's
 * drover_plugin_abi): an agent never finds a plugin built for another ABI
 * by name, and two ABIs can be installed side by side during an upgrade.
 */
_Static_assert(DROVER_PLUGIN_DIR_ABI == DROVER_PLUGIN_ABI_VERSION,
	       "plugins/meson.build's drover_plugin_abi must follow DROVER_PLUGIN_ABI_VERSION");

#define OUTQ_DROP_PROGRESS 16 /* queued frames beyond which progress is dropped */

static uint8_t rbuf[SEQPACKET_BUF];
/* Static, so that they stay reachable (for LeakSanitizer) on every exit path. */
static char *paths[AGENT_MAX_PLUGINS];
static const char *configs[AGENT_MAX_PLUGINS];
static const char *names[AGENT_MAX_PLUGINS];

/* ---- the link to droverd ---- */

static int32_t droverd_io(int32_t fd, int32_t revents, void *data);

static void outq_free(struct agent *a)
{
	while (a->outq) {
		struct out_msg *m = a->outq;

		a->outq = m->next;
		free(m->buf);
		free(m);
	}
	a->outq_tail = &a->outq;
	a->outq_len = 0;
}

static void set_pollout(struct agent *a, bool on)
{
	if (a->pollout == on || a->fd < 0)
		return;
	qb_loop_poll_mod(a->loop, QB_LOOP_HIGH, a->fd, on ? POLLIN | POLLOUT : POLLIN, a,
			 droverd_io);
	a->pollout = on;
}

static void flush_outq(struct agent *a)
{
	while (a->outq) {
		struct out_msg *m = a->outq;
		int r = seqpacket_send_buf(a->fd, m->buf, m->len);

		if (r == -EAGAIN)
			return;
		if (r < 0)
			log_err("cannot send a %zu-byte message to droverd: %s; dropped", m->len,
				strerror(-r));
		a->outq = m->next;
		if (!a->outq)
			a->outq_tail = &a->outq;
		a->outq_len--;
		free(m->buf);
		free(m);
	}
	set_pollout(a, false);
}

void agent_send(struct agent *a, Drover__Envelope *env, bool droppable)
{
	struct out_msg *m;
	uint8_t *buf;
	size_t len;
	int r;

	if (a->fd < 0)
		return;
	env->seq = ++a->seq;
	r = frame_encode(env, &buf, &len);
	if (r < 0) {
		log_err("cannot encode a message for droverd: %s", frame_strerror(r));
		return;
	}
	if (!a->outq) {
		r = seqpacket_send_buf(a->fd, buf, len);
		if (r != -EAGAIN) {
			if (r < 0)
				log_err("cannot send a %zu-byte message to droverd: %s; dropped",
					len, strerror(-r));
			free(buf);
			return;
		}
	}
	if (droppable && a->outq_len >= OUTQ_DROP_PROGRESS) {
		log_debug("droverd is not reading; dropping a progress report");
		free(buf);
		return;
	}
	m = xcalloc(1, sizeof(*m));
	m->buf = buf;
	m->len = len;
	*a->outq_tail = m;
	a->outq_tail = &m->next;
	a->outq_len++;
	set_pollout(a, true);
}

static void link_lost(struct agent *a, const char *why)
{
	log_notice("%s; stopping", why);
	lease_stop(a);
	qb_loop_poll_del(a->loop, a->fd);
	close(a->fd);
	a->fd = -1;
	outq_free(a);
	jobs_stop(a);
}

static void on_droverd_message(struct agent *a, const uint8_t *buf, size_t len)
{
	Drover__Envelope *env = NULL;
	int r = frame_decode(buf, len, &env);

	if (r < 0) {
		log_warn("dropping a message from droverd: %s", frame_strerror(r));
		return;
	}
	switch (env->body_case) {
	case DROVER__ENVELOPE__BODY_AGENT_JOB:
		jobs_submit(a, env->agent_job);
		break;
	case DROVER__ENVELOPE__BODY_AGENT_JOB_CANCEL:
		jobs_cancel(a, env->agent_job_cancel->job_id);
		break;
	case DROVER__ENVELOPE__BODY_AGENT_LEASE:
		lease_on_message(a, env->agent_lease);
		break;
	case DROVER__ENVELOPE__BODY_AGENT_PREWARM:
		jobs_prewarm(a, env->agent_prewarm);
		break;
	default:
		log_warn("dropping a message from droverd: body %d does not belong on the agent "
			 "link in this direction", (int)env->body_case);
		break;
	}
	frame_free(env);
}

static int32_t droverd_io(int32_t fd, int32_t revents, void *data)
{
	struct agent *a = data;

	(void)fd;
	if (revents & POLLOUT)
		flush_outq(a);
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		return 0;
	/* A bounded batch, so that a flood from droverd cannot starve the workers. */
	for (int i = 0; i < 64 && a->fd >= 0; i++) {
		ssize_t n = seqpacket_recv(a->fd, rbuf, sizeof(rbuf));

		if (n == -EAGAIN)
			break;
		if (n == -EMSGSIZE) {
			log_warn("dropping an oversized message from droverd");
			continue;
		}
		if (n == 0) {
			link_lost(a, "droverd closed the connection");
			break;
		}
		if (n < 0) {
			char why[128];

			snprintf(why, sizeof(why), "cannot read from droverd: %s",
				 strerror((int)-n));
			link_lost(a, why);
			break;
		}
		on_droverd_message(a, rbuf, (size_t)n);
	}
	return 0;
}

static void send_hello(struct agent *a)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentHello hello = DROVER__AGENT_HELLO__INIT;
	Drover__AgentPluginInfo info[AGENT_MAX_PLUGINS], *infop[AGENT_MAX_PLUGINS];

	for (size_t i = 0; i < a->n_plugins; i++) {
		const struct plugin_facts *f = &a->plugins[i].facts;

		drover__agent_plugin_info__init(&info[i]);
		info[i].name = (char *)f->name;
		info[i].description = f->description;
		info[i].path = f->path;
		info[i].abi_version = f->abi_version;
		info[i].size = f->size;
		infop[i] = &info[i];
	}
	hello.pid = (uint32_t)getpid();
	hello.version = (char *)DROVER_VERSION;
	hello.n_plugins = a->n_plugins;
	hello.plugins = infop;
	hello.max_workers = a->max_workers;
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_HELLO;
	env.agent_hello = &hello;
	agent_send(a, &env, false);
}

void agent_stopped(struct agent *a)
{
	qb_loop_stop(a->loop);
}

/* ---- signals ---- */

static int sig_stop(int sig, void *data)
{
	struct agent *a = data;

	log_notice("signal %d: stopping", sig);
	/*
	 * droverd's end sends SIGTERM too (PR_SET_PDEATHSIG): what it wrote
	 * before it went, its lease's release above all, is read first.
	 */
	if (a->fd >= 0)
		droverd_io(a->fd, POLLIN, a);
	lease_stop(a);
	jobs_stop(a);
	return 0;
}

static int sig_chld(int sig, void *data)
{
	(void)sig;
	jobs_reap(data);
	return 0;
}

static int sig_hup(int sig, void *data)
{
	(void)sig;
	(void)data;
	log_info("SIGHUP ignored: the agent's settings come from droverd's command line");
	return 0;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: drover-agent [options]          (started by droverd)\n"
		"       drover-agent --check-plugin PATH|NAME\n"
		"  --socket-fd N            connected SOCK_SEQPACKET socket to droverd (default 3)\n"
		"  --plugin PATH|NAME       load a plugin; NAME means " DROVER_PLUGIN_DIR "/NAME.so\n"
		"                           or, if absent, .../drover-NAME.so\n"
		"  --plugin-dir DIR         look bare plugin names up in DIR instead\n"
		"                           (repeatable; jobs without a plugin go to the first)\n"
		"  --plugin-config STRING   init() configuration of the plugin named just before\n"
		"  --max-workers N          concurrent jobs per plugin (default %d)\n"
		"  --default-deadline-ms MS deadline of jobs that bring none (default %u)\n"
		"  --init-timeout-ms MS     how long a plugin's init() may take (default %u)\n"
		"  --idle-worker-ms MS      a job worker idle this long exits (default %u)\n"
		"  --log-priority P         err, warning, notice, info (default), debug\n"
		"  -f, --foreground         log to stderr instead of syslog\n"
		"  --check-plugin PATH|NAME load and check a plugin, describe it, exit\n"
		"  --lease-ms MS            self-fencing: destroy every VM unless droverd renews\n"
		"                           the lease within MS (from start, then from each lease)\n"
		"  --watchdog-device PATH   self-fencing: feed this watchdog while the lease holds\n"
		"  --watchdog-timeout-s S   its timeout (default 1)\n"
		"  -h, --help / -V, --version\n",
		AGENT_DEFAULT_MAX_WORKERS, AGENT_DEFAULT_DEADLINE_MS, AGENT_DEFAULT_INIT_TIMEOUT_MS,
		AGENT_DEFAULT_IDLE_WORKER_MS);
}

/* Where a bare plugin name is looked up; --plugin-dir changes it (tests of an installed tree). */
static const char *plugin_dir = DROVER_PLUGIN_DIR;

/*
 * A bare name is looked up in the plugin directory: NAME.so, else
 * drover-NAME.so (the libvirt plugin installs as drover-libvirt.so, so that
 * its file name says whose it is beside libvirt's own modules). A name that
 * is neither gives the first form, and the loader's error names it.
 */
static char *plugin_path(const char *arg)
{
	char *p;

	if (strchr(arg, '/'))
		return xstrdup(arg);
	if (asprintf(&p, "%s/%s.so", plugin_dir, arg) < 0)
		abort();
	if (access(p, F_OK) == 0)
		return p;
	free(p);
	if (asprintf(&p, "%s/drover-%s.so", plugin_dir, arg) < 0)
		abort();
	if (access(p, F_OK) == 0)
		return p;
	free(p);
	if (asprintf(&p, "%s/%s.so", plugin_dir, arg) < 0)
		abort();
	return p;
}

static int check_plugin(const char *path)
{
	struct plugin_loader *l = plugin_loader_new();
	const struct loaded_plugin *lp;
	const struct drover_plugin *p;
	char err[1024];
	int r = plugin_loader_load(l, path, &lp, err, sizeof(err));

	if (r < 0) {
		fprintf(stderr, "drover-agent: %s\n", err);
		plugin_loader_free(l);
		return DROVER_EXIT_CONFIG;
	}
	p = lp->plugin;
	printf("name: %s\ndescription: %s\npath: %s\nabi_version: %u\nsize: %u (version 1: %zu)\n"
	       "implements:",
	       p->name, p->description ? p->description : "", lp->path, p->abi_version, p->size,
	       (size_t)DROVER_PLUGIN_SIZE_V1);
#define SHOW(m)                                                                                    \
	if (DROVER_PLUGIN_HAS(p, m))                                                               \
	printf(" %s", #m)
	SHOW(inventory);
	SHOW(vm_start);
	SHOW(vm_stop);
	SHOW(vm_migrate);
	SHOW(vm_abort_migration);
	SHOW(device_attach);
	SHOW(device_detach);
	SHOW(events_fd);
	SHOW(events_dispatch);
	SHOW(fence);
	SHOW(device_detach_wait);
#undef SHOW
	printf("\nmigrate_flags: auto-converge post-copy%s\n",
	       drover_plugin_migrate_flags(p) & DROVER_MIGRATE_TLS ? " tls" : "");
	plugin_loader_free(l);
	return 0;
}

/* Forget the plugins' facts (also those of a plugin whose check failed half-way). */
static void plugins_free(struct agent *a)
{
	for (size_t i = 0; i < AGENT_MAX_PLUGINS; i++)
		plugin_facts_free(&a->plugins[i].facts);
	a->n_plugins = 0;
}

/* Every exit after log_setup(): an orderly qb_log_fini() removes the blackbox from /dev/shm. */
static int finish(int status)
{
	for (size_t i = 0; i < AGENT_MAX_PLUGINS; i++) {
		free(paths[i]);
		paths[i] = NULL;
	}
	log_teardown();
	return status;
}

static int parse_ms(const char *opt, const char *s, uint64_t min, uint64_t max, uint32_t *ret)
{
	uint64_t v;

	if (parse_u64(s, min, max, &v) < 0) {
		fprintf(stderr, "drover-agent: %s: '%s' is not a number in [%llu, %llu]\n", opt, s,
			(unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*ret = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_SOCKET_FD = 256, OPT_PLUGIN, OPT_PLUGIN_CONFIG, OPT_MAX_WORKERS, OPT_DEADLINE,
	       OPT_INIT_TIMEOUT, OPT_LOG_PRIORITY, OPT_CHECK, OPT_WORKER, OPT_EVENTS_WORKER, OPT_PLUGIN_DIR,
	       OPT_LEASE_MS, OPT_WATCHDOG_DEVICE, OPT_WATCHDOG_TIMEOUT, OPT_PROBE, OPT_IDLE_WORKER };
	static const struct option opts[] = {
		{ "socket-fd", required_argument, NULL, OPT_SOCKET_FD },
		{ "plugin", required_argument, NULL, OPT_PLUGIN },
		{ "plugin-config", required_argument, NULL, OPT_PLUGIN_CONFIG },
		{ "max-workers", required_argument, NULL, OPT_MAX_WORKERS },
		{ "default-deadline-ms", required_argument, NULL, OPT_DEADLINE },
		{ "init-timeout-ms", required_argument, NULL, OPT_INIT_TIMEOUT },
		{ "log-priority", required_argument, NULL, OPT_LOG_PRIORITY },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-plugin", required_argument, NULL, OPT_CHECK },
		{ "probe-plugin", required_argument, NULL, OPT_PROBE },
		{ "idle-worker-ms", required_argument, NULL, OPT_IDLE_WORKER },
		{ "plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR },
		{ "worker", no_argument, NULL, OPT_WORKER },
		{ "events-worker", no_argument, NULL, OPT_EVENTS_WORKER },
		{ "lease-ms", required_argument, NULL, OPT_LEASE_MS },
		{ "watchdog-device", required_argument, NULL, OPT_WATCHDOG_DEVICE },
		{ "watchdog-timeout-s", required_argument, NULL, OPT_WATCHDOG_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct agent a;
	size_t n_paths = 0;
	uint32_t fd = 3, v, lease_ms = 0, wd_timeout_s = 1;
	const char *check = NULL, *probe = NULL, *wd_device = NULL;
	bool worker = false, events_worker = false;
	int c, r;

	memset(&a, 0, sizeof(a));
	a.fd = -1;
	a.outq_tail = &a.outq;
	a.max_workers = AGENT_DEFAULT_MAX_WORKERS;
	a.default_deadline_ms = AGENT_DEFAULT_DEADLINE_MS;
	a.init_timeout_ms = AGENT_DEFAULT_INIT_TIMEOUT_MS;
	a.idle_worker_ms = AGENT_DEFAULT_IDLE_WORKER_MS;
	a.log_priority = LOG_INFO;
	/* Workers exec this very binary, even if a package upgrade replaced the file. */
	a.self_exe = "/proc/self/exe";

	while ((c = getopt_long(argc, argv, "fhV", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET_FD:
			if (parse_ms("--socket-fd", optarg, 0, 65535, &fd) < 0)
				return DROVER_EXIT_USAGE;
			break;
		case OPT_PLUGIN:
			if (n_paths == AGENT_MAX_PLUGINS) {
				fprintf(stderr, "drover-agent: at most %d plugins\n",
					AGENT_MAX_PLUGINS);
				return DROVER_EXIT_USAGE;
			}
			configs[n_paths] = "";
			/* Resolved after the options, so that --plugin-dir may come anywhere. */
			names[n_paths++] = optarg;
			break;
		case OPT_PLUGIN_CONFIG:
			if (n_paths == 0) {
				fprintf(stderr, "drover-agent: --plugin-config must follow the "
						"--plugin it configures\n");
				return DROVER_EXIT_USAGE;
			}
			configs[n_paths - 1] = optarg;
			break;
		case OPT_MAX_WORKERS:
			if (parse_ms("--max-workers", optarg, 1, 64, &v) < 0)
				return DROVER_EXIT_USAGE;
			a.max_workers = v;
			break;
		case OPT_DEADLINE:
			if (parse_ms("--default-deadline-ms", optarg, 1, UINT32_MAX,
				     &a.default_deadline_ms) < 0)
				return DROVER_EXIT_USAGE;
			break;
		case OPT_INIT_TIMEOUT:
			if (parse_ms("--init-timeout-ms", optarg, 1, UINT32_MAX,
				     &a.init_timeout_ms) < 0)
				return DROVER_EXIT_USAGE;
			break;
		case OPT_LOG_PRIORITY:
			r = log_priority_from_name(optarg);
			if (r < 0) {
				fprintf(stderr, "drover-agent: unknown log priority '%s'\n",
					optarg);
				return DROVER_EXIT_USAGE;
			}
			a.log_priority = r;
			break;
		case 'f':
			a.foreground = true;
			break;
		case OPT_CHECK:
			check = optarg;
			break;
		case OPT_PROBE:
			probe = optarg;
			break;
		case OPT_IDLE_WORKER:
			if (parse_ms("--idle-worker-ms", optarg, 1, UINT32_MAX,
				     &a.idle_worker_ms) < 0)
				return DROVER_EXIT_USAGE;
			break;
		case OPT_PLUGIN_DIR:
			plugin_dir = optarg;
			break;
		case OPT_WORKER:
			worker = true;
			break;
		case OPT_EVENTS_WORKER:
			events_worker = true;
			break;
		case OPT_LEASE_MS:
			if (parse_ms("--lease-ms", optarg, SELFFENCE_TIMEOUT_MIN_MS,
				     SELFFENCE_TIMEOUT_MAX_MS, &lease_ms) < 0)
				return DROVER_EXIT_USAGE;
			break;
		case OPT_WATCHDOG_DEVICE:
			wd_device = optarg;
			break;
		case OPT_WATCHDOG_TIMEOUT:
			if (parse_ms("--watchdog-timeout-s", optarg, 1, 3600, &wd_timeout_s) < 0)
				return DROVER_EXIT_USAGE;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("drover-agent %s (plugin ABI %u)\n", DROVER_VERSION,
			       DROVER_PLUGIN_ABI_VERSION);
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
	for (size_t i = 0; i < n_paths; i++)
		paths[i] = plugin_path(names[i]);
	if (check) {
		_cleanup_free_ char *cp = plugin_path(check);

		return check_plugin(cp);
	}
	/* The agent's own check of a plugin, in a child so that the agent never maps it. */
	if (probe)
		return plugin_probe_main(probe);

	if (worker || events_worker) {
		struct worker_args wa = {
			.plugin_path = n_paths == 1 ? paths[0] : NULL,
			.config = n_paths == 1 ? configs[0] : "",
			.events = events_worker,
			.fd = (int)fd,
		};

		worker_log_setup(a.log_priority, a.foreground);
		if (n_paths != 1) {
			log_err("a worker loads exactly one plugin");
			return finish(DROVER_EXIT_USAGE);
		}
		return finish(worker_main(&wa));
	}

	log_setup("drover-agent", a.log_priority, a.foreground);

	a.fd = (int)fd;
	r = seqpacket_setup(a.fd, 1);
	if (r < 0) {
		log_err("fd %d is not a connected SOCK_SEQPACKET socket (%s): drover-agent is "
			"started by droverd", a.fd, strerror(-r));
		return finish(DROVER_EXIT_USAGE);
	}
	a.max_msg = seqpacket_max_msg(a.fd);
	for (size_t i = 0; i < n_paths; i++) {
		struct agent_plugin *ap = &a.plugins[i];
		char err[1024];

		r = plugin_probe(a.self_exe, paths[i], a.init_timeout_ms, &ap->facts, err,
				 sizeof(err));
		for (size_t k = 0; r == 0 && k < i; k++)
			if (strcmp(a.plugins[k].facts.name, ap->facts.name) == 0) {
				snprintf(err, sizeof(err),
					 "plugin '%s': a plugin named '%s' is already loaded from "
					 "'%s'", paths[i], ap->facts.name, a.plugins[k].facts.path);
				r = -EEXIST;
			}
		if (r < 0) {
			log_err("%s; exiting", err);
			plugins_free(&a);
			return finish(DROVER_EXIT_CONFIG);
		}
		ap->config = configs[i];
		ap->agent = &a;
		a.n_plugins++;
		log_info("loaded plugin '%s' from '%s' (ABI %u, %u bytes)", ap->facts.name,
			 paths[i], ap->facts.abi_version, ap->facts.size);
	}
	log_notice("drover-agent %s starting: %zu plugin(s), %u worker(s) per plugin",
		   DROVER_VERSION, a.n_plugins, a.max_workers);

	a.loop = qb_loop_create();
	if (!a.loop) {
		log_err("cannot create the main loop");
		plugins_free(&a);
		return finish(DROVER_EXIT_SOFTWARE);
	}
	qb_loop_signal_add(a.loop, QB_LOOP_HIGH, SIGTERM, &a, sig_stop, NULL);
	qb_loop_signal_add(a.loop, QB_LOOP_HIGH, SIGINT, &a, sig_stop, NULL);
	qb_loop_signal_add(a.loop, QB_LOOP_HIGH, SIGHUP, &a, sig_hup, NULL);
	qb_loop_signal_add(a.loop, QB_LOOP_HIGH, SIGCHLD, &a, sig_chld, NULL);
	/* After the signal adds: libqb resets every signal it does not handle. */
	signal(SIGPIPE, SIG_IGN);
	if (qb_loop_poll_add(a.loop, QB_LOOP_HIGH, a.fd, POLLIN, &a, droverd_io) < 0) {
		log_err("cannot watch the droverd socket");
		qb_loop_destroy(a.loop);
		plugins_free(&a);
		return finish(DROVER_EXIT_SOFTWARE);
	}
	/* Armed before anything else: VMs may already run here, and nobody vouches for them yet. */
	if (lease_ms && lease_setup(&a, lease_ms, wd_device, wd_timeout_s) < 0) {
		log_err("cannot arm the self-fencing lease");
		qb_loop_destroy(a.loop);
		plugins_free(&a);
		return finish(DROVER_EXIT_SOFTWARE);
	}
	send_hello(&a);
	jobs_start(&a);

	qb_loop_run(a.loop);

	log_notice("drover-agent stopped");
	free(a.lease);
	if (a.fd >= 0) {
		qb_loop_poll_del(a.loop, a.fd);
		close(a.fd);
	}
	outq_free(&a);
	qb_loop_destroy(a.loop);
	plugins_free(&a);
	return finish(a.exit_status);
}
