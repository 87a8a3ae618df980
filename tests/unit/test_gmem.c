/* SPDX-License-Identifier: MIT */
/* Guest memory: the layout of a VM (a hole below 4 GiB), sparse so that a
 * 64 GiB guest costs only what it writes, sealed memfds, translation both
 * ways, the walk over what holds data, and the digest that migration and
 * `digest` rely on. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gmem.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)

static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = atol(line + 6);
	if (f)
		fclose(f);
	return kb;
}

Test(gmem, small_guest_is_one_region_at_zero)
{
	struct gmem m;
	char err[256];

	cr_assert(eq(int, gmem_create(&m, 256 * MiB, "t", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, m.n, 1));
	cr_assert(eq(u64, m.r[0].gpa, 0));
	cr_assert(eq(u64, m.top, 256 * MiB));
	cr_assert(eq(u64, gmem_pages(&m), 256 * MiB / 4096));
	gmem_destroy(&m);
}

Test(gmem, sixty_four_gib_sparse_with_a_hole)
{
	struct gmem m;
	char err[256];
	long before = rss_kb();
	uint64_t gpa;
	uint8_t *last;

	cr_assert(eq(int, gmem_create(&m, 64 * GiB, "big", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, m.n, 2));
	cr_assert(eq(u64, m.r[0].gpa, 0));
	cr_assert(eq(u64, m.r[0].size, 3 * GiB));
	cr_assert(eq(u64, m.r[1].gpa, 4 * GiB));
	cr_assert(eq(u64, m.r[1].size, 61 * GiB));
	cr_assert(eq(u64, m.top, 65 * GiB));
	/* the hole is not memory */
	cr_assert(eq(ptr, gmem_hva(&m, 3 * GiB, 4096), NULL));
	cr_assert(eq(ptr, gmem_hva(&m, 4 * GiB - 4096, 4096), NULL));
	cr_assert(eq(int, gmem_region_of(&m, 3 * GiB + 123), -1));
	/* a range across the end of a region is refused */
	cr_assert(eq(ptr, gmem_hva(&m, 3 * GiB - 2048, 4096), NULL));
	/* the last page works, and translates back */
	last = gmem_hva(&m, 65 * GiB - 4096, 4096);
	cr_assert(not(eq(ptr, last, NULL)));
	memset(last, 0xab, 4096);
	cr_assert(eq(int, gmem_gpa(&m, last + 17, &gpa), 0));
	cr_assert(eq(u64, gpa, 65 * GiB - 4096 + 17));
	/* 64 GiB of guest, a few pages touched: RSS grows by far less than 64 MiB */
	cr_assert(lt(i64, rss_kb() - before, 64 * 1024), "RSS grew by %ld kB", rss_kb() - before);
	gmem_destroy(&m);
}

Test(gmem, memfds_are_sealed_against_resizing)
{
	struct gmem m;
	char err[256];
	int seals;

	cr_assert(eq(int, gmem_create(&m, 64 * MiB, "seal", err, sizeof(err)), 0), "%s", err);
	seals = fcntl(m.r[0].fd, F_GET_SEALS);
	cr_assert(eq(int, seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
		     F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
	cr_assert(eq(int, ftruncate(m.r[0].fd, 4096), -1), "a backend could shrink guest memory");
	gmem_destroy(&m);
}

Test(gmem, bad_sizes_are_refused_with_a_reason)
{
	static const uint64_t bad[] = { 0, 16 * MiB, 64 * MiB + 1, 2ull << 40 };
	struct gmem m;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert(eq(int, gmem_create(&m, bad[i], "bad", err, sizeof(err)), -EINVAL));
		cr_assert(not(eq(ptr, strstr(err, "guest memory"), NULL)), "err: %s", err);
	}
}

Test(gmem, digest_sees_content_and_place_not_history)
{
	struct gmem a, b;
	char err[256];
	uint8_t *pa, *pb;

	cr_assert(eq(int, gmem_create(&a, 64 * MiB, "da", err, sizeof(err)), 0));
	cr_assert(eq(int, gmem_create(&b, 64 * MiB, "db", err, sizeof(err)), 0));
	cr_assert(eq(u64, gmem_digest(&a, 0, 0), gmem_digest(&b, 0, 0)), "empty memories differ");
	pa = gmem_hva(&a, 5 * MiB, 4096);
	pb = gmem_hva(&b, 5 * MiB, 4096);
	pa[100] = 1;
	cr_assert(not(eq(u64, gmem_digest(&a, 0, 0), gmem_digest(&b, 0, 0))));
	pb[100] = 1;
	cr_assert(eq(u64, gmem_digest(&a, 0, 0), gmem_digest(&b, 0, 0)));
	/* a page written then zeroed again hashes like one never written */
	memset(gmem_hva(&b, 9 * MiB, 4096), 7, 4096);
	memset(gmem_hva(&b, 9 * MiB, 4096), 0, 4096);
	cr_assert(eq(u64, gmem_digest(&a, 0, 0), gmem_digest(&b, 0, 0)));
	/* the same bytes at another address differ */
	pb[100] = 0;
	((uint8_t *)gmem_hva(&b, 6 * MiB, 4096))[100] = 1;
	cr_assert(not(eq(u64, gmem_digest(&a, 0, 0), gmem_digest(&b, 0, 0))));
	/* a skipped range is left out */
	cr_assert(eq(u64, gmem_digest(&a, 5 * MiB, 7 * MiB), gmem_digest(&b, 5 * MiB, 7 * MiB)));
	gmem_destroy(&a);
	gmem_destroy(&b);
}

/* The first pass's copy: every byte arrives, and a page counts as data when
 * any one byte, wherever it is, is not zero; the same through the fallback
 * (a destination not 16-byte aligned, a length not a multiple of 64). */
Test(gmem, copy_data_copies_and_tells_zero_from_data)
{
	static uint8_t src[4096 + 64] __attribute__((aligned(64)));
	static uint8_t dst[4096 + 64] __attribute__((aligned(64)));
	const size_t spots[] = { 0, 1, 15, 16, 63, 64, 2048, 4095 };

	memset(dst, 0xee, sizeof(dst));
	cr_assert(not(gmem_copy_data_racy(dst, src, 4096)), "an all-zero page held data");
	for (size_t i = 0; i < 4096; i++)
		cr_assert(eq(u8, dst[i], 0), "byte %zu not copied", i);
	for (size_t k = 0; k < sizeof(spots) / sizeof(spots[0]); k++) {
		memset(src, 0, sizeof(src));
		src[spots[k]] = (uint8_t)(k + 1);
		cr_assert(gmem_copy_data_racy(dst, src, 4096), "byte %zu set, page seen zero",
			  spots[k]);
		cr_assert(eq(int, memcmp(dst, src, 4096), 0));
		/* the fallback: unaligned destination, then an odd length */
		cr_assert(gmem_copy_data_racy(dst + 1, src, 4096));
		cr_assert(eq(int, memcmp(dst + 1, src, 4096), 0));
		cr_assert(eq(int, gmem_copy_data_racy(dst, src, spots[k] + 1) ? 1 : 0, 1));
		cr_assert(eq(int, gmem_copy_data_racy(dst, src + spots[k] + 1, 32) ? 1 : 0, 0));
	}
	for (size_t i = 0; i < 4096; i++)
		src[i] = (uint8_t)(i * 7 + 1);
	cr_assert(gmem_copy_data_racy(dst, src, 4096));
	cr_assert(eq(int, memcmp(dst, src, 4096), 0));
}

/* The prefault allocates every page of the range (the memfd's blocks) and
 * changes no byte: written pages keep their data, holes read as zero. The
 * warming read changes nothing either. */
Test(gmem, prefault_allocates_and_keeps_contents)
{
	const size_t len = 4 * MiB, pages = len / 4096;
	struct gmem m;
	struct stat st;
	char err[256];
	uint8_t *b;

	cr_assert(eq(int, gmem_create(&m, 64 * MiB, "t", err, sizeof(err)), 0), "%s", err);
	b = m.r[0].hva;
	for (size_t p = 0; p < pages; p += 3)
		memset(b + p * 4096, (int)(p % 251) + 1, 4096);
	gmem_prefault(b, len);
	gmem_warm_racy(b, len);
	cr_assert(eq(int, fstat(m.r[0].fd, &st), 0));
	cr_assert(le(u64, (uint64_t)len, (uint64_t)st.st_blocks * 512), "%lld blocks for %zu bytes",
		  (long long)st.st_blocks, len);
	for (size_t p = 0; p < pages; p++)
		for (size_t i = 0; i < 4096; i += 511)
			cr_assert(eq(u8, b[p * 4096 + i], p % 3 ? 0 : (uint8_t)(p % 251 + 1)),
				  "page %zu byte %zu", p, i);
	gmem_destroy(&m);
}

#define MAX_EXTENTS 8192

struct extents {
	size_t n;
	uint64_t off[MAX_EXTENTS], end[MAX_EXTENTS];
};

static void note_extent(const struct gmem_region *r, uint64_t off, uint64_t end, void *arg)
{
	struct extents *e = arg;

	(void)r;
	cr_assert(lt(sz, e->n, (size_t)MAX_EXTENTS));
	e->off[e->n] = off;
	e->end[e->n++] = end;
}

/* gmem_for_data lists, from mincore, the extents lseek finds: `want` of
 * them (SIZE_MAX: at least 1000). */
static void assert_same_extents(const struct gmem_region *r, size_t want)
{
	static struct extents by_map, by_seek;

	by_map.n = by_seek.n = 0;
	cr_assert(gmem_for_data(r, note_extent, &by_map), "mincore was not exact: lseek used");
	gmem_for_data_seek(r, note_extent, &by_seek);
	if (want == SIZE_MAX)
		cr_assert(le(sz, 1000, by_seek.n), "lseek found %zu extents", by_seek.n);
	else
		cr_assert(eq(sz, want, by_seek.n));
	cr_assert(eq(sz, by_map.n, by_seek.n));
	for (size_t i = 0; i < by_seek.n; i++)
		cr_assert(by_map.off[i] == by_seek.off[i] && by_map.end[i] == by_seek.end[i],
			  "extent %zu: [%llu, %llu) against lseek's [%llu, %llu)", i,
			  (unsigned long long)by_map.off[i], (unsigned long long)by_map.end[i],
			  (unsigned long long)by_seek.off[i], (unsigned long long)by_seek.end[i]);
}

/* The walk over data finds what lseek finds, extent for extent, however
 * the pages came to hold data: written here, read here (a read fault
 * allocates a memfd page), written through the file, or written by another
 * process through its own mapping (a backend). */
Test(gmem, data_extents_are_those_lseek_finds)
{
	const size_t len = 64 * MiB, pages = len / 4096;
	struct gmem m;
	char err[256];
	uint8_t *b, one = 1;
	volatile uint8_t sink;
	pid_t pid;
	int st;

	cr_assert(eq(int, gmem_create(&m, len, "t", err, sizeof(err)), 0), "%s", err);
	b = m.r[0].hva;
	assert_same_extents(&m.r[0], 0);        /* nothing: no extent */
	srand(7);
	for (size_t i = 0; i < pages / 3; i++)
		b[(size_t)rand() % pages * 4096 + 8] = 1;
	b[0] = b[len - 1] = 2;                  /* the first and last pages */
	sink = b[5 * 4096 + 3];                 /* read only */
	(void)sink;
	cr_assert(eq(long, (long)pwrite(m.r[0].fd, &one, 1, (off_t)(7 * 4096)), 1L));
	pid = fork();
	cr_assert(ge(int, pid, 0));
	if (!pid) {
		uint8_t *o = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m.r[0].fd, 0);

		if (o == MAP_FAILED)
			_exit(1);
		for (size_t p = 11; p < pages; p += 97)
			o[p * 4096] = 3;
		_exit(0);
	}
	cr_assert(eq(int, (int)waitpid(pid, &st, 0), (int)pid));
	cr_assert(eq(int, st, 0));
	assert_same_extents(&m.r[0], SIZE_MAX);
	gmem_destroy(&m);
}

/* In a 64 GiB guest with two pages written, one in each region, the walk
 * finds just those two. */
Test(gmem, data_extents_of_a_sparse_guest)
{
	struct gmem m;
	char err[256];

	cr_assert(eq(int, gmem_create(&m, 64 * GiB, "big", err, sizeof(err)), 0), "%s", err);
	memset(gmem_hva(&m, 1 * GiB, 4096), 1, 4096);
	memset(gmem_hva(&m, 60 * GiB, 4096), 1, 4096);
	for (int i = 0; i < m.n; i++)
		assert_same_extents(&m.r[i], 1);
	gmem_destroy(&m);
}
