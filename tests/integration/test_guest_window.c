/* SPDX-License-Identifier: MIT */
/* The built-in guest's flow-control window against a backend that drops
 * frames: vhm-testbe --drop-frames N swallows the first N frames, more than
 * the guest ever has in flight, as a vswitch does before its flows exist.
 * The guest must not wait forever for frames that will never come back: after
 * ND_LOSS_TIMEOUT_MS the window is written off (counted lost, loss_timeouts
 * says so) and traffic resumes. A healthy backend never trips the timeout. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "devtest.h"
#include "support.h"

struct window_case {
	char ring[8];       /* split | packed */
	char drop[16];      /* --drop-frames, "0" for a healthy backend */
};

static struct window_case cases[] = {
	{ "split", "3000" },
	{ "packed", "3000" },
	{ "split", "0" },
};

ParameterizedTestParameters(guest_window, dropped_window_reopens)
{
	return cr_make_param_array(struct window_case, cases, sizeof(cases) / sizeof(cases[0]));
}

static void start(const struct window_case *wc)
{
	char sock[TS_PATH_MAX], bin[256], log[TS_PATH_MAX + 16], ctl[TS_PATH_MAX + 16];
	const char *extra[] = { "--loopback", "--drop-frames", wc->drop, NULL };
	const char *argv[] = { bin, "run", "--backend", sock, "--name", "w0", "--mem", "64M",
			       "--ring", wc->ring, "--traffic", "20000", "--run-dir", ts_dir(),
			       "--duration", "60s", "--quiet", NULL };

	cr_assert(eq(int, ts_path("be.sock", sock, sizeof(sock)), 0));
	cr_assert(lt(int, 0, ts_testbe_start(sock, extra)), "vhm-testbe did not start");
	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/w0.log", ts_dir());
	cr_assert(lt(int, 0, ts_spawn(argv, log)));
	snprintf(ctl, sizeof(ctl), "%s/w0.sock", ts_dir());
	cr_assert(eq(int, ts_wait_socket(ctl, 10000), 0), "control socket never appeared");
}

static long long counter(json_t *status, const char *key)
{
	return json_integer_value(json_object_get(
		json_object_get(json_object_get(status, "traffic"), "total"), key));
}

static long long total(struct ctl_client *c, const char *key)
{
	json_t *s = dt_call(c, "status", NULL);
	long long v = counter(s, key);

	json_decref(s);
	return v;
}

/* Up to 3 s for the windows a backend that drops `drop` frames swallows
 * to be written off (the test goes on once they are); a healthy backend
 * runs the whole 3 s. */
static void settle(struct ctl_client *c, long long drop)
{
	long end = ts_now_ms() + 3000;

	while (ts_now_ms() < end && !(drop > 0 && total(c, "rx_lost") >= drop))
		usleep(50000);
}

/* 20 000 frames/s; the backend drops the first 3000 (the guest has at most
 * ND_RING_SIZE - TX_BATCH = 992 in flight, so the window fills with frames
 * that never return). Within 3 s the window must have been written off at
 * least once, and then frames flow: > 5000 back in the next second (a
 * quarter of the rate, tolerant of a slow machine). */
ParameterizedTest(struct window_case *wc, guest_window, dropped_window_reopens, .fini = dt_fini,
		  .timeout = 60)
{
	struct ctl_client *c;
	long long rx0, rx1, tx, lost, timeouts;
	json_t *st;

	start(wc);
	c = dt_connect("w0");
	settle(c, atoll(wc->drop));
	rx0 = total(c, "rx_frames");
	rx1 = dt_wait_rx_past(c, rx0 + 5000, 1000);
	cr_assert(lt(i64, rx0 + 5000, rx1), "%s: rx_frames %lld -> %lld in 1 s: the guest stalled",
		  wc->ring, rx0, rx1);
	/* traffic off, frames in flight back: every frame sent is accounted
	 * exactly once, back or lost, in one snapshot */
	json_decref(dt_call(c, "set-traffic", json_pack("{s:i}", "pps", 0)));
	sleep(1);
	st = dt_call(c, "status", NULL);
	tx = counter(st, "tx_frames");
	lost = counter(st, "rx_lost");
	timeouts = counter(st, "loss_timeouts");
	cr_assert(eq(i64, counter(st, "rx_dup"), 0), "frames counted twice");
	cr_assert(eq(i64, counter(st, "rx_frames") + lost, tx),
		  "%lld back + %lld lost != %lld sent", counter(st, "rx_frames"), lost, tx);
	json_decref(st);
	if (!strcmp(wc->drop, "0")) {
		cr_assert(eq(i64, timeouts, 0), "a healthy backend tripped the loss timeout");
		cr_assert(eq(i64, lost, 0), "a healthy loopback lost %lld frames", lost);
	} else {
		cr_assert(le(i64, 1, timeouts), "no window was written off");
		cr_assert(le(i64, 3000, lost), "only %lld frames counted lost of 3000 dropped", lost);
	}
	ctl_client_close(c);
}
