/* SPDX-License-Identifier: MIT */
/* testbe — vhm's test backend (`vhm-testbe`): a small vhost-user backend
 * that serves one frontend at a time over vhu_wire, checks every incoming
 * message against vhu_proto's table (the same code the frontend validates
 * replies with), keeps real device state (mapped memory, rings, log, config
 * space, inflight and device-state fds), writes that state to a JSON record
 * after every message, and can misbehave on purpose to test the frontend.
 *
 * The state lives in struct tbe so that a datapath (processing the rings,
 * logging its writes) can be added in a separate file: it needs only the ring
 * table, tbe_uva_to_va()/tbe_gpa_to_va() and tbe_log_write() below. */
#ifndef VHM_TESTBE_H
#define VHM_TESTBE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhu_proto.h"

#define TBE_MAX_RINGS   256   /* ring index is 8 bits on the wire */
#define TBE_MAX_SLOTS   32    /* what GET_MAX_MEM_SLOTS answers */
#define TBE_MAX_RARP    16    /* RARP MACs remembered (the last ones) */
#define TBE_STATE_MAGIC "vhm-testbe-state 1\n"
#define TBE_MAX_SEQ     4096  /* requests remembered in order (the first ones) */
#define TBE_MAX_KICK_IDS 64   /* kick eventfds remembered (the first ones) */
#define TBE_MAX_STATUS  64    /* SET_STATUS values remembered in order */

/* Misbehaviour modes (--misbehave MODE[:REQUEST[@N]]): option name, enum.
 * REQUEST defaults to GET_FEATURES; with @N only its Nth occurrence on a
 * connection (1 = the first) misbehaves, else every one. The first three
 * act when the request arrives, before it is handled; the others on its
 * reply. SIGUSR1 closes the frontend's connection at any moment (a backend
 * closing it between requests, e.g. during pre-copy). */
#define TBE_MISBEHAVIOURS(X) \
	X("close",      CLOSE)        /* close the connection, no reply */ \
	X("exit",       EXIT)         /* the process dies (SIGKILL to itself) */ \
	X("stop",       STOP)         /* the process stops (SIGSTOP to itself); once \
				       * continued (SIGCONT) it carries on serving */ \
	X("wrong-size", WRONG_SIZE)   /* reply 4 bytes longer than the table says */ \
	X("wrong-echo", WRONG_ECHO)   /* reply names another request */ \
	X("bad-flags",  BAD_FLAGS)    /* reply without the REPLY bit */ \
	X("no-reply",   NO_REPLY)     /* keep serving, never answer this request */ \
	X("hang",       HANG)         /* stop reading and replying altogether */ \
	X("close-mid",  CLOSE_MID)    /* send part of the reply, then close */ \
	X("extra-fds",  EXTRA_FDS)    /* attach two fds the reply must not carry */ \
	X("refuse",     REFUSE)       /* REPLY_ACK with ack 1 (ack'd requests only) */ \
	X("huge-size",  HUGE_SIZE)    /* header size above the payload bound */

/* Logging faults (--log-fault FAULT, --loopback implied): one way each for
 * a backend's dirty logging to be wrong (testbe_dp.c). */
#define TBE_LOG_FAULTS(X) \
	X("nothing",     NOTHING)     /* log no write at all */ \
	X("used",        USED)        /* leave split used-ring writes unlogged */ \
	X("off-by-one",  OFF_BY_ONE)  /* log the page after the one written */ \
	X("late",        LATE)        /* hold marks until more traffic comes, or until \
				       * 100 ms after a ring stopped (GET_VRING_BASE replied) */ \
	X("mrg",         MRG)         /* MRG_RXBUF: each frame in two RX buffers, the \
				       * second (continuation) left unlogged */ \
	X("packed-desc", PACKED_DESC) /* leave used packed descriptors unlogged */

enum tbe_log_fault {
	TBE_LF_NONE,
#define TBE_LF_ENUM(str, name) TBE_LF_##name,
	TBE_LOG_FAULTS(TBE_LF_ENUM)
#undef TBE_LF_ENUM
};

enum tbe_mis {
	TBE_MIS_NONE,
#define TBE_MIS_ENUM(str, name) TBE_MIS_##name,
	TBE_MISBEHAVIOURS(TBE_MIS_ENUM)
#undef TBE_MIS_ENUM
};

struct tbe_opts {
	const char *socket;
	bool client, once, breq_test;
	uint64_t breq_wait;       /* --breq-wait REQ (repeatable): bit REQ set: before
				   * replying to REQ, send CONFIG_CHANGE_MSG and wait
				   * for its ack (0 off) */
	uint64_t queues;          /* queue pairs (2 * queues rings); GET_QUEUE_NUM answers
				   * it, as DPDK >= 23.07 answers its queues= devarg */
	uint64_t features;        /* offered virtio features */
	uint64_t protocol;        /* offered protocol features */
	uint32_t log_reply_size;  /* SET_LOG_BASE reply: 0 (DPDK) or 8 (libvhost-user) */
	const char *record;       /* JSON state file, or NULL */
	enum tbe_mis mis;
	uint32_t mis_request;
	uint64_t mis_nth;         /* only the Nth occurrence of mis_request (0: all) */
	bool loopback;            /* --loopback: run the datapath (testbe_dp.c) */
	bool start_on_kick;       /* --start-on-kick: a ring starts once its kick eventfd
				   * is readable (vhost-user.rst, "Ring states"), which
				   * it reads, not on SET_VRING_KICK (DPDK, libvhost-user) */
	unsigned skip_log;        /* --skip-log PERCENT: pages whose writes go unlogged */
	enum tbe_log_fault log_fault; /* --log-fault FAULT */
	uint64_t drop_frames;     /* --drop-frames N: the first N frames vanish */
	uint64_t breq_every_ms;   /* --breq-every DUR: ask CONFIG_CHANGE_MSG this often,
				   * blocking until answered (0 off) */
};

struct tbe_ring {
	uint32_t num;
	struct vhu_vring_addr addr;   /* frontend virtual addresses, as sent */
	bool has_addr;
	uint32_t base;                /* split: last_avail_idx; packed: avail idx + wrap
				       * (bits 0-15), used idx + wrap (bits 16-31) */
	uint32_t set_base;            /* what SET_VRING_BASE said last */
	bool enabled;                 /* SET_VRING_ENABLE, or kick without PROTOCOL_FEATURES */
	bool started;                 /* kick came and GET_VRING_BASE has not stopped it */
	bool stopped;                 /* GET_VRING_BASE stopped it; its kick fd kept */
	int kick, call, err;          /* owned fds, -1 when none (or polling mode) */
};

struct tbe_region {
	struct vhu_mem_region r;
	uint8_t *map;                 /* mmap of [0, mmap_offset + memory_size) of the fd */
	size_t map_len;
};

struct tbe {
	struct tbe_opts opt;
	int conn;                     /* the frontend, or -1 */
	int breq;                     /* BACKEND_REQ channel, or -1 */
	bool breq_pending;            /* --breq-test messages still to send */

	bool owner;
	uint64_t features;            /* SET_FEATURES */
	uint64_t protocol;            /* SET_PROTOCOL_FEATURES */
	struct tbe_ring rings[TBE_MAX_RINGS];
	struct tbe_region regions[TBE_MAX_SLOTS];
	int nregions;
	uint8_t *log;                 /* dirty log, one bit per 4 KiB guest page */
	uint64_t log_size;            /* bytes */
	uint8_t rarp[TBE_MAX_RARP][6];
	int nrarp;
	bool rarp_pending;            /* --loopback: the last SEND_RARP's frame is still to
				       * reach RX ring 0 (as DPDK puts it among the guest's
				       * TX, which io forwarding returns); under dp_lock */
	uint64_t mtu, status;
	bool features_failed;         /* SET_FEATURES refused: FEATURES_OK will not stick (DPDK) */
	uint64_t statuses[TBE_MAX_STATUS];   /* SET_STATUS values in order */
	int nstatuses;
	uint64_t kick_ids[TBE_MAX_KICK_IDS];  /* every kick eventfd given (its eventfd-id in
					       * /proc fdinfo), all connections, first ones */
	int nkick_ids;
	uint64_t kick_restarts;       /* rings a kick on the fd they had restarted after
				       * GET_VRING_BASE, all connections */
	uint8_t seq[TBE_MAX_SEQ];     /* request numbers in the order they came */
	int nseq;
	uint8_t config[VHU_MAX_CONFIG];
	int inflight_fd;
	uint64_t inflight_size;       /* bytes */
	int state_fd;                 /* SET_DEVICE_STATE_FD (load), read at CHECK */
	uint32_t state_dir;
	uint64_t state_bytes;         /* written (save) or read (load) */
	bool state_ok;
	uint64_t resets;
	int64_t breq_ack[16];         /* ack per backend request number, -1 none yet */
	/* --breq-every and --breq-wait: asks sent, answers read, asks the
	 * frontend ended by closing the channel (it let the device go), the
	 * longest wait for one (ms) */
	uint64_t breq_asked, breq_answered, breq_closed, breq_next_ns;
	double breq_max_wait_ms;
	uint64_t need_reply;          /* messages that came with NEED_REPLY */
	uint64_t counts[64];          /* messages by request number */

	pthread_mutex_t dp_lock;      /* the datapath vs message handling */
	struct tbe_dp *dp;            /* datapath state (testbe_dp.c), NULL without --loopback */
};

/* The frontend's virtual address range [uva, uva+len) in our mapping, or NULL. */
void *tbe_uva_to_va(struct tbe *t, uint64_t uva, uint64_t len);
/* The guest-physical range [gpa, gpa+len) in our mapping, or NULL. */
void *tbe_gpa_to_va(struct tbe *t, uint64_t gpa, uint64_t len);
/* Mark guest-physical [gpa, gpa+len) dirty in the log (no-op without one). */
void tbe_log_write(struct tbe *t, uint64_t gpa, uint64_t len);

/* The datapath (testbe_dp.c), with --loopback: a thread forwards every
 * frame the frontend transmits on ring 2q+1 to its RX ring 2q, like
 * testpmd's io forwarding, split or packed, and logs each guest-memory write
 * (RX buffers, used rings) while LOG_ALL is on. Message handling holds
 * tbe_dp_lock; after each message tbe_dp_refresh re-reads the ring table
 * (rings start, stop, move; GET_VRING_BASE reads the base it maintains). */
int tbe_dp_start(struct tbe *t);
void tbe_dp_lock(struct tbe *t);
void tbe_dp_unlock(struct tbe *t);
void tbe_dp_refresh(struct tbe *t);

/* What testbe.c's main does, exported for the fuzz harness: options from a
 * command line (0, or -EINVAL after printing the usage error), and one
 * frontend connection served until it closes (0, or -1: it dropped the
 * peer). */
int tbe_opts_parse(int argc, char **argv, struct tbe_opts *o);
int tbe_serve(struct tbe *t, int conn);

#endif
