// SPDX-License-Identifier: MIT
/*
 * TEMPORARY: stand-ins for the GGUF and Hugging Face readers until tools/bake_gguf.c and
 * tools/bake_hf.c land. Weak, so the real readers win as soon as they are linked in.
 * Delete this file (and its line in tools/bake.mk) once both exist.
 */
#include <errno.h>
#include <stdio.h>
#include "bake.h"

__attribute__((weak)) int bake_open_gguf(const char *path, struct bake_source **out, char *err,
					 size_t errlen)
{
	*out = NULL;
	snprintf(err, errlen, "%s: GGUF input is not supported by this build yet", path);
	return -ENOTSUP;
}

__attribute__((weak)) int bake_open_hf(const char *dir, struct bake_source **out, char *err,
				       size_t errlen)
{
	*out = NULL;
	snprintf(err, errlen, "%s: Hugging Face input is not supported by this build yet", dir);
	return -ENOTSUP;
}
