/* SPDX-License-Identifier: MIT */
/* `vhm track`, the client. The device does the measuring (run_track.c);
 * this only asks, prints and plots. */
#include "cmd_track.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctl.h"
#include "track_plot.h"
#include "util.h"

#define TRACK_CALL_MS     10000
#define TRACK_WAIT_STEP   200      /* ms: how often Ctrl-C is noticed */
#define TRACK_NWSS        16

enum track_fmt { FMT_TEXT, FMT_CSV, FMT_JSON };

struct track_opts {
	const char *target, *run_dir, *plot;
	uint64_t interval_ms, duration_ms;
	enum track_fmt fmt;
	bool verify;
	bool no_stop_check;
};

/* The time series, one row per interval (pages/s). */
struct series {
	size_t n, cap;
	double *t, *guest, *backend, *used, *total, *ewma, *unique;
	double sum_dt_ms, sum_pages[4];     /* guest, backend, used, total */
};

static volatile sig_atomic_t track_signal;

static void on_signal(int sig)
{
	track_signal = sig;
}

static int parse(int argc, char **argv, struct track_opts *o)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'D' },
		{ "csv", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "verify", no_argument, NULL, 'v' },
		{ "no-stop-check", no_argument, NULL, 'S' },
		{ "plot", required_argument, NULL, 'p' },
		{ "run-dir", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct vhm_cli p = { .cmd = "track", .shortopts = "", .longopts = opts };
	bool csv = false, json = false;
	int c;

	*o = (struct track_opts){ .interval_ms = 1000, .duration_ms = 30000 };
	while ((c = vhm_cli_next(&p, argc, argv)) > 0) {
		switch (c) {
		case 'i':
			if (vhm_parse_duration_ms(optarg, &o->interval_ms) || o->interval_ms < 50 ||
			    o->interval_ms > 3600000)
				return vhm_usage_error("track", "--interval '%s': expected 50ms..1h",
						       optarg);
			break;
		case 'D':
			if (vhm_parse_duration_ms(optarg, &o->duration_ms) || !o->duration_ms)
				return vhm_usage_error("track", "--duration '%s': expected a duration "
						       "like 30s", optarg);
			break;
		case 'c': csv = true; break;
		case 'j': json = true; break;
		case 'v': o->verify = true; break;
		case 'S': o->no_stop_check = true; break;
		case 'p':
			if (track_plot_check_path(optarg))
				return vhm_usage_error("track", "--plot '%s': expected FILE.png or "
						       "FILE.svg, no quotes", optarg);
			o->plot = optarg;
			break;
		case 'R': o->run_dir = optarg; break;
		}
	}
	if (c != VHM_CLI_END)
		return c;
	if (csv && json)
		return vhm_usage_error("track", "--csv and --json exclude each other");
	if (o->no_stop_check && !o->verify)
		return vhm_usage_error("track", "--no-stop-check goes with --verify");
	o->fmt = csv ? FMT_CSV : json ? FMT_JSON : FMT_TEXT;
	if (optind != argc - 1)
		return vhm_usage_error("track", optind >= argc ? "expected an instance NAME or SOCKET"
							       : "expected one instance, got '%s' too",
				       optind + 1 < argc ? argv[optind + 1] : "");
	o->target = argv[optind];
	o->run_dir = vhm_run_dir(o->run_dir);
	return 0;
}

/* ---- the series -------------------------------------------------------------- */

static int series_add(struct series *s, const double row[7])
{
	double **cols[7] = { &s->t, &s->guest, &s->backend, &s->used, &s->total, &s->ewma,
			     &s->unique };

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;

		for (int k = 0; k < 7; k++) {
			double *p = realloc(*cols[k], cap * sizeof(double));

			if (!p)
				return -ENOMEM;
			*cols[k] = p;
		}
		s->cap = cap;
	}
	for (int k = 0; k < 7; k++)
		(*cols[k])[s->n] = row[k];
	s->n++;
	return 0;
}

static void series_free(struct series *s)
{
	free(s->t), free(s->guest), free(s->backend), free(s->used);
	free(s->total), free(s->ewma), free(s->unique);
}

static const json_t *rate(const json_t *data, const char *src)
{
	return json_object_get(json_object_get(data, "rates"), src);
}

static double num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

static const char *const sources[4] = { "guest-writer", "backend-log", "used-ring", "total" };

/* ---- printing ------------------------------------------------------------------ */

static void print_header(enum track_fmt fmt)
{
	if (fmt == FMT_CSV)
		printf("time_s,guest_pages_s,guest_mib_s,backend_pages_s,backend_mib_s,"
		       "used_ring_pages_s,used_ring_mib_s,total_pages_s,total_mib_s,"
		       "total_ewma_pages_s,unique_pages\n");
	else if (fmt == FMT_TEXT)
		printf("%8s %19s %19s %17s %19s %10s %9s\n", "time_s", "guest pg/s  MiB/s",
		       "backend pg/s  MiB/s", "used pg/s  MiB/s", "total pg/s  MiB/s",
		       "ewma pg/s", "unique");
}

static void print_row(enum track_fmt fmt, const json_t *data)
{
	double t = num(data, "t_s"), u = num(data, "unique_pages");
	double ewma = num(rate(data, "total"), "ewma_pages_per_s");

	if (fmt == FMT_JSON) {
		json_dumpf(data, stdout, JSON_COMPACT);
		putchar('\n');
	} else if (fmt == FMT_CSV) {
		printf("%.3f", t);
		for (int k = 0; k < 4; k++)
			printf(",%.1f,%.3f", num(rate(data, sources[k]), "pages_per_s"),
			       num(rate(data, sources[k]), "mib_per_s"));
		printf(",%.1f,%.0f\n", ewma, u);
	} else {
		printf("%8.2f", t);
		for (int k = 0; k < 4; k++)
			printf(" %11.0f %7.2f", num(rate(data, sources[k]), "pages_per_s"),
			       num(rate(data, sources[k]), "mib_per_s"));
		printf(" %10.0f %9.0f\n", ewma, u);
	}
	fflush(stdout);
}

static void record(struct series *s, const json_t *data)
{
	double row[7] = { num(data, "t_s"), 0, 0, 0, 0,
			  num(rate(data, "total"), "ewma_pages_per_s"), num(data, "unique_pages") };

	for (int k = 0; k < 4; k++) {
		row[1 + k] = num(rate(data, sources[k]), "pages_per_s");
		s->sum_pages[k] += num(rate(data, sources[k]), "pages");
	}
	s->sum_dt_ms += num(data, "interval_ms");
	series_add(s, row);
}

/* The summary as JSON (new reference): averages over the series, and the
 * last `dirty` reply's curve, heat and verify. */
static json_t *summary_json(const struct series *s, const json_t *last, const json_t *stop)
{
	json_t *avg = json_object(), *v = json_deep_copy(json_object_get(last, "verify"));
	double secs = s->sum_dt_ms / 1000.0;

	for (int k = 0; k < 4; k++) {
		double pps = secs > 0 ? s->sum_pages[k] / secs : 0;

		json_object_set_new(avg, sources[k], json_pack("{s:f, s:f}", "pages_per_s", pps,
							       "mib_per_s", pps / 256.0));
	}
	if (v && json_object_get(stop, "stop_check"))
		json_object_set(v, "stop_check", json_object_get(stop, "stop_check"));
	if (v) {
		json_object_del(v, "new");
		json_object_del(v, "excluded");
		json_object_del(v, "device_written");
	}
	return json_pack("{s:I, s:f, s:o, s:O, s:O, s:o}", "intervals", (json_int_t)s->n,
			 "seconds", secs, "average", avg,
			 "wss", json_object_get(last, "wss") ? json_object_get(last, "wss") : json_null(),
			 "heat", json_object_get(last, "heat") ? json_object_get(last, "heat") : json_null(),
			 "verify", v ? v : json_null());
}

/* The stop check's line, and one line per page it found. */
static void print_stop_check(FILE *out, const json_t *sc)
{
	const json_t *e;
	size_t i;

	if (!sc)
		return;
	if (!json_is_true(json_object_get(sc, "ran"))) {
		fprintf(out, "  stop check: not run: %s\n",
			json_string_value(json_object_get(sc, "why")) ?:
			json_string_value(json_object_get(sc, "error")) ?: "?");
		return;
	}
	fprintf(out, "  stop check: %.0f frames back in its window, rings stopped %.1f ms "
		"(quiesce %.1f ms), %zu pages changed and unlogged at GET_VRING_BASE's reply\n",
		num(sc, "window_frames"), num(sc, "stopped_ms"), num(sc, "quiesce_ms"),
		json_array_size(json_object_get(sc, "findings")));
	json_array_foreach(json_object_get(sc, "findings"), i, e)
		fprintf(out, "    gpa 0x%09llx %-28s %s\n",
			(unsigned long long)json_integer_value(json_object_get(e, "gpa")),
			json_string_value(json_object_get(e, "what")),
			json_string_value(json_object_get(e, "kind")));
}

static void print_summary(FILE *out, const char *name, const json_t *sum)
{
	const json_t *avg = json_object_get(sum, "average"), *v = json_object_get(sum, "verify");
	const json_t *e;
	size_t i;

	fprintf(out, "\nsummary of %s: %d intervals, %.1f s\n", name,
		(int)json_integer_value(json_object_get(sum, "intervals")), num(sum, "seconds"));
	fprintf(out, "  average (pages/s, MiB/s):\n");
	for (int k = 0; k < 4; k++)
		fprintf(out, "    %-13s %11.0f %9.2f\n", sources[k],
			num(json_object_get(avg, sources[k]), "pages_per_s"),
			num(json_object_get(avg, sources[k]), "mib_per_s"));
	fprintf(out, "  working set (distinct pages dirtied in the last window):\n");
	json_array_foreach(json_object_get(sum, "wss"), i, e)
		fprintf(out, "    %7.0f ms %11.0f pages %9.1f MiB\n", num(e, "window_ms"),
			num(e, "pages"), num(e, "pages") / 256.0);
	fprintf(out, "  hottest 2 MiB blocks (page-dirtyings since tracking began):\n");
	json_array_foreach(json_object_get(sum, "heat"), i, e)
		fprintf(out, "    gpa 0x%09llx %11.0f\n",
			(unsigned long long)json_integer_value(json_object_get(e, "gpa")),
			num(e, "count"));
	if (!json_is_true(json_object_get(v, "enabled"))) {
		fprintf(out, "  verify: off\n");
		return;
	}
	fprintf(out, "  verify (%s): %.0f passes, %.0f pages hashed, %.0f changed; "
		"%.0f unlogged changes on %zu pages\n",
		json_string_value(json_object_get(v, "hash")), num(v, "passes"),
		num(v, "pages_hashed"), num(v, "changed"), num(v, "findings"),
		json_array_size(json_object_get(v, "all")));
	json_array_foreach(json_object_get(v, "all"), i, e)
		fprintf(out, "    gpa 0x%09llx %-8s %4.0f times, %.1f..%.1f s\n",
			(unsigned long long)json_integer_value(json_object_get(e, "gpa")),
			json_string_value(json_object_get(e, "region")), num(e, "count"),
			num(e, "first_t_s"), num(e, "last_t_s"));
	print_stop_check(out, json_object_get(v, "stop_check"));
}

static int plot(const struct track_opts *o, const struct series *s, const json_t *last)
{
	const json_t *wss = json_object_get(last, "wss"), *e;
	double wms[TRACK_NWSS], wp[TRACK_NWSS];
	struct track_plot_series ps = { s->n, s->t, s->guest, s->backend, s->used, s->total,
					s->ewma };
	struct track_plot_wss pw = { 0, wms, wp };
	char title[160], err[256];
	size_t i;

	json_array_foreach(wss, i, e)
		if (pw.n < TRACK_NWSS) {
			wms[pw.n] = num(e, "window_ms");
			wp[pw.n++] = num(e, "pages");
		}
	snprintf(title, sizeof(title), "vhm track %s", o->target);
	if (track_plot(o->plot, title, &ps, &pw, err, sizeof(err))) {
		fprintf(stderr, "vhm track: --plot %s: %s\n", o->plot, err);
		return VHM_EXIT_FAIL;
	}
	return VHM_EXIT_OK;
}

/* ---- the session ------------------------------------------------------------------ */

static int call(struct ctl_client *c, const char *cmd, json_t *args, json_t **ret)
{
	char err[256];
	int rc = ctl_client_call(c, cmd, args, ret, err, sizeof(err), TRACK_CALL_MS);

	if (rc)
		fprintf(stderr, "vhm track: %s: %s\n", cmd, err);
	return rc;
}

/* Events until the duration is over or a signal came. */
static int follow(struct ctl_client *c, const struct track_opts *o, struct series *s)
{
	uint64_t end = vhm_now_ns() + o->duration_ms * 1000000ull;

	while (!track_signal) {
		uint64_t now = vhm_now_ns();
		json_t *ev;
		int rc, wait;

		if (now >= end)
			break;
		wait = (int)((end - now) / 1000000ull) + 1;
		rc = ctl_client_next_event(c, &ev, wait < TRACK_WAIT_STEP ? wait : TRACK_WAIT_STEP);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc) {
			fprintf(stderr, "vhm track: %s: connection lost\n", o->target);
			return rc;
		}
		if (!strcmp(json_string_value(json_object_get(ev, "event")) ?: "", "dirty")) {
			print_row(o->fmt, json_object_get(ev, "data"));
			record(s, json_object_get(ev, "data"));
		}
		json_decref(ev);
	}
	return 0;
}

int cmd_track(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct series s = { 0 };
	struct track_opts o;
	struct ctl_client *c = NULL;
	json_t *args, *ret = NULL, *last = NULL, *sum;
	char err[256];
	int rc;

	if ((rc = parse(argc, argv, &o)))
		return vhm_cli_status(rc);
	if (ctl_client_open(&c, o.run_dir, o.target, 5000, err, sizeof(err))) {
		fprintf(stderr, "vhm track: no instance %s in %s: %s\n", o.target, o.run_dir, err);
		return VHM_EXIT_PEER;
	}
	args = json_pack("{s:[s]}", "events", "dirty");
	rc = call(c, "subscribe", args, &ret);
	json_decref(args);
	json_decref(ret);
	if (rc)
		goto out_peer;
	args = json_pack("{s:I, s:b, s:b}", "interval_ms", (json_int_t)o.interval_ms, "verify",
			 o.verify, "stop_check", !o.no_stop_check);
	rc = call(c, "track-start", args, &ret);
	json_decref(args);
	if (rc)
		goto out_peer;
	if ((uint64_t)json_integer_value(json_object_get(ret, "interval_ms")) != o.interval_ms)
		fprintf(stderr, "vhm track: %s is already tracked every %lld ms; using that\n",
			o.target, (long long)json_integer_value(json_object_get(ret, "interval_ms")));
	json_decref(ret);
	ret = NULL;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	print_header(o.fmt);
	rc = follow(c, &o, &s);
	if (!rc)
		rc = call(c, "dirty", NULL, &last);
	if (!rc)
		rc = call(c, "track-stop", NULL, &ret);
	if (rc)
		goto out_peer;
	sum = summary_json(&s, last, ret);
	if (o.fmt == FMT_JSON) {
		json_t *w = json_pack("{s:O}", "summary", sum);

		json_dumpf(w, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(w);
	} else {
		print_summary(o.fmt == FMT_CSV ? stderr : stdout, o.target, sum);
	}
	json_decref(sum);
	json_decref(ret);
	rc = o.plot ? plot(&o, &s, last) : VHM_EXIT_OK;
	json_decref(last);
	ctl_client_close(c);
	series_free(&s);
	return rc;
out_peer:
	json_decref(last);
	ctl_client_close(c);
	series_free(&s);
	return rc == -EREMOTEIO ? VHM_EXIT_FAIL : VHM_EXIT_PEER;
}
