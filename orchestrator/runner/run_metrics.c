/* SPDX-License-Identifier: MIT */
/* The run loop's metrics: what a scrape of `vhm run --metrics` shows, built
 * from the tracker's latest figures (its `dirty` answer) and the migrations
 * counted as they end (metrics_migs). */
#include "run_metrics.h"

#include <stdio.h>
#include <string.h>

#define PAGE_BYTES 4096.0

enum metrics_mig_result run_metrics_classify(const char *result)
{
	if (!result)
		return METRICS_MIG_FAILED;
	if (!strncmp(result, "ok", 2))
		return METRICS_MIG_OK;
	return strstr(result, "cancel") ? METRICS_MIG_CANCELLED : METRICS_MIG_FAILED;
}

void run_metrics_migration(struct run_metrics *m, const json_t *report)
{
	enum metrics_mig_result r = run_metrics_classify(
		json_string_value(json_object_get(report, "result")));
	json_t *dt = json_object_get(json_object_get(report, "downtime"), "ms");

	metrics_migs_ended(&m->migs, r,
			   json_number_value(json_object_get(report, "total_ms")) / 1000.0,
			   r == METRICS_MIG_OK && json_is_number(dt) ? json_number_value(dt) / 1000.0
								    : -1);
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
	metrics_dirty_rate_family(b);
	json_object_foreach(rates, key, v) {
		const char *l[] = { "device", m->device, "source", key, NULL };

		if (strcmp(key, "total"))   /* the sum of the others: PromQL's sum() */
			metrics_sample(b, METRICS_DIRTY_RATE, METRICS_GAUGE, l,
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

/* An incoming migration: its phase (one sample per phase, 1 for the
 * current one: a state set), bytes and passes received so far. */
static void fill_incoming(struct run_metrics *m, struct metrics_buf *b)
{
	const char *dev[] = { "device", m->device, NULL };
	json_t *o = mig_incoming_json(m->in);
	const char *now = json_string_value(json_object_get(o, "phase"));

	metrics_family(b, "vhm_incoming_phase", METRICS_GAUGE, NULL,
		       "1 for the incoming migration's phase now (vhm run --incoming)");
	for (int p = MIG_IN_WAITING; p <= MIG_IN_FAILED; p++) {
		const char *name = mig_in_phase_name(p);
		const char *l[] = { "device", m->device, "phase", name, NULL };

		metrics_sample(b, "vhm_incoming_phase", METRICS_GAUGE, l,
			       now && !strcmp(now, name));
	}
	metrics_family(b, "vhm_incoming_received_bytes", METRICS_COUNTER, "bytes",
		       "Bytes of the migration stream read from the source");
	metrics_sample(b, "vhm_incoming_received_bytes", METRICS_COUNTER, dev,
		       json_number_value(json_object_get(o, "bytes")));
	metrics_family(b, "vhm_incoming_passes", METRICS_COUNTER, NULL,
		       "Pre-copy passes received from the source");
	metrics_sample(b, "vhm_incoming_passes", METRICS_COUNTER, dev,
		       json_number_value(json_object_get(o, "passes")));
	json_decref(o);
}

static void fill(void *ctx, struct metrics_buf *b)
{
	struct run_metrics *m = ctx;
	const char *name = m->device;
	const struct metrics_migs *migs = &m->migs;

	if (m->in)     /* no device yet: what is coming */
		fill_incoming(m, b);
	else
		fill_dirty(m, b);
	metrics_migs_write(b, "device", &name, &migs, 1);
}

int run_metrics_open(struct run_metrics *m, const char *spec, const char *device,
		     struct run_track *trk, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	m->trk = trk;
	snprintf(m->device, sizeof(m->device), "%s", device);
	metrics_migs_init(&m->migs);
	return metrics_srv_open(&m->srv, spec, fill, m, err, errlen);
}

void run_metrics_close(struct run_metrics *m)
{
	metrics_srv_close(m->srv);
	m->srv = NULL;
}
