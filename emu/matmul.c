// SPDX-License-Identifier: MIT
/*
 * Matmul kernels. The reference kernels are the definition (docs/numerics.md):
 *   F32:        acc = 0; for j in order: acc = acc + w[j] * x[j]        (llama2.c run.c)
 *   Q8_0/Q4_0:  acc = 0; for block b in order:
 *                 acc = acc + (float)isum_b * (d_w[b] * d_x[b])
 *               with isum_b the exact int32 sum of the 32 products of the block.
 * The fast kernels compute the same expression: F32 interleaves several rows (or tokens),
 * each with its own sequential accumulator; Q8_0/Q4_0 use SIMD only for isum_b, which is
 * an exact integer sum in any order. Built with -ffp-contract=off, so no FMA sneaks in.
 */
#include <string.h>
#include "matmul.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* ---- reference kernels ---- */

static float dot_f32_ref(const float *w, const float *x, uint32_t n)
{
	float acc = 0.0f;

	for (uint32_t j = 0; j < n; j++)
		acc += w[j] * x[j];
	return acc;
}

static int32_t isum_q8_ref(const int8_t *w, const int8_t *x)
{
	int32_t s = 0;

	for (int j = 0; j < HC_QK; j++)
		s += (int32_t)w[j] * (int32_t)x[j];
	return s;
}

static int32_t isum_q4_ref(const uint8_t *w, const int8_t *x)
{
	int32_t s0 = 0, s1 = 0;

	for (int j = 0; j < HC_QK / 2; j++) {
		s0 += ((int32_t)(w[j] & 0x0F) - 8) * (int32_t)x[j];
		s1 += ((int32_t)(w[j] >> 4) - 8) * (int32_t)x[j + HC_QK / 2];
	}
	return s0 + s1;
}

static float dot_q8_ref(const struct hc_mm_ctx *c, const struct hc_block_q8_0 *w,
			const struct hc_block_q8_0 *x, uint32_t nb)
{
	float acc = 0.0f;

	for (uint32_t b = 0; b < nb; b++)
		acc += (float)isum_q8_ref(w[b].qs, x[b].qs) * (c->fp16[w[b].d] * c->fp16[x[b].d]);
	return acc;
}

static float dot_q4_ref(const struct hc_mm_ctx *c, const struct hc_block_q4_0 *w,
			const struct hc_block_q8_0 *x, uint32_t nb)
{
	float acc = 0.0f;

	for (uint32_t b = 0; b < nb; b++)
		acc += (float)isum_q4_ref(w[b].qs, x[b].qs) * (c->fp16[w[b].d] * c->fp16[x[b].d]);
	return acc;
}

/* ---- AVX2 integer block sums (exact, so any order is the same number) ---- */

#if defined(__x86_64__)
__attribute__((target("avx2"))) static inline int32_t hsum_i32x8(__m256i v)
{
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));

	s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(s);
}

/*
 * 32 int8 x int8 products summed. maddubs needs an unsigned operand: |w| (w = -128 gives
 * 128 as unsigned) times x with w's sign; a pair sums to at most 2 * 128 * 127 < 32767
 * because activations are in [-127, 127] (hc_quantize_row_q8_0), so nothing saturates.
 */
__attribute__((target("avx2"))) static inline int32_t isum_i8x32_avx2(__m256i w, __m256i x)
{
	const __m256i aw = _mm256_sign_epi8(w, w);
	const __m256i sx = _mm256_sign_epi8(x, w);
	const __m256i p16 = _mm256_maddubs_epi16(aw, sx);

	return hsum_i32x8(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

__attribute__((target("avx2"))) static float dot_q8_avx2(const struct hc_mm_ctx *c,
		const struct hc_block_q8_0 *w, const struct hc_block_q8_0 *x, uint32_t nb)
{
	float acc = 0.0f;

	for (uint32_t b = 0; b < nb; b++) {
		const __m256i vw = _mm256_loadu_si256((const __m256i *)w[b].qs);
		const __m256i vx = _mm256_loadu_si256((const __m256i *)x[b].qs);

		acc += (float)isum_i8x32_avx2(vw, vx) * (c->fp16[w[b].d] * c->fp16[x[b].d]);
	}
	return acc;
}

__attribute__((target("avx2"))) static float dot_q4_avx2(const struct hc_mm_ctx *c,
		const struct hc_block_q4_0 *w, const struct hc_block_q8_0 *x, uint32_t nb)
{
	const __m256i lo4 = _mm256_set1_epi8(0x0F);
	const __m256i eight = _mm256_set1_epi8(8);
	float acc = 0.0f;

	for (uint32_t b = 0; b < nb; b++) {
		const __m128i raw = _mm_loadu_si128((const __m128i *)w[b].qs);
		/* elements 0..15 are the low nibbles, 16..31 the high ones */
		__m256i vw = _mm256_inserti128_si256(_mm256_castsi128_si256(raw),
						     _mm_srli_epi16(raw, 4), 1);
		const __m256i vx = _mm256_loadu_si256((const __m256i *)x[b].qs);

		vw = _mm256_sub_epi8(_mm256_and_si256(vw, lo4), eight);
		acc += (float)isum_i8x32_avx2(vw, vx) * (c->fp16[w[b].d] * c->fp16[x[b].d]);
	}
	return acc;
}
#endif

/* ---- fast F32: 8 rows at a time, one sequential accumulator per row ---- */

#define F32_ROWS 8

static void f32_rows8(const float *w, size_t ld, const float *x, uint32_t n, float *out,
		      size_t ostride)
{
	float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
	float a4 = 0.0f, a5 = 0.0f, a6 = 0.0f, a7 = 0.0f;
	const float *w0 = w, *w1 = w + ld, *w2 = w + 2 * ld, *w3 = w + 3 * ld;
	const float *w4 = w + 4 * ld, *w5 = w + 5 * ld, *w6 = w + 6 * ld, *w7 = w + 7 * ld;

	for (uint32_t j = 0; j < n; j++) {
		const float xj = x[j];

		a0 += w0[j] * xj;
		a1 += w1[j] * xj;
		a2 += w2[j] * xj;
		a3 += w3[j] * xj;
		a4 += w4[j] * xj;
		a5 += w5[j] * xj;
		a6 += w6[j] * xj;
		a7 += w7[j] * xj;
	}
	out[0] = a0;
	out[ostride] = a1;
	out[2 * ostride] = a2;
	out[3 * ostride] = a3;
	out[4 * ostride] = a4;
	out[5 * ostride] = a5;
	out[6 * ostride] = a6;
	out[7 * ostride] = a7;
}

static void matmul_f32(const struct hc_mm_ctx *c, const struct hc_mat *w,
		       const struct hc_act *a, float *out, size_t os, uint32_t r0, uint32_t r1)
{
	const size_t ld = w->row_bytes / sizeof(float);
	uint32_t r = r0;

	if (c->fast) {
		/* out is token-major, so one row's results are os apart: 8 rows are 1 apart */
		for (; r + F32_ROWS <= r1; r += F32_ROWS) {
			const float *wr = (const float *)(w->data + (size_t)r * w->row_bytes);

			for (uint32_t t = 0; t < a->n_tok; t++)
				f32_rows8(wr, ld, a->x + t * a->x_stride, w->cols,
					  out + t * os + r, 1);
		}
	}
	for (; r < r1; r++) {
		const float *wr = (const float *)(w->data + (size_t)r * w->row_bytes);

		for (uint32_t t = 0; t < a->n_tok; t++)
			out[t * os + r] = dot_f32_ref(wr, a->x + t * a->x_stride, w->cols);
	}
}

static void matmul_q(const struct hc_mm_ctx *c, const struct hc_mat *w, const struct hc_act *a,
		     float *out, size_t os, uint32_t r0, uint32_t r1)
{
	const uint32_t nb = w->cols / HC_QK;

	for (uint32_t r = r0; r < r1; r++) {
		const void *wr = w->data + (size_t)r * w->row_bytes;

		for (uint32_t t = 0; t < a->n_tok; t++) {
			const struct hc_block_q8_0 *xq = a->xq + (size_t)t * nb;
			float v;

#if defined(__x86_64__)
			if (c->fast && c->avx2)
				v = w->type == HC_WTYPE_Q8_0 ? dot_q8_avx2(c, wr, xq, nb)
							     : dot_q4_avx2(c, wr, xq, nb);
			else
#endif
				v = w->type == HC_WTYPE_Q8_0 ? dot_q8_ref(c, wr, xq, nb)
							     : dot_q4_ref(c, wr, xq, nb);
			out[t * os + r] = v;
		}
	}
}

void hc_matmul_rows(const struct hc_mm_ctx *c, const struct hc_mat *w, const struct hc_act *a,
		    float *out, size_t out_stride, uint32_t r0, uint32_t r1)
{
	if (w->type == HC_WTYPE_F32)
		matmul_f32(c, w, a, out, out_stride, r0, r1);
	else
		matmul_q(c, w, a, out, out_stride, r0, r1);
}
