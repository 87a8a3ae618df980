/* lt_log — see lt_log.h.
 *
 * The sync loop reads each word plainly; a zero word is skipped by a kernel
 * that ORs whole blocks (8 words scalar, 16 with SSE2, 32 with AVX2) and stops
 * at the first block holding a set bit. Only a non-zero word is exchanged
 * with 0 (a locked instruction costs ~20 cycles; most words are zero). */
#include "lt_log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define LT_RUN_BATCH 128        /* runs handed to on_runs per call */

size_t lt_log_words_for(uint64_t gpa_top)
{
	uint64_t pages = (gpa_top + LT_PAGE_SIZE - 1) >> LT_PAGE_SHIFT;

	return (size_t)((pages + LT_WORD_PAGES - 1) / LT_WORD_PAGES);
}

static int log_map(struct lt_log *log, int fd, size_t len, uint64_t offset, bool readonly)
{
	int prot = readonly ? PROT_READ : PROT_READ | PROT_WRITE;
	void *map = mmap(NULL, len + offset, prot, MAP_SHARED, fd, 0);

	if (map == MAP_FAILED)
		return -errno;
	log->map = map;
	log->map_len = len + offset;
	log->words = (uint64_t *)((char *)map + offset);
	log->nwords = len / sizeof(uint64_t);
	log->npages = (uint64_t)log->nwords * LT_WORD_PAGES;
	log->readonly = readonly;
	return 0;
}

int lt_log_create(struct lt_log *log, uint64_t gpa_top)
{
	size_t len = lt_log_words_for(gpa_top) * sizeof(uint64_t);
	int fd, rc;

	memset(log, 0, sizeof(*log));
	log->fd = -1;
	if (len == 0)
		return -EINVAL;
	fd = memfd_create("vhm-log", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		rc = -errno;
		goto err_close;
	}
	rc = log_map(log, fd, len, 0, false);
	if (rc)
		goto err_close;
	log->fd = fd;
	return 0;

err_close:
	close(fd);
	return rc;
}

int lt_log_attach_fd(struct lt_log *log, int fd, uint64_t size, uint64_t offset, bool readonly)
{
	struct stat sb;

	memset(log, 0, sizeof(*log));
	log->fd = -1;
	if (size == 0 || size % sizeof(uint64_t) || offset % sizeof(uint64_t) ||
	    size > SIZE_MAX - offset)
		return -EINVAL;
	if (fstat(fd, &sb) < 0)
		return -errno;
	/* A mapping past the end of the file would SIGBUS on first read. */
	if ((uint64_t)sb.st_size < offset + size)
		return -EINVAL;
	return log_map(log, fd, (size_t)size, offset, readonly);
}

int lt_log_attach_mem(struct lt_log *log, uint64_t *words, size_t nwords, bool readonly)
{
	memset(log, 0, sizeof(*log));
	log->fd = -1;
	if (!words || nwords == 0)
		return -EINVAL;
	log->words = words;
	log->nwords = nwords;
	log->npages = (uint64_t)nwords * LT_WORD_PAGES;
	log->readonly = readonly;
	return 0;
}

void lt_log_destroy(struct lt_log *log)
{
	if (log->map)
		munmap(log->map, log->map_len);
	if (log->fd >= 0)
		close(log->fd);
	memset(log, 0, sizeof(*log));
	log->fd = -1;
}

void lt_log_mark(uint64_t *words, uint64_t page)
{
	__atomic_fetch_or(&words[page / LT_WORD_PAGES], 1ull << (page % LT_WORD_PAGES),
			  __ATOMIC_RELEASE);
}

/* ---- regions ---- */

/* First page whose first byte is at or after gpa. */
static uint64_t page_ceil(uint64_t gpa)
{
	return (gpa >> LT_PAGE_SHIFT) + !!(gpa & (LT_PAGE_SIZE - 1));
}

static uint64_t region_first(const struct lt_region *r)
{
	return page_ceil(r->gpa);
}

static uint64_t region_end(const struct lt_region *r)
{
	return page_ceil(r->gpa + r->size);
}

int lt_regions_check(const struct lt_region *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (r[i].size == 0 || r[i].gpa + r[i].size < r[i].gpa)
			return -EINVAL;
		if (i > 0 && r[i].gpa < r[i - 1].gpa + r[i - 1].size)
			return -EINVAL;
	}
	return 0;
}

/* Number of regions whose first page is <= page (upper bound search). */
static size_t regions_upto(const struct lt_region *r, size_t n, uint64_t page)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (region_first(&r[mid]) <= page)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

ssize_t lt_region_find(const struct lt_region *r, size_t n, uint64_t page)
{
	size_t k = regions_upto(r, n, page);

	if (k == 0 || page >= region_end(&r[k - 1]))
		return -ENOENT;
	return (ssize_t)(k - 1);
}

uint64_t lt_regions_count_run(const struct lt_region *r, size_t n, uint64_t first,
			      uint64_t count, uint64_t *counts)
{
	uint64_t end = first + count, page = first, outside = 0;
	size_t k = regions_upto(r, n, first);

	/* Start in the region that may hold `first`, then walk forward. */
	if (k > 0)
		k--;
	for (; k < n && page < end; k++) {
		uint64_t rf = region_first(&r[k]), re = region_end(&r[k]);
		if (re <= page)
			continue;
		if (rf > page) {
			uint64_t gap_end = rf < end ? rf : end;
			outside += gap_end - page;
			page = gap_end;
		}
		uint64_t in_end = re < end ? re : end;
		if (in_end > page) {
			counts[k] += in_end - page;
			page = in_end;
		}
	}
	return outside + (end - page);
}

/* ---- zero-skipping kernels: the first index >= i of a non-zero word, or n ----
 * Each looks at single words until w + i is aligned to its block (so a dense
 * log costs one load per word and blocks never straddle cache lines), then ORs
 * whole blocks; a block with a set bit is searched word by word. */

/* Look at single words until w + *i is aligned to `align` bytes; true if one
 * of them (at *i) is non-zero. */
static inline bool probe_to_block(const uint64_t *w, size_t *i, size_t n, uintptr_t align)
{
	for (; *i < n && ((uintptr_t)(w + *i) & (align - 1)); (*i)++)
		if (w[*i])
			return true;
	return *i < n && w[*i];
}

static size_t skip_tail(const uint64_t *w, size_t i, size_t n)
{
	while (i < n && !w[i])
		i++;
	return i;
}

static size_t skip_scalar(const uint64_t *w, size_t i, size_t n)
{
	if (probe_to_block(w, &i, n, 64))
		return i;
	for (; i + 8 <= n; i += 8) {
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		    w[i + 7])
			break;
	}
	return skip_tail(w, i, n);
}

#if defined(__x86_64__)
static size_t skip_sse2(const uint64_t *w, size_t i, size_t n)
{
	if (probe_to_block(w, &i, n, 64))
		return i;
	for (; i + 8 <= n; i += 8) {
		const __m128i *p = (const __m128i *)(w + i);
		__m128i o = _mm_or_si128(_mm_or_si128(_mm_load_si128(p), _mm_load_si128(p + 1)),
					 _mm_or_si128(_mm_load_si128(p + 2), _mm_load_si128(p + 3)));
		if (_mm_movemask_epi8(_mm_cmpeq_epi8(o, _mm_setzero_si128())) != 0xffff)
			break;
	}
	return skip_tail(w, i, n);
}

__attribute__((target("avx2")))
static size_t skip_avx2(const uint64_t *w, size_t i, size_t n)
{
	if (probe_to_block(w, &i, n, 128))
		return i;
	for (; i + 16 <= n; i += 16) {
		const __m256i *p = (const __m256i *)(w + i);
		__m256i o = _mm256_or_si256(_mm256_or_si256(_mm256_load_si256(p),
							     _mm256_load_si256(p + 1)),
					    _mm256_or_si256(_mm256_load_si256(p + 2),
							    _mm256_load_si256(p + 3)));
		if (!_mm256_testz_si256(o, o))
			break;
	}
	return skip_tail(w, i, n);
}
#endif

/* ---- the sync ---- */

struct scan {
	const struct lt_sync *how;
	struct lt_sync_stats st;
	struct lt_run pend;             /* a run reaching the end of its word; count 0: none */
	size_t nbatch;
	struct lt_run batch[LT_RUN_BATCH];
};

/* Hand the batch of maximal runs on: region counts, then the callback. */
static void scan_flush(struct scan *s)
{
	const struct lt_sync *how = s->how;

	if (how->regions)
		for (size_t r = 0; r < s->nbatch; r++)
			s->st.outside_pages += lt_regions_count_run(how->regions, how->nregions,
								    s->batch[r].first,
								    s->batch[r].count,
								    how->region_pages);
	if (s->nbatch && how->on_runs)
		how->on_runs(s->batch, s->nbatch, how->arg);
	s->st.runs += s->nbatch;
	s->nbatch = 0;
}

/* Split word i's bits (v != 0) into runs. `starts` has the first bit of each
 * run, `ends` its last; a run through bit 63 waits in pend for the next word,
 * and one from bit 0 continues pend when it ends where this word begins.
 * A word holds at most 32 runs, plus pend: room is made for them first, so
 * the loop appends with a count kept in a register. */
static inline void scan_word_runs(struct scan *s, size_t i, uint64_t v)
{
	uint64_t base = (uint64_t)i * LT_WORD_PAGES;
	uint64_t starts = v & ~(v << 1), ends = v & ~(v >> 1);
	struct lt_run *out;
	size_t nb;

	if (s->nbatch > LT_RUN_BATCH - 33)
		scan_flush(s);
	out = s->batch;
	nb = s->nbatch;
	if (s->pend.count) {
		if (s->pend.first + s->pend.count == base && (v & 1)) {
			unsigned e = (unsigned)__builtin_ctzll(ends);
			s->pend.count += e + 1;
			if (e == 63)
				return;
			starts &= starts - 1;
			ends &= ends - 1;
		}
		out[nb++] = s->pend;
		s->pend.count = 0;
	}
	while (starts) {
		unsigned b = (unsigned)__builtin_ctzll(starts);
		unsigned e = (unsigned)__builtin_ctzll(ends);
		starts &= starts - 1;
		ends &= ends - 1;
		out[nb].first = base + b;
		out[nb].count = e - b + 1;
		nb++;
	}
	/* The last run reaches bit 63: it may go on in the next word. */
	if (v >> 63)
		s->pend = out[--nb];
	s->nbatch = nb;
}

/* The loop over all words; inlined into one function per kernel so that the
 * AVX2 one also gets POPCNT and TZCNT. */
static inline __attribute__((always_inline))
void sync_words(struct scan *s, uint64_t *w, size_t n, bool clear, bool runs,
		size_t (*skip)(const uint64_t *w, size_t i, size_t n))
{
	uint64_t *merge = s->how->merge;
	uint64_t words = 0, pages = 0;  /* in registers, not through s */

	for (size_t i = 0; i < n; i++) {
		uint64_t v = __atomic_load_n(&w[i], __ATOMIC_RELAXED);
		if (!v) {
			i = skip(w, i + 1, n);
			if (i == n)
				break;
			v = __atomic_load_n(&w[i], __ATOMIC_RELAXED);
		}
		/* The exchange returns the bits as cleared, including any set since the read. */
		if (clear)
			v = __atomic_exchange_n(&w[i], 0, __ATOMIC_ACQ_REL);
		if (!v)
			continue;
		words++;
		pages += (uint64_t)__builtin_popcountll(v);
		if (merge)
			merge[i] |= v;
		if (runs)
			scan_word_runs(s, i, v);
	}
	s->st.words += words;
	s->st.pages += pages;
}

typedef void (*sync_fn)(struct scan *s, uint64_t *w, size_t n, bool clear, bool runs);

static void sync_scalar(struct scan *s, uint64_t *w, size_t n, bool clear, bool runs)
{
	sync_words(s, w, n, clear, runs, skip_scalar);
}

#if defined(__x86_64__)
static void sync_sse2(struct scan *s, uint64_t *w, size_t n, bool clear, bool runs)
{
	sync_words(s, w, n, clear, runs, skip_sse2);
}

__attribute__((target("avx2,popcnt,bmi")))
static void sync_avx2(struct scan *s, uint64_t *w, size_t n, bool clear, bool runs)
{
	sync_words(s, w, n, clear, runs, skip_avx2);
}
#endif

static const struct {
	const char *name;
	sync_fn sync;
} kernels[] = {
#if defined(__x86_64__)
	{ "avx2", sync_avx2 },
	{ "sse2", sync_sse2 },
#endif
	{ "scalar", sync_scalar },
};

static int kernel_chosen = -1;  /* index into kernels, -1: not chosen yet */

static bool kernel_supported(const char *name)
{
#if defined(__x86_64__)
	if (!strcmp(name, "avx2"))
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt") &&
		       __builtin_cpu_supports("bmi");
#endif
	(void)name;
	return true;
}

static int kernel_index(void)
{
	int k = __atomic_load_n(&kernel_chosen, __ATOMIC_RELAXED);

	if (k >= 0)
		return k;
	for (k = 0; !kernel_supported(kernels[k].name); k++)
		;
	__atomic_store_n(&kernel_chosen, k, __ATOMIC_RELAXED);
	return k;
}

const char *lt_log_kernel(void)
{
	return kernels[kernel_index()].name;
}

int lt_log_set_kernel(const char *name)
{
	for (size_t k = 0; k < VHM_ARRAY_SIZE(kernels); k++) {
		if (strcmp(kernels[k].name, name))
			continue;
		if (!kernel_supported(name))
			return -ENOTSUP;
		__atomic_store_n(&kernel_chosen, (int)k, __ATOMIC_RELAXED);
		return 0;
	}
	return -ENOTSUP;
}

int lt_log_sync(struct lt_log *log, const struct lt_sync *how, struct lt_sync_stats *st)
{
	static const struct lt_sync none;
	struct scan s;

	if (!how)
		how = &none;
	if (how->merge && how->merge_words < log->nwords)
		return -EINVAL;
	if (how->regions && !how->region_pages)
		return -EINVAL;
	memset(&s.st, 0, sizeof(s.st));
	s.how = how;
	s.pend.count = 0;
	s.nbatch = 0;
	kernels[kernel_index()].sync(&s, log->words, log->nwords, !how->peek && !log->readonly,
				     how->on_runs || how->regions);
	if (s.pend.count)
		s.batch[s.nbatch++] = s.pend;   /* room: flushes leave <= LT_RUN_BATCH - 33 */
	scan_flush(&s);
	if (st)
		*st = s.st;
	return 0;
}
