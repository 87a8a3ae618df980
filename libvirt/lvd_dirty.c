/* SPDX-License-Identifier: MIT */
/* lvd_dirty — one thread per dirty-rate measurement.
 *
 * A measuring thread: connect, look the domain up, read its XML for the
 * vhostuser interfaces, attach each backend's uprobes (lvd_bview), start
 * libvirt's calculation, take the backends' counts, sleep the period, take
 * them again, then read libvirt's result until it says "measured" (or the
 * grace runs out).  Attaching comes before the calculation starts so that
 * both windows open together; each side reports the window it measured
 * (libvirt's period_s, the backend's "seconds").  The result goes out
 * through the report callback and the thread ends; the main thread joins it
 * at its next lvd_dirty_reap(). */
#include "lvd_dirty.h"
#include "lv_api.h"
#include "lvd_bview.h"
#include "lvd_stats.h"
#include "lvh_xml.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAP_MS 50 /* sleeps are cut in naps, to notice a stop */

struct lvd_dirty_m {
	struct lvd_dirty *s;
	pthread_t tid;
	bool used;               /* main thread's */
	bool measured;           /* set by the thread before it reports (atomic):
				  * no longer busy once its result is queued */
	bool done;               /* set by the thread when it returns (atomic) */
	char domain[LVH_NAME_MAX];
	int seconds;
};

struct lvd_dirty {
	char uri[256];
	lvd_dirty_report_fn report;
	void *ctx;
	bool quit;               /* set by lvd_dirty_stop (atomic) */
	struct lvd_dirty_m m[LVD_DIRTY_MAX];
};

static bool quitting(const struct lvd_dirty *s)
{
	return __atomic_load_n(&s->quit, __ATOMIC_ACQUIRE);
}

/* Sleep ms in naps; false when asked to stop. */
static bool nap(const struct lvd_dirty *s, unsigned ms)
{
	for (unsigned t = 0; t < ms; t += NAP_MS) {
		if (quitting(s))
			return false;
		usleep(NAP_MS * 1000);
	}
	return !quitting(s);
}

/* The domain's vhostuser interfaces, into *ldom (nifaces 0 when its XML
 * cannot be read: the backend view then has nothing to look at). */
static void read_ifaces(virDomainPtr dom, struct lvh_domain *ldom)
{
	char *xml = lv_api.virDomainGetXMLDesc(dom, 0);
	char err[256];

	if (!xml || lvh_xml_parse(xml, strlen(xml), ldom, err, sizeof(err)))
		ldom->nifaces = 0;
	free(xml);
}

/* {"domain", "error": "domain NAME: what"}; new reference. */
static json_t *failed(const struct lvd_dirty_m *m, const char *what)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "domain %s: %s", m->domain, what);
	return json_pack("{s:s,s:s}", "domain", m->domain, "error", msg);
}

/* libvirt's result after the period: 0 and *dr, -ETIMEDOUT, -ECANCELED. */
static int wait_measured(const struct lvd_dirty *s, virDomainPtr dom, struct lvd_dirtyrate *dr)
{
	for (int i = 0; i < LVD_DIRTY_GRACE_S * 4; i++) {
		if (!lvd_dirtyrate_fetch(dom, dr))
			return 0;
		if (!nap(s, 250))
			return -ECANCELED;
	}
	return -ETIMEDOUT;
}

/* The measurement proper, on a connected domain.  The event's data, or NULL
 * when stopped. */
static json_t *measure(struct lvd_dirty_m *m, virDomainPtr dom, struct lvh_domain *ldom,
		       struct lvd_bview *bv)
{
	struct lvd_dirtyrate dr;
	json_t *o, *backend;
	int rc;

	read_ifaces(dom, ldom);
	for (size_t i = 0; i < ldom->nifaces; i++)
		lvd_bview_open(&bv[i], &ldom->ifaces[i]);
	if (lv_api.virDomainStartDirtyRateCalc(dom, m->seconds, 0) < 0)
		return failed(m, lv_api.virGetLastErrorMessage());
	for (size_t i = 0; i < ldom->nifaces; i++)
		lvd_bview_begin(&bv[i]);
	if (!nap(m->s, (unsigned)m->seconds * 1000))
		return NULL;
	backend = json_array();
	for (size_t i = 0; i < ldom->nifaces; i++)
		json_array_append_new(backend, lvd_bview_end(&bv[i]));
	usleep(100000); /* libvirt's period ends with ours; its result a little later */
	rc = wait_measured(m->s, dom, &dr);
	if (rc == -ECANCELED) {
		json_decref(backend);
		return NULL;
	}
	if (rc) {
		o = failed(m, "libvirt gave no measured result in time");
	} else {
		o = lvd_dirtyrate_json(&dr, m->domain);
		if (o && dr.have_rate)
			json_object_set_new(o, "unit", json_string("MiB/s"));
	}
	if (o)
		json_object_set_new(o, "backend", backend);
	else
		json_decref(backend);
	return o;
}

static void *measure_thread(void *arg)
{
	struct lvd_dirty_m *m = arg;
	struct lvh_domain *ldom = calloc(1, sizeof(*ldom));
	struct lvd_bview *bv = calloc(LVH_IFACES_MAX, sizeof(*bv));
	virConnectPtr conn = ldom && bv ? lv_api.virConnectOpen(m->s->uri) : NULL;
	virDomainPtr dom = conn ? lv_api.virDomainLookupByName(conn, m->domain) : NULL;
	json_t *res;

	if (!ldom || !bv)
		res = failed(m, "out of memory");
	else if (!dom)
		res = failed(m, lv_api.virGetLastErrorMessage());
	else
		res = measure(m, dom, ldom, bv);
	for (size_t i = 0; ldom && bv && i < ldom->nifaces; i++)
		lvd_bview_close(&bv[i]);
	__atomic_store_n(&m->measured, true, __ATOMIC_RELEASE);
	if (res && !quitting(m->s))
		m->s->report(m->s->ctx, m->domain, res);
	else
		json_decref(res);
	if (dom)
		lv_api.virDomainFree(dom);
	if (conn)
		lv_api.virConnectClose(conn);
	free(bv);
	free(ldom);
	__atomic_store_n(&m->done, true, __ATOMIC_RELEASE);
	return NULL;
}

struct lvd_dirty *lvd_dirty_new(const char *uri, lvd_dirty_report_fn report, void *ctx)
{
	struct lvd_dirty *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	snprintf(s->uri, sizeof(s->uri), "%s", uri);
	s->report = report;
	s->ctx = ctx;
	return s;
}

bool lvd_dirty_busy(const struct lvd_dirty *s, const char *domain)
{
	for (size_t i = 0; i < LVD_DIRTY_MAX; i++)
		if (s->m[i].used && !__atomic_load_n(&s->m[i].measured, __ATOMIC_ACQUIRE) &&
		    !strcmp(s->m[i].domain, domain))
			return true;
	return false;
}

int lvd_dirty_start(struct lvd_dirty *s, const char *domain, int seconds, char *err,
		    size_t errlen)
{
	struct lvd_dirty_m *m = NULL;

	lvd_dirty_reap(s);
	if (lvd_dirty_busy(s, domain))
		return vhm_err(err, errlen, -EBUSY, "a dirty-rate measurement of %s runs already",
			       domain);
	for (size_t i = 0; i < LVD_DIRTY_MAX && !m; i++)
		if (!s->m[i].used)
			m = &s->m[i];
	if (!m)
		return vhm_err(err, errlen, -EBUSY, "%d dirty-rate measurements run already",
			       LVD_DIRTY_MAX);
	*m = (struct lvd_dirty_m){ .s = s, .seconds = seconds };
	snprintf(m->domain, sizeof(m->domain), "%s", domain);
	if (pthread_create(&m->tid, NULL, measure_thread, m))
		return vhm_err(err, errlen, -EAGAIN, "cannot start a thread to measure %s",
			       domain);
	m->used = true;
	return 0;
}

void lvd_dirty_reap(struct lvd_dirty *s)
{
	for (size_t i = 0; s && i < LVD_DIRTY_MAX; i++) {
		if (!s->m[i].used || !__atomic_load_n(&s->m[i].done, __ATOMIC_ACQUIRE))
			continue;
		pthread_join(s->m[i].tid, NULL);
		s->m[i].used = false;
	}
}

void lvd_dirty_stop(struct lvd_dirty *s)
{
	if (!s)
		return;
	__atomic_store_n(&s->quit, true, __ATOMIC_RELEASE);
	for (size_t i = 0; i < LVD_DIRTY_MAX; i++)
		if (s->m[i].used)
			pthread_join(s->m[i].tid, NULL);
	free(s);
}
