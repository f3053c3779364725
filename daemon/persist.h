/*
 * The replicated configuration on disk: <state_dir>/cluster.state, written with
 * write + fsync + rename + fsync(dir) after every change, so a crash leaves
 * either the old or the new file, never a torn one, and a full cluster restart
 * comes back with the operators' settings.
 *
 * Format: "DRVRSTAT" magic, a 4-byte big-endian format version, a 4-byte
 * big-endian length, then a packed drover.ClusterState.
 */
#ifndef DROVER_PERSIST_H
#define DROVER_PERSIST_H

#include "state.h"

#define PERSIST_FILE "cluster.state"

/* Create state_dir (mode 0750) if missing; -errno. */
int persist_prepare_dir(const char *state_dir);

/* Atomically replace the state file; -errno, the old file stays intact. */
int persist_save(const char *state_dir, const struct cluster_state *s);

/*
 * Load the state file into *ret. -ENOENT if there is none; -EBADMSG if it is
 * corrupt (the caller decides: the cluster's copy will replace it at sync).
 */
int persist_load(const char *state_dir, struct cluster_state *ret);

#endif
