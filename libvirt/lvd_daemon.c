/* SPDX-License-Identifier: MIT */
/* lvd_daemon — `vhm libvirt-watch`.  See lvd_daemon.h for the threads and
 * the events; docs/libvirt.md for the operator's view.
 *
 * Ownership: the main thread owns struct lvd and its domain table; the event
 * thread and announce threads touch only the queue (under qlock) and the wake
 * pipe.  Every queued item carries a new json reference that the main thread
 * emits (ctl_server_emit steals it). */
#include "lvd_daemon.h"
#include "lv_api.h"
#include "cli.h"
#include "ctl.h"
#include "lv_event.h"
#include "lvd_dirty.h"
#include "lvd_jobs.h"
#include "lvd_metrics.h"
#include "lvd_notify.h"
#include "lvd_stats.h"
#include "lvh_hook.h"
#include "lvh_xml.h"
#include "metrics.h"
#include "rarp_announce.h"
#include "rarp_frame.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LVD_DOMAINS_MAX 1024
#define LVD_ANNOUNCES_MAX 16

/* What the event thread (or an announce thread) tells the main thread. */
struct lvd_item {
	struct lvd_item *next;
	char *event;          /* control-socket event name */
	json_t *data;         /* owned */
	char domain[LVH_NAME_MAX];
	int lc_event, lc_detail; /* lifecycle only, else -1 */
	bool has_job;            /* job-completed and the poller's reports: their statistics */
	bool final;              /* poller's job-ended: libvirt's completed statistics */
	int poll_kind;           /* enum lvd_jobs_kind of a poller's report, else -1 */
	struct lvd_job job;
};

struct lvd_dom {
	char name[LVH_NAME_MAX];
	bool job_active;
	struct lvd_job cur;       /* last poll while active */
	json_t *last_job;         /* {"domain", "final", "job"} */
	json_t *dirty;            /* last dirty-rate result */
	json_t *hook;             /* last hook event */
	struct metrics_migs migs; /* outgoing migrations that ended (--metrics) */
	struct lvd_item *held_end; /* the poller's job-ended without final statistics,
				    * waiting for JOB_COMPLETED (LVD_END_WAIT_MS) */
	uint64_t held_until_ns;
	double calc_mib_s;        /* last dirty-rate calculation, < 0: none */
};

struct lvd_announce {
	pthread_t tid;
	bool used;
	struct lvd *d;
	char domain[LVH_NAME_MAX];
	uint8_t macs[LVH_IFACES_MAX][6];
	size_t nmacs;
};

struct lvd {
	struct lvd_opts o;
	char uri[256], uplink[IFNAMSIZ];
	virConnectPtr conn;
	int cb_ids[3];
	bool connected;
	uint64_t next_reconnect_ns;
	struct lvd_jobs *jobs;    /* the job-stats poller thread (lvd_jobs.h) */
	struct lvd_dirty *dirty;  /* dirty-rate measuring threads (lvd_dirty.h) */

	struct ctl_server *srv;
	struct metrics_srv *msrv;  /* --metrics, NULL: none */
	int wake[2];              /* self-pipe: queue items, stop requests */
	volatile sig_atomic_t stop;

	struct lv_event_loop ev;  /* libvirt's event loop thread */

	pthread_mutex_t qlock;
	struct lvd_item *qhead, **qtail;

	struct lvd_dom *doms;
	size_t ndoms;
	json_t *last_job;         /* the most recent of all domains */

	struct lvd_announce ann[LVD_ANNOUNCES_MAX];
};

/* ---- names ---- */

const char *lvd_event_name(int event)
{
	static const char *const names[] = {
		"defined", "undefined", "started", "suspended", "resumed",
		"stopped", "shutdown", "pmsuspended", "crashed",
	};

	return event >= 0 && (size_t)event < VHM_ARRAY_SIZE(names) ? names[event] : "unknown";
}

const char *lvd_detail_name(int event, int detail)
{
	static const char *const defined[] = { "added", "updated", "renamed", "from_snapshot" };
	static const char *const undefined[] = { "removed", "renamed" };
	static const char *const started[] = { "booted", "migrated", "restored",
					       "from_snapshot", "wakeup" };
	static const char *const suspended[] = { "paused", "ioerror", "watchdog", "restored",
						 "from_snapshot", "api_error", "postcopy",
						 "postcopy_failed" };
	static const char *const resumed[] = { "unpaused", "migrated", "from_snapshot",
					       "postcopy", "postcopy_failed" };
	static const char *const stopped[] = { "shutdown", "destroyed", "crashed", "migrated",
					       "saved", "failed", "from_snapshot" };
	static const char *const shutdown[] = { "finished", "guest", "host" };
	static const char *const pmsuspended[] = { "memory", "disk" };
	static const char *const crashed[] = { "panicked", "crashloaded" };
	static const struct { const char *const *n; size_t len; } t[] = {
#define ROW(a) { a, VHM_ARRAY_SIZE(a) }
		ROW(defined), ROW(undefined), ROW(started), ROW(suspended), ROW(resumed),
		ROW(stopped), ROW(shutdown), ROW(pmsuspended), ROW(crashed),
#undef ROW
	};

	/* suspended: libvirt's detail 1 is MIGRATED, between paused and ioerror. */
	if (event == VIR_DOMAIN_EVENT_SUSPENDED && detail == VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED)
		return "migrated";
	if (event == VIR_DOMAIN_EVENT_SUSPENDED && detail > VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED)
		detail--;
	if (event < 0 || (size_t)event >= VHM_ARRAY_SIZE(t) || detail < 0 ||
	    (size_t)detail >= t[event].len)
		return "unknown";
	return t[event].n[detail];
}

bool lvd_should_announce(const struct lvh_conf *conf, const char *uplink, int event, int detail)
{
	/* Only once the guest runs here: STARTED/MIGRATED comes at the start of an
	 * incoming migration, while the source still runs the guest. */
	bool incoming = event == VIR_DOMAIN_EVENT_RESUMED &&
			(detail == VIR_DOMAIN_EVENT_RESUMED_MIGRATED ||
			 detail == VIR_DOMAIN_EVENT_RESUMED_POSTCOPY);

	return incoming && uplink && *uplink && conf->announce == LVH_ANNOUNCE_VHM;
}

/* ---- the queue (any thread) ---- */

static void wake(struct lvd *d)
{
	(void)!write(d->wake[1], "x", 1); /* full pipe: a wake-up is pending anyway */
}

/* A new item (steals data); NULL when out of memory (data freed). */
static struct lvd_item *item_new(const char *event, json_t *data, const char *domain,
				 int lc_event, int lc_detail)
{
	struct lvd_item *it = calloc(1, sizeof(*it));

	if (!it || !(it->event = strdup(event))) {
		free(it);
		json_decref(data);
		return NULL;
	}
	it->data = data;
	snprintf(it->domain, sizeof(it->domain), "%s", domain ? domain : "");
	it->lc_event = lc_event;
	it->lc_detail = lc_detail;
	it->poll_kind = -1;
	return it;
}

/* Append it (NULL: nothing) and wake the main thread. */
static void item_push(struct lvd *d, struct lvd_item *it)
{
	if (!it)
		return;
	pthread_mutex_lock(&d->qlock);
	*d->qtail = it;
	d->qtail = &it->next;
	pthread_mutex_unlock(&d->qlock);
	wake(d);
}

static void queue_push(struct lvd *d, const char *event, json_t *data, const char *domain,
		       int lc_event, int lc_detail)
{
	item_push(d, item_new(event, data, domain, lc_event, lc_detail));
}

static struct lvd_item *queue_take_all(struct lvd *d)
{
	struct lvd_item *all;

	pthread_mutex_lock(&d->qlock);
	all = d->qhead;
	d->qhead = NULL;
	d->qtail = &d->qhead;
	pthread_mutex_unlock(&d->qlock);
	return all;
}

void lvd_inject_job_completed(struct lvd *d, const char *domain, const struct lvd_job *job)
{
	struct lvd_item *it = item_new("job-completed", lvd_job_json(job, domain), domain, -1, -1);

	if (it) {
		it->has_job = true;
		it->job = *job;
	}
	item_push(d, it);
}

void lvd_inject_lifecycle(struct lvd *d, const char *domain, int event, int detail)
{
	queue_push(d, "lifecycle",
		   json_pack("{s:s,s:s,s:s}", "domain", domain, "event", lvd_event_name(event),
			     "detail", lvd_detail_name(event, detail)),
		   domain, event, detail);
}

void lvd_request_stop(struct lvd *d)
{
	d->stop = 1;
	wake(d);
}

/* ---- libvirt callbacks (event thread) ---- */

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	(void)conn;
	lvd_inject_lifecycle(opaque, lv_api.virDomainGetName(dom), event, detail);
	return 0;
}

static void on_iteration(virConnectPtr conn, virDomainPtr dom, int iteration, void *opaque)
{
	(void)conn;
	queue_push(opaque, "migration-iteration",
		   json_pack("{s:s,s:i}", "domain", lv_api.virDomainGetName(dom), "iteration", iteration),
		   lv_api.virDomainGetName(dom), -1, -1);
}

static void on_job_completed(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params,
			     int nparams, void *opaque)
{
	struct lvd_job job;

	(void)conn;
	lvd_job_decode(&job, VIR_DOMAIN_JOB_COMPLETED, params, nparams);
	lvd_inject_job_completed(opaque, lv_api.virDomainGetName(dom), &job);
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	static const char *const why[] = { "error", "eof", "keepalive", "client" };

	(void)conn;
	queue_push(opaque, "connection",
		   json_pack("{s:b,s:s}", "connected", 0, "reason",
			     reason >= 0 && reason < 4 ? why[reason] : "unknown"),
		   NULL, -1, -1);
}

/* ---- domain table (main thread) ---- */

static struct lvd_dom *dom_get(struct lvd *d, const char *name, bool create)
{
	struct lvd_dom *nd;

	for (size_t i = 0; i < d->ndoms; i++)
		if (!strcmp(d->doms[i].name, name))
			return &d->doms[i];
	if (!create || d->ndoms == LVD_DOMAINS_MAX)
		return NULL;
	nd = realloc(d->doms, (d->ndoms + 1) * sizeof(*d->doms));
	if (!nd)
		return NULL;
	d->doms = nd;
	nd = &d->doms[d->ndoms++];
	memset(nd, 0, sizeof(*nd));
	snprintf(nd->name, sizeof(nd->name), "%s", name);
	metrics_migs_init(&nd->migs);
	nd->calc_mib_s = -1;
	return nd;
}

static void set_last_job(struct lvd *d, struct lvd_dom *ld, json_t *rec)
{
	json_decref(ld->last_job);
	ld->last_job = json_incref(rec);
	json_decref(d->last_job);
	d->last_job = rec; /* steals */
}

/* ---- connection ---- */

static void disconnect(struct lvd *d)
{
	if (!d->conn)
		return;
	for (size_t i = 0; i < VHM_ARRAY_SIZE(d->cb_ids); i++)
		if (d->cb_ids[i] >= 0)
			lv_api.virConnectDomainEventDeregisterAny(d->conn, d->cb_ids[i]);
	lv_api.virConnectUnregisterCloseCallback(d->conn, on_close);
	lv_api.virConnectClose(d->conn);
	d->conn = NULL;
	d->connected = false;
}

static int connect_libvirt(struct lvd *d, char *err, size_t errlen)
{
	d->conn = lv_api.virConnectOpen(d->uri);
	if (!d->conn)
		return vhm_err(err, errlen, -ECONNREFUSED, "cannot connect to %s: %s", d->uri,
			       lv_api.virGetLastErrorMessage());
	/* Keepalive needs the event loop, which runs; unsupported (test driver) is fine. */
	lv_api.virConnectSetKeepAlive(d->conn, 5, 3);
	lv_api.virConnectRegisterCloseCallback(d->conn, on_close, d, NULL);
	d->cb_ids[0] = lv_api.virConnectDomainEventRegisterAny(d->conn, NULL,
		VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), d, NULL);
	d->cb_ids[1] = lv_api.virConnectDomainEventRegisterAny(d->conn, NULL,
		VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION, VIR_DOMAIN_EVENT_CALLBACK(on_iteration),
		d, NULL);
	d->cb_ids[2] = lv_api.virConnectDomainEventRegisterAny(d->conn, NULL,
		VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, VIR_DOMAIN_EVENT_CALLBACK(on_job_completed),
		d, NULL);
	if (d->cb_ids[0] < 0) {
		snprintf(err, errlen, "%s: cannot subscribe to lifecycle events: %s", d->uri,
			 lv_api.virGetLastErrorMessage());
		disconnect(d);
		return -ENOTSUP;
	}
	d->connected = true;
	return 0;
}

/* ---- job statistics (poller thread → queue) ---- */

/* The poller's report, queued as the event it becomes (lvd_jobs.h). */
static void on_jobs_report(void *ctx, const struct lvd_jobs_report *r)
{
	struct lvd_item *it;
	json_t *data = lvd_job_json(&r->job, r->domain);

	if (r->kind == LVD_JOBS_ENDED)
		data = json_pack("{s:s,s:b,s:o}", "domain", r->domain, "final", r->final, "job",
				 data);
	it = item_new(r->kind == LVD_JOBS_ENDED ? "job-ended" : "job", data, r->domain, -1, -1);
	if (it) {
		it->poll_kind = (int)r->kind;
		it->has_job = true;
		it->job = r->job;
		it->final = r->final;
	}
	item_push(ctx, it);
}

/* A report of the poller (main thread): false when the item is not to be
 * published (a job whose end JOB_COMPLETED told first). */
static bool take_jobs_report(struct lvd *d, struct lvd_item *it)
{
	struct lvd_dom *ld = dom_get(d, it->domain, true);

	if (!ld)
		return true;
	if (it->poll_kind == LVD_JOBS_RUNNING) {
		ld->cur = it->job;
		ld->job_active = true;
		return true;
	}
	if (!ld->job_active)
		return false;
	ld->job_active = false;
	/* A successful one is counted when its JOB_COMPLETED event comes, if
	 * libvirt sends those; failed and cancelled ones only show here. */
	if (it->final && (it->job.type != VIR_DOMAIN_JOB_COMPLETED || d->cb_ids[2] < 0))
		lvd_metrics_job_ended(&ld->migs, &it->job);
	set_last_job(d, ld, json_incref(it->data));
	return true;
}

/* ---- dirty rate (measuring threads -> queue -> main thread) ---- */

static void on_dirty_report(void *ctx, const char *domain, json_t *data)
{
	queue_push(ctx, "dirty-rate", data, domain, -1, -1);
}

/* A measurement's result, before it is published: keep it as the domain's
 * (a failure is only published: it may name no domain of libvirt's). */
static void take_dirty(struct lvd *d, const struct lvd_item *it)
{
	json_t *rate = json_object_get(it->data, "dirty_mib_s");
	struct lvd_dom *ld;

	if (json_object_get(it->data, "error") || !(ld = dom_get(d, it->domain, true)))
		return;
	json_decref(ld->dirty);
	ld->dirty = json_incref(it->data);
	ld->calc_mib_s = json_is_integer(rate) ? (double)json_integer_value(rate) : -1;
}

/* ---- announce ---- */

static void *announce_thread(void *arg)
{
	struct lvd_announce *a = arg;
	struct rarp_schedule s = RARP_SCHEDULE_DEFAULT;
	struct rarp_packet pkt;
	struct rarp_output out = { .send_mac = rarp_packet_send_mac, .ctx = &pkt };
	char err[256] = "";
	json_t *macs = json_array();
	int rc;

	for (size_t i = 0; i < a->nmacs; i++) {
		char m[18];

		vhm_format_mac(a->macs[i], m);
		json_array_append_new(macs, json_string(m));
	}
	rc = rarp_packet_open(&pkt, a->d->uplink, RARP_VLAN_NONE, err, sizeof(err));
	if (!rc) {
		rc = rarp_announce_run(&s, (const uint8_t (*)[6])a->macs, a->nmacs, &out);
		if (rc)
			snprintf(err, sizeof(err), "send: %s", strerror(-rc));
		rarp_packet_close(&pkt);
	}
	json_t *ev = json_pack("{s:s,s:s,s:o,s:i}", "domain", a->domain, "uplink",
			       a->d->uplink, "macs", macs, "rounds", rc ? 0 : (int)s.rounds);

	if (ev && rc)
		json_object_set_new(ev, "error", json_string(err));
	queue_push(a->d, "announce", ev, a->domain, -1, -1);
	return NULL;
}

static void reap_announces(struct lvd *d, bool all)
{
	for (size_t i = 0; i < LVD_ANNOUNCES_MAX; i++) {
		if (!d->ann[i].used)
			continue;
		if (!all && pthread_tryjoin_np(d->ann[i].tid, NULL))
			continue;
		if (all)
			pthread_join(d->ann[i].tid, NULL);
		d->ann[i].used = false;
	}
}

static void start_announce(struct lvd *d, const char *domain)
{
	struct lvd_announce *a = NULL;
	static struct lvh_domain ldom;
	virDomainPtr dom;
	char err[256];
	char *xml;

	reap_announces(d, false);
	for (size_t i = 0; i < LVD_ANNOUNCES_MAX && !a; i++)
		if (!d->ann[i].used)
			a = &d->ann[i];
	dom = d->conn ? lv_api.virDomainLookupByName(d->conn, domain) : NULL;
	xml = dom ? lv_api.virDomainGetXMLDesc(dom, 0) : NULL;
	if (dom)
		lv_api.virDomainFree(dom);
	if (!xml || lvh_xml_parse(xml, strlen(xml), &ldom, err, sizeof(err))) {
		if (!xml)
			snprintf(err, sizeof(err), "no domain XML: %s", lv_api.virGetLastErrorMessage());
		ctl_server_emit(d->srv, "announce", json_pack("{s:s,s:s}", "domain", domain,
							      "error", err));
		free(xml);
		return;
	}
	free(xml);
	if (!a) {
		ctl_server_emit(d->srv, "announce", json_pack("{s:s,s:s}", "domain", domain,
							      "error", "too many announces running"));
		return;
	}
	memset(a, 0, sizeof(*a));
	a->d = d;
	snprintf(a->domain, sizeof(a->domain), "%s", domain);
	for (size_t i = 0; i < ldom.nifaces; i++)
		if (ldom.ifaces[i].has_mac)
			memcpy(a->macs[a->nmacs++], ldom.ifaces[i].mac, 6);
	if (!a->nmacs)
		return; /* no vhostuser interface with a MAC: nothing of ours to announce */
	if (pthread_create(&a->tid, NULL, announce_thread, a)) {
		ctl_server_emit(d->srv, "announce", json_pack("{s:s,s:s}", "domain", domain,
							      "error", "cannot start a thread"));
		return;
	}
	a->used = true;
}

/* ---- queue drain (main thread) ---- */

static void item_free(struct lvd_item *it)
{
	json_decref(it->data);
	free(it->event);
	free(it);
}

/* The poller's job-ended without libvirt's final statistics, while libvirt
 * sends JOB_COMPLETED (which has them, and may come after the poller saw
 * the job gone): held for LVD_END_WAIT_MS instead of published (true). */
static bool hold_end(struct lvd *d, struct lvd_item *it)
{
	struct lvd_dom *ld;

	if (it->poll_kind != LVD_JOBS_ENDED || it->final || d->cb_ids[2] < 0)
		return false;
	if (!(ld = dom_get(d, it->domain, true)))
		return false;
	if (ld->held_end)
		item_free(ld->held_end);
	ld->held_end = it;
	ld->held_until_ns = vhm_now_ns() + LVD_END_WAIT_MS * 1000000ULL;
	return true;
}

/* Publish the held job-ended whose wait is over (the loop calls it before
 * each poll, whose timeout it bounds); the end of the earliest wait still
 * running, or UINT64_MAX. */
static uint64_t release_held(struct lvd *d)
{
	uint64_t now = vhm_now_ns(), next = UINT64_MAX;

	for (size_t i = 0; i < d->ndoms; i++) {
		struct lvd_dom *ld = &d->doms[i];

		if (!ld->held_end)
			continue;
		if (now < ld->held_until_ns) {
			next = ld->held_until_ns < next ? ld->held_until_ns : next;
			continue;
		}
		ctl_server_emit(d->srv, ld->held_end->event, json_incref(ld->held_end->data));
		item_free(ld->held_end);
		ld->held_end = NULL;
	}
	return next;
}

static void handle_items(struct lvd *d)
{
	struct lvd_item *it = queue_take_all(d), *next;

	for (; it; it = next) {
		next = it->next;
		if (!strcmp(it->event, "connection") && d->connected) {
			disconnect(d);
			d->next_reconnect_ns = vhm_now_ns() + LVD_RECONNECT_MS * 1000000ULL;
		} else if (!strcmp(it->event, "migration-iteration")) {
			struct lvd_dom *ld = dom_get(d, it->domain, true);

			if (ld)
				ld->job_active = true;
			lvd_jobs_kick(d->jobs); /* poll now, and fast from now on */
		} else if (it->poll_kind >= 0 && !take_jobs_report(d, it)) {
			item_free(it);
			continue;
		} else if (hold_end(d, it)) {
			continue;
		} else if (!strcmp(it->event, "dirty-rate")) {
			take_dirty(d, it);
		} else if (!strcmp(it->event, "job-completed")) {
			struct lvd_dom *ld = dom_get(d, it->domain, true);
			json_t *rec = json_pack("{s:s,s:b,s:O}", "domain", it->domain, "final", 1,
						"job", it->data);

			if (ld && it->has_job)
				lvd_metrics_job_ended(&ld->migs, &it->job);
			if (ld && ld->held_end) {   /* this one has the final figures */
				item_free(ld->held_end);
				ld->held_end = NULL;
			}
			if (ld && rec) {
				/* libvirt's own final figures end the job we were polling */
				ld->job_active = false;
				ctl_server_emit(d->srv, "job-ended", json_incref(rec));
				set_last_job(d, ld, rec);
			} else {
				json_decref(rec);
			}
		}
		ctl_server_emit(d->srv, it->event, it->data);
		if (it->lc_event >= 0 &&
		    lvd_should_announce(&d->o.conf, d->uplink, it->lc_event, it->lc_detail))
			start_announce(d, it->domain);
		free(it->event);
		free(it);
	}
}

/* ---- control commands (main thread) ---- */

static int c_status(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct lvd *d = ctx;
	size_t active = 0;

	(void)args, (void)err, (void)errlen;
	for (size_t i = 0; i < d->ndoms; i++)
		active += d->doms[i].job_active;
	*ret = json_pack("{s:s,s:s,s:b,s:b,s:i,s:i,s:s,s:s}", "state", "running", "uri", d->uri,
			 "connected", d->connected, "job_stats", !lvd_jobs_unsupported(d->jobs),
			 "domains", (int)d->ndoms, "jobs_active", (int)active,
			 "uplink", d->uplink, "announce", lvh_announce_name(d->o.conf.announce));
	if (*ret && d->msrv)
		json_object_set_new(*ret, "metrics", json_string(metrics_srv_addr(d->msrv)));
	return 0;
}

static int c_jobs(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct lvd *d = ctx;
	json_t *arr = json_array();

	(void)args, (void)err, (void)errlen;
	for (size_t i = 0; i < d->ndoms; i++)
		if (d->doms[i].job_active)
			json_array_append_new(arr, lvd_job_json(&d->doms[i].cur, d->doms[i].name));
	*ret = json_pack("{s:o}", "jobs", arr);
	return 0;
}

/* {"domain": NAME} (optional when opt) into *name; 0 or -EINVAL. */
static int arg_domain(json_t *args, bool opt, const char **name, char *err, size_t errlen)
{
	json_error_t je;

	*name = NULL;
	if (json_unpack_ex(args, &je, JSON_STRICT, opt ? "{s?s}" : "{s:s}", "domain", name))
		return vhm_err(err, errlen, -EINVAL, "invalid arguments: %s", je.text);
	return 0;
}

static int c_last_job(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct lvd *d = ctx;
	struct lvd_dom *ld;
	const char *name;
	json_t *rec;

	if (arg_domain(args, true, &name, err, errlen))
		return -EINVAL;
	ld = name ? dom_get(d, name, false) : NULL;
	rec = name ? (ld ? ld->last_job : NULL) : d->last_job;
	if (!rec)
		return vhm_err(err, errlen, -ENOENT, "no completed job%s%s seen",
			       name ? " of " : "", name ? name : "");
	*ret = json_incref(rec);
	return 0;
}

static int c_dirty_rate(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct lvd *d = ctx;
	const char *name = NULL;
	json_int_t secs = 1;
	json_error_t je;
	int rc;

	if (json_unpack_ex(args, &je, JSON_STRICT, "{s:s,s?I}", "domain", &name, "seconds",
			   &secs))
		return vhm_err(err, errlen, -EINVAL, "invalid arguments: %s", je.text);
	if (secs < 1 || secs > LVD_DIRTY_SECONDS_MAX)
		return vhm_err(err, errlen, -EINVAL, "seconds must be 1..%d",
			       LVD_DIRTY_SECONDS_MAX);
	if (!d->connected)
		return vhm_err(err, errlen, -ENOTCONN, "not connected to %s", d->uri);
	/* Everything that talks to libvirt, the lookup included, runs on the
	 * measuring thread: its errors come as the event's "error". */
	rc = lvd_dirty_start(d->dirty, name, (int)secs, err, errlen);
	if (rc)
		return rc;
	*ret = json_pack("{s:s,s:I,s:s}", "domain", name, "seconds", secs, "status", "measuring");
	return 0;
}

static int c_dirty_result(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct lvd *d = ctx;
	struct lvd_dom *ld;
	const char *name;

	if (arg_domain(args, false, &name, err, errlen))
		return -EINVAL;
	if (lvd_dirty_busy(d->dirty, name)) {
		*ret = json_pack("{s:s,s:s}", "domain", name, "status", "measuring");
		return 0;
	}
	ld = dom_get(d, name, false);
	if (!ld || !ld->dirty)
		return vhm_err(err, errlen, -ENOENT, "no dirty-rate result for %s", name);
	*ret = json_incref(ld->dirty);
	return 0;
}

static int c_hook_event(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct lvd *d = ctx;
	const char *name = NULL, *op = NULL;
	struct lvd_dom *ld;

	(void)ret;
	if (json_unpack(args, "{s:s,s:s}", "domain", &name, "operation", &op))
		return vhm_err(err, errlen, -EINVAL,
			       "invalid arguments: domain and operation are required");
	ld = dom_get(d, name, true);
	if (ld) {
		json_decref(ld->hook);
		ld->hook = json_deep_copy(args);
	}
	ctl_server_emit(d->srv, "hook", json_deep_copy(args));
	return 0;
}

static int c_stop(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	(void)args, (void)ret, (void)err, (void)errlen;
	lvd_request_stop(ctx);
	return 0;
}

static const struct ctl_cmd lvd_cmds[] = {
	{ "status", NULL, c_status },
	{ "jobs", "running jobs with their latest stats", c_jobs },
	{ "last-job", "{\"domain\"?: NAME} the last completed job", c_last_job, { "domain" } },
	{ "dirty-rate", "{\"domain\": NAME, \"seconds\": N} start a calculation", c_dirty_rate,
	  { "domain", "seconds" } },
	{ "dirty-rate-result", "{\"domain\": NAME}", c_dirty_result, { "domain" } },
	{ "hook-event", "what `vhm hook` sends", c_hook_event,
	  { "domain", "operation", "sub_operation", "extra", "uuid", "interfaces", "pid",
	    "xml_error", "refused" } },
	{ "stop", NULL, c_stop },
};

/* ---- metrics (main thread) ---- */

#define MIB 1048576.0

/* GET /metrics: one row per domain the watcher knows. */
static void metrics_fill(void *ctx, struct metrics_buf *b)
{
	struct lvd *d = ctx;
	struct lvd_mrow *rows = calloc(d->ndoms + 1, sizeof(*rows));

	if (!rows) {
		b->oom = true;
		return;
	}
	for (size_t i = 0; i < d->ndoms; i++) {
		const struct lvd_dom *ld = &d->doms[i];
		double job = ld->job_active ? lvd_job_dirty_mib_s(&ld->cur) : -1;

		rows[i] = (struct lvd_mrow){ .domain = ld->name, .migs = &ld->migs,
					     .job_dirty_bps = job >= 0 ? job * MIB : -1,
					     .calc_dirty_bps = ld->calc_mib_s >= 0 ?
						     ld->calc_mib_s * MIB : -1 };
	}
	lvd_metrics_write(b, d->connected, rows, d->ndoms);
	free(rows);
}

const char *lvd_metrics_addr(const struct lvd *d)
{
	return d->msrv ? metrics_srv_addr(d->msrv) : NULL;
}

/* ---- open / run / close ---- */

int lvd_open(struct lvd **out, const struct lvd_opts *o, char *err, size_t errlen)
{
	struct lvd *d;
	int rc;

	rc = lv_event_init(err, errlen);
	if (rc)
		return rc;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->o = *o;
	snprintf(d->uri, sizeof(d->uri), "%s", o->uri ? o->uri : LVD_DEFAULT_URI);
	if (o->uplink && strlen(o->uplink) >= sizeof(d->uplink)) {
		snprintf(err, errlen, "uplink name '%s' is too long", o->uplink);
		free(d);
		return -EINVAL;
	}
	snprintf(d->uplink, sizeof(d->uplink), "%s", o->uplink ? o->uplink : "");
	if (!d->o.poll_ms)
		d->o.poll_ms = LVD_POLL_MS;
	if (!d->o.idle_poll_ms)
		d->o.idle_poll_ms = LVD_IDLE_POLL_MS;
	for (size_t i = 0; i < VHM_ARRAY_SIZE(d->cb_ids); i++)
		d->cb_ids[i] = -1;
	pthread_mutex_init(&d->qlock, NULL);
	d->qtail = &d->qhead;
	d->wake[0] = d->wake[1] = -1;
	if (pipe2(d->wake, O_CLOEXEC | O_NONBLOCK)) {
		rc = vhm_err(err, errlen, -errno, "pipe: %s", strerror(errno));
		goto fail;
	}
	/* The event thread first: keepalive and callbacks need a running loop. */
	if (lv_event_start(&d->ev)) {
		rc = vhm_err(err, errlen, -EAGAIN, "cannot start the event thread");
		goto fail;
	}
	rc = connect_libvirt(d, err, errlen);
	if (rc)
		goto fail;
	rc = lvd_jobs_start(&d->jobs, &(struct lvd_jobs_opts){ .uri = d->uri,
			    .poll_ms = d->o.poll_ms, .idle_poll_ms = d->o.idle_poll_ms,
			    .reconnect_ms = LVD_RECONNECT_MS, .report = on_jobs_report, .ctx = d },
			    err, errlen);
	if (rc)
		goto fail;
	d->dirty = lvd_dirty_new(d->uri, on_dirty_report, d);
	if (!d->dirty) {
		rc = vhm_err(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	rc = ctl_server_open(&d->srv, vhm_run_dir(o->run_dir), o->name ? o->name : LVH_DAEMON_NAME,
			     lvd_cmds, VHM_ARRAY_SIZE(lvd_cmds), d, err, errlen);
	if (rc)
		goto fail;
	if (o->metrics && (rc = metrics_srv_open(&d->msrv, o->metrics, metrics_fill, d, err,
						 errlen)))
		goto fail;
	*out = d;
	return 0;
fail:
	lvd_close(d);
	return rc;
}

const char *lvd_socket_path(const struct lvd *d)
{
	return ctl_server_path(d->srv);
}

int lvd_run(struct lvd *d)
{
	struct pollfd fds[CTL_CLIENTS_MAX + METRICS_CLIENTS_MAX + 5];
	struct lvd_watchdog wd;
	char buf[64];

	lvd_watchdog_init(&wd);
	while (!d->stop) {
		uint64_t now = vhm_now_ns(), next, held;
		int n, nm = 0, timeout;

		n = ctl_server_pollfds(d->srv, fds, CTL_CLIENTS_MAX + 1);
		if (n < 0)
			return n;
		fds[n] = (struct pollfd){ .fd = d->wake[0], .events = POLLIN };
		if (d->msrv && (nm = metrics_srv_pollfds(d->msrv, fds + n + 1,
							 METRICS_CLIENTS_MAX + 1)) < 0)
			return nm;
		next = now + d->o.idle_poll_ms * 1000000ULL;
		if (!d->connected && d->next_reconnect_ns < next)
			next = d->next_reconnect_ns;
		if (lvd_watchdog_due(&wd) < next)
			next = lvd_watchdog_due(&wd);
		held = release_held(d);
		if (held < next)
			next = held;
		timeout = next <= now ? 0 : (int)((next - now) / 1000000 + 1);
		if (d->msrv && metrics_srv_timeout_ms(d->msrv) >= 0 &&
		    metrics_srv_timeout_ms(d->msrv) < timeout)
			timeout = metrics_srv_timeout_ms(d->msrv);
		if (poll(fds, (nfds_t)(n + 1 + nm), timeout) < 0 && errno != EINTR)
			return -errno;
		ctl_server_handle(d->srv, fds, n);
		if (d->msrv)
			metrics_srv_handle(d->msrv, fds + n + 1, nm);
		while (read(d->wake[0], buf, sizeof(buf)) > 0)
			;
		handle_items(d);
		now = vhm_now_ns();
		if (!d->connected && now >= d->next_reconnect_ns) {
			char err[256];

			if (connect_libvirt(d, err, sizeof(err)))
				d->next_reconnect_ns = now + LVD_RECONNECT_MS * 1000000ULL;
			else
				ctl_server_emit(d->srv, "connection",
						json_pack("{s:b,s:s}", "connected", 1, "reason",
							  "reconnected"));
		}
		lvd_dirty_reap(d->dirty);
		reap_announces(d, false);
		lvd_watchdog_tick(&wd, vhm_now_ns());
	}
	return 0;
}

void lvd_close(struct lvd *d)
{
	struct lvd_item *it, *next;

	if (!d)
		return;
	reap_announces(d, true);
	lvd_jobs_stop(d->jobs); /* before the queue they report into goes */
	lvd_dirty_stop(d->dirty);
	disconnect(d);
	lv_event_stop(&d->ev);
	ctl_server_close(d->srv);
	metrics_srv_close(d->msrv);
	for (it = queue_take_all(d); it; it = next) {
		next = it->next;
		item_free(it);
	}
	for (size_t i = 0; i < d->ndoms; i++) {
		if (d->doms[i].held_end)
			item_free(d->doms[i].held_end);
		json_decref(d->doms[i].last_job);
		json_decref(d->doms[i].dirty);
		json_decref(d->doms[i].hook);
	}
	free(d->doms);
	json_decref(d->last_job);
	if (d->wake[0] >= 0)
		close(d->wake[0]);
	if (d->wake[1] >= 0)
		close(d->wake[1]);
	pthread_mutex_destroy(&d->qlock);
	free(d);
}

/* ---- the command ---- */

static struct lvd *signal_target;

static void on_signal(int sig)
{
	(void)sig;
	if (signal_target)
		lvd_request_stop(signal_target);
}

int cmd_libvirt_watch(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "uplink", required_argument, NULL, 'u' },
		{ "run-dir", required_argument, NULL, 'd' },
		{ "conf", required_argument, NULL, 'C' },
		{ "poll-ms", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' },
		{ "metrics", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct vhm_cli p = { .cmd = "libvirt-watch", .shortopts = "c:u:d:", .longopts = lo };
	struct lvd_opts o = { 0 };
	const char *conf = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	char err[512], host[64];
	struct lvd *d;
	uint16_t port;
	uint64_t v;
	int c, rc;

	while ((c = vhm_cli_next(&p, argc, argv)) > 0) {
		switch (c) {
		case 'c': o.uri = optarg; break;
		case 'u': o.uplink = optarg; break;
		case 'd': o.run_dir = optarg; break;
		case 'C': conf = optarg; break;
		case 'n': o.name = optarg; break;
		case 'm':
			if (metrics_parse_listen(optarg, host, sizeof(host), &port, err,
						 sizeof(err)))
				return vhm_usage_error("libvirt-watch", "%s", err);
			o.metrics = optarg;
			break;
		case 'p':
			if (vhm_parse_u64(optarg, &v) || v < 10 || v > 60000)
				return vhm_usage_error("libvirt-watch",
						       "--poll-ms '%s' is not 10..60000", optarg);
			o.poll_ms = (unsigned)v;
			break;
		}
	}
	if (c != VHM_CLI_END)
		return vhm_cli_status(c);
	if (optind < argc)
		return vhm_usage_error("libvirt-watch", "unexpected argument '%s'", argv[optind]);
	if (lvh_conf_load(&o.conf, conf, err, sizeof(err))) {
		fprintf(stderr, "vhm libvirt-watch: %s\n", err);
		return VHM_EXIT_USAGE;
	}
	rc = lvd_open(&d, &o, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vhm libvirt-watch: %s\n", err);
		lvd_notify_failed(err, rc);
		return VHM_EXIT_PEER;
	}
	signal_target = d;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	snprintf(err, sizeof(err), "watching %s, control socket %s%s%s%s%s%s", d->uri,
		 lvd_socket_path(d), d->uplink[0] ? ", announcing on " : "", d->uplink,
		 d->msrv ? ", metrics on http://" : "", d->msrv ? metrics_srv_addr(d->msrv) : "",
		 d->msrv ? "/metrics" : "");
	fprintf(stderr, "vhm libvirt-watch: %s\n", err);
	lvd_notify_ready(err);
	rc = lvd_run(d);
	lvd_notify_stopping();
	signal_target = NULL;
	lvd_close(d);
	if (rc) {
		fprintf(stderr, "vhm libvirt-watch: %s\n", strerror(-rc));
		return VHM_EXIT_FAIL;
	}
	return VHM_EXIT_OK;
}
