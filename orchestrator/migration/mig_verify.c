/* SPDX-License-Identifier: MIT */
/* The proof of a migration's copy, read mig_verify.h first. The comparison
 * after the resume works on page bitmaps over [0, top): which pages hold data
 * in each memory (SEEK_DATA, so holes are never read and never faulted in),
 * which differ, which the logs marked since the resume. A page that holds
 * data in one memory only must be all zeros there (a hole reads zero). A
 * difference is confirmed after MIG_VERIFY_GRACE_US: a writer marks its
 * page just after writing it, so a page seen different while a write is
 * under way gets its mark by then. */
#include "mig_verify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define PAGE GMEM_PAGE_SIZE
#define MIG_VERIFY_GRACE_US 2000

const char *mig_verify_name(enum mig_verify_mode m)
{
	return m == MIG_VERIFY_SYNC ? "sync" : m == MIG_VERIFY_NONE ? "none" :
	       m == MIG_VERIFY_STREAM ? "stream" : "after-resume";
}

int mig_verify_parse(const char *s, enum mig_verify_mode *out)
{
	if (!strcmp(s, "after-resume"))
		*out = MIG_VERIFY_AFTER_RESUME;
	else if (!strcmp(s, "sync"))
		*out = MIG_VERIFY_SYNC;
	else
		return -EINVAL;
	return 0;
}

/* The guest may be writing dst (gmem.h). */
static bool equal_racy(const void *a, const void *b)
{
	bool eq;

	VHM_RACY_READS_BEGIN();
	eq = !memcmp(a, b, PAGE);
	VHM_RACY_READS_END();
	return eq;
}

void mig_verify_rings(const struct device *d, const struct gmem *src, const struct gmem *dst,
		      struct mig_diff *out)
{
	memset(out, 0, sizeof(*out));
	for (int r = 0; r < d->nrings; r++) {
		const struct nd_queue *q = &d->drv.q[r / 2];
		const struct vring *v = r % 2 ? &q->tx : &q->rx;
		uint64_t lo = v->desc_gpa / PAGE;
		uint64_t hi = (v->desc_gpa + vring_bytes(v->packed, v->num) - 1) / PAGE;

		for (uint64_t pfn = lo; pfn <= hi; pfn++) {
			const void *s = gmem_hva(src, pfn * PAGE, PAGE);
			const void *t = gmem_hva(dst, pfn * PAGE, PAGE);

			if (s && t && memcmp(s, t, PAGE))
				mig_diff_add(d, pfn, out);
		}
	}
}

struct presence {
	uint64_t *bits;
	uint64_t first;            /* the region's first page */
};

static void mark_extent(const struct gmem_region *r, uint64_t off, uint64_t end, void *arg)
{
	struct presence *p = arg;

	(void)r;
	for (; off < end; off += PAGE)
		lt_log_mark(p->bits, p->first + off / PAGE);
}

/* Pages holding data in m, one bit each. */
static void data_pages(const struct gmem *m, uint64_t *bits)
{
	for (int i = 0; i < m->n; i++) {
		struct presence p = { bits, m->r[i].gpa / PAGE };

		gmem_for_data(&m->r[i], mark_extent, &p);
	}
}

/* Does page pfn differ? A page without data in a memory reads zero there. */
static bool page_differs(const struct gmem *src, const struct gmem *dst, uint64_t pfn,
			 bool in_src, bool in_dst)
{
	const void *s = gmem_hva(src, pfn * PAGE, PAGE), *t = gmem_hva(dst, pfn * PAGE, PAGE);

	if (!s || !t)
		return false;
	if (in_src && in_dst)
		return !equal_racy(s, t);
	return !gmem_zero_racy(in_src ? s : t, PAGE);
}

static bool bit(const uint64_t *b, uint64_t pfn)
{
	return (b[pfn / 64] >> (pfn % 64)) & 1;
}

/* OR every log's marks into touched, clearing the logs. */
static void sync_logs(struct lt_log *const *logs, int nlogs, uint64_t *touched, size_t nwords)
{
	struct lt_sync how = { .merge = touched, .merge_words = nwords };

	for (int i = 0; i < nlogs; i++)
		lt_log_sync(logs[i], &how, NULL);
}

static uint64_t popcount(const uint64_t *b, size_t nwords)
{
	uint64_t n = 0;

	for (size_t i = 0; i < nwords; i++)
		n += (uint64_t)__builtin_popcountll(b[i]);
	return n;
}

/* The bitmaps of one check, each nwords words. */
struct verify_maps {
	size_t nwords;
	uint64_t *in_src, *in_dst, *differ, *touched;
};

/* First look: every page with data in either memory; differences into
 * v->differ. Pages compared. */
static uint64_t scan(const struct gmem *src, const struct gmem *dst, struct verify_maps *v)
{
	uint64_t compared = 0;

	for (size_t i = 0; i < v->nwords; i++) {
		uint64_t w = v->in_src[i] | v->in_dst[i];

		compared += (uint64_t)__builtin_popcountll(w);
		while (w) {
			uint64_t pfn = i * 64 + (unsigned)__builtin_ctzll(w);

			w &= w - 1;
			if (page_differs(src, dst, pfn, bit(v->in_src, pfn), bit(v->in_dst, pfn)))
				lt_log_mark(v->differ, pfn);
		}
	}
	return compared;
}

/* Second look, after the grace period: a page still different and marked
 * by no log since the resume is a missed write. */
static void confirm(const struct device *d, const struct gmem *src, const struct gmem *dst,
		    struct verify_maps *v, struct lt_log *const *logs, int nlogs,
		    struct mig_diff *out)
{
	usleep(MIG_VERIFY_GRACE_US);
	sync_logs(logs, nlogs, v->touched, v->nwords);
	for (size_t i = 0; i < v->nwords; i++) {
		uint64_t w = v->differ[i] & ~v->touched[i];

		v->differ[i] = 0;
		while (w) {
			uint64_t pfn = i * 64 + (unsigned)__builtin_ctzll(w);

			w &= w - 1;
			if (page_differs(src, dst, pfn, bit(v->in_src, pfn), bit(v->in_dst, pfn)))
				lt_log_mark(v->differ, pfn);
		}
	}
	sync_logs(logs, nlogs, v->touched, v->nwords);   /* marks made during the look */
	for (size_t i = 0; i < v->nwords; i++) {
		uint64_t w = v->differ[i] & ~v->touched[i];

		while (w) {
			mig_diff_add(d, i * 64 + (unsigned)__builtin_ctzll(w), out);
			w &= w - 1;
		}
	}
}

int mig_verify_after_resume(const struct device *d, const struct gmem *src,
			    const struct gmem *dst, struct lt_log *const *logs, int nlogs,
			    struct mig_verify_after *out)
{
	uint64_t t0 = vhm_now_ns();
	uint64_t top = src->top > dst->top ? src->top : dst->top;
	struct verify_maps v = { .nwords = (top / PAGE + 63) / 64 };
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < nlogs; i++)
		if (logs[i]->nwords > v.nwords)
			v.nwords = logs[i]->nwords;
	v.in_src = calloc(v.nwords, sizeof(uint64_t));
	v.in_dst = calloc(v.nwords, sizeof(uint64_t));
	v.differ = calloc(v.nwords, sizeof(uint64_t));
	v.touched = calloc(v.nwords, sizeof(uint64_t));
	if (!v.in_src || !v.in_dst || !v.differ || !v.touched)
		goto out;
	data_pages(src, v.in_src);
	data_pages(dst, v.in_dst);
	out->compared = scan(src, dst, &v);
	confirm(d, src, dst, &v, logs, nlogs, &out->diff);
	out->excluded = popcount(v.touched, v.nwords);
	out->ms = (double)(vhm_now_ns() - t0) / 1e6;
	rc = 0;
out:
	free(v.in_src);
	free(v.in_dst);
	free(v.differ);
	free(v.touched);
	return rc;
}
