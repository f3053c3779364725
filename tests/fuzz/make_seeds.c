/*
 * Writes the binary seeds of tests/fuzz/corpus/ (frame, peer, state, ctl):
 * real messages as droverd, the CLI and the agent build them, so the fuzzers
 * start from inputs that reach deep into the handlers rather than from noise.
 * The text seeds (config, vmxml) are plain files in the tree. Run by hand
 * after a protocol change: build/tests/fuzz/make-seeds tests/fuzz/corpus
 * (tests/fuzz/README.md); the replay tests run whatever is in the tree.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "apply_gate.h"
#include "ctl.h"
#include "frame.h"
#include "state.h"
#include "state_xfer.h"
#include "sync.h"
#include "util.h"

static const char *out_dir;

/*
 * What fuzz_peer's node 1 holds while a seed is written: its state (every
 * change of a seed is meant to apply) and the members, so that a seed can
 * end an exchange with the digests every member would send.
 */
static struct cluster_state mirror;
static uint8_t mirror_members = 0x7;
static bool mirror_ready;

/* A growing byte buffer: one seed. */
struct seed {
	uint8_t *buf;
	size_t len, cap;
};

static void put(struct seed *s, const void *p, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		s->buf = realloc(s->buf, s->cap);
		if (!s->buf)
			abort();
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void put_frame(struct seed *s, Drover__Envelope *env)
{
	uint8_t *buf;
	size_t len;

	if (frame_encode_capped(env, DROVER_CTL_FRAME_MAX, &buf, &len) < 0)
		abort();
	put(s, buf, len);
	free(buf);
}

/* fuzz_peer's event: control byte (sender node - 1, flags), then the frame. */
static void mirror_reset(void)
{
	if (mirror_ready)
		state_free(&mirror);
	state_init(&mirror);
	mirror.term = 1; /* fuzz_peer starts in a quorate configuration of nodes 1-3 */
	mirror_members = 0x7;
	mirror_ready = true;
}

static void put_msg(struct seed *s, uint32_t from, uint8_t flags, Drover__Envelope *env)
{
	uint8_t ctl = (uint8_t)(((from - 1) & 3) | flags);

	if (!flags && (mirror_members & (1u << (from - 1))) && apply_gate_is_change(env))
		state_apply(&mirror, env);

	put(s, &ctl, 1);
	put_frame(s, env);
}

static void digest(struct seed *s, uint32_t from, const struct cluster_state *st);

static void put_confchg(struct seed *s, uint8_t members)
{
	uint8_t ev[2] = { 0xe0, members };
	int n = 0;

	put(s, ev, 2);
	members |= 1;
	for (int i = 0; i < 4; i++)
		n += !!(members & (1u << i));
	if (n >= 3)
		mirror.term++;
	mirror_members = members;
}

/* Every member's digest of the same state: the exchange ends at once. */
static void put_digests(struct seed *s)
{
	for (uint32_t i = 0; i < 4; i++)
		if (mirror_members & (1u << i))
			digest(s, i + 1, &mirror);
}

static void write_seed(const char *target, const char *name, struct seed *s)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f) != 0) {
		fprintf(stderr, "make-seeds: cannot write '%s': %s\n", path, strerror(errno));
		exit(1);
	}
	free(s->buf);
	memset(s, 0, sizeof(*s));
	mirror_reset();
}

/* ---- the messages ---- */

static char xml_buf[8][256];

static void vm_add(Drover__Envelope *env, Drover__VmAdd *m, Drover__VmConfig *vm, int slot,
		   const char *name, uint64_t mib, uint32_t home)
{
	drover__vm_add__init(m);
	drover__vm_config__init(vm);
	snprintf(xml_buf[slot], sizeof(xml_buf[slot]),
		 "<domain type='kvm'><name>%s</name><memory unit='MiB'>%llu</memory>"
		 "<vcpu>1</vcpu></domain>", name, (unsigned long long)mib);
	vm->name = (char *)name;
	vm->xml = xml_buf[slot];
	vm->priority = DROVER__VM_PRIORITY__VM_PRIORITY_HIGH;
	vm->memory_mib = mib;
	vm->vcpus = 1;
	vm->home_node = home;
	m->vm = vm;
	m->request_id = 7;
	env->body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env->vm_add = m;
}

static void add_vm(struct seed *s, uint32_t from, const char *name, uint64_t mib, uint32_t home)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m;
	Drover__VmConfig vm;

	vm_add(&env, &m, &vm, 0, name, mib, home);
	put_msg(s, from, 0, &env);
}

/* A NodeInventory from `from`: it runs the VMs listed (NULL-terminated). */
static void inventory(struct seed *s, uint32_t from, bool ok, const char *const *running)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__NodeInventory m = DROVER__NODE_INVENTORY__INIT;
	Drover__AgentInventory inv = DROVER__AGENT_INVENTORY__INIT;
	Drover__AgentDomain doms[8], *ptrs[8];
	size_t n = 0;

	for (; running && running[n] && n < 8; n++) {
		drover__agent_domain__init(&doms[n]);
		doms[n].name = (char *)running[n];
		doms[n].state = DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING;
		ptrs[n] = &doms[n];
	}
	inv.n_domains = n;
	inv.domains = ptrs;
	inv.memory_mib = 4096;
	inv.vcpus = 4;
	m.inventory = &inv;
	m.agent_ok = ok;
	m.agent_error = (char *)(ok ? "" : "inventory failed: the hypervisor does not answer");
	env.body_case = DROVER__ENVELOPE__BODY_NODE_INVENTORY;
	env.node_inventory = &m;
	put_msg(s, from, 0, &env);
}

static void jobs_add(struct seed *s, uint32_t from, const char *vm, uint32_t source,
		     uint32_t target, const char *network)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobsAdd m = DROVER__JOBS_ADD__INIT;
	Drover__JobSpec spec = DROVER__JOB_SPEC__INIT, *sp = &spec;

	spec.vm = (char *)vm;
	spec.source = source;
	spec.fixed_target = target;
	spec.origin = target ? DROVER__JOB_ORIGIN__JOB_ORIGIN_MANUAL
			     : DROVER__JOB_ORIGIN__JOB_ORIGIN_DRAIN;
	spec.fixed_network = (char *)network;
	m.jobs = &sp;
	m.n_jobs = 1;
	m.created_ms = 1000;
	m.request_id = 9;
	env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
	env.jobs_add = &m;
	put_msg(s, from, 0, &env);
}

static void job_start(struct seed *s, uint64_t id, uint32_t target)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobStart m = DROVER__JOB_START__INIT;

	m.job_id = id;
	m.target = target;
	m.network = "default";
	m.started_ms = 2000;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
	env.job_start = &m;
	put_msg(s, 1, 0, &env);
}

static void job_finish(struct seed *s, uint32_t from, uint64_t id, bool ok)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__JobFinish m = DROVER__JOB_FINISH__INIT;

	m.job_id = id;
	m.ok = ok;
	m.reason = (char *)(ok ? "" : "migration failed: connection reset");
	m.finished_ms = 3000;
	m.downtime_ms = 40;
	m.bytes = 1 << 20;
	env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
	env.job_finish = &m;
	put_msg(s, from, 0, &env);
}

static void set_node_state(struct seed *s, uint32_t from, uint32_t node, Drover__NodeState st)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__SetNodeState m = DROVER__SET_NODE_STATE__INIT;

	m.node_id = node;
	m.state = st;
	m.request_id = 3;
	env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
	env.set_node_state = &m;
	put_msg(s, from, 0, &env);
}

static void vm_action(struct seed *s, Drover__VmActionKind kind, const char *vm, uint32_t node)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAction m = DROVER__VM_ACTION__INIT;

	m.kind = kind;
	m.vm = (char *)vm;
	m.node = node;
	m.network = "";
	m.origin_node = 2;
	m.request_id = 5;
	m.at_ms = 1500;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION;
	env.vm_action = &m;
	put_msg(s, 1, 0, &env);
}

static void vm_result(struct seed *s, uint32_t from, uint64_t id, bool ok)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmActionResult m = DROVER__VM_ACTION_RESULT__INIT;

	m.action_id = id;
	m.ok = ok;
	m.error = (char *)(ok ? "" : "libvirt: domain failed to start");
	m.origin_node = 2;
	m.request_id = 5;
	m.exit_code = ok ? 0 : 1;
	m.finished_ms = 1600;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ACTION_RESULT;
	env.vm_action_result = &m;
	put_msg(s, from, 0, &env);
}

static void vm_request(struct seed *s, uint32_t from, Drover__VmActionKind kind, const char *vm)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmRequest m = DROVER__VM_REQUEST__INIT;

	m.kind = kind;
	m.vm = (char *)vm;
	m.network = "";
	m.request_id = 11;
	env.body_case = DROVER__ENVELOPE__BODY_VM_REQUEST;
	env.vm_request = &m;
	put_msg(s, from, 0, &env);
}

/* The state a member holds after the seeds' VmAdd of vm1 and vm2 (term t). */
static void member_state(struct cluster_state *st, uint64_t term, int n_vms)
{
	const char *names[] = { "vm1", "vm2" };

	state_init(st);
	st->term = term;
	for (int i = 0; i < n_vms; i++) {
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__VmAdd m;
		Drover__VmConfig vm;

		vm_add(&env, &m, &vm, 1 + i, names[i], 256, 0);
		if (state_apply(st, &env) != 1)
			abort();
	}
}

static void digest(struct seed *s, uint32_t from, const struct cluster_state *st)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__StateDigest m = DROVER__STATE_DIGEST__INIT;

	m.term = st->term;
	m.epoch = st->epoch;
	m.hash = state_hash(st);
	env.body_case = DROVER__ENVELOPE__BODY_STATE_DIGEST;
	env.state_digest = &m;
	put_msg(s, from, 0, &env);
}

/*
 * Node 4 joins with a state of two VMs (term 2, epoch 2) that beats node 1's
 * empty one: the digests, then node 4's state as one StateFull or in chunks.
 */
static void sync_seed(const char *name, bool chunked)
{
	struct seed s = { 0 };
	struct cluster_state ours, theirs;
	struct sync_round round;
	static const uint32_t members[] = { 1, 2, 3, 4 };

	/* fuzz_peer starts quorate with 1-3 (term 1); 1-4 forms: term 2. */
	member_state(&ours, 2, 0);
	member_state(&theirs, 2, 2);
	put_confchg(&s, 0xf);
	digest(&s, 1, &ours);
	digest(&s, 2, &ours);
	digest(&s, 3, &ours);
	digest(&s, 4, &theirs);
	sync_begin(&round, members, 4);
	sync_on_digest(&round, 1, 1, ours.term, ours.epoch, state_hash(&ours));
	sync_on_digest(&round, 1, 2, ours.term, ours.epoch, state_hash(&ours));
	sync_on_digest(&round, 1, 3, ours.term, ours.epoch, state_hash(&ours));
	sync_on_digest(&round, 1, 4, theirs.term, theirs.epoch, state_hash(&theirs));
	if (!chunked) {
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__StateFull full = DROVER__STATE_FULL__INIT;
		Drover__ClusterState cs;
		struct state_proto_storage st;

		state_to_proto(&theirs, &cs, &st);
		full.state = &cs;
		env.body_case = DROVER__ENVELOPE__BODY_STATE_FULL;
		env.state_full = &full;
		put_msg(&s, 4, 0, &env);
		state_proto_storage_free(&st);
	} else {
		uint8_t *buf;
		size_t len;
		struct state_xfer_tx tx;

		if (state_xfer_encode(&theirs, &buf, &len) < 0)
			abort();
		state_xfer_tx_init(&tx, buf, len, sync_xfer_round(&round));
		for (uint32_t i = 0; i < tx.count; i++) {
			Drover__Envelope env = DROVER__ENVELOPE__INIT;
			Drover__StateChunk c;

			state_xfer_tx_chunk(&tx, i, &c);
			env.body_case = DROVER__ENVELOPE__BODY_STATE_CHUNK;
			env.state_chunk = &c;
			put_msg(&s, 4, 0, &env);
		}
		free(buf);
	}
	/* Synchronised again: a change applies. */
	add_vm(&s, 3, "vm3", 128, 0);
	write_seed("peer", name, &s);
	state_free(&ours);
	state_free(&theirs);
}

static void peer_seeds(void)
{
	static const char *const vm1[] = { "vm1", NULL }, *const none[] = { NULL };
	struct seed s = { 0 };

	add_vm(&s, 2, "vm1", 256, 0);
	write_seed("peer", "vm-add", &s);

	add_vm(&s, 2, "vm1", 256, 1);
	add_vm(&s, 3, "vm2", 512, 2);
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__VmRemove m = DROVER__VM_REMOVE__INIT;

		m.name = "vm2";
		m.request_id = 4;
		env.body_case = DROVER__ENVELOPE__BODY_VM_REMOVE;
		env.vm_remove = &m;
		put_msg(&s, 2, 0, &env);
	}
	set_node_state(&s, 2, 3, DROVER__NODE_STATE__NODE_STATE_MAINTENANCE);
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__LimitsSet m = DROVER__LIMITS_SET__INIT;
		Drover__MigrationLimits l = DROVER__MIGRATION_LIMITS__INIT;
		Drover__NetworkCap cap = DROVER__NETWORK_CAP__INIT, *capp = &cap;

		l.set = true;
		l.per_source = 1;
		l.per_target = 2;
		l.cluster = 3;
		l.max_retries = 1;
		cap.network = "fast";
		cap.cap = 1;
		l.network_caps = &capp;
		l.n_network_caps = 1;
		m.limits = &l;
		m.request_id = 8;
		env.body_case = DROVER__ENVELOPE__BODY_LIMITS_SET;
		env.limits_set = &m;
		put_msg(&s, 3, 0, &env);
	}
	write_seed("peer", "registry", &s);

	/* A drain of node 1: vm1 moves to node 2. */
	add_vm(&s, 2, "vm1", 256, 1);
	inventory(&s, 1, true, vm1);
	inventory(&s, 2, true, none);
	inventory(&s, 3, true, none);
	set_node_state(&s, 1, 1, DROVER__NODE_STATE__NODE_STATE_DRAINING);
	jobs_add(&s, 1, "vm1", 1, 0, "");
	job_start(&s, 1, 2);
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__JobProgress m = DROVER__JOB_PROGRESS__INIT;

		m.job_id = 1;
		env.body_case = DROVER__ENVELOPE__BODY_JOB_PROGRESS;
		env.job_progress = &m;
		put_msg(&s, 1, 0, &env);
	}
	job_finish(&s, 1, 1, true);
	write_seed("peer", "drain", &s);

	/* A manual migration that fails, is retried, then cancelled. */
	add_vm(&s, 2, "vm1", 256, 1);
	inventory(&s, 1, true, vm1);
	inventory(&s, 2, true, none);
	jobs_add(&s, 2, "vm1", 1, 3, "");
	job_start(&s, 1, 3);
	job_finish(&s, 1, 1, false);
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__JobAbort m = DROVER__JOB_ABORT__INIT;

		m.job_id = 1;
		m.reason = "drain cancelled with --abort";
		env.body_case = DROVER__ENVELOPE__BODY_JOB_ABORT;
		env.job_abort = &m;
		put_msg(&s, 1, 0, &env);
	}
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__JobsCancel m = DROVER__JOBS_CANCEL__INIT;

		m.node = 1;
		m.abort = true;
		m.at_ms = 4000;
		m.request_id = 12;
		m.reason = "drain of n1 cancelled by the operator";
		env.body_case = DROVER__ENVELOPE__BODY_JOBS_CANCEL;
		env.jobs_cancel = &m;
		put_msg(&s, 2, 0, &env);
	}
	write_seed("peer", "migration-retry-cancel", &s);

	/* Start and stop operations, decided by the coordinator and ended by the executor. */
	add_vm(&s, 2, "vm1", 256, 0);
	inventory(&s, 1, true, none);
	inventory(&s, 2, true, none);
	inventory(&s, 3, true, none);
	vm_action(&s, DROVER__VM_ACTION_KIND__VM_ACTION_START, "vm1", 2);
	vm_result(&s, 2, 1, true);
	inventory(&s, 2, true, vm1);
	vm_action(&s, DROVER__VM_ACTION_KIND__VM_ACTION_STOP, "vm1", 2);
	vm_result(&s, 2, 2, false);
	write_seed("peer", "operations", &s);

	/* A client's request, decided by the coordinator (node 1) itself. */
	put_confchg(&s, 0xf);
	put_digests(&s);
	add_vm(&s, 3, "vm1", 256, 0);
	inventory(&s, 4, true, none);
	inventory(&s, 1, true, none);
	inventory(&s, 2, true, none);
	inventory(&s, 3, true, none);
	vm_request(&s, 3, DROVER__VM_ACTION_KIND__VM_ACTION_START, "vm1");
	vm_result(&s, 1, 1, true);
	inventory(&s, 1, true, vm1);
	vm_request(&s, 2, DROVER__VM_ACTION_KIND__VM_ACTION_START, "vm1");
	vm_request(&s, 2, DROVER__VM_ACTION_KIND__VM_ACTION_STOP, "vm1");
	write_seed("peer", "vm-request", &s);

	/* A request while node 3 has not reported: the coordinator must not guess. */
	put_confchg(&s, 0xf);
	put_digests(&s);
	add_vm(&s, 3, "vm1", 256, 3);
	inventory(&s, 4, true, none);
	inventory(&s, 1, true, none);
	inventory(&s, 2, true, none);
	inventory(&s, 3, false, none);
	vm_request(&s, 2, DROVER__VM_ACTION_KIND__VM_ACTION_START, "vm1");
	write_seed("peer", "vm-request-unknown", &s);

	/* Node 4 is lost: fenced, its VM placed on node 2, then it returns. */
	add_vm(&s, 2, "vm4", 256, 4);
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__NodeLost m = DROVER__NODE_LOST__INIT;

		m.node = 4;
		m.lost_ms = 5000;
		m.reason = "left the membership";
		env.body_case = DROVER__ENVELOPE__BODY_NODE_LOST;
		env.node_lost = &m;
		put_msg(&s, 1, 0, &env);
	}
	for (int ok = 0; ok < 2; ok++) {
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__FenceResult m = DROVER__FENCE_RESULT__INIT;

		m.node = 4;
		m.ok = ok;
		m.device = "command";
		m.error = (char *)(ok ? "" : "fence_ipmilan: timed out");
		m.at_ms = 6000;
		env.body_case = DROVER__ENVELOPE__BODY_FENCE_RESULT;
		env.fence_result = &m;
		put_msg(&s, 2, 0, &env);
	}
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__VmPlaced m = DROVER__VM_PLACED__INIT;

		m.vm = "vm4";
		m.owner = 2;
		m.want = DROVER__VM_WANT__VM_WANT_RUNNING;
		m.reason = "";
		env.body_case = DROVER__ENVELOPE__BODY_VM_PLACED;
		env.vm_placed = &m;
		put_msg(&s, 1, 0, &env);
	}
	put_confchg(&s, 0xf);
	put_digests(&s);
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__NodeUnfenced m = DROVER__NODE_UNFENCED__INIT;

		m.node = 4;
		env.body_case = DROVER__ENVELOPE__BODY_NODE_UNFENCED;
		env.node_unfenced = &m;
		put_msg(&s, 1, 0, &env);
	}
	write_seed("peer", "failover", &s);

	/* Changes delivered in a minority, mid-exchange, and from a non-member. */
	add_vm(&s, 2, "vm1", 256, 0);
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__VmAdd m;
		Drover__VmConfig vm;

		vm_add(&env, &m, &vm, 0, "vm2", 64, 0);
		put_msg(&s, 2, 0x08, &env);
		put_msg(&s, 2, 0x10, &env);
		put_msg(&s, 4, 0, &env);
	}
	put_confchg(&s, 0x1);
	add_vm(&s, 1, "vm3", 64, 0);
	write_seed("peer", "minority", &s);

	/* Observations that are not state. */
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__NetworkHealth m = DROVER__NETWORK_HEALTH__INIT;
		Drover__NetworkReach r = DROVER__NETWORK_REACH__INIT, *rp = &r;
		uint32_t up[] = { 1, 2, 3 };

		r.network = "default";
		r.up = up;
		r.n_up = 3;
		m.networks = &rp;
		m.n_networks = 1;
		env.body_case = DROVER__ENVELOPE__BODY_NETWORK_HEALTH;
		env.network_health = &m;
		put_msg(&s, 2, 0, &env);
		inventory(&s, 3, false, none);
	}
	write_seed("peer", "observations", &s);

	sync_seed("sync-full", false);
	sync_seed("sync-chunks", true);
}

/* Every peer body of the seeds, each as one frame, plus agent and control messages. */
static void frame_seeds(void)
{
	struct seed s = { 0 };
	uint8_t *p;
	size_t off;

	/* Split the peer seeds' events into single frames. */
	peer_seeds();
	{
		const char *names[] = { "vm-add", "registry", "drain", "operations", "failover",
					"sync-full", "observations" };

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			char path[512];
			FILE *f;
			long n;

			snprintf(path, sizeof(path), "%s/peer/%s", out_dir, names[i]);
			f = fopen(path, "rb");
			if (!f)
				abort();
			fseek(f, 0, SEEK_END);
			n = ftell(f);
			rewind(f);
			p = xmalloc((size_t)n);
			if (fread(p, 1, (size_t)n, f) != (size_t)n)
				abort();
			fclose(f);
			for (off = 0; off < (size_t)n;) {
				char name[64];
				size_t len;

				if ((p[off] & 0xe0) == 0xe0) {
					off += 2;
					continue;
				}
				off++;
				len = (size_t)p[off] << 24 | (size_t)p[off + 1] << 16 |
				      (size_t)p[off + 2] << 8 | p[off + 3];
				put(&s, p + off, 4 + len);
				snprintf(name, sizeof(name), "%s-%zu", names[i], off);
				write_seed("frame", name, &s);
				off += 4 + len;
			}
			free(p);
		}
	}
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__AgentJob job = DROVER__AGENT_JOB__INIT;
		Drover__AgentVmMigrateJob mig = DROVER__AGENT_VM_MIGRATE_JOB__INIT;

		job.job_id = 3;
		job.plugin = "libvirt";
		job.deadline_ms = 60000;
		mig.vm = "vm1";
		mig.dest_uri = "qemu+tcp://10.0.0.2/system";
		mig.migrate_uri = "tcp://10.1.0.2";
		job.kind_case = DROVER__AGENT_JOB__KIND_VM_MIGRATE;
		job.vm_migrate = &mig;
		env.body_case = DROVER__ENVELOPE__BODY_AGENT_JOB;
		env.agent_job = &job;
		put_frame(&s, &env);
		write_seed("frame", "agent-job-migrate", &s);
	}
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__AgentJobResult res = DROVER__AGENT_JOB_RESULT__INIT;

		res.job_id = 3;
		res.error = "migration failed";
		env.body_case = DROVER__ENVELOPE__BODY_AGENT_JOB_RESULT;
		env.agent_job_result = &res;
		put_frame(&s, &env);
		write_seed("frame", "agent-job-result", &s);
	}
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
		Drover__VmMigrateRequest m = DROVER__VM_MIGRATE_REQUEST__INIT;

		m.name = "vm1";
		m.to = "n2";
		m.network = "default";
		req.req_case = DROVER__CTL_REQUEST__REQ_VM_MIGRATE;
		req.vm_migrate = &m;
		env.body_case = DROVER__ENVELOPE__BODY_CTL_REQUEST;
		env.ctl_request = &req;
		put_frame(&s, &env);
		write_seed("frame", "ctl-vm-migrate", &s);
	}
}

static void state_seeds(void)
{
	struct cluster_state st;
	struct seed s = { 0 };
	uint8_t *buf;
	size_t len;

	member_state(&st, 3, 2);
	/* A node in maintenance, a job that ran, limits: every section of the state. */
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__SetNodeState m = DROVER__SET_NODE_STATE__INIT;

		m.node_id = 2;
		m.state = DROVER__NODE_STATE__NODE_STATE_MAINTENANCE;
		env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
		env.set_node_state = &m;
		state_apply(&st, &env);
	}
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__JobsAdd m = DROVER__JOBS_ADD__INIT;
		Drover__JobSpec spec = DROVER__JOB_SPEC__INIT, *sp = &spec;
		Drover__JobStart js = DROVER__JOB_START__INIT;
		Drover__JobFinish jf = DROVER__JOB_FINISH__INIT;

		spec.vm = "vm1";
		spec.source = 1;
		m.jobs = &sp;
		m.n_jobs = 1;
		env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
		env.jobs_add = &m;
		state_apply(&st, &env);
		js.job_id = 1;
		js.target = 3;
		js.network = "default";
		env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
		env.job_start = &js;
		state_apply(&st, &env);
		jf.job_id = 1;
		jf.ok = true;
		jf.reason = "";
		env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
		env.job_finish = &jf;
		state_apply(&st, &env);
		spec.vm = "vm2";
		spec.source = 3;
		env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
		env.jobs_add = &m;
		state_apply(&st, &env);
	}
	if (state_xfer_encode(&st, &buf, &len) < 0)
		abort();
	put(&s, buf, len);
	write_seed("state", "two-vms-jobs-history", &s);
	free(buf);
	state_free(&st);
	state_init(&st);
	if (state_xfer_encode(&st, &buf, &len) < 0)
		abort();
	put(&s, buf, len);
	write_seed("state", "empty", &s);
	free(buf);
	state_free(&st);
}

/* fuzz_ctl's input: the mode byte (0: a ready, quorate, synchronised daemon), then the frame. */
static void ctl_seed(const char *name, uint8_t mode, Drover__CtlRequest *req)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	struct seed s = { 0 };

	env.body_case = DROVER__ENVELOPE__BODY_CTL_REQUEST;
	env.ctl_request = req;
	put(&s, &mode, 1);
	put_frame(&s, &env);
	write_seed("ctl", name, &s);
}

#define CTL(name, mode, field, kase, msg)                       \
	do {                                                    \
		Drover__CtlRequest r_ = DROVER__CTL_REQUEST__INIT; \
		r_.req_case = DROVER__CTL_REQUEST__REQ_##kase;     \
		r_.field = (msg);                                \
		ctl_seed(name, mode, &r_);                       \
	} while (0)

static void ctl_seeds(void)
{
	Drover__StatusRequest status = DROVER__STATUS_REQUEST__INIT;
	Drover__VmListRequest list = DROVER__VM_LIST_REQUEST__INIT;
	Drover__VmAddRequest add = DROVER__VM_ADD_REQUEST__INIT;
	Drover__VmNameRequest vm1 = DROVER__VM_NAME_REQUEST__INIT, vm2 = DROVER__VM_NAME_REQUEST__INIT;
	Drover__VmMigrateRequest mig = DROVER__VM_MIGRATE_REQUEST__INIT;
	Drover__NodeStateRequest ns = DROVER__NODE_STATE_REQUEST__INIT;
	Drover__NodeDrainRequest drain = DROVER__NODE_DRAIN_REQUEST__INIT;
	Drover__NodeResumeRequest resume = DROVER__NODE_RESUME_REQUEST__INIT;
	Drover__DrainCancelRequest cancel = DROVER__DRAIN_CANCEL_REQUEST__INIT;
	Drover__QueueRequest queue = DROVER__QUEUE_REQUEST__INIT;
	Drover__HistoryRequest hist = DROVER__HISTORY_REQUEST__INIT;
	Drover__ConfigSetRequest cset = DROVER__CONFIG_SET_REQUEST__INIT;
	Drover__ConfigShowRequest cshow = DROVER__CONFIG_SHOW_REQUEST__INIT;
	Drover__SubscribeRequest sub = DROVER__SUBSCRIBE_REQUEST__INIT;
	Drover__NodeConfirmOffRequest off = DROVER__NODE_CONFIRM_OFF_REQUEST__INIT;
	Drover__DebugBlackboxRequest bb = DROVER__DEBUG_BLACKBOX_REQUEST__INIT;

	CTL("status", 0, status, STATUS, &status);
	CTL("status-on-n2", 0x10, status, STATUS, &status);
	CTL("vm-list", 0, vm_list, VM_LIST, &list);
	add.xml = "<domain type='kvm'><name>vm3</name><memory unit='MiB'>128</memory>"
		  "<vcpu>1</vcpu><devices><disk type='file'><source "
		  "file='/var/lib/libvirt/images/vm3.qcow2'/></disk></devices></domain>";
	add.name = "vm3";
	add.node = "n2";
	add.priority = DROVER__VM_PRIORITY__VM_PRIORITY_HIGH;
	CTL("vm-add", 0, vm_add, VM_ADD, &add);
	CTL("vm-add-no-quorum", 2, vm_add, VM_ADD, &add);
	add.xml = "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
		  "<name>vm3</name><memory>131072</memory><vcpu>1</vcpu><qemu:commandline>"
		  "<qemu:arg value='-fw_cfg'/></qemu:commandline></domain>";
	CTL("vm-add-qemu-commandline", 0, vm_add, VM_ADD, &add);
	add.name = "other";
	CTL("vm-add-name-mismatch", 0, vm_add, VM_ADD, &add);
	vm1.name = "vm1";
	vm2.name = "vm2";
	CTL("vm-remove", 0, vm_remove, VM_REMOVE, &vm2);
	CTL("vm-start", 0, vm_start, VM_START, &vm2);
	CTL("vm-stop", 0, vm_stop, VM_STOP, &vm1);
	mig.name = "vm1";
	mig.to = "n2";
	mig.network = "default";
	CTL("vm-migrate", 0, vm_migrate, VM_MIGRATE, &mig);
	mig.network = "@127.0.0.1:1";
	CTL("vm-migrate-bad-network", 0, vm_migrate, VM_MIGRATE, &mig);
	mig.network = "nosuch";
	mig.to = "n3";
	CTL("vm-migrate-offline-target", 0, vm_migrate, VM_MIGRATE, &mig);
	ns.node = "n2";
	ns.state = DROVER__NODE_STATE__NODE_STATE_MAINTENANCE;
	CTL("node-maintenance", 0, set_node_state, SET_NODE_STATE, &ns);
	drain.node = "n1";
	drain.dry_run = true;
	CTL("node-drain-dry-run", 0, node_drain, NODE_DRAIN, &drain);
	drain.dry_run = false;
	CTL("node-drain", 4, node_drain, NODE_DRAIN, &drain);
	resume.node = "n1";
	resume.failback = true;
	CTL("node-resume-failback", 0, node_resume, NODE_RESUME, &resume);
	cancel.node = "n1";
	cancel.abort = true;
	CTL("drain-cancel", 0, drain_cancel, DRAIN_CANCEL, &cancel);
	CTL("queue", 0, queue, QUEUE, &queue);
	hist.limit = 5;
	CTL("history", 0, history, HISTORY, &hist);
	cset.key = "max-out";
	cset.value = "3";
	CTL("config-set", 0, config_set, CONFIG_SET, &cset);
	cset.key = "network.default.cap";
	cset.value = "1";
	CTL("config-set-network-cap", 0, config_set, CONFIG_SET, &cset);
	CTL("config-show", 0, config_show, CONFIG_SHOW, &cshow);
	CTL("subscribe", 0, subscribe, SUBSCRIBE, &sub);
	off.node = "n3";
	CTL("confirm-off", 0, confirm_off, CONFIRM_OFF, &off);
	off.node = "n2";
	CTL("confirm-off-member", 1, confirm_off, CONFIRM_OFF, &off);
	CTL("debug-blackbox", 0, debug_blackbox, DEBUG_BLACKBOX, &bb);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make-seeds CORPUS_DIR (tests/fuzz/corpus)\n");
		return 2;
	}
	out_dir = argv[1];
	mirror_reset();
	frame_seeds();
	state_seeds();
	ctl_seeds();
	printf("seeds written under %s\n", out_dir);
	return 0;
}
