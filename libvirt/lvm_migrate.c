/* SPDX-License-Identifier: MIT */
/* lvm_migrate — the libvirt calls of `vhm migrate --domain` (lvm_migrate.h):
 * reading the plan from the domain XML, a dirty-rate calculation waited for,
 * and the migration itself in a thread, with a JOB_COMPLETED callback on
 * libvirt's event loop (lv_event) catching the completed statistics. */
#include "lvm_migrate.h"
#include "lv_api.h"
#include "lv_event.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LVM_FIN_WAIT_MS 2000  /* for JOB_COMPLETED after the call returned */
#define LVM_DIRTY_GRACE_S 10  /* past the period, before a calculation is given up */

/* ---- the plan ---- */

static int parse_xml(const char *xml, const char *what, struct lvh_domain *d, char *err,
		     size_t errlen)
{
	char why[256];
	int rc = lvh_xml_parse(xml, strlen(xml), d, why, sizeof(why));

	return rc ? vhm_err(err, errlen, rc, "%s: %s", what, why) : 0;
}

/* The destination interface for source interface i: the same MAC, else the
 * same position; NULL when there is none. */
static const struct lvh_iface *dest_iface(const struct lvh_domain *src, size_t i,
					  const struct lvh_domain *dst)
{
	for (size_t k = 0; src->ifaces[i].has_mac && k < dst->nifaces; k++)
		if (dst->ifaces[k].has_mac && !memcmp(dst->ifaces[k].mac, src->ifaces[i].mac, 6))
			return &dst->ifaces[k];
	return i < dst->nifaces ? &dst->ifaces[i] : NULL;
}

int lvm_plan_read(virDomainPtr dom, const char *dest_xml, struct lvm_plan *plan, char *err,
		  size_t errlen)
{
	static struct lvh_domain src, dst; /* 64 interfaces each: off the stack */
	char *xml = lv_api.virDomainGetXMLDesc(dom, 0);
	virDomainInfo info;
	int rc;

	memset(plan, 0, sizeof(*plan));
	snprintf(plan->name, sizeof(plan->name), "%s", lv_api.virDomainGetName(dom));
	if (!xml)
		return vhm_err(err, errlen, -EIO, "domain %s: no XML: %s", plan->name,
			       lv_api.virGetLastErrorMessage());
	rc = parse_xml(xml, plan->name, &src, err, errlen);
	free(xml);
	if (rc)
		return rc;
	if (dest_xml && (rc = parse_xml(dest_xml, "destination XML", &dst, err, errlen)))
		return rc;
	if (!lv_api.virDomainGetInfo(dom, &info))
		plan->memory_bytes = (uint64_t)info.maxMem * 1024;
	for (size_t i = 0; i < src.nifaces; i++) {
		struct lvm_iface *li = &plan->ifaces[plan->nifaces++];
		const struct lvh_iface *di = dest_xml ? dest_iface(&src, i, &dst) : &src.ifaces[i];

		if (src.ifaces[i].has_mac)
			vhm_format_mac(src.ifaces[i].mac, li->mac);
		snprintf(li->src_path, sizeof(li->src_path), "%s", src.ifaces[i].path);
		li->mode = src.ifaces[i].mode;
		if (!di)
			return vhm_err(err, errlen, -EINVAL, "destination XML has no vhostuser "
				       "interface for %s (%s)", li->mac, li->src_path);
		snprintf(li->dst_path, sizeof(li->dst_path), "%s", di->path);
	}
	return 0;
}

/* ---- dirty rate ---- */

int lvm_dirty_rate(virDomainPtr dom, int seconds, struct lvd_dirtyrate *dr, char *err,
		   size_t errlen)
{
	if (lv_api.virDomainStartDirtyRateCalc(dom, seconds, 0) < 0)
		return vhm_err(err, errlen, -ENOTSUP, "domain %s: dirty-rate calculation: %s",
			       lv_api.virDomainGetName(dom), lv_api.virGetLastErrorMessage());
	usleep((useconds_t)seconds * 1000000 + 100000);
	for (int i = 0; i < LVM_DIRTY_GRACE_S * 4; i++) {
		if (!lvd_dirtyrate_fetch(dom, dr))
			return 0;
		usleep(250000);
	}
	return vhm_err(err, errlen, -ETIMEDOUT, "domain %s: no dirty-rate result %d s after "
		       "the %d s period", lv_api.virDomainGetName(dom), LVM_DIRTY_GRACE_S, seconds);
}

/* ---- progress ---- */

json_t *lvm_progress_json(const struct lvd_job *j)
{
	json_t *o = json_object();
	double rate = lvd_job_transfer_mib_s(j);

#define SET(key, have, v) \
	do { \
		if (have) \
			json_object_set_new(o, key, json_integer((json_int_t)(v))); \
	} while (0)
	SET("total_bytes", LVD_HAVE(j, memory_total), j->memory_total);
	SET("sent_bytes", LVD_HAVE(j, memory_processed), j->memory_processed);
	SET("remaining_bytes", LVD_HAVE(j, memory_remaining), j->memory_remaining);
	/* QEMU's dirty-sync count: 1 in the first pass, as vhm counts passes */
	SET("pass", LVD_HAVE(j, memory_iteration), j->memory_iteration ? j->memory_iteration : 1);
	SET("expected_downtime_ms", LVD_HAVE(j, downtime_ms), j->downtime_ms);
	SET("elapsed_ms", LVD_HAVE(j, time_elapsed_ms), j->time_elapsed_ms);
	SET("setup_ms", LVD_HAVE(j, setup_time_ms), j->setup_time_ms);
#undef SET
	if (rate >= 0)
		json_object_set_new(o, "rate_bytes_per_s", json_real(rate * 1048576.0));
	if (lvd_job_dirty_mib_s(j) >= 0)
		json_object_set_new(o, "dirty_bytes_per_s",
				    json_real(lvd_job_dirty_mib_s(j) * 1048576.0));
	return o;
}

/* ---- the migration ---- */

struct lvm_run {
	virConnectPtr conn;
	virDomainPtr dom;
	char dest_uri[1024];
	virTypedParameterPtr params;
	int nparams;
	pthread_t tid;
	struct lv_event_loop ev;
	int cb_id;

	int rc;                 /* written by the migration thread before done */
	char err[512];
	int done;               /* atomic */

	pthread_mutex_t lock;   /* guards fin, have_fin (event loop thread) */
	struct lvd_job fin;
	bool have_fin;
};

static void *migrate_thread(void *arg)
{
	struct lvm_run *r = arg;

	r->rc = lv_api.virDomainMigrateToURI3(r->dom, r->dest_uri, r->params, (unsigned)r->nparams,
				       VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER);
	if (r->rc)
		snprintf(r->err, sizeof(r->err), "%s", lv_api.virGetLastErrorMessage());
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void on_job_completed(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params,
			     int nparams, void *opaque)
{
	struct lvm_run *r = opaque;

	(void)conn;
	if (strcmp(lv_api.virDomainGetName(dom), lv_api.virDomainGetName(r->dom)))
		return;
	pthread_mutex_lock(&r->lock);
	lvd_job_decode(&r->fin, VIR_DOMAIN_JOB_COMPLETED, params, nparams);
	r->have_fin = true;
	pthread_mutex_unlock(&r->lock);
}

static int add_params(struct lvm_run *r, const struct lvm_params *p)
{
	int maxp = 0, rc = 0;

	rc |= lv_api.virTypedParamsAddString(&r->params, &r->nparams, &maxp,
				      VIR_MIGRATE_PARAM_DEST_NAME, lv_api.virDomainGetName(r->dom));
	if (p->migrate_uri)
		rc |= lv_api.virTypedParamsAddString(&r->params, &r->nparams, &maxp,
					      VIR_MIGRATE_PARAM_URI, p->migrate_uri);
	if (p->listen_address)
		rc |= lv_api.virTypedParamsAddString(&r->params, &r->nparams, &maxp,
					      VIR_MIGRATE_PARAM_LISTEN_ADDRESS, p->listen_address);
	if (p->dest_xml)
		rc |= lv_api.virTypedParamsAddString(&r->params, &r->nparams, &maxp,
					      VIR_MIGRATE_PARAM_DEST_XML, p->dest_xml);
	if (p->bandwidth_mib_s)
		rc |= lv_api.virTypedParamsAddULLong(&r->params, &r->nparams, &maxp,
					      VIR_MIGRATE_PARAM_BANDWIDTH, p->bandwidth_mib_s);
	return rc ? -ENOMEM : 0;
}

static void run_free(struct lvm_run *r)
{
	if (r->cb_id >= 0)
		lv_api.virConnectDomainEventDeregisterAny(r->conn, r->cb_id);
	lv_event_stop(&r->ev);
	lv_api.virTypedParamsFree(r->params, r->nparams);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int lvm_run_start(struct lvm_run **out, virConnectPtr conn, virDomainPtr dom,
		  const struct lvm_params *p, char *err, size_t errlen)
{
	struct lvm_run *r = calloc(1, sizeof(*r));
	const char *name = lv_api.virDomainGetName(dom);
	int rc;

	if (!r)
		return vhm_err(err, errlen, -ENOMEM, "out of memory");
	r->conn = conn;
	r->dom = dom;
	r->cb_id = -1;
	pthread_mutex_init(&r->lock, NULL);
	/* Peer to peer: the source libvirtd connects to dest_uri itself. */
	if (snprintf(r->dest_uri, sizeof(r->dest_uri), "%s", p->dest_uri) >=
	    (int)sizeof(r->dest_uri)) {
		rc = vhm_err(err, errlen, -ENAMETOOLONG, "destination URI too long");
		goto fail;
	}
	rc = add_params(r, p);
	if (rc) {
		vhm_err(err, errlen, rc, "out of memory");
		goto fail;
	}
	if (p->downtime_ms && lv_api.virDomainMigrateSetMaxDowntime(dom, p->downtime_ms, 0) < 0) {
		rc = vhm_err(err, errlen, -EIO, "domain %s: cannot set the downtime limit: %s",
			     name, lv_api.virGetLastErrorMessage());
		goto fail;
	}
	if ((rc = lv_event_init(err, errlen)))
		goto fail;
	if ((rc = lv_event_start(&r->ev))) {
		vhm_err(err, errlen, rc, "cannot run libvirt's event loop");
		goto fail;
	}
	r->cb_id = lv_api.virConnectDomainEventRegisterAny(conn, dom, VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
		VIR_DOMAIN_EVENT_CALLBACK(on_job_completed), r, NULL);
	if (pthread_create(&r->tid, NULL, migrate_thread, r)) {
		rc = vhm_err(err, errlen, -EAGAIN, "cannot start the migration thread");
		goto fail;
	}
	*out = r;
	return 0;
fail:
	run_free(r);
	return rc;
}

bool lvm_run_done(struct lvm_run *r)
{
	return __atomic_load_n(&r->done, __ATOMIC_ACQUIRE);
}

int lvm_run_stats(struct lvm_run *r, struct lvd_job *job)
{
	virTypedParameterPtr params = NULL;
	int type = VIR_DOMAIN_JOB_NONE, n = 0;

	if (lv_api.virDomainGetJobStats(r->dom, &type, &params, &n, 0) < 0)
		return -EIO;
	lvd_job_decode(job, type, params, n);
	lv_api.virTypedParamsFree(params, n);
	return type == VIR_DOMAIN_JOB_NONE ? -ENOENT : 0;
}

int lvm_run_abort(struct lvm_run *r, char *err, size_t errlen)
{
	if (lv_api.virDomainAbortJob(r->dom) < 0)
		return vhm_err(err, errlen, -EIO, "domain %s: abort: %s",
			       lv_api.virDomainGetName(r->dom), lv_api.virGetLastErrorMessage());
	return 0;
}

int lvm_run_finish(struct lvm_run *r, struct lvd_job *fin, bool *have_fin, char *err,
		   size_t errlen)
{
	int rc;

	pthread_join(r->tid, NULL);
	for (int i = 0; i < LVM_FIN_WAIT_MS / 50; i++) {
		pthread_mutex_lock(&r->lock);
		*have_fin = r->have_fin;
		*fin = r->fin;
		pthread_mutex_unlock(&r->lock);
		if (*have_fin || r->rc)
			break;
		usleep(50000);
	}
	rc = r->rc ? vhm_err(err, errlen, -EIO, "domain %s: migration failed: %s",
			     lv_api.virDomainGetName(r->dom), r->err) : 0;
	run_free(r);
	return rc;
}
