/*
 * Exchanges with the local droverd over libqb IPC (the wire contract is in
 * ctl_client.h).
 *
 * The wait for an answer is cut into slices of RECV_SLICE_MS rather than one
 * qb_ipcc_recv() for the whole timeout: libqb notices that the server went
 * away only when a receive ends, so a daemon that dies while a state change is
 * pending would otherwise keep us waiting the full timeout before we could say
 * so. qb_ipcc_sendv_recv() was rejected for the same reason (and because it
 * hides whether the send or the receive failed, which the operator needs to
 * know: a request that was sent may have been applied).
 *
 * Every failure is described here, once, because only this file knows which
 * step failed: into the caller's buffer for a struct ctl_conn, on stderr for
 * ctl_client_call(). Callers map the -errno to an exit code.
 *
 * Before anything is sent, the CLI checks who it talks to: the process that
 * holds the service name must run as root (or as DROVER_DAEMON_USER). libqb
 * names the socket in the abstract namespace, where any local user may bind
 * "drover" while droverd is down and receive the operators' requests and
 * domain XML (Pacemaker's CVE-2018-16877 was this). Checked twice: first the
 * listener's SO_PEERCRED, before libqb's handshake (a squatter that never
 * answers that handshake would keep qb_ipcc_connect() waiting forever), then
 * qb_ipcc_auth_get(), the credentials the kernel attached to the server's
 * handshake answer, which also covers the moment between the two and
 * libqb's file system sockets, where the first check cannot look.
 *
 * Events (after a SubscribeRequest) come on libqb's event channel, read with
 * qb_ipcc_event_recv(); its descriptor from qb_ipcc_fd_get() is what a caller
 * polls, as Pacemaker's crm_ipc clients do. Responses and events never mix:
 * they are separate channels of the one connection.
 */
#include "ctl_client.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <qb/qbipc_common.h>
#include <qb/qbipcc.h>

#include "ctl.h"
#include "exitcode.h"
#include "ipc_owner.h"

#define RECV_SLICE_MS 500

struct ctl_conn {
	qb_ipcc_connection_t *qb;
	uint8_t *buf; /* holds the largest message the connection allows */
	size_t size;
};

static void set_err(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!err || !size)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

static bool errno_is_disconnect(int e)
{
	return e == ENOTCONN || e == ECONNRESET || e == ECONNREFUSED || e == EPIPE ||
	       e == ESHUTDOWN;
}

/* The uid droverd must run as: root, or DROVER_DAEMON_USER (a name or a number). */
static int daemon_uid(uid_t *ret, char *err, size_t err_size)
{
	const char *u = getenv("DROVER_DAEMON_USER");
	struct passwd *pw;
	uint64_t v;

	if (!u || !*u) {
		*ret = 0;
		return 0;
	}
	if (parse_u64(u, 0, (uid_t)-2, &v) == 0) {
		*ret = (uid_t)v;
		return 0;
	}
	pw = getpwnam(u);
	if (!pw) {
		set_err(err, err_size, "DROVER_DAEMON_USER='%s' is not a user of this host", u);
		return -EINVAL;
	}
	*ret = pw->pw_uid;
	return 0;
}

static int refuse_owner(const struct ipc_owner *o, uid_t want, char *err, size_t err_size)
{
	char who[160], name[64];
	struct passwd *pw = getpwuid(want);

	/* ipc_owner_describe() calls getpwuid() too: copy the name first. */
	snprintf(name, sizeof(name), "%s", pw ? pw->pw_name : "?");
	ipc_owner_describe(o, who, sizeof(who));
	set_err(err, err_size,
		"refusing to talk to the process that holds droverd's control socket '%s': %s, "
		"but droverd runs as uid %u ('%s'). Another user may be impersonating droverd "
		"to capture requests: stop that process, then start droverd",
		DROVER_IPC_NAME, who, (unsigned)want, name);
	return -EPERM;
}

/* The first check: the listener's credentials, before libqb's handshake. */
static int check_listener(uid_t want, char *err, size_t err_size)
{
	struct ipc_owner o;
	int r = ipc_owner_probe(DROVER_IPC_NAME, &o);

	if (r < 0)
		return 0; /* nobody listens, or not ours to look at: libqb says which */
	if (o.uid != want)
		return refuse_owner(&o, want, err, err_size);
	return 0;
}

int ctl_conn_open(struct ctl_conn **ret, char *err, size_t err_size)
{
	struct ctl_conn *c;
	qb_ipcc_connection_t *qb;
	struct ipc_owner o = {0};
	uid_t want;
	int32_t bs;
	int e;

	e = daemon_uid(&want, err, err_size);
	if (e < 0)
		return e;
	e = check_listener(want, err, err_size);
	if (e < 0)
		return e;
	errno = 0;
	qb = qb_ipcc_connect(DROVER_IPC_NAME, DROVER_IPC_BUFSIZE);
	if (!qb) {
		e = errno ? errno : ECONNREFUSED;
		if (e == EACCES || e == EPERM) {
			/* droverd's accept handler said no (libqb passes its -EACCES on). */
			set_err(err, err_size,
				"droverd refused the connection: %s. Only root and members of "
				"droverd's ipc_group (default 'drover') may use drover.",
				strerror(e));
			return -EACCES;
		}
		set_err(err, err_size, "cannot connect to droverd (is it running?): %s",
			strerror(e));
		return -ENOTCONN;
	}
	/* The second check: who answered the handshake, as the kernel says. */
	if (qb_ipcc_auth_get(qb, &o.pid, &o.uid, &o.gid) < 0 || o.uid != want) {
		qb_ipcc_disconnect(qb);
		return refuse_owner(&o, want, err, err_size);
	}
	c = xcalloc(1, sizeof(*c));
	c->qb = qb;
	/*
	 * libqb receives a whole message into our buffer, sized from the
	 * message's own header: the buffer must hold the largest message the
	 * connection allows, which is what qb negotiated with the server.
	 */
	bs = qb_ipcc_get_buffer_size(qb);
	c->size = bs > (int32_t)DROVER_IPC_BUFSIZE ? (size_t)bs : DROVER_IPC_BUFSIZE;
	c->buf = xmalloc(c->size);
	*ret = c;
	return 0;
}

void ctl_conn_close(struct ctl_conn *c)
{
	if (!c)
		return;
	qb_ipcc_disconnect(c->qb);
	free(c->buf);
	free(c);
}

int ctl_conn_fd(const struct ctl_conn *c)
{
	int32_t fd = -1;

	if (qb_ipcc_fd_get(c->qb, &fd) < 0)
		return -1;
	return fd;
}

static int send_request(struct ctl_conn *c, const Drover__CtlRequest *req, char *err,
			size_t err_size)
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
		set_err(err, err_size, "cannot encode the request: %s", strerror(-r));
		return -EPROTO;
	}
	h.id = DROVER_IPC_MSG_ENVELOPE;
	h.size = (int32_t)(sizeof(h) + len);
	iov[0] = (struct iovec){.iov_base = &h, .iov_len = sizeof(h)};
	iov[1] = (struct iovec){.iov_base = frame, .iov_len = len};
	n = qb_ipcc_sendv(c->qb, iov, 2);
	if (n == (ssize_t)(sizeof(h) + len))
		return 0;
	if (n >= 0) {
		set_err(err, err_size, "short write of the request to droverd (%zd of %zu bytes)",
			n, sizeof(h) + len);
		return -EPROTO;
	}
	if (errno_is_disconnect((int)-n)) {
		set_err(err, err_size,
			"droverd closed the connection before the request was sent: %s",
			strerror((int)-n));
		return -ECONNRESET;
	}
	set_err(err, err_size, "cannot send the request to droverd: %s", strerror((int)-n));
	return -EPROTO;
}

/* Wait for one message; on success *ret_len is its size including the header. */
static int recv_response(struct ctl_conn *c, int timeout_ms, size_t *ret_len, char *err,
			 size_t err_size)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		uint64_t now = now_ms();
		int32_t slice;
		ssize_t n;

		if (now >= deadline) {
			set_err(err, err_size,
				"no answer from droverd within %d s; a requested change may "
				"still take effect: check 'drover status'",
				(timeout_ms + 999) / 1000);
			return -ETIMEDOUT;
		}
		slice = deadline - now < RECV_SLICE_MS ? (int32_t)(deadline - now) : RECV_SLICE_MS;
		n = qb_ipcc_recv(c->qb, c->buf, c->size, slice);
		if (n >= 0) {
			*ret_len = (size_t)n;
			return 0;
		}
		if ((n == -ETIMEDOUT || n == -EAGAIN || n == -EINTR) && qb_ipcc_is_connected(c->qb))
			continue;
		if (n == -ETIMEDOUT || n == -EAGAIN || n == -EINTR ||
		    errno_is_disconnect((int)-n)) {
			set_err(err, err_size,
				"droverd closed the connection without answering; a requested "
				"change may or may not have been made: check 'drover status'");
			return -ECONNRESET;
		}
		set_err(err, err_size, "cannot receive droverd's answer: %s", strerror((int)-n));
		return -EPROTO;
	}
}

static int decode_response(const uint8_t *buf, size_t len, Drover__Envelope **ret_env, char *err,
			   size_t err_size)
{
	const struct qb_ipc_response_header *h = (const void *)buf;
	Drover__Envelope *env = NULL;
	int r;

	if (len < sizeof(*h)) {
		set_err(err, err_size,
			"malformed answer from droverd: %zu bytes, shorter than libqb's header",
			len);
		return -EBADMSG;
	}
	if (h->id != DROVER_IPC_MSG_ENVELOPE || h->size < 0 || (size_t)h->size != len) {
		set_err(err, err_size,
			"malformed answer from droverd: message id %d, size %d in a %zu-byte "
			"message",
			(int)h->id, (int)h->size, len);
		return -EBADMSG;
	}
	if (h->error != 0) {
		set_err(err, err_size, "droverd answered with an IPC error: %s",
			strerror(h->error < 0 ? -h->error : h->error));
		return -EBADMSG;
	}
	r = frame_decode_capped(buf + sizeof(*h), len - sizeof(*h), DROVER_CTL_FRAME_MAX, &env);
	if (r < 0) {
		set_err(err, err_size, "malformed answer from droverd: %s", frame_strerror(r));
		return -EBADMSG;
	}
	if (env->body_case != DROVER__ENVELOPE__BODY_CTL_RESPONSE || !env->ctl_response) {
		set_err(err, err_size,
			"droverd answered with a message that is not a control response "
			"(body %d)",
			(int)env->body_case);
		frame_free(env);
		return -EBADMSG;
	}
	*ret_env = env;
	return 0;
}

int ctl_conn_call(struct ctl_conn *c, const Drover__CtlRequest *req, int timeout_ms,
		  Drover__Envelope **ret_env, char *err, size_t err_size)
{
	size_t len = 0;
	int r;

	r = send_request(c, req, err, err_size);
	if (r < 0)
		return r;
	r = recv_response(c, timeout_ms, &len, err, err_size);
	if (r < 0)
		return r;
	return decode_response(c->buf, len, ret_env, err, err_size);
}

int ctl_conn_subscribe(struct ctl_conn *c, int timeout_ms, char *err, size_t err_size)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__SubscribeRequest sub = DROVER__SUBSCRIBE_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	const Drover__CtlResponse *resp;
	int r;

	req.req_case = DROVER__CTL_REQUEST__REQ_SUBSCRIBE;
	req.subscribe = &sub;
	r = ctl_conn_call(c, &req, timeout_ms, &env, err, err_size);
	if (r < 0)
		return r;
	resp = env->ctl_response;
	if (resp->exit_code != DROVER_EXIT_OK) {
		set_err(err, err_size, "droverd refused the subscription: %s",
			resp->error && *resp->error ? resp->error : "no reason given");
		return resp->exit_code > 0 ? resp->exit_code : DROVER_EXIT_SOFTWARE;
	}
	return 0;
}

int ctl_conn_event_recv(struct ctl_conn *c, int timeout_ms, Drover__Envelope **ret_env, char *err,
			size_t err_size)
{
	ssize_t n;

	n = qb_ipcc_event_recv(c->qb, c->buf, c->size, timeout_ms);
	if (n >= 0)
		return decode_response(c->buf, (size_t)n, ret_env, err, err_size);
	if ((n == -EAGAIN || n == -ETIMEDOUT || n == -EINTR) && qb_ipcc_is_connected(c->qb))
		return -EAGAIN;
	if (n == -EAGAIN || n == -ETIMEDOUT || n == -EINTR || errno_is_disconnect((int)-n)) {
		set_err(err, err_size, "droverd closed the connection");
		return -ECONNRESET;
	}
	set_err(err, err_size, "cannot receive droverd's events: %s", strerror((int)-n));
	return -EPROTO;
}

int ctl_client_call(const Drover__CtlRequest *req, int timeout_ms, Drover__Envelope **ret_env)
{
	_cleanup_ctl_conn_ struct ctl_conn *c = NULL;
	char err[512];
	int r;

	r = ctl_conn_open(&c, err, sizeof(err));
	if (r >= 0)
		r = ctl_conn_call(c, req, timeout_ms, ret_env, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "drover: %s\n", err);
	return r;
}

int ctl_client_exit_code(int err)
{
	switch (err) {
	case 0:
		return DROVER_EXIT_OK;
	case -EACCES:
		return DROVER_EXIT_INSUFFICIENT_PRIV;
	case -EPERM: /* droverd's socket is held by someone else */
		return DROVER_EXIT_UNSAFE;
	case -EINVAL:
		return DROVER_EXIT_USAGE;
	case -ENOTCONN:
	case -ECONNRESET:
		return DROVER_EXIT_NOT_CONNECTED;
	case -ETIMEDOUT:
		return DROVER_EXIT_TIMEOUT;
	default:
		return DROVER_EXIT_SOFTWARE;
	}
}
