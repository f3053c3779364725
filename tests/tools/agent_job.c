/*
 * drover-agent-job: plays droverd towards a real drover-agent for one device
 * job, so that lab tests drive the plugin's VF path through the agent (its
 * job table, worker process, deadline and the plugin) before droverd itself
 * sends these jobs.
 *
 *   drover-agent-job AGENT PLUGIN.so PLUGIN_CONFIG attach|detach VM XMLFILE
 *                    [TIMEOUT_MS [DEADLINE_MS]]
 *
 * It starts AGENT the way droverd does (a SOCK_SEQPACKET socketpair end as
 * fd 3), waits for AgentHello, sends one AgentJob (device_attach or
 * device_detach, AgentDeviceJob {vm, device_xml, timeout_ms}) and prints the
 * AgentJobResult as "result OUTCOME errno=N ms=D error=TEXT". Exit 0 when the
 * outcome is OK, 1 when the job failed, 2 on usage or harness errors.
 * Closing the socket then stops the agent (it exits 0 on end of file).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"

static uint8_t rbuf[FRAME_HEADER + FRAME_MAX];

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return NULL;
	}
	buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static Drover__Envelope *recv_env(int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	Drover__Envelope *env = NULL;
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return NULL;
	n = recv(fd, rbuf, sizeof(rbuf), 0);
	if (n <= 0 || frame_decode(rbuf, (size_t)n, &env) < 0)
		return NULL;
	return env;
}

static const char *outcome_name(Drover__AgentJobOutcome o)
{
	switch (o) {
	case DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK:
		return "OK";
	case DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_FAILED:
		return "FAILED";
	case DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_TIMEOUT:
		return "TIMEOUT";
	case DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_CANCELED:
		return "CANCELED";
	case DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_REFUSED:
		return "REFUSED";
	default:
		return "UNSPECIFIED";
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: drover-agent-job AGENT PLUGIN.so PLUGIN_CONFIG attach|detach VM "
			"XMLFILE [TIMEOUT_MS [DEADLINE_MS]]\n");
	return 2;
}

int main(int argc, char **argv)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT, *in;
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentDeviceJob dev = DROVER__AGENT_DEVICE_JOB__INIT;
	const char *agent_argv[10];
	int sv[2], rc = 2, status;
	uint8_t *buf;
	size_t len;
	char *xml;
	pid_t pid;

	if (argc < 7 || argc > 9 || (strcmp(argv[4], "attach") && strcmp(argv[4], "detach")))
		return usage();
	xml = read_file(argv[6]);
	if (!xml) {
		fprintf(stderr, "drover-agent-job: cannot read %s: %s\n", argv[6], strerror(errno));
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return 2;
	agent_argv[0] = argv[1];
	agent_argv[1] = "--foreground";
	agent_argv[2] = "--plugin";
	agent_argv[3] = argv[2];
	agent_argv[4] = "--plugin-config";
	agent_argv[5] = argv[3];
	agent_argv[6] = NULL;
	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		if (dup2(sv[1], 3) < 0)
			_exit(127);
		execv(argv[1], (char *const *)agent_argv);
		_exit(127);
	}
	close(sv[1]);

	in = recv_env(sv[0], 30000);
	if (!in || in->body_case != DROVER__ENVELOPE__BODY_AGENT_HELLO) {
		fprintf(stderr, "drover-agent-job: no AgentHello from %s\n", argv[1]);
		goto out;
	}
	frame_free(in);

	dev.vm = argv[5];
	dev.device_xml = xml;
	if (argc >= 8)
		dev.timeout_ms = (uint32_t)strtoul(argv[7], NULL, 10);
	job.job_id = 1;
	if (argc >= 9)
		job.deadline_ms = (uint32_t)strtoul(argv[8], NULL, 10);
	if (argv[4][0] == 'a') {
		job.kind_case = DROVER__AGENT_JOB__KIND_DEVICE_ATTACH;
		job.device_attach = &dev;
	} else {
		job.kind_case = DROVER__AGENT_JOB__KIND_DEVICE_DETACH;
		job.device_detach = &dev;
	}
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_JOB;
	env.agent_job = &job;
	if (frame_encode(&env, &buf, &len) < 0 ||
	    send(sv[0], buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
		fprintf(stderr, "drover-agent-job: cannot send the job\n");
		goto out;
	}
	free(buf);

	/* Events and progress may come first; the result ends it. */
	for (;;) {
		in = recv_env(sv[0], 600000);
		if (!in) {
			fprintf(stderr, "drover-agent-job: no result from the agent\n");
			goto out;
		}
		if (in->body_case == DROVER__ENVELOPE__BODY_AGENT_JOB_RESULT &&
		    in->agent_job_result->job_id == 1)
			break;
		frame_free(in);
	}
	printf("result %s errno=%d ms=%llu error=%s\n", outcome_name(in->agent_job_result->outcome),
	       in->agent_job_result->error_code,
	       (unsigned long long)in->agent_job_result->duration_ms, in->agent_job_result->error);
	rc = in->agent_job_result->outcome == DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_OK ? 0
											      : 1;
	frame_free(in);
out:
	close(sv[0]);
	waitpid(pid, &status, 0);
	free(xml);
	return rc;
}
