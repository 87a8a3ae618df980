/* SPDX-License-Identifier: MIT */
/* TCP for the migration stream. Sockets are non-blocking; every read and
 * write waits in poll() for at most the connection's timeout, so no call
 * blocks longer than that whatever the peer or the link does. Addresses are
 * resolved with getaddrinfo (names, IPv4, [IPv6]); the first address that
 * connects wins. The bandwidth cap sleeps off any lead over bytes/s since
 * the first write, as the pre-copy's cap does for local copies. */
#include "mig_snet.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

#define SNET_PREFIX "tcp:"
#define SNET_BACKLOG 32          /* a source's page connections come at once */

int mig_snet_is_addr(const char *spec)
{
	return !strncmp(spec, SNET_PREFIX, strlen(SNET_PREFIX));
}

int mig_snet_parse(const char *spec, char *host, size_t hostlen, uint16_t *port, char *err,
		   size_t errlen)
{
	const char *h = spec + strlen(SNET_PREFIX), *colon = strrchr(spec, ':');
	size_t hl;
	uint64_t v;

	if (!mig_snet_is_addr(spec) || colon < h || vhm_parse_u64(colon + 1, &v) || v > 65535)
		return vhm_err(err, errlen, -EINVAL, "'%s': expected tcp:HOST:PORT, PORT 0..65535",
			       spec);
	hl = (size_t)(colon - h);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (!hl || hl >= hostlen)
		return vhm_err(err, errlen, -EINVAL, "'%s': expected a host before ':PORT'", spec);
	snprintf(host, hostlen, "%.*s", (int)hl, h);
	*port = (uint16_t)v;
	return 0;
}

/* getaddrinfo for spec; *res to freeaddrinfo. */
static int resolve(const char *spec, bool passive, struct addrinfo **res, char *err,
		   size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = passive ? AI_PASSIVE : 0 };
	char host[MIG_SNET_HOST_MAX], port[8];
	uint16_t p;
	int rc;

	if ((rc = mig_snet_parse(spec, host, sizeof(host), &p, err, errlen)))
		return rc;
	if (!p && !passive)
		return vhm_err(err, errlen, -EINVAL, "'%s': port 0 can only be listened on", spec);
	snprintf(port, sizeof(port), "%u", p);
	rc = getaddrinfo(host, port, &hints, res);
	if (rc)
		return vhm_err(err, errlen, -EHOSTUNREACH, "'%s': %s", spec, gai_strerror(rc));
	return 0;
}

/* Wait for fd to be ready for `events`, at most ms: 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int rc;

	do
		rc = poll(&p, 1, ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	return rc ? 0 : -ETIMEDOUT;
}

static void name_of(const struct sockaddr *sa, socklen_t sl, char *out, size_t len)
{
	char h[NI_MAXHOST] = "?", s[NI_MAXSERV] = "?";

	getnameinfo(sa, sl, h, sizeof(h), s, sizeof(s), NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(out, len, strchr(h, ':') ? "[%s]:%s" : "%s:%s", h, s);
}

/* A connected socket's options: no Nagle delay for the small sections,
 * and a peer host that answers nothing found within MIG_SNET_LIVE_MS (the
 * header's "bounded time"): a keepalive probe after 1 s without a packet,
 * then every second; with TCP_USER_TIMEOUT set, Linux drops the connection
 * at the first probe unanswered MIG_SNET_LIVE_MS after the last packet
 * (and drops one whose data stays unacknowledged that long). */
static void tune(int fd)
{
	int one = 1;
	unsigned t = MIG_SNET_LIVE_MS;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &t, sizeof(t));
}

int mig_snet_listen(const char *spec, int *lfd, char *bound, size_t boundlen, char *err,
		    size_t errlen)
{
	struct addrinfo *res, *a;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, fd = -1, rc = -EADDRNOTAVAIL;

	if ((rc = resolve(spec, true, &res, err, errlen)))
		return rc;
	for (a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, SNET_BACKLOG)) {
			rc = -errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return vhm_err(err, errlen, rc, "listening on '%s': %s", spec, strerror(-rc));
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	name_of((struct sockaddr *)&ss, sl, bound, boundlen);
	*lfd = fd;
	return 0;
}

static void snet_init(struct mig_snet *c, int fd, int timeout_ms)
{
	*c = (struct mig_snet){ .fd = fd, .timeout_ms = timeout_ms, .last_in_ns = vhm_now_ns() };
	tune(fd);
}

int mig_snet_accept(int lfd, struct mig_snet *c, int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, rc;

	if ((rc = wait_fd(lfd, POLLIN, timeout_ms)))
		return vhm_err(err, errlen, rc, "no source connected within %d ms", timeout_ms);
	fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return vhm_err(err, errlen, -errno, "accept: %s", strerror(errno));
	snet_init(c, fd, timeout_ms);
	name_of((struct sockaddr *)&ss, sl, c->peer, sizeof(c->peer));
	return 0;
}

/* One non-blocking connect, finished within timeout_ms: the fd or -errno. */
static int connect_one(const struct addrinfo *a, int timeout_ms)
{
	int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), rc = 0;
	socklen_t l = sizeof(rc);

	if (fd < 0)
		return -errno;
	if (connect(fd, a->ai_addr, a->ai_addrlen) && errno != EINPROGRESS)
		rc = -errno;
	else if (!(rc = wait_fd(fd, POLLOUT, timeout_ms)) &&
		 !getsockopt(fd, SOL_SOCKET, SO_ERROR, &rc, &l))
		rc = -rc;
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

int mig_snet_connect(const char *spec, struct mig_snet *c, int timeout_ms, char *err,
		     size_t errlen)
{
	struct addrinfo *res, *a;
	char peer[sizeof(c->peer)] = "?";
	int fd = -ENOENT, rc;

	if ((rc = resolve(spec, false, &res, err, errlen)))
		return rc;
	for (a = res; a && fd < 0; a = a->ai_next)
		if ((fd = connect_one(a, timeout_ms)) >= 0)
			name_of(a->ai_addr, a->ai_addrlen, peer, sizeof(peer));
	freeaddrinfo(res);
	if (fd < 0)
		return vhm_err(err, errlen, fd, "connecting to '%s': %s", spec, strerror(-fd));
	snet_init(c, fd, timeout_ms);
	memcpy(c->peer, peer, sizeof(peer));
	return 0;
}

void mig_snet_close(struct mig_snet *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

void mig_snet_linger_close(struct mig_snet *c, int ms)
{
	uint64_t end = vhm_now_ns() + (uint64_t)ms * 1000000ull;
	char sink[65536];

	if (c->fd < 0)
		return;
	shutdown(c->fd, SHUT_WR);
	for (uint64_t now = vhm_now_ns(); now < end; now = vhm_now_ns()) {
		ssize_t r;

		if (wait_fd(c->fd, POLLIN, (int)((end - now) / 1000000ull) + 1))
			break;
		r = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			break;
	}
	mig_snet_close(c);
}

uint64_t mig_snet_last_in_ns(const struct mig_snet *c)
{
	return c->last_in_ns;
}

/* Under a shared cap: sleep off the lead of all its connections' bytes. */
static void throttle_shared(struct mig_snet_cap *cap, size_t n)
{
	uint64_t zero = 0, now = vhm_now_ns(), start, bytes, due;

	__atomic_compare_exchange_n(&cap->start_ns, &zero, now, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
	start = __atomic_load_n(&cap->start_ns, __ATOMIC_RELAXED);
	bytes = __atomic_add_fetch(&cap->bytes, (uint64_t)n, __ATOMIC_RELAXED);
	due = (uint64_t)((double)bytes * 1e9 / (double)cap->bandwidth);
	if (due > now - start)
		usleep((useconds_t)((due - (now - start)) / 1000));
}

/* Under the cap: sleep off any lead over bandwidth bytes/s. */
static void throttle(struct mig_snet *c, size_t n)
{
	uint64_t due, spent;

	if (c->shared && c->shared->bandwidth) {
		throttle_shared(c->shared, n);
		return;
	}
	if (!c->bandwidth)
		return;
	if (!c->tb_start_ns)
		c->tb_start_ns = vhm_now_ns();
	c->tb_bytes += n;
	due = (uint64_t)((double)c->tb_bytes * 1e9 / (double)c->bandwidth);
	spent = vhm_now_ns() - c->tb_start_ns;
	if (due > spent)
		usleep((useconds_t)((due - spent) / 1000));
}

int mig_snet_out(void *ctx, const void *p, size_t n)
{
	struct mig_snet *c = ctx;
	const uint8_t *b = p;
	int rc;

	while (n) {
		ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (w < 0) {
			if ((rc = wait_fd(c->fd, POLLOUT, c->timeout_ms)))
				return rc;
			continue;
		}
		__atomic_add_fetch(&c->bytes_out, (uint64_t)w, __ATOMIC_RELAXED);
		throttle(c, (size_t)w);
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

long mig_snet_in(void *ctx, void *p, size_t n)
{
	struct mig_snet *c = ctx;
	int rc;

	for (;;) {
		ssize_t r = recv(c->fd, p, n, 0);

		if (r >= 0) {
			__atomic_add_fetch(&c->bytes_in, (uint64_t)r, __ATOMIC_RELAXED);
			c->last_in_ns = vhm_now_ns();
			return r;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if ((rc = wait_fd(c->fd, POLLIN, c->timeout_ms)))
			return rc;
	}
}
