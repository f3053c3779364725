/*
 * The connection to libvirt and the event loop it needs.
 *
 * libvirt runs keepalive, the connection close callback and domain event
 * callbacks from an event loop that the application must provide. We use
 * libvirt's own (virEventRegisterDefaultImpl()) and run it in a thread of our
 * own, started by the first init() of the process and stopped by the last
 * fini(). The loop has no file descriptor to hand to the agent, which is why
 * events reach the agent through a pipe (libvirt_events.c).
 *
 * Keepalive: with it, a libvirtd that hangs or a network that drops is
 * noticed after interval * (count + 1) seconds; libvirt then closes the
 * connection and calls our close callback, which only raises conn_lost. The
 * next call reconnects (lv_conn_get()), so a worker survives a libvirtd
 * restart; the events worker does not reconnect but fails its dispatch, so
 * the agent restarts it and tells droverd CONNECTION_RESTORED (events may
 * have been missed meanwhile, and droverd must re-read the inventory).
 *
 * Considered and rejected: polling virConnectIsAlive() from each call alone
 * (a hung libvirtd would keep the socket open and every call would hang until
 * the job deadline), and the older virEventRegisterImpl() with our own poll
 * loop (more code, same result).
 *
 * libvirt's default error handler prints every error to stderr. We replace
 * it with one that logs at debug level: each call reports its own failure
 * with context, through err.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "libvirt_plugin.h"

static pthread_once_t register_once = PTHREAD_ONCE_INIT;
static int register_rc;
static char register_error[256];

static pthread_mutex_t loop_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned loop_users;
static pthread_t loop_thread;
static atomic_bool loop_quit;
/* The host of the first init(), for the error handler and the loop thread. */
static _Atomic(const struct drover_plugin_host *) log_host;

uint64_t lv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void lv_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int lv_thread_create(pthread_t *ret_thread, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(ret_thread, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -r;
}

static void quiet_error(void *opaque, virErrorPtr e)
{
	const struct drover_plugin_host *h = atomic_load(&log_host);

	(void)opaque;
	if (h && e && e->message && DROVER_HOST_HAS(h, log))
		h->log(h, LOG_DEBUG, "libvirt error %d (domain %d): %s", e->code, e->domain,
		       e->message);
}

static void register_impl(void)
{
	if (virInitialize() < 0) {
		register_rc = -1;
		snprintf(register_error, sizeof(register_error), "virInitialize() failed");
		return;
	}
	virSetErrorFunc(NULL, quiet_error);
	register_rc = virEventRegisterDefaultImpl();
	if (register_rc < 0) {
		const virError *e = virGetLastError();

		snprintf(register_error, sizeof(register_error), "%s",
			 e && e->message ? e->message : "virEventRegisterDefaultImpl() failed");
	}
}

static void *loop_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&loop_quit)) {
		if (virEventRunDefaultImpl() < 0) {
			const struct drover_plugin_host *h = atomic_load(&log_host);
			const virError *e = virGetLastError();

			if (h && DROVER_HOST_HAS(h, log))
				h->log(h, LOG_ERR, "libvirt event loop: %s; retrying in 100 ms",
				       e && e->message ? e->message : "failed");
			lv_sleep_ms(100);
		}
	}
	return NULL;
}

static void wake_timer(int timer, void *opaque)
{
	(void)timer;
	(void)opaque;
}

int lv_loop_start(const struct lv_ctx *ctx, char *err, size_t errlen)
{
	const struct drover_plugin_host *none = NULL;
	int r = 0;

	atomic_compare_exchange_strong(&log_host, &none, ctx->host);
	pthread_once(&register_once, register_impl);
	if (register_rc < 0)
		return drover_plugin_error(
		    err, errlen, EIO, "cannot set up libvirt's event loop: %s", register_error);
	pthread_mutex_lock(&loop_lock);
	if (loop_users == 0) {
		atomic_store(&loop_quit, false);
		r = lv_thread_create(&loop_thread, loop_main, NULL);
	}
	if (r == 0)
		loop_users++;
	pthread_mutex_unlock(&loop_lock);
	if (r < 0)
		return drover_plugin_error(
		    err, errlen, -r, "cannot start libvirt's event loop thread: %s", strerror(-r));
	return 0;
}

void lv_loop_stop(void)
{
	pthread_mutex_lock(&loop_lock);
	if (loop_users > 0 && --loop_users == 0) {
		int timer;

		atomic_store(&loop_quit, true);
		/* A timer that is due at once wakes the loop up from its poll(). */
		timer = virEventAddTimeout(0, wake_timer, NULL, NULL);
		pthread_join(loop_thread, NULL);
		if (timer >= 0)
			virEventRemoveTimeout(timer);
	}
	pthread_mutex_unlock(&loop_lock);
}

static const char *close_reason_name(int reason)
{
	switch (reason) {
	case VIR_CONNECT_CLOSE_REASON_ERROR:
		return "socket error";
	case VIR_CONNECT_CLOSE_REASON_EOF:
		return "libvirtd closed the connection";
	case VIR_CONNECT_CLOSE_REASON_KEEPALIVE:
		return "keepalive timed out";
	case VIR_CONNECT_CLOSE_REASON_CLIENT:
		return "closed by us";
	default:
		return "unknown reason";
	}
}

/* Runs in the event loop thread. */
static void close_cb(virConnectPtr conn, int reason, void *opaque)
{
	struct lv_ctx *ctx = opaque;

	(void)conn;
	if (reason == VIR_CONNECT_CLOSE_REASON_CLIENT)
		return;
	atomic_store(&ctx->conn_lost_reason, reason);
	atomic_store(&ctx->conn_lost, true);
	lv_log(ctx, LOG_WARNING, "connection to '%s' lost: %s", ctx->cfg.uri,
	       close_reason_name(reason));
	lv_events_connection_lost(ctx, reason);
}

int lv_conn_open(struct lv_ctx *ctx, char *err, size_t errlen)
{
	virConnectPtr conn;
	int r;

	virResetLastError();
	/* No auth callback: a worker has no terminal to ask a password on. */
	conn = virConnectOpen(ctx->cfg.uri);
	if (!conn) {
		r = lv_fail(err, errlen, "cannot connect to libvirt at '%s'", ctx->cfg.uri);
		/* Whatever went wrong, the hypervisor cannot be reached. */
		return r == -EIO ? -ECONNREFUSED : r;
	}
	if (ctx->cfg.keepalive_interval > 0) {
		r = virConnectSetKeepAlive(conn, ctx->cfg.keepalive_interval,
					   ctx->cfg.keepalive_count);
		if (r < 0 && lv_last_code() == VIR_ERR_NO_SUPPORT) {
			lv_log(ctx, LOG_DEBUG, "'%s' does not support keepalive (a local driver)",
			       ctx->cfg.uri);
		} else if (r < 0) {
			const virError *e = virGetLastError();

			lv_log(ctx, LOG_WARNING,
			       "cannot enable keepalive on '%s': %s; a hung libvirtd will only be "
			       "noticed by job deadlines",
			       ctx->cfg.uri, e && e->message ? e->message : "unknown error");
		} else if (r == 1) {
			lv_log(ctx, LOG_DEBUG, "'%s' does not support keepalive (a local driver)",
			       ctx->cfg.uri);
		}
	}
	atomic_store(&ctx->conn_lost, false);
	if (virConnectRegisterCloseCallback(conn, close_cb, ctx, NULL) < 0)
		lv_log(ctx, LOG_DEBUG, "'%s' has no close callback; relying on keepalive checks",
		       ctx->cfg.uri);
	virResetLastError();
	ctx->conn = conn;
	return 0;
}

void lv_conn_close(struct lv_ctx *ctx)
{
	if (!ctx->conn)
		return;
	(void)virConnectUnregisterCloseCallback(ctx->conn, close_cb);
	(void)virConnectClose(ctx->conn);
	virResetLastError();
	ctx->conn = NULL;
}

int lv_conn_get(struct lv_ctx *ctx, virConnectPtr *ret_conn, char *err, size_t errlen)
{
	int r;

	if (ctx->conn && !atomic_load(&ctx->conn_lost) && virConnectIsAlive(ctx->conn) == 1) {
		*ret_conn = ctx->conn;
		return 0;
	}
	if (ctx->events_on)
		return drover_plugin_error(
		    err, errlen, ENOTCONN, "the connection to libvirt at '%s' was lost (%s)",
		    ctx->cfg.uri, close_reason_name(atomic_load(&ctx->conn_lost_reason)));
	if (ctx->conn)
		lv_log(ctx, LOG_INFO, "the connection to '%s' was lost; reconnecting",
		       ctx->cfg.uri);
	lv_conn_close(ctx);
	r = lv_conn_open(ctx, err, errlen);
	if (r < 0)
		return r;
	*ret_conn = ctx->conn;
	return 0;
}
