/* SPDX-License-Identifier: MIT */
/* lvd_bview, the backend's view of a domain's dirty memory, against a backend
 * whose log-write function is visible: a small program (built here with cc)
 * that listens on a Unix socket, as a vhost-user backend does when QEMU is
 * the client, and calls __vhost_log_write of a library named like DPDK's
 * (librte_vhost.so.99, built here too) exactly as often as told.
 *
 * Debian's own librte_vhost is stripped, so on this machine the figure path
 * can only be shown this way: the process is found by its socket, the uprobe
 * counts every call (not fewer, not more), and the source names the probe.
 * Also: a socket nobody holds, and a server-mode interface, give a reason
 * and no figure.  Needs root (BPF) and cc; skips with the reason otherwise. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lvd_bview.h"
#include "support.h"
#include "vbpf.h"

#define CALLS   1000   /* calls per SIGUSR1 */
#define CALLS_S "1000" /* the same, for the backend's source */

static const char lib_c[] =
	"void __vhost_log_write(void *dev, unsigned long addr, unsigned long len);\n"
	"volatile unsigned long vhm_fake_logged;\n"
	"void __vhost_log_write(void *dev, unsigned long addr, unsigned long len)\n"
	"{ (void)dev; vhm_fake_logged += len + addr; }\n";

/* fakebe SOCKET DONEFILE: listen on SOCKET; on each SIGUSR1, CALLS calls,
 * then append a line to DONEFILE. */
static const char be_c[] =
	"#include <signal.h>\n#include <stdio.h>\n#include <string.h>\n#include <unistd.h>\n"
	"#include <sys/socket.h>\n#include <sys/un.h>\n"
	"void __vhost_log_write(void *dev, unsigned long addr, unsigned long len);\n"
	"static volatile sig_atomic_t go;\n"
	"static void on_usr1(int s) { (void)s; go = 1; }\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"	struct sockaddr_un a = { .sun_family = AF_UNIX };\n"
	"	int fd = socket(AF_UNIX, SOCK_STREAM, 0);\n"
	"	if (argc != 3) return 2;\n"
	"	signal(SIGUSR1, on_usr1);\n"
	"	strncpy(a.sun_path, argv[1], sizeof(a.sun_path) - 1);\n"
	"	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1)) return 1;\n"
	"	for (;;) {\n"
	"		FILE *f;\n"
	"		pause();\n"
	"		if (!go) continue;\n"
	"		go = 0;\n"
	"		for (int i = 0; i < " CALLS_S "; i++) __vhost_log_write(0, 4096UL * i, 4096);\n"
	"		f = fopen(argv[2], \"a\");\n"
	"		if (f) { fputs(\"done\\n\", f); fclose(f); }\n"
	"	}\n"
	"}\n";

static void fini(void)
{
	ts_cleanup();
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(not(eq(ptr, f, 0)), "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* Build the library and the backend in ts_dir(); skips without cc. */
static void build_fake(char *be, size_t len)
{
	char lib[TS_PATH_MAX], src[TS_PATH_MAX], bsrc[TS_PATH_MAX];

	if (geteuid() != 0 || !vbpf_privileged())
		cr_skip("needs root (BPF uprobes)");
	if (ts_sh("command -v cc"))
		cr_skip("no cc to build the fake backend");
	ts_path("lib.c", src, sizeof(src));
	ts_path("be.c", bsrc, sizeof(bsrc));
	ts_path("librte_vhost.so.99", lib, sizeof(lib));
	ts_path("fakebe", be, len);
	write_text(src, lib_c);
	write_text(bsrc, be_c);
	cr_assert(eq(int, ts_sh("cc -shared -fPIC -O0 -o '%s' '%s'", lib, src), 0), "cc %s", src);
	cr_assert(eq(int, ts_sh("cc -O0 -o '%s' '%s' '%s' -Wl,-rpath,'%s'", be, bsrc, lib,
				ts_dir()), 0), "cc %s", bsrc);
}

static bool file_has_lines(const char *path, int n)
{
	FILE *f = fopen(path, "r");
	char line[16];
	int k = 0;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		k++;
	fclose(f);
	return k >= n;
}

Test(libvirt_bview, counts_every_call_of_a_visible_log_function, .fini = fini, .timeout = 60)
{
	char be[TS_PATH_MAX], sock[TS_PATH_MAX], done[TS_PATH_MAX];
	struct lvh_iface ifc = { .mode = LVH_MODE_CLIENT };
	struct lvd_bview bv;
	json_t *o;
	pid_t pid, found = 0;

	build_fake(be, sizeof(be));
	ts_path("be.sock", sock, sizeof(sock));
	ts_path("done", done, sizeof(done));
	const char *argv[] = { be, sock, done, NULL };

	pid = ts_spawn(argv, NULL);
	cr_assert(lt(int, 0, pid));
	cr_assert(eq(int, ts_wait_socket(sock, 5000), 0), "the fake backend did not listen");
	cr_assert(eq(int, lvd_bview_find_listener(sock, &found), 0));
	cr_assert(eq(int, found, pid), "found pid %d, the backend is %d", found, pid);

	snprintf(ifc.path, sizeof(ifc.path), "%s", sock);
	lvd_bview_open(&bv, &ifc);
	cr_assert(eq(str, bv.why, ""), "%s", bv.why);
	lvd_bview_begin(&bv);
	for (int k = 1; k <= 2; k++) {
		kill(pid, SIGUSR1);
		for (int i = 0; i < 500 && !file_has_lines(done, k); i++)
			usleep(10000);
		cr_assert(file_has_lines(done, k), "the fake backend never finished round %d", k);
	}
	o = lvd_bview_end(&bv);
	lvd_bview_close(&bv);
	cr_assert(eq(i64, json_integer_value(json_object_get(o, "log_calls")), 2 * CALLS),
		  "%s", json_dumps(o, 0));
	cr_assert(lt(dbl, 0, json_number_value(json_object_get(o, "log_calls_per_s"))));
	cr_assert(not(eq(ptr, strstr(json_string_value(json_object_get(o, "source")) ?: "",
				     "uprobe calls to __vhost_log_write in "), 0)),
		  "%s", json_string_value(json_object_get(o, "source")));
	cr_assert(eq(ptr, json_object_get(o, "why"), 0));
	cr_assert(eq(i64, json_integer_value(json_object_get(o, "pid")), pid));
	json_decref(o);
}

Test(libvirt_bview, no_backend_or_server_mode_is_a_reason, .fini = fini, .timeout = 30)
{
	struct lvh_iface ifc = { .mode = LVH_MODE_CLIENT };
	struct lvd_bview bv;
	json_t *o;

	snprintf(ifc.path, sizeof(ifc.path), "%s/nobody.sock", ts_dir());
	lvd_bview_open(&bv, &ifc);
	lvd_bview_begin(&bv);
	o = lvd_bview_end(&bv);
	lvd_bview_close(&bv);
	cr_assert(not(eq(ptr, strstr(json_string_value(json_object_get(o, "why")) ?: "",
				     "no process holds a socket bound to"), 0)), "%s",
		  json_dumps(o, 0));
	cr_assert(eq(ptr, json_object_get(o, "log_calls_per_s"), 0), "a reason is not a zero");
	json_decref(o);

	ifc.mode = LVH_MODE_SERVER;
	lvd_bview_open(&bv, &ifc);
	o = lvd_bview_end(&bv);
	lvd_bview_close(&bv);
	cr_assert(not(eq(ptr, strstr(json_string_value(json_object_get(o, "why")) ?: "",
				     "mode server"), 0)), "%s", json_dumps(o, 0));
	json_decref(o);
}
