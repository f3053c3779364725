/*
 * Scenario files: one event per line (the grammar is at the top of
 * drover-sim.c), parsed and run against the simulated cluster.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/*
 * `partition 12|3`: groups separated by '|'. Up to 9 nodes each digit is a
 * node; beyond, each group is a comma-separated list of ids and ranges
 * (`partition 1-16|17-32`, `1,3,5-9|2,4`). A node not named keeps its group.
 */
static void partition(const char *spec)
{
	char groups[512];
	int g = 0;

	strscpy(groups, spec, sizeof(groups));
	for (char *grp = strtok(groups, "|"); grp; grp = strtok(NULL, "|"), g++) {
		uint64_t mask = 0;

		if (S.n > 9)
			mask = setup_ids_arg(grp);
		for (const char *q = grp; S.n <= 9 && *q; q++)
			if (*q >= '1' && *q <= '9' && (size_t)(*q - '0') <= S.n)
				mask |= UINT64_C(1) << (*q - '1');
		for (size_t i = 0; i < S.n; i++)
			if ((mask >> i) & 1u)
				S.h[i].group = g;
	}
}

/*
 * `link NODE NET up|down` cuts or restores NODE's link on a migration
 * network; `link nA-nB NET up|down` the pair's path there, both ways.
 */
static void link_event(const char *who, const char *net, const char *how)
{
	char a[16], *dash;
	size_t k = world_net_index(net);
	bool down = strcmp(how, "down") == 0;

	if (k == S.n_nets) {
		fprintf(stderr, "drover-sim: line %d: no network '%s'\n", S.scenario_line, net);
		exit(64);
	}
	if (!down && strcmp(how, "up") != 0) {
		fprintf(stderr, "drover-sim: line %d: link up or down, not '%s'\n", S.scenario_line, how);
		exit(64);
	}
	strscpy(a, who, sizeof(a));
	dash = strchr(a, '-');
	if (dash) {
		uint32_t x, y;

		*dash = '\0';
		x = setup_node_arg(a);
		y = setup_node_arg(dash + 1);
		S.pair_down[k][x - 1][y - 1] = S.pair_down[k][y - 1][x - 1] = down;
	} else {
		S.h[setup_node_arg(who) - 1].net_down[k] = down;
	}
	LOG("t=%d link %s %s %s", S.tick, who, net, how);
}

/* Every droverd starts; with reports, every agent has reported before the next event. */
static void boot_all(bool reports)
{
	for (size_t i = 0; i < S.n; i++)
		replica_start(&S.r[i]);
	S.quiet = !reports;
	corosync_reconfigure();
	bus_deliver_all();
	S.quiet = false;
	for (size_t i = 0; reports && i < S.n; i++)
		replica_send_inventory(&S.r[i]);
	bus_deliver_all();
}


void scenario_settle(void)
{
	bus_deliver_all();
	sim_coord_all();
	checks_after_event();
}

void scenario_run_line(char *line)
{
	char *argv[16], event[512];
	int argc = 0;
	bool background = false;
	char *p = strchr(line, '#');

	if (p)
		*p = '\0';
	strscpy(event, line, sizeof(event));
	event[strcspn(event, "\n")] = '\0';
	for (char *t = strtok(line, " \t\n"); t && argc < 16; t = strtok(NULL, " \t\n"))
		argv[argc++] = t;
	if (argc && strcmp(argv[argc - 1], "&") == 0) {
		background = true;
		argc--;
	}
	if (!argc)
		return;
	if (setup_directive(argc, argv))
		return;
	if (strcmp(argv[0], "vf-fail") == 0 && argc == 3) {
		int i = world_vm_index(argv[1], false);

		if (i < 0)
			goto bad;
		if (strcmp(argv[2], "detach") == 0)
			S.vms[i].fail_detach++;
		else if (strcmp(argv[2], "attach") == 0)
			S.vms[i].fail_attach++;
		else if (strcmp(argv[2], "transfer") == 0)
			S.vms[i].fail_transfer++;
		else
			goto bad;
		LOG("t=%d %s's next VF %s fails", S.tick, argv[1], argv[2]);
		return;
	}
	if (strcmp(argv[0], "fence") == 0 && argc == 2) {
		if (strcmp(argv[1], "device") == 0)
			S.fence = 1;
		else if (strcmp(argv[1], "fail") == 0)
			S.fence = 2;
		else
			goto bad;
		LOG("t=%d fence devices %s", S.tick, S.fence == 1 ? "work" : "fail");
		return;
	}
	if (strcmp(argv[0], "fence") == 0 && argc == 4 && strcmp(argv[1], "watchdog") == 0) {
		S.fence = 3;
		S.watchdog.timeout_ms = (uint32_t)strtoul(argv[2], NULL, 10);
		S.watchdog.margin_ms = (uint32_t)strtoul(argv[3], NULL, 10);
		if (S.watchdog.timeout_ms < SELFFENCE_TIMEOUT_MIN_MS ||
		    S.watchdog.margin_ms < SELFFENCE_MARGIN_MIN_MS)
			goto bad;
		LOG("t=%d fence watchdog: timeout %u ms, margin %u ms", S.tick, S.watchdog.timeout_ms,
		    S.watchdog.margin_ms);
		world_leases();
		return;
	}
	if (strcmp(argv[0], "confirm-off") == 0 && argc == 3) {
		struct replica *via = rep(setup_node_arg(argv[1]));
		uint32_t id = setup_node_arg(argv[2]);
		Drover__Envelope env = DROVER__ENVELOPE__INIT;
		Drover__FenceResult m = DROVER__FENCE_RESULT__INIT;

		LOG("t=%d confirm-off %s via %s", S.tick, argv[2], argv[1]);
		/* failover_ctl_confirm_off(): refused for a member, or a host its corosync sees. */
		if (!via->up || replica_is_member(via, id) || !replica_host_gone(via, id)) {
			LOG("t=%d cli on %s: confirm-off %s: exit %d: the node is a member of the cluster",
			    S.tick, via->name, argv[2], DROVER_EXIT_UNSAFE);
			return;
		}
		m.node = id;
		m.ok = true;
		m.device = "operator";
		m.error = "";
		m.by_operator = true;
		env.body_case = DROVER__ENVELOPE__BODY_FENCE_RESULT;
		env.fence_result = &m;
		replica_send(via, &env);
		bus_deliver_all();
		sim_coord_all();
		checks_after_event();
		return;
	}
	/* The operator's commands, which the summary would not show otherwise. */
	if (S.log_summary && !S.generated &&
	    (strcmp(argv[0], "drain") == 0 || strcmp(argv[0], "drain-cancel") == 0 ||
	     strcmp(argv[0], "start") == 0 || strcmp(argv[0], "stop") == 0 ||
	     strcmp(argv[0], "migrate") == 0 || strcmp(argv[0], "vm-add") == 0 ||
	     strcmp(argv[0], "config-set") == 0))
		LOG("t=%d %s", S.tick, event);
	if (strcmp(argv[0], "boot-all") == 0) {
		boot_all(argc < 2 || strcmp(argv[1], "quiet") != 0);
	} else if (strcmp(argv[0], "vm-add") == 0 && argc == 3) {
		cli_vm_add(rep(setup_node_arg(argv[1])), argv[2]);
	} else if (strcmp(argv[0], "start") == 0 && argc == 3) {
		cli_vm(rep(setup_node_arg(argv[1])), DROVER__VM_ACTION_KIND__VM_ACTION_START, argv[2], 0);
	} else if (strcmp(argv[0], "stop") == 0 && argc == 3) {
		cli_vm(rep(setup_node_arg(argv[1])), DROVER__VM_ACTION_KIND__VM_ACTION_STOP, argv[2], 0);
	} else if (strcmp(argv[0], "migrate") == 0 && argc == 4) {
		cli_migrate(rep(setup_node_arg(argv[1])), argv[2], setup_node_arg(argv[3]));
	} else if (strcmp(argv[0], "drain") == 0 && argc == 2) {
		cli_drain(rep(setup_node_arg(argv[1])));
	} else if (strcmp(argv[0], "link") == 0 && argc == 4) {
		link_event(argv[1], argv[2], argv[3]);
	} else if (strcmp(argv[0], "drain-cancel") == 0 && (argc == 2 || argc == 3)) {
		if (argc == 3 && strcmp(argv[2], "abort") != 0)
			goto bad;
		cli_drain_cancel(rep(setup_node_arg(argv[1])), argc == 3);
	} else if (strcmp(argv[0], "config-set") == 0 && argc == 4) {
		cli_config_set(rep(setup_node_arg(argv[1])), argv[2], argv[3]);
	} else if (strcmp(argv[0], "partition") == 0 && argc == 2) {
		partition(argv[1]);
		LOG("t=%d partition %s", S.tick, argv[1]);
		/* What is on the bus reaches only its own side, in the old configuration. */
		bus_deliver_all();
		corosync_reconfigure();
	} else if (strcmp(argv[0], "heal") == 0) {
		for (size_t i = 0; i < S.n; i++)
			S.h[i].group = 0;
		LOG("t=%d heal", S.tick);
		bus_deliver_all();
		corosync_reconfigure();
	} else if (strcmp(argv[0], "kill") == 0 && argc == 2) {
		uint32_t id = setup_node_arg(argv[1]);

		LOG("t=%d kill %s", S.tick, argv[1]);
		bus_deliver_all();
		world_host_power_off(id);
		replica_stop(rep(id));
		corosync_reconfigure();
	} else if (strcmp(argv[0], "boot") == 0 && argc == 2) {
		uint32_t id = setup_node_arg(argv[1]);

		LOG("t=%d boot %s", S.tick, argv[1]);
		bus_deliver_all();
		S.h[id - 1].powered = true;
		replica_start(rep(id));
		corosync_reconfigure();
	} else if (strcmp(argv[0], "restart") == 0 && argc == 2) {
		uint32_t id = setup_node_arg(argv[1]);

		LOG("t=%d restart droverd on %s", S.tick, argv[1]);
		bus_deliver_all();
		replica_stop(rep(id));
		corosync_reconfigure();
		bus_deliver_all();
		replica_start(rep(id));
		corosync_reconfigure();
	} else if (strcmp(argv[0], "agent") == 0 && argc == 3) {
		uint32_t id = setup_node_arg(argv[1]);

		S.h[id - 1].agent_up = strcmp(argv[2], "up") == 0;
		LOG("t=%d agent of %s %s", S.tick, argv[1], argv[2]);
		replica_send_inventory(rep(id));
	} else if (strcmp(argv[0], "random-drains") == 0 && (argc == 2 || argc == 4 || argc == 6)) {
		unsigned long waves = 2, size = 4;

		for (int k = 2; k + 1 < argc; k += 2) {
			if (strcmp(argv[k], "waves") == 0)
				waves = strtoul(argv[k + 1], NULL, 10);
			else if (strcmp(argv[k], "size") == 0)
				size = strtoul(argv[k + 1], NULL, 10);
			else
				goto bad;
		}
		if (!waves || waves > 2 || !size || size > S.n)
			goto bad;
		random_drains_run(strtoull(argv[1], NULL, 10), (uint32_t)waves, (uint32_t)size);
	} else if (strcmp(argv[0], "random") == 0 && argc == 3) {
		random_run(strtoull(argv[1], NULL, 10), atoi(argv[2]), false);
	} else if (strcmp(argv[0], "random-failover") == 0 && argc == 3) {
		random_run(strtoull(argv[1], NULL, 10), atoi(argv[2]), true);
	} else if (strcmp(argv[0], "tick") == 0) {
		int n = argc > 1 ? atoi(argv[1]) : 1;

		for (int i = 0; i < n; i++)
			world_tick();
	} else if (strcmp(argv[0], "expect") == 0 &&
		   (argc == 4 || (argc == 3 && strcmp(argv[2], "nowhere") == 0))) {
		const char *vm = argv[1];
		const char *where = argv[argc - 1];
		size_t count = 0;
		uint32_t at = 0;

		bus_deliver_all();
		for (size_t i = 0; i < S.n; i++)
			if (S.h[i].powered && world_host_runs(S.r[i].id, vm))
				count++, at = S.r[i].id;
		if (strcmp(where, "nowhere") == 0 ? count != 0
						   : count != 1 || at != setup_node_arg(where))
			violation("expected %s on %s; it runs on %zu host(s)", vm, where, count);
		else
			LOG("t=%d check: %s %s%s", S.tick, vm, strcmp(where, "nowhere") ? "on " : "", where);
	} else if (strcmp(argv[0], "show-queue") == 0 && argc == 2) {
		/* `show-queue NODE`: what `drover queue` on NODE shows of each unfinished job. */
		struct replica *r = rep(setup_node_arg(argv[1]));
		size_t n = 0;
		_cleanup_free_ struct queue_job *jobs = NULL;

		bus_deliver_all();
		jobs = r && r->up ? sim_coord_queue(r, &n) : NULL;
		for (size_t i = 0; i < n; i++)
			LOG("t=%d queue on %s: job %llu %s %s%s%s", S.tick, argv[1],
			    (unsigned long long)jobs[i].id, jobs[i].vm, queue_job_state_name(jobs[i].state),
			    jobs[i].blocker_text[0] ? ": " : "", jobs[i].blocker_text);
		if (!n)
			LOG("t=%d queue on %s: empty", S.tick, argv[1]);
	} else if (strcmp(argv[0], "expect-vf") == 0 && argc == 4) {
		/* `expect-vf NODE POOL N`: every running replica's state has N VFs of POOL free on NODE. */
		uint32_t id = setup_node_arg(argv[1]);
		uint64_t want = strtoull(argv[3], NULL, 10);
		bool ok = true;

		bus_deliver_all();
		for (size_t i = 0; i < S.n; i++)
			if (S.r[i].up && S.r[i].synced &&
			    state_vf_free(&S.r[i].state, id, argv[2]) != want) {
				violation("%s: %u VF(s) of %s free on %s, expected %llu", S.r[i].name,
					  state_vf_free(&S.r[i].state, id, argv[2]), argv[2], argv[1],
					  (unsigned long long)want);
				ok = false;
			}
		if (ok)
			LOG("t=%d check: %s has %llu VF(s) of %s free", S.tick, argv[1],
			    (unsigned long long)want, argv[2]);
	} else {
		goto bad;
	}
	if (!background)
		scenario_settle();
	else
		checks_after_event();
	return;
bad:
	fprintf(stderr, "drover-sim: line %d: unknown or malformed event '%s'\n", S.scenario_line, argv[0]);
	exit(64);
}

