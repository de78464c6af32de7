#!/bin/sh
# make check-package: the Debian packages as a packager and an administrator meet them
# (docs/packaging.md). Out of the source tree, in B/pkg:
#   1. copy the tracked files (git ls-files, as they are in the work tree) to B/pkg/src;
#   2. dpkg-buildpackage -us -uc -b there;
#   3. lintian on the .changes: any E: fails;
#   4. dpkg -x every package into a scratch root, B/pkg/root (no chroot, nothing installed);
#   5. every program there has a man page, answers --version with the one version, and is
#      hardened (PIE, RELRO, BIND_NOW, stack protector, fortified calls);
#   6. dkms build from the installed /usr/src tree against Debian 12's 6.1 and 6.12 headers
#      (tests/kernel/fetch-kernels.sh and its cache; skipped, with a message, if they cannot
#      be fetched) with a private DKMS tree;
#   7. hc-emud started with hc-emud.service's ExecStart (paths moved into the root), through
#      socket activation as hc-emud.socket would, on a ROM baked by the installed hc-bake;
#   8. the installed hc-run against it, and an application built with the installed libhc-dev
#      (pkg-config --cflags --libs libhc) against it.
# Each step prints its wall time. Usage: tests/package/check-package.sh [TOP] [B]
# Environment: HC_KERNEL_CACHE (default tests/kernel/cache), HC_PKG_DKMS=0 skips step 6.
set -eu
top=$(cd "${1:-.}" && pwd)
b=${2:-build}
case $b in /*) ;; *) b=$top/$b ;; esac
pkg=$b/pkg
root=$pkg/root
cache=${HC_KERNEL_CACHE:-$top/tests/kernel/cache}
ver=$(sed -n 's/^#define HC_VERSION_STRING[[:space:]]*"\(.*\)"/\1/p' "$top/include/hc/hc_version.h")
emud_pid=

now() { date +%s.%N; }
t_all=$(now)
t_step=$t_all
step_done() {
	t=$(now)
	printf 'check-package: %-10s %6.1f s\n' "$1" "$(echo "$t - $t_step" | bc)"
	t_step=$t
}
die() {
	echo "check-package: FAIL: $*" >&2
	exit 1
}
cleanup() {
	[ -z "$emud_pid" ] || { kill "$emud_pid" 2>/dev/null; wait "$emud_pid" 2>/dev/null; } || true
}
trap cleanup EXIT INT TERM

for c in dpkg-buildpackage lintian dh pkg-config bc; do
	command -v "$c" >/dev/null || die "$c is missing: sh scripts/deps.sh package"
done

# 1. The tracked files only: no build/, no stray files, what a release tarball would hold.
rm -rf "$pkg"
mkdir -p "$pkg/src"
(cd "$top" && git ls-files -z | xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' _ |
	tar --null -T - -cf -) | tar -xf - -C "$pkg/src"
[ -f "$pkg/src/debian/control" ] || die "debian/ is not tracked in git"
step_done copy

# 2. As a packager would (debian/rules passes dpkg-buildflags, runs no test).
jobs=$(nproc 2>/dev/null || echo 1)
if ! (cd "$pkg/src" && DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -us -uc -b >"$pkg/build.log" 2>&1); then
	tail -n 40 "$pkg/build.log" >&2
	die "dpkg-buildpackage failed (log: $pkg/build.log)"
fi
debs=$(ls "$pkg"/*.deb | grep -v -- '-dbgsym_')
echo "check-package: built $(echo "$debs" | sed 's|.*/||' | tr '\n' ' ')"
step_done build

# 3. Errors fail; warnings and the rest are shown.
lintian --fail-on error --display-info "$pkg"/*.changes >"$pkg/lintian.log" 2>&1 || true
grep -v -e '^N:' -e 'running with root privileges' "$pkg/lintian.log" | sed 's/^/lintian: /' || true
! grep -q '^E:' "$pkg/lintian.log" || die "lintian reports errors ($pkg/lintian.log)"
step_done lintian

# 4. The files as dpkg would place them.
mkdir -p "$root"
for d in $debs; do
	dpkg-deb -x "$d" "$root"
done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
for f in usr/lib/$multiarch/libhc.so.1 usr/lib/$multiarch/libhc.a usr/lib/$multiarch/pkgconfig/libhc.pc \
	usr/include/hc/hc.h usr/include/hc/uapi/hc_card.h usr/sbin/hc-emud usr/bin/hc-run \
	usr/libexec/hc/hc-bench lib/systemd/system/hc-emud.service lib/systemd/system/hc-emud.socket \
	lib/udev/rules.d/99-hc-accel.rules etc/default/hc-emud usr/src/hc_accel-$ver/dkms.conf \
	usr/src/hc_accel-$ver/include/uapi/hc_card.h; do
	[ -e "$root/$f" ] || die "/$f is in no package"
done
step_done unpack

# 5. Every program on PATH has its page; every installed program its version.
for p in "$root"/usr/bin/* "$root"/usr/sbin/* "$root"/usr/libexec/hc/*; do
	n=${p##*/}
	v=$("$p" --version 2>&1) || die "$n --version failed: $v"
	[ "$v" = "$n $ver" ] || die "$n --version: '$v', expected '$n $ver'"
	case $p in */libexec/*) continue ;; */sbin/*) s=8 ;; *) s=1 ;; esac
	[ -f "$root/usr/share/man/man$s/$n.$s.gz" ] || die "$n has no man page ($n.$s)"
done
# dpkg-buildflags' hardening=+all reached every link: PIE, RELRO with BIND_NOW, fortified
# calls and the stack protector wherever the compiler used them.
for p in "$root"/usr/bin/* "$root"/usr/sbin/* "$root"/usr/libexec/hc/* "$root"/usr/lib/$multiarch/libhc.so.1; do
	d=$(readelf -d "$p")
	echo "$d" | grep -q BIND_NOW || die "${p#$root}: not linked with -z now"
	readelf -l "$p" | grep -q GNU_RELRO || die "${p#$root}: no RELRO"
	case $p in *.so.*) ;; *) echo "$d" | grep -q 'Flags:.*PIE' || die "${p#$root}: not PIE" ;; esac
	nm -D "$p" | grep -q '__stack_chk_fail' || die "${p#$root}: no stack protector"
	nm -D "$p" | grep -q '_chk@' || die "${p#$root}: no _FORTIFY_SOURCE"
done
step_done versions

# 6. DKMS exactly as the package's postinst would run it, but into a private tree.
if [ "${HC_PKG_DKMS:-1}" = 0 ]; then
	echo "check-package: dkms: skipped (HC_PKG_DKMS=0)"
elif ! command -v dkms >/dev/null; then
	echo "check-package: dkms: SKIP: dkms is not installed (sh scripts/deps.sh kernel)"
elif ! "$top/tests/kernel/fetch-kernels.sh" "$cache" 6.1 6.12 >"$pkg/fetch.log" 2>&1; then
	sed 's/^/  /' "$pkg/fetch.log" | tail -n 5
	echo "check-package: dkms: SKIP: Debian's kernel headers could not be fetched"
else
	for s in 6.1 6.12; do
		# shellcheck disable=SC1090
		. "$cache/$s.env"
		tree=$pkg/dkms-$s
		mkdir -p "$tree"
		if ! dkms build -m hc_accel -v "$ver" -k "$KVER" --kernelsourcedir "$KDIR" \
			--sourcetree "$root/usr/src" --dkmstree "$tree" >"$pkg/dkms-$s.log" 2>&1; then
			tail -n 20 "$pkg/dkms-$s.log" >&2
			find "$tree" -name make.log -exec tail -n 30 {} \; >&2
			die "dkms build against $KVER failed"
		fi
		ko=$(find "$tree/hc_accel/$ver/$KVER" -name 'hc_accel.ko*' | head -n 1)
		[ -n "$ko" ] || die "dkms build against $KVER made no hc_accel.ko"
		echo "check-package: dkms: $KVER: ${ko##*/}"
	done
fi
step_done dkms

# 7. The unit's own command line, its paths moved into the scratch root; /etc/default/hc-emud
# as the unit reads it; the socket made and passed the way hc-emud.socket has systemd do it.
unit=$root/lib/systemd/system/hc-emud.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ -n "$exec_start" ] || die "no ExecStart in hc-emud.service"
grep -q '^Type=notify' "$unit" || die "hc-emud.service is not Type=notify"
listen=$(sed -n 's/^ListenStream=//p' "$root/lib/systemd/system/hc-emud.socket")
[ "$listen" = /run/hc/emud.sock ] || die "hc-emud.socket listens on '$listen', not libhc's default"
HC_EMUD_OPTS=
# shellcheck disable=SC1091
. "$root/etc/default/hc-emud"
rom=$(echo "$exec_start" | sed -n 's/.*--rom \([^ ]*\).*/\1/p')
[ -n "$rom" ] || die "no --rom in ExecStart"
"$root/usr/bin/hc-bake" --synthetic tiny -o "$root$rom" >"$pkg/bake.log" 2>&1 ||
	die "the installed hc-bake failed: $(tail -n 3 "$pkg/bake.log")"
sock=$pkg/run/hc/emud.sock
mkdir -p "${sock%/*}"
rm -f "$sock"
# The words of ExecStart, with /usr, /var and $HC_EMUD_OPTS resolved (word splitting is
# systemd's too: no quotes in our unit).
set --
for w in $exec_start; do
	case $w in
	'$HC_EMUD_OPTS') for o in $HC_EMUD_OPTS; do set -- "$@" "$o"; done ;;
	/*) set -- "$@" "$root$w" ;;
	*) set -- "$@" "$w" ;;
	esac
done
echo "check-package: ExecStart: $*"
if command -v systemd-socket-activate >/dev/null; then
	# listens on the socket, and on the first connection execs hc-emud with it as fd 3
	# (LISTEN_FDS=1, LISTEN_PID): the daemon's pid is this one
	systemd-socket-activate -l "$sock" "$@" 2>"$pkg/emud.log" &
else
	echo "check-package: no systemd-socket-activate: hc-emud binds $sock itself"
	"$@" --socket "$sock" 2>"$pkg/emud.log" &
fi
emud_pid=$!
i=0
while [ ! -S "$sock" ]; do
	[ $i -lt 100 ] && kill -0 "$emud_pid" 2>/dev/null || die "no socket $sock: $(cat "$pkg/emud.log")"
	sleep 0.1
	i=$((i + 1))
done
step_done emud

# 8. The installed hc-run, then an application of libhc-dev's; both find the card through
# HC_DEVICE (the unit's /run/hc/emud.sock is their default when it is the real one).
export HC_DEVICE=emu:$sock
timeout 60 "$root/usr/bin/hc-run" -n 16 "Once upon a time" >"$pkg/hc-run.out" 2>&1 ||
	die "the installed hc-run failed: $(tail -n 5 "$pkg/hc-run.out"); hc-emud: $(tail -n 5 "$pkg/emud.log")"
tail -n 1 "$pkg/hc-run.out" | sed 's/^/check-package: hc-run: /'
export PKG_CONFIG_SYSROOT_DIR=$root
export PKG_CONFIG_PATH=$root/usr/lib/$multiarch/pkgconfig
flags=$(pkg-config --cflags --libs libhc) || die "pkg-config libhc failed"
case $flags in *"-I$root/usr/include"*) ;; *) die "pkg-config libhc: $flags" ;; esac
# shellcheck disable=SC2086
${CC:-cc} -std=c99 -Wall -Wextra -Werror -o "$pkg/app_libhc" "$top/tests/package/app_libhc.c" \
	$flags || die "building an application with pkg-config libhc failed"
LD_LIBRARY_PATH=$root/usr/lib/$multiarch timeout 60 "$pkg/app_libhc" >"$pkg/app.out" 2>&1 ||
	die "app_libhc failed: $(cat "$pkg/app.out")"
LD_LIBRARY_PATH=$root/usr/lib/$multiarch ldd "$pkg/app_libhc" | grep -q "$root/usr/lib/$multiarch/libhc.so.1" ||
	die "app_libhc does not use the installed libhc.so.1"
tail -n 1 "$pkg/app.out" | sed 's/^/check-package: /'
kill "$emud_pid"
wait "$emud_pid" || die "hc-emud did not stop cleanly: $(tail -n 5 "$pkg/emud.log")"
emud_pid=
grep -q 'info: listening on ' "$pkg/emud.log" || die "hc-emud's log: $(cat "$pkg/emud.log")"
step_done clients

t_step=$t_all
step_done total
echo "check-package: ok"
