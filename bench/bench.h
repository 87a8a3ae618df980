/* SPDX-License-Identifier: MIT */
/* bench — the benchmark registry of `make bench`. Each benchmark measures
 * vhm beside a baseline taken in the same run and prints the ratio, since
 * these machines are noisy; absolute numbers alone mean little. */
#ifndef VHM_BENCH_H
#define VHM_BENCH_H

#include <jansson.h>
#include <stdbool.h>

struct ctl_client;

struct bench {
	const char *name;
	const char *what;           /* one line: what is compared to what */
	int (*run)(void);           /* 0 ok, <0 could not run (reason printed) */
};

/* Print one result line: "name: vhm X unit, baseline Y unit, ratio R (target T)". */
void bench_report(const char *name, const char *unit, double vhm, double baseline,
		  const char *target_op, double target);

/* One control command on a device; args stolen; *ret (if ret) gets the
 * reply. 0, or -errno with the error printed. */
int bench_call(struct ctl_client *c, const char *cmd, json_t *args, json_t **ret);

/* Registered benchmarks (one line each in bench/main.c). */
int bench_proto_rtt(void);
int bench_logsync(void);
int bench_migrate(void);
int bench_bpf(void);
int bench_top(void);
int bench_device(void);

#endif
