/* SPDX-License-Identifier: MIT */
/* The dirty log: sizing, the memfd, sync against bitmaps built here with
 * known dirty pages (every zero-skipping kernel), clearing vs read-only, the
 * union into a caller bitmap, a writer racing the sync, and region mapping. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lt_log.h"

/* Runs a sync reported, rebuilt into a bitmap. */
struct collected {
	uint64_t *bits;
	size_t nwords;
	uint64_t runs, pages;
	uint64_t last_end;      /* end of the previous run: runs must ascend, apart */
	bool order_ok;
};

static void collect(const struct lt_run *runs, size_t n, void *arg)
{
	struct collected *c = arg;

	for (size_t i = 0; i < n; i++) {
		if (c->runs && runs[i].first <= c->last_end)
			c->order_ok = false;    /* overlapping, unordered or not maximal */
		if (runs[i].count == 0)
			c->order_ok = false;
		for (uint64_t p = runs[i].first; p < runs[i].first + runs[i].count; p++)
			c->bits[p / 64] |= 1ull << (p % 64);
		c->runs++;
		c->pages += runs[i].count;
		c->last_end = runs[i].first + runs[i].count;
	}
}

static void collected_init(struct collected *c, size_t nwords)
{
	memset(c, 0, sizeof(*c));
	c->bits = calloc(nwords, sizeof(uint64_t));
	c->nwords = nwords;
	c->order_ok = true;
	cr_assert(not(eq(ptr, c->bits, NULL)));
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void set_page(uint64_t *w, uint64_t p)
{
	w[p / 64] |= 1ull << (p % 64);
}

static uint64_t popcount_words(const uint64_t *w, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += (uint64_t)__builtin_popcountll(w[i]);
	return sum;
}

Test(lt_log, words_cover_gpa_top_rounded_to_words)
{
	cr_assert(eq(sz, lt_log_words_for(0), 0));
	cr_assert(eq(sz, lt_log_words_for(1), 1));
	cr_assert(eq(sz, lt_log_words_for(64 * 4096), 1), "256 KiB of guest is one word");
	cr_assert(eq(sz, lt_log_words_for(64 * 4096 + 1), 2));
	cr_assert(eq(sz, lt_log_words_for(1ull << 30), 4096), "1 GiB: 32 KiB of log");
	cr_assert(eq(sz, lt_log_words_for(1ull << 40), 4u << 20), "1 TiB: 32 MiB of log");
}

Test(lt_log, create_makes_sealed_memfd_named_vhm_log)
{
	struct lt_log log;
	char link[64], target[128];
	ssize_t n;
	int seals;

	cr_assert(eq(int, lt_log_create(&log, (1ull << 30) + 1), 0));
	cr_assert(eq(sz, log.nwords, 4097));
	cr_assert(eq(u64, log.npages, 4097 * 64));
	cr_assert(eq(int, (int)lseek(log.fd, 0, SEEK_END), 4097 * 8));
	seals = fcntl(log.fd, F_GET_SEALS);
	cr_assert(eq(int, seals & F_SEAL_SHRINK, F_SEAL_SHRINK), "seals %#x", seals);
	cr_assert(eq(int, ftruncate(log.fd, 8), -1), "shrinking a sealed log must fail");
	snprintf(link, sizeof(link), "/proc/self/fd/%d", log.fd);
	n = readlink(link, target, sizeof(target) - 1);
	cr_assert(lt(sz, 0, (size_t)n));
	target[n] = '\0';
	cr_assert(eq(int, strncmp(target, "/memfd:vhm-log", 14), 0), "fd is %s", target);
	for (size_t i = 0; i < log.nwords; i++)
		cr_assert(eq(u64, log.words[i], 0));
	lt_log_destroy(&log);
	cr_assert(eq(int, lt_log_create(&log, 0), -EINVAL));
}

Test(lt_log, attach_fd_refuses_a_file_smaller_than_asked)
{
	struct lt_log log, peer;

	cr_assert(eq(int, lt_log_create(&log, 1ull << 24), 0));
	cr_assert(eq(int, lt_log_attach_fd(&peer, log.fd, log.nwords * 8 + 8, 0, true), -EINVAL));
	cr_assert(eq(int, lt_log_attach_fd(&peer, log.fd, 12, 0, true), -EINVAL));
	lt_log_destroy(&log);
}

Test(lt_log, read_only_attach_sees_bits_and_never_clears)
{
	struct lt_log owner, peer;
	struct lt_sync_stats st;

	cr_assert(eq(int, lt_log_create(&owner, 1ull << 30), 0));
	cr_assert(eq(int, lt_log_attach_fd(&peer, owner.fd, owner.nwords * 8, 0, true), 0));
	lt_log_mark(owner.words, 5);
	lt_log_mark(owner.words, 262143);
	for (int pass = 0; pass < 2; pass++) {
		cr_assert(eq(int, lt_log_sync(&peer, NULL, &st), 0));
		cr_assert(eq(u64, st.pages, 2), "pass %d: %llu pages", pass,
			  (unsigned long long)st.pages);
	}
	cr_assert(eq(u64, owner.words[0], 1ull << 5), "the owner's bits stay");
	lt_log_destroy(&peer);
	lt_log_destroy(&owner);
}

/* Known pages: first, a run across a word edge, whole words, a run over
 * three words, a lone bit, the last page. */
Test(lt_log, sync_reports_maximal_runs_across_words)
{
	static const struct lt_run want[] = {
		{ 0, 1 }, { 60, 11 }, { 128, 256 }, { 500, 501 }, { 1100, 1 }, { 64 * 40 - 1, 1 },
	};
	uint64_t words[40] = { 0 };
	struct lt_log log;
	struct collected c;
	struct lt_sync how = { .on_runs = collect, .arg = &c };
	struct lt_sync_stats st;
	uint64_t pages = 0;

	for (size_t r = 0; r < sizeof(want) / sizeof(want[0]); r++) {
		for (uint64_t p = want[r].first; p < want[r].first + want[r].count; p++)
			set_page(words, p);
		pages += want[r].count;
	}
	cr_assert(eq(int, lt_log_attach_mem(&log, words, 40, false), 0));
	collected_init(&c, 40);
	cr_assert(eq(int, lt_log_sync(&log, &how, &st), 0));
	cr_assert(eq(u64, st.runs, 6));
	cr_assert(eq(u64, c.runs, 6));
	cr_assert(eq(u64, st.pages, pages));
	cr_assert(c.order_ok, "runs must ascend and be maximal");
	for (size_t i = 0; i < 40; i++)
		cr_assert(eq(u64, words[i], 0), "word %zu not cleared", i);
	free(c.bits);
}

/* Parameters cross into re-executed workers: indexes, not string pointers. */
static const char *const kernel_names[] = { "avx2", "sse2", "scalar" };

ParameterizedTestParameters(lt_log, sync_matches_random_bitmaps)
{
	static int kernels[] = { 0, 1, 2 };

	return cr_make_param_array(int, kernels, sizeof(kernels) / sizeof(kernels[0]));
}

/* Densities from one page in 10^4 to all, on a length that is no multiple of
 * any block, so every kernel's tail is exercised. */
ParameterizedTest(int *kernel_index, lt_log, sync_matches_random_bitmaps)
{
	static const unsigned per_million[] = { 0, 100, 10000, 100000, 500000, 990000, 1000000 };
	const size_t nwords = 4096 + 37;
	uint64_t *words = calloc(nwords, 8), *want = calloc(nwords, 8);
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	const char *kernel = kernel_names[*kernel_index];
	int rc = lt_log_set_kernel(kernel);

	if (rc == -ENOTSUP)
		cr_skip_test("CPU lacks %s", kernel);
	cr_assert(eq(int, rc, 0));
	for (size_t d = 0; d < sizeof(per_million) / sizeof(per_million[0]); d++) {
		struct lt_log log;
		struct collected c;
		struct lt_sync how = { .on_runs = collect, .arg = &c };
		struct lt_sync_stats st;

		memset(want, 0, nwords * 8);
		for (uint64_t p = 0; p < nwords * 64; p++)
			if (rng_next(&seed) % 1000000 < per_million[d])
				set_page(want, p);
		memcpy(words, want, nwords * 8);
		cr_assert(eq(int, lt_log_attach_mem(&log, words, nwords, false), 0));
		collected_init(&c, nwords);
		cr_assert(eq(int, lt_log_sync(&log, &how, &st), 0));
		cr_assert(eq(int, memcmp(c.bits, want, nwords * 8), 0),
			  "%s, %u ppm: runs differ from the bitmap", kernel, per_million[d]);
		cr_assert(eq(u64, st.pages, popcount_words(want, nwords)));
		cr_assert(eq(u64, c.pages, st.pages));
		cr_assert(c.order_ok);
		cr_assert(eq(u64, popcount_words(words, nwords), 0), "sync must clear");
		free(c.bits);
	}
	free(words);
	free(want);
}

Test(lt_log, peek_reports_without_clearing)
{
	uint64_t words[8] = { 0, 0xf0, 0, 0, 0, 0, 0, 1ull << 63 };
	struct lt_log log;
	struct lt_sync how = { .peek = true };
	struct lt_sync_stats st;

	cr_assert(eq(int, lt_log_attach_mem(&log, words, 8, false), 0));
	cr_assert(eq(int, lt_log_sync(&log, &how, &st), 0));
	cr_assert(eq(u64, st.pages, 5));
	cr_assert(eq(u64, words[1], 0xf0));
	cr_assert(eq(int, lt_log_sync(&log, NULL, &st), 0));
	cr_assert(eq(u64, st.pages, 5));
	cr_assert(eq(int, lt_log_sync(&log, NULL, &st), 0));
	cr_assert(eq(u64, st.pages, 0), "the clearing sync took them");
}

Test(lt_log, merge_unions_with_the_callers_bitmap)
{
	uint64_t words[4] = { 0x0f, 0, 1ull << 63, 0 };
	uint64_t dirty[4] = { 0xf0, 0x1, 1ull << 63, 0 };   /* the guest writer's set */
	struct lt_log log;
	struct lt_sync how = { .merge = dirty, .merge_words = 4 };

	cr_assert(eq(int, lt_log_attach_mem(&log, words, 4, false), 0));
	cr_assert(eq(int, lt_log_sync(&log, &how, NULL), 0));
	cr_assert(eq(u64, dirty[0], 0xff));
	cr_assert(eq(u64, dirty[1], 0x1));
	cr_assert(eq(u64, dirty[2], 1ull << 63));
	cr_assert(eq(u64, dirty[3], 0));
}

Test(lt_log, merge_into_short_bitmap_fails_and_keeps_log)
{
	uint64_t words[4] = { 1, 2, 3, 4 }, dirty[3] = { 0 };
	struct lt_log log;
	struct lt_sync how = { .merge = dirty, .merge_words = 3 };

	cr_assert(eq(int, lt_log_attach_mem(&log, words, 4, false), 0));
	cr_assert(eq(int, lt_log_sync(&log, &how, NULL), -EINVAL));
	cr_assert(eq(u64, words[3], 4));
}

/* ---- a backend racing the sync ---- */

struct racer {
	uint64_t *log;          /* shared, atomic OR */
	uint64_t *set;          /* what the writer set: private */
	uint64_t npages;
	long marks;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	uint64_t seed = 12345;

	for (long i = 0; i < r->marks; i++) {
		uint64_t p = rng_next(&seed) % r->npages;
		/* Byte-wise like DPDK half the time, word-wise the other. */
		if (i & 1)
			__atomic_fetch_or((uint8_t *)r->log + p / 8, (uint8_t)(1u << (p % 8)),
					  __ATOMIC_RELEASE);
		else
			lt_log_mark(r->log, p);
		set_page(r->set, p);
	}
	return NULL;
}

Test(lt_log, concurrent_writer_loses_no_bit, .timeout = 60)
{
	const size_t nwords = 1024;
	struct racer r = {
		.log = calloc(nwords, 8), .set = calloc(nwords, 8),
		.npages = nwords * 64, .marks = 2000000,
	};
	uint64_t *got = calloc(nwords, 8);
	struct lt_log log;
	struct lt_sync how = { .merge = got, .merge_words = nwords };
	pthread_t th;
	int syncs = 0;

	cr_assert(eq(int, lt_log_attach_mem(&log, r.log, nwords, false), 0));
	cr_assert(eq(int, pthread_create(&th, NULL, racer_main, &r), 0));
	while (pthread_tryjoin_np(th, NULL) == EBUSY) {
		cr_assert(eq(int, lt_log_sync(&log, &how, NULL), 0));
		syncs++;
	}
	cr_assert(eq(int, lt_log_sync(&log, &how, NULL), 0));  /* after the writer */
	cr_assert(eq(int, memcmp(got, r.set, nwords * 8), 0),
		      "union of %d syncs differs from what was set", syncs);
	cr_assert(eq(u64, popcount_words(r.log, nwords), 0));
	free(r.log);
	free(r.set);
	free(got);
}

/* ---- regions ---- */

static const struct lt_region regions[] = {
	{ 0, 640 << 10, "low" },                        /* pages 0..159 */
	{ 1 << 20, (3u << 30) - (1 << 20), "below-4g" },  /* pages 256..786431 */
	{ 4ull << 30, 1ull << 30, "above-4g" },         /* pages 1048576..1310719 */
};

Test(lt_regions, find_at_region_edges)
{
	const size_t n = sizeof(regions) / sizeof(regions[0]);

	cr_assert(eq(int, lt_regions_check(regions, n), 0));
	cr_assert(eq(i64, lt_region_find(regions, n, 0), 0));
	cr_assert(eq(i64, lt_region_find(regions, n, 159), 0));
	cr_assert(eq(i64, lt_region_find(regions, n, 160), -ENOENT), "hole after 640 KiB");
	cr_assert(eq(i64, lt_region_find(regions, n, 255), -ENOENT));
	cr_assert(eq(i64, lt_region_find(regions, n, 256), 1));
	cr_assert(eq(i64, lt_region_find(regions, n, 786431), 1));
	cr_assert(eq(i64, lt_region_find(regions, n, 786432), -ENOENT));
	cr_assert(eq(i64, lt_region_find(regions, n, 1048575), -ENOENT));
	cr_assert(eq(i64, lt_region_find(regions, n, 1048576), 2));
	cr_assert(eq(i64, lt_region_find(regions, n, 1310719), 2));
	cr_assert(eq(i64, lt_region_find(regions, n, 1310720), -ENOENT));
	cr_assert(eq(i64, lt_region_find(regions, 0, 0), -ENOENT));
}

Test(lt_regions, unaligned_edges_give_a_page_to_the_region_of_its_first_byte)
{
	static const struct lt_region r[] = {
		{ 100, 8000, "a" },     /* bytes 100..8099: holds the first byte of page 1 */
		{ 8100, 100, "b" },     /* bytes 8100..8199: holds 8192, page 2 */
		{ 8200, 4000, "c" },    /* bytes 8200..12199: no page starts here */
	};

	cr_assert(eq(int, lt_regions_check(r, 3), 0));
	cr_assert(eq(i64, lt_region_find(r, 3, 0), -ENOENT), "byte 0 is before a");
	cr_assert(eq(i64, lt_region_find(r, 3, 1), 0));
	cr_assert(eq(i64, lt_region_find(r, 3, 2), 1), "byte 8192 is in b");
	cr_assert(eq(i64, lt_region_find(r, 3, 3), -ENOENT));
}

Test(lt_regions, check_refuses_overlap_unsorted_and_empty)
{
	struct lt_region r[2] = { { 0, 8192, "a" }, { 4096, 8192, "b" } };

	cr_assert(eq(int, lt_regions_check(r, 2), -EINVAL), "overlap");
	r[1].gpa = 8192;
	cr_assert(eq(int, lt_regions_check(r, 2), 0), "touching is fine");
	r[1].size = 0;
	cr_assert(eq(int, lt_regions_check(r, 2), -EINVAL), "empty");
	r[1] = (struct lt_region){ 0, 4096, "b" };
	r[0].gpa = 4096;
	cr_assert(eq(int, lt_regions_check(r, 2), -EINVAL), "unsorted");
}

Test(lt_regions, sync_counts_pages_per_region)
{
	const size_t n = sizeof(regions) / sizeof(regions[0]);
	struct lt_log log;
	uint64_t counts[3] = { 0 };
	struct lt_sync how = { .regions = regions, .nregions = n, .region_pages = counts };
	struct lt_sync_stats st;

	cr_assert(eq(int, lt_log_create(&log, 5ull << 30), 0));
	for (uint64_t p = 150; p < 300; p++)    /* 10 in low, 96 outside, 44 in below-4g */
		lt_log_mark(log.words, p);
	lt_log_mark(log.words, 786431);         /* last of below-4g */
	lt_log_mark(log.words, 786432);         /* outside */
	lt_log_mark(log.words, 1048576);        /* first of above-4g */
	lt_log_mark(log.words, 1310719);        /* last of above-4g */
	cr_assert(eq(int, lt_log_sync(&log, &how, &st), 0));
	cr_assert(eq(u64, counts[0], 10));
	cr_assert(eq(u64, counts[1], 45));
	cr_assert(eq(u64, counts[2], 2));
	cr_assert(eq(u64, st.outside_pages, 97));
	cr_assert(eq(u64, st.pages, 154));
	lt_log_destroy(&log);
}
