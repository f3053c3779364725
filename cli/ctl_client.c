/*
 * One request/response exchange with the local droverd over libqb IPC (the
 * wire contract is in ctl_client.h).
 *
 * The wait for the answer is cut into slices of RECV_SLICE_MS rather than one
 * qb_ipcc_recv() for the whole timeout: libqb notices that the server went
 * away only when a receive ends, so a daemon that dies while a state change is
 * pending would otherwise keep us waiting the full timeout before we could say
 * so. qb_ipcc_sendv_recv() was rejected for the same reason (and because it
 * hides whether the send or the receive failed, which the operator needs to
 * know: a request that was sent may have been applied).
 *
 * Every failure is reported here, once, on stderr, because only this file
 * knows which step failed; callers map the -errno to an exit code.
 */
#include "ctl_client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include <qb/qbipc_common.h>
#include <qb/qbipcc.h>

#include "ctl.h"
#include "exitcode.h"

#define RECV_SLICE_MS 500

DEFINE_TRIVIAL_CLEANUP_FUNC(qb_ipcc_connection_t *, qb_ipcc_disconnect)

static bool errno_is_disconnect(int e)
{
	return e == ENOTCONN || e == ECONNRESET || e == ECONNREFUSED || e == EPIPE ||
	       e == ESHUTDOWN;
}

static int connect_daemon(qb_ipcc_connection_t **ret_c)
{
	qb_ipcc_connection_t *c;
	int e;

	errno = 0;
	c = qb_ipcc_connect(DROVER_IPC_NAME, DROVER_IPC_BUFSIZE);
	if (c) {
		*ret_c = c;
		return 0;
	}
	e = errno ? errno : ECONNREFUSED;
	if (e == EACCES || e == EPERM) {
		/* droverd's accept handler said no (libqb passes its -EACCES on). */
		fprintf(stderr,
			"drover: droverd refused the connection: %s. Only root and members of "
			"droverd's ipc_group (default 'drover') may use drover.\n",
			strerror(e));
		return -EACCES;
	}
	fprintf(stderr, "drover: cannot connect to droverd (is it running?): %s\n", strerror(e));
	return -ENOTCONN;
}

static int send_request(qb_ipcc_connection_t *c, const Drover__CtlRequest *req)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	struct qb_ipc_request_header h = {0};
	_cleanup_free_ uint8_t *frame = NULL;
	struct iovec iov[2];
	size_t len;
	ssize_t n;
	int r;

	env.body_case = DROVER__ENVELOPE__BODY_CTL_REQUEST;
	env.ctl_request = (Drover__CtlRequest *)req;
	r = frame_encode(&env, &frame, &len);
	if (r < 0) {
		fprintf(stderr, "drover: cannot encode the request: %s\n", strerror(-r));
		return -EPROTO;
	}
	h.id = DROVER_IPC_MSG_ENVELOPE;
	h.size = (int32_t)(sizeof(h) + len);
	iov[0] = (struct iovec){.iov_base = &h, .iov_len = sizeof(h)};
	iov[1] = (struct iovec){.iov_base = frame, .iov_len = len};
	n = qb_ipcc_sendv(c, iov, 2);
	if (n == (ssize_t)(sizeof(h) + len))
		return 0;
	if (n >= 0) {
		fprintf(stderr,
			"drover: short write of the request to droverd (%zd of %zu bytes)\n", n,
			sizeof(h) + len);
		return -EPROTO;
	}
	if (errno_is_disconnect((int)-n)) {
		fprintf(stderr,
			"drover: droverd closed the connection before the request was sent: %s\n",
			strerror((int)-n));
		return -ECONNRESET;
	}
	fprintf(stderr, "drover: cannot send the request to droverd: %s\n", strerror((int)-n));
	return -EPROTO;
}

/* Wait for one message; on success *ret_len is its size including the header. */
static int recv_response(qb_ipcc_connection_t *c, uint8_t *buf, size_t size, int timeout_ms,
			 size_t *ret_len)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		uint64_t now = now_ms();
		int32_t slice;
		ssize_t n;

		if (now >= deadline) {
			fprintf(stderr,
				"drover: no answer from droverd within %d s; a requested change "
				"may still take effect: check 'drover status'\n",
				(timeout_ms + 999) / 1000);
			return -ETIMEDOUT;
		}
		slice = deadline - now < RECV_SLICE_MS ? (int32_t)(deadline - now) : RECV_SLICE_MS;
		n = qb_ipcc_recv(c, buf, size, slice);
		if (n >= 0) {
			*ret_len = (size_t)n;
			return 0;
		}
		if ((n == -ETIMEDOUT || n == -EAGAIN || n == -EINTR) && qb_ipcc_is_connected(c))
			continue;
		if (n == -ETIMEDOUT || n == -EAGAIN || n == -EINTR ||
		    errno_is_disconnect((int)-n)) {
			fprintf(stderr,
				"drover: droverd closed the connection without answering; a "
				"requested change may or may not have been made: check 'drover "
				"status'\n");
			return -ECONNRESET;
		}
		fprintf(stderr, "drover: cannot receive droverd's answer: %s\n", strerror((int)-n));
		return -EPROTO;
	}
}

static int decode_response(const uint8_t *buf, size_t len, Drover__Envelope **ret_env)
{
	const struct qb_ipc_response_header *h = (const void *)buf;
	Drover__Envelope *env = NULL;
	int r;

	if (len < sizeof(*h)) {
		fprintf(stderr,
			"drover: malformed answer from droverd: %zu bytes, shorter than "
			"libqb's header\n",
			len);
		return -EBADMSG;
	}
	if (h->id != DROVER_IPC_MSG_ENVELOPE || h->size < 0 || (size_t)h->size != len) {
		fprintf(stderr,
			"drover: malformed answer from droverd: message id %d, size %d "
			"in a %zu-byte message\n",
			(int)h->id, (int)h->size, len);
		return -EBADMSG;
	}
	if (h->error != 0) {
		fprintf(stderr, "drover: droverd answered with an IPC error: %s\n",
			strerror(h->error < 0 ? -h->error : h->error));
		return -EBADMSG;
	}
	r = frame_decode(buf + sizeof(*h), len - sizeof(*h), &env);
	if (r < 0) {
		fprintf(stderr, "drover: malformed answer from droverd: %s\n", frame_strerror(r));
		return -EBADMSG;
	}
	if (env->body_case != DROVER__ENVELOPE__BODY_CTL_RESPONSE || !env->ctl_response) {
		fprintf(stderr,
			"drover: droverd answered with a message that is not a control "
			"response (body %d)\n",
			(int)env->body_case);
		frame_free(env);
		return -EBADMSG;
	}
	*ret_env = env;
	return 0;
}

int ctl_client_call(const Drover__CtlRequest *req, int timeout_ms, Drover__Envelope **ret_env)
{
	_cleanup_(qb_ipcc_disconnectp) qb_ipcc_connection_t *c = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t size, len = 0;
	int32_t bs;
	int r;

	r = connect_daemon(&c);
	if (r < 0)
		return r;
	/*
	 * libqb receives a whole message into our buffer, sized from the
	 * message's own header: the buffer must hold the largest message the
	 * connection allows, which is what qb negotiated with the server.
	 */
	bs = qb_ipcc_get_buffer_size(c);
	size = bs > (int32_t)DROVER_IPC_BUFSIZE ? (size_t)bs : DROVER_IPC_BUFSIZE;
	buf = xmalloc(size);

	r = send_request(c, req);
	if (r < 0)
		return r;
	r = recv_response(c, buf, size, timeout_ms, &len);
	if (r < 0)
		return r;
	return decode_response(buf, len, ret_env);
}

int ctl_client_exit_code(int err)
{
	switch (err) {
	case 0:
		return DROVER_EXIT_OK;
	case -EACCES:
		return DROVER_EXIT_INSUFFICIENT_PRIV;
	case -ENOTCONN:
	case -ECONNRESET:
		return DROVER_EXIT_NOT_CONNECTED;
	case -ETIMEDOUT:
		return DROVER_EXIT_TIMEOUT;
	default:
		return DROVER_EXIT_SOFTWARE;
	}
}
