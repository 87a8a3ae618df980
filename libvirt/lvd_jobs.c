/* SPDX-License-Identifier: MIT */
/* lvd_jobs — the job-statistics poller thread of `vhm libvirt-watch`.
 *
 * The thread sleeps on a condition variable for the poll period (short while
 * a job it knows runs, long otherwise), or until kicked or stopped; then it
 * lists the active domains and asks each for its job statistics.  A domain
 * whose job it saw running and which has none now (or is gone: a save ends
 * with the domain off) gets libvirt's completed statistics, kept by libvirt
 * (KEEP_COMPLETED, so `virsh domjobinfo --completed` still shows them), or
 * else the last poll.  Everything it learns goes out through the report
 * callback; it keeps nothing the daemon reads. */
#include "lvd_jobs.h"
#include "lv_api.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LVD_JOBS_MAX 1024 /* domains with a running job, tracked at once */

struct lvd_jobs_dom {
	char name[LVH_NAME_MAX];
	struct lvd_job cur;      /* last poll */
	bool seen;               /* active in the current poll */
};

struct lvd_jobs {
	struct lvd_jobs_opts o;
	char uri[256];
	pthread_t tid;

	pthread_mutex_t lock;    /* guards kicked and quit */
	pthread_cond_t cond;
	bool kicked, quit;
	bool unsupported;        /* written by the thread, read atomically */

	/* The poller thread's alone. */
	virConnectPtr conn;
	struct lvd_jobs_dom *doms;
	size_t ndoms;
};

static void report(struct lvd_jobs *j, enum lvd_jobs_kind kind, const char *name, bool final,
		   const struct lvd_job *job)
{
	struct lvd_jobs_report r = { .kind = kind, .final = final, .job = *job };

	snprintf(r.domain, sizeof(r.domain), "%s", name);
	j->o.report(j->o.ctx, &r);
}

static struct lvd_jobs_dom *dom_find(struct lvd_jobs *j, const char *name)
{
	for (size_t i = 0; i < j->ndoms; i++)
		if (!strcmp(j->doms[i].name, name))
			return &j->doms[i];
	return NULL;
}

static struct lvd_jobs_dom *dom_add(struct lvd_jobs *j, const char *name)
{
	struct lvd_jobs_dom *nd;

	if (j->ndoms == LVD_JOBS_MAX)
		return NULL;
	nd = realloc(j->doms, (j->ndoms + 1) * sizeof(*j->doms));
	if (!nd)
		return NULL;
	j->doms = nd;
	nd = &j->doms[j->ndoms++];
	memset(nd, 0, sizeof(*nd));
	snprintf(nd->name, sizeof(nd->name), "%s", name);
	return nd;
}

static void dom_remove(struct lvd_jobs *j, struct lvd_jobs_dom *jd)
{
	*jd = j->doms[--j->ndoms];
}

/* The job of jd is gone: report libvirt's completed statistics (dom may be
 * NULL when the domain is gone too), else the last poll; forget jd. */
static void job_ended(struct lvd_jobs *j, struct lvd_jobs_dom *jd, virDomainPtr dom)
{
	virTypedParameterPtr params = NULL;
	int type = VIR_DOMAIN_JOB_NONE, n = 0;
	struct lvd_job fin = jd->cur;
	bool final = false;

	if (dom && !lv_api.virDomainGetJobStats(dom, &type, &params, &n,
					 VIR_DOMAIN_JOB_STATS_COMPLETED |
					 VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED) &&
	    type != VIR_DOMAIN_JOB_NONE) {
		lvd_job_decode(&fin, type, params, n);
		final = true;
	}
	lv_api.virTypedParamsFree(params, n);
	report(j, LVD_JOBS_ENDED, jd->name, final, &fin);
	dom_remove(j, jd);
}

/* One active domain: report its running job, or the end of one seen before. */
static void poll_one(struct lvd_jobs *j, virDomainPtr dom)
{
	virTypedParameterPtr params = NULL;
	int type = VIR_DOMAIN_JOB_NONE, np = 0;
	const char *name = lv_api.virDomainGetName(dom);
	struct lvd_jobs_dom *jd = dom_find(j, name);

	if (lv_api.virDomainGetJobStats(dom, &type, &params, &np, 0) < 0) {
		virErrorPtr e = lv_api.virGetLastError();

		if (e && e->code == VIR_ERR_NO_SUPPORT)
			__atomic_store_n(&j->unsupported, true, __ATOMIC_RELAXED);
		if (jd)
			jd->seen = true; /* asked and not answered: not gone */
		return;
	}
	if (type != VIR_DOMAIN_JOB_NONE) {
		if (!jd)
			jd = dom_add(j, name);
		if (jd) {
			lvd_job_decode(&jd->cur, type, params, np);
			jd->seen = true;
			report(j, LVD_JOBS_RUNNING, name, false, &jd->cur);
		}
	} else if (jd) {
		job_ended(j, jd, dom);
	}
	lv_api.virTypedParamsFree(params, np);
}

static void disconnect(struct lvd_jobs *j)
{
	if (j->conn)
		lv_api.virConnectClose(j->conn);
	j->conn = NULL;
}

static int connect_uri(struct lvd_jobs *j, char *err, size_t errlen)
{
	j->conn = lv_api.virConnectOpen(j->uri);
	if (!j->conn)
		return vhm_err(err, errlen, -ECONNREFUSED, "job poller: cannot connect to %s: %s",
			       j->uri, lv_api.virGetLastErrorMessage());
	lv_api.virConnectSetKeepAlive(j->conn, 5, 3); /* unsupported (test driver) is fine */
	return 0;
}

static void poll_jobs(struct lvd_jobs *j)
{
	virDomainPtr *doms = NULL;
	int n;

	if (__atomic_load_n(&j->unsupported, __ATOMIC_RELAXED))
		return;
	n = lv_api.virConnectListAllDomains(j->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (n < 0) {
		if (lv_api.virConnectIsAlive(j->conn) != 1)
			disconnect(j); /* reconnect at the next period */
		return;
	}
	for (size_t i = 0; i < j->ndoms; i++)
		j->doms[i].seen = false;
	for (int i = 0; i < n; i++)
		poll_one(j, doms[i]);
	/* Running jobs of domains that are no longer active. */
	for (size_t i = 0; i < j->ndoms;) {
		struct lvd_jobs_dom *jd = &j->doms[i];
		virDomainPtr dom;

		if (jd->seen) {
			i++;
			continue;
		}
		dom = lv_api.virDomainLookupByName(j->conn, jd->name);
		job_ended(j, jd, dom); /* moves the last row to i */
		if (dom)
			lv_api.virDomainFree(dom);
	}
	for (int i = 0; i < n; i++)
		lv_api.virDomainFree(doms[i]);
	free(doms);
}

/* Sleep ms or until kicked/stopped; true when asked to quit. */
static bool nap(struct lvd_jobs *j, unsigned ms)
{
	struct timespec until;
	bool quit;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j->lock);
	while (!j->quit && !j->kicked)
		if (pthread_cond_timedwait(&j->cond, &j->lock, &until) == ETIMEDOUT)
			break;
	j->kicked = false;
	quit = j->quit;
	pthread_mutex_unlock(&j->lock);
	return quit;
}

static void *poller_thread(void *arg)
{
	struct lvd_jobs *j = arg;
	char err[256];
	unsigned ms;

	do {
		if (!j->conn && connect_uri(j, err, sizeof(err))) {
			ms = j->o.reconnect_ms;
			continue;
		}
		poll_jobs(j);
		ms = j->conn ? (j->ndoms ? j->o.poll_ms : j->o.idle_poll_ms) : j->o.reconnect_ms;
	} while (!nap(j, ms));
	disconnect(j);
	return NULL;
}

int lvd_jobs_start(struct lvd_jobs **out, const struct lvd_jobs_opts *o, char *err,
		   size_t errlen)
{
	pthread_condattr_t ca;
	struct lvd_jobs *j;
	int rc;

	j = calloc(1, sizeof(*j));
	if (!j)
		return vhm_err(err, errlen, -ENOMEM, "job poller: out of memory");
	j->o = *o;
	snprintf(j->uri, sizeof(j->uri), "%s", o->uri);
	pthread_mutex_init(&j->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* Connect here, so that a URI that does not answer fails the start. */
	rc = connect_uri(j, err, errlen);
	if (rc)
		goto fail;
	if (pthread_create(&j->tid, NULL, poller_thread, j)) {
		rc = vhm_err(err, errlen, -EAGAIN, "job poller: cannot start its thread");
		goto fail;
	}
	*out = j;
	return 0;
fail:
	disconnect(j);
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j);
	return rc;
}

static void signal_thread(struct lvd_jobs *j, bool quit)
{
	pthread_mutex_lock(&j->lock);
	j->kicked = true;
	j->quit |= quit;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
}

void lvd_jobs_kick(struct lvd_jobs *j)
{
	if (j)
		signal_thread(j, false);
}

bool lvd_jobs_unsupported(const struct lvd_jobs *j)
{
	return j && __atomic_load_n(&j->unsupported, __ATOMIC_RELAXED);
}

void lvd_jobs_stop(struct lvd_jobs *j)
{
	if (!j)
		return;
	signal_thread(j, true);
	pthread_join(j->tid, NULL);
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j->doms);
	free(j);
}
