/*
 * Random scenarios: events drawn from a fixed generator, logged and run like
 * written ones, so a seed gives the same run everywhere.
 */
#include <stdio.h>
#include <string.h>

#include "sim.h"


static uint64_t rnd_state;

static uint32_t rnd(uint32_t n)
{
	/* A fixed LCG, not rand(): the same seed gives the same run everywhere. */
	rnd_state = rnd_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rnd_state >> 33) % n;
}

/*
 * `random SEED N` (and `random-failover SEED N`, which also powers hosts off
 * and boots them again, for failover's fencing and recovery): N events drawn from the scenario's nodes and VMs (time,
 * migration links cut and restored, drains, droverd restarts, starts, stops,
 * migrations, partitions and heals), each logged and run like a written one,
 * then a heal, every link up and time to settle. The invariants are checked
 * after every event as always.
 */
/* A powered-off host, the first from id a on; 0 if none. */
static uint32_t dead_host(uint32_t a)
{
	for (uint32_t i = 0; i < S.n; i++) {
		uint32_t id = (a - 1 + i) % (uint32_t)S.n + 1;

		if (!S.h[id - 1].powered)
			return id;
	}
	return 0;
}

static uint32_t powered_hosts(void)
{
	uint32_t n = 0;

	for (size_t i = 0; i < S.n; i++)
		n += S.h[i].powered;
	return n;
}

void random_run(uint64_t seed, int n, bool failover)
{
	char line[640];
	bool parted = false;
	const struct cluster_state *reg = replica_persisted(&S.r[0]);
	size_t n_vms = reg->n_vms < MAX_VMS ? reg->n_vms : MAX_VMS;
	/* The names as they are now: a replica's state moves to its disk when its host dies. */
	static char names[MAX_VMS][DROVER_VM_NAME_MAX];

	for (size_t i = 0; i < n_vms; i++)
		strscpy(names[i], reg->vms[i].name, sizeof(names[i]));

	rnd_state = seed;
	for (int i = 0; i < n; i++) {
		uint32_t a = rnd((uint32_t)S.n) + 1, b = rnd((uint32_t)S.n) + 1, k = rnd(100);
		const char *vm = n_vms ? names[rnd((uint32_t)n_vms)] : "none";

		if (k < 40)
			snprintf(line, sizeof(line), "tick");
		else if (k < 55)
			snprintf(line, sizeof(line), "link n%u %s %s", a, S.nets[rnd((uint32_t)S.n_nets)].name,
				 rnd(2) ? "down" : "up");
		else if (k < 61)
			snprintf(line, sizeof(line), "drain n%u", a);
		else if (k < 67)
			snprintf(line, sizeof(line), "restart n%u", a);
		else if (k < 77)
			snprintf(line, sizeof(line), "start n%u %s", a, vm);
		else if (k < 85)
			snprintf(line, sizeof(line), "stop n%u %s", a, vm);
		else if (k < 93)
			snprintf(line, sizeof(line), "migrate n%u %s n%u", a, vm, b);
		else if (failover && rnd(2)) {
			/*
			 * `random-failover`: a host powers off (its guests with
			 * it) or one that did boots again, leaving a majority
			 * powered most of the time.
			 */
			uint32_t dead = dead_host(a);

			if (dead && (rnd(2) || powered_hosts() <= S.n / 2 + 1))
				snprintf(line, sizeof(line), "boot n%u", dead);
			else if (powered_hosts() > 1 && S.h[a - 1].powered)
				snprintf(line, sizeof(line), "kill n%u", a);
			else
				snprintf(line, sizeof(line), "tick");
		} else if (!parted) {
			/* A random split, one side named by the node ids it holds. */
			char side[2][4 * MAX_NODES] = { "", "" };

			for (uint32_t id = 1; id <= S.n; id++) {
				size_t len = strlen(side[rnd(2)]);
				char *p = side[id == a ? 0 : id == b ? 1 : rnd(2)];

				(void)len;
				len = strlen(p);
				/* Digits up to 9 nodes, a list of ids beyond (sim_scenario.c's partition). */
				if (S.n <= 9)
					snprintf(p + len, sizeof(side[0]) - len, "%u", id);
				else
					snprintf(p + len, sizeof(side[0]) - len, "%s%u", len ? "," : "", id);
			}
			if (!side[0][0] || !side[1][0])
				snprintf(line, sizeof(line), "tick");
			else
				snprintf(line, sizeof(line), "partition %s|%s", side[0], side[1]);
			parted = side[0][0] && side[1][0];
		} else {
			snprintf(line, sizeof(line), "heal");
			parted = false;
		}
		LOG("t=%d random: %s", S.tick, line);
		S.generated = true;
		scenario_run_line(line);
		S.generated = false;
	}
	for (uint32_t id; failover && (id = dead_host(1));) {
		snprintf(line, sizeof(line), "boot n%u", id);
		scenario_run_line(line);
	}
	snprintf(line, sizeof(line), "heal");
	scenario_run_line(line);
	for (size_t i = 0; i < S.n; i++)
		for (size_t k = 0; k < S.n_nets; k++)
			S.h[i].net_down[k] = false;
	for (int i = 0; i < 6; i++) {
		snprintf(line, sizeof(line), "tick");
		scenario_run_line(line);
	}
}
