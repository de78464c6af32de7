/* SPDX-License-Identifier: MIT */
/* hc-bake's --tokenizer argument: a file whose format is recognised by its content. */
#ifndef HC_BAKE_TOKFILE_H
#define HC_BAKE_TOKFILE_H

#include <stddef.h>
#include <stdint.h>
#include "tok_spec.h"

/*
 * Load @path as a tokenizer spec: "builtin" (the project's tokenizer with @model_vocab
 * tokens), a Hugging Face tokenizer.json (tokenizer_config.json next to it is used when
 * present) or a llama2.c tokenizer.bin. If @model_vocab is non-zero the tokenizer must
 * have exactly that many tokens. 0 or negative errno with "PATH: problem" in @err.
 */
int bake_tokfile_open(const char *path, uint32_t model_vocab, struct hc_tok_spec **out,
		      char *err, size_t errlen);

/* Number of entries of a llama2.c tokenizer.bin, checking its framing to the last byte. */
int bake_llama2c_tok_count(const char *path, uint32_t *count, char *err, size_t errlen);

/* Synthetic source whose vocabulary follows @tokenizer_path (NULL or "builtin": the preset's). */
struct bake_source;
int bake_open_synthetic_tok(const char *preset, uint64_t seed, const char *tokenizer_path,
			    struct bake_source **out, char *err, size_t errlen);

#endif
