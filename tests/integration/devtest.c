/* SPDX-License-Identifier: MIT */
/* Device-test helpers that assert with Criterion: fixture teardown, testpmd
 * or a skip, a control connection (with the device's log on failure) and
 * calls that must succeed. */
#include "devtest.h"

#include <errno.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "support.h"

void dt_fini(void)
{
	ts_cleanup();
}

pid_t dt_testpmd_or_skip(const char *name, int queues, char *sock, size_t len)
{
	return dt_testpmd_mode_or_skip(name, queues, false, sock, len);
}

/* Skip only when testpmd is truly absent; one that is installed and does
 * not start is a broken test machine, not a reason to pass. */
static pid_t started_or_skip(pid_t pid, const char *reason)
{
	if (pid == -ENOENT)
		cr_skip_test("%s", reason);
	if (pid < 0)
		cr_fatal("%s", reason);
	return pid;
}

pid_t dt_testpmd_mode_or_skip(const char *name, int queues, bool client, char *sock, size_t len)
{
	char reason[256];
	pid_t pid = ts_testpmd_start_mode(name, queues, client, NULL, 0, sock, len, reason,
					  sizeof(reason));

	return started_or_skip(pid, reason);
}

pid_t dt_testpmd_at_or_skip(const char *name, int queues, bool client, const char *sock)
{
	return dt_testpmd_in_or_skip(NULL, name, queues, client, sock);
}

pid_t dt_testpmd_in_or_skip(const char *ns, const char *name, int queues, bool client,
			    const char *sock)
{
	char reason[256];
	pid_t pid = ts_testpmd_start_in(ns, NULL, 0, name, queues, client, sock, reason,
					 sizeof(reason));

	return started_or_skip(pid, reason);
}

void dt_wait_ctl(const char *name)
{
	char path[TS_PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s.sock", ts_dir(), name);
	cr_assert(eq(int, ts_wait_socket(path, 10000), 0), "control socket %s never appeared", path);
}

/* The first line of the device's log (why it exited, when it did). */
static void first_log_line(const char *name, char *out, size_t len)
{
	char path[TS_PATH_MAX + 16];
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s.log", ts_dir(), name);
	f = fopen(path, "r");
	if (!f)
		return;
	if (!fgets(out, (int)len, f))
		out[0] = '\0';
	fclose(f);
}

struct ctl_client *dt_connect(const char *name)
{
	struct ctl_client *c = NULL;
	char err[256], log[512] = "";
	int rc = ctl_client_open(&c, ts_dir(), name, 5000, err, sizeof(err));

	if (rc)
		first_log_line(name, log, sizeof(log));
	cr_assert(eq(int, rc, 0), "control connection to %s: %s (device log: %s)", name, err, log);
	return c;
}

json_t *dt_call(struct ctl_client *c, const char *cmd, json_t *args)
{
	json_t *ret = NULL;
	char err[256];
	int rc = ctl_client_call(c, cmd, args, &ret, err, sizeof(err), 10000);

	json_decref(args);
	cr_assert(eq(int, rc, 0), "%s: %s", cmd, err);
	return ret;
}

long long dt_rx_frames(struct ctl_client *c)
{
	json_t *st = dt_call(c, "status", NULL);
	long long rx = json_integer_value(json_object_get(
		json_object_get(json_object_get(st, "traffic"), "total"), "rx_frames"));

	json_decref(st);
	return rx;
}

long long dt_wait_rx_past(struct ctl_client *c, long long target, int ms)
{
	long end = ts_now_ms() + ms;

	for (;;) {
		bool last;
		long long rx;

		usleep(50000);
		last = ts_now_ms() >= end;
		rx = dt_rx_frames(c);
		if (rx > target || last)
			return rx;
	}
}

/* ---- the vhm command line ---- */

/* "vhm a b c" of args, for messages. */
static void joined(const char *const args[], char *out, size_t len)
{
	size_t n = (size_t)snprintf(out, len, "vhm");

	for (; *args && n < len; args++)
		n += (size_t)snprintf(out + n, len - n, " %s", *args);
}

void dt_vhm(const char *const args[], struct ts_run *r)
{
	const char *argv[16];
	char bin[256];
	int n = 0;

	ts_bin("vhm", bin, sizeof(bin));
	argv[n++] = bin;
	for (; *args; args++) {
		cr_assert(lt(int, n, 15), "too many arguments for dt_vhm");
		argv[n++] = *args;
	}
	argv[n] = NULL;
	cr_assert(eq(int, ts_run_cmd(argv, DT_VHM_TIMEOUT_MS, r), 0), "cannot run %s", bin);
	cr_assert(not(r->timed_out), "vhm %s did not finish in %d ms", argv[1] ? argv[1] : "",
		  DT_VHM_TIMEOUT_MS);
}

void dt_vhm_refuses(const char *const args[], int status, const char *says)
{
	struct ts_run r;
	char cmd[512];

	joined(args, cmd, sizeof(cmd));
	dt_vhm(args, &r);
	cr_assert(eq(int, r.status, status), "%s: exit %d, stderr: %s", cmd, r.status, r.err);
	cr_assert(eq(str, r.out, ""), "%s: stdout: %s", cmd, r.out);
	cr_assert(eq(int, ts_count_lines(r.err), 1), "%s: stderr is not one line: %s", cmd,
		  r.err);
	cr_assert(eq(int, strncmp(r.err, "vhm", 3), 0), "%s: stderr: %s", cmd, r.err);
	if (says)
		cr_assert(not(eq(ptr, strstr(r.err, says), NULL)), "%s: stderr lacks '%s': %s",
			  cmd, says, r.err);
	ts_run_free(&r);
}

pid_t dt_run_on_testbe(const char *name, const char *mem, char *a, char *b, size_t len)
{
	const char *extra[] = { "--loopback", NULL };
	char bin[256], log[TS_PATH_MAX + 16], an[64], bn[64];
	const char *argv[] = { bin, "run", "--backend", a, "--name", name, "--mem", mem,
			       "--traffic", "20000", "--dirty", "5000", "--run-dir", ts_dir(),
			       "--duration", "120s", "--interval", "200ms", NULL };
	pid_t pid;

	snprintf(an, sizeof(an), "%s-a.sock", name);
	snprintf(bn, sizeof(bn), "%s-b.sock", name);
	cr_assert(eq(int, ts_path(an, a, len), 0));
	cr_assert(eq(int, ts_path(bn, b, len), 0));
	cr_assert(lt(int, 0, ts_testbe_start(a, extra)), "vhm-testbe on %s did not start", a);
	cr_assert(lt(int, 0, ts_testbe_start(b, extra)), "vhm-testbe on %s did not start", b);
	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/%s.log", ts_dir(), name);
	pid = ts_spawn(argv, log);
	cr_assert(lt(int, 0, pid), "cannot start vhm run");
	dt_wait_ctl(name);
	return pid;
}

/* The copy was proved: by default after the resume (pages compared, none
 * differing), with --verify=sync (or a destination that cannot log) by
 * equal digests, taken inside the downtime; over a stream by the
 * destination, which found its digest equal to the source's. */
void dt_expect_proved(const json_t *rep)
{
	const char *how = json_string_value(json_object_get(rep, "verify"));
	const json_t *dg = json_object_get(rep, "digest");
	const json_t *va = json_object_get(rep, "verify_after");

	bool verified = json_is_true(json_object_get(rep, "verified"));

	cr_assert(how != NULL, "the report says no verify mode");
	cr_assert(verified, "not verified: %s", json_string_value(json_object_get(rep, "result")));
	if (!strcmp(how, "sync") || !strcmp(how, "stream")) {
		cr_assert(eq(int, (int)strlen(json_string_value(json_object_get(dg, "source"))), 16));
		cr_assert(eq(str, (char *)json_string_value(json_object_get(dg, "source")),
			     (char *)json_string_value(json_object_get(dg, "destination"))));
		return;
	}
	cr_assert(eq(str, (char *)how, "after-resume"));
	cr_assert(lt(i64, 0, json_integer_value(json_object_get(va, "compared_pages"))));
	cr_assert(lt(dbl, 0.0, json_number_value(json_object_get(va, "ms"))));
	/* no digest was taken: the downtime could not have held one */
	cr_assert(eq(str, (char *)json_string_value(json_object_get(dg, "source")), ""));
}

void dt_run_summary(const char *name, unsigned long long *tx, unsigned long long *rx,
		    unsigned long long *lost, unsigned long long *dup)
{
	char path[TS_PATH_MAX + 16], line[512], fmt[160];
	unsigned long long rarp, writes;
	FILE *f;

	*tx = 0, *rx = *lost = *dup = ~0ull;
	snprintf(path, sizeof(path), "%s/%s.log", ts_dir(), name);
	snprintf(fmt, sizeof(fmt), "%s: tx %%llu frames, rx %%llu back (lost %%llu, dup %%llu, "
		 "rarp %%llu), %%llu page writes", name);
	f = fopen(path, "r");
	cr_assert(not(eq(ptr, f, NULL)), "no log %s", path);
	while (fgets(line, sizeof(line), f))
		sscanf(line, fmt, tx, rx, lost, dup, &rarp, &writes);
	fclose(f);
}

void dt_expect_whole_run(const char *name, unsigned long long min_tx)
{
	unsigned long long tx, rx, lost, dup;

	dt_run_summary(name, &tx, &rx, &lost, &dup);
	cr_assert(lt(u64, min_tx, tx), "%s sent %llu frames", name, tx);
	cr_assert(eq(u64, lost, 0), "%s lost %llu frames", name, lost);
	cr_assert(eq(u64, dup, 0), "%s duplicated %llu frames", name, dup);
	cr_assert(eq(u64, rx, tx), "%s sent %llu, received back %llu", name, tx, rx);
}
