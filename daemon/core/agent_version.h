/*
 * Guest agent versions (a QEMU guest agent's guest-info "version", e.g.
 * "7.2.0" or "5.2.0-rc1"), compared with the operator's minimum
 * ([cluster] guest_agent_min = X.Y in drover.conf).
 *
 * A caller must know: only the leading dotted numbers count ("8.0.0-rc1"
 * compares as 8.0.0, missing parts are 0, so "8" equals "8.0.0"); a version
 * that does not start with a number is not comparable and is never flagged,
 * since a guess would be worse than no flag.
 */
#ifndef DROVER_AGENT_VERSION_H
#define DROVER_AGENT_VERSION_H

#include <stdbool.h>

/* Whether s is a minimum an operator may configure: 1-4 dot-separated numbers. */
bool agent_version_valid_min(const char *s);

/*
 * Whether version is below min. False when min is "" (no minimum), when
 * version is "" (no agent: nothing to flag) or not comparable.
 */
bool agent_version_below(const char *version, const char *min);

#endif
