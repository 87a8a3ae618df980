/* SPDX-License-Identifier: MIT */
/* The source's side of a migration over a stream (`vhm migrate --to
 * tcp:HOST:PORT`, mig_sout): a real `vhm run` on a vhm-testbe backend, with
 * traffic and page writes, migrates to a destination scripted here on a
 * thread (mig_snet + mig_stream + mig_smem, the way docs/stream.md says a
 * destination reads): READY after MEMORY, pages into its own memory,
 * DEVICE, SWITCHOVER whose digest it compares with its memory's, READY, GO,
 * RUNNING, END. The script can also refuse (FAILED) after MEMORY or at the
 * switchover, or close mid pre-copy (a destination process killed); the
 * source must then roll back and keep running with nothing lost. A script
 * that answers READY to SWITCHOVER and then dies leaves the source past
 * its commit point (GO sent) with no word: it must not resume, and says
 * the destination's state is unknown.
 * Suite stream_migrate; the same against a real `vhm run --incoming` is
 * stream_e2e (test_stream_e2e.c). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "devtest.h"
#include "gmem.h"
#include "mig_smem.h"
#include "mig_snet.h"
#include "mig_stream.h"
#include "support.h"
#include "vhu_proto.h"

#define MEM_BYTES (64ull << 20)
#define RUN_MIN_TX 10000       /* frames a run moves before it is stopped and judged */

enum script {
	SCRIPT_ACCEPT,           /* a good destination */
	SCRIPT_REFUSE_MEMORY,    /* FAILED after MEMORY (its backend refused) */
	SCRIPT_CLOSE_PRECOPY,    /* closes after some pages (killed) */
	SCRIPT_REFUSE_DIGEST,    /* FAILED at SWITCHOVER (digests differ) */
	SCRIPT_DIE_AFTER_READY,  /* READY to SWITCHOVER, then closes (killed) */
};

struct dest {
	enum script script;
	int lfd;
	char spec[96];
	pthread_t t;
	/* what it saw */
	int rc;
	char err[256];
	bool memory, device, switchover, go, end;
	uint32_t passes, nrings, blob_len;
	uint64_t features, data_pages, digest_src, digest_dst;
};

static int answer(struct mig_snet *c, uint32_t code, const char *text)
{
	return mig_ack_send(mig_snet_out, c, code, text);
}

/* One section, as a destination handles it; 1 when the script ends here. */
static int on_section(struct dest *t, struct mig_snet *c, struct mig_sdec *d,
		      struct mig_ssec *s, struct gmem *mem)
{
	int rc = mig_smem_apply(d, s, mem, t->err, sizeof(t->err));

	if (rc)
		return rc;
	switch (s->type) {
	case MIG_SEC_MEMORY:
		t->memory = true;
		if (t->script == SCRIPT_REFUSE_MEMORY)
			return answer(c, MIG_ACK_FAILED, "backend refused the memory table") ?: 1;
		return answer(c, MIG_ACK_READY, "");
	case MIG_SEC_PAGES:
		t->data_pages += s->npages;
		return t->script == SCRIPT_CLOSE_PRECOPY && t->data_pages > 512;
	case MIG_SEC_PASS:
		t->passes++;
		return 0;
	case MIG_SEC_DEVICE:
		t->device = true;
		t->nrings = s->device.nrings;
		t->features = s->device.features;
		t->blob_len = s->device.blob_len;
		return 0;
	case MIG_SEC_SWITCHOVER:
		t->switchover = true;
		t->digest_src = s->digest;
		t->digest_dst = gmem_digest(mem, 0, 0);
		if (t->script == SCRIPT_REFUSE_DIGEST || t->digest_src != t->digest_dst)
			return answer(c, MIG_ACK_FAILED, "digests differ") ?: 1;
		return answer(c, MIG_ACK_READY, "") ?: t->script == SCRIPT_DIE_AFTER_READY;
	case MIG_SEC_GO:
		t->go = true;
		return answer(c, MIG_ACK_RUNNING, "");
	case MIG_SEC_END:
		t->end = true;
		return 1;
	}
	return 0;
}

static void *dest_main(void *arg)
{
	struct dest *t = arg;
	struct mig_snet c = { .fd = -1 };
	struct mig_sdec d;
	struct mig_ssec s;
	struct gmem mem;

	if ((t->rc = gmem_create(&mem, MEM_BYTES, "dest", t->err, sizeof(t->err))))
		return NULL;
	if ((t->rc = mig_snet_accept(t->lfd, &c, 20000, t->err, sizeof(t->err))) ||
	    (t->rc = mig_sdec_init(&d, mig_snet_in, &c)))
		goto out;
	c.timeout_ms = 10000;
	t->rc = mig_sdec_header(&d);
	while (!t->rc && !(t->rc = mig_sdec_next(&d, &s)))
		t->rc = on_section(t, &c, &d, &s, &mem);
	if (t->rc < 0 && !t->err[0])
		snprintf(t->err, sizeof(t->err), "%s", d.err);
	t->rc = t->rc > 0 ? 0 : t->rc;
	mig_sdec_destroy(&d);
out:
	mig_snet_close(&c);
	gmem_destroy(&mem);
	return NULL;
}

static void dest_start(struct dest *t, enum script script)
{
	char bound[80], err[256];

	*t = (struct dest){ .script = script };
	cr_assert(eq(int, mig_snet_listen("tcp:127.0.0.1:0", &t->lfd, bound, sizeof(bound), err,
					  sizeof(err)), 0), "listen: %s", err);
	snprintf(t->spec, sizeof(t->spec), "tcp:%s", bound);
	cr_assert(eq(int, pthread_create(&t->t, NULL, dest_main, t), 0));
}

static void dest_join(struct dest *t)
{
	pthread_join(t->t, NULL);
	close(t->lfd);
}

/* `migrate` to `to`, waiting for the migration's end event: its data (new
 * reference) and whether it was "done". */
static json_t *migrate_to(struct ctl_client *c, const char *to, bool *done)
{
	json_t *sub = json_pack("{s:[s]}", "events", "migration"), *r = NULL;
	long end = ts_now_ms() + 60000;
	char err[256];

	cr_assert(eq(int, ctl_client_call(c, "subscribe", sub, &r, err, sizeof(err), 5000), 0));
	json_decref(sub);
	json_decref(r);
	json_decref(dt_call(c, "migrate", json_pack("{s:s, s:i}", "to", to, "downtime_ms", 50)));
	while (ts_now_ms() < end) {
		json_t *ev = NULL, *data;
		const char *phase;

		if (ctl_client_next_event(c, &ev, 1000))
			continue;
		data = json_object_get(ev, "data");
		phase = json_string_value(json_object_get(data, "phase"));
		if (phase && (!strcmp(phase, "done") || !strcmp(phase, "failed"))) {
			*done = !strcmp(phase, "done");
			json_incref(data);
			json_decref(ev);
			return data;
		}
		json_decref(ev);
	}
	cr_fail("no done/failed migration event within 60 s");
	return NULL;
}

static json_t *status(struct ctl_client *c)
{
	return dt_call(c, "status", NULL);
}

/* status.traffic.total.KEY */
static long long total_of(const json_t *st, const char *key)
{
	return json_integer_value(json_object_get(
		json_object_get(json_object_get(st, "traffic"), "total"), key));
}

static long long rx_total(const json_t *st)
{
	return total_of(st, "rx_frames");
}

/* The run's last summary line: frames lost and duplicated (asserted there). */
static void expect_nothing_lost(const char *name)
{
	dt_expect_whole_run(name, RUN_MIN_TX);
}

/* Stop the run; it exits 0. */
static void stop_run(struct ctl_client *c, pid_t run, const char *name)
{
	int st = -1;
	bool exited_0;

	json_decref(dt_call(c, "stop", NULL));
	ctl_client_close(c);
	for (int i = 0; i < 100 && !ts_exited(run, &st); i++)
		usleep(100000);
	exited_0 = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	cr_assert(exited_0, "%s: status 0x%x", name, st);
}

/* Stop the run (its summary line written) and check it: once it has moved
 * RUN_MIN_TX frames, however fast the test went until then (a test that
 * finished early must not read as traffic that stalled). */
static void stop_and_check(struct ctl_client *c, pid_t run, const char *name)
{
	dt_wait_rx_past(c, RUN_MIN_TX, 20000);
	stop_run(c, run, name);
	expect_nothing_lost(name);
}

/* A good destination: done, proved by the stream's digest, the source's
 * device stopped ("migrated", its backend the address). */
Test(stream_migrate, to_scripted_destination, .fini = dt_fini, .timeout = 90)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX];
	struct ctl_client *c;
	struct dest t;
	json_t *rep, *st;
	bool done, verified;
	pid_t run;

	run = dt_run_on_testbe("sm-ok", "64M", a, b, sizeof(a));
	c = dt_connect("sm-ok");
	sleep(1);
	dest_start(&t, SCRIPT_ACCEPT);
	rep = migrate_to(c, t.spec, &done);
	dest_join(&t);
	cr_assert(done, "migration failed: %s", json_string_value(json_object_get(rep, "error")));
	cr_assert(eq(int, t.rc, 0), "destination: %s", t.err);
	cr_assert(t.memory && t.device && t.switchover && t.go && t.end,
		  "sections seen: %d %d %d %d %d", t.memory, t.device, t.switchover, t.go, t.end);
	cr_assert(eq(u64, t.digest_src, t.digest_dst));
	cr_assert(eq(u32, t.nrings, 2));
	cr_assert(eq(u64, (t.features >> VHU_F_LOG_ALL) & 1, 0), "DEVICE carries LOG_ALL");
	cr_assert(lt(u32, 40, t.blob_len), "state %u bytes", t.blob_len);
	/* one PASS after each pre-copy pass, the first included */
	cr_assert(eq(sz, (size_t)t.passes, json_array_size(json_object_get(rep, "iterations"))),
		  "%u PASS sections", t.passes);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(rep, "verify")), "stream"));
	verified = json_is_true(json_object_get(rep, "verified"));
	cr_assert(verified, "not verified");
	cr_assert(eq(str, (char *)json_string_value(json_object_get(rep, "destination")), t.spec));
	cr_assert(lt(i64, (json_int_t)(1 << 20), json_integer_value(json_object_get(
			json_object_get(rep, "stream"), "bytes"))), "stream bytes");
	json_decref(rep);
	st = dt_call(c, "migrate-status", NULL);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "destination")), t.spec));
	json_decref(st);
	st = status(c);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "state")), "migrated"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "backend")), t.spec));
	json_decref(st);
	stop_and_check(c, run, "sm-ok");
}

/* The destination fails the migration at `script`: it fails naming `says`,
 * the device still runs on its source and frames keep coming back. */
static void expect_rollback(const char *name, enum script script, const char *says)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX];
	struct ctl_client *c;
	struct dest t;
	json_t *rep, *st;
	long long rx0, rx1;
	bool done = true;
	pid_t run;

	run = dt_run_on_testbe(name, "64M", a, b, sizeof(a));
	c = dt_connect(name);
	usleep(300000);           /* traffic under way */
	dest_start(&t, script);
	rep = migrate_to(c, t.spec, &done);
	dest_join(&t);
	cr_assert(not(done), "the migration succeeded");
	cr_log_info("%s: %s\n", name, json_string_value(json_object_get(rep, "error")));
	cr_assert(not(eq(ptr, strstr(json_string_value(json_object_get(rep, "error")), says),
			 NULL)), "error: %s", json_string_value(json_object_get(rep, "error")));
	json_decref(rep);
	st = status(c);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "state")), "running"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "backend")), a));
	rx0 = rx_total(st);
	json_decref(st);
	sleep(1);
	st = status(c);
	rx1 = rx_total(st);
	json_decref(st);
	cr_assert(lt(i64, rx0 + 5000, rx1), "rx %lld -> %lld in 1 s after the rollback", rx0, rx1);
	stop_and_check(c, run, name);
}

Test(stream_migrate, destination_refuses_memory, .fini = dt_fini, .timeout = 90)
{
	expect_rollback("sm-rm", SCRIPT_REFUSE_MEMORY, "backend refused the memory table");
}

Test(stream_migrate, destination_gone_in_precopy, .fini = dt_fini, .timeout = 90)
{
	expect_rollback("sm-cl", SCRIPT_CLOSE_PRECOPY, "pre-copy");
}

/* Refused after the source's rings stopped: restarted from their bases. */
Test(stream_migrate, destination_refuses_digest, .fini = dt_fini, .timeout = 90)
{
	expect_rollback("sm-dg", SCRIPT_REFUSE_DIGEST, "digests differ");
}

/* Nothing listens there: refused at setup, naming the address. */
Test(stream_migrate, unreachable, .fini = dt_fini, .timeout = 60)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX];
	struct ctl_client *c;
	json_t *rep;
	bool done = true;
	pid_t run;

	run = dt_run_on_testbe("sm-un", "64M", a, b, sizeof(a));
	c = dt_connect("sm-un");
	rep = migrate_to(c, "tcp:127.0.0.1:1", &done);
	cr_assert(not(done), "migrated to nothing");
	cr_assert(not(eq(ptr, strstr(json_string_value(json_object_get(rep, "error")),
				     "127.0.0.1"), NULL)),
		  "error: %s", json_string_value(json_object_get(rep, "error")));
	json_decref(rep);
	(void)run;
	json_decref(dt_call(c, "stop", NULL));
	ctl_client_close(c);
}

static long long writes_total(const json_t *st)
{
	return json_integer_value(json_object_get(json_object_get(st, "dirty"), "writes"));
}

/* The operator, having seen that the destination died (t), resumes the
 * device on its source (backend a): `cont` refuses without force, then
 * with it the device runs here again on the memory the source proved at
 * SWITCHOVER (its digest, nothing written since), frames flowing through
 * a again from rx0 and the writer writing, no frame lost or duplicated
 * since the migration began (lost0 lost before it). */
static void expect_cont_resumes(struct ctl_client *c, const struct dest *t, const char *a,
				long long rx0, long long lost0)
{
	json_t *st = dt_call(c, "digest", NULL), *ret = NULL;
	long long w0, w1, rx1;
	char err[512];
	int rc;

	cr_assert(eq(u64, strtoull(json_string_value(json_object_get(st, "memory")), NULL, 16),
		     t->digest_src), "the memory changed after SWITCHOVER: %s",
		  json_string_value(json_object_get(st, "memory")));
	json_decref(st);
	rc = ctl_client_call(c, "cont", NULL, &ret, err, sizeof(err), 10000);
	cr_assert(eq(int, rc, -EREMOTEIO), "cont without force: %d", rc);
	cr_assert(not(eq(ptr, strstr(err, "force"), NULL)), "%s", err);
	st = status(c);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "state")),
		     "destination-unknown"), "a refused cont changed the state");
	json_decref(st);
	ret = dt_call(c, "cont", json_pack("{s:b}", "force", 1));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(ret, "state")), "running"));
	json_decref(ret);
	st = status(c);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "state")), "running"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "backend")), (char *)a));
	w0 = writes_total(st);
	json_decref(st);
	rx1 = dt_wait_rx_past(c, rx0 + 2000, 5000);
	cr_assert(lt(i64, rx0 + 2000, rx1), "frames after cont: rx %lld -> %lld", rx0, rx1);
	st = status(c);
	w1 = writes_total(st);
	cr_assert(lt(i64, w0, w1), "the writer did not resume: %lld -> %lld", w0, w1);
	cr_assert(eq(i64, total_of(st, "rx_lost"), lost0), "frames lost by the migration and cont");
	cr_assert(eq(i64, total_of(st, "rx_dup"), 0), "frames duplicated");
	json_decref(st);
	ret = dt_call(c, "cont", NULL);   /* running: nothing to do, as QMP's */
	cr_assert(eq(str, (char *)json_string_value(json_object_get(ret, "state")), "running"));
	json_decref(ret);
}

/* The destination answers READY to SWITCHOVER and dies: the source sent GO
 * (its commit point) and hears nothing back. It must not resume -- the
 * destination may be running the device -- and says so everywhere: `vhm
 * migrate` (exit 4, one line with the address), the report (result,
 * "destination_state"), the device's state and backend; and no frame moves
 * here any more -- until the operator, having seen the destination gone,
 * resumes it here (cont, force): nothing lost (expect_cont_resumes). */
Test(stream_migrate, destination_dies_after_ready, .fini = dt_fini, .timeout = 90)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX];
	struct ctl_client *c;
	struct dest t;
	json_t *rep, *st;
	struct ts_run r;
	long long rx0, rx1;
	pid_t run;

	run = dt_run_on_testbe("sm-go", "64M", a, b, sizeof(a));
	c = dt_connect("sm-go");
	usleep(300000);           /* traffic under way */
	dest_start(&t, SCRIPT_DIE_AFTER_READY);
	dt_vhm((const char *[]){ "migrate", "sm-go", "--to", t.spec, "--run-dir", ts_dir(), NULL },
	       &r);
	dest_join(&t);
	cr_log_info("sm-go: exit %d: %s\n", r.status, r.err);
	cr_assert(eq(int, r.status, 4), "vhm migrate exit %d: %s", r.status, r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "destination state unknown"), NULL)), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, t.spec), NULL)), "error lacks the address: %s", r.err);
	ts_run_free(&r);
	st = dt_call(c, "migrate-status", NULL);
	rep = json_object_get(st, "last");
	cr_assert(eq(str, (char *)json_string_value(json_object_get(rep, "destination_state")),
		     "unknown"));
	cr_assert(not(eq(ptr, strstr(json_string_value(json_object_get(rep, "result")),
				     "destination state unknown"), NULL)));
	json_decref(st);
	st = status(c);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "state")),
		     "destination-unknown"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "backend")), t.spec));
	rx0 = rx_total(st);
	json_decref(st);
	usleep(500000);
	st = status(c);
	rx1 = rx_total(st);
	json_decref(st);
	cr_assert(eq(i64, rx1, rx0), "frames move here after GO: rx %lld -> %lld", rx0, rx1);
	expect_cont_resumes(c, &t, a, rx1, 0);
	stop_and_check(c, run, "sm-go");
}

/* destination_dies_after_ready with vhm listening (--listen) and a DPDK
 * testpmd connected to it as a client: the device let its backend go past
 * GO, its listener closed; cont listens again and takes the testpmd's new
 * connection (DPDK's client retries each second), nothing lost from the
 * migration on (the run as a whole is not judged: a starting testpmd drops
 * frames while its port comes up). */
Test(stream_migrate, cont_on_a_listening_device, .fini = dt_fini, .timeout = 90)
{
	char sock[TS_PATH_MAX], bin[256], log[TS_PATH_MAX + 16];
	const char *argv[] = { bin, "run", "--listen", "--backend", sock, "--name", "sm-gl",
			       "--mem", "64M", "--traffic", "20000", "--dirty", "5000", "--run-dir",
			       ts_dir(), "--duration", "120s", NULL };
	struct ctl_client *c;
	struct dest t;
	json_t *rep, *st;
	long long lost0;
	bool done = true;
	pid_t run;

	cr_assert(eq(int, ts_path("sm-gl-be.sock", sock, sizeof(sock)), 0));
	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/sm-gl.log", ts_dir());
	run = ts_spawn(argv, log);
	cr_assert(lt(int, 0, run), "cannot start vhm run");
	cr_assert(eq(int, ts_wait_socket(sock, 10000), 0), "vhm did not listen at %s", sock);
	dt_testpmd_at_or_skip("sm-gl-tp", 1, true, sock);
	dt_wait_ctl("sm-gl");
	c = dt_connect("sm-gl");
	dt_wait_rx_past(c, 2000, 10000);   /* traffic under way */
	st = status(c);
	lost0 = total_of(st, "rx_lost");   /* testpmd's start may drop some (its ramp) */
	json_decref(st);
	dest_start(&t, SCRIPT_DIE_AFTER_READY);
	rep = migrate_to(c, t.spec, &done);
	dest_join(&t);
	cr_assert(not(done), "the migration succeeded");
	cr_assert(eq(str, (char *)json_string_value(json_object_get(rep, "destination_state")),
		     "unknown"), "%s", json_string_value(json_object_get(rep, "error")));
	json_decref(rep);
	st = status(c);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "state")),
		     "destination-unknown"));
	expect_cont_resumes(c, &t, sock, rx_total(st), lost0);
	json_decref(st);
	stop_run(c, run, "sm-gl");
}

/* Past GO, the operator resumes the device here but its backend is gone
 * too (its socket removed): cont fails naming it, and the device says it
 * is here without a backend (backend-lost, its own path), its traffic set
 * as it was for when one comes back -- not destination-unknown any more,
 * and not running. */
Test(stream_migrate, cont_without_its_backend, .fini = dt_fini, .timeout = 90)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], err[512];
	struct ctl_client *c;
	struct dest t;
	json_t *rep, *st, *ret = NULL, *args;
	bool done = true;
	int rc;
	pid_t run;

	run = dt_run_on_testbe("sm-nb", "64M", a, b, sizeof(a));
	c = dt_connect("sm-nb");
	usleep(300000);           /* traffic under way */
	dest_start(&t, SCRIPT_DIE_AFTER_READY);
	rep = migrate_to(c, t.spec, &done);
	dest_join(&t);
	cr_assert(not(done), "the migration succeeded");
	json_decref(rep);
	cr_assert(eq(int, unlink(a), 0), "remove %s", a);
	args = json_pack("{s:b}", "force", 1);
	rc = ctl_client_call(c, "cont", args, &ret, err, sizeof(err), 10000);
	json_decref(args);
	cr_assert(eq(int, rc, -EREMOTEIO), "cont with no backend: %d", rc);
	cr_assert(not(eq(ptr, strstr(err, a), NULL)), "the error lacks the backend: %s", err);
	st = status(c);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "state")), "backend-lost"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(st, "backend")), a));
	cr_assert(eq(i64, json_integer_value(json_object_get(json_object_get(st, "traffic"), "pps")),
		     20000), "the traffic was not given back");
	json_decref(st);
	stop_run(c, run, "sm-nb");
}
