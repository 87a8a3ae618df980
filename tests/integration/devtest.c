/* SPDX-License-Identifier: MIT */
/* devtest — see devtest.h. */
#include "devtest.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>

#include "ctl.h"
#include "support.h"

void dt_fini(void)
{
	ts_cleanup();
}

pid_t dt_testpmd_or_skip(const char *name, int queues, char *sock, size_t len)
{
	char reason[256];
	pid_t pid = ts_testpmd_start_named(name, queues, sock, len, reason, sizeof(reason));

	if (pid < 0)
		cr_skip_test("%s", reason);
	return pid;
}

void dt_wait_ctl(const char *name)
{
	char path[TS_PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s.sock", ts_dir(), name);
	cr_assert(eq(int, ts_wait_socket(path, 10000), 0), "control socket %s never appeared", path);
}

/* The first line of the device's log (why it exited, when it did). */
static void first_log_line(const char *name, char *out, size_t len)
{
	char path[TS_PATH_MAX + 16];
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s.log", ts_dir(), name);
	f = fopen(path, "r");
	if (!f)
		return;
	if (!fgets(out, (int)len, f))
		out[0] = '\0';
	fclose(f);
}

struct ctl_client *dt_connect(const char *name)
{
	struct ctl_client *c = NULL;
	char err[256], log[512] = "";
	int rc = ctl_client_open(&c, ts_dir(), name, 5000, err, sizeof(err));

	if (rc)
		first_log_line(name, log, sizeof(log));
	cr_assert(eq(int, rc, 0), "control connection to %s: %s (device log: %s)", name, err, log);
	return c;
}

json_t *dt_call(struct ctl_client *c, const char *cmd, json_t *args)
{
	json_t *ret = NULL;
	char err[256];
	int rc = ctl_client_call(c, cmd, args, &ret, err, sizeof(err), 10000);

	json_decref(args);
	cr_assert(eq(int, rc, 0), "%s: %s", cmd, err);
	return ret;
}
