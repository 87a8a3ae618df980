/* SPDX-License-Identifier: MIT */
/* bench logsync — the dirty-log sync against two baselines of the same run:
 *  (a) sparse logs (0.01 % of pages dirty) of 1 GiB..1 TiB guests: lt sync
 *      vs a plain read of the same words (their sum) — the floor any scan
 *      pays; target >= 0.8 of its throughput;
 *  (b) 1 %, 10 %, 100 % dirty: the sync a migration makes (migrate.c's
 *      sync_dirty: every set word exchanged and OR-ed into the migration's
 *      bitmap) vs QEMU's loop (vhost_dev_sync_region: zero words skipped,
 *      each other word exchanged, its bits walked with ctz, one call per
 *      page); target >= 1.0. QEMU's per-page function (noinline) only adds 1
 *      to a count — less than memory_region_set_dirty's bitmap stores, and
 *      less than vhm's side, which leaves the bitmap the migration copies
 *      from (checked against the reference after a pass);
 *  (c) for information, the same dirty logs synced the way the tracker does
 *      (lt_track: runs of pages to a callback, which adds each run's count)
 *      vs the same loop: runs are what the working set and heat map need,
 *      and building them costs about what QEMU's per-page calls do where
 *      most runs are one page long.
 * The log is re-dirtied from a reference copy before every pass (not timed);
 * passes alternate between the two sides and each side's median is reported,
 * in GiB of log read per second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "lt_log.h"
#include "util.h"

#define SPARSE_PPM 100          /* 0.01 % of pages dirty, per million */
#define MAX_PASSES 301
#define MIN_PASSES 11

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A reference log with about ppm per million pages dirty (random). */
static void fill_reference(uint64_t *ref, size_t nwords, unsigned ppm)
{
	uint64_t seed = 0x2545f4914f6cdd1dull, npages = (uint64_t)nwords * 64;

	if (ppm >= 1000000) {
		memset(ref, 0xff, nwords * 8);
		return;
	}
	memset(ref, 0, nwords * 8);
	for (uint64_t k = npages * ppm / 1000000; k > 0; k--) {
		uint64_t p = rng_next(&seed) % npages;
		ref[p / 64] |= 1ull << (p % 64);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static uint64_t median(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

/* Passes for a log of `bytes`: about 64 MiB scanned per side, odd, bounded. */
static size_t passes_for(size_t bytes)
{
	size_t n = (64u << 20) / bytes;

	n = n < MIN_PASSES ? MIN_PASSES : n > MAX_PASSES ? MAX_PASSES : n;
	return n | 1;
}

/* ---- the two sides ---- */

struct side {
	uint64_t (*pass)(uint64_t *words, size_t nwords);  /* returns a checksum */
};

static volatile uint64_t sink;

/* Baseline (a): read every word. */
static uint64_t plain_read(uint64_t *words, size_t nwords)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < nwords; i++)
		sum += words[i];
	return sum;
}

/* Baseline (b): QEMU's vhost_dev_sync_region loop, one call per page. */
static __attribute__((noinline)) void qemu_page_dirty(uint64_t *count, uint64_t page)
{
	*count += 1;
	__asm__ volatile("" : : "r"(page) : "memory");
}

static uint64_t qemu_loop(uint64_t *words, size_t nwords)
{
	uint64_t count = 0;

	for (size_t i = 0; i < nwords; i++) {
		if (!words[i])
			continue;
		uint64_t log = __atomic_exchange_n(&words[i], 0, __ATOMIC_SEQ_CST);
		while (log) {
			int bit = __builtin_ctzll(log);
			qemu_page_dirty(&count, (uint64_t)i * 64 + (uint64_t)bit);
			log &= ~(1ull << bit);
		}
	}
	return count;
}

/* The consumer of runs: as trivial as QEMU's per-page function (it counts),
 * summing a batch locally as any consumer of a batch would. */
static void count_runs(const struct lt_run *runs, size_t n, void *arg)
{
	uint64_t *count = arg, sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += runs[i].count;
	*count += sum;
}

/* lt sync as (a) measures it: clear and count. */
static uint64_t lt_sync_count(uint64_t *words, size_t nwords)
{
	struct lt_log log;
	struct lt_sync_stats st;

	lt_log_attach_mem(&log, words, nwords, false);
	lt_log_sync(&log, NULL, &st);
	return st.pages;
}

/* The migration's bitmap for (b): the sync ORs into it, as into m->bm. */
static uint64_t *mig_bitmap;

/* lt sync as (b) measures it: exchanged and merged into the migration's
 * bitmap (migrate.c sync_dirty); the pages found as its checksum. */
static uint64_t lt_sync_merge(uint64_t *words, size_t nwords)
{
	struct lt_log log;
	struct lt_sync_stats st;
	struct lt_sync how = { .merge = mig_bitmap, .merge_words = nwords };

	lt_log_attach_mem(&log, words, nwords, false);
	lt_log_sync(&log, &how, &st);
	return st.pages;
}

/* lt sync as (c) measures it: every run to a callback, like QEMU's pages. */
static uint64_t lt_sync_runs(uint64_t *words, size_t nwords)
{
	struct lt_log log;
	uint64_t count = 0;
	struct lt_sync how = { .on_runs = count_runs, .arg = &count };

	lt_log_attach_mem(&log, words, nwords, false);
	lt_log_sync(&log, &how, NULL);
	return count;
}

/* Median ns per pass of each side, alternating, re-dirtying before each. */
static void race(uint64_t *words, const uint64_t *ref, size_t nwords, const struct side *a,
		 const struct side *b, uint64_t *ns_a, uint64_t *ns_b)
{
	size_t passes = passes_for(nwords * 8);
	uint64_t *ta = malloc(passes * sizeof(uint64_t)), *tb = malloc(passes * sizeof(uint64_t));

	for (size_t p = 0; p < passes; p++) {
		const struct side *s[2] = { a, b };
		uint64_t *t[2] = { &ta[p], &tb[p] };
		for (int k = 0; k < 2; k++) {
			int j = (int)(p & 1) ^ k;       /* alternate who goes first */
			memcpy(words, ref, nwords * 8);
			uint64_t t0 = vhm_now_ns();
			sink += s[j]->pass(words, nwords);
			*t[j] = vhm_now_ns() - t0;
		}
	}
	*ns_a = median(ta, passes);
	*ns_b = median(tb, passes);
	free(ta);
	free(tb);
}

static double gib_per_s(size_t nwords, uint64_t ns)
{
	return (double)nwords * 8 / (1u << 30) / ((double)(ns ? ns : 1) / 1e9);
}

static void part_sparse(uint64_t *words, uint64_t *ref)
{
	static const struct side lt = { lt_sync_count }, plain = { plain_read };
	static const unsigned guest_gib_log2[] = { 0, 4, 8, 10 };  /* 1 GiB .. 1 TiB */
	char name[64];

	for (size_t g = 0; g < VHM_ARRAY_SIZE(guest_gib_log2); g++) {
		size_t nwords = lt_log_words_for((1ull << 30) << guest_gib_log2[g]);
		uint64_t ns_lt, ns_plain;
		fill_reference(ref, nwords, SPARSE_PPM);
		race(words, ref, nwords, &lt, &plain, &ns_lt, &ns_plain);
		snprintf(name, sizeof(name), "sparse 0.01%% %4llu GiB vs read",
			 1ull << guest_gib_log2[g]);
		bench_report(name, "GiB/s", gib_per_s(nwords, ns_lt), gib_per_s(nwords, ns_plain),
			     ">=", 0.8);
	}
}

/* Does one merged pass leave exactly the reference's bits in the bitmap? */
static bool merge_is_exact(uint64_t *words, const uint64_t *ref, size_t nwords)
{
	memcpy(words, ref, nwords * 8);
	memset(mig_bitmap, 0, nwords * 8);
	lt_sync_merge(words, nwords);
	return !memcmp(mig_bitmap, ref, nwords * 8);
}

static void part_dense(uint64_t *words, uint64_t *ref)
{
	static const struct side merge = { lt_sync_merge }, runs = { lt_sync_runs },
				 qemu = { qemu_loop };
	static const unsigned ppm[] = { 10000, 100000, 1000000 };
	size_t nwords = lt_log_words_for(64ull << 30);  /* 64 GiB guest: 2 MiB of log */
	char name[64], info[64];

	mig_bitmap = aligned_alloc(64, nwords * 8);
	for (size_t d = 0; d < VHM_ARRAY_SIZE(ppm); d++) {
		uint64_t ns_lt, ns_qemu;

		snprintf(name, sizeof(name), "%3u%% dirty 64 GiB vs qemu loop", ppm[d] / 10000);
		fill_reference(ref, nwords, ppm[d]);
		if (!mig_bitmap || !merge_is_exact(words, ref, nwords)) {
			bench_missed(name, mig_bitmap ? "the merged bitmap is not the log's"
						      : "cannot allocate the bitmap");
			continue;
		}
		race(words, ref, nwords, &merge, &qemu, &ns_lt, &ns_qemu);
		bench_report(name, "GiB/s", gib_per_s(nwords, ns_lt), gib_per_s(nwords, ns_qemu),
			     ">=", 1.0);
		race(words, ref, nwords, &runs, &qemu, &ns_lt, &ns_qemu);
		snprintf(info, sizeof(info), "  runs (tracker), %u%% vs qemu loop", ppm[d] / 10000);
		printf("%-40s vhm %12.3f GiB/s  qemu %12.3f GiB/s  ratio %6.3f (for information)\n",
		       info, gib_per_s(nwords, ns_lt), gib_per_s(nwords, ns_qemu),
		       ns_lt ? (double)ns_qemu / (double)ns_lt : 0);
	}
	free(mig_bitmap);
}

/* For the record, not targets (the chosen kernel's lines above are): each
 * zero-skipping kernel on the sparse 1 TiB and 1 GiB logs. */
static void part_kernels(uint64_t *words, uint64_t *ref)
{
	static const char *const names[] = { "avx2", "sse2", "scalar" };
	static const struct side lt = { lt_sync_count }, plain = { plain_read };
	const char *chosen = lt_log_kernel();
	char name[64];

	for (unsigned gl = 0; gl <= 10; gl += 10) {
		size_t nwords = lt_log_words_for((1ull << 30) << gl);
		fill_reference(ref, nwords, SPARSE_PPM);
		for (size_t k = 0; k < VHM_ARRAY_SIZE(names); k++) {
			uint64_t ns_lt, ns_plain;
			if (lt_log_set_kernel(names[k]))
				continue;
			race(words, ref, nwords, &lt, &plain, &ns_lt, &ns_plain);
			snprintf(name, sizeof(name), "  kernel %-6s %4llu GiB vs read", names[k],
				 1ull << gl);
			printf("%-40s vhm %12.3f GiB/s  read %12.3f GiB/s  ratio %6.3f "
			       "(for information)\n", name, gib_per_s(nwords, ns_lt),
			       gib_per_s(nwords, ns_plain), ns_lt ? (double)ns_plain / (double)ns_lt : 0);
		}
	}
	lt_log_set_kernel(chosen);
}

int bench_logsync(void)
{
	size_t max_words = lt_log_words_for(1ull << 40);
	uint64_t *words = aligned_alloc(64, max_words * 8), *ref = aligned_alloc(64, max_words * 8);

	if (!words || !ref) {
		fprintf(stderr, "logsync: cannot allocate 2 x %zu MiB\n", max_words * 8 >> 20);
		free(words);
		free(ref);
		return -1;
	}
	printf("zero-skipping kernel: %s\n", lt_log_kernel());
	part_sparse(words, ref);
	part_dense(words, ref);
	part_kernels(words, ref);
	free(words);
	free(ref);
	return 0;
}
