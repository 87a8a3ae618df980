/* SPDX-License-Identifier: MIT */
/* vhm-testbe, the misbehaving test backend: its options, its request
 * handlers and the misbehaviour switches (testbe.h lists them). One connection at a time; every message is
 * checked against vhu_proto's table, handled by one small handler per
 * request (the handler list is generated from VHU_REQUESTS, so a request
 * without a handler does not compile), and answered in exactly one place
 * (send_reply), which is also where the misbehaviour switches act. */
#include "testbe.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "usock.h"
#include "util.h"
#include "vhu_wire.h"

#define TBE_IO_TIMEOUT_MS   2000   /* rest of a message once its first byte came */
#define TBE_CONNECT_WAIT_MS 10000  /* --client: wait this long for the frontend */
#define TBE_LOG_PAGE        4096u  /* bytes of guest memory per log bit */
#define TBE_ERR_LEN         256

#define TBE_USAGE \
	"usage: vhm-testbe --socket PATH [--client] [--once] [--queues N]\n" \
	"       [--features HEX] [--protocol HEX] [--drop-proto NAME[,NAME]]\n" \
	"       [--log-reply-size 0|8] [--record FILE] [--breq-test] [--breq-wait REQUEST]\n" \
	"       [--breq-every DUR]\n" \
	"       [--misbehave MODE[:REQUEST[@N]]] [--loopback] [--skip-log PERCENT]\n" \
	"       [--start-on-kick]\n" \
	"  modes: close exit stop (on arrival), wrong-size wrong-echo bad-flags\n" \
	"         no-reply hang close-mid extra-fds refuse huge-size (on the reply);\n" \
	"         REQUEST default GET_FEATURES; @N: only its Nth occurrence\n" \
	"  SIGUSR1 closes the frontend's connection\n" \
	"  --loopback: forward TX to RX like testpmd io mode, logging guest writes;\n" \
	"  --start-on-kick: a ring starts when its kick eventfd is first readable\n" \
	"         (the spec's ring states), not on SET_VRING_KICK; one GET_VRING_BASE\n" \
	"         stopped keeps its kick fd and a kick on it starts the ring again\n" \
	"         (counted: the record's kick_restarts)\n" \
	"  --skip-log: leave PERCENT of pages unlogged (implies --loopback)\n" \
	"  --breq-wait REQUEST (repeatable): before replying to REQUEST, ask\n" \
	"         CONFIG_CHANGE_MSG (NEED_REPLY) and wait up to 2 s for the answer\n" \
	"  --breq-every DUR: ask CONFIG_CHANGE_MSG (NEED_REPLY) this often and handle\n" \
	"         nothing else until answered, as DPDK blocks; the record's breq_every\n" \
	"         says how long the longest answer took\n" \
	"  --log-fault FAULT: log wrongly in one way (implies --loopback): nothing,\n" \
	"         used, off-by-one, late, mrg, packed-desc\n"

/* What a handler decided; the dispatcher owns replying. */
enum tbe_res {
	TBE_OK,        /* done: ack 0 if asked */
	TBE_REFUSE,    /* not done (logged): ack 1 if asked */
	TBE_REPLY,     /* reply payload filled in */
	TBE_DROP,      /* the peer sent something invalid (logged): drop it */
};

typedef enum tbe_res (*tbe_handler)(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r);

static void __attribute__((format(printf, 2, 3))) tbe_log(const struct tbe *t, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vhm-testbe: frontend on %s: ", t->opt.socket);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- memory ---------------------------------------------------------------- */

void *tbe_uva_to_va(struct tbe *t, uint64_t uva, uint64_t len)
{
	for (int i = 0; i < t->nregions; i++) {
		const struct vhu_mem_region *r = &t->regions[i].r;

		if (uva >= r->userspace_addr && len <= r->memory_size &&
		    uva - r->userspace_addr <= r->memory_size - len)
			return t->regions[i].map + r->mmap_offset + (uva - r->userspace_addr);
	}
	return NULL;
}

void *tbe_gpa_to_va(struct tbe *t, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < t->nregions; i++) {
		const struct vhu_mem_region *r = &t->regions[i].r;

		if (gpa >= r->guest_phys_addr && len <= r->memory_size &&
		    gpa - r->guest_phys_addr <= r->memory_size - len)
			return t->regions[i].map + r->mmap_offset + (gpa - r->guest_phys_addr);
	}
	return NULL;
}

void tbe_log_write(struct tbe *t, uint64_t gpa, uint64_t len)
{
	if (!t->log || !len || !(t->features & (1ull << VHU_F_LOG_ALL)))
		return;
	for (uint64_t page = gpa / TBE_LOG_PAGE; page <= (gpa + len - 1) / TBE_LOG_PAGE; page++) {
		if (page / 8 >= t->log_size)
			return;
		__atomic_fetch_or(&t->log[page / 8], (uint8_t)(1u << (page % 8)), __ATOMIC_RELAXED);
	}
}

static void unmap_region(struct tbe_region *g)
{
	if (g->map)
		munmap(g->map, g->map_len);
	memset(g, 0, sizeof(*g));
}

static void unmap_all(struct tbe *t)
{
	for (int i = 0; i < t->nregions; i++)
		unmap_region(&t->regions[i]);
	t->nregions = 0;
}

/* Map one region's fd into slot g. 0, or -errno (logged). */
static int map_region(struct tbe *t, struct tbe_region *g, const struct vhu_mem_region *r, int fd)
{
	size_t len = (size_t)(r->mmap_offset + r->memory_size);
	void *p;

	if (r->memory_size == 0 || len < r->memory_size) {
		tbe_log(t, "memory region gpa 0x%llx: size %llu, offset %llu not mappable",
			(unsigned long long)r->guest_phys_addr, (unsigned long long)r->memory_size,
			(unsigned long long)r->mmap_offset);
		return -EINVAL;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int rc = -errno;
		tbe_log(t, "memory region gpa 0x%llx: mmap %zu bytes: %s",
			(unsigned long long)r->guest_phys_addr, len, strerror(-rc));
		return rc;
	}
	g->r = *r;
	g->map = p;
	g->map_len = len;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Take fd i of m: it becomes the caller's and is no longer closed with m. */
static int take_fd(struct vhu_msg *m, int i)
{
	int fd = i < m->nfds ? m->fds[i] : -1;

	if (i < m->nfds)
		m->fds[i] = -1;
	return fd;
}

/* ---- device state ------------------------------------------------------------ */

static void rings_reset(struct tbe *t)
{
	for (int i = 0; i < TBE_MAX_RINGS; i++) {
		struct tbe_ring *q = &t->rings[i];

		close_fd(&q->kick);
		close_fd(&q->call);
		close_fd(&q->err);
		memset(q, 0, sizeof(*q));
		q->kick = q->call = q->err = -1;
	}
}

static void config_reset(struct tbe *t)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	memset(t->config, 0, sizeof(t->config));
	memcpy(t->config, mac, sizeof(mac));    /* virtio-net config: mac at 0 */
	t->config[6] = 1;                       /* status: LINK_UP */
	t->config[8] = (uint8_t)t->opt.queues;  /* max_virtqueue_pairs (le16) */
	t->config[9] = (uint8_t)(t->opt.queues >> 8);
}

/* Everything a connection set up, gone: back to a fresh device. */
static void device_reset(struct tbe *t)
{
	rings_reset(t);
	unmap_all(t);
	if (t->log)
		munmap(t->log, t->log_size);
	t->log = NULL;
	t->log_size = 0;
	close_fd(&t->inflight_fd);
	close_fd(&t->state_fd);
	close_fd(&t->breq);
	t->breq_pending = false;
	t->inflight_size = t->state_bytes = 0;
	t->state_ok = false;
	t->owner = false;
	t->features = t->protocol = 0;
	t->nrarp = 0;
	t->rarp_pending = false;   /* a SEND_RARP of the connection gone is not delivered */
	t->mtu = t->status = t->need_reply = t->resets = 0;
	t->features_failed = false;
	t->nstatuses = t->nseq = 0;
	for (size_t i = 0; i < VHM_ARRAY_SIZE(t->breq_ack); i++)
		t->breq_ack[i] = -1;
	memset(t->counts, 0, sizeof(t->counts));
	config_reset(t);
}

static bool pf_acked(const struct tbe *t, unsigned bit)
{
	return (t->protocol >> bit) & 1;
}

static bool pf_negotiated_in_features(const struct tbe *t)
{
	return (t->features >> VHU_F_PROTOCOL_FEATURES) & 1;
}

static uint64_t rings_max(const struct tbe *t)
{
	return t->opt.queues * 2 < TBE_MAX_RINGS ? t->opt.queues * 2 : TBE_MAX_RINGS;
}

/* The ring a message names, or NULL (logged: the message is invalid). */
static struct tbe_ring *ring_of(struct tbe *t, const struct vhu_msg *m, uint32_t index)
{
	if (index < rings_max(t))
		return &t->rings[index];
	tbe_log(t, "%s: ring %u, expected below %llu", vhu_req_name(m->hdr.request), index,
		(unsigned long long)rings_max(t));
	return NULL;
}

/* ---- handlers: one per row of VHU_REQUESTS ------------------------------------ */

static enum tbe_res reply_u64(struct vhu_msg *r, uint64_t v)
{
	r->u.u64 = v;
	return TBE_REPLY;
}

static enum tbe_res h_GET_FEATURES(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)m;
	return reply_u64(r, t->opt.features);
}

static enum tbe_res h_SET_FEATURES(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)r;
	if (m->u.u64 & ~t->opt.features) {
		tbe_log(t, "SET_FEATURES: 0x%llx has bits not offered (0x%llx)",
			(unsigned long long)m->u.u64, (unsigned long long)t->opt.features);
		t->features_failed = true;
		return TBE_REFUSE;
	}
	t->features = m->u.u64;
	t->features_failed = false;
	return TBE_OK;
}

static enum tbe_res h_SET_OWNER(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)m, (void)r;
	t->owner = true;
	return TBE_OK;
}

static enum tbe_res h_RESET_OWNER(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)m, (void)r;
	rings_reset(t);
	t->features = 0;
	t->owner = false;
	return TBE_OK;
}

static enum tbe_res h_SET_MEM_TABLE(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)r;
	unmap_all(t);
	for (uint32_t i = 0; i < m->u.mem.nregions; i++) {
		if (map_region(t, &t->regions[i], &m->u.mem.regions[i], m->fds[i])) {
			unmap_all(t);
			return TBE_REFUSE;
		}
		t->nregions++;
	}
	return TBE_OK;   /* the mappings hold the memory; m's fds are closed with it */
}

static enum tbe_res h_SET_LOG_BASE(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	void *p;

	(void)r;
	if (t->log)
		munmap(t->log, t->log_size);
	t->log = NULL;
	t->log_size = 0;
	if (m->u.log.mmap_size == 0) {
		tbe_log(t, "SET_LOG_BASE: log size 0");
		return TBE_REFUSE;
	}
	p = mmap(NULL, m->u.log.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[0],
		 (off_t)m->u.log.mmap_offset);
	if (p == MAP_FAILED) {
		tbe_log(t, "SET_LOG_BASE: mmap %llu bytes at %llu: %s",
			(unsigned long long)m->u.log.mmap_size,
			(unsigned long long)m->u.log.mmap_offset, strerror(errno));
		return TBE_REFUSE;
	}
	t->log = p;
	t->log_size = m->u.log.mmap_size;
	return TBE_OK;
}

static enum tbe_res h_SET_VRING_NUM(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	struct tbe_ring *q = ring_of(t, m, m->u.state.index);
	uint32_t n = m->u.state.num;

	(void)r;
	if (!q)
		return TBE_DROP;
	if (n == 0 || n > 32768 || (n & (n - 1))) {
		tbe_log(t, "SET_VRING_NUM: ring %u size %u, expected a power of 2 up to 32768",
			m->u.state.index, n);
		return TBE_REFUSE;
	}
	q->num = n;
	return TBE_OK;
}

static enum tbe_res h_SET_VRING_ADDR(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	struct tbe_ring *q = ring_of(t, m, m->u.addr.index);

	(void)r;
	if (!q)
		return TBE_DROP;
	q->addr = m->u.addr;
	q->has_addr = true;
	return TBE_OK;
}

/* A packed ring's base: avail index + wrap counter in bits 0-15, used index +
 * wrap counter in bits 16-31 (0x80008000 for a fresh ring). Both indices
 * inside the ring, and the used position at most a ring behind the avail one. */
static bool packed_base_ok(struct tbe *t, const struct tbe_ring *q, uint32_t index, uint32_t b)
{
	uint32_t n = q->num ? q->num : 32768, avail = b & 0x7fff, used = (b >> 16) & 0x7fff;
	/* positions on the 2n-slot lap: a wrap counter of 0 is the second half */
	uint32_t pa = avail + ((b >> 15) & 1 ? 0 : n), pu = used + ((b >> 31) & 1 ? 0 : n);

	if (avail < n && used < n && (pa + 2 * n - pu) % (2 * n) <= n)
		return true;
	tbe_log(t, "SET_VRING_BASE: packed ring %u base 0x%08x: avail %u (wrap %u), used %u "
		"(wrap %u), expected both below %u and used at most a ring behind avail",
		index, b, avail, (b >> 15) & 1, used, b >> 31, n);
	return false;
}

static enum tbe_res h_SET_VRING_BASE(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	struct tbe_ring *q = ring_of(t, m, m->u.state.index);

	(void)r;
	if (!q)
		return TBE_DROP;
	q->set_base = m->u.state.num;
	if ((t->features >> VHU_F_RING_PACKED) & 1 &&
	    !packed_base_ok(t, q, m->u.state.index, m->u.state.num))
		return TBE_REFUSE;
	q->base = m->u.state.num;
	return TBE_OK;
}

static enum tbe_res h_GET_VRING_BASE(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	struct tbe_ring *q = ring_of(t, m, m->u.state.index);

	if (!q)
		return TBE_DROP;
	q->started = false;   /* the spec: GET_VRING_BASE stops the ring */
	q->stopped = true;
	r->u.state.index = m->u.state.index;
	r->u.state.num = q->base;
	return TBE_REPLY;
}

/* SET_VRING_KICK/CALL/ERR: the fd (or polling mode) for one ring. */
static enum tbe_res set_vring_fd(struct tbe *t, struct vhu_msg *m, int *(*slot)(struct tbe_ring *),
				 struct tbe_ring **out)
{
	struct tbe_ring *q = ring_of(t, m, (uint32_t)(m->u.u64 & VHU_VRING_IDX_MASK));
	int *fd;

	if (!q)
		return TBE_DROP;
	fd = slot(q);
	close_fd(fd);
	*fd = (m->u.u64 & VHU_VRING_NOFD) ? -1 : take_fd(m, 0);
	*out = q;
	return TBE_OK;
}

static int *slot_kick(struct tbe_ring *q) { return &q->kick; }
static int *slot_call(struct tbe_ring *q) { return &q->call; }
static int *slot_err(struct tbe_ring *q) { return &q->err; }

/* The kernel's id of eventfd fd (fdinfo's eventfd-id, Linux >= 6.0: the same
 * eventfd has the same id in every process), or -1. */
static int64_t eventfd_id(int fd)
{
	char path[64], line[128];
	long long id = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "eventfd-id: %lld", &id) == 1)
			break;
	fclose(f);
	return id;
}

/* Remember the id of a kick eventfd given (the record's kick_ids). */
static void note_kick_id(struct tbe *t, int fd)
{
	int64_t id = fd >= 0 ? eventfd_id(fd) : -1;

	if (id < 0 || t->nkick_ids == TBE_MAX_KICK_IDS)
		return;
	for (int i = 0; i < t->nkick_ids; i++)
		if (t->kick_ids[i] == (uint64_t)id)
			return;
	t->kick_ids[t->nkick_ids++] = (uint64_t)id;
}

static enum tbe_res h_SET_VRING_KICK(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	struct tbe_ring *q;
	enum tbe_res res = set_vring_fd(t, m, slot_kick, &q);

	(void)r;
	if (res != TBE_OK)
		return res;
	note_kick_id(t, q->kick);
	q->started = !t->opt.start_on_kick || q->kick < 0;   /* else: kick_start */
	q->stopped = false;
	if (!pf_negotiated_in_features(t))
		q->enabled = true;   /* without PROTOCOL_FEATURES a kick starts the ring */
	return TBE_OK;
}

static enum tbe_res h_SET_VRING_CALL(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	struct tbe_ring *q;

	(void)r;
	return set_vring_fd(t, m, slot_call, &q);
}

static enum tbe_res h_SET_VRING_ERR(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	struct tbe_ring *q;

	(void)r;
	return set_vring_fd(t, m, slot_err, &q);
}

static enum tbe_res h_GET_PROTOCOL_FEATURES(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)m;
	return reply_u64(r, t->opt.protocol);
}

static enum tbe_res h_SET_PROTOCOL_FEATURES(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)r;
	if (m->u.u64 & ~t->opt.protocol) {
		tbe_log(t, "SET_PROTOCOL_FEATURES: 0x%llx has bits not offered (0x%llx)",
			(unsigned long long)m->u.u64, (unsigned long long)t->opt.protocol);
		return TBE_DROP;   /* no reply to refuse with: the stream is wrong */
	}
	t->protocol = m->u.u64;
	return TBE_OK;
}

static enum tbe_res h_GET_QUEUE_NUM(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)m;
	return reply_u64(r, t->opt.queues);
}

static enum tbe_res h_SET_VRING_ENABLE(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	struct tbe_ring *q = ring_of(t, m, m->u.state.index);

	(void)r;
	if (!q)
		return TBE_DROP;
	if (m->u.state.num > 1) {
		tbe_log(t, "SET_VRING_ENABLE: ring %u state %u, expected 0 or 1", m->u.state.index,
			m->u.state.num);
		return TBE_DROP;
	}
	q->enabled = m->u.state.num;
	return TBE_OK;
}

static enum tbe_res h_SEND_RARP(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)r;
	if (t->nrarp == TBE_MAX_RARP) {
		memmove(t->rarp[0], t->rarp[1], sizeof(t->rarp[0]) * (TBE_MAX_RARP - 1));
		t->nrarp--;
	}
	memcpy(t->rarp[t->nrarp++], &m->u.u64, 6);
	t->rarp_pending = t->dp != NULL;
	return TBE_OK;
}

static enum tbe_res h_NET_SET_MTU(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)r;
	if (m->u.u64 < 68 || m->u.u64 > 65535) {
		tbe_log(t, "NET_SET_MTU: %llu, expected 68..65535", (unsigned long long)m->u.u64);
		return TBE_REFUSE;
	}
	t->mtu = m->u.u64;
	return TBE_OK;
}

static enum tbe_res h_SET_BACKEND_REQ_FD(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	int rc;

	(void)r;
	close_fd(&t->breq);
	t->breq = take_fd(m, 0);
	if ((rc = vhu_wire_prepare(t->breq))) {
		tbe_log(t, "SET_BACKEND_REQ_FD: %s", strerror(-rc));
		close_fd(&t->breq);
		return TBE_REFUSE;
	}
	t->breq_pending = t->opt.breq_test;
	return TBE_OK;
}

static bool config_range_ok(struct tbe *t, const struct vhu_msg *m)
{
	const struct vhu_config *c = &m->u.config;

	if (c->offset <= VHU_MAX_CONFIG && c->size <= VHU_MAX_CONFIG - c->offset)
		return true;
	tbe_log(t, "%s: offset %u size %u outside the %d-byte config space",
		vhu_req_name(m->hdr.request), c->offset, c->size, VHU_MAX_CONFIG);
	return false;
}

static enum tbe_res h_GET_CONFIG(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	if (!config_range_ok(t, m))
		return TBE_DROP;
	r->u.config.offset = m->u.config.offset;
	r->u.config.size = m->u.config.size;
	r->u.config.flags = m->u.config.flags;
	memcpy(r->u.config.region, t->config + m->u.config.offset, m->u.config.size);
	return TBE_REPLY;
}

static enum tbe_res h_SET_CONFIG(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)r;
	if (!config_range_ok(t, m))
		return TBE_REFUSE;
	memcpy(t->config + m->u.config.offset, m->u.config.region, m->u.config.size);
	return TBE_OK;
}

static enum tbe_res h_GET_INFLIGHT_FD(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	const struct vhu_inflight *in = &m->u.inflight;
	/* per queue: a 16-byte header and 16 bytes per descriptor, 64-byte aligned */
	uint64_t per_queue = ((uint64_t)in->queue_size * 16 + 16 + 63) & ~63ull;
	uint64_t size = per_queue * in->num_queues;
	int fd;

	if (size == 0) {
		tbe_log(t, "GET_INFLIGHT_FD: %u queues of %u, expected neither 0", in->num_queues,
			in->queue_size);
		return TBE_DROP;
	}
	fd = memfd_create("vhm-testbe-inflight", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || (r->fds[0] = dup(fd)) < 0) {
		tbe_log(t, "GET_INFLIGHT_FD: memfd of %llu bytes: %s", (unsigned long long)size,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return TBE_DROP;
	}
	r->nfds = 1;
	close_fd(&t->inflight_fd);
	t->inflight_fd = fd;
	t->inflight_size = size;
	r->u.inflight = *in;
	r->u.inflight.mmap_size = size;
	r->u.inflight.mmap_offset = 0;
	return TBE_REPLY;
}

static enum tbe_res h_SET_INFLIGHT_FD(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	struct stat st;

	(void)r;
	if (fstat(m->fds[0], &st) < 0 ||
	    (uint64_t)st.st_size < m->u.inflight.mmap_offset + m->u.inflight.mmap_size) {
		tbe_log(t, "SET_INFLIGHT_FD: fd smaller than offset %llu + size %llu",
			(unsigned long long)m->u.inflight.mmap_offset,
			(unsigned long long)m->u.inflight.mmap_size);
		return TBE_REFUSE;
	}
	close_fd(&t->inflight_fd);
	t->inflight_fd = take_fd(m, 0);
	t->inflight_size = m->u.inflight.mmap_size;
	return TBE_OK;
}

static enum tbe_res h_RESET_DEVICE(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)m, (void)r;
	rings_reset(t);
	t->features = 0;
	t->status = 0;
	t->resets++;
	return TBE_OK;
}

static enum tbe_res h_GET_MAX_MEM_SLOTS(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)t, (void)m;
	return reply_u64(r, TBE_MAX_SLOTS);
}

static bool overlaps(const struct vhu_mem_region *a, const struct vhu_mem_region *b)
{
	return a->guest_phys_addr < b->guest_phys_addr + b->memory_size &&
	       b->guest_phys_addr < a->guest_phys_addr + a->memory_size;
}

static enum tbe_res h_ADD_MEM_REG(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	const struct vhu_mem_region *nr = &m->u.memreg.region;

	(void)r;
	if (t->nregions == TBE_MAX_SLOTS) {
		tbe_log(t, "ADD_MEM_REG: all %d slots in use", TBE_MAX_SLOTS);
		return TBE_REFUSE;
	}
	for (int i = 0; i < t->nregions; i++) {
		if (overlaps(nr, &t->regions[i].r)) {
			tbe_log(t, "ADD_MEM_REG: gpa 0x%llx overlaps region %d",
				(unsigned long long)nr->guest_phys_addr, i);
			return TBE_REFUSE;
		}
	}
	if (map_region(t, &t->regions[t->nregions], nr, m->fds[0]))
		return TBE_REFUSE;
	t->nregions++;
	return TBE_OK;
}

static enum tbe_res h_REM_MEM_REG(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	const struct vhu_mem_region *rr = &m->u.memreg.region;

	(void)r;
	for (int i = 0; i < t->nregions; i++) {
		const struct vhu_mem_region *g = &t->regions[i].r;

		if (g->guest_phys_addr != rr->guest_phys_addr || g->memory_size != rr->memory_size)
			continue;
		unmap_region(&t->regions[i]);
		memmove(&t->regions[i], &t->regions[i + 1],
			sizeof(t->regions[0]) * (size_t)(t->nregions - i - 1));
		memset(&t->regions[--t->nregions], 0, sizeof(t->regions[0]));
		return TBE_OK;
	}
	tbe_log(t, "REM_MEM_REG: no region at gpa 0x%llx of %llu bytes",
		(unsigned long long)rr->guest_phys_addr, (unsigned long long)rr->memory_size);
	return TBE_REFUSE;
}

static enum tbe_res h_SET_STATUS(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)r;
	if (m->u.u64 > 0xff) {
		tbe_log(t, "SET_STATUS: 0x%llx, expected one byte", (unsigned long long)m->u.u64);
		return TBE_REFUSE;
	}
	t->status = m->u.u64;
	if (t->features_failed)
		t->status &= ~8ull;   /* FEATURES_OK does not stick, as in DPDK */
	if (t->nstatuses < TBE_MAX_STATUS)
		t->statuses[t->nstatuses++] = m->u.u64;
	return TBE_OK;
}

static enum tbe_res h_GET_STATUS(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)m;
	return reply_u64(r, t->status);
}

/* Save: write the state blob into the frontend's fd now (it is small, a pipe
 * takes it whole) and close it. Load: keep the fd, read it at CHECK. */
static enum tbe_res h_SET_DEVICE_STATE_FD(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	const struct vhu_dev_state *d = &m->u.devstate;
	char blob[128];
	int fd = take_fd(m, 0), n;

	close_fd(&t->state_fd);
	t->state_dir = d->direction;
	t->state_bytes = 0;
	t->state_ok = false;
	r->u.u64 = VHU_VRING_NOFD;    /* success (0), and we use the frontend's fd */
	if (d->direction > 1 || d->phase != 0) {
		tbe_log(t, "SET_DEVICE_STATE_FD: direction %u phase %u, expected 0|1 and 0",
			d->direction, d->phase);
		close(fd);
		r->u.u64 |= 1;
		return TBE_REPLY;
	}
	if (d->direction == 1) {
		t->state_fd = fd;
		return TBE_REPLY;
	}
	n = snprintf(blob, sizeof(blob), "%sfeatures 0x%llx\n", TBE_STATE_MAGIC,
		     (unsigned long long)t->features);
	t->state_ok = write(fd, blob, (size_t)n) == n;
	t->state_bytes = t->state_ok ? (uint64_t)n : 0;
	if (!t->state_ok)
		tbe_log(t, "SET_DEVICE_STATE_FD: writing the state: %s", strerror(errno));
	close(fd);
	return TBE_REPLY;
}

/* Read a loaded state until EOF (the frontend closed its end before CHECK). */
static bool read_state(struct tbe *t)
{
	uint64_t deadline = vhm_now_ns() + (uint64_t)TBE_IO_TIMEOUT_MS * 1000000ull;
	char buf[4096];
	size_t got = 0;

	for (;;) {
		struct pollfd p = { .fd = t->state_fd, .events = POLLIN };
		ssize_t n;

		if (vhm_now_ns() >= deadline || poll(&p, 1, 100) < 0)
			return false;
		n = read(t->state_fd, buf + got, sizeof(buf) - got);
		if (n == 0)
			break;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return false;
		if (n > 0 && (got += (size_t)n) == sizeof(buf))
			return false;
	}
	t->state_bytes = got;
	return got >= strlen(TBE_STATE_MAGIC) && !memcmp(buf, TBE_STATE_MAGIC, strlen(TBE_STATE_MAGIC));
}

static enum tbe_res h_CHECK_DEVICE_STATE(struct tbe *t, struct vhu_msg *m, struct vhu_msg *r)
{
	(void)m;
	if (t->state_fd >= 0) {
		t->state_ok = read_state(t);
		if (!t->state_ok)
			tbe_log(t, "CHECK_DEVICE_STATE: the loaded state is not a %s",
				"vhm-testbe state");
		close_fd(&t->state_fd);
	}
	return reply_u64(r, t->state_ok ? 0 : 1);
}

static const struct {
	uint32_t num;
	tbe_handler fn;
} handlers[] = {
#define TBE_HANDLER_ROW(name, num, ...) { num, h_##name },
	VHU_REQUESTS(TBE_HANDLER_ROW)
#undef TBE_HANDLER_ROW
};

static tbe_handler handler_of(uint32_t request)
{
	for (size_t i = 0; i < VHM_ARRAY_SIZE(handlers); i++)
		if (handlers[i].num == request)
			return handlers[i].fn;
	return NULL;
}

/* ---- the record ------------------------------------------------------------ */

static json_t *json_u64(uint64_t v)
{
	return json_integer((json_int_t)v);
}

static json_t *record_rings(const struct tbe *t)
{
	json_t *a = json_array();

	for (uint64_t i = 0; i < rings_max(t); i++) {
		const struct tbe_ring *q = &t->rings[i];

		json_array_append_new(a, json_pack(
			"{s:I, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:b, s:b, s:b, s:b, s:b, s:b}",
			"index", (json_int_t)i, "num", json_u64(q->num),
			"desc", json_u64(q->addr.desc), "used", json_u64(q->addr.used),
			"avail", json_u64(q->addr.avail), "log_guest_addr",
			json_u64(q->addr.log_guest_addr), "addr_flags", (int)q->addr.flags,
			"base", json_u64(q->base), "set_base", json_u64(q->set_base),
			"has_addr", q->has_addr, "enabled", q->enabled, "started", q->started,
			"has_kick", q->kick >= 0, "has_call", q->call >= 0, "has_err", q->err >= 0));
	}
	return a;
}

static json_t *record_regions(const struct tbe *t)
{
	json_t *a = json_array();

	for (int i = 0; i < t->nregions; i++)
		json_array_append_new(a, json_pack("{s:o, s:o, s:o}",
			"gpa", json_u64(t->regions[i].r.guest_phys_addr),
			"size", json_u64(t->regions[i].r.memory_size),
			"uaddr", json_u64(t->regions[i].r.userspace_addr)));
	return a;
}

static json_t *record_macs(const uint8_t (*macs)[6], int n)
{
	json_t *a = json_array();
	char s[18];

	for (int i = 0; i < n; i++) {
		vhm_format_mac(macs[i], s);
		json_array_append_new(a, json_string(s));
	}
	return a;
}

static json_t *record_counts(const struct tbe *t)
{
	json_t *o = json_object();

	for (uint32_t i = 0; i < VHM_ARRAY_SIZE(t->counts); i++)
		if (t->counts[i])
			json_object_set_new(o, vhu_req_name(i), json_u64(t->counts[i]));
	return o;
}

static json_t *record_sequence(const struct tbe *t)
{
	json_t *a = json_array();

	for (int i = 0; i < t->nseq; i++)
		json_array_append_new(a, json_string(vhu_req_name(t->seq[i])));
	return a;
}

/* n values as a JSON array (the record's statuses, kick_ids). */
static json_t *record_u64s(const uint64_t *v, int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_u64(v[i]));
	return a;
}

static json_t *record_breq(const struct tbe *t)
{
	json_t *o = json_object();

	for (uint32_t i = 0; i < VHM_ARRAY_SIZE(t->breq_ack); i++)
		if (t->breq_ack[i] >= 0)
			json_object_set_new(o, vhu_breq_name(i), json_integer(t->breq_ack[i]));
	return o;
}

/* Rewrite the record atomically (temp file + rename): readers never see half. */
static void record_write(const struct tbe *t)
{
	char tmp[PATH_MAX], mac[18];
	json_t *o;

	if (!t->opt.record)
		return;
	vhm_format_mac(t->config, mac);
	o = json_pack("{s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o,"
		      " s:{s:i, s:o, s:b}, s:o, s:o, s:o, s:o}",
		      "owner", t->owner, "features", json_u64(t->features),
		      "protocol_features", json_u64(t->protocol), "rings", record_rings(t),
		      "regions", record_regions(t), "log_size", json_u64(t->log_size),
		      "rarp", record_macs((const uint8_t (*)[6])t->rarp, t->nrarp),
		      "mtu", json_u64(t->mtu), "status", json_u64(t->status),
		      "inflight_size", json_u64(t->inflight_size), "resets", json_u64(t->resets),
		      "config_mac", mac, "need_reply", json_u64(t->need_reply),
		      "device_state", "direction", (int)t->state_dir, "bytes",
		      json_u64(t->state_bytes), "ok", t->state_ok,
		      "breq_acks", record_breq(t), "counts", record_counts(t),
		      "has_breq", json_boolean(t->breq >= 0),
		      "log_all", json_boolean((t->features >> VHU_F_LOG_ALL) & 1));
	if (o) {
		json_object_set_new(o, "breq_every", json_pack("{s:o, s:o, s:o, s:f}", "asked",
			json_u64(t->breq_asked), "answered", json_u64(t->breq_answered),
			"closed", json_u64(t->breq_closed), "max_wait_ms", t->breq_max_wait_ms));
		json_object_set_new(o, "sequence", record_sequence(t));
		json_object_set_new(o, "statuses", record_u64s(t->statuses, t->nstatuses));
		json_object_set_new(o, "kick_ids", record_u64s(t->kick_ids, t->nkick_ids));
		json_object_set_new(o, "kick_restarts", json_u64(t->kick_restarts));
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", t->opt.record);
	if (!o || json_dump_file(o, tmp, JSON_COMPACT) < 0 || rename(tmp, t->opt.record) < 0)
		fprintf(stderr, "vhm-testbe: cannot write record %s: %s\n", t->opt.record,
			o ? strerror(errno) : "json_pack failed");
	json_decref(o);
}

/* The record, from outside handle_msg: under the datapath's lock, as the
 * record reads the rings the datapath moves. */
static void record_write_locked(struct tbe *t)
{
	tbe_dp_lock(t);
	record_write(t);
	tbe_dp_unlock(t);
}

/* ---- replies and misbehaviour ---------------------------------------------- */

/* Write raw bytes (for replies that break framing on purpose). */
static int send_raw(int sock, const void *buf, size_t len)
{
	return send(sock, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

static void __attribute__((noreturn)) hang_forever(void)
{
	for (;;)
		pause();
}

/* Is this occurrence of request info the one --misbehave names? (counts
 * already holds it.) */
static bool mis_now(const struct tbe *t, const struct vhu_req_info *info)
{
	return t->opt.mis != TBE_MIS_NONE && t->opt.mis_request == info->num &&
	       (!t->opt.mis_nth || t->counts[info->num] == t->opt.mis_nth);
}

/* The modes that act as the request arrives: -1 drop the connection (close),
 * 0 carry on (stop, once continued). exit does not return. */
static int misbehave_on_arrival(struct tbe *t, const struct vhu_req_info *info)
{
	if (!mis_now(t, info))
		return 0;
	switch (t->opt.mis) {
	case TBE_MIS_CLOSE:
		tbe_log(t, "%s: closing the connection (--misbehave close)", info->name);
		return -1;
	case TBE_MIS_EXIT:
		tbe_log(t, "%s: dying (--misbehave exit)", info->name);
		raise(SIGKILL);
		break;
	case TBE_MIS_STOP:
		tbe_log(t, "%s: stopping (--misbehave stop)", info->name);
		raise(SIGSTOP);
		tbe_log(t, "%s: continued", info->name);
		break;
	default:
		break;
	}
	return 0;
}

/* Send r for request info (the only place replies leave), misbehaving if asked.
 * 0 keep serving, -1 drop the connection. Closes r's fds. */
static int send_reply(struct tbe *t, const struct vhu_req_info *info, struct vhu_msg *r)
{
	char err[TBE_ERR_LEN];
	enum tbe_mis mis = mis_now(t, info) ? t->opt.mis : TBE_MIS_NONE;
	int rc = 0;

	switch (mis) {
	case TBE_MIS_CLOSE:
	case TBE_MIS_EXIT:
	case TBE_MIS_STOP:
		break;   /* acted on arrival */
	case TBE_MIS_WRONG_SIZE:
		r->hdr.size += 4;
		break;
	case TBE_MIS_WRONG_ECHO:
		r->hdr.request = info->num + 1;
		break;
	case TBE_MIS_BAD_FLAGS:
		r->hdr.flags = VHU_VERSION;
		break;
	case TBE_MIS_NO_REPLY:
		goto out;
	case TBE_MIS_HANG:
		hang_forever();
	case TBE_MIS_CLOSE_MID: {
		uint8_t frame[sizeof(r->hdr) + VHU_PAYLOAD_MAX];
		size_t part = r->hdr.size ? sizeof(r->hdr) + r->hdr.size / 2 : sizeof(r->hdr) / 2;

		memcpy(frame, &r->hdr, sizeof(r->hdr));
		memcpy(frame + sizeof(r->hdr), &r->u, r->hdr.size);
		send_raw(t->conn, frame, part);
		rc = -1;
		goto out;
	}
	case TBE_MIS_EXTRA_FDS:
		while (r->nfds < 2 + (info->reply_fds == VHU_FD_NONE ? 0 : 1) &&
		       (r->fds[r->nfds] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
			r->nfds++;
		break;
	case TBE_MIS_REFUSE:
		if (info->reply == VHU_RR_ACK)
			r->u.u64 = 1;
		break;
	case TBE_MIS_HUGE_SIZE:
		r->hdr.size = 0x100000;
		rc = send_raw(t->conn, &r->hdr, sizeof(r->hdr)) ? -1 : 0;
		goto out;
	case TBE_MIS_NONE:
		break;
	}
	if (vhu_wire_send(t->conn, r, TBE_IO_TIMEOUT_MS, err, sizeof(err))) {
		tbe_log(t, "%s: reply not sent: %s", info->name, err);
		rc = -1;
	}
out:
	vhu_msg_close_fds(r);
	return rc;
}

/* ---- incoming messages ----------------------------------------------------- */

/* Is m a well-formed instance of its table row, allowed at this point? */
static bool msg_valid(struct tbe *t, const struct vhu_req_info *info, const struct vhu_msg *m)
{
	const uint32_t known = VHU_VERSION_MASK | VHU_FLAG_NEED_REPLY;
	char want[64];
	int min, max;

	if ((m->hdr.flags & VHU_VERSION_MASK) != VHU_VERSION || (m->hdr.flags & ~known)) {
		tbe_log(t, "%s: flags 0x%x, expected version 1 and at most NEED_REPLY (0x%x)",
			info->name, m->hdr.flags, VHU_VERSION | VHU_FLAG_NEED_REPLY);
		return false;
	}
	if ((m->hdr.flags & VHU_FLAG_NEED_REPLY) && !pf_acked(t, VHU_PF_REPLY_ACK)) {
		tbe_log(t, "%s: NEED_REPLY set, expected only with REPLY_ACK negotiated", info->name);
		return false;
	}
	if (!vhu_pl_size_ok(info->payload, &m->u, m->hdr.size, want, sizeof(want))) {
		tbe_log(t, "%s: payload size %u, expected %s", info->name, m->hdr.size, want);
		return false;
	}
	vhu_fd_count(info->fds, &m->u, &min, &max);
	if (m->nfds < min || m->nfds > max) {
		tbe_log(t, "%s: %d fds, expected %d..%d", info->name, m->nfds, min, max);
		return false;
	}
	if (info->need == VHU_NEED_PF && !((t->opt.features >> VHU_F_PROTOCOL_FEATURES) & 1)) {
		tbe_log(t, "%s: PROTOCOL_FEATURES (virtio bit 30) not offered", info->name);
		return false;
	}
	if (info->need >= 0 && !pf_acked(t, (unsigned)info->need)) {
		tbe_log(t, "%s: protocol feature %s not negotiated", info->name,
			vhu_pf_name((unsigned)info->need));
		return false;
	}
	return true;
}

static int breq_send(struct tbe *t, uint32_t request, uint32_t size);
static void breq_read(struct tbe *t);

/* Ask CONFIG_CHANGE_MSG with NEED_REPLY and handle nothing else until the
 * answer, up to wait_ms; asks, answers and the longest wait are counted
 * (for the caller's record). */
static void breq_ask(struct tbe *t, int wait_ms)
{
	struct pollfd p = { .fd = t->breq, .events = POLLIN };
	uint64_t t0 = vhm_now_ns();
	double ms;

	if (t->breq < 0)
		return;
	if (breq_send(t, VHU_B_CONFIG_CHANGE_MSG, 0)) {
		close_fd(&t->breq);
		return;
	}
	t->breq_asked++;
	if (poll(&p, 1, wait_ms) == 1) {
		breq_read(t);
		t->breq_answered += t->breq >= 0;
		t->breq_closed += t->breq < 0 && (p.revents & POLLHUP);
	} else {
		tbe_log(t, "backend channel: no answer to CONFIG_CHANGE_MSG within %d ms",
			wait_ms);
	}
	ms = (double)(vhm_now_ns() - t0) / 1e6;
	if (ms > t->breq_max_wait_ms)
		t->breq_max_wait_ms = ms;
}

/* --breq-wait: ask the frontend something on the backend channel and wait
 * for its answer before replying, as a backend resolving an IOTLB miss does.
 * A frontend that does not serve the channel while it waits for our reply
 * times out. */
static void breq_ask_and_wait(struct tbe *t)
{
	breq_ask(t, TBE_IO_TIMEOUT_MS);
}

/* --breq-every: when due, ask (and block, as DPDK's backend requests do)
 * for up to TBE_BREQ_ANSWER_MS. The ms until the next ask. */
#define TBE_BREQ_ANSWER_MS 30000
static int breq_every(struct tbe *t)
{
	uint64_t now = vhm_now_ns();

	if (!t->opt.breq_every_ms || t->breq < 0)
		return -1;
	if (now < t->breq_next_ns)
		return (int)((t->breq_next_ns - now) / 1000000) + 1;
	breq_ask(t, TBE_BREQ_ANSWER_MS);
	record_write_locked(t);
	t->breq_next_ns = vhm_now_ns() + t->opt.breq_every_ms * 1000000ull;
	return (int)t->opt.breq_every_ms;
}

/* Handle one message. 0 keep serving, -1 drop the connection. */
static int handle_msg(struct tbe *t, struct vhu_msg *m)
{
	const struct vhu_req_info *info = vhu_req_info(m->hdr.request);
	bool need_reply = m->hdr.flags & VHU_FLAG_NEED_REPLY;
	enum tbe_res res;
	struct vhu_msg r;

	if (!info) {
		tbe_log(t, "request %u, expected one of the table", m->hdr.request);
		return -1;
	}
	if (!msg_valid(t, info, m))
		return -1;
	t->counts[info->num]++;
	if (t->nseq < TBE_MAX_SEQ)
		t->seq[t->nseq++] = (uint8_t)info->num;
	t->need_reply += need_reply;
	if (misbehave_on_arrival(t, info))
		return -1;
	memset(&r, 0, sizeof(r));
	r.hdr.request = info->num;
	r.hdr.flags = VHU_VERSION | VHU_FLAG_REPLY;
	res = handler_of(info->num)(t, m, &r);
	if (res == TBE_DROP) {
		vhu_msg_close_fds(&r);
		return -1;
	}
	if ((t->opt.breq_wait >> info->num) & 1)   /* info->num < 64 (vhu_req_info) */
		breq_ask_and_wait(t);
	record_write(t);   /* before the reply: a frontend that got it sees the record */
	switch (info->reply) {
	case VHU_RR_ALWAYS:
		r.hdr.size = vhu_pl_size(info->reply_payload, &r.u);
		return send_reply(t, info, &r);
	case VHU_RR_ACK:
		if (!need_reply)
			break;
		r.hdr.size = 8;
		r.u.u64 = res == TBE_OK ? 0 : 1;
		return send_reply(t, info, &r);
	case VHU_RR_LOG:
		if (!pf_acked(t, VHU_PF_LOG_SHMFD))
			break;
		r.hdr.size = t->opt.log_reply_size;
		r.u.u64 = 0;
		return send_reply(t, info, &r);
	case VHU_RR_NEVER:
		break;
	}
	return 0;
}

/* ---- the backend-request channel (--breq-test) --------------------------------- */

static int breq_send(struct tbe *t, uint32_t request, uint32_t size)
{
	char err[TBE_ERR_LEN];
	struct vhu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = request;
	m.hdr.flags = VHU_VERSION | VHU_FLAG_NEED_REPLY;
	m.hdr.size = size;
	if (request == VHU_B_IOTLB_MSG) {
		m.u.iotlb.iova = 0x1000;
		m.u.iotlb.size = 0x1000;
		m.u.iotlb.type = 2;   /* IOTLB miss */
	}
	if (vhu_wire_send(t->breq, &m, TBE_IO_TIMEOUT_MS, err, sizeof(err))) {
		tbe_log(t, "backend channel: %s not sent: %s", vhu_breq_name(request), err);
		return -1;
	}
	return 0;
}

/* The frontend must ack CONFIG_CHANGE_MSG with 0 and refuse IOTLB_MSG. */
static void breq_start(struct tbe *t)
{
	t->breq_pending = false;
	if (breq_send(t, VHU_B_CONFIG_CHANGE_MSG, 0) ||
	    breq_send(t, VHU_B_IOTLB_MSG, sizeof(struct vhu_iotlb)))
		close_fd(&t->breq);
}

/* An ack came on the backend channel: record it. A bad one closes the channel. */
static void breq_read(struct tbe *t)
{
	char err[TBE_ERR_LEN];
	struct vhu_msg m;

	if (vhu_wire_recv(t->breq, &m, TBE_IO_TIMEOUT_MS, err, sizeof(err))) {
		tbe_log(t, "backend channel: %s", err);
		close_fd(&t->breq);
		return;
	}
	if (m.hdr.flags != (VHU_VERSION | VHU_FLAG_REPLY) || m.hdr.size != 8 || m.nfds ||
	    m.hdr.request >= VHM_ARRAY_SIZE(t->breq_ack) || !vhu_breq_info(m.hdr.request)) {
		tbe_log(t, "backend channel: reply to %s with flags 0x%x, size %u, %d fds; "
			"expected flags 0x%x, size 8, no fds", vhu_breq_name(m.hdr.request),
			m.hdr.flags, m.hdr.size, m.nfds, VHU_VERSION | VHU_FLAG_REPLY);
		vhu_msg_close_fds(&m);
		close_fd(&t->breq);
		return;
	}
	t->breq_ack[m.hdr.request] = (int64_t)m.u.u64;   /* the caller writes the record */
}

/* ---- connections ------------------------------------------------------------ */

/* The connection SIGUSR1 shuts down (-1: none); set by serve. */
static volatile sig_atomic_t tbe_usr1_conn = -1;

/* --start-on-kick: the kick eventfds of the rings that wait for their
 * first kick into p[*n], their rings into which[]. */
static void kick_waits(struct tbe *t, struct pollfd *p, int *n, int *which)
{
	for (int i = 0; t->opt.start_on_kick && i < TBE_MAX_RINGS; i++) {
		struct tbe_ring *q = &t->rings[i];

		if (q->kick < 0 || q->started)
			continue;
		which[*n] = i;
		p[(*n)++] = (struct pollfd){ .fd = q->kick, .events = POLLIN };
	}
}

/* A kick came on a waiting ring: it starts (its count read, as a back-end
 * that serves kicks does). A ring GET_VRING_BASE stopped starts again too
 * (the spec's ring states; libvhost-user and DPDK close the kick fd at
 * GET_VRING_BASE instead): a frontend must leave no kick on it that the
 * guest wrote before it stopped the ring. */
static void kick_start(struct tbe *t, int ring)
{
	struct tbe_ring *q = &t->rings[ring];
	uint64_t v;

	if (read(q->kick, &v, sizeof(v)) != sizeof(v))
		return;
	tbe_dp_lock(t);
	if (q->stopped) {
		tbe_log(t, "ring %d started again by a kick on its fd after GET_VRING_BASE", ring);
		t->kick_restarts++;
		q->stopped = false;
	}
	q->started = true;
	tbe_dp_refresh(t);
	record_write(t);
	tbe_dp_unlock(t);
}

/* Serve one frontend until it closes or misbehaves. 0 clean close, -1 dropped. */
static int serve(struct tbe *t, int conn)
{
	char err[TBE_ERR_LEN];
	int rc = 0;

	tbe_dp_lock(t);
	device_reset(t);
	tbe_dp_refresh(t);
	tbe_dp_unlock(t);
	t->conn = conn;
	if (vhu_wire_prepare(conn) < 0) {
		tbe_log(t, "cannot prepare the connection: %s", strerror(errno));
		rc = -1;
		goto out;
	}
	record_write(t);
	tbe_usr1_conn = conn;
	for (;;) {
		struct pollfd p[2 + TBE_MAX_RINGS] = { { .fd = conn, .events = POLLIN },
						       { .fd = t->breq, .events = POLLIN } };
		int which[2 + TBE_MAX_RINGS], n = 2;
		struct vhu_msg m;
		int wait_ms;

		if (t->breq_pending)
			breq_start(t);
		wait_ms = breq_every(t);
		p[1].fd = t->breq;      /* -1: poll skips it */
		kick_waits(t, p, &n, which);
		if (poll(p, (nfds_t)n, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		for (int k = 2; k < n; k++)
			if (p[k].revents)
				kick_start(t, which[k]);
		if (t->breq >= 0 && p[1].revents) {
			breq_read(t);
			record_write_locked(t);
		}
		if (!p[0].revents)
			continue;
		if (vhu_wire_recv(conn, &m, TBE_IO_TIMEOUT_MS, err, sizeof(err))) {
			if (strcmp(err, "peer closed the connection")) {
				tbe_log(t, "%s", err);
				rc = -1;
			}
			break;
		}
		tbe_dp_lock(t);
		rc = handle_msg(t, &m);
		tbe_dp_refresh(t);
		tbe_dp_unlock(t);
		vhu_msg_close_fds(&m);
		if (rc) {
			tbe_log(t, "dropping the connection");
			break;
		}
	}
out:
	tbe_usr1_conn = -1;
	close(conn);
	t->conn = -1;
	tbe_dp_lock(t);
	device_reset(t);
	tbe_dp_refresh(t);
	tbe_dp_unlock(t);
	return rc;
}

/* Sockets: main's part (the fuzz harness builds without them). */
#ifndef TBE_NO_MAIN
/* Listen on path. The socket is bound under a temporary name and renamed
 * into place once listening, so whoever sees the path can connect at once. */
static int listen_on(const char *path)
{
	struct sockaddr_un sa;
	char tmp[sizeof(sa.sun_path) + 16];
	const char *bind_path = path;
	int s;

	if (vhm_sockaddr_un(&sa, path)) {
		fprintf(stderr, "vhm-testbe: socket path '%s' empty or too long\n", path);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	if (!vhm_sockaddr_un(&sa, tmp))
		bind_path = tmp;
	unlink(path);
	unlink(bind_path);
	s = usock_listen(bind_path, 4, 0, 0);
	if (s >= 0 && bind_path != path && rename(bind_path, path) < 0) {
		int rc = -errno;

		close(s);
		s = rc;
	}
	if (s < 0) {
		fprintf(stderr, "vhm-testbe: listen on %s: %s\n", path, strerror(-s));
		return -1;
	}
	return s;
}

/* The frontend may not listen yet: retry a refused or absent socket until
 * TBE_CONNECT_WAIT_MS. */
static int connect_to(const char *path)
{
	uint64_t deadline = vhm_now_ns() + (uint64_t)TBE_CONNECT_WAIT_MS * 1000000ull;
	int s;

	for (;;) {
		s = usock_connect(path, TBE_CONNECT_WAIT_MS, 0);
		if (s >= 0)
			return s;
		if (s == -EINVAL || s == -ENAMETOOLONG) {
			fprintf(stderr, "vhm-testbe: socket path '%s' empty or too long\n", path);
			return -1;
		}
		if ((s != -ENOENT && s != -ECONNREFUSED) || vhm_now_ns() >= deadline)
			break;
		usleep(20000);
	}
	fprintf(stderr, "vhm-testbe: connect to %s: %s\n", path, strerror(-s));
	return -1;
}

static int run_server(struct tbe *t)
{
	int ls = listen_on(t->opt.socket), rc = 0;

	if (ls < 0)
		return 1;
	for (;;) {
		int c = usock_accept(ls, -1, 0);

		if (c < 0) {
			fprintf(stderr, "vhm-testbe: accept on %s: %s\n", t->opt.socket, strerror(-c));
			rc = 1;
			break;
		}
		rc = serve(t, c) ? 1 : 0;
		if (t->opt.once)
			break;
	}
	close(ls);
	unlink(t->opt.socket);
	return rc;
}
#endif

/* ---- options ---------------------------------------------------------------- */

static int parse_hex(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 16);
	return errno || *end ? -EINVAL : 0;
}

static uint64_t bits_of(const unsigned *bits, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= 1ull << bits[i];
	return v;
}

static int parse_log_fault(const char *s, enum tbe_log_fault *out)
{
	static const char *const names[] = {
#define TBE_LF_NAME(str, name) str,
		TBE_LOG_FAULTS(TBE_LF_NAME)
#undef TBE_LF_NAME
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i])) {
			*out = (enum tbe_log_fault)(i + 1);
			return 0;
		}
	return -1;
}

static uint64_t default_features(void)
{
	static const unsigned bits[] = {
		VHU_F_LOG_ALL, VHU_F_PROTOCOL_FEATURES, VHU_F_VERSION_1, VHU_F_RING_PACKED,
		VHU_NET_F_MRG_RXBUF, VHU_NET_F_MQ, VHU_NET_F_GUEST_ANNOUNCE, VHU_F_EVENT_IDX,
		VHU_NET_F_MTU, 5 /* MAC */,
	};
	return bits_of(bits, VHM_ARRAY_SIZE(bits));
}

static uint64_t default_protocol(void)
{
	static const unsigned bits[] = {
		VHU_PF_MQ, VHU_PF_LOG_SHMFD, VHU_PF_RARP, VHU_PF_REPLY_ACK, VHU_PF_NET_MTU,
		VHU_PF_BACKEND_REQ, VHU_PF_CONFIG, VHU_PF_INFLIGHT_SHMFD, VHU_PF_RESET_DEVICE,
		VHU_PF_CONFIGURE_MEM_SLOTS, VHU_PF_STATUS, VHU_PF_DEVICE_STATE,
	};
	return bits_of(bits, VHM_ARRAY_SIZE(bits));
}

/* "LOG_SHMFD,REPLY_ACK" → the bits; -EINVAL naming the unknown one. */
static int parse_proto_names(const char *list, uint64_t *bits)
{
	char buf[512], *save = NULL;

	if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf))
		return -EINVAL;
	*bits = 0;
	for (char *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		unsigned b;

		for (b = 0; b < 64; b++)
			if (vhu_pf_name(b) && !strcasecmp(vhu_pf_name(b), name))
				break;
		if (b == 64) {
			fprintf(stderr, "vhm-testbe: --drop-proto: unknown protocol feature '%s'\n",
				name);
			return -EINVAL;
		}
		*bits |= 1ull << b;
	}
	return 0;
}

static int parse_request_name(const char *name, uint32_t *num)
{
	for (uint32_t n = 0; n < 64; n++) {
		const struct vhu_req_info *info = vhu_req_info(n);

		if (info && !strcasecmp(info->name, name)) {
			*num = n;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_misbehave(const char *arg, struct tbe_opts *o)
{
	static const struct { const char *name; enum tbe_mis mis; } modes[] = {
#define TBE_MIS_ROW(str, name) { str, TBE_MIS_##name },
		TBE_MISBEHAVIOURS(TBE_MIS_ROW)
#undef TBE_MIS_ROW
	};
	const char *colon = strchr(arg, ':');
	size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
	char req[64], *at;

	o->mis = TBE_MIS_NONE;
	for (size_t i = 0; i < VHM_ARRAY_SIZE(modes); i++)
		if (strlen(modes[i].name) == len && !strncmp(modes[i].name, arg, len))
			o->mis = modes[i].mis;
	if (o->mis == TBE_MIS_NONE) {
		fprintf(stderr, "vhm-testbe: --misbehave '%s': unknown mode\n", arg);
		return -EINVAL;
	}
	o->mis_request = VHU_GET_FEATURES;
	o->mis_nth = 0;
	if (!colon)
		return 0;
	if (snprintf(req, sizeof(req), "%s", colon + 1) >= (int)sizeof(req))
		req[0] = '\0';
	if ((at = strchr(req, '@'))) {
		*at++ = '\0';
		if (vhm_parse_u64(at, &o->mis_nth) || !o->mis_nth) {
			fprintf(stderr, "vhm-testbe: --misbehave '%s': '@%s', expected a count "
				"from 1\n", arg, at);
			return -EINVAL;
		}
	}
	if (parse_request_name(req, &o->mis_request)) {
		fprintf(stderr, "vhm-testbe: --misbehave '%s': unknown request '%s'\n", arg, req);
		return -EINVAL;
	}
	return 0;
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "vhm-testbe: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", TBE_USAGE);
	return -EINVAL;
}

static int parse_opts(int argc, char **argv, struct tbe_opts *o)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "client", no_argument, NULL, 'c' },
		{ "once", no_argument, NULL, '1' },
		{ "queues", required_argument, NULL, 'q' },
		{ "features", required_argument, NULL, 'f' },
		{ "protocol", required_argument, NULL, 'p' },
		{ "drop-proto", required_argument, NULL, 'd' },
		{ "log-reply-size", required_argument, NULL, 'l' },
		{ "record", required_argument, NULL, 'r' },
		{ "misbehave", required_argument, NULL, 'm' },
		{ "breq-test", no_argument, NULL, 'b' },
		{ "breq-wait", required_argument, NULL, 'W' },
		{ "breq-every", required_argument, NULL, 'E' },
		{ "loopback", no_argument, NULL, 'L' },
		{ "start-on-kick", no_argument, NULL, 'K' },
		{ "skip-log", required_argument, NULL, 'S' },
		{ "drop-frames", required_argument, NULL, 'D' },
		{ "log-fault", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t drop = 0, v;
	uint32_t v32;
	int c;

	memset(o, 0, sizeof(*o));
	o->queues = 1;
	o->features = default_features();
	o->protocol = default_protocol();
	while ((c = getopt_long(argc, argv, "s:c1q:f:p:d:l:r:m:bh", opts, NULL)) != -1) {
		switch (c) {
		case 's': o->socket = optarg; break;
		case 'c': o->client = true; break;
		case '1': o->once = true; break;
		case 'b': o->breq_test = true; break;
		case 'W':
			if (parse_request_name(optarg, &v32))
				return usage_error("--breq-wait '%s': expected a request name", optarg);
			o->breq_wait |= 1ull << v32;
			break;
		case 'E':
			if (vhm_parse_duration_ms(optarg, &o->breq_every_ms) || !o->breq_every_ms)
				return usage_error("--breq-every '%s': expected a duration (100ms)",
						   optarg);
			break;
		case 'L': o->loopback = true; break;
		case 'K': o->start_on_kick = true; break;
		case 'S':
			if (vhm_parse_u64(optarg, &v) || v > 100)
				return usage_error("--skip-log '%s': expected a percentage 0..100",
						   optarg);
			o->skip_log = (unsigned)v;
			o->loopback = true;
			break;
		case 'F':
			if (parse_log_fault(optarg, &o->log_fault))
				return usage_error("--log-fault '%s': expected nothing, used, off-by-one, "
						   "late, mrg or packed-desc", optarg);
			o->loopback = true;
			break;
		case 'D':
			if (vhm_parse_u64(optarg, &o->drop_frames))
				return usage_error("--drop-frames '%s': expected a number of frames",
						   optarg);
			o->loopback = true;
			break;
		case 'r': o->record = optarg; break;
		case 'q':
			if (vhm_parse_u64(optarg, &o->queues) || !o->queues || o->queues > 128)
				return usage_error("--queues '%s': expected 1..128", optarg);
			break;
		case 'f':
			if (parse_hex(optarg, &o->features))
				return usage_error("--features '%s': expected a hex number", optarg);
			break;
		case 'p':
			if (parse_hex(optarg, &o->protocol))
				return usage_error("--protocol '%s': expected a hex number", optarg);
			break;
		case 'd':
			if (parse_proto_names(optarg, &v))
				return usage_error("--drop-proto '%s': expected names of protocol features",
						   optarg);
			drop |= v;
			break;
		case 'l':
			if (vhm_parse_u64(optarg, &v) || (v != 0 && v != 8))
				return usage_error("--log-reply-size '%s': expected 0 or 8", optarg);
			o->log_reply_size = (uint32_t)v;
			break;
		case 'm':
			if (parse_misbehave(optarg, o))
				return usage_error("--misbehave '%s': see the modes below", optarg);
			break;
		case 'h':
			fputs(TBE_USAGE, stdout);
			exit(0);
		default:
			return usage_error("%s", "unknown or incomplete option");
		}
	}
	if (!o->socket || optind != argc)
		return usage_error("%s", "expected --socket PATH and no other arguments");
	o->protocol &= ~drop;
	return 0;
}

/* For the fuzz harness (tests/fuzz/fuzz_testbe.c), which builds this file
 * with TBE_NO_MAIN and feeds connections itself. */
int tbe_opts_parse(int argc, char **argv, struct tbe_opts *o)
{
	return parse_opts(argc, argv, o);
}

int tbe_serve(struct tbe *t, int conn)
{
	return serve(t, conn);
}

#ifndef TBE_NO_MAIN
/* SIGUSR1: the frontend's connection shut down now (shutdown() is
 * async-signal-safe); serve then reads end of file and returns. */
static void on_usr1(int sig)
{
	int fd = tbe_usr1_conn;

	(void)sig;
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

int main(int argc, char **argv)
{
	static struct tbe t;   /* large: ring table */
	struct sigaction sa = { .sa_handler = on_usr1 };

	if (parse_opts(argc, argv, &t.opt))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGUSR1, &sa, NULL);
	t.conn = t.breq = t.inflight_fd = t.state_fd = -1;
	rings_reset(&t);
	if (tbe_dp_start(&t))
		return 1;
	if (t.opt.client) {
		int s = connect_to(t.opt.socket);

		return s < 0 ? 1 : (serve(&t, s) ? 1 : 0);
	}
	return run_server(&t);
}
#endif
