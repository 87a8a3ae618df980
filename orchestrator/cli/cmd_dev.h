/* SPDX-License-Identifier: MIT */
/* cmd_dev — the command line for what the control sockets already offer,
 * named as virsh names its counterparts: `vhm jobinfo` (domjobinfo),
 * `vhm events` (event --loop), `vhm set` (the built-in guest's traffic and
 * dirtying), `vhm predict`, `vhm call` (qemu-monitor-command) and
 * `vhm dirty-rate` (domdirtyrate-calc, through `vhm libvirt-watch`). Each is
 * a thin client of one control socket (cmd_ctl.h). */
#ifndef VHM_CMD_DEV_H
#define VHM_CMD_DEV_H

#include "cmd_ctl.h"

#define DEV_TIMEOUT_HELP \
	"  -t, --timeout T    give up after T (\"500ms\", \"5s\"; default 5s)\n"

#define JOBINFO_USAGE \
	"usage: vhm jobinfo NAME [--json] [--run-dir DIR] [--timeout T]\n" \
	"\n" \
	"The running or last migration of device NAME, like virsh domjobinfo: job\n" \
	"type, status and phase, time elapsed, pass, data processed, remaining and\n" \
	"total, bandwidth, dirty rate, expected downtime while it runs, downtime and\n" \
	"result once it ended. Sizes in KiB/MiB/GiB, rates in MiB/s.\n" \
	"\n" \
	"  -j, --json         QMP's query-migrate answer (MigrationInfo) as one line\n" \
	CTL_RUN_DIR_HELP \
	DEV_TIMEOUT_HELP \
	"\n" \
	"Exit status: 0 ok, 1 the device refused, 2 bad arguments, 3 no such device\n" \
	"or a connection problem.\n"

#define EVENTS_USAGE \
	"usage: vhm events NAME [--event EVENT]... [--json] [--timeout T] [--run-dir DIR]\n" \
	"\n" \
	"Follow the events of instance NAME (a device, or the libvirt watcher\n" \
	"\"libvirt\") as they come, like virsh event --loop, until Ctrl-C, T has\n" \
	"passed, or the instance goes away: one line each, time, event and what it\n" \
	"says (a migration's phases as `vhm migrate` prints them).\n" \
	"\n" \
	"  -e, --event EVENT  only this event (\"migration\", \"state\", \"stats\",\n" \
	"                     \"dirty\", ...); repeat for more; default all\n" \
	"  -j, --json         each event as one JSON line, as the socket sends it\n" \
	"  -t, --timeout T    stop after T (\"30s\", \"2m\"; default: never)\n" \
	CTL_RUN_DIR_HELP \
	"\n" \
	"Exit status: 0 stopped (Ctrl-C, T, or the instance went away), 2 bad\n" \
	"arguments, 3 no such instance or a connection problem.\n"

#define SET_USAGE \
	"usage: vhm set NAME [--traffic PPS[:SIZE]] [--dirty PAGES_PER_S[:PATTERN]]\n" \
	"               [--json] [--run-dir DIR] [--timeout T]\n" \
	"\n" \
	"Change what the built-in guest of running device NAME does, with the\n" \
	"syntax of `vhm run`: frames per second (and frame size in bytes), page\n" \
	"writes per second (and pattern: uniform, hotset or sequential). At least\n" \
	"one of --traffic and --dirty. Prints what is now in effect.\n" \
	"\n" \
	"  -T, --traffic PPS[:SIZE]     frames/s, 0 stops; SIZE 60..1514 (unchanged\n" \
	"                               when not given)\n" \
	"  -D, --dirty RATE[:PATTERN]   page writes/s, 0 stops\n" \
	"  -j, --json                   the replies as one JSON line\n" \
	CTL_RUN_DIR_HELP \
	DEV_TIMEOUT_HELP \
	"\n" \
	"Exit status: 0 set, 1 the device refused, 2 bad arguments, 3 no such device\n" \
	"or a connection problem.\n"

#define PREDICT_USAGE \
	"usage: vhm predict NAME --bandwidth RATE [--downtime-ms MS] [--max-rounds N]\n" \
	"                   [--json] [--run-dir DIR] [--timeout T]\n" \
	"\n" \
	"Will a migration of device NAME converge? logtrack's forecast from the\n" \
	"dirty rates measured while tracking runs (`vhm track NAME`, or\n" \
	"track-start): rounds, total time, downtime. Without tracking the device\n" \
	"says so (exit 1).\n" \
	"\n" \
	"  -b, --bandwidth RATE   the link, e.g. 500M = 500 MiB/s\n" \
	"      --downtime-ms MS   allowed downtime (default 50, as vhm migrate's)\n" \
	"      --max-rounds N     pre-copy rounds at most, 1..1000\n" \
	"  -j, --json             the forecast as one JSON line\n" \
	CTL_RUN_DIR_HELP \
	DEV_TIMEOUT_HELP \
	"\n" \
	"Exit status: 0 ok, 1 the device refused, 2 bad arguments, 3 no such device\n" \
	"or a connection problem.\n"

#define CALL_USAGE \
	"usage: vhm call NAME COMMAND [ARGUMENTS] [--pretty] [--run-dir DIR] [--timeout T]\n" \
	"\n" \
	"Execute one control-socket command on instance NAME, like virsh\n" \
	"qemu-monitor-command: COMMAND as the socket names it (`vhm call NAME help`\n" \
	"lists them; QMP's query-status and query-migrate are among them), ARGUMENTS\n" \
	"one JSON object. Prints the \"return\" object as one JSON line.\n" \
	"\n" \
	"  -p, --pretty       indent the reply\n" \
	CTL_RUN_DIR_HELP \
	DEV_TIMEOUT_HELP \
	"\n" \
	"Exit status: 0 ok, 1 an error reply (its class and text on stderr), 2 bad\n" \
	"arguments (ARGUMENTS not a JSON object), 3 no such instance or a connection\n" \
	"problem.\n"

#define DIRTY_RATE_USAGE \
	"usage: vhm dirty-rate DOMAIN [--seconds N] [--watcher NAME] [--json]\n" \
	"                      [--run-dir DIR]\n" \
	"\n" \
	"Measure how fast libvirt domain DOMAIN dirties its memory, like virsh\n" \
	"domdirtyrate-calc followed by domstats --dirtyrate, through the running\n" \
	"`vhm libvirt-watch`: it starts the calculation, waits N seconds for the\n" \
	"result, and prints it (MiB/s, per vCPU when libvirt gives it).\n" \
	"\n" \
	"  -s, --seconds N    measure for N seconds, 1..60 (default 1)\n" \
	"  -w, --watcher NAME the watcher's control socket name (default libvirt)\n" \
	"  -j, --json         the result as one JSON line\n" \
	CTL_RUN_DIR_HELP \
	"\n" \
	"Exit status: 0 measured, 1 libvirt refused or gave no result, 2 bad\n" \
	"arguments, 3 no watcher or a connection problem.\n"

int cmd_jobinfo(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_set(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_call(int argc, char **argv);
int cmd_dirty_rate(int argc, char **argv);

#endif
