/*
 * votequorum glue: keeps d->quorate current. votequorum may report a quorum
 * change before CPG delivers messages sent just before it (it talks during
 * corosync's sync phase), so droverd never assumes an order between the two:
 * it decides only when it is quorate *and* the state exchange is done.
 */
#include <errno.h>

#include "droverd.h"
#include "log.h"


static void quorum_notify(votequorum_handle_t h, uint64_t context, uint32_t quorate,
			  uint32_t n, votequorum_node_t nodes[])
{
	void *d = NULL;

	(void)context;
	log_debug("votequorum: quorate=%u with %u nodes", quorate, n);
	/* Our struct rides on the handle: no process-wide state, one daemon per handle. */
	if (votequorum_context_get(h, &d) == CS_OK && d) {
		struct droverd *dd = d;

		/*
		 * corosync's own membership: a node that left it is gone as a
		 * host (or cut off), not only its droverd; that is what fencing
		 * is for (failover.c).
		 */
		dd->n_cs_members = 0;
		for (uint32_t i = 0; i < n && dd->n_cs_members < DROVER_MAX_NODES; i++)
			if (nodes[i].state == VOTEQUORUM_NODESTATE_MEMBER)
				dd->cs_members[dd->n_cs_members++] = nodes[i].nodeid;
		dd->cs_known = true;
		droverd_on_quorum(d, quorate != 0);
		failover_kick(dd);
	}
}

static int vq_dispatch_fn(int fd, int revents, void *data)
{
	struct droverd *d = data;
	cs_error_t rc;

	(void)fd;
	(void)revents;
	rc = votequorum_dispatch(d->vq, CS_DISPATCH_ALL);
	if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN) {
		droverd_fatal(d, "lost the connection to corosync's votequorum service");
		return -1;
	}
	return 0;
}

int quorum_connect(struct droverd *d)
{
	votequorum_callbacks_t cb = { .votequorum_quorum_notify_fn = quorum_notify };
	int fd;

	if (votequorum_initialize(&d->vq, &cb) != CS_OK)
		return -ENOTCONN;
	d->vq_connected = true;
	votequorum_context_set(d->vq, d);
	/* CS_TRACK_CURRENT delivers the present state through the callback too. */
	if (votequorum_trackstart(d->vq, 0, CS_TRACK_CURRENT | CS_TRACK_CHANGES) != CS_OK) {
		quorum_disconnect(d);
		return -ENOTCONN;
	}
	votequorum_fd_get(d->vq, &fd);
	qb_loop_poll_add(d->loop, QB_LOOP_HIGH, fd, POLLIN, d, vq_dispatch_fn);
	return 0;
}

void quorum_disconnect(struct droverd *d)
{
	int fd;

	if (!d->vq_connected)
		return;
	if (votequorum_fd_get(d->vq, &fd) == CS_OK)
		qb_loop_poll_del(d->loop, fd);
	votequorum_trackstop(d->vq);
	votequorum_finalize(d->vq);
	d->vq_connected = false;
}
