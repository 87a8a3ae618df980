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

/* ---- several connections: memory by stripes ------------------------------- */

#define CONNS 4
#define STRIPES (MEM / PAGE / MIG_SMEM_STRIPE)

Test(mig_smem, owner_deals_stripes_round_robin)
{
	for (uint64_t pfn = 0; pfn < MEM / PAGE; pfn += 61) {
		uint32_t o = mig_smem_owner(pfn, CONNS);

		cr_assert(eq(u32, o, (uint32_t)((pfn / MIG_SMEM_STRIPE) % CONNS)));
		cr_assert(eq(u32, mig_smem_owner(pfn / 64 * 64, CONNS), o),
			  "a bitmap word of pfn 0x%llx is split", (unsigned long long)pfn);
		cr_assert(eq(u32, mig_smem_owner(pfn, 1), 0));
	}
	cr_assert(eq(u32, MIG_SMEM_STRIPE % 64, 0));
}

/* Pages each run of stream s covers, counted in seen[]; every run lies in
 * one stripe of connection `chan`. */
static void count_runs(struct buf *s, uint32_t chan, uint8_t *seen)
{
	struct mig_stream_memory m = { .total = MEM, .n = 1, .r = { { 0, MEM } } };
	struct mig_stream_chan h;
	struct mig_sdec d;
	struct mig_ssec sec;
	static uint8_t sink[MIG_STREAM_RUN_MAX * PAGE];

	s->pos = 0;
	cr_assert(eq(int, mig_sdec_init(&d, buf_in, s), 0));
	cr_assert(eq(int, mig_sdec_hello(&d, &m, &h), 0), "%s", d.err);
	while (!d.ended) {
		cr_assert(eq(int, mig_sdec_next(&d, &sec), 0), "%s", d.err);
		if (sec.type != MIG_SEC_PAGES && sec.type != MIG_SEC_ZERO)
			continue;
		cr_assert(eq(u32, mig_smem_owner(sec.pfn, CONNS), chan),
			  "connection %u sent pfn 0x%llx", chan, (unsigned long long)sec.pfn);
		cr_assert(eq(u64, sec.pfn / MIG_SMEM_STRIPE,
			     (sec.pfn + sec.npages - 1) / MIG_SMEM_STRIPE), "a run across stripes");
		for (uint64_t p = sec.pfn; p < sec.pfn + sec.npages; p++)
			seen[p]++;
		if (sec.type == MIG_SEC_PAGES)
			cr_assert(eq(int, mig_sdec_data(&d, sink, sec.npages * PAGE), 0));
	}
	mig_sdec_destroy(&d);
}

/* CONNS senders, each with its connection's share (chan/nchan): together
 * they send every page exactly once, each run on its stripe's connection;
 * a dirty pass clears only a sender's own bitmap words. Applied in any
 * order (stripes are disjoint), the streams give the source's digest. */
Test(mig_smem, senders_by_stripe_cover_memory_once)
{
	static uint8_t seen[MEM / PAGE];
	uint64_t bm[MEM / PAGE / 64] = { 0 };
	struct buf s[CONNS] = { 0 };
	struct mig_senc e[CONNS];
	struct mig_smem_tx t[CONNS];
	struct gmem a, b;
	char err[256] = "";

	cr_assert(eq(int, gmem_create(&a, MEM, "stripe-a", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, gmem_create(&b, MEM, "stripe-b", err, sizeof(err)), 0), "%s", err);
	for (uint64_t p = 1000; p < MEM / PAGE; p += 777)   /* data in every stripe */
		fill(&a, p, (uint8_t)(p | 1));
	for (uint32_t c = 0; c < CONNS; c++) {
		struct mig_stream_chan h = { .id = 1, .count = CONNS, .index = c };

		mig_senc_init(&e[c], buf_out, &s[c]);
		cr_assert(eq(int, mig_smem_tx_init(&t[c], &e[c], &a), 0));
		t[c].chan = c;
		t[c].nchan = CONNS;
		cr_assert(eq(int, mig_senc_hello(&e[c], &h), 0));
		cr_assert(eq(int, mig_smem_send_all(&t[c]), 0));
	}
	/* dirty: a page in each stripe; sender 1 alone leaves the others' bits */
	for (uint64_t k = 0; k < STRIPES; k++) {
		uint64_t p = k * MIG_SMEM_STRIPE + 5;

		fill(&a, p, (uint8_t)(0x40 + k));
		bm[p / 64] |= 1ull << (p % 64);
	}
	cr_assert(eq(int, mig_smem_send_dirty(&t[1], bm, MEM / PAGE / 64), 0));
	for (uint64_t k = 0; k < STRIPES; k++) {
		uint64_t p = k * MIG_SMEM_STRIPE + 5;

		cr_assert(eq(int, !!(bm[p / 64] & (1ull << (p % 64))), k % CONNS != 1),
			  "stripe %llu's bit after sender 1's pass", (unsigned long long)k);
	}
	for (uint32_t c = 0; c < CONNS; c++) {
		if (c != 1)
			cr_assert(eq(int, mig_smem_send_dirty(&t[c], bm, MEM / PAGE / 64), 0));
		cr_assert(eq(int, mig_senc_end(&e[c]), 0));
	}
	for (size_t i = 0; i < MEM / PAGE / 64; i++)
		cr_assert(eq(u64, bm[i], 0), "dirty bitmap word %zu not cleared", i);

	for (uint32_t c = 0; c < CONNS; c++)
		count_runs(&s[c], c, seen);
	for (uint64_t p = 0; p < MEM / PAGE; p++)
		cr_assert(eq(u8, seen[p], (uint8_t)(p % MIG_SMEM_STRIPE == 5 ? 2 : 1)),
			  "pfn 0x%llx sent %u times", (unsigned long long)p, seen[p]);

	/* applied last connection first: stripes do not overlap */
	for (int c = CONNS - 1; c >= 0; c--) {
		struct mig_stream_memory m = { .total = MEM, .n = 1, .r = { { 0, MEM } } };
		struct mig_stream_chan h;
		struct mig_sdec d;
		struct mig_ssec sec;

		s[c].pos = 0;
		cr_assert(eq(int, mig_sdec_init(&d, buf_in, &s[c]), 0));
		cr_assert(eq(int, mig_sdec_hello(&d, &m, &h), 0));
		while (!d.ended) {
			cr_assert(eq(int, mig_sdec_next(&d, &sec), 0), "%s", d.err);
			cr_assert(eq(int, mig_smem_apply(&d, &sec, &b, err, sizeof(err)), 0), "%s",
				  err);
		}
		mig_sdec_destroy(&d);
		mig_smem_tx_destroy(&t[c]);
		free(s[c].p);
	}
	cr_assert(eq(u64, gmem_digest(&a, 0, 0), gmem_digest(&b, 0, 0)),
		  "digests differ after four connections");
	gmem_destroy(&a);
	gmem_destroy(&b);
}
