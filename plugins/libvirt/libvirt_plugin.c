/*
 * The libvirt plugin's one exported symbol, init()/fini() and the parsing of
 * its configuration string.
 *
 * The config string is "key=value" pairs separated by ';':
 *   uri=qemu:///system;keepalive_interval=5;keepalive_count=3
 * with runtime_dir=/run/drover/libvirt (an absolute path; the default shown)
 * as a further key: where vm_abort_migration() leaves a marker for the
 * worker whose migration it stops (see libvirt_migrate.c).
 * or, as a shorthand, a bare libvirt URI ("qemu+tcp://10.0.0.2/system"),
 * taken whole, so a URI with '=' in its query (?socket=/path) needs no
 * quoting. Unknown keys are an error rather than ignored: a typo in
 * "keepalive_intervall" should not silently leave keepalive at its default.
 *
 * init() connects, so a hypervisor that is down fails the worker's init with
 * a clear message (the agent retries init for the next job; no retry loop
 * here). Each worker process has its own connection and its own libvirt
 * event loop thread (keepalive needs one; see libvirt_conn.c).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "libvirt_plugin.h"

void lv_log(const struct lv_ctx *ctx, int priority, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!ctx || !ctx->host || !DROVER_HOST_HAS(ctx->host, log))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ctx->host->log(ctx->host, priority, "%s", buf);
}

/* ---- configuration ---- */

static const char *const config_keys[] = {"uri", "keepalive_interval", "keepalive_count",
					  "runtime_dir"};

static bool starts_with_key(const char *s)
{
	for (size_t i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++) {
		size_t n = strlen(config_keys[i]);

		if (strncmp(s, config_keys[i], n) == 0 && s[n] == '=')
			return true;
	}
	return false;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int parse_int(const char *key, const char *value, long min, long max, long *ret, char *err,
		     size_t errlen)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno || end == value || *end || v < min || v > max)
		return drover_plugin_error(
		    err, errlen, EINVAL,
		    "libvirt plugin config: %s='%s' is not a number in %ld..%ld", key, value, min,
		    max);
	*ret = v;
	return 0;
}

int lv_config_parse(const char *config, struct lv_config *ret_cfg, char *err, size_t errlen)
{
	struct lv_config cfg = {
	    .keepalive_interval = LV_DEFAULT_KEEPALIVE_INTERVAL,
	    .keepalive_count = LV_DEFAULT_KEEPALIVE_COUNT,
	};
	char *copy, *item, *save = NULL;
	const char *c = config ? config : "";
	int r = 0;

	while (isspace((unsigned char)*c))
		c++;
	if (*c && !starts_with_key(c)) {
		/* A bare URI. */
		copy = strdup(c);
		if (!copy)
			return -ENOMEM;
		cfg.uri = strdup(trim(copy));
		free(copy);
		cfg.runtime_dir = strdup(LV_DEFAULT_RUNTIME_DIR);
		if (!cfg.uri || !cfg.runtime_dir) {
			lv_config_free(&cfg);
			return -ENOMEM;
		}
		*ret_cfg = cfg;
		return 0;
	}

	copy = strdup(c);
	if (!copy)
		return -ENOMEM;
	for (item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
		char *eq, *key, *value;
		long v = 0;

		item = trim(item);
		if (!*item)
			continue;
		eq = strchr(item, '=');
		if (!eq) {
			r = drover_plugin_error(err, errlen, EINVAL,
						"libvirt plugin config: '%s' is not key=value",
						item);
			break;
		}
		*eq = '\0';
		key = trim(item);
		value = trim(eq + 1);
		if (strcmp(key, "uri") == 0) {
			if (!*value) {
				r = drover_plugin_error(err, errlen, EINVAL,
							"libvirt plugin config: empty uri");
				break;
			}
			free(cfg.uri);
			cfg.uri = strdup(value);
			if (!cfg.uri) {
				r = -ENOMEM;
				break;
			}
		} else if (strcmp(key, "keepalive_interval") == 0) {
			r = parse_int(key, value, 0, 3600, &v, err, errlen);
			if (r < 0)
				break;
			cfg.keepalive_interval = (int)v;
		} else if (strcmp(key, "keepalive_count") == 0) {
			r = parse_int(key, value, 1, 1000, &v, err, errlen);
			if (r < 0)
				break;
			cfg.keepalive_count = (unsigned)v;
		} else if (strcmp(key, "runtime_dir") == 0) {
			if (value[0] != '/') {
				r = drover_plugin_error(
				    err, errlen, EINVAL,
				    "libvirt plugin config: runtime_dir='%s' is "
				    "not an absolute path",
				    value);
				break;
			}
			free(cfg.runtime_dir);
			cfg.runtime_dir = strdup(value);
			if (!cfg.runtime_dir) {
				r = -ENOMEM;
				break;
			}
		} else {
			r = drover_plugin_error(
			    err, errlen, EINVAL,
			    "libvirt plugin config: unknown key '%s' (known: uri, "
			    "keepalive_interval, keepalive_count, runtime_dir)",
			    key);
			break;
		}
	}
	free(copy);
	if (r < 0) {
		lv_config_free(&cfg);
		return r;
	}
	if (!cfg.uri)
		cfg.uri = strdup(LV_DEFAULT_URI);
	if (!cfg.runtime_dir)
		cfg.runtime_dir = strdup(LV_DEFAULT_RUNTIME_DIR);
	if (!cfg.uri || !cfg.runtime_dir) {
		lv_config_free(&cfg);
		return -ENOMEM;
	}
	*ret_cfg = cfg;
	return 0;
}

void lv_config_free(struct lv_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->uri);
	free(cfg->runtime_dir);
	cfg->uri = NULL;
	cfg->runtime_dir = NULL;
}

/* ---- init / fini ---- */

static void lv_fini(void *opaque)
{
	struct lv_ctx *ctx = opaque;

	if (!ctx)
		return;
	lv_events_fini(ctx);
	lv_conn_close(ctx);
	lv_loop_stop();
	pthread_mutex_destroy(&ctx->ev_lock);
	lv_config_free(&ctx->cfg);
	free(ctx->ga_cache);
	free(ctx);
}

static int lv_init(const struct drover_plugin_host *host, const char *config, void **ret_ctx,
		   char *err, size_t errlen)
{
	struct lv_ctx *ctx;
	int r;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return drover_plugin_error(err, errlen, ENOMEM, "out of memory");
	ctx->host = host;
	ctx->ev_pipe[0] = ctx->ev_pipe[1] = -1;
	ctx->cb_lifecycle = ctx->cb_device_added = ctx->cb_device_removed = -1;
	atomic_init(&ctx->conn_lost, false);
	atomic_init(&ctx->conn_lost_reason, 0);
	pthread_mutex_init(&ctx->ev_lock, NULL);

	r = lv_config_parse(config, &ctx->cfg, err, errlen);
	if (r < 0) {
		pthread_mutex_destroy(&ctx->ev_lock);
		free(ctx);
		return r;
	}
	r = lv_loop_start(ctx, err, errlen);
	if (r < 0) {
		lv_config_free(&ctx->cfg);
		pthread_mutex_destroy(&ctx->ev_lock);
		free(ctx);
		return r;
	}
	r = lv_conn_open(ctx, err, errlen);
	if (r < 0) {
		lv_fini(ctx);
		return r;
	}
	lv_log(ctx, LOG_DEBUG, "connected to '%s' (keepalive %d s x %u)", ctx->cfg.uri,
	       ctx->cfg.keepalive_interval, ctx->cfg.keepalive_count);
	*ret_ctx = ctx;
	return 0;
}

DROVER_PLUGIN_EXPORT const struct drover_plugin DROVER_PLUGIN_SYMBOL = {
    .abi_version = DROVER_PLUGIN_ABI_VERSION,
    .size = sizeof(struct drover_plugin),
    .name = LV_PLUGIN_NAME,
    .description = "KVM/QEMU hosts through libvirt: inventory, start/stop, live migration, "
		   "device hot-plug, domain events",
    .init = lv_init,
    .fini = lv_fini,
    .inventory = lv_inventory,
    .vm_start = lv_vm_start,
    .vm_stop = lv_vm_stop,
    .vm_migrate = lv_vm_migrate,
    .vm_abort_migration = lv_vm_abort_migration,
    .device_attach = lv_device_attach,
    .device_detach = lv_device_detach,
    .events_fd = lv_events_fd,
    .events_dispatch = lv_events_dispatch,
    .migrate_flags = DROVER_MIGRATE_TLS,
    .device_detach_wait = lv_device_detach_wait,
};
