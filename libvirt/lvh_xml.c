/* SPDX-License-Identifier: MIT */
/* lvh_xml — vhostuser interfaces out of a libvirt domain XML.
 *
 * The document is read as a stream (libxml2's xmlReader): only the elements
 * vhm reads (<name>, <uuid>, each <interface> of the first <devices>) are
 * expanded into small trees, so a 4 MiB domain costs no tree of 100 000
 * nodes (a third of the time of a tree parse here), and a domain over the
 * interface cap is refused where the cap is crossed.
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
#include <libxml/xmlreader.h>
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

/* The first element child named `name` of the subtree the reader stands on
 * is looked at by expanding that subtree alone (xmlTextReaderExpand): the
 * document is read as a stream, so a large XML costs no tree, only the few
 * elements vhm reads. */
#define XML_BROKEN 1   /* walk's return: the document is not well-formed */

struct walk {
	xmlTextReaderPtr rd;
	struct lvh_domain *dom;
	size_t idx;                 /* interfaces seen, of any type */
	bool have_root, have_name, have_uuid, in_devices, done_devices;
	int err_line;               /* the parser's first error */
	char err_msg[160];
	char *err;
	size_t errlen;
};

static int read_text(struct walk *w, char *out, size_t outlen, const char *what)
{
	xmlNodePtr n = xmlTextReaderExpand(w->rd);

	if (!n)
		return XML_BROKEN;
	if (plain_text(n->children, out, outlen))
		return vhm_err(w->err, w->errlen, -EINVAL, "unreadable or too long <%s>", what);
	return 0;
}

static int interface(struct walk *w)
{
	struct lvh_domain *dom = w->dom;
	xmlNodePtr n = xmlTextReaderExpand(w->rd);
	char type[32];
	int rc;

	w->idx++;
	if (!n)
		return XML_BROKEN;
	if (attr(n, "type", type, sizeof(type)) != 1 || strcmp(type, "vhostuser"))
		return 0;
	if (dom->nifaces == LVH_IFACES_MAX)
		return vhm_err(w->err, w->errlen, -E2BIG, "more than %d vhostuser interfaces",
			       LVH_IFACES_MAX);
	if ((rc = parse_iface(n, w->idx - 1, &dom->ifaces[dom->nifaces], w->err, w->errlen)))
		return rc;
	dom->nifaces++;
	return 0;
}

/* One element start at depth 1 (a child of <domain>) or 2 (of <devices>). */
static int element(struct walk *w, int depth, const char *name)
{
	if (depth == 1) {
		w->in_devices = false;
		if (!strcmp(name, "name") && !w->have_name) {
			w->have_name = true;
			return read_text(w, w->dom->name, sizeof(w->dom->name), "name");
		}
		if (!strcmp(name, "uuid") && !w->have_uuid) {
			w->have_uuid = true;
			return read_text(w, w->dom->uuid, sizeof(w->dom->uuid), "uuid");
		}
		if (!strcmp(name, "devices") && !w->done_devices)
			w->in_devices = w->done_devices = true;
		return 0;
	}
	return w->in_devices && !strcmp(name, "interface") ? interface(w) : 0;
}

/* Walk the whole document (it must be well-formed to its end), looking at the
 * root, its <name>, <uuid> and the interfaces of its first <devices>.  0,
 * XML_BROKEN, or -errno with w->err. */
static int walk(struct walk *w)
{
	int rc, depth;

	while ((rc = xmlTextReaderRead(w->rd)) == 1) {
		const char *name;

		if (xmlTextReaderNodeType(w->rd) != XML_READER_TYPE_ELEMENT)
			continue;
		depth = xmlTextReaderDepth(w->rd);
		name = (const char *)xmlTextReaderConstLocalName(w->rd);
		if (depth == 0 && (!name || strcmp(name, "domain")))
			return vhm_err(w->err, w->errlen, -EINVAL, "not a domain XML (root is <%s>)",
				       name ? name : "nothing");
		w->have_root = true;
		if (depth == 0 || depth > 2)
			continue;
		if ((rc = element(w, depth, name)))
			return rc;
	}
	return rc ? XML_BROKEN : 0;
}

static void quiet_errors(void *ctx, xmlErrorPtr e)
{
	(void)ctx, (void)e;
}

/* The reader's errors: keep the first, for the one-line message. */
static void keep_error(void *arg, xmlErrorPtr e)
{
	struct walk *w = arg;

	if (w->err_msg[0] || !e || e->level < XML_ERR_ERROR)
		return;
	w->err_line = e->line;
	snprintf(w->err_msg, sizeof(w->err_msg), "%s", e->message ? e->message : "not well-formed");
	w->err_msg[strcspn(w->err_msg, "\n")] = '\0';
}

int lvh_xml_parse(const char *xml, size_t len, struct lvh_domain *dom, char *err, size_t errlen)
{
	/* No NOENT (entities stay references), no DTDLOAD/DTDATTR, no HUGE. */
	const int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
			 XML_PARSE_NOCDATA;
	struct walk w = { .dom = dom, .err = err, .errlen = errlen };
	int rc;

	memset(dom, 0, sizeof(*dom));
	if (len > LVH_XML_MAX)
		return vhm_err(err, errlen, -E2BIG,
			       "domain XML of %zu bytes is over the %d byte limit", len, LVH_XML_MAX);
	if (len == 0)
		return vhm_err(err, errlen, -EINVAL, "empty domain XML");
	xmlSetStructuredErrorFunc(NULL, quiet_errors);
	w.rd = xmlReaderForMemory(xml, (int)len, "domain.xml", NULL, opts);
	if (!w.rd)
		return vhm_err(err, errlen, -ENOMEM, "out of memory");
	xmlTextReaderSetStructuredErrorHandler(w.rd, keep_error, &w);
	rc = walk(&w);
	if (rc == XML_BROKEN)
		rc = vhm_err(err, errlen, -EINVAL, "domain XML: line %d: %s", w.err_line,
			     w.err_msg[0] ? w.err_msg : "not well-formed");
	else if (!rc && !w.have_root)
		rc = vhm_err(err, errlen, -EINVAL, "not a domain XML (root is <nothing>)");
	xmlFreeTextReader(w.rd);
	return rc;
}

const char *lvh_mode_name(enum lvh_mode m)
{
	return m == LVH_MODE_SERVER ? "server" : "client";
}
