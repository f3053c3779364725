/*
 * Test helper: joins CPG group "drover" like a droverd would and multicasts
 * malformed messages, so the lab tests can check that every droverd rejects
 * them, logs them, keeps running and keeps its state. It sends nothing valid
 * that would change state: it plays a buggy or hostile local process.
 *
 * usage: drover-cpg-inject [GROUP]
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <corosync/cpg.h>

#include "frame.h"
#include "util.h"

static int send_raw(cpg_handle_t h, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	cs_error_t rc;

	for (int i = 0; i < 100; i++) {
		rc = cpg_mcast_joined(h, CPG_TYPE_AGREED, &iov, 1);
		if (rc != CS_ERR_TRY_AGAIN)
			break;
		usleep(10000);
	}
	return rc == CS_OK ? 0 : -EIO;
}

static int send_env(cpg_handle_t h, Drover__Envelope *env, uint32_t version)
{
	uint8_t *buf;
	size_t len;
	int r = frame_encode(env, &buf, &len);

	if (r < 0)
		return r;
	if (version != DROVER_PROTO_VERSION) {
		/* Re-pack with a version this build would never send. */
		free(buf);
		env->version = version;
		len = drover__envelope__get_packed_size(env);
		buf = xmalloc(FRAME_HEADER + len);
		buf[0] = (uint8_t)(len >> 24);
		buf[1] = (uint8_t)(len >> 16);
		buf[2] = (uint8_t)(len >> 8);
		buf[3] = (uint8_t)len;
		drover__envelope__pack(env, buf + FRAME_HEADER);
		len += FRAME_HEADER;
	}
	r = send_raw(h, buf, len);
	free(buf);
	return r;
}

static void deliver(cpg_handle_t h, const struct cpg_name *g, uint32_t n, uint32_t p, void *m,
		    size_t l)
{
	(void)h, (void)g, (void)n, (void)p, (void)m, (void)l;
}

int main(int argc, char **argv)
{
	cpg_callbacks_t cb = { .cpg_deliver_fn = deliver };
	struct cpg_name name;
	cpg_handle_t h;
	const char *group = argc > 1 ? argv[1] : "drover";
	int failures = 0, sent = 0;
	cs_error_t rc;

	if (cpg_initialize(&h, &cb) != CS_OK) {
		fprintf(stderr, "cpg_initialize failed\n");
		return 1;
	}
	memset(&name, 0, sizeof(name));
	name.length = (uint32_t)strlen(group);
	memcpy(name.value, group, name.length);
	for (int i = 0; i < 100 && (rc = cpg_join(h, &name)) == CS_ERR_TRY_AGAIN; i++)
		usleep(100000);
	if (rc != CS_OK) {
		fprintf(stderr, "cpg_join failed: %d\n", rc);
		return 1;
	}

	/* 1. Plain garbage. */
	failures += send_raw(h, "\xde\xad\xbe\xef garbage", 13) < 0;
	sent++;
	/* 2. Truncated header. */
	failures += send_raw(h, "\x00\x00", 2) < 0;
	sent++;
	/* 3. Length larger than the cap. */
	failures += send_raw(h, "\x7f\xff\xff\xff\x08\x01", 6) < 0;
	sent++;
	/* 4. Length disagreeing with the payload (says 100, has 3). */
	failures += send_raw(h, "\x00\x00\x00\x64\x08\x01\x10", 7) < 0;
	sent++;
	/* 5. Valid length, protobuf garbage. */
	failures += send_raw(h, "\x00\x00\x00\x03\xff\xff\xff", 7) < 0;
	sent++;
	/* 6. Envelope with no body. */
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		failures += send_env(h, &env, DROVER_PROTO_VERSION) < 0;
		sent++;
	}
	/* 7. A future body (field 99) this build cannot know. */
	failures += send_raw(h, "\x00\x00\x00\x05\x08\x01\x98\x06\x00", 9) < 0;
	sent++;
	/* 8. A valid change, but in an envelope version from the future. */
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__SetNodeState m = DROVER__SET_NODE_STATE__INIT;
		m.node_id = 1;
		m.state = DROVER__NODE_STATE__NODE_STATE_MAINTENANCE;
		env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
		env.set_node_state = &m;
		failures += send_env(h, &env, 99) < 0;
		sent++;
	}
	/* 9. A control body over CPG (only peer bodies belong there). */
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
		Drover__StatusRequest st = DROVER__STATUS_REQUEST__INIT;
		req.req_case = DROVER__CTL_REQUEST__REQ_STATUS;
		req.status = &st;
		env.body_case = DROVER__ENVELOPE__BODY_CTL_REQUEST;
		env.ctl_request = &req;
		failures += send_env(h, &env, DROVER_PROTO_VERSION) < 0;
		sent++;
	}
	/* 10. Well framed, semantically invalid: node 0, unknown state. */
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__SetNodeState m = DROVER__SET_NODE_STATE__INIT;
		m.node_id = 0;
		m.state = 77;
		env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
		env.set_node_state = &m;
		failures += send_env(h, &env, DROVER_PROTO_VERSION) < 0;
		sent++;
	}
	/* 11. A full state nobody asked for. */
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__StateFull full = DROVER__STATE_FULL__INIT;
		Drover__ClusterState cs = DROVER__CLUSTER_STATE__INIT;
		cs.epoch = 1000000;
		full.state = &cs;
		env.body_case = DROVER__ENVELOPE__BODY_STATE_FULL;
		env.state_full = &full;
		failures += send_env(h, &env, DROVER_PROTO_VERSION) < 0;
		sent++;
	}
	/*
	 * 12. Queue messages that are well framed but not this sender's to make,
	 * or invalid. Our join started a state exchange, during which every
	 * change is dropped anyway: let it finish, so they reach the checks.
	 */
	usleep(1500000);
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__JobStart m = DROVER__JOB_START__INIT;

		/* Only the coordinator starts jobs, and job 424242 does not exist. */
		m.job_id = 424242;
		m.target = 1;
		m.network = "mig-a";
		env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
		env.job_start = &m;
		failures += send_env(h, &env, DROVER_PROTO_VERSION) < 0;
		sent++;
	}
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__JobFinish m = DROVER__JOB_FINISH__INIT;

		m.job_id = 424242;
		m.ok = 1;
		env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
		env.job_finish = &m;
		failures += send_env(h, &env, DROVER_PROTO_VERSION) < 0;
		sent++;
	}
	{
		/* A VM name longer than any registered one can be: refused whole. */
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__JobsAdd m = DROVER__JOBS_ADD__INIT;
		Drover__JobSpec spec = DROVER__JOB_SPEC__INIT, *sp = &spec;
		char name[300];

		memset(name, 'x', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		spec.vm = name;
		spec.source = 1;
		m.n_jobs = 1;
		m.jobs = &sp;
		env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
		env.jobs_add = &m;
		failures += send_env(h, &env, DROVER_PROTO_VERSION) < 0;
		sent++;
	}
	{
		/* More network caps than there can be networks. */
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__LimitsSet m = DROVER__LIMITS_SET__INIT;
		Drover__MigrationLimits l = DROVER__MIGRATION_LIMITS__INIT;
		Drover__NetworkCap caps[9], *cp[9];

		for (int i = 0; i < 9; i++) {
			drover__network_cap__init(&caps[i]);
			caps[i].network = "n";
			cp[i] = &caps[i];
		}
		l.set = 1;
		l.per_source = 77;
		l.n_network_caps = 9;
		l.network_caps = cp;
		m.limits = &l;
		env.body_case = DROVER__ENVELOPE__BODY_LIMITS_SET;
		env.limits_set = &m;
		failures += send_env(h, &env, DROVER_PROTO_VERSION) < 0;
		sent++;
	}
	{
		/* A health report naming more peers than a cluster can have. */
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__NetworkHealth m = DROVER__NETWORK_HEALTH__INIT;
		Drover__NetworkReach r = DROVER__NETWORK_REACH__INIT, *rp = &r;
		uint32_t up[100];

		for (int i = 0; i < 100; i++)
			up[i] = (uint32_t)i + 1;
		r.network = "mig-a";
		r.n_up = 100;
		r.up = up;
		m.n_networks = 1;
		m.networks = &rp;
		env.body_case = DROVER__ENVELOPE__BODY_NETWORK_HEALTH;
		env.network_health = &m;
		failures += send_env(h, &env, DROVER_PROTO_VERSION) < 0;
		sent++;
	}
	{
		/* An abort from a node that does not coordinate, of a job nobody runs. */
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__JobAbort m = DROVER__JOB_ABORT__INIT;

		m.job_id = 424242;
		m.reason = "injected";
		env.body_case = DROVER__ENVELOPE__BODY_JOB_ABORT;
		env.job_abort = &m;
		failures += send_env(h, &env, DROVER_PROTO_VERSION) < 0;
		sent++;
	}
	/* Let corosync deliver before leaving. */
	usleep(500000);
	cpg_leave(h, &name);
	cpg_finalize(h);
	printf("sent %d malformed messages, %d send failures\n", sent, failures);
	return failures ? 1 : 0;
}
