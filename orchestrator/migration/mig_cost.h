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
 *     way. The sample's pages are ones just freed, which a machine hands
 *     out cheaply; in a VM whose host took freed pages back (free page
 *     reporting) first touching pages beyond what was freed lately costs
 *     several times more (here 1.0 us a page for the first GiB, 6.7-8.6
 *     for the next ones), which no small sample sees: there the set-up is
 *     modelled short (docs/bench.md);
 *   - the proof: after-resume compares both memories page by page once the
 *     guest runs (plus its 2 ms grace), sync takes the digests of both in
 *     parallel inside the downtime; per-page costs sampled here on a memory
 *     of the same kind (sealed memfd), MIG_COST_SAMPLE_BYTES, the median of
 *     three. The proof runs beside the resumed guest, the backends'
 *     busy-polling lcores and whatever else shares the CPUs, at whatever
 *     share of a CPU it gets: 0.3-1.7 s for 1 GiB here where the sample
 *     said 50-200 ms (docs/bench.md), which no sample taken before the
 *     migration can tell.
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
