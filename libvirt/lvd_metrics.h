/* SPDX-License-Identifier: MIT */
/* lvd_metrics — `vhm libvirt-watch --metrics`: libvirt's domains for
 * Prometheus (docs/metrics.md), in the same families as `vhm run --metrics`
 * with domain="NAME" where a device has device="NAME", as Prometheus'
 * libvirt exporter labels domains:
 *   vhm_libvirt_connected              1 while the watcher is connected
 *   vhm_dirty_rate_bytes_per_second    {domain, source}: source="migration"
 *                                      (a running migration's dirty rate, from
 *                                      its job statistics), "calculation" (the
 *                                      last dirty-rate calculation, vhm's
 *                                      `dirty-rate` command)
 *   the migration families of metrics_migs_write, counting outgoing
 *   migrations by libvirt's final word on them (JOB_COMPLETED, or the
 *   completed job statistics of a failed or cancelled one)
 * libvirt reports no working set: that family is vhm run's only.
 *
 * Pure bookkeeping and text: the daemon (lvd_daemon.c, its main thread)
 * owns the figures and calls these. */
#ifndef VHM_LVD_METRICS_H
#define VHM_LVD_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "lvd_stats.h"
#include "metrics.h"

/* One domain in a scrape. */
struct lvd_mrow {
	const char *domain;
	const struct metrics_migs *migs;
	double job_dirty_bps;           /* running migration's dirty rate, < 0: none */
	double calc_dirty_bps;          /* last calculation's, < 0: none */
};

/* An ended job's result as a migration, from libvirt's final statistics
 * (type COMPLETED / FAILED / CANCELLED); -1 when it is not an outgoing
 * migration or the type is not final. */
int lvd_metrics_result(const struct lvd_job *fin);
/* Count fin in m if it is an ended outgoing migration. */
void lvd_metrics_job_ended(struct metrics_migs *m, const struct lvd_job *fin);
/* The families for the n domains. */
void lvd_metrics_write(struct metrics_buf *b, bool connected, const struct lvd_mrow *rows,
		       size_t n);

#endif
