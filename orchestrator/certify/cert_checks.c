/* SPDX-License-Identifier: MIT */
/* The checks of `vhm certify`, one function each, in the order of the table
 * (certify.c). Each fills its result: pass, fail or skip, the evidence
 * (for a failure: what was seen, where, and whose fault), and figures. What
 * each one proves and how it could be fooled is docs/certify.md. */
#include "cert_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lt_log.h"
#include "vhu_probe.h"
#include "util.h"

#define STOP_WATCH_MS     200    /* memory and log watched after GET_VRING_BASE */
#define STOP_ROUNDS       2      /* stops a ring kind (cert_check_stop) */
#define RARP_WAIT_MS      2000
#define RECONNECT_WAIT_MS 30000
#define TIMING_BUDGET_MS  1000   /* GET_VRING_BASE of every ring; restart on SOCKET2 */
#define HOSTILE_REGION    (2u << 20)
#define HOSTILE_MAX_SLOTS 512    /* QEMU's VHOST_USER_MAX_RAM_SLOTS */
#define RING_MAX          32768u /* the virtio spec's largest queue size */
#define RING_AREA         (1u << 20) /* guest memory a ring of RING_MAX takes, rounded */
#define RING_SPLIT_BASE   40000u /* a free-running index past the ring's size */
#define RING_PACKED_BASE  0xfffefffeu /* avail and used at slot 32766, wrap counters 1 */
#define BARE_MEM          (32ull << 20) /* guest memory of a connection without a device */
#define STATUS_ALL        0xfu   /* ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK */

static bool has(uint64_t f, unsigned bit)
{
	return (f >> bit) & 1;
}

/* The checks that run one device in one layout use a split ring, unless
 * only packed rings were asked for and the backend has them. */
static bool one_ring_packed(const struct cert_ctx *c)
{
	return !(c->o->rings & CERT_RING_SPLIT) && c->packed;
}

/* ---- 1. features and the handshake ---------------------------------------- */

/* Connect, negotiate `protocol`, then the driver's part up to the memory
 * table: `extra` features (if offered) besides VERSION_1 and
 * PROTOCOL_FEATURES, and `bytes` of guest memory in mem. 0 or -errno with
 * err; on an error mem is not left created (f is open: close it). */
static int bare_open(const struct cert_ctx *c, uint64_t protocol, uint64_t extra,
		     uint64_t bytes, struct vhu_front *f, struct gmem *mem, char *err,
		     size_t errlen)
{
	uint64_t feat;
	int rc;

	if ((rc = vhu_front_connect(f, c->o->sock, c->o->timeout_ms)) ||
	    (rc = vhu_front_negotiate(f, protocol)))
		return vhm_err(err, errlen, rc, "%s", f->err);
	if ((rc = gmem_create(mem, bytes, "certify", err, errlen)))
		return rc;
	feat = f->dev_features &
	       (1ull << VHU_F_VERSION_1 | 1ull << VHU_F_PROTOCOL_FEATURES | extra);
	if ((rc = dev_backend_prepare(f, mem, feat))) {
		vhm_err(err, errlen, rc, "%s", f->err);
		gmem_destroy(mem);
	}
	return rc;
}

/* The opening QEMU makes (vhu_front_negotiate), then the driver's part up to
 * the memory table (dev_backend_prepare), with the protocol features asked
 * for; 0 or -errno with err. */
static int handshake(const struct cert_ctx *c, uint64_t protocol, struct vhu_front *f, char *err,
		     size_t errlen)
{
	struct gmem mem;
	int rc;

	if ((rc = bare_open(c, protocol, 0, BARE_MEM, f, &mem, err, errlen)))
		return rc;
	if ((rc = dev_backend_reset_status(f)))
		vhm_err(err, errlen, rc, "%s", f->err);
	gmem_destroy(&mem);
	return rc;
}

/* The smallest of a few GET_FEATURES round trips, ms. */
static double round_trip_ms(struct vhu_front *f)
{
	double best = 1e9;
	uint64_t v;

	for (int i = 0; i < 5; i++) {
		uint64_t t0 = vhm_now_ns();

		if (vhu_get_u64(f, VHU_GET_FEATURES, &v))
			return -1;
		if ((double)(vhm_now_ns() - t0) / 1e6 < best)
			best = (double)(vhm_now_ns() - t0) / 1e6;
	}
	return best;
}

static void learn(struct cert_ctx *c, const struct vhu_front *f)
{
	struct vhu_probe_verdict v;

	vhu_probe_judge(f, &v);
	c->can_log = v.migratable;
	c->rarp = v.rarp;
	c->packed = has(f->dev_features, VHU_F_RING_PACKED);
	c->mrg = has(f->dev_features, VHU_NET_F_MRG_RXBUF);
	c->mq = has(f->dev_features, VHU_NET_F_MQ) && vhu_front_has_pf(f, VHU_PF_MQ);
	c->queue_num = f->queue_num;
	c->mem_slots = f->max_mem_slots;
	c->queues = c->o->queues;
	if (!c->o->queues_given && c->queues > (c->mq ? (int)c->queue_num : 1))
		c->queues = c->mq && c->queue_num ? (int)c->queue_num : 1;
}

/* Something a migration needs is missing: the check fails, and says what. */
static void __attribute__((format(printf, 2, 3))) lacks(struct cert_result *r, const char *fmt,
							 ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (r->status != CERT_FAIL)
		r->evidence[0] = '\0';
	r->status = CERT_FAIL;
	cert_add(r, "%s", what);
}

/* What the backend offered, as check 1's figures. */
static void offered_figures(const struct cert_ctx *c, const struct vhu_front *f,
			    struct cert_result *r)
{
	char feat[24], proto[24];

	snprintf(feat, sizeof(feat), "0x%llx", (unsigned long long)f->dev_features);
	snprintf(proto, sizeof(proto), "0x%llx", (unsigned long long)f->dev_protocol);
	cert_fig(r->figures, json_pack("{s:s, s:s, s:i, s:i, s:b, s:b, s:f}", "features", feat,
				       "protocol_features", proto, "queue_pairs",
				       (int)c->queue_num, "mem_slots", (int)c->mem_slots,
				       "reply_ack", has(f->dev_protocol, VHU_PF_REPLY_ACK),
				       "rarp", c->rarp, "round_trip_ms", c->rtt_ms));
}

/* Runs first, always (certify.c): what it learns (c->handshake_ok, what is
 * offered, the layouts) every other check reads. */
void cert_check_features(struct cert_ctx *c, struct cert_result *r)
{
	uint64_t no_ack = vhu_front_default_protocol() & ~(1ull << VHU_PF_REPLY_ACK);
	struct vhu_front f, again;
	char err[CERT_ERR_LEN];
	int rc;

	rc = handshake(c, vhu_front_default_protocol(), &f, c->handshake_err,
		       sizeof(c->handshake_err));
	learn(c, &f);
	if (!rc)
		c->rtt_ms = round_trip_ms(&f);
	vhu_front_close(&f);
	c->handshake_ok = !rc;
	cert_layouts(c);
	if (rc)
		return cert_set(r, CERT_FAIL, "handshake in QEMU's order with REPLY_ACK asked: %s",
				c->handshake_err);
	offered_figures(c, &f, r);
	r->status = CERT_PASS;
	if (handshake(c, no_ack, &again, err, sizeof(err)))
		lacks(r, "handshake without REPLY_ACK: %s", err);
	vhu_front_close(&again);
	if (!has(f.dev_protocol, VHU_PF_LOG_SHMFD))
		lacks(r, "LOG_SHMFD not offered: no shared dirty log, no migration");
	if (!has(f.dev_features, VHU_F_LOG_ALL))
		lacks(r, "LOG_ALL not offered: logging cannot be turned on");
	if (c->o->queues_given && c->o->queues > 1 &&
	    (!c->mq || c->queue_num < (uint32_t)c->o->queues))
		lacks(r, "%d queue pairs asked (--queues), the backend offers %u", c->o->queues,
		      c->mq ? c->queue_num : 1);
	if (c->mem_slots < VHU_MAX_REGIONS)
		lacks(r, "%u memory slots, fewer than the %d of SET_MEM_TABLE", c->mem_slots,
		      VHU_MAX_REGIONS);
	if (r->status == CERT_PASS)
		cert_set(r, CERT_PASS, "LOG_SHMFD, LOG_ALL, %u queue pairs, %u memory slots; "
			 "handshake taken with and without REPLY_ACK", c->mq ? c->queue_num : 1,
			 c->mem_slots);
}

/* ---- 2. log completeness ---------------------------------------------------- */

/* What a check made of one layout's migration. */
enum layout_verdict { LAYOUT_OK, LAYOUT_FAIL, LAYOUT_NONE /* nothing to judge */ };

/* Judges a layout's migration (made now if no check made it before), adding
 * to fig, and to r's evidence when it fails (or to note what a pass
 * excused). */
typedef enum layout_verdict (*layout_fn)(struct cert_result *r, const char *name,
					 const struct cert_mig *m, json_t *fig);

/* Pass with `ok`, keeping what the layouts noted on their way. */
static void pass_with_notes(struct cert_result *r, int tested, const char *ok)
{
	char notes[sizeof(r->evidence)];

	snprintf(notes, sizeof(notes), "%s", r->evidence);
	cert_set(r, CERT_PASS, "%d layouts: %s", tested, ok);
	if (notes[0])
		cert_add(r, "%s", notes);
}

/* Run fn over the layouts that could run; fail if any failed, skip if none
 * was judged, else pass with `ok`. */
static void over_layouts(struct cert_ctx *c, struct cert_result *r, layout_fn fn,
			 const char *ok, const char *none)
{
	json_t *arr = json_array();
	int tested = 0, failed = 0;
	char skipped[CERT_EVID_LEN] = "";

	r->evidence[0] = '\0';
	for (int i = 0; i < c->nmig; i++) {
		const struct cert_mig *m = cert_mig_get(c, i);
		json_t *fig = json_object();
		char name[64];
		size_t n = strlen(skipped);

		cert_layout_name(&m->l, name, sizeof(name));
		json_object_set_new(fig, "layout", json_string(name));
		if (m->skip[0] && n < sizeof(skipped)) {
			snprintf(skipped + n, sizeof(skipped) - n, "%s%s: %s", n ? "; " : "", name,
				 m->skip);
			json_object_set_new(fig, "skipped", json_string(m->skip));
		} else if (m->err[0]) {
			cert_add(r, "%s: %s", name, m->err);
			json_object_set_new(fig, "error", json_string(m->err));
			failed++;
		} else {
			enum layout_verdict v = fn(r, name, m, fig);

			tested += v == LAYOUT_OK;
			failed += v == LAYOUT_FAIL;
		}
		json_array_append_new(arr, fig);
	}
	json_object_set_new(r->figures, "layouts", arr);
	if (failed)
		r->status = CERT_FAIL;
	else if (!tested)
		cert_set(r, CERT_SKIP, "%s%s%s", none, skipped[0] ? "; skipped " : "", skipped);
	else
		pass_with_notes(r, tested, ok);
	if (failed || tested)
		if (skipped[0])
			cert_add(r, "skipped %s", skipped);
}

static enum layout_verdict log_layout(struct cert_result *r, const char *name,
				      const struct cert_mig *m, json_t *fig)
{
	cert_fig(fig, json_pack("{s:I, s:I, s:b, s:s, s:s, s:s}", "verify_passes",
				(json_int_t)m->verify_passes, "verify_findings",
				(json_int_t)m->verify_findings, "migrated", m->ok,
				"result", m->result, "digest_src", m->digest_src,
				"digest_dst", m->digest_dst));
	if (m->verify_findings)
		json_object_set_new(fig, "verify_first", json_string(m->verify_first));
	if (m->digests_differ)
		json_object_set_new(fig, "differing", json_string(m->differing));
	if (m->verify_findings)
		cert_add(r, "%s: verify: %llu pages changed unlogged, first %s", name,
			 (unsigned long long)m->verify_findings, m->verify_first);
	if (m->digests_differ)
		cert_add(r, "%s: digests differ: %s", name, m->differing);
	else if (!m->ok)
		cert_add(r, "%s: the migration failed: %s", name, m->result);
	return m->ok && !m->verify_findings && !m->digests_differ ? LAYOUT_OK : LAYOUT_FAIL;
}

void cert_check_log(struct cert_ctx *c, struct cert_result *r)
{
	const char *why = cert_cannot_migrate(c);

	if (why)
		return cert_set(r, CERT_SKIP, "%s", why);
	over_layouts(c, r, log_layout, "no unlogged write in verify mode, equal digests",
		     "no layout could run");
}

/* ---- 4. restart on SOCKET2 --------------------------------------------------- */

/* Frames lost or duplicated from the migration's start (c0) to the end of
 * the traffic on SOCKET2 (c2): what the switchover and the restart did.
 * Losses before the migration began are the datapath's, not the restart's:
 * a figure. So are frames the backend still held when the source was
 * stopped -- its quiesce ran out with them neither back nor written off (a
 * datapath that stalled for seconds): one it took before GET_VRING_BASE
 * went on into its switch, whose loopback then met a stopped port. Losses
 * up to that count are named in the evidence, not failed; one more is. */
static enum layout_verdict restart_layout(struct cert_result *r, const char *name,
					  const struct cert_mig *m, json_t *fig)
{
	const struct nd_counters *s = &m->c0, *a = &m->c1, *b = &m->c2;
	/* rx_lost goes down again when a written-off frame comes back late:
	 * fewer lost now than at the start is none lost since. */
	uint64_t lost = b->rx_lost > s->rx_lost ? b->rx_lost - s->rx_lost : 0;
	uint64_t dup = b->rx_dup > s->rx_dup ? b->rx_dup - s->rx_dup : 0;
	uint64_t held = lost < m->in_flight_at_stop ? lost : m->in_flight_at_stop;
	bool ok;

	if (!m->ok) {
		json_object_set_new(fig, "skipped", json_string("the migration failed (check 2)"));
		return LAYOUT_NONE;
	}
	/* A frame back after the driver wrote it off (rx_late: nothing came back
	 * for ND_LOSS_TIMEOUT_MS, e.g. a backend starved of CPU) was not lost:
	 * a figure too. */
	cert_fig(fig, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "tx_frames",
				(json_int_t)b->tx_frames, "rx_frames", (json_int_t)b->rx_frames,
				"rx_lost", (json_int_t)lost, "rx_dup", (json_int_t)dup,
				"lost_before_migration", (json_int_t)s->rx_lost,
				"rx_after_switchover", (json_int_t)(b->rx_frames - a->rx_frames),
				"rx_late", (json_int_t)b->rx_late, "all_back", m->quiesced));
	cert_fig(fig, json_pack("{s:I, s:I, s:f}", "in_flight_at_stop",
				(json_int_t)m->in_flight_at_stop, "lost_held_at_stop",
				(json_int_t)held, "quiesce_ms", m->quiesce_ms));
	ok = lost == held && !dup && m->quiesced && b->rx_frames > a->rx_frames;
	if (ok && held)
		cert_add(r, "%s: %llu frames lost that the backend still held at the stop "
			 "(%llu in flight after a %.0f ms quiesce): its datapath's, not the restart's",
			 name, (unsigned long long)held, (unsigned long long)m->in_flight_at_stop,
			 m->quiesce_ms);
	if (!ok)
		cert_add(r, "%s: %llu frames lost, %llu duplicated from the migration's start on, "
			 "%llu received after the switchover, %s", name, (unsigned long long)lost,
			 (unsigned long long)dup, (unsigned long long)(b->rx_frames - a->rx_frames),
			 m->quiesced ? "every frame back" : "frames still missing after 2 s");
	return ok ? LAYOUT_OK : LAYOUT_FAIL;
}

void cert_check_restart(struct cert_ctx *c, struct cert_result *r)
{
	const char *why = cert_cannot_migrate(c);

	if (why)
		return cert_set(r, CERT_SKIP, "%s", why);
	over_layouts(c, r, restart_layout, "rings continued on SOCKET2, no frame lost or duplicated",
		     "no migration succeeded (check 2): nothing restarted");
}

/* ---- 3. GET_VRING_BASE semantics -------------------------------------------- */

static void first_run(const struct lt_run *runs, size_t n, void *arg)
{
	uint64_t *first = arg;

	if (n && *first == UINT64_MAX)
		*first = runs[0].first;
}

/* Each ring's base as the backend gave it against where the driver stands
 * once it reaped what was used: equal, or buffers were taken and never
 * returned (or returned and not counted). */
static bool bases_agree(struct device *d, const uint32_t *got, struct cert_result *r,
			const char *kind, json_t *fig)
{
	uint32_t drv[DEV_MAX_RINGS];
	json_t *arr = json_array();
	bool ok = true;

	dev_driver_bases(d, drv);
	for (int i = 0; i < d->nrings; i++) {
		struct nd_queue *q = &d->drv.q[i / 2];
		const struct vring *v = i % 2 ? &q->tx : &q->rx;
		uint32_t full = vring_full_base(v, got[i]);

		json_array_append_new(arr, json_pack("{s:i, s:I, s:I, s:I}", "ring", i, "backend",
						     (json_int_t)got[i], "backend_full",
						     (json_int_t)full, "driver", (json_int_t)drv[i]));
		if (full == drv[i])
			continue;
		ok = false;
		if (v->packed)
			cert_add(r, "%s ring %d (%s): base 0x%08x (avail %u wrap %u, used %u wrap %u), "
				 "the driver stands at 0x%08x", kind, i, i % 2 ? "TX" : "RX", full,
				 full & 0x7fff, full >> 15 & 1, full >> 16 & 0x7fff, full >> 31,
				 drv[i]);
		else
			cert_add(r, "%s ring %d (%s): base %u but %u buffers used: %d taken and "
				 "never returned", kind, i, i % 2 ? "TX" : "RX", full & 0xffff,
				 drv[i] & 0xffff, (int16_t)(full - drv[i]));
	}
	json_object_set_new(fig, "bases", arr);
	return ok;
}

/* Stop a running device's rings as a migration does (guest paused, then
 * GET_VRING_BASE) and watch: the log and guest memory stay still after the
 * reply, and the bases account for every buffer. */
static bool stop_one(struct cert_ctx *c, bool packed, struct cert_result *r, json_t *fig)
{
	struct cert_layout l = { packed, 1, c->mrg, 1514, 20000 };
	const char *kind = packed ? "packed" : "split";
	struct lt_log log = { .fd = -1 };
	uint64_t first = UINT64_MAX, t0, dg0, dg1;
	struct lt_sync how = { .on_runs = first_run, .arg = &first };
	struct lt_sync_stats st = { 0 };
	uint32_t bases[DEV_MAX_RINGS];
	struct device *d = calloc(1, sizeof(*d));
	char err[CERT_ERR_LEN], page[160];
	bool ok = false;
	int rc;

	if (!d || cert_dev_open(c, d, c->o->sock, &l, err, sizeof(err))) {
		cert_add(r, "%s: %s", kind, d ? err : "out of memory");
		free(d);
		return false;
	}
	cert_sleep_ms(200);
	if ((rc = lt_log_create(&log, d->mem.top))) {
		cert_add(r, "%s: dirty log: %s", kind, strerror(-rc));
		goto out;
	}
	if ((rc = dev_log_start(d, &d->front, &log))) {
		cert_add(r, "%s: logging on: %s", kind, d->front.err);
		goto out;
	}
	cert_sleep_ms(200);
	dev_guest_pause(d, true);
	t0 = vhm_now_ns();
	rc = dev_backend_stop(d, &d->front, bases);
	json_object_set_new(fig, "get_vring_base_ms", json_real((double)(vhm_now_ns() - t0) / 1e6));
	if (rc) {
		cert_add(r, "%s: GET_VRING_BASE: %s", kind, d->front.err);
		goto resume;
	}
	lt_log_sync(&log, NULL, NULL);
	dg0 = gmem_digest(&d->mem, 0, 0);
	cert_sleep_ms(STOP_WATCH_MS);
	lt_log_sync(&log, &how, &st);
	dg1 = gmem_digest(&d->mem, 0, 0);
	json_object_set_new(fig, "pages_marked_after_reply", json_integer((json_int_t)st.pages));
	ok = true;
	if (st.pages) {
		cert_page_name(d, first, page, sizeof(page));
		cert_add(r, "%s: %llu pages marked in the log within %d ms after GET_VRING_BASE "
			 "replied, first %s", kind, (unsigned long long)st.pages, STOP_WATCH_MS,
			 page);
		ok = false;
	}
	if (dg0 != dg1) {
		cert_add(r, "%s: guest memory changed within %d ms after GET_VRING_BASE replied "
			 "(digest %016llx, then %016llx)", kind, STOP_WATCH_MS,
			 (unsigned long long)dg0, (unsigned long long)dg1);
		ok = false;
	}
	ok &= bases_agree(d, bases, r, kind, fig);
resume:
	dev_guest_pause(d, false);
out:
	dev_close(d);
	free(d);
	lt_log_destroy(&log);
	return ok;
}

/* Each ring kind is stopped STOP_ROUNDS times, each on a device of its own:
 * a backend that defers work (marks, writes) has it pending at most stops,
 * but one stop may come just after it caught up. */
void cert_check_stop(struct cert_ctx *c, struct cert_result *r)
{
	const char *why = cert_cannot_log(c);
	bool ok = true;
	int ran = 0;

	if (why)
		return cert_set(r, CERT_SKIP, "%s", why);
	r->evidence[0] = '\0';
	for (int k = 0; k < 2; k++) {
		bool packed = k == 1;
		json_t *rounds;

		if (!(c->o->rings & (packed ? CERT_RING_PACKED : CERT_RING_SPLIT)) ||
		    (packed && !c->packed))
			continue;
		rounds = json_array();
		for (int n = 0; n < STOP_ROUNDS; n++) {
			json_t *fig = json_object();

			ok &= stop_one(c, packed, r, fig);
			json_array_append_new(rounds, fig);
		}
		json_object_set_new(r->figures, packed ? "packed" : "split", rounds);
		ran++;
	}
	if (!ran)
		return cert_set(r, CERT_SKIP, "the backend offers no RING_PACKED (--ring packed)");
	if (ok)
		cert_set(r, CERT_PASS, "every buffer taken was returned; log and memory still "
			 "for %d ms after the reply (%d stops a ring kind)", STOP_WATCH_MS,
			 STOP_ROUNDS);
	else
		r->status = CERT_FAIL;
}

/* ---- 5. reconnect ------------------------------------------------------------ */

static int run_cmd(const char *cmd, char *err, size_t errlen)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return vhm_err(err, errlen, -errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return vhm_err(err, errlen, -errno, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return vhm_err(err, errlen, -ECHILD, "--restart-cmd '%s' %s %d", cmd,
			       WIFEXITED(st) ? "exited" : "was killed by signal",
			       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return 0;
}

static int reconnect(struct device *d, char *err, size_t errlen)
{
	uint64_t end = vhm_now_ns() + RECONNECT_WAIT_MS * 1000000ull;
	int rc;

	do {
		if (!(rc = dev_reconnect(d, 1000, err, errlen)))
			return 0;
		cert_sleep_ms(50);
	} while (vhm_now_ns() < end);
	return rc;
}

void cert_check_reconnect(struct cert_ctx *c, struct cert_result *r)
{
	struct cert_layout l = { one_ring_packed(c), 1, c->mrg, 64, 2000 };
	struct nd_counters a, b;
	struct device *d;
	char err[CERT_ERR_LEN];

	if (!c->o->restart_cmd)
		return cert_set(r, CERT_SKIP, "no --restart-cmd: give a command that restarts the "
				"backend at SOCKET");
	if (!c->handshake_ok)
		return cert_set(r, CERT_SKIP, "the handshake failed (check 1)");
	if (!(d = calloc(1, sizeof(*d))))
		return cert_set(r, CERT_FAIL, "out of memory");
	if (cert_dev_open(c, d, c->o->sock, &l, err, sizeof(err))) {
		cert_set(r, CERT_FAIL, "%s", err);
		goto out;
	}
	cert_sleep_ms(300);
	if (run_cmd(c->o->restart_cmd, err, sizeof(err)) || reconnect(d, err, sizeof(err))) {
		cert_set(r, CERT_FAIL, "%s", err);
		goto close;
	}
	netdrv_totals(&d->drv, &a);
	cert_sleep_ms(1000);
	netdrv_totals(&d->drv, &b);
	cert_fig(r->figures, json_pack("{s:I, s:I, s:I}", "rx_after_reconnect",
				       (json_int_t)(b.rx_frames - a.rx_frames), "rx_lost",
				       (json_int_t)b.rx_lost, "rx_dup", (json_int_t)b.rx_dup));
	if (b.rx_frames > a.rx_frames)
		cert_set(r, CERT_PASS, "rings restored from the driver's state; %llu frames "
			 "received in the second after the reconnect",
			 (unsigned long long)(b.rx_frames - a.rx_frames));
	else
		cert_set(r, CERT_FAIL, "reconnected, but no frame came back in the second after");
close:
	dev_close(d);
out:
	free(d);
}

/* ---- 6. SEND_RARP ------------------------------------------------------------ */

void cert_check_rarp(struct cert_ctx *c, struct cert_result *r)
{
	struct cert_layout l = { one_ring_packed(c), 1, c->mrg, 64, 200 };
	struct nd_counters a;
	struct device *d;
	uint8_t mac[6];
	uint64_t end;
	char err[CERT_ERR_LEN], want[18], got[18];

	if (!c->handshake_ok)
		return cert_set(r, CERT_SKIP, "the handshake failed (check 1)");
	if (!c->rarp)
		return cert_set(r, CERT_SKIP, "the backend does not take SEND_RARP (no "
				"PROTOCOL_F_RARP); the guest must announce itself");
	if (!(d = calloc(1, sizeof(*d))))
		return cert_set(r, CERT_FAIL, "out of memory");
	if (cert_dev_open(c, d, c->o->sock, &l, err, sizeof(err))) {
		cert_set(r, CERT_FAIL, "%s", err);
		goto out;
	}
	cert_sleep_ms(100);
	vhm_format_mac(d->cfg.mac, want);
	if (vhu_send_rarp(&d->front, d->cfg.mac)) {
		cert_set(r, CERT_FAIL, "SEND_RARP %s: %s", want, d->front.err);
		goto close;
	}
	end = vhm_now_ns() + RARP_WAIT_MS * 1000000ull;
	do {
		cert_sleep_ms(10);
		netdrv_totals(&d->drv, &a);
	} while (!a.rx_rarp && vhm_now_ns() < end);
	json_object_set_new(r->figures, "rx_rarp", json_integer((json_int_t)a.rx_rarp));
	if (!a.rx_rarp || !netdrv_rarp_mac(&d->drv, mac)) {
		cert_set(r, CERT_FAIL, "SEND_RARP %s taken, but no RARP frame reached the guest's RX "
			 "within %d ms", want, RARP_WAIT_MS);
		goto close;
	}
	vhm_format_mac(mac, got);
	if (memcmp(mac, d->cfg.mac, 6))
		cert_set(r, CERT_FAIL, "the RARP frame on the guest's RX came from %s, not %s", got,
			 want);
	else
		cert_set(r, CERT_PASS, "RARP from %s on the guest's RX", got);
close:
	dev_close(d);
out:
	free(d);
}

/* ---- 7. timings ------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median (the upper one of an even count) and the largest of v[0..n). */
static void median_max(double *v, int n, double *med, double *max)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	*med = v[n / 2];
	*max = v[n - 1];
}

/* Judged on the medians over the layouts' migrations: one migration slowed
 * by a busy machine (a busy-polling backend whose core was taken) is a
 * figure (the worst), a backend slow every time fails. */
void cert_check_timing(struct cert_ctx *c, struct cert_result *r)
{
	const char *why = cert_cannot_migrate(c);
	double stop[CERT_MAX_LAYOUTS], restart[CERT_MAX_LAYOUTS], sync[CERT_MAX_LAYOUTS];
	double st, st_max, rs, rs_max, sy, sy_max, rtt = c->rtt_ms > 0 ? c->rtt_ms : 0;
	int n = 0;

	if (why)
		return cert_set(r, CERT_SKIP, "%s", why);
	for (int i = 0; i < c->nmig; i++) {
		const struct cert_mig *m = cert_mig_get(c, i);

		if (!m->ok)
			continue;
		stop[n] = m->stop_ms;
		restart[n] = m->restart_ms;
		sync[n++] = m->sync_ms_per_gib;
	}
	if (!n)
		return cert_set(r, CERT_SKIP, "no migration succeeded (check 2): nothing to time");
	median_max(stop, n, &st, &st_max);
	median_max(restart, n, &rs, &rs_max);
	median_max(sync, n, &sy, &sy_max);
	cert_fig(r->figures, json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:i}", "migrations", n,
				       "round_trip_ms", rtt, "get_vring_base_ms", st,
				       "get_vring_base_worst_ms", st_max, "restart_ms", rs,
				       "restart_worst_ms", rs_max, "log_sync_ms_per_gib", sy,
				       "budget_ms", TIMING_BUDGET_MS));
	cert_set(r, st <= TIMING_BUDGET_MS && rs <= TIMING_BUDGET_MS ? CERT_PASS : CERT_FAIL,
		 "median of %d migrations: GET_VRING_BASE (all rings) %.1f ms = %.0fx a "
		 "GET_FEATURES round trip (%.3f ms), worst %.1f ms; restart on SOCKET2 %.1f ms = "
		 "%.0fx, worst %.1f ms; log sync %.2f ms/GiB; budget %d ms each", n, st,
		 rtt > 0 ? st / rtt : 0, rtt, st_max, rs, rtt > 0 ? rs / rtt : 0, rs_max, sy,
		 TIMING_BUDGET_MS);
}

/* ---- 8. hostile but legal ----------------------------------------------------- */

/* SET_LOG_BASE again with a log twice the size while logging runs, as QEMU
 * does when memory is hot-plugged: the backend's marks move to the new log. */
static bool log_resize(struct cert_ctx *c, struct cert_result *r, json_t *fig)
{
	struct cert_layout l = { one_ring_packed(c), 1, c->mrg, 1514, 20000 };
	struct lt_log a = { .fd = -1 }, b = { .fd = -1 };
	struct lt_sync_stats sa = { 0 }, sb = { 0 };
	struct device *d = calloc(1, sizeof(*d));
	char err[CERT_ERR_LEN];
	bool ok = false;
	int rc;

	if (!d || cert_dev_open(c, d, c->o->sock, &l, err, sizeof(err))) {
		cert_add(r, "log resize: %s", d ? err : "out of memory");
		free(d);
		return false;
	}
	if ((rc = lt_log_create(&a, d->mem.top)) || (rc = lt_log_create(&b, 2 * d->mem.top))) {
		cert_add(r, "log resize: dirty log: %s", strerror(-rc));
		goto out;
	}
	if ((rc = dev_log_start(d, &d->front, &a))) {
		cert_add(r, "log resize: logging on: %s", d->front.err);
		goto out;
	}
	cert_sleep_ms(200);
	if ((rc = vhu_set_log_base(&d->front, b.fd, b.nwords * 8, 0))) {
		cert_add(r, "log resize: SET_LOG_BASE of %zu bytes: %s", b.nwords * 8, d->front.err);
		goto out;
	}
	lt_log_sync(&a, NULL, NULL);
	cert_sleep_ms(300);
	lt_log_sync(&a, NULL, &sa);
	lt_log_sync(&b, NULL, &sb);
	cert_fig(fig, json_pack("{s:I, s:I}", "old_log_pages_after", (json_int_t)sa.pages,
				"new_log_pages", (json_int_t)sb.pages));
	ok = !sa.pages && sb.pages;
	if (sa.pages)
		cert_add(r, "log resize: %llu pages still marked in the old log after the new "
			 "SET_LOG_BASE was answered", (unsigned long long)sa.pages);
	if (!sb.pages)
		cert_add(r, "log resize: nothing marked in the new, larger log under traffic");
	dev_log_stop(d, &d->front);
out:
	dev_close(d);
	free(d);
	lt_log_destroy(&a);
	lt_log_destroy(&b);
	return ok;
}

/* One part of check 8: it passed, failed (evidence added), or could not run
 * because the backend does not offer what it needs (the reason in skip). */
enum sub_verdict { SUB_PASS, SUB_FAIL, SUB_SKIP };

/* Ring k of max_ring in mem: its addresses, and its indices at the base
 * (split: avail and used idx; a zeroed packed ring is empty at any base with
 * wrap counters 1). */
static int ring_lay(struct gmem *mem, uint32_t k, bool packed, struct vhu_vring_addr *a)
{
	uint64_t gpa = (uint64_t)k * RING_AREA;
	uint8_t *p = gmem_hva(mem, gpa, RING_AREA);

	if (!p)
		return -EFAULT;
	*a = (struct vhu_vring_addr){ .index = k, .desc = (uintptr_t)p,
				      .avail = (uintptr_t)p + RING_AREA / 2,
				      .used = (uintptr_t)p + RING_AREA / 2 + (128u << 10),
				      .log_guest_addr = gpa + RING_AREA / 2 + (128u << 10) };
	if (!packed) {
		uint16_t idx = (uint16_t)RING_SPLIT_BASE;

		memcpy(p + RING_AREA / 2 + 2, &idx, 2);                 /* avail->idx */
		memcpy(p + RING_AREA / 2 + (128u << 10) + 2, &idx, 2);  /* used->idx */
	}
	return 0;
}

/* Ring k set up with RING_MAX entries, as QEMU orders it; kick and call are
 * eventfds in fds[2k], fds[2k + 1]. */
static int ring_start(struct vhu_front *f, struct gmem *mem, uint32_t k, bool packed, int *fds)
{
	struct vhu_vring_addr a;
	int rc;

	if ((rc = ring_lay(mem, k, packed, &a)))
		return vhm_err(f->err, sizeof(f->err), rc, "ring %u outside guest memory", k);
	if ((fds[2 * k] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    (fds[2 * k + 1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return vhm_err(f->err, sizeof(f->err), -errno, "eventfd: %s", strerror(errno));
	if ((rc = vhu_set_vring_state(f, VHU_SET_VRING_NUM, k, RING_MAX)) ||
	    (rc = vhu_set_vring_state(f, VHU_SET_VRING_BASE, k,
				      packed ? RING_PACKED_BASE : RING_SPLIT_BASE)) ||
	    (rc = vhu_set_vring_addr(f, &a)) ||
	    (rc = vhu_set_vring_fd(f, VHU_SET_VRING_KICK, k, fds[2 * k])) ||
	    (rc = vhu_set_vring_fd(f, VHU_SET_VRING_CALL, k, fds[2 * k + 1])))
		return rc;
	if (has(f->acked_features, VHU_F_PROTOCOL_FEATURES))
		rc = vhu_set_vring_state(f, VHU_SET_VRING_ENABLE, k, 1);
	return rc;
}

/* A base as sent, from what GET_VRING_BASE gave: a packed base without its
 * used half (DPDK) has the used half equal to the avail half. */
static uint32_t base_full(bool packed, uint32_t b)
{
	return packed && !(b >> 16) ? b | b << 16 : b;
}

/* One queue pair of the largest size the virtio spec allows (32768), at
 * bases near the end of the ring, started (enabled, DRIVER_OK) and stopped
 * with nothing offered: the backend takes the size and gives the bases back
 * unchanged. */
static enum sub_verdict max_ring(struct cert_ctx *c, bool packed, struct cert_result *r,
				 json_t *fig)
{
	const char *kind = packed ? "packed" : "split";
	uint32_t idx[2] = { 0, 1 }, got[2] = { 0, 0 };
	uint32_t want = packed ? RING_PACKED_BASE : RING_SPLIT_BASE;
	uint64_t extra = packed ? 1ull << VHU_F_RING_PACKED : 0, v;
	int fds[4] = { -1, -1, -1, -1 }, rc;
	char err[CERT_ERR_LEN];
	struct vhu_front f;
	struct gmem mem;

	if ((rc = bare_open(c, vhu_front_default_protocol(), extra, BARE_MEM, &f, &mem, err,
			    sizeof(err)))) {
		cert_add(r, "%s ring of %u: %s", kind, RING_MAX, err);
		vhu_front_close(&f);
		return SUB_FAIL;
	}
	if ((rc = ring_start(&f, &mem, 0, packed, fds)) ||
	    (rc = ring_start(&f, &mem, 1, packed, fds)) ||
	    (vhu_front_has_pf(&f, VHU_PF_STATUS) &&
	     (rc = vhu_set_u64(&f, VHU_SET_STATUS, STATUS_ALL))))
		goto out;
	cert_sleep_ms(100);
	if ((rc = vhu_get_vring_bases(&f, idx, got, 2)))
		goto out;
	rc = vhu_get_u64(&f, VHU_GET_FEATURES, &v);
out:
	json_object_set_new(fig, packed ? "ring_max_packed_bases" : "ring_max_split_bases",
			    json_pack("[I, I]", (json_int_t)got[0], (json_int_t)got[1]));
	if (rc)
		cert_add(r, "%s ring of %u at base 0x%x: %s", kind, RING_MAX, want, f.err);
	for (int i = 0; !rc && i < 2; i++)
		if (base_full(packed, got[i]) != want) {
			cert_add(r, "%s ring of %u: GET_VRING_BASE of ring %d gave 0x%x, 0x%x was "
				 "set and nothing offered", kind, RING_MAX, i, got[i], want);
			rc = -EPROTO;
		}
	vhu_front_close(&f);
	gmem_destroy(&mem);
	for (int i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc ? SUB_FAIL : SUB_PASS;
}

/* GET_CONFIG of the whole config space the spec allows (256 bytes, offset
 * 0), where the backend offers PROTOCOL_F_CONFIG: answered in full, and the
 * connection healthy after. */
static enum sub_verdict full_config(struct cert_ctx *c, struct cert_result *r, char *skip,
				    size_t len)
{
	uint8_t cfg[VHU_MAX_CONFIG];
	char err[CERT_ERR_LEN];
	struct vhu_front f;
	struct gmem mem;
	uint64_t v;
	int rc;

	if ((rc = bare_open(c, vhu_front_default_protocol(), 0, BARE_MEM, &f, &mem, err,
			    sizeof(err)))) {
		cert_add(r, "config space: %s", err);
		vhu_front_close(&f);
		return SUB_FAIL;
	}
	if (!vhu_front_has_pf(&f, VHU_PF_CONFIG)) {
		snprintf(skip, len, "config space: skipped: no PROTOCOL_F_CONFIG");
	} else if ((rc = vhu_get_config(&f, 0, VHU_MAX_CONFIG, cfg)) ||
		   (rc = vhu_get_u64(&f, VHU_GET_FEATURES, &v))) {
		cert_add(r, "config space: GET_CONFIG of %d bytes at offset 0: %s", VHU_MAX_CONFIG,
			 f.err);
	}
	vhu_front_close(&f);
	gmem_destroy(&mem);
	return rc ? SUB_FAIL : skip[0] ? SUB_SKIP : SUB_PASS;
}

/* Region k of all_slots: 2 MiB less a page at guest 4 GiB + k * 3 MiB + 4 KiB,
 * backed at offset k * 2 MiB + 4 KiB of one memfd: neither aligned to a huge
 * page nor starting at a region's first page. */
static struct vhu_mem_region odd_region(uint32_t k)
{
	return (struct vhu_mem_region){
		.guest_phys_addr = (4ull << 30) + k * (3ull << 20) + 4096,
		.memory_size = HOSTILE_REGION - 4096,
		.userspace_addr = 0x7f0000000000ull + (uint64_t)k * HOSTILE_REGION + 4096,
		.mmap_offset = (uint64_t)k * HOSTILE_REGION + 4096,
	};
}

/* SET_MEM_TABLE with VHU_MAX_REGIONS odd regions, then every further slot
 * the backend offers (GET_MAX_MEM_SLOTS, with CONFIGURE_MEM_SLOTS) with
 * ADD_MEM_REG, up to QEMU's 512; the connection must stay healthy (a
 * GET_FEATURES answered after). */
static enum sub_verdict all_slots(struct cert_ctx *c, struct cert_result *r, json_t *fig,
				  char *skip, size_t len)
{
	uint32_t slots = c->mem_slots > HOSTILE_MAX_SLOTS ? HOSTILE_MAX_SLOTS : c->mem_slots, n = 0;
	uint32_t nt = slots < VHU_MAX_REGIONS ? slots : VHU_MAX_REGIONS;
	struct vhu_mem_region reg[VHU_MAX_REGIONS];
	int fds[VHU_MAX_REGIONS], fd = -1, rc;
	struct vhu_front f;
	uint64_t v;

	if ((rc = vhu_front_connect(&f, c->o->sock, c->o->timeout_ms)) ||
	    (rc = vhu_front_negotiate(&f, vhu_front_default_protocol())) ||
	    (rc = vhu_set_features(&f, f.dev_features & (1ull << VHU_F_VERSION_1 |
							 1ull << VHU_F_PROTOCOL_FEATURES))))
		goto out;
	if ((fd = memfd_create("vhm-certify", MFD_CLOEXEC)) < 0 ||
	    ftruncate(fd, (off_t)slots * HOSTILE_REGION)) {
		rc = -errno;
		snprintf(f.err, sizeof(f.err), "guest memory: %s", strerror(errno));
		goto out;
	}
	for (uint32_t k = 0; k < nt; k++) {
		reg[k] = odd_region(k);
		fds[k] = fd;
	}
	if ((rc = vhu_set_mem_table(&f, reg, fds, (int)nt)))
		goto out;
	n = nt;
	if (!vhu_front_has_pf(&f, VHU_PF_CONFIGURE_MEM_SLOTS))
		snprintf(skip, len, "slots past %u: skipped: no PROTOCOL_F_CONFIGURE_MEM_SLOTS", nt);
	for (uint32_t k = nt; k < slots && !skip[0]; k++) {
		struct vhu_mem_region m = odd_region(k);

		if ((rc = vhu_add_mem_reg(&f, &m, fd)))
			goto out;
		n++;
	}
	rc = vhu_get_u64(&f, VHU_GET_FEATURES, &v);
out:
	if (fd >= 0)
		close(fd);
	json_object_set_new(fig, "regions", json_integer(n));
	if (rc)
		cert_add(r, "memory slots: after %u regions: %s", n, f.err);
	vhu_front_close(&f);
	return rc ? SUB_FAIL : SUB_PASS;
}

/* A sub-check's skip reason added to the list of them. */
static void skipped(char *list, size_t len, const char *why)
{
	size_t n = strlen(list);

	if (why[0] && n < len)
		snprintf(list + n, len - n, "; %s", why);
}

/* The rings of 32768 last: a backend busy tearing down such a device (a
 * testpmd sharing its core) must not cost the log resize its traffic. */
void cert_check_hostile(struct cert_ctx *c, struct cert_result *r)
{
	const char *why = cert_cannot_log(c);
	char skips[CERT_EVID_LEN / 2] = "", one[160] = "", cfg[160] = "", rings[128] = "";
	json_t *fig = json_object();
	bool ok = true, packed = (c->o->rings & CERT_RING_PACKED) && c->packed;

	if (why) {
		json_decref(fig);
		return cert_set(r, CERT_SKIP, "%s", why);
	}
	r->evidence[0] = '\0';
	ok &= log_resize(c, r, fig);
	ok &= all_slots(c, r, fig, one, sizeof(one)) != SUB_FAIL;
	skipped(skips, sizeof(skips), one);
	ok &= full_config(c, r, cfg, sizeof(cfg)) != SUB_FAIL;
	skipped(skips, sizeof(skips), cfg);
	if (c->o->rings & CERT_RING_SPLIT)
		ok &= max_ring(c, false, r, fig) != SUB_FAIL;
	if (packed)
		ok &= max_ring(c, true, r, fig) != SUB_FAIL;
	else if (c->o->rings & CERT_RING_PACKED)
		skipped(skips, sizeof(skips), "packed ring of 32768: skipped: no RING_PACKED");
	json_object_update(r->figures, fig);
	json_decref(fig);
	if (!ok) {
		r->status = CERT_FAIL;
		return;
	}
	if (c->o->rings & CERT_RING_SPLIT || packed)
		snprintf(rings, sizeof(rings), "; %s%s%s rings of %u at bases near the wrap taken "
			 "and given back", c->o->rings & CERT_RING_SPLIT ? "split" : "",
			 (c->o->rings & CERT_RING_SPLIT) && packed ? " and " : "",
			 packed ? "packed" : "", RING_MAX);
	cert_set(r, CERT_PASS, "log base doubled mid-run: marks moved to the new log; %u memory "
		 "slots at unaligned addresses and offsets taken%s%s",
		 c->mem_slots > HOSTILE_MAX_SLOTS ? HOSTILE_MAX_SLOTS : c->mem_slots,
		 cfg[0] ? "" : "; config space read whole (256 bytes)", rings);
	if (skips[0])
		cert_add(r, "%s", skips + 2);
}
