#!/bin/sh
# `make check`: the Check programs on the host, then the driver suite inside QEMU on Debian's
# kernels; one closing line counts both. HC_CHECK_KERNEL=0 leaves the QEMU suite out (then the
# closing line says so).
# Usage: tests/check-all.sh BUILD_DIR TEST...
B=$1
mkdir -p "$B/tests/logs"
t0=$(date +%s)
tests/run-tests.sh "$@" | tee "$B/tests/logs/unit.txt"
t1=$(date +%s)
times="host Check programs $((t1 - t0)) s"
unit=$(tail -n 1 "$B/tests/logs/unit.txt")
passed=$(echo "$unit" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
failed=$(echo "$unit" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
skipped=$(echo "$unit" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
[ -n "$passed" ] || { passed=0; failed=1; skipped=0; }

# The ASan + UBSan build: a quick set of the Check programs (HC_CHECK_SANITIZE=full: all of
# them, as `make check-sanitize`; =0: none) and every fuzz target's corpus and crash cases
# replayed through it (tests/fuzz/check-sanitize.sh, its own closing lines)
if [ "${HC_CHECK_SANITIZE:-quick}" = 0 ]; then
	echo "SKIP  sanitizer suite (HC_CHECK_SANITIZE=0)"
	skipped=$((skipped + 1))
else
	ts=$(date +%s)
	shift
	tests/fuzz/check-sanitize.sh "${HC_SAN_BUILD:-build-asan}" "${HC_CHECK_SANITIZE:-quick}" \
		"$@" | tee "$B/tests/logs/sanitize.txt"
	set -- "$B" "$@"
	for what in sanitize "fuzz replay"; do
		sp=$(sed -n "s/^$what: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped.*/\1 \2 \3/p" \
			"$B/tests/logs/sanitize.txt" | tail -n 1)
		[ -n "$sp" ] || sp="0 1 0"
		set -- $sp
		passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + $3))
	done
	times="$times, sanitizer suite and fuzz replay $(($(date +%s) - ts)) s"
fi

# Each libFuzzer target for a few seconds (FUZZ_SMOKE_SECONDS, 0: none) from its corpus; a
# SKIP line without clang's libFuzzer
if [ "${FUZZ_SMOKE_SECONDS:-3}" != 0 ]; then
	ts=$(date +%s)
	${MAKE:-make} --no-print-directory fuzz FUZZ_SECONDS="${FUZZ_SMOKE_SECONDS:-3}" 2>&1 |
		grep -v '^clang \|^rm -f \|^ld -r\|^objcopy \|^ar \|^make\[' | tee "$B/tests/logs/fuzz-smoke.txt"
	if grep -q '^SKIP' "$B/tests/logs/fuzz-smoke.txt"; then
		skipped=$((skipped + 1))
	else
		fc=$(sed -n 's/^fuzz: \([0-9]*\) targets clean, \([0-9]*\) failed$/\1 \2/p' \
			"$B/tests/logs/fuzz-smoke.txt")
		[ -n "$fc" ] || fc="0 1"
		passed=$((passed + ${fc% *})); failed=$((failed + ${fc#* }))
	fi
	times="$times, fuzz smoke $(($(date +%s) - ts)) s"
fi

# hc-serve driven by curl and the openai npm client (a shell suite with its own closing line)
ts=$(date +%s)
tests/serve/test-serve.sh "$B" | tee "$B/tests/logs/serve.txt"
sl=$(tail -n 1 "$B/tests/logs/serve.txt")
sp=$(echo "$sl" | sed -n 's/^serve: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p')
[ -n "$sp" ] || sp="0 1 0"
set -- $sp
passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + $3))
times="$times, hc-serve suite $(($(date +%s) - ts)) s"

if [ "${HC_CHECK_KERNEL:-1}" = 0 ]; then
	echo "SKIP  kernel suite (HC_CHECK_KERNEL=0)"
	skipped=$((skipped + 1))
else
	out=tests/kernel/out
	rm -f "$out"/*/console*.log
	${MAKE:-make} -C tests/kernel check 2>&1 | tee "$B/tests/logs/kernel.txt"
	krc=$(grep -c '^run-suite: 0 kernel(s) failed' "$B/tests/logs/kernel.txt")
	kp=$(cat "$out"/*/console*.log 2>/dev/null | grep -c '^hc-ktest: PASS')
	kf=$(cat "$out"/*/console*.log 2>/dev/null | grep -c '^hc-ktest: FAIL')
	ks=$(cat "$out"/*/console*.log 2>/dev/null | grep -c '^hc-ktest: SKIP')
	# libhc's own Check programs, run in the guest against the kernel backend
	lp=$(cat "$out"/*/console*.log 2>/dev/null | sed -n 's/^ *libhc checks: \([0-9]*\) passed.*/\1/p' |
		awk '{ s += $1 } END { print s + 0 }')
	ls=$(cat "$out"/*/console*.log 2>/dev/null | sed -n 's/^ *libhc checks: .* \([0-9]*\) skipped.*/\1/p' |
		awk '{ s += $1 } END { print s + 0 }')
	kp=$((kp + lp)); ks=$((ks + ls))
	# a boot that died, a module that did not build, an oops: the suite failed as a whole
	[ "$krc" = 1 ] || [ "$kf" -gt 0 ] || kf=1
	echo "kernel suite: $kp passed, $kf failed, $ks skipped (guest tests and guest libhc checks over all boots)"
	times="$times, QEMU driver suite $(($(date +%s) - t1)) s"
	passed=$((passed + kp)); failed=$((failed + kf)); skipped=$((skipped + ks))
fi
echo "make check: $times, $(($(date +%s) - t0)) s in all"
echo "check: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
