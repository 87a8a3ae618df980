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
#include <unistd.h>

#include "ctl.h"
#include "devtest.h"
#include "support.h"
#include "usock.h"

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
