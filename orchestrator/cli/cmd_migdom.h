/* SPDX-License-Identifier: MIT */
/* cmd_migdom — `vhm migrate --domain`: live-migrate a libvirt domain whose
 * NICs are vhost-user, with vhm's pre-flight, prediction, progress line and
 * report around libvirt's migration. */
#ifndef VHM_CMD_MIGDOM_H
#define VHM_CMD_MIGDOM_H

#include <stdbool.h>

#define MIGDOM_USAGE \
	"       vhm migrate --domain NAME --to-uri URI [-c URI] [--dest-xml FILE]\n" \
	"                   [--migrate-uri URI] [--listen-address ADDR] [--bandwidth RATE]\n" \
	"                   [--downtime-ms MS] [--max-iterations N] [--dirty-seconds N]\n" \
	"                   [--dry-run] [--force]\n" \
	"  Live-migrate the libvirt domain NAME (on -c URI, default qemu:///system) peer\n" \
	"  to peer to the libvirtd at --to-uri. First a pre-flight: each vhost-user\n" \
	"  interface of the domain must have a backend on the destination (the socket\n" \
	"  --dest-xml names, else the same path) that offers LOG_SHMFD and LOG_ALL;\n" \
	"  then libvirt's dirty-rate calculation (--dirty-seconds, default 1) and\n" \
	"  logtrack's prediction for RATE (default 128M, QEMU's) and MS (default 300,\n" \
	"  QEMU's): a migration predicted not to converge is refused, with the\n" \
	"  bandwidth, downtime or dirty rate it would need (--force runs it anyway;\n" \
	"  --dry-run stops before it). The progress line is the one above, from\n" \
	"  libvirt's job statistics; Ctrl-C aborts the job; the report sets libvirt's\n" \
	"  completed statistics beside the prediction. The destination's\n" \
	"  `vhm libvirt-watch` announces the guest by its policy (docs/libvirt.md).\n" \
	"  exit: 0 migrated (or --dry-run passed), 1 refused, failed or cancelled,\n" \
	"  2 usage, 3 libvirt or the domain unavailable\n"

/* Does the command line ask for a libvirt domain (--domain)? */
bool cmd_migdom_wanted(int argc, char **argv);

int cmd_migrate_domain(int argc, char **argv);

#endif
