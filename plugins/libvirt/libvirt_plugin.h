/*
 * What the files of the libvirt plugin share: the context of one worker
 * process (struct lv_ctx), its configuration, and the helpers every call
 * uses to reach libvirt and to turn its errors into -errno plus a message.
 *
 * One lv_ctx per init(): in the agent that is one per worker process. The
 * hypervisor is the shared state between workers; nothing here is meant to be
 * shared between processes.
 *
 * Threads: the calling thread (one plugin call at a time), libvirt's event
 * loop thread (libvirt_conn.c: keepalive, the close callback and the domain
 * event callbacks run there), and during vm_migrate() the thread that blocks
 * in the migration call. The event loop thread only touches conn_lost and the
 * event queue, both behind atomics or ev_lock.
 */
#ifndef DROVER_LIBVIRT_PLUGIN_H
#define DROVER_LIBVIRT_PLUGIN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "plugin.h"

#define LV_PLUGIN_NAME "libvirt"
#define LV_DEFAULT_URI "qemu:///system"
#define LV_DEFAULT_KEEPALIVE_INTERVAL 5
#define LV_DEFAULT_KEEPALIVE_COUNT 3
#define LV_DEFAULT_RUNTIME_DIR "/run/drover/libvirt"
/* Events queued for events_dispatch() before the queue counts as overflowed. */
#define LV_EVENT_QUEUE_MAX 4096
/* Domains whose guest agent version an inventory remembers (libvirt_inventory.c). */
#define LV_GA_CACHE 512

struct lv_config {
	char *uri;
	int keepalive_interval; /* seconds; <= 0 disables keepalive */
	unsigned keepalive_count;
	char *runtime_dir; /* abort markers (libvirt_migrate.c) */
};

struct lv_event;
struct lv_ga_entry;

struct lv_ctx {
	const struct drover_plugin_host *host;
	struct lv_config cfg;

	/* Owned by the calling thread; replaced only by lv_conn_get(). */
	virConnectPtr conn;
	/* Set by the close callback (event loop thread). */
	atomic_bool conn_lost;
	atomic_int conn_lost_reason;

	/* Events (libvirt_events.c); used only after events_fd(). */
	bool events_on;
	int cb_lifecycle, cb_device_added, cb_device_removed;
	int ev_pipe[2];
	pthread_mutex_t ev_lock;
	struct lv_event *ev_head, *ev_tail;
	size_t ev_count;
	bool ev_overflow;
	bool ev_conn_lost;

	/* Guest agent versions (libvirt_inventory.c), LV_GA_CACHE entries; calling thread only. */
	struct lv_ga_entry *ga_cache;
};

/* libvirt_plugin.c */
void lv_log(const struct lv_ctx *ctx, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int lv_config_parse(const char *config, struct lv_config *ret_cfg, char *err, size_t errlen);
void lv_config_free(struct lv_config *cfg);

/* libvirt_conn.c */
int lv_loop_start(const struct lv_ctx *ctx, char *err, size_t errlen);
void lv_loop_stop(void);
int lv_conn_open(struct lv_ctx *ctx, char *err, size_t errlen);
/*
 * The connection for a call: reopened if keepalive or the socket said it
 * died. In the events worker a dead connection is an error instead (the
 * event callbacks went with it; the agent restarts the worker).
 */
int lv_conn_get(struct lv_ctx *ctx, virConnectPtr *ret_conn, char *err, size_t errlen);
void lv_conn_close(struct lv_ctx *ctx);
/* Block every signal in threads we start: the worker's main thread owns them. */
int lv_thread_create(pthread_t *ret_thread, void *(*fn)(void *), void *arg);
uint64_t lv_now_ms(void);
void lv_sleep_ms(unsigned ms);

/* libvirt_error.c */
/*
 * The errno for a libvirt error. `unreachable` is what a failure to reach
 * the other end means in this context (ECONNREFUSED for our hypervisor,
 * EHOSTUNREACH for a migration target).
 */
int lv_errno(const virError *e, int unreachable);
/*
 * Write "<what>: <libvirt's message>" into err and return -errno, from e
 * (a copy taken in the thread that failed) or, if e is NULL, from this
 * thread's last libvirt error.
 */
int lv_fail_from(const virError *e, int unreachable, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define lv_fail(err, errlen, ...) lv_fail_from(NULL, ECONNREFUSED, err, errlen, __VA_ARGS__)
/* The libvirt error code of this thread's last error, or VIR_ERR_OK. */
int lv_last_code(void);

/* libvirt_inventory.c */
int lv_inventory(void *ctx, struct drover_inventory *inv, char *err, size_t errlen);
int lv_state_from_virt(int state);
const char *lv_state_name(int state);

/* libvirt_lifecycle.c */
int lv_vm_start(void *ctx, const char *vm, const char *xml, char *err, size_t errlen);
int lv_vm_stop(void *ctx, const char *vm, uint32_t timeout_ms, char *err, size_t errlen);

/* libvirt_migrate.c */
int lv_vm_migrate(void *opaque, const struct drover_migrate_req *req, drover_progress_fn progress,
		  void *prog_opaque, char *err, size_t errlen);
int lv_vm_abort_migration(void *ctx, const char *vm, char *err, size_t errlen);

/* libvirt_devices.c */
int lv_device_attach(void *ctx, const char *vm, const char *device_xml, char *err, size_t errlen);
int lv_device_detach(void *ctx, const char *vm, const char *device_xml, char *err, size_t errlen);
int lv_device_detach_wait(void *ctx, const struct drover_device_req *req, char *err,
			  size_t errlen);

/* libvirt_events.c */
int lv_events_init(struct lv_ctx *ctx, char *err, size_t errlen);
void lv_events_fini(struct lv_ctx *ctx);
void lv_events_connection_lost(struct lv_ctx *ctx, int reason);
int lv_events_fd(void *ctx);
int lv_events_dispatch(void *ctx);

#endif
