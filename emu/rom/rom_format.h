/* SPDX-License-Identifier: MIT */
/*
 * HC ROM image: one file = one baked model (docs/rom-format.md).
 *
 * Layout, all integers little-endian:
 *   struct hc_rom_header          at offset 0 (512 bytes)
 *   struct hc_rom_tensor[n]       at header.tensors_offset (64-byte aligned)
 *   tokenizer blob                at header.tokenizer_offset (lib/tokenizer/tokenizer.h format)
 *   tensor data                   each at a HC_ROM_ALIGN-aligned offset
 *
 * header.identity is the SHA-256 of the whole file with the 32 identity bytes
 * taken as zero: the model's identity ("silicon revision").
 */
#ifndef HC_ROM_H
#define HC_ROM_H

#include <stdint.h>

#define HC_ROM_MAGIC     "HCROM\r\n\032"	/* 8 bytes, no NUL; catches text-mode mangling */
#define HC_ROM_VERSION   1
#define HC_ROM_ALIGN     64		/* tensor data alignment: one cache line, any SIMD width */
#define HC_ROM_NAME_LEN  64

/* Tensor element types. Numbers match GGML's so GGUF data maps one to one. */
enum hc_wtype {
	HC_WTYPE_F32  = 0,
	HC_WTYPE_F16  = 1,	/* input only; never stored in a ROM */
	HC_WTYPE_Q4_0 = 2,	/* blocks of 32: fp16 scale + 16 bytes of nibbles (GGUF Q4_0) */
	HC_WTYPE_Q8_0 = 8,	/* blocks of 32: fp16 scale + 32 int8 (GGUF Q8_0) */
	HC_WTYPE_BF16 = 30,	/* input only; never stored in a ROM */
};

#define HC_QK 32		/* elements per Q8_0 / Q4_0 block */

/* Llama 3.1 RoPE frequency scaling; HC_ROPE_NONE for Llama 2. */
enum hc_rope_scaling {
	HC_ROPE_NONE   = 0,
	HC_ROPE_LLAMA3 = 1,
};

#define HC_ARCH_TIED_CLASSIFIER (1u << 0)	/* output.weight absent: use token_embd.weight */

/* Model shape. 128 bytes. */
struct hc_rom_arch {
	uint32_t vocab_size;
	uint32_t dim;		/* model width */
	uint32_t n_layers;
	uint32_t n_heads;
	uint32_t n_kv_heads;	/* grouped-query attention: n_heads % n_kv_heads == 0 */
	uint32_t head_dim;	/* dim / n_heads for every model we bake */
	uint32_t ffn_dim;	/* SwiGLU hidden width */
	uint32_t max_ctx;	/* longest context the card accepts */
	float    rope_theta;
	float    norm_eps;
	uint32_t rope_scaling;	/* enum hc_rope_scaling */
	float    rope_factor;
	float    rope_low_freq_factor;
	float    rope_high_freq_factor;
	uint32_t rope_orig_ctx;	/* original_max_position_embeddings */
	uint32_t flags;		/* HC_ARCH_* */
	uint32_t reserved[16];	/* must be zero */
};

/* 512 bytes. */
struct hc_rom_header {
	uint8_t  magic[8];		/* HC_ROM_MAGIC */
	uint32_t version;		/* HC_ROM_VERSION */
	uint32_t header_size;		/* sizeof(struct hc_rom_header) */
	uint64_t file_size;		/* exact size of the file */
	uint8_t  identity[32];		/* SHA-256, see above */
	char     name[HC_ROM_NAME_LEN];	/* NUL-terminated model name */
	struct hc_rom_arch arch;
	uint32_t wtype;			/* enum hc_wtype of the matrices (F32, Q8_0 or Q4_0) */
	uint32_t n_tensors;
	uint64_t tensors_offset;
	uint64_t tokenizer_offset;
	uint64_t tokenizer_size;
	uint64_t data_offset;		/* first tensor byte; everything after is tensor data */
	uint64_t data_size;
	uint8_t  reserved[216];		/* must be zero */
};

/*
 * One tensor. 128 bytes. Names follow GGUF: token_embd.weight, output_norm.weight,
 * output.weight, blk.N.{attn_norm,attn_q,attn_k,attn_v,attn_output,ffn_norm,ffn_gate,
 * ffn_up,ffn_down}.weight. Shape is GGUF order: shape[0] is the row length (the
 * contiguous dimension), shape[1] the number of rows. Q and K rows use the interleaved
 * RoPE layout of llama2.c and GGUF (pairs 2i, 2i+1 rotate together).
 */
struct hc_rom_tensor {
	char     name[64];		/* NUL-terminated */
	uint32_t type;			/* enum hc_wtype */
	uint32_t n_dims;		/* 1 or 2 */
	uint64_t shape[2];
	uint64_t offset;		/* absolute file offset, HC_ROM_ALIGN-aligned */
	uint64_t size;			/* bytes */
	uint8_t  reserved[24];		/* must be zero */
};

_Static_assert(sizeof(struct hc_rom_arch) == 128, "hc_rom_arch layout");
_Static_assert(sizeof(struct hc_rom_header) == 512, "hc_rom_header layout");
_Static_assert(sizeof(struct hc_rom_tensor) == 128, "hc_rom_tensor layout");

#endif
