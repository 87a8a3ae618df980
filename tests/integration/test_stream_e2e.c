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
	const char *full[24] = { "ip", "netns", "exec", ns };
	char log[TS_PATH_MAX + 16];
	int n = ns ? 4 : 0;
	pid_t pid;

	for (int i = 0; argv[i] && n < 23; i++)
		full[n++] = argv[i];
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
	char a[TS_PATH_MAX], b[TS_PATH_MAX], to[96], bin[256], log[TS_PATH_MAX + 16];
	const char *argv[] = { bin, "migrate", "se-k", "--to", to, "--run-dir", ts_dir(),
			       "--bandwidth", "2M", NULL };
	pid_t src, dst, mig;
	long t0;
	int st = 0;

	src = dt_run_on_testbe("se-k", "64M", a, b, sizeof(a));
	dst = start_incoming("se-kd", b, to, sizeof(to));
	sleep(1);
	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/migrate-k.log", ts_dir());
	mig = ts_spawn(argv, log);
	cr_assert(lt(int, 0, mig));
	sleep(2);
	cr_assert(not(ts_exited(mig, &st)), "the capped migration ended within 2 s");
	kill(dst, SIGKILL);
	t0 = ts_now_ms();
	while (!ts_exited(mig, &st) && ts_now_ms() - t0 < 20000)
		usleep(50000);
	cr_assert(eq(int, exit_code(st), 1), "vhm migrate: status 0x%x", st);
	expect_running_on("se-k", a);
	stop_expect_whole("se-k", src);
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
 * 5 s vhost-user timeout bounds each wait, TCP_USER_TIMEOUT the unacked
 * data) and it rolls back, whole. (The destination, idle in its read,
 * notices at its own 30 s timeout; not awaited here.) */
Test(stream_e2e, two_hosts_link_cut, .init = hosts_up, .fini = hosts_down, .timeout = 90)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], to[96], bin[256], log[TS_PATH_MAX + 16];
	const char *extra[] = { "--loopback", NULL };
	const char *run[] = { bin, "run", "--backend", a, "--name", "se-h", "--mem", "64M",
			      "--traffic", "20000", "--dirty", "5000", "--run-dir", ts_dir(),
			      "--duration", "120s", "--interval", "200ms", NULL };
	const char *mig[] = { bin, "migrate", "se-h", "--to", to, "--run-dir", ts_dir(),
			      "--bandwidth", "2M", NULL };
	pid_t src, m;
	long t_cut;
	int st = 0;

	if (hosts.skip)
		cr_skip_test("%s", hosts.skip);
	ts_bin("vhm", bin, sizeof(bin));
	cr_assert(eq(int, ts_path("se-h-a.sock", a, sizeof(a)), 0));
	cr_assert(eq(int, ts_path("se-h-b.sock", b, sizeof(b)), 0));
	cr_assert(lt(int, 0, ts_testbe_start(a, extra)));
	cr_assert(lt(int, 0, ts_testbe_start(b, extra)));
	src = spawn_in(hosts.a, run, "se-h");
	dt_wait_ctl("se-h");
	start_incoming_at(hosts.b, "tcp:10.79.0.2:0", "se-hd", b, to, sizeof(to));
	sleep(1);
	snprintf(log, sizeof(log), "%s/migrate-h.log", ts_dir());
	m = spawn_in(hosts.a, mig, "migrate-h");
	sleep(2);
	cr_assert(not(ts_exited(m, &st)), "the capped migration ended within 2 s");
	cr_assert(eq(int, ts_sh("ip -n %s link set se-a down", hosts.a), 0));
	t_cut = ts_now_ms();
	while (!ts_exited(m, &st) && ts_now_ms() - t_cut < 20000)
		usleep(50000);
	cr_assert(eq(int, exit_code(st), 1), "vhm migrate: status 0x%x (log %s)", st, log);
	cr_assert(le(i64, ts_now_ms() - t_cut, 12000), "the cut noticed after %ld ms",
		  ts_now_ms() - t_cut);
	cr_log_info("link cut: migrate ended %ld ms after it", ts_now_ms() - t_cut);
	expect_running_on("se-h", a);
	stop_expect_whole("se-h", src);
}
