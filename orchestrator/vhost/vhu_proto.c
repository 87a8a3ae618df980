/* SPDX-License-Identifier: MIT */
/* The request table (one row per request, from VHU_REQUESTS) and the checks
 * both the sender and the reply validator use: payload sizes, fd rules,
 * reply rules, names for log lines. */
#include "vhu_proto.h"

#include <stdio.h>
#include <unistd.h>

static const struct vhu_req_info requests[] = {
#define VHU_REQ_ROW(nm, num, pl, fd, rr, rpl, rfd, need, sync) \
	{ num, #nm, VHU_PL_##pl, VHU_FD_##fd, VHU_RR_##rr, VHU_PL_##rpl, VHU_FD_##rfd, need, \
	  VHU_SYNC_##sync },
	VHU_REQUESTS(VHU_REQ_ROW)
#undef VHU_REQ_ROW
};

static const struct vhu_req_info backend_requests[] = {
#define VHU_BREQ_ROW(nm, num, pl, fd) \
	{ num, #nm, VHU_PL_##pl, VHU_FD_##fd, VHU_RR_ACK, VHU_PL_NONE, VHU_FD_NONE, VHU_NEED_NONE, \
	  VHU_SYNC_NONE },
	VHU_BACKEND_REQUESTS(VHU_BREQ_ROW)
#undef VHU_BREQ_ROW
};

static const char *const pf_names[] = {
#define VHU_PF_NAME(name, bit) [bit] = #name,
	VHU_PROTOCOL_FEATURES(VHU_PF_NAME)
#undef VHU_PF_NAME
};

/* virtio-net device bits, the transport bits and vhost's own. */
static const char *const feature_names[64] = {
	[0] = "CSUM", [1] = "GUEST_CSUM", [2] = "CTRL_GUEST_OFFLOADS", [3] = "MTU",
	[5] = "MAC", [6] = "GSO", [7] = "GUEST_TSO4", [8] = "GUEST_TSO6",
	[9] = "GUEST_ECN", [10] = "GUEST_UFO", [11] = "HOST_TSO4", [12] = "HOST_TSO6",
	[13] = "HOST_ECN", [14] = "HOST_UFO", [15] = "MRG_RXBUF", [16] = "STATUS",
	[17] = "CTRL_VQ", [18] = "CTRL_RX", [19] = "CTRL_VLAN", [20] = "CTRL_RX_EXTRA",
	[21] = "GUEST_ANNOUNCE", [22] = "MQ", [23] = "CTRL_MAC_ADDR",
	[24] = "NOTIFY_ON_EMPTY", [26] = "LOG_ALL", [27] = "ANY_LAYOUT",
	[28] = "RING_INDIRECT_DESC", [29] = "RING_EVENT_IDX", [30] = "PROTOCOL_FEATURES",
	[32] = "VERSION_1", [33] = "ACCESS_PLATFORM", [34] = "RING_PACKED",
	[35] = "IN_ORDER", [36] = "ORDER_PLATFORM", [37] = "SR_IOV",
	[38] = "NOTIFICATION_DATA", [39] = "NOTIF_CONFIG_DATA", [40] = "RING_RESET",
	[41] = "ADMIN_VQ", [52] = "VQ_NOTF_COAL", [53] = "NOTF_COAL",
	[54] = "GUEST_USO4", [55] = "GUEST_USO6", [56] = "HOST_USO",
	[57] = "HASH_REPORT", [59] = "GUEST_HDRLEN", [60] = "RSS", [61] = "RSC_EXT",
	[62] = "STANDBY", [63] = "SPEED_DUPLEX",
};

static const struct vhu_req_info *find(const struct vhu_req_info *t, size_t n, uint32_t req)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].num == req)
			return &t[i];
	return NULL;
}

const struct vhu_req_info *vhu_req_info(uint32_t request)
{
	return find(requests, sizeof(requests) / sizeof(requests[0]), request);
}

const struct vhu_req_info *vhu_breq_info(uint32_t request)
{
	return find(backend_requests, sizeof(backend_requests) / sizeof(backend_requests[0]),
		    request);
}

static const char *name_or_number(const struct vhu_req_info *info, uint32_t request)
{
	static __thread char buf[24];

	if (info)
		return info->name;
	snprintf(buf, sizeof(buf), "request %u", request);
	return buf;
}

const char *vhu_req_name(uint32_t request)
{
	return name_or_number(vhu_req_info(request), request);
}

const char *vhu_breq_name(uint32_t request)
{
	return name_or_number(vhu_breq_info(request), request);
}

const char *vhu_pf_name(unsigned bit)
{
	return bit < sizeof(pf_names) / sizeof(pf_names[0]) ? pf_names[bit] : NULL;
}

const char *vhu_feature_name(unsigned bit)
{
	return bit < 64 ? feature_names[bit] : NULL;
}

bool vhu_needs_sync(const struct vhu_req_info *info, const union vhu_payload *p)
{
	switch (info->sync) {
	case VHU_SYNC_NONE:
		return false;
	case VHU_SYNC_ALWAYS:
		return true;
	case VHU_SYNC_LOG:
		if (info->payload == VHU_PL_ADDR)
			return p->addr.flags & VHU_VRING_F_LOG;
		return (p->u64 >> VHU_F_LOG_ALL) & 1;
	}
	return false;
}

/* Fixed sizes; 0 with a variable kind means "computed from the payload". */
static uint32_t fixed_size(enum vhu_pl pl)
{
	switch (pl) {
	case VHU_PL_NONE:      return 0;
	case VHU_PL_U64:       return 8;
	case VHU_PL_STATE:     return sizeof(struct vhu_vring_state);
	case VHU_PL_ADDR:      return sizeof(struct vhu_vring_addr);
	case VHU_PL_MEMREG:    return sizeof(struct vhu_mem_reg);
	case VHU_PL_LOG:       return sizeof(struct vhu_log);
	case VHU_PL_LOG_REPLY: return 8;
	case VHU_PL_INFLIGHT:  return sizeof(struct vhu_inflight);
	case VHU_PL_DEVSTATE:  return sizeof(struct vhu_dev_state);
	case VHU_PL_IOTLB:     return sizeof(struct vhu_iotlb);
	case VHU_PL_NOTIFIER:  return sizeof(struct vhu_notifier_area);
	case VHU_PL_UUID:      return 16;
	case VHU_PL_MEM:
	case VHU_PL_CONFIG:    return 0;
	}
	return 0;
}

#define MEM_HDR_SIZE    8u
#define CONFIG_HDR_SIZE 12u

uint32_t vhu_pl_size(enum vhu_pl pl, const union vhu_payload *p)
{
	if (pl == VHU_PL_MEM)
		return MEM_HDR_SIZE + p->mem.nregions * (uint32_t)sizeof(struct vhu_mem_region);
	if (pl == VHU_PL_CONFIG)
		return CONFIG_HDR_SIZE + p->config.size;
	return fixed_size(pl);
}

bool vhu_pl_size_ok(enum vhu_pl pl, const union vhu_payload *p, uint32_t size,
		    char *want, size_t wantlen)
{
	switch (pl) {
	case VHU_PL_LOG_REPLY:
		if (size == 0 || size == 8)
			return true;
		snprintf(want, wantlen, "0 or 8 bytes");
		return false;
	case VHU_PL_MEM:
		if (size >= MEM_HDR_SIZE && p->mem.nregions >= 1 &&
		    p->mem.nregions <= VHU_MAX_REGIONS && size == vhu_pl_size(pl, p))
			return true;
		snprintf(want, wantlen, "8 + 32*n bytes with 1 <= n <= %d", VHU_MAX_REGIONS);
		return false;
	case VHU_PL_CONFIG:
		if (size >= CONFIG_HDR_SIZE && p->config.size <= VHU_MAX_CONFIG &&
		    size == vhu_pl_size(pl, p))
			return true;
		snprintf(want, wantlen, "12 + config size (<= %d) bytes", VHU_MAX_CONFIG);
		return false;
	default:
		if (size == fixed_size(pl))
			return true;
		snprintf(want, wantlen, "%u bytes", fixed_size(pl));
		return false;
	}
}

void vhu_fd_count(enum vhu_fdr rule, const union vhu_payload *p, int *min, int *max)
{
	switch (rule) {
	case VHU_FD_NONE:
		*min = *max = 0;
		return;
	case VHU_FD_ONE:
		*min = *max = 1;
		return;
	case VHU_FD_VRING:
		*min = *max = (p->u64 & VHU_VRING_NOFD) ? 0 : 1;
		return;
	case VHU_FD_REGIONS:
		*min = *max = (int)(p->mem.nregions <= VHU_MAX_REGIONS ? p->mem.nregions : 0);
		return;
	case VHU_FD_OPT:
		*min = 0;
		*max = 1;
		return;
	}
}

void vhu_msg_close_fds(struct vhu_msg *m)
{
	for (int i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}
