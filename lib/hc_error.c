// SPDX-License-Identifier: MIT
/* hc_strerror: libhc's own wording for each errno it returns (thread-safe, unlike strerror);
 * hc_version. */
#include <errno.h>
#include "hc/hc.h"

const char *hc_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:			return "success";
	case EINVAL:		return "invalid argument";
	case ENOENT:		return "no such device or socket";
	case ECONNREFUSED:	return "connection refused: no card daemon listening";
	case ENODEV:		return "device backend not available";
	case EPROTO:		return "card protocol error or unsupported interface version";
	case ENOMEM:		return "out of memory";
	case ENOSPC:		return "no space: context, ring or buffer full";
	case EBUSY:		return "busy: no free context or a job is already running";
	case EIO:		return "card reported an error";
	case ECANCELED:		return "cancelled (card reset)";
	case ETIMEDOUT:		return "timed out";
	case EAGAIN:		return "try again";
	case ENAMETOOLONG:	return "device path too long";
	case EOPNOTSUPP:	return "not supported by this card or model";
	case EBADF:		return "bad file descriptor";
	case EPIPE:		return "card connection lost";
	case ECONNRESET:	return "card connection reset";
	case EACCES:		return "permission denied";
	case EPERM:		return "operation not permitted";
	case EMFILE:		return "too many open files";
	case EILSEQ:		return "invalid UTF-8";
	case ERANGE:		return "value out of range";
	case EOVERFLOW:		return "value too large";
	case ENOTCONN:		return "not connected";
	case EINTR:		return "interrupted";
	case ENOSYS:		return "function not implemented (io_uring unavailable?)";
	case EFAULT:		return "bad address";
	case ENXIO:		return "no such device";
	default:		return "unknown error";
	}
}

/* Here rather than in a file of its own: like hc_strerror, a constant answer. */
const char *hc_version(void)
{
	return HC_VERSION_STRING;
}
