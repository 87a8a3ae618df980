/* SPDX-License-Identifier: MIT */
/* One vhost-user message on the wire: header, payload and SCM_RIGHTS fds,
 * written and read in full under a deadline with poll, EINTR retried, and
 * every fd received that nobody claims closed where it was read. */
#include "vhu_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

/* Room for more fds than allowed, so that a peer sending too many is seen
 * (and its fds closed) rather than truncated silently. */
#define CMSG_FDS_MAX (VHU_MAX_FDS * 4)

int vhu_wire_prepare(int sock)
{
	int fl = fcntl(sock, F_GETFL);

	if (fl < 0 || fcntl(sock, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (fcntl(sock, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

static int remaining_ms(uint64_t deadline_ns)
{
	uint64_t now = vhm_now_ns();

	if (now >= deadline_ns)
		return 0;
	return (int)((deadline_ns - now + 999999) / 1000000);
}

/* Wait for `events` until the deadline: 0 ready, -ETIMEDOUT, -errno. */
static int wait_for(int sock, short events, uint64_t deadline_ns)
{
	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = events };
		int ms = remaining_ms(deadline_ns);
		int n;

		if (ms == 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;   /* readable, writable, or an error/hangup to collect */
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

size_t vhu_wire_frame(const struct vhu_msg *m, uint8_t *out)
{
	memcpy(out, &m->hdr, sizeof(m->hdr));
	memcpy(out + sizeof(m->hdr), &m->u, m->hdr.size);
	return sizeof(m->hdr) + m->hdr.size;
}

/* Room for the fds of one message in a control message. */
union fd_ctl {
	char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
	struct cmsghdr align;
};

/* fds (at most VHU_MAX_FDS) as mh's SCM_RIGHTS, in ctl. */
static void put_fds(struct msghdr *mh, union fd_ctl *ctl, const int *fds, int nfds)
{
	struct cmsghdr *c;

	memset(ctl, 0, sizeof(*ctl));
	mh->msg_control = ctl->buf;
	mh->msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
	c = CMSG_FIRSTHDR(mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
}

/* A send's errno as the callers report it. */
static int send_error(int e, char *err, size_t errlen)
{
	if (e == EPIPE || e == ECONNRESET)
		return vhm_err(err, errlen, -EPIPE, "peer closed the connection");
	return vhm_err(err, errlen, -e, "sendmsg: %s", strerror(e));
}

/* Send total bytes of frame, the fds (nfds of them) with the first byte. */
static int send_bytes(int sock, const uint8_t *frame, size_t total, const int *fds, int nfds,
		      int timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = vhm_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	size_t done = 0;
	bool fds_sent = nfds == 0;
	union fd_ctl ctl;

	while (done < total) {
		struct iovec iov = { (void *)(frame + done), total - done };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (!fds_sent)
			put_fds(&mh, &ctl, fds, nfds);
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n > 0) {
			done += (size_t)n;
			fds_sent = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_for(sock, POLLOUT, deadline);
			if (rc == -ETIMEDOUT)
				return vhm_err(err, errlen, rc,
					       "timed out after %d ms sending (%zu of %zu bytes sent)",
					       timeout_ms, done, total);
			if (rc < 0)
				return vhm_err(err, errlen, rc, "poll: %s", strerror(-rc));
			continue;
		}
		return send_error(errno, err, errlen);
	}
	return 0;
}

int vhu_wire_send(int sock, const struct vhu_msg *m, int timeout_ms, char *err, size_t errlen)
{
	uint8_t frame[sizeof(struct vhu_hdr) + VHU_PAYLOAD_MAX];

	if (m->hdr.size > VHU_PAYLOAD_MAX || m->nfds < 0 || m->nfds > VHU_MAX_FDS)
		return vhm_err(err, errlen, -EMSGSIZE,
			       "message too large to send (%u bytes, %d fds)", m->hdr.size,
			       m->nfds);
	return send_bytes(sock, frame, vhu_wire_frame(m, frame), m->fds, m->nfds, timeout_ms, err,
			  errlen);
}

#define SEGS_PER_CALL 64

/* One segment's msghdr, its fds in ctl. */
static void seg_msghdr(const struct vhu_wire_seg *sg, struct iovec *iov, struct msghdr *mh,
		       union fd_ctl *ctl)
{
	*iov = (struct iovec){ (void *)sg->buf, sg->len };
	*mh = (struct msghdr){ .msg_iov = iov, .msg_iovlen = 1 };
	if (sg->nfds)
		put_fds(mh, ctl, sg->fds, sg->nfds);
}

int vhu_wire_send_segs(int sock, const struct vhu_wire_seg *seg, int nseg, int timeout_ms,
		       char *err, size_t errlen)
{
	while (nseg > 0) {
		int batch = nseg < SEGS_PER_CALL ? nseg : SEGS_PER_CALL, n, rc;
		struct mmsghdr mm[SEGS_PER_CALL];
		struct iovec iov[SEGS_PER_CALL];
		union fd_ctl ctl[SEGS_PER_CALL];

		for (int i = 0; i < batch; i++) {
			seg_msghdr(&seg[i], &iov[i], &mm[i].msg_hdr, &ctl[i]);
			mm[i].msg_len = 0;
		}
		n = sendmmsg(sock, mm, (unsigned)batch, MSG_NOSIGNAL);
		if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return send_error(errno, err, errlen);
		if (n <= 0)
			n = 0;
		else if (mm[n - 1].msg_len < seg[n - 1].len)
			n--;       /* that one went in part: finished below, its fds sent */
		seg += n;
		nseg -= n;
		if (!nseg)
			break;
		/* what the socket did not take at once, the plain way (it waits) */
		rc = send_bytes(sock, seg->buf + mm[n].msg_len, seg->len - mm[n].msg_len,
				mm[n].msg_len ? NULL : seg->fds, mm[n].msg_len ? 0 : seg->nfds,
				timeout_ms, err, errlen);
		if (rc)
			return rc;
		seg++;
		nseg--;
	}
	return 0;
}

/* Move fds from one control message into m; close what does not fit. */
static int take_fds(struct vhu_msg *m, struct msghdr *mh)
{
	int extra = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;
		int *fds;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		fds = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, &fds[i], sizeof(fd));
			if (m->nfds < VHU_MAX_FDS) {
				m->fds[m->nfds++] = fd;
			} else {
				close(fd);
				extra++;
			}
		}
	}
	return extra;
}

/* One recvmsg of at most len bytes into buf, its fds into m (extra: how
 * many did not fit, closed; ctrunc: the kernel cut the control data). The
 * bytes read, 0 at end of file, or -errno. */
static ssize_t recv_once(int sock, struct vhu_msg *m, uint8_t *buf, size_t len, int *extra_fds,
			 bool *ctrunc)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CMSG_FDS_MAX)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);

	if (n < 0)
		return -errno;
	if (n > 0) {
		*extra_fds += take_fds(m, &mh);
		*ctrunc |= (mh.msg_flags & MSG_CTRUNC) != 0;
	}
	return n;
}

/* Read exactly len bytes into buf, collecting fds. */
static int read_full(int sock, struct vhu_msg *m, uint8_t *buf, size_t len, uint64_t deadline,
		     size_t *got, int *extra_fds, bool *ctrunc)
{
	*got = 0;
	while (*got < len) {
		ssize_t n = recv_once(sock, m, buf + *got, len - *got, extra_fds, ctrunc);

		if (n > 0) {
			*got += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN || n == -EWOULDBLOCK) {
			int rc = wait_for(sock, POLLIN, deadline);
			if (rc)
				return rc;
			continue;
		}
		return (int)n;
	}
	return 0;
}

static void describe_read_error(int rc, const char *what, size_t got, size_t want,
				int timeout_ms, char *err, size_t errlen)
{
	if (rc == -ECONNRESET && got == 0 && !strcmp(what, "header"))
		snprintf(err, errlen, "peer closed the connection");
	else if (rc == -ECONNRESET)
		snprintf(err, errlen, "peer closed mid-message (%s: %zu of %zu bytes)", what, got, want);
	else if (rc == -ETIMEDOUT && got == 0 && !strcmp(what, "header"))
		snprintf(err, errlen, "no reply within %d ms", timeout_ms);
	else if (rc == -ETIMEDOUT)
		snprintf(err, errlen, "timed out after %d ms with a short %s (%zu of %zu bytes)",
			 timeout_ms, what, got, want);
	else
		snprintf(err, errlen, "recvmsg: %s", strerror(-rc));
}

int vhu_wire_recv(int sock, struct vhu_msg *m, int timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = vhm_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int extra = 0, rc;
	bool ctrunc = false;
	size_t got;

	memset(m, 0, sizeof(*m));
	rc = read_full(sock, m, (uint8_t *)&m->hdr, sizeof(m->hdr), deadline, &got, &extra, &ctrunc);
	if (rc) {
		describe_read_error(rc, "header", got, sizeof(m->hdr), timeout_ms, err, errlen);
		goto fail;
	}
	if (m->hdr.size > VHU_PAYLOAD_MAX) {
		rc = vhm_err(err, errlen, -EMSGSIZE,
			     "%s: payload size %u above the protocol bound %zu",
			     vhu_req_name(m->hdr.request), m->hdr.size, VHU_PAYLOAD_MAX);
		goto fail;
	}
	rc = read_full(sock, m, m->u.raw, m->hdr.size, deadline, &got, &extra, &ctrunc);
	if (rc) {
		describe_read_error(rc, "payload", got, m->hdr.size, timeout_ms, err, errlen);
		goto fail;
	}
	if (extra || ctrunc) {
		rc = vhm_err(err, errlen, -EMSGSIZE, "%s: more than %d fds attached (extra closed)",
			     vhu_req_name(m->hdr.request), VHU_MAX_FDS);
		goto fail;
	}
	return 0;
fail:
	vhu_msg_close_fds(m);
	return rc;
}

ssize_t vhu_wire_recv_some(int sock, uint8_t *buf, size_t len, int timeout_ms, char *err,
			   size_t errlen)
{
	uint64_t deadline = vhm_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct vhu_msg fds = { .nfds = 0 };
	bool ctrunc = false;
	int extra = 0, rc;

	for (;;) {
		ssize_t n = recv_once(sock, &fds, buf, len, &extra, &ctrunc);

		if (n > 0 && !fds.nfds && !extra && !ctrunc)
			return n;
		if (n > 0) {
			vhu_msg_close_fds(&fds);
			return vhm_err(err, errlen, -EPROTO, "fds came with replies that carry none "
				       "(closed)");
		}
		if (n == 0 || n == -ECONNRESET)   /* the reset: it closed with our bytes unread */
			return vhm_err(err, errlen, -ECONNRESET, "peer closed the connection");
		if (n == -EINTR)
			continue;
		if (n != -EAGAIN && n != -EWOULDBLOCK)
			return vhm_err(err, errlen, (int)n, "recvmsg: %s", strerror((int)-n));
		rc = wait_for(sock, POLLIN, deadline);
		if (rc == -ETIMEDOUT)
			return vhm_err(err, errlen, rc, "no reply within %d ms", timeout_ms);
		if (rc)
			return vhm_err(err, errlen, rc, "poll: %s", strerror(-rc));
	}
}
