/* SPDX-License-Identifier: MIT */
/* run_args — `vhm run`'s control commands: their list (RUN_ARGS_CMDS) and
 * their argument checks (runner.c's commands, run_track.c's tracking
 * commands), apart from the commands' work on the device: each function
 * reads one command's "arguments" object into a plain struct, or refuses it
 * with one line in err naming the argument and what it takes. They touch no device and keep no state, so that
 * tests/fuzz/fuzz_run_args.c can feed them anything a client could send.
 *
 * The control server has already refused unknown keys (the ctl_cmd's keys);
 * these check the values. Strings in the structs are borrowed from args and
 * live as long as it. A member the arguments leave out keeps the value the
 * caller put there, unless the function says it sets a default. */
#ifndef VHM_RUN_ARGS_H
#define VHM_RUN_ARGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gwriter.h"
#include "migrate.h"

/* vhm run's control commands, one row each: X(handler, name, doc, keys...).
 * The handler is runner.c's; doc is what `help` shows of the arguments; the
 * keys are the argument members the control server lets through (it refuses
 * any other, at most CTL_ARGS_MAX). runner.c expands the list into its
 * ctl_cmd table, tests/fuzz/fuzz_ctl.c into one whose handlers echo: one
 * list, so the harness never falls behind the commands. */
#define RUN_ARGS_CMDS(X) \
	X(ctl_migrate, "migrate", "{\"to\": PATH, \"downtime_ms\": N, \"max_iterations\": N, " \
	  "\"bandwidth\": BYTES_PER_S, \"mac\": MAC, \"announce_ifname\": IF, \"verify\": " \
	  "\"after-resume\"|\"sync\", \"copy_threads\": 1|2, \"shared_memory\": BOOL, " \
	  "\"connections\": 1..16, \"switchover_boost\": 0..20} -- starts; \"migration\" " \
	  "events follow", \
	  "to", "downtime_ms", "max_iterations", "bandwidth", "mac", "announce_ifname", "verify", \
	  "copy_threads", "shared_memory", "connections", "switchover_boost") \
	X(ctl_migrate_cancel, "migrate-cancel", "{}") \
	X(ctl_digest, "digest", "{} -- digests of guest memory, guest paused") \
	X(ctl_migrate_status, "migrate-status", "{}") \
	X(ctl_query_migrate, "query-migrate", "{} -- QMP's MigrationInfo") \
	X(ctl_query_status, "query-status", "{} -- QMP's StatusInfo") \
	X(ctl_status, "status", "{}") \
	X(ctl_status, "stats", "{}") \
	X(ctl_set_traffic, "set-traffic", "{\"pps\": N, \"size\": BYTES}", "pps", "size") \
	X(ctl_set_dirty, "set-dirty", "{\"rate\": PAGES_PER_S, \"pattern\": P}", "rate", "pattern") \
	X(ctl_stop, "stop", "{}") \
	X(ctl_cont, "cont", "{\"force\": B} -- destination-unknown: resume here once the " \
	  "destination is known not to run the device (force true)", "force") \
	X(ctl_track_start, "track-start", "{\"interval_ms\": N, \"verify\": B, \"stop_check\": B} " \
	  "-- \"dirty\" events follow", "interval_ms", "verify", "stop_check") \
	X(ctl_track_stop, "track-stop", "{\"force\": B}", "force") \
	X(ctl_dirty, "dirty", "{} -- the latest \"dirty\" event") \
	X(ctl_predict, "predict", "{\"bandwidth\": BYTES_PER_S, \"downtime_ms\": N, " \
	  "\"max_rounds\": N}", "bandwidth", "downtime_ms", "max_rounds")

/* migrate: every member of *p set (defaults: downtime 50 ms, 30 iterations,
 * one copy thread); "to" required, a socket path (a TCP address is refused
 * with -ENOTSUP); "mac" unicast. */
int run_args_migrate(json_t *args, struct mig_params *p, char *err, size_t errlen);

/* set-traffic: "pps" required, 0..10000000; "size" ND_MIN_FRAME..ND_MAX_FRAME
 * bytes. */
struct run_args_traffic {
	uint64_t pps;
	uint64_t size;
};
int run_args_set_traffic(json_t *args, struct run_args_traffic *a, char *err, size_t errlen);

/* set-dirty: "rate" required, 0..100000000 pages/s; "pattern" a gwriter
 * pattern's name. */
struct run_args_dirty {
	uint64_t rate;
	enum gw_pattern pattern;
};
int run_args_set_dirty(json_t *args, struct run_args_dirty *a, char *err, size_t errlen);

/* track-start: "interval_ms" RUN_TRACK_SYNC_MS..3600000 (default
 * RUN_TRACK_INTERVAL_MS, set here); "verify" a boolean (default false);
 * "stop_check" a boolean (default true: with verify, the session's end
 * stops the rings and checks the log at GET_VRING_BASE's reply). */
struct run_args_track {
	uint64_t interval_ms;
	bool verify;
	bool stop_check;
};
int run_args_track_start(json_t *args, struct run_args_track *a, char *err, size_t errlen);

/* cont: "force" a boolean (default false). */
int run_args_cont(json_t *args, bool *force, char *err, size_t errlen);

/* track-stop: "force" true forces; any other value does not (never fails). */
int run_args_track_stop(json_t *args, bool *force, char *err, size_t errlen);

/* predict: "bandwidth" (bytes/s) and "downtime_ms" numbers > 0, both
 * required; "max_rounds" 1..1000 (0 when absent: the default, set here). */
struct run_args_predict {
	double bandwidth, downtime_ms;
	unsigned max_rounds;
};
int run_args_predict(json_t *args, struct run_args_predict *a, char *err, size_t errlen);

#endif
