# SPDX-License-Identifier: MIT
# Sourced by scripts that run DPDK testpmd as a vhost-user backend (demo.sh,
# soak.sh).  The caller sets DIR (a directory of its own) and PIDS, and has a
# cleanup trap that kills $PIDS and removes /var/run/dpdk/$TESTPMD_PREFIX*.

TESTPMD_PREFIX=${TESTPMD_PREFIX:-vhm$$}

# testpmd_wait NAME WHAT CHECK...: run CHECK every 0.1 s until it succeeds;
# after 20 s say testpmd NAME did not WHAT, print its log, and exit.
testpmd_wait() {
	name=$1 what=$2
	shift 2
	i=0
	until "$@"; do
		i=$((i + 1))
		if [ $i -gt 200 ]; then
			echo "testpmd $name did not $what; log:" >&2
			cat "$DIR/$name.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}

# start_testpmd NAME CPU: a backend on $DIR/NAME.sock (net_vhost vdev, 1 queue
# pair, io forwarding, no hugepages), its forwarding core pinned to CPU; waits
# up to 20 s for the socket, then up to 20 s for forwarding to begin, and exits
# printing testpmd's log if either does not come.
start_testpmd() {
	echo "== starting dpdk-testpmd $1 (net_vhost vdev, 1 queue pair) on $DIR/$1.sock"
	dpdk-testpmd --lcores="0@$2,1@$2" --no-huge -m 1024 --no-pci \
		--file-prefix="$TESTPMD_PREFIX$1" \
		--vdev "net_vhost0,iface=$DIR/$1.sock,queues=1" -- --auto-start --forward-mode=io \
		--nb-cores=1 --total-num-mbufs=8192 --stats-period=1 >"$DIR/$1.log" 2>&1 &
	PIDS="$PIDS $!"
	testpmd_wait "$1" "create its socket" test -S "$DIR/$1.sock"
	# On --auto-start testpmd flushes its queues when forwarding begins:
	# frames a frontend queued before that would be dropped.
	testpmd_wait "$1" "start forwarding" grep -q "packet forwarding - ports=" "$DIR/$1.log"
}
