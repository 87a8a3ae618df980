/* SPDX-License-Identifier: MIT */
/* The run loop's metrics: what a scrape of `vhm run --metrics` shows, built
 * from the tracker's latest figures (its `dirty` answer) and the migrations
 * counted as they end. The bucket bounds are the downtime and duration
 * scales of live migration: milliseconds to seconds, seconds to minutes. */
#include "run_metrics.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define PAGE_BYTES 4096.0

static const double downtime_le[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
				      0.5, 1, 2.5, 5, 10 };
static const double total_le[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600 };
static const char *const result_names[RUN_MIG_NRESULTS] = {
	[RUN_MIG_OK] = "ok", [RUN_MIG_FAILED] = "failed", [RUN_MIG_CANCELLED] = "cancelled",
};

enum run_mig_result run_metrics_classify(const char *result)
{
	if (!result)
		return RUN_MIG_FAILED;
	if (!strncmp(result, "ok", 2))
		return RUN_MIG_OK;
	return strstr(result, "cancel") ? RUN_MIG_CANCELLED : RUN_MIG_FAILED;
}

void run_metrics_migration(struct run_metrics *m, const json_t *report)
{
	enum run_mig_result r = run_metrics_classify(json_string_value(json_object_get(report,
										  "result")));
	json_t *dt = json_object_get(json_object_get(report, "downtime"), "ms");
	struct timespec ts;

	m->results[r]++;
	m->last = (int)r;
	clock_gettime(CLOCK_REALTIME, &ts);
	m->last_end_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	metrics_hist_observe(&m->total, json_number_value(json_object_get(report, "total_ms")) /
				     1000.0);
	if (r == RUN_MIG_OK && json_is_number(dt))
		metrics_hist_observe(&m->downtime, json_number_value(dt) / 1000.0);
}

/* The tracker's figures: rates by source and the working-set curve. */
static void fill_dirty(struct run_metrics *m, struct metrics_buf *b)
{
	const char *dev[] = { "device", m->device, NULL };
	json_t *d = NULL, *rates, *wss, *v;
	char err[64], win[32];
	const char *key;
	size_t i;
	bool on;

	if (!m->trk || run_track_ctl_dirty(m->trk, NULL, &d, err, sizeof(err)))
		d = NULL;
	on = json_is_true(json_object_get(d, "active"));
	metrics_family(b, "vhm_dirty_tracking", METRICS_GAUGE, NULL,
		       "1 while dirty tracking runs on the device (track-start; the backend logs its writes)");
	metrics_sample(b, "vhm_dirty_tracking", METRICS_GAUGE, dev, on);
	rates = on ? json_object_get(d, "rates") : NULL;
	wss = on ? json_object_get(d, "wss") : NULL;
	metrics_family(b, "vhm_dirty_rate_bytes_per_second", METRICS_GAUGE, "bytes_per_second",
		       "Guest memory dirtied per second over the tracker's last interval, by source");
	json_object_foreach(rates, key, v) {
		const char *l[] = { "device", m->device, "source", key, NULL };

		if (strcmp(key, "total"))   /* the sum of the others: PromQL's sum() */
			metrics_sample(b, "vhm_dirty_rate_bytes_per_second", METRICS_GAUGE, l,
				       json_number_value(json_object_get(v, "pages_per_s")) *
					       PAGE_BYTES);
	}
	metrics_family(b, "vhm_dirty_working_set_bytes", METRICS_GAUGE, "bytes",
		       "Distinct guest memory dirtied within the last window_seconds");
	json_array_foreach(wss, i, v) {
		const char *l[] = { "device", m->device, "window_seconds", win, NULL };

		snprintf(win, sizeof(win), "%g",
			 json_number_value(json_object_get(v, "window_ms")) / 1000.0);
		metrics_sample(b, "vhm_dirty_working_set_bytes", METRICS_GAUGE, l,
			       json_number_value(json_object_get(v, "pages")) * PAGE_BYTES);
	}
	json_decref(d);
}

static void fill_migrations(struct run_metrics *m, struct metrics_buf *b)
{
	const char *dev[] = { "device", m->device, NULL };

	metrics_family(b, "vhm_migrations", METRICS_COUNTER, NULL,
		       "Live migrations of the device that ended, by result");
	for (int r = 0; r < RUN_MIG_NRESULTS; r++) {
		const char *l[] = { "device", m->device, "result", result_names[r], NULL };

		metrics_sample(b, "vhm_migrations", METRICS_COUNTER, l, (double)m->results[r]);
	}
	metrics_family(b, "vhm_migration_downtime_seconds", METRICS_HISTOGRAM, "seconds",
		       "Downtime of migrations that switched over: first GET_VRING_BASE to the guest resuming on the destination");
	metrics_hist_samples(b, "vhm_migration_downtime_seconds", dev, &m->downtime);
	metrics_family(b, "vhm_migration_total_time_seconds", METRICS_HISTOGRAM, "seconds",
		       "Duration of migrations that ended, whatever the result");
	metrics_hist_samples(b, "vhm_migration_total_time_seconds", dev, &m->total);
	if (m->last < 0)
		return;
	metrics_family(b, "vhm_migration_last_result", METRICS_GAUGE, NULL,
		       "1 for the result of the device's last migration, 0 for the others");
	for (int r = 0; r < RUN_MIG_NRESULTS; r++) {
		const char *l[] = { "device", m->device, "result", result_names[r], NULL };

		metrics_sample(b, "vhm_migration_last_result", METRICS_GAUGE, l, r == m->last);
	}
	metrics_family(b, "vhm_migration_last_end_timestamp_seconds", METRICS_GAUGE, "seconds",
		       "When the device's last migration ended (Unix time)");
	metrics_sample(b, "vhm_migration_last_end_timestamp_seconds", METRICS_GAUGE, dev,
		       m->last_end_s);
}

static void fill(void *ctx, struct metrics_buf *b)
{
	fill_dirty(ctx, b);
	fill_migrations(ctx, b);
}

int run_metrics_open(struct run_metrics *m, const char *spec, const char *device,
		     struct run_track *trk, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	m->last = -1;
	m->trk = trk;
	snprintf(m->device, sizeof(m->device), "%s", device);
	if (metrics_hist_init(&m->downtime, downtime_le, VHM_ARRAY_SIZE(downtime_le)) ||
	    metrics_hist_init(&m->total, total_le, VHM_ARRAY_SIZE(total_le)))
		return vhm_err(err, errlen, -EINVAL, "metrics: bad histogram bounds");
	return metrics_srv_open(&m->srv, spec, fill, m, err, errlen);
}

void run_metrics_close(struct run_metrics *m)
{
	metrics_srv_close(m->srv);
	m->srv = NULL;
}
