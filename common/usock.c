/* SPDX-License-Identifier: MIT */
/* usock — Unix stream sockets by path (the contract is in usock.h).
 *
 * A Unix-domain connect completes at once or fails: it never returns
 * EINPROGRESS on Linux, but EAGAIN when the listener's backlog is full. So a
 * connect with a timeout is a non-blocking connect retried every millisecond
 * until the deadline, with EINTR simply retried; EINPROGRESS (other kernels)
 * is waited for with poll and read back with SO_ERROR. */
#include "usock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

#define USOCK_RETRY_MS 1   /* between connects while the backlog is full */

/* Milliseconds left before deadline_ns (0 when past); -1 for no deadline. */
static int ms_left(uint64_t deadline_ns)
{
	uint64_t now = vhm_now_ns();

	if (deadline_ns == UINT64_MAX)
		return -1;
	if (now >= deadline_ns)
		return 0;
	return (int)((deadline_ns - now + 999999) / 1000000);
}

static uint64_t deadline_after(int timeout_ms)
{
	if (timeout_ms < 0)
		return UINT64_MAX;
	return vhm_now_ns() + (uint64_t)timeout_ms * 1000000;
}

/* The outcome of an EINPROGRESS connect: 0, -errno or -ETIMEDOUT. */
static int wait_connected(int fd, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int rc, soerr = 0;

	do
		rc = poll(&p, 1, ms_left(deadline));
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	if (rc == 0)
		return -ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len))
		return -errno;
	return -soerr;
}

static int connect_until(int fd, const struct sockaddr_un *sa, uint64_t deadline)
{
	for (;;) {
		int left;

		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EINPROGRESS)
			return wait_connected(fd, deadline);
		if (errno != EAGAIN)
			return -errno;
		left = ms_left(deadline);
		if (left == 0)
			return -ETIMEDOUT;
		poll(NULL, 0, left > 0 && left < USOCK_RETRY_MS ? left : USOCK_RETRY_MS);
	}
}

static int set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK))
		return -errno;
	return 0;
}

int usock_connect(const char *path, int timeout_ms, int flags)
{
	uint64_t deadline = deadline_after(timeout_ms);
	struct sockaddr_un sa;
	int fd, rc;

	rc = vhm_sockaddr_un(&sa, path);
	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect_until(fd, &sa, deadline);
	if (!rc && !(flags & SOCK_NONBLOCK))
		rc = set_blocking(fd);
	if (rc)
		goto fail;
	return fd;
fail:
	close(fd);
	return rc;
}

int usock_listen(const char *path, int backlog, int flags, mode_t mode)
{
	struct sockaddr_un sa;
	int fd, rc;

	rc = vhm_sockaddr_un(&sa, path);
	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (flags & SOCK_NONBLOCK), 0);
	if (fd < 0)
		return -errno;
	/* A socket file takes its mode from the socket (less the umask). */
	if (mode && fchmod(fd, mode))
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto fail;
	if ((mode && chmod(path, mode)) || listen(fd, backlog))
		goto fail_bound;
	return fd;
fail_bound:
	rc = -errno;
	unlink(path);
	close(fd);
	return rc;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

int usock_probe(const char *path)
{
	struct stat st;
	int fd;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	fd = usock_connect(path, 0, SOCK_NONBLOCK);
	if (fd >= 0)
		close(fd);
	if (fd >= 0 || fd == -ETIMEDOUT) /* ETIMEDOUT: listening, backlog full */
		return -EADDRINUSE;
	return fd == -ENOENT ? 0 : fd;   /* ENOENT: gone meanwhile */
}

int usock_accept(int lfd, int timeout_ms, int flags)
{
	uint64_t deadline = deadline_after(timeout_ms);
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int rc, fd;

	for (;;) {
		rc = poll(&p, 1, ms_left(deadline));
		if (rc == 0)
			return -ETIMEDOUT;
		if (rc < 0 && errno != EINTR)
			return -errno;
		if (rc < 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | (flags & SOCK_NONBLOCK));
		if (fd >= 0)
			return fd;
		/* EAGAIN: a non-blocking listener whose client went away. */
		if (errno != EINTR && errno != EAGAIN)
			return -errno;
	}
}
