/* SPDX-License-Identifier: MIT */
/* Dirty rates by source and region: counts added into the open interval,
 * turned into pages/s and MiB/s when it closes, with a time-constant EWMA. */
#include "lt_rates.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lt_log.h"

#define PAGES_PER_MIB ((double)(1u << 20) / (double)LT_PAGE_SIZE)

const char *lt_source_name(enum lt_source s)
{
	static const char *const names[LT_SRC_COUNT] = {
		[LT_SRC_BACKEND_LOG] = "backend-log",
		[LT_SRC_GUEST_WRITER] = "guest-writer",
		[LT_SRC_USED_RING] = "used-ring",
	};

	return (unsigned)s < LT_SRC_COUNT ? names[s] : "?";
}

double lt_rates_alpha(double dt_ms)
{
	return dt_ms > 0 ? 1.0 - exp(-dt_ms / LT_RATES_TAU_MS) : 0.0;
}

int lt_rates_init(struct lt_rates *r, size_t nregions, uint64_t now_ms)
{
	memset(r, 0, sizeof(*r));
	r->count_region = calloc(nregions + 1, sizeof(*r->count_region));
	r->region = calloc(nregions + 1, sizeof(*r->region));
	if (!r->count_region || !r->region) {
		lt_rates_destroy(r);
		return -ENOMEM;
	}
	r->nregions = nregions;
	r->open_ms = now_ms;
	r->started = true;
	return 0;
}

void lt_rates_destroy(struct lt_rates *r)
{
	free(r->count_region);
	free(r->region);
	memset(r, 0, sizeof(*r));
}

int lt_rates_add(struct lt_rates *r, enum lt_source src, size_t region, uint64_t pages)
{
	if ((unsigned)src >= LT_SRC_COUNT)
		return -EINVAL;
	if (region == LT_RATES_OUTSIDE)
		region = r->nregions;
	else if (region >= r->nregions)
		return -EINVAL;
	r->count_src[src] += pages;
	r->count_region[region] += pages;
	return 0;
}

/* Turn one counter into the rate of an interval of dt_ms and fold it into the average. */
static void rate_update(struct lt_rate *rate, uint64_t pages, double dt_ms, double alpha,
			bool seeded)
{
	rate->pages = pages;
	rate->pages_per_s = (double)pages * 1000.0 / dt_ms;
	rate->mib_per_s = rate->pages_per_s / PAGES_PER_MIB;
	if (seeded)
		rate->ewma_pages_per_s += alpha * (rate->pages_per_s - rate->ewma_pages_per_s);
	else
		rate->ewma_pages_per_s = rate->pages_per_s;
	rate->ewma_mib_per_s = rate->ewma_pages_per_s / PAGES_PER_MIB;
}

int lt_rates_close(struct lt_rates *r, uint64_t now_ms)
{
	double dt_ms, alpha;
	uint64_t total = 0;

	if (!r->started || now_ms <= r->open_ms)
		return -EINVAL;
	dt_ms = (double)(now_ms - r->open_ms);
	alpha = lt_rates_alpha(dt_ms);
	for (size_t s = 0; s < LT_SRC_COUNT; s++) {
		rate_update(&r->src[s], r->count_src[s], dt_ms, alpha, r->seeded);
		total += r->count_src[s];
	}
	rate_update(&r->total, total, dt_ms, alpha, r->seeded);
	for (size_t g = 0; g <= r->nregions; g++)
		rate_update(&r->region[g], r->count_region[g], dt_ms, alpha, r->seeded);
	memset(r->count_src, 0, sizeof(r->count_src));
	memset(r->count_region, 0, (r->nregions + 1) * sizeof(*r->count_region));
	r->seeded = true;
	r->last_dt_ms = dt_ms;
	r->open_ms = now_ms;
	return 0;
}
