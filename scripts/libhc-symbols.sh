#!/bin/sh
# Print debian/libhc1.symbols from lib/libhc.map, the one list of libhc's exported symbols:
#	scripts/libhc-symbols.sh > debian/libhc1.symbols
# Node LIBHC_X.Y is release X.Y.0, the version that brought its symbols. The package build
# compares the file with the built library (dpkg-gensymbols -c4): a symbol added to the map
# without regenerating this file fails it.
set -eu
map=${1:-$(dirname "$0")/../lib/libhc.map}
echo "libhc.so.1 libhc1 #MINVER#"
echo "* Build-Depends-Package: libhc-dev"
# Comments out; then each node: "NAME {" ... "global:" symbols ... "local:" ... "}"
sed -e 's|/\*.*\*/||g' "$map" | awk '
	/^[ \t]*\/?\*/ { next }
	/^[A-Za-z_][A-Za-z0-9_.]*[ \t]*\{/ {
		node = $1; sub(/\{.*/, "", node); global = 0
		ver = node; sub(/^LIBHC_/, "", ver); ver = ver ".0"
		printf " %s@%s %s\n", node, node, ver
		next
	}
	/global:/ { global = 1; next }
	/local:/ { global = 0; next }
	/^[ \t]*}/ { global = 0; next }	# the node ends: "};" or "} LIBHC_PREVIOUS;"
	global && /;/ { s = $1; sub(/;.*/, "", s); if (s != "") printf " %s@%s %s\n", s, node, ver }
' | LC_ALL=C sort
