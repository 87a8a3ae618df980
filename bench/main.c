/* SPDX-License-Identifier: MIT */
/* vhm-bench: runs every benchmark in the table, or those named on the
 * command line. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "ctl.h"
#include "util.h"

static const struct bench benches[] = {
	{ "proto-rtt", "REPLY_ACK'd request round trip vs raw Unix-socket ping-pong with one fd",
	  bench_proto_rtt },
	{ "migrate", "live migration: copy throughput, control-plane downtime, three dirty rates",
	  bench_migrate },
	{ "logsync", "dirty-log sync/scan vs plain read and QEMU's per-word exchange loop",
	  bench_logsync },
	{ "bpf", "testpmd loopback rx frames/s with every probe on testpmd and vhm vs none; "
	  "sendmsg/recvmsg loop with the syscall probes vs none", bench_bpf },
	{ "top", "vhm top CPU with 4 devices at 1 s refresh vs the 2 % budget and vs polling "
	  "vhm status", bench_top },
	{ "device", "testpmd loopback frames/s, 1 and 4 queues: vhm vs testpmd CPU ns/frame; "
	  "100000 pps achieved vs offered", bench_device },
};

void bench_report(const char *name, const char *unit, double vhm, double baseline,
		  const char *target_op, double target)
{
	double ratio = baseline > 0 ? vhm / baseline : 0;
	bool ok = !strcmp(target_op, "<=") ? ratio <= target : ratio >= target;

	printf("%-34s vhm %12.3f %s  baseline %12.3f %s  ratio %6.3f (target %s %.2f) %s\n",
	       name, vhm, unit, baseline, unit, ratio, target_op, target, ok ? "ok" : "MISSED");
	fflush(stdout);
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

int main(int argc, char **argv)
{
	int rc = 0;

	for (size_t i = 0; i < VHM_ARRAY_SIZE(benches); i++) {
		bool chosen = argc < 2;
		for (int a = 1; a < argc; a++)
			chosen |= !strcmp(argv[a], benches[i].name);
		if (!chosen)
			continue;
		printf("== %s: %s\n", benches[i].name, benches[i].what);
		if (benches[i].run() < 0)
			rc = 1;
	}
	return rc;
}
