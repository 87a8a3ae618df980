/* SPDX-License-Identifier: MIT */
/* The order in which the guest driver hands out descriptor ids (netdrv.h,
 * enum nd_buffers): with spread buffers the RX ring's ids come in a shuffled
 * order, at the start and after each reaped batch, each id on the ring once
 * and each with its own buffer; with compact buffers id = ring slot, and a
 * reaped id goes back where it was. The device is played by the test: it
 * marks the first avail entries used, in avail order, as testpmd does. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdbool.h>
#include <string.h>

#include "gmem.h"
#include "netdrv.h"

#define MEM (64ull << 20)
#define AREA (1ull << 20)
#define BATCH 32

static struct gmem m;
static struct netdrv d;

static void mem(void)
{
	char err[256];

	cr_assert(eq(int, gmem_create(&m, MEM, "ndids", err, sizeof(err)), 0), "%s", err);
}

static void mem_free(void)
{
	netdrv_destroy(&d);
	gmem_destroy(&m);
}

static void drv(enum nd_buffers b)
{
	struct nd_config c = { .nq = 1, .buffers = b, .seed = 7, .mac = { 2, 0, 0, 0, 0, 1 },
			       .area_gpa = AREA };
	char err[256];

	c.ram_skip = AREA + netdrv_area_bytes(1, false, b);
	cr_assert(eq(int, netdrv_init(&d, &m, &c, err, sizeof(err)), 0), "%s", err);
	netdrv_fill_rx(&d);
}

/* The RX ring's avail entry i (split: flags, idx, ring[]). */
static uint16_t avail_id(uint16_t i)
{
	const uint16_t *a = (const uint16_t *)d.q[0].rx.avail;

	return a[2 + i % ND_RING_SIZE];
}

static uint16_t avail_idx(void)
{
	return ((const uint16_t *)d.q[0].rx.avail)[1];
}

/* The device uses avail entries [from, from + n) in order, each 0 bytes. */
static void device_uses(uint16_t from, uint16_t n)
{
	uint8_t *u = d.q[0].rx.used;
	uint16_t idx;

	memcpy(&idx, u + 2, 2);
	for (uint16_t k = 0; k < n; k++) {
		uint32_t e[2] = { avail_id((uint16_t)(from + k)), 0 };

		memcpy(u + 4 + 8 * ((idx + k) % ND_RING_SIZE), e, sizeof(e));
	}
	idx = (uint16_t)(idx + n);
	__atomic_store_n((uint16_t *)(u + 2), idx, __ATOMIC_RELEASE);
}

/* Entries [from, from + n): each id once, each with a buffer of its own;
 * returns how many stand in ring order (id == previous id + 1). */
static int check_distinct(uint16_t from, uint16_t n)
{
	static bool seen[ND_RING_SIZE];
	const uint8_t *desc = d.q[0].rx.desc;
	int in_order = 0;

	memset(seen, 0, sizeof(seen));
	for (uint16_t k = 0; k < n; k++) {
		uint16_t id = avail_id((uint16_t)(from + k));
		uint64_t gpa;

		cr_assert(lt(u16, id, ND_RING_SIZE));
		cr_assert(not(seen[id]), "id %u on the ring twice", id);
		seen[id] = true;
		memcpy(&gpa, desc + 16 * id, 8);
		for (uint16_t j = 0; j < k; j++) {
			uint64_t other;

			memcpy(&other, desc + 16 * avail_id((uint16_t)(from + j)), 8);
			cr_assert(not(eq(u64, gpa, other)), "two ids share buffer 0x%llx",
				  (unsigned long long)gpa);
		}
		if (k && id == (uint16_t)(avail_id((uint16_t)(from + k - 1)) + 1))
			in_order++;
	}
	return in_order;
}

Test(netdrv_ids, spread_posts_ids_shuffled, .init = mem, .fini = mem_free, .timeout = 30)
{
	uint16_t reaped[BATCH], posted = 0;
	int same = 0;

	drv(ND_BUFFERS_SPREAD);
	posted = avail_idx();
	cr_assert(eq(u16, posted, ND_RING_SIZE - 1), "split spread keeps one RX id back");
	cr_assert(lt(int, check_distinct(0, 256), 32),
		  "first 256 ids mostly in ring order: not shuffled");
	for (uint16_t k = 0; k < BATCH; k++)
		reaped[k] = avail_id(k);
	device_uses(0, BATCH);
	netdrv_poll(&d, 1);
	cr_assert(eq(u16, avail_idx(), posted + BATCH), "the reaped batch was not reposted");
	check_distinct(BATCH, ND_RING_SIZE - 1);
	for (uint16_t k = 0; k < BATCH; k++)
		same += avail_id((uint16_t)(posted + k)) == reaped[k];
	cr_assert(lt(int, same, BATCH / 4), "%d of %d ids reposted in the order they came back",
		  same, BATCH);
}

Test(netdrv_ids, compact_keeps_ring_order, .init = mem, .fini = mem_free, .timeout = 30)
{
	drv(ND_BUFFERS_COMPACT);
	cr_assert(eq(u16, avail_idx(), ND_RING_SIZE));
	cr_assert(eq(int, check_distinct(0, ND_RING_SIZE), ND_RING_SIZE - 1), "ids not 0..1023");
	cr_assert(eq(u16, avail_id(0), 0));
	device_uses(0, BATCH);
	netdrv_poll(&d, 1);
	for (uint16_t k = 0; k < BATCH; k++)
		cr_assert(eq(u16, avail_id((uint16_t)(ND_RING_SIZE + k)), k),
			  "reaped id %u did not go back in ring order", k);
}

/* netdrv_mark_device_writable (what a lost backend may have written outside
 * its log) marks exactly the pages netdrv_page_what says a device writes:
 * every ring page and every RX buffer page, posted or not, and no TX buffer
 * or other page; after buffers were reaped and reposted, the same. */
static void expect_device_writable(void)
{
	static uint64_t bm[MEM / 4096 / 64];
	uint64_t marked = 0, rx_pages = 0;

	memset(bm, 0, sizeof(bm));
	netdrv_mark_device_writable(&d, bm);
	for (uint64_t pfn = 0; pfn < MEM / 4096; pfn++) {
		bool backend = false, named, set = (bm[pfn / 64] >> (pfn % 64)) & 1;
		char what[128] = "";

		named = netdrv_page_what(&d, pfn, what, sizeof(what), &backend);
		cr_assert(eq(int, set, named && (backend || strstr(what, "ring"))),
			  "page %#llx (%s): marked %d", (unsigned long long)pfn, named ? what : "-",
			  set);
		marked += set;
		rx_pages += named && strstr(what, "RX buffers") != NULL;
	}
	cr_assert(eq(u64, rx_pages, (uint64_t)d.q[0].rxp.nbufs / ND_PAGE_BUFS));
	cr_assert(lt(u64, rx_pages, marked), "no ring page marked");
}

Test(netdrv_ids, device_writable_pages_spread, .init = mem, .fini = mem_free, .timeout = 30)
{
	drv(ND_BUFFERS_SPREAD);
	expect_device_writable();
	device_uses(0, BATCH);
	netdrv_poll(&d, 1);
	expect_device_writable();
}

Test(netdrv_ids, device_writable_pages_compact, .init = mem, .fini = mem_free, .timeout = 30)
{
	drv(ND_BUFFERS_COMPACT);
	expect_device_writable();
}
