/* SPDX-License-Identifier: MIT */
/* cli — the command-line layer every vhm subcommand shares: the registered
 * table of commands (for usage texts), the one-line usage error, and a
 * wrapper around getopt_long that adds -h/--help and turns getopt's own
 * complaints (silenced with opterr = 0) into vhm's one-line form. Read
 * cli.h first; vhm_cli_next() is the part every command calls. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static const struct vhm_cmd *commands;
static size_t ncommands;

void vhm_cli_register(const struct vhm_cmd *table, size_t n)
{
	commands = table;
	ncommands = n;
}

const struct vhm_cmd *vhm_cli_find(const char *name)
{
	for (size_t i = 0; i < ncommands; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int vhm_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vhm %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'vhm help %s')\n", cmd);
	return VHM_EXIT_USAGE;
}

/* ---- options ------------------------------------------------------------- */

/* "+:" (or ":") + the command's short options + "h": ':' makes getopt
 * return ':' for a missing value instead of '?'. */
static int build_shorts(struct vhm_cli *p)
{
	const char *s = p->shortopts ? p->shortopts : "";
	bool plus = *s == '+';
	int n;

	n = snprintf(p->shorts, sizeof(p->shorts), "%s:%sh", plus ? "+" : "", s + plus);
	return n < 0 || (size_t)n >= sizeof(p->shorts) ? -1 : 0;
}

static int build_longs(struct vhm_cli *p)
{
	size_t n = 0;

	for (; p->longopts && p->longopts[n].name; n++) {
		if (n == VHM_CLI_MAX_LONG - 1)
			return -1;
		p->longs[n] = p->longopts[n];
	}
	p->longs[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	p->longs[n] = (struct option){ NULL, 0, NULL, 0 };
	return 0;
}

/* 0, or -ENOSPC when the command has more options than fit: a programming
 * error (the tables are constants), found by the first test that runs it. */
static int start(struct vhm_cli *p)
{
	p->started = true;
	if (build_shorts(p) || build_longs(p)) {
		fprintf(stderr, "vhm %s: internal error: too many options\n", p->cmd);
		return -ENOSPC;
	}
	opterr = 0;
	optind = 0; /* full reset (glibc): the command may parse more than once */
	return 0;
}

/* Was the option getopt just refused the long one in `arg`? A short option
 * in the middle of a group ("-xj") leaves optind on the group, so argv[optind
 * - 1] may be an earlier, valid "--name": it counts only if it names the
 * refused option (optopt, 0 for an unknown long one). Abbreviations count. */
static bool refused_long(const struct vhm_cli *p, const char *arg)
{
	size_t n;

	if (strncmp(arg, "--", 2) || !arg[2])
		return false;
	if (!optopt)
		return true;
	n = strcspn(arg + 2, "=");
	for (const struct option *o = p->longs; o->name; o++)
		if (o->val == optopt && !strncmp(o->name, arg + 2, n))
			return true;
	return false;
}

/* The option getopt just refused, as the user wrote it: "--name" (without
 * any "=value") or "-x". Sets *had_value for "--flag=value". */
static void refused_name(const struct vhm_cli *p, char **argv, char *out, size_t len,
			 bool *had_value)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	size_t n;

	*had_value = false;
	if (!refused_long(p, arg)) {
		snprintf(out, len, "-%c", optopt > 0 && optopt < 128 ? optopt : '?');
		return;
	}
	n = strcspn(arg, "=");
	*had_value = arg[n] == '=' && optopt;
	snprintf(out, len, "%.*s", (int)n, arg);
}

int vhm_cli_next(struct vhm_cli *p, int argc, char **argv)
{
	const struct vhm_cmd *c;
	char name[64];
	bool had_value;
	int o;

	if (!p->started && start(p))
		return VHM_CLI_BAD;
	o = getopt_long(argc, argv, p->shorts, p->longs, NULL);
	switch (o) {
	case -1:
		return VHM_CLI_END;
	case 'h':
		c = vhm_cli_find(p->cmd);
		if (c)
			fputs(c->usage, stdout);
		return VHM_CLI_HELP;
	case ':':
		refused_name(p, argv, name, sizeof(name), &had_value);
		vhm_usage_error(p->cmd, "option '%s' needs a value", name);
		return VHM_CLI_BAD;
	case '?':
		refused_name(p, argv, name, sizeof(name), &had_value);
		if (had_value)
			vhm_usage_error(p->cmd, "option '%s' takes no value", name);
		else
			vhm_usage_error(p->cmd, "unknown option '%s'", name);
		return VHM_CLI_BAD;
	default:
		return o;
	}
}

int vhm_cli_status(int rc)
{
	if (rc == VHM_CLI_HELP)
		return VHM_EXIT_OK;
	if (rc == VHM_CLI_BAD)
		return VHM_EXIT_USAGE;
	return rc;
}

/* ---- output --------------------------------------------------------------- */

bool vhm_cli_use_color(const char *no_color, const char *term)
{
	if (no_color && *no_color)
		return false;
	return !(term && !strcmp(term, "dumb"));
}
