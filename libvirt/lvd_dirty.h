/* SPDX-License-Identifier: MIT */
/* lvd_dirty — dirty-rate measurements of `vhm libvirt-watch`, each on a
 * thread of its own: libvirt's calculation (virDomainStartDirtyRateCalc, then
 * the "dirtyrate.*" fields of VIR_DOMAIN_STATS_DIRTYRATE) and, over the same
 * window, the backend's view of every vhostuser interface from eBPF
 * (lvd_bview.h).
 *
 * Why threads: starting a calculation is a QEMU monitor command
 * (calc-dirty-rate) that waits while a job holds the monitor, and the result
 * comes seconds later; the daemon's main thread must answer its control
 * socket meanwhile.
 *
 * Threads: lvd_dirty_start(), lvd_dirty_busy(), lvd_dirty_reap() and
 * lvd_dirty_stop() are the main thread's.  A measuring thread opens its own
 * libvirt connection, and hands its one result to the report callback, on
 * the measuring thread: the callback must only queue (as lvd_jobs.h). */
#ifndef VHM_LVD_DIRTY_H
#define VHM_LVD_DIRTY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define LVD_DIRTY_MAX      16 /* measurements at once */
#define LVD_DIRTY_GRACE_S  10 /* past the period, before libvirt's result is given up */

/* Called on a measuring thread with the "dirty-rate" event's data (stolen). */
typedef void (*lvd_dirty_report_fn)(void *ctx, const char *domain, json_t *data);

struct lvd_dirty;

/* The set of measurements for the libvirt at uri.  NULL when out of memory. */
struct lvd_dirty *lvd_dirty_new(const char *uri, lvd_dirty_report_fn report, void *ctx);

/* Start measuring domain over seconds (1..60).  0, -EBUSY (one runs for that
 * domain already, or LVD_DIRTY_MAX do), -EAGAIN (no thread), with a reason. */
int lvd_dirty_start(struct lvd_dirty *s, const char *domain, int seconds, char *err,
		    size_t errlen);
/* Is a measurement of domain running (its result not queued yet)? */
bool lvd_dirty_busy(const struct lvd_dirty *s, const char *domain);
/* Join the measurements that ended. */
void lvd_dirty_reap(struct lvd_dirty *s);
/* Ask every measurement to end (they report nothing more), join, free.
 * NULL is fine. */
void lvd_dirty_stop(struct lvd_dirty *s);

/* The result of one measurement (for the daemon and tests):
 * lvd_dirtyrate_json()'s members plus "unit": "MiB/s" beside dirty_mib_s,
 * and "backend": [lvd_bview_end() of each vhostuser interface]; or
 * {"domain", "error"} when libvirt gave no result. */

#endif
