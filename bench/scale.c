/*
 * bench/scale: the pure core alone at cluster sizes the lab cannot reach.
 * It builds a replicated state of N nodes and V VMs (8 KiB of domain XML
 * each, spread evenly, every VM running), then prints:
 *  - the coordinator's decisions during the drain of one full node
 *    (coord_decide(): the first, which plans the whole queue, and the mean
 *    and worst over the drain as its JobStarts are applied one by one);
 *  - locating one VM over every node's inventory (locate_vm(), what a start
 *    decision stands on);
 *  - the full state: encode, decode (state_xfer.c), bytes, and one
 *    persist_save()/persist_load() round trip in a temporary directory;
 *  - peak RSS.
 * Figures, not a test: nothing here fails on a slow machine. Sizes above the
 * documented maxima (DROVER_MAX_NODES, DROVER_MAX_VMS) are reported as such
 * and skipped rather than truncated.
 *
 *   bench/scale                 32 x 5000, then 256 x 20000
 *   bench/scale NODES VMS       one size
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "locate.h"
#include "persist.h"
#include "state.h"
#include "state_xfer.h"

#define XML_FILL 8000

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int add_vm(struct cluster_state *s, const char *name, char *xml, size_t xml_len)
{
	Drover__Envelope env = DROVER__ENVELOPE__INIT;
	Drover__VmAdd m = DROVER__VM_ADD__INIT;
	Drover__VmConfig vm = DROVER__VM_CONFIG__INIT;

	snprintf(xml, xml_len,
		 "<domain type='kvm'><name>%s</name><memory unit='MiB'>1024</memory>"
		 "<vcpu>2</vcpu><description>%*s</description></domain>",
		 name, XML_FILL, "");
	vm.name = (char *)name;
	vm.xml = xml;
	vm.memory_mib = 1024;
	vm.vcpus = 2;
	vm.priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	m.vm = &vm;
	env.body_case = DROVER__ENVELOPE__BODY_VM_ADD;
	env.vm_add = &m;
	return state_apply(s, &env);
}

static int apply_simple(struct cluster_state *s, Drover__Envelope *env)
{
	int r = state_apply(s, env);

	if (r < 0)
		fprintf(stderr, "bench/scale: a message was refused: %s\n", strerror(-r));
	return r;
}

struct cluster {
	uint32_t n_nodes;
	uint32_t n_vms;
	char (*names)[DROVER_VM_NAME_MAX];
	uint32_t *host;          /* VM i runs on host[i] */
	const char ***lists;     /* per node: its VMs */
	size_t *n_list;
};

static void cluster_lists(struct cluster *c)
{
	for (uint32_t n = 0; n < c->n_nodes; n++)
		c->n_list[n] = 0;
	for (uint32_t i = 0; i < c->n_vms; i++) {
		uint32_t n = c->host[i] - 1;

		c->lists[n][c->n_list[n]++] = c->names[i];
	}
}

static void build_input(const struct cluster *c, const struct cluster_state *s,
			struct queue_view *view, struct coord_node *nodes, struct coord_input *in)
{
	queue_view_init(view);
	view->limits.per_source = 2;
	view->limits.per_target = 2;
	for (uint32_t n = 0; n < c->n_nodes; n++) {
		struct queue_node qn;

		memset(&qn, 0, sizeof(qn));
		qn.id = n + 1;
		snprintf(qn.name, sizeof(qn.name), "n%u", n + 1);
		qn.online = true;
		qn.usable_target = state_node_get(s, n + 1) == DROVER__NODE_STATE__NODE_STATE_ACTIVE;
		qn.free_mib = 1024ull * 1024; /* 1 TiB hosts: room is not what is measured */
		qn.free_vcpus = 4096;
		queue_view_add_node(view, &qn);
		nodes[n] = (struct coord_node){ .id = n + 1, .member = true, .agent_ok = true,
						.n_vms = c->n_list[n], .vms = c->lists[n] };
	}
	queue_view_add_network(view, "mig-a", 0);
	queue_view_add_network(view, "mig-b", 0);
	for (size_t k = 0; k < 2; k++)
		for (uint32_t a = 1; a <= c->n_nodes; a++)
			for (uint32_t b = a + 1; b <= c->n_nodes; b++)
				queue_view_set_usable(view, k, a, b, true);
	memset(in, 0, sizeof(*in));
	in->state = s;
	in->view = view;
	in->n_nodes = c->n_nodes;
	in->nodes = nodes;
	in->now_ms = 1000000;
}

static long peak_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int run(uint32_t n_nodes, uint32_t n_vms)
{
	struct cluster_state s;
	struct cluster c = { .n_nodes = n_nodes, .n_vms = n_vms };
	struct queue_view *view = calloc(1, sizeof(*view));
	struct coord_node *nodes = calloc(n_nodes, sizeof(*nodes));
	struct coord_decision *dec = calloc(1, sizeof(*dec));
	struct coord_input in;
	char *xml = malloc(XML_FILL + 512);
	double t, first = 0, sum = 0, worst = 0;
	size_t decisions = 0, started = 0, drained = 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	char dir[] = "/tmp/drover-bench-scale.XXXXXX";

	printf("== %u nodes x %u VMs\n", n_nodes, n_vms);
	if (n_nodes > DROVER_MAX_NODES || n_nodes > QUEUE_MAX_NODES || n_vms > DROVER_MAX_VMS) {
		printf("   beyond the documented maxima (%u nodes, %u VMs): not run\n",
		       (unsigned)DROVER_MAX_NODES, (unsigned)DROVER_MAX_VMS);
		free(view), free(nodes), free(dec), free(xml);
		return 0;
	}
	c.names = calloc(n_vms, sizeof(*c.names));
	c.host = calloc(n_vms, sizeof(*c.host));
	c.lists = calloc(n_nodes, sizeof(*c.lists));
	c.n_list = calloc(n_nodes, sizeof(*c.n_list));
	for (uint32_t n = 0; n < n_nodes; n++)
		c.lists[n] = calloc(n_vms, sizeof(**c.lists));
	state_init(&s);
	t = now_ms();
	for (uint32_t i = 0; i < n_vms; i++) {
		snprintf(c.names[i], sizeof(c.names[i]), "vm%05u", i);
		c.host[i] = i % n_nodes + 1;
		if (add_vm(&s, c.names[i], xml, XML_FILL + 512) != 1)
			return fprintf(stderr, "bench/scale: vm add %u refused\n", i), 1;
	}
	printf("   registry built: %.0f ms (every VmAdd parses its XML)\n", now_ms() - t);
	cluster_lists(&c);

	/* Drain n1: its state and one job per VM it runs, as `drover node drain` sends them. */
	{
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__SetNodeState ns = DROVER__SET_NODE_STATE__INIT;
		Drover__JobsAdd ja = DROVER__JOBS_ADD__INIT;
		size_t n = c.n_list[0];
		Drover__JobSpec *sp = calloc(n, sizeof(*sp));
		Drover__JobSpec **pp = calloc(n, sizeof(*pp));

		ns.node_id = 1;
		ns.state = DROVER__NODE_STATE__NODE_STATE_DRAINING;
		env.body_case = DROVER__ENVELOPE__BODY_SET_NODE_STATE;
		env.set_node_state = &ns;
		apply_simple(&s, &env);
		for (size_t i = 0; i < n; i++) {
			drover__job_spec__init(&sp[i]);
			sp[i].vm = (char *)c.lists[0][i];
			sp[i].source = 1;
			sp[i].origin = DROVER__JOB_ORIGIN__JOB_ORIGIN_DRAIN;
			pp[i] = &sp[i];
		}
		ja.n_jobs = n;
		ja.jobs = pp;
		ja.created_ms = 1000;
		env.body_case = DROVER__ENVELOPE__BODY_JOBS_ADD;
		env.jobs_add = &ja;
		apply_simple(&s, &env);
		drained = n;
		free(sp);
		free(pp);
	}
	/*
	 * The coordinator decides, its JobStarts are applied and each migration
	 * finishes at once (the VM moves in the inventories), until the drain
	 * has nothing left to start.
	 */
	for (;;) {
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		double d;
		int r;

		build_input(&c, &s, view, nodes, &in);
		t = now_ms();
		r = coord_decide(&in, dec);
		d = now_ms() - t;
		if (r < 0)
			return fprintf(stderr, "bench/scale: coord_decide: %s\n", strerror(-r)), 1;
		if (!decisions)
			first = d;
		decisions++;
		sum += d;
		if (d > worst)
			worst = d;
		if (dec->kind != COORD_START)
			break;
		for (size_t k = 0; k < dec->n_starts; k++) {
			const struct queue_action *a = &dec->starts[k];
			Drover__JobStart js = DROVER__JOB_START__INIT;
			Drover__JobFinish jf = DROVER__JOB_FINISH__INIT;
			struct queue_job *j = state_job_find(&s, a->job_id);

			js.job_id = a->job_id;
			js.target = a->target;
			js.network = (char *)a->network_name;
			js.started_ms = 2000;
			env.body_case = DROVER__ENVELOPE__BODY_JOB_START;
			env.job_start = &js;
			if (apply_simple(&s, &env) != 1 || !j)
				return 1;
			for (uint32_t i = 0; i < n_vms; i++)
				if (strcmp(c.names[i], j->vm) == 0)
					c.host[i] = a->target;
			jf.job_id = a->job_id;
			jf.ok = true;
			jf.reason = (char *)"";
			jf.finished_ms = 3000;
			env.body_case = DROVER__ENVELOPE__BODY_JOB_FINISH;
			env.job_finish = &jf;
			apply_simple(&s, &env);
			started++;
		}
		cluster_lists(&c);
	}
	printf("   drain of n1 (%zu VMs): %zu decisions; first %.2f ms, mean %.2f ms, worst %.2f ms "
	       "(aim: <= %s ms); %zu started\n",
	       drained, decisions, first, sum / (double)decisions, worst,
	       n_nodes <= 32 ? "50" : "200", started);

	/* Locating one VM over every node's inventory: what each start decision does first. */
	{
		struct locate_node *ln = calloc(n_nodes, sizeof(*ln));
		struct locate_domain **doms = calloc(n_nodes, sizeof(*doms));
		struct locate_result lr;
		const int reps = 200;

		for (uint32_t n = 0; n < n_nodes; n++) {
			doms[n] = calloc(c.n_list[n] + 1, sizeof(**doms));
			for (size_t i = 0; i < c.n_list[n]; i++)
				doms[n][i] = (struct locate_domain){ c.lists[n][i],
								     DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING };
			ln[n] = (struct locate_node){ .id = n + 1, .name = "n", .member = true,
						      .current = true, .has_record = true,
						      .why_stale = "", .n_domains = c.n_list[n],
						      .domains = doms[n] };
		}
		t = now_ms();
		for (int k = 0; k < reps; k++)
			locate_vm(ln, n_nodes, "no-such-vm", &lr); /* the worst case: every list scanned */
		printf("   locate one VM (every inventory scanned): %.3f ms\n", (now_ms() - t) / reps);
		for (uint32_t n = 0; n < n_nodes; n++)
			free(doms[n]);
		free(doms);
		free(ln);
	}

	/* The full state: exchange encoding, decoding, persistence. */
	{
		struct cluster_state back;

		t = now_ms();
		if (state_xfer_encode(&s, &buf, &len) < 0)
			return fprintf(stderr, "bench/scale: encode failed\n"), 1;
		printf("   full state: %zu bytes (%.1f MiB) in %zu chunks; encode %.1f ms", len,
		       (double)len / 1048576.0, (len + STATE_XFER_CHUNK - 1) / STATE_XFER_CHUNK,
		       now_ms() - t);
		t = now_ms();
		if (state_xfer_decode(buf, len, &back) < 0)
			return fprintf(stderr, "\nbench/scale: decode failed\n"), 1;
		printf(", decode+validate %.1f ms", now_ms() - t);
		state_free(&back);
		if (mkdtemp(dir)) {
			t = now_ms();
			if (persist_save(dir, &s) == 0)
				printf(", persist %.1f ms", now_ms() - t);
			t = now_ms();
			if (persist_load(dir, &back) == 0) {
				printf(", load %.1f ms", now_ms() - t);
				state_free(&back);
			}
			{
				char p[sizeof(dir) + 32];

				snprintf(p, sizeof(p), "%s/%s", dir, PERSIST_FILE);
				unlink(p);
				rmdir(dir);
			}
		}
		printf("\n");
		free(buf);
	}
	printf("   peak RSS so far: %ld MiB\n", peak_rss_kib() / 1024);
	state_free(&s);
	for (uint32_t n = 0; n < n_nodes; n++)
		free(c.lists[n]);
	free(c.lists), free(c.n_list), free(c.names), free(c.host);
	free(view), free(nodes), free(dec), free(xml);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3)
		return run((uint32_t)strtoul(argv[1], NULL, 10), (uint32_t)strtoul(argv[2], NULL, 10));
	if (argc != 1) {
		fprintf(stderr, "usage: bench/scale [NODES VMS]\n");
		return 64;
	}
	return run(32, 5000) || run(256, 20000);
}
