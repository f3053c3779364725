/*
 * qb_log setup shared by droverd and (later) drover-agent. The blackbox is
 * always on; stderr or syslog carry what the operator sees.
 */
#include "log.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static const struct {
	const char *name;
	int prio;
} prios[] = {
	{ "err", LOG_ERR },       { "error", LOG_ERR },   { "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE }, { "info", LOG_INFO },   { "debug", LOG_DEBUG },
};

static int log_target = QB_LOG_SYSLOG;
static bool journal;

bool log_journal_available(void)
{
	return access("/run/systemd/journal/socket", W_OK) == 0;
}

bool log_to_journal(void)
{
	return journal;
}

void log_setup(const char *name, int priority, int to_stderr)
{
	qb_log_init(name, LOG_DAEMON, LOG_INFO);
	qb_log_format_set(QB_LOG_STDERR, "%t %N[%P] %p: %b");
	qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_SIZE, 1024 * 1024);
	qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_ENABLED, QB_TRUE);
	qb_log_filter_ctl(QB_LOG_BLACKBOX, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", LOG_DEBUG);
	log_target = to_stderr ? QB_LOG_STDERR : QB_LOG_SYSLOG;
	/*
	 * Under systemd, libqb writes straight to the journal: each line keeps
	 * its priority, and CODE_FILE/CODE_LINE say where it came from.
	 */
	journal = !to_stderr && log_journal_available() &&
		  qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_USE_JOURNAL, 1) == 0;
	qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_ENABLED, to_stderr ? QB_FALSE : QB_TRUE);
	qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, to_stderr ? QB_TRUE : QB_FALSE);
	log_set_priority(priority);
}

void log_set_priority(int priority)
{
	/*
	 * libqb logs its own internals (ring buffers, IPC set-up) through the same
	 * callsites; at debug they drown ours. Our files get the chosen level,
	 * libqb's at most info. (libqb matches FILE filters as substrings.)
	 */
	qb_log_filter_ctl(log_target, QB_LOG_FILTER_CLEAR_ALL, QB_LOG_FILTER_FILE, "*", LOG_DEBUG);
	qb_log_filter_ctl(log_target, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*",
			  priority < LOG_INFO ? priority : LOG_INFO);
	qb_log_filter_ctl(log_target, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE,
			  "daemon/,agent/,common/,plugins/", priority);
}

void log_teardown(void)
{
	qb_log_fini();
}

int log_priority_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(prios) / sizeof(prios[0]); i++)
		if (strcmp(name, prios[i].name) == 0)
			return prios[i].prio;
	return -EINVAL;
}

const char *log_priority_name(int priority)
{
	for (size_t i = 0; i < sizeof(prios) / sizeof(prios[0]); i++)
		if (prios[i].prio == priority)
			return prios[i].name;
	return "info";
}
