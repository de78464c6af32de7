/* SPDX-License-Identifier: MIT */
/*
 * Checkpoint writers for tests (code in ckpt_writer.c): craft, in memory, a GGUF file and a
 * Hugging Face checkpoint (config.json, model.safetensors, tokenizer.json) of one tiny Llama
 * model whose every weight is known, with options that make them hostile in a chosen way;
 * and write test fixtures to files, failing the test on any error. Prefix cw_.
 */
#ifndef HC_TESTS_CKPT_WRITER_H
#define HC_TESTS_CKPT_WRITER_H

#include <stddef.h>
#include <stdint.h>

/* The crafted model: dim 32, 1 layer, 2 heads, 1 KV head, ffn 64, vocab 32, context 64. */
#define CW_DIM 32
#define CW_FFN 64
#define CW_VOCAB 32

/* A file built in memory: @n bytes at @p (free it). */
struct cw_buf {
	uint8_t *p;
	size_t n, cap;
};

/* ---- GGUF ---- */

/* What cw_gguf() writes; all zero is a valid file of F32 matrices. */
struct cw_gguf_opt {
	uint32_t version;	/* 0: 3 */
	uint32_t alignment;	/* 0: default (key absent) */
	uint32_t mat_type;	/* type of the matrices: F32 (0), F16, BF16, Q8_0, Q4_0 */
	int tied;		/* omit output.weight */
	const char *bad_type_tensor;	/* this tensor claims type 12 (Q4_K) */
	const char *bad_shape_tensor;	/* this tensor gets one row more */
	int misalign;		/* first tensor offset + 4 */
	const float *rope_freqs;	/* add rope_freqs.weight [8] and freq_base 500000 */
	float low_freq_factor;	/* non-zero: write llama.rope.scaling.low_freq_factor */
};

/* Where cw_gguf() put things, for tests that damage them. */
struct cw_gguf_offs {
	size_t n_tensors, n_kv, first_key, tokens_count, first_tensor_type, data;
};

/* The GGUF tensors, as the file lists them (deliberately not in canonical order). */
#define CW_N_GGUF 12
struct cw_gguf_tensor {
	const char *name;
	uint64_t ne0, ne1;	/* ne1 == 1: 1-D, always F32 */
};
extern const struct cw_gguf_tensor cw_gguf_tensors[CW_N_GGUF];

/* Value of element (row, col) of GGUF tensor @t: distinct and exactly representable in BF16. */
float cw_gguf_value(size_t t, uint64_t row, uint64_t col);

/* A complete GGUF in memory, exercising every metadata value type; @off gets its layout. */
struct cw_buf cw_gguf(const struct cw_gguf_opt *o, struct cw_gguf_offs *off);

/* ---- Hugging Face ---- */

/* config.json of the crafted model (tied embeddings). */
extern const char cw_hf_config[];

/* HF shapes ([out, in]) of the tied tiny model, in canonical order. */
#define CW_N_HF 11
struct cw_hf_tensor {
	const char *name;
	uint64_t out, in;	/* in == 0: 1-D */
};
extern const struct cw_hf_tensor cw_hf_tensors[CW_N_HF];

/* Element (row, col) of HF tensor @t, exact in F16 and BF16. */
float cw_hf_value(size_t t, uint64_t row, uint64_t col);

/*
 * A safetensors file of zeros; @skip drops a tensor, @alter gets dtype @dtype (NULL: F32)
 * and @bump more rows; the header length field claims @extra_len more bytes than it has.
 */
struct cw_buf cw_st_zeros(const char *skip, const char *alter, const char *dtype, int bump,
			  uint64_t extra_len);

/* A safetensors file with every tensor of dtype @dt (F32, F16, BF16) filled with cw_hf_value. */
struct cw_buf cw_st_values(const char *dt);

/* Write @dir/tokenizer.json: a minimal byte-level BPE tokenizer with the model's 32 tokens. */
void cw_hf_tokenizer(const char *dir);

/* ---- files ---- */

/* Create or replace @path with @len bytes of @data; checked. */
void cw_write_file(const char *path, const void *data, size_t len);
/* The same for @dir/@name. */
void cw_write_in(const char *dir, const char *name, const void *data, size_t len);
/* @dir/@name holding the string @text. */
void cw_write_text(const char *dir, const char *name, const char *text);

#endif
