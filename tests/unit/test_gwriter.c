/* SPDX-License-Identifier: MIT */
/* The memory writer's pace and its lock: a writer asked for far more page
 * writes than the machine makes still lets a change through at once (the
 * control socket's set-dirty, a migration's pause wait for it), and one
 * behind its rate catches up, then keeps its pace. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <time.h>

#include "gmem.h"
#include "gwriter.h"
#include "util.h"

#define MEM (64ull << 20)

static struct gmem m;
static struct gwriter w;

static void mem(void)
{
	char err[256];

	cr_assert(eq(int, gmem_create(&m, MEM, "gw", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, gw_init(&w, &m, 1 << 20, err, sizeof(err)), 0), "%s", err);
}

static void mem_free(void)
{
	gw_destroy(&w);
	gmem_destroy(&m);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* 10^9 page writes a second owe a million pages a ms: a writer that paid
 * its debt in one go under the lock held it for seconds, and more with
 * each tick. Each change must get the lock within a fraction of that. */
Test(gwriter, change_waits_no_longer_than_a_page, .init = mem, .fini = mem_free, .timeout = 30)
{
	uint64_t t0, w0;

	gw_set(&w, 1000000000ull, GW_UNIFORM);
	cr_assert(eq(int, gw_start(&w), 0));
	sleep_ms(300);
	for (int i = 0; i < 5; i++) {
		t0 = vhm_now_ns();
		gw_pause(&w, i % 2 == 0);
		cr_assert(lt(dbl, (double)(vhm_now_ns() - t0) / 1e6, 250.0),
			  "pause %d waited %.1f ms for the writer", i,
			  (double)(vhm_now_ns() - t0) / 1e6);
		sleep_ms(50);
	}
	w0 = gw_writes(&w);
	t0 = vhm_now_ns();
	gw_set(&w, 0, GW_UNIFORM);
	cr_assert(lt(dbl, (double)(vhm_now_ns() - t0) / 1e6, 250.0), "set-dirty waited %.1f ms",
		  (double)(vhm_now_ns() - t0) / 1e6);
	cr_assert(lt(u64, 0, w0), "the writer wrote at all");
}

/* A writer of 20 000 pages/s (20 a ms) that owes a second of writes
 * pays it as fast as it writes, in bursts (letting go of its lock between
 * them), then keeps its pace: over the next 300 ms, the debt and 300 ms
 * of writes (a loaded run: at least half its pace). */
Test(gwriter, catches_up_then_keeps_its_pace, .init = mem, .fini = mem_free, .timeout = 30)
{
	uint64_t w0, t0;
	double ms, n;

	gw_set(&w, 20000, GW_UNIFORM);
	cr_assert(eq(int, gw_start(&w), 0));
	sleep_ms(100);
	pthread_mutex_lock(&w.lock);
	w.rate_start_ns -= 1000000000ull;   /* owe a second: 20 000 pages */
	pthread_mutex_unlock(&w.lock);
	w0 = gw_writes(&w);
	t0 = vhm_now_ns();
	sleep_ms(300);
	ms = (double)(vhm_now_ns() - t0) / 1e6;
	n = (double)(gw_writes(&w) - w0);
	cr_log_info("%.0f writes in %.1f ms", n, ms);
	cr_assert(lt(dbl, 20000 + 20 * ms * 0.5, n), "%.0f writes in %.1f ms: the debt unpaid", n,
		  ms);
	cr_assert(le(dbl, n, 20000 + 20 * (ms + 2)), "%.0f writes in %.1f ms: more than owed", n,
		  ms);
}
