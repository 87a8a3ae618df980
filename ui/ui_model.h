/* SPDX-License-Identifier: MIT */
/* ui_model — what `vhm top` knows about running instances, fed only from
 * their control sockets' replies and events (docs/control.md): the `status`
 * reply, and the "stats", "state", "migration" (and "migration-progress":
 * a stream's figures within a pass), "incoming" (a destination,
 * vhm run --incoming) and (when the device has a dirty tracker) "dirty"
 * events; "bpf" objects in `status` and "stats"
 * (vhm run --trace-backend); "job" / "job-ended" and "dirty-rate" events
 * (the libvirt watcher's control socket).
 *
 * This file is pure data: applying a JSON object to an instance never does
 * I/O, so it can be tested without a device. ui_sample.c does the I/O (run
 * dir scans, connections, reading events) and ui_panels.c draws what is here.
 *
 * Optional figures carry a `have` flag: a panel whose data never arrived is
 * not drawn at all (docs/top.md lists which event fills which panel).
 *
 * Units: rates are per second (frames/s, page writes/s, pages/s), a page is
 * 4 KiB, times are milliseconds unless a name says _s. */
#ifndef VHM_UI_MODEL_H
#define VHM_UI_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UI_HIST          240   /* samples kept per series (4 min at 1 s) */
#define UI_NAME_MAX      64    /* CTL_NAME_MAX */
#define UI_PATH_MAX      108   /* a sockaddr_un path */
#define UI_WSS_MAX       16    /* working-set curve points */
#define UI_HEAT_MAX      1024  /* heat map cells kept (blocks merged beyond) */
#define UI_FINDINGS_MAX  8     /* verify findings kept (the latest) */
#define UI_PASSES_MAX    64    /* pre-copy passes kept for the timeline */
#define UI_STEPS_MAX     16    /* migration phase changes kept */
#define UI_KV_MAX        32    /* counters in a bpf / job panel */
#define UI_LVBE_MAX      4     /* backends shown beside a libvirt dirty rate */

/* A ring of the last UI_HIST samples of one figure. */
struct ui_series {
	double v[UI_HIST];
	int n;                  /* samples held, <= UI_HIST */
	int head;               /* index of the next write */
};

void ui_series_push(struct ui_series *s, double v);
/* The i-th newest sample (0 = latest); 0 when i >= n. */
double ui_series_get(const struct ui_series *s, int i);

/* Sources of dirty pages, as logtrack names them (lt_rates.h). */
enum ui_src {
	UI_SRC_GUEST,           /* "guest-writer": the guest's CPUs */
	UI_SRC_BACKEND,         /* "backend-log": the vhost log (backend writes) */
	UI_SRC_USED,            /* "used-ring": used rings logged by the backend */
	UI_SRC_COUNT
};
const char *ui_src_name(enum ui_src s);

/* Figures of "dirty" events (logtrack). have == false until one arrives. */
struct ui_dirty {
	bool have;
	double rate[UI_SRC_COUNT];      /* pages/s in the last interval */
	bool has_src[UI_SRC_COUNT];     /* this source was reported */
	double total;                   /* pages/s, sum of the sources */
	struct ui_series src[UI_SRC_COUNT], tot;

	int nwss;                       /* working-set curve, 0: none yet */
	double wss_window_ms[UI_WSS_MAX];
	double wss_pages[UI_WSS_MAX];   /* distinct pages dirtied in the window */

	int nheat;                      /* heat map cells, 0: none yet */
	double heat[UI_HEAT_MAX];       /* page-dirtyings per cell */
	uint64_t heat_cell_bytes;       /* guest-physical bytes per cell */
	uint64_t hot_gpa;               /* the hottest 2 MiB block (bytes) */
	double hot_count;               /* its page-dirtyings */

	bool have_verify;               /* verify mode is on */
	uint64_t verify_checked;        /* pages hashed */
	uint64_t verify_bad;            /* findings: changed pages the log missed */
	int nfindings;                  /* the latest, oldest first */
	char findings[UI_FINDINGS_MAX][160];

	bool have_predict;
	bool predict_converges;
	double predict_downtime_ms;
};

/* A pre-copy pass as the "migration" events report it. */
struct ui_pass {
	int iteration;
	uint64_t dirtied;               /* pages the pass's sync found (0 for pass 0) */
	uint64_t copied;                /* pages copied */
	double ms;
};

struct ui_step {
	char phase[16];
	double at_ms;                   /* since "setup", from event timestamps */
};

/* The last (or running) migration of an instance. */
struct ui_migration {
	bool seen;                      /* a "migration" event arrived */
	bool active;                    /* between "setup" and "done"/"failed" */
	char phase[16];
	char from[UI_PATH_MAX], to[UI_PATH_MAX];
	double t0;                      /* wall-clock s of "setup" */
	int iteration;                  /* last pre-copy pass */
	double bandwidth_mib_s;         /* MiB/s of the last pass */
	double remaining_pages;         /* estimate: dirtied while the last pass ran */
	double predicted_downtime_ms;   /* remaining at that bandwidth (or logtrack's) */
	double actual_downtime_ms;      /* from "switchover"; < 0 until then */
	int npass;
	struct ui_pass pass[UI_PASSES_MAX];
	int nsteps;
	struct ui_step steps[UI_STEPS_MAX];
	/* the final report ("done") or the failure ("failed") */
	bool have_report;
	bool ok, converged, rarp;
	char result[160];
	double total_ms, downtime_ms, downtime_control_ms, downtime_copy_ms;
	int report_passes;
	uint64_t bytes_copied, zero_pages, last_pages;
	/* a stream destination (--to tcp:): each event's progress.stream (the
	 * "migration-progress" ones' too), then the report's "stream" */
	bool have_stream;
	uint64_t stream_bytes;          /* written to the connections so far */
	double stream_mib_s;            /* on the wire, average since "setup" */
	int stream_conns;               /* connections (open now; the report: used) */
};

/* A destination's migration (vhm run --incoming): its "incoming" events and
 * the "incoming" member of its `status` reply (docs/stream.md). */
struct ui_incoming {
	bool have;
	char phase[16];                 /* waiting, receiving, switching, running, failed */
	char listen[UI_PATH_MAX];       /* "ADDR:PORT" */
	char source[UI_PATH_MAX];       /* the source's address, once connected */
	uint64_t bytes;                 /* read from the stream so far */
	uint64_t passes, data_pages, zero_pages;
	double elapsed_ms;              /* since it began listening */
	char error[160];
};

/* A panel of named numbers (bpf counters, libvirt job stats): numbers of an
 * object, and of its objects one level down as "outer.inner"; its strings
 * go to `note` ("domain=vm1 type=unbounded", "error=..."). */
struct ui_kv {
	bool have;
	int n;
	char key[UI_KV_MAX][40];
	double val[UI_KV_MAX];
	char note[160];
};

/* The libvirt watcher's last "dirty-rate" event: libvirt's calculation and,
 * side by side, each vhostuser backend's dirty-log writes from eBPF. */
struct ui_lvbackend {
	long pid;                       /* 0: not found */
	bool have_rate;                 /* else why says why there is none */
	double calls_per_s;             /* log-write calls/s (uprobes) */
	char source[200];               /* what was counted, how */
	char why[200];
};

struct ui_lvdirty {
	bool have;
	char domain[UI_NAME_MAX];
	char error[160];                /* the measurement failed: why */
	char mode[24];                  /* libvirt's: "page-sampling", ... */
	int period_s;
	double mib_s;                   /* libvirt's rate, MiB/s; < 0: none */
	int nbackend;
	struct ui_lvbackend be[UI_LVBE_MAX];
};

enum ui_conn {
	UI_CONN_NEW,            /* not connected yet */
	UI_CONN_LIVE,           /* subscribed, events flowing */
	UI_CONN_GONE,           /* was live, or never answered: greyed out */
};

struct ui_inst {
	char name[UI_NAME_MAX];
	enum ui_conn conn;
	char why[96];                   /* why it is gone (last error) */
	/* from `status` */
	bool have_status;
	char backend[UI_PATH_MAX];
	char ring[8];
	int queues;
	long pid;
	uint64_t mem_bytes;
	/* from "stats" and "state" (and migration phases) */
	char state[16];
	bool have_stats;
	double tx_pps, rx_pps, writes_ps;     /* frames/s, frames/s, page writes/s */
	double interval_s;                    /* of the last stats event */
	uint64_t nstats;
	struct ui_series tx, rx, writes;
	struct ui_dirty dirty;
	/* Dirty tracking on the instance. tracking: a tracker runs (a "dirty"
	 * event came, or a `dirty` / track-start / track-stop reply said
	 * "active"); cleared by ui_sample when events stop coming. track_mine:
	 * this dashboard holds one track-start on it (run_track counts users),
	 * track_busy: a track-start or track-stop of ours is on its way. Both set
	 * by ui_sample alone, on the loop's thread. */
	bool tracking, track_mine, track_busy;
	struct ui_migration mig;
	struct ui_incoming in;
	struct ui_kv bpf, job;
	struct ui_lvdirty lvdirty;
};

/* Apply one event object ({"event", "data", "timestamp"}) to inst.
 * Unknown events and members are ignored; so are members of the wrong type. */
void ui_inst_apply_event(struct ui_inst *inst, const json_t *ev);
/* Apply a `status` reply (mem_bytes sizes the heat map). */
void ui_inst_apply_status(struct ui_inst *inst, const json_t *st);
/* Apply a "dirty" event's data, or a `dirty` command's reply (same shape). */
void ui_inst_apply_dirty(struct ui_inst *inst, const json_t *data);

/* The dirty rate to show in the instance list: logtrack's total pages/s when
 * "dirty" events arrive, else the guest writer's page writes/s from "stats";
 * *from_logtrack says which. < 0 when neither is known yet. */
double ui_inst_dirty_rate(const struct ui_inst *inst, bool *from_logtrack);

#endif
