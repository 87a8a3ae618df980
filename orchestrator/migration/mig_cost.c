/* SPDX-License-Identifier: MIT */
/* The fixed costs of a migration, read mig_cost.h first. Each per-page cost
 * is the median of three timings on a sample memory larger than the caches
 * (the best one, on a cache-sized sample, came out 8x below what the
 * migration then took on a loaded machine); the sample is a gmem, as the
 * destination's memory is. */
#include "mig_cost.h"

#include <string.h>
#include <sys/mman.h>

#include "util.h"

#define PAGE GMEM_PAGE_SIZE
#define SAMPLE_PAGES (MIG_COST_SAMPLE_BYTES / PAGE)
#define GRACE_MS 2.0               /* mig_verify's second look */
#define TRIES 3

static double ns_since(uint64_t t0)
{
	return (double)(vhm_now_ns() - t0);
}

static double median3(const double v[3])
{
	double lo = v[0] < v[1] ? v[0] : v[1], hi = v[0] < v[1] ? v[1] : v[0];

	return v[2] < lo ? lo : v[2] > hi ? hi : v[2];
}

/* ns per page to prefault fresh memory (MADV_POPULATE_WRITE). */
static double sample_populate(struct gmem *m)
{
	uint64_t t0;

	madvise(m->r[0].hva, MIG_COST_SAMPLE_BYTES, MADV_REMOVE);
	t0 = vhm_now_ns();
	madvise(m->r[0].hva, MIG_COST_SAMPLE_BYTES, MADV_POPULATE_WRITE);
	return ns_since(t0) / SAMPLE_PAGES;
}

/* ns per page to compare two resident pages (the halves of the sample). */
static double sample_compare(const struct gmem *m)
{
	const uint8_t *a = m->r[0].hva, *b = a + MIG_COST_SAMPLE_BYTES / 2;
	uint64_t t0 = vhm_now_ns();
	int differ = 0;
	volatile int sink;         /* the compares must happen */

	for (size_t off = 0; off < MIG_COST_SAMPLE_BYTES / 2; off += PAGE)
		differ += memcmp(a + off, b + off, PAGE) != 0;
	sink = differ;
	(void)sink;
	return ns_since(t0) / (SAMPLE_PAGES / 2);
}

/* ns per page of gmem_digest over resident data. */
static double sample_digest(const struct gmem *m)
{
	uint64_t t0 = vhm_now_ns();
	volatile uint64_t h = gmem_digest(m, 0, 0);

	(void)h;
	return ns_since(t0) / SAMPLE_PAGES;
}

int mig_cost_estimate(const struct device *d, enum mig_verify_mode mode, uint64_t data_pages,
		      struct mig_cost *out)
{
	double pop[TRIES], cmp[TRIES], dig[TRIES];
	struct gmem m;
	char err[200];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = gmem_create(&m, MIG_COST_SAMPLE_BYTES, "mig-cost", err, sizeof(err))))
		return rc;
	for (int i = 0; i < TRIES; i++) {
		pop[i] = sample_populate(&m);
		/* the same bytes in both halves: a compare reads every byte */
		memset(m.r[0].hva, 0x5a + i, MIG_COST_SAMPLE_BYTES);
		cmp[i] = sample_compare(&m);
		dig[i] = sample_digest(&m);
	}
	gmem_destroy(&m);
	out->populate_ns = median3(pop);
	out->compare_ns = median3(cmp);
	out->digest_ns = median3(dig);
	out->setup_ms = d->backend_start_ms + (double)data_pages * out->populate_ns / 1e6;
	if (mode == MIG_VERIFY_SYNC)
		out->check_ms = (double)data_pages * out->digest_ns / 1e6;
	else
		out->check_ms = (double)data_pages * out->compare_ns / 1e6 + GRACE_MS;
	return 0;
}
