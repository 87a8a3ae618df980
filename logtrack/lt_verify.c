/* SPDX-License-Identifier: MIT */
/* Verify mode: hashes every page holding data each pass (CRC32C lanes, or a
 * multiply-xorshift hash without SSE4.2) and reports a page that changed
 * with no mark from either dirty set, one pass late to allow for marks in
 * flight (the reasoning is in lt_verify.h). */
#include "lt_verify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define SEED_EVEN 0x9e3779b9u
#define SEED_ODD  0x7f4a7c15u
#define PAGE_WORDS (LT_PAGE_SIZE / 8)

#if defined(__x86_64__)
/* Two independent crc32 chains (even / odd words) so that the instruction's
 * 3-cycle latency overlaps; 64 bits out. */
__attribute__((target("sse4.2")))
static uint64_t hash_crc32c(const void *page)
{
	const uint64_t *w = page;
	uint64_t a = SEED_EVEN, b = SEED_ODD;

	for (size_t i = 0; i < PAGE_WORDS; i += 2) {
		a = __builtin_ia32_crc32di(a, w[i]);
		b = __builtin_ia32_crc32di(b, w[i + 1]);
	}
	return a << 32 | (b & 0xffffffffu);
}
#endif

/* Portable: per word multiply-xorshift, summed position-dependently. */
static uint64_t hash_mix64(const void *page)
{
	const uint64_t *w = page;
	uint64_t h = 0x243f6a8885a308d3ull;

	for (size_t i = 0; i < PAGE_WORDS; i++) {
		uint64_t x = (w[i] ^ (i * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;

		h = (h ^ (x ^ x >> 31)) * 0x94d049bb133111ebull;
	}
	return h ^ h >> 29;
}

typedef uint64_t (*hash_fn)(const void *page);

static hash_fn pick_hash(void)
{
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return hash_crc32c;
#endif
	return hash_mix64;
}

const char *lt_verify_hash_name(void)
{
	return pick_hash() == hash_mix64 ? "mix64" : "crc32c";
}

uint64_t lt_verify_hash_page(const void *page)
{
	return pick_hash()(page);
}

static bool bit(const uint64_t *bm, uint64_t p)
{
	return (bm[p / 64] >> (p % 64)) & 1;
}

int lt_verify_init(struct lt_verify *v, uint64_t npages)
{
	static const uint64_t zero[PAGE_WORDS];

	memset(v, 0, sizeof(*v));
	if (!npages)
		return -EINVAL;
	v->hash = malloc(npages * sizeof(*v->hash));
	v->excl = calloc((npages + 63) / 64, sizeof(*v->excl));
	v->cand = malloc(LT_VERIFY_MAX_CAND * sizeof(*v->cand));
	if (!v->hash || !v->excl || !v->cand) {
		lt_verify_destroy(v);
		return -ENOMEM;
	}
	v->npages = npages;
	v->zero_hash = lt_verify_hash_page(zero);
	for (uint64_t p = 0; p < npages; p++)
		v->hash[p] = v->zero_hash;
	return 0;
}

void lt_verify_destroy(struct lt_verify *v)
{
	free(v->hash);
	free(v->excl);
	free(v->cand);
	memset(v, 0, sizeof(*v));
}

void lt_verify_exclude(struct lt_verify *v, uint64_t first, uint64_t count)
{
	for (uint64_t p = first; p < first + count && p < v->npages; p++)
		v->excl[p / 64] |= 1ull << (p % 64);
}

bool lt_verify_excluded(const struct lt_verify *v, uint64_t page)
{
	return page < v->npages && bit(v->excl, page);
}

struct pass {
	struct lt_verify *v;
	hash_fn hash;
	const uint64_t *marks;
	size_t ncand;
};

/* Hash pages [first, first + n) at hva. */
static void hash_pages(struct pass *ps, uint64_t first, uint64_t n, const uint8_t *hva)
{
	struct lt_verify *v = ps->v;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t p = first + i, h;

		/* The guest may be writing this page: that is what a verify
		 * pass looks for (util.h, VHM_RACY_READS_BEGIN). */
		VHM_RACY_READS_BEGIN();
		h = ps->hash(hva + i * LT_PAGE_SIZE);
		VHM_RACY_READS_END();

		if (h == v->hash[p])
			continue;
		v->hash[p] = h;
		if (!v->primed)
			continue;
		v->changed++;
		if (bit(ps->marks, p) || bit(v->excl, p))
			continue;
		if (ps->ncand < LT_VERIFY_MAX_CAND)
			v->cand[ps->ncand++] = p;
		else
			v->cand_dropped++;
	}
	v->pages_hashed += n;
}

/* Hash the data extents of one region (all of it without an fd). */
static void hash_region(struct pass *ps, const struct lt_verify_mem *m)
{
	uint64_t base = m->gpa / LT_PAGE_SIZE;
	off_t off = 0, end;

	if (m->fd < 0) {
		hash_pages(ps, base, m->size / LT_PAGE_SIZE, m->hva);
		return;
	}
	while ((uint64_t)off < m->size) {
		off = lseek(m->fd, off, SEEK_DATA);
		if (off < 0)
			return;             /* ENXIO: only holes after off */
		end = lseek(m->fd, off, SEEK_HOLE);
		if (end < 0 || (uint64_t)end > m->size)
			end = (off_t)m->size;
		off &= ~(off_t)(LT_PAGE_SIZE - 1);
		end = (off_t)(((uint64_t)end + LT_PAGE_SIZE - 1) & ~(LT_PAGE_SIZE - 1));
		if ((uint64_t)end > m->size)
			end = (off_t)m->size;
		hash_pages(ps, base + (uint64_t)off / LT_PAGE_SIZE,
			   (uint64_t)(end - off) / LT_PAGE_SIZE, m->hva + off);
		off = end;
	}
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

int lt_verify_pass(struct lt_verify *v, const struct lt_verify_mem *mem, size_t n,
		   const uint64_t *marks, uint64_t now_ms, lt_verify_fn fn, void *arg)
{
	struct pass ps = { .v = v, .hash = pick_hash(), .marks = marks };
	struct timespec t0, t1;

	for (size_t i = 0; i < n; i++)
		if (mem[i].gpa % LT_PAGE_SIZE || mem[i].size % LT_PAGE_SIZE ||
		    (mem[i].gpa + mem[i].size) / LT_PAGE_SIZE > v->npages)
			return -EINVAL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* The previous pass's candidates: still unmarked now means unlogged. */
	for (size_t i = 0; i < v->ncand; i++) {
		if (bit(marks, v->cand[i])) {
			v->dismissed++;
			continue;
		}
		v->findings++;
		if (fn)
			fn(arg, v->cand[i], v->cand_ms);
	}
	for (size_t i = 0; i < n; i++)
		hash_region(&ps, &mem[i]);
	v->ncand = ps.ncand;
	v->cand_ms = now_ms;
	v->primed = true;
	v->passes++;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	v->last_pass_ms = ms_between(&t0, &t1);
	return 0;
}
