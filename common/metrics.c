/* SPDX-License-Identifier: MIT */
/* The metrics endpoint: exposition text in two formats from one set of
 * calls, and a poll-driven HTTP/1.0 responder (read the header first for
 * the contract). Reading order: the text builder, histograms, then the
 * responder: accept, read the request head, answer from a buffer built at
 * once (the whole exposition is a few KiB), write it as the socket takes it,
 * close. Each client is a small state machine on the embedder's thread:
 * reading (head not complete) -> writing (answer queued) -> closed. */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* ---- text ------------------------------------------------------------------------- */

static void buf_put(struct metrics_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct metrics_buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

static void buf_fmt(struct metrics_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void buf_fmt(struct metrics_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A label value, or HELP text (which escapes the same but for '"' in the
 * text format, where it is literal). */
static void buf_escaped(struct metrics_buf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_str(b, "\\\\");
		else if (*s == '\n')
			buf_str(b, "\\n");
		else if (*s == '"' && quote)
			buf_str(b, "\\\"");
		else
			buf_put(b, s, 1);
	}
}

/* The shortest of %.15g and %.17g that reads back as v (0.0025, not
 * 0.0025000000000000001). */
static const char *fmt_double(double v, char *out, size_t len)
{
	snprintf(out, len, "%.15g", v);
	if (strtod(out, NULL) != v)
		snprintf(out, len, "%.17g", v);
	return out;
}

/* Numbers as both formats read them: integers plainly, others with 17
 * significant digits at most, and the infinities and NaN by name. */
static void buf_num(struct metrics_buf *b, double v)
{
	if (isnan(v))
		buf_str(b, "NaN");
	else if (isinf(v))
		buf_str(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		buf_fmt(b, "%.0f", v);
	else
		buf_str(b, fmt_double(v, (char[32]){ 0 }, 32));
}

static const char *type_name(enum metrics_type t)
{
	return t == METRICS_COUNTER ? "counter" : t == METRICS_HISTOGRAM ? "histogram" : "gauge";
}

void metrics_family(struct metrics_buf *b, const char *name, enum metrics_type type,
		    const char *unit, const char *help)
{
	/* the text format names a counter family by its sample */
	const char *sfx = type == METRICS_COUNTER && b->fmt == METRICS_TEXT ? "_total" : "";

	buf_fmt(b, "# TYPE %s%s %s\n", name, sfx, type_name(type));
	if (unit && b->fmt == METRICS_OPENMETRICS)
		buf_fmt(b, "# UNIT %s %s\n", name, unit);
	buf_fmt(b, "# HELP %s%s ", name, sfx);
	buf_escaped(b, help, b->fmt == METRICS_OPENMETRICS);
	buf_str(b, "\n");
}

/* name{labels[,le="x"]} */
static void sample_head(struct metrics_buf *b, const char *name, const char *suffix,
			const char *const labels[], const char *le)
{
	bool any = false;

	buf_str(b, name);
	buf_str(b, suffix);
	for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
		buf_str(b, any ? "," : "{");
		buf_str(b, labels[i]);
		buf_str(b, "=\"");
		buf_escaped(b, labels[i + 1], true);
		buf_str(b, "\"");
		any = true;
	}
	if (le) {
		buf_str(b, any ? "," : "{");
		buf_fmt(b, "le=\"%s\"", le);
		any = true;
	}
	if (any)
		buf_str(b, "}");
	buf_str(b, " ");
}

void metrics_sample(struct metrics_buf *b, const char *name, enum metrics_type type,
		    const char *const labels[], double v)
{
	sample_head(b, name, type == METRICS_COUNTER ? "_total" : "", labels, NULL);
	buf_num(b, v);
	buf_str(b, "\n");
}

void metrics_end(struct metrics_buf *b)
{
	if (b->fmt == METRICS_OPENMETRICS)
		buf_str(b, "# EOF\n");
}

void metrics_buf_free(struct metrics_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- histograms --------------------------------------------------------------------- */

int metrics_hist_init(struct metrics_hist *h, const double *le, size_t nb)
{
	memset(h, 0, sizeof(*h));
	if (nb > METRICS_HIST_MAX)
		return -EINVAL;
	for (size_t i = 0; i < nb; i++) {
		if (!isfinite(le[i]) || (i && le[i] <= le[i - 1]))
			return -EINVAL;
		h->le[i] = le[i];
	}
	h->nb = nb;
	return 0;
}

void metrics_hist_observe(struct metrics_hist *h, double v)
{
	size_t i = 0;

	while (i < h->nb && v > h->le[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}

void metrics_hist_samples(struct metrics_buf *b, const char *name, const char *const labels[],
			  const struct metrics_hist *h)
{
	uint64_t cum = 0;
	char le[32];

	for (size_t i = 0; i <= h->nb; i++) {
		cum += h->bucket[i];
		if (i < h->nb)
			fmt_double(h->le[i], le, sizeof(le));
		else
			snprintf(le, sizeof(le), "+Inf");
		sample_head(b, name, "_bucket", labels, le);
		buf_num(b, (double)cum);
		buf_str(b, "\n");
	}
	sample_head(b, name, "_count", labels, NULL);
	buf_num(b, (double)h->count);
	buf_str(b, "\n");
	sample_head(b, name, "_sum", labels, NULL);
	buf_num(b, h->sum);
	buf_str(b, "\n");
}

/* ---- the families both embedders publish --------------------------------------------------- */

/* Live migration's scales: downtime from a millisecond to seconds, the
 * whole migration from 100 ms to ten minutes. */
static const double mig_downtime_le[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					  0.25, 0.5, 1, 2.5, 5, 10 };
static const double mig_total_le[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600 };
static const char *const mig_result_names[METRICS_MIG_NRESULTS] = {
	[METRICS_MIG_OK] = "ok", [METRICS_MIG_FAILED] = "failed",
	[METRICS_MIG_CANCELLED] = "cancelled",
};

void metrics_migs_init(struct metrics_migs *m)
{
	memset(m, 0, sizeof(*m));
	metrics_hist_init(&m->downtime, mig_downtime_le, sizeof(mig_downtime_le) /
			  sizeof(mig_downtime_le[0]));
	metrics_hist_init(&m->total, mig_total_le, sizeof(mig_total_le) / sizeof(mig_total_le[0]));
	m->last = -1;
}

void metrics_migs_ended(struct metrics_migs *m, enum metrics_mig_result r, double total_s,
			double downtime_s)
{
	struct timespec ts;

	if (r >= METRICS_MIG_NRESULTS)
		r = METRICS_MIG_FAILED;
	clock_gettime(CLOCK_REALTIME, &ts);
	m->results[r]++;
	m->last = (int)r;
	m->last_end_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (total_s >= 0)
		metrics_hist_observe(&m->total, total_s);
	if (downtime_s >= 0)
		metrics_hist_observe(&m->downtime, downtime_s);
}

void metrics_migs_write(struct metrics_buf *b, const char *key, const char *const names[],
			const struct metrics_migs *const m[], size_t n)
{
	bool any_last = false;

	metrics_family(b, "vhm_migrations", METRICS_COUNTER, NULL,
		       "Live migrations that ended, by result");
	for (size_t i = 0; i < n; i++)
		for (int r = 0; r < METRICS_MIG_NRESULTS; r++) {
			const char *l[] = { key, names[i], "result", mig_result_names[r], NULL };

			metrics_sample(b, "vhm_migrations", METRICS_COUNTER, l,
				       (double)m[i]->results[r]);
		}
	metrics_family(b, "vhm_migration_downtime_seconds", METRICS_HISTOGRAM, "seconds",
		       "Downtime of live migrations that switched over: the guest stopped on the "
		       "source until it resumed on the destination");
	for (size_t i = 0; i < n; i++)
		metrics_hist_samples(b, "vhm_migration_downtime_seconds",
				     (const char *[]){ key, names[i], NULL }, &m[i]->downtime);
	metrics_family(b, "vhm_migration_total_time_seconds", METRICS_HISTOGRAM, "seconds",
		       "Duration of live migrations that ended, whatever the result");
	for (size_t i = 0; i < n; i++)
		metrics_hist_samples(b, "vhm_migration_total_time_seconds",
				     (const char *[]){ key, names[i], NULL }, &m[i]->total);
	for (size_t i = 0; i < n; i++)
		any_last |= m[i]->last >= 0;
	if (!any_last)
		return;
	metrics_family(b, "vhm_migration_last_result", METRICS_GAUGE, NULL,
		       "1 for the result of the last live migration, 0 for the others");
	for (size_t i = 0; i < n; i++)
		for (int r = 0; r < METRICS_MIG_NRESULTS && m[i]->last >= 0; r++) {
			const char *l[] = { key, names[i], "result", mig_result_names[r], NULL };

			metrics_sample(b, "vhm_migration_last_result", METRICS_GAUGE, l,
				       r == m[i]->last);
		}
	metrics_family(b, "vhm_migration_last_end_timestamp_seconds", METRICS_GAUGE, "seconds",
		       "When the last live migration ended (Unix time)");
	for (size_t i = 0; i < n; i++)
		if (m[i]->last >= 0)
			metrics_sample(b, "vhm_migration_last_end_timestamp_seconds",
				       METRICS_GAUGE, (const char *[]){ key, names[i], NULL },
				       m[i]->last_end_s);
}

void metrics_dirty_rate_family(struct metrics_buf *b)
{
	metrics_family(b, METRICS_DIRTY_RATE, METRICS_GAUGE, "bytes_per_second",
		       "Guest memory dirtied per second over the last measurement, by source");
}

/* ---- the responder -------------------------------------------------------------------- */

struct mclient {
	int fd;                         /* -1: free slot */
	uint64_t deadline_ns;
	char head[METRICS_HEAD_MAX + 1];
	size_t hlen;
	char *out;                      /* the answer, once queued */
	size_t olen, osent;
};

struct metrics_srv {
	int lfd;
	char addr[64];
	metrics_fill_fn fill;
	void *ctx;
	struct mclient c[METRICS_CLIENTS_MAX];
	unsigned long served;
};

/* host:port into a socket address (numeric only: no name lookups). */
static int to_sockaddr(const char *host, uint16_t port, struct sockaddr_storage *ss,
		       socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

int metrics_parse_listen(const char *spec, char *host, size_t hostlen, uint16_t *port,
			 char *err, size_t errlen)
{
	const char *colon = strrchr(spec, ':'), *p = colon ? colon + 1 : spec, *a = spec;
	size_t hl = colon ? (size_t)(colon - spec) : 0;
	struct sockaddr_storage ss;
	socklen_t sl;
	uint64_t v;

	if (vhm_parse_u64(p, &v) || v > 65535)
		return vhm_err(err, errlen, -EINVAL,
			       "--metrics '%s': expected PORT or ADDR:PORT, PORT 0..65535", spec);
	*port = (uint16_t)v;
	if (!colon) {
		snprintf(host, hostlen, "127.0.0.1");
		return 0;
	}
	if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
		a++;
		hl -= 2;
	}
	if (!hl || hl >= hostlen)
		return vhm_err(err, errlen, -EINVAL, "--metrics '%s': expected an address before "
			       "':PORT'", spec);
	snprintf(host, hostlen, "%.*s", (int)hl, a);
	if (to_sockaddr(host, *port, &ss, &sl))
		return vhm_err(err, errlen, -EINVAL, "--metrics '%s': '%s' is not an IPv4 or IPv6 "
			       "address", spec, host);
	return 0;
}

/* What the socket is bound to, as "ADDR:PORT". */
static void bound_name(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";

	if (getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		snprintf(out, len, "?");
		return;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(out, len, "[%s]:%u", host, ntohs(a->sin6_port));
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(out, len, "%s:%u", host, ntohs(a->sin_port));
	}
}

int metrics_srv_open(struct metrics_srv **out, const char *spec, metrics_fill_fn fill, void *ctx,
		     char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct metrics_srv *s;
	char host[64];
	uint16_t port;
	socklen_t sl;
	int one = 1, rc;

	*out = NULL;
	if ((rc = metrics_parse_listen(spec, host, sizeof(host), &port, err, errlen)) ||
	    (rc = to_sockaddr(host, port, &ss, &sl)))
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return vhm_err(err, errlen, -ENOMEM, "metrics: out of memory");
	for (int i = 0; i < METRICS_CLIENTS_MAX; i++)
		s->c[i].fd = -1;
	s->lfd = -1;
	s->fill = fill;
	s->ctx = ctx;
	s->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0) {
		rc = vhm_err(err, errlen, -errno, "metrics: socket: %s", strerror(errno));
		goto fail;
	}
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->lfd, (struct sockaddr *)&ss, sl) || listen(s->lfd, 16)) {
		rc = vhm_err(err, errlen, -errno, "metrics: cannot listen on %s: %s", spec,
			     strerror(errno));
		goto fail;
	}
	bound_name(s->lfd, s->addr, sizeof(s->addr));
	*out = s;
	return 0;
fail:
	metrics_srv_close(s);
	return rc;
}

const char *metrics_srv_addr(const struct metrics_srv *s)
{
	return s->addr;
}

unsigned long metrics_srv_served(const struct metrics_srv *s)
{
	return s->served;
}

static void client_close(struct mclient *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Queue the whole answer: status line, headers, body (may be NULL). */
static void client_answer(struct mclient *c, int code, const char *reason, const char *ctype,
			  const char *body, size_t blen, bool head_only)
{
	char hdr[256];
	int n;

	n = snprintf(hdr, sizeof(hdr), "HTTP/1.0 %d %s\r\nContent-Type: %s\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n", code, reason,
		     ctype, blen);
	if (head_only)
		blen = 0;
	c->out = malloc((size_t)n + blen);
	if (!c->out) {
		client_close(c);
		return;
	}
	memcpy(c->out, hdr, (size_t)n);
	if (blen)
		memcpy(c->out + n, body, blen);
	c->olen = (size_t)n + blen;
	c->osent = 0;
}

static void client_error(struct mclient *c, int code, const char *reason)
{
	char body[96];
	int n = snprintf(body, sizeof(body), "%d %s\n", code, reason);

	client_answer(c, code, reason, "text/plain; charset=utf-8", body, (size_t)n, false);
}

/* Does the Accept header of head ask for OpenMetrics? */
static bool wants_openmetrics(const char *head)
{
	for (const char *l = strchr(head, '\n'); l; l = strchr(l + 1, '\n'))
		if (!strncasecmp(l + 1, "accept:", 7)) {
			const char *end = strchr(l + 1, '\n');
			size_t n = end ? (size_t)(end - l - 1) : strlen(l + 1);

			return memmem(l + 1, n, "application/openmetrics-text", 28) != NULL;
		}
	return false;
}

/* The head is complete: answer it. */
static void client_request(struct metrics_srv *s, struct mclient *c)
{
	struct metrics_buf b = { 0 };
	char method[16], path[METRICS_LINE_MAX], version[16];
	size_t line = strcspn(c->head, "\r\n");
	bool head_only;

	if (line > METRICS_LINE_MAX) {
		client_error(c, 414, "URI Too Long");
		return;
	}
	if (sscanf(c->head, "%15s %1023s %15s", method, path, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7)) {
		client_error(c, 400, "Bad Request");
		return;
	}
	head_only = !strcmp(method, "HEAD");
	if (strcmp(method, "GET") && !head_only) {
		client_error(c, 405, "Method Not Allowed");
		return;
	}
	path[strcspn(path, "?")] = '\0';
	if (strcmp(path, "/metrics")) {
		client_error(c, 404, "Not Found");
		return;
	}
	b.fmt = wants_openmetrics(c->head) ? METRICS_OPENMETRICS : METRICS_TEXT;
	s->fill(s->ctx, &b);
	metrics_end(&b);
	if (b.oom) {
		client_error(c, 500, "Internal Server Error");
	} else {
		client_answer(c, 200, "OK", b.fmt == METRICS_OPENMETRICS ? METRICS_CT_OPENMETRICS :
			      METRICS_CT_TEXT, b.p, b.len, head_only);
		s->served++;
	}
	metrics_buf_free(&b);
}

/* Where the head ends ("\r\n\r\n" or "\n\n"), or NULL. */
static const char *head_end(const char *h)
{
	const char *a = strstr(h, "\r\n\r\n"), *b = strstr(h, "\n\n");

	return a && (!b || a < b) ? a : b;
}

static void client_read(struct metrics_srv *s, struct mclient *c)
{
	ssize_t n = recv(c->fd, c->head + c->hlen, METRICS_HEAD_MAX - c->hlen, MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(c);
		return;
	}
	if (n < 0)
		return;
	c->hlen += (size_t)n;
	c->head[c->hlen] = '\0';
	if (memchr(c->head, '\0', c->hlen)) {
		client_error(c, 400, "Bad Request");
	} else if (head_end(c->head)) {
		client_request(s, c);
	} else if (strcspn(c->head, "\n") > METRICS_LINE_MAX) {
		client_error(c, 414, "URI Too Long");
	} else if (c->hlen == METRICS_HEAD_MAX) {
		client_error(c, 431, "Request Header Fields Too Large");
	}
}

static void client_write(struct mclient *c)
{
	ssize_t n = send(c->fd, c->out + c->osent, c->olen - c->osent,
			 MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->osent += (size_t)n;
	if (c->osent == c->olen) {
		shutdown(c->fd, SHUT_WR);
		client_close(c);
	}
}

/* Accept what is waiting; past METRICS_CLIENTS_MAX, 503 without waiting. */
static void srv_accept(struct metrics_srv *s)
{
	static const char busy[] = "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n"
				   "Connection: close\r\n\r\n";

	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), i;

		if (fd < 0)
			return;
		for (i = 0; i < METRICS_CLIENTS_MAX && s->c[i].fd >= 0; i++)
			;
		if (i == METRICS_CLIENTS_MAX) {
			if (send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
				/* it goes anyway */
			}
			close(fd);
			continue;
		}
		s->c[i].fd = fd;
		s->c[i].deadline_ns = vhm_now_ns() + METRICS_CLIENT_MS * 1000000ull;
	}
}

int metrics_srv_pollfds(struct metrics_srv *s, struct pollfd *fds, int max)
{
	int n = 0;

	if (max < 1)
		return -ENOSPC;
	fds[n++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
	for (int i = 0; i < METRICS_CLIENTS_MAX; i++) {
		if (s->c[i].fd < 0)
			continue;
		if (n == max)
			return -ENOSPC;
		fds[n++] = (struct pollfd){ .fd = s->c[i].fd,
					    .events = s->c[i].out ? POLLOUT : POLLIN };
	}
	return n;
}

static struct mclient *client_by_fd(struct metrics_srv *s, int fd)
{
	for (int i = 0; i < METRICS_CLIENTS_MAX; i++)
		if (s->c[i].fd == fd)
			return &s->c[i];
	return NULL;
}

void metrics_srv_handle(struct metrics_srv *s, const struct pollfd *fds, int n)
{
	uint64_t now;

	for (int k = 0; k < n; k++) {
		struct mclient *c;

		if (!fds[k].revents)
			continue;
		if (fds[k].fd == s->lfd) {
			srv_accept(s);
			continue;
		}
		c = client_by_fd(s, fds[k].fd);
		if (!c)
			continue;
		if (!c->out)
			client_read(s, c);
		else
			client_write(c);
		/* an answer queued just now goes out at once if the socket takes it */
		if (c->fd >= 0 && c->out && c->osent == 0)
			client_write(c);
	}
	now = vhm_now_ns();
	for (int i = 0; i < METRICS_CLIENTS_MAX; i++) {
		struct mclient *c = &s->c[i];

		if (c->fd < 0 || now < c->deadline_ns)
			continue;
		if (!c->out) {          /* too slow to ask: told so, if it listens */
			client_error(c, 408, "Request Timeout");
			if (c->fd >= 0)
				client_write(c);
		}
		client_close(c);
	}
}

int metrics_srv_timeout_ms(const struct metrics_srv *s)
{
	uint64_t now = vhm_now_ns(), first = UINT64_MAX;

	for (int i = 0; i < METRICS_CLIENTS_MAX; i++)
		if (s->c[i].fd >= 0 && s->c[i].deadline_ns < first)
			first = s->c[i].deadline_ns;
	if (first == UINT64_MAX)
		return -1;
	return first <= now ? 0 : (int)((first - now + 999999) / 1000000);
}

void metrics_srv_close(struct metrics_srv *s)
{
	if (!s)
		return;
	for (int i = 0; i < METRICS_CLIENTS_MAX; i++)
		client_close(&s->c[i]);
	if (s->lfd >= 0)
		close(s->lfd);
	free(s);
}
