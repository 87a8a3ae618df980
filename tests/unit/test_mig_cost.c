/* SPDX-License-Identifier: MIT */
/* The prediction's fixed costs (mig_cost): per-page costs are sampled, the
 * set-up is the prefault plus the backend's mapping of resident pages, the
 * latter bounded by the device's own backend start-up, and the
 * proof costs what its mode does (a compare plus the grace after the
 * resume, a digest when sync). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
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
	cr_assert(lt(dbl, 0.0, after.map_ns));
	cr_assert(eq(dbl, after.setup_ms, (double)pages * after.populate_ns / 1e6 +
				      fmin(500.0, (double)pages * after.map_ns / 1e6)),
		  "setup %.1f ms", after.setup_ms);
	/* after-resume: the compare of every page plus the 2 ms grace */
	cr_assert(le(dbl, 2.0 + (double)pages * after.compare_ns / 1e6 - 1e-6, after.check_ms));
	cr_assert(le(dbl, sync.check_ms, (double)pages * sync.digest_ns / 1e6 + 1e-6));
	cr_assert(lt(dbl, 0.0, sync.check_ms));
}

/* The backend's part is the sampled mapping of resident pages, bounded by
 * the device's own start-up: a backend that started in no time (it maps
 * without faulting in) adds nothing to the prefault; a slow one adds the
 * sampled mapping, not its start-up. */
Test(mig_cost, setup_bounded_by_backend_start)
{
	struct device d;
	struct mig_cost c;
	const uint64_t pages = 262144;

	memset(&d, 0, sizeof(d));
	cr_assert(eq(int, mig_cost_estimate(&d, MIG_VERIFY_AFTER_RESUME, pages, &c), 0));
	cr_assert(eq(dbl, c.setup_ms, (double)pages * c.populate_ns / 1e6));
	cr_assert(lt(dbl, 0.0, c.setup_ms));
	d.backend_start_ms = 1e6;    /* far above any mapping of 1 GiB */
	cr_assert(eq(int, mig_cost_estimate(&d, MIG_VERIFY_AFTER_RESUME, pages, &c), 0));
	cr_assert(eq(dbl, c.setup_ms, (double)pages * c.populate_ns / 1e6 +
				  (double)pages * c.map_ns / 1e6));
	cr_assert(lt(dbl, c.setup_ms, 1e6));
}
