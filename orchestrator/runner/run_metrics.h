/* SPDX-License-Identifier: MIT */
/* run_metrics — `vhm run --metrics`: the device's figures for Prometheus
 * (docs/metrics.md), served by common/metrics from the run loop.
 *
 * Families, each labelled device="NAME" (the instance name):
 *   vhm_dirty_tracking                  1 while a tracker runs (track-start)
 *   vhm_dirty_rate_bytes_per_second     {source}: logtrack's rates by source
 *                                       over its last interval (tracking only)
 *   vhm_dirty_working_set_bytes         {window_seconds}: distinct memory
 *                                       dirtied within the window (tracking only)
 *   the migration families of metrics_migs_write (metrics.h)
 * and, while a `vhm run --incoming` waits for or receives its device:
 *   vhm_incoming_phase                  {phase}: 1 for the phase now, 0 others
 *   vhm_incoming_received_bytes         counter: bytes read from the source
 *   vhm_incoming_passes                 counter: pre-copy passes received
 *
 * Threads: everything here belongs to the run loop's thread; the fill runs
 * there too (metrics_srv_handle), reading the tracker as its commands do
 * and the incoming migration through mig_incoming_json (any thread). */
#ifndef VHM_RUN_METRICS_H
#define VHM_RUN_METRICS_H

#include <jansson.h>
#include <stddef.h>

#include "metrics.h"
#include "mig_incoming.h"
#include "run_track.h"

struct run_metrics {
	struct metrics_srv *srv;        /* NULL: --metrics not given */
	char device[64];
	struct run_track *trk;          /* borrowed, may be NULL */
	struct mig_incoming *in;        /* borrowed while it runs, else NULL */
	struct metrics_migs migs;
};

/* Listen on spec for device `device`; trk borrowed (may be NULL, and set
 * later in m->trk). 0 or -errno with err. */
int run_metrics_open(struct run_metrics *m, const char *spec, const char *device,
		     struct run_track *trk, char *err, size_t errlen);
void run_metrics_close(struct run_metrics *m);

/* A migration ended with this report (mig_report_json: "result",
 * "total_ms", "downtime": {"ms"}). */
void run_metrics_migration(struct run_metrics *m, const json_t *report);
/* Which result a report's "result" line means: "ok..." is ok, a line
 * naming a cancel is cancelled, anything else failed. */
enum metrics_mig_result run_metrics_classify(const char *result);

#endif
