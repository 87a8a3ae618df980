/* SPDX-License-Identifier: MIT */
/* lvh_xml: vhostuser interfaces out of domain XML — the shapes libvirt
 * writes, malformed documents, and hostile ones (entity expansion, external
 * entities, size, depth), each with the reason it must give. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool contains(const char *s, const char *w)
{
	return strstr(s, w) != NULL;
}

#include "lvh_xml.h"
#include "util.h"

static struct lvh_domain dom;
static char err[256];

static int parse(const char *xml)
{
	err[0] = '\0';
	return lvh_xml_parse(xml, strlen(xml), &dom, err, sizeof(err));
}

/* The shape libvirt 9.0 writes for a running domain (trimmed). */
static const char good_xml[] =
	"<domain type='qemu' id='3'>\n"
	"  <name>vm1</name>\n"
	"  <uuid>0f8fad5b-d9cb-469f-a165-70867728950e</uuid>\n"
	"  <memory unit='KiB'>262144</memory>\n"
	"  <devices>\n"
	"    <interface type='network'><mac address='52:54:00:00:00:01'/>"
	"<source network='default'/></interface>\n"
	"    <interface type='vhostuser'>\n"
	"      <mac address='52:54:00:12:34:56'/>\n"
	"      <source type='unix' path='/run/vhost/vm1-0.sock' mode='client'/>\n"
	"      <model type='virtio'/>\n"
	"      <driver queues='4'/>\n"
	"      <alias name='net1'/>\n"
	"    </interface>\n"
	"    <interface type='vhostuser'>\n"
	"      <mac address='52:54:00:ab:cd:ef'/>\n"
	"      <source type='unix' path='/run/vhost/vm1-1.sock' mode='server'/>\n"
	"      <model type='virtio'/>\n"
	"    </interface>\n"
	"  </devices>\n"
	"</domain>\n";

Test(libvirt_xml, vhostuser_interfaces_with_path_mode_mac_queues)
{
	static uint8_t mac0[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	static uint8_t mac1[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

	cr_assert(eq(int, parse(good_xml), 0), "%s", err);
	cr_assert(eq(str, dom.name, "vm1"));
	cr_assert(eq(str, dom.uuid, "0f8fad5b-d9cb-469f-a165-70867728950e"));
	cr_assert(eq(sz, dom.nifaces, 2), "the network interface must be skipped");
	cr_assert(eq(str, dom.ifaces[0].path, "/run/vhost/vm1-0.sock"));
	cr_assert(eq(int, dom.ifaces[0].mode, LVH_MODE_CLIENT));
	cr_assert(dom.ifaces[0].has_mac);
	cr_assert(eq(u8[6], dom.ifaces[0].mac, mac0));
	cr_assert(eq(uint, dom.ifaces[0].queues, 4));
	cr_assert(eq(str, dom.ifaces[0].alias, "net1"));
	cr_assert(eq(str, dom.ifaces[1].path, "/run/vhost/vm1-1.sock"));
	cr_assert(eq(int, dom.ifaces[1].mode, LVH_MODE_SERVER));
	cr_assert(eq(u8[6], dom.ifaces[1].mac, mac1));
	cr_assert(eq(uint, dom.ifaces[1].queues, 1), "no <driver queues> means 1");
	cr_assert(eq(str, dom.ifaces[1].alias, ""));
}

Test(libvirt_xml, domain_without_devices_or_mac_is_fine)
{
	cr_assert(eq(int, parse("<domain><name>a</name></domain>"), 0), "%s", err);
	cr_assert(eq(sz, dom.nifaces, 0));
	cr_assert(eq(int, parse("<domain><name>b</name><devices><interface type='vhostuser'>"
				"<source type='unix' path='/x.sock'/></interface></devices>"
				"</domain>"), 0), "%s", err);
	cr_assert(eq(sz, dom.nifaces, 1));
	cr_assert(not(dom.ifaces[0].has_mac));
	cr_assert(eq(int, dom.ifaces[0].mode, LVH_MODE_CLIENT), "libvirt's default mode");
}

struct bad_case {
	const char *xml;
	int rc;
	const char *why; /* a word the message must contain */
};

static const struct bad_case bad_cases[] = {
	{ "", -EINVAL, "empty" },
	{ "not xml at all", -EINVAL, "line" },
	{ "<domain><name>x</name>", -EINVAL, "line" },
	{ "<network><name>x</name></network>", -EINVAL, "network" },
	{ "<domain><devices><interface type='vhostuser'><mac address='52:54:zz:00:00:01'/>"
	  "</interface></devices></domain>", -EINVAL, "MAC" },
	{ "<domain><devices><interface type='vhostuser'><driver queues='0'/>"
	  "</interface></devices></domain>", -EINVAL, "queue" },
	{ "<domain><devices><interface type='vhostuser'><driver queues='4x'/>"
	  "</interface></devices></domain>", -EINVAL, "queue" },
	{ "<domain><devices><interface type='vhostuser'><source type='unix' path='/x' "
	  "mode='listen'/></interface></devices></domain>", -EINVAL, "mode" },
};

Test(libvirt_xml, malformed_documents_are_refused_with_a_reason)
{
	for (size_t i = 0; i < VHM_ARRAY_SIZE(bad_cases); i++) {
		int rc = parse(bad_cases[i].xml);

		cr_assert(eq(int, rc, bad_cases[i].rc), "case %zu: %s", i, err);
		cr_assert(contains(err, bad_cases[i].why), "case %zu: '%s' lacks '%s'", i, err,
			  bad_cases[i].why);
		cr_assert(not(contains(err, "\n")), "one line: %s", err);
	}
}

Test(libvirt_xml, socket_path_longer_than_sockaddr_un_is_refused)
{
	char xml[512], path[200];

	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(xml, sizeof(xml), "<domain><devices><interface type='vhostuser'><source "
				   "type='unix' path='%s'/></interface></devices></domain>", path);
	cr_assert(eq(int, parse(xml), -ENAMETOOLONG), "%s", err);
}

/* Ten levels of ten: 10^9 "lol"s if anything expanded them. */
static const char billion_laughs[] =
	"<?xml version='1.0'?>\n"
	"<!DOCTYPE domain [\n"
	" <!ENTITY lol 'lol'>\n"
	" <!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>\n"
	" <!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>\n"
	" <!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>\n"
	" <!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>\n"
	" <!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>\n"
	" <!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>\n"
	" <!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>\n"
	" <!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>\n"
	" <!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>\n"
	"]>\n"
	"<domain><name>&lol9;</name><devices><interface type='vhostuser'>"
	"<source type='unix' path='&lol9;'/></interface></devices></domain>\n";

Test(libvirt_xml, billion_laughs_is_not_expanded, .timeout = 10)
{
	uint64_t t0 = vhm_now_ns();
	int rc = parse(billion_laughs);
	uint64_t ms = (vhm_now_ns() - t0) / 1000000;

	/* Refused (libxml2 may see the amplification, or vhm an entity reference
	 * where it reads a value): never a name or path made of "lol"s. */
	cr_assert(eq(int, rc, -EINVAL), "rc %d name '%.20s'", rc, dom.name);
	cr_assert(not(contains(dom.name, "lol")));
	cr_assert(lt(u64, ms, 1000), "took %lu ms", (unsigned long)ms);
}

Test(libvirt_xml, external_entities_are_not_loaded)
{
	static const char xxe[] =
		"<?xml version='1.0'?>\n"
		"<!DOCTYPE domain [ <!ENTITY x SYSTEM 'file:///etc/passwd'> ]>\n"
		"<domain><name>&x;</name></domain>\n";
	int rc = parse(xxe);

	cr_assert(not(contains(dom.name, "root")), "the file was read: %s", dom.name);
	cr_assert(eq(int, rc, -EINVAL), "an entity where the name is read: %s", err);
}

Test(libvirt_xml, over_the_size_limit_is_refused_before_parsing)
{
	size_t len = LVH_XML_MAX + 1;
	char *xml = malloc(len);

	cr_assert(not(eq(ptr, xml, 0)));
	memset(xml, ' ', len);
	memcpy(xml, "<domain>", 8);
	cr_assert(eq(int, lvh_xml_parse(xml, len, &dom, err, sizeof(err)), -E2BIG));
	cr_assert(contains(err, "limit"), "%s", err);
	free(xml);
}

Test(libvirt_xml, deep_nesting_is_refused_without_xml_parse_huge, .timeout = 10)
{
	/* libxml2 stops at depth 256 unless XML_PARSE_HUGE is given. */
	size_t depth = 5000, len = 0;
	char *xml = malloc(depth * 7 + 64);

	cr_assert(not(eq(ptr, xml, 0)));
	len += (size_t)sprintf(xml, "<domain>");
	for (size_t i = 0; i < depth; i++)
		len += (size_t)sprintf(xml + len, "<a>");
	for (size_t i = 0; i < depth; i++)
		len += (size_t)sprintf(xml + len, "</a>");
	len += (size_t)sprintf(xml + len, "</domain>");
	cr_assert(eq(int, lvh_xml_parse(xml, len, &dom, err, sizeof(err)), -EINVAL));
	free(xml);
}

Test(libvirt_xml, more_interfaces_than_the_cap_is_refused)
{
	size_t cap = (LVH_IFACES_MAX + 1) * 64 + 64, len = 0;
	char *xml = malloc(cap);

	cr_assert(not(eq(ptr, xml, 0)));
	len += (size_t)sprintf(xml, "<domain><devices>");
	for (int i = 0; i <= LVH_IFACES_MAX; i++)
		len += (size_t)sprintf(xml + len, "<interface type='vhostuser'/>");
	len += (size_t)sprintf(xml + len, "</devices></domain>");
	cr_assert(eq(int, lvh_xml_parse(xml, len, &dom, err, sizeof(err)), -E2BIG), "%s", err);
	free(xml);
}

/* The document is read as a stream (no tree of it is built): a 3.8 MiB
 * domain with 24 000 other interfaces yields its two vhostuser ones, and a
 * document is refused at its 65th vhostuser interface without being read
 * further -- the garbage 1 MiB after it is never reached (a tree parser would
 * report it as not well-formed instead). */
Test(libvirt_xml, large_documents_are_read_as_a_stream)
{
	const char net[] = "<interface type='network'><mac address='52:54:00:00:00:01'/>"
			   "<source network='default'/><model type='virtio'/></interface>\n";
	const char vu[] = "<interface type='vhostuser'><source type='unix' path='/run/v.sock' "
			  "mode='server'/></interface>";
	size_t cap = 4 * 1024 * 1024, len = 0;
	char *xml = malloc(cap);

	cr_assert(not(eq(ptr, xml, 0)));
	len += (size_t)sprintf(xml, "<domain><name>big</name><devices>%s", vu);
	while (len + 2 * sizeof(net) + sizeof(vu) + 64 < 3800 * 1024)
		len += (size_t)sprintf(xml + len, "%s", net);
	len += (size_t)sprintf(xml + len, "%s</devices></domain>", vu);
	cr_assert(eq(int, lvh_xml_parse(xml, len, &dom, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(sz, dom.nifaces, 2));
	cr_assert(eq(str, dom.name, "big"));

	len = (size_t)sprintf(xml, "<domain><devices>");
	for (int i = 0; i <= LVH_IFACES_MAX; i++)
		len += (size_t)sprintf(xml + len, "%s", vu);
	while (len < 1024 * 1024)   /* far past what the parser reads ahead */
		len += (size_t)sprintf(xml + len, "%s", net);
	len += (size_t)sprintf(xml + len, "<<<& not xml");
	cr_assert(eq(int, lvh_xml_parse(xml, len, &dom, err, sizeof(err)), -E2BIG), "%s", err);
	free(xml);
}
