/* SPDX-License-Identifier: MIT */
/* lvd_daemon — `vhm libvirt-watch`: the daemon beside libvirtd
 * (docs/libvirt.md).
 *
 * Threads: libvirt's default event loop runs in a thread of its own
 * (virEventRunDefaultImpl); its callbacks only queue what happened and wake
 * the main thread.  Job statistics are polled by a thread of their own with
 * its own connection (lvd_jobs.h): virDomainGetJobStats waits for QEMU's
 * monitor while a job runs (~1 s under TCG), and its reports are queued the
 * same way.  Dirty-rate measurements run on threads of their own, one per
 * request, each with its own connection (lvd_dirty.h: libvirt's calculation
 * beside the backend's dirty-log writes counted by uprobes), and queue their
 * result the same way.  The main thread owns everything else: the control
 * socket (control.h, name "libvirt" in the run dir), the per-domain table
 * (fed by the queue) and the decision to announce.  Announces run in
 * short-lived threads (a QEMU schedule takes ~800 ms) that queue their result
 * the same way, so the control socket never waits for libvirt events, job
 * statistics, dirty rates, announces, or the event loop.  The one call into
 * libvirt left on the main thread: the domain XML before an announce.
 *
 * Events on the control socket (subscribe to them by name):
 *   lifecycle           {"domain", "event", "detail"}  libvirt's names, lower case
 *   migration-iteration {"domain", "iteration"}
 *   job                 lvd_job_json() of a running job, every poll (--poll-ms)
 *   job-ended           {"domain", "final": bool, "job": {...}}  final: libvirt's
 *                       completed stats; else the last poll (sent once a job;
 *                       without final, up to LVD_END_WAIT_MS after the job
 *                       ended, when no JOB_COMPLETED came)
 *   job-completed       libvirt's JOB_COMPLETED event, decoded
 *   dirty-rate          a measurement's result (lvd_dirty.h): libvirt's figure
 *                       and "backend": the eBPF view of each vhostuser interface
 *   hook                the arguments a `vhm hook` sent
 *   announce            {"domain", "uplink", "macs", "rounds", "error"?}
 *   connection          {"connected": bool, "reason"}
 *
 * With --metrics, the main thread also serves GET /metrics (common/metrics,
 * lvd_metrics.h) from the same poll loop, reading the per-domain table.
 *
 * Commands: status, jobs, last-job {"domain"?}, dirty-rate {"domain",
 * "seconds"}, dirty-rate-result {"domain"}, hook-event {...}, stop. */
#ifndef VHM_LVD_DAEMON_H
#define VHM_LVD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "lvd_stats.h"
#include "lvh_conf.h"

#define LVD_DEFAULT_URI       "qemu:///system"
#define LVD_POLL_MS           250   /* job stats while a job runs */
#define LVD_IDLE_POLL_MS      1000  /* looking for new jobs */
#define LVD_RECONNECT_MS      2000
/* A job the poller saw end without libvirt's completed statistics waits
 * this long for libvirt's JOB_COMPLETED (which carries them) before its
 * job-ended goes out with the last poll's figures: one job-ended a job. */
#define LVD_END_WAIT_MS       3000
#define LVD_DIRTY_SECONDS_MAX 60

struct lvd_opts {
	const char *uri;       /* NULL: LVD_DEFAULT_URI */
	const char *run_dir;   /* NULL: vhm_run_dir(NULL) */
	const char *name;      /* control socket name; NULL: "libvirt" */
	const char *uplink;    /* announce on this interface; NULL: never announce */
	unsigned poll_ms;      /* 0: LVD_POLL_MS */
	unsigned idle_poll_ms; /* 0: LVD_IDLE_POLL_MS */
	struct lvh_conf conf;  /* policy: who announces */
	const char *metrics;   /* --metrics [ADDR:]PORT; NULL: no endpoint */
};

struct lvd;

/* Connect to libvirt (the default event loop is registered first, once per
 * process), subscribe to the domain events, start the event thread and open
 * the control socket.  0 or -errno with a one-line reason in err. */
int lvd_open(struct lvd **out, const struct lvd_opts *o, char *err, size_t errlen);

/* Serve until the `stop` command or lvd_request_stop().  0 or -errno. */
int lvd_run(struct lvd *d);

/* From any thread or a signal handler: make lvd_run return soon. */
void lvd_request_stop(struct lvd *d);

/* Stop the event thread, wait for announces, close everything.  NULL is fine. */
void lvd_close(struct lvd *d);

/* The control socket path. */
const char *lvd_socket_path(const struct lvd *d);

/* Queue a lifecycle event exactly as libvirt's callback does (thread-safe).
 * For tests: libvirt's test driver cannot migrate, so a test stands in for
 * the RESUMED/MIGRATED it would see on a destination host. */
void lvd_inject_lifecycle(struct lvd *d, const char *domain, int event, int detail);
/* Queue a JOB_COMPLETED event with these final statistics, exactly as
 * libvirt's callback does (thread-safe); for tests, as above. */
void lvd_inject_job_completed(struct lvd *d, const char *domain, const struct lvd_job *job);
/* "ADDR:PORT" of the metrics endpoint as bound, or NULL without one. */
const char *lvd_metrics_addr(const struct lvd *d);

/* Does this lifecycle event mean "this domain now runs here after an incoming
 * migration", and does the policy want vhm to announce it? */
bool lvd_should_announce(const struct lvh_conf *conf, const char *uplink, int event, int detail);

/* libvirt's lifecycle event and detail names ("resumed", "migrated"). */
const char *lvd_event_name(int event);
const char *lvd_detail_name(int event, int detail);

#define LVD_WATCH_USAGE \
	"usage: vhm libvirt-watch [-c URI] [--uplink IF] [-d DIR] [--conf FILE]\n" \
	"                         [--poll-ms N] [--name NAME] [--metrics [ADDR:]PORT]\n" \
	"\n" \
	"Watch libvirt's domains: lifecycle, migration-iteration and job-completed\n" \
	"events, job statistics while a job runs (dirty rate normalised to MiB/s),\n" \
	"dirty rates on request (libvirt's calculation beside each vhostuser\n" \
	"backend's dirty-log writes counted by uprobes, when it has the symbols),\n" \
	"events from `vhm hook`, and the RARP announce after an incoming\n" \
	"migration of a domain with vhostuser interfaces.  Everything is\n" \
	"published on the control socket NAME.sock (default libvirt) in the run\n" \
	"dir; see docs/libvirt.md.\n" \
	"\n" \
	"  -c, --connect URI  libvirt URI (default " LVD_DEFAULT_URI ")\n" \
	"  -u, --uplink IF    announce migrated guests' MACs on IF (needs\n" \
	"                     CAP_NET_RAW; default: no announce)\n" \
	"  -d, --run-dir DIR  default $VHM_RUN_DIR, else /run/vhm\n" \
	"      --conf FILE    policy (default $VHM_HOOK_CONF, else " LVH_CONF_DEFAULT ")\n" \
	"      --poll-ms N    job stats period while a job runs (default 250)\n" \
	"      --name NAME    control socket name (default libvirt)\n" \
	"      --metrics [ADDR:]PORT  serve OpenMetrics at http://ADDR:PORT/metrics\n" \
	"                     (ADDR default 127.0.0.1): dirty rates, migrations by\n" \
	"                     domain (docs/metrics.md)\n" \
	"\n" \
	"Exit status: 0 stopped, 2 bad arguments, 3 libvirt or socket unavailable.\n"

int cmd_libvirt_watch(int argc, char **argv);

#endif
