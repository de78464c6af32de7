#!/bin/sh
# libhc's own Check programs (tests/test_libhc*.c, as run by the host's `make check`), unchanged,
# against the driver's nodes: external-card mode (HC_TEST_DEVICE, tests/libhc_util.c) picks the
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
export CK_DEFAULT_TIMEOUT=60	# TCG: the 4 s default is too short for the unnamed test cases
fail=0 total_p=0 total_s=0
for t in /hc/checks/test_*; do
	name=${t##*/}
	log=/tmp/$name.log
	start=$(cut -d' ' -f1 /proc/uptime)
	CK_XML_LOG_FILE_NAME=/tmp/$name.xml "$t" >"$log" 2>&1
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
	if [ $nf -ne 0 ]; then
		echo "  FAIL $name: $nf of $n failed (exit $rc), $start-${end}s uptime"
		grep -E ':[EF]:' "$log" | head -n 20 | sed 's/^/    /'
		tail -n 5 "$log" | sed 's/^/    /'
		fail=1
	else
		echo "  ok   $name: $p passed, $s skipped of $n, $start-${end}s uptime"
	fi
	grep '^SKIP' "$log" | sed 's/^/    /'
	# per-test wall time from Check's XML log (TCG is slow: keep an eye on it)
	{ tr -d '\n' <"/tmp/$name.xml"; echo; } 2>/dev/null | sed 's/<test /\n<test /g' |
		sed -n 's/.*<id>\([^<]*\)<\/id>[^<]*<iteration>[^<]*<\/iteration>[^<]*<duration>\([^<]*\)<.*/    \2 s \1/p'
done
echo "  libhc checks: $total_p passed, $total_s skipped"
exit $fail
