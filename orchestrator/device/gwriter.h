/* SPDX-License-Identifier: MIT */
/* gwriter — the guest-memory writer: dirties guest pages the way vCPUs
 * would, at a configured rate (page writes per second) and pattern, from its
 * own thread, and records exactly which pages it wrote in a dirty bitmap of
 * the vhost log's layout (bit n = guest-physical page n). That bitmap is the
 * ground truth logtrack is judged against and the set of guest writes a
 * migration must copy; its consumer syncs it with lt_log_sync.
 *
 * The writer never touches the device area (rings, and packet buffers with
 * --buffers compact), nor the driver's spread packet-buffer pages
 * (gw_reserve): a guest's page allocator gives buffers and other data
 * disjoint pages.
 *
 * Threads: the writer's own thread, and the device's owner (or a migration's
 * thread) calling gw_set / gw_pause / gw_rebase. `lock` guards mem, rate,
 * pattern, paused, stop and the rate clock, and a caller waiting for it
 * makes the writer let go after its current page (`waiting`): no change
 * waits behind a writer catching up; `writes` and the dirty bitmap's
 * words are atomics that any thread may read (gw_writes, lt_log_sync); rate
 * and pattern are only ever set by the device's owner, who may read them
 * without the lock. */
#ifndef VHM_GWRITER_H
#define VHM_GWRITER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "gmem.h"
#include "lt_log.h"

enum gw_pattern { GW_UNIFORM, GW_HOTSET, GW_SEQUENTIAL };

struct gwriter {
	const struct gmem *mem;
	uint64_t skip_bytes;           /* device area at the start of region 0 */
	uint64_t npages;               /* pages the writer may dirty */
	struct lt_log dirty;           /* ground truth since the last sync */
	uint64_t *dirty_words;
	uint64_t rate;                 /* page writes per second (0: idle) */
	enum gw_pattern pattern;
	uint64_t writes;               /* total page writes (atomic) */
	uint64_t res_stride, res_offset, res_count;  /* gw_reserve; set before gw_start */
	uint64_t cursor, rng;
	uint64_t rate_start_ns, rate_done;
	bool paused, stop;
	pthread_mutex_t lock;          /* guards rate/pattern/mem changes */
	uint32_t waiting;              /* atomic: threads waiting to change the writer;
					* the writer lets go of the lock for them */
	pthread_t thread;
	bool started;
};

/* Parse "uniform", "hotset", "sequential". */
int gw_parse_pattern(const char *s, enum gw_pattern *out);
const char *gw_pattern_name(enum gw_pattern p);

int gw_init(struct gwriter *w, const struct gmem *mem, uint64_t skip_bytes, char *err,
	    size_t errlen);
int gw_start(struct gwriter *w);
void gw_destroy(struct gwriter *w);   /* stops the thread */
void gw_set(struct gwriter *w, uint64_t rate, enum gw_pattern pattern);
/* Pause: returns once no write is in progress. */
void gw_pause(struct gwriter *w, bool paused);
/* Switch to another copy of guest memory (after a migration). */
void gw_rebase(struct gwriter *w, const struct gmem *mem);

/* The writer's state for a migration stream (the DEVICE section): rate,
 * pattern, write count, cursor and random state, GW_STATE_SIZE bytes,
 * little-endian. Load refuses (-EINVAL with err) a state whose pattern is
 * unknown. Either call takes w->lock. */
#define GW_STATE_SIZE 40
void gw_state_save(struct gwriter *w, uint8_t out[GW_STATE_SIZE]);
int gw_state_load(struct gwriter *w, const uint8_t in[GW_STATE_SIZE], char *err, size_t errlen);
uint64_t gw_writes(const struct gwriter *w);

/* Writer pages k with k % stride == offset and k / stride < count belong to
 * the driver (its spread buffers, netdrv.h): the writer leaves them alone.
 * stride >= 2; call before gw_start. */
void gw_reserve(struct gwriter *w, uint64_t stride, uint64_t offset, uint64_t count);
/* Is writer page k one of the driver's (gw_reserve)? */
bool gw_reserved(const struct gwriter *w, uint64_t k);

/* Map writer page index k (0..npages) to a guest-physical page number. */
uint64_t gw_page_gpfn(const struct gwriter *w, uint64_t k);

#endif
