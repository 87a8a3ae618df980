/* SPDX-License-Identifier: MIT */
/* vhm_err: the one-statement failure of every call that reports into a
 * caller's buffer — the message is formatted (and truncated, never
 * overflowed), the code comes back unchanged, errno is left as it was. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <string.h>

#include "util.h"

Test(util_err, formats_the_message_and_returns_the_code)
{
	char err[64] = "";

	cr_assert(eq(int, vhm_err(err, sizeof(err), -EINVAL, "argument '%s': bad %d", "x", 7),
		     -EINVAL));
	cr_assert(eq(str, err, "argument 'x': bad 7"));
}

Test(util_err, truncates_to_the_buffer)
{
	char err[8];

	memset(err, 'z', sizeof(err));
	cr_assert(eq(int, vhm_err(err, 4, -EIO, "%s", "abcdef"), -EIO));
	cr_assert(eq(str, err, "abc"));
	cr_assert(eq(chr, err[4], 'z'));
}

Test(util_err, zero_length_buffer_is_left_alone)
{
	char err[4] = "old";

	cr_assert(eq(int, vhm_err(err, 0, -ENOMEM, "out of memory"), -ENOMEM));
	cr_assert(eq(str, err, "old"));
}

Test(util_err, errno_is_preserved)
{
	char err[16];

	errno = EAGAIN;
	cr_assert(eq(int, vhm_err(err, sizeof(err), -errno, "%s", strerror(errno)), -EAGAIN));
	cr_assert(eq(int, errno, EAGAIN));
}
