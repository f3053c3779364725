/*
 * Frames over AF_UNIX SOCK_SEQPACKET sockets: the link between droverd and
 * drover-agent, and between the agent and its workers. One send() is one
 * frame (common/frame.h) and one recv() returns exactly one, so there is no
 * reassembly and no partial read; the kernel keeps message boundaries and
 * reports a peer that went away as end of file.
 *
 * A message must fit in the sender's socket buffer: seqpacket_setup() asks
 * for more than FRAME_MAX, the kernel caps the request at wmem_max (about
 * 400 KiB of message on a default Debian), and seqpacket_max_msg() says what
 * was granted. A larger frame fails with -EMSGSIZE.
 */
#ifndef DROVER_SEQPACKET_H
#define DROVER_SEQPACKET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "frame.h"

/* A receive buffer large enough for any frame, and one byte to spot a longer one. */
#define SEQPACKET_BUF (FRAME_HEADER + FRAME_MAX + 1)

/*
 * Check fd is an AF_UNIX SOCK_SEQPACKET socket (-ENOTSOCK, -EPROTOTYPE),
 * make it close-on-exec, optionally non-blocking, and grow its send buffer.
 */
int seqpacket_setup(int fd, int nonblocking);

/* The largest message the kernel lets us send on fd. */
size_t seqpacket_max_msg(int fd);

/* Send one buffer as one message. -EAGAIN (non-blocking), -EMSGSIZE, -EPIPE, ... */
int seqpacket_send_buf(int fd, const uint8_t *buf, size_t len);

/* Encode env (frame_encode()) and send it. */
int seqpacket_send(int fd, Drover__Envelope *env);

/*
 * Receive one message into buf (SEQPACKET_BUF bytes). Returns its length,
 * 0 at end of file, -EAGAIN, -EMSGSIZE if it was longer than a frame can be
 * (it is discarded), or -errno. EINTR is retried.
 */
ssize_t seqpacket_recv(int fd, uint8_t *buf, size_t size);

#endif
