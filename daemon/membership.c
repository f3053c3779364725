/*
 * CPG glue: joins group "drover" (cfg.cpg_group), turns configuration changes
 * and delivered messages into calls into droverd.c, and multicasts in agreed
 * order.
 *
 * Every delivered message is checked before use: its size against the frame
 * cap, its framing and version, and that its body is a peer body. The sender's
 * node id and pid come from corosync, never from the payload. A bad message is
 * logged and dropped; nothing a peer sends can stop the loop.
 *
 * Flow control: cpg_mcast_joined() may answer CS_ERR_TRY_AGAIN. Messages then
 * wait in a FIFO that a loop timer retries, so order is kept and the loop never
 * spins or sleeps. After a configuration change, queued state-exchange messages
 * are stale (they describe a round that is over) and are dropped.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "droverd.h"
#include "log.h"
#include "util.h"

#define SEND_RETRY_MS 50

static struct droverd *ctx_of(cpg_handle_t h)
{
	void *p = NULL;

	cpg_context_get(h, &p);
	return p;
}

static void deliver_cb(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid, uint32_t pid,
		       void *msg, size_t len)
{
	struct droverd *d = ctx_of(h);
	Drover__Envelope *env = NULL;
	int r;

	(void)group;
	if (!d)
		return;
	if (len > FRAME_HEADER + FRAME_MAX) {
		log_warn("dropping %zu-byte CPG message from node %u pid %u: larger than the frame cap",
			 len, nodeid, pid);
		return;
	}
	r = frame_decode(msg, len, &env);
	if (r < 0) {
		log_warn("dropping CPG message from node %u pid %u (%zu bytes): %s", nodeid, pid,
			 len, frame_strerror(r));
		return;
	}
	if (!frame_body_is_peer(env)) {
		log_warn("dropping CPG message from node %u pid %u: body %d is not a peer message",
			 nodeid, pid, (int)env->body_case);
		frame_free(env);
		return;
	}
	droverd_on_peer_message(d, nodeid, pid, env);
	frame_free(env);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void confchg_cb(cpg_handle_t h, const struct cpg_name *group,
		       const struct cpg_address *members, size_t n_members,
		       const struct cpg_address *left, size_t n_left,
		       const struct cpg_address *joined, size_t n_joined)
{
	struct droverd *d = ctx_of(h);
	bool self_joined = false;
	size_t n = 0;

	(void)group;
	if (!d)
		return;
	for (size_t i = 0; i < n_joined; i++) {
		log_info("CPG: node %u pid %u joined", joined[i].nodeid, joined[i].pid);
		if (joined[i].nodeid == d->local_id && joined[i].pid == (uint32_t)getpid())
			self_joined = true;
	}
	for (size_t i = 0; i < n_left; i++)
		log_info("CPG: node %u pid %u left (reason %u)", left[i].nodeid, left[i].pid,
			 left[i].reason);

	/* A node id counts once, however many processes of that node joined. */
	for (size_t i = 0; i < n_members && n < DROVER_MAX_NODES; i++) {
		bool dup = false;
		for (size_t j = 0; j < n; j++)
			dup |= d->members[j] == members[i].nodeid;
		if (!dup)
			d->members[n++] = members[i].nodeid;
	}
	qsort(d->members, n, sizeof(d->members[0]), cmp_u32);
	d->n_members = n;
	for (size_t i = 0; i < n_left; i++)
		failover_on_cpg_left(d, left[i].nodeid, left[i].reason == CPG_REASON_NODEDOWN);
	if (self_joined)
		d->cpg_joined = true;
	if (!d->cpg_joined)
		return;
	membership_drop_sync_msgs(d);
	{
		uint32_t ids[DROVER_MAX_NODES];
		size_t nj = 0;

		for (size_t i = 0; i < n_joined && nj < DROVER_MAX_NODES; i++)
			ids[nj++] = joined[i].nodeid;
		droverd_on_confchg(d, ids, nj, self_joined);
	}
}

static void totem_confchg_cb(cpg_handle_t h, struct cpg_ring_id ring_id, uint32_t n,
			     const uint32_t *members)
{
	struct droverd *d = ctx_of(h);

	(void)members;
	/* Delivered before the CPG confchg of the configuration it forms. */
	if (d) {
		d->ring_rep = ring_id.nodeid;
		d->ring_seq = ring_id.seq;
	}
	/*
	 * A ring change with unchanged members happens when one knet link flaps:
	 * routine, nothing to do. CPG confchg tells us when members really change.
	 */
	log_debug("totem ring %u/%llu with %u members", ring_id.nodeid,
		  (unsigned long long)ring_id.seq, n);
}

static int cpg_dispatch_fn(int fd, int revents, void *data)
{
	struct droverd *d = data;
	cs_error_t rc;

	(void)fd;
	(void)revents;
	rc = cpg_dispatch(d->cpg, CS_DISPATCH_ALL);
	if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN) {
		droverd_fatal(d, "lost the connection to corosync's CPG service");
		return -1;
	}
	return 0;
}

int membership_connect(struct droverd *d)
{
	cpg_model_v1_data_t model = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = deliver_cb,
		.cpg_confchg_fn = confchg_cb,
		.cpg_totem_confchg_fn = totem_confchg_cb,
		.flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
	};
	struct cpg_name name;
	unsigned int local;
	int fd;
	cs_error_t rc;

	rc = cpg_model_initialize(&d->cpg, CPG_MODEL_V1, (cpg_model_data_t *)&model, d);
	if (rc != CS_OK)
		return -ENOTCONN;
	d->cpg_connected = true;
	if (cpg_local_get(d->cpg, &local) != CS_OK) {
		membership_disconnect(d);
		return -ENOTCONN;
	}
	d->local_id = local;
	memset(&name, 0, sizeof(name));
	name.length = (uint32_t)strlen(d->cfg.cpg_group);
	memcpy(name.value, d->cfg.cpg_group, name.length);
	/* Join answers TRY_AGAIN while corosync syncs: the connect timer retries. */
	rc = cpg_join(d->cpg, &name);
	if (rc != CS_OK) {
		log_warn("cannot join CPG group '%s' (error %d), will retry", d->cfg.cpg_group, rc);
		membership_disconnect(d);
		return -EAGAIN;
	}
	cpg_fd_get(d->cpg, &fd);
	qb_loop_poll_add(d->loop, QB_LOOP_HIGH, fd, POLLIN, d, cpg_dispatch_fn);
	log_info("joined CPG group '%s' as node %u", d->cfg.cpg_group, d->local_id);
	return 0;
}

void membership_disconnect(struct droverd *d)
{
	int fd;

	if (!d->cpg_connected)
		return;
	if (cpg_fd_get(d->cpg, &fd) == CS_OK)
		qb_loop_poll_del(d->loop, fd);
	if (d->cpg_joined) {
		struct cpg_name name;

		memset(&name, 0, sizeof(name));
		name.length = (uint32_t)strlen(d->cfg.cpg_group);
		memcpy(name.value, d->cfg.cpg_group, name.length);
		cpg_leave(d->cpg, &name);
	}
	cpg_finalize(d->cpg);
	d->cpg_connected = false;
	d->cpg_joined = false;
	while (d->sendq) {
		struct send_item *it = d->sendq;
		d->sendq = it->next;
		free(it->buf);
		free(it);
	}
}

static void send_flush(struct droverd *d);

static void send_timer_fn(void *data)
{
	struct droverd *d = data;

	d->send_timer_armed = false;
	send_flush(d);
}

static void send_flush(struct droverd *d)
{
	while (d->sendq && d->cpg_connected) {
		struct send_item *it = d->sendq;
		struct iovec iov = { .iov_base = it->buf, .iov_len = it->len };
		cs_error_t rc = cpg_mcast_joined(d->cpg, CPG_TYPE_AGREED, &iov, 1);

		if (rc == CS_ERR_TRY_AGAIN) {
			if (!d->send_timer_armed &&
			    qb_loop_timer_add(d->loop, QB_LOOP_MED, SEND_RETRY_MS * QB_TIME_NS_IN_MSEC,
					      d, send_timer_fn, &d->send_timer) == 0)
				d->send_timer_armed = true;
			return;
		}
		if (rc != CS_OK)
			log_err("cpg_mcast_joined failed (error %d); message of %zu bytes dropped",
				rc, it->len);
		d->sendq = it->next;
		free(it->buf);
		free(it);
	}
}

int membership_send(struct droverd *d, Drover__Envelope *env, bool sync_msg)
{
	struct send_item *it, **tail;
	uint8_t *buf;
	size_t len;
	int r;

	if (!d->cpg_connected)
		return -ENOTCONN;
	env->seq = ++d->seq;
	r = frame_encode(env, &buf, &len);
	if (r < 0)
		return r;
	it = xcalloc(1, sizeof(*it));
	it->buf = buf;
	it->len = len;
	it->sync_msg = sync_msg;
	for (tail = &d->sendq; *tail; tail = &(*tail)->next)
		;
	*tail = it;
	send_flush(d);
	return 0;
}

void membership_drop_sync_msgs(struct droverd *d)
{
	struct send_item **p = &d->sendq;

	while (*p) {
		struct send_item *it = *p;
		if (it->sync_msg) {
			*p = it->next;
			free(it->buf);
			free(it);
		} else {
			p = &it->next;
		}
	}
}
