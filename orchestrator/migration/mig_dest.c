/* SPDX-License-Identifier: MIT */
/* The destination of a migration, reached by connecting to it or by
 * listening for it (mig_dest.h). Listening reuses the device's listener
 * (dev_listener: the same refusal to replace what vhm did not make, the
 * same removal of only its own socket file); accepting waits in slices so
 * that an operator's cancel is seen within 100 ms. */
#include "mig_dest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define ACCEPT_SLICE_MS 100

const char *mig_dest_path(const char *to, bool *listen)
{
	size_t n = strlen(MIG_TO_LISTEN);

	*listen = !strncmp(to, MIG_TO_LISTEN, n);
	return *listen ? to + n : to;
}

/* The first backend to connect to l within MIG_ACCEPT_MS, unless cancelled. */
static int accept_dest(struct vhu_front *f, struct dev_listener *l, int timeout_ms,
		       const struct mig_dest_wait *w, char *err, size_t errlen)
{
	uint64_t end = vhm_now_ns() + MIG_ACCEPT_MS * 1000000ull;
	int rc;

	for (;;) {
		if (w->idle)
			w->idle(w->ctx);
		if (w->cancel && atomic_load(w->cancel))
			return vhm_err(err, errlen, -ECANCELED, "cancelled by the operator while "
				       "waiting for a backend to connect to %s", l->path);
		rc = dev_listener_accept(l, f, ACCEPT_SLICE_MS, timeout_ms, err, errlen);
		if (rc != -EAGAIN)
			return rc;
		if (vhm_now_ns() >= end)
			return vhm_err(err, errlen, -ETIMEDOUT, "no backend connected to %s "
				       "within %d s", l->path, MIG_ACCEPT_MS / 1000);
	}
}

int mig_dest_connect(struct vhu_front *f, struct dev_listener *l, const char *to,
		     int timeout_ms, const struct mig_dest_wait *w, char *err, size_t errlen)
{
	bool listen;
	const char *path = mig_dest_path(to, &listen);
	int rc;

	if (!*path)
		return vhm_err(err, errlen, -EINVAL, "destination '%s' names no socket path", to);
	if (!listen) {
		rc = vhu_front_connect(f, path, timeout_ms);
		if (rc)
			snprintf(err, errlen, "%s", f->err[0] ? f->err : strerror(-rc));
		return rc;
	}
	if ((rc = dev_listener_open(l, path, err, errlen)))
		return rc;
	return accept_dest(f, l, timeout_ms, w, err, errlen);
}
