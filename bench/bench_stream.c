/* SPDX-License-Identifier: MIT */
/* vhm-bench stream: the migration stream's pre-copy throughput over
 * loopback with 4 connections vs 1 (`vhm migrate --to tcp:... --connections
 * N`), the same run. Each sample is a fresh `vhm run` on a vhm-testbe
 * (no busy-polling) whose 512 MiB guest the writer filled first, migrated
 * to a fresh `vhm run --incoming` on another vhm-testbe; the first pass's
 * bytes over its time is the throughput (it moves the whole filled
 * memory). 1 and 4 alternate, 3 samples each; medians. Information, not a
 * target: whether more sender threads help depends on the cores free (on a
 * loaded 2-core machine they compete with the receivers and the guest). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "ctl.h"
#include "support.h"
#include "util.h"

#define STREAM_SAMPLES 3
#define STREAM_MEM     "512M"

static const char *const loopback[] = { "--loopback", NULL };

/* vhm-testbe at <ts_dir>/NAME.sock; 0 or -1. */
static int testbe(const char *name, char *sock, size_t len)
{
	char file[64];

	snprintf(file, sizeof(file), "%s.sock", name);
	if (ts_path(file, sock, len) || ts_testbe_start(sock, loopback) <= 0) {
		fprintf(stderr, "bench stream: vhm-testbe %s did not start\n", name);
		return -1;
	}
	return 0;
}

/* `vhm run --incoming tcp:127.0.0.1:0` NAME on backend b: its pid and its
 * stream address into to; -1 when it did not come up. */
static pid_t incoming(const char *name, const char *b, char *to, size_t len)
{
	char bin[256], log[TS_PATH_MAX + 16], ctl[TS_PATH_MAX + 16], err[256] = "no control socket";
	const char *argv[] = { bin, "run", "--incoming", "tcp:127.0.0.1:0", "--backend", b,
			       "--name", name, "--run-dir", ts_dir(), "--quiet", NULL };
	struct ctl_client *c;
	json_t *st = NULL;
	pid_t pid;

	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/%s.log", ts_dir(), name);
	snprintf(ctl, sizeof(ctl), "%s/%s.sock", ts_dir(), name);
	pid = ts_spawn(argv, log);
	if (pid < 0 || ts_wait_socket(ctl, 30000) ||
	    ctl_client_open(&c, ts_dir(), name, 30000, err, sizeof(err))) {
		fprintf(stderr, "bench stream: %s did not start: %s (log %s)\n", name,
			pid < 0 ? "cannot spawn" : err, log);
		return -1;
	}
	if (!bench_call(c, "status", NULL, &st))
		snprintf(to, len, "tcp:%s", json_string_value(json_object_get(
			json_object_get(st, "incoming"), "listen")) ?: "?");
	json_decref(st);
	ctl_client_close(c);
	return st ? pid : -1;
}

/* One migration over conns connections: the first pass's MiB/s, or 0. */
static double one_sample(int k, int conns)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], to[96], an[32], bn[32], src[32], dst[32];
	struct bench_dev d = { .pid = -1 };
	json_t *rep = NULL, *it0;
	double mib_s = 0;
	pid_t in = -1;

	snprintf(an, sizeof(an), "bs-a%d-%d", k, conns);
	snprintf(bn, sizeof(bn), "bs-b%d-%d", k, conns);
	snprintf(src, sizeof(src), "bs-s%d-%d", k, conns);
	snprintf(dst, sizeof(dst), "bs-d%d-%d", k, conns);
	if (testbe(an, a, sizeof(a)) || testbe(bn, b, sizeof(b)) ||
	    bench_dev_up(&d, src, a, "1", STREAM_MEM, "400000"))
		goto out;
	sleep(2);                  /* the writer fills guest RAM */
	bench_call(d.c, "set-dirty", json_pack("{s:i}", "rate", 100), NULL);
	if ((in = incoming(dst, b, to, sizeof(to))) < 0)
		goto out;
	rep = bench_migrate_with(d.c, json_pack("{s:s, s:i}", "to", to, "connections", conns),
				 NULL, NULL);
	it0 = json_array_get(json_object_get(rep, "iterations"), 0);
	if (rep && bench_num(it0, "ms", NULL) > 0)
		mib_s = bench_num(it0, "copied", NULL) * 4096 / 1048576.0 /
			(bench_num(it0, "ms", NULL) / 1000.0);
	printf("    sample %d, %d connection%s: %.1f MiB/s (%.0f pages in %.0f ms)\n", k + 1,
	       conns, conns > 1 ? "s" : "", mib_s, bench_num(it0, "copied", NULL),
	       bench_num(it0, "ms", NULL));
out:
	json_decref(rep);
	bench_dev_down(&d);
	if (in > 0)
		ts_kill(in);
	return mib_s;
}

int bench_stream(void)
{
	double one[STREAM_SAMPLES], four[STREAM_SAMPLES], m1, m4;

	for (int k = 0; k < STREAM_SAMPLES; k++) {
		one[k] = one_sample(k, 1);
		four[k] = one_sample(k, 4);
	}
	m1 = vhm_median(one, STREAM_SAMPLES);
	m4 = vhm_median(four, STREAM_SAMPLES);
	ts_cleanup();
	if (!m1 || !m4) {
		bench_missed("stream pre-copy, 4 connections vs 1", "a migration failed");
		return -1;
	}
	printf("%-40s vhm %9.1f MiB/s  1 connection %9.1f MiB/s  ratio %6.2f (information)\n",
	       "stream pre-copy, 4 connections vs 1", m4, m1, m4 / m1);
	return 0;
}
