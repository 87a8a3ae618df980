/* SPDX-License-Identifier: MIT */
/* `vhm certify`: reads the command line, runs orchestrator/certify's checks
 * and prints them — a table (one line a check, the evidence on a second line
 * when it failed or was skipped, then a summary) or, with --json, the one
 * object of cert_report_json. */
#include "cmd_certify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certify.h"
#include "cli.h"
#include "util.h"
#include "vhu_front.h"

#define MAX_QUEUES 8

/* "log,3,stop" -> the bits of those checks; usage error naming a bad one. */
static int parse_only(const char *list, unsigned *only)
{
	char buf[256], *save = NULL;

	if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf))
		return vhm_usage_error("certify", "--only: list too long");
	*only = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		const struct cert_check *ck = cert_find(t);

		if (!ck)
			return vhm_usage_error("certify", "--only '%s': unknown check (features, log, "
					       "stop, restart, reconnect, rarp, timing, hostile)", t);
		*only |= 1u << (ck->id - 1);
	}
	if (!*only)
		return vhm_usage_error("certify", "--only '%s': expected check names", list);
	return 0;
}

/* 0: run; -1: --help was shown; else the exit status of a usage error. */
static int parse(int argc, char **argv, struct cert_opts *o, bool *json)
{
	static const struct option opts[] = {
		{ "queues", required_argument, NULL, 'q' },
		{ "ring", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "only", required_argument, NULL, 'o' },
		{ "restart-cmd", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct vhm_cli p = { .cmd = "certify", .shortopts = "q:r:jo:R:t:", .longopts = opts };
	uint64_t v;
	int c;

	*o = (struct cert_opts){ .queues = 2, .rings = CERT_RING_BOTH,
				 .timeout_ms = VHU_DEFAULT_TIMEOUT_MS };
	while ((c = vhm_cli_next(&p, argc, argv)) > 0) {
		switch (c) {
		case 'q':
			if (vhm_parse_u64(optarg, &v) || v < 1 || v > MAX_QUEUES)
				return vhm_usage_error("certify", "--queues '%s': expected 1..%d",
						       optarg, MAX_QUEUES);
			o->queues = (int)v;
			o->queues_given = true;
			break;
		case 'r':
			if (!strcmp(optarg, "split"))
				o->rings = CERT_RING_SPLIT;
			else if (!strcmp(optarg, "packed"))
				o->rings = CERT_RING_PACKED;
			else if (!strcmp(optarg, "both"))
				o->rings = CERT_RING_BOTH;
			else
				return vhm_usage_error("certify", "--ring '%s': expected split, packed "
						       "or both", optarg);
			break;
		case 'j':
			*json = true;
			break;
		case 'o':
			if (parse_only(optarg, &o->only))
				return VHM_EXIT_USAGE;
			break;
		case 'R':
			if (!optarg[0])
				return vhm_usage_error("certify", "--restart-cmd: expected a command");
			o->restart_cmd = optarg;
			break;
		case 't':
			if (vhm_parse_duration_ms(optarg, &v) || v == 0 || v > 600000)
				return vhm_usage_error("certify", "--timeout '%s': expected a duration, "
						       "1ms..10m", optarg);
			o->timeout_ms = (int)v;
			break;
		}
	}
	if (c == VHM_CLI_HELP)
		return -1;   /* the usage is out: exit 0 */
	if (c != VHM_CLI_END)
		return vhm_cli_status(c);
	if (optind == argc || argc - optind > 2)
		return vhm_usage_error("certify", "expected SOCKET and at most a SOCKET2");
	o->sock = argv[optind];
	o->sock2 = argc - optind == 2 ? argv[optind + 1] : NULL;
	if (o->sock2 && !strcmp(o->sock, o->sock2))
		return vhm_usage_error("certify", "SOCKET2 '%s' is SOCKET: the checks that migrate "
				       "need a second instance of the backend", o->sock2);
	return 0;
}

static void print_table(const struct cert_opts *o, const struct cert_result *res)
{
	static const char *const rings[] = { "", "split ring", "packed ring", "split and packed rings" };
	const struct cert_check *ck;
	int n[3] = { 0, 0, 0 };
	size_t nck;

	printf("vhm certify %s%s%s: up to %d queue pair%s, %s\n", o->sock, o->sock2 ? " -> " : "",
	       o->sock2 ? o->sock2 : "", o->queues, o->queues == 1 ? "" : "s",
	       rings[o->rings & 3]);
	ck = cert_checks(&nck);
	for (size_t i = 0; i < nck; i++) {
		const struct cert_result *r = &res[i];

		if (!r->figures)
			continue;
		n[r->status]++;
		printf("  %d %-10s %-4s %6.1fs  %s\n", ck[i].id, ck[i].name,
		       cert_status_name(r->status), r->ms / 1000, ck[i].title);
		if (r->status != CERT_PASS)
			printf("      %s\n", r->evidence);
	}
	printf("%d passed, %d failed, %d skipped%s\n", n[CERT_PASS], n[CERT_FAIL], n[CERT_SKIP],
	       n[CERT_SKIP] ? " (a skipped check does not fail the run)" : "");
}

int cmd_certify(int argc, char **argv)
{
	struct cert_result res[CERT_NCHECKS];
	struct cert_opts o;
	bool json = false, failed = false;
	char err[512];
	int rc;

	if ((rc = parse(argc, argv, &o, &json)))
		return rc < 0 ? VHM_EXIT_OK : rc;
	if (cert_run(&o, res, err, sizeof(err))) {
		fprintf(stderr, "vhm certify: %s\n", err);
		return VHM_EXIT_PEER;
	}
	if (json) {
		json_t *rep = cert_report_json(&o, res);

		json_dumpf(rep, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(rep);
	} else {
		print_table(&o, res);
	}
	for (int i = 0; i < CERT_NCHECKS; i++)
		failed |= res[i].figures && res[i].status == CERT_FAIL;
	cert_results_free(res);
	return failed ? VHM_EXIT_FAIL : VHM_EXIT_OK;
}
