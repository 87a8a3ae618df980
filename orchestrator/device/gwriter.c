/* SPDX-License-Identifier: MIT */
/* The memory writer thread: page writes at a rate and pattern (uniform,
 * hot set, sequential), each marked in its dirty bitmap right after the
 * write, paced by the monotonic clock. */
#include "gwriter.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define TICK_NS 1000000ull       /* the writer catches up with its rate every 1 ms */
#define CATCH_UP 2               /* a burst: at most two ticks' share (gw_due) */
#define HOT_PERCENT 10           /* hotset: 90 % of writes go to 10 % of pages */

int gw_parse_pattern(const char *s, enum gw_pattern *out)
{
	static const char *const names[] = { "uniform", "hotset", "sequential" };

	for (size_t i = 0; i < VHM_ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*out = (enum gw_pattern)i;
			return 0;
		}
	return -EINVAL;
}

const char *gw_pattern_name(enum gw_pattern p)
{
	static const char *const names[] = { "uniform", "hotset", "sequential" };

	return (unsigned)p < VHM_ARRAY_SIZE(names) ? names[p] : "?";
}

int gw_init(struct gwriter *w, const struct gmem *mem, uint64_t skip_bytes, char *err,
	    size_t errlen)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->mem = mem;
	w->skip_bytes = skip_bytes;
	if (skip_bytes >= mem->total)
		return vhm_err(err, errlen, -EINVAL, "no guest memory left for the writer");
	w->npages = (mem->total - skip_bytes) / GMEM_PAGE_SIZE;
	rc = lt_log_create(&w->dirty, mem->top);
	if (rc)
		return vhm_err(err, errlen, rc, "writer dirty bitmap: %s", strerror(-rc));
	w->dirty_words = w->dirty.words;
	w->rng = 0x9e3779b97f4a7c15ull;
	pthread_mutex_init(&w->lock, NULL);
	return 0;
}

uint64_t gw_page_gpfn(const struct gwriter *w, uint64_t k)
{
	return gmem_ram_pfn(w->mem, w->skip_bytes, k);
}

void gw_reserve(struct gwriter *w, uint64_t stride, uint64_t offset, uint64_t count)
{
	w->res_stride = stride;
	w->res_offset = offset;
	w->res_count = count;
}

bool gw_reserved(const struct gwriter *w, uint64_t k)
{
	return w->res_stride >= 2 && k % w->res_stride == w->res_offset &&
	       k / w->res_stride < w->res_count;
}

/* Writer page k, or the next one when k is one of the driver's (gw_reserve:
 * a stride of 2 or more means the next page never is). */
static uint64_t unreserved(const struct gwriter *w, uint64_t k)
{
	if (!gw_reserved(w, k))
		return k;
	return k + 1 < w->npages ? k + 1 : k - 1;
}

static uint64_t pick(struct gwriter *w)
{
	uint64_t hot = w->npages * HOT_PERCENT / 100;

	switch (w->pattern) {
	case GW_SEQUENTIAL:
		return w->cursor++ % w->npages;
	case GW_HOTSET:
		if (hot && vhm_xorshift64(&w->rng) % 100 < 90)
			return vhm_xorshift64(&w->rng) % hot;
		return vhm_xorshift64(&w->rng) % w->npages;
	case GW_UNIFORM:
	default:
		return vhm_xorshift64(&w->rng) % w->npages;
	}
}

static void write_page(struct gwriter *w)
{
	uint64_t gpfn = gw_page_gpfn(w, unreserved(w, pick(w)));
	uint64_t n = __atomic_add_fetch(&w->writes, 1, __ATOMIC_RELAXED);
	volatile uint64_t *p = gmem_hva(w->mem, gpfn * GMEM_PAGE_SIZE, GMEM_PAGE_SIZE);

	/* A new value every time, at a spot that moves, so digests see it. */
	p[(n * 7) % (GMEM_PAGE_SIZE / 8)] = n;
	lt_log_mark(w->dirty_words, gpfn);
}

/* Take the lock to change the writer (any thread but the writer's): the
 * writer, seeing someone wait, ends its burst at the next page and sleeps
 * to its next tick, so the wait is a page write (at worst a burst) however
 * far behind it is. */
static void change_lock(struct gwriter *w)
{
	__atomic_add_fetch(&w->waiting, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&w->lock);
	__atomic_sub_fetch(&w->waiting, 1, __ATOMIC_RELAXED);
}

/* The writes to make now (callers hold the lock): what the rate owes since
 * its clock started, at most CATCH_UP ticks' share. A writer behind (first
 * touches of fresh memory, a loaded CPU: 400 000 pages/s asked where faults
 * allow ~100 000) pays its debt in such bursts, letting go of the lock
 * between them: paid in one go, a debt that grows while it is paid would
 * hold the lock, and gw_set and gw_pause behind it (the control socket's
 * set-dirty, a migration's pause), for seconds. */
static uint64_t gw_due(const struct gwriter *w, uint64_t now)
{
	uint64_t owed, most;

	if (w->paused || now <= w->rate_start_ns)
		return 0;
	owed = (uint64_t)((double)(now - w->rate_start_ns) * (double)w->rate / 1e9);
	if (owed <= w->rate_done)
		return 0;
	most = (uint64_t)((double)w->rate * CATCH_UP * TICK_NS / 1e9) + 1;
	return owed - w->rate_done < most ? owed - w->rate_done : most;
}

/* Does a thread wait in change_lock? */
static bool someone_waits(const struct gwriter *w)
{
	return __atomic_load_n(&w->waiting, __ATOMIC_RELAXED) != 0;
}

/* One burst under the lock. true when the writer is still behind and no
 * one waits for the lock: the next burst follows at once. */
static bool gw_burst(struct gwriter *w)
{
	uint64_t n;

	for (n = gw_due(w, vhm_now_ns()); n; n--) {
		if (someone_waits(w))
			return false;
		write_page(w);
		w->rate_done++;
	}
	return gw_due(w, vhm_now_ns()) != 0 && !someone_waits(w);
}

static void *writer_main(void *arg)
{
	struct gwriter *w = arg;
	uint64_t next = vhm_now_ns();

	for (;;) {
		struct timespec ts;
		bool behind;
		uint64_t now;

		pthread_mutex_lock(&w->lock);
		if (w->stop) {
			pthread_mutex_unlock(&w->lock);
			return NULL;
		}
		behind = gw_burst(w);
		pthread_mutex_unlock(&w->lock);
		if (behind)             /* catching up: as fast as pages are written */
			continue;
		/* the next tick; one missed while catching up is not made up */
		next += TICK_NS;
		now = vhm_now_ns();
		if (next <= now)
			next = now + TICK_NS;
		ts.tv_sec = (time_t)(next / 1000000000ull);
		ts.tv_nsec = (long)(next % 1000000000ull);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
}

int gw_start(struct gwriter *w)
{
	int rc;

	w->rate_start_ns = vhm_now_ns();
	rc = vhm_thread_start(&w->thread, writer_main, w);
	if (rc)
		return -rc;
	pthread_setname_np(w->thread, "vhm-writer");   /* for top -H, perf, vhm-bench */
	w->started = true;
	return 0;
}

void gw_destroy(struct gwriter *w)
{
	if (w->started) {
		change_lock(w);
		w->stop = true;
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
		w->started = false;
	}
	lt_log_destroy(&w->dirty);
	pthread_mutex_destroy(&w->lock);
}

/* Restart the rate clock (callers hold the lock). */
static void rate_reset(struct gwriter *w)
{
	w->rate_start_ns = vhm_now_ns();
	w->rate_done = 0;
}

void gw_set(struct gwriter *w, uint64_t rate, enum gw_pattern pattern)
{
	change_lock(w);
	w->rate = rate;
	w->pattern = pattern;
	rate_reset(w);
	pthread_mutex_unlock(&w->lock);
}

void gw_pause(struct gwriter *w, bool paused)
{
	change_lock(w);
	w->paused = paused;
	rate_reset(w);
	pthread_mutex_unlock(&w->lock);
}

void gw_rebase(struct gwriter *w, const struct gmem *mem)
{
	change_lock(w);
	w->mem = mem;
	pthread_mutex_unlock(&w->lock);
}

uint64_t gw_writes(const struct gwriter *w)
{
	return __atomic_load_n(&w->writes, __ATOMIC_RELAXED);
}

/* ---- state for a migration stream ---------------------------------------- */

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void gw_state_save(struct gwriter *w, uint8_t out[GW_STATE_SIZE])
{
	change_lock(w);
	put_le64(out, w->rate);
	put_le64(out + 8, (uint64_t)w->pattern);
	put_le64(out + 16, gw_writes(w));
	put_le64(out + 24, w->cursor);
	put_le64(out + 32, w->rng);
	pthread_mutex_unlock(&w->lock);
}

int gw_state_load(struct gwriter *w, const uint8_t in[GW_STATE_SIZE], char *err, size_t errlen)
{
	uint64_t pattern = get_le64(in + 8);

	if (pattern > GW_SEQUENTIAL)
		return vhm_err(err, errlen, -EINVAL, "writer state: pattern %llu unknown",
			       (unsigned long long)pattern);
	change_lock(w);
	w->rate = get_le64(in);
	w->pattern = (enum gw_pattern)pattern;
	__atomic_store_n(&w->writes, get_le64(in + 16), __ATOMIC_RELAXED);
	w->cursor = get_le64(in + 24);
	w->rng = get_le64(in + 32);
	rate_reset(w);
	pthread_mutex_unlock(&w->lock);
	return 0;
}
