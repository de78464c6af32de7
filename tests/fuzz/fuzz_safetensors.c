// SPDX-License-Identifier: MIT
/* Fuzz target: a safetensors file through its header parser (tools/bake/readers/safetensors.c). */
#include "fuzz.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_file *f;
	char path[512], err[512];

	fz_write("model.safetensors", data, size, path, sizeof(path));
	if (st_open(path, &f, err, sizeof(err)) == 0) {
		/* every name the parser kept must be found again, as the HF reader looks them up */
		for (uint32_t i = 0; i < f->n; i++)
			if (st_find(f, f->t[i].name) == NULL)
				__builtin_trap();
		st_close(f);
	}
	return 0;
}
