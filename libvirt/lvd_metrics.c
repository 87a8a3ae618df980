/* SPDX-License-Identifier: MIT */
/* The watcher's metrics: libvirt's job figures turned into the fleet's
 * families. libvirt gives durations in ms and dirty rates in MiB/s (after
 * lvd_stats' normalisation); the exposition wants seconds and bytes. */
#include "lvd_metrics.h"

#include <stdlib.h>

int lvd_metrics_result(const struct lvd_job *fin)
{
	if (!LVD_HAVE(fin, operation) || fin->operation != VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT)
		return -1;
	switch (fin->type) {
	case VIR_DOMAIN_JOB_COMPLETED: return METRICS_MIG_OK;
	case VIR_DOMAIN_JOB_FAILED: return METRICS_MIG_FAILED;
	case VIR_DOMAIN_JOB_CANCELLED: return METRICS_MIG_CANCELLED;
	default: return -1;
	}
}

void lvd_metrics_job_ended(struct metrics_migs *m, const struct lvd_job *fin)
{
	int r = lvd_metrics_result(fin);

	if (r < 0)
		return;
	metrics_migs_ended(m, (enum metrics_mig_result)r,
			   LVD_HAVE(fin, time_elapsed_ms) ? (double)fin->time_elapsed_ms / 1000 : -1,
			   r == METRICS_MIG_OK && LVD_HAVE(fin, downtime_ms) ?
				   (double)fin->downtime_ms / 1000 : -1);
}

static void dirty_sample(struct metrics_buf *b, const char *domain, const char *source,
			 double bps)
{
	const char *l[] = { "domain", domain, "source", source, NULL };

	if (bps >= 0)
		metrics_sample(b, METRICS_DIRTY_RATE, METRICS_GAUGE, l, bps);
}

void lvd_metrics_write(struct metrics_buf *b, bool connected, const struct lvd_mrow *rows,
		       size_t n)
{
	const char **names = calloc(n + 1, sizeof(*names));
	const struct metrics_migs **migs = calloc(n + 1, sizeof(*migs));

	metrics_family(b, "vhm_libvirt_connected", METRICS_GAUGE, NULL,
		       "1 while vhm libvirt-watch is connected to libvirt");
	metrics_sample(b, "vhm_libvirt_connected", METRICS_GAUGE, NULL, connected);
	metrics_dirty_rate_family(b);
	for (size_t i = 0; i < n; i++) {
		dirty_sample(b, rows[i].domain, "migration", rows[i].job_dirty_bps);
		dirty_sample(b, rows[i].domain, "calculation", rows[i].calc_dirty_bps);
	}
	if (!names || !migs) {
		b->oom = true;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		names[i] = rows[i].domain;
		migs[i] = rows[i].migs;
	}
	metrics_migs_write(b, "domain", names, migs, n);
out:
	free(names);
	free(migs);
}
