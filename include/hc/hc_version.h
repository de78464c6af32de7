/* SPDX-License-Identifier: MIT */
/*
 * libhc's version, for compile-time checks:
 *	#if HC_VERSION_NUMBER >= HC_VERSION_ENCODE(1, 1, 0)
 * The shared library's ABI is versioned separately, by symbol (lib/libhc.map, soname 1).
 */
#ifndef HC_VERSION_H
#define HC_VERSION_H

#define HC_VERSION_MAJOR	1
#define HC_VERSION_MINOR	1
#define HC_VERSION_PATCH	0
#define HC_VERSION_STRING	"1.1.0"

#define HC_VERSION_ENCODE(major, minor, patch)	(((major) << 16) | ((minor) << 8) | (patch))
#define HC_VERSION_NUMBER \
	HC_VERSION_ENCODE(HC_VERSION_MAJOR, HC_VERSION_MINOR, HC_VERSION_PATCH)

#endif
