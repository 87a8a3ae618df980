/* SPDX-License-Identifier: MIT */
/* `vhm run --incoming tcp:...`, the destination of a migration stream, as a
 * real process on a vhm-testbe backend, with the test playing the source by
 * hand: the stream's encoder (mig_stream, mig_smem) over mig_snet, fed by a
 * device of the test's own on a second testbe (or by bare guest memory
 * where the stream is to fail before any device state).
 *
 * A whole stream (one queue pair, and two): READY after MEMORY, READY after
 * SWITCHOVER, GO, RUNNING; the destination's status goes from
 * "incoming" to "running"; frames flow through its backend from where the
 * source stopped (counters carried over, none lost or duplicated), the RARP
 * came back, the writer's state came over, and its RAM digests as the
 * source's did at the switchover. Failures before the commit -- a stream
 * cut inside a section, a connection closed before DEVICE, a digest that is
 * not the destination's, a device whose features are not the destination's,
 * memory of another size than its --mem, a backend that refuses the memory
 * table or the rings -- are
 * answered FAILED when the connection still carries it, and the process
 * exits 1 with one line saying why: no device runs. So does a source that
 * never sends GO after the destination's READY (the destination never
 * starts), and a source whose host stops answering mid pre-copy (a link
 * cut between two network namespaces: found by TCP keepalive in seconds). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "devtest.h"
#include "device.h"
#include "gmem.h"
#include "mig_smem.h"
#include "mig_snet.h"
#include "mig_stream.h"
#include "support.h"

#define MEM_BYTES (64ull << 20)
#define NET_TIMEOUT_MS 5000

/* The destination: testbe B and `vhm run --incoming` on it. */
struct dst {
	pid_t pid;
	char name[32], b[TS_PATH_MAX], log[TS_PATH_MAX + 16], spec[MIG_SNET_HOST_MAX + 16];
};

/* The source as the test plays it. */
struct src {
	struct mig_snet net;
	struct mig_senc e;
	struct mig_smem_tx tx;
};

static json_t *status_of(const char *name)
{
	struct ctl_client *c = dt_connect(name);
	json_t *st = dt_call(c, "status", NULL);

	ctl_client_close(c);
	return st;
}

static const char *str_at(const json_t *o, const char *k1, const char *k2)
{
	const json_t *v = json_object_get(o, k1);

	return json_string_value(k2 ? json_object_get(v, k2) : v);
}

static long long int_at(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* testbe B (--loopback, `queues` queue pairs and `be_extra`), then the
 * destination (with --mem `mem` unless NULL) listening at `listen` in
 * network namespace ns (NULL: this one), its port found in its status. */
static void dst_start_at(struct dst *d, const char *ns, const char *listen, const char *name,
			 const char *be_extra, const char *mem, int queues)
{
	char bin[256], sock[64], qs[8];
	const char *extra[] = { "--loopback", "--queues", qs, be_extra, NULL };
	const char *argv[] = { "ip", "netns", "exec", ns, bin, "run", "--incoming", listen,
			       "--backend", d->b, "--name", name, "--run-dir", ts_dir(),
			       "--interval", "200ms", "--queues", qs, mem ? "--mem" : NULL, mem,
			       NULL };
	json_t *st;

	snprintf(qs, sizeof(qs), "%d", queues);
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(sock, sizeof(sock), "%s-b.sock", name);
	cr_assert(eq(int, ts_path(sock, d->b, sizeof(d->b)), 0));
	cr_assert(lt(int, 0, ts_testbe_start(d->b, extra)), "vhm-testbe on %s did not start", d->b);
	ts_bin("vhm", bin, sizeof(bin));
	snprintf(d->log, sizeof(d->log), "%s/%s.log", ts_dir(), name);
	d->pid = ts_spawn(ns ? argv : argv + 4, d->log);
	cr_assert(lt(int, 0, d->pid), "cannot start vhm run --incoming");
	dt_wait_ctl(name);
	st = status_of(name);
	cr_assert(eq(str, (char *)str_at(st, "state", NULL), "incoming"));
	cr_assert(eq(str, (char *)str_at(st, "incoming", "phase"), "waiting"));
	snprintf(d->spec, sizeof(d->spec), "tcp:%s", str_at(st, "incoming", "listen"));
	json_decref(st);
}

static void dst_start_full(struct dst *d, const char *name, const char *be_extra,
			   const char *mem, int queues)
{
	dst_start_at(d, NULL, "tcp:127.0.0.1:0", name, be_extra, mem, queues);
}

static void dst_start(struct dst *d, const char *name, const char *be_extra)
{
	dst_start_full(d, name, be_extra, NULL, 1);
}

struct connect_arg {
	const struct dst *d;
	struct mig_snet *net;
	char err[256];
};

static int do_connect(void *arg)
{
	struct connect_arg *k = arg;

	return mig_snet_connect(k->d->spec, k->net, NET_TIMEOUT_MS, k->err, sizeof(k->err));
}

/* Connected from network namespace ns (NULL: this one), header and MEMORY
 * (mem's layout) sent. */
static void src_begin_in(struct src *s, const char *ns, const struct dst *d,
			 const struct gmem *mem)
{
	struct connect_arg k = { .d = d, .net = &s->net };

	cr_assert(eq(int, ns ? ts_in_netns(ns, do_connect, &k) : do_connect(&k), 0), "%s",
		  k.err);
	mig_senc_init(&s->e, mig_snet_out, &s->net);
	cr_assert(eq(int, mig_smem_tx_init(&s->tx, &s->e, mem), 0));
	cr_assert(eq(int, mig_senc_header(&s->e), 0));
	cr_assert(eq(int, mig_smem_send_layout(&s->tx), 0));
}

static void src_begin(struct src *s, const struct dst *d, const struct gmem *mem)
{
	src_begin_in(s, NULL, d, mem);
}

static void src_end(struct src *s)
{
	mig_smem_tx_destroy(&s->tx);
	mig_snet_close(&s->net);
}

/* The destination's next answer, asserted to be `want`; its text in text. */
static void expect_answer(struct src *s, uint32_t want, char *text, size_t len)
{
	char err[256];
	uint32_t code = 0;
	int rc = mig_ack_recv(mig_snet_in, &s->net, &code, text, len, err, sizeof(err));

	cr_assert(eq(int, rc, 0), "no answer from the destination: %s", err);
	cr_assert(eq(u32, code, want), "answer %s (%s), expected %s", mig_ack_name(code), text,
		  mig_ack_name(want));
}

/* The destination exits 1 within 10 s with exactly one line saying the
 * migration failed, which names `says`. */
static void expect_failed_exit(struct dst *d, const char *says)
{
	char line[512], hit[512] = "";
	int status = 0, n = 0;
	long end = ts_now_ms() + 10000;
	bool exited;
	FILE *f;

	while (!ts_exited(d->pid, &status) && ts_now_ms() < end)
		usleep(20000);
	cr_assert(lt(i64, ts_now_ms(), end), "the destination still runs after a failed migration");
	exited = WIFEXITED(status);
	cr_assert(exited, "the destination died of signal %d", WTERMSIG(status));
	cr_assert(eq(int, WEXITSTATUS(status), 1));
	cr_assert(not(eq(ptr, f = fopen(d->log, "r"), NULL)));
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "incoming migration failed") && ++n == 1)
			snprintf(hit, sizeof(hit), "%s", line);
	fclose(f);
	cr_assert(eq(int, n, 1), "%d lines say the migration failed", n);
	cr_assert(not(eq(ptr, strstr(hit, says), NULL)), "'%s' does not say '%s'", hit, says);
}

/* 64 MiB of guest memory with a few pages of data. */
static void some_memory(struct gmem *m)
{
	char err[256];

	cr_assert(eq(int, gmem_create(m, MEM_BYTES, "sin-src", err, sizeof(err)), 0), "%s", err);
	for (uint64_t pfn = 300; pfn < 340; pfn++)
		memset(gmem_hva(m, pfn * GMEM_PAGE_SIZE, GMEM_PAGE_SIZE), (int)pfn, GMEM_PAGE_SIZE);
}

/* ---- a whole stream ------------------------------------------------------ */

/* The test's source device on testbe A: `queues` queue pairs, 2000 frames/s,
 * 2000 page writes/s. */
static void src_device(struct device *sd, int queues)
{
	char qs[8];
	const char *extra[] = { "--loopback", "--queues", qs, NULL };
	static char a[TS_PATH_MAX];
	struct dev_config c;
	char err[256];

	snprintf(qs, sizeof(qs), "%d", queues);
	cr_assert(eq(int, ts_path("sin-a.sock", a, sizeof(a)), 0));
	cr_assert(lt(int, 0, ts_testbe_start(a, extra)), "vhm-testbe on %s did not start", a);
	dev_config_defaults(&c);
	c.backend = a;
	c.name = "sin-src";
	c.mem_bytes = MEM_BYTES;
	c.queues = queues;
	c.pps = 2000;
	c.dirty_rate = 2000;
	cr_assert(eq(int, dev_open(sd, &c, err, sizeof(err)), 0), "%s", err);
}

/* What the source stood at when it stopped. */
struct handover {
	struct nd_counters tot;
	uint64_t writes, ram;
};

/* Pre-copy, stop, last copy, DEVICE, SWITCHOVER: the answer is the caller's. */
static void switch_by_hand(struct src *s, struct device *sd, struct handover *h)
{
	uint32_t bases[DEV_MAX_RINGS];
	struct mig_stream_device dev = { .features = sd->features, .nrings = (uint32_t)sd->nrings };
	uint8_t *blob = malloc(dev_state_size(sd));
	char text[MIG_ACK_TEXT_MAX + 1];

	cr_assert(eq(int, mig_smem_send_all(&s->tx), 0), "first pass");
	cr_assert(eq(int, mig_senc_pass(&s->e, 1), 0));
	expect_answer(s, MIG_ACK_READY, text, sizeof(text));
	/* the writer stops, so that RAM stays what the last pass sends */
	dev_set_dirty(sd, 0, sd->gw.pattern);
	dev_quiesce(sd, 2000);
	dev_guest_pause(sd, true);
	cr_assert(eq(int, dev_backend_stop(sd, &sd->front, bases), 0), "%s", sd->front.err);
	cr_assert(eq(int, mig_smem_send_all(&s->tx), 0), "last pass");
	cr_assert(eq(int, mig_senc_pass(&s->e, 2), 0));
	dev_state_save(sd, blob);
	memcpy(dev.bases, bases, sizeof(uint32_t) * (size_t)sd->nrings);
	memcpy(dev.mac, sd->cfg.mac, 6);
	dev.blob = blob;
	dev.blob_len = (uint32_t)dev_state_size(sd);
	cr_assert(eq(int, mig_senc_device(&s->e, &dev), 0));
	cr_assert(eq(int, mig_senc_switchover(&s->e, gmem_digest(&sd->mem, 0, 0)), 0));
	netdrv_totals(&sd->drv, &h->tot);
	h->writes = gw_writes(&sd->gw);
	h->ram = dev_ram_digest(sd);
	free(blob);
}

/* The switchover's two phases as a source plays them: READY to SWITCHOVER,
 * GO, RUNNING. */
static void commit_by_hand(struct src *s)
{
	char text[MIG_ACK_TEXT_MAX + 1];

	expect_answer(s, MIG_ACK_READY, text, sizeof(text));
	cr_assert(eq(int, mig_senc_go(&s->e), 0));
	expect_answer(s, MIG_ACK_RUNNING, text, sizeof(text));
}

/* The source device let go (its rings stopped by switch_by_hand). */
static void src_device_close(struct device *sd)
{
	dev_guest_pause(sd, false);
	dev_close(sd);
}

/* The destination's status once "running" (within 5 s). */
static json_t *running_status(const char *name)
{
	long end = ts_now_ms() + 5000;
	json_t *st = NULL;

	do {
		json_decref(st);
		st = status_of(name);
		if (!strcmp(str_at(st, "state", NULL), "running"))
			return st;
		usleep(50000);
	} while (ts_now_ms() < end);
	cr_assert(false, "the destination is %s, not running", str_at(st, "state", NULL));
	return NULL;
}

/* An "incoming" event with phase `phase` comes to subscriber c within 5 s. */
static void expect_incoming_event(struct ctl_client *c, const char *phase)
{
	long end = ts_now_ms() + 5000;
	json_t *ev = NULL;
	bool seen = false;

	while (!seen && ts_now_ms() < end &&
	       !ctl_client_next_event(c, &ev, (int)(end - ts_now_ms()))) {
		const char *name = str_at(ev, "event", NULL);
		const char *p = str_at(json_object_get(ev, "data"), "phase", NULL);

		seen = name && p && !strcmp(name, "incoming") && !strcmp(p, phase);
		json_decref(ev);
	}
	cr_assert(seen, "no \"incoming\" event with phase %s", phase);
}

struct whole_case {
	int queues;
};

ParameterizedTestParameters(stream_incoming, whole_stream_runs_the_device_on_the_destination)
{
	static struct whole_case cases[] = { { .queues = 1 }, { .queues = 2 } };

	return cr_make_param_array(struct whole_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct whole_case *wc, stream_incoming,
		  whole_stream_runs_the_device_on_the_destination, .fini = dt_fini, .timeout = 60)
{
	static struct device sd;
	struct handover h;
	struct dst d;
	struct src s;
	struct ctl_client *c, *ev;
	json_t *st, *dg, *tot;
	char ram[17];
	int status = 0;
	bool rarp, stopped;

	dst_start_full(&d, "sin-good", NULL, NULL, wc->queues);
	ev = dt_connect(d.name);
	json_decref(dt_call(ev, "subscribe", json_pack("{s:[s]}", "events", "incoming")));
	src_device(&sd, wc->queues);
	usleep(300000);           /* traffic and page writes under way */
	src_begin(&s, &d, &sd.mem);
	switch_by_hand(&s, &sd, &h);
	commit_by_hand(&s);
	cr_assert(eq(int, mig_senc_end(&s.e), 0));
	src_end(&s);
	src_device_close(&sd);
	cr_assert(lt(u64, 100, h.tot.tx_frames), "the source sent %llu frames",
		  (unsigned long long)h.tot.tx_frames);
	cr_assert(lt(u64, 100, h.writes), "the source wrote %llu pages",
		  (unsigned long long)h.writes);

	st = running_status(d.name);
	cr_assert(eq(str, (char *)str_at(st, "incoming", "phase"), "running"));
	cr_assert(eq(ptr, (void *)str_at(st, "incoming", "error"), NULL), "error: %s",
		  str_at(st, "incoming", "error"));
	rarp = json_is_true(json_object_get(json_object_get(st, "incoming"), "rarp"));
	cr_assert(rarp, "no RARP sent");
	json_decref(st);
	expect_incoming_event(ev, "running");
	ctl_client_close(ev);
	usleep(600000);           /* 2000 frames/s through testbe B: ~1200 of the 500 asked */
	st = status_of(d.name);
	tot = json_object_get(json_object_get(st, "traffic"), "total");
	cr_assert(lt(i64, (long long)h.tot.tx_frames + 500, int_at(tot, "tx_frames")),
		  "frames do not flow on: %lld sent, %llu at the handover",
		  int_at(tot, "tx_frames"), (unsigned long long)h.tot.tx_frames);
	cr_assert(lt(i64, (long long)h.tot.rx_frames + 500, int_at(tot, "rx_frames")));
	cr_assert(eq(i64, int_at(tot, "rx_lost"), 0));
	cr_assert(eq(i64, int_at(tot, "rx_dup"), 0));
	cr_assert(le(i64, 1, int_at(tot, "rx_rarp")), "the RARP never came back");
	cr_assert(eq(i64, int_at(json_object_get(st, "dirty"), "writes"), (long long)h.writes),
		  "the writer's state did not come over");
	json_decref(st);

	c = dt_connect(d.name);
	dg = dt_call(c, "digest", NULL);
	snprintf(ram, sizeof(ram), "%016llx", (unsigned long long)h.ram);
	cr_assert(eq(str, (char *)str_at(dg, "ram", NULL), ram), "RAM differs from the source's");
	json_decref(dg);
	json_decref(dt_call(c, "stop", NULL));
	ctl_client_close(c);
	for (long end = ts_now_ms() + 10000; !ts_exited(d.pid, &status) && ts_now_ms() < end;)
		usleep(20000);
	stopped = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	cr_assert(stopped, "the destination's stop failed: status 0x%x", status);
}

/* After RUNNING the device is the destination's: a source that sends no END
 * (hung, or gone) does not keep it from running, nor the status from saying
 * so; the missing END is reported once. */
Test(stream_incoming, no_end_after_running_keeps_the_device, .fini = dt_fini, .timeout = 60)
{
	static struct device sd;
	char line[512];
	struct handover h;
	struct dst d;
	struct src s;
	json_t *st;
	int n = 0;
	FILE *f;

	dst_start(&d, "sin-noend", NULL);
	src_device(&sd, 1);
	src_begin(&s, &d, &sd.mem);
	switch_by_hand(&s, &sd, &h);
	commit_by_hand(&s);
	src_device_close(&sd);
	st = running_status(d.name);   /* within 5 s, the connection still open */
	json_decref(st);
	src_end(&s);
	cr_assert(not(eq(ptr, f = fopen(d.log, "r"), NULL)));
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "after the commit") != NULL;
	fclose(f);
	cr_assert(eq(int, n, 1), "%d lines report the missing END", n);
}

/* ---- failures before the commit -------------------------------------------- */

Test(stream_incoming, stream_cut_inside_a_section_fails, .fini = dt_fini, .timeout = 30)
{
	static struct gmem m;
	/* a PAGES section's header, and 2 bytes of its 4112 */
	const uint8_t cut[] = { 2, 0, 0, 0, 0x10, 0x10, 0, 0, 0x2c, 0x01 };
	char text[MIG_ACK_TEXT_MAX + 1];
	struct dst d;
	struct src s;

	dst_start(&d, "sin-cut", NULL);
	some_memory(&m);
	src_begin(&s, &d, &m);
	expect_answer(&s, MIG_ACK_READY, text, sizeof(text));
	cr_assert(eq(int, mig_snet_out(&s.net, cut, sizeof(cut)), 0));
	shutdown(s.net.fd, SHUT_WR);
	expect_answer(&s, MIG_ACK_FAILED, text, sizeof(text));
	cr_assert(not(eq(ptr, strstr(text, "truncated"), NULL)), "FAILED says: %s", text);
	src_end(&s);
	expect_failed_exit(&d, "inside section PAGES");
	gmem_destroy(&m);
}

Test(stream_incoming, connection_closed_before_device_fails, .fini = dt_fini, .timeout = 30)
{
	static struct gmem m;
	char text[MIG_ACK_TEXT_MAX + 1];
	struct dst d;
	struct src s;

	dst_start(&d, "sin-close", NULL);
	some_memory(&m);
	src_begin(&s, &d, &m);
	expect_answer(&s, MIG_ACK_READY, text, sizeof(text));
	cr_assert(eq(int, mig_smem_send_all(&s.tx), 0));
	cr_assert(eq(int, mig_senc_pass(&s.e, 1), 0));
	src_end(&s);
	expect_failed_exit(&d, "no END section");
	gmem_destroy(&m);
}

Test(stream_incoming, digest_not_the_destinations_fails, .fini = dt_fini, .timeout = 30)
{
	static struct gmem m;
	const struct mig_stream_device dev = { .nrings = 2 };
	char text[MIG_ACK_TEXT_MAX + 1];
	struct dst d;
	struct src s;

	dst_start(&d, "sin-digest", NULL);
	some_memory(&m);
	src_begin(&s, &d, &m);
	expect_answer(&s, MIG_ACK_READY, text, sizeof(text));
	cr_assert(eq(int, mig_smem_send_all(&s.tx), 0));
	cr_assert(eq(int, mig_senc_device(&s.e, &dev), 0));
	cr_assert(eq(int, mig_senc_switchover(&s.e, gmem_digest(&m, 0, 0) ^ 1), 0));
	expect_answer(&s, MIG_ACK_FAILED, text, sizeof(text));
	cr_assert(not(eq(ptr, strstr(text, "digests differ"), NULL)), "FAILED says: %s", text);
	src_end(&s);
	expect_failed_exit(&d, "digests differ");
	gmem_destroy(&m);
}

Test(stream_incoming, backend_refusing_the_memory_table_fails, .fini = dt_fini, .timeout = 30)
{
	static struct gmem m;
	char text[MIG_ACK_TEXT_MAX + 1];
	struct dst d;
	struct src s;

	dst_start(&d, "sin-refuse", "--misbehave=refuse:SET_MEM_TABLE");
	some_memory(&m);
	src_begin(&s, &d, &m);
	expect_answer(&s, MIG_ACK_FAILED, text, sizeof(text));
	cr_assert(not(eq(ptr, strstr(text, "SET_MEM_TABLE"), NULL)), "FAILED says: %s", text);
	src_end(&s);
	expect_failed_exit(&d, "SET_MEM_TABLE");
	gmem_destroy(&m);
}

Test(stream_incoming, device_not_the_destinations_fails, .fini = dt_fini, .timeout = 30)
{
	static struct gmem m;
	const struct mig_stream_device dev = { .nrings = 2, .features = 1ull << 32 };
	char text[MIG_ACK_TEXT_MAX + 1];
	struct dst d;
	struct src s;

	dst_start(&d, "sin-feat", NULL);
	some_memory(&m);
	src_begin(&s, &d, &m);
	expect_answer(&s, MIG_ACK_READY, text, sizeof(text));
	cr_assert(eq(int, mig_smem_send_all(&s.tx), 0));
	cr_assert(eq(int, mig_senc_device(&s.e, &dev), 0));
	cr_assert(eq(int, mig_senc_switchover(&s.e, gmem_digest(&m, 0, 0)), 0));
	expect_answer(&s, MIG_ACK_FAILED, text, sizeof(text));
	cr_assert(not(eq(ptr, strstr(text, "acked features 0x100000000"), NULL)), "FAILED says: %s",
		  text);
	src_end(&s);
	expect_failed_exit(&d, "acked features");
	gmem_destroy(&m);
}

Test(stream_incoming, memory_not_the_destinations_mem_fails, .fini = dt_fini, .timeout = 30)
{
	static struct gmem m;
	char text[MIG_ACK_TEXT_MAX + 1];
	struct dst d;
	struct src s;

	dst_start_full(&d, "sin-mem", NULL, "128M", 1);
	some_memory(&m);
	src_begin(&s, &d, &m);
	expect_answer(&s, MIG_ACK_FAILED, text, sizeof(text));
	cr_assert(not(eq(ptr, strstr(text, "64 MiB"), NULL)), "FAILED says: %s", text);
	src_end(&s);
	expect_failed_exit(&d, "--mem says 128 MiB");
	gmem_destroy(&m);
}

Test(stream_incoming, backend_refusing_the_rings_fails, .fini = dt_fini, .timeout = 60)
{
	static struct device sd;
	char text[MIG_ACK_TEXT_MAX + 1];
	struct handover h;
	struct dst d;
	struct src s;

	dst_start(&d, "sin-rings", "--misbehave=refuse:SET_VRING_BASE@1");
	src_device(&sd, 1);
	src_begin(&s, &d, &sd.mem);
	switch_by_hand(&s, &sd, &h);
	expect_answer(&s, MIG_ACK_FAILED, text, sizeof(text));
	cr_assert(not(eq(ptr, strstr(text, "SET_VRING_BASE"), NULL)), "FAILED says: %s", text);
	src_end(&s);
	src_device_close(&sd);
	expect_failed_exit(&d, "setting up the rings");
}

/* READY answered to SWITCHOVER, and no GO: the destination waits
 * MIG_IN_GO_WAIT_MS (3 s) saying "switching", never "running", then
 * answers FAILED, discards everything and exits 1 -- it never started. */
Test(stream_incoming, ready_without_go_never_starts, .fini = dt_fini, .timeout = 60)
{
	static struct device sd;
	char text[MIG_ACK_TEXT_MAX + 1];
	struct handover h;
	struct dst d;
	struct src s;
	json_t *st;
	long t0;

	dst_start(&d, "sin-nogo", NULL);
	src_device(&sd, 1);
	src_begin(&s, &d, &sd.mem);
	switch_by_hand(&s, &sd, &h);
	expect_answer(&s, MIG_ACK_READY, text, sizeof(text));
	t0 = ts_now_ms();
	st = status_of(d.name);
	cr_assert(eq(str, (char *)str_at(st, "state", NULL), "incoming"));
	cr_assert(eq(str, (char *)str_at(st, "incoming", "phase"), "switching"));
	json_decref(st);
	expect_answer(&s, MIG_ACK_FAILED, text, sizeof(text));
	cr_assert(not(eq(ptr, strstr(text, "no GO"), NULL)), "FAILED says: %s", text);
	/* it waited (t0 is a little after its wait began: a little under 3 s) */
	cr_assert(le(i64, 2500, ts_now_ms() - t0), "FAILED %ld ms after READY",
		  ts_now_ms() - t0);
	src_end(&s);
	src_device_close(&sd);
	expect_failed_exit(&d, "nothing was started");
}

/* The source's host stops answering mid pre-copy (its side of a veth link
 * between two network namespaces set down): the destination, which has
 * nothing to send, finds it by TCP keepalive within MIG_SNET_LIVE_MS (5 s)
 * plus a probe interval -- not at its 30 s read timeout -- and exits 1
 * naming the silence. */
static char ns_a[32], ns_b[32];   /* the two "hosts", while they exist */

static void ns_fini(void)
{
	if (ns_a[0])
		ts_netns_pair_del(ns_a, ns_b);
	ns_a[0] = '\0';
	dt_fini();
}

Test(stream_incoming, source_host_silent_mid_precopy_fails_in_seconds, .fini = ns_fini,
     .timeout = 60)
{
	static struct gmem m;
	char text[MIG_ACK_TEXT_MAX + 1];
	const char *skip = NULL, *na = ns_a, *nb = ns_b;
	struct dst d;
	struct src s;
	long cut;
	int rc;

	snprintf(ns_a, sizeof(ns_a), "vhmiA-%d", (int)getpid());
	snprintf(ns_b, sizeof(ns_b), "vhmiB-%d", (int)getpid());
	rc = ts_netns_pair(na, nb, "sin-a", "sin-b", "10.76.0.1", "10.76.0.2", &skip);
	if (rc == 1) {
		ns_a[0] = '\0';
		cr_skip_test("%s", skip);
	}
	cr_assert(eq(int, rc, 0), "the veth pair between %s and %s", na, nb);
	dst_start_at(&d, nb, "tcp:10.76.0.2:0", "sin-silent", NULL, NULL, 1);
	some_memory(&m);
	src_begin_in(&s, na, &d, &m);
	expect_answer(&s, MIG_ACK_READY, text, sizeof(text));
	cr_assert(eq(int, mig_smem_send_all(&s.tx), 0));
	cr_assert(eq(int, mig_senc_pass(&s.e, 1), 0));
	usleep(200000);           /* the pages arrived: the source is now only silent */
	cut = ts_now_ms();
	cr_assert(eq(int, ts_sh("ip -n %s link set sin-a down", na), 0));
	expect_failed_exit(&d, "no data from the source");
	cr_log_info("destination gone %ld ms after the cut", ts_now_ms() - cut);
	cr_assert(le(i64, ts_now_ms() - cut, 9000), "the destination noticed the cut after "
		  "%ld ms", ts_now_ms() - cut);
	src_end(&s);
	gmem_destroy(&m);
}

/* ---- before any source ------------------------------------------------------ */

Test(stream_incoming, waiting_answers_status_refuses_the_rest_and_stops, .fini = dt_fini,
     .timeout = 30)
{
	const char *bad[] = { "run", "--incoming", "tcp:127.0.0.1", "--backend", "x.sock", NULL };
	struct ctl_client *c;
	json_t *ret = NULL, *qs, *args;
	char err[256];
	int status = 0, rc;
	bool stopped;
	struct dst d;

	dt_vhm_refuses(bad, 2, "--incoming");
	dst_start(&d, "sin-wait", NULL);
	c = dt_connect(d.name);
	qs = dt_call(c, "query-status", NULL);
	cr_assert(eq(str, (char *)str_at(qs, "status", NULL), "inmigrate"));
	json_decref(qs);
	args = json_pack("{s:i}", "pps", 10);
	rc = ctl_client_call(c, "set-traffic", args, &ret, err, sizeof(err), 5000);
	json_decref(args);
	cr_assert(lt(int, rc, 0), "set-traffic answered without a device");
	cr_assert(not(eq(ptr, strstr(err, "no device yet"), NULL)), "refusal says: %s", err);
	json_decref(dt_call(c, "stop", NULL));
	ctl_client_close(c);
	for (long end = ts_now_ms() + 10000; !ts_exited(d.pid, &status) && ts_now_ms() < end;)
		usleep(20000);
	stopped = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	cr_assert(stopped, "stopped while waiting: status 0x%x", status);
}
