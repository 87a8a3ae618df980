/* SPDX-License-Identifier: MIT */
/* mig_job — a migration running beside the device's control loop, the way
 * QMP's `migrate` works: the command starts it and returns at once; phases
 * and the final report arrive as "migration" events (and, within a long
 * copy, "migration-progress" events: {"progress"} every 250 ms at most); it
 * can be cancelled while it runs. The migration itself (migrate.c) runs on its own thread;
 * its progress is queued here and emitted by the control loop's thread, so
 * the control server is only ever touched from that thread.
 *
 * Threads: the loop thread (the one calling mig_job_*) and the job's thread
 * (job_main, running mig_run).
 *   d, quiet, cost_dir  set by mig_job_init; read-only after.
 *   thread, active, to, ifname, p, last
 *                       the loop thread only; p, to and ifname are written
 *                       before the job thread starts and not while it runs.
 *   rep, rc             the job thread while it runs, the loop thread after
 *                       pthread_join.
 *   events, phase, finished, prediction, progress, final
 *                       under `lock`.
 *   cancel              atomic: set by the loop thread, read by the job's. */
#ifndef VHM_MIG_JOB_H
#define VHM_MIG_JOB_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "ctl.h"
#include "mig_dest.h"
#include "migrate.h"

struct mig_job {
	struct device *d;
	pthread_t thread;
	pthread_mutex_t lock;      /* guards events, phase, finished, prediction */
	json_t *events;            /* queued [event name, data] pairs */
	bool active;               /* a thread exists (running or not yet joined) */
	bool finished;             /* the thread is done; join it */
	atomic_bool cancel;
	char to[MIG_TO_MAX], ifname[16];
	struct mig_params p;
	struct mig_report *rep;
	int rc;
	char phase[16];            /* the latest phase seen */
	json_t *last;              /* the last finished migration's report */
	json_t *prediction;        /* logtrack's prediction for the running one, or NULL */
	json_t *progress;          /* the latest event's "progress", or NULL (none yet) */
	json_t *final;             /* the report, from the final event until reaped */
	bool quiet;
	const char *cost_dir;      /* where a finished migration's costs are kept
				    * (mig_cost_keep), or NULL */
};

void mig_job_init(struct mig_job *j, struct device *d, bool quiet, const char *cost_dir);
/* Start a migration with these parameters (p->to etc. are copied).
 * prediction (stolen, may be NULL): logtrack's forecast, carried in the
 * report (the "done" event and migrate-status) beside the outcome. -EBUSY
 * if one is running; -errno with err otherwise. */
int mig_job_start(struct mig_job *j, const struct mig_params *p, json_t *prediction, char *err,
		  size_t errlen);
/* Ask the running migration to stop; -ESRCH if none. */
int mig_job_cancel(struct mig_job *j, char *err, size_t errlen);
/* {"active": B, "phase": P, "status": S, "progress": P-or-null,
 * "last": REPORT-or-null} (new reference). phase is the latest event's
 * ("done", "failed", "cancelled" once over); status is QMP's
 * MigrationStatus for it (mig_job_qmp_status). */
json_t *mig_job_status(struct mig_job *j);
/* QMP's MigrationStatus of the running or last migration: "none" (never
 * started), "setup", "active" (logging and pre-copy), "device" (switched
 * over, announcing), "cancelling", "completed", "failed", "cancelled".
 * Loop thread. */
const char *mig_job_qmp_status(struct mig_job *j);
/* QMP's query-migrate answer, MigrationInfo (qapi/migration.json): status,
 * ram (MigrationStats), total-time, setup-time, expected-downtime while it
 * runs, downtime once completed, error-desc once failed or cancelled; {}
 * before any migration. Loop thread; new reference. */
json_t *mig_job_query_migrate(struct mig_job *j);
/* From the job's thread: queue event `name` with data (stolen), for the
 * loop thread to emit in order with the migration's own events (the device's
 * state changes made by the migration travel this way). */
void mig_job_post(struct mig_job *j, const char *name, json_t *data);
/* From the control loop: emit queued events, reap a finished thread. */
void mig_job_poll(struct mig_job *j, struct ctl_server *srv);
/* Cancel and wait for a running migration; free everything. */
void mig_job_destroy(struct mig_job *j, struct ctl_server *srv);

#endif
