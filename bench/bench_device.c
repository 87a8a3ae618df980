/* SPDX-License-Identifier: MIT */
/* device — frames/s of a `vhm run` device through DPDK testpmd in io-forward
 * loopback, with 1 and 4 queue pairs, and where the CPU time goes.
 *
 * Saturated (--traffic 10000000, no page writes, split rings), over WINDOWS
 * windows of WINDOW_MS each after a WARMUP_MS warm-up, per window:
 *  - frames/s back: traffic.total.rx_frames over uptime_s, from `status`;
 *  - CPU ns per frame of vhm's datapath thread ("vhm-dp") and of testpmd's
 *    forwarding lcore ("rte-worker-1" in DPDK 22.11), utime + stime from
 *    /proc/PID/task/TID/stat over the frames of the window, and the share of
 *    wall time each spent on a CPU and waiting for one (schedstat);
 *  - vhm's idle fraction: datapath passes that found no work (it then sleeps
 *    20 µs) over all passes, from status' "datapath" object.
 * The medians are printed for information, not as a target: testpmd
 * busy-polls, so its CPU per frame includes its empty polls and grows as vhm
 * gets faster; a ratio of vhm's to it would be met by construction.
 *
 * The target, against the offered rate of the same run: the same device at a
 * fixed 100000 frames/s must get back what it offers (achieved / offered >=
 * 0.99), counted over the whole span. Both programs share the machine with whatever else
 * runs (every testpmd of the tests is pinned to CPU 0): docs/device.md,
 * "Throughput", says how to read the numbers.
 *
 * Needs dpdk-testpmd (package dpdk-dev; its targets "not run" without) and
 * $VHM_BUILD/vhm. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "ctl.h"
#include "support.h"
#include "util.h"

#define WARMUP_MS     2000
#define WINDOWS       5
#define WINDOW_MS     1000
#define FIXED_PPS     100000
#define FIXED_WINDOWS 5
#define VHM_DP_NAME   "vhm-dp"

/* Where one thread's time went so far, in ns. */
struct bd_thread {
	double cpu;                 /* utime + stime (/proc/.../stat, clock ticks) */
	double wait;                /* runnable, waiting for a CPU (schedstat); -1 unknown */
};

/* One reading of everything a window needs. */
struct bd_sample {
	double t_s;                 /* device uptime */
	double rx, tx;              /* test frames back / sent, all queues */
	double polls, idle_polls;   /* datapath loop passes */
	struct bd_thread dp, tp;    /* vhm-dp and testpmd's forwarding lcore */
};

/* Medians over the windows of one measurement (fps_span: frames over the
 * whole span, which frames in flight at the window edges barely disturb). */
struct bd_result {
	double fps, fps_span, tx_span, vhm_ns, tp_ns, vhm_cpu, tp_cpu, vhm_wait, tp_wait, idle;
	double lost;                /* rx_lost at the end (must stay 0) */
};

/* CPU time (utime + stime) of thread tid of pid, and its run-queue wait
 * when the kernel keeps schedstat (else -1), in ns. */
static int thread_times(pid_t pid, pid_t tid, struct bd_thread *t)
{
	char path[64];
	unsigned long long run, wait;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)pid, (int)tid);
	t->wait = -1;
	if ((f = fopen(path, "r"))) {
		if (fscanf(f, "%llu %llu", &run, &wait) == 2)
			t->wait = (double)wait;
		fclose(f);
	}
	return bench_cpu_ns(pid, tid, &t->cpu);
}

/* The thread of pid named names[0], else names[1], ... (NULL-terminated);
 * -ESRCH if there is none. */
static int find_thread(pid_t pid, const char *const names[], pid_t *tid)
{
	char path[64], comm[32];
	struct dirent *e;
	int best = -1;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(dir = opendir(path)))
		return -errno;
	*tid = -1;
	while ((e = readdir(dir)) && best != 0) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fgets(comm, sizeof(comm), f)) {
			comm[strcspn(comm, "\n")] = '\0';
			for (int i = 0; names[i] && (best < 0 || i < best); i++)
				if (!strcmp(comm, names[i])) {
					best = i;
					*tid = atoi(e->d_name);
				}
		}
		fclose(f);
	}
	closedir(dir);
	return *tid < 0 ? -ESRCH : 0;
}


/* What one side of the pair runs: the processes, their hot threads, and the
 * device's control connection. */
struct bd_pair {
	pid_t testpmd, vhm;
	pid_t tp_tid, dp_tid;
	struct ctl_client *ctl;
};

static int take_sample(struct bd_pair *p, struct bd_sample *s, double *lost)
{
	json_t *st = NULL, *tot, *dp;
	int rc;

	if ((rc = thread_times(p->vhm, p->dp_tid, &s->dp)) ||
	    (rc = thread_times(p->testpmd, p->tp_tid, &s->tp)) ||
	    (rc = bench_call(p->ctl, "status", NULL, &st)))
		return rc;
	tot = json_object_get(json_object_get(st, "traffic"), "total");
	dp = json_object_get(st, "datapath");
	if (!json_is_integer(json_object_get(tot, "rx_frames")) ||
	    !json_is_integer(json_object_get(dp, "polls"))) {
		fprintf(stderr, "bench device: status lacks traffic.total or datapath\n");
		json_decref(st);
		return -EPROTO;
	}
	s->t_s = json_number_value(json_object_get(st, "uptime_s"));
	s->rx = (double)json_integer_value(json_object_get(tot, "rx_frames"));
	s->tx = (double)json_integer_value(json_object_get(tot, "tx_frames"));
	s->polls = (double)json_integer_value(json_object_get(dp, "polls"));
	s->idle_polls = (double)json_integer_value(json_object_get(dp, "idle_polls"));
	*lost = (double)json_integer_value(json_object_get(tot, "rx_lost"));
	json_decref(st);
	return 0;
}

/* nwin windows back to back; medians of each figure into r. */
static int measure(struct bd_pair *p, int nwin, struct bd_result *r)
{
	double fps[WINDOWS], vns[WINDOWS], tns[WINDOWS], vcpu[WINDOWS], tcpu[WINDOWS];
	double vwait[WINDOWS], twait[WINDOWS], idle[WINDOWS];
	struct bd_sample a, b, first;
	int rc;

	if ((rc = take_sample(p, &a, &r->lost)))
		return rc;
	first = a;
	for (int w = 0; w < nwin; w++) {
		double dt, frames;

		usleep(WINDOW_MS * 1000);
		if ((rc = take_sample(p, &b, &r->lost)))
			return rc;
		dt = b.t_s - a.t_s;
		frames = b.rx - a.rx;
		if (dt <= 0 || frames <= 0) {
			fprintf(stderr, "bench device: no frames came back in %.2f s\n", dt);
			return -EIO;
		}
		fps[w] = frames / dt;
		vns[w] = (b.dp.cpu - a.dp.cpu) / frames;
		tns[w] = (b.tp.cpu - a.tp.cpu) / frames;
		vcpu[w] = (b.dp.cpu - a.dp.cpu) / (dt * 1e9);
		tcpu[w] = (b.tp.cpu - a.tp.cpu) / (dt * 1e9);
		vwait[w] = a.dp.wait < 0 ? -1 : (b.dp.wait - a.dp.wait) / (dt * 1e9);
		twait[w] = a.tp.wait < 0 ? -1 : (b.tp.wait - a.tp.wait) / (dt * 1e9);
		idle[w] = b.polls > a.polls ? (b.idle_polls - a.idle_polls) / (b.polls - a.polls) : 0;
		a = b;
	}
	r->fps = vhm_median(fps, nwin);
	r->fps_span = (b.rx - first.rx) / (b.t_s - first.t_s);
	r->tx_span = (b.tx - first.tx) / (b.t_s - first.t_s);
	r->vhm_wait = vhm_median(vwait, nwin);
	r->tp_wait = vhm_median(twait, nwin);
	r->vhm_ns = vhm_median(vns, nwin);
	r->tp_ns = vhm_median(tns, nwin);
	r->vhm_cpu = vhm_median(vcpu, nwin);
	r->tp_cpu = vhm_median(tcpu, nwin);
	r->idle = vhm_median(idle, nwin);
	return 0;
}

/* Two lines: rate and ns/frame; then where each thread's wall time went
 * (on a CPU, runnable but waiting for one, the rest asleep). */
static void print_result(const char *what, int q, const struct bd_result *r)
{
	printf("%s, %d queue%s: %10.0f fr/s   vhm-dp %7.1f ns/fr   testpmd fwd %7.1f ns/fr   "
	       "vhm idle polls %.3f   lost %.0f\n", what, q, q > 1 ? "s" : " ", r->fps,
	       r->vhm_ns, r->tp_ns, r->idle, r->lost);
	printf("    wall time: vhm-dp %3.0f %% on cpu, %3.0f %% waiting for one; "
	       "testpmd fwd %3.0f %% on cpu, %3.0f %% waiting for one (of %ld cpus)\n",
	       100 * r->vhm_cpu, 100 * r->vhm_wait, 100 * r->tp_cpu, 100 * r->tp_wait,
	       sysconf(_SC_NPROCESSORS_ONLN));
}

/* testpmd's forwarding lcore: with --nb-cores=1, worker lcore 1 does all the
 * forwarding. DPDK 22.11 (Debian 12) names it "rte-worker-1"; other
 * releases "lcore-worker-1" or "dpdk-worker1". */
static const char *const tp_fwd_names[] = {
	"rte-worker-1", "lcore-worker-1", "dpdk-worker1", NULL,
};
static const char *const vhm_dp_names[] = { VHM_DP_NAME, NULL };

/* testpmd and a saturating device on it; finds both hot threads. 0, 1 if
 * testpmd is not installed (targets not run, said so), or -errno (testpmd
 * or vhm failed to start: the bench fails). */
static int pair_start(struct bd_pair *p, int q)
{
	char sock[TS_PATH_MAX], tpname[16], name[16], qs[4], bin[256];
	char ctl[TS_PATH_MAX + 16], log[TS_PATH_MAX + 16], err[256];
	const char *argv[] = { bin, "run", "--backend", sock, "--name", name, "--queues", qs,
			       "--traffic", "10000000", "--dirty", "0", "--ring", "split",
			       "--run-dir", ts_dir(), "--quiet", NULL };
	int rc;

	snprintf(tpname, sizeof(tpname), "bd-tp%d", q);
	snprintf(name, sizeof(name), "bd-q%d", q);
	snprintf(qs, sizeof(qs), "%d", q);
	if ((rc = bench_testpmd("device", tpname, 4, NULL, 0, 1, sock, sizeof(sock), &p->testpmd)))
		return rc > 0 ? 1 : -EIO;
	if ((rc = find_thread(p->testpmd, tp_fwd_names, &p->tp_tid))) {
		printf("device: no forwarding lcore thread in testpmd (pid %d)\n", (int)p->testpmd);
		return rc;
	}
	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/%s.log", ts_dir(), name);
	snprintf(ctl, sizeof(ctl), "%s/%s.sock", ts_dir(), name);
	p->vhm = ts_spawn(argv, log);
	if (p->vhm < 0 || ts_wait_socket(ctl, 15000)) {
		printf("device: vhm run did not start on %s (log %s)\n", sock, log);
		return -EIO;
	}
	if ((rc = ctl_client_open(&p->ctl, ts_dir(), name, 10000, err, sizeof(err)))) {
		printf("device: %s: %s\n", name, err);
		return rc;
	}
	if ((rc = find_thread(p->vhm, vhm_dp_names, &p->dp_tid))) {
		printf("device: no \"%s\" thread in vhm (pid %d)\n", VHM_DP_NAME, (int)p->vhm);
		return rc;
	}
	return 0;
}

static void pair_stop(struct bd_pair *p)
{
	if (p->ctl)
		ctl_client_close(p->ctl);
	if (p->vhm > 0)
		ts_kill(p->vhm);
	if (p->testpmd > 0)
		ts_testpmd_stop(p->testpmd);
}

/* Saturated, then at FIXED_PPS, with q queue pairs. */
static int one_queue_count(int q)
{
	struct bd_pair p = { .testpmd = -1, .vhm = -1 };
	struct bd_result sat, fixed;
	char name[64];
	int rc;

	snprintf(name, sizeof(name), "100000 pps achieved/offered, %dq", q);
	if ((rc = pair_start(&p, q))) {
		if (rc < 0)
			bench_missed(name, "testpmd or vhm did not start");
		goto out;
	}
	usleep(WARMUP_MS * 1000);
	if ((rc = measure(&p, WINDOWS, &sat))) {
		bench_missed(name, "the saturated measurement failed");
		goto out;
	}
	print_result("saturated      ", q, &sat);
	printf("%-34s %.3f (> 0: vhm waited for the backend)\n", "vhm datapath idle fraction",
	       sat.idle);

	if ((rc = bench_call(p.ctl, "set-traffic", json_pack("{s:i}", "pps", FIXED_PPS), NULL))) {
		bench_missed(name, "set-traffic failed");
		goto out;
	}
	usleep(WINDOW_MS * 1000);
	if ((rc = measure(&p, FIXED_WINDOWS, &fixed))) {
		bench_missed(name, "not measured");
		goto out;
	}
	print_result("100000 pps     ", q, &fixed);
	bench_report(name, "fr/s", fixed.fps_span, FIXED_PPS, ">=", 0.99);
	/* The driver forgets TX credit beyond one ring's worth (netdrv.c), so
	 * a backend that stalls longer than that makes it send less. */
	if (fixed.fps_span < 0.99 * FIXED_PPS)
		printf("    sent %.0f fr/s over the span: %s\n", fixed.tx_span,
		       fixed.tx_span < 0.99 * FIXED_PPS ? "credit forgotten while the backend stalled"
							: "frames sent but not back");
	if (fixed.lost)
		printf("device: %.0f frames lost (%d queues): the flow control let frames drop\n",
		       fixed.lost, q);
out:
	pair_stop(&p);
	return rc;
}

int bench_device(void)
{
	static const int queues[] = { 1, 4 };
	int rc = 0;

	for (size_t i = 0; i < VHM_ARRAY_SIZE(queues); i++) {
		int r = one_queue_count(queues[i]);

		if (r > 0) {            /* no testpmd: the other queue count's target not run */
			bench_not_run("device", "dpdk-testpmd not installed (Debian package dpdk-dev)");
			break;
		}
		if (r < 0)
			rc = -1;
	}
	ts_cleanup();
	return rc;
}
