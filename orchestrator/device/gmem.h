/* SPDX-License-Identifier: MIT */
/* gmem — guest memory: the guest-physical address space of vhm's device,
 * backed by memfd regions sealed against shrinking (so no backend can make
 * vhm fault on its own memory) and mapped shared into vhm.
 *
 * Layout, like a real VM's: up to 3 GiB sits at GPA 0; above that, the rest
 * starts at 4 GiB, leaving the PCI hole [3 GiB, 4 GiB) unbacked. Memory is
 * sparse: pages cost nothing until written, so 64 GiB guests work.
 *
 * Translation guest-physical <-> vhm-virtual is here and nowhere else. */
#ifndef VHM_GMEM_H
#define VHM_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhu_proto.h"

#define GMEM_PAGE_SIZE   4096ull
#define GMEM_MAX_REGIONS 8
#define GMEM_LOW_TOP     (3ull << 30)   /* end of low memory */
#define GMEM_HIGH_BASE   (4ull << 30)   /* start of memory above the hole */
#define GMEM_MIN_SIZE    (32ull << 20)
#define GMEM_MAX_SIZE    (1ull << 40)

struct gmem_region {
	uint64_t gpa;        /* guest-physical start */
	uint64_t size;       /* bytes */
	uint8_t *hva;        /* where vhm sees it */
	int fd;              /* the sealed memfd; owned by the gmem */
};

struct gmem {
	struct gmem_region r[GMEM_MAX_REGIONS];
	int n;
	uint64_t total;      /* bytes of RAM */
	uint64_t top;        /* highest GPA + 1: the log must cover [0, top) */
};

/* Create `total` bytes of guest RAM (page multiple, GMEM_MIN_SIZE..MAX).
 * `tag` names the memfds ("vhm-guest-<tag>"). 0 or -errno with err set. */
int gmem_create(struct gmem *m, uint64_t total, const char *tag, char *err, size_t errlen);
void gmem_destroy(struct gmem *m);

/* vhm-virtual address of [gpa, gpa+len), or NULL if not inside one region. */
void *gmem_hva(const struct gmem *m, uint64_t gpa, uint64_t len);
/* Guest-physical address of a vhm-virtual address; 0 or -EFAULT. */
int gmem_gpa(const struct gmem *m, const void *hva, uint64_t *gpa);
/* Region index holding gpa, or -1. */
int gmem_region_of(const struct gmem *m, uint64_t gpa);
/* The memory table as a backend sees it (userspace_addr = vhm-virtual). */
void gmem_vhu_regions(const struct gmem *m, struct vhu_mem_region *out, int *fds);
/* Call fn for every data extent [off, end) of a region's memfd, offsets in
 * bytes from the region start, page aligned; holes (never written) are
 * skipped since they read as zero. The extents are those of the moment of
 * the call: a page allocated while fn runs may be missed (a migration's
 * dirty log has it). Listed by mincore where that is exact (every page the
 * memfd allocated found in memory), else by lseek: SEEK_DATA/SEEK_HOLE cost
 * a system call per extent (~1 us here) and walk the extent page by page,
 * 50 ms for a 1 GiB guest with 5 % of its pages never written, half of a
 * first pass's time; mincore looks at 4096 pages a call. true when the
 * extents came from mincore. */
typedef void (*gmem_extent_fn)(const struct gmem_region *r, uint64_t off, uint64_t end,
			       void *arg);
bool gmem_for_data(const struct gmem_region *r, gmem_extent_fn fn, void *arg);
/* The same by lseek alone (what gmem_for_data falls back on). */
void gmem_for_data_seek(const struct gmem_region *r, gmem_extent_fn fn, void *arg);

/* A 64-bit digest (FNV-1a) of guest memory: every non-zero page with its
 * page number, so two memories with the same contents at the same
 * guest-physical addresses digest alike however they were filled. Pages in
 * guest-physical [skip_lo, skip_hi) are left out (0, 0: none). */
uint64_t gmem_digest(const struct gmem *m, uint64_t skip_lo, uint64_t skip_hi);
/* The same digest over the pages keep(gpa, arg) says true for. */
typedef bool (*gmem_keep_fn)(uint64_t gpa, void *arg);
uint64_t gmem_digest_where(const struct gmem *m, gmem_keep_fn keep, void *arg);

/* Reading guest memory while the guest writes it. A live migration's
 * pre-copy (and a verify pass of dirty tracking) reads pages that the guest
 * — the driver and writer threads, vCPUs in a VM — may be writing at that
 * moment, by design: no lock could stop a guest, and none is needed, since
 * the dirty log sends a page written meanwhile again and the switchover
 * compares both memories' digests with the guest stopped. These two are the
 * migration's reads of guest memory that race with it; in a
 * ThreadSanitizer build they tell TSan not to check the bytes they read
 * (VHM_RACY_READS_BEGIN/END of util.h, around the copy or compare only). */
/* Copy len bytes of guest memory at src to dst. */
void gmem_copy_racy(void *dst, const void *src, size_t len);
/* Whether len bytes of guest memory at p are all zero. */
bool gmem_zero_racy(const void *p, size_t len);
/* Copy len bytes of guest memory at src to dst, and tell whether they hold
 * data (false: all zero), reading src once: a zero check of the guest's
 * page before its copy read it from memory twice, and made a first pass
 * half as fast as memcpy. On x86-64 the copy streams past the cache
 * (dst 16-byte aligned, len a multiple of 64; otherwise memcpy, then a look
 * at the copy). */
bool gmem_copy_data_racy(void *dst, const void *src, size_t len);
/* gmem_copy_data_racy without its fence: the copy's streaming stores may
 * reach memory after later stores of this thread, and other threads may
 * not see them, until this thread calls gmem_stream_fence. A copy of many
 * pages fences once at the end: a fence per page (one sfence draining
 * the write-combining buffers) made a page's copy a fifth slower. */
bool gmem_stream_data_racy(void *dst, const void *src, size_t len);
void gmem_stream_fence(void);

/* Fault len bytes at p (page aligned, in a gmem region's mapping) in for
 * writing, their contents unchanged, so that a copy into them takes no
 * fault: an atomic add of zero to a word of each page, from this thread.
 * Not MADV_POPULATE_WRITE, though it allocates the pages in half the time:
 * where the host shadows the guest's page tables (a PVM guest, as on the
 * bench machines), the pages it populated still faulted at their first
 * write from user space. Not for memory another thread of this process
 * writes meanwhile with plain stores (a race for ThreadSanitizer). */
void gmem_prefault(void *p, size_t len);
/* Read a word of each page of len bytes at p (page aligned), guest memory
 * the guest may be writing: their mappings warm for a pass that reads them.
 * Where the host shadows the page tables, another process populating a
 * mapping (a backend's MAP_POPULATE at SET_MEM_TABLE) left this process's
 * pages to fault again, invisibly, at their next access: a first pass read
 * them at 2.5-3.6 GiB/s, 9.7-10.5 once they were read (and the destination
 * touched again) after the backend had mapped its memory (1 GiB). */
void gmem_warm_racy(const void *p, size_t len);

/* Guest-physical page number of RAM page k counted from byte skip_bytes of
 * RAM (RAM pages in GPA order, the hole left out); 0 when k is past the end.
 * The writer's pages and the driver's spread buffers are numbered this way. */
uint64_t gmem_ram_pfn(const struct gmem *m, uint64_t skip_bytes, uint64_t k);
/* The inverse: *k for guest page pfn; false when pfn is not RAM after
 * skip_bytes. */
bool gmem_ram_index(const struct gmem *m, uint64_t skip_bytes, uint64_t pfn, uint64_t *k);

/* Number of guest pages (RAM only, the hole excluded). */
static inline uint64_t gmem_pages(const struct gmem *m) { return m->total / GMEM_PAGE_SIZE; }

#endif
