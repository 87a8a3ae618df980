/* SPDX-License-Identifier: MIT */
/* devtest — what the integration tests of a running device share (prefix
 * dt_): fixture teardown, a testpmd or a skip, a control connection to a
 * device (with its log's first line when that fails), control commands
 * that must succeed, and the `vhm` command line run and checked for a
 * refusal (one stderr line, nothing on stdout). These assert with Criterion,
 * so only tests use them (benchmarks use support.h alone). */
#ifndef VHM_DEVTEST_H
#define VHM_DEVTEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ctl_client;
struct ts_run;

#define DT_VHM_TIMEOUT_MS 10000

/* .fini of every device test: kill what the test started, remove its dir. */
void dt_fini(void);
/* testpmd `name` with `queues` queue pairs (its log: <ts_dir>/<name>.log);
 * its socket into sock; its pid (ts_cleanup() kills it); or skip the test. */
pid_t dt_testpmd_or_skip(const char *name, int queues, char *sock, size_t len);
/* The same; with client, testpmd connects to sock (client=1) instead. */
pid_t dt_testpmd_mode_or_skip(const char *name, int queues, bool client, char *sock, size_t len);
/* The same with the socket at sock, a path of the caller's. */
pid_t dt_testpmd_at_or_skip(const char *name, int queues, bool client, const char *sock);
/* The same in network namespace ns (NULL: this one). */
pid_t dt_testpmd_in_or_skip(const char *ns, const char *name, int queues, bool client,
			    const char *sock);
/* Device `name`'s control socket appears in ts_dir() within 10 s, asserted. */
void dt_wait_ctl(const char *name);
/* A control connection to device `name` in ts_dir(), asserted. */
struct ctl_client *dt_connect(const char *name);
/* cmd with args (stolen), asserting success; the reply (new reference). */
json_t *dt_call(struct ctl_client *c, const char *cmd, json_t *args);

/* Device c's status.traffic.total.rx_frames, asserted to answer. */
long long dt_rx_frames(struct ctl_client *c);
/* Frames flow: polls rx_frames until it passes `target` or `ms` have gone
 * by, and returns the last count, for the caller to assert on. A window of
 * "over N frames in ms" ends as soon as they are there (a loaded machine
 * may be late, never early); when they are not, the last count is read
 * after the deadline, so the window is never shorter than ms. */
long long dt_wait_rx_past(struct ctl_client *c, long long target, int ms);

/* Two vhm-testbe --loopback backends, <ts_dir>/NAME-a.sock and NAME-b.sock
 * (their paths into a and b), and device NAME running on a with `mem`
 * bytes of guest memory ("256M"), 20000 frames/s and 5000 page writes/s for
 * up to 120 s; its control socket is up when this returns. Its pid. */
pid_t dt_run_on_testbe(const char *name, const char *mem, char *a, char *b, size_t len);

/* `vhm` with args (NULL-terminated, without "vhm"; at most 14), asserted to
 * start and to finish within DT_VHM_TIMEOUT_MS. Free r with ts_run_free. */
void dt_vhm(const char *const args[], struct ts_run *r);
/* `vhm args...` refuses: exit `status`, nothing on stdout, exactly one line
 * on stderr that starts "vhm" and contains `says` (NULL: anything). */
void dt_vhm_refuses(const char *const args[], int status, const char *says);

/* A migration report (the "done" event's data) whose copy was proved: after
 * the resume (pages compared, none differing) or, with sync or a stream,
 * equal digests. */
void dt_expect_proved(const json_t *rep);

/* The summary line a `vhm run NAME` writes to its log (ts_dir()/NAME.log)
 * when it stops: "NAME: tx T frames, rx R back (lost L, dup D, ...". Its
 * last one; tx 0 and the rest ~0 when there is none. */
void dt_run_summary(const char *name, unsigned long long *tx, unsigned long long *rx,
		    unsigned long long *lost, unsigned long long *dup);
/* That summary says: over min_tx frames sent, every one back once. */
void dt_expect_whole_run(const char *name, unsigned long long min_tx);

#endif
