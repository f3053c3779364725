/*
 * libqb's blackbox, dumped to a file: on request (`drover debug blackbox`)
 * and when droverd crashes. The blackbox is a 1 MiB ring that log_setup()
 * fills with every log line at every level, debug included, whatever
 * log_level says; a dump is the recent past in full detail, read with
 * `qb-blackbox FILE` (libqb-tools) or `drover debug blackbox --print`.
 *
 * Files go to STATE_DIR/blackbox/droverd-<time>-<pid>-<n>, readable by root
 * only (the log holds domain names and errors from every peer); the newest
 * BLACKBOX_KEEP are kept, older ones removed at each dump.
 *
 * A dump is written from the loop: 1 MiB into the page cache, without
 * fsync, takes a few milliseconds. Considered and rejected: writing it from
 * a forked child (the ring is in memory shared with the child, so the
 * child's copy is exactly as good, but a fork from a process with an HTTP
 * thread and 40 MiB of state to save milliseconds is not worth it).
 *
 * On SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT the handler writes the
 * blackbox to a path made ready at start, then lets the signal kill the
 * process as it would have (so systemd still sees the crash and a core is
 * still dumped). qb_log_blackbox_write_to_file() is not async-signal-safe
 * on paper; Pacemaker does the same, because a trace after a crash is worth
 * the small risk of the handler itself failing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "droverd.h"
#include "exitcode.h"
#include "log.h"
#include "util.h"

#define BLACKBOX_KEEP 8
#define BLACKBOX_DIR "blackbox"

static char crash_path[PATH_MAX];
static unsigned dumps;

static void crash_handler(int sig)
{
	if (crash_path[0])
		qb_log_blackbox_write_to_file(crash_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int blackbox_dir(const struct droverd *d, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s", d->cfg.state_dir, BLACKBOX_DIR) >= len)
		return -ENAMETOOLONG;
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

void blackbox_setup(struct droverd *d)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	char dir[PATH_MAX];
	struct sigaction sa;

	if (blackbox_dir(d, dir, sizeof(dir)) < 0 ||
	    (size_t)snprintf(crash_path, sizeof(crash_path), "%s/droverd-crash-%d", dir,
			     (int)getpid()) >= sizeof(crash_path)) {
		crash_path[0] = '\0';
		log_warn("cannot prepare '%s/%s' for the blackbox: a crash will leave no trace "
			 "there", d->cfg.state_dir, BLACKBOX_DIR);
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = crash_handler;
	sigemptyset(&sa.sa_mask);
	/* One dump: a fault inside the handler kills at once. */
	sa.sa_flags = SA_RESETHAND;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_dump(const struct dirent *e)
{
	/* droverd-<time>-...: the request dumps, whose names sort by time. */
	return strncmp(e->d_name, "droverd-", 8) == 0 && e->d_name[8] >= '0' && e->d_name[8] <= '9';
}

/* Keep the newest BLACKBOX_KEEP request dumps. */
static void prune(const char *dir)
{
	struct dirent **list;
	int n = scandir(dir, &list, is_dump, by_name);
	char p[PATH_MAX];

	for (int i = 0; i < n; i++) {
		if (i < n - BLACKBOX_KEEP &&
		    (size_t)snprintf(p, sizeof(p), "%s/%s", dir, list[i]->d_name) < sizeof(p))
			unlink(p);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
}

int blackbox_dump(struct droverd *d, char *ret_path, size_t len)
{
	char dir[PATH_MAX], path[PATH_MAX], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	ssize_t n;
	int r;

	r = blackbox_dir(d, dir, sizeof(dir));
	if (r < 0)
		return r;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if ((size_t)snprintf(path, sizeof(path), "%s/droverd-%s-%d-%u", dir, stamp, (int)getpid(),
			     ++dumps) >= sizeof(path) ||
	    strlen(path) >= len)
		return -ENAMETOOLONG;
	n = qb_log_blackbox_write_to_file(path);
	if (n < 0)
		return (int)n;
	chmod(path, 0600);
	prune(dir);
	strscpy(ret_path, path, len);
	log_notice("blackbox written to '%s' (%zd bytes)", path, n);
	return 0;
}

void blackbox_ctl(struct droverd *d, qb_ipcs_connection_t *c, const Drover__CtlRequest *req)
{
	Drover__CtlResponse resp = DROVER__CTL_RESPONSE__INIT;
	char path[PATH_MAX], msg[PATH_MAX + 64];
	int r;

	(void)req;
	r = blackbox_dump(d, path, sizeof(path));
	if (r < 0) {
		snprintf(msg, sizeof(msg), "cannot write the blackbox under '%s/%s': %s",
			 d->cfg.state_dir, BLACKBOX_DIR, strerror(-r));
		log_err("%s", msg);
		ctl_reply_error(c, DROVER_EXIT_ERROR, msg);
		return;
	}
	resp.blackbox_path = path;
	ctl_send_response(c, &resp);
}
