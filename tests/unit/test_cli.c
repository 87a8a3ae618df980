/* SPDX-License-Identifier: MIT */
/* The rules of the command-line layer that need no process: when to draw
 * in colour, how numbers and durations are read. (tests/integration/
 * test_cli.c runs every subcommand.) */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdint.h>
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
