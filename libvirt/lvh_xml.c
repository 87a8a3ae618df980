/* SPDX-License-Identifier: MIT */
/* lvh_xml — vhostuser interfaces out of a libvirt domain XML.
 *
 * Text is read only from plain text nodes: libxml2's convenience getters
 * (xmlNodeGetContent, xmlGetProp) expand entity references on the way out,
 * which would undo the point of parsing without XML_PARSE_NOENT.  An entity
 * reference where vhm reads a value makes the document invalid. */
#include "lvh_xml.h"
#include "util.h"

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Concatenate the text-node children of `first` into out.  0, -EINVAL for an
 * entity reference (or anything but text/CDATA), -ENAMETOOLONG if too long. */
static int plain_text(const xmlNode *first, char *out, size_t outlen)
{
	size_t len = 0;

	out[0] = '\0';
	for (const xmlNode *n = first; n; n = n->next) {
		size_t l;

		if (n->type != XML_TEXT_NODE && n->type != XML_CDATA_SECTION_NODE)
			return -EINVAL;
		l = n->content ? strlen((const char *)n->content) : 0;
		if (len + l >= outlen)
			return -ENAMETOOLONG;
		memcpy(out + len, n->content, l);
		len += l;
		out[len] = '\0';
	}
	return 0;
}

/* Attribute `name` of node; 1 found, 0 absent, or plain_text's -errno. */
static int attr(const xmlNode *node, const char *name, char *out, size_t outlen)
{
	for (const xmlAttr *a = node->properties; a; a = a->next) {
		if (a->ns || strcmp((const char *)a->name, name))
			continue;
		int rc = plain_text(a->children, out, outlen);

		return rc ? rc : 1;
	}
	out[0] = '\0';
	return 0;
}

static bool is_elem(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static const xmlNode *child(const xmlNode *parent, const char *name)
{
	for (const xmlNode *n = parent->children; n; n = n->next)
		if (is_elem(n, name))
			return n;
	return NULL;
}

static int parse_iface(const xmlNode *node, size_t idx, struct lvh_iface *ifc,
		       char *err, size_t errlen)
{
	const xmlNode *n;
	char buf[64];
	int rc;

	ifc->queues = 1;
	ifc->mode = LVH_MODE_CLIENT;
	if ((n = child(node, "source"))) {
		rc = attr(n, "path", ifc->path, sizeof(ifc->path));
		if (rc == -ENAMETOOLONG)
			return vhm_err(err, errlen, rc,
				       "interface %zu: socket path longer than %d bytes", idx,
				       LVH_PATH_MAX - 1);
		if (rc < 0)
			return vhm_err(err, errlen, rc, "interface %zu: unreadable socket path", idx);
		rc = attr(n, "mode", buf, sizeof(buf));
		if (rc < 0 || (rc == 1 && strcmp(buf, "client") && strcmp(buf, "server")))
			return vhm_err(err, errlen, -EINVAL,
				       "interface %zu: source mode is neither client nor server", idx);
		if (rc == 1 && !strcmp(buf, "server"))
			ifc->mode = LVH_MODE_SERVER;
	}
	if ((n = child(node, "mac"))) {
		rc = attr(n, "address", buf, sizeof(buf));
		if (rc < 0 || (rc == 1 && vhm_parse_mac(buf, ifc->mac)))
			return vhm_err(err, errlen, -EINVAL, "interface %zu: bad MAC address '%s'",
				       idx, rc < 0 ? "?" : buf);
		ifc->has_mac = rc == 1;
	}
	if ((n = child(node, "driver"))) {
		uint64_t q;

		rc = attr(n, "queues", buf, sizeof(buf));
		if (rc < 0 || (rc == 1 && (vhm_parse_u64(buf, &q) || q < 1 || q > 256)))
			return vhm_err(err, errlen, -EINVAL, "interface %zu: bad queue count '%s'",
				       idx, rc < 0 ? "?" : buf);
		if (rc == 1)
			ifc->queues = (unsigned)q;
	}
	if ((n = child(node, "alias")) && attr(n, "name", ifc->alias, sizeof(ifc->alias)) < 0)
		ifc->alias[0] = '\0';
	return 0;
}

static int parse_domain(const xmlNode *root, struct lvh_domain *dom, char *err, size_t errlen)
{
	const xmlNode *n, *devs;
	size_t idx = 0;
	int rc;

	if (!root || !is_elem(root, "domain"))
		return vhm_err(err, errlen, -EINVAL, "not a domain XML (root is <%s>)",
			       root ? (const char *)root->name : "nothing");
	if ((n = child(root, "name")) && plain_text(n->children, dom->name, sizeof(dom->name)))
		return vhm_err(err, errlen, -EINVAL, "unreadable or too long <name>");
	if ((n = child(root, "uuid")) && plain_text(n->children, dom->uuid, sizeof(dom->uuid)))
		return vhm_err(err, errlen, -EINVAL, "unreadable <uuid>");
	devs = child(root, "devices");
	if (!devs)
		return 0;
	for (n = devs->children; n; n = n->next) {
		char type[32];

		if (!is_elem(n, "interface"))
			continue;
		idx++;
		rc = attr(n, "type", type, sizeof(type));
		if (rc != 1 || strcmp(type, "vhostuser"))
			continue;
		if (dom->nifaces == LVH_IFACES_MAX)
			return vhm_err(err, errlen, -E2BIG, "more than %d vhostuser interfaces",
				       LVH_IFACES_MAX);
		rc = parse_iface(n, idx - 1, &dom->ifaces[dom->nifaces], err, errlen);
		if (rc)
			return rc;
		dom->nifaces++;
	}
	return 0;
}

static void quiet_errors(void *ctx, xmlErrorPtr e)
{
	(void)ctx, (void)e;
}

int lvh_xml_parse(const char *xml, size_t len, struct lvh_domain *dom, char *err, size_t errlen)
{
	/* No NOENT (entities stay references), no DTDLOAD/DTDATTR, no HUGE. */
	const int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
			 XML_PARSE_NOCDATA;
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;
	int rc;

	memset(dom, 0, sizeof(*dom));
	if (len > LVH_XML_MAX)
		return vhm_err(err, errlen, -E2BIG,
			       "domain XML of %zu bytes is over the %d byte limit", len, LVH_XML_MAX);
	if (len == 0)
		return vhm_err(err, errlen, -EINVAL, "empty domain XML");
	xmlSetStructuredErrorFunc(NULL, quiet_errors);
	ctxt = xmlNewParserCtxt();
	if (!ctxt)
		return vhm_err(err, errlen, -ENOMEM, "out of memory");
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "domain.xml", NULL, opts);
	if (!doc || !ctxt->wellFormed) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		char msg[160] = "not well-formed";

		if (e && e->message) {
			snprintf(msg, sizeof(msg), "%s", e->message);
			msg[strcspn(msg, "\n")] = '\0';
		}
		rc = vhm_err(err, errlen, -EINVAL, "domain XML: line %d: %s", e ? e->line : 0, msg);
		goto out;
	}
	rc = parse_domain(xmlDocGetRootElement(doc), dom, err, errlen);
out:
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return rc;
}

const char *lvh_mode_name(enum lvh_mode m)
{
	return m == LVH_MODE_SERVER ? "server" : "client";
}
