/* SPDX-License-Identifier: MIT */
/* vbpf probes against processes the tests start themselves.
 *
 * Each test forks a worker that waits on a pipe for "go", does an exact
 * amount of work (page touches, sendmsg/recvmsg, eventfd writes, calls of a
 * function), reports "done" and sleeps until .fini kills it. The probes are
 * attached to the worker's pid between fork and "go", so the counts must be
 * exact: the probes filter by tgid and the worker does nothing else that
 * matches (its pipe I/O is 1 byte on pipes, not sockets or eventfds).
 *
 * Needs root (BPF tracing); skipped with the reason otherwise. The testpmd
 * test needs dpdk-testpmd (package dpdk-dev) and is skipped without it. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "devtest.h"
#include "usock.h"
#include "util.h"
#include "vbpf.h"

#define TESTPMD "/usr/bin/dpdk-testpmd"

/* What a test started; .fini ends all of it, pass or fail. */
static struct {
	pid_t worker;
	int go_w, done_r;
	struct vbpf *v, *v2;
	pid_t testpmd;
	pid_t vhm[2];          /* `vhm run` / `vhm-testbe` children */
	char tmpdir[64];
	char prefix[32];
	char sock[128];        /* testpmd's vhost-user socket */
} F = { .worker = -1, .go_w = -1, .done_r = -1, .testpmd = -1, .vhm = { -1, -1 } };

static void kill_wait(pid_t *pid, int sig, int grace_ms)
{
	if (*pid <= 0)
		return;
	kill(*pid, sig);
	for (int i = 0; i < grace_ms / 10; i++) {
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = -1;
			return;
		}
		usleep(10000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = -1;
}

/* Remove a directory of plain files (the test's tmp dir, testpmd's runtime dir). */
static void rm_flat_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(path);
}

static void teardown(void)
{
	vbpf_close(F.v);
	vbpf_close(F.v2);
	F.v = F.v2 = NULL;
	kill_wait(&F.worker, SIGKILL, 1000);
	kill_wait(&F.vhm[0], SIGTERM, 3000);
	kill_wait(&F.vhm[1], SIGTERM, 3000);
	if (F.go_w >= 0)
		close(F.go_w);
	if (F.done_r >= 0)
		close(F.done_r);
	F.go_w = F.done_r = -1;
	kill_wait(&F.testpmd, SIGTERM, 5000);
	if (F.tmpdir[0])
		rm_flat_dir(F.tmpdir);
	if (F.prefix[0]) {
		char run[96];

		snprintf(run, sizeof(run), "/var/run/dpdk/%s", F.prefix);
		rm_flat_dir(run);
	}
}

static void need_root(void)
{
	if (geteuid() != 0) {
		cr_log_info("skipped: not root (BPF tracing needs root, or CAP_BPF+CAP_PERFMON)");
		cr_skip("not root: BPF tracing needs root, or CAP_BPF+CAP_PERFMON");
	}
}

/* ---- the worker ---------------------------------------------------------------- */

typedef int (*work_fn)(void *arg);

/* Fork a worker: it waits for "go", runs fn, writes 'd' (or 'e' if fn
 * failed), then sleeps until killed. */
static pid_t start_worker(work_fn fn, void *arg)
{
	int go[2], done[2];
	pid_t pid;

	cr_assert(eq(int, pipe2(go, O_CLOEXEC), 0));
	cr_assert(eq(int, pipe2(done, O_CLOEXEC), 0));
	pid = fork();
	cr_assert(ge(int, pid, 0), "fork: %s", strerror(errno));
	if (pid == 0) {
		char b, r;

		close(go[1]);
		close(done[0]);
		if (read(go[0], &b, 1) != 1)
			_exit(1);
		r = fn(arg) ? 'e' : 'd';
		if (write(done[1], &r, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(go[0]);
	close(done[1]);
	F.worker = pid;
	F.go_w = go[1];
	F.done_r = done[0];
	return pid;
}

/* Let the worker run and wait (up to 10 s) until it has done its work. */
static void run_worker(void)
{
	struct pollfd p = { .fd = F.done_r, .events = POLLIN };
	char r = 0;

	cr_assert(eq(int, (int)write(F.go_w, "g", 1), 1));
	cr_assert(eq(int, poll(&p, 1, 10000), 1), "worker did not finish within 10 s");
	cr_assert(eq(int, (int)read(F.done_r, &r, 1), 1));
	cr_assert(eq(chr, r, 'd'), "worker failed its work");
}

/* Open the probes on the worker; skip if BPF is unusable here, and skip if
 * the one probe the test is about found no attach point. */
static void open_probes(enum vbpf_probe p, const struct vbpf_opts *o)
{
	int err = vbpf_open(&F.v, F.worker, 1u << p, o);

	if (err == -EPERM || err == -ENOSYS)
		cr_skip("BPF unavailable: %s", strerror(-err));
	cr_assert(eq(int, err, 0), "vbpf_open: %s", strerror(-err));
	if (!vbpf_attached(F.v, p))
		cr_skip("probe %s has no attach point here: %s", vbpf_probe_name(p),
			vbpf_note(F.v, p));
	cr_log_info("probe %s: %s %s", vbpf_probe_name(p), vbpf_variant(F.v, p),
		    vbpf_note(F.v, p));
}

static struct vbpf_counters read_counters(void)
{
	struct vbpf_counters c;

	cr_assert(eq(int, vbpf_read(F.v, &c), 0));
	return c;
}

static uint64_t hist_total(const __u64 *h)
{
	uint64_t n = 0;

	for (int i = 0; i < VBPF_HIST_SLOTS; i++)
		n += h[i];
	return n;
}

/* ---- 3. page faults ------------------------------------------------------------ */

#define PF_PAGES 37

struct pf_work {
	volatile char *map;
	size_t page;
};

static int touch_pages(void *arg)
{
	struct pf_work *w = arg;

	for (size_t i = 0; i < PF_PAGES; i++)
		w->map[i * w->page] = 1;
	return 0;
}

Test(bpf_pf, counts_each_fresh_page_once, .init = need_root, .fini = teardown, .timeout = 30)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = (PF_PAGES + 3) * page;
	struct pf_work w = { .page = page };
	struct vbpf_counters c;
	char *map;

	/* Mapped before fork, never touched here: every page is fresh in the
	 * worker. No THP, or one fault could fill many pages. */
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert(ne(ptr, map, MAP_FAILED));
	madvise(map, len, MADV_NOHUGEPAGE);
	w.map = map;
	start_worker(touch_pages, &w);
	open_probes(VBPF_PROBE_PF, &(struct vbpf_opts){ .pf_start = (uintptr_t)map,
						       .pf_end = (uintptr_t)map + len });
	run_worker();
	c = read_counters();
	cr_assert(eq(u64, c.pf_first_touch, PF_PAGES), "first touches %llu, want %d",
		  (unsigned long long)c.pf_first_touch, PF_PAGES);
	cr_assert(ge(u64, c.pf_faults, PF_PAGES));
	cr_assert(eq(u64, c.pf_table_full, 0));
	munmap(map, len);
}

/* ---- 1. control plane ---------------------------------------------------------- */

#define CTL_MSGS 25
#define UDP_MSGS 7
#define CTL_LEN 16

static int xfer(int tx, int rx, const struct sockaddr_in *to)
{
	char buf[CTL_LEN] = "vhost-user-ish", in[CTL_LEN];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct iovec iin = { .iov_base = in, .iov_len = sizeof(in) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct msghdr mi = { .msg_iov = &iin, .msg_iovlen = 1 };

	if (to) {
		m.msg_name = (void *)to;
		m.msg_namelen = sizeof(*to);
	}
	if (sendmsg(tx, &m, 0) != CTL_LEN || recvmsg(rx, &mi, 0) != CTL_LEN)
		return -1;
	return 0;
}

/* CTL_MSGS round trips over a Unix socketpair, and UDP_MSGS over loopback
 * UDP that the Unix-only filter must leave out. */
static int unix_and_udp(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int sv[2], u;

	(void)arg;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv))
		return -1;
	for (int i = 0; i < CTL_MSGS; i++)
		if (xfer(sv[0], sv[1], NULL))
			return -1;
	u = socket(AF_INET, SOCK_DGRAM, 0);
	if (u < 0 || bind(u, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(u, (struct sockaddr *)&a, &alen))
		return -1;
	for (int i = 0; i < UDP_MSGS; i++)
		if (xfer(u, u, &a))
			return -1;
	return 0;
}

static void check_ctl(bool raw)
{
	struct vbpf_counters c;

	start_worker(unix_and_udp, NULL);
	open_probes(VBPF_PROBE_CTL, &(struct vbpf_opts){ .no_tracefs = raw });
	cr_assert(eq(str, (char *)vbpf_variant(F.v, VBPF_PROBE_CTL), raw ? "raw_tp" : "tracepoint"));
	run_worker();
	c = read_counters();
	for (int d = VBPF_SEND; d <= VBPF_RECV; d++) {
		cr_assert(eq(u64, c.ctl_msgs[d], CTL_MSGS), "%s: %llu messages, want %d",
			  d == VBPF_SEND ? "sendmsg" : "recvmsg",
			  (unsigned long long)c.ctl_msgs[d], CTL_MSGS);
		cr_assert(eq(u64, hist_total(c.ctl_hist[d]), CTL_MSGS));
		cr_assert(eq(u64, c.ctl_bytes[d], CTL_MSGS * CTL_LEN));
		cr_assert(eq(u64, c.ctl_errors[d], 0));
		cr_assert(eq(u64, c.ctl_other[d], UDP_MSGS), "non-Unix calls %llu, want %d",
			  (unsigned long long)c.ctl_other[d], UDP_MSGS);
	}
}

Test(bpf_ctl, counts_unix_sendmsg_recvmsg_tracepoint, .init = need_root, .fini = teardown,
     .timeout = 30)
{
	check_ctl(false);
}

Test(bpf_ctl, counts_unix_sendmsg_recvmsg_raw_tp, .init = need_root, .fini = teardown,
     .timeout = 30)
{
	check_ctl(true);
}

/* ---- 2. eventfd kicks -------------------------------------------------------- */

#define KICKS 19

/* KICKS 8-byte writes and reads on an eventfd; 8-byte writes to a pipe and a
 * 4-byte (refused) write to the eventfd, which must not count. */
static int kick_eventfd(void *arg)
{
	uint64_t one = 1, got;
	int efd = eventfd(0, 0), p[2];

	(void)arg;
	if (efd < 0 || pipe(p))
		return -1;
	for (int i = 0; i < KICKS; i++)
		if (write(efd, &one, 8) != 8 || read(efd, &got, 8) != 8)
			return -1;
	if (write(p[1], &one, 8) != 8 || read(p[0], &got, 8) != 8)
		return -1;
	if (write(efd, &one, 4) != -1) /* eventfd refuses short writes */
		return -1;
	return 0;
}

static void check_kick(bool raw)
{
	struct vbpf_counters c;

	start_worker(kick_eventfd, NULL);
	open_probes(VBPF_PROBE_KICK, &(struct vbpf_opts){ .no_tracefs = raw });
	cr_assert(eq(str, (char *)vbpf_variant(F.v, VBPF_PROBE_KICK), raw ? "raw_tp" : "tracepoint"));
	run_worker();
	c = read_counters();
	cr_assert(eq(u64, c.evfd_writes, KICKS), "eventfd writes %llu, want %d",
		  (unsigned long long)c.evfd_writes, KICKS);
	cr_assert(eq(u64, c.evfd_reads, KICKS), "eventfd reads %llu, want %d",
		  (unsigned long long)c.evfd_reads, KICKS);
}

Test(bpf_kick, counts_eventfd_writes_tracepoint, .init = need_root, .fini = teardown,
     .timeout = 30)
{
	check_kick(false);
}

Test(bpf_kick, counts_eventfd_writes_raw_tp, .init = need_root, .fini = teardown,
     .timeout = 30)
{
	check_kick(true);
}

/* ---- 5. uprobes ------------------------------------------------------------- */

#define UPROBE_CALLS 23

/* The traced function: global, not inlined, so it has a symbol. */
__attribute__((noinline, used)) int vbpf_test_uprobe_target(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1;
}

static int call_target(void *arg)
{
	int acc = 0;

	(void)arg;
	for (int i = 0; i < UPROBE_CALLS; i++)
		acc = vbpf_test_uprobe_target(acc);
	return acc == UPROBE_CALLS ? 0 : -1;
}

Test(bpf_uprobe, counts_calls_of_a_symbol, .init = need_root, .fini = teardown, .timeout = 30)
{
	char exe[PATH_MAX], spec[PATH_MAX + 64];
	const char *specs[1] = { spec };
	struct vbpf_counters c;
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	cr_assert(ge(sz, (size_t)(n > 0 ? n : 0), 1));
	exe[n] = '\0';
	snprintf(spec, sizeof(spec), "%s:vbpf_test_uprobe_target", exe);
	start_worker(call_target, NULL);
	open_probes(VBPF_PROBE_UPROBE, &(struct vbpf_opts){ .uprobes = specs, .n_uprobes = 1 });
	cr_assert(eq(str, (char *)vbpf_variant(F.v, VBPF_PROBE_UPROBE), "uprobe"));
	cr_assert(vbpf_uprobe_attached(F.v, 0), "%s", vbpf_uprobe_note(F.v, 0));
	run_worker();
	c = read_counters();
	cr_assert(eq(u64, c.up_calls[0], UPROBE_CALLS), "calls %llu, want %d",
		  (unsigned long long)c.up_calls[0], UPROBE_CALLS);
}

/* testpmd serving one queue pair on F.sock, log in F.tmpdir/testpmd.log;
 * log_level: an extra --log-level=... or NULL. */
static void start_testpmd(const char *log_level)
{
	char sock[128], log[128], vdev[192], prefix_arg[64];
	struct stat st;
	pid_t pid;

	snprintf(F.tmpdir, sizeof(F.tmpdir), "/tmp/vhmbpf.XXXXXX");
	cr_assert(ne(ptr, mkdtemp(F.tmpdir), NULL));
	snprintf(F.prefix, sizeof(F.prefix), "vhmbpf%d", (int)getpid());
	snprintf(sock, sizeof(sock), "%s/s.sock", F.tmpdir);
	snprintf(F.sock, sizeof(F.sock), "%s", sock);
	snprintf(log, sizeof(log), "%s/testpmd.log", F.tmpdir);
	snprintf(vdev, sizeof(vdev), "net_vhost0,iface=%s,queues=1", sock);
	snprintf(prefix_arg, sizeof(prefix_arg), "--file-prefix=%s", F.prefix);
	pid = fork();
	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644), nul = open("/dev/null", O_RDONLY);

		if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		/* --lcores alone: with -l as well, EAL ignores --lcores and, here,
		 * exits with its usage text. Both lcores on CPU 0. -m 256: its
		 * 4096 mbufs take 9 MB, and EAL touches all of -m as it starts
		 * (1024 MB took 10 s to start under load, 256 MB 3 to 5 s). */
		execl(TESTPMD, TESTPMD, "--lcores=0@0,1@0", "--no-huge", "-m", "256",
		      "--no-pci", prefix_arg, "--vdev", vdev,
		      log_level ? log_level : "--log-level=lib.vhost.config:info", "--",
		      "--auto-start", "--forward-mode=io", "--nb-cores=1",
		      "--total-num-mbufs=4096", "--stats-period=1", (char *)NULL);
		_exit(127);
	}
	F.testpmd = pid;
	/* The socket appears once the vhost PMD is up (a second or two). */
	for (int i = 0; i < 300 && stat(sock, &st); i++) {
		cr_assert(eq(int, waitpid(pid, NULL, WNOHANG), 0), "testpmd exited; see %s", log);
		usleep(100000);
	}
	cr_assert(eq(int, stat(sock, &st), 0), "testpmd made no socket in 30 s; see %s", log);
}

Test(bpf_uprobe, attaches_librte_vhost_in_testpmd, .init = need_root, .fini = teardown,
     .timeout = 30)
{
	struct vbpf_counters c;
	int err;

	if (access(TESTPMD, X_OK))
		cr_skip("%s missing (package dpdk-dev)", TESTPMD);
	start_testpmd(NULL);
	err = vbpf_open(&F.v, F.testpmd, 1u << VBPF_PROBE_UPROBE, NULL);
	if (err == -EPERM)
		cr_skip("BPF unavailable: %s", strerror(-err));
	cr_assert(eq(int, err, 0), "vbpf_open: %s", strerror(-err));
	cr_assert(eq(str, (char *)vbpf_variant(F.v, VBPF_PROBE_UPROBE), "uprobe"));
	/* All four default functions are exported by librte_vhost. */
	cr_assert(eq(sz, vbpf_uprobe_count(F.v), 4));
	for (size_t i = 0; i < vbpf_uprobe_count(F.v); i++) {
		cr_assert(vbpf_uprobe_attached(F.v, i), "%s: %s", vbpf_uprobe_name(F.v, i),
			  vbpf_uprobe_note(F.v, i));
		cr_assert(not(eq(ptr, strstr(vbpf_uprobe_binary(F.v, i), "librte_vhost"), NULL)));
	}
	cr_assert(vbpf_uprobe_counts_packets(F.v, 0), "enqueue: uretprobe not attached");
	cr_assert(vbpf_uprobe_counts_packets(F.v, 1), "dequeue: uretprobe not attached");
	usleep(1500000);
	c = read_counters();
	/* No frontend is connected, so the vhost PMD never reaches
	 * rte_vhost_dequeue_burst (it polls only a ready device) and no packet
	 * moves. Traffic checks come with the device under test. */
	cr_log_info("testpmd without frontend: enqueue %llu, dequeue %llu calls",
		    (unsigned long long)c.up_calls[0], (unsigned long long)c.up_calls[1]);
	cr_assert(eq(u64, c.up_ret_sum[0] + c.up_ret_sum[1], 0));
	cr_assert(eq(u64, c.up_calls[2] + c.up_calls[3], 0),
		  "testpmd's own datapath never calls rte_vhost_log_*");
}

/* ---- 6. vhm trace ------------------------------------------------------------- */

static const char *vhm_path(void)
{
	static char path[PATH_MAX];
	const char *b = getenv("VHM_BUILD");

	snprintf(path, sizeof(path), "%s/vhm", b ? b : "build");
	return path;
}

/* Run vhm with argv (argv[0] ignored), optionally as `uid`; capture stdout
 * and stderr; return the exit status (or 128+signal). */
static int run_vhm(char **argv, uid_t uid, char *out, size_t outlen, char *err, size_t errlen)
{
	int po[2], pe[2], st;
	size_t no = 0, ne = 0;
	pid_t pid;

	cr_assert(eq(int, pipe2(po, O_CLOEXEC), 0));
	cr_assert(eq(int, pipe2(pe, O_CLOEXEC), 0));
	pid = fork();
	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		if (dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
			_exit(127);
		if (uid && (setgroups(0, NULL) || setgid(uid) || setuid(uid)))
			_exit(126);
		argv[0] = (char *)vhm_path();
		execv(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	for (;;) {
		struct pollfd p[2] = { { .fd = po[0], .events = POLLIN },
				       { .fd = pe[0], .events = POLLIN } };
		int open_fds = 0;

		if (poll(p, 2, -1) < 0)
			break;
		for (int i = 0; i < 2; i++) {
			char *buf = i ? err : out;
			size_t *n = i ? &ne : &no, len = i ? errlen : outlen;
			ssize_t r;

			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			r = read(p[i].fd, buf + *n, len - 1 - *n);
			if (r > 0)
				*n += (size_t)r;
			else
				p[i].fd = -1;
		}
		open_fds = (p[0].fd >= 0) + (p[1].fd >= 0);
		if (p[0].fd < 0 && po[0] >= 0) {
			close(po[0]);
			po[0] = -1;
		}
		if (p[1].fd < 0 && pe[0] >= 0) {
			close(pe[0]);
			pe[0] = -1;
		}
		if (!open_fds || po[0] < 0 || pe[0] < 0) {
			/* Drain what is left of the other pipe, then stop. */
			int rest = po[0] >= 0 ? po[0] : pe[0];
			char *buf = po[0] >= 0 ? out : err;
			size_t *n = po[0] >= 0 ? &no : &ne, len = po[0] >= 0 ? outlen : errlen;
			ssize_t r;

			while (rest >= 0 && (r = read(rest, buf + *n, len - 1 - *n)) > 0)
				*n += (size_t)r;
			if (rest >= 0)
				close(rest);
			break;
		}
	}
	out[no] = '\0';
	err[ne] = '\0';
	cr_assert(eq(int, waitpid(pid, &st, 0), pid));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char out_buf[65536], err_buf[8192];

/* o[key] exists and has JSON type t. */
static bool has(json_t *o, const char *key, json_type t)
{
	json_t *x = json_object_get(o, key);

	return x && json_typeof(x) == t;
}

Test(bpf_trace_cli, bad_arguments_exit_2, .timeout = 30)
{
	char pidbuf[16];
	const char *cases[][6] = {
		{ "trace", "--bogus", NULL },
		{ "trace", NULL },
		{ "trace", "--pid", "abc", NULL },
		{ "trace", "--pid", pidbuf, "--interval", NULL },
		{ "trace", "--pid", pidbuf, "--probe", "nope", NULL },
		{ "trace", "--pid", "2147483646", NULL },
	};

	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
	for (size_t i = 0; i < VHM_ARRAY_SIZE(cases); i++)
		dt_vhm_refuses(cases[i], VHM_EXIT_USAGE, "vhm trace: ");
}

Test(bpf_trace_cli, unprivileged_names_the_privilege, .init = need_root, .timeout = 30)
{
	char pidbuf[16];
	char *argv[] = { "vhm", "trace", "--pid", pidbuf, "--duration", "1s", NULL };
	int rc;

	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
	rc = run_vhm(argv, 65534, out_buf, sizeof(out_buf), err_buf, sizeof(err_buf));
	if (rc == 126 || rc == 127)
		cr_skip("cannot run %s as uid 65534 (exit %d)", vhm_path(), rc);
	cr_assert(eq(int, rc, VHM_EXIT_USAGE), "exit %d, stderr: %s", rc, err_buf);
	cr_assert(not(eq(ptr, strstr(err_buf, "CAP_BPF"), NULL)), "stderr: %s", err_buf);
}

/* Signals an eventfd every 10 ms until killed. */
static int kick_forever(void *arg)
{
	uint64_t one = 1;
	int efd = eventfd(0, 0);

	(void)arg;
	if (efd < 0)
		return -1;
	for (;;) {
		if (write(efd, &one, 8) != 8)
			return -1;
		usleep(10000);
	}
}

Test(bpf_trace_cli, json_lines_have_the_keys, .init = need_root, .fini = teardown, .timeout = 30)
{
	char pidbuf[16];
	char *argv[] = { "vhm", "trace", "--pid", pidbuf, "--duration", "2s", "--json", NULL };
	char *line, *save = NULL;
	int rc, intervals = 0, attach = 0, summaries = 0;
	json_int_t kicks = 0;

	start_worker(kick_forever, NULL);
	cr_assert(eq(int, (int)write(F.go_w, "g", 1), 1));
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)F.worker);
	rc = run_vhm(argv, 0, out_buf, sizeof(out_buf), err_buf, sizeof(err_buf));
	cr_assert(eq(int, rc, 0), "exit %d, stderr: %s", rc, err_buf);
	for (line = strtok_r(out_buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t je;
		json_t *o = json_loads(line, 0, &je), *t;

		cr_assert(ne(ptr, o, NULL), "not JSON (%s): %s", je.text, line);
		cr_assert(has(o, "type", JSON_STRING), "no type: %s", line);
		t = json_object_get(o, "type");
		cr_assert(eq(int, (int)json_integer_value(json_object_get(o, "pid")), (int)F.worker));
		if (!strcmp(json_string_value(t), "attach")) {
			json_t *probes = json_object_get(o, "probes");

			attach++;
			cr_assert(has(o, "probes", JSON_OBJECT), "%s", line);
			cr_assert(has(o, "uprobes", JSON_ARRAY), "%s", line);
			for (int p = 0; p < VBPF_NPROBES; p++)
				cr_assert(has(probes, vbpf_probe_name(p), JSON_OBJECT), "%s", line);
		} else if (!strcmp(json_string_value(t), "requests")) {
			summaries++;
			cr_assert(has(o, "requests", JSON_ARRAY), "%s", line);
		} else {
			cr_assert(eq(str, (char *)json_string_value(t), "interval"));
			intervals++;
			cr_assert(has(o, "t_s", JSON_REAL), "%s", line);
			cr_assert(has(o, "interval_s", JSON_REAL), "%s", line);
			cr_assert(has(o, "ctl", JSON_OBJECT), "%s", line);
			cr_assert(has(o, "pf", JSON_OBJECT), "%s", line);
			cr_assert(has(o, "kick", JSON_OBJECT), "%s", line);
			cr_assert(has(json_object_get(o, "ctl"), "send", JSON_INTEGER), "%s", line);
			cr_assert(has(json_object_get(o, "pf"), "first_touch", JSON_INTEGER), "%s", line);
			cr_assert(has(json_object_get(o, "kick"), "writes", JSON_INTEGER), "%s", line);
			kicks += json_integer_value(json_object_get(json_object_get(o, "kick"),
								    "writes"));
		}
		json_decref(o);
	}
	cr_assert(eq(int, attach, 1));
	cr_assert(eq(int, summaries, 1), "one requests line at the end (ctl is a default probe)");
	cr_assert(ge(int, intervals, 2), "%d interval lines in 2 s", intervals);
	/* usleep never returns early: at most ~100 kicks a second of the 2 s
	 * (250 allows the intervals' edges); a loaded machine may make the
	 * worker late, not the probe lose writes: 40 allows 50 ms sleeps. */
	cr_assert(ge(i64, (int64_t)kicks, 40), "a worker kicking every 10 ms for 2 s: %lld kicks",
		  (long long)kicks);
	cr_assert(le(i64, (int64_t)kicks, 250), "a worker kicking every 10 ms for 2 s: %lld kicks",
		  (long long)kicks);
}

/* ---- 7. against the real device: vhm run on testpmd ------------------------------ */

/* jansson's json_is_* are macros that Criterion's cr_assert cannot take.
 * (Also: Criterion 2.4.1's gt() passes on equal values, like ge(); this file
 * writes "> n" as ge(..., n + 1).) */
static bool is_integer(const json_t *j) { return json_is_integer(j); }
static bool is_object(const json_t *j) { return json_is_object(j); }
static bool is_real(const json_t *j) { return json_is_real(j); }

/* Start `vhm <args>` (args NULL-terminated, without argv[0]) with stdout and
 * stderr to F.tmpdir/<log>, in slot F.vhm[slot]. gated: the child waits on a
 * pipe before exec, so that probes attached to its pid see the program from
 * its first instruction (exec keeps the pid); the write end goes to *gate. */
static pid_t spawn_vhm(int slot, const char *const *args, const char *log, bool gated, int *gate)
{
	char path[128], *argv[32];
	int p[2] = { -1, -1 }, n = 0;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", F.tmpdir, log);
	argv[n++] = (char *)vhm_path();
	for (; *args && n < 31; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	if (gated)
		cr_assert(eq(int, pipe2(p, O_CLOEXEC), 0));
	pid = fork();
	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		char b;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		if (gated && read(p[0], &b, 1) != 1)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	if (gated) {
		close(p[0]);
		*gate = p[1];
	}
	F.vhm[slot] = pid;
	return pid;
}

/* Wait (up to timeout_ms) for F.vhm[slot] to exit; its exit status. */
static int wait_vhm(int slot, int timeout_ms)
{
	int st;

	for (int i = 0; i < timeout_ms / 20; i++) {
		if (waitpid(F.vhm[slot], &st, WNOHANG) == F.vhm[slot]) {
			F.vhm[slot] = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(20000);
	}
	cr_assert(false, "vhm did not exit within %d ms", timeout_ms);
	return -1;
}

static void wait_ctl_socket(const char *name)
{
	char path[160];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s.sock", F.tmpdir, name);
	for (int i = 0; i < 500 && stat(path, &st); i++)
		usleep(20000);
	cr_assert(eq(int, stat(path, &st), 0), "control socket %s never appeared", path);
}

/* `vhm status NAME --json`, parsed (the caller decrefs). */
static json_t *device_status(const char *name)
{
	char *argv[] = { "vhm", "status", (char *)name, "--json", "--run-dir", F.tmpdir, NULL };
	json_error_t je;
	json_t *j;
	int rc = run_vhm(argv, 0, out_buf, sizeof(out_buf), err_buf, sizeof(err_buf));

	if (rc) {
		char path[160], tail[2048] = "";
		FILE *f;
		size_t n;

		snprintf(path, sizeof(path), "%s/%s.log", F.tmpdir, name);
		f = fopen(path, "r");
		if (f) {
			n = fread(tail, 1, sizeof(tail) - 1, f);
			tail[n] = '\0';
			fclose(f);
		}
		cr_assert(false, "vhm status %s: exit %d: %s; its log: %s", name, rc, err_buf, tail);
	}
	j = json_loads(out_buf, 0, &je);
	cr_assert(ne(ptr, j, NULL), "status is not JSON (%s): %s", je.text, out_buf);
	return j;
}

/* status.traffic.total.<key> */
static uint64_t total_of(json_t *status, const char *key)
{
	json_t *t = json_object_get(json_object_get(json_object_get(status, "traffic"), "total"),
				    key);

	cr_assert(is_integer(t), "status has no traffic.total.%s", key);
	return (uint64_t)json_integer_value(t);
}

/* Lines of F.tmpdir/<file> containing `needle`, up to the first line
 * containing `stop` (NULL: to the end). */
static int count_lines_in(const char *file, const char *needle, const char *stop)
{
	char path[160], line[1024];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", F.tmpdir, file);
	f = fopen(path, "r");
	cr_assert(ne(ptr, f, NULL), "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (stop && strstr(line, stop))
			break;
		n += strstr(line, needle) != NULL;
	}
	fclose(f);
	return n;
}

/* The final "NAME: tx N frames, rx N back ..." line of a clean `vhm run`. */
static void run_summary(const char *log, const char *name, unsigned long long *tx,
			unsigned long long *rx)
{
	char path[160], line[512], fmt[96];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", F.tmpdir, log);
	snprintf(fmt, sizeof(fmt), "%s: tx %%llu frames, rx %%llu back", name);
	f = fopen(path, "r");
	cr_assert(ne(ptr, f, NULL), "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		found |= sscanf(line, fmt, tx, rx) == 2;
	fclose(f);
	cr_assert(found, "no summary line in %s", path);
}

static void need_testpmd(void)
{
	need_root();
	if (access(TESTPMD, X_OK))
		cr_skip("%s missing (package dpdk-dev)", TESTPMD);
}

static void open_on(struct vbpf **v, pid_t pid, unsigned probes)
{
	int err = vbpf_open(v, pid, probes, NULL);

	if (err == -EPERM)
		cr_skip("BPF unavailable: %s", strerror(-err));
	cr_assert(eq(int, err, 0), "vbpf_open(pid %d): %s", (int)pid, strerror(-err));
}

/* What vhm sends to testpmd 22.11 for one queue pair (2 rings): testpmd
 * offers PROTOCOL_FEATURES with MQ, REPLY_ACK, BACKEND_REQ and STATUS but not
 * CONFIGURE_MEM_SLOTS (so no GET_MAX_MEM_SLOTS). See vhu_front_negotiate and
 * dev_backend_start. */
enum {
	SETUP_RINGS = 2,
	/* GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES,
	 * GET_QUEUE_NUM, SET_BACKEND_REQ_FD, SET_OWNER; SET_STATUS 0x3,
	 * SET_FEATURES, SET_STATUS 0xb, GET_STATUS, SET_MEM_TABLE; per ring NUM,
	 * ADDR, CALL, ENABLE, BASE, KICK; SET_STATUS 0xf. */
	SETUP_MSGS = 11 + 5 * SETUP_RINGS + SETUP_RINGS + 1,
	/* Replies: the four GETs always; with REPLY_ACK (acked in
	 * SET_PROTOCOL_FEATURES, so from the next request on) every other one
	 * but the KICKs, which DRIVER_OK's ack answers for. */
	SETUP_REPLIES = 4 + (SETUP_MSGS - 5) - SETUP_RINGS,
	/* A clean stop: GET_VRING_BASE per ring, then SET_STATUS 0, each answered. */
	STOP_MSGS = SETUP_RINGS + 1,
};

/* testpmd's recvmsg/sendmsg on its vhost-user socket while a device comes up
 * and stops, against the set-up sequence counted above and against testpmd's
 * own debug log ("read message VHOST_USER_..." per request it read). */
Test(bpf_device, setup_messages_reach_testpmd, .init = need_testpmd, .fini = teardown,
     .timeout = 60)
{
	const char *args[] = { "run", "--backend", NULL, "--name", "d0", "--run-dir", NULL,
			       "--timeout", "20s",
			       "--ring", "split", "--traffic", "1000", "--duration", "3s", NULL };
	struct vbpf_counters c;
	int logged, logged_setup, rc;

	start_testpmd("--log-level=lib.vhost.config:debug");
	open_on(&F.v, F.testpmd, 1u << VBPF_PROBE_CTL);
	cr_assert(eq(str, (char *)vbpf_variant(F.v, VBPF_PROBE_CTL), "tracepoint"));
	args[2] = F.sock;
	args[6] = F.tmpdir;
	spawn_vhm(0, args, "d0.log", false, NULL);
	rc = wait_vhm(0, 20000);
	cr_assert(eq(int, rc, 0), "vhm run exited %d (see %s/d0.log)", rc, F.tmpdir);
	usleep(300000); /* testpmd reads the EOF */
	c = read_counters();
	logged = count_lines_in("testpmd.log", "read message VHOST_USER_", NULL);
	logged_setup = count_lines_in("testpmd.log", "read message VHOST_USER_",
				      "VHOST_USER_GET_VRING_BASE");
	cr_log_info("testpmd: recvmsg %llu, sendmsg %llu, errors %llu/%llu; log: %d messages "
		    "(%d before the stop); expected set-up %d + stop %d, replies %d + %d",
		    (unsigned long long)c.ctl_msgs[VBPF_RECV],
		    (unsigned long long)c.ctl_msgs[VBPF_SEND],
		    (unsigned long long)c.ctl_errors[VBPF_RECV],
		    (unsigned long long)c.ctl_errors[VBPF_SEND], logged, logged_setup, SETUP_MSGS,
		    STOP_MSGS, SETUP_REPLIES, STOP_MSGS);
	/* The witness agrees with the sequence vhm is meant to send... */
	cr_assert(eq(int, logged_setup, SETUP_MSGS), "testpmd logged %d set-up messages, want %d",
		  logged_setup, SETUP_MSGS);
	cr_assert(eq(int, logged, SETUP_MSGS + STOP_MSGS));
	/* ...and the probe with both: one recvmsg per request (DPDK reads the
	 * header with recvmsg, the payload with read), plus the one that
	 * returned 0 at EOF when vhm closed. */
	cr_assert(ge(u64, c.ctl_msgs[VBPF_RECV], SETUP_MSGS));
	cr_assert(eq(u64, c.ctl_msgs[VBPF_RECV], (uint64_t)logged + 1),
		  "recvmsg %llu, testpmd logged %d messages (+1 EOF)",
		  (unsigned long long)c.ctl_msgs[VBPF_RECV], logged);
	cr_assert(eq(u64, c.ctl_msgs[VBPF_SEND], SETUP_REPLIES + STOP_MSGS),
		  "sendmsg %llu, want %d replies", (unsigned long long)c.ctl_msgs[VBPF_SEND],
		  SETUP_REPLIES + STOP_MSGS);
}

/* vhost-user request numbers these tests name (vhu_proto.h's table). */
enum { REQ_GET_FEATURES = 1, REQ_GET_VRING_BASE = 11, REQ_SET_PROTOCOL_FEATURES = 16 };

static uint64_t sum_req(const __u64 *a)
{
	uint64_t n = 0;

	for (int i = 0; i < VBPF_MAX_REQ; i++)
		n += a[i];
	return n;
}

/* The ctl probe decodes each message's vhost-user header on testpmd: one
 * received request per message testpmd logged reading, each reply it sent
 * paired with its request, and the service time of each (request read ->
 * reply sent) inside the run. On the other side, vhm (gated: probed from
 * exec) sent the same requests and timed the round trips. The first and the
 * last arrival of each request number are times on the monotonic clock. */
Test(bpf_device, requests_decoded_with_service_time, .init = need_testpmd, .fini = teardown,
     .timeout = 60)
{
	const char *args[] = { "run", "--backend", NULL, "--name", "d4", "--run-dir", NULL,
			       "--timeout", "20s",
			       "--ring", "split", "--traffic", "1000", "--duration", "2s", NULL };
	struct vbpf_counters c, f;
	uint64_t in, served, t0;
	int logged, gate, rc;
	pid_t vhm;

	start_testpmd("--log-level=lib.vhost.config:debug");
	open_on(&F.v, F.testpmd, 1u << VBPF_PROBE_CTL);
	args[2] = F.sock;
	args[6] = F.tmpdir;
	vhm = spawn_vhm(0, args, "d4.log", true, &gate);
	open_on(&F.v2, vhm, 1u << VBPF_PROBE_CTL);
	t0 = vhm_now_ns();
	cr_assert(eq(int, (int)write(gate, "g", 1), 1));
	close(gate);
	rc = wait_vhm(0, 20000);
	cr_assert(eq(int, rc, 0), "vhm run exited %d (see %s/d4.log)", rc, F.tmpdir);
	usleep(300000); /* testpmd reads the EOF */
	c = read_counters();
	cr_assert(eq(int, vbpf_read(F.v2, &f), 0));
	logged = count_lines_in("testpmd.log", "read message VHOST_USER_", NULL);
	in = sum_req(c.req_in);
	served = sum_req(c.req_served);
	cr_log_info("testpmd: %llu requests in, %llu served (sendmsg %llu), logged %d; "
		    "GET_VRING_BASE served in %.1f us on average",
		    (unsigned long long)in, (unsigned long long)served,
		    (unsigned long long)c.ctl_msgs[VBPF_SEND], logged,
		    c.req_served[REQ_GET_VRING_BASE] ?
		    (double)c.req_serve_ns[REQ_GET_VRING_BASE] /
		    (double)c.req_served[REQ_GET_VRING_BASE] / 1e3 : 0.0);
	/* Every request testpmd read, decoded; every sendmsg a reply to one. */
	cr_assert(eq(u64, in, (uint64_t)logged), "decoded %llu requests, testpmd logged %d",
		  (unsigned long long)in, logged);
	cr_assert(eq(u64, served, c.ctl_msgs[VBPF_SEND]), "paired %llu replies of %llu sendmsg",
		  (unsigned long long)served, (unsigned long long)c.ctl_msgs[VBPF_SEND]);
	cr_assert(eq(u64, c.req_other, 0));
	cr_assert(eq(u64, c.req_in[REQ_GET_FEATURES], 1));
	cr_assert(eq(u64, c.req_served[REQ_GET_FEATURES], 1));
	cr_assert(eq(u64, c.req_in[REQ_SET_PROTOCOL_FEATURES], 1));
	cr_assert(eq(u64, c.req_served[REQ_SET_PROTOCOL_FEATURES], 0), "a reply that has none");
	cr_assert(eq(u64, c.req_in[REQ_GET_VRING_BASE], SETUP_RINGS));
	cr_assert(eq(u64, c.req_served[REQ_GET_VRING_BASE], SETUP_RINGS));
	/* Service times are real and inside the run. */
	cr_assert(lt(u64, 0, c.req_serve_ns[REQ_GET_VRING_BASE]));
	cr_assert(lt(u64, c.req_serve_ns[REQ_GET_VRING_BASE], vhm_now_ns() - t0));
	/* When requests arrived, on the clock user space reads: the set-up's
	 * first request after the gate opened, the stop's GET_VRING_BASEs
	 * after it, in order, and before now; none of a number never sent. */
	cr_assert(lt(u64, t0, c.req_first_in_ns[REQ_GET_FEATURES]));
	cr_assert(eq(u64, c.req_first_in_ns[REQ_GET_FEATURES], c.req_last_in_ns[REQ_GET_FEATURES]),
		  "one GET_FEATURES, first and last alike");
	cr_assert(lt(u64, c.req_last_in_ns[REQ_GET_FEATURES], c.req_first_in_ns[REQ_GET_VRING_BASE]));
	cr_assert(le(u64, c.req_first_in_ns[REQ_GET_VRING_BASE],
		     c.req_last_in_ns[REQ_GET_VRING_BASE]));
	cr_assert(lt(u64, c.req_last_in_ns[REQ_GET_VRING_BASE], vhm_now_ns()));
	for (int r = 0; r < VBPF_MAX_REQ; r++)
		cr_assert(eq(int, !c.req_in[r], !c.req_first_in_ns[r] && !c.req_last_in_ns[r]),
			  "request %d: received %llu, times %llu-%llu", r,
			  (unsigned long long)c.req_in[r],
			  (unsigned long long)c.req_first_in_ns[r],
			  (unsigned long long)c.req_last_in_ns[r]);
	/* The frontend's view: the same requests sent, each reply answered, and a
	 * round trip no shorter than the backend's service of it. */
	cr_assert(eq(u64, sum_req(f.req_out), in), "vhm sent %llu requests, testpmd read %llu",
		  (unsigned long long)sum_req(f.req_out), (unsigned long long)in);
	for (int r = 0; r < VBPF_MAX_REQ; r++)
		if (f.req_answered[r] != c.req_served[r])
			cr_log_info("request %d: testpmd served %llu, vhm got %llu replies", r,
				    (unsigned long long)c.req_served[r],
				    (unsigned long long)f.req_answered[r]);
	cr_assert(eq(u64, sum_req(f.req_answered), served));
	cr_assert(eq(u64, f.req_answered[REQ_GET_VRING_BASE], SETUP_RINGS));
	cr_assert(le(u64, c.req_serve_ns[REQ_GET_VRING_BASE], f.req_rtt_ns[REQ_GET_VRING_BASE]),
		  "served in %llu ns, but the round trip took %llu ns",
		  (unsigned long long)c.req_serve_ns[REQ_GET_VRING_BASE],
		  (unsigned long long)f.req_rtt_ns[REQ_GET_VRING_BASE]);
}

/* `vhm trace --json` ends with a "requests" line naming each request with
 * its counts and mean service time: here the device's stop on testpmd
 * (GET_VRING_BASE per ring), which comes after the probes attached, and
 * every request seen has a name. */
/* A child that stops testpmd once `watched` has exited, so that a `vhm
 * trace --pid <testpmd>` running meanwhile ends then ("pid exited"), not at
 * its --duration; its pid, for waitpid. */
static pid_t stop_testpmd_after(pid_t watched)
{
	pid_t pid = fork();

	cr_assert(ge(int, pid, 0));
	if (pid)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	while (vhm_pid_running(watched))
		usleep(50000);
	kill(F.testpmd, SIGTERM);
	_exit(0);
}

Test(bpf_trace_cli, requests_line_names_each_request, .init = need_testpmd, .fini = teardown,
     .timeout = 60)
{
	const char *args[] = { "run", "--backend", NULL, "--name", "d5", "--run-dir", NULL,
			       "--timeout", "20s", "--traffic", "1000", "--duration", "2s", NULL };
	char pidbuf[16];
	/* Long enough for a set-up that takes seconds on a loaded machine (testpmd
	 * maps the guest's memory in SET_MEM_TABLE), the run and the stop; the
	 * trace ends when testpmd is stopped, once the device's run is over. */
	char *argv[] = { "vhm", "trace", "--pid", pidbuf, "--probe", "ctl", "--duration", "15s",
			 "--json", NULL };
	char *line, *save = NULL;
	json_t *reqs = NULL, *last = NULL, *r;
	pid_t stopper;
	size_t i;
	int rc;

	start_testpmd(NULL);
	args[2] = F.sock;
	args[6] = F.tmpdir;
	stopper = stop_testpmd_after(spawn_vhm(0, args, "d5.log", false, NULL));
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)F.testpmd);
	rc = run_vhm(argv, 0, out_buf, sizeof(out_buf), err_buf, sizeof(err_buf));
	waitpid(stopper, NULL, 0);
	cr_assert(eq(int, rc, 0), "exit %d, stderr: %s", rc, err_buf);
	cr_assert(eq(int, wait_vhm(0, 20000), 0));
	for (line = strtok_r(out_buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_decref(last);
		last = json_loads(line, 0, NULL);
		cr_assert(ne(ptr, last, NULL), "not JSON: %s", line);
	}
	cr_assert(eq(str, (char *)json_string_value(json_object_get(last, "type")), "requests"),
		  "last line is not the requests summary");
	reqs = json_object_get(last, "requests");
	cr_assert(lt(sz, 0, json_array_size(reqs)), "no request in the summary");
	json_array_foreach(reqs, i, r) {
		const char *name = json_string_value(json_object_get(r, "name"));

		cr_assert(ne(ptr, (void *)name, NULL), "request %lld has no name",
			  json_integer_value(json_object_get(r, "request")));
		if (strcmp(name, "GET_VRING_BASE"))
			continue;
		cr_assert(eq(int, (int)json_integer_value(json_object_get(r, "request")),
			     REQ_GET_VRING_BASE));
		cr_assert(eq(int, (int)json_integer_value(json_object_get(r, "received")), 2));
		cr_assert(eq(int, (int)json_integer_value(json_object_get(r, "served")), 2));
		cr_assert(is_real(json_object_get(r, "serve_us")));
		cr_assert(lt(dbl, 0.0, json_real_value(json_object_get(r, "serve_us"))));
		json_decref(last);
		return;
	}
	cr_assert(false, "no GET_VRING_BASE in the requests line: %s",
		  json_dumps(last, JSON_COMPACT));
}

static uint64_t queue_kicks(json_t *status)
{
	return total_of(status, "kicks");
}

/* vhm's kicks as the probe sees them (8-byte eventfd writes of the `vhm run`
 * process) and as the device counts them (status "kicks"): the device counts
 * a kick exactly when write() returned 8, so with the probe on from exec the
 * two agree exactly; the probe read is bracketed by two status reads.
 * testpmd offers EVENT_IDX and vhm takes it, and testpmd's polling PMD does
 * not move avail_event, so vhm kicks only at the start (each ring once as
 * it starts, then the driver's first: 3-4 seen): few, but exact. The calls testpmd writes (how many depends on used_event: 0 to a
 * few hundred a second seen) bound what vhm's driver drains: an eventfd read
 * consumes every write since the last, and both probes were on before vhm
 * existed. testpmd polls: it reads no eventfd. */
Test(bpf_device, kicks_match_the_device_counter, .init = need_testpmd, .fini = teardown,
     .timeout = 60)
{
	const char *args[] = { "run", "--backend", NULL, "--name", "d1", "--run-dir", NULL,
			       "--timeout", "20s",
			       "--ring", "split", "--traffic", "2000", "--duration", "6s", NULL };
	struct vbpf_counters vc, tc;
	json_t *s1, *s2;
	uint64_t k1, k2;
	int gate, rc;
	pid_t pid;

	start_testpmd(NULL);
	args[2] = F.sock;
	args[6] = F.tmpdir;
	pid = spawn_vhm(0, args, "d1.log", true, &gate);
	open_on(&F.v, pid, 1u << VBPF_PROBE_KICK);
	open_on(&F.v2, F.testpmd, 1u << VBPF_PROBE_KICK);
	cr_assert(eq(int, (int)write(gate, "g", 1), 1));
	close(gate);
	wait_ctl_socket("d1");
	sleep(2);
	s1 = device_status("d1");
	cr_assert(eq(int, vbpf_read(F.v, &vc), 0));
	cr_assert(eq(int, vbpf_read(F.v2, &tc), 0));
	s2 = device_status("d1");
	k1 = queue_kicks(s1);
	k2 = queue_kicks(s2);
	cr_log_info("vhm: kicks %llu..%llu (status), eventfd writes %llu, reads %llu (probe); "
		    "testpmd: eventfd writes %llu, reads %llu; rx %llu",
		    (unsigned long long)k1, (unsigned long long)k2,
		    (unsigned long long)vc.evfd_writes, (unsigned long long)vc.evfd_reads,
		    (unsigned long long)tc.evfd_writes, (unsigned long long)tc.evfd_reads,
		    (unsigned long long)total_of(s2, "rx_frames"));
	cr_assert(ge(u64, total_of(s1, "rx_frames"), 1), "no traffic came back");
	cr_assert(ge(u64, k1, 1), "split rings: at least the first RX kick");
	cr_assert(le(u64, k1, vc.evfd_writes), "probe %llu kicks, device had %llu before",
		  (unsigned long long)vc.evfd_writes, (unsigned long long)k1);
	cr_assert(le(u64, vc.evfd_writes, k2), "probe %llu kicks, device had %llu after",
		  (unsigned long long)vc.evfd_writes, (unsigned long long)k2);
	cr_assert(le(u64, vc.evfd_reads, tc.evfd_writes), "vhm read %llu calls, testpmd wrote %llu",
		  (unsigned long long)vc.evfd_reads, (unsigned long long)tc.evfd_writes);
	cr_assert(eq(u64, tc.evfd_reads, 0));
	json_decref(s1);
	json_decref(s2);
	rc = wait_vhm(0, 20000);
	cr_assert(eq(int, rc, 0));
}

#define WINDOW_TOLERANCE 0.05

/* Packets testpmd enqueues to the guest (uretprobe on rte_vhost_enqueue_burst)
 * are the frames vhm receives back, and those it dequeues are the frames vhm
 * sent: over a 2 s window within WINDOW_TOLERANCE, and exactly over the whole
 * run (vhm drains before it stops; the probes were on before it connected).
 * The probe counters are read just before and just after each status, so
 * the packets enqueued over the window lie between the inner and the outer
 * difference however long a status took (once ~200 ms under ASan: 51165
 * enqueued against 47048 frames when the probe was read after the status
 * alone). */
Test(bpf_device, uprobe_packets_match_frames, .init = need_testpmd, .fini = teardown,
     .timeout = 60)
{
	const char *args[] = { "run", "--backend", NULL, "--name", "d2", "--run-dir", NULL,
			       "--timeout", "20s",
			       "--traffic", "20000", "--duration", "5s", NULL };
	struct vbpf_counters p0, p1, p2, p3;
	unsigned long long tx, rx;
	json_t *s1, *s2;
	double d_rx, d_enq_in, d_enq_out;
	int rc;

	start_testpmd(NULL);
	open_on(&F.v, F.testpmd, 1u << VBPF_PROBE_UPROBE);
	cr_assert(vbpf_uprobe_counts_packets(F.v, 0) && vbpf_uprobe_counts_packets(F.v, 1),
		  "uretprobes on rte_vhost_{en,de}queue_burst not attached");
	args[2] = F.sock;
	args[6] = F.tmpdir;
	spawn_vhm(0, args, "d2.log", false, NULL);
	wait_ctl_socket("d2");
	sleep(1);
	p0 = read_counters();
	s1 = device_status("d2");
	p1 = read_counters();
	sleep(2);
	p2 = read_counters();
	s2 = device_status("d2");
	p3 = read_counters();
	d_rx = (double)(total_of(s2, "rx_frames") - total_of(s1, "rx_frames"));
	d_enq_in = (double)(p2.up_ret_sum[0] - p1.up_ret_sum[0]);
	d_enq_out = (double)(p3.up_ret_sum[0] - p0.up_ret_sum[0]);
	cr_log_info("window: vhm rx %.0f frames, testpmd enqueued %.0f..%.0f packets in %llu "
		    "calls, dequeue calls %llu", d_rx, d_enq_in, d_enq_out,
		    (unsigned long long)(p2.up_calls[0] - p1.up_calls[0]),
		    (unsigned long long)(p2.up_calls[1] - p1.up_calls[1]));
	cr_assert(ge(dbl, d_rx, 20000), "only %.0f frames back in 2 s at 20000/s", d_rx);
	cr_assert(le(dbl, d_enq_in, d_rx * (1 + WINDOW_TOLERANCE)), "enqueued %.0f..%.0f, rx %.0f",
		  d_enq_in, d_enq_out, d_rx);
	cr_assert(ge(dbl, d_enq_out, d_rx * (1 - WINDOW_TOLERANCE)), "enqueued %.0f..%.0f, rx %.0f",
		  d_enq_in, d_enq_out, d_rx);
	/* The PMD polls: many more dequeue calls than bursts that carried frames. */
	cr_assert(ge(u64, p2.up_calls[1] - p1.up_calls[1], p2.up_calls[0] - p1.up_calls[0] + 1));
	json_decref(s1);
	json_decref(s2);

	rc = wait_vhm(0, 20000);
	cr_assert(eq(int, rc, 0));
	p2 = read_counters();
	run_summary("d2.log", "d2", &tx, &rx);
	cr_log_info("run: vhm tx %llu rx %llu; testpmd dequeued %llu, enqueued %llu", tx, rx,
		    (unsigned long long)p2.up_ret_sum[1], (unsigned long long)p2.up_ret_sum[0]);
	cr_assert(eq(u64, p2.up_ret_sum[0], rx), "enqueued %llu, vhm received %llu",
		  (unsigned long long)p2.up_ret_sum[0], rx);
	cr_assert(eq(u64, p2.up_ret_sum[1], tx), "dequeued %llu, vhm sent %llu",
		  (unsigned long long)p2.up_ret_sum[1], tx);
}

/* Read lines from a control connection until a "stats" event carrying "bpf"
 * (up to timeout_ms); that event's data, or NULL. */
static json_t *next_bpf_stats(int fd, int timeout_ms)
{
	static char buf[65536];
	size_t got = 0;
	long end;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	end = ts.tv_sec * 1000L + ts.tv_nsec / 1000000L + timeout_ms;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *nl;
		ssize_t n;
		long now;

		while ((nl = memchr(buf, '\n', got))) {
			json_t *o, *data;

			*nl = '\0';
			o = json_loads(buf, 0, NULL);
			got -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, got);
			data = json_object_get(o, "data");
			if (o && json_is_string(json_object_get(o, "event")) &&
			    !strcmp(json_string_value(json_object_get(o, "event")), "stats") &&
			    json_object_get(data, "bpf")) {
				json_incref(data);
				json_decref(o);
				return data;
			}
			json_decref(o);
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
		if (now >= end || got == sizeof(buf))
			return NULL;
		if (poll(&p, 1, (int)(end - now)) <= 0)
			continue;
		n = read(fd, buf + got, sizeof(buf) - got);
		if (n <= 0)
			return NULL;
		got += (size_t)n;
	}
}

/* Status of device `name` once its "bpf" object is no longer {"loading":
 * true} (the probes load on a thread of their own), up to timeout_ms. */
static json_t *status_bpf_loaded(const char *name, int timeout_ms)
{
	for (int waited = 0;; waited += 200) {
		json_t *s = device_status(name), *b = json_object_get(s, "bpf");

		cr_assert(is_object(b), "status has no bpf object: %s", out_buf);
		if (!json_object_get(b, "loading"))
			return s;
		json_decref(s);
		cr_assert(lt(int, waited, timeout_ms), "probes still loading after %d ms", waited);
		usleep(200000);
	}
}

static int ctl_connect(const char *name)
{
	char path[108];
	int fd;

	snprintf(path, sizeof(path), "%s/%s.sock", F.tmpdir, name);
	fd = usock_connect(path, 5000, 0);
	cr_assert(ge(int, fd, 0), "%s: %s", path, strerror(-fd));
	return fd;
}

/* `vhm run --trace-backend`: the device finds testpmd's pid with SO_PEERCRED
 * and publishes the probes as "bpf" in status and in each stats event. */
Test(bpf_device, trace_backend_publishes_bpf, .init = need_testpmd, .fini = teardown,
     .timeout = 60)
{
	const char *args[] = { "run", "--backend", NULL, "--name", "d3", "--run-dir", NULL,
			       "--timeout", "20s",
			       "--traffic", "5000", "--duration", "6s", "--interval", "200ms",
			       "--trace-backend=ctl,kick,uprobe", NULL };
	const char sub[] = "{\"execute\":\"subscribe\",\"arguments\":{\"events\":[\"stats\"]}}\n";
	json_t *s, *b, *ups, *ev;
	uint64_t rx, enq;
	int fd, rc;

	start_testpmd(NULL);
	args[2] = F.sock;
	args[6] = F.tmpdir;
	spawn_vhm(0, args, "d3.log", false, NULL);
	wait_ctl_socket("d3");
	/* Once the probes are on, a second of traffic. */
	json_decref(status_bpf_loaded("d3", 30000));
	sleep(1);
	s = device_status("d3");
	b = json_object_get(s, "bpf");
	cr_assert(is_object(b), "status has no bpf object: %s", out_buf);
	cr_assert(eq(ptr, json_object_get(b, "error"), NULL), "bpf error: %s",
		  json_string_value(json_object_get(b, "error")));
	cr_assert(eq(int, (int)json_integer_value(json_object_get(b, "pid")), (int)F.testpmd),
		  "traced pid is not testpmd's (%d): %s", (int)F.testpmd, out_buf);
	cr_assert(is_object(json_object_get(b, "ctl")));
	cr_assert(is_object(json_object_get(b, "kick")));
	ups = json_object_get(b, "uprobes");
	cr_assert(eq(sz, json_array_size(ups), 4), "%s", out_buf);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(json_array_get(ups, 0),
								    "symbol")),
		     "rte_vhost_enqueue_burst"));
	rx = total_of(s, "rx_frames");
	enq = (uint64_t)json_integer_value(json_object_get(json_array_get(ups, 0), "packets"));
	cr_log_info("status: rx %llu, testpmd enqueued %llu since the probes attached",
		    (unsigned long long)rx, (unsigned long long)enq);
	/* Attached after set-up, with traffic already running: a little less
	 * than rx; at most a ring (1024) ahead of what vhm has reaped. */
	cr_assert(ge(u64, enq, 1));
	cr_assert(le(u64, enq, rx + 1024), "enqueued %llu, rx %llu", (unsigned long long)enq,
		  (unsigned long long)rx);
	json_decref(s);

	fd = ctl_connect("d3");
	cr_assert(eq(int, (int)write(fd, sub, sizeof(sub) - 1), (int)sizeof(sub) - 1));
	ev = next_bpf_stats(fd, 3000);
	close(fd);
	cr_assert(ne(ptr, ev, NULL), "no stats event with bpf in 3 s");
	b = json_object_get(ev, "bpf");
	cr_assert(is_real(json_object_get(b, "interval_s")));
	cr_assert(is_real(json_object_get(json_array_get(json_object_get(b, "uprobes"), 0),
					       "packets_per_s")));
	cr_assert(is_real(json_object_get(json_object_get(b, "ctl"), "recv_per_s")));
	json_decref(ev);
	rc = wait_vhm(0, 20000);
	cr_assert(eq(int, rc, 0));
}

/* If the probes cannot attach, the device runs on and says why; without
 * --trace-backend there is no "bpf" at all. vhm-testbe maps no librte_vhost,
 * so uprobe alone cannot attach to it. */
Test(bpf_device, trace_backend_failure_keeps_running, .init = need_root, .fini = teardown,
     .timeout = 60)
{
	const char *run1[] = { "run", "--backend", NULL, "--name", "d4", "--run-dir", NULL,
			       "--timeout", "20s",
			       "--duration", "3s", "--trace-backend=uprobe", NULL };
	const char *run2[] = { "run", "--backend", NULL, "--name", "d5", "--run-dir", NULL,
			       "--timeout", "20s",
			       "--duration", "2s", NULL };
	char sock[128], tb[PATH_MAX], tblog[128];
	const char *err;
	json_t *s, *b;
	struct stat st;
	int rc;

	snprintf(F.tmpdir, sizeof(F.tmpdir), "/tmp/vhmbpf.XXXXXX");
	cr_assert(ne(ptr, mkdtemp(F.tmpdir), NULL));
	snprintf(sock, sizeof(sock), "%s/tb.sock", F.tmpdir);
	snprintf(tb, sizeof(tb), "%s-testbe", vhm_path());
	snprintf(tblog, sizeof(tblog), "%s/tb.log", F.tmpdir);
	F.vhm[1] = fork();
	cr_assert(ge(int, F.vhm[1], 0));
	if (F.vhm[1] == 0) {
		int fd = open(tblog, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execl(tb, tb, "--socket", sock, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250 && stat(sock, &st); i++)
		usleep(20000);
	cr_assert(eq(int, stat(sock, &st), 0), "vhm-testbe made no socket; see %s", tblog);

	run1[2] = run2[2] = sock;
	run1[6] = run2[6] = F.tmpdir;
	spawn_vhm(0, run1, "d4.log", false, NULL);
	wait_ctl_socket("d4");
	s = status_bpf_loaded("d4", 30000);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(s, "state")), "running"));
	b = json_object_get(s, "bpf");
	err = json_string_value(json_object_get(b, "error"));
	cr_assert(ne(ptr, (void *)err, NULL), "no bpf.error: %s", out_buf);
	cr_log_info("bpf.error: %s", err);
	cr_assert(ne(ptr, strstr(err, "librte_vhost"), NULL), "error does not say why: %s", err);
	cr_assert(eq(ptr, strchr(err, '\n'), NULL), "error is more than one line");
	json_decref(s);
	rc = wait_vhm(0, 20000);
	cr_assert(eq(int, rc, 0), "a device that could not trace exited %d", rc);
	cr_assert(eq(int, count_lines_in("d4.log", "not tracing the backend", NULL), 1));

	spawn_vhm(0, run2, "d5.log", false, NULL);
	wait_ctl_socket("d5");
	s = device_status("d5");
	cr_assert(eq(ptr, json_object_get(s, "bpf"), NULL), "bpf without --trace-backend");
	json_decref(s);
	cr_assert(eq(int, wait_vhm(0, 20000), 0));
}
