/* SPDX-License-Identifier: MIT */
/* rarp_cmd — `vhm announce`.  Everything is validated and the socket opened
 * before the first frame, so a bad argument or interface sends nothing. */
#include "rarp_cmd.h"
#include "cli.h"
#include "rarp_announce.h"
#include "rarp_frame.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CMD_NAME "announce"
#define CMD_MACS_MAX 64 /* more NICs than any guest has */
/* One line on stderr naming what was wrong; VHM_EXIT_USAGE. */
#define bad_usage(...) vhm_usage_error(CMD_NAME, __VA_ARGS__)

struct announce_opts {
	uint8_t macs[CMD_MACS_MAX][6];
	size_t nmacs;
	const char *ifname;
	int vlan;
	struct rarp_schedule sched;
	bool quiet;
};

struct announce_run {
	struct rarp_packet pkt;
	const struct announce_opts *opts;
};

static int add_mac(struct announce_opts *o, const char *arg)
{
	uint8_t mac[6];
	const char *why;

	if (vhm_parse_mac(arg, mac))
		return bad_usage("--mac '%s' is not a MAC address (want aa:bb:cc:dd:ee:ff)", arg);
	if (rarp_mac_check(mac, &why))
		return bad_usage("--mac %s %s; a guest MAC must be unicast", arg, why);
	for (size_t i = 0; i < o->nmacs; i++)
		if (!memcmp(o->macs[i], mac, sizeof(mac)))
			return bad_usage("--mac %s is given twice", arg);
	if (o->nmacs == CMD_MACS_MAX)
		return bad_usage("more than %d --mac options", CMD_MACS_MAX);
	memcpy(o->macs[o->nmacs++], mac, sizeof(mac));
	return 0;
}

/* A whole number no greater than max, for option `opt`. */
static int parse_bounded(const char *opt, const char *arg, uint64_t max, uint64_t *out)
{
	int rc = vhm_parse_u64(arg, out);

	if (rc == -EINVAL)
		return bad_usage("%s '%s' is not a whole number", opt, arg);
	if (rc || *out > max)
		return bad_usage("%s %s is larger than %llu", opt, arg, (unsigned long long)max);
	return 0;
}

/* A duration (vhm_parse_duration_ms) no longer than max_ms, for `opt`. */
static int parse_delay(const char *opt, const char *arg, uint64_t max_ms, uint64_t *ms)
{
	if (vhm_parse_duration_ms(arg, ms))
		return bad_usage("%s '%s' is not a duration (like 50ms or 1s)", opt, arg);
	if (*ms > max_ms)
		return bad_usage("%s %s is longer than %llu ms", opt, arg,
				 (unsigned long long)max_ms);
	return 0;
}

static int parse_vlan(struct announce_opts *o, const char *arg)
{
	uint64_t v;
	int rc = parse_bounded("--vlan", arg, RARP_VLAN_MAX, &v);

	if (!rc)
		o->vlan = (int)v;
	return rc;
}

static int parse_rounds(struct announce_opts *o, const char *arg)
{
	uint64_t v;
	int rc = parse_bounded("--rounds", arg, RARP_ROUNDS_MAX, &v);

	if (rc)
		return rc;
	if (v == 0)
		return bad_usage("--rounds must be at least 1");
	o->sched.rounds = (unsigned)v;
	return 0;
}

enum { OPT_VLAN = 256, OPT_INITIAL, OPT_MAX, OPT_STEP };

static const struct option long_opts[] = {
	{ "mac", required_argument, NULL, 'm' },
	{ "ifname", required_argument, NULL, 'i' },
	{ "vlan", required_argument, NULL, OPT_VLAN },
	{ "rounds", required_argument, NULL, 'r' },
	{ "initial", required_argument, NULL, OPT_INITIAL },
	{ "max", required_argument, NULL, OPT_MAX },
	{ "step", required_argument, NULL, OPT_STEP },
	{ "quiet", no_argument, NULL, 'q' },
	{ NULL, 0, NULL, 0 },
};

/* One option; 0 or VHM_EXIT_USAGE. */
static int apply_opt(struct announce_opts *o, int c)
{
	switch (c) {
	case 'm': return add_mac(o, optarg);
	case 'i': o->ifname = optarg; return 0;
	case OPT_VLAN: return parse_vlan(o, optarg);
	case 'r': return parse_rounds(o, optarg);
	case OPT_INITIAL: return parse_delay("--initial", optarg, RARP_INITIAL_MAX_MS,
					     &o->sched.initial_ms);
	case OPT_MAX: return parse_delay("--max", optarg, RARP_MAX_MAX_MS, &o->sched.max_ms);
	case OPT_STEP: return parse_delay("--step", optarg, RARP_STEP_MAX_MS, &o->sched.step_ms);
	case 'q': o->quiet = true; return 0;
	}
	return 0;
}

static int parse_args(struct announce_opts *o, int argc, char **argv)
{
	const struct rarp_schedule defaults = RARP_SCHEDULE_DEFAULT;
	struct vhm_cli p = { .cmd = CMD_NAME, .shortopts = "m:i:r:q", .longopts = long_opts };
	const char *why;
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->vlan = RARP_VLAN_NONE;
	o->sched = defaults;
	while ((c = vhm_cli_next(&p, argc, argv)) > 0) {
		rc = apply_opt(o, c);
		if (rc)
			return rc;
	}
	if (c != VHM_CLI_END)
		return c;
	if (optind < argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	if (o->nmacs == 0)
		return bad_usage("--mac is required");
	if (!o->ifname)
		return bad_usage("--ifname is required");
	if (o->sched.max_ms < o->sched.initial_ms)
		return bad_usage("--max %llu ms is less than --initial %llu ms",
				 (unsigned long long)o->sched.max_ms,
				 (unsigned long long)o->sched.initial_ms);
	if (rarp_schedule_check(&o->sched, &why))
		return bad_usage("%s", why);
	return 0;
}

static int run_send_mac(void *ctx, const uint8_t mac[6])
{
	struct announce_run *run = ctx;

	return rarp_packet_send_mac(&run->pkt, mac);
}

static void run_round_done(void *ctx, unsigned round, uint64_t at_ms)
{
	const struct announce_run *run = ctx;
	const struct announce_opts *o = run->opts;

	if (o->quiet)
		return;
	printf("round %u/%u at +%llu ms: %zu frame%s on %s", round, o->sched.rounds,
	       (unsigned long long)at_ms, o->nmacs, o->nmacs == 1 ? "" : "s", o->ifname);
	if (o->vlan != RARP_VLAN_NONE)
		printf(" vlan %d", o->vlan);
	putchar('\n');
	fflush(stdout);
}

/* Open errors: a bad name is a usage error, the rest are the interface's. */
static int open_exit_code(int rc)
{
	return rc == -EINVAL ? VHM_EXIT_USAGE : VHM_EXIT_PEER;
}

int cmd_announce(int argc, char **argv)
{
	struct announce_opts o;
	struct announce_run run = { .opts = &o };
	const struct rarp_output out = {
		.send_mac = run_send_mac, .round_done = run_round_done, .ctx = &run,
	};
	char err[160];
	int rc;

	rc = parse_args(&o, argc, argv);
	if (rc)
		return vhm_cli_status(rc);
	rc = rarp_packet_open(&run.pkt, o.ifname, o.vlan, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vhm " CMD_NAME ": %s\n", err);
		return open_exit_code(rc);
	}
	rc = rarp_announce_run(&o.sched, (const uint8_t (*)[6])o.macs, o.nmacs, &out);
	if (rc)
		fprintf(stderr, "vhm " CMD_NAME ": sending on '%s' failed: %s\n", o.ifname,
			strerror(-rc));
	rarp_packet_close(&run.pkt);
	return rc ? VHM_EXIT_PEER : VHM_EXIT_OK;
}
