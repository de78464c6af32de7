#!/bin/sh
# `make bench` fragment: the emulator's forward pass against llama.cpp (../shared/peers, built
# once by ../shared/tools/peer-bench) on the very same random weights, then batched decode
# through hc-emud. Skips with a SKIP line when ../shared or its tools are absent. Not a test:
# nothing is asserted; only ratios measured here, back to back, mean anything.
#
# Per shape x type x threads: llama-bench -p 128 -n 128 -r 3 (pp128, tg128) against
# hc-bench --prefill 128 --decode 128 --repeat 3 on a ROM baked by hc-bake from the same
# llama2.c checkpoint peer-bench made (its GGUFs are quantized --pure from it). Then
# hc-bench-batch: 1, 4, 16, 32 contexts decoding at once through one hc-emud, aggregate
# tokens/s and the ratio to one context, and whether every batched stream equals its solo run.
#
# Environment (defaults): BENCH_SHAPES ("15M 110M"; 42M also works), BENCH_TYPES
# ("F32 Q8_0 Q4_0"), BENCH_THREADS (1,2), BENCH_BATCH_ROM (110M-Q8_0; empty: no batch run),
# BENCH_BATCH (1,4,16,32), BENCH_BATCH_THREADS (2), BENCH_BATCH_DECODE (32),
# BENCH_BATCH_PATHS (hc-emud --path values: "auto", plus "avx2" on an AVX-512 VNNI CPU),
# BENCH_BATCH_JOIN (512: a prompt prefilled while the largest batch decodes; 0: none),
# BENCH_PATH (hc-bench --path: auto), BENCH_PEER_BENCH (the peer-bench program: a copy
# that builds llama.cpp for another ISA, with its own PEER_CACHE, compares like with like),
# BENCH_PEER (0: skip this fragment). Quick run:
#   BENCH_SHAPES=15M BENCH_TYPES=Q8_0 BENCH_BATCH_ROM=15M-Q8_0 make bench
set -eu
B=${1:-build}
shared=../shared
peer=${BENCH_PEER_BENCH:-$shared/tools/peer-bench}
tok=$shared/models/llama2-tokenizer/tokenizer.bin
if [ "${BENCH_PEER:-1}" = 0 ]; then
	echo "SKIP: llama.cpp comparison (BENCH_PEER=0)"
	exit 0
fi
if [ ! -x "$peer" ] || [ ! -f "$tok" ]; then
	echo "SKIP: llama.cpp comparison: $peer or $tok not found"
	exit 0
fi
if ! bin=$("$peer" build 2>/tmp/hc-bench-peer.$$); then
	echo "SKIP: llama.cpp comparison: peer-bench build failed: $(tail -n 1 /tmp/hc-bench-peer.$$)"
	rm -f /tmp/hc-bench-peer.$$
	exit 0
fi
rm -f /tmp/hc-bench-peer.$$
shapes=${BENCH_SHAPES:-15M 110M}
types=${BENCH_TYPES:-F32 Q8_0 Q4_0}
threads=${BENCH_THREADS:-1,2}
dir=$B/bench/peer
mkdir -p "$dir"
start=$(date +%s)

# llama-bench's markdown table -> "threads test t/s" lines
llama_rows() {
	awk -F'|' '
	/^\| *model/ { for (i = 2; i < NF; i++) { h = $i; gsub(/ /, "", h); col[h] = i } next }
	/pp[0-9]|tg[0-9]/ && col["t/s"] {
		t = $col["threads"]; x = $col["test"]; r = $col["t/s"]
		gsub(/ /, "", t); gsub(/ /, "", x); sub(/±.*/, "", r); gsub(/ /, "", r)
		print t, x, r
	}'
}

echo "== hc vs llama.cpp c392e509 (same weights; llama-bench -p 128 -n 128 -r 3," \
	"hc-bench --prefill 128 --decode 128 --repeat 3 --path ${BENCH_PATH:-auto})"
echo "   $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-5s %3s %12s %12s %7s %12s %12s %7s\n' shape type thr "llama pp128" "hc prefill" \
	ratio "llama tg128" "hc decode" ratio
for shape in $shapes; do
	if [ ! -f "$dir/$shape-Q4_0.gguf" ] || [ ! -f "$dir/$shape.bin" ]; then
		if ! "$peer" model "$shape" "$dir" >/dev/null 2>"$dir/model-$shape.err"; then
			echo "SKIP: $shape: peer-bench model failed: $(tail -n 1 "$dir/model-$shape.err")"
			continue
		fi
	fi
	for type in $types; do
		case $type in
		F32) q=F32 ;; Q8_0) q=Q8 ;; Q4_0) q=Q4 ;;
		*) echo "bench-peer: unknown type $type (F32, Q8_0, Q4_0)" >&2; exit 2 ;;
		esac
		rom=$dir/$shape-$type.rom
		if [ ! -f "$rom" ]; then
			"$B/hc-bake" --quant "$q" --tokenizer "$tok" --no-progress "$dir/$shape.bin" \
				-o "$rom.tmp" >/dev/null
			mv "$rom.tmp" "$rom"
		fi
		# back to back, the same thread counts
		lrows=$("$bin/llama-bench" -m "$dir/$shape-$type.gguf" -p 128 -n 128 -t "$threads" -r 3 \
			-o md 2>/dev/null | llama_rows)
		hrows=$("$B/hc-bench" --prefill 128 --decode 128 --repeat 3 --threads "$threads" \
			--path "${BENCH_PATH:-auto}" "$rom" |
			awk 'NR > 1 { print $4, $5, $6 }')
		for t in $(echo "$threads" | tr , " "); do
			lp=$(echo "$lrows" | awk -v t="$t" '$1 == t && $2 ~ /^pp/ { print $3 }')
			lt=$(echo "$lrows" | awk -v t="$t" '$1 == t && $2 ~ /^tg/ { print $3 }')
			hp=$(echo "$hrows" | awk -v t="$t" '$1 == t { print $2 }')
			hd=$(echo "$hrows" | awk -v t="$t" '$1 == t { print $3 }')
			awk -v s="$shape" -v y="$type" -v t="$t" -v lp="${lp:-0}" -v hp="${hp:-0}" \
				-v lt="${lt:-0}" -v hd="${hd:-0}" 'BEGIN {
				printf "%-6s %-5s %3s %12.1f %12.1f %6.2fx %12.1f %12.1f %6.2fx\n",
					s, y, t, lp, hp, lp ? hp / lp : 0, lt, hd, lt ? hd / lt : 0 }'
		done
	done
done
echo "   ($(($(date +%s) - start)) s; load average now $(cut -d' ' -f1-3 /proc/loadavg))"

brom=${BENCH_BATCH_ROM-110M-Q8_0}
if [ -n "$brom" ]; then
	if [ ! -f "$dir/$brom.rom" ]; then
		echo "SKIP: batched decode: $dir/$brom.rom not baked (add its shape and type)"
		exit 0
	fi
	# Where the CPU has AVX-512 VNNI, the AVX2 kernels' batch too: what an AVX2 machine
	# (the Zen 3 of issue 10's table) runs, whose batch kernel does 4x the operations.
	paths=auto
	if grep -qw avx512_vnni /proc/cpuinfo 2>/dev/null; then
		paths="auto avx2"
	fi
	for p in ${BENCH_BATCH_PATHS:-$paths}; do
		echo "== batched decode through hc-emud ($brom, threads ${BENCH_BATCH_THREADS:-2}, kernels $p)"
		"$B/hc-bench-batch" --rom "$dir/$brom.rom" --emud "$B/hc-emud" --path "$p" \
			--threads "${BENCH_BATCH_THREADS:-2}" --contexts "${BENCH_BATCH:-1,4,16,32}" \
			--decode "${BENCH_BATCH_DECODE:-32}" --repeat "${BENCH_BATCH_REPEAT:-3}" \
			--join "${BENCH_BATCH_JOIN:-512}"
	done
	echo "   ($(($(date +%s) - start)) s in all; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
fi
