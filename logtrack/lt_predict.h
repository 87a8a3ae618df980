/* SPDX-License-Identifier: MIT */
/* lt_predict — will pre-copy converge? A simulation of QEMU's RAM pre-copy
 * driven by the working-set curve:
 *   round 0 sends every page: T0 = total_pages * page_size / bandwidth;
 *   round k sends what was dirtied during round k-1: wss(T_{k-1}) pages;
 *   before each round, if the remaining bytes <= bandwidth * downtime limit
 *   (QEMU's threshold), pre-copy has converged: one more round sends them
 *   when they are more than LT_SETTLE_PAGES (lt_precopy_settles), then the
 *   guest stops and the rest is sent: that, and the switch around it
 *   (stopping the source, starting the destination), is the downtime.
 * When no round within max_rounds meets the threshold, it reports what would:
 * the bandwidth, the downtime limit, or the fraction of today's dirty rate
 * (throttling) — each found by bisection on the same simulation. */
#ifndef VHM_LT_PREDICT_H
#define VHM_LT_PREDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The settle round, which vhm's migration makes and the model follows: once
 * what is pending fits the downtime limit, QEMU's rule stops the guest and
 * copies all of it inside the downtime -- the limit taken as a target, not
 * a ceiling (at 256 MiB, 2000 pages/s and 20 000 frames/s, the ~2000 pages
 * of the packet pools and the writer: 1.3-2.2 ms of vhm's 2.4-3.1 ms). One
 * more round copies them while the guest runs, and the downtime takes only
 * what that round left. Not when they are LT_SETTLE_PAGES or fewer (under
 * 0.1 ms to copy here), nor past the rounds allowed. */
#define LT_SETTLE_PAGES 64
static inline bool lt_precopy_settles(double pending_pages)
{
	return pending_pages > LT_SETTLE_PAGES;
}

/* Unique pages dirtied in a window of window_ms; must not decrease with it. */
typedef double (*lt_wss_fn)(double window_ms, const void *arg);

/* A measured working-set curve: n points, windows ascending (ms, > 0), pages
 * non-decreasing. Between points, and below the first from (0, 0), it is a
 * monotone cubic (Fritsch-Butland slopes at the points): it bends as the
 * points do, where a straight line, the chord of a concave curve, reads it
 * low in between (a writer and a packet-buffer pool together at 40000
 * pages/s: 1.5 % low at 60 ms between 50 and 100, enough to move the
 * non-converging fixed point of the model by 6 %); it is the line itself for
 * a writer reaching new pages at a steady rate, and flat for a set that
 * stopped growing. Past the last point it goes on with the last two points'
 * slope (pages/ms; flat with one point), bent towards `limit` when one is
 * given (see lt_curve_eval). Not owned. */
struct lt_curve {
	const double *window_ms;
	const double *pages;
	size_t n;
	double limit;           /* pages it can never pass (guest pages), 0: none */
};

/* 0 if the curve is usable, else -EINVAL (also a negative or infinite limit). */
int lt_curve_check(const struct lt_curve *c);
/* The curve at window_ms (pages). Past the last point (wn, pn) with slope s
 * and a limit L: L - (L - pn) exp(-s (w - wn) / (L - pn)), a uniform writer
 * finding new pages only among those still clean; without a limit the line. */
double lt_curve_eval(const struct lt_curve *c, double window_ms);
/* lt_curve_eval as an lt_wss_fn (arg: the struct lt_curve *). */
double lt_curve_wss(double window_ms, const void *arg);

struct lt_predict_in {
	uint64_t total_pages;   /* pages round 0 sends (non-zero guest pages) */
	uint64_t page_size;     /* bytes */
	double bandwidth;       /* bytes/s */
	double downtime_ms;     /* the limit */
	unsigned max_rounds;    /* pre-copy rounds allowed (round 0 included), >= 1 */
	lt_wss_fn wss;          /* capped at total_pages by the model */
	const void *wss_arg;
	/* Fixed costs around the rounds, in the total only (0: none): */
	double setup_ms;        /* before round 0 (the destination set up) */
	double check_ms;        /* after the copy (the migration's own proof) */
	/* and one inside the downtime, beside its final copy (0: none): */
	double switch_ms;       /* stopping the source, starting the destination */
};

struct lt_predict_out {
	bool converges;
	unsigned rounds;        /* pre-copy rounds run before the stop (round 0 included) */
	double precopy_ms;      /* time of those rounds */
	double downtime_ms;     /* expected: the final copy while the guest is stopped,
				 * + switch_ms */
	double total_ms;        /* setup_ms + precopy_ms + downtime_ms + check_ms */
	double final_pages;     /* pages sent while stopped */
	/* When !converges, each alone would make it converge: */
	double bandwidth_needed;        /* bytes/s */
	double downtime_needed_ms;
	double dirty_fraction_needed;   /* dirty rate <= this * today's (throttle 1 - it) */
};

/* Run the model. 0, or -EINVAL (no pages, page size, bandwidth, downtime,
 * rounds or wss). When it does not converge the rounds/time fields describe
 * the last round run and the *_needed fields are set. */
int lt_predict(const struct lt_predict_in *in, struct lt_predict_out *out);

#endif
