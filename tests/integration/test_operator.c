/* SPDX-License-Identifier: MIT */
/* What an operator types, on a device running between two test backends:
 * `vhm migrate`'s three outputs (a progress line rewritten in place on a
 * terminal, readable phase lines elsewhere, every event as JSON with
 * --json), and the clients of what the sockets offer: `vhm jobinfo`,
 * `vhm events`, `vhm set`, `vhm call`, `vhm predict` and `vhm dirty-rate`
 * (through `vhm libvirt-watch` on libvirt's test driver). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devtest.h"
#include "support.h"
#include "util.h"

/* `vhm migrate NAME --to DST [extra]` (ts_dir as the run dir). */
static void migrate_cmd(const char *name, const char *dst, const char *extra, struct ts_run *r)
{
	const char *args[] = { "migrate", name, "--to", dst, "--run-dir", ts_dir(), extra, NULL };

	dt_vhm(args, r);
}

/* The lines of s (modified in place) into lines[]; how many. */
static int split_lines(char *s, char **lines, int max)
{
	int n = 0;

	for (char *save = NULL, *l = strtok_r(s, "\n", &save); l && n < max;
	     l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	return n;
}

/* The line of out starting with `head`, or NULL. */
static const char *line_starting(const char *out, const char *head)
{
	size_t n = strlen(head);

	for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, head, n))
			return p;
	return NULL;
}

Test(operator, migrate_off_a_terminal_prints_readable_phase_lines, .fini = dt_fini,
     .timeout = 120)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX];
	static const char *const phases[] = { "setup ", "log-start ", "pre-copy ", "switchover ",
					      "announce ", "verify ", "done ", "result ", "copied " };
	const char *pc;
	struct ts_run r;

	dt_run_on_testbe("m1", "256M", a, b, sizeof(a));
	migrate_cmd("m1", b, NULL, &r);
	cr_assert(eq(int, r.status, 0), "vhm migrate: exit %d: %s", r.status, r.err);
	cr_assert(eq(ptr, strchr(r.out, '{'), NULL), "raw JSON in the output: %s", r.out);
	cr_assert(eq(ptr, strchr(r.out, '\r'), NULL), "a rewritten line off a terminal: %s", r.out);
	for (size_t i = 0; i < VHM_ARRAY_SIZE(phases); i++)
		cr_assert(not(eq(ptr, (void *)line_starting(r.out, phases[i]), NULL)),
			  "no line starting '%s': %s", phases[i], r.out);
	pc = line_starting(r.out, "pre-copy ");
	cr_assert(not(eq(ptr, strstr(pc, "pass 1, "), NULL)), "%s", pc);
	cr_assert(not(eq(ptr, strstr(pc, "% of 256.0 MiB (sent "), NULL)), "%s", pc);
	cr_assert(not(eq(ptr, strstr(pc, " remaining), "), NULL)), "%s", pc);
	cr_assert(not(eq(ptr, strstr(pc, "/s, expected downtime "), NULL)), "%s", pc);
	cr_assert(not(eq(ptr, strstr(line_starting(r.out, "copied "), "iB/s; "), NULL)),
		  "the report's rate is not in IEC units: %s", r.out);
	cr_assert(eq(ptr, strstr(r.out, "MB/s"), NULL), "decimal MB/s in: %s", r.out);
	ts_run_free(&r);
}

Test(operator, migrate_json_streams_every_event_then_the_report, .fini = dt_fini,
     .timeout = 120)
{
	static const char *const order[] = { "setup", "log-start", "pre-copy", "switchover",
					     "announce", "verify", "done" };
	char a[TS_PATH_MAX], b[TS_PATH_MAX], *lines[256];
	size_t next = 0;
	struct ts_run r;
	json_t *last;
	int n;

	dt_run_on_testbe("m2", "256M", a, b, sizeof(a));
	migrate_cmd("m2", b, "--json", &r);
	cr_assert(eq(int, r.status, 0), "vhm migrate --json: exit %d: %s", r.status, r.err);
	n = split_lines(r.out, lines, 256);
	cr_assert(lt(int, (int)VHM_ARRAY_SIZE(order), n), "only %d lines", n);
	for (int i = 0; i < n - 1; i++) {
		json_t *ev = json_loads(lines[i], 0, NULL), *d = json_object_get(ev, "data");
		const char *phase = json_string_value(json_object_get(d, "phase"));

		cr_assert(not(eq(ptr, ev, NULL)), "line %d is not JSON: %s", i, lines[i]);
		cr_assert(eq(str, (char *)json_string_value(json_object_get(ev, "event")),
			     "migration"));
		cr_assert(eq(int, json_is_object(json_object_get(d, "progress")), 1),
			  "event %s without progress", phase);
		if (next < VHM_ARRAY_SIZE(order) && phase && !strcmp(phase, order[next]))
			next++;
		else
			cr_assert(eq(str, (char *)phase, "pre-copy"), "phase %s out of order", phase);
		json_decref(ev);
	}
	cr_assert(eq(sz, next, VHM_ARRAY_SIZE(order)), "phases seen in order: %zu", next);
	last = json_loads(lines[n - 1], 0, NULL);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(last, "result")), "ok"),
		  "the last line is not the report: %s", lines[n - 1]);
	cr_assert(eq(int, json_is_number(json_object_get(last, "bandwidth_mib_s")), 1));
	json_decref(last);
	ts_run_free(&r);
}

/* On a terminal (script(1) gives it a pty): the line is rewritten with
 * \r and cleared to its end, and ended with a newline before the report. */
Test(operator, migrate_on_a_terminal_rewrites_one_progress_line, .fini = dt_fini,
     .timeout = 120)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], bin[256], cmd[1024];
	const char *argv[] = { "script", "-qfec", cmd, "/dev/null", NULL };
	const char *pc, *done, *res;
	struct ts_run r;

	if (access("/usr/bin/script", X_OK))
		cr_skip_test("script(1) not installed (bsdutils): no pty to test with");
	dt_run_on_testbe("m3", "256M", a, b, sizeof(a));
	ts_bin("vhm", bin, sizeof(bin));
	snprintf(cmd, sizeof(cmd), "%s migrate m3 --to %s --run-dir %s", bin, b, ts_dir());
	cr_assert(eq(int, ts_run_cmd(argv, 30000, &r), 0));
	cr_assert(eq(int, r.status, 0), "exit %d: %s%s", r.status, r.out, r.err);
	pc = strstr(r.out, "\r\033[Kpre-copy    pass 1, ");
	done = strstr(r.out, "\r\033[Kdone ");
	res = strstr(r.out, "result         ok");
	cr_assert(not(eq(ptr, (void *)pc, NULL)), "no rewritten pre-copy line: %s", r.out);
	cr_assert(not(eq(ptr, (void *)done, NULL)), "no rewritten done line: %s", r.out);
	cr_assert(not(eq(ptr, (void *)res, NULL)), "no report: %s", r.out);
	cr_assert(lt(ptr, (void *)pc, (void *)done));
	cr_assert(lt(ptr, (void *)done, (void *)res));
	/* the progress line ends before the report starts: a newline after done */
	cr_assert(not(eq(ptr, memchr(done, '\n', (size_t)(res - done)), NULL)));
	cr_assert(eq(ptr, memchr(pc, '\n', (size_t)(done - pc)), NULL),
		  "the progress went to new lines instead of one: %s", r.out);
	ts_run_free(&r);
}

Test(operator, jobinfo_shows_none_then_the_last_migration, .fini = dt_fini, .timeout = 120)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX];
	const char *args[] = { "jobinfo", "j1", "--run-dir", ts_dir(), NULL };
	const char *json[] = { "jobinfo", "j1", "--run-dir", ts_dir(), "--json", NULL };
	struct ts_run r;
	json_t *mi;

	dt_run_on_testbe("j1", "256M", a, b, sizeof(a));
	dt_vhm(args, &r);
	cr_assert(eq(int, r.status, 0), "jobinfo: %s", r.err);
	cr_assert(eq(str, r.out, "Job type:          None\n"));
	ts_run_free(&r);
	migrate_cmd("j1", b, NULL, &r);
	cr_assert(eq(int, r.status, 0), "migrate: %s", r.err);
	ts_run_free(&r);
	dt_vhm(args, &r);
	cr_assert(eq(int, r.status, 0), "jobinfo: %s", r.err);
	cr_assert(not(eq(ptr, (void *)line_starting(r.out, "Job type:          Completed\n"),
			 NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, (void *)line_starting(r.out, "Data total:        256.0 MiB\n"),
			 NULL)), "%s", r.out);
	cr_assert(not(eq(ptr, (void *)line_starting(r.out, "Data remaining:    0 B\n"), NULL)),
		  "%s", r.out);
	cr_assert(not(eq(ptr, (void *)line_starting(r.out, "Result:            ok\n"), NULL)),
		  "%s", r.out);
	cr_assert(not(eq(ptr, (void *)line_starting(r.out, "Downtime:          "), NULL)),
		  "%s", r.out);
	ts_run_free(&r);
	dt_vhm(json, &r);
	mi = json_loads(r.out, 0, NULL);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(mi, "status")), "completed"),
		  "jobinfo --json: %s", r.out);
	json_decref(mi);
	ts_run_free(&r);
}

/* The whole of file `path` (malloc'd; "" when missing). */
static char *slurp(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "r");

	if (!f || getdelim(&text, &len, '\0', f) < 0) {
		free(text);
		text = strdup("");
	}
	if (f)
		fclose(f);
	return text;
}

/* Wait up to 20 s for `what` in file `path`. */
static void wait_in_file(const char *path, const char *what)
{
	long end = ts_now_ms() + 20000;
	bool found = false;

	while (!found && ts_now_ms() < end) {
		char *t = slurp(path);

		found = strstr(t, what) != NULL;
		free(t);
		if (!found)
			usleep(50000);
	}
	cr_assert(found, "no %s in %s", what, path);
}

/* `vhm events --json` with a filter sees the migration's events and the
 * state changes, nothing else, and Ctrl-C ends it with exit 0. Its first
 * stats event shows it has subscribed before the migration starts. */
Test(operator, events_follow_a_migration_as_json_lines, .fini = dt_fini, .timeout = 120)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], bin[256], log[TS_PATH_MAX + 16], *text, *lines[512];
	const char *ev[] = { bin, "events", "e1", "--run-dir", ts_dir(), "--json", "--event",
			     "migration", "--event", "state", "--event", "stats", NULL };
	bool done = false, state = false;
	struct ts_run r;
	pid_t pid;
	int st, n;

	dt_run_on_testbe("e1", "256M", a, b, sizeof(a));
	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/events.out", ts_dir());
	pid = ts_spawn(ev, log);
	cr_assert(lt(int, 0, pid));
	wait_in_file(log, "\"event\":\"stats\"");
	migrate_cmd("e1", b, NULL, &r);
	cr_assert(eq(int, r.status, 0), "migrate: %s", r.err);
	ts_run_free(&r);
	wait_in_file(log, "\"phase\":\"done\"");
	kill(pid, SIGINT);
	while (!ts_exited(pid, &st))
		usleep(50000);
	cr_assert(eq(int, WIFEXITED(st), 1), "vhm events killed by signal %d", WTERMSIG(st));
	cr_assert(eq(int, WEXITSTATUS(st), 0), "vhm events exited %d", WEXITSTATUS(st));
	text = slurp(log);
	n = split_lines(text, lines, 512);
	for (int i = 0; i < n; i++) {
		json_t *e = json_loads(lines[i], 0, NULL);
		const char *name = json_string_value(json_object_get(e, "event"));
		const char *phase = json_string_value(json_object_get(json_object_get(e, "data"),
								      "phase"));

		cr_assert(not(eq(ptr, e, NULL)), "not a JSON line: %s", lines[i]);
		cr_assert(eq(int, !strcmp(name, "migration") || !strcmp(name, "state") ||
			      !strcmp(name, "stats"), 1), "event %s was not asked for", name);
		done |= !strcmp(name, "migration") && phase && !strcmp(phase, "done");
		state |= !strcmp(name, "state");
		json_decref(e);
	}
	free(text);
	cr_assert(done, "no migration done event among %d lines", n);
	cr_assert(state, "no state event among %d lines", n);
}

Test(operator, set_changes_traffic_and_dirtying, .fini = dt_fini, .timeout = 60)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX];
	const char *set[] = { "set", "s1", "--run-dir", ts_dir(), "--traffic", "1000:128",
			      "--dirty", "300:hotset", NULL };
	const char *st[] = { "status", "s1", "--run-dir", ts_dir(), "--json", NULL };
	const char *none[] = { "set", "s1", "--run-dir", ts_dir(), NULL };
	const char *bad[] = { "set", "s1", "--traffic", "1000:9999", NULL };
	struct ts_run r;
	json_t *s;

	dt_run_on_testbe("s1", "256M", a, b, sizeof(a));
	dt_vhm(set, &r);
	cr_assert(eq(int, r.status, 0), "set: %s", r.err);
	cr_assert(eq(str, r.out, "traffic: 1000 frames/s of 128 bytes\n"
		     "dirty: 300 page writes/s, hotset\n"));
	ts_run_free(&r);
	dt_vhm(st, &r);
	s = json_loads(r.out, 0, NULL);
	cr_assert(eq(i64, json_integer_value(json_object_get(json_object_get(s, "traffic"),
							    "pps")), 1000));
	cr_assert(eq(i64, json_integer_value(json_object_get(json_object_get(s, "traffic"),
							    "frame_size")), 128));
	cr_assert(eq(i64, json_integer_value(json_object_get(json_object_get(s, "dirty"),
							    "rate")), 300));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(json_object_get(s, "dirty"),
								     "pattern")), "hotset"));
	json_decref(s);
	ts_run_free(&r);
	dt_vhm_refuses(none, VHM_EXIT_USAGE, "nothing to set");
	dt_vhm_refuses(bad, VHM_EXIT_USAGE, "--traffic '1000:9999'");
}

Test(operator, call_runs_one_command_and_names_refusals, .fini = dt_fini, .timeout = 60)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX];
	const char *qs[] = { "call", "c1", "query-status", "--run-dir", ts_dir(), NULL };
	const char *args[] = { "call", "c1", "set-dirty", "{\"rate\": 7}", "--run-dir", ts_dir(),
			       NULL };
	const char *nf[] = { "call", "c1", "bogus", "--run-dir", ts_dir(), NULL };
	const char *badkey[] = { "call", "c1", "set-dirty", "{\"rat\": 7}", "--run-dir", ts_dir(),
				 NULL };
	const char *notobj[] = { "call", "c1", "status", "[1]", "--run-dir", ts_dir(), NULL };
	const char *notjson[] = { "call", "c1", "status", "{", "--run-dir", ts_dir(), NULL };
	const char *nocmd[] = { "call", "c1", "--run-dir", ts_dir(), NULL };
	struct ts_run r;

	dt_run_on_testbe("c1", "256M", a, b, sizeof(a));
	dt_vhm(qs, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, "{\"running\":true,\"status\":\"running\"}\n"));
	ts_run_free(&r);
	dt_vhm(args, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.out, "\"rate\":7"), NULL)), "%s", r.out);
	ts_run_free(&r);
	dt_vhm_refuses(nf, VHM_EXIT_FAIL, "CommandNotFound");
	dt_vhm_refuses(badkey, VHM_EXIT_FAIL, "InvalidInput");
	dt_vhm_refuses(notobj, VHM_EXIT_USAGE, "expected a JSON object");
	dt_vhm_refuses(notjson, VHM_EXIT_USAGE, "not JSON");
	dt_vhm_refuses(nocmd, VHM_EXIT_USAGE, "expected 1 more argument");
}

Test(operator, predict_needs_tracking_then_forecasts, .fini = dt_fini, .timeout = 60)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX];
	const char *pr[] = { "predict", "p1", "--bandwidth", "100M", "--run-dir", ts_dir(),
			     "--json", NULL };
	const char *trk[] = { "call", "p1", "track-start", "--run-dir", ts_dir(), NULL };
	const char *nobw[] = { "predict", "p1", NULL };
	struct ts_run r;
	json_t *p;

	dt_run_on_testbe("p1", "256M", a, b, sizeof(a));
	dt_vhm_refuses(pr, VHM_EXIT_FAIL, "not tracking");
	dt_vhm_refuses(nobw, VHM_EXIT_USAGE, "--bandwidth RATE is required");
	dt_vhm(trk, &r);
	cr_assert(eq(int, r.status, 0), "track-start: %s", r.err);
	ts_run_free(&r);
	sleep(2);
	dt_vhm(pr, &r);
	cr_assert(eq(int, r.status, 0), "predict: %s", r.err);
	p = json_loads(r.out, 0, NULL);
	cr_assert(eq(int, json_is_boolean(json_object_get(p, "converges")), 1), "%s", r.out);
	/* --bandwidth 100M is 100 MiB/s: the forecast's input says so */
	cr_assert(eq(dbl, json_number_value(json_object_get(json_object_get(p, "inputs"),
							    "bandwidth")), 104857600.0));
	json_decref(p);
	ts_run_free(&r);
}

/* libvirt's test driver has domain "test" and no dirty-rate calculation:
 * the watcher's refusal reaches the operator in one line; an unknown domain
 * too; no watcher is exit 3. */
Test(operator, dirty_rate_goes_through_libvirt_watch, .fini = dt_fini, .timeout = 60)
{
	char bin[256], sock[TS_PATH_MAX + 16];
	const char *watch[] = { bin, "libvirt-watch", "-c", "test:///default", "--run-dir",
				ts_dir(), NULL };
	const char *test[] = { "dirty-rate", "test", "--run-dir", ts_dir(), NULL };
	const char *nosuch[] = { "dirty-rate", "nosuch", "--run-dir", ts_dir(), NULL };
	const char *nowatch[] = { "dirty-rate", "test", "--run-dir", ts_dir(), "--watcher", "w2",
				  NULL };

	ts_bin("vhm", bin, sizeof(bin));
	cr_assert(lt(int, 0, ts_spawn(watch, NULL)));
	snprintf(sock, sizeof(sock), "%s/libvirt.sock", ts_dir());
	cr_assert(eq(int, ts_wait_socket(sock, 10000), 0), "libvirt-watch did not start");
	dt_vhm_refuses(test, VHM_EXIT_FAIL, "virDomainStartDirtyRateCalc");
	dt_vhm_refuses(nosuch, VHM_EXIT_FAIL, "nosuch");
	dt_vhm_refuses(nowatch, VHM_EXIT_PEER, "no instance w2");
}
