// SPDX-License-Identifier: MIT
/*
 * Fuzz target: a llama2.c checkpoint and its tokenizer.bin, separated by FZ_SPLIT (no
 * separator: the built-in tokenizer). hc-bake's reader (bake_open_llama2c, which recognises
 * the tokenizer file by content) and the tokenizer.bin importer on its own.
 */
#include "bake.h"
#include "bake_tokfile.h"
#include "fuzz.h"
#include "tok_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *parts[2];
	size_t lens[2], n;
	struct bake_source *src;
	struct hc_tok_spec *spec;
	char ck[512], tk[512], err[512];
	uint32_t count;

	n = fz_split(data, size, parts, lens, 2);
	fz_write("model.bin", parts[0], lens[0], ck, sizeof(ck));
	if (n > 1)
		fz_write("tokenizer.bin", parts[1], lens[1], tk, sizeof(tk));
	if (bake_open_llama2c(ck, n > 1 ? tk : "builtin", &src, err, sizeof(err)) == 0) {
		fz_use_source(src);
		src->close(src);
	}
	if (n > 1 && bake_llama2c_tok_count(tk, &count, err, sizeof(err)) == 0 &&
	    hc_tok_spec_from_llama2c(tk, count, &spec, err, sizeof(err)) == 0) {
		fz_use_spec(spec);
		hc_tok_spec_free(spec);
	}
	return 0;
}
