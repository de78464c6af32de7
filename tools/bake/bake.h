/* SPDX-License-Identifier: MIT */
/*
 * hc-bake's view of an input checkpoint: a model shape, a tokenizer and tensors that are
 * read row by row (never whole), so an 8B bake streams in bounded memory.
 */
#ifndef HC_BAKE_H
#define HC_BAKE_H

#include <stddef.h>
#include <stdint.h>
#include "rom_format.h"
#include "tok_spec.h"

struct bake_tensor {
	char     name[64];	/* ROM name (emu/rom/rom_format.h), already mapped from the source */
	uint32_t type;		/* enum hc_wtype as stored in the source */
	uint32_t n_dims;	/* 1 or 2 */
	uint64_t shape[2];	/* ROM order: shape[0] = row length */
};

struct bake_source {
	char     name[HC_ROM_NAME_LEN];
	struct hc_rom_arch arch;
	struct hc_tok_spec *tok;	/* owned by the source; NULL if none found */
	uint32_t n_tensors;
	struct bake_tensor *tensors;
	/*
	 * Rows [row0, row0 + n) of tensor @i, widened to float, in ROM layout (Q/K rows
	 * already in interleaved RoPE order). 0 or negative errno with a message in @err.
	 */
	int (*read_rows_f32)(struct bake_source *src, uint32_t i, uint64_t row0, uint64_t n,
			     float *dst, char *err, size_t errlen);
	/* Same rows as stored (type bake_tensor.type); NULL if unsupported. Used to copy
	 * already-quantized blocks unchanged when the ROM wants the same type. */
	int (*read_rows_raw)(struct bake_source *src, uint32_t i, uint64_t row0, uint64_t n,
			     void *dst, char *err, size_t errlen);
	void (*close)(struct bake_source *src);	/* frees everything, tok included */
	void *priv;
};

/* Each opener: 0 or negative errno, with "PATH: problem" in @err. */
int bake_open_llama2c(const char *path, const char *tokenizer_path, struct bake_source **out,
		      char *err, size_t errlen);
int bake_open_gguf(const char *path, struct bake_source **out, char *err, size_t errlen);
int bake_open_hf(const char *dir, struct bake_source **out, char *err, size_t errlen);
/* Presets: "tiny" (~1M params), "15M", "110M", "llama3.1-8b". */
int bake_open_synthetic(const char *preset, uint64_t seed, struct bake_source **out,
			char *err, size_t errlen);

/* Write @src as a ROM of matrix type @wtype to @out_path, streaming, with progress on stderr. */
int bake_write_rom(struct bake_source *src, uint32_t wtype, const char *out_path, int progress,
		   char *err, size_t errlen);

#endif
