#!/bin/sh
# `dkms build` of the installed driver source (make install-dkms) against an unpacked kernel (ENVFILE from fetch-kernels.sh), in a
# private DKMS tree under OUTDIR: checks dkms.conf and the Kbuild/Makefile work the way DKMS
# drives them (kernelver, no `uname -r`) without touching /usr/src or /var/lib/dkms.
# Usage: dkms-build.sh ENVFILE OUTDIR TOP
set -eu
envfile=$1 out=$2 top=$3
. "$envfile"
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$top/driver/dkms.conf")
rm -rf "$out"
mkdir -p "$out/tree"
# The tree exactly as the hc-accel-dkms package ships it: `make install-dkms`.
make -s -C "$top" install-dkms DESTDIR= DKMSDIR="$out/src" >/dev/null
if ! dkms build -m hc_accel -v "$ver" -k "$KVER" --kernelsourcedir "$KDIR" \
	--sourcetree "$out/src" --dkmstree "$out/tree" >"$out/dkms.log" 2>&1; then
	echo "dkms-build: $KVER: dkms build failed:" >&2
	tail -n 20 "$out/dkms.log" >&2
	find "$out/tree" -name make.log -exec tail -n 30 {} \; >&2
	exit 1
fi
ko=$(find "$out/tree/hc_accel/$ver/$KVER" -name 'hc_accel.ko*' | head -n 1)
[ -n "$ko" ] || { echo "dkms-build: $KVER: no hc_accel.ko produced" >&2; exit 1; }
echo "dkms-build: $KVER: ok ($ko)"
