#!/bin/sh
# The build's layering check (run by `make`): each module sees only the include paths its
# module.mk gives it, and on top of that no file includes another module's internal header.
# An internal header may be included from the folders listed with it, and nowhere else.
set -eu
cd "$(dirname "$0")/.."
internal='
lib/hc_internal.h		lib lib/backend tests/lib
lib/tokenizer/tok_internal.h	lib/tokenizer
lib/tokenizer/tok_heap.h	lib/tokenizer
emu/daemon/emud.h		emu/daemon tests/fuzz
'
# The sources: git's list when this is a checkout, else (a release tarball, the copy that
# make check-package builds in build/pkg, inside the checkout) every C file but build/'s.
sources() {
	if [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$(pwd -P)" ]; then
		git ls-files '*.c' '*.h'
	else
		find . -path ./build -prune -o -name '*.[ch]' -type f -print | sed 's|^\./||'
	fi
}
bad=0
echo "$internal" | while read -r hdr dirs; do
	[ -n "$hdr" ] || continue
	name=${hdr##*/}
	sources | grep -v '^tests/kernel/' |
		xargs grep -l "^#include \"$name\"" 2>/dev/null | while read -r f; do
		d=${f%/*}
		ok=0
		for a in $dirs; do [ "$d" = "$a" ] && ok=1; done
		if [ $ok = 0 ]; then
			echo "layering: $f includes $hdr, internal to: $dirs" >&2
			echo x
		fi
	done
done | grep -q x && bad=1
[ $bad = 0 ] || exit 1
