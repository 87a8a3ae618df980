/* SPDX-License-Identifier: MIT */
/* The migration's phases, from setup to announce, each with its rollback:
 * log start, pre-copy passes, the switchover (pause, stop, last copy,
 * digests, destination start) and RARP.
 *
 * What is copied when:
 *   - first pass: every page of every region that holds data (memfd holes
 *     and all-zero pages are skipped: the destination's fresh memfd reads
 *     zero there anyway);
 *   - iterations: the pages set in the backend's log (RX buffers, used
 *     rings, used packed descriptors) OR the guest-side bitmap (the memory
 *     writer's pages and the driver's own writes: descriptors, avail rings,
 *     TX frames — what KVM's dirty log tracks for a VM's vCPUs), merged into
 *     one bitmap by lt_log_sync;
 *   - switchover: the last merged bitmap, and nothing else. What the
 *     backend wrote reaches the destination only through its log, so
 *     comparing both memories proves the backend's log: a write it did not
 *     log leaves the copies different and the report names the pages
 *     (mig_diff.h). With --verify=sync the digests are compared before the
 *     destination starts and a difference rolls back; by default the ring
 *     pages are compared there and the rest after the guest resumed on the
 *     destination, which logs from its start (mig_verify.h).
 *
 * The destination's part of each phase goes through struct mig_dst_ops:
 * local_ops (a backend of this process: the copies above, a hot swap, a
 * `listen:` destination) or stream_ops (another vhm process behind a
 * migration stream, mig_sout.h: the "copies" are the stream's runs, the
 * proof the destination's digest check, RUNNING the commit point). The
 * local operations (local_*) sit beside the phases they came from; the
 * stream's (stream_*) are together, before mig_run. */
#include "migrate.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lt_log.h"
#include "lt_predict.h"
#include "mig_dest.h"
#include "mig_diff.h"
#include "mig_snet.h"
#include "mig_sout.h"
#include "mig_verify.h"
#include "rarp_announce.h"
#include "rarp_frame.h"
#include "util.h"

#define PAGE        GMEM_PAGE_SIZE
#define MIG_QUIESCE_MS     5000   /* frames in flight get this long to come back */
#define MIG_SETTLE_STEP_US 250    /* RX settle check period */
#define MIG_SETTLE_QUIET   4      /* unchanged checks in a row: settled */
#define MIG_SETTLE_MAX_US  20000  /* give up waiting after this */
#define MIG_LIVE_NS  (250 * 1000000ull)  /* pre-copy checks both backends this often */
#define MIG_SOURCE_LOST    1      /* precopy's return: hand the device over now */
#define MIG_SERVE_NS (10 * 1000000ull)   /* backend channels served this often between requests */

struct mig;

/* The destination a migration copies to, behind one set of operations: a
 * backend this process drives (local_ops: a copy of guest memory in this
 * process, or in a hot swap the device's own memory; `--to SOCKET`,
 * `listen:PATH`) or another vhm process reached by a migration stream
 * (stream_ops, mig_sout.h: `--to tcp:HOST:PORT`). The phases below keep
 * the source's part -- the dirty log, the passes, convergence, stopping the
 * source's rings, the rollback -- and ask these for the destination's. */
struct mig_dst_ops {
	int (*open)(struct mig *m);             /* reach it; can it run the device? */
	int (*prepare)(struct mig *m);          /* its memory, before logging starts */
	uint64_t (*copy_all)(struct mig *m);    /* first pass: pages with data sent */
	uint64_t (*copy_dirty)(struct mig *m, bool capped);   /* m->bm's pages, cleared */
	int (*pass_end)(struct mig *m);         /* a pre-copy pass ended */
	int (*proof)(struct mig *m);            /* source stopped, last copy made: the
						 * device state and the check in the window */
	void (*bases_ahead)(struct mig *m);     /* m->bases known: sent before the last
						 * copy, or NULL (start sends them) */
	int (*start)(struct mig *m);            /* run from m->bases: the commit point */
	void (*adopt)(struct mig *m, uint64_t t_resume);   /* the device after the commit */
	void (*drop)(struct mig *m);            /* rollback: let it go */
	bool (*gone)(struct mig *m);            /* closed on us? (m->dst_why says how) */
};

/* Everything one migration holds; undone by rollback / cleanup. */
struct mig {
	struct device *d;
	const struct mig_params *p;
	struct mig_report *rep;
	mig_progress_fn progress;
	void *ctx;
	const struct mig_dst_ops *ops;
	struct mig_sout out;       /* stream_ops: the connection */
	char dst_why[320];         /* how the destination was lost (ops->gone) */
	uint64_t stream_digest;    /* stream_ops: the source's, sent at SWITCHOVER */
	bool past_go;              /* stream_ops: GO sent; the source never resumes */
	int nice_before;           /* the migrating thread's, before boost() */

	struct vhu_front dst;
	const char *to_path;       /* p->to without "listen:" */
	bool to_listen;            /* vhm listens there: dst_lis */
	struct dev_listener dst_lis;
	struct gmem dst_mem;
	struct lt_log log;
	uint64_t *bm;              /* merged dirty bitmap, log.nwords words */
	uint32_t bases[DEV_MAX_RINGS];
	struct dev_staged dst_staged;      /* local_ops: the destination's rings before the start */
	uint64_t tb_start_ns, tb_bytes;   /* bandwidth cap accounting */
	struct mig_progress prog;  /* what each event's "progress" says (emit) */
	bool dst_open, dst_mem_made, log_made, logging, paused, src_stopped, rebased;
	/* Liveness, checked during pre-copy only (the requests of the other
	 * phases find a dead peer by their replies). */
	bool live;                 /* pre-copy is running: check */
	uint64_t live_next_ns;
	bool src_lost, dst_lost;
	uint64_t serve_next_ns;    /* serve_channels */
	/* after-resume proof (mig_verify.h) */
	struct lt_log dst_log;     /* the destination's log, from its start */
	struct gmem src_kept;      /* the source's memory, frozen, until proved */
	bool dst_log_made;
};

/* Is guest memory copied to the destination (a migration), or does the
 * destination map the device's own memfds (a hot swap, p->shared_memory)?
 * Logging, pre-copy, the last copy and the digests exist only when copied. */
static bool copying(const struct mig *m)
{
	return !m->p->shared_memory;
}

/* The memory the destination runs on. */
static struct gmem *dst_memory(struct mig *m)
{
	return copying(m) ? &m->dst_mem : &m->d->mem;
}

static double ms_since(uint64_t t0)
{
	return (double)(vhm_now_ns() - t0) / 1e6;
}

/* Pages dirtied since the last sync and not yet copied: the bits set in the
 * backend's log, the writer's bitmap and the merge bitmap, read without
 * clearing (a racy read: a bit set meanwhile shows in the next event). */
static uint64_t peek_dirty(const struct mig *m)
{
	const struct lt_log *gw = &m->d->gw.dirty;
	uint64_t n = 0;

	for (size_t i = 0; m->bm && i < m->log.nwords; i++) {
		uint64_t w = __atomic_load_n(&m->log.words[i], __ATOMIC_RELAXED) | m->bm[i];

		if (i < gw->nwords)
			w |= __atomic_load_n(&gw->words[i], __ATOMIC_RELAXED);
		n += (uint64_t)__builtin_popcountll(w);
	}
	return n;
}

/* Bring m->prog up to date as `phase` is reported. The rate is the pre-copy's
 * average since logging started; the expected downtime is what is left at
 * that rate (QEMU's expected-downtime); remaining is the guest memory until
 * the first pass is done, then the dirty pages waiting for the next pass. */
static void progress_update(struct mig *m, const char *phase)
{
	struct mig_progress *g = &m->prog;
	uint64_t now = vhm_now_ns(), dirty;
	double copy_s;

	if (!strcmp(phase, "pre-copy"))
		g->pass_bytes = 0;         /* now in rep->bytes_copied */
	g->total_bytes = m->d->mem.total;
	g->sent_bytes = m->rep->bytes_copied + g->pass_bytes;
	g->zero_pages = m->rep->zero_pages;
	g->elapsed_ms = (double)(now - g->start_ns) / 1e6;
	if (!g->pass)
		g->remaining_bytes = g->total_bytes - (g->sent_bytes < g->total_bytes ?
						       g->sent_bytes : g->total_bytes);
	if (!strcmp(phase, "log-start")) {
		g->setup_ms = m->rep->setup_ms = g->elapsed_ms;
		g->copy_start_ns = now;
	}
	if (!strcmp(phase, "pre-copy")) {
		g->pass++;
		dirty = peek_dirty(m);
		g->remaining_bytes = dirty * PAGE;
		g->dirty_pages_rate = (double)dirty * 1e9 / (double)(now - g->sync_ns + 1);
	}
	if (!strcmp(phase, "switchover") || !strcmp(phase, "done"))
		g->remaining_bytes = 0;
	if (strcmp(phase, "progress"))     /* a tick is no pass boundary */
		g->sync_ns = now;
	g->stream = m->rep->verify == MIG_VERIFY_STREAM;   /* set by stream_open */
	if (g->stream) {
		g->stream_bytes = mig_sout_bytes(&m->out);
		g->stream_conns = mig_sout_conns(&m->out);
	}
	copy_s = g->copy_start_ns ? (double)(now - g->copy_start_ns) / 1e9 : 0;
	g->rate = copy_s > 0 ? (double)g->sent_bytes / copy_s : 0;
	g->expected_downtime_ms = g->rate > 0 ? (double)g->remaining_bytes * 1000.0 / g->rate : 0;
}

static void emit(struct mig *m, const char *phase, json_t *data)
{
	if (!m->progress) {
		json_decref(data);
		return;
	}
	if (!data)
		data = json_object();
	progress_update(m, phase);
	json_object_set_new(data, "progress", mig_progress_json(&m->prog));
	m->progress(m->ctx, phase, data);
}

#define MIG_TICK_NS 250000000ull   /* live progress at most this often */

/* Within a long copy (the first pass): bytes copied so far in it, passed on
 * as a "progress" tick at most every MIG_TICK_NS -- no phase, no event:
 * mig_job keeps it for migrate-status and query-migrate. */
static void progress_tick(struct mig *m, uint64_t bytes)
{
	struct mig_progress *g = &m->prog;
	uint64_t now;

	g->pass_bytes += bytes;
	if (!m->progress)
		return;
	now = vhm_now_ns();
	if (now - g->tick_ns < MIG_TICK_NS)
		return;
	g->tick_ns = now;
	progress_update(m, "progress");
	m->progress(m->ctx, "progress", json_pack("{s:o}", "progress", mig_progress_json(g)));
}

static int fail(struct mig *m, const char *phase, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct mig *m, const char *phase, int rc, const char *fmt, ...)
{
	char cause[sizeof(m->rep->result) - 16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cause, sizeof(cause), fmt, ap);
	va_end(ap);
	snprintf(m->rep->phase, sizeof(m->rep->phase), "%s", phase);
	snprintf(m->rep->result, sizeof(m->rep->result), "%s: %s", phase, cause);
	return rc ? rc : -EIO;
}

static bool cancelled(const struct mig *m)
{
	return m->p->cancel && atomic_load_explicit(m->p->cancel, memory_order_relaxed);
}

/* -ECANCELED with the report naming the phase, or 0. */
static int check_cancel(struct mig *m, const char *phase)
{
	if (!cancelled(m))
		return 0;
	return fail(m, phase, -ECANCELED, "cancelled by the operator");
}

/* During pre-copy, at most every MIG_LIVE_NS: are both backends there?
 * Records m->src_lost and m->dst_lost. */
static void check_live(struct mig *m)
{
	uint64_t now;

	if (!m->live)
		return;
	now = vhm_now_ns();
	if (now < m->live_next_ns)
		return;
	m->live_next_ns = now + MIG_LIVE_NS;
	m->src_lost |= vhu_front_peer_gone(&m->d->front);
	m->dst_lost |= m->ops->gone(m);
}

/* Between requests -- a pre-copy, or a capped last copy, sends none for
 * seconds -- a backend may ask something on its backend channel and wait
 * for the answer with its message loop blocked (DPDK does): both backends'
 * channels are served every MIG_SERVE_NS. (While vhm waits for a reply,
 * vhu_front serves them.) */
static void serve_channels(struct mig *m)
{
	uint64_t now = vhm_now_ns();

	if (now < m->serve_next_ns)
		return;
	m->serve_next_ns = now + MIG_SERVE_NS;
	if (!m->d->front.broken)
		vhu_front_serve_backend(&m->d->front);
	if (m->dst_open && !m->dst.broken)
		vhu_front_serve_backend(&m->dst);
}

static void serve_idle(void *m)
{
	serve_channels(m);
}

/* Stop the first pass (the whole memory): cancelled, or the destination
 * gone -- a pass to a dead destination stops within MIG_LIVE_NS instead of
 * running to its end. A dead source does not stop it: the destination needs
 * the whole of it to take the device over. */
static bool stopping(struct mig *m)
{
	serve_channels(m);
	check_live(m);
	return cancelled(m) || m->dst_lost;
}

/* Stop a later pass: a backend gone. What the pass did not copy stays in
 * m->bm, for the hand-over's last copy. */
static bool lost(struct mig *m)
{
	serve_channels(m);
	check_live(m);
	return m->src_lost || m->dst_lost;
}

/* After a pre-copy pass: the destination lost fails the migration (the
 * device stays on its source); the source lost hands the device over to the
 * destination at once (MIG_SOURCE_LOST), which is ready: its memory holds
 * the copy, the log holds what the source wrote before it died. */
static int check_peers(struct mig *m)
{
	if (m->dst_lost)
		return fail(m, "pre-copy", -ECONNRESET, "%s", m->dst_why);
	if (m->src_lost) {
		m->d->front.broken = true;
		return MIG_SOURCE_LOST;
	}
	return 0;
}

/* The cap counts from the start of each copy pass: time spent between
 * passes (syncs, the switchover's quiesce and stop) carries no credit, or
 * the next pass would burst past the cap to catch up with it, which a link
 * of that bandwidth cannot do. Within a pass, time the copy did not use
 * (the destination's memory being faulted in, an oversleep) is caught up,
 * so that a pass of N bytes takes N / bandwidth as the prediction assumes. */
static void throttle_restart(struct mig *m)
{
	m->tb_start_ns = vhm_now_ns();
	m->tb_bytes = 0;
}

/* Keep the pre-copy under p->bandwidth bytes/s: sleep off any lead. */
static void throttle(struct mig *m, uint64_t bytes)
{
	uint64_t due_ns, spent;

	if (!m->p->bandwidth)
		return;
	if (!m->tb_start_ns)
		m->tb_start_ns = vhm_now_ns();
	m->tb_bytes += bytes;
	due_ns = (uint64_t)((double)m->tb_bytes * 1e9 / (double)m->p->bandwidth);
	spent = vhm_now_ns() - m->tb_start_ns;
	if (due_ns > spent)
		usleep((useconds_t)((due_ns - spent) / 1000));
}

/* ---- copying --------------------------------------------------------------- */

/* Copy one guest page (gpa page number) from the device's memory to the
 * destination's. Pages in the hole are ignored. */
static bool copy_page(struct mig *m, uint64_t pfn)
{
	const void *s = gmem_hva(&m->d->mem, pfn * PAGE, PAGE);
	void *t = gmem_hva(&m->dst_mem, pfn * PAGE, PAGE);

	if (!s || !t)
		return false;
	gmem_copy_racy(t, s, PAGE);   /* the guest may be writing it (gmem.h) */
	return true;
}

/* The first pass is cut in chunks of at most COPY_CHUNK bytes of the
 * memory's data extents, which the copy threads take in turn from one
 * cursor, so a thread that gets less CPU (a helper on a core the backends'
 * pollers share) takes fewer of them instead of holding the pass up with
 * half the memory. The extents are listed once, before the pass: a look for
 * them per chunk would cost a walk to the extent's end each time. */
#define COPY_CHUNK (2ull << 20)

struct chunk {
	int region;
	uint64_t off, end;      /* bytes from the region start */
};

/* What the copy threads share: the chunks, the cursor and the halt. Written
 * before the helper starts, read-only after, but for the two atomics. */
struct chunks {
	struct chunk *c;
	size_t n, cap;
	int region;                             /* while listing */
	bool short_of_memory;                   /* listing: a chunk went unlisted */
	atomic_size_t next;                     /* the next chunk to take */
	atomic_bool halt;                       /* the owner saw the pass must stop */
};

static void list_extent(const struct gmem_region *r, uint64_t off, uint64_t end, void *arg)
{
	struct chunks *ck = arg;

	(void)r;
	for (; off < end; off += COPY_CHUNK) {
		if (ck->n == ck->cap) {
			size_t cap = ck->cap ? ck->cap * 2 : 64;
			struct chunk *c = realloc(ck->c, cap * sizeof(*c));

			if (!c) {
				ck->short_of_memory = true;
				return;
			}
			ck->c = c;
			ck->cap = cap;
		}
		ck->c[ck->n++] = (struct chunk){ ck->region, off,
						 end - off > COPY_CHUNK ? off + COPY_CHUNK : end };
	}
}

/* The chunks of every region's data extents, in order. -ENOMEM. */
static int list_chunks(const struct gmem *mem, struct chunks *ck)
{
	for (ck->region = 0; ck->region < mem->n; ck->region++)
		gmem_for_data(&mem->r[ck->region], list_extent, ck);
	return ck->short_of_memory ? -ENOMEM : 0;
}

/* One copy thread. The migration thread owns everything but its copies
 * (throttle, progress, liveness: it sets halt when the pass must stop); a
 * helper thread (p->copy_threads 2, no bandwidth cap) reads only the two
 * memories' maps, which stay fixed while the pass runs, and the chunks. */
struct full_copy {
	struct mig *m;
	struct chunks *ck;
	int region;             /* of the chunk being copied */
	bool helper;
	uint64_t copied;
	unsigned batch;         /* pages since the last throttle: counted across
				 * extents, or short runs of data escape the cap */
	unsigned looked;        /* pages since the pass began (copy_stops) */
};

#define THROTTLE_PAGES   64   /* pages between bandwidth/progress checks */
#define STOP_CHECK_PAGES 16   /* pages between the owner's looks at cancel and peers */

/* Should this thread stop now? The owner decides for both, every
 * STOP_CHECK_PAGES pages: its look reads the clock twice (stopping), a
 * tenth of what a page's copy costs. */
static bool copy_stops(struct full_copy *fc)
{
	if (fc->helper)
		return atomic_load_explicit(&fc->ck->halt, memory_order_relaxed);
	if (++fc->looked % STOP_CHECK_PAGES || !stopping(fc->m))
		return false;
	atomic_store(&fc->ck->halt, true);
	return true;
}

/* Every 64 pages copied: the cap and the progress (the owner's pages). */
static void copy_batch(struct full_copy *fc)
{
	if (++fc->batch < THROTTLE_PAGES)
		return;
	fc->batch = 0;
	if (fc->helper)
		return;
	throttle(fc->m, THROTTLE_PAGES * PAGE);
	progress_tick(fc->m, THROTTLE_PAGES * PAGE);
}

static void copy_extent(const struct gmem_region *r, uint64_t off, uint64_t end, void *arg)
{
	struct full_copy *fc = arg;
	uint8_t *dst = fc->m->dst_mem.r[fc->region].hva;

	for (; off < end && !copy_stops(fc); off += PAGE) {
		/* the guest may be writing these pages (gmem.h); a zero page
		 * writes zeros where the fresh destination has them already,
		 * and counts as a zero page, not as copied */
		if (!gmem_stream_data_racy(dst + off, r->hva + off, PAGE))
			continue;
		fc->copied++;
		copy_batch(fc);
	}
	gmem_stream_fence();    /* the chunk's stores before the next one's, or the join */
}

/* Take chunks until none is left (or the pass stops), and copy them. */
static void copy_chunks(struct full_copy *fc)
{
	struct chunks *ck = fc->ck;

	while (!atomic_load_explicit(&ck->halt, memory_order_relaxed)) {
		size_t k = atomic_fetch_add(&ck->next, 1);

		if (k >= ck->n)
			return;
		fc->region = ck->c[k].region;
		copy_extent(&fc->m->d->mem.r[fc->region], ck->c[k].off, ck->c[k].end, fc);
	}
}

static void *copy_helper_main(void *arg)
{
	copy_chunks(arg);
	return NULL;
}

/* The first pass: pages copied. With two copy threads (and no cap, which
 * one thread meets) a helper takes chunks beside the migration thread.
 * Without memory for the list of chunks, this thread walks the extents. */
static uint64_t copy_all(struct mig *m)
{
	struct chunks ck = { .c = NULL };
	struct full_copy fc = { .m = m, .ck = &ck };
	struct full_copy hc = { .m = m, .ck = &ck, .helper = true };
	bool two = m->p->copy_threads > 1 && !m->p->bandwidth;
	pthread_t t;

	atomic_init(&ck.next, 0);
	atomic_init(&ck.halt, false);
	throttle_restart(m);
	if (list_chunks(&m->d->mem, &ck)) {
		for (fc.region = 0; fc.region < m->d->mem.n && !atomic_load(&ck.halt); fc.region++)
			gmem_for_data(&m->d->mem.r[fc.region], copy_extent, &fc);
		free(ck.c);
		return fc.copied;
	}
	two = two && vhm_thread_start(&t, copy_helper_main, &hc) == 0;
	if (two)
		pthread_setname_np(t, "vhm-copy");
	copy_chunks(&fc);
	if (two)
		pthread_join(t, NULL);
	free(ck.c);
	return fc.copied + hc.copied;
}

/* Sync the backend's log and the writer's bitmap into m->bm. */
static void sync_dirty(struct mig *m)
{
	struct lt_sync how = { .merge = m->bm, .merge_words = m->log.nwords };

	lt_log_sync(&m->log, &how, NULL);
	lt_log_sync(&m->d->gw.dirty, &how, NULL);
}

static uint64_t pending(const struct mig *m)
{
	uint64_t n = 0;

	for (size_t i = 0; i < m->log.nwords; i++)
		n += (uint64_t)__builtin_popcountll(m->bm[i]);
	return n;
}

/* Words of the bitmap between two looks at the backends' channels in the
 * switchover's uncapped copy: 4096 pages, a few ms of copying at most. A
 * look reads the clock (~90 ns here): one a word would be 4096 reads, ~0.4
 * ms, in a 1 GiB guest's downtime. */
#define SERVE_WORDS 64

/* Copy and clear every page of m->bm, under the bandwidth cap when
 * `capped` (pre-copy; the switchover copies at full speed). Pages copied. */
static uint64_t copy_dirty(struct mig *m, bool capped)
{
	uint64_t n = 0;

	throttle_restart(m);
	for (size_t i = 0; i < m->log.nwords && !(m->live && lost(m)); i++) {
		uint64_t w = m->bm[i], before = n;

		if (capped || i % SERVE_WORDS == 0)
			serve_channels(m);   /* the switchover's copy too, when capped */
		m->bm[i] = 0;
		while (w) {
			unsigned b = (unsigned)__builtin_ctzll(w);

			w &= w - 1;
			n += copy_page(m, i * 64 + b);
		}
		if (capped && n != before)
			throttle(m, (n - before) * PAGE);
	}
	return n;
}

/* ---- phases ------------------------------------------------------------------ */

static int setup(struct mig *m)
{
	struct device *d = m->d;
	int rc;

	if (dev_state(d) != DEV_RUNNING)
		return fail(m, "setup", -EBUSY, "device is %s, not running",
			    dev_state_name(dev_state(d)));
	if (strlen(m->to_path) >= sizeof(d->backend))
		return fail(m, "setup", -ENAMETOOLONG, "destination path too long");
	if (copying(m) && !vhu_front_has_pf(&d->front, VHU_PF_LOG_SHMFD))
		return fail(m, "setup", -ENOTSUP, "source %s lacks LOG_SHMFD", d->front.path);
	if (copying(m) && !((d->front.dev_features >> VHU_F_LOG_ALL) & 1))
		return fail(m, "setup", -ENOTSUP, "source %s lacks LOG_ALL", d->front.path);
	if ((rc = m->ops->open(m)))
		return rc;
	emit(m, "setup", json_pack("{s:s, s:s, s:b}", "from", d->backend, "to", m->p->to,
				   "shared_memory", !copying(m)));
	return 0;
}

/* A backend of this process: connected, negotiated, able to run the
 * device with its features and queue pairs. */
static int local_open(struct mig *m)
{
	struct device *d = m->d;
	/* a listening destination may take seconds to connect */
	const struct mig_dest_wait wait = { .cancel = m->p->cancel, .idle = serve_idle, .ctx = m };
	uint64_t feat;
	char err[256];
	int rc;

	if (!strcmp(m->to_path, d->backend))
		return fail(m, "setup", -EINVAL, "destination is the source (%s)", m->to_path);
	m->dst.sock = m->dst.breq_sock = -1;
	rc = mig_dest_connect(&m->dst, &m->dst_lis, m->p->to, d->cfg.timeout_ms, &wait, err,
			      sizeof(err));
	if (rc)
		return fail(m, "setup", rc, "%s", err);
	m->dst_open = true;
	if ((rc = vhu_front_negotiate(&m->dst, vhu_front_default_protocol())))
		return fail(m, "setup", rc, "%s", m->dst.err);
	if ((rc = dev_choose_features(d, &m->dst, &feat, err, sizeof(err))))
		return fail(m, "setup", rc, "%s", err);
	if (feat != d->features)
		return fail(m, "setup", -ENOTSUP, "%s: features 0x%llx, the device acked 0x%llx",
			    m->p->to, (unsigned long long)feat, (unsigned long long)d->features);
	if (m->dst.queue_num < (uint32_t)d->cfg.queues)
		return fail(m, "setup", -ENOTSUP, "%s: at most %u queue pairs, the device has %d",
			    m->p->to, m->dst.queue_num, d->cfg.queues);
	return 0;
}

static int log_start(struct mig *m)
{
	struct device *d = m->d;
	int rc;

	if ((rc = lt_log_create(&m->log, d->mem.top)))
		return fail(m, "log-start", rc, "dirty log: %s", strerror(-rc));
	m->log_made = true;
	m->bm = calloc(m->log.nwords, sizeof(uint64_t));
	if (!m->bm)
		return fail(m, "log-start", -ENOMEM, "merge bitmap: out of memory");
	if ((rc = vhu_set_log_base(&d->front, m->log.fd, m->log.nwords * 8, 0)))
		return fail(m, "log-start", rc, "%s", d->front.err);
	m->logging = true;
	if ((rc = vhu_set_features(&d->front, d->features | 1ull << VHU_F_LOG_ALL)))
		return fail(m, "log-start", rc, "%s", d->front.err);
	for (int r = 0; r < d->nrings; r++) {
		struct vhu_vring_addr a;

		dev_ring_addr(d, r, VHU_VRING_F_LOG, &a);
		if ((rc = vhu_set_vring_addr(&d->front, &a)))
			return fail(m, "log-start", rc, "%s", d->front.err);
	}
	/* Writes before this point are covered by the full copy that follows. */
	lt_log_sync(&d->gw.dirty, NULL, NULL);
	emit(m, "log-start", json_pack("{s:I}", "log_bytes", (json_int_t)(m->log.nwords * 8)));
	return 0;
}

/* The proof this migration makes: the one asked for, or sync when the
 * destination cannot keep a dirty log of its own. */
static enum mig_verify_mode verify_mode(const struct mig *m)
{
	if (m->p->verify == MIG_VERIFY_SYNC)
		return MIG_VERIFY_SYNC;
	if (!vhu_front_has_pf(&m->dst, VHU_PF_LOG_SHMFD) ||
	    !((m->dst.dev_features >> VHU_F_LOG_ALL) & 1))
		return MIG_VERIFY_SYNC;
	return MIG_VERIFY_AFTER_RESUME;
}

/* The destination's features: logging from its start when the proof is
 * made after the resume (its rings then start with the log flag). */
static uint64_t dst_features(const struct mig *m)
{
	bool log = m->rep->verify == MIG_VERIFY_AFTER_RESUME;

	return m->d->features | (log ? 1ull << VHU_F_LOG_ALL : 0);
}

/* Decide the proof; after-resume needs the destination's own log, made
 * now, outside the downtime. */
static int dst_log_prepare(struct mig *m)
{
	int rc;

	m->rep->verify = verify_mode(m);
	if (m->rep->verify != MIG_VERIFY_AFTER_RESUME)
		return 0;
	if ((rc = lt_log_create(&m->dst_log, m->d->mem.top))) {
		snprintf(m->dst.err, sizeof(m->dst.err), "dirty log: %s", strerror(-rc));
		return rc;
	}
	m->dst_log_made = true;
	return 0;
}

struct prefault {
	uint8_t *dst;              /* the destination region's first byte */
	uint64_t pages;            /* faulted in so far */
	bool warm;                 /* the second look, after the backend mapped */
};

static void prefault_extent(const struct gmem_region *r, uint64_t off, uint64_t end, void *arg)
{
	struct prefault *pf = arg;

	gmem_prefault(pf->dst + off, end - off);
	if (pf->warm)
		gmem_warm_racy(r->hva + off, end - off);
	else
		pf->pages += (end - off) / PAGE;
}

/* The destination faulted in where the source holds data, before logging
 * starts: the first pass then copies into resident memory instead of taking
 * a fault per page inside the dirty window (gmem_prefault). warm: again,
 * after the destination backend mapped it, and the source's pages read:
 * where the host shadows page tables, the backend's mapping left both to
 * fault again at the pass (gmem_warm_racy). */
static void dst_prefault(struct mig *m, bool warm)
{
	for (int i = 0; i < m->d->mem.n; i++) {
		struct prefault pf = { m->dst_mem.r[i].hva, 0, warm };

		gmem_for_data(&m->d->mem.r[i], prefault_extent, &pf);
		m->rep->setup_pages += pf.pages;
	}
}

/* The destination's rings set up as far as they can be before the source
 * stops (dev_backend_stage_rings: NUM, ADDR, CALL, ENABLE), after its final
 * memory table: the bases, the kicks and DRIVER_OK remain for the downtime
 * (local_start). With 4 queue pairs that takes 32 of the 49 requests a
 * backend serves one after another (testpmd: 5-40 us each) out of the
 * window. The ring addresses are those of the memory the driver will
 * run on (dst_memory). The KICKs stay in the window, after the bases: a
 * kick starts a ring, which a back-end may then process before its base is
 * in (dev_backend_start_staged). */
static int stage_dst_rings(struct mig *m)
{
	return dev_backend_stage_rings(m->d, &m->dst, dst_memory(m), dst_features(m),
				       &m->dst_staged);
}

/* The destination's memory and memory table, before logging starts: the
 * backend maps (and may fault in) all of it, ~1 s for 1 GiB against
 * testpmd, which inside the dirty window would lengthen round 0's window
 * past its copy and make round 1 resend pages dirtied while no byte moved
 * (a real destination is set up before the migration begins); then its
 * rings, as far as they can be before the stop (stage_dst_rings). Errors
 * are reported as pre-copy's, as before; a hot swap's as setup's (it has no
 * pre-copy): its destination gets the device's own memory table. */
static int local_prepare(struct mig *m)
{
	struct device *d = m->d;
	char err[256];
	int rc;

	if (!copying(m)) {
		if ((rc = dev_backend_prepare(&m->dst, &d->mem, d->features)) ||
		    (rc = stage_dst_rings(m)))
			return fail(m, "setup", rc, "destination: %s", m->dst.err);
		return 0;
	}
	rc = gmem_create(&m->dst_mem, d->mem.total, "migrate", err, sizeof(err));
	if (rc)
		return fail(m, "pre-copy", rc, "destination memory: %s", err);
	m->dst_mem_made = true;
	if (m->dst_mem.n != d->mem.n)
		return fail(m, "pre-copy", -EINVAL, "destination memory has %d regions, not %d",
			    m->dst_mem.n, d->mem.n);
	dst_prefault(m, false);
	/* The destination maps its memory now, not during the downtime. */
	if ((rc = dst_log_prepare(m)) ||
	    (rc = dev_backend_prepare(&m->dst, &m->dst_mem, dst_features(m))))
		return fail(m, "pre-copy", rc, "destination: %s", m->dst.err);
	if (m->dst_log_made &&
	    (rc = vhu_set_log_base(&m->dst, m->dst_log.fd, m->dst_log.nwords * 8, 0)))
		return fail(m, "pre-copy", rc, "destination: %s", m->dst.err);
	if ((rc = stage_dst_rings(m)))
		return fail(m, "pre-copy", rc, "destination: %s", m->dst.err);
	dst_prefault(m, true);
	return 0;
}

static int precopy(struct mig *m)
{
	struct device *d = m->d;
	struct mig_report *rep = m->rep;
	double bw;                 /* bytes per ms */
	uint64_t t0, n;
	int rc;

	m->live = true;
	t0 = vhm_now_ns();
	n = m->ops->copy_all(m);
	if ((rc = check_cancel(m, "pre-copy")) || (rc = check_peers(m)) ||
	    (rc = m->ops->pass_end(m)))
		return rc;
	rep->iter[0] = (struct mig_iter){ gmem_pages(&d->mem), n, ms_since(t0) };
	rep->niter = 1;
	rep->zero_pages = gmem_pages(&d->mem) - n;
	rep->bytes_copied += n * PAGE;
	bw = (double)(n * PAGE) / (rep->iter[0].ms > 0.001 ? rep->iter[0].ms : 0.001);
	emit(m, "pre-copy", json_pack("{s:i, s:I, s:I, s:f}", "iteration", 0, "copied",
				      (json_int_t)n, "zero_pages", (json_int_t)rep->zero_pages,
				      "ms", rep->iter[0].ms));
	for (bool settling = false;;) {
		uint64_t dirty;
		bool last;

		sync_dirty(m);
		dirty = pending(m);
		last = rep->niter > m->p->max_iterations || rep->niter >= MIG_MAX_ITER;
		if (settling)
			break;          /* the settle round made: the rest is the window's */
		if ((double)(dirty * PAGE) <= bw * (double)m->p->downtime_ms) {
			rep->converged = true;
			if (last || !lt_precopy_settles((double)dirty))
				break;
			settling = true;        /* one more round (lt_predict.h) */
		} else if (last) {
			break;
		}
		if ((rc = check_cancel(m, "pre-copy")) || (rc = check_peers(m)))
			return rc;
		t0 = vhm_now_ns();
		n = m->ops->copy_dirty(m, true);
		if ((rc = check_peers(m)) || (rc = m->ops->pass_end(m)))
			return rc;
		rep->iter[rep->niter] = (struct mig_iter){ dirty, n, ms_since(t0) };
		rep->bytes_copied += n * PAGE;
		if (rep->iter[rep->niter].ms > 0.001 && n)
			bw = (double)(n * PAGE) / rep->iter[rep->niter].ms;
		emit(m, "pre-copy", json_pack("{s:i, s:I, s:I, s:f}", "iteration", rep->niter,
					      "dirtied", (json_int_t)dirty, "copied",
					      (json_int_t)n, "ms", rep->iter[rep->niter].ms));
		rep->niter++;
	}
	rep->bandwidth_mib_s = bw * 1000.0 / (1024.0 * 1024.0);
	m->live = false;
	return 0;
}

/* Has any RX ring changed since the snapshot? Updates the snapshot. */
static bool rx_moved(struct mig *m, uint8_t *snap, size_t each)
{
	bool moved = false;

	for (int q = 0; q < m->d->drv.nq; q++) {
		const struct vring *v = &m->d->drv.q[q].rx;

		if (memcmp(snap + (size_t)q * each, v->desc, each)) {
			memcpy(snap + (size_t)q * each, v->desc, each);
			moved = true;
		}
	}
	return moved;
}

/* GET_VRING_BASE on the rings listed, pipelined; bases into m->bases. */
static int stop_rings(struct mig *m, const uint32_t *idx, int n)
{
	return dev_rings_stop(m->d, &m->d->front, idx, n, m->bases);
}

/* Nothing in flight: every frame sent came back, every TX buffer returned. */
static bool quiesced(const struct device *d)
{
	struct nd_counters c;

	netdrv_totals(&d->drv, &c);
	return nd_quiet(&c);
}

/* Wait until the RX rings stop changing (bounded). */
static void rx_settle(struct mig *m)
{
	const struct vring *v0 = &m->d->drv.q[0].rx;
	size_t each = vring_bytes(v0->packed, v0->num);
	uint8_t *snap = calloc((size_t)m->d->drv.nq, each);
	uint64_t end = vhm_now_ns() + MIG_SETTLE_MAX_US * 1000ull;
	int quiet = 0;

	if (!snap)
		return;
	rx_moved(m, snap, each);
	while (quiet < MIG_SETTLE_QUIET && vhm_now_ns() < end) {
		usleep(MIG_SETTLE_STEP_US);
		quiet = rx_moved(m, snap, each) ? 0 : quiet + 1;
	}
	free(snap);
}

/* Stop the source: every TX ring, then every RX ring, all requests sent
 * before the replies are collected. The guest quiesced first, so normally
 * nothing is in flight; if that timed out, a forwarding backend may hold a
 * burst between its TX dequeue and its RX enqueue: then the RX rings are
 * stopped only once they have been still for a moment. */
static int stop_source(struct mig *m)
{
	struct device *d = m->d;
	uint32_t idx[DEV_MAX_RINGS];
	int n = dev_stop_order(d, idx), ntx = d->nrings / 2, rc;

	if (quiesced(d))
		return stop_rings(m, idx, n);
	if ((rc = stop_rings(m, idx, ntx)))
		return rc;
	rx_settle(m);
	return stop_rings(m, idx + ntx, n - ntx);
}

struct digest_job {
	const struct gmem *mem;
	uint64_t h;
};

static void *digest_main(void *arg)
{
	struct digest_job *j = arg;

	j->h = gmem_digest(j->mem, 0, 0);
	return NULL;
}

/* Digests of both memories, the destination's on a second thread. */
static void both_digests(const struct gmem *src, const struct gmem *dst, uint64_t *hs,
			 uint64_t *hd)
{
	struct digest_job j = { .mem = dst };
	pthread_t t;
	bool threaded = vhm_thread_start(&t, digest_main, &j) == 0;

	*hs = gmem_digest(src, 0, 0);
	if (threaded)
		pthread_join(t, NULL);
	else
		digest_main(&j);
	*hd = j.h;
}

/* The log missed a write: name the pages, fail (rollback follows, before
 * the destination ever starts). */
static int digests_differ(struct mig *m)
{
	char what[160];

	mig_diff_pages(m->d, &m->d->mem, &m->dst_mem, &m->rep->diff);
	mig_diff_summary(&m->rep->diff, what, sizeof(what));
	return fail(m, "switchover", -EIO, "digests differ (source %s, destination %s): %s",
		    m->rep->digest_src, m->rep->digest_dst, what);
}

/* --verify=sync: the digests of both memories, compared. */
static int check_digests(struct mig *m)
{
	struct mig_report *rep = m->rep;
	uint64_t hs, hd;

	both_digests(&m->d->mem, &m->dst_mem, &hs, &hd);
	snprintf(rep->digest_src, sizeof(rep->digest_src), "%016llx", (unsigned long long)hs);
	snprintf(rep->digest_dst, sizeof(rep->digest_dst), "%016llx", (unsigned long long)hd);
	if (hs != hd)
		return digests_differ(m);
	rep->verified = true;
	return 0;
}

/* The check made inside the downtime, before the commit point: the
 * digests (sync) or the ring pages alone (after-resume). */
static int check_in_window(struct mig *m)
{
	char what[160];

	if (m->rep->verify == MIG_VERIFY_SYNC)
		return check_digests(m);
	mig_verify_rings(m->d, &m->d->mem, &m->dst_mem, &m->rep->diff);
	if (!m->rep->diff.count)
		return 0;
	mig_diff_summary(&m->rep->diff, what, sizeof(what));
	return fail(m, "switchover", -EIO, "ring pages differ: %s", what);
}

/* The last dirty pages and the check in the window (check_in_window); none
 * in a hot swap: one memory. 0, or -EIO when the copies differ. */
static int last_copy(struct mig *m)
{
	struct mig_report *rep = m->rep;
	uint64_t t;
	int rc;

	if (!copying(m))
		return 0;
	t = vhm_now_ns();
	sync_dirty(m);
	/* The bandwidth cap holds to the end, as the prediction assumes. */
	rep->last_pages = m->ops->copy_dirty(m, m->p->bandwidth != 0);
	rep->bytes_copied += rep->last_pages * PAGE;
	rep->downtime_copy_ms += ms_since(t);
	t = vhm_now_ns();
	rc = m->ops->proof(m);
	rep->downtime_verify_ms = ms_since(t);
	return rc;
}

/* The destination's SET_VRING_BASEs, sent as soon as the source's are
 * known: the backend serves them during the last copy instead of inside
 * the start (its KICKs wait for the copy: a started ring reads memory). */
static void local_bases_ahead(struct mig *m)
{
	dev_backend_send_bases(m->d, &m->dst, m->bases, &m->dst_staged);
}

/* The destination's rings started from m->bases (logging, for
 * after-resume), the guest's view moved to its memory. */
static int local_start(struct mig *m)
{
	struct device *d = m->d;
	int rc;

	if (copying(m)) {
		netdrv_rebase(&d->drv, &m->dst_mem);
		gw_rebase(&d->gw, &m->dst_mem);
		m->rebased = true;
	}
	rc = dev_backend_start_staged(d, &m->dst, m->bases, &m->dst_staged);
	if (rc)
		return fail(m, "switchover", rc, "starting the destination: %s", m->dst.err);
	return 0;
}

/* The downtime less vhm's own check inside it: what a migration without
 * that check has, and what the prediction models. */
static double transfer_ms(const struct mig_report *rep)
{
	return rep->downtime_ms - rep->downtime_verify_ms;
}

/* The downtime so far beyond its last pages at the bandwidth cap: what the
 * prediction adds to the pages it expects (mig_cost.h). -1 where there is
 * no cap to take the pages at, no copy, or a stream (its bytes go through
 * a socket the model knows nothing of). */
static double switch_ms(const struct mig *m)
{
	const struct mig_report *rep = m->rep;
	double ms;

	if (!copying(m) || !m->p->bandwidth || mig_snet_is_addr(m->p->to))
		return -1;
	ms = transfer_ms(rep) - (double)rep->last_pages * PAGE * 1000.0 / (double)m->p->bandwidth;
	return ms > 0 ? ms : 0;
}

/* From the stopped (or lost) source to the running destination: the last
 * copy and the proof, then the destination started: the commit point. */
static int switch_to_destination(struct mig *m, uint64_t t_down)
{
	struct mig_report *rep = m->rep;
	uint64_t t;
	int rc;

	if (m->ops->bases_ahead)
		m->ops->bases_ahead(m);
	if ((rc = last_copy(m)) || (rc = check_cancel(m, "switchover")))
		return rc;
	t = vhm_now_ns();
	rc = m->ops->start(m);
	rep->downtime_ctl_ms += ms_since(t);
	if (rc)
		return rc;
	rep->downtime_ms = ms_since(t_down);
	rep->downtime_switch_ms = switch_ms(m);
	return 0;
}

/* The source's connection failed at end of file: the process died or closed
 * it, and will answer nothing more (a timeout or a malformed reply is not
 * this: that source may still be there, and --reconnect gets it back).
 * Records m->src_lost. */
static bool source_gone(struct mig *m)
{
	if (m->d->front.broken && vhu_front_peer_gone(&m->d->front))
		m->src_lost = true;
	return m->src_lost;
}

/* The source is gone and the guest paused since t_down: the destination,
 * ready, takes the device over. No GET_VRING_BASE can be asked: each ring
 * restarts where the driver stands (as a reconnect does). What the source
 * logged is copied with the last dirty pages; what it wrote outside its log
 * (before logging started, or after it closed the connection and before it
 * stopped its datapath) cannot be known, so every page a device may write
 * is copied too (netdrv_mark_device_writable: rings and RX pools). */
static int take_over(struct mig *m, uint64_t t_down)
{
	struct device *d = m->d;

	if (copying(m) && m->bm)
		netdrv_mark_device_writable(&d->drv, m->bm);
	dev_driver_bases(d, m->bases);
	emit(m, "source-lost", json_pack("{s:s}", "from", d->backend));
	return switch_to_destination(m, t_down);
}

/* The migrating thread raised p->switchover_boost nice steps (as far as
 * nice -20 allows) for the switchover -- the quiesce, the pause, the stop,
 * the last copy, the destination's start -- and back (on: false). The
 * backends' polling threads keep their CPUs busy: a thread of ordinary
 * weight woken there (a reply came) waits for the next scheduler tick when
 * it has had its share lately -- 4 ms at HZ 250, several times the whole
 * control plane, in a third of the switchovers measured (docs/bench.md).
 * Lowering a nice value needs CAP_SYS_NICE (or RLIMIT_NICE room): without
 * it the switchover runs unboosted and the report says why. */
static void boost(struct mig *m, bool on)
{
	struct mig_report *rep = m->rep;
	int rc, want;

	if (!on) {
		if (rep->boost)
			vhm_thread_nice(m->nice_before);
		return;
	}
	if (!m->p->switchover_boost)
		return;
	rc = vhm_thread_nice_get(&m->nice_before);
	want = m->nice_before - m->p->switchover_boost;
	want = want < -20 ? -20 : want;
	if (!rc && want < m->nice_before)
		rc = vhm_thread_nice(want);
	if (rc)
		snprintf(rep->boost_err, sizeof(rep->boost_err), "%s", strerror(-rc));
	else
		rep->boost = m->nice_before - want;
}

static int switchover(struct mig *m)
{
	struct device *d = m->d;
	struct mig_report *rep = m->rep;
	uint64_t t_down;
	int rc;

	rep->quiesce_ms = dev_quiesce(d, MIG_QUIESCE_MS);
	netdrv_totals(&d->drv, &rep->before);
	dev_guest_pause(d, true);
	m->paused = true;
	t_down = vhm_now_ns();
	rc = stop_source(m);
	m->src_stopped = true;     /* even half-stopped: restart them all on rollback */
	/* QEMU's vhost_dev_stop resets the status now (SET_STATUS 0); vhm does
	 * it once the guest runs on the destination (adopt): outside the
	 * downtime, and a rollback restarts the source from ACKNOWLEDGE anyway. */
	rep->downtime_stop_ms = ms_since(t_down);
	rep->downtime_ctl_ms += rep->downtime_stop_ms;
	if (rc && source_gone(m))
		return take_over(m, t_down);
	if (rc)
		return fail(m, "switchover", rc, "stopping the source: %s", d->front.err);
	return switch_to_destination(m, t_down);
}

/* The source died during pre-copy: the destination, ready, takes the device
 * over (take_over). */
static int handover(struct mig *m)
{
	struct device *d = m->d;
	uint64_t t_down;

	m->live = false;           /* from here on, the copy must not stop */
	netdrv_totals(&d->drv, &m->rep->before);
	dev_guest_pause(d, true);
	m->paused = true;
	t_down = vhm_now_ns();
	return take_over(m, t_down);
}

/* Undo whatever was done, in reverse; best effort. Past the stream's GO
 * nothing is undone: the destination may run the device (stream_drop). */
static void rollback(struct mig *m)
{
	struct device *d = m->d;

	if (m->past_go) {
		m->ops->drop(m);
		return;
	}

	if (m->rebased) {
		netdrv_rebase(&d->drv, &d->mem);
		gw_rebase(&d->gw, &d->mem);
	}
	if (m->src_stopped) {
		/* SET_FEATURES without LOG_ALL and plain ring addresses included. */
		if (dev_backend_start(d, &d->front, &d->mem, d->features, m->bases))
			fprintf(stderr, "vhm migrate: rollback: restarting the source: %s\n",
				d->front.err);
	} else if (m->logging && !d->front.broken) {
		vhu_set_features(&d->front, d->features);
		for (int r = 0; r < d->nrings; r++) {
			struct vhu_vring_addr a;

			dev_ring_addr(d, r, 0, &a);
			vhu_set_vring_addr(&d->front, &a);
		}
	}
	if (m->paused)
		dev_guest_pause(d, false);
	m->ops->drop(m);
}

/* A backend of this process let go: its status reset, its connection and
 * listener closed, the memory made for it dropped. */
static void local_drop(struct mig *m)
{
	/* the stream in step first: the bases' acks before the status's */
	if (m->dst_open && !m->dst.broken)
		dev_backend_bases_wait(&m->dst, &m->dst_staged);
	if (m->dst_open && !m->dst.broken && dev_backend_reset_status(&m->dst))
		fprintf(stderr, "vhm migrate: rollback: resetting the destination: %s\n",
			m->dst.err);
	if (m->dst_open)
		vhu_front_close(&m->dst);
	dev_staged_release(&m->dst_staged);
	dev_listener_close(&m->dst_lis);   /* a destination vhm listened for */
	if (m->dst_mem_made)
		gmem_destroy(&m->dst_mem);
	if (m->dst_log_made)
		lt_log_destroy(&m->dst_log);
	m->dst_log_made = false;
}

/* The stopped source's connection let go: logging off, then its status
 * reset as QEMU's vhost_dev_stop does (DPDK 22.11 only records it:
 * GET_VRING_BASE already destroyed the device there); best effort. */
static void release_source(struct vhu_front *old, uint64_t features)
{
	if (!old->broken && !vhu_set_features(old, features))
		dev_backend_reset_status(old);
	vhu_front_close(old);
}

/* The device takes the destination over; the guest is still paused. The
 * swap is made under d->lock, the old connection and memory dropped after
 * it: a reader holding the lock never sees them (device.h, "Threads"). */
static void adopt(struct mig *m)
{
	struct device *d = m->d;
	struct vhu_front old_front;
	struct dev_listener old_lis;
	struct gmem old_mem;

	pthread_mutex_lock(&d->lock);
	old_front = d->front;
	old_mem = d->mem;
	old_lis = d->lis;
	d->front = m->dst;
	d->mem = *dst_memory(m);
	d->lis = m->dst_lis;       /* none when the destination listened itself */
	d->listening = m->to_listen;
	snprintf(d->backend, sizeof(d->backend), "%s", m->to_path);   /* length checked in setup */
	pthread_mutex_unlock(&d->lock);
	/* The source's listener, if the device had one, goes with the source:
	 * its backend must not reconnect into a device that left it. */
	dev_listener_close(&old_lis);
	netdrv_rebase(&d->drv, &d->mem);
	gw_rebase(&d->gw, &d->mem);
	dev_staged_adopt(d, &m->dst_staged);   /* the driver kicks the destination's */
	m->dst_open = m->dst_mem_made = false;
	dev_listener_init(&m->dst_lis);   /* the device's now */
	/* the guest runs on the new copy (or, hot swapped, its own memory) from here */
	dev_guest_pause(d, false);
	m->paused = false;
	release_source(&old_front, d->features);
	dev_staged_release(&m->dst_staged);    /* the source's kick eventfds */
	if (!copying(m))
		return;            /* one memory: the device's own, still in use */
	if (m->rep->verify == MIG_VERIFY_AFTER_RESUME)
		m->src_kept = old_mem;     /* frozen: nothing maps it for writing now */
	else
		gmem_destroy(&old_mem);
}

#define MIG_FIRST_FRAME_MAX_NS (200 * 1000000ull)

/* After the resume, with traffic on: ms from t_resume until the first frame
 * back through the destination (rx_frames above rx0), or -1 when none came
 * within MIG_FIRST_FRAME_MAX_NS. Where the operator's downtime ends. */
static double first_frame_ms(struct mig *m, uint64_t t_resume, uint64_t rx0)
{
	struct nd_counters c;
	uint32_t size;
	uint64_t pps;

	netdrv_traffic(&m->d->drv, &pps, &size);
	if (!pps)
		return -1;
	for (;;) {
		netdrv_totals(&m->d->drv, &c);
		if (c.rx_frames > rx0)
			return ms_since(t_resume);
		if (vhm_now_ns() - t_resume > MIG_FIRST_FRAME_MAX_NS)
			return -1;
		usleep(50);
	}
}

/* The "verify" event: the after-resume check's outcome. */
static void emit_verify(struct mig *m, const struct mig_verify_after *va)
{
	json_t *data = json_pack("{s:s, s:b, s:f, s:I, s:I}", "mode",
				 mig_verify_name(m->rep->verify), "verified", m->rep->verified,
				 "ms", va->ms, "compared_pages", (json_int_t)va->compared,
				 "excluded_pages", (json_int_t)va->excluded);

	if (va->diff.count)
		json_object_set_new(data, "differing_pages", mig_diff_json(&va->diff));
	emit(m, "verify", data);
}

/* After the resume: compare the kept source memory with the running
 * destination, then end the destination's logging and drop both. Past the
 * commit point a difference is reported, never rolled back: rep->verified
 * false, rep->diff, the result line, the event, and a line on stderr. */
static void check_after_resume(struct mig *m)
{
	struct device *d = m->d;
	struct mig_report *rep = m->rep;
	struct lt_log *logs[2] = { &m->dst_log, &d->gw.dirty };
	struct mig_verify_after va;
	char what[160];
	int rc;

	if (rep->verify != MIG_VERIFY_AFTER_RESUME)
		return;
	rc = mig_verify_after_resume(d, &m->src_kept, &d->mem, logs, 2, &va);
	/* Logging off by SET_FEATURES alone, as for the source in adopt(): a
	 * backend logs only under LOG_ALL. The rings keep their log flag: the
	 * SET_VRING_ADDR a full dev_log_stop sends would reach testpmd's
	 * running rings, where one burst was lost now and then
	 * (migrate/back_and_forth_20). */
	if (!d->front.broken && vhu_set_features(&d->front, d->features))
		fprintf(stderr, "vhm migrate: logging off on %s: %s\n", d->backend, d->front.err);
	gmem_destroy(&m->src_kept);
	lt_log_destroy(&m->dst_log);
	m->dst_log_made = false;
	rep->verified = !rc && !va.diff.count;
	rep->verify_after_ms = va.ms;
	rep->verify_compared = va.compared;
	rep->verify_excluded = va.excluded;
	rep->diff = va.diff;
	emit_verify(m, &va);
	if (rep->verified)
		return;
	if (rc)
		snprintf(what, sizeof(what), "check not made: %s", strerror(-rc));
	else
		mig_diff_summary(&va.diff, what, sizeof(what));
	fprintf(stderr, "vhm migrate: VERIFY FAILED after the resume on %s: %s\n", d->backend,
		what);
}

/* AF_PACKET announcement with QEMU's schedule on p->announce_ifname. */
static bool announce_ifname(struct mig *m, const uint8_t mac[6])
{
	const struct rarp_schedule sched = RARP_SCHEDULE_DEFAULT;
	struct rarp_packet pkt;
	struct rarp_output out = { .send_mac = rarp_packet_send_mac, .ctx = &pkt };
	const uint8_t (*macs)[6] = (const uint8_t (*)[6])mac;
	char err[200];
	int rc;

	if (rarp_packet_open(&pkt, m->p->announce_ifname, RARP_VLAN_NONE, err, sizeof(err))) {
		fprintf(stderr, "vhm migrate: announce: %s\n", err);
		return false;
	}
	rc = rarp_announce_run(&sched, macs, 1, &out);
	rarp_packet_close(&pkt);
	if (rc)
		fprintf(stderr, "vhm migrate: announce on %s: %s\n", m->p->announce_ifname,
			strerror(-rc));
	return rc == 0;
}

/* The guest's new location: through the destination backend (SEND_RARP)
 * when it can and the guest does not announce itself (GUEST_ANNOUNCE),
 * otherwise with rarp/ on the operator's interface, if one was given. */
static void announce(struct mig *m)
{
	struct device *d = m->d;
	const uint8_t *mac = m->p->has_mac ? m->p->mac : d->cfg.mac;
	bool guest_does = (d->features >> VHU_NET_F_GUEST_ANNOUNCE) & 1;

	if (!guest_does && vhu_front_has_pf(&d->front, VHU_PF_RARP)) {
		if (vhu_send_rarp(&d->front, mac) == 0)
			m->rep->rarp_sent = true;
		else
			fprintf(stderr, "vhm migrate: announce: %s\n", d->front.err);
	}
	if (!m->rep->rarp_sent && !guest_does && m->p->announce_ifname)
		m->rep->announced_ifname = announce_ifname(m, mac);
	emit(m, "announce", json_pack("{s:b, s:b}", "rarp", m->rep->rarp_sent, "ifname",
				      m->rep->announced_ifname));
}

/* The device runs on the destination backend from here: the first frame
 * back timed, the state, the announcement, the proof after the resume. */
static void local_adopt(struct mig *m, uint64_t t_resume)
{
	struct device *d = m->d;

	adopt(m);
	m->rep->first_frame_ms = first_frame_ms(m, t_resume, m->rep->at_resume.rx_frames);
	dev_set_state(d, DEV_RUNNING, m->src_lost ? "migrated: the source backend died, the "
		      "destination took over" : "migrated");
	announce(m);
	/* past the commit point: a destination lost at the announce leaves the
	 * device without a backend, not running on a dead connection */
	if (d->front.broken)
		dev_set_state(d, DEV_BACKEND_LOST, "destination backend lost at the announce");
	check_after_resume(m);
}

static int local_pass_end(struct mig *m)
{
	(void)m;
	return 0;
}

static bool local_gone(struct mig *m)
{
	if (!vhu_front_peer_gone(&m->dst))
		return false;
	snprintf(m->dst_why, sizeof(m->dst_why), "destination %s closed the connection",
		 m->to_path);
	return true;
}

static const struct mig_dst_ops local_ops = {
	.open = local_open, .prepare = local_prepare, .copy_all = copy_all,
	.copy_dirty = copy_dirty, .pass_end = local_pass_end, .proof = check_in_window,
	.bases_ahead = local_bases_ahead, .start = local_start, .adopt = local_adopt,
	.drop = local_drop, .gone = local_gone,
};

/* ---- the stream destination (mig_sout.h) ----------------------------------
 * Another vhm process: pages go out as the stream's runs, the device state
 * and the source's digest after the last copy, RUNNING is the commit point.
 * A stream error marks the destination lost (m->dst_lost, m->dst_why), as
 * a dead local backend would be; the phases fail on it. */

/* mig_smem's callback after each run: progress, the source's channel, and
 * a pre-copy pass stopped by a cancel or a destination gone. */
static int stream_tick(void *ctx, uint32_t pages)
{
	struct mig *m = ctx;

	if (m->live)               /* pre-copy: the switchover's copy is no pass */
		progress_tick(m, (uint64_t)pages * PAGE);
	if (m->live && stopping(m))
		return -ECANCELED;
	serve_channels(m);
	return 0;
}

/* A stream call failed with rc: the destination is lost, unless the pass
 * was stopped for a cancel (check_cancel reports that). */
static void stream_failed(struct mig *m, int rc)
{
	if (rc == -ECANCELED && !m->dst_lost)
		return;
	if (!m->dst_lost)
		snprintf(m->dst_why, sizeof(m->dst_why), "%s", m->out.err);
	m->dst_lost = true;
}

static int stream_open(struct mig *m)
{
	struct device *d = m->d;
	int rc;

	if (m->p->shared_memory)
		return fail(m, "setup", -EINVAL, "a hot swap (--shared-memory) shares memory on "
			    "one host; %s is another process", m->p->to);
	if (strlen(m->p->to) >= sizeof(d->backend))
		return fail(m, "setup", -ENAMETOOLONG, "destination %s too long", m->p->to);
	m->rep->verify = MIG_VERIFY_STREAM;
	rc = mig_sout_open(&m->out, m->p->to, &d->mem, m->p->bandwidth,
			   m->p->connections ? m->p->connections : 1, d->cfg.timeout_ms,
			   stream_tick, m);
	if (rc)
		return fail(m, "setup", rc, "%s", m->out.err);
	m->rep->stream_conns = mig_sout_conns(&m->out);
	return 0;
}

static int stream_prepare(struct mig *m)
{
	(void)m;
	return 0;                  /* READY, in stream_open: memory and table set */
}

static uint64_t stream_copy_all(struct mig *m)
{
	uint64_t n = 0;
	int rc = mig_sout_all(&m->out, &n);

	if (rc)
		stream_failed(m, rc);
	return n;
}

static uint64_t stream_copy_dirty(struct mig *m, bool capped)
{
	uint64_t n = 0;
	int rc;

	(void)capped;              /* the connection's own cap, always */
	if (m->dst_lost)
		return 0;
	rc = mig_sout_dirty(&m->out, m->bm, m->log.nwords, &n);
	if (rc)
		stream_failed(m, rc);
	return n;
}

static int stream_pass_end(struct mig *m)
{
	int rc = mig_sout_pass(&m->out);

	if (rc)
		return fail(m, "pre-copy", rc, "%s", m->out.err);
	return 0;
}

/* DEVICE (features, bases, driver and writer state, MAC) and the digest
 * the destination must find in its own memory. */
static int stream_proof(struct mig *m)
{
	struct device *d = m->d;
	const uint8_t *mac = m->p->has_mac ? m->p->mac : d->cfg.mac;
	uint64_t h;
	int rc;

	if (m->dst_lost)
		return fail(m, "switchover", -ECONNRESET, "%s", m->dst_why);
	if ((rc = mig_sout_device(&m->out, d, m->bases, mac)))
		return fail(m, "switchover", rc, "%s", m->out.err);
	h = gmem_digest(&d->mem, 0, 0);
	snprintf(m->rep->digest_src, sizeof(m->rep->digest_src), "%016llx",
		 (unsigned long long)h);
	m->stream_digest = h;
	return 0;
}

/* The two phases of the stream's switchover: SWITCHOVER, and READY back
 * (the destination checked the digest, the device and its backend's rings,
 * and started nothing: a failure up to here rolls back), then GO -- the
 * commit point. From GO on this process never resumes the device
 * (m->past_go: rollback lets it go instead); RUNNING says where it runs. */
static int stream_start(struct mig *m)
{
	int rc = mig_sout_switchover(&m->out, m->stream_digest);

	if (rc)
		return fail(m, "switchover", rc, "%s", m->out.err);
	m->past_go = true;
	if ((rc = mig_sout_go(&m->out))) {
		m->rep->dst_unknown = true;
		return fail(m, "switchover", rc, "destination state unknown: GO sent to %s, no "
			    "RUNNING (%s); the device stays stopped here: check the destination "
			    "(vhm status there); if it does not run it, cont with force "
			    "resumes it here", m->p->to, m->out.err);
	}
	m->rep->verified = true;   /* the destination found the source's digest */
	snprintf(m->rep->digest_dst, sizeof(m->rep->digest_dst), "%s", m->rep->digest_src);
	return 0;
}

/* The stream's figures into the report, then its connections closed. */
static void stream_close(struct mig *m)
{
	m->rep->stream_bytes = mig_sout_bytes(&m->out);
	for (int i = 0; i < m->rep->stream_conns && i < MIG_STREAM_CONNS_MAX; i++)
		m->rep->stream_conn_bytes[i] = mig_sout_conn_bytes(&m->out, i);
	mig_sout_close(&m->out);
}

/* The device leaves this process for the stream's destination: here it
 * stays still (no traffic, no writes), the source backend is let go, and
 * the device names the address it went to as its backend. */
static void stream_leave(struct mig *m)
{
	struct device *d = m->d;
	struct vhu_front old_front;
	struct dev_listener old_lis;

	dev_left_keep(d);          /* for a resume here (cont), should it run nowhere */
	netdrv_set_traffic(&d->drv, 0, d->drv.frame_size);   /* paused: dp_lock held */
	gw_set(&d->gw, 0, d->gw.pattern);
	pthread_mutex_lock(&d->lock);
	old_front = d->front;
	old_lis = d->lis;
	d->front.sock = d->front.breq_sock = -1;
	d->front.broken = true;
	dev_listener_init(&d->lis);
	d->listening = false;
	snprintf(d->backend, sizeof(d->backend), "%s", m->p->to);   /* length checked */
	pthread_mutex_unlock(&d->lock);
	dev_listener_close(&old_lis);
	dev_guest_pause(d, false);
	m->paused = false;
	release_source(&old_front, d->features);
}

/* Past RUNNING the guest is the destination's; the stream ends (END). */
static void stream_adopt(struct mig *m, uint64_t t_resume)
{
	struct device *d = m->d;

	(void)t_resume;
	m->rep->first_frame_ms = -1;   /* the frames come back on the destination's side */
	stream_leave(m);
	if (mig_sout_end(&m->out))
		fprintf(stderr, "vhm migrate: %s\n", m->out.err);
	stream_close(m);
	dev_set_state(d, DEV_MIGRATED, m->src_lost ? "migrated (the source backend died; the "
		      "destination took over)" : "migrated");
}

/* A rollback. Before GO: the connection closed (the destination, which
 * started nothing, discards what it has). After GO: the device must not
 * resume here, since the destination may run it: let go, and say so. */
static void stream_drop(struct mig *m)
{
	char why[400];

	if (m->past_go) {
		stream_leave(m);
		snprintf(why, sizeof(why), "destination state unknown: %s (GO sent, no RUNNING); "
			 "this copy stays stopped", m->p->to);
		dev_set_state(m->d, DEV_DST_UNKNOWN, why);
	}
	stream_close(m);
}

static bool stream_gone(struct mig *m)
{
	if (!mig_sout_gone(&m->out))
		return false;
	snprintf(m->dst_why, sizeof(m->dst_why), "%s", m->out.err);
	return true;
}

static const struct mig_dst_ops stream_ops = {
	.open = stream_open, .prepare = stream_prepare, .copy_all = stream_copy_all,
	.copy_dirty = stream_copy_dirty, .pass_end = stream_pass_end, .proof = stream_proof,
	.start = stream_start, .adopt = stream_adopt, .drop = stream_drop, .gone = stream_gone,
};

int mig_run(struct device *d, const struct mig_params *p, struct mig_report *rep,
	    mig_progress_fn progress, void *ctx)
{
	struct mig m = { .d = d, .p = p, .rep = rep, .progress = progress, .ctx = ctx };
	uint64_t t0 = vhm_now_ns(), t_resume;
	json_t *fail_data;
	int rc;

	m.prog.start_ns = m.prog.sync_ns = t0;
	memset(rep, 0, sizeof(*rep));
	rep->downtime_switch_ms = -1;
	rep->shared_memory = rep->converged = p->shared_memory;   /* nothing to converge */
	if (p->shared_memory) {    /* one memory: nothing to prove */
		rep->verify = MIG_VERIFY_NONE;
		rep->verified = true;
	}
	m.ops = mig_snet_is_addr(p->to) ? &stream_ops : &local_ops;
	snprintf(rep->destination, sizeof(rep->destination), "%s", p->to);
	m.dst.sock = m.dst.breq_sock = -1;
	m.to_path = mig_dest_path(p->to, &m.to_listen);
	dev_listener_init(&m.dst_lis);
	netdrv_totals(&d->drv, &rep->before);
	if ((rc = setup(&m)) || (rc = check_cancel(&m, "setup")))
		goto fail;
	dev_set_state(d, DEV_MIGRATING, "migration started");
	if ((rc = m.ops->prepare(&m)))
		goto fail;
	/* A source gone at log start: the first pass copies all, then the
	 * destination takes over (precopy returns MIG_SOURCE_LOST). */
	if (copying(&m) && (rc = log_start(&m)) && source_gone(&m))
		rc = 0;
	if (rc || (rc = check_cancel(&m, copying(&m) ? "log-start" : "setup")))
		goto fail;
	rc = copying(&m) ? precopy(&m) : 0;
	boost(&m, true);
	rc = rc == MIG_SOURCE_LOST ? handover(&m) : rc ? rc : switchover(&m);
	boost(&m, false);
	if (rc)
		goto fail;
	emit(&m, "switchover", json_pack("{s:f, s:s}", "downtime_ms", rep->downtime_ms,
					  "digest", rep->digest_src));
	netdrv_totals(&d->drv, &rep->at_resume);
	t_resume = vhm_now_ns();
	m.ops->adopt(&m, t_resume);

	lt_log_destroy(&m.log);
	free(m.bm);
	rep->ok = true;
	snprintf(rep->phase, sizeof(rep->phase), "done");
	snprintf(rep->result, sizeof(rep->result), "%s%s",
		 m.src_lost ? "ok (the source backend died during the migration; handed over)" :
		 rep->converged ? "ok" : "ok (did not converge)",
		 rep->verified ? "" : ", but NOT VERIFIED: pages differ after the resume");
	netdrv_totals(&d->drv, &rep->after);
	rep->total_ms = ms_since(t0);
	emit(&m, "done", mig_report_json(rep));
	return 0;
fail:
	rollback(&m);
	if (m.log_made)
		lt_log_destroy(&m.log);
	free(m.bm);
	/* only setup's check let us here: the device was running -- unless the
	 * source stopped answering (a timeout broke the connection): it could
	 * not be restarted, and the device says it has lost its backend
	 * (--reconnect gets it back) rather than run on a dead connection */
	if (dev_state(d) == DEV_MIGRATING && d->front.broken)
		dev_set_state(d, DEV_BACKEND_LOST, "source backend lost during the migration");
	else if (dev_state(d) == DEV_MIGRATING)
		dev_set_state(d, DEV_RUNNING, "migration failed, rolled back");
	netdrv_totals(&d->drv, &rep->after);
	rep->total_ms = ms_since(t0);
	rep->cancelled = rc == -ECANCELED;
	fail_data = json_pack("{s:s, s:s}", "phase", rep->phase, "error", rep->result);
	if (rep->diff.count)
		json_object_set_new(fail_data, "differing_pages", mig_diff_json(&rep->diff));
	if (rep->dst_unknown)
		json_object_set_new(fail_data, "destination_state", json_string("unknown"));
	emit(&m, rep->cancelled ? "cancelled" : "failed", fail_data);
	return rc;
}

/* QMP's MigrationStatus for how it ended. */
static const char *report_status(const struct mig_report *rep)
{
	return rep->ok ? "completed" : rep->cancelled ? "cancelled" : "failed";
}

/* MiB/s of bytes over ms (the stream's rate on the wire). */
static double mib_per_s(uint64_t bytes, double ms)
{
	return ms > 0 ? (double)bytes / (1024.0 * 1024.0) / (ms / 1000.0) : 0;
}

/* Each connection's bytes, the main one first: they add up to the stream's. */
static json_t *conn_bytes_json(const struct mig_report *rep)
{
	json_t *a = json_array();

	for (int i = 0; a && i < rep->stream_conns && i < MIG_STREAM_CONNS_MAX; i++)
		json_array_append_new(a, json_integer((json_int_t)rep->stream_conn_bytes[i]));
	return a;
}

json_t *mig_report_json(const struct mig_report *rep)
{
	json_t *it = json_array(), *o;

	for (int i = 0; i < rep->niter; i++)
		json_array_append_new(it, json_pack("{s:I, s:I, s:f}", "dirtied",
						    (json_int_t)rep->iter[i].dirtied, "copied",
						    (json_int_t)rep->iter[i].copied, "ms",
						    rep->iter[i].ms));
	o = json_pack("{s:s, s:s, s:s, s:b, s:f, s:f, s:{s:f, s:f, s:f, s:f, s:f, s:f, s:f}, s:o, s:I, s:I,"
			 " s:I, s:f, s:{s:s, s:s}, s:b, s:b, s:{s:I, s:I}, s:{s:I, s:I}}",
			 "status", report_status(rep),
			 "result", rep->result, "phase", rep->phase, "converged", rep->converged,
			 "total_ms", rep->total_ms, "quiesce_ms", rep->quiesce_ms,
			 "downtime", "ms", rep->downtime_ms, "control_ms", rep->downtime_ctl_ms,
			 "stop_ms", rep->downtime_stop_ms,
			 "copy_ms", rep->downtime_copy_ms, "verify_ms", rep->downtime_verify_ms,
			 "transfer_ms", transfer_ms(rep),
			 "switch_ms", rep->downtime_switch_ms,
			 "iterations", it, "bytes_copied", (json_int_t)rep->bytes_copied,
			 "zero_pages", (json_int_t)rep->zero_pages,
			 "last_pages", (json_int_t)rep->last_pages,
			 "bandwidth_mib_s", rep->bandwidth_mib_s,
			 "digest", "source", rep->digest_src, "destination", rep->digest_dst,
			 "rarp", rep->rarp_sent, "announced_ifname", rep->announced_ifname,
			 "before", "tx_frames", (json_int_t)rep->before.tx_frames, "rx_frames",
			 (json_int_t)rep->before.rx_frames,
			 "after", "tx_frames", (json_int_t)rep->after.tx_frames, "rx_frames",
			 (json_int_t)rep->after.rx_frames);
	if (o && rep->diff.count)
		json_object_set_new(o, "differing_pages", mig_diff_json(&rep->diff));
	if (o)
		json_object_update_new(o, json_pack("{s:f, s:s, s:b, s:{s:f, s:I, s:I}}",
						    "first_frame_ms", rep->first_frame_ms, "verify",
						    mig_verify_name(rep->verify), "verified",
						    rep->verified, "verify_after", "ms",
						    rep->verify_after_ms, "compared_pages",
						    (json_int_t)rep->verify_compared,
						    "excluded_pages",
						    (json_int_t)rep->verify_excluded));
	if (o)
		json_object_update_new(o, json_pack("{s:b, s:s, s:{s:f, s:I}}", "shared_memory",
						    rep->shared_memory, "destination",
						    rep->destination, "setup", "ms", rep->setup_ms,
						    "prefaulted_pages",
						    (json_int_t)rep->setup_pages));
	if (o)
		json_object_set_new(o, "switchover_boost", rep->boost_err[0] ?
				    json_pack("{s:i, s:s}", "steps", 0, "error", rep->boost_err) :
				    json_pack("{s:i}", "steps", rep->boost));
	if (o && rep->dst_unknown)   /* past GO, no RUNNING: see "result" */
		json_object_set_new(o, "destination_state", json_string("unknown"));
	if (o && rep->verify == MIG_VERIFY_STREAM)
		json_object_set_new(o, "stream", json_pack("{s:I, s:f, s:i, s:o}", "bytes",
							   (json_int_t)rep->stream_bytes, "rate_mib_s",
							   mib_per_s(rep->stream_bytes, rep->total_ms),
							   "connections", rep->stream_conns,
							   "per_connection", conn_bytes_json(rep)));
	return o;
}

json_t *mig_progress_json(const struct mig_progress *g)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:i, s:f, s:f, s:f, s:f, s:f}",
			      "total_bytes", (json_int_t)g->total_bytes,
			      "sent_bytes", (json_int_t)g->sent_bytes,
			      "remaining_bytes", (json_int_t)g->remaining_bytes,
			      "zero_pages", (json_int_t)g->zero_pages, "pass", g->pass,
			      "rate_bytes_per_s", g->rate,
			      "dirty_pages_per_s", g->dirty_pages_rate,
			      "expected_downtime_ms", g->expected_downtime_ms,
			      "elapsed_ms", g->elapsed_ms, "setup_ms", g->setup_ms);

	if (o && g->stream)
		json_object_set_new(o, "stream", json_pack("{s:I, s:f, s:i}", "bytes",
							   (json_int_t)g->stream_bytes, "rate_mib_s",
							   mib_per_s(g->stream_bytes, g->elapsed_ms),
							   "connections", g->stream_conns));
	return o;
}
