/* SPDX-License-Identifier: MIT */
/* trace_cmd — `vhm trace`: attach the vbpf probes to one process and print
 * what they counted in each interval, as a table or as JSON lines (jansson).
 * Sampling is vbpf_read(); this file only turns two samples into a row. */
#include "trace_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"
#include "vbpf.h"
#include "vbpf_json.h"

struct trace_args {
	pid_t pid;
	unsigned probes;
	const char *uprobes[VBPF_MAX_UPROBES];
	size_t n_uprobes;
	uint64_t pf_start, pf_end;
	uint64_t interval_ms, duration_ms; /* duration 0: until stopped */
	bool json, all_sockets, raw, verbose;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* "START-END", each decimal or 0x hex, START < END. */
static int parse_range(const char *s, uint64_t *start, uint64_t *end)
{
	const char *dash = strchr(s, '-');
	char first[32];

	if (!dash || (size_t)(dash - s) >= sizeof(first))
		return -EINVAL;
	memcpy(first, s, (size_t)(dash - s));
	first[dash - s] = '\0';
	if (vhm_parse_addr(first, start) || vhm_parse_addr(dash + 1, end) || *end <= *start)
		return -EINVAL;
	return 0;
}

static int parse_args(int argc, char **argv, struct trace_args *a)
{
	enum { OPT_ALL_SOCKETS = 256, OPT_RAW };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "probe", required_argument, NULL, 'P' },
		{ "uprobe", required_argument, NULL, 'u' },
		{ "range", required_argument, NULL, 'r' },
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "all-sockets", no_argument, NULL, OPT_ALL_SOCKETS },
		{ "raw", no_argument, NULL, OPT_RAW },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct vhm_cli p = { .cmd = "trace", .shortopts = "+p:P:u:r:i:d:jv", .longopts = longopts };
	bool have_pid = false, probes_given = false;
	uint64_t u;
	int c;

	*a = (struct trace_args){ .probes = VBPF_PROBES_DEFAULT, .interval_ms = 1000 };
	while ((c = vhm_cli_next(&p, argc, argv)) > 0) {
		switch (c) {
		case 'p':
			if (vhm_parse_u64(optarg, &u) || u == 0 || u > INT_MAX)
				return vhm_usage_error("trace", "bad --pid '%s'", optarg);
			a->pid = (pid_t)u;
			have_pid = true;
			break;
		case 'P':
			if (vbpf_parse_probes(optarg, &a->probes))
				return vhm_usage_error("trace", "bad --probe '%s' (want %s)", optarg,
						       "ctl,kick,pf,kvm,uprobe, default or all");
			probes_given = true;
			break;
		case 'u':
			if (a->n_uprobes == VBPF_MAX_UPROBES)
				return vhm_usage_error("trace", "more than %d --uprobe",
						       VBPF_MAX_UPROBES);
			if (!strchr(optarg, ':') || optarg[0] == ':' ||
			    !strrchr(optarg, ':')[1])
				return vhm_usage_error("trace", "bad --uprobe '%s' (want BIN:SYM)",
						       optarg);
			a->uprobes[a->n_uprobes++] = optarg;
			break;
		case 'r':
			if (parse_range(optarg, &a->pf_start, &a->pf_end))
				return vhm_usage_error("trace", "bad --range '%s' (want START-END)",
						       optarg);
			break;
		case 'i':
			if (vhm_parse_duration_ms(optarg, &a->interval_ms) || !a->interval_ms)
				return vhm_usage_error("trace", "bad --interval '%s'", optarg);
			break;
		case 'd':
			if (vhm_parse_duration_ms(optarg, &a->duration_ms) || !a->duration_ms)
				return vhm_usage_error("trace", "bad --duration '%s'", optarg);
			break;
		case 'j':
			a->json = true;
			break;
		case OPT_ALL_SOCKETS:
			a->all_sockets = true;
			break;
		case OPT_RAW:
			a->raw = true;
			break;
		case 'v':
			a->verbose = true;
			break;
		}
	}
	if (c != VHM_CLI_END)
		return c;
	if (optind < argc)
		return vhm_usage_error("trace", "unexpected argument '%s'", argv[optind]);
	if (!have_pid)
		return vhm_usage_error("trace", "--pid is required");
	/* --uprobe is the opt-in by itself when --probe left the default */
	if (a->n_uprobes && !probes_given)
		a->probes |= 1u << VBPF_PROBE_UPROBE;
	if (a->n_uprobes && !(a->probes & (1u << VBPF_PROBE_UPROBE)))
		return vhm_usage_error("trace", "--uprobe given but 'uprobe' not in --probe");
	return 0;
}

/* ---- one interval ---------------------------------------------------------------- */

struct interval {
	const struct vbpf *v;
	const struct vbpf_counters *now, *prev;
	double t_s, dt_s;  /* since start, and this interval's length */
};

#define DELTA(iv, field) ((iv)->now->field - (iv)->prev->field)

static double rate(uint64_t n, double dt_s)
{
	return dt_s > 0 ? (double)n / dt_s : 0;
}

static void print_json(const struct interval *iv)
{
	const struct vbpf *v = iv->v;
	json_t *o = json_pack("{s:s, s:i, s:f, s:f}", "type", "interval", "pid",
			      (int)vbpf_pid(v), "t_s", iv->t_s, "interval_s", iv->dt_s);

	vbpf_json_probes(o, v, iv->now, iv->prev, iv->dt_s, VBPF_JSON_INTERVAL);
	json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(o);
}

/* What attached where, before the first interval. */
static void print_attach_json(const struct vbpf *v)
{
	json_t *probes = json_object(), *ups = json_array(), *o;

	for (int p = 0; p < VBPF_NPROBES; p++)
		json_object_set_new(probes, vbpf_probe_name(p),
				    json_pack("{s:b, s:s, s:s}", "attached", vbpf_attached(v, p),
					      "variant", vbpf_variant(v, p), "note", vbpf_note(v, p)));
	for (size_t i = 0; i < vbpf_uprobe_count(v); i++)
		json_array_append_new(ups, json_pack("{s:s, s:s, s:b, s:s}",
			"symbol", vbpf_uprobe_name(v, i), "binary", vbpf_uprobe_binary(v, i),
			"attached", vbpf_uprobe_attached(v, i), "note", vbpf_uprobe_note(v, i)));
	o = json_pack("{s:s, s:i, s:o, s:o}", "type", "attach", "pid", (int)vbpf_pid(v),
		      "probes", probes, "uprobes", ups);
	json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(o);
}

static void print_attach_text(const struct vbpf *v)
{
	printf("vhm trace: pid %d\n", (int)vbpf_pid(v));
	for (int p = 0; p < VBPF_NPROBES; p++)
		printf("  %-7s %-10s %s\n", vbpf_probe_name(p), vbpf_variant(v, p), vbpf_note(v, p));
	for (size_t i = 0; i < vbpf_uprobe_count(v); i++)
		printf("    %-26s %-8s %s%s%s\n", vbpf_uprobe_name(v, i),
		       vbpf_uprobe_attached(v, i) ? "attached" : "skipped", vbpf_uprobe_binary(v, i),
		       vbpf_uprobe_note(v, i)[0] ? " " : "", vbpf_uprobe_note(v, i));
	fflush(stdout);
}

/* The vhost-user requests counted between prev (NULL: attach) and now, one
 * line each: how many this process received and served (mean service time),
 * sent and got answered (mean round trip). */
static void print_requests(const struct vbpf_counters *now, const struct vbpf_counters *prev,
			   const char *indent)
{
	json_t *reqs = vbpf_json_requests(now, prev), *r;
	size_t i;

	json_array_foreach(reqs, i, r) {
		const char *name = json_string_value(json_object_get(r, "name"));
		char num[16];

		snprintf(num, sizeof(num), "%d", (int)json_integer_value(json_object_get(r,
											"request")));
		printf("%s%-24s recv %5lld served %5lld %9.1f us   sent %5lld answered %5lld "
		       "%9.1f us\n", indent, name ? name : num,
		       json_integer_value(json_object_get(r, "received")),
		       json_integer_value(json_object_get(r, "served")),
		       json_real_value(json_object_get(r, "serve_us")),
		       json_integer_value(json_object_get(r, "sent")),
		       json_integer_value(json_object_get(r, "answered")),
		       json_real_value(json_object_get(r, "rtt_us")));
	}
	json_decref(reqs);
}

static void print_text(const struct interval *iv, bool header)
{
	const struct vbpf *v = iv->v;

	if (header) {
		printf("%8s", "time_s");
		if (vbpf_attached(v, VBPF_PROBE_CTL))
			printf(" %9s %9s %6s %7s %7s", "send/s", "recv/s", "errors", "p50_us",
			       "max_us");
		if (vbpf_attached(v, VBPF_PROBE_KICK))
			printf(" %9s %9s", "evwr/s", "evrd/s");
		if (vbpf_attached(v, VBPF_PROBE_PF))
			printf(" %9s %9s %10s", "faults/s", "first/s", "first_tot");
		if (vbpf_attached(v, VBPF_PROBE_KVM))
			printf(" %10s", "dirty_pg/s");
		putchar('\n');
	}
	printf("%8.1f", iv->t_s);
	if (vbpf_attached(v, VBPF_PROBE_CTL))
		printf(" %9.1f %9.1f %6llu %7llu %7llu",
		       rate(DELTA(iv, ctl_msgs[VBPF_SEND]), iv->dt_s),
		       rate(DELTA(iv, ctl_msgs[VBPF_RECV]), iv->dt_s),
		       (unsigned long long)(DELTA(iv, ctl_errors[VBPF_SEND]) +
					    DELTA(iv, ctl_errors[VBPF_RECV])),
		       (unsigned long long)vbpf_lat_quantile_us(iv->now, iv->prev, 0.5),
		       (unsigned long long)vbpf_lat_quantile_us(iv->now, iv->prev, 1.0));
	if (vbpf_attached(v, VBPF_PROBE_KICK))
		printf(" %9.1f %9.1f", rate(DELTA(iv, evfd_writes), iv->dt_s),
		       rate(DELTA(iv, evfd_reads), iv->dt_s));
	if (vbpf_attached(v, VBPF_PROBE_PF))
		printf(" %9.1f %9.1f %10llu", rate(DELTA(iv, pf_faults), iv->dt_s),
		       rate(DELTA(iv, pf_first_touch), iv->dt_s),
		       (unsigned long long)iv->now->pf_first_touch);
	if (vbpf_attached(v, VBPF_PROBE_KVM))
		printf(" %10.1f", rate(DELTA(iv, kvm_dirty), iv->dt_s));
	putchar('\n');
	if (vbpf_attached(v, VBPF_PROBE_CTL))
		print_requests(iv->now, iv->prev, "         ");
	if (vbpf_attached(v, VBPF_PROBE_UPROBE))
		for (size_t i = 0; i < vbpf_uprobe_count(v); i++) {
			if (!vbpf_uprobe_attached(v, i))
				continue;
			printf("%8s %-26s calls/s %12.1f", "", vbpf_uprobe_name(v, i),
			       rate(DELTA(iv, up_calls[i]), iv->dt_s));
			if (vbpf_uprobe_counts_packets(v, i))
				printf("  packets/s %12.1f", rate(DELTA(iv, up_ret_sum[i]), iv->dt_s));
			putchar('\n');
		}
	fflush(stdout);
}

/* At the end: every request since attach, with the mean service time (the
 * traced process's own, request received to reply sent). */
static void print_summary(const struct vbpf *v, const struct vbpf_counters *now, bool json)
{
	json_t *o;

	if (!vbpf_attached(v, VBPF_PROBE_CTL))
		return;
	if (!json) {
		printf("vhost-user requests since attach (served: request received -> reply sent; "
		       "answered: request sent -> reply received; mean times):\n");
		print_requests(now, NULL, "  ");
		fflush(stdout);
		return;
	}
	o = json_pack("{s:s, s:i, s:o, s:I}", "type", "requests", "pid", (int)vbpf_pid(v),
		      "requests", vbpf_json_requests(now, NULL), "other_requests",
		      (json_int_t)now->req_other);
	json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(o);
}

/* ---- the command ----------------------------------------------------------------- */

static int open_probes(const struct trace_args *a, struct vbpf **v)
{
	char why[512] = "";
	struct vbpf_opts o = {
		.pf_start = a->pf_start, .pf_end = a->pf_end,
		.uprobes = a->uprobes, .n_uprobes = a->n_uprobes,
		.all_sockets = a->all_sockets, .no_tracefs = a->raw,
		.why = why, .why_len = sizeof(why),
	};
	int err = vbpf_open(v, a->pid, a->probes, &o);

	switch (err) {
	case 0:
		return VHM_EXIT_OK;
	case -ESRCH:
		fprintf(stderr, "vhm trace: no process with pid %d\n", (int)a->pid);
		return VHM_EXIT_USAGE;
	case -EPERM:
		fprintf(stderr, "vhm trace: loading BPF programs needs root, or CAP_BPF and "
				"CAP_PERFMON (%s)\n", strerror(EPERM));
		return VHM_EXIT_USAGE;
	case -EINVAL:
		fprintf(stderr, "vhm trace: bad probe arguments (%s)\n", strerror(EINVAL));
		return VHM_EXIT_USAGE;
	case -ENOENT:
		fprintf(stderr, "vhm trace: no probe could attach to pid %d: %s%s\n", (int)a->pid,
			why, a->verbose ? "" : " (-v shows libbpf's messages)");
		return VHM_EXIT_FAIL;
	default:
		fprintf(stderr, "vhm trace: loading probes: %s%s\n", strerror(-err),
			a->verbose ? "" : " (-v shows libbpf's messages)");
		return VHM_EXIT_FAIL;
	}
}

int cmd_trace(int argc, char **argv)
{
	struct vbpf_counters c[2] = {};
	struct sigaction sa = { .sa_handler = on_signal };
	struct trace_args a;
	struct vbpf *v = NULL;
	uint64_t start, last, end, next;
	int rc, cur = 0;
	bool header = true;

	rc = parse_args(argc, argv, &a);
	if (rc)
		return vhm_cli_status(rc);
	vbpf_set_verbose(a.verbose);
	rc = open_probes(&a, &v);
	if (rc)
		return rc;
	if (a.json)
		print_attach_json(v);
	else
		print_attach_text(v);

	stop_flag = 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = vbpf_read(v, &c[cur]);
	start = last = vhm_now_ns();
	end = a.duration_ms ? start + a.duration_ms * 1000000ull : UINT64_MAX;
	next = start;
	while (!rc && !stop_flag) {
		struct interval iv;
		struct timespec ts;
		uint64_t now;
		bool alive;

		next += a.interval_ms * 1000000ull;
		if (next > end)
			next = end;
		ts.tv_sec = (time_t)(next / 1000000000ull);
		ts.tv_nsec = (long)(next % 1000000000ull);
		while (!stop_flag && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		alive = vhm_pid_running(a.pid);
		rc = vbpf_read(v, &c[!cur]);
		if (rc)
			break;
		now = vhm_now_ns();
		iv = (struct interval){ .v = v, .now = &c[!cur], .prev = &c[cur],
					.t_s = (double)(now - start) / 1e9,
					.dt_s = (double)(now - last) / 1e9 };
		if (a.json)
			print_json(&iv);
		else
			print_text(&iv, header);
		header = false;
		cur = !cur;
		last = now;
		if (!alive) {
			fprintf(stderr, "vhm trace: pid %d exited\n", (int)a.pid);
			break;
		}
		if (now >= end)
			break;
	}
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (!rc)
		print_summary(v, &c[cur], a.json);
	vbpf_close(v);
	if (rc) {
		fprintf(stderr, "vhm trace: reading counters: %s\n", strerror(-rc));
		return VHM_EXIT_FAIL;
	}
	return VHM_EXIT_OK;
}
