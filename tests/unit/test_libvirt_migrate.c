/* SPDX-License-Identifier: MIT */
/* lvm_migrate's pieces that need no running migration: the plan read from a
 * domain of libvirt's test driver (test:///default, private to this
 * process) with and without destination XML, and libvirt's job statistics
 * as the progress line `vhm migrate` prints (lvm_progress_json + mig_print). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>

#include "lv_event.h"
#include "lvm_migrate.h"
#include "mig_print.h"

#define IFACE(mac, path) \
	"<interface type='vhostuser'><mac address='" mac "'/>" \
	"<source type='unix' path='" path "' mode='client'/><model type='virtio'/></interface>"
#define DOMAIN(name, ifaces) \
	"<domain type='test'><name>" name "</name><memory unit='MiB'>64</memory>" \
	"<os><type>hvm</type></os><devices>" ifaces "</devices></domain>"

static virConnectPtr conn;
static virDomainPtr dom;

static void setup(void)
{
	char err[256];

	cr_assert(eq(int, lv_event_init(err, sizeof(err)), 0), "%s", err);
	conn = virConnectOpen("test:///default");
	cr_assert(not(eq(ptr, conn, 0)));
	dom = virDomainDefineXML(conn, DOMAIN("two", IFACE("52:54:00:00:00:01", "/run/a1.sock")
					     IFACE("52:54:00:00:00:02", "/run/a2.sock")));
	cr_assert(not(eq(ptr, dom, 0)), "define: %s", virGetLastErrorMessage());
}

static void teardown(void)
{
	if (dom) {
		virDomainUndefine(dom);
		virDomainFree(dom);
	}
	dom = NULL;
	if (conn)
		virConnectClose(conn);
	conn = NULL;
}

TestSuite(libvirt_migrate, .init = setup, .fini = teardown);

Test(libvirt_migrate, plan_without_destination_xml_keeps_the_sockets)
{
	static struct lvm_plan p;
	char err[256];

	cr_assert(eq(int, lvm_plan_read(dom, NULL, &p, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(str, p.name, "two"));
	cr_assert(eq(u64, p.memory_bytes, 64ULL << 20));
	cr_assert(eq(sz, p.nifaces, 2));
	cr_assert(eq(str, p.ifaces[1].mac, "52:54:00:00:00:02"));
	cr_assert(eq(str, p.ifaces[1].src_path, "/run/a2.sock"));
	cr_assert(eq(str, p.ifaces[1].dst_path, "/run/a2.sock"));
}

Test(libvirt_migrate, destination_sockets_are_matched_by_mac_not_order)
{
	static struct lvm_plan p;
	char err[256];
	const char *dest = DOMAIN("two", IFACE("52:54:00:00:00:02", "/run/b2.sock")
					 IFACE("52:54:00:00:00:01", "/run/b1.sock"));

	cr_assert(eq(int, lvm_plan_read(dom, dest, &p, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(str, p.ifaces[0].dst_path, "/run/b1.sock"));
	cr_assert(eq(str, p.ifaces[1].dst_path, "/run/b2.sock"));
}

Test(libvirt_migrate, destination_xml_missing_an_interface_is_refused)
{
	static struct lvm_plan p;
	char err[256];
	const char *dest = DOMAIN("two", IFACE("52:54:00:00:00:09", "/run/b9.sock"));

	cr_assert(eq(int, lvm_plan_read(dom, dest, &p, err, sizeof(err)), -EINVAL));
	cr_assert(not(eq(ptr, strstr(err, "52:54:00:00:00:02"), 0)), "%s", err);
}

Test(libvirt_migrate, bad_destination_xml_is_named)
{
	static struct lvm_plan p;
	char err[256];

	cr_assert(lt(int, lvm_plan_read(dom, "<domain", &p, err, sizeof(err)), 0));
	cr_assert(not(eq(ptr, strstr(err, "destination XML"), 0)), "%s", err);
}

Test(libvirt_migrate, job_stats_print_as_the_progress_line)
{
	virTypedParameterPtr prm = NULL;
	int n = 0, max = 0;
	struct lvd_job job;
	char line[256];
	json_t *pr;

	virTypedParamsAddULLong(&prm, &n, &max, VIR_DOMAIN_JOB_MEMORY_TOTAL, 100ULL << 20);
	virTypedParamsAddULLong(&prm, &n, &max, VIR_DOMAIN_JOB_MEMORY_PROCESSED, 40ULL << 20);
	virTypedParamsAddULLong(&prm, &n, &max, VIR_DOMAIN_JOB_MEMORY_REMAINING, 50ULL << 20);
	virTypedParamsAddULLong(&prm, &n, &max, VIR_DOMAIN_JOB_MEMORY_BPS, 10ULL << 20);
	virTypedParamsAddULLong(&prm, &n, &max, VIR_DOMAIN_JOB_MEMORY_ITERATION, 2);
	virTypedParamsAddULLong(&prm, &n, &max, VIR_DOMAIN_JOB_DOWNTIME, 30);
	lvd_job_decode(&job, VIR_DOMAIN_JOB_UNBOUNDED, prm, n);
	virTypedParamsFree(prm, n);
	pr = lvm_progress_json(&job);
	migp_progress_text(pr, line, sizeof(line));
	json_decref(pr);
	cr_assert(eq(str, line, "pass 2,  50% of 100.0 MiB (sent 40.0 MiB, 50.0 MiB remaining), "
		     "10.0 MiB/s, expected downtime 30 ms"));
}
