#!/bin/sh
# The sanitizer build (ASan + UBSan, -fno-sanitize-recover=all) of the host test suite:
# builds everything into SAN_BUILD, runs the Check programs there, then replays every fuzz
# target's corpus and crash cases. `make check-sanitize` runs every Check program; `make
# check` (tests/check-all.sh) the quick set below, to stay inside its time budget.
#
# The Check programs find the tools as "build/hc-bake", "build/hc-emud"...: they run from
# SAN_BUILD/root, a tree of symlinks to the sources whose build/ is SAN_BUILD, so every
# program they start is the sanitized one too (no path in a test changes).
#
# Output: run-tests.sh's lines, then "sanitize: P passed, F failed, S skipped" (Check tests)
# and "fuzz replay: P passed, F failed, S skipped" (one per target).
# Usage: tests/fuzz/check-sanitize.sh SAN_BUILD full|quick TEST...
SB=$1 mode=$2
shift 2
top=$(pwd)
mkdir -p "$SB/tests/logs"
log=$SB/tests/logs/sanitize-build.log

# The quick set (`make check`): hc-emud under hostile clients and exact decoding, the forward
# pass and its kernel tables, libhc's streams and libhc under a hostile fake card, the tools'
# front ends; about a minute. The
# parsers are covered in `make check` by the fuzz replays and smoke instead: their Check
# programs (test_tokenizer, test_readers, test_rom, test_bake) take 1-3 minutes each under ASan
# with the shared test data, and run in `make check-sanitize` with the rest.
QUICK="test_emud_hostile test_emud_decode test_forward test_libhc_stream test_libhc_hostile_card
	test_smi test_version"
if [ "$mode" = quick ]; then
	set -- $(for t in "$@"; do case " $(echo $QUICK) " in *" $t "*) echo "$t";; esac; done)
fi

flags="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
echo "sanitize: building $SB (ASan + UBSan; log: $log)"
if ! ${MAKE:-make} --no-print-directory -j"$(nproc)" B="$SB" OPTFLAGS="$flags" \
	LDFLAGS="-fsanitize=address,undefined" programs tests replay-programs >"$log" 2>&1; then
	tail -n 20 "$log"
	echo "sanitize: 0 passed, 1 failed, 0 skipped (the sanitizer build failed)"
	echo "fuzz replay: 0 passed, 1 failed, 0 skipped"
	exit 1
fi

# LeakSanitizer stops the process with ptrace; where that is refused (some containers),
# leaks cannot be checked: say so and go on with ASan and UBSan alone.
leaks=1
if "$SB/fuzz/replay-tok_blob" 2>&1 | grep -q 'LeakSanitizer has encountered a fatal error'; then
	leaks=0
	echo "NOTE  LeakSanitizer cannot run here (ptrace refused): detect_leaks=0"
fi
export ASAN_OPTIONS="detect_leaks=$leaks:abort_on_error=1:detect_stack_use_after_return=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# The shadow tree: the sources' top-level entries, with build/ pointing at SAN_BUILD.
root=$SB/root
rm -rf "$root"
mkdir -p "$root"
for e in "$top"/* "$top"/.[!.]*; do
	n=${e##*/}
	case $n in build|.git|"$SB"|.[!.]\*) continue;; esac
	ln -s "$e" "$root/$n"
done
ln -s "$(cd "$SB" && pwd)" "$root/build"
ln -s "$top/.git" "$root/.git" 2>/dev/null
# the shared test data, which tests find as ../shared from the top of the tree
rm -f "$SB/shared"
[ -d "$top/../shared" ] && ln -s "$(cd "$top/../shared" && pwd)" "$SB/shared"

out=$SB/tests/logs/sanitize.txt
(cd "$root" && HC_TEST_TIMES=build/tests/logs/sanitize-times.txt tests/run-tests.sh build "$@") |
	tee "$out"
line=$(tail -n 1 "$out")
echo "sanitize: $line" | sed 's/^sanitize: \([0-9]* passed\)/sanitize: \1/'

# Every committed input of every target through its sanitized replayer.
rp=0 rf=0 rs=0
for r in "$SB"/fuzz/replay-*; do
	t=${r##*/replay-}
	if [ ! -d "tests/fuzz/corpus/$t" ]; then
		rs=$((rs + 1)); continue
	fi
	rlog=$SB/tests/logs/replay-$t.log
	if timeout 300 "$r" "tests/fuzz/corpus/$t" "tests/fuzz/crashes/$t" >"$rlog" 2>&1; then
		echo "ok    replay $t: $(tail -n 1 "$rlog" | sed 's/.*: //')"
		rp=$((rp + 1))
	else
		echo "FAIL  replay $t, log: $rlog"
		grep -m 3 -E 'ERROR|runtime error|SUMMARY' "$rlog"
		rf=$((rf + 1))
	fi
done
echo "fuzz replay: $rp passed, $rf failed, $rs skipped"
case $line in *" 0 failed"*) ;; *) exit 1;; esac
[ $rf = 0 ]
