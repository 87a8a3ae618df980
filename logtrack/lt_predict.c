/* SPDX-License-Identifier: MIT */
/* The pre-copy simulation (rounds of the working-set curve against the
 * bandwidth and downtime limit) and, when it does not converge, bisections
 * on the same simulation for what would make it converge. */
#include "lt_predict.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define BISECT_STEPS 100        /* enough for a relative precision far below 1e-9 */

int lt_curve_check(const struct lt_curve *c)
{
	if (!c || c->n == 0 || !c->window_ms || !c->pages)
		return -EINVAL;
	for (size_t i = 0; i < c->n; i++) {
		if (!(c->window_ms[i] > 0) || !(c->pages[i] >= 0))
			return -EINVAL;
		if (i > 0 && (c->window_ms[i] <= c->window_ms[i - 1] ||
			      c->pages[i] < c->pages[i - 1]))
			return -EINVAL;
	}
	if (!(c->limit >= 0) || isinf(c->limit))
		return -EINVAL;
	return 0;
}

/* The curve's points with the origin first: point 0 is (0, 0), point i
 * (1..n) the measured point i - 1. */
static double pt_x(const struct lt_curve *c, size_t i)
{
	return i ? c->window_ms[i - 1] : 0;
}

static double pt_y(const struct lt_curve *c, size_t i)
{
	return i ? c->pages[i - 1] : 0;
}

/* The slope of segment i, from point i to point i + 1 (pages/ms). */
static double secant(const struct lt_curve *c, size_t i)
{
	return (pt_y(c, i + 1) - pt_y(c, i)) / (pt_x(c, i + 1) - pt_x(c, i));
}

/* At an end point: the three-point slope of the two segments beside it
 * (h0, d0 the nearer), kept between 0 and 3 d0 where the curve turns. */
static double end_slope(double h0, double d0, double h1, double d1)
{
	double m = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1);

	if (!(m > 0) || !(d0 > 0))
		return 0;
	if (!(d1 > 0) && m > 3 * d0)
		return 3 * d0;
	return m;
}

/* The slope the curve is given at point i (0..n): between two segments the
 * weighted harmonic mean of theirs, 0 beside a flat one (Fritsch and
 * Butland's choice, which keeps a monotone curve monotone); at the origin
 * end_slope; a curve of one segment is its line. */
static double slope_at(const struct lt_curve *c, size_t i)
{
	double h0, h1, d0, d1, w0, w1;

	if (c->n == 1)
		return secant(c, 0);
	if (i == 0)
		return end_slope(pt_x(c, 1), secant(c, 0), pt_x(c, 2) - pt_x(c, 1), secant(c, 1));
	if (i == c->n)
		return end_slope(pt_x(c, i) - pt_x(c, i - 1), secant(c, i - 1),
				 pt_x(c, i - 1) - pt_x(c, i - 2), secant(c, i - 2));
	d0 = secant(c, i - 1);
	d1 = secant(c, i);
	if (!(d0 > 0) || !(d1 > 0))
		return 0;
	h0 = pt_x(c, i) - pt_x(c, i - 1);
	h1 = pt_x(c, i + 1) - pt_x(c, i);
	w0 = 2 * h1 + h0;
	w1 = h1 + 2 * h0;
	return (w0 + w1) / (w0 / d0 + w1 / d1);
}

/* Between points i and i + 1: the cubic through both with the slopes
 * slope_at gives them (a monotone cubic Hermite piece). */
static double between(const struct lt_curve *c, size_t i, double w)
{
	double x0 = pt_x(c, i), h = pt_x(c, i + 1) - x0, t = (w - x0) / h;
	double t2 = t * t, t3 = t2 * t;

	return (2 * t3 - 3 * t2 + 1) * pt_y(c, i) + (t3 - 2 * t2 + t) * h * slope_at(c, i) +
	       (-2 * t3 + 3 * t2) * pt_y(c, i + 1) + (t3 - t2) * h * slope_at(c, i + 1);
}

/* Past the last point (wn, pn), going on from it with the last segment's
 * slope (pages/ms). With a limit, new pages can only be found among the
 * limit - pn not yet dirtied, as a uniform writer finds them: the slope
 * shrinks in proportion to what is left, pages = limit - room * exp(-s t /
 * room), which starts with slope s and never passes the limit. */
static double beyond(const struct lt_curve *c, double slope, double w)
{
	double wn = c->window_ms[c->n - 1], pn = c->pages[c->n - 1];
	double grow = slope * (w - wn), room = c->limit - pn;

	if (c->limit == 0)
		return pn + grow;
	if (!(room > 0))
		return pn;
	return c->limit - room * exp(-grow / room);
}

double lt_curve_eval(const struct lt_curve *c, double window_ms)
{
	size_t n = c->n, i;

	if (window_ms <= 0)
		return 0;
	if (window_ms >= c->window_ms[n - 1])
		return n == 1 ? c->pages[0] : beyond(c, secant(c, n - 1), window_ms);
	for (i = 1; pt_x(c, i) < window_ms; i++)
		;
	return between(c, i - 1, window_ms);
}

double lt_curve_wss(double window_ms, const void *arg)
{
	return lt_curve_eval(arg, window_ms);
}

/* The quantities the model can vary to find what would make it converge. */
enum knob { KNOB_BANDWIDTH, KNOB_DOWNTIME, KNOB_DIRTY_FRACTION };

/* One round sending `pages` at bw (bytes/s), its time added to *elapsed_ms:
 * what it leaves (the curve over its time, capped at the guest's pages). */
static double round_of(const struct lt_predict_in *in, double bw, double dirty_factor,
		       double pages, double *elapsed_ms)
{
	double t_ms = pages * (double)in->page_size / bw * 1000.0;
	double left = dirty_factor * in->wss(t_ms, in->wss_arg);

	*elapsed_ms += t_ms;
	if (!(left <= (double)in->total_pages))      /* also a NaN from a broken curve */
		left = (double)in->total_pages;
	return left < 0 ? 0 : left;
}

/* One simulation with a bandwidth, a downtime limit and a dirty-rate factor. */
static bool simulate(const struct lt_predict_in *in, double bw, double downtime_ms,
		     double dirty_factor, struct lt_predict_out *out)
{
	double ps = (double)in->page_size, total = (double)in->total_pages;
	double threshold = bw * downtime_ms / 1000.0;   /* bytes */
	double remaining = total, elapsed_ms = 0;
	unsigned k;

	for (k = 0; remaining * ps > threshold && k < in->max_rounds; k++)
		remaining = round_of(in, bw, dirty_factor, remaining, &elapsed_ms);
	out->converges = remaining * ps <= threshold;
	if (out->converges && k < in->max_rounds && lt_precopy_settles(remaining)) {
		remaining = round_of(in, bw, dirty_factor, remaining, &elapsed_ms);
		k++;
	}
	out->rounds = k;
	out->precopy_ms = elapsed_ms;
	out->final_pages = remaining;
	out->downtime_ms = remaining * ps / bw * 1000.0 + in->switch_ms;
	out->total_ms = in->setup_ms + elapsed_ms + out->downtime_ms + in->check_ms;
	return out->converges;
}

static bool converges_with(const struct lt_predict_in *in, enum knob knob, double v)
{
	struct lt_predict_out o;

	switch (knob) {
	case KNOB_BANDWIDTH:
		return simulate(in, v, in->downtime_ms, 1.0, &o);
	case KNOB_DOWNTIME:
		return simulate(in, in->bandwidth, v, 1.0, &o);
	case KNOB_DIRTY_FRACTION:
		return simulate(in, in->bandwidth, in->downtime_ms, v, &o);
	}
	return false;
}

/* The knob's value nearest `bad` (does not converge) that still converges,
 * given `good` that does. Bandwidth and downtime grow towards good, the dirty
 * fraction shrinks towards it; the model is monotone in each. */
static double bisect(const struct lt_predict_in *in, enum knob knob, double bad, double good)
{
	for (int i = 0; i < BISECT_STEPS && fabs(good - bad) > fabs(good) * 1e-12; i++) {
		double mid = bad + (good - bad) / 2;
		if (converges_with(in, knob, mid))
			good = mid;
		else
			bad = mid;
	}
	return good;
}

/* A value of an increasing knob that converges: the one at which the whole
 * memory fits the threshold (stop before round 0), doubled against rounding. */
static double grow_until_converges(const struct lt_predict_in *in, enum knob knob, double v)
{
	for (int i = 0; i < 64 && !converges_with(in, knob, v); i++)
		v *= 2;
	return converges_with(in, knob, v) ? v : INFINITY;
}

int lt_predict(const struct lt_predict_in *in, struct lt_predict_out *out)
{
	double bytes, bw_all, dt_all;

	memset(out, 0, sizeof(*out));
	if (!in || in->total_pages == 0 || in->page_size == 0 || !(in->bandwidth > 0) ||
	    !(in->downtime_ms > 0) || in->max_rounds == 0 || !in->wss)
		return -EINVAL;
	if (simulate(in, in->bandwidth, in->downtime_ms, 1.0, out))
		return 0;
	bytes = (double)in->total_pages * (double)in->page_size;
	bw_all = grow_until_converges(in, KNOB_BANDWIDTH,
				      fmax(bytes * 1000.0 / in->downtime_ms, in->bandwidth));
	dt_all = grow_until_converges(in, KNOB_DOWNTIME,
				      fmax(bytes * 1000.0 / in->bandwidth, in->downtime_ms));
	out->bandwidth_needed = isinf(bw_all) ? bw_all
					      : bisect(in, KNOB_BANDWIDTH, in->bandwidth, bw_all);
	out->downtime_needed_ms = isinf(dt_all) ? dt_all
						: bisect(in, KNOB_DOWNTIME, in->downtime_ms, dt_all);
	/* A factor 0 leaves nothing after round 0 (max_rounds >= 1): it converges. */
	out->dirty_fraction_needed = bisect(in, KNOB_DIRTY_FRACTION, 1.0, 0.0);
	return 0;
}
