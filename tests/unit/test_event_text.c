/*
 * The renderings of droverd's events (daemon/event_text.c): the journal's
 * fields and MESSAGE_IDs, the log line that carries the same fields where
 * there is no journal (quoting, escaping, cutting), and an alert program's
 * environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "event_text.h"

static struct event migration_ok(void)
{
	return (struct event){
		.kind = EVENT_MIGRATION, .ok = true, .result = "ok", .vm = "vm1", .source = "n1",
		.target = "n2", .network = "mig-a", .origin = "drain", .job_id = 7,
		.duration_ms = 1234, .has_duration = true, .downtime_ms = 120, .has_downtime = true,
		.bytes = 72613888, .has_bytes = true, .attempts = 1,
	};
}

static const char *field(const struct event_field *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return f[i].value;
	return NULL;
}

static void test_message_ids_are_distinct_128_bit_hex(void **st)
{
	(void)st;
	for (int k = 0; k < EVENT_KIND_COUNT; k++) {
		const char *id = event_message_id(k);

		assert_int_equal(strlen(id), 32);
		assert_int_equal(strspn(id, "0123456789abcdef"), 32);
		for (int j = 0; j < k; j++)
			assert_string_not_equal(id, event_message_id(j));
	}
	/* The interface: documented in docs/OPERATIONS.md, never to change. */
	assert_string_equal(event_message_id(EVENT_MIGRATION), "43e893f93afc4746a7a1d438f5034b28");
	assert_string_equal(event_kind_name(EVENT_NODE_LOST), "node_lost");
}

static void test_fields_of_a_migration(void **st)
{
	struct event e = migration_ok();
	struct event_field f[EVENT_MAX_FIELDS];
	struct event_numbers nums;
	size_t n;

	(void)st;
	n = event_fields(&e, f, &nums);
	assert_string_equal(f[0].name, "DROVER_EVENT");
	assert_string_equal(f[0].value, "migration");
	assert_string_equal(field(f, n, "DROVER_VM"), "vm1");
	assert_string_equal(field(f, n, "DROVER_SOURCE"), "n1");
	assert_string_equal(field(f, n, "DROVER_TARGET"), "n2");
	assert_string_equal(field(f, n, "DROVER_NETWORK"), "mig-a");
	assert_string_equal(field(f, n, "DROVER_RESULT"), "ok");
	assert_string_equal(field(f, n, "DROVER_DURATION_MS"), "1234");
	assert_string_equal(field(f, n, "DROVER_DOWNTIME_MS"), "120");
	assert_string_equal(field(f, n, "DROVER_BYTES"), "72613888");
	assert_string_equal(field(f, n, "DROVER_JOB_ID"), "7");
	assert_string_equal(field(f, n, "DROVER_ATTEMPTS"), "1");
	/* Unset members are left out, not written empty. */
	assert_null(field(f, n, "DROVER_DEVICE"));
	assert_null(field(f, n, "DROVER_REASON"));
	e.has_downtime = false;
	e.network = "";
	n = event_fields(&e, f, &nums);
	assert_null(field(f, n, "DROVER_DOWNTIME_MS"));
	assert_null(field(f, n, "DROVER_NETWORK"));
}

static void test_messages(void **st)
{
	struct event e = migration_ok();
	char buf[256];

	(void)st;
	event_message(&e, buf, sizeof(buf));
	assert_string_equal(buf, "migration of VM 'vm1' from n1 to n2 over mig-a done in 1.2 s "
				 "(downtime 120 ms)");
	e.ok = false, e.result = "failed", e.reason = "network mig-a went down", e.attempts = 3;
	e.has_downtime = false;
	event_message(&e, buf, sizeof(buf));
	assert_string_equal(buf, "migration of VM 'vm1' from n1 to n2 over mig-a failed in 1.2 s "
				 "after 3 attempts: network mig-a went down");
	e = (struct event){ .kind = EVENT_FENCE, .ok = true, .result = "ok", .node = "n3",
			    .device = "fence-lab", .source = "n1", .duration_ms = 3100,
			    .has_duration = true };
	event_message(&e, buf, sizeof(buf));
	assert_string_equal(buf, "node n3 fenced by 'fence-lab', 3.1 s after it was lost");
	e.ok = false, e.result = "failed", e.attempts = 2, e.reason = "timed out";
	e.has_duration = false;
	event_message(&e, buf, sizeof(buf));
	assert_string_equal(buf, "fencing node n3 with 'fence-lab' failed (attempt 2): timed out");
	e = (struct event){ .kind = EVENT_DRAIN, .ok = false, .result = "drain-failed",
			    .node = "n1", .reason = "some VMs could not move" };
	event_message(&e, buf, sizeof(buf));
	assert_string_equal(buf, "drain of node n1 failed: some VMs could not move");
	e = (struct event){ .kind = EVENT_FAILOVER, .ok = true, .result = "ok", .vm = "vm4",
			    .source = "n3", .target = "n1", .duration_ms = 2500, .has_duration = true };
	event_message(&e, buf, sizeof(buf));
	assert_string_equal(buf, "failover of VM 'vm4' from fenced node n3 to n1 done, 2.5 s after "
				 "the fence");
	/* A buffer too small is cut, terminated. */
	event_message(&e, buf, 10);
	assert_string_equal(buf, "failover ");
}

static void test_log_line_carries_the_fields(void **st)
{
	struct event e = migration_ok();
	char buf[1024];

	(void)st;
	event_log_line(&e, buf, sizeof(buf));
	assert_string_equal(buf,
			    "migration of VM 'vm1' from n1 to n2 over mig-a done in 1.2 s (downtime "
			    "120 ms) [MESSAGE_ID=43e893f93afc4746a7a1d438f5034b28 DROVER_EVENT=migration "
			    "DROVER_RESULT=ok DROVER_VM=vm1 DROVER_SOURCE=n1 DROVER_TARGET=n2 "
			    "DROVER_NETWORK=mig-a DROVER_ORIGIN=drain DROVER_JOB_ID=7 "
			    "DROVER_DURATION_MS=1234 DROVER_DOWNTIME_MS=120 DROVER_BYTES=72613888 "
			    "DROVER_ATTEMPTS=1]");
}

static void test_log_line_quotes_and_escapes(void **st)
{
	struct event e = { .kind = EVENT_NODE_LOST, .ok = false, .result = "lost", .node = "n3",
			   .reason = "left \"corosync\"\\ at\ttoken\nend]\x01" };
	char buf[512];

	(void)st;
	event_log_line(&e, buf, sizeof(buf));
	assert_non_null(strstr(buf, " DROVER_REASON=\"left \\\"corosync\\\"\\\\ at\\ttoken\\nend]\\x01\"]"));
	assert_null(strchr(buf, '\n'));
	assert_null(strchr(buf, '\t'));
}

static void test_log_line_is_cut_between_fields(void **st)
{
	struct event e = migration_ok();
	char full[1024], buf[200];
	size_t n;

	(void)st;
	event_log_line(&e, full, sizeof(full));
	for (size_t len = 1; len <= sizeof(buf); len++) {
		memset(buf, 'x', sizeof(buf));
		event_log_line(&e, buf, len);
		n = strlen(buf);
		assert_true(n < len);
		/*
		 * A prefix of the whole line, cut inside the message or at a
		 * field's end (then closed with ']' where there is room).
		 */
		if (strchr(buf, '[')) {
			size_t p = buf[n - 1] == ']' ? n - 1 : n;

			assert_memory_equal(buf, full, p);
			assert_true(full[p] == ' ' || full[p] == ']');
		} else {
			assert_memory_equal(buf, full, n);
		}
	}
}

static const char *getenv_in(char **env, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; env[i]; i++)
		if (strncmp(env[i], name, nl) == 0 && env[i][nl] == '=')
			return env[i] + nl + 1;
	return NULL;
}

static void test_alert_environment(void **st)
{
	struct event e = { .kind = EVENT_DRAIN, .ok = true, .result = "drained", .node = "n1" };
	const char *extra[] = { "PATH=/usr/bin:/bin", NULL };
	char **env;

	(void)st;
	env = event_alert_env(&e, 1700000000123ull, 42, "n2", "ops@example.org", extra);
	assert_string_equal(getenv_in(env, "DROVER_ALERT_KIND"), "drain");
	assert_string_equal(getenv_in(env, "DROVER_ALERT_NODE"), "n1");
	assert_string_equal(getenv_in(env, "DROVER_ALERT_RESULT"), "drained");
	assert_string_equal(getenv_in(env, "DROVER_ALERT_DESC"), "drain of node n1 complete");
	assert_string_equal(getenv_in(env, "DROVER_ALERT_MESSAGE_ID"),
			    event_message_id(EVENT_DRAIN));
	assert_string_equal(getenv_in(env, "DROVER_ALERT_SEQUENCE"), "42");
	assert_string_equal(getenv_in(env, "DROVER_ALERT_TIMESTAMP"), "2023-11-14T22:13:20.123Z");
	assert_string_equal(getenv_in(env, "DROVER_ALERT_TIMESTAMP_MS"), "1700000000123");
	assert_string_equal(getenv_in(env, "DROVER_ALERT_LOCAL_NODE"), "n2");
	assert_string_equal(getenv_in(env, "DROVER_ALERT_RECIPIENT"), "ops@example.org");
	assert_string_equal(getenv_in(env, "PATH"), "/usr/bin:/bin");
	assert_null(getenv_in(env, "DROVER_ALERT_VM"));
	assert_null(getenv_in(env, "DROVER_ALERT_EVENT"));
	event_env_free(env);
	env = event_alert_env(&e, 0, 1, "n2", "", NULL);
	assert_null(getenv_in(env, "DROVER_ALERT_RECIPIENT"));
	event_env_free(env);
}

static void test_which_events_alert(void **st)
{
	struct event e = migration_ok();

	(void)st;
	assert_false(event_alerts(&e));
	e.ok = false, e.result = "cancelled";
	assert_false(event_alerts(&e));
	e.result = "failed";
	assert_true(event_alerts(&e));
	e = (struct event){ .kind = EVENT_NODE_LOST, .result = "lost" };
	assert_true(event_alerts(&e));
	e = (struct event){ .kind = EVENT_FAILOVER, .ok = true, .result = "ok" };
	assert_true(event_alerts(&e));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_ids_are_distinct_128_bit_hex),
		cmocka_unit_test(test_fields_of_a_migration),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_log_line_carries_the_fields),
		cmocka_unit_test(test_log_line_quotes_and_escapes),
		cmocka_unit_test(test_log_line_is_cut_between_fields),
		cmocka_unit_test(test_alert_environment),
		cmocka_unit_test(test_which_events_alert),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
