/* SPDX-License-Identifier: MIT */
/* cmd_run — `vhm run`: a device on a backend, steered over its control
 * socket until stopped. The control commands it serves are its table. */
#ifndef VHM_CMD_RUN_H
#define VHM_CMD_RUN_H

#include <stdint.h>

#include "gwriter.h"

#define RUN_USAGE \
	"usage: vhm run --backend SOCKET [--name NAME] [--mem SIZE] [--queues N]\n" \
	"               [--ring auto|split|packed] [--traffic PPS[:SIZE]]\n" \
	"               [--dirty PAGES_PER_S[:uniform|hotset|sequential]] [--mac MAC]\n" \
	"               [--interval DUR] [--duration DUR] [--timeout DUR] [--reconnect] [--listen]\n" \
	"               [--run-dir DIR] [--quiet] [--trace-backend[=PROBES]]\n" \
	"               [--buffers spread|compact] [--seed N]\n" \
	"               [--metrics [ADDR:]PORT] [--incoming tcp:ADDR:PORT]\n" \
	"  Run a virtio-net device on the vhost-user backend at SOCKET with vhm's\n" \
	"  built-in guest: it transmits PPS test frames/s of SIZE bytes (default 64)\n" \
	"  that the backend loops back, and dirties guest pages at the given rate.\n" \
	"  Steered over <run-dir>/NAME.sock (default /run/vhm/vhm0.sock): see\n" \
	"  `vhm status`, `vhm stop`, `vhm list`. SIGINT/SIGTERM stop it cleanly.\n" \
	"  --mem defaults to 256M; --ring auto takes packed when the backend offers it.\n" \
	"  --buffers spread (default): packet buffers on pages spread over guest RAM,\n" \
	"  recycled in a shuffled order (--seed N, default 1, makes it reproducible);\n" \
	"  compact: in the device area after the rings, used in ring order.\n" \
	"  DUR: 250ms, 5s, 2m (a bare number is seconds). --interval: stats events\n" \
	"  (default 1s); --duration: stop after (default: when stopped); --timeout: the\n" \
	"  wait for each vhost-user reply (default 5s).\n" \
	"  --listen: vhm listens at SOCKET and the backend connects (e.g. testpmd with\n" \
	"  client=1). --reconnect: when the backend goes away, get it back (connect\n" \
	"  again, or accept its new connection) and restore every ring.\n" \
	"  --trace-backend attaches vhm trace's probes (default ctl,kick; uprobe is\n" \
	"  opt-in: it costs per burst) to the backend's pid and adds their counters\n" \
	"  as \"bpf\" to status and stats events.\n" \
	"  --metrics serves OpenMetrics at http://ADDR:PORT/metrics (ADDR default\n" \
	"  127.0.0.1; PORT 0: any free port, shown in status): dirty rates, working\n" \
	"  set, migrations (docs/metrics.md).\n" \
	"  --incoming: no guest starts here; vhm waits on ADDR:PORT (PORT 0: any free\n" \
	"  port, shown in status) for `vhm migrate NAME --to tcp:HOST:PORT` from\n" \
	"  another vhm, makes guest memory of the size the stream says, and runs the\n" \
	"  device on SOCKET from where the source stopped (docs/stream.md). Give it\n" \
	"  the source's --queues and --ring (and --mem, or none). A failed migration\n" \
	"  exits 1.\n"

int cmd_run(int argc, char **argv);

/* The built-in guest's flags, shared with `vhm set`: "PPS[:SIZE]" (SIZE set
 * only when given) and "PAGES_PER_S[:PATTERN]" (pattern set only when
 * given). 0 or -EINVAL. */
int cmd_run_parse_traffic(const char *s, uint64_t *pps, uint32_t *size);
int cmd_run_parse_dirty(const char *s, uint64_t *rate, enum gw_pattern *p);

#endif
