/*
 * The coordinator's input (coord.h) from what a member holds: its
 * observation table (observe.h), its membership and the replicated state.
 * droverd (drain.c) and the simulator (tests/sim) build the queue's room on
 * each node, the coordinator's node reports and its busy VMs with these, so
 * both decide on the same input from the same facts. Pure: no clock, no I/O.
 */
#ifndef DROVER_CORE_COORD_INPUT_H
#define DROVER_CORE_COORD_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "coord.h"
#include "observe.h"
#include "state.h"

/*
 * vCPUs are overcommitted on KVM hosts as a matter of course; the queue only
 * refuses a target whose running VMs would exceed this many vCPUs per host
 * CPU, which catches mistakes (a 64-vCPU VM onto a 4-CPU host), not load.
 */
#define COORD_VCPU_OVERCOMMIT 16u

/*
 * The room the queue sees on a node (queue.h: not counting the migrations
 * running towards it): the memory and vCPUs its last report gave, less every
 * registered guest there that holds them, paused ones too (a host full of
 * paused guests is full), but for the paused copy a running migration brings
 * in, which the queue counts itself; less every VM an operation may have put
 * there since that report (touched, observe.h), such as a migration that
 * ended there a moment ago. No report (o NULL): no room.
 */
void coord_input_room(const struct cluster_state *s, const struct node_obs *o,
		      uint64_t *ret_free_mib, uint32_t *ret_free_vcpus);

/*
 * What the guests on a node hold, for a start's placement (vmdecide.h,
 * recover.h): every registered guest its last report lists as holding memory
 * (running, paused, suspended; a migration's incoming copy too), and every
 * VM an operation may have put there since (touched, not listed): a start
 * under way, a migration running or just ended there. A start counts what is
 * under way, or two decisions in a row fill one host past its memory.
 */
void coord_input_load(const struct cluster_state *s, const struct node_obs *o,
		      uint64_t *ret_mib, uint32_t *ret_vcpus);

/*
 * The node may receive VMs by the state: active (not in maintenance,
 * draining or drained) and not lost or fenced. A fenced node that came back
 * receives nothing until the coordinator finds it holds no second copy and
 * unfences it: until then "fenced" may still be taken to mean "runs nothing"
 * once it leaves again, which a VM put there since would make false.
 */
bool coord_input_may_receive(const struct cluster_state *s, uint32_t id);

/* How many names coord_input_nodes() may point to: every domain and touch of the table. */
size_t coord_input_n_names(const struct node_obs *t);

/*
 * The coordinator's node reports: one per node of the table (OBS_TABLE_SIZE
 * entries), listing the domains it reports active, then one for each member
 * that never reported (a node that sees nothing), with whether the report is
 * current and the VMs touched there since it. Each report's vms and touched point
 * into names (coord_input_n_names(t) entries at least) and into the table,
 * which must outlive them. Returns how many reports were written (at most max).
 */
size_t coord_input_nodes(const struct node_obs *t, const uint32_t *members, size_t n_members,
			 struct coord_node *ret, size_t max, const char **names);

/* The VMs a start or a stop is under way for (no migration starts beside one); at most max. */
size_t coord_input_busy(const struct cluster_state *s, const char **ret, size_t max);

#endif
