// SPDX-License-Identifier: MIT
/* Fuzz target: a GGUF file through hc-bake's GGUF reader (container, metadata, tokenizer, rows). */
#include "bake.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bake_source *src;
	char path[512], err[512];

	fz_write("model.gguf", data, size, path, sizeof(path));
	if (bake_open_gguf(path, &src, err, sizeof(err)) == 0) {
		fz_use_source(src);
		src->close(src);
	}
	return 0;
}
