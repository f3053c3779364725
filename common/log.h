/*
 * Logging for the daemons, over libqb's qb_log: syslog or stderr, plus the
 * blackbox ring so that a crash leaves a trace (dump it with qb-blackbox).
 * Names from outside are quoted ('%s'); messages say what was being done and
 * what happens next.
 */
#ifndef DROVER_LOG_H
#define DROVER_LOG_H

#include <qb/qblog.h>
#include <stdbool.h>
#include <syslog.h>

#define log_err(...) qb_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...) qb_log(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) qb_log(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) qb_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) qb_log(LOG_DEBUG, __VA_ARGS__)

/* Start logging for binary `name` at `priority` to stderr (foreground) or syslog. */
void log_setup(const char *name, int priority, int to_stderr);
void log_set_priority(int priority);
void log_teardown(void);
/* journald's socket is there (we run under systemd). */
bool log_journal_available(void);
/* log_setup() sent syslog's lines to the journal (not stderr, and journald is there). */
bool log_to_journal(void);

/* Map "err", "warning", "notice", "info", "debug" to a syslog priority; -EINVAL. */
int log_priority_from_name(const char *name);
const char *log_priority_name(int priority);

#endif
