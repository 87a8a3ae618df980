/* SPDX-License-Identifier: MIT */
/* fuzz_ctl — the control socket's reading of what clients send: line
 * framing (partial, overlong, empty and CR-terminated lines), JSON, the
 * request's members, each command's argument keys, and the built-ins (help,
 * subscribe).  A real ctl server listens in a private run dir; each input is
 * sent by one client connection in the chunks the input gives (bytes 0xff
 * split it into separate writes), and the server runs until it has answered
 * everything and the client has gone.
 *
 * The command table is vhm run's own (run_args.h's RUN_ARGS_CMDS: names and
 * argument keys) with handlers that only echo, so the server's checks are
 * what is exercised.  What must hold: no crash, no leak, no sanitizer
 * report, the server never blocks, and a client that reads nothing is
 * dropped, not waited for. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "fuzz.h"
#include "run_args.h"
#include "util.h"

#define ROUNDS_MAX 64   /* dispatch rounds per input: the server must be done by then */

static struct ctl_server *srv;
static char run_dir[] = "/tmp/vhm-fuzz-ctl.XXXXXX";

/* Does any argument have the string value "fail"? */
static bool asks_to_fail(json_t *args)
{
	const char *key;
	json_t *v;

	json_object_foreach(args, key, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), "fail"))
			return true;
	return false;
}

/* Every command's handler: an error when asked (the server's error reply),
 * else the arguments back, as the reply and as an event. */
static int echo(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	(void)ctx;
	if (asks_to_fail(args))
		return vhm_err(err, errlen, -EINVAL, "asked to fail");
	*ret = json_pack("{s:O}", "args", args);
	ctl_server_emit(srv, "echo", json_incref(args));
	return 0;
}

#define FZ_CMD(fn, name, doc, ...) { name, doc, echo, { __VA_ARGS__ } },
static const struct ctl_cmd cmds[] = { RUN_ARGS_CMDS(FZ_CMD) };
#undef FZ_CMD

static int client(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", ctl_server_path(srv));
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void drain(int fd)
{
	char buf[65536];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	int fd = client(), rounds = 0;

	if (fd < 0)
		return 0;
	ctl_server_dispatch(srv, 0);   /* accept, greet */
	while (len) {
		const uint8_t *cut = memchr(data, 0xff, len);
		size_t n = cut ? (size_t)(cut - data) : len;

		if (n && send(fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			break;
		ctl_server_dispatch(srv, 0);
		data += n + (cut != NULL);
		len -= n + (cut != NULL);
	}
	shutdown(fd, SHUT_WR);
	/* odd rounds read the replies, even ones let them pile up */
	while (ctl_server_nclients(srv) && rounds++ < ROUNDS_MAX) {
		if (rounds & 1)
			drain(fd);
		ctl_server_dispatch(srv, 0);
	}
	close(fd);
	while (ctl_server_nclients(srv) && rounds++ < 2 * ROUNDS_MAX)
		ctl_server_dispatch(srv, 1);
	if (ctl_server_nclients(srv))
		abort();   /* a client gone for good is still held */
	return 0;
}

/* The server unlinks its socket; the run dir is ours too. */
static void cleanup(void)
{
	ctl_server_close(srv);
	rmdir(run_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char lines[] =
		"{\"execute\":\"help\"}\n"
		"{\"execute\":\"subscribe\",\"arguments\":{\"events\":[\"echo\"]},\"id\":1}\n"
		"{\"execute\":\"migrate\",\"arguments\":{\"to\":\"/run/b.sock\",\"downtime_ms\":50},"
		"\"id\":\"x\"}\r\n"
		"\n{\"execute\":\"set-dirty\",\"arguments\":{\"bogus\":1}}\n"
		"{\"execute\":\"set-dirty\",\"arguments\":{\"pattern\":\"fail\"}}\n"
		"[1,2]\n{\"execute\":7}\n{\"execute\":\"nope\"}\n";
	/* the keys the harness's own copy of the table had missed */
	static const char keys[] =
		"{\"execute\":\"migrate\",\"arguments\":{\"to\":\"/run/b.sock\",\"verify\":"
		"\"sync\",\"copy_threads\":2,\"shared_memory\":true}}\n"
		"{\"execute\":\"track-stop\",\"arguments\":{\"force\":true}}\n"
		"{\"execute\":\"track-stop\",\"arguments\":{\"force\":\"fail\"}}\n"
		"{\"execute\":\"help\"}\n";
	char err[256];
	struct fz_seed s = { .b = { 0 }, .n = 0 };

	(void)argc; (void)argv;
	if (fz_seed_dir()) {
		fz_put(&s, lines, 60);
		fz_put(&s, "\xff", 1);
		fz_put(&s, lines + 60, sizeof(lines) - 61);
		fz_seed_save(&s, "session");
		s.n = 0;
		fz_put(&s, keys, sizeof(keys) - 1);
		fz_seed_save(&s, "keys");
		exit(0);
	}
	if (!mkdtemp(run_dir) || ctl_server_open(&srv, run_dir, "fuzz", cmds, VHM_ARRAY_SIZE(cmds),
						 NULL, err, sizeof(err))) {
		fprintf(stderr, "fuzz_ctl: cannot listen in %s: %s\n", run_dir, err);
		abort();
	}
	atexit(cleanup);
	return 0;
}
