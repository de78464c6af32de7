#!/bin/sh
# `make bench` fragment: the card stack (hc-emud + libhc) vs the in-process forward pass, and
# hc-emud --null-model (benchmark only) for the stack's ceiling; then many paced streams read by
# one thread. See tools/bench/hc-bench-stack.c.
set -eu
B=${1:-build}
rom="$B/bench/tiny.rom"
if [ ! -f "$rom" ]; then
	"$B/hc-bake" --synthetic tiny --seed 1 --no-progress -o "$rom.tmp"
	mv "$rom.tmp" "$rom"
fi
"$B/hc-bench-stack" --rom "$rom" --emud "$B/hc-emud" -n "${HC_BENCH_STACK_TOKENS:-400}"
"$B/hc-bench-stack" --rom "$rom" --emud "$B/hc-emud" -n "${HC_BENCH_STACK_TOKENS:-400}" --spin
# The host stack at the card's real speed: 64 streams at 17,000 tokens/s each (hc-emud --pace
# --null-model), one consumer thread, latency budgets 0, 100 us and 1 ms.
"$B/hc-bench-stack" --rom "$rom" --emud "$B/hc-emud" --multi "${HC_BENCH_STACK_STREAMS:-64}" \
	--pace "${HC_BENCH_STACK_PACE:-17000}" --budgets "${HC_BENCH_STACK_BUDGETS:-0,100,1000}" \
	--seconds "${HC_BENCH_STACK_SECONDS:-2}"
