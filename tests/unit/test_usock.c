/* SPDX-License-Identifier: MIT */
/* usock: Unix-socket connect with a timeout, listen and accept by path — what
 * the frontend, the device, the control socket, the libvirt hook and the test
 * backend rely on: the errors a caller reports (nothing there, nobody
 * listening, a path too long for sun_path), the connect timeout on a full
 * backlog, the mode of the socket file, and a round trip. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "usock.h"
#include "util.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vhm-usock-XXXXXX");
	cr_assert(ne(ptr, mkdtemp(dir), NULL));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
}

TestSuite(usock, .init = setup, .fini = teardown, .timeout = 10);

static void path_of(const char *name, char *out, size_t len)
{
	cr_assert(lt(int, snprintf(out, len, "%s/%s", dir, name), (int)len));
}

static long elapsed_ms(uint64_t since_ns)
{
	return (long)((vhm_now_ns() - since_ns) / 1000000);
}

Test(usock, connect_to_no_file_is_enoent)
{
	char p[108];

	path_of("none.sock", p, sizeof(p));
	cr_assert(eq(int, usock_connect(p, 100, 0), -ENOENT));
}

Test(usock, connect_to_a_socket_nobody_listens_on_is_refused)
{
	struct sockaddr_un sa;
	char p[108];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	path_of("stale.sock", p, sizeof(p));
	cr_assert(eq(int, vhm_sockaddr_un(&sa, p), 0));
	cr_assert(eq(int, bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
	close(fd);  /* a crashed server: the file stays, nobody listens */
	cr_assert(eq(int, usock_connect(p, 100, 0), -ECONNREFUSED));
}

Test(usock, path_longer_than_sun_path_is_refused_not_truncated)
{
	char p[200];

	memset(p, 'a', sizeof(p) - 1);
	p[0] = '/';
	p[sizeof(p) - 1] = '\0';
	cr_assert(eq(int, usock_connect(p, 100, 0), -ENAMETOOLONG));
	cr_assert(eq(int, usock_listen(p, 1, 0, 0), -ENAMETOOLONG));
}

Test(usock, empty_path_is_invalid)
{
	cr_assert(eq(int, usock_connect("", 100, 0), -EINVAL));
	cr_assert(eq(int, usock_listen("", 1, 0, 0), -EINVAL));
}

/* Fill the backlog of a listener that never accepts: the next connect waits
 * for room until its timeout, then gives up with -ETIMEDOUT. */
Test(usock, connect_timeout_is_honoured_on_a_full_backlog)
{
	int held[64], n = 0, lfd, rc;
	char p[108];
	uint64_t t0;
	long ms;

	path_of("full.sock", p, sizeof(p));
	lfd = usock_listen(p, 0, 0, 0);
	cr_assert(ge(int, lfd, 0), "listen: %s", strerror(-lfd));
	while (n < (int)VHM_ARRAY_SIZE(held) && (rc = usock_connect(p, 0, SOCK_NONBLOCK)) >= 0)
		held[n++] = rc;
	cr_assert(eq(int, rc, -ETIMEDOUT), "backlog never filled: %d", rc);
	t0 = vhm_now_ns();
	rc = usock_connect(p, 200, 0);
	ms = elapsed_ms(t0);
	cr_assert(eq(int, rc, -ETIMEDOUT));
	cr_assert(le(long, 200, ms), "gave up after %ld ms", ms);
	cr_assert(lt(long, ms, 2000), "took %ld ms", ms);
	while (n)
		close(held[--n]);
	close(lfd);
}

Test(usock, accept_times_out_when_nobody_connects)
{
	char p[108];
	uint64_t t0;
	int lfd;

	path_of("quiet.sock", p, sizeof(p));
	lfd = usock_listen(p, 1, 0, 0);
	cr_assert(ge(int, lfd, 0));
	t0 = vhm_now_ns();
	cr_assert(eq(int, usock_accept(lfd, 100, 0), -ETIMEDOUT));
	cr_assert(le(long, 100, elapsed_ms(t0)));
	close(lfd);
}

Test(usock, listen_connect_accept_round_trip)
{
	int lfd, c, s, fl;
	char p[108], b = 0;

	path_of("rt.sock", p, sizeof(p));
	lfd = usock_listen(p, 4, SOCK_NONBLOCK, 0);
	cr_assert(ge(int, lfd, 0), "listen: %s", strerror(-lfd));
	c = usock_connect(p, 1000, 0);
	cr_assert(ge(int, c, 0), "connect: %s", strerror(-c));
	s = usock_accept(lfd, 1000, SOCK_NONBLOCK);
	cr_assert(ge(int, s, 0), "accept: %s", strerror(-s));
	/* The modes asked for: the client blocking, the accepted one not;
	 * both close-on-exec. */
	fl = fcntl(c, F_GETFL);
	cr_assert(eq(int, fl & O_NONBLOCK, 0));
	cr_assert(ne(int, fcntl(s, F_GETFL) & O_NONBLOCK, 0));
	cr_assert(ne(int, fcntl(c, F_GETFD) & FD_CLOEXEC, 0));
	cr_assert(ne(int, fcntl(s, F_GETFD) & FD_CLOEXEC, 0));
	cr_assert(eq(int, (int)write(c, "x", 1), 1));
	cr_assert(eq(int, (int)read(s, &b, 1), 1));
	cr_assert(eq(chr, b, 'x'));
	close(s);
	close(c);
	close(lfd);
}

Test(usock, listen_gives_the_socket_file_the_mode_asked_for)
{
	struct stat st;
	char p[108];
	int lfd;

	path_of("mode.sock", p, sizeof(p));
	lfd = usock_listen(p, 1, 0, 0600);
	cr_assert(ge(int, lfd, 0));
	cr_assert(eq(int, stat(p, &st), 0));
	cr_assert(eq(int, (int)(st.st_mode & 0777), 0600));
	close(lfd);
}

Test(usock, listen_never_replaces_an_existing_file)
{
	char p[108];
	int fd;

	path_of("taken", p, sizeof(p));
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	cr_assert(ge(int, fd, 0));
	close(fd);
	cr_assert(eq(int, usock_listen(p, 1, 0, 0), -EADDRINUSE));
	cr_assert(eq(int, access(p, F_OK), 0));
}

/* usock_probe says what is at a path without changing it: nothing, a stale
 * socket, a live one, or something that is not a socket (a symlink to a
 * live socket included: it is never followed). */
Test(usock, probe_tells_absent_stale_live_and_not_a_socket)
{
	char none[108], stale[108], live[108], file[108], link[108];
	struct stat st;
	int lfd, fd;

	path_of("none.sock", none, sizeof(none));
	path_of("stale.sock", stale, sizeof(stale));
	path_of("live.sock", live, sizeof(live));
	path_of("file", file, sizeof(file));
	path_of("link.sock", link, sizeof(link));
	fd = usock_listen(stale, 1, 0, 0);
	cr_assert(ge(int, fd, 0));
	close(fd);
	lfd = usock_listen(live, 4, 0, 0);
	cr_assert(ge(int, lfd, 0));
	close(open(file, O_CREAT | O_WRONLY, 0600));
	cr_assert(eq(int, symlink(live, link), 0));
	cr_assert(eq(int, usock_probe(none), 0));
	cr_assert(eq(int, usock_probe(stale), -ECONNREFUSED));
	cr_assert(eq(int, usock_probe(live), -EADDRINUSE));
	cr_assert(eq(int, usock_probe(file), -ENOTSOCK));
	cr_assert(eq(int, usock_probe(link), -ENOTSOCK));
	cr_assert(eq(int, stat(stale, &st), 0), "probe removed the stale socket");
	close(lfd);
}

/* vhm_same_path (util.h): one entry however its directory is written --
 * the run dir and a backend path given each their own way. */
Test(usock, same_path_compares_directories_not_spellings)
{
	char a[128], b[128], cwd[256];

	snprintf(a, sizeof(a), "%s/x.sock", dir);
	snprintf(b, sizeof(b), "%s/./x.sock", dir);
	cr_assert(vhm_same_path(a, b), "%s and %s", a, b);
	snprintf(b, sizeof(b), "%s//x.sock", dir);
	cr_assert(vhm_same_path(a, b), "%s and %s", a, b);
	snprintf(b, sizeof(b), "%s/y.sock", dir);
	cr_assert(not(vhm_same_path(a, b)), "%s and %s", a, b);
	cr_assert(not(vhm_same_path(a, "/tmp/x.sock")));
	cr_assert(ne(ptr, getcwd(cwd, sizeof(cwd)), NULL));
	cr_assert(eq(int, chdir(dir), 0));
	cr_assert(vhm_same_path(a, "x.sock"), "relative to the working directory");
	cr_assert(eq(int, chdir(cwd), 0));
	/* directories that do not exist: as written */
	cr_assert(vhm_same_path("/nonexistent-vhm/x.sock", "/nonexistent-vhm/x.sock"));
	cr_assert(not(vhm_same_path("/nonexistent-vhm/x.sock", "/nonexistent-vhm2/x.sock")));
}
