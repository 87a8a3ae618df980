/* SPDX-License-Identifier: MIT */
/* `vhm announce` on a real wire: two network namespaces joined by a veth pair.
 * vhm runs in namespace A (`ip netns exec`) and sends on rarp-a; the test
 * captures on rarp-b in namespace B with an AF_PACKET socket it opens there
 * (setns into B, socket, setns back: the socket stays in B).
 *
 * VLAN capture: the receiving kernel always moves an 802.1Q tag out of the
 * frame into skb metadata (skb_vlan_untag in __netif_receive_skb_core), and
 * clears it before protocol-specific sockets see the frame.  So the capture
 * socket listens to ETH_P_ALL (delivered while the tag is still in the
 * metadata), asks for PACKET_AUXDATA, and puts the tag back in from
 * tp_vlan_tpid/tp_vlan_tci before comparing.
 *
 * Timing: receive times are kernel timestamps (SO_TIMESTAMPNS).  Every frame
 * must arrive within ±20 ms of its round's offset from the first frame: the
 * sender sleeps to absolute deadlines so lateness does not add up, and 20 ms
 * covers scheduler latency on a loaded 2-CPU machine running the suite with
 * --jobs 2 and under ASan; the smallest gap tested is 20 ms, so a missing or
 * merged round still fails.
 *
 * Nothing leaves the two namespaces; both are deleted in .fini (deleting a
 * namespace destroys the veths in it).  Namespaces of a run killed by a
 * timeout (no .fini) are swept by the next run: their names carry the pid. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"
#include "util.h"

extern char **environ;

#define NS_PREFIX_A "vhmrA-"
#define NS_PREFIX_B "vhmrB-"
#define IF_A     "rarp-a"     /* in A, peer of IF_B */
#define IF_B     "rarp-b"     /* in B: the capture side */
#define IF_DOWN  "rarp-down"  /* in A, left down */
/* A round must never go out early (deadlines are absolute, counted from
 * round 1), but may go out late when both CPUs are busy with other tests
 * (testpmd busy-polls a whole core): lateness is load, not the schedule. */
#define EARLY_MS 3
#define LATE_MS  60
#define MAX_FRAMES 64
#define MAX_ARGS 32

struct frame {
	uint8_t data[128];
	size_t len;
	int64_t at_ns; /* kernel receive time, CLOCK_REALTIME */
};

struct capture {
	struct frame frames[MAX_FRAMES];
	unsigned n;
	int status;    /* vhm's exit status, -1 if it did not exit normally */
	char out[4096];
	char err[4096];
};

static struct {
	char ns_a[32], ns_b[32];
	char vhm[PATH_MAX];
	int cap_fd;
	const char *skip; /* set when namespaces cannot be made here */
	char failed[256]; /* set when setup broke after namespaces existed */
} env = { .cap_fd = -1 };

/* What must come off the wire, written out by hand (QEMU's frame). */
static const uint8_t frame_mac1[60] = {
	0xff,0xff,0xff,0xff,0xff,0xff, 0x02,0x00,0x00,0xaa,0xbb,0x01, 0x80,0x35,
	0x00,0x01, 0x08,0x00, 0x06, 0x04, 0x00,0x03,
	0x02,0x00,0x00,0xaa,0xbb,0x01, 0x00,0x00,0x00,0x00,
	0x02,0x00,0x00,0xaa,0xbb,0x01, 0x00,0x00,0x00,0x00,
	0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
};
/* mac1 tagged with VID 100: 81 00 00 64 after the source MAC. */
static const uint8_t frame_mac1_vlan100[64] = {
	0xff,0xff,0xff,0xff,0xff,0xff, 0x02,0x00,0x00,0xaa,0xbb,0x01,
	0x81,0x00, 0x00,0x64, 0x80,0x35,
	0x00,0x01, 0x08,0x00, 0x06, 0x04, 0x00,0x03,
	0x02,0x00,0x00,0xaa,0xbb,0x01, 0x00,0x00,0x00,0x00,
	0x02,0x00,0x00,0xaa,0xbb,0x01, 0x00,0x00,0x00,0x00,
	0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
};

/* ---- shell-level helpers ------------------------------------------------ */

/* Delete namespaces left by runs that were killed before their .fini. */
static void sweep_stale_namespaces(void)
{
	DIR *d = opendir("/run/netns");
	struct dirent *e;
	int pid;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if ((sscanf(e->d_name, NS_PREFIX_A "%d", &pid) != 1 &&
		     sscanf(e->d_name, NS_PREFIX_B "%d", &pid) != 1) || pid <= 0)
			continue;
		if (kill(pid, 0) < 0 && errno == ESRCH)
			ts_sh("ip netns del %s", e->d_name);
	}
	closedir(d);
}

/* veth carrier and operstate follow `ip link set up` asynchronously. */
static int wait_running(void *ifname)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = -ETIMEDOUT;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", (const char *)ifname);
	for (int i = 0; fd >= 0 && i < 300; i++) {
		if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_RUNNING)) {
			rc = 0;
			break;
		}
		usleep(10000);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ETH_P_ALL: see the comment at the top about VLAN tags. */
static int open_capture(void *unused)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int one = 1, fd;

	(void)unused;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
	if (fd < 0)
		return -errno;
	sll.sll_ifindex = (int)if_nametoindex(IF_B);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0) {
		close(fd);
		return -EIO;
	}
	return fd;
}

static bool build_links(void)
{
	const char *a = env.ns_a, *b = env.ns_b;

	if (ts_sh("ip link add %s netns %s type veth peer name %s netns %s", IF_A, a, IF_B, b) ||
	    ts_sh("ip -n %s link add %s type veth peer name %s-p", a, IF_DOWN, IF_DOWN) ||
	    ts_sh("ip -n %s link set %s up", a, IF_A) || ts_sh("ip -n %s link set %s up", b, IF_B))
		snprintf(env.failed, sizeof(env.failed), "creating the veths with ip link failed");
	else if (ts_in_netns(a, wait_running, IF_A))
		snprintf(env.failed, sizeof(env.failed), IF_A " did not come up within 3 s");
	return !env.failed[0];
}

static void netns_setup(void)
{
	const char *build = getenv("VHM_BUILD");
	char dir[PATH_MAX];

	snprintf(env.ns_a, sizeof(env.ns_a), NS_PREFIX_A "%d", (int)getpid());
	snprintf(env.ns_b, sizeof(env.ns_b), NS_PREFIX_B "%d", (int)getpid());
	if (!build || !realpath(build, dir) ||
	    snprintf(env.vhm, sizeof(env.vhm), "%s/vhm", dir) >= (int)sizeof(env.vhm)) {
		snprintf(env.failed, sizeof(env.failed), "VHM_BUILD is not set, missing or too "
			 "long (run the tests through make)");
		return;
	}
	sweep_stale_namespaces();
	if (ts_sh("ip netns add %s", env.ns_a)) {
		env.skip = "cannot create network namespaces here ('ip netns add' failed: "
			   "needs root or CAP_SYS_ADMIN)";
		return;
	}
	if (ts_sh("ip netns add %s", env.ns_b) || !build_links())
		return;
	env.cap_fd = ts_in_netns(env.ns_b, open_capture, NULL);
	if (env.cap_fd < 0)
		snprintf(env.failed, sizeof(env.failed), "cannot open the capture socket in %s: %s",
			 env.ns_b, strerror(-env.cap_fd));
}

static void netns_teardown(void)
{
	if (env.cap_fd >= 0)
		close(env.cap_fd);
	env.cap_fd = -1;
	if (env.skip)
		return;
	ts_sh("ip netns del %s", env.ns_a);
	ts_sh("ip netns del %s", env.ns_b);
}

static void require_netns(void)
{
	if (env.skip)
		cr_skip_test("%s", env.skip);
	cr_assert(not(env.failed[0]), "setup: %s", env.failed);
}

/* ---- capture ------------------------------------------------------------ */

/* One frame off the capture socket: 1 if it is a RARP frame (tag restored),
 * 0 if it was something else or nothing was waiting. */
static int recv_frame(struct frame *f)
{
	uint8_t buf[2048];
	union { char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata)) +
			 CMSG_SPACE(sizeof(struct timespec))]; struct cmsghdr align; } ctl;
	struct sockaddr_ll from;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
			      .msg_iovlen = 1, .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	struct tpacket_auxdata aux = { 0 };
	struct timespec ts = { 0 };
	ssize_t n = recvmsg(env.cap_fd, &msg, MSG_DONTWAIT);
	size_t at = 0;

	if (n < 14 || from.sll_pkttype == PACKET_OUTGOING)
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA)
			memcpy(&aux, CMSG_DATA(c), sizeof(aux));
		else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS)
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
	}
	if (buf[12] != 0x80 || buf[13] != 0x35 || (size_t)n + 4 > sizeof(f->data))
		return 0;
	memcpy(f->data, buf, 12);
	at = 12;
	if (aux.tp_status & TP_STATUS_VLAN_VALID) {
		uint16_t tpid = aux.tp_status & TP_STATUS_VLAN_TPID_VALID ? aux.tp_vlan_tpid
									  : ETH_P_8021Q;
		uint8_t tag[4] = { tpid >> 8, tpid & 0xff, aux.tp_vlan_tci >> 8,
				   aux.tp_vlan_tci & 0xff };
		memcpy(f->data + at, tag, sizeof(tag));
		at += sizeof(tag);
	}
	memcpy(f->data + at, buf + 12, (size_t)n - 12);
	f->len = at + (size_t)n - 12;
	f->at_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	return 1;
}

static void drain(struct capture *c)
{
	while (c->n < MAX_FRAMES && recv_frame(&c->frames[c->n]))
		c->n++;
}

static void read_memfd(int fd, char *out, size_t outlen)
{
	ssize_t n = pread(fd, out, outlen - 1, 0);

	out[n > 0 ? n : 0] = '\0';
	close(fd);
}

static pid_t spawn(char **argv, int out_fd, int err_fd)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert(eq(int, rc, 0), "spawning %s: %s", argv[0], strerror(rc));
	return pid;
}

/* Run argv to its end while capturing; keep listening 200 ms after it exits
 * so that a frame sent late (or wrongly, after an error) is still seen. */
static void run_and_capture(char **argv, struct capture *c)
{
	int out_fd = memfd_create("vhm-out", MFD_CLOEXEC);
	int err_fd = memfd_create("vhm-err", MFD_CLOEXEC);
	uint64_t deadline = vhm_now_ns() + 15000000000ull, quiet_until = 0;
	struct pollfd pfd = { .fd = env.cap_fd, .events = POLLIN };
	pid_t pid;
	int st = 0;

	cr_assert(out_fd >= 0 && err_fd >= 0);
	memset(c, 0, sizeof(*c));
	pid = spawn(argv, out_fd, err_fd);
	while (!quiet_until || vhm_now_ns() < quiet_until) {
		poll(&pfd, 1, 10);
		drain(c);
		if (!quiet_until && waitpid(pid, &st, WNOHANG) == pid)
			quiet_until = vhm_now_ns() + 200000000ull;
		if (!quiet_until && vhm_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			cr_fatal("%s did not finish within 15 s", argv[0]);
		}
	}
	c->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	read_memfd(out_fd, c->out, sizeof(c->out));
	read_memfd(err_fd, c->err, sizeof(c->err));
}

/* argv: ip netns exec A [prefix...] VHM announce args... ; "@UP@" and
 * "@DOWN@" in args stand for the interface names. */
static void announce(const char *const *prefix, const char *const *args, struct capture *c)
{
	char *argv[MAX_ARGS];
	int n = 0;

	argv[n++] = "ip";
	argv[n++] = "netns";
	argv[n++] = "exec";
	argv[n++] = env.ns_a;
	for (; prefix && *prefix; prefix++)
		argv[n++] = (char *)*prefix;
	argv[n++] = env.vhm;
	argv[n++] = "announce";
	for (; *args && n < MAX_ARGS - 1; args++)
		argv[n++] = !strcmp(*args, "@UP@") ? IF_A
			  : !strcmp(*args, "@DOWN@") ? IF_DOWN : (char *)*args;
	argv[n] = NULL;
	run_and_capture(argv, c);
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

#define MEM(p, n) ((struct cr_mem){ .data = (p), .size = (n) })

/* Frame i is MAC i % nmacs of round i / nmacs, at that round's offset. */
static void assert_frames(const struct capture *c, const uint8_t *const *want, size_t want_len,
			  unsigned nmacs, const unsigned *offsets_ms, unsigned rounds)
{
	cr_assert(eq(uint, c->n, rounds * nmacs), "frames captured (stderr: %s)", c->err);
	for (unsigned i = 0; i < c->n; i++) {
		const struct frame *f = &c->frames[i];
		unsigned r = i / nmacs;
		int64_t off_ms = (f->at_ns - c->frames[0].at_ns) / 1000000;

		cr_assert(eq(mem, MEM(f->data, f->len), MEM(want[i % nmacs], want_len)),
			  "frame %u (round %u)", i, r + 1);
		cr_assert(ge(i64, off_ms, (int64_t)offsets_ms[r] - EARLY_MS),
			  "round %u arrived early: +%lld ms, schedule says +%u ms", r + 1,
			  (long long)off_ms, offsets_ms[r]);
		cr_assert(le(i64, off_ms, (int64_t)offsets_ms[r] + LATE_MS),
			  "round %u arrived at +%lld ms, schedule says +%u ms", r + 1,
			  (long long)off_ms, offsets_ms[r]);
	}
}

/* ---- tests --------------------------------------------------------------- */

/* Every test makes its own namespaces (the pid differs per test process). */
#define NETNS_TEST .init = netns_setup, .fini = netns_teardown, .timeout = 30

Test(rarp_netns, two_macs_on_default_schedule, NETNS_TEST)
{
	static const char *const args[] = { "--mac", "02:00:00:aa:bb:01", "--mac",
					    "02:00:00:aa:bb:02", "--ifname", "@UP@", NULL };
	static const unsigned offsets[] = { 0, 50, 200, 450, 800 }; /* QEMU's defaults */
	uint8_t frame_mac2[60];
	const uint8_t *want[] = { frame_mac1, frame_mac2 };
	struct capture c;

	/* 02:00:00:aa:bb:02 differs from mac1 in its last byte only, which sits
	 * at offsets 11 (source), 27 (sender) and 37 (target). */
	memcpy(frame_mac2, frame_mac1, sizeof(frame_mac2));
	frame_mac2[11] = frame_mac2[27] = frame_mac2[37] = 0x02;

	require_netns();
	announce(NULL, args, &c);
	cr_assert(eq(int, c.status, 0), "vhm announce failed: %s", c.err);
	assert_frames(&c, want, 60, 2, offsets, 5);
	cr_assert(eq(uint, count_lines(c.out), 5), "one line per round, got:\n%s", c.out);
	cr_assert(eq(str, c.err, ""));
}

/* Delays 20, then min(20 + 30, 40) = 40: the cap applies from round 2 on. */
Test(rarp_netns, vlan_tag_and_custom_schedule_with_cap, NETNS_TEST)
{
	static const char *const args[] = { "--mac", "02:00:00:aa:bb:01", "--ifname", "@UP@",
					    "--vlan", "100", "--rounds", "4", "--initial", "20ms",
					    "--step", "30ms", "--max", "40ms", "--quiet", NULL };
	static const unsigned offsets[] = { 0, 20, 60, 100 };
	const uint8_t *want[] = { frame_mac1_vlan100 };
	struct capture c;

	require_netns();
	announce(NULL, args, &c);
	cr_assert(eq(int, c.status, 0), "vhm announce failed: %s", c.err);
	assert_frames(&c, want, 64, 1, offsets, 4);
	cr_assert(eq(str, c.out, ""), "--quiet printed:\n%s", c.out);
}

/* Parameters are copied into the test process, so no pointers: arrays. */
struct bad_case {
	char args[10][24]; /* up to the first empty one */
	int status;
	char says[48];     /* the one stderr line must contain this */
};

#define GOOD_MAC "02:00:00:aa:bb:01"

ParameterizedTestParameters(rarp_netns, bad_input_sends_nothing)
{
	static struct bad_case cases[] = {
		{ { "--mac", "01:00:5e:00:00:01", "--ifname", "@UP@" }, 2, "is multicast" },
		{ { "--mac", "ff:ff:ff:ff:ff:ff", "--ifname", "@UP@" }, 2, "broadcast" },
		{ { "--mac", "00:00:00:00:00:00", "--ifname", "@UP@" }, 2, "all zeros" },
		{ { "--mac", "02:00:00:aa:bb", "--ifname", "@UP@" }, 2, "not a MAC" },
		{ { "--mac", GOOD_MAC, "--mac", "33:33:00:00:00:01", "--ifname", "@UP@" }, 2,
		  "33:33:00:00:00:01 is multicast" },
		{ { "--ifname", "@UP@" }, 2, "--mac is required" },
		{ { "--mac", GOOD_MAC }, 2, "--ifname is required" },
		{ { "--mac", GOOD_MAC, "--ifname", "nosuch0" }, 3, "no interface named 'nosuch0'" },
		{ { "--mac", GOOD_MAC, "--ifname", "@DOWN@" }, 3, "is down" },
		{ { "--mac", GOOD_MAC, "--ifname", "@UP@", "--vlan", "4095" }, 2, "--vlan" },
		{ { "--mac", GOOD_MAC, "--ifname", "@UP@", "--rounds", "0" }, 2, "--rounds" },
		{ { "--mac", GOOD_MAC, "--ifname", "@UP@", "--rounds", "101" }, 2, "--rounds" },
		{ { "--mac", GOOD_MAC, "--ifname", "@UP@", "--initial", "5x" }, 2,
		  "not a duration" },
		{ { "--mac", GOOD_MAC, "--ifname", "@UP@", "--step", "-1" }, 2, "--step" },
		{ { "--mac", GOOD_MAC, "--ifname", "@UP@", "--initial", "300ms", "--max", "200ms" },
		  2, "--max 200 ms is less than --initial 300 ms" },
		{ { "--mac", GOOD_MAC, "--ifname", "@UP@", "--bogus" }, 2, "unknown option" },
	};

	return cr_make_param_array(struct bad_case, cases, VHM_ARRAY_SIZE(cases));
}

ParameterizedTest(struct bad_case *bc, rarp_netns, bad_input_sends_nothing, NETNS_TEST)
{
	const char *args[VHM_ARRAY_SIZE(bc->args) + 1] = { NULL };
	struct capture c;

	for (size_t i = 0; i < VHM_ARRAY_SIZE(bc->args) && bc->args[i][0]; i++)
		args[i] = bc->args[i];
	require_netns();
	announce(NULL, args, &c);
	cr_assert(eq(int, c.status, bc->status), "exit status (stderr: %s)", c.err);
	cr_assert(eq(uint, c.n, 0), "frames were sent despite the error");
	cr_assert(strstr(c.err, bc->says) != NULL, "stderr should say '%s', says: %s", bc->says, c.err);
	cr_assert(eq(uint, count_lines(c.err), 1), "one line on stderr, got:\n%s", c.err);
	cr_assert(eq(str, c.out, ""));
}

/* Without CAP_NET_RAW (uid nobody, capabilities dropped by the uid change). */
Test(rarp_netns, no_permission_exits_3_and_sends_nothing, NETNS_TEST)
{
	static const char *const prefix[] = { "setpriv", "--reuid=65534", "--regid=65534",
					      "--clear-groups", NULL };
	static const char *const args[] = { "--mac", GOOD_MAC, "--ifname", "@UP@", NULL };
	struct capture c;

	require_netns();
	if (access("/usr/bin/setpriv", X_OK))
		cr_skip_test("setpriv (util-linux) is not installed");
	announce(prefix, args, &c);
	cr_assert(eq(int, c.status, 3), "exit status (stderr: %s)", c.err);
	cr_assert(eq(uint, c.n, 0));
	cr_assert(strstr(c.err, "no permission") != NULL, "stderr: %s", c.err);
}
