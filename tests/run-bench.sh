#!/bin/sh
# `make bench`: bake the synthetic benchmark ROMs into $B/bench/ once, then time the
# emulator's forward pass (hc-bench). Numbers are for comparing within one run only.
set -eu
B=${1:-build}
mkdir -p "$B/bench"
roms=
for preset in 15M 110M; do
	for type in F32 Q8; do
		rom="$B/bench/$preset-$type.rom"
		if [ ! -f "$rom" ]; then
			echo "baking $rom"
			"$B/hc-bake" --synthetic "$preset" --seed 1 --quant "$type" --no-progress -o "$rom.tmp"
			mv "$rom.tmp" "$rom"
		fi
		roms="$roms $rom"
	done
done
# shellcheck disable=SC2086
"$B/hc-bench" --prefill "${HC_BENCH_PREFILL:-64}" --decode "${HC_BENCH_DECODE:-32}" \
	--threads 1,2 ${HC_BENCH_REFERENCE:+--reference} $roms
# Other benchmarks plug in as tests/bench-*.sh fragments, each given the build dir.
for f in tests/bench-*.sh; do
	[ -f "$f" ] && sh "$f" "$B"
done
# hc-serve: requests/s and tokens/s for 1..64 concurrent streaming clients.
sh tests/serve/bench-serve.sh "$B"
