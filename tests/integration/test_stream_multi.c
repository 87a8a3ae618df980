/* SPDX-License-Identifier: MIT */
/* A migration stream over several connections (`vhm migrate --connections
 * N`), between `vhm run` processes on vhm-testbe backends over loopback.
 * Four connections, then one: the device goes A -> B with four, then B ->
 * C with one; each report is proved (the destination found the source's
 * digest), says its connection count, and its per-connection bytes add up
 * to the stream's; over the guest's whole life nothing was lost. A page
 * connection cut mid pre-copy (by the test's own TCP proxy) fails the
 * migration: the device runs on its source, whole, and the destination
 * says which connection broke. The destination refuses what is not one of
 * the migration's connections (a raw connection with a bad hello, another
 * migration's id: answered FAILED, closed, the wait goes on), a run on a
 * connection that does not own its stripe, and a connection count it does
 * not take; so do the command line and the control socket. The bandwidth
 * cap holds over the sum of the connections. Suite stream_multi. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "devtest.h"
#include "gmem.h"
#include "mig_smem.h"
#include "mig_snet.h"
#include "mig_stream.h"
#include "support.h"

#define NET_TIMEOUT_MS 5000

static json_t *status_of(const char *name)
{
	struct ctl_client *c = dt_connect(name);
	json_t *st = dt_call(c, "status", NULL);

	ctl_client_close(c);
	return st;
}

/* A wait status' exit code; -1 when it did not exit (a signal). */
static int exit_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* o as compact JSON, for a message (a static buffer: one use at a time). */
static const char *text_of(const json_t *o)
{
	static char buf[4096];
	size_t n = json_dumpb(o, buf, sizeof(buf) - 1, JSON_COMPACT);

	buf[n < sizeof(buf) - 1 ? n : sizeof(buf) - 1] = '\0';
	return buf;
}

static const char *field(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

/* `vhm run --incoming tcp:127.0.0.1:0 --backend B --name NAME`; its stream
 * address ("tcp:ADDR:PORT", from its status) into to. */
static pid_t start_incoming(const char *name, const char *backend, char *to, size_t len)
{
	char bin[256], log[TS_PATH_MAX + 16];
	const char *argv[] = { bin, "run", "--incoming", "tcp:127.0.0.1:0", "--backend", backend,
			       "--name", name, "--run-dir", ts_dir(), "--interval", "200ms",
			       "--duration", "120s", NULL };
	json_t *st;
	pid_t pid;

	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/%s.log", ts_dir(), name);
	pid = ts_spawn(argv, log);
	cr_assert(lt(int, 0, pid), "cannot start vhm run --incoming");
	dt_wait_ctl(name);
	st = status_of(name);
	cr_assert(eq(str, (char *)field(st, "state"), "incoming"));
	snprintf(to, len, "tcp:%s", field(json_object_get(st, "incoming"), "listen"));
	json_decref(st);
	return pid;
}

/* A third vhm-testbe --loopback, <ts_dir>/NAME.sock, its path into sock. */
static void testbe_at(const char *name, char *sock, size_t len)
{
	const char *extra[] = { "--loopback", NULL };
	char file[64];

	snprintf(file, sizeof(file), "%s.sock", name);
	cr_assert(eq(int, ts_path(file, sock, len), 0));
	cr_assert(lt(int, 0, ts_testbe_start(sock, extra)), "vhm-testbe on %s did not start", sock);
}

/* `vhm migrate NAME --to TO --connections N --json [--bandwidth BW]` run to
 * its end: its exit code, and its last JSON line (the report, or the
 * error) into *last (new reference). */
static int migrate_json(const char *name, const char *to, const char *n, const char *bw,
			json_t **last)
{
	char bin[256];
	const char *argv[] = { bin, "migrate", name, "--to", to, "--connections", n, "--json",
			       "--run-dir", ts_dir(), bw ? "--bandwidth" : NULL, bw, NULL };
	struct ts_run r;
	const char *p, *line;
	int ex;

	ts_bin("vhm", bin, sizeof(bin));
	cr_assert(eq(int, ts_run_cmd(argv, 60000, &r), 0), "vhm migrate did not run to its end");
	ex = r.status;
	for (p = line = r.out; (p = strchr(p, '\n')) && p[1]; line = ++p)
		;
	*last = json_loads(line, 0, NULL);
	if (!*last)
		*last = json_pack("{s:s}", "unparsed", r.out);
	cr_log_info("migrate --connections %s: exit %d, stderr %s", n, ex, r.err);
	ts_run_free(&r);
	return ex;
}

/* The report of a migration that ran over n connections: proved, the
 * count, each connection's bytes (above min each) adding up to the
 * stream's. */
static void expect_stream_report(json_t *rep, int n, long long min)
{
	const json_t *st, *per, *v;
	long long sum = 0;
	size_t i;

	cr_assert(eq(str, (char *)field(rep, "phase"), "done"), "%s",
		  text_of(rep));
	cr_assert(eq(int, json_is_true(json_object_get(rep, "verified")), 1), "not proved");
	cr_assert(eq(str, (char *)field(json_object_get(rep, "digest"), "source"),
		     (char *)field(json_object_get(rep, "digest"), "destination")));
	st = json_object_get(rep, "stream");
	per = json_object_get(st, "per_connection");
	cr_assert(eq(int, (int)json_integer_value(json_object_get(st, "connections")), n));
	cr_assert(eq(sz, json_array_size(per), (size_t)n));
	json_array_foreach(per, i, v) {
		cr_assert(lt(i64, min, json_integer_value(v)), "connection %zu carried %lld bytes",
			  i, (long long)json_integer_value(v));
		sum += json_integer_value(v);
	}
	cr_assert(eq(i64, sum, json_integer_value(json_object_get(st, "bytes"))),
		  "per-connection bytes add up to %lld, the stream's are %lld", sum,
		  (long long)json_integer_value(json_object_get(st, "bytes")));
	cr_log_info("%d connections: %lld bytes, %.1f MiB/s", n, sum,
		    json_number_value(json_object_get(st, "rate_mib_s")));
}

/* Stop `name` (pid) and read its summary: over min_tx frames, all back once. */
static void stop_expect_whole(const char *name, pid_t pid, unsigned long long min_tx)
{
	struct ctl_client *c = dt_connect(name);
	int st = -1;

	json_decref(dt_call(c, "stop", NULL));
	ctl_client_close(c);
	for (int i = 0; i < 100 && !ts_exited(pid, &st); i++)
		usleep(100000);
	cr_assert(eq(int, exit_code(st), 0), "%s: status 0x%x", name, st);
	dt_expect_whole_run(name, min_tx);
}

/* A -> B over four connections, then B -> C over one: both proved, the
 * figures add up, the guest's counters (carried through both streams) say
 * nothing was lost or duplicated in its whole life. */
Test(stream_multi, four_connections_then_one, .fini = dt_fini, .timeout = 60)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], c[TS_PATH_MAX], to_b[96], to_c[96];
	json_t *rep, *st;
	pid_t src, mid, dst;

	src = dt_run_on_testbe("sm-a", "64M", a, b, sizeof(a));
	testbe_at("sm-c-be", c, sizeof(c));
	mid = start_incoming("sm-b", b, to_b, sizeof(to_b));
	dst = start_incoming("sm-c", c, to_c, sizeof(to_c));
	cr_assert(eq(int, migrate_json("sm-a", to_b, "4", NULL, &rep), 0), "%s",
		  text_of(rep));
	expect_stream_report(rep, 4, 1 << 20);
	json_decref(rep);
	/* the destination answered RUNNING from its incoming thread; its main
	 * loop takes the device over next (under ASan, after the source's
	 * report once) */
	st = status_of("sm-b");
	for (int i = 0; i < 60 && strcmp(field(st, "state"), "running"); i++) {
		json_decref(st);
		usleep(50000);
		st = status_of("sm-b");
	}
	cr_assert(eq(str, (char *)field(st, "state"), "running"));
	cr_assert(eq(int, (int)json_integer_value(json_object_get(json_object_get(st, "incoming"),
								   "connections")), 4));
	json_decref(st);
	usleep(300000);            /* the guest runs a while on B */
	cr_assert(eq(int, migrate_json("sm-b", to_c, "1", NULL, &rep), 0), "%s",
		  text_of(rep));
	expect_stream_report(rep, 1, 1 << 20);
	json_decref(rep);
	stop_expect_whole("sm-c", dst, 5000);
	stop_expect_whole("sm-b", mid, 0);
	stop_expect_whole("sm-a", src, 0);
}

/* ---- a proxy that cuts one connection ------------------------------------ */

#define PROXY_CONNS 8

/* Between the source and the destination: every connection accepted is
 * relayed to `up`; the one accepted `victim`-th (0: the main connection)
 * is closed both ways once `cut_after` bytes went through it. */
struct proxy {
	int lfd, port;
	struct sockaddr_in up;
	int victim;
	size_t cut_after;
	pthread_t thread;
	bool stop, cut;            /* atomics */
	int fds[PROXY_CONNS][2];   /* [k][0] the source's end, [k][1] the destination's */
	size_t through[PROXY_CONNS];
	int n;
};

static void proxy_close(struct proxy *p, int k)
{
	for (int s = 0; s < 2; s++)
		if (p->fds[k][s] >= 0)
			close(p->fds[k][s]);
	p->fds[k][0] = p->fds[k][1] = -1;
}

static void proxy_accept(struct proxy *p)
{
	int fd = accept(p->lfd, NULL, NULL), up;

	if (fd < 0)
		return;
	up = socket(AF_INET, SOCK_STREAM, 0);
	if (p->n == PROXY_CONNS || up < 0 ||
	    connect(up, (struct sockaddr *)&p->up, sizeof(p->up))) {
		close(fd);
		if (up >= 0)
			close(up);
		return;
	}
	p->fds[p->n][0] = fd;
	p->fds[p->n][1] = up;
	p->n++;
}

/* All n bytes to fd (a signal may cut a blocking send short): 0 or -1. */
static int send_all(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Relay what fd s of connection k has to its other end. */
static void proxy_relay(struct proxy *p, int k, int s)
{
	char buf[65536];
	ssize_t r = read(p->fds[k][s], buf, sizeof(buf));

	if (r < 0 && errno == EINTR)
		return;
	if (r <= 0 || send_all(p->fds[k][!s], buf, (size_t)r)) {
		proxy_close(p, k);
		return;
	}
	p->through[k] += (size_t)r;
	if (k == p->victim && p->through[k] >= p->cut_after) {
		proxy_close(p, k);
		__atomic_store_n(&p->cut, true, __ATOMIC_RELEASE);
	}
}

static void *proxy_main(void *arg)
{
	struct proxy *p = arg;

	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pf[1 + 2 * PROXY_CONNS] = { { .fd = p->lfd, .events = POLLIN } };
		int n = 1;

		for (int k = 0; k < p->n; k++)
			for (int s = 0; s < 2; s++)
				pf[n++] = (struct pollfd){ .fd = p->fds[k][s], .events = POLLIN };
		if (poll(pf, (nfds_t)n, 50) <= 0)
			continue;
		if (pf[0].revents & POLLIN)
			proxy_accept(p);
		for (int i = 1; i < n; i++)
			if (pf[i].revents && pf[i].fd >= 0 && p->fds[(i - 1) / 2][(i - 1) % 2] >= 0)
				proxy_relay(p, (i - 1) / 2, (i - 1) % 2);
	}
	for (int k = 0; k < p->n; k++)
		proxy_close(p, k);
	return NULL;
}

/* A proxy on 127.0.0.1 (its port in p->port) to the destination `to`. */
static void proxy_start(struct proxy *p, const char *to, int victim, size_t cut_after)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	*p = (struct proxy){ .victim = victim, .cut_after = cut_after };
	memset(p->fds, -1, sizeof(p->fds));
	p->up = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				      .sin_port = htons((uint16_t)atoi(strrchr(to, ':') + 1)) };
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(lt(int, -1, p->lfd));
	cr_assert(eq(int, bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0));
	cr_assert(eq(int, listen(p->lfd, 16), 0));
	getsockname(p->lfd, (struct sockaddr *)&sa, &sl);
	p->port = ntohs(sa.sin_port);
	cr_assert(eq(int, pthread_create(&p->thread, NULL, proxy_main, p), 0));
}

static void proxy_stop(struct proxy *p)
{
	__atomic_store_n(&p->stop, true, __ATOMIC_RELEASE);
	pthread_join(p->thread, NULL);
	close(p->lfd);
}

/* Page connection 2 of 4 cut by the proxy mid pre-copy (a capped stream:
 * the first pass takes seconds): the migration fails naming page
 * connection 2 (the destination's FAILED answer, or the source's own write
 * error), the device runs on A with nothing lost, the destination exits 1
 * with its one line. */
Test(stream_multi, page_connection_cut_rolls_back, .fini = dt_fini, .timeout = 60)
{
	char a[TS_PATH_MAX], b[TS_PATH_MAX], to[96], via[64];
	struct proxy px;
	json_t *rep, *st;
	pid_t src, dst;
	int ex, status = -1;

	src = dt_run_on_testbe("sm-k", "64M", a, b, sizeof(a));
	dst = start_incoming("sm-kd", b, to, sizeof(to));
	proxy_start(&px, to, 2, 1 << 20);
	snprintf(via, sizeof(via), "tcp:127.0.0.1:%d", px.port);
	ex = migrate_json("sm-k", via, "4", "8M", &rep);
	proxy_stop(&px);
	cr_assert(px.cut, "the proxy never cut connection 2 (%d connections)", px.n);
	cr_assert(eq(int, px.n, 4), "the proxy saw %d connections", px.n);
	cr_assert(eq(int, ex, 1), "vhm migrate exit %d: %s", ex, text_of(rep));
	cr_assert(not(eq(ptr, strstr(field(rep, "error"), "page connection 2"), NULL)),
		  "the failure does not name page connection 2: %s", text_of(rep));
	cr_log_info("cut: %s", field(rep, "error"));
	json_decref(rep);
	for (int i = 0; i < 100 && !ts_exited(dst, &status); i++)
		usleep(50000);
	cr_assert(eq(int, exit_code(status), 1), "the destination: 0x%x", status);
	cr_assert(eq(int, ts_sh("grep -q 'incoming migration failed: ' %s/sm-kd.log", ts_dir()),
		     0), "the destination did not say why it failed (%s/sm-kd.log)", ts_dir());
	st = status_of("sm-k");
	cr_assert(eq(str, (char *)field(st, "state"), "running"));
	cr_assert(eq(str, (char *)field(st, "backend"), a));
	json_decref(st);
	stop_expect_whole("sm-k", src, 10000);
}

/* ---- the destination refusing connections -------------------------------- */

/* The main connection played by hand: header with the CHANNELS flag,
 * MEMORY (64 MiB laid out as gmem lays it out), CHANNELS {id, count}. */
static void main_begin(struct mig_snet *c, const char *to, struct gmem *mem, uint64_t id,
		       uint32_t count)
{
	struct mig_stream_chan ch = { .id = id, .count = count };
	struct mig_senc e;
	struct mig_smem_tx tx;
	char err[256];

	cr_assert(eq(int, gmem_create(mem, 64ull << 20, "sm-f", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, mig_snet_connect(to, c, NET_TIMEOUT_MS, err, sizeof(err)), 0), "%s",
		  err);
	mig_senc_init(&e, mig_snet_out, c);
	e.flags = MIG_STREAM_F_CHANNELS;
	cr_assert(eq(int, mig_smem_tx_init(&tx, &e, mem), 0));
	cr_assert(eq(int, mig_senc_header(&e), 0));
	cr_assert(eq(int, mig_smem_send_layout(&tx), 0));
	cr_assert(eq(int, mig_senc_channels(&e, &ch), 0));
	mig_smem_tx_destroy(&tx);
}

/* The answer on c: `want`, and its text containing says (NULL: any). */
static void expect_answer(struct mig_snet *c, uint32_t want, const char *says)
{
	char text[MIG_ACK_TEXT_MAX + 1] = "", err[256];
	uint32_t code = 0;

	cr_assert(eq(int, mig_ack_recv(mig_snet_in, c, &code, text, sizeof(text), err,
				       sizeof(err)), 0), "no answer: %s", err);
	cr_assert(eq(u32, code, want), "answer %s (%s)", mig_ack_name(code), text);
	if (says)
		cr_assert(not(eq(ptr, strstr(text, says), NULL)), "'%s' does not say '%s'", text,
			  says);
}

/* A connection that sends `len` bytes of `hello`, answered FAILED naming
 * `says`, then closed by the destination. */
static void foreign_refused(const char *to, const void *hello, size_t len, const char *says)
{
	struct mig_snet c;
	char err[256], b;

	cr_assert(eq(int, mig_snet_connect(to, &c, NET_TIMEOUT_MS, err, sizeof(err)), 0));
	cr_assert(eq(int, mig_snet_out(&c, hello, len), 0));
	expect_answer(&c, MIG_ACK_FAILED, says);
	cr_assert(eq(i64, mig_snet_in(&c, &b, 1), 0), "the refused connection stays open");
	mig_snet_close(&c);
}

/* The page connections' wait: a raw connection with a bad hello and a hello
 * with another migration's id are refused one by one, the migration still
 * waits (phase receiving); the real page connection then gets READY on the
 * main connection. A run on it that is not its stripe fails the migration,
 * the reason answered on the main connection. */
Test(stream_multi, foreign_page_connection_is_refused, .fini = dt_fini, .timeout = 30)
{
	char b[TS_PATH_MAX], to[96];
	struct mig_stream_chan other = { .id = 99, .count = 2, .index = 1 }, ours = other;
	struct mig_snet main_c, page;
	struct mig_senc e;
	struct gmem mem;
	char err[256];
	json_t *st;

	testbe_at("sm-f-b", b, sizeof(b));
	start_incoming("sm-f", b, to, sizeof(to));
	main_begin(&main_c, to, &mem, 42, 2);
	foreign_refused(to, "GET / HTTP/1.0\r\nHost: x\r\n\r\n", 28, "bad hello");
	{
		struct mig_snet c;

		cr_assert(eq(int, mig_snet_connect(to, &c, NET_TIMEOUT_MS, err, sizeof(err)), 0));
		mig_senc_init(&e, mig_snet_out, &c);
		cr_assert(eq(int, mig_senc_hello(&e, &other), 0));
		expect_answer(&c, MIG_ACK_FAILED, "another migration's");
		mig_snet_close(&c);
	}
	st = status_of("sm-f");
	cr_assert(eq(str, (char *)field(json_object_get(st, "incoming"), "phase"), "receiving"));
	json_decref(st);
	ours.id = 42;
	cr_assert(eq(int, mig_snet_connect(to, &page, NET_TIMEOUT_MS, err, sizeof(err)), 0));
	mig_senc_init(&e, mig_snet_out, &page);
	cr_assert(eq(int, mig_senc_hello(&e, &ours), 0));
	expect_answer(&main_c, MIG_ACK_READY, NULL);
	/* a run of the main connection's stripe on page connection 1: refused,
	 * and the reason comes back on the main connection */
	cr_assert(eq(int, mig_senc_zero(&e, 0, 1), 0));
	expect_answer(&main_c, MIG_ACK_FAILED, "on page connection 1: not its stripe");
	mig_snet_close(&page);
	mig_snet_close(&main_c);
	gmem_destroy(&mem);
}

/* A page connection closed in the middle of a PAGES section: the reason
 * the destination answers names that connection. */
Test(stream_multi, page_connection_cut_inside_pages_is_named, .fini = dt_fini, .timeout = 30)
{
	static uint8_t page[GMEM_PAGE_SIZE];
	struct mig_stream_chan ours = { .id = 5, .count = 2, .index = 1 };
	char b[TS_PATH_MAX], to[96], err[256];
	struct mig_snet main_c, pc;
	struct mig_senc e;
	struct gmem mem;

	testbe_at("sm-p-b", b, sizeof(b));
	start_incoming("sm-p", b, to, sizeof(to));
	main_begin(&main_c, to, &mem, 5, 2);
	cr_assert(eq(int, mig_snet_connect(to, &pc, NET_TIMEOUT_MS, err, sizeof(err)), 0));
	mig_senc_init(&e, mig_snet_out, &pc);
	cr_assert(eq(int, mig_senc_hello(&e, &ours), 0));
	expect_answer(&main_c, MIG_ACK_READY, NULL);
	/* a PAGES section of 2 pages at stripe 1's first page (its header by
	 * hand, little-endian), one page of bytes, and the connection closed */
	uint8_t h[24] = { MIG_SEC_PAGES, 0, 0, 0 };
	uint32_t len = 16 + 2 * GMEM_PAGE_SIZE;
	uint64_t pfn = MIG_SMEM_STRIPE;

	for (int i = 0; i < 4; i++)
		h[4 + i] = (uint8_t)(len >> (8 * i));
	for (int i = 0; i < 8; i++)
		h[8 + i] = (uint8_t)(pfn >> (8 * i));
	h[16] = 2;
	cr_assert(eq(int, mig_snet_out(&pc, h, sizeof(h)), 0));
	cr_assert(eq(int, mig_snet_out(&pc, page, sizeof(page)), 0));
	mig_snet_close(&pc);
	expect_answer(&main_c, MIG_ACK_FAILED, "page connection 1: stream truncated");
	cr_log_info("cut inside PAGES: answered FAILED naming page connection 1");
	mig_snet_close(&main_c);
	gmem_destroy(&mem);
}

/* A CHANNELS section asking for more connections than a stream takes:
 * FAILED on the main connection, naming the count. */
Test(stream_multi, connection_count_is_refused, .fini = dt_fini, .timeout = 30)
{
	char b[TS_PATH_MAX], to[96];
	struct mig_snet main_c;
	struct gmem mem;

	testbe_at("sm-n-b", b, sizeof(b));
	start_incoming("sm-n", b, to, sizeof(to));
	main_begin(&main_c, to, &mem, 7, MIG_STREAM_CONNS_MAX + 1);
	expect_answer(&main_c, MIG_ACK_FAILED, "asks for 17 connections");
	mig_snet_close(&main_c);
	gmem_destroy(&mem);
}

/* The command line and the control socket refuse a count out of 1..16, and
 * several connections to a destination that is not a stream. */
Test(stream_multi, bad_counts_are_refused, .fini = dt_fini, .timeout = 30)
{
	const char *zero[] = { "migrate", "x", "--to", "tcp:127.0.0.1:1", "--connections", "0",
			       "--run-dir", ts_dir(), NULL };
	const char *many[] = { "migrate", "x", "--to", "tcp:127.0.0.1:1", "--connections", "17",
			       "--run-dir", ts_dir(), NULL };
	const char *local[] = { "migrate", "x", "--to", "/tmp/b.sock", "--connections", "2",
				"--run-dir", ts_dir(), NULL };

	dt_vhm_refuses(zero, 2, "--connections '0': expected 1..16");
	dt_vhm_refuses(many, 2, "--connections '17': expected 1..16");
	dt_vhm_refuses(local, 2, "only a tcp:HOST:PORT destination takes several");
}

/* ---- the bandwidth cap over all connections ---------------------------------- */

#define CAP_CONNS 3
#define CAP_EACH  (1u << 20)          /* bytes each connection writes */
#define CAP_RATE  (8ull << 20)        /* bytes/s, shared */
#define CAP_CHUNK 65536u              /* bytes a write */

struct cap_writer {
	struct mig_snet c;
	pthread_t t;
	int rc;
};

static void *cap_write(void *arg)
{
	static uint8_t chunk[CAP_CHUNK];
	struct cap_writer *w = arg;

	for (size_t n = 0; n < CAP_EACH && !w->rc; n += sizeof(chunk))
		w->rc = mig_snet_out(&w->c, chunk, sizeof(chunk));
	return NULL;
}

/* Three connections sharing one cap write 3 MiB in all: at 8 MiB/s that
 * takes at least the time of 3 MiB less one chunk a connection (a write
 * goes out before its sleep), 351 ms -- not the 117 ms of the 1 MiB each
 * writes, as separate caps would give (every byte read on the other end). */
Test(stream_multi, bandwidth_cap_is_the_sum, .timeout = 30)
{
	struct mig_snet_cap cap = { .bandwidth = CAP_RATE };
	struct cap_writer w[CAP_CONNS];
	struct mig_snet in[CAP_CONNS];
	char bound[64], spec[80], err[256], buf[65536];
	size_t got = 0;
	long t0, ms;
	int lfd;

	cr_assert(eq(int, mig_snet_listen("tcp:127.0.0.1:0", &lfd, bound, sizeof(bound), err,
					  sizeof(err)), 0), "%s", err);
	snprintf(spec, sizeof(spec), "tcp:%s", bound);
	for (int i = 0; i < CAP_CONNS; i++) {
		w[i] = (struct cap_writer){ .rc = 0 };
		cr_assert(eq(int, mig_snet_connect(spec, &w[i].c, NET_TIMEOUT_MS, err, sizeof(err)),
			     0), "%s", err);
		cr_assert(eq(int, mig_snet_accept(lfd, &in[i], NET_TIMEOUT_MS, err, sizeof(err)), 0));
		w[i].c.shared = &cap;
	}
	t0 = ts_now_ms();
	for (int i = 0; i < CAP_CONNS; i++)
		cr_assert(eq(int, pthread_create(&w[i].t, NULL, cap_write, &w[i]), 0));
	while (got < (size_t)CAP_CONNS * CAP_EACH) {
		struct pollfd pf[CAP_CONNS];

		for (int i = 0; i < CAP_CONNS; i++)
			pf[i] = (struct pollfd){ .fd = in[i].fd, .events = POLLIN };
		cr_assert(lt(int, 0, poll(pf, CAP_CONNS, NET_TIMEOUT_MS)), "the writers stalled");
		for (int i = 0; i < CAP_CONNS; i++)
			if (pf[i].revents & POLLIN) {
				long r = mig_snet_in(&in[i], buf, sizeof(buf));

				cr_assert(lt(i64, 0, r), "connection %d ended early", i);
				got += (size_t)r;
			}
	}
	ms = ts_now_ms() - t0;
	for (int i = 0; i < CAP_CONNS; i++) {
		pthread_join(w[i].t, NULL);
		cr_assert(eq(int, w[i].rc, 0));
		mig_snet_close(&w[i].c);
		mig_snet_close(&in[i]);
	}
	close(lfd);
	cr_assert(le(i64, (long)((double)CAP_CONNS * (CAP_EACH - CAP_CHUNK) * 1000 / CAP_RATE), ms),
		  "%d connections wrote %u bytes each in %ld ms under a shared %llu B/s cap",
		  CAP_CONNS, CAP_EACH, ms, CAP_RATE);
	cr_log_info("3 MiB over 3 connections under 8 MiB/s: %ld ms", ms);
}
