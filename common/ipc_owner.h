/*
 * Who holds a libqb IPC service's name: the process listening on the socket
 * libqb would connect to, with the credentials the kernel recorded when it
 * called listen() (SO_PEERCRED), which that process cannot forge.
 *
 * On Linux libqb names a service's socket in the abstract namespace, which is
 * per network namespace and open to every local user: whoever binds the name
 * first gets the clients. The CLI checks the holder before it sends anything;
 * droverd names the holder when its own bind fails.
 */
#ifndef DROVER_IPC_OWNER_H
#define DROVER_IPC_OWNER_H

#include <stddef.h>
#include <sys/types.h>

struct ipc_owner {
	pid_t pid; /* 0 when the holder is in a PID namespace we cannot see */
	uid_t uid;
	gid_t gid;
};

/*
 * Connect to service's socket as libqb's client would and read the
 * listener's credentials; nothing is sent. 0: *ret written. -ECONNREFUSED:
 * nobody listens (or the name is bound by a socket that does not listen).
 * -EOPNOTSUPP: libqb is configured for file system sockets
 * (/etc/libqb/force-filesystem-sockets), whose directory is libqb's build
 * choice; the caller then relies on qb_ipcc_auth_get() alone. Other -errno
 * from socket(), connect() or getsockopt().
 */
int ipc_owner_probe(const char *service, struct ipc_owner *ret);

/* "pid 123 ('name'), uid 65534 ('nobody')": for messages; never fails. */
void ipc_owner_describe(const struct ipc_owner *o, char *buf, size_t len);

#endif
