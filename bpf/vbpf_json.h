/* SPDX-License-Identifier: MIT */
/* vbpf_json — the counters of each attached probe as JSON, one builder for
 * both readers: `vhm trace --json` (what happened in one interval) and a
 * running device's "bpf" object (totals since the probes attached, with
 * rates since the last sample). Both show the same keys for the same
 * counters; the latency quantile comes from one function. */
#ifndef VHM_VBPF_JSON_H
#define VHM_VBPF_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "vbpf.h"

enum vbpf_json_kind {
	/* Counts since attach; "<key>_per_s" over (now - prev) / dt_s, only
	 * when dt_s > 0. */
	VBPF_JSON_TOTALS,
	/* Counts of now - prev; every rate (0 when dt_s is 0); and what only an
	 * interval shows: "other_family", the two latency histograms,
	 * "first_touch_total". */
	VBPF_JSON_INTERVAL,
};

/* Latency of both directions of the "ctl" probe: the upper bound in µs of the
 * histogram slot below which a fraction q (0..1) of the calls lie, counting
 * calls since prev (NULL: since attach); 0 if there was no call. */
uint64_t vbpf_lat_quantile_us(const struct vbpf_counters *now,
			      const struct vbpf_counters *prev, double q);

/* The ctl probe's vhost-user requests counted between prev (NULL: attach)
 * and now, one object per request number seen: {"request", "name" (when
 * known), "received", "served", "serve_us" (mean, when served), "sent",
 * "answered", "rtt_us" (mean, when answered)}; a new array. */
json_t *vbpf_json_requests(const struct vbpf_counters *now, const struct vbpf_counters *prev);

/* Set "ctl", "kick", "pf", "kvm" and "uprobes" in o for each probe of v that
 * is attached, from samples now and prev (both read by the caller, which
 * keeps them; o keeps its owner). */
void vbpf_json_probes(json_t *o, const struct vbpf *v, const struct vbpf_counters *now,
		      const struct vbpf_counters *prev, double dt_s, enum vbpf_json_kind kind);

#endif
