#!/bin/sh
# make demo: a real vhost-user backend (DPDK testpmd, io forwarding, no
# hugepages), vhm probing it, then a device with traffic and guest dirtying
# running on it for a few seconds, watched over its control socket.
set -eu

BUILD=${1:-build}
VHM="$BUILD/vhm"
DIR=$(mktemp -d /tmp/vhm-demo-XXXXXX)
SOCK="$DIR/testpmd.sock"
TP_PID=""

cleanup() {
	[ -n "$TP_PID" ] && kill "$TP_PID" 2>/dev/null && wait "$TP_PID" 2>/dev/null
	rm -rf "$DIR" "/var/run/dpdk/vhmdemo$$"
}
trap cleanup EXIT INT TERM

echo "== starting dpdk-testpmd (net_vhost vdev, 1 queue pair) on $SOCK"
dpdk-testpmd --lcores='0@0,1@0' --no-huge -m 1024 --no-pci --file-prefix="vhmdemo$$" \
	--vdev "net_vhost0,iface=$SOCK,queues=1" -- --auto-start --forward-mode=io \
	--nb-cores=1 --total-num-mbufs=8192 --stats-period=1 >"$DIR/testpmd.log" 2>&1 &
TP_PID=$!
i=0
while [ ! -S "$SOCK" ]; do
	i=$((i + 1))
	if [ $i -gt 150 ]; then
		echo "testpmd did not create its socket; log:" >&2
		cat "$DIR/testpmd.log" >&2
		exit 1
	fi
	sleep 0.1
done

echo
echo "== vhm probe $SOCK"
"$VHM" probe "$SOCK"

echo
echo "== vhm run: 20000 frames/s through testpmd and back, 5000 guest page writes/s, 5 s"
"$VHM" run --backend "$SOCK" --name demo --run-dir "$DIR" --traffic 20000 \
	--dirty 5000:hotset --duration 5s &
RUN_PID=$!
sleep 2.5
echo
echo "== vhm status demo (over the control socket, while it runs)"
"$VHM" status demo --run-dir "$DIR"
wait $RUN_PID
echo
echo "== testpmd's own counters (port 0: RX = frames the guest sent, TX = frames it got back)"
kill -INT "$TP_PID"
wait "$TP_PID" 2>/dev/null || true
TP_PID=""
grep -E "RX-packets|TX-packets" "$DIR/testpmd.log" | tail -2
