/* SPDX-License-Identifier: MIT */
/* lvd_bview — the backend's view of a domain's dirty memory, from eBPF: for
 * one vhostuser interface, the process that serves its socket, and how often
 * that process enters DPDK's dirty-log write path (uprobes, bpf/vbpf.h).
 *
 * What is counted: calls, not pages.  The uprobes sit on function entry and
 * read no arguments; one call logs one guest-physical range (usually one
 * buffer or one used-ring entry, a page or a few).  The functions, in order
 * of preference:
 *   __vhost_log_cache_write, __vhost_log_write  librte_vhost's internal
 *       helpers, entered for every range the datapath logs (the enqueue
 *       path's cached writes, the used ring's direct ones);
 *   rte_vhost_log_write, rte_vhost_log_used_vring  the exported API, for
 *       applications with their own datapath (DPDK's net_vhost PMD, and so
 *       testpmd, never calls them).
 * Debian's librte_vhost.so.23 is stripped: only the exported two are
 * visible.  Then the figure is given only if they were called; otherwise the
 * view says why there is none (lvd_bview.why), never a zero that would read
 * as "the backend dirtied nothing".
 *
 * Finding the backend: the process holding a Unix socket bound to the
 * interface's path (/proc/net/unix, then /proc/PID/fd).  That is the
 * backend when QEMU is the client (mode='client', the usual case).  When
 * QEMU listens (mode='server') the backend's end has no path and is not
 * looked for.
 *
 * Threads: none of its own; a view belongs to the thread that opened it
 * (lvd_dirty's measuring thread).  Needs root, or CAP_BPF + CAP_PERFMON. */
#ifndef VHM_LVD_BVIEW_H
#define VHM_LVD_BVIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lvh_xml.h"

#define LVD_BVIEW_SYMS 4 /* the functions above, in that order */

struct vbpf;

struct lvd_bview {
	char path[LVH_PATH_MAX];     /* the interface's socket */
	pid_t pid;                   /* the backend, 0 when not found */
	char binary[256];            /* the library the uprobes are in, "" before */
	struct vbpf *v;              /* NULL when nothing attached */
	uint64_t c0[LVD_BVIEW_SYMS]; /* counts at lvd_bview_begin() */
	uint64_t t0_ns;
	char why[320];               /* why there is no figure, "" while there may be one */
};

/* Look for the backend of iface and attach the uprobes.  Never fails: what
 * went wrong goes to bv->why and the view gives no figure. */
void lvd_bview_open(struct lvd_bview *bv, const struct lvh_iface *iface);
/* Take the counts at the start of the window. */
void lvd_bview_begin(struct lvd_bview *bv);
/* End the window: {"path", "pid"?, "binary"?, "log_calls", "seconds",
 * "log_calls_per_s", "source"} with the figure, or {"path", "pid"?, "why"}
 * without one; new reference. */
json_t *lvd_bview_end(struct lvd_bview *bv);
/* Detach and free what open attached.  Twice is fine. */
void lvd_bview_close(struct lvd_bview *bv);

/* The pid of a process holding a Unix socket bound to path: 0 and *pid, or
 * -ENOENT (no such socket, or no process of ours sees it), -errno.  For
 * tests too. */
int lvd_bview_find_listener(const char *path, pid_t *pid);

#endif
