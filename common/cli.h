/* SPDX-License-Identifier: MIT */
/* cli — the one command-line layer of the single `vhm` binary, git style.
 *
 * Each command lives in its module and has the signature of vhm_cmd_fn;
 * argv[0] is the command name. main registers the table of commands once
 * (vhm_cli_register), so this layer knows nothing above common/.
 *
 * Every command parses its options with vhm_cli_next(), which gives all of
 * them the same behaviour:
 *   -h/--help        usage on stdout, exit 0
 *   a usage error    exactly one line on stderr,
 *                    "vhm CMD: what was wrong (see 'vhm help CMD')", exit 2
 * Numbers are decimal (vhm_parse_u64), durations take one syntax
 * (vhm_parse_duration_ms: "250ms", "5s", "2m", "1h"; a bare number is
 * seconds). docs/cli.md is the user's side of these rules. */
#ifndef VHM_CLI_H
#define VHM_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

typedef int (*vhm_cmd_fn)(int argc, char **argv);

struct vhm_cmd {
	const char *name;
	vhm_cmd_fn fn;
	const char *summary; /* one line for `vhm help` */
	const char *usage;   /* full text for `vhm help NAME` and --help */
};

/* The table of commands; main calls this before running one. The table is
 * borrowed, not copied: it must outlive every call below. */
void vhm_cli_register(const struct vhm_cmd *table, size_t n);
/* The registered command called `name`, or NULL. */
const struct vhm_cmd *vhm_cli_find(const char *name);

/* One line on stderr, "vhm CMD: <fmt> (see 'vhm help CMD')". Returns
 * VHM_EXIT_USAGE, so callers can `return vhm_usage_error(...)`. */
int vhm_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- options ------------------------------------------------------------- */

#define VHM_CLI_MAX_LONG 32     /* long options per command, "help" included */

/* What vhm_cli_next returns besides an option's value (which is > 0). */
enum {
	VHM_CLI_END = -1,       /* no more options; operands start at optind */
	VHM_CLI_HELP = -2,      /* -h/--help: the usage is on stdout; exit 0 */
	VHM_CLI_BAD = -3,       /* unknown option or missing value: one line on
				 * stderr; exit VHM_EXIT_USAGE */
};

/* One command's option parser. Fill the first three fields; the rest is the
 * parser's (the short and long option lists with -h/--help added). */
struct vhm_cli {
	const char *cmd;                /* "run": messages and the usage to print */
	const char *shortopts;          /* as getopt's, without ':' and 'h'; may start
					 * with '+' (stop at the first operand) */
	const struct option *longopts;  /* NULL-terminated, without "help"; may be NULL */
	bool started;
	char shorts[64];
	struct option longs[VHM_CLI_MAX_LONG + 1];
};

/* The next option, as getopt_long returns it (optarg set), or one of the
 * VHM_CLI_* results above. The first call resets getopt, so a command may
 * parse more than once in a process. A value outside the command's own
 * options never reaches it: help and errors are handled here. */
int vhm_cli_next(struct vhm_cli *p, int argc, char **argv);

/* The exit status for what a command's parsing returned: 0 after --help
 * (VHM_CLI_HELP), VHM_EXIT_USAGE after VHM_CLI_BAD, else rc itself. */
int vhm_cli_status(int rc);

/* ---- output --------------------------------------------------------------- */

/* Whether to draw in colour, given $NO_COLOR and $TERM (either may be NULL):
 * not when NO_COLOR is set to anything non-empty (no-color.org) or when TERM
 * is "dumb". */
bool vhm_cli_use_color(const char *no_color, const char *term);

#endif
