/* SPDX-License-Identifier: MIT */
/* Dirty tracking of a running device (track-start, "dirty" events, `dirty`,
 * `predict`, `vhm track`), judged against ground truth:
 *   - the guest writer's configured rate (guest source);
 *   - the pages a known frame rate's RX buffers and used rings cover, with
 *     testpmd as the backend (backend and used-ring sources);
 *   - the test backend's own list of pages it did not log (verify mode),
 *     and testpmd, which logs everything (verify finds nothing);
 *   - a migration in the middle (tracking resumes on the destination).
 * Verify against testpmd runs the 30 s the issue asks for: thirty 1 s passes
 * over ~2500 changing pages each. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "devtest.h"
#include "support.h"

#define SYNC_MS 50.0      /* the device's sync period (track.h RUN_TRACK_SYNC_MS) */



/* vhm-testbe on <dir>/<name>.sock with extra options; its socket path. */
static void testbe(const char *name, const char *const extra[], char *sock, size_t len)
{
	char file[64];

	snprintf(file, sizeof(file), "%s.sock", name);
	cr_assert(eq(int, ts_path(file, sock, len), 0));
	cr_assert(lt(int, 0, ts_testbe_start(sock, extra)), "vhm-testbe did not start");
}

/* `vhm run` on backend with that ring layout and --buffers. */
static pid_t start_run_layout(const char *backend, const char *name, const char *mem,
			      const char *traffic, const char *dirty, const char *duration,
			      const char *ring, const char *buffers)
{
	char bin[256], log[TS_PATH_MAX + 16], ctl[TS_PATH_MAX + 16];
	const char *argv[] = { bin, "run", "--backend", backend, "--name", name, "--mem", mem,
			       "--ring", ring, "--buffers", buffers, "--traffic", traffic,
			       "--dirty", dirty, "--run-dir", ts_dir(), "--duration", duration,
			       NULL };
	pid_t pid;

	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/%s.log", ts_dir(), name);
	pid = ts_spawn(argv, log);
	cr_assert(lt(int, 0, pid));
	snprintf(ctl, sizeof(ctl), "%s/%s.sock", ts_dir(), name);
	cr_assert(eq(int, ts_wait_socket(ctl, 10000), 0), "control socket %s never appeared", ctl);
	return pid;
}

/* Split rings, spread buffers (the default). */
static pid_t start_run(const char *backend, const char *name, const char *mem,
		       const char *traffic, const char *dirty, const char *duration)
{
	return start_run_layout(backend, name, mem, traffic, dirty, duration, "split", "spread");
}



/* Subscribe to events (NULL-terminated names) and start tracking. */
static void track_start(struct ctl_client *c, int interval_ms, bool verify, const char *ev2)
{
	json_t *ev = json_pack("[s]", "dirty");

	if (ev2)
		json_array_append_new(ev, json_string(ev2));
	json_decref(dt_call(c, "subscribe", json_pack("{s:o}", "events", ev)));
	json_decref(dt_call(c, "track-start", json_pack("{s:i, s:b}", "interval_ms", interval_ms,
						     "verify", verify)));
}

/* The next "dirty" event's data (new reference); other events go to *other
 * when given (else are dropped). Fails the test after timeout_ms. */
static json_t *next_dirty(struct ctl_client *c, int timeout_ms, json_t **other)
{
	long end = ts_now_ms() + timeout_ms;

	while (ts_now_ms() < end) {
		json_t *ev = NULL, *data;

		if (ctl_client_next_event(c, &ev, 200))
			continue;
		if (!strcmp(json_string_value(json_object_get(ev, "event")), "dirty")) {
			data = json_incref(json_object_get(ev, "data"));
			json_decref(ev);
			return data;
		}
		if (other && !*other)
			*other = json_incref(ev);
		json_decref(ev);
	}
	cr_fatal("no \"dirty\" event within %d ms", timeout_ms);
	return NULL;
}

/* A second into the run, verify tracking with passes of interval_ms;
 * after `passes` "dirty" events (each within timeout_ms), the `dirty`
 * command's reply (new reference; its "verify" is what the tests judge). */
static json_t *verify_passes(struct ctl_client *c, int interval_ms, int passes, int timeout_ms)
{
	sleep(1);
	track_start(c, interval_ms, true, NULL);
	for (int i = 0; i < passes; i++)
		json_decref(next_dirty(c, timeout_ms, NULL));
	return dt_call(c, "dirty", NULL);
}

static double rate_of(const json_t *data, const char *src, const char *key)
{
	return json_number_value(json_object_get(json_object_get(json_object_get(data, "rates"),
								 src), key));
}

static double num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

/* A finding of f (an array) whose "what" holds what and, unless NULL,
 * whose "kind" holds kind. */
static bool has_finding(const json_t *f, const char *what, const char *kind)
{
	const json_t *e;
	size_t i;

	json_array_foreach(f, i, e) {
		const char *w = json_string_value(json_object_get(e, "what"));
		const char *k = json_string_value(json_object_get(e, "kind"));

		if (w && strstr(w, what) && (!kind || (k && strstr(k, kind))))
			return true;
	}
	return false;
}

/* track-stop's stop check, which must have run (new reference). */
static json_t *stop_check(struct ctl_client *c)
{
	json_t *r = dt_call(c, "track-stop", NULL), *sc = json_incref(json_object_get(r, "stop_check"));
	char *dump = sc ? json_dumps(sc, JSON_COMPACT) : NULL;
	bool ran = json_is_true(json_object_get(sc, "ran"));

	cr_log_info("stop check: %.400s", dump ? dump : "none");
	cr_assert(sc != NULL, "track-stop of a verify session: no stop_check");
	cr_assert(ran, "stop check did not run: %s", dump);
	free(dump);
	json_decref(r);
	return sc;
}

/* How far the writer's pace may stray here: half. Writing uniformly over 4
 * GiB of fresh memory it takes a first-touch page fault on most writes and
 * falls behind on a loaded or sanitized run (13 000-19 000 pages/s for
 * 20 000 seen); what this test proves is what is tracked of the writes made,
 * and the pace is device/writer_rate's to prove (within 2 %). */
#define WRITER_PACE 0.50

/* The writer dirties R = 20000 pages/s, uniformly over a 4 GiB guest
 * (N = 1048064 writer pages). A sync every 50 ms finds the distinct pages of
 * k = 1000 writes: N (1 - (1 - 1/N)^k) = k - k(k-1)/2N + ... = 999.52, so
 * collisions cost 0.05 %: over four intervals the guest pages reported must
 * be the writer's own count of writes in them (status "dirty.writes", read
 * as the first and the last interval end) within ±2 %, and no page may be
 * blamed on the backend (it writes nothing: no traffic); the mean over the
 * four intervals within WRITER_PACE of R (under ASan the tracked count
 * stayed within 0.6 % of the writes while single intervals went from 11 076
 * to 21 185 pages/s). */
static uint64_t writer_writes(struct ctl_client *c)
{
	json_t *st = dt_call(c, "status", NULL);
	uint64_t n = (uint64_t)json_integer_value(json_object_get(json_object_get(st, "dirty"),
								  "writes"));

	json_decref(st);
	return n;
}

Test(track, guest_rate_matches_writer, .fini = dt_fini, .timeout = 60)
{
	const char *extra[] = { NULL };   /* one queue pair */
	char be[TS_PATH_MAX], err[256];
	double sum = 0, secs = 0, rate50, last = 0;
	uint64_t ws, w0, w1;
	struct ctl_client *c;
	json_t *d, *p, *args, *cost, *w50, *ret = NULL;
	int rc;

	testbe("be", extra, be, sizeof(be));
	start_run(be, "g0", "4G", "0", "20000:uniform", "30s");
	c = dt_connect("g0");
	track_start(c, 1000, false, NULL);
	ws = writer_writes(c);
	json_decref(next_dirty(c, 5000, NULL));      /* the first interval starts mid-tick */
	w0 = writer_writes(c);
	for (int i = 0; i < 4; i++) {
		d = next_dirty(c, 5000, NULL);
		cr_log_info("interval %d: guest %.0f pages/s, %.0f pages in %.1f ms", i,
			    rate_of(d, "guest-writer", "pages_per_s"),
			    rate_of(d, "guest-writer", "pages"), num(d, "interval_ms"));
		cr_assert(eq(dbl, rate_of(d, "backend-log", "pages"), 0.0));
		sum += rate_of(d, "guest-writer", "pages");
		secs += num(d, "interval_ms") / 1000.0;
		last = rate_of(d, "guest-writer", "pages_per_s");
		json_decref(d);
	}
	w1 = writer_writes(c);
	cr_log_info("tracked %.0f guest pages, the writer wrote %llu", sum,
		    (unsigned long long)(w1 - w0));
	cr_assert(ge(dbl, sum, (double)(w1 - w0) * 0.98), "tracked %.0f pages, the writer wrote %llu",
		  sum, (unsigned long long)(w1 - w0));
	cr_assert(le(dbl, sum, (double)(w1 - w0) * 1.02), "tracked %.0f pages, the writer wrote %llu",
		  sum, (unsigned long long)(w1 - w0));
	cr_assert(ge(dbl, sum / secs, 20000 * (1 - WRITER_PACE)), "guest rate %.0f pages/s, writer 20000",
		  sum / secs);
	cr_assert(le(dbl, sum / secs, 20000 * (1 + WRITER_PACE)), "guest rate %.0f pages/s, writer 20000",
		  sum / secs);

	/* The prediction of a migration at 1 GB/s from the measured curve. */
	p = dt_call(c, "predict", json_pack("{s:f, s:i}", "bandwidth", 1e9, "downtime_ms", 300));
	/* 20000 pages/s is 82 MB/s of dirtying: 1 GB/s outruns it */
	cr_assert(eq(int, json_is_true(json_object_get(p, "converges")) ? 1 : 0, 1),
		  "1 GB/s against 82 MB/s of dirtying predicted not to converge");
	/* the pages touched since tracking began: the writer's writes then, less
	 * the few it wrote twice and those since the last sync */
	cr_assert(lt(dbl, 0.8 * (double)(w1 - ws), num(json_object_get(p, "inputs"), "total_pages")),
		  "the writer wrote %llu pages since tracking began, %.0f touched",
		  (unsigned long long)(w1 - ws), num(json_object_get(p, "inputs"), "total_pages"));
	cr_assert(eq(sz, json_array_size(json_object_get(json_object_get(p, "inputs"), "wss")), 8));
	/* its 50 ms point: the mean of the syncs since tracking began (seconds
	 * of 50 ms syncs, the latest weighing most: about the last second), at
	 * the writer's rate as tracked over the last interval */
	w50 = json_array_get(json_object_get(json_object_get(p, "inputs"), "wss"), 0);
	cr_log_info("wss(50 ms): %.0f pages over %.1f ms, the mean of %.0f syncs",
		    num(w50, "pages"), num(w50, "span_ms"), num(w50, "syncs"));
	cr_assert(lt(dbl, 1.0, num(w50, "syncs")), "a mean, not the latest sync alone");
	cr_assert(le(dbl, num(w50, "syncs"), 20.0));
	rate50 = num(w50, "pages") / num(w50, "span_ms") * 1000;
	/* a writer on a loaded machine (ASan, CI) keeps its pace over a
	 * second, less within it: one that fell behind catches up in bursts */
	cr_assert(lt(dbl, fabs(rate50 - last), 0.25 * last),
		  "wss(50 ms) says %.0f pages/s, the last interval %.0f (all four %.0f)", rate50,
		  last, sum / secs);
	/* the per-page costs the fixed parts came from */
	cost = json_object_get(json_object_get(p, "inputs"), "cost_ns");
	cr_assert(lt(dbl, 0.0, num(cost, "populate")));
	cr_assert(lt(dbl, 0.0, num(cost, "compare")));
	json_decref(p);
	/* ... and 40 MB/s does not */
	p = dt_call(c, "predict", json_pack("{s:f, s:i}", "bandwidth", 4e7, "downtime_ms", 300));
	cr_assert(eq(int, json_is_false(json_object_get(p, "converges")) ? 1 : 0, 1),
		  "40 MB/s against 82 MB/s of dirtying predicted to converge");
	json_decref(p);
	json_decref(dt_call(c, "track-stop", NULL));
	args = json_pack("{s:f, s:i}", "bandwidth", 1e9, "downtime_ms", 300);
	rc = ctl_client_call(c, "predict", args, &ret, err, sizeof(err), 5000);
	json_decref(args);
	json_decref(ret);
	cr_assert(eq(int, rc, -EREMOTEIO), "predict without tracking should fail");
	ctl_client_close(c);
}

/* The frames the guest got back so far (status.traffic.total.rx_frames). */
static double rx_frames(struct ctl_client *c)
{
	json_t *st = dt_call(c, "status", NULL);
	double v = num(json_object_get(json_object_get(st, "traffic"), "total"), "rx_frames");

	json_decref(st);
	return v;
}

/* testpmd loops P = 4000 frames/s back. Each frame lands in one 2 KiB RX
 * buffer; buffers (--buffers compact) are used in ring order and two share a 4 KiB page, so a
 * sync period of 50 ms (200 frames) covers 100 pages, or 101 when it starts
 * on the second half of a page (every other sync, on average): expected
 * backend-log pages = frames/2 + syncs/2, with frames counted by the guest
 * (rx_frames read right after the first and the last event: a few ms of
 * misalignment is ~0.3 % of a 4 s window). The rate is kept low so that the
 * 1024-buffer RX ring takes 256 ms to wrap: a sync delayed by a loaded
 * machine (ASan, other tests) still sees every buffer page once, where at
 * 10000 frames/s a 110 ms gap would let a page be rewritten unseen between
 * two syncs. Used rings: per sync
 * each of the RX and TX used rings has its idx page plus the 1-2 pages its
 * 200 new 8-byte entries (1600 bytes) fall in, some shared: 1..3 pages per
 * ring, 2..6 per sync for the pair — at most 6 per sync always, at least 2
 * in a sync that saw frames (on a loaded machine a sync may see none, so the
 * lower bound is checked on the whole run, at one page per sync). */
Test(track, backend_rate_matches_frames, .fini = dt_fini, .timeout = 60)
{
	char tp[TS_PATH_MAX];
	double pages = 0, want = 0;
	struct ctl_client *c;
	json_t *d;

	dt_testpmd_or_skip("tp", 1, tp, sizeof(tp));
	start_run_layout(tp, "b0", "256M", "4000", "0", "30s", "split", "compact");
	c = dt_connect("b0");
	sleep(1);
	double rx0, rx1, nsyncs = 0, nused = 0;

	track_start(c, 1000, false, NULL);
	json_decref(next_dirty(c, 5000, NULL));
	rx0 = rx_frames(c);
	for (int i = 0; i < 4; i++) {
		double syncs, used;

		d = next_dirty(c, 5000, NULL);
		syncs = num(d, "syncs");
		used = rate_of(d, "used-ring", "pages");
		pages += rate_of(d, "backend-log", "pages");
		nsyncs += syncs;
		cr_log_info("interval %d: backend %.0f pages, used rings %.0f pages, %.0f syncs", i,
			    rate_of(d, "backend-log", "pages"), used, syncs);
		cr_assert(le(dbl, used, 6 * syncs), "used rings %.0f pages in %.0f syncs", used, syncs);
		nused += used;
		/* No writer: the guest side is the driver's own writes, its TX
		 * frames (as many pages as the frames take in RX buffers) and
		 * descriptor and avail pages (at most 4 per ring and sync). */
		cr_assert(le(dbl, rate_of(d, "guest-writer", "pages"),
			     rate_of(d, "backend-log", "pages") + 8 * syncs),
			  "guest %.0f pages, backend %.0f, in %.0f syncs",
			  rate_of(d, "guest-writer", "pages"), rate_of(d, "backend-log", "pages"),
			  syncs);
		json_decref(d);
	}
	rx1 = rx_frames(c);
	want = (rx1 - rx0) / 2 + nsyncs / 2;
	cr_log_info("backend %.0f pages for %.0f frames in %.0f syncs: expected %.0f (%+.2f %%)",
		    pages, rx1 - rx0, nsyncs, want, (pages / want - 1) * 100);
	cr_assert(lt(dbl, 12000.0, rx1 - rx0), "only %.0f frames in 4 s at 4000/s", rx1 - rx0);
	cr_assert(ge(dbl, nused, nsyncs), "used rings %.0f pages in %.0f syncs", nused, nsyncs);
	cr_assert(ge(dbl, pages, want * 0.97), "backend %.0f pages, expected %.0f", pages, want);
	cr_assert(le(dbl, pages, want * 1.03), "backend %.0f pages, expected %.0f", pages, want);
	ctl_client_close(c);
}

/* The pages the test backend printed as skipped ("skip-log gpa 0x..."). */
static size_t skipped_pages(const char *log, unsigned long long *out, size_t max)
{
	char line[256];
	size_t n = 0;
	FILE *f = fopen(log, "r");

	cr_assert(not(eq(ptr, f, NULL)), "no log %s", log);
	while (fgets(line, sizeof(line), f))
		if (n < max && sscanf(line, "vhm-testbe: skip-log gpa %llx", &out[n]) == 1)
			n++;
	fclose(f);
	return n;
}

static bool in_list(unsigned long long v, const unsigned long long *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == v)
			return true;
	return false;
}

/* The test backend leaves 10 % of the pages it writes unlogged (a fixed set
 * of pages, printed as it first skips each). Verify must report exactly the
 * skipped pages whose contents change (--buffers compact: the RX buffers are
 * one range per queue, "device_written"): every RX buffer page of the set
 * (each frame carries a new sequence number), none outside it. (Skipped
 * used-ring pages are written with the same entries every lap of the ring,
 * so their contents never change: nothing for a hash to see, nor for a
 * migration to lose.) */
Test(track, verify_reports_every_skipped_log, .fini = dt_fini, .timeout = 60)
{
	const char *extra[] = { "--skip-log", "10", NULL };
	char be[TS_PATH_MAX], log[TS_PATH_MAX + 8];
	unsigned long long skipped[4096], rx_lo, rx_hi;
	size_t nskip, expect = 0, i;
	struct ctl_client *c;
	json_t *d, *v, *all, *f, *rx;

	testbe("be", extra, be, sizeof(be));
	start_run_layout(be, "v0", "256M", "10000", "2000:uniform", "30s", "split", "compact");
	c = dt_connect("v0");
	d = verify_passes(c, 500, 8, 3000);
	v = json_object_get(d, "verify");
	all = json_object_get(v, "all");
	rx = json_array_get(json_object_get(v, "device_written"), 0);
	rx_lo = (unsigned long long)json_integer_value(json_object_get(rx, "gpa"));
	rx_hi = rx_lo + (unsigned long long)json_integer_value(json_object_get(rx, "bytes"));
	cr_assert(lt(dbl, 6.0, num(v, "passes")));
	cr_assert(lt(dbl, 1000.0, num(v, "changed")), "verify saw few changes: %.0f",
		  num(v, "changed"));

	snprintf(log, sizeof(log), "%s.log", be);
	nskip = skipped_pages(log, skipped, 4096);
	json_array_foreach(all, i, f) {
		unsigned long long gpa = (unsigned long long)json_integer_value(json_object_get(f, "gpa"));

		cr_assert(in_list(gpa, skipped, nskip), "verify blamed 0x%llx, which was logged", gpa);
		cr_assert(eq(str, (char *)json_string_value(json_object_get(f, "region")), "device"));
	}
	for (i = 0; i < nskip; i++) {
		bool found = false;
		size_t k;

		if (skipped[i] < rx_lo || skipped[i] >= rx_hi)
			continue;
		expect++;
		json_array_foreach(all, k, f)
			found |= (unsigned long long)json_integer_value(json_object_get(f, "gpa")) ==
				 skipped[i];
		cr_assert(found, "skipped RX buffer page 0x%llx not reported", skipped[i]);
	}
	cr_log_info("%zu pages skipped, %zu of them RX buffers; %zu pages reported", nskip, expect,
		    json_array_size(all));
	cr_assert(lt(sz, 20, expect), "only %zu skipped RX pages: the test proves little", expect);
	json_decref(d);
	ctl_client_close(c);
}

/* testpmd logs every write it makes: 30 s of traffic and page writes,
 * verify reports nothing, nor does the stop check at track-stop. */
Test(track, verify_clean_against_testpmd, .fini = dt_fini, .timeout = 120)
{
	char tp[TS_PATH_MAX];
	struct ctl_client *c;
	json_t *d, *v, *sc;
	char *dump;
	double rx0;

	dt_testpmd_or_skip("tp", 1, tp, sizeof(tp));
	start_run(tp, "c0", "256M", "20000", "5000:uniform", "60s");
	c = dt_connect("c0");
	d = verify_passes(c, 1000, 30, 5000);
	v = json_object_get(d, "verify");
	dump = json_dumps(json_object_get(d, "verify"), JSON_COMPACT);
	cr_log_info("verify: %s", dump);
	free(dump);
	cr_assert(ge(dbl, num(v, "passes"), 30.0));
	cr_assert(lt(dbl, 30000.0, num(v, "changed")), "verify saw few changes: %.0f",
		  num(v, "changed"));
	cr_assert(eq(dbl, num(v, "findings"), 0.0), "unlogged writes against testpmd: %s",
		  json_dumps(json_object_get(v, "all"), JSON_COMPACT));
	json_decref(d);
	/* The stop check stops and restarts testpmd's rings: nothing unlogged
	 * at GET_VRING_BASE's reply, and frames flow again after it. */
	rx0 = rx_frames(c);
	sc = stop_check(c);
	cr_assert(eq(sz, json_array_size(json_object_get(sc, "findings")), 0),
		  "the stop check reported pages of testpmd");
	json_decref(sc);
	sleep(1);
	cr_assert(lt(dbl, rx0 + 5000, rx_frames(c)), "frames do not flow after the stop check");
	ctl_client_close(c);
}

/* The migration's costs are kept in the run dir (mig_cost.h), and the next
 * prediction takes them: its kept per-page set-up and proof are this
 * migration's (the only one kept), to the rounding of the file. */
static void expect_costs_kept(struct ctl_client *c, const json_t *rep)
{
	const json_t *setup = json_object_get(rep, "setup"), *va = json_object_get(rep,
										    "verify_after");
	double setup_ns = num(setup, "ms") * 1e6 / num(setup, "prefaulted_pages");
	double check_ns = (num(va, "ms") - 2.0) * 1e6 / num(va, "compared_pages");
	json_t *p, *kept;
	char path[TS_PATH_MAX];

	cr_assert(le(dbl, 16384.0, num(setup, "prefaulted_pages")),
		  "a 256 MiB guest written for seconds: %.0f pages prefaulted",
		  num(setup, "prefaulted_pages"));
	cr_assert(le(dbl, 16384.0, num(va, "compared_pages")));
	snprintf(path, sizeof(path), "%s/vhm-costs.json", ts_dir());
	cr_assert(eq(int, access(path, R_OK), 0), "%s: %s", path, strerror(errno));
	p = dt_call(c, "predict", json_pack("{s:f, s:i}", "bandwidth", 1e9, "downtime_ms", 50));
	kept = json_object_get(json_object_get(json_object_get(p, "inputs"), "cost_ns"), "kept");
	cr_assert(eq(dbl, num(kept, "setup_migrations"), 1.0));
	cr_assert(eq(dbl, num(kept, "check_migrations"), 1.0));
	cr_assert(lt(dbl, fabs(num(kept, "setup") - setup_ns), 1e-6 * setup_ns + 1e-3),
		  "kept %.3f ns a page, the migration's %.3f", num(kept, "setup"), setup_ns);
	cr_assert(lt(dbl, fabs(num(kept, "check") - check_ns), 1e-6 * check_ns + 1e-3),
		  "kept %.3f ns a page, the migration's %.3f", num(kept, "check"), check_ns);
	/* the model's set-up is the kept cost of the guest's data pages */
	cr_assert(lt(dbl, fabs(num(json_object_get(p, "inputs"), "setup_ms") -
			       num(json_object_get(p, "inputs"), "total_pages") * setup_ns / 1e6),
		     0.01), "setup_ms %.3f", num(json_object_get(p, "inputs"), "setup_ms"));
	json_decref(p);
}

/* A migration while tracking: it succeeds (the copy proved, so no page was
 * lost to the tracker), its costs are kept for the next prediction, and
 * tracking goes on on the destination (backend pages keep coming), with the
 * interval that spanned it flagged. */
Test(track, migration_while_tracking, .fini = dt_fini, .timeout = 90)
{
	char src[TS_PATH_MAX], dst[TS_PATH_MAX];
	bool flagged = false;
	struct ctl_client *c;
	json_t *d, *ev = NULL, *st;
	long end;

	dt_testpmd_or_skip("tp-src", 1, src, sizeof(src));
	dt_testpmd_or_skip("tp-dst", 1, dst, sizeof(dst));
	start_run(src, "m0", "256M", "10000", "5000:uniform", "40s");
	c = dt_connect("m0");
	sleep(1);
	track_start(c, 500, false, "migration");
	json_decref(next_dirty(c, 3000, NULL));
	json_decref(dt_call(c, "migrate", json_pack("{s:s, s:i}", "to", dst, "downtime_ms", 50)));
	end = ts_now_ms() + 60000;
	while (ts_now_ms() < end) {
		json_t *e = NULL;
		const char *phase;

		if (ctl_client_next_event(c, &e, 500))
			continue;
		phase = json_string_value(json_object_get(json_object_get(e, "data"), "phase"));
		if (phase && (!strcmp(phase, "done") || !strcmp(phase, "failed") ||
				  !strcmp(phase, "cancelled"))) {
			ev = e;
			break;
		}
		if (!strcmp(json_string_value(json_object_get(e, "event")), "dirty") &&
		    json_is_true(json_object_get(json_object_get(e, "data"), "migrated")))
			flagged = true;
		json_decref(e);
	}
	cr_assert(not(eq(ptr, ev, NULL)), "the migration did not end within 60 s");
	cr_assert(eq(str, (char *)json_string_value(json_object_get(json_object_get(ev, "data"),
								 "phase")), "done"),
		  "migration: %s", json_dumps(json_object_get(ev, "data"), JSON_COMPACT));
	dt_expect_proved(json_object_get(ev, "data"));
	expect_costs_kept(c, json_object_get(ev, "data"));
	json_decref(ev);
	st = dt_call(c, "status", NULL);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "backend")), dst));
	json_decref(st);
	for (int i = 0; i < 3; i++) {
		d = next_dirty(c, 3000, NULL);
		flagged |= json_is_true(json_object_get(d, "migrated"));
		if (i == 2) {
			cr_assert(lt(dbl, 4000.0, rate_of(d, "backend-log", "pages_per_s")),
				  "no backend pages after migrating: logging is off on %s", dst);
			cr_assert(lt(dbl, 4500.0, rate_of(d, "guest-writer", "pages_per_s")));
			cr_assert(eq(ptr, json_object_get(d, "logging_off"), NULL));
		}
		json_decref(d);
	}
	cr_assert(flagged, "no interval was flagged as spanning the migration");
	ctl_client_close(c);
}

/* ---- vhm track --------------------------------------------------------------- */

struct bad_case {
	char args[4][24];
	int status;
};

static struct bad_case bad_cases[] = {
	{ { "" }, 2 },
	{ { "x", "--interval", "10ms" }, 2 },
	{ { "x", "--interval", "abc" }, 2 },
	{ { "x", "--duration", "0" }, 2 },
	{ { "x", "--csv", "--json" }, 2 },
	{ { "x", "--no-stop-check" }, 2 },
	{ { "x", "--plot", "out.jpg" }, 2 },
	{ { "x", "--frobnicate" }, 2 },
	{ { "x", "y" }, 2 },
	{ { "nosuch" }, 3 },
};

ParameterizedTestParameters(track, cli_bad_input)
{
	return cr_make_param_array(struct bad_case, bad_cases,
				   sizeof(bad_cases) / sizeof(bad_cases[0]));
}

/* Bad flags: exit 2 with one line; an unknown instance: exit 3, one line. */
ParameterizedTest(struct bad_case *bc, track, cli_bad_input, .fini = dt_fini, .timeout = 20)
{
	const char *args[10] = { "track" };
	int n = 1;

	for (int i = 0; i < 4 && bc->args[i][0]; i++)
		args[n++] = bc->args[i];
	args[n++] = "--run-dir";
	args[n++] = ts_dir();
	dt_vhm_refuses(args, bc->status, "vhm track: ");
}

/* --plot x.png draws a real PNG; --csv prints a header and one parseable
 * line of 11 numbers per interval. */
Test(track, cli_plot_png_and_csv, .fini = dt_fini, .timeout = 60)
{
	const char *extra[] = { "--loopback", NULL };
	char be[TS_PATH_MAX], bin[256], png[TS_PATH_MAX];
	const char *argv[] = { bin, "track", "p0", "--run-dir", ts_dir(), "--duration", "3s",
			       "--interval", "500ms", "--csv", "--plot", png, NULL };
	unsigned char sig[8];
	struct ts_run r;
	char *line, *save = NULL;
	int rows = 0;
	long size;
	FILE *f;

	ts_bin("vhm", bin, sizeof(bin));
	cr_assert(eq(int, ts_path("x.png", png, sizeof(png)), 0));
	testbe("be", extra, be, sizeof(be));
	start_run(be, "p0", "256M", "5000", "2000:hotset", "30s");
	cr_assert(eq(int, ts_run_cmd(argv, 20000, &r), 0));
	cr_assert(eq(int, r.status, 0), "vhm track: %s", r.err);
	for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		double v[11];
		int n;

		if (!rows++) {
			cr_assert(eq(str, line, "time_s,guest_pages_s,guest_mib_s,backend_pages_s,"
				     "backend_mib_s,used_ring_pages_s,used_ring_mib_s,total_pages_s,"
				     "total_mib_s,total_ewma_pages_s,unique_pages"));
			continue;
		}
		n = sscanf(line, "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &v[0], &v[1],
			   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10]);
		cr_assert(eq(int, n, 11), "CSV line: %s", line);
		cr_assert(le(dbl, fabs(v[7] - (v[1] + v[3] + v[5])), 0.3), "total is the sum: %s",
			  line);
		cr_assert(lt(dbl, 1000.0, v[3]), "backend pages/s with 5000 frames/s: %s", line);
	}
	cr_assert(ge(int, rows, 5), "%d CSV lines in 3 s at 500 ms", rows);
	ts_run_free(&r);

	f = fopen(png, "rb");
	cr_assert(not(eq(ptr, f, NULL)), "no %s", png);
	cr_assert(eq(sz, fread(sig, 1, 8, f), 8));
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	cr_assert(eq(int, memcmp(sig, "\x89PNG\r\n\x1a\n", 8), 0), "not a PNG signature");
	cr_assert(lt(i64, 10000, size), "PNG of %ld bytes: too small to hold two plots", size);
}

/* Each logging fault of the test backend (vhm-testbe --log-fault) is found by
 * verify, split and packed rings alike: findings, among them a page of the
 * kind the fault leaves unlogged (named as the migration's report names
 * them). The driver's own writes are marked in the guest-side bitmap, so
 * nothing is excluded from the check, packed rings included. Two faults only
 * the stop check at track-stop shows (run_stopchk.h), with its kind: "late"
 * (its marks do come, DP_LATE_MS late: while traffic runs verify's grace
 * forgives them; at the stop they come after GET_VRING_BASE's reply) and
 * "packed-desc" at 10000 frames/s (below). The
 * log marks 4 KiB pages, so a write left unlogged is invisible to any check
 * of the log when a logged write marks its page within the same pass: mrg
 * leaves the second 2 KiB buffer of a page unlogged, and at 10000 frames/s
 * the page's other buffer is logged within a 500 ms pass almost surely; with
 * 100 ms passes most continuation buffers stand alone for two passes and
 * are found. packed-desc stays at 200 frames/s: the driver rewrites each
 * descriptor page it gets back within a lap (1024 descriptors, 100 ms at
 * 10000/s), marking it itself -- at that rate only a stop can tell (the
 * stop check's window, from a snapshot just before the stop to the reply,
 * holds the page the backend is writing, which the driver, a page behind,
 * has not rewritten); docs/logtrack.md. */
struct verify_fault {
	char fault[16];
	char ring[8];
	char kind[32];
	char pps[8];
	int interval_ms;     /* verify's pass */
	char at_stop[40];    /* "": the passes find it; else the stop check, of this kind */
};

static struct verify_fault verify_faults[] = {
	{ "nothing", "split", "RX buffers", "10000", 500 },
	{ "used", "split", "used ring", "10000", 500 },
	{ "off-by-one", "split", "RX buffers", "10000", 500 },
	{ "mrg", "split", "RX buffers", "10000", 100 },
	{ "nothing", "packed", "RX buffers", "10000", 500 },
	{ "packed-desc", "packed", "packed descriptors", "200", 500 },
	{ "late", "split", "RX buffers", "10000", 500, "ms after GET_VRING_BASE's reply" },
	{ "packed-desc", "packed", "packed descriptors", "10000", 500,
	  "not logged by GET_VRING_BASE's reply" },
};

ParameterizedTestParameters(track, verify_log_faults)
{
	return cr_make_param_array(struct verify_fault, verify_faults,
				   sizeof(verify_faults) / sizeof(verify_faults[0]));
}

ParameterizedTest(struct verify_fault *vf, track, verify_log_faults, .fini = dt_fini,
		  .timeout = 60)
{
	const char *extra[] = { "--log-fault", vf->fault, NULL };
	char be[TS_PATH_MAX], *dump;
	struct ctl_client *c;
	json_t *d, *v;
	bool found;

	testbe("be", extra, be, sizeof(be));
	start_run_layout(be, "vf", "256M", vf->pps, "2000:uniform", "30s", vf->ring, "spread");
	c = dt_connect("vf");
	d = verify_passes(c, vf->interval_ms, (vf->at_stop[0] ? 1500 : 3000) / vf->interval_ms,
			  3000);
	v = json_object_get(d, "verify");
	dump = json_dumps(json_object_get(v, "all"), JSON_COMPACT);
	cr_log_info("%s/%s: %.0f findings: %.300s", vf->fault, vf->ring, num(v, "findings"), dump);
	cr_assert(lt(dbl, 2.0, num(v, "passes")));
	if (vf->at_stop[0]) {
		json_t *sc;

		/* the stop check sees what the backend writes between its snapshot
		 * and the stop: it waits for RUN_STOPCHK_WINDOW_FRAMES (a datapath
		 * stalled through the snapshot's pass under load left packed-desc
		 * nothing to find once) */
		sc = stop_check(c);
		cr_assert(le(dbl, 64.0, num(sc, "window_frames")),
			  "the stop check's window held %.0f frames", num(sc, "window_frames"));
		cr_assert(has_finding(json_object_get(sc, "findings"), vf->kind, vf->at_stop),
			  "%s/%s at %s frames/s: the stop check found no %s '%s' (%.0f frames in "
			  "its window)", vf->fault, vf->ring, vf->pps, vf->kind, vf->at_stop,
			  num(sc, "window_frames"));
		json_decref(sc);
		free(dump);
		json_decref(d);
		ctl_client_close(c);
		return;
	}
	cr_assert(lt(dbl, 4.0, num(v, "passes")));
	cr_assert(lt(dbl, 0.0, num(v, "findings")), "%s/%s: verify found nothing", vf->fault,
		  vf->ring);
	found = has_finding(json_object_get(v, "all"), vf->kind, NULL);
	cr_assert(found, "%s/%s: no finding of kind '%s': %s", vf->fault, vf->ring, vf->kind, dump);
	free(dump);
	json_decref(d);
	ctl_client_close(c);
}

/* The clean test backend (no fault), split and packed: neither verify's
 * passes nor the stop check at track-stop report anything, and the stop
 * check loses and duplicates no frame (the rings restart from their bases,
 * as a migration's rollback restarts its source): frames flow after it, and
 * what went out came back once. */
struct clean_case {
	char ring[8];
};

static struct clean_case clean_cases[] = { { "split" }, { "packed" } };

ParameterizedTestParameters(track, verify_stop_check_clean)
{
	return cr_make_param_array(struct clean_case, clean_cases,
				   sizeof(clean_cases) / sizeof(clean_cases[0]));
}

static json_t *totals(struct ctl_client *c)
{
	json_t *st = dt_call(c, "status", NULL);
	json_t *t = json_incref(json_object_get(json_object_get(st, "traffic"), "total"));

	json_decref(st);
	return t;
}

ParameterizedTest(struct clean_case *cc, track, verify_stop_check_clean, .fini = dt_fini,
		  .timeout = 60)
{
	const char *extra[] = { "--loopback", NULL };
	char be[TS_PATH_MAX];
	struct ctl_client *c;
	json_t *d, *sc, *t0, *t1;
	double rx0;

	testbe("be", extra, be, sizeof(be));
	start_run_layout(be, "vc", "256M", "10000", "2000:uniform", "30s", cc->ring, "spread");
	c = dt_connect("vc");
	d = verify_passes(c, 500, 3, 3000);
	cr_assert(eq(dbl, num(json_object_get(d, "verify"), "findings"), 0.0),
		  "%s: verify's passes found unlogged pages on a clean backend", cc->ring);
	rx0 = rx_frames(c);
	sc = stop_check(c);
	cr_assert(eq(sz, json_array_size(json_object_get(sc, "findings")), 0),
		  "%s: the stop check reported pages of a clean backend", cc->ring);
	cr_log_info("%s: rings stopped %.1f ms, quiesce %.1f ms", cc->ring, num(sc, "stopped_ms"),
		    num(sc, "quiesce_ms"));
	usleep(500 * 1000);
	t0 = totals(c);
	cr_assert(lt(dbl, rx0 + 2500, num(t0, "rx_frames")),
		  "%s: frames do not flow after the stop check (%.0f, then %.0f)", cc->ring, rx0,
		  num(t0, "rx_frames"));
	json_decref(dt_call(c, "set-traffic", json_pack("{s:i}", "pps", 0)));
	usleep(300 * 1000);
	t1 = totals(c);
	cr_assert(eq(dbl, num(t1, "rx_lost"), 0.0), "%s: frames lost", cc->ring);
	cr_assert(eq(dbl, num(t1, "rx_dup"), 0.0), "%s: frames duplicated", cc->ring);
	cr_assert(eq(dbl, num(t1, "rx_frames"), num(t1, "tx_frames")),
		  "%s: %.0f frames sent, %.0f back", cc->ring, num(t1, "tx_frames"),
		  num(t1, "rx_frames"));
	json_decref(t0);
	json_decref(t1);
	json_decref(sc);
	json_decref(d);
	ctl_client_close(c);
}

/* `vhm track --verify` reports the stop check at its duration's end: against
 * the "late" backend its JSON summary holds pages logged after
 * GET_VRING_BASE's reply; --no-stop-check leaves the stop out. */
Test(track, cli_verify_stop_check, .fini = dt_fini, .timeout = 60)
{
	const char *extra[] = { "--log-fault", "late", NULL };
	char be[TS_PATH_MAX], bin[256];
	const char *argv[] = { bin, "track", "vl", "--run-dir", ts_dir(), "--duration", "1s",
			       "--interval", "500ms", "--verify", "--json", NULL, NULL };
	json_t *sum = NULL, *sc;
	struct ts_run r;
	char *line, *save = NULL;

	ts_bin("vhm", bin, sizeof(bin));
	testbe("be", extra, be, sizeof(be));
	start_run_layout(be, "vl", "256M", "10000", "0", "30s", "split", "spread");
	dt_wait_ctl("vl");
	for (int k = 0; k < 2; k++) {
		argv[11] = k ? "--no-stop-check" : NULL;
		cr_assert(eq(int, ts_run_cmd(argv, 20000, &r), 0));
		cr_assert(eq(int, r.status, 0), "vhm track: %s", r.err);
		for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			if (strstr(line, "\"summary\"")) {
				json_decref(sum);
				sum = json_loads(line, 0, NULL);
			}
		cr_assert(sum != NULL, "no summary line: %.300s", r.out);
		sc = json_object_get(json_object_get(json_object_get(sum, "summary"), "verify"),
				     "stop_check");
		if (k) {
			cr_assert(sc == NULL, "--no-stop-check: a stop check ran");
		} else {
			cr_assert(sc != NULL, "no stop_check in the summary");
			cr_assert(has_finding(json_object_get(sc, "findings"), "",
					      "ms after GET_VRING_BASE's reply"),
				  "late: the stop check found no late mark");
		}
		json_decref(sum);
		sum = NULL;
		ts_run_free(&r);
	}
}
