/* SPDX-License-Identifier: MIT */
/* The device: features chosen against the backend, the memory table, rings
 * set up and started (or restarted from bases on another backend), dirty
 * logging on and off, GET_VRING_BASE stops, the datapath thread running the
 * guest driver, and the backend-connection lifecycle (connect or listen,
 * loss, reconnect). Who may touch which field from which thread is the
 * "Threads" section of device.h. */
#include "device.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <sys/un.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "usock.h"
#include "util.h"

/* Device status bits (virtio 1.x, 2.1), set in the driver's order. */
#define ST_ACKNOWLEDGE 0x1u
#define ST_DRIVER      0x2u
#define ST_DRIVER_OK   0x4u
#define ST_FEATURES_OK 0x8u
/* After a pass with nothing to do, the datapath sleeps: briefly while it
 * waits on the device (frames in flight it cannot add to: a quiesce, a full
 * window), else a tick, so that at 20 000 frames/s it wakes ~4 000 times a
 * second, not ~13 000 (the 20 us sleep plus timer slack), and leaves its
 * core to a migration's copy; frames then go out in bursts of a tick's
 * worth and come back within one. */
#define IDLE_SLEEP_NS 20000
#define IDLE_TICK_NS  200000

const char *dev_state_name(enum dev_state s)
{
	static const char *const names[] = {
		"starting", "running", "migrating", "backend-lost", "stopped", "incoming",
		"migrated", "destination-unknown",
	};

	return (unsigned)s < VHM_ARRAY_SIZE(names) ? names[s] : "?";
}

enum dev_state dev_state(const struct device *d)
{
	return __atomic_load_n(&d->atomic_state, __ATOMIC_ACQUIRE);
}

void dev_set_state(struct device *d, enum dev_state s, const char *why)
{
	enum dev_state was = __atomic_exchange_n(&d->atomic_state, s, __ATOMIC_ACQ_REL);

	if (was != s && d->on_state)
		d->on_state(d->on_state_ctx, s, why);
}

void dev_on_state(struct device *d, dev_state_fn fn, void *ctx)
{
	d->on_state = fn;
	d->on_state_ctx = ctx;
}

void dev_snapshot(struct device *d, struct dev_snapshot *out)
{
	pthread_mutex_lock(&d->lock);
	snprintf(out->backend, sizeof(out->backend), "%s", d->backend);
	out->mem_bytes = d->mem.total;
	pthread_mutex_unlock(&d->lock);
	out->state = dev_state(d);
}

void dev_config_defaults(struct dev_config *c)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	memset(c, 0, sizeof(*c));
	c->name = "vhm0";
	c->mem_bytes = 256ull << 20;
	c->queues = 1;
	c->ring = DEV_RING_AUTO;
	c->frame_size = 64;
	c->pattern = GW_UNIFORM;
	c->buffers = ND_BUFFERS_SPREAD;
	c->seed = 1;
	c->timeout_ms = VHU_DEFAULT_TIMEOUT_MS;
	memcpy(c->mac, mac, 6);
}

static bool has(uint64_t f, unsigned bit)
{
	return (f >> bit) & 1;
}

int dev_choose_features(const struct device *d, const struct vhu_front *f, uint64_t *features,
			char *err, size_t errlen)
{
	uint64_t off = f->dev_features, want;

	if (!has(off, VHU_F_VERSION_1))
		return vhm_err(err, errlen, -ENOTSUP, "%s: backend lacks VERSION_1", f->path);
	if (d->packed && !has(off, VHU_F_RING_PACKED))
		return vhm_err(err, errlen, -ENOTSUP, "%s: backend lacks RING_PACKED", f->path);
	if (d->cfg.queues > 1 && (!has(off, VHU_NET_F_MQ) || !vhu_front_has_pf(f, VHU_PF_MQ)))
		return vhm_err(err, errlen, -ENOTSUP, "%s: %d queue pairs need MQ", f->path,
			       d->cfg.queues);
	/* GET_QUEUE_NUM counts what the device type counts: queue pairs for net
	 * (QEMU compares it with its queues= pairs; DPDK answers max_queue_pairs). */
	if ((uint32_t)d->cfg.queues > f->queue_num && vhu_front_has_pf(f, VHU_PF_MQ))
		return vhm_err(err, errlen, -ENOTSUP,
			       "%s: the device has %d queue pairs, the backend at most %u "
			       "(GET_QUEUE_NUM)", f->path, d->cfg.queues, f->queue_num);
	want = 1ull << VHU_F_VERSION_1 | 1ull << VHU_F_PROTOCOL_FEATURES;
	if (!d->cfg.no_mrg_rxbuf)
		want |= 1ull << VHU_NET_F_MRG_RXBUF;
	if (d->event_idx)
		want |= 1ull << VHU_F_EVENT_IDX;
	if (d->packed)
		want |= 1ull << VHU_F_RING_PACKED;
	if (d->cfg.queues > 1)
		want |= 1ull << VHU_NET_F_MQ;
	*features = off & want;
	return 0;
}

void dev_ring_addr_in(const struct device *d, const struct gmem *mem, int ring, uint32_t flags,
		      struct vhu_vring_addr *a)
{
	const struct nd_queue *q = &d->drv.q[ring / 2];
	const struct vring *v = ring % 2 ? &q->tx : &q->rx;
	/* the ring's pages as `mem` maps them (netdrv_rebase's arithmetic) */
	const uint8_t *base = gmem_hva(mem, v->desc_gpa, vring_bytes(v->packed, v->num));

	*a = (struct vhu_vring_addr){
		.index = (uint32_t)ring,
		.flags = flags,
		.desc = (uint64_t)(uintptr_t)base,
		.avail = (uint64_t)(uintptr_t)(base + (v->avail_gpa - v->desc_gpa)),
		.used = (uint64_t)(uintptr_t)(base + (v->used_gpa - v->desc_gpa)),
		/* Packed: the descriptor table, where the device writes its used
		 * descriptors and where DPDK logs them (log_guest_addr + slot * 16).
		 * QEMU sends the device event area here; DPDK 22.11's used
		 * descriptor marks then land on the wrong pages, which only the
		 * guest's own rewrites of the same pages hide (docs/migration.md). */
		.log_guest_addr = v->packed ? v->desc_gpa : v->used_gpa,
	};
}

void dev_ring_addr(const struct device *d, int ring, uint32_t flags, struct vhu_vring_addr *a)
{
	dev_ring_addr_in(d, d->drv.mem, ring, flags, a);
}

/* Append one request of a pipeline to r[*n]. */
static void req_state(struct vhu_pipe_req *r, int *n, uint32_t request, uint32_t index, uint32_t num)
{
	r[(*n)++] = (struct vhu_pipe_req){ .request = request, .fd = -1,
				      .p.state = { .index = index, .num = num } };
}

static void req_fd(struct vhu_pipe_req *r, int *n, uint32_t request, uint32_t index, int fd)
{
	r[(*n)++] = (struct vhu_pipe_req){ .request = request, .fd = fd,
				      .p.u64 = index | (fd < 0 ? VHU_VRING_NOFD : 0) };
}

/* Ring `ring`'s set-up that does not depend on where the ring stands,
 * appended to r[*n]: NUM, ADDR (the ring as `mem` maps it), CALL. Without
 * its KICK the ring stays stopped, and a stopped ring a back-end must not
 * process at all (vhost-user.rst, "Ring states"): nothing reads the ring
 * before its base is in. */
static void stage_ring(struct device *d, const struct gmem *mem, int ring, uint32_t addr_flags,
		       struct vhu_pipe_req *r, int *n)
{
	struct nd_queue *q = &d->drv.q[ring / 2];
	struct vring *v = ring % 2 ? &q->tx : &q->rx;

	req_state(r, n, VHU_SET_VRING_NUM, (uint32_t)ring, v->num);
	r[*n] = (struct vhu_pipe_req){ .request = VHU_SET_VRING_ADDR, .fd = -1 };
	dev_ring_addr_in(d, mem, ring, addr_flags, &r[(*n)++].p.addr);
	req_fd(r, n, VHU_SET_VRING_CALL, (uint32_t)ring, q->call_fd[ring % 2]);
}

/* With LOG_ALL in `features` the used rings are logged from the start. */
static uint32_t log_flags(uint64_t features)
{
	return has(features, VHU_F_LOG_ALL) ? VHU_VRING_F_LOG : 0;
}

/* Every ring staged (stage_ring), then, with PROTOCOL_FEATURES in
 * `features`, every SET_VRING_ENABLE; appended to r[*n]. Enabling a stopped
 * ring starts nothing: "while a ring is stopped, the back-end must not
 * process the ring at all, regardless of whether it is enabled or disabled"
 * -- the state is tracked and comes into effect when the kick starts it
 * (vhost-user.rst, "Ring states"; DPDK's rings are ready only with a kick
 * fd, libvhost-user and rust-vmm's process on the kick). */
static void stage_rings(struct device *d, const struct gmem *mem, uint64_t features,
			struct vhu_pipe_req *r, int *n)
{
	for (int i = 0; i < d->nrings; i++)
		stage_ring(d, mem, i, log_flags(features), r, n);
	if (has(features, VHU_F_PROTOCOL_FEATURES))
		for (int i = 0; i < d->nrings; i++)
			req_state(r, n, VHU_SET_VRING_ENABLE, (uint32_t)i, 1);
}

/* Every ring's BASE (`bases`, NULL: fresh rings), appended to r[*n]. */
static void base_rings(struct device *d, const uint32_t *bases, struct vhu_pipe_req *r, int *n)
{
	for (int i = 0; i < d->nrings; i++) {
		struct vring *v = i % 2 ? &d->drv.q[i / 2].tx : &d->drv.q[i / 2].rx;
		uint32_t base = bases ? bases[i] : vring_initial_base(v);

		req_state(r, n, VHU_SET_VRING_BASE, (uint32_t)i, vring_full_base(v, base));
	}
}

/* Every ring's KICK with kick[ring], appended to r[*n]: after its base
 * unless the backend takes a status (dev_backend_stage_rings). The KICKs
 * ask no ack of their own (unacked; QEMU asks none either): DRIVER_OK's,
 * or the last KICK's, answers for them -- 8 fewer replies and wake-ups
 * with 4 queue pairs. */
static void kick_rings(struct device *d, const int *kick, struct vhu_pipe_req *r, int *n)
{
	for (int i = 0; i < d->nrings; i++) {
		req_fd(r, n, VHU_SET_VRING_KICK, (uint32_t)i, kick[i]);
		r[*n - 1].unacked = true;       /* the last request's ack answers */
	}
}

/* Status DRIVER_OK where the backend takes a status, appended to r[*n]. */
static void driver_ok(struct vhu_front *f, struct vhu_pipe_req *r, int *n)
{
	if (vhu_front_has_pf(f, VHU_PF_STATUS))
		r[(*n)++] = (struct vhu_pipe_req){ .request = VHU_SET_STATUS, .fd = -1,
					      .p.u64 = ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK |
						       ST_DRIVER_OK };
}

/* A start's end: every ring's KICK with kick[ring] appended to r[*n]
 * unless they went before (`kicked`), then DRIVER_OK; the pipeline sent,
 * each ring's kick eventfd written once while the backend serves it
 * (netdrv_kick_each: a ring starts on a kick, its eventfd readable --
 * vhost-user.rst, "Ring states"; QEMU's host notifiers start signalled for
 * the same reason), then its one wait. */
static int start_pipeline(struct device *d, struct vhu_front *f, struct vhu_pipe_req *r, int n,
			  const int *kick, bool kicked)
{
	struct vhu_pending pend;

	if (!kicked)
		kick_rings(d, kick, r, &n);
	driver_ok(f, r, &n);
	vhu_front_pipeline_send(f, r, n, &pend);
	netdrv_kick_each(&d->drv, kick, d->nrings);
	return vhu_front_pipeline_wait(f, &pend);
}

/* The device's own kick eventfds, ring by ring. */
static void own_kicks(const struct device *d, int *kick)
{
	for (int i = 0; i < d->nrings; i++)
		kick[i] = d->drv.q[i / 2].kick_fd[i % 2];
}

/* SET_STATUS where the backend takes it (protocol feature STATUS). */
static int status_set(struct vhu_front *f, uint64_t status)
{
	if (!vhu_front_has_pf(f, VHU_PF_STATUS))
		return 0;
	return vhu_set_u64(f, VHU_SET_STATUS, status);
}

/* FEATURES_OK, read back: a backend that cannot take the features clears it. */
static int status_features_ok(struct vhu_front *f, uint64_t features)
{
	const uint64_t want = ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK;
	uint64_t got;
	int rc;

	if (!vhu_front_has_pf(f, VHU_PF_STATUS))
		return 0;
	if ((rc = vhu_set_u64(f, VHU_SET_STATUS, want)) ||
	    (rc = vhu_get_u64(f, VHU_GET_STATUS, &got)))
		return rc;
	if (got & ST_FEATURES_OK)
		return 0;
	return vhm_err(f->err, sizeof(f->err), -ENOTSUP,
		       "GET_STATUS to %s: status 0x%llx, expected 0x%llx: the backend cleared "
		       "FEATURES_OK, refusing features 0x%llx", f->path, (unsigned long long)got,
		       (unsigned long long)want, (unsigned long long)features);
}

int dev_backend_reset_status(struct vhu_front *f)
{
	return status_set(f, 0);
}

int dev_backend_prepare(struct vhu_front *f, const struct gmem *mem, uint64_t features)
{
	struct vhu_mem_region regions[GMEM_MAX_REGIONS];
	int fds[GMEM_MAX_REGIONS], rc;

	gmem_vhu_regions(mem, regions, fds);
	if ((rc = status_set(f, ST_ACKNOWLEDGE | ST_DRIVER)) ||
	    (rc = vhu_set_features(f, features)) ||
	    (rc = status_features_ok(f, features)) ||
	    (rc = vhu_set_mem_table(f, regions, fds, mem->n)))
		return rc;
	return 0;
}

int dev_backend_start(struct device *d, struct vhu_front *f, const struct gmem *mem,
		      uint64_t features, const uint32_t *bases)
{
	int rc = dev_backend_prepare(f, mem, features);

	return rc ? rc : dev_backend_start_rings(d, f, features, bases);
}

/* Every ring's set-up and enable, then every base, then every kick, then
 * DRIVER_OK, sent back to back with one wait for all their acks
 * (vhu_front_pipeline): with 4 queue pairs that is 49 requests and one round
 * trip instead of 49. */
int dev_backend_start_rings(struct device *d, struct vhu_front *f, uint64_t features,
			    const uint32_t *bases)
{
	struct vhu_pipe_req r[DEV_MAX_RINGS * 6 + 1];
	int n = 0, kick[DEV_MAX_RINGS];

	own_kicks(d, kick);
	stage_rings(d, d->drv.mem, features, r, &n);
	base_rings(d, bases, r, &n);
	return start_pipeline(d, f, r, n, kick, false);
}

/* One eventfd a ring for a destination, into st->kick. */
static int staged_kicks(struct device *d, struct vhu_front *f, struct dev_staged *st)
{
	for (; st->nkick < d->nrings; st->nkick++) {
		st->kick[st->nkick] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (st->kick[st->nkick] < 0)
			return vhm_err(f->err, sizeof(f->err), -errno, "kick eventfds for %s: %s",
				       f->path, strerror(errno));
	}
	return 0;
}

int dev_backend_stage_rings(struct device *d, struct vhu_front *f, const struct gmem *mem,
			    uint64_t features, struct dev_staged *st)
{
	struct vhu_pipe_req r[DEV_MAX_RINGS * 5];
	int n = 0, rc;

	if ((rc = staged_kicks(d, f, st)))
		return rc;
	stage_rings(d, mem, features, r, &n);
	st->kicked = vhu_front_has_pf(f, VHU_PF_STATUS);
	if (st->kicked)
		kick_rings(d, st->kick, r, &n);
	return vhu_front_pipeline(f, r, n);
}

void dev_backend_send_bases(struct device *d, struct vhu_front *f, const uint32_t *bases,
			    struct dev_staged *st)
{
	int n = 0;

	base_rings(d, bases, st->r, &n);
	vhu_front_pipeline_send(f, st->r, n, &st->pend);
	st->bases_sent = true;
}

int dev_backend_bases_wait(struct vhu_front *f, struct dev_staged *st)
{
	if (!st->bases_sent)
		return 0;
	st->bases_sent = false;
	return vhu_front_pipeline_wait(f, &st->pend);
}

int dev_backend_start_staged(struct device *d, struct vhu_front *f, const uint32_t *bases,
			     struct dev_staged *st)
{
	struct vhu_pipe_req r[DEV_MAX_RINGS * 2 + 1];
	int n = 0, rc;

	/* Every base in before any ring starts: a refused one fails the start
	 * with no ring running from a wrong index. */
	if (st->bases_sent) {
		if ((rc = dev_backend_bases_wait(f, st)))
			return rc;
	} else {
		base_rings(d, bases, r, &n);
	}
	return start_pipeline(d, f, r, n, st->kick, st->kicked);
}

void dev_staged_adopt(struct device *d, struct dev_staged *st)
{
	for (int i = 0; i < st->nkick; i++) {
		int *fd = &d->drv.q[i / 2].kick_fd[i % 2], old = *fd;

		*fd = st->kick[i];
		st->kick[i] = old;
	}
}

void dev_staged_release(struct dev_staged *st)
{
	for (int i = 0; i < st->nkick; i++)
		close(st->kick[i]);
	st->nkick = 0;
}

/* Every ring's address again, with or without the log flag, pipelined. */
static int rings_set_log(struct device *d, struct vhu_front *f, uint32_t flags)
{
	struct vhu_pipe_req r[DEV_MAX_RINGS];

	for (int i = 0; i < d->nrings; i++) {
		r[i] = (struct vhu_pipe_req){ .request = VHU_SET_VRING_ADDR, .fd = -1 };
		dev_ring_addr(d, i, flags, &r[i].p.addr);
	}
	return vhu_front_pipeline(f, r, d->nrings);
}

int dev_log_start(struct device *d, struct vhu_front *f, const struct lt_log *log)
{
	int rc;

	if ((rc = vhu_set_log_base(f, log->fd, log->nwords * 8, 0)) ||
	    (rc = vhu_set_features(f, d->features | 1ull << VHU_F_LOG_ALL)))
		return rc;
	return rings_set_log(d, f, VHU_VRING_F_LOG);
}

int dev_log_stop(struct device *d, struct vhu_front *f)
{
	int rc = vhu_set_features(f, d->features);

	return rc ? rc : rings_set_log(d, f, 0);
}

int dev_rings_stop(struct device *d, struct vhu_front *f, const uint32_t *idx, int n,
		   uint32_t *bases)
{
	uint32_t got[DEV_MAX_RINGS];
	int rc;

	for (int i = 0; i < n; i++)
		netdrv_kick_drain(&d->drv, (int)idx[i]);
	rc = vhu_get_vring_bases(f, idx, got, n);
	for (int i = 0; !rc && i < n; i++)
		bases[idx[i]] = got[i];
	return rc;
}

int dev_stop_order(const struct device *d, uint32_t *idx)
{
	int n = 0;

	/* TX rings first: once the backend takes no more frames from the guest,
	 * what it already took still reaches an RX ring that is running. */
	for (int r = 1; r < d->nrings; r += 2)
		idx[n++] = (uint32_t)r;
	for (int r = 0; r < d->nrings; r += 2)
		idx[n++] = (uint32_t)r;
	return n;
}

int dev_backend_stop(struct device *d, struct vhu_front *f, uint32_t *bases)
{
	uint32_t idx[DEV_MAX_RINGS] = { 0 };
	int n = dev_stop_order(d, idx), rc;

	if ((rc = dev_rings_stop(d, f, idx, n, bases)))
		return rc;
	return dev_backend_reset_status(f);   /* as QEMU's vhost_dev_stop: status 0 */
}

static void drain_calls(struct device *d)
{
	uint64_t v;

	for (int i = 0; i < d->drv.nq; i++)
		for (int k = 0; k < 2; k++)
			while (read(d->drv.q[i].call_fd[k], &v, sizeof(v)) == sizeof(v))
				;
}

static void *datapath_main(void *arg)
{
	struct device *d = arg;
	const struct timespec idle = { 0, IDLE_SLEEP_NS }, tick = { 0, IDLE_TICK_NS };
	unsigned spins = 0;

	for (;;) {
		bool waits = false;
		int work;

		pthread_mutex_lock(&d->dp_lock);
		if (d->dp_stop) {
			pthread_mutex_unlock(&d->dp_lock);
			return NULL;
		}
		work = netdrv_poll(&d->drv, vhm_now_ns());
		if (!work)
			waits = netdrv_waits_on_device(&d->drv);
		if (++spins % 1024 == 0)
			drain_calls(d);
		pthread_mutex_unlock(&d->dp_lock);
		/* single writer: a relaxed load + store is enough for readers */
		__atomic_store_n(&d->dp_polls, d->dp_polls + 1, __ATOMIC_RELAXED);
		if (!work) {
			__atomic_store_n(&d->dp_idle_polls, d->dp_idle_polls + 1, __ATOMIC_RELAXED);
			nanosleep(waits ? &idle : &tick, NULL);
		}
	}
}

void dev_guest_pause(struct device *d, bool pause)
{
	if (pause) {
		gw_pause(&d->gw, true);
		pthread_mutex_lock(&d->dp_lock);   /* held until resume */
	} else {
		d->drv.tx_paused = false;
		netdrv_set_traffic(&d->drv, d->drv.pps, d->drv.frame_size);
		pthread_mutex_unlock(&d->dp_lock);
		gw_pause(&d->gw, false);
	}
}

double dev_quiesce(struct device *d, unsigned timeout_ms)
{
	uint64_t t0 = vhm_now_ns(), end = t0 + (uint64_t)timeout_ms * 1000000ull;
	struct nd_counters c;

	pthread_mutex_lock(&d->dp_lock);
	d->drv.tx_paused = true;
	pthread_mutex_unlock(&d->dp_lock);
	do {
		netdrv_totals(&d->drv, &c);
		if (nd_quiet(&c))
			break;
		/* a backend waiting for an answer may hold the frames back */
		if (!d->front.broken)
			vhu_front_serve_backend(&d->front);
		usleep(200);
	} while (vhm_now_ns() < end);
	return (double)(vhm_now_ns() - t0) / 1e6;
}

void dev_datapath_polls(const struct device *d, uint64_t *polls, uint64_t *idle_polls)
{
	*polls = __atomic_load_n(&d->dp_polls, __ATOMIC_RELAXED);
	*idle_polls = __atomic_load_n(&d->dp_idle_polls, __ATOMIC_RELAXED);
}

void dev_set_traffic(struct device *d, uint64_t pps, uint32_t frame_size)
{
	pthread_mutex_lock(&d->dp_lock);
	netdrv_set_traffic(&d->drv, pps, frame_size);
	pthread_mutex_unlock(&d->dp_lock);
}

void dev_set_dirty(struct device *d, uint64_t rate, enum gw_pattern p)
{
	gw_set(&d->gw, rate, p);
}

void dev_left_keep(struct device *d)
{
	struct dev_left *l = &d->left;

	snprintf(l->backend, sizeof(l->backend), "%s", d->backend);
	l->listening = d->listening;
	netdrv_traffic(&d->drv, &l->pps, &l->frame_size);
	l->rate = d->gw.rate;
	l->kept = true;
}

int dev_resume_left(struct device *d, int wait_ms, char *err, size_t errlen)
{
	const struct dev_left *l = &d->left;
	int rc;

	if (!l->kept)
		return vhm_err(err, errlen, -ENOENT, "the device has not left for another "
			       "process: nothing to resume");
	pthread_mutex_lock(&d->lock);
	snprintf(d->backend, sizeof(d->backend), "%s", l->backend);
	d->listening = l->listening;
	pthread_mutex_unlock(&d->lock);
	rc = dev_reconnect(d, wait_ms, err, errlen);
	/* here from now on, its backend back or not (then a reconnect later
	 * finds the guest as it was) */
	d->left.kept = false;
	dev_set_traffic(d, l->pps, l->frame_size);
	dev_set_dirty(d, l->rate, d->gw.pattern);
	return rc;
}

uint64_t dev_area_end(const struct device *d)
{
	uint64_t area = netdrv_area_bytes(d->cfg.queues, d->packed, d->cfg.buffers);

	return (DEV_AREA_GPA + area + (2ull << 20) - 1) & ~((2ull << 20) - 1);
}

struct ram_pages {
	const struct device *d;
	uint64_t area_end;
};

static bool ram_page(uint64_t gpa, void *arg)
{
	const struct ram_pages *rp = arg;
	uint64_t k;

	if (gpa >= DEV_AREA_GPA && gpa < rp->area_end)
		return false;
	return !gmem_ram_index(&rp->d->mem, rp->d->gw.skip_bytes, gpa / GMEM_PAGE_SIZE, &k) ||
	       !gw_reserved(&rp->d->gw, k);
}

uint64_t dev_ram_digest(const struct device *d)
{
	struct ram_pages rp = { d, dev_area_end(d) };

	return gmem_digest_where(&d->mem, ram_page, &rp);
}

/* The driver and the writer: rings at DEV_AREA_GPA, the writer's RAM after
 * the area but off the driver's spread buffer pages, and the driver's own
 * writes marked in the writer's bitmap (the guest side's one dirty set). */
static int open_guest(struct device *d, char *err, size_t errlen)
{
	struct nd_config nc = {
		.nq = d->cfg.queues, .packed = d->packed, .event_idx = d->event_idx,
		.mrg_rxbuf = has(d->features, VHU_NET_F_MRG_RXBUF), .buffers = d->cfg.buffers,
		.seed = d->cfg.seed, .area_gpa = DEV_AREA_GPA, .ram_skip = dev_area_end(d),
	};
	uint64_t stride, offset, count;
	int rc;

	memcpy(nc.mac, d->cfg.mac, 6);
	rc = netdrv_init(&d->drv, &d->mem, &nc, err, errlen);
	if (rc)
		return rc;
	rc = gw_init(&d->gw, &d->mem, nc.ram_skip, err, errlen);
	if (rc) {
		netdrv_destroy(&d->drv);
		return rc;
	}
	if (netdrv_spread(&d->drv, &stride, &offset, &count))
		gw_reserve(&d->gw, stride, offset, count);
	netdrv_track(&d->drv, d->gw.dirty_words);
	return 0;
}

/* ---- listening for a backend that connects ---------------------------------- */

void dev_listener_init(struct dev_listener *l)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

/* The socket is removed only while it is still the file vhm bound:
 * whatever replaced it meanwhile is someone else's. */
void dev_listener_close(struct dev_listener *l)
{
	struct stat st;

	if (l->fd < 0)
		return;
	close(l->fd);
	if (l->ino && !lstat(l->path, &st) && S_ISSOCK(st.st_mode) && st.st_dev == l->dev &&
	    st.st_ino == l->ino)
		unlink(l->path);
	dev_listener_init(l);
}

/* 0: nothing at path; 1: a stale socket, to be removed; else -errno, err. */
static int listen_path_state(const char *path, char *err, size_t errlen)
{
	int rc = usock_probe(path);

	if (rc == -ECONNREFUSED)
		return 1;
	if (rc == -ENOTSOCK)
		return vhm_err(err, errlen, rc, "cannot listen at %s: it exists and is not a socket; "
			       "not replacing it", path);
	if (rc == -EADDRINUSE)
		return vhm_err(err, errlen, rc, "cannot listen at %s: something is listening there; "
			       "not replacing it", path);
	if (rc)
		return vhm_err(err, errlen, rc, "cannot listen at %s: %s", path, strerror(-rc));
	return 0;
}

int dev_listen_check(const char *path, char *err, size_t errlen)
{
	int rc = listen_path_state(path, err, errlen);

	return rc < 0 ? rc : 0;
}

int dev_listener_open(struct dev_listener *l, const char *path, char *err, size_t errlen)
{
	struct stat st;
	int rc;

	dev_listener_init(l);
	if (strlen(path) >= sizeof(l->path))
		return vhm_err(err, errlen, -ENAMETOOLONG, "%s: socket path too long", path);
	rc = listen_path_state(path, err, errlen);
	if (rc < 0)
		return rc;
	if (rc == 1 && unlink(path) && errno != ENOENT)
		return vhm_err(err, errlen, -errno, "cannot listen at %s: cannot remove the "
			       "stale socket: %s", path, strerror(errno));
	rc = usock_listen(path, 1, SOCK_NONBLOCK, 0);
	if (rc == -ENAMETOOLONG || rc == -EINVAL)
		return vhm_err(err, errlen, rc, "%s: socket path too long", path);
	if (rc < 0)
		return vhm_err(err, errlen, rc, "listening on %s: %s", path, strerror(-rc));
	l->fd = rc;
	snprintf(l->path, sizeof(l->path), "%s", path);
	if (!lstat(path, &st)) {   /* else it cannot be told later: never removed */
		l->dev = st.st_dev;
		l->ino = st.st_ino;
	}
	return 0;
}

int dev_listener_accept(struct dev_listener *l, struct vhu_front *f, int wait_ms,
			int timeout_ms, char *err, size_t errlen)
{
	int rc, fd = usock_accept(l->fd, wait_ms, 0);

	if (fd == -ETIMEDOUT)
		return vhm_err(err, errlen, -EAGAIN, "no backend connected to %s within %d ms",
			       l->path, wait_ms);
	if (fd < 0)
		return vhm_err(err, errlen, fd, "accept on %s: %s", l->path, strerror(-fd));
	rc = vhu_front_adopt(f, fd, l->path, timeout_ms);
	if (rc)
		snprintf(err, errlen, "%s", f->err);
	return rc;
}

/* A connection to the backend in f: connect, or accept one (waiting up to
 * wait_ms) when listening -- on the listener made at first use. */
static int connect_backend(struct device *d, struct vhu_front *f, int wait_ms, char *err,
			   size_t errlen)
{
	int rc;

	if (!d->listening) {
		rc = vhu_front_connect(f, d->backend, d->cfg.timeout_ms);
		if (rc)
			snprintf(err, errlen, "%s", f->err);
		return rc;
	}
	if (d->lis.fd < 0 && (rc = dev_listener_open(&d->lis, d->backend, err, errlen)))
		return rc;
	return dev_listener_accept(&d->lis, f, wait_ms, d->cfg.timeout_ms, err, errlen);
}

#define LISTEN_START_WAIT_MS 30000   /* the backend's first connection */

static int negotiate(struct device *d, char *err, size_t errlen)
{
	int rc = connect_backend(d, &d->front, LISTEN_START_WAIT_MS, err, errlen);

	if (rc)
		return rc;
	rc = vhu_front_negotiate(&d->front, vhu_front_default_protocol());
	if (rc)
		return vhm_err(err, errlen, rc, "%s", d->front.err);
	d->packed = d->cfg.ring == DEV_RING_PACKED ||
		    (d->cfg.ring == DEV_RING_AUTO && has(d->front.dev_features, VHU_F_RING_PACKED));
	d->event_idx = has(d->front.dev_features, VHU_F_EVENT_IDX);
	return dev_choose_features(d, &d->front, &d->features, err, errlen);
}

/* What dev_open and dev_open_incoming share: the fields, guest memory, the
 * backend connected and negotiated, the guest driver and writer laid out.
 * 0, or -errno with err and nothing left open. */
static int open_common(struct device *d, const struct dev_config *c, char *err, size_t errlen)
{
	int rc;

	memset(d, 0, sizeof(*d));
	if (strlen(c->backend) >= sizeof(d->backend)) {
		snprintf(err, errlen, "%s: socket path too long", c->backend);
		return -ENAMETOOLONG;
	}
	d->cfg = *c;
	d->cfg.backend = NULL;     /* d->backend from here (Threads) */
	snprintf(d->backend, sizeof(d->backend), "%s", c->backend);
	d->front.sock = d->front.breq_sock = -1;
	dev_listener_init(&d->lis);
	d->listening = c->listen;
	d->nrings = 2 * c->queues;
	d->atomic_state = DEV_STARTING;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->dp_lock, NULL);
	if ((rc = gmem_create(&d->mem, c->mem_bytes, c->name, err, errlen)))
		goto fail_mutex;
	if ((rc = negotiate(d, err, errlen)) || (rc = open_guest(d, err, errlen)))
		goto fail_front;
	return 0;
fail_front:
	vhu_front_close(&d->front);
	dev_listener_close(&d->lis);
	gmem_destroy(&d->mem);
fail_mutex:
	pthread_mutex_destroy(&d->dp_lock);
	pthread_mutex_destroy(&d->lock);
	return rc;
}

/* open_common undone (no guest thread runs). */
static void close_common(struct device *d)
{
	gw_destroy(&d->gw);
	netdrv_destroy(&d->drv);
	vhu_front_close(&d->front);
	dev_listener_close(&d->lis);
	gmem_destroy(&d->mem);
	pthread_mutex_destroy(&d->dp_lock);
	pthread_mutex_destroy(&d->lock);
}

/* The guest's threads: the datapath and the writer. 0 or -errno with err;
 * on failure neither runs. */
static int start_guest(struct device *d, char *err, size_t errlen)
{
	int rc;

	if ((rc = -vhm_thread_start(&d->dp_thread, datapath_main, d)))
		return vhm_err(err, errlen, rc, "starting the datapath thread: %s", strerror(-rc));
	d->dp_started = true;
	pthread_setname_np(d->dp_thread, "vhm-dp");   /* for top -H, perf, vhm-bench */
	if ((rc = gw_start(&d->gw))) {
		pthread_mutex_lock(&d->dp_lock);
		d->dp_stop = true;
		pthread_mutex_unlock(&d->dp_lock);
		pthread_join(d->dp_thread, NULL);
		d->dp_started = false;
		return vhm_err(err, errlen, rc, "starting the memory writer: %s", strerror(-rc));
	}
	d->started_ns = vhm_now_ns();
	return 0;
}

int dev_open(struct device *d, const struct dev_config *c, char *err, size_t errlen)
{
	int rc;

	if ((rc = open_common(d, c, err, errlen)))
		return rc;
	netdrv_fill_rx(&d->drv);
	d->backend_start_ms = (double)vhm_now_ns();
	rc = dev_backend_start(d, &d->front, &d->mem, d->features, NULL);
	d->backend_start_ms = ((double)vhm_now_ns() - d->backend_start_ms) / 1e6;
	if (rc) {
		snprintf(err, errlen, "%s", d->front.err);
		goto fail;
	}
	gw_set(&d->gw, c->dirty_rate, c->pattern);
	netdrv_set_traffic(&d->drv, c->pps, c->frame_size);
	if ((rc = start_guest(d, err, errlen)))
		goto fail;
	d->atomic_state = DEV_RUNNING;   /* no callback yet: dev_open's caller knows */
	return 0;
fail:
	close_common(d);
	return rc;
}

int dev_open_incoming(struct device *d, const struct dev_config *c, char *err, size_t errlen)
{
	int rc;

	if ((rc = open_common(d, c, err, errlen)))
		return rc;
	d->backend_start_ms = (double)vhm_now_ns();
	rc = dev_backend_prepare(&d->front, &d->mem, d->features);
	d->backend_start_ms = ((double)vhm_now_ns() - d->backend_start_ms) / 1e6;
	if (rc) {
		snprintf(err, errlen, "%s", d->front.err);
		close_common(d);
		return rc;
	}
	d->atomic_state = DEV_INCOMING;
	return 0;
}

int dev_incoming_prepare(struct device *d, const uint32_t *bases, char *err, size_t errlen)
{
	struct vhu_pipe_req r[DEV_MAX_RINGS * 5];
	int n = 0, rc;

	stage_rings(d, d->drv.mem, d->features, r, &n);   /* acked: no LOG_ALL */
	base_rings(d, bases, r, &n);
	if ((rc = vhu_front_pipeline(&d->front, r, n)))
		return vhm_err(err, errlen, rc, "%s", d->front.err);
	return 0;
}

int dev_incoming_start(struct device *d, const uint8_t mac[6], char *err, size_t errlen)
{
	struct vhu_pipe_req r[DEV_MAX_RINGS * 2 + 1];
	int n = 0, rc, kick[DEV_MAX_RINGS];

	memcpy(d->cfg.mac, mac, 6);
	memcpy(d->drv.mac, mac, 6);
	/* the source paused its TX to quiesce: resumed here, as dev_guest_pause */
	d->drv.tx_paused = false;
	netdrv_set_traffic(&d->drv, d->drv.pps, d->drv.frame_size);
	own_kicks(d, kick);
	if ((rc = start_pipeline(d, &d->front, r, n, kick, false)))
		return vhm_err(err, errlen, rc, "%s", d->front.err);
	if ((rc = start_guest(d, err, errlen)))
		return rc;
	d->atomic_state = DEV_RUNNING;   /* no callback: the caller knows */
	return 0;
}

size_t dev_state_size(const struct device *d)
{
	return netdrv_state_size(&d->drv) + GW_STATE_SIZE;
}

void dev_state_save(struct device *d, uint8_t *out)
{
	netdrv_state_save(&d->drv, out);
	gw_state_save(&d->gw, out + netdrv_state_size(&d->drv));
}

int dev_state_load(struct device *d, const uint8_t *in, size_t len, char *err, size_t errlen)
{
	size_t nd = netdrv_state_size(&d->drv);
	int rc;

	if (len != nd + GW_STATE_SIZE)
		return vhm_err(err, errlen, -EINVAL, "device state of %zu bytes, this device's is "
			       "%zu (%d queue pairs)", len, nd + GW_STATE_SIZE, d->drv.nq);
	if ((rc = netdrv_state_load(&d->drv, in, nd, err, errlen)))
		return rc;
	return gw_state_load(&d->gw, in + nd, err, errlen);
}

bool dev_send_rarp(struct device *d, const uint8_t mac[6])
{
	bool guest_does = (d->features >> VHU_NET_F_GUEST_ANNOUNCE) & 1;

	if (guest_does || !vhu_front_has_pf(&d->front, VHU_PF_RARP))
		return false;
	return vhu_send_rarp(&d->front, mac) == 0;
}

void dev_close(struct device *d)
{
	uint32_t bases[DEV_MAX_RINGS];

	if (d->dp_started) {
		pthread_mutex_lock(&d->dp_lock);
		d->dp_stop = true;
		pthread_mutex_unlock(&d->dp_lock);
		pthread_join(d->dp_thread, NULL);
		d->dp_started = false;
	}
	gw_destroy(&d->gw);
	/* Stop the rings so the backend lets go of guest memory cleanly (an
	 * incoming device never started them: its status goes back to 0). */
	if (!d->front.broken && dev_state(d) == DEV_INCOMING)
		dev_backend_reset_status(&d->front);
	else if (!d->front.broken)
		dev_backend_stop(d, &d->front, bases);
	vhu_front_close(&d->front);
	dev_listener_close(&d->lis);
	netdrv_destroy(&d->drv);
	gmem_destroy(&d->mem);
	pthread_mutex_destroy(&d->dp_lock);
	pthread_mutex_destroy(&d->lock);
	dev_set_state(d, DEV_STOPPED, "closed");
}

void dev_driver_bases(struct device *d, uint32_t *bases)
{
	d->drv.tx_paused = true;
	netdrv_poll(&d->drv, vhm_now_ns());
	for (int r = 0; r < d->nrings; r++) {
		struct nd_queue *q = &d->drv.q[r / 2];

		bases[r] = vring_restart_base(r % 2 ? &q->tx : &q->rx);
	}
}

int dev_reconnect(struct device *d, int wait_ms, char *err, size_t errlen)
{
	uint32_t bases[DEV_MAX_RINGS];
	struct vhu_front f, old;
	uint64_t feat;
	int rc;

	memset(&f, 0, sizeof(f));
	f.sock = f.breq_sock = -1;
	/* A broken connection serves nothing: close it first, so that a backend
	 * serving one frontend at a time (libvhost-user's kind, vhm-testbe) sees
	 * the old one end and accepts the new one. */
	if (d->front.broken) {
		pthread_mutex_lock(&d->lock);
		vhu_front_close(&d->front);
		pthread_mutex_unlock(&d->lock);
	}
	if ((rc = connect_backend(d, &f, wait_ms, err, errlen)))
		goto fail;
	if ((rc = vhu_front_negotiate(&f, vhu_front_default_protocol()))) {
		snprintf(err, errlen, "%s", f.err);
		goto fail;
	}
	if ((rc = dev_choose_features(d, &f, &feat, err, errlen)))
		goto fail;
	if (feat != d->features) {
		rc = vhm_err(err, errlen, -ENOTSUP,
			     "%s now offers features 0x%llx, the device acked 0x%llx", f.path,
			     (unsigned long long)feat, (unsigned long long)d->features);
		goto fail;
	}
	dev_guest_pause(d, true);
	dev_driver_bases(d, bases);
	rc = dev_backend_start(d, &f, &d->mem, d->features, bases);
	if (rc) {
		snprintf(err, errlen, "%s", f.err);
		dev_guest_pause(d, false);
		goto fail;
	}
	pthread_mutex_lock(&d->lock);
	old = d->front;
	d->front = f;
	pthread_mutex_unlock(&d->lock);
	vhu_front_close(&old);
	dev_guest_pause(d, false);
	return 0;
fail:
	vhu_front_close(&f);
	return rc;
}
