/* SPDX-License-Identifier: MIT */
/* The `vhm run` loop: one thread (the caller's) serves the control socket,
 * watches the backend connection, reconnects it with --reconnect, ticks
 * dirty tracking and emits "stats" and "state" events; the guest runs on the
 * device's threads and a migration on its job's thread (migration/mig_job).
 * The control commands a running device answers are the table run_cmds,
 * made of run_args.h's RUN_ARGS_CMDS (names, argument keys) and the ctl_*
 * handlers here; their argument checks are run_args.c's, apart from the
 * device.
 *
 * Threads: struct runner belongs to the loop thread. The one exception is
 * on_dev_state, the device's state callback, which runs on whichever thread
 * changed the state: on the loop thread it emits the "state" event, on the
 * migration's thread (the only other one that changes it) it queues the
 * event on the job (mig_job_post), which the loop emits — the control server
 * is touched by the loop thread alone. What the device's other threads own
 * and how the loop reads it is device.h's "Threads". With --incoming the
 * device is first the incoming thread's (migration/mig_incoming): while
 * r->incoming the loop serves the control socket without touching r->dev,
 * and takes the device once mig_incoming_finish has joined that thread. */
#include "runner.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "device.h"
#include "mig_incoming.h"
#include "mig_job.h"
#include "run_args.h"
#include "run_metrics.h"
#include "run_track.h"
#include "util.h"
#include "vbpf.h"
#include "vbpf_dev.h"

#define MAX_POLL (CTL_CLIENTS_MAX + METRICS_CLIENTS_MAX + 9)
#define RUN_CMD_ONE(fn, name, ...) + 1
#define RUN_NCMDS (0 RUN_ARGS_CMDS(RUN_CMD_ONE))   /* entries of run_cmds */

struct runner {
	struct device dev;
	struct ctl_server *ctl;
	const char *run_dir;
	uint64_t interval_ms, duration_ms;
	bool quiet, stop, reconnect;
	uint64_t last_reconnect_ns;
	char last_reconnect_err[256];
	uint64_t last_stats_ns, last_writes;
	struct nd_counters last;
	struct mig_job job;        /* a live migration running beside the loop */
	unsigned trace_probes;     /* --trace-backend: vbpf probe mask, 0 off */
	struct vbpf_dev *trace;    /* the backend's probes (or why they failed) */
	struct run_track *trk;         /* dirty tracking: track-start, "dirty" events */
	struct run_metrics met;    /* --metrics: the HTTP endpoint and its counts */
	pthread_t loop_thread;     /* the thread running runner_run */
	/* --incoming: the migration bringing the device, and while it comes the
	 * commands that answer without one (ctl_incoming_cmds); the server
	 * serves cmds, run_cmds once the device runs. */
	bool incoming;             /* waiting for or receiving the device */
	struct mig_incoming in;
	json_t *in_report;         /* the incoming migration, once done */
	struct ctl_cmd cmds[RUN_NCMDS];
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

/* ---- status and stats ---------------------------------------------------- */

static json_t *counters_json(const struct nd_counters *c)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "tx_frames", (json_int_t)c->tx_frames, "tx_done", (json_int_t)c->tx_done,
			 "rx_frames", (json_int_t)c->rx_frames, "rx_lost", (json_int_t)c->rx_lost,
			 "rx_dup", (json_int_t)c->rx_dup, "rx_late", (json_int_t)c->rx_late,
			 "loss_timeouts", (json_int_t)c->loss_timeouts, "rx_rarp", (json_int_t)c->rx_rarp,
			 "rx_other", (json_int_t)c->rx_other, "tx_bytes", (json_int_t)c->tx_bytes,
			 "kicks", (json_int_t)c->kicks);
}

/* The device as the loop thread may read it while a migration runs: a
 * snapshot of what the migration replaces, counters field by field. */
static json_t *status_json(struct runner *r)
{
	struct device *d = &r->dev;
	struct dev_snapshot snap;
	struct nd_counters tot;
	json_t *queues = json_array();
	uint64_t polls, idle_polls, pps;
	uint32_t frame_size;
	char feat[24], mac[18];

	dev_snapshot(d, &snap);
	netdrv_totals(&d->drv, &tot);
	for (int i = 0; i < d->drv.nq; i++) {
		struct nd_counters qc;

		netdrv_queue_counters(&d->drv, i, &qc);
		json_array_append_new(queues, counters_json(&qc));
	}
	netdrv_traffic(&d->drv, &pps, &frame_size);
	dev_datapath_polls(d, &polls, &idle_polls);
	snprintf(feat, sizeof(feat), "0x%016llx", (unsigned long long)d->features);
	vhm_format_mac(d->cfg.mac, mac);
	return json_pack("{s:s, s:s, s:s, s:I, s:f, s:i, s:s, s:s, s:s, s:s, s:I,"
			 " s:{s:I, s:i, s:o, s:o},"
			 " s:{s:I, s:s, s:I}, s:{s:I, s:I}}",
			 "name", d->cfg.name, "state", dev_state_name(snap.state),
			 "backend", snap.backend, "pid", (json_int_t)getpid(),
			 "uptime_s", (double)(vhm_now_ns() - d->started_ns) / 1e9,
			 "queues", d->cfg.queues, "ring", d->packed ? "packed" : "split",
			 "buffers", netdrv_buffers_name(d->cfg.buffers), "features", feat, "mac", mac, "mem_bytes", (json_int_t)snap.mem_bytes,
			 "traffic", "pps", (json_int_t)pps, "frame_size", (int)frame_size,
			 "total", counters_json(&tot), "per_queue", queues,
			 "dirty", "rate", (json_int_t)d->gw.rate, "pattern",
			 gw_pattern_name(d->gw.pattern), "writes", (json_int_t)gw_writes(&d->gw),
			 "datapath", "polls", (json_int_t)polls, "idle_polls", (json_int_t)idle_polls);
}

/* While the device comes in: what there is to say without one. */
static json_t *incoming_status_json(struct runner *r)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:o}", "name", r->in.cfg.name, "state", "incoming",
			 "backend", r->in.cfg.backend, "pid", (json_int_t)getpid(),
			 "incoming", mig_incoming_json(&r->in));
}

static int ctl_status(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct runner *r = ctx;

	(void)args; (void)err; (void)errlen;
	*ret = r->incoming ? incoming_status_json(r) : status_json(r);
	if (*ret && !r->incoming && r->in_report)   /* the migration that brought the device */
		json_object_set(*ret, "incoming", r->in_report);
	if (*ret && !r->incoming && r->trace)   /* --trace-backend */
		json_object_set_new(*ret, "bpf", vbpf_dev_json(r->trace, false));
	if (*ret && r->met.srv)   /* --metrics, as bound */
		json_object_set_new(*ret, "metrics", json_string(metrics_srv_addr(r->met.srv)));
	return 0;
}

/* ---- steering ------------------------------------------------------------ */

static int ctl_set_traffic(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct runner *r = ctx;
	struct run_args_traffic a = { 0 };
	uint64_t was_pps;
	uint32_t was_size;
	int rc;

	netdrv_traffic(&r->dev.drv, &was_pps, &was_size);
	a.size = was_size;   /* unchanged unless given */
	if ((rc = run_args_set_traffic(args, &a, err, errlen)))
		return rc;
	dev_set_traffic(&r->dev, a.pps, (uint32_t)a.size);
	*ret = json_pack("{s:I, s:I}", "pps", (json_int_t)a.pps, "size", (json_int_t)a.size);
	return 0;
}

static int ctl_set_dirty(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct runner *r = ctx;
	struct run_args_dirty a = { .pattern = r->dev.gw.pattern };
	int rc;

	if ((rc = run_args_set_dirty(args, &a, err, errlen)))
		return rc;
	dev_set_dirty(&r->dev, a.rate, a.pattern);
	*ret = json_pack("{s:I, s:s}", "rate", (json_int_t)a.rate, "pattern",
			 gw_pattern_name(a.pattern));
	return 0;
}

static int ctl_stop(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct runner *r = ctx;

	(void)args; (void)err; (void)errlen;
	r->stop = true;
	*ret = json_pack("{s:s}", "state", "stopping");
	return 0;
}

/* The backend's socket cannot be where this instance's control socket
 * goes: -EINVAL with err when it is. */
static int backend_is_control(const char *run_dir, const struct dev_config *c, char *err,
			      size_t errlen)
{
	char ctl[256];

	if (vhm_sock_path(run_dir, c->name, ctl, sizeof(ctl)) || !vhm_same_path(c->backend, ctl))
		return 0;
	return vhm_err(err, errlen, -EINVAL, "--backend %s is where instance %s's control socket "
		       "goes (--run-dir %s): give the backend another path", c->backend, c->name,
		       run_dir);
}

#define CONT_WAIT_MS 3000   /* cont, listening: the backend's new connection (a
                            * DPDK client retries each second) */

/* QMP's cont for the one stopped state vhm has: past a stream's commit
 * point with no word from the destination (destination-unknown), the
 * device stays stopped here, since it may run there. The operator who has
 * seen that it does not (`vhm status` there: failed, or no process) resumes
 * it here with force: the same memory, its backend connected again, its
 * rings restarted where the driver stands. A running device: nothing to
 * do. A backend that cannot be reached leaves the device here without one
 * (backend-lost; --reconnect keeps trying). */
static int ctl_cont(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct runner *r = ctx;
	struct device *d = &r->dev;
	enum dev_state s = dev_state(d);
	char why[300];
	bool force, kept;
	int rc;

	if ((rc = run_args_cont(args, &force, err, errlen)))
		return rc;
	if (r->job.active)
		return vhm_err(err, errlen, -EBUSY, "a migration is running");
	if (s == DEV_RUNNING) {
		*ret = json_pack("{s:s}", "state", dev_state_name(s));
		return 0;
	}
	if (s != DEV_DST_UNKNOWN)
		return vhm_err(err, errlen, -EINVAL, "the device is %s: cont resumes one whose "
			       "migration left it destination-unknown", dev_state_name(s));
	if (!force)
		return vhm_err(err, errlen, -EPERM, "the device may run on %s (GO was sent there): "
			       "resume it here only once that destination is known not to run it "
			       "(vhm status there), with {\"force\": true}", d->backend);
	kept = d->left.kept;
	if ((rc = dev_resume_left(d, CONT_WAIT_MS, why, sizeof(why)))) {
		if (kept)   /* here now, without its backend */
			dev_set_state(d, DEV_BACKEND_LOST, "resumed here (cont): its backend did not "
				      "come back");
		return vhm_err(err, errlen, rc, "resuming on %s: %s", d->backend, why);
	}
	dev_set_state(d, DEV_RUNNING, "resumed here (cont): its destination does not run it");
	*ret = json_pack("{s:s, s:s}", "state", dev_state_name(DEV_RUNNING), "backend", d->backend);
	return 0;
}

static int ctl_migrate(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct runner *r = ctx;
	struct mig_params p;
	json_t *pred = NULL;
	int rc;

	if ((rc = run_args_migrate(args, &p, err, errlen)))
		return rc;
	/* With a bandwidth to model and tracking on, the report carries
	 * logtrack's prediction beside the outcome. */
	if (p.bandwidth && r->trk) {
		struct lt_predict_in in;
		struct lt_predict_out out;

		if (!run_track_predict(r->trk, (double)p.bandwidth, (double)p.downtime_ms,
				       (unsigned)p.max_iterations + 1, p.verify, &in, &out))
			pred = run_track_predict_json(&in, &out);
	}
	if ((rc = mig_job_start(&r->job, &p, pred, err, errlen)))
		return rc;
	*ret = json_pack("{s:s, s:s}", "status", "started", "to", p.to);
	return 0;
}

static int ctl_migrate_cancel(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct runner *r = ctx;
	int rc = mig_job_cancel(&r->job, err, errlen);

	(void)args;
	if (!rc)
		*ret = json_pack("{s:s}", "status", "cancelling");
	return rc;
}

static int ctl_migrate_status(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct runner *r = ctx;

	(void)args; (void)err; (void)errlen;
	*ret = mig_job_status(&r->job);
	return 0;
}

/* QMP's query-migrate: MigrationInfo of the running or last migration. */
static int ctl_query_migrate(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct runner *r = ctx;

	(void)args; (void)err; (void)errlen;
	*ret = mig_job_query_migrate(&r->job);
	return 0;
}

/* QMP's RunState for each device state: the built-in guest runs while the
 * device runs or migrates; with the backend gone its I/O stops (io-error). */
static const char *const qmp_run_states[] = {
	[DEV_STARTING] = "prelaunch", [DEV_RUNNING] = "running", [DEV_MIGRATING] = "running",
	[DEV_BACKEND_LOST] = "io-error", [DEV_STOPPED] = "shutdown",
	[DEV_INCOMING] = "inmigrate", [DEV_MIGRATED] = "postmigrate",
	[DEV_DST_UNKNOWN] = "paused",   /* stopped; where it runs is not known */
};

/* QMP's query-status: StatusInfo (qapi/run-state.json). */
static int ctl_query_status(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct runner *r = ctx;
	/* no device to read while it comes in (its thread is filling it) */
	const char *st = r->incoming ? "inmigrate" : qmp_run_states[dev_state(&r->dev)];

	(void)args; (void)err; (void)errlen;
	*ret = json_pack("{s:b, s:s}", "running", !strcmp(st, "running"), "status", st);
	return 0;
}

/* Digests of guest memory taken with the guest paused: "memory" covers every
 * page, "ram" leaves out the device area and the spread packet buffers
 * (dev_ram_digest). */
static int ctl_digest(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct runner *r = ctx;
	char all[17], ram[17];

	(void)args;
	if (r->job.active)
		return vhm_err(err, errlen, -EBUSY, "a migration is running");
	dev_guest_pause(&r->dev, true);
	snprintf(all, sizeof(all), "%016llx", (unsigned long long)gmem_digest(&r->dev.mem, 0, 0));
	snprintf(ram, sizeof(ram), "%016llx", (unsigned long long)dev_ram_digest(&r->dev));
	dev_guest_pause(&r->dev, false);
	*ret = json_pack("{s:s, s:s}", "memory", all, "ram", ram);
	return 0;
}

/* Dirty tracking (track.c); a running migration owns the backend. */
static int ctl_track_start(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct runner *r = ctx;

	return run_track_ctl_start(r->trk, r->job.active, args, ret, err, errlen);
}

static int ctl_track_stop(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct runner *r = ctx;

	return run_track_ctl_stop(r->trk, r->job.active, args, ret, err, errlen);
}

static int ctl_dirty(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	return run_track_ctl_dirty(((struct runner *)ctx)->trk, args, ret, err, errlen);
}

static int ctl_predict(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	return run_track_ctl_predict(((struct runner *)ctx)->trk, args, ret, err, errlen);
}

/* run_args.h's RUN_ARGS_CMDS, each row with its handler above. */
#define RUN_CMD(fn, name, doc, ...) { name, doc, fn, { __VA_ARGS__ } },
static const struct ctl_cmd run_cmds[] = { RUN_ARGS_CMDS(RUN_CMD) };
#undef RUN_CMD

/* --incoming, before the device runs: every command but these is refused. */
static int ctl_not_yet(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct runner *r = ctx;

	(void)args; (void)ret;
	return vhm_err(err, errlen, -EAGAIN, "%s is waiting for an incoming migration (%s): no "
		       "device yet", r->in.cfg.name,
		       mig_in_phase_name(mig_incoming_phase(&r->in)));
}

static void ctl_incoming_cmds(struct runner *r)
{
	static const char *const answer[] = { "status", "stats", "stop", "query-status" };

	memcpy(r->cmds, run_cmds, sizeof(run_cmds));
	for (size_t i = 0; i < RUN_NCMDS; i++) {
		size_t k = 0;

		while (k < VHM_ARRAY_SIZE(answer) && strcmp(answer[k], r->cmds[i].name))
			k++;
		if (k == VHM_ARRAY_SIZE(answer))
			r->cmds[i].fn = ctl_not_yet;
	}
}

/* ---- the loop -------------------------------------------------------------- */

/* The device's state callback (dev_set_state), on the thread that changed
 * the state: the loop's, or a migration's. */
static void on_dev_state(void *ctx, enum dev_state s, const char *why)
{
	struct runner *r = ctx;
	json_t *ev = json_pack("{s:s, s:s}", "state", dev_state_name(s), "reason", why);

	if (!r->quiet)
		fprintf(stderr, "vhm run %s: %s (%s)\n", r->dev.cfg.name, dev_state_name(s), why);
	if (pthread_equal(pthread_self(), r->loop_thread))
		ctl_server_emit(r->ctl, "state", ev);
	else
		mig_job_post(&r->job, "state", ev);
}

static void emit_stats(struct runner *r, uint64_t now)
{
	double dt = (double)(now - r->last_stats_ns) / 1e9;
	struct nd_counters c;
	uint64_t writes = gw_writes(&r->dev.gw);
	json_t *ev;

	netdrv_totals(&r->dev.drv, &c);
	ev = json_pack("{s:s, s:f, s:f, s:f, s:o}", "state", dev_state_name(dev_state(&r->dev)),
		       "interval_s", dt,
		       "tx_pps", (double)(c.tx_frames - r->last.tx_frames) / dt,
		       "rx_pps", (double)(c.rx_frames - r->last.rx_frames) / dt,
		       "totals", counters_json(&c));
	json_object_set_new(ev, "dirty_writes_per_s",
			    json_real((double)(writes - r->last_writes) / dt));
	if (r->trace)
		json_object_set_new(ev, "bpf", vbpf_dev_json(r->trace, true));
	ctl_server_emit(r->ctl, "stats", ev);
	r->last = c;
	r->last_writes = writes;
	r->last_stats_ns = now;
}

/* The backend's socket should be silent between requests: when the loop's
 * poll sees it stir, has the backend gone? */
static void check_backend(struct runner *r, short revents)
{
	if (!revents || !vhu_front_peer_gone(&r->dev.front))
		return;
	r->dev.front.broken = true;
	dev_set_state(&r->dev, DEV_BACKEND_LOST, "backend closed the connection");
}

/* --metrics' fds into fds (at most max): how many; *timeout lowered to the
 * server's next deadline. 0 without --metrics. */
static int metrics_fds(struct runner *r, struct pollfd *fds, int max, int *timeout)
{
	int n, mt;

	if (!r->met.srv)
		return 0;
	mt = metrics_srv_timeout_ms(r->met.srv);
	n = metrics_srv_pollfds(r->met.srv, fds, max);
	*timeout = mt >= 0 && mt < *timeout ? mt : *timeout;
	return n < 0 ? 0 : n;
}

#define RECONNECT_EVERY_NS 1000000000ull

/* With --reconnect: once a second, try to get the backend back. */
static void try_reconnect(struct runner *r, uint64_t now)
{
	char err[256];

	if (!r->reconnect || dev_state(&r->dev) != DEV_BACKEND_LOST ||
	    now - r->last_reconnect_ns < RECONNECT_EVERY_NS)
		return;
	r->last_reconnect_ns = now;
	if (dev_reconnect(&r->dev, 0, err, sizeof(err))) {
		if (!r->quiet && strcmp(err, r->last_reconnect_err))
			fprintf(stderr, "vhm run %s: reconnecting: %s\n", r->dev.cfg.name, err);
		snprintf(r->last_reconnect_err, sizeof(r->last_reconnect_err), "%s", err);
		return;
	}
	r->last_reconnect_err[0] = '\0';
	dev_set_state(&r->dev, DEV_RUNNING, "reconnected, rings restored");
}

static int run_loop(struct runner *r)
{
	uint64_t end = r->duration_ms ? vhm_now_ns() + r->duration_ms * 1000000ull : 0;
	struct pollfd fds[MAX_POLL];

	r->last_stats_ns = vhm_now_ns();
	while (!r->stop && !got_signal) {
		int n = ctl_server_pollfds(r->ctl, fds, MAX_POLL - 2 - METRICS_CLIENTS_MAX - 1);
		int mine, nm = 0, timeout;
		bool busy, was_migrating;
		uint64_t now;

		if (n < 0)
			n = 0;
		mine = n;
		/* while a migration runs, its thread owns the backend connections:
		 * test busy before touching r->dev.front */
		busy = r->job.active;
		if (!busy && dev_state(&r->dev) == DEV_RUNNING)
			fds[mine++] = (struct pollfd){ .fd = r->dev.front.sock, .events = POLLIN };
		if (!busy && r->dev.front.breq_sock >= 0)
			fds[mine++] = (struct pollfd){ .fd = r->dev.front.breq_sock, .events = POLLIN };
		timeout = run_track_timeout_ms(r->trk, 100);
		nm = metrics_fds(r, fds + mine, MAX_POLL - mine, &timeout);
		if (poll(fds, (nfds_t)(mine + nm), timeout) < 0 && errno != EINTR)
			return -errno;
		ctl_server_handle(r->ctl, fds, n);
		if (r->met.srv)
			metrics_srv_handle(r->met.srv, fds + mine, nm);
		was_migrating = r->job.active;
		mig_job_poll(&r->job, r->ctl);
		if (r->met.srv && was_migrating && !r->job.active && r->job.last)
			run_metrics_migration(&r->met, r->job.last);
		busy |= r->job.active;     /* a migration may have started just now */
		if (!busy && dev_state(&r->dev) == DEV_RUNNING)
			check_backend(r, fds[n].revents);
		if (!busy && r->dev.front.breq_sock >= 0 && !r->dev.front.broken)
			vhu_front_serve_backend(&r->dev.front);
		now = vhm_now_ns();
		if (!busy)
			try_reconnect(r, now);
		run_track_tick(r->trk, now, busy);
		if (now - r->last_stats_ns >= r->interval_ms * 1000000ull)
			emit_stats(r, now);
		if (end && now >= end)
			break;
	}
	return 0;
}

/* Stop transmitting and give frames in flight time to come back, so that
 * the counters of a clean stop balance: until a second passed with nothing
 * back and nothing left on the TX rings (the backend took every frame it
 * will return), 5 s at most (a busy-polling backend starved of its core
 * takes and returns a window late). */
static void drain(struct runner *r)
{
	uint64_t now = vhm_now_ns(), cap = now + 5000000000ull, idle_end = now + 1000000000ull;
	uint64_t back = 0, pps;
	struct nd_counters c;
	uint32_t frame_size;

	netdrv_traffic(&r->dev.drv, &pps, &frame_size);
	dev_set_traffic(&r->dev, 0, frame_size);
	do {
		netdrv_totals(&r->dev.drv, &c);
		if (dev_state(&r->dev) != DEV_RUNNING)
			return;
		/* frames written off as lost that are still on a TX ring will
		 * come back late: the balance alone does not end the wait */
		if (nd_quiet(&c))
			return;
		now = vhm_now_ns();
		if (c.rx_frames != back || c.tx_done < c.tx_frames)
			idle_end = now + 1000000000ull;
		back = c.rx_frames;
		usleep(10000);
	} while (now < idle_end && now < cap);
}

static void print_summary(struct runner *r)
{
	struct nd_counters c;

	if (r->quiet)
		return;
	netdrv_totals(&r->dev.drv, &c);
	printf("%s: tx %llu frames, rx %llu back (lost %llu, dup %llu, rarp %llu), "
	       "%llu page writes\n", r->dev.cfg.name, (unsigned long long)c.tx_frames,
	       (unsigned long long)c.rx_frames, (unsigned long long)c.rx_lost,
	       (unsigned long long)c.rx_dup, (unsigned long long)c.rx_rarp,
	       (unsigned long long)gw_writes(&r->dev.gw));
}

/* The control socket, serving r->cmds. 0 or VHM_EXIT_USAGE (printed). */
static int open_ctl(struct runner *r, const char *name)
{
	char err[256];

	if (!ctl_server_open(&r->ctl, r->run_dir, name, r->cmds, RUN_NCMDS, r, err, sizeof(err)))
		return 0;
	fprintf(stderr, "vhm run: %s\n", err);
	return VHM_EXIT_USAGE;
}

/* The device on its backend, then its control socket (so that a client
 * finding the socket always finds a device). 0 or a VHM_EXIT_* (printed). */
static int open_device(struct runner *r, const struct dev_config *c)
{
	char err[256];
	int rc;

	if (dev_open(&r->dev, c, err, sizeof(err))) {
		fprintf(stderr, "vhm run: %s\n", err);
		return VHM_EXIT_PEER;
	}
	memcpy(r->cmds, run_cmds, sizeof(run_cmds));
	if ((rc = open_ctl(r, c->name)))
		dev_close(&r->dev);
	return rc;
}

#define INCOMING_EVERY_NS 1000000000ull   /* "incoming" while receiving: bytes so far */

/* An "incoming" event when the phase changed since *last (as the loop sees
 * it: a phase shorter than a pass of the loop may go unseen, the last one
 * never does), and every INCOMING_EVERY_NS while receiving (*last_ns: the
 * last one's time) so that `vhm top` follows the bytes received. */
static void emit_incoming(struct runner *r, enum mig_in_phase *last, uint64_t *last_ns)
{
	enum mig_in_phase p = mig_incoming_phase(&r->in);
	uint64_t now = vhm_now_ns();

	if (p == *last && (p != MIG_IN_RECEIVING || now - *last_ns < INCOMING_EVERY_NS))
		return;
	*last = p;
	*last_ns = now;
	ctl_server_emit(r->ctl, "incoming", mig_incoming_json(&r->in));
}

/* Serve the control socket until the incoming migration is done, asking it
 * to give up on `stop` or a signal. */
static void incoming_loop(struct runner *r)
{
	enum mig_in_phase last = MIG_IN_WAITING;
	uint64_t last_ns = 0;
	struct pollfd fds[MAX_POLL];
	bool asked = false;

	while (!mig_incoming_done(&r->in)) {
		int n = ctl_server_pollfds(r->ctl, fds, CTL_CLIENTS_MAX + 1), nm, timeout = 100;

		n = n < 0 ? 0 : n;
		fds[n] = (struct pollfd){ .fd = mig_incoming_fd(&r->in), .events = POLLIN };
		nm = metrics_fds(r, fds + n + 1, MAX_POLL - n - 1, &timeout);
		if (poll(fds, (nfds_t)(n + 1 + nm), timeout) < 0 && errno != EINTR)
			r->stop = true;
		ctl_server_handle(r->ctl, fds, n);
		if (nm)
			metrics_srv_handle(r->met.srv, fds + n + 1, nm);
		if ((r->stop || got_signal) && !asked) {
			mig_incoming_cancel(&r->in);
			asked = true;
		}
		emit_incoming(r, &last, &last_ns);
	}
	emit_incoming(r, &last, &last_ns);   /* the thread is done: its last phase */
}

/* --incoming: the control socket first (status says "incoming"), then the
 * device as the migration brings it. 0 once it runs; else a VHM_EXIT_*
 * (printed): 1 when the migration failed -- nothing runs, as QEMU's
 * -incoming exits -- 0 when stopped before it came. */
static int receive_device(struct runner *r, const char *spec, const struct dev_config *c)
{
	char err[MIG_IN_ERR_LEN];
	int rc;

	if (mig_incoming_start(&r->in, spec, &r->dev, c, err, sizeof(err))) {
		fprintf(stderr, "vhm run: %s\n", err);
		return VHM_EXIT_USAGE;
	}
	r->incoming = true;
	ctl_incoming_cmds(r);
	if ((rc = open_ctl(r, c->name))) {
		mig_incoming_cancel(&r->in);
		mig_incoming_finish(&r->in, err, sizeof(err));
		return rc;
	}
	if (!r->quiet)
		fprintf(stderr, "vhm run %s: incoming on %s, backend %s, control %s\n", c->name,
			r->in.bound, c->backend, ctl_server_path(r->ctl));
	r->met.in = &r->in;        /* --metrics serves the incoming figures meanwhile */
	incoming_loop(r);
	r->met.in = NULL;
	r->in_report = mig_incoming_json(&r->in);   /* the thread is done */
	rc = mig_incoming_finish(&r->in, err, sizeof(err));
	r->incoming = false;
	memcpy(r->cmds, run_cmds, sizeof(run_cmds));
	if (!rc)
		return 0;
	fprintf(stderr, "vhm run %s: %s%s\n", c->name,
		rc == -ECANCELED ? "" : "incoming migration failed: ", err);
	ctl_server_close(r->ctl);
	r->ctl = NULL;
	return rc == -ECANCELED ? VHM_EXIT_OK : VHM_EXIT_FAIL;
}

int runner_run(const struct runner_opts *o, const struct dev_config *cfg)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct runner *r = calloc(1, sizeof(*r));
	struct dev_config c = *cfg;
	char err[256];
	int rc = 0;

	if (!r)
		return VHM_EXIT_FAIL;
	r->run_dir = vhm_run_dir(o->run_dir);
	r->interval_ms = o->interval_ms ? o->interval_ms : 1000;
	r->duration_ms = o->duration_ms;
	r->quiet = o->quiet;
	r->reconnect = o->reconnect;
	r->trace_probes = o->trace_probes;
	/* The control socket appears once the device runs, so that a client
	 * finding it always finds a device; the name is checked first. */
	if (ctl_name_free(r->run_dir, c.name, err, sizeof(err))) {
		fprintf(stderr, "vhm run: %s\n", err);
		rc = VHM_EXIT_USAGE;
		goto out;
	}
	if (backend_is_control(r->run_dir, &c, err, sizeof(err)) ||
	    (c.listen && dev_listen_check(c.backend, err, sizeof(err)))) {
		fprintf(stderr, "vhm run: %s\n", err);
		rc = VHM_EXIT_USAGE;
		goto out;
	}
	/* the port before the device: a port in use fails before anything starts */
	if (o->metrics && run_metrics_open(&r->met, o->metrics, c.name, NULL, err, sizeof(err))) {
		fprintf(stderr, "vhm run: %s\n", err);
		rc = VHM_EXIT_USAGE;
		goto out;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = o->incoming ? receive_device(r, o->incoming, &c) : open_device(r, &c);
	if (rc || !r->ctl)   /* stopped before an incoming migration came: nothing ran */
		goto out;
	if (!r->quiet)
		fprintf(stderr, "vhm run %s: running on %s (%d queue pairs, %s rings), control %s\n",
			c.name, r->dev.backend, c.queues, r->dev.packed ? "packed" : "split",
			ctl_server_path(r->ctl));
	if (r->trace_probes)   /* loads on its own thread; reports its failures itself */
		vbpf_dev_open(&r->trace, vhu_front_peer_pid(&r->dev.front), r->trace_probes,
			      c.name);
	mig_job_init(&r->job, &r->dev, r->quiet, r->run_dir);
	r->loop_thread = pthread_self();
	dev_on_state(&r->dev, on_dev_state, r);
	if (o->incoming)   /* the device started running on the incoming thread */
		on_dev_state(r, DEV_RUNNING, "incoming migration committed");
	if (run_track_create(&r->trk, &r->dev, r->ctl, r->run_dir))
		fprintf(stderr, "vhm run %s: no dirty tracking: out of memory\n", c.name);
	r->met.trk = r->trk;
	if (r->met.srv && !r->quiet)
		fprintf(stderr, "vhm run %s: metrics on http://%s/metrics\n", c.name,
			metrics_srv_addr(r->met.srv));
	rc = run_loop(r) ? VHM_EXIT_FAIL : VHM_EXIT_OK;
	mig_job_destroy(&r->job, r->ctl);   /* a running migration is cancelled */
	run_track_destroy(r->trk);              /* logging off while the rings still run */
	drain(r);
	print_summary(r);
	dev_set_state(&r->dev, DEV_STOPPED, got_signal ? "signal" : "stopped");
	dev_close(&r->dev);
	vbpf_dev_close(r->trace);
	ctl_server_close(r->ctl);
out:
	run_metrics_close(&r->met);
	json_decref(r->in_report);
	free(r);
	return rc;
}
