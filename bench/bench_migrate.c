/* SPDX-License-Identifier: MIT */
/* migrate — what a live migration costs, against baselines of the same run:
 *  - pre-copy copy throughput (the first full pass of a 1 GiB guest whose
 *    RAM the writer has filled) vs memcpy of the same bytes into a fresh
 *    memfd mapping, as the destination's memory is (target >= 0.7);
 *  - the control-plane part of downtime with 1 and 4 queue pairs against
 *    testpmd (stopping the source rings, starting the destination's), vs the
 *    target (2 ms and 4 ms): printed as measured / target, <= 1;
 *  - a 1 GiB guest at three dirty rates: total time and downtime, with the
 *    iterations it took.
 * Devices are real `vhm run` instances between two testpmd backends. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "ctl.h"
#include "support.h"
#include "util.h"

#define GUEST "1G"
#define GIB (1024.0 * 1024.0 * 1024.0)

/* memcpy of `bytes`, page by page, from filled memory into a destination,
 * best of three, GiB/s. fresh: a new memfd mapping each time, as the
 * migration's destination memory is (its pages are allocated as they are
 * first written); otherwise a buffer already resident (copying at its
 * cheapest). */
static double memcpy_gibps(size_t bytes, bool fresh)
{
	char *src = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *dst = NULL;
	double best = 0;

	if (src == MAP_FAILED)
		return 0;
	memset(src, 0x5a, bytes);
	for (int i = 0; i < 3; i++) {
		uint64_t t0;
		double v;

		if (!dst || fresh) {
			int fd = memfd_create("bench-dst", MFD_CLOEXEC);

			if (dst)
				munmap(dst, bytes);
			if (fd < 0 || ftruncate(fd, (off_t)bytes))
				break;
			dst = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			close(fd);
			if (dst == MAP_FAILED)
				break;
			if (!fresh)
				memset(dst, 0, bytes);
		}
		t0 = vhm_now_ns();
		for (size_t off = 0; off < bytes; off += 4096)
			memcpy(dst + off, src + off, 4096);
		v = (double)bytes / ((double)(vhm_now_ns() - t0) / 1e9) / GIB;
		best = v > best ? v : best;
	}
	if (dst && dst != MAP_FAILED)
		munmap(dst, bytes);
	munmap(src, bytes);
	return best;
}

static pid_t run_device(const char *sock, const char *name, const char *queues,
			const char *mem, const char *dirty)
{
	char bin[256], ctl[TS_PATH_MAX + 16];
	const char *argv[] = { bin, "run", "--backend", sock, "--name", name, "--queues", queues,
			       "--mem", mem, "--traffic", "20000", "--dirty", dirty, "--run-dir",
			       ts_dir(), "--quiet", NULL };
	pid_t pid;

	ts_bin("vhm", bin, sizeof(bin));
	pid = ts_spawn(argv, NULL);
	snprintf(ctl, sizeof(ctl), "%s/%s.sock", ts_dir(), name);
	if (pid < 0 || ts_wait_socket(ctl, 10000))
		return -1;
	return pid;
}


/* Migrate with these arguments (stolen) and wait for the report (new
 * reference), NULL on failure. */
static json_t *migrate_with(struct ctl_client *c, json_t *args)
{
	json_t *ev;

	if (bench_call(c, "subscribe", json_pack("{s:[s]}", "events", "migration"), NULL) ||
	    bench_call(c, "migrate", args, NULL))
		return NULL;
	while (ctl_client_next_event(c, &ev, 120000) == 0) {
		json_t *data = json_object_get(ev, "data");
		const char *phase = json_string_value(json_object_get(data, "phase"));

		if (phase && (!strcmp(phase, "done") || !strcmp(phase, "failed") ||
				  !strcmp(phase, "cancelled"))) {
			json_t *rep = strcmp(phase, "done") ? NULL : json_incref(data);

			if (!rep)
				fprintf(stderr, "bench migrate: %s\n",
					json_string_value(json_object_get(data, "error")));
			json_decref(ev);
			return rep;
		}
		json_decref(ev);
	}
	return NULL;
}

static json_t *migrate(struct ctl_client *c, const char *to)
{
	return migrate_with(c, json_pack("{s:s}", "to", to));
}

static double num(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);

	return json_number_value(b ? json_object_get(v, b) : v);
}

/* A device running on a backend, and the bench's control connection to it. */
struct bench_dev {
	pid_t pid;
	struct ctl_client *c;
};

/* `vhm run` NAME on backend a, connected; 0, or -1 with a line on stderr (and
 * what did start is for dev_down()). */
static int dev_up(struct bench_dev *d, const char *name, const char *a, const char *queues,
		  const char *dirty)
{
	char err[256];

	d->c = NULL;
	d->pid = run_device(a, name, queues, GUEST, dirty);
	if (d->pid < 0) {
		fprintf(stderr, "bench migrate: %s: vhm run did not start on %s\n", name, a);
		return -1;
	}
	if (ctl_client_open(&d->c, ts_dir(), name, 30000, err, sizeof(err))) {
		fprintf(stderr, "bench migrate: %s: %s\n", name, err);
		return -1;
	}
	return 0;
}

static void dev_down(struct bench_dev *d)
{
	if (d->c)
		ctl_client_close(d->c);
	if (d->pid > 0)
		ts_kill(d->pid);
}

/* One device on a, migrated to b; the report, or NULL. */
static json_t *one_migration(const char *name, const char *queues, const char *dirty,
			     const char *prefill, const char *a, const char *b)
{
	struct bench_dev d;
	json_t *rep = NULL;

	if (dev_up(&d, name, a, queues, prefill ? prefill : dirty))
		goto out;
	if (prefill) {          /* fill guest RAM so that the full copy moves data */
		sleep(3);
		bench_call(d.c, "set-dirty", json_pack("{s:I}", "rate", (json_int_t)atoll(dirty)),
			   NULL);
	}
	sleep(1);
	rep = migrate(d.c, b);
out:
	dev_down(&d);
	return rep;
}

#define PREDICT_BANDWIDTH (256ull << 20)   /* bytes/s: the cap both model and migration use */

/* A 1 GiB guest dirtying `rate` uniform pages/s, tracked for a few seconds so
 * that logtrack has a working-set curve, then migrated under a bandwidth cap:
 * the report carries the prediction made before it started. */
static json_t *predicted_migration(const char *name, const char *rate, const char *a,
				   const char *b)
{
	struct bench_dev d;
	json_t *rep = NULL;

	if (dev_up(&d, name, a, "1", "400000"))
		goto out;
	sleep(3);     /* fill RAM so that the first pass moves data */
	if (bench_call(d.c, "set-dirty", json_pack("{s:I, s:s}", "rate", (json_int_t)atoll(rate),
					     "pattern", "uniform"), NULL) ||
	    bench_call(d.c, "track-start", json_pack("{s:i}", "interval_ms", 200), NULL))
		goto out;
	sleep(5);     /* working-set windows up to a few seconds */
	rep = migrate_with(d.c, json_pack("{s:s, s:I, s:i, s:i}", "to", b, "bandwidth",
					  (json_int_t)PREDICT_BANDWIDTH, "downtime_ms", 50,
					  "max_iterations", 30));
out:
	dev_down(&d);
	return rep;
}

/* When a case misses: the migration's rounds beside the model's inputs, so
 * that the cause can be read off (which round, which part of the curve). */
static void print_prediction_detail(const json_t *rep)
{
	const json_t *p = json_object_get(rep, "prediction"), *in = json_object_get(p, "inputs");
	const json_t *v;
	size_t i;

	printf("    outcome: converged %d, last_pages %.0f, zero_pages %.0f, bandwidth %.1f MiB/s,"
	       " quiesce %.1f ms, downtime: stop %.1f, copy %.1f, control %.1f, verify %.1f ms\n",
	       json_is_true(json_object_get(rep, "converged")), num(rep, "last_pages", NULL),
	       num(rep, "zero_pages", NULL), num(rep, "bandwidth_mib_s", NULL),
	       num(rep, "quiesce_ms", NULL), num(rep, "downtime", "stop_ms"),
	       num(rep, "downtime", "copy_ms"), num(rep, "downtime", "control_ms"),
	       num(rep, "downtime", "verify_ms"));
	json_array_foreach(json_object_get(rep, "iterations"), i, v)
		printf("    round %2zu: dirtied %7.0f copied %7.0f in %8.1f ms\n", i,
		       num(v, "dirtied", NULL), num(v, "copied", NULL), num(v, "ms", NULL));
	if (!p)
		return;
	printf("    model: total_pages %.0f, bandwidth %.0f B/s, limit %.0f ms, max_rounds %.0f;"
	       " final_pages %.0f, precopy %.1f ms\n", num(in, "total_pages", NULL),
	       num(in, "bandwidth", NULL), num(in, "downtime_ms", NULL),
	       num(in, "max_rounds", NULL), num(p, "final_pages", NULL),
	       num(p, "precopy_ms", NULL));
	json_array_foreach(json_object_get(in, "wss"), i, v)
		printf("    wss(%6.0f ms) = %8.0f pages, over %7.1f ms\n", num(v, "window_ms", NULL),
		       num(v, "pages", NULL), num(v, "span_ms", NULL));
	fflush(stdout);
}

static void print_prediction(const char *rate, const json_t *rep)
{
	const json_t *p = json_object_get(rep, "prediction");
	double dt = num(rep, "downtime", "transfer_ms"), pdt = num(p, "downtime_ms", NULL);
	double ratio = pdt > 0 ? dt / pdt : 0;

	printf("1 GiB, dirty %6s pages/s at 256 MiB/s: total %7.0f ms (predicted %7.0f), "
	       "downtime %5.1f ms (predicted %5.1f; +%.0f ms digest check), rounds %zu "
	       "(predicted %d), ratio %.2f %s\n", rate, num(rep, "total_ms", NULL),
	       num(p, "total_ms", NULL), dt, pdt, num(rep, "downtime", "verify_ms"),
	       json_array_size(json_object_get(rep, "iterations")),
	       (int)json_integer_value(json_object_get(p, "rounds")), ratio,
	       !p ? "(no prediction)" : ratio >= 0.8 && ratio <= 1.2 ? "within 20 %" :
	       "MISSED (target within 20 %)");
	fflush(stdout);
	if (!(ratio >= 0.8 && ratio <= 1.2) || getenv("VHM_BENCH_DETAIL"))
		print_prediction_detail(rep);
}

int bench_migrate(void)
{
	static const char *const rates[] = { "2000", "10000", "40000" };
	char a[TS_PATH_MAX], b[TS_PATH_MAX], reason[256];
	json_t *rep;
	int rc = 0;

	if (ts_testpmd_start_named("bench-a", 4, a, sizeof(a), reason, sizeof(reason)) < 0 ||
	    ts_testpmd_start_named("bench-b", 4, b, sizeof(b), reason, sizeof(reason)) < 0) {
		printf("migrate: skipped: %s\n", reason);
		ts_cleanup();
		return 0;
	}
	/* VHM_BENCH_PREDICT_ONLY: only the prediction cases (diagnosing the model) */
	if (getenv("VHM_BENCH_PREDICT_ONLY"))
		goto predict;
	/* copy throughput: the writer touches ~all of RAM first */
	rep = one_migration("bm-copy", "1", "0", "400000", a, b);
	if (rep) {
		json_t *it0 = json_array_get(json_object_get(rep, "iterations"), 0);
		double bytes = num(it0, "copied", NULL) * 4096, ms = num(it0, "ms", NULL);

		double vhm = bytes / ms * 1000.0 / GIB, resident;

		bench_report("pre-copy vs memcpy to fresh memory", "GiB/s", vhm,
			     memcpy_gibps((size_t)bytes, true), ">=", 0.7);
		resident = memcpy_gibps((size_t)bytes, false);
		printf("%-34s vhm %12.3f GiB/s  memcpy %9.3f GiB/s  ratio %6.3f (for information)\n",
		       "pre-copy vs memcpy, resident", vhm, resident, resident > 0 ? vhm / resident : 0);
		json_decref(rep);
	} else {
		rc = -1;
	}
	for (int q = 1; q <= 4; q += 3) {
		char name[48], qs[4];

		snprintf(name, sizeof(name), "bm-ctl%d", q);
		snprintf(qs, sizeof(qs), "%d", q);
		rep = one_migration(name, qs, "1000", NULL, q == 1 ? b : a, q == 1 ? a : b);
		if (!rep) {
			rc = -1;
			continue;
		}
		snprintf(name, sizeof(name), "downtime control, %d queue%s", q, q > 1 ? "s" : "");
		bench_report(name, "ms", num(rep, "downtime", "control_ms"), q == 1 ? 2.0 : 4.0,
			     "<=", 1.0);
		json_decref(rep);
	}
predict:
	for (size_t i = 0; i < VHM_ARRAY_SIZE(rates); i++) {
		char name[16];

		snprintf(name, sizeof(name), "bm-rate%zu", i);
		rep = predicted_migration(name, rates[i], i % 2 ? b : a, i % 2 ? a : b);
		if (!rep) {
			rc = -1;
			continue;
		}
		print_prediction(rates[i], rep);
		json_decref(rep);
	}
	ts_cleanup();
	return rc;
}
