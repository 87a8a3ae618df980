/* SPDX-License-Identifier: MIT */
/* The working-set tracker: a last-mark stamp per page and a ring of
 * per-ms buckets, so that unique(W) sums buckets instead of scanning pages. */
#include "lt_wss.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const uint32_t lt_wss_windows_ms[LT_WSS_NWINDOWS] = {
	50, 100, 200, 500, 1000, 2000, 5000, 10000,
};

struct lt_wss {
	uint64_t npages;
	uint32_t horizon;       /* ms: bucket slots */
	uint64_t base_ms;       /* caller's clock at creation */
	uint32_t now;           /* ms since base, + 1 (stamps are never 0) */
	uint64_t ever;          /* pages with a stamp */
	uint64_t *bucket;       /* [horizon]: pages whose last mark is at ms t, slot t % horizon */
	uint32_t *stamp;        /* [npages]: last mark, 0 = never */
	uint8_t *advanced;      /* [horizon]: 1 if the clock was moved to ms t (a sync), slot t % horizon */
};

int lt_wss_create(struct lt_wss **out, uint64_t npages, uint32_t horizon_ms, uint64_t now_ms)
{
	struct lt_wss *w;

	*out = NULL;
	if (npages == 0 || horizon_ms == 0 || npages > SIZE_MAX / sizeof(uint32_t))
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->bucket = calloc(horizon_ms, sizeof(*w->bucket));
	w->stamp = calloc((size_t)npages, sizeof(*w->stamp));  /* large: lazily zeroed mmap */
	w->advanced = calloc(horizon_ms, 1);
	if (!w->bucket || !w->stamp || !w->advanced) {
		lt_wss_destroy(w);
		return -ENOMEM;
	}
	w->npages = npages;
	w->horizon = horizon_ms;
	w->base_ms = now_ms;
	w->now = 1;
	w->advanced[1 % horizon_ms] = 1;   /* creation: what the first marks cover starts here */
	*out = w;
	return 0;
}

void lt_wss_destroy(struct lt_wss *w)
{
	if (!w)
		return;
	free(w->bucket);
	free(w->stamp);
	free(w->advanced);
	free(w);
}

int lt_wss_advance(struct lt_wss *w, uint64_t now_ms)
{
	uint64_t t;

	if (now_ms < w->base_ms + w->now - 1)
		return -EINVAL;
	t = now_ms - w->base_ms + 1;
	if (t > UINT32_MAX)
		return -EOVERFLOW;
	/* The slots of the ms now entering the ring held ms that leave it. */
	if (t - w->now >= w->horizon) {
		memset(w->bucket, 0, w->horizon * sizeof(*w->bucket));
		memset(w->advanced, 0, w->horizon);
	} else {
		for (uint64_t s = w->now + 1; s <= t; s++) {
			w->bucket[s % w->horizon] = 0;
			w->advanced[s % w->horizon] = 0;
		}
	}
	w->now = (uint32_t)t;
	w->advanced[t % w->horizon] = 1;
	return 0;
}

static void mark_page(struct lt_wss *w, uint64_t page)
{
	uint32_t old = w->stamp[page];

	if (old == w->now)
		return;
	if (!old)
		w->ever++;
	else if (w->now - old < w->horizon)
		w->bucket[old % w->horizon]--;
	w->stamp[page] = w->now;
	w->bucket[w->now % w->horizon]++;
}

int lt_wss_mark(struct lt_wss *w, uint64_t first, uint64_t count)
{
	if (first > w->npages || count > w->npages - first)
		return -ERANGE;
	for (uint64_t p = first; p < first + count; p++)
		mark_page(w, p);
	return 0;
}

void lt_wss_on_runs(const struct lt_run *runs, size_t n, void *arg)
{
	struct lt_wss *w = arg;

	for (size_t i = 0; i < n; i++) {
		if (runs[i].first >= w->npages)
			break;  /* ascending: the rest is past the end too */
		uint64_t count = runs[i].count;
		if (count > w->npages - runs[i].first)
			count = w->npages - runs[i].first;
		lt_wss_mark(w, runs[i].first, count);
	}
}

uint64_t lt_wss_unique(const struct lt_wss *w, uint32_t window_ms)
{
	uint64_t sum = 0;

	lt_wss_curve(w, &window_ms, 1, &sum);
	return sum;
}

int lt_wss_curve(const struct lt_wss *w, const uint32_t *windows_ms, size_t n, uint64_t *pages)
{
	uint64_t sum = 0;
	uint32_t done = 0;      /* ms already summed, counting back from now */

	for (size_t i = 1; i < n; i++)
		if (windows_ms[i] < windows_ms[i - 1])
			return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		uint32_t win = windows_ms[i] < w->horizon ? windows_ms[i] : w->horizon;
		/* Stamps start at 1: nothing is older than ms 1. */
		if (win > w->now)
			win = w->now;
		for (; done < win; done++)
			sum += w->bucket[(w->now - done) % w->horizon];
		pages[i] = sum;
	}
	return 0;
}

/* The window as lt_wss_curve cuts it. */
static uint32_t cut_window(const struct lt_wss *w, uint32_t window_ms)
{
	uint32_t win = window_ms < w->horizon ? window_ms : w->horizon;

	return win > w->now ? w->now : win;
}

static bool was_advanced(const struct lt_wss *w, uint32_t t)
{
	return w->advanced[t % w->horizon] != 0;
}

int lt_wss_spans(const struct lt_wss *w, const uint32_t *windows_ms, size_t n, double *span_ms)
{
	for (size_t i = 1; i < n; i++)
		if (windows_ms[i] < windows_ms[i - 1])
			return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		uint32_t win = cut_window(w, windows_ms[i]), oldest, prev;

		span_ms[i] = windows_ms[i];
		if (win == 0)
			continue;
		/* The oldest clock move inside the window (now itself is one). */
		for (oldest = w->now - win + 1; !was_advanced(w, oldest); oldest++)
			;
		if (oldest == 1) {              /* the window reaches back to creation */
			span_ms[i] = w->now - 1;
			continue;
		}
		/* Its marks are what the sync found since the move before it. */
		for (prev = oldest - 1; prev >= 1 && w->now - prev < w->horizon; prev--)
			if (was_advanced(w, prev)) {
				span_ms[i] = w->now - prev;
				break;
			}
	}
	return 0;
}

uint64_t lt_wss_ever(const struct lt_wss *w)
{
	return w->ever;
}
