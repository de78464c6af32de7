#!/bin/sh
# The UAPI structs must have no holes and the sizes the ABI promises (pahole on a -g object,
# as tt-kmd's CI does). Usage: check-uapi.sh TOP OUTDIR
set -eu
top=$1 out=$2
mkdir -p "$out"
cat >"$out/uapi_check.c" <<'EOC'
#include "uapi/drm/hc_accel.h"
struct drm_hc_info a; struct drm_hc_ctx_create b; struct drm_hc_ctx_destroy c;
struct drm_hc_stream_create d; struct drm_hc_job e; struct drm_hc_submit f;
struct drm_hc_wait g; struct drm_hc_cancel h; struct drm_hc_get_tokenizer i;
struct drm_hc_stream_pollfd j;
_Static_assert(sizeof(struct drm_hc_job) == 128, "drm_hc_job is a 128-byte ring entry");
EOC
cc -g -c -I"$top/include" $(pkg-config --cflags libdrm) "$out/uapi_check.c" -o "$out/uapi_check.o"
if ! command -v pahole >/dev/null; then
	echo "check-uapi: pahole missing (Debian package dwarves)" >&2
	exit 1
fi
bad=0
for s in drm_hc_info drm_hc_ctx_create drm_hc_ctx_destroy drm_hc_stream_create drm_hc_job \
	drm_hc_job_prefill drm_hc_job_decode drm_hc_submit drm_hc_wait drm_hc_cancel \
	drm_hc_get_tokenizer drm_hc_stream_pollfd; do
	layout=$(pahole -C "$s" "$out/uapi_check.o")
	if echo "$layout" | grep -qE 'XXX|hole|padding:'; then
		echo "check-uapi: struct $s has a hole or implicit padding:" >&2
		echo "$layout" >&2
		bad=1
	fi
	size=$(echo "$layout" | sed -n 's/.*size: \([0-9]*\),.*/\1/p')
	if [ $((size % 8)) != 0 ]; then
		echo "check-uapi: struct $s is $size bytes, not a multiple of 8" >&2
		bad=1
	fi
done
[ $bad = 0 ] && echo "check-uapi: UAPI structs have no holes"
exit $bad
