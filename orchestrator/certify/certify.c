/* SPDX-License-Identifier: MIT */
/* The frame of `vhm certify`: the table of checks, the run (reach the
 * backends, learn what they offer, run the selected checks in order), the
 * JSON report, and what several checks share — the layouts a migration is
 * made in and those migrations themselves, each made once (cert_mig_get),
 * with a verify-mode window before it. The checks are cert_checks.c. */
#include "cert_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lt_log.h"
#include "lt_verify.h"
#include "mig_verify.h"
#include "migrate.h"
#include "util.h"

#define MEM_BASE_MIB     64        /* guest memory of a check's device */
#define VERIFY_WINDOW_MS 500       /* verify mode before each migration */
#define VERIFY_PASS_MS   100
#define AFTER_MIG_MS     300       /* traffic on SOCKET2 after the switchover */
#define QUIESCE_MS       2000
#define DIRTY_RATE       2000      /* the guest writer's page writes/s */

static const struct cert_check checks[CERT_NCHECKS] = {
	{ 1, "features", "migration features offered; QEMU's handshake with and without REPLY_ACK",
	  false, cert_check_features },
	{ 2, "log", "log completeness under traffic: verify mode, then equal migration digests",
	  true, cert_check_log },
	{ 3, "stop", "GET_VRING_BASE: nothing in flight lost, bases right, memory quiet after",
	  false, cert_check_stop },
	{ 4, "restart", "restart from the bases on SOCKET2: no frame lost or duplicated",
	  true, cert_check_restart },
	{ 5, "reconnect", "backend restarted (--restart-cmd): rings restored, traffic resumes",
	  false, cert_check_reconnect },
	{ 6, "rarp", "SEND_RARP reaches the guest's RX with the guest's MAC", false,
	  cert_check_rarp },
	{ 7, "timing", "GET_VRING_BASE, restart and log-sync cost against this run's round trip",
	  true, cert_check_timing },
	{ 8, "hostile", "legal but unusual: the spec's size limits, log base resized mid-run",
	  false, cert_check_hostile },
};

const struct cert_check *cert_checks(size_t *n)
{
	*n = VHM_ARRAY_SIZE(checks);
	return checks;
}

const struct cert_check *cert_find(const char *name)
{
	for (size_t i = 0; i < VHM_ARRAY_SIZE(checks); i++) {
		char num[8];

		snprintf(num, sizeof(num), "%d", checks[i].id);
		if (!strcmp(name, checks[i].name) || !strcmp(name, num))
			return &checks[i];
	}
	return NULL;
}

const char *cert_status_name(enum cert_status s)
{
	return s == CERT_PASS ? "pass" : s == CERT_FAIL ? "fail" : "skip";
}

static void vadd(struct cert_result *r, const char *fmt, va_list ap)
{
	size_t used = strlen(r->evidence);

	if (used && used + 2 < sizeof(r->evidence)) {
		memcpy(r->evidence + used, "; ", 3);
		used += 2;
	}
	if (used < sizeof(r->evidence))
		vsnprintf(r->evidence + used, sizeof(r->evidence) - used, fmt, ap);
}

void cert_set(struct cert_result *r, enum cert_status s, const char *fmt, ...)
{
	va_list ap;

	r->status = s;
	r->evidence[0] = '\0';
	va_start(ap, fmt);
	vadd(r, fmt, ap);
	va_end(ap);
}

void cert_add(struct cert_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vadd(r, fmt, ap);
	va_end(ap);
}

const char *cert_cannot_log(const struct cert_ctx *c)
{
	if (!c->handshake_ok)
		return "the handshake failed (check 1)";
	if (!c->can_log)
		return "the backend offers no dirty logging (LOG_SHMFD and LOG_ALL; check 1)";
	return NULL;
}

const char *cert_cannot_migrate(const struct cert_ctx *c)
{
	if (!c->o->sock2)
		return "needs SOCKET2, a second instance of the backend";
	return cert_cannot_log(c);
}

void cert_fig(json_t *obj, json_t *add)
{
	if (!add)
		return;
	json_object_update(obj, add);
	json_decref(add);
}

void cert_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- layouts ------------------------------------------------------------- */

static void add_layout(struct cert_ctx *c, bool packed, int queues, bool mrg, uint32_t frame,
		       uint64_t pps)
{
	struct cert_mig *m = &c->mig[c->nmig++];

	memset(m, 0, sizeof(*m));
	m->l = (struct cert_layout){ packed, queues, mrg, frame, pps };
	if (packed && !c->packed)
		snprintf(m->skip, sizeof(m->skip), "the backend offers no RING_PACKED");
	else if (mrg && !c->mrg)
		snprintf(m->skip, sizeof(m->skip), "the backend offers no MRG_RXBUF");
	else if (queues > 1 && (!c->mq || c->queue_num < (uint32_t)queues))
		snprintf(m->skip, sizeof(m->skip), "the backend offers %u queue pairs, not %d",
			 c->mq ? c->queue_num : 1, queues);
}

/* Small frames go at 200/s, where the backend's last write to a page is the
 * last one (a used packed descriptor is not covered by the driver's next
 * write to the same page: migrate/log_faults); large ones at 20000/s. */
void cert_layouts(struct cert_ctx *c)
{
	c->nmig = 0;
	for (int k = 0; k < 2; k++) {
		bool packed = k == 1;

		if (!(c->o->rings & (packed ? CERT_RING_PACKED : CERT_RING_SPLIT)))
			continue;
		add_layout(c, packed, 1, true, 64, 200);
		add_layout(c, packed, 1, false, 1514, 20000);
		if (c->queues > 1) {
			add_layout(c, packed, c->queues, true, 1514, 20000);
			add_layout(c, packed, c->queues, false, 64, 200);
		}
	}
}

void cert_layout_name(const struct cert_layout *l, char *out, size_t len)
{
	snprintf(out, len, "%s %dq %s %uB@%llu/s", l->packed ? "packed" : "split", l->queues,
		 l->mrg ? "mrg" : "no-mrg", l->frame, (unsigned long long)l->pps);
}

/* ---- a device of the checks ------------------------------------------------ */

int cert_dev_open(struct cert_ctx *c, struct device *d, const char *sock,
		  const struct cert_layout *l, char *err, size_t errlen)
{
	struct dev_config cfg;

	dev_config_defaults(&cfg);
	cfg.backend = sock;
	cfg.name = "certify";
	cfg.mem_bytes = (uint64_t)(MEM_BASE_MIB + (l->queues > 2 ? 32 * l->queues : 0)) << 20;
	cfg.queues = l->queues;
	cfg.ring = l->packed ? DEV_RING_PACKED : DEV_RING_SPLIT;
	cfg.pps = l->pps;
	cfg.frame_size = l->frame;
	cfg.dirty_rate = DIRTY_RATE;
	cfg.buffers = ND_BUFFERS_SPREAD;
	cfg.no_mrg_rxbuf = !l->mrg;
	cfg.timeout_ms = c->o->timeout_ms;
	return dev_open(d, &cfg, err, errlen);
}

void cert_page_name(const struct device *d, uint64_t pfn, char *out, size_t len)
{
	char what[96];
	bool backend;

	if (!netdrv_page_what(&d->drv, pfn, what, sizeof(what), &backend))
		snprintf(what, sizeof(what), "guest RAM");
	snprintf(out, len, "0x%llx %s", (unsigned long long)(pfn * LT_PAGE_SIZE), what);
}

/* ---- verify mode before a migration ------------------------------------------ */

struct verify_run {
	struct cert_mig *m;
	const struct device *d;
};

static void on_finding(void *arg, uint64_t page, uint64_t seen_ms)
{
	struct verify_run *v = arg;

	(void)seen_ms;
	if (!v->m->verify_findings++)
		cert_page_name(v->d, page, v->m->verify_first, sizeof(v->m->verify_first));
}

/* Dirty logging on, as for tracking with verify (runner/run_track), for
 * VERIFY_WINDOW_MS: a page that changed though neither the backend's log
 * nor the guest's own marks say so is a finding. Also times the backend
 * log's sync. Logging goes off again; the migration turns it on its own. */
static int verify_window(struct cert_mig *m, struct device *d, char *err, size_t errlen)
{
	struct verify_run vr = { m, d };
	struct lt_verify_mem mem[GMEM_MAX_REGIONS];
	struct lt_verify ver = { 0 };
	struct lt_log log = { .fd = -1 };
	uint64_t *marks = NULL, t0 = vhm_now_ns();
	double sync_ms = 0;
	int rc, nsync = 0;

	if ((rc = lt_log_create(&log, d->mem.top)) || (rc = lt_verify_init(&ver, log.npages))) {
		snprintf(err, errlen, "verify: %s", strerror(-rc));
		goto out;
	}
	if (!(marks = calloc(log.nwords, sizeof(*marks)))) {
		rc = -ENOMEM;
		snprintf(err, errlen, "verify: %s", strerror(ENOMEM));
		goto out;
	}
	for (int i = 0; i < d->mem.n; i++)
		mem[i] = (struct lt_verify_mem){ d->mem.r[i].gpa, d->mem.r[i].size,
						 d->mem.r[i].hva, d->mem.r[i].fd };
	if ((rc = dev_log_start(d, &d->front, &log))) {
		snprintf(err, errlen, "logging on: %s", d->front.err);
		goto out;
	}
	lt_log_sync(&d->gw.dirty, NULL, NULL);
	while (vhm_now_ns() - t0 < VERIFY_WINDOW_MS * 1000000ull) {
		struct lt_sync how = { .merge = marks, .merge_words = log.nwords };
		uint64_t s0 = vhm_now_ns();

		lt_log_sync(&log, &how, NULL);
		sync_ms += (double)(vhm_now_ns() - s0) / 1e6;
		nsync++;
		lt_log_sync(&d->gw.dirty, &how, NULL);
		lt_verify_pass(&ver, mem, (size_t)d->mem.n, marks,
			       (vhm_now_ns() - t0) / 1000000ull, on_finding, &vr);
		memset(marks, 0, log.nwords * sizeof(*marks));
		cert_sleep_ms(VERIFY_PASS_MS);
	}
	m->verify_passes = ver.passes;
	m->sync_ms_per_gib = sync_ms / nsync / ((double)d->mem.top / (1 << 30));
	if ((rc = dev_log_stop(d, &d->front)))
		snprintf(err, errlen, "logging off: %s", d->front.err);
out:
	free(marks);
	lt_verify_destroy(&ver);
	lt_log_destroy(&log);
	return rc;
}

/* ---- the migration of a layout --------------------------------------------- */

/* The first page a failed digest check named, with whose log missed it, and
 * how many differ (the report's figures list them all). */
static void differing(struct cert_mig *m, const struct mig_diff *df)
{
	if (!df->n)
		return;
	snprintf(m->differing, sizeof(m->differing), "%llu page%s, first 0x%llx %s (%s's log)",
		 (unsigned long long)df->count, df->count == 1 ? "" : "s",
		 (unsigned long long)df->page[0].gpa,
		 df->page[0].what, df->page[0].log);
}

static void migrate_layout(struct cert_ctx *c, struct cert_mig *m, struct device *d)
{
	/* The whole memory compared at the stop (--verify=sync): a certificate
	 * wants every page proved, none excluded as dirtied after a resume. */
	struct mig_params p = { .to = c->o->sock2, .downtime_ms = 50, .max_iterations = 30,
				.verify = MIG_VERIFY_SYNC,
				.switchover_boost = MIG_BOOST_DEFAULT };
	struct mig_report *rep = calloc(1, sizeof(*rep));

	if (!rep) {
		snprintf(m->err, sizeof(m->err), "migration report: %s", strerror(ENOMEM));
		return;
	}
	netdrv_totals(&d->drv, &m->c0);
	m->ok = !mig_run(d, &p, rep, NULL, NULL);
	netdrv_totals(&d->drv, &m->c1);
	snprintf(m->result, sizeof(m->result), "%s", rep->result);
	memcpy(m->digest_src, rep->digest_src, sizeof(m->digest_src));
	memcpy(m->digest_dst, rep->digest_dst, sizeof(m->digest_dst));
	m->digests_differ = rep->diff.count > 0;
	if (m->digests_differ)
		differing(m, &rep->diff);
	m->downtime_ms = rep->downtime_ms;
	m->stop_ms = rep->downtime_stop_ms;
	m->restart_ms = rep->downtime_ctl_ms - rep->downtime_stop_ms;
	m->quiesce_ms = rep->quiesce_ms;
	m->in_flight_at_stop = nd_in_flight(&rep->before);
	free(rep);
	if (!m->ok)
		return;
	cert_sleep_ms(AFTER_MIG_MS);
	dev_quiesce(d, QUIESCE_MS);
	netdrv_totals(&d->drv, &m->c2);
	m->quiesced = nd_quiet(&m->c2);
	/* TX stays stopped: the caller closes the device next. */
}

const struct cert_mig *cert_mig_get(struct cert_ctx *c, int i)
{
	struct cert_mig *m = &c->mig[i];
	struct device *d;

	if (m->done || m->skip[0])
		return m;
	m->done = true;
	if (!(d = calloc(1, sizeof(*d)))) {
		snprintf(m->err, sizeof(m->err), "device: %s", strerror(ENOMEM));
		return m;
	}
	if (cert_dev_open(c, d, c->o->sock, &m->l, m->err, sizeof(m->err))) {
		free(d);
		return m;
	}
	cert_sleep_ms(100);   /* traffic flowing before logging starts */
	if (!verify_window(m, d, m->err, sizeof(m->err)))
		migrate_layout(c, m, d);
	dev_close(d);
	free(d);
	return m;
}

/* ---- the run --------------------------------------------------------------- */

static int reach(const char *sock, int timeout_ms, char *err, size_t errlen)
{
	struct vhu_front f;
	int rc = vhu_front_connect(&f, sock, timeout_ms);

	if (rc)
		snprintf(err, errlen, "%s", f.err);
	vhu_front_close(&f);
	return rc;
}

int cert_run(const struct cert_opts *o, struct cert_result res[CERT_NCHECKS], char *err,
	     size_t errlen)
{
	struct cert_ctx *c = calloc(1, sizeof(*c));
	int rc;

	memset(res, 0, sizeof(*res) * CERT_NCHECKS);
	if (!c)
		return vhm_err(err, errlen, -ENOMEM, "certify: %s", strerror(ENOMEM));
	c->o = o;
	if ((rc = reach(o->sock, o->timeout_ms, err, errlen)) ||
	    (o->sock2 && (rc = reach(o->sock2, o->timeout_ms, err, errlen)))) {
		free(c);
		return rc;
	}
	/* Check 1 learns what every other check needs: it always runs. */
	for (size_t i = 0; i < VHM_ARRAY_SIZE(checks); i++) {
		struct cert_result scratch = { 0 }, *r = &res[i];
		uint64_t t0 = vhm_now_ns();

		if (o->only && !(o->only & (1u << i))) {
			if (i != 0)
				continue;
			r = &scratch;
		}
		r->figures = json_object();
		checks[i].run(c, r);
		r->ms = (double)(vhm_now_ns() - t0) / 1e6;
		if (r == &scratch)
			json_decref(scratch.figures);
	}
	free(c);
	return 0;
}

void cert_results_free(struct cert_result res[CERT_NCHECKS])
{
	for (int i = 0; i < CERT_NCHECKS; i++) {
		json_decref(res[i].figures);
		res[i].figures = NULL;
	}
}

json_t *cert_report_json(const struct cert_opts *o, const struct cert_result res[CERT_NCHECKS])
{
	json_t *arr = json_array();
	int n[3] = { 0, 0, 0 };

	for (int i = 0; i < CERT_NCHECKS; i++) {
		const struct cert_result *r = &res[i];

		if (!r->figures)
			continue;
		n[r->status]++;
		json_array_append_new(arr, json_pack("{s:i, s:s, s:s, s:s, s:s, s:f, s:O}",
						     "id", checks[i].id, "name", checks[i].name,
						     "title", checks[i].title,
						     "status", cert_status_name(r->status),
						     "evidence", r->evidence, "ms", r->ms,
						     "figures", r->figures));
	}
	return json_pack("{s:s, s:s?, s:i, s:s, s:o, s:i, s:i, s:i}", "backend", o->sock,
			 "backend2", o->sock2, "queues", o->queues, "rings",
			 o->rings == CERT_RING_BOTH ? "both" : o->rings == CERT_RING_PACKED ? "packed"
											    : "split",
			 "checks", arr, "passed", n[CERT_PASS], "failed", n[CERT_FAIL], "skipped",
			 n[CERT_SKIP]);
}
