/* SPDX-License-Identifier: MIT */
/* A private Open vSwitch with DPDK, the recipe of
 * /work/shared/reference/environment.md: ovsdb-tool makes a database,
 * ovsdb-server serves it on a Unix socket, ovs-vsctl configures DPDK before
 * ovs-vswitchd-dpdk starts (it reads dpdk-init and dpdk-extra once, at
 * start), then the bridge and ports. OVS_RUNDIR (set for every child) keeps
 * its sockets -- the server-mode ports' included -- in <ts_dir>/ovs. */
#include "ovstest.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

#define OVT_VSWITCHD "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
#define OVT_SCHEMA   "/usr/share/openvswitch/vswitch.ovsschema"
#define OVT_CMD_MS   60000   /* ovs-vsctl waits for vswitchd to apply a change */

static char dir[TS_PATH_MAX], db_sock[TS_PATH_MAX + 16], mgmt[TS_PATH_MAX + 24], prefix[64];
static pid_t vswitchd = -1;
static char ports[8][32];   /* added so far: their flows come back after a restart */
static int nports;

/* Assert that `prog what` (ts_run_cmd's return rc, run into r) ran and
 * exited 0; frees r. */
static void assert_ran_ok(const char *prog, const char *what, int rc, struct ts_run *r)
{
	cr_assert(eq(int, rc, 0), "cannot run %s", prog);
	cr_assert(eq(int, r->status, 0), "%s %s: exit %d: %s", prog, what, r->status, r->err);
	ts_run_free(r);
}

/* argv (NULL-terminated) run to completion, asserted to exit 0. */
static void run_ok(const char *const argv[])
{
	struct ts_run r;

	assert_ran_ok(argv[0], argv[1], ts_run_cmd(argv, OVT_CMD_MS, &r), &r);
}

/* ovs-vsctl with the private database and up to 10 arguments, run to
 * completion into r: ts_run_cmd's return. */
static int vsctl_run(const char *const args[], struct ts_run *r)
{
	char db[TS_PATH_MAX + 24];
	const char *argv[16] = { "ovs-vsctl", db, "--timeout=60" };
	int n = 3;

	snprintf(db, sizeof(db), "--db=unix:%s", db_sock);
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	return ts_run_cmd(argv, OVT_CMD_MS, r);
}

/* The same, asserted to exit 0. */
static void vsctl(const char *const args[])
{
	struct ts_run r;

	assert_ran_ok("ovs-vsctl", args[0], vsctl_run(args, &r), &r);
}

static void start_vswitchd(void)
{
	char db[TS_PATH_MAX + 24], log[TS_PATH_MAX + 32], ctl[TS_PATH_MAX + 32];
	/* its own network namespace: the netdev datapath makes tap devices
	 * (ovs-netdev, br0) that another OVS on the host would collide with */
	const char *argv[] = { "unshare", "--net", OVT_VSWITCHD, db, log, ctl, NULL };

	snprintf(db, sizeof(db), "unix:%s", db_sock);
	snprintf(log, sizeof(log), "--log-file=%s/vswitchd.log", dir);
	snprintf(ctl, sizeof(ctl), "--unixctl=%s/vswitchd.ctl", dir);
	vswitchd = ts_spawn(argv, NULL);
	cr_assert(lt(int, 0, vswitchd), "cannot start %s", OVT_VSWITCHD);
}

/* br0's OpenFlow socket, once vswitchd has made the bridge. */
static void wait_mgmt(void)
{
	char log[TS_PATH_MAX + 32], tail[2048] = "";
	FILE *f;
	size_t n;

	if (!ts_wait_socket(mgmt + 5, OVT_CMD_MS))
		return;
	snprintf(log, sizeof(log), "%s/vswitchd.log", dir);
	f = fopen(log, "r");
	if (f && !fseek(f, -(long)sizeof(tail) + 1, SEEK_END)) {
		n = fread(tail, 1, sizeof(tail) - 1, f);
		tail[n] = '\0';
	}
	if (f)
		fclose(f);
	cr_fatal("no OpenFlow socket %s; vswitchd.log ends: %s", mgmt, tail);
}

void ovt_start_or_skip(void)
{
	char db[TS_PATH_MAX + 16], remote[TS_PATH_MAX + 32], log[TS_PATH_MAX + 32];
	char extra[160], ctl[TS_PATH_MAX + 32];
	const char *create[] = { "ovsdb-tool", "create", db, OVT_SCHEMA, NULL };
	const char *server[] = { "ovsdb-server", remote, log, ctl, db, NULL };

	if (access(OVT_VSWITCHD, X_OK))
		cr_skip_test("%s not installed (Debian package openvswitch-switch-dpdk)",
			     OVT_VSWITCHD);
	cr_assert(eq(int, ts_path("ovs", dir, sizeof(dir)), 0));
	cr_assert(eq(int, mkdir(dir, 0700), 0), "mkdir %s: %s", dir, strerror(errno));
	setenv("OVS_RUNDIR", dir, 1);
	setenv("OVS_LOGDIR", dir, 1);
	setenv("OVS_DBDIR", dir, 1);
	snprintf(db, sizeof(db), "%s/conf.db", dir);
	snprintf(db_sock, sizeof(db_sock), "%s/db.sock", dir);
	snprintf(remote, sizeof(remote), "--remote=punix:%s", db_sock);
	snprintf(log, sizeof(log), "--log-file=%s/ovsdb.log", dir);
	snprintf(ctl, sizeof(ctl), "--unixctl=%s/ovsdb.ctl", dir);
	run_ok(create);
	cr_assert(lt(int, 0, ts_spawn(server, NULL)), "cannot start ovsdb-server");
	cr_assert(eq(int, ts_wait_socket(db_sock, 10000), 0), "ovsdb-server made no socket");
	snprintf(prefix, sizeof(prefix), "vhmovs%d", (int)getpid());
	/* quoted: ovs-vsctl reads a map value with spaces only so */
	snprintf(extra, sizeof(extra), "other_config:dpdk-extra=\"--no-huge --legacy-mem -m 2048 "
		 "--no-pci --no-shconf --file-prefix=%s\"", prefix);
	{
		const char *init[] = { "--no-wait", "init", NULL };
		const char *cfg[] = { "--no-wait", "set", "Open_vSwitch", ".",
				      "other_config:dpdk-init=true", extra,
				      "other_config:dpdk-lcore-mask=0x1",
				      "other_config:pmd-cpu-mask=0x1", NULL };
		const char *br[] = { "add-br", "br0", "--", "set", "bridge", "br0",
				     "datapath_type=netdev", NULL };

		vsctl(init);
		vsctl(cfg);
		start_vswitchd();
		vsctl(br);     /* waits until vswitchd made it */
	}
	snprintf(mgmt, sizeof(mgmt), "unix:%s/br0.mgmt", dir);
	wait_mgmt();
}

/* Port name's traffic loops back (OpenFlow flows are not kept across a
 * vswitchd restart: without them br0 would act as a learning switch). */
static void loopback_flow(const char *name)
{
	char flow[96];
	const char *add_flow[] = { "ovs-ofctl", "add-flow", mgmt, flow, NULL };

	snprintf(flow, sizeof(flow), "in_port=%s,actions=in_port", name);
	run_ok(add_flow);
}

void ovt_add_port(const char *name, bool client, char *sock, size_t len)
{
	char opt[TS_PATH_MAX + 40], sname[64];
	const char *server_port[] = { "add-port", "br0", name, "--", "set", "Interface", name,
				      "type=dpdkvhostuser", NULL };
	const char *client_port[] = { "add-port", "br0", name, "--", "set", "Interface", name,
				      "type=dpdkvhostuserclient", opt, NULL };

	cr_assert(lt(int, nports, 8), "too many OVS ports");
	if (client) {
		snprintf(sname, sizeof(sname), "%s.sock", name);
		cr_assert(eq(int, ts_path(sname, sock, len), 0));
		snprintf(opt, sizeof(opt), "options:vhost-server-path=%s", sock);
		vsctl(client_port);
	} else {
		snprintf(sock, len, "%s/%s", dir, name);
		vsctl(server_port);
		cr_assert(eq(int, ts_wait_socket(sock, 10000), 0), "OVS made no socket %s", sock);
	}
	loopback_flow(name);
	snprintf(ports[nports++], sizeof(ports[0]), "%s", name);
}

int ovt_added(const char *sock)
{
	char path[TS_PATH_MAX + 32], line[1024], needle[TS_PATH_MAX + 32];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/vswitchd.log", dir);
	snprintf(needle, sizeof(needle), "vHost Device '%s' has been added", sock);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

void ovt_wait_added(const char *sock, int than, int timeout_ms)
{
	long end = ts_now_ms() + timeout_ms;

	while (ovt_added(sock) <= than && ts_now_ms() < end)
		usleep(50000);
	cr_assert(lt(int, than, ovt_added(sock)), "OVS did not add the vhost device %s within "
		  "%d ms", sock, timeout_ms);
}

void ovt_restart_vswitchd(void)
{
	const char *show[] = { "show", NULL };

	ts_kill(vswitchd);
	unlink(mgmt + 5);
	start_vswitchd();
	vsctl(show);
	wait_mgmt();
	for (int i = 0; i < nports; i++)
		loopback_flow(ports[i]);
}

/* What OVS counted on each port (drops by cause among them), on stderr: the
 * first thing to read when a test saw frames go missing. Never asserts. */
static void print_port_stats(void)
{
	const char *args[] = { "get", "Interface", NULL, "statistics", NULL };
	struct ts_run r;

	for (int i = 0; i < nports; i++) {
		args[2] = ports[i];
		if (vsctl_run(args, &r))
			continue;
		if (!r.status)
			fprintf(stderr, "ovs: %s statistics: %s", ports[i], r.out);
		ts_run_free(&r);
	}
}

void ovt_fini(void)
{
	char run[128];

	if (!prefix[0])
		return;
	print_port_stats();
	ts_kill(vswitchd);   /* before its DPDK run dir goes */
	vswitchd = -1;
	snprintf(run, sizeof(run), "/var/run/dpdk/%s", prefix);
	ts_rm_tree(run);
	prefix[0] = '\0';
}
