/* SPDX-License-Identifier: MIT */
/*
 * Opening an input file a user named: never hangs, and refuses what is not a regular file.
 * Every reader of a user-given path goes through here (ROMs, checkpoints, tokenizer files,
 * JSON configs), so a FIFO or a device node gets one clear message everywhere.
 */
#ifndef HC_UTIL_FILE_H
#define HC_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/*
 * Open @path read-only if it is a regular file: an fd (O_CLOEXEC, blocking) and its size in
 * *@size (may be NULL), or a negative errno with one line in @err: "PATH: cannot open[ WHAT]:
 * REASON" (@what: "tokenizer", or NULL), or "PATH: not a regular file (a FIFO)" (-EINVAL).
 */
int hc_open_regular(const char *path, const char *what, uint64_t *size, char *err,
		    size_t errlen);

/* The same as a stdio stream ("rb"); NULL with errno set (negated return of the above). */
FILE *hc_fopen_regular(const char *path, const char *what, char *err, size_t errlen);

/* What a file of @mode is, for messages: "a FIFO", "a directory", "a character device". */
const char *hc_file_kind(mode_t mode);

#endif
