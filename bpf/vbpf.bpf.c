// SPDX-License-Identifier: GPL-2.0
/* vbpf.bpf.c — the kernel half of vhm's probes of one backend process.
 *
 * Every program filters on the target tgid first and adds to one per-CPU
 * struct vbpf_counters (vbpf_abi.h); user space sums the CPUs. Each probe has
 * alternative attach points, chosen by vbpf.c at run time before load (the
 * others get autoload=false):
 *   control plane  tracepoint syscalls:sys_{enter,exit}_{sendmsg,recvmsg},
 *                  and sendmmsg where it exists
 *                  | raw_tp sys_enter/sys_exit (filtered by syscall number);
 *                  the vhost-user header of each message is decoded at exit,
 *                  every message a call moved (a frontend may send or read
 *                  several at once): request counts, service times
 *                  (vbpf_abi.h)
 *   eventfd        tracepoint syscalls:sys_{enter,exit}_{write,read}
 *                  | the same raw_tp pair
 *   page faults    tracepoint exceptions:page_fault_user | tp_btf page_fault_user
 *   KVM dirty      fentry mark_page_dirty_in_slot | tracepoint kvm:kvm_dirty_ring_push
 *                  | raw_tp kvm_dirty_ring_push
 *   uprobes        uprobe + uretprobe, attached once per BIN:SYM, the slot in the
 *                  attach cookie. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "vbpf_abi.h"

#define S_IFMT   0170000
#define S_IFSOCK 0140000
#define AF_UNIX  1

/* Set by the loader before load (read-only afterwards). */
const volatile __u32 targ_tgid = 0;
const volatile bool ctl_on = false;      /* probe 1 wanted */
const volatile bool ctl_unix_only = true;
const volatile bool kick_on = false;     /* probe 2 wanted */
const volatile __u64 pf_start = 0;       /* [pf_start, pf_end), host-virtual */
const volatile __u64 pf_end = 0;
const volatile __u32 page_shift = 12;
/* Syscall numbers for the raw_tp variant (from the loader's <sys/syscall.h>). */
const volatile long nr_sendmsg = -1, nr_recvmsg = -1, nr_write = -1, nr_read = -1;
const volatile long nr_sendmmsg = -1;
/* Per uprobe slot: the function returns a 16-bit packet count (rte_vhost bursts). */
const volatile __u8 up_ret_u16[VBPF_MAX_UPROBES] = {};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vbpf_counters);
} counters SEC(".maps");

enum call_kind { K_SEND = VBPF_SEND, K_RECV = VBPF_RECV, K_EVWRITE, K_EVREAD };

struct call_start {
	__u64 ts_ns;
	long nr;       /* syscall number, to pair raw sys_enter with sys_exit */
	__u64 msg;     /* ctl: the struct user_msghdr pointer (user memory); for
			* sendmmsg, the struct mmsghdr array's */
	long fd;       /* ctl: the socket */
	__u32 kind;
};

/* Calls in flight, by thread (pid_tgid). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct call_start);
} inflight SEC(".maps");

/* vhost-user header (docs/protocol.md): request, flags, payload size. */
#define VHU_VERSION_MASK 0x3u
#define VHU_VERSION      0x1u
#define VHU_REPLY        0x4u
#define VHU_MAX_PAYLOAD  0x10000u

/* Requests of one number awaiting their replies on one socket of the
 * target, oldest first: a frontend may send several before reading the
 * first reply (one GET_VRING_BASE per ring, pipelined), and vhost-user
 * answers in order. A ring of PENDING_MAX; an older request that never gets
 * a reply is overwritten when it is full. */
#define PENDING_MAX 8

struct pending_key {
	__u32 tgid, fd, request, pad;
};

struct pending_req {
	__u64 ts_ns[PENDING_MAX];  /* received (recvmsg returned) or sent (sendmsg entered) */
	__u32 head, tail;          /* oldest at head; free-running, mod PENDING_MAX */
	__u32 out;                 /* 1: this process sent them, 0: received them */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct pending_key);
	__type(value, struct pending_req);
} pending SEC(".maps");

/* Pages seen faulting (page-aligned host-virtual address); resized by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} pf_pages SEC(".maps");

static __always_inline struct vbpf_counters *ctrs(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline bool is_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == targ_tgid;
}

/* The struct file behind fd in the current task, or NULL (CO-RE walk of
 * task->files->fdt->fd[fd]; no locks, as every tracer does). */
static __always_inline struct file *fd_file(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;

	if (fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* Socket family of fd, or -1 when fd is not a socket. */
static __always_inline int fd_sock_family(long fd)
{
	struct file *f = fd_file(fd);
	struct socket *sock;

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return -1;
	sock = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(sock, sk, __sk_common.skc_family);
}

/* An eventfd is an anonymous-inode file whose dentry is named "[eventfd]"
 * (what /proc/PID/fd shows as anon_inode:[eventfd]). */
static __always_inline bool fd_is_eventfd(long fd)
{
	static const char want[] = "[eventfd]";
	struct file *f = fd_file(fd);
	const unsigned char *name;
	char got[sizeof(want)] = {};

	if (!f)
		return false;
	name = BPF_CORE_READ(f, f_path.dentry, d_name.name);
	if (bpf_probe_read_kernel_str(got, sizeof(got), name) != sizeof(want))
		return false;
	for (int i = 0; i < (int)sizeof(want); i++)
		if (got[i] != want[i])
			return false;
	return true;
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xFFFFFFFF) << 5; v >>= shift; r |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

/* Syscall entry: remember start time if it is a call we count. For ctl,
 * `arg` is the msghdr pointer; for kick, the byte count. */
static __always_inline void on_enter(long nr, enum call_kind kind, long fd, __u64 arg)
{
	struct call_start st = { .nr = nr, .kind = kind, .fd = fd, .msg = arg };
	__u64 count = arg;
	__u64 id = bpf_get_current_pid_tgid();

	if (kind <= K_RECV) {
		int fam = fd_sock_family(fd);

		if (ctl_unix_only && fam != AF_UNIX) {
			struct vbpf_counters *c = ctrs();

			if (c && fam >= 0)
				__sync_fetch_and_add(&c->ctl_other[kind], 1);
			return;
		}
	} else if (count != 8 || !fd_is_eventfd(fd)) {
		return;
	}
	st.ts_ns = bpf_ktime_get_ns();
	bpf_map_update_elem(&inflight, &id, &st, BPF_ANY);
}

/* A vhost-user request the target moved: queue its time for the reply. */
static __always_inline void request_seen(const struct pending_key *key, __u32 out, __u64 t_ns)
{
	struct pending_req *p = bpf_map_lookup_elem(&pending, key), np = {};

	if (!p || p->out != out) {
		np.ts_ns[0] = t_ns;
		np.tail = 1;
		np.out = out;
		bpf_map_update_elem(&pending, key, &np, BPF_ANY);
		return;
	}
	if (p->tail - p->head == PENDING_MAX)
		p->head++;      /* full: drop the oldest */
	p->ts_ns[p->tail & (PENDING_MAX - 1)] = t_ns;
	p->tail++;
}

/* A reply the target moved: the oldest request of its number waiting the
 * other way, its time taken off the ring; 0 when there is none. */
static __always_inline __u64 reply_seen(const struct pending_key *key, __u32 out)
{
	struct pending_req *p = bpf_map_lookup_elem(&pending, key);
	__u64 t;

	if (!p || p->out == out || p->head == p->tail)
		return 0;
	t = p->ts_ns[p->head & (PENDING_MAX - 1)];
	p->head++;
	return t;
}

/* A vhost-user message the target moved on socket fd (kind: sent or
 * received; t_ns: when, as the pairing rule in vbpf_abi.h says): a request
 * is counted and queued, a reply pairs with the oldest request queued. */
static __always_inline void count_request(struct vbpf_counters *c, long fd, __u32 kind,
					  const __u32 hdr[3], __u64 t_ns)
{
	struct pending_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .fd = (__u32)fd,
				   .request = hdr[0] };
	__u32 req = hdr[0], out = kind == K_SEND;
	__u64 t0;

	if (req >= VBPF_MAX_REQ) {
		__sync_fetch_and_add(&c->req_other, 1);
		return;
	}
	if (!(hdr[1] & VHU_REPLY)) {
		__sync_fetch_and_add(out ? &c->req_out[req] : &c->req_in[req], 1);
		if (!out && !c->req_first_in_ns[req])   /* this CPU's copy: no race */
			c->req_first_in_ns[req] = t_ns;
		if (!out && c->req_last_in_ns[req] < t_ns)
			c->req_last_in_ns[req] = t_ns;
		request_seen(&key, out, t_ns);
		return;
	}
	t0 = reply_seen(&key, out);
	if (!t0 || t_ns < t0)
		return;
	if (out) {
		__sync_fetch_and_add(&c->req_served[req], 1);
		__sync_fetch_and_add(&c->req_serve_ns[req], t_ns - t0);
	} else {
		__sync_fetch_and_add(&c->req_answered[req], 1);
		__sync_fetch_and_add(&c->req_rtt_ns[req], t_ns - t0);
	}
}

/* Messages decoded a call (a frontend pipelines; a backend moves one), and
 * sendmmsg entries looked at. */
#define MSGS_PER_CALL 16
#define MMSG_MAX      16

/* The vhost-user messages in the first `len` bytes of msghdr `msg`'s first
 * iovec, header by header, each counted (count_request); a header cut off
 * by the end of the call, or not of version 1, ends the walk. */
static __always_inline void walk_messages(struct vbpf_counters *c, long fd, __u32 kind,
					  __u64 msg, __u64 len, __u64 t_ns)
{
	struct user_msghdr mh;
	struct iovec iov;
	__u64 off = 0;

	if (len < 12 || bpf_probe_read_user(&mh, sizeof(mh), (void *)msg) || !mh.msg_iov ||
	    !mh.msg_iovlen || bpf_probe_read_user(&iov, sizeof(iov), mh.msg_iov))
		return;
	if (len > iov.iov_len)
		len = iov.iov_len;
	for (int i = 0; i < MSGS_PER_CALL; i++) {
		__u32 hdr[3];

		if (off + 12 > len ||
		    bpf_probe_read_user(hdr, sizeof(hdr), (char *)iov.iov_base + off) ||
		    (hdr[1] & VHU_VERSION_MASK) != VHU_VERSION || hdr[2] > VHU_MAX_PAYLOAD)
			return;
		count_request(c, fd, kind, hdr, t_ns);
		off += 12 + hdr[2];
	}
}

/* A sendmmsg that sent n entries: each one's messages, as a sendmsg's. */
static __always_inline void walk_mmsg(struct vbpf_counters *c, long fd, __u64 vec, long n,
				      __u64 t_ns)
{
	for (int i = 0; i < MMSG_MAX && i < n; i++) {
		__u64 at = vec + (__u64)i * sizeof(struct mmsghdr);
		__u32 len;

		if (bpf_probe_read_user(&len, sizeof(len),
					(void *)(at + __builtin_offsetof(struct mmsghdr, msg_len))))
			return;
		__sync_fetch_and_add(&c->ctl_msgs[K_SEND], 1);
		__sync_fetch_and_add(&c->ctl_bytes[K_SEND], len);
		walk_messages(c, fd, K_SEND, at, len, t_ns);
	}
}

/* Syscall exit: count the call begun in on_enter(), if any. */
static __always_inline void on_exit(long nr, long ret)
{
	__u64 id = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns();
	struct vbpf_counters *c;
	struct call_start *st;
	__u32 kind, slot;
	__u64 us;

	st = bpf_map_lookup_elem(&inflight, &id);
	if (!st)
		return;
	if (st->nr != nr) /* a call whose exit we missed (raw variant) */
		goto out;
	c = ctrs();
	if (!c)
		goto out;
	kind = st->kind;
	if (kind == K_EVWRITE || kind == K_EVREAD) {
		if (ret == 8)
			__sync_fetch_and_add(kind == K_EVWRITE ? &c->evfd_writes : &c->evfd_reads, 1);
		goto out;
	}
	if (kind > K_RECV)
		goto out;
	if (ret < 0) {
		__sync_fetch_and_add(&c->ctl_errors[kind], 1);
		goto out;
	}
	/* A request sent counts from sendmsg's entry, one received from
	 * recvmsg's return; a reply sent ends a service at sendmsg's entry. */
	if (nr == nr_sendmmsg) {
		walk_mmsg(c, st->fd, st->msg, ret, st->ts_ns);
	} else {
		__sync_fetch_and_add(&c->ctl_msgs[kind], 1);
		__sync_fetch_and_add(&c->ctl_bytes[kind], ret);
		walk_messages(c, st->fd, kind, st->msg, (__u64)ret,
			      kind == K_SEND ? st->ts_ns : now);
	}
	us = (now - st->ts_ns) / 1000;
	slot = us ? log2_u64(us) : 0;
	if (slot >= VBPF_HIST_SLOTS)
		slot = VBPF_HIST_SLOTS - 1;
	__sync_fetch_and_add(&c->ctl_hist[kind][slot], 1);
out:
	bpf_map_delete_elem(&inflight, &id);
}

/* --- probes 1 and 2, tracepoint variant: one program per syscall --------- */

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int tp_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (is_target())
		on_enter(nr_sendmsg, K_SEND, ctx->args[0], ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int tp_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	if (is_target())
		on_exit(nr_sendmsg, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int tp_enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (is_target())
		on_enter(nr_sendmmsg, K_SEND, ctx->args[0], ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int tp_exit_sendmmsg(struct trace_event_raw_sys_exit *ctx)
{
	if (is_target())
		on_exit(nr_sendmmsg, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int tp_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (is_target())
		on_enter(nr_recvmsg, K_RECV, ctx->args[0], ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int tp_exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	if (is_target())
		on_exit(nr_recvmsg, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int tp_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	if (is_target())
		on_enter(nr_write, K_EVWRITE, ctx->args[0], ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_write")
int tp_exit_write(struct trace_event_raw_sys_exit *ctx)
{
	if (is_target())
		on_exit(nr_write, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int tp_enter_read(struct trace_event_raw_sys_enter *ctx)
{
	if (is_target())
		on_enter(nr_read, K_EVREAD, ctx->args[0], ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_read")
int tp_exit_read(struct trace_event_raw_sys_exit *ctx)
{
	if (is_target())
		on_exit(nr_read, ctx->ret);
	return 0;
}

/* --- probes 1 and 2, raw_tp variant: every syscall, sorted by number ----- */

SEC("raw_tp/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long nr = (long)ctx->args[1];

	if (!is_target())
		return 0;
	if (ctl_on && (nr == nr_sendmsg || nr == nr_recvmsg || nr == nr_sendmmsg))
		on_enter(nr, nr == nr_recvmsg ? K_RECV : K_SEND,
			 PT_REGS_PARM1_CORE_SYSCALL(regs), PT_REGS_PARM2_CORE_SYSCALL(regs));
	else if (kick_on && (nr == nr_write || nr == nr_read))
		on_enter(nr, nr == nr_write ? K_EVWRITE : K_EVREAD,
			 PT_REGS_PARM1_CORE_SYSCALL(regs), PT_REGS_PARM3_CORE_SYSCALL(regs));
	return 0;
}

SEC("raw_tp/sys_exit")
int raw_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];

	if (is_target())
		on_exit(BPF_CORE_READ(regs, orig_ax), (long)ctx->args[1]);
	return 0;
}

/* --- probe 3: page faults in [pf_start, pf_end) -------------------------- */

static __always_inline void on_fault(__u64 addr)
{
	struct vbpf_counters *c;
	__u64 page;
	__u8 one = 1;
	long err;

	if (!is_target() || addr < pf_start || addr >= pf_end)
		return;
	c = ctrs();
	if (!c)
		return;
	__sync_fetch_and_add(&c->pf_faults, 1);
	page = addr >> page_shift;
	err = bpf_map_update_elem(&pf_pages, &page, &one, BPF_NOEXIST);
	if (!err)
		__sync_fetch_and_add(&c->pf_first_touch, 1);
	else if (err != -17 /* EEXIST: touched before */)
		__sync_fetch_and_add(&c->pf_table_full, 1);
}

SEC("tracepoint/exceptions/page_fault_user")
int tp_page_fault_user(struct trace_event_raw_exceptions *ctx)
{
	on_fault(ctx->address);
	return 0;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(btf_page_fault_user, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	on_fault(address);
	return 0;
}

/* --- probe 4: KVM pages marked dirty ------------------------------------- */

static __always_inline void on_dirty(void)
{
	struct vbpf_counters *c;

	if (!is_target())
		return;
	c = ctrs();
	if (c)
		__sync_fetch_and_add(&c->kvm_dirty, 1);
}

SEC("fentry/mark_page_dirty_in_slot")
int BPF_PROG(fe_mark_page_dirty, struct kvm *kvm, const struct kvm_memory_slot *memslot,
	     gfn_t gfn)
{
	/* Without a memslot, or without dirty logging, nothing is marked. */
	if (memslot && (BPF_CORE_READ(memslot, flags) & 1 /* KVM_MEM_LOG_DIRTY_PAGES */))
		on_dirty();
	return 0;
}

SEC("tracepoint/kvm/kvm_dirty_ring_push")
int tp_kvm_dirty_ring_push(void *ctx)
{
	on_dirty();
	return 0;
}

SEC("raw_tp/kvm_dirty_ring_push")
int raw_kvm_dirty_ring_push(struct bpf_raw_tracepoint_args *ctx)
{
	on_dirty();
	return 0;
}

/* --- probe 5: uprobes; the slot is the attach cookie ---------------------- */

SEC("uprobe")
int BPF_KPROBE(up_entry)
{
	__u64 slot = bpf_get_attach_cookie(ctx);
	struct vbpf_counters *c;

	if (!is_target() || slot >= VBPF_MAX_UPROBES)
		return 0;
	c = ctrs();
	if (c)
		__sync_fetch_and_add(&c->up_calls[slot], 1);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(up_return)
{
	__u64 slot = bpf_get_attach_cookie(ctx);
	struct vbpf_counters *c;

	if (!is_target() || slot >= VBPF_MAX_UPROBES || !up_ret_u16[slot])
		return 0;
	c = ctrs();
	if (c)
		__sync_fetch_and_add(&c->up_ret_sum[slot], PT_REGS_RC(ctx) & 0xffff);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
