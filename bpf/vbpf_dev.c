/* SPDX-License-Identifier: MIT */
/* vbpf_dev — see vbpf_dev.h. Sampling is vbpf_read(); this file only turns
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

/* Cumulative latency histogram of both directions: the upper bound in µs of
 * the slot below which a fraction q of the calls lie; 0 if no call. */
static uint64_t lat_quantile_us(const struct vbpf_counters *c, double q)
{
	uint64_t total = 0, seen = 0;

	for (unsigned s = 0; s < VBPF_HIST_SLOTS; s++)
		total += c->ctl_hist[VBPF_SEND][s] + c->ctl_hist[VBPF_RECV][s];
	if (!total)
		return 0;
	for (unsigned s = 0; s < VBPF_HIST_SLOTS; s++) {
		seen += c->ctl_hist[VBPF_SEND][s] + c->ctl_hist[VBPF_RECV][s];
		if (seen >= q * (double)total)
			return vbpf_hist_slot_us(s + 1);
	}
	return vbpf_hist_slot_us(VBPF_HIST_SLOTS);
}

/* Add "<key>_per_s" = (now - prev) / dt to o, when dt is set. */
static void add_rate(json_t *o, const char *key, uint64_t now, uint64_t prev, double dt)
{
	char name[64];

	if (dt <= 0)
		return;
	snprintf(name, sizeof(name), "%s_per_s", key);
	json_object_set_new(o, name, json_real((double)(now - prev) / dt));
}

json_t *vbpf_dev_json(struct vbpf_dev *t, bool rates)
{
	const struct vbpf *v;
	struct vbpf_counters c;
	const struct vbpf_counters *p = &t->prev;
	json_t *o, *probes, *x;
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
	if (vbpf_attached(v, VBPF_PROBE_CTL)) {
		x = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			      "send", (json_int_t)c.ctl_msgs[VBPF_SEND],
			      "recv", (json_int_t)c.ctl_msgs[VBPF_RECV],
			      "errors", (json_int_t)(c.ctl_errors[VBPF_SEND] + c.ctl_errors[VBPF_RECV]),
			      "send_bytes", (json_int_t)c.ctl_bytes[VBPF_SEND],
			      "recv_bytes", (json_int_t)c.ctl_bytes[VBPF_RECV],
			      "lat_p50_us", (json_int_t)lat_quantile_us(&c, 0.5),
			      "lat_max_us", (json_int_t)lat_quantile_us(&c, 1.0));
		add_rate(x, "send", c.ctl_msgs[VBPF_SEND], p->ctl_msgs[VBPF_SEND], dt);
		add_rate(x, "recv", c.ctl_msgs[VBPF_RECV], p->ctl_msgs[VBPF_RECV], dt);
		json_object_set_new(o, "ctl", x);
	}
	if (vbpf_attached(v, VBPF_PROBE_KICK)) {
		x = json_pack("{s:I, s:I}", "writes", (json_int_t)c.evfd_writes,
			      "reads", (json_int_t)c.evfd_reads);
		add_rate(x, "writes", c.evfd_writes, p->evfd_writes, dt);
		add_rate(x, "reads", c.evfd_reads, p->evfd_reads, dt);
		json_object_set_new(o, "kick", x);
	}
	if (vbpf_attached(v, VBPF_PROBE_PF)) {
		x = json_pack("{s:I, s:I, s:I}", "faults", (json_int_t)c.pf_faults,
			      "first_touch", (json_int_t)c.pf_first_touch,
			      "table_full", (json_int_t)c.pf_table_full);
		add_rate(x, "first_touch", c.pf_first_touch, p->pf_first_touch, dt);
		json_object_set_new(o, "pf", x);
	}
	if (vbpf_attached(v, VBPF_PROBE_KVM)) {
		x = json_pack("{s:I}", "dirty_pages", (json_int_t)c.kvm_dirty);
		add_rate(x, "dirty_pages", c.kvm_dirty, p->kvm_dirty, dt);
		json_object_set_new(o, "kvm", x);
	}
	if (vbpf_attached(v, VBPF_PROBE_UPROBE)) {
		json_t *arr = json_array();

		for (size_t i = 0; i < vbpf_uprobe_count(v); i++) {
			if (!vbpf_uprobe_attached(v, i))
				continue;
			x = json_pack("{s:s, s:I}", "symbol", vbpf_uprobe_name(v, i),
				      "calls", (json_int_t)c.up_calls[i]);
			add_rate(x, "calls", c.up_calls[i], p->up_calls[i], dt);
			if (vbpf_uprobe_counts_packets(v, i)) {
				json_object_set_new(x, "packets",
						    json_integer((json_int_t)c.up_ret_sum[i]));
				add_rate(x, "packets", c.up_ret_sum[i], p->up_ret_sum[i], dt);
			}
			json_array_append_new(arr, x);
		}
		json_object_set_new(o, "uprobes", arr);
	}
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
