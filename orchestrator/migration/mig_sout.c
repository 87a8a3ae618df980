/* SPDX-License-Identifier: MIT */
/* The source's side of the migration stream: mig_stream's encoder writing
 * into a mig_snet connection, mig_smem turning guest memory into runs, and
 * the destination's answers read back on the same connection. A write
 * that fails may have failed because the destination refused and closed:
 * before reporting the transport's error, a FAILED answer already sent is
 * looked for (a short wait), and its text is what the error says. */
#include "mig_sout.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

#define MIG_SOUT_ANSWER_MS 300    /* a write failed: how long to look for FAILED */
#define MIG_SOUT_WAIT_US   2000   /* waiting for the page connections: ticks this often */

/* The destination's answer, waiting at most wait_ms: 0 with *code and text,
 * or -errno with what (the transport's, or "not an answer"). */
static int read_answer(struct mig_sout *s, int wait_ms, uint32_t *code, char *text,
		       size_t textlen, char *what, size_t whatlen)
{
	int saved = s->net.timeout_ms, rc;

	s->net.timeout_ms = wait_ms;
	rc = mig_ack_recv(mig_snet_in, &s->net, code, text, textlen, what, whatlen);
	s->net.timeout_ms = saved;
	return rc;
}

/* rc from sending `piece` failed the stream: s->err names why, the
 * destination's FAILED text when it sent one. */
static int failed(struct mig_sout *s, int rc, const char *piece)
{
	char text[MIG_ACK_TEXT_MAX + 1], what[200];
	uint32_t code;

	if (s->connected &&
	    !read_answer(s, MIG_SOUT_ANSWER_MS, &code, text, sizeof(text), what, sizeof(what)) &&
	    code == MIG_ACK_FAILED)
		return vhm_err(s->err, sizeof(s->err), -EREMOTEIO, "destination %s refused: %s",
			       s->net.peer, text);
	return vhm_err(s->err, sizeof(s->err), rc, "sending %s to %s: %s", piece, s->net.peer,
		       strerror(-rc));
}

/* Wait for the answer `want`; anything else fails with its name. */
static int expect(struct mig_sout *s, uint32_t want, const char *after)
{
	char text[MIG_ACK_TEXT_MAX + 1], what[200];
	uint32_t code;
	int rc = read_answer(s, s->net.timeout_ms, &code, text, sizeof(text), what, sizeof(what));

	if (rc == -ETIMEDOUT)
		return vhm_err(s->err, sizeof(s->err), rc, "destination %s did not answer %s "
			       "within %d ms after %s", s->net.peer, mig_ack_name(want),
			       s->net.timeout_ms, after);
	if (rc)
		return vhm_err(s->err, sizeof(s->err), rc, "destination %s, waiting for %s: %s",
			       s->net.peer, mig_ack_name(want), what);
	if (code == MIG_ACK_FAILED)
		return vhm_err(s->err, sizeof(s->err), -EREMOTEIO, "destination %s refused: %s",
			       s->net.peer, text);
	if (code != want)
		return vhm_err(s->err, sizeof(s->err), -EPROTO, "destination %s answered %s, "
			       "expected %s", s->net.peer, mig_ack_name(code), mig_ack_name(want));
	return 0;
}

/* With several connections: CHANNELS, then the page connections. */
static int open_channels(struct mig_sout *s, const char *to, const struct gmem *mem,
			 int conns, int timeout_ms)
{
	struct mig_stream_chan ch = { .id = mig_schan_new_id(), .count = (uint32_t)conns };
	int rc;

	if ((rc = mig_senc_channels(&s->enc, &ch)))
		return failed(s, rc, "the CHANNELS section");
	if ((rc = mig_schan_connect(&s->chans, &ch, to, mem, &s->cap, timeout_ms)))
		return vhm_err(s->err, sizeof(s->err), rc, "%s", s->chans.err);
	return 0;
}

int mig_sout_open(struct mig_sout *s, const char *to, const struct gmem *mem,
		  uint64_t bandwidth, int conns, int timeout_ms,
		  int (*tick)(void *ctx, uint32_t pages), void *tick_ctx)
{
	char err[256];
	int rc;

	*s = (struct mig_sout){ .net = { .fd = -1 }, .cap = { .bandwidth = bandwidth },
				.chans = { .chan = { .count = 1 } } };
	if (!mig_schan_count_ok((uint64_t)conns))
		return vhm_err(s->err, sizeof(s->err), -EINVAL, "%d connections: expected 1..%d",
			       conns, MIG_STREAM_CONNS_MAX);
	if ((rc = mig_snet_connect(to, &s->net, timeout_ms, err, sizeof(err))))
		return vhm_err(s->err, sizeof(s->err), rc, "%s", err);
	s->connected = true;
	s->net.shared = &s->cap;
	mig_senc_init(&s->enc, mig_snet_out, &s->net);
	if ((rc = mig_smem_tx_init(&s->tx, &s->enc, mem)))
		return vhm_err(s->err, sizeof(s->err), rc, "stream staging: out of memory");
	s->tx_made = true;
	s->tx.tick = tick;
	s->tx.tick_ctx = tick_ctx;
	s->tx.nchan = (uint32_t)conns;
	s->enc.flags = conns > 1 ? MIG_STREAM_F_CHANNELS : 0;
	if ((rc = mig_senc_header(&s->enc)) || (rc = mig_smem_send_layout(&s->tx)))
		return failed(s, rc, "the MEMORY section");
	if (conns > 1 && (rc = open_channels(s, to, mem, conns, timeout_ms)))
		return rc;
	return expect(s, MIG_ACK_READY, "MEMORY");
}

/* The tick with the page connections' pages sent since *seen (0 too: the
 * tick serves the migration's other duties meanwhile): its -errno when it
 * asks the pass to stop, else 0. */
static int tick_senders(struct mig_sout *s, uint64_t *seen)
{
	uint64_t now = mig_schan_progress(&s->chans);
	int rc = s->tx.tick ? s->tx.tick(s->tx.tick_ctx, (uint32_t)(now - *seen)) : 0;

	*seen = now;
	return rc;
}

/* The page connections' share of a pass, after the main connection's own
 * (rc its outcome): wait for their senders, their progress passed to the
 * tick, which may stop them. 0, or the first failure; *piece names the
 * connection when it was a page connection's. */
static int join_senders(struct mig_sout *s, int rc, const char **piece)
{
	uint64_t seen = 0;
	int trc, crc;

	if (rc)
		mig_schan_abort(&s->chans);
	while (mig_schan_busy(&s->chans)) {
		if ((trc = tick_senders(s, &seen)) && !rc) {
			rc = trc;
			mig_schan_abort(&s->chans);
		}
		usleep(MIG_SOUT_WAIT_US);
	}
	crc = mig_schan_wait(&s->chans);
	tick_senders(s, &seen);
	if (crc && crc != -ECANCELED && (!rc || rc == -ECANCELED)) {
		*piece = s->chans.err;
		return crc;
	}
	return rc;
}

static uint64_t data_pages(const struct mig_sout *s)
{
	uint64_t d, z;

	mig_schan_counts(&s->chans, &d, &z);
	return s->tx.data_pages + d;
}

static uint64_t zero_pages(const struct mig_sout *s)
{
	uint64_t d, z;

	mig_schan_counts(&s->chans, &d, &z);
	return s->tx.zero_pages + z;
}

/* A pass through mig_smem on every connection (bm NULL: all of memory):
 * pages sent with data (*sent; with zero pages when count_zero), or its
 * error. */
static int pass(struct mig_sout *s, uint64_t *bm, size_t nwords, bool count_zero,
		uint64_t *sent)
{
	uint64_t d0 = data_pages(s), z0 = zero_pages(s);
	const char *piece = "pages";
	int rc = mig_schan_send(&s->chans, bm, nwords);

	if (rc)
		return vhm_err(s->err, sizeof(s->err), rc, "%s", s->chans.err);
	rc = bm ? mig_smem_send_dirty(&s->tx, bm, nwords) : mig_smem_send_all(&s->tx);
	rc = join_senders(s, rc, &piece);
	*sent = data_pages(s) - d0 + (count_zero ? zero_pages(s) - z0 : 0);
	if (rc == -ECANCELED)
		return vhm_err(s->err, sizeof(s->err), rc, "stopped");
	return rc ? failed(s, rc, piece) : 0;
}

int mig_sout_all(struct mig_sout *s, uint64_t *sent)
{
	return pass(s, NULL, 0, false, sent);
}

int mig_sout_dirty(struct mig_sout *s, uint64_t *bm, size_t nwords, uint64_t *sent)
{
	return pass(s, bm, nwords, true, sent);
}

int mig_sout_pass(struct mig_sout *s)
{
	int rc = mig_schan_pass(&s->chans, s->passes);

	if (rc)
		return failed(s, rc, s->chans.err);
	if ((rc = mig_senc_pass(&s->enc, s->passes)))
		return failed(s, rc, "PASS");
	s->passes++;
	return 0;
}

int mig_sout_device(struct mig_sout *s, struct device *d, const uint32_t *bases,
		    const uint8_t mac[6])
{
	struct mig_stream_device dev = { .features = d->features, .nrings = (uint32_t)d->nrings };
	size_t len = dev_state_size(d);
	uint8_t *blob;
	int rc;

	/* every page connection ends first: the destination applies DEVICE
	 * once all their pages are in */
	if ((rc = mig_schan_end(&s->chans)))
		return failed(s, rc, s->chans.err);
	blob = malloc(len);
	if (!blob)
		return vhm_err(s->err, sizeof(s->err), -ENOMEM, "device state: out of memory");
	if (d->nrings > MIG_STREAM_RINGS) {
		free(blob);
		return vhm_err(s->err, sizeof(s->err), -ENOTSUP, "%d rings: a stream carries at "
			       "most %d", d->nrings, MIG_STREAM_RINGS);
	}
	dev_state_save(d, blob);
	memcpy(dev.bases, bases, sizeof(uint32_t) * (size_t)d->nrings);
	memcpy(dev.mac, mac, 6);
	dev.blob = blob;
	dev.blob_len = (uint32_t)len;
	rc = mig_senc_device(&s->enc, &dev);
	free(blob);
	return rc ? failed(s, rc, "the DEVICE section") : 0;
}

int mig_sout_switchover(struct mig_sout *s, uint64_t digest)
{
	int rc = mig_senc_switchover(&s->enc, digest);

	if (rc)
		return failed(s, rc, "SWITCHOVER");
	return expect(s, MIG_ACK_READY, "SWITCHOVER");
}

int mig_sout_go(struct mig_sout *s)
{
	int rc = mig_senc_go(&s->enc);

	if (rc)
		return vhm_err(s->err, sizeof(s->err), rc, "sending GO to %s: %s", s->net.peer,
			       strerror(-rc));
	return expect(s, MIG_ACK_RUNNING, "GO");
}

int mig_sout_end(struct mig_sout *s)
{
	int rc = mig_senc_end(&s->enc);

	return rc ? vhm_err(s->err, sizeof(s->err), rc, "sending END to %s: %s", s->net.peer,
			    strerror(-rc)) : 0;
}

bool mig_sout_gone(struct mig_sout *s)
{
	struct pollfd p = { .fd = s->net.fd, .events = POLLIN };
	char text[MIG_ACK_TEXT_MAX + 1], what[200];
	uint32_t code;
	int rc;

	if (s->net.fd < 0)
		return true;
	if (poll(&p, 1, 0) <= 0)
		return false;
	/* nothing is asked now: anything readable is an end or a refusal */
	rc = read_answer(s, 0, &code, text, sizeof(text), what, sizeof(what));
	if (!rc && code == MIG_ACK_FAILED)
		vhm_err(s->err, sizeof(s->err), -EREMOTEIO, "destination %s refused: %s",
			s->net.peer, text);
	else if (!rc)
		vhm_err(s->err, sizeof(s->err), -EPROTO, "destination %s answered %s unasked",
			s->net.peer, mig_ack_name(code));
	else
		vhm_err(s->err, sizeof(s->err), rc, "destination %s closed the stream: %s",
			s->net.peer, what);
	return true;
}

uint64_t mig_sout_conn_bytes(const struct mig_sout *s, int i)
{
	return i ? mig_schan_bytes(&s->chans, i) : __atomic_load_n(&s->net.bytes_out,
								    __ATOMIC_RELAXED);
}

uint64_t mig_sout_bytes(const struct mig_sout *s)
{
	uint64_t n = 0;

	for (int i = 0; i < MIG_STREAM_CONNS_MAX; i++)
		n += mig_sout_conn_bytes(s, i);
	return n;
}

int mig_sout_conns(const struct mig_sout *s)
{
	return s->connected ? 1 + mig_schan_open_count(&s->chans) : 0;
}

void mig_sout_close(struct mig_sout *s)
{
	mig_schan_out_close(&s->chans);
	if (s->tx_made)
		mig_smem_tx_destroy(&s->tx);
	s->tx_made = false;
	if (s->connected)
		mig_snet_close(&s->net);
	s->connected = false;
}
