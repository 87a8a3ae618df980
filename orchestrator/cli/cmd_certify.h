/* SPDX-License-Identifier: MIT */
/* cmd_certify — `vhm certify`: the command line and the output of the
 * migration-readiness checks of orchestrator/certify (docs/certify.md). */
#ifndef VHM_CMD_CERTIFY_H
#define VHM_CMD_CERTIFY_H

#define CERTIFY_USAGE \
	"usage: vhm certify SOCKET [SOCKET2] [--queues N] [--ring split|packed|both]\n" \
	"       [--json] [--only CHECK,...] [--restart-cmd CMD] [--timeout DUR]\n" \
	"  Check that the vhost-user backend at SOCKET can be live-migrated: a fixed\n" \
	"  list of checks, each pass, fail or skip with its evidence (docs/certify.md).\n" \
	"  SOCKET2 is a second instance of the same backend, for the checks that\n" \
	"  migrate (without it they are skipped). No VM is needed: vhm plays the\n" \
	"  frontend and the guest.\n" \
	"  checks: 1 features, 2 log, 3 stop, 4 restart, 5 reconnect, 6 rarp,\n" \
	"          7 timing, 8 hostile\n" \
	"  --queues N: the multi-queue layouts use N queue pairs (default 2; 1..8)\n" \
	"  --ring: which ring layouts to certify (default both)\n" \
	"  --json: one JSON object with every check, its evidence and figures\n" \
	"  --only: run these checks alone (names or numbers, comma-separated)\n" \
	"  --restart-cmd: a shell command that restarts the backend at SOCKET, for\n" \
	"        the reconnect check (skipped without it)\n" \
	"  --timeout: how long to wait for each vhost-user reply (default 5s)\n" \
	"  A skipped check does not fail the run; the summary line counts skips.\n" \
	"  exit: 0 no check failed, 1 a check failed, 2 usage, 3 a backend could not\n" \
	"        be reached\n"

int cmd_certify(int argc, char **argv);

#endif
