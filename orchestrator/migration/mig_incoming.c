/* SPDX-License-Identifier: MIT */
/* The destination's side of a migration between two vhm processes. One
 * thread waits for the source (in slices, so that a cancel is seen), then
 * reads the stream with mig_sin_run, whose hooks are the moments this file
 * exists for: MEMORY (open the device: memory sized by the stream, backend
 * and memory table), after MEMORY (READY), SWITCHOVER (the device's state
 * in, rings set up from the bases but not started, READY), GO (rings
 * started, guest resumed, RUNNING, RARP). What the stream's format refuses
 * is mig_stream's and mig_sin's; what this side refuses (features or rings
 * other than its own) is here. */
#include "mig_incoming.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_sin.h"
#include "mig_stream.h"
#include "util.h"

#define ACCEPT_SLICE_MS 200      /* a cancel is seen within this */

const char *mig_in_phase_name(enum mig_in_phase p)
{
	static const char *const names[] = {
		"waiting", "receiving", "switching", "running", "failed",
	};

	return (unsigned)p < VHM_ARRAY_SIZE(names) ? names[p] : "?";
}

static void set_phase(struct mig_incoming *in, enum mig_in_phase p)
{
	__atomic_store_n(&in->phase, (int)p, __ATOMIC_RELEASE);
}

static enum mig_in_phase phase(const struct mig_incoming *in)
{
	return (enum mig_in_phase)__atomic_load_n(&in->phase, __ATOMIC_ACQUIRE);
}

enum mig_in_phase mig_incoming_phase(const struct mig_incoming *in)
{
	return phase(in);
}

static bool cancelled(const struct mig_incoming *in)
{
	return __atomic_load_n(&in->cancel, __ATOMIC_ACQUIRE);
}

/* ---- the stream's hooks (incoming thread) --------------------------------- */

/* MEMORY: the device, with the stream's memory size. */
static int on_memory(void *ctx, const struct mig_stream_memory *m, struct gmem **mem, char *err,
		     size_t errlen)
{
	struct mig_incoming *in = ctx;
	struct dev_config c = in->cfg;
	char why[MIG_IN_ERR_LEN];
	int rc;

	if (c.mem_bytes && c.mem_bytes != m->total)
		return vhm_err(err, errlen, -EINVAL, "the source's guest has %llu MiB of memory, "
			       "this destination's --mem says %llu MiB",
			       (unsigned long long)(m->total >> 20),
			       (unsigned long long)(c.mem_bytes >> 20));
	c.mem_bytes = m->total;
	in->memory = *m;
	if ((rc = dev_open_incoming(in->dev, &c, why, sizeof(why))))
		return vhm_err(err, errlen, rc, "the destination's device: %s", why);
	in->opened = true;
	*mem = &in->dev->mem;
	return 0;
}

/* The layout is this device's and its backend has the memory table. */
static int on_ready(void *ctx, char *err, size_t errlen)
{
	struct mig_incoming *in = ctx;
	int rc = mig_ack_send(mig_snet_out, &in->conn, MIG_ACK_READY, "");

	if (rc)
		return vhm_err(err, errlen, rc, "answering READY to %s: %s", in->peer,
			       strerror(-rc));
	return 0;
}

/* CHANNELS: the source's page connections, each with its hello, on the
 * same listener; their readers start at once. */
static int on_channels(void *ctx, const struct mig_stream_chan *c, char *err, size_t errlen)
{
	struct mig_incoming *in = ctx;
	int rc;

	rc = mig_schan_accept(&in->chans, in->lfd, c, &in->memory, &in->dev->mem,
			      in->conn.fd, MIG_IN_TIMEOUT_MS, &in->cancel, err, errlen);
	__atomic_store_n(&in->chans_on, true, __ATOMIC_RELEASE);
	return rc;
}

/* DEVICE: every page connection's pages are in. */
static int on_pages_done(void *ctx, char *err, size_t errlen)
{
	struct mig_incoming *in = ctx;

	if (!__atomic_load_n(&in->chans_on, __ATOMIC_RELAXED))
		return 0;
	return mig_schan_in_finish(&in->chans, &in->chan_data, &in->chan_zero, NULL, err, errlen);
}

static void on_pass(void *ctx, uint32_t pass, const struct mig_sin_result *sofar)
{
	struct mig_incoming *in = ctx;

	(void)pass;
	__atomic_store_n(&in->passes, sofar->passes, __ATOMIC_RELAXED);
	__atomic_store_n(&in->data_pages, sofar->data_pages, __ATOMIC_RELAXED);
	__atomic_store_n(&in->zero_pages, sofar->zero_pages, __ATOMIC_RELAXED);
}

/* Is the stream's device this one? Features and rings must be the ones this
 * device negotiated with its backend (the same --queues and --ring). */
static int same_device(const struct device *d, const struct mig_stream_device *s, char *err,
		       size_t errlen)
{
	if (s->nrings != (uint32_t)d->nrings)
		return vhm_err(err, errlen, -EINVAL, "the source's device has %u rings, this one "
			       "%d (another --queues)", s->nrings, d->nrings);
	if (s->features != d->features)
		return vhm_err(err, errlen, -EINVAL, "the source's device acked features 0x%llx, "
			       "this one 0x%llx with its backend %s (another --ring, --queues or "
			       "backend)", (unsigned long long)s->features,
			       (unsigned long long)d->features, d->backend);
	return 0;
}

/* SWITCHOVER, the digests equal: the first phase of the switchover. Every
 * check a destination can fail (features, rings, state, the backend taking
 * the rings' bases and addresses) is made now, and nothing is started:
 * READY says "I can run it, and do not". Then GO is waited for at most
 * MIG_IN_GO_WAIT_MS; without it the device is closed, never started. */
static int on_switchover(void *ctx, const struct mig_sin_result *res, char *err, size_t errlen)
{
	struct mig_incoming *in = ctx;
	const struct mig_stream_device *s = &res->device;
	struct device *d = in->dev;
	char why[MIG_IN_ERR_LEN];
	int rc;

	set_phase(in, MIG_IN_SWITCHING);
	if ((rc = same_device(d, s, err, errlen)))
		return rc;
	if ((rc = dev_state_load(d, s->blob, s->blob_len, why, sizeof(why))))
		return vhm_err(err, errlen, rc, "the source's device state: %s", why);
	if ((rc = dev_incoming_prepare(d, s->bases, why, sizeof(why))))
		return vhm_err(err, errlen, rc, "setting up the rings on %s: %s", d->backend, why);
	if ((rc = mig_ack_send(mig_snet_out, &in->conn, MIG_ACK_READY, "")))
		return vhm_err(err, errlen, rc, "answering READY to %s: %s", in->peer,
			       strerror(-rc));
	in->ready = true;
	in->conn.timeout_ms = MIG_IN_GO_WAIT_MS;
	return 0;
}

/* GO: the commit. The rings start, RUNNING, RARP. A RUNNING that cannot be
 * sent leaves the device running all the same: the source, past GO, never
 * resumes its own, and says it does not know this one's state. */
static int on_go(void *ctx, const struct mig_sin_result *res, char *err, size_t errlen)
{
	struct mig_incoming *in = ctx;
	const struct mig_stream_device *s = &res->device;
	struct device *d = in->dev;
	char why[MIG_IN_ERR_LEN];
	int rc;

	if ((rc = dev_incoming_start(d, s->mac, why, sizeof(why))))
		return vhm_err(err, errlen, rc, "after GO, starting the rings on %s: %s",
			       d->backend, why);
	__atomic_store_n(&in->running_ns, vhm_now_ns(), __ATOMIC_RELAXED);
	set_phase(in, MIG_IN_RUNNING);
	if ((rc = mig_ack_send(mig_snet_out, &in->conn, MIG_ACK_RUNNING, "")))
		fprintf(stderr, "vhm run %s: answering RUNNING to %s: %s; the device runs\n",
			in->cfg.name, in->peer, strerror(-rc));
	/* the device runs: END, which only checks the bytes, is not waited for long */
	in->conn.timeout_ms = MIG_IN_END_WAIT_MS;
	__atomic_store_n(&in->rarp_sent, dev_send_rarp(d, s->mac), __ATOMIC_RELAXED);
	return 0;
}

/* ---- the incoming thread ---------------------------------------------------- */

/* Wait for the source until it connects or a cancel. */
static int accept_source(struct mig_incoming *in, char *err, size_t errlen)
{
	int rc;

	do {
		if (cancelled(in))
			return vhm_err(err, errlen, -ECANCELED,
				       "stopped before a source connected");
		rc = mig_snet_accept(in->lfd, &in->conn, ACCEPT_SLICE_MS, err, errlen);
	} while (rc == -ETIMEDOUT);
	if (rc)
		return rc;
	in->conn.timeout_ms = MIG_IN_TIMEOUT_MS;
	pthread_mutex_lock(&in->lock);
	snprintf(in->peer, sizeof(in->peer), "%s", in->conn.peer);
	pthread_mutex_unlock(&in->lock);
	__atomic_store_n(&in->conn_fd, in->conn.fd, __ATOMIC_RELEASE);
	__atomic_store_n(&in->accept_ns, vhm_now_ns(), __ATOMIC_RELAXED);
	set_phase(in, MIG_IN_RECEIVING);
	/* a cancel that came before conn_fd was there found nothing to shut */
	if (cancelled(in))
		shutdown(in->conn.fd, SHUT_RDWR);
	return 0;
}

/* FAILED with why, cut to what an answer carries; best effort (the
 * connection may be what failed). */
static void fail_back(struct mig_incoming *in, const char *why)
{
	char text[MIG_ACK_TEXT_MAX + 1];

	snprintf(text, sizeof(text), "%s", why);
	mig_ack_send(mig_snet_out, &in->conn, MIG_ACK_FAILED, text);
}

/* A read timed out before the commit: say what was waited for. The wait
 * for GO after READY is MIG_IN_GO_WAIT_MS; any other read fails when the
 * source's host stops answering (TCP keepalive, MIG_SNET_LIVE_MS) or, a host
 * that answers but sends nothing, after MIG_IN_TIMEOUT_MS. */
static void silent_source(struct mig_incoming *in, char *err, size_t errlen)
{
	double s = (double)(vhm_now_ns() - mig_snet_last_in_ns(&in->conn)) / 1e9;

	if (in->ready)
		vhm_err(err, errlen, -ETIMEDOUT, "no GO from the source %s within %d ms of READY: "
			"nothing was started", in->peer, MIG_IN_GO_WAIT_MS);
	else
		vhm_err(err, errlen, -ETIMEDOUT, "no data from the source %s for %.0f s (%s)",
			in->peer, s, s * 1000 < MIG_IN_TIMEOUT_MS ? "its host stopped answering: "
			"link cut or host down" : "its host answers, the source sends nothing");
}

/* The reading failed with rc (err): the page connections are cut and
 * joined; when one of them failed first, its failure is the reason (the
 * main connection's read was only woken by it). */
static int chans_failed(struct mig_incoming *in, int rc, char *err, size_t errlen)
{
	char why[MIG_SCHAN_ERR_LEN];
	bool first;
	int crc;

	if (!__atomic_load_n(&in->chans_on, __ATOMIC_RELAXED))
		return rc;
	mig_schan_in_cut(&in->chans);
	crc = mig_schan_in_finish(&in->chans, NULL, NULL, &first, why, sizeof(why));
	return crc && first ? vhm_err(err, errlen, crc, "%s", why) : rc;
}

/* The whole stream into the device. 0 once the device runs (a bad END after
 * the commit is reported, not undone); else -errno with err, FAILED sent
 * when the connection still takes it, and the device closed. */
static int receive(struct mig_incoming *in, char *err, size_t errlen)
{
	static const struct mig_sin_hooks hooks = {
		.memory = on_memory, .channels = on_channels, .ready = on_ready,
		.pass = on_pass, .pages_done = on_pages_done, .switchover = on_switchover,
		.go = on_go,
	};
	struct mig_sin_result res;
	struct mig_sdec dec;
	bool switched = false;
	int rc;

	if ((rc = mig_sdec_init(&dec, mig_snet_in, &in->conn)))
		return vhm_err(err, errlen, rc, "stream decoder: out of memory");
	rc = mig_sin_run(&dec, &hooks, in, &res, &switched, err, errlen);
	if (rc && !switched)
		rc = chans_failed(in, rc, err, errlen);
	if (cancelled(in) && !switched)
		rc = vhm_err(err, errlen, -ECANCELED, "stopped while receiving from %s", in->peer);
	else if (rc == -ETIMEDOUT && !switched)
		silent_source(in, err, errlen);
	if (!rc || switched) {   /* the counters outlive a failed reading */
		__atomic_store_n(&in->data_pages, res.data_pages + in->chan_data,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&in->zero_pages, res.zero_pages + in->chan_zero,
				 __ATOMIC_RELAXED);
	}
	if (!rc) {
		mig_sin_result_free(&res);
	} else if (switched) {
		fprintf(stderr, "vhm run %s: after the commit: %s; the device runs\n",
			in->cfg.name, err);
		rc = 0;
	} else {
		fail_back(in, err);
		if (in->opened)
			dev_close(in->dev);
		in->opened = false;
	}
	mig_sdec_destroy(&dec);
	return rc;
}

static void *incoming_main(void *arg)
{
	struct mig_incoming *in = arg;
	char err[MIG_IN_ERR_LEN] = "";
	uint64_t one = 1;
	int rc;

	rc = accept_source(in, err, sizeof(err));
	if (!rc)
		rc = receive(in, err, sizeof(err));
	__atomic_store_n(&in->conn_fd, -1, __ATOMIC_RELEASE);
	if (rc)   /* FAILED went out (fail_back): let it arrive */
		mig_snet_linger_close(&in->conn, MIG_IN_LINGER_MS);
	else
		mig_snet_close(&in->conn);
	pthread_mutex_lock(&in->lock);
	in->rc = rc;
	if (rc)   /* else err may hold an accept slice's timeout: nothing wrong */
		snprintf(in->err, sizeof(in->err), "%s", err);
	pthread_mutex_unlock(&in->lock);
	if (rc)
		set_phase(in, MIG_IN_FAILED);
	if (write(in->done_fd, &one, sizeof(one)) < 0)
		perror("vhm run: incoming: eventfd");
	return NULL;
}

/* ---- the caller's side ---------------------------------------------------- */

int mig_incoming_start(struct mig_incoming *in, const char *spec, struct device *dev,
		       const struct dev_config *cfg, char *err, size_t errlen)
{
	int rc;

	memset(in, 0, sizeof(*in));
	in->dev = dev;
	in->cfg = *cfg;
	in->conn.fd = in->conn_fd = in->lfd = -1;
	in->start_ns = vhm_now_ns();
	if ((rc = mig_snet_listen(spec, &in->lfd, in->bound, sizeof(in->bound), err, errlen)))
		return rc;
	in->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (in->done_fd < 0) {
		rc = vhm_err(err, errlen, -errno, "eventfd: %s", strerror(errno));
		goto fail_listen;
	}
	pthread_mutex_init(&in->lock, NULL);
	if ((rc = -vhm_thread_start(&in->thread, incoming_main, in))) {
		vhm_err(err, errlen, rc, "starting the incoming thread: %s", strerror(-rc));
		goto fail_thread;
	}
	pthread_setname_np(in->thread, "vhm-incoming");
	in->started = true;
	return 0;
fail_thread:
	pthread_mutex_destroy(&in->lock);
	close(in->done_fd);
fail_listen:
	close(in->lfd);
	in->lfd = -1;
	return rc;
}

int mig_incoming_fd(const struct mig_incoming *in)
{
	return in->done_fd;
}

bool mig_incoming_done(const struct mig_incoming *in)
{
	struct pollfd p = { .fd = in->done_fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

void mig_incoming_cancel(struct mig_incoming *in)
{
	int fd;

	__atomic_store_n(&in->cancel, true, __ATOMIC_RELEASE);
	/* wakes a read waiting for the source; the fd stays open (the
	 * incoming thread closes it) */
	fd = __atomic_load_n(&in->conn_fd, __ATOMIC_ACQUIRE);
	if (fd >= 0 && phase(in) < MIG_IN_SWITCHING)
		shutdown(fd, SHUT_RDWR);
}

int mig_incoming_finish(struct mig_incoming *in, char *err, size_t errlen)
{
	int rc;

	if (!in->started)
		return vhm_err(err, errlen, -EINVAL, "no incoming migration");
	pthread_join(in->thread, NULL);
	in->started = false;
	close(in->lfd);
	close(in->done_fd);
	in->lfd = in->done_fd = -1;
	pthread_mutex_destroy(&in->lock);
	rc = in->rc;
	if (rc)
		snprintf(err, errlen, "%s", in->err);
	return rc;
}

json_t *mig_incoming_json(struct mig_incoming *in)
{
	enum mig_in_phase p = phase(in);
	uint64_t bytes = 0, now = vhm_now_ns();
	json_t *o;

	if (p != MIG_IN_WAITING)   /* conn is written before the phase leaves it */
		bytes = __atomic_load_n(&in->conn.bytes_in, __ATOMIC_RELAXED) +
			mig_schan_in_bytes(&in->chans);
	o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:b}", "listen", in->bound,
		      "phase", mig_in_phase_name(p), "bytes", (json_int_t)bytes,
		      "passes", (json_int_t)__atomic_load_n(&in->passes, __ATOMIC_RELAXED),
		      "data_pages", (json_int_t)__atomic_load_n(&in->data_pages, __ATOMIC_RELAXED),
		      "zero_pages", (json_int_t)__atomic_load_n(&in->zero_pages, __ATOMIC_RELAXED),
		      "elapsed_ms", (double)(now - in->start_ns) / 1e6,
		      "rarp", __atomic_load_n(&in->rarp_sent, __ATOMIC_RELAXED));
	if (!o)
		return NULL;
	/* the connections the stream came on: the main one and the page ones */
	json_object_set_new(o, "connections", json_integer(p == MIG_IN_WAITING ? 0 :
		1 + __atomic_load_n(&in->chans.accepted, __ATOMIC_ACQUIRE)));
	pthread_mutex_lock(&in->lock);
	if (in->peer[0])
		json_object_set_new(o, "source", json_string(in->peer));
	if (in->err[0])
		json_object_set_new(o, "error", json_string(in->err));
	pthread_mutex_unlock(&in->lock);
	return o;
}
