/* SPDX-License-Identifier: MIT */
/* fuzz_hook — what libvirt's QEMU hook reads from outside: the operator's
 * policy file (lvh_conf), the domain XML libvirt writes to its stdin
 * (lvh_xml) and the verdict drawn from both (lvh_policy_check).
 *
 * Input: byte 0 picks the operation (prepare, start, migrate, ...), then the
 * policy file's text up to the first NUL byte, then the XML.  The policy
 * text is read through a memfd's /proc path, as the hook reads its file.
 * What must hold: no crash, no leak, no sanitizer report; a refusal comes
 * with its one-line reason. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "lvh_conf.h"
#include "lvh_hook.h"
#include "lvh_xml.h"

static struct lvh_domain dom;   /* large: the interface table */

static void policy(struct lvh_conf *c, const uint8_t *text, size_t n)
{
	char path[64], err[256];
	int fd = memfd_create("vhm-fuzz-conf", MFD_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, text, n) == (ssize_t)n) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		lvh_conf_load(c, path, err, sizeof(err));
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct lvh_conf c;
	const uint8_t *nul;
	char err[256], why[256];
	size_t n;

	if (!len)
		return 0;
	nul = memchr(data + 1, 0, len - 1);
	n = nul ? (size_t)(nul - data - 1) : len - 1;
	memset(&c, 0, sizeof(c));
	policy(&c, data + 1, n);
	if (!nul)
		return 0;
	if (lvh_xml_parse((const char *)nul + 1, len - (size_t)(nul + 1 - data), &dom, err,
			  sizeof(err)))
		return 0;
	lvh_policy_check(&c, (enum lvh_op)(data[0] % LVH_OP_COUNT), &dom, why, sizeof(why));
	return 0;
}

static void seed(const char *name, uint8_t op, const char *conf, const char *xml)
{
	struct fz_seed s = { .b = { 0 }, .n = 0 };

	fz_put(&s, &op, 1);
	fz_put(&s, conf, strlen(conf) + 1);
	fz_put(&s, xml, strlen(xml));
	fz_seed_save(&s, name);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	if (!fz_seed_dir())
		return 0;
	seed("prepare-client", LVH_OP_PREPARE,
	     "# policy\nrequire_backend_socket = yes\nannounce = vhm\nverbose = no\n",
	     "<domain type='kvm'><name>vm1</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809"
	     "</uuid><devices><interface type='vhostuser'><mac address='52:54:00:12:34:56'/>"
	     "<source type='unix' path='/run/vhm-fuzz/none.sock' mode='client'/>"
	     "<model type='virtio'/><driver queues='4'/><alias name='net0'/></interface>"
	     "<interface type='network'><source network='default'/></interface>"
	     "</devices></domain>");
	seed("migrate-server", LVH_OP_MIGRATE, "announce = backend\n",
	     "<domain><name>vm2</name><devices><interface type='vhostuser'>"
	     "<source type='unix' path='/tmp/s' mode='server'/></interface></devices></domain>");
	exit(0);
}
