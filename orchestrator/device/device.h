/* SPDX-License-Identifier: MIT */
/* device — a virtio-net device owned the way a VMM owns one: guest memory,
 * the built-in guest driver and memory writer, and the vhost-user backend
 * that does the device's datapath. It sets the backend up (features, memory
 * table, rings, enable, status), runs the guest on a datapath thread, stops
 * rings with GET_VRING_BASE, and can start the same rings on another backend
 * from given bases (the migration destination).
 *
 * The device owns its vhu_front, gmem, netdrv and gwriter.
 *
 * Threads
 * -------
 * A device in `vhm run` is touched by these threads:
 *   owner     the thread that called dev_open (`vhm run`'s loop thread): the
 *             control socket, stats, reconnects, dirty tracking;
 *   vhm-dp    the datapath (datapath_main): netdrv_poll under dp_lock;
 *   gwriter   the guest-memory writer (gwriter.c), under gw.lock;
 *   migration a migration job's thread (migration/mig_job), which owns the
 *             backend connection and guest memory while it runs, and its
 *             short-lived digest thread (reads guest memory only);
 *   vbpf      the eBPF loader (bpf/vbpf_dev), which never sees the device.
 *   incoming  a migration's destination (migration/mig_incoming) opens the
 *             device with dev_open_incoming and starts it with
 *             dev_incoming_start on its own thread, and is its owner until
 *             the runner's loop joins that thread and takes it over; no
 *             other thread touches the device before (the loop answers
 *             `status` from the migration's own atomics).
 * All but the owner start with vhm_thread_start (util.h): signals reach the
 * owner's thread alone, whose handlers set the flag its loop reads.
 * Field by field (who writes; how the others read):
 *   cfg, features, packed, event_idx, nrings, started_ns
 *             set by dev_open before any other thread exists; read-only
 *             after. cfg.backend is NULL once open: the path lives in
 *             `backend`, and whether vhm listens there in `listening`
 *             (cfg.listen says only how the device started).
 *   front, mem, backend, listening, lis
 *             the owner, or the migration thread while a migration runs (the
 *             owner keeps off them then: mig_job.active); every replacement
 *             happens under `lock`. Another thread reads them under `lock`
 *             (dev_snapshot); the thread that may replace them reads them
 *             freely. The old memory and connection are dropped only after
 *             the swap, so nothing freed is reachable under `lock`. vhm-dp
 *             and gwriter reach `mem` through their own pointers, only while
 *             the guest runs; a migration swaps it with the guest paused
 *             (dp_lock held, the writer paused).
 *   guest memory's contents
 *             the guest's (vhm-dp, gwriter) and the backend's; nobody locks
 *             them. A migration's pre-copy reads them while they change, by
 *             design (gmem.h, gmem_copy_racy).
 *   state     any thread, through dev_set_state (atomic exchange, then the
 *             on_state callback on the changing thread); read with dev_state.
 *   on_state  set once by the owner (dev_on_state) before a migration can
 *             start; read-only after.
 *   drv       rings and queue state: vhm-dp under dp_lock, or a thread that
 *             holds dp_lock (dev_guest_pause, dev_reconnect). Counters:
 *             written by the thread holding dp_lock with relaxed atomics,
 *             read by anyone field by field (netdrv_totals,
 *             netdrv_queue_counters) — never as a struct copy. pps and
 *             frame_size: written under dp_lock with relaxed atomics, read by
 *             anyone with netdrv_traffic.
 *   gw        its own lock (gwriter.h); writes counted atomically (gw_writes);
 *             rate and pattern are written by the owner only (dev_set_dirty),
 *             who may read them without the lock. Its dirty bitmap is the
 *             guest side's: gwriter and vhm-dp (the driver's own writes,
 *             netdrv_track) set bits with atomic OR; whoever syncs it (the
 *             owner's tracking, or the migration thread) reads and clears
 *             words with atomic exchange (lt_log_sync).
 *   dp_stop   under dp_lock. dp_thread, dp_started: the owner.
 *   dp_polls, dp_idle_polls
 *             vhm-dp only, relaxed atomics; read with dev_datapath_polls.
 *   left      written by the thread that owns the backend as the device
 *             leaves for a stream's destination (the migration thread,
 *             dev_left_keep); read and cleared by the owner
 *             (dev_resume_left), only once no migration runs. */
#ifndef VHM_DEVICE_H
#define VHM_DEVICE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "gmem.h"
#include "gwriter.h"
#include "netdrv.h"
#include "vhu_front.h"

#define DEV_AREA_GPA   (1ull << 20)       /* rings (and compact buffers) start at 1 MiB */
#define DEV_MAX_RINGS  (2 * ND_MAX_QUEUES)
#define DEV_PATH_MAX   108                /* a backend socket path, as sun_path */

enum dev_ring_mode { DEV_RING_AUTO, DEV_RING_SPLIT, DEV_RING_PACKED };

enum dev_state {
	DEV_STARTING, DEV_RUNNING, DEV_MIGRATING, DEV_BACKEND_LOST, DEV_STOPPED,
	DEV_INCOMING,              /* dev_open_incoming: waiting for a migration's state */
	DEV_MIGRATED,              /* runs in another vhm process now (a stream) */
	DEV_DST_UNKNOWN,           /* stopped here past a stream's commit point with no
				    * word from the destination: it may run there */
};

struct dev_config {
	const char *backend;       /* socket path (shorter than DEV_PATH_MAX) */
	const char *name;
	uint64_t mem_bytes;        /* default 256 MiB */
	int queues;                /* queue pairs */
	enum dev_ring_mode ring;
	uint64_t pps;              /* frames/s, 0 none */
	uint32_t frame_size;
	uint64_t dirty_rate;       /* page writes/s */
	enum gw_pattern pattern;
	enum nd_buffers buffers;   /* packet buffers spread over RAM (default) or compact */
	uint64_t seed;             /* the driver's buffer recycling order (spread) */
	uint8_t mac[6];
	int timeout_ms;
	bool listen;               /* vhm listens at `backend`; the backend connects */
	bool no_mrg_rxbuf;         /* do not ack MRG_RXBUF even when offered */
};

/* A socket vhm listens on for a backend that connects (client mode: testpmd
 * client=1, OVS dpdkvhostuserclient). It owns the socket file it bound and
 * removes it on close only while that file is still the one it bound. */
struct dev_listener {
	int fd;                    /* -1: none */
	dev_t dev;                 /* the socket file bound at path; ino 0: */
	ino_t ino;                 /* unknown, never removed */
	char path[DEV_PATH_MAX];
};

void dev_listener_init(struct dev_listener *l);
/* Listen at path, in place of nothing or of a stale socket only (as
 * dev_listen_check). 0 or -errno with err. */
int dev_listener_open(struct dev_listener *l, const char *path, char *err, size_t errlen);
/* The next backend to connect, waiting up to wait_ms (-EAGAIN after), as
 * f's connection with vhost-user timeout timeout_ms. 0 or -errno, err. */
int dev_listener_accept(struct dev_listener *l, struct vhu_front *f, int wait_ms,
			int timeout_ms, char *err, size_t errlen);
/* Stop listening; the socket file goes if it is still vhm's. */
void dev_listener_close(struct dev_listener *l);

/* A state change (dev_set_state), on the thread that made it. */
typedef void (*dev_state_fn)(void *ctx, enum dev_state s, const char *why);

/* Where a device ran before it left for a stream's destination, and what
 * its guest was doing: what resuming it here takes (dev_resume_left). */
struct dev_left {
	bool kept;                 /* the rest is set */
	char backend[DEV_PATH_MAX];
	bool listening;
	uint64_t pps, rate;        /* traffic and page writes, as they were */
	uint32_t frame_size;
};

struct device {
	struct dev_config cfg;     /* as given to dev_open, but backend NULL */
	pthread_mutex_t lock;      /* held to replace front, mem, backend (Threads) */
	struct vhu_front front;
	struct gmem mem;
	char backend[DEV_PATH_MAX];   /* the backend's socket path now */
	struct netdrv drv;
	struct gwriter gw;
	uint64_t features;         /* acked virtio features (without LOG_ALL) */
	bool packed, event_idx;
	int nrings;
	enum dev_state atomic_state;   /* dev_state(), dev_set_state() only */
	dev_state_fn on_state;
	void *on_state_ctx;
	uint64_t started_ns;
	double backend_start_ms;   /* dev_open's set-up of its backend (memory table,
				    * rings): what a destination's costs (mig_cost) */

	bool listening;            /* the backend connects to vhm at `backend` */
	struct dev_listener lis;   /* with listening: where it connects (owned) */
	pthread_t dp_thread;       /* named "vhm-dp" */
	pthread_mutex_t dp_lock;   /* held while the guest driver touches rings */
	bool dp_stop, dp_started;
	/* Datapath loop passes, and those that found no work (then it sleeps
	 * 20 µs): written by the datapath thread only, read with relaxed atomics
	 * (dev_datapath_polls). */
	uint64_t dp_polls, dp_idle_polls;
	struct dev_left left;      /* kept as it left for a stream's destination */
};

/* With --listen: may vhm listen at path? Nothing there, or a stale socket
 * (nobody listening; dev_open replaces it): 0. A file, a symlink, a
 * directory, or a socket someone listens on (another backend, another
 * program): -ENOTSOCK / -EADDRINUSE with err; vhm never removes those. */
int dev_listen_check(const char *path, char *err, size_t errlen);

const char *dev_state_name(enum dev_state s);
void dev_config_defaults(struct dev_config *c);

/* The state now (any thread). */
enum dev_state dev_state(const struct device *d);
/* Change the state from any thread: stored atomically, then, if it changed,
 * the on_state callback runs on the calling thread with `why`. */
void dev_set_state(struct device *d, enum dev_state s, const char *why);
/* Register the state callback; call before a second thread may change the
 * state (before a migration starts). */
void dev_on_state(struct device *d, dev_state_fn fn, void *ctx);

/* What another thread may read of a device while a migration replaces its
 * backend: a consistent copy taken under d->lock. */
struct dev_snapshot {
	char backend[DEV_PATH_MAX];
	uint64_t mem_bytes;        /* guest memory, bytes */
	enum dev_state state;
};
void dev_snapshot(struct device *d, struct dev_snapshot *out);

/* Create memory, connect to and negotiate with the backend, start its rings
 * and the guest. 0 or -errno with err set; on failure nothing is left open. */
int dev_open(struct device *d, const struct dev_config *c, char *err, size_t errlen);
void dev_close(struct device *d);

/* A migration's destination in three steps (migration/mig_incoming). Open:
 * memory of c->mem_bytes, the backend connected and negotiated as dev_open
 * does, the guest driver and writer laid out, the memory table sent; no
 * ring started, no guest thread: state DEV_INCOMING, the memory the
 * stream's to fill. Prepare, once memory and state arrived
 * (dev_state_load): every ring's size, addresses, call fd, enable and base
 * (`bases`) -- what a backend may refuse -- but no kick fd, no DRIVER_OK:
 * no ring is started, so none runs yet, and dev_close still leaves nothing
 * behind. Start: the kick fds, DRIVER_OK, the guest resumed with
 * `mac`, state DEV_RUNNING (no callback: the caller knows). dev_close
 * undoes any of them. */
int dev_open_incoming(struct device *d, const struct dev_config *c, char *err, size_t errlen);
int dev_incoming_prepare(struct device *d, const uint32_t *bases, char *err, size_t errlen);
int dev_incoming_start(struct device *d, const uint8_t mac[6], char *err, size_t errlen);

/* The guest's state outside its memory, as a migration stream's DEVICE
 * section carries it (docs/stream.md): the driver's (netdrv_state_save)
 * followed by the writer's (gw_state_save, GW_STATE_SIZE bytes). Save with
 * the guest paused; load into a device opened alike (same queues, rings,
 * buffers) before its guest starts: 0, or -EINVAL with err. */
size_t dev_state_size(const struct device *d);
void dev_state_save(struct device *d, uint8_t *out);
int dev_state_load(struct device *d, const uint8_t *in, size_t len, char *err, size_t errlen);

/* Announce the guest's location through the backend (SEND_RARP with mac),
 * unless the guest announces itself (GUEST_ANNOUNCE) or the backend cannot
 * (no RARP protocol feature): true when the RARP request was sent. A failed
 * request leaves its reason in d->front.err. */
bool dev_send_rarp(struct device *d, const uint8_t mac[6]);

/* The features this device acks on a backend that offers `offered`; -ENOTSUP
 * with err naming what is missing. */
int dev_choose_features(const struct device *d, const struct vhu_front *f, uint64_t *features,
			char *err, size_t errlen);
/* Start every ring of the device on backend f with the given bases (NULL:
 * fresh rings), memory table of `mem`, features `features`. */
int dev_backend_start(struct device *d, struct vhu_front *f, const struct gmem *mem,
		      uint64_t features, const uint32_t *bases);
/* dev_backend_start in two halves: status ACKNOWLEDGE|DRIVER, SET_FEATURES,
 * status FEATURES_OK read back with GET_STATUS (-ENOTSUP when the backend
 * clears it), SET_MEM_TABLE (a migration
 * sends them to the destination ahead of the switchover), then the rings. */
int dev_backend_prepare(struct vhu_front *f, const struct gmem *mem, uint64_t features);
/* ... then every ring (its set-up and SET_VRING_ENABLE, then its base, then
 * its kick), and status DRIVER_OK. With LOG_ALL
 * in `features` the rings start logged (VHU_VRING_F_LOG in SET_VRING_ADDR):
 * the backend logs from its first write (SET_LOG_BASE sent before). The
 * rings' addresses are those of the memory the driver runs on now. */
int dev_backend_start_rings(struct device *d, struct vhu_front *f, uint64_t features,
			    const uint32_t *bases);
/* A destination set up before the source stops (a migration between two
 * backends of this process), in steps: dev_backend_stage_rings during
 * pre-copy, dev_backend_send_bases as soon as the source's bases are in,
 * dev_backend_start_staged in the downtime; then dev_staged_adopt as the
 * guest moves to it, and dev_staged_release in every case. Zeroed before
 * the first step. Its rings get kick eventfds of their own: until the
 * switch the driver kicks the source's, and a back-end that takes its kicks
 * off the eventfd must neither start on them nor take them from the
 * source. The migration thread owns it. */
struct dev_staged {
	int kick[DEV_MAX_RINGS];   /* eventfds, nkick of them, owned */
	int nkick;
	bool kicked;               /* the SET_VRING_KICKs went with the set-up */
	struct vhu_pipe_req r[DEV_MAX_RINGS];   /* the bases in flight */
	struct vhu_pending pend;
	bool bases_sent;           /* in flight, not collected yet */
};
/* What does not depend on where the rings stand -- every ring's
 * SET_VRING_NUM, SET_VRING_ADDR (the ring as `mem` maps it: the memory the
 * driver will run on) and SET_VRING_CALL, with PROTOCOL_FEATURES every
 * SET_VRING_ENABLE, and where the backend takes a status (protocol feature
 * STATUS) every SET_VRING_KICK -- pipelined, after dev_backend_prepare (the
 * memory table must be the final one). No ring runs yet: a ring starts on
 * a kick, its eventfd readable (vhost-user.rst, "Ring states"), and the
 * new eventfds are not written until the start; a device processes no
 * ring before DRIVER_OK (virtio 1.2, 2.1.2), which only the start sends
 * (DPDK's rings wait for it too, `virtio_is_ready`). Without STATUS the
 * KICKs wait for the start. -errno with f->err. */
int dev_backend_stage_rings(struct device *d, struct vhu_front *f, const struct gmem *mem,
			    uint64_t features, struct dev_staged *st);
/* Every ring's SET_VRING_BASE, replies left in flight: the backend serves
 * them while the caller works (the last copy). A base starts nothing.
 * Nothing else may be sent to that backend before dev_backend_start_staged
 * or dev_backend_bases_wait collects them. */
void dev_backend_send_bases(struct device *d, struct vhu_front *f, const uint32_t *bases,
			    struct dev_staged *st);
/* The start: the bases' acks collected (or, none sent ahead, every
 * SET_VRING_BASE from `bases`), then the KICKs if staging did not send
 * them and status DRIVER_OK, pipelined, each new kick eventfd written while
 * the backend serves them (it starts the ring, as QEMU's host notifiers
 * start signalled); one wait. A refused base fails it before any ring
 * starts. */
int dev_backend_start_staged(struct device *d, struct vhu_front *f, const uint32_t *bases,
			     struct dev_staged *st);
/* The bases' replies, if any are owed (a rollback's before it talks to f). */
int dev_backend_bases_wait(struct vhu_front *f, struct dev_staged *st);
/* The driver kicks the staged eventfds from now on; st keeps the old ones
 * (to close). The guest must be paused (dp_lock's rule for drv). */
void dev_staged_adopt(struct device *d, struct dev_staged *st);
/* Close what st holds; st is empty after (release again is harmless). */
void dev_staged_release(struct dev_staged *st);
/* The SET_VRING_ADDR payload of ring `ring` (vhm-virtual ring addresses of
 * the memory the driver runs on now; log_guest_addr = the used ring's GPA,
 * for a packed ring its descriptor table's, where used descriptors go). */
void dev_ring_addr(const struct device *d, int ring, uint32_t flags, struct vhu_vring_addr *a);
/* ... of the ring as `mem` maps it (the same guest-physical layout). */
void dev_ring_addr_in(const struct device *d, const struct gmem *mem, int ring, uint32_t flags,
		      struct vhu_vring_addr *a);
/* Dirty logging on backend f, as QEMU turns it on for a migration:
 * SET_LOG_BASE (the whole of log's memfd), SET_FEATURES with LOG_ALL, then
 * every ring's SET_VRING_ADDR again with VHU_VRING_F_LOG (log_guest_addr =
 * its used ring's GPA). The log stays the caller's. 0 or -errno (f->err). */
int dev_log_start(struct device *d, struct vhu_front *f, const struct lt_log *log);
/* Logging off: SET_FEATURES without LOG_ALL, ring addresses without the flag. */
int dev_log_stop(struct device *d, struct vhu_front *f);
/* GET_VRING_BASE on the n rings idx[] (all sent, then collected), the
 * guest paused: each ring's kick eventfd read empty first, so a backend that
 * keeps polling it after the stop finds no kick the guest left to start the
 * ring again with (netdrv_kick_drain); bases[idx[i]] = its base. 0 or
 * -errno (f->err). */
int dev_rings_stop(struct device *d, struct vhu_front *f, const uint32_t *idx, int n,
		   uint32_t *bases);
/* Every ring in the order they stop, into idx: the TX rings (the first
 * d->nrings / 2), then the RX rings. Returns d->nrings. */
int dev_stop_order(const struct device *d, uint32_t *idx);
/* dev_rings_stop on every ring in dev_stop_order, then the status reset
 * (SET_STATUS 0). */
int dev_backend_stop(struct device *d, struct vhu_front *f, uint32_t *bases);
/* SET_STATUS 0 where the backend takes STATUS: the device is stopped or
 * abandoned (QEMU's vhost_dev_stop sends it after stopping the rings). */
int dev_backend_reset_status(struct vhu_front *f);

/* After the backend vanished: connect again (or, listening, take the
 * backend's new connection, waiting up to wait_ms), negotiate the same
 * features, and restart every ring from the driver's last known state.
 * 0, or -errno with err (-EAGAIN: nobody there yet). */
int dev_reconnect(struct device *d, int wait_ms, char *err, size_t errlen);

/* Pause / resume the guest (driver and writer); pause returns once the
 * driver is out of the rings. */
void dev_guest_pause(struct device *d, bool pause);
/* A backend is gone without telling where its rings stood (no
 * GET_VRING_BASE): with the guest paused, the driver reaps what the backend
 * completed and each ring's base is where the driver stands -- what a new
 * backend restarts from (reconnect; a migration whose source died). TX stays
 * paused until dev_guest_pause(d, false). */
void dev_driver_bases(struct device *d, uint32_t *bases);
/* Stop the guest transmitting, keep it receiving, and wait (up to
 * timeout_ms) until every frame it sent is back and every TX buffer is
 * returned: nothing is then in flight inside the backend, where stopping its
 * rings would drop it. dev_guest_pause(d, false) lifts it. Meanwhile it
 * serves the backend channel of d->front: call it from the thread that owns
 * the connection (Threads). Returns the ms it took. */
double dev_quiesce(struct device *d, unsigned timeout_ms);

/* End of the device area (rings, and compact buffers, from DEV_AREA_GPA,
 * rounded up to 2 MiB): guest-physical; the guest writer's RAM and the
 * spread buffers start here. */
uint64_t dev_area_end(const struct device *d);

/* Digest (gmem_digest) of the guest's RAM: every page but the device area
 * and the driver's spread packet buffers — what the guest driver and the
 * backend rewrite as a matter of course. Take it with the guest paused. */
uint64_t dev_ram_digest(const struct device *d);

/* Datapath loop passes since start, and how many of them found no work. */
void dev_datapath_polls(const struct device *d, uint64_t *polls, uint64_t *idle_polls);

void dev_set_traffic(struct device *d, uint64_t pps, uint32_t frame_size);
void dev_set_dirty(struct device *d, uint64_t rate, enum gw_pattern p);

/* Keep where the device runs and what its guest does (d->left), as it
 * leaves for a stream's destination: call before stopping its traffic and
 * writes and letting the backend go. */
void dev_left_keep(struct device *d);
/* Resume here a device that left (d->left kept) and whose destination does
 * not run it: its backend path and listening mode back, connected again
 * (dev_reconnect: listening, the backend's new connection is awaited up to
 * wait_ms), every ring restarted from where the driver stands, its traffic
 * and page writes as they were. The memory is the device's own, untouched
 * since it stopped. 0, or -errno with err (-ENOENT: nothing was kept). A
 * backend that does not come back still leaves the device here: its own
 * backend named, its traffic and page writes as they were (for a later
 * dev_reconnect). The owner's thread, no migration running. */
int dev_resume_left(struct device *d, int wait_ms, char *err, size_t errlen);

#endif
