/* SPDX-License-Identifier: MIT */
/* The protocol table against the spec (QEMU docs/interop/vhost-user.rst),
 * row by row from an expected table written out here by hand, the payload
 * size checker on good and bad sizes, and vhu_wire's framing over a
 * socketpair: fds arrive, split reads and blocked writes are finished,
 * deadlines hold, a closed or lying peer gives a clear error and no fd leaks. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../integration/support.h"
#include "util.h"
#include "vhu_front.h"
#include "vhu_proto.h"
#include "vhu_wire.h"

/* ---- the table --------------------------------------------------------------- */

enum setup { PLAIN, MEM2, CONFIG6 };   /* MEM2: 2 regions; CONFIG6: 6 config bytes */

/* Criterion hands parameters to a re-executed worker: no pointers inside. */
struct row {
	char name[32];
	uint32_t num;
	enum setup setup;
	uint32_t size;          /* request payload bytes for that setup */
	int fd_min, fd_max;
	enum vhu_rr reply;
	uint32_t reply_size;    /* for ALWAYS; ack rows reply with 8 */
	int reply_fd_max;
	int need;
};

#define NPF VHU_NEED_NONE
#define PF  VHU_NEED_PF
static struct row rows[] = {
	{ "GET_FEATURES",          1,  PLAIN,    0, 0, 0, VHU_RR_ALWAYS, 8,  0, NPF },
	{ "SET_FEATURES",          2,  PLAIN,    8, 0, 0, VHU_RR_ACK,    0,  0, NPF },
	{ "SET_OWNER",             3,  PLAIN,    0, 0, 0, VHU_RR_ACK,    0,  0, NPF },
	{ "RESET_OWNER",           4,  PLAIN,    0, 0, 0, VHU_RR_ACK,    0,  0, NPF },
	{ "SET_MEM_TABLE",         5,  MEM2,    72, 2, 2, VHU_RR_ACK,    0,  0, NPF },
	{ "SET_LOG_BASE",          6,  PLAIN,   16, 1, 1, VHU_RR_LOG,    8,  0, VHU_PF_LOG_SHMFD },
	{ "SET_VRING_NUM",         8,  PLAIN,    8, 0, 0, VHU_RR_ACK,    0,  0, NPF },
	{ "SET_VRING_ADDR",        9,  PLAIN,   40, 0, 0, VHU_RR_ACK,    0,  0, NPF },
	{ "SET_VRING_BASE",        10, PLAIN,    8, 0, 0, VHU_RR_ACK,    0,  0, NPF },
	{ "GET_VRING_BASE",        11, PLAIN,    8, 0, 0, VHU_RR_ALWAYS, 8,  0, NPF },
	{ "SET_VRING_KICK",        12, PLAIN,    8, 1, 1, VHU_RR_ACK,    0,  0, NPF },
	{ "SET_VRING_CALL",        13, PLAIN,    8, 1, 1, VHU_RR_ACK,    0,  0, NPF },
	{ "SET_VRING_ERR",         14, PLAIN,    8, 1, 1, VHU_RR_ACK,    0,  0, NPF },
	{ "GET_PROTOCOL_FEATURES", 15, PLAIN,    0, 0, 0, VHU_RR_ALWAYS, 8,  0, PF },
	{ "SET_PROTOCOL_FEATURES", 16, PLAIN,    8, 0, 0, VHU_RR_NEVER,  0,  0, PF },
	{ "GET_QUEUE_NUM",         17, PLAIN,    0, 0, 0, VHU_RR_ALWAYS, 8,  0, VHU_PF_MQ },
	{ "SET_VRING_ENABLE",      18, PLAIN,    8, 0, 0, VHU_RR_ACK,    0,  0, PF },
	{ "SEND_RARP",             19, PLAIN,    8, 0, 0, VHU_RR_ACK,    0,  0, VHU_PF_RARP },
	{ "NET_SET_MTU",           20, PLAIN,    8, 0, 0, VHU_RR_ACK,    0,  0, VHU_PF_NET_MTU },
	{ "SET_BACKEND_REQ_FD",    21, PLAIN,    0, 1, 1, VHU_RR_ACK,    0,  0, VHU_PF_BACKEND_REQ },
	{ "GET_CONFIG",            24, CONFIG6, 18, 0, 0, VHU_RR_ALWAYS, 18, 0, VHU_PF_CONFIG },
	{ "SET_CONFIG",            25, CONFIG6, 18, 0, 0, VHU_RR_ACK,    0,  0, VHU_PF_CONFIG },
	{ "GET_INFLIGHT_FD",       31, PLAIN,   24, 0, 0, VHU_RR_ALWAYS, 24, 1, VHU_PF_INFLIGHT_SHMFD },
	{ "SET_INFLIGHT_FD",       32, PLAIN,   24, 1, 1, VHU_RR_ACK,    0,  0, VHU_PF_INFLIGHT_SHMFD },
	{ "RESET_DEVICE",          34, PLAIN,    0, 0, 0, VHU_RR_ACK,    0,  0, VHU_PF_RESET_DEVICE },
	{ "GET_MAX_MEM_SLOTS",     36, PLAIN,    0, 0, 0, VHU_RR_ALWAYS, 8,  0, VHU_PF_CONFIGURE_MEM_SLOTS },
	{ "ADD_MEM_REG",           37, PLAIN,   40, 1, 1, VHU_RR_ACK,    0,  0, VHU_PF_CONFIGURE_MEM_SLOTS },
	{ "REM_MEM_REG",           38, PLAIN,   40, 0, 1, VHU_RR_ACK,    0,  0, VHU_PF_CONFIGURE_MEM_SLOTS },
	{ "SET_STATUS",            39, PLAIN,    8, 0, 0, VHU_RR_ACK,    0,  0, VHU_PF_STATUS },
	{ "GET_STATUS",            40, PLAIN,    0, 0, 0, VHU_RR_ALWAYS, 8,  0, VHU_PF_STATUS },
	{ "SET_DEVICE_STATE_FD",   42, PLAIN,    8, 1, 1, VHU_RR_ALWAYS, 8,  1, VHU_PF_DEVICE_STATE },
	{ "CHECK_DEVICE_STATE",    43, PLAIN,    0, 0, 0, VHU_RR_ALWAYS, 8,  0, VHU_PF_DEVICE_STATE },
};

static void payload_for(enum setup s, union vhu_payload *p)
{
	memset(p, 0, sizeof(*p));
	if (s == MEM2)
		p->mem.nregions = 2;
	if (s == CONFIG6)
		p->config.size = 6;
}

ParameterizedTestParameters(vhu_table, row_matches_spec)
{
	return cr_make_param_array(struct row, rows, sizeof(rows) / sizeof(rows[0]));
}

ParameterizedTest(struct row *w, vhu_table, row_matches_spec)
{
	const struct vhu_req_info *info = vhu_req_info(w->num);
	union vhu_payload p;
	char want[64];
	int min, max;

	cr_assert(not(eq(ptr, (void *)info, NULL)), "request %u (%s) missing from the table",
		  w->num, w->name);
	cr_assert(eq(str, (char *)info->name, w->name));
	cr_assert(eq(str, (char *)vhu_req_name(w->num), w->name));
	payload_for(w->setup, &p);
	cr_assert(eq(u32, vhu_pl_size(info->payload, &p), w->size), "%s request size", w->name);
	cr_assert(vhu_pl_size_ok(info->payload, &p, w->size, want, sizeof(want)),
		  "%s: its own size rejected (%s)", w->name, want);
	vhu_fd_count(info->fds, &p, &min, &max);
	cr_assert(eq(int, min, w->fd_min), "%s fd min", w->name);
	cr_assert(eq(int, max, w->fd_max), "%s fd max", w->name);
	cr_assert(eq(int, (int)info->reply, (int)w->reply), "%s reply rule", w->name);
	cr_assert(eq(int, info->need, w->need), "%s needs", w->name);
	if (w->reply == VHU_RR_ALWAYS) {
		union vhu_payload rp;

		payload_for(w->setup, &rp);
		cr_assert(eq(u32, vhu_pl_size(info->reply_payload, &rp), w->reply_size),
			  "%s reply size", w->name);
		vhu_fd_count(info->reply_fds, &rp, &min, &max);
		cr_assert(eq(int, max, w->reply_fd_max), "%s reply fds", w->name);
	}
}

#define COUNT_ROW(...) + 1
Test(vhu_table, every_row_is_checked_above)
{
	cr_assert(eq(int, 0 VHU_REQUESTS(COUNT_ROW), (int)(sizeof(rows) / sizeof(rows[0]))),
		  "VHU_REQUESTS gained or lost a row: add it to the expected table");
}

Test(vhu_table, vring_fd_rule_honours_the_no_fd_bit)
{
	union vhu_payload p = { .u64 = 3 | VHU_VRING_NOFD };
	int min, max;

	vhu_fd_count(VHU_FD_VRING, &p, &min, &max);
	cr_assert(eq(int, min, 0));
	cr_assert(eq(int, max, 0));
	p.u64 = 3;
	vhu_fd_count(VHU_FD_VRING, &p, &min, &max);
	cr_assert(eq(int, min, 1));
	cr_assert(eq(int, max, 1));
}

Test(vhu_table, names_of_unknowns_and_features)
{
	cr_assert(eq(ptr, (void *)vhu_req_info(7), NULL), "SET_LOG_FD is not spoken by vhm");
	cr_assert(eq(str, (char *)vhu_req_name(99), "request 99"));
	cr_assert(eq(str, (char *)vhu_breq_name(2), "CONFIG_CHANGE_MSG"));
	cr_assert(eq(str, (char *)vhu_breq_name(1), "IOTLB_MSG"));
	cr_assert(eq(str, (char *)vhu_breq_name(42), "request 42"));
	cr_assert(eq(str, (char *)vhu_pf_name(VHU_PF_REPLY_ACK), "REPLY_ACK"));
	cr_assert(eq(str, (char *)vhu_pf_name(19), "DEVICE_STATE"));
	cr_assert(eq(ptr, (void *)vhu_pf_name(20), NULL));
	cr_assert(eq(ptr, (void *)vhu_pf_name(64), NULL));
	cr_assert(eq(str, (char *)vhu_feature_name(VHU_F_LOG_ALL), "LOG_ALL"));
	cr_assert(eq(str, (char *)vhu_feature_name(VHU_F_PROTOCOL_FEATURES), "PROTOCOL_FEATURES"));
	cr_assert(eq(ptr, (void *)vhu_feature_name(64), NULL));
}

/* QEMU's sync points (enforce_reply): SET_FEATURES with LOG_ALL, SET_VRING_ADDR
 * with the log flag, SET_MEM_TABLE and SET_VRING_ENABLE; nothing else. */
Test(vhu_table, sync_points_are_qemus)
{
	union vhu_payload p = { .u64 = 0 };
	int n = 0;

	for (uint32_t r = 0; r < 64; r++) {
		const struct vhu_req_info *info = vhu_req_info(r);

		if (!info)
			continue;
		memset(&p, 0, sizeof(p));
		p.u64 = 1ull << VHU_F_LOG_ALL;
		p.addr.flags = VHU_VRING_F_LOG;
		n += vhu_needs_sync(info, &p);
	}
	cr_assert(eq(int, n, 4), "sync points with logging on: %d, expected 4", n);
	p.u64 = 1ull << VHU_F_LOG_ALL;
	cr_assert(vhu_needs_sync(vhu_req_info(VHU_SET_FEATURES), &p));
	p.u64 = 1ull << VHU_F_VERSION_1;
	cr_assert(not(vhu_needs_sync(vhu_req_info(VHU_SET_FEATURES), &p)));
	memset(&p, 0, sizeof(p));
	p.addr.flags = VHU_VRING_F_LOG;
	cr_assert(vhu_needs_sync(vhu_req_info(VHU_SET_VRING_ADDR), &p));
	p.addr.flags = 0;
	cr_assert(not(vhu_needs_sync(vhu_req_info(VHU_SET_VRING_ADDR), &p)));
	cr_assert(vhu_needs_sync(vhu_req_info(VHU_SET_MEM_TABLE), &p));
	cr_assert(vhu_needs_sync(vhu_req_info(VHU_SET_VRING_ENABLE), &p));
	cr_assert(not(vhu_needs_sync(vhu_req_info(VHU_SET_VRING_BASE), &p)));
}

Test(vhu_table, request_numbers_are_unique)
{
	static const uint32_t nums[] = {
#define NUM_ROW(name, num, ...) num,
		VHU_REQUESTS(NUM_ROW)
#undef NUM_ROW
	};

	for (size_t i = 0; i < VHM_ARRAY_SIZE(nums); i++)
		for (size_t j = i + 1; j < VHM_ARRAY_SIZE(nums); j++)
			cr_assert(not(eq(u32, nums[i], nums[j])), "request %u twice", nums[i]);
}

/* ---- the size checker ----------------------------------------------------------- */

struct size_case {
	enum vhu_pl pl;
	uint32_t nregions_or_cfg;   /* mem.nregions, or config.size */
	uint32_t size;
	bool ok;
	char want[48];              /* expectation text on failure */
};

static struct size_case size_cases[] = {
	{ VHU_PL_NONE,      0, 0,   true,  "" },
	{ VHU_PL_NONE,      0, 8,   false, "0 bytes" },
	{ VHU_PL_U64,       0, 8,   true,  "" },
	{ VHU_PL_U64,       0, 4,   false, "8 bytes" },
	{ VHU_PL_U64,       0, 12,  false, "8 bytes" },
	{ VHU_PL_STATE,     0, 8,   true,  "" },
	{ VHU_PL_ADDR,      0, 40,  true,  "" },
	{ VHU_PL_ADDR,      0, 32,  false, "40 bytes" },
	{ VHU_PL_MEMREG,    0, 40,  true,  "" },
	{ VHU_PL_LOG,       0, 16,  true,  "" },
	{ VHU_PL_LOG_REPLY, 0, 0,   true,  "" },
	{ VHU_PL_LOG_REPLY, 0, 8,   true,  "" },
	{ VHU_PL_LOG_REPLY, 0, 4,   false, "0 or 8 bytes" },
	{ VHU_PL_INFLIGHT,  0, 24,  true,  "" },
	{ VHU_PL_INFLIGHT,  0, 16,  false, "24 bytes" },
	{ VHU_PL_MEM,       1, 40,  true,  "" },
	{ VHU_PL_MEM,       8, 264, true,  "" },
	{ VHU_PL_MEM,       0, 8,   false, "8 + 32*n bytes with 1 <= n <= 8" },
	{ VHU_PL_MEM,       9, 296, false, "8 + 32*n bytes with 1 <= n <= 8" },
	{ VHU_PL_MEM,       2, 40,  false, "8 + 32*n bytes with 1 <= n <= 8" },
	{ VHU_PL_MEM,       1, 4,   false, "8 + 32*n bytes with 1 <= n <= 8" },
	{ VHU_PL_CONFIG,    6, 18,  true,  "" },
	{ VHU_PL_CONFIG,  256, 268, true,  "" },
	{ VHU_PL_CONFIG,    0, 12,  true,  "" },
	{ VHU_PL_CONFIG,  257, 269, false, "12 + config size (<= 256) bytes" },
	{ VHU_PL_CONFIG,    6, 12,  false, "12 + config size (<= 256) bytes" },
	{ VHU_PL_CONFIG,    0, 8,   false, "12 + config size (<= 256) bytes" },
};

ParameterizedTestParameters(vhu_size, checker)
{
	return cr_make_param_array(struct size_case, size_cases,
				   sizeof(size_cases) / sizeof(size_cases[0]));
}

ParameterizedTest(struct size_case *c, vhu_size, checker)
{
	union vhu_payload p;
	char want[64] = "";

	memset(&p, 0, sizeof(p));
	if (c->pl == VHU_PL_MEM)
		p.mem.nregions = c->nregions_or_cfg;
	if (c->pl == VHU_PL_CONFIG)
		p.config.size = c->nregions_or_cfg;
	cr_assert(eq(int, vhu_pl_size_ok(c->pl, &p, c->size, want, sizeof(want)), c->ok),
		  "kind %d, %u bytes (n=%u)", c->pl, c->size, c->nregions_or_cfg);
	if (!c->ok)
		cr_assert(eq(str, want, c->want));
}

/* ---- the wire ----------------------------------------------------------------- */

static int sv[2] = { -1, -1 };
static int fds_before;

static void wire_init(void)
{
	fds_before = ts_count_fds();
	cr_assert(eq(int, socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0));
	cr_assert(eq(int, vhu_wire_prepare(sv[0]), 0));
	cr_assert(eq(int, vhu_wire_prepare(sv[1]), 0));
}

static void wire_fini(void)
{
	for (int i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	sv[0] = sv[1] = -1;
}

static void close_peer(void)
{
	close(sv[1]);
	sv[1] = -1;
}

/* A header + payload frame as raw bytes. */
static size_t frame(uint8_t *buf, uint32_t request, uint32_t flags, uint32_t size, uint64_t v)
{
	struct vhu_hdr h = { request, flags, size };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &v, sizeof(v));
	return sizeof(h) + size;
}

/* sendmsg of raw bytes with fds, bypassing vhu_wire's own limits. */
static ssize_t raw_send(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 32)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

TestSuite(vhu_wire, .init = wire_init, .fini = wire_fini, .timeout = 10);

Test(vhu_wire, fds_travel_and_arrive_working)
{
	struct vhu_msg m, got;
	char err[256];
	int efd[3];

	memset(&m, 0, sizeof(m));
	m.hdr = (struct vhu_hdr){ VHU_SET_VRING_CALL, VHU_VERSION, 8 };
	m.u.u64 = 1;
	for (int i = 0; i < 3; i++)
		m.fds[i] = efd[i] = eventfd(0, EFD_CLOEXEC);
	m.nfds = 3;
	cr_assert(eq(int, vhu_wire_send(sv[0], &m, 1000, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, vhu_wire_recv(sv[1], &got, 1000, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(u32, got.hdr.request, VHU_SET_VRING_CALL));
	cr_assert(eq(u64, got.u.u64, 1));
	cr_assert(eq(int, got.nfds, 3));
	for (int i = 0; i < 3; i++) {
		uint64_t one = (uint64_t)i + 1, seen = 0;

		cr_assert(eq(sz, (size_t)write(got.fds[i], &one, 8), 8));
		cr_assert(eq(sz, (size_t)read(efd[i], &seen, 8), 8));
		cr_assert(eq(u64, seen, one), "received fd %d is not the sent eventfd %d", i, i);
		close(efd[i]);
	}
	vhu_msg_close_fds(&got);
	wire_fini();
	cr_assert(eq(int, ts_count_fds(), fds_before), "fds leaked");
}

struct dribble {
	int sock;
	int fd;
};

/* Send a GET_VRING_BASE reply in four pieces 20 ms apart, the fd with the first. */
static void *dribble_writer(void *arg)
{
	struct dribble *d = arg;
	uint8_t buf[64];
	struct vhu_vring_state st = { .index = 1, .num = 77 };
	struct vhu_hdr h = { VHU_GET_VRING_BASE, VHU_VERSION | VHU_FLAG_REPLY, 8 };
	static const size_t cuts[] = { 0, 5, 12, 15, 20 };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &st, sizeof(st));
	for (size_t i = 0; i + 1 < VHM_ARRAY_SIZE(cuts); i++) {
		raw_send(d->sock, buf + cuts[i], cuts[i + 1] - cuts[i], &d->fd, i == 0);
		usleep(20000);
	}
	return NULL;
}

Test(vhu_wire, split_reads_are_reassembled)
{
	struct dribble d = { sv[0], eventfd(0, EFD_CLOEXEC) };
	struct vhu_msg got;
	pthread_t th;
	char err[256];

	pthread_create(&th, NULL, dribble_writer, &d);
	cr_assert(eq(int, vhu_wire_recv(sv[1], &got, 2000, err, sizeof(err)), 0), "%s", err);
	pthread_join(th, NULL);
	cr_assert(eq(u32, got.hdr.size, 8));
	cr_assert(eq(u32, got.u.state.index, 1));
	cr_assert(eq(u32, got.u.state.num, 77));
	cr_assert(eq(int, got.nfds, 1));
	vhu_msg_close_fds(&got);
	close(d.fd);
}

struct drainer {
	int sock;
	size_t junk;
	struct vhu_msg got;
	int rc;
};

/* Wait, drain the junk that filled the socket, then read the real message. */
static void *slow_reader(void *arg)
{
	struct drainer *d = arg;
	char buf[4096], err[256];
	size_t left = d->junk;

	usleep(50000);
	while (left) {
		ssize_t n = read(d->sock, buf, left < sizeof(buf) ? left : sizeof(buf));
		if (n > 0)
			left -= (size_t)n;
		else
			usleep(1000);
	}
	d->rc = vhu_wire_recv(d->sock, &d->got, 2000, err, sizeof(err));
	return NULL;
}

Test(vhu_wire, blocked_write_waits_and_finishes)
{
	struct drainer d = { .sock = sv[1] };
	struct vhu_msg m;
	pthread_t th;
	char junk[1024] = { 0 }, err[256];
	int small = 4096;
	ssize_t n;

	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	while ((n = write(sv[0], junk, sizeof(junk))) > 0)
		d.junk += (size_t)n;
	cr_assert(eq(int, errno, EAGAIN), "socket not full: %s", strerror(errno));
	memset(&m, 0, sizeof(m));
	m.hdr = (struct vhu_hdr){ VHU_SET_MEM_TABLE, VHU_VERSION, 8 + 8 * 32 };
	m.u.mem.nregions = 8;
	m.u.mem.regions[7].memory_size = 0x1234;
	pthread_create(&th, NULL, slow_reader, &d);
	cr_assert(eq(int, vhu_wire_send(sv[0], &m, 2000, err, sizeof(err)), 0), "%s", err);
	pthread_join(th, NULL);
	cr_assert(eq(int, d.rc, 0));
	cr_assert(eq(u32, d.got.hdr.size, 264));
	cr_assert(eq(u64, d.got.u.mem.regions[7].memory_size, 0x1234));
}

Test(vhu_wire, blocked_write_times_out)
{
	struct vhu_msg m;
	char junk[1024] = { 0 }, err[256];
	int small = 4096;
	long t0;

	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	while (write(sv[0], junk, sizeof(junk)) > 0)
		;
	memset(&m, 0, sizeof(m));
	m.hdr = (struct vhu_hdr){ VHU_GET_FEATURES, VHU_VERSION, 0 };
	t0 = ts_now_ms();
	cr_assert(eq(int, vhu_wire_send(sv[0], &m, 100, err, sizeof(err)), -ETIMEDOUT));
	cr_assert(lt(long, ts_now_ms() - t0, 400L));
	cr_assert(not(eq(ptr, strstr(err, "timed out after 100 ms sending"), NULL)), "%s", err);
}

Test(vhu_wire, nothing_in_time_is_a_timeout)
{
	struct vhu_msg got;
	char err[256];
	long t0 = ts_now_ms(), el;

	cr_assert(eq(int, vhu_wire_recv(sv[1], &got, 100, err, sizeof(err)), -ETIMEDOUT));
	el = ts_now_ms() - t0;
	cr_assert(ge(long, el, 95L), "returned early after %ld ms", el);
	cr_assert(lt(long, el, 400L), "returned late after %ld ms", el);
	cr_assert(eq(str, err, "no reply within 100 ms"));
}

Test(vhu_wire, short_header_then_silence_is_a_timeout)
{
	uint8_t buf[32];
	struct vhu_msg got;
	char err[256];

	frame(buf, VHU_GET_FEATURES, VHU_VERSION | VHU_FLAG_REPLY, 8, 1);
	cr_assert(eq(sz, (size_t)write(sv[0], buf, 6), 6));
	cr_assert(eq(int, vhu_wire_recv(sv[1], &got, 100, err, sizeof(err)), -ETIMEDOUT));
	cr_assert(eq(str, err, "timed out after 100 ms with a short header (6 of 12 bytes)"));
}

Test(vhu_wire, peer_closed_before_a_message)
{
	struct vhu_msg got;
	char err[256];

	close_peer();
	cr_assert(eq(int, vhu_wire_recv(sv[0], &got, 1000, err, sizeof(err)),
		     -ECONNRESET));
	cr_assert(eq(str, err, "peer closed the connection"));
}

Test(vhu_wire, peer_closed_mid_message)
{
	uint8_t buf[32];
	struct vhu_msg got;
	char err[256];

	frame(buf, VHU_GET_FEATURES, VHU_VERSION | VHU_FLAG_REPLY, 8, 1);
	cr_assert(eq(sz, (size_t)write(sv[1], buf, 15), 15));
	close_peer();
	cr_assert(eq(int, vhu_wire_recv(sv[0], &got, 1000, err, sizeof(err)), -ECONNRESET));
	cr_assert(eq(str, err, "peer closed mid-message (payload: 3 of 8 bytes)"));
}

Test(vhu_wire, send_to_closed_peer_is_epipe)
{
	struct vhu_msg m;
	char err[256];

	close_peer();
	memset(&m, 0, sizeof(m));
	m.hdr = (struct vhu_hdr){ VHU_GET_FEATURES, VHU_VERSION, 0 };
	cr_assert(eq(int, vhu_wire_send(sv[0], &m, 1000, err, sizeof(err)), -EPIPE));
	cr_assert(eq(str, err, "peer closed the connection"));
}

Test(vhu_wire, oversized_header_is_refused)
{
	uint8_t buf[32];
	struct vhu_msg got;
	char err[256];

	frame(buf, VHU_GET_FEATURES, VHU_VERSION | VHU_FLAG_REPLY, 0x100000, 1);
	cr_assert(eq(sz, (size_t)write(sv[1], buf, 12), 12));
	cr_assert(eq(int, vhu_wire_recv(sv[0], &got, 1000, err, sizeof(err)), -EMSGSIZE));
	cr_assert(not(eq(ptr, strstr(err, "GET_FEATURES: payload size 1048576 above the protocol bound"),
			 NULL)), "%s", err);
}

Test(vhu_wire, oversized_send_is_refused_before_the_wire)
{
	struct vhu_msg m;
	char err[256];

	memset(&m, 0, sizeof(m));
	m.hdr = (struct vhu_hdr){ VHU_GET_FEATURES, VHU_VERSION, (uint32_t)VHU_PAYLOAD_MAX + 1 };
	cr_assert(eq(int, vhu_wire_send(sv[0], &m, 1000, err, sizeof(err)), -EMSGSIZE));
	m.hdr.size = 0;
	m.nfds = VHU_MAX_FDS + 1;
	cr_assert(eq(int, vhu_wire_send(sv[0], &m, 1000, err, sizeof(err)), -EMSGSIZE));
}

Test(vhu_wire, too_many_fds_are_closed_not_leaked)
{
	uint8_t buf[32];
	int fds[12], base = eventfd(0, EFD_CLOEXEC), before;
	struct vhu_msg got;
	char err[256];

	for (int i = 0; i < 12; i++)
		fds[i] = base;     /* 12 copies arrive as 12 new fds */
	before = ts_count_fds();
	frame(buf, VHU_SET_MEM_TABLE, VHU_VERSION, 0, 0);
	cr_assert(eq(int, (int)raw_send(sv[1], buf, 12, fds, 12), 12));
	cr_assert(eq(int, vhu_wire_recv(sv[0], &got, 1000, err, sizeof(err)), -EMSGSIZE));
	cr_assert(eq(str, err, "SET_MEM_TABLE: more than 8 fds attached (extra closed)"));
	cr_assert(eq(int, got.nfds, 0), "the failed message still holds fds");
	cr_assert(eq(int, ts_count_fds(), before), "received fds leaked");
	close(base);
}

/* ---- the frontend's send path: sizes checked before anything is copied ------ */

/* An oversized payload from a direct caller of vhu_front_send: refused with a
 * message naming the request, nothing reaches the wire, and (under ASan)
 * nothing is read or written past the caller's payload or the message. */
struct oversize_case {
	char name[32];
	uint32_t request;
	uint32_t count;         /* regions (SET_MEM_TABLE) or config bytes (SET/GET_CONFIG) */
	int rc;
	char msg[64];
};

static struct oversize_case oversize_cases[] = {
	{ "9 regions", VHU_SET_MEM_TABLE, 9, -EMSGSIZE, "9 regions, expected 8 + 32*n" },
	{ "no regions", VHU_SET_MEM_TABLE, 0, -EMSGSIZE, "0 regions, expected 8 + 32*n" },
	{ "2^27 regions", VHU_SET_MEM_TABLE, 1u << 27, -EMSGSIZE, "134217728 regions" },
	{ "300-byte config", VHU_SET_CONFIG, 300, -EMSGSIZE, "config size 300, expected 12 +" },
	{ "257-byte config", VHU_GET_CONFIG, 257, -EMSGSIZE, "config size 257, expected 12 +" },
	{ "huge config", VHU_SET_CONFIG, 0xfffffff8u, -EMSGSIZE, "config size 4294967288" },
};

ParameterizedTestParameters(vhu_send, oversized_payload_is_refused_before_copying)
{
	return cr_make_param_array(struct oversize_case, oversize_cases,
				   sizeof(oversize_cases) / sizeof(oversize_cases[0]));
}

ParameterizedTest(struct oversize_case *c, vhu_send, oversized_payload_is_refused_before_copying,
		  .init = wire_init, .fini = wire_fini, .timeout = 10)
{
	union vhu_payload *p = calloc(1, sizeof(*p));   /* exact size: ASan sees an over-read */
	struct vhu_front fr;
	struct pollfd pfd = { .fd = sv[1], .events = POLLIN };
	bool expect = false;
	int rc;

	cr_assert(not(eq(ptr, p, NULL)));
	cr_assert(eq(int, vhu_front_adopt(&fr, sv[0], "socketpair", 500), 0));
	sv[0] = -1;                                     /* the frontend owns it now */
	fr.dev_features = 1ull << VHU_F_PROTOCOL_FEATURES;
	fr.acked_protocol = 1ull << VHU_PF_CONFIG;
	if (c->request == VHU_SET_MEM_TABLE)
		p->mem.nregions = c->count;
	else
		p->config.size = c->count;
	rc = vhu_front_send(&fr, c->request, p, NULL, 0, &expect);
	cr_assert(eq(int, rc, c->rc), "%s: rc %d (%s)", c->name, rc, fr.err);
	cr_assert(not(eq(ptr, strstr(fr.err, vhu_req_name(c->request)), NULL)), "%s", fr.err);
	cr_assert(not(eq(ptr, strstr(fr.err, c->msg), NULL)), "'%s' lacks '%s'", fr.err, c->msg);
	cr_assert(not(fr.broken), "a refused argument leaves the stream in step");
	cr_assert(eq(int, poll(&pfd, 1, 0), 0), "something reached the wire");
	vhu_front_close(&fr);
	free(p);
}
