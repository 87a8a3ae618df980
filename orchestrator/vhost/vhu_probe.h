/* SPDX-License-Identifier: MIT */
/* vhu_probe — whether a live migration of a device on this backend can work:
 * the backend must offer dirty logging (LOG_SHMFD, LOG_ALL). */
#ifndef VHM_VHU_PROBE_H
#define VHM_VHU_PROBE_H

#include <stdbool.h>

struct vhu_front;

/* The verdict: which of the needed features are missing (none = migratable). */
struct vhu_probe_verdict {
	bool log_shmfd, log_all, rarp, reply_ack;
	bool migratable;
};

/* f has negotiated (vhu_front_negotiate). */
void vhu_probe_judge(const struct vhu_front *f, struct vhu_probe_verdict *v);

#endif
