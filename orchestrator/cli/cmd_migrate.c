/* SPDX-License-Identifier: MIT */
/* `vhm migrate`, the client. The device runs the migration; this
 * client starts it, follows its "migration" events, and cancels it on
 * Ctrl-C. On a terminal it shows one progress line rewritten in place
 * (like `virsh migrate --verbose`), elsewhere a line per phase, and with
 * --json every event as a JSON line; then the report (mig_print). */
#include "cmd_migrate.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_migdom.h"
#include "ctl.h"
#include "mig_dest.h"
#include "mig_print.h"
#include "mig_snet.h"
#include "mig_stream.h"
#include "migrate.h"
#include "util.h"

#define CALL_TIMEOUT_MS 10000

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* How events are shown: one progress line rewritten in place (a terminal),
 * a line per event (anything else), or each event as a JSON line (--json). */
enum migrate_out { OUT_LINE, OUT_LINES, OUT_JSON };

struct migrate_opts {
	const char *name, *to, *run_dir, *mac, *ifname, *verify;
	uint64_t downtime_ms, iterations, bandwidth, copy_threads, connections, boost;
	bool json, cancel, shared_memory, has_boost;
	enum migrate_out out;
};

/* One event's data. On a terminal the line is rewritten with \r and cleared
 * to its end; the caller ends it with a newline when the migration ends. */
static void print_event(enum migrate_out how, const json_t *ev)
{
	const json_t *data = json_object_get(ev, "data");
	char line[512];

	if (how == OUT_JSON) {
		json_dumpf(ev, stdout, JSON_COMPACT);
		putchar('\n');
	} else {
		migp_event_text(data, line, sizeof(line));
		printf(how == OUT_LINE ? "\r\033[K%s" : "%s\n", line);
	}
	fflush(stdout);
}

/* The pages a failed digest check named, one per line (stderr). */
static void print_differing(const json_t *df)
{
	size_t i;
	json_t *p;

	if (!df)
		return;
	json_array_foreach(json_object_get(df, "pages"), i, p)
		fprintf(stderr, "  0x%-12llx %s (%s's log should have marked it)\n",
			(unsigned long long)json_integer_value(json_object_get(p, "gpa")),
			json_string_value(json_object_get(p, "what")),
			json_string_value(json_object_get(p, "log")));
	if (json_integer_value(json_object_get(df, "count")) > (json_int_t)i)
		fprintf(stderr, "  ... %lld pages differ in all\n",
			(long long)json_integer_value(json_object_get(df, "count")));
}

/* --to tcp:HOST:PORT: a well-formed address, and no hot swap. */
static int check_stream_to(const struct migrate_opts *o)
{
	char host[MIG_SNET_HOST_MAX], err[200];
	uint16_t port;

	if (o->shared_memory)
		return vhm_usage_error("migrate", "--shared-memory maps the device's memory on this "
				       "host; --to %s is another vhm process with its own", o->to);
	if (mig_snet_parse(o->to, host, sizeof(host), &port, err, sizeof(err)))
		return vhm_usage_error("migrate", "--to %s: %s", o->to, err);
	if (!port)
		return vhm_usage_error("migrate", "--to %s: a destination needs a port", o->to);
	return 0;
}

static int parse(int argc, char **argv, struct migrate_opts *o)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "downtime-ms", required_argument, NULL, 'd' },
		{ "max-iterations", required_argument, NULL, 'i' },
		{ "bandwidth", required_argument, NULL, 'b' },
		{ "mac", required_argument, NULL, 'm' },
		{ "announce-ifname", required_argument, NULL, 'a' },
		{ "verify", required_argument, NULL, 'v' },
		{ "copy-threads", required_argument, NULL, 'T' },
		{ "connections", required_argument, NULL, 'n' },
		{ "switchover-boost", required_argument, NULL, 'B' },
		{ "cancel", no_argument, NULL, 'c' },
		{ "shared-memory", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "run-dir", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct vhm_cli p = { .cmd = "migrate", .shortopts = "", .longopts = opts };
	uint8_t mac[6];
	int c;

	while ((c = vhm_cli_next(&p, argc, argv)) > 0) {
		switch (c) {
		case 't': o->to = optarg; break;
		case 'd':
			if (vhm_parse_u64(optarg, &o->downtime_ms) || !o->downtime_ms ||
			    o->downtime_ms > 60000)
				return vhm_usage_error("migrate", "--downtime-ms '%s': expected 1..60000",
						       optarg);
			break;
		case 'i':
			if (vhm_parse_u64(optarg, &o->iterations) || o->iterations > 999)
				return vhm_usage_error("migrate", "--max-iterations '%s': expected 0..999",
						       optarg);
			break;
		case 'b':
			if (vhm_parse_rate(optarg, &o->bandwidth) || o->bandwidth < 1024 * 1024)
				return vhm_usage_error("migrate", "--bandwidth '%s': expected a rate of at "
						       "least 1M (MiB/s: 500M is 500 MiB/s)", optarg);
			break;
		case 'm':
			if (vhm_parse_mac(optarg, mac) || (mac[0] & 1))
				return vhm_usage_error("migrate", "--mac '%s': expected a unicast MAC",
						       optarg);
			o->mac = optarg;
			break;
		case 'a': o->ifname = optarg; break;
		case 'T':
			if (vhm_parse_u64(optarg, &o->copy_threads) || o->copy_threads < 1 ||
			    o->copy_threads > 2)
				return vhm_usage_error("migrate", "--copy-threads '%s': expected 1 or 2",
						       optarg);
			break;
		case 'n':
			if (vhm_parse_u64(optarg, &o->connections) || o->connections < 1 ||
			    o->connections > MIG_STREAM_CONNS_MAX)
				return vhm_usage_error("migrate", "--connections '%s': expected 1..%d",
						       optarg, MIG_STREAM_CONNS_MAX);
			break;
		case 'B':
			if (vhm_parse_u64(optarg, &o->boost) || o->boost > MIG_BOOST_MAX)
				return vhm_usage_error("migrate", "--switchover-boost '%s': expected "
						       "0..%d", optarg, MIG_BOOST_MAX);
			o->has_boost = true;
			break;
		case 'v':
			if (strcmp(optarg, "after-resume") && strcmp(optarg, "sync"))
				return vhm_usage_error("migrate", "--verify '%s': expected after-resume "
						       "or sync", optarg);
			o->verify = optarg;
			break;
		case 'c': o->cancel = true; break;
		case 's': o->shared_memory = true; break;
		case 'j': o->json = true; break;
		case 'R': o->run_dir = optarg; break;
		}
	}
	if (c != VHM_CLI_END)
		return c;
	if (optind != argc - 1)
		return vhm_usage_error("migrate", "expected exactly one device NAME");
	o->name = argv[optind];
	if (!o->to && !o->cancel)
		return vhm_usage_error("migrate", "--to DST_SOCKET is required");
	if (o->to && o->cancel)
		return vhm_usage_error("migrate", "--cancel takes no --to");
	if (o->to && !strcmp(o->to, MIG_TO_LISTEN))
		return vhm_usage_error("migrate", "--to listen: needs a socket path after it");
	if (o->to && mig_snet_is_addr(o->to))
		return check_stream_to(o);
	if (o->connections > 1)
		return vhm_usage_error("migrate", "--connections %llu: only a tcp:HOST:PORT "
				       "destination takes several", (unsigned long long)o->connections);
	return 0;
}

static json_t *migrate_args(const struct migrate_opts *o)
{
	json_t *a = json_pack("{s:s, s:I, s:I, s:I}", "to", o->to, "downtime_ms",
			      (json_int_t)o->downtime_ms, "max_iterations",
			      (json_int_t)o->iterations, "bandwidth", (json_int_t)o->bandwidth);

	if (o->mac)
		json_object_set_new(a, "mac", json_string(o->mac));
	if (o->ifname)
		json_object_set_new(a, "announce_ifname", json_string(o->ifname));
	if (o->verify)
		json_object_set_new(a, "verify", json_string(o->verify));
	if (o->copy_threads)
		json_object_set_new(a, "copy_threads", json_integer((json_int_t)o->copy_threads));
	if (o->shared_memory)
		json_object_set_new(a, "shared_memory", json_true());
	if (o->connections)
		json_object_set_new(a, "connections", json_integer((json_int_t)o->connections));
	if (o->has_boost)
		json_object_set_new(a, "switchover_boost", json_integer((json_int_t)o->boost));
	return a;
}

#define REFRESH_NS 500000000ull   /* the terminal's line between events */

/* On a terminal, between events: the line redrawn from migrate-status's
 * progress, which the device updates during the first pass (a pass sends
 * its event only when it ends). Best effort: a failed call changes nothing. */
static void refresh_line(struct ctl_client *c, uint64_t *last_ns)
{
	uint64_t now = vhm_now_ns();
	json_t *st = NULL, *line;
	char err[256], text[512];

	if (now - *last_ns < REFRESH_NS)
		return;
	*last_ns = now;
	if (ctl_client_call(c, "migrate-status", NULL, &st, err, sizeof(err), CALL_TIMEOUT_MS))
		return;
	if (!strcmp(json_string_value(json_object_get(st, "status")) ?: "", "active") &&
	    json_is_object(json_object_get(st, "progress"))) {
		line = json_pack("{s:s, s:O}", "phase", "pre-copy", "progress",
				 json_object_get(st, "progress"));
		migp_event_text(line, text, sizeof(text));
		printf("\r\033[K%s", text);
		fflush(stdout);
		json_decref(line);
	}
	json_decref(st);
}

/* Follow events until the migration is done or failed; Ctrl-C cancels. */
static int follow(struct ctl_client *c, const struct migrate_opts *o, json_t **final)
{
	bool cancel_sent = false;
	uint64_t refreshed = vhm_now_ns();
	char err[256];

	for (;;) {
		json_t *ev, *data, *ret = NULL;
		const char *phase;
		int rc;

		if (interrupted && !cancel_sent) {
			fprintf(stderr, "vhm migrate: cancelling\n");
			ctl_client_call(c, "migrate-cancel", NULL, &ret, err, sizeof(err),
					CALL_TIMEOUT_MS);
			json_decref(ret);
			cancel_sent = true;
		}
		rc = ctl_client_next_event(c, &ev, 200);
		if (rc == -ETIMEDOUT && o->out == OUT_LINE)
			refresh_line(c, &refreshed);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc) {
			fprintf(stderr, "vhm migrate: lost the device %s: %s\n", o->name,
				strerror(-rc));
			return VHM_EXIT_PEER;
		}
		data = json_object_get(ev, "data");
		phase = json_string_value(json_object_get(data, "phase"));
		print_event(o->out, ev);
		if (phase && (!strcmp(phase, "done") || !strcmp(phase, "failed") ||
			      !strcmp(phase, "cancelled"))) {
			*final = json_incref(data);
			json_decref(ev);
			if (o->out == OUT_LINE)
				putchar('\n');
			return strcmp(phase, "done") ? VHM_EXIT_FAIL : VHM_EXIT_OK;
		}
		json_decref(ev);
	}
}

static int do_cancel(struct ctl_client *c, const struct migrate_opts *o)
{
	json_t *ret = NULL;
	char err[256];
	int rc = ctl_client_call(c, "migrate-cancel", NULL, &ret, err, sizeof(err),
				 CALL_TIMEOUT_MS);

	json_decref(ret);
	if (rc) {
		fprintf(stderr, "vhm migrate: %s: %s\n", o->name, err);
		return rc == -EREMOTEIO ? VHM_EXIT_FAIL : VHM_EXIT_PEER;
	}
	printf("%s: migration cancelling\n", o->name);
	return VHM_EXIT_OK;
}

int cmd_migrate(int argc, char **argv)
{
	struct migrate_opts o = { .downtime_ms = 50, .iterations = 30 };
	struct sigaction sa = { .sa_handler = on_sigint };
	struct ctl_client *c = NULL;
	json_t *args, *ret = NULL, *final = NULL, *sub;
	char err[256];
	int rc;

	if (cmd_migdom_wanted(argc, argv)) /* a libvirt domain: cmd_migdom.c */
		return cmd_migrate_domain(argc, argv);

	if ((rc = parse(argc, argv, &o)))
		return vhm_cli_status(rc);
	o.run_dir = vhm_run_dir(o.run_dir);
	if (ctl_client_open(&c, o.run_dir, o.name, 5000, err, sizeof(err))) {
		fprintf(stderr, "vhm migrate: no device %s in %s: %s\n", o.name, o.run_dir, err);
		return VHM_EXIT_PEER;
	}
	if (o.cancel) {
		rc = do_cancel(c, &o);
		ctl_client_close(c);
		return rc;
	}
	sub = json_pack("{s:[s]}", "events", "migration");
	rc = ctl_client_call(c, "subscribe", sub, &ret, err, sizeof(err), CALL_TIMEOUT_MS);
	json_decref(sub);
	json_decref(ret);
	args = migrate_args(&o);
	if (!rc)
		rc = ctl_client_call(c, "migrate", args, &ret, err, sizeof(err), CALL_TIMEOUT_MS);
	json_decref(args);
	if (rc) {
		fprintf(stderr, "vhm migrate: %s\n", err);
		ctl_client_close(c);
		return rc == -EREMOTEIO ? VHM_EXIT_FAIL : VHM_EXIT_PEER;
	}
	json_decref(ret);
	sigaction(SIGINT, &sa, NULL);
	o.out = o.json ? OUT_JSON : isatty(STDOUT_FILENO) ? OUT_LINE : OUT_LINES;
	if (!o.json)
		printf("migrating %s to %s\n", o.name, o.to);
	rc = follow(c, &o, &final);
	ctl_client_close(c);
	if (final && o.json) {
		json_dumpf(final, stdout, JSON_COMPACT);
		printf("\n");
	} else if (final && rc == VHM_EXIT_OK) {
		migp_report(stdout, final);
	}
	if (final && rc == VHM_EXIT_OK && json_is_false(json_object_get(final, "verified"))) {
		/* past the commit point: the guest runs on a copy not proved */
		fprintf(stderr, "vhm migrate: %s moved, but its memory differs from the source's "
			"after the resume (verify after-resume):\n", o.name);
		print_differing(json_object_get(final, "differing_pages"));
		rc = VHM_EXIT_FAIL;
	} else if (final && rc != VHM_EXIT_OK) {
		fprintf(stderr, "vhm migrate: %s\n",
			json_string_value(json_object_get(final, "error")));
		print_differing(json_object_get(final, "differing_pages"));
	}
	if (final && json_object_get(final, "destination_state"))   /* past GO */
		rc = VHM_EXIT_UNKNOWN;
	json_decref(final);
	return rc;
}
