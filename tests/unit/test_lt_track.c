/* SPDX-License-Identifier: MIT */
/* lt_track splits the two dirty sets by source (used-ring ranges cut
 * backend runs) and region; lt_verify reports a changed page only when no
 * mark excuses it, one pass later, and never an excluded page. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lt_log.h"
#include "lt_track.h"
#include "lt_verify.h"

#define NPAGES 1024

static void mark_run(struct lt_log *log, uint64_t first, uint64_t n)
{
	for (uint64_t p = first; p < first + n; p++)
		lt_log_mark(log->words, p);
}

Test(track_lt, sources_split_by_used_ring_and_region)
{
	static uint64_t bw[NPAGES / 64], gw[NPAGES / 64];
	const struct lt_region regions[] = { { 0, 256 * LT_PAGE_SIZE, "a" },
					     { 512 * LT_PAGE_SIZE, 512 * LT_PAGE_SIZE, "b" } };
	const struct lt_range used[] = { { 100, 4 }, { 102, 6 }, { 600, 2 } };  /* overlap merges */
	struct lt_track_cfg cfg = { NPAGES, regions, 2, used, 3 };
	struct lt_log backend, guest;
	struct lt_track t;
	uint64_t wss[LT_WSS_NWINDOWS];

	cr_assert(eq(int, lt_log_attach_mem(&backend, bw, NPAGES / 64, false), 0));
	cr_assert(eq(int, lt_log_attach_mem(&guest, gw, NPAGES / 64, false), 0));
	cr_assert(eq(int, lt_track_init(&t, &cfg, 1000), 0));
	cr_assert(eq(sz, t.nused, 2), "ranges [100,104) and [102,108) merge");
	mark_run(&backend, 96, 16);      /* 96..111: 100..107 used ring, 8 backend */
	mark_run(&backend, 599, 4);      /* 599 backend, 600-601 used, 602 backend */
	mark_run(&backend, 300, 2);      /* outside any region */
	mark_run(&guest, 100, 3);        /* guest pages inside a used ring stay guest's */
	mark_run(&guest, 700, 1);
	cr_assert(eq(int, lt_track_sync(&t, &backend, &guest, 1100), 0));
	cr_assert(eq(int, lt_track_close(&t, 2000), 0));
	cr_assert(eq(u64, t.rates.src[LT_SRC_USED_RING].pages, 8 + 2));
	cr_assert(eq(u64, t.rates.src[LT_SRC_BACKEND_LOG].pages, 8 + 2 + 2));
	cr_assert(eq(u64, t.rates.src[LT_SRC_GUEST_WRITER].pages, 4));
	cr_assert(eq(u64, t.rates.region[0].pages, 16 + 3), "region a");
	cr_assert(eq(u64, t.rates.region[1].pages, 4 + 1), "region b");
	cr_assert(eq(u64, t.rates.region[2].pages, 2), "outside");
	cr_assert(eq(dbl, t.rates.src[LT_SRC_USED_RING].pages_per_s, 10.0), "10 pages in 1 s");
	cr_assert(eq(u64, t.last_syncs, 1));
	/* 16 + 4 + 2 backend pages and 3 + 1 guest pages, 100..102 counted once. */
	lt_track_wss(&t, wss);
	cr_assert(eq(u64, wss[LT_WSS_NWINDOWS - 1], 16 + 4 + 2 + 1));
	cr_assert(eq(int, (int)(t.marks[100 / 64] >> (100 % 64) & 1), 1), "marks union both logs");
	cr_assert(eq(u64, bw[96 / 64] | gw[96 / 64], 0), "the sync cleared both logs");
	cr_assert(eq(int, lt_track_in_used(&t, 107) ? 1 : 0, 1));
	cr_assert(eq(int, lt_track_in_used(&t, 108) ? 1 : 0, 0));
	lt_track_marks_clear(&t);
	cr_assert(eq(u64, t.marks[1], 0));
	lt_track_destroy(&t);
}

/* The curve a model reads is the mean over the syncs, window by window:
 * 50 ms syncs finding 100 and 140 pages give 120 at 50 ms (the latest
 * sample alone says 140); a late sync (150 ms) counts for no 50 ms mean;
 * the mean of the 100 ms window is of the syncs whose two-sync span was
 * 100 ms; a window longer than tracking has run is the latest sample. */
Test(track_lt, curve_is_the_mean_of_the_syncs)
{
	static uint64_t gw[NPAGES / 64];
	struct lt_track_cfg cfg = { NPAGES, NULL, 0, NULL, 0 };
	double span[LT_WSS_NWINDOWS], pages[LT_WSS_NWINDOWS];
	uint32_t n[LT_WSS_NWINDOWS];
	struct lt_log guest;
	struct lt_track t;

	cr_assert(eq(int, lt_log_attach_mem(&guest, gw, NPAGES / 64, false), 0));
	cr_assert(eq(int, lt_track_init(&t, &cfg, 1000), 0));
	mark_run(&guest, 0, 100);
	cr_assert(eq(int, lt_track_sync(&t, NULL, &guest, 1050), 0));
	mark_run(&guest, 100, 140);
	cr_assert(eq(int, lt_track_sync(&t, NULL, &guest, 1100), 0));
	cr_assert(eq(int, lt_track_curve(&t, span, pages, n), 0));
	cr_assert(eq(u32, n[0], 2));
	cr_assert(ieee_ulp_eq(dbl, pages[0], 120.0, 4), "50 ms: %f", pages[0]);
	cr_assert(ieee_ulp_eq(dbl, span[0], 50.0, 4), "50 ms spans %f", span[0]);
	cr_assert(eq(u32, n[1], 1), "100 ms: the second sync only (two syncs back)");
	cr_assert(ieee_ulp_eq(dbl, pages[1], 240.0, 4));
	cr_assert(eq(u32, n[LT_WSS_NWINDOWS - 1], 0), "10 s: not run that long");
	cr_assert(ieee_ulp_eq(dbl, pages[LT_WSS_NWINDOWS - 1], 240.0, 4));
	cr_assert(ieee_ulp_eq(dbl, span[LT_WSS_NWINDOWS - 1], 100.0, 4),
		  "since creation: %f", span[LT_WSS_NWINDOWS - 1]);

	mark_run(&guest, 300, 600);          /* late: 150 ms of writes */
	cr_assert(eq(int, lt_track_sync(&t, NULL, &guest, 1250), 0));
	cr_assert(eq(int, lt_track_curve(&t, span, pages, n), 0));
	cr_assert(eq(u32, n[0], 2), "the late sync is no 50 ms sample");
	cr_assert(ieee_ulp_eq(dbl, pages[0], 120.0, 4));
	lt_track_destroy(&t);
}

Test(track_lt, refuses_bad_config)
{
	const struct lt_region overlap[] = { { 0, 8192, "a" }, { 4096, 8192, "b" } };
	struct lt_track_cfg cfg = { NPAGES, overlap, 2, NULL, 0 };
	struct lt_track t;

	cr_assert(eq(int, lt_track_init(&t, &cfg, 0), -EINVAL));
	cfg = (struct lt_track_cfg){ 0 };
	cr_assert(eq(int, lt_track_init(&t, &cfg, 0), -EINVAL));
}

/* ---- verify ---- */

struct seen {
	uint64_t page[16];
	int n;
};

static void on_finding(void *arg, uint64_t page, uint64_t ms)
{
	struct seen *s = arg;

	(void)ms;
	if (s->n < 16)
		s->page[s->n++] = page;
}

Test(track_verify, unmarked_change_is_reported_one_pass_later)
{
	uint8_t *mem = aligned_alloc(4096, 64 * 4096);
	uint64_t marks[1] = { 0 };
	struct lt_verify_mem m = { 0, 64 * 4096, mem, -1 };
	struct lt_verify v;
	struct seen s = { 0 };

	memset(mem, 0, 64 * 4096);
	cr_assert(eq(int, lt_verify_init(&v, 64), 0));
	lt_verify_exclude(&v, 40, 2);
	cr_assert(eq(int, lt_verify_pass(&v, &m, 1, marks, 0, on_finding, &s), 0), "primes");
	mem[5 * 4096 + 7] = 1;     /* unlogged */
	mem[6 * 4096] = 1;         /* logged in time */
	mem[7 * 4096 + 100] = 1;   /* its mark comes after the pass */
	mem[41 * 4096] = 1;        /* excluded */
	marks[0] = 1ull << 6;
	cr_assert(eq(int, lt_verify_pass(&v, &m, 1, marks, 100, on_finding, &s), 0));
	cr_assert(eq(int, s.n, 0), "candidates wait for the next pass's marks");
	cr_assert(eq(u64, v.changed, 4));
	marks[0] = 1ull << 7;
	cr_assert(eq(int, lt_verify_pass(&v, &m, 1, marks, 200, on_finding, &s), 0));
	cr_assert(eq(int, s.n, 1));
	cr_assert(eq(u64, s.page[0], 5));
	cr_assert(eq(u64, v.dismissed, 1), "page 7's late mark excused it");
	cr_assert(eq(u64, v.findings, 1));
	cr_assert(eq(int, lt_verify_excluded(&v, 41) ? 1 : 0, 1));
	lt_verify_destroy(&v);
	free(mem);
}

Test(track_verify, hash_sees_one_bit_anywhere)
{
	static uint8_t page[4096];
	uint64_t h0 = lt_verify_hash_page(page);

	for (size_t i = 0; i < sizeof(page); i += 509) {
		page[i] ^= 0x10;
		cr_assert(not(eq(u64, lt_verify_hash_page(page), h0)), "byte %zu", i);
		page[i] ^= 0x10;
	}
	cr_assert(eq(u64, lt_verify_hash_page(page), h0));
}
