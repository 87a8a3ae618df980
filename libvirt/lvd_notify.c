/* SPDX-License-Identifier: MIT */
/* lvd_notify — READY=1, WATCHDOG=1 and STOPPING=1 for systemd, and the
 * watchdog's schedule. The protocol is sd_notify(3)'s, spoken directly (one
 * datagram to the AF_UNIX socket named by $NOTIFY_SOCKET, '@' for the
 * abstract namespace), so vhm does not link libsystemd and the seven shared
 * objects it brings for three calls. The messages are best effort: a failed
 * notification is not an error of the daemon (systemd notices a missing
 * READY or ping itself). */
#include "lvd_notify.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* One datagram of text to $NOTIFY_SOCKET; nothing without it, or when it is
 * not a path or an abstract name (e.g. systemd 253's vsock:). */
static void notify(const char *fmt, ...)
{
	const char *where = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = where ? strlen(where) : 0;
	char msg[512];
	va_list ap;
	int fd, n;

	if (!len || len >= sizeof(sa.sun_path) || (where[0] != '/' && where[0] != '@'))
		return;
	memcpy(sa.sun_path, where, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	/* the abstract name's length is exact: no terminating NUL counts */
	(void)!sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (const struct sockaddr *)&sa,
		      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
				  (where[0] == '/')));
	close(fd);
}

void lvd_notify_ready(const char *status)
{
	notify("READY=1\nSTATUS=%s", status);
}

void lvd_notify_stopping(void)
{
	notify("STOPPING=1");
}

void lvd_notify_failed(const char *err, int rc)
{
	notify("STATUS=%s\nERRNO=%d", err, rc < 0 ? -rc : rc);
}

/* $WATCHDOG_USEC, when it is for us ($WATCHDOG_PID unset or ours); 0: off. */
static uint64_t watchdog_usec(void)
{
	const char *pid = getenv("WATCHDOG_PID");
	uint64_t usec, p;

	if (vhm_parse_u64(getenv("WATCHDOG_USEC"), &usec))
		return 0;
	if (pid && *pid && (vhm_parse_u64(pid, &p) || p != (uint64_t)getpid()))
		return 0;
	return usec;
}

void lvd_watchdog_init(struct lvd_watchdog *w)
{
	uint64_t usec = watchdog_usec();

	w->period_ns = 0;
	w->next_ns = UINT64_MAX;
	if (!usec)
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
	notify("WATCHDOG=1");
	w->next_ns = now_ns + w->period_ns;
}
