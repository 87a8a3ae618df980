/* SPDX-License-Identifier: MIT */
/* run_track — dirty-memory tracking of a running device: the control commands
 * `track-start`, `track-stop`, `dirty` and `predict`, and the "dirty" event.
 *
 * While tracking, the device's backend logs into a log of ours (dirty
 * logging turned on exactly as a migration turns it on: dev_log_start), and
 * every LT sync period (50 ms) the run loop's thread syncs that log and the
 * guest writer's dirty set into an lt_track (rates by source and region,
 * working set, heat); every interval (default 1 s) it closes the interval,
 * runs a verify pass if asked (lt_verify), and emits a "dirty" event.
 *
 * Both dirty sets are consumed (cleared) by a sync, and so they are by a
 * migration. The two never run together: while a migration runs (`busy`),
 * the tracker neither syncs nor sends a request; the migration takes the
 * backend's log over (its own SET_LOG_BASE) and turns logging off when it
 * ends. After it, tracking turns logging on again on whatever backend the
 * device then has (the destination, or the source after a rollback) and
 * goes on; the interval spanning the migration is flagged "migrated" (its
 * rates miss the pages the migration consumed).
 *
 * Everything here runs on the run loop's thread. */
#ifndef VHM_RUN_TRACK_H
#define VHM_RUN_TRACK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl.h"
#include "device.h"
#include "lt_predict.h"
#include "mig_verify.h"

#define RUN_TRACK_SYNC_MS        50      /* sync period, and the shortest wss window */
#define RUN_TRACK_INTERVAL_MS    1000    /* default event interval */
#define RUN_TRACK_MAX_FINDINGS   4096    /* pages with verify findings kept for `dirty` */

struct run_track;

/* A tracker for d that emits on srv; off until track-start. All borrowed;
 * cost_dir (may be NULL): where the costs of migrations made here are kept,
 * which its predictions read (mig_cost.h). */
int run_track_create(struct run_track **out, struct device *d, struct ctl_server *srv,
		     const char *cost_dir);
/* Stop tracking (logging off unless the backend is gone) and free. NULL ok. */
void run_track_destroy(struct run_track *t);

/* The run loop: how long it may sleep (ms, at most max_ms), and the tick
 * that syncs and publishes when due. busy: a migration owns the backend. */
int run_track_timeout_ms(const struct run_track *t, int max_ms);
void run_track_tick(struct run_track *t, uint64_t now_ns, bool busy);

/* Control commands (ctl_cmd fn bodies; busy as above). */
int run_track_ctl_start(struct run_track *t, bool busy, json_t *args, json_t **ret, char *err,
		    size_t errlen);
int run_track_ctl_stop(struct run_track *t, bool busy, json_t *args, json_t **ret, char *err,
		   size_t errlen);
int run_track_ctl_dirty(struct run_track *t, json_t *args, json_t **ret, char *err, size_t errlen);
int run_track_ctl_predict(struct run_track *t, json_t *args, json_t **ret, char *err, size_t errlen);

/* Would a pre-copy migration of the device converge now, at bandwidth
 * (bytes/s) with a downtime limit (ms) in max_rounds rounds (0: 31, the
 * migration's default 30 iterations after the first copy)? Runs lt_predict
 * on the current working-set curve and the guest's data pages, its total
 * with the set-up and the proof `verify` makes (mig_cost: sampled, or kept
 * from the migrations made here). in (may be
 * NULL) gets the inputs used. 0, -ENODATA (not tracking), -EINVAL. */
int run_track_predict(struct run_track *t, double bandwidth, double downtime_ms,
		      unsigned max_rounds, enum mig_verify_mode verify, struct lt_predict_in *in,
		      struct lt_predict_out *out);
/* The prediction as JSON (new reference), inputs included. */
json_t *run_track_predict_json(const struct lt_predict_in *in, const struct lt_predict_out *out);

#endif
