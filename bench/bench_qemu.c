/* SPDX-License-Identifier: MIT */
/* qemu — downtime as the operator sees it, vhm against QEMU on the same
 * pair of testpmds (issue 16, 1):
 *  - QEMU 7.2 under TCG boots a 256 MiB guest (scripts/mkguest.sh: a Debian
 *    kernel and a busybox initramfs whose init brings eth0 up) whose
 *    virtio-net-pci (vectors=0: QEMU 7.2 under TCG crashes with MSI-X on
 *    vhost-user) is vhost-user on testpmd A; a second QEMU waits with
 *    `-incoming tcp:127.0.0.1:PORT` on testpmd B. Over QMP: downtime-limit
 *    50 ms, max-bandwidth 10 GiB/s, migrate; query-migrate's `downtime` and
 *    `total-time` when it completes. The guest then goes back the other way
 *    to a new incoming QEMU (one boot serves every run). Each run must show
 *    the destination testpmd making the device ready ("virtio is now ready
 *    for processing" in its log), else QEMU's migration would not have
 *    involved the backend at all and the run fails;
 *  - vhm on the same two testpmds: a 256 MiB `vhm run` device with 20000
 *    frames/s of traffic and 2000 dirty pages/s migrated with downtime_ms 50
 *    and the default proof (after-resume: the digest is out of the window);
 *    the report's downtime (source stopped → destination rings started);
 *  - for both, the switchover as the testpmds saw it: the ctl probe (eBPF)
 *    on each testpmd, from the source's first GET_VRING_BASE to the
 *    destination's last request starting rings (struct seen);
 *  - one target: the median of RUNS vhm runs vs the median of RUNS QEMU
 *    runs, ratio <= 1/3, on what the testpmds saw. The downtimes the two
 *    report are printed beside it: QEMU's is in whole ms and ends when the
 *    source has sent the last pages and the device state, before the
 *    destination loads them and starts the device (SET_MEM_TABLE and every
 *    ring, which the testpmds' view includes); vhm's ends when the
 *    destination's rings are started. Where the testpmds cannot be probed
 *    (not root), the target is judged on the reported downtimes, said.
 * Everything runs on the bench's main thread; children go through support.c
 * (ts_spawn), so they die with the bench. Not installed (qemu-system-x86_64,
 * dpdk-testpmd) or no guest (no mirror for mkguest.sh): "not run". */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"
#include "support.h"
#include "util.h"
#include "vbpf.h"
#include "vhu_proto.h"

#define QEMU_BIN "qemu-system-x86_64"
#define RUNS 5                  /* migrations by QEMU, then as many by vhm */
#define GUEST_MEM "256M"
#define LIMIT_MS 50
#define LINE "downtime vs QEMU 7.2 (TCG), 256 MiB"
#define READY "virtio is now ready for processing"
#define BOOT_MS 300000          /* TCG boot on a loaded 2-core machine: 40 s seen */
#define MIGRATE_MS 120000

/* One QMP connection (a line of JSON each way). */
struct qmp {
	FILE *f;
};

/* A connected socket to path, retrying while QEMU has bound it but not yet
 * listens there (ECONNREFUSED) or not made it (ENOENT), up to timeout_ms;
 * the fd, or -errno. */
static int qmp_connect(const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 30 };
	long end = ts_now_ms() + timeout_ms;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

		if (fd < 0)
			return -errno;
		if (!setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) &&
		    !connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		err = errno;
		close(fd);
		if ((err != ECONNREFUSED && err != ENOENT) || ts_now_ms() > end)
			return -err;
		usleep(50000);
	}
}

/* Connect to QMP at path (waiting up to timeout_ms for QEMU to make it),
 * read the greeting, leave capabilities negotiation. 0 or -errno (said). */
static int qmp_open(struct qmp *q, const char *path, int timeout_ms)
{
	int fd = qmp_connect(path, timeout_ms);
	char *line = NULL;
	size_t cap = 0;

	q->f = NULL;
	if (fd < 0 || !(q->f = fdopen(fd, "r+"))) {
		fprintf(stderr, "bench qemu: QMP %s: %s\n", path,
			strerror(fd < 0 ? -fd : errno));
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	if (getline(&line, &cap, q->f) < 0 || !strstr(line, "\"QMP\"")) {
		fprintf(stderr, "bench qemu: QMP %s: no greeting\n", path);
		free(line);
		return -EPROTO;
	}
	free(line);
	return 0;
}

static void qmp_close(struct qmp *q)
{
	if (q->f)
		fclose(q->f);
	q->f = NULL;
}

/* Execute cmd with args (stolen, may be NULL); *ret (if ret) gets the
 * "return" value (new reference). Events on the way are skipped. 0, or
 * -errno with what QEMU said printed. */
static int qmp_call(struct qmp *q, const char *cmd, json_t *args, json_t **ret)
{
	json_t *req = json_pack("{s:s}", "execute", cmd), *r = NULL;
	char *line = NULL;
	size_t cap = 0;
	int rc = -EPROTO;

	if (args)
		json_object_set_new(req, "arguments", args);
	if (json_dumpf(req, q->f, JSON_COMPACT) || fputc('\n', q->f) == EOF || fflush(q->f)) {
		fprintf(stderr, "bench qemu: QMP %s: cannot send\n", cmd);
		rc = -EIO;
		goto out;
	}
	while (getline(&line, &cap, q->f) >= 0) {
		json_decref(r);
		if (!(r = json_loads(line, 0, NULL)) || json_object_get(r, "event"))
			continue;
		if (json_object_get(r, "return")) {
			if (ret)
				*ret = json_incref(json_object_get(r, "return"));
			rc = 0;
		} else {
			fprintf(stderr, "bench qemu: QMP %s: %s\n", cmd, line);
		}
		goto out;
	}
	fprintf(stderr, "bench qemu: QMP %s: no reply (%s)\n", cmd, strerror(errno));
out:
	json_decref(r);
	json_decref(req);
	free(line);
	return rc;
}

/* Occurrences of needle in the file at path (0 when it cannot be read). */
static int count_in_file(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int n = 0;

	if (!f)
		return 0;
	while (getline(&line, &cap, f) >= 0)
		n += strstr(line, needle) != NULL;
	free(line);
	fclose(f);
	return n;
}

/* Wait up to timeout_ms for the file at path to hold more than `had` lines
 * with needle. true when it came. */
static bool wait_count(const char *path, const char *needle, int had, int timeout_ms)
{
	long end = ts_now_ms() + timeout_ms;

	while (count_in_file(path, needle) <= had)
		if (ts_now_ms() > end)
			return false;
		else
			usleep(100000);
	return true;
}

/* A free TCP port on 127.0.0.1 (the kernel's choice), or 0. */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = 0;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !getsockname(fd, (struct sockaddr *)&sa, &len))
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* The guest's kernel and initramfs, built (or found cached) by
 * scripts/mkguest.sh in <build>/guest, where the libvirt tests keep theirs.
 * 0, or -1 with the reason in why. */
static int guest_files(char *kernel, char *initrd, size_t len, char *why, size_t whylen)
{
	char dir[TS_PATH_MAX * 2];
	const char *mk[] = { "scripts/mkguest.sh", dir, NULL };
	struct ts_run r;

	snprintf(dir, sizeof(dir), "%s/guest", ts_build_dir());
	if (ts_run_cmd(mk, 300000, &r)) {
		snprintf(why, whylen, "cannot run scripts/mkguest.sh (run from the repository root)");
		return -1;
	}
	if (r.status)
		snprintf(why, whylen, "cannot build the guest: %.*s", (int)strcspn(r.err, "\n"),
			 r.err);
	ts_run_free(&r);
	if (r.status)
		return -1;
	snprintf(kernel, len, "%s/vmlinuz", dir);
	snprintf(initrd, len, "%s/initrd.img", dir);
	return 0;
}

/* One QEMU process and its QMP connection. */
struct qemu {
	pid_t pid;
	struct qmp qmp;
	char console[TS_PATH_MAX];
};

/* What every QEMU of this bench shares. */
struct qemu_setup {
	char kernel[TS_PATH_MAX * 2], initrd[TS_PATH_MAX * 2];
	const char *sock[2];         /* testpmd A, B */
	pid_t pid[2];                /* their pids */
	char log[2][TS_PATH_MAX];    /* their logs */
};

/* Each side's runs: the downtime it reports, its total time, and the
 * switchover as the testpmds saw it (-1: not seen), in ms. */
struct runs {
	double down[RUNS], total[RUNS], seen[RUNS];
};

/* The switchover as the two testpmds saw it, one instrument for QEMU and
 * vhm alike: the ctl probe on each (vbpf_abi.h, section 6), from the
 * source's first GET_VRING_BASE (its device stopping) to the destination's
 * last request that starts rings (SET_VRING_BASE, _KICK, _ENABLE or
 * SET_STATUS: vhm stages the KICKs and ENABLEs before the stop and starts
 * with BASE and DRIVER_OK where the backend takes a status; QEMU 7.2 sends
 * the whole set-up, SET_MEM_TABLE included, after it). QEMU's own
 * figure is in whole ms and ends before the destination loads the device
 * state and starts the device; vhm's ends when the destination's rings
 * are started. */
struct seen {
	struct vbpf *v[2];           /* on testpmd A, B; NULL: not probed */
	bool mem_inside;             /* seen_close's */
};

static void seen_open(struct seen *w, const struct qemu_setup *s)
{
	memset(w, 0, sizeof(*w));
	for (int i = 0; i < 2 && vbpf_privileged(); i++)
		if (vbpf_open(&w->v[i], s->pid[i], 1u << VBPF_PROBE_CTL, NULL))
			w->v[i] = NULL;
}

/* The window of a migration from testpmd `from` in ms, or -1 when a probe
 * is missing or did not see both ends; the probes closed (again: no-op).
 * w->mem_inside: whether the destination received a SET_MEM_TABLE (and
 * mapped the guest's memory) inside the window. */
static double seen_close(struct seen *w, int from)
{
	static const enum vhu_req starting[] = { VHU_SET_VRING_BASE, VHU_SET_VRING_KICK,
						 VHU_SET_VRING_ENABLE, VHU_SET_STATUS };
	struct vbpf_counters src, dst;
	double ms = -1;

	if (w->v[0] && w->v[1] && !vbpf_read(w->v[from], &src) &&
	    !vbpf_read(w->v[!from], &dst)) {
		uint64_t t0 = src.req_first_in_ns[VHU_GET_VRING_BASE], t1 = 0;

		for (size_t i = 0; i < VHM_ARRAY_SIZE(starting); i++)
			if (dst.req_last_in_ns[starting[i]] > t1)
				t1 = dst.req_last_in_ns[starting[i]];
		if (t0 && t1 > t0)
			ms = (double)(t1 - t0) / 1e6;
		w->mem_inside = t0 && dst.req_last_in_ns[VHU_SET_MEM_TABLE] > t0;
	}
	vbpf_close(w->v[0]);
	vbpf_close(w->v[1]);
	w->v[0] = w->v[1] = NULL;
	return ms;
}

/* " (testpmds saw 1.23 ms)", or "" when they were not probed. */
static const char *seen_text(double ms, bool mem_inside, char *buf, size_t len)
{
	if (ms < 0)
		return "";
	snprintf(buf, len, " (testpmds saw %.2f ms%s)", ms,
		 mem_inside ? ", the destination's SET_MEM_TABLE inside" : "");
	return buf;
}

/* QEMU `name` on backend socket sock; incoming: the TCP port it waits on
 * (0: boots the guest). Connected to its QMP, capabilities negotiated. 0, or
 * -1 said (what started is for qemu_stop). */
static int qemu_start(struct qemu *vm, const struct qemu_setup *s, const char *name,
		      const char *sock, int incoming)
{
	char memobj[96], chardev[TS_PATH_MAX + 32], serial[TS_PATH_MAX + 8];
	char qmp[TS_PATH_MAX], qmparg[TS_PATH_MAX + 32], uri[48], log[TS_PATH_MAX], file[32];
	const char *argv[] = {
		QEMU_BIN, "-accel", "tcg", "-m", GUEST_MEM, "-object", memobj,
		"-machine", "pc,memory-backend=mem0", "-kernel", s->kernel, "-initrd", s->initrd,
		"-append", "console=ttyS0 quiet", "-chardev", chardev,
		"-netdev", "vhost-user,id=net0,chardev=chr0",
		"-device", "virtio-net-pci,netdev=net0,vectors=0,mac=52:54:00:16:00:01",
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", serial,
		"-qmp", qmparg, incoming ? "-incoming" : NULL, uri, NULL,
	};

	vm->qmp.f = NULL;
	snprintf(memobj, sizeof(memobj), "memory-backend-memfd,id=mem0,size=%s,share=on",
		 GUEST_MEM);
	snprintf(chardev, sizeof(chardev), "socket,id=chr0,path=%s", sock);
	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%d", incoming);
	snprintf(file, sizeof(file), "%s.qmp", name);
	if (ts_path(file, qmp, sizeof(qmp)))
		return -1;
	snprintf(qmparg, sizeof(qmparg), "unix:%s,server=on,wait=off", qmp);
	snprintf(file, sizeof(file), "%s.console", name);
	if (ts_path(file, vm->console, sizeof(vm->console)))
		return -1;
	snprintf(serial, sizeof(serial), "file:%s", vm->console);
	snprintf(file, sizeof(file), "%s.log", name);
	if (ts_path(file, log, sizeof(log)))
		return -1;
	vm->pid = ts_spawn(argv, log);
	if (vm->pid < 0) {
		fprintf(stderr, "bench qemu: cannot start %s: %s\n", QEMU_BIN,
			strerror((int)-vm->pid));
		return -1;
	}
	if (qmp_open(&vm->qmp, qmp, 30000) || qmp_call(&vm->qmp, "qmp_capabilities", NULL, NULL)) {
		fprintf(stderr, "bench qemu: %s: QMP did not come up (log %s)\n", name, log);
		return -1;
	}
	return 0;
}

static void qemu_stop(struct qemu *vm)
{
	qmp_close(&vm->qmp);
	if (vm->pid > 0)
		ts_kill(vm->pid);
	vm->pid = 0;
}

/* QEMU's version ("7.2.22", from query-version; "?" when it does not say)
 * into buf; buf. */
static const char *qemu_version(struct qemu *vm, char *buf, size_t len)
{
	json_t *r = NULL, *q;

	snprintf(buf, len, "?");
	if (qmp_call(&vm->qmp, "query-version", NULL, &r))
		return buf;
	q = json_object_get(r, "qemu");
	snprintf(buf, len, "%d.%d.%d", (int)json_integer_value(json_object_get(q, "major")),
		 (int)json_integer_value(json_object_get(q, "minor")),
		 (int)json_integer_value(json_object_get(q, "micro")));
	json_decref(r);
	return buf;
}

/* Poll query-migrate on src until it completes (0, *down and *total in ms)
 * or fails (-1, said). */
static int qemu_wait_migrated(struct qemu *src, double *down, double *total, double *mb)
{
	long end = ts_now_ms() + MIGRATE_MS;

	while (ts_now_ms() < end) {
		json_t *r = NULL;
		const char *st;

		if (qmp_call(&src->qmp, "query-migrate", NULL, &r))
			return -1;
		st = json_string_value(json_object_get(r, "status"));
		if (st && !strcmp(st, "completed")) {
			*down = bench_num(r, "downtime", NULL);
			*total = bench_num(r, "total-time", NULL);
			*mb = bench_num(r, "ram", "transferred") / 1e6;
			json_decref(r);
			return 0;
		}
		if (st && (!strcmp(st, "failed") || !strcmp(st, "cancelled"))) {
			fprintf(stderr, "bench qemu: migration %s: %s\n", st,
				json_string_value(json_object_get(r, "error-desc")));
			json_decref(r);
			return -1;
		}
		json_decref(r);
		usleep(50000);
	}
	fprintf(stderr, "bench qemu: migration not completed in %d ms\n", MIGRATE_MS);
	return -1;
}

/* One migration of the running guest in *src (on backend `from`) to a new
 * incoming QEMU on the other backend, which becomes *src. 0 with QEMU's
 * downtime and total and what the testpmds saw in r, or -1 (said). */
static int qemu_migrate_once(struct qemu *src, const struct qemu_setup *s, int from, int run,
			     struct runs *r)
{
	int to = !from, port = free_port(), ready = count_in_file(s->log[to], READY);
	char name[16], uri[48], seen[96];
	struct qemu dst = { 0 };
	struct seen w = { { NULL } };
	json_t *st = NULL;
	double mb = 0;
	int rc = -1;

	snprintf(name, sizeof(name), "qemu%d", run + 1);
	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%d", port);
	if (!port || qemu_start(&dst, s, name, s->sock[to], port))
		goto out;
	seen_open(&w, s);
	if (qmp_call(&src->qmp, "migrate-set-parameters",
		     json_pack("{s:i, s:I}", "downtime-limit", LIMIT_MS, "max-bandwidth",
			       (json_int_t)10 << 30), NULL) ||
	    qmp_call(&src->qmp, "migrate", json_pack("{s:s}", "uri", uri), NULL) ||
	    qemu_wait_migrated(src, &r->down[run], &r->total[run], &mb))
		goto out;
	/* The destination QEMU started the device on its testpmd: without
	 * that the guest's NIC would not have been part of the migration. */
	if (!wait_count(s->log[to], READY, ready, 10000)) {
		fprintf(stderr, "bench qemu: run %d: testpmd %c never saw the device ready (%s)\n",
			run + 1, 'A' + to, s->log[to]);
		goto out;
	}
	if (qmp_call(&dst.qmp, "query-status", NULL, &st) ||
	    !json_is_true(json_object_get(st, "running"))) {
		fprintf(stderr, "bench qemu: run %d: the destination guest is not running\n",
			run + 1);
		goto out;
	}
	r->seen[run] = seen_close(&w, from);
	printf("    QEMU run %d, testpmd %c to %c: downtime %.0f ms%s, total %.0f ms, %.1f MB sent\n",
	       run + 1, 'A' + from, 'A' + to, r->down[run],
	       seen_text(r->seen[run], w.mem_inside, seen, sizeof(seen)), r->total[run], mb);
	fflush(stdout);
	qemu_stop(src);
	*src = dst;
	dst.pid = 0;
	dst.qmp.f = NULL;
	rc = 0;
out:
	seen_close(&w, from);
	json_decref(st);
	qemu_stop(&dst);
	return rc;
}

/* RUNS migrations of one booted guest, back and forth between the
 * testpmds, into r. 0, or -1 (said). */
static int qemu_runs(const struct qemu_setup *s, struct runs *r)
{
	struct qemu src = { 0 };
	long t0 = ts_now_ms();
	char ver[32];
	int rc = -1;

	if (qemu_start(&src, s, "qemu0", s->sock[0], 0))
		goto out;
	if (!wait_count(src.console, "VHM-GUEST-ETH0-UP", 0, BOOT_MS) ||
	    !wait_count(s->log[0], READY, 0, 10000)) {
		fprintf(stderr, "bench qemu: the guest did not bring eth0 up on testpmd A in %d s "
			"(console %s, testpmd log %s)\n", BOOT_MS / 1000, src.console, s->log[0]);
		goto out;
	}
	printf("    QEMU %s guest booted, eth0 up on testpmd A (device ready) in %.1f s\n",
	       qemu_version(&src, ver, sizeof(ver)), (double)(ts_now_ms() - t0) / 1000);
	for (int i = 0; i < RUNS; i++)
		if (qemu_migrate_once(&src, s, i % 2, i, r))
			goto out;
	rc = 0;
out:
	qemu_stop(&src);
	return rc;
}

/* One vhm migration of a fresh 256 MiB device (20000 frames/s, 2000 dirty
 * pages/s) from testpmd `from`: its report (NULL: failed, said), what the
 * testpmds saw in *seen and *mem_inside (seen_close). */
static json_t *vhm_migrate_once(const struct qemu_setup *s, int from, int run, double *seen,
				bool *mem_inside)
{
	struct seen w = { { NULL } };
	struct bench_dev d;
	json_t *rep = NULL;
	char name[16];

	snprintf(name, sizeof(name), "bq-vhm%d", run);
	if (!bench_dev_up(&d, name, s->sock[from], "1", GUEST_MEM, "2000")) {
		sleep(1);
		seen_open(&w, s);
		rep = bench_migrate_with(d.c, json_pack("{s:s, s:i}", "to", s->sock[!from],
							"downtime_ms", LIMIT_MS), NULL, NULL);
	}
	*seen = seen_close(&w, from);
	*mem_inside = w.mem_inside;
	bench_dev_down(&d);
	if (!rep || !json_is_true(json_object_get(rep, "verified"))) {
		fprintf(stderr, "bench qemu: vhm run %d: %s\n", run + 1,
			rep ? "the copy was not proved" : "the migration failed");
		json_decref(rep);
		return NULL;
	}
	return rep;
}

/* RUNS migrations by vhm, alternating direction, into r; the proof they
 * used in verify. 0, or -1 (said). */
static int vhm_runs(const struct qemu_setup *s, struct runs *r, char *verify, size_t verifylen)
{
	for (int i = 0; i < RUNS; i++) {
		int from = i % 2;
		bool mem_inside = false;
		json_t *rep = vhm_migrate_once(s, from, i, &r->seen[i], &mem_inside);
		char seen[96];

		if (!rep)
			return -1;
		r->down[i] = bench_num(rep, "downtime", "ms");
		r->total[i] = bench_num(rep, "total_ms", NULL);
		snprintf(verify, verifylen, "%s", json_string_value(json_object_get(rep, "verify")));
		printf("    vhm run %d, testpmd %c to %c: downtime %.1f ms%s (stop %.1f, last copy"
		       " %.1f, control %.1f, in-window check %.1f), total %.0f ms, verify %s\n",
		       i + 1, 'A' + from, 'A' + !from, r->down[i],
		       seen_text(r->seen[i], mem_inside, seen, sizeof(seen)), bench_num(rep, "downtime", "stop_ms"),
		       bench_num(rep, "downtime", "copy_ms"),
		       bench_num(rep, "downtime", "control_ms"),
		       bench_num(rep, "downtime", "verify_ms"), r->total[i], verify);
		fflush(stdout);
		json_decref(rep);
	}
	return 0;
}

/* Both testpmds, 1 queue pair each, with their logs. 0, 1 not installed
 * (said, counted), -1 failed (said, counted). */
static int backends_up(struct qemu_setup *s, char a[TS_PATH_MAX], char b[TS_PATH_MAX])
{
	int rc = bench_testpmd("qemu", "qemu-a", 1, NULL, 0, 1, a, TS_PATH_MAX, &s->pid[0]);

	if (!rc)
		rc = bench_testpmd("qemu", "qemu-b", 1, NULL, 0, 0, b, TS_PATH_MAX, &s->pid[1]);
	if (rc < 0)
		bench_missed_n("qemu", 1, "a testpmd did not start");
	s->sock[0] = a;
	s->sock[1] = b;
	if (ts_path("qemu-a.log", s->log[0], TS_PATH_MAX) ||
	    ts_path("qemu-b.log", s->log[1], TS_PATH_MAX))
		return -1;
	return rc;
}

/* Whether the testpmds saw every run of r. */
static bool all_seen(const struct runs *r)
{
	for (int i = 0; i < RUNS; i++)
		if (r->seen[i] < 0)
			return false;
	return true;
}

/* The target: the switchover as the testpmds saw it where both sides' runs
 * were seen (the same instrument for both), the reported downtimes for
 * information; otherwise (no eBPF here) the reported downtimes, said. The
 * medians sort q and v. */
static void report(struct runs *q, struct runs *v, const char *verify)
{
	double vdown = vhm_median(v->down, RUNS), qdown = vhm_median(q->down, RUNS);

	printf("    medians of %d runs each; total time vhm %.0f ms, QEMU %.0f ms (information);"
	       " vhm's proof: --verify=%s\n", RUNS, vhm_median(v->total, RUNS),
	       vhm_median(q->total, RUNS), verify);
	if (!all_seen(q) || !all_seen(v)) {
		printf("    judged on the downtimes the two report: the testpmds could not be probed"
		       " (eBPF needs root) in every run\n");
		bench_report(LINE, "ms", vdown, qdown, "<=", 1.0 / 3.0);
		return;
	}
	printf("%-40s vhm %12.3f ms  QEMU %9.3f ms  ratio %6.3f (information: the downtimes "
	       "they report; QEMU's is in whole ms and ends before its destination starts the "
	       "device)\n", "  reported downtime", vdown, qdown, qdown > 0 ? vdown / qdown : 0);
	printf("    judged: the switchover as the testpmds saw it (eBPF, the source's first "
	       "GET_VRING_BASE to the destination's last request starting rings)\n");
	bench_report(LINE, "ms", vhm_median(v->seen, RUNS), vhm_median(q->seen, RUNS), "<=",
		     1.0 / 3.0);
}

int bench_qemu(void)
{
	static struct qemu_setup s;
	static struct runs q, v;
	char a[TS_PATH_MAX], b[TS_PATH_MAX], why[512], verify[32] = "";
	int rc;

	if (!ts_on_path(QEMU_BIN)) {
		bench_not_run(LINE, QEMU_BIN " not installed (Debian package qemu-system-x86)");
		return 0;
	}
	if (guest_files(s.kernel, s.initrd, sizeof(s.kernel), why, sizeof(why))) {
		bench_not_run(LINE, "%s", why);
		return 0;
	}
	if ((rc = backends_up(&s, a, b))) {
		ts_cleanup();
		return rc < 0 ? -1 : 0;
	}
	if (qemu_runs(&s, &q) || vhm_runs(&s, &v, verify, sizeof(verify))) {
		bench_missed(LINE, "a migration failed (above)");
		ts_cleanup();
		return -1;
	}
	ts_cleanup();
	report(&q, &v, verify);
	return 0;
}
