/* SPDX-License-Identifier: MIT */
/* runner — `vhm run` after its command line: a device on a backend, steered
 * over its control socket (<run_dir>/<name>.sock) until stopped by `stop`, a
 * signal or --duration. The loop runs on the calling thread.
 *
 * Threads: the calling thread runs the loop and owns the runner (control
 * server, tracking, the migration job's bookkeeping); the device's datapath
 * and writer threads, a migration's thread and the eBPF loader run beside
 * it. The device's state changes reach "state" subscribers from any of them
 * through the loop (runner.c, on_dev_state); what each thread may touch of
 * the device is device.h's "Threads". */
#ifndef VHM_RUNNER_H
#define VHM_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

struct runner_opts {
	const char *run_dir;       /* NULL: vhm_run_dir()'s default */
	uint64_t interval_ms;      /* "stats" events; 0: 1000 */
	uint64_t duration_ms;      /* 0: until stopped */
	bool quiet;                /* no progress lines on stderr */
	bool reconnect;            /* get a lost backend back and restore the rings */
	unsigned trace_probes;     /* --trace-backend: vbpf probe mask, 0 off */
	const char *metrics;       /* --metrics [ADDR:]PORT, NULL: off */
	const char *incoming;      /* --incoming tcp:ADDR:PORT: the device comes by a
				    * migration (migration/mig_incoming); NULL: off */
};

/* Run the device described by cfg until stopped. Returns a VHM_EXIT_* status
 * (messages already printed on stderr). */
int runner_run(const struct runner_opts *o, const struct dev_config *cfg);

#endif
