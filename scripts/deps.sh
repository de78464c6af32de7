#!/bin/sh
# Install the Debian packages a target needs: as root it runs apt-get, otherwise it prints the line.
# Usage: scripts/deps.sh build|test|kernel|package|bench
set -eu
BUILD="make gcc clang pkg-config libpcre2-dev libjansson-dev libssl-dev liburing-dev libdrm-dev check libmicrohttpd-dev libedit-dev libsystemd-dev"
# curl and node drive hc-serve in tests/serve; npm ships with some nodejs builds (NodeSource)
# and is a separate Debian package otherwise.
TEST="$BUILD valgrind curl nodejs"
command -v npm >/dev/null 2>&1 || TEST="$TEST npm"
KERNEL="qemu-system-x86 busybox-static cpio xz-utils zstd kmod dkms bc flex bison libelf-dev dwarves"
# make check-package: dpkg-buildpackage, lintian, and dkms builds against the fetched headers
# (apt-get download + dpkg-deb; xz/zstd unpack the images); systemd-socket-activate is in systemd.
PACKAGE="$BUILD debhelper dh-dkms lintian dpkg-dev fakeroot dkms bc xz-utils zstd kmod flex bison libelf-dev dwarves systemd"
# make bench: ../shared/tools/peer-bench builds llama.cpp (cmake, g++) and writes its random
# checkpoints with Debian's python3 and numpy (/usr/bin/python3)
BENCH="$BUILD python3-numpy cmake g++"
case "${1:-build}" in
build) pkgs=$BUILD ;;
test) pkgs=$TEST ;;
kernel) pkgs="$TEST $KERNEL" ;;
package) pkgs=$PACKAGE ;;
bench) pkgs=$BENCH ;;
*) echo "usage: $0 build|test|kernel|package|bench" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "missing Debian packages; run as root:" >&2
	echo "  apt-get install -y$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
