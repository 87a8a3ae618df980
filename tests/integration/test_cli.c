/* SPDX-License-Identifier: MIT */
/* The command line as one program: every subcommand in main.c's table is
 * run with -h and --help (usage on stdout, nothing on stderr, exit 0), an
 * unknown option, a bad number and a bad duration (each: nothing on stdout,
 * exactly one stderr line "vhm CMD: ... (see 'vhm help CMD')" naming the
 * option, exit 2). The table below must list exactly the commands `vhm help`
 * lists, so a new command cannot skip these rules. Then a few inputs the
 * rules must accept: leading zeros ("08" is 8) and durations with units. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "devtest.h"
#include "support.h"
#include "util.h"

/* One subcommand; "" where it has no such option. No pointers: Criterion
 * copies parameters into the test process. */
struct cmd_case {
	char cmd[16];
	char num_opt[16], num_val[8];   /* a number option and a bad value for it */
	char dur_opt[16], dur_val[8];   /* a duration option and a bad value for it */
};

/* Bad numbers: "0x10" (decimal only) and "1O" (a letter O); bad durations:
 * "1d" (no such unit) and "5x". --downtime-ms and --poll-ms carry their
 * unit in the name, so they are numbers. */
static struct cmd_case cmd_cases[] = {
	{ "probe", "", "", "--timeout", "5x" },
	{ "run", "--queues", "0x10", "--interval", "1d" },
	{ "migrate", "--downtime-ms", "5ms", "", "" },
	{ "certify", "--queues", "0x10", "--timeout", "1d" },
	{ "announce", "--rounds", "1O", "--initial", "5x" },
	{ "trace", "--pid", "0x10", "--duration", "1d" },
	{ "hook", "", "", "", "" },
	{ "libvirt-watch", "--poll-ms", "1O", "", "" },
	{ "track", "", "", "--interval", "5x" },
	{ "status", "", "", "--timeout", "1d" },
	{ "stop", "", "", "--timeout", "5x" },
	{ "top", "-n", "0x10", "-d", "1d" },
	{ "list", "", "", "", "" },
	{ "jobinfo", "", "", "--timeout", "1d" },
	{ "events", "", "", "--timeout", "5x" },
	{ "set", "--traffic", "0x10", "--timeout", "1d" },
	{ "predict", "--max-rounds", "1O", "--timeout", "5x" },
	{ "call", "", "", "--timeout", "1d" },
	{ "dirty-rate", "--seconds", "0x10", "", "" },
	{ "help", "", "", "", "" },
};

static void fini(void)
{
	ts_cleanup();
}

/* stderr is the one usage-error line of `cmd`, naming `what`. */
static void expect_usage_error(const char *cmd, const char *const args[], const char *what)
{
	char head[64], tail[64];
	struct ts_run r;
	size_t n, t;

	dt_vhm(args, &r);
	snprintf(head, sizeof(head), "vhm %s: ", cmd);
	snprintf(tail, sizeof(tail), " (see 'vhm help %s')\n", cmd);
	n = strlen(r.err);
	t = strlen(tail);
	cr_assert(eq(int, r.status, VHM_EXIT_USAGE), "vhm %s %s: exit %d, stderr: %s", cmd, what,
		  r.status, r.err);
	cr_assert(eq(str, r.out, ""), "vhm %s %s: stdout: %s", cmd, what, r.out);
	cr_assert(eq(int, ts_count_lines(r.err), 1), "vhm %s %s: stderr: %s", cmd, what, r.err);
	cr_assert(eq(int, strncmp(r.err, head, strlen(head)), 0), "stderr: %s", r.err);
	cr_assert(n > t && !strcmp(r.err + n - t, tail), "stderr does not end '%s': %s", tail,
		  r.err);
	cr_assert(not(eq(ptr, strstr(r.err, what), NULL)), "stderr does not name %s: %s", what,
		  r.err);
	ts_run_free(&r);
}

ParameterizedTestParameters(cli, help_prints_usage_on_stdout_and_exits_0)
{
	return cr_make_param_array(struct cmd_case, cmd_cases, VHM_ARRAY_SIZE(cmd_cases));
}

ParameterizedTest(struct cmd_case *c, cli, help_prints_usage_on_stdout_and_exits_0,
		  .fini = fini, .timeout = 30)
{
	static const char *const flags[] = { "--help", "-h" };
	const char *via_help[] = { "help", c->cmd, NULL };
	char want[64];
	struct ts_run h;

	snprintf(want, sizeof(want), "usage: vhm %s", c->cmd);
	dt_vhm(via_help, &h);
	cr_assert(eq(int, h.status, 0), "vhm help %s: exit %d: %s", c->cmd, h.status, h.err);
	for (size_t i = 0; i < VHM_ARRAY_SIZE(flags); i++) {
		const char *args[] = { c->cmd, flags[i], NULL };
		struct ts_run r;

		dt_vhm(args, &r);
		cr_assert(eq(int, r.status, 0), "vhm %s %s: exit %d", c->cmd, flags[i], r.status);
		cr_assert(eq(str, r.err, ""), "vhm %s %s: stderr: %s", c->cmd, flags[i], r.err);
		cr_assert(eq(int, strncmp(r.out, want, strlen(want)), 0), "vhm %s %s: stdout: %s",
			  c->cmd, flags[i], r.out);
		cr_assert(eq(str, r.out, h.out), "vhm %s %s differs from vhm help %s", c->cmd,
			  flags[i], c->cmd);
		ts_run_free(&r);
	}
	ts_run_free(&h);
}

ParameterizedTestParameters(cli, unknown_option_is_one_line_exit_2)
{
	return cr_make_param_array(struct cmd_case, cmd_cases, VHM_ARRAY_SIZE(cmd_cases));
}

ParameterizedTest(struct cmd_case *c, cli, unknown_option_is_one_line_exit_2, .fini = fini,
		  .timeout = 30)
{
	const char *bogus[] = { c->cmd, "--bogus", NULL };
	const char *bogus_val[] = { c->cmd, "--bogus=1", NULL };
	const char *short_x[] = { c->cmd, "-Z", NULL };

	expect_usage_error(c->cmd, bogus, "unknown option '--bogus'");
	expect_usage_error(c->cmd, bogus_val, "unknown option '--bogus'");
	expect_usage_error(c->cmd, short_x, "unknown option '-Z'");
}

ParameterizedTestParameters(cli, bad_number_is_one_line_exit_2)
{
	return cr_make_param_array(struct cmd_case, cmd_cases, VHM_ARRAY_SIZE(cmd_cases));
}

ParameterizedTest(struct cmd_case *c, cli, bad_number_is_one_line_exit_2, .fini = fini,
		  .timeout = 30)
{
	const char *args[] = { c->cmd, c->num_opt, c->num_val, NULL };
	const char *missing[] = { c->cmd, c->num_opt, NULL };
	char needs[48];

	if (!c->num_opt[0])
		cr_skip_test("vhm %s takes no number", c->cmd);
	expect_usage_error(c->cmd, args, c->num_opt);
	snprintf(needs, sizeof(needs), "option '%s' needs a value", c->num_opt);
	expect_usage_error(c->cmd, missing, needs);
}

ParameterizedTestParameters(cli, bad_duration_is_one_line_exit_2)
{
	return cr_make_param_array(struct cmd_case, cmd_cases, VHM_ARRAY_SIZE(cmd_cases));
}

ParameterizedTest(struct cmd_case *c, cli, bad_duration_is_one_line_exit_2, .fini = fini,
		  .timeout = 30)
{
	const char *args[] = { c->cmd, c->dur_opt, c->dur_val, NULL };

	if (!c->dur_opt[0])
		cr_skip_test("vhm %s takes no duration", c->cmd);
	expect_usage_error(c->cmd, args, c->dur_opt);
}

/* The commands `vhm help` lists: the lines after "commands:" up to the
 * first empty one, each "  NAME  summary". */
static size_t listed_commands(const char *out, char names[][16], size_t max)
{
	const char *p = strstr(out, "commands:\n");
	size_t n = 0;

	cr_assert(not(eq(ptr, (void *)p, NULL)), "no 'commands:' in vhm help: %s", out);
	for (p = strchr(p, '\n') + 1; *p == ' ' && n < max; p = strchr(p, '\n') + 1) {
		cr_assert(eq(int, sscanf(p, "%15s", names[n]), 1));
		n++;
	}
	return n;
}

Test(cli, table_covers_every_command, .fini = fini, .timeout = 30)
{
	const char *args[] = { "help", NULL };
	char names[64][16];
	struct ts_run r;
	size_t n;

	dt_vhm(args, &r);
	cr_assert(eq(int, r.status, 0), "vhm help: exit %d", r.status);
	n = listed_commands(r.out, names, VHM_ARRAY_SIZE(names));
	cr_assert(eq(sz, n, VHM_ARRAY_SIZE(cmd_cases)), "vhm help lists %zu commands, the test "
		  "has %zu", n, VHM_ARRAY_SIZE(cmd_cases));
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (size_t j = 0; j < VHM_ARRAY_SIZE(cmd_cases); j++)
			found |= !strcmp(names[i], cmd_cases[j].cmd);
		cr_assert(found, "vhm help lists '%s', which this test does not run", names[i]);
	}
	ts_run_free(&r);
}

/* ---- what the rules accept ---- */

/* Inputs the rules accept: the command gets past its command line (exit 0, or
 * 3 because nothing is there to connect to), never exit 2. */
struct ok_case {
	char args[10][24];      /* "" ends the list; "@DIR@" is an empty run dir */
	int status;
};

ParameterizedTestParameters(cli, decimal_and_durations_are_accepted)
{
	static struct ok_case cases[] = {
		{ { "run", "--backend", "/nonexistent.sock", "--queues", "08", "--timeout",
		    "500ms", "--run-dir", "@DIR@" }, VHM_EXIT_PEER },
		{ { "probe", "/nonexistent.sock", "--timeout", "2" }, VHM_EXIT_PEER },
		{ { "probe", "/nonexistent.sock", "--timeout=1.5s" }, VHM_EXIT_PEER },
		{ { "status", "x", "--timeout", "250ms", "--run-dir", "@DIR@" }, VHM_EXIT_PEER },
		{ { "stop", "x", "-t", "1m", "-d", "@DIR@" }, VHM_EXIT_PEER },
		{ { "top", "-b", "-n", "01", "-d", "100ms", "--run-dir", "@DIR@" }, VHM_EXIT_OK },
		{ { "top", "-b", "-n", "1", "-d", "0.5", "--run-dir", "@DIR@" }, VHM_EXIT_OK },
		{ { "track", "x", "--interval", "1s", "--duration", "2m", "--run-dir", "@DIR@" },
		  VHM_EXIT_PEER },
	};

	return cr_make_param_array(struct ok_case, cases, VHM_ARRAY_SIZE(cases));
}

ParameterizedTest(struct ok_case *c, cli, decimal_and_durations_are_accepted, .fini = fini,
		  .timeout = 30)
{
	const char *args[11] = { NULL };
	struct ts_run r;

	for (int i = 0; i < 10 && c->args[i][0]; i++)
		args[i] = strcmp(c->args[i], "@DIR@") ? c->args[i] : ts_dir();
	dt_vhm(args, &r);
	cr_assert(eq(int, r.status, c->status), "vhm %s ...: exit %d, stderr: %s", c->args[0],
		  r.status, r.err);
	ts_run_free(&r);
}

/* `vhm migrate --domain` has options of its own, checked by the same rules
 * before anything connects to libvirt. */
Test(cli, migrate_domain_usage_errors, .fini = fini)
{
	const char *bw[] = { "migrate", "--domain", "d", "--to-uri", "u", "--bandwidth", "1O", NULL };
	const char *ds[] = { "migrate", "--domain", "d", "--to-uri", "u", "--dirty-seconds", "0x10",
			     NULL };
	const char *to[] = { "migrate", "--domain", "d", NULL };
	const char *extra[] = { "migrate", "--domain", "d", "--to-uri", "u", "dev", NULL };

	expect_usage_error("migrate", bw, "--bandwidth");
	expect_usage_error("migrate", ds, "--dirty-seconds");
	expect_usage_error("migrate", to, "--to-uri");
	expect_usage_error("migrate", extra, "'dev'");
}
