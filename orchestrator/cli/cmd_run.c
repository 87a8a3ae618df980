/* SPDX-License-Identifier: MIT */
/* `vhm run`: its command line, read into a device configuration and the
 * runner's options; runner/runner.c does the rest. */
#include "cmd_run.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "device.h"
#include "metrics.h"
#include "mig_snet.h"
#include "runner.h"
#include "util.h"
#include "vbpf.h"
#include "vbpf_dev.h"

/* ---- parsing ------------------------------------------------------------ */

/* "PPS[:SIZE]" */
int cmd_run_parse_traffic(const char *s, uint64_t *pps, uint32_t *size)
{
	char buf[64], *colon;
	uint64_t v;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	colon = strchr(buf, ':');
	if (colon) {
		*colon = '\0';
		if (vhm_parse_u64(colon + 1, &v) || v < ND_MIN_FRAME || v > ND_MAX_FRAME)
			return -EINVAL;
		*size = (uint32_t)v;
	}
	if (vhm_parse_u64(buf, &v) || v > 10000000)
		return -EINVAL;
	*pps = v;
	return 0;
}

/* "RATE[:PATTERN]" */
int cmd_run_parse_dirty(const char *s, uint64_t *rate, enum gw_pattern *p)
{
	char buf[64], *colon;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	colon = strchr(buf, ':');
	if (colon) {
		*colon = '\0';
		if (gw_parse_pattern(colon + 1, p))
			return -EINVAL;
	}
	if (vhm_parse_u64(buf, rate) || *rate > 100000000)
		return -EINVAL;
	return 0;
}

static int parse_args(int argc, char **argv, struct dev_config *c, struct runner_opts *r)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "name", required_argument, NULL, 'n' },
		{ "mem", required_argument, NULL, 'm' },
		{ "queues", required_argument, NULL, 'q' },
		{ "ring", required_argument, NULL, 'r' },
		{ "traffic", required_argument, NULL, 't' },
		{ "dirty", required_argument, NULL, 'd' },
		{ "mac", required_argument, NULL, 'M' },
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'D' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "run-dir", required_argument, NULL, 'R' },
		{ "quiet", no_argument, NULL, 'Q' },
		{ "reconnect", no_argument, NULL, 'c' },
		{ "listen", no_argument, NULL, 'L' },
		{ "trace-backend", optional_argument, NULL, 'B' },
		{ "buffers", required_argument, NULL, 'u' },
		{ "seed", required_argument, NULL, 'e' },
		{ "metrics", required_argument, NULL, 'P' },
		{ "incoming", required_argument, NULL, 'I' },
		{ NULL, 0, NULL, 0 },
	};
	struct vhm_cli p = { .cmd = "run", .shortopts = "", .longopts = opts };
	char host[MIG_SNET_HOST_MAX], err[160];
	bool mem_given = false;
	uint16_t port;
	uint64_t v;
	int o;

	while ((o = vhm_cli_next(&p, argc, argv)) > 0) {
		switch (o) {
		case 'b': c->backend = optarg; break;
		case 'n': c->name = optarg; break;
		case 'm':
			if (vhm_parse_size(optarg, &c->mem_bytes))
				return vhm_usage_error("run", "--mem '%s': expected a size like 256M",
						       optarg);
			mem_given = true;
			break;
		case 'q':
			if (vhm_parse_u64(optarg, &v) || v < 1 || v > ND_MAX_QUEUES)
				return vhm_usage_error("run", "--queues '%s': expected 1..%d", optarg,
						       ND_MAX_QUEUES);
			c->queues = (int)v;
			break;
		case 'r':
			if (!strcmp(optarg, "split")) c->ring = DEV_RING_SPLIT;
			else if (!strcmp(optarg, "packed")) c->ring = DEV_RING_PACKED;
			else if (!strcmp(optarg, "auto")) c->ring = DEV_RING_AUTO;
			else return vhm_usage_error("run", "--ring '%s': expected auto, split or packed",
						    optarg);
			break;
		case 't':
			if (cmd_run_parse_traffic(optarg, &c->pps, &c->frame_size))
				return vhm_usage_error("run", "--traffic '%s': expected PPS[:SIZE], "
						       "SIZE %d..%d", optarg, ND_MIN_FRAME, ND_MAX_FRAME);
			break;
		case 'd':
			if (cmd_run_parse_dirty(optarg, &c->dirty_rate, &c->pattern))
				return vhm_usage_error("run", "--dirty '%s': expected PAGES_PER_S"
						       "[:uniform|hotset|sequential]", optarg);
			break;
		case 'M':
			if (vhm_parse_mac(optarg, c->mac) || (c->mac[0] & 1))
				return vhm_usage_error("run", "--mac '%s': expected a unicast MAC",
						       optarg);
			break;
		case 'i':
			if (vhm_parse_duration_ms(optarg, &r->interval_ms) || r->interval_ms < 10)
				return vhm_usage_error("run", "--interval '%s': expected >= 10ms",
						       optarg);
			break;
		case 'D':
			if (vhm_parse_duration_ms(optarg, &r->duration_ms) || !r->duration_ms)
				return vhm_usage_error("run", "--duration '%s': expected a duration",
						       optarg);
			break;
		case 'T':
			if (vhm_parse_duration_ms(optarg, &v) || v < 1 || v > 600000)
				return vhm_usage_error("run", "--timeout '%s': expected a duration, "
						       "1ms..10m", optarg);
			c->timeout_ms = (int)v;
			break;
		case 'u':
			if (netdrv_parse_buffers(optarg, &c->buffers))
				return vhm_usage_error("run", "--buffers '%s': expected spread or compact",
						       optarg);
			break;
		case 'e':
			if (vhm_parse_u64(optarg, &c->seed) || !c->seed)
				return vhm_usage_error("run", "--seed '%s': expected a number >= 1",
						       optarg);
			break;
		case 'I':
			if (mig_snet_parse(optarg, host, sizeof(host), &port, err, sizeof(err)))
				return vhm_usage_error("run", "--incoming %s", err);
			r->incoming = optarg;
			break;
		case 'R': r->run_dir = optarg; break;
		case 'Q': r->quiet = true; break;
		case 'c': r->reconnect = true; break;
		case 'L': c->listen = true; break;
		case 'P':
			if (metrics_parse_listen(optarg, host, sizeof(host), &port, err,
						 sizeof(err)))
				return vhm_usage_error("run", "%s", err);
			r->metrics = optarg;
			break;
		case 'B':
			if (vbpf_parse_probes(optarg ? optarg : VBPF_DEV_DEFAULT_PROBES,
					      &r->trace_probes))
				return vhm_usage_error("run", "--trace-backend='%s': expected probes "
						       "like ctl,kick,pf,kvm,uprobe or all", optarg);
			break;
		}
	}
	if (o != VHM_CLI_END)
		return o;
	if (optind != argc)
		return vhm_usage_error("run", "unexpected argument '%s'", argv[optind]);
	if (!c->backend)
		return vhm_usage_error("run", "--backend SOCKET is required");
	if (r->incoming && !mem_given)   /* the stream's size (mig_incoming) */
		c->mem_bytes = 0;
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct runner_opts o = { .interval_ms = 1000 };
	struct dev_config c;
	int rc;

	dev_config_defaults(&c);
	rc = parse_args(argc, argv, &c, &o);
	if (rc)
		return vhm_cli_status(rc);
	return runner_run(&o, &c);
}
