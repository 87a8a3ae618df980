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
 *  - one target: the median of QEMU_RUNS vs the median of VHM_RUNS, ratio
 *    <= 1/3. QEMU's downtime is its own figure, from before the source stops
 *    until the source has sent the last pages and the device state: the
 *    destination's load of them and its device start come after it, where
 *    vhm's figure includes the destination's start (so the comparison, if
 *    anything, favours QEMU).
 * Everything runs on the bench's main thread; children go through support.c
 * (ts_spawn), so they die with the bench. Not installed (qemu-system-x86_64,
 * dpdk-testpmd) or no guest (no mirror for mkguest.sh): "not run". */
#include <arpa/inet.h>
#include <errno.h>
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

#define QEMU_BIN "qemu-system-x86_64"
#define QEMU_RUNS 5
#define VHM_RUNS 5
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
	char log[2][TS_PATH_MAX];    /* their logs */
};

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
 * downtime and total in ms, or -1 (said). */
static int qemu_migrate_once(struct qemu *src, const struct qemu_setup *s, int from, int run,
			     double *down, double *total)
{
	int to = !from, port = free_port(), ready = count_in_file(s->log[to], READY);
	char name[16], uri[48];
	struct qemu dst = { 0 };
	json_t *st = NULL;
	double mb = 0;
	int rc = -1;

	snprintf(name, sizeof(name), "qemu%d", run + 1);
	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%d", port);
	if (!port || qemu_start(&dst, s, name, s->sock[to], port))
		goto out;
	if (qmp_call(&src->qmp, "migrate-set-parameters",
		     json_pack("{s:i, s:I}", "downtime-limit", LIMIT_MS, "max-bandwidth",
			       (json_int_t)10 << 30), NULL) ||
	    qmp_call(&src->qmp, "migrate", json_pack("{s:s}", "uri", uri), NULL) ||
	    qemu_wait_migrated(src, down, total, &mb))
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
	printf("    QEMU run %d, testpmd %c to %c: downtime %.0f ms, total %.0f ms, %.1f MB sent\n",
	       run + 1, 'A' + from, 'A' + to, *down, *total, mb);
	fflush(stdout);
	qemu_stop(src);
	*src = dst;
	dst.pid = 0;
	dst.qmp.f = NULL;
	rc = 0;
out:
	json_decref(st);
	qemu_stop(&dst);
	return rc;
}

/* QEMU_RUNS migrations of one booted guest, back and forth between the
 * testpmds; QEMU's downtimes and total times in down[] and total[]. 0, or -1
 * (said). */
static int qemu_runs(const struct qemu_setup *s, double *down, double *total)
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
	for (int i = 0; i < QEMU_RUNS; i++)
		if (qemu_migrate_once(&src, s, i % 2, i, &down[i], &total[i]))
			goto out;
	rc = 0;
out:
	qemu_stop(&src);
	return rc;
}

/* VHM_RUNS migrations of a fresh 256 MiB device each (20000 frames/s, 2000
 * dirty pages/s), alternating direction; the reports' downtimes and total
 * times in down[] and total[], the proof they used in verify. 0, or -1
 * (said). */
static int vhm_runs(const struct qemu_setup *s, double *down, double *total, char *verify,
		    size_t verifylen)
{
	for (int i = 0; i < VHM_RUNS; i++) {
		char name[16];
		struct bench_dev d;
		json_t *rep = NULL;
		int from = i % 2;

		snprintf(name, sizeof(name), "bq-vhm%d", i);
		if (!bench_dev_up(&d, name, s->sock[from], "1", GUEST_MEM, "2000")) {
			sleep(1);
			rep = bench_migrate_with(d.c, json_pack("{s:s, s:i}", "to", s->sock[!from],
								"downtime_ms", LIMIT_MS),
						 NULL, NULL);
		}
		bench_dev_down(&d);
		if (!rep || !json_is_true(json_object_get(rep, "verified"))) {
			fprintf(stderr, "bench qemu: vhm run %d: %s\n", i + 1,
				rep ? "the copy was not proved" : "the migration failed");
			json_decref(rep);
			return -1;
		}
		down[i] = bench_num(rep, "downtime", "ms");
		total[i] = bench_num(rep, "total_ms", NULL);
		snprintf(verify, verifylen, "%s", json_string_value(json_object_get(rep, "verify")));
		printf("    vhm run %d, testpmd %c to %c: downtime %.1f ms (stop %.1f, last copy %.1f,"
		       " control %.1f, in-window check %.1f), total %.0f ms, verify %s\n", i + 1,
		       'A' + from, 'A' + !from, down[i], bench_num(rep, "downtime", "stop_ms"),
		       bench_num(rep, "downtime", "copy_ms"),
		       bench_num(rep, "downtime", "control_ms"),
		       bench_num(rep, "downtime", "verify_ms"), total[i], verify);
		fflush(stdout);
		json_decref(rep);
	}
	return 0;
}

/* Both testpmds, 1 queue pair each, with their logs. 0, 1 not installed
 * (said, counted), -1 failed (said, counted). */
static int backends_up(struct qemu_setup *s, char a[TS_PATH_MAX], char b[TS_PATH_MAX])
{
	pid_t pa, pb;
	int rc = bench_testpmd("qemu", "qemu-a", 1, NULL, 0, 1, a, TS_PATH_MAX, &pa);

	if (!rc)
		rc = bench_testpmd("qemu", "qemu-b", 1, NULL, 0, 0, b, TS_PATH_MAX, &pb);
	if (rc < 0)
		bench_missed_n("qemu", 1, "a testpmd did not start");
	s->sock[0] = a;
	s->sock[1] = b;
	if (ts_path("qemu-a.log", s->log[0], TS_PATH_MAX) ||
	    ts_path("qemu-b.log", s->log[1], TS_PATH_MAX))
		return -1;
	return rc;
}

int bench_qemu(void)
{
	static struct qemu_setup s;
	char a[TS_PATH_MAX], b[TS_PATH_MAX], why[512], verify[32] = "";
	double qdown[QEMU_RUNS], qtotal[QEMU_RUNS], vdown[VHM_RUNS], vtotal[VHM_RUNS];
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
	if (qemu_runs(&s, qdown, qtotal) || vhm_runs(&s, vdown, vtotal, verify, sizeof(verify))) {
		bench_missed(LINE, "a migration failed (above)");
		ts_cleanup();
		return -1;
	}
	ts_cleanup();
	printf("    medians of %d vhm and %d QEMU runs; total time vhm %.0f ms, QEMU %.0f ms "
	       "(information); vhm's proof: --verify=%s\n", VHM_RUNS, QEMU_RUNS,
	       vhm_median(vtotal, VHM_RUNS), vhm_median(qtotal, QEMU_RUNS), verify);
	bench_report(LINE, "ms", vhm_median(vdown, VHM_RUNS), vhm_median(qdown, QEMU_RUNS),
		     "<=", 1.0 / 3.0);
	return 0;
}
