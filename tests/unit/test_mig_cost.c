/* SPDX-License-Identifier: MIT */
/* The prediction's fixed costs (mig_cost): per-page costs are sampled, the
 * set-up is the prefault plus the backend's mapping of resident pages, the
 * latter bounded by the device's own backend start-up, and the
 * proof costs what its mode does (a compare plus the grace after the
 * resume, a digest when sync); the costs of migrations made here are kept
 * in the run directory and replace the samples, and the file is hostile
 * input. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mig_cost.h"

Test(mig_cost, sampled_costs_add_up)
{
	struct device d;
	struct mig_cost after, sync;
	const uint64_t pages = 262144;   /* 1 GiB of data */

	memset(&d, 0, sizeof(d));
	d.backend_start_ms = 500;
	cr_assert(eq(int, mig_cost_estimate(&d, MIG_VERIFY_AFTER_RESUME, pages, NULL, &after), 0));
	cr_assert(eq(int, mig_cost_estimate(&d, MIG_VERIFY_SYNC, pages, NULL, &sync), 0));
	cr_assert(lt(dbl, 0.0, after.populate_ns));
	cr_assert(lt(dbl, 0.0, after.compare_ns));
	cr_assert(lt(dbl, 0.0, after.digest_ns));
	cr_assert(lt(dbl, 0.0, after.map_ns));
	cr_assert(eq(dbl, after.setup_ms, (double)pages * after.populate_ns / 1e6 +
				      fmin(500.0, (double)pages * after.map_ns / 1e6)),
		  "setup %.1f ms", after.setup_ms);
	/* after-resume: the compare of every page plus the 2 ms grace */
	cr_assert(le(dbl, 2.0 + (double)pages * after.compare_ns / 1e6 - 1e-6, after.check_ms));
	cr_assert(le(dbl, sync.check_ms, (double)pages * sync.digest_ns / 1e6 + 1e-6));
	cr_assert(lt(dbl, 0.0, sync.check_ms));
}

/* The backend's part is the sampled mapping of resident pages, bounded by
 * the device's own start-up: a backend that started in no time (it maps
 * without faulting in) adds nothing to the prefault; a slow one adds the
 * sampled mapping, not its start-up. */
Test(mig_cost, setup_bounded_by_backend_start)
{
	struct device d;
	struct mig_cost c;
	const uint64_t pages = 262144;

	memset(&d, 0, sizeof(d));
	cr_assert(eq(int, mig_cost_estimate(&d, MIG_VERIFY_AFTER_RESUME, pages, NULL, &c), 0));
	cr_assert(eq(dbl, c.setup_ms, (double)pages * c.populate_ns / 1e6));
	cr_assert(lt(dbl, 0.0, c.setup_ms));
	d.backend_start_ms = 1e6;    /* far above any mapping of 1 GiB */
	cr_assert(eq(int, mig_cost_estimate(&d, MIG_VERIFY_AFTER_RESUME, pages, NULL, &c), 0));
	cr_assert(eq(dbl, c.setup_ms, (double)pages * c.populate_ns / 1e6 +
				  (double)pages * c.map_ns / 1e6));
	cr_assert(lt(dbl, c.setup_ms, 1e6));
}

/* ---- the costs kept from the migrations made here ---------------------------------- */

static char kdir[64];

static void kept_setup(void)
{
	strcpy(kdir, "/tmp/vhm-t-costs-XXXXXX");
	cr_assert(not(eq(ptr, mkdtemp(kdir), NULL)));
}

static void kept_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", kdir);
	cr_assert(eq(int, system(cmd), 0));
}

static void kept_file_write(const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", kdir, MIG_COST_FILE);
	f = fopen(path, "w");
	cr_assert(not(eq(ptr, f, NULL)));
	fputs(text, f);
	fclose(f);
}

static char *kept_file_read(void)
{
	static char buf[4096];
	char path[128];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", kdir, MIG_COST_FILE);
	f = fopen(path, "r");
	cr_assert(not(eq(ptr, f, NULL)), "%s", path);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* A 1 GiB local migration that prefaulted everything and proved it after
 * the resume. */
static struct mig_report kept_report(double setup_ms, double proof_ms)
{
	struct mig_report r;

	memset(&r, 0, sizeof(r));
	r.ok = true;
	r.setup_ms = setup_ms;
	r.setup_pages = 262144;
	r.verify = MIG_VERIFY_AFTER_RESUME;
	r.verified = true;
	r.verify_after_ms = proof_ms;
	r.verify_compared = 262144;
	r.downtime_switch_ms = -1;      /* no cap */
	return r;
}

/* Each migration's per-page costs go in; the estimate takes their median
 * over the samples; the proof's grace is not counted as compare time. */
Test(mig_cost_kept, kept_costs_replace_the_samples, .init = kept_setup, .fini = kept_teardown)
{
	const double setup[] = { 5242.88, 2621.44, 7864.32 };   /* 20, 10, 30 us a page */
	struct mig_cost_kept k;
	struct mig_cost c;
	struct device d;
	char err[256] = "";

	memset(&d, 0, sizeof(d));
	cr_assert(eq(int, mig_cost_load(kdir, &k, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, k.nsetup + k.ncheck, 0), "no file: nothing kept");
	for (int i = 0; i < 3; i++) {
		struct mig_report r = kept_report(setup[i], 2.0 + 262.144 * (i + 1));

		cr_assert(eq(int, mig_cost_keep(kdir, &r, err, sizeof(err)), 0), "%s", err);
	}
	cr_assert(eq(int, mig_cost_load(kdir, &k, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, k.nsetup, 3));
	cr_assert(eq(int, k.ncheck, 3));
	cr_assert(ieee_ulp_eq(dbl, k.setup_ns[0], 20000.0, 4));
	cr_assert(ieee_ulp_eq(dbl, k.check_ns[2], 3000.0, 4));
	cr_assert(eq(int, mig_cost_estimate(&d, MIG_VERIFY_AFTER_RESUME, 131072, &k, &c), 0));
	cr_assert(eq(int, c.setup_kept, 3));
	cr_assert(ieee_ulp_eq(dbl, c.setup_kept_ns, 20000.0, 4), "median %f", c.setup_kept_ns);
	cr_assert(ieee_ulp_eq(dbl, c.setup_ms, 131072 * 0.02, 4), "%f", c.setup_ms);
	cr_assert(ieee_ulp_eq(dbl, c.check_kept_ns, 2000.0, 4), "median %f", c.check_kept_ns);
	cr_assert(ieee_ulp_eq(dbl, c.check_ms, 131072 * 0.002 + 2.0, 4), "%f", c.check_ms);
	cr_assert(lt(dbl, 0.0, c.populate_ns), "the samples are still taken and shown");
	/* sync's proof is the digest in the window: sampled, never kept */
	cr_assert(eq(int, mig_cost_estimate(&d, MIG_VERIFY_SYNC, 131072, &k, &c), 0));
	cr_assert(eq(int, c.check_kept, 0));
	cr_assert(ieee_ulp_eq(dbl, c.check_ms, 131072 * c.digest_ns / 1e6, 4));
}

/* The last MIG_COST_KEPT stay, oldest out first; a failed, a hot swap's
 * and a small migration's costs are not kept. */
Test(mig_cost_kept, latest_kept_and_only_whole_migrations, .init = kept_setup,
     .fini = kept_teardown)
{
	struct mig_cost_kept k;
	struct mig_report r;
	char err[256] = "";

	for (int i = 0; i < MIG_COST_KEPT + 3; i++) {
		r = kept_report(262.144 * (i + 1), 100);
		cr_assert(eq(int, mig_cost_keep(kdir, &r, err, sizeof(err)), 0), "%s", err);
	}
	r = kept_report(1e6, 1e6);
	r.ok = false;
	cr_assert(eq(int, mig_cost_keep(kdir, &r, err, sizeof(err)), 0));
	r = kept_report(1e6, 1e6);
	r.shared_memory = true;
	r.verify = MIG_VERIFY_SYNC;
	cr_assert(eq(int, mig_cost_keep(kdir, &r, err, sizeof(err)), 0));
	r = kept_report(1e6, 1e6);
	r.setup_pages = r.verify_compared = MIG_COST_MIN_PAGES - 1;
	cr_assert(eq(int, mig_cost_keep(kdir, &r, err, sizeof(err)), 0));
	cr_assert(eq(int, mig_cost_load(kdir, &k, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, k.nsetup, MIG_COST_KEPT));
	cr_assert(ieee_ulp_eq(dbl, k.setup_ns[0], 4000.0, 4), "oldest %f", k.setup_ns[0]);
	cr_assert(ieee_ulp_eq(dbl, k.setup_ns[MIG_COST_KEPT - 1], 11000.0, 4));
}

/* A capped migration's switch (its downtime beyond the last pages at the
 * cap) is kept in ms, a 0 ms one too; an uncapped one's (-1) is not; the
 * estimate takes the median; without any kept the switch is 0 (no sample
 * can tell it); a file's implausible switches are dropped. */
Test(mig_cost_kept, switch_kept_from_capped_migrations, .init = kept_setup,
     .fini = kept_teardown)
{
	const double sw[] = { 3.5, -1, 1.25, 0, 9.0 };
	struct mig_cost_kept k;
	struct mig_cost c;
	struct device d;
	char err[256] = "";

	memset(&d, 0, sizeof(d));
	cr_assert(eq(int, mig_cost_estimate(&d, MIG_VERIFY_AFTER_RESUME, 131072, NULL, &c), 0));
	cr_assert(eq(dbl, c.switch_ms, 0.0));
	cr_assert(eq(int, c.switch_kept, 0));
	for (size_t i = 0; i < sizeof(sw) / sizeof(sw[0]); i++) {
		struct mig_report r = kept_report(5000, 500);

		r.downtime_switch_ms = sw[i];
		cr_assert(eq(int, mig_cost_keep(kdir, &r, err, sizeof(err)), 0), "%s", err);
	}
	cr_assert(eq(int, mig_cost_load(kdir, &k, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, k.nsetup, 5), "every migration's set-up is kept");
	cr_assert(eq(int, k.nswitch, 4), "the uncapped one's switch is not");
	cr_assert(ieee_ulp_eq(dbl, k.switch_ms[0], 3.5, 4));
	cr_assert(ieee_ulp_eq(dbl, k.switch_ms[2], 0.001, 4), "0 ms kept as 1 us: %f",
		  k.switch_ms[2]);
	cr_assert(eq(int, mig_cost_estimate(&d, MIG_VERIFY_AFTER_RESUME, 131072, &k, &c), 0));
	cr_assert(eq(int, c.switch_kept, 4));
	/* median of 0.001, 1.25, 3.5, 9.0 */
	cr_assert(ieee_ulp_eq(dbl, c.switch_ms, (1.25 + 3.5) / 2, 4), "median %f", c.switch_ms);

	kept_file_write("{\"kept_by\": \"vhm\", \"switch_ms\": [-2, 0, 1e9, \"x\", 2.5]}");
	cr_assert(eq(int, mig_cost_load(kdir, &k, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, k.nswitch, 1));
	cr_assert(ieee_ulp_eq(dbl, k.switch_ms[0], 2.5, 4));
}

/* Hostile files: one that is not vhm's is neither read nor replaced (one
 * line says so); a symlink is not followed; implausible values are
 * dropped and the rest kept. */
Test(mig_cost_kept, files_not_vhms_left_alone, .init = kept_setup, .fini = kept_teardown)
{
	struct mig_report r = kept_report(5000, 500);
	struct mig_cost_kept k;
	char err[256] = "", link[128];

	kept_file_write("{\"setup_ns_per_page\": [1000]}");
	cr_assert(eq(int, mig_cost_load(kdir, &k, err, sizeof(err)), -EINVAL));
	cr_assert(not(eq(ptr, strstr(err, "not vhm's"), NULL)), "%s", err);
	cr_assert(eq(int, mig_cost_keep(kdir, &r, err, sizeof(err)), -EINVAL));
	cr_assert(eq(str, kept_file_read(), "{\"setup_ns_per_page\": [1000]}"));

	kept_file_write("garbage");
	cr_assert(eq(int, mig_cost_keep(kdir, &r, err, sizeof(err)), -EINVAL));
	cr_assert(eq(str, kept_file_read(), "garbage"));

	kept_file_write("{\"kept_by\": \"vhm\", \"setup_ns_per_page\": [-1, \"x\", 1e300, "
			"15000, null], \"check_ns_per_page\": {}}");
	cr_assert(eq(int, mig_cost_load(kdir, &k, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, k.nsetup, 1));
	cr_assert(ieee_ulp_eq(dbl, k.setup_ns[0], 15000.0, 4));
	cr_assert(eq(int, k.ncheck, 0));

	snprintf(link, sizeof(link), "%s/%s", kdir, MIG_COST_FILE);
	cr_assert(eq(int, unlink(link), 0));
	cr_assert(eq(int, symlink("/etc/hostname", link), 0));
	cr_assert(eq(int, mig_cost_load(kdir, &k, err, sizeof(err)), -ELOOP));
	cr_assert(not(eq(ptr, strstr(err, "a symlink, not followed"), NULL)), "%s", err);
	cr_assert(eq(int, mig_cost_keep(kdir, &r, err, sizeof(err)), -ELOOP));
	cr_assert(eq(int, readlink(link, err, sizeof(err)), (int)strlen("/etc/hostname")),
		  "the symlink is still there");
}
