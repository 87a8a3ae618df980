/* SPDX-License-Identifier: MIT */
/* vhm-bench: runs every benchmark in the table, or those named on the
 * command line, then prints the summary (targets, missed, not run) and exits
 * 1 when a target was missed or a benchmark failed (bench_report.c counts). */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "ctl.h"
#include "util.h"
#include "vbpf.h"
#include "vhu_proto.h"

static const struct bench benches[] = {
	{ "proto-rtt", "REPLY_ACK'd request round trip vs raw Unix-socket ping-pong with one fd",
	  bench_proto_rtt },
	{ "migrate", "live migration: copy throughput, control-plane downtime, three dirty rates",
	  bench_migrate },
	{ "qemu", "downtime (device stopped to started on the destination, as the testpmds "
	  "saw it) of vhm vs QEMU 7.2 under TCG, 256 MiB, limit 50 ms, the same two testpmds",
	  bench_qemu },
	{ "logsync", "dirty-log sync/scan vs plain read and QEMU's per-word exchange loop",
	  bench_logsync },
	{ "bpf", "saturated testpmd loopback rx frames/s with the default probe set, and with "
	  "each opt-in probe, vs none; sendmsg/recvmsg loop with the syscall probes vs none",
	  bench_bpf },
	{ "top", "vhm top CPU with 4 devices at 1 s refresh vs the 2 % budget and vs one "
	  "persistent control connection polling status at the same rate", bench_top },
	{ "device", "testpmd loopback frames/s, 1 and 4 queues: 100000 pps achieved vs offered; "
	  "CPU per frame for information", bench_device },
	{ "stream", "migration stream pre-copy throughput over loopback, 4 connections vs 1, "
	  "vhm-testbe backends", bench_stream },
};

int main(int argc, char **argv)
{
	struct bench_tally t;
	int rc = 0, failed = 0;

	vbpf_set_req_names(vhu_req_name);
	for (int a = 1; a < argc; a++) {
		bool known = false;

		for (size_t i = 0; i < VHM_ARRAY_SIZE(benches); i++)
			known |= !strcmp(argv[a], benches[i].name);
		if (!known) {
			fprintf(stderr, "vhm-bench: unknown benchmark '%s'\n", argv[a]);
			return 2;
		}
	}
	for (size_t i = 0; i < VHM_ARRAY_SIZE(benches); i++) {
		bool chosen = argc < 2;
		for (int a = 1; a < argc; a++)
			chosen |= !strcmp(argv[a], benches[i].name);
		if (!chosen)
			continue;
		printf("== %s: %s\n", benches[i].name, benches[i].what);
		if (benches[i].run() < 0) {
			printf("== %s: FAILED (see above)\n", benches[i].name);
			failed++;
		}
	}
	t = bench_tally();
	printf("== bench: %u targets, %u missed, %u not run; %d benchmark%s failed\n", t.targets,
	       t.missed, t.not_run, failed, failed == 1 ? "" : "s");
	if (t.missed || failed)
		rc = 1;
	return rc;
}
