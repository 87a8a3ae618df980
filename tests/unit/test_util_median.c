/* SPDX-License-Identifier: MIT */
/* vhm_median: the middle sample of an odd count, the mean of the middle two
 * of an even one, 0 of none; the samples come back sorted. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "util.h"

Test(util_median, odd_count_is_the_middle_sample)
{
	double v[] = { 9, 1, 5, 7, 3 };

	cr_assert(eq(dbl, vhm_median(v, 5), 5.0));
	for (int i = 1; i < 5; i++)
		cr_assert(le(dbl, v[i - 1], v[i]), "not sorted at %d", i);
}

Test(util_median, even_count_is_the_mean_of_the_middle_two)
{
	double v[] = { 4, 1, 10, 2 };

	cr_assert(eq(dbl, vhm_median(v, 4), 3.0));
}

Test(util_median, none_is_zero)
{
	double v[1] = { 42 };

	cr_assert(eq(dbl, vhm_median(v, 0), 0.0));
	cr_assert(eq(dbl, v[0], 42.0));
}
