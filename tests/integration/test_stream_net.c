/* SPDX-License-Identifier: MIT */
/* Guest memory over the migration stream on real TCP (mig_snet + mig_smem +
 * mig_stream): a sender thread streams one gmem (the whole pass, then a
 * dirty pass), the test's thread receives it into another; the digests
 * agree. Over loopback, and over a veth pair between two network
 * namespaces (two "hosts": the sender's socket made in A, the listener in
 * B) with `tc netem` delay (skipped, saying so, on a kernel without netem:
 * nothing else here delays a packet honestly), a tbf bandwidth limit; a
 * link cut mid-stream (`ip link set down`)
 * fails both ends within their timeout, the receiver before any END; a
 * sender that closes mid-stream is a truncated stream; bad addresses are
 * refused in one line. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmem.h"
#include "mig_smem.h"
#include "mig_snet.h"
#include "support.h"

#define PAGE GMEM_PAGE_SIZE
#define MEM  (32ull << 20)
#define TIMEOUT_MS 1500

#define NS_A "vhmsA-"
#define NS_B "vhmsB-"
#define IF_A "strm-a"
#define IF_B "strm-b"

static struct {
	char a[32], b[32];
	const char *skip;
} ns;

/* The sending side, on its own thread. */
struct sender {
	struct mig_snet c;
	struct gmem *mem;
	uint32_t stop_after;     /* close after this many data runs (0: send it all) */
	uint64_t cap;            /* bytes/s (mig_snet's bandwidth cap), 0: none */
	int rc;
	uint64_t bytes;
};

/* Pseudo-random data in n pages from first, so that nothing compresses. */
static void fill(struct gmem *m, uint64_t first, uint64_t n, uint64_t seed)
{
	for (uint64_t p = first; p < first + n; p++) {
		uint64_t *w = gmem_hva(m, p * PAGE, PAGE);

		for (size_t i = 0; i < PAGE / 8; i++) {
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			w[i] = seed;
		}
	}
}

static int sender_out(void *ctx, const void *p, size_t n)
{
	struct sender *s = ctx;

	return mig_snet_out(&s->c, p, n);
}

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	struct mig_senc e;
	struct mig_smem_tx t;
	uint64_t bm[MEM / PAGE / 64] = { 0 };

	s->c.bandwidth = s->cap;
	mig_senc_init(&e, sender_out, s);
	if ((s->rc = mig_smem_tx_init(&t, &e, s->mem)))
		return NULL;
	if (!(s->rc = mig_senc_header(&e)) && !(s->rc = mig_smem_send_layout(&t))) {
		if (s->stop_after) {       /* a few runs, then the sender is gone */
			for (uint32_t i = 0; i < s->stop_after && !s->rc; i++)
				s->rc = mig_senc_pages(&e, i, 1, gmem_hva(s->mem, i * PAGE, PAGE));
			goto out;
		}
		s->rc = mig_smem_send_all(&t);
	}
	bm[0] = 0xf0;              /* a dirty pass: pages 4..7 */
	if (!s->rc && !(s->rc = mig_senc_pass(&e, 1)) && !(s->rc = mig_smem_send_dirty(&t, bm, 1)))
		s->rc = mig_senc_end(&e);
out:
	s->bytes = e.bytes;
	mig_smem_tx_destroy(&t);
	mig_snet_close(&s->c);
	return NULL;
}

/* Receive the whole stream on c into mem: 0 (END read, checksum right) or
 * the first error, in err. */
static int receive(struct mig_snet *c, struct gmem *mem, char *err, size_t len)
{
	struct mig_sdec d;
	struct mig_ssec s;
	int rc;

	cr_assert(eq(int, mig_sdec_init(&d, mig_snet_in, c), 0));
	rc = mig_sdec_header(&d);
	while (!rc && !d.ended && !(rc = mig_sdec_next(&d, &s)))
		rc = mig_smem_apply(&d, &s, mem, err, len);
	if (rc && !err[0])
		snprintf(err, len, "%s", d.err);
	mig_sdec_destroy(&d);
	return rc;
}

struct listen_arg {
	const char *spec;
	int lfd;
	char bound[64], err[256];
};

static int do_listen(void *arg)
{
	struct listen_arg *l = arg;

	return mig_snet_listen(l->spec, &l->lfd, l->bound, sizeof(l->bound), l->err,
			       sizeof(l->err));
}

struct connect_arg {
	char spec[80], err[256];
	struct mig_snet *c;
};

static int do_connect(void *arg)
{
	struct connect_arg *k = arg;

	return mig_snet_connect(k->spec, k->c, TIMEOUT_MS, k->err, sizeof(k->err));
}

/* Listener in ns_b (or here), sender connected from ns_a (or here), the
 * sender thread started; *c gets the receiving end. */
static void start(const char *listen_spec, const char *na, const char *nb, struct sender *s,
		  pthread_t *th, struct mig_snet *c)
{
	struct listen_arg l = { .spec = listen_spec, .lfd = -1 };
	struct connect_arg k = { .c = &s->c };
	char err[256];
	int rc;

	rc = nb ? ts_in_netns(nb, do_listen, &l) : do_listen(&l);
	cr_assert(eq(int, rc, 0), "listen %s: %s", listen_spec, l.err);
	snprintf(k.spec, sizeof(k.spec), "tcp:%s", l.bound);
	rc = na ? ts_in_netns(na, do_connect, &k) : do_connect(&k);
	cr_assert(eq(int, rc, 0), "connect %s: %s", k.spec, k.err);
	cr_assert(eq(int, mig_snet_accept(l.lfd, c, TIMEOUT_MS, err, sizeof(err)), 0), "%s", err);
	close(l.lfd);
	cr_assert(eq(int, pthread_create(th, NULL, sender_main, s), 0));
}

/* Stream a memory with 2000 pages of data across and compare digests. */
static void stream_and_compare(const char *listen_spec, const char *na, const char *nb)
{
	struct gmem a, b;
	struct sender s = { 0 };
	struct mig_snet c;
	pthread_t th;
	char err[256] = "";

	cr_assert(eq(int, gmem_create(&a, MEM, "sn-a", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, gmem_create(&b, MEM, "sn-b", err, sizeof(err)), 0), "%s", err);
	fill(&a, 0, 2000, 0x9e3779b97f4a7c15ull);
	s.mem = &a;
	start(listen_spec, na, nb, &s, &th, &c);
	cr_assert(eq(int, receive(&c, &b, err, sizeof(err)), 0), "receive: %s", err);
	pthread_join(th, NULL);
	cr_assert(eq(int, s.rc, 0), "send: %s", strerror(-s.rc));
	cr_assert(eq(u64, c.bytes_in, s.bytes), "received %llu bytes, sent %llu",
		  (unsigned long long)c.bytes_in, (unsigned long long)s.bytes);
	cr_assert(lt(u64, 2000 * PAGE, s.bytes));
	cr_assert(lt(u64, s.bytes, 2100 * PAGE), "zero pages sent with their bytes");
	cr_assert(eq(u64, gmem_digest(&a, 0, 0), gmem_digest(&b, 0, 0)), "digests differ");
	mig_snet_close(&c);
	gmem_destroy(&a);
	gmem_destroy(&b);
}

Test(stream_net, loopback_digests_agree, .timeout = 30)
{
	stream_and_compare("tcp:127.0.0.1:0", NULL, NULL);
}

Test(stream_net, sender_gone_mid_stream_is_truncated, .timeout = 30)
{
	struct gmem a, b;
	struct sender s = { .stop_after = 3 };
	struct mig_snet c;
	pthread_t th;
	char err[256] = "";

	cr_assert(eq(int, gmem_create(&a, MEM, "sn-a", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, gmem_create(&b, MEM, "sn-b", err, sizeof(err)), 0), "%s", err);
	s.mem = &a;
	start("tcp:127.0.0.1:0", NULL, NULL, &s, &th, &c);
	cr_assert(eq(int, receive(&c, &b, err, sizeof(err)), -EPIPE), "receive: %s", err);
	cr_assert(not(eq(ptr, strstr(err, "truncated"), NULL)), "error: %s", err);
	pthread_join(th, NULL);
	mig_snet_close(&c);
	gmem_destroy(&a);
	gmem_destroy(&b);
}

Test(stream_net, bad_addresses_are_refused_in_one_line)
{
	static const char *const bad[] = { "tcp:", "tcp:host", "tcp::80", "tcp:h:70000",
					   "tcp:h:x", "/tmp/x.sock", "tcp:[]:80" };
	char host[64], err[256];
	uint16_t port;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		cr_assert(eq(int, mig_snet_parse(bad[i], host, sizeof(host), &port, err,
						 sizeof(err)), -EINVAL), "%s accepted", bad[i]);
		cr_assert(not(eq(ptr, strstr(err, bad[i]), NULL)), "'%s' not named: %s", bad[i],
			  err);
		cr_assert(eq(ptr, strchr(err, '\n'), NULL));
	}
	cr_assert(eq(int, mig_snet_parse("tcp:[::1]:4444", host, sizeof(host), &port, err,
					 sizeof(err)), 0), "%s", err);
	cr_assert(eq(str, host, "::1"));
	cr_assert(eq(u16, port, 4444));
}

/* ---- two hosts: network namespaces joined by a veth pair ---------------- */

static void ns_up(void)
{
	int rc;

	snprintf(ns.a, sizeof(ns.a), NS_A "%d", (int)getpid());
	snprintf(ns.b, sizeof(ns.b), NS_B "%d", (int)getpid());
	rc = ts_netns_pair(ns.a, ns.b, IF_A, IF_B, "10.78.0.1", "10.78.0.2", &ns.skip);
	if (rc == 1)
		return;
	cr_assert(eq(int, rc, 0), "the veth pair between %s and %s", ns.a, ns.b);
}

static void ns_down(void)
{
	if (!ns.skip)
		ts_netns_pair_del(ns.a, ns.b);
}

/* The qdisc `spec` on A's side of the link, or the test skips saying why. */
static void need_qdisc(const char *spec)
{
	if (ns.skip)
		cr_skip_test("%s", ns.skip);
	if (!ts_on_path("tc"))
		cr_skip_test("tc (iproute2) is not installed");
	if (ts_sh("ip netns exec %s tc qdisc add dev %s root %s", ns.a, IF_A, spec))
		cr_skip_test("tc qdisc '%s' is refused here: this kernel lacks the qdisc", spec);
}

/* 20 ms each way on A's side: the stream crosses a slow link whole. Only
 * netem delays packets: a tc BPF program can only stamp a departure time,
 * which only the fq and etf qdiscs honour (absent where netem is), and
 * iptables cannot hold a packet; without netem this skips. (Stand-ins,
 * each named for what it is: stream_e2e/two_hosts_packet_loss drops with
 * iptables; stream_e2e/two_hosts_relay_delay delays the stream's messages
 * in a relay, not the link's packets.) */
Test(stream_net, two_hosts_with_delay, .init = ns_up, .fini = ns_down, .timeout = 60)
{
	long t0;

	need_qdisc("netem delay 20ms");
	t0 = ts_now_ms();
	stream_and_compare("tcp:10.78.0.2:0", ns.a, ns.b);
	cr_assert(le(i64, 40, ts_now_ms() - t0), "a 20 ms link crossed in %ld ms",
		  ts_now_ms() - t0);
}

/* 64 Mbit/s (8 MB/s) on A's side (tbf): ~8 MB of pages take over 0.9 s. */
Test(stream_net, two_hosts_with_a_bandwidth_limit, .init = ns_up, .fini = ns_down,
     .timeout = 60)
{
	long t0;

	need_qdisc("tbf rate 64mbit burst 64kb latency 200ms");
	t0 = ts_now_ms();
	stream_and_compare("tcp:10.78.0.2:0", ns.a, ns.b);
	cr_assert(le(i64, 900, ts_now_ms() - t0), "8 MB over 8 MB/s in %ld ms",
		  ts_now_ms() - t0);
}

/* A stream capped at 2 MiB/s (mig_snet's own cap) cut a second into 8 MB:
 * the sender's write and the receiver's read both fail within their
 * timeouts (plus TCP's), and the receiver never took the stream for whole. */
Test(stream_net, two_hosts_link_cut_fails_both_ends, .init = ns_up, .fini = ns_down,
     .timeout = 60)
{
	struct gmem a, b;
	struct sender s = { 0 };
	struct mig_snet c;
	pthread_t th;
	char err[256] = "";
	long cut;
	int rc;

	if (ns.skip)
		cr_skip_test("%s", ns.skip);
	s.cap = 2 << 20;
	cr_assert(eq(int, gmem_create(&a, MEM, "sn-a", err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, gmem_create(&b, MEM, "sn-b", err, sizeof(err)), 0), "%s", err);
	fill(&a, 0, 2000, 0x2545f4914f6cdd1dull);
	s.mem = &a;
	start("tcp:10.78.0.2:0", ns.a, ns.b, &s, &th, &c);
	sleep(1);
	cut = ts_now_ms();
	cr_assert(eq(int, ts_sh("ip -n %s link set %s down", ns.a, IF_A), 0));
	rc = receive(&c, &b, err, sizeof(err));
	cr_assert(lt(int, rc, 0), "the receiver read a whole stream over a cut link");
	cr_log_info("receiver after the cut: %s (%ld ms)", err, ts_now_ms() - cut);
	cr_assert(le(i64, ts_now_ms() - cut, 4 * TIMEOUT_MS), "receiver failed %ld ms after "
		  "the cut", ts_now_ms() - cut);
	pthread_join(th, NULL);
	cr_assert(lt(int, s.rc, 0), "the sender finished over a cut link");
	cr_log_info("sender after the cut: %s (%ld ms)", strerror(-s.rc), ts_now_ms() - cut);
	cr_assert(le(i64, ts_now_ms() - cut, 8 * TIMEOUT_MS), "sender failed %ld ms after the "
		  "cut", ts_now_ms() - cut);
	mig_snet_close(&c);
	gmem_destroy(&a);
	gmem_destroy(&b);
}
