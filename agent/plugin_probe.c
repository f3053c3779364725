/*
 * Learning a plugin's facts in a child process (see plugin_probe.h).
 *
 * The child is this very binary with --probe-plugin: it loads the plugin
 * with the loader (the same checks, in the same order, with the same
 * messages as when the agent loaded plugins itself), prints "key=value"
 * lines on stdout and exits. Its answer on success:
 *
 *   name=libvirt
 *   abi_version=1
 *   size=152
 *   calls=1023
 *   migrate_flags=7
 *   description=...
 *
 * and on a refusal "error=<errno>" and "message=<the loader's reason>",
 * with exit status 78. Lines the agent does not know are ignored (a
 * plugin's constructor that prints on stdout cannot forge a fact that the
 * real line then contradicts: the last line of a key wins, and the child
 * prints its own lines after the dlopen()). It never calls init(): that is
 * the workers' business, under their own timeout.
 */
#include "plugin_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exitcode.h"
#include "plugin_loader.h"
#include "util.h"

#define PROBE_OUT_MAX 8192

uint32_t plugin_calls(const struct drover_plugin *p)
{
	uint32_t c = 0;

	if (DROVER_PLUGIN_HAS(p, inventory))
		c |= PLUGIN_CALL_INVENTORY;
	if (DROVER_PLUGIN_HAS(p, vm_start))
		c |= PLUGIN_CALL_VM_START;
	if (DROVER_PLUGIN_HAS(p, vm_stop))
		c |= PLUGIN_CALL_VM_STOP;
	if (DROVER_PLUGIN_HAS(p, vm_migrate))
		c |= PLUGIN_CALL_VM_MIGRATE;
	if (DROVER_PLUGIN_HAS(p, vm_abort_migration))
		c |= PLUGIN_CALL_VM_ABORT_MIGRATION;
	if (DROVER_PLUGIN_HAS(p, device_attach))
		c |= PLUGIN_CALL_DEVICE_ATTACH;
	if (DROVER_PLUGIN_HAS(p, device_detach))
		c |= PLUGIN_CALL_DEVICE_DETACH;
	if (DROVER_PLUGIN_HAS(p, events_fd) && DROVER_PLUGIN_HAS(p, events_dispatch))
		c |= PLUGIN_CALL_EVENTS;
	if (DROVER_PLUGIN_HAS(p, fence))
		c |= PLUGIN_CALL_FENCE;
	if (DROVER_PLUGIN_HAS(p, device_detach_wait))
		c |= PLUGIN_CALL_DEVICE_DETACH_WAIT;
	return c;
}

/* One line per value: newlines, tabs and other control characters become spaces. */
static void print_clean(const char *key, const char *s)
{
	printf("%s=", key);
	for (; s && *s; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s);
	putchar('\n');
}

int plugin_probe_main(const char *path)
{
	struct plugin_loader *l = plugin_loader_new();
	const struct loaded_plugin *lp;
	char err[1024];
	int r = plugin_loader_load(l, path, &lp, err, sizeof(err));

	if (r < 0) {
		printf("error=%d\n", -r);
		print_clean("message", err);
		fflush(stdout);
		plugin_loader_free(l);
		return DROVER_EXIT_CONFIG;
	}
	printf("name=%s\nabi_version=%" PRIu32 "\nsize=%" PRIu32 "\ncalls=%" PRIu32
	       "\nmigrate_flags=%" PRIu32 "\n",
	       lp->plugin->name, lp->plugin->abi_version, lp->plugin->size,
	       plugin_calls(lp->plugin), drover_plugin_migrate_flags(lp->plugin));
	print_clean("description", lp->plugin->description ? lp->plugin->description : "");
	fflush(stdout);
	plugin_loader_free(l);
	return 0;
}

void plugin_facts_free(struct plugin_facts *f)
{
	free(f->description);
	free(f->path);
	memset(f, 0, sizeof(*f));
}

static int parse_u32(const char *s, uint32_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

/* Parse the child's answer; the child's exit status decides success before this. */
static int parse_answer(char *out, struct plugin_facts *f, int *ret_errno, char *msg, size_t msglen)
{
	bool have_name = false, have_abi = false, have_size = false, have_calls = false;
	char *save = NULL;

	*ret_errno = 0;
	msg[0] = '\0';
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(line, '=');

		if (!v)
			continue;
		*v++ = '\0';
		if (strcmp(line, "name") == 0)
			have_name = strscpy(f->name, v, sizeof(f->name)) >= 0 && v[0];
		else if (strcmp(line, "abi_version") == 0)
			have_abi = parse_u32(v, &f->abi_version) == 0;
		else if (strcmp(line, "size") == 0)
			have_size = parse_u32(v, &f->size) == 0;
		else if (strcmp(line, "calls") == 0)
			have_calls = parse_u32(v, &f->calls) == 0;
		else if (strcmp(line, "migrate_flags") == 0)
			(void)parse_u32(v, &f->migrate_flags);
		else if (strcmp(line, "description") == 0) {
			free(f->description);
			f->description = xstrdup(v);
		} else if (strcmp(line, "error") == 0) {
			uint32_t e;

			if (parse_u32(v, &e) == 0)
				*ret_errno = (int)e;
		} else if (strcmp(line, "message") == 0)
			strscpy(msg, v, msglen);
	}
	if (!f->description)
		f->description = xstrdup("");
	return have_name && have_abi && have_size && have_calls ? 0 : -EIO;
}

int plugin_probe(const char *self_exe, const char *path, uint32_t timeout_ms,
		 struct plugin_facts *ret, char *err, size_t errlen)
{
	_cleanup_free_ char *out = xcalloc(1, PROBE_OUT_MAX + 1);
	char msg[1024];
	size_t used = 0;
	uint64_t end = now_ms() + timeout_ms;
	int p[2], st = 0, perr = 0, r;
	bool timed_out = false;
	pid_t pid;

	memset(ret, 0, sizeof(*ret));
	if (pipe2(p, O_CLOEXEC) < 0)
		return drover_plugin_error(err, errlen, errno, "plugin '%s': cannot probe it: %s",
					   path, strerror(errno));
	pid = fork();
	if (pid < 0) {
		r = errno;
		close(p[0]);
		close(p[1]);
		return drover_plugin_error(err, errlen, r, "plugin '%s': cannot probe it: %s", path,
					   strerror(r));
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(p[1], STDOUT_FILENO) < 0)
			_exit(127);
		/* Nothing of the agent's but stdio: not droverd's socket, not a watchdog. */
		if (close_range(3, ~0u, 0) < 0)
			for (int fd = 3; fd < 1024; fd++)
				close(fd);
		execl(self_exe, "drover-agent", "--probe-plugin", path, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		uint64_t now = now_ms();
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		ssize_t n;

		if (now >= end) {
			timed_out = true;
			break;
		}
		r = poll(&pfd, 1, (int)(end - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			timed_out = r == 0;
			break;
		}
		n = read(p[0], out + used, PROBE_OUT_MAX - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
		if (used == PROBE_OUT_MAX)
			break; /* more than any answer: parsed as it is, the rest dropped */
	}
	close(p[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (timed_out)
		return drover_plugin_error(err, errlen, ETIMEDOUT,
					   "plugin '%s': loading it took more than %u ms", path,
					   timeout_ms);
	out[used] = '\0';
	r = parse_answer(out, ret, &perr, msg, sizeof(msg));
	if (WIFEXITED(st) && WEXITSTATUS(st) == DROVER_EXIT_CONFIG && perr > 0) {
		plugin_facts_free(ret);
		return drover_plugin_error(err, errlen, perr, "%s", msg);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || r < 0) {
		plugin_facts_free(ret);
		if (WIFSIGNALED(st))
			return drover_plugin_error(err, errlen, EIO,
						   "plugin '%s': loading it killed the process "
						   "(signal %d, %s)",
						   path, WTERMSIG(st), strsignal(WTERMSIG(st)));
		return drover_plugin_error(err, errlen, EIO,
					   "plugin '%s': cannot check it (the check exited with "
					   "status %d)",
					   path, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	ret->path = xstrdup(path);
	return 0;
}
