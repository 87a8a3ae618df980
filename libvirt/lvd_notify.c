/* SPDX-License-Identifier: MIT */
/* lvd_notify — READY=1, WATCHDOG=1 and STOPPING=1 for systemd, a thin layer
 * over sd_notify(3) and sd_watchdog_enabled(3) that keeps the watchdog's
 * schedule. The messages are best effort: a failed notification is not an
 * error of the daemon (systemd notices a missing READY or ping itself). */
#include "lvd_notify.h"
#include "util.h"

#include <systemd/sd-daemon.h>

void lvd_notify_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void lvd_notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void lvd_notify_failed(const char *err, int rc)
{
	sd_notifyf(0, "STATUS=%s\nERRNO=%d", err, rc < 0 ? -rc : rc);
}

void lvd_watchdog_init(struct lvd_watchdog *w)
{
	uint64_t usec = 0;

	w->period_ns = 0;
	w->next_ns = UINT64_MAX;
	if (sd_watchdog_enabled(0, &usec) <= 0 || !usec)
		return;
	w->period_ns = usec * 1000 / 2;
	w->next_ns = vhm_now_ns();
}

uint64_t lvd_watchdog_due(const struct lvd_watchdog *w)
{
	return w->next_ns;
}

void lvd_watchdog_tick(struct lvd_watchdog *w, uint64_t now_ns)
{
	if (!w->period_ns || now_ns < w->next_ns)
		return;
	sd_notify(0, "WATCHDOG=1");
	w->next_ns = now_ns + w->period_ns;
}
