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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "vbpf.h"

#define TESTPMD "/usr/bin/dpdk-testpmd"

/* What a test started; .fini ends all of it, pass or fail. */
static struct {
	pid_t worker;
	int go_w, done_r;
	struct vbpf *v;
	pid_t testpmd;
	char tmpdir[64];
	char prefix[32];
} F = { .worker = -1, .go_w = -1, .done_r = -1, .testpmd = -1 };

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
	F.v = NULL;
	kill_wait(&F.worker, SIGKILL, 1000);
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
	cr_assert(gt(sz, (size_t)(n > 0 ? n : 0), 0));
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

static void start_testpmd(void)
{
	char sock[128], log[128], vdev[192], prefix_arg[64];
	struct stat st;
	pid_t pid;

	snprintf(F.tmpdir, sizeof(F.tmpdir), "/tmp/vhmbpf.XXXXXX");
	cr_assert(ne(ptr, mkdtemp(F.tmpdir), NULL));
	snprintf(F.prefix, sizeof(F.prefix), "vhmbpf%d", (int)getpid());
	snprintf(sock, sizeof(sock), "%s/s.sock", F.tmpdir);
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
		 * exits with its usage text. Both lcores on CPU 0. */
		execl(TESTPMD, TESTPMD, "--lcores=0@0,1@0", "--no-huge", "-m", "1024",
		      "--no-pci", prefix_arg, "--vdev", vdev, "--", "--auto-start",
		      "--forward-mode=io", "--nb-cores=1", "--total-num-mbufs=4096",
		      "--stats-period=1", (char *)NULL);
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
	start_testpmd();
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
	char *cases[][6] = {
		{ "vhm", "trace", "--bogus", NULL },
		{ "vhm", "trace", NULL },
		{ "vhm", "trace", "--pid", "abc", NULL },
		{ "vhm", "trace", "--pid", pidbuf, "--interval", NULL },
		{ "vhm", "trace", "--pid", pidbuf, "--probe", "nope" },
		{ "vhm", "trace", "--pid", "2147483646", NULL },
	};

	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
	for (size_t i = 0; i < VHM_ARRAY_SIZE(cases); i++) {
		char *argv[8] = { 0 };
		int rc;

		for (int j = 0; j < 6 && cases[i][j]; j++)
			argv[j] = cases[i][j];
		rc = run_vhm(argv + 0, 0, out_buf, sizeof(out_buf), err_buf, sizeof(err_buf));
		cr_assert(eq(int, rc, VHM_EXIT_USAGE), "case %zu (%s %s): exit %d, stderr: %s", i,
			  argv[2] ? argv[2] : "", argv[3] ? argv[3] : "", rc, err_buf);
		cr_assert(eq(int, strncmp(err_buf, "vhm trace: ", 11), 0), "stderr: %s", err_buf);
	}
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
	int rc, intervals = 0, attach = 0;
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
	cr_assert(ge(int, intervals, 2), "%d interval lines in 2 s", intervals);
	cr_assert(gt(i64, (int64_t)kicks, 0), "a worker kicking every 10 ms showed no kicks");
}
