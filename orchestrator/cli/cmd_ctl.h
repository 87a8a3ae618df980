/* SPDX-License-Identifier: MIT */
/* cmd_ctl — `vhm status`, `vhm stop`, `vhm list`: thin clients of the
 * control socket of running instances (ctl.h), and what every such client
 * shares (cmd_ctl_*): the --run-dir/--json/--timeout options, connecting
 * with one clear line when nobody is there, the exit status of a failed
 * call, and printing a reply as "key: value" lines or one JSON line. */
#ifndef VHM_CMD_CTL_H
#define VHM_CMD_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct ctl_client;

enum { CMD_CTL_JSON = 1, CMD_CTL_TIMEOUT = 2 }; /* options beyond --run-dir */

struct ctl_opts {
	const char *cmd;      /* "status", for messages */
	const char *run_dir;  /* resolved */
	const char *name;
	bool json;
	uint64_t timeout_ms;
};

/* Apply option c as getopt returned it: 'd' (--run-dir), 'j' (--json), 't'
 * (--timeout T, optarg). 0, VHM_EXIT_USAGE after a bad value, 0 for others. */
int cmd_ctl_opt(struct ctl_opts *o, int c);
/* Connect to o->name in o->run_dir; VHM_EXIT_PEER with one line on stderr
 * ("no instance NAME in DIR") when that fails. */
int cmd_ctl_open(const struct ctl_opts *o, struct ctl_client **c);
/* One line "vhm CMD: NAME: err"; the exit status: 1 for an error reply
 * (-EREMOTEIO, the instance said no), 3 for anything else (the link). */
int cmd_ctl_failed(const struct ctl_opts *o, int rc, const char *err);
/* A reply as "key: value" lines, nested objects indented by two. */
void cmd_ctl_print_human(FILE *out, const json_t *ret);
/* A reply as one compact JSON line. 0 or -ENOMEM. */
int cmd_ctl_print_json(FILE *out, const json_t *v);

#define CTL_RUN_DIR_HELP \
	"  -d, --run-dir DIR  where instances' sockets are (default $VHM_RUN_DIR,\n" \
	"                     else /run/vhm)\n"

#define CTL_STATUS_USAGE \
	"usage: vhm status NAME [--json] [--run-dir DIR] [--timeout T]\n" \
	"\n" \
	"Ask running instance NAME (or the socket at path NAME, if it has a '/')\n" \
	"for its status and print it as \"key: value\" lines, nested objects indented.\n" \
	"\n" \
	"  -j, --json         print the status as one JSON object on one line\n" \
	CTL_RUN_DIR_HELP \
	"  -t, --timeout T    give up after T (\"500ms\", \"5s\"; default 5s)\n" \
	"\n" \
	"Exit status: 0 ok, 1 the instance answered with an error, 2 bad arguments,\n" \
	"3 no such instance or a connection problem.\n"

#define CTL_STOP_USAGE \
	"usage: vhm stop NAME [--timeout T] [--run-dir DIR]\n" \
	"\n" \
	"Ask running instance NAME to stop, and wait until it has closed its\n" \
	"control socket.\n" \
	"\n" \
	"  -t, --timeout T    wait at most T (\"500ms\", \"10s\", \"1m\"; default 10s)\n" \
	CTL_RUN_DIR_HELP \
	"\n" \
	"Exit status: 0 stopped, 1 refused or still running after T,\n" \
	"2 bad arguments, 3 no such instance or a connection problem.\n"

#define CTL_LIST_USAGE \
	"usage: vhm list [--json] [--run-dir DIR]\n" \
	"\n" \
	"List the instances with a socket in the run dir: name, pid and state.\n" \
	"A socket nobody answers on is listed as \"stale\".\n" \
	"\n" \
	"  -j, --json         print one JSON array of {\"name\", \"pid\", \"state\"}\n" \
	CTL_RUN_DIR_HELP \
	"\n" \
	"Exit status: 0 listed (also when empty), 2 bad arguments, 3 unreadable dir.\n"

int cmd_status(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_list(int argc, char **argv);

#endif
