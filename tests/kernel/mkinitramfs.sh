#!/bin/sh
# Build the guest initramfs: static busybox, our /init, the kernel modules a test needs (resolved
# with their dependencies through the unpacked kernel's modules.dep, decompressed so busybox's
# insmod can load them), our own modules, and the static guest test binaries.
# Usage: mkinitramfs.sh ENVFILE OUT.cpio.gz "KMOD..." "OUR.ko..." TESTBIN|DATA.txt|SRC=DEST...
#   SRC=DEST copies SRC to DEST inside the guest (e.g. ROMs and Check programs under /hc).
set -eu
envfile=$1 out=$2 kmods=$3 ours=$4
shift 4
. "$envfile"
here=$(cd "$(dirname "$0")" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/sbin" "$stage/proc" "$stage/sys" "$stage/dev" "$stage/tmp" \
	"$stage/etc" "$stage/tests" "$stage/lib/modules" "$stage/run"
cp /bin/busybox "$stage/bin/busybox"
install -m 755 "$here/guest/init.sh" "$stage/init"
: >"$stage/etc/hc-modules"

# modules.dep lines: "path: dep1 dep2 ..." where later deps are loaded first.
add_kmod() {
	line=$(grep -E "/$1\.ko(\.xz|\.zst|\.gz)?:" "$MODDIR/modules.dep" | head -n 1)
	[ -n "$line" ] || { echo "mkinitramfs: module $1 not in $MODDIR/modules.dep" >&2; exit 1; }
	path=${line%%:*}
	deps=${line#*:}
	for d in $(echo $deps | tr ' ' '\n' | tac); do
		add_path "$d"
	done
	add_path "$path"
}
add_path() {
	name=$(basename "$1")
	name=${name%.xz}; name=${name%.zst}; name=${name%.gz}
	grep -qx "$name" "$stage/etc/hc-modules" && return 0
	case $1 in
	*.xz) xz -dc "$MODDIR/$1" >"$stage/lib/modules/$name" ;;
	*.zst) zstd -dcq "$MODDIR/$1" >"$stage/lib/modules/$name" ;;
	*.gz) gzip -dc "$MODDIR/$1" >"$stage/lib/modules/$name" ;;
	*) cp "$MODDIR/$1" "$stage/lib/modules/$name" ;;
	esac
	echo "$name" >>"$stage/etc/hc-modules"
}
for m in $kmods; do add_kmod "$m"; done
for k in $ours; do
	cp "$k" "$stage/lib/modules/"
	basename "$k" >>"$stage/etc/hc-modules"
done
: >"$stage/etc/hc-tests"
for t in "$@"; do
	case $t in
	*=/*)
		mkdir -p "$stage$(dirname "${t#*=}")"
		cp "${t%%=*}" "$stage${t#*=}"
		;;
	*.txt) cp "$t" "$stage/etc/" ;;	# data for the tests (e.g. expected tokens)
	*/hc-*) install -m 755 "$t" "$stage/bin/" ;;	# the project's tools
	*)
		install -m 755 "$t" "$stage/tests/"
		basename "$t" >>"$stage/etc/hc-tests"
		;;
	esac
done
LC_ALL=C sort -o "$stage/etc/hc-tests" "$stage/etc/hc-tests"	# run in name order
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
