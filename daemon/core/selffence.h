/*
 * Watchdog self-fencing ([fence] mode = watchdog), as pure code: the timing
 * rule that makes "a lost node destroyed its VMs itself" a fact the quorate
 * side may count on, without a fence device. droverd (failover.c), the agent
 * (agent/lease.c), the unit tests and the simulator run these functions.
 *
 * The lost node's side. Every member multicasts a LeaseBeat stamped with its
 * CLOCK_MONOTONIC time. When a member's own beat is delivered back in a
 * quorate configuration, the token went round that configuration, with this
 * node in it, after the beat was made; droverd then grants its agent a lease
 * until sent + timeout. Nothing else renews it: a droverd or corosync that is
 * frozen, cut off or without quorum lets it run out, and a beat read late
 * (droverd resumed after SIGSTOP) grants a lease that ran out already, since
 * it counts from when the beat was made, not from when it was read. When the
 * lease runs out, the agent, not droverd, destroys every domain of the host
 * and stops feeding the hardware watchdog (if one is configured).
 *
 * The quorate side. A token that went round with the lost node in it went
 * round before the survivors formed a configuration without it: their
 * detection comes after the lost node's last lease began. So the lost node's
 * agent destroys its VMs by detection + timeout at the latest, and the
 * survivors count the node as fenced at (the moment this node saw it gone) +
 * timeout + margin; the margin covers the agent's tick, the destroying itself
 * and the clocks' rates. A node that comes back, even briefly, restarts the
 * count: it may have renewed its lease meanwhile.
 *
 * What it cannot do: an agent that hangs too (or a libvirtd that does not
 * answer its destroy) leaves only the hardware watchdog, which resets the
 * host when the agent stops feeding it; without one, that case is not
 * covered. And it needs a quorate side to exist: a two-node cluster needs a
 * qdevice or a real fence device (docs/OPERATIONS.md).
 */
#ifndef DROVER_CORE_SELFFENCE_H
#define DROVER_CORE_SELFFENCE_H

#include <stdbool.h>
#include <stdint.h>

/* Bounds of the configuration ([fence] watchdog_timeout_ms, watchdog_margin_ms). */
#define SELFFENCE_TIMEOUT_MIN_MS 2000u
#define SELFFENCE_TIMEOUT_MAX_MS 600000u
#define SELFFENCE_MARGIN_MIN_MS 1000u
#define SELFFENCE_MARGIN_MAX_MS 600000u
/* How often the agent checks its lease (and feeds the watchdog). */
#define SELFFENCE_TICK_MS 200u

struct selffence_timing {
	uint32_t timeout_ms; /* a lease's length: the fence_timeout */
	uint32_t margin_ms;  /* what the quorate side waits on top */
};

/*
 * The quorate side: how long until a node seen gone since gone_since_ms
 * (this node's monotonic clock; 0: not gone) counts as self-fenced. 0: it
 * does now; UINT64_MAX: it is not gone, nothing counts.
 */
uint64_t selffence_left_ms(uint64_t now_ms, uint64_t gone_since_ms,
			   const struct selffence_timing *t);

/*
 * The lost node's side: the lease a delivered beat grants (its expiry on the
 * monotonic clock), or 0 when it grants none (not ours, or delivered in a
 * configuration that is not quorate). A beat stamped in the future (it
 * cannot be, on one host's clock) counts from now.
 */
uint64_t selffence_lease_from_beat(bool own, bool config_quorate, uint64_t sent_mono_ms,
				   uint64_t now_ms, uint32_t timeout_ms);

/* The agent: a lease is never shortened by an older grant. */
uint64_t selffence_lease_extend(uint64_t cur_expires_ms, uint64_t offered_expires_ms);

/* The agent: whether the lease ran out (0: never armed, never runs out). */
bool selffence_lease_expired(uint64_t now_ms, uint64_t expires_ms);

/* How often droverd beats: a fifth of the lease, 200 ms to 1 s. */
uint32_t selffence_beat_ms(uint32_t timeout_ms);

/*
 * The hardware watchdog's own timeout, in whole seconds: it must fire before
 * the quorate side counts the node fenced, so within the margin (half of it,
 * at least 1 s).
 */
uint32_t selffence_watchdog_s(const struct selffence_timing *t);

#endif
