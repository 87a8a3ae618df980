/* SPDX-License-Identifier: MIT */
/* Test and bench support: a temp dir per test, children that always die
 * (registered, PDEATHSIG), sockets waited for under a deadline, commands run
 * with a timeout and their output captured, fd counts. */
#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TS_MAX_CHILDREN 16
#define TS_KILL_GRACE_MS 2000

static pid_t children[TS_MAX_CHILDREN];
static char tmpdir[TS_PATH_MAX];
#define TS_MAX_TESTPMD 4
static char testpmd_prefix[TS_MAX_TESTPMD][64];
static pid_t testpmd_pid[TS_MAX_TESTPMD];   /* the instance using each prefix */

long ts_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

const char *ts_build_dir(void)
{
	const char *b = getenv("VHM_BUILD");

	return b && *b ? b : "build";
}

void ts_bin(const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", ts_build_dir(), name);
}

const char *ts_dir(void)
{
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/vhm-t-XXXXXX");
		if (!mkdtemp(tmpdir))
			tmpdir[0] = '\0';
	}
	return tmpdir;
}

int ts_path(const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", ts_dir(), name);

	return n < 0 || (size_t)n >= len || n >= TS_PATH_MAX ? -ENAMETOOLONG : 0;
}

static void child_add(pid_t pid)
{
	for (int i = 0; i < TS_MAX_CHILDREN; i++) {
		if (children[i] <= 0) {
			children[i] = pid;
			return;
		}
	}
}

static void child_forget(pid_t pid)
{
	for (int i = 0; i < TS_MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
}

/* In the child: die with the parent, output to fd, exec. Never returns. */
static void __attribute__((noreturn)) exec_child(const char *const argv[], int out, int err)
{
	int devnull = open("/dev/null", O_RDONLY);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (devnull >= 0)
		dup2(devnull, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	execvp(argv[0], (char *const *)argv);
	dprintf(err, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

pid_t ts_spawn(const char *const argv[], const char *log)
{
	int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	pid_t pid;

	if (fd < 0)
		return -errno;
	pid = fork();
	if (pid == 0)
		exec_child(argv, fd, fd);
	close(fd);
	if (pid < 0)
		return -errno;
	child_add(pid);
	return pid;
}

bool ts_exited(pid_t pid, int *status)
{
	int st;

	if (waitpid(pid, &st, WNOHANG) != pid)
		return false;
	child_forget(pid);
	if (status)
		*status = st;
	return true;
}

int ts_kill(pid_t pid)
{
	long deadline = ts_now_ms() + TS_KILL_GRACE_MS;
	int st;

	if (pid <= 0)
		return -1;
	if (ts_exited(pid, &st))
		return st;
	kill(pid, SIGTERM);
	while (ts_now_ms() < deadline) {
		if (ts_exited(pid, &st))
			return st;
		usleep(5000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	child_forget(pid);
	return st;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

void ts_rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- tmux ---- */

static char tmux_label[32];

bool ts_have_tmux(void)
{
	const char *argv[] = { "tmux", "-V", NULL };
	struct ts_run r;
	bool ok = ts_run_cmd(argv, 5000, &r) == 0 && r.status == 0;

	if (ok || r.out)
		ts_run_free(&r);
	return ok;
}

/* What argv printed on stdout (malloc'd), or NULL if it failed to run or
 * exited non-zero (10 s at most). */
static char *run_output(const char *const argv[])
{
	struct ts_run r;
	char *out = NULL;

	if (ts_run_cmd(argv, 10000, &r))
		return NULL;
	if (r.status == 0)
		out = strdup(r.out);
	ts_run_free(&r);
	return out;
}

char *ts_tmux(const char *a0, ...)
{
	const char *argv[16] = { "tmux", "-L", tmux_label, a0 };
	va_list ap;
	int n = 4;

	if (!tmux_label[0])
		snprintf(tmux_label, sizeof(tmux_label), "vhmt-%d", (int)getpid());
	va_start(ap, a0);
	while (n < 15 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	return run_output(argv);
}

/* Kill this process's tmux server and remove its socket file, which a
 * killed server leaves behind in /tmp/tmux-UID. */
static void tmux_kill(void)
{
	const char *argv[] = { "tmux", "-L", tmux_label, "kill-server", NULL };
	char *sock;
	struct ts_run r;

	if (!tmux_label[0])
		return;
	sock = ts_tmux("display-message", "-p", "#{socket_path}", NULL);
	if (ts_run_cmd(argv, 5000, &r) == 0)
		ts_run_free(&r);
	if (sock && strtok(sock, "\n") && strstr(sock, tmux_label))
		unlink(sock);
	free(sock);
	tmux_label[0] = '\0';
}

/* Testpmd slot i free again, its runtime directory removed (its process
 * stopped already). */
static void testpmd_release(int i)
{
	char run[128];

	if (!testpmd_prefix[i][0])
		return;
	snprintf(run, sizeof(run), "/var/run/dpdk/%s", testpmd_prefix[i]);
	ts_rm_tree(run);
	testpmd_prefix[i][0] = '\0';
	testpmd_pid[i] = 0;
}

/* The slot of testpmd pid (stopped) released. */
static void testpmd_forget(pid_t pid)
{
	for (int i = 0; pid > 0 && i < TS_MAX_TESTPMD; i++)
		if (testpmd_pid[i] == pid)
			testpmd_release(i);
}

void ts_cleanup(void)
{
	tmux_kill();
	for (int i = 0; i < TS_MAX_CHILDREN; i++)
		if (children[i] > 0)
			ts_kill(children[i]);
	for (int i = 0; i < TS_MAX_TESTPMD; i++)
		testpmd_release(i);
	/* VHM_TEST_KEEP=1 keeps each test's directory (logs, sockets) to read after a failure */
	if (tmpdir[0] && !getenv("VHM_TEST_KEEP"))
		ts_rm_tree(tmpdir);
	else if (tmpdir[0])
		fprintf(stderr, "kept %s\n", tmpdir);
	tmpdir[0] = '\0';
}

int ts_wait_socket(const char *path, int timeout_ms)
{
	long deadline = ts_now_ms() + timeout_ms;
	struct stat st;

	for (;;) {
		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		if (ts_now_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(5000);
	}
}

pid_t ts_testbe_start(const char *sock, const char *const extra[])
{
	const char *argv[32];
	char bin[256], log[TS_PATH_MAX + 8];
	int n = 0, rc;
	pid_t pid;

	ts_bin("vhm-testbe", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s.log", sock);
	argv[n++] = bin;
	argv[n++] = "--socket";
	argv[n++] = sock;
	for (int i = 0; extra && extra[i] && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	pid = ts_spawn(argv, log);
	if (pid < 0)
		return pid;
	if (extra)
		for (int i = 0; extra[i]; i++)
			if (!strcmp(extra[i], "--client"))
				return pid;   /* it connects to us: no socket of its own */
	if ((rc = ts_wait_socket(sock, 5000))) {
		ts_kill(pid);
		return rc;
	}
	return pid;
}

/* Is prog on PATH? */
bool ts_on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path ? path : "/usr/bin:/bin");
	for (char *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char full[4200];

		snprintf(full, sizeof(full), "%s/%s", d, prog);
		if (access(full, X_OK) == 0)
			return true;
	}
	return false;
}

pid_t ts_testpmd_start(int queues, char *sock, size_t socklen, char *reason, size_t reasonlen)
{
	return ts_testpmd_start_named("testpmd", queues, sock, socklen, reason, reasonlen);
}

pid_t ts_testpmd_start_named(const char *name, int queues, char *sock, size_t socklen,
			     char *reason, size_t reasonlen)
{
	return ts_testpmd_start_mode(name, queues, false, NULL, 0, sock, socklen, reason,
				     reasonlen);
}

/* Does the file at path hold the text what? */
static bool file_has(const char *path, const char *what)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

/* testpmd forwards: its log says so. Before that, on --auto-start, it
 * flushes its RX queues (flush_fwd_rx_queues): frames a frontend had queued
 * in the meantime are dropped, up to a whole window of the built-in guest. */
/* How long a testpmd may take to start (EAL, its mbuf pool, then the
 * forwarding); a loaded machine has taken more than 15 s. */
#define TESTPMD_START_MS 30000

/* The last non-empty line of the file at path, into buf ("" if none). */
static void last_line(const char *path, char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (line[0] != '\n')
			snprintf(buf, len, "%.*s", (int)strcspn(line, "\n"), line);
	fclose(f);
}

/* A testpmd that did not come up: killed, and the reason says what it did
 * last (its log goes with the test's directory). */
static int testpmd_failed(pid_t pid, const char *what, const char *log, char *reason,
			  size_t reasonlen)
{
	char last[256];
	int st = ts_kill(pid);

	testpmd_forget(pid);
	last_line(log, last, sizeof(last));
	snprintf(reason, reasonlen, "dpdk-testpmd %s in %d s (status %d; its last line: \"%s\")",
		 what, TESTPMD_START_MS / 1000, st, last);
	return -EIO;
}

static int testpmd_wait_forwarding(const char *log, int timeout_ms)
{
	long deadline = ts_now_ms() + timeout_ms;

	while (!file_has(log, "packet forwarding - ports=")) {
		if (ts_now_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(10000);
	}
	return 0;
}

pid_t ts_testpmd_start_mode(const char *name, int queues, bool client, const char *vhost_log,
			    int cpu, char *sock, size_t socklen, char *reason, size_t reasonlen)
{
	char sockname[64];

	snprintf(sockname, sizeof(sockname), "%s.sock", name);
	if (ts_path(sockname, sock, socklen)) {
		snprintf(reason, reasonlen, "socket path too long");
		return -EIO;
	}
	return ts_testpmd_start_in(NULL, vhost_log, cpu, name, queues, client, sock, reason,
				   reasonlen);
}

pid_t ts_testpmd_start_at(const char *name, int queues, bool client, const char *sock,
			  char *reason, size_t reasonlen)
{
	return ts_testpmd_start_in(NULL, NULL, 0, name, queues, client, sock, reason, reasonlen);
}

pid_t ts_testpmd_start_in(const char *ns, const char *vhost_log, int cpu, const char *name,
			  int queues, bool client, const char *sock, char *reason, size_t reasonlen)
{
	char *pfx;
	int slot;
	char vdev[256], prefix[80], log[TS_PATH_MAX + 8], rxq[32], txq[32], level[64], lcores[48];
	/* -m 256: its 8192 mbufs take 18 MB; EAL touches all of -m while it
	 * starts, on CPU 0 beside every busy-polling testpmd: 1024 MB took
	 * 7.8 s to start under load where 256 MB took 2.9 s */
	const char *all[] = {
		"ip", "netns", "exec", ns,
		"dpdk-testpmd", lcores, "--no-huge", "-m", "256", "--no-pci",
		prefix, level, "--vdev", vdev, "--", "--auto-start", "--forward-mode=io",
		"--nb-cores=1", "--total-num-mbufs=8192", "--stats-period=1", rxq, txq, NULL,
	};
	const char *const *argv = ns ? all : all + 4;   /* in namespace ns, or here */
	pid_t pid;

	if (!ts_on_path("dpdk-testpmd")) {
		snprintf(reason, reasonlen, "dpdk-testpmd not installed (Debian package dpdk-dev)");
		return -ENOENT;
	}
	for (slot = 0; slot < TS_MAX_TESTPMD && testpmd_prefix[slot][0]; slot++)
		;
	if (slot == TS_MAX_TESTPMD) {
		snprintf(reason, reasonlen, "more than %d testpmd instances", TS_MAX_TESTPMD);
		return -EIO;
	}
	pfx = testpmd_prefix[slot];
	/* one file prefix per instance: "vhmt<pid>" for the first, as before */
	if (slot == 0)
		snprintf(pfx, sizeof(testpmd_prefix[0]), "vhmt%d", (int)getpid());
	else
		snprintf(pfx, sizeof(testpmd_prefix[0]), "vhmt%d-%d", (int)getpid(), slot);
	snprintf(prefix, sizeof(prefix), "--file-prefix=%s", pfx);
	snprintf(lcores, sizeof(lcores), "--lcores=0@%d,1@%d", cpu, cpu);
	snprintf(level, sizeof(level), "--log-level=lib.vhost.config:%s",
		 vhost_log ? vhost_log : "info");
	snprintf(vdev, sizeof(vdev), "net_vhost0,iface=%s,queues=%d%s", sock, queues,
		 client ? ",client=1" : "");
	/* testpmd forwards each of its queues to the same queue of the port */
	snprintf(rxq, sizeof(rxq), "--rxq=%d", queues);
	snprintf(txq, sizeof(txq), "--txq=%d", queues);
	snprintf(log, sizeof(log), "%s/%s.log", ts_dir(), name);
	pid = ts_spawn(argv, log);
	if (pid < 0) {
		snprintf(reason, reasonlen, "cannot start dpdk-testpmd: %s", strerror((int)-pid));
		testpmd_release(slot);
		return -EIO;
	}
	testpmd_pid[slot] = pid;
	/* a client connects (and reconnects) to sock: no socket to wait for */
	if (!client && ts_wait_socket(sock, TESTPMD_START_MS))
		return testpmd_failed(pid, "made no socket", log, reason, reasonlen);
	if (testpmd_wait_forwarding(log, TESTPMD_START_MS))
		return testpmd_failed(pid, "did not start forwarding", log, reason, reasonlen);
	return pid;
}

void ts_testpmd_stop(pid_t pid)
{
	ts_kill(pid);
	testpmd_forget(pid);
}

/* Whether thread tid of pid is named comm. */
static bool thread_named(pid_t pid, const char *tid, const char *comm)
{
	char path[80], name[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(name, sizeof(name), f))
		name[0] = '\0';
	fclose(f);
	name[strcspn(name, "\n")] = '\0';
	return !strcmp(name, comm);
}

int ts_for_threads(pid_t pid, void (*fn)(pid_t pid, const char *tid, void *arg), void *arg)
{
	char path[48];
	struct dirent *e;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(dir = opendir(path)))
		return -errno;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			fn(pid, e->d_name, arg);
	closedir(dir);
	return 0;
}

/* A walk over the threads of a process named comm, doing apply(tid, how)
 * to each. */
struct named_walk {
	const char *comm;
	int (*apply)(pid_t tid, const void *how);   /* 0, or -1 with errno */
	const void *how;
	int n;                     /* threads named comm */
	int rc;                    /* the first refusal, or 0 */
};

static void apply_named(pid_t pid, const char *tid, void *arg)
{
	struct named_walk *w = arg;

	if (!thread_named(pid, tid, w->comm))
		return;
	if (w->apply((pid_t)atoi(tid), w->how) && !w->rc)
		w->rc = -errno;
	w->n++;
}

/* How many threads of pid are named comm (apply done to each), or -errno
 * (-ESRCH: none; the first refusal otherwise). */
static int for_named(pid_t pid, const char *comm, int (*apply)(pid_t tid, const void *how),
		     const void *how)
{
	struct named_walk w = { comm, apply, how, 0, 0 };
	int rc = ts_for_threads(pid, apply_named, &w);

	if (rc || w.rc)
		return rc ? rc : w.rc;
	return w.n ? w.n : -ESRCH;
}

static int set_nice(pid_t tid, const void *how)
{
	return setpriority(PRIO_PROCESS, (id_t)tid, *(const int *)how);
}

static int set_cpus(pid_t tid, const void *how)
{
	return sched_setaffinity(tid, sizeof(cpu_set_t), how);
}

int ts_thread_nice(pid_t pid, const char *comm, int nice)
{
	return for_named(pid, comm, set_nice, &nice);
}

int ts_thread_pin(pid_t pid, const char *comm, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return for_named(pid, comm, set_cpus, &set);
}

long long ts_testpmd_counter(const char *name, const char *key)
{
	char path[TS_PATH_MAX + 16], line[512];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.log", ts_dir(), name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, key);

		if (p)
			v = atoll(p + strlen(key));
	}
	fclose(f);
	return v;
}

/* Append what is readable on fd to *buf. false at EOF. */
static bool drain(int fd, char **buf, size_t *len)
{
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	char *nb;

	if (n <= 0)
		return n < 0 && (errno == EINTR || errno == EAGAIN);
	nb = realloc(*buf, *len + (size_t)n + 1);
	if (!nb)
		return false;
	memcpy(nb + *len, chunk, (size_t)n);
	*len += (size_t)n;
	nb[*len] = '\0';
	*buf = nb;
	return true;
}

int ts_run_cmd(const char *const argv[], int timeout_ms, struct ts_run *r)
{
	long start = ts_now_ms(), deadline = start + timeout_ms;
	int po[2], pe[2], st = 0;
	size_t lo = 0, le = 0;
	bool open_o = true, open_e = true;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (pipe2(po, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]), close(po[1]);
		return -errno;
	}
	pid = fork();
	if (pid == 0)
		exec_child(argv, po[1], pe[1]);
	close(po[1]);
	close(pe[1]);
	if (pid < 0) {
		close(po[0]), close(pe[0]);
		return -errno;
	}
	child_add(pid);
	while (open_o || open_e) {
		struct pollfd p[2] = { { .fd = open_o ? po[0] : -1, .events = POLLIN },
				       { .fd = open_e ? pe[0] : -1, .events = POLLIN } };
		long left = deadline - ts_now_ms();

		if (left <= 0) {
			r->timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		if (poll(p, 2, (int)left) <= 0)
			continue;
		if (p[0].revents)
			open_o = drain(po[0], &r->out, &lo);
		if (p[1].revents)
			open_e = drain(pe[0], &r->err, &le);
	}
	close(po[0]);
	close(pe[0]);
	waitpid(pid, &st, 0);
	child_forget(pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->elapsed_ms = (int)(ts_now_ms() - start);
	if (!r->out)
		r->out = strdup("");
	if (!r->err)
		r->err = strdup("");
	return 0;
}

void ts_run_free(struct ts_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

int ts_count_lines(const char *s)
{
	int n = 0;

	for (; s && *s; s++)
		if (*s == '\n' || s[1] == '\0')
			n++;
	return n;
}

int ts_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;   /* the directory's own fd */
}

/* Run a command line quietly; its exit status, or -1. */
int ts_sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int n, st;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd) - 20, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd) - 20)
		return -1;
	strcat(cmd, " >/dev/null 2>&1");
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run fn with this thread in namespace ns; fn's result, or -errno. */
int ts_in_netns(const char *ns, int (*fn)(void *), void *arg)
{
	char path[PATH_MAX];
	int self, target, rc;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || target < 0 || setns(target, CLONE_NEWNET) < 0) {
		rc = -errno;
		goto out;
	}
	rc = fn(arg);
	if (setns(self, CLONE_NEWNET) < 0)
		abort(); /* the rest of the test would run in the wrong namespace */
out:
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	return rc;
}

int ts_netns_pair(const char *a, const char *b, const char *if_a, const char *if_b,
		  const char *ip_a, const char *ip_b, const char **why)
{
	if (ts_sh("ip netns add %s", a)) {
		*why = "cannot create network namespaces here ('ip netns add' failed: needs root "
		       "or CAP_SYS_ADMIN)";
		return 1;
	}
	if (ts_sh("ip netns add %s", b) ||
	    ts_sh("ip link add %s netns %s type veth peer name %s netns %s", if_a, a, if_b, b) ||
	    ts_sh("ip -n %s addr add %s/24 dev %s", a, ip_a, if_a) ||
	    ts_sh("ip -n %s addr add %s/24 dev %s", b, ip_b, if_b) ||
	    ts_sh("ip -n %s link set %s up", a, if_a) || ts_sh("ip -n %s link set %s up", b, if_b) ||
	    ts_sh("ip -n %s link set lo up", a) || ts_sh("ip -n %s link set lo up", b))
		return -1;   /* lo: a host reaches its own address (a relay in it) */
	return 0;
}

void ts_netns_pair_del(const char *a, const char *b)
{
	ts_sh("ip netns del %s", a);
	ts_sh("ip netns del %s", b);
}

int ts_netns_loss(const char *ns, const char *ifname, double p, const char **why)
{
	if (!ts_on_path("iptables")) {
		*why = "iptables is not installed (Debian package iptables)";
		return 1;
	}
	/* one frame a packet, as on a wire: no 64 KiB GSO packet lost at once */
	if (ts_sh("ip -n %s link set %s gso_max_segs 1", ns, ifname))
		return -1;
	/* on the way in: dropped on the way out, a packet fails its sender's
	 * send (EPERM), which TCP takes for local congestion, not for loss */
	if (ts_sh("ip netns exec %s iptables -w -A INPUT -i %s -m statistic --mode random "
		  "--probability %.4f -j DROP", ns, ifname, p)) {
		*why = "iptables refuses '-m statistic --mode random -j DROP' here (no "
		       "xt_statistic in this kernel?)";
		return 1;
	}
	return 0;
}

/* Output of `ip netns exec ns argv...` (malloc'd), or NULL if it failed. */
static char *netns_output(const char *ns, const char *a0, const char *a1, const char *a2)
{
	const char *argv[] = { "ip", "netns", "exec", ns, a0, a1, a2, NULL };

	return run_output(argv);
}

long long ts_netns_dropped(const char *ns)
{
	char *out = netns_output(ns, "iptables", "-w", "-nvxL"), *save = NULL;
	long long n = 0;

	if (!out)
		return -1;
	for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (strstr(l, " DROP ") && strstr(l, "statistic mode random"))
			n += atoll(l);
	free(out);
	return n;
}

long long ts_netns_tcp_stat(const char *ns, const char *key)
{
	char *out = netns_output(ns, "cat", "/proc/net/snmp", NULL), *names, *vals;
	char *sn = NULL, *sv = NULL;
	long long v = -1;

	if (!out)
		return -1;
	/* "Tcp: Name1 Name2 ...\nTcp: v1 v2 ...": the key's column */
	names = strstr(out, "\nTcp: ");
	vals = names ? strstr(names + 1, "\nTcp: ") : NULL;
	if (vals) {
		*vals++ = '\0';
		vals[strcspn(vals, "\n")] = '\0';
		for (char *k = strtok_r(names + 1, " \n", &sn), *x = strtok_r(vals, " ", &sv);
		     k && x; k = strtok_r(NULL, " \n", &sn), x = strtok_r(NULL, " ", &sv))
			if (!strcmp(k, key))
				v = atoll(x);
	}
	free(out);
	return v;
}
