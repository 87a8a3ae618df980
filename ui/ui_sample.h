/* SPDX-License-Identifier: MIT */
/* ui_sample — the sampling half of `vhm top` (htop's Machine): finds
 * instances (every *.sock in the run dir, or the names given), keeps one
 * subscribed control connection to each, and feeds what arrives into the
 * model (ui_model.h). The drawing half never sees a socket.
 *
 * Never blocks: connecting, subscribing, the `status` call and the `dirty`
 * call (figures of a running tracker, if the device has one) run on a
 * connector thread with timeouts (UI_SAMPLE_CALL_MS each), when an instance
 * is new or due for a retry (backing off 1 s .. 8 s); after that everything
 * comes as events, read without waiting. The loop's thread owns the model. An instance whose connection breaks stays in the list, greyed
 * (UI_CONN_GONE), and is retried while its socket exists; one whose socket
 * is gone is dropped after UI_SAMPLE_GONE_KEEP_S (names given on the command
 * line are kept).
 * ui_sample_close stops the dirty tracking this dashboard started. */
#ifndef VHM_UI_SAMPLE_H
#define VHM_UI_SAMPLE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ui_model.h"

#define UI_SAMPLE_CALL_MS     1000
#define UI_SAMPLE_GONE_KEEP_S 10
#define UI_SAMPLE_MAX         128   /* instances shown */

struct ui_sampler;

/* Instances in run_dir (copied), all of them (nnames 0) or those named
 * (names copied); starts the connector thread. 0 or -errno. */
int ui_sample_open(struct ui_sampler **out, const char *run_dir, char *const names[],
		   int nnames);
void ui_sample_close(struct ui_sampler *s);

/* The instances, in discovery order; valid until the next tick. */
int ui_sample_count(const struct ui_sampler *s);
const struct ui_inst *ui_sample_inst(const struct ui_sampler *s, int i);
const char *ui_sample_run_dir(const struct ui_sampler *s);

/* Fds to poll for POLLIN: the connector's wake-up pipe; how many were
 * written (at most max). The instances' connections are not among them:
 * they are read at each tick and by ui_sample_drain, so a dashboard wakes
 * once a refresh, not once an event. */
int ui_sample_pollfds(const struct ui_sampler *s, struct pollfd *fds, int max);
/* Read what is waiting on fds (those with revents): finished connections
 * and track jobs into their slots. */
void ui_sample_read(struct ui_sampler *s, const struct pollfd *fds, int n);
/* Every connection's events into the model, without waiting. Between ticks
 * at least every UI_SAMPLE_DRAIN_NS, so what queues at an instance for us
 * stays small whatever the refresh delay. */
#define UI_SAMPLE_DRAIN_NS 1000000000ull
void ui_sample_drain(struct ui_sampler *s, uint64_t now_ns);
/* Once per refresh: rescan the run dir, (re)connect instances that are due,
 * read every connection without waiting (ui_sample_drain). now_ns:
 * CLOCK_MONOTONIC. */
void ui_sample_tick(struct ui_sampler *s, uint64_t now_ns);

/* Dirty tracking from the dashboard (docs/top.md, "Tracking"): start it on
 * instance `name` if this dashboard holds no share of it, else stop our
 * share (track-start / track-stop, sent by the connector; the outcome comes
 * as a message). 0 (queued), -ENOENT, -ENOTCONN (not live), -EINPROGRESS
 * (one of ours is on its way), -EAGAIN (queue full). */
int ui_sample_track(struct ui_sampler *s, const char *name);
/* --track: start tracking on every instance once it is live. */
void ui_sample_track_all(struct ui_sampler *s, bool on);
/* The latest message for the footer (how a track job ended), once. */
bool ui_sample_take_msg(struct ui_sampler *s, char *buf, size_t len);

#endif
