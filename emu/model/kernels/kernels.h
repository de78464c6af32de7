/* SPDX-License-Identifier: MIT */
/*
 * The kernel table: the inner loops of hc_matmul_rows, activation quantization and
 * attention, one set per instruction set, chosen once when a model is created
 * (hc_kernels_pick). Every entry computes exactly the reference kernel's float operations for
 * each output element (docs/numerics.md), so all tables give the same bits; they differ only
 * in how many elements run side by side, and in the packed weight layouts they ask for.
 *
 * A new ISA (NEON, say) is one more file defining a table plus one line in hc_kernels_pick
 * (matmul.c). A NULL optional entry means "this set has no such kernel": matmul.c falls back
 * to the per-element dot kernel, which every table has.
 */
#ifndef HC_EMU_KERNELS_H
#define HC_EMU_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "model.h"
#include "quant.h"

/*
 * Quantized weights repacked at model creation (hc_mm_pack) for the pq kernels, in groups of
 * R = the table's pq_rows consecutive rows (8 for 256-bit lanes, 16 for 512-bit). Block b of
 * a group is the R rows' fp16 scales, then chunks k of 4R bytes: bytes 4i..4i+3 of a chunk
 * belong to row i. Q8_0: elements 4k..4k+3 (k = 0..7), each XOR the table's pq_q8_xor;
 * Q4_0: qs bytes 4k..4k+3 (k = 0..3), i.e. elements 4k.. (low nibbles) and 16 + 4k..
 * (high). So a group of rows is read as one stream and its block sums build up in the R
 * lanes of a vector (pq_body.h). Group g of a matrix starts at g * nb block sizes; rows past
 * the last whole group stay in the row layout.
 */
#define HC_PQ_Q8_BLOCK(R) (34 * (size_t)(R))	/* bytes per block of a group */
#define HC_PQ_Q4_BLOCK(R) (18 * (size_t)(R))
#define HC_PQ_NT 4	/* tokens per call of the pq_*_n kernels */
#define HC_F32_NT 8	/* tokens per call of f32_x32_n */

/* A pq kernel (below): packed quantized rows against Q8_0 tokens */
typedef void hc_pq_fn(const float *fp16, const uint8_t *g, const struct hc_block_q8_0 *x,
		      const int32_t *xsum, size_t xs, uint32_t nb, float *out, size_t os,
		      const uint8_t *pf, uint32_t pfl);

struct hc_kernels {
	const char *name;

	/* One F32 row against one token: the reference definition itself. */
	float (*dot_f32)(const float *w, const float *x, uint32_t n);
	/* @nb blocks of activations to Q8_0: hc_quantize_row_q8_0's bits. */
	void (*quantize_q8)(const float *x, struct hc_block_q8_0 *y, uint32_t nb);
	/* Attention's scores: out[p] = sum over i in order of q[i] * k[p / 8 * ld + i * 8 + p % 8],
	 * p < @n, starting from 0.0f (keys transposed in blocks of 8 positions, @ld apart). */
	void (*scores_f32)(const float *q, const float *k, size_t ld, uint32_t n, uint32_t len,
			   float *out);
	/* Attention's weighted sum of values: out[i] = sum over p in order of a[p] * v[p * ld + i],
	 * i < @len, starting from 0.0f. */
	void (*wsum_f32)(const float *a, const float *v, size_t ld, uint32_t n, uint32_t len,
			 float *out);
	/* One Q8_0 / Q4_0 row of @nb blocks against one Q8_0 token. */
	float (*dot_q8)(const float *fp16, const struct hc_block_q8_0 *w,
			const struct hc_block_q8_0 *x, uint32_t nb);
	float (*dot_q4)(const float *fp16, const struct hc_block_q4_0 *w,
			const struct hc_block_q8_0 *x, uint32_t nb);

	/* Optional. One quantized row against 4 tokens (x: 4 rows of @nb blocks), whose block
	 * scales come as floats, xd4[b * 4 + l] = fp16[x[l * nb + b].d]: out[0..3]. */
	void (*dot4_q8)(const float *fp16, const struct hc_block_q8_0 *w,
			const struct hc_block_q8_0 *x, const float *xd4, uint32_t nb, float *out);
	void (*dot4_q4)(const float *fp16, const struct hc_block_q4_0 *w,
			const struct hc_block_q8_0 *x, const float *xd4, uint32_t nb, float *out);

	/* Optional, all or none: one group of pq_rows packed rows of @nb blocks against one
	 * Q8_0 token (pq_q8, pq_q4) or HC_PQ_NT tokens (pq_*_n), token t at x + t * @xs (its
	 * blocks' sums at xsum + t * @xs): out[t * @os + i] for row i. Each block also
	 * prefetches @pfl cache lines, block b's from pf + b * pfl * 64 (the caller's next
	 * weights; @pfl = 0 for none). With them hc_mm_pack repacks Q8_0 and Q4_0 matrices. */
	uint8_t pq_rows;
	uint8_t pq_q8_xor;
	hc_pq_fn *pq_q8, *pq_q4, *pq_q8_n, *pq_q4_n;
	/* Optional, both or neither: pq_*_n on two consecutive groups (the second at g plus
	 * one group's size), out[t * @os + i] for row i of the 2 * pq_rows rows. */
	hc_pq_fn *pq_q8_n2, *pq_q4_n2;

	/* Optional: a group of 32 F32 rows packed as [column j][row i] (hc_mm_pack) against
	 * one token, out[0..31]; lane = row, each in j order (hc_dot_f32_ref's operations). */
	void (*f32_x32)(const float *g, const float *x, uint32_t n, float *out);
	/* Optional, with it: the same for HC_F32_NT tokens, token t at x + t * @xs,
	 * out[t * 32 + i]. */
	void (*f32_x32_n)(const float *g, const float *x, size_t xs, uint32_t n, float *out);

	/* Optional. Eight F32 rows (@ld floats apart) against one token: out[0..7]. */
	void (*f32_rows8)(const float *w, size_t ld, const float *x, uint32_t n, float *out);

	/* Optional, batches: F32 rows against 8 tokens transposed as hc_act.xt, out[k * 8 + l]
	 * for row k, token l. Both or neither. */
	void (*f32_tok8x4)(const float *w, size_t ld, const float *xt, uint32_t n, float *out);
	void (*f32_tok8)(const float *w, const float *xt, uint32_t n, float *out);
	/* Optional, with the two above: 4 rows against two groups of 8 (@xt0, @xt1),
	 * out[g * 32 + k * 8 + l]. */
	void (*f32_tok16x4)(const float *w, size_t ld, const float *xt0, const float *xt1,
			    uint32_t n, float *out);
};

extern const struct hc_kernels hc_kernels_ref;		/* ref.c: the definition */
extern const struct hc_kernels hc_kernels_generic;	/* generic.c: portable C, several chains */
#if defined(__x86_64__)
extern const struct hc_kernels hc_kernels_avx2;		/* x86_avx2.c */
extern const struct hc_kernels hc_kernels_avx512vnni;	/* x86_avx2.c, with VNNI sums */
#endif

/* Reference dot products, shared by the tables that have no faster version of them. */
float hc_dot_f32_ref(const float *w, const float *x, uint32_t n);
void hc_quantize_q8_ref(const float *x, struct hc_block_q8_0 *y, uint32_t nb);
void hc_scores_f32_ref(const float *q, const float *k, size_t ld, uint32_t n, uint32_t len,
		       float *out);
void hc_wsum_f32_ref(const float *a, const float *v, size_t ld, uint32_t n, uint32_t len,
		     float *out);
float hc_dot_q8_ref(const float *fp16, const struct hc_block_q8_0 *w,
		    const struct hc_block_q8_0 *x, uint32_t nb);
float hc_dot_q4_ref(const float *fp16, const struct hc_block_q4_0 *w,
		    const struct hc_block_q8_0 *x, uint32_t nb);

#endif
