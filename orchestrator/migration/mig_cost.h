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
 *   - the switch: the downtime beyond its last pages at the bandwidth cap
 *     (stopping the source with GET_VRING_BASE, the last sync, starting the
 *     destination's rings), a few ms that the backends' answers make and no
 *     sample can tell; added to the modelled downtime, which otherwise is
 *     the last pages at the cap. Not sampled: 0 until a migration kept it.
 * These are why the costs of the migrations made here are kept: after each
 * local migration that copied, its set-up per page prefaulted, its proof
 * per page compared and (under a cap) its switch go into DIR/vhm-costs.json
 * (DIR: the run directory, one a host), the last MIG_COST_KEPT of each; once
 * there, the estimate takes their median instead of the samples for that
 * part (mig_cost.source says which). The file is read as hostile input: one that is not vhm's is left
 * alone (neither read nor replaced), values that are not a plausible cost a
 * page are dropped.
 * Runs on the caller's thread (the loop's: `migrate`, `predict`, and a
 * finished job's mig_job_poll); the samples take tens of milliseconds on an
 * idle machine, several hundred beside busy-polling backends. */
#ifndef VHM_MIG_COST_H
#define VHM_MIG_COST_H

#include <stdint.h>

#include "device.h"
#include "mig_verify.h"
#include "migrate.h"

#define MIG_COST_SAMPLE_BYTES (32u << 20)   /* gmem's smallest memory */
#define MIG_COST_FILE "vhm-costs.json"      /* in the run directory */
#define MIG_COST_KEPT 8                     /* migrations' costs kept, the latest */
#define MIG_COST_MIN_PAGES 16384            /* smaller migrations are not kept */

/* What the migrations made here cost, oldest first: ns per page, and ms. */
struct mig_cost_kept {
	int nsetup, ncheck, nswitch;
	double setup_ns[MIG_COST_KEPT];   /* set-up (start .. logging) / pages prefaulted */
	double check_ns[MIG_COST_KEPT];   /* after-resume proof (less its grace) / compared */
	double switch_ms[MIG_COST_KEPT];  /* the downtime beyond its last pages at the cap
					   * (mig_report.downtime_switch_ms) */
};

struct mig_cost {
	double setup_ms;           /* before the first pass */
	double check_ms;           /* the proof: in the downtime (sync) or after */
	double populate_ns, map_ns, compare_ns, digest_ns;   /* per page, as sampled */
	double switch_ms;          /* the downtime's part beyond its last pages at the
				    * cap: the kept median, 0 when none is kept */
	double setup_kept_ns, check_kept_ns;   /* medians of the kept, 0: none kept */
	int setup_kept, check_kept, switch_kept;   /* how many migrations they are of */
};

/* Estimate for d, whose memory holds data_pages pages of data, proved by
 * `mode`; kept (may be NULL) replaces a sampled part where it has values. 0,
 * or -errno when the sample memory could not be made. */
int mig_cost_estimate(const struct device *d, enum mig_verify_mode mode, uint64_t data_pages,
		      const struct mig_cost_kept *kept, struct mig_cost *out);

/* Read dir/MIG_COST_FILE into k (zeroed first). 0 when read or absent (k
 * empty); -errno and one line in err when it could not be read or is not
 * vhm's. Values that are no plausible cost are dropped (0 still). */
int mig_cost_load(const char *dir, struct mig_cost_kept *k, char *err, size_t errlen);

/* Keep what rep's migration cost (a local copying one that ended well and
 * moved at least MIG_COST_MIN_PAGES; others change nothing: 0). The file is
 * replaced whole (a temporary beside it, renamed), only when it is vhm's or
 * absent. -errno and one line in err otherwise. */
int mig_cost_keep(const char *dir, const struct mig_report *rep, char *err, size_t errlen);

#endif
