/*
 * Test helper: connects to droverd's IPC service and sends malformed
 * requests. Each must be answered with an error response (the daemon stays
 * up and keeps answering). Exit 0 when every malformed request got an error
 * answer and a final valid status request still succeeds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qbipc_common.h>
#include <qb/qbipcc.h>

#include "ctl.h"
#include "frame.h"

static int roundtrip(qb_ipcc_connection_t *c, int32_t id, const void *payload, size_t len,
		     int *ret_exit)
{
	static char req[4096], resp[DROVER_IPC_BUFSIZE];
	struct qb_ipc_request_header *h = (void *)req;
	struct qb_ipc_response_header *rh = (void *)resp;
	Drover__Envelope *env;
	ssize_t n;

	h->id = id;
	h->size = (int32_t)(sizeof(*h) + len);
	memcpy(req + sizeof(*h), payload, len);
	n = qb_ipcc_sendv_recv(c, &(struct iovec){ req, sizeof(*h) + len }, 1, resp, sizeof(resp),
			       5000);
	if (n < (ssize_t)sizeof(*rh))
		return -EIO;
	if (frame_decode((uint8_t *)resp + sizeof(*rh), (size_t)n - sizeof(*rh), &env) < 0)
		return -EBADMSG;
	if (env->body_case != DROVER__ENVELOPE__BODY_CTL_RESPONSE) {
		frame_free(env);
		return -EBADMSG;
	}
	*ret_exit = env->ctl_response->exit_code;
	printf("  -> exit_code %d: %s\n", env->ctl_response->exit_code,
	       env->ctl_response->error);
	frame_free(env);
	return 0;
}

int main(void)
{
	static const struct {
		const char *what;
		int32_t id;
		const char *data;
		size_t len;
	} cases[] = {
		{ "garbage", DROVER_IPC_MSG_ENVELOPE, "\xde\xad\xbe\xef", 4 },
		{ "truncated header", DROVER_IPC_MSG_ENVELOPE, "\x00\x00", 2 },
		{ "length over cap", DROVER_IPC_MSG_ENVELOPE, "\x7f\xff\xff\xff\x08\x01", 6 },
		{ "length mismatch", DROVER_IPC_MSG_ENVELOPE, "\x00\x00\x00\x64\x08\x01", 6 },
		{ "protobuf garbage", DROVER_IPC_MSG_ENVELOPE, "\x00\x00\x00\x03\xff\xff\xff", 7 },
		{ "no body", DROVER_IPC_MSG_ENVELOPE, "\x00\x00\x00\x02\x08\x01", 6 },
		{ "wrong version", DROVER_IPC_MSG_ENVELOPE, "\x00\x00\x00\x02\x08\x07", 6 },
		{ "unknown message id", 4242, "\x00\x00\x00\x02\x08\x01", 6 },
		{ "empty", DROVER_IPC_MSG_ENVELOPE, "", 0 },
	};
	qb_ipcc_connection_t *c = qb_ipcc_connect(DROVER_IPC_NAME, DROVER_IPC_BUFSIZE);
	int bad = 0, code;

	if (!c) {
		perror("qb_ipcc_connect");
		return 2;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		printf("%s\n", cases[i].what);
		if (roundtrip(c, cases[i].id, cases[i].data, cases[i].len, &code) < 0 || code == 0) {
			printf("  NOT rejected with an error answer\n");
			bad++;
		}
	}
	/* The connection and the daemon still work. */
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
		Drover__StatusRequest st = DROVER__STATUS_REQUEST__INIT;
		uint8_t *buf;
		size_t len;

		req.req_case = DROVER__CTL_REQUEST__REQ_STATUS;
		req.status = &st;
		env.body_case = DROVER__ENVELOPE__BODY_CTL_REQUEST;
		env.ctl_request = &req;
		frame_encode(&env, &buf, &len);
		printf("valid status\n");
		if (roundtrip(c, DROVER_IPC_MSG_ENVELOPE, buf, len, &code) < 0 || code != 0) {
			printf("  valid request failed after the malformed ones\n");
			bad++;
		}
		free(buf);
	}
	qb_ipcc_disconnect(c);
	printf("%d of %zu checks failed\n", bad, sizeof(cases) / sizeof(cases[0]) + 1);
	return bad ? 1 : 0;
}
