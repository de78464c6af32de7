#!/bin/sh
# Runs each test program, reads Check's summary line and SKIP: lines, prints one closing line.
# Exit 77 from a program means the whole program skipped.
B=$1; shift
passed=0 failed=0 skipped=0
mkdir -p "$B/tests/logs"
for t in "$@"; do
	log="$B/tests/logs/$t.log"
	"$B/tests/$t" >"$log" 2>&1
	rc=$?
	s=$(grep -c '^SKIP' "$log")
	if [ $rc -eq 77 ]; then
		echo "SKIP  $t: $(grep -m1 '^SKIP' "$log")"
		skipped=$((skipped + 1)); continue
	fi
	line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -n 1)
	n=$(echo "$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
	f=$(echo "$line" | sed -n 's/.*Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2/p')
	nf=0
	[ -n "$f" ] && nf=$(( ${f% *} + ${f#* } ))
	[ -z "$n" ] && { n=1; nf=1; }
	[ $rc -ne 0 ] && [ $nf -eq 0 ] && nf=1
	passed=$((passed + n - nf - s)); failed=$((failed + nf)); skipped=$((skipped + s))
	if [ $nf -ne 0 ]; then
		echo "FAIL  $t ($nf of $n), log: $log"; grep -E ':[EF]:' "$log" | head -n 20
	else
		echo "ok    $t ($n checks, $s skipped)"
	fi
	grep '^SKIP' "$log" | sed 's/^/      /'
done
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
