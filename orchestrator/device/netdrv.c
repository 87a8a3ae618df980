/* SPDX-License-Identifier: MIT */
/* The built-in virtio-net guest driver: queue layout in the device area,
 * RX buffers posted, numbered frames built and transmitted at the set rate
 * with flow control, both used rings reaped and every frame accounted (back,
 * lost, duplicated, RARP). Runs on the datapath thread. */
#include "netdrv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util.h"

#define FRAME_MAGIC 0x314d4856u  /* "VHM1" */
#define TX_BATCH 32

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

uint64_t netdrv_area_bytes(int nq, bool packed)
{
	uint64_t per_q = 2 * (vring_bytes(packed, ND_RING_SIZE) +
			      (uint64_t)ND_RING_SIZE * ND_BUF_SIZE);

	return per_q * (uint64_t)nq;
}

static void *buf(const struct netdrv *d, uint64_t base_gpa, uint16_t id)
{
	return gmem_hva(d->mem, base_gpa + (uint64_t)id * ND_BUF_SIZE, ND_BUF_SIZE);
}

/* Lay out one queue pair at *gpa, advancing it. */
static void queue_layout(struct netdrv *d, struct nd_queue *q, uint64_t *gpa, bool packed,
			 bool event_idx)
{
	size_t rb = vring_bytes(packed, ND_RING_SIZE);

	vring_init(&q->rx, packed, event_idx, ND_RING_SIZE, gmem_hva(d->mem, *gpa, rb), *gpa);
	*gpa += rb;
	vring_init(&q->tx, packed, event_idx, ND_RING_SIZE, gmem_hva(d->mem, *gpa, rb), *gpa);
	*gpa += rb;
	q->rx_buf_gpa = *gpa;
	*gpa += (uint64_t)ND_RING_SIZE * ND_BUF_SIZE;
	q->tx_buf_gpa = *gpa;
	*gpa += (uint64_t)ND_RING_SIZE * ND_BUF_SIZE;
	for (int i = 0; i < ND_RING_SIZE; i++)
		q->tx_free[i] = (uint16_t)(ND_RING_SIZE - 1 - i);
	q->tx_nfree = ND_RING_SIZE;
}

int netdrv_init(struct netdrv *d, const struct gmem *mem, uint64_t area_gpa, int nq,
		bool packed, bool event_idx, bool mrg_rxbuf, const uint8_t mac[6], char *err,
		size_t errlen)
{
	uint64_t gpa = area_gpa;

	memset(d, 0, sizeof(*d));
	if (nq < 1 || nq > ND_MAX_QUEUES)
		return vhm_err(err, errlen, -EINVAL, "%d queue pairs: 1..%d supported", nq,
			       ND_MAX_QUEUES);
	if (!gmem_hva(mem, area_gpa, netdrv_area_bytes(nq, packed)))
		return vhm_err(err, errlen, -ENOMEM,
			       "device area at 0x%llx does not fit guest memory",
			       (unsigned long long)area_gpa);
	d->mem = mem;
	d->nq = nq;
	d->mrg_rxbuf = mrg_rxbuf;
	d->frame_size = 64;
	memcpy(d->mac, mac, 6);
	for (int i = 0; i < nq; i++) {
		struct nd_queue *q = &d->q[i];

		queue_layout(d, q, &gpa, packed, event_idx);
		for (int k = 0; k < 2; k++) {
			q->kick_fd[k] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			q->call_fd[k] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			if (q->kick_fd[k] < 0 || q->call_fd[k] < 0) {
				/* errno before netdrv_destroy()'s close() can change it */
				int rc = vhm_err(err, errlen, -errno, "eventfd: %s", strerror(errno));

				d->nq = i + 1;
				netdrv_destroy(d);
				return rc;
			}
		}
	}
	return 0;
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

void netdrv_fill_rx(struct netdrv *d)
{
	for (int i = 0; i < d->nq; i++) {
		struct nd_queue *q = &d->q[i];

		for (uint16_t id = 0; id < ND_RING_SIZE; id++)
			if (vring_add(&q->rx, q->rx_buf_gpa + (uint64_t)id * ND_BUF_SIZE,
				      ND_BUF_SIZE, true, id))
				break;
		vring_publish(&q->rx);
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

static void rx_frame(struct netdrv *d, struct nd_queue *q, const uint8_t *b, uint32_t len)
{
	const uint8_t *eth = b + ND_HDR_SIZE;
	uint16_t type, nbufs;
	struct nd_payload p;

	memcpy(&nbufs, b + 10, 2);
	if (d->mrg_rxbuf && nbufs > 1)
		q->rx_merge_left = (uint16_t)(nbufs - 1);
	if (len < ND_HDR_SIZE + 14) {
		add64(&q->c.rx_other, 1);
		return;
	}
	type = (uint16_t)(eth[12] << 8 | eth[13]);
	if (type == 0x8035) {
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

static int reap_rx(struct netdrv *d, struct nd_queue *q)
{
	uint16_t id;
	uint32_t len;
	int n = 0;

	while (vring_get_used(&q->rx, &id, &len) == 1) {
		if (q->rx_merge_left)
			q->rx_merge_left--;
		else
			rx_frame(d, q, buf(d, q->rx_buf_gpa, id), len);
		vring_add(&q->rx, q->rx_buf_gpa + (uint64_t)id * ND_BUF_SIZE, ND_BUF_SIZE, true, id);
		n++;
	}
	if (n)
		kick(q, &q->rx, 0);
	return n;
}

static int reap_tx(struct nd_queue *q)
{
	uint16_t id;
	uint32_t len;
	int n = 0;

	while (vring_get_used(&q->tx, &id, &len) == 1) {
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

/* Frames sent on this queue that have not come back yet. */
static uint64_t in_flight(const struct nd_queue *q)
{
	uint64_t back = q->c.rx_frames + q->c.rx_lost;

	return q->c.tx_frames > back ? q->c.tx_frames - back : 0;
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
	write_off(q, in_flight(q));
	return true;
}

static int transmit(struct netdrv *d, int qi, struct nd_queue *q, uint64_t now)
{
	uint64_t due, room;
	int n = 0;

	if (d->tx_paused || !d->pps)
		return 0;
	/* Flow control: never more frames in flight than RX buffers posted, so
	 * a loopback backend always has a buffer for each frame it returns (a
	 * guest starved of CPU would otherwise make the backend drop). What is
	 * not sent now stays due and goes out when frames come back. */
	room = ND_RING_SIZE - TX_BATCH;
	if (in_flight(q) >= room && !window_timed_out(q, now))
		return 0;
	due = tx_due(d, q, now);
	if (due > room - in_flight(q))
		due = room - in_flight(q);
	while (due-- && q->tx_nfree && n < TX_BATCH) {
		uint16_t id = q->tx_free[--q->tx_nfree];
		uint8_t *b = buf(d, q->tx_buf_gpa, id);

		build_frame(d, qi, q, b);
		vring_add(&q->tx, q->tx_buf_gpa + (uint64_t)id * ND_BUF_SIZE,
			  ND_HDR_SIZE + d->frame_size, false, id);
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
		work += reap_tx(q);
		work += transmit(d, i, q, now_ns);
	}
	return work;
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

void netdrv_totals(const struct netdrv *d, struct nd_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < d->nq; i++)
		add_queue(d, i, out);
}
