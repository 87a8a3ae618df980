/* SPDX-License-Identifier: MIT */
/* The control socket: a real server in a forked child of each test, with a
 * small command table (status with a counter, set-x with typed arguments,
 * emit, fail, stop) in a temporary run dir; raw sockets to pin the wire
 * protocol, the client library for events, and the vhm binary (from
 * $VHM_BUILD) for status/stop/list.  Server-side checks that need no peer
 * (modes, stale sockets, names) run the server in the test process. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "devtest.h"
#include "support.h"
#include "usock.h"
#include "util.h"

#define T_NAME "t0"

static char run_dir[64];
static pid_t server_pid;

/* ---- the test instance ---- */

struct tsrv {
	struct ctl_server *srv;
	long long counter, x;
	bool stop;
};

static int t_status(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct tsrv *t = ctx;

	(void)args, (void)err, (void)errlen;
	*ret = json_pack("{s:s,s:I,s:I,s:I,s:{s:i,s:i}}", "state", "running",
			 "counter", (json_int_t)t->counter++, "x", (json_int_t)t->x,
			 "dropped", (json_int_t)ctl_server_ndropped(t->srv),
			 "traffic", "rx", 1, "tx", 2);
	return 0;
}

static int t_set_x(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct tsrv *t = ctx;
	json_error_t jerr;
	json_int_t x;

	if (json_unpack_ex(args, &jerr, JSON_STRICT, "{s:I}", "x", &x))
		return vhm_err(err, errlen, -EINVAL, "invalid arguments: %s", jerr.text);
	t->x = x;
	*ret = json_pack("{s:I}", "x", x);
	return 0;
}

/* {"event": NAME, "count": N, "size": PAD}: N events, data {"seq", "pad"}. */
static int t_emit(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct tsrv *t = ctx;
	const char *name;
	json_int_t count, size;
	char *pad;

	if (json_unpack(args, "{s:s,s:I,s:I}", "event", &name, "count", &count, "size", &size)
	    || size < 0 || size > 1 << 20)
		return vhm_err(err, errlen, -EINVAL, "emit wants event, count, size");
	pad = malloc((size_t)size + 1);
	memset(pad, 'p', (size_t)size);
	pad[size] = '\0';
	for (json_int_t i = 0; i < count; i++)
		ctl_server_emit(t->srv, name, json_pack("{s:I,s:s}", "seq", i, "pad", pad));
	free(pad);
	*ret = json_pack("{s:I}", "emitted", count);
	return 0;
}

static int t_fail(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	(void)ctx, (void)args, (void)ret;
	return vhm_err(err, errlen, -EIO, "disk on fire");
}

static int t_stop(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen)
{
	struct tsrv *t = ctx;

	(void)args, (void)ret, (void)err, (void)errlen;
	t->stop = true;
	return 0;
}

static const struct ctl_cmd t_cmds[] = {
	{ "status", "", t_status },
	{ "set-x", "{\"x\": INT}", t_set_x, { "x" } },
	{ "emit", "{\"event\": S, \"count\": N, \"size\": BYTES}", t_emit, { "event", "count", "size" } },
	{ "fail", "", t_fail },
	{ "stop", "", t_stop },
};

/* The embedding loop, in the child.  Reports 0 or -errno on `ready`. */
static void serve(const char *name, int ready)
{
	struct tsrv t = { 0 };
	char err[256];
	int rc;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	rc = ctl_server_open(&t.srv, run_dir, name, t_cmds, VHM_ARRAY_SIZE(t_cmds), &t,
			     err, sizeof(err));
	if (write(ready, &rc, sizeof(rc)) != sizeof(rc) || rc)
		_exit(1);
	close(ready);
	while (!t.stop)
		if (ctl_server_dispatch(t.srv, 100))
			_exit(2);
	ctl_server_close(t.srv);
	_exit(0);
}

static pid_t start_server(const char *name)
{
	int p[2], rc = -1;
	pid_t pid;

	cr_assert(eq(int, pipe(p), 0));
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		serve(name, p[1]);
	}
	close(p[1]);
	cr_assert(eq(int, (int)read(p[0], &rc, sizeof(rc)), (int)sizeof(rc)),
		  "server child died before opening");
	close(p[0]);
	cr_assert(eq(int, rc, 0), "ctl_server_open in child: %s", strerror(-rc));
	return pid;
}

static void setup(void)
{
	snprintf(run_dir, sizeof(run_dir), "/tmp/vhm-ctl-XXXXXX");
	cr_assert(ne(ptr, mkdtemp(run_dir), NULL), "mkdtemp: %s", strerror(errno));
	server_pid = 0;
}

static void setup_server(void)
{
	setup();
	server_pid = start_server(T_NAME);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void teardown(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
	}
	nftw(run_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- raw wire helpers ---- */

static void sock_path(const char *name, char *out, size_t len)
{
	cr_assert(eq(int, vhm_sock_path(run_dir, name, out, len), 0));
}

static int raw_connect_to(const char *name)
{
	struct timeval tv = { .tv_sec = 5 };
	char path[108];
	int fd;

	sock_path(name, path, sizeof(path));
	fd = usock_connect(path, 5000, 0);
	cr_assert(ge(int, fd, 0), "connect %s: %s", path, strerror(-fd));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void raw_send(int fd, const char *s)
{
	size_t n = strlen(s);

	cr_assert(eq(long, (long)send(fd, s, n, MSG_NOSIGNAL), (long)n));
}

/* One line as JSON (byte at a time: replies here are short). */
static json_t *raw_msg(int fd)
{
	char line[8192];
	size_t n = 0;
	json_error_t jerr;
	json_t *v;

	for (;;) {
		ssize_t r = recv(fd, line + n, 1, 0);

		cr_assert(eq(long, (long)r, 1L), "no reply line (%s)", r ? strerror(errno) : "EOF");
		if (line[n] == '\n')
			break;
		n++;
		cr_assert(lt(sz, n, sizeof(line) - 1), "reply line too long");
	}
	v = json_loadb(line, n, 0, &jerr);
	cr_assert(ne(ptr, v, NULL), "reply is not JSON: %.*s", (int)n, line);
	return v;
}

static int raw_greeted(void)
{
	int fd = raw_connect_to(T_NAME);
	json_t *g = raw_msg(fd);

	cr_assert(eq(int, json_is_object(json_object_get(g, "vhm")), 1), "no greeting");
	json_decref(g);
	return fd;
}

/* The reply's error class, or "" for a return. */
static const char *class_of(json_t *reply)
{
	json_t *e = json_object_get(reply, "error");

	cr_assert(e || json_object_get(reply, "return"), "neither return nor error");
	return e ? json_string_value(json_object_get(e, "class")) : "";
}

static const char *desc_of(json_t *reply)
{
	return json_string_value(json_object_get(json_object_get(reply, "error"), "desc"));
}

/* Sends status and checks the counter answer comes: the session still works. */
static void assert_still_answers(int fd)
{
	json_t *r;

	raw_send(fd, "{\"execute\":\"status\",\"id\":\"alive\"}\n");
	r = raw_msg(fd);
	cr_assert(eq(str, (char *)class_of(r), ""));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(r, "id")), "alive"));
	json_decref(r);
}

/* ---- protocol ---- */

TestSuite(ctl_proto, .init = setup_server, .fini = teardown, .timeout = 30);

Test(ctl_proto, greeting_names_version_pid_and_capabilities)
{
	int fd = raw_connect_to(T_NAME);
	json_t *g = raw_msg(fd), *vhm = json_object_get(g, "vhm");

	cr_assert(eq(str, (char *)json_string_value(json_object_get(vhm, "name")), T_NAME));
	cr_assert(eq(i64, json_integer_value(json_object_get(vhm, "pid")), server_pid));
	cr_assert(eq(int, json_is_string(json_object_get(vhm, "version")), 1));
	cr_assert(eq(int, json_is_array(json_object_get(g, "capabilities")), 1));
	json_decref(g);
	close(fd);
}

Test(ctl_proto, id_is_echoed_whatever_its_type_and_omitted_when_absent)
{
	int fd = raw_greeted();
	json_t *r, *want = json_loads("{\"a\":[1,\"b\"]}", 0, NULL);

	raw_send(fd, "{\"execute\":\"status\",\"id\":{\"a\":[1,\"b\"]}}\n");
	r = raw_msg(fd);
	cr_assert(json_equal(json_object_get(r, "id"), want), "id not echoed");
	json_decref(r);
	raw_send(fd, "{\"execute\":\"fail\",\"id\":7}\n");
	r = raw_msg(fd);
	cr_assert(eq(i64, json_integer_value(json_object_get(r, "id")), 7));
	json_decref(r);
	raw_send(fd, "{\"execute\":\"status\"}\n");
	r = raw_msg(fd);
	cr_assert(eq(ptr, json_object_get(r, "id"), NULL), "id invented");
	json_decref(r);
	json_decref(want);
	close(fd);
}

Test(ctl_proto, status_returns_the_commands_object)
{
	int fd = raw_greeted();
	json_t *r;

	raw_send(fd, "{\"execute\":\"status\",\"id\":1}\n{\"execute\":\"status\",\"id\":2}\n");
	for (int i = 0; i < 2; i++) {
		r = raw_msg(fd);
		cr_assert(eq(i64, json_integer_value(json_object_get(r, "id")), i + 1));
		cr_assert(eq(i64, json_integer_value(json_object_get(json_object_get(r, "return"),
								     "counter")), i));
		json_decref(r);
	}
	close(fd);
}

/* Arrays, not pointers: Criterion copies parameters into another process. */
struct bad_req {
	char line[96];
	char cls[24];
	char desc_part[48];
};

static struct bad_req bad_reqs[] = {
	{ "{\"execute\": \"status\"\n", "InvalidInput", "invalid JSON" },
	{ "not json at all\n", "InvalidInput", "invalid JSON" },
	{ "42\n", "InvalidInput", "expected a JSON object" },
	{ "[{\"execute\":\"status\"}]\n", "InvalidInput", "expected a JSON object" },
	{ "\"status\"\n", "InvalidInput", "expected a JSON object" },
	{ "{\"id\":1}\n", "InvalidInput", "missing \"execute\"" },
	{ "{\"execute\":5,\"id\":1}\n", "InvalidInput", "\"execute\" must be a string" },
	{ "{\"execute\":\"status\",\"arguments\":[1]}\n", "InvalidInput",
	  "\"arguments\" must be an object" },
	{ "{\"execute\":\"status\",\"argument\":{}}\n", "InvalidInput", "unexpected member" },
	{ "{\"execute\":\"nope\"}\n", "CommandNotFound", "nope" },
	{ "{\"execute\":\"fail\"}\n", "GenericError", "disk on fire" },
	{ "{\"execute\":\"set-x\",\"arguments\":{\"x\":\"five\"}}\n", "GenericError",
	  "invalid arguments" },
	{ "{\"execute\":\"set-x\",\"arguments\":{}}\n", "GenericError", "invalid arguments" },
	{ "{\"execute\":\"set-x\",\"arguments\":{\"x\":1,\"y\":2}}\n", "InvalidInput",
	  "unknown argument \"y\" for set-x (known: x)" },
	{ "{\"execute\":\"subscribe\",\"arguments\":{\"events\":\"all\"}}\n", "GenericError",
	  "must be an array" },
};

ParameterizedTestParameters(ctl_proto, bad_request_gets_its_class_and_session_survives)
{
	return cr_make_param_array(struct bad_req, bad_reqs, VHM_ARRAY_SIZE(bad_reqs));
}

/* The suite's .init and .fini serve it: named here as well, Criterion runs
 * both twice and the first server's run dir is left behind. */
ParameterizedTest(struct bad_req *b, ctl_proto, bad_request_gets_its_class_and_session_survives)
{
	int fd = raw_greeted();
	json_t *r;

	raw_send(fd, b->line);
	r = raw_msg(fd);
	cr_assert(eq(str, (char *)class_of(r), (char *)b->cls), "for %s", b->line);
	cr_assert(ne(ptr, strstr(desc_of(r), b->desc_part), NULL), "desc '%s' lacks '%s'", desc_of(r),
		  b->desc_part);
	cr_assert(eq(ptr, strchr(desc_of(r), '\n'), NULL));
	json_decref(r);
	assert_still_answers(fd);
	close(fd);
}

Test(ctl_proto, typed_arguments_are_applied)
{
	int fd = raw_greeted();
	json_t *r;

	raw_send(fd, "{\"execute\":\"set-x\",\"arguments\":{\"x\":41}}\n");
	json_decref(raw_msg(fd));
	raw_send(fd, "{\"execute\":\"status\"}\n");
	r = raw_msg(fd);
	cr_assert(eq(i64, json_integer_value(json_object_get(json_object_get(r, "return"), "x")),
		     41));
	json_decref(r);
	close(fd);
}

Test(ctl_proto, unknown_argument_key_is_refused_naming_it_and_not_run)
{
	int fd = raw_greeted();
	json_t *r;

	raw_send(fd, "{\"execute\":\"set-x\",\"arguments\":{\"x\":5,\"bogus\":1},\"id\":1}\n");
	r = raw_msg(fd);
	cr_assert(eq(str, (char *)class_of(r), "InvalidInput"));
	cr_assert(ne(ptr, strstr(desc_of(r), "unknown argument \"bogus\" for set-x"), NULL),
		  "desc: %s", desc_of(r));
	json_decref(r);
	raw_send(fd, "{\"execute\":\"subscribe\",\"arguments\":{\"event\":[]}}\n");
	r = raw_msg(fd);
	cr_assert(eq(str, (char *)class_of(r), "InvalidInput"));
	cr_assert(ne(ptr, strstr(desc_of(r), "\"event\""), NULL), "desc: %s", desc_of(r));
	json_decref(r);
	raw_send(fd, "{\"execute\":\"status\",\"arguments\":{\"x\":1}}\n");
	r = raw_msg(fd);
	cr_assert(eq(str, (char *)class_of(r), "InvalidInput"), "status took an argument");
	json_decref(r);
	assert_still_answers(fd);
	raw_send(fd, "{\"execute\":\"set-x\",\"arguments\":{\"x\":0},\"id\":2}\n");
	r = raw_msg(fd);
	cr_assert(eq(str, (char *)class_of(r), ""));
	json_decref(r);
	close(fd);
}

Test(ctl_proto, oversized_line_is_discarded_with_one_error_and_session_survives)
{
	size_t big = 3 * CTL_LINE_MAX;
	char *line = malloc(big + 2);
	int fd = raw_greeted();
	json_t *r;

	memset(line, 'a', big);
	memcpy(line, "{\"execute\":\"status\",\"id\":\"", 26);
	strcpy(line + big, "\n");
	raw_send(fd, line);
	free(line);
	r = raw_msg(fd);
	cr_assert(eq(str, (char *)class_of(r), "InvalidInput"));
	cr_assert(ne(ptr, strstr(desc_of(r), "longer than"), NULL), "desc: %s", desc_of(r));
	json_decref(r);
	assert_still_answers(fd); /* and not a second error for the discarded tail */
	close(fd);
}

Test(ctl_proto, half_lines_are_joined)
{
	int fd = raw_greeted();
	json_t *r;

	raw_send(fd, "{\"execute\":\"sta");
	usleep(50000);
	raw_send(fd, "tus\",\"id\"");
	usleep(50000);
	raw_send(fd, ":9}\r\n");
	r = raw_msg(fd);
	cr_assert(eq(str, (char *)class_of(r), ""));
	cr_assert(eq(i64, json_integer_value(json_object_get(r, "id")), 9));
	json_decref(r);
	close(fd);
}

Test(ctl_proto, several_commands_in_one_write_are_answered_in_order)
{
	int fd = raw_greeted();

	raw_send(fd, "{\"execute\":\"status\",\"id\":1}\n\n   \n{\"execute\":\"nope\",\"id\":2}\n"
		     "garbage\n{\"execute\":\"set-x\",\"arguments\":{\"x\":3},\"id\":4}\n");
	for (int id = 1; id <= 4; id++) {
		json_t *r = raw_msg(fd);

		if (id == 3)
			cr_assert(eq(ptr, json_object_get(r, "id"), NULL));
		else
			cr_assert(eq(i64, json_integer_value(json_object_get(r, "id")), id));
		json_decref(r);
	}
	close(fd);
}

Test(ctl_proto, help_lists_builtins_and_table_commands)
{
	int fd = raw_greeted();
	const char *want[] = { "help", "subscribe", "status", "set-x", "stop" };
	json_t *r, *list, *v;
	size_t i;

	raw_send(fd, "{\"execute\":\"commands\"}\n");
	r = raw_msg(fd);
	list = json_object_get(json_object_get(r, "return"), "commands");
	for (size_t w = 0; w < VHM_ARRAY_SIZE(want); w++) {
		bool seen = false;

		json_array_foreach(list, i, v)
			seen |= !strcmp(json_string_value(json_object_get(v, "name")), want[w]);
		cr_assert(seen, "help lacks %s", want[w]);
	}
	json_decref(r);
	close(fd);
}

/* ---- many clients, and clients that misbehave ---- */

TestSuite(ctl_clients, .init = setup_server, .fini = teardown, .timeout = 30);

Test(ctl_clients, sixty_four_clients_at_once_all_get_answers)
{
	enum { N = 64 };
	int fds[N];
	char req[64];

	for (int i = 0; i < N; i++)
		fds[i] = raw_connect_to(T_NAME);
	for (int i = 0; i < N; i++) {
		snprintf(req, sizeof(req), "{\"execute\":\"status\",\"id\":%d}\n", i);
		raw_send(fds[i], req);
	}
	for (int i = N - 1; i >= 0; i--) {
		json_t *g = raw_msg(fds[i]), *r = raw_msg(fds[i]);

		cr_assert(ne(ptr, json_object_get(g, "vhm"), NULL), "client %d: no greeting", i);
		cr_assert(eq(i64, json_integer_value(json_object_get(r, "id")), i));
		cr_assert(ne(ptr, json_object_get(r, "return"), NULL), "client %d: no return", i);
		json_decref(g);
		json_decref(r);
		close(fds[i]);
	}
}

/* CTL_CLIENTS_MAX clients connected and silent must not lock `vhm status`
 * out: the one idle longest is told why and closed to make room; a
 * subscriber, even an older one, is not idle and stays. */
Test(ctl_clients, idle_clients_at_the_limit_do_not_lock_out_status)
{
	int fds[CTL_CLIENTS_MAX];
	const char *args[] = { "status", T_NAME, "--run-dir", run_dir, NULL };
	struct ts_run r;
	json_t *m;

	for (int i = 0; i < CTL_CLIENTS_MAX; i++) {
		fds[i] = raw_greeted();
		if (i == 0) { /* the oldest subscribes: not idle */
			raw_send(fds[0], "{\"execute\":\"subscribe\"}\n");
			json_decref(raw_msg(fds[0]));
		}
	}
	dt_vhm(args, &r);
	cr_assert(eq(int, r.status, 0), "vhm status with %d idle clients: exit %d: %s",
		  CTL_CLIENTS_MAX, r.status, r.err);
	cr_assert(ne(ptr, strstr(r.out, "state: running"), NULL), "out: %s", r.out);
	ts_run_free(&r);
	m = raw_msg(fds[1]);
	cr_assert(eq(str, (char *)class_of(m), "GenericError"));
	cr_assert(ne(ptr, strstr(desc_of(m), "idle"), NULL), "desc: %s", desc_of(m));
	json_decref(m);
	cr_assert(eq(long, (long)recv(fds[1], (char[1]){ 0 }, 1, 0), 0L), "evicted, not closed");
	assert_still_answers(fds[0]);
	assert_still_answers(fds[2]);
	for (int i = 0; i < CTL_CLIENTS_MAX; i++)
		close(fds[i]);
}

Test(ctl_clients, client_vanishing_mid_line_does_not_disturb_others)
{
	int other = raw_greeted();

	for (int i = 0; i < 10; i++) {
		int fd = raw_connect_to(T_NAME);

		raw_send(fd, "{\"execute\":\"stat");
		close(fd);
	}
	assert_still_answers(other);
	close(other);
}

Test(ctl_clients, client_vanishing_with_unread_output_does_not_disturb_others)
{
	int other = raw_greeted();

	for (int i = 0; i < 5; i++) {
		int fd = raw_connect_to(T_NAME);

		raw_send(fd, "{\"execute\":\"subscribe\"}\n"
			     "{\"execute\":\"emit\",\"arguments\":{\"event\":\"e\",\"count\":200,"
			     "\"size\":1000}}\n");
		usleep(20000);
		close(fd);
	}
	assert_still_answers(other);
	close(other);
}

Test(ctl_clients, other_uid_is_refused_with_one_error_line)
{
	char path[108];
	int st, p[2];
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root to become another uid");
	sock_path(T_NAME, path, sizeof(path));
	cr_assert(eq(int, chmod(run_dir, 0755), 0));
	cr_assert(eq(int, chmod(path, 0666), 0));
	cr_assert(eq(int, pipe(p), 0));
	pid = fork();
	if (pid == 0) {
		char line[512] = "";
		ssize_t n;
		int fd;

		if (setgid(65534) || setuid(65534))
			_exit(10);
		fd = raw_connect_to(T_NAME);
		n = recv(fd, line, sizeof(line) - 1, MSG_WAITALL);
		_exit(write(p[1], line, n > 0 ? (size_t)n : 0) < 0 ? 11 : 0);
	}
	close(p[1]);
	char got[512] = "";
	cr_assert(read(p[0], got, sizeof(got) - 1) > 0, "the refused client saw nothing");
	waitpid(pid, &st, 0);
	cr_assert(eq(int, WIFEXITED(st), 1), "killed by signal %d", WTERMSIG(st));
	cr_assert(eq(int, WEXITSTATUS(st), 0));
	json_t *r = json_loads(got, JSON_DISABLE_EOF_CHECK, NULL);
	cr_assert(eq(str, (char *)class_of(r), "PermissionDenied"), "got %s", got);
	cr_assert(ne(ptr, strstr(desc_of(r), "uid 65534"), NULL));
	json_decref(r);
	int fd = raw_greeted(); /* root still gets in */
	assert_still_answers(fd);
	close(fd);
}

/* ---- events ---- */

TestSuite(ctl_events, .init = setup_server, .fini = teardown, .timeout = 30);

static struct ctl_client *client(void)
{
	struct ctl_client *c;
	char err[256];
	int rc = ctl_client_open(&c, run_dir, T_NAME, 5000, err, sizeof(err));

	cr_assert(eq(int, rc, 0), "ctl_client_open: %s", err);
	return c;
}

static json_t *call_ok(struct ctl_client *c, const char *cmd, const char *args_json)
{
	json_t *args = args_json ? json_loads(args_json, 0, NULL) : NULL, *ret = NULL;
	char err[256];
	int rc = ctl_client_call(c, cmd, args, &ret, err, sizeof(err), 10000);

	json_decref(args);
	cr_assert(eq(int, rc, 0), "%s: %s", cmd, err);
	return ret;
}

Test(ctl_events, subscribed_events_arrive_in_order_and_others_are_filtered)
{
	struct ctl_client *sub = client(), *ctl = client();
	json_t *ev;

	json_decref(call_ok(sub, "subscribe", "{\"events\":[\"tick\"]}"));
	json_decref(call_ok(ctl, "emit", "{\"event\":\"other\",\"count\":5,\"size\":1}"));
	json_decref(call_ok(ctl, "emit", "{\"event\":\"tick\",\"count\":300,\"size\":10}"));
	for (int i = 0; i < 300; i++) {
		cr_assert(eq(int, ctl_client_next_event(sub, &ev, 5000), 0), "event %d missing", i);
		cr_assert(eq(str, (char *)json_string_value(json_object_get(ev, "event")), "tick"));
		cr_assert(eq(i64, json_integer_value(json_object_get(json_object_get(ev, "data"),
								     "seq")), i));
		cr_assert(eq(int, json_is_integer(json_object_get(json_object_get(ev, "timestamp"),
									  "microseconds")), 1));
		json_decref(ev);
	}
	cr_assert(eq(int, ctl_client_next_event(ctl, &ev, 200), -ETIMEDOUT),
		  "a client that did not subscribe got an event");
	ctl_client_close(sub);
	ctl_client_close(ctl);
}

Test(ctl_events, events_arriving_during_a_call_are_kept_for_next_event)
{
	struct ctl_client *c = client();
	json_t *ev;

	json_decref(call_ok(c, "subscribe", NULL));
	json_decref(call_ok(c, "emit", "{\"event\":\"state\",\"count\":3,\"size\":0}"));
	for (int i = 0; i < 3; i++) {
		cr_assert(eq(int, ctl_client_next_event(c, &ev, 1000), 0));
		cr_assert(eq(i64, json_integer_value(json_object_get(json_object_get(ev, "data"),
								     "seq")), i));
		json_decref(ev);
	}
	ctl_client_close(c);
}

Test(ctl_events, subscriber_that_never_reads_is_dropped_not_waited_for)
{
	struct ctl_client *ctl = client();
	int lazy = raw_greeted();
	char buf[65536];
	uint64_t t0;
	json_t *ret;
	ssize_t n;
	size_t total = 0;

	raw_send(lazy, "{\"execute\":\"subscribe\"}\n");
	json_decref(raw_msg(lazy));
	t0 = vhm_now_ns();
	/* 10 000 events of ~1 KB: 10 MB to a reader that never reads */
	json_decref(call_ok(ctl, "emit", "{\"event\":\"stats\",\"count\":10000,\"size\":1000}"));
	ret = call_ok(ctl, "status", NULL);
	cr_assert(lt(u64, (vhm_now_ns() - t0) / 1000000, 3000), "the server waited for a reader");
	cr_assert(eq(i64, json_integer_value(json_object_get(ret, "dropped")), 1));
	json_decref(ret);
	while ((n = recv(lazy, buf, sizeof(buf), 0)) > 0)
		total += (size_t)n;
	cr_assert(eq(long, (long)n, 0L), "lazy subscriber not closed: %s", strerror(errno));
	cr_assert(lt(u64, total, 4u * CTL_OUT_MAX), "%zu bytes queued for a non-reader", total);
	close(lazy);
	ctl_client_close(ctl);
}

/* ---- server setup, in the test process ---- */

TestSuite(ctl_server, .init = setup, .fini = teardown, .timeout = 30);

static struct ctl_server *open_here(const char *dir, const char *name, int want_rc,
				    char *err, size_t errlen)
{
	struct ctl_server *srv = NULL;
	int rc = ctl_server_open(&srv, dir, name, t_cmds, VHM_ARRAY_SIZE(t_cmds), NULL, err,
				 errlen);

	cr_assert(eq(int, rc, want_rc), "open %s/%s: %d %s", dir, name, rc, err);
	return srv;
}

Test(ctl_server, creates_missing_run_dir_0700_and_socket_0600)
{
	char dir[128], path[160], err[256];
	struct stat st;
	struct ctl_server *srv;

	snprintf(dir, sizeof(dir), "%s/a/b", run_dir);
	srv = open_here(dir, "m", 0, err, sizeof(err));
	cr_assert(eq(int, stat(dir, &st), 0));
	cr_assert(eq(int, st.st_mode & 0777, 0700));
	snprintf(path, sizeof(path), "%s/m.sock", dir);
	cr_assert(eq(str, (char *)ctl_server_path(srv), path));
	cr_assert(eq(int, stat(path, &st), 0));
	cr_assert(eq(int, S_ISSOCK(st.st_mode), 1));
	cr_assert(eq(int, st.st_mode & 0777, 0600), "mode %o", st.st_mode & 0777);
	ctl_server_close(srv);
	cr_assert(ne(int, stat(path, &st), 0), "close left the socket");
}

Test(ctl_server, second_server_with_the_same_name_is_refused)
{
	char err[256];

	server_pid = start_server("dup");
	cr_assert(eq(ptr, open_here(run_dir, "dup", -EADDRINUSE, err, sizeof(err)), NULL));
	cr_assert(ne(ptr, strstr(err, "instance dup already running"), NULL), "err: %s", err);
}

Test(ctl_server, stale_socket_is_replaced)
{
	char path[108], err[256];
	struct ctl_server *srv;
	int fd;

	sock_path("old", path, sizeof(path));
	fd = usock_listen(path, 1, 0, 0);
	cr_assert(ge(int, fd, 0));
	close(fd); /* a crashed instance: the socket file stays, nobody listens */
	srv = open_here(run_dir, "old", 0, err, sizeof(err));
	fd = raw_connect_to("old");
	close(fd);
	ctl_server_close(srv);
}

Test(ctl_server, file_that_is_not_a_socket_is_left_alone)
{
	char path[108], err[256];
	struct stat st;

	sock_path("f", path, sizeof(path));
	close(open(path, O_CREAT | O_WRONLY, 0600));
	cr_assert(eq(ptr, open_here(run_dir, "f", -EEXIST, err, sizeof(err)), NULL));
	cr_assert(eq(int, stat(path, &st), 0));
	cr_assert(eq(int, S_ISREG(st.st_mode), 1));
}

Test(ctl_server, bad_names_and_long_paths_are_refused)
{
	char err[256], longname[80], longdir[120];

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	snprintf(longdir, sizeof(longdir), "%s/%0100d", run_dir, 0);
	cr_assert(eq(ptr, open_here(run_dir, "", -EINVAL, err, sizeof(err)), NULL));
	cr_assert(eq(ptr, open_here(run_dir, "a/b", -EINVAL, err, sizeof(err)), NULL));
	cr_assert(eq(ptr, open_here(run_dir, longname, -ENAMETOOLONG, err, sizeof(err)), NULL));
	cr_assert(eq(ptr, open_here(longdir, "x", -ENAMETOOLONG, err, sizeof(err)), NULL));
}

Test(ctl_server, embedding_loop_shares_poll_with_its_own_fds)
{
	struct pollfd fds[8];
	struct ctl_server *srv;
	char err[256], buf[4096];
	int pp[2], fd, n, got = 0;
	struct tsrv t = { 0 };

	cr_assert(eq(int, pipe(pp), 0));
	cr_assert(eq(int, ctl_server_open(&srv, run_dir, "emb", t_cmds, VHM_ARRAY_SIZE(t_cmds),
					  &t, err, sizeof(err)), 0), "%s", err);
	t.srv = srv;
	fd = raw_connect_to("emb"); /* unix connect completes into the backlog */
	raw_send(fd, "{\"execute\":\"status\",\"id\":1}\n");
	cr_assert(eq(int, write(pp[1], "x", 1), 1));
	cr_assert(eq(int, ctl_server_pollfds(srv, fds, 0), -ENOSPC));
	for (int round = 0; round < 20 && got < 2; round++) {
		fds[0] = (struct pollfd){ .fd = pp[0], .events = POLLIN }; /* mine, first */
		n = ctl_server_pollfds(srv, fds + 1, 7);
		cr_assert(eq(int, n, (int)ctl_server_nfds(srv)));
		cr_assert(poll(fds, (nfds_t)n + 1, 100) >= 0);
		ctl_server_handle(srv, fds + 1, n);
		cr_assert(fds[0].revents & POLLIN, "my own fd lost its event");
		ssize_t r = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		for (ssize_t i = 0; i < r; i++)
			got += buf[i] == '\n';
	}
	cr_assert(eq(int, got, 2), "greeting and reply expected, got %d lines", got);
	cr_assert(eq(sz, ctl_server_nclients(srv), 1));
	close(fd);
	ctl_server_close(srv);
	close(pp[0]);
	close(pp[1]);
}

/* ---- the vhm binary ---- */

TestSuite(ctl_cli, .init = setup_server, .fini = teardown, .timeout = 30);

/* Run vhm with args (NULL-terminated) and env VHM_RUN_DIR=envdir if set,
 * as uid and gid `uid` (0: as we are); capture stdout and stderr; return the
 * exit status. */
static int run_vhm_as(uid_t uid, char *out, size_t outlen, char *errout, size_t errlen,
		      const char *envdir, const char *const *args)
{
	const char *build = getenv("VHM_BUILD") ? getenv("VHM_BUILD") : "build";
	char bin[256];
	char *argv[16] = { "vhm" };
	int po[2], pe[2], st;
	pid_t pid;
	size_t i;

	snprintf(bin, sizeof(bin), "%s/vhm", build);
	for (i = 0; args[i] && i < 14; i++)
		argv[i + 1] = (char *)args[i];
	cr_assert(eq(int, pipe(po), 0));
	cr_assert(eq(int, pipe(pe), 0));
	pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		if (uid && (setgroups(0, NULL) || setgid(uid) || setuid(uid)))
			_exit(126);
		if (envdir)
			setenv("VHM_RUN_DIR", envdir, 1);
		else
			unsetenv("VHM_RUN_DIR");
		execv(bin, argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	ssize_t n = read(po[0], out, outlen - 1), m;
	for (m = n; n > 0 && (size_t)m < outlen - 1; m += n)
		n = read(po[0], out + m, outlen - 1 - (size_t)m);
	out[m > 0 ? m : 0] = '\0';
	n = read(pe[0], errout, errlen - 1);
	for (m = n; n > 0 && (size_t)m < errlen - 1; m += n)
		n = read(pe[0], errout + m, errlen - 1 - (size_t)m);
	errout[m > 0 ? m : 0] = '\0';
	close(po[0]);
	close(pe[0]);
	waitpid(pid, &st, 0);
	cr_assert(eq(int, WIFEXITED(st), 1), "vhm killed by a signal");
	cr_assert(ne(int, WEXITSTATUS(st), 127), "cannot run %s", bin);
	cr_assert(ne(int, WEXITSTATUS(st), 126), "cannot become uid %u", (unsigned)uid);
	return WEXITSTATUS(st);
}

static int run_vhm(char *out, size_t outlen, char *errout, size_t errlen, const char *envdir,
		   const char *const *args)
{
	return run_vhm_as(0, out, outlen, errout, errlen, envdir, args);
}

Test(ctl_cli, status_prints_key_value_lines_with_nested_objects_indented)
{
	char out[4096], err[1024];
	const char *args[] = { "status", T_NAME, "--run-dir", run_dir, NULL };

	cr_assert(eq(int, run_vhm(out, sizeof(out), err, sizeof(err), NULL, args), 0), "%s", err);
	cr_assert(ne(ptr, strstr(out, "state: running\n"), NULL), "out:\n%s", out);
	cr_assert(ne(ptr, strstr(out, "counter: 0\n"), NULL), "out:\n%s", out);
	cr_assert(ne(ptr, strstr(out, "traffic:\n  rx: 1\n  tx: 2\n"), NULL), "out:\n%s", out);
}

Test(ctl_cli, status_json_is_one_line_object_and_run_dir_comes_from_env)
{
	char out[4096], err[1024];
	const char *args[] = { "status", "--json", T_NAME, NULL };
	json_t *v;

	cr_assert(eq(int, run_vhm(out, sizeof(out), err, sizeof(err), run_dir, args), 0),
		  "%s", err);
	cr_assert(eq(ptr, strchr(out, '\n'), out + strlen(out) - 1), "not one line: %s", out);
	v = json_loads(out, 0, NULL);
	cr_assert(eq(int, json_is_object(v), 1), "not an object: %s", out);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(v, "state")), "running"));
	json_decref(v);
}

Test(ctl_cli, status_of_unknown_instance_exits_3)
{
	char out[1024], err[1024], want[256];
	const char *args[] = { "status", "nope", "--run-dir", run_dir, NULL };

	cr_assert(eq(int, run_vhm(out, sizeof(out), err, sizeof(err), NULL, args), 3));
	snprintf(want, sizeof(want), "vhm status: no instance nope in %s\n", run_dir);
	cr_assert(eq(str, err, want));
}

/* Another uid cannot reach a root instance: the run dir (0700) hides the
 * socket, or (dir 0755) the socket's 0600 mode refuses the connect. Either
 * way the line says permission denied, not "no instance". */
Test(ctl_cli, status_as_another_uid_says_permission_denied)
{
	char out[1024], err[1024];
	const char *args[] = { "status", T_NAME, "--run-dir", run_dir, NULL };

	if (geteuid() != 0)
		cr_skip_test("needs root to become uid 65534");
	for (int round = 0; round < 2; round++) {
		if (round == 1)
			cr_assert(eq(int, chmod(run_dir, 0755), 0));
		cr_assert(eq(int, run_vhm_as(65534, out, sizeof(out), err, sizeof(err), NULL,
					     args), 3), "round %d: %s", round, err);
		cr_assert(eq(str, out, ""));
		cr_assert(eq(int, ts_count_lines(err), 1), "round %d: %s", round, err);
		cr_assert(ne(ptr, strstr(err, "permission denied"), NULL), "round %d: %s", round,
			  err);
		cr_assert(eq(ptr, strstr(err, "no instance"), NULL), "round %d: %s", round, err);
	}
}

Test(ctl_cli, status_with_bad_option_is_usage_error)
{
	const char *args[] = { "status", T_NAME, "--bogus", NULL };

	dt_vhm_refuses(args, VHM_EXIT_USAGE, "vhm status: unknown option '--bogus'");
}

Test(ctl_cli, stop_stops_the_instance_and_waits_for_it)
{
	char out[1024], err[1024], path[108];
	const char *args[] = { "stop", T_NAME, "--timeout", "5s", "--run-dir", run_dir, NULL };
	struct stat st;
	int wst;

	cr_assert(eq(int, run_vhm(out, sizeof(out), err, sizeof(err), NULL, args), 0), "%s", err);
	sock_path(T_NAME, path, sizeof(path));
	cr_assert(ne(int, stat(path, &st), 0), "socket still there after stop");
	cr_assert(eq(int, waitpid(server_pid, &wst, 0), server_pid));
	cr_assert(eq(int, wst, 0), "server child did not exit cleanly");
	server_pid = 0;
}

Test(ctl_cli, list_shows_live_and_stale_instances)
{
	char out[4096], err[1024], path[108];
	const char *jargs[] = { "list", "--json", "--run-dir", run_dir, NULL };
	const char *hargs[] = { "list", NULL };
	json_t *got, *want;
	int fd;

	sock_path("b-stale", path, sizeof(path));
	fd = usock_listen(path, 1, 0, 0);
	cr_assert(ge(int, fd, 0));
	close(fd);
	cr_assert(eq(int, run_vhm(out, sizeof(out), err, sizeof(err), NULL, jargs), 0), "%s", err);
	got = json_loads(out, 0, NULL);
	want = json_pack("[{s:s,s:s,s:n},{s:s,s:I,s:s}]", "name", "b-stale", "state", "stale",
			 "pid", "name", T_NAME, "pid", (json_int_t)server_pid, "state", "running");
	cr_assert(json_equal(got, want), "got %s", out);
	json_decref(got);
	json_decref(want);
	cr_assert(eq(int, run_vhm(out, sizeof(out), err, sizeof(err), run_dir, hargs), 0));
	cr_assert(ne(ptr, strstr(out, "b-stale"), NULL), "out:\n%s", out);
	cr_assert(ne(ptr, strstr(out, "stale\n"), NULL), "out:\n%s", out);
	cr_assert(ne(ptr, strstr(out, T_NAME), NULL), "out:\n%s", out);
	cr_assert(ne(ptr, strstr(out, "running\n"), NULL), "out:\n%s", out);
}

Test(ctl_cli, list_of_missing_run_dir_is_empty)
{
	char out[1024], err[1024], dir[128];
	const char *args[] = { "list", "--json", "--run-dir", dir, NULL };

	snprintf(dir, sizeof(dir), "%s/none", run_dir);
	cr_assert(eq(int, run_vhm(out, sizeof(out), err, sizeof(err), NULL, args), 0), "%s", err);
	cr_assert(eq(str, out, "[]\n"));
}

/* ---- the run dir and the socket are trusted only when safe ---- */

TestSuite(ctl_rundir, .init = setup, .fini = teardown, .timeout = 30);

/* <run_dir>/<leaf> as a fresh directory with that mode and owner. */
static void make_dir(char *out, size_t len, const char *leaf, mode_t mode, uid_t uid)
{
	snprintf(out, len, "%s/%s", run_dir, leaf);
	cr_assert(eq(int, mkdir(out, 0700), 0), "mkdir %s: %s", out, strerror(errno));
	cr_assert(eq(int, chmod(out, mode), 0));
	cr_assert(eq(int, chown(out, uid, uid), 0));
}

/* A socket at dir/name.sock that listens (non-blocking): a planted one. */
static int plant(const char *dir, const char *name)
{
	char path[108];
	int fd;

	cr_assert(eq(int, vhm_sock_path(dir, name, path, sizeof(path)), 0));
	fd = usock_listen(path, 8, SOCK_NONBLOCK, 0666);
	cr_assert(ge(int, fd, 0), "listen %s: %s", path, strerror(-fd));
	return fd;
}

/* Nobody connected to the planted listener. */
static void assert_untouched(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);

	cr_assert(eq(int, fd, -1), "the planted socket got a connection");
	close(lfd);
}

/* `vhm args` exits 3 with one line on stderr containing `says`. */
static void assert_cli_refuses(const char *const *args, const char *says)
{
	char out[1024], err[1024];

	cr_assert(eq(int, run_vhm(out, sizeof(out), err, sizeof(err), NULL, args), 3), "%s",
		  err);
	cr_assert(eq(int, ts_count_lines(err), 1), "stderr: %s", err);
	cr_assert(ne(ptr, strstr(err, says), NULL), "stderr lacks '%s': %s", says, err);
}

struct bad_dir {
	mode_t mode;
	uid_t uid;
	char says[48];
};

static struct bad_dir bad_dirs[] = {
	{ 0700, 65534, "is owned by uid 65534" },
	{ 0777, 0, "writable by group or others (mode 0777)" },
	{ 0770, 0, "writable by group or others (mode 0770)" },
	{ 01733, 0, "writable by group or others (mode 1733)" },
};

ParameterizedTestParameters(ctl_rundir, server_refuses_unsafe_run_dir)
{
	return cr_make_param_array(struct bad_dir, bad_dirs, VHM_ARRAY_SIZE(bad_dirs));
}

/* ctl_server_open and vhm run refuse the dir, name it, and bind nothing. */
ParameterizedTest(struct bad_dir *b, ctl_rundir, server_refuses_unsafe_run_dir)
{
	char dir[96], path[160], err[256];
	const char *args[] = { "run", "--backend", "/nonexistent/be.sock", "--name", "x",
			       "--run-dir", dir, NULL };
	struct stat st;

	make_dir(dir, sizeof(dir), "bad", b->mode, b->uid);
	cr_assert(eq(ptr, open_here(dir, "x", -EPERM, err, sizeof(err)), NULL));
	cr_assert(ne(ptr, strstr(err, dir), NULL), "err: %s", err);
	cr_assert(ne(ptr, strstr(err, b->says), NULL), "err: %s", err);
	snprintf(path, sizeof(path), "%s/x.sock", dir);
	cr_assert(ne(int, lstat(path, &st), 0), "a socket was bound in %s", dir);
	dt_vhm_refuses(args, VHM_EXIT_USAGE, b->says);
}

Test(ctl_rundir, server_refuses_symlinked_run_dir)
{
	char real[96], link[96], path[160], err[256];
	struct stat st;

	make_dir(real, sizeof(real), "real", 0700, 0);
	snprintf(link, sizeof(link), "%s/link", run_dir);
	cr_assert(eq(int, symlink(real, link), 0));
	cr_assert(eq(ptr, open_here(link, "x", -ELOOP, err, sizeof(err)), NULL));
	cr_assert(ne(ptr, strstr(err, "symlink"), NULL), "err: %s", err);
	snprintf(path, sizeof(path), "%s/x.sock", real);
	cr_assert(ne(int, lstat(path, &st), 0), "a socket was bound through the link");
}

/* Another user's dir or a 0777 one may hold a socket that user planted:
 * `vhm stop` must not send it root's stop (nor claim success). */
ParameterizedTestParameters(ctl_rundir, client_refuses_unsafe_run_dir)
{
	return cr_make_param_array(struct bad_dir, bad_dirs, VHM_ARRAY_SIZE(bad_dirs));
}

ParameterizedTest(struct bad_dir *b, ctl_rundir, client_refuses_unsafe_run_dir)
{
	char dir[96];
	const char *stop[] = { "stop", "x", "--run-dir", dir, NULL };
	const char *status[] = { "status", "x", "--run-dir", dir, NULL };
	const char *list[] = { "list", "--run-dir", dir, NULL };
	int lfd;

	make_dir(dir, sizeof(dir), "bad", b->mode, b->uid);
	lfd = plant(dir, "x");
	assert_cli_refuses(stop, b->says);
	assert_cli_refuses(status, b->says);
	assert_cli_refuses(list, b->says);
	assert_untouched(lfd);
}

Test(ctl_rundir, client_refuses_symlinked_run_dir)
{
	char real[96], link[96];
	const char *stop[] = { "stop", "x", "--run-dir", link, NULL };
	int lfd;

	make_dir(real, sizeof(real), "real", 0700, 0);
	snprintf(link, sizeof(link), "%s/link", run_dir);
	cr_assert(eq(int, symlink(real, link), 0));
	lfd = plant(real, "x");
	assert_cli_refuses(stop, "symlink");
	assert_untouched(lfd);
}

/* In a safe dir, a socket owned by another uid is not ours either. */
Test(ctl_rundir, client_refuses_socket_owned_by_another_uid)
{
	char path[108];
	const char *stop[] = { "stop", "x", "--run-dir", run_dir, NULL };
	const char *by_path[] = { "status", path, NULL };
	int lfd = plant(run_dir, "x");

	sock_path("x", path, sizeof(path));
	cr_assert(eq(int, lchown(path, 65534, 65534), 0));
	assert_cli_refuses(stop, "owned by uid 65534");
	assert_cli_refuses(by_path, "owned by uid 65534");
	assert_untouched(lfd);
}

/* A socket file of root's served by another uid (bound as root, listened on
 * as 65534): the client checks the listener's credentials too. */
Test(ctl_rundir, client_refuses_socket_served_by_another_uid)
{
	char path[108], got = 0;
	const char *stop[] = { "stop", "x", "--run-dir", run_dir, NULL };
	struct sockaddr_un sa;
	int p[2], st;
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root to become another uid");
	sock_path("x", path, sizeof(path));
	cr_assert(eq(int, pipe(p), 0));
	pid = fork();
	if (pid == 0) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		close(p[0]);
		if (vhm_sockaddr_un(&sa, path) || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
		    setgid(65534) || setuid(65534) || listen(fd, 4))
			_exit(10);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* after setuid, which clears it */
		(void)!write(p[1], "r", 1);
		close(p[1]);
		pause();
		_exit(0);
	}
	close(p[1]);
	cr_assert(eq(int, (int)read(p[0], &got, 1), 1), "the foreign server did not listen");
	assert_cli_refuses(stop, "served by uid 65534");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(p[0]);
}
