/*
 * Live migration: one libvirt migration job, watched four times a second and
 * reported about once a second.
 *
 * The migration is peer-to-peer (this host's libvirtd connects to the target
 * libvirtd itself), live, persistent on the target and undefined here when it
 * succeeds, so "done" means it runs there and is gone from here. The data
 * stream goes to req->migrate_uri (VIR_MIGRATE_PARAM_URI): that is how the
 * caller picks the migration network, independently of the control address
 * in dest_uri. The call is virDomainMigrateToURI3(), the peer-to-peer member
 * of the virDomainMigrate3() family: virDomainMigrate3() itself wants a
 * client connection to the target and, with VIR_MIGRATE_PEER2PEER, only uses
 * that connection's URI, so opening one would be an extra dependency on
 * reaching (and authenticating to) the target from here for nothing.
 *
 * Threads: the migration call blocks in a thread of its own; the calling
 * thread polls virDomainGetJobStats() every POLL_MS on the same connection
 * (libvirt's remote driver runs concurrent calls on one connection; the QEMU
 * driver allows job queries during a migration), reports progress about once
 * a second, enforces the request's timeouts with virDomainAbortJob(), and
 * joins the migration thread before returning. So progress is only ever
 * called from the calling thread, never twice at once and never after return.
 *
 * Progress never goes backwards: memory_processed and iteration are the
 * maximum seen, so a query answered from another phase of libvirt's job (or
 * a counter that restarts) cannot make a report go back; memory_remaining is
 * reported as libvirt says, since it legitimately grows again at the start of
 * every pass (what the guest dirtied meanwhile). The first report is
 * made before the job starts (iteration 0, everything remaining), the last
 * one after success (remaining 0), so even a sub-second migration of a small
 * guest reports its start and end.
 *
 * "No progress" (no_progress_timeout_ms) means memory_remaining has not gone
 * below its lowest value so far for that long: within a pass it always
 * shrinks, so only the low-water mark across passes tells whether the
 * migration converges (a guest that dirties memory about as fast as it is
 * sent ends every pass with as much remaining as the pass before). This is
 * the "progress watermark" of OpenStack Nova's progress timeout.
 *
 * Post-copy (DROVER_MIGRATE_POSTCOPY) is only enabled at start; the switch is
 * ours: once the first pass is done and memory_remaining has not shrunk for
 * POSTCOPY_STALL_MS (or half the no-progress timeout, if shorter), pre-copy
 * is not converging and we call virDomainMigrateStartPostCopy(). A migration
 * in post-copy cannot be aborted (the guest's memory is split between the
 * hosts), so timeouts are not enforced after the switch. Once switched, the
 * rest moves without the bandwidth cap (libvirt's post-copy bandwidth is a
 * separate parameter, left unlimited).
 *
 * An abort is not instantaneous: QEMU cancels, then libvirt tears the target
 * down. On a link shaped to 256 kbit/s the abort took ~5 s, during which this
 * loop waits in virDomainAbortJob(); droverd's job deadline should leave that
 * much above completion_timeout_ms.
 *
 * Aborts: ours (a timeout) end in -ETIMEDOUT; one asked for through
 * vm_abort_migration() ends in -ECANCELED. That call runs in another worker
 * process, and libvirt's error does not reliably say "aborted": QEMU may fail
 * the cancelled migration with whatever its socket said first ("Unable to
 * write to socket: Broken pipe", seen on a shaped network). So
 * vm_abort_migration() leaves a marker file, runtime_dir/abort-VM, before it
 * calls virDomainAbortJob(), and a migration that fails while the marker
 * exists was aborted on request. vm_migrate() removes a stale marker when it
 * starts and the marker whenever it ends. Rejected: domain metadata as the
 * marker (libvirt refuses to modify a domain during its migration job) and
 * libvirt's completed-job statistics (not kept for a cancelled job). Without
 * a usable runtime_dir, VIR_ERR_OPERATION_ABORTED alone is the sign. The
 * worker being killed does not stop libvirtd's job: that is what
 * vm_abort_migration() is for.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "libvirt_plugin.h"

#define POLL_MS 250
#define REPORT_MS 1000
#define POSTCOPY_STALL_MS 2000

enum abort_reason {
	ABORT_NONE,
	ABORT_COMPLETION_TIMEOUT,
	ABORT_NO_PROGRESS,
};

/* ---- abort markers ---- */

static int marker_path(const struct lv_ctx *ctx, const char *vm, char *buf, size_t len)
{
	int n;

	/* libvirt refuses '/' in names; anything else would escape the directory. */
	if (strchr(vm, '/'))
		return -EINVAL;
	n = snprintf(buf, len, "%s/abort-%s", ctx->cfg.runtime_dir, vm);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int mkdir_p(const char *dir)
{
	char path[PATH_MAX];
	size_t n = strlen(dir);

	if (n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void marker_set(const struct lv_ctx *ctx, const char *vm)
{
	char path[PATH_MAX];
	int fd, r;

	r = marker_path(ctx, vm, path, sizeof(path));
	if (r == 0)
		r = mkdir_p(ctx->cfg.runtime_dir);
	if (r == 0) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			r = -errno;
		else
			close(fd);
	}
	if (r < 0)
		lv_log(ctx, LOG_WARNING,
		       "cannot leave an abort marker for '%s' in '%s': %s; the "
		       "migration may be reported as failed rather than aborted",
		       vm, ctx->cfg.runtime_dir, strerror(-r));
}

/* Removes the marker; whether there was one. */
static bool marker_take(const struct lv_ctx *ctx, const char *vm)
{
	char path[PATH_MAX];

	return marker_path(ctx, vm, path, sizeof(path)) == 0 && unlink(path) == 0;
}

/* ---- the migration ---- */

struct mig_call {
	virDomainPtr dom;
	const char *dest_uri;
	virTypedParameterPtr params;
	int nparams;
	unsigned int flags;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int rc;
	virError err; /* copied in the migration thread */
};

static void *mig_thread(void *arg)
{
	struct mig_call *m = arg;
	virError e = {0};
	int rc;

	rc = virDomainMigrateToURI3(m->dom, m->dest_uri, m->params, (unsigned)m->nparams, m->flags);
	if (rc < 0)
		virCopyLastError(&e);
	virResetLastError();
	pthread_mutex_lock(&m->lock);
	m->rc = rc;
	m->err = e;
	m->done = true;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* Wait until the migration thread is done or until the monotonic time at_ms. */
static bool mig_wait(struct mig_call *m, uint64_t at_ms)
{
	struct timespec ts = {.tv_sec = (time_t)(at_ms / 1000),
			      .tv_nsec = (long)(at_ms % 1000) * 1000000L};
	bool done;

	pthread_mutex_lock(&m->lock);
	while (!m->done) {
		int r = pthread_cond_timedwait(&m->cond, &m->lock, &ts);

		if (r == ETIMEDOUT)
			break;
	}
	done = m->done;
	pthread_mutex_unlock(&m->lock);
	return done;
}

struct job_sample {
	bool active;
	uint64_t total, processed, remaining, bps, dirty_rate;
	uint32_t iteration;
};

static void read_stats(virDomainPtr dom, struct job_sample *s)
{
	virTypedParameterPtr params = NULL;
	int type = VIR_DOMAIN_JOB_NONE, n = 0;
	unsigned long long v, page = 4096;

	memset(s, 0, sizeof(*s));
	if (virDomainGetJobStats(dom, &type, &params, &n, 0) < 0) {
		virResetLastError();
		return;
	}
	s->active = type != VIR_DOMAIN_JOB_NONE;
	if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_MEMORY_TOTAL, &v) == 1)
		s->total = v;
	if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_MEMORY_PROCESSED, &v) == 1)
		s->processed = v;
	if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_MEMORY_REMAINING, &v) == 1)
		s->remaining = v;
	if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_MEMORY_BPS, &v) == 1)
		s->bps = v;
	if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE, &v) == 1 && v)
		page = v;
	if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE, &v) == 1)
		s->dirty_rate = v * page; /* libvirt counts pages per second */
	if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_MEMORY_ITERATION, &v) == 1)
		s->iteration = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	virTypedParamsFree(params, n);
	virResetLastError();
}

struct watch {
	struct lv_ctx *ctx;
	const struct drover_migrate_req *req;
	drover_progress_fn progress;
	void *opaque;
	uint64_t t0;
	struct drover_migrate_progress p; /* what was last reported, clamped */
	bool job_seen;
	uint64_t best_remaining, best_at; /* no-progress watchdog */
	bool postcopy;
	enum abort_reason aborting;
};

static void report(struct watch *w)
{
	w->p.size = sizeof(w->p);
	w->p.elapsed_ms = lv_now_ms() - w->t0;
	if (w->progress)
		w->progress(w->opaque, &w->p);
}

static void take_sample(struct watch *w, const struct job_sample *s, uint64_t now)
{
	if (!s->active || s->total == 0)
		return;
	w->job_seen = true;
	w->p.memory_total = s->total;
	if (s->processed > w->p.memory_processed)
		w->p.memory_processed = s->processed;
	if (s->iteration > w->p.iteration)
		w->p.iteration = s->iteration;
	w->p.memory_remaining = s->remaining;
	w->p.bytes_per_s = s->bps;
	w->p.dirty_rate = s->dirty_rate;
	if (w->best_at == 0 || s->remaining < w->best_remaining) {
		w->best_remaining = s->remaining;
		w->best_at = now;
	}
}

static void abort_job(struct watch *w, virDomainPtr dom, enum abort_reason why)
{
	const char *vm = w->req->vm;

	w->aborting = why;
	if (why == ABORT_COMPLETION_TIMEOUT)
		lv_log(w->ctx, LOG_WARNING,
		       "migration of '%s' did not complete within %" PRIu32 " ms; aborting it", vm,
		       w->req->completion_timeout_ms);
	else
		lv_log(w->ctx, LOG_WARNING,
		       "migration of '%s' does not converge: no new low of "
		       "remaining memory (%" PRIu64 " MiB) for %" PRIu32 " ms; aborting it",
		       vm, w->best_remaining >> 20, w->req->no_progress_timeout_ms);
	if (virDomainAbortJob(dom) < 0) {
		/* It may have just finished; the migration thread's result tells. */
		lv_log(w->ctx, LOG_INFO, "aborting the migration of '%s': %s", vm,
		       virGetLastErrorMessage());
		virResetLastError();
	}
}

static void maybe_postcopy(struct watch *w, virDomainPtr dom, uint64_t now)
{
	uint64_t stall = POSTCOPY_STALL_MS;

	if (!(w->req->flags & DROVER_MIGRATE_POSTCOPY) || w->postcopy || !w->job_seen ||
	    w->p.iteration < 2)
		return;
	if (w->req->no_progress_timeout_ms && w->req->no_progress_timeout_ms / 2 < stall)
		stall = w->req->no_progress_timeout_ms / 2;
	if (now - w->best_at < stall)
		return;
	if (virDomainMigrateStartPostCopy(dom, 0) < 0) {
		lv_log(w->ctx, LOG_WARNING,
		       "migration of '%s' does not converge, and switching "
		       "to post-copy failed: %s",
		       w->req->vm, virGetLastErrorMessage());
		virResetLastError();
		w->best_at = now; /* try again after another stall, not every poll */
		return;
	}
	w->postcopy = true;
	lv_log(w->ctx, LOG_INFO,
	       "migration of '%s' does not converge (%" PRIu64 " MiB remaining "
	       "after pass %" PRIu32 "); switched to post-copy",
	       w->req->vm, w->p.memory_remaining >> 20, w->p.iteration);
}

static void check_timeouts(struct watch *w, virDomainPtr dom, uint64_t now)
{
	const struct drover_migrate_req *req = w->req;

	if (w->aborting != ABORT_NONE || w->postcopy)
		return;
	if (req->completion_timeout_ms && now - w->t0 >= req->completion_timeout_ms)
		abort_job(w, dom, ABORT_COMPLETION_TIMEOUT);
	else if (req->no_progress_timeout_ms && w->job_seen &&
		 now - w->best_at >= req->no_progress_timeout_ms)
		abort_job(w, dom, ABORT_NO_PROGRESS);
}

static int check_request(const struct drover_migrate_req *req, char *err, size_t errlen)
{
	if (!req || !DROVER_FITS(struct drover_migrate_req, req, no_progress_timeout_ms))
		return drover_plugin_error(err, errlen, EINVAL, "malformed migration request");
	if (!req->vm || !*req->vm)
		return drover_plugin_error(err, errlen, EINVAL, "migration: no domain name");
	if (!req->dest_uri || !*req->dest_uri)
		return drover_plugin_error(err, errlen, EINVAL,
					   "migration of '%s': no destination URI", req->vm);
	return 0;
}

/* EBUSY if dom has a job running already. */
static int check_no_job(virDomainPtr dom, const char *vm, char *err, size_t errlen)
{
	virDomainJobInfo info;

	if (virDomainGetJobInfo(dom, &info) < 0) {
		virResetLastError();
		return 0; /* the migration call will say what is wrong */
	}
	if (info.type != VIR_DOMAIN_JOB_NONE)
		return drover_plugin_error(err, errlen, EBUSY,
					   "domain '%s' has a job running already (a migration, "
					   "save or dump); not migrating it",
					   vm);
	return 0;
}

static int add_params(const struct drover_migrate_req *req, virTypedParameterPtr *params, int *n,
		      char *err, size_t errlen)
{
	int max = 0;

	if (req->migrate_uri && *req->migrate_uri &&
	    virTypedParamsAddString(params, n, &max, VIR_MIGRATE_PARAM_URI, req->migrate_uri) < 0)
		return lv_fail(err, errlen, "migration of '%s': migration URI '%s'", req->vm,
			       req->migrate_uri);
	if (req->bandwidth_mib_s &&
	    virTypedParamsAddULLong(params, n, &max, VIR_MIGRATE_PARAM_BANDWIDTH,
				    req->bandwidth_mib_s) < 0)
		return lv_fail(err, errlen, "migration of '%s': bandwidth", req->vm);
	return 0;
}

/*
 * How long the guest was paused for the switch-over, as the target measured
 * it. Once the migration completed, the source's domain is gone (undefined),
 * and its completed-job statistics with it, so they are read from the target
 * over a short-lived connection, and left there (KEEP_COMPLETED) for whoever
 * else looks, e.g. `virsh domjobinfo --completed`. 0 when they cannot be
 * had: the migration itself succeeded either way.
 */
static uint64_t dest_downtime(const char *dest_uri, const char *vm)
{
	virTypedParameterPtr params = NULL;
	unsigned long long v = 0;
	virConnectPtr dc;
	virDomainPtr d;
	int type, n = 0;

	dc = virConnectOpen(dest_uri);
	if (!dc) {
		virResetLastError();
		return 0;
	}
	d = virDomainLookupByName(dc, vm);
	if (d && virDomainGetJobStats(d, &type, &params, &n,
				       VIR_DOMAIN_JOB_STATS_COMPLETED |
					       VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED) == 0) {
		if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_DOWNTIME, &v) != 1)
			v = 0;
		virTypedParamsFree(params, n);
	}
	if (d)
		virDomainFree(d);
	virConnectClose(dc);
	virResetLastError();
	return v;
}

static int result(struct watch *w, struct mig_call *m, virDomainPtr dom, char *err, size_t errlen)
{
	const struct drover_migrate_req *req = w->req;
	const char *vm = req->vm;
	const char *net = req->migrate_uri && *req->migrate_uri ? req->migrate_uri : "(default)";
	bool here;
	int r;

	if (m->rc == 0) {
		/* Done: nothing remains; processed keeps its maximum. */
		w->p.memory_remaining = 0;
		w->p.downtime_ms = dest_downtime(req->dest_uri, vm);
		report(w);
		lv_log(w->ctx, LOG_INFO, "migrated '%s' to '%s' over %s%s in %" PRIu64 " ms%s", vm,
		       req->dest_uri, net, req->flags & DROVER_MIGRATE_TLS ? " with TLS" : "",
		       lv_now_ms() - w->t0,
		       w->postcopy ? " (finished in post-copy)" : "");
		return 0;
	}

	r = virDomainIsActive(dom);
	here = r == 1;
	virResetLastError();
	switch (w->aborting) {
	case ABORT_COMPLETION_TIMEOUT:
		return drover_plugin_error(
		    err, errlen, ETIMEDOUT,
		    "migration of '%s' to '%s' did not complete within %" PRIu32 " ms; aborted%s",
		    vm, req->dest_uri, req->completion_timeout_ms,
		    here ? ", it still runs here" : "");
	case ABORT_NO_PROGRESS:
		return drover_plugin_error(
		    err, errlen, ETIMEDOUT,
		    "migration of '%s' to '%s' does not converge: remaining "
		    "memory did not go below %" PRIu64 " MiB for %" PRIu32 " ms; aborted%s",
		    vm, req->dest_uri, w->best_remaining >> 20, req->no_progress_timeout_ms,
		    here ? ", it still runs here" : "");
	case ABORT_NONE:
		break;
	}
	if (marker_take(w->ctx, vm) || m->err.code == VIR_ERR_OPERATION_ABORTED)
		return drover_plugin_error(err, errlen, ECANCELED,
					   "migration of '%s' to '%s' was aborted on request%s", vm,
					   req->dest_uri, here ? "; it still runs here" : "");
	r = lv_fail_from(&m->err, EHOSTUNREACH, err, errlen, "migrating '%s' to '%s' over %s%s", vm,
			 req->dest_uri, net,
			 w->postcopy ? " (failed in post-copy: the domain may be paused on both "
				       "hosts)"
				     : "");
	/* Our own connection broke, rather than the target being unreachable? */
	if (atomic_load(&w->ctx->conn_lost) || virConnectIsAlive(w->ctx->conn) != 1)
		r = -ENOTCONN;
	virResetLastError();
	return r;
}

int lv_vm_migrate(void *opaque, const struct drover_migrate_req *req, drover_progress_fn progress,
		  void *prog_opaque, char *err, size_t errlen)
{
	struct lv_ctx *ctx = opaque;
	struct mig_call m = {.nparams = 0};
	struct watch w = {.ctx = ctx, .req = req, .progress = progress, .opaque = prog_opaque};
	pthread_condattr_t ca;
	pthread_t thread;
	virConnectPtr conn;
	virDomainPtr dom;
	virDomainInfo info;
	uint64_t next_report;
	int r;

	r = check_request(req, err, errlen);
	if (r < 0)
		return r;
	r = lv_conn_get(ctx, &conn, err, errlen);
	if (r < 0)
		return r;
	dom = virDomainLookupByName(conn, req->vm);
	if (!dom) {
		if (lv_last_code() == VIR_ERR_NO_DOMAIN) {
			virResetLastError();
			return drover_plugin_error(
			    err, errlen, ENOENT, "no domain '%s' on this host to migrate", req->vm);
		}
		return lv_fail(err, errlen, "looking up domain '%s'", req->vm);
	}
	if (virDomainGetInfo(dom, &info) < 0) {
		r = lv_fail(err, errlen, "reading the state of '%s'", req->vm);
		goto out_dom;
	}
	if (info.state != VIR_DOMAIN_RUNNING && info.state != VIR_DOMAIN_BLOCKED &&
	    info.state != VIR_DOMAIN_PAUSED) {
		r = drover_plugin_error(err, errlen, EINVAL,
					"domain '%s' is %s here; only a running domain can be "
					"live-migrated",
					req->vm, lv_state_name(lv_state_from_virt(info.state)));
		goto out_dom;
	}
	r = check_no_job(dom, req->vm, err, errlen);
	if (r < 0)
		goto out_dom;
	r = add_params(req, &m.params, &m.nparams, err, errlen);
	if (r < 0)
		goto out_params;

	(void)marker_take(ctx, req->vm); /* stale: from an abort that came too late */
	m.dom = dom;
	m.dest_uri = req->dest_uri;
	m.flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_PERSIST_DEST |
		  VIR_MIGRATE_UNDEFINE_SOURCE;
	if (req->flags & DROVER_MIGRATE_AUTO_CONVERGE)
		m.flags |= VIR_MIGRATE_AUTO_CONVERGE;
	if (req->flags & DROVER_MIGRATE_POSTCOPY)
		m.flags |= VIR_MIGRATE_POSTCOPY;
	if (req->flags & DROVER_MIGRATE_TLS)
		m.flags |= VIR_MIGRATE_TLS;
	pthread_mutex_init(&m.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m.cond, &ca);
	pthread_condattr_destroy(&ca);

	w.t0 = lv_now_ms();
	w.p.memory_total = (uint64_t)info.memory * 1024;
	w.p.memory_remaining = w.p.memory_total;
	lv_log(ctx, LOG_INFO, "migrating '%s' to '%s' over %s%s%s%s%s", req->vm, req->dest_uri,
	       req->migrate_uri && *req->migrate_uri ? req->migrate_uri : "(default)",
	       req->flags & DROVER_MIGRATE_TLS ? " with TLS" : "",
	       req->bandwidth_mib_s ? " (bandwidth capped)" : "",
	       req->flags & DROVER_MIGRATE_AUTO_CONVERGE ? " auto-converge" : "",
	       req->flags & DROVER_MIGRATE_POSTCOPY ? " post-copy allowed" : "");
	r = lv_thread_create(&thread, mig_thread, &m);
	if (r < 0) {
		r = drover_plugin_error(err, errlen, -r, "cannot start the migration thread: %s",
					strerror(-r));
		goto out_sync;
	}
	report(&w); /* iteration 0: nothing moved yet */
	next_report = w.t0 + REPORT_MS;

	for (;;) {
		struct job_sample s;
		uint64_t now;
		bool first;

		if (mig_wait(&m, lv_now_ms() + POLL_MS))
			break;
		read_stats(dom, &s);
		now = lv_now_ms();
		first = !w.job_seen;
		take_sample(&w, &s, now);
		if ((first && w.job_seen) || now >= next_report) {
			report(&w);
			next_report = now + REPORT_MS;
		}
		maybe_postcopy(&w, dom, now);
		check_timeouts(&w, dom, now);
	}
	pthread_join(thread, NULL);
	r = result(&w, &m, dom, err, errlen);
	(void)marker_take(ctx, req->vm);
	virResetError(&m.err);
out_sync:
	pthread_cond_destroy(&m.cond);
	pthread_mutex_destroy(&m.lock);
out_params:
	virTypedParamsFree(m.params, m.nparams);
out_dom:
	virDomainFree(dom);
	virResetLastError();
	return r;
}

int lv_vm_abort_migration(void *opaque, const char *vm, char *err, size_t errlen)
{
	struct lv_ctx *ctx = opaque;
	virConnectPtr conn;
	virDomainPtr dom;
	virTypedParameterPtr params = NULL;
	int type = VIR_DOMAIN_JOB_NONE, n = 0, op = -1, r;

	if (!vm || !*vm)
		return drover_plugin_error(err, errlen, EINVAL, "no domain name");
	r = lv_conn_get(ctx, &conn, err, errlen);
	if (r < 0)
		return r;
	dom = virDomainLookupByName(conn, vm);
	if (!dom) {
		if (lv_last_code() == VIR_ERR_NO_DOMAIN) {
			virResetLastError();
			return drover_plugin_error(
			    err, errlen, ESRCH,
			    "no migration of '%s' is running (no such domain "
			    "here)",
			    vm);
		}
		return lv_fail(err, errlen, "looking up domain '%s'", vm);
	}
	if (virDomainGetJobStats(dom, &type, &params, &n, 0) < 0) {
		r = lv_fail(err, errlen, "reading the job of '%s'", vm);
		goto out;
	}
	if (virTypedParamsGetInt(params, n, VIR_DOMAIN_JOB_OPERATION, &op) != 1)
		op = -1;
	virTypedParamsFree(params, n);
	if (type == VIR_DOMAIN_JOB_NONE) {
		r = drover_plugin_error(err, errlen, ESRCH, "no migration of '%s' is running", vm);
		goto out;
	}
	if (op != -1 && op != VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT) {
		r = drover_plugin_error(err, errlen, ESRCH,
					"the job running on '%s' is not an outgoing migration "
					"(operation %d); left alone",
					vm, op);
		goto out;
	}
	marker_set(ctx, vm);
	if (virDomainAbortJob(dom) < 0) {
		virError e = {0};
		int state, reason;

		virCopyLastError(&e);
		(void)marker_take(ctx, vm);
		if (virDomainGetState(dom, &state, &reason, 0) == 0 && state == VIR_DOMAIN_PAUSED &&
		    reason == VIR_DOMAIN_PAUSED_POSTCOPY)
			r = drover_plugin_error(
			    err, errlen, EBUSY,
			    "the migration of '%s' is in post-copy and cannot be "
			    "aborted: %s",
			    vm, e.message ? e.message : "refused");
		else if (e.code == VIR_ERR_OPERATION_INVALID)
			r = drover_plugin_error(err, errlen, ESRCH,
						"no migration of '%s' is running (%s)", vm,
						e.message ? e.message : "no job");
		else
			r = lv_fail_from(&e, ECONNREFUSED, err, errlen,
					 "aborting the migration of '%s'", vm);
		virResetError(&e);
		goto out;
	}
	lv_log(ctx, LOG_INFO, "aborted the outgoing migration of '%s' on request", vm);
	r = 0;
out:
	virDomainFree(dom);
	virResetLastError();
	return r;
}
