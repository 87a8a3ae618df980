/* SPDX-License-Identifier: MIT */
/* support — what integration tests share (prefix ts_): a private temp dir
 * per test, child processes (vhm-testbe, dpdk-testpmd, any command) that are
 * always killed, waiting for a socket with a deadline, running a command with
 * a timeout while capturing its output, and counting this process's open fds.
 *
 * Children are registered in a per-process list; ts_cleanup() (call it from
 * every fixture's .fini) kills them all and removes the temp dir. Children
 * also die with the test process (PR_SET_PDEATHSIG), so a crashed or timed
 * out test leaves nothing behind either. */
#ifndef VHM_TEST_SUPPORT_H
#define VHM_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TS_PATH_MAX 108   /* fits a sockaddr_un */

/* Where the binaries under test are: $VHM_BUILD, else "build". */
const char *ts_build_dir(void);
/* "<build>/<name>" into out. */
void ts_bin(const char *name, char *out, size_t len);

/* This test's temp dir (created on first use, removed by ts_cleanup). */
const char *ts_dir(void);
/* "<ts_dir>/<name>" into out; -ENAMETOOLONG if it does not fit a socket path. */
int ts_path(const char *name, char *out, size_t len);

/* Start argv[0] with stdout and stderr to `log` (NULL: /dev/null). The pid,
 * or -errno. The child is registered for ts_cleanup. */
pid_t ts_spawn(const char *const argv[], const char *log);
/* SIGTERM, up to 2 s grace, then SIGKILL; reaps. Returns the wait status or -1. */
int ts_kill(pid_t pid);
/* Has the child exited? If so its wait status goes to *status and it is reaped. */
bool ts_exited(pid_t pid, int *status);
/* Remove path and everything under it (a DPDK run dir, the temp dir). */
void ts_rm_tree(const char *path);
/* Kill every registered child and remove the temp dir. */
void ts_cleanup(void);

/* Wait until `path` is a socket, up to timeout_ms. 0 or -ETIMEDOUT. */
int ts_wait_socket(const char *path, int timeout_ms);

/* vhm-testbe serving on `sock` with extra options (NULL-terminated, may be
 * NULL); its stderr goes to <sock>.log. Waits for the socket. pid or -errno. */
pid_t ts_testbe_start(const char *sock, const char *const extra[]);

/* dpdk-testpmd serving `queues` queue pairs on a socket in ts_dir(). Its path
 * goes to sock. pid, or with a reason: -ENOENT when dpdk-testpmd is not
 * installed (the one case callers skip for), -EIO when it is but did not
 * start (a failure: dt_testpmd_or_skip() tells them apart). */
pid_t ts_testpmd_start(int queues, char *sock, size_t socklen, char *reason, size_t reasonlen);
/* The same with socket <ts_dir>/<name>.sock, log <ts_dir>/<name>.log and a
 * file prefix of its own, so a test can run several (up to 4). */
pid_t ts_testpmd_start_named(const char *name, int queues, char *sock, size_t socklen,
			     char *reason, size_t reasonlen);
/* ts_testpmd_start_named, or with client: testpmd connects to sock
 * (client=1, reconnecting every second until someone listens there), its
 * vhost library logging at vhost_log and its lcores on CPU cpu
 * (ts_testpmd_start_in). Either returns once testpmd forwards (its log says
 * so): it flushes its queues when forwarding starts, dropping what a
 * frontend queued before. */
pid_t ts_testpmd_start_mode(const char *name, int queues, bool client, const char *vhost_log,
			    int cpu, char *sock, size_t socklen, char *reason, size_t reasonlen);
/* ts_testpmd_start_mode with the socket at a path of the caller's (a
 * second testpmd on the socket of a first one, or on one vhm listens at);
 * its log is still <ts_dir>/<name>.log, its file prefix its own. */
pid_t ts_testpmd_start_at(const char *name, int queues, bool client, const char *sock,
			  char *reason, size_t reasonlen);
/* ts_testpmd_start_at run in network namespace ns (a "host" of its own; NULL:
 * this one), its vhost library logging its configuration at level vhost_log
 * (DPDK's names: "notice" leaves out the lines "info" writes for every
 * vhost-user request, to stdout and syslog; NULL: "info", testpmd's default),
 * both its lcores (main and forwarding) pinned to CPU cpu (the others start
 * theirs on CPU 0; DPDK puts its control threads, vhost-events among them,
 * on the CPUs no lcore has). */
pid_t ts_testpmd_start_in(const char *ns, const char *vhost_log, int cpu, const char *name,
			  int queues, bool client, const char *sock, char *reason, size_t reasonlen);
/* Stop testpmd pid and free its slot (4 run at a time) and
 * its runtime directory; any other child pid is only stopped. */
void ts_testpmd_stop(pid_t pid);
/* Call fn(pid, tid, arg) for every thread of process pid (the entries of
 * /proc/<pid>/task). 0, or -errno when that list could not be read. */
int ts_for_threads(pid_t pid, void (*fn)(pid_t pid, const char *tid, void *arg), void *arg);
/* Set the nice value of every thread of process pid named comm (its
 * /proc/<pid>/task/<tid>/comm), as renice(1) would: how many there were, or
 * -errno (-ESRCH: none; the first refusal otherwise). */
int ts_thread_nice(pid_t pid, const char *comm, int nice);
/* Put every thread of process pid named comm on CPU cpu alone, as
 * taskset(1) would: how many there were, or -errno as ts_thread_nice. */
int ts_thread_pin(pid_t pid, const char *comm, int cpu);
/* The last "<key> N" (key: "RX-packets:", ...) testpmd `name` printed to its
 * log, <ts_dir>/<name>.log (every second with its --stats-period, and once
 * more when it stops); -1 when there is none. */
long long ts_testpmd_counter(const char *name, const char *key);
/* Whether prog is an executable in a folder of $PATH (the benches tell "not
 * installed" from "failed to start"). */
bool ts_on_path(const char *prog);

/* A command's outcome. */
struct ts_run {
	int status;          /* exit status, or 128 + signal */
	bool timed_out;      /* killed at the timeout */
	char *out, *err;     /* NUL-terminated captured output (free with ts_run_free) */
	int elapsed_ms;
};
/* Run argv to completion (or kill it at timeout_ms). 0, or -errno if it could
 * not be started. */
int ts_run_cmd(const char *const argv[], int timeout_ms, struct ts_run *r);
void ts_run_free(struct ts_run *r);
/* Lines in s (a trailing line without '\n' counts). */
int ts_count_lines(const char *s);

/* Open fds of this process (/proc/self/fd), or -1. */
int ts_count_fds(void);

/* Milliseconds on the monotonic clock. */
long ts_now_ms(void);

/* tmux, on a server of this test process's own (-L vhmt-PID, killed by
 * ts_cleanup). Is tmux installed? */
bool ts_have_tmux(void);
/* tmux -L LABEL args... (NULL-terminated, at most 12); its stdout (malloc'd,
 * caller frees) or NULL if it failed. */
char *ts_tmux(const char *a0, ...) __attribute__((sentinel));

/* Run a command line through the shell, quietly; its exit status, or -1. */
int ts_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Run fn with this thread in network namespace ns (/run/netns/NS); fn's
 * result, or -errno. A socket fn creates stays in ns. */
int ts_in_netns(const char *ns, int (*fn)(void *), void *arg);
/* Two network namespaces, a and b (two "hosts"), joined by a veth pair:
 * if_a in a with ip_a/24, if_b in b with ip_b/24, both up (and each
 * namespace's lo, so a host reaches its own address). 0; 1 when this
 * machine cannot make namespaces (*why says so: the caller skips); -1 when a
 * later step failed. ts_netns_pair_del removes both (and the pair). */
int ts_netns_pair(const char *a, const char *b, const char *if_a, const char *if_b,
		  const char *ip_a, const char *ip_b, const char **why);
void ts_netns_pair_del(const char *a, const char *b);
/* Packet loss on the link, at ifname's end in namespace ns: iptables drops
 * each packet coming in on it at random with probability p (0..1; `-m
 * statistic --mode random`), as a lossy wire would (the sender does not
 * know: TCP retransmits); packets go out on ifname one frame each
 * (gso_max_segs 1). Both ends of a link: a call for each. 0; 1 when
 * iptables cannot (*why says so: the caller skips); -1 when the interface
 * refused. The rule goes with the namespace. */
int ts_netns_loss(const char *ns, const char *ifname, double p, const char **why);
/* Packets those rules dropped in ns so far, or -1. */
long long ts_netns_dropped(const char *ns);
/* A TCP counter of namespace ns ("RetransSegs", "OutSegs": /proc/net/snmp's
 * Tcp line), or -1. */
long long ts_netns_tcp_stat(const char *ns, const char *key);

#endif
