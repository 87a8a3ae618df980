/* SPDX-License-Identifier: MIT */
/* mig_job — a migration running beside the device's control loop, the way
 * QMP's `migrate` works: the command starts it and returns at once; phases
 * and the final report arrive as "migration" events; it can be cancelled
 * while it runs. The migration itself (migrate.c) runs on its own thread;
 * its progress is queued here and emitted by the control loop's thread, so
 * the control server is only ever touched from that thread. */
#ifndef VHM_MIG_JOB_H
#define VHM_MIG_JOB_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "ctl.h"
#include "migrate.h"

struct mig_job {
	struct device *d;
	pthread_t thread;
	pthread_mutex_t lock;      /* guards events, phase */
	json_t *events;            /* queued [phase, data] pairs */
	bool active;               /* a thread exists (running or not yet joined) */
	bool finished;             /* the thread is done; join it */
	volatile int cancel;
	char to[108], ifname[16];
	struct mig_params p;
	struct mig_report *rep;
	int rc;
	char phase[16];            /* the latest phase seen */
	json_t *last;              /* the last finished migration's report */
	json_t *prediction;        /* logtrack's prediction for the running one, or NULL */
	bool quiet;
};

void mig_job_init(struct mig_job *j, struct device *d, bool quiet);
/* Start a migration with these parameters (p->to etc. are copied).
 * prediction (stolen, may be NULL): logtrack's forecast, carried in the
 * report (the "done" event and migrate-status) beside the outcome. -EBUSY
 * if one is running; -errno with err otherwise. */
int mig_job_start(struct mig_job *j, const struct mig_params *p, json_t *prediction, char *err,
		  size_t errlen);
/* Ask the running migration to stop; -ESRCH if none. */
int mig_job_cancel(struct mig_job *j, char *err, size_t errlen);
/* {"active": B, "phase": P, "last": REPORT-or-null} (new reference). */
json_t *mig_job_status(struct mig_job *j);
/* From the control loop: emit queued events, reap a finished thread. */
void mig_job_poll(struct mig_job *j, struct ctl_server *srv);
/* Cancel and wait for a running migration; free everything. */
void mig_job_destroy(struct mig_job *j, struct ctl_server *srv);

#endif
