#!/bin/sh
# The main job on a fresh machine: build, bake the default synthetic ROM, start the emulated
# card (hc-emud), generate text through libhc with hc-run, stop the card.
# Usage: sh scripts/demo.sh ["prompt"]
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh build
make -j"$(nproc)" all
rom=build/demo/tiny.rom
sock=build/demo/emud.sock
mkdir -p build/demo
[ -f "$rom" ] || build/hc-bake --synthetic tiny --seed 1 -o "$rom"
rm -f "$sock"
build/hc-emud --rom "$rom" --socket "$sock" 2>build/demo/emud.log &
emud=$!
trap 'kill $emud 2>/dev/null; wait $emud 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
cat >&2 <<'EOF'
hc-run on the emulated card. This ROM has SYNTHETIC random weights (hc-bake --synthetic
tiny), so the text below is gibberish by design: it shows the stack working, not a model.
For real text, bake a checkpoint you have and serve it:
    build/hc-bake --quant Q8 path/to/model.gguf -o model.rom    # or a Hugging Face dir,
    build/hc-emud --rom model.rom &                              # or a llama2.c .bin
    build/hc-run -i                                              # chat; see man/hc-run.1
EOF
build/hc-run -d "emu:$sock" -n 64 --temp 0.8 --seed 42 "${1:-Once upon a time}"
echo
