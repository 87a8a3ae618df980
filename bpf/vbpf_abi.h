/* SPDX-License-Identifier: MIT */
/* vbpf_abi — what the kernel half (vbpf.bpf.c) and the user half (vbpf.c)
 * of vhm's probes share: the counters record, the histogram layout and the
 * uprobe slots. Included by both sides, so only __u64-style types here; the
 * BPF side gets them from vmlinux.h, the user side from <linux/types.h>. */
#ifndef VBPF_ABI_H
#define VBPF_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Latency histogram: slot i counts calls that took [2^i, 2^(i+1)) µs, slot 0
 * also takes calls under 1 µs, the last slot everything above. */
#define VBPF_HIST_SLOTS  27
/* Uprobe slots: one per BIN:SYM the caller asks for (the attach cookie). */
#define VBPF_MAX_UPROBES 16

/* vhost-user requests decoded by the "ctl" probe, by request number (the
 * header's first u32); numbers at or above this go to req_other. */
#define VBPF_MAX_REQ     64

/* Direction index of the control-plane counters. */
enum vbpf_dir { VBPF_SEND = 0, VBPF_RECV = 1 };

/* Cumulative counts since load, all for the one target process (tgid). The
 * kernel keeps one copy per CPU; vbpf_read() sums them. */
struct vbpf_counters {
	/* 1. sendmsg/recvmsg on the process's Unix sockets. */
	__u64 ctl_msgs[2];      /* calls that returned >= 0 */
	__u64 ctl_errors[2];    /* calls that returned < 0 (EAGAIN included) */
	__u64 ctl_bytes[2];     /* sum of the non-negative returns, bytes */
	__u64 ctl_hist[2][VBPF_HIST_SLOTS]; /* entry-to-exit time, log2 µs */
	__u64 ctl_other[2];     /* calls on sockets of other families, not above */
	/* 1b. vhost-user messages among them (header version 1), by request
	 * number. A request is a message without the reply flag; its reply is
	 * the next message the other way on the same socket with the reply flag
	 * and the same number (requests pipelined on one socket are answered in
	 * order: the oldest waiting one). On a backend, req_in/served are the frontend's
	 * requests and what serving them took (recvmsg returned -> reply's
	 * sendmsg entered); on a frontend, req_out/answered its own requests and
	 * their round trips (sendmsg entered -> reply's recvmsg returned). */
	__u64 req_in[VBPF_MAX_REQ];        /* requests received */
	__u64 req_served[VBPF_MAX_REQ];    /* ... whose reply this process sent */
	__u64 req_serve_ns[VBPF_MAX_REQ];  /* sum of their service times, ns */
	__u64 req_out[VBPF_MAX_REQ];       /* requests sent */
	__u64 req_answered[VBPF_MAX_REQ];  /* ... whose reply this process received */
	__u64 req_rtt_ns[VBPF_MAX_REQ];    /* sum of their round trips, ns */
	__u64 req_other;                   /* vhost-user messages numbered >= VBPF_MAX_REQ */
	/* 2. eventfd signalling: 8-byte write/read that returned 8. */
	__u64 evfd_writes;      /* the process signalled an eventfd (call/kick) */
	__u64 evfd_reads;       /* the process consumed an eventfd */
	/* 3. user-mode page faults inside [pf_start, pf_end). */
	__u64 pf_faults;        /* every fault, including repeats on one page */
	__u64 pf_first_touch;   /* pages faulted for the first time since load */
	__u64 pf_table_full;    /* faults on new pages the page table had no room for */
	/* 4. KVM pages marked dirty by the process's vCPU threads. */
	__u64 kvm_dirty;
	/* 5. uprobes, by slot (cookie). */
	__u64 up_calls[VBPF_MAX_UPROBES];
	__u64 up_ret_sum[VBPF_MAX_UPROBES]; /* uretprobe: sum of the returned count */
	/* 6. When (bpf_ktime_get_ns: CLOCK_MONOTONIC, as user space reads it)
	 * the first and the last request of each number was received; 0: none
	 * yet. Last in the record, as they are not sums: vbpf_read() keeps the
	 * earliest first and the latest last of the CPUs' copies. The control
	 * plane as the backends saw it, e.g. from the source's first
	 * GET_VRING_BASE to the destination's last SET_VRING_ENABLE. */
	__u64 req_first_in_ns[VBPF_MAX_REQ];
	__u64 req_last_in_ns[VBPF_MAX_REQ];
};

#endif
