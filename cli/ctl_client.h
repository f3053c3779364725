/*
 * The CLI side of the control channel (common/ctl.h): request/response
 * exchanges with the local droverd, and the events of a subscription.
 *
 * Wire contract, both directions over libqb IPC service DROVER_IPC_NAME:
 *   request:  struct qb_ipc_request_header  { id = DROVER_IPC_MSG_ENVELOPE,
 *                                             size = header + frame bytes }
 *             then one frame (frame.h) holding an Envelope with ctl_request;
 *   response: struct qb_ipc_response_header { id = DROVER_IPC_MSG_ENVELOPE,
 *                                             size = header + frame bytes,
 *                                             error = 0 }
 *             then one frame holding an Envelope with ctl_response;
 *   event:    the same as a response, sent on libqb's event channel, with
 *             ctl_response.event_seq set (after a SubscribeRequest).
 * The daemon answers every request exactly once; a state change is answered
 * only once the cluster has applied it, so the client waits its full timeout.
 *
 * Two ways to use it: ctl_client_call() for a one-shot command (connect, ask,
 * disconnect, diagnosis on stderr), and a struct ctl_conn that stays open for
 * commands that watch (`drover top`, `node drain --wait`), which reports its
 * failures into a caller's buffer instead, since a curses screen must not get
 * stray text on stderr.
 */
#ifndef DROVER_CTL_CLIENT_H
#define DROVER_CTL_CLIENT_H

#include <stddef.h>

#include "drover.pb-c.h"
#include "frame.h"
#include "util.h"

/*
 * Send req to the local droverd and wait up to timeout_ms for its answer.
 * On success returns 0 and *ret_env, an Envelope whose body is ctl_response
 * (release it with frame_free()). On failure a one-line diagnosis, prefixed
 * "drover: ", has been printed on stderr and the return is one of:
 *   -EACCES      droverd refused us: not root and not in its group
 *   -EPERM       the control socket is held by a process that is not droverd's
 *                user (root, or DROVER_DAEMON_USER): nothing was sent to it
 *   -EINVAL      DROVER_DAEMON_USER names no user
 *   -ENOTCONN    no droverd to connect to
 *   -ECONNRESET  droverd closed the connection before answering
 *   -ETIMEDOUT   no answer within timeout_ms
 *   -EBADMSG     the answer is not a well-formed ctl_response
 *   -EPROTO      any other failure of the exchange
 * ctl_client_exit_code() turns these into the CLI's exit code.
 */
int ctl_client_call(const Drover__CtlRequest *req, int timeout_ms, Drover__Envelope **ret_env);

/* The crm_exit_t number for a ctl_client_call() failure. */
int ctl_client_exit_code(int err);

DEFINE_TRIVIAL_CLEANUP_FUNC(Drover__Envelope *, frame_free)
#define _cleanup_envelope_ _cleanup_(frame_freep)

/* ---- a connection that stays open ---- */

struct ctl_conn;

/*
 * Every function below that can fail returns the -errno values of
 * ctl_client_call() and writes the one-line diagnosis (without the "drover: "
 * prefix) into err[0..err_size); nothing is printed.
 */
int ctl_conn_open(struct ctl_conn **ret, char *err, size_t err_size);
/* NULL is accepted. */
void ctl_conn_close(struct ctl_conn *c);

/* One request and its response, as ctl_client_call(). */
int ctl_conn_call(struct ctl_conn *c, const Drover__CtlRequest *req, int timeout_ms,
		  Drover__Envelope **ret_env, char *err, size_t err_size);

/*
 * Ask for events (SubscribeRequest). Returns 0, a ctl_client_call() error, or
 * the daemon's refusal as a positive exit code (with its reason in err): a
 * daemon that does not know the request answers so, and the caller then
 * polls instead.
 */
int ctl_conn_subscribe(struct ctl_conn *c, int timeout_ms, char *err, size_t err_size);

/*
 * The descriptor that becomes readable (POLLIN) when an event arrives or the
 * daemon goes away; then call ctl_conn_event_recv() until it returns -EAGAIN.
 */
int ctl_conn_fd(const struct ctl_conn *c);

/*
 * One event, waiting up to timeout_ms (0: only what is there). Returns 0 and
 * *ret_env (a ctl_response with event_seq set), -EAGAIN when none came, or a
 * ctl_client_call() error (-ECONNRESET when droverd went away).
 */
int ctl_conn_event_recv(struct ctl_conn *c, int timeout_ms, Drover__Envelope **ret_env, char *err,
			size_t err_size);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct ctl_conn *, ctl_conn_close)
#define _cleanup_ctl_conn_ _cleanup_(ctl_conn_closep)

#endif
