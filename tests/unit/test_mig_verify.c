/* SPDX-License-Identifier: MIT */
/* The after-resume proof (mig_verify): two memories compared page by page,
 * pages marked since the resume excluded (counted, not proved), an unmarked
 * difference named; a page with data in one memory only compares with zero
 * there, and holes are never read. No backend, no threads: the logs are
 * marked by hand, as a backend and the guest would. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "device.h"
#include "lt_log.h"
#include "mig_verify.h"

#define MiB (1ull << 20)
#define PAGE GMEM_PAGE_SIZE

static struct gmem src, dst;
static struct lt_log log_;
static struct device dev;      /* names pages: compact buffers, no queue */

static void setup(void)
{
	char err[256];

	cr_assert(eq(int, gmem_create(&src, 32 * MiB, "src", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, gmem_create(&dst, 32 * MiB, "dst", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, lt_log_create(&log_, src.top), 0));
	memset(&dev, 0, sizeof(dev));
	dev.drv.buffers = ND_BUFFERS_COMPACT;
	dev.cfg.queues = 1;
	dev.cfg.buffers = ND_BUFFERS_COMPACT;
	/* pages 10..19 hold the same data in both */
	for (uint64_t p = 10; p < 20; p++) {
		memset(src.r[0].hva + p * PAGE, (int)p, PAGE);
		memset(dst.r[0].hva + p * PAGE, (int)p, PAGE);
	}
}

static void teardown(void)
{
	lt_log_destroy(&log_);
	gmem_destroy(&src);
	gmem_destroy(&dst);
}

static void check(struct mig_verify_after *out)
{
	struct lt_log *logs[1] = { &log_ };

	cr_assert(eq(int, mig_verify_after_resume(&dev, &src, &dst, logs, 1, out), 0));
}

Test(mig_verify, equal_copies_are_proved, .init = setup, .fini = teardown)
{
	struct mig_verify_after out;

	check(&out);
	cr_assert(eq(u64, out.compared, 10), "compared %llu pages",
		  (unsigned long long)out.compared);
	cr_assert(eq(u64, out.diff.count, 0));
	cr_assert(eq(u64, out.excluded, 0));
}

Test(mig_verify, page_written_since_the_resume_is_excluded, .init = setup, .fini = teardown)
{
	struct mig_verify_after out;

	dst.r[0].hva[12 * PAGE + 7] ^= 0xff;     /* the destination wrote it ... */
	lt_log_mark(log_.words, 12);              /* ... and logged it */
	check(&out);
	cr_assert(eq(u64, out.diff.count, 0));
	cr_assert(eq(u64, out.excluded, 1));
}

Test(mig_verify, unlogged_difference_is_named, .init = setup, .fini = teardown)
{
	struct mig_verify_after out;

	dst.r[0].hva[15 * PAGE + 100] ^= 0x01;
	check(&out);
	cr_assert(eq(u64, out.diff.count, 1));
	cr_assert(eq(int, out.diff.n, 1));
	cr_assert(eq(u64, out.diff.page[0].gpa, 15 * PAGE));
}

Test(mig_verify, data_on_one_side_compares_with_zero, .init = setup, .fini = teardown)
{
	struct mig_verify_after out;

	/* the source holds a zero page with data allocated: the copy skipped it
	 * and the destination's hole reads zero too -- equal */
	memset(src.r[0].hva + 30 * PAGE, 0, PAGE);
	/* the destination alone holds data on page 40: a write that went
	 * nowhere in the source's log */
	dst.r[0].hva[40 * PAGE] = 1;
	check(&out);
	cr_assert(eq(u64, out.compared, 12));
	cr_assert(eq(u64, out.diff.count, 1));
	cr_assert(eq(u64, out.diff.page[0].gpa, 40 * PAGE));
}
