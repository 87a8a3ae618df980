/* SPDX-License-Identifier: MIT */
/* The pages two memories differ in, compared with memcmp region by region
 * (both memories have the same regions), the first MIG_DIFF_MAX named with
 * the driver's layout (netdrv_page_what) and the device area's bounds. Read
 * mig_diff.h first. */
#include "mig_diff.h"

#include <stdio.h>
#include <string.h>

#define PAGE GMEM_PAGE_SIZE

/* What lives at guest page pfn, and whose log marks its writes. */
static void name_page(const struct device *d, uint64_t pfn, struct mig_diff_page *p)
{
	bool backend = false;

	p->gpa = pfn * PAGE;
	if (netdrv_page_what(&d->drv, pfn, p->what, sizeof(p->what), &backend)) {
		snprintf(p->log, sizeof(p->log), "%s", backend ? "backend" : "guest");
		return;
	}
	snprintf(p->what, sizeof(p->what), "%s",
		 p->gpa >= dev_area_end(d) ? "guest RAM (memory writer)" :
		 p->gpa >= DEV_AREA_GPA ? "device area" : "low memory");
	snprintf(p->log, sizeof(p->log), "guest");
}

void mig_diff_add(const struct device *d, uint64_t pfn, struct mig_diff *out)
{
	if (out->n < MIG_DIFF_MAX)
		name_page(d, pfn, &out->page[out->n++]);
	out->count++;
}

void mig_diff_pages(const struct device *d, const struct gmem *src, const struct gmem *dst,
		    struct mig_diff *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < src->n && i < dst->n; i++) {
		const struct gmem_region *s = &src->r[i], *t = &dst->r[i];

		for (uint64_t off = 0; off < s->size && off < t->size; off += PAGE) {
			if (memcmp(s->hva + off, t->hva + off, PAGE))
				mig_diff_add(d, (s->gpa + off) / PAGE, out);
		}
	}
}

void mig_diff_summary(const struct mig_diff *df, char *buf, size_t len)
{
	if (!df->n) {
		snprintf(buf, len, "no page differs");
		return;
	}
	snprintf(buf, len, "%llu pages differ, first 0x%llx: %s (%s's log)",
		 (unsigned long long)df->count, (unsigned long long)df->page[0].gpa,
		 df->page[0].what, df->page[0].log);
}

json_t *mig_diff_json(const struct mig_diff *df)
{
	json_t *a = json_array();

	for (int i = 0; i < df->n; i++)
		json_array_append_new(a, json_pack("{s:I, s:s, s:s}", "gpa",
						   (json_int_t)df->page[i].gpa, "what",
						   df->page[i].what, "log", df->page[i].log));
	return json_pack("{s:I, s:o}", "count", (json_int_t)df->count, "pages", a);
}
