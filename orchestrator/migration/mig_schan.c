/* SPDX-License-Identifier: MIT */
/* The page connections of a migration stream, both ends. A pass on the
 * source is one short-lived sender thread per connection (passes are few:
 * a thread per pass costs nothing next to the pages), each walking all of
 * guest memory or the dirty bitmap and sending only its own stripes
 * (mig_smem_tx's chan/nchan); the migration thread joins them before it
 * writes PASS or END on their connections, so a connection has one owner
 * at a time. On the destination each accepted connection gets a reader
 * thread that lives until its END; the runs it applies are its own
 * stripes (checked), disjoint from every other reader's and the main
 * connection's, so readers write guest memory side by side without a lock.
 * Read first: mig_schan.h, then mig_smem.h's MIG_SMEM_STRIPE. */
#include "mig_schan.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

#define ACCEPT_SLICE_MS 200

/* ---- source ------------------------------------------------------------------ */

uint64_t mig_schan_new_id(void)
{
	uint64_t id = 0;

	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = vhm_now_ns() ^ ((uint64_t)getpid() << 32);
	return id ? id : 1;
}

static int conn_tick(void *ctx, uint32_t pages)
{
	struct mig_schan_conn *c = ctx;

	__atomic_add_fetch(&c->pages, pages, __ATOMIC_RELAXED);
	return __atomic_load_n(&c->o->abort, __ATOMIC_RELAXED) ? -ECANCELED : 0;
}

static int connect_one(struct mig_schan_out *o, uint32_t i, const char *to,
		       const struct gmem *mem, struct mig_snet_cap *cap, int timeout_ms)
{
	struct mig_schan_conn *c = &o->c[i];
	struct mig_stream_chan h = o->chan;
	char err[256];
	int rc;

	c->o = o;
	if ((rc = mig_snet_connect(to, &c->net, timeout_ms, err, sizeof(err))))
		return vhm_err(o->err, sizeof(o->err), rc, "page connection %u: %s", i, err);
	c->connected = true;
	c->net.shared = cap;
	mig_senc_init(&c->enc, mig_snet_out, &c->net);
	if ((rc = mig_smem_tx_init(&c->tx, &c->enc, mem)))
		return vhm_err(o->err, sizeof(o->err), rc, "stream staging: out of memory");
	c->tx_made = true;
	c->tx.chan = i;
	c->tx.nchan = o->chan.count;
	c->tx.tick = conn_tick;
	c->tx.tick_ctx = c;
	h.index = i;
	if ((rc = mig_senc_hello(&c->enc, &h)))
		return vhm_err(o->err, sizeof(o->err), rc, "page connection %u to %s: its hello: "
			       "%s", i, c->net.peer, strerror(-rc));
	return 0;
}

int mig_schan_connect(struct mig_schan_out *o, const struct mig_stream_chan *chan,
		      const char *to, const struct gmem *mem, struct mig_snet_cap *cap,
		      int timeout_ms)
{
	int rc;

	memset(o, 0, sizeof(*o));
	o->chan = *chan;
	for (uint32_t i = 0; i < MIG_STREAM_CONNS_MAX; i++)
		o->c[i].net.fd = -1;
	for (uint32_t i = 1; i < chan->count; i++)
		if ((rc = connect_one(o, i, to, mem, cap, timeout_ms)))
			return rc;
	return 0;
}

static void *sender_main(void *arg)
{
	struct mig_schan_conn *c = arg;
	struct mig_schan_out *o = c->o;

	c->rc = o->bm ? mig_smem_send_dirty(&c->tx, o->bm, o->nwords) : mig_smem_send_all(&c->tx);
	__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);
	return NULL;
}

int mig_schan_send(struct mig_schan_out *o, uint64_t *bm, size_t nwords)
{
	int rc;

	o->bm = bm;
	o->nwords = nwords;
	__atomic_store_n(&o->abort, false, __ATOMIC_RELAXED);
	for (uint32_t i = 1; i < o->chan.count; i++) {
		struct mig_schan_conn *c = &o->c[i];

		c->done = false;
		c->rc = 0;
		c->pages = 0;             /* no sender runs: this pass's count */
		c->tx.rc = 0;
		if ((rc = -vhm_thread_start(&c->thread, sender_main, c))) {
			mig_schan_abort(o);
			mig_schan_wait(o);
			return vhm_err(o->err, sizeof(o->err), rc, "starting a sender thread: %s",
				       strerror(-rc));
		}
		c->running = true;
	}
	return 0;
}

uint64_t mig_schan_progress(struct mig_schan_out *o)
{
	uint64_t n = 0;

	for (uint32_t i = 1; i < o->chan.count; i++)
		n += __atomic_load_n(&o->c[i].pages, __ATOMIC_RELAXED);
	return n;
}

bool mig_schan_busy(struct mig_schan_out *o)
{
	for (uint32_t i = 1; i < o->chan.count; i++)
		if (o->c[i].running && !__atomic_load_n(&o->c[i].done, __ATOMIC_ACQUIRE))
			return true;
	return false;
}

void mig_schan_abort(struct mig_schan_out *o)
{
	__atomic_store_n(&o->abort, true, __ATOMIC_RELAXED);
}

int mig_schan_wait(struct mig_schan_out *o)
{
	int rc = 0;

	for (uint32_t i = 1; i < o->chan.count; i++) {
		struct mig_schan_conn *c = &o->c[i];

		if (!c->running)
			continue;
		pthread_join(c->thread, NULL);
		c->running = false;
		if (c->rc && (!rc || rc == -ECANCELED) && c->rc != rc) {
			rc = c->rc;
			vhm_err(o->err, sizeof(o->err), rc, "pages on page connection %u", i);
		}
	}
	return rc;
}

void mig_schan_counts(const struct mig_schan_out *o, uint64_t *data, uint64_t *zero)
{
	*data = *zero = 0;
	for (uint32_t i = 1; i < o->chan.count; i++) {
		*data += o->c[i].tx.data_pages;
		*zero += o->c[i].tx.zero_pages;
	}
}

/* PASS or END on every page connection. */
static int each(struct mig_schan_out *o, bool end, uint32_t pass)
{
	for (uint32_t i = 1; i < o->chan.count; i++) {
		struct mig_schan_conn *c = &o->c[i];
		int rc = end ? mig_senc_end(&c->enc) : mig_senc_pass(&c->enc, pass);

		if (rc)
			return vhm_err(o->err, sizeof(o->err), rc, "%s on page connection %u",
				       end ? "END" : "PASS", i);
	}
	return 0;
}

int mig_schan_pass(struct mig_schan_out *o, uint32_t pass)
{
	return each(o, false, pass);
}

int mig_schan_end(struct mig_schan_out *o)
{
	return each(o, true, 0);
}

uint64_t mig_schan_bytes(const struct mig_schan_out *o, int i)
{
	if (i < 1 || i >= (int)o->chan.count)   /* closed: what it carried */
		return 0;
	return __atomic_load_n(&o->c[i].net.bytes_out, __ATOMIC_RELAXED);
}

int mig_schan_open_count(const struct mig_schan_out *o)
{
	int n = 0;

	for (uint32_t i = 1; i < o->chan.count; i++)
		n += o->c[i].connected;
	return n;
}

void mig_schan_out_close(struct mig_schan_out *o)
{
	mig_schan_abort(o);
	mig_schan_wait(o);
	for (uint32_t i = 1; i < o->chan.count; i++) {
		struct mig_schan_conn *c = &o->c[i];

		if (c->tx_made)
			mig_smem_tx_destroy(&c->tx);
		c->tx_made = false;
		if (c->connected)
			mig_snet_close(&c->net);
		c->connected = false;
	}
}

/* ---- destination -------------------------------------------------------------- */

bool mig_schan_count_ok(uint64_t n)
{
	return n >= 1 && n <= MIG_STREAM_CONNS_MAX;
}

/* One run read on reader r: its own stripes only, then into memory. */
static int apply_run(struct mig_schan_reader *r, struct mig_sdec *d, const struct mig_ssec *s)
{
	uint32_t n = r->in->chan.count;
	char why[MIG_SCHAN_ERR_LEN - 32];
	int rc;

	if (mig_smem_owner(s->pfn, n) != r->index ||
	    s->pfn / MIG_SMEM_STRIPE != (s->pfn + s->npages - 1) / MIG_SMEM_STRIPE)
		return vhm_err(r->err, sizeof(r->err), -EPROTO, "%s run of %llu pages at pfn "
			       "0x%llx on page connection %u: not its stripe",
			       mig_sec_name(s->type), (unsigned long long)s->npages,
			       (unsigned long long)s->pfn, r->index);
	if (s->type == MIG_SEC_PAGES)
		r->data_pages += s->npages;
	else
		r->zero_pages += s->npages;
	if ((rc = mig_smem_apply(d, s, r->in->mem, why, sizeof(why))))
		return vhm_err(r->err, sizeof(r->err), rc, "page connection %u: %s", r->index, why);
	return 0;
}

/* Sections until END: runs and PASS markers, nothing else. */
static int read_conn(struct mig_schan_reader *r, struct mig_sdec *d)
{
	struct mig_ssec s;
	int rc;

	while (!d->ended) {
		if ((rc = mig_sdec_next(d, &s)))
			return vhm_err(r->err, sizeof(r->err), rc, "page connection %u: %s",
				       r->index, d->err);
		if (s.type == MIG_SEC_PAGES || s.type == MIG_SEC_ZERO)
			rc = apply_run(r, d, &s);
		else if (s.type != MIG_SEC_PASS && s.type != MIG_SEC_END)
			rc = vhm_err(r->err, sizeof(r->err), -EPROTO, "%s section on page "
				     "connection %u", mig_sec_name(s.type), r->index);
		if (rc)
			return rc;
	}
	return 0;
}

static void *reader_main(void *arg)
{
	struct mig_schan_reader *r = arg;
	struct mig_sdec d;

	if ((r->rc = mig_sdec_init(&d, mig_snet_in, &r->net))) {
		vhm_err(r->err, sizeof(r->err), r->rc, "stream decoder: out of memory");
	} else {
		/* the hello was read on its own: this decoder starts after it */
		d.memory = r->in->memory;
		d.have_memory = d.have_header = true;
		d.crc = r->hello_crc;
		d.bytes = r->hello_bytes;
		r->rc = read_conn(r, &d);
		mig_sdec_destroy(&d);
	}
	/* the main reader waits in a read: it fails there too */
	if (r->rc && !__atomic_exchange_n(&r->in->failing, true, __ATOMIC_ACQ_REL)) {
		r->first = true;
		shutdown(r->in->main_fd, SHUT_RD);
	}
	return NULL;
}

/* Is hello h one of this migration's connections, not yet here? NULL, or
 * why not. */
static const char *hello_fits(const struct mig_schan_in *in, const struct mig_stream_chan *h,
			      const bool *seen)
{
	if (h->id != in->chan.id)
		return "another migration's page connection (its id differs)";
	if (h->count != in->chan.count)
		return "a page connection of another connection count";
	if (h->index < 1 || h->index >= in->chan.count)
		return "a page connection index out of range";
	if (seen[h->index])
		return "a page connection index already connected";
	return NULL;
}

/* Refuse a connection: FAILED with why (best effort), closed. */
static void refuse(struct mig_schan_in *in, struct mig_snet *c, const char *why)
{
	char text[MIG_ACK_TEXT_MAX + 1];

	snprintf(text, sizeof(text), "%s", why);
	mig_ack_send(mig_snet_out, c, MIG_ACK_FAILED, text);
	snprintf(in->last_refusal, sizeof(in->last_refusal), "%s: %s", c->peer, why);
	in->refused++;
	mig_snet_close(c);
}

/* One accepted connection: its hello read (within MIG_SCHAN_HELLO_MS) and
 * checked into *h, the checksum of its bytes into r; 0, or 1 when refused. */
static int take_hello(struct mig_schan_in *in, struct mig_snet *c, struct mig_stream_chan *h,
		      const bool *seen, struct mig_schan_reader *r)
{
	struct mig_sdec d;
	const char *why;
	int rc;

	c->timeout_ms = MIG_SCHAN_HELLO_MS;
	if ((rc = mig_sdec_init(&d, mig_snet_in, c))) {
		refuse(in, c, "out of memory");
		return 1;
	}
	rc = mig_sdec_hello(&d, &in->memory, h);
	if (rc) {
		refuse(in, c, d.err);
		mig_sdec_destroy(&d);
		return 1;
	}
	r->hello_crc = d.crc;
	r->hello_bytes = d.bytes;
	mig_sdec_destroy(&d);
	if ((why = hello_fits(in, h, seen))) {
		refuse(in, c, why);
		return 1;
	}
	return 0;
}

int mig_schan_accept(struct mig_schan_in *in, int lfd, const struct mig_stream_chan *chan,
		     const struct mig_stream_memory *memory, struct gmem *mem, int main_fd,
		     int timeout_ms, const bool *cancel, char *err, size_t errlen)
{
	bool seen[MIG_STREAM_CONNS_MAX] = { false };
	uint64_t deadline = vhm_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int rc, got = 0;

	/* in is zeroed by its owner, once: the counters read from other threads
	 * (accepted, each reader's bytes) are written only as they publish */
	in->chan = *chan;
	in->memory = *memory;
	in->mem = mem;
	in->main_fd = main_fd;
	if (chan->count < 2 || !mig_schan_count_ok(chan->count))
		return vhm_err(err, errlen, -EPROTO, "the source asks for %u connections; this "
			       "vhm takes 2..%d in a CHANNELS section", chan->count,
			       MIG_STREAM_CONNS_MAX);
	while (got < (int)chan->count - 1) {
		struct mig_schan_reader *r = &in->r[got + 1];   /* in the order they came */
		struct mig_snet c;
		struct mig_stream_chan h;

		if (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE))
			return vhm_err(err, errlen, -ECANCELED, "stopped while the page "
				       "connections came");
		if (vhm_now_ns() > deadline)
			return vhm_err(err, errlen, -ETIMEDOUT, "%d of the source's %u page "
				       "connections came within %d ms%s%s", got, chan->count - 1,
				       timeout_ms, in->refused ? "; refused: " : "",
				       in->last_refusal);
		rc = mig_snet_accept(lfd, &c, ACCEPT_SLICE_MS, err, errlen);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc)
			return rc;
		if (take_hello(in, &c, &h, seen, r))
			continue;
		seen[h.index] = true;
		r->net = c;
		r->in = in;
		r->index = h.index;
		r->net.timeout_ms = timeout_ms;
		if ((rc = -vhm_thread_start(&r->thread, reader_main, r))) {
			mig_snet_close(&r->net);
			return vhm_err(err, errlen, rc, "starting a reader thread: %s",
				       strerror(-rc));
		}
		r->started = true;
		got++;
		__atomic_store_n(&in->accepted, got, __ATOMIC_RELEASE);
	}
	return 0;
}

void mig_schan_in_cut(struct mig_schan_in *in)
{
	__atomic_store_n(&in->failing, true, __ATOMIC_RELEASE);
	for (uint32_t i = 1; i < in->chan.count && i < MIG_STREAM_CONNS_MAX; i++)
		if (in->r[i].started)
			shutdown(in->r[i].net.fd, SHUT_RDWR);
}

int mig_schan_in_finish(struct mig_schan_in *in, uint64_t *data, uint64_t *zero, bool *first,
			char *err, size_t errlen)
{
	int rc = 0;

	if (first)
		*first = false;
	for (uint32_t i = 1; i < in->chan.count && i < MIG_STREAM_CONNS_MAX; i++) {
		struct mig_schan_reader *r = &in->r[i];

		if (!r->started)
			continue;
		pthread_join(r->thread, NULL);
		r->started = false;
		if (data)
			*data += r->data_pages;
		if (zero)
			*zero += r->zero_pages;
		if (r->rc && (!rc || r->first))
			rc = vhm_err(err, errlen, r->rc, "%s", r->err);
		if (r->rc && r->first && first)
			*first = true;
		mig_snet_close(&r->net);
	}
	return rc;
}

uint64_t mig_schan_in_bytes(const struct mig_schan_in *in)
{
	int n = __atomic_load_n(&in->accepted, __ATOMIC_ACQUIRE);
	uint64_t b = 0;

	for (int i = 1; i <= n; i++)
		b += __atomic_load_n(&in->r[i].net.bytes_in, __ATOMIC_RELAXED);
	return b;
}
