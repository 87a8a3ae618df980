/* SPDX-License-Identifier: MIT */
/* The libvirt-watch daemon against libvirt's test driver (test:///default):
 * the daemon runs in a thread of the test process, because test:///default
 * is one shared in-memory host per process, so the domains this test
 * defines, starts and suspends through the API are the ones the daemon sees
 * events for.  Its control socket is read with the control.h client.
 * The test driver has no job stats, dirty-rate or migration (see
 * test_libvirt_real.c for those); an incoming migration is stood in for with
 * lvd_inject_lifecycle, which queues exactly what libvirt's callback queues. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "lvd_daemon.h"
#include "util.h"

static char run_dir[64];
static struct lvd *daemon_;
static pthread_t daemon_tid;
static struct ctl_client *cli;
static virConnectPtr conn;

static void *run_daemon(void *arg)
{
	lvd_run(arg);
	return NULL;
}

static void start_daemon(const char *uplink, enum lvh_announce who)
{
	struct lvd_opts o = { .uri = "test:///default", .run_dir = run_dir, .uplink = uplink,
			      .poll_ms = 50, .idle_poll_ms = 100 };
	char err[256];
	json_t *ret = NULL;

	o.conf.announce = who;
	snprintf(run_dir, sizeof(run_dir), "/tmp/vhm-lvd.XXXXXX");
	cr_assert(not(eq(ptr, mkdtemp(run_dir), 0)));
	cr_assert(eq(int, lvd_open(&daemon_, &o, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, pthread_create(&daemon_tid, NULL, run_daemon, daemon_), 0));
	cr_assert(eq(int, ctl_client_open(&cli, run_dir, "libvirt", 2000, err, sizeof(err)), 0),
		  "%s", err);
	cr_assert(eq(int, ctl_client_call(cli, "subscribe", NULL, &ret, err, sizeof(err), 2000), 0),
		  "%s", err);
	json_decref(ret);
	conn = virConnectOpen("test:///default");
	cr_assert(not(eq(ptr, conn, 0)));
}

static void init(void)
{
	start_daemon(NULL, LVH_ANNOUNCE_VHM);
}

static void fini(void)
{
	char cmd[128];

	ctl_client_close(cli);
	if (daemon_) {
		lvd_request_stop(daemon_);
		pthread_join(daemon_tid, NULL);
		lvd_close(daemon_);
	}
	if (conn)
		virConnectClose(conn);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", run_dir);
	(void)!system(cmd);
}

/* The next event named `name` about `domain` (others are skipped); new ref. */
static json_t *wait_event(const char *name, const char *domain, int timeout_ms)
{
	long end = (long)(vhm_now_ns() / 1000000) + timeout_ms;

	for (;;) {
		long left = end - (long)(vhm_now_ns() / 1000000);
		json_t *ev = NULL;

		if (left <= 0 || ctl_client_next_event(cli, &ev, (int)left))
			return NULL;
		const char *n = json_string_value(json_object_get(ev, "event"));
		json_t *data = json_object_get(ev, "data");
		const char *d = json_string_value(json_object_get(data, "domain"));

		if (n && !strcmp(n, name) && (!domain || (d && !strcmp(d, domain)))) {
			json_incref(data);
			json_decref(ev);
			return data;
		}
		json_decref(ev);
	}
}

static void expect_lifecycle(const char *domain, const char *event, const char *detail)
{
	json_t *d = wait_event("lifecycle", domain, 3000);

	cr_assert(not(eq(ptr, d, 0)), "no lifecycle event %s/%s for %s", event, detail, domain);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(d, "event")), (char *)event));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(d, "detail")), (char *)detail));
	json_decref(d);
}

static const char vm_xml[] =
	"<domain type='test'><name>lvd-vm</name><memory>65536</memory><vcpu>1</vcpu>"
	"<os><type>hvm</type></os><devices>"
	"<interface type='vhostuser'><mac address='52:54:00:aa:bb:01'/>"
	"<source type='unix' path='/tmp/lvd-none.sock' mode='client'/>"
	"<model type='virtio'/></interface>"
	"</devices></domain>";

Test(libvirt_daemon, lifecycle_events_of_define_start_suspend_resume_destroy,
     .init = init, .fini = fini, .timeout = 30)
{
	virDomainPtr dom = virDomainDefineXML(conn, vm_xml);

	cr_assert(not(eq(ptr, dom, 0)), "%s", virGetLastErrorMessage());
	expect_lifecycle("lvd-vm", "defined", "added");
	cr_assert(eq(int, virDomainCreate(dom), 0));
	expect_lifecycle("lvd-vm", "started", "booted");
	cr_assert(eq(int, virDomainSuspend(dom), 0));
	expect_lifecycle("lvd-vm", "suspended", "paused");
	cr_assert(eq(int, virDomainResume(dom), 0));
	expect_lifecycle("lvd-vm", "resumed", "unpaused");
	cr_assert(eq(int, virDomainDestroy(dom), 0));
	expect_lifecycle("lvd-vm", "stopped", "destroyed");
	cr_assert(eq(int, virDomainUndefine(dom), 0));
	expect_lifecycle("lvd-vm", "undefined", "removed");
	virDomainFree(dom);
}

static int call(const char *cmd, json_t *args, json_t **ret, char *err, size_t errlen)
{
	int rc = ctl_client_call(cli, cmd, args, ret, err, errlen, 3000);

	json_decref(args);
	return rc;
}

Test(libvirt_daemon, commands_status_jobs_last_job_dirty_rate, .init = init, .fini = fini,
     .timeout = 30)
{
	json_t *ret = NULL;
	char err[256];

	cr_assert(eq(int, call("status", NULL, &ret, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(int, json_is_true(json_object_get(ret, "connected")), 1));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(ret, "uri")),
		     "test:///default"));
	json_decref(ret);

	cr_assert(eq(int, call("jobs", NULL, &ret, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(sz, json_array_size(json_object_get(ret, "jobs")), 0));
	json_decref(ret);

	cr_assert(eq(int, call("last-job", NULL, &ret, err, sizeof(err)), -EREMOTEIO));
	cr_assert(not(eq(ptr, strstr(err, "no completed job"), 0)), "%s", err);

	/* The test driver's own domain "test" runs, but cannot measure: the
	 * request is taken (libvirt is asked on a measuring thread, never on the
	 * one answering), and libvirt's refusal comes as the event's error. */
	json_t *d;

	cr_assert(eq(int, call("dirty-rate", json_pack("{s:s,s:i}", "domain", "test",
							"seconds", 1), &ret, err, sizeof(err)), 0),
		  "%s", err);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(ret, "status")),
		     "measuring"));
	json_decref(ret);
	d = wait_event("dirty-rate", "test", 5000);
	cr_assert(not(eq(ptr, d, 0)), "no dirty-rate event for test");
	cr_assert(not(eq(ptr, strstr(json_string_value(json_object_get(d, "error")) ?: "",
				     "not supported"), 0)), "error: %s",
		  json_string_value(json_object_get(d, "error")));
	json_decref(d);
	cr_assert(eq(int, call("dirty-rate", json_pack("{s:s,s:i}", "domain", "test",
							"seconds", 0), &ret, err, sizeof(err)),
		     -EREMOTEIO));
	cr_assert(not(eq(ptr, strstr(err, "seconds"), 0)), "%s", err);
	cr_assert(eq(int, call("dirty-rate", json_pack("{s:s,s:b}", "domain", "test",
							"bogus", 1), &ret, err, sizeof(err)),
		     -EREMOTEIO));
	cr_assert(eq(int, call("dirty-rate", json_pack("{s:s}", "domain", "no-such-vm"),
			       &ret, err, sizeof(err)), 0), "%s", err);
	json_decref(ret);
	d = wait_event("dirty-rate", "no-such-vm", 5000);
	cr_assert(not(eq(ptr, d, 0)), "no dirty-rate event for no-such-vm");
	cr_assert(not(eq(ptr, strstr(json_string_value(json_object_get(d, "error")) ?: "",
				     "no-such-vm"), 0)), "error: %s",
		  json_string_value(json_object_get(d, "error")));
	json_decref(d);
	cr_assert(eq(int, call("dirty-rate-result", json_pack("{s:s}", "domain", "test"),
			       &ret, err, sizeof(err)), -EREMOTEIO));
}

Test(libvirt_daemon, hook_events_arrive_from_the_hook_binary, .init = init, .fini = fini,
     .timeout = 30)
{
	char vhm[256], xml_path[128], cmd[768];
	const char *build = getenv("VHM_BUILD") ? getenv("VHM_BUILD") : "build";
	FILE *f;
	json_t *d;

	snprintf(vhm, sizeof(vhm), "%s/vhm", build);
	if (access(vhm, X_OK))
		cr_skip("%s not built", vhm);
	snprintf(xml_path, sizeof(xml_path), "%s/vm.xml", run_dir);
	f = fopen(xml_path, "w");
	fputs(vm_xml, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "'%s' hook -d '%s' -- lvd-vm started begin - < '%s'", vhm,
		 run_dir, xml_path);
	cr_assert(eq(int, system(cmd), 0));
	d = wait_event("hook", "lvd-vm", 3000);
	cr_assert(not(eq(ptr, d, 0)), "no hook event");
	cr_assert(eq(str, (char *)json_string_value(json_object_get(d, "operation")), "started"));
	cr_assert(eq(sz, json_array_size(json_object_get(d, "interfaces")), 1));
	json_decref(d);
}

static void init_lo(void)
{
	start_daemon("lo", LVH_ANNOUNCE_VHM);
}

static void init_lo_backend(void)
{
	start_daemon("lo", LVH_ANNOUNCE_BACKEND);
}

Test(libvirt_daemon, incoming_migration_announces_vhostuser_macs_on_the_uplink,
     .init = init_lo, .fini = fini, .timeout = 30)
{
	virDomainPtr dom = virDomainDefineXML(conn, vm_xml);
	json_t *d;

	cr_assert(not(eq(ptr, dom, 0)), "%s", virGetLastErrorMessage());
	expect_lifecycle("lvd-vm", "defined", "added");
	lvd_inject_lifecycle(daemon_, "lvd-vm", VIR_DOMAIN_EVENT_RESUMED,
			     VIR_DOMAIN_EVENT_RESUMED_MIGRATED);
	expect_lifecycle("lvd-vm", "resumed", "migrated");
	d = wait_event("announce", "lvd-vm", 5000);
	cr_assert(not(eq(ptr, d, 0)), "no announce event");
	cr_assert(eq(ptr, json_object_get(d, "error"), 0), "%s",
		  json_string_value(json_object_get(d, "error")));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(d, "uplink")), "lo"));
	cr_assert(eq(int, (int)json_integer_value(json_object_get(d, "rounds")), 5));
	cr_assert(eq(sz, json_array_size(json_object_get(d, "macs")), 1));
	cr_assert(eq(str, (char *)json_string_value(json_array_get(json_object_get(d, "macs"), 0)),
		     "52:54:00:aa:bb:01"));
	json_decref(d);
	virDomainUndefine(dom);
	virDomainFree(dom);
}

Test(libvirt_daemon, no_announce_when_policy_says_the_backend_does_it,
     .init = init_lo_backend, .fini = fini, .timeout = 30)
{
	virDomainPtr dom = virDomainDefineXML(conn, vm_xml);

	cr_assert(not(eq(ptr, dom, 0)));
	expect_lifecycle("lvd-vm", "defined", "added");
	lvd_inject_lifecycle(daemon_, "lvd-vm", VIR_DOMAIN_EVENT_RESUMED,
			     VIR_DOMAIN_EVENT_RESUMED_MIGRATED);
	expect_lifecycle("lvd-vm", "resumed", "migrated");
	cr_assert(eq(ptr, wait_event("announce", NULL, 1500), 0));
	virDomainUndefine(dom);
	virDomainFree(dom);
}
