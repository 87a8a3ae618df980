#!/bin/sh
# SPDX-License-Identifier: MIT
# mkguest.sh OUTDIR — build a tiny test guest for the libvirt tests: a Debian
# kernel (OUTDIR/vmlinuz) and a busybox initramfs (OUTDIR/initrd.img) whose
# init loads virtio_net, brings eth0 up, prints VHM-GUEST-UP on the console
# and then keeps dirtying a little memory (so a dirty-rate calculation has
# something to measure).  Nothing here is committed: the kernel comes from
# the Debian mirror (apt-get download), the result is cached in OUTDIR and a
# second run with both files present does nothing.
#
# Needs: apt-get (mirror reachable), dpkg, busybox-static, cpio.
# Exit 0 with both files present, non-zero with a one-line reason on stderr.
set -eu

out=${1:?usage: mkguest.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ]; then
	exit 0
fi

die() { echo "mkguest: $*" >&2; exit 1; }
command -v busybox >/dev/null || die "busybox not installed (busybox-static)"
command -v cpio >/dev/null || die "cpio not installed"
busybox=$(command -v busybox)

work=$(mktemp -d "$out/work.XXXXXX")
trap 'rm -rf "$work"' EXIT

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

# virtio_pci and virtio_net with what they need, in load order.  The package
# has no modules.dep (depmod makes it at install), so each module's
# "depends=" is read from its .modinfo section; modules.builtin names the
# ones built into the kernel.
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

cat > "$root/init" <<'EOF'
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
i=0
while true; do
	dd if=/dev/zero of=/tmp/dirty.$((i % 4)) bs=64k count=32 2>/dev/null
	i=$((i + 1))
	sleep 0.2
done
EOF
chmod 755 "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.img"
cp "$work/k/boot/vmlinuz-$kver" "$work/vmlinuz"
mv "$work/initrd.img" "$out/initrd.img"
mv "$work/vmlinuz" "$out/vmlinuz"
echo "mkguest: $pkg ($kver) with$(sed 's/^/ /' "$root/modules/order" | tr -d '\n') in $out" >&2
