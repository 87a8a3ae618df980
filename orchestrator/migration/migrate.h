/* SPDX-License-Identifier: MIT */
/* migrate — live migration of the device from its vhost-user backend to
 * another one, the way QEMU does it for vhost-user-net: dirty logging on the
 * source (LOG_ALL + a shared log + logged rings), a pre-copy of guest memory
 * into a second, independent copy (the destination's), iterations copying
 * what the backend log and the guest writer's bitmap say was dirtied, then a
 * switchover: guest paused, source rings stopped (GET_VRING_BASE), last
 * copy (the merged dirty bitmap alone), digests of both copies compared,
 * destination rings started from the returned bases, guest resumed on the
 * new copy, RARP announced. With --verify=sync, digests that differ mean a
 * dirty log missed a write: the migration rolls back and rep->diff names
 * the pages. By default the proof is made after the resume instead
 * (mig_verify.h): a difference found then cannot be rolled back and is
 * reported (rep->verified false, rep->diff, a "verify" event).
 *
 * With p->shared_memory (a hot swap on one host) the destination maps the
 * very memfds the source runs on: no log, no pre-copy, no last copy, no
 * digests; the switchover is the control plane alone (stop the source's
 * rings, start the destination's from their bases).
 *
 * With p->to "tcp:HOST:PORT" the destination is another vhm process (`vhm
 * run --incoming`) reached by a migration stream (docs/stream.md,
 * mig_sout.h): the same log and passes, pages sent as the stream's runs,
 * the device state and the source's digest after the last copy (the
 * destination compares it: verify "stream"), and its RUNNING answer as the
 * commit point; after it the device here stays stopped in state
 * "migrated", its backend named as the address it went to. The commit
 * point is GO, the second of the stream's two-phase switchover: a failure
 * after it (no RUNNING) does not roll back -- the destination may run the
 * device -- and leaves it stopped here in state "destination-unknown"
 * (rep->dst_unknown; the report's "destination_state": "unknown").
 *
 * Any failure before the guest resumes on the destination rolls back: the
 * source restarts from its own bases, logging goes off, the destination and
 * its memory are dropped, the guest resumes where it was.
 *
 * Runs on the caller's thread; the guest keeps running on the device's
 * threads except during the switchover. While it runs, that thread owns the
 * device's backend connection and memory (device.h, "Threads"): it replaces
 * them under d->lock, and changes the state with dev_set_state (running ->
 * migrating -> running), so the device's state callback runs on it. */
#ifndef VHM_MIGRATE_H
#define VHM_MIGRATE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "device.h"
#include "mig_diff.h"
#include "mig_stream.h"
#include "mig_verify.h"

#define MIG_MAX_ITER 1000

struct mig_params {
	const char *to;            /* destination: a backend socket path, "listen:PATH",
				    * or "tcp:HOST:PORT" (a `vhm run --incoming`) */
	uint64_t downtime_ms;      /* allowed downtime, decides convergence */
	int max_iterations;        /* pre-copy iterations after the first full copy */
	uint64_t bandwidth;        /* pre-copy cap in bytes/s; 0 = as fast as it goes */
	bool has_mac;              /* announce this MAC instead of the device's */
	uint8_t mac[6];
	const char *announce_ifname; /* AF_PACKET path when the backend cannot announce */
	const atomic_bool *cancel;   /* set true (any thread) to abort; may be NULL */
	enum mig_verify_mode verify; /* how the copy is proved (mig_verify.h) */
	int copy_threads;          /* first pass: 1, or 2 (a helper thread takes the
				    * upper half of memory; without a bandwidth cap) */
	bool shared_memory;        /* hot swap: the destination maps the device's own
				    * memfds; no dirty log, no copy, no digests */
	int connections;           /* tcp: connections carrying pages, 1..MIG_STREAM_CONNS_MAX
				    * (0: 1); the first carries the rest of the stream too */
	int switchover_boost;      /* nice steps the migrating thread is raised by for
				    * the switchover (quiesce to the destination's start),
				    * 0..MIG_BOOST_MAX (0: left alone; vhm's default 10) */
};

#define MIG_BOOST_MAX 20
#define MIG_BOOST_DEFAULT 10

struct mig_iter {
	uint64_t dirtied;          /* pages found dirty by this iteration's sync */
	uint64_t copied;           /* pages copied */
	double ms;
};

struct mig_report {
	bool ok;
	bool cancelled;            /* ended by the operator's cancel (-ECANCELED) */
	bool converged;
	char phase[16];            /* where it ended: "done" or the failing phase */
	char result[384];          /* "ok", "ok (did not converge)", or "PHASE: cause" */
	double total_ms;
	double setup_ms;           /* start .. logging began (the destination set up) */
	uint64_t setup_pages;      /* of which: pages prefaulted on a local destination */
	double quiesce_ms;         /* guest TX stopped, waiting for frames in flight */
	double downtime_ms;        /* first GET_VRING_BASE .. destination resumed */
	double downtime_ctl_ms;    /* of which: vhost-user requests */
	double downtime_stop_ms;   /* of those: stopping the source (with the RX settle) */
	double downtime_copy_ms;   /* of which: the last copy */
	double downtime_verify_ms; /* of which: vhm's check inside the window (the
				    * digests when sync, the ring pages when after-resume) */
	double downtime_switch_ms; /* of the rest: what is not the last pages at the
				    * bandwidth cap (stopping the source, the last
				    * sync, starting the destination); -1 without a
				    * cap or a copy, and in a stream */
	enum mig_verify_mode verify;   /* the proof made: p->verify, or sync when the
					* destination cannot log (no LOG_SHMFD/LOG_ALL) */
	bool verified;             /* the proof held (false: rep->diff names the pages) */
	double verify_after_ms;    /* after-resume: the check, outside the downtime */
	uint64_t verify_compared, verify_excluded;   /* after-resume: pages compared,
						      * dirtied since the resume */
	int niter;
	struct mig_iter iter[MIG_MAX_ITER];
	uint64_t bytes_copied;
	uint64_t zero_pages;       /* skipped by the first copy (holes or zeros) */
	uint64_t last_pages;       /* copied during the switchover */
	double bandwidth_mib_s;    /* MiB/s the pre-copy achieved */
	char digest_src[17], digest_dst[17];
	struct mig_diff diff;      /* when the digests differ: the pages, named */
	struct nd_counters before, after, at_resume;
	double first_frame_ms;     /* resume on the destination .. first frame back
				    * through it; -1: no traffic, or none in 200 ms */
	bool rarp_sent;            /* SEND_RARP through the destination backend */
	bool announced_ifname;     /* RARP frames on announce_ifname (rarp/) */
	bool shared_memory;        /* a hot swap: nothing copied (mig_params) */
	int boost;                 /* nice steps the switchover ran raised by (0: none;
				    * fewer than asked where nice -20 stopped it) */
	char boost_err[64];        /* why a boost asked for was not applied */
	char destination[320];     /* p->to: a socket path, listen:PATH, tcp:HOST:PORT */
	uint64_t stream_bytes;     /* a stream destination: bytes written to it */
	int stream_conns;          /* and the connections that carried them */
	bool dst_unknown;          /* a stream's GO sent and no RUNNING came: the device
				    * stopped here, the destination's state unknown */
	uint64_t stream_conn_bytes[MIG_STREAM_CONNS_MAX];   /* of which each connection's (0: the main one) */
};

/* Where a migration stands, carried as "progress" in each of its events
 * (mig_progress_json): what a progress line and QMP's query-migrate show.
 * Sizes in bytes, rates per second, times in ms since mig_run began. */
struct mig_progress {
	uint64_t total_bytes;      /* guest memory */
	uint64_t sent_bytes;       /* copied to the destination so far */
	uint64_t remaining_bytes;  /* left to copy: the guest memory before the
				    * first pass, then the pages dirty now */
	uint64_t zero_pages;       /* skipped by the first pass */
	int pass;                  /* pre-copy passes done (0 before the first) */
	double rate;               /* bytes/s, average since logging started */
	double dirty_pages_rate;   /* pages dirtied per s during the last pass */
	double expected_downtime_ms;   /* remaining_bytes at `rate` */
	double elapsed_ms, setup_ms;   /* since start; setup: until logging began */
	uint64_t pass_bytes;       /* copied by the pass running now (ticks) */
	bool stream;               /* the destination is a stream (tcp:): */
	uint64_t stream_bytes;     /*   bytes written to its connections so far */
	int stream_conns;          /*   connections open now */
	uint64_t start_ns, copy_start_ns, sync_ns, tick_ns;   /* monotonic clock */
};

/* The progress as JSON (new reference): total_bytes, sent_bytes,
 * remaining_bytes, zero_pages, pass, rate_bytes_per_s, dirty_pages_per_s,
 * expected_downtime_ms, elapsed_ms, setup_ms; with a stream destination also
 * "stream": {bytes, rate_mib_s (on the wire, average since mig_run began),
 * connections}. */
json_t *mig_progress_json(const struct mig_progress *g);

typedef void (*mig_progress_fn)(void *ctx, const char *phase, json_t *data);

/* Migrate d to p->to. progress (may be NULL) gets each phase as it begins
 * or ends, data stolen, with a "progress" member (mig_progress_json); the
 * last one is "done", "failed", or "cancelled" (the operator's cancel).
 * Between phases, during a pass, it also gets "progress" ticks
 * ({"progress": ...} only, every 250 ms at most): no phase (mig_job emits
 * them as "migration-progress" events). 0 on success (d now owns the
 * destination backend and memory; d->backend names it), or -errno with
 * rep->result naming the
 * phase and the cause. */
int mig_run(struct device *d, const struct mig_params *p, struct mig_report *rep,
	    mig_progress_fn progress, void *ctx);

/* The report as a JSON object (new reference); "status" is QMP's word for
 * how it ended: "completed", "failed" or "cancelled". */
json_t *mig_report_json(const struct mig_report *rep);

#endif
