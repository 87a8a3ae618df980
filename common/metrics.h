/* SPDX-License-Identifier: MIT */
/* metrics — a fleet's view of vhm for Prometheus: the exposition text
 * (OpenMetrics 1.0.0, or Prometheus' text format 0.0.4 for scrapers that do
 * not ask for OpenMetrics), a histogram helper, and a tiny HTTP/1.0
 * responder for GET /metrics that lives in its embedder's poll loop, the
 * way ctl's server does (`vhm run`, `vhm libvirt-watch`; docs/metrics.md).
 *
 * Text: a family is announced once (metrics_family: TYPE, UNIT, HELP), then
 * its samples follow, every sample of a family together. Label values are
 * escaped here (\\, \", \n); names and label names are the caller's
 * constants. The two formats differ only where the standards do: a counter
 * family is `x` with samples `x_total` in OpenMetrics and `x_total` in both
 * places in the text format; UNIT lines and the final `# EOF` are
 * OpenMetrics only.
 *
 * Server: never blocks and never makes its embedder wait. A client has
 * METRICS_CLIENT_MS from its connection to send its request head and read
 * the answer, else it is closed (408 if nothing was answered yet). A request
 * line over METRICS_LINE_MAX or a head over METRICS_HEAD_MAX bytes gets 414
 * / 431, a method other than GET (or HEAD) 405, a path other than /metrics
 * 404, and is closed. At most METRICS_CLIENTS_MAX clients at once; one more
 * is answered 503 and closed. The fill callback runs on the embedder's
 * thread (the one calling metrics_srv_handle), so it reads the embedder's
 * state without locks. No lock here: every metrics_srv_* call comes from
 * that one thread. */
#ifndef VHM_METRICS_H
#define VHM_METRICS_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_LINE_MAX     1024     /* bytes in the request line */
#define METRICS_HEAD_MAX     8192     /* bytes in the request head */
#define METRICS_CLIENTS_MAX  16
#define METRICS_CLIENT_MS    5000     /* a client's whole exchange */
#define METRICS_HIST_MAX     16       /* histogram bounds (+Inf aside) */

#define METRICS_CT_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"
#define METRICS_CT_TEXT        "text/plain; version=0.0.4; charset=utf-8"

/* ---- text ---- */

enum metrics_fmt { METRICS_OPENMETRICS, METRICS_TEXT };
enum metrics_type { METRICS_GAUGE, METRICS_COUNTER, METRICS_HISTOGRAM };

/* The text being built; grows as needed. oom: an allocation failed (the
 * text is then cut, and the server answers 500). */
struct metrics_buf {
	enum metrics_fmt fmt;
	char *p;
	size_t len, cap;
	bool oom;
};

/* Announce family `name` (a counter's without "_total"); unit (may be
 * NULL) must end the name, as OpenMetrics requires ("seconds", "bytes"). */
void metrics_family(struct metrics_buf *b, const char *name, enum metrics_type type,
		    const char *unit, const char *help);
/* One sample of family `name`: labels are NULL-terminated key, value pairs
 * (NULL: none); a counter's sample gets "_total" appended. */
void metrics_sample(struct metrics_buf *b, const char *name, enum metrics_type type,
		    const char *const labels[], double v);
/* The end of the exposition ("# EOF" in OpenMetrics). */
void metrics_end(struct metrics_buf *b);
void metrics_buf_free(struct metrics_buf *b);

/* A histogram of observations, bounds ascending (the +Inf bucket is
 * implicit); counts are per bucket, written cumulative. */
struct metrics_hist {
	size_t nb;
	double le[METRICS_HIST_MAX];
	uint64_t bucket[METRICS_HIST_MAX + 1];
	uint64_t count;
	double sum;
};

/* -EINVAL if nb > METRICS_HIST_MAX or the bounds do not ascend. */
int metrics_hist_init(struct metrics_hist *h, const double *le, size_t nb);
void metrics_hist_observe(struct metrics_hist *h, double v);
/* The _bucket, _count and _sum samples of h (after metrics_family with
 * METRICS_HISTOGRAM), with labels as for metrics_sample. */
void metrics_hist_samples(struct metrics_buf *b, const char *name, const char *const labels[],
			  const struct metrics_hist *h);

/* ---- what vhm run and vhm libvirt-watch both publish ---- */

/* Live migrations that ended, of one device or domain: the families
 * vhm_migrations_total {result}, vhm_migration_downtime_seconds and
 * vhm_migration_total_time_seconds (histograms), vhm_migration_last_result
 * {result} and vhm_migration_last_end_timestamp_seconds. */
enum metrics_mig_result {
	METRICS_MIG_OK, METRICS_MIG_FAILED, METRICS_MIG_CANCELLED, METRICS_MIG_NRESULTS
};

struct metrics_migs {
	unsigned long results[METRICS_MIG_NRESULTS];
	struct metrics_hist downtime;   /* of those that switched over */
	struct metrics_hist total;      /* of all */
	int last;                       /* enum metrics_mig_result, -1 before any */
	double last_end_s;              /* Unix time */
};

void metrics_migs_init(struct metrics_migs *m);
/* One ended now: its result, duration and downtime (< 0: none, e.g. it
 * failed before the switchover). */
void metrics_migs_ended(struct metrics_migs *m, enum metrics_mig_result r, double total_s,
			double downtime_s);
/* The five families for n subjects, each labelled key="names[i]" (key:
 * "device" or "domain", as Prometheus' exporters label them). */
void metrics_migs_write(struct metrics_buf *b, const char *key, const char *const names[],
			const struct metrics_migs *const m[], size_t n);

/* The family header of vhm_dirty_rate_bytes_per_second {source}: guest
 * memory dirtied per second; its samples are the caller's. */
#define METRICS_DIRTY_RATE "vhm_dirty_rate_bytes_per_second"
void metrics_dirty_rate_family(struct metrics_buf *b);

/* ---- the HTTP responder ---- */

/* Called for each GET /metrics: append the families to b (metrics_end is
 * added by the server). */
typedef void (*metrics_fill_fn)(void *ctx, struct metrics_buf *b);

struct metrics_srv;

/* Where --metrics SPEC listens: "PORT" is 127.0.0.1:PORT (loopback unless
 * an address is given), "ADDR:PORT" an IPv4 address, "[ADDR]:PORT" IPv6;
 * PORT 0..65535 (0: any free port, see metrics_srv_addr). 0 or -EINVAL with
 * err naming what is wrong. */
int metrics_parse_listen(const char *spec, char *host, size_t hostlen, uint16_t *port,
			 char *err, size_t errlen);

/* Listen (non-blocking) where spec says; fill and ctx are borrowed. */
int metrics_srv_open(struct metrics_srv **out, const char *spec, metrics_fill_fn fill, void *ctx,
		     char *err, size_t errlen);
/* "ADDR:PORT" as bound ("[ADDR]:PORT" for IPv6). */
const char *metrics_srv_addr(const struct metrics_srv *s);

/* Polling inside the embedder's poll(), as ctl_server_*: pollfds fills up
 * to max entries and returns how many (or -ENOSPC); handle takes the same
 * slice back with revents; timeout_ms bounds the poll so that slow clients
 * are closed in time (-1: no client waits). */
int metrics_srv_pollfds(struct metrics_srv *s, struct pollfd *fds, int max);
void metrics_srv_handle(struct metrics_srv *s, const struct pollfd *fds, int n);
int metrics_srv_timeout_ms(const struct metrics_srv *s);
/* Requests answered 200 since open. */
unsigned long metrics_srv_served(const struct metrics_srv *s);
/* Close every client and the listening socket. NULL is fine. */
void metrics_srv_close(struct metrics_srv *s);

#endif
