#!/bin/sh
# SPDX-License-Identifier: MIT
# libvirt-pair — two libvirtd instances on one machine, so that a guest can be
# live-migrated from one to the other (docs/libvirt.md "Two libvirtds").
#
#   scripts/libvirt-pair.sh start DIR [VHM]   start instances a and b under DIR
#   scripts/libvirt-pair.sh uri DIR a|b       the URI of one (for virsh -c)
#   scripts/libvirt-pair.sh stop DIR          destroy their guests, stop them,
#                                             remove what start made
#
# Each instance runs in a mount and UTS namespace of its own (unshare -m -u),
# with its own hostname (vhm-a, vhm-b) and private copies, bind-mounted over
# the real ones, of /etc/libvirt, /run/libvirt, /var/lib/libvirt,
# /var/cache/libvirt and /var/log/libvirt: its own config, sockets, state and
# logs.  Everything else (/tmp, the testpmd sockets, QEMU) is shared.
#
# What libvirt needs for this (libvirt 9.0, QEMU under TCG, no systemd):
#   libvirtd.conf  its own host_uuid (else "Attempt to migrate guest to the
#                  same host"); auth_unix_rw = "none" (root clients only:
#                  the socket is 0700 under DIR)
#   qemu.conf      user/group root (the guest's memfd and the vhost-user
#                  sockets are root's), security_driver "none",
#                  dynamic_ownership 0, no cgroups, no private /dev
#                  namespaces, and a migration port range of its own
#   each migration --migrateuri tcp:127.0.0.1:PORT --listen-address 127.0.0.1
#                  (libvirt refuses a loopback migration_address in
#                  qemu.conf, and the other instance's hostname does not
#                  resolve)
#
# With VHM (the path of the vhm binary), vhm's QEMU hook is installed in each
# instance's /etc/libvirt/hooks/qemu.d before it starts, telling the daemon in
# DIR/a/vhm (resp. DIR/b/vhm): run `vhm libvirt-watch -c "$(uri)" -d DIR/a/vhm`
# beside it.
#
# Nothing outside DIR is written; stop removes DIR/a and DIR/b only when they
# hold the marker start left, and kills only the pids start recorded.
set -eu

die() { echo "libvirt-pair: $*" >&2; exit 1; }
usage() {
	echo "usage: $0 start DIR [VHM] | uri DIR a|b | stop DIR" >&2
	exit 2
}

MARK=.vhm-libvirt-pair

uri() { echo "qemu+unix:///system?socket=$1/run/libvirt-sock"; }

# Instance $2 (a or b) under $1/$2: directories and configuration.
prepare() {
	base=$1/$2
	[ ! -e "$base" ] || die "$base exists; stop the pair first, or choose another DIR"
	mkdir -p "$base"
	touch "$base/$MARK"
	mkdir -p "$base/etc" "$base/run" "$base/lib" "$base/cache" "$base/log" "$base/vhm"
	chmod 700 "$base" "$base/vhm"
	# Only the top-level configuration files: no domains, no networks to
	# autostart (two default networks would fight over virbr0), no hooks.
	for f in /etc/libvirt/*.conf; do
		[ -f "$f" ] && cp "$f" "$base/etc/"
	done
	if [ "$2" = a ]; then uuid=6e2f3a7c-0000-4a11-9d5e-00000000000a; port=49300
	else uuid=6e2f3a7c-0000-4a11-9d5e-00000000000b; port=49400; fi
	cat >>"$base/etc/libvirtd.conf" <<-EOF

	# libvirt-pair instance $2
	host_uuid = "$uuid"
	auth_unix_rw = "none"
	unix_sock_rw_perms = "0700"
	EOF
	cat >>"$base/etc/qemu.conf" <<-EOF

	# libvirt-pair instance $2
	user = "root"
	group = "root"
	security_driver = "none"
	dynamic_ownership = 0
	cgroup_controllers = [ ]
	namespaces = [ ]
	migration_port_min = $port
	migration_port_max = $((port + 99))
	EOF
}

# Start instance $2 in its own namespaces; virtlogd and libvirtd daemonize and
# keep the namespaces alive.
launch() {
	base=$1/$2
	# The mount points are the package's directories; a host where libvirtd
	# never ran yet may lack /run/libvirt (made empty, as libvirtd would).
	mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
	# shellcheck disable=SC2016 # expanded by the inner shell, from its arguments
	unshare -m -u --propagation private sh -euc '
		base=$1
		hostname "vhm-$2"
		mount --bind "$base/etc" /etc/libvirt
		mount --bind "$base/run" /run/libvirt
		mount --bind "$base/lib" /var/lib/libvirt
		mount --bind "$base/cache" /var/cache/libvirt
		mount --bind "$base/log" /var/log/libvirt
		/usr/sbin/virtlogd -d -p "$base/virtlogd.pid"
		/usr/sbin/libvirtd -d -p "$base/libvirtd.pid"
	' sh "$base" "$2"
	i=0
	while [ ! -S "$base/run/libvirt-sock" ]; do
		i=$((i + 1))
		[ $i -lt 200 ] || die "libvirtd $2 made no socket in 20 s (logs in $base/log)"
		sleep 0.1
	done
}

start() {
	dir=$1 vhm=${2:-}
	[ "$(id -u)" = 0 ] || die "needs root (mount namespaces, libvirtd)"
	for p in unshare /usr/sbin/libvirtd /usr/sbin/virtlogd; do
		command -v "$p" >/dev/null || die "$p not found (util-linux, libvirt-daemon-system)"
	done
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	for n in a b; do
		prepare "$dir" "$n"
		if [ -n "$vhm" ]; then
			"$vhm" hook --install --target "$dir/$n/etc/hooks/qemu.d/50-vhm" \
				--run-dir "$dir/$n/vhm" >/dev/null
		fi
		launch "$dir" "$n"
		echo "$n: $(uri "$dir/$n")"
	done
}

# Kill the pid recorded in file $1 (if it is still that program, $2), wait.
kill_pidfile() {
	[ -f "$1" ] || return 0
	pid=$(cat "$1")
	case "$(cat /proc/"$pid"/comm 2>/dev/null || true)" in
	"$2"*) kill "$pid" 2>/dev/null || true ;;
	*) return 0 ;;
	esac
	i=0
	while [ -d /proc/"$pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ ! -d /proc/"$pid" ] || kill -9 "$pid" 2>/dev/null || true
}

stop() {
	dir=$1
	for n in a b; do
		base=$dir/$n
		[ -f "$base/$MARK" ] || continue
		if [ -S "$base/run/libvirt-sock" ]; then
			for d in $(virsh -q -c "$(uri "$base")" list --name 2>/dev/null); do
				virsh -q -c "$(uri "$base")" destroy "$d" >/dev/null 2>&1 || true
			done
		fi
		kill_pidfile "$base/libvirtd.pid" libvirtd
		kill_pidfile "$base/virtlogd.pid" virtlogd
		rm -rf "$base"
	done
}

[ $# -ge 2 ] || usage
case "$1" in
start) [ $# -le 3 ] || usage; start "$2" "${3:-}" ;;
uri)
	[ $# -eq 3 ] || usage
	[ -d "$2/$3" ] || die "$2/$3: no such instance (start the pair first)"
	case "$3" in a | b) uri "$(cd "$2" && pwd)/$3" ;; *) usage ;; esac ;;
stop)  [ $# -eq 2 ] || usage; stop "$2" ;;
*)     usage ;;
esac
