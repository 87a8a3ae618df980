#!/bin/sh
# SPDX-License-Identifier: MIT
# mkguest.sh OUTDIR — build a tiny test guest for the libvirt tests and the
# QEMU bench: a Debian kernel (OUTDIR/vmlinuz) and a busybox initramfs
# (OUTDIR/initrd.img) whose init loads virtio_net, brings eth0 up, prints
# VHM-GUEST-UP on the console and then keeps dirtying a little memory (so a
# dirty-rate calculation has something to measure).
#
# Kernel command-line switch read by the init (absent: the guest as above):
#   vhm.dirty_mib=N  instead of the idle loop, rewrite N MiB (1..1024) of a
#                    file in the guest's RAM (/tmp/vhm-dirty) at N MiB/s,
#                    forever: 1 MiB at a time, evenly spaced, so each MiB
#                    is rewritten once a second (as fast as it can when the
#                    guest cannot keep up).  Every write puts bytes in each
#                    page that it did not hold: they come from a 2 MiB pool
#                    drawn once from /dev/urandom, at an offset that moves
#                    4100 bytes per MiB written (it comes back after 2^18
#                    MiB).  Not zeros nor the same bytes again: QEMU's
#                    page-sampling dirty rate (libvirt's domdirtyrate)
#                    hashes sampled pages and counts only those whose
#                    content changed.  Copying costs the TCG guest less than
#                    half the CPU of reading /dev/urandom each time, which
#                    counts on a loaded machine.  The console says
#                    "VHM-GUEST-DIRTY N MiB" when the pool is drawn and the
#                    writes start, "VHM-GUEST-DIRTIED M MiB" every 256 MiB
#                    written, or "VHM-GUEST-DIRTY-BAD value" (then the idle
#                    loop runs).
#
# Nothing here is committed: the kernel comes from the Debian mirror (apt-get
# download).  Cached in OUTDIR: vmlinuz, base.cpio.gz (busybox and the
# modules) and initrd.init (the init the initrd holds); initrd.img is
# base.cpio.gz followed by a gzipped cpio of the init (the kernel unpacks
# concatenated archives in turn).  A run whose init matches initrd.init does
# nothing; a changed init rebuilds initrd.img from the cache without the
# mirror.
#
# Needs: apt-get (mirror reachable), dpkg, busybox-static, cpio.
# Exit 0 with both files present, non-zero with a one-line reason on stderr.
set -eu

out=${1:?usage: mkguest.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

die() { echo "mkguest: $*" >&2; exit 1; }

# The guest's /init.
write_init() {
	cat <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
if [ -f /modules/order ]; then
	for m in $(cat /modules/order); do insmod /modules/$m 2>/dev/null; done
fi
ip link set eth0 up 2>/dev/null && echo "VHM-GUEST-ETH0-UP"
echo "VHM-GUEST-UP"
dirty=
for a in $(cat /proc/cmdline); do
	case "$a" in vhm.dirty_mib=*) dirty=${a#vhm.dirty_mib=} ;; esac
done
case "$dirty" in
'') ;;
*[!0-9]*|0*) echo "VHM-GUEST-DIRTY-BAD $dirty"; dirty= ;;
*) [ "$dirty" -le 1024 ] || { echo "VHM-GUEST-DIRTY-BAD $dirty"; dirty=; } ;;
esac
if [ -n "$dirty" ]; then
	# MiB i is due at start + i/dirty s; times in centiseconds from
	# /proc/uptime's "S.CC" (1CC - 100: a leading 0 would mean octal).
	# More than a second behind: no catching up.
	now_cs() { read -r up rest < /proc/uptime; now=$((${up%.*} * 100 + 1${up#*.} - 100)); }
	dd if=/dev/urandom of=/tmp/vhm-pool bs=64k count=32 2>/dev/null
	echo "VHM-GUEST-DIRTY $dirty MiB"
	now_cs
	start=$now
	i=0
	while true; do
		now_cs
		due=$((start + i * 100 / dirty))
		if [ "$now" -lt "$due" ]; then
			sleep 0.02
			continue
		fi
		[ "$now" -le $((due + 100)) ] || start=$((now - i * 100 / dirty))
		dd if=/tmp/vhm-pool of=/tmp/vhm-dirty bs=1M count=1 iflag=skip_bytes \
			skip=$((i * 4100 % 1048576)) seek=$((i % dirty)) conv=notrunc 2>/dev/null
		i=$((i + 1))
		[ $((i % 256)) != 0 ] || echo "VHM-GUEST-DIRTIED $i MiB"
	done
fi
i=0
while true; do
	dd if=/dev/zero of=/tmp/dirty.$((i % 4)) bs=64k count=32 2>/dev/null
	i=$((i + 1))
	sleep 0.2
done
EOF
}

if [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ] && write_init | cmp -s - "$out/initrd.init"; then
	exit 0
fi
command -v cpio >/dev/null || die "cpio not installed"
work=$(mktemp -d "$out/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
write_init > "$work/init"

# busybox and the modules (base.cpio.gz) with the kernel (vmlinuz), from the
# kernel package, unless cached.
build_base() {
	command -v busybox >/dev/null || die "busybox not installed (busybox-static)"
	busybox=$(command -v busybox)
	# The kernel linux-image-amd64 points at (any linux-image-6.1.0-N-amd64 works).
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
	[ -n "$pkg" ] || pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' \
		| sort -V | tail -n1 | cut -d' ' -f1)
	[ -n "$pkg" ] || die "no linux-image-6.1.0-*-amd64 package known to apt (run apt-get update)"
	(cd "$work" && apt-get download -qq "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
	dpkg -x "$work"/linux-image-*.deb "$work/k" || die "dpkg -x failed"
	kver=$(ls "$work/k/lib/modules" | head -n1)
	mods="$work/k/lib/modules/$kver"
	[ -d "$mods" ] || die "no modules in $pkg"

	# virtio_pci and virtio_net with what they need, in load order.  The
	# package has no modules.dep (depmod makes it at install), so each
	# module's "depends=" is read from its .modinfo section; modules.builtin
	# names the ones built into the kernel.
	root="$work/root"
	mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/modules"
	cp "$busybox" "$root/bin/busybox"
	: > "$root/modules/order"
	need() {
		grep -q "/$1\.ko" "$mods/modules.builtin" && return 0
		f=$(find "$mods/kernel" -name "$1.ko" -o -name "$1.ko.xz" | head -n1)
		[ -n "$f" ] || die "module $1 not found in $pkg"
		grep -qx "$1.ko" "$root/modules/order" && return 0
		case "$f" in
		*.xz) xz -dc "$f" > "$root/modules/$1.ko" ;;
		*) cp "$f" "$root/modules/$1.ko" ;;
		esac
		deps=$(objcopy -O binary --only-section=.modinfo "$root/modules/$1.ko" /dev/stdout \
			| tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' ')
		for d in $deps; do need "$d"; done
		echo "$1.ko" >> "$root/modules/order"
	}
	need virtio_pci
	need virtio_net
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/base.cpio.gz"
	cp "$work/k/boot/vmlinuz-$kver" "$work/vmlinuz"
	mv "$work/base.cpio.gz" "$out/base.cpio.gz"
	mv "$work/vmlinuz" "$out/vmlinuz"
	echo "mkguest: $pkg ($kver) with$(sed 's/^/ /' "$root/modules/order" | tr -d '\n') in $out" >&2
}
if ! [ -s "$out/vmlinuz" ] || ! [ -s "$out/base.cpio.gz" ]; then
	build_base
fi

mkdir "$work/top"
cp "$work/init" "$work/top/init"
chmod 755 "$work/top/init"
(cd "$work/top" && echo init | cpio -o -H newc --quiet | gzip -1) > "$work/init.cpio.gz"
cat "$out/base.cpio.gz" "$work/init.cpio.gz" > "$work/initrd.img"
cp "$work/init" "$work/initrd.init"
mv "$work/initrd.img" "$out/initrd.img"
mv "$work/initrd.init" "$out/initrd.init"
