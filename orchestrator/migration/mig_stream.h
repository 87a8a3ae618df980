/* SPDX-License-Identifier: MIT */
/* mig_stream — the migration stream's format (docs/stream.md), both ends:
 * an encoder that turns a migration's pieces (guest memory layout, pages,
 * runs of zero pages, pass boundaries, device state, the switchover, the
 * end) into bytes, and a decoder that reads them back and refuses, with one
 * line in d->err, anything that is not a stream this vhm can read: another
 * magic, another version, an unknown or misshapen section, pages outside
 * the guest memory the stream announced, a truncated stream, a checksum
 * that does not match.
 *
 * Pure: no sockets, no threads, no device. Bytes go out through a write
 * callback and come in through a read callback, so that the transport (a
 * TCP connection, a file, a buffer in the unit tests) is the caller's. One
 * encoder or decoder belongs to one thread at a time.
 *
 * Layout, all integers little-endian:
 *   header   "VHMSTRM\n" (8 bytes), u32 version, u32 flags (0)
 *   section  u32 type, u32 length of the payload that follows, payload
 *   ...
 *   END      payload: u32 CRC32C of every byte before END's own header
 * Pages travel in PAGES sections (u64 first pfn, u32 count, u32 0, then
 * count * 4096 bytes), zero pages as ZERO runs (u64 first pfn, u64 count:
 * no bytes on the wire). */
#ifndef VHM_MIG_STREAM_H
#define VHM_MIG_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_STREAM_MAGIC     "VHMSTRM\n"
#define MIG_STREAM_VERSION   2u      /* 2: GO after SWITCHOVER (a two-phase switchover) */
#define MIG_STREAM_PAGE      4096u
#define MIG_STREAM_RUN_MAX   256u      /* pages in one PAGES section (1 MiB) */
#define MIG_STREAM_REGIONS   8         /* guest memory regions a stream may list */
#define MIG_STREAM_RINGS     32        /* rings a DEVICE section may carry */
#define MIG_STREAM_BLOB_MAX  262144u   /* driver and writer state, bytes */
#define MIG_STREAM_ERR_LEN   200
#define MIG_STREAM_CHAN_MAGIC "VHMCHAN\n"   /* a page connection's hello */
#define MIG_STREAM_CONNS_MAX 16        /* connections a stream may use */
/* Header flag: several connections -- a CHANNELS section follows MEMORY,
 * and page connections (each opened with a hello) carry pages too. */
#define MIG_STREAM_F_CHANNELS 0x1u

/* Section types (u32 on the wire). */
enum mig_sec {
	MIG_SEC_MEMORY = 1,      /* guest memory layout: must come before pages */
	MIG_SEC_PAGES = 2,       /* a run of pages with their bytes */
	MIG_SEC_ZERO = 3,        /* a run of zero pages: no bytes */
	MIG_SEC_PASS = 4,        /* a pre-copy pass ended */
	MIG_SEC_DEVICE = 5,      /* device state, sent once the source stopped */
	MIG_SEC_SWITCHOVER = 6,  /* the source's digest: the destination prepares */
	MIG_SEC_END = 7,         /* checksum; nothing follows */
	MIG_SEC_GO = 8,          /* after READY: the destination starts (the commit) */
	MIG_SEC_CHANNELS = 9,    /* the connections: id and count (flag CHANNELS) */
};

/* The name of a section type ("PAGES"), or "unknown". */
const char *mig_sec_name(uint32_t type);

struct mig_stream_region {
	uint64_t gpa, size;      /* bytes, page-aligned */
};

struct mig_stream_memory {
	uint64_t total;          /* bytes of guest memory */
	uint32_t n;              /* regions */
	struct mig_stream_region r[MIG_STREAM_REGIONS];
};

/* What the destination needs to run the device on from where the source
 * stopped: features acked, every ring's base (GET_VRING_BASE), the MAC, and
 * the guest driver's and writer's state as an opaque blob (theirs to read). */
struct mig_stream_device {
	uint64_t features;
	uint32_t nrings;
	uint32_t bases[MIG_STREAM_RINGS];
	uint8_t mac[6];
	uint32_t blob_len;
	const uint8_t *blob;     /* encoder: the caller's; decoder: the decoder's,
				  * valid until its next section */
};

/* A stream over several connections (CHANNELS section, and each page
 * connection's hello): a random id naming this migration, how many
 * connections carry pages (2..MIG_STREAM_CONNS_MAX; the main one is
 * connection 0), and in a hello the connection's own index (1..count-1). */
struct mig_stream_chan {
	uint64_t id;
	uint32_t count, index;
};

/* 0, or -errno (the transport's error). */
typedef int (*mig_stream_out_fn)(void *ctx, const void *p, size_t n);
/* Reads up to n bytes: how many (0 at end of stream), or -errno. */
typedef long (*mig_stream_in_fn)(void *ctx, void *p, size_t n);

/* CRC32C (Castagnoli) of n bytes continuing from crc (0 to begin). */
uint32_t mig_stream_crc(uint32_t crc, const void *p, size_t n);

struct mig_senc {
	mig_stream_out_fn out;
	void *ctx;
	uint32_t crc;            /* of every byte written so far */
	uint64_t bytes;          /* written so far */
	uint32_t flags;          /* the header's (MIG_STREAM_F_*), set before it */
	bool ended;
};

void mig_senc_init(struct mig_senc *e, mig_stream_out_fn out, void *ctx);
/* Each writes one piece; 0 or the transport's -errno (-EINVAL for a piece
 * the format cannot carry: too many regions or rings, a run too long). */
int mig_senc_header(struct mig_senc *e);
int mig_senc_memory(struct mig_senc *e, const struct mig_stream_memory *m);
/* n pages from pfn, their bytes at data (n <= MIG_STREAM_RUN_MAX). */
int mig_senc_pages(struct mig_senc *e, uint64_t pfn, uint32_t n, const void *data);
int mig_senc_zero(struct mig_senc *e, uint64_t pfn, uint64_t n);
int mig_senc_pass(struct mig_senc *e, uint32_t pass);
int mig_senc_device(struct mig_senc *e, const struct mig_stream_device *dev);
int mig_senc_switchover(struct mig_senc *e, uint64_t digest);
/* GO (no payload): sent once the destination answered READY to SWITCHOVER;
 * from then on the source never resumes its device. */
int mig_senc_go(struct mig_senc *e);
int mig_senc_end(struct mig_senc *e);
/* CHANNELS on the main connection (after MEMORY; e->flags has
 * MIG_STREAM_F_CHANNELS); a page connection's hello (its first bytes, in
 * place of a header: magic, version, index, count, id). */
int mig_senc_channels(struct mig_senc *e, const struct mig_stream_chan *c);
int mig_senc_hello(struct mig_senc *e, const struct mig_stream_chan *c);

/* One section as read. For PAGES the page bytes are not read yet: the
 * caller reads them with mig_sdec_data (into the guest memory, no copy). */
struct mig_ssec {
	uint32_t type;
	uint64_t offset;         /* of its header in the stream */
	uint64_t pfn, npages;    /* PAGES, ZERO */
	uint32_t pass;           /* PASS */
	uint64_t digest;         /* SWITCHOVER */
	struct mig_stream_memory memory;   /* MEMORY */
	struct mig_stream_device device;   /* DEVICE */
	struct mig_stream_chan chan;       /* CHANNELS */
};

struct mig_sdec {
	mig_stream_in_fn in;
	void *ctx;
	uint32_t crc;
	uint64_t bytes;          /* read so far */
	uint64_t data_left;      /* page bytes of the current PAGES section */
	uint32_t cur;            /* the section being read (errors name it) */
	uint32_t flags;          /* the header's */
	bool have_header, have_memory, ended;
	struct mig_stream_memory memory;
	uint8_t *blob;           /* DEVICE's blob, MIG_STREAM_BLOB_MAX */
	char err[MIG_STREAM_ERR_LEN];
};

/* 0, or -ENOMEM. */
int mig_sdec_init(struct mig_sdec *d, mig_stream_in_fn in, void *ctx);
void mig_sdec_destroy(struct mig_sdec *d);
/* The header: 0, or -EPROTO (not a vhm stream, or another version) /
 * -EPIPE (truncated) / the transport's -errno, with d->err. */
int mig_sdec_header(struct mig_sdec *d);
/* The next section (its page bytes aside): 0, or -errno with d->err. The
 * END section's checksum is checked here: 0 means the stream was whole. */
int mig_sdec_next(struct mig_sdec *d, struct mig_ssec *s);
/* n bytes of the current PAGES section's pages into p. 0 or -errno. */
int mig_sdec_data(struct mig_sdec *d, void *p, size_t n);
/* A page connection's hello, in place of the header; its memory is the
 * main connection's (m), against which its runs are checked. 0, or
 * -EPROTO (not a hello of this format) / -EPIPE / -errno with d->err. */
int mig_sdec_hello(struct mig_sdec *d, const struct mig_stream_memory *m,
		   struct mig_stream_chan *c);

/* ---- the destination's answers (the other direction of the connection) --
 * Each: "VHMA", u32 code, u32 text length (at most MIG_ACK_TEXT_MAX), text.
 * READY, twice: after MEMORY (the layout is this destination's and its
 * backend has the memory table), and after SWITCHOVER (digest, features and
 * state checked, rings set up but not enabled: it can start, and has not);
 * RUNNING: after GO, its rings run -- from GO on the device is no longer
 * the source's; FAILED (before GO): text says why, the source rolls back.
 * docs/stream.md, "The switchover", has the sequence and every failure. */
#define MIG_ACK_TEXT_MAX 200

enum mig_ack {
	MIG_ACK_READY = 1,
	MIG_ACK_RUNNING = 2,
	MIG_ACK_FAILED = 3,
};

/* The answer's name ("RUNNING"), or "unknown". */
const char *mig_ack_name(uint32_t code);
/* 0, -EINVAL (text too long), or the transport's -errno. */
int mig_ack_send(mig_stream_out_fn out, void *ctx, uint32_t code, const char *text);
/* One answer: 0 with *code and text (NUL-terminated), or -errno with err
 * (-EPIPE: the destination closed first; -EPROTO: not an answer). */
int mig_ack_recv(mig_stream_in_fn in, void *ctx, uint32_t *code, char *text, size_t textlen,
		 char *err, size_t errlen);

#endif
