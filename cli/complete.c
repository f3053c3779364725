/*
 * `drover complete WORD...`: the candidates for shell completion, computed by
 * the binary so that the shell script (cli/drover.bash-completion) never has
 * to know a command, an option or where names come from: a new command in
 * drover.c's table completes without a change here.
 *
 * The words before the last one are walked through the command tree: group
 * names descend, option words are skipped (with the value of an option that
 * takes one), and a leaf counts its positional arguments. What the last word
 * may be then follows from the leaf's args synopsis (commands.h): a
 * subcommand, an option, or a value whose placeholder says what it is: NODE a
 * node name, NAME a VM name, NET a network name, KEY a `config set` key,
 * "a|b|c" one of those words, FILE a file name (left to the shell).
 *
 * Names come from the local droverd, read with short deadlines: a shell that
 * waits for a hung daemon is worse than one that offers no names. The
 * connection and the requests have a deadline of their own, and an alarm ends
 * the process after COMPLETE_ALARM_S whatever libqb's connect does (its
 * handshake has no timeout). Nothing is written before the names are known,
 * so an alarm leaves no half list. Errors are silent: stderr would draw over
 * the user's command line.
 *
 * Rejected: a static completion script generated at build time (it cannot
 * know node or VM names), and asking droverd for every candidate (the tree
 * is the binary's own knowledge; droverd only knows names).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "ctl_client.h"
#include "util.h"

#define COMPLETE_REQUEST_MS 1000
#define COMPLETE_ALARM_S 2
#define COMPLETE_MAX_TOKENS 16
#define COMPLETE_TOKEN_MAX 64

/* An option as a leaf's synopsis or the common options give it. */
struct opt_spec {
	char name[COMPLETE_TOKEN_MAX];  /* "--wait" */
	char value[COMPLETE_TOKEN_MAX]; /* "SECONDS", "" for a flag */
	bool optional;                  /* "--wait[=SECONDS]": the value only after '=' */
};

struct leaf_spec {
	struct opt_spec opts[COMPLETE_MAX_TOKENS];
	size_t n_opts;
	char positional[COMPLETE_MAX_TOKENS][COMPLETE_TOKEN_MAX];
	size_t n_positional;
};

/* clang-format off */
static const struct opt_spec common_opts[] = {
	{ "--output", "text|json", false },
	{ "--timeout", "SECONDS", false },
	{ "--help", "", false },
	{ "--version", "", false },
};
/* clang-format on */

/* The config keys `config set` takes besides network.NAME.cap. */
static const char *const config_keys[] = {"max-out", "max-in", "max-total", "max-retries"};

static void strip_brackets(char *s)
{
	size_t n;

	while (*s == '[')
		memmove(s, s + 1, strlen(s));
	n = strlen(s);
	while (n > 0 && s[n - 1] == ']')
		s[--n] = '\0';
}

/* A leaf's synopsis, "NAME --to NODE [--network NET]", into its options and arguments. */
static void parse_synopsis(const char *args, struct leaf_spec *ret)
{
	char tok[COMPLETE_MAX_TOKENS * 2][COMPLETE_TOKEN_MAX];
	size_t n = 0;

	memset(ret, 0, sizeof(*ret));
	for (const char *s = args ? args : ""; *s && n < ARRAY_SIZE(tok);) {
		size_t len;

		while (*s == ' ')
			s++;
		len = strcspn(s, " ");
		if (len == 0)
			break;
		snprintf(tok[n++], COMPLETE_TOKEN_MAX, "%.*s", (int)len, s);
		s += len;
	}
	for (size_t i = 0; i < n; i++) {
		char *t = tok[i];
		bool closed = t[strlen(t) - 1] == ']';

		strip_brackets(t);
		if (strncmp(t, "--", 2) == 0 && ret->n_opts < ARRAY_SIZE(ret->opts)) {
			struct opt_spec *o = &ret->opts[ret->n_opts++];
			char *opt_value = strstr(t, "[=");

			if (opt_value) {
				*opt_value = '\0';
				o->optional = true;
				snprintf(o->value, sizeof(o->value), "%s", opt_value + 2);
				strip_brackets(o->value);
			} else if (!closed && i + 1 < n && tok[i + 1][0] != '-' &&
				   strncmp(tok[i + 1], "[-", 2) != 0) {
				/* "--to NODE": the next word is the value's placeholder. */
				snprintf(o->value, sizeof(o->value), "%s", tok[i + 1]);
				strip_brackets(o->value);
				i++;
			}
			snprintf(o->name, sizeof(o->name), "%s", t);
		} else if (t[0] != '-' && ret->n_positional < ARRAY_SIZE(ret->positional)) {
			snprintf(ret->positional[ret->n_positional++], COMPLETE_TOKEN_MAX, "%s", t);
		}
	}
}

/* The option named by word ("--to", "-o", "--to=n2"), or NULL. */
static const struct opt_spec *find_opt(const struct leaf_spec *leaf, const char *word)
{
	static const struct {
		const char *short_name;
		size_t common;
	} shorts[] = {{"-o", 0}, {"-t", 1}, {"-h", 2}, {"-V", 3}};
	size_t len = strcspn(word, "=");

	for (size_t i = 0; i < ARRAY_SIZE(shorts); i++)
		if (strcmp(word, shorts[i].short_name) == 0)
			return &common_opts[shorts[i].common];
	for (size_t i = 0; i < ARRAY_SIZE(common_opts); i++)
		if (strlen(common_opts[i].name) == len && strncmp(common_opts[i].name, word, len) == 0)
			return &common_opts[i];
	for (size_t i = 0; leaf && i < leaf->n_opts; i++)
		if (strlen(leaf->opts[i].name) == len && strncmp(leaf->opts[i].name, word, len) == 0)
			return &leaf->opts[i];
	return NULL;
}

static const struct command *find_visible(const struct command *table, const char *name)
{
	for (const struct command *c = table; c && c->name; c++)
		if (!c->hidden && strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* ---- names from droverd ---- */

static void on_alarm(int sig)
{
	(void)sig;
	_exit(0); /* no half list: nothing has been written yet */
}

static int ask(struct ctl_conn **conn, const Drover__CtlRequest *req, Drover__Envelope **ret)
{
	char err[256];

	if (!*conn && ctl_conn_open(conn, err, sizeof(err)) < 0)
		return -ENOTCONN;
	if (ctl_conn_call(*conn, req, COMPLETE_REQUEST_MS, ret, err, sizeof(err)) < 0)
		return -EIO;
	if ((*ret)->ctl_response->exit_code != 0)
		return -EIO;
	return 0;
}

struct names {
	struct ctl_conn *conn;
	Drover__Envelope *status, *vms;
	bool status_tried, vms_tried;
};

static const Drover__StatusReply *names_status(struct names *n)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__StatusRequest st = DROVER__STATUS_REQUEST__INIT;

	if (!n->status_tried) {
		n->status_tried = true;
		req.req_case = DROVER__CTL_REQUEST__REQ_STATUS;
		req.status = &st;
		if (ask(&n->conn, &req, &n->status) < 0) {
			frame_free(n->status);
			n->status = NULL;
		}
	}
	return n->status ? n->status->ctl_response->status : NULL;
}

static const Drover__VmListReply *names_vms(struct names *n)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__VmListRequest ls = DROVER__VM_LIST_REQUEST__INIT;

	if (!n->vms_tried) {
		n->vms_tried = true;
		req.req_case = DROVER__CTL_REQUEST__REQ_VM_LIST;
		req.vm_list = &ls;
		if (ask(&n->conn, &req, &n->vms) < 0) {
			frame_free(n->vms);
			n->vms = NULL;
		}
	}
	return n->vms ? n->vms->ctl_response->vm_list : NULL;
}

static void names_clear(struct names *n)
{
	frame_free(n->status);
	frame_free(n->vms);
	ctl_conn_close(n->conn);
}

/* ---- candidates ---- */

/* Print prefix + word when it completes cur. */
static void offer(const char *prefix, const char *word, const char *cur)
{
	char full[1024];

	if (!word || !*word)
		return;
	snprintf(full, sizeof(full), "%.64s%.900s", prefix, word);
	if (strncmp(full, cur, strlen(cur)) == 0)
		printf("%s\n", full);
}

/* The candidates for a value whose placeholder is kind. */
static void offer_values(struct names *names, const char *kind, const char *prefix,
			 const char *cur, const char *leaf_path)
{
	if (strcmp(kind, "FILE") == 0) {
		printf(":file\n");
		return;
	}
	if (strchr(kind, '|')) {
		char buf[COMPLETE_TOKEN_MAX], *save = NULL;

		snprintf(buf, sizeof(buf), "%s", kind);
		for (char *w = strtok_r(buf, "|", &save); w; w = strtok_r(NULL, "|", &save))
			offer(prefix, w, cur);
		return;
	}
	if (strcmp(kind, "NODE") == 0) {
		const Drover__StatusReply *st = names_status(names);

		for (size_t i = 0; st && i < st->n_nodes; i++)
			offer(prefix, st->nodes[i]->name, cur);
	} else if (strcmp(kind, "NET") == 0) {
		const Drover__StatusReply *st = names_status(names);

		for (size_t i = 0; st && i < st->n_networks; i++)
			offer(prefix, st->networks[i]->name, cur);
	} else if (strcmp(kind, "NAME") == 0 && strcmp(leaf_path, "vm add") != 0) {
		/* vm add names a VM that is not registered yet: nothing to offer. */
		const Drover__VmListReply *ls = names_vms(names);

		for (size_t i = 0; ls && i < ls->n_vms; i++)
			offer(prefix, ls->vms[i]->name, cur);
	} else if (strcmp(kind, "KEY") == 0) {
		const Drover__StatusReply *st;

		for (size_t i = 0; i < ARRAY_SIZE(config_keys); i++)
			offer(prefix, config_keys[i], cur);
		/* Ask droverd only once the word can no longer be one of the keys above. */
		if (strncmp(cur, "network.", strlen(cur) < 8 ? strlen(cur) : 8) != 0)
			return;
		st = names_status(names);
		for (size_t i = 0; st && i < st->n_networks; i++) {
			char key[128];

			snprintf(key, sizeof(key), "network.%s.cap", st->networks[i]->name);
			offer(prefix, key, cur);
		}
	}
}

static void offer_options(const struct leaf_spec *leaf, const char *cur)
{
	for (size_t i = 0; leaf && i < leaf->n_opts; i++)
		offer("", leaf->opts[i].name, cur);
	for (size_t i = 0; i < ARRAY_SIZE(common_opts); i++)
		offer("", common_opts[i].name, cur);
}

static void offer_table(const struct command *table, const char *cur)
{
	for (const struct command *c = table; c && c->name; c++)
		if (!c->hidden)
			offer("", c->name, cur);
}

int complete_run(const struct command *root, int nwords, char **words)
{
	const struct command *table = root, *leaf = NULL;
	const struct opt_spec *pending = NULL;
	struct leaf_spec spec;
	struct names names = {0};
	const char *cur = nwords > 0 ? words[nwords - 1] : "";
	size_t positional = 0;
	bool only_args = false;

	memset(&spec, 0, sizeof(spec));
	signal(SIGALRM, on_alarm);
	alarm(COMPLETE_ALARM_S);

	for (int i = 0; i < nwords - 1; i++) {
		const char *w = words[i];

		if (pending) {
			pending = NULL;
			continue;
		}
		if (!only_args && strcmp(w, "--") == 0) {
			only_args = true;
			continue;
		}
		if (!only_args && w[0] == '-' && w[1]) {
			const struct opt_spec *o = find_opt(leaf ? &spec : NULL, w);

			if (o && o->value[0] && !o->optional && !strchr(w, '='))
				pending = o;
			continue;
		}
		if (leaf) {
			positional++;
			continue;
		}
		leaf = find_visible(table, w);
		if (!leaf)
			return 0; /* not a command: nothing sensible to offer */
		if (leaf->sub) {
			table = leaf->sub;
			leaf = NULL;
			continue;
		}
		parse_synopsis(leaf->args, &spec);
		/* `help node dr`: the arguments of help are a command path. */
		if (strcmp(leaf->path, "help") == 0) {
			for (i++; i < nwords - 1; i++) {
				const struct command *c = find_visible(table, words[i]);

				if (!c || !c->sub)
					return 0;
				table = c->sub;
			}
			offer_table(table, cur);
			return 0;
		}
	}

	if (pending) {
		offer_values(&names, pending->value, "", cur, leaf ? leaf->path : "");
	} else if (!only_args && cur[0] == '-') {
		const struct opt_spec *o = strchr(cur, '=') ? find_opt(leaf ? &spec : NULL, cur) : NULL;

		if (o && o->value[0]) {
			char prefix[COMPLETE_TOKEN_MAX + 1];

			snprintf(prefix, sizeof(prefix), "%.*s=", (int)strcspn(cur, "="), cur);
			offer_values(&names, o->value, prefix, cur, leaf ? leaf->path : "");
		} else {
			offer_options(leaf ? &spec : NULL, cur);
		}
	} else if (!leaf) {
		offer_table(table, cur);
	} else if (positional < spec.n_positional) {
		offer_values(&names, spec.positional[positional], "", cur, leaf->path);
	}
	names_clear(&names);
	return 0;
}
