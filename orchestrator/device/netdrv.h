/* SPDX-License-Identifier: MIT */
/* netdrv — vhm's built-in virtio-net guest driver. For each queue pair it
 * keeps the RX ring full of 2 KiB buffers, transmits numbered test frames on
 * TX at a configured rate, and reaps both used rings, counting per queue what
 * went out, what came back, and any frame lost or duplicated (by sequence
 * number). Rings live in guest memory in the device area that the caller
 * reserves; the driver only ever touches guest memory through guest-physical
 * addresses translated by gmem, so that after a migration it continues on
 * the destination's copy (netdrv_rebase).
 *
 * Packet buffers (2 KiB, two to a page) come from a pool per queue and
 * direction, placed one of two ways (enum nd_buffers):
 *   spread   (default) ND_POOL_BUFS buffers per pool, their pages spread
 *            over the whole guest RAM after the device area — one buffer
 *            page every `stride` RAM pages, as a guest kernel's page
 *            allocator hands out pages from anywhere — and recycled in a
 *            shuffled order (xorshift seeded with the device's seed, so a
 *            run is reproducible): the backend's writes land all over
 *            memory, as in a VM. Descriptor ids are taken from their free
 *            lists in a shuffled order too (a guest's ids follow the order
 *            its buffers completed, not the ring's). The memory writer
 *            keeps off these pages (gw_reserve with netdrv_spread). A few
 *            RX descriptors are kept back (netdrv.c, RX_SPARE_*): split
 *            used-ring entries change from one lap of the ring to the next,
 *            and the device's used packed descriptors lie a page away from
 *            the driver's new ones.
 *   compact  ND_RING_SIZE buffers per pool in the device area after the
 *            rings, used in ring order (descriptor id = buffer = ring
 *            slot): the layout before spreading, kept for comparison.
 *
 * Dirty marking: every write the driver makes to guest memory — ring
 * descriptors, avail rings (vring_track), TX frames — is marked right after
 * it in the guest-side bitmap given to netdrv_track (atomic OR, bit n =
 * guest page n), the way KVM's dirty log records a vCPU's writes; the
 * backend's writes (RX buffers, used rings, used packed descriptors) are its
 * own log's to mark.
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
#define ND_POOL_BUFS  2048        /* spread: buffers per pool (queue and direction) */
#define ND_PAGE_BUFS  2           /* 2 KiB buffers per 4 KiB page */
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

/* Frames sent that have neither come back nor been written off. */
static inline uint64_t nd_in_flight(const struct nd_counters *c)
{
	uint64_t back = c->rx_frames + c->rx_lost;

	return c->tx_frames > back ? c->tx_frames - back : 0;
}

/* Nothing in flight: every frame sent came back (or was written off) and
 * every TX buffer was returned used. */
static inline bool nd_quiet(const struct nd_counters *c)
{
	return !nd_in_flight(c) && c->tx_done >= c->tx_frames;
}

enum nd_buffers { ND_BUFFERS_SPREAD, ND_BUFFERS_COMPACT };

/* The buffers of one queue and direction: free ones, and which buffer each
 * descriptor id holds while the device has it. */
struct nd_pool {
	uint32_t slot0;                   /* spread: global buffer number of buffer 0 */
	uint64_t gpa0;                    /* compact: GPA of buffer 0 */
	uint16_t nbufs;                   /* ND_POOL_BUFS spread, ND_RING_SIZE compact */
	uint16_t nfree;
	uint16_t free[ND_POOL_BUFS];
	uint16_t of_id[ND_RING_SIZE];     /* descriptor id -> buffer index */
};

struct nd_queue {
	struct vring rx, tx;
	struct nd_pool rxp, txp;
	uint16_t tx_free[ND_RING_SIZE];   /* TX descriptor ids not in use */
	int tx_nfree;
	uint16_t rx_free[ND_RING_SIZE];   /* RX descriptor ids not posted */
	int rx_nfree;
	uint16_t rx_merge_left;           /* MRG_RXBUF continuation buffers still to come */
	uint32_t rx_asm_len;              /* bytes of the frame gathered so far */
	uint8_t rx_asm[ND_HDR_SIZE + ND_MAX_FRAME];  /* a frame over several buffers */
	uint64_t tx_seq, rx_expect;
	uint64_t tx_credit_start_ns;
	uint64_t tx_credit_sent;
	uint64_t blocked_since_ns;        /* window full since (0: not full) */
	uint64_t off_lo;                  /* written-off seqs: [off_lo, off_lo + ND_RING_SIZE) */
	uint64_t off_seen[ND_RING_SIZE / 64]; /* bit: that written-off frame came back */
	bool off_valid;
	int kick_fd[2], call_fd[2];       /* [0] rx, [1] tx; owned */
	uint64_t rarp_mac;                /* source MAC of the last RARP received in the low
					   * 48 bits, bit 63 once one came (relaxed atomic) */
	struct nd_counters c;
};

/* What netdrv_init lays out. */
struct nd_config {
	int nq;                           /* queue pairs, 1..ND_MAX_QUEUES */
	bool packed, event_idx, mrg_rxbuf;
	uint8_t mac[6];
	enum nd_buffers buffers;
	uint64_t seed;                    /* recycling order (spread) */
	uint64_t area_gpa;                /* rings (and compact buffers) from here */
	uint64_t ram_skip;                /* spread: RAM bytes before the first buffer page
					   * may go (the device area's end) */
};

struct netdrv {
	const struct gmem *mem;
	int nq;
	bool mrg_rxbuf;
	enum nd_buffers buffers;
	uint64_t ram_skip;                /* spread: buffer pages numbered from here (gmem_ram_pfn) */
	uint64_t stride;                  /* spread: a buffer page every stride RAM pages */
	uint64_t rng;                     /* recycling order (xorshift) */
	uint64_t *dirty;                  /* netdrv_track's bitmap, or NULL (not owned) */
	uint8_t mac[6];
	uint32_t frame_size;              /* bytes on the wire, without virtio hdr (atomic) */
	uint64_t pps;                     /* frames/s over all queues; 0 = none (atomic) */
	bool tx_paused;
	uint64_t last_poll_ns;            /* a long gap (paused, starved) restarts loss timers */
	struct nd_queue q[ND_MAX_QUEUES];
};

/* Parse "spread" or "compact"; -EINVAL otherwise. */
int netdrv_parse_buffers(const char *s, enum nd_buffers *out);
const char *netdrv_buffers_name(enum nd_buffers b);
/* Device-area bytes the driver needs for nq queue pairs: rings, and with
 * compact buffers the buffers too. */
uint64_t netdrv_area_bytes(int nq, bool packed, enum nd_buffers buffers);
/* Lay rings and buffers out; create kick/call eventfds. -ENOMEM with err
 * when spread buffers do not fit (a stride of at least 2 RAM pages per
 * buffer page is needed, so the writer keeps pages of its own). */
int netdrv_init(struct netdrv *d, const struct gmem *mem, const struct nd_config *c, char *err,
		size_t errlen);
/* Spread buffers: writer pages (gmem_ram_pfn numbering from ram_skip) k with
 * k % stride == offset and k / stride < count are buffer pages. false when
 * the buffers are compact. */
bool netdrv_spread(const struct netdrv *d, uint64_t *stride, uint64_t *offset,
		   uint64_t *count);
/* Mark the driver's writes in `dirty` (bitmap in the log's layout). */
void netdrv_track(struct netdrv *d, uint64_t *dirty);
/* Set in bm (bit n = guest page n) every page a device may write: each ring
 * whole (used entries, packed descriptors, event areas) and every page of
 * every RX pool (a buffer posted once may have been written late, then
 * reaped and recycled). A frontend that lost its backend cannot tell what
 * that backend wrote outside its log (before logging started, or between
 * closing its connection and unmapping the memory): these pages are copied
 * again. */
void netdrv_mark_device_writable(const struct netdrv *d, uint64_t *bm);
/* What lives at guest page pfn, for a report ("queue 0 RX buffer #17",
 * "used ring of ring 2", ...), and whether the backend writes it (else
 * only the driver does). false: none of the driver's memory. */
bool netdrv_page_what(const struct netdrv *d, uint64_t pfn, char *what, size_t len,
		      bool *backend_writes);
void netdrv_destroy(struct netdrv *d);

/* Post every free RX buffer (call before the device starts the ring). */
void netdrv_fill_rx(struct netdrv *d);
/* Set the transmit rate (frames/s over all queues, 0 stops) and frame size. */
void netdrv_set_traffic(struct netdrv *d, uint64_t pps, uint32_t frame_size);
/* Kick every ring once through fds[ring] (2 * queue + 0 RX, + 1 TX: its
 * kick eventfd, or the one it is about to have), counted as the driver's
 * kicks; by the thread that may write drv (device.h, "Threads"). A ring
 * starts on a kick, and one the driver has no reason to kick (RX buffers
 * posted before the start, EVENT_IDX) would otherwise stay stopped. */
void netdrv_kick_each(struct netdrv *d, const int *fds, int nrings);
/* Read ring's kick eventfd empty (2 * queue + 0 RX, + 1 TX), with the
 * driver no longer running: a ring about to stop keeps no kick a backend
 * could take for a start (a stopped ring starts on a kick, vhost-user.rst
 * "Ring states", and a busy-polling backend leaves the guest's kicks
 * unread). By the thread that may write drv. */
void netdrv_kick_drain(struct netdrv *d, int ring);
/* One pass over every queue: reap, refill, transmit what is due, kick.
 * Returns how much work was done (0: idle). */
int netdrv_poll(struct netdrv *d, uint64_t now_ns);
/* After an idle pass: whether the driver waits on the device, frames in
 * flight that it cannot add to (transmission paused or stopped, or the
 * window full), so it should look again soon; otherwise what is due next
 * can wait for a tick. */
bool netdrv_waits_on_device(const struct netdrv *d);
/* The transmit rate and frame size now (any thread). */
void netdrv_traffic(const struct netdrv *d, uint64_t *pps, uint32_t *frame_size);
/* Totals over queues (snapshot with relaxed atomics, any thread). */
void netdrv_totals(const struct netdrv *d, struct nd_counters *out);
/* Queue qi's counters (relaxed atomics, field by field; any thread). */
void netdrv_queue_counters(const struct netdrv *d, int qi, struct nd_counters *out);
/* The source MAC of the last RARP frame any queue received: false when none
 * came (any thread). */
bool netdrv_rarp_mac(const struct netdrv *d, uint8_t mac[6]);
/* After guest memory moved (migration): re-point rings at the new copy. */
void netdrv_rebase(struct netdrv *d, const struct gmem *mem);

/* The driver's state outside guest memory, for a migration between two vhm
 * processes (the DEVICE section of the stream, docs/stream.md): ring
 * shadows and wrap counters, buffer pools, sequence numbers, written-off
 * windows, counters, traffic settings. Each queue's raw struct bytes behind
 * a small header (magic, queue pairs, struct size, rng, rate): both ends
 * must be the same vhm build, which the stream's version and the size
 * check stand for (about 18 KiB a queue pair).
 * netdrv_state_size: bytes netdrv_state_save writes. Save with the guest
 * paused (datapath out of the rings). */
size_t netdrv_state_size(const struct netdrv *d);
void netdrv_state_save(const struct netdrv *d, uint8_t *out);
/* Load into d, made by netdrv_init with the same configuration on the
 * destination's memory: the rings' places must match; d keeps its own
 * eventfds and ring pointers; timers restart. 0, or -EINVAL with err. */
int netdrv_state_load(struct netdrv *d, const uint8_t *in, size_t len, char *err,
		      size_t errlen);

#endif
