/* SPDX-License-Identifier: MIT */
/* The fault matrix (issue 17): every migration phase x {source, destination}
 * x {connection closed, process killed, hung, error reply, malformed reply},
 * one table, one row per cell, each with the outcome it must have:
 *
 *   source     the migration fails naming the phase, the device runs on its
 *              source (frames flowing, none lost or duplicated at the end);
 *              a request fault's rollback leaves the quiet guest's RAM as it
 *              was (digest before and after, traffic and dirtying off);
 *   lost       the migration fails, the device says backend-lost (a "state"
 *              event), and once the backend answers again --reconnect puts
 *              it back on its source;
 *   dest       the migration succeeds (the copy proved), the device runs on
 *              the destination -- a source that dies hands the device over;
 *   dest-lost  the migration succeeded (the commit point is behind), then the
 *              destination is lost: backend-lost, and back on the destination
 *              once it answers again;
 *   dest-dead  as dest-lost, but the destination is gone: backend-lost stays.
 *
 * In every cell `vhm migrate`'s exit code (0 done, 1 failed), its last JSON
 * line, the "state" events and `status` must agree with the outcome.
 *
 * Faults are injected by vhm-testbe: `--misbehave MODE:REQUEST@N` for the
 * phases that send requests (close, exit, stop on the request's arrival;
 * refuse, wrong-size on its reply), and signals at a migration event for
 * the pre-copy passes, which send none (SIGUSR1: testbe closes the
 * connection; SIGKILL; SIGSTOP). A cell that cannot exist (no request to
 * answer wrongly, no request at all to that side in that phase) is an n/a
 * row: faults/not_applicable prints it with its reason and checks that every
 * cell is in the table once; nothing is left out silently. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "devtest.h"
#include "support.h"
#include "util.h"

/* Default testbe features without GUEST_ANNOUNCE: the destination then
 * announces with SEND_RARP, which the announce rows need. */
#define FX_NO_GUEST_ANNOUNCE "0x564408028"
#define FX_TIMEOUT "1s"          /* vhm run --timeout: what a hung peer costs */

/* No pointers: Criterion copies the rows into the test process. */
struct fx_cell {
	char phase[12];      /* setup dst-prepare log-start pass-0 pass-2 stop final-copy
			      * dst-start announce */
	char side[4];        /* src | dst */
	char fault[12];      /* close kill hang error malformed */
	char inject[40];     /* --misbehave spec, or "sig:EVENT" (signal at that event) */
	char outcome[12];    /* source lost dest dest-lost dest-dead, "" n/a */
	char says[128];       /* the failure's phase (source, lost), or the n/a reason */
};

#define NA(ph, sd, fl, why) { ph, sd, fl, "", "", why }
#define NA5(ph, sd, why) NA(ph, sd, "close", why), NA(ph, sd, "kill", why), \
	NA(ph, sd, "hang", why), NA(ph, sd, "error", why), NA(ph, sd, "malformed", why)
#define NO_REQ "no request in pre-copy: nothing to answer wrongly"

static struct fx_cell cells[] = {
	/* setup: the destination's handshake */
	{ "setup", "dst", "close", "close:GET_FEATURES@1", "source", "setup" },
	{ "setup", "dst", "kill", "exit:GET_FEATURES@1", "source", "setup" },
	{ "setup", "dst", "hang", "stop:GET_FEATURES@1", "source", "setup" },
	{ "setup", "dst", "error", "refuse:SET_OWNER@1", "source", "setup" },
	{ "setup", "dst", "malformed", "wrong-size:GET_FEATURES@1", "source", "setup" },
	NA5("setup", "src", "setup asks the source nothing (its refusals: migrate/setup_refusal)"),
	/* the destination's memory and memory table, before logging starts (vhm
	 * names its failures "pre-copy", as before) */
	{ "dst-prepare", "dst", "close", "close:SET_MEM_TABLE@1", "source", "pre-copy" },
	{ "dst-prepare", "dst", "kill", "exit:SET_MEM_TABLE@1", "source", "pre-copy" },
	{ "dst-prepare", "dst", "hang", "stop:SET_MEM_TABLE@1", "source", "pre-copy" },
	{ "dst-prepare", "dst", "error", "refuse:SET_MEM_TABLE@1", "source", "pre-copy" },
	{ "dst-prepare", "dst", "malformed", "wrong-size:SET_MEM_TABLE@1", "source", "pre-copy" },
	NA5("dst-prepare", "src", "preparing the destination asks the source nothing"),
	/* log start: the source's SET_LOG_BASE, SET_FEATURES(LOG_ALL), ring addresses */
	{ "log-start", "src", "close", "close:SET_LOG_BASE@1", "dest", "" },
	{ "log-start", "src", "kill", "exit:SET_LOG_BASE@1", "dest", "" },
	{ "log-start", "src", "hang", "stop:SET_LOG_BASE@1", "lost", "log-start" },
	{ "log-start", "src", "error", "refuse:SET_FEATURES@2", "source", "log-start" },
	{ "log-start", "src", "malformed", "wrong-size:SET_LOG_BASE@1", "lost", "log-start" },
	NA5("log-start", "dst", "log start asks the destination nothing"),
	/* the first pass (the whole memory), and the third */
	{ "pass-0", "src", "close", "sig:log-start", "dest", "" },
	{ "pass-0", "src", "kill", "sig:log-start", "dest", "" },
	{ "pass-0", "src", "hang", "sig:log-start", "lost", "switchover" },
	NA("pass-0", "src", "error", NO_REQ), NA("pass-0", "src", "malformed", NO_REQ),
	{ "pass-0", "dst", "close", "sig:log-start", "source", "pre-copy" },
	{ "pass-0", "dst", "kill", "sig:log-start", "source", "pre-copy" },
	{ "pass-0", "dst", "hang", "sig:log-start", "source", "switchover" },
	NA("pass-0", "dst", "error", NO_REQ), NA("pass-0", "dst", "malformed", NO_REQ),
	{ "pass-2", "src", "close", "sig:pre-copy", "dest", "" },
	{ "pass-2", "src", "kill", "sig:pre-copy", "dest", "" },
	{ "pass-2", "src", "hang", "sig:pre-copy", "lost", "switchover" },
	NA("pass-2", "src", "error", NO_REQ), NA("pass-2", "src", "malformed", NO_REQ),
	{ "pass-2", "dst", "close", "sig:pre-copy", "source", "pre-copy" },
	{ "pass-2", "dst", "kill", "sig:pre-copy", "source", "pre-copy" },
	{ "pass-2", "dst", "hang", "sig:pre-copy", "source", "switchover" },
	NA("pass-2", "dst", "error", NO_REQ), NA("pass-2", "dst", "malformed", NO_REQ),
	/* the stop: GET_VRING_BASE to the source (ring 1 first) */
	{ "stop", "src", "close", "close:GET_VRING_BASE@1", "dest", "" },
	{ "stop", "src", "kill", "exit:GET_VRING_BASE@1", "dest", "" },
	{ "stop", "src", "hang", "stop:GET_VRING_BASE@1", "lost", "switchover" },
	NA("stop", "src", "error", "GET_VRING_BASE's reply is the ring's base: it has no error code"),
	{ "stop", "src", "malformed", "wrong-size:GET_VRING_BASE@1", "lost", "switchover" },
	NA5("stop", "dst", "the stop asks the destination nothing"),
	NA5("final-copy", "src", "the last copy is vhm's own memcpy from a stopped source: "
	    "no request; a source lost now is not asked again"),
	NA5("final-copy", "dst", "the last copy asks nothing; a destination lost now fails "
	    "its start (dst-start rows)"),
	/* the destination's start: its rings from the source's bases */
	{ "dst-start", "dst", "close", "close:SET_VRING_BASE@1", "source", "switchover" },
	{ "dst-start", "dst", "kill", "exit:SET_VRING_BASE@1", "source", "switchover" },
	{ "dst-start", "dst", "hang", "stop:SET_VRING_BASE@1", "source", "switchover" },
	{ "dst-start", "dst", "error", "refuse:SET_VRING_BASE@1", "source", "switchover" },
	{ "dst-start", "dst", "malformed", "wrong-size:SET_VRING_BASE@1", "source", "switchover" },
	NA5("dst-start", "src", "the destination's start asks the source nothing"),
	/* after the commit point: SEND_RARP to the destination */
	{ "announce", "dst", "close", "close:SEND_RARP@1", "dest-lost", "" },
	{ "announce", "dst", "kill", "exit:SEND_RARP@1", "dest-dead", "" },
	{ "announce", "dst", "hang", "stop:SEND_RARP@1", "dest-lost", "" },
	{ "announce", "dst", "error", "refuse:SEND_RARP@1", "dest", "" },
	{ "announce", "dst", "malformed", "wrong-size:SEND_RARP@1", "dest-lost", "" },
	NA5("announce", "src", "after the commit point the source is closed: asked nothing"),
};

#define NCELLS (sizeof(cells) / sizeof(cells[0]))

/* The rows with an outcome, in table order (an n/a row costs no process). */
ParameterizedTestParameters(faults, matrix)
{
	static struct fx_cell run[NCELLS];
	size_t n = 0;

	for (size_t i = 0; i < NCELLS; i++)
		if (cells[i].outcome[0])
			run[n++] = cells[i];
	return cr_make_param_array(struct fx_cell, run, n);
}

/* The n/a rows, printed with their reasons; each row is one cell, every
 * cell of phase x side x fault is in the table exactly once. */
Test(faults, not_applicable)
{
	static const char *const phases[] = { "setup", "dst-prepare", "log-start", "pass-0",
					      "pass-2", "stop", "final-copy", "dst-start",
					      "announce" };
	static const char *const sides[] = { "src", "dst" };
	static const char *const kinds[] = { "close", "kill", "hang", "error", "malformed" };
	size_t na = 0;

	for (size_t p = 0; p < VHM_ARRAY_SIZE(phases); p++)
		for (size_t s = 0; s < 2; s++)
			for (size_t k = 0; k < 5; k++) {
				int seen = 0;

				for (size_t i = 0; i < NCELLS; i++)
					seen += !strcmp(cells[i].phase, phases[p]) &&
						!strcmp(cells[i].side, sides[s]) &&
						!strcmp(cells[i].fault, kinds[k]);
				cr_assert(eq(int, seen, 1), "cell %s/%s/%s is in the table %d times",
					  phases[p], sides[s], kinds[k], seen);
			}
	for (size_t i = 0; i < NCELLS; i++) {
		if (cells[i].outcome[0])
			continue;
		cr_assert(lt(sz, 10, strlen(cells[i].says)), "n/a row without a reason");
		cr_log_info("n/a: %s/%s/%s: %s", cells[i].phase, cells[i].side, cells[i].fault,
			    cells[i].says);
		na++;
	}
	cr_log_info("%zu cells run (faults/matrix), %zu n/a", NCELLS - na, na);
}

/* One cell's running parts. */
struct fx {
	const struct fx_cell *c;
	char src[TS_PATH_MAX], dst[TS_PATH_MAX], out[TS_PATH_MAX + 16];
	pid_t be_src, be_dst, run, mig;
	pid_t faulty;              /* the backend the fault is in */
	bool pass;                 /* a pre-copy row: slow passes that never converge */
	bool injected, lost_seen, running_after_lost;
	long injected_ms, noticed_ms;  /* a signal sent; its "source-lost" or "failed" event */
	struct ctl_client *ev;     /* subscribed to migration and state events */
};

static bool is(const char *a, const char *b)
{
	return !strcmp(a, b);
}

static void start_backends(struct fx *x)
{
	const char *c = x->c->inject;
	bool on_src = is(x->c->side, "src"), ann = is(x->c->phase, "announce"), sig = !strncmp(c, "sig:", 4);
	const char *plain[] = { "--loopback", ann ? "--features" : NULL, FX_NO_GUEST_ANNOUNCE, NULL };
	const char *faulty[] = { "--loopback", "--misbehave", c, ann ? "--features" : NULL,
				 FX_NO_GUEST_ANNOUNCE, NULL };

	cr_assert(eq(int, ts_path("fx-src.sock", x->src, sizeof(x->src)), 0));
	cr_assert(eq(int, ts_path("fx-dst.sock", x->dst, sizeof(x->dst)), 0));
	x->be_src = ts_testbe_start(x->src, on_src && !sig ? faulty : plain);
	x->be_dst = ts_testbe_start(x->dst, !on_src && !sig ? faulty : plain);
	cr_assert(lt(int, 0, x->be_src));
	cr_assert(lt(int, 0, x->be_dst));
	x->faulty = on_src ? x->be_src : x->be_dst;
}

/* vhm run on the source: small guest, traffic and dirtying, short vhost-user
 * timeout, --reconnect. */
static void start_run(struct fx *x)
{
	char bin[256], log[TS_PATH_MAX + 16];
	const char *argv[] = { bin, "run", "--backend", x->src, "--name", "fx", "--mem", "32M",
			       "--traffic", "5000", "--dirty", "20000", "--run-dir", ts_dir(),
			       "--duration", "60s", "--interval", "200ms", "--timeout", FX_TIMEOUT,
			       "--reconnect", NULL };

	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/fx.log", ts_dir());
	x->run = ts_spawn(argv, log);
	cr_assert(lt(int, 0, x->run));
	dt_wait_ctl("fx");
	x->ev = dt_connect("fx");
	json_decref(dt_call(x->ev, "subscribe", json_pack("{s:[s, s]}", "events", "migration",
							  "state")));
}

/* `vhm migrate fx --to DST --json`: slow capped passes for the pre-copy rows
 * (32 MiB at 64 MiB/s, dirtied faster than that: it never converges). */
static void start_migrate(struct fx *x)
{
	char bin[256];
	const char *argv[] = { bin, "migrate", "fx", "--to", x->dst, "--run-dir", ts_dir(),
			       "--json", "--max-iterations", x->pass ? "3" : "1",
			       x->pass ? "--bandwidth" : NULL, "64M", NULL };

	ts_bin("vhm", bin, sizeof(bin));
	snprintf(x->out, sizeof(x->out), "%s/fx-migrate.out", ts_dir());
	x->mig = ts_spawn(argv, x->out);
	cr_assert(lt(int, 0, x->mig));
}

static void inject_signal(struct fx *x)
{
	int sig = is(x->c->fault, "close") ? SIGUSR1 : is(x->c->fault, "kill") ? SIGKILL : SIGSTOP;

	cr_assert(eq(int, kill(x->faulty, sig), 0));
	x->injected = true;
	x->injected_ms = ts_now_ms();
}

/* One event: a signal row's trigger, and the state changes. */
static void on_event(struct fx *x, json_t *ev)
{
	const char *name = json_string_value(json_object_get(ev, "event"));
	json_t *data = json_object_get(ev, "data");
	const char *phase = json_string_value(json_object_get(data, "phase"));
	const char *state = json_string_value(json_object_get(data, "state"));
	const char *trig = x->c->inject + 4;

	if (x->injected && !x->noticed_ms && phase &&
	    (is(phase, "source-lost") || is(phase, "failed")))
		x->noticed_ms = ts_now_ms();
	if (name && is(name, "state") && state) {
		x->lost_seen |= is(state, "backend-lost");
		x->running_after_lost |= x->lost_seen && is(state, "running");
	}
	if (x->injected || strncmp(x->c->inject, "sig:", 4) || !phase || !is(phase, trig))
		return;
	/* pass-2: at the event of pass 1, so during the pass after it */
	if (is(trig, "pre-copy") && json_integer_value(json_object_get(data, "iteration")) != 1)
		return;
	inject_signal(x);
}

/* Events that came meanwhile (a state change after the migration). */
static void drain_events(struct fx *x, int ms)
{
	long end = ts_now_ms() + ms;

	while (ts_now_ms() < end) {
		json_t *ev = NULL;

		if (ctl_client_next_event(x->ev, &ev, 50))
			continue;
		on_event(x, ev);
		json_decref(ev);
	}
}

/* Follow events until `vhm migrate` exits (asserted within 40 s); its
 * wait status into *st. */
static void follow(struct fx *x, int *st)
{
	long end = ts_now_ms() + 40000;

	while (ts_now_ms() < end) {
		json_t *ev = NULL;

		if (ts_exited(x->mig, st)) {
			drain_events(x, 100);   /* what vhm migrate saw, we see too */
			return;
		}
		if (ctl_client_next_event(x->ev, &ev, 100))
			continue;
		on_event(x, ev);
		json_decref(ev);
	}
	cr_fatal("vhm migrate still running after 40 s");
}

/* The last JSON line `vhm migrate --json` printed: the report or the
 * failure (new reference, asserted). */
static json_t *final_line(const struct fx *x)
{
	char line[16384];
	json_t *last = NULL;
	FILE *f = fopen(x->out, "r");

	cr_assert(not(eq(ptr, f, NULL)), "no output of vhm migrate");
	while (fgets(line, sizeof(line), f)) {
		json_t *j = line[0] == '{' ? json_loads(line, 0, NULL) : NULL;

		if (j) {
			json_decref(last);
			last = j;
		}
	}
	fclose(f);
	cr_assert(not(eq(ptr, last, NULL)), "vhm migrate printed no JSON line");
	return last;
}

/* status: state and backend. */
static void status(struct fx *x, char *state, char *backend, size_t len)
{
	json_t *st = dt_call(x->ev, "status", NULL);

	snprintf(state, len, "%s", json_string_value(json_object_get(st, "state")));
	snprintf(backend, len, "%s", json_string_value(json_object_get(st, "backend")));
	json_decref(st);
}

/* Within ms: status says state on backend (asserted). */
static void expect_status(struct fx *x, const char *want, const char *on, int ms)
{
	char state[TS_PATH_MAX], backend[TS_PATH_MAX];
	long end = ts_now_ms() + ms;

	do {
		drain_events(x, 100);
		status(x, state, backend, sizeof(state));
		if (is(state, want) && is(backend, on))
			return;
	} while (ts_now_ms() < end);
	cr_fatal("%s/%s/%s: status %s on %s, expected %s on %s", x->c->phase, x->c->side,
		       x->c->fault, state, backend, want, on);
}

static long long rx_frames(struct fx *x)
{
	json_t *st = dt_call(x->ev, "status", NULL);
	long long rx = json_integer_value(json_object_get(
		json_object_get(json_object_get(st, "traffic"), "total"), "rx_frames"));

	json_decref(st);
	return rx;
}

/* Frames come back: over 200 more within 2 s (at 5000/s: 40 ms; a loaded
 * machine may be late, never early). */
static void expect_flowing(struct fx *x)
{
	long long a = rx_frames(x), b;
	long end = ts_now_ms() + 2000;

	do {
		usleep(50000);
		b = rx_frames(x);
	} while (b <= a + 200 && ts_now_ms() < end);
	cr_assert(lt(i64, a + 200, b), "%s/%s/%s: rx_frames %lld -> %lld in 2 s", x->c->phase,
		  x->c->side, x->c->fault, a, b);
}

/* The run's summary line: lost and dup. */
static void summary(unsigned long long *lost, unsigned long long *dup)
{
	char path[TS_PATH_MAX + 16], line[512];
	unsigned long long tx, rx, rarp;
	FILE *f;

	*lost = *dup = ~0ull;
	snprintf(path, sizeof(path), "%s/fx.log", ts_dir());
	f = fopen(path, "r");
	cr_assert(not(eq(ptr, f, NULL)));
	while (fgets(line, sizeof(line), f))
		sscanf(line, "fx: tx %llu frames, rx %llu back (lost %llu, dup %llu, rarp %llu)",
		       &tx, &rx, lost, dup, &rarp);
	fclose(f);
}

/* Stop the run; it exits 0 and its frames balance: none duplicated ever,
 * none lost when every backend lived (frames a dead backend held are gone,
 * as they would be with a NIC's). */
static void expect_clean_end(struct fx *x, bool none_lost)
{
	unsigned long long lost, dup;
	int st;

	json_decref(dt_call(x->ev, "stop", NULL));
	ctl_client_close(x->ev);
	x->ev = NULL;
	while (!ts_exited(x->run, &st))
		usleep(20000);
	cr_assert(eq(int, WIFEXITED(st), 1), "vhm run killed by signal %d", WTERMSIG(st));
	cr_assert(eq(int, WEXITSTATUS(st), 0), "vhm run exited %d", WEXITSTATUS(st));
	summary(&lost, &dup);
	cr_assert(not(eq(u64, lost, ~0ull)), "no summary line");
	cr_assert(eq(u64, dup, 0), "%llu frames duplicated", dup);
	if (none_lost)
		cr_assert(eq(u64, lost, 0), "%llu frames lost", lost);
	else if (lost)
		cr_log_info("%s/%s/%s: %llu frames lost with the dead backend", x->c->phase,
			    x->c->side, x->c->fault, lost);
}

/* Traffic and dirtying to pps and pages/s. */
static void set_load(struct fx *x, int pps, int dirty)
{
	json_decref(dt_call(x->ev, "set-traffic", json_pack("{s:i}", "pps", pps)));
	json_decref(dt_call(x->ev, "set-dirty", json_pack("{s:i}", "rate", dirty)));
}

/* Traffic off: every frame back (or written off) within 5 s, so that no RX
 * buffer changes after this; then the digest of the guest's RAM. */
static void quiet_digest(struct fx *x, char *out, size_t len)
{
	long end = ts_now_ms() + 5000;
	json_t *d;

	while (ts_now_ms() < end) {
		json_t *st = dt_call(x->ev, "status", NULL);
		json_t *t = json_object_get(json_object_get(st, "traffic"), "total");
		bool back = json_integer_value(json_object_get(t, "rx_frames")) +
			    json_integer_value(json_object_get(t, "rx_lost")) >=
			    json_integer_value(json_object_get(t, "tx_frames"));

		json_decref(st);
		if (back)
			break;
		usleep(20000);
	}
	usleep(50000);   /* a frame counted lost may still land */
	d = dt_call(x->ev, "digest", NULL);
	snprintf(out, len, "%s", json_string_value(json_object_get(d, "ram")));
	json_decref(d);
}

/* What `vhm migrate` said, against the row's outcome. */
static void expect_result(struct fx *x, int st, bool done)
{
	json_t *fin = final_line(x);
	const char *err = json_string_value(json_object_get(fin, "error"));
	const char *status_ = json_string_value(json_object_get(fin, "status"));

	cr_assert(eq(int, WIFEXITED(st), 1), "vhm migrate killed by signal %d", WTERMSIG(st));
	cr_assert(eq(int, WEXITSTATUS(st), done ? 0 : 1), "%s/%s/%s: vhm migrate exited %d (%s)",
		  x->c->phase, x->c->side, x->c->fault, WEXITSTATUS(st), err ? err : status_);
	if (done) {
		cr_assert(eq(str, (char *)status_, "completed"));
		dt_expect_proved(fin);
	} else {
		cr_assert(not(eq(ptr, (void *)err, NULL)), "no error in the failure");
		cr_assert(eq(int, strncmp(err, x->c->says, strlen(x->c->says)), 0),
			  "%s/%s/%s: error '%s' does not name phase %s", x->c->phase, x->c->side,
			  x->c->fault, err, x->c->says);
	}
	json_decref(fin);
}

ParameterizedTest(struct fx_cell *c, faults, matrix, .fini = dt_fini, .timeout = 90)
{
	struct fx x = { .c = c };
	const char *o = c->outcome;
	bool hang = is(c->fault, "hang"), to_dst = !strncmp(o, "dest", 4);
	/* a request fault rolled back: the guest's RAM, quiet, is what it was */
	bool same_ram = is(o, "source") && strncmp(c->inject, "sig:", 4);
	char before[24] = "", after[24] = "";
	int st;

	x.pass = !strncmp(c->phase, "pass", 4);
	start_backends(&x);
	start_run(&x);
	usleep(x.pass ? 500000 : 200000);   /* the pre-copy rows: every page written */
	if (same_ram) {
		set_load(&x, 0, 0);
		quiet_digest(&x, before, sizeof(before));
	}
	start_migrate(&x);
	follow(&x, &st);
	if (!strncmp(c->inject, "sig:", 4))
		cr_assert(x.injected, "the trigger event %s never came", c->inject + 4);
	/* liveness: a peer dead in pre-copy is noticed within MIG_LIVE_NS (250 ms)
	 * plus a throttle sleep and the event's way, not at the switchover */
	if (x.injected && !hang) {
		cr_assert(not(eq(long, x.noticed_ms, 0)), "the loss was never noticed");
		cr_assert(lt(long, x.noticed_ms - x.injected_ms, 2000), "noticed %ld ms after the %s",
			  x.noticed_ms - x.injected_ms, c->fault);
	}
	expect_result(&x, st, to_dst);
	if (hang)
		kill(x.faulty, SIGCONT);
	if (is(o, "source")) {
		expect_status(&x, "running", x.src, 3000);
		cr_assert(not(x.lost_seen), "backend-lost on a rollback that kept the source");
		if (same_ram) {
			quiet_digest(&x, after, sizeof(after));
			cr_assert(eq(str, after, before), "guest RAM changed by a failed migration");
			set_load(&x, 5000, 20000);
		}
	} else if (is(o, "lost") || is(o, "dest-lost")) {
		expect_status(&x, "running", is(o, "lost") ? x.src : x.dst, 8000);
		cr_assert(x.lost_seen, "no backend-lost state event before the reconnect");
	} else if (is(o, "dest")) {
		expect_status(&x, "running", x.dst, 3000);
	} else {
		drain_events(&x, 1500);
		expect_status(&x, "backend-lost", x.dst, 3000);
		cr_assert(x.lost_seen);
		expect_clean_end(&x, false);
		return;
	}
	expect_flowing(&x);
	expect_clean_end(&x, is(o, "source") || (is(o, "dest") && !strcmp(c->side, "dst")));
}
