/* SPDX-License-Identifier: MIT */
/* cmd_migrate — `vhm migrate`: a thin client that asks a running device to
 * migrate itself (the `migrate` control command) and prints the report. */
#ifndef VHM_CMD_MIGRATE_H
#define VHM_CMD_MIGRATE_H

#define MIGRATE_USAGE \
	"usage: vhm migrate NAME --to DST_SOCKET [--downtime-ms MS] [--max-iterations N]\n" \
	"                   [--bandwidth RATE] [--mac MAC] [--announce-ifname IF] [--json]\n" \
	"                   [--shared-memory] [--run-dir DIR]\n" \
	"       vhm migrate NAME --cancel [--run-dir DIR]\n" \
	"  Live-migrate the running device NAME to the vhost-user backend at DST_SOCKET:\n" \
	"  dirty logging, pre-copy, stop with GET_VRING_BASE, restart on the destination,\n" \
	"  RARP. On a terminal one progress line shows the pass, percent of guest memory\n" \
	"  sent, bytes remaining, rate and expected downtime; elsewhere each phase is a\n" \
	"  line; with --json every event is a JSON line, the last one the report (or the\n" \
	"  error). Then the report. Any failure before the\n" \
	"  destination resumes -- or Ctrl-C, or --cancel from elsewhere -- leaves the\n" \
	"  device running on its source. RATE caps the pre-copy (e.g. 500M = 500 MiB/s;\n" \
	"  sizes and rates are binary: K, M, G = KiB, MiB, GiB).\n" \
	"  --announce-ifname: where to send RARP frames when the destination backend\n" \
	"  cannot (no RARP protocol feature).\n" \
	"  --shared-memory: a hot swap on this host: the destination maps the device's\n" \
	"  own memory; nothing is logged or copied, the downtime is the control plane.\n" \
	"  exit: 0 migrated, 1 migration failed or cancelled (rolled back), 2 usage,\n" \
	"  3 no such device\n"

int cmd_migrate(int argc, char **argv);

#endif
