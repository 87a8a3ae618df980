/* SPDX-License-Identifier: MIT */
/* lv_event — libvirt's default event loop, run in a thread of its own, for
 * the libvirt clients of vhm (`vhm libvirt-watch`, `vhm migrate --domain`):
 * keepalive and domain-event callbacks need a running loop.
 *
 * lv_event_init() registers the loop once per process (and silences
 * libvirt's printing of errors: callers read virGetLastErrorMessage where it
 * matters).  The loop thread calls the callbacks; they run on it. */
#ifndef VHM_LV_EVENT_H
#define VHM_LV_EVENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Load libvirt (lv_api_load), then virInitialize and
 * virEventRegisterDefaultImpl, once.  0, or -ENOENT / -EIO with why in err. */
int lv_event_init(char *err, size_t errlen);

struct lv_event_loop {
	pthread_t tid;
	bool started;
	int quit;        /* atomic: read by the loop thread */
};

/* Start the loop thread (after lv_event_init).  0 or -EAGAIN. */
int lv_event_start(struct lv_event_loop *l);
/* Make it return and join it; nothing when it was not started. */
void lv_event_stop(struct lv_event_loop *l);

#endif
