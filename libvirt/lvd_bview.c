/* SPDX-License-Identifier: MIT */
/* lvd_bview — a vhost-user backend's dirty-log writes, counted by uprobes.
 *
 * Open finds the process behind the socket path (the inodes of the sockets
 * /proc/net/unix lists under that path, then the /proc/PID/fd link naming
 * one of them), opens vbpf with the uprobe probe alone on the four log-path
 * functions (lvd_bview.h), and keeps which of them attached.  Begin and end
 * read the cumulative counters around the measuring window; end decides
 * between a figure (with its source named) and a reason. */
#include "lvd_bview.h"
#include "util.h"
#include "vbpf.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INODES_MAX 64

static const char *const syms[LVD_BVIEW_SYMS] = {
	"__vhost_log_cache_write", "__vhost_log_write",         /* internal */
	"rte_vhost_log_write", "rte_vhost_log_used_vring",       /* exported */
};
#define INTERNAL_SYMS 2

/* Inodes of the sockets /proc/net/unix lists bound to path. */
static size_t socket_inodes(const char *path, unsigned long *ino, size_t max)
{
	char line[512];
	size_t n = 0;
	FILE *f = fopen("/proc/net/unix", "re");

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		unsigned long inode;
		char p[LVH_PATH_MAX + 1] = "";

		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %108s", &inode, p) == 2 &&
		    !strcmp(p, path))
			ino[n++] = inode;
	}
	fclose(f);
	return n;
}

/* Does process dir (a /proc/PID) hold one of the inodes? */
static bool holds_inode(const char *pid, const unsigned long *ino, size_t n)
{
	char dir[64], link[96], target[64];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%s/fd", pid);
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		ssize_t len;
		unsigned long v;

		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (sscanf(target, "socket:[%lu]", &v) != 1)
			continue;
		for (size_t i = 0; i < n && !found; i++)
			found = ino[i] == v;
	}
	closedir(d);
	return found;
}

int lvd_bview_find_listener(const char *path, pid_t *pid)
{
	unsigned long ino[INODES_MAX];
	size_t n = socket_inodes(path, ino, INODES_MAX);
	struct dirent *e;
	DIR *d;
	int rc = -ENOENT;

	if (!n)
		return -ENOENT;
	d = opendir("/proc");
	if (!d)
		return -errno;
	while (rc && (e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]) || !holds_inode(e->d_name, ino, n))
			continue;
		*pid = (pid_t)atol(e->d_name);
		rc = 0;
	}
	closedir(d);
	return rc;
}

void lvd_bview_open(struct lvd_bview *bv, const struct lvh_iface *iface)
{
	char specs[LVD_BVIEW_SYMS][160], why[256] = "";
	const char *spec[LVD_BVIEW_SYMS];
	struct vbpf_opts o = { .uprobes = spec, .n_uprobes = LVD_BVIEW_SYMS, .why = why,
			       .why_len = sizeof(why) };
	int rc;

	memset(bv, 0, sizeof(*bv));
	snprintf(bv->path, sizeof(bv->path), "%s", iface->path);
	if (iface->mode == LVH_MODE_SERVER) {
		snprintf(bv->why, sizeof(bv->why), "QEMU listens on %s (mode server): the backend's "
			 "end has no path to find it by", iface->path);
		return;
	}
	if (lvd_bview_find_listener(iface->path, &bv->pid)) {
		snprintf(bv->why, sizeof(bv->why), "no process holds a socket bound to %s",
			 iface->path);
		return;
	}
	for (size_t i = 0; i < LVD_BVIEW_SYMS; i++) {
		snprintf(specs[i], sizeof(specs[i]), "librte_vhost.so:%s", syms[i]);
		spec[i] = specs[i];
	}
	rc = vbpf_open(&bv->v, bv->pid, 1u << VBPF_PROBE_UPROBE, &o);
	if (rc == -EPERM)
		snprintf(bv->why, sizeof(bv->why), "loading BPF needs root or CAP_BPF+CAP_PERFMON");
	else if (rc == -ENOENT)
		snprintf(bv->why, sizeof(bv->why), "no uprobe on the dirty-log path of pid %d "
			 "attached: %s", (int)bv->pid, why);
	else if (rc)
		snprintf(bv->why, sizeof(bv->why), "uprobes on pid %d: %s", (int)bv->pid,
			 strerror(-rc));
	for (size_t i = 0; !rc && i < LVD_BVIEW_SYMS && !bv->binary[0]; i++)
		snprintf(bv->binary, sizeof(bv->binary), "%s", vbpf_uprobe_binary(bv->v, i));
}

/* Cumulative calls per slot; false when they cannot be read. */
static bool read_calls(struct lvd_bview *bv, uint64_t calls[LVD_BVIEW_SYMS])
{
	struct vbpf_counters c;

	if (!bv->v || vbpf_read(bv->v, &c))
		return false;
	memcpy(calls, c.up_calls, LVD_BVIEW_SYMS * sizeof(calls[0]));
	return true;
}

void lvd_bview_begin(struct lvd_bview *bv)
{
	if (!read_calls(bv, bv->c0) && !bv->why[0])
		snprintf(bv->why, sizeof(bv->why), "reading the uprobe counters failed");
	bv->t0_ns = vhm_now_ns();
}

/* "a, b" of the attached slots in [from, to) into out; how many. */
static size_t attached_names(const struct lvd_bview *bv, size_t from, size_t to, char *out,
			     size_t len)
{
	size_t n = 0, used = 0;

	out[0] = '\0';
	for (size_t i = from; i < to && used < len; i++) {
		if (!vbpf_uprobe_attached(bv->v, i))
			continue;
		used += (size_t)snprintf(out + used, len - used, "%s%s", n ? " + " : "", syms[i]);
		n++;
	}
	return n;
}

/* The figure from slots [from, to) when any attached: its json members. */
static void put_figure(json_t *o, const struct lvd_bview *bv, const uint64_t *c1, size_t from,
		       size_t to, double secs, const char *names)
{
	uint64_t calls = 0;
	char src[320];

	for (size_t i = from; i < to; i++)
		calls += c1[i] - bv->c0[i];
	snprintf(src, sizeof(src), "uprobe calls to %s in %s per second, one per guest range "
		 "logged (calls, not pages)", names, bv->binary);
	json_object_set_new(o, "log_calls", json_integer((json_int_t)calls));
	json_object_set_new(o, "seconds", json_real(secs));
	json_object_set_new(o, "log_calls_per_s", json_real(secs > 0 ? (double)calls / secs : 0));
	json_object_set_new(o, "source", json_string(src));
}

json_t *lvd_bview_end(struct lvd_bview *bv)
{
	json_t *o = json_pack("{s:s}", "path", bv->path);
	uint64_t c1[LVD_BVIEW_SYMS], pub = 0;
	double secs = (double)(vhm_now_ns() - bv->t0_ns) / 1e9;
	char names[160];

	if (!o)
		return NULL;
	if (bv->pid)
		json_object_set_new(o, "pid", json_integer(bv->pid));
	if (bv->binary[0])
		json_object_set_new(o, "binary", json_string(bv->binary));
	if (!bv->why[0] && !read_calls(bv, c1))
		snprintf(bv->why, sizeof(bv->why), "reading the uprobe counters failed");
	if (bv->why[0])
		goto why;
	if (attached_names(bv, 0, INTERNAL_SYMS, names, sizeof(names))) {
		put_figure(o, bv, c1, 0, INTERNAL_SYMS, secs, names);
		return o;
	}
	for (size_t i = INTERNAL_SYMS; i < LVD_BVIEW_SYMS; i++)
		pub += c1[i] - bv->c0[i];
	if (attached_names(bv, INTERNAL_SYMS, LVD_BVIEW_SYMS, names, sizeof(names)) && pub) {
		put_figure(o, bv, c1, INTERNAL_SYMS, LVD_BVIEW_SYMS, secs, names);
		return o;
	}
	snprintf(bv->why, sizeof(bv->why), "%s is stripped: its datapath's log writes "
		 "(__vhost_log_cache_write, __vhost_log_write) have no symbol to probe%s%s%s",
		 bv->binary[0] ? bv->binary : "the backend's librte_vhost",
		 names[0] ? "; the exported " : "", names,
		 names[0] ? " attached but saw no call (DPDK's net_vhost PMD, testpmd's, never "
			    "calls them)" : "");
why:
	json_object_set_new(o, "why", json_string(bv->why));
	return o;
}

void lvd_bview_close(struct lvd_bview *bv)
{
	vbpf_close(bv->v);
	bv->v = NULL;
}
