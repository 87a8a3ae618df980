/* SPDX-License-Identifier: MIT */
/* lt_heat — heat map of guest-physical space in 2 MiB blocks (512 pages):
 * per block, how many page-dirtyings were seen (a page found dirty by N syncs
 * counts N times), and the N hottest blocks. */
#ifndef VHM_LT_HEAT_H
#define VHM_LT_HEAT_H

#include <stddef.h>
#include <stdint.h>

#include "lt_log.h"

#define LT_HEAT_BLOCK_SHIFT 21
#define LT_HEAT_BLOCK_PAGES (1u << (LT_HEAT_BLOCK_SHIFT - LT_PAGE_SHIFT))  /* 512 */

struct lt_heat {
	uint64_t npages;        /* pages covered */
	size_t nblocks;         /* ceil(npages / 512) */
	uint64_t *count;        /* [nblocks], owned */
};

/* Counters for pages [0, npages). 0, -EINVAL or -ENOMEM. */
int lt_heat_init(struct lt_heat *h, uint64_t npages);
void lt_heat_destroy(struct lt_heat *h);
/* Zero every counter (e.g. per display period). */
void lt_heat_reset(struct lt_heat *h);

/* Count pages [first, first + count) once each; pages past npages are ignored. */
void lt_heat_add_run(struct lt_heat *h, uint64_t first, uint64_t count);
/* An lt_runs_fn (arg: the struct lt_heat *). */
void lt_heat_on_runs(const struct lt_run *runs, size_t n, void *arg);

struct lt_heat_block {
	size_t block;           /* index: GPA / 2 MiB */
	uint64_t gpa;           /* bytes */
	uint64_t count;         /* page-dirtyings */
};

/* The up-to-n hottest blocks with a non-zero count into out[], hottest first
 * (equal counts: lower GPA first). Returns how many were written. */
size_t lt_heat_hottest(const struct lt_heat *h, struct lt_heat_block *out, size_t n);

#endif
