/* SPDX-License-Identifier: MIT */
/* vbpf_json — per-probe JSON for `vhm trace` and the device (contract in
 * vbpf_json.h). Each probe is one small function that lists its keys in
 * order; put_count() and put_rate() decide, from the kind, whether a key
 * shows a total or an interval's delta and whether its rate is shown. */
#include "vbpf_json.h"

#include <stdio.h>

struct sample {
	const struct vbpf *v;
	const struct vbpf_counters *now, *prev;
	double dt_s;
	enum vbpf_json_kind kind;
};

#define INTERVAL(s) ((s)->kind == VBPF_JSON_INTERVAL)

uint64_t vbpf_lat_quantile_us(const struct vbpf_counters *now,
			      const struct vbpf_counters *prev, double q)
{
	uint64_t total = 0, seen = 0, h[VBPF_HIST_SLOTS];

	for (unsigned s = 0; s < VBPF_HIST_SLOTS; s++) {
		h[s] = now->ctl_hist[VBPF_SEND][s] + now->ctl_hist[VBPF_RECV][s];
		if (prev)
			h[s] -= prev->ctl_hist[VBPF_SEND][s] + prev->ctl_hist[VBPF_RECV][s];
		total += h[s];
	}
	if (!total)
		return 0;
	for (unsigned s = 0; s < VBPF_HIST_SLOTS; s++) {
		seen += h[s];
		if (seen >= q * (double)total)
			return vbpf_hist_slot_us(s + 1);
	}
	return vbpf_hist_slot_us(VBPF_HIST_SLOTS);
}

/* key: the total (now) or the interval's delta (now - prev). */
static void put_count(json_t *o, const struct sample *s, const char *key, uint64_t now,
		      uint64_t prev)
{
	json_object_set_new(o, key, json_integer((json_int_t)(INTERVAL(s) ? now - prev : now)));
}

/* "<key>_per_s": (now - prev) / dt_s; a total shows it only with a dt_s. */
static void put_rate(json_t *o, const struct sample *s, const char *key, uint64_t now,
		     uint64_t prev)
{
	char name[64];

	if (!INTERVAL(s) && s->dt_s <= 0)
		return;
	snprintf(name, sizeof(name), "%s_per_s", key);
	json_object_set_new(o, name, json_real(s->dt_s > 0 ? (double)(now - prev) / s->dt_s : 0));
}

#define COUNT(o, s, key, field) put_count(o, s, key, (s)->now->field, (s)->prev->field)
#define RATE(o, s, key, field) put_rate(o, s, key, (s)->now->field, (s)->prev->field)
#define BOTH(s, field) ((s)->now->field[VBPF_SEND] + (s)->now->field[VBPF_RECV])
#define BOTH_PREV(s, field) ((s)->prev->field[VBPF_SEND] + (s)->prev->field[VBPF_RECV])

/* One direction's interval histogram, up to its last non-empty slot. */
static json_t *hist_json(const struct sample *s, int dir)
{
	json_t *arr = json_array();
	unsigned last = 0;

	for (unsigned i = 0; i < VBPF_HIST_SLOTS; i++)
		if (s->now->ctl_hist[dir][i] - s->prev->ctl_hist[dir][i])
			last = i + 1;
	for (unsigned i = 0; i < last; i++)
		json_array_append_new(arr, json_integer((json_int_t)(s->now->ctl_hist[dir][i] -
								     s->prev->ctl_hist[dir][i])));
	return arr;
}

/* Mean of a sum of ns over n, in µs. */
static double mean_us(uint64_t ns, uint64_t n)
{
	return n ? (double)ns / (double)n / 1000.0 : 0;
}

json_t *vbpf_json_requests(const struct vbpf_counters *now, const struct vbpf_counters *prev)
{
	static const struct vbpf_counters zero;
	json_t *arr = json_array();

	if (!prev)
		prev = &zero;
	for (uint32_t r = 0; r < VBPF_MAX_REQ; r++) {
		uint64_t in = now->req_in[r] - prev->req_in[r];
		uint64_t out = now->req_out[r] - prev->req_out[r];
		uint64_t served = now->req_served[r] - prev->req_served[r];
		uint64_t answered = now->req_answered[r] - prev->req_answered[r];
		const char *name = vbpf_req_name(r);
		json_t *o;

		if (!in && !out && !served && !answered)
			continue;
		o = json_pack("{s:i, s:I, s:I, s:I, s:I}", "request", (int)r, "received",
			      (json_int_t)in, "served", (json_int_t)served, "sent", (json_int_t)out,
			      "answered", (json_int_t)answered);
		if (name)
			json_object_set_new(o, "name", json_string(name));
		if (served)
			json_object_set_new(o, "serve_us", json_real(mean_us(
				now->req_serve_ns[r] - prev->req_serve_ns[r], served)));
		if (answered)
			json_object_set_new(o, "rtt_us", json_real(mean_us(
				now->req_rtt_ns[r] - prev->req_rtt_ns[r], answered)));
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *ctl_json(const struct sample *s)
{
	const struct vbpf_counters *since = INTERVAL(s) ? s->prev : NULL;
	json_t *o = json_object();

	COUNT(o, s, "send", ctl_msgs[VBPF_SEND]);
	COUNT(o, s, "recv", ctl_msgs[VBPF_RECV]);
	RATE(o, s, "send", ctl_msgs[VBPF_SEND]);
	RATE(o, s, "recv", ctl_msgs[VBPF_RECV]);
	COUNT(o, s, "send_bytes", ctl_bytes[VBPF_SEND]);
	COUNT(o, s, "recv_bytes", ctl_bytes[VBPF_RECV]);
	put_count(o, s, "errors", BOTH(s, ctl_errors), BOTH_PREV(s, ctl_errors));
	if (INTERVAL(s))
		put_count(o, s, "other_family", BOTH(s, ctl_other), BOTH_PREV(s, ctl_other));
	json_object_set_new(o, "lat_p50_us",
			    json_integer((json_int_t)vbpf_lat_quantile_us(s->now, since, 0.5)));
	json_object_set_new(o, "lat_max_us",
			    json_integer((json_int_t)vbpf_lat_quantile_us(s->now, since, 1.0)));
	if (INTERVAL(s)) {
		json_object_set_new(o, "send_hist_log2_us", hist_json(s, VBPF_SEND));
		json_object_set_new(o, "recv_hist_log2_us", hist_json(s, VBPF_RECV));
	}
	json_object_set_new(o, "requests", vbpf_json_requests(s->now, since));
	COUNT(o, s, "other_requests", req_other);
	return o;
}

static json_t *kick_json(const struct sample *s)
{
	json_t *o = json_object();

	COUNT(o, s, "writes", evfd_writes);
	COUNT(o, s, "reads", evfd_reads);
	RATE(o, s, "writes", evfd_writes);
	RATE(o, s, "reads", evfd_reads);
	return o;
}

static json_t *pf_json(const struct sample *s)
{
	json_t *o = json_object();

	COUNT(o, s, "faults", pf_faults);
	COUNT(o, s, "first_touch", pf_first_touch);
	RATE(o, s, "first_touch", pf_first_touch);
	if (INTERVAL(s))
		json_object_set_new(o, "first_touch_total",
				    json_integer((json_int_t)s->now->pf_first_touch));
	COUNT(o, s, "table_full", pf_table_full);
	return o;
}

static json_t *kvm_json(const struct sample *s)
{
	json_t *o = json_object();

	COUNT(o, s, "dirty_pages", kvm_dirty);
	RATE(o, s, "dirty_pages", kvm_dirty);
	return o;
}

static json_t *uprobe_json(const struct sample *s, size_t i)
{
	json_t *o = json_pack("{s:s}", "symbol", vbpf_uprobe_name(s->v, i));

	COUNT(o, s, "calls", up_calls[i]);
	RATE(o, s, "calls", up_calls[i]);
	if (!vbpf_uprobe_counts_packets(s->v, i))
		return o;
	COUNT(o, s, "packets", up_ret_sum[i]);
	/* vhm trace has always shown packets without a rate (its table has it). */
	if (!INTERVAL(s))
		RATE(o, s, "packets", up_ret_sum[i]);
	return o;
}

static json_t *uprobes_json(const struct sample *s)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < vbpf_uprobe_count(s->v); i++)
		if (vbpf_uprobe_attached(s->v, i))
			json_array_append_new(arr, uprobe_json(s, i));
	return arr;
}

void vbpf_json_probes(json_t *o, const struct vbpf *v, const struct vbpf_counters *now,
		      const struct vbpf_counters *prev, double dt_s, enum vbpf_json_kind kind)
{
	const struct sample s = { .v = v, .now = now, .prev = prev, .dt_s = dt_s, .kind = kind };

	if (vbpf_attached(v, VBPF_PROBE_CTL))
		json_object_set_new(o, "ctl", ctl_json(&s));
	if (vbpf_attached(v, VBPF_PROBE_KICK))
		json_object_set_new(o, "kick", kick_json(&s));
	if (vbpf_attached(v, VBPF_PROBE_PF))
		json_object_set_new(o, "pf", pf_json(&s));
	if (vbpf_attached(v, VBPF_PROBE_KVM))
		json_object_set_new(o, "kvm", kvm_json(&s));
	if (vbpf_attached(v, VBPF_PROBE_UPROBE))
		json_object_set_new(o, "uprobes", uprobes_json(&s));
}
