/* SPDX-License-Identifier: MIT */
/* lvtest — what the tests with a real libvirtd share (prefix lvt_): finding
 * libvirt's programs, the test guest (a Debian kernel and a busybox initramfs
 * built once by scripts/mkguest.sh), the domain XML of a tiny TCG guest with
 * one vhostuser interface, and waiting for an event of `vhm libvirt-watch`. */
#ifndef VHM_LVTEST_H
#define VHM_LVTEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ctl.h"

/* Is prog an executable in /usr/sbin, /usr/bin, /sbin or /bin?  (The
 * test's PATH may lack the sbin folders libvirtd lives in.) */
bool lvt_on_path(const char *prog);

/* The whole file, NUL-terminated, or NULL.  free() it. */
char *lvt_slurp(const char *path);

/* Does the file at path contain word? */
bool lvt_file_has(const char *path, const char *word);

/* The test guest's kernel and initrd (absolute paths), built under the
 * build dir on first use; skips the test when it cannot be built. */
void lvt_guest(char *kernel, char *initrd, size_t len);

/* The XML of domain name: a type='qemu' (TCG) guest of mem_mib MiB, shared
 * memfd memory, the test guest's kernel, one vhostuser interface (mode
 * client, MAC mac, alias ua-net0, MSI-X off: QEMU 7.2 under TCG crashes in
 * vhost_net_start with it) on sock, the serial console to console.  args
 * (NULL: none) go on the kernel command line after the console, e.g. the
 * guest's switch "vhm.dirty_mib=N" (scripts/mkguest.sh). */
void lvt_domain_xml(char *xml, size_t len, const char *name, unsigned mem_mib, const char *mac,
		    const char *kernel, const char *initrd, const char *sock, const char *console,
		    const char *args);

/* The next event called name (whose data's key equals value, if key) within
 * timeout_ms: its data (new reference), or NULL.  Other events are dropped. */
json_t *lvt_wait_event(struct ctl_client *c, const char *name, const char *key,
		       const char *value, int timeout_ms);

#endif
