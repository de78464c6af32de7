/* SPDX-License-Identifier: MIT */
/*
 * Matrix-vector products of the forward pass (docs/numerics.md). Every output element
 * (row r, token t) is computed by one fixed sequence of float operations, whatever the
 * thread split or kernel table, so callers may split rows between threads freely.
 */
#ifndef HC_EMU_MATMUL_H
#define HC_EMU_MATMUL_H

#include <stddef.h>
#include <stdint.h>
#include "model.h"
#include "quant.h"

/* One weight matrix: @rows rows of @cols elements, row r at data + r * row_bytes. */
struct hc_mat {
	const uint8_t *data;
	uint32_t type;		/* HC_WTYPE_F32, _Q8_0 or _Q4_0 */
	uint32_t cols;
	uint32_t rows;
	size_t row_bytes;
	const void *packed;	/* NULL, or its whole groups of rows repacked (hc_mm_pack) */
};

/* The activations of @n_tok tokens, each @cols long, as float and (for quantized weights)
 * as Q8_0 blocks: x[t * x_stride], xq[t * (cols / 32)]. */
struct hc_act {
	const float *x;
	size_t x_stride;
	const struct hc_block_q8_0 *xq;
	const int32_t *xsum;	/* with xq: the sum of each block's 32 qs (hc_act_sums) */
	uint32_t n_tok;
	/* Optional, for F32 weights when hc_mm_wants_xt(): the tokens in groups of 8,
	 * transposed: xt[(g * cols + j) * 8 + lane] = x of token 8g + lane, element j (zero
	 * padding). */
	const float *xt;
};

/* xsum[i] = the sum of xq[i].qs, for @n_blocks blocks: what hc_act.xsum holds. */
void hc_act_sums(const struct hc_block_q8_0 *xq, size_t n_blocks, int32_t *xsum);

/* Fill @xt (ceil(n_tok / 8) * 8 * cols floats) from @a's rows, as hc_act.xt expects. */
void hc_act_transpose(const struct hc_act *a, uint32_t cols, float *xt);

struct hc_kernels;

/* Matmul settings fixed at model creation. */
struct hc_mm_ctx {
	const float *fp16;		/* 65536-entry fp16 -> float table */
	const struct hc_kernels *k;	/* hc_kernels_pick(path) */
};

/* The kernel table for @path on this CPU (kernels.h); NULL for an unknown path. */
const struct hc_kernels *hc_kernels_pick(enum hc_path path);
/* Its name ("reference", "generic", "avx2"), for logs and benchmarks. */
const char *hc_mm_kernels_name(const struct hc_mm_ctx *c);
/*
 * Repack @w for @c's kernels when the table has kernels for its type in the packed layouts
 * (kernels.h: groups of 8 quantized rows, of 32 F32 rows): w->packed is then a malloc'd copy
 * of its whole groups (the caller frees it after the last use of @w); otherwise @w is
 * unchanged. 0, or -ENOMEM.
 */
int hc_mm_pack(const struct hc_mm_ctx *c, struct hc_mat *w);

/* Quantize @nb blocks of @x to Q8_0 (@y): hc_quantize_row_q8_0's bits, on @c's kernels. */
void hc_act_quantize(const struct hc_mm_ctx *c, const float *x, struct hc_block_q8_0 *y,
		     uint32_t nb);
/* Whether batches of F32 tokens should come transposed in hc_act.xt. */
int hc_mm_wants_xt(const struct hc_mm_ctx *c);

/* Attention's scores of @n positions: out[p] = sum over i < @len in order of q[i] * k_p[i],
 * the keys transposed in blocks of 8 positions, @ld floats apart: k_p[i] = k[p / 8 * ld +
 * i * 8 + p % 8] (docs/numerics.md). */
void hc_scores_rows(const struct hc_mm_ctx *c, const float *q, const float *k, size_t ld,
		    uint32_t n, uint32_t len, float *out);
/* Attention's weighted sum of @n value rows (@ld floats apart), @len long, with weights
 * @a: out[i] = sum over p in order of a[p] * v[p * ld + i] (docs/numerics.md). */
void hc_wsum_rows(const struct hc_mm_ctx *c, const float *a, const float *v, size_t ld,
		  uint32_t n, uint32_t len, float *out);

/*
 * out[t * out_stride + r] = row r of @w . token t of @a, for rows [r0, r1).
 */
void hc_matmul_rows(const struct hc_mm_ctx *c, const struct hc_mat *w, const struct hc_act *a,
		    float *out, size_t out_stride, uint32_t r0, uint32_t r1);

#endif
