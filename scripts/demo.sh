#!/bin/sh
# SPDX-License-Identifier: MIT
# make demo: two real vhost-user backends (DPDK testpmd, io forwarding, no
# hugepages); vhm probes the first, runs a device with traffic and guest
# dirtying on it, and migrates the device live to the second.
set -eu

BUILD=${1:-build}
VHM="$BUILD/vhm"
DIR=$(mktemp -d /tmp/vhm-demo-XXXXXX)
SOCK="$DIR/a.sock"
SOCK2="$DIR/b.sock"
PIDS=""
TESTPMD_PREFIX=vhmdemo$$

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$DIR" "/var/run/dpdk/${TESTPMD_PREFIX}a" "/var/run/dpdk/${TESTPMD_PREFIX}b"
}
trap cleanup EXIT INT TERM

. "$(dirname "$0")/testpmd.sh"
start_testpmd a 0
start_testpmd b 1

echo
echo "== vhm probe $SOCK"
"$VHM" probe "$SOCK"

echo
echo "== vhm run: 20000 frames/s through testpmd a and back, 5000 guest page writes/s, 8 s"
"$VHM" run --backend "$SOCK" --name demo --run-dir "$DIR" --traffic 20000 \
	--dirty 5000:hotset --duration 8s &
RUN_PID=$!
sleep 2.5
echo
echo "== vhm status demo (over the control socket, while it runs)"
"$VHM" status demo --run-dir "$DIR" | head -8
echo
echo "== vhm migrate demo --to $SOCK2 (live, with traffic and dirtying on)"
"$VHM" migrate demo --to "$SOCK2" --run-dir "$DIR"
sleep 1
echo
echo "== after the migration: the device runs on testpmd b"
"$VHM" status demo --run-dir "$DIR" | grep -E "^(state|backend)|rx_frames|rx_lost|rx_dup|rx_rarp"
wait $RUN_PID
echo
echo "== testpmd's own counters (RX = frames the guest sent, TX = frames it got back)"
for p in $PIDS; do kill -INT "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
PIDS=""
for t in a b; do
	echo "testpmd $t:"
	grep -E "RX-packets|TX-packets" "$DIR/$t.log" | tail -2
done
