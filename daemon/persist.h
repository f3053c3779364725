/*
 * The replicated configuration on disk: <state_dir>/cluster.state, written
 * with write + fsync + rename + fsync(dir), so a crash leaves either the old
 * or the new file, never a torn one, and a full cluster restart comes back
 * with the operators' settings.
 *
 * Format: "DRVRSTAT" magic, a 4-byte big-endian format version, a 4-byte
 * big-endian length, then a packed drover.ClusterState of at most
 * DROVER_STATE_MAX bytes.
 *
 * Two ways to write: persist_save() does it in the calling process (unit
 * tests, droverd's final flush at stop); persist_child_start() does the same
 * in a forked child so that droverd's loop never waits for the encoding or
 * the fsyncs (droverd.c's save_state() coalesces changes made meanwhile).
 */
#ifndef DROVER_PERSIST_H
#define DROVER_PERSIST_H

#include <stdbool.h>
#include <sys/types.h>

#include "state.h"

#define PERSIST_FILE "cluster.state"
/* The header in front of the packed state. */
#define PERSIST_HEADER 16u

/*
 * Create state_dir (mode 0750) if missing; -errno. Also removes temporary
 * files left by a writer that died before its rename (a power loss), since
 * nobody else will.
 */
int persist_prepare_dir(const char *state_dir);

/* Atomically replace the state file; -errno, the old file stays intact. */
int persist_save(const char *state_dir, const struct cluster_state *s);

/*
 * Load the state file into *ret. -ENOENT if there is none; -EBADMSG if it is
 * corrupt (the caller decides: the cluster's copy will replace it at sync).
 */
int persist_load(const char *state_dir, struct cluster_state *ret);

/*
 * One persist_save() in a child process. The child sees the state as it was
 * at fork (copy on write), ignores termination signals so that a service
 * manager's stop cannot interrupt it between write and rename (a torn write
 * could not hurt, but it would leave the older file), reports persist_save()'s
 * result through a pipe and _exit()s.
 *
 * The caller watches fd (non-blocking, close-on-exec) for input, calls
 * persist_child_poll() until it returns 0, then persist_child_reap() until it
 * returns 0. The child is reaped by its pid only: another part of the process
 * that reaps with waitpid(-1) may get it first, which is fine (-ECHILD counts
 * as reaped, the result came through the pipe).
 */
struct persist_child {
	pid_t pid;      /* 0: none */
	int fd;         /* the pipe's read end, -1 once closed */
	int result;     /* persist_save()'s, once reported; -ECHILD if it died silently */
	bool reported;
};

/* -errno if the pipe or the fork failed (then nothing was started). */
int persist_child_start(struct persist_child *c, const char *state_dir,
			const struct cluster_state *s);
/* -EAGAIN while the child has not closed its end; 0 once it has (c->result is set). */
int persist_child_poll(struct persist_child *c);
/*
 * 0 once the child is reaped (c->pid = 0) and fd closed (c->fd = -1): take fd
 * out of your loop before. -EAGAIN if the child has not exited yet.
 */
int persist_child_reap(struct persist_child *c);
/* Both, waiting: at shutdown only. */
void persist_child_wait(struct persist_child *c);

#endif
