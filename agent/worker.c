/*
 * The worker process (see worker.h): the only place where plugin code runs.
 *
 * A worker is allowed to block: it does one thing at a time and the agent
 * watches the clock for it. What it must not do is lie about which job a
 * message belongs to, so every progress report carries the job id of the
 * call in flight, and a report a plugin sends after its call returned is
 * dropped by the agent.
 *
 * Plugin threads may call host->log(), host->event() and the progress
 * callback; sends and logs are serialised with a mutex (one send() is one
 * message, but the sequence counter and qb_log's state are shared).
 *
 * The events worker bounds each events_dispatch() with alarm(): SIGALRM's
 * default action ends the process, the agent sees a worker killed by signal
 * 14 and restarts it with backoff. A watchdog in the agent would need a
 * heartbeat protocol for the same effect.
 */
#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "plugin_loader.h"
#include "seqpacket.h"
#include "util.h"

#define INVENTORY_MAX_DOMAINS 65536
/* Device labels kept per domain: a VM has one VF; a few more are a finding. */
#define INVENTORY_MAX_VF_DEVICES 8

static int wfd = -1;
static uint64_t wseq;
static pthread_mutex_t send_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct drover_plugin *plugin;
static uint8_t rbuf[SEQPACKET_BUF];

static int wsend(Drover__Envelope *env)
{
	int r;

	pthread_mutex_lock(&send_lock);
	env->seq = ++wseq;
	r = seqpacket_send(wfd, env);
	pthread_mutex_unlock(&send_lock);
	return r;
}

static void send_ready(int errnum, const char *error)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentWorkerReady rd = DROVER__AGENT_WORKER_READY__INIT;
	int r;

	rd.pid = (uint32_t)getpid();
	rd.error_code = errnum;
	rd.error = (char *)(error ? error : "");
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_WORKER_READY;
	env.agent_worker_ready = &rd;
	r = wsend(&env);
	if (r < 0)
		log_err("worker: cannot report to the agent: %s", strerror(-r));
}

/* ---- what the host offers the plugin ---- */

static void host_log(const struct drover_plugin_host *host, int priority, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	(void)host;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (priority < LOG_EMERG || priority > LOG_DEBUG)
		priority = LOG_INFO;
	/* A plugin does not get to page the operator: its worst is LOG_ERR. */
	if (priority < LOG_ERR)
		priority = LOG_ERR;
	pthread_mutex_lock(&log_lock);
	qb_log(priority, "plugin '%s': %s", plugin ? plugin->name : "?", buf);
	pthread_mutex_unlock(&log_lock);
}

static void host_event(const struct drover_plugin_host *host, const struct drover_vm_event *ev)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentEvent e = DROVER__AGENT_EVENT__INIT;
	int r;

	(void)host;
	if (!ev)
		return;
	e.plugin = (char *)plugin->name;
	if (DROVER_FITS(struct drover_vm_event, ev, type))
		e.type = (Drover__VmEventType)ev->type;
	if (DROVER_FITS(struct drover_vm_event, ev, vm) && ev->vm)
		e.vm = (char *)ev->vm;
	if (DROVER_FITS(struct drover_vm_event, ev, detail) && ev->detail)
		e.detail = (char *)ev->detail;
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_EVENT;
	env.agent_event = &e;
	r = wsend(&env);
	if (r < 0)
		log_err("worker: cannot forward an event of vm '%s': %s", e.vm, strerror(-r));
}

struct inventory_collect {
	struct drover_inventory inv;
	size_t n;
	Drover__AgentDomain **doms;
};

static int add_domain(struct drover_inventory *inv, const struct drover_domain *d)
{
	struct inventory_collect *c = inv->host_data;
	Drover__AgentDomain *pd;

	if (!d || !DROVER_FITS(struct drover_domain, d, name) || !d->name)
		return -EINVAL;
	if (c->n >= INVENTORY_MAX_DOMAINS)
		return -E2BIG;
	pd = xcalloc(1, sizeof(*pd));
	drover__agent_domain__init(pd);
	pd->name = xstrdup(d->name);
	if (DROVER_FITS(struct drover_domain, d, state))
		pd->state = (Drover__VmRunState)d->state;
	if (DROVER_FITS(struct drover_domain, d, memory_mib))
		pd->memory_mib = d->memory_mib;
	if (DROVER_FITS(struct drover_domain, d, vcpus))
		pd->vcpus = d->vcpus;
	/* Bounded like every string that goes on to droverd's tables. */
	if (DROVER_FITS(struct drover_domain, d, guest_agent) && d->guest_agent &&
	    strlen(d->guest_agent) < 32)
		pd->guest_agent = xstrdup(d->guest_agent);
	/*
	 * The devices a VF could be, one label a line; bounded like the
	 * tables they go to (labels of 48 bytes, a few per domain).
	 */
	if (DROVER_FITS(struct drover_domain, d, vf_devices) && d->vf_devices) {
		const char *p = d->vf_devices;

		pd->vf_devices_known = true;
		while (*p && pd->n_vf_devices < INVENTORY_MAX_VF_DEVICES) {
			size_t len = strcspn(p, "\n");

			if (len > 0 && len < 48) {
				pd->vf_devices = xrealloc(pd->vf_devices,
							  (pd->n_vf_devices + 1) * sizeof(char *));
				char *label = xcalloc(1, len + 1);

				memcpy(label, p, len);
				pd->vf_devices[pd->n_vf_devices++] = label;
			}
			p += len;
			if (*p)
				p++;
		}
	}
	c->doms = xrealloc(c->doms, (c->n + 1) * sizeof(*c->doms));
	c->doms[c->n++] = pd;
	return 0;
}

static void inventory_collect_free(struct inventory_collect *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->doms[i]->name);
		if (c->doms[i]->guest_agent != protobuf_c_empty_string)
			free(c->doms[i]->guest_agent);
		for (size_t k = 0; k < c->doms[i]->n_vf_devices; k++)
			free(c->doms[i]->vf_devices[k]);
		free(c->doms[i]->vf_devices);
		free(c->doms[i]);
	}
	free(c->doms);
}

static void progress(void *opaque, const struct drover_migrate_progress *p)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentJobProgress jp = DROVER__AGENT_JOB_PROGRESS__INIT;
	Drover__MigrationProgress mp = DROVER__MIGRATION_PROGRESS__INIT;

	if (!p)
		return;
#define TAKE(m)                                                                                    \
	if (DROVER_FITS(struct drover_migrate_progress, p, m))                                     \
	mp.m = p->m
	TAKE(iteration);
	TAKE(elapsed_ms);
	TAKE(memory_total);
	TAKE(memory_processed);
	TAKE(memory_remaining);
	TAKE(bytes_per_s);
	TAKE(dirty_rate);
	TAKE(downtime_ms);
#undef TAKE
	jp.job_id = *(const uint64_t *)opaque;
	jp.migration = &mp;
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_JOB_PROGRESS;
	env.agent_job_progress = &jp;
	(void)wsend(&env);
}

/* ---- jobs ---- */

/* A device detach whose AgentDeviceJob.timeout_ms is 0: the guest's time to acknowledge. */
#define AGENT_DEFAULT_DETACH_TIMEOUT_MS 30000u
/* How much earlier than the job's deadline a detach stops waiting for the guest. */
#define AGENT_DETACH_DEADLINE_MARGIN_MS 2000u

/*
 * The unplug timeout a detach job gets: droverd's, or the default, and in any
 * case a margin below the job's deadline, so that the plugin answers with
 * "the guest did not acknowledge ..." before the agent kills its worker and
 * answers only "deadline passed".
 */
static uint32_t worker_detach_timeout(uint32_t asked_ms, uint32_t deadline_ms)
{
	uint32_t t = asked_ms ? asked_ms : AGENT_DEFAULT_DETACH_TIMEOUT_MS;

	if (deadline_ms > AGENT_DETACH_DEADLINE_MARGIN_MS &&
	    t > deadline_ms - AGENT_DETACH_DEADLINE_MARGIN_MS)
		t = deadline_ms - AGENT_DETACH_DEADLINE_MARGIN_MS;
	return t;
}

/*
 * The lease ran out (agent/lease.c): destroy every domain that is not shut
 * off, at once (timeout 0: no graceful shutdown; the others restart it).
 * c ends up holding the domains destroyed, for the result.
 */
static int self_fence(void *ctx, struct inventory_collect *c, char *err, size_t errlen)
{
	const struct drover_plugin *p = plugin;
	struct inventory_collect all;
	char one[512];
	int r, failed = 0;

	memset(&all, 0, sizeof(all));
	all.inv.size = sizeof(all.inv);
	all.inv.add_domain = add_domain;
	all.inv.host_data = &all;
	r = p->inventory(ctx, &all.inv, err, errlen);
	if (r < 0) {
		inventory_collect_free(&all);
		return r;
	}
	c->inv.size = sizeof(c->inv);
	c->inv.add_domain = add_domain;
	c->inv.host_data = c;
	for (size_t i = 0; i < all.n; i++) {
		Drover__AgentDomain *dom = all.doms[i];
		struct drover_domain d = { .size = sizeof(d), .name = dom->name };

		if (dom->state == DROVER__VM_RUN_STATE__VM_RUN_STATE_STOPPED)
			continue;
		one[0] = '\0';
		r = p->vm_stop(ctx, dom->name, 0, one, sizeof(one));
		if (r < 0) {
			failed = r;
			snprintf(err, errlen, "cannot destroy '%s': %s", dom->name,
				 one[0] ? one : strerror(-r));
			continue;
		}
		add_domain(&c->inv, &d);
	}
	inventory_collect_free(&all);
	return failed;
}

static int call_plugin(void *ctx, const Drover__AgentJob *job, struct inventory_collect *c,
		       char *err, size_t errlen)
{
	const struct drover_plugin *p = plugin;
	uint64_t job_id = job->job_id;

	switch (job->kind_case) {
	case DROVER__AGENT_JOB__KIND_INVENTORY:
		if (!DROVER_PLUGIN_HAS(p, inventory))
			break;
		c->inv.size = sizeof(c->inv);
		c->inv.add_domain = add_domain;
		c->inv.host_data = c;
		return p->inventory(ctx, &c->inv, err, errlen);
	case DROVER__AGENT_JOB__KIND_VM_START:
		if (!DROVER_PLUGIN_HAS(p, vm_start))
			break;
		return p->vm_start(ctx, job->vm_start->vm, job->vm_start->xml, err, errlen);
	case DROVER__AGENT_JOB__KIND_VM_STOP:
		if (!DROVER_PLUGIN_HAS(p, vm_stop))
			break;
		return p->vm_stop(ctx, job->vm_stop->vm, job->vm_stop->timeout_ms, err, errlen);
	case DROVER__AGENT_JOB__KIND_VM_MIGRATE: {
		const Drover__AgentVmMigrateJob *m = job->vm_migrate;
		struct drover_migrate_req req = {
			.size = sizeof(req),
			.flags = (m->auto_converge ? DROVER_MIGRATE_AUTO_CONVERGE : 0) |
				 (m->postcopy ? DROVER_MIGRATE_POSTCOPY : 0) |
				 (m->tls ? DROVER_MIGRATE_TLS : 0),
			.vm = m->vm,
			.dest_uri = m->dest_uri,
			.migrate_uri = m->migrate_uri,
			.bandwidth_mib_s = m->bandwidth_mib_s,
			.completion_timeout_ms = m->completion_timeout_ms,
			.no_progress_timeout_ms = m->no_progress_timeout_ms,
		};

		if (!DROVER_PLUGIN_HAS(p, vm_migrate))
			break;
		/* jobs_submit() refused this already; never hand a plugin a flag it would ignore. */
		if (req.flags & ~drover_plugin_migrate_flags(p))
			return drover_plugin_error(err, errlen, EOPNOTSUPP,
						   "plugin '%s' does not honour migration flags 0x%x",
						   p->name, req.flags & ~drover_plugin_migrate_flags(p));
		/* job_id lives on this stack frame for the whole call, as progress needs. */
		return p->vm_migrate(ctx, &req, progress, &job_id, err, errlen);
	}
	case DROVER__AGENT_JOB__KIND_ABORT_MIGRATION:
		if (!DROVER_PLUGIN_HAS(p, vm_abort_migration))
			break;
		return p->vm_abort_migration(ctx, job->abort_migration->vm, err, errlen);
	case DROVER__AGENT_JOB__KIND_DEVICE_ATTACH:
		if (!DROVER_PLUGIN_HAS(p, device_attach))
			break;
		return p->device_attach(ctx, job->device_attach->vm, job->device_attach->device_xml,
					err, errlen);
	case DROVER__AGENT_JOB__KIND_DEVICE_DETACH: {
		const Drover__AgentDeviceJob *d = job->device_detach;
		struct drover_device_req req = {
			.size = sizeof(req),
			.vm = d->vm,
			.device_xml = d->device_xml,
			.timeout_ms = worker_detach_timeout(d->timeout_ms, job->deadline_ms),
		};

		if (DROVER_PLUGIN_HAS(p, device_detach_wait))
			return p->device_detach_wait(ctx, &req, err, errlen);
		if (!DROVER_PLUGIN_HAS(p, device_detach))
			break;
		/* An older plugin: it returns when the hypervisor accepted the unplug. */
		return p->device_detach(ctx, d->vm, d->device_xml, err, errlen);
	}
	case DROVER__AGENT_JOB__KIND_SELF_FENCE:
		if (!DROVER_PLUGIN_HAS(p, inventory) || !DROVER_PLUGIN_HAS(p, vm_stop))
			break;
		return self_fence(ctx, c, err, errlen);
	case DROVER__AGENT_JOB__KIND_FENCE: {
		const Drover__AgentFenceJob *f = job->fence;
		struct drover_fence_req req = {
			.size = sizeof(req),
			.node = f->node,
			.action = f->action[0] ? f->action : "off",
			.device = f->device,
			/* The agent fills in its default when droverd sent none. */
			.timeout_ms = job->deadline_ms,
		};

		if (!DROVER_PLUGIN_HAS(p, fence))
			break;
		return p->fence(ctx, &req, err, errlen);
	}
	default:
		break;
	}
	return drover_plugin_error(err, errlen, EOPNOTSUPP, "plugin '%s' does not implement this job",
				   p->name);
}

static void run_job(void *ctx, const Drover__AgentJob *job)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentJobResult res = DROVER__AGENT_JOB_RESULT__INIT;
	Drover__AgentInventory inv = DROVER__AGENT_INVENTORY__INIT;
	struct inventory_collect c;
	char err[1024] = "";
	int r;

	memset(&c, 0, sizeof(c));
	r = call_plugin(ctx, job, &c, err, sizeof(err));
	err[sizeof(err) - 1] = '\0';
	res.job_id = job->job_id;
	if (r >= 0) {
		res.outcome = DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK;
		/* A self-fence job answers with the domains it destroyed. */
		if (job->kind_case == DROVER__AGENT_JOB__KIND_INVENTORY ||
		    job->kind_case == DROVER__AGENT_JOB__KIND_SELF_FENCE) {
			inv.memory_mib = c.inv.memory_mib;
			inv.vcpus = c.inv.vcpus;
			inv.n_domains = c.n;
			inv.domains = c.doms;
			res.inventory = &inv;
		}
	} else {
		res.outcome = DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_FAILED;
		res.error_code = -r;
		res.error = err[0] ? err : (char *)strerror(-r);
	}
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_JOB_RESULT;
	env.agent_job_result = &res;
	r = wsend(&env);
	if (r == -EMSGSIZE) {
		snprintf(err, sizeof(err), "the result does not fit the worker socket");
		res.outcome = DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_FAILED;
		res.error_code = E2BIG;
		res.error = err;
		res.inventory = NULL;
		r = wsend(&env);
	}
	if (r < 0)
		log_err("worker: cannot send the result of job %llu: %s",
			(unsigned long long)job->job_id, strerror(-r));
	inventory_collect_free(&c);
}

static int job_loop(void *ctx)
{
	for (;;) {
		Drover__Envelope *env = NULL;
		ssize_t n = seqpacket_recv(wfd, rbuf, sizeof(rbuf));
		int r;

		if (n == 0)
			return 0; /* the agent let us go */
		if (n == -EMSGSIZE) {
			log_err("worker: oversized message from the agent; ignoring it");
			continue;
		}
		if (n < 0) {
			log_err("worker: cannot read from the agent: %s", strerror((int)-n));
			return 1;
		}
		r = frame_decode(rbuf, (size_t)n, &env);
		if (r < 0) {
			log_err("worker: bad frame from the agent: %s", frame_strerror(r));
			continue;
		}
		if (env->body_case == DROVER__ENVELOPE__BODY_AGENT_JOB)
			run_job(ctx, env->agent_job);
		else
			log_err("worker: unexpected message from the agent (body %d)",
				(int)env->body_case);
		frame_free(env);
	}
}

/* ---- events ---- */

static int events_loop(void *ctx, int efd)
{
	struct pollfd pfd[2] = {
		{ .fd = efd, .events = POLLIN },
		{ .fd = wfd, .events = POLLIN },
	};

	for (;;) {
		int r = poll(pfd, 2, -1);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_err("worker: poll: %s", strerror(errno));
			return 1;
		}
		if (pfd[1].revents) {
			ssize_t n = seqpacket_recv(wfd, rbuf, sizeof(rbuf));
			Drover__Envelope *env = NULL;

			if (n == 0)
				return 0; /* the agent let us go */
			if (n < 0 && n != -EAGAIN && n != -EMSGSIZE) {
				log_err("worker: cannot read from the agent: %s",
					strerror((int)-n));
				return 1;
			}
			/*
			 * A short job (inventory, self-fence) while no job worker
			 * is idle (jobs.c): run on this connection, events wait
			 * meanwhile in the plugin's queue. The agent's deadline
			 * covers it as in any worker.
			 */
			if (n > 0 && frame_decode(rbuf, (size_t)n, &env) == 0) {
				if (env->body_case == DROVER__ENVELOPE__BODY_AGENT_JOB)
					run_job(ctx, env->agent_job);
				else
					log_err("worker: unexpected message from the agent "
						"(body %d)", (int)env->body_case);
				frame_free(env);
			} else if (n > 0) {
				log_err("worker: bad frame from the agent");
			}
		}
		if (pfd[0].revents) {
			alarm(WORKER_EVENTS_DISPATCH_MAX_S);
			r = plugin->events_dispatch(ctx);
			alarm(0);
			if (r < 0) {
				log_err("plugin '%s': events_dispatch() failed: %s; restarting the "
					"events worker", plugin->name, strerror(-r));
				return 1;
			}
			if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
				log_err("plugin '%s': its events fd %d broke (revents 0x%x); "
					"restarting the events worker", plugin->name, efd,
					(unsigned)pfd[0].revents);
				return 1;
			}
		}
	}
}

void worker_log_setup(int priority, bool to_stderr)
{
	int32_t target = to_stderr ? QB_LOG_STDERR : QB_LOG_SYSLOG;

	qb_log_init("drover-agent", LOG_DAEMON, LOG_INFO);
	qb_log_format_set(QB_LOG_STDERR, "%t %N[%P] %p: %b");
	qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_ENABLED, QB_FALSE);
	qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_ENABLED, to_stderr ? QB_FALSE : QB_TRUE);
	qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, to_stderr ? QB_TRUE : QB_FALSE);
	qb_log_filter_ctl(target, QB_LOG_FILTER_CLEAR_ALL, QB_LOG_FILTER_FILE, "*", LOG_DEBUG);
	qb_log_filter_ctl(target, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", (uint8_t)priority);
}

int worker_main(const struct worker_args *args)
{
	struct plugin_loader *l;
	const struct loaded_plugin *lp;
	struct drover_plugin_host host = {
		.abi_version = DROVER_PLUGIN_ABI_VERSION,
		.size = sizeof(host),
		.log = host_log,
		.event = host_event,
	};
	char err[1024] = "";
	void *ctx = NULL;
	int r, status;

	wfd = args->fd;
	signal(SIGPIPE, SIG_IGN);
	r = seqpacket_setup(wfd, 0);
	if (r < 0) {
		log_err("worker: fd %d is not the agent's socket: %s", wfd, strerror(-r));
		return 1;
	}
	l = plugin_loader_new();
	r = plugin_loader_load(l, args->plugin_path, &lp, err, sizeof(err));
	if (r < 0) {
		send_ready(-r, err);
		plugin_loader_free(l);
		return 1;
	}
	plugin = lp->plugin;
	r = plugin->init(&host, args->config, &ctx, err, sizeof(err));
	err[sizeof(err) - 1] = '\0';
	if (r < 0) {
		send_ready(-r, err[0] ? err : strerror(-r));
		plugin_loader_free(l);
		return 1;
	}
	if (args->events) {
		int efd = -EOPNOTSUPP;

		if (DROVER_PLUGIN_HAS(plugin, events_fd) && DROVER_PLUGIN_HAS(plugin, events_dispatch))
			efd = plugin->events_fd(ctx);
		if (efd < 0) {
			send_ready(-efd, efd == -EOPNOTSUPP ? "no events" : strerror(-efd));
			plugin->fini(ctx);
			plugin_loader_free(l);
			return efd == -EOPNOTSUPP ? 0 : 1;
		}
		send_ready(0, "");
		status = events_loop(ctx, efd);
	} else {
		send_ready(0, "");
		status = job_loop(ctx);
	}
	plugin->fini(ctx);
	plugin_loader_free(l);
	return status;
}
