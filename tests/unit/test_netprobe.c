/*
 * The migration network prober on a real libqb loop, over loopback only: a
 * listener and a refusing port are both "up", a port that never answers and
 * an address the kernel calls unreachable at once are "down", an up target
 * goes down only after two failed probes, and the target set can be replaced
 * without losing the state of the targets that stay.
 *
 * Nothing leaves the machine, and nothing needs privileges:
 *  - a black hole is a listener on 127.0.0.1 whose accept queue is full (one
 *    connection in it, backlog 0, never accepted): Linux drops further SYNs,
 *    so a connect() there times out. A TEST-NET address would not do: a
 *    sandbox or a proxy may well answer for it;
 *  - "unreachable at once" is a multicast address: TCP connect() fails with
 *    ENETUNREACH without sending anything;
 *  - a refusing port is the black hole's port on 127.0.0.2, where nothing is
 *    bound, so one prober (one port) can have both kinds of target.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <qb/qbdefs.h>
#include <qb/qbloop.h>

#include "netprobe.h"

#define BLACKHOLE "127.0.0.1"   /* on the black hole's port */
#define REFUSING "127.0.0.2"    /* nothing bound there */
#define UNREACHABLE "224.0.0.1" /* TCP to multicast: ENETUNREACH at once */

struct event {
	uint32_t net, node;
	bool up;
	uint64_t at_ms;
};

struct ctx {
	qb_loop_t *loop;
	struct netprobe *p;
	struct event ev[64];
	size_t n_ev;
	size_t stop_after; /* stop the loop once this many events came; 0: never */
	bool busy_checked; /* set_targets() from the callback said -EBUSY */
	bool free_in_callback;
	int listen_fd;
	int hole_fd, filler_fd;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_change(void *opaque, uint32_t net, uint32_t node, bool up)
{
	struct ctx *c = opaque;
	struct netprobe_target t = {.network_idx = 9, .node_id = 9, .addr = "127.0.0.1"};

	assert_true(c->n_ev < 64);
	c->ev[c->n_ev++] = (struct event){.net = net, .node = node, .up = up, .at_ms = mono_ms()};
	/* The callback must not replace the targets under the prober's feet. */
	assert_int_equal(netprobe_set_targets(c->p, &t, 1), -EBUSY);
	c->busy_checked = true;
	if (c->free_in_callback) {
		netprobe_free(c->p);
		c->p = NULL;
	}
	if (c->stop_after && c->n_ev >= c->stop_after)
		qb_loop_stop(c->loop);
}

static void stop_fn(void *data)
{
	qb_loop_stop(data);
}

/* Run the loop until ms have passed or stop_after events came. */
static void run(struct ctx *c, uint32_t ms)
{
	qb_loop_timer_handle h;

	assert_int_equal(qb_loop_timer_add(c->loop, QB_LOOP_HIGH, (uint64_t)ms * QB_TIME_NS_IN_MSEC,
					   c->loop, stop_fn, &h),
			 0);
	qb_loop_run(c->loop);
	qb_loop_timer_del(c->loop, h);
}

/* Accept and drop what the prober connects, so the backlog never fills. */
static int32_t accept_fn(int32_t fd, int32_t revents, void *data)
{
	int a = accept(fd, NULL, NULL);

	(void)revents;
	(void)data;
	if (a >= 0)
		close(a);
	return 0;
}

/* A TCP socket bound to 127.0.0.1 on a free port; *port gets the port. */
static int bound_socket(uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A listening port with an accepting loop callback. */
static uint16_t start_listener(struct ctx *c)
{
	uint16_t port;

	c->listen_fd = bound_socket(&port);
	assert_int_equal(listen(c->listen_fd, 16), 0);
	assert_int_equal(qb_loop_poll_add(c->loop, QB_LOOP_MED, c->listen_fd, POLLIN, c, accept_fn),
			 0);
	return port;
}

static void stop_listener(struct ctx *c)
{
	if (c->listen_fd < 0)
		return;
	qb_loop_poll_del(c->loop, c->listen_fd);
	close(c->listen_fd);
	c->listen_fd = -1;
}

/*
 * A port on 127.0.0.1 that refuses connections: bound (so nobody else takes
 * it while the test runs) but not listening.
 */
static int refusing_port(uint16_t *port)
{
	return bound_socket(port);
}

/* A port on 127.0.0.1 where connect() times out (see the top of the file). */
static uint16_t start_black_hole(struct ctx *c)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	uint16_t port;

	c->hole_fd = bound_socket(&port);
	assert_int_equal(listen(c->hole_fd, 0), 0);
	c->filler_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->filler_fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	assert_int_equal(connect(c->filler_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return port;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->loop = qb_loop_create();
	assert_non_null(c->loop);
	c->listen_fd = -1;
	c->hole_fd = -1;
	c->filler_fd = -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	netprobe_free(c->p);
	stop_listener(c);
	if (c->filler_fd >= 0)
		close(c->filler_fd);
	if (c->hole_fd >= 0)
		close(c->hole_fd);
	qb_loop_destroy(c->loop);
	free(c);
	return 0;
}

static struct netprobe_target target(uint32_t net, uint32_t node, const char *addr)
{
	struct netprobe_target t = {.network_idx = net, .node_id = node};

	snprintf(t.addr, sizeof(t.addr), "%s", addr);
	return t;
}

static void test_new_bad_arguments(void **state)
{
	struct ctx *c = *state;

	errno = 0;
	assert_null(netprobe_new(NULL, 100, 100, 1, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	assert_null(netprobe_new(c->loop, 0, 100, 1, NULL, NULL));
	assert_null(netprobe_new(c->loop, 100, 0, 1, NULL, NULL));
	assert_null(netprobe_new(c->loop, 100, 100, 0, NULL, NULL));
	netprobe_free(NULL);
}

static void test_listener_is_up(void **state)
{
	struct ctx *c = *state;
	uint16_t port = start_listener(c);
	struct netprobe_target t = target(0, 1, "127.0.0.1");

	c->p = netprobe_new(c->loop, 100, 500, port, on_change, c);
	assert_non_null(c->p);
	assert_int_equal(netprobe_set_targets(c->p, &t, 1), 0);
	/* Down until the first probe, and no callback from inside set_targets(). */
	assert_false(netprobe_is_up(c->p, 0, 1));
	assert_int_equal(c->n_ev, 0);
	c->stop_after = 1;
	run(c, 3000);
	assert_int_equal(c->n_ev, 1);
	assert_int_equal(c->ev[0].net, 0);
	assert_int_equal(c->ev[0].node, 1);
	assert_true(c->ev[0].up);
	assert_true(c->busy_checked);
	assert_true(netprobe_is_up(c->p, 0, 1));
	assert_false(netprobe_is_up(c->p, 0, 2));
	assert_false(netprobe_is_up(c->p, 1, 1));

	/* More probes change nothing, and the accepted sockets were reset, not leaked. */
	c->stop_after = 0;
	run(c, 350);
	assert_int_equal(c->n_ev, 1);
	assert_true(netprobe_is_up(c->p, 0, 1));
}

static void test_refused_is_up(void **state)
{
	struct ctx *c = *state;
	uint16_t port;
	int fd = refusing_port(&port);
	struct netprobe_target t = target(3, 7, "127.0.0.1");

	c->p = netprobe_new(c->loop, 100, 500, port, on_change, c);
	assert_int_equal(netprobe_set_targets(c->p, &t, 1), 0);
	c->stop_after = 1;
	run(c, 3000);
	assert_int_equal(c->n_ev, 1);
	assert_int_equal(c->ev[0].net, 3);
	assert_int_equal(c->ev[0].node, 7);
	assert_true(c->ev[0].up);
	assert_true(netprobe_is_up(c->p, 3, 7));
	close(fd);
}

static void test_ipv6_refused_is_up(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t len = sizeof(sa);
	struct netprobe_target t = target(0, 1, "::1");
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		skip(); /* no IPv6 loopback here */
	}
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	c->p = netprobe_new(c->loop, 100, 500, ntohs(sa.sin6_port), on_change, c);
	assert_int_equal(netprobe_set_targets(c->p, &t, 1), 0);
	c->stop_after = 1;
	run(c, 3000);
	assert_int_equal(c->n_ev, 1);
	assert_true(netprobe_is_up(c->p, 0, 1));
	close(fd);
}

/*
 * Whether the SYN goes unanswered until the timeout or the kernel says
 * ENETUNREACH at once, the target is down, and as it never was up there is no
 * callback at all.
 */
static void test_unreachable_is_down(void **state)
{
	struct ctx *c = *state;
	uint16_t port = start_black_hole(c);
	struct netprobe_target t[3] = {target(0, 1, BLACKHOLE), target(0, 2, REFUSING),
				       target(0, 3, UNREACHABLE)};

	c->p = netprobe_new(c->loop, 100, 100, port, on_change, c);
	assert_int_equal(netprobe_set_targets(c->p, t, 3), 0);
	run(c, 700);
	assert_false(netprobe_is_up(c->p, 0, 1));
	assert_true(netprobe_is_up(c->p, 0, 2));
	assert_false(netprobe_is_up(c->p, 0, 3));
	assert_int_equal(c->n_ev, 1);
	assert_int_equal(c->ev[0].node, 2);
	assert_true(c->ev[0].up);
}

/*
 * An up target that stops answering goes down after two failed probes, not
 * one: moving a kept target to an address that does not answer (its state is
 * kept) makes the change observable. Both kinds of failure: timeouts, and an
 * error at once.
 */
static void test_down_after_two_failures(void **state)
{
	struct ctx *c = *state;
	uint16_t port = start_black_hole(c);
	struct netprobe_target t = target(1, 4, REFUSING);
	const char *dead[] = {BLACKHOLE, UNREACHABLE};
	uint64_t changed;

	c->p = netprobe_new(c->loop, 300, 100, port, on_change, c);
	for (size_t i = 0; i < 2; i++) {
		size_t n = c->n_ev;

		t = target(1, 4, REFUSING);
		assert_int_equal(netprobe_set_targets(c->p, &t, 1), 0);
		c->stop_after = n + 1;
		run(c, 3000);
		assert_int_equal(c->n_ev, n + 1);
		assert_true(c->ev[n].up);
		assert_true(netprobe_is_up(c->p, 1, 4));

		t = target(1, 4, dead[i]);
		assert_int_equal(netprobe_set_targets(c->p, &t, 1), 0);
		changed = mono_ms();
		assert_true(netprobe_is_up(c->p, 1, 4));
		c->stop_after = n + 2;
		run(c, 3000);
		assert_int_equal(c->n_ev, n + 2);
		assert_false(c->ev[n + 1].up);
		assert_int_equal(c->ev[n + 1].net, 1);
		assert_int_equal(c->ev[n + 1].node, 4);
		assert_false(netprobe_is_up(c->p, 1, 4));
		/* The first failure comes at once or after the timeout, the second
		 * one an interval after the first probe started. */
		assert_true(c->ev[n + 1].at_ms - changed >= 250);
	}
}

/* A listener that goes away leaves a refusing port: the host still answers. */
static void test_listener_gone_stays_up(void **state)
{
	struct ctx *c = *state;
	uint16_t port = start_listener(c);
	struct netprobe_target t = target(0, 1, "127.0.0.1");

	c->p = netprobe_new(c->loop, 100, 300, port, on_change, c);
	assert_int_equal(netprobe_set_targets(c->p, &t, 1), 0);
	c->stop_after = 1;
	run(c, 3000);
	assert_true(netprobe_is_up(c->p, 0, 1));
	stop_listener(c);
	c->stop_after = 0;
	run(c, 600);
	assert_int_equal(c->n_ev, 1);
	assert_true(netprobe_is_up(c->p, 0, 1));
}

static void test_set_targets_keeps_state(void **state)
{
	struct ctx *c = *state;
	uint16_t port;
	int fd = refusing_port(&port);
	struct netprobe_target a[2] = {target(0, 1, "127.0.0.1"), target(1, 1, "127.0.0.1")};
	struct netprobe_target b[2] = {target(1, 1, "127.0.0.1"), target(2, 2, "127.0.0.1")};
	struct netprobe_target bad[2] = {target(1, 1, "127.0.0.1"), target(2, 2, "localhost")};
	struct netprobe_target dup[2] = {target(1, 1, "127.0.0.1"), target(1, 1, "127.0.0.2")};

	c->p = netprobe_new(c->loop, 100, 500, port, on_change, c);
	assert_int_equal(netprobe_set_targets(c->p, a, 2), 0);
	c->stop_after = 2;
	run(c, 3000);
	assert_int_equal(c->n_ev, 2);
	assert_true(netprobe_is_up(c->p, 0, 1));
	assert_true(netprobe_is_up(c->p, 1, 1));

	/* A bad set changes nothing: no names, no key twice, a NUL within addr. */
	assert_int_equal(netprobe_set_targets(c->p, bad, 2), -EINVAL);
	assert_int_equal(netprobe_set_targets(c->p, dup, 2), -EINVAL);
	memset(bad[1].addr, '1', sizeof(bad[1].addr));
	assert_int_equal(netprobe_set_targets(c->p, bad, 2), -EINVAL);
	assert_true(netprobe_is_up(c->p, 0, 1));

	assert_int_equal(netprobe_set_targets(c->p, b, 2), 0);
	assert_false(netprobe_is_up(c->p, 0, 1)); /* removed, without a callback */
	assert_true(netprobe_is_up(c->p, 1, 1));  /* kept */
	assert_false(netprobe_is_up(c->p, 2, 2)); /* new: down until probed */
	c->stop_after = 3;
	run(c, 3000);
	assert_int_equal(c->n_ev, 3);
	assert_int_equal(c->ev[2].net, 2);
	assert_int_equal(c->ev[2].node, 2);
	assert_true(c->ev[2].up);

	/* Nothing at all. */
	assert_int_equal(netprobe_set_targets(c->p, NULL, 0), 0);
	assert_false(netprobe_is_up(c->p, 1, 1));
	c->stop_after = 0;
	run(c, 250);
	assert_int_equal(c->n_ev, 3);
	close(fd);
}

/* Freeing from the callback is deferred until the callback returns. */
static void test_free_in_callback(void **state)
{
	struct ctx *c = *state;
	uint16_t port = start_black_hole(c);
	struct netprobe_target t[2] = {target(0, 1, REFUSING), target(0, 2, BLACKHOLE)};

	/* The black hole's probe is still in flight when the prober is freed. */
	c->p = netprobe_new(c->loop, 100, 2000, port, on_change, c);
	assert_int_equal(netprobe_set_targets(c->p, t, 2), 0);
	c->free_in_callback = true;
	c->stop_after = 1;
	run(c, 3000);
	assert_int_equal(c->n_ev, 1);
	assert_null(c->p);
	/* The loop goes on without the freed prober's timers or sockets. */
	c->stop_after = 0;
	run(c, 300);
	assert_int_equal(c->n_ev, 1);
}

/* Freeing with probes in flight, or replacing their targets, closes their sockets. */
static void test_no_socket_leak(void **state)
{
	struct ctx *c = *state;
	uint16_t port = start_black_hole(c);
	int before = count_fds();
	struct netprobe_target t[3] = {target(0, 1, BLACKHOLE), target(1, 1, BLACKHOLE),
				       target(2, 1, UNREACHABLE)};

	c->p = netprobe_new(c->loop, 100, 5000, port, on_change, c);
	assert_int_equal(netprobe_set_targets(c->p, t, 3), 0);
	run(c, 150);
	assert_int_equal(count_fds(), before + 2);
	/* A new address drops the old probe; a removed target drops its probe. */
	t[0] = target(0, 1, UNREACHABLE);
	assert_int_equal(netprobe_set_targets(c->p, t, 2), 0);
	assert_int_equal(count_fds(), before + 1);
	run(c, 150);
	assert_int_equal(count_fds(), before + 1);
	netprobe_free(c->p);
	c->p = NULL;
	assert_int_equal(count_fds(), before);
	assert_int_equal(c->n_ev, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listener_is_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_is_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_refused_is_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable_is_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_down_after_two_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listener_gone_stays_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_targets_keeps_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_in_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_socket_leak, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
