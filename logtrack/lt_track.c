/* SPDX-License-Identifier: MIT */
/* One tracking session's sync: splits the backend log's runs into used-ring
 * and other pages, adds the guest writer's set, and feeds rates, working
 * set, heat map and the verify marks, all single-threaded. */
#include "lt_track.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* What the runs callback needs: the tracker and who dirtied the pages. */
struct feed {
	struct lt_track *t;
	bool backend;           /* split runs into used-ring / backend-log */
};

static int range_cmp(const void *a, const void *b)
{
	const struct lt_range *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* Sort and merge overlapping or touching ranges in place; returns the count. */
static size_t ranges_normalise(struct lt_range *r, size_t n)
{
	size_t out = 0;

	qsort(r, n, sizeof(*r), range_cmp);
	for (size_t i = 0; i < n; i++) {
		if (!r[i].count)
			continue;
		if (out && r[i].first <= r[out - 1].first + r[out - 1].count) {
			uint64_t end = r[i].first + r[i].count;

			if (end > r[out - 1].first + r[out - 1].count)
				r[out - 1].count = end - r[out - 1].first;
		} else {
			r[out++] = r[i];
		}
	}
	return out;
}

int lt_track_init(struct lt_track *t, const struct lt_track_cfg *c, uint64_t now_ms)
{
	int rc;

	memset(t, 0, sizeof(*t));
	if (!c->npages || c->nregions > LT_TRACK_MAX_REGIONS || c->nused > LT_TRACK_MAX_RANGES ||
	    (c->nregions && lt_regions_check(c->regions, c->nregions)))
		return -EINVAL;
	t->npages = c->npages;
	if (c->nregions)        /* regions and used may be NULL when empty */
		memcpy(t->regions, c->regions, c->nregions * sizeof(*c->regions));
	t->nregions = c->nregions;
	if (c->nused)
		memcpy(t->used, c->used, c->nused * sizeof(*c->used));
	t->nused = ranges_normalise(t->used, c->nused);
	t->nwords = (size_t)((c->npages + LT_WORD_PAGES - 1) / LT_WORD_PAGES);
	t->marks = calloc(t->nwords, sizeof(*t->marks));
	if (!t->marks)
		return -ENOMEM;
	if ((rc = lt_rates_init(&t->rates, c->nregions, now_ms)) ||
	    (rc = lt_wss_create(&t->wss, c->npages, LT_TRACK_HORIZON_MS, now_ms)) ||
	    (rc = lt_heat_init(&t->heat, c->npages))) {
		lt_track_destroy(t);
		return rc;
	}
	t->now_ms = now_ms;
	return 0;
}

void lt_track_destroy(struct lt_track *t)
{
	lt_rates_destroy(&t->rates);
	lt_wss_destroy(t->wss);
	lt_heat_destroy(&t->heat);
	free(t->marks);
	memset(t, 0, sizeof(*t));
}

bool lt_track_in_used(const struct lt_track *t, uint64_t page)
{
	for (size_t i = 0; i < t->nused; i++)
		if (page >= t->used[i].first && page - t->used[i].first < t->used[i].count)
			return true;
	return false;
}

/* Count [first, first + count) for src, split by region. */
static void count(struct lt_track *t, enum lt_source src, uint64_t first, uint64_t n)
{
	uint64_t per[LT_TRACK_MAX_REGIONS] = { 0 }, outside;

	if (!n)
		return;
	outside = lt_regions_count_run(t->regions, t->nregions, first, n, per);
	for (size_t g = 0; g < t->nregions; g++)
		if (per[g])
			lt_rates_add(&t->rates, src, g, per[g]);
	if (outside)
		lt_rates_add(&t->rates, src, LT_RATES_OUTSIDE, outside);
}

/* A backend run, cut at the used-ring ranges (sorted, disjoint). */
static void count_backend(struct lt_track *t, uint64_t first, uint64_t n)
{
	uint64_t end = first + n;

	for (size_t i = 0; i < t->nused && first < end; i++) {
		uint64_t ufirst = t->used[i].first, uend = ufirst + t->used[i].count;

		if (uend <= first)
			continue;
		if (ufirst >= end)
			break;
		if (ufirst > first) {
			count(t, LT_SRC_BACKEND_LOG, first, ufirst - first);
			first = ufirst;
		}
		count(t, LT_SRC_USED_RING, first, (uend < end ? uend : end) - first);
		first = uend < end ? uend : end;
	}
	if (first < end)
		count(t, LT_SRC_BACKEND_LOG, first, end - first);
}

static void on_runs(const struct lt_run *runs, size_t n, void *arg)
{
	struct feed *f = arg;
	struct lt_track *t = f->t;

	for (size_t i = 0; i < n; i++) {
		uint64_t first = runs[i].first, cnt = runs[i].count;

		if (first >= t->npages)
			break;   /* ascending: the rest is past the end too */
		if (cnt > t->npages - first)
			cnt = t->npages - first;
		if (f->backend)
			count_backend(t, first, cnt);
		else
			count(t, LT_SRC_GUEST_WRITER, first, cnt);
		lt_wss_mark(t->wss, first, cnt);
		lt_heat_add_run(&t->heat, first, cnt);
	}
}

/* The curve as the last sync left it: each window's pages and the span
 * they cover. 0, or -EINVAL from lt_wss_spans. */
static int curve_sample(const struct lt_track *t, uint64_t pages[LT_WSS_NWINDOWS],
			double span_ms[LT_WSS_NWINDOWS])
{
	lt_track_wss(t, pages);
	return lt_wss_spans(t->wss, lt_wss_windows_ms, LT_WSS_NWINDOWS, span_ms);
}

/* The sync just made into the curve's running mean: for each window whose
 * span is the window's, a plain mean over the first LT_TRACK_MEAN_SYNCS
 * samples, then an exponential one of the same weight. */
static void curve_mean_add(struct lt_track *t)
{
	uint64_t pages[LT_WSS_NWINDOWS];
	double span[LT_WSS_NWINDOWS];

	if (curve_sample(t, pages, span))
		return;
	for (size_t i = 0; i < LT_WSS_NWINDOWS; i++) {
		double w = lt_wss_windows_ms[i], n;

		if (!(span[i] >= w * 0.75 && span[i] <= w * 1.25))
			continue;
		if (t->mean_n[i] < LT_TRACK_MEAN_SYNCS)
			t->mean_n[i]++;
		n = t->mean_n[i];
		t->mean_span[i] += (span[i] - t->mean_span[i]) / n;
		t->mean_pages[i] += ((double)pages[i] - t->mean_pages[i]) / n;
	}
}

int lt_track_sync(struct lt_track *t, struct lt_log *backend, struct lt_log *guest,
		  uint64_t now_ms)
{
	struct lt_log *logs[2] = { backend, guest };
	int rc;

	for (int k = 0; k < 2; k++)
		if (logs[k] && logs[k]->nwords > t->nwords)
			return -EINVAL;
	if ((rc = lt_wss_advance(t->wss, now_ms)))
		return rc;
	for (int k = 0; k < 2; k++) {
		struct feed f = { .t = t, .backend = k == 0 };
		struct lt_sync how = { .on_runs = on_runs, .arg = &f, .merge = t->marks,
				       .merge_words = t->nwords };

		if (logs[k] && (rc = lt_log_sync(logs[k], &how, NULL)))
			return rc;
	}
	t->syncs++;
	t->now_ms = now_ms;
	curve_mean_add(t);
	return 0;
}

int lt_track_close(struct lt_track *t, uint64_t now_ms)
{
	int rc = lt_rates_close(&t->rates, now_ms);

	if (!rc) {
		t->last_syncs = t->syncs;
		t->syncs = 0;
	}
	return rc;
}

void lt_track_marks_clear(struct lt_track *t)
{
	memset(t->marks, 0, t->nwords * sizeof(*t->marks));
}

void lt_track_wss(const struct lt_track *t, uint64_t pages[LT_WSS_NWINDOWS])
{
	lt_wss_curve(t->wss, lt_wss_windows_ms, LT_WSS_NWINDOWS, pages);
}

int lt_track_curve(const struct lt_track *t, double span_ms[LT_WSS_NWINDOWS],
		   double pages[LT_WSS_NWINDOWS], uint32_t samples[LT_WSS_NWINDOWS])
{
	uint64_t now[LT_WSS_NWINDOWS];
	int rc;

	if ((rc = curve_sample(t, now, span_ms)))
		return rc;
	for (size_t i = 0; i < LT_WSS_NWINDOWS; i++) {
		samples[i] = t->mean_n[i];
		pages[i] = (double)now[i];
		if (!t->mean_n[i])
			continue;
		span_ms[i] = t->mean_span[i];
		pages[i] = t->mean_pages[i];
	}
	return 0;
}
