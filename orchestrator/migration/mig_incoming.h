/* SPDX-License-Identifier: MIT */
/* mig_incoming — a migration's destination (`vhm run --incoming
 * tcp:ADDR:PORT`): it listens, takes one source, and reads its stream
 * (docs/stream.md, through mig_sin) into a device of its own. At MEMORY it
 * opens the device (dev_open_incoming: memory of the stream's size, its
 * backend connected, the memory table set) and answers READY; pages and
 * zero runs land straight in that memory; at SWITCHOVER, once the digests
 * agree, it loads the driver's and writer's state, sets the rings up from
 * the stream's bases without starting them and answers READY; at GO (the
 * commit point) it starts the rings, resumes the guest, answers RUNNING and
 * announces the guest (SEND_RARP); then it reads END. A stream over
 * several connections (CHANNELS) has its page connections accepted on the
 * same listener and read by threads of their own (mig_schan.h), joined
 * before DEVICE. Before GO any failure -- GO not coming within
 * MIG_IN_GO_WAIT_MS of READY included -- answers FAILED with its reason
 * (when the connection still takes it) and closes the device: nothing ran.
 *
 * Threads: the caller's thread (the runner's loop) calls start, then status,
 * cancel and done while the incoming thread ("vhm-incoming") owns the device,
 * the listener and the connection; after mig_incoming_finish (which joins)
 * the device is the caller's again. The loop reads only the atomics below
 * and, under `lock`, peer and err. */
#ifndef VHM_MIG_INCOMING_H
#define VHM_MIG_INCOMING_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "device.h"
#include "mig_schan.h"
#include "mig_snet.h"

#define MIG_IN_TIMEOUT_MS 30000   /* each wait for the source once it connected */
#define MIG_IN_END_WAIT_MS 2000   /* the wait for END once the device runs */
#define MIG_IN_GO_WAIT_MS  3000   /* the wait for GO after READY: then discard */
#define MIG_IN_LINGER_MS   1000   /* after FAILED: the source's bytes drained this long */
#define MIG_IN_ERR_LEN    256

enum mig_in_phase {
	MIG_IN_WAITING,          /* listening, no source yet */
	MIG_IN_RECEIVING,        /* a source connected: memory and passes */
	MIG_IN_SWITCHING,        /* SWITCHOVER: state loaded, rings set up, READY,
				  * waiting for GO */
	MIG_IN_RUNNING,          /* GO came, the rings run: the device is this one's */
	MIG_IN_FAILED,           /* nothing runs; err says why */
};

struct mig_incoming {
	struct device *dev;      /* the caller's; the incoming thread's until finish */
	struct dev_config cfg;   /* copy; its strings are the caller's, alive */
	int lfd;                 /* the listener */
	char bound[MIG_SNET_HOST_MAX + 8];   /* "ADDR:PORT" it listens on */
	struct mig_snet conn;    /* the source's connection (incoming thread) */
	struct mig_schan_in chans;   /* its page connections, when several */
	bool chans_on;           /* atomic: chans accepted (their readers may run) */
	struct mig_stream_memory memory;   /* the stream's MEMORY */
	uint64_t chan_data, chan_zero;   /* pages the page connections applied */
	int conn_fd;             /* atomic: conn.fd once accepted, for cancel */
	pthread_t thread;
	bool started;            /* the thread runs (caller's thread) */
	bool opened;             /* the device is open (incoming thread) */
	bool ready;              /* READY answered to SWITCHOVER (incoming thread) */
	int done_fd;             /* eventfd, readable once the thread is done */
	int phase;               /* atomic: enum mig_in_phase */
	bool cancel;             /* atomic: set by mig_incoming_cancel */
	bool rarp_sent;          /* atomic */
	uint32_t passes;         /* atomic: PASS sections so far */
	uint64_t data_pages, zero_pages;   /* atomic: at the last PASS, then at the end */
	uint64_t start_ns, accept_ns, running_ns;   /* atomic */
	pthread_mutex_t lock;    /* peer, err */
	char peer[MIG_SNET_HOST_MAX + 8];
	int rc;                  /* the outcome, read after finish */
	char err[MIG_IN_ERR_LEN];
};

/* Listen on spec ("tcp:ADDR:PORT"; port 0: any) and start the incoming
 * thread, which will open dev with cfg and the stream's memory size (a
 * cfg->mem_bytes other than 0 must be that size). 0, or -errno with err
 * (bad address, port in use). */
int mig_incoming_start(struct mig_incoming *in, const char *spec, struct device *dev,
		       const struct dev_config *cfg, char *err, size_t errlen);
/* Readable (POLLIN) once the incoming thread is done. */
int mig_incoming_fd(const struct mig_incoming *in);
bool mig_incoming_done(const struct mig_incoming *in);
/* Ask the thread to give up (a `stop`, a signal): it stops waiting for a
 * source, or drops the connection; the source then rolls back. */
void mig_incoming_cancel(struct mig_incoming *in);
/* Join the thread and free what it held: 0 when the device runs (past the
 * commit point), else -errno with err (-ECANCELED when cancelled). */
int mig_incoming_finish(struct mig_incoming *in, char *err, size_t errlen);
/* {"listen", "phase", "source", "bytes", "passes", "data_pages",
 *  "zero_pages", "elapsed_ms", "connections", "error"?}: any thread but the
 *  incoming one. */
json_t *mig_incoming_json(struct mig_incoming *in);
const char *mig_in_phase_name(enum mig_in_phase p);
/* The phase now (any thread). */
enum mig_in_phase mig_incoming_phase(const struct mig_incoming *in);

#endif
