/* SPDX-License-Identifier: MIT */
/* fuzz_run_args — the value checks of `vhm run`'s commands (run_args.c), the
 * half of each command that runs before it touches the device: migrate,
 * set-traffic, set-dirty, track-start, track-stop, predict.  fuzz_ctl
 * covers the framing and the argument keys; this one the values.
 *
 * Input: byte 0 picks the command (modulo their number), the rest is the
 * "arguments" text, parsed as the control server parses a request
 * (JSON_DECODE_ANY, no NUL in strings); what is not an object the server
 * refuses before any command runs, and so does this.
 *
 * What must hold: no crash, leak or sanitizer report; a refusal returns
 * -EINVAL (or -ENOTSUP for a TCP destination) with a message; what is
 * accepted is in the range the command's help promises, so the device half
 * never sees a value out of it. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mig_snet.h"
#include "netdrv.h"
#include "run_args.h"
#include "run_track.h"
#include "util.h"

#define DESC_MAX 512   /* the control server's error text (ctl.c CTL_DESC_MAX) */
#define FZ_CHECK(cond) do { if (!(cond)) fz_fail(#cond, __LINE__); } while (0)

static void fz_fail(const char *what, int line)
{
	fprintf(stderr, "fuzz_run_args: line %d: %s does not hold\n", line, what);
	abort();
}

static int do_migrate(json_t *args, char *err, size_t errlen)
{
	struct mig_params p;
	int rc = run_args_migrate(args, &p, err, errlen);

	if (rc)
		return rc;
	FZ_CHECK(p.to && p.to[0]);
	FZ_CHECK(!mig_snet_is_addr(p.to) || !p.shared_memory);
	FZ_CHECK(p.downtime_ms >= 1 && p.downtime_ms <= 60000);
	FZ_CHECK(p.max_iterations >= 0 && p.max_iterations < MIG_MAX_ITER);
	FZ_CHECK(p.copy_threads == 1 || p.copy_threads == 2);
	FZ_CHECK(p.switchover_boost >= 0 && p.switchover_boost <= MIG_BOOST_MAX);
	FZ_CHECK(p.bandwidth <= UINT64_MAX >> 1);
	FZ_CHECK(!p.has_mac || !(p.mac[0] & 1));
	FZ_CHECK(!p.announce_ifname || p.announce_ifname[0]);
	FZ_CHECK(p.verify == MIG_VERIFY_AFTER_RESUME || p.verify == MIG_VERIFY_SYNC);
	FZ_CHECK(!p.cancel);
	return 0;
}

static int do_set_traffic(json_t *args, char *err, size_t errlen)
{
	struct run_args_traffic a = { .size = ND_MIN_FRAME };
	int rc = run_args_set_traffic(args, &a, err, errlen);

	if (rc)
		return rc;
	FZ_CHECK(a.pps <= 10000000);
	FZ_CHECK(a.size >= ND_MIN_FRAME && a.size <= ND_MAX_FRAME);
	return 0;
}

static int do_set_dirty(json_t *args, char *err, size_t errlen)
{
	struct run_args_dirty a = { .pattern = GW_UNIFORM };
	int rc = run_args_set_dirty(args, &a, err, errlen);

	if (rc)
		return rc;
	FZ_CHECK(a.rate <= 100000000);
	FZ_CHECK(strcmp(gw_pattern_name(a.pattern), "?"));
	return 0;
}

static int do_track_start(json_t *args, char *err, size_t errlen)
{
	struct run_args_track a;
	int rc = run_args_track_start(args, &a, err, errlen);

	if (rc)
		return rc;
	FZ_CHECK(a.interval_ms >= RUN_TRACK_SYNC_MS && a.interval_ms <= 3600000);
	return 0;
}

static int do_track_stop(json_t *args, char *err, size_t errlen)
{
	bool force;
	int rc = run_args_track_stop(args, &force, err, errlen);

	FZ_CHECK(rc == 0);
	FZ_CHECK(force == json_is_true(json_object_get(args, "force")));
	return 0;
}

static int do_cont(json_t *args, char *err, size_t errlen)
{
	json_t *f = json_object_get(args, "force");
	bool force = true;
	int rc = run_args_cont(args, &force, err, errlen);

	FZ_CHECK(rc == (!f || json_is_boolean(f) ? 0 : -EINVAL));
	FZ_CHECK(rc || force == json_is_true(f));
	return rc;
}

static int do_predict(json_t *args, char *err, size_t errlen)
{
	struct run_args_predict a;
	int rc = run_args_predict(args, &a, err, errlen);

	if (rc)
		return rc;
	FZ_CHECK(a.bandwidth > 0 && isfinite(a.bandwidth));
	FZ_CHECK(a.downtime_ms > 0 && isfinite(a.downtime_ms));
	FZ_CHECK(a.max_rounds <= 1000);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(json_t *args, char *err, size_t errlen);
} cmds[] = {
	{ "migrate", do_migrate },
	{ "set-traffic", do_set_traffic },
	{ "set-dirty", do_set_dirty },
	{ "track-start", do_track_start },
	{ "track-stop", do_track_stop },
	{ "predict", do_predict },
	{ "cont", do_cont },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char err[DESC_MAX] = "";
	json_error_t jerr;
	json_t *args;
	size_t c;
	int rc;

	if (len < 1)
		return 0;
	c = data[0] % VHM_ARRAY_SIZE(cmds);
	args = json_loadb((const char *)data + 1, len - 1, JSON_DECODE_ANY, &jerr);
	if (!json_is_object(args)) {
		json_decref(args);
		return 0;
	}
	rc = cmds[c].fn(args, err, sizeof(err));
	if (rc) {
		FZ_CHECK(rc == -EINVAL || (rc == -ENOTSUP && !strcmp(cmds[c].name, "migrate")));
		FZ_CHECK(err[0] && memchr(err, '\0', sizeof(err)));
	}
	json_decref(args);
	return 0;
}

/* One seed: command c with the arguments text. */
static void seed(size_t c, const char *name, const char *json)
{
	struct fz_seed s = { .b = { 0 }, .n = 0 };
	uint8_t b = (uint8_t)c;

	fz_put(&s, &b, 1);
	fz_put(&s, json, strlen(json));
	fz_seed_save(&s, name);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	if (!fz_seed_dir())
		return 0;
	seed(0, "migrate", "{\"to\":\"/run/vhm/b.sock\",\"downtime_ms\":50,\"max_iterations\":30,"
	     "\"bandwidth\":1000000000,\"mac\":\"52:54:00:12:34:56\",\"announce_ifname\":\"veth0\","
	     "\"verify\":\"sync\",\"copy_threads\":2,\"shared_memory\":false}");
	seed(0, "migrate-edges", "{\"to\":\"b\",\"downtime_ms\":60000,\"max_iterations\":999,"
	     "\"bandwidth\":9223372036854775807,\"copy_threads\":1}");
	seed(0, "migrate-tcp", "{\"to\":\"tcp:127.0.0.1:4444\"}");
	seed(0, "migrate-multicast", "{\"to\":\"/b\",\"mac\":\"01:00:5e:00:00:01\"}");
	seed(0, "migrate-over", "{\"to\":\"/b\",\"downtime_ms\":60001,\"max_iterations\":-1}");
	seed(1, "set-traffic", "{\"pps\":10000,\"size\":1514}");
	seed(1, "set-traffic-edges", "{\"pps\":10000000,\"size\":60}");
	seed(1, "set-traffic-over", "{\"pps\":10000001,\"size\":59}");
	seed(2, "set-dirty", "{\"rate\":1000,\"pattern\":\"hotset\"}");
	seed(2, "set-dirty-edges", "{\"rate\":100000000,\"pattern\":\"sequential\"}");
	seed(2, "set-dirty-bad", "{\"rate\":1.5,\"pattern\":7}");
	seed(3, "track-start", "{\"interval_ms\":1000,\"verify\":true}");
	seed(3, "track-start-nostop", "{\"verify\":true,\"stop_check\":false}");
	seed(3, "track-start-edges", "{\"interval_ms\":50}");
	seed(3, "track-start-over", "{\"interval_ms\":3600001,\"verify\":1}");
	seed(4, "track-stop", "{\"force\":true}");
	seed(5, "predict", "{\"bandwidth\":1e9,\"downtime_ms\":50,\"max_rounds\":31}");
	seed(5, "predict-edges", "{\"bandwidth\":1e-300,\"downtime_ms\":4.9e-324,"
	     "\"max_rounds\":1000}");
	seed(5, "predict-bad", "{\"bandwidth\":0,\"downtime_ms\":-1,\"max_rounds\":0}");
	seed(6, "cont", "{\"force\":true}");
	seed(6, "cont-bad", "{\"force\":\"yes\"}");
	exit(0);
}
