/* SPDX-License-Identifier: MIT */
/* lvd_notify — systemd's service notification protocol for
 * `vhm libvirt-watch` (the unit is Type=notify, contrib/vhm-libvirt-watch.service):
 * READY=1 once the control socket listens, WATCHDOG=1 at half the unit's
 * WatchdogSec from the main loop (a loop stuck for a whole WatchdogSec gets
 * the daemon restarted), STOPPING=1 on the way out, and why it could not
 * start when it could not. The protocol of sd_notify(3), spoken directly:
 * without $NOTIFY_SOCKET (not started by systemd, or a test) every call does
 * nothing, and without $WATCHDOG_USEC there are no pings.
 *
 * Threads: the main thread only (the one running lvd_run). */
#ifndef VHM_LVD_NOTIFY_H
#define VHM_LVD_NOTIFY_H

#include <stdint.h>

/* READY=1 with a STATUS= line for `systemctl status`. */
void lvd_notify_ready(const char *status);
/* STOPPING=1. */
void lvd_notify_stopping(void);
/* Why the daemon could not start (err: one line; rc: -errno), for
 * `systemctl status`: STATUS= and ERRNO=. */
void lvd_notify_failed(const char *err, int rc);

struct lvd_watchdog {
	uint64_t period_ns;   /* between pings: half of $WATCHDOG_USEC; 0: off */
	uint64_t next_ns;     /* the next ping is due (vhm_now_ns clock) */
};

/* Read $WATCHDOG_USEC (and $WATCHDOG_PID) once; the first ping is due at once. */
void lvd_watchdog_init(struct lvd_watchdog *w);
/* When the next ping is due, UINT64_MAX when the watchdog is off. */
uint64_t lvd_watchdog_due(const struct lvd_watchdog *w);
/* Ping when due (now_ns from vhm_now_ns). */
void lvd_watchdog_tick(struct lvd_watchdog *w, uint64_t now_ns);

#endif
