/* SPDX-License-Identifier: MIT */
/* The heat map: dirty counts per 2 MiB block, decayed per interval. hottest() keeps a min-heap of the n best blocks
 * seen so far: O(nblocks log n), no copy of the counters. */
#include "lt_heat.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int lt_heat_init(struct lt_heat *h, uint64_t npages)
{
	memset(h, 0, sizeof(*h));
	if (npages == 0)
		return -EINVAL;
	h->nblocks = (size_t)((npages + LT_HEAT_BLOCK_PAGES - 1) / LT_HEAT_BLOCK_PAGES);
	h->count = calloc(h->nblocks, sizeof(*h->count));
	if (!h->count)
		return -ENOMEM;
	h->npages = npages;
	return 0;
}

void lt_heat_destroy(struct lt_heat *h)
{
	free(h->count);
	memset(h, 0, sizeof(*h));
}

void lt_heat_reset(struct lt_heat *h)
{
	memset(h->count, 0, h->nblocks * sizeof(*h->count));
}

void lt_heat_add_run(struct lt_heat *h, uint64_t first, uint64_t count)
{
	uint64_t end;

	if (first >= h->npages)
		return;
	end = count > h->npages - first ? h->npages : first + count;
	while (first < end) {
		size_t b = (size_t)(first / LT_HEAT_BLOCK_PAGES);
		uint64_t block_end = (uint64_t)(b + 1) * LT_HEAT_BLOCK_PAGES;
		uint64_t stop = block_end < end ? block_end : end;
		h->count[b] += stop - first;
		first = stop;
	}
}

void lt_heat_on_runs(const struct lt_run *runs, size_t n, void *arg)
{
	for (size_t i = 0; i < n; i++)
		lt_heat_add_run(arg, runs[i].first, runs[i].count);
}

/* a is cooler than b: lower count, or equal count and higher GPA. */
static bool cooler(const struct lt_heat_block *a, const struct lt_heat_block *b)
{
	return a->count < b->count || (a->count == b->count && a->block > b->block);
}

static void heap_swap(struct lt_heat_block *a, struct lt_heat_block *b)
{
	struct lt_heat_block t = *a;
	*a = *b;
	*b = t;
}

/* Min-heap by cooler(): heap[0] is the coolest of the kept blocks. */
static void heap_down(struct lt_heat_block *heap, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && cooler(&heap[l], &heap[m]))
			m = l;
		if (r < n && cooler(&heap[r], &heap[m]))
			m = r;
		if (m == i)
			return;
		heap_swap(&heap[i], &heap[m]);
		i = m;
	}
}

static void heap_up(struct lt_heat_block *heap, size_t i)
{
	while (i > 0 && cooler(&heap[i], &heap[(i - 1) / 2])) {
		heap_swap(&heap[i], &heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
}

size_t lt_heat_hottest(const struct lt_heat *h, struct lt_heat_block *out, size_t n)
{
	size_t kept = 0;

	if (n == 0)
		return 0;
	for (size_t b = 0; b < h->nblocks; b++) {
		struct lt_heat_block cand = {
			.block = b,
			.gpa = (uint64_t)b << LT_HEAT_BLOCK_SHIFT,
			.count = h->count[b],
		};
		if (!cand.count)
			continue;
		if (kept < n) {
			out[kept] = cand;
			heap_up(out, kept++);
		} else if (cooler(&out[0], &cand)) {
			out[0] = cand;
			heap_down(out, n, 0);
		}
	}
	/* Heap sort in place: repeatedly move the coolest to the end. */
	for (size_t end = kept; end > 1; end--) {
		heap_swap(&out[0], &out[end - 1]);
		heap_down(out, end - 1, 0);
	}
	return kept;
}
