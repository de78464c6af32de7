#!/bin/sh
# `make bench` fragment: the card stack (hc-emud + libhc) vs the in-process forward pass, and
# hc-emud --null-model (benchmark only) for the stack's ceiling. See tools/bench/hc-bench-stack.c.
set -eu
B=${1:-build}
rom="$B/bench/tiny.rom"
if [ ! -f "$rom" ]; then
	"$B/hc-bake" --synthetic tiny --seed 1 --no-progress -o "$rom.tmp"
	mv "$rom.tmp" "$rom"
fi
"$B/hc-bench-stack" --rom "$rom" --emud "$B/hc-emud" -n "${HC_BENCH_STACK_TOKENS:-400}"
"$B/hc-bench-stack" --rom "$rom" --emud "$B/hc-emud" -n "${HC_BENCH_STACK_TOKENS:-400}" --spin
