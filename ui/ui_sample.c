/* SPDX-License-Identifier: MIT */
/* The dashboard's sampler: the control connections that feed the model. One slot per instance: the model's ui_inst
 * and, beside it, the connection that feeds it.
 *
 * Connecting is the one thing that waits (connect, greeting, subscribe,
 * status, dirty: up to UI_SAMPLE_CALL_MS each), so a connector thread does
 * it: the loop queues names, the thread hands back a subscribed client (or
 * the reason it failed) and wakes the loop through a pipe. A client belongs
 * to the thread until it is handed back, to the loop after; the queue and
 * the results are the only shared state (under `lock`). */
#include "ui_sample.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

#define RETRY_MIN_NS   1000000000ull
#define RETRY_MAX_NS   8000000000ull
#define READ_MAX       10000          /* events read per connection per call */

struct ui_slot {
	struct ui_inst *inst;           /* owned */
	struct ctl_client *cli;         /* NULL when not connected */
	bool connecting;                /* queued for, or in, the connector */
	uint64_t retry_ns;              /* next connection attempt */
	uint64_t backoff_ns;
	uint64_t vanished_ns;           /* socket gone since (0: present) */
	bool named;                     /* given on the command line */
};

/* What the connector hands back. */
struct conn_result {
	char name[UI_NAME_MAX];
	struct ctl_client *cli;         /* NULL: failed, see why */
	json_t *status, *dirty;         /* replies (dirty may be NULL) */
	char why[96];
};

struct ui_sampler {
	char run_dir[4096];
	bool named_only;                /* names were given: the dir adds none */
	int nslots;
	struct ui_slot slot[UI_SAMPLE_MAX];

	pthread_t thread;
	bool thread_made;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;                      /* under lock */
	int ntodo;                      /* names to connect, under lock */
	char todo[UI_SAMPLE_MAX][UI_NAME_MAX];
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

	rc = ctl_client_open(&r->cli, run_dir, r->name, UI_SAMPLE_CALL_MS, err, sizeof(err));
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
		snprintf(r.name, sizeof(r.name), "%s", s->todo[0]);
		memmove(s->todo[0], s->todo[1], sizeof(s->todo[0]) * (size_t)--s->ntodo);
		pthread_mutex_unlock(&s->lock);
		connect_one(s->run_dir, &r);
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

/* Queue sl for the connector. */
static void slot_connect(struct ui_sampler *s, struct ui_slot *sl)
{
	pthread_mutex_lock(&s->lock);
	if (s->ntodo < UI_SAMPLE_MAX && s->ntodo + s->ndone < UI_SAMPLE_MAX) {
		snprintf(s->todo[s->ntodo++], UI_NAME_MAX, "%s", sl->inst->name);
		sl->connecting = true;
		pthread_cond_signal(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Take what the connector finished. */
static void collect(struct ui_sampler *s, uint64_t now)
{
	struct conn_result done[UI_SAMPLE_MAX];
	char buf[64];
	int n;

	while (read(s->wake[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&s->lock);
	n = s->ndone;
	memcpy(done, s->done, sizeof(done[0]) * (size_t)n);
	s->ndone = 0;
	pthread_mutex_unlock(&s->lock);
	for (int k = 0; k < n; k++) {
		struct conn_result *r = &done[k];
		struct ui_slot *sl = slot_find(s, r->name);

		if (!sl) {                      /* dropped meanwhile */
			ctl_client_close(r->cli);
		} else if (!r->cli) {
			sl->connecting = false;
			slot_disconnect(sl, r->why, now);
		} else {
			sl->connecting = false;
			sl->cli = r->cli;
			ui_inst_apply_status(sl->inst, r->status);
			if (r->dirty)
				ui_inst_apply_dirty(sl->inst, r->dirty);
			sl->inst->conn = UI_CONN_LIVE;
			sl->inst->why[0] = '\0';
			sl->backoff_ns = 0;
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
	}
	for (int k = 0; k < s->ndone; k++) {
		ctl_client_close(s->done[k].cli);
		json_decref(s->done[k].status);
		json_decref(s->done[k].dirty);
	}
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
	int n = 0;

	if (n < max)
		fds[n++] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
	for (int i = 0; i < s->nslots && n < max; i++)
		if (s->slot[i].cli)
			fds[n++] = (struct pollfd){ .fd = ctl_client_fd(s->slot[i].cli),
						    .events = POLLIN };
	return n;
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
		json_decref(ev);
	}
}

void ui_sample_read(struct ui_sampler *s, const struct pollfd *fds, int n)
{
	uint64_t now = vhm_now_ns();

	for (int k = 0; k < n; k++) {
		if (!fds[k].revents)
			continue;
		if (fds[k].fd == s->wake[0]) {
			collect(s, now);
			continue;
		}
		for (int i = 0; i < s->nslots; i++)
			if (s->slot[i].cli && ctl_client_fd(s->slot[i].cli) == fds[k].fd) {
				slot_drain(&s->slot[i], now);
				break;
			}
	}
}

/* Sockets in the run dir: new ones get a slot; slots of vanished ones are
 * marked, and dropped after a while unless named. */
static void scan_dir(struct ui_sampler *s, uint64_t now)
{
	bool seen[UI_SAMPLE_MAX] = { false };
	DIR *d = opendir(s->run_dir);
	struct dirent *de;

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

void ui_sample_tick(struct ui_sampler *s, uint64_t now_ns)
{
	collect(s, now_ns);
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
	}
}
