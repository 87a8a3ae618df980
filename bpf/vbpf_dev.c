/* SPDX-License-Identifier: MIT */
/* The backend's probes inside `vhm run` (--trace-backend): loaded on their
 * own thread, read as the device's "bpf" object. Sampling is vbpf_read(); this file only turns
 * samples into the device's "bpf" object. */
#include "vbpf_dev.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vbpf.h"
#include "vbpf_json.h"

enum { DEV_LOADING, DEV_READY, DEV_FAILED };

struct vbpf_dev {
	pthread_t loader;
	bool loader_started;
	int pid;
	unsigned probes;
	char name[64];                /* the device's, for the stderr line */
	int state;                    /* DEV_*; the loader publishes with release */
	struct vbpf *v;               /* set before DEV_READY */
	char error[256];              /* set before DEV_FAILED, or on a read error */
	uint64_t open_ns, prev_ns;    /* prev: the last sample with rates */
	struct vbpf_counters prev;
};

static void fail(struct vbpf_dev *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct vbpf_dev *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->error, sizeof(t->error), fmt, ap);
	va_end(ap);
}

/* Open the probes; 0 or -errno with t->error set. */
static int load(struct vbpf_dev *t)
{
	char why[200] = "";
	int err;

	if (t->pid < 0) {
		fail(t, "finding the backend's pid (SO_PEERCRED): %s", strerror(-t->pid));
		return t->pid;
	}
	err = vbpf_open(&t->v, t->pid, t->probes,
			&(struct vbpf_opts){ .why = why, .why_len = sizeof(why) });
	switch (err) {
	case 0:
		break;
	case -EPERM:
		fail(t, "loading BPF needs root, or CAP_BPF and CAP_PERFMON");
		return err;
	case -ESRCH:
		fail(t, "backend pid %d: no such process", t->pid);
		return err;
	case -ENOENT:
		fail(t, "no probe could attach to pid %d: %s", t->pid, why);
		return err;
	default:
		fail(t, "loading BPF probes for pid %d: %s", t->pid, strerror(-err));
		return err;
	}
	err = vbpf_read(t->v, &t->prev);
	if (err) {
		vbpf_close(t->v);
		t->v = NULL;
		fail(t, "reading BPF counters: %s", strerror(-err));
		return err;
	}
	t->open_ns = t->prev_ns = vhm_now_ns();
	return 0;
}

/* Loading takes 0.1 s to seconds (BTF, verifier, uprobe registration): off
 * the device's control loop, which keeps answering meanwhile. */
static void *loader_main(void *arg)
{
	struct vbpf_dev *t = arg;
	int rc = load(t);

	if (rc)
		fprintf(stderr, "vhm run %s: not tracing the backend: %s\n", t->name, t->error);
	__atomic_store_n(&t->state, rc ? DEV_FAILED : DEV_READY, __ATOMIC_RELEASE);
	return NULL;
}

int vbpf_dev_open(struct vbpf_dev **out, int pid, unsigned probes, const char *name)
{
	struct vbpf_dev *t = calloc(1, sizeof(*t));
	int err;

	*out = t;
	if (!t)
		return -ENOMEM;
	t->pid = pid;
	t->probes = probes;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->state = DEV_LOADING;
	err = -vhm_thread_start(&t->loader, loader_main, t);
	if (err) {
		fail(t, "starting the BPF loader thread: %s", strerror(-err));
		fprintf(stderr, "vhm run %s: not tracing the backend: %s\n", t->name, t->error);
		t->state = DEV_FAILED;
		return err;
	}
	t->loader_started = true;
	return 0;
}

const char *vbpf_dev_error(const struct vbpf_dev *t)
{
	return __atomic_load_n(&t->state, __ATOMIC_ACQUIRE) == DEV_FAILED ? t->error : NULL;
}

static json_t *error_json(const struct vbpf_dev *t)
{
	return json_pack("{s:s}", "error", t->error);
}

json_t *vbpf_dev_json(struct vbpf_dev *t, bool rates)
{
	const struct vbpf *v;
	struct vbpf_counters c;
	json_t *o, *probes;
	uint64_t now;
	double dt = 0;
	int err;

	switch (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE)) {
	case DEV_LOADING:
		return json_pack("{s:i, s:b}", "pid", t->pid, "loading", true);
	case DEV_FAILED:
		return error_json(t);
	}
	v = t->v;
	err = vbpf_read(t->v, &c);
	if (err) {
		fail(t, "reading BPF counters: %s", strerror(-err));
		return json_pack("{s:s, s:i}", "error", t->error, "pid", (int)vbpf_pid(v));
	}
	now = vhm_now_ns();
	if (rates)
		dt = (double)(now - t->prev_ns) / 1e9;
	probes = json_object();
	for (int i = 0; i < VBPF_NPROBES; i++)
		if (vbpf_attached(v, i))
			json_object_set_new(probes, vbpf_probe_name(i),
					    json_string(vbpf_variant(v, i)));
	o = json_pack("{s:i, s:f, s:o}", "pid", (int)vbpf_pid(v), "since_s",
		      (double)(now - t->open_ns) / 1e9, "probes", probes);
	if (rates)
		json_object_set_new(o, "interval_s", json_real(dt));
	vbpf_json_probes(o, v, &c, &t->prev, dt, VBPF_JSON_TOTALS);
	if (rates) {
		t->prev = c;
		t->prev_ns = now;
	}
	return o;
}

void vbpf_dev_close(struct vbpf_dev *t)
{
	if (!t)
		return;
	if (t->loader_started)
		pthread_join(t->loader, NULL);
	vbpf_close(t->v);
	free(t);
}
