/*
 * droverd's configuration file (see config.h): a table of keys, each with a
 * default, a section and a validator, read with libinih.
 *
 * A configuration is built in a local copy that starts from the defaults and
 * is handed to the caller only when the whole file was read without an error,
 * so a failed SIGHUP reload cannot half-apply a file. Only the first error is
 * reported, with the file and line, as an operator fixing a typo wants it.
 *
 * libinih reads through our own line reader (ini_parse_stream) instead of
 * ini_parse_file, because the reader is where we can see what inih cannot tell
 * us on Debian 12 (libinih 55 is built without INI_HANDLER_LINENO):
 *  - the line number: inih calls the handler for a line right after our reader
 *    returned it, so our count is the line of the key being handled;
 *  - section headers: inih calls the handler only for keys, so an unknown
 *    section with no keys in it would otherwise pass unnoticed;
 *  - leading whitespace, which we strip: inih would take an indented line as
 *    a continuation of the previous value (multi-line values), which is never
 *    what an indented "key = value" in drover.conf means;
 *  - lines longer than inih's line buffer (about 200 bytes), which inih would
 *    silently split into two lines; we reject them instead.
 * Debian's patched libinih also exports runtime switches (ini_allow_multiline,
 * ini_max_line); we do not use them: they are process-global and exist only in
 * Debian's build, and the reader does the same portably.
 *
 * A key given twice is an error, even in two [daemon] sections: with no
 * include files or drop-ins, a second value is a mistake, and "last one wins"
 * would hide which one the operator meant. Keys and section names are
 * case-sensitive.
 *
 * Values are checked for what this file can know (ranges, characters, an
 * absolute path), not for what only the running system can tell (whether the
 * group exists, whether state_dir can be created): the daemon checks those
 * when it uses them, and `droverd --check-config` works on any machine.
 * Everything config_print() writes reads back to the same configuration.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include <ini.h>

#include "log.h"
#include "util.h"

#ifndef DROVER_STATE_DIR_DEFAULT
#define DROVER_STATE_DIR_DEFAULT "/var/lib/drover"
#endif

#define LINK_POLL_MIN 100u
#define LINK_POLL_MAX 60000u
#define REQUEST_TIMEOUT_MIN 100u
#define REQUEST_TIMEOUT_MAX 600000u
#define CPG_GROUP_MAX 127u /* CPG_MAX_NAME_LENGTH (128) less the NUL */

struct key;
typedef int (*key_set_fn)(struct drover_config *c, const struct key *k, const char *value);

struct key {
	const char *section;
	const char *name;
	key_set_fn set;
	const char *expected; /* ends "bad value 'x' for NAME: expected ..."; NULL: integer */
	uint32_t min, max;    /* integers only */
	size_t offset;        /* integers only: a uint32_t in struct drover_config */
};

static int set_state_dir(struct drover_config *c, const struct key *k, const char *value);
static int set_log_level(struct drover_config *c, const struct key *k, const char *value);
static int set_ipc_group(struct drover_config *c, const struct key *k, const char *value);
static int set_u32(struct drover_config *c, const struct key *k, const char *value);
static int set_cpg_group(struct drover_config *c, const struct key *k, const char *value);
static int set_bool(struct drover_config *c, const struct key *k, const char *value);
static int set_text(struct drover_config *c, const struct key *k, const char *value);

static const char *const sections[] = {"daemon", "agent", "cluster"};

static const struct key keys[] = {
	{
		.section = "daemon",
		.name = "state_dir",
		.set = set_state_dir,
		.expected = "an absolute path",
	},
	{
		.section = "daemon",
		.name = "log_level",
		.set = set_log_level,
		.expected = "one of err, warning, notice, info, debug",
	},
	{
		.section = "daemon",
		.name = "ipc_group",
		.set = set_ipc_group,
		.expected = "a group name: 1..63 letters, digits, '.', '_' or '-', not starting "
			    "with '-'",
	},
	{
		.section = "daemon",
		.name = "link_poll_interval_ms",
		.set = set_u32,
		.min = LINK_POLL_MIN,
		.max = LINK_POLL_MAX,
		.offset = offsetof(struct drover_config, link_poll_ms),
	},
	{
		.section = "daemon",
		.name = "request_timeout_ms",
		.set = set_u32,
		.min = REQUEST_TIMEOUT_MIN,
		.max = REQUEST_TIMEOUT_MAX,
		.offset = offsetof(struct drover_config, request_timeout_ms),
	},
	{
		.section = "agent",
		.name = "enabled",
		.set = set_bool,
		.expected = "yes or no",
		.offset = offsetof(struct drover_config, agent_enabled),
	},
	{
		.section = "agent",
		.name = "path",
		.set = set_text,
		.expected = "an absolute path",
		.min = 1, /* must be absolute */
		.max = PATH_MAX,
		.offset = offsetof(struct drover_config, agent_path),
	},
	{
		.section = "agent",
		.name = "plugin",
		.set = set_text,
		.expected = "a plugin name or an absolute path, at most 255 characters",
		.max = 256,
		.offset = offsetof(struct drover_config, agent_plugin),
	},
	{
		.section = "agent",
		.name = "plugin_config",
		.set = set_text,
		.expected = "at most 255 printable characters",
		.max = 256,
		.offset = offsetof(struct drover_config, agent_plugin_config),
	},
	{
		.section = "agent",
		.name = "inventory_interval_ms",
		.set = set_u32,
		.min = 1000,
		.max = 3600000,
		.offset = offsetof(struct drover_config, inventory_ms),
	},
	{
		.section = "agent",
		.name = "start_deadline_ms",
		.set = set_u32,
		.min = 1000,
		.max = 3600000,
		.offset = offsetof(struct drover_config, start_deadline_ms),
	},
	{
		.section = "agent",
		.name = "dest_uri",
		.set = set_text,
		.expected = "a libvirt URI template, %n the target node's name",
		.max = 256,
		.offset = offsetof(struct drover_config, agent_dest_uri),
	},
	{
		.section = "agent",
		.name = "migrate_uri",
		.set = set_text,
		.expected = "a migration URI template, %n the target node, %N the network",
		.max = 256,
		.offset = offsetof(struct drover_config, agent_migrate_uri),
	},
	{
		.section = "cluster",
		.name = "cpg_group",
		.set = set_cpg_group,
		.expected = "1..127 printable characters without spaces",
	},
};

struct parser {
	FILE *f;
	struct drover_config c;
	unsigned lineno;                     /* lines handed to inih so far */
	unsigned err_line;                   /* line of the first error; 0: none yet */
	char err[512];                       /* that error, without "FILE:LINE: " */
	unsigned set_line[ARRAY_SIZE(keys)]; /* where each key was set; 0: not set */
	char *buf;                           /* getline() buffer */
	size_t bufsz;
	int read_errno;
};

void config_defaults(struct drover_config *c)
{
	memset(c, 0, sizeof(*c));
	strscpy(c->state_dir, DROVER_STATE_DIR_DEFAULT, sizeof(c->state_dir));
	c->log_priority = LOG_INFO;
	strscpy(c->ipc_group, "drover", sizeof(c->ipc_group));
	c->link_poll_ms = 1000;
	c->request_timeout_ms = 10000;
	strscpy(c->cpg_group, "drover", sizeof(c->cpg_group));
	c->agent_enabled = true;
	strscpy(c->agent_path, DROVER_AGENT_DEFAULT, sizeof(c->agent_path));
	strscpy(c->agent_plugin, "libvirt", sizeof(c->agent_plugin));
	strscpy(c->agent_plugin_config, "uri=qemu:///system", sizeof(c->agent_plugin_config));
	c->inventory_ms = 10000;
	c->start_deadline_ms = 120000;
	strscpy(c->agent_dest_uri, "qemu+tcp://%n/system", sizeof(c->agent_dest_uri));
	strscpy(c->agent_migrate_uri, "tcp://%n-%N", sizeof(c->agent_migrate_uri));
}

static int set_bool(struct drover_config *c, const struct key *k, const char *value)
{
	bool *b = (bool *)((char *)c + k->offset);

	if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
		*b = true;
	else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
		 strcmp(value, "0") == 0)
		*b = false;
	else
		return -EINVAL;
	return 0;
}

/* A printable string into a char[k->max] at k->offset; k->min 1: absolute path. */
static int set_text(struct drover_config *c, const struct key *k, const char *value)
{
	size_t n = strlen(value);

	if (n == 0 || n >= k->max || (k->min && value[0] != '/'))
		return -EINVAL;
	for (const char *s = value; *s; s++)
		if (!isprint((unsigned char)*s))
			return -EINVAL;
	memcpy((char *)c + k->offset, value, n + 1);
	return 0;
}

static int set_state_dir(struct drover_config *c, const struct key *k, const char *value)
{
	(void)k;
	if (value[0] != '/')
		return -EINVAL;
	for (const char *s = value; *s; s++)
		if (iscntrl((unsigned char)*s))
			return -EINVAL;
	return strscpy(c->state_dir, value, sizeof(c->state_dir)) < 0 ? -EINVAL : 0;
}

static int set_log_level(struct drover_config *c, const struct key *k, const char *value)
{
	int prio = log_priority_from_name(value);

	(void)k;
	if (prio < 0)
		return -EINVAL;
	c->log_priority = prio;
	return 0;
}

static int set_ipc_group(struct drover_config *c, const struct key *k, const char *value)
{
	(void)k;
	if (value[0] == '\0' || value[0] == '-')
		return -EINVAL;
	for (const char *s = value; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
			return -EINVAL;
	return strscpy(c->ipc_group, value, sizeof(c->ipc_group)) < 0 ? -EINVAL : 0;
}

static int set_u32(struct drover_config *c, const struct key *k, const char *value)
{
	uint64_t v;
	int r = parse_u64(value, k->min, k->max, &v);

	if (r < 0)
		return r;
	*(uint32_t *)((char *)c + k->offset) = (uint32_t)v;
	return 0;
}

static int set_cpg_group(struct drover_config *c, const struct key *k, const char *value)
{
	size_t n = strlen(value);

	(void)k;
	if (n == 0 || n > CPG_GROUP_MAX || n >= sizeof(c->cpg_group))
		return -EINVAL;
	for (const char *s = value; *s; s++)
		if (!isgraph((unsigned char)*s))
			return -EINVAL;
	memcpy(c->cpg_group, value, n + 1);
	return 0;
}

/* Record an error at line unless an earlier one is already recorded. */
__attribute__((format(printf, 3, 4))) static void fail(struct parser *p, unsigned line,
						       const char *fmt, ...)
{
	va_list ap;

	if (p->err_line)
		return;
	p->err_line = line;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
}

static bool section_known(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
		if (strlen(sections[i]) == len && memcmp(sections[i], name, len) == 0)
			return true;
	return false;
}

/* An fgets()-style reader for ini_parse_stream(); see the comment at the top. */
static char *read_line(char *str, int num, void *stream)
{
	struct parser *p = stream;
	ssize_t n;
	size_t skip, len;
	const char *line;

	errno = 0;
	n = getline(&p->buf, &p->bufsz, p->f);
	if (n < 0) {
		if (ferror(p->f))
			p->read_errno = errno ? errno : EIO;
		return NULL;
	}
	p->lineno++;
	line = p->buf;
	len = (size_t)n;
	skip = 0;
	/* Drop a UTF-8 byte order mark here, so the header check below sees '['. */
	if (p->lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
		skip = 3;
	while (skip < len && line[skip] != '\n' && isspace((unsigned char)line[skip]))
		skip++;
	line += skip;
	len -= skip;
	if (memchr(line, '\0', len)) {
		fail(p, p->lineno, "syntax error (NUL byte)");
		line = "\n";
		len = 1;
	} else if (num < 2 || len > (size_t)num - 1) {
		fail(p, p->lineno, "line too long (more than %d bytes)", num > 2 ? num - 2 : 0);
		line = "\n";
		len = 1;
	}
	memcpy(str, line, len);
	str[len] = '\0';

	/* inih takes a line starting with '[' as a section header. */
	if (str[0] == '[') {
		const char *end = strchr(str + 1, ']');

		if (end && !section_known(str + 1, (size_t)(end - str - 1)))
			fail(p, p->lineno, "unknown section [%.*s]", (int)(end - str - 1), str + 1);
	}
	return str;
}

static int handle_key(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	const struct key *k = NULL;
	size_t i;

	if (p->err_line)
		return 0;
	if (section[0] == '\0') {
		fail(p, p->lineno, "key '%s' is not in a section", name);
		return 0;
	}
	if (!section_known(section, strlen(section))) {
		/* The reader reported the header already; this is a safety net. */
		fail(p, p->lineno, "unknown section [%s]", section);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0) {
			k = &keys[i];
			break;
		}
	}
	if (!k) {
		fail(p, p->lineno, "unknown key '%s' in [%s]", name, section);
		return 0;
	}
	if (p->set_line[i]) {
		fail(p, p->lineno, "duplicate key '%s' in [%s] (first set on line %u)", name,
		     section, p->set_line[i]);
		return 0;
	}
	p->set_line[i] = p->lineno;
	if (k->set(&p->c, k, value) < 0) {
		if (k->expected)
			fail(p, p->lineno, "bad value '%s' for %s: expected %s", value, name,
			     k->expected);
		else
			fail(p, p->lineno, "bad value '%s' for %s: expected an integer %u..%u",
			     value, name, k->min, k->max);
		return 0;
	}
	return 1;
}

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
							  ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int config_load(const char *path, int must_exist, struct drover_config *ret, char *err,
		size_t errlen)
{
	struct parser p;
	struct stat st;
	int r;

	set_err(err, errlen, "%s", "");
	memset(&p, 0, sizeof(p));
	config_defaults(&p.c);
	p.f = fopen(path, "re");
	if (!p.f) {
		r = -errno;
		if (r == -ENOENT && !must_exist) {
			*ret = p.c;
			return 0;
		}
		set_err(err, errlen, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fileno(p.f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(p.f);
		set_err(err, errlen, "%s: cannot read: %s", path, strerror(EISDIR));
		return -EISDIR;
	}
	r = ini_parse_stream(read_line, &p, handle_key, &p);
	fclose(p.f);
	free(p.buf);
	if (p.read_errno) {
		set_err(err, errlen, "%s: cannot read: %s", path, strerror(p.read_errno));
		return -p.read_errno;
	}
	if (r < 0) {
		/* -1 cannot happen (we opened the file), -2 is an allocation failure. */
		set_err(err, errlen, "%s: cannot parse (libinih error %d)", path, r);
		return -ENOMEM;
	}
	/* inih returns the first line it (or our handler) rejected. */
	if (r > 0 && (p.err_line == 0 || (unsigned)r < p.err_line)) {
		set_err(err, errlen, "%s:%d: syntax error", path, r);
		return -EINVAL;
	}
	if (p.err_line) {
		set_err(err, errlen, "%s:%u: %s", path, p.err_line, p.err);
		return -EINVAL;
	}
	*ret = p.c;
	return 0;
}

void config_print(FILE *f, const struct drover_config *c)
{
	fprintf(f,
		"# drover.conf: the effective configuration, every key.\n"
		"\n"
		"[daemon]\n"
		"state_dir = %s\n"
		"log_level = %s\n"
		"ipc_group = %s\n"
		"link_poll_interval_ms = %u\n"
		"request_timeout_ms = %u\n"
		"\n"
		"[agent]\n"
		"enabled = %s\n"
		"path = %s\n"
		"plugin = %s\n"
		"plugin_config = %s\n"
		"inventory_interval_ms = %u\n"
		"start_deadline_ms = %u\n"
		"dest_uri = %s\n"
		"migrate_uri = %s\n"
		"\n"
		"[cluster]\n"
		"cpg_group = %s\n",
		c->state_dir, log_priority_name(c->log_priority), c->ipc_group,
		(unsigned)c->link_poll_ms, (unsigned)c->request_timeout_ms,
		c->agent_enabled ? "yes" : "no", c->agent_path, c->agent_plugin,
		c->agent_plugin_config, (unsigned)c->inventory_ms, (unsigned)c->start_deadline_ms,
		c->agent_dest_uri,
		c->agent_migrate_uri, c->cpg_group);
}
