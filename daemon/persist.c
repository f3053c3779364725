/*
 * Atomic persistence of the replicated configuration (see persist.h).
 *
 * This runs in droverd's loop. The file is a few hundred bytes and is written
 * only when the operator changes something, so the fsyncs are short; the
 * temporary name carries the pid so two daemons pointed at one directory by
 * mistake cannot corrupt each other's half-written file.
 */
#include "persist.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static const char magic[8] = { 'D', 'R', 'V', 'R', 'S', 'T', 'A', 'T' };
#define PERSIST_FORMAT 1u
#define PERSIST_MAX (1024u * 1024u)

int persist_prepare_dir(const char *state_dir)
{
	struct stat st;

	if (mkdir(state_dir, 0750) < 0 && errno != EEXIST)
		return -errno;
	if (stat(state_dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
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
