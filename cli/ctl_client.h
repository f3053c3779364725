/*
 * The CLI side of the control channel (common/ctl.h): one request, one
 * response, one connection per call.
 *
 * Wire contract, both directions over libqb IPC service DROVER_IPC_NAME:
 *   request:  struct qb_ipc_request_header  { id = DROVER_IPC_MSG_ENVELOPE,
 *                                             size = header + frame bytes }
 *             then one frame (frame.h) holding an Envelope with ctl_request;
 *   response: struct qb_ipc_response_header { id = DROVER_IPC_MSG_ENVELOPE,
 *                                             size = header + frame bytes,
 *                                             error = 0 }
 *             then one frame holding an Envelope with ctl_response.
 * The daemon answers every request exactly once; a state change is answered
 * only once the cluster has applied it, so the client waits its full timeout.
 */
#ifndef DROVER_CTL_CLIENT_H
#define DROVER_CTL_CLIENT_H

#include "drover.pb-c.h"
#include "frame.h"
#include "util.h"

/*
 * Send req to the local droverd and wait up to timeout_ms for its answer.
 * On success returns 0 and *ret_env, an Envelope whose body is ctl_response
 * (release it with frame_free()). On failure a one-line diagnosis, prefixed
 * "drover: ", has been printed on stderr and the return is one of:
 *   -EACCES      droverd refused us: not root and not in its group
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

#endif
