/*
 * Whether a CPG configuration is quorate, decided the same way by every
 * member at the same point of the delivered stream (issue 8, defect 3).
 *
 * votequorum's own flag cannot be used for that: it is delivered on another
 * connection, may overtake or trail the CPG messages, and so two members can
 * hold different values while they apply the same message. This rule takes
 * only what every member of one configuration holds alike: the configuration's
 * members (from the CPG confchg) and the nodelist with its votes (from
 * corosync.conf, identical on every node as corosync requires). A
 * configuration is quorate when its members hold more than half the expected
 * votes, votequorum's own arithmetic (quorum = expected / 2 + 1).
 *
 * It is stricter than votequorum where they differ, which is the safe side: a
 * node whose corosync runs but whose droverd does not counts for votequorum
 * and not here, and two_node, qdevice and last_man_standing are not taken
 * into account (a two-node cluster changes nothing with one node up).
 */
#ifndef DROVER_CORE_QUORUM_RULE_H
#define DROVER_CORE_QUORUM_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct quorum_voter {
	uint32_t id;
	uint32_t votes;
};

/*
 * expected_votes 0: the sum of the nodelist's votes. Members missing from
 * the nodelist hold no vote. A configuration with no expected votes at all
 * is not quorate.
 */
bool quorum_rule_quorate(const struct quorum_voter *nodelist, size_t n, uint32_t expected_votes,
			 const uint32_t *members, size_t n_members, uint32_t *ret_votes,
			 uint32_t *ret_expected);

#endif
