/* SPDX-License-Identifier: MIT */
/* The rules of the command-line layer that need no process: when to draw
 * in colour, how numbers and durations are read, and what the option parser
 * says about a bad option (stderr redirected and compared whole). (tests/
 * integration/test_cli.c runs every subcommand.) */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util.h"

struct colour_case {
	char no_color[8];       /* "-": unset */
	char term[16];          /* "-": unset */
	bool want;
};

ParameterizedTestParameters(cli_rules, colour_follows_no_color_and_term)
{
	static struct colour_case cases[] = {
		{ "-", "xterm-256color", true },
		{ "-", "-", true },
		{ "", "xterm", true },          /* NO_COLOR set but empty: no effect */
		{ "1", "xterm", false },
		{ "0", "xterm", false },        /* any non-empty value */
		{ "-", "dumb", false },
		{ "1", "dumb", false },
		{ "-", "dumber", true },
	};

	return cr_make_param_array(struct colour_case, cases, VHM_ARRAY_SIZE(cases));
}

ParameterizedTest(struct colour_case *c, cli_rules, colour_follows_no_color_and_term)
{
	const char *nc = strcmp(c->no_color, "-") ? c->no_color : NULL;
	const char *term = strcmp(c->term, "-") ? c->term : NULL;

	cr_assert(eq(int, vhm_cli_use_color(nc, term), c->want), "NO_COLOR=%s TERM=%s",
		  c->no_color, c->term);
}

/* ---- numbers: decimal only ---- */

struct num_case {
	char s[24];
	int rc;
	unsigned long long want;
};

ParameterizedTestParameters(cli_rules, numbers_are_decimal)
{
	static struct num_case cases[] = {
		{ "0", 0, 0 }, { "8", 0, 8 }, { "08", 0, 8 }, { "010", 0, 10 },
		{ "18446744073709551615", 0, 18446744073709551615ull },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "0x10", -EINVAL, 0 }, { "", -EINVAL, 0 }, { "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 }, { " 1", -EINVAL, 0 }, { "1 ", -EINVAL, 0 },
		{ "1k", -EINVAL, 0 }, { "abc", -EINVAL, 0 },
	};

	return cr_make_param_array(struct num_case, cases, VHM_ARRAY_SIZE(cases));
}

ParameterizedTest(struct num_case *c, cli_rules, numbers_are_decimal)
{
	uint64_t v = 12345;

	cr_assert(eq(int, vhm_parse_u64(c->s, &v), c->rc), "'%s'", c->s);
	if (!c->rc)
		cr_assert(eq(u64, v, c->want), "'%s'", c->s);
}

Test(cli_rules, addresses_take_0x_hex_or_decimal)
{
	uint64_t v;

	cr_assert(eq(int, vhm_parse_addr("0x7f00", &v), 0));
	cr_assert(eq(u64, v, 0x7f00));
	cr_assert(eq(int, vhm_parse_addr("4096", &v), 0));
	cr_assert(eq(u64, v, 4096));
	cr_assert(eq(int, vhm_parse_addr("0x", &v), -EINVAL));
	cr_assert(eq(int, vhm_parse_addr("0xg", &v), -EINVAL));
	cr_assert(eq(int, vhm_parse_addr("0x-1", &v), -EINVAL));
	cr_assert(eq(int, vhm_parse_addr("0x0x10", &v), -EINVAL));
}

/* ---- durations: one syntax, a bare number is seconds ---- */

struct dur_case {
	char s[16];
	int rc;
	unsigned long long ms;
};

ParameterizedTestParameters(cli_rules, durations_have_one_syntax)
{
	static struct dur_case cases[] = {
		{ "250ms", 0, 250 }, { "5s", 0, 5000 }, { "2m", 0, 120000 }, { "1h", 0, 3600000 },
		{ "5", 0, 5000 }, { "500", 0, 500000 }, { "0.5", 0, 500 }, { "1.5s", 0, 1500 },
		{ "08", 0, 8000 }, { "0", 0, 0 },
		{ "", -EINVAL, 0 }, { "5x", -EINVAL, 0 }, { "s", -EINVAL, 0 }, { "-1s", -EINVAL, 0 },
		{ "5 s", -EINVAL, 0 }, { "5S", -EINVAL, 0 }, { "1d", -EINVAL, 0 },
		{ "0x10s", -EINVAL, 0 }, { "1e3", -EINVAL, 0 }, { ".", -EINVAL, 0 },
		{ "1.2.3s", -EINVAL, 0 }, { ".5s", 0, 500 },
	};

	return cr_make_param_array(struct dur_case, cases, VHM_ARRAY_SIZE(cases));
}

ParameterizedTest(struct dur_case *c, cli_rules, durations_have_one_syntax)
{
	uint64_t ms = 12345;

	cr_assert(eq(int, vhm_parse_duration_ms(c->s, &ms), c->rc), "'%s'", c->s);
	if (!c->rc)
		cr_assert(eq(u64, ms, c->ms), "'%s'", c->s);
}

/* ---- the option parser, in this process ---- */

static const struct vhm_cmd demo_cmds[] = {
	{ "demo", NULL, "a command for these tests", "usage: vhm demo [--json] [--timeout DUR]\n" },
};

static void redirect_both(void)
{
	vhm_cli_register(demo_cmds, VHM_ARRAY_SIZE(demo_cmds));
	cr_redirect_stdout();
	cr_redirect_stderr();
}

struct parse_case {
	char args[4][16];       /* after "demo"; "" ends the list */
	int last;               /* what vhm_cli_next returns last */
	char err[96];           /* all of stderr */
};

ParameterizedTestParameters(cli_parse, one_line_naming_the_option)
{
	static struct parse_case cases[] = {
		{ { "-jx" }, VHM_CLI_BAD, "vhm demo: unknown option '-x' (see 'vhm help demo')\n" },
		{ { "--json", "-jQ" }, VHM_CLI_BAD,
		  "vhm demo: unknown option '-Q' (see 'vhm help demo')\n" },
		{ { "--bogus=3" }, VHM_CLI_BAD,
		  "vhm demo: unknown option '--bogus' (see 'vhm help demo')\n" },
		{ { "--json=1" }, VHM_CLI_BAD,
		  "vhm demo: option '--json' takes no value (see 'vhm help demo')\n" },
		{ { "--ti" }, VHM_CLI_BAD,
		  "vhm demo: option '--ti' needs a value (see 'vhm help demo')\n" },
		{ { "-j", "-t" }, VHM_CLI_BAD,
		  "vhm demo: option '-t' needs a value (see 'vhm help demo')\n" },
		{ { "--he" }, VHM_CLI_HELP, "" },
		{ { "x", "--json", "-t5s" }, VHM_CLI_END, "" },
	};

	return cr_make_param_array(struct parse_case, cases, VHM_ARRAY_SIZE(cases));
}

ParameterizedTest(struct parse_case *c, cli_parse, one_line_naming_the_option,
		  .init = redirect_both)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct vhm_cli p = { .cmd = "demo", .shortopts = "jt:", .longopts = opts };
	char *argv[6] = { "demo" };
	int argc = 1, o;

	for (int i = 0; i < 4 && c->args[i][0]; i++)
		argv[argc++] = c->args[i];
	while ((o = vhm_cli_next(&p, argc, argv)) > 0)
		cr_assert(o == 'j' || o == 't', "option %d", o);
	cr_assert(eq(int, o, c->last), "%s", c->args[0]);
	fflush(stderr);
	cr_assert_stderr_eq_str(c->err, "%s", c->args[0]);
}

Test(cli_parse, help_prints_the_registered_usage_on_stdout, .init = redirect_both)
{
	struct vhm_cli p = { .cmd = "demo" };
	char *argv[] = { "demo", "-h", NULL };

	cr_assert(eq(int, vhm_cli_next(&p, 2, argv), VHM_CLI_HELP));
	cr_assert(eq(int, vhm_cli_status(VHM_CLI_HELP), VHM_EXIT_OK));
	cr_assert(eq(int, vhm_cli_status(VHM_CLI_BAD), VHM_EXIT_USAGE));
	fflush(stdout);
	cr_assert_stdout_eq_str("usage: vhm demo [--json] [--timeout DUR]\n");
}

Test(cli_rules, sizes_are_decimal_too)
{
	uint64_t v;

	cr_assert(eq(int, vhm_parse_size("08M", &v), 0));
	cr_assert(eq(u64, v, 8 * 1048576ull));
	cr_assert(eq(int, vhm_parse_size("1.5K", &v), 0));
	cr_assert(eq(u64, v, 1536));
	cr_assert(eq(int, vhm_parse_size("0x10M", &v), -EINVAL));
	cr_assert(eq(int, vhm_parse_size("1e3", &v), -EINVAL));
}

/* Sizes are printed in the units the size flags take (IEC): what --mem 256M
 * gives prints as 256.0 MiB, and the printed figure parses back. */
struct bytes_case {
	double bytes;
	char want[16];
};

static struct bytes_case bytes_cases[] = {
	{ 0, "0 B" }, { 1023, "1023 B" }, { 1024, "1.0 KiB" }, { 1536, "1.5 KiB" },
	{ 848.0 * 1024, "848.0 KiB" }, { 256.0 * 1048576, "256.0 MiB" },
	{ 1.5 * 1073741824, "1.50 GiB" }, { 64.0 * 1073741824, "64.0 GiB" },
	{ 2.0 * 1099511627776, "2.00 TiB" },
};

ParameterizedTestParameters(cli_rules, sizes_print_in_iec_units)
{
	return cr_make_param_array(struct bytes_case, bytes_cases, VHM_ARRAY_SIZE(bytes_cases));
}

ParameterizedTest(struct bytes_case *c, cli_rules, sizes_print_in_iec_units)
{
	char out[24], flag[24], *sp;
	uint64_t back;

	vhm_format_bytes(c->bytes, out, sizeof(out));
	cr_assert(eq(str, out, c->want));
	/* "256.0 MiB" is what --mem 256.0MiB means */
	snprintf(flag, sizeof(flag), "%s", out);
	sp = strchr(flag, ' ');
	memmove(sp, sp + 1, strlen(sp));
	cr_assert(eq(int, vhm_parse_size(flag, &back), 0), "%s does not parse", flag);
	cr_assert(eq(dbl, (double)back, c->bytes));
}
