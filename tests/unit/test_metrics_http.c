/*
 * The metrics endpoint's HTTP server (daemon/metrics_http.c): the request
 * parser on good, partial and hostile heads, and the real server thread
 * over loopback: GET and HEAD of /metrics, 404, 405, 400, a new text
 * published while it runs, and a silent client that does not hold up others.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "metrics_http.h"

static int parse(const char *s, struct http_request *r)
{
	return http_request_parse(s, strlen(s), r);
}

static void test_parse(void **st)
{
	struct http_request r;
	char big[HTTP_HEAD_MAX + 10];

	(void)st;
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
	assert_int_equal(r.method, HTTP_GET);
	assert_string_equal(r.path, "/metrics");
	assert_int_equal(parse("HEAD /metrics?name[]=x HTTP/1.0\n\n", &r), 0);
	assert_int_equal(r.method, HTTP_HEAD);
	assert_string_equal(r.path, "/metrics");
	assert_int_equal(parse("POST / HTTP/1.1\r\n\r\n", &r), 0);
	assert_int_equal(r.method, HTTP_OTHER);
	/* Not yet complete. */
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", &r), -EAGAIN);
	assert_int_equal(parse("", &r), -EAGAIN);
	/* Not HTTP/1.x. */
	assert_int_equal(parse("GET /metrics\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse("GET metrics HTTP/1.1\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse(" /metrics HTTP/1.1\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse("GET /metrics HTTP/2.0\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse("GET /met\x01rics HTTP/1.1\r\n\r\n", &r), -EINVAL);
	assert_int_equal(http_request_parse("GET /\0 HTTP/1.1\r\n\r\n", 20, &r), -EINVAL);
	/* Too long: a path, and a head that never ends. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	memcpy(big + 300, " HTTP/1.1\r\n\r\n", 13);
	assert_int_equal(http_request_parse(big, 313, &r), -E2BIG);
	memset(big, 'a', sizeof(big));
	assert_int_equal(http_request_parse(big, sizeof(big), &r), -E2BIG);
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Send req, read the answer to the end; returns it (free it). */
static char *fetch(uint16_t port, const char *req)
{
	int fd = connect_to(port);
	size_t len = 0, cap = 1 << 20;
	char *buf = malloc(cap);
	ssize_t n;

	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while ((n = read(fd, buf + len, cap - len - 1)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	return buf;
}

static struct metrics_http *start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	struct metrics_http *h = NULL;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(metrics_http_start((struct sockaddr *)&a, sizeof(a), &h), 0);
	assert_non_null(h);
	assert_true(metrics_http_port(h) > 0);
	return h;
}

static void test_serve(void **st)
{
	struct metrics_http *h = start();
	uint16_t port = metrics_http_port(h);
	char *r;

	(void)st;
	/* Nothing published yet: an empty page, not an error. */
	r = fetch(port, "GET /metrics HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(r, "Content-Length: 0\r\n"));
	free(r);
	metrics_http_publish(h, strdup("drover_up 1\n"), 12);
	r = fetch(port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
	assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_non_null(strstr(r, "Content-Length: 12\r\n"));
	assert_non_null(strstr(r, "\r\n\r\ndrover_up 1\n"));
	free(r);
	r = fetch(port, "HEAD /metrics HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(r, "Content-Length: 12\r\n"));
	assert_null(strstr(r, "drover_up"));
	free(r);
	metrics_http_publish(h, strdup("drover_up 2\n"), 12);
	r = fetch(port, "GET /metrics HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(r, "drover_up 2\n"));
	free(r);
	r = fetch(port, "GET /nope HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(r, "HTTP/1.1 404 Not Found\r\n"));
	free(r);
	r = fetch(port, "DELETE /metrics HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(r, "HTTP/1.1 405 Method Not Allowed\r\n"));
	assert_non_null(strstr(r, "Allow: GET, HEAD\r\n"));
	free(r);
	r = fetch(port, "hello\r\n\r\n");
	assert_non_null(strstr(r, "HTTP/1.1 400 Bad Request\r\n"));
	free(r);
	assert_int_equal(metrics_http_requests(h), 7);
	metrics_http_stop(h);
}

static void test_silent_client_holds_nobody_up(void **st)
{
	struct metrics_http *h = start();
	uint16_t port = metrics_http_port(h);
	int silent[4];
	char *r, big[200000];

	(void)st;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[sizeof(big) - 2] = '\n';
	metrics_http_publish(h, strdup(big), strlen(big));
	for (size_t i = 0; i < 4; i++)
		silent[i] = connect_to(port);
	/* Half a request, then nothing. */
	assert_int_equal(write(silent[0], "GET /met", 8), 8);
	r = fetch(port, "GET /metrics HTTP/1.1\r\n\r\n");
	/* A body larger than a socket buffer, whole. */
	assert_non_null(strstr(r, "\r\n\r\nxxxx"));
	assert_int_equal(strlen(strstr(r, "\r\n\r\n") + 4), strlen(big));
	free(r);
	for (size_t i = 0; i < 4; i++)
		close(silent[i]);
	metrics_http_stop(h);
}

static void test_address_in_use(void **st)
{
	struct metrics_http *h = start(), *h2 = NULL;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(metrics_http_port(h)) };

	(void)st;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(metrics_http_start((struct sockaddr *)&a, sizeof(a), &h2), -EADDRINUSE);
	assert_null(h2);
	metrics_http_stop(h);
	metrics_http_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_serve),
		cmocka_unit_test(test_silent_client_holds_nobody_up),
		cmocka_unit_test(test_address_in_use),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
