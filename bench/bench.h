/* SPDX-License-Identifier: MIT */
/* bench — the benchmark registry of `make bench` and the one place results
 * are printed and counted. Each target line compares vhm with a baseline
 * measured in the same run (bench_report), or, where no baseline exists,
 * with a fixed budget that the line calls a budget (bench_budget). A target
 * that could not be measured is MISSED (bench_missed); one whose tool is not
 * installed is "not run" (bench_not_run). vhm-bench ends with one summary
 * line and exits 1 when any target was missed or any benchmark failed.
 * Everything here runs on the bench's main thread. docs/bench.md lists
 * every line, what it compares and its target. */
#ifndef VHM_BENCH_H
#define VHM_BENCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ctl_client;

struct bench {
	const char *name;
	const char *what;           /* one line: what is compared to what */
	int (*run)(void);           /* 0 ran, <0 failed (reason printed) */
};

/* A target against a baseline of the same run: "name: vhm X unit, baseline
 * Y unit, ratio R (target OP T) ok|MISSED". target_op is "<=", ">=", or
 * "within" (the ratio within target of 1: 0.2 is 0.8..1.2). A baseline of 0
 * (not measured) misses. */
void bench_report(const char *name, const char *unit, double vhm, double baseline,
		  const char *target_op, double target);
/* The same with the ratio given: a paired statistic (the median of
 * per-round ratios) rather than vhm / baseline, which the line then
 * prints as "ratio R (paired)". */
void bench_report_paired(const char *name, const char *unit, double vhm, double baseline,
			 double ratio, const char *target_op, double target);
/* A target against a fixed budget (no baseline exists): "name: vhm X unit,
 * budget OP B unit ok|MISSED". */
void bench_budget(const char *name, const char *unit, double vhm, const char *op,
		  double budget);
/* A target whose measurement failed or is absent: counted as missed. */
void bench_missed(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* n targets of a bench that could not run at all (testpmd did not start):
 * one line, n counted as missed. */
void bench_missed_n(const char *bench, unsigned n, const char *why);
/* A target not measured because a tool is missing on this machine (not a
 * failure, counted apart). */
void bench_not_run(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* CPU time (utime + stime) in ns of a process (tid 0) or one of its threads,
 * from /proc/PID[/task/TID]/stat. 0 or -errno. */
int bench_cpu_ns(pid_t pid, pid_t tid, double *ns);

/* dpdk-testpmd for a bench (tests/integration/support.c, `queues` pairs,
 * its vhost library logging at vhost_log, NULL for testpmd's default, its
 * lcores on CPU cpu: see ts_testpmd_start_in; socket <ts_dir>/<name>.sock
 * into sock). 0 and *pid; 1 when dpdk-testpmd is not installed (the
 * bench's targets are not run: `targets` lines counted, reason printed); -1
 * when it is installed but failed to start (printed; the caller counts its
 * targets missed and fails). */
int bench_testpmd(const char *bench, const char *name, int queues, const char *vhost_log,
		  int cpu, unsigned targets, char *sock, size_t socklen, pid_t *pid);

/* One control command on a device; args stolen; *ret (if ret) gets the
 * reply. 0, or -errno with the error printed. */
int bench_call(struct ctl_client *c, const char *cmd, json_t *args, json_t **ret);

/* A `vhm run` device on a testpmd, for the benches that migrate one
 * (bench_migrate.c): its pid and the bench's control connection to it. */
struct bench_dev {
	pid_t pid;
	struct ctl_client *c;
};
/* `vhm run` NAME on backend socket a with `queues` pairs, guest memory mem
 * ("1G"), 20000 frames/s of traffic and `dirty` pages/s, connected; 0, or -1
 * with a line on stderr (what did start is for bench_dev_down()). */
int bench_dev_up(struct bench_dev *d, const char *name, const char *a, const char *queues,
		 const char *mem, const char *dirty);
void bench_dev_down(struct bench_dev *d);
/* Called with each migration phase as its event arrives. */
typedef void (*bench_phase_fn)(const char *phase, void *arg);
/* Migrate with these arguments (stolen) and wait for the report (new
 * reference), NULL on failure (the error printed). on_phase (may be NULL)
 * sees every phase. */
json_t *bench_migrate_with(struct ctl_client *c, json_t *args, bench_phase_fn on_phase,
			   void *arg);
/* o.a, or o.a.b when b is not NULL, as a number (0 when absent). */
double bench_num(const json_t *o, const char *a, const char *b);

/* Registered benchmarks (one line each in bench/main.c). */
int bench_proto_rtt(void);
int bench_logsync(void);
int bench_migrate(void);
int bench_bpf(void);
int bench_top(void);
int bench_device(void);
/* Stream pre-copy throughput, 4 connections vs 1 (bench_stream.c). */
int bench_stream(void);
int bench_qemu(void);

/* The tally so far (main.c prints it at the end). */
struct bench_tally {
	unsigned targets, missed, not_run;
};
struct bench_tally bench_tally(void);

#endif
