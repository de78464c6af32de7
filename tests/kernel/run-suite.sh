#!/bin/sh
# Run the driver suite on each kernel series given (default "6.1 6.12"): build driver/ against the
# unpacked headers (warnings are failures), build an initramfs with the DRM modules, hc_accel.ko
# and the static guest tests, start hc-emud as the ivshmem-doorbell card peer and boot under TCG:
# once with MSI-X, once with pci=nomsi (polling), and once with one card per ROM that libhc's own
# Check programs use, running them unchanged through the driver (guest/libhc-checks.sh).
# Environment: CACHE, OUT, TOP (set by the Makefile); HC_KT_ROM (card ROM; default: bake the
# synthetic "tiny" ROM); HC_KT_EMUD_BIN (hc-emud binary, default build/hc-emud);
# HC_KT_DKMS=0 skips the `dkms build` check; HC_KT_LIBHC_TIMEOUT (seconds, default 300) bounds
# the libhc boot; HC_KT_FUZZ_SECONDS (default 60) the in-guest ioctl fuzzer of the MSI-X boot;
# HC_KT_BOOTS (default "msi nomsi libhc") picks the boots, e.g. HC_KT_BOOTS=msi
# HC_KT_APPEND=hc.tests=t_20_uapi HC_KT_DKMS=0 for one test in one boot while working on it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
TOP=${TOP:-$(cd "$here/../.." && pwd)}
CACHE=${CACHE:-$here/cache}
OUT=${OUT:-$here/out}
series=${*:-6.1 6.12}
fails=0
libhc_jobs=
suite_start=$(date +%s)
# Interrupted or not, leave no QEMU or hc-emud behind: every helper descends from this shell.
kill_tree() {
	for c in $(pgrep -P "$1"); do kill_tree "$c"; done
	kill -TERM "$1" 2>/dev/null
}
trap 'for c in $(pgrep -P $$); do kill_tree "$c"; done' EXIT
trap 'exit 130' INT TERM

build_module() {
	src=$OUT/$1/src
	rm -rf "$src"
	mkdir -p "$src/include/uapi"
	# HC_KT_DRIVER_SRC: another driver tree (driver/ files plus include/uapi/), e.g. an older
	# commit's, to show that a new guest test fails on it.
	if [ -n "${HC_KT_DRIVER_SRC:-}" ]; then
		cp "$HC_KT_DRIVER_SRC"/* "$src/" 2>/dev/null
		cp -r "$HC_KT_DRIVER_SRC"/include/uapi/* "$src/include/uapi/"
	else
		cp "$TOP"/driver/* "$src/"
		cp -r "$TOP"/include/uapi/* "$src/include/uapi/"
	fi
	if ! make -C "$KDIR" M="$src" W=1 modules >"$OUT/$1/build.log" 2>&1; then
		echo "run-suite: $KVER: module build failed:" >&2
		tail -n 30 "$OUT/$1/build.log" >&2
		return 1
	fi
	if grep -E 'warning:|error:' "$OUT/$1/build.log" >&2; then
		echo "run-suite: $KVER: module build has warnings (see $OUT/$1/build.log)" >&2
		return 1
	fi
	# The ID table holds only the card's own ID: ivshmem is bound through driver_override.
	if [ -z "${HC_KT_DRIVER_SRC:-}" ] &&
		/sbin/modinfo -F alias "$src/hc_accel.ko" | grep -qi 'v00001AF4d00001110'; then
		echo "run-suite: $KVER: hc_accel.ko claims ivshmem (1af4:1110) by its ID table" >&2
		return 1
	fi
	return 0
}

"$here/check-uapi.sh" "$TOP" "$OUT/uapi" || exit 1

# The card's ROM: stories260K when ../shared has it (the guest then also checks llama2.c's
# goldens), else the synthetic "tiny" model.
shared=${HC_SHARED_DIR:-$TOP/../shared}
golden=
mkdir -p "$OUT"
if [ -z "${HC_KT_ROM:-}" ] && [ -f "$shared/models/stories260K.bin" ] &&
	[ -f "$shared/golden/stories260K/bos_only.txt" ]; then
	rom=$OUT/stories260K.rom
	[ -f "$rom" ] || "$TOP/build/hc-bake" --quant F32 --no-progress --tokenizer builtin \
		"$shared/models/stories260K.bin" -o "$rom" >"$OUT/bake.log" 2>&1 ||
		{ echo "run-suite: cannot bake $rom:" >&2; cat "$OUT/bake.log" >&2; exit 1; }
	golden="$shared/golden/stories260K/bos_only.txt $shared/golden/stories260K/prompt_1_300.txt"
else
	rom=${HC_KT_ROM:-$OUT/tiny.rom}
	[ -f "$rom" ] || "$TOP/build/hc-bake" --synthetic tiny --seed 1 -o "$rom" \
		>"$OUT/bake.log" 2>&1 ||
		{ echo "run-suite: cannot bake $rom:" >&2; cat "$OUT/bake.log" >&2; exit 1; }
	echo "run-suite: no $shared/models/stories260K.bin: synthetic ROM, golden test skips"
fi
emud=${HC_KT_EMUD_BIN:-$TOP/build/hc-emud}
# Each hc-emud here runs one worker (-t 1): the tiny ROM needs no more, and QEMU's TCG
# needs the cores.

# libhc's Check programs (out/checks, tests/test_libhc*.c) run in a third boot against one card
# per ROM they use, each ROM baked exactly as the tests bake it and copied to the path the tests
# look for (build/tests/roms under /hc), with the shared data they read under /hc/shared.
mkdir -p "$OUT/roms"
bake_check_rom() {
	r=$OUT/roms/$1
	shift
	[ -f "$r" ] || "$TOP/build/hc-bake" "$@" -o "$r" >"$OUT/bake.log" 2>&1 ||
		{ echo "run-suite: cannot bake $r:" >&2; cat "$OUT/bake.log" >&2; exit 1; }
	check_roms="${check_roms:+$check_roms }$r"
	check_files="$check_files $r=/hc/build/tests/roms/${r##*/}"
}
check_roms='' check_files=''
bake_check_rom tiny-1.rom --synthetic tiny --seed 1
bake_check_rom tiny-ctx1100-2.rom --synthetic tiny --seed 2 --max-ctx 1100
if [ -n "$golden" ]; then
	bake_check_rom stories260K.rom --no-progress --tokenizer builtin "$shared/models/stories260K.bin"
	check_files="$check_files $shared/models/stories260K.bin=/hc/shared/models/stories260K.bin"
	for g in "$shared"/golden/stories260K/*.txt; do
		check_files="$check_files $g=/hc/shared/golden/stories260K/${g##*/}"
	done
fi
for c in "$OUT"/checks/test_*; do
	check_files="$check_files $c=/hc/checks/${c##*/}"
done
# The references those programs compare against, recorded by their run on the host (the
# Makefile's refs target): the guest reads them instead of running the forward pass under TCG.
for r in "$TOP"/build/tests/refs/*.ref; do
	[ -f "$r" ] && check_files="$check_files $r=/hc/refs/${r##*/}"
done
check_files="$check_files $here/guest/libhc-checks.sh=/tests/libhc-checks.sh"

# Wait (30 s at most: it takes milliseconds) until the card peer @2 listens on socket @1.
wait_socket() {
	j=0
	while [ ! -S "$1" ]; do
		if [ $j -ge 300 ] || ! kill -0 "$2" 2>/dev/null; then
			echo "run-suite: hc-emud did not create $1; its output:" >&2
			cat "$3" >&2
			return 1
		fi
		sleep 0.1
		j=$((j + 1))
	done
}

# Boot with one card per ROM of $check_roms (the first through run-qemu.sh's card peer, the
# others' hc-emud started here) and run only libhc-checks.sh.
libhc_boot() {
	extra='' pids='' i=0
	set -- $check_roms
	first=$1
	shift
	for r in "$@"; do
		i=$((i + 1))
		csock=$OUT/$s/card$i.sock
		rm -f "$csock"
		"$emud" -t 1 --rom "$r" --socket "$OUT/$s/emu$i.sock" --ivshmem "$csock" \
			>"$OUT/$s/console-libhc.log.emud$i" 2>&1 &
		pids="$pids $!"
		wait_socket "$csock" $! "$OUT/$s/console-libhc.log.emud$i" ||
			{ for p in $pids; do kill "$p"; done; return 1; }
		extra="$extra -chardev socket,path=$csock,id=hccard$i"
		extra="$extra -device ivshmem-doorbell,chardev=hccard$i,vectors=5"
	done
	set -- "$emud" -t 1 --rom "$first" --socket "$OUT/$s/emu0.sock" --ivshmem "$OUT/$s/card0.sock"
	HC_KT_SOCK=$OUT/$s/card0.sock HC_KT_VECTORS=5 HC_KT_QEMU_EXTRA=$extra \
		HC_KT_TIMEOUT=${HC_KT_LIBHC_TIMEOUT:-300} \
		HC_KT_APPEND="hc.tests=libhc-checks.sh ${HC_KT_APPEND:-}" \
		"$here/run-qemu.sh" "$CACHE/$s.env" "$OUT/$s/initramfs.cpio.gz" \
		"$OUT/$s/console-libhc.log" "$@"
	rc=$?
	for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	return $rc
}

# The reference: the guest's decode case through hc-emud's socket transport on the host.
ref_sock=$OUT/ref.sock
rm -f "$ref_sock"
"$emud" -t 1 --rom "$rom" --socket "$ref_sock" >"$OUT/ref-emud.log" 2>&1 &
ref_pid=$!
wait_socket "$ref_sock" $ref_pid "$OUT/ref-emud.log" || exit 1
timeout 120 "$OUT/host_ref" "emu:$ref_sock" >"$OUT/expected-decode.txt"
ref_rc=$?
kill "$ref_pid" 2>/dev/null
wait "$ref_pid" 2>/dev/null
if [ $ref_rc != 0 ]; then
	echo "run-suite: host reference decode failed" >&2
	cat "$OUT/ref-emud.log" >&2
	exit 1
fi

for s in $series; do
	[ -f "$CACHE/$s.env" ] || { echo "run-suite: no $CACHE/$s.env (run fetch-kernels.sh)" >&2; exit 1; }
	. "$CACHE/$s.env"
	mkdir -p "$OUT/$s"
	t0=$(date +%s)
	if ! build_module "$s"; then
		fails=$((fails + 1))
		continue
	fi
	if [ "${HC_KT_DKMS:-1}" != 0 ] && ! "$here/dkms-build.sh" "$CACHE/$s.env" "$OUT/$s/dkms" "$TOP"; then
		fails=$((fails + 1))
	fi
	"$here/mkinitramfs.sh" "$CACHE/$s.env" "$OUT/$s/initramfs.cpio.gz" "drm" \
		"$OUT/$s/src/hc_accel.ko" "$OUT"/guest/t_* "$here"/guest/t_*.sh "$OUT"/tools/hc-* "$OUT/expected-decode.txt" \
		$golden $check_files || { fails=$((fails + 1)); continue; }
	boots=${HC_KT_BOOTS:-msi nomsi libhc}
	sock=$OUT/$s/card.sock
	# The card: hc-emud serving ivshmem-doorbell (card peer 0) plus its own socket, which the
	# host-side reference runs use. 1 + queue pairs vectors each way.
	set -- "$emud" -t 1 --rom "$rom" --socket "$OUT/$s/emu.sock" --ivshmem "$sock" --allow-faults
	# The MSI-X boot also runs the in-guest ioctl fuzzer (t_95_ioctl_fuzz) for
	# HC_KT_FUZZ_SECONDS (default 60; the nomsi boot skips it).
	# Its bound: the usual one plus twice the fuzzing time (the fuzzing runs for that long
	# whatever the load, and the checks after it wait for its leftovers to go).
	fuzz_s=${HC_KT_FUZZ_SECONDS:-60}
	case " $boots " in *" msi "*)
	HC_KT_SOCK=$sock HC_KT_VECTORS=5 HC_KT_TIMEOUT=$((${HC_KT_TIMEOUT:-180} + 2 * fuzz_s)) \
		HC_KT_APPEND="hc.fuzz=$fuzz_s ${HC_KT_APPEND:-}" \
		"$here/run-qemu.sh" "$CACHE/$s.env" "$OUT/$s/initramfs.cpio.gz" \
		"$OUT/$s/console.log" "$@" || fails=$((fails + 1)) ;;
	esac
	# Again without MSI (pci=nomsi; ivshmem-doorbell has no INTx): the driver's polling mode.
	case " $boots " in *" nomsi "*)
	# (The fuzzer and the race test run in the MSI-X boot only: hc.race=0 skips the latter.)
	HC_KT_SOCK=$sock HC_KT_VECTORS=5 HC_KT_APPEND="pci=nomsi hc.race=0 ${HC_KT_APPEND:-}" \
		"$here/run-qemu.sh" "$CACHE/$s.env" "$OUT/$s/initramfs.cpio.gz" \
		"$OUT/$s/console-nomsi.log" "$@" || fails=$((fails + 1)) ;;
	esac
	# libhc's Check programs through the driver, one card per ROM they use. That guest is busy
	# on one vCPU for a minute (in-process references under TCG): let it run alongside the
	# next kernel's boots and collect its result at the end.
	case " $boots " in *" libhc "*)
	libhc_boot >"$OUT/$s/libhc-boot.out" 2>&1 &
	libhc_jobs="$libhc_jobs $!:$s" ;;
	esac
	echo "run-suite: $KVER: $(($(date +%s) - t0))s including the module build"
done
for j in $libhc_jobs; do
	wait "${j%%:*}" || fails=$((fails + 1))
	cat "$OUT/${j#*:}/libhc-boot.out"
done
echo "run-suite: $fails kernel(s) failed, $(($(date +%s) - suite_start))s total"
[ $fails = 0 ]
