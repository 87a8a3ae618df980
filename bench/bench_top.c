/* SPDX-License-Identifier: MIT */
/* top — what `vhm top` costs while it watches 4 running devices (each on its
 * own vhm-testbe backend, with traffic and page writes) at a 1 s refresh, in
 * batch mode: CPU time (user + system, from wait4's rusage).
 *
 * Two targets:
 *   - against the budget, 2 % of a core over a 10 s run, start-up included
 *     (a budget: no baseline exists);
 *   - against the cheapest real poller of the same figures, measured in the
 *     same run: one process holding one persistent control connection to
 *     each of the 4 instances, asking each for `status` once a second and
 *     parsing the reply. Like with like: the CPU of one more second of
 *     watching, for both -- each is run for 1 and for 1 + SECONDS refreshes
 *     (RUNS times, medians) and the difference divided by SECONDS -- so
 *     neither side's start is in it (top's exec and dynamic loading, the
 *     poller's fork). Target ratio <= 1. Both starts are printed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "ctl.h"
#include "../tests/integration/support.h"
#include "util.h"

#define NINST   4
#define SECONDS 10
#define RUNS    3

/* The baseline poller, in a child: one connection per instance, `status`
 * from each once a second, `rounds` times. Exit 0, or 1 (said why). */
static int poll_status(const char *run, int rounds)
{
	struct ctl_client *c[NINST] = { 0 };
	char err[256], name[16];
	uint64_t t0 = vhm_now_ns();
	int rc = 1;

	for (int i = 0; i < NINST; i++) {
		snprintf(name, sizeof(name), "vm%d", i);
		if (ctl_client_open(&c[i], run, name, 10000, err, sizeof(err))) {
			fprintf(stderr, "top: poller: %s: %s\n", name, err);
			goto out;
		}
	}
	for (int s = 0; s < rounds; s++) {
		uint64_t next = t0 + (uint64_t)s * 1000000000ull;

		while (vhm_now_ns() < next)
			usleep((useconds_t)((next - vhm_now_ns()) / 1000));
		for (int i = 0; i < NINST; i++)
			if (bench_call(c[i], "status", NULL, NULL))
				goto out;
	}
	rc = 0;
out:
	for (int i = 0; i < NINST; i++)
		if (c[i])
			ctl_client_close(c[i]);
	return rc;
}

/* Run argv to completion with output to /dev/null (argv NULL: the status
 * poller on run, `rounds` rounds); its CPU seconds, or < 0. */
static double run_cpu_s(const char *const argv[], const char *run, int rounds)
{
	struct rusage ru;
	int st;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (!argv)
			_exit(poll_status(run, rounds));
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return -1;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int start_devices(const char *run)
{
	static const char *const be_args[] = { NULL };   /* one queue pair each */

	for (int i = 0; i < NINST; i++) {
		char sock[TS_PATH_MAX], name[16], bin[256], ctl[TS_PATH_MAX + 16];
		const char *argv[] = { bin, "run", "--backend", sock, "--name", name, "--traffic",
				       "1000", "--dirty", "1000", "--run-dir", run, "--quiet", NULL };

		snprintf(name, sizeof(name), "vm%d", i);
		snprintf(ctl, sizeof(ctl), "be%d.sock", i);
		if (ts_path(ctl, sock, sizeof(sock)) || ts_testbe_start(sock, be_args) < 0) {
			fprintf(stderr, "top: cannot start vhm-testbe on %s\n", sock);
			return -1;
		}
		ts_bin("vhm", bin, sizeof(bin));
		snprintf(ctl, sizeof(ctl), "%s/%s.sock", run, name);
		if (ts_spawn(argv, NULL) < 0 || ts_wait_socket(ctl, 10000)) {
			fprintf(stderr, "top: vhm run %s did not come up\n", name);
			return -1;
		}
	}
	return 0;
}

/* What one watcher costs, in CPU seconds (medians of RUNS). */
struct watch_cost {
	double start_s;                 /* the short run: start, one refresh, exit */
	double long_s;                  /* the long run: 1 + SECONDS refreshes */
	double wall_s;                  /* of the last long run */
};

/* Measure w: top is argv, its -n value written at n_arg (N_ARG_LEN bytes);
 * the poller is argv NULL. 0, or -1 (said why). */
#define N_ARG_LEN 16
static int watch_cost(const char *who, const char **argv, char *n_arg, const char *run,
		      struct watch_cost *w)
{
	double shorts[RUNS], longs[RUNS];

	for (int r = 0; r < RUNS; r++) {
		uint64_t t0;

		if (argv)
			snprintf(n_arg, N_ARG_LEN, "1");
		shorts[r] = run_cpu_s(argv, run, 1);
		if (argv)
			snprintf(n_arg, N_ARG_LEN, "%d", 1 + SECONDS);
		t0 = vhm_now_ns();
		longs[r] = run_cpu_s(argv, run, 1 + SECONDS);
		w->wall_s = (double)(vhm_now_ns() - t0) / 1e9;
		if (shorts[r] < 0 || longs[r] < 0) {
			fprintf(stderr, "top: %s failed\n", who);
			return -1;
		}
	}
	w->start_s = vhm_median(shorts, RUNS);
	w->long_s = vhm_median(longs, RUNS);
	return 0;
}

int bench_top(void)
{
	char bin[256], run[TS_PATH_MAX], n[N_ARG_LEN];
	const char *top[] = { bin, "top", "-b", "-d", "1", "-n", n, "--run-dir", run, NULL };
	struct watch_cost t, p;
	int rc = -1;

	snprintf(run, sizeof(run), "%s/run", ts_dir());
	mkdir(run, 0700);
	ts_bin("vhm", bin, sizeof(bin));
	if (start_devices(run))
		goto out;
	sleep(1);
	if (watch_cost("vhm top -b", top, n, run, &t) ||
	    watch_cost("the status poller", NULL, NULL, run, &p))
		goto out;
	printf("top: to the first refresh: vhm top %.1f ms of CPU (exec, loading, connecting), "
	       "the forked poller %.1f ms\n", t.start_s * 1e3, p.start_s * 1e3);
	bench_budget("top cpu, 4 devices, -d 1, 10 s", "%core", t.long_s / t.wall_s * 100.0,
		     "<=", 2.0);
	bench_report("top cpu a refresh vs status poller", "ms",
		     (t.long_s - t.start_s) / SECONDS * 1e3,
		     (p.long_s - p.start_s) / SECONDS * 1e3, "<=", 1.0);
	rc = 0;
out:
	ts_cleanup();
	return rc;
}
