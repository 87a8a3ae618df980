/* SPDX-License-Identifier: MIT */
/* lt_rates — how fast guest memory is dirtied, per interval, by source and by
 * region: pages/s, MiB/s, and an EWMA of each.
 *
 * The caller counts pages into the open interval (lt_rates_add: which source
 * dirtied them and in which region), then closes it with the time; closing
 * turns the counts into rates and updates the averages. A page dirtied by two
 * sources in one interval counts once for each: the source rows are events,
 * their sum an upper bound of unique pages (unique counts come from lt_wss).
 *
 * EWMA: avg += alpha * (rate - avg), alpha = 1 - exp(-dt / tau), tau = 1 s.
 * A time constant rather than a fixed alpha, because intervals vary (a sync
 * may run late): a 100 ms interval gets alpha = 0.095, a 1 s one 0.63, so the
 * average means the same thing whatever the sync period. 1 s damps the jitter
 * of 50-100 ms syncs while following a change within ~3 s (95 %), shorter than
 * a pre-copy round of a large guest. The first interval seeds the average. */
#ifndef VHM_LT_RATES_H
#define VHM_LT_RATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LT_RATES_TAU_MS 1000.0  /* EWMA time constant, ms */

/* Who dirtied a page. */
enum lt_source {
	LT_SRC_BACKEND_LOG,     /* the vhost dirty log (backend writes) */
	LT_SRC_GUEST_WRITER,    /* the guest's own CPUs (the VMM's dirty set) */
	LT_SRC_USED_RING,       /* used-ring pages (logged with VHOST_VRING_F_LOG) */
	LT_SRC_COUNT
};

/* Name for displays: "backend-log", "guest-writer", "used-ring". */
const char *lt_source_name(enum lt_source s);

struct lt_rate {
	uint64_t pages;         /* pages counted in the last closed interval */
	double pages_per_s;     /* last interval */
	double mib_per_s;       /* last interval, pages * 4 KiB */
	double ewma_pages_per_s;
	double ewma_mib_per_s;
};

#define LT_RATES_OUTSIDE ((size_t)-1)  /* region index for pages in no region */

struct lt_rates {
	size_t nregions;
	uint64_t open_ms;       /* start of the open interval (caller's clock, ms) */
	bool started;           /* open_ms is set */
	bool seeded;            /* the averages hold a value */
	double last_dt_ms;      /* length of the last closed interval */
	uint64_t count_src[LT_SRC_COUNT];
	uint64_t *count_region; /* nregions + 1 (the last: outside any region) */
	struct lt_rate src[LT_SRC_COUNT];
	struct lt_rate total;   /* sum of the sources */
	struct lt_rate *region; /* nregions + 1, summed over sources */
};

/* Start with nregions regions and an interval opening at now_ms. Owns its
 * arrays until lt_rates_destroy. 0 or -ENOMEM. */
int lt_rates_init(struct lt_rates *r, size_t nregions, uint64_t now_ms);
void lt_rates_destroy(struct lt_rates *r);

/* Count pages dirtied by src in region (index, or LT_RATES_OUTSIDE) into the
 * open interval. -EINVAL for a bad source or region. */
int lt_rates_add(struct lt_rates *r, enum lt_source src, size_t region, uint64_t pages);

/* Close the interval at now_ms: compute its rates, update the EWMAs, zero the
 * counts and open the next one. -EINVAL if now_ms is not after its start. */
int lt_rates_close(struct lt_rates *r, uint64_t now_ms);

/* EWMA weight for an interval of dt_ms (see the top of this file). */
double lt_rates_alpha(double dt_ms);

#endif
