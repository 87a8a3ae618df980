/* SPDX-License-Identifier: MIT */
/* The built-in virtio-net guest driver: queue layout in the device area,
 * buffer pools (spread over guest RAM or compact, netdrv.h), RX buffers
 * posted, numbered frames built and transmitted at the set rate
 * with flow control, both used rings reaped and every frame accounted (back,
 * lost, duplicated, RARP). Runs on the datapath thread. */
#include "netdrv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lt_log.h"
#include "util.h"

#define FRAME_MAGIC 0x314d4856u  /* "VHM1" */
#define TX_BATCH 32
/* Spread: RX descriptors the driver keeps back. Split rings: one, so the
 * used ring's 1024 entries cycle through 1023 ids and change from one lap
 * to the next. Packed rings: a quarter of the ring, so the driver posts new
 * descriptors a page (256 descriptors) away from where the device writes
 * its used ones, as a guest refilling in batches does, and a used
 * descriptor is not always covered by the driver's own mark of its page. */
#define RX_SPARE_SPLIT  1
#define RX_SPARE_PACKED (ND_RING_SIZE / 4)

/* The payload after the Ethernet header of every test frame. */
struct nd_payload {
	uint32_t magic;
	uint16_t queue;
	uint16_t pad;
	uint64_t seq;
};

static void add64(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

int netdrv_parse_buffers(const char *s, enum nd_buffers *out)
{
	if (!strcmp(s, "spread"))
		*out = ND_BUFFERS_SPREAD;
	else if (!strcmp(s, "compact"))
		*out = ND_BUFFERS_COMPACT;
	else
		return -EINVAL;
	return 0;
}

const char *netdrv_buffers_name(enum nd_buffers b)
{
	return b == ND_BUFFERS_COMPACT ? "compact" : "spread";
}

static uint64_t pool_bytes(void)
{
	return (uint64_t)ND_RING_SIZE * ND_BUF_SIZE;
}

uint64_t netdrv_area_bytes(int nq, bool packed, enum nd_buffers buffers)
{
	uint64_t per_q = 2 * vring_bytes(packed, ND_RING_SIZE);

	if (buffers == ND_BUFFERS_COMPACT)
		per_q += 2 * pool_bytes();
	return per_q * (uint64_t)nq;
}

/* Buffer pages of all spread pools (two buffers each). */
static uint64_t spread_pages(int nq)
{
	return (uint64_t)nq * 2 * ND_POOL_BUFS / ND_PAGE_BUFS;
}

bool netdrv_spread(const struct netdrv *d, uint64_t *stride, uint64_t *offset,
		   uint64_t *count)
{
	if (d->buffers != ND_BUFFERS_SPREAD)
		return false;
	*stride = d->stride;
	*offset = d->stride / 2;
	*count = spread_pages(d->nq);
	return true;
}

/* Guest-physical address of buffer b of pool p. */
static uint64_t buf_gpa(const struct netdrv *d, const struct nd_pool *p, uint16_t b)
{
	uint64_t s = p->slot0 + (uint64_t)b, k;

	if (d->buffers == ND_BUFFERS_COMPACT)
		return p->gpa0 + (uint64_t)b * ND_BUF_SIZE;
	k = s / ND_PAGE_BUFS * d->stride + d->stride / 2;
	return gmem_ram_pfn(d->mem, d->ram_skip, k) * GMEM_PAGE_SIZE +
	       s % ND_PAGE_BUFS * ND_BUF_SIZE;
}

static void *buf(const struct netdrv *d, const struct nd_pool *p, uint16_t b)
{
	return gmem_hva(d->mem, buf_gpa(d, p, b), ND_BUF_SIZE);
}

static void pool_init(struct nd_pool *p, uint16_t nbufs, uint32_t slot0, uint64_t gpa0)
{
	p->nbufs = nbufs;
	p->slot0 = slot0;
	p->gpa0 = gpa0;
	p->nfree = nbufs;
	for (uint16_t i = 0; i < nbufs; i++)
		p->free[i] = (uint16_t)(nbufs - 1 - i);
}

/* A buffer for descriptor id: compact, buffer id itself (ring order);
 * spread, a free one picked at random. */
static uint16_t pool_take(struct netdrv *d, struct nd_pool *p, uint16_t id)
{
	uint16_t b = id;

	if (d->buffers == ND_BUFFERS_SPREAD) {
		uint32_t r = (uint32_t)(vhm_xorshift64(&d->rng) % p->nfree);

		b = p->free[r];
		p->free[r] = p->free[--p->nfree];
	}
	p->of_id[id] = b;
	return b;
}

/* A free descriptor id from ids[0..*n): spread, one picked at random;
 * compact, the last freed (ring order, as the ids were freed). */
static uint16_t id_take(struct netdrv *d, uint16_t *ids, int *n)
{
	uint32_t r = (uint32_t)(*n - 1);
	uint16_t id;

	if (d->buffers == ND_BUFFERS_SPREAD)
		r = (uint32_t)(vhm_xorshift64(&d->rng) % (uint32_t)*n);
	id = ids[r];
	ids[r] = ids[--*n];
	return id;
}

/* Descriptor id came back used: its buffer is free again. */
static void pool_give(struct netdrv *d, struct nd_pool *p, uint16_t id)
{
	if (d->buffers == ND_BUFFERS_SPREAD)
		p->free[p->nfree++] = p->of_id[id];
}

/* Lay out one queue pair's rings at *gpa (and its compact buffers),
 * advancing it. */
static void queue_layout(struct netdrv *d, int qi, uint64_t *gpa, const struct nd_config *c)
{
	struct nd_queue *q = &d->q[qi];
	size_t rb = vring_bytes(c->packed, ND_RING_SIZE);
	uint32_t slot = (uint32_t)qi * 2 * ND_POOL_BUFS;

	vring_init(&q->rx, c->packed, c->event_idx, ND_RING_SIZE, gmem_hva(d->mem, *gpa, rb), *gpa);
	*gpa += rb;
	vring_init(&q->tx, c->packed, c->event_idx, ND_RING_SIZE, gmem_hva(d->mem, *gpa, rb), *gpa);
	*gpa += rb;
	if (c->buffers == ND_BUFFERS_COMPACT) {
		pool_init(&q->rxp, ND_RING_SIZE, 0, *gpa);
		*gpa += pool_bytes();
		pool_init(&q->txp, ND_RING_SIZE, 0, *gpa);
		*gpa += pool_bytes();
	} else {
		pool_init(&q->rxp, ND_POOL_BUFS, slot, 0);
		pool_init(&q->txp, ND_POOL_BUFS, slot + ND_POOL_BUFS, 0);
	}
	for (int i = 0; i < ND_RING_SIZE; i++) {
		q->tx_free[i] = (uint16_t)(ND_RING_SIZE - 1 - i);
		q->rx_free[i] = (uint16_t)(ND_RING_SIZE - 1 - i);
	}
	q->tx_nfree = ND_RING_SIZE;
	q->rx_nfree = ND_RING_SIZE;
}

/* Spread buffers: one buffer page every d->stride RAM pages after ram_skip. */
static int spread_layout(struct netdrv *d, const struct nd_config *c, char *err, size_t errlen)
{
	uint64_t skip = c->ram_skip / GMEM_PAGE_SIZE, pages = spread_pages(c->nq);
	uint64_t avail = gmem_pages(d->mem) > skip ? gmem_pages(d->mem) - skip : 0;

	d->ram_skip = c->ram_skip;
	d->stride = avail / pages;
	d->rng = c->seed ? c->seed : 1;   /* xorshift never leaves 0 */
	if (d->stride < 2)
		return vhm_err(err, errlen, -ENOMEM,
			       "spread buffers of %d queue pairs need %llu MiB of guest RAM after "
			       "the device area, %llu MiB there (use --buffers compact, or more --mem)",
			       c->nq, (unsigned long long)(2 * pages * GMEM_PAGE_SIZE >> 20),
			       (unsigned long long)(avail * GMEM_PAGE_SIZE >> 20));
	return 0;
}

int netdrv_init(struct netdrv *d, const struct gmem *mem, const struct nd_config *c, char *err,
		size_t errlen)
{
	uint64_t gpa = c->area_gpa;
	int rc;

	memset(d, 0, sizeof(*d));
	if (c->nq < 1 || c->nq > ND_MAX_QUEUES)
		return vhm_err(err, errlen, -EINVAL, "%d queue pairs: 1..%d supported", c->nq,
			       ND_MAX_QUEUES);
	if (!gmem_hva(mem, c->area_gpa, netdrv_area_bytes(c->nq, c->packed, c->buffers)))
		return vhm_err(err, errlen, -ENOMEM,
			       "device area at 0x%llx does not fit guest memory",
			       (unsigned long long)c->area_gpa);
	d->mem = mem;
	d->nq = c->nq;
	d->mrg_rxbuf = c->mrg_rxbuf;
	d->buffers = c->buffers;
	d->frame_size = 64;
	memcpy(d->mac, c->mac, 6);
	if (c->buffers == ND_BUFFERS_SPREAD && (rc = spread_layout(d, c, err, errlen)))
		return rc;
	for (int i = 0; i < c->nq; i++) {
		struct nd_queue *q = &d->q[i];

		queue_layout(d, i, &gpa, c);
		for (int k = 0; k < 2; k++) {
			q->kick_fd[k] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			q->call_fd[k] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			if (q->kick_fd[k] < 0 || q->call_fd[k] < 0) {
				/* errno before netdrv_destroy()'s close() can change it */
				rc = vhm_err(err, errlen, -errno, "eventfd: %s", strerror(errno));

				d->nq = i + 1;
				netdrv_destroy(d);
				return rc;
			}
		}
	}
	return 0;
}

void netdrv_track(struct netdrv *d, uint64_t *dirty)
{
	d->dirty = dirty;
	for (int i = 0; i < d->nq; i++) {
		vring_track(&d->q[i].rx, dirty);
		vring_track(&d->q[i].tx, dirty);
	}
}

void netdrv_destroy(struct netdrv *d)
{
	for (int i = 0; i < d->nq; i++)
		for (int k = 0; k < 2; k++) {
			if (d->q[i].kick_fd[k] > 0)
				close(d->q[i].kick_fd[k]);
			if (d->q[i].call_fd[k] > 0)
				close(d->q[i].call_fd[k]);
		}
	d->nq = 0;
}

void netdrv_rebase(struct netdrv *d, const struct gmem *mem)
{
	d->mem = mem;
	for (int i = 0; i < d->nq; i++) {
		struct vring *rings[2] = { &d->q[i].rx, &d->q[i].tx };
		for (int k = 0; k < 2; k++) {
			struct vring *v = rings[k];
			size_t rb = vring_bytes(v->packed, v->num);
			uint8_t *base = gmem_hva(mem, v->desc_gpa, rb);

			v->avail = base + (v->avail_gpa - v->desc_gpa);
			v->used = base + (v->used_gpa - v->desc_gpa);
			v->desc = base;
		}
	}
}

static void kick(struct nd_queue *q, struct vring *v, int which)
{
	uint64_t one = 1;

	vring_publish(v);
	if (!vring_kick_needed(v))
		return;
	if (write(q->kick_fd[which], &one, sizeof(one)) == sizeof(one))
		add64(&q->c.kicks, 1);
}

void netdrv_kick_each(struct netdrv *d, const int *fds, int nrings)
{
	uint64_t one = 1;

	for (int i = 0; i < nrings && i < 2 * d->nq; i++)
		if (write(fds[i], &one, sizeof(one)) == sizeof(one))
			add64(&d->q[i / 2].c.kicks, 1);
}

void netdrv_kick_drain(struct netdrv *d, int ring)
{
	uint64_t v;

	if (ring >= 0 && ring < 2 * d->nq)
		while (read(d->q[ring / 2].kick_fd[ring % 2], &v, sizeof(v)) == sizeof(v))
			;
}

/* RX buffers the driver keeps posted. */
static uint16_t rx_posted(const struct netdrv *d)
{
	if (d->buffers != ND_BUFFERS_SPREAD)
		return ND_RING_SIZE;
	return ND_RING_SIZE - (d->q[0].rx.packed ? RX_SPARE_PACKED : RX_SPARE_SPLIT);
}

/* Post free RX descriptors, each with a buffer from the pool, until
 * rx_posted are on the ring. Compact: ids in ring order. */
static void refill_rx(struct netdrv *d, struct nd_queue *q)
{
	while (ND_RING_SIZE - q->rx_nfree < rx_posted(d)) {
		uint16_t id = id_take(d, q->rx_free, &q->rx_nfree);
		uint16_t b = pool_take(d, &q->rxp, id);

		if (vring_add(&q->rx, buf_gpa(d, &q->rxp, b), ND_BUF_SIZE, true, id)) {
			pool_give(d, &q->rxp, id);
			q->rx_free[q->rx_nfree++] = id;
			return;
		}
	}
}

void netdrv_fill_rx(struct netdrv *d)
{
	for (int i = 0; i < d->nq; i++) {
		refill_rx(d, &d->q[i]);
		vring_publish(&d->q[i].rx);
	}
}

void netdrv_set_traffic(struct netdrv *d, uint64_t pps, uint32_t frame_size)
{
	uint64_t now = vhm_now_ns();

	/* relaxed atomics: status reads them without the datapath's lock */
	__atomic_store_n(&d->pps, pps, __ATOMIC_RELAXED);
	__atomic_store_n(&d->frame_size, frame_size, __ATOMIC_RELAXED);
	for (int i = 0; i < d->nq; i++) {
		d->q[i].tx_credit_start_ns = now;
		d->q[i].tx_credit_sent = 0;
	}
}

/* Was seq written off by a loss timeout and is this its first return? */
static bool came_back_late(struct nd_queue *q, uint64_t seq)
{
	uint64_t i = seq - q->off_lo;

	if (!q->off_valid || seq < q->off_lo || i >= ND_RING_SIZE)
		return false;
	if (q->off_seen[i / 64] & (1ull << (i % 64)))
		return false;
	q->off_seen[i / 64] |= 1ull << (i % 64);
	return true;
}

/* Count every frame in flight as lost and reopen the window. */
static void write_off(struct nd_queue *q, uint64_t in_flight_now)
{
	q->off_lo = q->rx_expect;
	q->off_valid = true;
	memset(q->off_seen, 0, sizeof(q->off_seen));
	add64(&q->c.rx_lost, in_flight_now);
	add64(&q->c.loss_timeouts, 1);
	q->rx_expect = q->tx_seq;
	q->blocked_since_ns = 0;
}

static void rx_frame(struct nd_queue *q, const uint8_t *b, uint32_t len)
{
	const uint8_t *eth = b + ND_HDR_SIZE;
	uint16_t type;
	struct nd_payload p;

	if (len < ND_HDR_SIZE + 14) {
		add64(&q->c.rx_other, 1);
		return;
	}
	type = (uint16_t)(eth[12] << 8 | eth[13]);
	if (type == 0x8035) {
		uint64_t mac = 0;

		for (int i = 6; i < 12; i++)
			mac = mac << 8 | eth[i];
		__atomic_store_n(&q->rarp_mac, mac | 1ull << 63, __ATOMIC_RELAXED);
		add64(&q->c.rx_rarp, 1);
		return;
	}
	memcpy(&p, eth + 14, sizeof(p));
	if (type != ND_ETHERTYPE || len < ND_HDR_SIZE + 14 + sizeof(p) || p.magic != FRAME_MAGIC) {
		add64(&q->c.rx_other, 1);
		return;
	}
	add64(&q->c.rx_frames, 1);
	add64(&q->c.rx_bytes, len - ND_HDR_SIZE);
	q->blocked_since_ns = 0;
	if (p.seq == q->rx_expect) {
		q->rx_expect++;
	} else if (p.seq > q->rx_expect) {
		add64(&q->c.rx_lost, p.seq - q->rx_expect);
		q->rx_expect = p.seq + 1;
	} else if (came_back_late(q, p.seq)) {
		add64(&q->c.rx_lost, (uint64_t)-1);
		add64(&q->c.rx_late, 1);
	} else {
		add64(&q->c.rx_dup, 1);
	}
}

/* Append part of a frame to the queue's reassembly buffer. */
static void rx_gather(struct nd_queue *q, const uint8_t *b, uint32_t len)
{
	uint32_t room = (uint32_t)sizeof(q->rx_asm) - q->rx_asm_len;

	if (len > room)
		len = room;
	memcpy(q->rx_asm + q->rx_asm_len, b, len);
	q->rx_asm_len += len;
}

/* One used RX buffer: a whole frame, or (MRG_RXBUF, num_buffers > 1) the
 * first part of one or a continuation, gathered until the frame is whole. */
static void rx_buffer(struct netdrv *d, struct nd_queue *q, const uint8_t *b, uint32_t len)
{
	uint16_t nbufs;

	if (len > ND_BUF_SIZE)
		len = ND_BUF_SIZE;
	if (q->rx_merge_left) {
		rx_gather(q, b, len);
		if (--q->rx_merge_left == 0)
			rx_frame(q, q->rx_asm, q->rx_asm_len);
		return;
	}
	if (len >= ND_HDR_SIZE)
		memcpy(&nbufs, b + 10, 2);
	if (!d->mrg_rxbuf || len < ND_HDR_SIZE || nbufs <= 1) {
		rx_frame(q, b, len);
		return;
	}
	q->rx_asm_len = 0;
	rx_gather(q, b, len);
	q->rx_merge_left = (uint16_t)(nbufs - 1);
}

static int reap_rx(struct netdrv *d, struct nd_queue *q)
{
	uint16_t id;
	uint32_t len;
	int n = 0;

	while (vring_get_used(&q->rx, &id, &len) == 1) {
		rx_buffer(d, q, buf(d, &q->rxp, q->rxp.of_id[id]), len);
		pool_give(d, &q->rxp, id);
		q->rx_free[q->rx_nfree++] = id;
		n++;
		/* compact: the same id back at once, ring order kept; spread:
		 * the batch's ids and the spare ones shuffled together below */
		if (d->buffers == ND_BUFFERS_COMPACT)
			refill_rx(d, q);
	}
	if (!n)
		return 0;
	refill_rx(d, q);
	kick(q, &q->rx, 0);
	return n;
}

static int reap_tx(struct netdrv *d, struct nd_queue *q)
{
	uint16_t id;
	uint32_t len;
	int n = 0;

	while (vring_get_used(&q->tx, &id, &len) == 1) {
		pool_give(d, &q->txp, id);
		q->tx_free[q->tx_nfree++] = id;
		n++;
	}
	if (n)
		add64(&q->c.tx_done, (uint64_t)n);
	return n;
}

static void build_frame(const struct netdrv *d, int qi, struct nd_queue *q, uint8_t *b)
{
	static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0 };
	struct nd_payload p = { .magic = FRAME_MAGIC, .queue = (uint16_t)qi, .seq = q->tx_seq };
	uint8_t *eth = b + ND_HDR_SIZE;

	memset(b, 0, ND_HDR_SIZE);
	memcpy(eth, dst, 6);
	memcpy(eth + 6, d->mac, 6);
	eth[12] = ND_ETHERTYPE >> 8;
	eth[13] = ND_ETHERTYPE & 0xff;
	memcpy(eth + 14, &p, sizeof(p));
}

/* Frames this queue may send now under its share of the rate. */
static uint64_t tx_due(const struct netdrv *d, struct nd_queue *q, uint64_t now)
{
	uint64_t share = d->pps / (uint64_t)d->nq, elapsed = now - q->tx_credit_start_ns;
	uint64_t allowed = (uint64_t)((double)elapsed * (double)share / 1e9);

	/* Credit that could not be used (the backend was away, or flow control
	 * held frames back) is forgotten beyond one ring's worth, so the rate
	 * resumes instead of bursting. */
	if (allowed > q->tx_credit_sent + ND_RING_SIZE)
		q->tx_credit_sent = allowed - ND_RING_SIZE;
	return allowed > q->tx_credit_sent ? allowed - q->tx_credit_sent : 0;
}

/* The window is full: start its loss timer, or write it off once the timer
 * has run ND_LOSS_TIMEOUT_MS with nothing back (true: the window reopened). */
static bool window_timed_out(struct nd_queue *q, uint64_t now)
{
	if (!q->blocked_since_ns) {
		q->blocked_since_ns = now;
		return false;
	}
	if (now - q->blocked_since_ns < ND_LOSS_TIMEOUT_MS * 1000000ull)
		return false;
	write_off(q, nd_in_flight(&q->c));
	return true;
}

/* Frames still on the TX ring, not yet taken by the device: whatever the
 * loss bookkeeping says, the device (or the next one, vring_restart_base)
 * will take and deliver each of them. */
static uint64_t on_tx_ring(const struct nd_queue *q)
{
	return (uint64_t)(ND_RING_SIZE - q->tx_nfree);
}

/* Frames that may still come back on RX: those in flight, and at least
 * every frame still on the TX ring, even after a loss timeout wrote them
 * off. */
static uint64_t outstanding(const struct nd_queue *q)
{
	uint64_t f = nd_in_flight(&q->c), r = on_tx_ring(q);

	return f > r ? f : r;
}

/* Frames a queue may have outstanding: the RX buffers posted, less a
 * batch (flow control, transmit). */
static uint64_t tx_window(const struct netdrv *d)
{
	return (uint64_t)rx_posted(d) - TX_BATCH;
}

static int transmit(struct netdrv *d, int qi, struct nd_queue *q, uint64_t now)
{
	uint64_t due, room;
	int n = 0;

	if (d->tx_paused || !d->pps)
		return 0;
	/* Flow control: never more frames outstanding than RX buffers posted,
	 * so a loopback backend always has a buffer for each frame it returns
	 * (a guest starved of CPU would otherwise make the backend drop). What
	 * is not sent now stays due and goes out when frames come back. A
	 * loss timeout reopens the window for frames the device took and never
	 * returned, not for frames it has not taken yet: a backend that stalls
	 * past ND_LOSS_TIMEOUT_MS (starved of CPU) would otherwise find a
	 * window's worth of late frames plus a new window on its TX ring, more
	 * than the RX buffers posted (1023 split, 768 packed with spread
	 * buffers), and drop the difference. */
	room = tx_window(d);
	if (nd_in_flight(&q->c) >= room && !window_timed_out(q, now))
		return 0;
	if (outstanding(q) >= room)
		return 0;
	due = tx_due(d, q, now);
	if (due > room - outstanding(q))
		due = room - outstanding(q);
	while (due-- && q->tx_nfree && n < TX_BATCH) {
		uint16_t id = id_take(d, q->tx_free, &q->tx_nfree);
		uint64_t gpa = buf_gpa(d, &q->txp, pool_take(d, &q->txp, id));

		build_frame(d, qi, q, gmem_hva(d->mem, gpa, ND_BUF_SIZE));
		if (d->dirty)
			lt_log_mark(d->dirty, gpa / GMEM_PAGE_SIZE);
		vring_add(&q->tx, gpa, ND_HDR_SIZE + d->frame_size, false, id);
		q->tx_seq++;
		q->tx_credit_sent++;
		add64(&q->c.tx_frames, 1);
		add64(&q->c.tx_bytes, d->frame_size);
		n++;
	}
	if (n)
		kick(q, &q->tx, 1);
	return n;
}

int netdrv_poll(struct netdrv *d, uint64_t now_ns)
{
	int work = 0;

	/* A datapath that did not run for a while (guest paused for a
	 * switchover, thread starved) has not been waiting for the backend:
	 * its loss timers start again. */
	if (now_ns - d->last_poll_ns > ND_LOSS_TIMEOUT_MS * 1000000ull / 4)
		for (int i = 0; i < d->nq; i++)
			d->q[i].blocked_since_ns = 0;
	d->last_poll_ns = now_ns;

	for (int i = 0; i < d->nq; i++) {
		struct nd_queue *q = &d->q[i];

		work += reap_rx(d, q);
		work += reap_tx(d, q);
		work += transmit(d, i, q, now_ns);
	}
	return work;
}

bool netdrv_waits_on_device(const struct netdrv *d)
{
	uint64_t room = tx_window(d);

	for (int i = 0; i < d->nq; i++) {
		const struct nd_queue *q = &d->q[i];

		if (nd_in_flight(&q->c) &&
		    (d->tx_paused || !d->pps || outstanding(q) >= room))
			return true;
	}
	return false;
}

void netdrv_traffic(const struct netdrv *d, uint64_t *pps, uint32_t *frame_size)
{
	*pps = __atomic_load_n(&d->pps, __ATOMIC_RELAXED);
	*frame_size = __atomic_load_n(&d->frame_size, __ATOMIC_RELAXED);
}

/* out += queue qi's counters, each field loaded on its own: struct
 * nd_counters is all uint64_t. */
static void add_queue(const struct netdrv *d, int qi, struct nd_counters *out)
{
	const uint64_t *src = (const uint64_t *)&d->q[qi].c;
	uint64_t *dst = (uint64_t *)out;

	for (size_t k = 0; k < sizeof(*out) / sizeof(uint64_t); k++)
		dst[k] += __atomic_load_n(&src[k], __ATOMIC_RELAXED);
}

void netdrv_queue_counters(const struct netdrv *d, int qi, struct nd_counters *out)
{
	memset(out, 0, sizeof(*out));
	add_queue(d, qi, out);
}

bool netdrv_rarp_mac(const struct netdrv *d, uint8_t mac[6])
{
	for (int i = 0; i < d->nq; i++) {
		uint64_t m = __atomic_load_n(&d->q[i].rarp_mac, __ATOMIC_RELAXED);

		if (!(m >> 63))
			continue;
		for (int k = 5; k >= 0; k--, m >>= 8)
			mac[k] = (uint8_t)m;
		return true;
	}
	return false;
}

void netdrv_totals(const struct netdrv *d, struct nd_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < d->nq; i++)
		add_queue(d, i, out);
}

/* Ring pages of ring `ring`: what lives at pfn, if anything. A page the
 * device writes into is named for that (it shares a page with a part only
 * the driver writes). */
static bool ring_what(const struct vring *v, int ring, uint64_t pfn, char *what, size_t len,
		      bool *backend)
{
	uint64_t lo = v->desc_gpa / GMEM_PAGE_SIZE;
	uint64_t hi = (v->desc_gpa + vring_bytes(v->packed, v->num) - 1) / GMEM_PAGE_SIZE;
	uint64_t used = v->used_gpa / GMEM_PAGE_SIZE, avail = v->avail_gpa / GMEM_PAGE_SIZE;

	if (pfn < lo || pfn > hi)
		return false;
	*backend = true;
	if (v->packed)
		snprintf(what, len, "packed descriptors of ring %d", ring);
	else if (pfn >= used)
		snprintf(what, len, "used ring of ring %d", ring);
	else {
		*backend = false;
		snprintf(what, len, "%s of ring %d", pfn >= avail ? "avail ring" : "descriptors",
			 ring);
	}
	return true;
}

/* Name buffers b, b+1 of queue qi's RX (dir 0) or TX pool. */
static bool buf_name(int qi, int dir, uint64_t b, char *what, size_t len, bool *backend)
{
	*backend = dir == 0;
	snprintf(what, len, "queue %d %s buffers #%llu-#%llu", qi, dir ? "TX" : "RX",
		 (unsigned long long)b, (unsigned long long)(b + ND_PAGE_BUFS - 1));
	return true;
}

/* Buffer pages: which pool and buffers, if any. Spread: the inverse of
 * buf_gpa's placement; compact: each pool's range. */
static bool buf_what(const struct netdrv *d, uint64_t pfn, char *what, size_t len, bool *backend)
{
	uint64_t k, s;

	if (d->buffers == ND_BUFFERS_SPREAD) {
		if (!gmem_ram_index(d->mem, d->ram_skip, pfn, &k) || k % d->stride != d->stride / 2 ||
		    k / d->stride >= spread_pages(d->nq))
			return false;
		s = k / d->stride * ND_PAGE_BUFS;
		return buf_name((int)(s / ND_POOL_BUFS / 2), (int)(s / ND_POOL_BUFS % 2),
				s % ND_POOL_BUFS, what, len, backend);
	}
	for (int qi = 0; qi < d->nq; qi++)
		for (int dir = 0; dir < 2; dir++) {
			const struct nd_pool *p = dir ? &d->q[qi].txp : &d->q[qi].rxp;
			uint64_t lo = p->gpa0 / GMEM_PAGE_SIZE;

			if (pfn >= lo && pfn - lo < (uint64_t)p->nbufs / ND_PAGE_BUFS)
				return buf_name(qi, dir, (pfn - lo) * ND_PAGE_BUFS, what, len, backend);
		}
	return false;
}

/* Set the bits of pages [gpa, gpa + len) in bm (bit n = guest page n). */
static void mark_range(uint64_t *bm, uint64_t gpa, uint64_t len)
{
	for (uint64_t pfn = gpa / GMEM_PAGE_SIZE; pfn <= (gpa + len - 1) / GMEM_PAGE_SIZE; pfn++)
		lt_log_mark(bm, pfn);
}

void netdrv_mark_device_writable(const struct netdrv *d, uint64_t *bm)
{
	for (int qi = 0; qi < d->nq; qi++) {
		const struct nd_queue *q = &d->q[qi];

		mark_range(bm, q->rx.desc_gpa, vring_bytes(q->rx.packed, q->rx.num));
		mark_range(bm, q->tx.desc_gpa, vring_bytes(q->tx.packed, q->tx.num));
		for (uint16_t b = 0; b < q->rxp.nbufs; b += ND_PAGE_BUFS)
			mark_range(bm, buf_gpa(d, &q->rxp, b), ND_BUF_SIZE);
	}
}

bool netdrv_page_what(const struct netdrv *d, uint64_t pfn, char *what, size_t len,
		      bool *backend_writes)
{
	for (int qi = 0; qi < d->nq; qi++)
		if (ring_what(&d->q[qi].rx, 2 * qi, pfn, what, len, backend_writes) ||
		    ring_what(&d->q[qi].tx, 2 * qi + 1, pfn, what, len, backend_writes))
			return true;
	return buf_what(d, pfn, what, len, backend_writes);
}

/* ---- state for a migration stream ---------------------------------------- */

#define ND_STATE_MAGIC 0x3153444eu   /* "NDS1" */

/* What precedes the queues: the check, then the netdrv's own state. */
struct nd_state_hdr {
	uint32_t magic, nq, queue_size, tx_paused;
	uint64_t rng, pps;
	uint32_t frame_size, pad;
};

size_t netdrv_state_size(const struct netdrv *d)
{
	return sizeof(struct nd_state_hdr) + (size_t)d->nq * sizeof(struct nd_queue);
}

void netdrv_state_save(const struct netdrv *d, uint8_t *out)
{
	struct nd_state_hdr h = {
		.magic = ND_STATE_MAGIC, .nq = (uint32_t)d->nq,
		.queue_size = sizeof(struct nd_queue), .tx_paused = d->tx_paused,
		.rng = d->rng, .pps = __atomic_load_n(&d->pps, __ATOMIC_RELAXED),
		.frame_size = __atomic_load_n(&d->frame_size, __ATOMIC_RELAXED),
	};

	memcpy(out, &h, sizeof(h));
	memcpy(out + sizeof(h), d->q, (size_t)d->nq * sizeof(struct nd_queue));
}

/* Do both rings of the saved queue lie where d's do? */
static bool same_place(const struct nd_queue *mine, const struct nd_queue *saved)
{
	const struct vring *a[2] = { &mine->rx, &mine->tx }, *b[2] = { &saved->rx, &saved->tx };

	for (int k = 0; k < 2; k++)
		if (a[k]->packed != b[k]->packed || a[k]->num != b[k]->num ||
		    a[k]->desc_gpa != b[k]->desc_gpa || a[k]->used_gpa != b[k]->used_gpa)
			return false;
	return true;
}

/* One saved queue into q, keeping q's eventfds, ring pointers and bitmap. */
static void load_queue(struct nd_queue *q, const struct nd_queue *saved)
{
	struct vring rx = q->rx, tx = q->tx;
	int kick[2], call[2];

	memcpy(kick, q->kick_fd, sizeof(kick));
	memcpy(call, q->call_fd, sizeof(call));
	*q = *saved;
	memcpy(q->kick_fd, kick, sizeof(kick));
	memcpy(q->call_fd, call, sizeof(call));
	q->rx.desc = rx.desc, q->rx.avail = rx.avail, q->rx.used = rx.used, q->rx.dirty = rx.dirty;
	q->tx.desc = tx.desc, q->tx.avail = tx.avail, q->tx.used = tx.used, q->tx.dirty = tx.dirty;
	q->blocked_since_ns = 0;
	q->tx_credit_start_ns = vhm_now_ns();
	q->tx_credit_sent = 0;
}

int netdrv_state_load(struct netdrv *d, const uint8_t *in, size_t len, char *err,
		      size_t errlen)
{
	struct nd_queue *sq = NULL;   /* the saved queues, aligned */
	struct nd_state_hdr h;
	int rc = 0;

	if (len < sizeof(h))
		return vhm_err(err, errlen, -EINVAL, "driver state of %zu bytes: too short", len);
	memcpy(&h, in, sizeof(h));
	if (h.magic != ND_STATE_MAGIC || h.queue_size != sizeof(struct nd_queue))
		return vhm_err(err, errlen, -EINVAL, "driver state from another vhm build");
	if (h.nq != (uint32_t)d->nq || len != netdrv_state_size(d))
		return vhm_err(err, errlen, -EINVAL, "driver state for %u queue pairs in %zu bytes, "
			       "this device has %d", h.nq, len, d->nq);
	sq = malloc((size_t)d->nq * sizeof(*sq));
	if (!sq)
		return vhm_err(err, errlen, -ENOMEM, "driver state: out of memory");
	memcpy(sq, in + sizeof(h), (size_t)d->nq * sizeof(*sq));
	for (int i = 0; i < d->nq && !rc; i++)
		if (!same_place(&d->q[i], &sq[i]))
			rc = vhm_err(err, errlen, -EINVAL, "driver state: queue %d's rings lie "
				     "elsewhere (another --ring or --buffers)", i);
	for (int i = 0; i < d->nq && !rc; i++)
		load_queue(&d->q[i], &sq[i]);
	free(sq);
	if (rc)
		return rc;
	d->rng = h.rng;
	d->tx_paused = h.tx_paused;
	d->last_poll_ns = 0;
	__atomic_store_n(&d->pps, h.pps, __ATOMIC_RELAXED);
	__atomic_store_n(&d->frame_size, h.frame_size, __ATOMIC_RELAXED);
	return 0;
}
