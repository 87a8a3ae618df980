/* SPDX-License-Identifier: MIT */
/* vhu_front against vhm-testbe: every request reaches the backend and has its
 * effect (read back from the backend's --record file), REPLY_ACK on and off,
 * requests whose feature was not negotiated never reach the wire, every
 * misbehaviour gives a clean error naming the request within the timeout and
 * leaks no fd, `vhm probe` exits 3 on each of them, the backend channel is
 * answered, and the vhm command line refuses bad input in one line. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "devtest.h"
#include "support.h"
#include "testbe.h"
#include "usock.h"
#include "util.h"
#include "vhu_front.h"

#define SHORT_MS  500   /* the frontend's timeout in misbehaviour tests */
#define MARGIN_MS 400   /* scheduling slack on a loaded 2-CPU machine */

static char sock[TS_PATH_MAX], rec[TS_PATH_MAX];
static struct vhu_front f = { .sock = -1, .breq_sock = -1 };
static json_t *record;

static void setup(void)
{
	cr_assert(eq(int, ts_path("be.sock", sock, sizeof(sock)), 0));
	cr_assert(eq(int, ts_path("be.json", rec, sizeof(rec)), 0));
}

static void teardown(void)
{
	vhu_front_close(&f);
	json_decref(record);
	record = NULL;
	ts_cleanup();
}

/* vhm-testbe on `sock`, recording to `rec`, with extra options (NULL-terminated). */
static void start_be(const char *const *extra)
{
	const char *argv[24] = { "--record", rec };
	int n = 2;

	for (; extra && *extra && n < 23; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	cr_assert(lt(int, 0, (int)ts_testbe_start(sock, argv)), "vhm-testbe did not start");
}

static void connect_front(int timeout_ms)
{
	int rc = vhu_front_connect(&f, sock, timeout_ms);

	cr_assert(eq(int, rc, 0), "%s", f.err);
}

/* Backend up, frontend connected and negotiated for `want` protocol features. */
static void open_dev(const char *const *extra, uint64_t want)
{
	start_be(extra);
	connect_front(5000);
	cr_assert(eq(int, vhu_front_negotiate(&f, want), 0), "%s", f.err);
}

/* The record as the backend wrote it last. */
static json_t *record_load(void)
{
	json_error_t je;

	json_decref(record);
	record = json_load_file(rec, 0, &je);
	cr_assert(not(eq(ptr, record, NULL)), "record %s: %s", rec, je.text);
	return record;
}

/* The record after everything sent so far was handled: the backend writes it
 * before each reply and handles messages in order, so a GET_FEATURES round
 * trip is a barrier. */
static json_t *record_sync(void)
{
	uint64_t v;

	cr_assert(eq(int, vhu_get_u64(&f, VHU_GET_FEATURES, &v), 0), "%s", f.err);
	return record_load();
}

static json_int_t rec_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	cr_assert(eq(int, json_is_integer(v), 1), "record has no integer '%s'", key);
	return json_integer_value(v);
}

static bool rec_bool(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	cr_assert(eq(int, json_is_boolean(v), 1), "record has no boolean '%s'", key);
	return json_is_true(v);
}

static json_t *rec_ring(json_t *r, size_t i)
{
	json_t *q = json_array_get(json_object_get(r, "rings"), i);

	cr_assert(not(eq(ptr, q, NULL)), "record has no ring %zu", i);
	return q;
}

/* How many times the backend saw `name` (0 if never). */
static json_int_t rec_count(json_t *r, const char *name)
{
	json_t *v = json_object_get(json_object_get(r, "counts"), name);

	return v ? json_integer_value(v) : 0;
}

static json_int_t rec_total(json_t *r)
{
	const char *k;
	json_t *v;
	json_int_t n = 0;

	json_object_foreach(json_object_get(r, "counts"), k, v)
		n += json_integer_value(v);
	return n;
}

static int memfd_of(size_t size)
{
	int fd = memfd_create("vhm-test-mem", MFD_CLOEXEC);

	cr_assert(ge(int, fd, 0));
	cr_assert(eq(int, ftruncate(fd, (off_t)size), 0));
	return fd;
}

TestSuite(vhu_front, .init = setup, .fini = teardown, .timeout = 20);
TestSuite(vhu_misbehave, .init = setup, .fini = teardown, .timeout = 20);
TestSuite(vhu_probe, .init = setup, .fini = teardown, .timeout = 20);
TestSuite(vhu_cli, .init = setup, .fini = teardown, .timeout = 20);
TestSuite(vhu_testbe, .init = setup, .fini = teardown, .timeout = 20);

/* ---- requests and their effect -------------------------------------------------- */

Test(vhu_front, negotiation_is_recorded)
{
	json_t *r;

	open_dev(NULL, vhu_front_default_protocol());
	r = record_sync();
	cr_assert(rec_bool(r, "owner"));
	cr_assert(eq(u64, (uint64_t)rec_int(r, "protocol_features"), f.acked_protocol));
	cr_assert(eq(u64, f.acked_protocol, vhu_front_default_protocol()),
		  "testbe offers every default protocol feature");
	cr_assert(rec_bool(r, "has_breq"), "BACKEND_REQ channel not handed over");
	cr_assert(eq(int, (int)rec_count(r, "SET_OWNER"), 1));
	cr_assert(eq(int, (int)rec_count(r, "SET_PROTOCOL_FEATURES"), 1));
	cr_assert(eq(u32, f.max_mem_slots, TBE_MAX_SLOTS));
}

/* Criterion hands parameters to a re-executed worker: no pointers inside. */
struct u64_case {
	uint32_t request;
	uint64_t value;
	char key[16];    /* record field that must show the value */
	uint32_t get;       /* request that reads it back, or 0 */
};

static struct u64_case u64_cases[] = {
	{ VHU_SET_FEATURES, (1ull << VHU_F_VERSION_1) | (1ull << VHU_F_PROTOCOL_FEATURES) |
			    (1ull << VHU_F_LOG_ALL), "features", 0 },
	{ VHU_NET_SET_MTU, 1500, "mtu", 0 },
	{ VHU_SET_STATUS, 0x0f, "status", VHU_GET_STATUS },
};

ParameterizedTestParameters(vhu_front, set_u64_takes_effect)
{
	return cr_make_param_array(struct u64_case, u64_cases,
				   sizeof(u64_cases) / sizeof(u64_cases[0]));
}

ParameterizedTest(struct u64_case *c, vhu_front, set_u64_takes_effect)
{
	uint64_t back = 0;

	open_dev(NULL, vhu_front_default_protocol());
	cr_assert(eq(int, vhu_set_u64(&f, c->request, c->value), 0), "%s", f.err);
	cr_assert(eq(u64, (uint64_t)rec_int(record_sync(), c->key), c->value),
		  "%s not recorded", vhu_req_name(c->request));
	if (c->get) {
		cr_assert(eq(int, vhu_get_u64(&f, c->get, &back), 0), "%s", f.err);
		cr_assert(eq(u64, back, c->value));
	}
}

struct get_case {
	uint32_t request;
	char queues[4];
	uint64_t want;
	int seen;           /* times the backend saw it, negotiation included */
};

static struct get_case get_cases[] = {
	{ VHU_GET_QUEUE_NUM, "4", 4, 2 },
	{ VHU_GET_MAX_MEM_SLOTS, "1", TBE_MAX_SLOTS, 2 },
	{ VHU_GET_STATUS, "1", 0, 1 },
	{ VHU_CHECK_DEVICE_STATE, "1", 1, 1 },   /* nothing saved or loaded yet: not ok */
};

ParameterizedTestParameters(vhu_front, get_u64_answers)
{
	return cr_make_param_array(struct get_case, get_cases,
				   sizeof(get_cases) / sizeof(get_cases[0]));
}

ParameterizedTest(struct get_case *c, vhu_front, get_u64_answers)
{
	const char *extra[] = { "--queues", c->queues, NULL };
	uint64_t v = 99;

	open_dev(extra, ~0ull);
	cr_assert(eq(int, vhu_get_u64(&f, c->request, &v), 0), "%s", f.err);
	cr_assert(eq(u64, v, c->want), "%s", vhu_req_name(c->request));
	cr_assert(eq(int, (int)rec_count(record_load(), vhu_req_name(c->request)), c->seen));
}

Test(vhu_front, ring_setup_and_stop)
{
	const char *extra[] = { "--queues", "2", NULL };
	struct vhu_vring_addr a = { .index = 1, .flags = VHU_VRING_F_LOG, .desc = 0x10000,
				    .used = 0x12000, .avail = 0x11000, .log_guest_addr = 0x2000 };
	uint32_t idx[2] = { 1, 3 }, base[2] = { 0, 0 };
	int kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC);
	json_t *r, *q;

	open_dev(extra, vhu_front_default_protocol());
	cr_assert(eq(int, vhu_set_vring_state(&f, VHU_SET_VRING_NUM, 1, 256), 0), "%s", f.err);
	cr_assert(eq(int, vhu_set_vring_addr(&f, &a), 0), "%s", f.err);
	cr_assert(eq(int, vhu_set_vring_state(&f, VHU_SET_VRING_BASE, 1, 42), 0), "%s", f.err);
	cr_assert(eq(int, vhu_set_vring_state(&f, VHU_SET_VRING_BASE, 3, 7), 0), "%s", f.err);
	cr_assert(eq(int, vhu_set_vring_fd(&f, VHU_SET_VRING_KICK, 1, kick), 0), "%s", f.err);
	cr_assert(eq(int, vhu_set_vring_fd(&f, VHU_SET_VRING_CALL, 1, call), 0), "%s", f.err);
	cr_assert(eq(int, vhu_set_vring_fd(&f, VHU_SET_VRING_ERR, 1, -1), 0), "%s", f.err);
	cr_assert(eq(int, vhu_set_vring_state(&f, VHU_SET_VRING_ENABLE, 1, 1), 0), "%s", f.err);
	q = rec_ring(record_sync(), 1);
	cr_assert(eq(int, (int)rec_int(q, "num"), 256));
	cr_assert(eq(int, (int)rec_int(q, "desc"), 0x10000));
	cr_assert(eq(int, (int)rec_int(q, "used"), 0x12000));
	cr_assert(eq(int, (int)rec_int(q, "avail"), 0x11000));
	cr_assert(eq(int, (int)rec_int(q, "log_guest_addr"), 0x2000));
	cr_assert(eq(int, (int)rec_int(q, "addr_flags"), VHU_VRING_F_LOG));
	cr_assert(eq(int, (int)rec_int(q, "base"), 42));
	cr_assert(rec_bool(q, "has_kick") && rec_bool(q, "has_call"));
	cr_assert(not(rec_bool(q, "has_err")), "polling-mode err ring got an fd");
	cr_assert(rec_bool(q, "enabled") && rec_bool(q, "started"));
	cr_assert(not(rec_bool(rec_ring(record, 0), "enabled")), "ring 0 enabled by accident");

	cr_assert(eq(int, vhu_get_vring_bases(&f, idx, base, 2), 0), "%s", f.err);
	cr_assert(eq(u32, base[0], 42));
	cr_assert(eq(u32, base[1], 7));
	r = record_sync();
	cr_assert(not(rec_bool(rec_ring(r, 1), "started")), "GET_VRING_BASE did not stop ring 1");
	cr_assert(eq(int, (int)rec_count(r, "GET_VRING_BASE"), 2));
	close(kick);
	close(call);
}

Test(vhu_front, ring_index_outside_the_device_breaks_the_connection)
{
	open_dev(NULL, vhu_front_default_protocol());   /* 1 queue pair: rings 0, 1 */
	cr_assert(not(eq(int, vhu_set_vring_state(&f, VHU_SET_VRING_NUM, 5, 256), 0)));
	cr_assert(f.broken, "a dropped connection must mark the frontend broken");
}

Test(vhu_front, memory_table_and_slots)
{
	struct vhu_mem_region r[2] = {
		{ .guest_phys_addr = 0, .memory_size = 1 << 20, .userspace_addr = 0x7f0000000000 },
		{ .guest_phys_addr = 1 << 20, .memory_size = 1 << 20,
		  .userspace_addr = 0x7f0000100000, .mmap_offset = 1 << 20 },
	};
	struct vhu_mem_region extra = { .guest_phys_addr = 4 << 20, .memory_size = 1 << 20,
					.userspace_addr = 0x7f1000000000 };
	int mfd = memfd_of(2 << 20), xfd = memfd_of(1 << 20), fds[2] = { mfd, mfd };
	json_t *regs;

	open_dev(NULL, vhu_front_default_protocol());
	cr_assert(eq(int, vhu_set_mem_table(&f, r, fds, 2), 0), "%s", f.err);
	regs = json_object_get(record_sync(), "regions");
	cr_assert(eq(sz, json_array_size(regs), 2));
	cr_assert(eq(int, (int)rec_int(json_array_get(regs, 1), "gpa"), 1 << 20));
	cr_assert(eq(int, (int)rec_int(json_array_get(regs, 1), "size"), 1 << 20));

	cr_assert(eq(int, vhu_add_mem_reg(&f, &extra, xfd), 0), "%s", f.err);
	cr_assert(eq(sz, json_array_size(json_object_get(record_sync(), "regions")), 3));
	cr_assert(eq(int, vhu_add_mem_reg(&f, &extra, xfd), -EIO), "overlap must be refused");
	cr_assert(not(f.broken), "a refusal is not a broken connection");
	cr_assert(eq(int, vhu_rem_mem_reg(&f, &r[0], -1), 0), "%s", f.err);
	regs = json_object_get(record_sync(), "regions");
	cr_assert(eq(sz, json_array_size(regs), 2));
	cr_assert(eq(int, (int)rec_int(json_array_get(regs, 0), "gpa"), 1 << 20));
	cr_assert(eq(int, vhu_rem_mem_reg(&f, &r[0], -1), -EIO), "removing twice must be refused");
	close(mfd);
	close(xfd);
}

struct log_case {
	char reply_size[2];
};

ParameterizedTestParameters(vhu_front, log_base_either_reply_size)
{
	static struct log_case sizes[] = { { "0" }, { "8" } };

	return cr_make_param_array(struct log_case, sizes, 2);
}

ParameterizedTest(struct log_case *c, vhu_front, log_base_either_reply_size)
{
	const char *extra[] = { "--log-reply-size", c->reply_size, NULL };
	int lfd = memfd_of(8192);

	open_dev(extra, vhu_front_default_protocol());
	cr_assert(eq(int, vhu_set_log_base(&f, lfd, 8192, 0), 0), "%s", f.err);
	cr_assert(eq(int, (int)rec_int(record_sync(), "log_size"), 8192));
	close(lfd);
}

Test(vhu_front, config_space_read_and_write)
{
	static const uint8_t mac[6] = { 0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc };
	static const uint8_t dflt[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	uint8_t got[6];

	open_dev(NULL, vhu_front_default_protocol());
	cr_assert(eq(int, vhu_get_config(&f, 0, 6, got), 0), "%s", f.err);
	cr_assert(eq(int, memcmp(got, dflt, 6), 0), "default MAC not at offset 0");
	cr_assert(eq(int, vhu_set_config(&f, 0, 6, mac), 0), "%s", f.err);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(record_sync(), "config_mac")),
		     "02:00:00:aa:bb:cc"));
	cr_assert(eq(int, vhu_get_config(&f, 0, 6, got), 0), "%s", f.err);
	cr_assert(eq(int, memcmp(got, mac, 6), 0), "GET_CONFIG does not return what SET_CONFIG wrote");
	cr_assert(eq(int, vhu_set_config(&f, 250, 6, mac), 0), "the last 6 bytes are writable");
}

Test(vhu_front, rarp_macs_are_recorded_in_order)
{
	static const uint8_t a[6] = { 0x52, 0x54, 0, 0, 0, 1 }, b[6] = { 0x52, 0x54, 0, 0, 0, 2 };
	json_t *l;

	open_dev(NULL, vhu_front_default_protocol());
	cr_assert(eq(int, vhu_send_rarp(&f, a), 0), "%s", f.err);
	cr_assert(eq(int, vhu_send_rarp(&f, b), 0), "%s", f.err);
	l = json_object_get(record_sync(), "rarp");
	cr_assert(eq(sz, json_array_size(l), 2));
	cr_assert(eq(str, (char *)json_string_value(json_array_get(l, 0)), "52:54:00:00:00:01"));
	cr_assert(eq(str, (char *)json_string_value(json_array_get(l, 1)), "52:54:00:00:00:02"));
}

Test(vhu_front, inflight_fd_round_trip)
{
	struct vhu_inflight in;
	struct stat st;
	int fd = -1;

	open_dev(NULL, ~0ull);
	cr_assert(eq(int, vhu_get_inflight_fd(&f, 2, 256, &in, &fd), 0), "%s", f.err);
	cr_assert(ge(int, fd, 0));
	cr_assert(eq(int, fstat(fd, &st), 0));
	cr_assert(eq(u64, (uint64_t)st.st_size, in.mmap_size), "fd size differs from mmap_size");
	cr_assert(eq(int, in.num_queues, 2));
	cr_assert(eq(int, in.queue_size, 256));
	cr_assert(eq(int, vhu_set_inflight_fd(&f, &in, fd), 0), "%s", f.err);
	cr_assert(eq(u64, (uint64_t)rec_int(record_sync(), "inflight_size"), in.mmap_size));
	close(fd);
}

Test(vhu_front, device_state_save_then_load)
{
	int p[2], rfd = 0;
	char buf[256] = "";
	ssize_t n;
	json_t *ds;

	open_dev(NULL, ~0ull);
	cr_assert(eq(int, pipe2(p, O_CLOEXEC), 0));
	cr_assert(eq(int, vhu_set_device_state_fd(&f, 0, 0, p[1], &rfd), 0), "%s", f.err);
	cr_assert(eq(int, rfd, -1), "testbe uses the frontend's fd");
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	cr_assert(lt(sz, strlen(TBE_STATE_MAGIC), (size_t)(n > 0 ? n : 0)));
	cr_assert(eq(int, strncmp(buf, TBE_STATE_MAGIC, strlen(TBE_STATE_MAGIC)), 0));
	cr_assert(eq(int, vhu_check_device_state(&f), 0), "%s", f.err);

	cr_assert(eq(int, pipe2(p, O_CLOEXEC), 0));
	cr_assert(eq(int, vhu_set_device_state_fd(&f, 1, 0, p[0], &rfd), 0), "%s", f.err);
	close(p[0]);
	cr_assert(eq(int, (int)write(p[1], buf, (size_t)n), (int)n));
	close(p[1]);
	cr_assert(eq(int, vhu_check_device_state(&f), 0), "%s", f.err);
	ds = json_object_get(record_sync(), "device_state");
	cr_assert(rec_bool(ds, "ok"));
	cr_assert(eq(int, (int)rec_int(ds, "bytes"), (int)n));
}

Test(vhu_front, device_state_load_of_garbage_fails_check)
{
	int p[2], rfd;

	open_dev(NULL, ~0ull);
	cr_assert(eq(int, pipe2(p, O_CLOEXEC), 0));
	cr_assert(eq(int, vhu_set_device_state_fd(&f, 1, 0, p[0], &rfd), 0), "%s", f.err);
	close(p[0]);
	cr_assert(eq(int, (int)write(p[1], "garbage", 7), 7));
	close(p[1]);
	cr_assert(eq(int, vhu_check_device_state(&f), -EIO));
	cr_assert(not(eq(ptr, strstr(f.err, "CHECK_DEVICE_STATE to "), NULL)), "%s", f.err);
}

Test(vhu_front, reset_device_and_reset_owner)
{
	int kick = eventfd(0, EFD_CLOEXEC);
	json_t *r;

	open_dev(NULL, vhu_front_default_protocol());
	cr_assert(eq(int, vhu_set_vring_fd(&f, VHU_SET_VRING_KICK, 0, kick), 0), "%s", f.err);
	cr_assert(eq(int, vhu_set_u64(&f, VHU_SET_STATUS, 7), 0), "%s", f.err);
	cr_assert(eq(int, vhu_front_request(&f, VHU_RESET_DEVICE, NULL, NULL, 0, NULL), 0), "%s",
		  f.err);
	r = record_sync();
	cr_assert(eq(int, (int)rec_int(r, "resets"), 1));
	cr_assert(eq(int, (int)rec_int(r, "status"), 0));
	cr_assert(not(rec_bool(rec_ring(r, 0), "has_kick")), "RESET_DEVICE kept the kick fd");
	cr_assert(eq(int, vhu_front_request(&f, VHU_RESET_OWNER, NULL, NULL, 0, NULL), 0), "%s",
		  f.err);
	cr_assert(not(rec_bool(record_sync(), "owner")));
	close(kick);
}

ParameterizedTestParameters(vhu_front, reply_ack_on_and_off)
{
	static bool on[] = { true, false };

	return cr_make_param_array(bool, on, 2);
}

/* With REPLY_ACK every ack'd request asks for one and a refusal is seen;
 * without it none asks (testbe drops a NEED_REPLY it did not agree to). */
ParameterizedTest(bool *on, vhu_front, reply_ack_on_and_off)
{
	const char *drop[] = { "--drop-proto", "REPLY_ACK", NULL };
	json_t *r;

	open_dev(*on ? NULL : drop, vhu_front_default_protocol());
	cr_assert(eq(int, vhu_front_has_pf(&f, VHU_PF_REPLY_ACK), *on));
	cr_assert(eq(int, vhu_set_vring_state(&f, VHU_SET_VRING_NUM, 0, 256), 0), "%s", f.err);
	cr_assert(eq(int, vhu_set_u64(&f, VHU_NET_SET_MTU, 10), *on ? -EIO : 0),
		  "MTU 10 is refused by testbe; only an ack can tell");
	r = record_sync();
	cr_assert(eq(int, (int)rec_int(rec_ring(r, 0), "num"), 256));
	if (*on) {
		cr_assert(lt(int, 2, (int)rec_int(r, "need_reply")));
		cr_assert(not(eq(ptr, strstr(f.err, "NET_SET_MTU to "), NULL)), "%s", f.err);
		cr_assert(not(eq(ptr, strstr(f.err, "backend refused (ack 1)"), NULL)), "%s", f.err);
	} else {
		cr_assert(eq(int, (int)rec_int(r, "need_reply"), 0));
	}
	cr_assert(not(f.broken));
}

struct dropped_case {
	char feature[24];
	uint32_t request;
};

static struct dropped_case dropped_cases[] = {
	{ "RARP", VHU_SEND_RARP },
	{ "NET_MTU", VHU_NET_SET_MTU },
	{ "CONFIG", VHU_GET_CONFIG },
	{ "CONFIG", VHU_SET_CONFIG },
	{ "STATUS", VHU_SET_STATUS },
	{ "STATUS", VHU_GET_STATUS },
	{ "LOG_SHMFD", VHU_SET_LOG_BASE },
	{ "RESET_DEVICE", VHU_RESET_DEVICE },
	{ "CONFIGURE_MEM_SLOTS", VHU_ADD_MEM_REG },
	{ "CONFIGURE_MEM_SLOTS", VHU_GET_MAX_MEM_SLOTS },
	{ "INFLIGHT_SHMFD", VHU_GET_INFLIGHT_FD },
	{ "DEVICE_STATE", VHU_CHECK_DEVICE_STATE },
	{ "MQ", VHU_GET_QUEUE_NUM },
	{ "BACKEND_REQ", VHU_SET_BACKEND_REQ_FD },
};

ParameterizedTestParameters(vhu_front, dropped_feature_fails_without_the_wire)
{
	return cr_make_param_array(struct dropped_case, dropped_cases,
				   sizeof(dropped_cases) / sizeof(dropped_cases[0]));
}

ParameterizedTest(struct dropped_case *c, vhu_front, dropped_feature_fails_without_the_wire)
{
	const char *extra[] = { "--drop-proto", c->feature, NULL };
	union vhu_payload p;
	char want[160];
	json_int_t before;

	memset(&p, 0, sizeof(p));
	open_dev(extra, ~0ull);
	before = rec_total(record_sync());
	cr_assert(eq(int, vhu_front_request(&f, c->request, &p, NULL, 0, NULL), -ENOTSUP));
	snprintf(want, sizeof(want), "%s to %s: protocol feature %s not negotiated",
		 vhu_req_name(c->request), sock, c->feature);
	cr_assert(eq(str, f.err, want));
	cr_assert(not(f.broken), "a refused send must not break the connection");
	/* +1: record_sync's own GET_FEATURES */
	cr_assert(eq(int, (int)rec_total(record_sync()), (int)before + 1), "it reached the backend");
	cr_assert(eq(int, (int)rec_count(record, vhu_req_name(c->request)), 0));
}

Test(vhu_front, no_protocol_features_no_pf_requests)
{
	const char *extra[] = { "--features", "100000000", NULL };   /* VERSION_1 only */
	char want[160];

	open_dev(extra, ~0ull);
	cr_assert(eq(u64, f.acked_protocol, 0));
	cr_assert(eq(int, vhu_set_vring_state(&f, VHU_SET_VRING_ENABLE, 0, 1), -ENOTSUP));
	snprintf(want, sizeof(want), "SET_VRING_ENABLE to %s: backend does not offer "
		 "PROTOCOL_FEATURES (virtio bit 30)", sock);
	cr_assert(eq(str, f.err, want));
	cr_assert(eq(int, (int)rec_count(record_sync(), "GET_PROTOCOL_FEATURES"), 0));
}

Test(vhu_front, backend_channel_acks_config_change_refuses_iotlb)
{
	const char *extra[] = { "--breq-test", NULL };
	long deadline;
	json_t *acks = NULL;

	open_dev(extra, vhu_front_default_protocol());
	deadline = ts_now_ms() + 3000;
	while ((f.breq_config_changes < 1 || f.breq_refused < 1) && ts_now_ms() < deadline) {
		cr_assert(eq(int, vhu_front_serve_backend(&f), 0), "%s", f.err);
		usleep(2000);
	}
	cr_assert(eq(u64, f.breq_config_changes, 1));
	cr_assert(eq(u64, f.breq_refused, 1), "IOTLB_MSG must be refused: vhm has no IOMMU");
	while (ts_now_ms() < deadline) {
		acks = json_object_get(record_load(), "breq_acks");
		if (json_object_size(acks) == 2)
			break;
		usleep(5000);
	}
	cr_assert(eq(sz, json_object_size(acks), 2), "testbe did not get both acks");
	cr_assert(eq(int, (int)rec_int(acks, "CONFIG_CHANGE_MSG"), 0));
	cr_assert(not(eq(int, (int)rec_int(acks, "IOTLB_MSG"), 0)));
}

/* testbe --client: the backend connects to vhm (QEMU's server mode). */
Test(vhu_front, adopt_a_backend_that_connects_to_us)
{
	const char *extra[] = { "--client", "--once", "--record", rec, NULL };
	int ls, c;

	ls = usock_listen(sock, 1, 0, 0);
	cr_assert(ge(int, ls, 0), "listen %s: %s", sock, strerror(-ls));
	cr_assert(lt(int, 0, (int)ts_testbe_start(sock, extra)));
	c = usock_accept(ls, 5000, 0);
	close(ls);
	cr_assert(ge(int, c, 0), "testbe --client did not connect: %s", strerror(-c));
	cr_assert(eq(int, vhu_front_adopt(&f, c, "testbe-client", 5000), 0), "%s", f.err);
	cr_assert(eq(int, vhu_front_negotiate(&f, vhu_front_default_protocol()), 0), "%s", f.err);
	cr_assert(rec_bool(record_sync(), "owner"));
}

/* ---- misbehaving backends ------------------------------------------------------- */

struct mis_case {
	char mode[32];           /* --misbehave argument */
	uint32_t request;        /* the request that fails */
	bool in_negotiation;     /* fails inside vhu_front_negotiate */
	int rc;
	char what[80];           /* f->err after "<REQUEST> to <sock>: " */
	bool breaks;
};

_Static_assert(VHU_PAYLOAD_MAX == 272, "the huge-size expectations below name the bound");
static struct mis_case mis_cases[] = {
	{ "wrong-size", VHU_GET_FEATURES, true, -EPROTO, "reply size 12, expected 8 bytes", true },
	{ "wrong-echo", VHU_GET_FEATURES, true, -EPROTO,
	  "reply echoes SET_FEATURES, expected GET_FEATURES", true },
	{ "bad-flags", VHU_GET_FEATURES, true, -EPROTO,
	  "reply flags 0x1, expected 0x5 (version 1 + reply bit)", true },
	{ "no-reply", VHU_GET_FEATURES, true, -ETIMEDOUT, "no reply within 500 ms", true },
	{ "hang", VHU_GET_FEATURES, true, -ETIMEDOUT, "no reply within 500 ms", true },
	{ "close-mid", VHU_GET_FEATURES, true, -ECONNRESET,
	  "peer closed mid-message (payload: 4 of 8 bytes)", true },
	{ "extra-fds", VHU_GET_FEATURES, true, -EPROTO, "reply carries 2 fds, expected 0", true },
	{ "huge-size", VHU_GET_FEATURES, true, -EMSGSIZE,
	  "GET_FEATURES: payload size 1048576 above the protocol bound 272", true },
	{ "refuse:SET_BACKEND_REQ_FD", VHU_SET_BACKEND_REQ_FD, true, -EIO,
	  "backend refused (ack 1)", false },
	{ "huge-size:GET_QUEUE_NUM", VHU_GET_QUEUE_NUM, true, -EMSGSIZE,
	  "GET_QUEUE_NUM: payload size 1048576 above the protocol bound 272", true },
	{ "wrong-size:GET_VRING_BASE", VHU_GET_VRING_BASE, false, -EPROTO,
	  "reply size 12, expected 8 bytes", true },
	{ "no-reply:SET_VRING_CALL", VHU_SET_VRING_CALL, false, -ETIMEDOUT,
	  "no reply within 500 ms", true },
	{ "hang:SET_VRING_NUM", VHU_SET_VRING_NUM, false, -ETIMEDOUT, "no reply within 500 ms",
	  true },
	{ "extra-fds:GET_INFLIGHT_FD", VHU_GET_INFLIGHT_FD, false, -EPROTO,
	  "reply carries 3 fds, expected 1", true },
	{ "close-mid:GET_CONFIG", VHU_GET_CONFIG, false, -ECONNRESET,
	  "peer closed mid-message (payload: 9 of 18 bytes)", true },
	{ "wrong-echo:GET_STATUS", VHU_GET_STATUS, false, -EPROTO,
	  "reply echoes request 41, expected GET_STATUS", true },
	{ "bad-flags:SET_MEM_TABLE", VHU_SET_MEM_TABLE, false, -EPROTO,
	  "reply flags 0x1, expected 0x5 (version 1 + reply bit)", true },
	{ "refuse:SET_VRING_ADDR", VHU_SET_VRING_ADDR, false, -EIO, "backend refused (ack 1)",
	  false },
};

/* The one request a case is about, issued after a good negotiation. */
static int issue(uint32_t request)
{
	struct vhu_mem_region r = { .memory_size = 1 << 20, .userspace_addr = 0x7f0000000000 };
	struct vhu_vring_addr a = { .index = 0 };
	struct vhu_inflight in;
	uint32_t idx = 0, base;
	uint64_t v;
	uint8_t cfg[6];
	int fd, rc;

	switch (request) {
	case VHU_GET_VRING_BASE:
		return vhu_get_vring_bases(&f, &idx, &base, 1);
	case VHU_SET_VRING_CALL:
		fd = eventfd(0, EFD_CLOEXEC);
		rc = vhu_set_vring_fd(&f, VHU_SET_VRING_CALL, 0, fd);
		close(fd);
		return rc;
	case VHU_SET_VRING_NUM:
		return vhu_set_vring_state(&f, VHU_SET_VRING_NUM, 0, 256);
	case VHU_SET_VRING_ADDR:
		return vhu_set_vring_addr(&f, &a);
	case VHU_GET_INFLIGHT_FD:
		rc = vhu_get_inflight_fd(&f, 1, 256, &in, &fd);
		if (!rc)
			close(fd);
		return rc;
	case VHU_GET_CONFIG:
		return vhu_get_config(&f, 0, 6, cfg);
	case VHU_GET_STATUS:
		return vhu_get_u64(&f, VHU_GET_STATUS, &v);
	case VHU_SET_MEM_TABLE:
		fd = memfd_of(1 << 20);
		rc = vhu_set_mem_table(&f, &r, &fd, 1);
		close(fd);
		return rc;
	}
	cr_fatal("no way to issue %s", vhu_req_name(request));
	return -EINVAL;
}

/* A misbehaviour's outcome: rc, the error naming the request and what
 * happened, in time (el ms), the connection broken or not as expected. */
static void assert_fault(const char *mode, uint32_t request, int rc, int want_rc,
			 const char *what, bool breaks, long el)
{
	char want[256];

	cr_assert(eq(int, rc, want_rc), "%s: rc %d (%s)", mode, rc, f.err);
	snprintf(want, sizeof(want), "%s to %s: %s", vhu_req_name(request), sock, what);
	cr_assert(eq(str, f.err, want));
	cr_assert(lt(long, el, (long)SHORT_MS + MARGIN_MS), "%s took %ld ms", mode, el);
	cr_assert(eq(int, f.broken, breaks));
}

ParameterizedTestParameters(vhu_misbehave, clean_error_in_time_no_leak)
{
	return cr_make_param_array(struct mis_case, mis_cases,
				   sizeof(mis_cases) / sizeof(mis_cases[0]));
}

ParameterizedTest(struct mis_case *c, vhu_misbehave, clean_error_in_time_no_leak)
{
	const char *extra[] = { "--misbehave", c->mode, NULL };
	int fds_before, rc;
	long t0, el;

	start_be(extra);
	fds_before = ts_count_fds();
	connect_front(SHORT_MS);
	t0 = ts_now_ms();
	rc = vhu_front_negotiate(&f, ~0ull);
	if (!c->in_negotiation) {
		cr_assert(eq(int, rc, 0), "%s", f.err);
		t0 = ts_now_ms();
		rc = issue(c->request);
	}
	el = ts_now_ms() - t0;
	assert_fault(c->mode, c->request, rc, c->rc, c->what, c->breaks, el);
	if (c->breaks) {
		cr_assert(eq(int, vhu_set_u64(&f, VHU_SET_FEATURES, 0), -ENOTCONN));
		cr_assert(not(eq(ptr, strstr(f.err, "connection already broken"), NULL)), "%s", f.err);
	}
	vhu_front_close(&f);
	cr_assert(eq(int, ts_count_fds(), fds_before), "fds leaked by %s", c->mode);
}

/* A fault on the third reply of a pipeline of four (the batched read,
 * vhu_front.c collect_fixed): the error names its request, a refusal keeps
 * the stream in step (the next request is answered), anything else breaks
 * the connection, in time, with no fd left behind. */
struct pipe_case {
	char mode[40];           /* --misbehave argument */
	uint32_t request;        /* SET_VRING_BASE (acked) or GET_VRING_BASE */
	int rc;
	char what[80];           /* f->err after "<REQUEST> to <sock>: " */
	bool breaks;
};

static struct pipe_case pipe_cases[] = {
	{ "refuse:SET_VRING_BASE@3", VHU_SET_VRING_BASE, -EIO, "backend refused (ack 1)", false },
	{ "wrong-size:SET_VRING_BASE@3", VHU_SET_VRING_BASE, -EPROTO,
	  "reply size 12, expected 8 bytes", true },
	{ "bad-flags:SET_VRING_BASE@3", VHU_SET_VRING_BASE, -EPROTO,
	  "reply flags 0x1, expected 0x5 (version 1 + reply bit)", true },
	{ "extra-fds:SET_VRING_BASE@3", VHU_SET_VRING_BASE, -EPROTO,
	  "fds came with replies that carry none (closed)", true },
	{ "close-mid:SET_VRING_BASE@3", VHU_SET_VRING_BASE, -ECONNRESET,
	  "peer closed mid-message (16 of 20 bytes)", true },
	{ "no-reply:SET_VRING_BASE@3", VHU_SET_VRING_BASE, -ETIMEDOUT, "no reply within 500 ms",
	  true },
	{ "wrong-echo:GET_VRING_BASE@3", VHU_GET_VRING_BASE, -EPROTO,
	  "reply echoes SET_VRING_KICK, expected GET_VRING_BASE", true },
	{ "close:GET_VRING_BASE@3", VHU_GET_VRING_BASE, -ECONNRESET,
	  "peer closed the connection", true },
};

ParameterizedTestParameters(vhu_misbehave, pipeline_fault_on_third_reply)
{
	return cr_make_param_array(struct pipe_case, pipe_cases,
				   sizeof(pipe_cases) / sizeof(pipe_cases[0]));
}

ParameterizedTest(struct pipe_case *c, vhu_misbehave, pipeline_fault_on_third_reply)
{
	const char *extra[] = { "--queues", "2", "--misbehave", c->mode, NULL };
	struct vhu_pipe_req r[4];
	uint32_t idx[4] = { 0, 1, 2, 3 }, base[4];
	int fds_before, rc;
	long t0, el;

	start_be(extra);
	fds_before = ts_count_fds();
	connect_front(SHORT_MS);
	cr_assert(eq(int, vhu_front_negotiate(&f, vhu_front_default_protocol()), 0), "%s", f.err);
	for (int i = 0; i < 4; i++)
		r[i] = (struct vhu_pipe_req){ .request = VHU_SET_VRING_BASE, .fd = -1,
					      .p.state = { .index = (uint32_t)i, .num = 10u + (uint32_t)i } };
	t0 = ts_now_ms();
	rc = c->request == VHU_SET_VRING_BASE ? vhu_front_pipeline(&f, r, 4)
					      : vhu_get_vring_bases(&f, idx, base, 4);
	el = ts_now_ms() - t0;
	assert_fault(c->mode, c->request, rc, c->rc, c->what, c->breaks, el);
	if (!c->breaks) {          /* all four answered: the next reply is the next request's */
		cr_assert(eq(int, vhu_get_vring_bases(&f, idx, base, 2), 0), "%s", f.err);
		cr_assert(eq(u32, base[0], 10));
		cr_assert(eq(u32, base[1], 11));
	}
	vhu_front_close(&f);
	cr_assert(eq(int, ts_count_fds(), fds_before), "fds leaked by %s", c->mode);
}

/* ---- vhm probe ------------------------------------------------------------------- */


ParameterizedTestParameters(vhu_probe, misbehaving_backend_exits_3_one_line)
{
	size_t n = 0;

	while (n < sizeof(mis_cases) / sizeof(mis_cases[0]) && mis_cases[n].in_negotiation)
		n++;
	return cr_make_param_array(struct mis_case, mis_cases, n);
}

ParameterizedTest(struct mis_case *c, vhu_probe, misbehaving_backend_exits_3_one_line)
{
	const char *extra[] = { "--misbehave", c->mode, NULL };
	const char *args[] = { "probe", sock, "--timeout", "500ms", NULL };
	char want[256];
	struct ts_run r;

	start_be(extra);
	dt_vhm(args, &r);
	snprintf(want, sizeof(want), "vhm probe: %s to %s: %s\n", vhu_req_name(c->request), sock,
		 c->what);
	cr_assert(eq(int, r.status, VHM_EXIT_PEER), "%s: exit %d, stderr: %s", c->mode, r.status,
		  r.err);
	cr_assert(eq(str, r.err, want));
	cr_assert(eq(int, ts_count_lines(r.err), 1));
	cr_assert(eq(str, r.out, ""), "nothing on stdout on failure");
	cr_assert(lt(int, r.elapsed_ms, SHORT_MS + 1500), "took %d ms", r.elapsed_ms);
	ts_run_free(&r);
}

Test(vhu_probe, json_output_parses_and_matches)
{
	const char *args[] = { "probe", sock, "--json", NULL };
	char feat[24];
	struct ts_run r;
	json_error_t je;
	json_t *o;

	start_be((const char *[]){ "--queues", "3", NULL });
	dt_vhm(args, &r);
	cr_assert(eq(int, r.status, 0), "stderr: %s", r.err);
	o = json_loads(r.out, 0, &je);
	cr_assert(not(eq(ptr, o, NULL)), "not JSON (%s): %s", je.text, r.out);
	snprintf(feat, sizeof(feat), "0x%016llx", 0x564608028ull);   /* testbe's default set */
	cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "features")), feat));
	cr_assert(eq(int, (int)json_integer_value(json_object_get(o, "queue_num")), 3));
	cr_assert(eq(int, json_is_true(json_object_get(o, "migratable")), 1));
	cr_assert(eq(sz, json_array_size(json_object_get(o, "missing")), 0));
	json_decref(o);
	ts_run_free(&r);
}

Test(vhu_probe, no_log_shmfd_is_not_migratable)
{
	const char *args[] = { "probe", sock, "--json", NULL };
	struct ts_run r;
	json_t *o, *missing;

	start_be((const char *[]){ "--drop-proto", "LOG_SHMFD", NULL });
	dt_vhm(args, &r);
	cr_assert(eq(int, r.status, VHM_EXIT_FAIL), "stderr: %s", r.err);
	o = json_loads(r.out, 0, NULL);
	cr_assert(not(eq(ptr, o, NULL)), "not JSON: %s", r.out);
	missing = json_object_get(o, "missing");
	cr_assert(eq(sz, json_array_size(missing), 1));
	cr_assert(eq(str, (char *)json_string_value(json_array_get(missing, 0)), "LOG_SHMFD"));
	json_decref(o);
	ts_run_free(&r);
}

/* ---- the command line ----------------------------------------------------------- */

struct cli_case {
	char args[4][24];       /* "" ends the list */
	int status;
	char err_has[72];       /* on stderr, its one line */
};

static struct cli_case cli_cases[] = {
	{ { "frobnicate" }, VHM_EXIT_USAGE, "vhm: unknown command 'frobnicate'" },
	{ { "probe" }, VHM_EXIT_USAGE, "expected exactly one SOCKET" },
	{ { "probe", "/nonexistent.sock", "--timeout", "abc" }, VHM_EXIT_USAGE,
	  "--timeout 'abc': expected a duration, 1ms..10m" },
	{ { "probe", "/nonexistent.sock", "--timeout", "0" }, VHM_EXIT_USAGE,
	  "--timeout '0': expected a duration, 1ms..10m" },
	{ { "probe", "/nonexistent.sock", "--timeout" }, VHM_EXIT_USAGE,
	  "option '--timeout' needs a value" },
	{ { "probe", "a.sock", "b.sock" }, VHM_EXIT_USAGE, "expected exactly one SOCKET" },
	{ { "probe", "--bogus", "a.sock" }, VHM_EXIT_USAGE, "unknown option '--bogus'" },
	{ { "probe", "/nonexistent/x.sock" }, VHM_EXIT_PEER,
	  "vhm probe: connect to /nonexistent/x.sock: No such file or directory" },
};

ParameterizedTestParameters(vhu_cli, bad_input_is_refused_in_one_line)
{
	return cr_make_param_array(struct cli_case, cli_cases,
				   sizeof(cli_cases) / sizeof(cli_cases[0]));
}

ParameterizedTest(struct cli_case *c, vhu_cli, bad_input_is_refused_in_one_line)
{
	const char *args[5] = { NULL };

	for (int i = 0; i < 4 && c->args[i][0]; i++)
		args[i] = c->args[i];
	dt_vhm_refuses(args, c->status, c->err_has);
}

Test(vhu_cli, no_command_is_one_line_exit_2)
{
	const char *args[] = { NULL };

	dt_vhm_refuses(args, VHM_EXIT_USAGE, "usage: vhm <command> [options] (see 'vhm help')");
}

Test(vhu_cli, version_exits_0)
{
	const char *args[] = { "--version", NULL };
	struct ts_run r;

	dt_vhm(args, &r);
	cr_assert(eq(int, r.status, 0));
	cr_assert(eq(int, strncmp(r.out, "vhm ", 4), 0), "stdout: %s", r.out);
	cr_assert(eq(str, r.err, ""));
	ts_run_free(&r);
}

/* ---- the test backend's own checks ----------------------------------------------- */

/* A frontend that sends GET_FEATURES with a payload is dropped with one clear
 * line, and the backend goes on to serve the next frontend. */
Test(vhu_testbe, bad_request_is_logged_and_dropped)
{
	struct { struct vhu_hdr h; uint32_t junk; } bad = { { VHU_GET_FEATURES, VHU_VERSION, 4 }, 0 };
	char log[TS_PATH_MAX + 8], buf[1024] = "", c;
	uint64_t v;
	int fd;
	ssize_t n;

	start_be(NULL);
	connect_front(2000);
	cr_assert(eq(int, (int)write(f.sock, &bad, sizeof(bad)), (int)sizeof(bad)));
	struct pollfd p = { .fd = f.sock, .events = POLLIN };
	cr_assert(eq(int, poll(&p, 1, 2000), 1));
	cr_assert(eq(int, (int)read(f.sock, &c, 1), 0), "expected the backend to close");
	vhu_front_close(&f);
	snprintf(log, sizeof(log), "%s.log", sock);
	fd = open(log, O_RDONLY | O_CLOEXEC);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert(lt(int, 0, (int)n));
	cr_assert(not(eq(ptr, strstr(buf, "GET_FEATURES: payload size 4, expected 0 bytes"), NULL)),
		  "log: %s", buf);
	connect_front(2000);
	cr_assert(eq(int, vhu_get_u64(&f, VHU_GET_FEATURES, &v), 0), "%s", f.err);
}

Test(vhu_testbe, bad_options_exit_2)
{
	const char *cases[][4] = {
		{ "--socket", "x", "--misbehave", "explode" },
		{ "--socket", "x", "--misbehave", "close:SET_OWNER@0" },
		{ "--socket", "x", "--misbehave", "exit:SET_OWNER@x" },
		{ "--socket", "x", "--drop-proto", "NOPE" },
		{ "--socket", "x", "--log-reply-size", "4" },
		{ "--socket", "x", "--features", "xyz" },
	};
	char bin[256];

	ts_bin("vhm-testbe", bin, sizeof(bin));
	for (size_t i = 0; i < VHM_ARRAY_SIZE(cases); i++) {
		const char *argv[] = { bin, cases[i][0], cases[i][1], cases[i][2], cases[i][3], NULL };
		struct ts_run r;

		cr_assert(eq(int, ts_run_cmd(argv, 5000, &r), 0));
		cr_assert(eq(int, r.status, 2), "%s %s: exit %d", cases[i][2], cases[i][3], r.status);
		cr_assert(not(eq(ptr, strstr(r.err, "usage: vhm-testbe"), NULL)), "%s", r.err);
		ts_run_free(&r);
	}
}
