/* SPDX-License-Identifier: MIT */
/* The frontend connection: connect and negotiate in QEMU's order, then one
 * function per request, each sent and its reply checked against the request
 * table; one error sink (fail) writes the message and marks the connection
 * broken when the stream can no longer be trusted. */
#include "vhu_front.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "usock.h"
#include "util.h"
#include "vhu_wire.h"

/* The one error sink: record what happened to whom; optionally break. */
static int __attribute__((format(printf, 5, 6)))
fail(struct vhu_front *f, int rc, bool breaks, uint32_t request, const char *fmt, ...)
{
	char what[VHU_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(f->err, sizeof(f->err), "%s to %s: %s", vhu_req_name(request), f->path, what);
	if (breaks)
		f->broken = true;
	return rc;
}

static void front_init(struct vhu_front *f, int sock, const char *peer, int timeout_ms)
{
	memset(f, 0, sizeof(*f));
	f->sock = sock;
	f->breq_sock = -1;
	f->timeout_ms = timeout_ms > 0 ? timeout_ms : VHU_DEFAULT_TIMEOUT_MS;
	f->queue_num = 1;
	f->max_mem_slots = VHU_MAX_REGIONS;
	snprintf(f->path, sizeof(f->path), "%s", peer);
}

int vhu_front_connect(struct vhu_front *f, const char *path, int timeout_ms)
{
	int sock, rc;

	front_init(f, -1, path, timeout_ms);
	sock = usock_connect(path, f->timeout_ms, SOCK_NONBLOCK);
	if (sock == -EINVAL || sock == -ENAMETOOLONG) {
		snprintf(f->err, sizeof(f->err), "%s: socket path %s", path,
			 sock == -ENAMETOOLONG ? "too long" : "empty");
		return sock;
	}
	if (sock < 0) {
		snprintf(f->err, sizeof(f->err), "connect to %s: %s", path, strerror(-sock));
		return sock;
	}
	rc = vhu_wire_prepare(sock);
	if (rc) {
		snprintf(f->err, sizeof(f->err), "connect to %s: %s", path, strerror(-rc));
		close(sock);
		return rc;
	}
	f->sock = sock;
	return 0;
}

int vhu_front_adopt(struct vhu_front *f, int sock, const char *peer, int timeout_ms)
{
	int rc;

	front_init(f, sock, peer, timeout_ms);
	rc = vhu_wire_prepare(sock);
	if (rc)
		snprintf(f->err, sizeof(f->err), "%s: %s", peer, strerror(-rc));
	return rc;
}

void vhu_front_close(struct vhu_front *f)
{
	if (f->sock >= 0)
		close(f->sock);
	if (f->breq_sock >= 0)
		close(f->breq_sock);
	f->sock = f->breq_sock = -1;
	f->broken = true;
}

bool vhu_front_has_pf(const struct vhu_front *f, unsigned bit)
{
	return (f->acked_protocol >> bit) & 1;
}

int vhu_front_peer_pid(const struct vhu_front *f)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (f->sock < 0)
		return -ENOTCONN;
	if (getsockopt(f->sock, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return -errno;
	return cred.pid > 0 ? (int)cred.pid : -ESRCH;
}

bool vhu_front_peer_gone(const struct vhu_front *f)
{
	struct pollfd p = { .fd = f->sock, .events = POLLIN };
	char c;

	if (f->sock < 0)
		return true;
	if (poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLHUP | POLLERR))
		return true;
	/* readable: end of file, or a byte the next request will read */
	return (p.revents & POLLIN) && recv(f->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

uint64_t vhu_front_default_protocol(void)
{
	static const unsigned bits[] = {
		VHU_PF_MQ, VHU_PF_LOG_SHMFD, VHU_PF_RARP, VHU_PF_REPLY_ACK, VHU_PF_NET_MTU,
		VHU_PF_BACKEND_REQ, VHU_PF_CONFIG, VHU_PF_RESET_DEVICE,
		VHU_PF_CONFIGURE_MEM_SLOTS, VHU_PF_STATUS,
	};
	uint64_t v = 0;

	for (size_t i = 0; i < VHM_ARRAY_SIZE(bits); i++)
		v |= 1ull << bits[i];
	return v;
}

/* May this request be sent on this connection now? */
static int check_negotiated(struct vhu_front *f, const struct vhu_req_info *info)
{
	if (info->need == VHU_NEED_NONE)
		return 0;
	if (info->need == VHU_NEED_PF) {
		if (f->dev_features & (1ull << VHU_F_PROTOCOL_FEATURES))
			return 0;
		return fail(f, -ENOTSUP, false, info->num,
			    "backend does not offer PROTOCOL_FEATURES (virtio bit 30)");
	}
	if (vhu_front_has_pf(f, (unsigned)info->need))
		return 0;
	return fail(f, -ENOTSUP, false, info->num, "protocol feature %s not negotiated",
		    vhu_pf_name((unsigned)info->need));
}

static bool wants_reply(const struct vhu_front *f, const struct vhu_req_info *info)
{
	switch (info->reply) {
	case VHU_RR_ALWAYS:
		return true;
	case VHU_RR_ACK:
		return vhu_front_has_pf(f, VHU_PF_REPLY_ACK);
	case VHU_RR_LOG:
		return vhu_front_has_pf(f, VHU_PF_LOG_SHMFD);
	case VHU_RR_NEVER:
		return false;
	}
	return false;
}

/* Does the caller's payload fit the row (and so the message buffer)? Checked
 * before anything is copied: a memory table of 9 regions or a config of 300
 * bytes is refused here, never read past its end. */
static int check_payload(struct vhu_front *f, const struct vhu_req_info *info,
			 const union vhu_payload *p)
{
	uint32_t size = vhu_pl_size(info->payload, p);
	char want[64];

	if (vhu_pl_size_ok(info->payload, p, size, want, sizeof(want)) && size <= VHU_PAYLOAD_MAX)
		return 0;
	if (info->payload == VHU_PL_MEM)
		return fail(f, -EMSGSIZE, false, info->num, "%u regions, expected %s",
			    p->mem.nregions, want);
	if (info->payload == VHU_PL_CONFIG)
		return fail(f, -EMSGSIZE, false, info->num, "config size %u, expected %s",
			    p->config.size, want);
	return fail(f, -EINVAL, false, info->num, "payload size %u, expected %s", size, want);
}

/* The message for `request`, checked against its row (negotiated, payload,
 * fds): 0 or the error, recorded; *expect_reply as vhu_front_send's. */
static int build_msg(struct vhu_front *f, uint32_t request, const union vhu_payload *p,
		     const int *fds, int nfds, bool unacked, struct vhu_msg *m,
		     bool *expect_reply)
{
	static const union vhu_payload empty;
	const struct vhu_req_info *info = vhu_req_info(request);
	int min, max, rc;

	if (f->broken || f->sock < 0)
		return fail(f, -ENOTCONN, true, request, "connection already broken");
	if (!info)
		return fail(f, -EINVAL, false, request, "not a request vhm sends");
	if ((rc = check_negotiated(f, info)))
		return rc;
	p = p ? p : &empty;
	if ((rc = check_payload(f, info, p)))
		return rc;
	vhu_fd_count(info->fds, p, &min, &max);
	if (nfds < min || nfds > max || nfds > VHU_MAX_FDS)
		return fail(f, -EINVAL, false, request, "%d fds given, the request takes %d..%d",
			    nfds, min, max);

	memset(m, 0, sizeof(*m));
	m->hdr.request = request;
	m->hdr.flags = VHU_VERSION;
	m->hdr.size = vhu_pl_size(info->payload, p);
	memcpy(&m->u, p, m->hdr.size);
	m->nfds = nfds;
	if (nfds)
		memcpy(m->fds, fds, sizeof(int) * (size_t)nfds);
	*expect_reply = wants_reply(f, info) && !(unacked && info->reply == VHU_RR_ACK);
	if (*expect_reply && info->reply == VHU_RR_ACK)
		m->hdr.flags |= VHU_FLAG_NEED_REPLY;
	return 0;
}

int vhu_front_send(struct vhu_front *f, uint32_t request, const union vhu_payload *p,
		   const int *fds, int nfds, bool *expect_reply)
{
	char werr[VHU_ERR_LEN];
	struct vhu_msg m;
	int rc = build_msg(f, request, p, fds, nfds, false, &m, expect_reply);

	if (rc)
		return rc;
	rc = vhu_wire_send(f->sock, &m, f->timeout_ms, werr, sizeof(werr));
	if (rc)
		return fail(f, rc, true, request, "%s", werr);
	return 0;
}

/* Reply fds: how many must come with this reply. */
static void reply_fd_rule(const struct vhu_req_info *info, const struct vhu_msg *r, int *min,
			  int *max)
{
	if (info->num == VHU_SET_DEVICE_STATE_FD) {
		/* bit 8: the backend returns no fd and will use ours */
		*min = *max = (r->u.u64 & VHU_VRING_NOFD) ? 0 : 1;
		return;
	}
	vhu_fd_count(info->reply_fds, &r->u, min, max);
}

static int validate_reply(struct vhu_front *f, const struct vhu_req_info *info,
			  const union vhu_payload *sent, const struct vhu_msg *r)
{
	const uint32_t want_flags = VHU_VERSION | VHU_FLAG_REPLY;
	enum vhu_pl kind = info->reply == VHU_RR_ACK ? VHU_PL_U64 : info->reply_payload;
	char want[64];
	int min, max;

	if (r->hdr.request != info->num)
		return fail(f, -EPROTO, true, info->num, "reply echoes %s, expected %s",
			    vhu_req_name(r->hdr.request), info->name);
	if (r->hdr.flags != want_flags)
		return fail(f, -EPROTO, true, info->num, "reply flags 0x%x, expected 0x%x "
			    "(version 1 + reply bit)", r->hdr.flags, want_flags);
	if (!vhu_pl_size_ok(kind, &r->u, r->hdr.size, want, sizeof(want)))
		return fail(f, -EPROTO, true, info->num, "reply size %u, expected %s",
			    r->hdr.size, want);
	if (kind == VHU_PL_CONFIG && r->u.config.size != sent->config.size)
		return fail(f, -EPROTO, true, info->num, "reply config size %u, expected %u",
			    r->u.config.size, sent->config.size);
	reply_fd_rule(info, r, &min, &max);
	if (r->nfds < min || r->nfds > max)
		return fail(f, -EPROTO, true, info->num, "reply carries %d fds, expected %d%s",
			    r->nfds, min, max > min ? " or 1" : "");
	if (info->reply == VHU_RR_ACK && r->u.u64 != 0)
		return fail(f, -EIO, false, info->num, "backend refused (ack %llu)",
			    (unsigned long long)r->u.u64);
	return 0;
}

static int serve_backend_msg(struct vhu_front *f);

/* Wait for the reply to `request`, serving the backend-request channel
 * meanwhile: a backend may ask something of us (an IOTLB miss, a config
 * change with NEED_REPLY) and wait for our answer before it replies. The ms
 * left for the reply itself, or -ETIMEDOUT. */
static int wait_reply(struct vhu_front *f, uint32_t request)
{
	uint64_t end = vhm_now_ns() + (uint64_t)f->timeout_ms * 1000000ull;

	while (f->breq_sock >= 0) {
		struct pollfd p[2] = { { .fd = f->sock, .events = POLLIN },
				       { .fd = f->breq_sock, .events = POLLIN } };
		uint64_t now = vhm_now_ns();
		int rc;

		if (now >= end)
			return fail(f, -ETIMEDOUT, true, request, "no reply within %d ms",
				    f->timeout_ms);
		rc = poll(p, 2, (int)((end - now + 999999) / 1000000));
		if (rc < 0 && errno != EINTR)
			return fail(f, -errno, true, request, "poll: %s", strerror(errno));
		if (rc > 0 && p[0].revents)
			break;
		if (rc > 0 && p[1].revents)
			serve_backend_msg(f);   /* a broken channel closes itself */
	}
	return (int)((end - vhm_now_ns()) / 1000000) + 1;
}

int vhu_front_recv(struct vhu_front *f, uint32_t request, const union vhu_payload *sent,
		   struct vhu_msg *reply)
{
	static const union vhu_payload empty;
	const struct vhu_req_info *info = vhu_req_info(request);
	char werr[VHU_ERR_LEN];
	struct vhu_msg local;
	int rc;

	if (!info)
		return fail(f, -EINVAL, false, request, "not a request vhm sends");
	if (f->broken)
		return fail(f, -ENOTCONN, true, request, "connection already broken");
	reply = reply ? reply : &local;
	if ((rc = wait_reply(f, request)) < 0)
		return rc;
	rc = vhu_wire_recv(f->sock, reply, f->breq_sock >= 0 ? rc : f->timeout_ms, werr,
			   sizeof(werr));
	if (rc)
		return fail(f, rc, true, request, "%s", werr);
	rc = validate_reply(f, info, sent ? sent : &empty, reply);
	if (rc || reply == &local)
		vhu_msg_close_fds(reply);
	return rc;
}

/* A request whose effect must be in place before we go on, sent without an
 * ack (REPLY_ACK not negotiated): a GET_FEATURES round trip is the sync
 * point, as in QEMU's enforce_reply. The backend handles messages in order,
 * so its reply means the request before it was handled. */
static int sync_point(struct vhu_front *f, uint32_t request)
{
	struct vhu_msg r;
	bool expect;
	int rc = vhu_front_send(f, VHU_GET_FEATURES, NULL, NULL, 0, &expect);

	if (!rc)
		rc = vhu_front_recv(f, VHU_GET_FEATURES, NULL, &r);
	if (rc) {
		char why[VHU_ERR_LEN];

		snprintf(why, sizeof(why), "%s", f->err);
		return fail(f, rc, f->broken, request, "sync point (GET_FEATURES) failed: %s", why);
	}
	return 0;
}

int vhu_front_request(struct vhu_front *f, uint32_t request, const union vhu_payload *p,
		      const int *fds, int nfds, struct vhu_msg *reply)
{
	static const union vhu_payload empty;
	bool expect;
	int rc = vhu_front_send(f, request, p, fds, nfds, &expect);

	if (rc)
		return rc;
	if (reply)
		memset(reply, 0, sizeof(*reply));
	if (expect)
		return vhu_front_recv(f, request, p, reply);
	if (vhu_needs_sync(vhu_req_info(request), p ? p : &empty))
		return sync_point(f, request);
	return 0;
}

/* Wire bytes of the reply to a request of this row when the table fixes
 * them and no fd may come with it (acks, ring states), else 0. */
#define FIXED_REPLY_BYTES (sizeof(struct vhu_hdr) + sizeof(uint64_t))

static size_t fixed_reply_bytes(const struct vhu_req_info *info)
{
	enum vhu_pl kind = info->reply == VHU_RR_ACK ? VHU_PL_U64 : info->reply_payload;

	if (info->reply_fds != VHU_FD_NONE || info->num == VHU_SET_DEVICE_STATE_FD)
		return 0;
	return kind == VHU_PL_U64 || kind == VHU_PL_STATE ? FIXED_REPLY_BYTES : 0;
}

/* Read what the connection holds of the first `want` bytes into buf + *got
 * (waiting for at least one, serving the backend's channel meanwhile, as
 * vhu_front_recv does); `partial`: bytes of the reply being read that are
 * in already. 0, or the error, recorded (the connection breaks). */
static int read_more(struct vhu_front *f, uint32_t request, uint8_t *buf, size_t *got,
		     size_t want, size_t partial)
{
	char werr[VHU_ERR_LEN];
	int left = wait_reply(f, request);
	ssize_t k;

	if (left < 0)
		return left;
	k = vhu_wire_recv_some(f->sock, buf + *got, want - *got,
			       f->breq_sock >= 0 ? left : f->timeout_ms, werr, sizeof(werr));
	if (k == -ECONNRESET && partial)
		return fail(f, -ECONNRESET, true, request, "peer closed mid-message (%zu of %zu "
			    "bytes)", partial, FIXED_REPLY_BYTES);
	if (k < 0)
		return fail(f, (int)k, true, request, "%s", werr);
	*got += (size_t)k;
	return 0;
}

/* The replies of a pipeline whose every expected reply is fixed
 * (fixed_reply_bytes), as they arrive: a recv takes all that are in, not
 * one header and one payload each, and never a byte past the last reply,
 * so the stream stays in step. Each is checked as vhu_front_recv checks
 * one; out[i] (out may be NULL) gets reply i's payload. The first error, or
 * 0; 1 when some reply is not fixed (the caller reads them one by one). */
static int collect_fixed(struct vhu_front *f, const struct vhu_pipe_req *r, const bool *expect,
			 int n, union vhu_payload *out)
{
	uint8_t buf[VHU_PIPELINE_MAX * FIXED_REPLY_BYTES];
	size_t total = 0, got = 0, at = 0;
	int first = 0;

	for (int i = 0; i < n; i++)
		if (expect[i] && !fixed_reply_bytes(vhu_req_info(r[i].request)))
			return 1;
		else if (expect[i])
			total += FIXED_REPLY_BYTES;
	for (int i = 0; i < n && !f->broken; i++) {
		struct vhu_msg m = { .nfds = 0 };
		int rc = 0;

		if (!expect[i])
			continue;
		while (!rc && got - at < FIXED_REPLY_BYTES)
			rc = read_more(f, r[i].request, buf, &got, total, got - at);
		if (!rc) {
			memcpy(&m.hdr, buf + at, sizeof(m.hdr));
			memcpy(&m.u, buf + at + sizeof(m.hdr), sizeof(uint64_t));
			at += FIXED_REPLY_BYTES;
			rc = validate_reply(f, vhu_req_info(r[i].request), &r[i].p, &m);
		}
		if (!rc && out)
			out[i] = m.u;
		if (rc && !first)
			first = rc;
	}
	return first;
}

/* Collect the replies of the requests marked in expect[], in order (out[i]:
 * reply i's payload, out may be NULL). The first error, or 0; a broken
 * connection stops the collection. */
static int pipeline_collect(struct vhu_front *f, const struct vhu_pipe_req *r, const bool *expect,
			    int n, union vhu_payload *out)
{
	int first = collect_fixed(f, r, expect, n, out);

	if (first != 1)
		return first;
	first = 0;
	for (int i = 0; i < n && !f->broken; i++) {
		struct vhu_msg reply = { .nfds = 0 };
		int rc;

		if (!expect[i])
			continue;
		rc = vhu_front_recv(f, r[i].request, &r[i].p, &reply);
		if (!rc && out)
			out[i] = reply.u;
		vhu_msg_close_fds(&reply);
		if (rc && !first)
			first = rc;
	}
	return first;
}

/* A pipeline's requests framed back to back and sent in one call: one
 * wake-up of the backend, not one a request. A request with fds opens a
 * segment of its own (they travel with its first byte); those without
 * follow in the segment before. */
#define CORK_BYTES 4096
#define CORK_SEGS  32

struct cork {
	uint8_t buf[CORK_BYTES];
	size_t len;
	struct vhu_wire_seg seg[CORK_SEGS];
	int fds[CORK_SEGS][VHU_MAX_FDS];
	int nseg;
	int first, next;           /* requests [first, next) are in buf */
};

/* Send what is corked. 0, or the error, recorded (the connection breaks). */
static int cork_flush(struct vhu_front *f, const struct vhu_pipe_req *r, struct cork *c)
{
	char werr[VHU_ERR_LEN];
	int rc;

	if (!c->nseg)
		return 0;
	rc = vhu_wire_send_segs(f->sock, c->seg, c->nseg, f->timeout_ms, werr, sizeof(werr));
	c->len = 0;
	c->nseg = 0;
	if (rc)
		return fail(f, rc, true, r[c->first].request, "%s", werr);
	c->first = c->next;
	return 0;
}

/* Request i of n into the cork (sent first if it is full); *quiet: it went
 * without the ack it would have had (unacked). */
static int pipeline_put(struct vhu_front *f, const struct vhu_pipe_req *r, int i, int n,
			struct cork *c, bool *expect, bool *quiet)
{
	bool unacked = r[i].unacked && i < n - 1;
	struct vhu_msg m;
	struct vhu_wire_seg *sg;
	int rc = build_msg(f, r[i].request, &r[i].p, &r[i].fd, r[i].fd >= 0 ? 1 : 0, unacked, &m,
			   expect);

	if (rc)
		return rc;
	*quiet = unacked && !*expect && wants_reply(f, vhu_req_info(r[i].request));
	if ((c->len + sizeof(m.hdr) + m.hdr.size > sizeof(c->buf) ||
	     (m.nfds && c->nseg == CORK_SEGS)) && (rc = cork_flush(f, r, c)))
		return rc;
	if (m.nfds || !c->nseg) {
		sg = &c->seg[c->nseg];
		memcpy(c->fds[c->nseg], m.fds, sizeof(int) * (size_t)m.nfds);
		*sg = (struct vhu_wire_seg){ .buf = c->buf + c->len, .fds = c->fds[c->nseg],
					     .nfds = m.nfds };
		c->nseg++;
	}
	sg = &c->seg[c->nseg - 1];
	sg->len += vhu_wire_frame(&m, c->buf + c->len);
	c->len += sizeof(m.hdr) + m.hdr.size;
	c->next = i + 1;
	return 0;
}

void vhu_front_pipeline_send(struct vhu_front *f, const struct vhu_pipe_req *r, int n,
			     struct vhu_pending *pend)
{
	struct cork c = { .len = 0, .nseg = 0 };
	bool quiet_any = false;
	int rc = 0;

	pend->r = r;
	pend->sync = false;
	pend->sent = 0;
	if (n > VHU_PIPELINE_MAX) {
		pend->rc = fail(f, -E2BIG, false, r[0].request, "%d requests in one pipeline, at "
				"most %d", n, VHU_PIPELINE_MAX);
		return;
	}
	for (int i = 0; i < n && !rc; i++) {
		bool quiet = false;

		rc = pipeline_put(f, r, i, n, &c, &pend->expect[i], &quiet);
		quiet_any |= !rc && quiet;
		pend->sync |= !rc && !pend->expect[i] && !quiet &&
			      vhu_needs_sync(vhu_req_info(r[i].request), &r[i].p);
	}
	/* what was corked before a failure still goes: it was sound */
	rc = cork_flush(f, r, &c) ?: rc;
	pend->sent = c.first;      /* the requests that went out */
	pend->rc = rc;
	/* the quiet ones are answered for by the last request's reply; where
	 * it asks none, a sync point */
	if (quiet_any && !rc && !pend->expect[n - 1])
		pend->sync = true;
}

int vhu_front_pipeline_wait(struct vhu_front *f, struct vhu_pending *pend)
{
	int rc = pipeline_collect(f, pend->r, pend->expect, pend->sent, NULL) ?: pend->rc;

	if (!rc && pend->sync)
		rc = sync_point(f, pend->r[pend->sent - 1].request);
	pend->sent = 0;
	pend->sync = false;
	return rc;
}

int vhu_front_pipeline(struct vhu_front *f, const struct vhu_pipe_req *r, int n)
{
	struct vhu_pending pend;

	vhu_front_pipeline_send(f, r, n, &pend);
	return vhu_front_pipeline_wait(f, &pend);
}

/* ---- typed requests ---------------------------------------------------- */

int vhu_get_u64(struct vhu_front *f, uint32_t request, uint64_t *out)
{
	struct vhu_msg r;
	int rc = vhu_front_request(f, request, NULL, NULL, 0, &r);

	if (rc)
		return rc;
	*out = r.u.u64;
	return 0;
}

int vhu_set_u64(struct vhu_front *f, uint32_t request, uint64_t v)
{
	union vhu_payload p = { .u64 = v };

	return vhu_front_request(f, request, &p, NULL, 0, NULL);
}

int vhu_set_features(struct vhu_front *f, uint64_t features)
{
	int rc = vhu_set_u64(f, VHU_SET_FEATURES, features);

	if (!rc)
		f->acked_features = features;
	return rc;
}

int vhu_set_mem_table(struct vhu_front *f, const struct vhu_mem_region *r, const int *fds, int n)
{
	union vhu_payload p;

	if (n < 1 || n > VHU_MAX_REGIONS)
		return fail(f, -EINVAL, false, VHU_SET_MEM_TABLE, "%d regions, 1..%d allowed", n,
			    VHU_MAX_REGIONS);
	memset(&p, 0, sizeof(p));
	p.mem.nregions = (uint32_t)n;
	memcpy(p.mem.regions, r, sizeof(*r) * (size_t)n);
	return vhu_front_request(f, VHU_SET_MEM_TABLE, &p, fds, n, NULL);
}

static int mem_reg(struct vhu_front *f, uint32_t request, const struct vhu_mem_region *r, int fd)
{
	union vhu_payload p;

	memset(&p, 0, sizeof(p));
	p.memreg.region = *r;
	return vhu_front_request(f, request, &p, &fd, fd >= 0 ? 1 : 0, NULL);
}

int vhu_add_mem_reg(struct vhu_front *f, const struct vhu_mem_region *r, int fd)
{
	return mem_reg(f, VHU_ADD_MEM_REG, r, fd);
}

int vhu_rem_mem_reg(struct vhu_front *f, const struct vhu_mem_region *r, int fd)
{
	return mem_reg(f, VHU_REM_MEM_REG, r, fd);
}

int vhu_set_log_base(struct vhu_front *f, int log_fd, uint64_t size, uint64_t offset)
{
	union vhu_payload p = { .log = { .mmap_size = size, .mmap_offset = offset } };

	return vhu_front_request(f, VHU_SET_LOG_BASE, &p, &log_fd, 1, NULL);
}

int vhu_set_vring_state(struct vhu_front *f, uint32_t request, uint32_t index, uint32_t num)
{
	union vhu_payload p = { .state = { .index = index, .num = num } };

	return vhu_front_request(f, request, &p, NULL, 0, NULL);
}

int vhu_set_vring_addr(struct vhu_front *f, const struct vhu_vring_addr *a)
{
	union vhu_payload p = { .addr = *a };

	return vhu_front_request(f, VHU_SET_VRING_ADDR, &p, NULL, 0, NULL);
}

int vhu_set_vring_fd(struct vhu_front *f, uint32_t request, uint32_t index, int fd)
{
	union vhu_payload p = { .u64 = (index & VHU_VRING_IDX_MASK) };

	if (index > VHU_VRING_IDX_MASK)
		return fail(f, -EINVAL, false, request, "ring index %u above 255", index);
	if (fd < 0)
		p.u64 |= VHU_VRING_NOFD;
	return vhu_front_request(f, request, &p, &fd, fd >= 0 ? 1 : 0, NULL);
}

int vhu_get_vring_bases(struct vhu_front *f, const uint32_t *index, uint32_t *base, int n)
{
	struct vhu_pipe_req r[VHU_PIPELINE_MAX];
	union vhu_payload got[VHU_PIPELINE_MAX];
	struct vhu_pending pend;
	int rc;

	if (n > VHU_PIPELINE_MAX)
		return fail(f, -E2BIG, false, VHU_GET_VRING_BASE, "%d rings, at most %d", n,
			    VHU_PIPELINE_MAX);
	for (int i = 0; i < n; i++)
		r[i] = (struct vhu_pipe_req){ .request = VHU_GET_VRING_BASE, .fd = -1,
					      .p.state = { .index = index[i] } };
	vhu_front_pipeline_send(f, r, n, &pend);
	if (pend.rc)
		return pend.rc;    /* the ones sent are not collected: the stream broke */
	if ((rc = pipeline_collect(f, r, pend.expect, n, got)))
		return rc;
	for (int i = 0; i < n; i++) {
		if (got[i].state.index != index[i])
			return fail(f, -EPROTO, true, VHU_GET_VRING_BASE,
				    "reply for ring %u, expected ring %u", got[i].state.index,
				    index[i]);
		base[i] = got[i].state.num;
	}
	return 0;
}

int vhu_send_rarp(struct vhu_front *f, const uint8_t mac[6])
{
	union vhu_payload p = { .u64 = 0 };

	memcpy(&p.u64, mac, 6);
	return vhu_front_request(f, VHU_SEND_RARP, &p, NULL, 0, NULL);
}

int vhu_get_config(struct vhu_front *f, uint32_t offset, uint32_t size, uint8_t *out)
{
	union vhu_payload p;
	struct vhu_msg r;
	int rc;

	if (size > VHU_MAX_CONFIG)
		return fail(f, -EINVAL, false, VHU_GET_CONFIG, "config size %u above %d", size,
			    VHU_MAX_CONFIG);
	memset(&p, 0, sizeof(p));
	p.config.offset = offset;
	p.config.size = size;
	rc = vhu_front_request(f, VHU_GET_CONFIG, &p, NULL, 0, &r);
	if (!rc)
		memcpy(out, r.u.config.region, size);
	return rc;
}

int vhu_set_config(struct vhu_front *f, uint32_t offset, uint32_t size, const uint8_t *data)
{
	union vhu_payload p;

	if (size > VHU_MAX_CONFIG)
		return fail(f, -EINVAL, false, VHU_SET_CONFIG, "config size %u above %d", size,
			    VHU_MAX_CONFIG);
	memset(&p, 0, sizeof(p));
	p.config.offset = offset;
	p.config.size = size;
	memcpy(p.config.region, data, size);
	return vhu_front_request(f, VHU_SET_CONFIG, &p, NULL, 0, NULL);
}

int vhu_get_inflight_fd(struct vhu_front *f, uint16_t num_queues, uint16_t queue_size,
			struct vhu_inflight *out, int *fd)
{
	union vhu_payload p;
	struct vhu_msg r;
	int rc;

	memset(&p, 0, sizeof(p));
	p.inflight.num_queues = num_queues;
	p.inflight.queue_size = queue_size;
	rc = vhu_front_request(f, VHU_GET_INFLIGHT_FD, &p, NULL, 0, &r);
	if (rc)
		return rc;
	*out = r.u.inflight;
	*fd = r.fds[0];
	return 0;
}

int vhu_set_inflight_fd(struct vhu_front *f, const struct vhu_inflight *in, int fd)
{
	union vhu_payload p = { .inflight = *in };

	return vhu_front_request(f, VHU_SET_INFLIGHT_FD, &p, &fd, 1, NULL);
}

int vhu_set_device_state_fd(struct vhu_front *f, uint32_t direction, uint32_t phase, int fd,
			    int *reply_fd)
{
	union vhu_payload p = { .devstate = { .direction = direction, .phase = phase } };
	struct vhu_msg r;
	int rc;

	*reply_fd = -1;
	rc = vhu_front_request(f, VHU_SET_DEVICE_STATE_FD, &p, &fd, 1, &r);
	if (rc)
		return rc;
	if (r.u.u64 & VHU_VRING_IDX_MASK) {
		vhu_msg_close_fds(&r);
		return fail(f, -EIO, false, VHU_SET_DEVICE_STATE_FD, "backend refused (%llu)",
			    (unsigned long long)(r.u.u64 & VHU_VRING_IDX_MASK));
	}
	if (r.nfds)
		*reply_fd = r.fds[0];
	return 0;
}

int vhu_check_device_state(struct vhu_front *f)
{
	uint64_t v;
	int rc = vhu_get_u64(f, VHU_CHECK_DEVICE_STATE, &v);

	if (rc)
		return rc;
	if (v)
		return fail(f, -EIO, false, VHU_CHECK_DEVICE_STATE, "backend reports failure (%llu)",
			    (unsigned long long)v);
	return 0;
}

/* ---- negotiation ------------------------------------------------------- */

static int open_backend_channel(struct vhu_front *f)
{
	int sv[2], rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return fail(f, -errno, false, VHU_SET_BACKEND_REQ_FD, "socketpair: %s",
			    strerror(errno));
	rc = vhu_front_request(f, VHU_SET_BACKEND_REQ_FD, NULL, &sv[1], 1, NULL);
	close(sv[1]);
	if (rc || (rc = vhu_wire_prepare(sv[0]))) {
		close(sv[0]);
		return rc;
	}
	f->breq_sock = sv[0];
	return 0;
}

/* A value the backend reported, checked against what the spec allows. */
static int check_range(struct vhu_front *f, uint32_t request, uint64_t v, uint64_t lo, uint64_t hi)
{
	if (v >= lo && v <= hi)
		return 0;
	return fail(f, -EPROTO, true, request, "backend reported %llu, expected %llu..%llu",
		    (unsigned long long)v, (unsigned long long)lo, (unsigned long long)hi);
}

/* The backend's own init, as QEMU's vhost_user_backend_init does it. */
static int backend_init(struct vhu_front *f, uint64_t want_protocol)
{
	uint64_t v;
	int rc;

	if ((rc = vhu_get_u64(f, VHU_GET_FEATURES, &f->dev_features)))
		return rc;
	if (!(f->dev_features & (1ull << VHU_F_PROTOCOL_FEATURES)))
		return 0;
	if ((rc = vhu_get_u64(f, VHU_GET_PROTOCOL_FEATURES, &f->dev_protocol)))
		return rc;
	v = f->dev_protocol & want_protocol;
	if ((rc = vhu_set_u64(f, VHU_SET_PROTOCOL_FEATURES, v)))
		return rc;
	f->acked_protocol = v;
	if (vhu_front_has_pf(f, VHU_PF_MQ)) {
		if ((rc = vhu_get_u64(f, VHU_GET_QUEUE_NUM, &v)) ||
		    (rc = check_range(f, VHU_GET_QUEUE_NUM, v, 1, 0x8000)))
			return rc;
		f->queue_num = (uint32_t)v;
	}
	if (vhu_front_has_pf(f, VHU_PF_CONFIGURE_MEM_SLOTS)) {
		if ((rc = vhu_get_u64(f, VHU_GET_MAX_MEM_SLOTS, &v)) ||
		    (rc = check_range(f, VHU_GET_MAX_MEM_SLOTS, v, 1, 4096)))
			return rc;
		f->max_mem_slots = (uint32_t)v;
	}
	if (vhu_front_has_pf(f, VHU_PF_BACKEND_REQ))
		return open_backend_channel(f);
	return 0;
}

int vhu_front_negotiate(struct vhu_front *f, uint64_t want_protocol)
{
	int rc = backend_init(f, want_protocol);

	/* QEMU's vhost_dev_init: the backend's init first, then SET_OWNER */
	return rc ? rc : vhu_front_request(f, VHU_SET_OWNER, NULL, NULL, 0, NULL);
}

/* ---- the backend-request channel ----------------------------------------- */

/* What vhm answers to each backend request: 0 done, non-zero refused. */
static uint64_t serve_one(struct vhu_front *f, const struct vhu_msg *m)
{
	switch (m->hdr.request) {
	case VHU_B_CONFIG_CHANGE_MSG:
		f->breq_config_changes++;
		return 0;
	case VHU_B_VRING_CALL:
	case VHU_B_VRING_ERR:
		f->breq_vring_calls++;
		return 0;
	default:
		/* No IOMMU, host notifiers or shared objects in vhm's device. */
		f->breq_refused++;
		return 1;
	}
}

static int serve_backend_msg(struct vhu_front *f)
{
	const struct vhu_req_info *info;
	char werr[VHU_ERR_LEN], want[64];
	struct vhu_msg m, r;
	uint64_t result = 1;
	int rc, min, max;

	rc = vhu_wire_recv(f->breq_sock, &m, f->timeout_ms, werr, sizeof(werr));
	if (rc) {
		snprintf(f->err, sizeof(f->err), "backend channel of %s: %s", f->path, werr);
		close(f->breq_sock);
		f->breq_sock = -1;
		return rc == -ECONNRESET ? 0 : rc;
	}
	info = vhu_breq_info(m.hdr.request);
	if (info) {
		vhu_fd_count(info->fds, &m.u, &min, &max);
		if (vhu_pl_size_ok(info->payload, &m.u, m.hdr.size, want, sizeof(want)) &&
		    m.nfds >= min && m.nfds <= max)
			result = serve_one(f, &m);
		else
			f->breq_refused++;
	} else {
		f->breq_refused++;
	}
	vhu_msg_close_fds(&m);
	if (!(m.hdr.flags & VHU_FLAG_NEED_REPLY))
		return 0;
	memset(&r, 0, sizeof(r));
	r.hdr.request = m.hdr.request;
	r.hdr.flags = VHU_VERSION | VHU_FLAG_REPLY;
	r.hdr.size = 8;
	r.u.u64 = result;
	rc = vhu_wire_send(f->breq_sock, &r, f->timeout_ms, werr, sizeof(werr));
	if (rc)
		snprintf(f->err, sizeof(f->err), "backend channel of %s: %s", f->path, werr);
	return rc;
}

int vhu_front_serve_backend(struct vhu_front *f)
{
	for (;;) {
		struct pollfd pfd = { .fd = f->breq_sock, .events = POLLIN };
		int rc;

		if (f->breq_sock < 0)
			return 0;
		if (poll(&pfd, 1, 0) <= 0)
			return 0;
		rc = serve_backend_msg(f);
		if (rc)
			return rc;
	}
}
