/* SPDX-License-Identifier: MIT */
/* fuzz_vhu_front — the frontend's reading of what a backend sends: replies
 * to its requests, and requests on the backend-request channel.  The input's
 * first byte picks which; the rest is a peer stream (fuzz.h) replayed into
 * the socket as the backend process would send it, fds included.
 *
 * Replies: the frontend runs QEMU's opening (vhu_front_negotiate), then a
 * fixed run of requests that expect replies (GET_FEATURES, GET_VRING_BASE for
 * two rings, GET_CONFIG, GET_INFLIGHT_FD, SET_DEVICE_STATE_FD,
 * CHECK_DEVICE_STATE); each reads the next reply from the stream.  What must
 * hold: no crash, no leak, no sanitizer report; a bad reply fails the call
 * with a message and marks the connection broken. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "vhu_front.h"

#define MODE_BREQ 1

static void replies(struct vhu_front *f)
{
	const uint32_t idx[2] = { 0, 1 };
	struct vhu_inflight in = { .mmap_size = 0, .num_queues = 2, .queue_size = 256 };
	uint32_t base[2];
	uint8_t cfg[12];
	uint64_t u;
	int fd = -1;

	if (vhu_front_negotiate(f, vhu_front_default_protocol()))
		return;
	vhu_get_u64(f, VHU_GET_FEATURES, &u);
	vhu_get_vring_bases(f, idx, base, 2);
	vhu_get_config(f, 0, sizeof(cfg), cfg);
	if (!vhu_get_inflight_fd(f, 2, 256, &in, &fd) && fd >= 0)
		close(fd);
	fd = -1;
	if (!vhu_set_device_state_fd(f, 0, 0, STDIN_FILENO, &fd) && fd >= 0)
		close(fd);
	vhu_check_device_state(f);
}

/* Everything is already in the socket: one call serves it all, up to end
 * of file (which closes the channel). */
static void backend_requests(struct vhu_front *f, int sock)
{
	f->breq_sock = sock;
	vhu_front_serve_backend(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct vhu_front f;
	int sv[2];

	if (!len || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 0;
	fz_replay(sv[1], data + 1, len - 1);
	if (data[0] & MODE_BREQ) {
		int other[2];

		/* the main socket stays quiet: only the channel talks */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, other)) {
			close(sv[0]);
			close(sv[1]);
			return 0;
		}
		vhu_front_adopt(&f, other[0], "fuzz-backend", 50);
		backend_requests(&f, sv[0]);
		close(other[1]);
	} else {
		vhu_front_adopt(&f, sv[0], "fuzz-backend", 50);
		replies(&f);
	}
	if (getenv("VHM_FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz_vhu_front: %s\n", f.err[0] ? f.err : "no error");
	vhu_front_close(&f);
	close(sv[1]);
	return 0;
}

/* ---- seeds ------------------------------------------------------------------- */

static void reply_u64(struct fz_seed *s, uint32_t req, uint64_t v)
{
	fz_msg(s, req, VHU_VERSION | VHU_FLAG_REPLY, &v, 8, 0, 0);
}

static void seed_replies(void)
{
	struct fz_seed s = { .b = { 0 }, .n = 0 };
	uint64_t feat = 1ull << 32 | 1ull << VHU_F_PROTOCOL_FEATURES | 1ull << 15 |
			1ull << 26 /* LOG_ALL */;
	uint64_t pf = 1ull << VHU_PF_MQ | 1ull << VHU_PF_LOG_SHMFD | 1ull << VHU_PF_CONFIG;
	struct vhu_vring_state st = { .index = 0, .num = 7 };
	struct vhu_config cfg = { .offset = 0, .size = 12 };
	struct vhu_inflight in = { .mmap_size = 4096, .num_queues = 2, .queue_size = 256 };

	fz_put(&s, "\0", 1);
	reply_u64(&s, VHU_GET_FEATURES, feat);
	reply_u64(&s, VHU_GET_PROTOCOL_FEATURES, pf);
	reply_u64(&s, VHU_GET_QUEUE_NUM, 1);
	reply_u64(&s, VHU_GET_FEATURES, feat);
	fz_msg(&s, VHU_GET_VRING_BASE, VHU_VERSION | VHU_FLAG_REPLY, &st, sizeof(st), 0, 0);
	st.index = 1;
	fz_msg(&s, VHU_GET_VRING_BASE, VHU_VERSION | VHU_FLAG_REPLY, &st, sizeof(st), 0, 0);
	fz_msg(&s, VHU_GET_CONFIG, VHU_VERSION | VHU_FLAG_REPLY, &cfg, 12 + 12, 0, 0);
	fz_msg(&s, VHU_GET_INFLIGHT_FD, VHU_VERSION | VHU_FLAG_REPLY, &in, sizeof(in), 1, 0);
	fz_seed_save(&s, "replies-negotiate");
}

static void seed_breq(void)
{
	struct fz_seed s = { .b = { 0 }, .n = 0 };
	struct vhu_vring_state st = { .index = 1, .num = 0 };
	struct vhu_iotlb io = { .iova = 4096, .size = 4096 };

	fz_put(&s, "\1", 1);
	fz_msg(&s, VHU_B_CONFIG_CHANGE_MSG, VHU_VERSION | VHU_FLAG_NEED_REPLY, NULL, 0, 0, 0);
	fz_msg(&s, VHU_B_VRING_CALL, VHU_VERSION, &st, sizeof(st), 0, 0);
	fz_msg(&s, VHU_B_IOTLB_MSG, VHU_VERSION | VHU_FLAG_NEED_REPLY, &io, sizeof(io), 0, 0);
	fz_seed_save(&s, "breq-mix");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	if (fz_seed_dir()) {
		seed_replies();
		seed_breq();
		exit(0);
	}
	return 0;
}
