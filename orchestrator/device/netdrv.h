/* SPDX-License-Identifier: MIT */
/* netdrv — vhm's built-in virtio-net guest driver. For each queue pair it
 * keeps the RX ring full of 2 KiB buffers, transmits numbered test frames on
 * TX at a configured rate, and reaps both used rings, counting per queue what
 * went out, what came back, and any frame lost or duplicated (by sequence
 * number). Rings and buffers live in guest memory in the device area that
 * the caller reserves; the driver only ever touches guest memory through
 * guest-physical addresses translated by gmem, so that after a migration it
 * continues on the destination's copy (netdrv_rebase).
 *
 * Threading: netdrv_poll runs on one datapath thread, under the caller's
 * lock (device.h, "Threads"), and so does every other call that changes the
 * driver. Counters are updated with relaxed atomics and may be read from any
 * thread, field by field (netdrv_totals, netdrv_queue_counters); pps and
 * frame_size likewise (netdrv_traffic). Never copy a live struct netdrv. */
#ifndef VHM_NETDRV_H
#define VHM_NETDRV_H

#include <stdbool.h>
#include <stdint.h>

#include "gmem.h"
#include "vring.h"

#define ND_MAX_QUEUES 8
#define ND_RING_SIZE  1024
#define ND_BUF_SIZE   2048
#define ND_HDR_SIZE   12          /* virtio_net_hdr with num_buffers (VERSION_1) */
#define ND_MIN_FRAME  60
#define ND_MAX_FRAME  1514
#define ND_ETHERTYPE  0x88b5      /* IEEE local experimental */
/* A full window of frames in flight with nothing back for this long counts
 * as lost (a backend dropped them: it went away, or had no flows yet), so the
 * window reopens instead of the guest waiting forever for a later frame's
 * sequence gap. A frame that still comes back later counts as rx_late. */
#define ND_LOSS_TIMEOUT_MS 500

struct nd_counters {
	uint64_t tx_frames, tx_bytes;     /* handed to the device */
	uint64_t tx_done;                 /* returned used by the device */
	uint64_t rx_frames, rx_bytes;     /* test frames received back */
	uint64_t rx_lost, rx_dup;         /* sequence gaps / repeats */
	uint64_t rx_late;                 /* came back after being counted lost */
	uint64_t loss_timeouts;           /* windows written off (ND_LOSS_TIMEOUT_MS) */
	uint64_t rx_rarp, rx_other;       /* RARP announces; anything else */
	uint64_t kicks;
};

struct nd_queue {
	struct vring rx, tx;
	uint64_t rx_buf_gpa, tx_buf_gpa;  /* ND_RING_SIZE buffers each */
	uint16_t tx_free[ND_RING_SIZE];
	int tx_nfree;
	uint16_t rx_merge_left;           /* MRG_RXBUF continuation buffers */
	uint64_t tx_seq, rx_expect;
	uint64_t tx_credit_start_ns;
	uint64_t tx_credit_sent;
	uint64_t blocked_since_ns;        /* window full since (0: not full) */
	uint64_t off_lo;                  /* written-off seqs: [off_lo, off_lo + ND_RING_SIZE) */
	uint64_t off_seen[ND_RING_SIZE / 64]; /* bit: that written-off frame came back */
	bool off_valid;
	int kick_fd[2], call_fd[2];       /* [0] rx, [1] tx; owned */
	struct nd_counters c;
};

struct netdrv {
	const struct gmem *mem;
	int nq;
	bool mrg_rxbuf;
	uint8_t mac[6];
	uint32_t frame_size;              /* bytes on the wire, without virtio hdr (atomic) */
	uint64_t pps;                     /* frames/s over all queues; 0 = none (atomic) */
	bool tx_paused;
	uint64_t last_poll_ns;            /* a long gap (paused, starved) restarts loss timers */
	struct nd_queue q[ND_MAX_QUEUES];
};

/* Guest memory the driver needs for nq queue pairs (bytes). */
uint64_t netdrv_area_bytes(int nq, bool packed);
/* Lay rings and buffers out at area_gpa; create kick/call eventfds. */
int netdrv_init(struct netdrv *d, const struct gmem *mem, uint64_t area_gpa, int nq,
		bool packed, bool event_idx, bool mrg_rxbuf, const uint8_t mac[6], char *err,
		size_t errlen);
void netdrv_destroy(struct netdrv *d);

/* Post every free RX buffer (call before the device starts the ring). */
void netdrv_fill_rx(struct netdrv *d);
/* Set the transmit rate (frames/s over all queues, 0 stops) and frame size. */
void netdrv_set_traffic(struct netdrv *d, uint64_t pps, uint32_t frame_size);
/* One pass over every queue: reap, refill, transmit what is due, kick.
 * Returns how much work was done (0: idle). */
int netdrv_poll(struct netdrv *d, uint64_t now_ns);
/* The transmit rate and frame size now (any thread). */
void netdrv_traffic(const struct netdrv *d, uint64_t *pps, uint32_t *frame_size);
/* Totals over queues (snapshot with relaxed atomics, any thread). */
void netdrv_totals(const struct netdrv *d, struct nd_counters *out);
/* Queue qi's counters (relaxed atomics, field by field; any thread). */
void netdrv_queue_counters(const struct netdrv *d, int qi, struct nd_counters *out);
/* After guest memory moved (migration): re-point rings at the new copy. */
void netdrv_rebase(struct netdrv *d, const struct gmem *mem);

#endif
