/*
 * The migration networks' reachability prober (see netprobe.h).
 *
 * Every target has one libqb timer, armed at all times while the target
 * exists: while idle it is the start of the next probe, while a probe is in
 * flight it is that probe's timeout. A probe is a non-blocking connect() on a
 * socket watched for POLLOUT; when it fires, SO_ERROR says how the connect()
 * ended. Whichever of the poll event and the timeout comes first deletes the
 * other one (libqb takes an already queued timer or poll event off its job
 * list when it is deleted), so a probe ends exactly once.
 *
 * Targets are allocated one by one because the loop holds pointers to them;
 * the array of pointers is what netprobe_set_targets() replaces.
 */
#include "netprobe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <qb/qbdefs.h>

#include "log.h"
#include "util.h"

/* Failed probes in a row that make an up target down (see netprobe.h). */
#define FAILS_FOR_DOWN 2u

struct target {
	struct netprobe *p;
	struct netprobe_target t;
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd;                     /* the probe in flight; -1: none */
	qb_loop_timer_handle timer; /* idle: the next probe; in flight: its timeout */
	bool timer_armed;
	uint64_t started_ms; /* when the last probe started */
	unsigned failures;   /* failed probes in a row */
	bool up;
};

struct netprobe {
	qb_loop_t *loop;
	uint32_t interval_ms;
	uint32_t timeout_ms;
	uint16_t port;
	netprobe_change_fn fn;
	void *opaque;
	size_t n;
	struct target **targets;
	unsigned in_callback;
	bool free_pending; /* netprobe_free() was called from the callback */
};

static void probe_fn(void *data);

/* A numeric address only: inet_pton() never looks anything up. */
static int parse_addr(const char addr[64], uint16_t port, struct sockaddr_storage *sa,
		      socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;

	if (!memchr(addr, '\0', 64))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

static void arm(struct target *t, uint64_t ms, qb_loop_timer_dispatch_fn fn)
{
	int r =
	    qb_loop_timer_add(t->p->loop, QB_LOOP_MED, ms * QB_TIME_NS_IN_MSEC, t, fn, &t->timer);

	t->timer_armed = r == 0;
	if (r < 0)
		log_err("cannot arm the probe timer for %s: %s; it is no longer probed", t->t.addr,
			strerror(-r));
}

static void disarm(struct target *t)
{
	if (t->timer_armed)
		qb_loop_timer_del(t->p->loop, t->timer);
	t->timer_armed = false;
}

static void close_probe(struct target *t)
{
	if (t->fd < 0)
		return;
	qb_loop_poll_del(t->p->loop, t->fd);
	close(t->fd);
	t->fd = -1;
}

/* The next probe: interval_ms after the start of the last one, or now. */
static void schedule_next(struct target *t)
{
	uint64_t elapsed = now_ms() - t->started_ms;

	arm(t, elapsed >= t->p->interval_ms ? 0 : t->p->interval_ms - elapsed, probe_fn);
}

/*
 * A probe ended: count it, schedule the next one, and report a change. Only
 * ever called from a loop callback (never from the API), which must return
 * through release() right after it: the callback may have asked for a free.
 */
static void result(struct target *t, bool ok, int err)
{
	struct netprobe *p = t->p;
	bool was = t->up;

	if (ok) {
		t->failures = 0;
		t->up = true;
	} else {
		if (t->failures < UINT_MAX)
			t->failures++;
		if (t->failures >= FAILS_FOR_DOWN)
			t->up = false;
	}
	schedule_next(t);
	if (t->up == was)
		return;
	log_debug("probe of %s port %u (network %u, node %u): %s, now %s", t->t.addr,
		  (unsigned)p->port, t->t.network_idx, t->t.node_id,
		  err ? strerror(err) : "connected", t->up ? "up" : "down");
	if (p->fn) {
		p->in_callback++;
		p->fn(p->opaque, t->t.network_idx, t->t.node_id, t->up);
		p->in_callback--;
	}
}

static void destroy(struct netprobe *p)
{
	for (size_t i = 0; i < p->n; i++) {
		disarm(p->targets[i]);
		close_probe(p->targets[i]);
		free(p->targets[i]);
	}
	free(p->targets);
	free(p);
}

/* The end of every loop callback that may have reported a change. */
static void release(struct netprobe *p)
{
	if (p->free_pending && !p->in_callback)
		destroy(p);
}

static int32_t connected_fn(int32_t fd, int32_t revents, void *data)
{
	struct target *t = data;
	struct netprobe *p = t->p;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)revents;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	disarm(t);
	close_probe(t);
	/* Refused: the host answered, which is what we ask (see netprobe.h). */
	result(t, err == 0 || err == ECONNREFUSED, err);
	release(p);
	/* Deleted already; -1 also stops libqb from re-arming the entry. */
	return -1;
}

static void timeout_fn(void *data)
{
	struct target *t = data;
	struct netprobe *p = t->p;

	t->timer_armed = false;
	close_probe(t);
	result(t, false, ETIMEDOUT);
	release(p);
}

static void probe_fn(void *data)
{
	struct target *t = data;
	struct netprobe *p = t->p;
	/* RST on close: a probe every second must not leave TIME_WAIT sockets behind. */
	const struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int fd, r, err;

	t->timer_armed = false;
	t->started_ms = now_ms();
	fd = socket(t->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		/* Out of descriptors says nothing about the peer: no result, try later. */
		log_warn("cannot probe %s: socket: %s; trying again later", t->t.addr,
			 strerror(errno));
		schedule_next(t);
		return;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (connect(fd, (const struct sockaddr *)&t->sa, t->salen) == 0) {
		close(fd);
		result(t, true, 0);
		release(p);
		return;
	}
	err = errno;
	if (err != EINPROGRESS && err != EINTR) {
		close(fd);
		result(t, err == ECONNREFUSED, err);
		release(p);
		return;
	}
	r = qb_loop_poll_add(p->loop, QB_LOOP_MED, fd, POLLOUT, t, connected_fn);
	if (r < 0) {
		log_warn("cannot probe %s: poll: %s; trying again later", t->t.addr, strerror(-r));
		close(fd);
		schedule_next(t);
		return;
	}
	t->fd = fd;
	arm(t, p->timeout_ms, timeout_fn);
}

struct netprobe *netprobe_new(qb_loop_t *loop, uint32_t interval_ms, uint32_t timeout_ms,
			      uint16_t port, netprobe_change_fn fn, void *opaque)
{
	struct netprobe *p;

	if (!loop || interval_ms == 0 || timeout_ms == 0 || port == 0) {
		errno = EINVAL;
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->loop = loop;
	p->interval_ms = interval_ms;
	p->timeout_ms = timeout_ms;
	p->port = port;
	p->fn = fn;
	p->opaque = opaque;
	return p;
}

static ssize_t find(const struct netprobe *p, uint32_t network_idx, uint32_t node_id)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->targets[i] && p->targets[i]->t.network_idx == network_idx &&
		    p->targets[i]->t.node_id == node_id)
			return (ssize_t)i;
	return -1;
}

int netprobe_set_targets(struct netprobe *p, const struct netprobe_target *t, size_t n)
{
	struct target **nt = NULL;
	struct sockaddr_storage sa;
	socklen_t salen;

	if (p->in_callback)
		return -EBUSY;
	if (n && !t)
		return -EINVAL;
	/* Check everything first: a bad set changes nothing. */
	for (size_t i = 0; i < n; i++) {
		if (parse_addr(t[i].addr, p->port, &sa, &salen) < 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (t[j].network_idx == t[i].network_idx && t[j].node_id == t[i].node_id)
				return -EINVAL;
	}
	if (n)
		nt = xcalloc(n, sizeof(*nt));
	for (size_t i = 0; i < n; i++) {
		ssize_t j = find(p, t[i].network_idx, t[i].node_id);
		struct target *x;

		if (j >= 0) {
			x = p->targets[j];
			p->targets[j] = NULL;
			nt[i] = x;
			if (strcmp(x->t.addr, t[i].addr) == 0)
				continue;
			/* A new address: drop the probe of the old one, probe the new one now. */
			disarm(x);
			close_probe(x);
			x->failures = 0;
		} else {
			x = xcalloc(1, sizeof(*x));
			x->p = p;
			x->fd = -1;
			nt[i] = x;
		}
		x->t = t[i];
		parse_addr(x->t.addr, p->port, &x->sa, &x->salen);
		/* At once, from the loop: the callback never runs inside this call. */
		arm(x, 0, probe_fn);
	}
	for (size_t j = 0; j < p->n; j++) {
		if (!p->targets[j])
			continue;
		disarm(p->targets[j]);
		close_probe(p->targets[j]);
		free(p->targets[j]);
	}
	free(p->targets);
	p->targets = nt;
	p->n = n;
	return 0;
}

bool netprobe_is_up(const struct netprobe *p, uint32_t network_idx, uint32_t node_id)
{
	ssize_t i = find(p, network_idx, node_id);

	return i >= 0 && p->targets[i]->up;
}

void netprobe_free(struct netprobe *p)
{
	if (!p)
		return;
	if (p->in_callback) {
		p->free_pending = true;
		return;
	}
	destroy(p);
}
