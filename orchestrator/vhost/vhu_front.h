/* SPDX-License-Identifier: MIT */
/* vhu_front — a vhost-user frontend connection (the side QEMU plays).
 *
 * It knows the protocol and nothing of who uses it: connect, negotiate,
 * and one call per request, each validated against vhu_proto's table.
 * Every failure leaves a one-line message in f->err naming the request, the
 * peer, what came and what was expected. A connection whose stream can no
 * longer be trusted (timeout, short read, bad framing, closed peer) is marked
 * broken, and every later call fails at once with -ENOTCONN.
 *
 * Ownership: the vhu_front owns its socket and its end of the backend-request
 * channel. fds passed in to requests stay the caller's (they are duplicated
 * into the kernel by sendmsg). fds returned by requests (GET_INFLIGHT_FD,
 * SET_DEVICE_STATE_FD) become the caller's. */
#ifndef VHU_FRONT_H
#define VHU_FRONT_H

#include <stdbool.h>
#include <stdint.h>

#include "vhu_proto.h"

#define VHU_DEFAULT_TIMEOUT_MS 5000
#define VHU_ERR_LEN 256

struct vhu_front {
	int sock;
	int breq_sock;             /* our end of the BACKEND_REQ channel, or -1 */
	char path[108];
	int timeout_ms;

	uint64_t dev_features;     /* what GET_FEATURES offered */
	uint64_t acked_features;   /* last SET_FEATURES sent */
	uint64_t dev_protocol;     /* what GET_PROTOCOL_FEATURES offered */
	uint64_t acked_protocol;   /* what SET_PROTOCOL_FEATURES sent */
	uint32_t queue_num;        /* GET_QUEUE_NUM: queue pairs for net; 1 without MQ */
	uint32_t max_mem_slots;    /* GET_MAX_MEM_SLOTS, or 8 without the feature */

	/* Backend-request channel counters. */
	uint64_t breq_config_changes;
	uint64_t breq_vring_calls;
	uint64_t breq_refused;

	bool broken;
	char err[VHU_ERR_LEN];
};

/* Connect to a backend listening on `path` (client mode). timeout_ms <= 0
 * means VHU_DEFAULT_TIMEOUT_MS. 0 or -errno. */
int vhu_front_connect(struct vhu_front *f, const char *path, int timeout_ms);
/* Take an already connected socket (server mode: the backend connected to us). */
int vhu_front_adopt(struct vhu_front *f, int sock, const char *peer, int timeout_ms);
void vhu_front_close(struct vhu_front *f);

/* The usual opening, in QEMU's order (vhost_dev_init): GET_FEATURES, and if
 * offered GET_PROTOCOL_FEATURES / SET_PROTOCOL_FEATURES (offered & want),
 * GET_QUEUE_NUM, GET_MAX_MEM_SLOTS and the BACKEND_REQ channel; then SET_OWNER. */
int vhu_front_negotiate(struct vhu_front *f, uint64_t want_protocol);

/* Protocol features vhm asks for by default. */
uint64_t vhu_front_default_protocol(void);

bool vhu_front_has_pf(const struct vhu_front *f, unsigned bit);
/* The pid of the backend process on the other end of the socket (SO_PEERCRED:
 * the process that listened, or connected to us), or -errno. */
int vhu_front_peer_pid(const struct vhu_front *f);
/* Has the backend closed its end (its process died or closed it)? True at
 * end of file or a socket error, or with no socket at all; false while it
 * is there. Between requests a backend sends nothing on the socket: data
 * waiting there is not read (the next request finds the protocol break).
 * Does not block; marks nothing (the caller decides what a loss means). */
bool vhu_front_peer_gone(const struct vhu_front *f);

/* One request, whole: check that it may be sent, send it with its fds, wait
 * for the reply the table promises, validate it. `reply` may be NULL when the
 * request has no payload reply. 0 or -errno (f->err says what happened). */
int vhu_front_request(struct vhu_front *f, uint32_t request, const union vhu_payload *p,
		      const int *fds, int nfds, struct vhu_msg *reply);

/* The two halves, for pipelining (send every GET_VRING_BASE, then collect).
 * vhu_front_send returns whether a reply is expected in *expect_reply. */
int vhu_front_send(struct vhu_front *f, uint32_t request, const union vhu_payload *p,
		   const int *fds, int nfds, bool *expect_reply);
int vhu_front_recv(struct vhu_front *f, uint32_t request, const union vhu_payload *sent,
		   struct vhu_msg *reply);

/* One request of a pipeline: its payload and at most one fd (-1: none).
 * unacked: no REPLY_ACK asked even where negotiated, unless it is the
 * pipeline's last request -- a backend serves requests in order, so the
 * ack of a later one answers for it, and a backend that fails a request it
 * was not asked to ack drops the connection (DPDK, libvhost-user), which
 * the later ack's wait sees (its error then names that later request). */
struct vhu_pipe_req {
	uint32_t request;
	union vhu_payload p;
	int fd;
	bool unacked;
};
/* Send requests r[0..n) back to back, then collect the replies they ask
 * for (REPLY_ACK acks), in order: one wait for the whole batch. Requests
 * that need their effect in place but get no ack (REPLY_ACK not negotiated)
 * share one sync point (GET_FEATURES) after the last. Payload replies are
 * not returned: for SET_* requests only. A refusal (ack != 0) still
 * collects the replies after it, so the stream stays in step; the first
 * error is returned (f->err names its request). */
int vhu_front_pipeline(struct vhu_front *f, const struct vhu_pipe_req *r, int n);

#define VHU_PIPELINE_MAX 256

/* A pipeline sent and not yet collected: vhu_front_pipeline in its two
 * halves, so that other work runs while the backend serves it. r (the
 * caller's) must stay unchanged until the wait; nothing else may be sent
 * on the connection in between. */
struct vhu_pending {
	const struct vhu_pipe_req *r;
	int sent;                  /* requests that went out */
	int rc;                    /* a send's failure, returned by the wait */
	bool sync;                 /* a sync point is owed after the replies */
	bool expect[VHU_PIPELINE_MAX];
};
/* Send r[0..n) as vhu_front_pipeline does; never waits for a reply. */
void vhu_front_pipeline_send(struct vhu_front *f, const struct vhu_pipe_req *r, int n,
			     struct vhu_pending *pend);
/* Collect what `pend` sent (as vhu_front_pipeline); `pend` is spent after. */
int vhu_front_pipeline_wait(struct vhu_front *f, struct vhu_pending *pend);

/* Typed requests. */
int vhu_get_u64(struct vhu_front *f, uint32_t request, uint64_t *out);
int vhu_set_u64(struct vhu_front *f, uint32_t request, uint64_t v);
int vhu_set_features(struct vhu_front *f, uint64_t features);
int vhu_set_mem_table(struct vhu_front *f, const struct vhu_mem_region *r, const int *fds, int n);
int vhu_add_mem_reg(struct vhu_front *f, const struct vhu_mem_region *r, int fd);
int vhu_rem_mem_reg(struct vhu_front *f, const struct vhu_mem_region *r, int fd);
int vhu_set_log_base(struct vhu_front *f, int log_fd, uint64_t size, uint64_t offset);
int vhu_set_vring_state(struct vhu_front *f, uint32_t request, uint32_t index, uint32_t num);
int vhu_set_vring_addr(struct vhu_front *f, const struct vhu_vring_addr *a);
/* fd < 0 sends the no-fd bit (polling mode). */
int vhu_set_vring_fd(struct vhu_front *f, uint32_t request, uint32_t index, int fd);
/* GET_VRING_BASE on n rings: all sent first, then all replies collected. */
int vhu_get_vring_bases(struct vhu_front *f, const uint32_t *index, uint32_t *base, int n);
int vhu_send_rarp(struct vhu_front *f, const uint8_t mac[6]);
int vhu_get_config(struct vhu_front *f, uint32_t offset, uint32_t size, uint8_t *out);
int vhu_set_config(struct vhu_front *f, uint32_t offset, uint32_t size, const uint8_t *data);
int vhu_get_inflight_fd(struct vhu_front *f, uint16_t num_queues, uint16_t queue_size,
			struct vhu_inflight *out, int *fd);
int vhu_set_inflight_fd(struct vhu_front *f, const struct vhu_inflight *in, int fd);
/* SET_DEVICE_STATE_FD: *reply_fd gets the backend's fd or -1 (use ours). */
int vhu_set_device_state_fd(struct vhu_front *f, uint32_t direction, uint32_t phase, int fd,
			    int *reply_fd);
int vhu_check_device_state(struct vhu_front *f);

/* Serve pending messages on the backend-request channel without blocking:
 * answer or refuse each per spec. 0 (nothing or served), -errno on a broken
 * channel. */
int vhu_front_serve_backend(struct vhu_front *f);

#endif
