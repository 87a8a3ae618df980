/* SPDX-License-Identifier: MIT */
/* The fixed costs of a migration, read mig_cost.h first. Each per-page cost
 * is the median of three timings (the best one, on a cache-sized sample,
 * came out 8x below what the migration then took on a loaded machine); the
 * sample is a gmem, as the destination's memory is. */
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

/* ns per page for a second mapping of resident pages with MAP_POPULATE:
 * what a backend that faults its mapping in (testpmd) pays at SET_MEM_TABLE
 * once the prefault has allocated the pages. 0 when it could not map. */
static double sample_map_present(const struct gmem *m)
{
	uint64_t t0 = vhm_now_ns();
	void *p = mmap(NULL, MIG_COST_SAMPLE_BYTES, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, m->r[0].fd, 0);
	double ns = ns_since(t0) / SAMPLE_PAGES;

	if (p == MAP_FAILED)
		return 0;
	munmap(p, MIG_COST_SAMPLE_BYTES);
	return ns;
}

/* The set-up: the prefault allocates the pages, then the destination backend
 * maps them. The device's own backend start-up is no measure of that second
 * part: at the open the backend allocated fresh pages itself (testpmd: 4-14 s
 * for 1 GiB on the loaded bench machine, where the whole set-up of a
 * migration took 0.8-6 s and the sum of both, the model before, was 1.6-12x
 * the set-up measured). It bounds it, though: mapping pages already there
 * costs a backend at most what mapping and allocating them did. */
static double setup_ms(double backend_start_ms, double prefault_ms, double map_ms)
{
	return prefault_ms + (backend_start_ms < map_ms ? backend_start_ms : map_ms);
}

int mig_cost_estimate(const struct device *d, enum mig_verify_mode mode, uint64_t data_pages,
		      struct mig_cost *out)
{
	double pop[TRIES], map[TRIES], cmp[TRIES], dig[TRIES];
	struct gmem m;
	char err[200];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = gmem_create(&m, MIG_COST_SAMPLE_BYTES, "mig-cost", err, sizeof(err))))
		return rc;
	for (int i = 0; i < TRIES; i++) {
		pop[i] = sample_populate(&m);
		map[i] = sample_map_present(&m);
		/* the same bytes in both halves: a compare reads every byte */
		memset(m.r[0].hva, 0x5a + i, MIG_COST_SAMPLE_BYTES);
		cmp[i] = sample_compare(&m);
		dig[i] = sample_digest(&m);
	}
	gmem_destroy(&m);
	out->populate_ns = vhm_median(pop, TRIES);
	out->map_ns = vhm_median(map, TRIES);
	out->compare_ns = vhm_median(cmp, TRIES);
	out->digest_ns = vhm_median(dig, TRIES);
	out->setup_ms = setup_ms(d->backend_start_ms, (double)data_pages * out->populate_ns / 1e6,
				 (double)data_pages * out->map_ns / 1e6);
	if (mode == MIG_VERIFY_SYNC)
		out->check_ms = (double)data_pages * out->digest_ns / 1e6;
	else
		out->check_ms = (double)data_pages * out->compare_ns / 1e6 + GRACE_MS;
	return 0;
}
