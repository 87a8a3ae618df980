/* SPDX-License-Identifier: MIT */
/* cmd_track — `vhm track`: a client of a running device's control socket
 * that turns tracking on (track-start), prints one line per "dirty" event,
 * then a summary, and turns tracking off (track-stop). */
#ifndef VHM_CMD_TRACK_H
#define VHM_CMD_TRACK_H

#define TRACK_USAGE \
	"usage: vhm track NAME|SOCKET [--interval DUR] [--duration DUR] [--csv|--json]\n" \
	"                 [--verify [--no-stop-check]] [--plot FILE.png|FILE.svg]\n" \
	"                 [--run-dir DIR]\n" \
	"\n" \
	"Track how fast running instance NAME dirties guest memory, by source:\n" \
	"the guest's own writes, the backend's writes (RX buffers) and the used\n" \
	"rings. One line per interval, then a summary: averages, working-set\n" \
	"curve, hottest 2 MiB blocks, verify findings. docs/logtrack.md explains\n" \
	"every column.\n" \
	"\n" \
	"  --interval DUR   one line per DUR (default 1s, at least 50ms)\n" \
	"  --duration DUR   stop after DUR (default 30s); Ctrl-C stops earlier\n" \
	"  --csv            comma-separated lines with a header; summary on stderr\n" \
	"  --json           each interval's \"dirty\" event as one JSON line, then\n" \
	"                   {\"summary\": ...}\n" \
	"  --verify         hash guest pages each interval and report changed pages\n" \
	"                   that no dirty log marked; at the end, stop the rings\n" \
	"                   (~200 ms) and report pages not logged by\n" \
	"                   GET_VRING_BASE's reply, or logged after it\n" \
	"  --no-stop-check  with --verify, leave that stop out\n" \
	"  --plot FILE      draw rates over time and the working-set curve with\n" \
	"                   gnuplot, PNG or SVG by FILE's extension\n" \
	"  --run-dir DIR    where instances' sockets are (default $VHM_RUN_DIR,\n" \
	"                   else /run/vhm)\n" \
	"\n" \
	"Exit status: 0 ok, 1 the instance refused or the plot failed, 2 bad\n" \
	"arguments, 3 no such instance or a connection problem.\n"

int cmd_track(int argc, char **argv);

#endif
