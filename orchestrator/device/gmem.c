/* SPDX-License-Identifier: MIT */
/* Guest memory: sealed memfd regions laid out like a VM's (a hole below
 * 4 GiB), GPA <-> vhm-virtual translation, the region table a backend is
 * given, walks over what holds data, and digests of the whole memory. */
#include "gmem.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static int region_create(struct gmem_region *r, uint64_t gpa, uint64_t size, const char *name,
			 char *err, size_t errlen)
{
	const int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	void *p;

	r->gpa = gpa;
	r->size = size;
	r->fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (r->fd < 0)
		return vhm_err(err, errlen, -errno, "memfd_create %s: %s", name, strerror(errno));
	if (ftruncate(r->fd, (off_t)size) < 0 || fcntl(r->fd, F_ADD_SEALS, seals) < 0) {
		snprintf(err, errlen, "sizing/sealing %s (%llu bytes): %s", name,
			 (unsigned long long)size, strerror(errno));
		goto fail;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, r->fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "mmap %s (%llu bytes): %s", name, (unsigned long long)size,
			 strerror(errno));
		goto fail;
	}
	r->hva = p;
	return 0;
fail:
	close(r->fd);
	r->fd = -1;
	return -errno;
}

int gmem_create(struct gmem *m, uint64_t total, const char *tag, char *err, size_t errlen)
{
	uint64_t low = total < GMEM_LOW_TOP ? total : GMEM_LOW_TOP;
	char name[64];
	int rc;

	memset(m, 0, sizeof(*m));
	if (total % GMEM_PAGE_SIZE || total < GMEM_MIN_SIZE || total > GMEM_MAX_SIZE)
		return vhm_err(err, errlen, -EINVAL,
			       "guest memory %llu bytes: must be a multiple of 4 KiB "
			       "between 32 MiB and 1 TiB",
			       (unsigned long long)total);
	snprintf(name, sizeof(name), "vhm-guest-%s-low", tag);
	if ((rc = region_create(&m->r[0], 0, low, name, err, errlen)))
		return rc;
	m->n = 1;
	m->top = low;
	if (total > low) {
		snprintf(name, sizeof(name), "vhm-guest-%s-high", tag);
		rc = region_create(&m->r[1], GMEM_HIGH_BASE, total - low, name, err, errlen);
		if (rc) {
			gmem_destroy(m);
			return rc;
		}
		m->n = 2;
		m->top = GMEM_HIGH_BASE + total - low;
	}
	m->total = total;
	return 0;
}

void gmem_destroy(struct gmem *m)
{
	for (int i = 0; i < m->n; i++) {
		munmap(m->r[i].hva, m->r[i].size);
		close(m->r[i].fd);
	}
	m->n = 0;
}

int gmem_region_of(const struct gmem *m, uint64_t gpa)
{
	for (int i = 0; i < m->n; i++)
		if (gpa >= m->r[i].gpa && gpa - m->r[i].gpa < m->r[i].size)
			return i;
	return -1;
}

void *gmem_hva(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	int i = gmem_region_of(m, gpa);

	if (i < 0 || len > m->r[i].size - (gpa - m->r[i].gpa))
		return NULL;
	return m->r[i].hva + (gpa - m->r[i].gpa);
}

int gmem_gpa(const struct gmem *m, const void *hva, uint64_t *gpa)
{
	const uint8_t *p = hva;

	for (int i = 0; i < m->n; i++) {
		if (p >= m->r[i].hva && (uint64_t)(p - m->r[i].hva) < m->r[i].size) {
			*gpa = m->r[i].gpa + (uint64_t)(p - m->r[i].hva);
			return 0;
		}
	}
	return -EFAULT;
}

void gmem_vhu_regions(const struct gmem *m, struct vhu_mem_region *out, int *fds)
{
	for (int i = 0; i < m->n; i++) {
		out[i].guest_phys_addr = m->r[i].gpa;
		out[i].memory_size = m->r[i].size;
		out[i].userspace_addr = (uint64_t)(uintptr_t)m->r[i].hva;
		out[i].mmap_offset = 0;
		fds[i] = m->r[i].fd;
	}
}

void gmem_for_data_seek(const struct gmem_region *r, gmem_extent_fn fn, void *arg)
{
	off_t off = 0, end;

	while ((uint64_t)off < r->size) {
		off = lseek(r->fd, off, SEEK_DATA);
		if (off < 0)
			return;                /* ENXIO: no data after off */
		end = lseek(r->fd, off, SEEK_HOLE);
		if (end < 0 || (uint64_t)end > r->size)
			end = (off_t)r->size;
		off &= ~(off_t)(GMEM_PAGE_SIZE - 1);
		fn(r, (uint64_t)off, (uint64_t)end, arg);
		off = end;
	}
}

#define SCAN_PAGES 4096   /* pages one mincore call looks at (its vector on the stack) */

/* Set the bits of map for the pages of [first, first + n) that are in
 * memory; how many, or -1 when mincore failed. */
static int64_t scan_window(const struct gmem_region *r, uint64_t *map, uint64_t first, size_t n)
{
	unsigned char vec[SCAN_PAGES];
	int64_t found = 0;

	if (mincore(r->hva + first * GMEM_PAGE_SIZE, n * GMEM_PAGE_SIZE, vec))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!(vec[i] & 1))
			continue;
		map[(first + i) / 64] |= 1ull << ((first + i) % 64);
		found++;
	}
	return found;
}

/* Mark in map (zeroed, a bit per page) the region's pages that hold data,
 * when mincore can tell them: SEEK_DATA skips the holes, mincore reads the
 * rest SCAN_PAGES at a time, and the pages it found in memory must be all
 * the memfd has allocated (st_blocks), the same before and after: then none
 * was out of memory (swapped: not in memory, yet data) and none was
 * allocated meanwhile. false: ask lseek extent by extent instead. */
static bool data_map(const struct gmem_region *r, uint64_t *map)
{
	uint64_t pages = r->size / GMEM_PAGE_SIZE, k = 0, found = 0;
	struct stat before, after;

	if (fstat(r->fd, &before))
		return false;
	while (k < pages) {
		off_t off = lseek(r->fd, (off_t)(k * GMEM_PAGE_SIZE), SEEK_DATA);
		size_t n;
		int64_t got;

		if (off < 0 && errno == ENXIO)
			break;                 /* no data after k */
		if (off < 0)
			return false;
		k = (uint64_t)off / GMEM_PAGE_SIZE;
		n = pages - k < SCAN_PAGES ? (size_t)(pages - k) : SCAN_PAGES;
		if ((got = scan_window(r, map, k, n)) < 0)
			return false;
		found += (uint64_t)got;
		k += n;
	}
	if (fstat(r->fd, &after))
		return false;
	return before.st_blocks == after.st_blocks &&
	       (uint64_t)after.st_blocks == found * (GMEM_PAGE_SIZE / 512);
}

/* The first set bit of map at or after k (< pages), or pages. want_set
 * false: the first clear bit. */
static uint64_t next_bit(const uint64_t *map, uint64_t k, uint64_t pages, bool want_set)
{
	while (k < pages) {
		uint64_t w = want_set ? map[k / 64] : ~map[k / 64];

		w &= ~0ull << (k % 64);
		if (w) {
			k = (k & ~63ull) + (uint64_t)__builtin_ctzll(w);
			return k < pages ? k : pages;
		}
		k = (k & ~63ull) + 64;
	}
	return pages;
}

bool gmem_for_data(const struct gmem_region *r, gmem_extent_fn fn, void *arg)
{
	uint64_t pages = r->size / GMEM_PAGE_SIZE;
	uint64_t *map = calloc((pages + 63) / 64, sizeof(*map));

	if (!map || !data_map(r, map)) {
		free(map);
		gmem_for_data_seek(r, fn, arg);
		return false;
	}
	for (uint64_t k = next_bit(map, 0, pages, true); k < pages;) {
		uint64_t end = next_bit(map, k, pages, false);

		fn(r, k * GMEM_PAGE_SIZE, end * GMEM_PAGE_SIZE, arg);
		k = next_bit(map, end, pages, true);
	}
	free(map);
	return true;
}

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

struct digest {
	uint64_t h;
	gmem_keep_fn keep;           /* which pages count (guest-physical) */
	void *arg;
};

/* FNV-1a of one page, four independent lanes (words i, i+1, i+2, i+3) so the
 * multiplier stays busy, folded in order. false for an all-zero page. */
static bool page_hash(const uint64_t *w, uint64_t *out)
{
	uint64_t l[4] = { FNV_OFFSET, FNV_OFFSET ^ 1, FNV_OFFSET ^ 2, FNV_OFFSET ^ 3 };
	uint64_t ph = FNV_OFFSET, any = 0;

	for (size_t i = 0; i < GMEM_PAGE_SIZE / 8; i += 4)
		for (int k = 0; k < 4; k++) {
			any |= w[i + k];
			l[k] = (l[k] ^ w[i + k]) * FNV_PRIME;
		}
	for (int k = 0; k < 4; k++)
		ph = (ph ^ l[k]) * FNV_PRIME;
	*out = ph;
	return any != 0;
}

static void digest_extent(const struct gmem_region *r, uint64_t off, uint64_t end, void *arg)
{
	struct digest *dg = arg;

	for (; off < end; off += GMEM_PAGE_SIZE) {
		uint64_t gpa = r->gpa + off, ph;

		if (!dg->keep(gpa, dg->arg))
			continue;
		if (!page_hash((const uint64_t *)(r->hva + off), &ph))
			continue;
		dg->h = (dg->h ^ (gpa / GMEM_PAGE_SIZE)) * FNV_PRIME;
		dg->h = (dg->h ^ ph) * FNV_PRIME;
	}
}

void gmem_copy_racy(void *dst, const void *src, size_t len)
{
	VHM_RACY_READS_BEGIN();
	memcpy(dst, src, len);
	VHM_RACY_READS_END();
}

static bool all_zero(const uint8_t *b, size_t len)
{
	return b[0] == 0 && !memcmp(b, b + 1, len - 1);
}

void gmem_prefault(void *p, size_t len)
{
	uint8_t *b = p;

	for (size_t off = 0; off < len; off += GMEM_PAGE_SIZE)
		__atomic_fetch_add((uint64_t *)(void *)(b + off), 0, __ATOMIC_RELAXED);
}

void gmem_warm_racy(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t sum = 0;

	VHM_RACY_READS_BEGIN();
	for (size_t off = 0; off < len; off += GMEM_PAGE_SIZE)
		sum += *(const volatile uint64_t *)(const void *)(b + off);
	VHM_RACY_READS_END();
	(void)sum;
}

bool gmem_zero_racy(const void *p, size_t len)
{
	bool zero;

	VHM_RACY_READS_BEGIN();
	zero = all_zero(p, len);
	VHM_RACY_READS_END();
	return zero;
}

#ifdef __SSE2__
/* 64 bytes a step: loads ORed together, stores that bypass the cache (the
 * destination is not read again soon, and a store that misses would first
 * read its line from memory), left unfenced (gmem_stream_fence). SSE2 is
 * part of x86-64. */
static bool copy_data_stream(uint8_t *d, const uint8_t *s, size_t len)
{
	__m128i acc = _mm_setzero_si128();

	for (size_t i = 0; i < len; i += 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)(s + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(s + i + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(s + i + 32));
		__m128i e = _mm_loadu_si128((const __m128i *)(s + i + 48));

		_mm_stream_si128((__m128i *)(d + i), a);
		_mm_stream_si128((__m128i *)(d + i + 16), b);
		_mm_stream_si128((__m128i *)(d + i + 32), c);
		_mm_stream_si128((__m128i *)(d + i + 48), e);
		acc = _mm_or_si128(acc, _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, e)));
	}
	return _mm_movemask_epi8(_mm_cmpeq_epi8(acc, _mm_setzero_si128())) != 0xffff;
}
#endif

bool gmem_stream_data_racy(void *dst, const void *src, size_t len)
{
	bool data;

#ifdef __SSE2__
	if (!((uintptr_t)dst % 16) && !(len % 64)) {
		VHM_RACY_READS_BEGIN();
		data = copy_data_stream(dst, src, len);
		VHM_RACY_READS_END();
		return data;
	}
#endif
	gmem_copy_racy(dst, src, len);
	return !all_zero(dst, len);   /* dst is ours: no race */
}

void gmem_stream_fence(void)
{
#ifdef __SSE2__
	_mm_sfence();
#endif
}

bool gmem_copy_data_racy(void *dst, const void *src, size_t len)
{
	bool data = gmem_stream_data_racy(dst, src, len);

	gmem_stream_fence();
	return data;
}

uint64_t gmem_digest_where(const struct gmem *m, gmem_keep_fn keep, void *arg)
{
	struct digest dg = { FNV_OFFSET, keep, arg };

	for (int i = 0; i < m->n; i++)
		gmem_for_data(&m->r[i], digest_extent, &dg);
	return dg.h;
}

struct skip_range {
	uint64_t lo, hi;
};

static bool outside(uint64_t gpa, void *arg)
{
	const struct skip_range *s = arg;

	return gpa < s->lo || gpa >= s->hi;
}

uint64_t gmem_digest(const struct gmem *m, uint64_t skip_lo, uint64_t skip_hi)
{
	struct skip_range s = { skip_lo, skip_hi };

	return gmem_digest_where(m, outside, &s);
}

uint64_t gmem_ram_pfn(const struct gmem *m, uint64_t skip_bytes, uint64_t k)
{
	k += skip_bytes / GMEM_PAGE_SIZE;
	for (int i = 0; i < m->n; i++) {
		uint64_t pages = m->r[i].size / GMEM_PAGE_SIZE;

		if (k < pages)
			return m->r[i].gpa / GMEM_PAGE_SIZE + k;
		k -= pages;
	}
	return 0;
}

bool gmem_ram_index(const struct gmem *m, uint64_t skip_bytes, uint64_t pfn, uint64_t *k)
{
	uint64_t before = 0, skip = skip_bytes / GMEM_PAGE_SIZE;

	for (int i = 0; i < m->n; i++) {
		uint64_t first = m->r[i].gpa / GMEM_PAGE_SIZE, pages = m->r[i].size / GMEM_PAGE_SIZE;

		if (pfn >= first && pfn - first < pages) {
			if (before + (pfn - first) < skip)
				return false;
			*k = before + (pfn - first) - skip;
			return true;
		}
		before += pages;
	}
	return false;
}
