/* SPDX-License-Identifier: MIT */
/* mig_cost — what a migration's fixed parts will cost on this device, for
 * logtrack's prediction (lt_predict_in.setup_ms, check_ms), which models the
 * pre-copy rounds and the downtime but not what surrounds them:
 *   - setup: prefaulting the destination where the source holds data
 *     (migrate.c), then the destination backend's memory table: a backend
 *     that faults its mapping in (testpmd) maps pages the prefault already
 *     allocated, at a per-page cost sampled here (a MAP_POPULATE mapping of
 *     resident pages), but never more than the device's own backend
 *     start-up took at its open (dev->backend_start_ms), when the backend
 *     also allocated them; one that does not fault in costs little either
 *     way;
 *   - the proof: after-resume compares both memories page by page once the
 *     guest runs (plus its 2 ms grace), sync takes the digests of both in
 *     parallel inside the downtime; per-page costs sampled here on a memory
 *     of the same kind (sealed memfd) larger than the caches,
 *     MIG_COST_SAMPLE_BYTES, the median of three.
 * Runs on the caller's thread (the loop's: `migrate`, `predict`); takes a few
 * tens of milliseconds. */
#ifndef VHM_MIG_COST_H
#define VHM_MIG_COST_H

#include <stdint.h>

#include "device.h"
#include "mig_verify.h"

#define MIG_COST_SAMPLE_BYTES (32u << 20)   /* gmem's smallest memory */

struct mig_cost {
	double setup_ms;           /* before the first pass */
	double check_ms;           /* the proof: in the downtime (sync) or after */
	double populate_ns, map_ns, compare_ns, digest_ns;   /* per page, as sampled */
};

/* Estimate for d, whose memory holds data_pages pages of data, proved by
 * `mode`. 0, or -errno when the sample memory could not be made. */
int mig_cost_estimate(const struct device *d, enum mig_verify_mode mode, uint64_t data_pages,
		      struct mig_cost *out);

#endif
