#!/bin/sh
# SPDX-License-Identifier: MIT
# Install every Debian package vhm needs to build, test and demo.
# Root, non-interactive, idempotent: does nothing when everything is present.
set -eu

PKGS="build-essential pkg-config clang llvm libbpf-dev bpftool
libncurses-dev libcriterion-dev libvirt-dev libxml2-dev libjansson-dev
dpdk-dev tmux iproute2 gnuplot-nox tcpdump procps psmisc
libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86
busybox-static cpio prometheus python3-prometheus-client"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
		|| missing="$missing $p"
done

if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing:$missing; run 'make deps' as root" >&2
	exit 1
fi

echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
