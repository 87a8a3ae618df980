/* SPDX-License-Identifier: MIT */
/* vbpf — kernel-side probes of one vhost-user backend process (and of KVM on
 * its behalf), as a small library: open for a pid, read cumulative counters,
 * close. `vhm trace` prints them; a running device can publish the same.
 *
 * Each probe has alternative attach points, checked at open time; the one in
 * use is reported by vbpf_variant(), and a probe that cannot attach anywhere
 * is skipped with a note (vbpf_note()) rather than failing the whole open.
 * Needs root, or CAP_BPF + CAP_PERFMON. libbpf's own messages are silent
 * unless vbpf_set_verbose(true). */
#ifndef VHM_VBPF_H
#define VHM_VBPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vbpf_abi.h"

enum vbpf_probe {
	VBPF_PROBE_CTL,     /* "ctl":    sendmsg/recvmsg on Unix sockets, latency */
	VBPF_PROBE_KICK,    /* "kick":   8-byte eventfd writes and reads */
	VBPF_PROBE_PF,      /* "pf":     user page faults in a range, first touches */
	VBPF_PROBE_KVM,     /* "kvm":    guest pages KVM marks dirty for the process */
	VBPF_PROBE_UPROBE,  /* "uprobe": calls of BIN:SYM functions */
	VBPF_NPROBES
};
#define VBPF_PROBES_ALL ((1u << VBPF_NPROBES) - 1)
/* What `vhm trace` attaches when given no --probe, and what the name
 * "default" stands for: the probes that cost a saturated testpmd loopback
 * at most 5 % (bench bpf, docs/bpf.md "What the probes cost"). uprobe (a
 * trap on every call of a per-burst function) is opt-in. */
#define VBPF_DEFAULT_PROBES "ctl,kick,pf,kvm"
#define VBPF_PROBES_DEFAULT (1u << VBPF_PROBE_CTL | 1u << VBPF_PROBE_KICK | \
			     1u << VBPF_PROBE_PF | 1u << VBPF_PROBE_KVM)

const char *vbpf_probe_name(enum vbpf_probe p);
/* "ctl,kick,pf", "default" or "all" into a bit mask (1u << enum vbpf_probe).
 * -EINVAL on an unknown or empty name. */
int vbpf_parse_probes(const char *list, unsigned *mask);

struct vbpf_opts {
	uint64_t pf_start, pf_end;   /* host-virtual [start, end); both 0: everything */
	uint32_t pf_max_pages;       /* size of the first-touch table, 0: 65536 pages */
	const char *const *uprobes;  /* "BIN:SYM" each; none: the librte_vhost default set */
	size_t n_uprobes;            /* at most VBPF_MAX_UPROBES */
	bool all_sockets;            /* ctl: count every socket family, not only AF_UNIX */
	bool no_tracefs;             /* prefer raw_tp/tp_btf to tracefs tracepoints */
	char *why;                   /* if set: on -ENOENT, each wanted probe's note */
	size_t why_len;
};

struct vbpf;

/* Load and attach the probes in `probes` (a mask) for process `pid`. opts may
 * be NULL. Returns 0 and *out, or -ESRCH (no such process), -EPERM (lacking
 * privilege), -ENOENT (no wanted probe could attach), -EINVAL (bad opts), or
 * another -errno from libbpf. The caller owns *out and frees it with
 * vbpf_close(). */
int vbpf_open(struct vbpf **out, pid_t pid, unsigned probes, const struct vbpf_opts *opts);
/* Cumulative counters since open, summed over CPUs. 0 or -errno. */
int vbpf_read(struct vbpf *v, struct vbpf_counters *out);
void vbpf_close(struct vbpf *v);

pid_t vbpf_pid(const struct vbpf *v);
bool vbpf_attached(const struct vbpf *v, enum vbpf_probe p);
/* "tracepoint", "raw_tp", "tp_btf", "fentry", "uprobe", or "none". */
const char *vbpf_variant(const struct vbpf *v, enum vbpf_probe p);
/* Why a probe was skipped or fell back; "" when there is nothing to say. */
const char *vbpf_note(const struct vbpf *v, enum vbpf_probe p);

/* Uprobe slots, in the order asked (index = counters slot). */
size_t vbpf_uprobe_count(const struct vbpf *v);
const char *vbpf_uprobe_name(const struct vbpf *v, size_t i);   /* "SYM" */
const char *vbpf_uprobe_binary(const struct vbpf *v, size_t i); /* resolved path or "" */
bool vbpf_uprobe_attached(const struct vbpf *v, size_t i);
const char *vbpf_uprobe_note(const struct vbpf *v, size_t i);
/* True when the slot's uretprobe sums a packet count (rte_vhost bursts). */
bool vbpf_uprobe_counts_packets(const struct vbpf *v, size_t i);

/* Names of vhost-user request numbers, for the ctl probe's per-request
 * counts. The request table belongs to the protocol layer above bpf/
 * (orchestrator/vhost/vhu_proto.h), so main() hands its name function down
 * once, before any thread starts; without one requests show by number. */
typedef const char *(*vbpf_req_name_fn)(uint32_t request);
void vbpf_set_req_names(vbpf_req_name_fn fn);
/* The name of request number `request`, or NULL (no name function set). */
const char *vbpf_req_name(uint32_t request);

/* Whether this process may load tracing BPF: euid 0, or CAP_BPF+CAP_PERFMON,
 * or CAP_SYS_ADMIN in its effective set. */
bool vbpf_privileged(void);
/* Show libbpf's messages on stderr (one print callback, off by default). */
void vbpf_set_verbose(bool on);
/* Lower bound of histogram slot `slot`, in µs (0 for slot 0). */
uint64_t vbpf_hist_slot_us(unsigned slot);

#endif
