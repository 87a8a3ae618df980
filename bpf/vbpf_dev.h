/* SPDX-License-Identifier: MIT */
/* vbpf_dev — the probes of a running device's backend, as the device
 * publishes them: `vhm run --trace-backend` opens one for the backend's pid
 * and puts vbpf_dev_json() as "bpf" into its status and "stats" events.
 *
 * A handle exists even when tracing failed: it then holds the one-line
 * reason, and its JSON is {"error": REASON}, so the device keeps running and
 * says why it has no numbers. Counters are cumulative since the probes
 * attached (after the device's set-up: set-up messages are not in them). */
#ifndef VHM_VBPF_DEV_H
#define VHM_VBPF_DEV_H

#include <jansson.h>
#include <stdbool.h>

/* What --trace-backend traces when given no list: the control plane with its
 * requests, and kicks. uprobe (a trap per burst call, costly at line rate:
 * bench bpf) is opt-in, as for `vhm trace`. */
#define VBPF_DEV_DEFAULT_PROBES "ctl,kick"

struct vbpf_dev;

/* Start attaching `probes` (a vbpf mask) to the backend process `pid`, on a
 * thread of its own (loading takes 0.1 s to seconds; the caller's loop goes
 * on). A negative pid is the -errno of finding it and makes a failed handle.
 * A failure is reported once on stderr ("vhm run NAME: not tracing the
 * backend: REASON") and in the JSON. Returns 0 when loading started, else
 * -errno; *out is NULL only on -ENOMEM. The caller owns *out and frees it
 * with vbpf_dev_close() (which waits for a load in progress). */
int vbpf_dev_open(struct vbpf_dev **out, int pid, unsigned probes, const char *name);
/* The reason tracing failed, or NULL while it works or is loading. */
const char *vbpf_dev_error(const struct vbpf_dev *t);
/* The "bpf" object (new reference): {"pid": N, "loading": true} until the
 * probes are on, {"error": REASON} if they could not be, else the counters.
 * With `rates`, also the per-second rates since the previous call with rates
 * (the device's stats interval). Call from one thread. */
json_t *vbpf_dev_json(struct vbpf_dev *t, bool rates);
void vbpf_dev_close(struct vbpf_dev *t);

#endif
