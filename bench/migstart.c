/*
 * bench/migstart: what a migration's start costs in drover-agent, with and
 * without a warm job worker (bench/README.md).
 *
 * It starts drover-agent the way droverd does (a SOCK_SEQPACKET socketpair
 * end as fd 3) with one plugin, plays droverd, and times AgentJob ->
 * AgentJobResult for vm_migrate jobs of a VM that does not exist: the
 * plugin's vm_migrate() is called and answers at once ("no domain"), so the
 * time is the agent's start of the job plus one lookup. Half of the runs find
 * no job worker (the agent keeps none at rest: one is started for the job),
 * half find the worker the previous job left warm; the difference is what a
 * worker's start (exec, the plugin's libraries, init()) adds to the start of
 * a migration. Run it where the plugin's hypervisor answers, e.g. inside a
 * lab node: lab/lab run n2 -- build/bench/drover-bench-migstart ...
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"

#define IDLE_WORKER_MS "300"

static uint64_t us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static Drover__Envelope *recv_env(int fd, int timeout_ms)
{
	static uint8_t buf[FRAME_HEADER + FRAME_MAX];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	Drover__Envelope *env = NULL;
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return NULL;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n <= 0 || frame_decode(buf, (size_t)n, &env) < 0)
		return NULL;
	return env;
}

/* Send a vm_migrate job and wait for its result; returns the microseconds, or 0. */
static uint64_t migrate_once(int fd, uint64_t id, int *ret_error)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT, *res;
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentVmMigrateJob mig = DROVER__AGENT_VM_MIGRATE_JOB__INIT;
	uint64_t t0, end;
	uint8_t *buf;
	size_t len;

	job.job_id = id;
	job.deadline_ms = 30000;
	mig.vm = "drover-bench-no-such-vm";
	mig.dest_uri = "qemu+tcp://127.0.0.1/system";
	mig.auto_converge = 1;
	mig.completion_timeout_ms = 20000;
	job.kind_case = DROVER__AGENT_JOB__KIND_VM_MIGRATE;
	job.vm_migrate = &mig;
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_JOB;
	env.agent_job = &job;
	if (frame_encode(&env, &buf, &len) < 0)
		return 0;
	t0 = us();
	if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
		free(buf);
		return 0;
	}
	free(buf);
	end = t0 + 30000000;
	while (us() < end) {
		res = recv_env(fd, (int)((end - us()) / 1000) + 1);
		if (!res)
			return 0;
		if (res->body_case == DROVER__ENVELOPE__BODY_AGENT_JOB_RESULT &&
		    res->agent_job_result->job_id == id) {
			uint64_t t = us() - t0;

			*ret_error = res->agent_job_result->error_code;
			frame_free(res);
			return t;
		}
		frame_free(res);
	}
	return 0;
}

/* Whether pid has a child whose argv holds "--worker" (a job worker). */
static int has_job_worker(pid_t pid)
{
	char cmd[256], line[256];
	FILE *f;
	int found = 0;

	snprintf(cmd, sizeof(cmd), "pgrep -P %d -f -- ' --worker '", (int)pid);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		found = 1;
	pclose(f);
	return found;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void print_row(const char *what, uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	printf("  %-44s %7.1f / %7.1f / %7.1f ms\n", what, (double)v[0] / 1000.0,
	       (double)v[n / 2] / 1000.0, (double)v[n - 1] / 1000.0);
}

int main(int argc, char **argv)
{
	const char *agent, *plugin, *config;
	uint64_t cold[100], warm[100], id = 1;
	int runs = 10, sv[2], st;
	Drover__Envelope *env;
	pid_t pid;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: drover-bench-migstart AGENT PLUGIN PLUGIN_CONFIG [RUNS]\n"
				"  e.g. build/agent/drover-agent "
				"build/plugins/libvirt/drover-libvirt.so qemu:///system 10\n");
		return 64;
	}
	agent = argv[1];
	plugin = argv[2];
	config = argv[3];
	if (argc == 5)
		runs = atoi(argv[4]);
	if (runs < 1 || runs > 100) {
		fprintf(stderr, "drover-bench-migstart: RUNS is 1..100\n");
		return 64;
	}
	signal(SIGPIPE, SIG_IGN);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		if (dup2(sv[1], 3) < 0)
			_exit(127);
		execl(agent, agent, "--foreground", "--log-priority", "err", "--plugin", plugin,
		      "--plugin-config", config, "--idle-worker-ms", IDLE_WORKER_MS, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	env = recv_env(sv[0], 10000);
	if (!env || env->body_case != DROVER__ENVELOPE__BODY_AGENT_HELLO) {
		fprintf(stderr, "drover-bench-migstart: no hello from the agent\n");
		return 1;
	}
	frame_free(env);
	for (int i = 0; i < runs; i++) {
		uint64_t t_end = us() + 10000000;
		int err = 0;

		/* Cold: wait until the previous job's worker has left (--idle-worker-ms). */
		while (has_job_worker(pid) == 1 && us() < t_end)
			usleep(50 * 1000);
		if (has_job_worker(pid) != 0) {
			fprintf(stderr, "drover-bench-migstart: a job worker did not leave\n");
			return 1;
		}
		cold[i] = migrate_once(sv[0], id++, &err);
		if (!cold[i] || err != ENOENT) {
			fprintf(stderr, "drover-bench-migstart: the job failed (error %d); is the "
					"hypervisor reachable with '%s'?\n", err, config);
			return 1;
		}
		/* Warm: at once, while that worker is idle. */
		warm[i] = migrate_once(sv[0], id++, &err);
		if (!warm[i] || err != ENOENT) {
			fprintf(stderr, "drover-bench-migstart: the job failed (error %d)\n", err);
			return 1;
		}
	}
	printf("migration start in drover-agent: AgentJob(vm_migrate) -> the plugin's answer for\n"
	       "a VM it does not have (one lookup), %d runs each, min / median / max:\n", runs);
	print_row("no job worker (one is started for the job)", cold, runs);
	print_row("a warm job worker", warm, runs);
	close(sv[0]);
	waitpid(pid, &st, 0);
	return 0;
}
