/* SPDX-License-Identifier: MIT */
/* Hostile surroundings of a real `vhm run` on vhm-testbe: every control
 * command refuses an argument key it does not know (and does nothing), and
 * `--listen` never removes or replaces what it did not create (a file, a
 * symlink, someone else's listening socket), only a stale socket. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "devtest.h"
#include "support.h"
#include "usock.h"
#include "util.h"

/* vhm run NAME on a looping vhm-testbe, its control socket up. */
static void start_device(const char *name)
{
	char sock[TS_PATH_MAX], bin[256], log[TS_PATH_MAX + 16];
	const char *extra[] = { "--loopback", "--queues", "2", NULL };
	const char *argv[] = { bin, "run", "--backend", sock, "--name", name, "--mem", "64M",
			       "--traffic", "1000", "--run-dir", ts_dir(), "--duration", "60s",
			       "--quiet", NULL };

	cr_assert(eq(int, ts_path("be.sock", sock, sizeof(sock)), 0));
	cr_assert(lt(int, 0, ts_testbe_start(sock, extra)), "vhm-testbe did not start");
	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/%s.log", ts_dir(), name);
	cr_assert(lt(int, 0, ts_spawn(argv, log)));
	dt_wait_ctl(name);
}

/* ---- argument keys ---- */

/* Each command `help` lists (the whole table of `vhm run` and the built-ins)
 * gets {"bogus": 1}: InvalidInput naming the key, and the command does not
 * run (stop among them: the device still answers afterwards). */
Test(harden_args, every_command_refuses_an_unknown_key, .fini = dt_fini, .timeout = 60)
{
	struct ctl_client *c;
	json_t *help, *cmds, *row, *bad = json_pack("{s:i}", "bogus", 1), *ret = NULL;
	char err[512];
	size_t i;

	start_device("a0");
	c = dt_connect("a0");
	help = dt_call(c, "help", NULL);
	cmds = json_object_get(help, "commands");
	cr_assert(lt(sz, (size_t)15, json_array_size(cmds)), "help lists %zu commands",
		  json_array_size(cmds));
	json_array_foreach(cmds, i, row) {
		const char *name = json_string_value(json_object_get(row, "name"));
		int rc = ctl_client_call(c, name, bad, &ret, err, sizeof(err), 5000);

		cr_assert(eq(int, rc, -EREMOTEIO), "%s with \"bogus\" ran: %d %s", name, rc, err);
		cr_assert(eq(str, (char *)ctl_client_error_class(c), "InvalidInput"), "%s: %s",
			  name, err);
		cr_assert(not(eq(ptr, strstr(err, "\"bogus\""), NULL)), "%s: %s", name, err);
	}
	json_decref(dt_call(c, "status", NULL));
	json_decref(help);
	json_decref(bad);
	ctl_client_close(c);
}

/* Known keys still work: set-traffic with pps and size. */
Test(harden_args, known_keys_are_accepted, .fini = dt_fini, .timeout = 60)
{
	struct ctl_client *c;
	json_t *r;

	start_device("a1");
	c = dt_connect("a1");
	r = dt_call(c, "set-traffic", json_pack("{s:i,s:i}", "pps", 500, "size", 128));
	cr_assert(eq(int, (int)json_integer_value(json_object_get(r, "size")), 128));
	json_decref(r);
	ctl_client_close(c);
}

/* ---- --listen never removes what vhm did not make ---- */

/* `vhm run --listen --backend path` refuses in one line, exit 2. */
static void assert_listen_refused(const char *path, const char *says)
{
	const char *args[] = { "run", "--listen", "--backend", path, "--name", "l0",
			       "--run-dir", ts_dir(), "--duration", "5s", NULL };

	dt_vhm_refuses(args, VHM_EXIT_USAGE, says);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(not(eq(ptr, f, NULL)), "create %s", path);
	fputs(text, f);
	fclose(f);
}

static void assert_file_holds(const char *path, const char *text)
{
	char got[64] = "";
	FILE *f = fopen(path, "r");

	cr_assert(not(eq(ptr, f, NULL)), "%s is gone", path);
	cr_assert(not(eq(ptr, fgets(got, sizeof(got), f), NULL)), "%s is empty", path);
	fclose(f);
	cr_assert(eq(str, got, (char *)text), "%s was rewritten", path);
}

/* A backend path that is the instance's own control socket (here l0's in
 * the run dir, spelt another way) is refused before anything is made:
 * otherwise the listener takes the path and the control socket finds it
 * taken ("instance l0 already running"). */
Test(harden_listen, own_control_socket_is_refused, .fini = dt_fini, .timeout = 30)
{
	char path[TS_PATH_MAX + 16];
	struct stat st;

	snprintf(path, sizeof(path), "%s/./l0.sock", ts_dir());
	assert_listen_refused(path, "control socket");
	cr_assert(eq(int, stat(path, &st), -1), "%s was made", path);
}

Test(harden_listen, regular_file_is_refused_and_kept, .fini = dt_fini, .timeout = 30)
{
	char path[TS_PATH_MAX];

	cr_assert(eq(int, ts_path("be.sock", path, sizeof(path)), 0));
	write_file(path, "precious");
	assert_listen_refused(path, "exists and is not a socket");
	assert_file_holds(path, "precious");
}

Test(harden_listen, symlink_is_refused_and_kept, .fini = dt_fini, .timeout = 30)
{
	char path[TS_PATH_MAX], target[TS_PATH_MAX], back[TS_PATH_MAX];
	struct stat st;

	cr_assert(eq(int, ts_path("be.sock", path, sizeof(path)), 0));
	cr_assert(eq(int, ts_path("target", target, sizeof(target)), 0));
	write_file(target, "precious");
	cr_assert(eq(int, symlink(target, path), 0));
	assert_listen_refused(path, "exists and is not a socket");
	cr_assert(eq(int, lstat(path, &st), 0), "the symlink is gone");
	cr_assert(eq(int, S_ISLNK(st.st_mode) ? 1 : 0, 1), "the symlink was replaced");
	cr_assert(lt(long, 0L, (long)readlink(path, back, sizeof(back) - 1)));
	assert_file_holds(target, "precious");
}

/* Another program (a testpmd, say) listening there keeps its socket. */
Test(harden_listen, live_socket_is_refused_and_kept, .fini = dt_fini, .timeout = 30)
{
	char path[TS_PATH_MAX];
	struct stat before, after;
	int lfd, fd;

	cr_assert(eq(int, ts_path("be.sock", path, sizeof(path)), 0));
	lfd = usock_listen(path, 16, 0, 0);
	cr_assert(ge(int, lfd, 0), "listen: %s", strerror(-lfd));
	cr_assert(eq(int, stat(path, &before), 0));
	assert_listen_refused(path, "something is listening there");
	cr_assert(eq(int, stat(path, &after), 0), "the listening socket was removed");
	cr_assert(eq(u64, (uint64_t)after.st_ino, (uint64_t)before.st_ino), "it was replaced");
	fd = usock_connect(path, 1000, 0);
	cr_assert(ge(int, fd, 0), "the owner's socket no longer connects: %s", strerror(-fd));
	close(fd);
	close(lfd);
}

/* A stale socket is replaced; on stop vhm removes its socket only while it
 * is still its own: a file put there meanwhile stays. */
Test(harden_listen, stale_socket_replaced_and_only_own_socket_removed, .fini = dt_fini,
     .timeout = 60)
{
	char path[TS_PATH_MAX], bin[256], log[TS_PATH_MAX + 16];
	const char *extra[] = { "--client", "--loopback", "--queues", "2", NULL };
	const char *argv[] = { bin, "run", "--listen", "--backend", path, "--name", "l1",
			       "--mem", "64M", "--run-dir", ts_dir(), "--duration", "60s",
			       "--quiet", NULL };
	const char *stop[] = { "stop", "l1", "--run-dir", ts_dir(), NULL };
	struct ts_run r;
	pid_t run;
	int fd, st;

	cr_assert(eq(int, ts_path("be.sock", path, sizeof(path)), 0));
	fd = usock_listen(path, 1, 0, 0);
	cr_assert(ge(int, fd, 0));
	close(fd); /* stale: the file stays, nobody listens */
	cr_assert(lt(int, 0, ts_testbe_start(path, extra)), "vhm-testbe did not start");
	ts_bin("vhm", bin, sizeof(bin));
	snprintf(log, sizeof(log), "%s/l1.log", ts_dir());
	run = ts_spawn(argv, log);
	cr_assert(lt(int, 0, run));
	dt_wait_ctl("l1");
	cr_assert(eq(int, unlink(path), 0));
	write_file(path, "someone else's");
	dt_vhm(stop, &r);
	cr_assert(eq(int, r.status, 0), "vhm stop: %s", r.err);
	ts_run_free(&r);
	while (!ts_exited(run, &st))
		usleep(20000);
	cr_assert(eq(int, WIFEXITED(st), 1), "vhm run killed by signal %d", WTERMSIG(st));
	cr_assert(eq(int, WEXITSTATUS(st), 0), "vhm run exited %d", WEXITSTATUS(st));
	assert_file_holds(path, "someone else's");
}
