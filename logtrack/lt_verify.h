/* SPDX-License-Identifier: MIT */
/* lt_verify — verify mode: does the dirty log miss writes? Every guest page
 * is hashed at each pass; a page whose hash changed since the previous pass
 * though nobody marked it dirty (neither the backend's log nor the guest
 * writer's set) is an unlogged write — a page a migration would not re-copy.
 *
 * Hash: CRC32C (SSE4.2 crc32 instruction) in two interleaved lanes, even and
 * odd 64-bit words with different seeds, giving 64 bits per page at about
 * the speed of a memory read; without SSE4.2, a multiply-xorshift hash.
 * 8 bytes per guest page of state (0.2 %: 8 MiB for a 4 GiB guest).
 *
 * Only data is read: a region's memfd is walked with SEEK_DATA / SEEK_HOLE,
 * holes hash as zero pages without being touched (reading a hole of a
 * shared mapping would allocate it).
 *
 * Timing (why a finding waits one pass): a writer marks a page just after
 * writing it. A pass k that sees page P changed checks the marks collected
 * since pass k-1 (M_k); a write that happened before pass k read P but whose
 * mark came after the sync preceding pass k is in M_{k+1}. So a changed,
 * unmarked page is a candidate at pass k and a finding only if M_{k+1} does
 * not mark it either. The price: an unlogged write followed, within the next
 * pass, by a logged write to the same page is not reported (and is harmless
 * to a migration, which re-copies the page for the second write).
 *
 * Pages marked excluded are never reported (for writes no dirty set can
 * track; vhm's tracking excludes none: its guest driver marks its own
 * writes in the guest-side set). Single-threaded. */
#ifndef VHM_LT_VERIFY_H
#define VHM_LT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_log.h"

#define LT_VERIFY_MAX_CAND 65536   /* candidates kept per pass; more are counted */

/* Guest memory to hash: [gpa, gpa + size) at hva, backed by fd at offset 0
 * (fd -1: no hole information, every page is read). */
struct lt_verify_mem {
	uint64_t gpa, size;     /* bytes, page multiples */
	const uint8_t *hva;
	int fd;
};

struct lt_verify {
	uint64_t npages;
	uint64_t *hash;         /* [npages], per page: the last pass's hash */
	uint64_t *excl;         /* bitmap: pages never reported */
	uint64_t zero_hash;     /* of a page of zeros */
	uint64_t *cand;         /* pages changed and unmarked at the last pass */
	size_t ncand;
	uint64_t cand_ms;       /* time of that pass */
	bool primed;            /* a first pass has set the hashes */
	/* totals */
	uint64_t passes;
	uint64_t pages_hashed;
	uint64_t changed;       /* pages seen changed (marked or not) */
	uint64_t dismissed;     /* candidates the next pass's marks excused */
	uint64_t findings;
	uint64_t cand_dropped;  /* candidates beyond LT_VERIFY_MAX_CAND */
	double last_pass_ms;
};

/* Called for every finding: page (GPA / 4096), when it was seen changed. */
typedef void (*lt_verify_fn)(void *arg, uint64_t page, uint64_t seen_ms);

/* State for pages [0, npages). 0, -EINVAL or -ENOMEM. */
int lt_verify_init(struct lt_verify *v, uint64_t npages);
void lt_verify_destroy(struct lt_verify *v);

/* Never report pages [first, first + count) (clipped to npages). */
void lt_verify_exclude(struct lt_verify *v, uint64_t first, uint64_t count);
bool lt_verify_excluded(const struct lt_verify *v, uint64_t page);

/* One pass at now_ms. marks: every page marked dirty since the previous
 * pass (bitmap in the log's layout, npages bits at least). Confirms the
 * previous pass's candidates (fn for each finding), then hashes mem[] and
 * collects this pass's candidates. The first pass only sets the hashes.
 * 0 or -EINVAL (memory outside npages). */
int lt_verify_pass(struct lt_verify *v, const struct lt_verify_mem *mem, size_t n,
		   const uint64_t *marks, uint64_t now_ms, lt_verify_fn fn, void *arg);

/* The page hash in use (tests): "crc32c" or "mix64". */
const char *lt_verify_hash_name(void);
uint64_t lt_verify_hash_page(const void *page);

#endif
