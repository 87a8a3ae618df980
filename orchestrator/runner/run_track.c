/* SPDX-License-Identifier: MIT */
/* Dirty tracking inside `vhm run`: a session turns the backend's logging on,
 * names the guest's regions and the driver's pages, syncs every
 * RUN_TRACK_SYNC_MS into logtrack, and emits a "dirty" event per interval;
 * it yields to a migration and resumes on whatever backend follows. */
#include "run_track.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lt_track.h"
#include "lt_verify.h"
#include "mig_cost.h"
#include "run_args.h"
#include "run_stopchk.h"
#include "util.h"

#define RUN_TRACK_HEAT_TOP     8
#define RUN_TRACK_NEW_MAX      256     /* findings listed in one event */
#define RUN_TRACK_PREDICT_ROUNDS 31    /* the first copy + migrate's 30 iterations */

/* The working-set curve a prediction reads (wss_arg: its first member), and
 * the eight windows it was made of, for the reply. */
struct track_curve {
	struct lt_curve c;      /* (span, pages) points, spans ascending */
	double ms[LT_WSS_NWINDOWS], pages[LT_WSS_NWINDOWS];
	double window_ms[LT_WSS_NWINDOWS], span_ms[LT_WSS_NWINDOWS], window_pages[LT_WSS_NWINDOWS];
	uint32_t samples[LT_WSS_NWINDOWS];   /* syncs each window's mean is of (lt_track_curve) */
	struct mig_cost cost;   /* the fixed costs the prediction took (all 0: none) */
	char kept_err[256];     /* why no kept costs could be read ("": none) */
};

struct run_track {
	struct device *d;
	struct ctl_server *srv;
	const char *cost_dir;   /* where migrations' costs are kept (mig_cost.h) */
	bool active;            /* a session exists (log, analyzers) */
	bool logging;           /* the backend logs into our log */
	bool suspended;         /* a migration runs (or ran since the last tick) */
	bool migrated;          /* the open interval spanned a migration */
	bool verify;
	bool stop_check;        /* with verify: the session's end stops the rings */
	unsigned users;         /* track-start calls not yet stopped */
	uint64_t interval_ms;
	uint64_t start_ms, next_sync_ms, next_pub_ms;
	uint64_t intervals;
	char why_off[256];      /* logging could not be turned back on */

	struct lt_log log;      /* the backend's log (ours) */
	struct lt_track lt;
	struct lt_verify ver;
	struct lt_region regions[LT_TRACK_MAX_REGIONS];
	size_t nregions;

	json_t *latest;         /* the last event's data */
	json_t *new_findings;   /* this interval's */
	json_t *findings;       /* the last RUN_TRACK_MAX_FINDINGS */
	uint64_t findings_total;

	struct track_curve curve;  /* what run_track_predict's wss reads */
};

static uint64_t now_ms(void)
{
	return vhm_now_ns() / 1000000ull;
}

int run_track_create(struct run_track **out, struct device *d, struct ctl_server *srv,
		     const char *cost_dir)
{
	struct run_track *t = calloc(1, sizeof(*t));

	*out = t;
	if (!t)
		return -ENOMEM;
	t->d = d;
	t->srv = srv;
	t->cost_dir = cost_dir;
	t->log.fd = -1;
	return 0;
}

/* ---- layout: regions, used rings, the driver's own pages ------------------------ */

static uint64_t pg_first(uint64_t gpa) { return gpa / LT_PAGE_SIZE; }
static uint64_t pg_count(uint64_t gpa, uint64_t bytes)
{
	return (gpa + bytes + LT_PAGE_SIZE - 1) / LT_PAGE_SIZE - gpa / LT_PAGE_SIZE;
}

static void add_region(struct run_track *t, uint64_t gpa, uint64_t end, const char *name)
{
	if (end > gpa && t->nregions < LT_TRACK_MAX_REGIONS)
		t->regions[t->nregions++] = (struct lt_region){ gpa, end - gpa, name };
}

/* Guest memory by use: [0, 1 MiB) below the device, the device area (rings,
 * and packet buffers with --buffers compact), RAM in low memory (the
 * writer's, and spread packet buffers), RAM above 4 GiB. */
static void make_regions(struct run_track *t)
{
	const struct gmem *m = &t->d->mem;
	uint64_t area_end = dev_area_end(t->d), r0_end = m->r[0].gpa + m->r[0].size;

	t->nregions = 0;
	add_region(t, m->r[0].gpa, DEV_AREA_GPA, "low-1m");
	add_region(t, DEV_AREA_GPA, area_end < r0_end ? area_end : r0_end, "device");
	add_region(t, area_end, r0_end, "ram");
	for (int i = 1; i < m->n; i++)
		add_region(t, m->r[i].gpa, m->r[i].gpa + m->r[i].size, i == 1 ? "ram-high" : "ram-more");
}

/* Bytes of a ring the device writes: the split used ring; for packed, the
 * descriptor ring (used descriptors are written back in place) and the
 * device event area. */
static size_t used_ranges(const struct vring *v, struct lt_range *out)
{
	if (!v->packed) {
		out[0] = (struct lt_range){ pg_first(v->used_gpa),
					   pg_count(v->used_gpa, 4 + 8ull * v->num + 2) };
		return 1;
	}
	out[0] = (struct lt_range){ pg_first(v->desc_gpa), pg_count(v->desc_gpa, 16ull * v->num) };
	out[1] = (struct lt_range){ pg_first(v->used_gpa), pg_count(v->used_gpa, 4) };
	return 2;
}

/* ---- session ---------------------------------------------------------------------- */

static void session_free(struct run_track *t)
{
	lt_track_destroy(&t->lt);
	lt_verify_destroy(&t->ver);
	lt_log_destroy(&t->log);
	t->log.fd = -1;
	json_decref(t->latest);
	json_decref(t->new_findings);
	json_decref(t->findings);
	t->latest = t->new_findings = t->findings = NULL;
	t->active = t->logging = t->suspended = t->migrated = t->verify = t->stop_check = false;
	t->users = 0;
	t->intervals = t->findings_total = 0;
	t->why_off[0] = '\0';
}

/* Turn logging off on the device's backend, when we may talk to it. */
static void logging_off(struct run_track *t, bool busy)
{
	struct device *d = t->d;

	if (t->logging && !busy && !d->front.broken && dev_state(d) == DEV_RUNNING &&
	    dev_log_stop(d, &d->front))
		fprintf(stderr, "vhm run %s: tracking: turning logging off: %s\n", d->cfg.name,
			d->front.err);
	t->logging = false;
}

static int logging_on(struct run_track *t, char *err, size_t errlen)
{
	struct device *d = t->d;
	int rc;

	if (!vhu_front_has_pf(&d->front, VHU_PF_LOG_SHMFD) ||
	    !((d->front.dev_features >> VHU_F_LOG_ALL) & 1))
		return vhm_err(err, errlen, -ENOTSUP, "backend %s lacks %s", d->front.path,
			       vhu_front_has_pf(&d->front, VHU_PF_LOG_SHMFD) ? "LOG_ALL"
									     : "LOG_SHMFD");
	rc = dev_log_start(d, &d->front, &t->log);
	if (rc) {
		snprintf(err, errlen, "turning logging on: %s", d->front.err);
		t->logging = true;          /* half on: turn it off again */
		logging_off(t, false);
		return rc;
	}
	t->logging = true;
	return 0;
}

static int session_start(struct run_track *t, const struct run_args_track *a, char *err,
			 size_t errlen)
{
	bool verify = a->verify;
	struct device *d = t->d;
	struct lt_range used[4 * ND_MAX_QUEUES];
	struct lt_track_cfg cfg = { 0 };
	uint64_t now = now_ms();
	size_t nused = 0;
	int rc;

	if ((rc = lt_log_create(&t->log, d->mem.top))) {
		snprintf(err, errlen, "dirty log: %s", strerror(-rc));
		goto fail;
	}
	make_regions(t);
	for (int q = 0; q < d->drv.nq; q++) {
		nused += used_ranges(&d->drv.q[q].rx, used + nused);
		nused += used_ranges(&d->drv.q[q].tx, used + nused);
	}
	cfg = (struct lt_track_cfg){ .npages = t->log.npages, .regions = t->regions,
				     .nregions = t->nregions, .used = used, .nused = nused };
	if ((rc = lt_track_init(&t->lt, &cfg, now))) {
		snprintf(err, errlen, "tracker: %s", strerror(-rc));
		goto fail;
	}
	if (verify) {
		/* Nothing excluded: the driver marks its own writes (rings, TX
		 * frames) in the guest-side bitmap, which the marks include. */
		if ((rc = lt_verify_init(&t->ver, t->log.npages))) {
			snprintf(err, errlen, "verify: %s", strerror(-rc));
			goto fail;
		}
	}
	t->findings = json_array();
	t->new_findings = json_array();
	if ((rc = logging_on(t, err, errlen)))
		goto fail;
	/* Writes before now belong to nobody's interval. */
	lt_log_sync(&d->gw.dirty, NULL, NULL);
	t->active = true;
	t->verify = verify;
	t->stop_check = verify && a->stop_check;
	t->interval_ms = a->interval_ms;
	t->start_ms = now;
	t->next_sync_ms = now + RUN_TRACK_SYNC_MS;
	t->next_pub_ms = now + a->interval_ms;
	return 0;
fail:
	session_free(t);
	return rc;
}

void run_track_destroy(struct run_track *t)
{
	if (!t)
		return;
	if (t->active)
		logging_off(t, false);
	session_free(t);
	free(t);
}

/* ---- the loop ----------------------------------------------------------------------- */

int run_track_timeout_ms(const struct run_track *t, int max_ms)
{
	uint64_t now, next;

	if (!t || !t->active || t->suspended)
		return max_ms;
	now = now_ms();
	next = t->next_sync_ms < t->next_pub_ms ? t->next_sync_ms : t->next_pub_ms;
	if (next <= now)
		return 0;
	return next - now < (uint64_t)max_ms ? (int)(next - now) : max_ms;
}

static const char *region_name(const struct run_track *t, uint64_t page)
{
	ssize_t g = lt_region_find(t->regions, t->nregions, page);

	return g >= 0 ? t->regions[g].name : "outside";
}

/* What lives at a page the backend's log missed (netdrv's name, or the
 * region's). */
static void what_at(const struct run_track *t, uint64_t page, char *what, size_t len)
{
	bool backend;

	if (!netdrv_page_what(&t->d->drv, page, what, len, &backend))
		snprintf(what, len, "%s", region_name(t, page));
}

/* A finding: into this interval's list, and into the per-page list (first
 * and last time seen, in how many passes) that `dirty` returns. kind: NULL
 * for a pass's finding, or what the stop check found (the latest kept). */
static void add_finding(struct run_track *t, uint64_t page, uint64_t seen_ms, const char *kind)
{
	json_int_t gpa = (json_int_t)(page * LT_PAGE_SIZE);
	double ts = (double)(seen_ms - t->start_ms) / 1000.0;
	char what[48];
	size_t i;
	json_t *f = NULL;

	what_at(t, page, what, sizeof(what));
	t->findings_total++;
	if (json_array_size(t->new_findings) < RUN_TRACK_NEW_MAX) {
		f = json_pack("{s:I, s:s, s:s, s:f}", "gpa", gpa, "region", region_name(t, page),
			      "what", what, "t_s", ts);
		if (kind)
			json_object_set_new(f, "kind", json_string(kind));
		json_array_append_new(t->new_findings, f);
	}
	json_array_foreach(t->findings, i, f)
		if (json_integer_value(json_object_get(f, "gpa")) == gpa)
			break;
	if (i < json_array_size(t->findings)) {
		json_object_set_new(f, "last_t_s", json_real(ts));
		json_object_set_new(f, "count", json_integer(
			json_integer_value(json_object_get(f, "count")) + 1));
	} else if (json_array_size(t->findings) < RUN_TRACK_MAX_FINDINGS) {
		f = json_pack("{s:I, s:s, s:s, s:f, s:f, s:i}", "gpa", gpa, "region",
			      region_name(t, page), "what", what, "first_t_s", ts, "last_t_s", ts,
			      "count", 1);
		json_array_append_new(t->findings, f);
	} else {
		return;
	}
	if (kind)
		json_object_set_new(f, "kind", json_string(kind));
}

static void on_finding(void *arg, uint64_t page, uint64_t seen_ms)
{
	add_finding(arg, page, seen_ms, NULL);
}

static void verify_pass(struct run_track *t, uint64_t now)
{
	const struct gmem *m = &t->d->mem;
	struct lt_verify_mem mem[GMEM_MAX_REGIONS];

	for (int i = 0; i < m->n; i++)
		mem[i] = (struct lt_verify_mem){ m->r[i].gpa, m->r[i].size, m->r[i].hva,
						 m->r[i].fd };
	lt_verify_pass(&t->ver, mem, (size_t)m->n, t->lt.marks, now, on_finding, t);
}

static json_t *rate_json(const struct lt_rate *r)
{
	return json_pack("{s:I, s:f, s:f, s:f, s:f}", "pages", (json_int_t)r->pages,
			 "pages_per_s", r->pages_per_s, "mib_per_s", r->mib_per_s,
			 "ewma_pages_per_s", r->ewma_pages_per_s, "ewma_mib_per_s",
			 r->ewma_mib_per_s);
}

static json_t *wss_json(const struct lt_track *lt)
{
	uint64_t pages[LT_WSS_NWINDOWS];
	json_t *a = json_array();

	lt_track_wss(lt, pages);
	for (size_t i = 0; i < LT_WSS_NWINDOWS; i++)
		json_array_append_new(a, json_pack("{s:i, s:I}", "window_ms",
						   (int)lt_wss_windows_ms[i], "pages",
						   (json_int_t)pages[i]));
	return a;
}

static json_t *heat_json(const struct lt_track *lt)
{
	struct lt_heat_block top[RUN_TRACK_HEAT_TOP];
	size_t n = lt_heat_hottest(&lt->heat, top, RUN_TRACK_HEAT_TOP);
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:I, s:I}", "gpa", (json_int_t)top[i].gpa,
						   "count", (json_int_t)top[i].count));
	return a;
}

/* The RX buffers the backend writes, where they are one range per queue
 * (--buffers compact); spread buffers are named per page by netdrv. */
static json_t *device_written_json(const struct run_track *t)
{
	const struct netdrv *drv = &t->d->drv;
	json_t *a = json_array();

	for (int q = 0; drv->buffers == ND_BUFFERS_COMPACT && q < drv->nq; q++) {
		char what[32];

		snprintf(what, sizeof(what), "rx buffers q%d", q);
		json_array_append_new(a, json_pack("{s:I, s:I, s:s}", "gpa",
			(json_int_t)drv->q[q].rxp.gpa0, "bytes",
			(json_int_t)drv->q[q].rxp.nbufs * ND_BUF_SIZE, "what", what));
	}
	return a;
}

static json_t *verify_json(const struct run_track *t)
{
	const struct lt_verify *v = &t->ver;

	if (!t->verify)
		return json_pack("{s:b}", "enabled", 0);
	return json_pack("{s:b, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:O, s:o}",
			 "enabled", 1, "hash", lt_verify_hash_name(),
			 "buffers", netdrv_buffers_name(t->d->drv.buffers),
			 "passes", (json_int_t)v->passes, "pages_hashed", (json_int_t)v->pages_hashed,
			 "changed", (json_int_t)v->changed, "dismissed", (json_int_t)v->dismissed,
			 "findings", (json_int_t)t->findings_total,
			 "candidates_dropped", (json_int_t)v->cand_dropped,
			 "last_pass_ms", v->last_pass_ms, "new", t->new_findings,
			 "device_written", device_written_json(t));
}

static json_t *event_json(struct run_track *t, uint64_t now)
{
	const struct lt_rates *r = &t->lt.rates;
	json_t *regions = json_array(), *rates = json_object();

	for (size_t s = 0; s < LT_SRC_COUNT; s++)
		json_object_set_new(rates, lt_source_name((enum lt_source)s), rate_json(&r->src[s]));
	json_object_set_new(rates, "total", rate_json(&r->total));
	for (size_t g = 0; g <= t->nregions; g++) {
		json_t *o = rate_json(&r->region[g]);

		json_object_set_new(o, "name", json_string(g < t->nregions ? t->regions[g].name :
							   "outside"));
		if (g < t->nregions) {
			json_object_set_new(o, "gpa", json_integer((json_int_t)t->regions[g].gpa));
			json_object_set_new(o, "size", json_integer((json_int_t)t->regions[g].size));
		}
		json_array_append_new(regions, o);
	}
	return json_pack("{s:f, s:f, s:I, s:i, s:I, s:o, s:o, s:I, s:o, s:o, s:o, s:b}",
			 "t_s", (double)(now - t->start_ms) / 1000.0,
			 "interval_ms", r->last_dt_ms, "syncs", (json_int_t)t->lt.last_syncs,
			 "sync_ms", RUN_TRACK_SYNC_MS, "interval", (json_int_t)t->intervals,
			 "rates", rates, "regions", regions,
			 "unique_pages", (json_int_t)lt_wss_unique(t->lt.wss, (uint32_t)r->last_dt_ms),
			 "wss", wss_json(&t->lt), "heat", heat_json(&t->lt),
			 "verify", verify_json(t), "migrated", t->migrated);
}

static void sync_now(struct run_track *t, uint64_t now)
{
	int rc = lt_track_sync(&t->lt, &t->log, &t->d->gw.dirty, now);

	if (rc)
		fprintf(stderr, "vhm run %s: tracking: sync: %s\n", t->d->cfg.name, strerror(-rc));
	t->next_sync_ms += RUN_TRACK_SYNC_MS;
	if (t->next_sync_ms <= now)
		t->next_sync_ms = now + RUN_TRACK_SYNC_MS;   /* late: do not catch up */
}

static void publish(struct run_track *t, uint64_t now)
{
	if (t->verify)
		verify_pass(t, now);
	lt_track_marks_clear(&t->lt);
	if (lt_track_close(&t->lt, now))
		return;
	t->intervals++;
	json_decref(t->latest);
	t->latest = event_json(t, now);
	if (t->why_off[0])
		json_object_set_new(t->latest, "logging_off", json_string(t->why_off));
	ctl_server_emit(t->srv, "dirty", json_deep_copy(t->latest));
	json_array_clear(t->new_findings);
	t->migrated = false;
	t->next_pub_ms += t->interval_ms;
	if (t->next_pub_ms <= now)
		t->next_pub_ms = now + t->interval_ms;
}

/* A migration ended: its thread has let go of the backend. Logging on again
 * on the device's backend now; what both sets hold belongs to nobody. */
static void resume(struct run_track *t)
{
	struct device *d = t->d;

	t->suspended = false;
	t->migrated = true;
	lt_log_sync(&t->log, NULL, NULL);
	lt_log_sync(&d->gw.dirty, NULL, NULL);
	if (dev_state(d) == DEV_RUNNING && !d->front.broken &&
	    logging_on(t, t->why_off, sizeof(t->why_off)) == 0)
		t->why_off[0] = '\0';
	else if (!t->why_off[0])
		snprintf(t->why_off, sizeof(t->why_off), "device is %s", dev_state_name(dev_state(d)));
	if (t->verify) {
		/* Pages changed during the migration had no marks of ours. */
		t->ver.primed = false;
		t->ver.ncand = 0;
	}
}

void run_track_tick(struct run_track *t, uint64_t now_ns, bool busy)
{
	uint64_t now = now_ns / 1000000ull;

	if (!t || !t->active)
		return;
	if (busy) {
		/* The migration has sent (or will send) its own SET_LOG_BASE and
		 * turns logging off at its end. */
		t->suspended = true;
		t->logging = false;
		return;
	}
	if (t->suspended)
		resume(t);
	if (now >= t->next_sync_ms || now >= t->next_pub_ms)
		sync_now(t, now);
	if (now >= t->next_pub_ms)
		publish(t, now);
}

/* ---- the stop check (run_stopchk.h) -------------------------------------------------- */

/* The stop check's findings: the pages changed since its snapshot and
 * unmarked once every GET_VRING_BASE was answered, each with the ms
 * after the reply its mark came (-1: none within RUN_STOPCHK_WATCH_MS). */
static json_t *stop_findings(struct run_track *t, const uint64_t *pages, const int *late,
			     size_t n, uint64_t now)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		char what[48], kind[64];

		if (late[i] < 0)
			snprintf(kind, sizeof(kind), "not logged by GET_VRING_BASE's reply");
		else
			snprintf(kind, sizeof(kind), "logged %d ms after GET_VRING_BASE's reply",
				 late[i]);
		add_finding(t, pages[i], now, kind);
		if (json_array_size(a) >= RUN_TRACK_NEW_MAX)
			continue;
		what_at(t, pages[i], what, sizeof(what));
		json_array_append_new(a, json_pack("{s:I, s:s, s:s, s:s, s:i}", "gpa",
						   (json_int_t)(pages[i] * LT_PAGE_SIZE), "region",
						   region_name(t, pages[i]), "what", what,
						   "kind", kind, "late_ms", late[i]));
	}
	return a;
}

/* With the rings stopped: the log synced right after the last reply, a
 * verify pass against the snapshot taken before the quiesce (it also
 * settles that snapshot's candidates), its candidates watched for late
 * marks. */
static json_t *stop_compare(struct run_track *t, const struct run_stopchk *s, uint64_t *npages)
{
	uint64_t now = now_ms();
	json_t *a = NULL;
	int *late;
	size_t n;

	sync_now(t, now);
	verify_pass(t, now);
	n = t->ver.ncand;
	*npages = n;
	late = malloc((n ? n : 1) * sizeof(*late));
	if (late && run_stopchk_watch(s, &t->log, t->ver.cand, n, late) == 0)
		a = stop_findings(t, t->ver.cand, late, n, now);
	else
		fprintf(stderr, "vhm run %s: tracking: stop check: out of memory for %zu pages\n",
			t->d->cfg.name, n);
	t->ver.ncand = 0;      /* settled here, not by a next pass */
	free(late);
	return a ? a : json_array();
}

/* Run the stop check if this session asked for it: its report (new
 * reference; "ran" false with why when the device cannot be stopped now),
 * or NULL when the session did not ask. */
static json_t *stop_check_maybe(struct run_track *t, bool busy)
{
	struct device *d = t->d;
	struct run_stopchk s;
	json_t *found = NULL;
	char err[256] = "", err2[256] = "";
	uint64_t n = 0;
	int rc;

	if (!t->stop_check)
		return NULL;
	if (busy || !t->logging || d->front.broken || dev_state(d) != DEV_RUNNING)
		return json_pack("{s:b, s:s}", "ran", 0, "why", "the device's rings are not ours "
				 "to stop now (a migration, or logging off)");
	/* A snapshot of its own, just before the stop: the window it opens
	 * holds the backend's last writes (run_stopchk_stop awaits them) and
	 * few of the driver's rewrites, which would mark the packed descriptor
	 * pages the backend leaves unmarked (docs/logtrack.md; a session
	 * without a pass yet gets its first hashes here); its candidates are
	 * settled by the marks the stop collects, as a next pass would. */
	sync_now(t, now_ms());
	verify_pass(t, now_ms());
	lt_track_marks_clear(&t->lt);
	run_stopchk_open(&s, d);
	rc = run_stopchk_stop(&s, d, err, sizeof(err));
	if (!rc)
		found = stop_compare(t, &s, &n);
	if (run_stopchk_restart(&s, d, err2, sizeof(err2)) && !rc) {
		rc = -EIO;
		snprintf(err, sizeof(err), "%s", err2);
	}
	/* dev_backend_start restarted the rings unlogged, with plain addresses. */
	t->logging = false;
	if (rc)
		fprintf(stderr, "vhm run %s: tracking: stop check: %s\n", d->cfg.name, err);
	return json_pack("{s:b, s:I, s:f, s:f, s:f, s:i, s:I, s:o, s:s*}", "ran", rc == 0,
			 "window_frames", (json_int_t)s.window_frames, "await_ms", s.await_ms,
			 "quiesce_ms", s.quiesce_ms, "stopped_ms", s.stopped_ms, "watch_ms",
			 RUN_STOPCHK_WATCH_MS, "candidates", (json_int_t)n,
			 "findings", found ? found : json_array(), "error", rc ? err : NULL);
}

/* ---- commands ------------------------------------------------------------------------ */

static json_t *config_json(const struct run_track *t)
{
	return json_pack("{s:b, s:I, s:i, s:b, s:i, s:I}", "active", t->active, "interval_ms",
			 (json_int_t)t->interval_ms, "sync_ms", RUN_TRACK_SYNC_MS, "verify", t->verify,
			 "users", (int)t->users, "log_bytes", (json_int_t)(t->log.nwords * 8));
}

int run_track_ctl_start(struct run_track *t, bool busy, json_t *args, json_t **ret, char *err,
		    size_t errlen)
{
	struct run_args_track a;
	int rc;

	if ((rc = run_args_track_start(args, &a, err, errlen)))
		return rc;
	if (!t)
		return -ENOMEM;
	if (!t->active) {
		if (busy)
			return vhm_err(err, errlen, -EBUSY, "a migration is running");
		if (dev_state(t->d) != DEV_RUNNING)
			return vhm_err(err, errlen, -EBUSY, "device is %s, not running",
				       dev_state_name(dev_state(t->d)));
		if ((rc = session_start(t, &a, err, errlen)))
			return rc;
	} else if (a.verify && !t->verify) {
		return vhm_err(err, errlen, -EBUSY,
			       "tracking runs without verify; track-stop it first");
	}
	/* A second user shares the running session and its interval. */
	t->users++;
	*ret = config_json(t);
	return 0;
}

int run_track_ctl_stop(struct run_track *t, bool busy, json_t *args, json_t **ret, char *err,
		   size_t errlen)
{
	json_t *sc = NULL;
	bool force;
	int rc;

	if ((rc = run_args_track_stop(args, &force, err, errlen)))
		return rc;
	if (!t)
		return -ENOMEM;
	if (t->active && (force || --t->users == 0)) {
		sc = stop_check_maybe(t, busy);
		logging_off(t, busy);
		session_free(t);
	}
	*ret = config_json(t);
	if (sc)
		json_object_set_new(*ret, "stop_check", sc);
	return 0;
}

int run_track_ctl_dirty(struct run_track *t, json_t *args, json_t **ret, char *err, size_t errlen)
{
	(void)args, (void)err, (void)errlen;
	if (!t)
		return -ENOMEM;
	*ret = t->latest ? json_deep_copy(t->latest) : json_object();
	json_object_set_new(*ret, "active", json_boolean(t->active));
	json_object_set_new(*ret, "intervals", json_integer((json_int_t)t->intervals));
	if (t->verify) {
		json_t *v = json_object_get(*ret, "verify");

		if (v)
			json_object_set_new(v, "all", json_deep_copy(t->findings));
	}
	return 0;
}

/* ---- prediction ---------------------------------------------------------------------- */

struct data_count {
	uint64_t pages;
};

static void count_extent(const struct gmem_region *r, uint64_t off, uint64_t end, void *arg)
{
	(void)r;
	((struct data_count *)arg)->pages += (end - off + LT_PAGE_SIZE - 1) / LT_PAGE_SIZE;
}

/* Guest pages, and those holding data (round 0 copies those alone: memfd
 * holes never are). Under d->lock: "predict" may come while a migration
 * replaces the memory (device.h, "Threads"). */
static void count_pages(struct device *d, uint64_t *all, uint64_t *data)
{
	struct data_count dc = { 0 };

	pthread_mutex_lock(&d->lock);
	*all = gmem_pages(&d->mem);
	for (int i = 0; i < d->mem.n; i++)
		gmem_for_data(&d->mem.r[i], count_extent, &dc);
	pthread_mutex_unlock(&d->lock);
	*data = dc.pages;
}

int run_track_predict(struct run_track *t, double bandwidth, double downtime_ms,
		      unsigned max_rounds, enum mig_verify_mode verify, struct lt_predict_in *in,
		      struct lt_predict_out *out)
{
	struct lt_predict_in local, *pin = in ? in : &local;
	struct mig_cost_kept kept;
	double pages[LT_WSS_NWINDOWS], span[LT_WSS_NWINDOWS];
	uint32_t samples[LT_WSS_NWINDOWS];
	uint64_t all, data;
	size_t n = 0;
	int rc;

	if (!t || !t->active)
		return -ENODATA;
	if ((rc = lt_track_curve(&t->lt, span, pages, samples)))
		return rc;
	/* Each point at the time its pages were really dirtied in, not at its
	 * nominal window: marks come at syncs, so a 50 ms window holds 50 or,
	 * after a late sync, ~100 ms of writes (seen: wss(50 ms) 2553 pages in
	 * one run, twice that in another, at 40000 pages/s, which made the model
	 * diverge); and the mean of the last syncs', where one sync's short
	 * windows are a few per cent off either way (lt_track_curve), an error
	 * the model multiplies near a rate the bandwidth cannot outrun. Windows
	 * longer than tracking has run all span the time since it began and
	 * hold the same pages: one point, not a flat tail that would read as a
	 * working set that stopped growing. */
	for (size_t i = 0; i < LT_WSS_NWINDOWS; i++) {
		t->curve.window_ms[i] = lt_wss_windows_ms[i];
		t->curve.span_ms[i] = span[i];
		t->curve.window_pages[i] = pages[i];
		t->curve.samples[i] = samples[i];
		if (!(span[i] > 0) || (n && (span[i] <= t->curve.ms[n - 1] ||
					     pages[i] < t->curve.pages[n - 1])))
			continue;
		t->curve.ms[n] = span[i];
		t->curve.pages[n] = pages[i];
		n++;
	}
	if (n == 0)
		return -ENODATA;       /* no sync yet */
	/* Past the last point, a writer finds new pages only among the guest's
	 * pages not yet dirtied (a uniform one: 1 - exp(-rate t / pages)). */
	count_pages(t->d, &all, &data);
	t->curve.c = (struct lt_curve){ t->curve.ms, t->curve.pages, n, (double)all };
	*pin = (struct lt_predict_in){
		.total_pages = data ? data : 1, .page_size = LT_PAGE_SIZE,
		.bandwidth = bandwidth, .downtime_ms = downtime_ms,
		.max_rounds = max_rounds ? max_rounds : RUN_TRACK_PREDICT_ROUNDS,
		.wss = lt_curve_wss, .wss_arg = &t->curve.c,
	};
	t->curve.kept_err[0] = '\0';
	if (!t->cost_dir || mig_cost_load(t->cost_dir, &kept, t->curve.kept_err,
					  sizeof(t->curve.kept_err)))
		memset(&kept, 0, sizeof(kept));
	if (mig_cost_estimate(t->d, verify, data, &kept, &t->curve.cost) == 0) {
		pin->setup_ms = t->curve.cost.setup_ms;
		pin->check_ms = t->curve.cost.check_ms;
		pin->switch_ms = t->curve.cost.switch_ms;
	}
	return lt_predict(pin, out);
}

/* The per-page costs: sampled, and the medians kept from this host's
 * earlier migrations, which replace the sampled where present (mig_cost.h). */
static json_t *cost_json(const struct track_curve *c)
{
	json_t *o = json_pack("{s:f, s:f, s:f, s:f, s:{s:f, s:i, s:f, s:i, s:f, s:i}}",
			      "populate", c->cost.populate_ns, "map", c->cost.map_ns, "compare",
			      c->cost.compare_ns, "digest", c->cost.digest_ns, "kept", "setup",
			      c->cost.setup_kept_ns, "setup_migrations", c->cost.setup_kept,
			      "check", c->cost.check_kept_ns, "check_migrations",
			      c->cost.check_kept, "switch_ms", c->cost.switch_ms,
			      "switch_migrations", c->cost.switch_kept);

	if (o && c->kept_err[0])
		json_object_set_new(json_object_get(o, "kept"), "error",
				    json_string(c->kept_err));
	return o;
}

json_t *run_track_predict_json(const struct lt_predict_in *in, const struct lt_predict_out *out)
{
	const struct track_curve *c = in->wss_arg;
	json_t *curve = json_array(), *o;

	/* Every window, with the span its pages cover (what the model uses;
	 * windows longer than tracking has run share one). */
	for (size_t i = 0; c && i < LT_WSS_NWINDOWS; i++)
		json_array_append_new(curve, json_pack("{s:f, s:f, s:f, s:i}", "window_ms",
						       c->window_ms[i], "span_ms", c->span_ms[i],
						       "pages", c->window_pages[i], "syncs",
						       (int)c->samples[i]));
	o = json_pack("{s:b, s:i, s:f, s:f, s:f, s:f, s:{s:I, s:I, s:f, s:f, s:i, s:o, s:f, s:f, s:f}}",
		      "converges", out->converges, "rounds", (int)out->rounds,
		      "precopy_ms", out->precopy_ms, "downtime_ms", out->downtime_ms,
		      "total_ms", out->total_ms, "final_pages", out->final_pages,
		      "inputs", "total_pages", (json_int_t)in->total_pages, "page_size",
		      (json_int_t)in->page_size, "bandwidth", in->bandwidth, "downtime_ms",
		      in->downtime_ms, "max_rounds", (int)in->max_rounds, "wss", curve,
		      "setup_ms", in->setup_ms, "check_ms", in->check_ms, "switch_ms", in->switch_ms);
	if (c)      /* the per-page costs setup_ms and check_ms came from */
		json_object_set_new(json_object_get(o, "inputs"), "cost_ns", cost_json(c));
	if (!out->converges) {
		json_object_set_new(o, "bandwidth_needed", json_real(out->bandwidth_needed));
		json_object_set_new(o, "downtime_needed_ms", json_real(out->downtime_needed_ms));
		json_object_set_new(o, "dirty_fraction_needed",
				    json_real(out->dirty_fraction_needed));
	}
	return o;
}

int run_track_ctl_predict(struct run_track *t, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct run_args_predict a;
	struct lt_predict_in in;
	struct lt_predict_out out;
	int rc;

	if ((rc = run_args_predict(args, &a, err, errlen)))
		return rc;
	rc = run_track_predict(t, a.bandwidth, a.downtime_ms, a.max_rounds,
			       MIG_VERIFY_AFTER_RESUME, &in, &out);
	if (rc == -ENODATA)
		return vhm_err(err, errlen, rc,
			       "not tracking: the working-set curve comes from track-start");
	if (rc)
		return vhm_err(err, errlen, rc, "prediction: %s", strerror(-rc));
	*ret = run_track_predict_json(&in, &out);
	return 0;
}
