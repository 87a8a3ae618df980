/* SPDX-License-Identifier: MIT */
/* `--metrics`: the OpenMetrics endpoint, scraped as Prometheus scrapes it.
 *   metrics_text   the text builder and histograms alone: escaping, counter
 *                  names in both formats, cumulative buckets, # EOF; the
 *                  --metrics address rules (loopback by default)
 *   metrics_run    `vhm run --metrics 0` on the test backend: a scrape in
 *                  each format, validated by the standards' own tools
 *                  (promtool check metrics for the text format; the
 *                  prometheus_client OpenMetrics parser, which is strict, for
 *                  OpenMetrics) -- each part skipped with a printed reason
 *                  when its tool is missing; the figures against the device
 *                  (tracking on, rates by source, a migration counted with
 *                  its downtime); hostile clients (not GET, a huge request
 *                  line, a silent client, too many clients) answered 4xx/5xx
 *                  and closed while the device keeps answering
 *   metrics_libvirt `vhm libvirt-watch --metrics` against libvirt's test
 *                  driver (the daemon in a thread, as test_libvirt_daemon.c
 *                  runs it): the same validation, migrations counted from
 *                  JOB_COMPLETED (injected as libvirt's callback queues it:
 *                  the test driver cannot migrate), other jobs not counted,
 *                  an awkward domain name escaped. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <libvirt/libvirt.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "devtest.h"
#include "gmem.h"
#include "lvd_daemon.h"
#include "metrics.h"
#include "mig_smem.h"
#include "mig_snet.h"
#include "mig_stream.h"
#include "support.h"

#define PY "/usr/bin/python3"
#define OM_ACCEPT "application/openmetrics-text; version=1.0.0"

/* ---- the text builder ---------------------------------------------------------------- */

static char *build(enum metrics_fmt fmt)
{
	static const double le[] = { 0.01, 0.1, 1 };
	const char *l[] = { "domain", "a\"b\\c\nd", NULL };
	struct metrics_buf b = { .fmt = fmt };
	struct metrics_hist h;

	cr_assert(eq(int, metrics_hist_init(&h, le, 3), 0));
	metrics_hist_observe(&h, 0.005);
	metrics_hist_observe(&h, 0.1);     /* on a bound: in that bucket (le) */
	metrics_hist_observe(&h, 7);
	metrics_family(&b, "t_runs", METRICS_COUNTER, NULL, "Runs \"done\"\\ok\nnext");
	metrics_sample(&b, "t_runs", METRICS_COUNTER, l, 3);
	metrics_family(&b, "t_wait_seconds", METRICS_HISTOGRAM, "seconds", "Waits");
	metrics_hist_samples(&b, "t_wait_seconds", NULL, &h);
	metrics_end(&b);
	cr_assert(not(b.oom));
	return b.p;
}

Test(metrics_text, openmetrics_names_escapes_and_eof)
{
	char *t = build(METRICS_OPENMETRICS);

	cr_assert(not(eq(ptr, strstr(t, "# TYPE t_runs counter\n"), NULL)), "%s", t);
	cr_assert(not(eq(ptr, strstr(t, "# HELP t_runs Runs \\\"done\\\"\\\\ok\\nnext\n"), NULL)),
		  "%s", t);
	cr_assert(not(eq(ptr, strstr(t, "t_runs_total{domain=\"a\\\"b\\\\c\\nd\"} 3\n"), NULL)),
		  "%s", t);
	cr_assert(not(eq(ptr, strstr(t, "# UNIT t_wait_seconds seconds\n"), NULL)), "%s", t);
	cr_assert(not(eq(ptr, strstr(t, "t_wait_seconds_bucket{le=\"0.01\"} 1\n"
				       "t_wait_seconds_bucket{le=\"0.1\"} 2\n"
				       "t_wait_seconds_bucket{le=\"1\"} 2\n"
				       "t_wait_seconds_bucket{le=\"+Inf\"} 3\n"
				       "t_wait_seconds_count 3\n"
				       "t_wait_seconds_sum 7.105\n"), NULL)), "%s", t);
	cr_assert(eq(str, t + strlen(t) - 6, "# EOF\n"));
	free(t);
}

Test(metrics_text, text_format_names_counters_by_sample)
{
	char *t = build(METRICS_TEXT);

	cr_assert(not(eq(ptr, strstr(t, "# TYPE t_runs_total counter\n"), NULL)), "%s", t);
	/* HELP escapes only \ and newline in the text format */
	cr_assert(not(eq(ptr, strstr(t, "# HELP t_runs_total Runs \"done\"\\\\ok\\nnext\n"),
			 NULL)), "%s", t);
	cr_assert(eq(ptr, strstr(t, "# UNIT"), NULL), "%s", t);
	cr_assert(eq(ptr, strstr(t, "# EOF"), NULL), "%s", t);
	free(t);
}

Test(metrics_text, hist_bounds_must_ascend)
{
	static const double bad[] = { 1, 0.5 };
	struct metrics_hist h;

	cr_assert(eq(int, metrics_hist_init(&h, bad, 2), -EINVAL));
}

Test(metrics_text, listen_address_rules)
{
	static const struct { const char *spec, *host; int port; } ok[] = {
		{ "9177", "127.0.0.1", 9177 },
		{ "0", "127.0.0.1", 0 },
		{ "0.0.0.0:9177", "0.0.0.0", 9177 },
		{ "[::1]:80", "::1", 80 },
		{ "::1:80", "::1", 80 },
	};
	static const char *const bad[] = { "", "x", "70000", "-1", "localhost:9177", ":9177",
					   "1.2.3:80", "[]:80", "9177:" };
	char host[64], err[256];
	uint16_t port;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert(eq(int, metrics_parse_listen(ok[i].spec, host, sizeof(host), &port, err,
						       sizeof(err)), 0), "%s: %s", ok[i].spec, err);
		cr_assert(eq(str, host, (char *)ok[i].host), "%s", ok[i].spec);
		cr_assert(eq(int, port, ok[i].port), "%s", ok[i].spec);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert(eq(int, metrics_parse_listen(bad[i], host, sizeof(host), &port, err,
						       sizeof(err)), -EINVAL), "'%s' accepted", bad[i]);
		cr_assert(not(eq(ptr, strstr(err, "--metrics"), NULL)), "'%s': %s", bad[i], err);
	}
}

/* ---- a device with --metrics ----------------------------------------------------------- */

static void testbe(const char *name, char *sock, size_t len)
{
	static const char *const extra[] = { "--loopback", NULL };
	char file[64];

	snprintf(file, sizeof(file), "%s.sock", name);
	cr_assert(eq(int, ts_path(file, sock, len), 0));
	cr_assert(lt(int, 0, ts_testbe_start(sock, extra)), "vhm-testbe did not start");
}

/* vm1 on a test backend with --metrics 0; the port it bound, from status. */
static int start_device(char *backend, size_t len)
{
	char bin[256], log[TS_PATH_MAX + 16];
	const char *argv[] = { bin, "run", "--backend", backend, "--name", "vm1", "--ring",
			       "split", "--traffic", "2000", "--dirty", "5000:hotset", "--run-dir",
			       ts_dir(), "--duration", "120s", "--metrics", "0", NULL };
	struct ctl_client *c;
	const char *addr;
	json_t *st;
	int port = -1;

	testbe("be-a", backend, len);
	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/vm1.log", ts_dir());
	cr_assert(lt(int, 0, ts_spawn(argv, log)));
	dt_wait_ctl("vm1");
	c = dt_connect("vm1");
	st = dt_call(c, "status", NULL);
	addr = json_string_value(json_object_get(st, "metrics"));
	cr_assert(not(eq(ptr, (void *)addr, NULL)), "status has no \"metrics\" address");
	cr_assert(eq(int, strncmp(addr, "127.0.0.1:", 10), 0), "not on loopback: %s", addr);
	port = atoi(addr + 10);
	cr_assert(lt(int, 0, port), "%s", addr);
	json_decref(st);
	ctl_client_close(c);
	return port;
}

static int tcp_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(le(int, 0, fd));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(eq(int, connect(fd, (struct sockaddr *)&a, sizeof(a)), 0), "connect :%d: %s",
		  port, strerror(errno));
	return fd;
}

/* Everything fd sends until it closes (malloc'd), waiting up to ms. */
static char *read_all(int fd, int ms)
{
	long end = ts_now_ms() + ms;
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);

	cr_assert(not(eq(ptr, buf, NULL)));
	while (ts_now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		if (len + 1 == cap)
			cr_assert(not(eq(ptr, buf = realloc(buf, cap *= 2), NULL)));
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

/* Send req (raw bytes) and read the whole answer. */
static char *http(int port, const char *req, int ms)
{
	int fd = tcp_connect(port);
	char *r;

	cr_assert(eq(long, (long)send(fd, req, strlen(req), MSG_NOSIGNAL), (long)strlen(req)));
	r = read_all(fd, ms);
	close(fd);
	return r;
}

static int status_code(const char *resp)
{
	int code = -1;

	return sscanf(resp, "HTTP/1.0 %d", &code) == 1 ? code : -1;
}

/* GET /metrics, in OpenMetrics when om; asserts 200 and the content type;
 * the body (malloc'd). */
static char *scrape(int port, bool om)
{
	char req[256], *r, *body, want[160];

	snprintf(req, sizeof(req), "GET /metrics HTTP/1.1\r\nHost: x\r\n%s%s\r\n",
		 om ? "Accept: " OM_ACCEPT : "", om ? "\r\n" : "");
	r = http(port, req, 5000);
	cr_assert(eq(int, status_code(r), 200), "scrape: %.200s", r);
	snprintf(want, sizeof(want), "Content-Type: %s\r\n",
		 om ? METRICS_CT_OPENMETRICS : METRICS_CT_TEXT);
	cr_assert(not(eq(ptr, strstr(r, want), NULL)), "no %s in:\n%.300s", want, r);
	body = strstr(r, "\r\n\r\n");
	cr_assert(not(eq(ptr, body, NULL)));
	body = strdup(body + 4);
	free(r);
	return body;
}

/* The value of the sample line starting with `head` ("name{labels}"), or -1. */
static double sample(const char *text, const char *head)
{
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, head, strlen(head)) && l[strlen(head)] == ' ')
			return atof(l + strlen(head) + 1);
	return -1;
}

static void save(const char *name, const char *text, char *path, size_t len)
{
	FILE *f;

	cr_assert(eq(int, ts_path(name, path, len), 0));
	f = fopen(path, "w");
	cr_assert(not(eq(ptr, f, NULL)));
	fputs(text, f);
	fclose(f);
}

/* sh -c cmd; its exit status (-1: did not run), output into out. */
static int sh(const char *cmd, char *out, size_t len)
{
	const char *argv[] = { "sh", "-c", cmd, NULL };
	struct ts_run r;
	int st;

	if (ts_run_cmd(argv, 30000, &r))
		return -1;
	snprintf(out, len, "%s%s", r.out ? r.out : "", r.err ? r.err : "");
	st = r.timed_out ? -1 : r.status;
	ts_run_free(&r);
	return st;
}

/* The text format through `promtool check metrics` (lint included). */
static void promtool_check(const char *text)
{
	char path[TS_PATH_MAX + 16], cmd[TS_PATH_MAX + 64], out[4096];

	if (sh("command -v promtool", out, sizeof(out)) != 0) {
		cr_log_warn("promtool is missing (Debian package prometheus): the text format "
			    "was not validated by it");
		printf("metrics: skipped the promtool check: promtool is not installed\n");
		return;
	}
	save("scrape.prom", text, path, sizeof(path));
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
	cr_assert(eq(int, sh(cmd, out, sizeof(out)), 0), "promtool check metrics:\n%s\n%s", out,
		  text);
}

/* OpenMetrics through prometheus_client's parser, which enforces the
 * standard (TYPE/UNIT/HELP order, counter and histogram sample names,
 * cumulative buckets, label escaping, # EOF); prints each family. */
static void openmetrics_check(const char *text)
{
	char path[TS_PATH_MAX + 16], cmd[TS_PATH_MAX + 256], out[8192];

	if (sh(PY " -c 'import prometheus_client.openmetrics.parser'", out, sizeof(out)) != 0) {
		cr_log_warn("python3-prometheus-client is missing: OpenMetrics was not "
			    "validated by its parser");
		printf("metrics: skipped the OpenMetrics parser check: python3-prometheus-client "
		       "is not installed\n");
		return;
	}
	save("scrape.om", text, path, sizeof(path));
	snprintf(cmd, sizeof(cmd), PY " -c 'import sys\n"
		 "from prometheus_client.openmetrics.parser import text_string_to_metric_families"
		 " as p\n"
		 "for f in p(open(sys.argv[1]).read()): print(f.name, f.type, len(f.samples))' %s",
		 path);
	cr_assert(eq(int, sh(cmd, out, sizeof(out)), 0), "OpenMetrics parser:\n%s\n%s", out,
		  text);
	cr_assert(not(eq(ptr, strstr(out, "vhm_migrations counter "), NULL)), "%s", out);
}

/* Scrape in both formats, validate both. The OpenMetrics body (malloc'd). */
static char *scrape_valid(int port)
{
	char *txt = scrape(port, false), *om = scrape(port, true);

	promtool_check(txt);
	cr_assert(eq(str, om + strlen(om) - 6, "# EOF\n"), "no # EOF at the end");
	openmetrics_check(om);
	free(txt);
	return om;
}

Test(metrics_run, scrape_valid_and_true, .fini = dt_fini, .timeout = 90)
{
	char backend[TS_PATH_MAX], dst[TS_PATH_MAX];
	struct ctl_client *c;
	json_t *r;
	char *t;
	int port = start_device(backend, sizeof(backend));

	t = scrape_valid(port);
	cr_assert(eq(dbl, sample(t, "vhm_dirty_tracking{device=\"vm1\"}"), 0.0), "%s", t);
	cr_assert(eq(dbl, sample(t, "vhm_migrations_total{device=\"vm1\",result=\"ok\"}"), 0.0));
	cr_assert(eq(ptr, strstr(t, "vhm_migration_last_result"), NULL), "a last result before "
		  "any migration:\n%s", t);
	free(t);
	/* tracking: rates by source; the writer dirties 5000 pages/s */
	c = dt_connect("vm1");
	json_decref(dt_call(c, "track-start", NULL));
	sleep(3);
	t = scrape_valid(port);
	cr_assert(eq(dbl, sample(t, "vhm_dirty_tracking{device=\"vm1\"}"), 1.0), "%s", t);
	cr_assert(lt(dbl, 4000 * 4096.0, sample(t, "vhm_dirty_rate_bytes_per_second{device=\"vm1\","
					       "source=\"guest-writer\"}")), "%s", t);
	cr_assert(lt(dbl, 0.0, sample(t, "vhm_dirty_working_set_bytes{device=\"vm1\","
				      "window_seconds=\"1\"}")), "%s", t);
	free(t);
	/* a migration: counted ok, its downtime and total time observed */
	testbe("be-b", dst, sizeof(dst));
	json_decref(dt_call(c, "migrate", json_pack("{s:s}", "to", dst)));
	for (long end = ts_now_ms() + 30000; ts_now_ms() < end; usleep(200000)) {
		json_t *st = dt_call(c, "migrate-status", NULL);
		bool done = !json_is_true(json_object_get(st, "active")) &&
			    json_is_object(json_object_get(st, "last"));

		json_decref(st);
		if (done)
			break;
	}
	r = dt_call(c, "migrate-status", NULL);
	cr_assert(eq(int, strncmp(json_string_value(json_object_get(json_object_get(r, "last"),
								   "result")) ?: "", "ok", 2), 0),
		  "the migration did not succeed");
	json_decref(r);
	ctl_client_close(c);
	t = scrape_valid(port);
	cr_assert(eq(dbl, sample(t, "vhm_migrations_total{device=\"vm1\",result=\"ok\"}"), 1.0),
		  "%s", t);
	cr_assert(eq(dbl, sample(t, "vhm_migration_downtime_seconds_count{device=\"vm1\"}"), 1.0));
	cr_assert(lt(dbl, 0.0, sample(t, "vhm_migration_downtime_seconds_sum{device=\"vm1\"}")));
	cr_assert(eq(dbl, sample(t, "vhm_migration_total_time_seconds_bucket{device=\"vm1\","
				 "le=\"+Inf\"}"), 1.0));
	cr_assert(eq(dbl, sample(t, "vhm_migration_last_result{device=\"vm1\",result=\"ok\"}"),
		     1.0), "%s", t);
	free(t);
}

/* Not GET, another path, a request line over the limit, a client that says
 * nothing, and one client too many: each answered and closed, while the
 * device's control socket keeps answering. */
/* `vhm run --incoming ... --metrics 0` serves while it has no device: the
 * incoming phase (waiting, then receiving), bytes and passes received. The
 * test's source sends MEMORY and a pass of an empty 64 MiB, then closes
 * (the destination then fails: nothing to keep). */
Test(metrics_run, incoming_serves_phase_bytes_and_passes, .fini = dt_fini, .timeout = 60)
{
	char bin[256], log[TS_PATH_MAX + 16], be[TS_PATH_MAX], err[256], spec[96];
	const char *argv[] = { bin, "run", "--incoming", "tcp:127.0.0.1:0", "--backend", be,
			       "--name", "vmin", "--run-dir", ts_dir(), "--metrics", "0", NULL };
	static struct gmem mem;
	struct mig_snet net;
	struct mig_senc e;
	struct mig_smem_tx tx;
	struct ctl_client *c;
	json_t *st;
	char *t;
	uint32_t code;
	int port;

	testbe("be-in", be, sizeof(be));
	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/vmin.log", ts_dir());
	cr_assert(lt(int, 0, ts_spawn(argv, log)));
	dt_wait_ctl("vmin");
	c = dt_connect("vmin");
	st = dt_call(c, "status", NULL);
	port = atoi(strchr(json_string_value(json_object_get(st, "metrics")) ?: ":0", ':') + 1);
	snprintf(spec, sizeof(spec), "tcp:%s", json_string_value(json_object_get(
		json_object_get(st, "incoming"), "listen")));
	json_decref(st);
	ctl_client_close(c);
	cr_assert(lt(int, 0, port), "status has no \"metrics\" address");
	t = scrape_valid(port);
	cr_assert(eq(dbl, sample(t, "vhm_incoming_phase{device=\"vmin\",phase=\"waiting\"}"), 1.0),
		  "%s", t);
	cr_assert(eq(dbl, sample(t, "vhm_incoming_phase{device=\"vmin\",phase=\"receiving\"}"),
		     0.0), "%s", t);
	cr_assert(eq(dbl, sample(t, "vhm_incoming_received_bytes_total{device=\"vmin\"}"), 0.0));
	free(t);

	cr_assert(eq(int, gmem_create(&mem, 64ull << 20, "vmin-src", err, sizeof(err)), 0), "%s",
		  err);
	cr_assert(eq(int, mig_snet_connect(spec, &net, 5000, err, sizeof(err)), 0), "%s", err);
	mig_senc_init(&e, mig_snet_out, &net);
	cr_assert(eq(int, mig_smem_tx_init(&tx, &e, &mem), 0));
	cr_assert(eq(int, mig_senc_header(&e), 0));
	cr_assert(eq(int, mig_smem_send_layout(&tx), 0));
	cr_assert(eq(int, mig_ack_recv(mig_snet_in, &net, &code, err, sizeof(err), err,
				       sizeof(err)), 0), "%s", err);
	cr_assert(eq(u32, code, MIG_ACK_READY), "%s", mig_ack_name(code));
	cr_assert(eq(int, mig_smem_send_all(&tx), 0));
	cr_assert(eq(int, mig_senc_pass(&e, 0), 0));
	for (long end = ts_now_ms() + 5000; ts_now_ms() < end; usleep(50000)) {
		t = scrape(port, false);
		if (sample(t, "vhm_incoming_passes_total{device=\"vmin\"}") == 1.0)
			break;
		free(t);
		t = NULL;
	}
	cr_assert(not(eq(ptr, t, NULL)), "no pass counted within 5 s");
	cr_assert(eq(dbl, sample(t, "vhm_incoming_phase{device=\"vmin\",phase=\"receiving\"}"),
		     1.0), "%s", t);
	cr_assert(le(dbl, (double)e.bytes, sample(t, "vhm_incoming_received_bytes_total{device="
						       "\"vmin\"}")), "%s", t);
	free(t);
	mig_smem_tx_destroy(&tx);
	mig_snet_close(&net);
	gmem_destroy(&mem);
}

Test(metrics_run, hostile_clients_are_answered_and_closed, .fini = dt_fini, .timeout = 90)
{
	char backend[TS_PATH_MAX], *r, *big;
	int port = start_device(backend, sizeof(backend)), fds[METRICS_CLIENTS_MAX];
	struct ctl_client *c;
	long t0;

	r = http(port, "POST /metrics HTTP/1.0\r\n\r\n", 5000);
	cr_assert(eq(int, status_code(r), 405), "%.100s", r);
	free(r);
	r = http(port, "GET /other HTTP/1.0\r\n\r\n", 5000);
	cr_assert(eq(int, status_code(r), 404), "%.100s", r);
	free(r);
	r = http(port, "hello\r\n\r\n", 5000);
	cr_assert(eq(int, status_code(r), 400), "%.100s", r);
	free(r);
	big = malloc(METRICS_LINE_MAX + 64);
	cr_assert(not(eq(ptr, big, NULL)));
	memset(big, 'a', METRICS_LINE_MAX + 63);
	memcpy(big, "GET /", 5);
	big[METRICS_LINE_MAX + 63] = '\0';
	r = http(port, big, 5000);
	cr_assert(eq(int, status_code(r), 414), "%.100s", r);
	free(r);
	free(big);
	/* METRICS_CLIENTS_MAX silent clients hold every slot... */
	t0 = ts_now_ms();
	for (int i = 0; i < METRICS_CLIENTS_MAX; i++)
		fds[i] = tcp_connect(port);
	usleep(300000);
	/* ...so one more is turned away at once */
	r = http(port, "GET /metrics HTTP/1.0\r\n\r\n", 3000);
	cr_assert(eq(int, status_code(r), 503), "%.100s", r);
	free(r);
	/* the device answers meanwhile */
	c = dt_connect("vm1");
	json_decref(dt_call(c, "status", NULL));
	ctl_client_close(c);
	/* the silent ones get 408 and are closed, not before their time */
	r = read_all(fds[0], METRICS_CLIENT_MS + 5000);
	cr_assert(eq(int, status_code(r), 408), "%.100s", r);
	cr_assert(le(long, (long)METRICS_CLIENT_MS - 50, ts_now_ms() - t0),
		  "closed after %ld ms, before its %d ms", ts_now_ms() - t0, METRICS_CLIENT_MS);
	free(r);
	for (int i = 0; i < METRICS_CLIENTS_MAX; i++)
		close(fds[i]);
	/* and the endpoint still serves */
	free(scrape(port, true));
}

/* --metrics with a bad address: one line, exit 2, nothing started. */
Test(metrics_run, bad_flag_is_a_usage_error, .fini = dt_fini, .timeout = 30)
{
	const char *a[] = { "run", "--backend", "/nonexistent.sock", "--metrics", "localhost:80",
			    NULL };
	const char *b[] = { "run", "--backend", "/nonexistent.sock", "--metrics", "99999", NULL };

	dt_vhm_refuses(a, 2, "--metrics 'localhost:80'");
	dt_vhm_refuses(b, 2, "--metrics '99999'");
}

/* ---- vhm libvirt-watch --metrics ----------------------------------------------------- */

static struct lvd *lvd_;
static pthread_t lvd_tid;

static void *lvd_main(void *arg)
{
	lvd_run(arg);
	return NULL;
}

static void lvd_fini(void)
{
	if (lvd_) {
		lvd_request_stop(lvd_);
		pthread_join(lvd_tid, NULL);
		lvd_close(lvd_);
		lvd_ = NULL;
	}
	dt_fini();
}

/* The watcher on test:///default with --metrics 0; its port. */
static int start_watcher(void)
{
	struct lvd_opts o = { .uri = "test:///default", .run_dir = ts_dir(), .poll_ms = 50,
			      .idle_poll_ms = 100, .metrics = "0" };
	const char *addr;
	char err[256];

	cr_assert(eq(int, lvd_open(&lvd_, &o, err, sizeof(err)), 0), "%s", err);
	addr = lvd_metrics_addr(lvd_);
	cr_assert(not(eq(ptr, (void *)addr, NULL)));
	cr_assert(eq(int, strncmp(addr, "127.0.0.1:", 10), 0), "not on loopback: %s", addr);
	cr_assert(eq(int, pthread_create(&lvd_tid, NULL, lvd_main, lvd_), 0));
	return atoi(addr + 10);
}

static struct lvd_job job(int type, uint64_t op, uint64_t elapsed_ms, uint64_t downtime_ms)
{
	struct lvd_job j = { .type = type, .operation = op, .time_elapsed_ms = elapsed_ms,
			     .downtime_ms = downtime_ms };

	j.have = 1ull << LVD_JF_operation | 1ull << LVD_JF_time_elapsed_ms |
		 1ull << LVD_JF_downtime_ms;
	return j;
}

/* Scrapes (OpenMetrics) until `head` shows value v, up to 5 s; the last one. */
static char *scrape_until(int port, const char *head, double v)
{
	char *t = NULL;

	for (long end = ts_now_ms() + 5000; ts_now_ms() < end; usleep(50000)) {
		free(t);
		t = scrape(port, true);
		if (sample(t, head) == v)
			break;
	}
	return t;
}

Test(metrics_libvirt, domains_and_migrations, .fini = lvd_fini, .timeout = 60)
{
	static const char odd[] = "we\"ird\\vm";
	struct lvd_job ok = job(VIR_DOMAIN_JOB_COMPLETED, VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT,
				2500, 40);
	struct lvd_job bad = job(VIR_DOMAIN_JOB_FAILED, VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT,
				 700, 0);
	struct lvd_job save = job(VIR_DOMAIN_JOB_COMPLETED, VIR_DOMAIN_JOB_OPERATION_SAVE, 300, 0);
	int port = start_watcher();
	char *t;

	t = scrape_valid(port);
	cr_assert(eq(dbl, sample(t, "vhm_libvirt_connected"), 1.0), "%s", t);
	free(t);
	lvd_inject_job_completed(lvd_, "vm1", &ok);
	lvd_inject_job_completed(lvd_, "vm1", &save);
	lvd_inject_job_completed(lvd_, odd, &bad);
	t = scrape_until(port, "vhm_migrations_total{domain=\"we\\\"ird\\\\vm\",result=\"failed\"}",
			 1);
	free(t);
	t = scrape_valid(port);
	cr_assert(eq(dbl, sample(t, "vhm_migrations_total{domain=\"vm1\",result=\"ok\"}"), 1.0),
		  "%s", t);
	cr_assert(eq(dbl, sample(t, "vhm_migration_downtime_seconds_count{domain=\"vm1\"}"), 1.0));
	cr_assert(eq(dbl, sample(t, "vhm_migration_downtime_seconds_sum{domain=\"vm1\"}"), 0.04));
	cr_assert(eq(dbl, sample(t, "vhm_migration_total_time_seconds_bucket{domain=\"vm1\","
				 "le=\"2.5\"}"), 1.0), "%s", t);
	cr_assert(eq(dbl, sample(t, "vhm_migration_total_time_seconds_bucket{domain=\"vm1\","
				 "le=\"1\"}"), 0.0), "%s", t);
	cr_assert(eq(dbl, sample(t, "vhm_migration_last_result{domain=\"vm1\",result=\"ok\"}"),
		     1.0));
	/* the failed one: counted, no downtime observed */
	cr_assert(eq(dbl, sample(t, "vhm_migrations_total{domain=\"we\\\"ird\\\\vm\","
				 "result=\"failed\"}"), 1.0), "%s", t);
	cr_assert(eq(dbl, sample(t, "vhm_migration_downtime_seconds_count{domain=\"we\\\"ird\\\\vm\"}"),
		     0.0), "%s", t);
	/* the save is not a migration: vm1 has one in all */
	cr_assert(eq(dbl, sample(t, "vhm_migration_total_time_seconds_count{domain=\"vm1\"}"), 1.0),
		  "%s", t);
	free(t);
}

/* --metrics with a bad address: one line, exit 2. */
Test(metrics_libvirt, bad_flag_is_a_usage_error, .fini = dt_fini, .timeout = 30)
{
	const char *a[] = { "libvirt-watch", "-c", "test:///default", "--metrics", "1.2.3.4.5:9",
			    NULL };

	dt_vhm_refuses(a, 2, "--metrics '1.2.3.4.5:9'");
}
