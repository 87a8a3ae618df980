/* SPDX-License-Identifier: MIT */
/* The prediction's fixed costs (mig_cost): per-page costs are sampled, the
 * set-up adds the device's own backend start-up to the prefault, and the
 * proof costs what its mode does (a compare plus the grace after the
 * resume, a digest when sync). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "mig_cost.h"

Test(mig_cost, sampled_costs_add_up)
{
	struct device d;
	struct mig_cost after, sync;
	const uint64_t pages = 262144;   /* 1 GiB of data */

	memset(&d, 0, sizeof(d));
	d.backend_start_ms = 500;
	cr_assert(eq(int, mig_cost_estimate(&d, MIG_VERIFY_AFTER_RESUME, pages, &after), 0));
	cr_assert(eq(int, mig_cost_estimate(&d, MIG_VERIFY_SYNC, pages, &sync), 0));
	cr_assert(lt(dbl, 0.0, after.populate_ns));
	cr_assert(lt(dbl, 0.0, after.compare_ns));
	cr_assert(lt(dbl, 0.0, after.digest_ns));
	cr_assert(lt(dbl, 500.0, after.setup_ms), "setup %.1f ms", after.setup_ms);
	cr_assert(le(dbl, after.setup_ms, 500.0 + (double)pages * after.populate_ns / 1e6 + 1e-6));
	/* after-resume: the compare of every page plus the 2 ms grace */
	cr_assert(le(dbl, 2.0 + (double)pages * after.compare_ns / 1e6 - 1e-6, after.check_ms));
	cr_assert(le(dbl, sync.check_ms, (double)pages * sync.digest_ns / 1e6 + 1e-6));
	cr_assert(lt(dbl, 0.0, sync.check_ms));
}
