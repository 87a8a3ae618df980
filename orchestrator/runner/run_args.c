/* SPDX-License-Identifier: MIT */
/* The argument checks of `vhm run`'s commands (run_args.h): three readers of
 * one optional member each (arg_u64, arg_str, arg_bool), and per command the
 * order its checks ran in before they moved here, so a request with several
 * faults still gets the same first complaint. */
#include "run_args.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mig_snet.h"
#include "netdrv.h"
#include "run_track.h"
#include "util.h"

/* The integer argument `key` in lo..hi into *out, left alone if absent;
 * -EINVAL if present and not such an integer, or absent and required. */
static int arg_u64(json_t *args, const char *key, uint64_t lo, uint64_t hi, uint64_t *out,
		   bool required, char *err, size_t errlen)
{
	json_t *v = json_object_get(args, key);

	if (!v) {
		if (required)
			snprintf(err, errlen, "missing argument '%s'", key);
		return required ? -EINVAL : 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < lo || (uint64_t)json_integer_value(v) > hi)
		return vhm_err(err, errlen, -EINVAL,
			       "argument '%s': expected an integer %llu..%llu", key,
			       (unsigned long long)lo, (unsigned long long)hi);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* The optional string argument `key`; -EINVAL if present and not a string. */
static int arg_str(json_t *args, const char *key, const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(args, key);

	if (!v)
		return 0;
	if (!json_is_string(v) || !json_string_length(v))
		return vhm_err(err, errlen, -EINVAL, "argument '%s': expected a non-empty string",
			       key);
	*out = json_string_value(v);
	return 0;
}

/* The optional boolean argument `key`; -EINVAL if present and not a boolean. */
static int arg_bool(json_t *args, const char *key, bool *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(args, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return vhm_err(err, errlen, -EINVAL, "argument '%s': expected true or false", key);
	*out = json_is_true(v);
	return 0;
}

/* A stream destination ("tcp:HOST:PORT"): well-formed, a port, no hot swap. */
static int stream_to(const struct mig_params *p, char *err, size_t errlen)
{
	char host[MIG_SNET_HOST_MAX], why[200];
	uint16_t port;

	if (p->shared_memory)
		return vhm_err(err, errlen, -EINVAL, "argument 'shared_memory': a hot swap maps "
			       "the same memory on one host; %s is another vhm process with its "
			       "own", p->to);
	if (mig_snet_parse(p->to, host, sizeof(host), &port, why, sizeof(why)))
		return vhm_err(err, errlen, -EINVAL, "argument 'to': %s", why);
	if (!port)
		return vhm_err(err, errlen, -EINVAL, "argument 'to': %s needs a port", p->to);
	return 0;
}

int run_args_migrate(json_t *args, struct mig_params *p, char *err, size_t errlen)
{
	const char *mac = NULL, *verify = NULL;
	uint64_t iters = 30, threads = 1, conns = 1, boost = MIG_BOOST_DEFAULT;
	int rc;

	*p = (struct mig_params){ .downtime_ms = 50, .max_iterations = 30 };
	if ((rc = arg_str(args, "to", &p->to, err, errlen)) ||
	    (rc = arg_u64(args, "copy_threads", 1, 2, &threads, false, err, errlen)) ||
	    (rc = arg_u64(args, "downtime_ms", 1, 60000, &p->downtime_ms, false, err, errlen)) ||
	    (rc = arg_u64(args, "max_iterations", 0, MIG_MAX_ITER - 1, &iters, false, err,
			  errlen)) ||
	    (rc = arg_u64(args, "bandwidth", 0, UINT64_MAX >> 1, &p->bandwidth, false, err,
			  errlen)) ||
	    (rc = arg_str(args, "mac", &mac, err, errlen)) ||
	    (rc = arg_str(args, "announce_ifname", &p->announce_ifname, err, errlen)) ||
	    (rc = arg_str(args, "verify", &verify, err, errlen)) ||
	    (rc = arg_bool(args, "shared_memory", &p->shared_memory, err, errlen)) ||
	    (rc = arg_u64(args, "connections", 1, MIG_STREAM_CONNS_MAX, &conns, false, err,
			  errlen)) ||
	    (rc = arg_u64(args, "switchover_boost", 0, MIG_BOOST_MAX, &boost, false, err,
			  errlen)))
		return rc;
	if (verify && mig_verify_parse(verify, &p->verify))
		return vhm_err(err, errlen, -EINVAL, "argument 'verify': expected after-resume or sync, "
			       "not '%s'", verify);
	if (!p->to)
		return vhm_err(err, errlen, -EINVAL, "argument 'to': expected a socket path");
	if (mig_snet_is_addr(p->to) && (rc = stream_to(p, err, errlen)))
		return rc;
	if (conns > 1 && !mig_snet_is_addr(p->to))
		return vhm_err(err, errlen, -EINVAL, "argument 'connections': only a tcp: "
			       "destination takes several");
	p->connections = (int)conns;
	if (mac && (vhm_parse_mac(mac, p->mac) || (p->mac[0] & 1)))
		return vhm_err(err, errlen, -EINVAL, "argument 'mac': expected a unicast MAC");
	p->has_mac = mac != NULL;
	p->max_iterations = (int)iters;
	p->copy_threads = (int)threads;
	p->switchover_boost = (int)boost;
	return 0;
}

int run_args_set_traffic(json_t *args, struct run_args_traffic *a, char *err, size_t errlen)
{
	int rc;

	if ((rc = arg_u64(args, "pps", 0, 10000000, &a->pps, true, err, errlen)))
		return rc;
	return arg_u64(args, "size", ND_MIN_FRAME, ND_MAX_FRAME, &a->size, false, err, errlen);
}

int run_args_set_dirty(json_t *args, struct run_args_dirty *a, char *err, size_t errlen)
{
	json_t *pat = json_object_get(args, "pattern");
	int rc;

	if ((rc = arg_u64(args, "rate", 0, 100000000, &a->rate, true, err, errlen)))
		return rc;
	if (pat && (!json_is_string(pat) || gw_parse_pattern(json_string_value(pat), &a->pattern)))
		return vhm_err(err, errlen, -EINVAL,
			       "argument 'pattern': expected uniform, hotset or sequential");
	return 0;
}

int run_args_track_start(json_t *args, struct run_args_track *a, char *err, size_t errlen)
{
	json_t *iv = json_object_get(args, "interval_ms"), *vf = json_object_get(args, "verify");
	json_t *sc = json_object_get(args, "stop_check");

	if (iv && (!json_is_integer(iv) || json_integer_value(iv) < RUN_TRACK_SYNC_MS ||
		   json_integer_value(iv) > 3600000))
		return vhm_err(err, errlen, -EINVAL,
			       "argument 'interval_ms': expected an integer %d..3600000",
			       RUN_TRACK_SYNC_MS);
	if (vf && !json_is_boolean(vf))
		return vhm_err(err, errlen, -EINVAL, "argument 'verify': expected true or false");
	if (sc && !json_is_boolean(sc))
		return vhm_err(err, errlen, -EINVAL,
			       "argument 'stop_check': expected true or false");
	a->stop_check = !sc || json_is_true(sc);
	a->interval_ms = iv ? (uint64_t)json_integer_value(iv) : RUN_TRACK_INTERVAL_MS;
	a->verify = json_is_true(vf);
	return 0;
}

int run_args_cont(json_t *args, bool *force, char *err, size_t errlen)
{
	*force = false;
	return arg_bool(args, "force", force, err, errlen);
}

int run_args_track_stop(json_t *args, bool *force, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	*force = json_is_true(json_object_get(args, "force"));
	return 0;
}

int run_args_predict(json_t *args, struct run_args_predict *a, char *err, size_t errlen)
{
	json_t *bw = json_object_get(args, "bandwidth"), *dt = json_object_get(args, "downtime_ms");
	json_t *mr = json_object_get(args, "max_rounds");

	if (!json_is_number(bw) || !(json_number_value(bw) > 0))
		return vhm_err(err, errlen, -EINVAL, "argument 'bandwidth': expected bytes/s > 0");
	if (!json_is_number(dt) || !(json_number_value(dt) > 0))
		return vhm_err(err, errlen, -EINVAL, "argument 'downtime_ms': expected ms > 0");
	if (mr && (!json_is_integer(mr) || json_integer_value(mr) < 1 ||
		   json_integer_value(mr) > 1000))
		return vhm_err(err, errlen, -EINVAL,
			       "argument 'max_rounds': expected an integer 1..1000");
	a->bandwidth = json_number_value(bw);
	a->downtime_ms = json_number_value(dt);
	a->max_rounds = mr ? (unsigned)json_integer_value(mr) : 0;
	return 0;
}
