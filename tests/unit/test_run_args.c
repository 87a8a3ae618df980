/* SPDX-License-Identifier: MIT */
/* run_args: the argument checks of vhm run's commands, without a device —
 * defaults when a member is left out, each range's two ends accepted and the
 * values just past them refused with a message naming the argument, and the
 * first fault of several reported as before the checks moved out of the
 * handlers (the ctl_*, track and migrate suites cover them through a device). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <string.h>

#include "netdrv.h"
#include "run_args.h"
#include "run_track.h"

static char err[512];
static json_t *held;   /* the last migrate arguments: mig_params borrows their strings */

static void release(void)
{
	json_decref(held);
	held = NULL;
}

/* The arguments text as a JSON object (the test fails on bad JSON). */
static json_t *obj(const char *text)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);

	cr_assert(not(eq(ptr, o, NULL)), "test JSON %s: %s", text, jerr.text);
	return o;
}

static int migrate(const char *text, struct mig_params *p)
{
	release();
	held = obj(text);
	err[0] = '\0';
	return run_args_migrate(held, p, err, sizeof(err));
}

Test(run_args, migrate_sets_its_defaults, .fini = release)
{
	struct mig_params p;

	memset(&p, 0xa5, sizeof(p));
	cr_assert(eq(int, migrate("{\"to\": \"/b.sock\"}", &p), 0));
	cr_assert(eq(str, (char *)p.to, "/b.sock"));
	cr_assert(eq(u64, p.downtime_ms, 50));
	cr_assert(eq(int, p.max_iterations, 30));
	cr_assert(eq(int, p.copy_threads, 1));
	cr_assert(eq(u64, p.bandwidth, 0));
	cr_assert(not(p.has_mac));
	cr_assert(eq(ptr, (void *)p.announce_ifname, NULL));
	cr_assert(eq(int, p.verify, MIG_VERIFY_AFTER_RESUME));
	cr_assert(not(p.shared_memory));
	cr_assert(eq(ptr, (void *)p.cancel, NULL));
	cr_assert(eq(int, p.connections, 1));
	cr_assert(eq(int, p.switchover_boost, MIG_BOOST_DEFAULT));
}

Test(run_args, migrate_reads_connections, .fini = release)
{
	struct mig_params p;

	cr_assert(eq(int, migrate("{\"to\": \"tcp:h:1\", \"connections\": 16}", &p), 0), "%s",
		  err);
	cr_assert(eq(int, p.connections, 16));
}

Test(run_args, migrate_reads_every_member, .fini = release)
{
	struct mig_params p;

	cr_assert(eq(int, migrate("{\"to\": \"/b\", \"downtime_ms\": 60000, \"max_iterations\": 999,"
				  " \"bandwidth\": 9223372036854775807, \"mac\": \"52:54:00:00:00:01\","
				  " \"announce_ifname\": \"veth0\", \"verify\": \"sync\","
				  " \"copy_threads\": 2, \"shared_memory\": true,"
				  " \"switchover_boost\": 0}", &p), 0));
	cr_assert(eq(u64, p.downtime_ms, 60000));
	cr_assert(eq(int, p.max_iterations, 999));
	cr_assert(eq(u64, p.bandwidth, UINT64_MAX >> 1));
	cr_assert(p.has_mac);
	cr_assert(eq(u8, p.mac[5], 1));
	cr_assert(eq(str, (char *)p.announce_ifname, "veth0"));
	cr_assert(eq(int, p.verify, MIG_VERIFY_SYNC));
	cr_assert(eq(int, p.copy_threads, 2));
	cr_assert(p.shared_memory);
	cr_assert(eq(int, p.switchover_boost, 0));
}

/* One refused set of arguments: the code, and a word the message must hold. */
struct refusal {
	char args[120];
	int rc;
	char says[48];
};

ParameterizedTestParameters(run_args, migrate_refuses)
{
	static struct refusal r[] = {
		{ "{}", -EINVAL, "'to': expected a socket path" },
		{ "{\"to\": \"\"}", -EINVAL, "'to': expected a non-empty string" },
		{ "{\"to\": \"tcp:h:1\", \"shared_memory\": true}", -EINVAL, "another vhm" },
		{ "{\"to\": \"tcp:h\"}", -EINVAL, "tcp:h" },
		{ "{\"to\": \"tcp:h:0\"}", -EINVAL, "needs a port" },
		{ "{\"to\": \"/b\", \"downtime_ms\": 0}", -EINVAL, "'downtime_ms'" },
		{ "{\"to\": \"/b\", \"downtime_ms\": 60001}", -EINVAL, "1..60000" },
		{ "{\"to\": \"/b\", \"max_iterations\": 1000}", -EINVAL, "0..999" },
		{ "{\"to\": \"/b\", \"max_iterations\": -1}", -EINVAL, "'max_iterations'" },
		{ "{\"to\": \"/b\", \"copy_threads\": 3}", -EINVAL, "'copy_threads'" },
		{ "{\"to\": \"/b\", \"bandwidth\": 1.5}", -EINVAL, "'bandwidth'" },
		{ "{\"to\": \"/b\", \"mac\": \"01:00:5e:00:00:01\"}", -EINVAL, "unicast" },
		{ "{\"to\": \"/b\", \"verify\": \"none\"}", -EINVAL, "not 'none'" },
		{ "{\"to\": \"/b\", \"shared_memory\": 1}", -EINVAL, "'shared_memory'" },
		{ "{\"to\": \"tcp:h:1\", \"connections\": 0}", -EINVAL, "'connections'" },
		{ "{\"to\": \"tcp:h:1\", \"connections\": 17}", -EINVAL, "1..16" },
		{ "{\"to\": \"/b\", \"connections\": 2}", -EINVAL, "only a tcp:" },
		{ "{\"to\": \"/b\", \"switchover_boost\": 21}", -EINVAL, "0..20" },
		{ "{\"to\": \"/b\", \"switchover_boost\": -1}", -EINVAL, "'switchover_boost'" },
		/* several faults: the first in the order the checks always ran */
		{ "{\"to\": 7, \"downtime_ms\": 0}", -EINVAL, "'to'" },
		{ "{\"verify\": \"x\"}", -EINVAL, "'verify'" },
	};

	return cr_make_param_array(struct refusal, r, sizeof(r) / sizeof(r[0]));
}

ParameterizedTest(struct refusal *r, run_args, migrate_refuses, .fini = release)
{
	struct mig_params p;

	cr_assert(eq(int, migrate(r->args, &p), r->rc), "%s", r->args);
	cr_assert(not(eq(ptr, strstr(err, r->says), NULL)), "%s: said \"%s\"", r->args, err);
}

Test(run_args, set_traffic_ranges)
{
	struct run_args_traffic a = { .size = 777 };
	json_t *o = obj("{\"pps\": 10000000}");

	cr_assert(eq(int, run_args_set_traffic(o, &a, err, sizeof(err)), 0));
	cr_assert(eq(u64, a.pps, 10000000));
	cr_assert(eq(u64, a.size, 777), "size left out keeps the caller's");
	json_decref(o);
	o = obj("{\"pps\": 0, \"size\": 60}");
	cr_assert(eq(int, run_args_set_traffic(o, &a, err, sizeof(err)), 0));
	cr_assert(eq(u64, a.size, ND_MIN_FRAME));
	json_decref(o);
	o = obj("{\"pps\": 1, \"size\": 1515}");
	cr_assert(eq(int, run_args_set_traffic(o, &a, err, sizeof(err)), -EINVAL));
	cr_assert(not(eq(ptr, strstr(err, "'size': expected an integer 60..1514"), NULL)), "%s", err);
	json_decref(o);
	o = obj("{\"size\": 100}");
	cr_assert(eq(int, run_args_set_traffic(o, &a, err, sizeof(err)), -EINVAL));
	cr_assert(eq(str, err, "missing argument 'pps'"));
	json_decref(o);
}

Test(run_args, set_dirty_pattern)
{
	struct run_args_dirty a = { .pattern = GW_SEQUENTIAL };
	json_t *o = obj("{\"rate\": 100000000}");

	cr_assert(eq(int, run_args_set_dirty(o, &a, err, sizeof(err)), 0));
	cr_assert(eq(int, a.pattern, GW_SEQUENTIAL), "pattern left out keeps the caller's");
	json_decref(o);
	o = obj("{\"rate\": 5, \"pattern\": \"hotset\"}");
	cr_assert(eq(int, run_args_set_dirty(o, &a, err, sizeof(err)), 0));
	cr_assert(eq(int, a.pattern, GW_HOTSET));
	json_decref(o);
	o = obj("{\"rate\": 5, \"pattern\": \"hot\"}");
	cr_assert(eq(int, run_args_set_dirty(o, &a, err, sizeof(err)), -EINVAL));
	cr_assert(not(eq(ptr, strstr(err, "'pattern'"), NULL)), "%s", err);
	json_decref(o);
	o = obj("{\"rate\": 100000001}");
	cr_assert(eq(int, run_args_set_dirty(o, &a, err, sizeof(err)), -EINVAL));
	json_decref(o);
}

Test(run_args, track_start_and_stop)
{
	struct run_args_track a;
	bool force = true;
	json_t *o = obj("{}");

	cr_assert(eq(int, run_args_track_start(o, &a, err, sizeof(err)), 0));
	cr_assert(eq(u64, a.interval_ms, RUN_TRACK_INTERVAL_MS));
	cr_assert(not(a.verify));
	cr_assert(a.stop_check, "the stop check is on unless asked off");
	cr_assert(eq(int, run_args_track_stop(o, &force, err, sizeof(err)), 0));
	cr_assert(not(force));
	json_decref(o);
	o = obj("{\"interval_ms\": 50, \"verify\": true, \"force\": true}");
	cr_assert(eq(int, run_args_track_start(o, &a, err, sizeof(err)), 0));
	cr_assert(eq(u64, a.interval_ms, RUN_TRACK_SYNC_MS));
	cr_assert(a.verify);
	cr_assert(eq(int, run_args_track_stop(o, &force, err, sizeof(err)), 0));
	cr_assert(force);
	json_decref(o);
	o = obj("{\"interval_ms\": 49}");
	cr_assert(eq(int, run_args_track_start(o, &a, err, sizeof(err)), -EINVAL));
	cr_assert(not(eq(ptr, strstr(err, "50..3600000"), NULL)), "%s", err);
	json_decref(o);
	o = obj("{\"verify\": \"yes\"}");
	cr_assert(eq(int, run_args_track_start(o, &a, err, sizeof(err)), -EINVAL));
	json_decref(o);
	o = obj("{\"verify\": true, \"stop_check\": false}");
	cr_assert(eq(int, run_args_track_start(o, &a, err, sizeof(err)), 0));
	cr_assert(not(a.stop_check));
	json_decref(o);
	o = obj("{\"stop_check\": 0}");
	cr_assert(eq(int, run_args_track_start(o, &a, err, sizeof(err)), -EINVAL));
	cr_assert(not(eq(ptr, strstr(err, "stop_check"), NULL)), "%s", err);
	json_decref(o);
}

Test(run_args, predict_numbers)
{
	struct run_args_predict a;
	json_t *o = obj("{\"bandwidth\": 1e9, \"downtime_ms\": 50}");

	cr_assert(eq(int, run_args_predict(o, &a, err, sizeof(err)), 0));
	cr_assert(eq(dbl, a.bandwidth, 1e9));
	cr_assert(eq(dbl, a.downtime_ms, 50.0));
	cr_assert(eq(uint, a.max_rounds, 0), "absent: 0, the default");
	json_decref(o);
	o = obj("{\"bandwidth\": 1, \"downtime_ms\": 0.5, \"max_rounds\": 1000}");
	cr_assert(eq(int, run_args_predict(o, &a, err, sizeof(err)), 0));
	cr_assert(eq(uint, a.max_rounds, 1000));
	json_decref(o);
	o = obj("{\"bandwidth\": 0, \"downtime_ms\": 50}");
	cr_assert(eq(int, run_args_predict(o, &a, err, sizeof(err)), -EINVAL));
	cr_assert(not(eq(ptr, strstr(err, "'bandwidth'"), NULL)), "%s", err);
	json_decref(o);
	o = obj("{\"bandwidth\": 1, \"downtime_ms\": 50, \"max_rounds\": 1001}");
	cr_assert(eq(int, run_args_predict(o, &a, err, sizeof(err)), -EINVAL));
	cr_assert(not(eq(ptr, strstr(err, "'max_rounds'"), NULL)), "%s", err);
	json_decref(o);
}

/* cont's force: false when absent, a boolean or refused naming it. */
Test(run_args, cont_force)
{
	bool force = true;
	json_t *o = obj("{}");

	cr_assert(eq(int, run_args_cont(o, &force, err, sizeof(err)), 0));
	cr_assert(not(force), "absent: not forced");
	json_decref(o);
	o = obj("{\"force\": true}");
	cr_assert(eq(int, run_args_cont(o, &force, err, sizeof(err)), 0));
	cr_assert(force);
	json_decref(o);
	o = obj("{\"force\": 1}");
	cr_assert(eq(int, run_args_cont(o, &force, err, sizeof(err)), -EINVAL));
	cr_assert(not(eq(ptr, strstr(err, "'force'"), NULL)), "%s", err);
	json_decref(o);
}
