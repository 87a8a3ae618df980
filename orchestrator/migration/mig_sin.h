/* SPDX-License-Identifier: MIT */
/* mig_sin — the destination's reading of a whole migration stream, in the
 * order the format prescribes (docs/stream.md): MEMORY first (this
 * destination's own layout), then pages and zero runs with PASS markers,
 * then DEVICE once, SWITCHOVER, GO, END. Pages land in the destination's gmem;
 * at SWITCHOVER its digest is computed and must equal the source's (the
 * digest proof on both sides); END's checksum must match. What comes out is
 * the device state the destination starts its rings from.
 *
 * Pure like mig_stream: the decoder's transport is the caller's; runs on
 * the caller's thread; no device is touched. */
#ifndef VHM_MIG_SIN_H
#define VHM_MIG_SIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmem.h"
#include "mig_stream.h"

struct mig_sin_result {
	struct mig_stream_device device;   /* .blob points at blob below */
	uint8_t *blob;           /* owned: mig_sin_result_free */
	uint32_t passes;         /* PASS sections seen */
	uint64_t data_pages, zero_pages;
	uint64_t digest;         /* the source's, equal to the destination's */
};

/* Called at each PASS section (progress); may be NULL. */
typedef void (*mig_sin_pass_fn)(void *ctx, uint32_t pass, const struct mig_sin_result *sofar);

/* What a destination does at the stream's turning points, on the reading
 * thread; each returns 0 or -errno with err (the reading stops there). */
struct mig_sin_hooks {
	/* MEMORY arrived: *mem = the memory the pages go to (made now, sized
	 * by m; mig_smem_apply then checks its layout is m's). */
	int (*memory)(void *ctx, const struct mig_stream_memory *m, struct gmem **mem, char *err,
		      size_t errlen);
	/* A stream over several connections (header flag CHANNELS): the
	 * CHANNELS section after MEMORY; take the page connections. NULL: such
	 * a stream is refused. */
	int (*channels)(void *ctx, const struct mig_stream_chan *c, char *err, size_t errlen);
	/* MEMORY (and CHANNELS) applied: the layout is *mem's. May be NULL. */
	int (*ready)(void *ctx, char *err, size_t errlen);
	/* DEVICE arrived: every page connection's pages must be in (their
	 * ENDs read) before it applies. May be NULL (one connection). */
	int (*pages_done)(void *ctx, char *err, size_t errlen);
	mig_sin_pass_fn pass;    /* may be NULL */
	/* The digests agreed (res->device and res->digest filled): make ready
	 * to start, without starting (answer READY); GO is read next. May be
	 * NULL. */
	int (*switchover)(void *ctx, const struct mig_sin_result *res, char *err, size_t errlen);
	/* GO came: start the device (the commit); END is read after. May be
	 * NULL. */
	int (*go)(void *ctx, const struct mig_sin_result *res, char *err, size_t errlen);
};

/* Read the stream on d (header included) into mem. 0 with *res filled, or
 * -errno with err naming what was wrong: the decoder's refusals, a section
 * out of order, a DEVICE section missing or twice, digests that differ
 * (-EIO). */
int mig_sin_receive(struct mig_sdec *d, struct gmem *mem, struct mig_sin_result *res,
		    mig_sin_pass_fn on_pass, void *ctx, char *err, size_t errlen);
void mig_sin_result_free(struct mig_sin_result *res);
/* The same with hooks: MEMORY makes the memory, SWITCHOVER prepares the
 * device, GO starts it. *switched tells whether the go hook succeeded (then
 * a later failure, a bad END, comes after the commit). */
int mig_sin_run(struct mig_sdec *d, const struct mig_sin_hooks *h, void *ctx,
		struct mig_sin_result *res, bool *switched, char *err, size_t errlen);

#endif
