/* SPDX-License-Identifier: MIT */
/* The pre-copy model on cases worked out by hand, the working-set curve's
 * interpolation, and the "what would make it converge" answers checked by
 * running the model again with them. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <math.h>

#include "lt_predict.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

/* A writer that dirties `rate` new pages per ms, up to `cap` distinct pages. */
struct linear_wss {
	double rate;            /* pages/ms */
	double cap;             /* pages */
	double factor;          /* 1: as measured; < 1: throttled */
};

static double linear_wss(double window_ms, const void *arg)
{
	const struct linear_wss *l = arg;

	return l->factor * fmin(l->cap, l->rate * window_ms);
}

/* 1 GiB guest (262144 pages of 4 KiB), 1 GiB/s = 262.144 pages/ms, 100 ms
 * limit: the threshold is 0.1 GiB = 26214.4 pages. */
static struct lt_predict_in base_in(const struct linear_wss *l)
{
	return (struct lt_predict_in){
		.total_pages = 262144, .page_size = 4096, .bandwidth = GIB,
		.downtime_ms = 100, .max_rounds = 30, .wss = linear_wss, .wss_arg = l,
	};
}

static void assert_close(double got, double want, const char *what)
{
	cr_assert(le(dbl, fabs(got - want), 1e-9 * fmax(1.0, fabs(want))), "%s: %.12g, want %.12g",
		  what, got, want);
}

/* Dirtying at half the bandwidth (131.072 pages/ms) halves each round:
 *   round 0: 262144 pages, 1000 ms -> 131072 dirtied
 *   round 1: 131072 pages,  500 ms ->  65536
 *   round 2:  65536 pages,  250 ms ->  32768
 *   round 3:  32768 pages,  125 ms ->  16384 <= 26214.4: converged
 *   round 4 (settle: 16384 > LT_SETTLE_PAGES): 62.5 ms -> 8192
 * 5 rounds, 1937.5 ms of pre-copy, 8192 pages = 32 MiB in 31.25 ms of
 * downtime. */
Test(lt_predict, converges_in_rounds_computed_by_hand)
{
	struct linear_wss l = { .rate = 131.072, .cap = 1e18, .factor = 1 };
	struct lt_predict_in in = base_in(&l);
	struct lt_predict_out out;

	cr_assert(eq(int, lt_predict(&in, &out), 0));
	cr_assert(out.converges);
	cr_assert(eq(u32, out.rounds, 5));
	assert_close(out.precopy_ms, 1937.5, "pre-copy ms");
	assert_close(out.final_pages, 8192, "final pages");
	assert_close(out.downtime_ms, 31.25, "downtime ms");
	assert_close(out.total_ms, 1968.75, "total ms");
}

/* No settle round when what fits is a tail (at most LT_SETTLE_PAGES), nor
 * when the rounds allowed are used up: dirtying 0.001 pages/ms leaves 1
 * page after round 0 (1000 ms), which goes in the downtime; with the
 * half-bandwidth writer above and max_rounds 4, round 3 converges with no
 * round left, so its 16384 pages do. */
Test(lt_predict, no_settle_round_for_a_tail_or_past_the_rounds)
{
	struct linear_wss l = { .rate = 0.001, .cap = 1e18, .factor = 1 };
	struct lt_predict_in in = base_in(&l);
	struct lt_predict_out out;

	cr_assert(eq(int, lt_predict(&in, &out), 0));
	cr_assert(out.converges);
	cr_assert(eq(u32, out.rounds, 1));
	assert_close(out.final_pages, 1, "final pages");
	l.rate = 131.072;
	in.max_rounds = 4;
	cr_assert(eq(int, lt_predict(&in, &out), 0));
	cr_assert(out.converges);
	cr_assert(eq(u32, out.rounds, 4));
	assert_close(out.final_pages, 16384, "final pages");
	assert_close(out.downtime_ms, 62.5, "downtime ms");
}

/* The same with fixed costs around the rounds: the set-up before round 0
 * and the proof after the copy count in the total, never in the rounds or
 * the downtime; the switch counts in the downtime. */
Test(lt_predict, fixed_costs_setup_check_and_switch)
{
	struct linear_wss l = { .rate = 131.072, .cap = 1e18, .factor = 1 };
	struct lt_predict_in in = base_in(&l);
	struct lt_predict_out out;

	in.setup_ms = 900;
	in.check_ms = 120;
	cr_assert(eq(int, lt_predict(&in, &out), 0));
	cr_assert(eq(u32, out.rounds, 5));
	assert_close(out.precopy_ms, 1937.5, "pre-copy ms");
	assert_close(out.downtime_ms, 31.25, "downtime ms");
	assert_close(out.total_ms, 900 + 1968.75 + 120, "total ms");
	/* the switch (stopping the source, starting the destination) is inside
	 * the downtime: in it and the total, never in the rounds or the pages */
	in.switch_ms = 4.5;
	cr_assert(eq(int, lt_predict(&in, &out), 0));
	cr_assert(eq(u32, out.rounds, 5));
	assert_close(out.final_pages, 8192, "final pages");
	assert_close(out.downtime_ms, 31.25 + 4.5, "downtime ms with the switch");
	assert_close(out.total_ms, 900 + 1968.75 + 4.5 + 120, "total ms with the switch");
}

/* The same with max_rounds 3: round 3 would be needed, so no. */
Test(lt_predict, round_limit_stops_it)
{
	struct linear_wss l = { .rate = 131.072, .cap = 1e18, .factor = 1 };
	struct lt_predict_in in = base_in(&l);
	struct lt_predict_out out;

	in.max_rounds = 3;
	cr_assert(eq(int, lt_predict(&in, &out), 0));
	cr_assert(not(out.converges));
	cr_assert(eq(u32, out.rounds, 3));
	assert_close(out.final_pages, 32768, "left after 3 rounds");
	/* 32768 pages fit 100 ms at 1.25 GiB/s: the bandwidth bisection must land
	 * at or below that (a faster link also shortens the rounds). */
	cr_assert(le(dbl, out.bandwidth_needed, 1.25 * GIB * (1 + 1e-9)));
	/* A longer limit alone: 32768 pages at 1 GiB/s take 125 ms. */
	assert_close(out.downtime_needed_ms, 125, "downtime needed");
}

/* Memory smaller than the threshold converges before round 0; its settle
 * round is round 0 (1000 pages, 4096000 bytes at 1 GiB/s = 3.814697265625
 * ms), which a writer of 1000 pages/ms dirties all over again: the downtime
 * sends all 1000. */
Test(lt_predict, tiny_guest_stops_before_round_0)
{
	struct linear_wss l = { .rate = 1000, .cap = 1e18, .factor = 1 };
	struct lt_predict_in in = base_in(&l);
	struct lt_predict_out out;

	in.total_pages = 1000;
	cr_assert(eq(int, lt_predict(&in, &out), 0));
	cr_assert(out.converges);
	cr_assert(eq(u32, out.rounds, 1));
	assert_close(out.precopy_ms, 3.814697265625, "pre-copy");
	assert_close(out.downtime_ms, 3.814697265625, "downtime");
}

/* A hot set of 50000 pages re-dirtied within 50 ms never fits the 26214.4-page
 * threshold: 50000 pages = 195.3125 MiB.
 *   bandwidth needed: 50000 * 4096 B / 0.1 s = 2.048e9 B/s (rounds stay >= 50 ms);
 *   downtime needed: 50000 * 4096 / 2^30 s = 190.73486328125 ms;
 *   dirty fraction: f * 50000 <= 26214.4, f = 0.524288. */
Test(lt_predict, hot_set_needs_computed_by_hand)
{
	struct linear_wss l = { .rate = 1000, .cap = 50000, .factor = 1 };
	struct lt_predict_in in = base_in(&l);
	struct lt_predict_out out;

	cr_assert(eq(int, lt_predict(&in, &out), 0));
	cr_assert(not(out.converges));
	cr_assert(eq(u32, out.rounds, 30));
	assert_close(out.final_pages, 50000, "hot set");
	assert_close(out.bandwidth_needed, 2.048e9, "bandwidth needed");
	assert_close(out.downtime_needed_ms, 190.73486328125, "downtime needed");
	assert_close(out.dirty_fraction_needed, 0.524288, "dirty fraction");
}

/* Dirtying at twice the bandwidth never converges; each answer must make it
 * converge when fed back, and a little less of it must not. */
Test(lt_predict, needs_converge_when_fed_back)
{
	struct linear_wss l = { .rate = 524.288, .cap = 1e18, .factor = 1 };
	struct lt_predict_in in = base_in(&l), again;
	struct lt_predict_out out, o2;

	cr_assert(eq(int, lt_predict(&in, &out), 0));
	cr_assert(not(out.converges));
	cr_assert(lt(dbl, in.bandwidth, out.bandwidth_needed));

	again = in;
	again.bandwidth = out.bandwidth_needed;
	cr_assert(eq(int, lt_predict(&again, &o2), 0));
	cr_assert(o2.converges, "at the needed bandwidth %.0f B/s", out.bandwidth_needed);
	again.bandwidth = out.bandwidth_needed * 0.999;
	cr_assert(eq(int, lt_predict(&again, &o2), 0));
	cr_assert(not(o2.converges), "0.1 %% less bandwidth must not do");

	again = in;
	again.downtime_ms = out.downtime_needed_ms;
	cr_assert(eq(int, lt_predict(&again, &o2), 0));
	cr_assert(o2.converges);
	again.downtime_ms = out.downtime_needed_ms * 0.999;
	cr_assert(eq(int, lt_predict(&again, &o2), 0));
	cr_assert(not(o2.converges));

	struct linear_wss throttled = l;
	again = in;
	again.wss_arg = &throttled;
	throttled.factor = out.dirty_fraction_needed;
	cr_assert(eq(int, lt_predict(&again, &o2), 0));
	cr_assert(o2.converges, "at %.6f of the dirty rate", out.dirty_fraction_needed);
	throttled.factor = out.dirty_fraction_needed * 1.001;
	cr_assert(eq(int, lt_predict(&again, &o2), 0));
	cr_assert(not(o2.converges));
}

Test(lt_predict, refuses_bad_input)
{
	struct linear_wss l = { .rate = 1, .cap = 1, .factor = 1 };
	struct lt_predict_in in = base_in(&l);
	struct lt_predict_out out;

	in.bandwidth = 0;
	cr_assert(eq(int, lt_predict(&in, &out), -EINVAL));
	in = base_in(&l);
	in.max_rounds = 0;
	cr_assert(eq(int, lt_predict(&in, &out), -EINVAL));
	in = base_in(&l);
	in.wss = NULL;
	cr_assert(eq(int, lt_predict(&in, &out), -EINVAL));
}

/* ---- the measured curve ---- */

static const double curve_ms[] = { 100, 1000, 10000 };
static const double curve_pages[] = { 1000, 2000, 3000 };

/* The cubic Hermite piece on [x0, x0 + h] from y0 (slope m0) to y1 (slope m1), at x0 + t h. */
static double hermite(double t, double h, double y0, double m0, double y1, double m1)
{
	double t2 = t * t, t3 = t2 * t;

	return (2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + t) * h * m0 + (-2 * t3 + 3 * t2) * y1 +
	       (t3 - t2) * h * m1;
}

/* The curve (0, 0), (100, 1000), (1000, 2000), (10000, 3000): slopes 10,
 * 10/9 and 1/9 pages/ms. At 100 ms the weighted harmonic mean of 10 and
 * 10/9 with weights 2*900 + 100 and 900 + 2*100: 3000 / (1900/10 + 1100 *
 * 0.9) = 3000/1180; at 1000 ms, of 10/9 and 1/9 with 18900 and 10800:
 * 29700 / (18900 * 0.9 + 10800 * 9). Between them the cubic with those
 * slopes, above the chord (the points bend) and below the next point. */
Test(lt_curve, monotone_cubic_between_points_and_last_slope_beyond)
{
	struct lt_curve c = { curve_ms, curve_pages, 3 };
	double m100 = 3000.0 / 1180, m1000 = 29700.0 / (18900 * 0.9 + 10800 * 9), prev = 0;

	cr_assert(eq(int, lt_curve_check(&c), 0));
	assert_close(lt_curve_eval(&c, 1000), 2000, "at a point");
	assert_close(lt_curve_eval(&c, 100), 1000, "at the first point");
	assert_close(lt_curve_eval(&c, 550), hermite(0.5, 900, 1000, m100, 2000, m1000),
		     "midpoint of 100 and 1000 ms");
	cr_assert(lt(dbl, 1500, lt_curve_eval(&c, 550)), "above the chord");
	for (double w = 1; w < 10000; w += 1) {
		double p = lt_curve_eval(&c, w);

		cr_assert(le(dbl, prev, p), "monotone at %f ms", w);
		prev = p;
	}
	/* last slope 1000 pages / 9000 ms */
	assert_close(lt_curve_eval(&c, 19000), 4000, "9 s past the end: +1000");
	assert_close(lt_curve_eval(&c, 0), 0, "zero window");
	assert_close(lt_curve_wss(550, &c), lt_curve_eval(&c, 550), "as an lt_wss_fn");
}

/* A steady writer's points lie on a line, a set that stopped growing on a
 * flat: the curve is that line and that flat between them and below the
 * first point, not a cubic. */
Test(lt_curve, straight_and_flat_stay_so)
{
	static const double ms[] = { 50, 100, 200, 500 }, line[] = { 500, 1000, 2000, 5000 };
	static const double flat_ms[] = { 100, 200, 300 }, flat[] = { 700, 700, 700 };
	struct lt_curve c = { ms, line, 4 };

	for (double w = 5; w < 500; w += 7.5)
		assert_close(lt_curve_eval(&c, w), 10 * w, "the line");
	c = (struct lt_curve){ flat_ms, flat, 3 };
	assert_close(lt_curve_eval(&c, 150), 700, "flat between flat points");
	assert_close(lt_curve_eval(&c, 250), 700, "flat");
	cr_assert(le(dbl, lt_curve_eval(&c, 80), 700.0), "below the first point: no overshoot");
}

/* A uniform writer of r pages/ms over L pages dirties L (1 - exp(-r t / L))
 * distinct pages in t ms. Past the last point the curve goes on as such a
 * writer from there: with the last slope s and room R = L - pn left,
 * pn + R (1 - exp(-s (w - wn) / R)), below L however far. */
Test(lt_curve, saturates_towards_the_limit_beyond_the_last_point)
{
	struct lt_curve c = { curve_ms, curve_pages, 3, 5000 };
	double s = 1000.0 / 9000.0;

	cr_assert(eq(int, lt_curve_check(&c), 0));
	assert_close(lt_curve_eval(&c, 10000), 3000, "at the last point");
	assert_close(lt_curve_eval(&c, 28000), 5000 - 2000 * exp(-s * 18000 / 2000),
		     "18 s past the end");
	cr_assert(lt(dbl, lt_curve_eval(&c, 1e9), 5000 + 1e-9), "never past the limit");
	c.limit = 0;
	double free_at = lt_curve_eval(&c, 5500);

	c.limit = 5000;
	assert_close(lt_curve_eval(&c, 5500), free_at, "between points: unchanged");
	c.limit = 3000;
	assert_close(lt_curve_eval(&c, 28000), 3000, "no room left: flat");
	c.limit = -1;
	cr_assert(eq(int, lt_curve_check(&c), -EINVAL), "negative limit");
}

Test(lt_curve, one_point_is_flat_beyond_it)
{
	struct lt_curve c = { curve_ms, curve_pages, 1 };

	assert_close(lt_curve_eval(&c, 5000), 1000, "flat");
}

Test(lt_curve, check_refuses_unsorted_and_decreasing)
{
	static const double ms[] = { 100, 50 }, pages[] = { 10, 5 };
	static const double ms2[] = { 50, 100 };
	struct lt_curve c = { ms, curve_pages, 2 };

	cr_assert(eq(int, lt_curve_check(&c), -EINVAL), "windows not ascending");
	c = (struct lt_curve){ ms2, pages, 2 };
	cr_assert(eq(int, lt_curve_check(&c), -EINVAL), "pages decreasing");
	c.n = 0;
	cr_assert(eq(int, lt_curve_check(&c), -EINVAL));
}

/* The model driven by a measured curve: 1 GiB, 1 GiB/s, curve 100 ms: 10000,
 * 1 s: 40000, 10 s: 60000 pages (slopes 100, 100/3 and 20/9 pages/ms).
 *   round 0: 1000 ms -> 40000 pages (a point) > 26214.4
 *   round 1: 40000 pages take 152.587890625 ms -> between the first two
 *            points, on the cubic with slopes at 100 ms 3000 / (1900/100 +
 *            1100 * 3/100) and at 1 s 29700 / (18900 * 3/100 + 10800 *
 *            9/20): 12969... <= 26214.4: converged.
 *   round 2, the settle round: those pages take t ms (~49.5), below the
 *            first point: on the cubic from the origin, its slope there
 *            end_slope's ((2 * 100 + 900) * 100 - 100 * 100/3) / (100 + 900).
 * 3 rounds, 1152.587890625 + t ms of pre-copy. */
Test(lt_predict, with_a_measured_curve)
{
	static const double pages[] = { 10000, 40000, 60000 };
	struct lt_curve c = { curve_ms, pages, 3 };
	struct lt_predict_in in = {
		.total_pages = 262144, .page_size = 4096, .bandwidth = GIB, .downtime_ms = 100,
		.max_rounds = 30, .wss = lt_curve_wss, .wss_arg = &c,
	};
	struct lt_predict_out out;
	double final = hermite((152.587890625 - 100) / 900, 900, 10000,
			       3000 / (1900.0 / 100 + 1100 * 3.0 / 100), 40000,
			       29700 / (18900 * 3.0 / 100 + 10800 * 9.0 / 20));

	double t = final * 4096 / GIB * 1000;
	double settled = hermite(t / 100, 100, 0, (1100 * 100 - 100 * 100 / 3.0) / 1000, 10000,
				 3000 / (1900.0 / 100 + 1100 * 3.0 / 100));

	cr_assert(eq(int, lt_predict(&in, &out), 0));
	cr_assert(out.converges);
	cr_assert(eq(u32, out.rounds, 3));
	assert_close(out.precopy_ms, 1152.587890625 + t, "pre-copy ms");
	assert_close(out.final_pages, settled, "final pages");
	assert_close(out.downtime_ms, settled * 4096 / GIB * 1000, "downtime");
}
