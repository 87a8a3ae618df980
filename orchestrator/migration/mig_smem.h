/* SPDX-License-Identifier: MIT */
/* mig_smem — guest memory through the migration stream: the sending side
 * turns a gmem's pages (all of them, or those set in a dirty bitmap) into
 * PAGES runs and ZERO runs (mig_stream.h); the receiving side applies each
 * PAGES or ZERO section to its own gmem and checks that the stream's
 * MEMORY layout is its own.
 *
 * Sending reads guest memory the guest may be writing (gmem.h, "racy"):
 * each run is copied into a staging buffer first, so that the bytes sent
 * and the bytes the checksum covers are the same bytes; a page written
 * meanwhile is the dirty log's to send again. Receiving writes the
 * destination's memory, which no guest runs on yet. One mig_smem_tx
 * belongs to one thread. */
#ifndef VHM_MIG_SMEM_H
#define VHM_MIG_SMEM_H

#include <stddef.h>
#include <stdint.h>

#include "gmem.h"
#include "mig_stream.h"

/* Several connections (mig_schan.h) share guest memory by stripes of
 * MIG_SMEM_STRIPE pages, dealt round-robin: stripe k goes on connection
 * k % n, in every pass. A page thus always travels on the same connection,
 * so its copies arrive in the order they were sent. A multiple of 64: a
 * dirty bitmap's word belongs to one connection. */
#define MIG_SMEM_STRIPE 2048u      /* pages: 8 MiB */

/* The connection (0..n-1) that carries guest page pfn among n. */
static inline uint32_t mig_smem_owner(uint64_t pfn, uint32_t n)
{
	return n > 1 ? (uint32_t)((pfn / MIG_SMEM_STRIPE) % n) : 0;
}

struct mig_smem_tx {
	struct mig_senc *e;
	const struct gmem *mem;
	uint8_t *stage;          /* MIG_STREAM_RUN_MAX pages */
	uint64_t data_pfn, zero_pfn, nzero;
	uint32_t ndata;
	uint64_t data_pages, zero_pages;   /* sent so far, by kind */
	int rc;                  /* first transport error, sticky */
	uint32_t chan, nchan;    /* send only the pages of connection chan among
				  * nchan (mig_smem_owner); nchan 0 or 1: all */
	/* Called after each PAGES section went out with its page count (may be
	 * NULL): the sender's progress, its other duties (a migration serves its
	 * backend's channel there) and its way to stop a pass -- a non-zero
	 * -errno return becomes rc and ends the pass. */
	int (*tick)(void *ctx, uint32_t pages);
	void *tick_ctx;
};

/* 0 or -ENOMEM. */
int mig_smem_tx_init(struct mig_smem_tx *t, struct mig_senc *e, const struct gmem *mem);
void mig_smem_tx_destroy(struct mig_smem_tx *t);
/* The MEMORY section: mem's regions. */
int mig_smem_send_layout(struct mig_smem_tx *t);
/* Every page of guest memory: data as PAGES, zero pages and never-written
 * holes as ZERO runs, so the destination needs no assumption about what
 * its memory held. 0 or the transport's -errno. */
int mig_smem_send_all(struct mig_smem_tx *t);
/* The pages set in bm (bit n = guest page n, nwords words), clearing each
 * bit as its page goes. 0 or -errno. */
int mig_smem_send_dirty(struct mig_smem_tx *t, uint64_t *bm, size_t nwords);

/* Apply section s, just read by d, to mem: MEMORY must describe mem's
 * layout; PAGES are read into it; ZERO runs are cleared (a hole punched in
 * the memfd: nothing allocated). Other sections are the caller's: 0.
 * 0, or -errno with err naming what did not fit. */
int mig_smem_apply(struct mig_sdec *d, const struct mig_ssec *s, struct gmem *mem, char *err,
		   size_t errlen);

#endif
