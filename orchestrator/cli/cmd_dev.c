/* SPDX-License-Identifier: MIT */
/* `vhm jobinfo`, `vhm events`, `vhm set`, `vhm predict`, `vhm call` and
 * `vhm dirty-rate`: each parses its command line, opens one control socket
 * (cmd_ctl_open), runs one or two commands and prints. What the commands do
 * is the device's (runner.c) or the libvirt watcher's (lvd_daemon.c); the
 * migration's texts are mig_print's. Read parse_operands() first: every
 * command's operands go through it. */
#include "cmd_dev.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cmd_run.h"
#include "ctl.h"
#include "mig_print.h"
#include "netdrv.h"
#include "util.h"

#define DEV_TIMEOUT_MS 5000
#define EVENTS_MAX 16             /* --event given this often at most */
#define DIRTY_GRACE_MS 15000      /* past --seconds: the watcher's uprobes, then libvirt's
				   * 10 s (LVD_DIRTY_GRACE_S) to report */

#define OPT_RUN_DIR { "run-dir", required_argument, NULL, 'd' }
#define OPT_JSON { "json", no_argument, NULL, 'j' }
#define OPT_TIMEOUT { "timeout", required_argument, NULL, 't' }
#define OPT_END { NULL, 0, NULL, 0 }

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* The operands after the options: NAME, then up to `more` others into
 * rest[] (*nrest of them, at least `need`). 0 or VHM_EXIT_USAGE. */
static int parse_operands(struct ctl_opts *o, int argc, char **argv, const char *what,
			  int need, int more, char **rest, int *nrest)
{
	o->run_dir = vhm_run_dir(o->run_dir);
	if (optind >= argc)
		return vhm_usage_error(o->cmd, "%s is required", what);
	o->name = argv[optind++];
	if (!*o->name)
		return vhm_usage_error(o->cmd, "%s is empty", what);
	*nrest = 0;
	while (optind < argc && *nrest < more)
		rest[(*nrest)++] = argv[optind++];
	if (optind < argc)
		return vhm_usage_error(o->cmd, "unexpected argument '%s'", argv[optind]);
	if (*nrest < need)
		return vhm_usage_error(o->cmd, "expected %d more argument%s after %s", need,
				       need > 1 ? "s" : "", what);
	return 0;
}

/* A command's own options, one at a time (optarg set): 0 or VHM_EXIT_USAGE. */
typedef int (*own_opt_fn)(void *ctx, int c);

/* The options: --run-dir, --json and --timeout (cmd_ctl_opt), the rest
 * through own (may be NULL when there is no other). 0 to go on, or what
 * vhm_cli_status() turns into the exit status. */
static int parse_options(struct ctl_opts *o, struct vhm_cli *p, int argc, char **argv,
			 own_opt_fn own, void *ctx)
{
	int c, rc;

	while ((c = vhm_cli_next(p, argc, argv)) > 0) {
		rc = c == 'd' || c == 'j' || c == 't' || !own ? cmd_ctl_opt(o, c) : own(ctx, c);
		if (rc)
			return rc;
	}
	return c == VHM_CLI_END ? 0 : c;
}

/* Connect, call cmd with args (borrowed), and keep the reply in *ret. */
static int open_and_call(struct ctl_opts *o, struct ctl_client **c, const char *cmd,
			 json_t *args, json_t **ret)
{
	char err[512];
	int rc = cmd_ctl_open(o, c);

	if (rc)
		return rc;
	rc = ctl_client_call(*c, cmd, args, ret, err, sizeof(err), (int)o->timeout_ms);
	return rc ? cmd_ctl_failed(o, rc, err) : VHM_EXIT_OK;
}

/* ---- jobinfo ---- */

static double num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

/* virsh's job type for QMP's status. */
static const char *job_type(const char *status)
{
	static const struct { const char *status, *type; } types[] = {
		{ "none", "None" }, { "completed", "Completed" }, { "failed", "Failed" },
		{ "cancelled", "Cancelled" },
	};

	for (size_t i = 0; i < VHM_ARRAY_SIZE(types); i++)
		if (!strcmp(status, types[i].status))
			return types[i].type;
	return "Unbounded";
}

static void print_bytes_line(const char *label, double bytes, const char *suffix)
{
	char b[24];

	vhm_format_bytes(bytes, b, sizeof(b));
	printf("%-19s%s%s\n", label, b, suffix);
}

/* A stream destination's figures (progress.stream while it runs, the
 * report's once over): bytes on the wire, their rate, the connections. */
static void print_stream(const json_t *st)
{
	char b[24];
	double n = num(st, "connections");

	if (!json_is_object(st))
		return;
	vhm_format_bytes(num(st, "bytes"), b, sizeof(b));
	printf("%-19s%s on the wire, %.1f MiB/s, %.0f connection%s\n", "Stream sent:", b,
	       num(st, "rate_mib_s"), n, n == 1 ? "" : "s");
}

/* migrate-status as domjobinfo prints a job. */
static void print_jobinfo(const json_t *st)
{
	const char *status = json_string_value(json_object_get(st, "status"));
	const json_t *pr = json_object_get(st, "progress"), *last = json_object_get(st, "last");
	bool active = json_is_true(json_object_get(st, "active"));

	status = status ? status : "none";
	printf("%-19s%s\n", "Job type:", job_type(status));
	if (!strcmp(status, "none"))
		return;
	printf("%-19s%s (phase %s)\n", "Status:", status,
	       json_string_value(json_object_get(st, "phase")) ?: "?");
	printf("%-19s%s\n", "Destination:",
	       json_string_value(json_object_get(st, "destination")) ?: "?");
	if (json_is_object(pr)) {
		printf("%-19s%.0f ms\n", "Time elapsed:", !active && json_is_object(last) ?
		       num(last, "total_ms") : num(pr, "elapsed_ms"));
		printf("%-19s%.0f ms\n", "Setup time:", num(pr, "setup_ms"));
		printf("%-19s%.0f\n", "Pass:", num(pr, "pass"));
		print_bytes_line("Data processed:", num(pr, "sent_bytes"), "");
		print_bytes_line("Data remaining:", num(pr, "remaining_bytes"), "");
		print_bytes_line("Data total:", num(pr, "total_bytes"), "");
		print_bytes_line("Memory bandwidth:", num(pr, "rate_bytes_per_s"), "/s");
		printf("%-19s%.0f pages/s\n", "Dirty rate:", num(pr, "dirty_pages_per_s"));
		if (active)
			printf("%-19s%.0f ms\n", "Expected downtime:", num(pr, "expected_downtime_ms"));
		if (active)
			print_stream(json_object_get(pr, "stream"));
	}
	if (active || !json_is_object(last))
		return;
	if (!strcmp(status, "completed"))
		printf("%-19s%.1f ms\n", "Downtime:", num(json_object_get(last, "downtime"), "ms"));
	print_stream(json_object_get(last, "stream"));
	printf("%-19s%s\n", "Result:", json_string_value(json_object_get(last, "result")) ?: "?");
}

int cmd_jobinfo(int argc, char **argv)
{
	static const struct option opts[] = { OPT_RUN_DIR, OPT_JSON, OPT_TIMEOUT, OPT_END };
	struct ctl_opts o = { .cmd = "jobinfo", .timeout_ms = DEV_TIMEOUT_MS };
	struct vhm_cli p = { .cmd = "jobinfo", .shortopts = "d:jt:", .longopts = opts };
	struct ctl_client *c = NULL;
	json_t *ret = NULL;
	int rc, n;

	if ((rc = parse_options(&o, &p, argc, argv, NULL, NULL)))
		return vhm_cli_status(rc);
	if ((rc = parse_operands(&o, argc, argv, "NAME", 0, 0, NULL, &n)))
		return rc;
	rc = open_and_call(&o, &c, o.json ? "query-migrate" : "migrate-status", NULL, &ret);
	if (!rc && o.json)
		cmd_ctl_print_json(stdout, ret);
	else if (!rc)
		print_jobinfo(ret);
	json_decref(ret);
	ctl_client_close(c);
	return rc;
}

/* ---- events ---- */

struct events_opts {
	const char *only[EVENTS_MAX];
	int nonly;
};

static int events_opt(void *ctx, int c)
{
	struct events_opts *e = ctx;

	if (c != 'e')
		return 0;
	if (e->nonly == EVENTS_MAX)
		return vhm_usage_error("events", "--event given more than %d times", EVENTS_MAX);
	e->only[e->nonly++] = optarg;
	return 0;
}

/* "HH:MM:SS.mmm" of the event's wall-clock timestamp. */
static void event_time(const json_t *ev, char *out, size_t len)
{
	const json_t *ts = json_object_get(ev, "timestamp");
	time_t s = (time_t)json_integer_value(json_object_get(ts, "seconds"));
	long us = (long)json_integer_value(json_object_get(ts, "microseconds"));
	struct tm tm;
	char hms[16];

	localtime_r(&s, &tm);
	strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
	snprintf(out, len, "%s.%03ld", hms, us / 1000);
}

/* One line: time, event name, what it says (a migration's and its
 * progress as mig_print says them, anything else as compact JSON). */
static void print_event_line(const json_t *ev, bool json)
{
	const char *name = json_string_value(json_object_get(ev, "event"));
	const json_t *data = json_object_get(ev, "data");
	char when[24], line[512], *s = NULL;

	if (json) {
		cmd_ctl_print_json(stdout, ev);
	} else if (name && !strcmp(name, "migration")) {
		event_time(ev, when, sizeof(when));
		migp_event_text(data, line, sizeof(line));
		printf("%s %-10s %s\n", when, name, line);
	} else if (name && !strcmp(name, "migration-progress")) {
		event_time(ev, when, sizeof(when));
		migp_progress_text(json_object_get(data, "progress"), line, sizeof(line));
		printf("%s %-10s %s\n", when, name, line);
	} else {
		event_time(ev, when, sizeof(when));
		s = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
		printf("%s %-10s %s\n", when, name ? name : "?", s ? s : "");
		free(s);
	}
	fflush(stdout);
}

static int subscribe(struct ctl_opts *o, struct ctl_client *c, const struct events_opts *e)
{
	json_t *args = NULL, *ret = NULL;
	char err[512];
	int rc;

	if (e->nonly) {
		args = json_pack("{s:[]}", "events");
		for (int i = 0; i < e->nonly; i++)
			json_array_append_new(json_object_get(args, "events"),
					      json_string(e->only[i]));
	}
	rc = ctl_client_call(c, "subscribe", args, &ret, err, sizeof(err), DEV_TIMEOUT_MS);
	json_decref(args);
	json_decref(ret);
	return rc ? cmd_ctl_failed(o, rc, err) : 0;
}

/* Until Ctrl-C, the end of follow_ms (0: none) or the instance's. */
static int follow_events(struct ctl_opts *o, struct ctl_client *c, uint64_t follow_ms)
{
	uint64_t end = follow_ms ? vhm_now_ns() + follow_ms * 1000000ull : 0;

	while (!interrupted && (!end || vhm_now_ns() < end)) {
		json_t *ev = NULL;
		int rc = ctl_client_next_event(c, &ev, 200);

		if (rc == -ETIMEDOUT)
			continue;
		if (rc) {
			fprintf(stderr, "vhm events: %s closed the connection\n", o->name);
			return VHM_EXIT_OK;
		}
		print_event_line(ev, o->json);
		json_decref(ev);
	}
	return VHM_EXIT_OK;
}

int cmd_events(int argc, char **argv)
{
	static const struct option opts[] = {
		OPT_RUN_DIR, OPT_JSON, OPT_TIMEOUT, { "event", required_argument, NULL, 'e' },
		OPT_END,
	};
	struct ctl_opts o = { .cmd = "events" };
	struct vhm_cli p = { .cmd = "events", .shortopts = "d:jt:e:", .longopts = opts };
	struct sigaction sa = { .sa_handler = on_sigint };
	struct events_opts e = { .nonly = 0 };
	struct ctl_client *c = NULL;
	uint64_t follow_ms;
	int rc, n;

	if ((rc = parse_options(&o, &p, argc, argv, events_opt, &e)))
		return vhm_cli_status(rc);
	if ((rc = parse_operands(&o, argc, argv, "NAME", 0, 0, NULL, &n)))
		return rc;
	follow_ms = o.timeout_ms;           /* --timeout: how long to follow */
	o.timeout_ms = DEV_TIMEOUT_MS;
	if ((rc = cmd_ctl_open(&o, &c)))
		return rc;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = subscribe(&o, c, &e);
	if (!rc)
		rc = follow_events(&o, c, follow_ms);
	ctl_client_close(c);
	return rc;
}

/* ---- set ---- */

/* What `vhm set` sends: set-traffic and/or set-dirty arguments. */
struct set_opts {
	json_t *traffic, *dirty;
};

static int set_opt(void *ctx, int c)
{
	struct set_opts *s = ctx;
	enum gw_pattern pat = GW_UNIFORM;
	uint64_t n;
	uint32_t size = 0;

	if (c == 'T') {
		if (cmd_run_parse_traffic(optarg, &n, &size))
			return vhm_usage_error("set", "--traffic '%s': expected PPS[:SIZE], PPS up to "
					       "10000000, SIZE %d..%d", optarg, ND_MIN_FRAME,
					       ND_MAX_FRAME);
		json_decref(s->traffic);
		s->traffic = json_pack("{s:I}", "pps", (json_int_t)n);
		if (strchr(optarg, ':'))
			json_object_set_new(s->traffic, "size", json_integer(size));
	} else if (c == 'D') {
		if (cmd_run_parse_dirty(optarg, &n, &pat))
			return vhm_usage_error("set", "--dirty '%s': expected PAGES_PER_S[:PATTERN], "
					       "up to 100000000, PATTERN uniform, hotset or "
					       "sequential", optarg);
		json_decref(s->dirty);
		s->dirty = json_pack("{s:I}", "rate", (json_int_t)n);
		if (strchr(optarg, ':'))
			json_object_set_new(s->dirty, "pattern", json_string(gw_pattern_name(pat)));
	}
	return 0;
}

/* One set-* command; its reply goes into out under key. */
static int set_one(struct ctl_opts *o, struct ctl_client *c, const char *cmd, json_t *args,
		   json_t *out, const char *key)
{
	json_t *ret = NULL;
	char err[512];
	int rc;

	if (!args)
		return 0;
	rc = ctl_client_call(c, cmd, args, &ret, err, sizeof(err), (int)o->timeout_ms);
	if (rc)
		return cmd_ctl_failed(o, rc, err);
	json_object_set_new(out, key, ret);
	return 0;
}

static void print_set(const json_t *out)
{
	const json_t *t = json_object_get(out, "traffic"), *d = json_object_get(out, "dirty");

	if (t)
		printf("traffic: %.0f frames/s of %.0f bytes\n", num(t, "pps"), num(t, "size"));
	if (d)
		printf("dirty: %.0f page writes/s, %s\n", num(d, "rate"),
		       json_string_value(json_object_get(d, "pattern")) ?: "?");
}

int cmd_set(int argc, char **argv)
{
	static const struct option opts[] = {
		OPT_RUN_DIR, OPT_JSON, OPT_TIMEOUT, { "traffic", required_argument, NULL, 'T' },
		{ "dirty", required_argument, NULL, 'D' }, OPT_END,
	};
	struct ctl_opts o = { .cmd = "set", .timeout_ms = DEV_TIMEOUT_MS };
	struct vhm_cli p = { .cmd = "set", .shortopts = "d:jt:T:D:", .longopts = opts };
	struct set_opts s = { NULL, NULL };
	struct ctl_client *c = NULL;
	json_t *out = json_object();
	int rc, n;

	if ((rc = parse_options(&o, &p, argc, argv, set_opt, &s))) {
		rc = vhm_cli_status(rc);
		goto out;
	}
	if ((rc = parse_operands(&o, argc, argv, "NAME", 0, 0, NULL, &n)))
		goto out;
	if (!s.traffic && !s.dirty) {
		rc = vhm_usage_error("set", "nothing to set: give --traffic or --dirty");
		goto out;
	}
	if ((rc = cmd_ctl_open(&o, &c)))
		goto out;
	if ((rc = set_one(&o, c, "set-traffic", s.traffic, out, "traffic")) ||
	    (rc = set_one(&o, c, "set-dirty", s.dirty, out, "dirty")))
		goto out;
	if (o.json)
		cmd_ctl_print_json(stdout, out);
	else
		print_set(out);
out:
	json_decref(s.traffic);
	json_decref(s.dirty);
	json_decref(out);
	ctl_client_close(c);
	return rc;
}

/* ---- predict ---- */

static int predict_opt(void *ctx, int c)
{
	json_t *args = ctx;
	uint64_t v;

	switch (c) {
	case 'b':
		if (vhm_parse_rate(optarg, &v) || !v)
			return vhm_usage_error("predict", "--bandwidth '%s': expected a rate such as "
					       "500M (MiB/s)", optarg);
		json_object_set_new(args, "bandwidth", json_integer((json_int_t)v));
		break;
	case 'w':
		if (vhm_parse_u64(optarg, &v) || !v || v > 60000)
			return vhm_usage_error("predict", "--downtime-ms '%s': expected 1..60000",
					       optarg);
		json_object_set_new(args, "downtime_ms", json_integer((json_int_t)v));
		break;
	case 'r':
		if (vhm_parse_u64(optarg, &v) || !v || v > 1000)
			return vhm_usage_error("predict", "--max-rounds '%s': expected 1..1000",
					       optarg);
		json_object_set_new(args, "max_rounds", json_integer((json_int_t)v));
		break;
	}
	return 0;
}

int cmd_predict(int argc, char **argv)
{
	static const struct option opts[] = {
		OPT_RUN_DIR, OPT_JSON, OPT_TIMEOUT, { "bandwidth", required_argument, NULL, 'b' },
		{ "downtime-ms", required_argument, NULL, 'w' },
		{ "max-rounds", required_argument, NULL, 'r' }, OPT_END,
	};
	struct ctl_opts o = { .cmd = "predict", .timeout_ms = DEV_TIMEOUT_MS };
	struct vhm_cli p = { .cmd = "predict", .shortopts = "d:jt:b:", .longopts = opts };
	struct ctl_client *c = NULL;
	json_t *args = json_pack("{s:i}", "downtime_ms", 50), *ret = NULL;   /* migrate's */
	int rc, n;

	if ((rc = parse_options(&o, &p, argc, argv, predict_opt, args))) {
		rc = vhm_cli_status(rc);
		goto out;
	}
	if ((rc = parse_operands(&o, argc, argv, "NAME", 0, 0, NULL, &n)))
		goto out;
	if (!json_object_get(args, "bandwidth")) {
		rc = vhm_usage_error("predict", "--bandwidth RATE is required");
		goto out;
	}
	if ((rc = open_and_call(&o, &c, "predict", args, &ret)))
		goto out;
	if (o.json)
		cmd_ctl_print_json(stdout, ret);
	else
		cmd_ctl_print_human(stdout, ret);
out:
	json_decref(args);
	json_decref(ret);
	ctl_client_close(c);
	return rc;
}

/* ---- call ---- */

static int call_opt(void *ctx, int c)
{
	if (c == 'p')
		*(bool *)ctx = true;
	return 0;
}

/* ARGUMENTS: one JSON object, or a usage error naming what is wrong. */
static int call_args(const char *text, json_t **args)
{
	json_error_t je;

	*args = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!*args)
		return vhm_usage_error("call", "ARGUMENTS '%s': not JSON (column %d: %s)", text,
				       je.column, je.text);
	if (json_is_object(*args))
		return 0;
	json_decref(*args);
	*args = NULL;
	return vhm_usage_error("call", "ARGUMENTS '%s': expected a JSON object", text);
}

static int call_run(struct ctl_opts *o, const char *cmd, json_t *args, bool pretty)
{
	struct ctl_client *c = NULL;
	json_t *ret = NULL;
	char err[512];
	int rc = cmd_ctl_open(o, &c);

	if (rc)
		return rc;
	rc = ctl_client_call(c, cmd, args, &ret, err, sizeof(err), (int)o->timeout_ms);
	if (rc == -EREMOTEIO) {
		fprintf(stderr, "vhm call: %s: %s: %s\n", o->name, ctl_client_error_class(c), err);
		rc = VHM_EXIT_FAIL;
	} else if (rc) {
		rc = cmd_ctl_failed(o, rc, err);
	} else {
		if (!ret)       /* a command that returned nothing: {} */
			ret = json_object();
		json_dumpf(ret, stdout, pretty ? JSON_INDENT(2) : JSON_COMPACT);
		putchar('\n');
	}
	json_decref(ret);
	ctl_client_close(c);
	return rc;
}

int cmd_call(int argc, char **argv)
{
	static const struct option opts[] = {
		OPT_RUN_DIR, OPT_TIMEOUT, { "pretty", no_argument, NULL, 'p' }, OPT_END,
	};
	struct ctl_opts o = { .cmd = "call", .timeout_ms = DEV_TIMEOUT_MS };
	struct vhm_cli p = { .cmd = "call", .shortopts = "d:t:p", .longopts = opts };
	json_t *args = NULL;
	char *rest[2];
	bool pretty = false;
	int rc, n;

	if ((rc = parse_options(&o, &p, argc, argv, call_opt, &pretty)))
		return vhm_cli_status(rc);
	if ((rc = parse_operands(&o, argc, argv, "NAME", 1, 2, rest, &n)))
		return rc;
	if (!*rest[0])
		return vhm_usage_error("call", "COMMAND is empty");
	if (n == 2 && (rc = call_args(rest[1], &args)))
		return rc;
	rc = call_run(&o, rest[0], args, pretty);
	json_decref(args);
	return rc;
}

/* ---- dirty-rate ---- */

struct dirty_opts {
	uint64_t seconds;
	const char *watcher;
};

static int dirty_opt(void *ctx, int c)
{
	struct dirty_opts *d = ctx;

	if (c == 's' && (vhm_parse_u64(optarg, &d->seconds) || !d->seconds || d->seconds > 60))
		return vhm_usage_error("dirty-rate", "--seconds '%s': expected 1..60", optarg);
	if (c == 'w')
		d->watcher = optarg;
	return 0;
}

/* The watcher's "dirty-rate" event for domain, within timeout_ms: 0 with
 * *res (the measurement), VHM_EXIT_FAIL when it says it has none, else
 * VHM_EXIT_PEER; a line on stderr for both. */
static int wait_dirty(struct ctl_opts *o, struct ctl_client *c, const char *domain,
		      uint64_t timeout_ms, json_t **res)
{
	uint64_t end = vhm_now_ns() + timeout_ms * 1000000ull;

	while (vhm_now_ns() < end) {
		json_t *ev = NULL, *data;
		int rc = ctl_client_next_event(c, &ev, 200);

		if (rc == -ETIMEDOUT)
			continue;
		if (rc) {
			fprintf(stderr, "vhm dirty-rate: %s closed the connection\n", o->name);
			return VHM_EXIT_PEER;
		}
		data = json_object_get(ev, "data");
		if (strcmp(json_string_value(json_object_get(data, "domain")) ?: "", domain)) {
			json_decref(ev);
			continue;
		}
		if (json_object_get(data, "error")) {
			fprintf(stderr, "vhm dirty-rate: %s: %s\n", domain,
				json_string_value(json_object_get(data, "error")));
			json_decref(ev);
			return VHM_EXIT_FAIL;
		}
		*res = json_incref(data);
		json_decref(ev);
		return 0;
	}
	fprintf(stderr, "vhm dirty-rate: %s: no result from %s in %llu ms\n", domain, o->name,
		(unsigned long long)timeout_ms);
	return VHM_EXIT_FAIL;
}

static int dirty_run(struct ctl_opts *o, const char *domain, const struct dirty_opts *d)
{
	json_t *sub = json_pack("{s:[s]}", "events", "dirty-rate"), *ret = NULL, *res = NULL;
	json_t *args = json_pack("{s:s, s:I}", "domain", domain, "seconds",
				 (json_int_t)d->seconds);
	struct ctl_client *c = NULL;
	char err[512];
	int rc = cmd_ctl_open(o, &c);

	if (rc)
		goto out;
	rc = ctl_client_call(c, "subscribe", sub, &ret, err, sizeof(err), DEV_TIMEOUT_MS);
	json_decref(ret);
	ret = NULL;
	if (!rc)
		rc = ctl_client_call(c, "dirty-rate", args, &ret, err, sizeof(err), DEV_TIMEOUT_MS);
	if (rc) {
		fprintf(stderr, "vhm dirty-rate: %s: %s\n", domain, err);
		rc = rc == -EREMOTEIO ? VHM_EXIT_FAIL : VHM_EXIT_PEER;
		goto out;
	}
	rc = wait_dirty(o, c, domain, d->seconds * 1000 + DIRTY_GRACE_MS, &res);
	if (!rc && o->json)
		cmd_ctl_print_json(stdout, res);
	else if (!rc)
		cmd_ctl_print_human(stdout, res);
out:
	json_decref(sub);
	json_decref(args);
	json_decref(ret);
	json_decref(res);
	ctl_client_close(c);
	return rc;
}

int cmd_dirty_rate(int argc, char **argv)
{
	static const struct option opts[] = {
		OPT_RUN_DIR, OPT_JSON, { "seconds", required_argument, NULL, 's' },
		{ "watcher", required_argument, NULL, 'w' }, OPT_END,
	};
	struct ctl_opts o = { .cmd = "dirty-rate", .timeout_ms = DEV_TIMEOUT_MS };
	struct vhm_cli p = { .cmd = "dirty-rate", .shortopts = "d:js:w:", .longopts = opts };
	struct dirty_opts d = { .seconds = 1, .watcher = "libvirt" };
	int rc, n;

	if ((rc = parse_options(&o, &p, argc, argv, dirty_opt, &d)))
		return vhm_cli_status(rc);
	if ((rc = parse_operands(&o, argc, argv, "DOMAIN", 0, 0, NULL, &n)))
		return rc;
	if (!*d.watcher)
		return vhm_usage_error("dirty-rate", "--watcher is empty");
	/* parse_operands read DOMAIN into o.name; the socket is the watcher's */
	{
		const char *domain = o.name;

		o.name = d.watcher;
		return dirty_run(&o, domain, &d);
	}
}
