/* SPDX-License-Identifier: MIT */
/* bench_report — how every benchmark prints a result and how results are
 * counted for the summary: a ratio against a baseline of the same run, a
 * value against a budget, a target that went unmeasured (missed) or that
 * this machine cannot run (not run). Also the helpers every bench shares:
 * the median, testpmd start-up (installed or not), one control call. The
 * tally is owned by the bench's main thread (benches run one at a time). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "ctl.h"
#include "support.h"

static struct bench_tally tally;

struct bench_tally bench_tally(void)
{
	return tally;
}

/* "<=", ">=", or "within": |v - 1| <= target (a ratio within target of 1). */
static bool meets(double v, const char *op, double target)
{
	if (!strcmp(op, "within"))
		return v >= 1 - target && v <= 1 + target;
	return !strcmp(op, "<=") ? v <= target : v >= target;
}

static const char *count(bool ok)
{
	tally.targets++;
	tally.missed += !ok;
	return ok ? "ok" : "MISSED";
}

static void report_line(const char *name, const char *unit, double vhm, double baseline,
			double ratio, const char *how, const char *target_op, double target)
{
	/* No baseline (0) cannot meet a target, whichever way it points. */
	bool ok = baseline > 0 && meets(ratio, target_op, target);

	printf("%-40s vhm %12.3f %s  baseline %12.3f %s  ratio %6.3f%s (target %s %.2f) %s\n",
	       name, vhm, unit, baseline, unit, ratio, how, target_op, target, count(ok));
	fflush(stdout);
}

void bench_report(const char *name, const char *unit, double vhm, double baseline,
		  const char *target_op, double target)
{
	report_line(name, unit, vhm, baseline, baseline > 0 ? vhm / baseline : 0, "", target_op,
		    target);
}

void bench_report_paired(const char *name, const char *unit, double vhm, double baseline,
			 double ratio, const char *target_op, double target)
{
	report_line(name, unit, vhm, baseline, ratio, " (paired)", target_op, target);
}

void bench_budget(const char *name, const char *unit, double vhm, const char *op,
		  double budget)
{
	printf("%-40s vhm %12.3f %s  budget %s %.3f %s (no baseline) %s\n", name, vhm, unit, op,
	       budget, unit, count(meets(vhm, op, budget)));
	fflush(stdout);
}

void bench_missed(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%-40s ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" %s\n", count(false));
	fflush(stdout);
}

void bench_missed_n(const char *bench, unsigned n, const char *why)
{
	tally.targets += n;
	tally.missed += n;
	printf("%-40s %u targets not measured: %s MISSED\n", bench, n, why);
	fflush(stdout);
}

void bench_not_run(const char *name, const char *fmt, ...)
{
	va_list ap;

	tally.not_run++;
	printf("%-40s not run: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

int bench_cpu_ns(pid_t pid, pid_t tid, double *ns)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and ')': fields restart after the last ')'.
	 * From there: state (3) ... utime (14), stime (15). */
	if (!(p = strrchr(buf, ')')) ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EPROTO;
	*ns = (double)(ut + st) * 1e9 / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

int bench_testpmd(const char *bench, const char *name, int queues, const char *vhost_log,
		  int cpu, unsigned targets, char *sock, size_t socklen, pid_t *pid)
{
	char reason[256];

	if (!ts_on_path("dpdk-testpmd")) {
		for (unsigned i = 0; i < targets; i++)
			bench_not_run(bench, "dpdk-testpmd not installed (Debian package dpdk-dev)");
		return 1;
	}
	*pid = ts_testpmd_start_mode(name, queues, false, vhost_log, cpu, sock, socklen, reason,
				     sizeof(reason));
	if (*pid < 0) {
		printf("%s: testpmd %s did not start: %s\n", bench, name, reason);
		return -1;
	}
	return 0;
}

int bench_call(struct ctl_client *c, const char *cmd, json_t *args, json_t **ret)
{
	char err[256];
	json_t *r = NULL;
	int rc = ctl_client_call(c, cmd, args, &r, err, sizeof(err), 10000);

	json_decref(args);
	if (rc)
		fprintf(stderr, "bench: %s: %s\n", cmd, err);
	if (ret)
		*ret = r;
	else
		json_decref(r);
	return rc;
}
