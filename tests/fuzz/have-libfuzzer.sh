#!/bin/sh
# Exit 0 if compiler $1 (default clang) can link a libFuzzer target with ASan + UBSan; else
# print why on one SKIP line and exit 1. `make fuzz` and `make check` skip the libFuzzer parts
# then (the replays need no libFuzzer).
cc=${1:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
	echo "SKIP  libFuzzer: $cc not found (install clang to fuzz)"
	exit 1
fi
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' >"$d/t.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$d/t" "$d/t.c" >"$d/log" 2>&1; then
	echo "SKIP  libFuzzer: $cc cannot link -fsanitize=fuzzer,address,undefined: $(head -n 1 "$d/log")"
	exit 1
fi
exit 0
