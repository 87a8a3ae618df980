#!/bin/sh
# SPDX-License-Identifier: MIT
# make soak [SOAK_N=1000]: SOAK_N live migrations of one device back and forth
# between two DPDK testpmds, with traffic and guest dirtying on, while a
# second client hammers the control socket (status and list, connecting
# and leaving).
# Every 100 migrations (and after the 10th, the baseline) it prints the vhm
# run process's open fds, threads and resident memory, and fails on:
#   - a migration that fails (a rollback, or digests that differ);
#   - a frame lost or duplicated (the driver's rx_lost / rx_dup);
#   - fds or threads above the baseline, or resident memory more than
#     SOAK_RSS_SLACK_KB (default 8192) above it: the first 10 migrations may
#     grow the heap and the page cache of guest memory; later ones must not.
# Not part of make check: 1000 migrations take 10 to 30 minutes here.
set -eu

BUILD=${1:-build}
N=${SOAK_N:-1000}
SLACK=${SOAK_RSS_SLACK_KB:-8192}
VHM="$BUILD/vhm"
DIR=$(mktemp -d /tmp/vhm-soak-XXXXXX)
PIDS=""
TESTPMD_PREFIX=vhmsoak$$
RUN_PID=""
CHURN_PID=""

cleanup() {
	[ -n "$CHURN_PID" ] && kill "$CHURN_PID" 2>/dev/null
	[ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null
	for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$DIR" "/var/run/dpdk/${TESTPMD_PREFIX}a" "/var/run/dpdk/${TESTPMD_PREFIX}b"
}
trap cleanup EXIT INT TERM

fail() {
	echo "soak: FAILED after $i migrations: $*" >&2
	exit 1
}

# counter NAME: the device's total of that traffic counter
counter() {
	"$VHM" status soak --run-dir "$DIR" | awk -v k="$1:" '$1 == k { print $2; exit }'
}

# sample: "fds threads rss_kb" of the vhm run process
sample() {
	fds=$(ls "/proc/$RUN_PID/fd" | wc -l)
	threads=$(awk '/^Threads:/ { print $2 }' "/proc/$RUN_PID/status")
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$RUN_PID/status")
	echo "$fds $threads $rss"
}

. "$(dirname "$0")/testpmd.sh"
start_testpmd a 0
start_testpmd b 1

"$VHM" run --backend "$DIR/a.sock" --name soak --run-dir "$DIR" --traffic 20000 \
	--dirty 5000:hotset >"$DIR/run.log" 2>&1 &
RUN_PID=$!
i=0
while ! "$VHM" status soak --run-dir "$DIR" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "vhm run did not come up: $(cat "$DIR/run.log")"
	sleep 0.1
done

# The control-socket churn: a client that connects, asks and leaves, forever.
(
	while :; do
		"$VHM" status soak --run-dir "$DIR" >/dev/null 2>&1 || true
		"$VHM" list --run-dir "$DIR" >/dev/null 2>&1 || true
		sleep 0.05
	done
) &
CHURN_PID=$!

echo "soak: $N migrations between testpmd a and b (20000 frames/s, 5000 page writes/s)"
printf '%10s %6s %8s %10s %8s\n' migrations fds threads rss_kb seconds
t0=$(date +%s)
base=""
i=0
while [ $i -lt "$N" ]; do
	to="$DIR/b.sock"
	[ $((i % 2)) -eq 0 ] || to="$DIR/a.sock"
	"$VHM" migrate soak --to "$to" --run-dir "$DIR" >"$DIR/last.log" 2>&1 ||
		fail "migration $((i + 1)) to $to: $(tail -5 "$DIR/last.log")"
	i=$((i + 1))
	if [ $i -eq 10 ] || [ $((i % 100)) -eq 0 ] || [ $i -eq "$N" ]; then
		set -- $(sample)
		printf '%10d %6d %8d %10d %8d\n' "$i" "$1" "$2" "$3" $(($(date +%s) - t0))
		if [ -z "$base" ]; then
			base="$1 $2 $3"
		else
			set -- $base "$@"
			[ "$4" -le "$1" ] || fail "open fds grew from $1 to $4"
			[ "$5" -le "$2" ] || fail "threads grew from $2 to $5"
			[ "$6" -le $(($3 + SLACK)) ] || fail "resident memory grew from $3 KB to $6 KB"
		fi
		lost=$(counter rx_lost)
		dup=$(counter rx_dup)
		[ "$lost" = 0 ] && [ "$dup" = 0 ] || fail "frames lost $lost, duplicated $dup"
	fi
done
echo "soak: $N migrations, every one ok; no frame lost or duplicated; fds, threads and memory flat after the 10th"
