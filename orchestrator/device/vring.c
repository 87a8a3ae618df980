/* SPDX-License-Identifier: MIT */
/* Virtqueue layouts in guest memory, split and packed, and their sizes. Layouts (little-endian, x86 only):
 *   split:  desc[num] (16 B each) | avail {flags, idx, ring[num], used_event}
 *           | pad to 4096 | used {flags, idx, ring[num] {id u32, len u32}, avail_event}
 *           (the used ring on pages of its own, as a legacy virtio-pci guest
 *           aligns it: pages the driver never writes, so a used-ring write a
 *           backend leaves unlogged is never carried along by the driver's
 *           own mark of the page, and the migration's ring check sees it)
 *   packed: desc[num] {addr u64, len u32, id u16, flags u16}
 *           | driver event {off_wrap u16, flags u16} | device event {same} */
#include "vring.h"

#include <errno.h>
#include <string.h>

#include "lt_log.h"

#define DESC_F_WRITE        2u
#define AVAIL_F_NO_INTERRUPT 1u
#define USED_F_NO_NOTIFY    1u
#define PACKED_F_AVAIL      (1u << 7)
#define PACKED_F_USED       (1u << 15)
#define PACKED_EV_DISABLE   1u
#define PACKED_EV_DESC      2u

struct split_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct packed_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

struct used_elem {
	uint32_t id;
	uint32_t len;
};

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static size_t split_used_off(uint16_t num)
{
	return align_up(16u * num + 6u + 2u * num, 4096);
}

size_t vring_bytes(bool packed, uint16_t num)
{
	size_t n = packed ? 16u * num + 8u : split_used_off(num) + 6u + 8u * num;

	return align_up(n, 4096);
}

void vring_init(struct vring *v, bool packed, bool event_idx, uint16_t num, void *hva,
		uint64_t gpa)
{
	uint8_t *base = hva;
	size_t avail_off = 16u * num;
	size_t used_off = packed ? avail_off + 4 : split_used_off(num);

	memset(v, 0, sizeof(*v));
	v->packed = packed;
	v->event_idx = event_idx;
	v->num = num;
	v->desc = base;
	v->avail = base + avail_off;
	v->used = base + used_off;
	v->desc_gpa = gpa;
	v->avail_gpa = gpa + avail_off;
	v->used_gpa = gpa + used_off;
	v->avail_wrap = v->used_wrap = true;
	if (packed) {
		/* driver event area: we poll, so no used-buffer notifications */
		uint16_t flags = PACKED_EV_DISABLE;
		memcpy(v->avail + 2, &flags, 2);
	} else if (!event_idx) {
		uint16_t flags = AVAIL_F_NO_INTERRUPT;
		memcpy(v->avail, &flags, 2);
	}
}

#define PACKED_WRAP 0x8000u   /* a packed index's wrap counter bit */

/* Both halves of a packed base from one index + wrap counter. */
static uint32_t packed_both(uint32_t half)
{
	return half | half << 16;
}

uint32_t vring_initial_base(const struct vring *v)
{
	return v->packed ? packed_both(PACKED_WRAP) : 0;   /* index 0, wrap counter 1 */
}

uint32_t vring_full_base(const struct vring *v, uint32_t base)
{
	if (!v->packed || base >> 16)
		return base;
	return packed_both(base & 0xffff);
}

uint32_t vring_restart_base(const struct vring *v)
{
	if (v->packed)
		return packed_both(v->last_used | (v->used_wrap ? PACKED_WRAP : 0));
	return v->last_used;
}

void vring_track(struct vring *v, uint64_t *dirty)
{
	v->dirty = dirty;
}

/* A driver write to guest-physical gpa is done: mark its page. */
static void mark(const struct vring *v, uint64_t gpa)
{
	if (v->dirty)
		lt_log_mark(v->dirty, gpa / LT_PAGE_SIZE);
}

static uint16_t *avail_idx(struct vring *v) { return (uint16_t *)(v->avail + 2); }
static uint16_t *avail_ring(struct vring *v) { return (uint16_t *)(v->avail + 4); }
static uint16_t *used_idx(struct vring *v) { return (uint16_t *)(v->used + 2); }
static struct used_elem *used_ring(struct vring *v) { return (struct used_elem *)(v->used + 4); }

static int split_add(struct vring *v, uint64_t gpa, uint32_t len, bool wr, uint16_t id)
{
	struct split_desc *d = (struct split_desc *)v->desc + id;

	d->addr = gpa;
	d->len = len;
	d->flags = wr ? DESC_F_WRITE : 0;
	d->next = 0;
	mark(v, v->desc_gpa + 16ull * id);
	avail_ring(v)[v->next_avail & (v->num - 1)] = id;
	mark(v, v->avail_gpa + 4 + 2ull * (v->next_avail & (v->num - 1)));
	v->next_avail++;
	return 0;
}

static int packed_add(struct vring *v, uint64_t gpa, uint32_t len, bool wr, uint16_t id)
{
	struct packed_desc *d = (struct packed_desc *)v->desc + v->next_avail;
	uint16_t flags = wr ? DESC_F_WRITE : 0;

	flags |= v->avail_wrap ? PACKED_F_AVAIL : PACKED_F_USED;
	d->addr = gpa;
	d->len = len;
	d->id = id;
	__atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
	mark(v, v->desc_gpa + 16ull * v->next_avail);
	if (++v->next_avail == v->num) {
		v->next_avail = 0;
		v->avail_wrap = !v->avail_wrap;
	}
	return 0;
}

int vring_add(struct vring *v, uint64_t buf_gpa, uint32_t len, bool device_writes, uint16_t id)
{
	if (v->in_flight >= v->num || id >= v->num)
		return -ENOSPC;
	v->in_flight++;
	v->added++;
	if (v->packed)
		return packed_add(v, buf_gpa, len, device_writes, id);
	return split_add(v, buf_gpa, len, device_writes, id);
}

void vring_publish(struct vring *v)
{
	if (v->packed)
		return;
	__atomic_store_n(avail_idx(v), v->next_avail, __ATOMIC_RELEASE);
	mark(v, v->avail_gpa + 2);
}

/* virtio's vring_need_event: has `event` been passed going from old to new? */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

static bool packed_kick_needed(struct vring *v, uint16_t added)
{
	uint16_t off_wrap, flags, event;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	memcpy(&off_wrap, v->used, 2);
	memcpy(&flags, v->used + 2, 2);
	if (flags == PACKED_EV_DISABLE)
		return false;
	if (flags != PACKED_EV_DESC || !v->event_idx)
		return true;
	event = off_wrap & 0x7fff;
	if ((bool)(off_wrap >> 15) != v->avail_wrap)
		event = (uint16_t)(event - v->num);
	return need_event(event, v->next_avail, (uint16_t)(v->next_avail - added));
}

bool vring_kick_needed(struct vring *v)
{
	uint16_t added = v->added;

	v->added = 0;
	if (!added)
		return false;
	if (v->packed)
		return packed_kick_needed(v, added);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (v->event_idx) {
		uint16_t avail_event;
		memcpy(&avail_event, (uint8_t *)&used_ring(v)[v->num], 2);
		return need_event(avail_event, v->next_avail, (uint16_t)(v->next_avail - added));
	}
	return !(__atomic_load_n((uint16_t *)v->used, __ATOMIC_RELAXED) & USED_F_NO_NOTIFY);
}

static int split_get_used(struct vring *v, uint16_t *id, uint32_t *len)
{
	struct used_elem e;

	if (__atomic_load_n(used_idx(v), __ATOMIC_ACQUIRE) == v->last_used)
		return 0;
	e = used_ring(v)[v->last_used & (v->num - 1)];
	v->last_used++;
	if (v->event_idx) { /* used_event: we poll; keep it current anyway */
		avail_ring(v)[v->num] = v->last_used;
		mark(v, v->avail_gpa + 4 + 2ull * v->num);
	}
	*id = (uint16_t)e.id;
	*len = e.len;
	return 1;
}

static int packed_get_used(struct vring *v, uint16_t *id, uint32_t *len)
{
	struct packed_desc *d = (struct packed_desc *)v->desc + v->last_used;
	uint16_t flags = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);
	bool avail = flags & PACKED_F_AVAIL, used = flags & PACKED_F_USED;

	if (avail != used || used != v->used_wrap)
		return 0;
	*id = d->id;
	*len = d->len;
	if (++v->last_used == v->num) {
		v->last_used = 0;
		v->used_wrap = !v->used_wrap;
	}
	return 1;
}

int vring_get_used(struct vring *v, uint16_t *id, uint32_t *len)
{
	int got = v->packed ? packed_get_used(v, id, len) : split_get_used(v, id, len);

	if (got) {
		if (*id >= v->num)
			return -EPROTO;   /* the device named a buffer we never offered */
		v->in_flight--;
	}
	return got;
}
