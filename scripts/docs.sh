#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerate the pictures under docs/ from their sources in docs/src/.
# Needs mscgen (Debian package mscgen); run as root it installs it.
set -eu
cd "$(dirname "$0")/.."
if ! command -v mscgen >/dev/null; then
	[ "$(id -u)" = 0 ] || { echo "docs: mscgen missing (apt-get install mscgen)" >&2; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mscgen
fi
for f in docs/src/*.msc; do
	out="docs/$(basename "$f" .msc)-flow.png"
	mscgen -T png -o "$out" "$f"
	echo "docs: $out"
done
# One switchover, drawn from the reports of a real run (docs/migration.md,
# "Where the downtime goes").
scripts/downtime-timeline.py docs/downtime-timeline.png \
	"after-resume (default)=docs/src/downtime-after-resume.json" \
	"sync=docs/src/downtime-sync.json"
