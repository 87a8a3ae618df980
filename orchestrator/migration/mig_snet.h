/* SPDX-License-Identifier: MIT */
/* mig_snet — the migration stream's transport over TCP: where a stream goes
 * ("tcp:HOST:PORT"), listening and accepting on the destination,
 * connecting from the source, and the read and write callbacks that
 * mig_stream's encoder and decoder take (mig_stream_out_fn / _in_fn), with
 * a timeout on every wait and an optional bandwidth cap on writes.
 *
 * A peer that vanishes is found in bounded time: every poll waits at most
 * timeout_ms; and a peer whose host stops answering (a cut link, a host
 * down) within MIG_SNET_LIVE_MS whatever either side is doing: TCP
 * keepalive probes an idle connection every second, and TCP_USER_TIMEOUT
 * drops it once nothing (no data, no ACK, no probe answered) came back for
 * that long. The peer's kernel answers the probes, so a peer that is merely
 * slow (bandwidth-capped, paused between passes) is never taken for dead;
 * one killed closes the connection at once. One connection belongs to
 * one thread; its counters may be read by others (relaxed atomics). */
#ifndef VHM_MIG_SNET_H
#define VHM_MIG_SNET_H

#include <stddef.h>
#include <stdint.h>

#define MIG_SNET_HOST_MAX 256
#define MIG_SNET_LIVE_MS  5000   /* the peer's host silent this long: dead */

/* Is spec a stream address ("tcp:...") rather than a backend socket path? */
int mig_snet_is_addr(const char *spec);
/* "tcp:HOST:PORT" (HOST a name, an IPv4 address or [IPv6]; PORT 1..65535,
 * or 0 to listen on any free port): 0, or -EINVAL with err naming what is
 * wrong. */
int mig_snet_parse(const char *spec, char *host, size_t hostlen, uint16_t *port, char *err,
		   size_t errlen);

/* A bandwidth cap several connections share (their sum; any thread):
 * the bytes written by all of them since the first, relaxed atomics. */
struct mig_snet_cap {
	uint64_t bandwidth;      /* bytes/s; 0: no cap */
	uint64_t start_ns, bytes;
};

struct mig_snet {
	int fd;
	int timeout_ms;          /* each wait for the peer */
	uint64_t bandwidth;      /* bytes/s written at most; 0: no cap */
	uint64_t tb_start_ns, tb_bytes;
	struct mig_snet_cap *shared;   /* when set, the cap instead of bandwidth */
	uint64_t bytes_out, bytes_in;   /* relaxed atomics */
	uint64_t last_in_ns;     /* the last byte read (or the connection made) */
	char peer[MIG_SNET_HOST_MAX + 8];
};

/* Listen on spec; *lfd, and the address bound ("ADDR:PORT") into bound.
 * 0 or -errno with err. */
int mig_snet_listen(const char *spec, int *lfd, char *bound, size_t boundlen, char *err,
		    size_t errlen);
/* Wait up to timeout_ms for the source; c gets the connection. */
int mig_snet_accept(int lfd, struct mig_snet *c, int timeout_ms, char *err, size_t errlen);
/* Connect to spec within timeout_ms. */
int mig_snet_connect(const char *spec, struct mig_snet *c, int timeout_ms, char *err,
		     size_t errlen);
void mig_snet_close(struct mig_snet *c);
/* Close after an answer that must reach the peer (FAILED): our side shut
 * for writing, then whatever the peer still sends read and dropped until it
 * closes too or ms pass. A plain close with the peer's bytes unread would
 * reset the connection, and a reset peer may never read the answer. */
void mig_snet_linger_close(struct mig_snet *c, int ms);
/* When the last byte came in (monotonic ns; the connection's making before
 * any): the connection's thread. */
uint64_t mig_snet_last_in_ns(const struct mig_snet *c);

/* mig_stream_out_fn / mig_stream_in_fn on a struct mig_snet (ctx). Out: 0,
 * -ETIMEDOUT (the peer took nothing for timeout_ms), or the socket's
 * -errno (-EPIPE, -ECONNRESET). In: bytes read, 0 at the peer's close,
 * -ETIMEDOUT, or -errno. */
int mig_snet_out(void *ctx, const void *p, size_t n);
long mig_snet_in(void *ctx, void *p, size_t n);

#endif
