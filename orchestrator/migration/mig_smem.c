/* SPDX-License-Identifier: MIT */
/* Guest memory into and out of the migration stream. The sender walks
 * pages in guest-physical order and keeps two runs open: data pages
 * contiguous in pfn (at most MIG_STREAM_RUN_MAX, staged), and zero pages
 * contiguous in pfn; a page of the other kind, a gap, or a full run closes
 * the open one. The whole-memory pass walks each region's data extents
 * (gmem_for_data) and sends the holes between them as ZERO runs without
 * reading them. */
#include "mig_smem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define PAGE GMEM_PAGE_SIZE

int mig_smem_tx_init(struct mig_smem_tx *t, struct mig_senc *e, const struct gmem *mem)
{
	*t = (struct mig_smem_tx){ .e = e, .mem = mem };
	t->stage = malloc((size_t)MIG_STREAM_RUN_MAX * PAGE);
	return t->stage ? 0 : -ENOMEM;
}

void mig_smem_tx_destroy(struct mig_smem_tx *t)
{
	free(t->stage);
	t->stage = NULL;
}

static void flush_data(struct mig_smem_tx *t)
{
	if (!t->ndata)
		return;
	if (!t->rc)
		t->rc = mig_senc_pages(t->e, t->data_pfn, t->ndata, t->stage);
	if (!t->rc && t->tick)
		t->rc = t->tick(t->tick_ctx, t->ndata);
	t->data_pages += t->ndata;
	t->ndata = 0;
}

static void flush_zero(struct mig_smem_tx *t)
{
	if (!t->nzero)
		return;
	if (!t->rc)
		t->rc = mig_senc_zero(t->e, t->zero_pfn, t->nzero);
	t->zero_pages += t->nzero;
	t->nzero = 0;
}

static void flush(struct mig_smem_tx *t)
{
	flush_data(t);
	flush_zero(t);
}

/* n zero pages from pfn (read or known). */
static void add_zero(struct mig_smem_tx *t, uint64_t pfn, uint64_t n)
{
	if (!n)
		return;
	flush_data(t);
	if (t->nzero && t->zero_pfn + t->nzero != pfn)
		flush_zero(t);
	if (!t->nzero)
		t->zero_pfn = pfn;
	t->nzero += n;
}

/* Guest page pfn, seen at hva: staged with its run, or a zero page. */
static void add_page(struct mig_smem_tx *t, uint64_t pfn, const uint8_t *hva)
{
	if (gmem_zero_racy(hva, PAGE)) {
		add_zero(t, pfn, 1);
		return;
	}
	flush_zero(t);
	if (t->ndata && (t->data_pfn + t->ndata != pfn || t->ndata == MIG_STREAM_RUN_MAX))
		flush_data(t);
	if (!t->ndata)
		t->data_pfn = pfn;
	gmem_copy_racy(t->stage + (size_t)t->ndata * PAGE, hva, PAGE);
	t->ndata++;
}

static bool mine(const struct mig_smem_tx *t, uint64_t pfn)
{
	return mig_smem_owner(pfn, t->nchan) == t->chan;
}

/* The first pfn at or after pfn that is this sender's (pfn itself, or the
 * start of its next stripe). */
static uint64_t next_mine(const struct mig_smem_tx *t, uint64_t pfn)
{
	while (!mine(t, pfn))
		pfn = (pfn / MIG_SMEM_STRIPE + 1) * MIG_SMEM_STRIPE;
	return pfn;
}

/* n zero pages from pfn, known without reading (a hole): this sender's
 * stripes of them. */
static void add_hole(struct mig_smem_tx *t, uint64_t pfn, uint64_t n)
{
	uint64_t end = pfn + n;

	for (pfn = next_mine(t, pfn); pfn < end; pfn = next_mine(t, pfn)) {
		uint64_t stop = (pfn / MIG_SMEM_STRIPE + 1) * MIG_SMEM_STRIPE;

		if (t->nchan <= 1 || stop > end)
			stop = end;
		add_zero(t, pfn, stop - pfn);
		pfn = stop;
	}
}

int mig_smem_send_layout(struct mig_smem_tx *t)
{
	struct mig_stream_memory m = { .total = t->mem->total, .n = (uint32_t)t->mem->n };

	for (int i = 0; i < t->mem->n; i++)
		m.r[i] = (struct mig_stream_region){ t->mem->r[i].gpa, t->mem->r[i].size };
	return mig_senc_memory(t->e, &m);
}

struct extent_walk {
	struct mig_smem_tx *t;
	uint64_t next;           /* region offset the last extent ended at */
};

static void send_extent(const struct gmem_region *r, uint64_t off, uint64_t end, void *arg)
{
	struct extent_walk *w = arg;

	add_hole(w->t, (r->gpa + w->next) / PAGE, (off - w->next) / PAGE);
	for (; off < end && !w->t->rc; off += PAGE) {
		uint64_t pfn = (r->gpa + off) / PAGE, to = next_mine(w->t, pfn);

		if (to != pfn) {           /* another connection's stripe */
			off += (to - pfn - 1) * PAGE;
			continue;
		}
		add_page(w->t, pfn, r->hva + off);
	}
	w->next = end;
}

int mig_smem_send_all(struct mig_smem_tx *t)
{
	for (int i = 0; i < t->mem->n && !t->rc; i++) {
		const struct gmem_region *r = &t->mem->r[i];
		struct extent_walk w = { .t = t };

		gmem_for_data(r, send_extent, &w);
		add_hole(t, (r->gpa + w.next) / PAGE, (r->size - w.next) / PAGE);
	}
	flush(t);
	return t->rc;
}

int mig_smem_send_dirty(struct mig_smem_tx *t, uint64_t *bm, size_t nwords)
{
	for (size_t i = 0; i < nwords && !t->rc; i++) {
		uint64_t w;

		if (!mine(t, i * 64))      /* the word is another connection's */
			continue;
		w = bm[i];
		bm[i] = 0;
		while (w) {
			uint64_t pfn = i * 64 + (uint64_t)__builtin_ctzll(w);
			const uint8_t *hva = gmem_hva(t->mem, pfn * PAGE, PAGE);

			w &= w - 1;
			if (hva)           /* pages in the hole are no memory */
				add_page(t, pfn, hva);
		}
	}
	flush(t);
	return t->rc;
}

/* ---- receiving --------------------------------------------------------------- */

static int check_layout(const struct mig_stream_memory *sm, const struct gmem *mem, char *err,
			size_t errlen)
{
	bool same = sm->total == mem->total && sm->n == (uint32_t)mem->n;

	for (int i = 0; same && i < mem->n; i++)
		same = sm->r[i].gpa == mem->r[i].gpa && sm->r[i].size == mem->r[i].size;
	if (same)
		return 0;
	return vhm_err(err, errlen, -EPROTO, "the stream's guest memory (%llu bytes in %u "
		       "regions) is not this device's (%llu bytes in %d regions): --mem differs",
		       (unsigned long long)sm->total, sm->n, (unsigned long long)mem->total,
		       mem->n);
}

/* Clear n pages from pfn: punch a hole in the memfd (reads zero, holds no
 * memory); where the kernel cannot, write zeros. */
static int apply_zero(struct gmem *mem, uint64_t pfn, uint64_t n, char *err, size_t errlen)
{
	int ri = gmem_region_of(mem, pfn * PAGE);
	struct gmem_region *r;
	uint64_t off;

	if (ri < 0 || !gmem_hva(mem, pfn * PAGE, n * PAGE))
		return vhm_err(err, errlen, -EPROTO, "ZERO run at pfn 0x%llx is outside memory",
			       (unsigned long long)pfn);
	r = &mem->r[ri];
	off = pfn * PAGE - r->gpa;
	if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		      (off_t)(n * PAGE)))
		memset(r->hva + off, 0, n * PAGE);
	return 0;
}

int mig_smem_apply(struct mig_sdec *d, const struct mig_ssec *s, struct gmem *mem, char *err,
		   size_t errlen)
{
	void *hva;
	int rc;

	switch (s->type) {
	case MIG_SEC_MEMORY:
		return check_layout(&s->memory, mem, err, errlen);
	case MIG_SEC_ZERO:
		return apply_zero(mem, s->pfn, s->npages, err, errlen);
	case MIG_SEC_PAGES:
		hva = gmem_hva(mem, s->pfn * PAGE, s->npages * PAGE);
		if (!hva)
			return vhm_err(err, errlen, -EPROTO, "PAGES run at pfn 0x%llx is outside "
				       "memory", (unsigned long long)s->pfn);
		if ((rc = mig_sdec_data(d, hva, s->npages * PAGE)))
			return vhm_err(err, errlen, rc, "%s", d->err);
		return 0;
	}
	return 0;
}
