/*
 * The agent's side of watchdog self-fencing ([fence] mode = watchdog; the
 * rule is daemon/core/selffence.h). droverd grants leases (AgentLease) while
 * its configuration is quorate; when the lease runs out, the agent itself
 * cancels its jobs, destroys every running domain through its first plugin
 * (an AgentSelfFenceJob in a worker), tells droverd (AgentSelfFence), refuses
 * starts and migrations until a new lease comes, and stops feeding the
 * hardware watchdog if one is configured. The agent does this, not droverd,
 * so that it holds when droverd hangs, is stopped, or is cut off.
 */
#ifndef DROVER_AGENT_LEASE_H
#define DROVER_AGENT_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "jobs.h"

/* Job ids of the agent's own self-fence jobs: droverd's ids never reach bit 63. */
#define LEASE_JOB_ID_BASE (1ull << 63)

/*
 * Arm the lease at start-up: it runs out lease_ms from now unless droverd
 * renews it. wd_path (or NULL) is a hardware watchdog, set to wd_timeout_s.
 * Returns 0 or -errno (the timer).
 */
int lease_setup(struct agent *a, uint32_t lease_ms, const char *wd_path, uint32_t wd_timeout_s);

void lease_on_message(struct agent *a, const Drover__AgentLease *m);

/* True if res answers one of the lease's own jobs (then it is not droverd's). */
bool lease_job_result(struct agent *a, const Drover__AgentJobResult *res);

/* Non-NULL (the reason) while a job of this kind must be refused: self-fenced. */
const char *lease_refuses(const struct agent *a, Drover__AgentJob__KindCase kind);

/* A clean stop: a watchdog whose lease still holds is disarmed (magic close). */
void lease_stop(struct agent *a);

#endif
