#!/bin/sh
# SPDX-License-Identifier: MIT
# install — `make install` and `make uninstall`.
#
#   [PREFIX=/usr/local] [DESTDIR=] scripts/install.sh install|uninstall BUILD
#
# install puts, under $DESTDIR: $PREFIX/bin/vhm, the man pages of BUILD/man
# in $PREFIX/share/man/man1, bash completion in
# $PREFIX/share/bash-completion/completions/vhm, the libvirt-watch unit in
# $PREFIX/lib/systemd/system, and libvirt's QEMU hook in
# /etc/libvirt/hooks/qemu.d/50-vhm (written by `vhm hook --install`). It
# lists every file it wrote and every directory it created in
# $PREFIX/share/vhm/installed; uninstall removes exactly those (the hook only
# while it is still vhm's wrapper; a directory only when empty) and nothing
# else. A file in the way that vhm did not install is never replaced.
set -eu

usage() {
	echo "usage: [PREFIX=/usr/local] [DESTDIR=] $0 install|uninstall BUILD" >&2
	exit 2
}
[ $# -eq 2 ] || usage
ACTION=$1
BUILD=$2
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
MANIFEST=$PREFIX/share/vhm/installed
HOOK=/etc/libvirt/hooks/qemu.d/50-vhm
UNIT="vhm-libvirt-watch.service"
SRC=$(dirname "$0")/..

case "$PREFIX" in
/*) ;;
*) echo "install: PREFIX '$PREFIX' is not an absolute path" >&2; exit 2 ;;
esac

die() {
	echo "install: $*" >&2
	exit 1
}

# ---- install -----------------------------------------------------------------

# The manifest being written: "f PATH" and "d PATH" lines, PATH without
# $DESTDIR. A second install keeps what the first recorded.
LIST=$(mktemp)
trap 'rm -f "$LIST"' EXIT

recorded() {
	grep -qxF "$1" "$LIST"
}

# mkdir -p $DESTDIR$1, recording each directory it creates.
make_dirs() {
	d=""
	for part in $(echo "$1" | tr '/' ' '); do
		d="$d/$part"
		[ -d "$DESTDIR$d" ] && continue
		mkdir "$DESTDIR$d"
		echo "d $d" >> "$LIST"
	done
}

# Refuse when $DESTDIR$1 exists and vhm did not install it.
check_ours() {
	if [ -e "$DESTDIR$1" ] || [ -L "$DESTDIR$1" ]; then
		recorded "f $1" || die "$DESTDIR$1 exists and was not installed by vhm; left alone" \
			"(remove it, or choose another PREFIX/DESTDIR)"
	fi
}

# The manifest is rewritten after every file, so an install that stops half
# way can still be uninstalled (or run again).
save_manifest() {
	sort -u "$LIST" > "$DESTDIR$MANIFEST"
	chmod 0644 "$DESTDIR$MANIFEST"
}

# put SRC MODE DST: install one file.
put() {
	check_ours "$3"
	make_dirs "$(dirname "$3")"
	install -m "$2" "$1" "$DESTDIR$3"
	echo "f $3" >> "$LIST"
	save_manifest
}

do_install() {
	[ -x "$BUILD/vhm" ] || die "no $BUILD/vhm: build it first (make)"
	[ -f "$BUILD/man/vhm.1" ] || die "no $BUILD/man/vhm.1: build the man pages first (make man)"
	if [ -n "$DESTDIR" ]; then
		mkdir -p "$DESTDIR"
	fi
	[ -f "$DESTDIR$MANIFEST" ] && cat "$DESTDIR$MANIFEST" > "$LIST"
	# Everything is checked before anything is written.
	for f in "$PREFIX/bin/vhm" "$PREFIX/share/bash-completion/completions/vhm" \
		 "$PREFIX/lib/systemd/system/$UNIT" "$HOOK" "$MANIFEST"; do
		check_ours "$f"
	done
	for m in "$BUILD"/man/*.1; do
		check_ours "$PREFIX/share/man/man1/$(basename "$m")"
	done

	make_dirs "$(dirname "$MANIFEST")"
	echo "f $MANIFEST" >> "$LIST"
	save_manifest
	put "$BUILD/vhm" 0755 "$PREFIX/bin/vhm"
	for m in "$BUILD"/man/*.1; do
		put "$m" 0644 "$PREFIX/share/man/man1/$(basename "$m")"
	done
	put "$SRC/contrib/vhm.bash" 0644 "$PREFIX/share/bash-completion/completions/vhm"
	sed "s|/usr/local/bin/vhm|$PREFIX/bin/vhm|" "$SRC/contrib/$UNIT" > "$BUILD/$UNIT"
	put "$BUILD/$UNIT" 0644 "$PREFIX/lib/systemd/system/$UNIT"
	make_dirs "$(dirname "$HOOK")"
	"$BUILD/vhm" hook --install --vhm "$PREFIX/bin/vhm" --target "$DESTDIR$HOOK" >/dev/null
	echo "f $HOOK" >> "$LIST"
	save_manifest
	echo "installed under ${DESTDIR:-/}: $(grep -c '^f ' "$DESTDIR$MANIFEST") files" \
	     "(listed in $DESTDIR$MANIFEST)"
}

# ---- uninstall ---------------------------------------------------------------

do_uninstall() {
	if [ ! -f "$DESTDIR$MANIFEST" ]; then
		echo "uninstall: no $DESTDIR$MANIFEST: vhm is not installed with PREFIX=$PREFIX"
		return 0
	fi
	cat "$DESTDIR$MANIFEST" > "$LIST"
	# The hook goes only while it is vhm's wrapper (vhm hook --uninstall
	# checks), so ask a vhm before it is removed.
	vhm="$DESTDIR$PREFIX/bin/vhm"
	[ -x "$vhm" ] || vhm="$BUILD/vhm"
	if recorded "f $HOOK" && [ -e "$DESTDIR$HOOK" ]; then
		"$vhm" hook --uninstall --target "$DESTDIR$HOOK" ||
			echo "uninstall: $DESTDIR$HOOK left in place" >&2
	fi
	sed -n 's/^f //p' "$LIST" | while read -r f; do
		[ "$f" = "$HOOK" ] && continue
		if [ -f "$DESTDIR$f" ] || [ -L "$DESTDIR$f" ]; then
			rm -f "$DESTDIR$f"
		fi
	done
	# Deepest first; a directory holding anything else stays.
	sed -n 's/^d //p' "$LIST" | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2- |
	while read -r d; do
		rmdir "$DESTDIR$d" 2>/dev/null || true
	done
	echo "uninstalled from ${DESTDIR:-/}: $(grep -c '^f ' "$LIST") files"
}

case "$ACTION" in
install) do_install ;;
uninstall) do_uninstall ;;
*) usage ;;
esac
