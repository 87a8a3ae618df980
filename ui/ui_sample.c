/* SPDX-License-Identifier: MIT */
/* The dashboard's sampler: the control connections that feed the model. One slot per instance: the model's ui_inst
 * and, beside it, the connection that feeds it.
 *
 * Connecting is the one thing that waits (connect, greeting, subscribe,
 * status, dirty: up to UI_SAMPLE_CALL_MS each), so a connector thread does
 * it: the loop queues jobs (a name to connect, or a track-start / track-stop
 * to send), the thread hands back a subscribed client (or the reason it
 * failed) or the command's reply, and wakes the loop through a pipe. A client
 * belongs to the thread until it is handed back, to the loop after; the queue
 * and the results are the only shared state (under `lock`).
 *
 * Tracking: a track-start / track-stop goes on a connection of its own,
 * opened and closed by the connector (the subscribed one belongs to the loop
 * and must never wait). run_track counts its users, so our track-stop ends
 * only our share: someone else's `vhm track` keeps its session. What the
 * dashboard started is stopped in ui_sample_close, on the way out. */
#include "ui_sample.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

#define RETRY_MIN_NS   1000000000ull
#define RETRY_MAX_NS   8000000000ull
#define READ_MAX       10000          /* events read per connection per call */
#define TRACK_STALE_NS 5000000000ull  /* no "dirty" event for this long: not tracking */
#define DIR_SETTLED_NS 2000000000ull  /* run dir unchanged this long: its mtime is trusted */

/* What the connector is asked to do for an instance. */
enum job_kind { JOB_CONNECT, JOB_TRACK_START, JOB_TRACK_STOP };

struct job {
	char name[UI_NAME_MAX];
	enum job_kind kind;
};

struct ui_slot {
	struct ui_inst *inst;           /* owned */
	struct ctl_client *cli;         /* NULL when not connected */
	bool connecting;                /* queued for, or in, the connector */
	uint64_t retry_ns;              /* next connection attempt */
	uint64_t backoff_ns;
	uint64_t vanished_ns;           /* socket gone since (0: present) */
	uint64_t dirty_ns;              /* last "dirty" event */
	bool named;                     /* given on the command line */
	bool track_tried;               /* --track: asked once on this connection */
};

/* What the connector hands back. */
struct conn_result {
	struct job job;
	int rc;                         /* 0, or -errno (see why) */
	struct ctl_client *cli;         /* JOB_CONNECT: NULL when failed */
	json_t *status, *dirty;         /* replies (dirty may be NULL); track jobs: dirty */
	char why[96];
};

struct ui_sampler {
	char run_dir[4096];
	struct stat dir_st;             /* at the last read of run_dir (st_ino 0: none yet) */
	bool named_only;                /* names were given: the dir adds none */
	bool track_all;                 /* --track: start tracking on every instance */
	char msg[96];                   /* for the footer: how a track job ended */
	int nslots;
	struct ui_slot slot[UI_SAMPLE_MAX];

	pthread_t thread;
	bool thread_made;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;                      /* under lock */
	int ntodo;                      /* jobs, under lock */
	struct job todo[UI_SAMPLE_MAX];
	int ndone;                      /* results, under lock */
	struct conn_result done[UI_SAMPLE_MAX];
	int wake[2];                    /* pipe: connector -> loop */
};

/* ---- the connector thread -------------------------------------------------- */

/* Connect, subscribe to every event, ask status and (if the device has a
 * tracker) dirty. Runs on the connector thread. */
static void connect_one(const char *run_dir, struct conn_result *r)
{
	json_t *ret = NULL;
	char err[256];
	int rc;

	rc = ctl_client_open(&r->cli, run_dir, r->job.name, UI_SAMPLE_CALL_MS, err, sizeof(err));
	r->rc = rc;
	if (rc) {
		r->cli = NULL;
		snprintf(r->why, sizeof(r->why), "%s", rc == -ENOENT ? "no such instance" :
			 rc == -ECONNREFUSED ? "stale socket" : rc == -ETIMEDOUT ? "not answering"
			 : err);
		return;
	}
	rc = ctl_client_call(r->cli, "subscribe", NULL, &ret, err, sizeof(err), UI_SAMPLE_CALL_MS);
	json_decref(ret);
	if (!rc)
		rc = ctl_client_call(r->cli, "status", NULL, &r->status, err, sizeof(err),
				     UI_SAMPLE_CALL_MS);
	if (rc) {
		r->rc = rc;
		snprintf(r->why, sizeof(r->why), "%s", rc == -ETIMEDOUT ? "not answering" : err);
		ctl_client_close(r->cli);
		r->cli = NULL;
		return;
	}
	/* CommandNotFound on a device without a tracker: fine, no figures */
	if (ctl_client_call(r->cli, "dirty", NULL, &r->dirty, err, sizeof(err),
			    UI_SAMPLE_CALL_MS)) {
		json_decref(r->dirty);
		r->dirty = NULL;
	}
}

/* track-start or track-stop on a connection of its own; the reply (the
 * tracker's configuration: "active", "users") goes to r->dirty. Runs on the
 * connector thread, and in ui_sample_close once that thread is gone. */
static void track_one(const char *run_dir, struct conn_result *r)
{
	const char *cmd = r->job.kind == JOB_TRACK_START ? "track-start" : "track-stop";
	struct ctl_client *c = NULL;
	char err[256];

	r->rc = ctl_client_open(&c, run_dir, r->job.name, UI_SAMPLE_CALL_MS, err, sizeof(err));
	if (!r->rc)
		r->rc = ctl_client_call(c, cmd, NULL, &r->dirty, err, sizeof(err),
					UI_SAMPLE_CALL_MS);
	if (r->rc)
		snprintf(r->why, sizeof(r->why), "%s %s: %s", cmd, r->job.name,
			 r->rc == -ETIMEDOUT ? "not answering" : err);
	ctl_client_close(c);
}

static void *connector(void *arg)
{
	struct ui_sampler *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct conn_result r = { 0 };
		char one = 1;

		while (!s->stop && !s->ntodo)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->stop)
			break;
		r.job = s->todo[0];
		memmove(&s->todo[0], &s->todo[1], sizeof(s->todo[0]) * (size_t)--s->ntodo);
		pthread_mutex_unlock(&s->lock);
		if (r.job.kind == JOB_CONNECT)
			connect_one(s->run_dir, &r);
		else
			track_one(s->run_dir, &r);
		pthread_mutex_lock(&s->lock);
		s->done[s->ndone++] = r;      /* room: one todo gives one result */
		if (write(s->wake[1], &one, 1) < 0) {
			/* full pipe: the loop wakes anyway */
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- slots -------------------------------------------------------------------- */

static void slot_disconnect(struct ui_slot *sl, const char *why, uint64_t now)
{
	ctl_client_close(sl->cli);
	sl->cli = NULL;
	sl->inst->conn = UI_CONN_GONE;
	snprintf(sl->inst->why, sizeof(sl->inst->why), "%s", why);
	sl->backoff_ns = sl->backoff_ns ? sl->backoff_ns * 2 : RETRY_MIN_NS;
	if (sl->backoff_ns > RETRY_MAX_NS)
		sl->backoff_ns = RETRY_MAX_NS;
	sl->retry_ns = now + sl->backoff_ns;
}

static struct ui_slot *slot_add(struct ui_sampler *s, const char *name, bool named)
{
	struct ui_slot *sl;

	if (s->nslots == UI_SAMPLE_MAX || strlen(name) >= UI_NAME_MAX)
		return NULL;
	sl = &s->slot[s->nslots];
	memset(sl, 0, sizeof(*sl));
	sl->inst = calloc(1, sizeof(*sl->inst));
	if (!sl->inst)
		return NULL;
	snprintf(sl->inst->name, sizeof(sl->inst->name), "%s", name);
	snprintf(sl->inst->state, sizeof(sl->inst->state), "?");
	sl->named = named;
	s->nslots++;
	return sl;
}

static void slot_remove(struct ui_sampler *s, int i)
{
	ctl_client_close(s->slot[i].cli);
	free(s->slot[i].inst);
	memmove(&s->slot[i], &s->slot[i + 1], (size_t)(s->nslots - i - 1) * sizeof(s->slot[0]));
	s->nslots--;
}

static struct ui_slot *slot_find(struct ui_sampler *s, const char *name)
{
	for (int i = 0; i < s->nslots; i++)
		if (!strcmp(s->slot[i].inst->name, name))
			return &s->slot[i];
	return NULL;
}

/* Queue a job for sl with the connector; false when the queue is full. */
static bool slot_job(struct ui_sampler *s, struct ui_slot *sl, enum job_kind kind)
{
	bool ok;

	pthread_mutex_lock(&s->lock);
	ok = s->ntodo < UI_SAMPLE_MAX && s->ntodo + s->ndone < UI_SAMPLE_MAX;
	if (ok) {
		struct job *j = &s->todo[s->ntodo++];

		snprintf(j->name, sizeof(j->name), "%s", sl->inst->name);
		j->kind = kind;
		pthread_cond_signal(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

static void slot_connect(struct ui_sampler *s, struct ui_slot *sl)
{
	if (slot_job(s, sl, JOB_CONNECT))
		sl->connecting = true;
}

static void slot_track(struct ui_sampler *s, struct ui_slot *sl, bool on)
{
	if (slot_job(s, sl, on ? JOB_TRACK_START : JOB_TRACK_STOP))
		sl->inst->track_busy = true;
}

/* A track job's outcome: whose tracking it is now, and a footer line. */
static void track_done(struct ui_sampler *s, struct ui_slot *sl, const struct conn_result *r)
{
	bool start = r->job.kind == JOB_TRACK_START;

	if (!sl)
		return;
	sl->inst->track_busy = false;
	if (r->rc) {
		snprintf(s->msg, sizeof(s->msg), "%s", r->why);
		return;
	}
	sl->inst->track_mine = start;
	sl->inst->tracking = json_is_true(json_object_get(r->dirty, "active"));
	if (sl->inst->tracking)
		sl->dirty_ns = vhm_now_ns();
	snprintf(s->msg, sizeof(s->msg), "%s: tracking %s%s", sl->inst->name,
		 start ? "started (the backend now logs its writes)" : "stopped",
		 !start && sl->inst->tracking ? "; it goes on for its other users" : "");
}

/* A connection is back: a device that restarted (another pid) no longer
 * holds our track-start. */
static void slot_connected(struct ui_slot *sl, struct conn_result *r)
{
	long pid = sl->inst->pid;

	sl->connecting = false;
	sl->cli = r->cli;
	r->cli = NULL;
	ui_inst_apply_status(sl->inst, r->status);
	if (r->dirty)
		ui_inst_apply_dirty(sl->inst, r->dirty);
	if (sl->inst->track_mine && pid != sl->inst->pid)
		sl->inst->track_mine = false;
	if (sl->inst->tracking)
		sl->dirty_ns = vhm_now_ns();
	sl->inst->conn = UI_CONN_LIVE;
	sl->inst->why[0] = '\0';
	sl->backoff_ns = 0;
	sl->track_tried = false;
}

/* Take what the connector finished. woken: the wake pipe polled readable
 * (empty it; else it is left for the poll that will see it). */
static void collect(struct ui_sampler *s, uint64_t now, bool woken)
{
	struct conn_result done[UI_SAMPLE_MAX];
	char buf[64];
	int n;

	while (woken && read(s->wake[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&s->lock);
	n = s->ndone;
	memcpy(done, s->done, sizeof(done[0]) * (size_t)n);
	s->ndone = 0;
	pthread_mutex_unlock(&s->lock);
	for (int k = 0; k < n; k++) {
		struct conn_result *r = &done[k];
		struct ui_slot *sl = slot_find(s, r->job.name);

		if (r->job.kind != JOB_CONNECT) {
			track_done(s, sl, r);
		} else if (!sl) {               /* dropped meanwhile */
			ctl_client_close(r->cli);
		} else if (!r->cli) {
			sl->connecting = false;
			slot_disconnect(sl, r->why, now);
		} else {
			slot_connected(sl, r);
		}
		json_decref(r->status);
		json_decref(r->dirty);
	}
}

/* ---- API ------------------------------------------------------------------------ */

int ui_sample_open(struct ui_sampler **out, const char *run_dir, char *const names[],
		   int nnames)
{
	struct ui_sampler *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->wake[0] = s->wake[1] = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	snprintf(s->run_dir, sizeof(s->run_dir), "%s", run_dir);
	s->named_only = nnames > 0;
	for (int i = 0; i < nnames; i++)
		if (!slot_find(s, names[i]) && !slot_add(s, names[i], true)) {
			rc = -ENOMEM;
			goto fail;
		}
	if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC)) {
		rc = -errno;
		goto fail;
	}
	rc = -vhm_thread_start(&s->thread, connector, s);
	if (rc)
		goto fail;
	s->thread_made = true;
	*out = s;
	return 0;
fail:
	ui_sample_close(s);
	return rc;
}

/* On the way out: stop the tracking this dashboard started, and only that
 * (one track-stop each: our share of run_track's users). The connector has
 * stopped, so this thread waits itself (UI_SAMPLE_CALL_MS per call). */
static void untrack_all(struct ui_sampler *s)
{
	for (int i = 0; i < s->nslots; i++) {
		struct conn_result r = { .job.kind = JOB_TRACK_STOP };

		if (!s->slot[i].inst->track_mine)
			continue;
		snprintf(r.job.name, sizeof(r.job.name), "%s", s->slot[i].inst->name);
		track_one(s->run_dir, &r);
		if (r.rc)
			fprintf(stderr, "vhm top: %s\n", r.why);
		else
			s->slot[i].inst->track_mine = false;
		json_decref(r.dirty);
	}
}

void ui_sample_close(struct ui_sampler *s)
{
	if (!s)
		return;
	if (s->thread_made) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
		collect(s, vhm_now_ns(), true); /* a track-start that just ended */
	}
	untrack_all(s);
	while (s->nslots)
		slot_remove(s, s->nslots - 1);
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int ui_sample_count(const struct ui_sampler *s)
{
	return s->nslots;
}

const struct ui_inst *ui_sample_inst(const struct ui_sampler *s, int i)
{
	return i >= 0 && i < s->nslots ? s->slot[i].inst : NULL;
}

const char *ui_sample_run_dir(const struct ui_sampler *s)
{
	return s->run_dir;
}

int ui_sample_pollfds(const struct ui_sampler *s, struct pollfd *fds, int max)
{
	if (max < 1)
		return 0;
	fds[0] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
	return 1;
}

/* Everything waiting on sl's connection, without waiting. */
static void slot_drain(struct ui_slot *sl, uint64_t now)
{
	for (int k = 0; sl->cli && k < READ_MAX; k++) {
		json_t *ev = NULL;
		int rc = ctl_client_next_event(sl->cli, &ev, 0);

		if (rc == -ETIMEDOUT)
			return;
		if (rc) {
			slot_disconnect(sl, rc == -ECONNRESET ? "connection closed"
					: "protocol error", now);
			return;
		}
		ui_inst_apply_event(sl->inst, ev);
		if (!strcmp(json_string_value(json_object_get(ev, "event")) ?: "", "dirty"))
			sl->dirty_ns = now;
		json_decref(ev);
	}
}

void ui_sample_drain(struct ui_sampler *s, uint64_t now_ns)
{
	for (int i = 0; i < s->nslots; i++)
		slot_drain(&s->slot[i], now_ns);
}

void ui_sample_read(struct ui_sampler *s, const struct pollfd *fds, int n)
{
	for (int k = 0; k < n; k++)
		if (fds[k].revents && fds[k].fd == s->wake[0])
			collect(s, vhm_now_ns(), true);
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Whether run_dir's entries are those of the last read, from one stat: the
 * same directory, the same mtime, and that mtime old enough that a change
 * made since would have moved it (the kernel stamps with a coarse clock:
 * two changes within one of its ticks can carry the same time). */
static bool dir_unchanged(struct ui_sampler *s)
{
	struct stat st;
	struct timespec now;
	int64_t age_ns;

	if (stat(s->run_dir, &st)) {
		s->dir_st.st_ino = 0;
		return false;
	}
	if (!s->dir_st.st_ino || st.st_ino != s->dir_st.st_ino || st.st_dev != s->dir_st.st_dev ||
	    !same_time(&st.st_mtim, &s->dir_st.st_mtim)) {
		s->dir_st = st;
		return false;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	age_ns = (int64_t)(now.tv_sec - st.st_mtim.tv_sec) * 1000000000 +
		 (now.tv_nsec - st.st_mtim.tv_nsec);
	return age_ns > (int64_t)DIR_SETTLED_NS;
}

/* Sockets in the run dir: new ones get a slot; slots of vanished ones are
 * marked, and dropped after a while unless named. */
static void scan_dir(struct ui_sampler *s, uint64_t now)
{
	bool seen[UI_SAMPLE_MAX] = { false };
	DIR *d = NULL;
	struct dirent *de;

	if (dir_unchanged(s))
		for (int i = 0; i < s->nslots; i++)
			seen[i] = !s->slot[i].vanished_ns;
	else
		d = opendir(s->run_dir);
	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char name[UI_NAME_MAX];
		struct ui_slot *sl;

		if (len <= 5 || len - 5 >= UI_NAME_MAX || strcmp(de->d_name + len - 5, ".sock"))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(len - 5), de->d_name);
		sl = slot_find(s, name);
		if (!sl && !s->named_only)
			sl = slot_add(s, name, false);
		if (sl)
			seen[sl - s->slot] = true;
	}
	if (d)
		closedir(d);
	for (int i = s->nslots - 1; i >= 0; i--) {
		struct ui_slot *sl = &s->slot[i];

		if (seen[i]) {
			sl->vanished_ns = 0;
			continue;
		}
		if (!sl->vanished_ns)
			sl->vanished_ns = now;
		if (!sl->named && !sl->cli && !sl->connecting &&
		    now - sl->vanished_ns > UI_SAMPLE_GONE_KEEP_S * 1000000000ull)
			slot_remove(s, i);
	}
}

/* Tracking bookkeeping at each tick: someone else's tracker that stopped
 * sending "dirty" events has ended (track-stop announces nothing); with
 * --track, a live instance without our share gets a track-start (once per
 * connection, so a refusal is not repeated every tick). */
static void track_due(struct ui_sampler *s, struct ui_slot *sl, uint64_t now)
{
	struct ui_inst *in = sl->inst;

	if (in->tracking && !in->track_mine && !in->track_busy &&
	    now - sl->dirty_ns > TRACK_STALE_NS)
		in->tracking = false;
	if (s->track_all && sl->cli && !in->track_mine && !in->track_busy && !sl->track_tried) {
		sl->track_tried = true;
		slot_track(s, sl, true);
	}
}

void ui_sample_tick(struct ui_sampler *s, uint64_t now_ns)
{
	collect(s, now_ns, false);
	scan_dir(s, now_ns);
	for (int i = 0; i < s->nslots; i++) {
		struct ui_slot *sl = &s->slot[i];

		if (!sl->cli && !sl->connecting && now_ns >= sl->retry_ns) {
			if (!sl->vanished_ns)
				slot_connect(s, sl);
			else if (sl->inst->conn == UI_CONN_NEW)
				slot_disconnect(sl, "no such instance", now_ns);
			else if (sl->inst->conn == UI_CONN_GONE && strcmp(sl->inst->why,
									  "socket removed"))
				slot_disconnect(sl, "socket removed", now_ns);
		}
		slot_drain(sl, now_ns);
		track_due(s, sl, now_ns);
	}
}

int ui_sample_track(struct ui_sampler *s, const char *name)
{
	struct ui_slot *sl = slot_find(s, name);

	if (!sl)
		return -ENOENT;
	if (sl->inst->conn != UI_CONN_LIVE)
		return -ENOTCONN;
	if (sl->inst->track_busy)
		return -EINPROGRESS;
	slot_track(s, sl, !sl->inst->track_mine);
	return sl->inst->track_busy ? 0 : -EAGAIN;
}

void ui_sample_track_all(struct ui_sampler *s, bool on)
{
	s->track_all = on;
}

bool ui_sample_take_msg(struct ui_sampler *s, char *buf, size_t len)
{
	if (!s->msg[0])
		return false;
	snprintf(buf, len, "%s", s->msg);
	s->msg[0] = '\0';
	return true;
}
