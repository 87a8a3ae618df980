/* SPDX-License-Identifier: MIT */
/* lvh_conf — the operator's policy for the libvirt hook and daemon.
 *
 * File (default /etc/vhm/hook.conf, or $VHM_HOOK_CONF, or --conf): lines of
 * "key = value", '#' starts a comment, blank lines are ignored.  A missing
 * default file is an empty policy; a missing file named explicitly is an
 * error.  Then the environment overrides: VHM_HOOK_<KEY> in upper case
 * (VHM_HOOK_REQUIRE_BACKEND_SOCKET=yes).  Keys:
 *
 *   require_backend_socket = yes|no   (no)  hook, at "prepare": refuse to
 *       start a domain whose vhostuser interface in mode='client' (QEMU
 *       connects, the backend listens) has no socket at its path
 *   announce = vhm|backend|guest      (vhm) who sends the RARP announce after
 *       an incoming migration; the daemon sends it only for "vhm", and only
 *       with --uplink
 *   verbose = yes|no                  (no)  hook: say on stderr what it did
 *                                      (never on stdout) */
#ifndef VHM_LVH_CONF_H
#define VHM_LVH_CONF_H

#include <stdbool.h>
#include <stddef.h>

#define LVH_CONF_DEFAULT "/etc/vhm/hook.conf"

enum lvh_announce {
	LVH_ANNOUNCE_VHM,     /* the daemon announces on --uplink */
	LVH_ANNOUNCE_BACKEND, /* the vhost-user backend does it (SEND_RARP or its own) */
	LVH_ANNOUNCE_GUEST,   /* the guest driver does it (VIRTIO_NET_F_GUEST_ANNOUNCE) */
};

struct lvh_conf {
	bool require_backend_socket;
	enum lvh_announce announce;
	bool verbose;
};

/* Defaults, then the file (path NULL: $VHM_HOOK_CONF, else the default, which
 * may be absent), then the environment.  0, or -errno with "FILE:LINE: why"
 * in err: -ENOENT (an explicit file is missing), -EINVAL (unknown key, bad
 * value, line without '='). */
int lvh_conf_load(struct lvh_conf *c, const char *path, char *err, size_t errlen);

/* Apply one "key", "value" pair.  0 or -EINVAL. */
int lvh_conf_set(struct lvh_conf *c, const char *key, const char *value);

const char *lvh_announce_name(enum lvh_announce a);

#endif
