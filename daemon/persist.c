/*
 * Atomic persistence of the replicated configuration (see persist.h).
 *
 * The file can be 128 MiB (DROVER_STATE_MAX), so droverd does not write it in
 * its loop: persist_child_start() forks, and the child encodes and writes
 * while the parent goes on. Invariants: the file on disk is always a whole
 * state (temporary file, fsync, rename, fsync of the directory); the
 * temporary name carries the writer's pid, so two writers (a child and a
 * final synchronous flush, or two daemons pointed at one directory by
 * mistake) never share a half-written file.
 *
 * Considered and rejected: a writer thread fed a deep copy of the state (the
 * copy alone is a pass over 40 MiB in the loop, and droverd has no threads
 * to keep safe); writing only the changed records (an append log needs
 * compaction and its own torn-tail recovery; the rare full rewrite in a child
 * is simpler and as safe). A child killed with its parent (PDEATHSIG) was
 * rejected too: letting it finish leaves a newer whole file, killing it
 * leaves a temporary file to clean up.
 */
#include "persist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static const char magic[8] = { 'D', 'R', 'V', 'R', 'S', 'T', 'A', 'T' };
#define PERSIST_FORMAT 1u
#define PERSIST_MAX DROVER_STATE_MAX

/* A temporary file ".cluster.state.PID" whose writer is gone. */
static bool stale_tmp(const char *name)
{
	static const char prefix[] = "." PERSIST_FILE ".";
	char *end;
	long pid;

	if (strncmp(name, prefix, sizeof(prefix) - 1) != 0)
		return false;
	errno = 0;
	pid = strtol(name + sizeof(prefix) - 1, &end, 10);
	if (errno || *end || pid <= 0 || pid > INT_MAX)
		return false;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static void remove_stale_tmps(const char *state_dir)
{
	DIR *dir = opendir(state_dir);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir)))
		if (stale_tmp(e->d_name))
			unlinkat(dirfd(dir), e->d_name, 0);
	closedir(dir);
}

int persist_prepare_dir(const char *state_dir)
{
	struct stat st;

	if (mkdir(state_dir, 0750) < 0 && errno != EEXIST)
		return -errno;
	if (stat(state_dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	remove_stale_tmps(state_dir);
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int persist_save(const char *state_dir, const struct cluster_state *s)
{
	Drover__ClusterState msg;
	struct state_proto_storage storage;
	char tmp[PATH_MAX], path[PATH_MAX];
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_close_ int fd = -1, dfd = -1;
	size_t n;
	int r;

	state_to_proto(s, &msg, &storage);
	n = drover__cluster_state__get_packed_size(&msg);
	if (n > PERSIST_MAX) {
		/* VmAdd keeps the state below this; a file we could not load again is no backup. */
		state_proto_storage_free(&storage);
		return -EFBIG;
	}
	buf = xmalloc(16 + n);
	memcpy(buf, magic, 8);
	put_be32(buf + 8, PERSIST_FORMAT);
	put_be32(buf + 12, (uint32_t)n);
	drover__cluster_state__pack(&msg, buf + 16);
	state_proto_storage_free(&storage);

	if (snprintf(path, sizeof(path), "%s/%s", state_dir, PERSIST_FILE) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.%d", state_dir, PERSIST_FILE, (int)getpid()) >=
		    (int)sizeof(tmp))
		return -ENAMETOOLONG;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	r = write_all(fd, buf, 16 + n);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	/* The rename is durable only once the directory is synced too. */
	dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0 && fsync(dfd) < 0)
		return -errno;
	return 0;
}

int persist_load(const char *state_dir, struct cluster_state *ret)
{
	char path[PATH_MAX];
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_close_ int fd = -1;
	Drover__ClusterState *msg;
	struct stat st;
	uint32_t len;
	size_t got = 0;
	int r;

	if (snprintf(path, sizeof(path), "%s/%s", state_dir, PERSIST_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < 16 || st.st_size > (off_t)(16 + PERSIST_MAX))
		return -EBADMSG;
	buf = xmalloc((size_t)st.st_size);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EBADMSG;
		got += (size_t)n;
	}
	if (memcmp(buf, magic, 8) != 0 || get_be32(buf + 8) != PERSIST_FORMAT)
		return -EBADMSG;
	len = get_be32(buf + 12);
	if ((size_t)len != got - 16)
		return -EBADMSG;
	msg = drover__cluster_state__unpack(NULL, len, buf + 16);
	if (!msg)
		return -EBADMSG;
	r = state_from_proto(msg, ret);
	drover__cluster_state__free_unpacked(msg, NULL);
	return r < 0 ? -EBADMSG : 0;
}

int persist_child_start(struct persist_child *c, const char *state_dir,
			const struct cluster_state *s)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;

		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		int res;

		/*
		 * The parent's handlers (libqb's write into its loop's pipe) must
		 * not run here, and a stop must not cut the write short.
		 */
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGCHLD, SIG_DFL);
		close(p[0]);
		/* Not holding the parent's sockets: its peers see it go when it goes. */
		if (p[1] > 3)
			close_range(3, (unsigned)p[1] - 1, 0);
		close_range((unsigned)p[1] + 1, ~0u, 0);
		res = persist_save(state_dir, s);
		while (write(p[1], &res, sizeof(res)) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	c->pid = pid;
	c->fd = p[0];
	c->result = -ECHILD;
	c->reported = false;
	return 0;
}

int persist_child_poll(struct persist_child *c)
{
	for (;;) {
		int res;
		ssize_t n;

		if (c->fd < 0)
			return 0;
		n = read(c->fd, &res, sizeof(res));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return -EAGAIN;
		if (n == (ssize_t)sizeof(res) && !c->reported) {
			/* A pipe writes up to PIPE_BUF bytes at once: never half an int. */
			c->result = res;
			c->reported = true;
			continue;
		}
		/*
		 * End of file (or a read error, or noise): the child is done with
		 * us. The fd stays open until the reap, so that the caller can
		 * take it out of its loop first.
		 */
		return 0;
	}
}

int persist_child_reap(struct persist_child *c)
{
	int status;
	pid_t r;

	if (c->pid > 0) {
		do
			r = waitpid(c->pid, &status, WNOHANG);
		while (r < 0 && errno == EINTR);
		if (r == 0)
			return -EAGAIN;
		/* r < 0 (ECHILD): whoever reaps with waitpid(-1) was first. */
		c->pid = 0;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	return 0;
}

void persist_child_wait(struct persist_child *c)
{
	int status;

	while (persist_child_poll(c) == -EAGAIN) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

		poll(&pfd, 1, -1);
	}
	if (c->pid > 0) {
		while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
			;
		c->pid = 0;
	}
	persist_child_reap(c);
}
