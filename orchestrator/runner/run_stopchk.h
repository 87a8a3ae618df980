/* SPDX-License-Identifier: MIT */
/* run_stopchk — verify's stop check: the one moment a running device's log
 * must be complete, seen from outside the backend. The spec wants every
 * write of a stopped ring logged before GET_VRING_BASE is answered; verify's
 * passes, which never stop the rings, forgive a mark that comes late (the
 * next pass takes it) and miss a write whose page another writer marks
 * within the pass (docs/logtrack.md, "Verify mode"). The stop check, run at
 * the end of a verify session, stops the rings as a migration does:
 *
 *   run_stopchk_open     (right after the caller's snapshot) the window
 *                        opens: the frames the backend returned so far;
 *   run_stopchk_stop     with traffic running, the backend's writes awaited
 *                        in the window (RUN_STOPCHK_WINDOW_FRAMES frames
 *                        back, at most RUN_STOPCHK_AWAIT_MS: a stalled
 *                        datapath would leave it nothing to see), the
 *                        guest's TX quiesced (dev_quiesce: nothing in
 *                        flight), the guest paused, GET_VRING_BASE on every
 *                        ring and the status reset (dev_backend_stop);
 *   (the caller syncs the log and compares memory with its last verify
 *    snapshot: a changed page unmarked by now was not logged by the reply)
 *   run_stopchk_watch    those pages watched in the log for
 *                        RUN_STOPCHK_WATCH_MS more: a mark that comes then
 *                        names the fault precisely (logged N ms late);
 *   run_stopchk_restart  every ring restarted from its base exactly as a
 *                        migration's rollback restarts its source
 *                        (dev_backend_start with the device's features,
 *                        logging off), the guest resumed.
 *
 * Runs on the thread that owns the device's connection (`vhm run`'s loop). */
#ifndef VHM_RUN_STOPCHK_H
#define VHM_RUN_STOPCHK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "lt_log.h"

#define RUN_STOPCHK_QUIESCE_MS 2000   /* as long as the guest's TX may take to drain */
#define RUN_STOPCHK_WATCH_MS   200    /* marks watched after GET_VRING_BASE's reply */
#define RUN_STOPCHK_STEP_MS    5      /* how often the log is read meanwhile */
#define RUN_STOPCHK_WINDOW_FRAMES 64  /* frames back in the window before the stop */
#define RUN_STOPCHK_AWAIT_MS   500    /* at most this long for them */

struct run_stopchk {
	uint32_t bases[DEV_MAX_RINGS];
	bool stopped;             /* rings stopped, even half: restart them all */
	uint64_t t_stop_ns;       /* the guest paused */
	uint64_t t_reply_ns;      /* the last GET_VRING_BASE reply */
	uint64_t back0;           /* frames back (RX and TX used) at the window's opening */
	uint64_t window_frames;   /* frames back from the opening to the stop */
	double await_ms;          /* waiting for RUN_STOPCHK_WINDOW_FRAMES of them */
	double quiesce_ms;        /* dev_quiesce */
	double stopped_ms;        /* guest paused to guest resumed */
};

/* Open the window (zeroes s): call right after the snapshot. */
void run_stopchk_open(struct run_stopchk *s, const struct device *d);

/* Await the window's frames, quiesce, pause, stop every ring. 0, or -errno
 * with err (the rings then still need run_stopchk_restart). */
int run_stopchk_stop(struct run_stopchk *s, struct device *d, char *err, size_t errlen);

/* Watch pages[n] in log (syncing, so clearing, it) until RUN_STOPCHK_WATCH_MS
 * after the reply: late_ms[i] = ms after the reply its mark came, -1 if it
 * did not. -ENOMEM, or 0. */
int run_stopchk_watch(const struct run_stopchk *s, struct lt_log *log, const uint64_t *pages,
		      size_t n, int *late_ms);

/* Restart the rings stopped (from their bases, as a migration's rollback)
 * and resume the guest. 0, or -errno with err (the guest is resumed anyway). */
int run_stopchk_restart(struct run_stopchk *s, struct device *d, char *err, size_t errlen);

#endif
