/*
 * The operator-facing names of enum values (node states, VM priorities), in
 * one place: the daemon logs them and the CLI prints and parses them, and the
 * two must never disagree.
 */
#ifndef DROVER_NAMES_H
#define DROVER_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drover.pb-c.h"

/*
 * "active", "draining", "drained", "maintenance", "fenced", "drain-failed";
 * "unknown" otherwise.
 */
const char *node_state_name(Drover__NodeState st);

/* "high", "medium", "low", "none"; "unknown" otherwise. */
const char *vm_priority_name(Drover__VmPriority p);
/* The inverse of vm_priority_name(); -EINVAL for anything else. */
int vm_priority_from_name(const char *name, Drover__VmPriority *ret);

/* "running", "stopped", "preempted", "gave-up"; "" for unspecified. */
const char *vm_want_name(Drover__VmWant w);
/* "none", "pending", "failed", "fenced". */
const char *fence_state_name(Drover__FenceState st);

/* A Drover__JobOrigin: "drain", "failback", "manual", "recovery", "preempt", "duplicate"; "" otherwise. */
const char *job_origin_name(uint32_t origin);

/*
 * A name a client may pass for a network (and other identifiers that end up
 * in URIs or logs): 1 to max-1 bytes of [A-Za-z0-9._-], no leading '-' or
 * '.'. Strict on purpose: "@host:port" or "/" must never reach a URI.
 */
bool name_is_identifier(const char *name, size_t max);

#endif
