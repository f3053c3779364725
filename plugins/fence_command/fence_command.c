/*
 * fence_command.so, the fence plugin that runs a fence-agents program.
 *
 * A device is "PROGRAM key=value key=value ..." (whitespace-separated, as in
 * drover.conf's [fence] deviceN): PROGRAM is an absolute path, %n in a value
 * is replaced by the node's name. fence() runs PROGRAM with no arguments and
 * writes its options to its stdin, one key=value line each, the way
 * fence_ipmilan, fence_apc, fence_virsh and the other fence-agents read
 * them: the device's pairs, then port=NODE and plug=NODE unless the device
 * gave port or plug, nodename=NODE and action=ACTION. Exit status 0 means
 * the node is off; anything else fails with the program's last line of
 * output. Values cannot hold whitespace; passwords belong in a file
 * (password_script=).
 *
 * The program stays in the worker's process group, so the agent's deadline
 * kills it and whatever it spawned with the worker. Should req->timeout_ms
 * pass first, the program itself is SIGKILLed.
 *
 * init() takes no configuration; the plugin has no inventory, VMs or events.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "plugin.h"

#define POLL_MS 50
#define OUTPUT_TAIL 4096  /* bytes of the program's output kept for the error */
#define REASON_MAX 200    /* of the last line, in the error */
#define DEVICE_MAX 65536  /* a device string longer than this is refused */

extern char **environ;

struct fc_ctx {
	const struct drover_plugin_host *host;
};

struct strbuf {
	char *s;
	size_t len, cap;
};

static int sb_add(struct strbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->s, cap);
		if (!p)
			return -ENOMEM;
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

static int sb_adds(struct strbuf *b, const char *s)
{
	return sb_add(b, s, strlen(s));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#define flog(c, prio, ...)                                                                         \
	do {                                                                                       \
		if ((c) && (c)->host && DROVER_HOST_HAS((c)->host, log))                           \
			(c)->host->log((c)->host, (prio), __VA_ARGS__);                            \
	} while (0)

/* ---- the plugin ---- */

static int fc_init(const struct drover_plugin_host *host, const char *config, void **ret_ctx,
		   char *err, size_t errlen)
{
	struct fc_ctx *c;

	if (config && config[strspn(config, " \t")])
		return drover_plugin_error(err, errlen, EINVAL,
					   "fence_command takes no configuration (got '%.64s'); "
					   "devices are given per fence job",
					   config);
	c = calloc(1, sizeof(*c));
	if (!c)
		return drover_plugin_error(err, errlen, ENOMEM, "out of memory");
	c->host = host;
	*ret_ctx = c;
	return 0;
}

static void fc_fini(void *ctx)
{
	free(ctx);
}

/* A node name or action goes into a key=value line: no whitespace, no control characters. */
static bool plain_word(const char *s)
{
	if (!s || !s[0])
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static bool valid_key(const char *k, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
		      (k[i] >= '0' && k[i] <= '9') || k[i] == '_' || k[i] == '-'))
			return false;
	return true;
}

static bool key_is(const char *k, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(k, name, n) == 0;
}

/*
 * Parse device into *program (allocated) and the stdin text for node and
 * action (allocated, in *input). 0 or -errno with err set.
 */
static int build_input(const char *device, const char *node, const char *action, char **program,
		       struct strbuf *input, char *err, size_t errlen)
{
	static const char ws[] = " \t\r\n";
	const char *p = device;
	bool has_port = false;
	struct stat st;
	size_t n;
	int r = 0;

	*program = NULL;
	p += strspn(p, ws);
	n = strcspn(p, ws);
	if (n == 0)
		return drover_plugin_error(err, errlen, EINVAL, "empty fence device definition");
	*program = strndup(p, n);
	if (!*program)
		return drover_plugin_error(err, errlen, ENOMEM, "out of memory");
	if ((*program)[0] != '/')
		return drover_plugin_error(err, errlen, EINVAL,
					   "fence program '%.200s' is not an absolute path",
					   *program);
	if (stat(*program, &st) < 0)
		return drover_plugin_error(err, errlen, EINVAL, "fence program %.200s: %s",
					   *program, strerror(errno));
	if (!S_ISREG(st.st_mode) || access(*program, X_OK) < 0)
		return drover_plugin_error(err, errlen, EINVAL,
					   "fence program %.200s is not an executable file",
					   *program);
	for (p += n;; p += n) {
		const char *eq, *v;

		p += strspn(p, ws);
		n = strcspn(p, ws);
		if (n == 0)
			break;
		eq = memchr(p, '=', n);
		if (!eq || !valid_key(p, (size_t)(eq - p)))
			return drover_plugin_error(err, errlen, EINVAL,
						   "fence device of %.200s: '%.*s' is not key=value",
						   *program, (int)(n > 64 ? 64 : n), p);
		if (key_is(p, (size_t)(eq - p), "action"))
			return drover_plugin_error(err, errlen, EINVAL,
						   "fence device of %.200s: action is drover's to set",
						   *program);
		if (key_is(p, (size_t)(eq - p), "port") || key_is(p, (size_t)(eq - p), "plug"))
			has_port = true;
		r = r ?: sb_add(input, p, (size_t)(eq - p) + 1);
		/* The value, %n expanded. */
		for (v = eq + 1; v < p + n; v++) {
			if (v[0] == '%' && v + 1 < p + n && v[1] == 'n') {
				r = r ?: sb_adds(input, node);
				v++;
			} else {
				r = r ?: sb_add(input, v, 1);
			}
		}
		r = r ?: sb_adds(input, "\n");
	}
	if (!has_port) {
		r = r ?: sb_adds(input, "port=");
		r = r ?: sb_adds(input, node);
		r = r ?: sb_adds(input, "\nplug=");
		r = r ?: sb_adds(input, node);
		r = r ?: sb_adds(input, "\n");
	}
	r = r ?: sb_adds(input, "nodename=");
	r = r ?: sb_adds(input, node);
	r = r ?: sb_adds(input, "\naction=");
	r = r ?: sb_adds(input, action);
	r = r ?: sb_adds(input, "\n");
	if (r < 0)
		return drover_plugin_error(err, errlen, -r, "out of memory");
	return 0;
}

/* The last non-empty line of the output kept, trimmed, at most REASON_MAX bytes. */
static void last_line(const char *out, size_t len, char *line, size_t size)
{
	size_t end = len, start;

	while (end > 0 && (out[end - 1] == '\n' || out[end - 1] == '\r' || out[end - 1] == ' ' ||
			   out[end - 1] == '\t'))
		end--;
	start = end;
	while (start > 0 && out[start - 1] != '\n')
		start--;
	while (start < end && (out[start] == ' ' || out[start] == '\t'))
		start++;
	if (end - start > REASON_MAX)
		start = end - REASON_MAX;
	snprintf(line, size, "%.*s", (int)(end - start), out + start);
	for (char *q = line; *q; q++)
		if ((unsigned char)*q < ' ')
			*q = ' ';
}

static void child(const char *program, int in, int out)
{
	char *const argv[] = { (char *)program, NULL };
	sigset_t none;

	/* The worker ignores SIGPIPE and may block signals; the program starts clean. */
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	/* Not the worker's socket, nor anything else of the agent's. */
	if (close_range(3, ~0u, 0) < 0)
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	if (chdir("/") < 0)
		_exit(127);
	execve(program, argv, environ);
	dprintf(2, "cannot execute %s: %s\n", program, strerror(errno));
	_exit(127);
}

/* Write what fits of in[*off..len) to fd (non-blocking); closes *fd when done or broken. */
static void feed(int *fd, const struct strbuf *in, size_t *off)
{
	sigset_t pipe_set, old, pending;
	bool was_pending;

	/* A program that does not read its stdin must not kill us with SIGPIPE. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	while (*off < in->len) {
		ssize_t w = write(*fd, in->s + *off, in->len - *off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0) {
			if (errno == EPIPE && !was_pending) {
				struct timespec zero = { 0, 0 };

				sigtimedwait(&pipe_set, NULL, &zero);
			}
			*off = in->len; /* it will not read the rest */
			break;
		}
		*off += (size_t)w;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (*off >= in->len) {
		close(*fd);
		*fd = -1;
	}
}

/* Read what is there from *fd into the tail buffer; closes *fd at EOF or error. */
static void drain(int *fd, char *tail, size_t *tlen)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(*fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close(*fd);
			*fd = -1;
			return;
		}
		if ((size_t)n >= OUTPUT_TAIL) {
			memcpy(tail, buf + n - OUTPUT_TAIL, OUTPUT_TAIL);
			*tlen = OUTPUT_TAIL;
		} else {
			if (*tlen + (size_t)n > OUTPUT_TAIL) {
				size_t drop = *tlen + (size_t)n - OUTPUT_TAIL;

				memmove(tail, tail + drop, *tlen - drop);
				*tlen -= drop;
			}
			memcpy(tail + *tlen, buf, (size_t)n);
			*tlen += (size_t)n;
		}
	}
}

static int fc_fence(void *ctx, const struct drover_fence_req *req, char *err, size_t errlen)
{
	const struct fc_ctx *c = ctx;
	const char *node, *action, *device;
	uint32_t timeout_ms = 0;
	struct strbuf input = { 0 };
	char *program = NULL, tail[OUTPUT_TAIL], line[REASON_MAX + 8];
	size_t tlen = 0, off = 0;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	int r, status = 0;
	bool reaped = false, timed_out = false, lost = false;
	uint64_t deadline;
	pid_t pid;

	if (!req || !DROVER_FITS(struct drover_fence_req, req, device))
		return drover_plugin_error(err, errlen, EINVAL, "malformed fence request");
	node = req->node;
	action = req->action && req->action[0] ? req->action : "off";
	device = req->device ? req->device : "";
	if (DROVER_FITS(struct drover_fence_req, req, timeout_ms))
		timeout_ms = req->timeout_ms;
	if (!plain_word(node))
		return drover_plugin_error(err, errlen, EINVAL, "fence: bad node name '%.64s'",
					   node ? node : "");
	if (!plain_word(action))
		return drover_plugin_error(err, errlen, EINVAL, "fence: bad action '%.64s'", action);
	if (strlen(device) > DEVICE_MAX)
		return drover_plugin_error(err, errlen, E2BIG, "fence device longer than %d bytes",
					   DEVICE_MAX);
	r = build_input(device, node, action, &program, &input, err, errlen);
	if (r < 0)
		goto out;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		r = drover_plugin_error(err, errlen, errno, "cannot create pipes: %s",
					strerror(errno));
		goto out;
	}
	flog(c, LOG_NOTICE, "fencing %s with %s", node, program);
	pid = fork();
	if (pid < 0) {
		r = drover_plugin_error(err, errlen, errno, "cannot fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		child(program, in[0], out[1]);
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
	fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);

	deadline = timeout_ms ? now_ms() + timeout_ms : 0;
	while (!reaped) {
		struct pollfd pfd[2];
		nfds_t nfd = 0;
		pid_t w;

		if (in[1] >= 0)
			feed(&in[1], &input, &off);
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			reaped = true;
			break;
		}
		if (w < 0 && errno != EINTR) {
			/* Reaped by someone else (SIGCHLD ignored?): its status is unknown. */
			reaped = lost = true;
			break;
		}
		if (deadline && now_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			reaped = timed_out = true;
			break;
		}
		if (out[0] >= 0)
			pfd[nfd++] = (struct pollfd){ .fd = out[0], .events = POLLIN };
		if (in[1] >= 0)
			pfd[nfd++] = (struct pollfd){ .fd = in[1], .events = POLLOUT };
		if (poll(pfd, nfd, POLL_MS) > 0 && out[0] >= 0 && pfd[0].revents)
			drain(&out[0], tail, &tlen);
	}
	/*
	 * What it wrote before it exited; not a wait for EOF, which something
	 * it left running might hold off forever.
	 */
	if (out[0] >= 0)
		drain(&out[0], tail, &tlen);
	last_line(tail, tlen, line, sizeof(line));

	if (lost) {
		r = drover_plugin_error(err, errlen, ECHILD,
					"lost track of fence program %.200s (pid %d): its exit status "
					"is unknown",
					program, (int)pid);
	} else if (timed_out) {
		r = drover_plugin_error(err, errlen, ETIMEDOUT,
					"fence program %.200s did not finish within %u ms; killed it%s%s",
					program, timeout_ms, line[0] ? ": " : "", line);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		flog(c, LOG_NOTICE, "fenced %s with %s", node, program);
		r = 0;
	} else if (WIFEXITED(status)) {
		r = drover_plugin_error(err, errlen, EIO, "fence program %.200s exited %d: %s",
					program, WEXITSTATUS(status),
					line[0] ? line : "(no output)");
	} else {
		r = drover_plugin_error(err, errlen, EIO,
					"fence program %.200s was killed by signal %d: %s", program,
					WIFSIGNALED(status) ? WTERMSIG(status) : 0,
					line[0] ? line : "(no output)");
	}
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	free(input.s);
	free(program);
	return r;
}

DROVER_PLUGIN_EXPORT const struct drover_plugin DROVER_PLUGIN_SYMBOL = {
	.abi_version = DROVER_PLUGIN_ABI_VERSION,
	.size = sizeof(struct drover_plugin),
	.name = "fence_command",
	.description = "fences a node by running a fence-agents program (PROGRAM key=value ...)",
	.init = fc_init,
	.fini = fc_fini,
	.fence = fc_fence,
};
