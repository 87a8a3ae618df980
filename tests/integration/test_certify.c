/* SPDX-License-Identifier: MIT */
/* Integration tests of `vhm certify` (suite certify): DPDK testpmd passes
 * every check it can be given; each of the test backend's logging and
 * protocol faults fails exactly the checks that cover it and nothing else
 * (a table: fault -> failing checks, skipped checks, everything else
 * passing); an unreachable backend exits 3; bad flags exit 2 with one line.
 * The fault rows run one queue pair and the ring where the fault shows, so
 * the suite stays short. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "devtest.h"
#include "ovstest.h"
#include "support.h"
#include "util.h"

#define CERT_TIMEOUT_MS 150000

/* "name status: evidence" of every check that did not pass, for a message. */
static void not_passed(const json_t *rep, char *out, size_t len)
{
	const json_t *c;
	size_t i, used = 0;

	out[0] = '\0';
	json_array_foreach(json_object_get(rep, "checks"), i, c)
		if (strcmp(json_string_value(json_object_get(c, "status")), "pass") && used < len)
			used += (size_t)snprintf(out + used, len - used, "[%s %s: %s] ",
						 json_string_value(json_object_get(c, "name")),
						 json_string_value(json_object_get(c, "status")),
						 json_string_value(json_object_get(c, "evidence")));
}

/* The checks a run reported, by name: status and evidence; asserted to be a
 * JSON object with a "checks" array. New reference. */
static json_t *certify_json(const char *const args[], int want_status, const char *row)
{
	struct ts_run r;
	json_error_t je;
	json_t *rep;
	char bin[256], seen[4096];
	const char *argv[24] = { bin, "certify" };
	int n = 2;

	ts_bin("vhm", bin, sizeof(bin));
	for (int i = 0; args[i] && n < 22; i++)
		argv[n++] = args[i];
	argv[n++] = "--json";
	argv[n] = NULL;
	cr_assert(eq(int, ts_run_cmd(argv, CERT_TIMEOUT_MS, &r), 0), "%s: vhm did not start", row);
	cr_assert(not(r.timed_out), "%s: vhm certify still ran after %d ms", row, CERT_TIMEOUT_MS);
	cr_log_info("%s: exit %d in %d ms\n%s%s", row, r.status, r.elapsed_ms, r.out, r.err);
	rep = json_loads(r.out, 0, &je);
	cr_assert(not(eq(ptr, rep, NULL)), "%s: exit %d, stdout is not JSON (%s): %s; stderr: %s",
		  row, r.status, je.text, r.out, r.err);
	cr_assert(not(eq(ptr, json_object_get(rep, "checks"), NULL)), "%s: no checks array", row);
	not_passed(rep, seen, sizeof(seen));
	cr_assert(eq(int, r.status, want_status), "%s: exit %d, want %d; %s", row, r.status,
		  want_status, seen);
	ts_run_free(&r);
	return rep;
}

/* Is name in the comma-separated list? */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

/* Every check reported is `fail` when listed in fails, `skip` (with a
 * reason) when in skips, `pass` otherwise; and every check of `ran` was
 * reported. */
static void expect_statuses(const json_t *rep, const char *ran, const char *fails,
			    const char *skips, const char *row)
{
	const json_t *c;
	size_t i, seen = 0;

	json_array_foreach(json_object_get(rep, "checks"), i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		const char *st = json_string_value(json_object_get(c, "status"));
		const char *ev = json_string_value(json_object_get(c, "evidence"));
		const char *want = listed(fails, name) ? "fail" : listed(skips, name) ? "skip"
										   : "pass";

		cr_assert(not(eq(ptr, (void *)name, NULL)));
		cr_assert(eq(str, (char *)st, (char *)want), "%s: check %s is %s, want %s: %s", row,
			  name, st, want, ev);
		if (strcmp(want, "pass"))
			cr_assert(lt(sz, 0, strlen(ev)), "%s: check %s %s without evidence", row, name,
				  want);
		seen += listed(ran, name);
	}
	cr_assert(eq(sz, seen, json_array_size(json_object_get(rep, "checks"))),
		  "%s: checks reported that were not asked for, or missing", row);
}

/* Does some check's evidence hold `what`? */
static bool evidence_has(const json_t *rep, const char *what)
{
	const json_t *c;
	size_t i;

	json_array_foreach(json_object_get(rep, "checks"), i, c)
		if (strstr(json_string_value(json_object_get(c, "evidence")), what))
			return true;
	return false;
}

/* ---- testpmd ------------------------------------------------------------------- */

/* Two testpmds (two queue pairs each): every check passes, both rings, 1 and
 * 2 queue pairs; reconnect is skipped (no --restart-cmd) with its reason. */
Test(certify, testpmd_passes_every_check, .fini = dt_fini, .timeout = 200)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX];
	const char *args[] = { a, b, "--queues", "2", "--timeout", "20s", NULL };
	json_t *rep;

	dt_testpmd_or_skip("cert-a", 2, a, sizeof(a));
	dt_testpmd_or_skip("cert-b", 2, b, sizeof(b));
	rep = certify_json(args, VHM_EXIT_OK, "testpmd");
	expect_statuses(rep, "features,log,stop,restart,reconnect,rarp,timing,hostile", "",
			"reconnect", "testpmd");
	cr_assert(eq(int, (int)json_integer_value(json_object_get(rep, "passed")), 7));
	json_decref(rep);
}

/* ---- Open vSwitch with DPDK ---------------------------------------------------- */

static void ovs_fini(void)
{
	ovt_fini();
	dt_fini();
}

/* A private OVS with DPDK, two dpdkvhostuser (server) ports p0 and p1 that
 * loop their traffic back: every check passes or is skipped with a reason
 * naming what OVS does not do (OVS 3.1 passes all but reconnect, which
 * needs --restart-cmd). One queue pair, both rings. */
Test(certify, ovs_passes_every_check_it_supports, .fini = ovs_fini, .timeout = 240)
{
	char p0[TS_PATH_MAX], p1[TS_PATH_MAX];
	const char *args[] = { p0, p1, "--queues", "1", "--timeout", "20s", NULL };
	json_t *rep;

	ovt_start_or_skip();
	ovt_add_port("p0", false, p0, sizeof(p0));
	ovt_add_port("p1", false, p1, sizeof(p1));
	rep = certify_json(args, VHM_EXIT_OK, "ovs");
	expect_statuses(rep, "features,log,stop,restart,reconnect,rarp,timing,hostile", "",
			"reconnect", "ovs");
	cr_assert(eq(int, (int)json_integer_value(json_object_get(rep, "passed")), 7));
	cr_assert(evidence_has(rep, "split and packed rings of 32768"), "ovs: no ring of 32768");
	cr_assert(evidence_has(rep, "config space: skipped: no PROTOCOL_F_CONFIG"),
		  "ovs: the config-space part not skipped for want of PROTOCOL_F_CONFIG");
	json_decref(rep);
}

/* ---- the test backend's faults ----------------------------------------------------- */

/* One row: the test backend at SOCKET with `extra` (space-separated), checks
 * `only`, on `ring` rings; which fail and which are skipped. No pointers
 * (Criterion copies parameters). */
struct fault_row {
	char name[32];
	char extra[64];
	char ring[8];
	char only[72];
	char fails[48];
	char skips[48];
	char timeout[8];
	char says[72];             /* in some check's evidence, or "" */
};

#define LOG_ROW "features,log,stop,rarp"

/* restart and timing read the migrations of check 2: with every layout rolled
 * back they skip, with some through they pass, so the log-fault rows leave
 * them out; the clean row has them. hostile runs where a fault touches it:
 * with `nothing` a resized log stays as empty as the first. */
static struct fault_row rows[] = {
	{ "clean", "--loopback", "split",
	  "features,log,stop,restart,reconnect,rarp,timing,hostile", "", "reconnect", "5s" },
	{ "log nothing", "--log-fault nothing", "split", LOG_ROW ",hostile", "log,hostile", "", "5s" },
	{ "log used", "--log-fault used", "split", LOG_ROW, "log", "", "5s" },
	{ "log off-by-one", "--log-fault off-by-one", "split", LOG_ROW, "log", "", "5s" },
	{ "log late", "--log-fault late", "split", LOG_ROW, "log,stop", "", "5s" },
	{ "log mrg", "--log-fault mrg", "split", LOG_ROW, "log", "", "5s" },
	{ "log packed-desc", "--log-fault packed-desc", "packed", LOG_ROW, "log", "", "5s" },
	{ "no LOG_SHMFD", "--loopback --drop-proto LOG_SHMFD", "split",
	  "features,log,stop,restart,rarp,timing,hostile", "features",
	  "log,stop,restart,timing,hostile", "5s" },
	{ "bad reply in the handshake", "--loopback --misbehave wrong-size:GET_MAX_MEM_SLOTS",
	  "split", "features,log,stop,rarp,hostile", "features", "log,stop,rarp,hostile", "5s" },
	{ "no REPLY_ACK", "--loopback --drop-proto REPLY_ACK", "split", "features,stop,rarp", "", "",
	  "5s" },
	{ "SEND_RARP refused", "--loopback --misbehave refuse:SEND_RARP", "split", "features,rarp",
	  "rarp", "", "5s" },
	{ "no RARP", "--loopback --drop-proto RARP", "split", "features,rarp", "", "rarp", "5s" },
	{ "GET_VRING_BASE unanswered", "--loopback --misbehave no-reply:GET_VRING_BASE", "split",
	  "features,stop", "stop", "", "1s" },
	/* check 8's size limits: each fault fails the part of it that covers it */
	{ "SET_VRING_NUM refused", "--loopback --misbehave refuse:SET_VRING_NUM", "split",
	  "features,hostile", "hostile", "", "5s", "split ring of 32768 at base 0x9c40" },
	{ "ADD_MEM_REG refused", "--loopback --misbehave refuse:ADD_MEM_REG", "split",
	  "features,hostile", "hostile", "", "5s", "memory slots: after 8 regions" },
	{ "GET_CONFIG wrong size", "--loopback --misbehave wrong-size:GET_CONFIG", "split",
	  "features,hostile", "hostile", "", "5s", "config space: GET_CONFIG of 256 bytes" },
	{ "no config, no mem slots", "--loopback --drop-proto CONFIG,CONFIGURE_MEM_SLOTS",
	  "split", "features,hostile", "", "", "5s",
	  "CONFIGURE_MEM_SLOTS; config space: skipped: no PROTOCOL_F_CONFIG" },
};

ParameterizedTestParameters(certify, testbe_faults)
{
	return cr_make_param_array(struct fault_row, rows, sizeof(rows) / sizeof(rows[0]));
}

ParameterizedTest(struct fault_row *fr, certify, testbe_faults, .fini = dt_fini, .timeout = 120)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], extra[64], *save = NULL;
	const char *ex[8], *dst_extra[] = { "--loopback", NULL };
	const char *args[] = { a, b, "--queues", "1", "--ring", fr->ring, "--only", fr->only,
			       "--timeout", fr->timeout, NULL };
	int n = 0;
	json_t *rep;

	snprintf(extra, sizeof(extra), "%s", fr->extra);
	for (char *t = strtok_r(extra, " ", &save); t && n < 7; t = strtok_r(NULL, " ", &save))
		ex[n++] = t;
	ex[n] = NULL;
	cr_assert(eq(int, ts_path("cert-a.sock", a, sizeof(a)), 0));
	cr_assert(eq(int, ts_path("cert-b.sock", b, sizeof(b)), 0));
	cr_assert(lt(int, 0, ts_testbe_start(a, ex)));
	cr_assert(lt(int, 0, ts_testbe_start(b, dst_extra)));
	rep = certify_json(args, fr->fails[0] ? VHM_EXIT_FAIL : VHM_EXIT_OK, fr->name);
	expect_statuses(rep, fr->only, fr->fails, fr->skips, fr->name);
	if (fr->says[0])
		cr_assert(evidence_has(rep, fr->says), "%s: no check says '%s'", fr->name,
			  fr->says);
	json_decref(rep);
}

/* A restart command that kills the backend and starts another one in its
 * place (serving one connection, so it ends with the test): rings restored
 * from the driver, traffic resumes. */
Test(certify, reconnect_with_restart_cmd, .fini = dt_fini, .timeout = 60)
{
	char a[TS_PATH_MAX], cmd[3 * TS_PATH_MAX], tb[256];
	const char *lb[] = { "--loopback", NULL };
	const char *args[] = { a, "--only", "reconnect", "--restart-cmd", cmd, NULL };
	pid_t pid;
	json_t *rep;

	cr_assert(eq(int, ts_path("cert-r.sock", a, sizeof(a)), 0));
	pid = ts_testbe_start(a, lb);
	cr_assert(lt(int, 0, pid));
	ts_bin("vhm-testbe", tb, sizeof(tb));
	snprintf(cmd, sizeof(cmd), "kill %d; %s --socket %s --loopback --once >/dev/null 2>&1 &",
		 (int)pid, tb, a);
	rep = certify_json(args, VHM_EXIT_OK, "reconnect");
	expect_statuses(rep, "features,reconnect", "", "", "reconnect");
	json_decref(rep);
}

/* ---- reaching the backend and the command line ------------------------------------- */

Test(certify, unreachable_backend_exits_3, .fini = dt_fini)
{
	char a[TS_PATH_MAX];
	const char *args[] = { "certify", a, NULL };

	cr_assert(eq(int, ts_path("nobody.sock", a, sizeof(a)), 0));
	dt_vhm_refuses(args, VHM_EXIT_PEER, "nobody.sock");
}

struct flag_case {
	char args[4][24];
	char says[48];
};

static struct flag_case flags[] = {
	{ { "" }, "expected SOCKET" },
	{ { "a.sock", "b.sock", "c.sock" }, "expected SOCKET and at most a SOCKET2" },
	{ { "a.sock", "a.sock" }, "SOCKET2 'a.sock' is SOCKET" },
	{ { "a.sock", "--ring", "round" }, "--ring 'round'" },
	{ { "a.sock", "--queues", "0" }, "--queues '0'" },
	{ { "a.sock", "--queues", "9" }, "--queues '9'" },
	{ { "a.sock", "--only", "log,speed" }, "--only 'speed': unknown check" },
	{ { "a.sock", "--timeout", "5x" }, "--timeout '5x'" },
	{ { "a.sock", "--bogus" }, "unknown option '--bogus'" },
	{ { "a.sock", "--restart-cmd", "" }, "--restart-cmd: expected a command" },
};

ParameterizedTestParameters(certify, bad_flags_exit_2)
{
	return cr_make_param_array(struct flag_case, flags, sizeof(flags) / sizeof(flags[0]));
}

ParameterizedTest(struct flag_case *fc, certify, bad_flags_exit_2, .fini = dt_fini)
{
	const char *args[6] = { "certify" };
	int n = 1;

	for (int i = 0; i < 4 && (fc->args[i][0] || (i > 0 && !strcmp(fc->args[i - 1],
								     "--restart-cmd"))); i++)
		args[n++] = fc->args[i];
	args[n] = NULL;
	dt_vhm_refuses(args, VHM_EXIT_USAGE, fc->says);
}
