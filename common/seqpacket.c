/*
 * SEQPACKET framing helpers (see seqpacket.h). MSG_NOSIGNAL on every send:
 * libqb's signal code resets SIGPIPE to its default action whenever a signal
 * is added to a loop, so "ignore SIGPIPE" cannot be relied upon.
 */
#include "seqpacket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "util.h"

int seqpacket_setup(int fd, int nonblocking)
{
	int type = 0, domain = 0, size = (int)(2 * (FRAME_HEADER + FRAME_MAX)), fl;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return -errno;
	if (domain != AF_UNIX || type != SOCK_SEQPACKET)
		return -EPROTOTYPE;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	fl = nonblocking ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	if (fcntl(fd, F_SETFL, fl) < 0)
		return -errno;
	/* Capped at wmem_max by the kernel; not an error when it is. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	return 0;
}

size_t seqpacket_max_msg(int fd)
{
	int size = 0;
	socklen_t len = sizeof(size);

	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) < 0 || size < 4096)
		return 4096;
	/* af_unix refuses a message longer than sk_sndbuf - 32. */
	return (size_t)size - 64;
}

int seqpacket_send_buf(int fd, const uint8_t *buf, size_t len)
{
	ssize_t n;

	do
		n = send(fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

int seqpacket_send(int fd, Drover__Envelope *env)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	int r;

	r = frame_encode(env, &buf, &len);
	if (r < 0)
		return r;
	return seqpacket_send_buf(fd, buf, len);
}

ssize_t seqpacket_recv(int fd, uint8_t *buf, size_t size)
{
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if ((msg.msg_flags & MSG_TRUNC) || (size_t)n >= size)
		return -EMSGSIZE;
	return n;
}
