/* SPDX-License-Identifier: MIT */
/* mig_verify — proving that the destination's copy of guest memory is the
 * source's, without paying for the proof inside the downtime.
 *
 * Two modes (`vhm migrate --verify`):
 *   - sync: digests of both memories inside the switchover, before the
 *     destination starts; a difference rolls the migration back. Costs
 *     ~100 ms of downtime for 256 MiB.
 *   - after-resume (the default): inside the switchover only the pages of
 *     every ring (descriptors, avail and used rings: a few pages, what the
 *     backend and the driver rewrite first once the guest runs) are compared;
 *     a difference there still rolls back. The destination starts with
 *     dirty logging on (its own log, set up before the downtime) and the
 *     guest resumes on it. The source's memory, frozen since the stop, is
 *     kept and compared page by page with the destination's afterwards:
 *     a page that differs is a missed write unless the destination's log or
 *     the guest-side bitmap marked it since the resume. Pages dirtied since
 *     the resume cannot be proved and are counted ("excluded"). A difference
 *     found here is past the commit point: it cannot be rolled back, so it is
 *     reported loudly (a "verify" event, the report's "verified": false, the
 *     pages named, `vhm migrate` exits non-zero).
 *
 * Runs on the migration's thread. During mig_verify_after_resume the guest
 * and the destination backend write the destination's memory: reads of it
 * are racy by design (gmem.h), each difference is confirmed after a grace
 * period against the logs. */
#ifndef VHM_MIG_VERIFY_H
#define VHM_MIG_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"
#include "lt_log.h"
#include "mig_diff.h"

enum mig_verify_mode {
	MIG_VERIFY_AFTER_RESUME = 0,   /* the default */
	MIG_VERIFY_SYNC,
	MIG_VERIFY_NONE,               /* a hot swap: one memory, nothing to prove */
	MIG_VERIFY_STREAM,             /* a stream: the destination compares the
					* source's digest with its own memory's */
};

/* "after-resume", "sync" or "none". */
const char *mig_verify_name(enum mig_verify_mode m);
/* The mode named s; -EINVAL for anything else. */
int mig_verify_parse(const char *s, enum mig_verify_mode *out);

/* Compare the ring pages of every ring of d, src against dst; the pages
 * that differ are named in *out (cleared first). Guest paused, source
 * stopped, destination not started: nothing writes either memory. */
void mig_verify_rings(const struct device *d, const struct gmem *src, const struct gmem *dst,
		      struct mig_diff *out);

struct mig_verify_after {
	uint64_t compared;         /* pages holding data in either memory, compared */
	uint64_t excluded;         /* pages dirtied since the resume: not proved */
	double ms;                 /* the whole check, outside the downtime */
	struct mig_diff diff;      /* missed writes, named */
};

/* Compare src (the stopped source's memory, frozen) with dst (running)
 * page by page. logs[0..nlogs) are the logs marking writes to dst since the
 * resume (the destination backend's, the guest-side bitmap), cleared at the
 * resume; they are synced (and cleared) here. -ENOMEM, or 0 with *out
 * filled: out->diff.count == 0 means proved. */
int mig_verify_after_resume(const struct device *d, const struct gmem *src,
			    const struct gmem *dst, struct lt_log *const *logs, int nlogs,
			    struct mig_verify_after *out);

#endif
