/* SPDX-License-Identifier: MIT */
/* mig_schan — a migration stream's page connections beyond the main one
 * (`vhm migrate --connections N`, docs/stream.md "Several connections").
 * The main connection (connection 0) carries the header, MEMORY, CHANNELS,
 * the answers, DEVICE, SWITCHOVER and END, and its own share of the
 * pages; connections 1..N-1, opened to the same listener, each begin with
 * a hello (the migration's id, its index, the count) and carry their share
 * of PAGES and ZERO runs, a PASS after each pass, and END (the checksum of
 * that connection's bytes) once the last copy is out. Guest memory is
 * shared by stripes (mig_smem_owner): a page always rides the same
 * connection, so its copies arrive in pass order without a barrier between
 * passes; the one barrier is before DEVICE: the destination applies DEVICE
 * and SWITCHOVER only once every connection has delivered its END.
 *
 * Source (mig_schan_out): the migration's thread connects, then for each
 * pass starts one sender thread per connection (mig_schan_send), does the
 * main connection's share itself, and waits (mig_schan_wait); between
 * passes, and for PASS and END, the connections are the migration
 * thread's. Destination (mig_schan_in): the reading thread accepts the
 * connections after CHANNELS (a connection whose hello is not one of this
 * migration's is answered FAILED and closed; the wait goes on), one reader
 * thread per connection applies its runs to guest memory, and at DEVICE
 * the reading thread joins them (mig_schan_in_finish). */
#ifndef VHM_MIG_SCHAN_H
#define VHM_MIG_SCHAN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmem.h"
#include "mig_smem.h"
#include "mig_snet.h"
#include "mig_stream.h"

#define MIG_SCHAN_HELLO_MS 2000   /* an accepted connection's hello comes within this */
#define MIG_SCHAN_ERR_LEN  320

/* ---- source ------------------------------------------------------------------ */

/* One page connection of the source. */
struct mig_schan_conn {
	struct mig_snet net;
	struct mig_senc enc;
	struct mig_smem_tx tx;
	pthread_t thread;
	struct mig_schan_out *o;
	uint64_t pages;          /* atomic: pages sent in this pass (progress) */
	bool connected, tx_made, running;
	bool done;               /* atomic: its sender thread ended */
	int rc;                  /* the sender thread's outcome */
};

struct mig_schan_out {
	struct mig_stream_chan chan;   /* id and count; count 1: no extra connection */
	struct mig_schan_conn c[MIG_STREAM_CONNS_MAX];   /* [1..count-1] */
	uint64_t *bm;            /* the pass running: a dirty bitmap, or NULL (all) */
	size_t nwords;
	bool abort;              /* atomic: the senders stop at their next run */
	char err[MIG_SCHAN_ERR_LEN];
};

/* A random id for a migration's connections (never 0). */
uint64_t mig_schan_new_id(void);
/* Connect connections 1..chan->count-1 to `to`, each sending its hello;
 * cap (may be NULL) is the cap all connections share. 0, or -errno with
 * o->err. mig_schan_out_close undoes a partial connect. */
int mig_schan_connect(struct mig_schan_out *o, const struct mig_stream_chan *chan,
		      const char *to, const struct gmem *mem, struct mig_snet_cap *cap,
		      int timeout_ms);
/* Start a pass on every page connection: bm's pages (the caller's bitmap;
 * each sender clears its own words), or every page when bm is NULL. */
int mig_schan_send(struct mig_schan_out *o, uint64_t *bm, size_t nwords);
/* Pages sent by the page connections in this pass so far (any thread). */
uint64_t mig_schan_progress(struct mig_schan_out *o);
/* Are senders still running? */
bool mig_schan_busy(struct mig_schan_out *o);
/* Ask the senders to stop after their current run. */
void mig_schan_abort(struct mig_schan_out *o);
/* Join the senders: 0, or the first failure (-ECANCELED only when nothing
 * else failed) with o->err naming what failed where ("pages on page
 * connection 2"; so do mig_schan_pass's and _end's). */
int mig_schan_wait(struct mig_schan_out *o);
/* Data and zero pages the page connections sent in all. */
void mig_schan_counts(const struct mig_schan_out *o, uint64_t *data, uint64_t *zero);
/* PASS pass, or END, on every page connection (no sender running). */
int mig_schan_pass(struct mig_schan_out *o, uint32_t pass);
int mig_schan_end(struct mig_schan_out *o);
/* Bytes written on connection i (1..count-1), closed or not. */
uint64_t mig_schan_bytes(const struct mig_schan_out *o, int i);
int mig_schan_open_count(const struct mig_schan_out *o);
void mig_schan_out_close(struct mig_schan_out *o);

/* ---- destination -------------------------------------------------------------- */

struct mig_schan_reader {
	struct mig_snet net;
	pthread_t thread;
	struct mig_schan_in *in;
	uint32_t index;
	bool started;
	bool first;              /* its failure came first and woke the main reader */
	uint32_t hello_crc;      /* the checksum so far: of its hello */
	uint64_t hello_bytes;
	int rc;
	uint64_t data_pages, zero_pages;   /* read after the join */
	char err[MIG_SCHAN_ERR_LEN];
};

struct mig_schan_in {
	struct mig_stream_chan chan;     /* the CHANNELS section's */
	struct mig_stream_memory memory; /* the MEMORY section's */
	struct gmem *mem;                /* where the pages go */
	int main_fd;                     /* shut for reading when a reader fails */
	struct mig_schan_reader r[MIG_STREAM_CONNS_MAX];   /* [1..accepted], as they came */
	int accepted;                    /* atomic: r[1..accepted] are set */
	int refused;                     /* connections refused (not ours) */
	bool failing;                    /* atomic: a reader failed, or in_cut */
	char last_refusal[MIG_SCHAN_ERR_LEN];
};

/* Is n a connection count this vhm takes (1..MIG_STREAM_CONNS_MAX)? */
bool mig_schan_count_ok(uint64_t n);
/* in zeroed (once, before other threads may read it), accept
 * chan->count-1 connections on lfd within timeout_ms (cancel, may
 * be NULL, is checked between accepts), each with a hello naming chan->id,
 * its own index and the count; start a reader on each. 0, or -errno with
 * err (the count refused, the connections not all there in time). */
int mig_schan_accept(struct mig_schan_in *in, int lfd, const struct mig_stream_chan *chan,
		     const struct mig_stream_memory *memory, struct gmem *mem, int main_fd,
		     int timeout_ms, const bool *cancel, char *err, size_t errlen);
/* Wake every reader (its connection shut): a failure elsewhere. After a
 * failed accept too: readers already started are cut and finished. */
void mig_schan_in_cut(struct mig_schan_in *in);
/* Join the readers: 0 once each read its END, or a failure with err (the
 * one that came first, before any cut, when there is one: *first says so;
 * may be NULL); *data and *zero (may be NULL) get the pages they applied. */
int mig_schan_in_finish(struct mig_schan_in *in, uint64_t *data, uint64_t *zero, bool *first,
			char *err, size_t errlen);
/* Bytes read on all page connections so far (any thread). */
uint64_t mig_schan_in_bytes(const struct mig_schan_in *in);

#endif
