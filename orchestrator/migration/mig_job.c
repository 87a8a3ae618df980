/* SPDX-License-Identifier: MIT */
/* The migration job: a thread running migrate(), and the queue that carries
 * its events (its phases, the device's state changes) to the loop thread,
 * which alone emits them on the control socket (mig_job_poll); the cancel
 * flag, and the status of the running or last migration. The threads' rules
 * are in mig_job.h. */
#include "mig_job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mig_cost.h"
#include "util.h"

void mig_job_init(struct mig_job *j, struct device *d, bool quiet, const char *cost_dir)
{
	memset(j, 0, sizeof(*j));
	j->d = d;
	j->quiet = quiet;
	j->cost_dir = cost_dir;
	j->events = json_array();
	pthread_mutex_init(&j->lock, NULL);
}

/* Callers hold the lock. */
static void queue(struct mig_job *j, const char *name, json_t *data)
{
	json_array_append_new(j->events, json_pack("[s, o]", name, data));
}

void mig_job_post(struct mig_job *j, const char *name, json_t *data)
{
	pthread_mutex_lock(&j->lock);
	queue(j, name, data);
	pthread_mutex_unlock(&j->lock);
}

/* The phases a migration ends with. */
static bool is_final(const char *phase)
{
	return !strcmp(phase, "done") || !strcmp(phase, "failed") || !strcmp(phase, "cancelled");
}

/* Progress from the migration thread: queue it for the loop. */
static void progress(void *ctx, const char *phase, json_t *data)
{
	struct mig_job *j = ctx;

	if (!strcmp(phase, "progress")) {  /* a tick: kept for queries, and an event of its own */
		pthread_mutex_lock(&j->lock);
		json_decref(j->progress);
		j->progress = json_deep_copy(json_object_get(data, "progress"));
		queue(j, "migration-progress", data);   /* a copy: data goes to the loop */
		pthread_mutex_unlock(&j->lock);
		return;
	}
	json_object_set_new(data, "phase", json_string(phase));
	pthread_mutex_lock(&j->lock);
	if (j->prediction && !strcmp(phase, "done"))
		json_object_set(data, "prediction", j->prediction);
	snprintf(j->phase, sizeof(j->phase), "%s", phase);
	if (json_object_get(data, "progress")) {   /* a copy: data goes to the loop */
		json_decref(j->progress);
		j->progress = json_deep_copy(json_object_get(data, "progress"));
	}
	if (is_final(phase)) {     /* rep is complete: the report answers queries now */
		json_decref(j->final);
		j->final = mig_report_json(j->rep);
	}
	queue(j, "migration", data);
	pthread_mutex_unlock(&j->lock);
}

static void *job_main(void *arg)
{
	struct mig_job *j = arg;

	j->rc = mig_run(j->d, &j->p, j->rep, progress, j);
	pthread_mutex_lock(&j->lock);
	j->finished = true;
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

static int start(struct mig_job *j, const struct mig_params *p, char *err, size_t errlen)
{
	int rc;

	if (j->active) {
		pthread_mutex_lock(&j->lock);
		rc = vhm_err(err, errlen, -EBUSY, "a migration is already running (phase %s)",
			     j->phase);
		pthread_mutex_unlock(&j->lock);
		return rc;
	}
	if (strlen(p->to) >= sizeof(j->to) ||
	    (p->announce_ifname && strlen(p->announce_ifname) >= sizeof(j->ifname)))
		return vhm_err(err, errlen, -ENAMETOOLONG,
			       "destination path or interface name too long");
	j->rep = calloc(1, sizeof(*j->rep));
	if (!j->rep)
		return -ENOMEM;
	j->p = *p;
	snprintf(j->to, sizeof(j->to), "%s", p->to);
	j->p.to = j->to;
	if (p->announce_ifname) {
		snprintf(j->ifname, sizeof(j->ifname), "%s", p->announce_ifname);
		j->p.announce_ifname = j->ifname;
	}
	atomic_store(&j->cancel, false);
	j->p.cancel = &j->cancel;
	pthread_mutex_lock(&j->lock);
	j->finished = false;
	json_decref(j->progress);
	j->progress = NULL;
	snprintf(j->phase, sizeof(j->phase), "starting");
	pthread_mutex_unlock(&j->lock);
	rc = vhm_thread_start(&j->thread, job_main, j);
	if (rc) {
		free(j->rep);
		j->rep = NULL;
		return vhm_err(err, errlen, -rc, "starting the migration thread: %s", strerror(rc));
	}
	pthread_setname_np(j->thread, "vhm-migrate");
	j->active = true;
	return 0;
}

int mig_job_start(struct mig_job *j, const struct mig_params *p, json_t *prediction, char *err,
		  size_t errlen)
{
	int rc;

	pthread_mutex_lock(&j->lock);
	if (!j->active) {          /* set before the thread can report "done" */
		json_decref(j->prediction);
		j->prediction = prediction;
		prediction = NULL;
	}
	pthread_mutex_unlock(&j->lock);
	rc = start(j, p, err, errlen);
	if (rc && !prediction) {
		pthread_mutex_lock(&j->lock);
		if (!j->active) {
			json_decref(j->prediction);
			j->prediction = NULL;
		}
		pthread_mutex_unlock(&j->lock);
	}
	json_decref(prediction);
	return rc;
}

int mig_job_cancel(struct mig_job *j, char *err, size_t errlen)
{
	if (!j->active)
		return vhm_err(err, errlen, -ESRCH, "no migration is running");
	atomic_store(&j->cancel, true);
	return 0;
}

/* QMP's status for each of vhm's phases (the latest event's). */
static const struct {
	const char *phase, *status;
} qmp_statuses[] = {
	{ "starting", "setup" }, { "setup", "setup" }, { "log-start", "active" },
	{ "pre-copy", "active" }, { "switchover", "device" }, { "announce", "device" },
	/* the after-resume proof: the guest runs on the destination, the job is
	 * not complete yet; "device" keeps QMP's statuses moving forward */
	{ "verify", "device" },
	{ "done", "completed" }, { "failed", "failed" }, { "cancelled", "cancelled" },
};

/* Callers hold the lock. */
static const char *status_locked(struct mig_job *j)
{
	if (!j->phase[0])
		return "none";
	if (j->active && !is_final(j->phase) && atomic_load(&j->cancel))
		return "cancelling";
	for (size_t i = 0; i < VHM_ARRAY_SIZE(qmp_statuses); i++)
		if (!strcmp(qmp_statuses[i].phase, j->phase))
			return qmp_statuses[i].status;
	return "active";
}

const char *mig_job_qmp_status(struct mig_job *j)
{
	const char *s;

	pthread_mutex_lock(&j->lock);
	s = status_locked(j);
	pthread_mutex_unlock(&j->lock);
	return s;
}

/* Copies of what the job's thread may still replace (progress, final),
 * taken under the lock: a jansson object's reference count is not for two
 * threads to change. Callers hold the lock. */
static json_t *progress_copy(struct mig_job *j)
{
	return j->progress ? json_deep_copy(j->progress) : NULL;
}

static json_t *report_copy(struct mig_job *j)
{
	return j->final ? json_deep_copy(j->final) : json_incref(j->last);
}

json_t *mig_job_status(struct mig_job *j)
{
	json_t *o, *pr, *last;

	pthread_mutex_lock(&j->lock);
	pr = progress_copy(j);
	last = report_copy(j);
	/* to: written by start() on this (the loop) thread, before the job's */
	o = json_pack("{s:b, s:s, s:s, s:s, s:o, s:o}", "active", j->active, "phase", j->phase,
		      "status", status_locked(j), "destination", j->to,
		      "progress", pr ? pr : json_null(), "last", last ? last : json_null());
	pthread_mutex_unlock(&j->lock);
	return o;
}

static json_int_t ival(const json_t *o, const char *key)
{
	return (json_int_t)json_number_value(json_object_get(o, key));
}

/* MigrationStats from vhm's progress (pr) and, once over, its report (rep:
 * the bytes copied while the guest was paused). Members vhm has no use for
 * (postcopy, multifd, zero-copy) are 0, as QEMU reports them unused. */
static json_t *qmp_ram(const json_t *pr, const json_t *rep)
{
	json_int_t sent = ival(pr, "sent_bytes");
	json_int_t down = rep ? ival(rep, "last_pages") * (json_int_t)GMEM_PAGE_SIZE : 0;
	double rate = json_number_value(json_object_get(pr, "rate_bytes_per_s"));

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:i, s:i, s:i, s:I,"
			 " s:I, s:I, s:i, s:i}",
			 "transferred", sent, "remaining", ival(pr, "remaining_bytes"),
			 "total", ival(pr, "total_bytes"), "duplicate", ival(pr, "zero_pages"),
			 "normal", sent / (json_int_t)GMEM_PAGE_SIZE, "normal-bytes", sent,
			 "dirty-pages-rate", ival(pr, "dirty_pages_per_s"),
			 "mbps", rate * 8 / 1e6,             /* megabits/s, as QEMU's */
			 "dirty-sync-count", ival(pr, "pass"), "postcopy-requests", 0,
			 "page-size", (int)GMEM_PAGE_SIZE, "multifd-bytes", 0,
			 "pages-per-second", (json_int_t)(rate / (double)GMEM_PAGE_SIZE),
			 "precopy-bytes", sent - down, "downtime-bytes", down,
			 "postcopy-bytes", 0, "dirty-sync-missed-zero-copy", 0);
}

json_t *mig_job_query_migrate(struct mig_job *j)
{
	json_t *o = json_object(), *pr, *rep;
	const char *status;

	pthread_mutex_lock(&j->lock);
	status = status_locked(j);
	pr = progress_copy(j);
	/* over: the report, reaped (last, the loop thread's) or not yet (final) */
	rep = is_final(j->phase) ? report_copy(j) : NULL;
	pthread_mutex_unlock(&j->lock);
	if (!strcmp(status, "none"))
		goto out;
	json_object_set_new(o, "status", json_string(status));
	if (pr) {
		json_object_set_new(o, "ram", qmp_ram(pr, rep));
		json_object_set_new(o, "setup-time", json_integer(ival(pr, "setup_ms")));
		json_object_set_new(o, "total-time", json_integer(ival(pr, "elapsed_ms")));
	}
	if (rep)
		json_object_set_new(o, "total-time", json_integer(ival(rep, "total_ms")));
	if (pr && !rep)
		json_object_set_new(o, "expected-downtime",
				    json_integer(ival(pr, "expected_downtime_ms")));
	if (rep && !strcmp(status, "completed"))
		json_object_set_new(o, "downtime", json_integer(
			ival(json_object_get(rep, "downtime"), "ms")));
	if (rep && strcmp(status, "completed"))
		json_object_set(o, "error-desc", json_object_get(rep, "result"));
out:
	json_decref(pr);
	json_decref(rep);
	return o;
}

/* Is ev (a queued [name, data] pair) the event that ends the migration? */
static bool final_event(json_t *ev)
{
	const char *phase = json_string_value(json_object_get(json_array_get(ev, 1), "phase"));

	return !strcmp(json_string_value(json_array_get(ev, 0)), "migration") && phase &&
	       is_final(phase);
}

/* Emit the queued events. Unless the job has been reaped (reaped), the
 * final one and what follows it wait in the queue: a client that acts on
 * "done" or "failed" must find the job no longer active. */
static void flush_events(struct mig_job *j, struct ctl_server *srv, bool reaped)
{
	json_t *evs, *ev;
	size_t i, cut;

	pthread_mutex_lock(&j->lock);
	evs = j->events;
	j->events = json_array();
	pthread_mutex_unlock(&j->lock);
	for (cut = 0; cut < json_array_size(evs); cut++)
		if (!reaped && final_event(json_array_get(evs, cut)))
			break;
	for (i = 0; i < cut; i++) {
		ev = json_array_get(evs, i);
		ctl_server_emit(srv, json_string_value(json_array_get(ev, 0)),
				json_incref(json_array_get(ev, 1)));
	}
	if (cut < json_array_size(evs)) {       /* held back, ahead of newer ones */
		json_t *held = json_array();

		for (i = cut; i < json_array_size(evs); i++)
			json_array_append(held, json_array_get(evs, i));
		pthread_mutex_lock(&j->lock);
		json_array_extend(held, j->events);
		json_decref(j->events);
		j->events = held;
		pthread_mutex_unlock(&j->lock);
	}
	json_decref(evs);
}

void mig_job_poll(struct mig_job *j, struct ctl_server *srv)
{
	char err[512];
	bool done;

	if (!j->active)
		return;
	flush_events(j, srv, false);
	pthread_mutex_lock(&j->lock);
	done = j->finished;
	pthread_mutex_unlock(&j->lock);
	if (!done)
		return;
	pthread_join(j->thread, NULL);
	json_decref(j->last);
	pthread_mutex_lock(&j->lock);
	j->last = j->final ? j->final : mig_report_json(j->rep);
	j->final = NULL;
	if (j->prediction)
		json_object_set_new(j->last, "prediction", j->prediction);
	j->prediction = NULL;
	pthread_mutex_unlock(&j->lock);
	if (!j->quiet)
		fprintf(stderr, "vhm run %s: migration to %s: %s\n", j->d->cfg.name, j->to,
			j->rep->result);
	if (mig_cost_keep(j->cost_dir, j->rep, err, sizeof(err)))
		fprintf(stderr, "vhm run %s: this migration's costs not kept: %s\n",
			j->d->cfg.name, err);
	free(j->rep);
	j->rep = NULL;
	j->active = false;
	flush_events(j, srv, true);
}

void mig_job_destroy(struct mig_job *j, struct ctl_server *srv)
{
	if (j->active) {
		atomic_store(&j->cancel, true);
		for (;;) {
			bool done;

			pthread_mutex_lock(&j->lock);
			done = j->finished;
			pthread_mutex_unlock(&j->lock);
			if (done)
				break;
			usleep(1000);
		}
		mig_job_poll(j, srv);
	}
	json_decref(j->events);
	json_decref(j->last);
	json_decref(j->prediction);
	json_decref(j->progress);
	json_decref(j->final);
	pthread_mutex_destroy(&j->lock);
}
