/* SPDX-License-Identifier: MIT */
/* Migration as backends other than testpmd's defaults need it.
 *
 * clientmode: to and from backends that connect to vhm (client mode:
 * testpmd client=1, vhm-testbe --client; OVS dpdkvhostuserclient is the
 * same wire): `vhm migrate --to listen:PATH` listens at PATH, the backend
 * connects, the switchover proceeds with nothing lost and the copy proved. A
 * device that listened (--listen, or a listen: destination) closes its
 * listener when it migrates away and removes the socket file it made; no
 * stop removes a socket vhm did not make (a server-mode destination's).
 *
 * breq_migrate: backends that ask something on their backend channel and
 * block until answered (DPDK's way), all through a migration: the answer
 * never waits for vhm's next request.
 *
 * source_status: the stopped source's SET_STATUS 0.
 *
 * ovs: Open vSwitch with DPDK (ovstest.h) -- migrations between its
 * server- and client-mode ports with traffic, its ports usable after vhm
 * stops, devices back after ovs-vswitchd restarts. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "devtest.h"
#include "ovstest.h"
#include "support.h"
#include "usock.h"

#define CM_MIGRATE_MS 60000   /* a migrate command, the backend's connect included */

/* A socket file is at path. */
static bool is_socket(const char *path)
{
	struct stat st;

	return !lstat(path, &st) && S_ISSOCK(st.st_mode);
}

enum run_flags {
	RUN_LISTEN = 1,            /* --listen: the backend connects */
	RUN_RECONNECT = 2,         /* --reconnect */
	RUN_IDLE = 4,              /* no traffic until set-traffic */
};

/* `vhm run NAME` on backend `sock`, 64 MiB, 20000 frames/s (unless
 * RUN_IDLE) and 2000 page writes/s; with RUN_LISTEN returns once vhm
 * listens. */
static pid_t run_device_flags(const char *name, const char *sock, unsigned flags)
{
	char bin[256], log[TS_PATH_MAX + 16];
	const char *argv[24] = { bin, "run", "--backend", sock, "--name", name, "--mem", "64M",
				 "--traffic", flags & RUN_IDLE ? "0" : "20000", "--dirty", "2000",
				 "--run-dir", ts_dir(), "--duration", "120s", "--timeout", "20s" };
	int n = 18;
	pid_t pid;

	if (flags & RUN_LISTEN)
		argv[n++] = "--listen";
	if (flags & RUN_RECONNECT)
		argv[n++] = "--reconnect";
	argv[n] = NULL;
	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/%s.log", ts_dir(), name);
	pid = ts_spawn(argv, log);
	cr_assert(lt(int, 0, pid), "cannot start vhm run");
	if (flags & RUN_LISTEN)
		cr_assert(eq(int, ts_wait_socket(sock, 10000), 0), "vhm did not listen at %s", sock);
	return pid;
}

static pid_t run_device(const char *name, const char *sock, bool listen)
{
	return run_device_flags(name, sock, listen ? RUN_LISTEN : 0);
}

/* `vhm migrate NAME --to to --json` (with --bandwidth bw --max-iterations 0
 * unless bw is NULL: one capped pass, then the switchover): asserted to
 * succeed with the copy proved (dt_expect_proved); the report. */
static json_t *migrate_report(const char *name, const char *to, const char *bw)
{
	char bin[256];
	const char *argv[] = { bin, "migrate", name, "--to", to, "--run-dir", ts_dir(), "--json",
			       bw ? "--bandwidth" : NULL, bw, "--max-iterations", "0", NULL };
	struct ts_run r;
	json_t *done = NULL;
	char *line, *save = NULL;

	ts_bin("vhm", bin, sizeof(bin));
	cr_assert(eq(int, ts_run_cmd(argv, CM_MIGRATE_MS, &r), 0));
	cr_assert(eq(int, r.status, 0), "vhm migrate %s --to %s: exit %d: %s%s", name, to,
		  r.status, r.out, r.err);
	for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *ev = json_loads(line, 0, NULL), *data = json_object_get(ev, "data");
		const char *phase = json_string_value(json_object_get(data, "phase"));

		if (phase && !strcmp(phase, "done")) {
			json_decref(done);
			done = json_incref(data);
		}
		json_decref(ev);
	}
	ts_run_free(&r);
	cr_assert(not(eq(ptr, done, NULL)), "vhm migrate --to %s: no done event", to);
	dt_expect_proved(done);
	return done;
}

static void migrate_ok(const char *name, const char *to)
{
	json_decref(migrate_report(name, to, NULL));
}

/* status.traffic.total of device c. */
static void totals(struct ctl_client *c, long long *tx, long long *rx, long long *lost,
		   long long *dup, char *backend, size_t len)
{
	json_t *st = dt_call(c, "status", NULL);
	json_t *t = json_object_get(json_object_get(st, "traffic"), "total");

	*tx = json_integer_value(json_object_get(t, "tx_frames"));
	*rx = json_integer_value(json_object_get(t, "rx_frames"));
	*lost = json_integer_value(json_object_get(t, "rx_lost"));
	*dup = json_integer_value(json_object_get(t, "rx_dup"));
	snprintf(backend, len, "%s", json_string_value(json_object_get(st, "backend")));
	json_decref(st);
}

/* Frames flow on `backend` now; then, traffic off, every frame sent came
 * back exactly once. */
static void flows_then_balances(struct ctl_client *c, const char *backend)
{
	long long tx, rx, lost, dup, rx2;
	char on[TS_PATH_MAX];
	long end;

	totals(c, &tx, &rx, &lost, &dup, on, sizeof(on));
	cr_assert(eq(str, on, (char *)backend), "the device runs on %s", on);
	dt_wait_rx_past(c, rx + 1000, 1000);
	totals(c, &tx, &rx2, &lost, &dup, on, sizeof(on));
	cr_assert(lt(i64, rx + 1000, rx2), "on %s: rx %lld -> %lld in 1 s", backend, rx, rx2);
	json_decref(dt_call(c, "set-traffic", json_pack("{s:i}", "pps", 0)));
	end = ts_now_ms() + 10000;
	do {
		usleep(50000);
		totals(c, &tx, &rx, &lost, &dup, on, sizeof(on));
	} while (rx + lost < tx && ts_now_ms() < end);
	cr_assert(eq(i64, lost, 0), "%lld frames lost (sent %lld, back %lld)", lost, tx, rx);
	cr_assert(eq(i64, dup, 0), "%lld frames duplicated", dup);
	cr_assert(eq(i64, rx, tx), "sent %lld, back %lld", tx, rx);
}

/* Stop the device over its control socket; it exits 0. */
static void stop_device(struct ctl_client *c, pid_t run)
{
	long end = ts_now_ms() + 20000;
	int st = 0;

	json_decref(dt_call(c, "stop", NULL));
	ctl_client_close(c);
	while (!ts_exited(run, &st) && ts_now_ms() < end)
		usleep(50000);
	cr_assert(eq(int, WIFEXITED(st), 1), "vhm run did not exit cleanly (status 0x%x)", st);
	cr_assert(eq(int, WEXITSTATUS(st), 0), "vhm run exited with %d", WEXITSTATUS(st));
}

TestSuite(clientmode, .fini = dt_fini, .timeout = 120);

/* Server-mode test backend -> a client-mode one (listen:) -> a server-mode
 * one: the copy proved at each switchover, frames flow on each destination,
 * nothing lost; the listener vhm made is gone once the device left it, and
 * stopping leaves the server-mode backend's socket where it was. */
Test(clientmode, testbe_server_to_client_to_server)
{
	const char *client[] = { "--client", "--loopback", NULL };
	char a[TS_PATH_MAX], b[TS_PATH_MAX], c_sock[TS_PATH_MAX], to[TS_PATH_MAX + 8];
	struct ctl_client *c;
	pid_t run;

	run = dt_run_on_testbe("cm", "64M", a, b, sizeof(a));
	cr_assert(eq(int, ts_path("cm-c.sock", c_sock, sizeof(c_sock)), 0));
	c = dt_connect("cm");
	/* the client starts first and retries until vhm listens */
	cr_assert(lt(int, 0, ts_testbe_start(c_sock, client)));
	snprintf(to, sizeof(to), "listen:%s", c_sock);
	migrate_ok("cm", to);
	cr_assert(is_socket(c_sock), "no listener at %s after migrating there", c_sock);
	flows_then_balances(c, c_sock);
	json_decref(dt_call(c, "set-traffic", json_pack("{s:i}", "pps", 20000)));

	migrate_ok("cm", b);
	cr_assert(not(is_socket(c_sock)), "the listener at %s outlived the migration", c_sock);
	cr_assert(eq(int, usock_probe(c_sock), 0), "%s still answers", c_sock);
	flows_then_balances(c, b);
	stop_device(c, run);
	cr_assert(is_socket(b), "stopping removed the destination's socket %s", b);
	cr_assert(is_socket(a), "stopping removed the source's socket %s", a);
}

/* A device started with --listen (the backend connected to it) migrates to
 * a server-mode backend: its listener closes and its socket file goes, so
 * the old backend cannot reconnect into a device that left; stopping keeps
 * the destination's socket. */
Test(clientmode, listen_device_hands_its_listener_over)
{
	const char *client[] = { "--client", "--loopback", NULL };
	const char *server[] = { "--loopback", NULL };
	char l[TS_PATH_MAX], s[TS_PATH_MAX];
	struct ctl_client *c;
	pid_t run;

	cr_assert(eq(int, ts_path("hl-l.sock", l, sizeof(l)), 0));
	cr_assert(eq(int, ts_path("hl-s.sock", s, sizeof(s)), 0));
	cr_assert(lt(int, 0, ts_testbe_start(s, server)));
	run = run_device("hl", l, true);
	cr_assert(lt(int, 0, ts_testbe_start(l, client)));
	dt_wait_ctl("hl");
	c = dt_connect("hl");
	usleep(500000);
	migrate_ok("hl", s);
	cr_assert(not(is_socket(l)), "the --listen socket %s outlived the migration", l);
	flows_then_balances(c, s);
	stop_device(c, run);
	cr_assert(is_socket(s), "stopping removed the destination's socket %s", s);
}

/* listen: refuses a path it did not make, before anything changes: a
 * regular file stays, and the device runs on its source. */
Test(clientmode, listen_destination_never_replaces_a_file)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], f[TS_PATH_MAX], to[TS_PATH_MAX + 8], bin[256];
	const char *argv[] = { bin, "migrate", "lf", "--to", to, "--run-dir", ts_dir(), NULL };
	struct ts_run r;
	struct stat st;
	struct ctl_client *c;
	pid_t run;
	FILE *fp;

	run = dt_run_on_testbe("lf", "64M", a, b, sizeof(a));
	cr_assert(eq(int, ts_path("not-a-socket", f, sizeof(f)), 0));
	fp = fopen(f, "w");
	cr_assert(not(eq(ptr, fp, NULL)));
	fputs("keep me\n", fp);
	fclose(fp);
	snprintf(to, sizeof(to), "listen:%s", f);
	ts_bin("vhm", bin, sizeof(bin));
	cr_assert(eq(int, ts_run_cmd(argv, CM_MIGRATE_MS, &r), 0));
	cr_assert(eq(int, r.status, 1), "exit %d: %s%s", r.status, r.out, r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "not a socket"), NULL)), "stderr: %s", r.err);
	ts_run_free(&r);
	cr_assert(eq(int, lstat(f, &st), 0));
	cr_assert(eq(int, S_ISREG(st.st_mode) ? 1 : 0, 1), "%s was replaced", f);
	c = dt_connect("lf");
	flows_then_balances(c, a);
	stop_device(c, run);
}

/* The same against DPDK: testpmd (server) -> testpmd client=1 (listen:) ->
 * back to the first; nothing lost, the copy proved, the listener gone after,
 * the server testpmd's socket kept after stop. */
Test(clientmode, testpmd_server_to_client_and_back)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], to[TS_PATH_MAX + 8];
	struct ctl_client *c;
	pid_t run;

	dt_testpmd_or_skip("cmpa", 1, a, sizeof(a));
	run = run_device("cmp", a, false);
	dt_wait_ctl("cmp");
	c = dt_connect("cmp");
	dt_testpmd_mode_or_skip("cmpb", 1, true, b, sizeof(b));
	usleep(500000);
	snprintf(to, sizeof(to), "listen:%s", b);
	migrate_ok("cmp", to);
	flows_then_balances(c, b);
	json_decref(dt_call(c, "set-traffic", json_pack("{s:i}", "pps", 20000)));
	migrate_ok("cmp", a);
	cr_assert(not(is_socket(b)), "the listener at %s outlived the migration", b);
	flows_then_balances(c, a);
	stop_device(c, run);
	cr_assert(is_socket(a), "stopping removed testpmd's socket %s", a);
}

/* ---- the backend channel through a migration ------------------------------------ */

/* <sock>.json's breq_every: asks sent and answered, the longest wait. An
 * ask the frontend ended by closing the channel (vhm lets the source go once
 * the device runs on the destination, and the backend may have asked just
 * before) counts as answered, one at the most: a backend blocks on each. */
static void breq_record(const char *sock, long long *asked, long long *answered, double *max_ms)
{
	char path[TS_PATH_MAX + 8];
	json_t *r, *b;

	snprintf(path, sizeof(path), "%s.json", sock);
	r = json_load_file(path, 0, NULL);
	cr_assert(not(eq(ptr, r, NULL)), "no record %s", path);
	b = json_object_get(r, "breq_every");
	*asked = json_integer_value(json_object_get(b, "asked"));
	*answered = json_integer_value(json_object_get(b, "answered"));
	cr_assert(le(i64, json_integer_value(json_object_get(b, "closed")), 1),
		  "%s: %lld asks ended by the frontend closing the channel", sock,
		  (long long)json_integer_value(json_object_get(b, "closed")));
	*answered += json_integer_value(json_object_get(b, "closed"));
	*max_ms = json_real_value(json_object_get(b, "max_wait_ms"));
	json_decref(r);
}

TestSuite(breq_migrate, .fini = dt_fini, .timeout = 120);

/* Both test backends ask CONFIG_CHANGE_MSG every 50 ms and block until
 * answered, through setup, log start, a pre-copy kept busy for seconds by a
 * bandwidth cap (no request goes to either backend then), the stop and the
 * destination's start; and they ask in the middle of each phase's requests,
 * before replying (--breq-wait: the source at SET_LOG_BASE and
 * GET_VRING_BASE, the destination at SET_OWNER, SET_MEM_TABLE and
 * SET_VRING_ENABLE, each waiting 2 s at most). Every ask is answered within
 * BREQ_MAX_WAIT_MS, far below the pre-copy's length -- what an unserved ask
 * between requests would wait -- and the 2 s of an unserved one inside a
 * request. */
#define BREQ_MAX_WAIT_MS 1000.0
#define BREQ_MIN_PRECOPY_MS 2000.0

Test(breq_migrate, asks_answered_in_every_phase)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], ra[TS_PATH_MAX + 8], rb[TS_PATH_MAX + 8];
	const char *ea[] = { "--loopback", "--breq-every", "50ms", "--record", ra,
			     "--breq-wait", "SET_LOG_BASE", "--breq-wait", "GET_VRING_BASE", NULL };
	const char *eb[] = { "--loopback", "--breq-every", "50ms", "--record", rb,
			     "--breq-wait", "SET_OWNER", "--breq-wait", "SET_MEM_TABLE",
			     "--breq-wait", "SET_VRING_ENABLE", NULL };
	long long asked, answered;
	struct ctl_client *c;
	json_t *rep;
	double max_ms, precopy_ms;
	pid_t run;

	cr_assert(eq(int, ts_path("bq-a.sock", a, sizeof(a)), 0));
	cr_assert(eq(int, ts_path("bq-b.sock", b, sizeof(b)), 0));
	snprintf(ra, sizeof(ra), "%s.json", a);
	snprintf(rb, sizeof(rb), "%s.json", b);
	cr_assert(lt(int, 0, ts_testbe_start(a, ea)));
	cr_assert(lt(int, 0, ts_testbe_start(b, eb)));
	run = run_device("bq", a, false);
	dt_wait_ctl("bq");
	c = dt_connect("bq");
	sleep(2);   /* guest RAM written: the capped pre-copy has data to copy */
	rep = migrate_report("bq", b, "8M");
	precopy_ms = json_real_value(json_object_get(json_array_get(
		json_object_get(rep, "iterations"), 0), "ms"));
	json_decref(rep);
	cr_assert(lt(dbl, BREQ_MIN_PRECOPY_MS, precopy_ms),
		  "the pre-copy took %.0f ms: too short to tell", precopy_ms);
	flows_then_balances(c, b);
	stop_device(c, run);
	breq_record(a, &asked, &answered, &max_ms);
	cr_assert(lt(i64, 20, asked), "the source asked %lld times", asked);
	cr_assert(eq(i64, answered, asked), "the source: %lld asked, %lld answered", asked,
		  answered);
	cr_assert(lt(dbl, max_ms, BREQ_MAX_WAIT_MS), "the source waited %.0f ms for an answer",
		  max_ms);
	breq_record(b, &asked, &answered, &max_ms);
	cr_assert(lt(i64, 20, asked), "the destination asked %lld times", asked);
	cr_assert(eq(i64, answered, asked), "the destination: %lld asked, %lld answered", asked,
		  answered);
	cr_assert(lt(dbl, max_ms, BREQ_MAX_WAIT_MS),
		  "the destination waited %.0f ms for an answer", max_ms);
}

/* ---- the stopped source's status ------------------------------------------------- */

/* <sock>.json's "statuses" (SET_STATUS values in order) as "3 b f 0". */
static void statuses(const char *sock, char *out, size_t len)
{
	char path[TS_PATH_MAX + 8];
	size_t used = 0;
	json_t *r, *v;
	size_t i;

	snprintf(path, sizeof(path), "%s.json", sock);
	r = json_load_file(path, 0, NULL);
	cr_assert(not(eq(ptr, r, NULL)), "no record %s", path);
	out[0] = '\0';
	json_array_foreach(json_object_get(r, "statuses"), i, v)
		used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%llx",
					 i ? " " : "", (unsigned long long)json_integer_value(v));
	json_decref(r);
}

TestSuite(source_status, .fini = dt_fini, .timeout = 60);

/* After the switchover the source, its rings stopped, gets SET_STATUS 0 as
 * QEMU's vhost_dev_stop sends it; the destination runs with DRIVER_OK. */
Test(source_status, reset_after_the_switchover)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], ra[TS_PATH_MAX + 8], rb[TS_PATH_MAX + 8];
	char sa[256], sb[256];
	const char *ea[] = { "--loopback", "--record", ra, NULL };
	const char *eb[] = { "--loopback", "--record", rb, NULL };
	struct ctl_client *c;
	pid_t run;

	cr_assert(eq(int, ts_path("st-a.sock", a, sizeof(a)), 0));
	cr_assert(eq(int, ts_path("st-b.sock", b, sizeof(b)), 0));
	snprintf(ra, sizeof(ra), "%s.json", a);
	snprintf(rb, sizeof(rb), "%s.json", b);
	cr_assert(lt(int, 0, ts_testbe_start(a, ea)));
	cr_assert(lt(int, 0, ts_testbe_start(b, eb)));
	run = run_device("st", a, false);
	dt_wait_ctl("st");
	c = dt_connect("st");
	usleep(500000);
	migrate_ok("st", b);
	statuses(a, sa, sizeof(sa));
	statuses(b, sb, sizeof(sb));
	cr_assert(eq(str, sa, "3 b f 0"), "the source's statuses: %s", sa);
	cr_assert(eq(str, sb, "3 b f"), "the destination's statuses: %s", sb);
	flows_then_balances(c, b);
	stop_device(c, run);
}

/* ---- Open vSwitch with DPDK ---------------------------------------------------- */

static void ovs_fini(void)
{
	ovt_fini();
	dt_fini();
}

TestSuite(ovs, .fini = ovs_fini, .timeout = 240);

/* rx_frames of c grows by more than 1000 within timeout_ms (frames flow
 * again after a restart). */
static void wait_flowing(struct ctl_client *c, const char *what, int timeout_ms)
{
	long long tx, rx0, rx, lost, dup;
	char on[TS_PATH_MAX];
	long end = ts_now_ms() + timeout_ms;
	json_t *st;

	totals(c, &tx, &rx0, &lost, &dup, on, sizeof(on));
	do {
		usleep(100000);
		st = dt_call(c, "status", NULL);
		totals(c, &tx, &rx, &lost, &dup, on, sizeof(on));
		if (rx > rx0 + 1000 &&
		    !strcmp(json_string_value(json_object_get(st, "state")), "running")) {
			json_decref(st);
			return;
		}
		json_decref(st);
	} while (ts_now_ms() < end);
	cr_fatal("%s: frames did not flow again within %d ms (rx %lld -> %lld)", what,
		       timeout_ms, rx0, rx);
}

/* A device on OVS port `sock` (a client-mode port: vhm listens there)
 * forwards and balances, then stops: the port works for a new frontend. */
static void port_usable(const char *name, const char *sock, bool client)
{
	struct ctl_client *c;
	pid_t run;

	run = run_device_flags(name, sock, client ? RUN_LISTEN : 0);
	dt_wait_ctl(name);
	c = dt_connect(name);
	wait_flowing(c, name, 60000);
	flows_then_balances(c, sock);
	stop_device(c, run);
}

/* server -> server -> client (listen:) -> server between OVS's ports with
 * traffic: the copy proved, nothing lost; vhm's listener is gone after, OVS's
 * sockets stay after vhm stops, and both kinds of port take a new device. */
Test(ovs, migrate_between_server_and_client_ports)
{
	char s1[TS_PATH_MAX], s2[TS_PATH_MAX], c1[TS_PATH_MAX], to[TS_PATH_MAX + 8];
	struct ctl_client *c;
	pid_t run;

	ovt_start_or_skip();
	ovt_add_port("s1", false, s1, sizeof(s1));
	ovt_add_port("s2", false, s2, sizeof(s2));
	ovt_add_port("c1", true, c1, sizeof(c1));
	/* no frames until OVS has its mbuf pool (seconds, at the first port) */
	run = run_device_flags("ov", s1, RUN_IDLE);
	dt_wait_ctl("ov");
	c = dt_connect("ov");
	ovt_wait_added(s1, 0, 60000);
	json_decref(dt_call(c, "set-traffic", json_pack("{s:i}", "pps", 20000)));
	wait_flowing(c, "ov on s1", 30000);

	migrate_ok("ov", s2);
	snprintf(to, sizeof(to), "listen:%s", c1);
	migrate_ok("ov", to);
	cr_assert(is_socket(c1), "vhm does not listen at %s", c1);
	migrate_ok("ov", s1);
	cr_assert(not(is_socket(c1)), "vhm's listener at %s outlived the migration", c1);
	flows_then_balances(c, s1);
	stop_device(c, run);
	cr_assert(is_socket(s1), "OVS's socket %s is gone after vhm stopped", s1);
	cr_assert(is_socket(s2), "OVS's socket %s is gone after vhm stopped", s2);

	port_usable("ov-s2", s2, false);
	port_usable("ov-c1", c1, true);
}

/* ovs-vswitchd restarts under two running devices, one on a server-mode
 * port (vhm reconnects) and one on a client-mode port (OVS reconnects to
 * vhm's listener): both run and forward again. */
Test(ovs, devices_come_back_when_vswitchd_restarts)
{
	char s1[TS_PATH_MAX], c1[TS_PATH_MAX];
	struct ctl_client *ca, *cb;
	pid_t ra, rb;

	ovt_start_or_skip();
	ovt_add_port("s1", false, s1, sizeof(s1));
	ovt_add_port("c1", true, c1, sizeof(c1));
	ra = run_device_flags("rs", s1, RUN_RECONNECT);
	rb = run_device_flags("rc", c1, RUN_LISTEN | RUN_RECONNECT);
	dt_wait_ctl("rs");
	dt_wait_ctl("rc");
	ca = dt_connect("rs");
	cb = dt_connect("rc");
	wait_flowing(ca, "rs before the restart", 60000);
	wait_flowing(cb, "rc before the restart", 60000);

	ovt_restart_vswitchd();
	wait_flowing(ca, "rs (server-mode port) after the restart", 60000);
	wait_flowing(cb, "rc (client-mode port) after the restart", 60000);
	stop_device(ca, ra);
	stop_device(cb, rb);
	cr_assert(is_socket(s1), "OVS's socket %s is gone after vhm stopped", s1);
}

/* `--to listen:` without a path is a usage error, before any device is asked. */
Test(clientmode, listen_without_a_path_is_a_usage_error)
{
	const char *args[] = { "migrate", "nodev", "--to", "listen:", "--run-dir", ts_dir(), NULL };

	dt_vhm_refuses(args, 2, "listen:");
}
