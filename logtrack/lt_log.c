/* SPDX-License-Identifier: MIT */
/* The dirty log: its memfd, marking, the region table, and the sync that
 * finds set bits fast and exchanges only the non-zero words.
 *
 * The sync loop reads the log a 64-byte line at a time into a mask of its
 * non-zero words; a zero line hands over to a kernel that ORs whole blocks
 * (8 words scalar or SSE2, 16 with AVX2) and stops at the first block holding
 * a set bit. Only a non-zero word is exchanged with 0 (a locked instruction
 * costs ~20 cycles; most words are zero).
 *
 * Threads: the log is written while it is read (by the backend's process,
 * and by the guest writer's thread with lt_log_mark), so every scalar read of
 * a word is a relaxed atomic load (a plain load on x86-64). A vector load
 * cannot be atomic; the SSE2 and AVX2 kernels read whole lines with plain
 * loads, which x86 makes safe (each aligned 8-byte word is read whole, and a
 * word seen zero is looked at again at the next sync) but which C calls a
 * race. A ThreadSanitizer build therefore has the scalar kernel only. */
#include "lt_log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The vector kernels read lines with plain loads (see above). */
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define LT_VECTOR_KERNELS 1
#include <immintrin.h>
#endif

#define LT_RUN_BATCH 256        /* most runs handed to on_runs per call */

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

/* One word of a log that others write (see the top of the file). */
static inline uint64_t word(const uint64_t *w, size_t i)
{
	return __atomic_load_n(&w[i], __ATOMIC_RELAXED);
}

/* Look at single words until w + *i is aligned to `align` bytes; true if one
 * of them (at *i) is non-zero. */
static inline bool scan_to_block(const uint64_t *w, size_t *i, size_t n, uintptr_t align)
{
	for (; *i < n && ((uintptr_t)(w + *i) & (align - 1)); (*i)++)
		if (word(w, *i))
			return true;
	return *i < n && word(w, *i);
}

static size_t skip_tail(const uint64_t *w, size_t i, size_t n)
{
	while (i < n && !word(w, i))
		i++;
	return i;
}

static size_t skip_scalar(const uint64_t *w, size_t i, size_t n)
{
	if (scan_to_block(w, &i, n, 64))
		return i;
	for (; i + 8 <= n; i += 8) {
		if (word(w, i) | word(w, i + 1) | word(w, i + 2) | word(w, i + 3) |
		    word(w, i + 4) | word(w, i + 5) | word(w, i + 6) | word(w, i + 7))
			break;
	}
	return skip_tail(w, i, n);
}

#if LT_VECTOR_KERNELS
static size_t skip_sse2(const uint64_t *w, size_t i, size_t n)
{
	if (scan_to_block(w, &i, n, 64))
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

/* Logs above this many words (16 MiB: guests above 512 GiB) stream from
 * memory; there 8-word scalar blocks keep up with a plain read and 16-word
 * AVX2 ones fall behind it (bench logsync: 1 TiB, 0.01 % dirty). */
#define SKIP_AVX2_MAX_WORDS (2u << 20)

__attribute__((target("avx2")))
static size_t skip_avx2(const uint64_t *w, size_t i, size_t n)
{
	if (n > SKIP_AVX2_MAX_WORDS)
		return skip_scalar(w, i, n);
	if (scan_to_block(w, &i, n, 128))
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

/* ---- line masks: bit k set when word k of a 64-byte line is not zero ---- */

/* Any count up to 8, any alignment: the head and the tail of a log. */
static inline unsigned mask_words(const uint64_t *p, size_t cnt)
{
	unsigned m = 0;

	for (size_t k = 0; k < cnt; k++)
		m |= (unsigned)(word(p, k) != 0) << k;
	return m;
}

static inline unsigned mask_line_scalar(const uint64_t *p)
{
	return mask_words(p, 8);
}

#if LT_VECTOR_KERNELS
static inline unsigned mask_line_sse2(const uint64_t *p)
{
	const __m128i *q = (const __m128i *)p;
	unsigned zero = 0;

	/* SSE2 compares 32-bit lanes: a word is zero when both its halves are. */
	for (int h = 0; h < 4; h++) {
		__m128i e = _mm_cmpeq_epi32(_mm_load_si128(q + h), _mm_setzero_si128());
		e = _mm_and_si128(e, _mm_shuffle_epi32(e, _MM_SHUFFLE(2, 3, 0, 1)));
		zero |= (unsigned)_mm_movemask_pd(_mm_castsi128_pd(e)) << (2 * h);
	}
	return ~zero & 0xff;
}

__attribute__((target("avx2")))
static inline unsigned mask_line_avx2(const uint64_t *p)
{
	const __m256i *q = (const __m256i *)p;
	__m256i lo = _mm256_cmpeq_epi64(_mm256_load_si256(q), _mm256_setzero_si256());
	__m256i hi = _mm256_cmpeq_epi64(_mm256_load_si256(q + 1), _mm256_setzero_si256());
	unsigned zero = (unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(lo)) |
			(unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(hi)) << 4;

	return ~zero & 0xff;
}
#endif

/* ---- the sync ----
 * A word's runs come from two masks: starts (a set page after a clear one)
 * and ends (a clear page after a set one), where the page before bit 0 is
 * bit 63 of the word before when that word was looked at and adjoins (else
 * clear); the end after bit 63 is bit 64, which no word holds. So every start
 * in a word pairs with an end, in order, and a run's count is
 * ctz64(end) - ctz64(start), ctz64 giving 64 for an empty mask. A run through
 * bit 63 stays last in the batch, open: the next word, when it adjoins and
 * its bit 0 is set, adds its leading set pages to the count and drops its
 * first end; only closed runs are handed on. */

/* Runs one word may write: 32 (every other page), and up to RUN_STORE - 1
 * slots past them that the group store writes but the count leaves out. */
#define RUN_STORE 4
#define WORD_RUN_SLOTS (LT_WORD_PAGES / 2 + RUN_STORE)

struct scan {
	const struct lt_sync *how;
	struct lt_sync_stats st;
	size_t nruns;
	struct lt_run batch[LT_RUN_BATCH];
};

/* The loop's own state, kept in registers (never through s). */
struct cursor {
	size_t nruns;           /* in s->batch */
	size_t next;            /* word after the last one looked at */
	uint64_t carry;         /* its bit 63: the last run may go on at word next */
	uint64_t words, pages;
	uint64_t *merge;        /* how->merge: the batch's stores may not reload it */
};

/* Hand the runs on (region counts, then the callback), all but the last when
 * it is open (it starts the next batch). */
static void scan_flush(struct scan *s, bool open)
{
	const struct lt_sync *how = s->how;
	size_t n = s->nruns - open;     /* an open run is always in the batch */

	if (how->regions)
		for (size_t r = 0; r < n; r++)
			s->st.outside_pages += lt_regions_count_run(how->regions, how->nregions,
								    s->batch[r].first,
								    s->batch[r].count,
								    how->region_pages);
	if (n && how->on_runs)
		how->on_runs(s->batch, n, how->arg);
	s->st.runs += n;
	if (open)
		s->batch[0] = s->batch[n];
	s->nruns = open;
}

/* Trailing zeros, 64 for 0 (one TZCNT where BMI is on). */
static inline uint64_t ctz64(uint64_t x)
{
	return x ? (uint64_t)__builtin_ctzll(x) : 64;
}

/* Store the run of the lowest start at o[k] and drop it from the masks:
 * ends has the bit after each run's last page (none for a run through bit
 * 63: ctz64 gives 64). Past the word's runs both masks are empty, and the
 * slot gets a count of 0. */
#define RUN_PUT(o, k, starts, ends, base)                                                \
	do {                                                                             \
		uint64_t b_ = ctz64(starts);                                             \
		(o)[k] = (struct lt_run){ (base) + b_, ctz64(ends) - b_ };               \
		(starts) &= (starts) - 1;                                                \
		(ends) &= (ends) - 1;                                                    \
	} while (0)

/* Append the runs of word i (v as exchanged). Runs are stored in groups
 * whatever the word holds, and counted once by a popcount of its starts, so
 * no branch is taken per run: one first, which is all most words at 1 % dirty
 * hold, then RUN_STORE at a time (one or two groups at 10 %). Fewer stores
 * past the count cost less than the branch they save beyond that (bench
 * logsync: 1 + 4 did best of 2 + 8, 2 + 4, 2 + 2, 2 + 1, 1 + 3 and 1 + 2). */
static inline __attribute__((always_inline))
void scan_word_runs(struct scan *s, struct cursor *c, size_t i, uint64_t v)
{
	struct lt_run *out = s->batch;
	uint64_t base = (uint64_t)i * LT_WORD_PAGES;
	uint64_t cin = c->carry & (i == c->next);      /* page base - 1 is dirty */
	uint64_t go_on = cin & v;                       /* so the open run goes on */
	uint64_t starts = v & ~(v << 1 | cin), ends = (v & ~(v >> 1)) << 1;
	size_t r = c->nruns;
	struct lt_run *o;

	if (r > LT_RUN_BATCH - WORD_RUN_SLOTS) {
		s->nruns = r;
		scan_flush(s, c->carry);
		r = s->nruns;
	}
	/* The open run grows by the leading set pages (all 64 when ~v is 0). A
	 * branch: rarely taken up to tens of % dirty, nearly always when all is
	 * dirty, so predicted at both ends (the load it guards would wait on
	 * the store of the same slot, made for the word before). */
	if (go_on) {
		out[r - 1].count += ctz64(~v);
		ends &= ends - 1;
	}
	c->carry = v >> 63;
	c->next = i + 1;
	o = out + r;
	r += (size_t)__builtin_popcountll(starts);
	RUN_PUT(o, 0, starts, ends, base);
	while (starts) {
#pragma GCC unroll 8
		for (size_t k = 1; k <= RUN_STORE; k++)
			RUN_PUT(o, k, starts, ends, base);
		o += RUN_STORE;
	}
	c->nruns = r;
}

/* The set words of the line at word i (mask m): exchange (or read, when not
 * clearing) each, then merge, count and build runs. One loop per line rather
 * than a branch per word: at 1 % to 10 % dirty, whether a word is zero is a
 * coin toss the branch predictor loses. */
static inline __attribute__((always_inline))
void sync_line(struct scan *s, struct cursor *c, uint64_t *w, size_t i, unsigned m, bool clear,
	       bool runs)
{
	uint64_t words = 0, pages = 0;  /* the line's, summed here: kept in registers */

	for (; m; m &= m - 1) {
		size_t j = i + (size_t)__builtin_ctz(m);
		/* The exchange returns the bits as cleared, including any set since the read. */
		uint64_t v = clear ? __atomic_exchange_n(&w[j], 0, __ATOMIC_ACQ_REL)
				   : __atomic_load_n(&w[j], __ATOMIC_RELAXED);

		words += v != 0;
		pages += (uint64_t)__builtin_popcountll(v);
		if (c->merge)
			c->merge[j] |= v;
		if (runs)
			scan_word_runs(s, c, j, v);
	}
	c->words += words;
	c->pages += pages;
}

/* The loop over all words, line by line (8 words, 64 bytes): the words up to
 * the first line boundary, whole lines, the rest. A clear line hands over to
 * the zero-skipping kernel, which stops at the next set word; the loop goes on
 * from that word's line. Inlined into one function per kernel, so that the
 * AVX2 one also gets POPCNT and TZCNT, and per clear/runs pair, so that the
 * loop tests neither. */
static inline __attribute__((always_inline))
void sync_words(struct scan *s, uint64_t *w, size_t n, bool clear, bool runs,
		unsigned (*mask_line)(const uint64_t *p),
		size_t (*skip)(const uint64_t *w, size_t i, size_t n))
{
	struct cursor c = { 0 };
	size_t head = (size_t)(-(uintptr_t)w & 63) / sizeof(uint64_t), i;

	if (head > n)
		head = n;
	c.nruns = s->nruns;
	c.merge = s->how->merge;
	sync_line(s, &c, w, 0, mask_words(w, head), clear, runs);
	for (i = head; i + 8 <= n;) {
		unsigned m = mask_line(w + i);
		if (!m) {
			size_t j = skip(w, i + 8, n);
			i = j - (j - head) % 8;
			continue;
		}
		sync_line(s, &c, w, i, m, clear, runs);
		i += 8;
	}
	if (i < n)
		sync_line(s, &c, w, i, mask_words(w + i, n - i), clear, runs);
	s->nruns = c.nruns;
	s->st.words += c.words;
	s->st.pages += c.pages;
}

#define SYNC_KERNEL(name, mask_line, skip, ...)                                          \
	__VA_ARGS__ static void name(struct scan *s, uint64_t *w, size_t n, bool clear,  \
				     bool runs)                                          \
	{                                                                                \
		if (clear && runs)                                                       \
			sync_words(s, w, n, true, true, mask_line, skip);                \
		else if (clear)                                                          \
			sync_words(s, w, n, true, false, mask_line, skip);               \
		else if (runs)                                                           \
			sync_words(s, w, n, false, true, mask_line, skip);               \
		else                                                                     \
			sync_words(s, w, n, false, false, mask_line, skip);              \
	}

typedef void (*sync_fn)(struct scan *s, uint64_t *w, size_t n, bool clear, bool runs);

SYNC_KERNEL(sync_scalar, mask_line_scalar, skip_scalar)
#if LT_VECTOR_KERNELS
SYNC_KERNEL(sync_sse2, mask_line_sse2, skip_sse2)
SYNC_KERNEL(sync_avx2, mask_line_avx2, skip_avx2,
	    __attribute__((target("avx2,popcnt,bmi"))))
#endif

static const struct {
	const char *name;
	sync_fn sync;
} kernels[] = {
#if LT_VECTOR_KERNELS
	{ "avx2", sync_avx2 },
	{ "sse2", sync_sse2 },
#endif
	{ "scalar", sync_scalar },
};

static int kernel_chosen = -1;  /* index into kernels, -1: not chosen yet */

static bool kernel_supported(const char *name)
{
#if LT_VECTOR_KERNELS
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
	/* The batch is left as it is: no slot is read before it is written (the
	 * open run's growth reads the last run, there only once one is stored). */
	s.how = how;
	s.nruns = 0;
	memset(&s.st, 0, sizeof(s.st));
	kernels[kernel_index()].sync(&s, log->words, log->nwords, !how->peek && !log->readonly,
				     how->on_runs || how->regions);
	scan_flush(&s, false);
	if (st)
		*st = s.st;
	return 0;
}
