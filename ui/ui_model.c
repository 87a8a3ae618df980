/* SPDX-License-Identifier: MIT */
/* The dashboard's model, fed from control-socket replies and events. Every function here takes JSON already read
 * and updates plain structs; nothing here touches a socket or the screen. */
#include "ui_model.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define PAGE_BYTES 4096.0
#define MIB (1024.0 * 1024.0)

void ui_series_push(struct ui_series *s, double v)
{
	s->v[s->head] = v;
	s->head = (s->head + 1) % UI_HIST;
	if (s->n < UI_HIST)
		s->n++;
}

double ui_series_get(const struct ui_series *s, int i)
{
	if (i < 0 || i >= s->n)
		return 0;
	return s->v[(s->head - 1 - i + 2 * UI_HIST) % UI_HIST];
}

static const char *const src_names[UI_SRC_COUNT] = {
	[UI_SRC_GUEST] = "guest-writer",
	[UI_SRC_BACKEND] = "backend-log",
	[UI_SRC_USED] = "used-ring",
};

const char *ui_src_name(enum ui_src s)
{
	return s < UI_SRC_COUNT ? src_names[s] : "?";
}

/* logtrack's names, and the short ones a producer might use. */
static int src_parse(const char *s)
{
	static const struct { const char *name; enum ui_src src; } alias[] = {
		{ "guest-writer", UI_SRC_GUEST }, { "guest", UI_SRC_GUEST },
		{ "writer", UI_SRC_GUEST }, { "backend-log", UI_SRC_BACKEND },
		{ "backend", UI_SRC_BACKEND }, { "log", UI_SRC_BACKEND },
		{ "used-ring", UI_SRC_USED }, { "used-rings", UI_SRC_USED },
		{ "used", UI_SRC_USED },
	};

	for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
		if (!strcmp(s, alias[i].name))
			return (int)alias[i].src;
	return -1;
}

/* A JSON number as double; false if v is not a number. */
static bool num(const json_t *v, double *out)
{
	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return isfinite(*out);
}

static bool num_at(const json_t *obj, const char *key, double *out)
{
	return num(json_object_get(obj, key), out);
}

/* A count or an address: a number in [0, max], else false (a hostile or
 * broken peer's -100 or 1e300 is ignored, never converted). */
#define COUNT_MAX 9007199254740992.0   /* 2^53: every integer below is exact */

static bool count_at(const json_t *obj, const char *key, double max, uint64_t *out)
{
	double v;

	if (!num_at(obj, key, &v) || v < 0 || v > max)
		return false;
	*out = (uint64_t)v;
	return true;
}

static void str_at(const json_t *obj, const char *key, char *out, size_t len)
{
	const char *s = json_string_value(json_object_get(obj, key));

	if (s)
		snprintf(out, len, "%s", s);
}

/* ---- counter panels ------------------------------------------------------- */

static void kv_set(struct ui_kv *kv, const char *key, double v)
{
	int i;

	for (i = 0; i < kv->n && strcmp(kv->key[i], key); i++)
		;
	if (i == kv->n) {
		if (kv->n == UI_KV_MAX)
			return;
		snprintf(kv->key[kv->n++], sizeof(kv->key[0]), "%s", key);
	}
	kv->val[i] = v;
	kv->have = true;
}

static void kv_note(struct ui_kv *kv, const char *key, const char *v)
{
	size_t len = strlen(kv->note);

	snprintf(kv->note + len, sizeof(kv->note) - len, "%s%s=%s", len ? " " : "", key, v);
	kv->have = true;
}

/* Numbers of d (and of its objects, one level down) and its strings. */
static void apply_kv(struct ui_kv *kv, const json_t *d)
{
	const char *key, *k2;
	json_t *val, *v2;

	if (!json_is_object(d))
		return;
	kv->note[0] = '\0';
	json_object_foreach((json_t *)d, key, val) {
		double v;

		if (num(val, &v)) {
			kv_set(kv, key, v);
		} else if (json_is_string(val)) {
			kv_note(kv, key, json_string_value(val));
		} else if (json_is_object(val)) {
			json_object_foreach(val, k2, v2) {
				char full[80];

				snprintf(full, sizeof(full), "%s.%s", key, k2);
				if (num(v2, &v))
					kv_set(kv, full, v);
			}
		}
	}
}

/* ---- a destination's incoming migration ------------------------------------ */

/* An "incoming" event's data, or the `status` reply's "incoming" member:
 * the same object (mig_incoming_json). */
static void apply_incoming(struct ui_incoming *in, const json_t *d)
{
	if (!json_is_object(d))
		return;
	in->have = true;
	str_at(d, "phase", in->phase, sizeof(in->phase));
	str_at(d, "listen", in->listen, sizeof(in->listen));
	str_at(d, "source", in->source, sizeof(in->source));
	str_at(d, "error", in->error, sizeof(in->error));
	count_at(d, "bytes", COUNT_MAX, &in->bytes);
	count_at(d, "passes", COUNT_MAX, &in->passes);
	count_at(d, "data_pages", COUNT_MAX, &in->data_pages);
	count_at(d, "zero_pages", COUNT_MAX, &in->zero_pages);
	num_at(d, "elapsed_ms", &in->elapsed_ms);
}

/* ---- status and stats ------------------------------------------------------ */

void ui_inst_apply_status(struct ui_inst *inst, const json_t *st)
{
	const json_t *dirty = json_object_get(st, "dirty");
	uint64_t u;

	if (!json_is_object(st))
		return;
	inst->have_status = true;
	str_at(st, "backend", inst->backend, sizeof(inst->backend));
	str_at(st, "ring", inst->ring, sizeof(inst->ring));
	str_at(st, "state", inst->state, sizeof(inst->state));
	if (count_at(st, "queues", INT_MAX, &u))
		inst->queues = (int)u;
	if (count_at(st, "pid", INT_MAX, &u))
		inst->pid = (long)u;
	count_at(st, "mem_bytes", COUNT_MAX, &inst->mem_bytes);
	apply_kv(&inst->bpf, json_object_get(st, "bpf"));
	apply_incoming(&inst->in, json_object_get(st, "incoming"));
	/* A status reply of a device with a tracker may carry its figures too. */
	if (json_is_object(json_object_get(dirty, "rates")))
		ui_inst_apply_dirty(inst, dirty);
}

static void apply_stats(struct ui_inst *inst, const json_t *d)
{
	double v;

	str_at(d, "state", inst->state, sizeof(inst->state));
	if (num_at(d, "interval_s", &v))
		inst->interval_s = v;
	if (num_at(d, "tx_pps", &v))
		inst->tx_pps = v;
	if (num_at(d, "rx_pps", &v))
		inst->rx_pps = v;
	if (num_at(d, "dirty_writes_per_s", &v))
		inst->writes_ps = v;
	inst->have_stats = true;
	inst->nstats++;
	ui_series_push(&inst->tx, inst->tx_pps);
	ui_series_push(&inst->rx, inst->rx_pps);
	ui_series_push(&inst->writes, inst->writes_ps);
	apply_kv(&inst->bpf, json_object_get(d, "bpf"));
}

/* ---- dirty (logtrack) ------------------------------------------------------ */

/* A rate member: a number (pages/s) or {"pages_per_s": N, ...}. */
static bool rate_value(const json_t *v, double *out)
{
	return num(v, out) || num_at(v, "pages_per_s", out) || num_at(v, "rate", out);
}

static void dirty_rates(struct ui_dirty *d, const json_t *data)
{
	const json_t *rates = json_object_get(data, "rates");
	const json_t *srcs = json_object_get(data, "sources");
	double total = -1, v;
	bool any = false;

	memset(d->has_src, 0, sizeof(d->has_src));
	if (json_is_object(rates)) {
		const char *key;
		json_t *val;

		json_object_foreach((json_t *)rates, key, val) {
			int s = src_parse(key);

			if (s >= 0 && rate_value(val, &v)) {
				d->rate[s] = v;
				d->has_src[s] = any = true;
			} else if (!strcmp(key, "total") && rate_value(val, &v)) {
				total = v;
			}
		}
	} else if (json_is_array(srcs)) {
		size_t i;
		json_t *e;

		json_array_foreach(srcs, i, e) {
			const char *name = json_string_value(json_object_get(e, "source"));
			int s = name ? src_parse(name) : -1;

			if (s >= 0 && rate_value(e, &v)) {
				d->rate[s] = v;
				d->has_src[s] = any = true;
			}
		}
	}
	if (!any && total < 0)
		return;
	if (total < 0) {
		total = 0;
		for (int s = 0; s < UI_SRC_COUNT; s++)
			total += d->has_src[s] ? d->rate[s] : 0;
	}
	d->total = total;
	d->have = true;
	for (int s = 0; s < UI_SRC_COUNT; s++)
		ui_series_push(&d->src[s], d->has_src[s] ? d->rate[s] : 0);
	ui_series_push(&d->tot, total);
}

/* [{"window_ms": W, "pages": P}, ...] or {"windows_ms": [...], "pages": [...]}. */
static void dirty_wss(struct ui_dirty *d, const json_t *wss)
{
	int n = 0;

	if (json_is_array(wss)) {
		size_t i;
		json_t *e;

		json_array_foreach(wss, i, e) {
			double w, p;

			if (n < UI_WSS_MAX && num_at(e, "window_ms", &w) && num_at(e, "pages", &p)) {
				d->wss_window_ms[n] = w;
				d->wss_pages[n++] = p;
			}
		}
	} else if (json_is_object(wss)) {
		const json_t *ws = json_object_get(wss, "windows_ms");
		const json_t *ps = json_object_get(wss, "pages");

		for (size_t i = 0; i < json_array_size(ws) && n < UI_WSS_MAX; i++) {
			double w, p;

			if (num(json_array_get(ws, i), &w) && num(json_array_get(ps, i), &p)) {
				d->wss_window_ms[n] = w;
				d->wss_pages[n++] = p;
			}
		}
	} else {
		return;
	}
	d->nwss = n;
}

#define HEAT_BLOCK (2ull * 1024 * 1024)   /* lt_heat.h: 2 MiB blocks */

/* Guest-physical bytes the map covers: RAM, plus the hole at 3..4 GiB that
 * a guest over 3 GiB has (device.md), at least up to the hottest block. */
static uint64_t heat_span(const struct ui_inst *inst, uint64_t top_gpa)
{
	uint64_t span = inst->mem_bytes;

	if (span > 3ull << 30)
		span += 1ull << 30;
	return span > top_gpa ? span : top_gpa;
}

static void heat_add(struct ui_dirty *d, uint64_t per, uint64_t gpa, double count)
{
	uint64_t cell = gpa / (HEAT_BLOCK * per);

	if (cell < UI_HEAT_MAX)
		d->heat[cell] += count;
}

/* The hottest blocks, [{"gpa": BYTES, "count": N}, ...] (what the tracker
 * sends), or a whole map {"block_bytes": 2 MiB, "counts": [...]}. Either is
 * laid out over guest-physical space, blocks merged to fit UI_HEAT_MAX. */
static void dirty_heat(struct ui_inst *inst, const json_t *heat)
{
	struct ui_dirty *d = &inst->dirty;
	const json_t *counts = json_object_get(heat, "counts");
	uint64_t top = 0, blocks, per;
	size_t i;
	json_t *e;

	if (json_is_array(counts)) {
		top = json_array_size(counts) * HEAT_BLOCK;
	} else if (json_is_array(heat)) {
		json_array_foreach(heat, i, e) {
			uint64_t g;

			if (count_at(e, "gpa", COUNT_MAX, &g) && g + HEAT_BLOCK > top)
				top = g + HEAT_BLOCK;
		}
	} else {
		return;
	}
	memset(d->heat, 0, sizeof(d->heat));
	d->hot_count = 0;
	blocks = (heat_span(inst, top) + HEAT_BLOCK - 1) / HEAT_BLOCK;
	if (!blocks)
		return;
	per = (blocks + UI_HEAT_MAX - 1) / UI_HEAT_MAX;
	d->nheat = (int)((blocks + per - 1) / per);
	d->heat_cell_bytes = HEAT_BLOCK * per;
	if (json_is_array(counts)) {
		json_array_foreach(counts, i, e) {
			double c;

			if (num(e, &c))
				heat_add(d, per, i * HEAT_BLOCK, c);
		}
		return;
	}
	json_array_foreach(heat, i, e) {
		uint64_t g;
		double c;

		if (!count_at(e, "gpa", COUNT_MAX, &g) || !num_at(e, "count", &c))
			continue;
		heat_add(d, per, g, c);
		if (c > d->hot_count) {
			d->hot_count = c;
			d->hot_gpa = g;
		}
	}
}

static void finding_push(struct ui_dirty *d, const json_t *f)
{
	const char *s = json_string_value(f), *region;
	double gpa, t;
	char *out;

	if (d->nfindings == UI_FINDINGS_MAX) {
		memmove(d->findings[0], d->findings[1],
			sizeof(d->findings[0]) * (UI_FINDINGS_MAX - 1));
		d->nfindings--;
	}
	out = d->findings[d->nfindings++];
	if (s) {
		snprintf(out, sizeof(d->findings[0]), "%s", s);
		return;
	}
	region = json_string_value(json_object_get(f, "region"));
	if (!num_at(f, "gpa", &gpa))
		gpa = 0;
	if (!num_at(f, "t_s", &t))
		t = 0;
	snprintf(out, sizeof(d->findings[0]), "GPA 0x%llx (%s) changed at t=%.1fs without a "
		 "log bit", (unsigned long long)gpa, region ? region : "?", t);
}

/* {"enabled": true, "pages_hashed": N, "findings": N, "new": [...], "all": [...]}:
 * "all" (the `dirty` reply) replaces the list, "new" (events) appends. */
static void dirty_verify(struct ui_dirty *d, const json_t *v)
{
	const json_t *all = json_object_get(v, "all"), *fresh = json_object_get(v, "new");
	size_t i;
	json_t *f;

	if (!json_is_true(json_object_get(v, "enabled")))
		return;
	d->have_verify = true;
	count_at(v, "pages_hashed", COUNT_MAX, &d->verify_checked);
	count_at(v, "findings", COUNT_MAX, &d->verify_bad);
	if (json_is_array(all)) {
		d->nfindings = 0;
		json_array_foreach(all, i, f)
			finding_push(d, f);
	} else if (json_is_array(fresh)) {
		json_array_foreach(fresh, i, f)
			finding_push(d, f);
	}
}

void ui_inst_apply_dirty(struct ui_inst *inst, const json_t *data)
{
	struct ui_dirty *d = &inst->dirty;
	const json_t *v;
	double x;

	if (!json_is_object(data))
		return;
	/* replies say whether a tracker runs; an event means one does */
	v = json_object_get(data, "active");
	inst->tracking = v ? json_is_true(v) : true;
	dirty_rates(d, data);
	if ((v = json_object_get(data, "wss")) || (v = json_object_get(data, "working_set")))
		dirty_wss(d, v);
	if ((v = json_object_get(data, "heat")))
		dirty_heat(inst, v);
	if ((v = json_object_get(data, "verify")))
		dirty_verify(d, v);
	v = json_object_get(data, "predict");
	if (json_is_object(v) && num_at(v, "downtime_ms", &x)) {
		d->have_predict = true;
		d->predict_downtime_ms = x;
		d->predict_converges = json_is_true(json_object_get(v, "converges"));
	}
}

double ui_inst_dirty_rate(const struct ui_inst *inst, bool *from_logtrack)
{
	if (from_logtrack)
		*from_logtrack = inst->dirty.have;
	if (inst->dirty.have)
		return inst->dirty.total;
	return inst->have_stats ? inst->writes_ps : -1;
}

/* ---- migration ------------------------------------------------------------- */

static double ev_time(const json_t *ev)
{
	const json_t *ts = json_object_get(ev, "timestamp");
	double s = 0, us = 0;

	num_at(ts, "seconds", &s);
	num_at(ts, "microseconds", &us);
	return s + us / 1e6;
}

static void mig_step(struct ui_migration *m, const char *phase, double t)
{
	struct ui_step *st;

	snprintf(m->phase, sizeof(m->phase), "%s", phase);
	/* pre-copy passes are one step; the passes have their own bars */
	if (m->nsteps && !strcmp(m->steps[m->nsteps - 1].phase, phase))
		return;
	if (m->nsteps == UI_STEPS_MAX)
		return;
	st = &m->steps[m->nsteps++];
	snprintf(st->phase, sizeof(st->phase), "%s", phase);
	st->at_ms = m->t0 > 0 && t >= m->t0 ? (t - m->t0) * 1000.0 : 0;
}

/* A stream's figures: progress.stream of an event, or the report's. */
static void mig_stream(struct ui_migration *m, const json_t *st)
{
	uint64_t u;

	if (!json_is_object(st))
		return;
	m->have_stream = true;
	count_at(st, "bytes", COUNT_MAX, &m->stream_bytes);
	num_at(st, "rate_mib_s", &m->stream_mib_s);
	if (count_at(st, "connections", INT_MAX, &u))
		m->stream_conns = (int)u;
}

static void mig_report(struct ui_migration *m, const json_t *r)
{
	const json_t *dt = json_object_get(r, "downtime");
	double v;

	m->have_report = true;
	str_at(r, "result", m->result, sizeof(m->result));
	m->ok = true;
	m->converged = json_is_true(json_object_get(r, "converged"));
	m->rarp = json_is_true(json_object_get(r, "rarp"));
	num_at(r, "total_ms", &m->total_ms);
	num_at(dt, "ms", &m->downtime_ms);
	num_at(dt, "control_ms", &m->downtime_control_ms);
	num_at(dt, "copy_ms", &m->downtime_copy_ms);
	m->report_passes = (int)json_array_size(json_object_get(r, "iterations"));
	count_at(r, "bytes_copied", COUNT_MAX, &m->bytes_copied);
	count_at(r, "zero_pages", COUNT_MAX, &m->zero_pages);
	count_at(r, "last_pages", COUNT_MAX, &m->last_pages);
	if (num_at(r, "bandwidth_mib_s", &v))
		m->bandwidth_mib_s = v;
	if (m->actual_downtime_ms < 0)
		m->actual_downtime_ms = m->downtime_ms;
	mig_stream(m, json_object_get(r, "stream"));
}

/* The pages the next sync will find: what was dirtied while this pass ran. */
static void mig_predict(struct ui_inst *inst)
{
	struct ui_migration *m = &inst->mig;
	const struct ui_pass *p = &m->pass[m->npass - 1];
	double rate = ui_inst_dirty_rate(inst, NULL);
	double bytes_per_ms = m->bandwidth_mib_s * MIB / 1000.0;

	if (rate < 0)
		rate = 0;
	m->remaining_pages = rate * p->ms / 1000.0;
	if (inst->dirty.have_predict)
		m->predicted_downtime_ms = inst->dirty.predict_downtime_ms;
	else if (bytes_per_ms > 0)
		m->predicted_downtime_ms = m->remaining_pages * PAGE_BYTES / bytes_per_ms;
}

static void apply_migration(struct ui_inst *inst, const json_t *d, double t)
{
	struct ui_migration *m = &inst->mig;
	const char *phase = json_string_value(json_object_get(d, "phase"));

	if (!phase)
		return;
	if (!strcmp(phase, "setup")) {
		memset(m, 0, sizeof(*m));
		m->t0 = t;
		m->actual_downtime_ms = -1;
		m->predicted_downtime_ms = -1;
		m->active = true;
		str_at(d, "from", m->from, sizeof(m->from));
		str_at(d, "to", m->to, sizeof(m->to));
		snprintf(inst->state, sizeof(inst->state), "migrating");
	}
	m->seen = true;
	mig_step(m, phase, t);
	mig_stream(m, json_object_get(json_object_get(d, "progress"), "stream"));
	if (!strcmp(phase, "pre-copy")) {
		struct ui_pass p = { 0 };

		uint64_t u;

		if (count_at(d, "iteration", INT_MAX, &u))
			p.iteration = (int)u;
		count_at(d, "dirtied", COUNT_MAX, &p.dirtied);
		count_at(d, "copied", COUNT_MAX, &p.copied);
		num_at(d, "ms", &p.ms);
		m->iteration = p.iteration;
		if (p.copied && p.ms > 0.001)
			m->bandwidth_mib_s = (double)p.copied * PAGE_BYTES / (p.ms / 1000.0) / MIB;
		if (m->npass < UI_PASSES_MAX)
			m->pass[m->npass++] = p;
		else
			m->pass[UI_PASSES_MAX - 1] = p;
		mig_predict(inst);
	} else if (!strcmp(phase, "switchover")) {
		num_at(d, "downtime_ms", &m->actual_downtime_ms);
	} else if (!strcmp(phase, "announce")) {
		m->rarp = json_is_true(json_object_get(d, "rarp"));
	} else if (!strcmp(phase, "done")) {
		m->active = false;
		mig_report(m, d);
		if (m->to[0])
			snprintf(inst->backend, sizeof(inst->backend), "%s", m->to);
		snprintf(inst->state, sizeof(inst->state), "running");
	} else if (!strcmp(phase, "failed") || !strcmp(phase, "cancelled")) {
		m->active = false;
		m->have_report = true;
		m->ok = false;
		str_at(d, "error", m->result, sizeof(m->result));
		snprintf(inst->state, sizeof(inst->state), "running");
	}
}

/* ---- libvirt dirty rate ------------------------------------------------------- */

static void apply_lvdirty(struct ui_lvdirty *l, const json_t *d)
{
	const json_t *be = json_object_get(d, "backend"), *e;
	double period;
	size_t k;

	memset(l, 0, sizeof(*l));
	l->have = true;
	l->mib_s = -1;
	str_at(d, "domain", l->domain, sizeof(l->domain));
	str_at(d, "error", l->error, sizeof(l->error));
	str_at(d, "mode", l->mode, sizeof(l->mode));
	if (num(json_object_get(d, "period_s"), &period) && period >= 0 && period <= 3600)
		l->period_s = (int)period;
	if (!num(json_object_get(d, "dirty_mib_s"), &l->mib_s))
		l->mib_s = -1;
	json_array_foreach(be, k, e) {
		struct ui_lvbackend *b = &l->be[l->nbackend];
		double pid;

		if (l->nbackend == UI_LVBE_MAX)
			break;
		if (num(json_object_get(e, "pid"), &pid) && pid > 0 && pid < 1e9)
			b->pid = (long)pid; /* else 0: not found (and no overflowing cast) */
		b->have_rate = num(json_object_get(e, "log_calls_per_s"), &b->calls_per_s);
		str_at(e, "source", b->source, sizeof(b->source));
		str_at(e, "why", b->why, sizeof(b->why));
		l->nbackend++;
	}
}

void ui_inst_apply_event(struct ui_inst *inst, const json_t *ev)
{
	const char *name = json_string_value(json_object_get(ev, "event"));
	const json_t *d = json_object_get(ev, "data");

	if (!name || !json_is_object(d))
		return;
	if (!strcmp(name, "stats"))
		apply_stats(inst, d);
	else if (!strcmp(name, "state"))
		str_at(d, "state", inst->state, sizeof(inst->state));
	else if (!strcmp(name, "migration"))
		apply_migration(inst, d, ev_time(ev));
	else if (!strcmp(name, "migration-progress") && inst->mig.active)
		mig_stream(&inst->mig, json_object_get(json_object_get(d, "progress"), "stream"));
	else if (!strcmp(name, "dirty"))
		ui_inst_apply_dirty(inst, d);
	else if (!strcmp(name, "job"))
		apply_kv(&inst->job, d);
	else if (!strcmp(name, "job-ended"))
		apply_kv(&inst->job, json_object_get(d, "job"));
	else if (!strcmp(name, "dirty-rate"))
		apply_lvdirty(&inst->lvdirty, d);
	else if (!strcmp(name, "incoming"))
		apply_incoming(&inst->in, d);
}
