/* SPDX-License-Identifier: MIT */
/* Interoperability with QEMU's and DPDK's reading of the spec, against
 * vhm-testbe and its --record: GET_QUEUE_NUM counts queue pairs; the opening
 * is the backend's init, then SET_OWNER; the device status goes
 * ACKNOWLEDGE|DRIVER, FEATURES_OK (read back), DRIVER_OK, and 0 on stop; a
 * request whose effect must be in place is followed by a GET_FEATURES round
 * trip when REPLY_ACK is off; a packed ring's base carries the used index in
 * bits 16-31. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "device.h"
#include "support.h"
#include "vhu_front.h"
#include "vring.h"

static char sock[TS_PATH_MAX], rec[TS_PATH_MAX];
static struct vhu_front f = { .sock = -1, .breq_sock = -1 };

static void setup(void)
{
	cr_assert(eq(int, ts_path("be.sock", sock, sizeof(sock)), 0));
	cr_assert(eq(int, ts_path("be.json", rec, sizeof(rec)), 0));
}

static void teardown(void)
{
	vhu_front_close(&f);
	ts_cleanup();
}

TestSuite(interop, .init = setup, .fini = teardown, .timeout = 30);

/* vhm-testbe on `sock`, recording to `rec`, with extra options (NULL-terminated). */
static void start_be(const char *const *extra)
{
	const char *argv[16] = { "--record", rec };
	int n = 2;

	for (; extra && *extra && n < 15; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	cr_assert(lt(int, 0, (int)ts_testbe_start(sock, argv)), "vhm-testbe did not start");
}

static void open_front(const char *const *extra)
{
	start_be(extra);
	cr_assert(eq(int, vhu_front_connect(&f, sock, 5000), 0), "%s", f.err);
	cr_assert(eq(int, vhu_front_negotiate(&f, vhu_front_default_protocol()), 0), "%s", f.err);
}

static json_t *record_load(void)
{
	json_t *r = json_load_file(rec, 0, NULL);

	cr_assert(not(eq(ptr, r, NULL)), "no record in %s", rec);
	return r;
}

/* The record's "sequence" from index `from` as "A B C". */
static void sequence(json_t *r, size_t from, char *out, size_t len)
{
	json_t *seq = json_object_get(r, "sequence");
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = from; i < json_array_size(seq) && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", used ? " " : "",
					 json_string_value(json_array_get(seq, i)));
}

/* ---- GET_QUEUE_NUM counts queue pairs ------------------------------------------ */

struct pairs_case {
	int pairs;
};

static struct pairs_case pairs_cases[] = { {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8} };

ParameterizedTestParameters(interop, queue_pairs_from_get_queue_num)
{
	return cr_make_param_array(struct pairs_case, pairs_cases,
				   sizeof(pairs_cases) / sizeof(pairs_cases[0]));
}

/* A backend that answers exactly its pairs (DPDK >= 23.07, testpmd queues=N)
 * takes a device of that many pairs, and refuses one more, saying so. */
ParameterizedTest(struct pairs_case *c, interop, queue_pairs_from_get_queue_num)
{
	struct device *d = calloc(1, sizeof(*d));
	char q[8], err[256];
	const char *extra[] = { "--queues", q, NULL };
	uint64_t feat;
	int rc;

	cr_assert(not(eq(ptr, d, NULL)));
	snprintf(q, sizeof(q), "%d", c->pairs);
	open_front(extra);
	cr_assert(eq(u32, f.queue_num, (uint32_t)c->pairs));
	d->cfg.queues = c->pairs;
	rc = dev_choose_features(d, &f, &feat, err, sizeof(err));
	cr_assert(eq(int, rc, 0), "%d pairs on a backend of %d: %s", c->pairs, c->pairs, err);
	d->cfg.queues = c->pairs + 1;
	rc = dev_choose_features(d, &f, &feat, err, sizeof(err));
	cr_assert(eq(int, rc, -ENOTSUP), "%d pairs on a backend of %d accepted", c->pairs + 1,
		  c->pairs);
	snprintf(q, sizeof(q), "at most %d", c->pairs);
	cr_assert(not(eq(ptr, strstr(err, q), NULL)), "message: %s", err);
	cr_assert(not(eq(ptr, strstr(err, "queue pairs"), NULL)), "message: %s", err);
	free(d);
}

/* ---- the opening, and the device status ------------------------------------------ */

/* QEMU's vhost_dev_init: vhost_user_backend_init, then SET_OWNER. */
Test(interop, opening_is_backend_init_then_set_owner)
{
	char seq[512];
	json_t *r;

	open_front(NULL);
	r = record_load();
	sequence(r, 0, seq, sizeof(seq));
	cr_assert(eq(str, seq, "GET_FEATURES GET_PROTOCOL_FEATURES SET_PROTOCOL_FEATURES "
		     "GET_QUEUE_NUM GET_MAX_MEM_SLOTS SET_BACKEND_REQ_FD SET_OWNER"));
	json_decref(r);
}

/* Index of the first `name` at or after `from` in the record's sequence, or -1. */
static int seq_find(json_t *r, const char *name, int from)
{
	json_t *seq = json_object_get(r, "sequence");

	for (size_t i = (size_t)from; i < json_array_size(seq); i++)
		if (!strcmp(json_string_value(json_array_get(seq, i)), name))
			return (int)i;
	return -1;
}

static int seq_find_last(json_t *r, const char *name)
{
	json_t *seq = json_object_get(r, "sequence");

	for (size_t i = json_array_size(seq); i-- > 0;)
		if (!strcmp(json_string_value(json_array_get(seq, i)), name))
			return (int)i;
	return -1;
}

static void statuses(json_t *r, char *out, size_t len)
{
	json_t *a = json_object_get(r, "statuses");
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < json_array_size(a) && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s0x%llx", used ? " " : "",
					 (unsigned long long)json_integer_value(json_array_get(a, i)));
}

static void dev_cfg(struct dev_config *c, const char *ring)
{
	dev_config_defaults(c);
	c->backend = sock;
	c->name = "interop";
	c->mem_bytes = 64ull << 20;
	c->ring = !strcmp(ring, "packed") ? DEV_RING_PACKED : DEV_RING_SPLIT;
	c->timeout_ms = 5000;
}

/* ACKNOWLEDGE|DRIVER before SET_FEATURES, FEATURES_OK after it and read back,
 * DRIVER_OK once the rings are enabled; on stop, 0 after the rings stopped. */
Test(interop, status_sequence_start_and_stop)
{
	struct device *d = calloc(1, sizeof(*d));
	struct dev_config c;
	char err[256], st[128];
	json_t *r;
	int feat, s1, s2, get, en, s3, stop, s0;

	cr_assert(not(eq(ptr, d, NULL)));
	start_be(NULL);
	dev_cfg(&c, "split");
	cr_assert(eq(int, dev_open(d, &c, err, sizeof(err)), 0), "%s", err);
	r = record_load();
	statuses(r, st, sizeof(st));
	cr_assert(eq(str, st, "0x3 0xb 0xf"));
	s1 = seq_find(r, "SET_STATUS", 0);
	feat = seq_find(r, "SET_FEATURES", 0);
	s2 = seq_find(r, "SET_STATUS", s1 + 1);
	get = seq_find(r, "GET_STATUS", 0);
	en = seq_find_last(r, "SET_VRING_ENABLE");
	s3 = seq_find_last(r, "SET_STATUS");
	cr_assert(lt(int, seq_find(r, "SET_OWNER", 0), s1), "ACKNOWLEDGE|DRIVER before the owner");
	cr_assert(lt(int, s1, feat), "ACKNOWLEDGE|DRIVER after SET_FEATURES");
	cr_assert(lt(int, feat, s2), "FEATURES_OK before SET_FEATURES");
	cr_assert(eq(int, get, s2 + 1), "FEATURES_OK not read back at once");
	cr_assert(lt(int, en, s3), "DRIVER_OK before the rings were enabled");
	json_decref(r);

	dev_close(d);
	r = record_load();
	statuses(r, st, sizeof(st));
	cr_assert(eq(str, st, "0x3 0xb 0xf 0x0"), "after stop");
	stop = seq_find_last(r, "GET_VRING_BASE");
	s0 = seq_find_last(r, "SET_STATUS");
	cr_assert(lt(int, stop, s0), "status reset before the rings stopped");
	json_decref(r);
	free(d);
}

/* A backend that cannot take the features clears FEATURES_OK (DPDK does when
 * SET_FEATURES failed); without REPLY_ACK that is the only sign of it. */
Test(interop, cleared_features_ok_is_refused)
{
	const char *extra[] = { "--drop-proto", "REPLY_ACK", NULL };
	struct gmem mem;
	char err[256];
	int rc;

	open_front(extra);
	cr_assert(eq(int, gmem_create(&mem, 32ull << 20, "interop", err, sizeof(err)), 0), "%s",
		  err);
	rc = dev_backend_prepare(&f, &mem, f.dev_features | 1ull << 40);
	gmem_destroy(&mem);
	cr_assert(eq(int, rc, -ENOTSUP), "rc %d: %s", rc, f.err);
	cr_assert(not(eq(ptr, strstr(f.err, "GET_STATUS"), NULL)), "%s", f.err);
	cr_assert(not(eq(ptr, strstr(f.err, "cleared FEATURES_OK"), NULL)), "%s", f.err);
}

/* ---- sync points without REPLY_ACK ------------------------------------------------ */

struct sync_case {
	char name[40];
	uint32_t request;
	bool log;           /* LOG_ALL / VHU_VRING_F_LOG in the payload */
	bool reply_ack;     /* REPLY_ACK negotiated */
	bool sync;          /* a GET_FEATURES must follow */
};

static struct sync_case sync_cases[] = {
	{ "SET_FEATURES with LOG_ALL", VHU_SET_FEATURES, true, false, true },
	{ "SET_FEATURES without LOG_ALL", VHU_SET_FEATURES, false, false, false },
	{ "SET_VRING_ADDR with the log flag", VHU_SET_VRING_ADDR, true, false, true },
	{ "SET_VRING_ADDR without it", VHU_SET_VRING_ADDR, false, false, false },
	{ "SET_MEM_TABLE", VHU_SET_MEM_TABLE, false, false, true },
	{ "SET_VRING_ENABLE", VHU_SET_VRING_ENABLE, false, false, true },
	{ "SET_VRING_NUM", VHU_SET_VRING_NUM, false, false, false },
	{ "SET_MEM_TABLE acked", VHU_SET_MEM_TABLE, false, true, false },
	{ "SET_FEATURES with LOG_ALL acked", VHU_SET_FEATURES, true, true, false },
};

ParameterizedTestParameters(interop, sync_point_without_reply_ack)
{
	return cr_make_param_array(struct sync_case, sync_cases,
				   sizeof(sync_cases) / sizeof(sync_cases[0]));
}

static int send_case(const struct sync_case *c)
{
	struct vhu_vring_addr a = { .index = 0, .desc = 0x10000, .avail = 0x11000,
				    .used = 0x12000, .log_guest_addr = 0x12000 };
	struct vhu_mem_region reg = { .guest_phys_addr = 0, .memory_size = 2 << 20,
				      .userspace_addr = 0x7f0000000000ull };
	int fd, rc;

	switch (c->request) {
	case VHU_SET_FEATURES:
		return vhu_set_features(&f, (f.dev_features & ~(1ull << VHU_F_LOG_ALL)) |
					(c->log ? 1ull << VHU_F_LOG_ALL : 0));
	case VHU_SET_VRING_ADDR:
		a.flags = c->log ? VHU_VRING_F_LOG : 0;
		return vhu_set_vring_addr(&f, &a);
	case VHU_SET_MEM_TABLE:
		fd = memfd_create("interop", MFD_CLOEXEC);
		cr_assert(eq(int, ftruncate(fd, 2 << 20), 0));
		rc = vhu_set_mem_table(&f, &reg, &fd, 1);
		close(fd);
		return rc;
	default:
		return vhu_set_vring_state(&f, c->request, 0, c->request == VHU_SET_VRING_NUM ? 256 : 1);
	}
}

ParameterizedTest(struct sync_case *c, interop, sync_point_without_reply_ack)
{
	const char *no_ack[] = { "--drop-proto", "REPLY_ACK", NULL };
	char seq[256], want[256];
	uint64_t v;
	size_t from;
	json_t *r;

	open_front(c->reply_ack ? NULL : no_ack);
	cr_assert(eq(int, vhu_get_u64(&f, VHU_GET_PROTOCOL_FEATURES, &v), 0), "%s", f.err);
	r = record_load();
	from = json_array_size(json_object_get(r, "sequence"));
	json_decref(r);
	cr_assert(eq(int, send_case(c), 0), "%s: %s", c->name, f.err);
	/* a barrier the backend answers after everything before it */
	cr_assert(eq(int, vhu_get_u64(&f, VHU_GET_PROTOCOL_FEATURES, &v), 0), "%s", f.err);
	r = record_load();
	sequence(r, from, seq, sizeof(seq));
	snprintf(want, sizeof(want), "%s%s GET_PROTOCOL_FEATURES", vhu_req_name(c->request),
		 c->sync ? " GET_FEATURES" : "");
	cr_assert(eq(str, seq, want), "%s", c->name);
	json_decref(r);
}

/* ---- packed ring bases -------------------------------------------------------------- */

/* A fresh packed ring: avail 0 / wrap 1 and used 0 / wrap 1, as QEMU sends. */
Test(interop, packed_fresh_base_has_the_used_half)
{
	struct device *d = calloc(1, sizeof(*d));
	struct dev_config c;
	char err[256];
	json_t *r, *rings;

	cr_assert(not(eq(ptr, d, NULL)));
	start_be(NULL);
	dev_cfg(&c, "packed");
	cr_assert(eq(int, dev_open(d, &c, err, sizeof(err)), 0), "%s", err);
	r = record_load();
	rings = json_object_get(r, "rings");
	for (size_t i = 0; i < 2; i++)
		cr_assert(eq(u64, (uint64_t)json_integer_value(json_object_get(
					   json_array_get(rings, i), "set_base")), 0x80008000u),
			  "ring %zu", i);
	json_decref(r);
	dev_close(d);
	free(d);
}

/* Restart after a lost backend: both halves where the driver stands; a base
 * from a backend that reports only the avail half (DPDK) gets the used half. */
Test(interop, packed_restart_and_completed_bases)
{
	static uint8_t area[64 << 10] __attribute__((aligned(4096)));
	struct vring v;

	vring_init(&v, true, false, 256, area, 0x100000);
	v.last_used = 5;
	v.used_wrap = false;
	cr_assert(eq(u32, vring_restart_base(&v), 0x00050005u));
	v.used_wrap = true;
	cr_assert(eq(u32, vring_restart_base(&v), 0x80058005u));
	cr_assert(eq(u32, vring_full_base(&v, 0x8007u), 0x80078007u));
	cr_assert(eq(u32, vring_full_base(&v, 0x80068007u), 0x80068007u));
	vring_init(&v, false, false, 256, area, 0x100000);
	cr_assert(eq(u32, vring_full_base(&v, 7), 7u));
	cr_assert(eq(u32, vring_initial_base(&v), 0u));
}

/* ---- the backend channel while a reply is awaited ------------------------------- */

/* A backend that asks us something on its channel before it replies (an IOTLB
 * miss in real life; CONFIG_CHANGE_MSG with NEED_REPLY here) gets its answer
 * while vhm waits for the reply, and the reply comes. */
Test(interop, backend_request_served_while_waiting_for_a_reply)
{
	const char *extra[] = { "--breq-wait", "GET_STATUS", NULL };
	uint64_t v = 99;
	json_t *r;

	start_be(extra);
	cr_assert(eq(int, vhu_front_connect(&f, sock, 500), 0), "%s", f.err);
	cr_assert(eq(int, vhu_front_negotiate(&f, vhu_front_default_protocol()), 0), "%s", f.err);
	cr_assert(eq(int, vhu_get_u64(&f, VHU_GET_STATUS, &v), 0), "%s", f.err);
	cr_assert(eq(u64, v, 0));
	cr_assert(eq(u64, f.breq_config_changes, 1));
	r = record_load();
	cr_assert(eq(int, (int)json_integer_value(json_object_get(json_object_get(r, "breq_acks"),
								 "CONFIG_CHANGE_MSG")), 0));
	json_decref(r);
}
