/*
 * Alert programs run on events, off the loop (alerts.c): each in its own
 * process and process group, under a deadline, a few at a time, the rest
 * waiting in a bounded queue. No droverd.h: the caller builds the
 * environment (event_text.h) and hands it over.
 */
#ifndef DROVER_ALERTS_H
#define DROVER_ALERTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <qb/qbloop.h>

#include "event_text.h"

#define ALERTS_PATH_MAX 256

struct alerts;

struct alerts *alerts_new(qb_loop_t *loop);
/* The deadline of each alert from its start (default 30 s). */
void alerts_set_timeout(struct alerts *a, uint32_t timeout_ms);
/*
 * Run prog (an absolute path, no arguments) with env (from
 * event_alert_env(), taken over and freed here) soon; what names it in the
 * log ("node_lost #3").
 */
void alerts_queue(struct alerts *a, const char *prog, char **env, const char *what);
/* Whoever reaps with waitpid(-1): true if pid was an alert (its status is kept). */
bool alerts_child_exited(struct alerts *a, pid_t pid, int status);
/* Kill and reap running alerts, drop waiting ones. NULL is fine. */
void alerts_free(struct alerts *a);

#endif
