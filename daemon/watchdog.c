/*
 * systemd's watchdog (WatchdogSec= in droverd.service): WATCHDOG=1 from a
 * timer of the main loop, at a third of the interval systemd asks for. It is
 * fed only while the loop dispatches: a loop stuck in a handler (the bug
 * the watchdog is for) stops feeding it, and systemd aborts droverd (the
 * crash handler dumps the libqb blackbox) and restarts it. Considered and
 * rejected: a thread that feeds it (it would go on feeding a stuck loop).
 *
 * sd_watchdog_enabled() also checks WATCHDOG_PID, so an agent or a child
 * that inherits the environment never feeds droverd's watchdog; the
 * variables are unset here for the same reason.
 */
#include <string.h>

#include <systemd/sd-daemon.h>

#include "droverd.h"
#include "log.h"

static void watchdog_fn(void *data)
{
	struct droverd *d = data;

	sd_notify(0, "WATCHDOG=1");
	qb_loop_timer_add(d->loop, QB_LOOP_HIGH, d->watchdog_usec / 3 * QB_TIME_NS_IN_USEC, d,
			  watchdog_fn, &d->watchdog_timer);
}

void watchdog_start(struct droverd *d)
{
	uint64_t usec = 0;
	int r = sd_watchdog_enabled(1, &usec);

	if (r < 0)
		log_warn("cannot read systemd's watchdog settings: %s; not feeding it",
			 strerror(-r));
	if (r <= 0 || usec == 0)
		return;
	d->watchdog_usec = usec;
	log_info("feeding systemd's watchdog every %llu ms (WatchdogSec=%llu ms)",
		 (unsigned long long)(usec / 3000), (unsigned long long)(usec / 1000));
	watchdog_fn(d);
}

void watchdog_stop(struct droverd *d)
{
	if (d->watchdog_usec)
		qb_loop_timer_del(d->loop, d->watchdog_timer);
}
