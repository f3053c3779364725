/*
 * Alert programs off the loop (daemon/alerts.c), with a real qb_loop: a
 * program gets the environment it was given and its exit is noticed; one
 * that hangs is killed at its deadline with everything it started; more
 * programs than may run at once wait their turn; nothing is left a zombie.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <qb/qbdefs.h>
#include <qb/qbloop.h>
#include <qb/qbutil.h>

#include "alerts.h"
#include "util.h"

static char dir[] = "/tmp/drover-test-alerts-XXXXXX";

static void write_script(const char *name, const char *body)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s", body);
	fclose(f);
	chmod(p, 0755);
}

static char **env_of(const char *kind)
{
	struct event e = { .kind = EVENT_DRAIN, .ok = true, .result = "drained", .node = kind };
	const char *extra[] = { "PATH=/usr/bin:/bin", NULL };

	return event_alert_env(&e, 1700000000000ull, 1, "n1", dir, extra);
}

static qb_loop_t *loop;

static void stop_fn(void *data)
{
	(void)data;
	qb_loop_stop(loop);
}

/* Run the loop for ms milliseconds. */
static void run_for(unsigned ms)
{
	qb_loop_timer_handle t;

	qb_loop_timer_add(loop, QB_LOOP_HIGH, (uint64_t)ms * QB_TIME_NS_IN_MSEC, NULL, stop_fn, &t);
	qb_loop_run(loop);
}

static bool file_has(const char *name, const char *text)
{
	char p[256], buf[4096];
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

static int zombies(void)
{
	int st;

	/* Anything still ours to reap would be a zombie left behind. */
	return waitpid(-1, &st, WNOHANG) > 0;
}

static void test_runs_with_environment(void **st)
{
	struct alerts *a = alerts_new(loop);
	char p[256];

	(void)st;
	write_script("ok", "echo \"$DROVER_ALERT_KIND $DROVER_ALERT_NODE $DROVER_ALERT_RESULT\" "
			   ">\"$DROVER_ALERT_RECIPIENT/ok.out\"\nread x && echo stdin-not-empty >>"
			   "\"$DROVER_ALERT_RECIPIENT/ok.out\"\nexit 0\n");
	snprintf(p, sizeof(p), "%s/ok", dir);
	alerts_queue(a, p, env_of("n7"), "drain #1");
	run_for(1500);
	assert_true(file_has("ok.out", "drain n7 drained"));
	assert_false(file_has("ok.out", "stdin-not-empty"));
	assert_false(zombies());
	alerts_free(a);
}

static bool alive(int pid)
{
	char p[64], buf[512], *s;
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	f = fopen(p, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	s = strrchr(buf, ')');
	return s && s[1] == ' ' && s[2] != 'Z' && s[2] != 'X';
}

static void test_deadline_kills_the_group(void **st)
{
	struct alerts *a = alerts_new(loop);
	char p[256];
	struct timespec t0, t1;

	(void)st;
	alerts_set_timeout(a, 1000);
	write_script("hang", "sleep 60 &\necho $! >\"$DROVER_ALERT_RECIPIENT/child.pid\"\nsleep 60\n");
	snprintf(p, sizeof(p), "%s/hang", dir);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	alerts_queue(a, p, env_of("n1"), "drain #2");
	run_for(2500);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	{
		char pidfile[256];
		FILE *f;
		int child = 0;

		snprintf(pidfile, sizeof(pidfile), "%s/child.pid", dir);
		f = fopen(pidfile, "r");
		assert_non_null(f);
		assert_int_equal(fscanf(f, "%d", &child), 1);
		fclose(f);
		/*
		 * The background sleep was in the alert's process group: killed
		 * too (gone, or dead and waiting for init, which adopted it).
		 */
		assert_false(alive(child));
	}
	assert_false(zombies());
	alerts_free(a);
}

static void test_more_than_may_run_wait(void **st)
{
	struct alerts *a = alerts_new(loop);
	char p[256];

	(void)st;
	write_script("slow", "sleep 0.3\necho x >>\"$DROVER_ALERT_RECIPIENT/slow.out\"\n");
	snprintf(p, sizeof(p), "%s/slow", dir);
	for (int i = 0; i < 10; i++)
		alerts_queue(a, p, env_of("n1"), "drain #3");
	run_for(3000);
	{
		char path[256], line[8];
		FILE *f;
		int n = 0;

		snprintf(path, sizeof(path), "%s/slow.out", dir);
		f = fopen(path, "r");
		assert_non_null(f);
		while (fgets(line, sizeof(line), f))
			n++;
		fclose(f);
		assert_int_equal(n, 10);
	}
	/* A program that is not there: logged, nothing to reap. */
	alerts_queue(a, "/nonexistent/alert", env_of("n1"), "drain #4");
	run_for(300);
	assert_false(zombies());
	alerts_free(a);
}

static int setup(void **st)
{
	(void)st;
	assert_non_null(mkdtemp(dir));
	loop = qb_loop_create();
	return loop ? 0 : -1;
}

static int teardown(void **st)
{
	char cmd[128];

	(void)st;
	qb_loop_destroy(loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_with_environment),
		cmocka_unit_test(test_deadline_kills_the_group),
		cmocka_unit_test(test_more_than_may_run_wait),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
