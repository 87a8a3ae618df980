/* SPDX-License-Identifier: MIT */
/* mig_sout — the source's side of a migration stream (docs/stream.md): a
 * TCP connection to a `vhm run --incoming` destination (and with several
 * connections, the page connections of mig_schan.h beside it, each pass
 * sent on all of them at once), and the pieces the migration sends through
 * it in the order the format prescribes:
 *
 *   open       connect, header, MEMORY (the device's layout), then wait
 *              for READY (the destination's memory and backend are set);
 *   all/dirty  pre-copy: every page, then the pages of a dirty bitmap, as
 *              PAGES and ZERO runs (mig_smem), PASS after each pass;
 *   device     the DEVICE section once the source's rings are stopped:
 *              features, ring bases, MAC, and the guest driver's and
 *              writer's state (dev_state_save);
 *   switchover SWITCHOVER with the source memory's digest, then wait for
 *              READY: the destination checked everything and can start;
 *   go         GO -- the commit point: before it the device is the
 *              source's (any failure rolls back), from it the destination's;
 *              then wait for RUNNING (without it, nobody knows: the source
 *              must not resume);
 *   end        END (the checksum), after RUNNING.
 *
 * A FAILED answer, a closed or silent connection (every wait is bounded by
 * the connection's timeout) fail the call with err naming it; a FAILED
 * answer's text is read even when it is what broke a write. mig_run
 * rolls back on any failure before GO, and never after it.
 *
 * Runs on the migration's thread, which owns the connection; the byte
 * counters (net.bytes_out) may be read by others (relaxed atomics). */
#ifndef VHM_MIG_SOUT_H
#define VHM_MIG_SOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "gmem.h"
#include "mig_schan.h"
#include "mig_smem.h"
#include "mig_snet.h"
#include "mig_stream.h"

struct mig_sout {
	struct mig_snet net;       /* the main connection (connection 0) */
	struct mig_senc enc;
	struct mig_smem_tx tx;
	struct mig_schan_out chans;   /* connections 1..conns-1 (mig_schan.h) */
	struct mig_snet_cap cap;   /* the bandwidth cap, over all connections */
	uint32_t passes;           /* PASS sections sent */
	bool connected, tx_made;
	char err[320];
};

/* Connect to `to` ("tcp:HOST:PORT"), send the header and mem's layout
 * (with conns > 1: CHANNELS, and connections 1..conns-1 opened with their
 * hello), and wait for READY. bandwidth caps the bytes/s written on all
 * connections together (0: none); timeout_ms bounds each wait for the
 * destination. tick (may be NULL) is mig_smem's per-run callback
 * (mig_smem.h), on the migration's thread; with several connections it is
 * also called, with the pages the others sent, while it waits for them.
 * 0 or -errno with s->err. */
int mig_sout_open(struct mig_sout *s, const char *to, const struct gmem *mem,
		  uint64_t bandwidth, int conns, int timeout_ms,
		  int (*tick)(void *ctx, uint32_t pages), void *tick_ctx);
/* Every page of guest memory (the first pass); pages with data sent. */
int mig_sout_all(struct mig_sout *s, uint64_t *sent);
/* The pages set in bm, clearing each bit as its page goes; pages sent
 * (with data or zero). */
int mig_sout_dirty(struct mig_sout *s, uint64_t *bm, size_t nwords, uint64_t *sent);
/* A pre-copy pass ended. */
int mig_sout_pass(struct mig_sout *s);
/* The DEVICE section: d's features, nrings bases, mac, and its driver's
 * and writer's state (guest paused). */
int mig_sout_device(struct mig_sout *s, struct device *d, const uint32_t *bases,
		    const uint8_t mac[6]);
/* SWITCHOVER with digest, then the destination's answer: 0 on READY (it
 * can start and has not), or -errno with s->err (FAILED: -EREMOTEIO and its
 * text). */
int mig_sout_switchover(struct mig_sout *s, uint64_t digest);
/* GO (the commit point), then the answer: 0 on RUNNING, or -errno with
 * s->err -- from here a failure means the destination's state is unknown. */
int mig_sout_go(struct mig_sout *s);
/* END: the stream's checksum. */
int mig_sout_end(struct mig_sout *s);
/* Has the destination closed the connection or said something (a FAILED
 * answer) while nothing was asked? Non-blocking. */
bool mig_sout_gone(struct mig_sout *s);
/* Bytes written to the connection so far. */
uint64_t mig_sout_bytes(const struct mig_sout *s);
/* Connections open to the destination: the main one and the page
 * connections; 0 before and after. The migration's thread. */
int mig_sout_conns(const struct mig_sout *s);
/* Bytes written on connection i (0: the main one) so far. */
uint64_t mig_sout_conn_bytes(const struct mig_sout *s, int i);
void mig_sout_close(struct mig_sout *s);

#endif
