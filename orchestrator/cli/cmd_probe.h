/* SPDX-License-Identifier: MIT */
/* cmd_probe — `vhm probe`: connect to a backend as a frontend, negotiate, and
 * report what it offers and whether vhm can live-migrate a device on it. */
#ifndef VHM_CMD_PROBE_H
#define VHM_CMD_PROBE_H

#include <stddef.h>

#include "vhu_probe.h"

#define PROBE_USAGE \
	"usage: vhm probe SOCKET [--json] [--timeout DUR]\n" \
	"  Connect to the vhost-user backend listening on SOCKET, negotiate, and print\n" \
	"  its virtio and protocol feature bits by name, queue count, memory slots and\n" \
	"  whether vhm can live-migrate a device on it (LOG_SHMFD and LOG_ALL needed).\n" \
	"  --timeout: how long to wait for each reply (default 5s; 1ms..10m).\n" \
	"  exit: 0 migratable, 1 reachable but not migratable, 2 usage, 3 connection\n" \
	"        or protocol error\n"

int cmd_probe(int argc, char **argv);

/* Probe the backend at path (what `vhm probe` does, printing nothing): 0 with
 * the verdict in *v, or -errno with the reason in err. */
int cmd_probe_socket(const char *path, int timeout_ms, struct vhu_probe_verdict *v, char *err,
		     size_t errlen);

#endif
