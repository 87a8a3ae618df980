/* SPDX-License-Identifier: MIT */
/* The guest driver's state for a migration stream (netdrv_state_save /
 * _load): a driver that posted its RX buffers and set a rate, loaded into a
 * second driver laid out alike on another memory, stands where the first
 * stood (ring shadows, pools, rate) while keeping its own eventfds and ring
 * pointers; a state of another shape is refused by name. The memory
 * writer's state (gw_state_save / _load) likewise. And what the datapath
 * does after an idle pass (netdrv_waits_on_device). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gmem.h"
#include "gwriter.h"
#include "netdrv.h"
#include "util.h"

#define MEM (64ull << 20)

static struct gmem ma, mb;

static void mems(void)
{
	char err[256];

	cr_assert(eq(int, gmem_create(&ma, MEM, "nds-a", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, gmem_create(&mb, MEM, "nds-b", err, sizeof(err)), 0), "%s", err);
}

static void mems_free(void)
{
	gmem_destroy(&ma);
	gmem_destroy(&mb);
}

static void drv(struct netdrv *d, struct gmem *m, int nq, bool packed)
{
	struct nd_config c = { .nq = nq, .packed = packed, .buffers = ND_BUFFERS_COMPACT,
			       .mac = { 2, 0, 0, 0, 0, 1 }, .area_gpa = 1 << 20 };
	char err[256];

	cr_assert(eq(int, netdrv_init(d, m, &c, err, sizeof(err)), 0), "%s", err);
}

Test(netdrv_state, loaded_driver_stands_where_the_saved_one_stood, .init = mems,
     .fini = mems_free)
{
	static struct netdrv a, b;
	uint8_t *st;
	char err[256];

	drv(&a, &ma, 2, false);
	drv(&b, &mb, 2, false);
	netdrv_fill_rx(&a);
	netdrv_set_traffic(&a, 1000, 100);
	cr_assert(not(eq(u16, a.q[1].rx.next_avail, b.q[1].rx.next_avail)), "fill_rx did nothing");
	st = malloc(netdrv_state_size(&a));
	netdrv_state_save(&a, st);
	cr_assert(eq(int, netdrv_state_load(&b, st, netdrv_state_size(&a), err, sizeof(err)), 0),
		  "%s", err);
	for (int i = 0; i < 2; i++) {
		cr_assert(eq(u16, b.q[i].rx.next_avail, a.q[i].rx.next_avail));
		cr_assert(eq(u16, b.q[i].rx.in_flight, a.q[i].rx.in_flight));
		cr_assert(eq(u16, b.q[i].rxp.nfree, a.q[i].rxp.nfree));
		cr_assert(eq(int, memcmp(b.q[i].rxp.of_id, a.q[i].rxp.of_id,
					 sizeof(a.q[i].rxp.of_id)), 0));
		cr_assert(not(eq(int, b.q[i].kick_fd[0], a.q[i].kick_fd[0])), "eventfd taken over");
		cr_assert(eq(ptr, b.q[i].rx.desc, gmem_hva(&mb, b.q[i].rx.desc_gpa, 1)),
			  "ring pointer into the other memory");
	}
	cr_assert(eq(u64, b.pps, 1000));
	cr_assert(eq(u32, b.frame_size, 100));
	free(st);
	netdrv_destroy(&a);
	netdrv_destroy(&b);
}

Test(netdrv_state, other_shapes_are_refused, .init = mems, .fini = mems_free)
{
	static struct netdrv a, one, packed;
	uint8_t *st;
	size_t n;
	char err[256];

	drv(&a, &ma, 2, false);
	drv(&one, &mb, 1, false);
	n = netdrv_state_size(&a);
	st = malloc(n);
	netdrv_state_save(&a, st);
	cr_assert(eq(int, netdrv_state_load(&one, st, n, err, sizeof(err)), -EINVAL));
	cr_assert(not(eq(ptr, strstr(err, "for 2 queue pairs"), NULL)), "error: %s", err);
	netdrv_destroy(&one);

	drv(&packed, &mb, 2, true);
	cr_assert(eq(int, netdrv_state_load(&packed, st, n, err, sizeof(err)), -EINVAL));
	cr_assert(not(eq(ptr, strstr(err, "lie elsewhere"), NULL)), "error: %s", err);

	st[0] ^= 1;
	cr_assert(eq(int, netdrv_state_load(&packed, st, n, err, sizeof(err)), -EINVAL));
	cr_assert(not(eq(ptr, strstr(err, "another vhm build"), NULL)), "error: %s", err);
	cr_assert(eq(int, netdrv_state_load(&packed, st, 3, err, sizeof(err)), -EINVAL));
	cr_assert(not(eq(ptr, strstr(err, "too short"), NULL)), "error: %s", err);
	netdrv_destroy(&packed);
	netdrv_destroy(&a);
	free(st);
}

Test(gw_state, loaded_writer_continues_the_saved_one, .init = mems, .fini = mems_free)
{
	static struct gwriter a, b;
	uint8_t st[GW_STATE_SIZE];
	char err[256];

	cr_assert(eq(int, gw_init(&a, &ma, 1 << 20, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, gw_init(&b, &mb, 1 << 20, err, sizeof(err)), 0), "%s", err);
	gw_set(&a, 1234, GW_HOTSET);
	a.cursor = 77;
	a.rng = 0x1234567890abcdefull;
	a.writes = 999;
	gw_state_save(&a, st);
	cr_assert(eq(int, gw_state_load(&b, st, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(u64, b.rate, 1234));
	cr_assert(eq(int, (int)b.pattern, (int)GW_HOTSET));
	cr_assert(eq(u64, b.cursor, 77));
	cr_assert(eq(u64, b.rng, 0x1234567890abcdefull));
	cr_assert(eq(u64, gw_writes(&b), 999));
	cr_assert(eq(ptr, (void *)b.mem, &mb), "the writer moved to the other memory");
	st[8] = 9;                 /* pattern 9 */
	cr_assert(eq(int, gw_state_load(&b, st, err, sizeof(err)), -EINVAL));
	cr_assert(not(eq(ptr, strstr(err, "pattern 9 unknown"), NULL)), "error: %s", err);
	gw_destroy(&a);
	gw_destroy(&b);
}

/* After an idle pass the datapath sleeps briefly only while it waits on the
 * device: frames in flight and none it may add (paused, stopped, the window
 * full); with room to send, what is due next waits for a tick. No device
 * runs here: every frame sent stays in flight. */
Test(netdrv_idle, waits_on_the_device_only_when_it_cannot_send, .init = mems,
     .fini = mems_free)
{
	static struct netdrv d;
	uint64_t now;

	drv(&d, &ma, 1, false);
	netdrv_fill_rx(&d);
	cr_assert(not(netdrv_waits_on_device(&d)), "nothing in flight, nothing to wait for");
	netdrv_set_traffic(&d, 1000, 100);
	now = vhm_now_ns();
	cr_assert(lt(int, 0, netdrv_poll(&d, now + 20 * 1000000ull)), "20 frames due, none sent");
	cr_assert(lt(u64, 0, nd_in_flight(&d.q[0].c)));
	cr_assert(not(netdrv_waits_on_device(&d)), "room to send: a tick");
	d.tx_paused = true;
	cr_assert(netdrv_waits_on_device(&d), "paused with frames in flight (a quiesce)");
	d.tx_paused = false;
	netdrv_set_traffic(&d, 0, 100);
	cr_assert(netdrv_waits_on_device(&d), "stopped with frames in flight");
	/* a full window: as many frames out as RX buffers allow */
	netdrv_set_traffic(&d, 10000000, 100);
	for (int i = 1; i <= 200 && netdrv_poll(&d, now + (uint64_t)i * 1000000ull); i++)
		;
	cr_assert(netdrv_waits_on_device(&d), "%llu frames in flight, window full",
		  (unsigned long long)nd_in_flight(&d.q[0].c));
	netdrv_destroy(&d);
}
