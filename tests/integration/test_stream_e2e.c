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
 * a veth pair (two "hosts"), the link cut mid pre-copy. Suite stream_e2e. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "devtest.h"
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

/* `vhm run` NAME on backend a (in ns, may be NULL) with traffic and page
 * writes, a 2 s vhost-user timeout (each wait for a peer, the stream's
 * included); its control socket is up when this returns. */
static pid_t start_source(const char *ns, const char *name, const char *a)
{
	char bin[256];
	const char *run[] = { bin, "run", "--backend", a, "--name", name, "--mem", "64M",
			      "--traffic", "20000", "--dirty", "5000", "--run-dir", ts_dir(),
			      "--duration", "120s", "--interval", "200ms", "--timeout", "2s",
			      NULL };
	pid_t pid;

	ts_bin("vhm", bin, sizeof(bin));
	pid = spawn_in(ns, run, name);
	dt_wait_ctl(name);
	return pid;
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

/* The same capped at 2 MiB/s, a pre-copy of seconds: still running 1 s on. */
static pid_t start_slow_migration(const char *ns, const char *name, const char *to)
{
	pid_t m = start_migration(ns, name, to, "2M");
	int st;

	sleep(1);
	cr_assert(not(ts_exited(m, &st)), "the capped migration ended within 1 s");
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

/* Device `name` runs on `backend` and frames come back through it. */
static void expect_running_on(const char *name, const char *backend)
{
	json_t *st = status_of(name);
	long long rx0, rx1;

	cr_assert(eq(str, (char *)field(st, "state"), "running"), "%s is %s", name,
		  field(st, "state"));
	cr_assert(eq(str, (char *)field(st, "backend"), (char *)backend));
	json_decref(st);
	rx0 = rx_of(name);
	sleep(1);
	rx1 = rx_of(name);
	cr_assert(lt(i64, rx0 + 5000, rx1), "%s: rx %lld -> %lld in 1 s", name, rx0, rx1);
}

/* Stop `name` and read its summary line: nothing lost or duplicated. */
static void stop_expect_whole(const char *name, pid_t pid)
{
	char path[TS_PATH_MAX + 16], line[512], fmt[160];
	unsigned long long tx = 0, rx = 0, lost = ~0ull, dup = ~0ull, rarp, writes;
	struct ctl_client *c = dt_connect(name);
	int st = -1;
	FILE *f;

	json_decref(dt_call(c, "stop", NULL));
	ctl_client_close(c);
	for (int i = 0; i < 100 && !ts_exited(pid, &st); i++)
		usleep(100000);
	cr_assert(eq(int, exit_code(st), 0), "%s: status 0x%x", name, st);
	snprintf(path, sizeof(path), "%s/%s.log", ts_dir(), name);
	snprintf(fmt, sizeof(fmt), "%s: tx %%llu frames, rx %%llu back (lost %%llu, dup %%llu, "
		 "rarp %%llu), %%llu page writes", name);
	f = fopen(path, "r");
	cr_assert(not(eq(ptr, f, NULL)), "no log %s", path);
	while (fgets(line, sizeof(line), f))
		sscanf(line, fmt, &tx, &rx, &lost, &dup, &rarp, &writes);
	fclose(f);
	cr_assert(lt(u64, 10000, tx), "%s sent %llu frames", name, tx);
	cr_assert(eq(u64, lost, 0), "%s lost %llu frames", name, lost);
	cr_assert(eq(u64, dup, 0), "%s duplicated %llu frames", name, dup);
	cr_assert(eq(u64, rx, tx), "%s sent %llu, received back %llu", name, tx, rx);
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
	sleep(1);
	ex = migrate_cli("se-src", to, NULL, &r);
	cr_assert(eq(int, ex, 0), "vhm migrate exit %d: %s%s", ex, r.out, r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "on the wire"), NULL)), "report: %s", r.out);
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
