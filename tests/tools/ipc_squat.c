/*
 * Test helper: a local impostor of droverd. Publishes libqb IPC service NAME
 * (default "drover") with libqb itself, so the name is bound exactly as
 * droverd's would be, accepts every client, and prints one line for each
 * connection and each message it receives, so a test can tell whether a
 * client sent it anything. Run it as an unprivileged user while droverd is
 * down: the CLI must refuse to talk to it, and droverd must refuse to start.
 * Stops on SIGTERM or SIGINT.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qb/qbipc_common.h>
#include <qb/qbipcs.h>
#include <qb/qbloop.h>

#include "ctl.h"

static qb_loop_t *loop;

static int32_t on_accept(qb_ipcs_connection_t *c, uid_t uid, gid_t gid)
{
	(void)c;
	printf("squat: connection from uid %u gid %u\n", (unsigned)uid, (unsigned)gid);
	fflush(stdout);
	return 0;
}

static int32_t on_msg(qb_ipcs_connection_t *c, void *data, size_t size)
{
	struct qb_ipc_response_header h = {.id = DROVER_IPC_MSG_ENVELOPE, .size = sizeof(h)};

	(void)data;
	printf("squat: received a request of %zu bytes\n", size);
	fflush(stdout);
	qb_ipcs_response_send(c, &h, sizeof(h));
	return 0;
}

static int32_t on_closed(qb_ipcs_connection_t *c)
{
	(void)c;
	return 0;
}

static int32_t job_add(enum qb_loop_priority p, void *data, qb_loop_job_dispatch_fn fn)
{
	return qb_loop_job_add(loop, p, data, fn);
}

static int32_t dispatch_add(enum qb_loop_priority p, int32_t fd, int32_t evts, void *data,
			    qb_ipcs_dispatch_fn_t fn)
{
	return qb_loop_poll_add(loop, p, fd, evts, data, fn);
}

static int32_t dispatch_mod(enum qb_loop_priority p, int32_t fd, int32_t evts, void *data,
			    qb_ipcs_dispatch_fn_t fn)
{
	return qb_loop_poll_mod(loop, p, fd, evts, data, fn);
}

static int32_t dispatch_del(int32_t fd)
{
	return qb_loop_poll_del(loop, fd);
}

static int32_t on_signal(int32_t sig, void *data)
{
	(void)sig;
	(void)data;
	qb_loop_stop(loop);
	return 0;
}

int main(int argc, char **argv)
{
	struct qb_ipcs_service_handlers sh = {
		.connection_accept = on_accept,
		.msg_process = on_msg,
		.connection_closed = on_closed,
	};
	struct qb_ipcs_poll_handlers ph = {
		.job_add = job_add,
		.dispatch_add = dispatch_add,
		.dispatch_mod = dispatch_mod,
		.dispatch_del = dispatch_del,
	};
	const char *name = argc > 1 ? argv[1] : DROVER_IPC_NAME;
	qb_ipcs_service_t *s;
	int r;

	loop = qb_loop_create();
	if (!loop)
		return 2;
	qb_loop_signal_add(loop, QB_LOOP_HIGH, SIGTERM, NULL, on_signal, NULL);
	qb_loop_signal_add(loop, QB_LOOP_HIGH, SIGINT, NULL, on_signal, NULL);
	s = qb_ipcs_create(name, 0, QB_IPC_SOCKET, &sh);
	if (!s) {
		fprintf(stderr, "squat: qb_ipcs_create: %s\n", strerror(errno));
		return 2;
	}
	qb_ipcs_poll_handlers_set(s, &ph);
	r = qb_ipcs_run(s);
	if (r < 0) {
		fprintf(stderr, "squat: cannot publish '%s': %s\n", name, strerror(-r));
		return 2;
	}
	printf("squat: holding '%s' as uid %u, pid %d\n", name, (unsigned)getuid(), (int)getpid());
	fflush(stdout);
	qb_loop_run(loop);
	qb_ipcs_destroy(s);
	qb_loop_destroy(loop);
	return 0;
}
