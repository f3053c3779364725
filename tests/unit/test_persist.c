/*
 * Persistence of the replicated configuration: round trip, missing file,
 * corrupt files rejected without touching the caller's state, a 40 MiB state
 * written and read back, and the same write done by a child process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "big_state_fixture.h"
#include "persist.h"

static char dir[64];

static int setup(void **unused)
{
	(void)unused;
	strcpy(dir, "/tmp/drover-persist-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **unused)
{
	char cmd[128];

	(void)unused;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *content, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, PERSIST_FILE);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, len, f), len);
	fclose(f);
}

static void test_roundtrip(void **unused)
{
	struct cluster_state a, b;

	(void)unused;
	state_init(&a);
	a.epoch = 12;
	a.n_nodes = 2;
	a.nodes[0].id = 1;
	a.nodes[0].state = DROVER__NODE_STATE__NODE_STATE_ACTIVE;
	a.nodes[1].id = 4;
	a.nodes[1].state = DROVER__NODE_STATE__NODE_STATE_MAINTENANCE;
	assert_int_equal(persist_load(dir, &b), -ENOENT);
	assert_int_equal(persist_save(dir, &a), 0);
	assert_int_equal(persist_load(dir, &b), 0);
	assert_int_equal(state_hash(&a), state_hash(&b));
	/* Overwrite keeps working (rename over an existing file). */
	a.epoch = 13;
	assert_int_equal(persist_save(dir, &a), 0);
	assert_int_equal(persist_load(dir, &b), 0);
	assert_int_equal(b.epoch, 13);
}

static void test_corrupt(void **unused)
{
	struct cluster_state s, orig;
	struct cluster_state good;
	char path[128], buf[256];
	FILE *f;
	size_t n;

	(void)unused;
	state_init(&s);
	s.epoch = 99;
	orig = s;
	write_file("", 0);
	assert_int_equal(persist_load(dir, &s), -EBADMSG);
	write_file("DRVRSTAT\0\0\0\1\0\0\0\5abc", 19); /* length says 5, has 3 */
	assert_int_equal(persist_load(dir, &s), -EBADMSG);
	write_file("NOTMAGIC\0\0\0\1\0\0\0\0", 16);
	assert_int_equal(persist_load(dir, &s), -EBADMSG);
	write_file("DRVRSTAT\0\0\0\2\0\0\0\0", 16); /* future format */
	assert_int_equal(persist_load(dir, &s), -EBADMSG);
	write_file("DRVRSTAT\0\0\0\1\0\0\0\3\xff\xff\xff", 19); /* protobuf garbage */
	assert_int_equal(persist_load(dir, &s), -EBADMSG);
	assert_memory_equal(&s, &orig, sizeof(s));

	/* Truncating a good file anywhere is detected. */
	state_init(&good);
	good.epoch = 3;
	good.n_nodes = 1;
	good.nodes[0].id = 2;
	good.nodes[0].state = DROVER__NODE_STATE__NODE_STATE_MAINTENANCE;
	assert_int_equal(persist_save(dir, &good), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, PERSIST_FILE);
	f = fopen(path, "r");
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	for (size_t cut = 0; cut < n; cut++) {
		write_file(buf, cut);
		assert_int_equal(persist_load(dir, &s), -EBADMSG);
	}
}

static int apply(struct cluster_state *s, Drover__Envelope *env)
{
	return state_apply(s, env);
}

/* The migration queue, its limits and its history survive a restart. */
static void test_queue_roundtrip(void **unused)
{
	struct cluster_state a, b;
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd va = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
	Drover__JobsAdd add = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec spec = DROVER__JOB_SPEC__INIT, *specs[1] = { &spec };
	Drover__JobStart start = DROVER__JOB_START__INIT;
	Drover__JobFinish fin = DROVER__JOB_FINISH__INIT;
	Drover__LimitsSet ls = DROVER__LIMITS_SET__INIT;
	Drover__MigrationLimits lim = DROVER__MIGRATION_LIMITS__INIT;
	Drover__NetworkCap cap = DROVER__NETWORK_CAP__INIT, *caps[1] = { &cap };

	(void)unused;
	state_init(&a);
	vm.name = "web1";
	vm.xml = "<domain><name>web1</name><memory unit='MiB'>512</memory><vcpu>1</vcpu></domain>";
	vm.memory_mib = 512;
	vm.vcpus = 1;
	vm.priority = DROVER__VM_PRIORITY__VM_PRIORITY_HIGH;
	va.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &va;
	assert_int_equal(apply(&a, &env), 1);
	cap.network = "mig-a";
	cap.cap = 1;
	lim.per_source = 4;
	lim.max_retries = 1;
	lim.n_network_caps = 1;
	lim.network_caps = caps;
	ls.limits = &lim;
	env.body_case = DROVER__ENVELOPE__BODY_LIMITS_SET;
	env.limits_set = &ls;
	assert_int_equal(apply(&a, &env), 1);
	spec.vm = "web1";
	spec.source = 1;
	add.n_jobs = 1;
	add.jobs = specs;
	add.created_ms = 10;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &add;
	assert_int_equal(apply(&a, &env), 1);
	start.job_id = 1;
	start.target = 2;
	start.network = "mig-a";
	start.started_ms = 20;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
	env.job_start = &start;
	assert_int_equal(apply(&a, &env), 1);
	fin.job_id = 1;
	fin.ok = true;
	fin.finished_ms = 30;
	fin.bytes = 1000;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
	env.job_finish = &fin;
	assert_int_equal(apply(&a, &env), 1);
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &add; /* the bodies share a union */
	assert_int_equal(apply(&a, &env), 1); /* job 2, queued */

	assert_int_equal(persist_save(dir, &a), 0);
	assert_int_equal(persist_load(dir, &b), 0);
	assert_int_equal(state_hash(&b), state_hash(&a));
	assert_int_equal(b.n_jobs, 2);
	assert_int_equal(b.jobs[0].state, QUEUE_JOB_DONE);
	assert_int_equal(b.jobs[1].state, QUEUE_JOB_QUEUED);
	assert_int_equal(b.next_job_id, 3);
	assert_int_equal(b.n_history, 1);
	assert_int_equal(b.history[0].bytes, 1000);
	assert_true(b.limits.set);
	assert_int_equal(b.limits.per_source, 4);
	assert_string_equal(b.limits.caps[0].network, "mig-a");
	state_free(&a);
	state_free(&b);
}

/* A file written before the queue existed loads with an empty queue and the default limits. */
static void test_old_file(void **unused)
{
	Drover__ClusterState msg = DROVER__CLUSTER_STATE__INIT;
	Drover__NodeConfig n = DROVER__NODE_CONFIG__INIT, *np[1] = { &n };
	struct cluster_state s, fresh;
	uint8_t buf[256];
	size_t len;

	(void)unused;
	msg.epoch = 5;
	n.id = 2;
	n.state = DROVER__NODE_STATE__NODE_STATE_MAINTENANCE;
	msg.n_nodes = 1;
	msg.nodes = np;
	len = drover__cluster_state__get_packed_size(&msg);
	assert_true(len + 16 <= sizeof(buf));
	memcpy(buf, "DRVRSTAT\0\0\0\1", 12);
	buf[12] = 0;
	buf[13] = 0;
	buf[14] = 0;
	buf[15] = (uint8_t)len;
	drover__cluster_state__pack(&msg, buf + 16);
	write_file((const char *)buf, 16 + len);
	assert_int_equal(persist_load(dir, &s), 0);
	assert_int_equal(s.epoch, 5);
	assert_int_equal(state_node_get(&s, 2), DROVER__NODE_STATE__NODE_STATE_MAINTENANCE);
	assert_int_equal(s.n_jobs, 0);
	assert_int_equal(s.n_history, 0);
	assert_int_equal(s.next_job_id, 1);
	state_init(&fresh);
	assert_memory_equal(&s.limits, &fresh.limits, sizeof(s.limits));
	state_free(&s);
}

/* 5,000 VMs with 8 KiB of XML each (about 40 MiB): saved and loaded whole. */
static void test_big_state(void **unused)
{
	struct cluster_state a, b;
	char path[128];
	struct stat st;

	(void)unused;
	big_state_make(&a, 5000, 8192);
	assert_int_equal(persist_save(dir, &a), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, PERSIST_FILE);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size > 40 * 1000 * 1000);
	assert_int_equal(persist_load(dir, &b), 0);
	assert_int_equal(b.n_vms, 5000);
	assert_int_equal(state_hash(&b), state_hash(&a));
	assert_int_equal(b.registry_bytes, a.registry_bytes);
	state_free(&b);
	state_free(&a);
}

/* A file larger than the documented maximum is refused before it is read. */
static void test_over_maximum(void **unused)
{
	struct cluster_state s;
	char path[128];
	int fd;

	(void)unused;
	write_file("DRVRSTAT\0\0\0\1\0\0\0\0", 16);
	snprintf(path, sizeof(path), "%s/%s", dir, PERSIST_FILE);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	/* Sparse: no 128 MiB written. */
	assert_int_equal(ftruncate(fd, (off_t)PERSIST_HEADER + DROVER_STATE_MAX + 1), 0);
	close(fd);
	assert_int_equal(persist_load(dir, &s), -EBADMSG);
}

/* The background write: the child's file is the state at fork, whole. */
static void test_child_write(void **unused)
{
	struct cluster_state a, b;
	struct persist_child c = { .fd = -1 };
	uint64_t h;
	int status;

	(void)unused;
	big_state_make(&a, 600, 8192);
	h = state_hash(&a);
	assert_int_equal(persist_child_start(&c, dir, &a), 0);
	assert_true(c.pid > 0);
	assert_true(c.fd >= 0);
	/* Changed after the fork: the child writes what it saw. */
	a.epoch++;
	while (persist_child_poll(&c) == -EAGAIN) {
		struct pollfd pfd = { .fd = c.fd, .events = POLLIN };

		assert_true(poll(&pfd, 1, 10000) > 0);
	}
	assert_true(c.reported);
	assert_int_equal(c.result, 0);
	while (persist_child_reap(&c) == -EAGAIN)
		usleep(1000);
	assert_int_equal(c.pid, 0);
	assert_int_equal(c.fd, -1);
	assert_int_equal(persist_load(dir, &b), 0);
	assert_int_equal(state_hash(&b), h);
	state_free(&b);

	/* Reaped by someone else first (waitpid(-1), as agent_link.c does): still done. */
	assert_int_equal(persist_child_start(&c, dir, &a), 0);
	assert_int_equal(waitpid(c.pid, &status, 0), c.pid);
	assert_int_equal(persist_child_poll(&c), 0);
	assert_int_equal(c.result, 0);
	assert_int_equal(persist_child_reap(&c), 0);
	assert_int_equal(persist_load(dir, &b), 0);
	assert_int_equal(b.epoch, a.epoch);
	state_free(&b);

	/* A write that fails reports why; the old file stays. */
	{
		char bad[160];

		snprintf(bad, sizeof(bad), "%s/no/such/dir", dir);
		assert_int_equal(persist_child_start(&c, bad, &a), 0);
		persist_child_wait(&c);
		assert_int_equal(c.result, -ENOENT);
		assert_int_equal(c.pid, 0);
		assert_int_equal(persist_load(dir, &b), 0);
		assert_int_equal(b.epoch, a.epoch);
		state_free(&b);
	}
	state_free(&a);
}

/* A temporary file whose writer is gone is removed at start; a live writer's is not. */
static void test_stale_tmp(void **unused)
{
	char stale[160], live[160], other[160];
	FILE *f;

	(void)unused;
	snprintf(stale, sizeof(stale), "%s/.%s.%d", dir, PERSIST_FILE, 99999999);
	snprintf(live, sizeof(live), "%s/.%s.%d", dir, PERSIST_FILE, (int)getpid());
	snprintf(other, sizeof(other), "%s/.%s.x", dir, PERSIST_FILE);
	f = fopen(stale, "w");
	fclose(f);
	f = fopen(live, "w");
	fclose(f);
	f = fopen(other, "w");
	fclose(f);
	assert_int_equal(persist_prepare_dir(dir), 0);
	assert_int_equal(access(stale, F_OK), -1);
	assert_int_equal(access(live, F_OK), 0);
	assert_int_equal(access(other, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_over_maximum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_child_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_tmp, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
