/* SPDX-License-Identifier: MIT */
/* vhu_wire — one vhost-user message over a Unix socket: header, payload and
 * the fds that travel as SCM_RIGHTS, with a deadline. Used by the frontend
 * and by the test backend alike. It checks only framing (the payload bound,
 * fd count limits); what a message must contain is vhu_proto's table.
 *
 * Sockets are used non-blocking; the calls poll until done or timed out,
 * retry on EINTR, and finish partial reads and writes (vhu_wire_recv_some
 * returns what it got once something came). */
#ifndef VHU_WIRE_H
#define VHU_WIRE_H

#include <stddef.h>
#include <sys/types.h>

#include "vhu_proto.h"

/* Send m (hdr.size bytes of payload, m->nfds fds). 0, or -errno with a
 * message in err: -ETIMEDOUT, -EPIPE (peer gone), other socket errors. */
int vhu_wire_send(int sock, const struct vhu_msg *m, int timeout_ms, char *err, size_t errlen);

/* Receive one message into m. Received fds are in m->fds (the caller owns
 * them; vhu_msg_close_fds). Returns 0, or -errno with a message in err:
 * -ETIMEDOUT (nothing or only part came in time), -ECONNRESET (peer closed;
 * mid-message or not is said in err), -EMSGSIZE (size above the payload
 * bound, or more fds than VHU_MAX_FDS: extra fds are closed), other socket
 * errors. On error m holds no fds. */
int vhu_wire_recv(int sock, struct vhu_msg *m, int timeout_ms, char *err, size_t errlen);

/* Framed messages (header and payload) back to back, the fds of the first
 * going with its first byte: whatever follows in the segment carries none. */
struct vhu_wire_seg {
	const uint8_t *buf;
	size_t len;
	const int *fds;
	int nfds;
};
/* Segments sent in one sendmmsg (more calls where the socket takes less):
 * a pipeline's requests without the peer woken, and us preempted, once a
 * message. 0 or -errno with a message in err, as vhu_wire_send. */
int vhu_wire_send_segs(int sock, const struct vhu_wire_seg *seg, int nseg, int timeout_ms,
		       char *err, size_t errlen);
/* m framed (header, then hdr.size bytes of payload) at out, which holds
 * sizeof(struct vhu_hdr) + VHU_PAYLOAD_MAX bytes: the bytes written. */
size_t vhu_wire_frame(const struct vhu_msg *m, uint8_t *out);
/* What the socket holds, up to len bytes, once at least one is there
 * (waited for up to timeout_ms): the bytes read (> 0), or -errno with a
 * message in err: -ETIMEDOUT, -ECONNRESET (peer closed), -EPROTO (fds came
 * with them: closed). For replies that carry no fds, read many at once. */
ssize_t vhu_wire_recv_some(int sock, uint8_t *buf, size_t len, int timeout_ms, char *err,
			   size_t errlen);

/* Make a socket non-blocking and close-on-exec. */
int vhu_wire_prepare(int sock);

#endif
