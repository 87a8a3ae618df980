/* SPDX-License-Identifier: MIT */
/* vhu_proto — the vhost-user wire protocol as data: message layout, the
 * request list, and the one table that says, per request, what payload it
 * carries, which fds travel with it, when a reply comes and what the reply
 * must look like. Both the frontend and the test backend read this table;
 * adding a request is adding a row to VHU_REQUESTS.
 * Spec: QEMU docs/interop/vhost-user.rst. */
#ifndef VHU_PROTO_H
#define VHU_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header flags. */
#define VHU_VERSION        0x1u
#define VHU_VERSION_MASK   0x3u
#define VHU_FLAG_REPLY     (1u << 2)
#define VHU_FLAG_NEED_REPLY (1u << 3)

#define VHU_MAX_FDS        8      /* baseline memory table: 8 regions */
#define VHU_MAX_REGIONS    8
#define VHU_MAX_CONFIG     256
#define VHU_VRING_IDX_MASK 0xffu
#define VHU_VRING_NOFD     (1u << 8)   /* kick/call/err: no fd, polling */
#define VHU_VRING_F_LOG    (1u << 0)   /* vring addr: log used-ring writes */

/* Virtio / vhost feature bits vhm cares about by number. */
#define VHU_F_LOG_ALL            26
#define VHU_F_PROTOCOL_FEATURES  30
#define VHU_F_VERSION_1          32
#define VHU_F_RING_PACKED        34
#define VHU_F_EVENT_IDX          29
#define VHU_NET_F_MRG_RXBUF      15
#define VHU_NET_F_GUEST_ANNOUNCE 21
#define VHU_NET_F_MQ             22
#define VHU_NET_F_MTU            3

/* Protocol feature bits (GET/SET_PROTOCOL_FEATURES). */
#define VHU_PROTOCOL_FEATURES(X) \
	X(MQ, 0) X(LOG_SHMFD, 1) X(RARP, 2) X(REPLY_ACK, 3) X(NET_MTU, 4) \
	X(BACKEND_REQ, 5) X(CROSS_ENDIAN, 6) X(CRYPTO_SESSION, 7) X(PAGEFAULT, 8) \
	X(CONFIG, 9) X(BACKEND_SEND_FD, 10) X(HOST_NOTIFIER, 11) \
	X(INFLIGHT_SHMFD, 12) X(RESET_DEVICE, 13) X(INBAND_NOTIFICATIONS, 14) \
	X(CONFIGURE_MEM_SLOTS, 15) X(STATUS, 16) X(XEN_MMAP, 17) \
	X(SHARED_OBJECT, 18) X(DEVICE_STATE, 19)

enum vhu_pf {
#define VHU_PF_ENUM(name, bit) VHU_PF_##name = bit,
	VHU_PROTOCOL_FEATURES(VHU_PF_ENUM)
#undef VHU_PF_ENUM
};

/* Payload layouts. Every field is naturally aligned, so no packing needed. */
struct vhu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;          /* bytes of payload after the header */
};

struct vhu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vhu_vring_addr {
	uint32_t index;
	uint32_t flags;         /* VHU_VRING_F_LOG */
	uint64_t desc;          /* frontend virtual addresses */
	uint64_t used;
	uint64_t avail;
	uint64_t log_guest_addr; /* guest-physical address of the used ring */
};

struct vhu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vhu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vhu_mem_region regions[VHU_MAX_REGIONS];
};

struct vhu_mem_reg {            /* ADD_MEM_REG / REM_MEM_REG */
	uint64_t padding;
	struct vhu_mem_region region;
};

struct vhu_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};

struct vhu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VHU_MAX_CONFIG];
};

struct vhu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t padding;
};

struct vhu_dev_state {          /* SET_DEVICE_STATE_FD */
	uint32_t direction;     /* 0 save, 1 load */
	uint32_t phase;         /* 0 stopped */
};

struct vhu_iotlb {              /* backend request IOTLB_MSG */
	uint64_t iova;
	uint64_t size;
	uint64_t uaddr;
	uint8_t perm;
	uint8_t type;
	uint8_t pad[6];
};

struct vhu_notifier_area {      /* backend request VRING_HOST_NOTIFIER_MSG */
	uint64_t u64;
	uint64_t size;
	uint64_t offset;
};

union vhu_payload {
	uint64_t u64;
	struct vhu_vring_state state;
	struct vhu_vring_addr addr;
	struct vhu_mem_table mem;
	struct vhu_mem_reg memreg;
	struct vhu_log log;
	struct vhu_config config;
	struct vhu_inflight inflight;
	struct vhu_dev_state devstate;
	struct vhu_iotlb iotlb;
	struct vhu_notifier_area notifier;
	uint8_t uuid[16];
	uint8_t raw[1];
};

/* The payload bound: no message of this protocol is larger. */
#define VHU_PAYLOAD_MAX sizeof(union vhu_payload)

/* A message with the fds that travel with it. fds are owned by the message
 * until taken; vhu_msg_close_fds() closes the ones nobody claimed. */
struct vhu_msg {
	struct vhu_hdr hdr;
	union vhu_payload u;
	int fds[VHU_MAX_FDS];
	int nfds;
};

/* Payload kinds: what a request or reply carries and how its size is checked. */
enum vhu_pl {
	VHU_PL_NONE,      /* size 0 */
	VHU_PL_U64,       /* 8 */
	VHU_PL_STATE,     /* 8 */
	VHU_PL_ADDR,      /* 40 */
	VHU_PL_MEM,       /* 8 + 32 * nregions, 1..8 regions */
	VHU_PL_MEMREG,    /* 40 */
	VHU_PL_LOG,       /* 16 */
	VHU_PL_LOG_REPLY, /* 0 (DPDK) or 8 (libvhost-user) */
	VHU_PL_CONFIG,    /* 12 + size, size <= 256 */
	VHU_PL_INFLIGHT,  /* 24 */
	VHU_PL_DEVSTATE,  /* 8 */
	VHU_PL_IOTLB,     /* 32 */
	VHU_PL_NOTIFIER,  /* 24 */
	VHU_PL_UUID,      /* 16 */
};

/* Which fds travel with a message. */
enum vhu_fdr {
	VHU_FD_NONE,      /* never */
	VHU_FD_ONE,       /* exactly one */
	VHU_FD_VRING,     /* one, unless the u64 payload has VHU_VRING_NOFD */
	VHU_FD_REGIONS,   /* one per memory-table region */
	VHU_FD_OPT,       /* zero or one */
};

/* When the backend answers. */
enum vhu_rr {
	VHU_RR_NEVER,     /* no reply, and NEED_REPLY is not asked for */
	VHU_RR_ALWAYS,    /* a reply with a payload of the reply kind */
	VHU_RR_ACK,       /* a u64 ack iff REPLY_ACK is negotiated (NEED_REPLY set) */
	VHU_RR_LOG,       /* SET_LOG_BASE: a reply iff LOG_SHMFD is negotiated */
};

/* When a request must be in effect before the frontend goes on (a sync
 * point): with REPLY_ACK its ack is that; without, the frontend follows it
 * with a GET_FEATURES round trip, as QEMU does (enforce_reply). */
enum vhu_sync {
	VHU_SYNC_NONE,    /* no sync point */
	VHU_SYNC_ALWAYS,  /* every time (SET_MEM_TABLE, SET_VRING_ENABLE) */
	VHU_SYNC_LOG,     /* when it turns dirty logging on: a u64 with LOG_ALL, a vring
			   * addr with VHU_VRING_F_LOG */
};

/* What must be negotiated before a request may be sent. */
#define VHU_NEED_NONE  (-1)
#define VHU_NEED_PF    (-2)   /* virtio bit 30, PROTOCOL_FEATURES */

/* The front-end requests: name, number, request payload, request fds,
 * reply rule, reply payload, reply fds, what must be negotiated. */
#define VHU_REQUESTS(X) \
	X(GET_FEATURES,          1,  NONE,     NONE,    ALWAYS, U64,       NONE, VHU_NEED_NONE, NONE) \
	X(SET_FEATURES,          2,  U64,      NONE,    ACK,    NONE,      NONE, VHU_NEED_NONE, LOG) \
	X(SET_OWNER,             3,  NONE,     NONE,    ACK,    NONE,      NONE, VHU_NEED_NONE, NONE) \
	X(RESET_OWNER,           4,  NONE,     NONE,    ACK,    NONE,      NONE, VHU_NEED_NONE, NONE) \
	X(SET_MEM_TABLE,         5,  MEM,      REGIONS, ACK,    NONE,      NONE, VHU_NEED_NONE, ALWAYS) \
	X(SET_LOG_BASE,          6,  LOG,      ONE,     LOG,    LOG_REPLY, NONE, VHU_PF_LOG_SHMFD, NONE) \
	X(SET_VRING_NUM,         8,  STATE,    NONE,    ACK,    NONE,      NONE, VHU_NEED_NONE, NONE) \
	X(SET_VRING_ADDR,        9,  ADDR,     NONE,    ACK,    NONE,      NONE, VHU_NEED_NONE, LOG) \
	X(SET_VRING_BASE,        10, STATE,    NONE,    ACK,    NONE,      NONE, VHU_NEED_NONE, NONE) \
	X(GET_VRING_BASE,        11, STATE,    NONE,    ALWAYS, STATE,     NONE, VHU_NEED_NONE, NONE) \
	X(SET_VRING_KICK,        12, U64,      VRING,   ACK,    NONE,      NONE, VHU_NEED_NONE, NONE) \
	X(SET_VRING_CALL,        13, U64,      VRING,   ACK,    NONE,      NONE, VHU_NEED_NONE, NONE) \
	X(SET_VRING_ERR,         14, U64,      VRING,   ACK,    NONE,      NONE, VHU_NEED_NONE, NONE) \
	X(GET_PROTOCOL_FEATURES, 15, NONE,     NONE,    ALWAYS, U64,       NONE, VHU_NEED_PF, NONE) \
	X(SET_PROTOCOL_FEATURES, 16, U64,      NONE,    NEVER,  NONE,      NONE, VHU_NEED_PF, NONE) \
	X(GET_QUEUE_NUM,         17, NONE,     NONE,    ALWAYS, U64,       NONE, VHU_PF_MQ, NONE) \
	X(SET_VRING_ENABLE,      18, STATE,    NONE,    ACK,    NONE,      NONE, VHU_NEED_PF, ALWAYS) \
	X(SEND_RARP,             19, U64,      NONE,    ACK,    NONE,      NONE, VHU_PF_RARP, NONE) \
	X(NET_SET_MTU,           20, U64,      NONE,    ACK,    NONE,      NONE, VHU_PF_NET_MTU, NONE) \
	X(SET_BACKEND_REQ_FD,    21, NONE,     ONE,     ACK,    NONE,      NONE, VHU_PF_BACKEND_REQ, NONE) \
	X(GET_CONFIG,            24, CONFIG,   NONE,    ALWAYS, CONFIG,    NONE, VHU_PF_CONFIG, NONE) \
	X(SET_CONFIG,            25, CONFIG,   NONE,    ACK,    NONE,      NONE, VHU_PF_CONFIG, NONE) \
	X(GET_INFLIGHT_FD,       31, INFLIGHT, NONE,    ALWAYS, INFLIGHT,  ONE,  VHU_PF_INFLIGHT_SHMFD, NONE) \
	X(SET_INFLIGHT_FD,       32, INFLIGHT, ONE,     ACK,    NONE,      NONE, VHU_PF_INFLIGHT_SHMFD, NONE) \
	X(RESET_DEVICE,          34, NONE,     NONE,    ACK,    NONE,      NONE, VHU_PF_RESET_DEVICE, NONE) \
	X(GET_MAX_MEM_SLOTS,     36, NONE,     NONE,    ALWAYS, U64,       NONE, VHU_PF_CONFIGURE_MEM_SLOTS, NONE) \
	X(ADD_MEM_REG,           37, MEMREG,   ONE,     ACK,    NONE,      NONE, VHU_PF_CONFIGURE_MEM_SLOTS, NONE) \
	X(REM_MEM_REG,           38, MEMREG,   OPT,     ACK,    NONE,      NONE, VHU_PF_CONFIGURE_MEM_SLOTS, NONE) \
	X(SET_STATUS,            39, U64,      NONE,    ACK,    NONE,      NONE, VHU_PF_STATUS, NONE) \
	X(GET_STATUS,            40, NONE,     NONE,    ALWAYS, U64,       NONE, VHU_PF_STATUS, NONE) \
	X(SET_DEVICE_STATE_FD,   42, DEVSTATE, ONE,     ALWAYS, U64,       OPT,  VHU_PF_DEVICE_STATE, NONE) \
	X(CHECK_DEVICE_STATE,    43, NONE,     NONE,    ALWAYS, U64,       NONE, VHU_PF_DEVICE_STATE, NONE)

enum vhu_req {
#define VHU_REQ_ENUM(name, num, ...) VHU_##name = num,
	VHU_REQUESTS(VHU_REQ_ENUM)
#undef VHU_REQ_ENUM
};

/* Backend-to-frontend requests (BACKEND_REQ channel): name, number, payload,
 * fds. Replies only when the backend sets NEED_REPLY. */
#define VHU_BACKEND_REQUESTS(X) \
	X(IOTLB_MSG,               1, IOTLB,    NONE) \
	X(CONFIG_CHANGE_MSG,       2, NONE,     NONE) \
	X(VRING_HOST_NOTIFIER_MSG, 3, NOTIFIER, OPT) \
	X(VRING_CALL,              4, STATE,    NONE) \
	X(VRING_ERR,               5, STATE,    NONE) \
	X(SHARED_OBJECT_ADD,       6, UUID,     NONE) \
	X(SHARED_OBJECT_REMOVE,    7, UUID,     NONE) \
	X(SHARED_OBJECT_LOOKUP,    8, UUID,     NONE)

enum vhu_breq {
#define VHU_BREQ_ENUM(name, num, ...) VHU_B_##name = num,
	VHU_BACKEND_REQUESTS(VHU_BREQ_ENUM)
#undef VHU_BREQ_ENUM
};

/* One row of the table. */
struct vhu_req_info {
	uint32_t num;
	const char *name;
	enum vhu_pl payload;
	enum vhu_fdr fds;
	enum vhu_rr reply;
	enum vhu_pl reply_payload;
	enum vhu_fdr reply_fds;
	int need;               /* VHU_NEED_NONE, VHU_NEED_PF or a VHU_PF_* bit */
	enum vhu_sync sync;
};

/* The row for a front-end request, or NULL if vhm does not speak it. */
const struct vhu_req_info *vhu_req_info(uint32_t request);
/* The row for a backend-to-frontend request, or NULL. */
const struct vhu_req_info *vhu_breq_info(uint32_t request);
/* "GET_FEATURES", or "request 99" for numbers outside the table (static buffer per thread). */
const char *vhu_req_name(uint32_t request);
const char *vhu_breq_name(uint32_t request);
/* Name of a protocol feature bit, or NULL if unnamed. */
const char *vhu_pf_name(unsigned bit);
/* Name of a virtio-net / vhost feature bit, or NULL if unnamed. */
const char *vhu_feature_name(unsigned bit);

/* Does a payload of `size` bytes fit kind `pl`? On failure writes what was
 * expected ("8 bytes", "0 or 8 bytes", "8 + 32*n bytes for n=2") to `want`. */
bool vhu_pl_size_ok(enum vhu_pl pl, const union vhu_payload *p, uint32_t size,
		    char *want, size_t wantlen);
/* Does this request with this payload need a sync point (enum vhu_sync)? */
bool vhu_needs_sync(const struct vhu_req_info *info, const union vhu_payload *p);
/* Size of a payload of kind `pl` as a sender would fill it. */
uint32_t vhu_pl_size(enum vhu_pl pl, const union vhu_payload *p);
/* How many fds must travel: sets *min and *max. */
void vhu_fd_count(enum vhu_fdr rule, const union vhu_payload *p, int *min, int *max);

/* Close every fd still in the message and forget them. */
void vhu_msg_close_fds(struct vhu_msg *m);

#endif
