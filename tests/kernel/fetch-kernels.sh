#!/bin/sh
# Fetch Debian 12's 6.1 and 6.12 kernel images, modules and headers into a cache folder WITHOUT
# installing them (apt-get download + dpkg-deb -x), so the driver can be built against and booted
# on both. Versions are picked from apt-cache at run time: a fresh CI machine gets what exists.
#
# Usage: tests/kernel/fetch-kernels.sh [CACHE_DIR] [SERIES...]   (default series: 6.1 6.12)
# Writes CACHE_DIR/<series>.env (KVER, KDIR, MODDIR, VMLINUX) for tests/kernel/Makefile.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-$here/cache}
[ $# -gt 0 ] && shift
series=${*:-6.1 6.12}
mkdir -p "$cache/debs"
cache=$(cd "$cache" && pwd)

die() { echo "fetch-kernels: $*" >&2; exit 1; }

# Newest ABI of a series, e.g. "6.1.0-56" or "6.12.117+deb12".
pick_abi() {
	case $1 in
	6.1) pat='^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' ;;
	6.12) pat='^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' ;;
	*) die "unknown series $1" ;;
	esac
	apt-cache search --names-only "$pat" | cut -d' ' -f1 |
		sed -e 's/^linux-image-//' -e 's/-amd64-unsigned$//' | sort -V | tail -n 1
}

# The uncompressed ELF boots faster under QEMU (PVH entry) than the bzImage. Find the payload by
# its compression magic and decompress until the result is an ELF file.
extract_vmlinux() {
	for fmt in xz zstd gzip; do
		case $fmt in
		xz) magic='\3757zXZ\000'; cmd="xz -dc --single-stream" ;;
		zstd) magic='\050\265\057\375'; cmd="zstd -dcq" ;;
		gzip) magic='\037\213\010'; cmd="gzip -dc" ;;
		esac
		m=$(printf "$magic")
		for off in $(LC_ALL=C grep -abo "$m" "$1" 2>/dev/null | cut -d: -f1); do
			tail -c +"$((off + 1))" "$1" | $cmd >"$2" 2>/dev/null || true
			[ "$(head -c 4 "$2" | od -An -c | tr -d ' ')" = '177ELF' ] && return 0
		done
	done
	return 1
}

# apt-get download writes into the current directory. Stale package lists (the mirror moved
# on to a newer build) fail it: as root, update them once and retry.
download() {
	(cd "$cache/debs" && apt-get download -q -o APT::Sandbox::User=root "$1") && return 0
	[ "$(id -u)" = 0 ] || return 1
	apt-get update -qq >/dev/null 2>&1 || true
	(cd "$cache/debs" && apt-get download -q -o APT::Sandbox::User=root "$1")
}

fetch_one() {
	s=$1
	abi=$(pick_abi "$s")
	if [ -z "$abi" ] && [ "$(id -u)" = 0 ]; then
		# A fresh machine may have no package lists yet.
		apt-get update -qq >/dev/null 2>&1 || true
		abi=$(pick_abi "$s")
	fi
	[ -n "$abi" ] || die "no linux-image for $s in apt-cache (run apt-get update?)"
	kver=$abi-amd64
	case $s in
	6.1) kbuild=linux-kbuild-6.1 ;;
	*) kbuild=linux-kbuild-$abi ;;
	esac
	root=$cache/$kver
	if [ -f "$cache/$s.env" ] && [ -f "$root/.complete" ]; then
		echo "fetch-kernels: $s: $kver cached"
		return 0
	fi
	echo "fetch-kernels: $s: fetching $kver"
	rm -rf "$root"
	mkdir -p "$root"
	for p in linux-image-$kver-unsigned linux-headers-$kver linux-headers-$abi-common $kbuild; do
		# skip what we already have
		ls "$cache/debs/${p}_"*.deb >/dev/null 2>&1 || download "$p" || die "apt-get download $p failed"
		for d in "$cache/debs/${p}_"*.deb; do
			dpkg-deb -x "$d" "$root"
		done
	done
	kdir=$root/usr/src/linux-headers-$kver
	common=$root/usr/src/linux-headers-$abi-common
	[ -f "$kdir/Makefile" ] || die "$kdir/Makefile missing after unpacking"
	# The flavour Makefile includes the common tree by absolute path: point it at our copy.
	sed -i "s|/usr/src/linux-headers-$abi-common|$common|g" "$kdir/Makefile"
	# scripts/ and tools/ are symlinks into linux-kbuild; make absolute links relative to root.
	for l in "$kdir"/* "$common"/*; do
		[ -L "$l" ] || continue
		t=$(readlink "$l")
		case $t in /*) ln -sfn "$root$t" "$l" ;; esac
	done
	moddir=$root/lib/modules/$kver
	[ -d "$moddir" ] || die "$moddir missing"
	# 6.1's image ships no modules.dep; build it for the unpacked tree.
	[ -f "$moddir/modules.dep" ] || depmod -b "$root" "$kver"
	vmlinux=$cache/vmlinux-$kver
	if [ ! -f "$vmlinux" ]; then
		extract_vmlinux "$root/boot/vmlinuz-$kver" "$vmlinux.tmp" ||
			die "cannot extract vmlinux from $root/boot/vmlinuz-$kver"
		mv "$vmlinux.tmp" "$vmlinux"
	fi
	cat >"$cache/$s.env" <<EOF
KVER=$kver
KDIR=$kdir
MODDIR=$moddir
VMLINUX=$vmlinux
EOF
	touch "$root/.complete"
}

for s in $series; do
	fetch_one "$s"
done
