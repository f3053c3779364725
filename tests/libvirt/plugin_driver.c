/*
 * drover-plugin-driver: load a drover plugin and make one call, the way a
 * worker of drover-agent would, but from a shell: for testing a plugin
 * against a real hypervisor without droverd or the agent.
 *
 *   drover-plugin-driver PLUGIN.so CONFIG COMMAND [ARGS...]
 *
 *   inventory
 *   start NAME [XMLFILE]
 *   stop NAME TIMEOUT_MS
 *   migrate NAME DEST_URI MIGRATE_URI [BANDWIDTH_MIB_S] [--completion-timeout MS]
 *           [--no-progress-timeout MS] [--auto-converge] [--postcopy]
 *   abort NAME
 *   attach|detach NAME XMLFILE
 *   events SECONDS
 *
 * Output, one record per line on stdout, "word key=value ...", values
 * without spaces except the message that ends an error line:
 *   host memory_mib=N vcpus=N
 *   domain name=NAME state=running memory_mib=N vcpus=N
 *   progress t_ms=EPOCH_MS iteration=N elapsed_ms=N total=B processed=B remaining=B bps=B
 * dirty_rate=B events ready event t_ms=EPOCH_MS type=stopped vm=NAME detail=destroyed ok error
 * errno=ENOENT code=2 message=... The plugin's log lines go to stderr. Exit 0 on success, 1 if the
 * call failed, 2 on bad usage, 3 if the plugin cannot be loaded or init() failed.
 *
 * Like the agent, it dlopen()s with RTLD_NOW | RTLD_LOCAL and never
 * dlclose()s. It checks abi_version and size but not the name rules: the
 * agent's loader (agent/plugin_loader.c) is the reference for those.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "plugin.h"

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void host_log(const struct drover_plugin_host *host, int priority, const char *fmt, ...)
{
	static const char *const names[] = {"emerg",   "alert",  "crit", "err",
					    "warning", "notice", "info", "debug"};
	va_list ap;

	(void)host;
	pthread_mutex_lock(&out_lock);
	fprintf(stderr, "log %s: ", priority >= 0 && priority <= LOG_DEBUG ? names[priority] : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&out_lock);
}

static const char *event_name(int type)
{
	static const char *const names[] = {
	    "unknown",
	    "started",
	    "stopped",
	    "crashed",
	    "paused",
	    "resumed",
	    "migrated-away",
	    "defined",
	    "undefined",
	    "device-added",
	    "device-removed",
	    "connection-lost",
	    "connection-restored",
	};

	return type >= 0 && (size_t)type < sizeof(names) / sizeof(names[0]) ? names[type]
									    : "unknown";
}

static void host_event(const struct drover_plugin_host *host, const struct drover_vm_event *ev)
{
	(void)host;
	pthread_mutex_lock(&out_lock);
	printf("event t_ms=%" PRIu64 " type=%s vm=%s detail=%s\n", epoch_ms(), event_name(ev->type),
	       ev->vm && *ev->vm ? ev->vm : "-", ev->detail ? ev->detail : "-");
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static const char *state_name(int state)
{
	static const char *const names[] = {"unknown", "running", "paused",   "shutting-down",
					    "stopped", "crashed", "suspended"};

	return state >= 0 && (size_t)state < sizeof(names) / sizeof(names[0]) ? names[state]
									      : "unknown";
}

static int add_domain(struct drover_inventory *inv, const struct drover_domain *d)
{
	(void)inv;
	printf("domain name=%s state=%s memory_mib=%" PRIu64 " vcpus=%" PRIu32 "\n", d->name,
	       state_name(d->state), d->memory_mib, d->vcpus);
	return 0;
}

static void progress(void *opaque, const struct drover_migrate_progress *p)
{
	(void)opaque;
	pthread_mutex_lock(&out_lock);
	printf("progress t_ms=%" PRIu64 " iteration=%" PRIu32 " elapsed_ms=%" PRIu64
	       " total=%" PRIu64 " processed=%" PRIu64 " remaining=%" PRIu64 " bps=%" PRIu64
	       " dirty_rate=%" PRIu64 "\n",
	       epoch_ms(), p->iteration, p->elapsed_ms, p->memory_total, p->memory_processed,
	       p->memory_remaining, p->bytes_per_s, p->dirty_rate);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

/*
 * Exit 0 on success, 1 on failure; with DROVER_DRIVER_EXPECT_ERROR=TEXT set,
 * the other way round: 0 only when the call failed with TEXT in its reason,
 * so a test that expects a refusal cannot pass on any other failure.
 */
static int result(int r, const char *err)
{
	const char *expect = getenv("DROVER_DRIVER_EXPECT_ERROR");

	if (r >= 0) {
		printf("ok\n");
		return expect ? 1 : 0;
	}
	printf("error errno=%s code=%d message=%s\n",
	       strerrorname_np(-r) ? strerrorname_np(-r) : "?", -r, err[0] ? err : strerror(-r));
	if (expect)
		return strstr(err, expect) ? 0 : 1;
	return 1;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		fprintf(stderr, "drover-plugin-driver: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap + 1);
			if (!buf)
				abort();
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* A member the plugin lacks is -EOPNOTSUPP, as the agent answers it. */
#define CALL(p, m, ...) (DROVER_PLUGIN_HAS(p, m) ? (p)->m(__VA_ARGS__) : -EOPNOTSUPP)

static int usage(void)
{
	fprintf(stderr,
		"usage: drover-plugin-driver PLUGIN.so CONFIG COMMAND [ARGS]\n"
		"  inventory | start NAME [XMLFILE] | stop NAME TIMEOUT_MS | abort NAME\n"
		"  migrate NAME DEST_URI MIGRATE_URI [BANDWIDTH_MIB_S] [--completion-timeout MS]\n"
		"          [--no-progress-timeout MS] [--auto-converge] [--postcopy]\n"
		"  attach NAME XMLFILE | detach NAME XMLFILE [TIMEOUT_MS] | events SECONDS\n"
		"  (detach with TIMEOUT_MS calls device_detach_wait(), without it device_detach())\n");
	return 2;
}

static int parse_u32(const char *s, uint32_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > UINT32_MAX)
		return -1;
	*ret = (uint32_t)v;
	return 0;
}

static int run_events(const struct drover_plugin *p, void *ctx, uint32_t seconds)
{
	uint64_t end = mono_ms() + (uint64_t)seconds * 1000;
	int fd;

	if (!DROVER_PLUGIN_HAS(p, events_fd) || !DROVER_PLUGIN_HAS(p, events_dispatch))
		return result(-EOPNOTSUPP, "the plugin has no events");
	fd = p->events_fd(ctx);
	if (fd < 0)
		return result(fd, "events_fd() failed");
	printf("events ready\n");
	fflush(stdout);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = mono_ms();
		int r;

		if (now >= end)
			break;
		r = poll(&pfd, 1, (int)(end - now));
		if (r < 0 && errno != EINTR)
			return result(-errno, "poll");
		if (r <= 0)
			continue;
		r = p->events_dispatch(ctx);
		if (r < 0)
			return result(r, "events_dispatch() failed");
		if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
			return result(-EIO, "the events fd broke");
	}
	return result(0, "");
}

int main(int argc, char **argv)
{
	struct drover_plugin_host host = {
	    .abi_version = DROVER_PLUGIN_ABI_VERSION,
	    .size = sizeof(host),
	    .log = host_log,
	    .event = host_event,
	};
	const struct drover_plugin *p;
	const char *cmd;
	char err[1024] = "";
	void *handle, *ctx = NULL;
	int r, rc = 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4)
		return usage();
	handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		fprintf(stderr, "drover-plugin-driver: cannot load '%s': %s\n", argv[1], dlerror());
		return 3;
	}
	p = dlsym(handle, DROVER_PLUGIN_SYMBOL_NAME);
	if (!p || p->abi_version != DROVER_PLUGIN_ABI_VERSION || p->size < DROVER_PLUGIN_SIZE_V1 ||
	    !p->init || !p->fini) {
		fprintf(stderr, "drover-plugin-driver: '%s' is not a version %u drover plugin\n",
			argv[1], DROVER_PLUGIN_ABI_VERSION);
		return 3;
	}
	r = p->init(&host, argv[2], &ctx, err, sizeof(err));
	if (r < 0) {
		result(r, err);
		return 3;
	}

	cmd = argv[3];
	argc -= 4;
	argv += 4;
	if (strcmp(cmd, "inventory") == 0 && argc == 0) {
		struct drover_inventory inv = {.size = sizeof(inv), .add_domain = add_domain};

		if (!DROVER_PLUGIN_HAS(p, inventory)) {
			rc = result(-EOPNOTSUPP, "no inventory");
		} else {
			r = p->inventory(ctx, &inv, err, sizeof(err));
			if (r >= 0)
				printf("host memory_mib=%" PRIu64 " vcpus=%" PRIu32 "\n",
				       inv.memory_mib, inv.vcpus);
			rc = result(r, err);
		}
	} else if (strcmp(cmd, "start") == 0 && (argc == 1 || argc == 2)) {
		char *xml = argc == 2 ? read_file(argv[1]) : NULL;

		if (argc == 2 && !xml)
			rc = 2;
		else
			rc = result(
			    CALL(p, vm_start, ctx, argv[0], xml ? xml : "", err, sizeof(err)), err);
		free(xml);
	} else if (strcmp(cmd, "stop") == 0 && argc == 2) {
		uint32_t t;

		if (parse_u32(argv[1], &t) < 0)
			rc = usage();
		else
			rc = result(CALL(p, vm_stop, ctx, argv[0], t, err, sizeof(err)), err);
	} else if (strcmp(cmd, "migrate") == 0 && argc >= 3) {
		struct drover_migrate_req req = {
		    .size = sizeof(req),
		    .vm = argv[0],
		    .dest_uri = argv[1],
		    .migrate_uri = argv[2],
		};
		uint32_t v = 0;
		int i = 3;

		rc = 0;
		if (i < argc && argv[i][0] != '-') {
			if (parse_u32(argv[i], &v) < 0)
				rc = 2;
			req.bandwidth_mib_s = v;
			i++;
		}
		for (; i < argc && rc == 0; i++) {
			if (strcmp(argv[i], "--auto-converge") == 0)
				req.flags |= DROVER_MIGRATE_AUTO_CONVERGE;
			else if (strcmp(argv[i], "--postcopy") == 0)
				req.flags |= DROVER_MIGRATE_POSTCOPY;
			else if (strcmp(argv[i], "--completion-timeout") == 0 && i + 1 < argc &&
				 parse_u32(argv[i + 1], &req.completion_timeout_ms) == 0)
				i++;
			else if (strcmp(argv[i], "--no-progress-timeout") == 0 && i + 1 < argc &&
				 parse_u32(argv[i + 1], &req.no_progress_timeout_ms) == 0)
				i++;
			else
				rc = 2;
		}
		if (rc == 2)
			usage();
		else
			rc = result(
			    CALL(p, vm_migrate, ctx, &req, progress, NULL, err, sizeof(err)), err);
	} else if (strcmp(cmd, "abort") == 0 && argc == 1) {
		rc = result(CALL(p, vm_abort_migration, ctx, argv[0], err, sizeof(err)), err);
	} else if ((strcmp(cmd, "attach") == 0 && argc == 2) ||
		   (strcmp(cmd, "detach") == 0 && (argc == 2 || argc == 3))) {
		char *xml = read_file(argv[1]);
		struct drover_device_req req = {.size = sizeof(req), .vm = argv[0]};

		if (!xml)
			rc = 2;
		else if (argc == 3 && parse_u32(argv[2], &req.timeout_ms) < 0)
			rc = usage();
		else if (argc == 3) {
			req.device_xml = xml;
			rc = result(CALL(p, device_detach_wait, ctx, &req, err, sizeof(err)), err);
		}
		else if (cmd[0] == 'a')
			rc = result(CALL(p, device_attach, ctx, argv[0], xml, err, sizeof(err)),
				    err);
		else
			rc = result(CALL(p, device_detach, ctx, argv[0], xml, err, sizeof(err)),
				    err);
		free(xml);
	} else if (strcmp(cmd, "events") == 0 && argc == 1) {
		uint32_t s;

		if (parse_u32(argv[0], &s) < 0)
			rc = usage();
		else
			rc = run_events(p, ctx, s);
	} else {
		rc = usage();
	}
	p->fini(ctx);
	return rc;
}
