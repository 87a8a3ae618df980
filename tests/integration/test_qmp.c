/* SPDX-License-Identifier: MIT */
/* The control socket as a QMP client sees it: a raw connection reads the
 * greeting, sends qmp_capabilities, then query-status and query-migrate
 * before, during and after a migration between two test backends (and one
 * cancelled), and every answer is checked against the member names, types
 * and enum values of QEMU's QAPI schema, kept below as tables. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "devtest.h"
#include "support.h"
#include "util.h"

/* ---- QEMU's schema (read from qemu.git; names only, not copied text) ----
 * qapi/migration.json: MigrationInfo's members ('*' optional in the schema:
 * all are), MigrationStats' members (all required), MigrationStatus' values.
 * qapi/run-state.json: StatusInfo's members, RunState's values. */
enum qtype { Q_INT, Q_NUM, Q_STR, Q_BOOL, Q_OBJ, Q_ARR };

struct qmember {
	const char *name;
	enum qtype type;
};

static const struct qmember migration_info[] = {
	{ "status", Q_STR }, { "ram", Q_OBJ }, { "vfio", Q_OBJ }, { "xbzrle-cache", Q_OBJ },
	{ "total-time", Q_INT }, { "expected-downtime", Q_INT }, { "downtime", Q_INT },
	{ "setup-time", Q_INT }, { "cpu-throttle-percentage", Q_INT }, { "error-desc", Q_STR },
	{ "blocked-reasons", Q_ARR }, { "postcopy-blocktime", Q_INT },
	{ "postcopy-vcpu-blocktime", Q_ARR }, { "socket-address", Q_ARR },
	{ "dirty-limit-throttle-time-per-round", Q_INT }, { "dirty-limit-ring-full-time", Q_INT },
};

static const struct qmember migration_stats[] = {
	{ "transferred", Q_INT }, { "remaining", Q_INT }, { "total", Q_INT },
	{ "duplicate", Q_INT }, { "normal", Q_INT }, { "normal-bytes", Q_INT },
	{ "dirty-pages-rate", Q_INT }, { "mbps", Q_NUM }, { "dirty-sync-count", Q_INT },
	{ "postcopy-requests", Q_INT }, { "page-size", Q_INT }, { "multifd-bytes", Q_INT },
	{ "pages-per-second", Q_INT }, { "precopy-bytes", Q_INT }, { "downtime-bytes", Q_INT },
	{ "postcopy-bytes", Q_INT }, { "dirty-sync-missed-zero-copy", Q_INT },
};

static const char *const migration_status[] = {
	"none", "setup", "cancelling", "cancelled", "active", "postcopy-active",
	"postcopy-paused", "postcopy-recover-setup", "postcopy-recover", "completed", "failed",
	"colo", "pre-switchover", "device", "wait-unplug",
};

static const struct qmember status_info[] = {
	{ "running", Q_BOOL }, { "singlestep", Q_BOOL }, { "status", Q_STR },
};

static const char *const run_state[] = {
	"debug", "inmigrate", "internal-error", "io-error", "paused", "postmigrate",
	"prelaunch", "finish-migrate", "restore-vm", "running", "save-vm", "shutdown",
	"suspended", "watchdog", "guest-panicked", "colo",
};

static bool has_type(const json_t *v, enum qtype t)
{
	switch (t) {
	case Q_INT: return json_is_integer(v);
	case Q_NUM: return json_is_number(v);
	case Q_STR: return json_is_string(v);
	case Q_BOOL: return json_is_boolean(v);
	case Q_OBJ: return json_is_object(v);
	case Q_ARR: return json_is_array(v);
	}
	return false;
}

/* Every member of o is in the table with its type; `required` members too. */
static void check_members(const char *what, const json_t *o, const struct qmember *tab,
			  size_t n, bool all_required)
{
	const char *k;
	json_t *v;

	cr_assert(eq(int, json_is_object(o), 1), "%s is not an object", what);
	json_object_foreach((json_t *)o, k, v) {
		size_t i = 0;

		while (i < n && strcmp(tab[i].name, k))
			i++;
		cr_assert(lt(sz, i, n), "%s has member '%s', which QEMU's schema does not", what, k);
		cr_assert(has_type(v, tab[i].type), "%s.%s has the wrong JSON type", what, k);
	}
	for (size_t i = 0; all_required && i < n; i++)
		cr_assert(not(eq(ptr, json_object_get(o, tab[i].name), NULL)),
			  "%s lacks '%s', which QEMU's schema requires", what, tab[i].name);
}

static bool in_enum(const char *s, const char *const *vals, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(s, vals[i]))
			return true;
	return false;
}

/* A MigrationInfo as the schema has it; its status (NULL when absent). */
static const char *check_migration_info(const json_t *mi)
{
	const char *st = json_string_value(json_object_get(mi, "status"));

	check_members("MigrationInfo", mi, migration_info, VHM_ARRAY_SIZE(migration_info), false);
	if (json_object_get(mi, "status"))
		cr_assert(in_enum(st, migration_status, VHM_ARRAY_SIZE(migration_status)),
			  "status '%s' is not a MigrationStatus", st);
	if (json_object_get(mi, "ram"))
		check_members("MigrationStats", json_object_get(mi, "ram"), migration_stats,
			      VHM_ARRAY_SIZE(migration_stats), true);
	return st;
}

/* ---- a raw client, as QEMU's own ---- */

struct qmp {
	int fd;
	FILE *in;
};

static json_t *qmp_read(struct qmp *q)
{
	static char line[65536];
	json_error_t je;
	json_t *v;

	cr_assert(not(eq(ptr, fgets(line, sizeof(line), q->in), NULL)), "no line from the socket");
	v = json_loads(line, 0, &je);
	cr_assert(not(eq(ptr, v, NULL)), "not JSON: %s", line);
	return v;
}

static void qmp_open(struct qmp *q, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock", ts_dir(), name);
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(lt(int, -1, q->fd));
	setsockopt(q->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert(eq(int, connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)), 0), "connect %s",
		  sa.sun_path);
	q->in = fdopen(q->fd, "r");
	cr_assert(not(eq(ptr, q->in, NULL)));
}

static void qmp_close(struct qmp *q)
{
	fclose(q->in);
}

/* Send one command; the whole reply object (new reference). */
static json_t *qmp_exec(struct qmp *q, const char *cmd, json_t *args)
{
	json_t *req = json_pack("{s:s}", "execute", cmd);
	char *s;

	if (args)
		json_object_set_new(req, "arguments", args);
	s = json_dumps(req, JSON_COMPACT);
	cr_assert(eq(int, dprintf(q->fd, "%s\n", s), (int)strlen(s) + 1));
	free(s);
	json_decref(req);
	return qmp_read(q);
}

/* The "return" of a command that must succeed (new reference). */
static json_t *qmp_ok(struct qmp *q, const char *cmd, json_t *args)
{
	json_t *r = qmp_exec(q, cmd, args), *ret = json_incref(json_object_get(r, "return"));
	char *s = json_dumps(r, JSON_COMPACT);

	cr_assert(eq(int, json_is_object(ret), 1), "%s: %s", cmd, s);
	free(s);
	json_decref(r);
	return ret;
}

/* Greeting and qmp_capabilities, as a QMP client starts. */
static void qmp_handshake(struct qmp *q, const char *name)
{
	json_t *g, *v, *qmp;

	qmp_open(q, name);
	g = qmp_read(q);
	qmp = json_object_get(g, "QMP");
	cr_assert(eq(int, json_is_object(qmp), 1), "the greeting has no \"QMP\" member");
	v = json_object_get(json_object_get(qmp, "version"), "qemu");
	cr_assert(eq(int, json_is_integer(json_object_get(v, "major")) &&
		      json_is_integer(json_object_get(v, "minor")) &&
		      json_is_integer(json_object_get(v, "micro")), 1),
		  "QMP.version.qemu is not QEMU's");
	cr_assert(eq(int, json_is_string(json_object_get(json_object_get(qmp, "version"),
							 "package")), 1));
	cr_assert(eq(int, json_is_array(json_object_get(qmp, "capabilities")), 1));
	json_decref(g);
	v = qmp_ok(q, "qmp_capabilities", NULL);
	cr_assert(eq(sz, json_object_size(v), 0), "qmp_capabilities returned something");
	json_decref(v);
}

/* query-status: a StatusInfo with a RunState; its status. */
static void expect_status(struct qmp *q, const char *want, bool running)
{
	json_t *st = qmp_ok(q, "query-status", NULL);
	const char *s = json_string_value(json_object_get(st, "status"));

	check_members("StatusInfo", st, status_info, VHM_ARRAY_SIZE(status_info), false);
	cr_assert(in_enum(s, run_state, VHM_ARRAY_SIZE(run_state)), "'%s' is no RunState", s);
	cr_assert(eq(str, (char *)s, (char *)want));
	cr_assert(eq(int, json_is_true(json_object_get(st, "running")), running));
	json_decref(st);
}

/* query-migrate until it reports a final status (every answer checked);
 * the last answer. Statuses seen go into seen (a set). */
static json_t *poll_until_over(struct qmp *q, json_t *seen)
{
	long end = ts_now_ms() + 90000;

	while (ts_now_ms() < end) {
		json_t *mi = qmp_ok(q, "query-migrate", NULL);
		const char *st = check_migration_info(mi);

		cr_assert(not(eq(ptr, (void *)st, NULL)), "query-migrate without a status while "
			  "a migration was started");
		json_object_set_new(seen, st, json_true());
		if (!strcmp(st, "completed") || !strcmp(st, "failed") || !strcmp(st, "cancelled"))
			return mi;
		json_decref(mi);
		usleep(2000);
	}
	cr_fail("no final migration status within 90 s");
	return NULL;
}

Test(qmp, answers_match_qemus_schema, .fini = dt_fini, .timeout = 120)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX];
	json_t *mi, *ram, *seen = json_object(), *r;
	struct qmp q;

	dt_run_on_testbe("q1", "256M", a, b, sizeof(a));
	qmp_handshake(&q, "q1");
	expect_status(&q, "running", true);
	mi = qmp_ok(&q, "query-migrate", NULL);
	check_migration_info(mi);
	cr_assert(eq(sz, json_object_size(mi), 0), "query-migrate before any migration is not {}");
	json_decref(mi);

	json_decref(qmp_ok(&q, "migrate", json_pack("{s:s}", "to", b)));
	mi = poll_until_over(&q, seen);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(mi, "status")), "completed"));
	ram = json_object_get(mi, "ram");
	cr_assert(eq(i64, json_integer_value(json_object_get(ram, "total")), 256ll << 20));
	cr_assert(eq(i64, json_integer_value(json_object_get(ram, "remaining")), 0));
	cr_assert(lt(i64, 0, json_integer_value(json_object_get(ram, "transferred"))));
	cr_assert(eq(i64, json_integer_value(json_object_get(ram, "page-size")), 4096));
	cr_assert(eq(i64, json_integer_value(json_object_get(ram, "transferred")),
		     json_integer_value(json_object_get(ram, "precopy-bytes")) +
		     json_integer_value(json_object_get(ram, "downtime-bytes"))));
	cr_assert(lt(i64, 0, json_integer_value(json_object_get(ram, "dirty-sync-count"))));
	cr_assert(not(eq(ptr, json_object_get(mi, "downtime"), NULL)), "completed: no downtime");
	cr_assert(not(eq(ptr, json_object_get(mi, "total-time"), NULL)), "no total-time");
	cr_assert(not(eq(ptr, json_object_get(mi, "setup-time"), NULL)), "no setup-time");
	cr_assert(eq(ptr, json_object_get(mi, "expected-downtime"), NULL),
		  "expected-downtime after the migration ended");
	cr_assert(eq(ptr, json_object_get(mi, "error-desc"), NULL), "error-desc on success");
	cr_assert(not(lt(i64, json_integer_value(json_object_get(mi, "total-time")),
			 json_integer_value(json_object_get(mi, "downtime")))),
		  "downtime longer than the whole migration");
	json_decref(mi);
	expect_status(&q, "running", true);

	/* QEMU refuses a capability it does not have by name; so does vhm */
	r = qmp_exec(&q, "qmp_capabilities", json_pack("{s:[s]}", "enable", "oob"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(json_object_get(r, "error"),
		     "class")), "GenericError"));
	json_decref(r);
	json_decref(seen);
	qmp_close(&q);
}

/* A cancelled migration is "cancelled" (QEMU's word), with the reason in
 * error-desc; "cancelling" in between if the poll catches it. A 1 GiB guest
 * dirtied all over first and a bandwidth cap keep the pre-copy busy, and
 * ram.transferred grows while its first pass runs. */
Test(qmp, cancelled_migration_is_cancelled, .fini = dt_fini, .timeout = 120)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX];
	json_t *mi, *seen = json_object();
	const char *st;
	struct qmp q;
	long end;

	dt_run_on_testbe("q2", "1G", a, b, sizeof(a));
	qmp_handshake(&q, "q2");
	/* sequential: long runs of data, which the cap throttles */
	json_decref(qmp_ok(&q, "set-dirty", json_pack("{s:i, s:s}", "rate", 400000, "pattern",
						      "sequential")));
	sleep(1);
	json_decref(qmp_ok(&q, "set-dirty", json_pack("{s:i}", "rate", 5000)));
	json_decref(qmp_ok(&q, "migrate", json_pack("{s:s, s:I}", "to", b, "bandwidth",
						     (json_int_t)(8 << 20))));
	end = ts_now_ms() + 30000;
	do {            /* until the pre-copy runs */
		bool active;

		mi = qmp_ok(&q, "query-migrate", NULL);
		st = check_migration_info(mi);
		cr_assert(eq(int, in_enum(st, (const char *const[]){ "setup", "active" }, 2), 1),
			  "status %s before the cancel", st);
		active = !strcmp(st, "active");
		json_decref(mi);
		if (active)
			break;
		usleep(10000);
	} while (ts_now_ms() < end);
	/* the first pass is long (1 GiB at 8 MiB/s) and reports as it goes */
	{
		json_int_t sent[2], syncs;

		for (int i = 0; i < 2; i++) {
			if (i)
				usleep(800000);
			mi = qmp_ok(&q, "query-migrate", NULL);
			check_migration_info(mi);
			sent[i] = json_integer_value(json_object_get(json_object_get(mi, "ram"),
								     "transferred"));
			syncs = json_integer_value(json_object_get(json_object_get(mi, "ram"),
								   "dirty-sync-count"));
			json_decref(mi);
		}
		cr_assert(eq(i64, syncs, 0), "the first pass ended already");
		cr_assert(lt(i64, sent[0], sent[1]), "transferred stood still during the first "
			  "pass: %lld", (long long)sent[1]);
	}
	json_decref(qmp_ok(&q, "migrate-cancel", NULL));
	mi = poll_until_over(&q, seen);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(mi, "status")), "cancelled"));
	cr_assert(not(eq(ptr, strstr(json_string_value(json_object_get(mi, "error-desc")),
				    "cancelled by the operator"), NULL)));
	cr_assert(eq(ptr, json_object_get(mi, "downtime"), NULL), "downtime of a cancelled one");
	cr_assert(eq(ptr, json_object_get(seen, "completed"), NULL));
	cr_assert(eq(ptr, json_object_get(seen, "failed"), NULL));
	json_decref(mi);
	expect_status(&q, "running", true);
	json_decref(seen);
	qmp_close(&q);
}
