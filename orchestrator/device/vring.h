/* SPDX-License-Identifier: MIT */
/* vring — the driver's side of a virtqueue in guest memory, split or packed
 * (virtio 1.x, sections 2.7 and 2.8), with EVENT_IDX.
 *
 * Buffers are single descriptors named by a 16-bit id that the caller picks
 * (the device hands the id back in the used entry). vhm polls used rings, so
 * it asks the device not to interrupt; it still passes call eventfds, which
 * the device may signal and the owner drains.
 *
 * The driver's writes to a ring (descriptors, the avail ring and its index,
 * used_event) are marked in `dirty` when set (vring_track): a bitmap in the
 * vhost log's layout, bit n = guest page n, set with atomic OR right after
 * the write — what KVM's dirty log does for a vCPU's writes, so that a
 * migration copies them. The device's writes (used ring, used descriptors)
 * are its backend's to log. */
#ifndef VHM_VRING_H
#define VHM_VRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vring {
	bool packed;
	bool event_idx;
	uint16_t num;              /* ring size, a power of two */

	/* Guest-physical addresses (for the log) and vhm-virtual ones. For
	 * packed rings avail/used are the driver and device event areas. */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint8_t *desc, *avail, *used;

	/* Driver state. */
	uint16_t next_avail;       /* split: shadow avail idx; packed: next slot */
	uint16_t last_used;        /* split: used idx seen; packed: next used slot */
	bool avail_wrap, used_wrap; /* packed wrap counters */
	uint16_t added;            /* buffers added since the last kick check */
	uint16_t in_flight;        /* added and not yet used */
	uint64_t *dirty;           /* guest-side dirty bitmap, or NULL (not owned) */
};

/* Bytes of guest memory a ring of `num` entries needs (rounded to 4 KiB). */
size_t vring_bytes(bool packed, uint16_t num);
/* Lay out a ring in zeroed guest memory at (hva, gpa). */
void vring_init(struct vring *v, bool packed, bool event_idx, uint16_t num, void *hva,
		uint64_t gpa);

/* Mark the driver's writes to this ring in `dirty` (NULL: stop marking). */
void vring_track(struct vring *v, uint64_t *dirty);

/* Offer one buffer; -ENOSPC when the ring is full. Visible to the device
 * at once (packed) or at vring_publish (split). */
int vring_add(struct vring *v, uint64_t buf_gpa, uint32_t len, bool device_writes, uint16_t id);
void vring_publish(struct vring *v);
/* After publishing: must the device be kicked (EVENT_IDX / NO_NOTIFY)? */
bool vring_kick_needed(struct vring *v);
/* Take one used buffer: 1 with id and len, 0 if none. */
int vring_get_used(struct vring *v, uint16_t *id, uint32_t *len);

/* The value SET_VRING_BASE carries for a fresh ring: split 0; packed
 * 0x80008000 (avail index 0 and wrap counter 1 in bits 0-15, the same for
 * the used index in bits 16-31, as QEMU sends). */
uint32_t vring_initial_base(const struct vring *v);
/* A base as SET_VRING_BASE must carry it. Packed: a base whose used half
 * (bits 16-31) is empty came from a backend that reports only the avail
 * half (DPDK: once stopped it holds nothing in flight, and on SET it takes
 * the used index from the avail one), so the used half is the avail half. */
uint32_t vring_full_base(const struct vring *v, uint32_t base);
/* Where a new backend resumes a ring whose old backend vanished (its own
 * GET_VRING_BASE is lost with it): the driver's last used position, after
 * the driver reaped everything used. Buffers the old backend had taken but
 * not returned are offered again. */
uint32_t vring_restart_base(const struct vring *v);

#endif
