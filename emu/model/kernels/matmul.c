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

/*
 * One weight row against 4 tokens: each block's weights are loaded (and for Q4_0
 * unpacked) once; every token keeps its own accumulator with the per-block operations
 * of dot_q8_avx2, and the four chains run side by side.
 */
#define DOT4_BODY(LOADW, DW)                                                          \
	const __m256i ones = _mm256_set1_epi16(1);                                    \
	float acc[4] = { 0.0f, 0.0f, 0.0f, 0.0f };                                    \
	for (uint32_t b = 0; b < nb; b++) {                                           \
		const __m256i vw = LOADW;                                             \
		const __m256i aw = _mm256_sign_epi8(vw, vw);                          \
		const float dw = c->fp16[DW];                                         \
		for (int k = 0; k < 4; k++) {                                         \
			const struct hc_block_q8_0 *xb = x + (size_t)k * nb + b;      \
			const __m256i sx = _mm256_sign_epi8(                          \
				_mm256_loadu_si256((const __m256i *)xb->qs), vw);     \
			const __m256i p = _mm256_madd_epi16(                          \
				_mm256_maddubs_epi16(aw, sx), ones);                  \
			acc[k] += (float)hsum_i32x8(p) * (dw * c->fp16[xb->d]);      \
		}                                                                     \
	}                                                                             \
	memcpy(out, acc, sizeof(acc));

__attribute__((target("avx2"))) static void dot4_q8_avx2(const struct hc_mm_ctx *c,
		const struct hc_block_q8_0 *w, const struct hc_block_q8_0 *x, uint32_t nb,
		float *out)
{
	DOT4_BODY(_mm256_loadu_si256((const __m256i *)w[b].qs), w[b].d)
}

__attribute__((target("avx2"))) static void dot4_q4_avx2(const struct hc_mm_ctx *c,
		const struct hc_block_q4_0 *w, const struct hc_block_q8_0 *x, uint32_t nb,
		float *out)
{
	const __m256i lo4 = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);

	DOT4_BODY(_mm256_sub_epi8(_mm256_and_si256(_mm256_inserti128_si256(
			_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)w[b].qs)),
			_mm_srli_epi16(_mm_loadu_si128((const __m128i *)w[b].qs), 4), 1), lo4),
			eight), w[b].d)
}
#endif

/* ---- fast F32: 8 rows (or 8 tokens) at a time, one sequential accumulator each ---- */

typedef float v8f __attribute__((vector_size(32)));

void hc_act_transpose(const struct hc_act *a, uint32_t cols, float *xt)
{
	const uint32_t ng = (a->n_tok + 7) / 8;

	for (uint32_t g = 0; g < ng; g++)
		for (uint32_t j = 0; j < cols; j++)
			for (uint32_t l = 0; l < 8; l++) {
				const uint32_t t = g * 8 + l;

				xt[((size_t)g * cols + j) * 8 + l] =
					t < a->n_tok ? a->x[t * a->x_stride + j] : 0.0f;
			}
}

/*
 * Four weight rows against 8 tokens: lane l of acc_k is token l's accumulator for row k,
 * updated in j order, so each lane performs exactly dot_f32_ref's operations; four
 * independent chains hide the add latency. Built twice (baseline, AVX2).
 */
#define TOK8X4_BODY                                                          \
	v8f a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };                 \
	const float *w0 = w, *w1 = w + ld, *w2 = w + 2 * ld, *w3 = w + 3 * ld; \
	for (uint32_t j = 0; j < n; j++) {                                   \
		v8f xv;                                                      \
		memcpy(&xv, xt + (size_t)j * 8, sizeof(xv));                 \
		a0 = a0 + xv * w0[j];                                        \
		a1 = a1 + xv * w1[j];                                        \
		a2 = a2 + xv * w2[j];                                        \
		a3 = a3 + xv * w3[j];                                        \
	}                                                                    \
	memcpy(out, &a0, sizeof(a0));                                        \
	memcpy(out + 8, &a1, sizeof(a1));                                    \
	memcpy(out + 16, &a2, sizeof(a2));                                   \
	memcpy(out + 24, &a3, sizeof(a3));

/* One row: the same with a single chain, for the rows left over. */
#define TOK8_BODY                                                        \
	v8f acc = { 0 };                                                 \
	for (uint32_t j = 0; j < n; j++) {                               \
		v8f xv;                                                  \
		memcpy(&xv, xt + (size_t)j * 8, sizeof(xv));             \
		acc = acc + xv * w[j];                                   \
	}                                                                \
	memcpy(out, &acc, sizeof(acc));

static void f32_tok8(const float *w, const float *xt, uint32_t n, float *out)
{
	TOK8_BODY
}

static void f32_tok8x4(const float *w, size_t ld, const float *xt, uint32_t n, float *out)
{
	TOK8X4_BODY
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void f32_tok8_avx2(const float *w, const float *xt,
							   uint32_t n, float *out)
{
	TOK8_BODY
}

__attribute__((target("avx2"))) static void f32_tok8x4_avx2(const float *w, size_t ld,
							     const float *xt, uint32_t n,
							     float *out)
{
	TOK8X4_BODY
}

/*
 * Eight rows against one token, lanes = rows: load an 8x8 tile, transpose it, then for
 * each of the 8 columns in order acc = acc + col * x[j]. Per lane, dot_f32_ref exactly.
 */
__attribute__((target("avx2"))) static void f32_rows8_avx2(const float *w, size_t ld,
							    const float *x, uint32_t n,
							    float *out)
{
	__m256 acc = _mm256_setzero_ps();
	uint32_t j = 0;

	for (; j + 8 <= n; j += 8) {
		__m256 r0 = _mm256_loadu_ps(w + j), r1 = _mm256_loadu_ps(w + ld + j);
		__m256 r2 = _mm256_loadu_ps(w + 2 * ld + j), r3 = _mm256_loadu_ps(w + 3 * ld + j);
		__m256 r4 = _mm256_loadu_ps(w + 4 * ld + j), r5 = _mm256_loadu_ps(w + 5 * ld + j);
		__m256 r6 = _mm256_loadu_ps(w + 6 * ld + j), r7 = _mm256_loadu_ps(w + 7 * ld + j);
		__m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
		__m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
		__m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
		__m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
		__m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
		__m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
		__m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
		__m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
		const __m256 c[8] = {
			_mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
			_mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
			_mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
			_mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31),
		};

		for (int k = 0; k < 8; k++)
			acc = _mm256_add_ps(acc, _mm256_mul_ps(c[k], _mm256_set1_ps(x[j + k])));
	}
	for (; j < n; j++) {
		const __m256 col = _mm256_setr_ps(w[j], w[ld + j], w[2 * ld + j], w[3 * ld + j],
						  w[4 * ld + j], w[5 * ld + j], w[6 * ld + j],
						  w[7 * ld + j]);

		acc = _mm256_add_ps(acc, _mm256_mul_ps(col, _mm256_set1_ps(x[j])));
	}
	_mm256_storeu_ps(out, acc);
}
#endif

/* Without AVX2: 8 independent scalar chains (the compiler may pack them into lanes). */

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

	if (c->fast && a->xt) {
		const uint32_t ng = (a->n_tok + 7) / 8;
		float res[32];

		for (; r + 4 <= r1; r += 4) {
			const float *wr = (const float *)(w->data + (size_t)r * w->row_bytes);

			for (uint32_t g = 0; g < ng; g++) {
				const float *xt = a->xt + (size_t)g * w->cols * 8;
#if defined(__x86_64__)
				if (c->avx2)
					f32_tok8x4_avx2(wr, ld, xt, w->cols, res);
				else
#endif
					f32_tok8x4(wr, ld, xt, w->cols, res);
				for (uint32_t k = 0; k < 4; k++)
					for (uint32_t l = 0; l < 8 && g * 8 + l < a->n_tok; l++)
						out[(g * 8 + l) * os + r + k] = res[k * 8 + l];
			}
		}
		for (; r < r1; r++) {
			const float *wr = (const float *)(w->data + (size_t)r * w->row_bytes);

			for (uint32_t g = 0; g < ng; g++) {
				const float *xt = a->xt + (size_t)g * w->cols * 8;
#if defined(__x86_64__)
				if (c->avx2)
					f32_tok8_avx2(wr, xt, w->cols, res);
				else
#endif
					f32_tok8(wr, xt, w->cols, res);
				for (uint32_t l = 0; l < 8 && g * 8 + l < a->n_tok; l++)
					out[(g * 8 + l) * os + r] = res[l];
			}
		}
		return;
	}
#if defined(__x86_64__)
	if (c->fast && c->avx2) {
		float res[8];

		for (; r + F32_ROWS <= r1; r += F32_ROWS) {
			const float *wr = (const float *)(w->data + (size_t)r * w->row_bytes);

			for (uint32_t t = 0; t < a->n_tok; t++) {
				f32_rows8_avx2(wr, ld, a->x + t * a->x_stride, w->cols, res);
				for (int k = 0; k < F32_ROWS; k++)
					out[t * os + r + k] = res[k];
			}
		}
	}
#endif
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
		uint32_t t = 0;

#if defined(__x86_64__)
		if (c->fast && c->avx2) {
			float res[4];

			for (; t + 4 <= a->n_tok; t += 4) {
				const struct hc_block_q8_0 *xq = a->xq + (size_t)t * nb;

				if (w->type == HC_WTYPE_Q8_0)
					dot4_q8_avx2(c, wr, xq, nb, res);
				else
					dot4_q4_avx2(c, wr, xq, nb, res);
				for (int k = 0; k < 4; k++)
					out[(t + k) * os + r] = res[k];
			}
		}
#endif
		for (; t < a->n_tok; t++) {
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
