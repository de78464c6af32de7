#!/bin/sh
# hc-serve driven by real clients: curl and the official openai npm client (under node).
# Usage: tests/serve/test-serve.sh BUILD_DIR [CASE...]      (run by tests/check-all.sh)
#
# Bakes a ROM from ../shared/models/tiny-llama3-hf (the real Llama 3.1 tokenizer and chat
# format; a synthetic tiny ROM with the builtin tokenizer when ../shared is absent: then the
# chat cases skip), starts one hc-emud for all cases, and runs each case as its own process
# under `timeout` with its bound; a case starts its own hc-serve (and hc-emud when it needs a
# small card) on a free port and kills what it started on exit (trap). Every wait polls an
# event with a bound. Prints "RUN"/"TIME" per case and a closing "serve: P passed, F failed,
# S skipped" line; exit status 0 when nothing failed. A case exits 77 to skip.
set -u
B=${1:-build}
shift 2>/dev/null
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${HC_SHARED_DIR:-../shared}
now() { date +%s.%N; }
since() { echo "$1 $(now)" | awk '{ printf "%.2f", $2 - $1 }'; }
say() { echo "$*" >&2; }
# a failed case shows what its daemons said
die() {
	say "FAIL: $*"
	for f in "${TMP:-/nonexistent}/serve.log" "${TMP:-/nonexistent}/emud.log"; do
		[ -s "$f" ] && { say "--- last lines of $(basename "$f"):"; tail -n 20 "$f" >&2; }
	done
	exit 1
}
skip() { echo "SKIP: $*"; exit 77; }

# ---- helpers for the cases (each case is a separate process: its traps are its own) ----

PIDS=
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	[ -n "${TMP:-}" ] && rm -rf "$TMP"
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 50 ms until it succeeds.
wait_for() {
	w_bound=$1 w_what=$2
	shift 2
	w_t0=$(now)
	while ! "$@" 2>/dev/null; do
		if [ "$(echo "$w_t0 $(now) $w_bound" | awk '{ print ($2 - $1 > $3) }')" = 1 ]; then
			die "waited $w_bound s for: $w_what"
		fi
		sleep 0.05
	done
}

# start_serve DEVICE [OPTIONS...]: hc-serve on a free port; sets URL.
start_serve() {
	s_dev=$1
	shift
	rm -f "$TMP/port"
	"$B/hc-serve" -d "$s_dev" --listen 127.0.0.1:0 --port-file "$TMP/port" "$@" \
		2>>"$TMP/serve.log" &
	s_pid=$!
	PIDS="$PIDS $s_pid"
	# done when it listens, or at once when it has exited instead
	wait_for 30 "hc-serve to listen" sh -c "test -s '$TMP/port' || ! kill -0 $s_pid"
	[ -s "$TMP/port" ] || die "hc-serve exited before it listened"
	URL="http://127.0.0.1:$(cat "$TMP/port")"
}

# start_emud NAME [OPTIONS...]: a private hc-emud; sets DEV.
start_emud() {
	e_sock="$TMP/$1.sock"
	shift
	"$B/hc-emud" --rom "$ROM" --socket "$e_sock" --max-ctx "${MAX_CTX:-512}" "$@" \
		2>>"$TMP/emud.log" &
	e_pid=$!
	PIDS="$PIDS $e_pid"
	wait_for 30 "hc-emud to listen" sh -c "test -S '$e_sock' || ! kill -0 $e_pid"
	[ -S "$e_sock" ] || die "hc-emud exited before it listened"
	DEV="emu:$e_sock"
}

# post PATH JSON [CURL ARGS...]: body to $TMP/out, status printed.
post() {
	p_path=$1 p_body=$2
	shift 2
	curl -sS --max-time 60 -o "$TMP/out" -w '%{http_code}' -H 'Content-Type: application/json' \
		"$@" --data-binary "$p_body" "$URL$p_path"
}

need_node() { command -v node >/dev/null 2>&1 || skip "node is not installed"; }
text_of() { node "$HERE/text-of.js"; }
contexts_in_use() {
	"$B/hc-smi" -d "$1" --sample 0 --query contexts_in_use --format=csv,noheader,nounits | tr -d ' '
}
contexts_zero() { [ "$(contexts_in_use "$1")" = 0 ]; }
contexts_are() { [ "$(contexts_in_use "$1")" = "$2" ]; }
metric() { curl -s --max-time 10 "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
metric_is() { [ "$(metric "$1")" = "$2" ]; }
metric_over() { [ "$(metric "$1")" -gt "$2" ]; }
queued_or_answered() { [ -s "$1" ] || metric_is hc_serve_queue_depth 1; }

# hold_contexts N: N other programs (hc-run -i: one context each, held while it waits for
# input) take contexts of $DEV. Their input is the fifo $TMP/hold, whose one writer is a
# sleep; release_contexts kills it: at the end of their input they free their contexts, exit.
hold_contexts() {
	rm -f "$TMP/hold"
	mkfifo "$TMP/hold" || die "mkfifo"
	HOLDERS=
	for h in $(seq "$1"); do
		"$B/hc-run" -d "$DEV" -i <"$TMP/hold" >/dev/null 2>>"$TMP/run.log" &
		HOLDERS="$HOLDERS $!"
	done
	sleep 600 >"$TMP/hold" &
	FEEDER=$!
	PIDS="$PIDS $HOLDERS $FEEDER"
	wait_for 30 "$1 contexts held by other programs" contexts_are "$DEV" "$1"
}
release_contexts() {
	kill "$FEEDER"
	for h in $HOLDERS; do wait "$h" || die "a context holder failed: $(tail -n 3 "$TMP/run.log")"; done
}

# expect STATUS PARAM PATH JSON: the request fails with STATUS and an error object naming PARAM
# ("null" for none).
expect() {
	x_code=$(post "$3" "$4") || die "curl failed for $4"
	[ "$x_code" = "$1" ] || die "$4: status $x_code, expected $1: $(cat "$TMP/out")"
	node -e '
		const o = JSON.parse(require("fs").readFileSync(0, "utf8"));
		const e = o.error;
		if (!e || typeof e.message !== "string" || !e.type || !("code" in e) ||
		    String(e.param) !== process.argv[1])
			throw new Error("bad error object: " + JSON.stringify(o));
	' "$2" <"$TMP/out" || die "$4: error object does not name $2"
}

# ref FILE HC-RUN-ARGS...: hc-run's output for the comparison.
ref() {
	r_out=$1
	shift
	"$B/hc-run" -d "$DEV0" "$@" >"$r_out" 2>>"$TMP/run.log" || die "hc-run $*"
}

# ---- the cases ----

case_basic() {
	need_node
	start_serve "$DEV0"
	code=$(curl -s --max-time 10 -o "$TMP/out" -w '%{http_code}' "$URL/health")
	[ "$code" = 200 ] || die "/health: $code"
	curl -s --max-time 10 "$URL/v1/models" >"$TMP/models"
	node -e '
		const m = JSON.parse(require("fs").readFileSync(0, "utf8")).data[0];
		if (m.id !== process.argv[1] || !/^[0-9a-f]{64}$/.test(m.identity))
			throw new Error(JSON.stringify(m));
	' "$MODEL" <"$TMP/models" || die "/v1/models: $(cat "$TMP/models")"
	# greedy, then seeded sampling: the completion is hc-run's, whole and streamed
	for params in "0 1" "0.9 7"; do
		set -- $params
		ref "$TMP/ref" --bos -n 24 --temp "$1" --seed "$2" "The quick brown fox"
		body="{\"model\":\"$MODEL\",\"prompt\":\"The quick brown fox\",\"max_tokens\":24,\"temperature\":$1,\"seed\":$2"
		[ "$(post /v1/completions "$body}")" = 200 ] || die "completion: $(cat "$TMP/out")"
		text_of <"$TMP/out" >"$TMP/got" && cmp -s "$TMP/ref" "$TMP/got" ||
			die "completion (temp $1 seed $2) differs from hc-run: '$(cat "$TMP/got")' vs '$(cat "$TMP/ref")'"
		[ "$(post /v1/completions "$body,\"stream\":true}" -N)" = 200 ] || die "stream"
		text_of <"$TMP/out" >"$TMP/got" && cmp -s "$TMP/ref" "$TMP/got" ||
			die "streamed completion differs from hc-run: '$(cat "$TMP/got")'"
	done
	# usage and finish_reason of a length-limited completion
	post /v1/completions "{\"model\":\"$MODEL\",\"prompt\":[1,2,3],\"max_tokens\":5,\"temperature\":0}" >/dev/null
	node -e '
		const o = JSON.parse(require("fs").readFileSync(0, "utf8"));
		if (o.usage.prompt_tokens !== 3 || o.usage.completion_tokens !== 5 ||
		    o.usage.total_tokens !== 8 || o.choices[0].finish_reason !== "length")
			throw new Error(JSON.stringify(o));
	' <"$TMP/out" || die "usage/finish_reason: $(cat "$TMP/out")"
	# a stop string: the text up to it, without it, finish_reason stop
	ref "$TMP/ref" --bos -n 24 "The quick brown fox"
	stop=$(head -c 40 "$TMP/ref" | tail -c 5)
	[ -n "$stop" ] || die "reference too short for a stop string"
	stopj=$(printf '%s' "$stop" | node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync(0, "utf8")))')
	for stream in false true; do
		[ "$(post /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"The quick brown fox\",\"max_tokens\":24,\"temperature\":0,\"stop\":[$stopj],\"stream\":$stream}")" = 200 ] ||
			die "stop: $(cat "$TMP/out")"
		got=$(text_of <"$TMP/out")
		want=$(node -e 'const [r, s] = process.argv.slice(1); process.stdout.write(r.slice(0, r.indexOf(s)))' "$(cat "$TMP/ref")" "$stop")
		[ "$got" = "$want" ] || die "stop '$stop' (stream $stream): got '$got', want '$want'"
		grep -q '"finish_reason":"stop"' "$TMP/out" || die "stop: finish_reason"
	done
	curl -s --max-time 10 "$URL/metrics" | grep -q '^hc_serve_time_to_first_token_seconds_bucket{card="0",le="+Inf"} [1-9]' ||
		die "/metrics has no time-to-first-token samples"
	echo "basic: $(grep -c . "$TMP/ref") line(s) of reference text matched"
}

case_chat() {
	need_node
	[ "$CHAT" = 1 ] || skip "the synthetic ROM has no chat format (../shared absent)"
	start_serve "$DEV0"
	ref "$TMP/ref" --chat -n 32 "Write a haiku about silicon."
	msg='"messages":[{"role":"user","content":"Write a haiku about silicon."}]'
	for stream in false true; do
		[ "$(post /v1/chat/completions "{\"model\":\"$MODEL\",$msg,\"max_completion_tokens\":32,\"temperature\":0,\"stream\":$stream}")" = 200 ] ||
			die "chat: $(cat "$TMP/out")"
		text_of <"$TMP/out" >"$TMP/got" && cmp -s "$TMP/ref" "$TMP/got" ||
			die "chat (stream $stream) differs from hc-run --chat: '$(cat "$TMP/got")' vs '$(cat "$TMP/ref")'"
	done
}

case_errors() {
	need_node
	start_serve "$DEV0"
	m="\"model\":\"$MODEL\""
	expect 400 null /v1/completions '{"model": '
	expect 400 null /v1/completions '[1, 2]'
	expect 400 model /v1/completions '{"prompt":"x"}'
	expect 400 prompt /v1/completions "{$m}"
	expect 400 max_tokens /v1/completions "{$m,\"prompt\":\"x\",\"max_tokens\":\"ten\"}"
	expect 400 max_tokens /v1/completions "{$m,\"prompt\":\"x\",\"max_tokens\":0}"
	expect 400 temperature /v1/completions "{$m,\"prompt\":\"x\",\"temperature\":\"hot\"}"
	expect 400 temperature /v1/completions "{$m,\"prompt\":\"x\",\"temperature\":3}"
	expect 400 top_p /v1/completions "{$m,\"prompt\":\"x\",\"top_p\":0}"
	expect 400 seed /v1/completions "{$m,\"prompt\":\"x\",\"seed\":-1}"
	expect 400 stream /v1/completions "{$m,\"prompt\":\"x\",\"stream\":\"yes\"}"
	expect 400 stop /v1/completions "{$m,\"prompt\":\"x\",\"stop\":[1]}"
	expect 400 stop /v1/completions "{$m,\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}"
	expect 400 n /v1/completions "{$m,\"prompt\":\"x\",\"n\":2}"
	expect 400 logprobs /v1/completions "{$m,\"prompt\":\"x\",\"logprobs\":1}"
	expect 400 echo /v1/completions "{$m,\"prompt\":\"x\",\"echo\":true}"
	expect 400 presence_penalty /v1/completions "{$m,\"prompt\":\"x\",\"presence_penalty\":0.5}"
	expect 400 frobnicate /v1/completions "{$m,\"prompt\":\"x\",\"frobnicate\":1}"
	expect 400 prompt /v1/completions "{$m,\"prompt\":[\"a\",\"b\"]}"
	expect 400 prompt /v1/completions "{$m,\"prompt\":[999999999]}"
	expect 400 max_tokens /v1/completions "{$m,\"prompt\":\"x\",\"max_tokens\":100000}"
	expect 400 messages /v1/chat/completions "{$m}"
	expect 400 messages /v1/chat/completions "{$m,\"messages\":[]}"
	expect 400 'messages[0].role' /v1/chat/completions "{$m,\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}"
	expect 400 'messages[0].content' /v1/chat/completions "{$m,\"messages\":[{\"role\":\"user\",\"content\":5}]}"
	expect 400 tools /v1/chat/completions "{$m,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[]}"
	expect 400 logprobs /v1/chat/completions "{$m,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true}"
	expect 400 response_format /v1/chat/completions "{$m,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_object\"}}"
	expect 404 model /v1/completions '{"model":"no-such-model","prompt":"x"}'
	expect 404 null /v1/nothing '{}'
	code=$(curl -s --max-time 10 -o "$TMP/out" -w '%{http_code}' "$URL/v1/completions")
	[ "$code" = 405 ] || die "GET /v1/completions: $code"
	# no-op values are accepted
	[ "$(post /v1/completions "{$m,\"prompt\":\"x\",\"max_tokens\":2,\"n\":1,\"logprobs\":null,\"echo\":false,\"presence_penalty\":0,\"user\":\"u\"}")" = 200 ] ||
		die "no-op values refused: $(cat "$TMP/out")"
	[ "$(metric 'hc_serve_requests_total{endpoint="/v1/completions",code="400"}')" -ge 20 ] ||
		die "/metrics does not count the 400s"
}

case_auth_limits() {
	need_node
	printf 'sekrit-key\n' >"$TMP/key"
	start_serve "$DEV0" --api-key-file "$TMP/key" --max-body 2048
	body="{\"model\":\"$MODEL\",\"prompt\":\"x\",\"max_tokens\":2}"
	expect 401 null /v1/completions "$body"
	code=$(post /v1/completions "$body" -H 'Authorization: Bearer wrong-key!')
	[ "$code" = 401 ] || die "wrong key: $code"
	code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$URL/v1/models")
	[ "$code" = 401 ] || die "/v1/models without a key: $code"
	code=$(post /v1/completions "$body" -H 'Authorization: Bearer sekrit-key')
	[ "$code" = 200 ] || die "right key: $code $(cat "$TMP/out")"
	code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$URL/health")
	[ "$code" = 200 ] || die "/health needs no key: $code"
	big=$(head -c 4000 /dev/zero | tr '\0' a)
	code=$(post /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"$big\"}" -H 'Authorization: Bearer sekrit-key')
	[ "$code" = 413 ] || die "big body: $code"
	# chunked (no Content-Length): the limit holds as the body arrives
	code=$(post /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"$big\"}" -H 'Authorization: Bearer sekrit-key' -H 'Transfer-Encoding: chunked')
	[ "$code" = 413 ] || die "big chunked body: $code"
	code=$(post /v1/completions "$body" -H 'Authorization: Bearer sekrit-key')
	[ "$code" = 200 ] || die "after 413: $code"
}

# a stream that lasts: many tokens from a card that makes them one by one. exec: the
# background job's pid is curl's own, so killing it is the client going away.
long_stream() {
	exec curl -sN --max-time 120 "$URL/v1/completions" -H 'Content-Type: application/json' \
		-d "{\"model\":\"$MODEL\",\"prompt\":\"$1\",\"max_tokens\":${3:-480},\"temperature\":0,\"stream\":true}" \
		>"$2" 2>/dev/null
}

case_queue() {
	need_node
	# a card with two contexts and a queue of one
	start_emud small --contexts 2
	start_serve "$DEV" --max-queue 1
	for i in 1 2 3; do
		long_stream "request $i" "$TMP/s$i" &
		CURLS="$CURLS $!"
	done
	PIDS="$PIDS $CURLS"
	wait_for 30 "two running and one queued" \
		sh -c "[ \"\$(curl -s '$URL/metrics' | awk '\$1 == \"hc_serve_queue_depth\" { print \$2 }')\" = 1 ]"
	code=$(post /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"x\",\"max_tokens\":2}" -D "$TMP/headers")
	[ "$code" = 429 ] || die "queue full: $code"
	grep -qi '^Retry-After: ' "$TMP/headers" || die "429 without Retry-After"
	code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$URL/health")
	[ "$code" = 503 ] || die "/health when full: $code"
	# let them go: the clients disconnect, every context comes back
	pkill_curls
	wait_for 30 "the card's contexts back to 0" contexts_zero "$DEV"
	wait_for 30 "the queue empty" sh -c "[ \"\$(curl -s '$URL/metrics' | awk '\$1 == \"hc_serve_queue_depth\" { print \$2 }')\" = 0 ]"
	[ "$(post /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"x\",\"max_tokens\":2}")" = 200 ] ||
		die "after the queue drained: $(cat "$TMP/out")"
}

# kill the background curls of this case (children of this shell), not anything else
pkill_curls() {
	for p in $CURLS; do kill -9 "$p" 2>/dev/null; done
}

case_disconnect() {
	need_node
	# long enough (some 20 s of tokens) that only the kill can end it
	MAX_CTX=8192 start_emud own
	start_serve "$DEV"
	maxc=$(curl -s --max-time 10 "$URL/v1/models" | sed -n 's/.*"max_context":\([0-9]*\).*/\1/p')
	long_stream "Once upon a time" "$TMP/s" $((maxc - 16)) &
	c=$!
	PIDS="$PIDS $c"
	wait_for 30 "the stream's first tokens" grep -q '"text"' "$TMP/s"
	# a small synthetic model can make its whole context before the kill lands
	grep -q 'data: \[DONE\]' "$TMP/s" &&
		skip "the $maxc-token stream ended before the client could be killed (fast model)"
	[ "$(contexts_in_use "$DEV")" = 1 ] || die "contexts in use while streaming: $(contexts_in_use "$DEV")"
	t0=$(now)
	kill -9 "$c"
	wait_for 10 "the context freed after the client was killed" contexts_zero "$DEV"
	echo "context freed $(since "$t0") s after the client was killed"
	grep -q 'data: \[DONE\]' "$TMP/s" && skip "the stream ended before the kill (fast model)"
	[ "$(metric 'hc_serve_card_cancelled_total{card="0",model="'"$MODEL"'"}')" = 1 ] ||
		die "/metrics does not count the cancel"
	[ "$(post /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"x\",\"max_tokens\":4,\"temperature\":0}")" = 200 ] ||
		die "a clean request after the disconnect: $(cat "$TMP/out")"
	text_of <"$TMP/out" >/dev/null || die "clean request's body"
}

# another program holds every context of the card: a request waits in the queue (not 503),
# the server retrying the card on its timer, and runs once the contexts are released; with
# them never released, it gets 429 and Retry-After after --queue-timeout (a stream too: its
# 200 goes out only once it decodes)
case_foreign() {
	need_node
	start_emud small --contexts 2
	hold_contexts 2
	start_serve "$DEV" --queue-timeout 60
	ref "$TMP/ref" --bos -n 8 "The quick brown fox"
	body="{\"model\":\"$MODEL\",\"prompt\":\"The quick brown fox\",\"max_tokens\":8,\"temperature\":0"
	t0=$(now)
	curl -sS --max-time 60 -o "$TMP/r1" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "$body}" "$URL/v1/completions" >"$TMP/r1.code" 2>>"$TMP/curl.log" &
	c1=$!
	PIDS="$PIDS $c1"
	wait_for 30 "the request queued behind the held contexts" queued_or_answered "$TMP/r1.code"
	[ ! -s "$TMP/r1.code" ] ||
		die "answered $(cat "$TMP/r1.code") while other programs held every context: $(cat "$TMP/r1")"
	full=$(metric 'hc_serve_card_full_total{card="0",model="'"$MODEL"'"}')
	[ "${full:-0}" -ge 1 ] || die "queued, but the server never found the card full"
	wait_for 30 "the server to retry the full card" \
		metric_over 'hc_serve_card_full_total{card="0",model="'"$MODEL"'"}' $((full + 2))
	[ ! -s "$TMP/r1.code" ] || die "answered while every context was held: $(cat "$TMP/r1.code") $(cat "$TMP/r1")"
	code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$URL/health")
	[ "$code" = 200 ] || die "/health while one request waits (queue not full): $code"
	t1=$(now)
	release_contexts
	wait "$c1"
	[ "$(cat "$TMP/r1.code")" = 200 ] || die "after the release: $(cat "$TMP/r1.code") $(cat "$TMP/r1")"
	text_of <"$TMP/r1" >"$TMP/got" && cmp -s "$TMP/ref" "$TMP/got" ||
		die "completion differs from hc-run: '$(cat "$TMP/got")' vs '$(cat "$TMP/ref")'"
	echo "waited $(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }') s while other programs held the card, done $(since "$t1") s after they let go"
	wait_for 30 "the card's contexts back to 0" contexts_zero "$DEV"
	# never released: 429 with Retry-After once the bound has passed, not before
	hold_contexts 2
	start_serve "$DEV" --queue-timeout 2
	t0=$(now)
	curl -sS --max-time 60 -o "$TMP/r2" -D "$TMP/h2" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "$body,\"stream\":true}" "$URL/v1/completions" >"$TMP/r2.code" 2>>"$TMP/curl.log" &
	c2=$!
	PIDS="$PIDS $c2"
	wait "$c2"
	secs=$(since "$t0")
	[ "$(cat "$TMP/r2.code")" = 429 ] || die "held for good: $(cat "$TMP/r2.code") $(cat "$TMP/r2")"
	grep -qi '^Retry-After: ' "$TMP/h2" || die "429 without Retry-After"
	grep -q '"code":"queue_timeout"' "$TMP/r2" || die "429 body: $(cat "$TMP/r2")"
	[ "$(echo "$secs" | awk '{ print ($1 >= 2) }')" = 1 ] || die "429 after $secs s, before the 2 s bound"
	[ "$(metric hc_serve_queue_depth)" = 0 ] || die "the queue is not empty after the 429"
	release_contexts
	[ "$(post /v1/completions "$body}")" = 200 ] || die "after the 429 and the release: $(cat "$TMP/out")"
	echo "429 with Retry-After after $secs s (--queue-timeout 2)"
}

# a long prompt's prefill never stalls the streams of other clients (prefill-stall.js)
case_prefill() {
	need_node
	# contexts long enough for a prompt that takes seconds to prefill; a paced card so stream A
	# lasts tens of seconds and makes tokens while B's prompt is prefilled
	MAX_CTX=4096 start_emud long --pace=100
	start_serve "$DEV"
	n=$((4096 - 16))
	t0=$(now)
	timeout 100 node "$HERE/prefill-stall.js" "$URL" "$MODEL" "$n" $((4096 - 32)) "$TMP/b" ||
		die "prefill-stall.js failed"
	echo "(the two streams took $(since "$t0") s)"
	ids=$(node -e 'const a = []; for (let i = 0; i < Number(process.argv[1]); i++) a.push(1000 + (i * 7919) % 60000); console.log(a.join(","))' "$n")
	"$B/hc-run" -d "$DEV" --prompt-ids "$ids" -n 8 >"$TMP/ref" 2>>"$TMP/run.log" || die "hc-run"
	text_of <"$TMP/b" >"$TMP/got" && cmp -s "$TMP/ref" "$TMP/got" ||
		die "the long prompt's completion differs from hc-run's: '$(cat "$TMP/got")' vs '$(cat "$TMP/ref")'"
	echo "the $n-token prompt's completion equals hc-run's ($(since "$t0") s in all)"
}

case_concurrent() {
	need_node
	n=${HC_SERVE_CONCURRENT:-32}
	start_serve "$DEV0"
	i=0
	while [ $i -lt "$n" ]; do
		# different prompts and seeds, some greedy: every stream is checked on its own
		temp=$([ $((i % 3)) = 0 ] && echo 0 || echo 0.8)
		curl -sN --max-time 120 "$URL/v1/completions" -H 'Content-Type: application/json' \
			-d "{\"model\":\"$MODEL\",\"prompt\":\"Story number $i:\",\"max_tokens\":20,\"temperature\":$temp,\"seed\":$((i + 100)),\"stream\":true}" \
			>"$TMP/c$i" 2>/dev/null &
		PIDS="$PIDS $!"
		eval "temp_$i=$temp"
		i=$((i + 1))
	done
	t0=$(now)
	wait_for 150 "all $n streams to end" sh -c "[ \$(grep -l 'data: \[DONE\]' $TMP/c* 2>/dev/null | wc -l) -ge $n ]"
	echo "$n concurrent streams done in $(since "$t0") s"
	i=0
	while [ $i -lt "$n" ]; do
		eval "temp=\$temp_$i"
		ref "$TMP/ref" --bos -n 20 --temp "$temp" --seed $((i + 100)) "Story number $i:"
		text_of <"$TMP/c$i" >"$TMP/got" || die "stream $i: $(head -c 300 "$TMP/c$i")"
		cmp -s "$TMP/ref" "$TMP/got" || die "stream $i differs from its solo run: '$(cat "$TMP/got")' vs '$(cat "$TMP/ref")'"
		i=$((i + 1))
	done
	wait_for 30 "contexts back to 0" contexts_zero "$DEV0"
}

case_openai() {
	need_node
	[ "$CHAT" = 1 ] || skip "the synthetic ROM has no chat format (../shared absent)"
	command -v npm >/dev/null 2>&1 || skip "npm is not installed"
	mods="$(cd "$B" && pwd)/tests/serve-npm"
	if [ ! -f "$mods/node_modules/openai/package.json" ]; then
		mkdir -p "$mods"
		timeout 180 npm install --prefix "$mods" --no-audit --no-fund --no-save \
			"openai@$OPENAI_VERSION" >"$TMP/npm.log" 2>&1 ||
			skip "npm install openai@$OPENAI_VERSION failed (no network?): $(tail -n 1 "$TMP/npm.log")"
	fi
	start_serve "$DEV0"
	ref "$TMP/ref" --chat -n 24 "Name three colours."
	timeout 120 node "$HERE/openai-client.mjs" "$mods/node_modules" "$URL/v1" \
		"Name three colours." 24 >"$TMP/got" 2>"$TMP/node.err" ||
		die "openai client: $(tail -n 5 "$TMP/node.err")"
	{ cat "$TMP/ref" "$TMP/ref"; } | cmp -s - "$TMP/got" ||
		die "openai client's chat differs from hc-run --chat: '$(cat "$TMP/got")' vs '$(cat "$TMP/ref")'"
	echo "openai@$OPENAI_VERSION: chat (whole and streamed) equals hc-run --chat"
}

OPENAI_VERSION=4.77.0
CASES="basic chat errors auth_limits queue foreign prefill disconnect concurrent openai"
# seconds per case: >= 3x what each takes on a loaded 2-core machine
bound() {
	case $1 in
	concurrent) echo 300 ;;
	openai) echo 300 ;;
	*) echo 120 ;;
	esac
}

if [ "${1:-}" = --case ]; then
	TMP=$(mktemp -d /tmp/hc-serve-test.XXXXXX)
	CURLS=
	trap cleanup EXIT
	trap 'exit 1' INT TERM
	"case_$2"
	exit $?
fi

# ---- the driver ----
[ $# -gt 0 ] && CASES="$*"
passed=0 failed=0 skipped=0
for tool in hc-serve hc-emud hc-bake hc-run hc-smi; do
	[ -x "$B/$tool" ] || { echo "serve: $B/$tool missing (make all)"; exit 1; }
done
command -v curl >/dev/null 2>&1 || {
	echo "SKIP  serve: curl is not installed (scripts/deps.sh test)"
	echo "serve: 0 passed, 0 failed, 1 skipped"
	exit 0
}
WORK=$(mktemp -d /tmp/hc-serve-suite.XXXXXX)
EMUD=
finish() {
	[ -n "$EMUD" ] && kill "$EMUD" 2>/dev/null && wait "$EMUD" 2>/dev/null
	rm -rf "$WORK"
}
trap finish EXIT
trap 'exit 1' INT TERM
mkdir -p "$B/tests/serve"
t0=$(now)
if [ -f "$SHARED/models/tiny-llama3-hf/config.json" ]; then
	ROM="$B/tests/serve/tiny-llama3.rom"
	CHAT=1
	[ -f "$ROM" ] || "$B/hc-bake" --no-progress "$SHARED/models/tiny-llama3-hf" -o "$ROM.tmp.$$" \
		>"$WORK/bake.log" 2>&1 && mv -f "$ROM.tmp.$$" "$ROM" 2>/dev/null
else
	echo "note: $SHARED/models/tiny-llama3-hf absent: a synthetic ROM, chat cases skip"
	ROM="$B/tests/serve/synthetic-tiny.rom"
	CHAT=0
	[ -f "$ROM" ] || "$B/hc-bake" --synthetic tiny --seed 1 --tokenizer builtin --no-progress \
		-o "$ROM.tmp.$$" >"$WORK/bake.log" 2>&1 && mv -f "$ROM.tmp.$$" "$ROM" 2>/dev/null
fi
[ -f "$ROM" ] || { echo "FAIL  serve: baking $ROM: $(tail -n 3 "$WORK/bake.log")"; exit 1; }
"$B/hc-emud" --rom "$ROM" --socket "$WORK/emud.sock" --max-ctx 512 --contexts 48 \
	2>"$WORK/emud.log" &
EMUD=$!
i=0
while [ ! -S "$WORK/emud.sock" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
[ -S "$WORK/emud.sock" ] || { echo "FAIL  serve: hc-emud did not start"; exit 1; }
DEV0="emu:$WORK/emud.sock"
MODEL=$("$B/hc-smi" -d "$DEV0" --query model_name --format=csv,noheader | tr -d ' ')
echo "serve: ROM $ROM, model $MODEL, set-up $(since "$t0") s"
export B ROM CHAT DEV0 MODEL OPENAI_VERSION SHARED
for c in $CASES; do
	b=$(bound "$c")
	echo "RUN  serve_$c (bound $b s)"
	t=$(now)
	timeout --kill-after=10 "$b" sh "$0" "$B" --case "$c" >"$WORK/$c.log" 2>&1
	rc=$?
	secs=$(since "$t")
	echo "TIME serve_$c $secs s of $b s"
	if [ $rc = 0 ]; then
		passed=$((passed + 1))
		echo "ok    serve_$c ($secs s of $b s)$(grep -v '^SKIP' "$WORK/$c.log" | tail -n 1 | sed 's/^/: /')"
	elif [ $rc = 77 ]; then
		skipped=$((skipped + 1))
		echo "SKIP  serve_$c: $(grep -m1 '^SKIP' "$WORK/$c.log" | sed 's/^SKIP: //')"
	else
		failed=$((failed + 1))
		[ $rc = 124 ] && echo "FAIL  serve_$c: killed by its $b s bound"
		echo "FAIL  serve_$c ($secs s):"
		tail -n 15 "$WORK/$c.log" | sed 's/^/      /'
		mkdir -p "$B/tests/logs" && cp "$WORK/$c.log" "$B/tests/logs/serve_$c.log"
	fi
done
echo "serve: $passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]
