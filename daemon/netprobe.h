/*
 * Reachability of the peers on the migration networks, for droverd's libqb
 * main loop: a TCP connect() to (address, port) every interval, never
 * blocking the loop.
 *
 * A probe succeeds when the connection is made, and also when it is refused:
 * a refusal (RST) proves that the host answered on that network, which is all
 * that is asked; whether libvirtd listens there is the migration's business.
 * It fails on a timeout, on EHOSTUNREACH / ENETUNREACH, or on any other error.
 * Addresses are numeric (the config validated them); nothing is resolved.
 *
 * A target is down until its first success, and then goes down after two
 * failed probes in a row: one lost SYN on a busy link must not make the queue
 * move migrations elsewhere, and starting a migration on a network that is in
 * fact down only costs a retry on another one. It goes up after one success.
 * The callback reports changes only: no call for the initial "down", so a
 * network that never worked produces no noise at startup.
 *
 * There is at most one probe in flight per target; the next one starts
 * interval_ms after the start of the previous one, or right after it ends if
 * it took longer (timeout_ms > interval_ms).
 */
#ifndef DROVER_NETPROBE_H
#define DROVER_NETPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <qb/qbloop.h>

struct netprobe;

struct netprobe_target {
	uint32_t network_idx; /* the caller's numbering (config order) */
	uint32_t node_id;     /* corosync node id */
	char addr[64];        /* numeric IPv4 or IPv6 address */
};

/*
 * Called from the loop when a target changes state. It must not call
 * netprobe_set_targets() (which then fails with -EBUSY); it may call
 * netprobe_free(), which then takes effect when the callback returns.
 */
typedef void (*netprobe_change_fn)(void *opaque, uint32_t network_idx, uint32_t node_id, bool up);

/*
 * A prober with no targets on loop, probing port on every target. interval_ms,
 * timeout_ms and port must not be 0; fn may be NULL (poll netprobe_is_up()).
 * NULL with errno EINVAL on a bad argument.
 */
struct netprobe *netprobe_new(qb_loop_t *loop, uint32_t interval_ms, uint32_t timeout_ms,
			      uint16_t port, netprobe_change_fn fn, void *opaque);

/*
 * Replace the target set. A target is known by (network_idx, node_id): one
 * that stays keeps its state (and a new address keeps it too, the next probes
 * decide, so the caller's view and ours never diverge silently); a removed one
 * is forgotten without a callback; a new one starts down and is probed at
 * once. Returns 0, -EINVAL (a bad address or a key given twice: nothing is
 * changed) or -EBUSY (called from the callback).
 */
int netprobe_set_targets(struct netprobe *p, const struct netprobe_target *t, size_t n);

/* The state of a target; false for one that is not a target. */
bool netprobe_is_up(const struct netprobe *p, uint32_t network_idx, uint32_t node_id);

/* Stop probing, close every socket and free p (NULL is fine). */
void netprobe_free(struct netprobe *p);

#endif
