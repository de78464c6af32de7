// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "hc_err.h"
#include "hc_file.h"

const char *hc_file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFSOCK:
		return "a socket";
	case S_IFLNK:
		return "a symbolic link";
	}
	return "not a file";
}

int hc_open_regular(const char *path, const char *what, uint64_t *size, char *err,
		    size_t errlen)
{
	struct stat st;
	int fd, rc;

	/*
	 * O_NONBLOCK: open() of a FIFO with no writer (or of some devices) would wait forever
	 * before we could even look at what it is. O_NOCTTY: a terminal must not become ours.
	 */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		return hc_err(rc, err, errlen, "%s: cannot open%s%s: %s", path, what ? " " : "",
			      what ? what : "", strerror(-rc));
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return hc_err(rc, err, errlen, "%s: cannot stat: %s", path, strerror(-rc));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return hc_err(-EINVAL, err, errlen, "%s: not a regular file (%s)", path,
			      hc_file_kind(st.st_mode));
	}
	/* a regular file: reads behave the same either way, but callers expect a plain fd */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		rc = -errno;
		close(fd);
		return hc_err(rc, err, errlen, "%s: %s", path, strerror(-rc));
	}
	if (size)
		*size = (uint64_t)st.st_size;
	return fd;
}

FILE *hc_fopen_regular(const char *path, const char *what, char *err, size_t errlen)
{
	int fd = hc_open_regular(path, what, NULL, err, errlen);
	FILE *f;

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	f = fdopen(fd, "rb");
	if (!f) {
		int e = errno;

		close(fd);
		hc_errmsg(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
	}
	return f;
}
