/* SPDX-License-Identifier: MIT */
/*
 * lib/util: the few helpers every internal module shares (used by lib/tokenizer, emu/rom,
 * emu/model and tools/bake; linked into libhc with its internal symbols hidden).
 */
#ifndef HC_UTIL_ERR_H
#define HC_UTIL_ERR_H

#include <stddef.h>

/*
 * The one error-message formatter: writes one line to @err (@errlen bytes, either may be
 * 0/NULL) and returns @rc, so that `return hc_err(-EINVAL, err, errlen, "...", ...);` reads
 * as what it does.
 */
int hc_err(int rc, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The same, for a message with no status to return. */
#define hc_errmsg(err, errlen, ...) ((void)hc_err(0, (err), (errlen), __VA_ARGS__))

#endif
