/*
 * drover-agent's deadlines, end to end: each test starts the real binary
 * ($DROVER_AGENT) the way droverd does (a SOCK_SEQPACKET socketpair end as
 * fd 3), with the test plugins hang.so and good.so, and plays droverd.
 *
 * What must hold: a plugin call that never returns is answered TIMEOUT
 * within its deadline + 1 s, its worker and everything the worker spawned
 * are killed, and the agent then runs the next job of the same plugin; a job
 * runs beside a hung one; a job that waits in the queue past its deadline
 * times out there; cancel, crash, failing init and refusals are answered;
 * progress and events flow; closing the socket stops the agent with exit 0.
 * And the pool at rest: no job worker stays once idle, and an inventory is
 * answered by the events worker while no job worker exists; a prewarm hint
 * starts workers ahead of their jobs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"

#define OUTCOME(x) DROVER__AGENT_JOB_OUTCOME__AGENT_JOB_OUTCOME_##x

struct agent {
	pid_t pid;
	int fd;
	int n_events;
	char event_vm[64];
	char event_plugin[64];
};

static const char *agent_path, *plugin_dir;
static char pidfile[64];

static uint64_t ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *plugin(const char *name)
{
	static char buf[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s.so", plugin_dir, name);
	return buf[i];
}

/* Receive one envelope within timeout_ms; NULL on timeout. */
static Drover__Envelope *recv_env(struct agent *a, int timeout_ms)
{
	static uint8_t buf[FRAME_HEADER + FRAME_MAX];
	struct pollfd pfd = { .fd = a->fd, .events = POLLIN };
	Drover__Envelope *env = NULL;
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return NULL;
	n = recv(a->fd, buf, sizeof(buf), 0);
	assert_true(n > 0);
	assert_int_equal(frame_decode(buf, (size_t)n, &env), 0);
	assert_true(frame_body_is_agent(env));
	assert_false(frame_body_is_peer(env));
	assert_false(frame_body_is_control(env));
	return env;
}

static void send_env(struct agent *a, Drover__Envelope *env)
{
	uint8_t *buf;
	size_t len;

	assert_int_equal(frame_encode(env, &buf, &len), 0);
	assert_int_equal(send(a->fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
	free(buf);
}

static void start_agent(struct agent *a, const char *extra1, const char *extra2)
{
	const char *argv[20];
	int n = 0, sv[2];
	Drover__Envelope *env;

	memset(a, 0, sizeof(*a));
	argv[n++] = agent_path;
	argv[n++] = "--foreground";
	argv[n++] = "--log-priority";
	argv[n++] = "debug";
	argv[n++] = "--max-workers";
	argv[n++] = "2";
	argv[n++] = "--plugin";
	argv[n++] = plugin("hang");
	argv[n++] = "--plugin";
	argv[n++] = plugin("good");
	if (extra1)
		argv[n++] = extra1;
	if (extra2)
		argv[n++] = extra2;
	argv[n] = NULL;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	a->pid = fork();
	assert_true(a->pid >= 0);
	if (a->pid == 0) {
		if (dup2(sv[1], 3) < 0)
			_exit(127);
		execv(agent_path, (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	a->fd = sv[0];

	env = recv_env(a, 10000);
	assert_non_null(env);
	assert_int_equal(env->body_case, DROVER__ENVELOPE__BODY_AGENT_HELLO);
	assert_int_equal(env->agent_hello->pid, (uint32_t)a->pid);
	assert_int_equal(env->agent_hello->n_plugins, 2);
	assert_string_equal(env->agent_hello->plugins[0]->name, "hang");
	assert_string_equal(env->agent_hello->plugins[1]->name, "good");
	assert_int_equal(env->agent_hello->plugins[1]->abi_version, 1);
	assert_int_equal(env->agent_hello->max_workers, 2);
	frame_free(env);
}

/* Close droverd's end: the agent must stop its workers and exit 0 promptly. */
static void stop_agent(struct agent *a)
{
	uint64_t t0 = ms();
	int st = 0;
	pid_t r;

	close(a->fd);
	do {
		r = waitpid(a->pid, &st, WNOHANG);
		if (r == 0)
			usleep(10 * 1000);
	} while (r == 0 && ms() - t0 < 8000);
	if (r == 0) {
		kill(a->pid, SIGKILL);
		waitpid(a->pid, &st, 0);
		fail_msg("drover-agent did not exit within 8 s of its socket closing");
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void send_job(struct agent *a, Drover__AgentJob *job)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;

	env.body_case = DROVER__ENVELOPE__BODY_AGENT_JOB;
	env.agent_job = job;
	send_env(a, &env);
}

static void send_vm_start(struct agent *a, uint64_t id, const char *plug, const char *vm,
			  const char *xml, uint32_t deadline_ms)
{
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentVmStartJob st = DROVER__AGENT_VM_START_JOB__INIT;

	job.job_id = id;
	job.deadline_ms = deadline_ms;
	job.plugin = (char *)plug;
	st.vm = (char *)vm;
	st.xml = (char *)xml;
	job.kind_case = DROVER__AGENT_JOB__KIND_VM_START;
	job.vm_start = &st;
	send_job(a, &job);
}

static void send_inventory(struct agent *a, uint64_t id, const char *plug, uint32_t deadline_ms)
{
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentInventoryJob inv = DROVER__AGENT_INVENTORY_JOB__INIT;

	job.job_id = id;
	job.deadline_ms = deadline_ms;
	job.plugin = (char *)plug;
	job.kind_case = DROVER__AGENT_JOB__KIND_INVENTORY;
	job.inventory = &inv;
	send_job(a, &job);
}

static void send_fence(struct agent *a, uint64_t id, const char *plug, const char *node,
		       const char *device, uint32_t deadline_ms)
{
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentFenceJob f = DROVER__AGENT_FENCE_JOB__INIT;

	job.job_id = id;
	job.deadline_ms = deadline_ms;
	job.plugin = (char *)plug;
	f.node = (char *)node;
	f.action = "off";
	f.device = (char *)device;
	job.kind_case = DROVER__AGENT_JOB__KIND_FENCE;
	job.fence = &f;
	send_job(a, &job);
}

static void send_abort(struct agent *a, uint64_t id, const char *plug, const char *vm,
		       uint32_t deadline_ms)
{
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentVmNameJob ab = DROVER__AGENT_VM_NAME_JOB__INIT;

	job.job_id = id;
	job.deadline_ms = deadline_ms;
	job.plugin = (char *)plug;
	ab.vm = (char *)vm;
	job.kind_case = DROVER__AGENT_JOB__KIND_ABORT_MIGRATION;
	job.abort_migration = &ab;
	send_job(a, &job);
}

/*
 * Wait up to timeout_ms for the result of job id; progress of that job is
 * counted in *n_progress (may be NULL), events are noted in a. Returns the
 * envelope (frame_free() it) or NULL on timeout.
 */
static Drover__Envelope *wait_result(struct agent *a, uint64_t id, int timeout_ms,
				     int *n_progress)
{
	uint64_t end = ms() + (uint64_t)timeout_ms;

	for (;;) {
		uint64_t now = ms();
		Drover__Envelope *env;

		if (now >= end)
			return NULL;
		env = recv_env(a, (int)(end - now));
		if (!env)
			return NULL;
		switch (env->body_case) {
		case DROVER__ENVELOPE__BODY_AGENT_JOB_RESULT:
			if (env->agent_job_result->job_id == id)
				return env;
			print_message("(result of job %llu while waiting for %llu)\n",
				      (unsigned long long)env->agent_job_result->job_id,
				      (unsigned long long)id);
			break;
		case DROVER__ENVELOPE__BODY_AGENT_JOB_PROGRESS:
			if (n_progress && env->agent_job_progress->job_id == id)
				(*n_progress)++;
			break;
		case DROVER__ENVELOPE__BODY_AGENT_EVENT:
			a->n_events++;
			snprintf(a->event_vm, sizeof(a->event_vm), "%s", env->agent_event->vm);
			snprintf(a->event_plugin, sizeof(a->event_plugin), "%s",
				 env->agent_event->plugin);
			break;
		default:
			fail_msg("unexpected body %d from the agent", (int)env->body_case);
		}
		frame_free(env);
	}
}

static void expect_outcome(Drover__Envelope *env, Drover__AgentJobOutcome outcome, int errnum,
			   const char *needle)
{
	const Drover__AgentJobResult *r;

	assert_non_null(env);
	r = env->agent_job_result;
	print_message("job %llu: outcome %d, error %d '%s' after %llu ms\n",
		      (unsigned long long)r->job_id, (int)r->outcome, r->error_code, r->error,
		      (unsigned long long)r->duration_ms);
	assert_int_equal(r->outcome, outcome);
	assert_int_equal(r->error_code, errnum);
	if (needle)
		assert_non_null(strstr(r->error, needle));
}

/* Dead means gone or a zombie (the hung worker's child is reparented and reaped by init). */
static int dead(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'Z';
}

static int wait_dead(pid_t pid, int timeout_ms)
{
	uint64_t end = ms() + (uint64_t)timeout_ms;

	while (!dead(pid)) {
		if (ms() >= end)
			return 0;
		usleep(10 * 1000);
	}
	return 1;
}

static int setup(void **state)
{
	static struct agent a;

	unlink(pidfile);
	start_agent(&a, NULL, NULL);
	*state = &a;
	return 0;
}

static int teardown(void **state)
{
	stop_agent(*state);
	unlink(pidfile);
	return 0;
}

static void test_hung_call_times_out_and_agent_recovers(void **state)
{
	struct agent *a = *state;
	Drover__Envelope *env;
	int worker = 0, child = 0;
	uint64_t t0;
	FILE *f;

	send_vm_start(a, 1, "hang", "vm1", pidfile, 1000);
	t0 = ms();
	env = wait_result(a, 1, 5000, NULL);
	assert_non_null(env);
	print_message("timeout answered after %llu ms\n", (unsigned long long)(ms() - t0));
	expect_outcome(env, OUTCOME(TIMEOUT), ETIMEDOUT, "deadline of 1000 ms passed");
	assert_true(ms() - t0 >= 950);
	assert_true(ms() - t0 <= 2000); /* deadline + 1 s */
	assert_true(env->agent_job_result->duration_ms >= 1000);
	frame_free(env);

	/* The hung worker and the child it forked are killed, process group and all. */
	f = fopen(pidfile, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d %d", &worker, &child), 2);
	fclose(f);
	assert_true(worker > 0 && child > 0);
	assert_true(wait_dead(worker, 1000));
	assert_true(wait_dead(child, 1000));

	/* The same plugin works again (a fresh worker), and so does the other one. */
	send_inventory(a, 2, "hang", 5000);
	env = wait_result(a, 2, 6000, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	assert_non_null(env->agent_job_result->inventory);
	assert_int_equal(env->agent_job_result->inventory->memory_mib, 4096);
	frame_free(env);

	send_vm_start(a, 3, "good", "vm1", "<domain/>", 5000);
	env = wait_result(a, 3, 6000, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	frame_free(env);
}

static void test_job_runs_beside_a_hung_one(void **state)
{
	struct agent *a = *state;
	Drover__Envelope *env;
	uint64_t t0 = ms();

	send_vm_start(a, 10, "hang", "vm1", "", 1500);
	send_inventory(a, 11, "hang", 1000);
	/* The second job does not wait for the first. */
	env = wait_result(a, 11, 1000, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	assert_true(ms() - t0 < 1000);
	frame_free(env);
	env = wait_result(a, 10, 2500, NULL);
	expect_outcome(env, OUTCOME(TIMEOUT), ETIMEDOUT, "worker");
	frame_free(env);
}

static void test_deadline_while_queued(void **state)
{
	struct agent *a = *state;
	Drover__Envelope *env;
	uint64_t t0 = ms();

	/* --max-workers 2: two hung calls take both workers of "hang". */
	send_vm_start(a, 20, "hang", "vm1", "", 3000);
	send_vm_start(a, 21, "hang", "vm2", "", 3000);
	send_inventory(a, 22, "hang", 500);
	env = wait_result(a, 22, 1500, NULL);
	expect_outcome(env, OUTCOME(TIMEOUT), ETIMEDOUT, "waiting for a worker");
	assert_true(ms() - t0 < 1500);
	frame_free(env);
	/* An abort does not wait behind the calls it is meant to stop. */
	send_abort(a, 24, "hang", "vm1", 1000);
	t0 = ms();
	env = wait_result(a, 24, 1000, NULL);
	expect_outcome(env, OUTCOME(FAILED), ESRCH, "no migration of 'vm1'");
	assert_true(ms() - t0 < 1000);
	frame_free(env);
	/* Another plugin's pool is not affected. */
	send_inventory(a, 23, "good", 2000);
	env = wait_result(a, 23, 2500, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	assert_int_equal(env->agent_job_result->inventory->n_domains, 2);
	assert_string_equal(env->agent_job_result->inventory->domains[0]->name, "vm1");
	assert_int_equal(env->agent_job_result->inventory->domains[0]->state,
			 DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING);
	frame_free(env);
}

static void test_cancel(void **state)
{
	struct agent *a = *state;
	Drover__Envelope env = DROVER__ENVELOPE__INIT, *res;
	Drover__AgentJobCancel cancel = DROVER__AGENT_JOB_CANCEL__INIT;
	uint64_t t0;

	send_vm_start(a, 30, "hang", "vm1", pidfile, 30000);
	usleep(300 * 1000);
	t0 = ms();
	cancel.job_id = 30;
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_JOB_CANCEL;
	env.agent_job_cancel = &cancel;
	send_env(a, &env);
	res = wait_result(a, 30, 1000, NULL);
	expect_outcome(res, OUTCOME(CANCELED), ECANCELED, NULL);
	assert_true(ms() - t0 < 1000);
	frame_free(res);
}

static void test_crash_fails_the_job(void **state)
{
	struct agent *a = *state;
	Drover__Envelope *env;

	send_vm_start(a, 40, "good", "crash", "<domain/>", 5000);
	env = wait_result(a, 40, 6000, NULL);
	expect_outcome(env, OUTCOME(FAILED), EIO, "signal 6");
	frame_free(env);
	send_vm_start(a, 41, "good", "fail", "<domain/>", 5000);
	env = wait_result(a, 41, 6000, NULL);
	expect_outcome(env, OUTCOME(FAILED), EIO, "refused to start (on purpose)");
	frame_free(env);
	send_inventory(a, 42, "", 5000); /* "": the first plugin, hang */
	env = wait_result(a, 42, 6000, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	assert_int_equal(env->agent_job_result->inventory->memory_mib, 4096);
	frame_free(env);
}

static void test_refusals(void **state)
{
	struct agent *a = *state;
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentVmMigrateJob mig = DROVER__AGENT_VM_MIGRATE_JOB__INIT;
	Drover__Envelope *env;

	send_inventory(a, 50, "nosuch", 1000);
	env = wait_result(a, 50, 1000, NULL);
	expect_outcome(env, OUTCOME(REFUSED), ENOENT, "no plugin 'nosuch'");
	frame_free(env);

	job.job_id = 51; /* no kind: what an older agent sees of a newer droverd's job */
	send_job(a, &job);
	env = wait_result(a, 51, 1000, NULL);
	expect_outcome(env, OUTCOME(REFUSED), EINVAL, "no kind");
	frame_free(env);

	job.job_id = 52;
	job.plugin = "hang";
	mig.vm = "vm1";
	mig.dest_uri = "test://n2";
	job.kind_case = DROVER__AGENT_JOB__KIND_VM_MIGRATE;
	job.vm_migrate = &mig;
	send_job(a, &job);
	env = wait_result(a, 52, 1000, NULL);
	expect_outcome(env, OUTCOME(REFUSED), EOPNOTSUPP, "does not implement vm_migrate");
	frame_free(env);

	/* good migrates, but not over TLS: never in the clear instead. */
	job.job_id = 56;
	job.plugin = "good";
	mig.tls = 1;
	send_job(a, &job);
	env = wait_result(a, 56, 1000, NULL);
	expect_outcome(env, OUTCOME(REFUSED), EOPNOTSUPP, "cannot migrate over TLS");
	frame_free(env);

	/* hang has no fence member: refused, like any kind a plugin lacks. */
	send_fence(a, 55, "hang", "n2", "dev1", 1000);
	env = wait_result(a, 55, 1000, NULL);
	expect_outcome(env, OUTCOME(REFUSED), EOPNOTSUPP, "does not implement fence");
	frame_free(env);

	send_vm_start(a, 53, "hang", "", "", 1000);
	env = wait_result(a, 53, 1000, NULL);
	expect_outcome(env, OUTCOME(REFUSED), EINVAL, "without a VM name");
	frame_free(env);

	send_vm_start(a, 54, "hang", "vm1", "", 600);
	send_inventory(a, 54, "good", 1000);
	env = wait_result(a, 54, 1000, NULL);
	expect_outcome(env, OUTCOME(REFUSED), EEXIST, "already open");
	frame_free(env);
	env = wait_result(a, 54, 2000, NULL);
	expect_outcome(env, OUTCOME(TIMEOUT), ETIMEDOUT, NULL);
	frame_free(env);
}

/* A fence job reaches the plugin's fence() with its fields and the deadline in force. */
static void test_fence(void **state)
{
	struct agent *a = *state;
	Drover__Envelope *env;

	send_fence(a, 90, "good", "n2", "dev1", 3000);
	env = wait_result(a, 90, 4000, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	frame_free(env);
	/* No deadline from droverd: the plugin still gets the agent's default. */
	send_fence(a, 91, "good", "n2", "dev1", 0);
	env = wait_result(a, 91, 4000, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	frame_free(env);
	send_fence(a, 92, "good", "n3", "dev1", 3000);
	env = wait_result(a, 92, 4000, NULL);
	expect_outcome(env, OUTCOME(FAILED), EIO, "cannot fence node 'n3' action 'off'");
	frame_free(env);
}

static void test_progress_and_events(void **state)
{
	struct agent *a = *state;
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentVmMigrateJob mig = DROVER__AGENT_VM_MIGRATE_JOB__INIT;
	Drover__Envelope *env;
	int n_progress = 0;

	job.job_id = 60;
	job.deadline_ms = 5000;
	job.plugin = "good";
	mig.vm = "vm1";
	mig.dest_uri = "test://n2";
	mig.migrate_uri = "tcp://10.1.0.2";
	mig.bandwidth_mib_s = 77;
	job.kind_case = DROVER__AGENT_JOB__KIND_VM_MIGRATE;
	job.vm_migrate = &mig;
	send_job(a, &job);
	env = wait_result(a, 60, 6000, &n_progress);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	frame_free(env);
	assert_int_equal(n_progress, 3);

	/* The good plugin's events worker reports one event after its init(). */
	if (a->n_events == 0) {
		send_inventory(a, 61, "good", 2000);
		env = wait_result(a, 61, 3000, NULL);
		frame_free(env);
	}
	assert_int_equal(a->n_events, 1);
	assert_string_equal(a->event_vm, "vm1");
	assert_string_equal(a->event_plugin, "good");
}

static void test_sigterm_cancels_open_jobs(void **state)
{
	struct agent *a = *state;
	Drover__Envelope *env;
	int st = 0;

	send_vm_start(a, 70, "hang", "vm1", pidfile, 30000);
	usleep(300 * 1000);
	kill(a->pid, SIGTERM);
	env = wait_result(a, 70, 2000, NULL);
	expect_outcome(env, OUTCOME(CANCELED), ESHUTDOWN, "stopping");
	frame_free(env);
	assert_int_equal(waitpid(a->pid, &st, 0), a->pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	/* teardown's stop_agent() must not wait for it again. */
	start_agent(a, NULL, NULL);
}

/* ---- watchdog self-fencing (agent/lease.c) ---- */

/*
 * The agent as droverd starts it in [fence] mode = watchdog, with "good"
 * first, and with wd (if not NULL) as its watchdog device.
 */
static void start_agent_leased_wd(struct agent *a, const char *lease_ms, const char *wd)
{
	const char *argv[] = { agent_path, "--foreground", "--log-priority", "debug", "--plugin",
			       plugin("good"), "--lease-ms", lease_ms,
			       wd ? "--watchdog-device" : NULL, wd, "--watchdog-timeout-s", "1",
			       NULL };
	int sv[2];
	Drover__Envelope *env;

	memset(a, 0, sizeof(*a));
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	a->pid = fork();
	assert_true(a->pid >= 0);
	if (a->pid == 0) {
		if (dup2(sv[1], 3) < 0)
			_exit(127);
		execv(agent_path, (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	a->fd = sv[0];
	env = recv_env(a, 10000);
	assert_non_null(env);
	assert_int_equal(env->body_case, DROVER__ENVELOPE__BODY_AGENT_HELLO);
	frame_free(env);
}

static void start_agent_leased(struct agent *a, const char *lease_ms)
{
	start_agent_leased_wd(a, lease_ms, NULL);
}

static void send_lease(struct agent *a, uint64_t expires)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentLease m = DROVER__AGENT_LEASE__INIT;

	m.expires_mono_ms = expires;
	m.lease_ms = 2000;
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_LEASE;
	env.agent_lease = &m;
	send_env(a, &env);
}

/* The next AgentSelfFence within timeout_ms (events and results skipped); NULL if none. */
static Drover__Envelope *wait_self_fence(struct agent *a, int timeout_ms)
{
	uint64_t end = ms() + (uint64_t)timeout_ms;

	for (;;) {
		uint64_t now = ms();
		Drover__Envelope *env;

		if (now >= end)
			return NULL;
		env = recv_env(a, (int)(end - now));
		if (!env)
			return NULL;
		if (env->body_case == DROVER__ENVELOPE__BODY_AGENT_SELF_FENCE)
			return env;
		assert_true(env->body_case == DROVER__ENVELOPE__BODY_AGENT_EVENT ||
			    env->body_case == DROVER__ENVELOPE__BODY_AGENT_JOB_RESULT);
		frame_free(env);
	}
}

/*
 * No lease from droverd within --lease-ms of the agent's start: the agent
 * destroys every running domain itself (good's vm1; vm2 is shut off) and
 * says so; it refuses starts until a lease that has not run out already.
 */
static void test_lease_runs_out(void **unused)
{
	struct agent a;
	Drover__Envelope *env;
	uint64_t t0 = ms();

	(void)unused;
	start_agent_leased(&a, "2000");
	env = wait_self_fence(&a, 4000);
	assert_non_null(env);
	print_message("self-fenced %llu ms after start\n", (unsigned long long)(ms() - t0));
	assert_true(ms() - t0 >= 2000);
	assert_int_equal(env->agent_self_fence->n_destroyed, 1);
	assert_string_equal(env->agent_self_fence->destroyed[0], "vm1");
	assert_string_equal(env->agent_self_fence->error, "");
	frame_free(env);

	send_vm_start(&a, 90, "good", "vm1", "<domain/>", 3000);
	env = wait_result(&a, 90, 3000, NULL);
	expect_outcome(env, OUTCOME(REFUSED), EPERM, "self-fenced");
	frame_free(env);
	/* A lease that ran out already (a beat read late) vouches for nothing. */
	send_lease(&a, ms() - 1);
	send_vm_start(&a, 91, "good", "vm1", "<domain/>", 3000);
	env = wait_result(&a, 91, 3000, NULL);
	expect_outcome(env, OUTCOME(REFUSED), EPERM, "self-fenced");
	frame_free(env);
	send_lease(&a, ms() + 5000);
	send_vm_start(&a, 92, "good", "vm1", "<domain/>", 3000);
	env = wait_result(&a, 92, 3000, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	frame_free(env);
	stop_agent(&a);
}

/* Leases renewed in time: the agent never self-fences; droverd cannot ask it to. */
static void test_lease_renewed(void **unused)
{
	struct agent a;
	Drover__Envelope *env;
	Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
	Drover__AgentSelfFenceJob sf = DROVER__AGENT_SELF_FENCE_JOB__INIT;

	(void)unused;
	start_agent_leased(&a, "2000");
	for (int i = 0; i < 8; i++) {
		send_lease(&a, ms() + 2000);
		env = wait_self_fence(&a, 500);
		assert_null(env);
	}
	job.job_id = 93;
	job.kind_case = DROVER__AGENT_JOB__KIND_SELF_FENCE;
	job.self_fence = &sf;
	send_job(&a, &job);
	env = wait_result(&a, 93, 3000, NULL);
	expect_outcome(env, OUTCOME(REFUSED), EPERM, "agent's own");
	frame_free(env);
	stop_agent(&a);
}

static void send_release(struct agent *a)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentLease m = DROVER__AGENT_LEASE__INIT;

	m.release = true;
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_LEASE;
	env.agent_lease = &m;
	send_env(a, &env);
}

/*
 * The watchdog device (a plain file here, which records the magic close
 * "V") is disarmed only when droverd released the lease before the link
 * ended; a link that just ends (droverd crashed or was killed, perhaps on a
 * host cut off from the others) leaves it armed, so the host resets.
 */
static void run_watchdog_end(bool release, const char *expect)
{
	char path[] = "/tmp/drover-test-wd-XXXXXX";
	char got[16] = "";
	struct agent a;
	ssize_t n;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	start_agent_leased_wd(&a, "2000", path);
	send_lease(&a, ms() + 3000);
	/* The device is opened at a tick after the grant (every 200 ms). */
	assert_null(wait_self_fence(&a, 600));
	if (release)
		send_release(&a);
	stop_agent(&a);
	n = pread(fd, got, sizeof(got) - 1, 0);
	assert_true(n >= 0);
	got[n] = '\0';
	close(fd);
	unlink(path);
	print_message("watchdog device after the end of the link (%s): '%s'\n",
		      release ? "released" : "not released", got);
	assert_string_equal(got, expect);
}

static void test_watchdog_released(void **unused)
{
	(void)unused;
	run_watchdog_end(true, "V");
}

static void test_watchdog_stays_armed(void **unused)
{
	(void)unused;
	run_watchdog_end(false, "");
}

/* An agent whose "good" plugin cannot init: its jobs fail with init's reason. */
static void test_init_failure(void **unused)
{
	struct agent a;
	Drover__Envelope *env;

	(void)unused;
	start_agent(&a, "--plugin-config", "fail-init");
	send_inventory(&a, 80, "good", 3000);
	env = wait_result(&a, 80, 4000, NULL);
	expect_outcome(env, OUTCOME(FAILED), ECONNREFUSED, "cannot start: cannot reach");
	frame_free(env);
	/* Each retry tries init() afresh, and hang's pool is unaffected. */
	send_inventory(&a, 81, "good", 3000);
	env = wait_result(&a, 81, 4000, NULL);
	expect_outcome(env, OUTCOME(FAILED), ECONNREFUSED, NULL);
	frame_free(env);
	send_inventory(&a, 82, "hang", 3000);
	env = wait_result(&a, 82, 4000, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	frame_free(env);
	stop_agent(&a);
}

static void test_not_started_by_droverd(void **unused)
{
	pid_t pid;
	int st = 0;

	(void)unused;
	/* fd 3 is not a socket: refuse with a usage error instead of misbehaving. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_RDONLY);

		if (fd < 0 || dup2(fd, 3) < 0)
			_exit(126);
		execl(agent_path, agent_path, "--foreground", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 64);
}

/* ---- the pool at rest ---- */

/* How many live children of pid have flag ("--worker", "--events-worker") in their argv. */
static int count_children(pid_t pid, const char *flag)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[300], buf[4096], *p;
		int ppid = 0, child = atoi(e->d_name);
		size_t len;
		FILE *f;

		if (child <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", child);
		f = fopen(path, "r");
		if (!f)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		p = strrchr(buf, ')');
		/* ") S ppid": a zombie (Z) has exited already. */
		if (!p || sscanf(p + 2, "%*c %d", &ppid) != 1 || ppid != pid || p[2] == 'Z')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", child);
		f = fopen(path, "r");
		if (!f)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
			if (strcmp(buf + i, flag) == 0) {
				n++;
				break;
			}
	}
	closedir(d);
	return n;
}

/* Wait up to timeout_ms until pid has n children with flag; returns whether it came to that. */
static int wait_children(pid_t pid, const char *flag, int n, int timeout_ms)
{
	uint64_t end = ms() + (uint64_t)timeout_ms;

	while (count_children(pid, flag) != n) {
		if (ms() >= end)
			return 0;
		usleep(20 * 1000);
	}
	return 1;
}

/*
 * Workers start for jobs and leave when idle (--idle-worker-ms): at rest the
 * agent runs no job worker at all, only each plugin's events worker.
 */
static void test_no_job_worker_at_rest(void **unused)
{
	struct agent a;
	Drover__Envelope *env;

	(void)unused;
	start_agent(&a, "--idle-worker-ms", "400");
	/* Nothing asked yet: no job worker; good's events worker runs (hang has no events). */
	assert_true(wait_children(a.pid, "--events-worker", 1, 5000));
	assert_int_equal(count_children(a.pid, "--worker"), 0);

	/* Two jobs at once on hang: two job workers, which both leave once idle. */
	send_vm_start(&a, 100, "hang", "vm1", "", 300);
	send_vm_start(&a, 101, "hang", "vm2", "", 300);
	env = wait_result(&a, 100, 2000, NULL);
	expect_outcome(env, OUTCOME(TIMEOUT), ETIMEDOUT, NULL);
	frame_free(env);
	env = wait_result(&a, 101, 2000, NULL);
	expect_outcome(env, OUTCOME(TIMEOUT), ETIMEDOUT, NULL);
	frame_free(env);
	send_vm_start(&a, 102, "good", "vm1", "<domain/>", 3000);
	send_vm_start(&a, 103, "hang", "vm3", "<domain/>", 3000);
	env = wait_result(&a, 102, 4000, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	frame_free(env);
	send_inventory(&a, 104, "hang", 3000);
	env = wait_result(&a, 104, 4000, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	frame_free(env);
	/* 103 hangs in its worker until its deadline; then every job worker is idle or gone. */
	env = wait_result(&a, 103, 4000, NULL);
	expect_outcome(env, OUTCOME(TIMEOUT), ETIMEDOUT, NULL);
	frame_free(env);
	assert_true(wait_children(a.pid, "--worker", 0, 3000));
	assert_int_equal(count_children(a.pid, "--events-worker"), 1);
	stop_agent(&a);
}

/*
 * With no job worker at all, an inventory is answered at once by the
 * plugin's events worker, and no job worker is started for it; a plugin
 * without events still gets a job worker for its inventory.
 */
static void test_inventory_without_job_worker(void **unused)
{
	struct agent a;
	Drover__Envelope *env;
	uint64_t t0;

	(void)unused;
	start_agent(&a, "--idle-worker-ms", "400");
	assert_true(wait_children(a.pid, "--events-worker", 1, 5000));
	/* The events worker reports its one event when ready: then it can take jobs. */
	while (a.n_events == 0) {
		env = wait_result(&a, 999, 200, NULL);
		assert_null(env);
	}
	assert_int_equal(count_children(a.pid, "--worker"), 0);
	for (uint64_t id = 110; id < 113; id++) {
		t0 = ms();
		send_inventory(&a, id, "good", 2000);
		env = wait_result(&a, id, 3000, NULL);
		expect_outcome(env, OUTCOME(OK), 0, NULL);
		assert_int_equal(env->agent_job_result->inventory->n_domains, 2);
		frame_free(env);
		print_message("inventory %llu answered in %llu ms\n", (unsigned long long)id,
			      (unsigned long long)(ms() - t0));
		assert_int_equal(count_children(a.pid, "--worker"), 0);
	}
	/* Events still flow afterwards: the worker is the same, not restarted. */
	assert_int_equal(count_children(a.pid, "--events-worker"), 1);

	/* hang has no events worker: its inventory starts a job worker, which then leaves. */
	send_inventory(&a, 113, "hang", 3000);
	env = wait_result(&a, 113, 4000, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	frame_free(env);
	assert_true(wait_children(a.pid, "--worker", 0, 3000));

	/* A job that is not short never runs in the events worker. */
	send_vm_start(&a, 114, "good", "vm1", "<domain/>", 3000);
	env = wait_result(&a, 114, 4000, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	frame_free(env);
	assert_true(wait_children(a.pid, "--worker", 0, 3000));
	stop_agent(&a);
}

static void send_prewarm(struct agent *a, const char *plug, uint32_t jobs)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__AgentPrewarm m = DROVER__AGENT_PREWARM__INIT;

	m.plugin = (char *)plug;
	m.jobs = jobs;
	env.body_case = DROVER__ENVELOPE__BODY_AGENT_PREWARM;
	env.agent_prewarm = &m;
	send_env(a, &env);
}

/*
 * AgentPrewarm (droverd queued migrations from this node): job workers start
 * before their jobs come, at most --max-workers (2 here), and leave again
 * when no job comes; a job that comes finds one warm.
 */
static void test_prewarm(void **unused)
{
	struct agent a;
	Drover__Envelope *env;

	(void)unused;
	start_agent(&a, "--idle-worker-ms", "1500");
	assert_int_equal(count_children(a.pid, "--worker"), 0);
	send_prewarm(&a, "good", 5);
	assert_true(wait_children(a.pid, "--worker", 2, 3000));
	/* Unused, they leave once idle. */
	assert_true(wait_children(a.pid, "--worker", 0, 5000));

	/* A hint for one: one worker, and the migration that follows takes it. */
	send_prewarm(&a, "", 1); /* "": the first plugin, hang */
	send_prewarm(&a, "good", 1);
	send_prewarm(&a, "good", 1); /* repeated: still one */
	assert_true(wait_children(a.pid, "--worker", 2, 3000));
	usleep(300 * 1000);
	assert_int_equal(count_children(a.pid, "--worker"), 2);
	send_inventory(&a, 120, "hang", 3000);
	env = wait_result(&a, 120, 4000, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	frame_free(env);
	assert_int_equal(count_children(a.pid, "--worker"), 2);
	/* An unknown plugin's hint is ignored; the agent goes on. */
	send_prewarm(&a, "nosuch", 1);
	send_inventory(&a, 121, "good", 3000);
	env = wait_result(&a, 121, 4000, NULL);
	expect_outcome(env, OUTCOME(OK), 0, NULL);
	frame_free(env);
	assert_true(wait_children(a.pid, "--worker", 0, 5000));
	stop_agent(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hung_call_times_out_and_agent_recovers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_job_runs_beside_a_hung_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_while_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_fails_the_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_and_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_cancels_open_jobs, setup, teardown),
		cmocka_unit_test(test_init_failure),
		cmocka_unit_test(test_lease_runs_out),
		cmocka_unit_test(test_lease_renewed),
		cmocka_unit_test(test_watchdog_released),
		cmocka_unit_test(test_watchdog_stays_armed),
		cmocka_unit_test(test_not_started_by_droverd),
		cmocka_unit_test(test_no_job_worker_at_rest),
		cmocka_unit_test(test_inventory_without_job_worker),
		cmocka_unit_test(test_prewarm),
	};

	agent_path = getenv("DROVER_AGENT");
	plugin_dir = getenv("DROVER_TEST_PLUGIN_DIR");
	if (!agent_path || !plugin_dir) {
		fprintf(stderr, "DROVER_AGENT and DROVER_TEST_PLUGIN_DIR must be set (meson test)\n");
		return 1;
	}
	snprintf(pidfile, sizeof(pidfile), "/tmp/drover-hang-%d.pids", (int)getpid());
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
