/* bench_bpf — what the syscall-tracepoint probes (ctl + kick) cost the
 * process they watch: sendmsg/recvmsg round trips on a Unix socketpair with
 * and without the probes attached to this very process, and, for the rest of
 * the system, with the probes attached to another pid (every other process
 * still runs the tgid filter); once with the tracepoints vbpf prefers and
 * once with the raw_tp fallback. Rounds alternate and the best of each side is
 * kept, since these machines are noisy. Needs root; skipped otherwise. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "util.h"
#include "vbpf.h"

#define ROUNDS 5
#define MSGS   100000
#define LEN    64

/* Messages per second over one batch of MSGS round trips. */
static double msg_rate(int sv[2])
{
	char buf[LEN] = { 0 }, in[LEN];
	struct iovec iov = { .iov_base = buf, .iov_len = LEN };
	struct iovec iin = { .iov_base = in, .iov_len = LEN };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct msghdr mi = { .msg_iov = &iin, .msg_iovlen = 1 };
	uint64_t t0 = vhm_now_ns();

	for (int i = 0; i < MSGS; i++)
		if (sendmsg(sv[0], &m, 0) != LEN || recvmsg(sv[1], &mi, 0) != LEN)
			return -1;
	return 2.0 * MSGS / ((double)(vhm_now_ns() - t0) / 1e9);
}

/* Best of ROUNDS with and without probes on `pid`, alternating. */
static int compare(pid_t pid, bool raw, int sv[2], double *with, double *without)
{
	const unsigned probes = 1u << VBPF_PROBE_CTL | 1u << VBPF_PROBE_KICK;

	*with = *without = 0;
	for (int r = 0; r < ROUNDS; r++) {
		struct vbpf *v;
		double x;
		int err;

		x = msg_rate(sv);
		if (x > *without)
			*without = x;
		err = vbpf_open(&v, pid, probes, &(struct vbpf_opts){ .no_tracefs = raw });
		if (err)
			return err;
		x = msg_rate(sv);
		vbpf_close(v);
		if (x > *with)
			*with = x;
		if (x < 0)
			return -EIO;
	}
	return 0;
}

int bench_bpf(void)
{
	double with, without;
	int sv[2], err = 0;
	pid_t other;

	if (!vbpf_privileged()) {
		printf("bpf: skipped, needs root (or CAP_BPF and CAP_PERFMON)\n");
		return 0;
	}
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv)) {
		printf("bpf: socketpair: %s\n", strerror(errno));
		return -1;
	}
	other = fork();
	if (other == 0) {
		pause();
		_exit(0);
	}
	if (other < 0) {
		printf("bpf: fork: %s\n", strerror(errno));
		err = -errno;
	}
	for (int raw = 0; raw <= 1 && !err; raw++) {
		static const char *const names[2][2] = {
			{ "bpf: tracepoint, traced process", "bpf: tracepoint, other process" },
			{ "bpf: raw_tp, traced process", "bpf: raw_tp, other process" },
		};

		err = compare(getpid(), raw, sv, &with, &without);
		if (!err)
			bench_report(names[raw][0], "msg/s", with, without, ">=", 0.95);
		if (!err)
			err = compare(other, raw, sv, &with, &without);
		if (!err)
			bench_report(names[raw][1], "msg/s", with, without, ">=", 0.95);
	}
	if (other > 0) {
		kill(other, SIGKILL);
		waitpid(other, NULL, 0);
	}
	close(sv[0]);
	close(sv[1]);
	if (err) {
		printf("bpf: could not attach the probes: %s\n", strerror(-err));
		return -1;
	}
	return 0;
}
