/* SPDX-License-Identifier: MIT */
/* trace_cmd — `vhm trace`: print the vbpf counters of one process per interval. */
#ifndef VHM_TRACE_CMD_H
#define VHM_TRACE_CMD_H

#include "vbpf.h"

#define TRACE_USAGE \
	"usage: vhm trace --pid PID [options]\n" \
	"Count, from the kernel (eBPF), what a vhost-user backend process does.\n" \
	"  -p, --pid PID          the process to watch (required)\n" \
	"  -P, --probe LIST       comma list of ctl,kick,pf,kvm,uprobe, or all (default)\n" \
	"  -u, --uprobe BIN:SYM   trace calls of SYM in BIN (a path, or the start of the\n" \
	"                         name of a library PID maps); repeatable, up to 16;\n" \
	"                         default: librte_vhost's enqueue/dequeue/log functions;\n" \
	"                         without --probe, --uprobe adds uprobe to the default\n" \
	"  -r, --range START-END  page-fault probe range [START,END), host-virtual,\n" \
	"                         0x hex or decimal (default: the whole address space)\n" \
	"  -i, --interval DUR     print every DUR (default 1s)\n" \
	"  -d, --duration DUR     stop after DUR (default: at Ctrl-C or process exit)\n" \
	"  -j, --json             one JSON object per line instead of a table\n" \
	"      --all-sockets      ctl: count sendmsg/recvmsg on every socket family\n" \
	"      --raw              prefer raw_tp/tp_btf to tracefs tracepoints\n" \
	"  -v, --verbose          show libbpf's messages\n" \
	"Needs root, or CAP_BPF and CAP_PERFMON. Exit: 0 done, 1 no probe could attach,\n" \
	"2 bad arguments, no such process, or lacking privilege.\n"

int cmd_trace(int argc, char **argv);

#endif
