#!/bin/sh
# libhc's own Check programs (tests/test_libhc*.c, as run by the host's `make check`), unchanged,
# against the driver's nodes: external-card mode (HC_TEST_DEVICE, tests/common/libhc_util.c) picks the
# card whose ROM a test expects; the harness boots one card per ROM (run-suite.sh). Reads each
# program's Check summary and SKIP lines the way tests/run-tests.sh does; any failure fails.
devs=
for n in /sys/class/accel/accel* /sys/class/drm/renderD*; do
	case $(readlink "$n/device/driver" 2>/dev/null) in
	*/hc_accel) ;;
	*) continue ;;
	esac
	case $n in
	*/accel/*) d=/dev/accel/${n##*/} ;;
	*) d=/dev/dri/${n##*/} ;;
	esac
	devs=${devs:+$devs,}$d
done
if [ -z "$devs" ]; then
	echo "  FAIL: no hc_accel device node"
	exit 1
fi
export HC_TEST_DEVICE=$devs
echo "  HC_TEST_DEVICE=$devs"
# The tests' paths are relative to the repository root: build/tests/roms, build/hc-run, shared.
cd /hc || exit 1
mkdir -p build
ln -sf /bin/hc-run build/hc-run
[ -d /hc/shared ] && export HC_SHARED_DIR=/hc/shared
# The references the tests compare against, recorded by the host's run of these programs
# (tests/common/libhc_util.c): the forward pass is not run again under TCG.
[ -d /hc/refs ] && export HC_TEST_REF_DIR=/hc/refs
fail=0 total_p=0 total_s=0
for t in /hc/checks/test_*; do
	name=${t##*/}
	log=/tmp/$name.log
	start=$(cut -d' ' -f1 /proc/uptime)
	echo "  $name: start at ${start}s uptime"
	# stdout (Check's summary) to the log; stderr to the console as it happens: the
	# "RUN test (bound N s)" and "TIME test T s of N s" lines (tests/common/hc_test.h), so a boot
	# killed by its bound names the test that was running.
	"$t" >"$log"
	rc=$?
	end=$(cut -d' ' -f1 /proc/uptime)
	line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -n 1)
	n=$(echo "$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
	f=$(echo "$line" | sed -n 's/.*Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2/p')
	s=$(grep -c '^SKIP' "$log")
	nf=0
	[ -n "$f" ] && nf=$((${f% *} + ${f#* }))
	[ -z "$n" ] && { n=1; nf=1; }
	[ $rc -ne 0 ] && [ $nf -eq 0 ] && nf=1
	p=$((n - nf - s))
	total_p=$((total_p + p))
	total_s=$((total_s + s))
	secs=$(echo "$start $end" | awk '{ printf "%.1f", $2 - $1 }')
	if [ $nf -ne 0 ]; then
		echo "  FAIL $name: $nf of $n failed (exit $rc), ${secs}s ($start-${end}s uptime)"
		grep -E ':[EF]:' "$log" | head -n 20 | sed 's/^/    /'
		tail -n 5 "$log" | sed 's/^/    /'
		fail=1
	else
		echo "  ok   $name: $p passed, $s skipped of $n, ${secs}s ($start-${end}s uptime)"
	fi
	grep '^SKIP' "$log" | sed 's/^/    /'
done
echo "  libhc checks: $total_p passed, $total_s skipped"
exit $fail
