#!/bin/sh
# `make fuzz`: run each libFuzzer target for SECONDS, starting from the committed corpus
# (tests/fuzz/corpus/NAME, read only) and what earlier runs found (BUILD/fuzz/corpus/NAME,
# where new inputs go). A crash leaves its input in BUILD/fuzz/artifacts/NAME/ (add it to
# tests/fuzz/crashes/NAME/ once fixed). Prints executions and coverage per target at the end.
# Usage: tests/fuzz/run-fuzz.sh BUILD SECONDS TARGET...
FB=$1 secs=$2
shift 2
# per duration: the smoke of `make check` does not write over a campaign's logs
logs=$FB/fuzz/logs/${secs}s
mkdir -p "$logs"
summary=$logs/summary.txt
: >"$summary"
bad=0
for t in "$@"; do
	mkdir -p "$FB/fuzz/corpus/$t" "$FB/fuzz/artifacts/$t"
	echo "fuzz $t: $secs s (log: $logs/$t.log)"
	# a dictionary of the format's words where the format is text (tests/fuzz/NAME.dict)
	dict=
	[ -f "tests/fuzz/$t.dict" ] && dict=-dict=tests/fuzz/$t.dict
	# -timeout: an input running 25 s is a hang; -rss_limit_mb: a leak or a blow-up
	"$FB/fuzz/fuzz-$t" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2560 $dict \
		-print_final_stats=1 -artifact_prefix="$FB/fuzz/artifacts/$t/" \
		"$FB/fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$logs/$t.log" 2>&1
	rc=$?
	execs=$(LC_ALL=C sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -n 1)
	last=$(grep -a -E '^#[0-9]+' "$logs/$t.log" | grep -a -E 'cov: [0-9]+' | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
	if [ $rc -ne 0 ]; then
		bad=$((bad + 1))
		res="FAILED (exit $rc): $(grep -a -m1 -E '^==[0-9]+==ERROR|runtime error|^SUMMARY' "$logs/$t.log")"
	else
		res=ok
	fi
	printf '%-12s %6s s %12s execs  cov %6s  ft %7s  corpus %-10s %s\n' "$t" "$secs" \
		"${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$res" | tee -a "$summary"
done
echo "fuzz summary ($summary):"
cat "$summary"
echo "fuzz: $(($# - bad)) targets clean, $bad failed"
[ $bad -eq 0 ]
