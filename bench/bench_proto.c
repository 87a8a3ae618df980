/* SPDX-License-Identifier: MIT */
/* proto-rtt — what vhm's protocol layer costs per request. vhm: a REPLY_ACK'd
 * SET_VRING_CALL carrying one eventfd, through vhu_front to vhm-testbe (send,
 * table checks on both sides, handler, ack, reply validation). Baseline, in
 * the same run: a raw Unix-socket ping-pong carrying one fd to a forked child
 * that receives it, closes it and answers 8 bytes, the least any backend can
 * do. Both: median of ITERS round trips after WARMUP, in microseconds. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "util.h"
#include "vhu_front.h"

#define ITERS  20000
#define WARMUP 1000

/* ---- baseline: the raw peer --------------------------------------------------- */

static void __attribute__((noreturn)) raw_peer(int s)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	uint8_t msg[20];
	uint64_t ack = 0;

	for (;;) {
		struct iovec iov = { msg, sizeof(msg) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b) };
		struct cmsghdr *c;
		int fd;

		if (recvmsg(s, &mh, MSG_WAITALL) <= 0)
			_exit(0);
		c = CMSG_FIRSTHDR(&mh);
		if (c && c->cmsg_type == SCM_RIGHTS) {
			memcpy(&fd, CMSG_DATA(c), sizeof(fd));
			close(fd);
		}
		if (send(s, &ack, sizeof(ack), MSG_NOSIGNAL) != sizeof(ack))
			_exit(1);
	}
}

static int raw_rtt(int s, int efd, double *us)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	uint8_t msg[20] = { 13, 0, 0, 0, 1 | 8, 0, 0, 0, 8 };   /* SET_VRING_CALL, NEED_REPLY */
	struct iovec iov = { msg, sizeof(msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *c;
	uint64_t t0, ack;

	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &efd, sizeof(efd));
	t0 = vhm_now_ns();
	if (sendmsg(s, &mh, MSG_NOSIGNAL) != sizeof(msg) ||
	    recv(s, &ack, sizeof(ack), MSG_WAITALL) != sizeof(ack))
		return -1;
	*us = (double)(vhm_now_ns() - t0) / 1000.0;
	return 0;
}

static int measure_raw(int efd, double *median)
{
	double *v = calloc(ITERS, sizeof(*v));
	int sv[2], rc = 0;
	pid_t pid;

	if (!v || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(v);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		raw_peer(sv[1]);
	}
	close(sv[1]);
	for (int i = 0; pid > 0 && i < WARMUP + ITERS && !rc; i++)
		rc = raw_rtt(sv[0], efd, &v[i < WARMUP ? 0 : i - WARMUP]);
	close(sv[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	if (pid < 0 || rc) {
		fprintf(stderr, "proto-rtt: raw ping-pong failed: %s\n", strerror(errno));
		free(v);
		return -1;
	}
	*median = vhm_median(v, ITERS);
	free(v);
	return 0;
}

/* ---- vhm: vhu_front to vhm-testbe ------------------------------------------------ */

static pid_t start_testbe(const char *sock)
{
	const char *build = getenv("VHM_BUILD");
	char bin[512];
	struct stat st;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/vhm-testbe", build && *build ? build : "build");
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(bin, bin, "--socket", sock, (char *)NULL);
		fprintf(stderr, "proto-rtt: exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	for (int i = 0; pid > 0 && i < 500; i++) {
		if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
			return pid;
		usleep(10000);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	fprintf(stderr, "proto-rtt: %s made no socket %s\n", bin, sock);
	return -1;
}

static int measure_vhm(const char *sock, int efd, double *median)
{
	double *v = calloc(ITERS, sizeof(*v));
	struct vhu_front f;
	int rc = -1;

	if (!v)
		return -1;
	if (vhu_front_connect(&f, sock, 5000) || vhu_front_negotiate(&f, vhu_front_default_protocol()))
		goto out;
	if (!vhu_front_has_pf(&f, VHU_PF_REPLY_ACK)) {
		snprintf(f.err, sizeof(f.err), "REPLY_ACK not negotiated");
		goto out;
	}
	for (int i = 0; i < WARMUP + ITERS; i++) {
		uint64_t t0 = vhm_now_ns();

		if (vhu_set_vring_fd(&f, VHU_SET_VRING_CALL, 0, efd))
			goto out;
		if (i >= WARMUP)
			v[i - WARMUP] = (double)(vhm_now_ns() - t0) / 1000.0;
	}
	*median = vhm_median(v, ITERS);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "proto-rtt: %s\n", f.err);
	vhu_front_close(&f);
	free(v);
	return rc;
}

int bench_proto_rtt(void)
{
	char dir[] = "/tmp/vhm-bench-XXXXXX", sock[128] = "";
	double vhm_us = 0, raw_us = 0;
	int efd = eventfd(0, EFD_CLOEXEC), rc = -1;
	pid_t be = -1;

	if (efd < 0 || !mkdtemp(dir)) {
		fprintf(stderr, "proto-rtt: setup: %s\n", strerror(errno));
		goto out;
	}
	snprintf(sock, sizeof(sock), "%s/be.sock", dir);
	be = start_testbe(sock);
	if (be < 0)
		goto out;
	/* interleave-free but same run: vhm first, then the baseline */
	if (measure_vhm(sock, efd, &vhm_us) || measure_raw(efd, &raw_us))
		goto out;
	bench_report("proto-rtt (SET_VRING_CALL+ack, 1 fd)", "us", vhm_us, raw_us, "<=", 1.5);
	rc = 0;
out:
	if (be > 0) {
		kill(be, SIGTERM);
		waitpid(be, NULL, 0);
	}
	unlink(sock);
	rmdir(dir);
	if (efd >= 0)
		close(efd);
	return rc;
}
