/* SPDX-License-Identifier: MIT */
/* util — small helpers every vhm module shares: strict number parsing (no
 * "abc" read as 0), sizes and durations with units, MAC addresses, the
 * monotonic clock, and the run directory where control sockets live. */
#ifndef VHM_UTIL_H
#define VHM_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#define VHM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Exit statuses shared by all commands. */
enum {
	VHM_EXIT_OK = 0,
	VHM_EXIT_FAIL = 1,      /* ran, but the answer is "no" (e.g. not migratable) */
	VHM_EXIT_USAGE = 2,     /* bad command line */
	VHM_EXIT_PEER = 3,      /* connection or protocol error */
	VHM_EXIT_UNKNOWN = 4,   /* the outcome is not known (vhm migrate --to tcp: past
				 * its commit point with no word from the destination) */
};

/* Whole decimal number ("08" is 8: never octal, never hex), no sign, no
 * trailing junk. 0 or -EINVAL/-ERANGE. Every count on vhm's command lines. */
int vhm_parse_u64(const char *s, uint64_t *out);
/* An address: 0x hex, or decimal as vhm_parse_u64. */
int vhm_parse_addr(const char *s, uint64_t *out);
/* Bytes with an optional binary suffix: K, M, G, T (also KiB, MiB, ...). */
int vhm_parse_size(const char *s, uint64_t *bytes);
/* The one duration syntax of every vhm command: a decimal number (fractions
 * allowed) with a unit "ms", "s", "m" or "h"; a bare number is seconds.
 * Result in ms, rounded. Flags whose name carries a unit (--downtime-ms,
 * --poll-ms) take a plain number instead. */
int vhm_parse_duration_ms(const char *s, uint64_t *ms);
/* Rate in bytes/s: a size with an optional "/s" ("1G", "500M/s"). */
int vhm_parse_rate(const char *s, uint64_t *bytes_per_s);
/* Bytes for people, in IEC units: "512 B", "12.0 KiB", "256.0 MiB",
 * "1.50 GiB" (the units the size flags take). out gets at most len bytes. */
void vhm_format_bytes(double bytes, char *out, size_t len);
/* "aa:bb:cc:dd:ee:ff" (':' or '-'). */
int vhm_parse_mac(const char *s, uint8_t mac[6]);
void vhm_format_mac(const uint8_t mac[6], char out[18]);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t vhm_now_ns(void);

/* xorshift64: the next of a cheap, reproducible sequence kept in *state
 * (never 0: a 0 state stays 0). For test patterns, not for secrets; inline,
 * as the guest writer draws one per page write. */
static inline uint64_t vhm_xorshift64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

/* Where control sockets live: --run-dir, else $VHM_RUN_DIR, else /run/vhm. */
const char *vhm_run_dir(const char *override);
/* "<dir>/<name>.sock"; -ENAMETOOLONG if it does not fit a sockaddr_un. */
int vhm_sock_path(const char *dir, const char *name, char *out, size_t outlen);
/* Do paths a and b name the same entry: the same last component in the
 * same directory (directories compared by device and inode where both
 * exist, else as written)? Neither needs to exist. */
bool vhm_same_path(const char *a, const char *b);
/* Fill a sockaddr_un; refuse (-ENAMETOOLONG) rather than truncate. */
struct sockaddr_un;
int vhm_sockaddr_un(struct sockaddr_un *sa, const char *path);

/* The one-line error message of a call that reports into a caller's buffer:
 * formats into err (errlen bytes, truncated, NUL-terminated; nothing when
 * errlen is 0) and returns rc, so that a failure is one statement:
 *     return vhm_err(err, errlen, -EINVAL, "argument '%s': expected ...", key);
 * errno is preserved. */
int vhm_err(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The median of v[0..n) (sorts v in place; the mean of the middle two of
 * an even count); 0 when n is 0. */
double vhm_median(double *v, size_t n);
/* pthread_create for a worker thread of a program whose signal handlers
 * belong to its main loop: the new thread starts with the asynchronous
 * signals (SIGINT, SIGTERM, SIGHUP, SIGWINCH, ...) blocked, so the kernel
 * delivers them to the loop's thread, where handlers set the flag that same
 * thread reads; faults (SIGSEGV, SIGBUS, ...) stay deliverable. Returns
 * pthread_create's result (0 or a positive errno). */
int vhm_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
/* The calling thread's nice value into *nice (getpriority on its thread
 * id, which on Linux is the thread's alone). 0 or -errno. */
int vhm_thread_nice_get(int *nice);
/* Set the calling thread's nice value. 0, or -errno: -EACCES or -EPERM when
 * lowering it needs CAP_SYS_NICE (or room under RLIMIT_NICE) that the
 * process lacks. */
int vhm_thread_nice(int nice);
/* Whether process pid still runs: it exists and is not a zombie (one that
 * exited and that its parent has not waited for yet, which kill(pid, 0)
 * still finds). A process this one may not signal counts as running. */
bool vhm_pid_running(pid_t pid);

/* Reads that race with a writer by design: guest memory read while the guest
 * runs (a migration's pre-copy, a dirty-tracking verify pass), where the
 * dirty log, not a lock, makes the result right (orchestrator/device/gmem.h).
 * In a ThreadSanitizer build, TSan does not check what this thread reads (or,
 * TSan having no reads-only mode, writes) between the two: its "ignore
 * reads" annotations, which libtsan exports without a header. Elsewhere they
 * compile to nothing. Keep the span to the guest-memory access alone. */
#ifdef __SANITIZE_THREAD__
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define VHM_RACY_READS_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define VHM_RACY_READS_END()   AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define VHM_RACY_READS_BEGIN() ((void)0)
#define VHM_RACY_READS_END()   ((void)0)
#endif

#endif
