/* SPDX-License-Identifier: MIT */
/* lvh_xml — the parts of a libvirt domain XML that vhm cares about: the
 * domain's name and uuid, and each <interface type='vhostuser'> with its
 * socket path, mode, MAC and queue count.
 *
 * The XML comes from libvirt (the hook's stdin, virDomainGetXMLDesc), but the
 * hook runs as root on whatever a file or a caller hands it, so parsing is
 * hostile-input safe: at most LVH_XML_MAX bytes, no entity substitution
 * (no XML_PARSE_NOENT: "billion laughs" stays unexpanded), no network
 * (XML_PARSE_NONET), no DTD loading, and libxml2's default size limits
 * (no XML_PARSE_HUGE).  libxml2's own error printing is silenced; the first
 * error becomes the one-line message. */
#ifndef VHM_LVH_XML_H
#define VHM_LVH_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LVH_XML_MAX     (4 * 1024 * 1024) /* bytes of domain XML accepted */
#define LVH_IFACES_MAX  64                /* vhostuser interfaces per domain */
#define LVH_PATH_MAX    108               /* fits a sockaddr_un */
#define LVH_NAME_MAX    256

/* <interface type='vhostuser'><source type='unix' path=P mode=M/>. */
enum lvh_mode {
	LVH_MODE_CLIENT, /* QEMU connects: the backend listens on path */
	LVH_MODE_SERVER, /* QEMU listens on path: the backend connects */
};

struct lvh_iface {
	char path[LVH_PATH_MAX];   /* "" if the interface has no unix source */
	enum lvh_mode mode;
	bool has_mac;
	uint8_t mac[6];
	unsigned queues;           /* <driver queues=N/>, 1 when absent */
	char alias[64];            /* <alias name=.../>, "" when absent */
};

struct lvh_domain {
	char name[LVH_NAME_MAX];
	char uuid[40];             /* "" when absent */
	size_t nifaces;
	struct lvh_iface ifaces[LVH_IFACES_MAX];
};

/* Parse len bytes of domain XML into *dom (zeroed first).  0, or -EINVAL
 * (not XML, not a <domain>, an interface with a bad MAC or queue count),
 * -E2BIG (longer than LVH_XML_MAX, or more than LVH_IFACES_MAX vhostuser
 * interfaces), -ENAMETOOLONG (a socket path that does not fit a sockaddr_un),
 * with a one-line reason in err.  Interfaces of other types are skipped. */
int lvh_xml_parse(const char *xml, size_t len, struct lvh_domain *dom, char *err, size_t errlen);

const char *lvh_mode_name(enum lvh_mode m);

#endif
