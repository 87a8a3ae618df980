/* SPDX-License-Identifier: MIT */
/* mig_dest — reaching a migration's destination backend. `--to PATH`
 * connects to a backend listening at PATH (server-mode ports: testpmd's
 * default, OVS dpdkvhostuser). `--to listen:PATH` is for the backends that
 * connect (client-mode ports: testpmd client=1, OVS dpdkvhostuserclient,
 * the type OVS recommends): vhm listens at PATH, in place of nothing or of a
 * stale socket only, and takes the first backend to connect. The listener
 * then goes with the device (device.h, dev_listener): a reconnect takes the
 * backend's next connection there, and it is closed (its socket file
 * removed) when the device migrates away or stops.
 *
 * Runs on the migration's thread. */
#ifndef VHM_MIG_DEST_H
#define VHM_MIG_DEST_H

#include <stdatomic.h>
#include <stdbool.h>

#include "device.h"
#include "vhu_front.h"

#define MIG_TO_LISTEN  "listen:"  /* prefix of a destination vhm listens at */
#define MIG_TO_MAX     (DEV_PATH_MAX + sizeof(MIG_TO_LISTEN))   /* with the prefix */
#define MIG_ACCEPT_MS  30000      /* a connecting backend gets this long */

/* The socket path of a destination `to`; *listen says whether vhm listens
 * there ("listen:PATH"). */
const char *mig_dest_path(const char *to, bool *listen);

/* While a listening destination is awaited: *cancel (may be NULL) is read
 * every 100 ms (-ECANCELED), and idle(ctx) (may be NULL) runs as often --
 * the migration serves its source's backend channel there. */
struct mig_dest_wait {
	const atomic_bool *cancel;
	void (*idle)(void *ctx);
	void *ctx;
};

/* f connected to the destination `to` (vhost-user timeout timeout_ms): by
 * connecting, or, for "listen:PATH", by listening at PATH (into l, which the
 * caller closes with dev_listener_close unless the device takes it over)
 * until a backend connects, at most MIG_ACCEPT_MS. 0 or -errno with err. */
int mig_dest_connect(struct vhu_front *f, struct dev_listener *l, const char *to,
		     int timeout_ms, const struct mig_dest_wait *w, char *err, size_t errlen);

#endif
