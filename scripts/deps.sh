#!/bin/sh
# SPDX-License-Identifier: MIT
# Install every Debian package vhm needs to build, test and demo.
# Root, non-interactive, idempotent: does nothing when everything is present.
#
#   scripts/deps.sh                 install what is missing (make deps, make
#                                   check, make demo)
#   scripts/deps.sh --check-build   install nothing: name the missing build
#                                   packages and exit 1 (a plain make)
set -eu

# What `make` needs to build vhm and its man pages.
BUILD_PKGS="build-essential pkg-config clang llvm libbpf-dev bpftool
libncurses-dev libvirt-dev libxml2-dev libjansson-dev"
# What the tests, the demo and the benchmarks need besides.
TEST_PKGS="libcriterion-dev libclang-rt-14-dev dpdk-dev tmux iproute2 gnuplot-nox tcpdump procps psmisc
libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86
busybox-static cpio man-db systemd prometheus python3-prometheus-client
openvswitch-switch-dpdk"

# The packages of $* that are not installed.
missing_of() {
	m=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
			|| m="$m $p"
	done
	echo "$m"
}

if [ "${1:-}" = "--check-build" ]; then
	# Not Debian: nothing to ask; the compiler names what is missing.
	command -v dpkg-query >/dev/null || exit 0
	# shellcheck disable=SC2086
	missing=$(missing_of $BUILD_PKGS)
	[ -z "$missing" ] && exit 0
	echo "vhm: missing build packages:$missing; install them with 'sudo make deps'" \
	     "(or: sudo apt-get install$missing)" >&2
	exit 1
fi

# shellcheck disable=SC2086
missing=$(missing_of $BUILD_PKGS $TEST_PKGS)
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
