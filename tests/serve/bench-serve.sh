#!/bin/sh
# `make bench` (via tests/run-bench.sh): hc-serve's throughput with 1..64 concurrent streaming
# clients (curl), each making HC_SERVE_BENCH_REQS requests of HC_SERVE_BENCH_TOKENS tokens.
# Prints requests/s and completion tokens/s per level. A benchmark, never a test.
set -u
B=${1:-build}
REQS=${HC_SERVE_BENCH_REQS:-2}
TOKENS=${HC_SERVE_BENCH_TOKENS:-32}
LEVELS=${HC_SERVE_BENCH_LEVELS:-1 2 4 8 16 32 64}
command -v curl >/dev/null 2>&1 || { echo "bench-serve: curl not installed, skipped"; exit 0; }
W=$(mktemp -d /tmp/hc-serve-bench.XXXXXX)
PIDS=
trap 'for p in $PIDS; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"' EXIT
ROM="$B/tests/serve/tiny-llama3.rom"
if [ ! -f "$ROM" ]; then
	ROM="$B/bench/serve-tiny.rom"
	mkdir -p "$B/bench"
	[ -f "$ROM" ] || "$B/hc-bake" --synthetic tiny --seed 1 --tokenizer builtin --no-progress \
		-o "$ROM" >/dev/null 2>&1 || { echo "bench-serve: cannot bake $ROM"; exit 1; }
fi
"$B/hc-emud" --rom "$ROM" --socket "$W/e.sock" --max-ctx 512 --contexts 64 2>"$W/emud.log" &
PIDS="$PIDS $!"
i=0
while [ ! -S "$W/e.sock" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
"$B/hc-serve" -d "emu:$W/e.sock" --listen 127.0.0.1:0 --port-file "$W/port" --max-queue 256 \
	2>"$W/serve.log" &
PIDS="$PIDS $!"
i=0
while [ ! -s "$W/port" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
URL="http://127.0.0.1:$(cat "$W/port")"
MODEL=$(curl -s "$URL/v1/models" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
echo "bench-serve: $ROM, $REQS streaming requests of $TOKENS tokens per client"
printf '%8s %10s %12s %12s\n' clients seconds requests/s tokens/s
client() {
	for r in $(seq "$REQS"); do
		curl -sN --max-time 300 "$URL/v1/completions" -H 'Content-Type: application/json' \
			-d "{\"model\":\"$MODEL\",\"prompt\":\"client $1 request $r\",\"max_tokens\":$TOKENS,\"temperature\":0.8,\"seed\":$r,\"stream\":true,\"stream_options\":{\"include_usage\":true}}"
	done >"$W/out.$1"
}
for c in $LEVELS; do
	rm -f "$W"/out.*
	t0=$(date +%s.%N)
	cl=
	for k in $(seq "$c"); do
		client "$k" &
		cl="$cl $!"
	done
	for p in $cl; do wait "$p"; done
	t1=$(date +%s.%N)
	toks=$(cat "$W"/out.* | sed -n 's/.*"completion_tokens":\([0-9]*\).*/\1/p' |
		awk '{ s += $1 } END { print s + 0 }')
	echo "$c $t0 $t1 $toks $REQS" | awk '{ d = $3 - $2; printf "%8d %10.2f %12.1f %12.1f\n",
		$1, d, $1 * $5 / d, $4 / d }'
done
