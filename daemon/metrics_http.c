/*
 * The metrics endpoint's HTTP server: one thread, one poll() over the
 * listening socket, a wake-up pipe and at most HTTP_MAX_CLIENTS
 * connections, each non-blocking, each closed after one answer or after
 * HTTP_CLIENT_TIMEOUT_MS (so a client that connects and says nothing holds
 * a slot for seconds, not forever, and never the loop).
 *
 * Invariants:
 *  - the thread never reads droverd's state: it serves the text the loop
 *    published last (metrics_http_publish()), copied under a mutex that the
 *    loop holds only to swap a pointer;
 *  - the thread never logs (libqb's logging is the loop's), never
 *    allocates without bound (a request head is at most HTTP_HEAD_MAX
 *    bytes, an answer is one copy of the text), and never blocks but in
 *    poll();
 *  - only GET and HEAD of /metrics (and / for a pointer to it) are served;
 *    the server is read-only by construction: nothing it receives reaches
 *    the daemon.
 *
 * Considered and rejected: libmicrohttpd (its own thread and a real HTTP/1.1
 * parser, but it links GnuTLS into droverd: megabytes mapped and a library
 * initialised at start for an endpoint that serves one path in plain text,
 * and droverd's footprint is a stated goal); answering from the loop itself
 * (a slow or hostile client would be served by the code that keeps
 * membership; a thread keeps the loop's cost at building the text once a
 * second).
 */
#include "metrics_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define HTTP_MAX_CLIENTS 16
#define HTTP_CLIENT_TIMEOUT_MS 5000

struct client {
	int fd; /* -1: slot free */
	uint64_t deadline_ms;
	char in[HTTP_HEAD_MAX];
	size_t in_len;
	char *out; /* the whole answer, once the request is read */
	size_t out_len, out_off;
};

struct metrics_http {
	int listen_fd;
	int wake[2];
	uint16_t port;
	pthread_t thread;
	pthread_mutex_t lock;
	char *text; /* under lock */
	size_t text_len;
	uint64_t requests; /* under lock */
	struct client clients[HTTP_MAX_CLIENTS];
};

int http_request_parse(const char *buf, size_t len, struct http_request *ret)
{
	const char *end = NULL, *sp1, *sp2, *eol, *path;
	size_t plen;

	/* The head ends at the first empty line (CRLF CRLF, or bare LF LF). */
	for (size_t i = 0; i + 1 < len && !end; i++) {
		if (buf[i] == '\n' && buf[i + 1] == '\n')
			end = buf + i;
		else if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0)
			end = buf + i;
	}
	if (!end)
		return len >= HTTP_HEAD_MAX ? -E2BIG : -EAGAIN;
	/* end is the empty line's first byte: the request line's own LF is at or after it. */
	eol = memchr(buf, '\n', (size_t)(end - buf) + 2);
	if (!eol)
		return -EINVAL;
	if (eol > buf && eol[-1] == '\r')
		eol--;
	/* METHOD SP PATH SP HTTP/1.x */
	sp1 = memchr(buf, ' ', (size_t)(eol - buf));
	if (!sp1 || sp1 == buf)
		return -EINVAL;
	path = sp1 + 1;
	sp2 = memchr(path, ' ', (size_t)(eol - path));
	if (!sp2 || sp2 == path || path[0] != '/')
		return -EINVAL;
	if ((size_t)(eol - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return -EINVAL;
	for (const char *c = buf; c < eol; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return -EINVAL;
	plen = strcspn(path, "? ");
	if (plen >= sizeof(ret->path))
		return -E2BIG;
	if ((size_t)(sp1 - buf) == 3 && memcmp(buf, "GET", 3) == 0)
		ret->method = HTTP_GET;
	else if ((size_t)(sp1 - buf) == 4 && memcmp(buf, "HEAD", 4) == 0)
		ret->method = HTTP_HEAD;
	else
		ret->method = HTTP_OTHER;
	memcpy(ret->path, path, plen);
	ret->path[plen] = '\0';
	return 0;
}

/* The whole answer: status line, headers, and (for GET) body. */
static char *answer(struct metrics_http *h, const char *status, const char *extra_headers,
		    const char *type, const char *body, size_t body_len, bool head_only,
		    size_t *ret_len)
{
	char hdr[512];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-cache\r\nConnection: close\r\n%s\r\n",
			 status, type, body_len, extra_headers);
	size_t len = (size_t)n + (head_only ? 0 : body_len);
	char *out = xmalloc(len ? len : 1);

	(void)h;
	memcpy(out, hdr, (size_t)n);
	if (!head_only && body_len)
		memcpy(out + n, body, body_len);
	*ret_len = len;
	return out;
}

static void respond(struct metrics_http *h, struct client *c)
{
	static const char text_type[] = "text/plain; charset=utf-8";
	struct http_request req;
	int r = http_request_parse(c->in, c->in_len, &req);

	if (r == -EAGAIN)
		return;
	pthread_mutex_lock(&h->lock);
	h->requests++;
	if (r == -E2BIG) {
		c->out = answer(h, "431 Request Header Fields Too Large", "", text_type,
				"request too large\n", 18, false, &c->out_len);
	} else if (r < 0) {
		c->out = answer(h, "400 Bad Request", "", text_type, "bad request\n", 12, false,
				&c->out_len);
	} else if (req.method == HTTP_OTHER) {
		c->out = answer(h, "405 Method Not Allowed", "Allow: GET, HEAD\r\n", text_type,
				"only GET and HEAD\n", 18, false, &c->out_len);
	} else if (strcmp(req.path, "/metrics") == 0) {
		const char *t = h->text ? h->text : "";

		c->out = answer(h, "200 OK", "", "text/plain; version=0.0.4; charset=utf-8", t,
				h->text ? h->text_len : 0, req.method == HTTP_HEAD, &c->out_len);
	} else if (strcmp(req.path, "/") == 0) {
		static const char hello[] = "drover metrics: /metrics\n";

		c->out = answer(h, "200 OK", "", text_type, hello, sizeof(hello) - 1,
				req.method == HTTP_HEAD, &c->out_len);
	} else {
		c->out = answer(h, "404 Not Found", "", text_type, "not found: try /metrics\n", 24,
				req.method == HTTP_HEAD, &c->out_len);
	}
	pthread_mutex_unlock(&h->lock);
	c->out_off = 0;
}

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->in_len = c->out_len = c->out_off = 0;
}

static void client_io(struct metrics_http *h, struct client *c, short revents)
{
	ssize_t n;

	if (!c->out && (revents & (POLLIN | POLLHUP | POLLERR))) {
		n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			client_close(c);
			return;
		}
		c->in_len += (size_t)n;
		respond(h, c);
		if (!c->out)
			return;
	}
	if (c->out) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			client_close(c);
			return;
		}
		c->out_off += (size_t)n;
		if (c->out_off == c->out_len) {
			/* Everything said: stop sending, let the client read to the end. */
			shutdown(c->fd, SHUT_WR);
			client_close(c);
		}
	}
}

static void accept_clients(struct metrics_http *h)
{
	for (;;) {
		struct client *c = NULL;
		int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		for (size_t i = 0; i < HTTP_MAX_CLIENTS && !c; i++)
			if (h->clients[i].fd < 0)
				c = &h->clients[i];
		if (!c) {
			/* Full: the newcomer is turned away, the ones being served keep going. */
			close(fd);
			continue;
		}
		c->fd = fd;
		c->deadline_ms = now_ms() + HTTP_CLIENT_TIMEOUT_MS;
	}
}

static void *serve(void *data)
{
	struct metrics_http *h = data;
	struct pollfd pfd[2 + HTTP_MAX_CLIENTS];
	struct client *who[2 + HTTP_MAX_CLIENTS];

	for (;;) {
		size_t n = 0;
		uint64_t now = now_ms(), next = now + HTTP_CLIENT_TIMEOUT_MS;
		int r;

		pfd[n++] = (struct pollfd){ .fd = h->wake[0], .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = h->listen_fd, .events = POLLIN };
		for (size_t i = 0; i < HTTP_MAX_CLIENTS; i++) {
			struct client *c = &h->clients[i];

			if (c->fd < 0)
				continue;
			if (now >= c->deadline_ms) {
				client_close(c);
				continue;
			}
			if (c->deadline_ms < next)
				next = c->deadline_ms;
			who[n] = c;
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = c->out ? POLLOUT : POLLIN };
		}
		r = poll(pfd, n, (int)(next - now));
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN)
			accept_clients(h);
		for (size_t i = 2; i < n; i++)
			if (pfd[i].revents)
				client_io(h, who[i], pfd[i].revents);
	}
	for (size_t i = 0; i < HTTP_MAX_CLIENTS; i++)
		client_close(&h->clients[i]);
	return NULL;
}

int metrics_http_start(const struct sockaddr *addr, socklen_t addr_len, struct metrics_http **ret)
{
	struct metrics_http *h = xcalloc(1, sizeof(*h));
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	sigset_t all, old;
	int one = 1, r;

	h->listen_fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->listen_fd < 0) {
		r = -errno;
		free(h);
		return r;
	}
	setsockopt(h->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->sa_family == AF_INET6)
		/* [::]:9664 means IPv6 and IPv4 alike, whatever the sysctl says. */
		setsockopt(h->listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ 0 }, sizeof(int));
	if (bind(h->listen_fd, addr, addr_len) < 0 || listen(h->listen_fd, 16) < 0 ||
	    getsockname(h->listen_fd, (struct sockaddr *)&bound, &blen) < 0) {
		r = -errno;
		close(h->listen_fd);
		free(h);
		return r;
	}
	h->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
						    : ((struct sockaddr_in *)&bound)->sin_port);
	if (pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = -errno;
		close(h->listen_fd);
		free(h);
		return r;
	}
	for (size_t i = 0; i < HTTP_MAX_CLIENTS; i++)
		h->clients[i].fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	/* Signals are the loop's: the thread starts with all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&h->thread, NULL, serve, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		close(h->listen_fd);
		close(h->wake[0]);
		close(h->wake[1]);
		pthread_mutex_destroy(&h->lock);
		free(h);
		return -r;
	}
	*ret = h;
	return 0;
}

uint16_t metrics_http_port(const struct metrics_http *h)
{
	return h->port;
}

void metrics_http_publish(struct metrics_http *h, char *text, size_t len)
{
	char *old;

	pthread_mutex_lock(&h->lock);
	old = h->text;
	h->text = text;
	h->text_len = len;
	pthread_mutex_unlock(&h->lock);
	free(old);
}

uint64_t metrics_http_requests(const struct metrics_http *h)
{
	uint64_t n;

	pthread_mutex_lock((pthread_mutex_t *)&h->lock);
	n = h->requests;
	pthread_mutex_unlock((pthread_mutex_t *)&h->lock);
	return n;
}

void metrics_http_stop(struct metrics_http *h)
{
	if (!h)
		return;
	while (write(h->wake[1], "x", 1) < 0 && errno == EINTR)
		;
	pthread_join(h->thread, NULL);
	close(h->listen_fd);
	close(h->wake[0]);
	close(h->wake[1]);
	pthread_mutex_destroy(&h->lock);
	free(h->text);
	free(h);
}
