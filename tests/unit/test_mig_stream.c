/* SPDX-License-Identifier: MIT */
/* The migration stream's format (mig_stream): a stream written by the
 * encoder reads back section by section with the same pages, runs, device
 * state and digest; the CRC is CRC32C; and every way a stream can be wrong
 * -- another magic or version, truncation at any byte, a flipped byte, an
 * unknown section, pages outside the announced memory, pages before the
 * memory layout -- is refused with one line naming it. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mig_stream.h"

/* A growable buffer: the encoder's output, the decoder's input. */
struct buf {
	uint8_t *p;
	size_t len, cap, pos;
	size_t chunk;            /* decoder: at most this many bytes per read (0: all) */
};

static int buf_out(void *ctx, const void *p, size_t n)
{
	struct buf *b = ctx;

	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		cr_assert(not(eq(ptr, b->p, NULL)));
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static long buf_in(void *ctx, void *p, size_t n)
{
	struct buf *b = ctx;
	size_t left = b->len - b->pos;

	if (b->chunk && n > b->chunk)
		n = b->chunk;
	if (n > left)
		n = left;
	memcpy(p, b->p + b->pos, n);
	b->pos += n;
	return (long)n;
}

#define PAGE MIG_STREAM_PAGE

static uint8_t pages[3 * PAGE];
static const uint8_t blob[] = "driver and writer state";

/* A whole stream: header, memory (two regions), 3 pages at pfn 5, a zero run,
 * a pass, the device, the switchover, GO, the end. */
static void write_stream(struct buf *b)
{
	struct mig_senc e;
	struct mig_stream_memory m = { .total = 48 * PAGE, .n = 2,
				       .r = { { 0, 16 * PAGE }, { 64 * PAGE, 32 * PAGE } } };
	struct mig_stream_device dev = { .features = 0x130000000ull, .nrings = 2,
					 .bases = { 7, 0x8001 }, .mac = { 2, 0, 0, 0, 0, 9 },
					 .blob_len = sizeof(blob), .blob = blob };

	for (size_t i = 0; i < sizeof(pages); i++)
		pages[i] = (uint8_t)(i * 7 + 3);
	mig_senc_init(&e, buf_out, b);
	cr_assert(eq(int, mig_senc_header(&e), 0));
	cr_assert(eq(int, mig_senc_memory(&e, &m), 0));
	cr_assert(eq(int, mig_senc_pages(&e, 5, 3, pages), 0));
	cr_assert(eq(int, mig_senc_zero(&e, 64, 32), 0));
	cr_assert(eq(int, mig_senc_pass(&e, 1), 0));
	cr_assert(eq(int, mig_senc_device(&e, &dev), 0));
	cr_assert(eq(int, mig_senc_switchover(&e, 0x1122334455667788ull), 0));
	cr_assert(eq(int, mig_senc_go(&e), 0));
	cr_assert(eq(int, mig_senc_end(&e), 0));
	cr_assert(eq(int, mig_senc_pass(&e, 2), -EINVAL), "a section after END was written");
	cr_assert(eq(u64, e.bytes, b->len));
}

/* Read every section; 0 at a whole stream, else the first error (d->err). */
static int read_all(struct buf *b, struct mig_sdec *d, int *nsec)
{
	struct mig_ssec s;
	uint8_t got[3 * PAGE];
	int rc;

	*nsec = 0;
	if ((rc = mig_sdec_header(d)))
		return rc;
	while (!d->ended) {
		if ((rc = mig_sdec_next(d, &s)))
			return rc;
		(*nsec)++;
		if (s.type == MIG_SEC_PAGES && (rc = mig_sdec_data(d, got, s.npages * PAGE)))
			return rc;
	}
	(void)b;
	return 0;
}

Test(mig_stream, crc_is_crc32c)
{
	cr_assert(eq(u32, mig_stream_crc(0, "123456789", 9), 0xe3069283u));
	/* continued in pieces gives the same */
	cr_assert(eq(u32, mig_stream_crc(mig_stream_crc(0, "1234", 4), "56789", 5), 0xe3069283u));
}

Test(mig_stream, round_trip_in_small_reads)
{
	struct buf b = { 0 };
	struct mig_sdec d;
	struct mig_ssec s;
	uint8_t got[3 * PAGE];

	write_stream(&b);
	b.chunk = 5;             /* a transport that returns little at a time */
	cr_assert(eq(int, mig_sdec_init(&d, buf_in, &b), 0));
	cr_assert(eq(int, mig_sdec_header(&d), 0), "%s", d.err);

	cr_assert(eq(int, mig_sdec_next(&d, &s), 0), "%s", d.err);
	cr_assert(eq(u32, s.type, MIG_SEC_MEMORY));
	cr_assert(eq(u32, s.memory.n, 2));
	cr_assert(eq(u64, s.memory.r[1].gpa, 64 * PAGE));

	cr_assert(eq(int, mig_sdec_next(&d, &s), 0), "%s", d.err);
	cr_assert(eq(u32, s.type, MIG_SEC_PAGES));
	cr_assert(eq(u64, s.pfn, 5));
	cr_assert(eq(u64, s.npages, 3));
	cr_assert(eq(int, mig_sdec_next(&d, &s), -EINVAL), "next section with page bytes unread");
	cr_assert(eq(int, mig_sdec_data(&d, got, PAGE), 0));
	cr_assert(eq(int, mig_sdec_data(&d, got + PAGE, 2 * PAGE), 0));
	cr_assert(eq(int, memcmp(got, pages, sizeof(got)), 0), "page bytes differ");

	cr_assert(eq(int, mig_sdec_next(&d, &s), 0), "%s", d.err);
	cr_assert(eq(u32, s.type, MIG_SEC_ZERO));
	cr_assert(eq(u64, s.pfn, 64));
	cr_assert(eq(u64, s.npages, 32));

	cr_assert(eq(int, mig_sdec_next(&d, &s), 0), "%s", d.err);
	cr_assert(eq(u32, s.pass, 1));

	cr_assert(eq(int, mig_sdec_next(&d, &s), 0), "%s", d.err);
	cr_assert(eq(u32, s.type, MIG_SEC_DEVICE));
	cr_assert(eq(u64, s.device.features, 0x130000000ull));
	cr_assert(eq(u32, s.device.nrings, 2));
	cr_assert(eq(u32, s.device.bases[1], 0x8001));
	cr_assert(eq(u8, s.device.mac[5], 9));
	cr_assert(eq(u32, s.device.blob_len, sizeof(blob)));
	cr_assert(eq(int, memcmp(s.device.blob, blob, sizeof(blob)), 0));

	cr_assert(eq(int, mig_sdec_next(&d, &s), 0), "%s", d.err);
	cr_assert(eq(u64, s.digest, 0x1122334455667788ull));

	cr_assert(eq(int, mig_sdec_next(&d, &s), 0), "%s", d.err);
	cr_assert(eq(u32, s.type, MIG_SEC_GO));
	cr_assert(eq(str, (char *)mig_sec_name(s.type), "GO"));

	cr_assert(eq(int, mig_sdec_next(&d, &s), 0), "%s", d.err);
	cr_assert(eq(u32, s.type, MIG_SEC_END));
	cr_assert(d.ended);
	cr_assert(eq(u64, d.bytes, b.len));
	cr_assert(eq(int, mig_sdec_next(&d, &s), -EINVAL), "a section after END was read");
	mig_sdec_destroy(&d);
	free(b.p);
}

/* Cut at every byte: each shorter stream is refused as truncated, never
 * taken for a whole one. */
Test(mig_stream, truncated_anywhere_is_refused)
{
	struct buf b = { 0 };
	size_t full;

	write_stream(&b);
	full = b.len;
	for (size_t cut = 0; cut < full; cut++) {
		struct mig_sdec d;
		int n, rc;

		b.len = cut;
		b.pos = 0;
		cr_assert(eq(int, mig_sdec_init(&d, buf_in, &b), 0));
		rc = read_all(&b, &d, &n);
		cr_assert(eq(int, rc, -EPIPE), "cut at %zu of %zu: %d (%s)", cut, full, rc, d.err);
		cr_assert(not(eq(ptr, strstr(d.err, "truncated"), NULL)), "cut at %zu: '%s'", cut,
			  d.err);
		mig_sdec_destroy(&d);
	}
	free(b.p);
}

/* Any flipped byte is refused: by the structure it breaks, or by the
 * checksum. Never read as a whole stream. */
Test(mig_stream, flipped_byte_is_refused)
{
	struct buf b = { 0 };

	write_stream(&b);
	for (size_t at = 0; at < b.len; at += 97) {
		struct mig_sdec d;
		int n, rc;

		b.p[at] ^= 0x40;
		b.pos = 0;
		cr_assert(eq(int, mig_sdec_init(&d, buf_in, &b), 0));
		rc = read_all(&b, &d, &n);
		cr_assert(lt(int, rc, 0), "flipped byte %zu: stream read as whole", at);
		cr_assert(lt(sz, 0, strlen(d.err)));
		mig_sdec_destroy(&d);
		b.p[at] ^= 0x40;
	}
	free(b.p);
}

static void expect_refused(struct buf *b, int want, const char *words)
{
	struct mig_sdec d;
	int n, rc;

	b->pos = 0;
	cr_assert(eq(int, mig_sdec_init(&d, buf_in, b), 0));
	rc = read_all(b, &d, &n);
	cr_assert(eq(int, rc, want), "%s: %d (%s)", words, rc, d.err);
	cr_assert(not(eq(ptr, strstr(d.err, words), NULL)), "error '%s' lacks '%s'", d.err, words);
	mig_sdec_destroy(&d);
}

Test(mig_stream, other_magic_and_version_are_refused)
{
	struct buf b = { 0 };

	write_stream(&b);
	b.p[0] = 'X';
	expect_refused(&b, -EPROTO, "not a vhm migration stream");
	b.p[0] = 'V';
	b.p[8] = 1;              /* version 1: no GO in its switchover */
	expect_refused(&b, -EPROTO, "version 1; this vhm reads version 2");
	b.p[8] = 3;
	expect_refused(&b, -EPROTO, "version 3; this vhm reads version 2");
	free(b.p);
}

Test(mig_stream, unknown_section_and_runs_outside_memory_are_refused)
{
	struct buf b = { 0 };
	struct mig_senc e;
	struct mig_stream_memory m = { .total = 16 * PAGE, .n = 1, .r = { { 0, 16 * PAGE } } };
	uint8_t sec[8] = { 99, 0, 0, 0, 0, 0, 0, 0 };

	mig_senc_init(&e, buf_out, &b);
	mig_senc_header(&e);
	mig_senc_zero(&e, 0, 1);
	expect_refused(&b, -EPROTO, "ZERO section before the MEMORY section");

	b.len = 0;
	mig_senc_init(&e, buf_out, &b);
	mig_senc_header(&e);
	mig_senc_memory(&e, &m);
	mig_senc_zero(&e, 10, 7);          /* pages 10..16: one past the end */
	expect_refused(&b, -EPROTO, "outside guest memory");

	b.len = 0;
	mig_senc_init(&e, buf_out, &b);
	mig_senc_header(&e);
	mig_senc_memory(&e, &m);
	buf_out(&b, sec, sizeof(sec));
	expect_refused(&b, -EPROTO, "unknown section type 99");
	free(b.p);
}

Test(mig_stream, encoder_refuses_what_the_format_cannot_carry)
{
	struct buf b = { 0 };
	struct mig_senc e;
	struct mig_stream_memory m = { .total = PAGE, .n = MIG_STREAM_REGIONS + 1 };
	struct mig_stream_device dev = { .nrings = MIG_STREAM_RINGS + 1 };

	mig_senc_init(&e, buf_out, &b);
	cr_assert(eq(int, mig_senc_memory(&e, &m), -EINVAL));
	cr_assert(eq(int, mig_senc_pages(&e, 0, MIG_STREAM_RUN_MAX + 1, pages), -EINVAL));
	cr_assert(eq(int, mig_senc_zero(&e, 0, 0), -EINVAL));
	cr_assert(eq(int, mig_senc_device(&e, &dev), -EINVAL));
	cr_assert(eq(sz, b.len, 0), "a refused piece wrote bytes");
	free(b.p);
}

Test(mig_stream, answers_round_trip_and_refusals)
{
	struct buf b = { 0 };
	uint32_t code;
	char text[MIG_ACK_TEXT_MAX + 1], err[200], big[MIG_ACK_TEXT_MAX + 2];

	cr_assert(eq(int, mig_ack_send(buf_out, &b, MIG_ACK_READY, NULL), 0));
	cr_assert(eq(int, mig_ack_send(buf_out, &b, MIG_ACK_FAILED, "backend refused"), 0));
	cr_assert(eq(int, mig_ack_send(buf_out, &b, MIG_ACK_RUNNING, ""), 0));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	cr_assert(eq(int, mig_ack_send(buf_out, &b, MIG_ACK_FAILED, big), -EINVAL));
	b.chunk = 3;
	cr_assert(eq(int, mig_ack_recv(buf_in, &b, &code, text, sizeof(text), err, sizeof(err)),
		     0), "%s", err);
	cr_assert(eq(u32, code, MIG_ACK_READY));
	cr_assert(eq(int, mig_ack_recv(buf_in, &b, &code, text, sizeof(text), err, sizeof(err)),
		     0), "%s", err);
	cr_assert(eq(str, text, "backend refused"));
	cr_assert(eq(int, mig_ack_recv(buf_in, &b, &code, text, sizeof(text), err, sizeof(err)),
		     0), "%s", err);
	cr_assert(eq(str, (char *)mig_ack_name(code), "RUNNING"));
	/* nothing more: the destination closed */
	cr_assert(eq(int, mig_ack_recv(buf_in, &b, &code, text, sizeof(text), err, sizeof(err)),
		     -EPIPE));
	cr_assert(not(eq(ptr, strstr(err, "closed the connection"), NULL)), "error: %s", err);
	/* a stream header where an answer belongs */
	b.len = b.pos = 0;
	write_stream(&b);
	cr_assert(eq(int, mig_ack_recv(buf_in, &b, &code, text, sizeof(text), err, sizeof(err)),
		     -EPROTO));
	cr_assert(not(eq(ptr, strstr(err, "is not one"), NULL)), "error: %s", err);
	free(b.p);
}

/* Several connections: the header's flag, CHANNELS after MEMORY, and a page
 * connection's hello read back as written; CHANNELS in a stream whose
 * header does not announce it, and a hello that is not one, refused. */
Test(mig_stream, channels_and_hello_round_trip)
{
	struct mig_stream_memory m = { .total = 16 * PAGE, .n = 1, .r = { { 0, 16 * PAGE } } };
	struct mig_stream_chan ch = { .id = 0xfeedf00d12345678ull, .count = 4 }, got;
	struct buf b = { 0 }, h = { 0 }, bad = { 0 };
	struct mig_senc e;
	struct mig_sdec d;
	struct mig_ssec s;

	mig_senc_init(&e, buf_out, &b);
	cr_assert(eq(int, mig_senc_channels(&e, &ch), -EINVAL), "CHANNELS without the flag");
	e.flags = MIG_STREAM_F_CHANNELS;
	cr_assert(eq(int, mig_senc_header(&e), 0));
	cr_assert(eq(int, mig_senc_memory(&e, &m), 0));
	cr_assert(eq(int, mig_senc_channels(&e, &ch), 0));
	cr_assert(eq(int, mig_sdec_init(&d, buf_in, &b), 0));
	cr_assert(eq(int, mig_sdec_header(&d), 0), "%s", d.err);
	cr_assert(eq(u32, d.flags, MIG_STREAM_F_CHANNELS));
	cr_assert(eq(int, mig_sdec_next(&d, &s), 0), "%s", d.err);
	cr_assert(eq(int, mig_sdec_next(&d, &s), 0), "%s", d.err);
	cr_assert(eq(u32, s.type, MIG_SEC_CHANNELS));
	cr_assert(eq(u64, s.chan.id, ch.id));
	cr_assert(eq(u32, s.chan.count, 4));
	mig_sdec_destroy(&d);

	/* the same bytes with the flag cleared: CHANNELS is not announced */
	b.p[12] = 0;
	b.pos = 0;
	cr_assert(eq(int, mig_sdec_init(&d, buf_in, &b), 0));
	cr_assert(eq(int, mig_sdec_header(&d), 0));
	cr_assert(eq(int, mig_sdec_next(&d, &s), 0));
	cr_assert(eq(int, mig_sdec_next(&d, &s), -EPROTO));
	cr_assert(not(eq(ptr, strstr(d.err, "does not announce"), NULL)), "%s", d.err);
	mig_sdec_destroy(&d);

	mig_senc_init(&e, buf_out, &h);
	ch.index = 3;
	cr_assert(eq(int, mig_senc_hello(&e, &ch), 0));
	cr_assert(eq(int, mig_senc_pages(&e, 2, 1, pages), 0));
	cr_assert(eq(int, mig_senc_end(&e), 0));
	cr_assert(eq(int, mig_sdec_init(&d, buf_in, &h), 0));
	cr_assert(eq(int, mig_sdec_hello(&d, &m, &got), 0), "%s", d.err);
	cr_assert(eq(u64, got.id, ch.id));
	cr_assert(eq(u32, got.index, 3));
	cr_assert(eq(u32, got.count, 4));
	cr_assert(eq(int, mig_sdec_next(&d, &s), 0), "%s", d.err);
	cr_assert(eq(u32, s.type, MIG_SEC_PAGES));
	cr_assert(eq(int, mig_sdec_data(&d, pages + PAGE, PAGE), 0));
	cr_assert(eq(int, mig_sdec_next(&d, &s), 0), "the hello's bytes are not in the checksum: "
		  "%s", d.err);
	cr_assert(d.ended);
	mig_sdec_destroy(&d);

	buf_out(&bad, "GET / HTTP/1.0\r\n\r\n0123456789", 28);
	cr_assert(eq(int, mig_sdec_init(&d, buf_in, &bad), 0));
	cr_assert(eq(int, mig_sdec_hello(&d, &m, &got), -EPROTO));
	cr_assert(eq(str, d.err, "not a vhm page connection (bad hello)"));
	mig_sdec_destroy(&d);
	free(b.p);
	free(h.p);
	free(bad.p);
}
