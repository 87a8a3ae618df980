/* SPDX-License-Identifier: MIT */
/* lvh_hook — `vhm hook`: libvirt's QEMU hook (docs/libvirt.md).
 *
 * libvirtd runs /etc/libvirt/hooks/qemu.d/50-vhm DOMAIN OP SUBOP EXTRA with
 * the domain XML on stdin, synchronously, for every domain it manages.  So
 * the hook is a thin trigger: it parses the XML (lvh_xml), applies the
 * operator's policy (lvh_conf), hands the event to the `vhm libvirt-watch`
 * daemon over its control socket without waiting for it (a daemon that is
 * absent or slow costs at most LVH_SEND_DEADLINE_MS), and exits.  It never
 * calls into libvirt (libvirtd holds locks while hooks run), and writes
 * nothing to stdout: for "migrate" and "restore" libvirt would take stdout
 * as the replacement domain XML.
 *
 * Exit status: 0, or 1 only when the policy refuses a "prepare" (libvirt then
 * refuses to start the domain and shows the stderr line).  Bad arguments or
 * bad XML are reported on stderr and still exit 0: a broken hook must not
 * stop every domain on the host. */
#ifndef VHM_LVH_HOOK_H
#define VHM_LVH_HOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "lvh_conf.h"
#include "lvh_xml.h"

#define LVH_HOOK_TARGET       "/etc/libvirt/hooks/qemu.d/50-vhm"
#define LVH_SEND_DEADLINE_MS  30   /* connect + send to the daemon, in all */
#define LVH_STDIN_DEADLINE_MS 50   /* reading the domain XML from stdin */
#define LVH_COURIER_MS        3000 /* a detached child waits this long for the daemon to read */
#define LVH_DAEMON_NAME       "libvirt" /* control socket <run dir>/libvirt.sock */

#define LVH_HOOK_USAGE \
	"usage: vhm hook [-v] [-d DIR] [-c FILE] [--] DOMAIN OPERATION SUBOP EXTRA < XML\n" \
	"       vhm hook --install [--target PATH] [--vhm PATH] [-d DIR] [-c FILE]\n" \
	"       vhm hook --uninstall [--target PATH]\n" \
	"\n" \
	"libvirt's QEMU hook.  libvirtd runs it with the domain XML on stdin; it\n" \
	"notes the vhostuser interfaces, applies the policy of the conf file and\n" \
	"passes the event to `vhm libvirt-watch` (never waiting for it), printing\n" \
	"nothing on stdout.  Operations: prepare start started stopped release\n" \
	"migrate restore reconnect attach.\n" \
	"\n" \
	"  -d, --run-dir DIR  where the daemon's socket libvirt.sock is (default\n" \
	"                     $VHM_RUN_DIR, else /run/vhm)\n" \
	"  -c, --conf FILE    policy file (default $VHM_HOOK_CONF, else\n" \
	"                     " LVH_CONF_DEFAULT " if it exists)\n" \
	"  -v, --verbose      say on stderr what was done\n" \
	"      --install      write a wrapper script at the target that execs this\n" \
	"                     vhm (or --vhm PATH) as `hook` with -d/-c as given\n" \
	"      --uninstall    remove the target if it is a vhm wrapper\n" \
	"      --target PATH  default " LVH_HOOK_TARGET "\n" \
	"\n" \
	"Policy keys (FILE, or VHM_HOOK_<KEY> in the environment):\n" \
	"  require_backend_socket=yes  refuse \"prepare\" when a mode='client'\n" \
	"                              interface's backend socket is missing\n" \
	"  announce=vhm|backend|guest  who sends RARP after an incoming migration\n" \
	"  verbose=yes                 as -v\n" \
	"\n" \
	"libvirtd looks for hooks when it starts (or on SIGHUP).\n" \
	"Exit status: 0, 1 the policy refused, 2 an unknown option or bad --install options.\n"

int cmd_hook(int argc, char **argv);

/* The operations libvirt's QEMU driver sends (libvirt 9.0), in the order of a
 * domain's life. */
#define LVH_OPS(X) \
	X(PREPARE, "prepare") X(START, "start") X(STARTED, "started") \
	X(STOPPED, "stopped") X(RELEASE, "release") X(MIGRATE, "migrate") \
	X(RESTORE, "restore") X(RECONNECT, "reconnect") X(ATTACH, "attach")

enum lvh_op {
#define LVH_OP_ENUM(e, s) LVH_OP_##e,
	LVH_OPS(LVH_OP_ENUM)
#undef LVH_OP_ENUM
	LVH_OP_COUNT,
	LVH_OP_UNKNOWN = LVH_OP_COUNT,
};

enum lvh_op lvh_op_parse(const char *s);
const char *lvh_op_name(enum lvh_op op);

/* The policy verdict for one event: 0, or -EPERM with the one-line reason
 * in why (the interface and path refused). */
int lvh_policy_check(const struct lvh_conf *c, enum lvh_op op, const struct lvh_domain *dom,
		     char *why, size_t whylen);

/* Send one JSON line to the daemon (libvirt-watch's socket in run_dir, after
 * ctl_connect()'s checks: run dir, socket owner, daemon uid): non-blocking
 * connect and send, at most deadline_ms in all.  The caller does not wait for
 * the reply: a detached child holds the connection until the daemon has
 * answered (at most LVH_COURIER_MS), so a daemon busy for a moment still
 * gets the line.  0, or -errno with err (-ENOENT/-ECONNREFUSED: no daemon,
 * -ETIMEDOUT: the daemon's backlog or buffer stayed full, -EPERM: a socket
 * or run dir someone else controls). */
int lvh_send_line(const char *run_dir, const char *line, size_t len, int deadline_ms,
		  char *err, size_t errlen);

#endif
