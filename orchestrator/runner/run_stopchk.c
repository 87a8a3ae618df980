/* SPDX-License-Identifier: MIT */
/* The stop check's three steps on the device and its log: stop as the
 * migration's switchover stops its source, watch the log for marks after
 * the reply, restart as its rollback restarts the source. What is compared
 * between stop and watch is run_track's (it owns the verify state). */
#include "run_stopchk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* Frames the backend has given back: RX frames and TX buffers used. */
static uint64_t frames_back(const struct device *d)
{
	struct nd_counters c;

	netdrv_totals(&d->drv, &c);
	return c.rx_frames + c.tx_done;
}

void run_stopchk_open(struct run_stopchk *s, const struct device *d)
{
	memset(s, 0, sizeof(*s));
	s->back0 = frames_back(d);
}

/* With traffic running, until the backend has written its frames in the
 * window (the snapshot's pass took the run loop's thread, not the
 * datapath's; a loaded machine may still have stalled either). */
static void await_window(struct run_stopchk *s, const struct device *d)
{
	uint64_t t0 = vhm_now_ns(), end = t0 + RUN_STOPCHK_AWAIT_MS * 1000000ull, pps;
	uint32_t size;

	netdrv_traffic(&d->drv, &pps, &size);
	while (pps && frames_back(d) - s->back0 < RUN_STOPCHK_WINDOW_FRAMES &&
	       vhm_now_ns() < end)
		usleep(RUN_STOPCHK_STEP_MS * 1000);
	s->await_ms = (double)(vhm_now_ns() - t0) / 1e6;
}

int run_stopchk_stop(struct run_stopchk *s, struct device *d, char *err, size_t errlen)
{
	int rc;

	await_window(s, d);
	s->quiesce_ms = dev_quiesce(d, RUN_STOPCHK_QUIESCE_MS);
	s->window_frames = frames_back(d) - s->back0;
	dev_guest_pause(d, true);
	s->t_stop_ns = vhm_now_ns();
	s->stopped = true;
	rc = dev_backend_stop(d, &d->front, s->bases);
	s->t_reply_ns = vhm_now_ns();
	if (rc)
		return vhm_err(err, errlen, rc, "stopping the rings of %s: %s", d->backend,
			       d->front.err);
	return 0;
}

static bool marked(const uint64_t *words, uint64_t page)
{
	return (words[page / LT_WORD_PAGES] >> (page % LT_WORD_PAGES)) & 1;
}

int run_stopchk_watch(const struct run_stopchk *s, struct lt_log *log, const uint64_t *pages,
		      size_t n, int *late_ms)
{
	uint64_t end = s->t_reply_ns + RUN_STOPCHK_WATCH_MS * 1000000ull;
	uint64_t *seen = calloc(log->nwords ? log->nwords : 1, sizeof(*seen));
	struct lt_sync how = { .merge = seen, .merge_words = log->nwords };

	if (!seen)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		late_ms[i] = -1;
	for (;;) {
		uint64_t now = vhm_now_ns();
		int ms = (int)((now - s->t_reply_ns) / 1000000ull);

		memset(seen, 0, log->nwords * sizeof(*seen));
		lt_log_sync(log, &how, NULL);
		for (size_t i = 0; i < n; i++)
			if (late_ms[i] < 0 && marked(seen, pages[i]))
				late_ms[i] = ms > 0 ? ms : 1;   /* read after the reply: late */
		if (now >= end)
			break;
		usleep(RUN_STOPCHK_STEP_MS * 1000);
	}
	free(seen);
	return 0;
}

int run_stopchk_restart(struct run_stopchk *s, struct device *d, char *err, size_t errlen)
{
	int rc = 0;

	/* The migration's rollback restarts its source with this same call:
	 * SET_FEATURES without LOG_ALL, plain ring addresses, every ring from
	 * the base GET_VRING_BASE returned. */
	if (s->stopped && (rc = dev_backend_start(d, &d->front, &d->mem, d->features, s->bases)))
		vhm_err(err, errlen, rc, "restarting the rings of %s: %s", d->backend,
			d->front.err);
	s->stopped = false;
	dev_guest_pause(d, false);
	s->stopped_ms = (double)(vhm_now_ns() - s->t_stop_ns) / 1e6;
	return rc;
}
