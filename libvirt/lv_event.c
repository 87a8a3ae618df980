/* SPDX-License-Identifier: MIT */
/* lv_event — libvirt's default event loop in a thread (lv_event.h).  To stop
 * it, the quit flag is set and a timer that fires at once is added: that
 * makes virEventRunDefaultImpl return, and the thread sees the flag. */
#include "lv_event.h"
#include "lv_api.h"

#include <errno.h>

#include "util.h"

static pthread_once_t impl_once = PTHREAD_ONCE_INIT;
static int impl_rc;

static void quiet_libvirt(void *ud, virErrorPtr e)
{
	(void)ud, (void)e; /* errors are read with virGetLastErrorMessage where they matter */
}

static void register_impl(void)
{
	if (lv_api.virInitialize() < 0) {
		impl_rc = -1;
		return;
	}
	lv_api.virSetErrorFunc(NULL, quiet_libvirt);
	impl_rc = lv_api.virEventRegisterDefaultImpl();
}

int lv_event_init(char *err, size_t errlen)
{
	int rc = lv_api_load(err, errlen);

	if (rc)
		return rc;
	pthread_once(&impl_once, register_impl);
	if (impl_rc < 0)
		return vhm_err(err, errlen, -EIO, "cannot register libvirt's event loop: %s",
			       lv_api.virGetLastErrorMessage());
	return 0;
}

static void *loop_thread(void *arg)
{
	struct lv_event_loop *l = arg;

	while (!__atomic_load_n(&l->quit, __ATOMIC_ACQUIRE))
		if (lv_api.virEventRunDefaultImpl() < 0)
			break;
	return NULL;
}

static void wake_loop(int timer, void *opaque)
{
	(void)opaque;
	lv_api.virEventRemoveTimeout(timer);
}

int lv_event_start(struct lv_event_loop *l)
{
	l->quit = 0;
	if (pthread_create(&l->tid, NULL, loop_thread, l))
		return -EAGAIN;
	l->started = true;
	return 0;
}

void lv_event_stop(struct lv_event_loop *l)
{
	if (!l->started)
		return;
	__atomic_store_n(&l->quit, 1, __ATOMIC_RELEASE);
	lv_api.virEventAddTimeout(0, wake_loop, NULL, NULL);
	pthread_join(l->tid, NULL);
	l->started = false;
}
