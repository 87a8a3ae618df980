/* SPDX-License-Identifier: MIT */
/* cert_int — what certify.c (the frame: table, context, shared migrations)
 * and cert_checks.c (the checks) share; not for users of certify.h. */
#ifndef VHM_CERT_INT_H
#define VHM_CERT_INT_H

#include <stdarg.h>

#include "certify.h"
#include "device.h"

#define CERT_MAX_LAYOUTS 8
#define CERT_ERR_LEN     512

/* One layout a migration is made in: ring, queue pairs, MRG_RXBUF, traffic. */
struct cert_layout {
	bool packed;
	int queues;
	bool mrg;
	uint32_t frame;            /* bytes on the wire */
	uint64_t pps;              /* frames/s over all queues */
};

/* One migration SOCKET -> SOCKET2 of a layout, made once (cert_mig_get) and
 * read by the log, restart and timing checks. */
struct cert_mig {
	struct cert_layout l;
	bool done;
	char skip[CERT_ERR_LEN];   /* the backend cannot run this layout: why */
	char err[CERT_ERR_LEN];    /* the device could not start or run: why */
	/* verify mode before the migration */
	uint64_t verify_passes, verify_findings;
	char verify_first[160];    /* the first finding, named */
	double sync_ms_per_gib;    /* backend log sync cost, per GiB of guest */
	/* the migration */
	bool ok, digests_differ;
	char result[256];
	char differing[CERT_ERR_LEN];  /* the first pages named, when they differ */
	char digest_src[17], digest_dst[17];
	double downtime_ms, stop_ms, restart_ms;
	/* frames: at the migration's start, its end, after traffic on SOCKET2 */
	struct nd_counters c0, c1, c2;
	bool quiesced;             /* every frame back after the last traffic */
	/* frames the backend still held when the source was stopped: its
	 * quiesce (MIG_QUIESCE_MS) ran out with them neither back nor written
	 * off; a loopback switch drops them with the stopped port */
	uint64_t in_flight_at_stop;
	double quiesce_ms;
};

/* One run's state: made, read and written by cert_run's thread alone. */
struct cert_ctx {
	const struct cert_opts *o;
	/* what the handshake found (check 1 fills it before any other runs) */
	bool reached, handshake_ok, can_log, rarp, packed, mrg, mq;
	char handshake_err[CERT_ERR_LEN];
	uint32_t queue_num, mem_slots;
	int queues;                /* N of the N-pair layouts: o->queues, or what the
				    * backend offers when fewer and N was not asked */
	double rtt_ms;             /* a GET_FEATURES round trip */
	struct cert_mig mig[CERT_MAX_LAYOUTS];
	int nmig;
};

/* r's status and evidence (printf); returns nothing, so a check may
 * `return cert_set(...)`. */
void cert_set(struct cert_result *r, enum cert_status s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Append to r's evidence ("; " between parts). */
void cert_add(struct cert_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Why a check that needs dirty logging (or SOCKET2) cannot run; NULL if it
 * can. */
const char *cert_cannot_log(const struct cert_ctx *c);
const char *cert_cannot_migrate(const struct cert_ctx *c);

/* The layouts of the run (rings x {1, N} pairs x MRG_RXBUF on/off). */
void cert_layouts(struct cert_ctx *c);
/* "split 1q mrg 64B@200/s" */
void cert_layout_name(const struct cert_layout *l, char *out, size_t len);
/* The migration of layout i, made now unless done before. */
const struct cert_mig *cert_mig_get(struct cert_ctx *c, int i);

/* A device on `sock` in layout l (spread buffers, a little dirtying): 0 or
 * -errno with err. */
int cert_dev_open(struct cert_ctx *c, struct device *d, const char *sock,
		  const struct cert_layout *l, char *err, size_t errlen);
/* The first differing / unlogged page of a device named ("0x1234 queue 0 RX
 * buffers #3"). */
void cert_page_name(const struct device *d, uint64_t pfn, char *out, size_t len);
void cert_sleep_ms(unsigned ms);
/* Add the members of add (stolen; NULL ignored) to obj. */
void cert_fig(json_t *obj, json_t *add);

/* The checks (cert_checks.c). */
void cert_check_features(struct cert_ctx *c, struct cert_result *r);
void cert_check_log(struct cert_ctx *c, struct cert_result *r);
void cert_check_stop(struct cert_ctx *c, struct cert_result *r);
void cert_check_restart(struct cert_ctx *c, struct cert_result *r);
void cert_check_reconnect(struct cert_ctx *c, struct cert_result *r);
void cert_check_rarp(struct cert_ctx *c, struct cert_result *r);
void cert_check_timing(struct cert_ctx *c, struct cert_result *r);
void cert_check_hostile(struct cert_ctx *c, struct cert_result *r);

#endif
