/*
 * The CLI's command tree (the table lives in drover.c): what usage, `drover
 * help` and `drover complete` walk. A group such as "node" holds its own
 * table of subcommands; a leaf has a function.
 *
 * A leaf's args synopsis is also what completion and the man page test read
 * its options from: "NODE [--wait[=SECONDS]] [--dry-run]" says that --wait
 * takes an optional value after '=', --dry-run none, and that the one
 * argument is a node name. Keep every option of a leaf in its synopsis.
 */
#ifndef DROVER_COMMANDS_H
#define DROVER_COMMANDS_H

#include <stdbool.h>

#include "output.h"

struct cli {
	enum output_format output;
	int timeout_ms;
	const char *command; /* the leaf being run ("vm list"): the JSON envelope names it */
};

struct command;
typedef int (*command_fn)(struct cli *cli, const struct command *cmd, int argc, char **argv);

struct command {
	const char *name;
	const char *args;          /* synopsis of the arguments, for usage */
	const char *summary;       /* one line, for usage */
	command_fn run;            /* a leaf, or NULL for a group */
	const struct command *sub; /* a group's subcommands, ended by a zero row */
	int arg;                   /* a constant the function needs, e.g. a node state */
	const char *path;          /* "node maintenance": set for usage and messages */
	const char *help;          /* more lines for 'drover help COMMAND', or NULL */
	bool hidden;               /* not in usage, help or completion (`complete`) */
};

/*
 * `drover complete WORD...`: the candidates for the last WORD (the one being
 * typed, "" for a new one), one per line on stdout, given the words before it
 * (the command line after "drover"). Subcommands and options come from the
 * table root; node, VM and network names from the local droverd, asked with
 * a short deadline: when it does not answer, there are no names, and the
 * process never waits longer than about two seconds in all. A first line
 * ":file" asks the shell for file names instead. Returns the exit code (0).
 */
int complete_run(const struct command *root, int nwords, char **words);

#endif
