/* SPDX-License-Identifier: MIT */
/* `vhm hook` as libvirtd runs it: $VHM_BUILD/vhm with DOMAIN OP SUBOP EXTRA
 * and the domain XML on stdin.  For every operation libvirt's QEMU driver
 * sends: exit 0, nothing on stdout (for migrate and restore stdout would
 * replace the domain XML), under 100 ms, and the event reaches a listening
 * daemon socket as one hook-event line.  Then the policy refusal, bad input,
 * a daemon that never reads, and --install / --uninstall. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"
#include "usock.h"
#include "util.h"

/* libvirt's budget for the hook.  The ASan+UBSan build of vhm (test-asan)
 * spends ~50-100 ms in sanitizer start-up alone, so there the bound only
 * catches a hook that waits (for stdin, for a daemon). */
#ifdef __SANITIZE_ADDRESS__
#define HOOK_MAX_MS 400
#else
#define HOOK_MAX_MS 100
#endif

extern char **environ;

static void fini(void)
{
	unsetenv("VHM_HOOK_REQUIRE_BACKEND_SOCKET");
	ts_cleanup();
}

struct hook_run {
	int status;
	long ms;
	char out[4096], err[4096];
};

static void slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* Run `vhm hook` (or the program in argv[0] when prog is given) with stdin
 * from the file xml_path; stdout and stderr captured. */
static void run_hook(const char *prog, const char *const *args, const char *xml_path,
		     struct hook_run *r)
{
	char vhm[TS_PATH_MAX], outp[TS_PATH_MAX], errp[TS_PATH_MAX];
	const char *argv[16];
	posix_spawn_file_actions_t fa;
	size_t n = 0;
	pid_t pid;
	long t0;

	ts_bin("vhm", vhm, sizeof(vhm));
	ts_path("hook.out", outp, sizeof(outp));
	ts_path("hook.err", errp, sizeof(errp));
	if (prog) {
		argv[n++] = prog;
	} else {
		argv[n++] = vhm;
		argv[n++] = "hook";
	}
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, xml_path, O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	t0 = ts_now_ms();
	cr_assert(eq(int, posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ), 0));
	cr_assert(eq(int, waitpid(pid, &r->status, 0), pid));
	r->ms = ts_now_ms() - t0;
	posix_spawn_file_actions_destroy(&fa);
	r->status = WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 128 + WTERMSIG(r->status);
	slurp(outp, r->out, sizeof(r->out));
	slurp(errp, r->err, sizeof(r->err));
}

static void write_file(const char *name, const char *text, char *path, size_t len)
{
	FILE *f;

	cr_assert(eq(int, ts_path(name, path, len), 0));
	f = fopen(path, "w");
	cr_assert(not(eq(ptr, f, 0)));
	fputs(text, f);
	fclose(f);
}

/* A vhostuser interface whose backend socket is `sock`, mode client. */
static void domain_xml(const char *sock, char *path, size_t len)
{
	char xml[1024];

	snprintf(xml, sizeof(xml),
		 "<domain type='qemu'><name>vm1</name>"
		 "<uuid>0f8fad5b-d9cb-469f-a165-70867728950e</uuid><devices>"
		 "<interface type='vhostuser'><mac address='52:54:00:12:34:56'/>"
		 "<source type='unix' path='%s' mode='client'/><driver queues='2'/>"
		 "</interface></devices></domain>\n", sock);
	write_file("domain.xml", xml, path, len);
}

/* A stand-in daemon: a listening socket at <dir>/libvirt.sock. */
static int listen_daemon(const char *dir)
{
	char path[TS_PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/libvirt.sock", dir);
	fd = usock_listen(path, 8, 0, 0);
	cr_assert(ge(int, fd, 0), "listen %s: %s", path, strerror(-fd));
	return fd;
}

/* The one line the hook sent, parsed (new reference). */
static json_t *read_event(int lfd)
{
	char buf[8192];
	size_t len = 0;
	json_error_t je;
	int c = usock_accept(lfd, 2000, 0);

	cr_assert(ge(int, c, 0), "the hook did not connect: %s", strerror(-c));
	/* Up to the end of the line: the hook's courier keeps the socket open
	 * until it gets a reply, which this stand-in never sends. */
	while (!memchr(buf, '\n', len) && len < sizeof(buf) - 1) {
		ssize_t n = read(c, buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(c);
	buf[len] = '\0';
	cr_assert(eq(int, ts_count_lines(buf), 1), "one line: %s", buf);
	json_t *j = json_loads(buf, 0, &je);

	cr_assert(not(eq(ptr, j, 0)), "not JSON: %s", buf);
	return j;
}

static const char *jstr(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);

	if (path2)
		v = json_object_get(v, path2);
	return json_string_value(v) ? json_string_value(v) : "(none)";
}

/* ---- every operation ---- */

struct op_case {
	char op[12], sub[8];
};

ParameterizedTestParameters(libvirt_hook, every_operation)
{
	static struct op_case cases[] = {
		{ "prepare", "begin" }, { "start", "begin" }, { "started", "begin" },
		{ "stopped", "end" }, { "release", "end" }, { "migrate", "begin" },
		{ "restore", "begin" }, { "reconnect", "begin" }, { "attach", "begin" },
	};

	return cr_make_param_array(struct op_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct op_case *c, libvirt_hook, every_operation, .fini = fini, .timeout = 20)
{
	char xml[TS_PATH_MAX], sock[TS_PATH_MAX];
	const char *args[] = { "-d", ts_dir(), "--", "vm1", c->op, c->sub, "-", NULL };
	struct hook_run r;
	int lfd = listen_daemon(ts_dir());

	ts_path("backend.sock", sock, sizeof(sock));
	domain_xml(sock, xml, sizeof(xml));
	run_hook(NULL, args, xml, &r);
	cr_assert(eq(int, r.status, 0), "%s: exit %d: %s", c->op, r.status, r.err);
	cr_assert(eq(str, r.out, ""), "%s: stdout must stay empty", c->op);
	cr_assert(lt(long, r.ms, HOOK_MAX_MS), "%s took %ld ms", c->op, r.ms);

	json_t *ev = read_event(lfd);

	cr_assert(eq(str, (char *)jstr(ev, "execute", NULL), "hook-event"));
	cr_assert(eq(str, (char *)jstr(ev, "arguments", "operation"), c->op));
	cr_assert(eq(str, (char *)jstr(ev, "arguments", "sub_operation"), c->sub));
	cr_assert(eq(str, (char *)jstr(ev, "arguments", "domain"), "vm1"));
	json_t *ifs = json_object_get(json_object_get(ev, "arguments"), "interfaces");

	cr_assert(eq(sz, json_array_size(ifs), 1));
	cr_assert(eq(str, (char *)jstr(json_array_get(ifs, 0), "mac", NULL), "52:54:00:12:34:56"));
	cr_assert(eq(str, (char *)jstr(json_array_get(ifs, 0), "path", NULL), sock));
	json_decref(ev);
	close(lfd);
}

/* ---- policy ---- */

Test(libvirt_hook, require_backend_socket_refuses_prepare_without_backend, .fini = fini)
{
	char xml[TS_PATH_MAX], sock[TS_PATH_MAX];
	const char *prepare[] = { "-d", ts_dir(), "--", "vm1", "prepare", "begin", "-", NULL };
	const char *start[] = { "-d", ts_dir(), "--", "vm1", "start", "begin", "-", NULL };
	struct hook_run r;

	ts_path("missing.sock", sock, sizeof(sock));
	domain_xml(sock, xml, sizeof(xml));
	setenv("VHM_HOOK_REQUIRE_BACKEND_SOCKET", "yes", 1);
	run_hook(NULL, prepare, xml, &r);
	cr_assert(eq(int, r.status, 1), "exit %d: %s", r.status, r.err);
	cr_assert(eq(int, ts_count_lines(r.err), 1), "one line for libvirt: %s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, sock), 0)), "names the socket: %s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "52:54:00:12:34:56"), 0)), "names the MAC: %s", r.err);
	cr_assert(eq(str, r.out, ""));
	cr_assert(lt(long, r.ms, HOOK_MAX_MS), "took %ld ms", r.ms);

	run_hook(NULL, start, xml, &r);
	cr_assert(eq(int, r.status, 0), "only prepare is checked: %s", r.err);
}

Test(libvirt_hook, require_backend_socket_accepts_a_listening_backend, .fini = fini)
{
	char xml[TS_PATH_MAX], sock[TS_PATH_MAX];
	const char *prepare[] = { "-d", ts_dir(), "--", "vm1", "prepare", "begin", "-", NULL };
	struct hook_run r;
	int fd;

	ts_path("backend.sock", sock, sizeof(sock));
	fd = usock_listen(sock, 1, 0, 0);
	cr_assert(ge(int, fd, 0));
	domain_xml(sock, xml, sizeof(xml));
	setenv("VHM_HOOK_REQUIRE_BACKEND_SOCKET", "yes", 1);
	run_hook(NULL, prepare, xml, &r);
	cr_assert(eq(int, r.status, 0), "exit %d: %s", r.status, r.err);
	close(fd);
}

/* ---- bad input: reported, never fatal ---- */

Test(libvirt_hook, bad_arguments_and_bad_xml_exit_0_with_a_message, .fini = fini)
{
	char xml[TS_PATH_MAX], bad[TS_PATH_MAX];
	const char *few[] = { "vm1", "start", NULL };
	const char *ok[] = { "-d", ts_dir(), "--", "vm1", "start", "begin", "-", NULL };
	struct hook_run r;

	domain_xml("/x.sock", xml, sizeof(xml));
	run_hook(NULL, few, xml, &r);
	cr_assert(eq(int, r.status, 0));
	cr_assert(not(eq(ptr, strstr(r.err, "expected DOMAIN OPERATION"), 0)), "%s", r.err);
	cr_assert(eq(str, r.out, ""));

	write_file("bad.xml", "<domain><name>vm1</name><devices>", bad, sizeof(bad));
	setenv("VHM_HOOK_REQUIRE_BACKEND_SOCKET", "yes", 1);
	run_hook(NULL, ok, bad, &r);
	cr_assert(eq(int, r.status, 0), "bad XML is not a refusal: %s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "domain XML"), 0)), "%s", r.err);
	cr_assert(eq(str, r.out, ""));
}

Test(libvirt_hook, huge_xml_is_cut_off_fast, .fini = fini, .timeout = 20)
{
	char path[TS_PATH_MAX];
	const char *args[] = { "-d", ts_dir(), "--", "vm1", "migrate", "begin", "-", NULL };
	struct hook_run r;
	FILE *f;

	cr_assert(eq(int, ts_path("huge.xml", path, sizeof(path)), 0));
	f = fopen(path, "w");
	fputs("<domain><name>", f);
	for (int i = 0; i < 6 * 1024; i++) /* 6 MiB of name */
		for (int j = 0; j < 1024; j++)
			fputc('a', f);
	fputs("</name></domain>", f);
	fclose(f);
	run_hook(NULL, args, path, &r);
	cr_assert(eq(int, r.status, 0));
	cr_assert(eq(str, r.out, ""));
	cr_assert(not(eq(ptr, strstr(r.err, "size limit"), 0)), "%s", r.err);
	cr_assert(lt(long, r.ms, HOOK_MAX_MS), "took %ld ms", r.ms);
}

Test(libvirt_hook, daemon_that_never_reads_costs_no_time, .fini = fini, .timeout = 20)
{
	char xml[TS_PATH_MAX];
	const char *args[] = { "-d", ts_dir(), "--", "vm1", "started", "begin", "-", NULL };
	struct hook_run r;
	int lfd = listen_daemon(ts_dir());
	int fill[64];

	/* Fill the backlog so that connect() would have to wait. */
	for (size_t i = 0; i < VHM_ARRAY_SIZE(fill); i++) {
		char p[TS_PATH_MAX];

		snprintf(p, sizeof(p), "%s/libvirt.sock", ts_dir());
		fill[i] = usock_connect(p, 0, SOCK_NONBLOCK);  /* < 0 once full */
	}
	domain_xml("/x.sock", xml, sizeof(xml));
	run_hook(NULL, args, xml, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(lt(long, r.ms, HOOK_MAX_MS), "took %ld ms", r.ms);
	for (size_t i = 0; i < VHM_ARRAY_SIZE(fill); i++)
		if (fill[i] >= 0)
			close(fill[i]);
	close(lfd);
}

/* The hook runs as root: a daemon socket in a run dir others may write to
 * could be anyone's, so it is never connected to (as every vhm client
 * refuses such a dir), and --verbose says why. */
Test(libvirt_hook, daemon_socket_in_an_open_run_dir_is_not_told, .fini = fini)
{
	char xml[TS_PATH_MAX], dir[TS_PATH_MAX];
	const char *args[] = { "-d", dir, "--verbose", "--", "vm1", "started", "begin", "-", NULL };
	struct pollfd p;
	struct hook_run r;
	int lfd;

	cr_assert(eq(int, ts_path("open", dir, sizeof(dir)), 0));
	cr_assert(eq(int, mkdir(dir, 0700), 0));
	cr_assert(eq(int, chmod(dir, 0777), 0));
	lfd = listen_daemon(dir);
	domain_xml("/x.sock", xml, sizeof(xml));
	run_hook(NULL, args, xml, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "not told"), NULL)), "%s", r.err);
	cr_assert(not(eq(ptr, strstr(r.err, "writable by group or others"), NULL)), "%s", r.err);
	p = (struct pollfd){ .fd = lfd, .events = POLLIN };
	cr_assert(eq(int, poll(&p, 1, 300), 0), "the hook connected to a planted socket");
	close(lfd);
}

Test(libvirt_hook, no_daemon_is_fine_and_quiet, .fini = fini)
{
	char xml[TS_PATH_MAX];
	const char *args[] = { "-d", ts_dir(), "--", "vm1", "stopped", "end", "-", NULL };
	struct hook_run r;

	domain_xml("/x.sock", xml, sizeof(xml));
	run_hook(NULL, args, xml, &r);
	cr_assert(eq(int, r.status, 0));
	cr_assert(eq(str, r.err, ""), "quiet unless verbose: %s", r.err);
	cr_assert(eq(str, r.out, ""));
}

/* ---- install ---- */

Test(libvirt_hook, install_writes_a_wrapper_that_runs_and_uninstall_removes_it, .fini = fini)
{
	char target[TS_PATH_MAX], vhm[TS_PATH_MAX], xml[TS_PATH_MAX], foreign[TS_PATH_MAX];
	const char *args[] = { "vm1", "release", "end", "-", NULL };
	struct hook_run r;
	struct stat st;
	int lfd;

	ts_bin("vhm", vhm, sizeof(vhm));
	ts_path("hooks/qemu.d/50-vhm", target, sizeof(target));
	const char *inst[] = { vhm, "hook", "--install", "--target", target, "-d", ts_dir(), NULL };
	struct ts_run tr;

	cr_assert(eq(int, ts_run_cmd(inst, 5000, &tr), 0));
	cr_assert(eq(int, tr.status, 0), "%s", tr.err);
	ts_run_free(&tr);
	cr_assert(eq(int, stat(target, &st), 0));
	cr_assert(eq(int, st.st_mode & 0111, 0111), "executable");

	lfd = listen_daemon(ts_dir());
	domain_xml("/x.sock", xml, sizeof(xml));
	run_hook(target, args, xml, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.out, ""));
	cr_assert(lt(long, r.ms, HOOK_MAX_MS), "through the wrapper: %ld ms", r.ms);
	json_t *ev = read_event(lfd);

	cr_assert(eq(str, (char *)jstr(ev, "arguments", "operation"), "release"));
	json_decref(ev);
	close(lfd);

	const char *uninst[] = { vhm, "hook", "--uninstall", "--target", target, NULL };

	cr_assert(eq(int, ts_run_cmd(uninst, 5000, &tr), 0));
	cr_assert(eq(int, tr.status, 0), "%s", tr.err);
	ts_run_free(&tr);
	cr_assert(eq(int, access(target, F_OK), -1), "removed");

	/* Someone else's hook at the target is left alone. */
	write_file("foreign-hook", "#!/bin/sh\nexit 0\n", foreign, sizeof(foreign));
	const char *uninst2[] = { vhm, "hook", "--uninstall", "--target", foreign, NULL };

	cr_assert(eq(int, ts_run_cmd(uninst2, 5000, &tr), 0));
	cr_assert(eq(int, tr.status, 1));
	ts_run_free(&tr);
	cr_assert(eq(int, access(foreign, F_OK), 0));

	/* ... and never replaced by an install. */
	const char *inst2[] = { vhm, "hook", "--install", "--target", foreign, NULL };
	char buf[64] = "";
	FILE *f;

	cr_assert(eq(int, ts_run_cmd(inst2, 5000, &tr), 0));
	cr_assert(eq(int, tr.status, 1), "install over a foreign hook: %s", tr.err);
	cr_assert(ne(ptr, strstr(tr.err, "not a vhm hook wrapper"), NULL), "%s", tr.err);
	ts_run_free(&tr);
	f = fopen(foreign, "re");
	cr_assert(ne(ptr, f, NULL));
	cr_assert(eq(int, (int)fread(buf, 1, sizeof(buf) - 1, f) > 0, 1));
	fclose(f);
	cr_assert(eq(str, buf, "#!/bin/sh\nexit 0\n"), "the foreign hook is unchanged");
}
