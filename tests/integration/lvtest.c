/* SPDX-License-Identifier: MIT */
/* lvtest — helpers of the real-libvirtd tests (test_libvirt_real.c,
 * test_libvirt_pair.c); see lvtest.h. */
#include "lvtest.h"
#include "support.h"
#include "util.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool lvt_on_path(const char *prog)
{
	const char *dirs[] = { "/usr/sbin", "/usr/bin", "/sbin", "/bin" };
	char p[256];

	for (size_t i = 0; i < VHM_ARRAY_SIZE(dirs); i++) {
		snprintf(p, sizeof(p), "%s/%s", dirs[i], prog);
		if (!access(p, X_OK))
			return true;
	}
	return false;
}

char *lvt_slurp(const char *path)
{
	FILE *f = fopen(path, "r"), *m;
	char *buf = NULL;
	size_t len = 0;
	int c;

	if (!f)
		return NULL;
	m = open_memstream(&buf, &len);
	if (!m) {
		fclose(f);
		return NULL;
	}
	while ((c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(m);
	fclose(f);
	return buf;
}

bool lvt_file_has(const char *path, const char *word)
{
	char *s = lvt_slurp(path);
	bool yes = s && strstr(s, word);

	free(s);
	return yes;
}

void lvt_guest(char *kernel, char *initrd, size_t len)
{
	char guest[PATH_MAX], script[PATH_MAX], rel[PATH_MAX + 16];
	struct ts_run r;

	snprintf(guest, sizeof(guest), "%s/guest", ts_build_dir());
	if (!realpath("scripts/mkguest.sh", script))
		cr_skip("scripts/mkguest.sh not found (run from the repository root)");
	const char *mk[] = { script, guest, NULL };

	cr_assert(eq(int, ts_run_cmd(mk, 120000, &r), 0));
	if (r.status)
		cr_skip("cannot build the test guest: %s", r.err);
	ts_run_free(&r);
	cr_assert(le(sz, PATH_MAX, len));
	snprintf(rel, sizeof(rel), "%s/vmlinuz", guest);
	cr_assert(not(eq(ptr, realpath(rel, kernel), 0)));
	snprintf(rel, sizeof(rel), "%s/initrd.img", guest);
	cr_assert(not(eq(ptr, realpath(rel, initrd), 0)));
}

void lvt_domain_xml(char *xml, size_t len, const char *name, unsigned mem_mib, const char *mac,
		    const char *kernel, const char *initrd, const char *sock, const char *console,
		    const char *args)
{
	int n = snprintf(xml, len,
		"<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
		"<name>%s</name><memory unit='MiB'>%u</memory><vcpu>1</vcpu>"
		"<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>"
		"<os><type arch='x86_64' machine='pc'>hvm</type><kernel>%s</kernel>"
		"<initrd>%s</initrd><cmdline>console=ttyS0 quiet%s%s</cmdline></os>"
		"<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
		"<interface type='vhostuser'><mac address='%s'/>"
		"<source type='unix' path='%s' mode='client'/><model type='virtio'/>"
		"<alias name='ua-net0'/></interface>"
		"<serial type='file'><source path='%s'/><target port='0'/></serial>"
		"<video><model type='none'/></video><memballoon model='none'/></devices>"
		"<qemu:override><qemu:device alias='ua-net0'><qemu:frontend>"
		"<qemu:property name='vectors' type='unsigned' value='0'/>"
		"</qemu:frontend></qemu:device></qemu:override></domain>",
		name, mem_mib, kernel, initrd, args ? " " : "", args ? args : "", mac, sock, console);

	cr_assert(lt(int, n, (int)len), "domain XML does not fit %zu bytes", len);
}

json_t *lvt_wait_event(struct ctl_client *c, const char *name, const char *key,
		       const char *value, int timeout_ms)
{
	long end = ts_now_ms() + timeout_ms;

	for (;;) {
		long left = end - ts_now_ms();
		json_t *ev = NULL;

		if (left <= 0 || ctl_client_next_event(c, &ev, (int)left))
			return NULL;
		const char *n = json_string_value(json_object_get(ev, "event"));
		json_t *data = json_object_get(ev, "data");
		const char *v = key ? json_string_value(json_object_get(data, key)) : NULL;

		if (n && !strcmp(n, name) && (!key || (v && !strcmp(v, value)))) {
			json_incref(data);
			json_decref(ev);
			return data;
		}
		json_decref(ev);
	}
}
