/* SPDX-License-Identifier: MIT */
/* The fixed costs of a migration, read mig_cost.h first. Each per-page cost
 * is the median of three timings (the best one, on a cache-sized sample,
 * came out 8x below what the migration then took on a loaded machine); the
 * sample is a gmem, as the destination's memory is. The kept costs are a
 * small JSON object: {"kept_by": "vhm", "setup_ns_per_page": [...],
 * "check_ns_per_page": [...], "switch_ms": [...]}. */
#include "mig_cost.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define PAGE GMEM_PAGE_SIZE
#define SAMPLE_PAGES (MIG_COST_SAMPLE_BYTES / PAGE)
#define GRACE_MS 2.0               /* mig_verify's second look */
#define TRIES 3
#define KEPT_MARK "vhm"            /* "kept_by": the file is ours */
#define KEPT_MAX_BYTES 65536       /* a larger file is not one vhm wrote */
#define KEPT_MAX_NS 1e7            /* 10 ms a page: no plausible cost above */
#define KEPT_MAX_SWITCH_MS 60000.0 /* a minute's switch: none plausible above */

static double ns_since(uint64_t t0)
{
	return (double)(vhm_now_ns() - t0);
}

/* ns per page to prefault fresh memory (gmem_prefault, as the set-up does). */
static double sample_populate(struct gmem *m)
{
	uint64_t t0;

	madvise(m->r[0].hva, MIG_COST_SAMPLE_BYTES, MADV_REMOVE);
	t0 = vhm_now_ns();
	gmem_prefault(m->r[0].hva, MIG_COST_SAMPLE_BYTES);
	return ns_since(t0) / SAMPLE_PAGES;
}

/* ns per page to compare two resident pages (the halves of the sample). */
static double sample_compare(const struct gmem *m)
{
	const uint8_t *a = m->r[0].hva, *b = a + MIG_COST_SAMPLE_BYTES / 2;
	uint64_t t0 = vhm_now_ns();
	int differ = 0;
	volatile int sink;         /* the compares must happen */

	for (size_t off = 0; off < MIG_COST_SAMPLE_BYTES / 2; off += PAGE)
		differ += memcmp(a + off, b + off, PAGE) != 0;
	sink = differ;
	(void)sink;
	return ns_since(t0) / (SAMPLE_PAGES / 2);
}

/* ns per page of gmem_digest over resident data. */
static double sample_digest(const struct gmem *m)
{
	uint64_t t0 = vhm_now_ns();
	volatile uint64_t h = gmem_digest(m, 0, 0);

	(void)h;
	return ns_since(t0) / SAMPLE_PAGES;
}

/* ns per page for a second mapping of resident pages with MAP_POPULATE:
 * what a backend that faults its mapping in (testpmd) pays at SET_MEM_TABLE
 * once the prefault has allocated the pages. 0 when it could not map. */
static double sample_map_present(const struct gmem *m)
{
	uint64_t t0 = vhm_now_ns();
	void *p = mmap(NULL, MIG_COST_SAMPLE_BYTES, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, m->r[0].fd, 0);
	double ns = ns_since(t0) / SAMPLE_PAGES;

	if (p == MAP_FAILED)
		return 0;
	munmap(p, MIG_COST_SAMPLE_BYTES);
	return ns;
}

/* The set-up: the prefault allocates the pages, then the destination backend
 * maps them. The device's own backend start-up is no measure of that second
 * part: at the open the backend allocated fresh pages itself (testpmd: 4-14 s
 * for 1 GiB on the loaded bench machine, where the whole set-up of a
 * migration took 0.8-6 s and the sum of both, the model before, was 1.6-12x
 * the set-up measured). It bounds it, though: mapping pages already there
 * costs a backend at most what mapping and allocating them did. */
static double setup_ms(double backend_start_ms, double prefault_ms, double map_ms)
{
	return prefault_ms + (backend_start_ms < map_ms ? backend_start_ms : map_ms);
}

static double kept_median(const double *v, int n)
{
	double c[MIG_COST_KEPT];

	memcpy(c, v, sizeof(*v) * (size_t)n);
	return vhm_median(c, (size_t)n);
}

/* The kept medians over the sampled parts, where there are any. */
static void apply_kept(const struct mig_cost_kept *k, enum mig_verify_mode mode,
		       uint64_t data_pages, struct mig_cost *out)
{
	if (k->nsetup) {
		out->setup_kept = k->nsetup;
		out->setup_kept_ns = kept_median(k->setup_ns, k->nsetup);
		out->setup_ms = (double)data_pages * out->setup_kept_ns / 1e6;
	}
	if (k->ncheck && mode != MIG_VERIFY_SYNC) {
		out->check_kept = k->ncheck;
		out->check_kept_ns = kept_median(k->check_ns, k->ncheck);
		out->check_ms = (double)data_pages * out->check_kept_ns / 1e6 + GRACE_MS;
	}
	if (k->nswitch) {
		out->switch_kept = k->nswitch;
		out->switch_ms = kept_median(k->switch_ms, k->nswitch);
	}
}

int mig_cost_estimate(const struct device *d, enum mig_verify_mode mode, uint64_t data_pages,
		      const struct mig_cost_kept *kept, struct mig_cost *out)
{
	double pop[TRIES], map[TRIES], cmp[TRIES], dig[TRIES];
	struct gmem m;
	char err[200];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = gmem_create(&m, MIG_COST_SAMPLE_BYTES, "mig-cost", err, sizeof(err))))
		return rc;
	for (int i = 0; i < TRIES; i++) {
		pop[i] = sample_populate(&m);
		map[i] = sample_map_present(&m);
		/* the same bytes in both halves: a compare reads every byte */
		memset(m.r[0].hva, 0x5a + i, MIG_COST_SAMPLE_BYTES);
		cmp[i] = sample_compare(&m);
		dig[i] = sample_digest(&m);
	}
	gmem_destroy(&m);
	out->populate_ns = vhm_median(pop, TRIES);
	out->map_ns = vhm_median(map, TRIES);
	out->compare_ns = vhm_median(cmp, TRIES);
	out->digest_ns = vhm_median(dig, TRIES);
	out->setup_ms = setup_ms(d->backend_start_ms, (double)data_pages * out->populate_ns / 1e6,
				 (double)data_pages * out->map_ns / 1e6);
	if (mode == MIG_VERIFY_SYNC)
		out->check_ms = (double)data_pages * out->digest_ns / 1e6;
	else
		out->check_ms = (double)data_pages * out->compare_ns / 1e6 + GRACE_MS;
	if (kept)
		apply_kept(kept, mode, data_pages, out);
	return 0;
}

/* ---- the kept costs ------------------------------------------------------------------ */

static void kept_path(const char *dir, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", dir, name);
}

/* The plausible values of array a (in (0, max]) into v (at most
 * MIG_COST_KEPT, the latest). */
static int kept_values(const json_t *a, double max, double *v)
{
	size_t i, from = json_array_size(a) > MIG_COST_KEPT ?
			 json_array_size(a) - MIG_COST_KEPT : 0;
	int n = 0;

	for (i = from; i < json_array_size(a); i++) {
		double x = json_number_value(json_array_get(a, i));

		if (json_is_number(json_array_get(a, i)) && isfinite(x) && x > 0 && x <= max)
			v[n++] = x;
	}
	return n;
}

/* The file's text, NUL-terminated, into buf. 0, -ENOENT when absent,
 * -errno with err otherwise (not a regular file, too large, unreadable). */
static int kept_read(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	ssize_t n;
	int rc = 0;

	if (fd < 0 && errno == ENOENT)
		return -ENOENT;
	if (fd < 0 && errno == ELOOP)
		return vhm_err(err, errlen, -ELOOP, "%s: a symlink, not followed; left as it is",
			       path);
	if (fd < 0)
		return vhm_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size >= (off_t)len) {
		rc = vhm_err(err, errlen, -EINVAL, "%s: not a file vhm keeps its costs in "
			     "(not a regular file of under %zu bytes)", path, len);
		goto out;
	}
	n = read(fd, buf, len - 1);
	if (n < 0) {
		rc = vhm_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
out:
	close(fd);
	return rc;
}

int mig_cost_load(const char *dir, struct mig_cost_kept *k, char *err, size_t errlen)
{
	char path[4096], buf[KEPT_MAX_BYTES];
	json_t *o;
	int rc;

	memset(k, 0, sizeof(*k));
	kept_path(dir, MIG_COST_FILE, path, sizeof(path));
	if ((rc = kept_read(path, buf, sizeof(buf), err, errlen)))
		return rc == -ENOENT ? 0 : rc;
	o = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o) || !json_is_string(json_object_get(o, "kept_by")) ||
	    strcmp(json_string_value(json_object_get(o, "kept_by")), KEPT_MARK)) {
		json_decref(o);
		return vhm_err(err, errlen, -EINVAL, "%s: not vhm's (no \"kept_by\": \"%s\"); "
			       "left as it is", path, KEPT_MARK);
	}
	k->nsetup = kept_values(json_object_get(o, "setup_ns_per_page"), KEPT_MAX_NS, k->setup_ns);
	k->ncheck = kept_values(json_object_get(o, "check_ns_per_page"), KEPT_MAX_NS, k->check_ns);
	k->nswitch = kept_values(json_object_get(o, "switch_ms"), KEPT_MAX_SWITCH_MS,
				 k->switch_ms);
	json_decref(o);
	return 0;
}

/* Append x to v (n values), dropping the oldest when full. */
static void kept_push(double *v, int *n, double x)
{
	if (*n == MIG_COST_KEPT) {
		memmove(v, v + 1, sizeof(*v) * (MIG_COST_KEPT - 1));
		(*n)--;
	}
	v[(*n)++] = x;
}

static json_t *kept_array(const double *v, int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

/* Write k as dir's file: a temporary of this process beside it, renamed. */
static int kept_write(const char *dir, const struct mig_cost_kept *k, char *err, size_t errlen)
{
	char path[4096], tmp[4096], name[64];
	json_t *o = json_pack("{s:s, s:o, s:o, s:o}", "kept_by", KEPT_MARK, "setup_ns_per_page",
			      kept_array(k->setup_ns, k->nsetup), "check_ns_per_page",
			      kept_array(k->check_ns, k->ncheck), "switch_ms",
			      kept_array(k->switch_ms, k->nswitch));
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int fd = -1, rc = 0;
	size_t len;

	json_decref(o);
	if (!text)
		return vhm_err(err, errlen, -ENOMEM, "kept costs: out of memory");
	kept_path(dir, MIG_COST_FILE, path, sizeof(path));
	snprintf(name, sizeof(name), ".%s.%ld", MIG_COST_FILE, (long)getpid());
	kept_path(dir, name, tmp, sizeof(tmp));
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = vhm_err(err, errlen, -errno, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len) {
		rc = vhm_err(err, errlen, -EIO, "%s: short write", tmp);
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path)) {
		rc = vhm_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
		unlink(tmp);
	}
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return rc;
}

int mig_cost_keep(const char *dir, const struct mig_report *rep, char *err, size_t errlen)
{
	bool setup = rep->ok && !rep->shared_memory && rep->setup_pages >= MIG_COST_MIN_PAGES;
	bool check = rep->ok && rep->verify == MIG_VERIFY_AFTER_RESUME && rep->verified &&
		     rep->verify_compared >= MIG_COST_MIN_PAGES;
	bool sw = setup && rep->downtime_switch_ms >= 0;
	struct mig_cost_kept k;
	int rc;

	if (!dir || (!setup && !check))
		return 0;
	if ((rc = mig_cost_load(dir, &k, err, errlen)))
		return rc;         /* not ours, or unreadable: left alone */
	if (setup)
		kept_push(k.setup_ns, &k.nsetup, rep->setup_ms * 1e6 / (double)rep->setup_pages);
	if (check) {
		double ms = rep->verify_after_ms - GRACE_MS;

		kept_push(k.check_ns, &k.ncheck, (ms > 0 ? ms : 0.001) * 1e6 /
			  (double)rep->verify_compared);
	}
	if (sw)      /* a switch of 0 ms is one (below the ms), not an absent value */
		kept_push(k.switch_ms, &k.nswitch, rep->downtime_switch_ms > 0.001 ?
			  rep->downtime_switch_ms : 0.001);
	return kept_write(dir, &k, err, errlen);
}
