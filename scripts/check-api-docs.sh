#!/bin/sh
# The build's API documentation check (run by `make`): every function libhc exports
# (lib/libhc.map, but the library's own hc__ helpers) has its kernel-doc style comment in a
# public header (" * NAME - what it does" or " * NAME() ...") and a man page, man/NAME.3
# (a ".so" link to the page that describes it is fine).
set -eu
cd "$(dirname "$0")/.."
bad=0
for s in $(sed -e 's|/\*.*\*/||g' lib/libhc.map | awk '
	/global:/ { g = 1; next }
	/local:/ { g = 0; next }
	/^[ \t]*}/ { g = 0; next }
	g && /;/ { s = $1; sub(/;.*/, "", s); print s }'); do
	case $s in hc__*) continue ;; esac
	if ! grep -qE "^ \* $s( -|\(\))|^/\* $s( -|\(\))" include/hc/*.h; then
		echo "check-api-docs: $s: no comment \" * $s - ...\" in include/hc/" >&2
		bad=1
	fi
	if [ ! -f "man/$s.3" ]; then
		echo "check-api-docs: $s: no man/$s.3" >&2
		bad=1
	fi
done
exit $bad
