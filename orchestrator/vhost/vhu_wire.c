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

int vhu_wire_send(int sock, const struct vhu_msg *m, int timeout_ms, char *err, size_t errlen)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	uint64_t deadline = vhm_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	size_t total = sizeof(m->hdr) + m->hdr.size, done = 0;
	uint8_t frame[sizeof(struct vhu_hdr) + VHU_PAYLOAD_MAX];
	bool fds_sent = m->nfds == 0;

	if (m->hdr.size > VHU_PAYLOAD_MAX || m->nfds < 0 || m->nfds > VHU_MAX_FDS)
		return vhm_err(err, errlen, -EMSGSIZE,
			       "message too large to send (%u bytes, %d fds)", m->hdr.size,
			       m->nfds);
	memcpy(frame, &m->hdr, sizeof(m->hdr));
	memcpy(frame + sizeof(m->hdr), &m->u, m->hdr.size);

	while (done < total) {
		struct iovec iov = { frame + done, total - done };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (!fds_sent) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)m->nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)m->nfds);
			memcpy(CMSG_DATA(c), m->fds, sizeof(int) * (size_t)m->nfds);
		}
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
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return vhm_err(err, errlen, -EPIPE, "peer closed the connection");
		return vhm_err(err, errlen, -errno, "sendmsg: %s", strerror(errno));
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

/* Read exactly len bytes into buf, collecting fds. */
static int read_full(int sock, struct vhu_msg *m, uint8_t *buf, size_t len, uint64_t deadline,
		     size_t *got, int *extra_fds, bool *ctrunc)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CMSG_FDS_MAX)];
		struct cmsghdr align;
	} ctl;

	*got = 0;
	while (*got < len) {
		struct iovec iov = { buf + *got, len - *got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);

		if (n > 0) {
			*extra_fds += take_fds(m, &mh);
			*ctrunc |= (mh.msg_flags & MSG_CTRUNC) != 0;
			*got += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int rc = wait_for(sock, POLLIN, deadline);
			if (rc)
				return rc;
			continue;
		}
		return -errno;
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
