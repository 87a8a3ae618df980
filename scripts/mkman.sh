#!/bin/sh
# SPDX-License-Identifier: MIT
# mkman — the man pages, generated at build time so they cannot drift from
# the binary: vhm(1) from the hand-written man/vhm.1.in with its list of
# commands filled in from `vhm help`, and one vhm-CMD(1) per command from
# `vhm CMD --help` (SYNOPSIS: its usage lines; DESCRIPTION: the rest, as
# written), followed by the hand-written EXAMPLES of man/vhm-CMD.examples
# when there are some. A command added to the table in main.c gets its page
# with no change here.
#
#   scripts/mkman.sh VHM OUTDIR VERSION
set -eu

VHM=$1
OUT=$2
VERSION=$3
MAN_SRC=$(dirname "$0")/../man
SRC=$MAN_SRC/vhm.1.in

# "name<TAB>summary" for every command `vhm help` lists.
commands() {
	"$VHM" help | awk '
		/^commands:/ { on = 1; next }
		on && /^$/ { exit }
		on { name = $1; sub(/^ *[^ ]+ +/, ""); print name "\t" $0 }'
}

# Text to roff, in no-fill mode: backslashes, a leading dot or quote, and
# hyphens (so "--json" reads and searches as ASCII).
roff_escape() {
	sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}

# One command's page on stdout: $1 name, $2 summary.
command_page() {
	help=$("$VHM" "$1" --help)
	up=$(echo "vhm-$1" | tr '[:lower:]' '[:upper:]')
	printf '.TH %s 1 "" "vhm %s" "vhm manual"\n' "$up" "$VERSION"
	printf '.SH NAME\nvhm\\-%s \\- %s\n' "$(echo "$1" | roff_escape)" \
		"$(echo "$2" | roff_escape)"
	printf '.SH SYNOPSIS\n.nf\n'
	# The usage: the first line without "usage: ", and the lines indented
	# under it (4 spaces or more), without the 7 columns of "usage: ".
	echo "$help" | awk '
		NR == 1 { sub(/^usage: /, ""); print; next }
		/^    / { sub(/^       /, ""); print; next }
		{ exit }' | roff_escape
	printf '.fi\n.SH DESCRIPTION\n.nf\n'
	echo "$help" | awk '
		NR == 1 { next }
		!body && /^    / { next }
		!body && /^$/ { next }
		{ body = 1; print }' | roff_escape
	printf '.fi\n'
	if [ -f "$MAN_SRC/vhm-$1.examples" ]; then
		cat "$MAN_SRC/vhm-$1.examples"
	fi
	printf '.SH SEE ALSO\n\\fBvhm\\fR(1), the vhm guides: docs/operator\\-guide.md,\n'
	printf 'docs/backend\\-guide.md\n'
}

mkdir -p "$OUT"
rm -f "$OUT"/*.1
list=$(commands)
[ -n "$list" ] || { echo "mkman: '$VHM help' listed no commands" >&2; exit 1; }

entries=$(mktemp)
trap 'rm -f "$entries"' EXIT
echo "$list" | while IFS='	' read -r name summary; do
	command_page "$name" "$summary" > "$OUT/vhm-$name.1"
	ename=$(echo "$name" | roff_escape)
	printf '.TP\n\\fBvhm %s\\fR \\- see \\fBvhm\\-%s\\fR(1)\n%s\n' "$ename" "$ename" \
		"$(echo "$summary" | roff_escape)"
done > "$entries"

awk -v version="$VERSION" -v entries="$entries" '
	/^@COMMANDS@$/ { while ((getline l < entries) > 0) print l; next }
	{ gsub(/@VERSION@/, version); print }' "$SRC" > "$OUT/vhm.1"
