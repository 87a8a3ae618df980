/* SPDX-License-Identifier: MIT */
/* A TCP relay that holds every chunk delay_ms before it forwards it: one
 * thread accepts and connects on, then one pump thread a direction (read
 * what is there, queue it with its due time, write what is due). */
#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "support.h"

#define TR_CHUNK (64 * 1024)
#define TR_SLICE_MS 100          /* how often a waiting thread looks at stop */
#define TR_CONNECT_S 2

struct tr_chunk {
	struct tr_chunk *next;
	long due_ms;
	size_t len;
	char data[];
};

struct tr_pump {                 /* one direction, in -> out; its own thread */
	struct tr_relay *r;
	int in, out;
	pthread_t th;
	bool started;
};

struct tr_relay {
	char ns[64], to_ip[64];
	uint16_t to_port;
	int delay_ms;
	int lfd, a, b;           /* listener, accepted, connected on */
	pthread_t th;            /* accepts, connects, starts the pumps */
	struct tr_pump up, down;
	bool stop;               /* atomic: set by tr_stop */
	uint64_t chunks;         /* atomic: chunks queued, both ways */
};

static bool stopping(struct tr_relay *r)
{
	return __atomic_load_n(&r->stop, __ATOMIC_ACQUIRE);
}

static int tcp_socket(const char *ip, uint16_t port, struct sockaddr_in *sa)
{
	int fd;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

struct tr_sock {                 /* what ts_in_netns runs */
	const char *ip;
	uint16_t port;
	bool listen;
	int fd;
};

static int make_socket(void *arg)
{
	static const struct timeval connect_tv = { .tv_sec = TR_CONNECT_S }, no_tv = { 0 };
	struct tr_sock *s = arg;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = tcp_socket(s->ip, s->port, &sa), rc = 0;

	if (fd < 0)
		return fd;
	if (s->listen)
		rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1) ||
		     getsockname(fd, (struct sockaddr *)&sa, &len) ? -errno : 0;
	else                     /* connect gives up after TR_CONNECT_S, sends never */
		rc = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &connect_tv, sizeof(connect_tv)) ||
		     connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
		     setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &no_tv, sizeof(no_tv)) ? -errno : 0;
	if (rc) {
		close(fd);
		return rc;
	}
	s->port = ntohs(sa.sin_port);
	s->fd = fd;
	return 0;
}

static int socket_in(const char *ns, struct tr_sock *s)
{
	return ns[0] ? ts_in_netns(ns, make_socket, s) : make_socket(s);
}

/* Write all of c to fd; false when fd is gone. */
static bool send_chunk(int fd, const struct tr_chunk *c)
{
	for (size_t off = 0; off < c->len;) {
		ssize_t n = send(fd, c->data + off, c->len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

/* Read what in holds into a chunk due delay_ms from now at *tail; false at
 * EOF or an error. */
static bool take_chunk(struct tr_pump *p, struct tr_chunk ***tail)
{
	struct tr_chunk *c = malloc(sizeof(*c) + TR_CHUNK);
	ssize_t n;

	if (!c)
		return false;
	n = recv(p->in, c->data, TR_CHUNK, 0);
	if (n <= 0) {
		free(c);
		return n < 0 && errno == EINTR;
	}
	c->len = (size_t)n;
	c->due_ms = ts_now_ms() + p->r->delay_ms;
	c->next = NULL;
	**tail = c;
	*tail = &c->next;
	__atomic_add_fetch(&p->r->chunks, 1, __ATOMIC_RELAXED);
	return true;
}

/* Until wait ms from now, no more than a slice. */
static int poll_timeout(const struct tr_chunk *head)
{
	long wait = head ? head->due_ms - ts_now_ms() : TR_SLICE_MS;

	return wait < 0 ? 0 : wait > TR_SLICE_MS ? TR_SLICE_MS : (int)wait;
}

static void *pump_main(void *arg)
{
	struct tr_pump *p = arg;
	struct tr_chunk *head = NULL, **tail = &head;
	bool eof = false, broken = false;

	while (!stopping(p->r) && !broken && (!eof || head)) {
		struct pollfd pf = { .fd = eof ? -1 : p->in, .events = POLLIN };

		if (poll(&pf, 1, poll_timeout(head)) > 0 && pf.revents)
			eof = !take_chunk(p, &tail);
		while (head && head->due_ms <= ts_now_ms() && !broken) {
			struct tr_chunk *c = head;

			broken = !send_chunk(p->out, c);
			head = c->next;
			if (!head)
				tail = &head;
			free(c);
		}
	}
	/* the end on one side is the end on the other, after what was due */
	shutdown(p->out, broken ? SHUT_RDWR : SHUT_WR);
	if (broken)
		shutdown(p->in, SHUT_RDWR);
	while (head) {
		struct tr_chunk *c = head;

		head = c->next;
		free(c);
	}
	return NULL;
}

static void *relay_main(void *arg)
{
	struct tr_relay *r = arg;
	struct tr_sock to = { .ip = r->to_ip, .port = r->to_port, .fd = -1 };
	struct pollfd pf = { .fd = r->lfd, .events = POLLIN };

	while (!stopping(r) && poll(&pf, 1, TR_SLICE_MS) <= 0)
		;
	if (stopping(r) || (r->a = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		return NULL;
	if (socket_in(r->ns, &to)) {
		shutdown(r->a, SHUT_RDWR);   /* the source sees the far end refuse */
		return NULL;
	}
	r->b = to.fd;
	r->up = (struct tr_pump){ .r = r, .in = r->a, .out = r->b };
	r->down = (struct tr_pump){ .r = r, .in = r->b, .out = r->a };
	r->up.started = !pthread_create(&r->up.th, NULL, pump_main, &r->up);
	r->down.started = !pthread_create(&r->down.th, NULL, pump_main, &r->down);
	return NULL;
}

int tr_start(const char *ns, const char *ip, const char *to_ip, uint16_t to_port, int delay_ms,
	     struct tr_relay **out, uint16_t *port)
{
	struct tr_relay *r = calloc(1, sizeof(*r));
	struct tr_sock l = { .ip = ip, .port = 0, .listen = true, .fd = -1 };
	int rc;

	if (!r)
		return -ENOMEM;
	snprintf(r->ns, sizeof(r->ns), "%s", ns ? ns : "");
	snprintf(r->to_ip, sizeof(r->to_ip), "%s", to_ip);
	r->to_port = to_port;
	r->delay_ms = delay_ms;
	r->a = r->b = -1;
	if ((rc = socket_in(r->ns, &l)))
		goto fail;
	r->lfd = l.fd;
	if ((rc = -pthread_create(&r->th, NULL, relay_main, r))) {
		close(r->lfd);
		goto fail;
	}
	*port = l.port;
	*out = r;
	return 0;
fail:
	free(r);
	return rc;
}

uint64_t tr_chunks(struct tr_relay *r)
{
	return __atomic_load_n(&r->chunks, __ATOMIC_RELAXED);
}

void tr_stop(struct tr_relay *r)
{
	if (!r)
		return;
	__atomic_store_n(&r->stop, true, __ATOMIC_RELEASE);
	pthread_join(r->th, NULL);
	if (r->a >= 0)
		shutdown(r->a, SHUT_RDWR);   /* a pump blocked in send returns */
	if (r->b >= 0)
		shutdown(r->b, SHUT_RDWR);
	if (r->up.started)
		pthread_join(r->up.th, NULL);
	if (r->down.started)
		pthread_join(r->down.th, NULL);
	if (r->a >= 0)
		close(r->a);
	if (r->b >= 0)
		close(r->b);
	close(r->lfd);
	free(r);
}
