/* SPDX-License-Identifier: MIT */
/* lt_track — the dirty-log analyzer: what one tracking session derives from
 * the two dirty sets of a guest, sync after sync.
 *
 * Each sync (lt_track_sync) takes
 *   - the backend's vhost log: pages inside the used rings (the page ranges
 *     given at init) count as source "used-ring", the others as
 *     "backend-log" (RX buffers, in a virtio-net device);
 *   - the guest writer's dirty set (the VMM's view of vCPU writes): source
 *     "guest-writer";
 * clears both (they are consumed), and feeds the pages into the per-source
 * and per-region rates (lt_rates), the working-set tracker (lt_wss; a page
 * dirtied by both sources is one page there) and its curve's mean over the
 * last syncs (lt_track_curve), the 2 MiB heat map (lt_heat),
 * and a bitmap of every page seen since the last lt_track_marks_clear (what
 * verify mode checks page changes against).
 *
 * Pages are counted once per sync they are found dirty in: rates are
 * page-dirtyings per second at the sync period's resolution. lt_track_close
 * ends an interval (normally several syncs).
 *
 * Knows nothing of devices or sockets; single-threaded (the caller's). */
#ifndef VHM_LT_TRACK_H
#define VHM_LT_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_heat.h"
#include "lt_log.h"
#include "lt_rates.h"
#include "lt_wss.h"

#define LT_TRACK_MAX_REGIONS 16
#define LT_TRACK_MAX_RANGES  64
#define LT_TRACK_HORIZON_MS  10000    /* wss windows up to 10 s */
#define LT_TRACK_MEAN_SYNCS  20       /* lt_track_curve: the mean of about the last 20 syncs */

/* Pages [first, first + count). */
struct lt_range {
	uint64_t first, count;
};

struct lt_track_cfg {
	uint64_t npages;                  /* pages the logs describe (log->npages) */
	const struct lt_region *regions;  /* guest memory map, checked; copied (names are not) */
	size_t nregions;
	const struct lt_range *used;      /* used-ring pages, any order, may overlap; copied */
	size_t nused;
};

struct lt_track {
	uint64_t npages;
	struct lt_region regions[LT_TRACK_MAX_REGIONS];
	size_t nregions;
	struct lt_range used[LT_TRACK_MAX_RANGES];   /* sorted, merged */
	size_t nused;
	struct lt_rates rates;
	struct lt_wss *wss;
	struct lt_heat heat;              /* since init */
	uint64_t *marks;                  /* pages seen since lt_track_marks_clear */
	size_t nwords;
	uint64_t syncs;                   /* in the open interval */
	uint64_t last_syncs;              /* in the last closed interval */
	uint64_t now_ms;                  /* of the last sync */
	/* The working-set curve's running mean (lt_track_curve), per window of
	 * lt_wss_windows_ms: span and pages averaged over the syncs whose span
	 * was the window's, mean_n of them (at most LT_TRACK_MEAN_SYNCS). */
	double mean_span[LT_WSS_NWINDOWS], mean_pages[LT_WSS_NWINDOWS];
	uint32_t mean_n[LT_WSS_NWINDOWS];
};

/* 0, -EINVAL (0 pages, bad regions, too many regions or ranges) or -ENOMEM. */
int lt_track_init(struct lt_track *t, const struct lt_track_cfg *c, uint64_t now_ms);
void lt_track_destroy(struct lt_track *t);

/* Sync and clear both logs at now_ms (either may be NULL) into the open
 * interval. -EINVAL if now_ms goes backwards or a log is larger than npages. */
int lt_track_sync(struct lt_track *t, struct lt_log *backend, struct lt_log *guest,
		  uint64_t now_ms);

/* Close the interval at now_ms (rates: t->rates). -EINVAL unless after its start. */
int lt_track_close(struct lt_track *t, uint64_t now_ms);

/* Is page p in a used ring? */
bool lt_track_in_used(const struct lt_track *t, uint64_t page);

/* Every page seen by a sync since the last lt_track_marks_clear: t->marks,
 * t->nwords words in the log's layout. */
void lt_track_marks_clear(struct lt_track *t);

/* The working-set curve at lt_wss_windows_ms into pages[LT_WSS_NWINDOWS]. */
void lt_track_wss(const struct lt_track *t, uint64_t pages[LT_WSS_NWINDOWS]);

/* The working-set curve a model should read, per window of lt_wss_windows_ms:
 * the span its pages cover and the pages (lt_wss_spans, lt_wss_curve), each
 * the mean over the last LT_TRACK_MEAN_SYNCS syncs, where one sync's curve
 * is a single sample whose short windows vary by several per cent from one
 * sync to the next (the pages a 50 ms window catches, the ms its sync
 * spans). A sync whose span for a window is not within a quarter of the
 * window (a late sync; a window longer than tracking has run) does not
 * count for it; a window without such a sync gets the latest sample.
 * samples[i]: how many syncs window i's mean is of (0: the latest sample).
 * 0, or -EINVAL from lt_wss_spans. */
int lt_track_curve(const struct lt_track *t, double span_ms[LT_WSS_NWINDOWS],
		   double pages[LT_WSS_NWINDOWS], uint32_t samples[LT_WSS_NWINDOWS]);

#endif
