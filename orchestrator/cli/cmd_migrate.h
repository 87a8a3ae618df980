/* SPDX-License-Identifier: MIT */
/* cmd_migrate — `vhm migrate`: a thin client that asks a running device to
 * migrate itself (the `migrate` control command) and prints the report. */
#ifndef VHM_CMD_MIGRATE_H
#define VHM_CMD_MIGRATE_H

#include "cmd_migdom.h"

#define MIGRATE_USAGE \
	"usage: vhm migrate NAME --to DST_SOCKET|listen:PATH|tcp:HOST:PORT [--downtime-ms MS]\n" \
	"                   [--max-iterations N]\n" \
	"                   [--bandwidth RATE] [--mac MAC] [--announce-ifname IF] [--json]\n" \
	"                   [--verify after-resume|sync] [--copy-threads 1|2] [--shared-memory]\n" \
	"                   [--connections N] [--switchover-boost N]\n" \
	"                   [--run-dir DIR]\n" \
	"       vhm migrate NAME --cancel [--run-dir DIR]\n" \
MIGDOM_USAGE \
	"  Live-migrate the running device NAME to the vhost-user backend at DST_SOCKET:\n" \
	"  dirty logging, pre-copy, stop with GET_VRING_BASE, restart on the destination,\n" \
	"  RARP. --to listen:PATH: vhm listens at PATH and waits up to 30 s for the\n" \
	"  destination backend to connect (client-mode ports: testpmd client=1, OVS\n" \
	"  dpdkvhostuserclient); it never replaces a file it did not create there.\n" \
	"  On a terminal one progress line shows the pass, percent of guest memory\n" \
	"  sent, bytes remaining, rate and expected downtime; elsewhere each phase is a\n" \
	"  line; with --json every event is a JSON line, the last one the report (or the\n" \
	"  error). Then the report. Any failure before the\n" \
	"  destination resumes -- or Ctrl-C, or --cancel from elsewhere -- leaves the\n" \
	"  device running on its source. RATE caps the pre-copy (e.g. 500M = 500 MiB/s;\n" \
	"  sizes and rates are binary: K, M, G = KiB, MiB, GiB).\n" \
	"  --announce-ifname: where to send RARP frames when the destination backend\n" \
	"  cannot (no RARP protocol feature).\n" \
	"  --verify: how the copy is proved. after-resume (default): the ring pages in\n" \
	"  the downtime, the rest of memory once the guest runs on the destination,\n" \
	"  which logs its writes meanwhile (pages written since the resume are not\n" \
	"  proved; they are counted); a difference found then cannot be rolled back and\n" \
	"  is reported (exit 1, pages named). sync: digests of both memories inside\n" \
	"  the downtime, a difference rolls back. A destination without LOG_SHMFD or\n" \
	"  LOG_ALL gets sync.\n" \
	"  --copy-threads 2: the first pass copies with a second thread (the upper half\n" \
	"  of guest memory), when no --bandwidth caps it; default 1.\n" \
	"  --switchover-boost N (0..20, default 10): the migrating thread runs N nice\n" \
	"  steps higher (at most to -20) for the switchover, so that on\n" \
	"  CPUs busy-polled by backends it is not left waiting a scheduler tick for\n" \
	"  each reply; needs CAP_SYS_NICE (the report says when it was refused); 0\n" \
	"  leaves its priority alone.\n" \
	"  --shared-memory: a hot swap on this host: the destination maps the device's\n" \
	"  own memory; nothing is logged, copied or proved, the downtime is the control\n" \
	"  plane.\n" \
	"  --to tcp:HOST:PORT: to another vhm process (`vhm run --incoming tcp:...`,\n" \
	"  on this host or another) over a migration stream (docs/stream.md); RATE caps\n" \
	"  the stream; the destination compares the source's digest with its memory\n" \
	"  (verify \"stream\") and answers READY; then GO is the commit point: from it\n" \
	"  the device here never resumes; once RUNNING comes back it is \"migrated\";\n" \
	"  without RUNNING it is \"destination-unknown\" (check the destination).\n" \
	"  --connections N (1..16, default 1): pages over N TCP connections to it, a\n" \
	"  sender thread each (the first carries the rest of the stream too); RATE\n" \
	"  caps their sum.\n" \
	"  exit: 0 migrated, 1 migration failed or cancelled (rolled back) or migrated\n" \
	"  with memory not verified, 2 usage,\n" \
	"  3 no such device, 4 GO sent and no RUNNING: stopped here, the destination's\n" \
	"  state unknown\n"

int cmd_migrate(int argc, char **argv);

#endif
