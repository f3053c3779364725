/*
 * libvirt domain events as drover events, for the agent's events worker.
 *
 * libvirt calls our callbacks from its event loop thread (libvirt_conn.c),
 * which has no fd the agent could poll. So the callbacks queue a copy of each
 * event and write a byte to a pipe; events_fd() returns the pipe's read end,
 * and events_dispatch() (the agent's thread, when the pipe is readable)
 * drains the queue and calls host->event() for each, in order. host->event()
 * is thus called from one thread only, and libvirt's thread never blocks on
 * the agent. A destroyed VM reaches the agent within milliseconds.
 *
 * The queue is bounded (LV_EVENT_QUEUE_MAX). If the agent stops reading for
 * that long, further events are dropped and dispatch fails, so the agent
 * restarts the events worker and tells droverd CONNECTION_RESTORED, which
 * makes it re-read the inventory: a lost event must never leave droverd
 * believing in a VM that is gone.
 *
 * A lost connection (keepalive, libvirtd restart) is reported as
 * CONNECTION_LOST and then dispatch fails for the same reason: the callbacks
 * died with the connection and events may have been missed; the agent's
 * restart of the worker reconnects and reports CONNECTION_RESTORED.
 *
 * Lifecycle mapping (libvirt event/detail -> drover event, detail text):
 * STARTED -> STARTED, SUSPENDED -> PAUSED, PMSUSPENDED -> PAUSED,
 * RESUMED -> RESUMED, STOPPED/MIGRATED -> MIGRATED_AWAY,
 * STOPPED/CRASHED|FAILED and CRASHED -> CRASHED, other STOPPED -> STOPPED,
 * DEFINED -> DEFINED, UNDEFINED -> UNDEFINED. SHUTDOWN ("the guest is shutting
 * down") is not forwarded: the STOPPED that follows says what droverd needs.
 * Device added/removed carry the device alias as detail.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "libvirt_plugin.h"

struct lv_event {
	struct lv_event *next;
	int type;
	char *vm;
	char *detail;
};

static void wake(struct lv_ctx *ctx)
{
	ssize_t n;

	do {
		n = write(ctx->ev_pipe[1], "e", 1);
	} while (n < 0 && errno == EINTR);
	/* EAGAIN: the pipe is full of wake-ups already, which is as good. */
}

static void queue_event(struct lv_ctx *ctx, int type, const char *vm, const char *detail)
{
	struct lv_event *ev;

	pthread_mutex_lock(&ctx->ev_lock);
	if (!ctx->events_on) {
		pthread_mutex_unlock(&ctx->ev_lock);
		return;
	}
	if (ctx->ev_count >= LV_EVENT_QUEUE_MAX) {
		ctx->ev_overflow = true;
		goto out;
	}
	ev = calloc(1, sizeof(*ev));
	if (ev) {
		ev->type = type;
		ev->vm = strdup(vm ? vm : "");
		ev->detail = detail ? strdup(detail) : NULL;
	}
	if (!ev || !ev->vm || (detail && !ev->detail)) {
		if (ev) {
			free(ev->vm);
			free(ev->detail);
			free(ev);
		}
		ctx->ev_overflow = true;
		goto out;
	}
	if (ctx->ev_tail)
		ctx->ev_tail->next = ev;
	else
		ctx->ev_head = ev;
	ctx->ev_tail = ev;
	ctx->ev_count++;
out:
	/* Under the lock: lv_events_fini() closes the pipe under it too. */
	wake(ctx);
	pthread_mutex_unlock(&ctx->ev_lock);
}

static void map_lifecycle(int event, int detail, int *ret_type, const char **ret_detail)
{
	static const char *const defined[] = {"added", "updated", "renamed", "from-snapshot"};
	static const char *const undefined[] = {"removed", "renamed"};
	static const char *const started[] = {"booted", "migrated", "restored", "from-snapshot",
					      "wakeup"};
	static const char *const suspended[] = {"paused",    "migrated", "ioerror",
						"watchdog",  "restored", "from-snapshot",
						"api-error", "postcopy", "postcopy-failed"};
	static const char *const resumed[] = {"unpaused", "migrated", "from-snapshot", "postcopy",
					      "postcopy-failed"};
	static const char *const stopped[] = {"shutdown", "destroyed", "crashed",      "migrated",
					      "saved",    "failed",    "from-snapshot"};
	static const char *const pmsuspended[] = {"pm-suspended-memory", "pm-suspended-disk"};
	static const char *const crashed[] = {"panicked", "crashloaded"};
#define PICK(a) (detail >= 0 && (size_t)detail < sizeof(a) / sizeof(a[0]) ? a[detail] : "other")

	*ret_type = DROVER_EVENT_UNKNOWN;
	*ret_detail = "other";
	switch (event) {
	case VIR_DOMAIN_EVENT_DEFINED:
		*ret_type = DROVER_EVENT_DEFINED;
		*ret_detail = PICK(defined);
		break;
	case VIR_DOMAIN_EVENT_UNDEFINED:
		*ret_type = DROVER_EVENT_UNDEFINED;
		*ret_detail = PICK(undefined);
		break;
	case VIR_DOMAIN_EVENT_STARTED:
		*ret_type = DROVER_EVENT_STARTED;
		*ret_detail = PICK(started);
		break;
	case VIR_DOMAIN_EVENT_SUSPENDED:
		*ret_type = DROVER_EVENT_PAUSED;
		*ret_detail = PICK(suspended);
		break;
	case VIR_DOMAIN_EVENT_RESUMED:
		*ret_type = DROVER_EVENT_RESUMED;
		*ret_detail = PICK(resumed);
		break;
	case VIR_DOMAIN_EVENT_STOPPED:
		*ret_detail = PICK(stopped);
		if (detail == VIR_DOMAIN_EVENT_STOPPED_MIGRATED)
			*ret_type = DROVER_EVENT_MIGRATED_AWAY;
		else if (detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED ||
			 detail == VIR_DOMAIN_EVENT_STOPPED_FAILED)
			*ret_type = DROVER_EVENT_CRASHED;
		else
			*ret_type = DROVER_EVENT_STOPPED;
		break;
	case VIR_DOMAIN_EVENT_PMSUSPENDED:
		*ret_type = DROVER_EVENT_PAUSED;
		*ret_detail = PICK(pmsuspended);
		break;
	case VIR_DOMAIN_EVENT_CRASHED:
		*ret_type = DROVER_EVENT_CRASHED;
		*ret_detail = PICK(crashed);
		break;
	default: /* VIR_DOMAIN_EVENT_SHUTDOWN and anything newer */
		break;
	}
#undef PICK
}

static int lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	struct lv_ctx *ctx = opaque;
	const char *text;
	int type;

	(void)conn;
	map_lifecycle(event, detail, &type, &text);
	if (type == DROVER_EVENT_UNKNOWN)
		return 0;
	queue_event(ctx, type, virDomainGetName(dom), text);
	return 0;
}

static void device_added_cb(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	(void)conn;
	queue_event(opaque, DROVER_EVENT_DEVICE_ADDED, virDomainGetName(dom), alias);
}

static void device_removed_cb(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	(void)conn;
	queue_event(opaque, DROVER_EVENT_DEVICE_REMOVED, virDomainGetName(dom), alias);
}

void lv_events_connection_lost(struct lv_ctx *ctx, int reason)
{
	pthread_mutex_lock(&ctx->ev_lock);
	if (!ctx->events_on) {
		pthread_mutex_unlock(&ctx->ev_lock);
		return;
	}
	ctx->ev_conn_lost = true;
	wake(ctx);
	pthread_mutex_unlock(&ctx->ev_lock);
	(void)reason;
}

int lv_events_fd(void *opaque)
{
	struct lv_ctx *ctx = opaque;
	virConnectPtr conn;
	char err[512] = "";
	int r;

	if (ctx->events_on)
		return ctx->ev_pipe[0];
	r = lv_conn_get(ctx, &conn, err, sizeof(err));
	if (r < 0) {
		lv_log(ctx, LOG_ERR, "events: %s", err);
		return r;
	}
	if (pipe2(ctx->ev_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = -errno;
		lv_log(ctx, LOG_ERR, "events: pipe2: %s", strerror(errno));
		ctx->ev_pipe[0] = ctx->ev_pipe[1] = -1;
		return r;
	}
	pthread_mutex_lock(&ctx->ev_lock);
	ctx->events_on = true;
	pthread_mutex_unlock(&ctx->ev_lock);

	ctx->cb_lifecycle =
	    virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
					     VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), ctx, NULL);
	if (ctx->cb_lifecycle < 0) {
		r = lv_fail(err, sizeof(err), "registering for domain events on '%s'",
			    ctx->cfg.uri);
		lv_log(ctx, LOG_ERR, "events: %s", err);
		lv_events_fini(ctx);
		return r;
	}
	ctx->cb_device_added =
	    virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
					     VIR_DOMAIN_EVENT_CALLBACK(device_added_cb), ctx, NULL);
	ctx->cb_device_removed = virConnectDomainEventRegisterAny(
	    conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
	    VIR_DOMAIN_EVENT_CALLBACK(device_removed_cb), ctx, NULL);
	if (ctx->cb_device_added < 0 || ctx->cb_device_removed < 0)
		lv_log(ctx, LOG_WARNING, "events: '%s' does not report device hot-plug events: %s",
		       ctx->cfg.uri, virGetLastErrorMessage());
	virResetLastError();
	lv_log(ctx, LOG_DEBUG, "events: listening for domain events on '%s'", ctx->cfg.uri);
	return ctx->ev_pipe[0];
}

int lv_events_dispatch(void *opaque)
{
	struct lv_ctx *ctx = opaque;
	struct lv_event *list, *next;
	bool overflow, lost;
	char buf[256];

	if (!ctx->events_on)
		return -EINVAL;
	while (read(ctx->ev_pipe[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&ctx->ev_lock);
	list = ctx->ev_head;
	ctx->ev_head = ctx->ev_tail = NULL;
	ctx->ev_count = 0;
	overflow = ctx->ev_overflow;
	lost = ctx->ev_conn_lost;
	ctx->ev_overflow = false;
	pthread_mutex_unlock(&ctx->ev_lock);

	for (struct lv_event *ev = list; ev; ev = next) {
		struct drover_vm_event e = {
		    .size = sizeof(e),
		    .type = ev->type,
		    .vm = ev->vm,
		    .detail = ev->detail,
		};

		next = ev->next;
		if (DROVER_HOST_HAS(ctx->host, event))
			ctx->host->event(ctx->host, &e);
		free(ev->vm);
		free(ev->detail);
		free(ev);
	}
	if (lost) {
		struct drover_vm_event e = {
		    .size = sizeof(e),
		    .type = DROVER_EVENT_CONNECTION_LOST,
		    .vm = "",
		    .detail = ctx->cfg.uri,
		};

		if (DROVER_HOST_HAS(ctx->host, event))
			ctx->host->event(ctx->host, &e);
		return -ENOTCONN;
	}
	if (overflow) {
		lv_log(ctx, LOG_ERR,
		       "events: more than %d events queued (or out of memory); some "
		       "were dropped",
		       LV_EVENT_QUEUE_MAX);
		return -ENOBUFS;
	}
	return 0;
}

void lv_events_fini(struct lv_ctx *ctx)
{
	struct lv_event *next;

	if (ctx->conn) {
		if (ctx->cb_lifecycle >= 0)
			virConnectDomainEventDeregisterAny(ctx->conn, ctx->cb_lifecycle);
		if (ctx->cb_device_added >= 0)
			virConnectDomainEventDeregisterAny(ctx->conn, ctx->cb_device_added);
		if (ctx->cb_device_removed >= 0)
			virConnectDomainEventDeregisterAny(ctx->conn, ctx->cb_device_removed);
		virResetLastError();
	}
	ctx->cb_lifecycle = ctx->cb_device_added = ctx->cb_device_removed = -1;
	pthread_mutex_lock(&ctx->ev_lock);
	ctx->events_on = false;
	for (struct lv_event *ev = ctx->ev_head; ev; ev = next) {
		next = ev->next;
		free(ev->vm);
		free(ev->detail);
		free(ev);
	}
	ctx->ev_head = ctx->ev_tail = NULL;
	ctx->ev_count = 0;
	for (int i = 0; i < 2; i++) {
		if (ctx->ev_pipe[i] >= 0)
			close(ctx->ev_pipe[i]);
		ctx->ev_pipe[i] = -1;
	}
	pthread_mutex_unlock(&ctx->ev_lock);
}
