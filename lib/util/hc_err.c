// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include "hc_err.h"

int hc_err(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}
