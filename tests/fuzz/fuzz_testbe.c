/* SPDX-License-Identifier: MIT */
/* fuzz_testbe — the test backend's handling of frontend requests.  The input
 * is a peer stream (fuzz.h) replayed as a frontend would send it, fds
 * included (memfds for SET_MEM_TABLE, SET_LOG_BASE and the inflight and
 * state fds; eventfds for kicks and calls), and served by tbe_serve() as one
 * connection, with the datapath off.  What must hold: no crash, no leak, no
 * sanitizer report, whatever the frontend sends; a message the table refuses
 * drops the connection. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "testbe.h"

static struct tbe t;   /* large: the ring table */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 0;
	fz_replay(sv[1], data, len);
	tbe_serve(&t, sv[0]);   /* closes sv[0] and resets the device */
	close(sv[1]);
	return 0;
}

/* ---- seeds ------------------------------------------------------------------- */

static void req(struct fz_seed *s, uint32_t r, const void *p, uint32_t size, int nfds,
		int eventfds)
{
	fz_msg(s, r, VHU_VERSION, p, size, nfds, eventfds);
}

static void req_u64(struct fz_seed *s, uint32_t r, uint64_t v)
{
	req(s, r, &v, 8, 0, 0);
}

/* QEMU's opening, one ring set up in a 1 MiB region, logging, the stop. */
static void seed_session(void)
{
	struct fz_seed s = { .b = { 0 }, .n = 0 };
	struct { uint32_t n, pad; struct vhu_mem_region r; } mem = {
		1, 0, { 0, FZ_MEMFD_SIZE, 0x7f0000000000ull, 0 } };
	struct vhu_vring_state st = { .index = 0, .num = 256 };
	struct vhu_vring_addr a = { .index = 0, .desc = 0x7f0000000000ull,
				    .avail = 0x7f0000001000ull, .used = 0x7f0000002000ull,
				    .log_guest_addr = 0x2000 };
	struct vhu_log log = { .mmap_size = 4096, .mmap_offset = 0 };

	req(&s, VHU_GET_FEATURES, NULL, 0, 0, 0);
	req(&s, VHU_GET_PROTOCOL_FEATURES, NULL, 0, 0, 0);
	req_u64(&s, VHU_SET_PROTOCOL_FEATURES, 1u << VHU_PF_MQ | 1u << VHU_PF_LOG_SHMFD |
		1u << VHU_PF_REPLY_ACK | 1u << VHU_PF_CONFIG);
	req(&s, VHU_GET_QUEUE_NUM, NULL, 0, 0, 0);
	req(&s, VHU_SET_OWNER, NULL, 0, 0, 0);
	req_u64(&s, VHU_SET_FEATURES, 1ull << 32 | 1ull << VHU_F_PROTOCOL_FEATURES);
	req(&s, VHU_SET_MEM_TABLE, &mem, 8 + sizeof(mem.r), 1, 0);
	req(&s, VHU_SET_VRING_NUM, &st, sizeof(st), 0, 0);
	req(&s, VHU_SET_VRING_ADDR, &a, sizeof(a), 0, 0);
	st.num = 0;
	req(&s, VHU_SET_VRING_BASE, &st, sizeof(st), 0, 0);
	uint64_t ring0 = 0;

	req(&s, VHU_SET_VRING_KICK, &ring0, 8, 1, 1);
	req(&s, VHU_SET_VRING_CALL, &ring0, 8, 1, 1);
	fz_msg(&s, VHU_SET_LOG_BASE, VHU_VERSION | VHU_FLAG_NEED_REPLY, &log, sizeof(log), 1, 0);
	req(&s, VHU_GET_VRING_BASE, &st, sizeof(st), 0, 0);
	fz_seed_save(&s, "session");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *args[] = { "vhm-testbe", "--socket", "/nonexistent/fuzz.sock", NULL };

	(void)argc; (void)argv;
	if (fz_seed_dir()) {
		seed_session();
		exit(0);
	}
	if (tbe_opts_parse(3, args, &t.opt))
		abort();
	t.conn = t.breq = t.inflight_fd = t.state_fd = -1;
	pthread_mutex_init(&t.dp_lock, NULL);
	return 0;
}
