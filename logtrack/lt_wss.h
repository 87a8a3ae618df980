/* SPDX-License-Identifier: MIT */
/* lt_wss — the working-set curve: how many distinct pages were dirtied in the
 * last W ms, for every window W up to a horizon (default windows 50 ms..10 s).
 *
 * Structure (exact for any W <= horizon, at the resolution of the marks):
 *  - stamp[page]: u32, the ms (since creation, + 1; 0 = never) of the page's
 *    last mark — 4 bytes per 4 KiB page, 0.1 % of guest memory (1 GiB for a
 *    1 TiB guest);
 *  - bucket[t % horizon]: how many pages have their last mark at ms t, for
 *    the last `horizon` ms. Re-marking a page moves it from its old bucket to
 *    the current one, so each page is counted once, at its latest time.
 * unique(W) = sum of the buckets of the last W ms: O(W) per query, no scan
 * of the pages. Marks are made at the caller's clock, i.e. at the time of the
 * sync that found the page: window edges are as sharp as the sync period.
 * Times are u32 ms, so one tracker lives 49 days (then -EOVERFLOW). */
#ifndef VHM_LT_WSS_H
#define VHM_LT_WSS_H

#include <stddef.h>
#include <stdint.h>

#include "lt_log.h"

#define LT_WSS_NWINDOWS 8
/* 50, 100, 200, 500, 1000, 2000, 5000, 10000 ms. */
extern const uint32_t lt_wss_windows_ms[LT_WSS_NWINDOWS];

struct lt_wss;

/* A tracker for pages [0, npages) whose windows reach horizon_ms back,
 * with its clock at now_ms (caller's monotonic ms). *out is the caller's to
 * lt_wss_destroy. 0, -EINVAL (0 pages or horizon) or -ENOMEM. */
int lt_wss_create(struct lt_wss **out, uint64_t npages, uint32_t horizon_ms, uint64_t now_ms);
void lt_wss_destroy(struct lt_wss *w);

/* Move the clock to now_ms. -EINVAL if it goes backwards, -EOVERFLOW past 49 days. */
int lt_wss_advance(struct lt_wss *w, uint64_t now_ms);

/* Pages [first, first + count) were dirtied now. -ERANGE if they pass npages
 * (nothing marked). */
int lt_wss_mark(struct lt_wss *w, uint64_t first, uint64_t count);

/* An lt_runs_fn (arg: the struct lt_wss *): marks the runs now; pages past
 * npages (log rounding) are ignored. */
void lt_wss_on_runs(const struct lt_run *runs, size_t n, void *arg);

/* Distinct pages marked in the last window_ms (marks at t with now - t < window);
 * windows past the horizon are cut to it. */
uint64_t lt_wss_unique(const struct lt_wss *w, uint32_t window_ms);

/* unique() for n windows (ascending) at once into pages[n]. -EINVAL if unsorted. */
int lt_wss_curve(const struct lt_wss *w, const uint32_t *windows_ms, size_t n, uint64_t *pages);

/* The time the marks counted by lt_wss_curve for each window really cover,
 * into span_ms[n] (ms). Marks are made at the clock moves (syncs), and a
 * sync's marks are the writes since the sync before it; so the pages of a
 * window that holds the moves a_j..now were dirtied in (a_{j-1}, now]: the
 * span now - a_{j-1}, which differs from the window by up to a sync period
 * (a 50 ms window holds one sync or, after a late one, two: 50 or ~100 ms of
 * writes). A window reaching back to creation spans the time since creation.
 * When the move before a_j is past the horizon, the window itself.
 * -EINVAL if windows are unsorted. */
int lt_wss_spans(const struct lt_wss *w, const uint32_t *windows_ms, size_t n, double *span_ms);

/* Distinct pages marked since creation. */
uint64_t lt_wss_ever(const struct lt_wss *w);

#endif
