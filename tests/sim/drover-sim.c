/*
 * drover-sim: scenarios against replicas made of the real core.
 *
 * Each simulated node is a replica of droverd's state machine built from the
 * very functions droverd calls (daemon/core/): the apply-time gate
 * (apply_gate.c), state_apply() with its jobs and operations, the state
 * exchange (sync.c) with its terms, the configuration quorum rule
 * (quorum_rule.c), the observation table (observe.c), the VM location rule
 * (locate.c), the coordinator's VM decision (vmdecide.c), its queue decisions
 * (coord_decide() on the input coord_input.c builds, sent as coord_msgs.c
 * makes them) and failover's (recover.c). Messages are real envelopes,
 * framed with frame_encode(). What the simulator stands in for: corosync
 * (one totally ordered bus; configurations are the nodes whose droverd runs,
 * per partition group), the agents and hypervisors (each host's truth: the
 * domains it runs, its memory and CPUs), the migration networks (links, and
 * bandwidth shared by the migrations on them), the CLI (operator commands)
 * and time (ticks of a second, and the moments between them when
 * migrations end). Up to 64 nodes and 2,048 VMs.
 *
 * The invariants (sim_checks.c lists them) are checked at every step; a
 * violation is logged as "VIOLATION" and makes the exit status 2. The log
 * (decisions, applied and dropped changes, answers, memberships, exchanges;
 * or with `log summary` one line per tick) goes to stdout; with --expect
 * FILE it is compared with FILE and the first difference fails the run
 * (exit 1).
 *
 * The files: sim.h (the shared state), sim_setup.c (building the cluster),
 * sim_scenario.c (events), sim_world.c (hypervisors, links, time and
 * migrations), sim_corosync.c (the bus and configurations), sim_replica.c
 * (what droverd does), sim_coord.c (the coordinator), sim_cli.c (operator
 * commands), sim_checks.c (invariants), sim_summary.c (the log at scale),
 * sim_random.c and sim_random_drains.c (generated events).
 *
 * Building the cluster (before boot-all), sizes in MiB or with M/G, A-B drawn at random:
 *   seed N                       the world's generator (sizes, placements, copies, stalls)
 *   nodes N [memory SIZE[-SIZE]] [cpus N[-N]]   n1..nN, droverd and agent up, one group
 *                                (default 4096 MiB and 16 CPUs each)
 *   vm NAME NODE [stopped] [high|medium|low|none] [memory SIZE] [vcpus N]
 *      [vf POOL [required]] [sa N]
 *                                a VM registered with home NODE, running there unless stopped
 *                                (priority medium, 512 MiB, 1 vCPU by default); asking for a
 *                                VF of POOL (vf = required: it waits for one), offloading N
 *                                IPsec SAs
 *   vf-pool NODE NAME N          NODE's drover.conf has [vf_pool NAME] with N VFs (also an
 *                                event: a reload; the node announces it at the next tick)
 *   sa-capacity NODE N           NODE's [node] ipsec_sa_capacity
 *   vms COUNT [sizes SIZExWEIGHT,...] [vcpus N-N] [fill PCT] [priorities mixed]
 *                                COUNT VMs vm001.. placed at random where they fit under
 *                                PCT (90) of memory and vCPUs, the largest first
 *   network NAME [MIB_PER_S] [cap N] [missing NODES]   a migration network (the first
 *                                replaces the default mig-a and mig-b, which have no
 *                                bandwidth: their migrations end at the next tick); NODES
 *                                have no link there ("5,10,15-20")
 *   conf max-out|max-in|max-total|max-retries N   drover.conf's limits, which the
 *                                coordinator seeds (network caps come from `network`)
 *   migrations [dirty PCT-PCT] [stall PCT]   a migration copies its memory times the
 *                                dirty factor; it stalls by itself with that chance
 *   log full|summary             the log's level (default full)
 * Events:
 *   boot-all [quiet]             every droverd starts (quiet: before any agent reports)
 *   vm-add NODE NAME             the operator registers NAME via NODE's CLI
 *   start|stop NODE VM           `drover vm start|stop VM` on NODE
 *   migrate NODE VM TARGET       `drover vm migrate VM --to TARGET` on NODE
 *   partition 1,2|3              groups; messages on the bus are delivered within
 *                                each side first (in the old configuration); beyond 9
 *                                nodes ids are comma-separated, with ranges (1-16|17-32)
 *   heal                         one group again
 *   kill NODE                    the host powers off: its guests and droverd are gone
 *   boot NODE                    the host and droverd start (droverd from its disk copy)
 *   restart NODE                 droverd restarts (from its disk copy); guests keep running
 *   agent NODE down|up           its agent fails (reports so) or works again
 *   drain NODE                   `drover node drain NODE` on NODE (its reported VMs)
 *   drain-cancel NODE [abort]    `drover drain cancel NODE [--abort]` on NODE
 *   config-set NODE KEY VALUE    `drover config set KEY VALUE` on NODE
 *   link NODE NET up|down        NODE's link on a migration network
 *   link nA-nB NET up|down       the path between two nodes on a migration network
 *   random SEED N                N events drawn at random (see random_run())
 *   random-failover SEED N       the same with hosts powered off and booted again
 *                                (with `fence device` for failover)
 *   random-drains SEED [waves 1|2] [size N]   drains at scale (sim_random_drains.c)
 *   tick [N]                     time passes: migrations copy, agent jobs finish,
 *                                inventories are sent, held requests are decided again
 *   expect VM on NODE|nowhere    the hypervisors' truth, checked (a failure is a VIOLATION)
 *   fence device|fail            failover on (off by default): the coordinator marks a node
 *                                that left its configuration lost, fences it (device: the
 *                                host powers off at once; fail: every attempt fails), and
 *                                recovers its VMs with recover_decide() (core/recover.h)
 *   fence watchdog TIMEOUT MARGIN  failover with self-fencing instead (core/selffence.h): a
 *                                droverd in a quorate configuration renews its agent's lease
 *                                every tick; an agent whose lease ran out destroys its host's
 *                                guests; the coordinator counts a lost node fenced once
 *                                TIMEOUT + MARGIN ms passed since it saw it gone
 *   confirm-off VIA NODE         `drover node confirm-off NODE` on VIA
 *   show-queue NODE              what `drover queue` on NODE shows: each job and its blocker
 *   expect-vf NODE POOL N        every running replica's state has N VFs of POOL free on NODE
 *   vf-fail VM detach|attach|transfer   the next such step for VM fails (the guest does
 *                                not acknowledge the unplug, the device is busy, the
 *                                migration fails)
 * A trailing '&' leaves the bus undelivered until the next event.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

struct sim S;

void sim_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(S.out, "%s\n", line);
	if (S.expect && !S.mismatch) {
		if (S.line_no >= S.n_expect || strcmp(S.expect[S.line_no], line) != 0) {
			fprintf(stderr, "drover-sim: log line %zu differs (scenario line %d)\n  expected: %s\n  got:      %s\n",
				S.line_no + 1, S.scenario_line,
				S.line_no < S.n_expect ? S.expect[S.line_no] : "(end of file)", line);
			S.mismatch = true;
		}
	}
	S.line_no++;
}


void violation(const char *fmt, ...)
{
	char line[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	LOG("VIOLATION: %s", line);
	S.violations++;
}

struct replica *rep(uint32_t id)
{
	return id >= 1 && id <= S.n ? &S.r[id - 1] : NULL;
}

const char *nm(uint32_t id)
{
	static char buf[4][16];
	static int k;

	if (id >= 1 && id <= S.n)
		return S.r[id - 1].name;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "node%u", id);
	return buf[k];
}

static void load_expect(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];

	if (!f) {
		fprintf(stderr, "drover-sim: cannot open '%s': %s\n", path, strerror(errno));
		exit(66);
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		S.expect = xrealloc(S.expect, (S.n_expect + 1) * sizeof(*S.expect));
		strscpy(S.expect[S.n_expect++], line, sizeof(S.expect[0]));
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	char line[512];
	FILE *f;

	S.out = stdout;
	setup_defaults();
	if (argc == 4 && strcmp(argv[2], "--expect") == 0) {
		load_expect(argv[3]);
		S.out = fopen("/dev/null", "w");
	} else if (argc != 2) {
		fprintf(stderr, "usage: drover-sim SCENARIO [--expect LOG]\n");
		return 64;
	}
	f = fopen(argv[1], "r");
	if (!f) {
		fprintf(stderr, "drover-sim: cannot open '%s': %s\n", argv[1], strerror(errno));
		return 66;
	}
	while (fgets(line, sizeof(line), f)) {
		S.scenario_line++;
		scenario_run_line(line);
	}
	fclose(f);
	bus_deliver_all();
	checks_after_event();
	LOG("end: %d violation(s)", S.violations);
	if (S.expect && !S.mismatch && S.line_no != S.n_expect) {
		fprintf(stderr, "drover-sim: the log has %zu lines, the expected one %zu\n", S.line_no,
			S.n_expect);
		S.mismatch = true;
	}
	if (S.expect)
		printf("%s: %s\n", argv[1], S.mismatch ? "log differs from the expected one" : "log as expected");
	for (size_t i = 0; i < S.n; i++) {
		state_free(&S.r[i].state);
		state_free(&S.r[i].disk);
		obs_free(S.r[i].obs);
	}
	free(S.expect);
	if (S.out != stdout)
		fclose(S.out);
	return S.violations ? 2 : S.mismatch ? 1 : 0;
}

