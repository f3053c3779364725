/*
 * Locating a VM over every node's last report (the rule is in locate.h).
 *
 * One pass over the nodes: current nodes say where the VM runs, is defined or
 * crashed; every other node either cannot hold it (fenced, or its last good
 * report lacks it and nothing touched it since) or makes the answer unknown,
 * with a reason that names the node, so an operator knows whom to wait for.
 */
#include "locate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

bool locate_state_active(Drover__VmRunState st)
{
	switch (st) {
	case DROVER__VM_RUN_STATE__VM_RUN_STATE_RUNNING:
	case DROVER__VM_RUN_STATE__VM_RUN_STATE_PAUSED:
	case DROVER__VM_RUN_STATE__VM_RUN_STATE_SHUTTING_DOWN:
	case DROVER__VM_RUN_STATE__VM_RUN_STATE_SUSPENDED:
	case DROVER__VM_RUN_STATE__VM_RUN_STATE_UNKNOWN:
		return true;
	default:
		return false;
	}
}

const char *locate_state_name(enum locate_state st)
{
	switch (st) {
	case LOCATE_STOPPED:
		return "stopped";
	case LOCATE_RUNNING:
		return "running";
	case LOCATE_FAILED:
		return "failed";
	case LOCATE_UNKNOWN:
		return "unknown";
	}
	return "unknown";
}

static const struct locate_domain *find_domain(const struct locate_node *n, const char *vm)
{
	for (size_t i = 0; i < n->n_domains; i++)
		if (n->domains[i].name && strcmp(n->domains[i].name, vm) == 0)
			return &n->domains[i];
	return NULL;
}

static bool touched(const struct locate_node *n, const char *vm)
{
	for (size_t i = 0; i < n->n_touched; i++)
		if (n->touched[i] && strcmp(n->touched[i], vm) == 0)
			return true;
	return false;
}

/* Why node n, which is not current, may hold vm; NULL if it cannot. */
static const char *may_hold(const struct locate_node *n, const char *vm, char *buf, size_t len)
{
	const struct locate_domain *dom;
	const char *name = n->name && *n->name ? n->name : "?";
	const char *agent = n->why_stale && *n->why_stale ? n->why_stale : NULL;

	/*
	 * Known off (fenced and away) answers for what it ran before the fence,
	 * not for an action decided there since (it came back, a start was
	 * decided on it, and it left again before saying how it ended).
	 */
	if (n->holds_nothing && !touched(n, vm))
		return NULL;
	if (n->holds_nothing) {
		snprintf(buf, len, "an action was moving it onto %s when %s %s", name, name,
			 n->member ? "stopped reporting" : "went offline");
		return buf;
	}
	if (!n->has_record) {
		if (n->member)
			snprintf(buf, len, "%s has not reported its domains since its droverd started%s%s",
				 name, agent ? ": " : "", agent ? agent : "");
		else
			snprintf(buf, len, "%s is offline and has not reported its domains since this "
				 "droverd started", name);
		return buf;
	}
	dom = find_domain(n, vm);
	if (dom && locate_state_active(dom->state)) {
		if (n->member)
			snprintf(buf, len, "it ran on %s, whose agent cannot report now%s%s", name,
				 agent ? ": " : "", agent ? agent : "");
		else
			snprintf(buf, len, "it ran on %s when %s was last seen, and %s is offline",
				 name, name, name);
		return buf;
	}
	if (touched(n, vm)) {
		snprintf(buf, len, "an action was moving it onto %s when %s %s", name, name,
			 n->member ? "stopped reporting" : "went offline");
		return buf;
	}
	return NULL;
}

int locate_vm(const struct locate_node *nodes, size_t n, const char *vm,
	      struct locate_result *ret)
{
	uint32_t defined_on = 0, crashed_on = 0;
	char why[LOCATE_REASON_MAX];

	if (!ret || !vm || (n && !nodes))
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->state = LOCATE_STOPPED;
	for (size_t i = 0; i < n; i++) {
		const struct locate_node *nd = &nodes[i];
		const struct locate_domain *dom;

		if (!nd->member || !nd->current) {
			const char *r = may_hold(nd, vm, why, sizeof(why));

			if (r && !ret->unknown_node) {
				ret->unknown_node = nd->id;
				ret->unknown_member = nd->member;
				snprintf(ret->reason, sizeof(ret->reason), "%s", r);
			}
			continue;
		}
		dom = find_domain(nd, vm);
		if (!dom || !locate_state_active(dom->state)) {
			/*
			 * Current, but an action or job touched the VM here after
			 * the report was taken (a migration that ended on this
			 * node, a start it executed): its report no longer tells.
			 * Unknown until it reports again, never "not here".
			 */
			if (touched(nd, vm) && !ret->unknown_node) {
				ret->unknown_node = nd->id;
				ret->unknown_member = true;
				snprintf(ret->reason, sizeof(ret->reason),
					 "an action moved it onto %s after %s's last report",
					 nd->name && *nd->name ? nd->name : "?",
					 nd->name && *nd->name ? nd->name : "?");
			}
			if (!dom)
				continue;
		}
		if (dom->state == DROVER__VM_RUN_STATE__VM_RUN_STATE_PAUSED) {
			/*
			 * A live migration's target holds the incoming guest paused
			 * until the hand-over: the node that runs it wins, and the
			 * paused copy is not a second one.
			 */
			if (!ret->node_id) {
				ret->node_id = nd->id;
				ret->paused_only = true;
			}
		} else if (locate_state_active(dom->state)) {
			if (!ret->node_id || ret->paused_only) {
				ret->node_id = nd->id;
				ret->paused_only = false;
			} else if (ret->n_also < LOCATE_MAX_ALSO) {
				ret->also[ret->n_also++] = nd->id;
			}
		} else if (dom->state == DROVER__VM_RUN_STATE__VM_RUN_STATE_CRASHED) {
			if (!crashed_on)
				crashed_on = nd->id;
		} else if (!defined_on) {
			defined_on = nd->id;
		}
	}
	if (ret->node_id) {
		ret->state = LOCATE_RUNNING;
		return 0;
	}
	if (ret->unknown_node) {
		ret->state = LOCATE_UNKNOWN;
		return 0;
	}
	ret->reason[0] = '\0';
	if (crashed_on) {
		ret->state = LOCATE_FAILED;
		ret->node_id = crashed_on;
	} else {
		ret->state = LOCATE_STOPPED;
		ret->node_id = defined_on;
	}
	return 0;
}
