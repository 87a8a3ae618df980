/* SPDX-License-Identifier: MIT */
/* `vhm probe --json` against DPDK's testpmd, the reference real backend: its
 * features, protocol features and queue count must equal what this test
 * reads itself with raw requests written here over a plain socket (no vhm
 * code on that path). Skipped, with the reason, where testpmd is missing. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devtest.h"
#include "support.h"
#include "usock.h"

#define RAW_TIMEOUT_MS 5000   /* testpmd's first reply can take 0.5 s */

/* vhost-user numbers, written out independently of vhu_proto.h. */
enum { GET_FEATURES = 1, SET_OWNER = 3, GET_PROTOCOL_FEATURES = 15, SET_PROTOCOL_FEATURES = 16,
       GET_QUEUE_NUM = 17 };
#define F_PROTOCOL_FEATURES (1ull << 30)
#define PF_MQ               (1ull << 0)

static pid_t testpmd = -1;
static int raw = -1;

static void teardown(void)
{
	if (raw >= 0)
		close(raw);
	raw = -1;
	ts_cleanup();
}

TestSuite(vhu_testpmd, .fini = teardown, .timeout = 60);

static void raw_connect(const char *path)
{
	long deadline = ts_now_ms() + RAW_TIMEOUT_MS;

	for (;;) {
		raw = usock_connect(path, RAW_TIMEOUT_MS, 0);
		if (raw >= 0)
			return;
		cr_assert(lt(long, ts_now_ms(), deadline), "connect %s: %s", path, strerror(-raw));
		raw = -1;
		usleep(50000);
	}
}

static void raw_send(uint32_t request, const uint64_t *payload)
{
	uint32_t msg[5] = { request, 1 /* version */, payload ? 8 : 0 };
	size_t len = payload ? 20 : 12;

	if (payload)
		memcpy(&msg[3], payload, 8);
	cr_assert(eq(int, (int)send(raw, msg, len, MSG_NOSIGNAL), (int)len), "send request %u",
		  request);
}

static void read_exact(void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = raw, .events = POLLIN };
		ssize_t n;

		cr_assert(eq(int, poll(&p, 1, RAW_TIMEOUT_MS), 1), "no reply from testpmd");
		n = recv(raw, (char *)buf + got, len - got, 0);
		cr_assert(lt(int, 0, (int)n), "testpmd closed the connection");
		got += (size_t)n;
	}
}

/* A request with a u64 reply, checked by hand: echo, REPLY|version, size 8. */
static uint64_t raw_get_u64(uint32_t request)
{
	uint32_t hdr[3];
	uint64_t v;

	raw_send(request, NULL);
	read_exact(hdr, sizeof(hdr));
	cr_assert(eq(u32, hdr[0], request));
	cr_assert(eq(u32, hdr[1], 0x5u), "reply flags");
	cr_assert(eq(u32, hdr[2], 8u), "reply size");
	read_exact(&v, sizeof(v));
	return v;
}

static uint64_t json_hex(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	char *end;
	uint64_t v;

	cr_assert(not(eq(ptr, (void *)s, NULL)), "probe JSON lacks '%s'", key);
	v = strtoull(s, &end, 16);
	cr_assert(eq(int, *end, 0), "'%s' is not hex: %s", key, s);
	return v;
}

Test(vhu_testpmd, probe_json_equals_raw_requests)
{
	char sock[TS_PATH_MAX], bin[256];
	const char *argv[] = { bin, "probe", sock, "--json", NULL };
	uint64_t features, protocol, queues, mq;
	struct ts_run r;
	json_error_t je;
	json_t *o;

	testpmd = dt_testpmd_or_skip("testpmd", 1, sock, sizeof(sock));
	ts_bin("vhm", bin, sizeof(bin));
	cr_assert(eq(int, ts_run_cmd(argv, 20000, &r), 0));
	cr_assert(eq(int, r.status, 0), "vhm probe exit %d: %s", r.status, r.err);
	o = json_loads(r.out, 0, &je);
	cr_assert(not(eq(ptr, o, NULL)), "not JSON (%s): %s", je.text, r.out);

	raw_connect(sock);
	raw_send(SET_OWNER, NULL);
	features = raw_get_u64(GET_FEATURES);
	cr_assert(ne(u64, features & F_PROTOCOL_FEATURES, 0), "testpmd offers PROTOCOL_FEATURES (0x%llx)",
		  (unsigned long long)features);
	protocol = raw_get_u64(GET_PROTOCOL_FEATURES);
	mq = protocol & PF_MQ;
	raw_send(SET_PROTOCOL_FEATURES, &mq);
	queues = raw_get_u64(GET_QUEUE_NUM);

	cr_assert(eq(u64, json_hex(o, "features"), features));
	cr_assert(eq(u64, json_hex(o, "protocol_features"), protocol));
	cr_assert(eq(u64, (uint64_t)json_integer_value(json_object_get(o, "queue_num")), queues));
	cr_assert(eq(u64, queues, 128), "testpmd answers GET_QUEUE_NUM with 128");
	cr_assert(eq(int, json_is_true(json_object_get(o, "migratable")), 1));
	json_decref(o);
	ts_run_free(&r);
}
