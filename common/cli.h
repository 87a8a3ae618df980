/* SPDX-License-Identifier: MIT */
/* cli — the subcommand table of the single `vhm` binary, git style.
 * Each command lives in its module and has the signature of vhm_cmd_fn;
 * argv[0] is the command name, so getopt_long works unchanged. */
#ifndef VHM_CLI_H
#define VHM_CLI_H

typedef int (*vhm_cmd_fn)(int argc, char **argv);

struct vhm_cmd {
	const char *name;
	vhm_cmd_fn fn;
	const char *summary; /* one line for `vhm help` */
	const char *usage;   /* full text for `vhm help NAME` and usage errors */
};

/* Print a command's usage to stderr and return VHM_EXIT_USAGE. */
int vhm_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The usage text of a command (NULL if unknown). */
const char *vhm_cmd_usage(const char *name);

#endif
