/*
 * The configuration quorum rule (see quorum_rule.h). A node id listed twice in
 * members counts once: CPG lists processes, and two droverds on one host are
 * one host's votes.
 */
#include "quorum_rule.h"

bool quorum_rule_quorate(const struct quorum_voter *nodelist, size_t n, uint32_t expected_votes,
			 const uint32_t *members, size_t n_members, uint32_t *ret_votes,
			 uint32_t *ret_expected)
{
	uint64_t expected = expected_votes, votes = 0;

	if (!expected)
		for (size_t i = 0; i < n; i++)
			expected += nodelist[i].votes;
	for (size_t i = 0; i < n; i++) {
		bool in = false;

		for (size_t m = 0; m < n_members && !in; m++)
			in = members[m] == nodelist[i].id;
		if (in)
			votes += nodelist[i].votes;
	}
	if (ret_votes)
		*ret_votes = (uint32_t)votes;
	if (ret_expected)
		*ret_expected = (uint32_t)expected;
	return expected > 0 && votes * 2 > expected;
}
