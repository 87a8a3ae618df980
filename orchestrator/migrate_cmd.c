/* migrate_cmd — see migrate_cmd.h. */
#include "migrate_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "control.h"
#include "util.h"

#define MIGRATE_TIMEOUT_MS (30 * 60 * 1000)

static double num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

static void print_event(const json_t *ev)
{
	const json_t *data = json_object_get(ev, "data");
	const char *phase = json_string_value(json_object_get(data, "phase"));
	char *s = json_dumps(data, JSON_COMPACT);

	printf("  %-12s %s\n", phase ? phase : "", s ? s : "");
	free(s);
}

static void print_report(const json_t *r)
{
	const json_t *dt = json_object_get(r, "downtime"), *it = json_object_get(r, "iterations");
	const json_t *dg = json_object_get(r, "digest");
	size_t i;
	json_t *v;

	printf("result         %s\n", json_string_value(json_object_get(r, "result")));
	printf("total          %.1f ms\n", num(r, "total_ms"));
	printf("downtime       %.1f ms (control plane %.1f ms, copy %.1f ms)\n", num(dt, "ms"),
	       num(dt, "control_ms"), num(dt, "copy_ms"));
	printf("copied         %.0f bytes at %.0f MB/s; %.0f zero pages skipped\n",
	       num(r, "bytes_copied"), num(r, "bandwidth_mbps"), num(r, "zero_pages"));
	printf("iterations     %-8s %12s %12s %10s\n", "#", "dirtied", "copied", "ms");
	json_array_foreach(it, i, v)
		printf("               %-8zu %12.0f %12.0f %10.1f\n", i, num(v, "dirtied"),
		       num(v, "copied"), num(v, "ms"));
	printf("digest         source %s, destination %s\n",
	       json_string_value(json_object_get(dg, "source")),
	       json_string_value(json_object_get(dg, "destination")));
	printf("rarp           %s\n", json_is_true(json_object_get(r, "rarp")) ? "sent" : "not sent");
}

int cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "downtime-ms", required_argument, NULL, 'd' },
		{ "max-iterations", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "run-dir", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	const char *to = NULL, *run_dir = NULL;
	uint64_t downtime = 50, iters = 30;
	struct ctl_client *c = NULL;
	json_t *args, *ret = NULL, *ev;
	bool json = false;
	char err[256];
	int o, rc;

	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't': to = optarg; break;
		case 'd':
			if (vhm_parse_u64(optarg, &downtime) || !downtime || downtime > 60000)
				return vhm_usage_error("migrate", "--downtime-ms '%s': expected 1..60000",
						       optarg);
			break;
		case 'i':
			if (vhm_parse_u64(optarg, &iters) || iters > 999)
				return vhm_usage_error("migrate", "--max-iterations '%s': expected 0..999",
						       optarg);
			break;
		case 'j': json = true; break;
		case 'R': run_dir = optarg; break;
		default:
			return vhm_usage_error("migrate", "unknown or incomplete option");
		}
	}
	if (optind != argc - 1)
		return vhm_usage_error("migrate", "expected exactly one device NAME");
	if (!to)
		return vhm_usage_error("migrate", "--to DST_SOCKET is required");
	run_dir = vhm_run_dir(run_dir);
	rc = ctl_client_open(&c, run_dir, argv[optind], 5000, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vhm migrate: no device %s in %s: %s\n", argv[optind], run_dir, err);
		return VHM_EXIT_PEER;
	}
	args = json_pack("{s:s, s:I, s:I}", "to", to, "downtime_ms", (json_int_t)downtime,
			 "max_iterations", (json_int_t)iters);
	if (!json) {
		json_t *sub = json_pack("{s:[s]}", "events", "migration");
		ctl_client_call(c, "subscribe", sub, &ret, err, sizeof(err), 5000);
		json_decref(sub);
		json_decref(ret);
		ret = NULL;
		printf("migrating %s to %s\n", argv[optind], to);
	}
	rc = ctl_client_call(c, "migrate", args, &ret, err, sizeof(err), MIGRATE_TIMEOUT_MS);
	json_decref(args);
	if (!json)
		while (ctl_client_next_event(c, &ev, 0) == 0) {
			print_event(ev);
			json_decref(ev);
		}
	ctl_client_close(c);
	if (rc) {
		fprintf(stderr, "vhm migrate: %s\n", err);
		return rc == -EREMOTEIO ? VHM_EXIT_FAIL : VHM_EXIT_PEER;
	}
	if (json) {
		json_dumpf(ret, stdout, JSON_COMPACT);
		printf("\n");
	} else {
		print_report(ret);
	}
	json_decref(ret);
	return VHM_EXIT_OK;
}
