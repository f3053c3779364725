/*
 * drover-test-reaper CMD [ARGS...]: run CMD under a child subreaper that
 * outlives it, and exit with CMD's status.
 *
 * Why: libvirtd daemonises QEMU, so a QEMU process is an orphan whose exit
 * is reaped by PID 1 (or the nearest subreaper), and libvirtd waits for the
 * pid to vanish before it reports the domain stopped (virProcessKillPainfully).
 * On the project's sandbox machines PID 1 reaps orphans only every ~2 s, which
 * made `virsh destroy` take ~1.8 s and every "domain stopped" event as late,
 * whatever the plugin did. Started as `drover-test-reaper start-libvirtd ...`,
 * libvirtd and every QEMU it starts descend from the reaper, which reaps them
 * at once, as systemd does on a normal host.
 *
 * Shape: the invoked process forks the reaper R and waits on a pipe; R
 * becomes a subreaper (prctl(PR_SET_CHILD_SUBREAPER)), forks and execs CMD,
 * reaps every child; when CMD ends, R reports its status through the pipe
 * (the invoked process exits with it) and goes on reaping until it has no
 * children left (libvirtd stopped, its QEMUs gone), then exits. R keeps the
 * caller's process group and session, so a test's cleanup can still find it;
 * it closes fds above 2 and points 0-2 at /dev/null once CMD runs, so it
 * holds no caller's lock or pipe open.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void close_from(int lowest, int keep)
{
	long max = sysconf(_SC_OPEN_MAX);

	for (int fd = lowest; fd < (max > 0 ? max : 1024); fd++)
		if (fd != keep)
			close(fd);
}

int main(int argc, char **argv)
{
	int p[2], status = 0, rc;
	unsigned char code;
	pid_t r, cmd;

	if (argc < 2) {
		fprintf(stderr, "usage: drover-test-reaper CMD [ARGS...]\n");
		return 2;
	}
	if (pipe(p) < 0) {
		perror("drover-test-reaper: pipe");
		return 2;
	}
	r = fork();
	if (r < 0) {
		perror("drover-test-reaper: fork");
		return 2;
	}
	if (r > 0) {
		/* The invoked process: CMD's exit status, once R reports it. */
		close(p[1]);
		if (read(p[0], &code, 1) != 1)
			return 2;
		return code;
	}

	/* R, the reaper. */
	close(p[0]);
	close_from(3, p[1]);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		perror("drover-test-reaper: PR_SET_CHILD_SUBREAPER");
		_exit(2);
	}
	cmd = fork();
	if (cmd < 0) {
		perror("drover-test-reaper: fork");
		_exit(2);
	}
	if (cmd == 0) {
		close(p[1]);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "drover-test-reaper: %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	/*
	 * The caller's terminal signals are for the caller, not for R; and R
	 * must not hold the caller's output open (a `| sed` would never end).
	 */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	{
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
	}
	for (;;) {
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break; /* ECHILD: nothing left to reap */
		}
		if (pid == cmd) {
			rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			code = (unsigned char)rc;
			if (write(p[1], &code, 1) != 1) {
				/* The caller is gone; keep reaping anyway. */
			}
			close(p[1]);
		}
	}
	_exit(0);
}
