/* SPDX-License-Identifier: MIT */
/* mig_diff — where two copies of guest memory differ, page by page, and what
 * each differing page is: a migration whose digests differ names the pages
 * so that a backend engineer sees which write the dirty log missed.
 *
 * Each page is named by what lives there (the driver's RX or TX buffers of a
 * queue, a ring's used ring, descriptors or avail ring, a packed ring's
 * descriptors, guest RAM the memory writer uses, the rest of the device
 * area) and by whose log should have marked it: "backend" for what the
 * backend writes (RX buffers, used rings, packed descriptors), "guest" for
 * what only the guest writes (the guest-side bitmap: the driver's rings and
 * TX frames, the writer's pages).
 *
 * Runs on the migration's thread with the guest paused and the source's
 * rings stopped: nothing writes either memory. */
#ifndef VHM_MIG_DIFF_H
#define VHM_MIG_DIFF_H

#include <jansson.h>
#include <stdint.h>

#include "device.h"

#define MIG_DIFF_MAX 16            /* pages named; the rest are counted */

struct mig_diff_page {
	uint64_t gpa;              /* guest-physical, page aligned */
	char what[48];             /* "queue 0 RX buffers #12-#13", "used ring of ring 2" */
	char log[8];               /* whose log should have marked it: backend | guest */
};

struct mig_diff {
	uint64_t count;            /* pages that differ */
	int n;                     /* of which named in page[] (the lowest GPAs) */
	struct mig_diff_page page[MIG_DIFF_MAX];
};

/* Compare src and dst (same layout) page by page; d names the pages. */
void mig_diff_pages(const struct device *d, const struct gmem *src, const struct gmem *dst,
		    struct mig_diff *out);
/* Count page pfn as differing, naming it if fewer than MIG_DIFF_MAX are
 * named (pages added in increasing order name the lowest GPAs). */
void mig_diff_add(const struct device *d, uint64_t pfn, struct mig_diff *out);
/* "N pages differ, first 0x...: WHAT (LOG's log)" into buf. */
void mig_diff_summary(const struct mig_diff *df, char *buf, size_t len);
/* {"count": N, "pages": [{"gpa", "what", "log"}...]} (new reference). */
json_t *mig_diff_json(const struct mig_diff *df);

#endif
