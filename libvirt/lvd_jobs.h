/* SPDX-License-Identifier: MIT */
/* lvd_jobs — the job-statistics poller of `vhm libvirt-watch`: a thread of its
 * own, with its own libvirt connection, that calls virDomainGetJobStats.
 *
 * Why a thread: while libvirt runs a job, virDomainGetJobStats waits for
 * QEMU's monitor (a query-migrate round trip, ~1 s under TCG when the job
 * holds the monitor).  Done on the daemon's main thread, that wait stalled
 * its control socket; here it stalls only this thread.
 *
 * Threads: the poller thread owns the connection and its table of domains
 * with a running job (name, last statistics).  It hands every observation to
 * the daemon through the report callback, called on the poller thread: the
 * callback must only queue (the daemon's item queue, under its lock, and a
 * wake-up of the main thread).  lvd_jobs_kick(), lvd_jobs_unsupported() and
 * lvd_jobs_stop() may be called from any thread. */
#ifndef VHM_LVD_JOBS_H
#define VHM_LVD_JOBS_H

#include <stdbool.h>
#include <stddef.h>

#include "lvd_stats.h"
#include "lvh_xml.h"

enum lvd_jobs_kind {
	LVD_JOBS_RUNNING, /* a poll of a running job: job holds its statistics */
	LVD_JOBS_ENDED,   /* a job seen running is gone: final or last statistics */
};

struct lvd_jobs_report {
	enum lvd_jobs_kind kind;
	char domain[LVH_NAME_MAX];
	bool final;          /* ENDED: job holds libvirt's completed statistics
			      * (else the last poll) */
	struct lvd_job job;
};

/* Called on the poller thread; r is valid during the call only. */
typedef void (*lvd_jobs_report_fn)(void *ctx, const struct lvd_jobs_report *r);

struct lvd_jobs_opts {
	const char *uri;
	unsigned poll_ms;      /* while a job runs */
	unsigned idle_poll_ms; /* looking for new jobs */
	unsigned reconnect_ms; /* after the connection was lost */
	lvd_jobs_report_fn report;
	void *ctx;
};

struct lvd_jobs;

/* Start the poller thread; it connects to o->uri itself (libvirt's event
 * loop must be registered: keepalive needs it).  0 or -errno with a reason. */
int lvd_jobs_start(struct lvd_jobs **out, const struct lvd_jobs_opts *o, char *err,
		   size_t errlen);

/* Poll now (e.g. a migration-iteration event said a job runs). */
void lvd_jobs_kick(struct lvd_jobs *j);

/* Has libvirt said it cannot give job statistics (the test driver)? */
bool lvd_jobs_unsupported(const struct lvd_jobs *j);

/* Stop the thread (it ends its current libvirt call first), close its
 * connection, free.  NULL is fine. */
void lvd_jobs_stop(struct lvd_jobs *j);

#endif
