/*
 * The metrics endpoint's HTTP server (metrics_http.c): a thread of its own
 * that answers GET /metrics with the last text the loop published, and
 * never touches droverd's state. No droverd.h, no libqb: unit-tested on its
 * own over loopback.
 */
#ifndef DROVER_METRICS_HTTP_H
#define DROVER_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct metrics_http;

/*
 * Bind addr, listen, and start the server thread. -errno (bind: -EADDRINUSE,
 * -EACCES, ...) with nothing started; *ret written only on success.
 */
int metrics_http_start(const struct sockaddr *addr, socklen_t addr_len, struct metrics_http **ret);
/* The port it listens on (for an addr with port 0). */
uint16_t metrics_http_port(const struct metrics_http *h);
/* Serve text (taken over; the previous one is freed) from now on. */
void metrics_http_publish(struct metrics_http *h, char *text, size_t len);
/* Requests answered since the start (any status). */
uint64_t metrics_http_requests(const struct metrics_http *h);
/* Stop the thread, close every socket, free. NULL is fine. */
void metrics_http_stop(struct metrics_http *h);

/* ---- the request parser, apart for tests and fuzzers ---- */

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_OTHER };

struct http_request {
	enum http_method method;
	char path[128]; /* without the query string */
};

/* Longest request head (request line and headers) accepted. */
#define HTTP_HEAD_MAX 4096

/*
 * Parse the head of a request in buf[0..len): 0 when it is complete (ends
 * with an empty line) and *ret is filled, -EAGAIN when more bytes are
 * needed, -EINVAL when it is not an HTTP/1.x request line, -E2BIG when the
 * path or the head is too long.
 */
int http_request_parse(const char *buf, size_t len, struct http_request *ret);

#endif
