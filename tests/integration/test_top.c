/* SPDX-License-Identifier: MIT */
/* `vhm top`: the dashboard in a real terminal (tmux, 120x40) over a device
 * on DPDK testpmd, and its batch output. What the screen shows is read back
 * with capture-pane and checked against the device itself: the instance row
 * and state, the writes/s figure against `vhm status --json`, a migration's
 * phases in order, a resize to 40x12 and back, `q` with exit status 0;
 * NO_COLOR turning colours off; dirty tracking started and stopped from
 * the dashboard (key t, --track) checked against the device's own `dirty`
 * answer, and the working-set panel growing with the terminal; a stream
 * migration between two instances on vhm-testbe seen from both ends.
 * Also, without any peer: the model fed with the events the device sends
 * (suite top_model), and the batch line formats.
 *
 * Each test runs its own tmux server (support.h ts_tmux), killed in .fini. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "devtest.h"
#include "support.h"
#include "ui_lines.h"
#include "ui_model.h"
#include "ui_panels.h"

static void fini(void)
{
	ts_cleanup(); /* tmux's server too */
}

/* ---- helpers ----------------------------------------------------------------- */

static char *capture(void)
{
	return ts_tmux("capture-pane", "-p", "-t", "top", NULL);
}

/* The device on testpmd, its control socket in <ts_dir>/run (backends stay
 * outside the run dir, so top lists only control sockets). */
static const char *run_dir(void)
{
	static char dir[TS_PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/run", ts_dir());
	mkdir(dir, 0700);
	return dir;
}

static void start_run(const char *backend, const char *name)
{
	char bin[256], log[TS_PATH_MAX + 16], ctl[TS_PATH_MAX + 16];
	const char *argv[] = { bin, "run", "--backend", backend, "--name", name, "--traffic",
			       "20000", "--dirty", "5000:hotset", "--run-dir", run_dir(),
			       "--duration", "120s", NULL };

	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/%s.log", ts_dir(), name);
	cr_assert(lt(int, 0, ts_spawn(argv, log)));
	snprintf(ctl, sizeof(ctl), "%s/%s.sock", run_dir(), name);
	cr_assert(eq(int, ts_wait_socket(ctl, 10000), 0), "control socket %s never appeared", ctl);
}

/* `vhm top -d 0.5 EXTRA` in a detached 120x40 tmux session "top", with
 * NO_COLOR set to no_color; its exit status goes to <ts_dir>/top.exit. */
static void start_top_args(const char *no_color, const char *extra)
{
	char cmd[1024], bin[256];

	ts_bin("vhm", bin, sizeof(bin));
	/* bounded, should .fini not run (a crash of the test process) */
	snprintf(cmd, sizeof(cmd), "env LANG=C.UTF-8 NO_COLOR=%s timeout --foreground 300 %s top "
		 "-d 0.5 --run-dir %s %s; echo EXIT=$? > %s/top.exit; sleep 30", no_color, bin,
		 run_dir(), extra, ts_dir());
	/* the pane outlives top (sleep) so that the last screen can be read */
	free(ts_tmux("new-session", "-d", "-s", "top", "-x", "120", "-y", "40", cmd, NULL));
}

static void start_top_env(const char *no_color)
{
	start_top_args(no_color, "");
}

static void start_top(void)
{
	start_top_env("");
}

/* The line of the screen that starts with `prefix` (copied into out). */
static bool screen_line(const char *screen, const char *prefix, char *out, size_t len)
{
	for (const char *l = screen; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		size_t n = strcspn(l, "\n");

		if (!strncmp(l, prefix, strlen(prefix))) {
			snprintf(out, len, "%.*s", (int)n, l);
			return true;
		}
	}
	return false;
}

/* Wait up to ms for a screen with the row of `name` in state `state`. */
static char *wait_row(const char *name, const char *state, int ms)
{
	long end = ts_now_ms() + ms;
	char row[512], want[128];

	snprintf(want, sizeof(want), "%s ", name);
	do {
		char *s = capture();

		if (s && screen_line(s, want, row, sizeof(row)) && strstr(row, state))
			return s;
		free(s);
		usleep(100000);
	} while (ts_now_ms() < end);
	return NULL;
}

/* The text under column `col` in the row of `name` (every column has a
 * one-word value); false when there is no such row or column. */
static bool column_text(const char *screen, const char *name, const char *col, char *out,
			size_t len)
{
	char head[512], row[512], want[128], *save, *tok;
	int idx = -1, k = 0;

	snprintf(want, sizeof(want), "%s ", name);
	if (!screen_line(screen, "NAME ", head, sizeof(head)) ||
	    !screen_line(screen, want, row, sizeof(row)))
		return false;
	for (tok = strtok_r(head, " ", &save); tok; tok = strtok_r(NULL, " ", &save), k++)
		if (!strcmp(tok, col))
			idx = k;
	if (idx < 0)
		return false;
	tok = strtok_r(row, " ", &save);
	for (k = 0; tok && k < idx; k++)
		tok = strtok_r(NULL, " ", &save);
	if (!tok)
		return false;
	snprintf(out, len, "%s", tok);
	return true;
}

/* The value under column `col` in the row of `name` ("5.00M" -> 5e6). */
static double column(const char *screen, const char *name, const char *col)
{
	char tok[64];
	double v;

	if (!column_text(screen, name, col, tok, sizeof(tok)) || sscanf(tok, "%lf", &v) != 1)
		return -1;
	if (strchr(tok, 'M'))
		v *= 1e6;
	else if (strchr(tok, 'G'))
		v *= 1e9;
	return v;
}

/* `vhm status NAME --json`: dirty.writes and uptime_s (asserts it works). */
static void status_writes(const char *name, double *writes, double *uptime)
{
	char bin[256];
	const char *argv[] = { bin, "status", name, "--json", "--run-dir", run_dir(),
			       "--timeout", "10s", NULL };
	struct ts_run r;
	json_t *j = NULL;

	ts_bin("vhm", bin, sizeof(bin));
	cr_assert(eq(int, ts_run_cmd(argv, 20000, &r), 0));
	if (r.status == 0)
		j = json_loads(r.out, 0, NULL);
	cr_assert(not(eq(ptr, j, NULL)), "vhm status %s: exit %d%s: %s", name, r.status,
		  r.timed_out ? " (timed out)" : "", r.err);
	ts_run_free(&r);
	*writes = (double)json_integer_value(json_object_get(json_object_get(j, "dirty"),
							     "writes"));
	*uptime = json_real_value(json_object_get(j, "uptime_s"));
	json_decref(j);
}

/* tmux and testpmd (plus a second one into dst, when given), the device on
 * the first, top in tmux; skips before anything of tmux runs. */
static void dashboard_or_skip(char *backend, size_t len, char *dst, size_t dstlen)
{
	if (!ts_have_tmux())
		cr_skip_test("tmux is not installed");
	dt_testpmd_or_skip("tp-a", 1, backend, len);
	if (dst)
		dt_testpmd_or_skip("tp-b", 1, dst, dstlen);
	start_run(backend, "vm1");
	start_top();
}

/* ---- the dashboard ---------------------------------------------------------------- */

/* Does a screen captured with escapes (capture-pane -e) set a colour? An SGR
 * sequence with a foreground or background colour (30-38, 40-48, 90-97,
 * 100-107); 39 and 49, the terminal's defaults, are no colour. */
static bool has_colour(const char *s)
{
	for (s = strstr(s, "\033["); s; s = strstr(s + 1, "\033[")) {
		const char *p = s + 2;

		while (*p >= '0' && *p <= '9') {
			char *end;
			long v = strtol(p, &end, 10);

			if ((v >= 30 && v <= 38) || (v >= 40 && v <= 48) || (v >= 90 && v <= 97) ||
			    (v >= 100 && v <= 107))
				return true;
			p = *end == ';' ? end + 1 : end;
		}
	}
	return false;
}

/* The dashboard of an empty run dir, after its first frame, with escapes. */
static char *empty_screen(const char *no_color)
{
	char *s = NULL;

	if (!ts_have_tmux())
		cr_skip_test("tmux is not installed");
	start_top_env(no_color);
	for (long end = ts_now_ms() + 10000; ts_now_ms() < end; usleep(100000)) {
		free(s);
		s = ts_tmux("capture-pane", "-e", "-p", "-t", "top", NULL);
		if (s && strstr(s, "no instances"))
			return s;
	}
	cr_fatal("top drew no screen within 10 s: %s", s ? s : "(none)");
	return NULL;
}

/* NO_COLOR with any value turns colours off; without it the header is in
 * colour (which shows has_colour() can see them at all). */
Test(top, no_color_env_draws_without_colours, .fini = fini, .timeout = 30)
{
	char *s = empty_screen("1");

	cr_assert(not(has_colour(s)), "colours despite NO_COLOR=1:\n%s", s);
	free(s);
}

Test(top, colours_without_no_color, .fini = fini, .timeout = 30)
{
	char *s = empty_screen("");

	cr_assert(has_colour(s), "no colours without NO_COLOR:\n%s", s);
	free(s);
}

/* The row shows the instance running; its WRITES/s is what `vhm status`
 * says the writer did over the same seconds, within 10 %. */
Test(top, row_and_dirty_rate, .fini = fini, .timeout = 90)
{
	char backend[TS_PATH_MAX];
	double w0, w1, u0, u1, rate, shown;
	char *s;

	dashboard_or_skip(backend, sizeof(backend), NULL, 0);
	s = wait_row("vm1", "running", 15000);
	cr_assert(not(eq(ptr, s, NULL)), "no row 'vm1 ... running' within 15 s");
	free(s);
	sleep(2);   /* a few stats intervals */
	status_writes("vm1", &w0, &u0);
	sleep(2);
	s = capture();
	status_writes("vm1", &w1, &u1);
	rate = (w1 - w0) / (u1 - u0);
	shown = column(s, "vm1", "WRITES/s");
	cr_assert(lt(dbl, 1000.0, rate), "status says the writer did %.0f writes/s", rate);
	cr_assert(ge(dbl, shown, rate * 0.9), "top shows %.0f writes/s, status %.0f\n%s", shown,
		  rate, s);
	cr_assert(le(dbl, shown, rate * 1.1), "top shows %.0f writes/s, status %.0f\n%s", shown,
		  rate, s);
	/* the rates panel of the selected instance, with the writer's line */
	cr_assert(not(eq(ptr, strstr(s, "vm1: rates over time"), NULL)), "no rates panel:\n%s", s);
	free(s);
}

static const char *const phases[] = { "setup", "log-start", "pre-copy", "switchover",
				      "announce", "done" };

static int phase_index(const char *p)
{
	for (int i = 0; i < (int)(sizeof(phases) / sizeof(phases[0])); i++)
		if (!strncmp(p, phases[i], strlen(phases[i])) &&
		    (p[strlen(phases[i])] == ' ' || p[strlen(phases[i])] == '\0'))
			return i;
	return -1;
}

/* Migrate while top runs: the phases it shows never go backwards, and the
 * final timeline lists every phase in order, then the report. */
Test(top, migration_phases_in_order, .fini = fini, .timeout = 120)
{
	char backend[TS_PATH_MAX], dst[TS_PATH_MAX], bin[256], line[512];
	const char *argv[] = { bin, "migrate", "vm1", "--to", dst, "--run-dir", run_dir(), NULL };
	int last = -1;
	pid_t mig;
	char *s;

	dashboard_or_skip(backend, sizeof(backend), dst, sizeof(dst));
	s = wait_row("vm1", "running", 15000);
	cr_assert(not(eq(ptr, s, NULL)), "no row 'vm1 ... running' within 15 s");
	free(s);
	ts_bin("vhm", bin, sizeof(bin));
	mig = ts_spawn(argv, NULL);
	cr_assert(lt(int, 0, mig));
	/* watch the panel while it runs */
	for (long end = ts_now_ms() + 60000; ts_now_ms() < end; usleep(50000)) {
		int st, p;

		s = capture();
		if (s && screen_line(s, " phase ", line, sizeof(line)) &&
		    (p = phase_index(line + 7)) >= 0) {
			cr_assert(ge(int, p, last), "phase went back from %s to %s", phases[last],
				  phases[p]);
			last = p;
		}
		free(s);
		if (last == 5 || (ts_exited(mig, &st) && last < 0))
			break;
	}
	cr_assert(eq(int, last, 5), "the panel never showed phase done (last %s)",
		  last >= 0 ? phases[last] : "none");
	s = capture();
	cr_assert(screen_line(s, " timeline ", line, sizeof(line)), "no timeline:\n%s", s);
	{
		const char *at = line;

		for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
			const char *p = strstr(at, phases[i]);

			cr_assert(not(eq(ptr, (void *)p, NULL)), "%s missing or out of order in '%s'",
				  phases[i], line);
			at = p + strlen(phases[i]);
		}
	}
	cr_assert(screen_line(s, " report   ok", line, sizeof(line)), "no report line:\n%s", s);
	/* the row follows the device to its new backend */
	cr_assert(screen_line(s, "vm1 ", line, sizeof(line)));
	cr_assert(not(eq(ptr, strstr(line, dst), NULL)), "row still on the old backend: %s", line);
	free(s);
}

/* Until ms pass, a screen with a line starting with prefix and holding
 * `has`; each capture without one moves the selection down (j), since the
 * panels are the selected instance's. */
static char *wait_panel_line(const char *prefix, const char *has, int ms, char *line,
			     size_t len)
{
	for (long end = ts_now_ms() + ms; ts_now_ms() < end; usleep(300000)) {
		char *s = capture();

		if (s && screen_line(s, prefix, line, len) && strstr(line, has))
			return s;
		free(s);
		free(ts_tmux("send-keys", "-t", "top", "j", NULL));
	}
	return NULL;
}

/* A stream migration between two instances on vhm-testbe, both watched: the
 * source's migration panel ends with the stream's line (bytes on the wire,
 * rate, one connection), the destination's incoming panel says it runs and
 * what it received; its row said "incoming" before. */
Test(top, stream_migration_on_both_ends, .fini = fini, .timeout = 90)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], bin[256], log[TS_PATH_MAX + 16], to[96], line[512];
	const char *extra[] = { "--loopback", NULL };
	const char *in[] = { bin, "run", "--incoming", "tcp:127.0.0.1:0", "--backend", b, "--name",
			     "vm2", "--run-dir", run_dir(), "--duration", "120s", NULL };
	const char *st[] = { bin, "status", "vm2", "--json", "--run-dir", run_dir(), NULL };
	const char *mig[] = { bin, "migrate", "vm1", "--to", to, "--run-dir", run_dir(), NULL };
	struct ts_run r;
	json_t *j;
	char *s;

	if (!ts_have_tmux())
		cr_skip_test("tmux is not installed");
	ts_bin("vhm", bin, sizeof(bin));
	cr_assert(eq(int, ts_path("tb-a.sock", a, sizeof(a)), 0));
	cr_assert(eq(int, ts_path("tb-b.sock", b, sizeof(b)), 0));
	cr_assert(lt(int, 0, ts_testbe_start(a, extra)));
	cr_assert(lt(int, 0, ts_testbe_start(b, extra)));
	start_run(a, "vm1");
	snprintf(log, sizeof(log), "%s/vm2.log", ts_dir());
	cr_assert(lt(int, 0, ts_spawn(in, log)));
	snprintf(line, sizeof(line), "%s/vm2.sock", run_dir());
	cr_assert(eq(int, ts_wait_socket(line, 10000), 0), "control socket %s never appeared", line);
	cr_assert(eq(int, ts_run_cmd(st, 10000, &r), 0));
	j = json_loads(r.out, 0, NULL);
	cr_assert(not(eq(ptr, j, NULL)), "vhm status vm2: %s%s", r.out, r.err);
	snprintf(to, sizeof(to), "tcp:%s", json_string_value(json_object_get(json_object_get(
		j, "incoming"), "listen")) ?: "?");
	json_decref(j);
	ts_run_free(&r);
	start_top();
	s = wait_row("vm2", "incoming", 15000);
	cr_assert(not(eq(ptr, s, NULL)), "no row 'vm2 ... incoming' within 15 s");
	free(s);
	s = wait_row("vm1", "running", 15000);
	cr_assert(not(eq(ptr, s, NULL)), "no row 'vm1 ... running' within 15 s");
	free(s);
	cr_assert(eq(int, ts_run_cmd(mig, 60000, &r), 0));
	cr_assert(eq(int, r.status, 0), "vhm migrate: exit %d: %s", r.status, r.err);
	ts_run_free(&r);
	s = wait_panel_line(" stream ", "on the wire", 10000, line, sizeof(line));
	cr_assert(not(eq(ptr, s, NULL)), "no stream line in vm1's migration panel");
	cr_assert(not(eq(ptr, strstr(line, "MiB/s, 1 connection"), NULL)), "%s", line);
	free(s);
	s = wait_panel_line(" phase ", "running", 10000, line, sizeof(line));
	cr_assert(not(eq(ptr, s, NULL)), "no incoming panel saying running for vm2");
	cr_assert(not(eq(ptr, strstr(line, " received, "), NULL)), "%s", line);
	cr_assert(not(eq(ptr, strstr(s, "incoming migration"), NULL)), "%s", s);
	free(s);
}

/* 40x12: the list is still there (name, state); back to 120x40: the wide
 * list (BACKEND column) and the panels are drawn again; top still runs. */
Test(top, resize_small_and_back, .fini = fini, .timeout = 90)
{
	char backend[TS_PATH_MAX], path[TS_PATH_MAX + 16];
	char *s;

	dashboard_or_skip(backend, sizeof(backend), NULL, 0);
	s = wait_row("vm1", "running", 15000);
	cr_assert(not(eq(ptr, s, NULL)), "no row 'vm1 ... running' within 15 s");
	free(s);
	free(ts_tmux("resize-window", "-t", "top", "-x", "40", "-y", "12", NULL));
	usleep(1500000);
	s = wait_row("vm1", "running", 5000);
	cr_assert(not(eq(ptr, s, NULL)), "no instance row at 40x12");
	cr_assert(not(eq(ptr, strstr(s, "NAME"), NULL)));
	cr_assert(eq(ptr, strstr(s, "BACKEND"), NULL), "BACKEND cannot fit 40 columns:\n%s", s);
	free(s);
	free(ts_tmux("resize-window", "-t", "top", "-x", "120", "-y", "40", NULL));
	usleep(1500000);
	s = capture();
	cr_assert(not(eq(ptr, strstr(s, "BACKEND"), NULL)), "not redrawn wide:\n%s", s);
	cr_assert(not(eq(ptr, strstr(s, "vm1: rates over time"), NULL)), "no panels:\n%s", s);
	free(s);
	snprintf(path, sizeof(path), "%s/top.exit", ts_dir());
	cr_assert(not(eq(int, access(path, F_OK), 0)), "top exited during the resize");
}

/* q: top leaves with status 0. */
Test(top, q_exits_zero, .fini = fini, .timeout = 60)
{
	char backend[TS_PATH_MAX], path[TS_PATH_MAX + 16], buf[64] = "";
	FILE *f = NULL;
	char *s;

	dashboard_or_skip(backend, sizeof(backend), NULL, 0);
	s = wait_row("vm1", "running", 15000);
	cr_assert(not(eq(ptr, s, NULL)), "no row 'vm1 ... running' within 15 s");
	free(s);
	free(ts_tmux("send-keys", "-t", "top", "h", NULL));    /* help... */
	usleep(300000);
	free(ts_tmux("send-keys", "-t", "top", "x", NULL));    /* ...closed by any key */
	free(ts_tmux("send-keys", "-t", "top", "q", NULL));
	snprintf(path, sizeof(path), "%s/top.exit", ts_dir());
	for (long end = ts_now_ms() + 10000; !f && ts_now_ms() < end; usleep(100000))
		f = fopen(path, "r");
	cr_assert(not(eq(ptr, f, NULL)), "top did not exit after q");
	cr_assert(not(eq(ptr, fgets(buf, sizeof(buf), f), NULL)));
	fclose(f);
	cr_assert(eq(str, buf, "EXIT=0\n"));
}

/* -b -n 3: three key=value lines for the instance, every field present,
 * time rising, rates measured; --csv: a header and three rows alike. */
Test(top, batch_lines_parse, .fini = fini, .timeout = 90)
{
	char backend[TS_PATH_MAX], bin[256], csv[TS_PATH_MAX + 16];
	const char *argv[] = { bin, "top", "-b", "-n", "3", "-d", "1.5", "--csv", csv,
			       "--run-dir", run_dir(), NULL };
	const char *keys[] = { "t", "name", "conn", "state", "backend", "queues", "tx_pps",
			       "rx_pps", "writes_ps", "dirty_pps", "mig_phase" };
	double last_t = -1;
	int lines = 0, rows = 0;
	char *save = NULL, *l, buf[1024];
	struct ts_run r;
	FILE *f;

	dt_testpmd_or_skip("tp-a", 1, backend, sizeof(backend));
	start_run(backend, "vm1");
	sleep(1);
	ts_bin("vhm", bin, sizeof(bin));
	snprintf(csv, sizeof(csv), "%s/top.csv", ts_dir());
	cr_assert(eq(int, ts_run_cmd(argv, 30000, &r), 0));
	cr_assert(eq(int, r.status, 0), "vhm top -b exited %d: %s", r.status, r.err);
	for (l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		json_t *kv = json_object();
		char *s2 = NULL, *tok;

		for (tok = strtok_r(l, " ", &s2); tok; tok = strtok_r(NULL, " ", &s2)) {
			char *eq = strchr(tok, '=');

			cr_assert(not(eq(ptr, eq, NULL)), "token without '=': %s", tok);
			*eq = '\0';
			json_object_set_new(kv, tok, json_string(eq + 1));
		}
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			cr_assert(not(eq(ptr, json_object_get(kv, keys[k]), NULL)), "no %s=", keys[k]);
		cr_assert(eq(str, (char *)json_string_value(json_object_get(kv, "name")), "vm1"));
		cr_assert(lt(dbl, last_t, atof(json_string_value(json_object_get(kv, "t")))));
		last_t = atof(json_string_value(json_object_get(kv, "t")));
		if (lines == 2) {   /* by then connected and measured (4.5 s in) */
			cr_assert(eq(str, (char *)json_string_value(json_object_get(kv, "state")),
				     "running"));
			cr_assert(lt(dbl, 4000.0, atof(json_string_value(json_object_get(kv, "writes_ps")))));
		}
		json_decref(kv);
		lines++;
	}
	ts_run_free(&r);
	cr_assert(eq(int, lines, 3), "%d lines for 1 instance and -n 3", lines);
	f = fopen(csv, "r");
	cr_assert(not(eq(ptr, f, NULL)));
	cr_assert(not(eq(ptr, fgets(buf, sizeof(buf), f), NULL)));
	buf[strcspn(buf, "\n")] = '\0';
	cr_assert(eq(str, buf, (char *)ui_line_csv_header()));
	while (fgets(buf, sizeof(buf), f)) {
		int commas = 0, want = 0;

		for (const char *p = ui_line_csv_header(); *p; p++)
			want += *p == ',';
		for (char *p = buf; *p; p++)
			commas += *p == ',';
		cr_assert(eq(int, commas, want), "row %s has %d fields, header %d", buf,
			  commas + 1, want + 1);
		cr_assert(eq(int, strncmp(strchr(buf, ',') + 1, "vm1,", 4), 0), "row: %s", buf);
		rows++;
	}
	fclose(f);
	cr_assert(eq(int, rows, 3));
}

/* ---- dirty tracking from the dashboard ----------------------------------------------- */

/* cmd on instance name's control socket (asserts it answers); its reply. */
static json_t *ctl_call(const char *name, const char *cmd)
{
	struct ctl_client *c = NULL;
	json_t *ret = NULL;
	char err[256];

	cr_assert(eq(int, ctl_client_open(&c, run_dir(), name, 5000, err, sizeof(err)), 0),
		  "connect %s: %s", name, err);
	cr_assert(eq(int, ctl_client_call(c, cmd, NULL, &ret, err, sizeof(err), 5000), 0),
		  "%s on %s: %s", cmd, name, err);
	ctl_client_close(c);
	return ret;
}

/* Does the device say a tracker runs (its `dirty` reply's "active")? */
static bool device_tracking(const char *name)
{
	json_t *r = ctl_call(name, "dirty");
	bool on = json_is_true(json_object_get(r, "active"));

	json_decref(r);
	return on;
}

/* Wait up to ms for the row of `name` to show `want` under column `col`;
 * the screen (caller frees) or NULL. */
static char *wait_cell(const char *name, const char *col, const char *want, int ms)
{
	long end = ts_now_ms() + ms;
	char v[64];

	do {
		char *s = capture();

		if (s && column_text(s, name, col, v, sizeof(v)) && !strcmp(v, want))
			return s;
		free(s);
		usleep(100000);
	} while (ts_now_ms() < end);
	return NULL;
}

/* key (q, C-c), and top's exit status 0 (read from the file the tmux
 * command writes). */
static void quit_top_with(const char *key)
{
	char path[TS_PATH_MAX + 16], buf[64] = "";
	FILE *f = NULL;

	free(ts_tmux("send-keys", "-t", "top", key, NULL));
	snprintf(path, sizeof(path), "%s/top.exit", ts_dir());
	for (long end = ts_now_ms() + 15000; !f && ts_now_ms() < end; usleep(100000))
		f = fopen(path, "r");
	cr_assert(not(eq(ptr, f, NULL)), "top did not exit after q");
	cr_assert(not(eq(ptr, fgets(buf, sizeof(buf), f), NULL)));
	fclose(f);
	cr_assert(eq(str, buf, "EXIT=0\n"));
}

static void quit_top(void)
{
	quit_top_with("q");
}

/* t on the selected instance: the device starts tracking, the row is marked
 * "top" and DIRTY/s fills; q stops the tracking top started. */
Test(top, track_key_starts_and_quit_stops, .fini = fini, .timeout = 120)
{
	char backend[TS_PATH_MAX], v[64];
	char *s;

	dashboard_or_skip(backend, sizeof(backend), NULL, 0);
	s = wait_row("vm1", "running", 15000);
	cr_assert(not(eq(ptr, s, NULL)), "no row 'vm1 ... running' within 15 s");
	cr_assert(column_text(s, "vm1", "TRK", v, sizeof(v)), "no TRK column:\n%s", s);
	cr_assert(eq(str, v, "-"), "tracked before anyone asked:\n%s", s);
	cr_assert(eq(ptr, strstr(s, "DIRTY/s"), NULL), "DIRTY/s without a tracker:\n%s", s);
	free(s);
	cr_assert(not(device_tracking("vm1")));
	free(ts_tmux("send-keys", "-t", "top", "t", NULL));
	s = wait_cell("vm1", "TRK", "top", 10000);
	cr_assert(not(eq(ptr, s, NULL)), "no 'top' mark within 10 s after t");
	free(s);
	cr_assert(device_tracking("vm1"), "top marks vm1 tracked, the device says no");
	/* DIRTY/s fills: the writer dirties 5000 pages/s (hotset) */
	s = NULL;
	for (long end = ts_now_ms() + 10000; ts_now_ms() < end; usleep(200000)) {
		free(s);
		s = capture();
		if (column(s, "vm1", "DIRTY/s") > 0)
			break;
	}
	cr_assert(lt(dbl, 0.0, column(s, "vm1", "DIRTY/s")), "DIRTY/s did not fill:\n%s", s);
	cr_assert(not(eq(ptr, strstr(s, "working set"), NULL)), "no working set panel:\n%s", s);
	free(s);
	quit_top();
	cr_assert(not(device_tracking("vm1")), "tracking top started survived its exit");
}

/* --track joins someone else's tracking; on exit top ends its own share
 * only: the other user's session goes on, and its track-stop is the last. */
Test(top, track_flag_leaves_others_tracking, .fini = fini, .timeout = 120)
{
	char backend[TS_PATH_MAX];
	json_t *r;
	char *s;

	if (!ts_have_tmux())
		cr_skip_test("tmux is not installed");
	dt_testpmd_or_skip("tp-a", 1, backend, sizeof(backend));
	start_run(backend, "vm1");
	r = ctl_call("vm1", "track-start");           /* the other user */
	cr_assert(eq(int, (int)json_integer_value(json_object_get(r, "users")), 1));
	json_decref(r);
	start_top_args("", "--track");
	s = wait_cell("vm1", "TRK", "top", 15000);
	cr_assert(not(eq(ptr, s, NULL)), "--track: no 'top' mark within 15 s");
	cr_assert(not(eq(ptr, strstr(s, "tracking 1 (1 by top)"), NULL)), "header:\n%s", s);
	free(s);
	quit_top();
	cr_assert(device_tracking("vm1"), "top stopped a tracking it did not start alone");
	r = ctl_call("vm1", "track-stop");
	cr_assert(eq(int, json_is_true(json_object_get(r, "active")), 0),
		  "top left a share behind: users %d",
		  (int)json_integer_value(json_object_get(r, "users")));
	json_decref(r);
}

/* SIGINT (C-c in the terminal) is a way out too: what --track started is
 * stopped on it as on q. */
Test(top, track_stopped_on_sigint, .fini = fini, .timeout = 120)
{
	char backend[TS_PATH_MAX];
	char *s;

	if (!ts_have_tmux())
		cr_skip_test("tmux is not installed");
	dt_testpmd_or_skip("tp-a", 1, backend, sizeof(backend));
	start_run(backend, "vm1");
	start_top_args("", "--track");
	s = wait_cell("vm1", "TRK", "top", 15000);
	cr_assert(not(eq(ptr, s, NULL)), "--track: no 'top' mark within 15 s");
	free(s);
	cr_assert(device_tracking("vm1"));
	quit_top_with("C-c");
	cr_assert(not(device_tracking("vm1")), "tracking top started survived its SIGINT");
}

/* The first row of the screen (0-based) holding `text`, or -1. */
static int row_of(const char *screen, const char *text)
{
	int row = 0;

	for (const char *l = screen; l && *l; row++) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);

		if (memmem(l, n, text, strlen(text)))
			return row;
		l = nl ? nl + 1 : NULL;
	}
	return -1;
}

/* Rows between the working-set title and the next panel's title. */
static int wss_height(const char *s)
{
	int a = row_of(s, "working set:"), b = row_of(s, "heat map of");

	return a >= 0 && b > a ? b - a : -1;
}

/* With tracking on, a taller terminal gives the working-set panel its rows
 * (a chart of the curve under the table). */
Test(top, panels_grow_with_terminal, .fini = fini, .timeout = 120)
{
	char backend[TS_PATH_MAX];
	int h40 = -1, h60 = -1;
	char *s = NULL;

	if (!ts_have_tmux())
		cr_skip_test("tmux is not installed");
	dt_testpmd_or_skip("tp-a", 1, backend, sizeof(backend));
	start_run(backend, "vm1");
	start_top_args("", "--track");
	for (long end = ts_now_ms() + 15000; h40 < 0 && ts_now_ms() < end; usleep(200000)) {
		free(s);
		s = capture();
		h40 = wss_height(s);
	}
	cr_assert(lt(int, 0, h40), "no working set and heat map panels at 120x40:\n%s", s);
	free(s);
	free(ts_tmux("resize-window", "-t", "top", "-x", "120", "-y", "60", NULL));
	s = NULL;
	for (long end = ts_now_ms() + 5000; h60 <= h40 && ts_now_ms() < end; usleep(200000)) {
		free(s);
		s = capture();
		h60 = wss_height(s);
	}
	cr_assert(eq(int, h60, h40 + 20), "working set %d rows at 40 lines, %d at 60:\n%s", h40,
		  h60, s);
	free(s);
	quit_top();
}

/* ---- the model, without peers ------------------------------------------------------- */

static json_t *ev(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	cr_assert(not(eq(ptr, j, NULL)), "bad test JSON: %s", e.text);
	return j;
}

/* Panels of logtrack figures exist only once a "dirty" event came; the
 * figures are the event's (track.c's layout). */
Test(top_model, dirty_event_fills_optional_panels)
{
	struct ui_inst *i = calloc(1, sizeof(*i));
	json_t *st = ev("{\"name\":\"vm1\",\"state\":\"running\",\"mem_bytes\":268435456,"
			"\"queues\":2,\"backend\":\"/b.sock\"}");
	json_t *stats = ev("{\"event\":\"stats\",\"data\":{\"state\":\"running\","
			   "\"tx_pps\":100.0,\"rx_pps\":99.0,\"dirty_writes_per_s\":5000.0}}");
	json_t *d = ev("{\"event\":\"dirty\",\"data\":{\"rates\":{"
		       "\"backend-log\":{\"pages_per_s\":900.0},\"guest-writer\":{\"pages_per_s\":"
		       "4000.0},\"used-ring\":{\"pages_per_s\":100.0},\"total\":{\"pages_per_s\":"
		       "5000.0}},\"wss\":[{\"window_ms\":50,\"pages\":10},{\"window_ms\":100,"
		       "\"pages\":20}],\"heat\":[{\"gpa\":2097152,\"count\":7}],\"verify\":{"
		       "\"enabled\":true,\"pages_hashed\":64,\"findings\":1,\"new\":[{\"gpa\":"
		       "4096,\"region\":\"ram\",\"t_s\":1.5}]}}}");
	bool lt;

	ui_inst_apply_status(i, st);
	ui_inst_apply_event(i, stats);
	cr_assert(eq(int, i->queues, 2));
	cr_assert(eq(dbl, ui_inst_dirty_rate(i, &lt), 5000.0));
	cr_assert(not(lt), "no dirty event yet: the writer's rate");
	cr_assert(not(i->dirty.have || i->dirty.nwss || i->dirty.nheat || i->dirty.have_verify));
	cr_assert(not(i->bpf.have || i->job.have), "no bpf / job data: no panel");

	ui_inst_apply_event(i, d);
	cr_assert(i->dirty.have);
	cr_assert(eq(dbl, i->dirty.rate[UI_SRC_GUEST], 4000.0));
	cr_assert(eq(dbl, i->dirty.rate[UI_SRC_BACKEND], 900.0));
	cr_assert(eq(dbl, i->dirty.rate[UI_SRC_USED], 100.0));
	cr_assert(eq(dbl, ui_inst_dirty_rate(i, &lt), 5000.0));
	cr_assert(lt);
	cr_assert(eq(int, i->dirty.nwss, 2));
	cr_assert(eq(dbl, i->dirty.wss_pages[1], 20.0));
	cr_assert(eq(int, i->dirty.nheat, 128), "256 MiB in 2 MiB cells");
	cr_assert(eq(dbl, i->dirty.heat[1], 7.0));
	cr_assert(eq(u64, i->dirty.hot_gpa, 2097152));
	cr_assert(i->dirty.have_verify);
	cr_assert(eq(int, i->dirty.nfindings, 1));
	cr_assert(not(eq(ptr, strstr(i->dirty.findings[0], "0x1000"), NULL)), "%s",
		  i->dirty.findings[0]);
	json_decref(st);
	json_decref(stats);
	json_decref(d);
	free(i);
}

/* "migration" events: phases in order, passes, downtime, the report, and
 * the row's backend follows the destination. */
Test(top_model, migration_events)
{
	static const char *const evs[] = {
		"{\"event\":\"migration\",\"timestamp\":{\"seconds\":100,\"microseconds\":0},"
		"\"data\":{\"phase\":\"setup\",\"from\":\"/a\",\"to\":\"/b\"}}",
		"{\"event\":\"migration\",\"timestamp\":{\"seconds\":100,\"microseconds\":1000},"
		"\"data\":{\"phase\":\"log-start\"}}",
		"{\"event\":\"migration\",\"timestamp\":{\"seconds\":100,\"microseconds\":50000},"
		"\"data\":{\"phase\":\"pre-copy\",\"iteration\":0,\"copied\":1000,\"ms\":4.096}}",
		"{\"event\":\"migration\",\"timestamp\":{\"seconds\":100,\"microseconds\":60000},"
		"\"data\":{\"phase\":\"pre-copy\",\"iteration\":1,\"dirtied\":50,\"copied\":50,"
		"\"ms\":0.2}}",
		"{\"event\":\"migration\",\"timestamp\":{\"seconds\":100,\"microseconds\":70000},"
		"\"data\":{\"phase\":\"switchover\",\"downtime_ms\":3.5}}",
		"{\"event\":\"migration\",\"timestamp\":{\"seconds\":100,\"microseconds\":71000},"
		"\"data\":{\"phase\":\"done\",\"result\":\"ok\",\"converged\":true,\"total_ms\":71.0,"
		"\"downtime\":{\"ms\":3.5,\"control_ms\":1.0,\"copy_ms\":2.0},\"iterations\":[{},{}],"
		"\"bytes_copied\":4300800,\"rarp\":true}}",
	};
	struct ui_inst *i = calloc(1, sizeof(*i));

	snprintf(i->backend, sizeof(i->backend), "/a");
	for (size_t k = 0; k < sizeof(evs) / sizeof(evs[0]); k++) {
		json_t *j = ev(evs[k]);

		ui_inst_apply_event(i, j);
		json_decref(j);
		if (k == 0)
			cr_assert(eq(str, i->state, "migrating"));
	}
	cr_assert(eq(int, i->mig.nsteps, 5), "pre-copy passes are one step");
	cr_assert(eq(str, i->mig.steps[0].phase, "setup"));
	cr_assert(eq(str, i->mig.steps[2].phase, "pre-copy"));
	cr_assert(eq(str, i->mig.steps[4].phase, "done"));
	cr_assert(lt(dbl, fabs(i->mig.steps[4].at_ms - 71.0), 0.01), "done at %f ms",
		  i->mig.steps[4].at_ms);
	cr_assert(eq(int, i->mig.npass, 2));
	cr_assert(eq(int, i->mig.iteration, 1));
	/* 1000 pages of 4 KiB in 4.096 ms = 953.7 MiB/s; then 50 in 0.2 ms */
	cr_assert(eq(dbl, i->mig.pass[0].ms, 4.096));
	cr_assert(eq(dbl, i->mig.actual_downtime_ms, 3.5));
	cr_assert(i->mig.have_report && i->mig.ok && i->mig.rarp);
	cr_assert(eq(int, i->mig.report_passes, 2));
	cr_assert(not(i->mig.active));
	cr_assert(eq(str, i->backend, "/b"));
	cr_assert(eq(str, i->state, "running"));
	free(i);
}

/* A stream destination: each event's progress.stream updates the figures
 * ("migration-progress" ticks too, while it runs), the report's are the last
 * word; a local migration has none. */
Test(top_model, migration_stream_figures)
{
	struct ui_inst *i = calloc(1, sizeof(*i));
	json_t *setup = ev("{\"event\":\"migration\",\"data\":{\"phase\":\"setup\","
			   "\"to\":\"tcp:10.0.0.2:4444\"}}");
	json_t *pass = ev("{\"event\":\"migration\",\"data\":{\"phase\":\"pre-copy\","
			  "\"iteration\":0,\"copied\":10,\"ms\":1.0,\"progress\":{\"pass\":1,"
			  "\"stream\":{\"bytes\":3145728,\"rate_mib_s\":12.5,\"connections\":1}}}}");
	json_t *done = ev("{\"event\":\"migration\",\"data\":{\"phase\":\"done\","
			  "\"result\":\"ok\",\"progress\":{\"pass\":2},\"stream\":{\"bytes\":"
			  "4194304,\"rate_mib_s\":8.25,\"connections\":1}}}");
	json_t *local = ev("{\"event\":\"migration\",\"data\":{\"phase\":\"pre-copy\","
			   "\"progress\":{\"pass\":1}}}");
	json_t *tick = ev("{\"event\":\"migration-progress\",\"data\":{\"progress\":{"
			  "\"pass\":0,\"stream\":{\"bytes\":1048576,\"rate_mib_s\":20.0,"
			  "\"connections\":1}}}}");

	ui_inst_apply_event(i, setup);
	cr_assert(not(i->mig.have_stream), "no stream figures before any came");
	ui_inst_apply_event(i, tick);
	cr_assert(i->mig.have_stream, "a tick within the first pass");
	cr_assert(eq(u64, i->mig.stream_bytes, 1048576));
	ui_inst_apply_event(i, pass);
	cr_assert(eq(u64, i->mig.stream_bytes, 3145728));
	cr_assert(eq(dbl, i->mig.stream_mib_s, 12.5));
	cr_assert(eq(int, i->mig.stream_conns, 1));
	ui_inst_apply_event(i, done);
	cr_assert(eq(u64, i->mig.stream_bytes, 4194304), "the report's bytes");
	cr_assert(eq(dbl, i->mig.stream_mib_s, 8.25));
	cr_assert(not(i->mig.active));
	ui_inst_apply_event(i, tick);    /* late, after the report: ignored */
	cr_assert(eq(u64, i->mig.stream_bytes, 4194304), "a tick after done changed the report");
	ui_inst_apply_event(i, setup);   /* a new migration starts blank */
	ui_inst_apply_event(i, local);
	cr_assert(not(i->mig.have_stream), "a local migration has no stream");
	json_decref(setup);
	json_decref(pass);
	json_decref(done);
	json_decref(local);
	json_decref(tick);
	free(i);
}

/* A destination: `status` while it waits, then "incoming" events with the
 * bytes received; a failure's reason is kept; bad numbers are ignored. */
Test(top_model, incoming_destination)
{
	struct ui_inst *i = calloc(1, sizeof(*i));
	json_t *st = ev("{\"name\":\"dst\",\"state\":\"incoming\",\"incoming\":{\"listen\":"
			"\"127.0.0.1:4444\",\"phase\":\"waiting\",\"bytes\":0,\"passes\":0}}");
	json_t *rx = ev("{\"event\":\"incoming\",\"data\":{\"listen\":\"127.0.0.1:4444\","
			"\"phase\":\"receiving\",\"source\":\"127.0.0.1:5555\",\"bytes\":1048576,"
			"\"passes\":2,\"data_pages\":200,\"zero_pages\":60000,\"elapsed_ms\":1500.0}}");
	json_t *bad = ev("{\"event\":\"incoming\",\"data\":{\"phase\":\"failed\",\"bytes\":-5,"
			 "\"error\":\"digests differ\"}}");

	cr_assert(not(i->in.have), "not a destination: no panel");
	ui_inst_apply_status(i, st);
	cr_assert(i->in.have);
	cr_assert(eq(str, i->state, "incoming"));
	cr_assert(eq(str, i->in.phase, "waiting"));
	cr_assert(eq(str, i->in.listen, "127.0.0.1:4444"));
	ui_inst_apply_event(i, rx);
	cr_assert(eq(str, i->in.phase, "receiving"));
	cr_assert(eq(str, i->in.source, "127.0.0.1:5555"));
	cr_assert(eq(u64, i->in.bytes, 1048576));
	cr_assert(eq(u64, i->in.passes, 2));
	cr_assert(eq(u64, i->in.zero_pages, 60000));
	cr_assert(eq(dbl, i->in.elapsed_ms, 1500.0));
	ui_inst_apply_event(i, bad);
	cr_assert(eq(str, i->in.phase, "failed"));
	cr_assert(eq(str, i->in.error, "digests differ"));
	cr_assert(eq(u64, i->in.bytes, 1048576), "a negative count is ignored");
	json_decref(st);
	json_decref(rx);
	json_decref(bad);
	free(i);
}

/* A stats event carrying "bpf" (vhm run --trace-backend) fills the bpf panel. */
Test(top_model, bpf_in_stats)
{
	struct ui_inst *i = calloc(1, sizeof(*i));
	json_t *j = ev("{\"event\":\"stats\",\"data\":{\"tx_pps\":1.0,\"bpf\":{\"pid\":42,"
		       "\"probes\":{\"ctl\":\"tp\"},\"kick\":{\"writes\":7,\"writes_per_s\":2.5}}}}");

	ui_inst_apply_event(i, j);
	cr_assert(i->bpf.have);
	cr_assert(eq(int, i->bpf.n, 3), "pid, kick.writes, kick.writes_per_s");
	cr_assert(eq(str, i->bpf.key[2], "kick.writes_per_s"));
	json_decref(j);
	free(i);
}

/* The libvirt watcher's "dirty-rate" event: libvirt's figure, and each
 * backend's eBPF figure or the reason it has none. */
Test(top_model, libvirt_dirty_rate_event)
{
	struct ui_inst *i = calloc(1, sizeof(*i));
	json_t *j = ev("{\"event\":\"dirty-rate\",\"data\":{\"domain\":\"vm1\","
		       "\"status\":\"measured\",\"mode\":\"page-sampling\",\"period_s\":2,"
		       "\"dirty_mib_s\":12,\"unit\":\"MiB/s\",\"backend\":[{\"path\":\"/a\","
		       "\"pid\":42,\"log_calls_per_s\":250.5,\"source\":\"uprobe calls to X\"},"
		       "{\"path\":\"/b\",\"pid\":43,\"why\":\"stripped\"}]}}");
	json_t *bad = ev("{\"event\":\"dirty-rate\",\"data\":{\"domain\":\"vm2\","
			 "\"error\":\"domain vm2: not found\"}}");

	cr_assert(not(i->lvdirty.have), "no dirty-rate event yet: no panel");
	ui_inst_apply_event(i, j);
	cr_assert(i->lvdirty.have);
	cr_assert(eq(str, i->lvdirty.domain, "vm1"));
	cr_assert(eq(dbl, i->lvdirty.mib_s, 12.0));
	cr_assert(eq(int, i->lvdirty.period_s, 2));
	cr_assert(eq(int, i->lvdirty.nbackend, 2));
	cr_assert(i->lvdirty.be[0].have_rate);
	cr_assert(eq(dbl, i->lvdirty.be[0].calls_per_s, 250.5));
	cr_assert(eq(str, i->lvdirty.be[0].source, "uprobe calls to X"));
	cr_assert(not(i->lvdirty.be[1].have_rate), "a reason is not a zero");
	cr_assert(eq(long, i->lvdirty.be[1].pid, 43));
	cr_assert(eq(str, i->lvdirty.be[1].why, "stripped"));
	ui_inst_apply_event(i, bad);
	cr_assert(eq(str, i->lvdirty.error, "domain vm2: not found"));
	cr_assert(eq(int, i->lvdirty.nbackend, 0), "a failed measurement replaces the last");
	json_decref(j);
	json_decref(bad);
	free(i);
}

/* A kv panel's number never takes more than its column (a real with 12
 * significant digits took 13 and ran into the next cell). */
Test(top_model, kv_values_fit_their_column)
{
	static const double vals[] = { 41.666666666666664, 1e300, -1.2345678901234e-200,
				       134217728, 0, 99999999999.5 };
	char out[64];

	for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
		ui_kv_value(out, sizeof(out), vals[k]);
		cr_assert(le(sz, strlen(out), UI_KV_VALW), "%g as '%s'", vals[k], out);
		cr_assert(lt(dbl, fabs(strtod(out, NULL) - vals[k]), fabs(vals[k]) * 1e-3 + 1e-300),
			  "%g as '%s'", vals[k], out);
	}
	ui_kv_value(out, sizeof(out), 134217728);
	cr_assert(eq(str, out, "134217728"), "integers stay whole");
}

/* Batch lines: every field, "-" for unknowns, quoting of odd values. */
Test(top_model, batch_line_format)
{
	struct ui_inst *i = calloc(1, sizeof(*i));
	char line[1024];

	snprintf(i->name, sizeof(i->name), "vm1");
	snprintf(i->state, sizeof(i->state), "running");
	snprintf(i->backend, sizeof(i->backend), "/tmp/a b.sock");
	i->conn = UI_CONN_LIVE;
	i->have_stats = true;
	i->writes_ps = 5000.4;
	ui_line_kv(i, 1.5, line, sizeof(line));
	cr_assert(eq(int, strncmp(line, "t=1.500 name=vm1 conn=live state=running "
				  "backend=\"/tmp/a b.sock\" queues=- ", 66), 0), "%s", line);
	cr_assert(not(eq(ptr, strstr(line, " writes_ps=5000 dirty_pps=- "), NULL)), "%s", line);
	ui_line_csv(i, 1.5, line, sizeof(line));
	cr_assert(eq(int, strncmp(line, "1.500,vm1,live,running,/tmp/a b.sock,,", 38), 0), "%s",
		  line);
	free(i);
}

/* Sorting and filtering of the list. */
Test(top_model, view_order)
{
	struct ui_inst a = { .name = "b", .tx_pps = 10 }, b = { .name = "a", .tx_pps = 5 },
		       c = { .name = "c", .tx_pps = 20 };
	const struct ui_inst *all[] = { &a, &b, &c };
	struct ui_view v = { .sort = UI_SORT_NAME };
	int idx[3], n;

	n = ui_view_order(&v, all, 3, idx, 3);
	cr_assert(eq(int, n, 3));
	cr_assert(eq(str, (char *)all[idx[0]]->name, "a"));
	v.sort = UI_SORT_TX;
	n = ui_view_order(&v, all, 3, idx, 3);
	cr_assert(eq(str, (char *)all[idx[0]]->name, "c"), "biggest rate first");
	v.reverse = true;
	n = ui_view_order(&v, all, 3, idx, 3);
	cr_assert(eq(str, (char *)all[idx[0]]->name, "a"));
	snprintf(v.filter, sizeof(v.filter), "b");
	n = ui_view_order(&v, all, 3, idx, 3);
	cr_assert(eq(int, n, 1));
	cr_assert(eq(str, (char *)all[idx[0]]->name, "b"));
}
