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
 * used without forwarding them, as a vswitch does before its flows exist. */
#include "testbe.h"

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

struct tbe_dp {
	pthread_t thread;
	struct dp_ring r[TBE_MAX_RINGS];
	uint8_t *skip_seen;               /* bitmap: skipped pages already printed */
	uint64_t dropped;                 /* frames --drop-frames took so far */
};

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

/* Log guest-physical [gpa, gpa + len) page by page, leaving out skipped pages. */
static void dp_log(struct tbe *t, uint64_t gpa, uint64_t len)
{
	if (!len || !t->log || !(t->features & (1ull << VHU_F_LOG_ALL)))
		return;
	/* the data is visible before the bit that says it changed */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (uint64_t p = gpa / DP_PAGE; p <= (gpa + len - 1) / DP_PAGE; p++) {
		if (!page_skipped(t, p)) {
			tbe_log_write(t, p * DP_PAGE, 1);
			continue;
		}
		if (p < DP_SKIP_PAGES && !(t->dp->skip_seen[p / 8] & (1u << (p % 8)))) {
			t->dp->skip_seen[p / 8] |= (uint8_t)(1u << (p % 8));
			fprintf(stderr, "vhm-testbe: skip-log gpa 0x%llx\n",
				(unsigned long long)(p * DP_PAGE));
		}
	}
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

void tbe_dp_refresh(struct tbe *t)
{
	bool packed = (t->features >> VHU_F_RING_PACKED) & 1;

	if (!t->dp)
		return;
	for (int i = 0; i < TBE_MAX_RINGS; i++) {
		struct tbe_ring *q = &t->rings[i];
		struct dp_ring *d = &t->dp->r[i];
		bool ok = q->num && q->has_addr && q->started && q->enabled &&
			  ring_map(t, q, d, packed);

		if (!ok) {
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
		dp_log(t, d->used_log + off, sizeof(e));
	d->last_used++;
}

static void split_publish(struct tbe *t, struct dp_ring *d)
{
	__atomic_store_n((uint16_t *)(d->used + 2), d->last_used, __ATOMIC_RELEASE);
	if (d->log_used)
		dp_log(t, d->used_log + 2, 2);
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
		dp_log(t, d->desc_gpa + 16ull * d->last_used, 16);
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
	rd = (const struct dp_split_desc *)rx->desc + rh;
	dst = tbe_gpa_to_va(t, rd->addr, rd->len);
	n = dst && (rd->flags & DESC_F_WRITE) ? split_gather(t, tx, th, dst, rd->len) : -1;
	if (n < 0)
		n = 0;              /* a bad buffer: hand both back empty */
	set_num_buffers(t, dst, (uint32_t)n);
	dp_log(t, rd->addr, (uint64_t)n);
	tx->last_avail++;
	rx->last_avail++;
	split_used(t, rx, (uint32_t)rh, (uint32_t)n);
	split_used(t, tx, (uint32_t)th, 0);
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
	tid = te->id;
	rid = re->id;
	dst = tbe_gpa_to_va(t, re->addr, re->len);
	src = tbe_gpa_to_va(t, te->addr, te->len);
	if (dst && src && (re->flags & DESC_F_WRITE)) {
		n = te->len < re->len ? te->len : re->len;
		memcpy(dst, src, n);
		set_num_buffers(t, dst, n);
		dp_log(t, re->addr, n);
	}
	packed_take(tx);
	packed_take(rx);
	packed_used(t, rx, rid, n);
	packed_used(t, tx, tid, 0);
	return 1;
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
	if (!t->dp || !(t->dp->skip_seen = calloc(DP_SKIP_PAGES / 8, 1))) {
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
