// SPDX-License-Identifier: MIT
/*
 * The stream fast path for foreign-function interfaces: hc_stream.h's static inline
 * functions compiled once more as exported functions of the same names (liburing-ffi's
 * idea, in the one library). C programs keep the inline copies; bindings that load libhc.so
 * by symbol get these. No other file of libhc may define HC_STREAM_INLINE.
 */
#define HC_STREAM_INLINE
#include "hc/hc.h"
