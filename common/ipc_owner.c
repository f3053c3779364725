/*
 * The holder of a libqb IPC service name (see ipc_owner.h).
 *
 * The address must be the one libqb uses, byte for byte: libqb 2.x
 * (lib/ipc_setup.c, qb_ipcc_stream_sock_connect() and qb_ipcs_us_publish())
 * writes the service name after a leading NUL and passes the whole struct
 * sockaddr_un as the address length (its QB_SUN_LEN() for an abstract name),
 * so the name is "\0drover" padded with NULs to 108 bytes, which `ss -xlp`
 * shows as "@drover@@@...". A shorter address would name another socket.
 *
 * The connection is non-blocking: a listener whose backlog is full answers
 * EAGAIN at once instead of keeping us waiting, and nothing is written, so a
 * libqb server sees a client that connected and left before authenticating.
 *
 * Rejected: reading /proc/net/unix to find the socket's inode and then every
 * process's file descriptors to find its owner (what ss -p does): slow, racy,
 * and it names a process that has the socket open, not the one that bound it.
 */
#include "ipc_owner.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

/* libqb's switch to file system sockets (lib/ipc_socket.c, FORCESOCKETSFILE). */
#define QB_FORCE_FS_SOCKETS "/etc/libqb/force-filesystem-sockets"

int ipc_owner_probe(const char *service, struct ipc_owner *ret)
{
	struct sockaddr_un a;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct stat st;
	_cleanup_close_ int fd = -1;

	if (strlen(service) + 2 > sizeof(a.sun_path))
		return -ENAMETOOLONG;
	if (stat(QB_FORCE_FS_SOCKETS, &st) == 0)
		return -EOPNOTSUPP;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path + 1, service, strlen(service));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	ret->pid = cred.pid;
	ret->uid = cred.uid;
	ret->gid = cred.gid;
	return 0;
}

/* The process's command name from /proc, or "" (gone, or in another PID namespace). */
static void comm_of(pid_t pid, char *buf, size_t len)
{
	char path[64];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	buf[0] = '\0';
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	if (n <= 0) {
		buf[0] = '\0';
		return;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

void ipc_owner_describe(const struct ipc_owner *o, char *buf, size_t len)
{
	char comm[32];
	struct passwd *pw = getpwuid(o->uid);

	comm_of(o->pid, comm, sizeof(comm));
	snprintf(buf, len, "pid %d%s%s%s, uid %u%s%s%s", (int)o->pid, *comm ? " ('" : "", comm,
		 *comm ? "')" : "", (unsigned)o->uid, pw ? " ('" : "", pw ? pw->pw_name : "",
		 pw ? "')" : "");
}
