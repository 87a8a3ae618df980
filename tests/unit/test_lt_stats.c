/* SPDX-License-Identifier: MIT */
/* What logtrack derives from syncs: rates by source and region with their
 * EWMA, the working-set curve (exact counts on a hand-made pattern and
 * against a brute-force model), and the 2 MiB heat map. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lt_heat.h"
#include "lt_log.h"
#include "lt_rates.h"
#include "lt_wss.h"

/* ---- rates ---- */

Test(lt_rates, interval_rates_by_source_and_region)
{
	struct lt_rates r;

	cr_assert(eq(int, lt_rates_init(&r, 2, 10000), 0));
	cr_assert(eq(int, lt_rates_add(&r, LT_SRC_BACKEND_LOG, 0, 1000), 0));
	cr_assert(eq(int, lt_rates_add(&r, LT_SRC_GUEST_WRITER, 1, 500), 0));
	cr_assert(eq(int, lt_rates_add(&r, LT_SRC_USED_RING, LT_RATES_OUTSIDE, 12), 0));
	cr_assert(eq(int, lt_rates_add(&r, LT_SRC_BACKEND_LOG, 1, 4), 0));
	cr_assert(eq(int, lt_rates_close(&r, 10500), 0));
	/* 1004 pages in 0.5 s = 2008 pages/s = 2008 / 256 MiB/s. */
	cr_assert(eq(dbl, r.src[LT_SRC_BACKEND_LOG].pages_per_s, 2008.0));
	cr_assert(eq(dbl, r.src[LT_SRC_BACKEND_LOG].mib_per_s, 2008.0 / 256));
	cr_assert(eq(dbl, r.src[LT_SRC_GUEST_WRITER].pages_per_s, 1000.0));
	cr_assert(eq(dbl, r.src[LT_SRC_USED_RING].pages_per_s, 24.0));
	cr_assert(eq(dbl, r.total.pages_per_s, 3032.0));
	cr_assert(eq(u64, r.total.pages, 1516));
	cr_assert(eq(dbl, r.region[0].pages_per_s, 2000.0));
	cr_assert(eq(dbl, r.region[1].pages_per_s, 1008.0));
	cr_assert(eq(dbl, r.region[2].pages_per_s, 24.0), "outside any region");
	cr_assert(eq(dbl, r.src[LT_SRC_BACKEND_LOG].ewma_pages_per_s, 2008.0),
		  "the first interval seeds the average");
	lt_rates_destroy(&r);
}

Test(lt_rates, ewma_decays_with_time_constant)
{
	struct lt_rates r;
	double want;

	cr_assert(eq(int, lt_rates_init(&r, 0, 0), 0));
	cr_assert(eq(int, lt_rates_add(&r, LT_SRC_GUEST_WRITER, LT_RATES_OUTSIDE, 2560), 0));
	cr_assert(eq(int, lt_rates_close(&r, 1000), 0));
	cr_assert(eq(dbl, r.src[LT_SRC_GUEST_WRITER].ewma_mib_per_s, 10.0));
	/* An idle second: alpha = 1 - e^-1, so the average keeps e^-1 of itself. */
	cr_assert(eq(int, lt_rates_close(&r, 2000), 0));
	want = 2560.0 * exp(-1.0);
	cr_assert(ieee_ulp_eq(dbl, r.src[LT_SRC_GUEST_WRITER].ewma_pages_per_s, want, 8));
	cr_assert(eq(dbl, r.src[LT_SRC_GUEST_WRITER].pages_per_s, 0.0));
	/* Ten idle 100 ms intervals decay as much as one idle second. */
	for (uint64_t t = 2100; t <= 3000; t += 100)
		cr_assert(eq(int, lt_rates_close(&r, t), 0));
	want *= exp(-1.0);
	cr_assert(ieee_ulp_eq(dbl, r.src[LT_SRC_GUEST_WRITER].ewma_pages_per_s, want, 64));
	cr_assert(ieee_ulp_eq(dbl, lt_rates_alpha(100), 1 - exp(-0.1), 4));
	lt_rates_destroy(&r);
}

Test(lt_rates, refuses_bad_source_region_and_time)
{
	struct lt_rates r;

	cr_assert(eq(int, lt_rates_init(&r, 1, 500), 0));
	cr_assert(eq(int, lt_rates_add(&r, LT_SRC_COUNT, 0, 1), -EINVAL));
	cr_assert(eq(int, lt_rates_add(&r, LT_SRC_BACKEND_LOG, 1, 1), -EINVAL));
	cr_assert(eq(int, lt_rates_close(&r, 500), -EINVAL), "empty interval");
	cr_assert(eq(int, lt_rates_close(&r, 400), -EINVAL), "clock went back");
	cr_assert(eq(str, (char *)lt_source_name(LT_SRC_USED_RING), "used-ring"));
	lt_rates_destroy(&r);
}

/* ---- working set ---- */

/* The pattern (ms: pages marked): 0: 0-99, 100: 50-149, 200: 0-9, 1000: 500-599.
 * At 1000 the last marks are: 10-49 at 0, 50-149 at 100, 0-9 at 200, 500-599 at 1000. */
static struct lt_wss *wss_pattern(void)
{
	struct lt_wss *w;

	cr_assert(eq(int, lt_wss_create(&w, 1000, 10000, 5000), 0));
	cr_assert(eq(int, lt_wss_mark(w, 0, 100), 0));
	cr_assert(eq(int, lt_wss_advance(w, 5100), 0));
	cr_assert(eq(int, lt_wss_mark(w, 50, 100), 0));
	cr_assert(eq(int, lt_wss_advance(w, 5200), 0));
	cr_assert(eq(int, lt_wss_mark(w, 0, 10), 0));
	cr_assert(eq(int, lt_wss_advance(w, 6000), 0));
	cr_assert(eq(int, lt_wss_mark(w, 500, 100), 0));
	return w;
}

Test(lt_wss, exact_unique_counts_on_a_pattern)
{
	static const uint32_t win[] = { 1, 800, 801, 900, 901, 1000, 1001, 10000 };
	static const uint64_t want[] = { 100, 100, 110, 110, 210, 210, 250, 250 };
	struct lt_wss *w = wss_pattern();
	uint64_t got[8];

	cr_assert(eq(int, lt_wss_curve(w, win, 8, got), 0));
	for (size_t i = 0; i < 8; i++)
		cr_assert(eq(u64, got[i], want[i]), "window %u ms: %llu", win[i],
			  (unsigned long long)got[i]);
	cr_assert(eq(u64, lt_wss_unique(w, 0), 0));
	cr_assert(eq(u64, lt_wss_ever(w), 250));
	lt_wss_destroy(w);
}

Test(lt_wss, marks_leave_the_horizon_and_come_back_once)
{
	struct lt_wss *w = wss_pattern();

	/* At 15500 only the marks after 5500 (i.e. at 6000) are within 10 s. */
	cr_assert(eq(int, lt_wss_advance(w, 15500), 0));
	cr_assert(eq(u64, lt_wss_unique(w, 10000), 100));
	cr_assert(eq(u64, lt_wss_unique(w, 60000), 100), "cut to the horizon");
	cr_assert(eq(int, lt_wss_mark(w, 20, 1), 0));   /* last marked at 5000, expired */
	cr_assert(eq(int, lt_wss_mark(w, 20, 1), 0));   /* twice in one ms: once */
	cr_assert(eq(int, lt_wss_mark(w, 550, 1), 0));  /* moves from 6000 to now */
	cr_assert(eq(u64, lt_wss_unique(w, 1), 2));
	cr_assert(eq(u64, lt_wss_unique(w, 10000), 101));
	/* A jump longer than the horizon empties every window. */
	cr_assert(eq(int, lt_wss_advance(w, 40000), 0));
	cr_assert(eq(u64, lt_wss_unique(w, 10000), 0));
	cr_assert(eq(u64, lt_wss_ever(w), 250));
	cr_assert(eq(int, lt_wss_advance(w, 39999), -EINVAL), "clock went back");
	cr_assert(eq(int, lt_wss_mark(w, 999, 2), -ERANGE));
	lt_wss_destroy(w);
}

/* Random marks at random times against a brute-force last-time table. */
Test(lt_wss, matches_brute_force, .timeout = 30)
{
	const uint64_t npages = 4096;
	const uint32_t horizon = 2000;
	uint64_t *last = calloc(npages, sizeof(uint64_t));      /* ms + 1, 0 = never */
	uint64_t seed = 7, now = 0;
	struct lt_wss *w;

	cr_assert(eq(int, lt_wss_create(&w, npages, horizon, 0), 0));
	for (int step = 0; step < 300; step++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		now += (seed >> 33) % 120;
		cr_assert(eq(int, lt_wss_advance(w, now), 0));
		for (int m = 0; m < 40; m++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t first = (seed >> 20) % npages, count = 1 + (seed >> 50) % 16;
			if (count > npages - first)
				count = npages - first;
			cr_assert(eq(int, lt_wss_mark(w, first, count), 0));
			for (uint64_t p = first; p < first + count; p++)
				last[p] = now + 1;
		}
		for (uint32_t win = 1; win <= horizon; win += 37) {
			uint64_t want = 0;
			for (uint64_t p = 0; p < npages; p++)
				want += last[p] && now + 1 - last[p] < win;
			cr_assert(eq(u64, lt_wss_unique(w, win), want), "step %d window %u", step,
				  win);
		}
	}
	lt_wss_destroy(w);
	free(last);
}

Test(lt_wss, takes_runs_from_a_sync_and_ignores_the_log_rounding)
{
	struct lt_run runs[] = { { 10, 5 }, { 95, 10 }, { 120, 8 } };
	struct lt_wss *w;

	cr_assert(eq(int, lt_wss_create(&w, 100, 1000, 0), 0));
	lt_wss_on_runs(runs, 3, w);
	cr_assert(eq(u64, lt_wss_unique(w, 1000), 10), "5 + 5 of 95..104 fit in 100 pages");
	lt_wss_destroy(w);
}

/* ---- heat map ---- */

Test(lt_heat, counts_per_2mib_block_and_hottest_first)
{
	struct lt_heat h;
	struct lt_heat_block top[4];
	size_t n;

	cr_assert(eq(int, lt_heat_init(&h, 512 * 10 + 100), 0));
	cr_assert(eq(sz, h.nblocks, 11));
	lt_heat_add_run(&h, 500, 30);           /* 12 in block 0, 18 in block 1 */
	lt_heat_add_run(&h, 512 * 3, 512);      /* all of block 3 */
	lt_heat_add_run(&h, 512 * 7 + 1, 18);   /* 18 in block 7: ties block 1 */
	lt_heat_add_run(&h, 512 * 10 + 99, 50); /* 1 in the last (short) block */
	cr_assert(eq(u64, h.count[0], 12));
	cr_assert(eq(u64, h.count[1], 18));
	cr_assert(eq(u64, h.count[3], 512));
	cr_assert(eq(u64, h.count[10], 1));
	n = lt_heat_hottest(&h, top, 4);
	cr_assert(eq(sz, n, 4));
	cr_assert(eq(sz, top[0].block, 3));
	cr_assert(eq(u64, top[0].gpa, 3ull << 21));
	cr_assert(eq(sz, top[1].block, 1), "ties: lower GPA first");
	cr_assert(eq(sz, top[2].block, 7));
	cr_assert(eq(sz, top[3].block, 0));
	cr_assert(eq(u64, top[3].count, 12));
	lt_heat_destroy(&h);
}

Test(lt_heat, hottest_returns_only_dirty_blocks_and_reset_clears)
{
	struct lt_heat h;
	struct lt_heat_block top[8];
	struct lt_run runs[] = { { 0, 1 }, { 1024, 3 } };

	cr_assert(eq(int, lt_heat_init(&h, 4096), 0));
	lt_heat_on_runs(runs, 2, &h);
	lt_heat_on_runs(runs, 2, &h);
	cr_assert(eq(sz, lt_heat_hottest(&h, top, 8), 2));
	cr_assert(eq(sz, top[0].block, 2));
	cr_assert(eq(u64, top[0].count, 6));
	cr_assert(eq(u64, top[1].count, 2));
	cr_assert(eq(sz, lt_heat_hottest(&h, top, 0), 0));
	lt_heat_reset(&h);
	cr_assert(eq(sz, lt_heat_hottest(&h, top, 8), 0));
	lt_heat_destroy(&h);
	cr_assert(eq(int, lt_heat_init(&h, 0), -EINVAL));
}

/* The three together, fed by one sync, as `vhm track` will use them. */
struct consumers {
	struct lt_wss *wss;
	struct lt_heat *heat;
};

static void feed(const struct lt_run *runs, size_t n, void *arg)
{
	struct consumers *c = arg;

	lt_wss_on_runs(runs, n, c->wss);
	lt_heat_on_runs(runs, n, c->heat);
}

Test(lt_heat, fed_by_a_sync_with_the_working_set)
{
	uint64_t words[16] = { 0 };
	struct lt_log log;
	struct lt_heat heat;
	struct lt_wss *wss;
	struct consumers c;
	struct lt_sync how = { .on_runs = feed, .arg = &c };

	cr_assert(eq(int, lt_log_attach_mem(&log, words, 16, false), 0));
	cr_assert(eq(int, lt_heat_init(&heat, 1024), 0));
	cr_assert(eq(int, lt_wss_create(&wss, 1024, 10000, 0), 0));
	c = (struct consumers){ wss, &heat };
	words[0] = 0xff;
	words[9] = 1;                           /* page 576, block 1 */
	cr_assert(eq(int, lt_log_sync(&log, &how, NULL), 0));
	cr_assert(eq(int, lt_wss_advance(wss, 50), 0));
	words[0] = 0x1;
	cr_assert(eq(int, lt_log_sync(&log, &how, NULL), 0));
	cr_assert(eq(u64, lt_wss_unique(wss, 50), 1));
	cr_assert(eq(u64, lt_wss_unique(wss, 51), 9));
	cr_assert(eq(u64, heat.count[0], 9));
	cr_assert(eq(u64, heat.count[1], 1));
	lt_wss_destroy(wss);
	lt_heat_destroy(&heat);
}
