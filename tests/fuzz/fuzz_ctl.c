/*
 * Fuzz target: the control requests, through ctl_server.c's own dispatch
 * (msg_process: the libqb header check, the frame decoder with the control
 * channel's cap, the table of requests and every handler, ctl_jobs.c's and
 * failover.c's included). ctl_server.c is included here so its static
 * dispatch is reachable; the rest of droverd (droverd.c with its main()
 * renamed, drain.c, vm_actions.c, ...) is linked as it is built, without a
 * corosync: no CPG connection, so a change that passes every check is
 * answered "cannot send the change to the cluster" instead of multicast.
 * libqb's connection calls are replaced at link time (-Wl,--wrap): the
 * answer is captured and checked instead of written to a client.
 *
 * One daemon is set up once: nodes n1-n3 of which n1 (this node) and n2 are
 * members, a quorate synchronised configuration, VMs vm1 (running on n1) and
 * vm2 (stopped), current inventories, a finished migration in the queue.
 * The input's first byte sets what may vary per request (bit 0: corosync not
 * ready, bit 1: no quorum, bit 2: mid-exchange, bit 3: the rest is the whole
 * IPC message, libqb header included, rather than the frame behind a correct
 * header, bit 4: this node is n2, not the coordinator); the rest is the
 * request.
 *
 * Invariants: every request gets exactly one answer (the client blocks for
 * it), a well-formed CtlResponse frame; and no request changes the
 * replicated state (changes go through CPG only).
 */
#include "../../daemon/ctl_server.c"

#include "fuzz.h"

static int n_answers;

/* The answer to the client: the libqb header and one CtlResponse frame. */
ssize_t __wrap_qb_ipcs_response_sendv(qb_ipcs_connection_t *c, const struct iovec *iov,
				      size_t iov_len);
ssize_t __wrap_qb_ipcs_response_sendv(qb_ipcs_connection_t *c, const struct iovec *iov,
				      size_t iov_len)
{
	const struct qb_ipc_response_header *h;
	Drover__Envelope *env = NULL;
	size_t total = 0;
	int r;

	(void)c;
	fuzz_check(iov_len == 2 && iov[0].iov_len == sizeof(*h), "an answer of %zu pieces", iov_len);
	h = iov[0].iov_base;
	total = iov[0].iov_len + iov[1].iov_len;
	fuzz_check(h->id == DROVER_IPC_MSG_ENVELOPE && (size_t)h->size == total,
		   "an answer with a bad libqb header");
	r = frame_decode_capped(iov[1].iov_base, iov[1].iov_len, DROVER_CTL_FRAME_MAX, &env);
	fuzz_check(r == 0, "an answer that does not decode: %s", frame_strerror(r));
	fuzz_check(env->body_case == DROVER__ENVELOPE__BODY_CTL_RESPONSE,
		   "an answer that is not a CtlResponse: %d", (int)env->body_case);
	fuzz_check(env->ctl_response->exit_code == 0 || (env->ctl_response->error &&
							  env->ctl_response->error[0]),
		   "an error answer (%d) without a reason", env->ctl_response->exit_code);
	/* FUZZ_TRACE=1 in the environment: the answer, to check a seed. */
	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "answer: exit %d: %s\n", env->ctl_response->exit_code,
			env->ctl_response->error ? env->ctl_response->error : "");
	frame_free(env);
	n_answers++;
	return (ssize_t)total;
}

ssize_t __wrap_qb_ipcs_event_sendv(qb_ipcs_connection_t *c, const struct iovec *iov, size_t n);
ssize_t __wrap_qb_ipcs_event_sendv(qb_ipcs_connection_t *c, const struct iovec *iov, size_t n)
{
	(void)c, (void)iov, (void)n;
	return -ENOTCONN;
}

void __wrap_qb_ipcs_connection_ref(qb_ipcs_connection_t *c);
void __wrap_qb_ipcs_connection_ref(qb_ipcs_connection_t *c)
{
	(void)c;
}

void __wrap_qb_ipcs_connection_unref(qb_ipcs_connection_t *c);
void __wrap_qb_ipcs_connection_unref(qb_ipcs_connection_t *c)
{
	(void)c;
}

int32_t __wrap_qb_ipcs_connection_stats_get(qb_ipcs_connection_t *c,
					    struct qb_ipcs_connection_stats *st, int32_t clear);
int32_t __wrap_qb_ipcs_connection_stats_get(qb_ipcs_connection_t *c,
					    struct qb_ipcs_connection_stats *st, int32_t clear)
{
	(void)c, (void)clear;
	memset(st, 0, sizeof(*st));
	st->client_pid = 4242;
	return 0;
}

static struct droverd daemon_;
/* A client connection: libqb's is opaque, and every use of it is wrapped above. */
static char client_conn[64];

static void apply(struct droverd *d, Drover__Envelope *env)
{
	if (state_apply(&d->state, env) != 1)
		fuzz_fail("the fixture's change (body %d) did not apply", (int)env->body_case);
}

static void add_vm(struct droverd *d, const char *name)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;
	char xml[256];

	snprintf(xml, sizeof(xml), "<domain type='kvm'><name>%s</name><memory unit='MiB'>256"
				   "</memory><vcpu>1</vcpu></domain>", name);
	vm.name = (char *)name;
	vm.xml = xml;
	vm.priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	vm.memory_mib = 256;
	vm.vcpus = 1;
	m.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	apply(d, &env);
}

static void inventory(struct droverd *d, uint32_t node, const char *running)
{
	Drover__NodeInventory m = DROVER__NODE_INVENTORY__INIT;
	Drover__AgentInventory inv = DROVER__AGENT_INVENTORY__INIT;
	Drover__AgentDomain dom = DROVER__AGENT_DOMAIN__INIT, *domp = &dom;

	dom.name = (char *)running;
	dom.state = DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING;
	inv.domains = &domp;
	inv.n_domains = running ? 1 : 0;
	inv.memory_mib = 4096;
	inv.vcpus = 4;
	m.inventory = &inv;
	m.agent_ok = true;
	m.agent_error = "";
	if (obs_on_inventory(d->obs, &d->state, node, &m) != 0)
		fuzz_fail("the fixture's inventory of node %u was refused", node);
}

static void setup(struct droverd *d)
{
	static const uint32_t members[] = { 1, 2 };

	config_defaults(&d->cfg);
	/* blackbox_ctl writes here: nowhere, so a dump fails (and is answered) without I/O. */
	strscpy(d->cfg.state_dir, "/nonexistent/drover-fuzz", sizeof(d->cfg.state_dir));
	strscpy(d->cfg.ipc_group, "drover", sizeof(d->cfg.ipc_group));
	d->loop = qb_loop_create();
	d->local_id = 1;
	d->n_nodes = 3;
	for (uint32_t i = 0; i < 3; i++) {
		d->nodes[i].id = i + 1;
		snprintf(d->nodes[i].name, sizeof(d->nodes[i].name), "n%u", i + 1);
		d->nodes[i].votes = 1;
		d->nodes[i].reachable = i < 2;
		d->nodes[i].links_configured = 1;
		d->nodes[i].links_up = i < 2;
	}
	memcpy(d->members, members, sizeof(members));
	d->n_members = 2;
	state_init(&d->state);
	state_term_bump(&d->state);
	add_vm(d, "vm1");
	add_vm(d, "vm2");
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__JobsAdd m = DROVER__JOBS_ADD__INIT;
		Drover__JobSpec spec = DROVER__JOB_SPEC__INIT, *sp = &spec;
		Drover__JobStart js = DROVER__JOB_START__INIT;
		Drover__JobFinish jf = DROVER__JOB_FINISH__INIT;

		spec.vm = "vm1";
		spec.source = 2;
		spec.fixed_target = 1;
		spec.origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_MANUAL;
		m.jobs = &sp;
		m.n_jobs = 1;
		env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
		env.jobs_add = &m;
		apply(d, &env);
		js.job_id = 1;
		js.target = 1;
		js.network = "default";
		env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
		env.job_start = &js;
		apply(d, &env);
		jf.job_id = 1;
		jf.ok = true;
		jf.reason = "";
		env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
		env.job_finish = &jf;
		apply(d, &env);
	}
	obs_on_confchg(d->obs, d->members, d->n_members, members, 2, true);
	inventory(d, 1, "vm1");
	inventory(d, 2, NULL);
	/* n1 and n2 both report the default migration network up to each other. */
	for (uint32_t i = 0; i < 2; i++) {
		d->reach[i].node_id = i + 1;
		d->reach[i].n_nets = 1;
		strscpy(d->reach[i].nets[0].name, "default", sizeof(d->reach[i].nets[0].name));
		d->reach[i].nets[0].n_up = 1;
		d->reach[i].nets[0].up_ids[0] = 2 - i;
	}
	d->corosync_ready = true;
	d->quorate = d->last_quorate = true;
	d->config_quorate = true;
	d->synced = true;
	ctl_ctx = d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct droverd *d = &daemon_;
	qb_ipcs_connection_t *c = (qb_ipcs_connection_t *)client_conn;
	struct qb_ipc_request_header h;
	uint64_t before;
	uint8_t *msg;
	size_t len;
	uint8_t mode;

	if (!d->loop)
		setup(d);
	if (size < 1 || size > DROVER_CTL_FRAME_MAX)
		return 0;
	mode = data[0];
	data++, size--;
	d->corosync_ready = !(mode & 1);
	d->quorate = d->config_quorate = !(mode & 2);
	d->synced = !(mode & 4);
	d->local_id = mode & 16 ? 2 : 1;
	if (mode & 8) {
		msg = xmalloc(size ? size : 1);
		memcpy(msg, data, size);
		len = size;
	} else {
		len = sizeof(h) + size;
		msg = xmalloc(len);
		h.id = DROVER_IPC_MSG_ENVELOPE;
		h.size = (int32_t)len;
		memcpy(msg, &h, sizeof(h));
		memcpy(msg + sizeof(h), data, size);
	}
	before = state_hash(&d->state);
	n_answers = 0;
	msg_process(c, msg, len);
	fuzz_check(n_answers == 1 || (n_answers == 0 && d->pending),
		   "a request got %d answers", n_answers);
	fuzz_check(state_hash(&d->state) == before, "a control request changed the replicated state");
	/* The client hangs up: nothing of it may stay (subscriptions, pending answers). */
	conn_closed(c);
	fuzz_check(!d->pending && !n_subscribers, "a closed client left state behind");
	free(msg);
	return 0;
}
