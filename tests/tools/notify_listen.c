/*
 * drover-notify-listen SOCKET: plays systemd's side of sd_notify() for
 * tests/unit/sd_notify.sh. Binds a datagram socket at SOCKET and prints each
 * message it receives as one line, "<monotonic ms> <message>", newlines in
 * the message shown as '|', until killed. Not installed.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	int fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: drover-notify-listen SOCKET\n");
		return 64;
	}
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("drover-notify-listen");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		struct timespec ts;
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		if (n < 0)
			continue;
		buf[n] = '\0';
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n')
				buf[i] = '|';
		clock_gettime(CLOCK_MONOTONIC, &ts);
		printf("%lld %s\n", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, buf);
	}
}
