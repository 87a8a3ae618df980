/* SPDX-License-Identifier: MIT */
/* testbe_dp — the test backend's datapath (--loopback): io-forward loopback
 * of each queue pair, TX ring 2q+1 to RX ring 2q, on one busy-polling
 * thread (kick fds are ignored; the frontend polls used rings too, so call
 * fds are never signalled).
 *
 * Per frame: take a TX buffer (a split descriptor chain, or one packed
 * descriptor), take one RX buffer, copy the frame (virtio-net header
 * included, num_buffers = 1), mark the RX buffer used with the length
 * written and the TX buffer used with length 0. Every guest-memory write is
 * logged while LOG_ALL is on: RX buffer bytes at their GPA, split used-ring
 * entries and idx at log_guest_addr + offset (rings set up with
 * VHU_VRING_F_LOG), packed used descriptors at their own GPA.
 *
 * --skip-log PERCENT leaves that share of pages unlogged: a page is skipped
 * when a hash of its page number falls below PERCENT of 100, so every write
 * to it goes unlogged and no logged write to the same page ever hides the
 * skipped one — which makes "a verifier reports every skipped page" a
 * testable statement. Each skipped page is printed once on stderr:
 *     vhm-testbe: skip-log gpa 0x1234000
 * (the page's guest-physical address).
 *
 * --drop-frames N takes the first N frames off the TX rings and returns them
 * used without forwarding them, as a vswitch does before its flows exist.
 *
 * --log-fault FAULT (testbe.h, TBE_LOG_FAULTS) logs wrongly in one way:
 *   nothing      no write is logged;
 *   used         split used-ring entries and idx are not logged;
 *   off-by-one   each write marks the page after its own;
 *   late         marks are held back (DP_LATE_MS) and logged only when more
 *                traffic comes after that, or DP_LATE_MS after a ring stopped —
 *                after GET_VRING_BASE was answered, so the frontend's last
 *                sync misses the writes made just before the stop;
 *   mrg          with MRG_RXBUF, every frame goes into two RX buffers
 *                (num_buffers 2: the first DP_MRG_FIRST bytes, then the
 *                rest), and the continuation buffer is not logged;
 *   packed-desc  used packed descriptors are not logged. */
#include "testbe.h"
#include "rarp_frame.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DP_BURST         64          /* frames per queue pair per pass */
#define DP_IDLE_NS       50000       /* sleep when a pass found nothing */
#define DP_PAGE          4096u
#define DP_SKIP_PAGES    (1u << 23)  /* pages whose skips are remembered: 32 GiB */
#define DESC_F_NEXT      1u
#define DESC_F_WRITE     2u
#define PACKED_F_AVAIL   (1u << 7)
#define PACKED_F_USED    (1u << 15)
#define NET_HDR_NUM_BUFS 10          /* offset of num_buffers in virtio_net_hdr */
#define TBE_NET_HDR      12          /* virtio_net_hdr with num_buffers (VERSION_1) */
#define DP_LATE_MS       100         /* --log-fault late: how long marks are held */
#define DP_LATE_MAX      65536       /* pages held at most (then logged at once) */
#define DP_MRG_FIRST     30          /* --log-fault mrg: bytes in the first buffer */
#define DP_FRAME_MAX     4096        /* a frame gathered from a TX chain */

/* What a guest-memory write is, for --log-fault. */
enum dp_write { DP_W_BUF, DP_W_USED, DP_W_PDESC, DP_W_MRG };

struct dp_split_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct dp_packed_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

struct dp_ring {
	bool running;
	bool packed;
	uint16_t num;
	uint16_t last_avail, last_used;   /* split: free-running; packed: slot */
	bool avail_wrap, used_wrap;       /* packed wrap counters */
	uint8_t *desc, *avail, *used;     /* our mapping */
	uint64_t desc_gpa;                /* packed: where used descriptors are logged */
	uint64_t used_log;                /* split: log_guest_addr */
	bool log_used;                    /* VHU_VRING_F_LOG */
};

/* A mark held back (--log-fault late): the page, and when it was written. */
struct dp_mark {
	uint64_t page, at_ns;
};

struct tbe_dp {
	pthread_t thread;
	struct dp_ring r[TBE_MAX_RINGS];
	uint8_t *skip_seen;               /* bitmap: skipped pages already printed */
	uint64_t dropped;                 /* frames --drop-frames took so far */
	struct dp_mark *late;             /* --log-fault late: pages held back, a ring of */
	size_t late_head, nlate;          /* DP_LATE_MAX: the oldest at late_head */
	uint64_t stopped_ns;              /* when a running ring last stopped */
};

static uint64_t dp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ x >> 30) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ x >> 27) * 0x94d049bb133111ebull;
	return x ^ x >> 31;
}

static bool page_skipped(const struct tbe *t, uint64_t page)
{
	return t->opt.skip_log && mix(page) % 100 < t->opt.skip_log;
}

/* Does --log-fault leave this kind of write unlogged? */
static bool fault_skips(const struct tbe *t, enum dp_write w)
{
	switch (t->opt.log_fault) {
	case TBE_LF_NOTHING:     return true;
	case TBE_LF_USED:        return w == DP_W_USED;
	case TBE_LF_MRG:         return w == DP_W_MRG;
	case TBE_LF_PACKED_DESC: return w == DP_W_PDESC;
	default:                 return false;
	}
}

/* Log the held marks made at or before upto_ns (--log-fault late); the
 * younger ones stay held. */
static void late_flush(struct tbe *t, uint64_t upto_ns)
{
	struct tbe_dp *dp = t->dp;

	for (; dp->nlate && dp->late[dp->late_head].at_ns <= upto_ns; dp->nlate--) {
		tbe_log_write(t, dp->late[dp->late_head].page * DP_PAGE, 1);
		dp->late_head = (dp->late_head + 1) % DP_LATE_MAX;
	}
}

/* Log one page, or hold it back (late), or print it skipped (--skip-log). */
static void log_page(struct tbe *t, uint64_t p)
{
	if (t->opt.log_fault == TBE_LF_OFF_BY_ONE)
		p++;
	if (page_skipped(t, p)) {
		if (p < DP_SKIP_PAGES && !(t->dp->skip_seen[p / 8] & (1u << (p % 8)))) {
			t->dp->skip_seen[p / 8] |= (uint8_t)(1u << (p % 8));
			fprintf(stderr, "vhm-testbe: skip-log gpa 0x%llx\n",
				(unsigned long long)(p * DP_PAGE));
		}
		return;
	}
	if (t->opt.log_fault != TBE_LF_LATE) {
		tbe_log_write(t, p * DP_PAGE, 1);
		return;
	}
	if (t->dp->nlate == DP_LATE_MAX)
		late_flush(t, UINT64_MAX);
	t->dp->late[(t->dp->late_head + t->dp->nlate++) % DP_LATE_MAX] =
		(struct dp_mark){ p, dp_now_ns() };
}

/* Log guest-physical [gpa, gpa + len) page by page, as the options say. */
static void dp_log(struct tbe *t, uint64_t gpa, uint64_t len, enum dp_write w)
{
	if (!len || !t->log || !(t->features & (1ull << VHU_F_LOG_ALL)) || fault_skips(t, w))
		return;
	/* the data is visible before the bit that says it changed */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (uint64_t p = gpa / DP_PAGE; p <= (gpa + len - 1) / DP_PAGE; p++)
		log_page(t, p);
}

/* --log-fault late: a held mark goes out once traffic continues DP_LATE_MS
 * after it was made, and all of them DP_LATE_MS after a ring stopped. The
 * writes of the last DP_LATE_MS before a stop are always still held when
 * GET_VRING_BASE is answered (a flush on the last busy pass before it never
 * takes them). */
static void late_tick(struct tbe *t, int work)
{
	uint64_t now, hold = DP_LATE_MS * 1000000ull, stopped = t->dp->stopped_ns;

	if (!t->dp->nlate)
		return;
	now = dp_now_ns();
	if (stopped && now - stopped >= hold && stopped > t->dp->late[t->dp->late_head].at_ns)
		late_flush(t, UINT64_MAX);
	else if (work)
		late_flush(t, now - hold);
}

/* Guest-physical address of the frontend virtual address uva, or 0. */
static uint64_t uva_to_gpa(const struct tbe *t, uint64_t uva)
{
	for (int i = 0; i < t->nregions; i++) {
		const struct vhu_mem_region *r = &t->regions[i].r;

		if (uva >= r->userspace_addr && uva - r->userspace_addr < r->memory_size)
			return r->guest_phys_addr + (uva - r->userspace_addr);
	}
	return 0;
}

/* ---- ring state from the message handlers' table ----------------------------- */

static bool ring_map(struct tbe *t, struct tbe_ring *q, struct dp_ring *d, bool packed)
{
	size_t n = q->num;

	d->desc = tbe_uva_to_va(t, q->addr.desc, 16 * n);
	d->avail = tbe_uva_to_va(t, q->addr.avail, packed ? 4 : 4 + 2 * n + 2);
	d->used = tbe_uva_to_va(t, q->addr.used, packed ? 4 : 4 + 8 * n + 2);
	d->desc_gpa = uva_to_gpa(t, q->addr.desc);
	d->used_log = q->addr.log_guest_addr;
	d->log_used = q->addr.flags & VHU_VRING_F_LOG;
	return d->desc && d->avail && d->used;
}

/* May a ring that is not running start? With protocol feature STATUS only
 * once the frontend set DRIVER_OK, as DPDK's virtio_is_ready (and virtio
 * 1.2, 2.1.2: no buffer consumed before DRIVER_OK); a running ring does not
 * stop on a status (DPDK's neither), only on GET_VRING_BASE. */
static bool may_start(const struct tbe *t)
{
	return !((t->protocol >> VHU_PF_STATUS) & 1) || (t->status & 4);
}

void tbe_dp_refresh(struct tbe *t)
{
	bool packed = (t->features >> VHU_F_RING_PACKED) & 1;

	if (!t->dp)
		return;
	for (int i = 0; i < TBE_MAX_RINGS; i++) {
		struct tbe_ring *q = &t->rings[i];
		struct dp_ring *d = &t->dp->r[i];
		bool ok = q->num && q->has_addr && q->started && q->enabled &&
			  (d->running || may_start(t)) && ring_map(t, q, d, packed);

		if (!ok) {
			if (d->running)
				t->dp->stopped_ns = dp_now_ns();
			d->running = false;
			continue;
		}
		if (d->running && d->packed == packed && d->num == q->num)
			continue;           /* still running: keep its indices */
		d->packed = packed;
		d->num = (uint16_t)q->num;
		d->last_avail = (uint16_t)(packed ? q->base & 0x7fff : q->base);
		d->last_used = (uint16_t)(packed ? (q->base >> 16) & 0x7fff : q->base);
		d->avail_wrap = packed ? (q->base >> 15) & 1 : false;
		d->used_wrap = packed ? q->base >> 31 : false;
		d->running = true;
	}
}

/* ---- split rings ------------------------------------------------------------------- */

/* The head of the next available chain, or -1. */
static int split_next(struct dp_ring *d)
{
	uint16_t idx = __atomic_load_n((uint16_t *)(d->avail + 2), __ATOMIC_ACQUIRE);

	if (idx == d->last_avail)
		return -1;
	return ((uint16_t *)(d->avail + 4))[d->last_avail % d->num] % d->num;
}

static void split_used(struct tbe *t, struct dp_ring *d, uint32_t id, uint32_t len)
{
	size_t off = 4 + 8 * (size_t)(d->last_used % d->num);
	uint32_t e[2] = { id, len };

	memcpy(d->used + off, e, sizeof(e));
	if (d->log_used)
		dp_log(t, d->used_log + off, sizeof(e), DP_W_USED);
	d->last_used++;
}

static void split_publish(struct tbe *t, struct dp_ring *d)
{
	__atomic_store_n((uint16_t *)(d->used + 2), d->last_used, __ATOMIC_RELEASE);
	if (d->log_used)
		dp_log(t, d->used_log + 2, 2, DP_W_USED);
}

/* Copy the TX chain at head into dst (room bytes). Bytes copied, or -1. */
static int split_gather(struct tbe *t, struct dp_ring *d, int head, uint8_t *dst, size_t room)
{
	const struct dp_split_desc *desc = (const struct dp_split_desc *)d->desc;
	size_t got = 0;
	unsigned i = (unsigned)head, hops = 0;

	for (;;) {
		const struct dp_split_desc *e = &desc[i];
		size_t n = e->len < room - got ? e->len : room - got;
		const void *src = tbe_gpa_to_va(t, e->addr, n);

		if (!src || hops++ > d->num)
			return -1;
		memcpy(dst + got, src, n);
		got += n;
		if (!(e->flags & DESC_F_NEXT))
			return (int)got;
		i = e->next % d->num;
	}
}

/* ---- packed rings ------------------------------------------------------------------ */

static struct dp_packed_desc *packed_next(struct dp_ring *d)
{
	struct dp_packed_desc *e = (struct dp_packed_desc *)d->desc + d->last_avail;
	uint16_t f = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
	bool avail = f & PACKED_F_AVAIL, used = f & PACKED_F_USED;

	return avail == d->avail_wrap && used != d->avail_wrap ? e : NULL;
}

static void packed_take(struct dp_ring *d)
{
	if (++d->last_avail == d->num) {
		d->last_avail = 0;
		d->avail_wrap = !d->avail_wrap;
	}
}

static void packed_used(struct tbe *t, struct dp_ring *d, uint16_t id, uint32_t len)
{
	struct dp_packed_desc *e = (struct dp_packed_desc *)d->desc + d->last_used;
	uint16_t flags = d->used_wrap ? PACKED_F_AVAIL | PACKED_F_USED : 0;

	e->id = id;
	e->len = len;
	__atomic_store_n(&e->flags, flags, __ATOMIC_RELEASE);
	if (d->desc_gpa)
		dp_log(t, d->desc_gpa + 16ull * d->last_used, 16, DP_W_PDESC);
	if (++d->last_used == d->num) {
		d->last_used = 0;
		d->used_wrap = !d->used_wrap;
	}
}

/* ---- forwarding ------------------------------------------------------------------- */

static void set_num_buffers(const struct tbe *t, uint8_t *buf, uint32_t len)
{
	uint16_t one = 1;

	if (((t->features >> VHU_NET_F_MRG_RXBUF) & 1) && len >= NET_HDR_NUM_BUFS + 2)
		memcpy(buf + NET_HDR_NUM_BUFS, &one, 2);
}

/* --drop-frames: should the next frame vanish? */
static bool drop_next(struct tbe *t)
{
	if (t->dp->dropped >= t->opt.drop_frames)
		return false;
	t->dp->dropped++;
	return true;
}

/* --log-fault mrg with MRG_RXBUF negotiated: frames take two RX buffers. */
static bool mrg_split(const struct tbe *t)
{
	return t->opt.log_fault == TBE_LF_MRG && ((t->features >> VHU_NET_F_MRG_RXBUF) & 1);
}

/* Write frame[0, n) into two RX buffers (dst[k], room[k] bytes; NULL: a bad
 * buffer), num_buffers 2 in the first; the continuation is logged as a
 * DP_W_MRG write. Bytes written into each into len[]. */
static void mrg_write(struct tbe *t, const uint8_t *frame, uint32_t n, uint8_t *dst[2],
		      const uint32_t room[2], const uint64_t gpa[2], uint32_t len[2])
{
	uint16_t two = 2;

	len[0] = n < DP_MRG_FIRST ? n : DP_MRG_FIRST;
	len[1] = n - len[0];
	for (int k = 0; k < 2; k++) {
		if (!dst[k] || len[k] > room[k]) {
			len[k] = 0;         /* a bad buffer: handed back empty */
			continue;
		}
		if (len[k])
			memcpy(dst[k], frame + (k ? len[0] : 0), len[k]);
	}
	if (len[0] >= NET_HDR_NUM_BUFS + 2)
		memcpy(dst[0] + NET_HDR_NUM_BUFS, &two, 2);
	dp_log(t, gpa[0], len[0], DP_W_BUF);
	dp_log(t, gpa[1], len[1], DP_W_MRG);
}

/* Split: a frame from the TX chain at th into the next two RX buffers. */
static int forward_split_mrg(struct tbe *t, struct dp_ring *tx, struct dp_ring *rx, int th)
{
	const struct dp_split_desc *desc = (const struct dp_split_desc *)rx->desc;
	uint16_t idx = __atomic_load_n((uint16_t *)(rx->avail + 2), __ATOMIC_ACQUIRE);
	uint8_t frame[DP_FRAME_MAX], *dst[2];
	uint32_t room[2], len[2];
	uint64_t gpa[2];
	int heads[2], n;

	if ((uint16_t)(idx - rx->last_avail) < 2)
		return 0;
	for (int k = 0; k < 2; k++) {
		const struct dp_split_desc *e;

		heads[k] = ((uint16_t *)(rx->avail + 4))[(uint16_t)(rx->last_avail + k) % rx->num] %
			   rx->num;
		e = &desc[heads[k]];
		gpa[k] = e->addr;
		room[k] = e->len;
		dst[k] = e->flags & DESC_F_WRITE ? tbe_gpa_to_va(t, e->addr, e->len) : NULL;
	}
	n = split_gather(t, tx, th, frame, sizeof(frame));
	mrg_write(t, frame, n < 0 ? 0 : (uint32_t)n, dst, room, gpa, len);
	tx->last_avail++;
	rx->last_avail += 2;
	split_used(t, rx, (uint32_t)heads[0], len[0]);
	split_used(t, rx, (uint32_t)heads[1], len[1]);
	split_used(t, tx, (uint32_t)th, 0);
	return 1;
}

/* One frame from tx to rx. 1 forwarded, 0 nothing to do (or no RX room). */
static int forward_split(struct tbe *t, struct dp_ring *tx, struct dp_ring *rx)
{
	const struct dp_split_desc *rd;
	int th = split_next(tx), rh;
	uint8_t *dst;
	int n;

	if (th >= 0 && drop_next(t)) {
		tx->last_avail++;
		split_used(t, tx, (uint32_t)th, 0);
		return 1;
	}
	if (th < 0 || (rh = split_next(rx)) < 0)
		return 0;
	if (mrg_split(t))
		return forward_split_mrg(t, tx, rx, th);
	rd = (const struct dp_split_desc *)rx->desc + rh;
	dst = tbe_gpa_to_va(t, rd->addr, rd->len);
	n = dst && (rd->flags & DESC_F_WRITE) ? split_gather(t, tx, th, dst, rd->len) : -1;
	if (n < 0)
		n = 0;              /* a bad buffer: hand both back empty */
	set_num_buffers(t, dst, (uint32_t)n);
	dp_log(t, rd->addr, (uint64_t)n, DP_W_BUF);
	tx->last_avail++;
	rx->last_avail++;
	split_used(t, rx, (uint32_t)rh, (uint32_t)n);
	split_used(t, tx, (uint32_t)th, 0);
	return 1;
}

/* Packed: the TX descriptor te into the next two RX descriptors. */
static int forward_packed_mrg(struct tbe *t, struct dp_ring *tx, struct dp_ring *rx,
			      struct dp_packed_desc *te)
{
	uint16_t save = rx->last_avail, rid[2], tid = te->id;
	bool save_wrap = rx->avail_wrap;
	uint8_t *dst[2];
	const uint8_t *src = tbe_gpa_to_va(t, te->addr, te->len);
	uint32_t room[2], len[2], n = 0;
	uint64_t gpa[2];

	for (int k = 0; k < 2; k++) {
		struct dp_packed_desc *re = packed_next(rx);

		if (!re) {
			rx->last_avail = save;   /* not two free: wait for them */
			rx->avail_wrap = save_wrap;
			return 0;
		}
		rid[k] = re->id;
		gpa[k] = re->addr;
		room[k] = re->len;
		dst[k] = re->flags & DESC_F_WRITE ? tbe_gpa_to_va(t, re->addr, re->len) : NULL;
		packed_take(rx);
	}
	if (src)
		n = te->len < DP_FRAME_MAX ? te->len : DP_FRAME_MAX;
	mrg_write(t, src, n, dst, room, gpa, len);
	packed_take(tx);
	packed_used(t, rx, rid[0], len[0]);
	packed_used(t, rx, rid[1], len[1]);
	packed_used(t, tx, tid, 0);
	return 1;
}

static int forward_packed(struct tbe *t, struct dp_ring *tx, struct dp_ring *rx)
{
	struct dp_packed_desc *te = packed_next(tx), *re;
	uint16_t tid, rid;
	uint8_t *dst;
	const uint8_t *src;
	uint32_t n = 0;

	if (te && drop_next(t)) {
		tid = te->id;
		packed_take(tx);
		packed_used(t, tx, tid, 0);
		return 1;
	}
	if (!te || !(re = packed_next(rx)))
		return 0;
	if (mrg_split(t))
		return forward_packed_mrg(t, tx, rx, te);
	tid = te->id;
	rid = re->id;
	dst = tbe_gpa_to_va(t, re->addr, re->len);
	src = tbe_gpa_to_va(t, te->addr, te->len);
	if (dst && src && (re->flags & DESC_F_WRITE)) {
		n = te->len < re->len ? te->len : re->len;
		memcpy(dst, src, n);
		set_num_buffers(t, dst, n);
		dp_log(t, re->addr, n, DP_W_BUF);
	}
	packed_take(tx);
	packed_take(rx);
	packed_used(t, rx, rid, n);
	packed_used(t, tx, tid, 0);
	return 1;
}

/* The last SEND_RARP's announce into the next RX buffer of rx (one buffer,
 * logged like any frame). false when no buffer is free yet. */
static bool deliver_rarp(struct tbe *t, struct dp_ring *rx)
{
	uint8_t frame[RARP_FRAME_LEN], *dst;
	uint32_t n = TBE_NET_HDR + RARP_FRAME_LEN;
	uint64_t gpa;
	uint32_t room;
	uint16_t id;
	int rh;

	if (rx->packed) {
		struct dp_packed_desc *re = packed_next(rx);

		if (!re)
			return false;
		id = re->id, gpa = re->addr, room = re->len;
		packed_take(rx);
	} else {
		const struct dp_split_desc *rd;

		if ((rh = split_next(rx)) < 0)
			return false;
		rd = (const struct dp_split_desc *)rx->desc + rh;
		id = (uint16_t)rh, gpa = rd->addr, room = rd->len;
		rx->last_avail++;
	}
	dst = room >= n ? tbe_gpa_to_va(t, gpa, n) : NULL;
	if (dst && rarp_frame_build(frame, sizeof(frame), t->rarp[t->nrarp - 1],
				    RARP_VLAN_NONE) == RARP_FRAME_LEN) {
		memset(dst, 0, TBE_NET_HDR);
		memcpy(dst + TBE_NET_HDR, frame, RARP_FRAME_LEN);
		set_num_buffers(t, dst, n);
		dp_log(t, gpa, n, DP_W_BUF);
	} else {
		n = 0;
	}
	if (rx->packed) {
		packed_used(t, rx, id, n);
	} else {
		split_used(t, rx, id, n);
		split_publish(t, rx);
	}
	return true;
}

/* What GET_VRING_BASE answers: split, the avail index; packed, avail index
 * and wrap counter in bits 0-15, used index and wrap counter in bits 16-31. */
static uint32_t dp_base(const struct dp_ring *d)
{
	if (!d->packed)
		return d->last_avail;
	return (uint32_t)(d->last_avail | d->avail_wrap << 15) |
	       (uint32_t)(d->last_used | d->used_wrap << 15) << 16;
}

/* One pass over every queue pair; frames forwarded. Holds the lock. */
static int pass(struct tbe *t)
{
	int work = 0;

	for (int q = 0; 2 * q + 1 < TBE_MAX_RINGS; q++) {
		struct dp_ring *rx = &t->dp->r[2 * q], *tx = &t->dp->r[2 * q + 1];
		int n = 0;

		if (!rx->running || !tx->running)
			continue;
		if (q == 0 && t->rarp_pending && deliver_rarp(t, rx)) {
			t->rarp_pending = false;
			n++;
		}
		while (n < DP_BURST && (rx->packed ? forward_packed(t, tx, rx) :
					forward_split(t, tx, rx)))
			n++;
		if (n && !rx->packed) {
			split_publish(t, rx);
			split_publish(t, tx);
		}
		/* GET_VRING_BASE answers with what we consumed */
		t->rings[2 * q].base = dp_base(rx);
		t->rings[2 * q + 1].base = dp_base(tx);
		work += n;
	}
	return work;
}

static void *dp_main(void *arg)
{
	struct tbe *t = arg;
	const struct timespec idle = { 0, DP_IDLE_NS };

	for (;;) {
		int work;

		tbe_dp_lock(t);
		work = pass(t);
		late_tick(t, work);
		tbe_dp_unlock(t);
		if (!work)
			nanosleep(&idle, NULL);
	}
	return NULL;
}

void tbe_dp_lock(struct tbe *t)
{
	pthread_mutex_lock(&t->dp_lock);
}

void tbe_dp_unlock(struct tbe *t)
{
	pthread_mutex_unlock(&t->dp_lock);
}

int tbe_dp_start(struct tbe *t)
{
	int rc;

	pthread_mutex_init(&t->dp_lock, NULL);
	if (!t->opt.loopback)
		return 0;
	t->dp = calloc(1, sizeof(*t->dp));
	if (!t->dp || !(t->dp->skip_seen = calloc(DP_SKIP_PAGES / 8, 1)) ||
	    !(t->dp->late = calloc(DP_LATE_MAX, sizeof(*t->dp->late)))) {
		fprintf(stderr, "vhm-testbe: datapath: out of memory\n");
		return -ENOMEM;
	}
	rc = pthread_create(&t->dp->thread, NULL, dp_main, t);
	if (rc) {
		fprintf(stderr, "vhm-testbe: datapath thread: %s\n", strerror(rc));
		return -rc;
	}
	return 0;
}
