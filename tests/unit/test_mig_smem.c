/* SPDX-License-Identifier: MIT */
/* Guest memory through the migration stream (mig_smem): a whole pass and a
 * dirty pass from one gmem, read back into a fresh one, leave both with the
 * same digest; zero pages and holes travel as ZERO runs (no page bytes), a
 * page zeroed after the first pass is cleared on the destination, and a
 * destination whose memory is laid out differently refuses the stream.
 * The destination's whole receive (mig_sin): the device state comes out,
 * the digests are compared on the destination, sections out of order and a
 * digest that differs are refused by name. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gmem.h"
#include "mig_sin.h"
#include "mig_smem.h"

#define PAGE GMEM_PAGE_SIZE
#define MEM  (64ull << 20)

struct buf {
	uint8_t *p;
	size_t len, cap, pos;
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

	if (n > b->len - b->pos)
		n = b->len - b->pos;
	memcpy(p, b->p + b->pos, n);
	b->pos += n;
	return (long)n;
}

/* Read the whole stream in b into mem; 0 or the first error (err). */
static int receive(struct buf *b, struct gmem *mem, char *err, size_t len)
{
	struct mig_sdec d;
	struct mig_ssec s;
	int rc;

	cr_assert(eq(int, mig_sdec_init(&d, buf_in, b), 0));
	rc = mig_sdec_header(&d);
	while (!rc && !d.ended && !(rc = mig_sdec_next(&d, &s)))
		rc = mig_smem_apply(&d, &s, mem, err, len);
	if (rc && !err[0])
		snprintf(err, len, "%s", d.err);
	mig_sdec_destroy(&d);
	return rc;
}

static void fill(struct gmem *m, uint64_t pfn, uint8_t v)
{
	memset(gmem_hva(m, pfn * PAGE, PAGE), v, PAGE);
}

Test(mig_smem, whole_then_dirty_pass_gives_equal_digests)
{
	struct gmem a, b;
	struct mig_senc e;
	struct mig_smem_tx t;
	struct buf s = { 0 };
	uint64_t bm[MEM / PAGE / 64] = { 0 };
	char err[256] = "";

	cr_assert(eq(int, gmem_create(&a, MEM, "smem-a", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, gmem_create(&b, MEM, "smem-b", err, sizeof(err)), 0), "%s", err);
	for (uint64_t p = 100; p < 700; p++)      /* 600 data pages: 3 runs of 256 at most */
		fill(&a, p, (uint8_t)(p | 1));
	fill(&a, 900, 0);                          /* written, but zero */
	fill(&a, 901, 7);
	fill(&b, 5000, 9);                         /* the destination held something there */

	mig_senc_init(&e, buf_out, &s);
	cr_assert(eq(int, mig_smem_tx_init(&t, &e, &a), 0));
	cr_assert(eq(int, mig_senc_header(&e), 0));
	cr_assert(eq(int, mig_smem_send_layout(&t), 0));
	cr_assert(eq(int, mig_smem_send_all(&t), 0));
	cr_assert(eq(u64, t.data_pages, 601));
	cr_assert(eq(u64, t.zero_pages, MEM / PAGE - 601));
	cr_assert(lt(sz, s.len, (size_t)620 * PAGE), "zero pages sent with their bytes: %zu", s.len);

	/* the guest writes on: a page changes, a page is zeroed, one is new */
	fill(&a, 150, 0x55);
	fill(&a, 151, 0);
	fill(&a, 3000, 0x66);
	bm[150 / 64] |= 1ull << (150 % 64);
	bm[151 / 64] |= 1ull << (151 % 64);
	bm[3000 / 64] |= 1ull << (3000 % 64);
	cr_assert(eq(int, mig_senc_pass(&e, 1), 0));
	cr_assert(eq(int, mig_smem_send_dirty(&t, bm, MEM / PAGE / 64), 0));
	cr_assert(eq(u64, t.data_pages, 601 + 2));
	for (size_t i = 0; i < MEM / PAGE / 64; i++)
		cr_assert(eq(u64, bm[i], 0), "dirty bitmap word %zu not cleared", i);
	cr_assert(eq(int, mig_senc_end(&e), 0));

	cr_assert(eq(int, receive(&s, &b, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(u64, gmem_digest(&a, 0, 0), gmem_digest(&b, 0, 0)),
		  "digests differ after the stream");
	cr_assert(eq(u8, *(uint8_t *)gmem_hva(&b, 151 * PAGE, 1), 0));
	cr_assert(eq(u8, *(uint8_t *)gmem_hva(&b, 5000 * PAGE, 1), 0), "old data not cleared");
	mig_smem_tx_destroy(&t);
	gmem_destroy(&a);
	gmem_destroy(&b);
	free(s.p);
}

Test(mig_smem, other_layout_is_refused)
{
	struct gmem a, b;
	struct mig_senc e;
	struct mig_smem_tx t;
	struct buf s = { 0 };
	char err[256] = "";

	cr_assert(eq(int, gmem_create(&a, MEM, "smem-a", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, gmem_create(&b, MEM / 2, "smem-b", err, sizeof(err)), 0), "%s", err);
	mig_senc_init(&e, buf_out, &s);
	cr_assert(eq(int, mig_smem_tx_init(&t, &e, &a), 0));
	mig_senc_header(&e);
	mig_smem_send_layout(&t);
	mig_smem_send_all(&t);
	mig_senc_end(&e);
	cr_assert(eq(int, receive(&s, &b, err, sizeof(err)), -EPROTO));
	cr_assert(not(eq(ptr, strstr(err, "--mem differs"), NULL)), "error: %s", err);
	mig_smem_tx_destroy(&t);
	gmem_destroy(&a);
	gmem_destroy(&b);
	free(s.p);
}

/* ---- the destination's whole receive (mig_sin) --------------------------- */

static const uint8_t state[] = "netdrv+gwriter";

/* A stream of a's memory: layout, whole pass, a PASS, then per `how`:
 * 'o' device + switchover with a's digest (well formed), 'd' a wrong digest,
 * 'n' no device section before the switchover, 'g' no GO after it. */
static void stream_of(struct gmem *a, struct buf *s, char how)
{
	struct mig_senc e;
	struct mig_smem_tx t;
	struct mig_stream_device dev = { .features = 1ull << 32, .nrings = 2, .bases = { 3, 9 },
					 .blob_len = sizeof(state), .blob = state };

	mig_senc_init(&e, buf_out, s);
	cr_assert(eq(int, mig_smem_tx_init(&t, &e, a), 0));
	mig_senc_header(&e);
	mig_smem_send_layout(&t);
	mig_smem_send_all(&t);
	mig_senc_pass(&e, 0);
	if (how != 'n')
		mig_senc_device(&e, &dev);
	mig_senc_switchover(&e, gmem_digest(a, 0, 0) ^ (how == 'd'));
	if (how != 'g')
		mig_senc_go(&e);
	mig_senc_end(&e);
	mig_smem_tx_destroy(&t);
}

static int sin_receive(struct buf *s, struct gmem *b, struct mig_sin_result *res, char *err,
		       size_t len)
{
	struct mig_sdec d;
	int rc;

	s->pos = 0;
	cr_assert(eq(int, mig_sdec_init(&d, buf_in, s), 0));
	rc = mig_sin_receive(&d, b, res, NULL, NULL, err, len);
	mig_sdec_destroy(&d);
	return rc;
}

Test(mig_sin, whole_stream_gives_device_state_and_equal_digests)
{
	struct gmem a, b;
	struct buf s = { 0 };
	struct mig_sin_result res;
	char err[256] = "";

	cr_assert(eq(int, gmem_create(&a, MEM, "sin-a", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, gmem_create(&b, MEM, "sin-b", err, sizeof(err)), 0), "%s", err);
	for (uint64_t p = 10; p < 50; p++)
		fill(&a, p, (uint8_t)p);
	stream_of(&a, &s, 'o');
	cr_assert(eq(int, sin_receive(&s, &b, &res, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(u64, res.digest, gmem_digest(&a, 0, 0)));
	cr_assert(eq(u64, gmem_digest(&b, 0, 0), gmem_digest(&a, 0, 0)));
	cr_assert(eq(u64, res.data_pages, 40));
	cr_assert(eq(u32, res.passes, 1));
	cr_assert(eq(u32, res.device.nrings, 2));
	cr_assert(eq(u32, res.device.bases[1], 9));
	cr_assert(eq(u32, res.device.blob_len, sizeof(state)));
	cr_assert(eq(int, memcmp(res.device.blob, state, sizeof(state)), 0));
	mig_sin_result_free(&res);
	gmem_destroy(&a);
	gmem_destroy(&b);
	free(s.p);
}

Test(mig_sin, wrong_digest_missing_device_or_go_are_refused)
{
	struct gmem a, b;
	struct buf s = { 0 };
	struct mig_sin_result res;
	char err[256] = "";

	cr_assert(eq(int, gmem_create(&a, MEM, "sin-a", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, gmem_create(&b, MEM, "sin-b", err, sizeof(err)), 0), "%s", err);
	fill(&a, 20, 3);
	stream_of(&a, &s, 'd');
	cr_assert(eq(int, sin_receive(&s, &b, &res, err, sizeof(err)), -EIO), "%s", err);
	cr_assert(not(eq(ptr, strstr(err, "digests differ"), NULL)), "error: %s", err);
	cr_assert(eq(ptr, res.blob, NULL), "device state kept after a refusal");

	s.len = 0;
	err[0] = 0;
	stream_of(&a, &s, 'n');
	cr_assert(eq(int, sin_receive(&s, &b, &res, err, sizeof(err)), -EPROTO), "%s", err);
	cr_assert(not(eq(ptr, strstr(err, "SWITCHOVER section at byte"), NULL)), "error: %s",
		  err);
	cr_assert(not(eq(ptr, strstr(err, "DEVICE was expected"), NULL)), "error: %s", err);

	s.len = 0;   /* the switchover's second phase is not optional */
	err[0] = 0;
	stream_of(&a, &s, 'g');
	cr_assert(eq(int, sin_receive(&s, &b, &res, err, sizeof(err)), -EPROTO), "%s", err);
	cr_assert(not(eq(ptr, strstr(err, "END section at byte"), NULL)), "error: %s", err);
	cr_assert(not(eq(ptr, strstr(err, "GO was expected"), NULL)), "error: %s", err);
	gmem_destroy(&a);
	gmem_destroy(&b);
	free(s.p);
}
