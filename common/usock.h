/* SPDX-License-Identifier: MIT */
/* usock — Unix stream sockets by path: connect with a timeout, listen, accept.
 * One copy of the sequence (sockaddr_un that refuses a path too long for
 * sun_path, a non-blocking connect retried on EINTR and on a full backlog,
 * poll for a connection) that the frontend, the device, the control socket,
 * the libvirt hook and the test backend all need.
 *
 * Every function returns a new fd (>= 0, close-on-exec) or -errno. The
 * caller owns the returned fd and closes it; on
 * failure nothing stays open. Paths are never unlinked here: removing a stale
 * socket before listening is the caller's decision. */
#ifndef VHM_USOCK_H
#define VHM_USOCK_H

#include <sys/types.h>

/* Connect to the socket at path, waiting at most timeout_ms for room in a
 * full backlog (0: one attempt, < 0: no limit). flags: 0 or SOCK_NONBLOCK,
 * the mode of the returned fd. Errors: -EINVAL (empty path), -ENAMETOOLONG
 * (does not fit sun_path), -ENOENT (nothing there), -ECONNREFUSED (nobody
 * listens), -ETIMEDOUT (backlog still full at the deadline), other -errno. */
int usock_connect(const char *path, int timeout_ms, int flags);

/* A socket bound at path and listening with the given backlog. flags: 0 or
 * SOCK_NONBLOCK. mode != 0: the socket file gets exactly that mode, set
 * before bind so that it is never wider. A path that exists fails with
 * -EADDRINUSE; on a failure after bind the file just made is removed.
 * Errors as usock_connect's for the path, else -errno of socket/bind/listen. */
int usock_listen(const char *path, int backlog, int flags, mode_t mode);

/* What is at path, for a caller deciding whether it may listen there;
 * nothing is changed. 0: nothing; -ECONNREFUSED: a socket nobody listens on
 * (stale); -EADDRINUSE: a socket someone listens on (a connect succeeded,
 * or its backlog is full); -ENOTSOCK: anything else, a symlink included
 * (lstat, never followed); other -errno (-EACCES: cannot look). */
int usock_probe(const char *path);

/* The next connection on listening socket lfd, waiting at most timeout_ms
 * (< 0: no limit), retried on EINTR. flags: 0 or SOCK_NONBLOCK for the new
 * fd. -ETIMEDOUT when nobody connected in time, else -errno. */
int usock_accept(int lfd, int timeout_ms, int flags);

#endif
