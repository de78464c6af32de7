#!/bin/sh
# Runs each test program, reads Check's summary line and SKIP: lines, prints one closing line.
# Exit 77 from a program means the whole program skipped.
# Each program prints "RUN  test (bound N s)" and "TIME test T s of N s" for every test
# (tests/common/hc_test.h); this prints each program's wall time and its slowest test against that
# test's bound, and keeps every test's time in $B/tests/logs/times.txt. A whole program is
# bounded too (HC_TEST_PROGRAM_TIMEOUT seconds, default 1800): one that is killed is named
# with the test it was running.
# References the libhc tests compute are recorded in $B/tests/refs for the QEMU guest, with a
# stamp per program (tests/kernel/Makefile).
B=$1; shift
passed=0 failed=0 skipped=0
mkdir -p "$B/tests/logs"
bound=${HC_TEST_PROGRAM_TIMEOUT:-1800}
times=${HC_TEST_TIMES:-$B/tests/logs/times.txt}
: >"$times"
export HC_TEST_REF_RECORD="${HC_TEST_REF_RECORD:-$B/tests/refs}"
now() { date +%s.%N; }
for t in "$@"; do
	log="$B/tests/logs/$t.log"
	start=$(now)
	timeout --kill-after=10 "$bound" "$B/tests/$t" >"$log" 2>&1
	rc=$?
	secs=$(echo "$start $(now)" | awk '{ printf "%.1f", $2 - $1 }')
	s=$(grep -c '^SKIP' "$log")
	if [ $rc -eq 77 ]; then
		echo "SKIP  $t: $(grep -m1 '^SKIP' "$log")"
		skipped=$((skipped + 1)); continue
	fi
	[ -d "$HC_TEST_REF_RECORD" ] && touch "$HC_TEST_REF_RECORD/$t.recorded"
	sed -n "s/^TIME /$t /p" "$log" >>"$times"
	slow=$(sed -n 's/^TIME //p' "$log" | sort -k2 -g -r | head -n 1)
	slow=${slow:+, slowest: $(echo "$slow" | sed 's/ \([0-9.]*\) s of / \1 s (bound /; s/$/)/')}
	line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -n 1)
	n=$(echo "$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
	f=$(echo "$line" | sed -n 's/.*Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2/p')
	nf=0
	[ -n "$f" ] && nf=$(( ${f% *} + ${f#* } ))
	[ -z "$n" ] && { n=1; nf=1; }
	[ $rc -ne 0 ] && [ $nf -eq 0 ] && nf=1
	passed=$((passed + n - nf - s)); failed=$((failed + nf)); skipped=$((skipped + s))
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "FAIL  $t: killed by its ${bound} s bound while running:" \
			"$(grep '^RUN ' "$log" | tail -n 1 | sed 's/^RUN  //'), log: $log"
	elif [ $nf -ne 0 ]; then
		echo "FAIL  $t ($nf of $n, $secs s), log: $log"; grep -E ':[EF]:' "$log" | head -n 20
	else
		echo "ok    $t ($n checks, $s skipped, $secs s of $bound s$slow)"
	fi
	grep '^SKIP' "$log" | sed 's/^/      /'
done
echo "slowest tests (of $(wc -l <"$times"), time against bound; all in $times):"
sort -k3 -g -r "$times" | head -n 5 | awk '{ printf "      %8.3f s of %4d s  %s %s\n", $3, $6, $1, $2 }'
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
