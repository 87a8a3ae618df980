/* SPDX-License-Identifier: MIT */
/* lt_log — the vhost dirty log: one bit per 4 KiB page of guest-physical
 * address space, bit n = page n counted from GPA 0, stored as little-endian
 * 64-bit words. Backends set bits with atomic OR (byte- or word-wise); the
 * frontend syncs: reads each word, skips zero words fast (vectorised), and
 * atomically exchanges the non-zero ones with 0, so a bit set concurrently is
 * either in this sync or left for the next one — never lost.
 *
 * Also here: the guest's region table (GPA ranges → names) and page → region
 * mapping, since a sync counts dirty pages per region as it scans. */
#ifndef VHM_LT_LOG_H
#define VHM_LT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LT_PAGE_SHIFT 12
#define LT_PAGE_SIZE (1ull << LT_PAGE_SHIFT)   /* bytes per log bit (VHOST_LOG_PAGE) */
#define LT_WORD_PAGES 64                       /* pages per log word */

/* A log mapping. Fields are read-only for callers. */
struct lt_log {
	uint64_t *words;        /* the mapping: nwords little-endian 64-bit words */
	size_t nwords;
	uint64_t npages;        /* nwords * 64: pages the log can describe */
	int fd;                 /* memfd of lt_log_create (owned), else -1 */
	bool readonly;          /* never cleared: sync only reads */
	void *map;              /* what lt_log_destroy unmaps (NULL: not ours) */
	size_t map_len;         /* bytes */
};

/* Log words needed to cover guest-physical [0, gpa_top): one bit per 4 KiB
 * page, rounded up to whole 64-bit words (256 KiB of guest per word). */
size_t lt_log_words_for(uint64_t gpa_top);

/* A new zeroed log for guest-physical [0, gpa_top): a memfd named "vhm-log"
 * of lt_log_words_for(gpa_top) * 8 bytes, sealed against shrinking and
 * growing (a bigger guest gets a new log and a new SET_LOG_BASE), mapped
 * MAP_SHARED read-write. log->fd is the fd to pass with SET_LOG_BASE (offset
 * 0, size nwords * 8); the log owns it. 0, -EINVAL (gpa_top 0) or -errno. */
int lt_log_create(struct lt_log *log, uint64_t gpa_top);

/* Map a log another party created: `size` bytes at `offset` of fd (as in
 * SET_LOG_BASE). Read-only maps PROT_READ and never clears. The fd stays the
 * caller's (it may be closed after this returns). -EINVAL when size is not a
 * whole number of words or the file is smaller than offset + size. */
int lt_log_attach_fd(struct lt_log *log, int fd, uint64_t size, uint64_t offset,
		     bool readonly);

/* Use caller memory (nwords words, the caller's to free after destroy). */
int lt_log_attach_mem(struct lt_log *log, uint64_t *words, size_t nwords, bool readonly);

/* Unmap what the log mapped and close what it owns. Safe on a zeroed log. */
void lt_log_destroy(struct lt_log *log);

/* Set one page's bit with atomic OR, as a backend does (tests, guest writer). */
void lt_log_mark(uint64_t *words, uint64_t page);

/* A guest memory region, guest-physical. Page p belongs to the region whose
 * [gpa, gpa + size) holds its first byte p * 4096. */
struct lt_region {
	uint64_t gpa, size;     /* bytes */
	const char *name;       /* not owned */
};

/* 0 if regions are sorted by gpa, non-empty, non-overlapping; else -EINVAL. */
int lt_regions_check(const struct lt_region *r, size_t n);
/* Index of the region holding page (binary search), or -ENOENT. */
ssize_t lt_region_find(const struct lt_region *r, size_t n, uint64_t page);
/* Add the pages of [first, first + count) to counts[region]; returns the
 * pages that fall in no region. */
uint64_t lt_regions_count_run(const struct lt_region *r, size_t n, uint64_t first,
			      uint64_t count, uint64_t *counts);

/* A run of dirty pages: maximal (runs crossing word boundaries are joined). */
struct lt_run {
	uint64_t first;         /* page number = GPA / 4096 */
	uint64_t count;         /* pages */
};

/* Receives runs in ascending order, in batches (valid only during the call). */
typedef void (*lt_runs_fn)(const struct lt_run *runs, size_t n, void *arg);

/* What a sync does besides clearing; every member is optional (zero it). */
struct lt_sync {
	bool peek;              /* report only, never clear (forced on a read-only log) */
	lt_runs_fn on_runs;     /* dirty runs */
	void *arg;
	uint64_t *merge;        /* OR the dirty bits into this caller bitmap (same layout) */
	size_t merge_words;     /* must be >= log->nwords */
	const struct lt_region *regions;  /* checked, sorted table */
	size_t nregions;
	uint64_t *region_pages; /* nregions counters: += dirty pages per region */
};

struct lt_sync_stats {
	uint64_t pages;         /* dirty pages found */
	uint64_t runs;          /* maximal runs */
	uint64_t words;         /* non-zero words */
	uint64_t outside_pages; /* dirty pages in no region (only with regions) */
};

/* Sync the whole log once: collect every set bit (clearing it unless peek),
 * feed the runs / merge bitmap / region counters of `how` (NULL: just count)
 * and fill st (may be NULL). 0, or -EINVAL (merge bitmap too small) before
 * anything is touched. */
int lt_log_sync(struct lt_log *log, const struct lt_sync *how, struct lt_sync_stats *st);

/* Which zero-skipping kernel the sync uses: "avx2", "sse2" or "scalar". */
const char *lt_log_kernel(void);
/* Force a kernel by name (bench, tests); -ENOTSUP if the CPU lacks it. */
int lt_log_set_kernel(const char *name);

#endif
