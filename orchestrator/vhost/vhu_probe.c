/* SPDX-License-Identifier: MIT */
/* What a migration needs of a backend, read off a negotiated frontend: the
 * verdict `vhm probe` prints and its exit status follows. */
#include "vhu_probe.h"

#include "vhu_front.h"

void vhu_probe_judge(const struct vhu_front *f, struct vhu_probe_verdict *v)
{
	v->log_shmfd = (f->dev_protocol >> VHU_PF_LOG_SHMFD) & 1;
	v->log_all = (f->dev_features >> VHU_F_LOG_ALL) & 1;
	v->rarp = (f->dev_protocol >> VHU_PF_RARP) & 1;
	v->reply_ack = (f->dev_protocol >> VHU_PF_REPLY_ACK) & 1;
	v->migratable = v->log_shmfd && v->log_all;
}

