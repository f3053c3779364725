/*
 * drover, the operator's command line: parses a command, sends one request to
 * the local droverd (ctl_client.c) and renders the answer (output.c).
 *
 * Commands live in one table, a tree: a group such as "node" holds its own
 * table of subcommands, and usage text is generated from the tables, so a new
 * command is one row and one function. Each level parses the common options
 * (--output, --timeout, --help) with getopt_long: the levels above a leaf stop
 * at the first word ("+"), the leaf permutes, so the options work before the
 * command, between its words and after its arguments.
 *
 * Exit codes are Pacemaker's crm_exit_t numbers (common/exitcode.h). The
 * daemon decides the outcome of a request and sends its code; the CLI passes
 * it through unchanged and adds its own only for what the daemon cannot know:
 * usage (64), no daemon (102), refused connection (4), timeout (124) and a
 * broken answer (70). Command functions return an exit code, not -errno: it is
 * the one value the process produces. Everything below them returns -errno.
 *
 * Diagnostics go to stderr, always as one line starting with "drover: ";
 * stdout carries only the answer, so `drover status --output json | jq` never
 * sees an error text.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <qb/qblog.h>

#include "commands.h"
#include "ctl_client.h"
#include "exitcode.h"
#include "output.h"
#include "queue_view.h"
#include "top.h"
#include "util.h"

#define DEFAULT_TIMEOUT_S 15
#define MAX_TIMEOUT_S 3600
#define MAX_NODE_NAME 255
#define MAX_WAIT_S (7 * 86400)
#define MAX_HISTORY_LIMIT 100000

static int cmd_status(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_node_state(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_help(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_vm_add(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_vm_remove(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_vm_list(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_vm_action(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_vm_migrate(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_node_drain(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_node_resume(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_node_confirm_off(struct cli *cli, const struct command *cmd, int argc,
				char **argv);
static int cmd_drain_cancel(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_queue(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_history(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_config_show(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_config_set(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_top(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_debug_blackbox(struct cli *cli, const struct command *cmd, int argc, char **argv);
static int cmd_complete(struct cli *cli, const struct command *cmd, int argc, char **argv);

/* clang-format off */
static const struct command node_commands[] = {
	{ .name = "maintenance", .args = "NODE", .run = cmd_node_state,
	  .arg = DROVER__NODE_STATE__NODE_STATE_MAINTENANCE, .path = "node maintenance",
	  .summary = "hand NODE to the operator: no VM is placed on or moved off it" },
	{ .name = "active", .args = "NODE", .run = cmd_node_state,
	  .arg = DROVER__NODE_STATE__NODE_STATE_ACTIVE, .path = "node active",
	  .summary = "return NODE to service: it may run and receive VMs" },
	{ .name = "drain", .args = "NODE [--wait[=SECONDS]] [--dry-run]", .run = cmd_node_drain,
	  .path = "node drain",
	  .summary = "live-migrate every VM off NODE, through the migration queue",
	  .help =
	  "NODE becomes 'draining': nothing new is placed on it and a migration is\n"
	  "queued for each of its VMs ('drover queue' shows them). When they have\n"
	  "all left it is 'drained'; if some could not, 'drain-failed'.\n"
	  "  --dry-run          show where each VM would go, over which network and\n"
	  "                     in which wave, and what blocks it; change nothing\n"
	  "  --wait[=SECONDS]   wait until the drain ends (no limit without SECONDS):\n"
	  "                     exit 0 drained, 1 drain failed or cancelled, 124 the\n"
	  "                     time ran out (the drain goes on)\n" },
	{ .name = "confirm-off", .args = "NODE", .run = cmd_node_confirm_off,
	  .path = "node confirm-off",
	  .summary = "vouch that a lost NODE is off: its VMs may restart elsewhere",
	  .help =
	  "For a node that left the cluster and that no fence device could fence (or\n"
	  "with [fence] mode = none): you declare that it is powered off, or cut off\n"
	  "from its storage, and runs no VM. drover then restarts its VMs on the other\n"
	  "nodes. Refused while the node is a member. If the node in fact still runs\n"
	  "its VMs, they will run twice: be sure.\n" },
	{ .name = "resume", .args = "NODE [--failback]", .run = cmd_node_resume,
	  .path = "node resume",
	  .summary = "return a drained NODE to service (--failback: bring its VMs back)",
	  .help =
	  "NODE becomes 'active' again.\n"
	  "  --failback   also queue migrations bringing back the VMs its last drain\n"
	  "               moved away\n" },
	{ 0 },
};

static const struct command drain_commands[] = {
	{ .name = "cancel", .args = "NODE [--abort]", .run = cmd_drain_cancel,
	  .path = "drain cancel",
	  .summary = "stop draining NODE: its queued migrations are dropped, it is active again",
	  .help =
	  "Migrations already running finish, unless:\n"
	  "  --abort   abort the running migrations too (the VMs stay where they were)\n" },
	{ 0 },
};

static const struct command config_commands[] = {
	{ .name = "show", .run = cmd_config_show, .path = "config show",
	  .summary = "the migration limits in force" },
	{ .name = "set", .args = "KEY VALUE", .run = cmd_config_set, .path = "config set",
	  .summary = "change a migration limit on every node, at once",
	  .help =
	  "KEY is one of (VALUE a whole number, 0 meaning unlimited except for retries):\n"
	  "  max-out              migrations leaving one node at a time\n"
	  "  max-in               migrations arriving at one node at a time\n"
	  "  max-total            migrations in the cluster at a time\n"
	  "  max-retries          retries on another network after a failed attempt\n"
	  "  network.NAME.cap     migrations over network NAME at a time\n" },
	{ 0 },
};

static const struct command vm_commands[] = {
	{ .name = "add", .args = "NAME --xml FILE [--priority high|medium|low|none] [--node NODE] "
				 "[--vf-pool POOL [--vf preferred|required]] [--ipsec-sa N]",
	  .run = cmd_vm_add, .path = "vm add",
	  .summary = "register a VM from its libvirt domain XML (NAME must match <name>)",
	  .help =
	  "--vf-pool POOL   give it a VF of the nodes' [vf_pool POOL] where one is free (docs/SRIOV.md)\n"
	  "--vf required    its migrations wait for a target with a free VF (default: preferred,\n"
	  "                 it lands without one, degraded, and gets one when one frees)\n"
	  "--ipsec-sa N     IPsec security associations it may offload to the NIC (placement\n"
	  "                 prefers nodes with that capacity spare)\n" },
	{ .name = "remove", .args = "NAME", .run = cmd_vm_remove, .path = "vm remove",
	  .summary = "remove a VM from the registry (the domain itself is left alone)" },
	{ .name = "list", .run = cmd_vm_list, .path = "vm list",
	  .summary = "every registered VM: where it runs and in what state" },
	{ .name = "start", .args = "NAME", .run = cmd_vm_action, .path = "vm start",
	  .arg = DROVER__VM_ACTION_KIND__VM_ACTION_START,
	  .summary = "start a VM (where it is defined, else its home node, else the least loaded)" },
	{ .name = "stop", .args = "NAME", .run = cmd_vm_action, .path = "vm stop",
	  .arg = DROVER__VM_ACTION_KIND__VM_ACTION_STOP,
	  .summary = "shut a VM down (forced after 30 s)" },
	{ .name = "migrate", .args = "NAME --to NODE [--network NET]", .run = cmd_vm_migrate,
	  .path = "vm migrate",
	  .summary = "live-migrate a VM, its data over network NET if given" },
	{ 0 },
};

static const struct command debug_commands[] = {
	{ .name = "blackbox", .args = "[--print]", .run = cmd_debug_blackbox,
	  .path = "debug blackbox",
	  .summary = "write droverd's blackbox (its recent log at every level) to a file",
	  .help =
	  "droverd writes libqb's blackbox, its last log lines at every level (debug\n"
	  "included, whatever log_level says), to a new file under its state\n"
	  "directory, readable by root, and this prints the file's name.\n"
	  "  --print   print the blackbox's lines too (as root; 'qb-blackbox FILE' from\n"
	  "            libqb-tools does the same)\n" },
	{ 0 },
};

static const struct command commands[] = {
	{ .name = "status", .run = cmd_status, .path = "status",
	  .summary = "quorum, coordinator, and every node's state and links" },
	{ .name = "node", .sub = node_commands, .path = "node",
	  .summary = "change a node's administrative state" },
	{ .name = "drain", .sub = drain_commands, .path = "drain",
	  .summary = "control a running drain" },
	{ .name = "vm", .sub = vm_commands, .path = "vm",
	  .summary = "the VM registry" },
	{ .name = "queue", .run = cmd_queue, .path = "queue",
	  .summary = "migration jobs: running, queued (and why they wait), just finished" },
	{ .name = "history", .args = "[--limit N]", .run = cmd_history, .path = "history",
	  .summary = "finished migrations, newest first (all droverd keeps, or N)" },
	{ .name = "config", .sub = config_commands, .path = "config",
	  .summary = "the migration limits" },
	{ .name = "top", .args = "[--once] [--interval MS]", .run = cmd_top, .path = "top",
	  .summary = "live view of nodes, networks and migrations ('q' quits)",
	  .help =
	  "Redraws whenever droverd reports a change, and at least every --interval\n"
	  "milliseconds (default 1000, 100 to 60000).\n"
	  "  --once   print one frame as plain text and exit (width $COLUMNS or 80)\n"
	  "With --output json, one frame's data (status, queue and the latest history)\n"
	  "as one JSON document, then exit.\n" },
	{ .name = "debug", .sub = debug_commands, .path = "debug",
	  .summary = "diagnostics for a bug report" },
	{ .name = "help", .args = "[COMMAND]", .run = cmd_help, .path = "help",
	  .summary = "show this help, or a command's",
	  .help =
	  "COMMAND is a command or a group ('drover help node drain', 'drover help vm').\n"
	  "With --output json, the commands (each with its path, arguments, summary\n"
	  "and help), the options and the exit codes as one JSON document.\n" },
	/* For the bash completion script (cli/drover.bash-completion), not for people. */
	{ .name = "complete", .args = "WORD...", .run = cmd_complete, .path = "complete",
	  .summary = "shell completion candidates for the last WORD", .hidden = true },
	{ 0 },
};
/* clang-format on */

/* ---- usage ---- */

/* clang-format off */
static const struct {
	int code;
	const char *meaning;
} exit_codes[] = {
	{ DROVER_EXIT_OK, "success" },
	{ DROVER_EXIT_ERROR, "generic error" },
	{ DROVER_EXIT_INVALID_PARAM, "invalid parameter (e.g. a state that cannot be set directly)" },
	{ DROVER_EXIT_INSUFFICIENT_PRIV, "insufficient privileges (not root or in droverd's group)" },
	{ DROVER_EXIT_USAGE, "usage error" },
	{ DROVER_EXIT_DATAERR, "droverd could not read the request" },
	{ DROVER_EXIT_UNAVAILABLE, "unavailable (droverd not ready, or synchronising: retry)" },
	{ DROVER_EXIT_SOFTWARE, "internal error (malformed answer from droverd)" },
	{ DROVER_EXIT_NOT_CONNECTED, "not connected (droverd is not running here)" },
	{ DROVER_EXIT_NOSUCH, "no such object (e.g. an unknown node)" },
	{ DROVER_EXIT_QUORUM, "no quorum: this partition makes no changes" },
	{ DROVER_EXIT_EXISTS, "already exists (e.g. a VM name)" },
	{ DROVER_EXIT_TIMEOUT, "timeout: no answer in time (a change may still take effect)" },
};
/* clang-format on */

static void print_commands(FILE *f, const struct command *table, const char *prefix)
{
	for (const struct command *c = table; c->name; c++) {
		char head[128];

		if (c->hidden)
			continue;
		snprintf(head, sizeof(head), "%s%s%s%s", prefix, c->name, c->args ? " " : "",
			 c->args ? c->args : "");
		if (c->sub) {
			char sub_prefix[64];

			snprintf(sub_prefix, sizeof(sub_prefix), "%s%s ", prefix, c->name);
			print_commands(f, c->sub, sub_prefix);
		} else {
			fprintf(f, "  drover %-28s %s\n", head, c->summary);
		}
	}
}

static void print_options(FILE *f)
{
	fprintf(f,
		"Options (before or after the command):\n"
		"  -o, --output text|json   output format (default text)\n"
		"  -t, --timeout SECONDS    how long to wait for droverd's answer (default %d);\n"
		"                           a change is answered once every node applied it\n"
		"  -h, --help               show this help\n"
		"  -V, --version            show the version\n",
		DEFAULT_TIMEOUT_S);
}

static void print_usage(FILE *f)
{
	fprintf(f, "Usage: drover [OPTIONS] COMMAND [ARGS]\n\n"
		   "Manage a drover cluster through the droverd on this host.\n\n"
		   "Commands:\n");
	print_commands(f, commands, "");
	fprintf(f, "\n");
	print_options(f);
	fprintf(f, "\nExit codes (Pacemaker's crm_exit_t numbers, read as for crm_node):\n");
	for (size_t i = 0; i < ARRAY_SIZE(exit_codes); i++)
		fprintf(f, "  %3d  %s\n", exit_codes[i].code, exit_codes[i].meaning);
}

/* Help for one command or group. */
static void print_command_usage(FILE *f, const struct command *cmd)
{
	fprintf(f, "Usage:\n");
	if (cmd->sub) {
		char prefix[64];

		snprintf(prefix, sizeof(prefix), "%s ", cmd->path);
		print_commands(f, cmd->sub, prefix);
	} else {
		char head[128];

		snprintf(head, sizeof(head), "%s%s%s", cmd->path, cmd->args ? " " : "",
			 cmd->args ? cmd->args : "");
		fprintf(f, "  drover %-28s %s\n", head, cmd->summary);
		if (cmd->help)
			fprintf(f, "\n%s", cmd->help);
	}
	fprintf(f, "\n");
	print_options(f);
	fprintf(f, "\nSee 'drover --help' for the exit codes.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("drover: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'drover --help' for more information.\n", stderr);
	return DROVER_EXIT_USAGE;
}

/* ---- options ---- */

/* clang-format off */
static const struct option common_options[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};
/* clang-format on */

/*
 * Parse the common options of argv (argv[0] is the command word, or the
 * program). stop_at_word: stop at the first non-option (a group level) rather
 * than permuting (a leaf). Returns the index of the first non-option,
 * -ECANCELED when --help or --version was answered (exit 0), or -EINVAL when a
 * usage error was reported (exit 64): see done_exit_code().
 */
static int parse_common_options(struct cli *cli, const struct command *cmd, int argc, char **argv,
				bool stop_at_word)
{
	int c;

	optind = 0; /* glibc: start over on a new argv */
	opterr = 0;
	while ((c = getopt_long(argc, argv, stop_at_word ? "+:o:t:hV" : ":o:t:hV", common_options,
				NULL)) != -1) {
		uint64_t secs;

		switch (c) {
		case 'o':
			if (output_format_parse(optarg, &cli->output) < 0) {
				usage_error("invalid --output '%s': use 'text' or 'json'", optarg);
				return -EINVAL;
			}
			break;
		case 't':
			if (parse_u64(optarg, 1, MAX_TIMEOUT_S, &secs) < 0) {
				usage_error("invalid --timeout '%s': a whole number of seconds "
					    "from 1 to %d",
					    optarg, MAX_TIMEOUT_S);
				return -EINVAL;
			}
			cli->timeout_ms = (int)secs * 1000;
			break;
		case 'h':
			if (cmd)
				print_command_usage(stdout, cmd);
			else
				print_usage(stdout);
			return -ECANCELED;
		case 'V':
			printf("drover %s\n", DROVER_VERSION);
			return -ECANCELED;
		case ':':
			usage_error("option '%s' needs an argument", argv[optind - 1]);
			return -EINVAL;
		default:
			if (optopt)
				usage_error("unknown option '-%c'", optopt);
			else
				usage_error("unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
	}
	return optind;
}

/* The exit code for a parse that ended the command (see parse_common_options()). */
static int done_exit_code(int r)
{
	return r == -ECANCELED ? DROVER_EXIT_OK : DROVER_EXIT_USAGE;
}

static const struct command *find_command(const struct command *table, const char *name)
{
	for (const struct command *c = table; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/*
 * Run the command named by argv[0] from table. parent is the group the table
 * belongs to (NULL at the top), for messages.
 */
static int dispatch(struct cli *cli, const struct command *parent, const struct command *table,
		    int argc, char **argv)
{
	const struct command *cmd;
	int i;

	if (argc < 1) {
		if (parent)
			return usage_error("'%s' needs a subcommand", parent->path);
		return usage_error("no command given");
	}
	cmd = find_command(table, argv[0]);
	if (!cmd) {
		if (parent)
			return usage_error("unknown subcommand '%s %s'", parent->path, argv[0]);
		return usage_error("unknown command '%s'", argv[0]);
	}
	if (cmd->run) {
		cli->command = cmd->path;
		return cmd->run(cli, cmd, argc, argv);
	}
	i = parse_common_options(cli, cmd, argc, argv, true);
	if (i < 0)
		return done_exit_code(i);
	return dispatch(cli, cmd, cmd->sub, argc - i, argv + i);
}

/*
 * A leaf's options and exactly nargs positional arguments, into ret_args.
 * Returns 0, or -ECANCELED / -EINVAL as parse_common_options() (a usage error
 * has been reported).
 */
static int leaf_args(struct cli *cli, const struct command *cmd, int argc, char **argv, int nargs,
		     char **ret_args)
{
	int i = parse_common_options(cli, cmd, argc, argv, false);

	if (i < 0)
		return i;
	if (argc - i < nargs) {
		usage_error("'%s' needs %s", cmd->path, cmd->args);
		return -EINVAL;
	}
	if (argc - i > nargs) {
		usage_error("unexpected argument '%s' for '%s'", argv[i + nargs], cmd->path);
		return -EINVAL;
	}
	for (int k = 0; k < nargs; k++)
		ret_args[k] = argv[i + k];
	return 0;
}

/* A command's JSON document, in the versioned envelope (output.h). */
static int print_json(const struct cli *cli, struct json_object *o)
{
	_cleanup_json_ struct json_object *env = output_json_envelope(o, cli->command);

	return output_json_print(env, stdout);
}

/* ---- talking to droverd ---- */

/*
 * Send req (over conn if not NULL); on success (daemon exit code 0) return 0
 * and the answer in *ret_env. Otherwise the reason is on stderr and the exit
 * code is returned.
 */
static int request_on(struct cli *cli, struct ctl_conn *conn, const Drover__CtlRequest *req,
		      Drover__Envelope **ret_env)
{
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	const Drover__CtlResponse *resp;
	int r;

	if (conn) {
		char err[512];

		r = ctl_conn_call(conn, req, cli->timeout_ms, &env, err, sizeof(err));
		if (r < 0)
			fprintf(stderr, "drover: %s\n", err);
	} else {
		r = ctl_client_call(req, cli->timeout_ms, &env);
	}
	if (r < 0)
		return ctl_client_exit_code(r);
	resp = env->ctl_response;
	if (resp->exit_code < 0 || resp->exit_code > 255) {
		fprintf(stderr,
			"drover: droverd answered with exit code %d, which is not one: %s\n",
			resp->exit_code, resp->error ? resp->error : "");
		return DROVER_EXIT_SOFTWARE;
	}
	if (resp->exit_code != DROVER_EXIT_OK) {
		if (resp->error && *resp->error)
			fprintf(stderr, "drover: %s\n", resp->error);
		else
			fprintf(stderr, "drover: droverd refused the request (exit code %d)\n",
				resp->exit_code);
		return resp->exit_code;
	}
	*ret_env = TAKE_PTR(env);
	return DROVER_EXIT_OK;
}

/* request_on() over a connection of its own. */
static int request(struct cli *cli, const Drover__CtlRequest *req, Drover__Envelope **ret_env)
{
	return request_on(cli, NULL, req, ret_env);
}

/*
 * A command without arguments that asks one thing: parse, ask, return the
 * exit code. *ret_env stays NULL when the options ended the command (--help).
 */
static int read_command(struct cli *cli, const struct command *cmd, int argc, char **argv,
			const Drover__CtlRequest *req, Drover__Envelope **ret_env)
{
	int r = leaf_args(cli, cmd, argc, argv, 0, NULL);

	if (r < 0)
		return done_exit_code(r);
	return request(cli, req, ret_env);
}

/* ---- commands ---- */

static int cmd_status(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__StatusRequest st = DROVER__STATUS_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	const Drover__StatusReply *reply;
	int r;

	req.req_case = DROVER__CTL_REQUEST__REQ_STATUS;
	req.status = &st;
	r = read_command(cli, cmd, argc, argv, &req, &env);
	if (r != DROVER_EXIT_OK || !env) /* !env: --help or --version was answered */
		return r;
	reply = env->ctl_response->status;
	if (!reply) {
		fprintf(stderr, "drover: droverd's answer carries no status\n");
		return DROVER_EXIT_SOFTWARE;
	}
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = output_status_json(reply);

		print_json(cli, o);
	} else {
		output_status_text(reply, stdout);
	}
	return DROVER_EXIT_OK;
}

/* `node maintenance|active NODE`: cmd->arg is the state to set. */
static int cmd_node_state(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__NodeStateRequest ns = DROVER__NODE_STATE_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	Drover__NodeState state = (Drover__NodeState)cmd->arg;
	char *node;
	int r;

	r = leaf_args(cli, cmd, argc, argv, 1, &node);
	if (r < 0)
		return done_exit_code(r);
	if (!*node || strlen(node) > MAX_NODE_NAME)
		return usage_error("invalid node name '%s'", node);
	req.req_case = DROVER__CTL_REQUEST__REQ_SET_NODE_STATE;
	req.set_node_state = &ns;
	ns.node = node;
	ns.state = state;
	r = request(cli, &req, &env);
	if (r != DROVER_EXIT_OK)
		return r;
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = json_object_new_object();

		json_object_object_add(o, "node", json_object_new_string(node));
		json_object_object_add(o, "state",
				       json_object_new_string(node_state_name(state)));
		print_json(cli, o);
	} else {
		printf("node '%s' is now %s%s\n", node,
		       state == DROVER__NODE_STATE__NODE_STATE_MAINTENANCE ? "in " : "",
		       node_state_name(state));
	}
	return DROVER_EXIT_OK;
}

/* `node confirm-off NODE` */
static int cmd_node_confirm_off(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__NodeConfirmOffRequest co = DROVER__NODE_CONFIRM_OFF_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	char *node;
	int r;

	r = leaf_args(cli, cmd, argc, argv, 1, &node);
	if (r < 0)
		return done_exit_code(r);
	if (!*node || strlen(node) > MAX_NODE_NAME)
		return usage_error("invalid node name '%s'", node);
	req.req_case = DROVER__CTL_REQUEST__REQ_CONFIRM_OFF;
	req.confirm_off = &co;
	co.node = node;
	r = request(cli, &req, &env);
	if (r != DROVER_EXIT_OK)
		return r;
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = json_object_new_object();

		json_object_object_add(o, "node", json_object_new_string(node));
		json_object_object_add(o, "fence", json_object_new_string("fenced"));
		print_json(cli, o);
	} else {
		printf("node '%s' is confirmed off: its VMs restart elsewhere\n", node);
	}
	return DROVER_EXIT_OK;
}

/*
 * Remove "--name VALUE" / "--name=VALUE" from argv (compacting it) and return
 * VALUE in *ret; 0 if absent, 1 if taken, -EINVAL (reported) if VALUE is
 * missing or the option is given twice.
 */
static int take_option(int *argc, char **argv, const char *name, char **ret)
{
	size_t n = strlen(name);
	int found = 0;

	for (int i = 1; i < *argc;) {
		char *a = argv[i], *v = NULL;
		int used = 0;

		if (strcmp(a, "--") == 0)
			break;
		if (strcmp(a, name) == 0) {
			if (i + 1 >= *argc) {
				usage_error("option '%s' needs an argument", name);
				return -EINVAL;
			}
			v = argv[i + 1];
			used = 2;
		} else if (strncmp(a, name, n) == 0 && a[n] == '=') {
			v = a + n + 1;
			used = 1;
		}
		if (!used) {
			i++;
			continue;
		}
		if (found) {
			usage_error("option '%s' given twice", name);
			return -EINVAL;
		}
		found = 1;
		*ret = v;
		memmove(&argv[i], &argv[i + used], (size_t)(*argc - i - used + 1) * sizeof(*argv));
		*argc -= used;
	}
	return found;
}

/*
 * Remove a flag without value ("--name") from argv. Returns 1 if it was
 * there, 0 if not, -EINVAL (reported) if given twice or with a value.
 */
static int take_flag(int *argc, char **argv, const char *name)
{
	size_t n = strlen(name);
	int found = 0;

	for (int i = 1; i < *argc;) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') {
			usage_error("option '%s' takes no value", name);
			return -EINVAL;
		}
		if (strcmp(argv[i], name) != 0) {
			i++;
			continue;
		}
		if (found) {
			usage_error("option '%s' given twice", name);
			return -EINVAL;
		}
		found = 1;
		memmove(&argv[i], &argv[i + 1], (size_t)(*argc - i) * sizeof(*argv));
		(*argc)--;
	}
	return found;
}

/*
 * Remove "--name" or "--name=VALUE" (an optional value: never the next word)
 * from argv. Returns 1 with *ret NULL or VALUE, 0 if absent, -EINVAL
 * (reported) if given twice.
 */
static int take_optional(int *argc, char **argv, const char *name, char **ret)
{
	size_t n = strlen(name);
	int found = 0;

	for (int i = 1; i < *argc;) {
		char *a = argv[i];

		if (strcmp(a, "--") == 0)
			break;
		if (strncmp(a, name, n) != 0 || (a[n] != '\0' && a[n] != '=')) {
			i++;
			continue;
		}
		if (found) {
			usage_error("option '%s' given twice", name);
			return -EINVAL;
		}
		found = 1;
		*ret = a[n] == '=' ? a + n + 1 : NULL;
		memmove(&argv[i], &argv[i + 1], (size_t)(*argc - i) * sizeof(*argv));
		(*argc)--;
	}
	return found;
}

static int read_file(const char *path, char **ret)
{
	_cleanup_free_ char *buf = NULL;
	FILE *f = fopen(path, "re");
	size_t len = 0, cap = 0, n;

	if (!f)
		return -errno;
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if (cap > 4u * 1024 * 1024) {
				fclose(f);
				return -EFBIG;
			}
			buf = xrealloc(buf, cap + 1);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	buf[len] = '\0';
	if (strlen(buf) != len)
		return -EINVAL; /* a NUL byte: not a text file */
	*ret = TAKE_PTR(buf);
	return 0;
}

static int cmd_vm_add(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__VmAddRequest add = DROVER__VM_ADD_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	_cleanup_free_ char *xml = NULL;
	char *name, *file = NULL, *prio = NULL, *node = NULL, *pool = NULL, *vf = NULL, *sa = NULL;
	uint64_t n_sa = 0;
	int r;

	if (take_option(&argc, argv, "--xml", &file) < 0 ||
	    take_option(&argc, argv, "--priority", &prio) < 0 ||
	    take_option(&argc, argv, "--node", &node) < 0 ||
	    take_option(&argc, argv, "--vf-pool", &pool) < 0 ||
	    take_option(&argc, argv, "--vf", &vf) < 0 ||
	    take_option(&argc, argv, "--ipsec-sa", &sa) < 0)
		return DROVER_EXIT_USAGE;
	if (vf && strcmp(vf, "required") != 0 && strcmp(vf, "preferred") != 0)
		return usage_error("invalid --vf '%s': use preferred or required", vf);
	if (vf && !pool)
		return usage_error("--vf needs --vf-pool POOL");
	if (pool && (!*pool || strlen(pool) > 31 || strspn(pool, "abcdefghijklmnopqrstuvwxyz"
							       "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
							       "0123456789._-") != strlen(pool)))
		return usage_error("invalid --vf-pool '%s': 1..31 letters, digits, '.', '_' or '-'",
				   pool);
	if (sa && parse_u64(sa, 0, 1000000, &n_sa) < 0)
		return usage_error("invalid --ipsec-sa '%s': a whole number 0..1000000", sa);
	add.vf_pool = pool ? pool : (char *)"";
	add.vf_mode = vf && strcmp(vf, "required") == 0 ? DROVER__VF_MODE__VF_MODE_REQUIRED
						       : DROVER__VF_MODE__VF_MODE_PREFERRED;
	add.ipsec_offload_sa = (uint32_t)n_sa;
	r = leaf_args(cli, cmd, argc, argv, 1, &name);
	if (r < 0)
		return done_exit_code(r);
	if (!file)
		return usage_error("'vm add' needs --xml FILE");
	add.priority = DROVER__VM_PRIORITY__VM_PRIORITY_MEDIUM;
	if (prio && vm_priority_from_name(prio, &add.priority) < 0)
		return usage_error("invalid --priority '%s': use high, medium, low or none", prio);
	r = read_file(file, &xml);
	if (r < 0) {
		fprintf(stderr, "drover: cannot read '%s': %s\n", file,
			r == -EINVAL ? "it contains a NUL byte" : strerror(-r));
		return DROVER_EXIT_DATAERR;
	}
	add.name = name;
	add.xml = xml;
	add.node = node ? node : (char *)"";
	req.req_case = DROVER__CTL_REQUEST__REQ_VM_ADD;
	req.vm_add = &add;
	r = request(cli, &req, &env);
	if (r != DROVER_EXIT_OK)
		return r;
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = json_object_new_object();

		json_object_object_add(o, "vm", json_object_new_string(name));
		json_object_object_add(o, "added", json_object_new_boolean(1));
		print_json(cli, o);
	} else {
		printf("VM '%s' added\n", name);
	}
	return DROVER_EXIT_OK;
}

static int cmd_vm_remove(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__VmNameRequest rm = DROVER__VM_NAME_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	char *name;
	int r;

	r = leaf_args(cli, cmd, argc, argv, 1, &name);
	if (r < 0)
		return done_exit_code(r);
	rm.name = name;
	req.req_case = DROVER__CTL_REQUEST__REQ_VM_REMOVE;
	req.vm_remove = &rm;
	r = request(cli, &req, &env);
	if (r != DROVER_EXIT_OK)
		return r;
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = json_object_new_object();

		json_object_object_add(o, "vm", json_object_new_string(name));
		json_object_object_add(o, "removed", json_object_new_boolean(1));
		print_json(cli, o);
	} else {
		printf("VM '%s' removed from the registry\n", name);
	}
	return DROVER_EXIT_OK;
}

/* The hypervisor's work outlasts the default timeout: wait as long as droverd does. */
static void long_timeout(struct cli *cli, int secs)
{
	if (cli->timeout_ms == DEFAULT_TIMEOUT_S * 1000)
		cli->timeout_ms = secs * 1000;
}

static int print_done(struct cli *cli, const char *vm, const char *what)
{
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = json_object_new_object();

		json_object_object_add(o, "vm", json_object_new_string(vm));
		json_object_object_add(o, "done", json_object_new_string(what));
		print_json(cli, o);
	} else if (strncmp(what, "VM '", 4) == 0) {
		printf("%s\n", what); /* droverd's own sentence: "VM 'x' is already running on n2" */
	} else {
		printf("VM '%s' %s\n", vm, what);
	}
	return DROVER_EXIT_OK;
}

static int cmd_vm_action(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__VmNameRequest nr = DROVER__VM_NAME_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	bool start = cmd->arg == DROVER__VM_ACTION_KIND__VM_ACTION_START;
	char *name;
	int r;

	r = leaf_args(cli, cmd, argc, argv, 1, &name);
	if (r < 0)
		return done_exit_code(r);
	long_timeout(cli, 160);
	nr.name = name;
	if (start) {
		req.req_case = DROVER__CTL_REQUEST__REQ_VM_START;
		req.vm_start = &nr;
	} else {
		req.req_case = DROVER__CTL_REQUEST__REQ_VM_STOP;
		req.vm_stop = &nr;
	}
	r = request(cli, &req, &env);
	if (r != DROVER_EXIT_OK)
		return r;
	if (env->ctl_response->error && *env->ctl_response->error)
		return print_done(cli, name, env->ctl_response->error);
	return print_done(cli, name, start ? "started" : "stopped");
}

static int cmd_vm_migrate(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__VmMigrateRequest mr = DROVER__VM_MIGRATE_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	char *name, *to = NULL, *net = NULL, done[160];
	int r;

	if (take_option(&argc, argv, "--to", &to) < 0 ||
	    take_option(&argc, argv, "--network", &net) < 0)
		return DROVER_EXIT_USAGE;
	r = leaf_args(cli, cmd, argc, argv, 1, &name);
	if (r < 0)
		return done_exit_code(r);
	if (!to || !*to)
		return usage_error("'vm migrate' needs --to NODE");
	/* It names a configured network; anything else must never near a URI. */
	if (net && !name_is_identifier(net, 32))
		return usage_error("invalid --network '%s': a network name is letters, digits, "
				   "'.', '_' and '-' (see `drover config show`)", net);
	long_timeout(cli, 910);
	mr.name = name;
	mr.to = to;
	mr.network = net ? net : (char *)"";
	req.req_case = DROVER__CTL_REQUEST__REQ_VM_MIGRATE;
	req.vm_migrate = &mr;
	r = request(cli, &req, &env);
	if (r != DROVER_EXIT_OK)
		return r;
	if (env->ctl_response->error && *env->ctl_response->error)
		return print_done(cli, name, env->ctl_response->error);
	snprintf(done, sizeof(done), "migrated to %s%s%s", to, net ? " over " : "", net ? net : "");
	return print_done(cli, name, done);
}

static struct json_object *migration_json(const Drover__VmStatus *v)
{
	const Drover__MigrationProgress *p = v->migration;
	struct json_object *m;
	uint64_t total;

	if (!p)
		return NULL;
	m = json_object_new_object();
	total = p->memory_total;
	json_object_object_add(m, "to", json_object_new_string(v->migration_target));
	json_object_object_add(m, "network", output_json_string_or_null(
						     *v->migration_network ? v->migration_network
									   : NULL));
	json_object_object_add(m, "progress_pct",
			       json_object_new_double(total ? 100.0 * (double)p->memory_processed /
								      (double)(p->memory_processed +
									       p->memory_remaining)
							    : 0.0));
	json_object_object_add(m, "memory_total", json_object_new_int64((int64_t)total));
	json_object_object_add(m, "processed_bytes",
			       json_object_new_int64((int64_t)p->memory_processed));
	json_object_object_add(m, "remaining_bytes",
			       json_object_new_int64((int64_t)p->memory_remaining));
	json_object_object_add(m, "rate_bps", json_object_new_int64((int64_t)p->bytes_per_s));
	json_object_object_add(m, "dirty_rate", json_object_new_int64((int64_t)p->dirty_rate));
	json_object_object_add(m, "iteration", json_object_new_int64(p->iteration));
	json_object_object_add(m, "elapsed_ms", json_object_new_int64((int64_t)p->elapsed_ms));
	return m;
}

/*
 * "vf": the VF attached to it ({pool, device, node}), null while it has none
 * attached (none at all, or one detached for a move); "degraded": why it
 * runs without the VF it asks for; "vf_pool", "vf_mode", "ipsec_offload_sa",
 * "ipsec_short".
 */
static void vm_vf_json(struct json_object *j, const Drover__VmStatus *v)
{
	struct json_object *vf = NULL;

	if (v->vf_held_pool && *v->vf_held_pool && v->vf_attached) {
		vf = json_object_new_object();
		json_object_object_add(vf, "pool", json_object_new_string(v->vf_held_pool));
		json_object_object_add(vf, "device", json_object_new_string(v->vf_device));
		json_object_object_add(vf, "node", json_object_new_string(v->vf_node));
	}
	json_object_object_add(j, "vf", vf);
	json_object_object_add(j, "degraded",
			       output_json_string_or_null(v->degraded && *v->degraded ? v->degraded
										      : NULL));
	json_object_object_add(j, "vf_pool",
			       output_json_string_or_null(v->vf_pool && *v->vf_pool ? v->vf_pool : NULL));
	json_object_object_add(j, "vf_mode",
			       json_object_new_string(v->vf_required ? "required" : "preferred"));
	json_object_object_add(j, "ipsec_offload_sa", json_object_new_int64(v->ipsec_offload_sa));
	json_object_object_add(j, "ipsec_short", json_object_new_boolean(v->ipsec_short));
	/* The inventory check's finding about it (its host's live XML disagrees), or null. */
	json_object_object_add(j, "vf_mismatch",
			       output_json_string_or_null(v->vf_mismatch && *v->vf_mismatch
							      ? v->vf_mismatch
							      : NULL));
}

static int cmd_vm_list(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__VmListRequest ls = DROVER__VM_LIST_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	const Drover__VmListReply *reply;
	int r;

	req.req_case = DROVER__CTL_REQUEST__REQ_VM_LIST;
	req.vm_list = &ls;
	r = read_command(cli, cmd, argc, argv, &req, &env);
	if (r != DROVER_EXIT_OK || !env) /* !env: --help or --version was answered */
		return r;
	reply = env->ctl_response->vm_list;
	if (!reply) {
		fprintf(stderr, "drover: droverd's answer carries no VM list\n");
		return DROVER_EXIT_SOFTWARE;
	}
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = json_object_new_object();
		struct json_object *arr = json_object_new_array();

		for (size_t i = 0; i < reply->n_vms; i++) {
			const Drover__VmStatus *v = reply->vms[i];
			struct json_object *j = json_object_new_object();

			json_object_object_add(j, "name", json_object_new_string(v->name));
			json_object_object_add(j, "node",
					       output_json_string_or_null(*v->node ? v->node : NULL));
			json_object_object_add(j, "state", json_object_new_string(v->state));
			json_object_object_add(j, "priority",
					       json_object_new_string(vm_priority_name(v->priority)));
			json_object_object_add(j, "memory_mib",
					       json_object_new_int64((int64_t)v->memory_mib));
			json_object_object_add(j, "vcpus", json_object_new_int64(v->vcpus));
			json_object_object_add(j, "migration", migration_json(v));
			json_object_object_add(j, "reason",
					       output_json_string_or_null(v->reason && *v->reason
										  ? v->reason
										  : NULL));
			json_object_object_add(j, "owner",
					       output_json_string_or_null(v->owner && *v->owner
										  ? v->owner
										  : NULL));
			json_object_object_add(j, "want",
					       output_json_string_or_null(v->want && *v->want
										  ? v->want
										  : NULL));
			vm_vf_json(j, v);
			json_object_object_add(
			    j, "guest_agent",
			    output_json_string_or_null(v->guest_agent && *v->guest_agent
							   ? v->guest_agent
							   : NULL));
			json_object_object_add(j, "guest_agent_old",
					       json_object_new_boolean(v->guest_agent_old));
			json_object_array_add(arr, j);
		}
		json_object_object_add(o, "vms", arr);
		print_json(cli, o);
	} else {
		static const char *const headers[] = { "NAME",   "NODE",  "STATE", "PRIORITY",
						       "MEMORY", "VCPUS", "AGENT" };
		struct output_table *t = output_table_new(ARRAY_SIZE(headers), headers);

		for (size_t i = 0; i < reply->n_vms; i++) {
			const Drover__VmStatus *v = reply->vms[i];
			char mem[32], cpus[16], state[320], agent[64];
			const char *cells[7];

			snprintf(mem, sizeof(mem), "%llu MiB", (unsigned long long)v->memory_mib);
			snprintf(cpus, sizeof(cpus), "%u", v->vcpus);
			cells[0] = v->name;
			cells[1] = *v->node ? v->node : "-";
			cells[2] = v->state;
			if (v->migration) {
				const Drover__MigrationProgress *p = v->migration;
				uint64_t all = p->memory_processed + p->memory_remaining;

				snprintf(state, sizeof(state), "migrating to %s%s%s %.0f%%",
					 v->migration_target, *v->migration_network ? " over " : "",
					 v->migration_network,
					 all ? 100.0 * (double)p->memory_processed / (double)all : 0.0);
				cells[2] = state;
			}
			if (!v->migration && v->reason && *v->reason) {
				snprintf(state, sizeof(state), "%s: %s", v->state, v->reason);
				cells[2] = state;
			}
			/* SR-IOV: only for VMs that ask for a VF or offload IPsec. */
			if (!v->migration && v->degraded && *v->degraded) {
				snprintf(state, sizeof(state), "%s, degraded: %s", v->state, v->degraded);
				cells[2] = state;
			} else if (!v->migration && v->vf_device && *v->vf_device && v->vf_attached &&
				   !strcmp(v->state, "running")) {
				snprintf(state, sizeof(state), "running, VF %s/%s", v->vf_held_pool,
					 v->vf_device);
				cells[2] = state;
			}
			if (!v->migration && v->ipsec_short && strlen(cells[2]) < 200) {
				char more[320];

				snprintf(more, sizeof(more), "%s, IPsec SAs short", cells[2]);
				memcpy(state, more, sizeof(state));
				cells[2] = state;
			}
			if (v->vf_mismatch && *v->vf_mismatch && strlen(cells[2]) < 200) {
				char more[320];

				snprintf(more, sizeof(more), "%s, VF MISMATCH", cells[2]);
				memcpy(state, more, sizeof(state));
				cells[2] = state;
			}
			cells[3] = vm_priority_name(v->priority);
			cells[4] = mem;
			cells[5] = cpus;
			/* The guest agent's version; "(old)": below guest_agent_min. */
			snprintf(agent, sizeof(agent), "%s%s",
				 v->guest_agent && *v->guest_agent ? v->guest_agent : "-",
				 v->guest_agent_old ? " (old)" : "");
			cells[6] = agent;
			output_table_add_row(t, cells);
		}
		output_table_print(t, stdout);
		output_table_free(t);
	}
	return DROVER_EXIT_OK;
}

/* ---- drains, the queue, the limits ---- */

static int check_node_arg(const char *node)
{
	if (!*node || strlen(node) > MAX_NODE_NAME)
		return usage_error("invalid node name '%s'", node);
	return DROVER_EXIT_OK;
}

/* The node of st that NODE (a name or a decimal id) names, or NULL. */
static const Drover__NodeStatus *find_node(const Drover__StatusReply *st, const char *node)
{
	uint64_t id = 0;
	bool numeric = parse_u64(node, 1, UINT32_MAX, &id) == 0;

	for (size_t i = 0; i < st->n_nodes; i++) {
		const Drover__NodeStatus *n = st->nodes[i];

		if ((n->name && strcmp(n->name, node) == 0) || (numeric && n->id == id))
			return n;
	}
	return NULL;
}

/*
 * Ask for the status over conn and find NODE in it: 0 with *ret_env (the
 * answer) and *ret_node, or an exit code (reported).
 */
static int node_status(struct cli *cli, struct ctl_conn *conn, const char *node,
		       Drover__Envelope **ret_env, const Drover__NodeStatus **ret_node)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__StatusRequest st = DROVER__STATUS_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	const Drover__NodeStatus *n;
	int r;

	req.req_case = DROVER__CTL_REQUEST__REQ_STATUS;
	req.status = &st;
	r = request_on(cli, conn, &req, &env);
	if (r != DROVER_EXIT_OK)
		return r;
	if (!env->ctl_response->status) {
		fprintf(stderr, "drover: droverd's answer carries no status\n");
		return DROVER_EXIT_SOFTWARE;
	}
	n = find_node(env->ctl_response->status, node);
	if (!n) {
		fprintf(stderr, "drover: droverd's status has no node '%s'\n", node);
		return DROVER_EXIT_NOSUCH;
	}
	*ret_node = n;
	*ret_env = TAKE_PTR(env);
	return DROVER_EXIT_OK;
}

static struct json_object *failures_json(const Drover__NodeStatus *n)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; n && i < n->n_drain_failures; i++)
		json_object_array_add(a, json_object_new_string(n->drain_failures[i]));
	return a;
}

/*
 * How a wait for a drain ended: the JSON document, or the text (stdout for
 * an outcome, stderr for the timeout).
 */
static int drain_outcome(struct cli *cli, const char *node, const Drover__NodeStatus *n,
			 const char *result, int code, int wait_s)
{
	if (n->name && *n->name)
		node = n->name; /* "2" was given: say "n2" */
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = json_object_new_object();

		json_object_object_add(o, "node", json_object_new_string(node));
		json_object_object_add(o, "state",
				       json_object_new_string(node_state_name(n->state)));
		json_object_object_add(o, "result", json_object_new_string(result));
		json_object_object_add(o, "migrations_out",
				       json_object_new_int64(n->migrations_out));
		json_object_object_add(o, "jobs_queued", json_object_new_int64(n->jobs_queued));
		json_object_object_add(o, "drain_failures", failures_json(n));
		print_json(cli, o);
	}
	if (code == DROVER_EXIT_TIMEOUT) {
		fprintf(stderr,
			"drover: %s is still %s after %d s (%" PRIu32 " migrating, %" PRIu32
			" queued); the drain goes on\n",
			node, node_state_name(n->state), wait_s, n->migrations_out, n->jobs_queued);
		return code;
	}
	if (cli->output == OUTPUT_JSON)
		return code;
	switch (n->state) {
	case DROVER__NODE_STATE__NODE_STATE_DRAINED:
		printf("%s: drained\n", node);
		break;
	case DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED:
		printf("%s: drain failed: %zu VM%s could not move\n", node, n->n_drain_failures,
		       n->n_drain_failures == 1 ? "" : "s");
		for (size_t i = 0; i < n->n_drain_failures; i++)
			printf("  %s\n", n->drain_failures[i]);
		break;
	case DROVER__NODE_STATE__NODE_STATE_ACTIVE:
		printf("%s: drain cancelled: the node is active again\n", node);
		break;
	default:
		printf("%s: drain ended: the node is now %s\n", node, node_state_name(n->state));
		break;
	}
	return code;
}

/*
 * `node drain --wait`: watch NODE's state until the drain ends. Each change
 * droverd reports (we subscribe) wakes us; without events we look every
 * second. An "active" node right after the request may be a droverd that
 * answered before applying it, so it counts as cancelled only once the node
 * was seen draining or after a grace period.
 */
static int wait_drain(struct cli *cli, struct ctl_conn *conn, const char *node, int wait_s)
{
	const uint64_t start = now_ms(), grace_ms = 3000, progress_every_ms = 5000;
	/* The caller said how many VMs were queued: the first progress line can wait. */
	uint64_t deadline = wait_s ? start + (uint64_t)wait_s * 1000 : 0, last_print = start;
	uint32_t last_out = UINT32_MAX, last_queued = UINT32_MAX;
	bool subscribed, seen_draining = false;
	char err[512];

	subscribed = ctl_conn_subscribe(conn, cli->timeout_ms, err, sizeof(err)) == 0;
	for (;;) {
		_cleanup_envelope_ Drover__Envelope *env = NULL;
		const Drover__NodeStatus *n;
		struct pollfd pfd;
		uint64_t now;
		int r, timeout;

		r = node_status(cli, conn, node, &env, &n);
		if (r != DROVER_EXIT_OK)
			return r;
		now = now_ms();
		switch (n->state) {
		case DROVER__NODE_STATE__NODE_STATE_DRAINED:
			return drain_outcome(cli, node, n, "drained", DROVER_EXIT_OK, wait_s);
		case DROVER__NODE_STATE__NODE_STATE_DRAIN_FAILED:
			return drain_outcome(cli, node, n, "failed", DROVER_EXIT_ERROR, wait_s);
		case DROVER__NODE_STATE__NODE_STATE_DRAINING:
			seen_draining = true;
			break;
		case DROVER__NODE_STATE__NODE_STATE_ACTIVE:
			if (seen_draining || now - start >= grace_ms)
				return drain_outcome(cli, node, n, "cancelled", DROVER_EXIT_ERROR,
						     wait_s);
			break;
		default:
			return drain_outcome(cli, node, n, "ended", DROVER_EXIT_ERROR, wait_s);
		}
		if (deadline && now >= deadline)
			return drain_outcome(cli, node, n, "timeout", DROVER_EXIT_TIMEOUT, wait_s);
		/* Progress only when it changed, and not more than every few seconds. */
		if (cli->output == OUTPUT_TEXT && seen_draining &&
		    (n->migrations_out != last_out || n->jobs_queued != last_queued) &&
		    now - last_print >= progress_every_ms) {
			printf("%s: draining: %" PRIu32 " migrating, %" PRIu32 " queued\n",
			       n->name && *n->name ? n->name : node,
			       n->migrations_out, n->jobs_queued);
			fflush(stdout);
			last_out = n->migrations_out;
			last_queued = n->jobs_queued;
			last_print = now;
		}

		timeout = 1000;
		if (deadline && deadline - now < (uint64_t)timeout)
			timeout = (int)(deadline - now);
		pfd = (struct pollfd){.fd = subscribed ? ctl_conn_fd(conn) : -1, .events = POLLIN};
		if (pfd.fd < 0) {
			poll(NULL, 0, timeout);
			continue;
		}
		if (poll(&pfd, 1, timeout) > 0) {
			/* Events only say "look again": read them all, then look. */
			for (int k = 0; k < 1000; k++) {
				Drover__Envelope *ev = NULL;

				r = ctl_conn_event_recv(conn, 0, &ev, err, sizeof(err));
				if (r < 0)
					break;
				frame_free(ev);
			}
			if (r != -EAGAIN && r < 0) {
				fprintf(stderr, "drover: %s\n", err);
				return ctl_client_exit_code(r);
			}
			/* Coalesce a burst of progress events. */
			poll(NULL, 0, 200);
		}
	}
}

/*
 * "--wait 30 n1": the seconds of --wait are optional, so they need '=' and
 * 30 would be taken for the node. Say so (reported, true) when a number
 * follows --wait and another word is there to be the node; "--wait 2" alone
 * is node 2.
 */
static bool wait_seconds_detached(int argc, char **argv)
{
	int words = 0, at = 0;

	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 || strcmp(a, "-t") == 0 ||
		    strcmp(a, "--timeout") == 0) {
			i++;
			continue;
		}
		if (a[0] == '-')
			continue;
		words++;
		if (strcmp(argv[i - 1], "--wait") == 0 && a[0] >= '0' && a[0] <= '9')
			at = i;
	}
	if (!at || words < 2)
		return false;
	usage_error("write --wait=%s: the seconds of --wait are optional and need '='", argv[at]);
	return true;
}

static int cmd_node_drain(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__NodeDrainRequest dr = DROVER__NODE_DRAIN_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL, *st_env = NULL;
	_cleanup_ctl_conn_ struct ctl_conn *conn = NULL;
	const Drover__NodeStatus *n = NULL;
	char *node, *wait_arg = NULL, err[512];
	const char *shown;
	int dry, wait, wait_s = 0, r;
	long jobs = -1;

	dry = take_flag(&argc, argv, "--dry-run");
	if (dry < 0)
		return DROVER_EXIT_USAGE;
	if (wait_seconds_detached(argc, argv))
		return DROVER_EXIT_USAGE;
	wait = take_optional(&argc, argv, "--wait", &wait_arg);
	if (wait < 0)
		return DROVER_EXIT_USAGE;
	r = leaf_args(cli, cmd, argc, argv, 1, &node);
	if (r < 0)
		return done_exit_code(r);
	r = check_node_arg(node);
	if (r != DROVER_EXIT_OK)
		return r;
	shown = node;
	if (dry && wait)
		return usage_error("'node drain': --dry-run changes nothing, there is nothing "
				   "to --wait for");
	if (wait_arg) {
		uint64_t secs;

		if (parse_u64(wait_arg, 1, MAX_WAIT_S, &secs) < 0)
			return usage_error("invalid --wait '%s': a whole number of seconds from 1 "
					   "to %d",
					   wait_arg, MAX_WAIT_S);
		wait_s = (int)secs;
	}

	dr.node = node;
	dr.dry_run = dry;
	req.req_case = DROVER__CTL_REQUEST__REQ_NODE_DRAIN;
	req.node_drain = &dr;
	if (dry) {
		const Drover__DrainPlan *plan;

		r = request(cli, &req, &env);
		if (r != DROVER_EXIT_OK)
			return r;
		plan = env->ctl_response->plan;
		if (!plan) {
			fprintf(stderr, "drover: droverd's answer carries no drain plan\n");
			return DROVER_EXIT_SOFTWARE;
		}
		if (cli->output == OUTPUT_JSON) {
			_cleanup_json_ struct json_object *o = queue_view_plan_json(plan);

			print_json(cli, o);
		} else {
			queue_view_plan_text(plan, stdout);
		}
		return DROVER_EXIT_OK;
	}

	r = ctl_conn_open(&conn, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "drover: %s\n", err);
		return ctl_client_exit_code(r);
	}
	r = request_on(cli, conn, &req, &env);
	if (r != DROVER_EXIT_OK)
		return r;
	/* The drain is on. How many VMs it moves: the plan if droverd sent one, else its status. */
	if (env->ctl_response->plan)
		jobs = (long)env->ctl_response->plan->n_steps;
	if (node_status(cli, conn, node, &st_env, &n) != DROVER_EXIT_OK)
		n = NULL; /* reported; the drain itself was accepted */
	if (n && jobs < 0 && n->state == DROVER__NODE_STATE__NODE_STATE_DRAINING)
		jobs = (long)n->jobs_queued + (long)n->migrations_out;
	if (n && n->name && *n->name)
		shown = n->name; /* "2" was given: say "n2" */
	if (wait) {
		if (cli->output == OUTPUT_TEXT) {
			if (jobs >= 0)
				printf("%s: draining (%ld VM%s queued)\n", shown, jobs,
				       jobs == 1 ? "" : "s");
			else
				printf("%s: draining\n", shown);
			fflush(stdout);
		}
		return wait_drain(cli, conn, node, wait_s);
	}
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = json_object_new_object();

		json_object_object_add(o, "node", json_object_new_string(shown));
		json_object_object_add(
		    o, "state",
		    json_object_new_string(n ? node_state_name(n->state) : "draining"));
		json_object_object_add(o, "jobs", jobs >= 0 ? json_object_new_int64(jobs) : NULL);
		print_json(cli, o);
	} else if (n && n->state == DROVER__NODE_STATE__NODE_STATE_DRAINED) {
		printf("%s: drained (no VMs to move)\n", shown);
	} else if (n && n->state != DROVER__NODE_STATE__NODE_STATE_DRAINING) {
		printf("%s: %s\n", shown, node_state_name(n->state));
	} else if (jobs >= 0) {
		printf("%s: draining (%ld VM%s queued)\n", shown, jobs, jobs == 1 ? "" : "s");
	} else {
		printf("%s: draining\n", shown);
	}
	return DROVER_EXIT_OK;
}

/* node_and_flag(): go on with the command (any other value is its exit code). */
#define PROCEED (-1)

/* The arguments of `CMD NODE [FLAG]`: the node, and whether FLAG was given. */
static int node_and_flag(struct cli *cli, const struct command *cmd, int argc, char **argv,
			 const char *flag, char **node, int *given)
{
	int r;

	*given = take_flag(&argc, argv, flag);
	if (*given < 0)
		return DROVER_EXIT_USAGE;
	r = leaf_args(cli, cmd, argc, argv, 1, node);
	if (r < 0)
		return done_exit_code(r);
	r = check_node_arg(*node);
	return r == DROVER_EXIT_OK ? PROCEED : r;
}

static int cmd_node_resume(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__NodeResumeRequest rr = DROVER__NODE_RESUME_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	char *node;
	int failback, r;

	r = node_and_flag(cli, cmd, argc, argv, "--failback", &node, &failback);
	if (r != PROCEED)
		return r;
	rr.node = node;
	rr.failback = failback;
	req.req_case = DROVER__CTL_REQUEST__REQ_NODE_RESUME;
	req.node_resume = &rr;
	r = request(cli, &req, &env);
	if (r != DROVER_EXIT_OK)
		return r;
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = json_object_new_object();

		json_object_object_add(o, "node", json_object_new_string(node));
		json_object_object_add(o, "state", json_object_new_string("active"));
		json_object_object_add(o, "failback", json_object_new_boolean(failback));
		print_json(cli, o);
	} else if (failback) {
		printf("%s: active; its VMs are queued to come back ('drover queue')\n", node);
	} else {
		printf("%s: active\n", node);
	}
	return DROVER_EXIT_OK;
}

static int cmd_drain_cancel(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__DrainCancelRequest dc = DROVER__DRAIN_CANCEL_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	char *node;
	int abort_running, r;

	r = node_and_flag(cli, cmd, argc, argv, "--abort", &node, &abort_running);
	if (r != PROCEED)
		return r;
	dc.node = node;
	dc.abort = abort_running;
	req.req_case = DROVER__CTL_REQUEST__REQ_DRAIN_CANCEL;
	req.drain_cancel = &dc;
	r = request(cli, &req, &env);
	if (r != DROVER_EXIT_OK)
		return r;
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = json_object_new_object();

		json_object_object_add(o, "node", json_object_new_string(node));
		json_object_object_add(o, "cancelled", json_object_new_boolean(1));
		json_object_object_add(o, "abort", json_object_new_boolean(abort_running));
		print_json(cli, o);
	} else {
		printf("%s: drain cancelled; queued migrations dropped, %s\n", node,
		       abort_running ? "running ones aborted" : "running ones finish");
	}
	return DROVER_EXIT_OK;
}

static int cmd_queue(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__QueueRequest qr = DROVER__QUEUE_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	const Drover__QueueReply *q;
	int r;

	req.req_case = DROVER__CTL_REQUEST__REQ_QUEUE;
	req.queue = &qr;
	r = read_command(cli, cmd, argc, argv, &req, &env);
	if (r != DROVER_EXIT_OK || !env) /* !env: --help or --version was answered */
		return r;
	q = env->ctl_response->queue;
	if (!q) {
		fprintf(stderr, "drover: droverd's answer carries no queue\n");
		return DROVER_EXIT_SOFTWARE;
	}
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = queue_view_queue_json(q);

		print_json(cli, o);
	} else {
		queue_view_queue_text(q, stdout);
	}
	return DROVER_EXIT_OK;
}

static int cmd_history(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__HistoryRequest hr = DROVER__HISTORY_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	const Drover__HistoryReply *h;
	char *limit = NULL;
	int r;

	if (take_option(&argc, argv, "--limit", &limit) < 0)
		return DROVER_EXIT_USAGE;
	r = leaf_args(cli, cmd, argc, argv, 0, NULL);
	if (r < 0)
		return done_exit_code(r);
	if (limit) {
		uint64_t v;

		if (parse_u64(limit, 1, MAX_HISTORY_LIMIT, &v) < 0)
			return usage_error("invalid --limit '%s': a whole number from 1 to %d",
					   limit, MAX_HISTORY_LIMIT);
		hr.limit = (uint32_t)v;
	}
	req.req_case = DROVER__CTL_REQUEST__REQ_HISTORY;
	req.history = &hr;
	r = request(cli, &req, &env);
	if (r != DROVER_EXIT_OK)
		return r;
	h = env->ctl_response->history;
	if (!h) {
		fprintf(stderr, "drover: droverd's answer carries no history\n");
		return DROVER_EXIT_SOFTWARE;
	}
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = queue_view_history_json(h);

		print_json(cli, o);
	} else {
		queue_view_history_text(h, stdout);
	}
	return DROVER_EXIT_OK;
}

static int print_limits(struct cli *cli, const Drover__MigrationLimits *l)
{
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = queue_view_limits_json(l);

		if (!o)
			o = json_object_new_object();
		print_json(cli, o);
	} else {
		queue_view_limits_text(l, stdout);
	}
	return DROVER_EXIT_OK;
}

static int cmd_config_show(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__ConfigShowRequest cs = DROVER__CONFIG_SHOW_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	const Drover__ConfigReply *c;
	int r;

	req.req_case = DROVER__CTL_REQUEST__REQ_CONFIG_SHOW;
	req.config_show = &cs;
	r = read_command(cli, cmd, argc, argv, &req, &env);
	if (r != DROVER_EXIT_OK || !env) /* !env: --help or --version was answered */
		return r;
	c = env->ctl_response->config;
	if (!c) {
		fprintf(stderr, "drover: droverd's answer carries no configuration\n");
		return DROVER_EXIT_SOFTWARE;
	}
	return print_limits(cli, c->limits);
}

static int cmd_config_set(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__ConfigSetRequest set = DROVER__CONFIG_SET_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	const Drover__ConfigReply *c;
	char *args[2];
	uint64_t v;
	int r;

	/* getopt would take "-1" for an option: say what is wrong with it instead. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (argv[i][0] == '-' && argv[i][1] >= '0' && argv[i][1] <= '9')
			return usage_error("invalid value '%s': a whole number, 0 or more",
					   argv[i]);
	r = leaf_args(cli, cmd, argc, argv, 2, args);
	if (r < 0)
		return done_exit_code(r);
	if (!*args[0])
		return usage_error("'config set' needs a KEY: max-out, max-in, max-total, "
				   "max-retries or network.NAME.cap");
	if (parse_u64(args[1], 0, UINT32_MAX, &v) < 0)
		return usage_error("invalid value '%s' for '%s': a whole number, 0 or more",
				   args[1], args[0]);
	set.key = args[0];
	set.value = args[1];
	req.req_case = DROVER__CTL_REQUEST__REQ_CONFIG_SET;
	req.config_set = &set;
	r = request(cli, &req, &env);
	if (r != DROVER_EXIT_OK)
		return r;
	c = env->ctl_response->config;
	if (!c && cli->output == OUTPUT_JSON) {
		/* Every member applied the change before the answer: this node shows it. */
		Drover__CtlRequest show = DROVER__CTL_REQUEST__INIT;
		Drover__ConfigShowRequest sr = DROVER__CONFIG_SHOW_REQUEST__INIT;

		show.req_case = DROVER__CTL_REQUEST__REQ_CONFIG_SHOW;
		show.config_show = &sr;
		frame_free(env);
		env = NULL;
		if (request(cli, &show, &env) == DROVER_EXIT_OK)
			c = env->ctl_response->config;
	}
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = json_object_new_object();

		json_object_object_add(o, "key", json_object_new_string(args[0]));
		json_object_object_add(o, "value", json_object_new_uint64(v));
		json_object_object_add(o, "limits", c ? queue_view_limits_json(c->limits) : NULL);
		print_json(cli, o);
	} else {
		printf("%s set to %" PRIu64 "\n", args[0], v);
	}
	return DROVER_EXIT_OK;
}

static int cmd_top(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	struct top_options o = {
	    .interval_ms = TOP_INTERVAL_DEFAULT_MS,
	    .timeout_ms = cli->timeout_ms,
	};
	char *interval = NULL;
	int once, r;

	once = take_flag(&argc, argv, "--once");
	if (once < 0)
		return DROVER_EXIT_USAGE;
	if (take_option(&argc, argv, "--interval", &interval) < 0)
		return DROVER_EXIT_USAGE;
	r = leaf_args(cli, cmd, argc, argv, 0, NULL);
	if (r < 0)
		return done_exit_code(r);
	if (interval) {
		uint64_t ms;

		if (parse_u64(interval, TOP_INTERVAL_MIN_MS, TOP_INTERVAL_MAX_MS, &ms) < 0)
			return usage_error("invalid --interval '%s': milliseconds from %d to %d",
					   interval, TOP_INTERVAL_MIN_MS, TOP_INTERVAL_MAX_MS);
		o.interval_ms = (int)ms;
	}
	/* A stream of JSON frames is no document: JSON is one frame. */
	o.json = cli->output == OUTPUT_JSON;
	o.command = cli->command;
	o.once = once || o.json;
	return top_run(&o);
}

/* Every visible leaf of table (or c alone) into arr. */
static void help_commands_json(const struct command *table, struct json_object *arr)
{
	for (const struct command *c = table; c->name; c++) {
		struct json_object *j;

		if (c->hidden)
			continue;
		if (c->sub) {
			help_commands_json(c->sub, arr);
			continue;
		}
		j = json_object_new_object();
		json_object_object_add(j, "path", json_object_new_string(c->path));
		json_object_object_add(j, "args", output_json_string_or_null(c->args));
		json_object_object_add(j, "summary", json_object_new_string(c->summary));
		json_object_object_add(j, "help", output_json_string_or_null(c->help));
		json_object_array_add(arr, j);
	}
}

/*
 * `help [COMMAND] --output json`:
 *   {"format", "command": "help", "topic": "node"|null,
 *    "commands": [{"path", "args", "summary", "help"}],
 *    "options": [{"long", "short", "value"}], "exit_codes": [{"code", "meaning"}]}
 * "commands" holds the leaves under COMMAND (all without one).
 */
static int print_help_json(const struct cli *cli, const struct command *c)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	struct json_object *cmds = json_object_new_array(), *opts = json_object_new_array();
	struct json_object *codes = json_object_new_array();

	json_object_object_add(o, "topic", c ? json_object_new_string(c->path) : NULL);
	if (c && !c->sub) {
		struct command one[2] = { *c };

		help_commands_json(one, cmds);
	} else {
		help_commands_json(c ? c->sub : commands, cmds);
	}
	json_object_object_add(o, "commands", cmds);
	for (size_t i = 0; common_options[i].name; i++) {
		struct json_object *j = json_object_new_object();
		char s[2] = { (char)common_options[i].val, 0 };

		json_object_object_add(j, "long", json_object_new_string(common_options[i].name));
		json_object_object_add(j, "short", json_object_new_string(s));
		json_object_object_add(j, "value",
				       json_object_new_boolean(common_options[i].has_arg !=
							       no_argument));
		json_object_array_add(opts, j);
	}
	json_object_object_add(o, "options", opts);
	for (size_t i = 0; i < ARRAY_SIZE(exit_codes); i++) {
		struct json_object *j = json_object_new_object();

		json_object_object_add(j, "code", json_object_new_int(exit_codes[i].code));
		json_object_object_add(j, "meaning", json_object_new_string(exit_codes[i].meaning));
		json_object_array_add(codes, j);
	}
	json_object_object_add(o, "exit_codes", codes);
	return print_json(cli, o);
}

/* `complete WORD...`: the words are the command line, not options of complete. */
static int cmd_complete(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	(void)cli;
	(void)cmd;
	return complete_run(commands, argc - 1, argv + 1);
}

static int cmd_help(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	const struct command *table = commands, *c = NULL;
	int i = parse_common_options(cli, cmd, argc, argv, false);

	if (i < 0)
		return done_exit_code(i);
	if (i == argc) {
		if (cli->output == OUTPUT_JSON)
			return print_help_json(cli, NULL) < 0 ? DROVER_EXIT_ERROR : DROVER_EXIT_OK;
		print_usage(stdout);
		return DROVER_EXIT_OK;
	}
	for (; i < argc; i++) {
		if (!table)
			return usage_error("'%s' has no subcommand '%s'", c->path, argv[i]);
		c = find_command(table, argv[i]);
		if (!c || c->hidden)
			return usage_error("no such command '%s'", argv[i]);
		table = c->sub;
	}
	if (cli->output == OUTPUT_JSON)
		return print_help_json(cli, c) < 0 ? DROVER_EXIT_ERROR : DROVER_EXIT_OK;
	print_command_usage(stdout, c);
	return DROVER_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct cli cli = {
	    .output = OUTPUT_TEXT,
	    .timeout_ms = DEFAULT_TIMEOUT_S * 1000,
	};
	int i, r;

	i = parse_common_options(&cli, NULL, argc, argv, true);
	if (i < 0)
		r = done_exit_code(i);
	else
		r = dispatch(&cli, NULL, commands, argc - i, argv + i);

	/* A full disk or closed pipe must not pass for success. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "drover: cannot write to standard output: %s\n", strerror(errno));
		if (r == DROVER_EXIT_OK)
			r = DROVER_EXIT_ERROR;
	}
	return r;
}

/* `debug blackbox [--print]` */
static int cmd_debug_blackbox(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__DebugBlackboxRequest bb = DROVER__DEBUG_BLACKBOX_REQUEST__INIT;
	_cleanup_envelope_ Drover__Envelope *env = NULL;
	const char *path;
	int print, r;

	print = take_flag(&argc, argv, "--print");
	if (print < 0)
		return DROVER_EXIT_USAGE;
	req.req_case = DROVER__CTL_REQUEST__REQ_DEBUG_BLACKBOX;
	req.debug_blackbox = &bb;
	r = read_command(cli, cmd, argc, argv, &req, &env);
	if (r != DROVER_EXIT_OK || !env) /* !env: --help or --version was answered */
		return r;
	path = env->ctl_response->blackbox_path;
	if (!path || !*path) {
		fprintf(stderr, "drover: droverd's answer names no file\n");
		return DROVER_EXIT_SOFTWARE;
	}
	if (cli->output == OUTPUT_JSON) {
		_cleanup_json_ struct json_object *o = json_object_new_object();

		json_object_object_add(o, "path", json_object_new_string(path));
		print_json(cli, o);
	} else {
		printf("%s\n", path);
	}
	if (!print)
		return DROVER_EXIT_OK;
	fflush(stdout);
	if (access(path, R_OK) < 0) {
		fprintf(stderr, "drover: cannot read '%s': %s\n", path, strerror(errno));
		return errno == EACCES ? DROVER_EXIT_INSUFFICIENT_PRIV : DROVER_EXIT_ERROR;
	}
	/*
	 * libqb ends its walk of the ring with -ETIMEDOUT (and says "ERROR" on
	 * stdout, as qb-blackbox does): that is the end of a good file.
	 */
	r = qb_log_blackbox_print_from_file(path);
	if (r < 0 && r != -ETIMEDOUT) {
		fprintf(stderr, "drover: '%s' is not a blackbox libqb can read\n", path);
		return DROVER_EXIT_ERROR;
	}
	return DROVER_EXIT_OK;
}
