/* SPDX-License-Identifier: MIT */
/* A migration between two vhm processes, end to end: `vhm run` on
 * vhm-testbe A (traffic and page writes) migrates with `vhm migrate --to
 * tcp:127.0.0.1:PORT` to `vhm run --incoming tcp:127.0.0.1:0 --backend B`.
 * Done: the destination runs the device on B, frames flow through it, the
 * source says "migrated" and where; the guest's counters, carried in the
 * stream, show nothing lost or duplicated over its whole life. Failures
 * before the commit point leave the device on A with nothing lost: the
 * destination process killed mid pre-copy, its backend refusing the
 * memory table or the rings; and, between two network namespaces joined by
 * a veth pair (two "hosts"), the link cut mid pre-copy, and a link limited
 * by tbf: the stream's rate, in its progress events and its report, stays
 * under the link's; a link losing 1 % and 5 % of its packets (iptables:
 * this kernel has no netem): TCP retransmits, the migration converges and
 * is proved, the destination reads every byte sent; and each host with its
 * own DPDK testpmd: the device moves from testpmd A to testpmd B, which
 * forwards its frames, the destination's RARP comes back to the guest,
 * nothing lost; and, through a relay that holds the stream 25 ms each way
 * (an application-level delay, not a delayed link), a downtime of at
 * least the round trip. Suite stream_e2e. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "devtest.h"
#include "mig_incoming.h"
#include "relay.h"
#include "support.h"

/* argv (NULL-terminated) spawned in network namespace ns (NULL: this one),
 * logging to <ts_dir>/NAME.log; its pid. */
static pid_t spawn_in(const char *ns, const char *const argv[], const char *name)
{
	const char *full[40] = { "ip", "netns", "exec", ns };
	char log[TS_PATH_MAX + 16];
	int n = ns ? 4 : 0;
	pid_t pid;

	for (int i = 0; argv[i]; i++) {
		cr_assert(lt(int, n, 39), "too many arguments");
		full[n++] = argv[i];
	}
	full[n] = NULL;
	snprintf(log, sizeof(log), "%s/%s.log", ts_dir(), name);
	pid = ts_spawn(full, log);
	cr_assert(lt(int, 0, pid), "cannot start %s", argv[0]);
	return pid;
}

/* `vhm run --incoming LISTEN --backend B --name NAME` (in ns, may be NULL);
 * its stream address ("tcp:ADDR:PORT", as its status shows) into to. */
static pid_t start_incoming_at(const char *ns, const char *listen, const char *name,
			       const char *backend, char *to, size_t len)
{
	char bin[256];
	const char *argv[] = { bin, "run", "--incoming", listen, "--backend", backend,
			       "--name", name, "--run-dir", ts_dir(), "--interval", "200ms",
			       "--duration", "120s", NULL };
	struct ctl_client *c;
	json_t *st;
	pid_t pid;

	ts_bin("vhm", bin, sizeof(bin));
	pid = spawn_in(ns, argv, name);
	dt_wait_ctl(name);
	c = dt_connect(name);
	st = dt_call(c, "status", NULL);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "state")), "incoming"));
	snprintf(to, len, "tcp:%s", json_string_value(json_object_get(
		json_object_get(st, "incoming"), "listen")));
	json_decref(st);
	ctl_client_close(c);
	return pid;
}

static pid_t start_incoming(const char *name, const char *backend, char *to, size_t len)
{
	return start_incoming_at(NULL, "tcp:127.0.0.1:0", name, backend, to, len);
}

/* `vhm run` NAME on backend a (in ns, may be NULL) with `mem` of memory,
 * `traffic` frames/s and `dirty` page writes/s, a vhost-user timeout of
 * `timeout` (each wait for a peer, the stream's included); its control
 * socket is up when this returns. */
static pid_t start_source_with(const char *ns, const char *name, const char *a,
			       const char *mem, const char *traffic, const char *dirty,
			       const char *timeout)
{
	char bin[256];
	const char *run[] = { bin, "run", "--backend", a, "--name", name, "--mem", mem,
			      "--traffic", traffic, "--dirty", dirty, "--run-dir", ts_dir(),
			      "--duration", "120s", "--interval", "200ms", "--timeout", timeout,
			      NULL };
	pid_t pid;

	ts_bin("vhm", bin, sizeof(bin));
	pid = spawn_in(ns, run, name);
	dt_wait_ctl(name);
	return pid;
}

static pid_t start_source(const char *ns, const char *name, const char *a)
{
	return start_source_with(ns, name, a, "64M", "20000", "5000", "2s");
}

/* `vhm migrate NAME --to TO --bandwidth BW` started in ns (may be NULL): its
 * pid (its output in <ts_dir>/migrate-NAME.log). */
static pid_t start_migration(const char *ns, const char *name, const char *to, const char *bw)
{
	char bin[256], log[64];
	const char *mig[] = { bin, "migrate", name, "--to", to, "--run-dir", ts_dir(),
			      "--bandwidth", bw, NULL };

	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "migrate-%s", name);
	return spawn_in(ns, mig, log);
}

/* Bytes of pages NAME's migration sent so far (as of its last progress
 * tick, every 250 ms), 0 before the first. */
static double sent_bytes(const char *name)
{
	struct ctl_client *c = dt_connect(name);
	json_t *st = dt_call(c, "migrate-status", NULL);
	double sent = json_number_value(json_object_get(json_object_get(st, "progress"),
							 "sent_bytes"));

	json_decref(st);
	ctl_client_close(c);
	return sent;
}

/* The same capped at 2 MiB/s, a pre-copy of seconds: returns once pages go
 * (up to 10 s), the migration still running. */
static pid_t start_slow_migration(const char *ns, const char *name, const char *to)
{
	pid_t m = start_migration(ns, name, to, "2M");
	long t0 = ts_now_ms();
	bool gone;
	int st = 0;

	while (!(gone = ts_exited(m, &st)) && sent_bytes(name) <= 0 && ts_now_ms() - t0 < 10000)
		usleep(50000);
	cr_assert(not(gone), "the capped migration ended at once (status 0x%x)", st);
	cr_assert(lt(dbl, 0.0, sent_bytes(name)), "no page sent in 10 s");
	return m;
}

/* The wait status of pid, waiting up to ms. */
static int wait_exit(pid_t pid, long ms)
{
	long t0 = ts_now_ms();
	int st = -1;

	while (!ts_exited(pid, &st) && ts_now_ms() - t0 < ms)
		usleep(50000);
	return st;
}

/* `vhm migrate NAME --to TO [--bandwidth RATE]` run to its end: exit code. */
static int migrate_cli(const char *name, const char *to, const char *bw, struct ts_run *r)
{
	char bin[256];
	const char *argv[] = { bin, "migrate", name, "--to", to, "--run-dir", ts_dir(),
			       bw ? "--bandwidth" : NULL, bw, NULL };

	ts_bin("vhm", bin, sizeof(bin));
	cr_assert(eq(int, ts_run_cmd(argv, 60000, r), 0), "vhm migrate did not run to its end");
	return r->status;
}

/* A wait status' exit code; -1 when it did not exit (a signal). */
static int exit_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_t *status_of(const char *name)
{
	struct ctl_client *c = dt_connect(name);
	json_t *st = dt_call(c, "status", NULL);

	ctl_client_close(c);
	return st;
}

static const char *field(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static long long rx_of(const char *name)
{
	json_t *st = status_of(name);
	long long rx = json_integer_value(json_object_get(
		json_object_get(json_object_get(st, "traffic"), "total"), "rx_frames"));

	json_decref(st);
	return rx;
}

/* Device `name` runs on `backend` and over min frames a second come back
 * through it (counted over half a second). A destination says "incoming"
 * until its run loop takes the device, once the stream's END is in (at
 * most MIG_IN_END_WAIT_MS after RUNNING, which ends the source's
 * migration): that is waited for, never an earlier state. */
static void expect_running_at(const char *name, const char *backend, long long min)
{
	json_t *st = status_of(name);
	long long rx0, rx1;

	for (int ms = 0; !strcmp(field(st, "state"), "incoming") &&
			 ms < MIG_IN_END_WAIT_MS + 1000; ms += 50) {
		json_decref(st);
		usleep(50000);
		st = status_of(name);
	}

	cr_assert(eq(str, (char *)field(st, "state"), "running"), "%s is %s", name,
		  field(st, "state"));
	cr_assert(eq(str, (char *)field(st, "backend"), (char *)backend));
	json_decref(st);
	rx0 = rx_of(name);
	usleep(500000);
	rx1 = rx_of(name);
	cr_assert(lt(i64, rx0 + min / 2, rx1), "%s: rx %lld -> %lld in 0.5 s", name, rx0, rx1);
}

static void expect_running_on(const char *name, const char *backend)
{
	expect_running_at(name, backend, 5000);
}

/* Stop `name` and read its summary line: over min_tx frames sent, nothing
 * lost or duplicated. */
static void stop_expect_whole_of(const char *name, pid_t pid, unsigned long long min_tx)
{
	struct ctl_client *c = dt_connect(name);
	int st = -1;

	json_decref(dt_call(c, "stop", NULL));
	ctl_client_close(c);
	for (int i = 0; i < 500 && !ts_exited(pid, &st); i++)
		usleep(20000);
	cr_assert(eq(int, exit_code(st), 0), "%s: status 0x%x", name, st);
	dt_expect_whole_run(name, min_tx);
}

static void stop_expect_whole(const char *name, pid_t pid)
{
	stop_expect_whole_of(name, pid, 10000);
}

/* `vhm jobinfo NAME` names the stream's address and its bytes. */
static void expect_jobinfo(const char *name, const char *to)
{
	char bin[256], want[160];
	const char *argv[] = { bin, "jobinfo", name, "--run-dir", ts_dir(), NULL };
	struct ts_run r;

	ts_bin("vhm", bin, sizeof(bin));
	cr_assert(eq(int, ts_run_cmd(argv, 10000, &r), 0));
	snprintf(want, sizeof(want), "Destination:       %s\n", to);
	cr_assert(not(eq(ptr, strstr(r.out, want), NULL)), "jobinfo: %s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "Stream sent:"), NULL)), "jobinfo: %s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, " MiB/s, 1 connection\n"), NULL)), "jobinfo: %s",
		  r.out);
	ts_run_free(&r);
}

Test(stream_e2e, two_processes, .fini = dt_fini, .timeout = 90)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], to[96];
	struct ts_run r;
	json_t *st;
	pid_t src, dst;
	int ex;

	src = dt_run_on_testbe("se-src", "64M", a, b, sizeof(a));
	dst = start_incoming("se-dst", b, to, sizeof(to));
	usleep(500000);            /* the guest runs a while on A */
	ex = migrate_cli("se-src", to, NULL, &r);
	cr_assert(eq(int, ex, 0), "vhm migrate exit %d: %s%s", ex, r.out, r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "on the wire"), NULL)), "report: %s", r.out);
	cr_assert(not(eq(ptr, strstr(r.out, "MiB/s, 1 connection;"), NULL)), "report: %s", r.out);
	cr_log_info("%s", r.out);
	ts_run_free(&r);
	st = status_of("se-src");
	cr_assert(eq(str, (char *)field(st, "state"), "migrated"));
	cr_assert(eq(str, (char *)field(st, "backend"), to));
	json_decref(st);
	expect_jobinfo("se-src", to);
	expect_running_on("se-dst", b);
	stop_expect_whole("se-dst", dst);
	stop_expect_whole("se-src", src);
}

/* The destination process killed during pre-copy (a capped stream makes it
 * last seconds): the migration fails, the device runs on A, whole. */
Test(stream_e2e, destination_killed_in_precopy, .fini = dt_fini, .timeout = 90)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], to[96];
	pid_t src, dst, mig;

	src = dt_run_on_testbe("se-k", "64M", a, b, sizeof(a));
	dst = start_incoming("se-kd", b, to, sizeof(to));
	mig = start_slow_migration(NULL, "se-k", to);
	kill(dst, SIGKILL);
	cr_assert(eq(int, exit_code(wait_exit(mig, 20000)), 1), "vhm migrate did not fail");
	expect_running_on("se-k", a);
	stop_expect_whole("se-k", src);
}

/* The source's backend dies during pre-copy: the destination, ready, takes
 * the device over (the rings restart where the driver stands); the device
 * runs there and frames flow. (Frames the dead backend held are lost.) */
Test(stream_e2e, source_backend_dies_in_precopy, .fini = dt_fini, .timeout = 90)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], to[96];
	const char *extra[] = { "--loopback", NULL };
	pid_t tbe_a, src, dst, mig;
	json_t *st;
	int ex;

	cr_assert(eq(int, ts_path("se-s-a.sock", a, sizeof(a)), 0));
	cr_assert(eq(int, ts_path("se-s-b.sock", b, sizeof(b)), 0));
	tbe_a = ts_testbe_start(a, extra);
	cr_assert(lt(int, 0, tbe_a));
	cr_assert(lt(int, 0, ts_testbe_start(b, extra)));
	src = start_source(NULL, "se-s", a);
	dst = start_incoming("se-sd", b, to, sizeof(to));
	mig = start_migration(NULL, "se-s", to, "32M");
	usleep(300000);
	kill(tbe_a, SIGKILL);
	ex = exit_code(wait_exit(mig, 30000));
	cr_assert(eq(int, ex, 0), "vhm migrate exit %d (log %s/migrate-se-s.log)", ex, ts_dir());
	cr_assert(eq(int, ts_sh("grep -q 'source backend died' %s/migrate-se-s.log", ts_dir()), 0),
		  "the report does not say the source died");
	st = status_of("se-s");
	cr_assert(eq(str, (char *)field(st, "state"), "migrated"));
	json_decref(st);
	expect_running_on("se-sd", b);
	(void)src;
	(void)dst;
}

/* The destination's backend refuses (vhm-testbe --misbehave): before
 * anything was sent (the memory table) or at the switchover (its rings,
 * after the source's stopped): FAILED, the source rolls back; the
 * destination process exits 1 with one line. */
struct refuse_case {
	char misbehave[40];
	char says[40];
};

static struct refuse_case refusals[] = {
	{ "refuse:SET_MEM_TABLE", "refused" },
	{ "refuse:SET_VRING_BASE", "refused" },
};

ParameterizedTestParameters(stream_e2e, destination_backend_refuses)
{
	return cr_make_param_array(struct refuse_case, refusals,
				   sizeof(refusals) / sizeof(refusals[0]));
}

ParameterizedTest(struct refuse_case *rc, stream_e2e, destination_backend_refuses,
		  .fini = dt_fini, .timeout = 90)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], to[96];
	const char *extra[] = { "--loopback", "--misbehave", rc->misbehave, NULL };
	struct ts_run r;
	pid_t src, dst;
	int ex, st = 0;

	src = dt_run_on_testbe("se-r", "64M", a, b, sizeof(a));
	/* B again, refusing this time (the first B has no frontend yet) */
	cr_assert(eq(int, ts_path("se-rb.sock", b, sizeof(b)), 0));
	cr_assert(lt(int, 0, ts_testbe_start(b, extra)));
	dst = start_incoming("se-rd", b, to, sizeof(to));
	ex = migrate_cli("se-r", to, NULL, &r);
	cr_assert(eq(int, ex, 1), "vhm migrate exit %d: %s%s", ex, r.out, r.err);
	cr_assert(not(eq(ptr, strstr(r.err, rc->says), NULL)), "stderr: %s", r.err);
	cr_log_info("%s: %s", rc->misbehave, r.err);
	ts_run_free(&r);
	for (int i = 0; i < 50 && !ts_exited(dst, &st); i++)
		usleep(100000);
	cr_assert(eq(int, exit_code(st), 1), "the destination: status 0x%x", st);
	expect_running_on("se-r", a);
	stop_expect_whole("se-r", src);
}

/* ---- two hosts ------------------------------------------------------------- */

static struct {
	char a[32], b[32];
	const char *skip;
} hosts;

static void hosts_up(void)
{
	int rc;

	snprintf(hosts.a, sizeof(hosts.a), "vhmeA-%d", (int)getpid());
	snprintf(hosts.b, sizeof(hosts.b), "vhmeB-%d", (int)getpid());
	rc = ts_netns_pair(hosts.a, hosts.b, "se-a", "se-b", "10.79.0.1", "10.79.0.2",
			   &hosts.skip);
	if (rc == 1)
		return;
	cr_assert(eq(int, rc, 0), "the veth pair between %s and %s", hosts.a, hosts.b);
}

static void hosts_down(void)
{
	dt_fini();                 /* the processes in them first */
	if (!hosts.skip)
		ts_netns_pair_del(hosts.a, hosts.b);
}

/* The "migration" events of `vhm migrate --json` output, in order. */
static json_t *events_of(const char *out)
{
	json_t *evs = json_array();
	const char *p = out;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		json_t *ev = json_loadb(p, n, 0, NULL);

		if (ev && !strcmp(field(ev, "event"), "migration"))
			json_array_append(evs, ev);
		json_decref(ev);
		p = nl ? nl + 1 : NULL;
	}
	return evs;
}

/* `vhm migrate NAME --to TO --json [--max-iterations ITERS]` run to its end
 * in namespace ns: exit 0 asserted; the "migration" events of its output
 * (r holds it; free it with ts_run_free). */
static json_t *migrate_json_in(const char *ns, const char *name, const char *to,
			       const char *iters, struct ts_run *r)
{
	char bin[256];
	const char *mig[] = { "ip", "netns", "exec", ns, bin, "migrate", name, "--to", to,
			      "--run-dir", ts_dir(), "--json", iters ? "--max-iterations" : NULL,
			      iters, NULL };
	size_t n;

	ts_bin("vhm", bin, sizeof(bin));
	cr_assert(eq(int, ts_run_cmd(mig, 30000, r), 0), "vhm migrate did not run");
	n = strlen(r->out);
	cr_assert(eq(int, r->status, 0), "vhm migrate exit %d: %s ... %s", r->status, r->err,
		  n > 1500 ? r->out + n - 1500 : r->out);
	return events_of(r->out);
}

/* The report: the data of the last event, which is "done". */
static const json_t *done_of(const json_t *evs, const char *out)
{
	const json_t *d = json_object_get(json_array_get(evs, json_array_size(evs) - 1), "data");

	cr_assert(eq(str, (char *)field(d, "phase"), "done"), "%s", out);
	return d;
}

/* The report's stream figures hold together: bytes sent, their rate over
 * the whole migration (total_ms), a connection; and destination `dst` read
 * every one of those bytes, no more (it reads END a moment after the
 * source sent it: up to 2 s). */
static void expect_stream_report(const json_t *done, const char *dst)
{
	const json_t *s = json_object_get(done, "stream");
	double bytes = json_number_value(json_object_get(s, "bytes"));
	double rate = json_number_value(json_object_get(s, "rate_mib_s"));
	double ms = json_number_value(json_object_get(done, "total_ms"));
	double want = bytes / 1048576.0 / (ms / 1000.0), in = -1;

	cr_assert(lt(dbl, 0.0, bytes), "no stream bytes in the report");
	cr_assert(lt(dbl, 0.0, ms));
	cr_assert(le(dbl, fabs(rate - want), want * 0.01 + 0.01),
		  "the report: %.2f MiB/s; %.0f bytes in %.1f ms are %.2f MiB/s", rate, bytes, ms,
		  want);
	cr_assert(le(int, 1, (int)json_integer_value(json_object_get(s, "connections"))));
	for (long t0 = ts_now_ms(); in != bytes && ts_now_ms() - t0 < 2000; usleep(50000)) {
		json_t *st = status_of(dst);

		in = json_number_value(json_object_get(json_object_get(st, "incoming"), "bytes"));
		json_decref(st);
	}
	cr_assert(eq(dbl, in, bytes), "the source sent %.0f bytes, the destination read %.0f",
		  bytes, in);
}

/* The source in namespace A, the destination in B; a capped pre-copy; A's
 * end of the link goes down: the source's write times out (the device's
 * 2 s vhost-user timeout bounds each wait, TCP_USER_TIMEOUT the unacked
 * data) and it rolls back, whole. (The destination, idle in its read,
 * notices at its own 30 s timeout; not awaited here.) */
Test(stream_e2e, two_hosts_link_cut, .init = hosts_up, .fini = hosts_down, .timeout = 90)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], to[96];
	const char *extra[] = { "--loopback", NULL };
	pid_t src, m;
	long t_cut;
	int st;

	if (hosts.skip)
		cr_skip_test("%s", hosts.skip);
	cr_assert(eq(int, ts_path("se-h-a.sock", a, sizeof(a)), 0));
	cr_assert(eq(int, ts_path("se-h-b.sock", b, sizeof(b)), 0));
	cr_assert(lt(int, 0, ts_testbe_start(a, extra)));
	cr_assert(lt(int, 0, ts_testbe_start(b, extra)));
	src = start_source(hosts.a, "se-h", a);
	start_incoming_at(hosts.b, "tcp:10.79.0.2:0", "se-hd", b, to, sizeof(to));
	m = start_slow_migration(hosts.a, "se-h", to);
	cr_assert(eq(int, ts_sh("ip -n %s link set se-a down", hosts.a), 0));
	t_cut = ts_now_ms();
	st = wait_exit(m, 20000);
	cr_assert(eq(int, exit_code(st), 1), "vhm migrate: status 0x%x", st);
	/* the source's 2 s timeout, and a write already waiting when it came */
	cr_assert(le(i64, ts_now_ms() - t_cut, 6000), "the cut noticed after %ld ms",
		  ts_now_ms() - t_cut);
	cr_log_info("link cut: migrate ended %ld ms after it", ts_now_ms() - t_cut);
	expect_running_on("se-h", a);
	stop_expect_whole("se-h", src);
}

#define LINK_MBIT 64                                   /* the tbf rate */
#define LINK_MIB_S (LINK_MBIT * 1e6 / 8 / 1048576.0)   /* 7.63 MiB/s */
#define LINK_BURST 65536.0                             /* tbf's burst, bytes */

/* The stream figures of one event: present, bytes only grow (*bytes: the
 * previous event's), one connection while the stream is open. */
static void check_stream_figures(const json_t *st, const char *phase, double *bytes)
{
	double b = json_number_value(json_object_get(st, "bytes"));

	cr_assert(st && json_is_object(st), "a %s event without stream figures", phase);
	cr_assert(le(dbl, *bytes, b), "%s: stream bytes went from %.0f to %.0f", phase, *bytes, b);
	cr_log_info("%s: %.0f bytes, %.2f MiB/s", phase, b,
		    json_number_value(json_object_get(st, "rate_mib_s")));
	*bytes = b;
}

/* A guest on a link tbf holds to 64 Mbit/s (8 MB/s), 100 page writes/s.
 * Each frame's RX buffer is a page of its own (spread buffers), so a guest
 * dirties about 4 KiB a frame: 200 frames/s dirty well under 1 MB/s and
 * the migration converges within the 50 ms downtime; 5000 frames/s cycle
 * the RX buffers (about 2300 pages) in half a second, as much as the link
 * carries: no pass gets under 50 ms (measured: 2000 frames/s neither), and
 * after one pass the switchover copies the rest, "did not converge". */
struct limit_case {
	char traffic[8];
	char iterations[4];
	bool converges;
	unsigned long long min_rx_per_s, min_tx;
};

static struct limit_case limits[] = {
	{ "200", "30", true, 100, 50 },
	{ "5000", "1", false, 2500, 5000 },
};

ParameterizedTestParameters(stream_e2e, two_hosts_bandwidth_limit)
{
	return cr_make_param_array(struct limit_case, limits, sizeof(limits) / sizeof(limits[0]));
}

/* Between two hosts whose link tbf limits: every pre-copy event carries the
 * stream's bytes (growing) and its one connection; the report's rate stays
 * under the link's and its total time is no shorter than the bytes at the
 * link's rate; it converges or not as the case says; the device runs on B,
 * nothing lost. */
ParameterizedTest(struct limit_case *lc, stream_e2e, two_hosts_bandwidth_limit,
		  .init = hosts_up, .fini = hosts_down, .timeout = 90)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], to[96];
	const char *extra[] = { "--loopback", NULL };
	const json_t *ev, *done, *st;
	json_t *evs;
	double bytes = 0, total_ms;
	struct ts_run r;
	size_t k, passes = 0;
	pid_t src, dst;

	if (hosts.skip)
		cr_skip_test("%s", hosts.skip);
	if (!ts_on_path("tc"))
		cr_skip_test("tc (iproute2) is not installed");
	if (ts_sh("ip netns exec %s tc qdisc add dev se-a root tbf rate %dmbit burst %.0f "
		  "latency 200ms", hosts.a, LINK_MBIT, LINK_BURST))
		cr_skip_test("tc qdisc tbf is refused here: this kernel lacks it");
	cr_assert(eq(int, ts_path("se-l-a.sock", a, sizeof(a)), 0));
	cr_assert(eq(int, ts_path("se-l-b.sock", b, sizeof(b)), 0));
	cr_assert(lt(int, 0, ts_testbe_start(a, extra)));
	cr_assert(lt(int, 0, ts_testbe_start(b, extra)));
	src = start_source_with(hosts.a, "se-l", a, "32M", lc->traffic, "100", "2s");
	dst = start_incoming_at(hosts.b, "tcp:10.79.0.2:0", "se-ld", b, to, sizeof(to));
	usleep(500000);            /* the guest runs a while on A */
	evs = migrate_json_in(hosts.a, "se-l", to, lc->iterations, &r);
	json_array_foreach(evs, k, ev) {
		const json_t *d = json_object_get(ev, "data");

		if (strcmp(field(d, "phase"), "pre-copy"))
			continue;
		passes++;
		check_stream_figures(json_object_get(json_object_get(d, "progress"), "stream"),
				     "pre-copy", &bytes);
		cr_assert(eq(int, (int)json_integer_value(json_object_get(json_object_get(
			json_object_get(d, "progress"), "stream"), "connections")), 1));
	}
	cr_assert(lt(sz, 0, passes), "no pre-copy event: %s", r.out);
	done = done_of(evs, r.out);
	st = json_object_get(done, "stream");
	check_stream_figures(st, "done", &bytes);
	total_ms = json_number_value(json_object_get(done, "total_ms"));
	expect_stream_report(done, "se-ld");
	/* Over the whole migration every byte crossed the link (RUNNING came
	 * back after them): no faster than the link, less tbf's burst that
	 * passes at once; the report's rate says the same (5 % for its clock,
	 * which starts a little before the first byte). */
	cr_assert(lt(dbl, LINK_BURST, bytes), "%.0f bytes: all within the burst", bytes);
	cr_assert(le(dbl, (bytes - LINK_BURST) / (LINK_MBIT * 1e6 / 8) * 1000, total_ms),
		  "%.0f bytes in %.1f ms through a %d Mbit/s link", bytes, total_ms, LINK_MBIT);
	cr_assert(le(dbl, json_number_value(json_object_get(st, "rate_mib_s")),
		     LINK_MIB_S * 1.05 * bytes / (bytes - LINK_BURST)),
		  "the report: %.2f MiB/s on a %.2f MiB/s link, %.0f bytes",
		  json_number_value(json_object_get(st, "rate_mib_s")), LINK_MIB_S, bytes);
	cr_assert(eq(int, json_is_true(json_object_get(done, "converged")),
		     lc->converges), "%s frames/s on a %d Mbit/s link: converged is not %d: %s",
		  lc->traffic, LINK_MBIT, lc->converges, r.out);
	cr_log_info("tbf %d Mbit/s: %.0f bytes in %.0f ms, %.2f MiB/s, %zu passes", LINK_MBIT,
		    bytes, total_ms, json_number_value(json_object_get(st, "rate_mib_s")), passes);
	json_decref(evs);
	ts_run_free(&r);
	expect_running_at("se-ld", b, (long long)lc->min_rx_per_s);
	stop_expect_whole_of("se-ld", dst, lc->min_tx);
	stop_expect_whole_of("se-l", src, lc->min_tx);
}

/* Packet loss between the hosts (this kernel has no netem): iptables in
 * each namespace drops each packet coming in on its end of the link with
 * probability `p`, one frame a packet (ts_netns_loss). Real loss: TCP
 * retransmits (A's RetransSegs grow), and the migration converges and is
 * proved all the same; the destination read exactly the bytes the source
 * sent; nothing lost. */
struct loss_case {
	double p;
	char traffic[8], dirty[8];      /* frames/s, page writes/s */
	long long min;                  /* frames back a second; sent in all */
};

/* At 5 % TCP carries 1 to 2.5 MB/s here (each timeout 200 ms at least);
 * a guest at 500 frames/s dirties more than that (a page a frame): 50. */
static struct loss_case losses[] = {
	{ 0.01, "500", "200", 200 },
	{ 0.05, "50", "20", 20 },
};

ParameterizedTestParameters(stream_e2e, two_hosts_packet_loss)
{
	return cr_make_param_array(struct loss_case, losses, sizeof(losses) / sizeof(losses[0]));
}

ParameterizedTest(struct loss_case *lc, stream_e2e, two_hosts_packet_loss, .init = hosts_up,
		  .fini = hosts_down, .timeout = 90)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], to[96];
	const char *extra[] = { "--loopback", NULL }, *why = NULL;
	long long retrans0, retrans, dropped;
	const json_t *done;
	struct ts_run r;
	json_t *evs, *st;
	char *in;
	pid_t src, dst;
	bool converged;
	int rc;

	if (hosts.skip)
		cr_skip_test("%s", hosts.skip);
	rc = ts_netns_loss(hosts.a, "se-a", lc->p, &why);
	if (rc == 1)
		cr_skip_test("%s", why);
	cr_assert(eq(int, rc, 0), "loss on se-a in %s", hosts.a);
	cr_assert(eq(int, ts_netns_loss(hosts.b, "se-b", lc->p, &why), 0), "loss on se-b");
	cr_assert(eq(int, ts_path("se-o-a.sock", a, sizeof(a)), 0));
	cr_assert(eq(int, ts_path("se-o-b.sock", b, sizeof(b)), 0));
	cr_assert(lt(int, 0, ts_testbe_start(a, extra)));
	cr_assert(lt(int, 0, ts_testbe_start(b, extra)));
	/* 5 s: a lost SYN is sent again after 1 s, and once more after 2 */
	src = start_source_with(hosts.a, "se-o", a, "32M", lc->traffic, lc->dirty, "5s");
	dst = start_incoming_at(hosts.b, "tcp:10.79.0.2:0", "se-od", b, to, sizeof(to));
	usleep(300000);            /* the guest runs a while on A */
	retrans0 = ts_netns_tcp_stat(hosts.a, "RetransSegs");
	evs = migrate_json_in(hosts.a, "se-o", to, NULL, &r);
	done = done_of(evs, r.out);
	dt_expect_proved(done);
	converged = json_is_true(json_object_get(done, "converged"));
	cr_assert(converged, "did not converge: %s", r.out);
	expect_stream_report(done, "se-od");
	dropped = ts_netns_dropped(hosts.a) + ts_netns_dropped(hosts.b);
	retrans = ts_netns_tcp_stat(hosts.a, "RetransSegs") - retrans0;
	cr_assert(lt(i64, 0, dropped), "iptables dropped no packet");
	cr_assert(lt(i64, 0, retrans), "TCP retransmitted nothing in %s", hosts.a);
	st = status_of("se-od");
	in = json_dumps(json_object_get(st, "incoming"), JSON_COMPACT);
	cr_log_info("the destination: %s", in);
	free(in);
	json_decref(st);
	cr_log_info("loss %.0f %%: %lld packets dropped, %lld segments retransmitted; %.0f bytes "
		    "in %.0f ms, %.2f MiB/s", lc->p * 100, dropped, retrans,
		    json_number_value(json_object_get(json_object_get(done, "stream"), "bytes")),
		    json_number_value(json_object_get(done, "total_ms")),
		    json_number_value(json_object_get(json_object_get(done, "stream"),
						      "rate_mib_s")));
	json_decref(evs);
	ts_run_free(&r);
	expect_running_at("se-od", b, lc->min);
	stop_expect_whole_of("se-od", dst, (unsigned long long)lc->min);
	/* the source's part: the third of a second before the migration, and it */
	stop_expect_whole_of("se-o", src, (unsigned long long)lc->min / 4);
}

/* testpmd `name`'s counter `key` once over floor, waiting up to 10 s (it
 * prints them every second, from a thread that shares CPU 0 with its own
 * busy-polling forwarder and everyone else's: late under load): the last
 * value read. */
static long long testpmd_counter_over(const char *name, const char *key, long long floor)
{
	long long v = ts_testpmd_counter(name, key);

	for (long t0 = ts_now_ms(); v <= floor && ts_now_ms() - t0 < 10000; usleep(50000))
		v = ts_testpmd_counter(name, key);
	return v;
}

/* Two hosts, each with its own DPDK testpmd (net_vhost, pinned): the guest
 * on testpmd A in namespace A (64 MiB, 20 000 frames/s, 5 000 page
 * writes/s) moves over the veth to `vhm run --incoming` on testpmd B in
 * namespace B. The destination proved the digests; the source says
 * "migrated"; testpmd B forwards the guest's frames from then on (its
 * RX-packets grow); the destination announced the guest (SEND_RARP) and the
 * guest saw that RARP come back; over its whole life nothing lost or
 * duplicated. */
Test(stream_e2e, two_hosts_testpmd, .init = hosts_up, .fini = hosts_down, .timeout = 120)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], to[96];
	long long rx_a, rx_b0, rx_b;
	const json_t *done;
	struct ts_run r;
	json_t *evs, *st;
	bool sent_rarp;
	pid_t src, dst;

	if (hosts.skip)
		cr_skip_test("%s", hosts.skip);
	cr_assert(eq(int, ts_path("se-pa.sock", a, sizeof(a)), 0));
	cr_assert(eq(int, ts_path("se-pb.sock", b, sizeof(b)), 0));
	dt_testpmd_in_or_skip(hosts.a, "se-pa", 1, false, a);
	dt_testpmd_in_or_skip(hosts.b, "se-pb", 1, false, b);
	src = start_source(hosts.a, "se-p", a);
	dst = start_incoming_at(hosts.b, "tcp:10.79.0.2:0", "se-pd", b, to, sizeof(to));
	rx_a = testpmd_counter_over("se-pa", "RX-packets:", 0);   /* the guest runs on A */
	cr_assert(lt(i64, 0, rx_a), "testpmd A forwarded nothing before the migration");
	evs = migrate_json_in(hosts.a, "se-p", to, NULL, &r);
	done = done_of(evs, r.out);
	dt_expect_proved(done);
	expect_stream_report(done, "se-pd");
	cr_log_info("testpmd to testpmd: %s",
		    r.out + (strlen(r.out) > 600 ? strlen(r.out) - 600 : 0));
	json_decref(evs);
	ts_run_free(&r);
	st = status_of("se-p");
	cr_assert(eq(str, (char *)field(st, "state"), "migrated"));
	json_decref(st);
	rx_b0 = ts_testpmd_counter("se-pb", "RX-packets:");
	expect_running_at("se-pd", b, 5000);
	rx_b = testpmd_counter_over("se-pb", "RX-packets:", rx_b0 + 5000);
	cr_assert(lt(i64, rx_b0 + 5000, rx_b), "testpmd B: RX-packets %lld then %lld", rx_b0,
		  rx_b);
	st = status_of("se-pd");
	sent_rarp = json_is_true(json_object_get(json_object_get(st, "incoming"), "rarp"));
	cr_assert(sent_rarp, "the destination sent no RARP");
	cr_assert(lt(i64, 0, json_integer_value(json_object_get(json_object_get(
		json_object_get(st, "traffic"), "total"), "rx_rarp"))), "the guest saw no RARP");
	json_decref(st);
	stop_expect_whole("se-pd", dst);
	stop_expect_whole_of("se-p", src, 1000);   /* its part: until the switchover */
}

/* ---- an application-level delay between the hosts ---------------------- */

#define DELAY_MS 25

static struct tr_relay *relay;

static void relay_down(void)
{
	tr_stop(relay);            /* before the namespace it lives in goes */
	relay = NULL;
	hosts_down();
}

/* No netem here, so no delayed link: a relay in B (relay.c) holds every
 * chunk DELAY_MS before it forwards it, either way, and the source
 * migrates to the relay. An application-level delay (each TCP connection
 * keeps its short round trip, so no window waits on it): the stream's
 * messages arrive DELAY_MS late. The switchover waits a round trip for
 * RUNNING, so the downtime is at least 2 x DELAY_MS, and the whole
 * migration two round trips (READY too); it converges and is proved, the
 * destination reads every byte, nothing lost. */
Test(stream_e2e, two_hosts_relay_delay, .init = hosts_up, .fini = relay_down, .timeout = 90)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], to[96], via[96];
	const char *extra[] = { "--loopback", NULL };
	const json_t *done;
	double down, total;
	struct ts_run r;
	uint16_t port;
	json_t *evs;
	pid_t src, dst;

	if (hosts.skip)
		cr_skip_test("%s", hosts.skip);
	cr_assert(eq(int, ts_path("se-y-a.sock", a, sizeof(a)), 0));
	cr_assert(eq(int, ts_path("se-y-b.sock", b, sizeof(b)), 0));
	cr_assert(lt(int, 0, ts_testbe_start(a, extra)));
	cr_assert(lt(int, 0, ts_testbe_start(b, extra)));
	src = start_source_with(hosts.a, "se-y", a, "32M", "2000", "500", "2s");
	dst = start_incoming_at(hosts.b, "tcp:10.79.0.2:0", "se-yd", b, to, sizeof(to));
	cr_assert(eq(int, tr_start(hosts.b, "10.79.0.2", "10.79.0.2",
				   (uint16_t)atoi(strrchr(to, ':') + 1), DELAY_MS, &relay, &port), 0),
		  "the relay in %s", hosts.b);
	snprintf(via, sizeof(via), "tcp:10.79.0.2:%u", port);
	usleep(300000);            /* the guest runs a while on A */
	evs = migrate_json_in(hosts.a, "se-y", via, NULL, &r);
	done = done_of(evs, r.out);
	dt_expect_proved(done);
	expect_stream_report(done, "se-yd");
	down = json_number_value(json_object_get(json_object_get(done, "downtime"), "ms"));
	total = json_number_value(json_object_get(done, "total_ms"));
	cr_assert(le(dbl, 2.0 * DELAY_MS, down), "downtime %.1f ms with %d ms each way", down,
		  DELAY_MS);
	cr_assert(le(dbl, 4.0 * DELAY_MS, total), "%.1f ms in all with %d ms each way", total,
		  DELAY_MS);
	cr_assert(lt(u64, 0, tr_chunks(relay)));
	cr_log_info("relay %d ms each way: downtime %.1f ms, total %.1f ms, %llu chunks",
		    DELAY_MS, down, total, (unsigned long long)tr_chunks(relay));
	json_decref(evs);
	ts_run_free(&r);
	expect_running_at("se-yd", b, 1000);
	stop_expect_whole_of("se-yd", dst, 1000);
	stop_expect_whole_of("se-y", src, 500);
}
