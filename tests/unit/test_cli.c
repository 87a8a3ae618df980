/* SPDX-License-Identifier: MIT */
/* The rules of the command-line layer that need no process: when to draw
 * in colour. (tests/integration/test_cli.c runs every subcommand.) */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
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
