// SPDX-License-Identifier: MIT
/*
 * AVX2 kernels (x86-64; chosen at run time when the CPU has AVX2). Quantized rows use SIMD
 * only for each block's integer sum, which is exact in any order; the float operations
 * around it are the reference ones, one chain per output. F32 rows keep one sequential
 * accumulator per lane. Built with -ffp-contract=off: no FMA, as the reference.
 */
#include "kernels.h"
#include "f32_tok8.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))
#define AVX2_F16C __attribute__((target("avx2,f16c")))

/* Integer block sums (exact, so any order gives the same number). */
AVX2 static inline int32_t hsum_i32x8(__m256i v)
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
AVX2 static inline int32_t isum_i8x32_avx2(__m256i w, __m256i x)
{
	const __m256i aw = _mm256_sign_epi8(w, w);
	const __m256i sx = _mm256_sign_epi8(x, w);
	const __m256i p16 = _mm256_maddubs_epi16(aw, sx);

	return hsum_i32x8(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

AVX2 static float dot_q8_avx2(const float *fp16, const struct hc_block_q8_0 *w,
			      const struct hc_block_q8_0 *x, uint32_t nb)
{
	float acc = 0.0f;

	for (uint32_t b = 0; b < nb; b++) {
		const __m256i vw = _mm256_loadu_si256((const __m256i *)w[b].qs);
		const __m256i vx = _mm256_loadu_si256((const __m256i *)x[b].qs);

		acc += (float)isum_i8x32_avx2(vw, vx) * (fp16[w[b].d] * fp16[x[b].d]);
	}
	return acc;
}

AVX2 static float dot_q4_avx2(const float *fp16, const struct hc_block_q4_0 *w,
			      const struct hc_block_q8_0 *x, uint32_t nb)
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
		acc += (float)isum_i8x32_avx2(vw, vx) * (fp16[w[b].d] * fp16[x[b].d]);
	}
	return acc;
}

/*
 * One weight row against 4 tokens: each block's weights are loaded (and for Q4_0
 * unpacked) once; the four integer sums are reduced together (exact) and lane k is token
 * k's accumulator with dot_q8_avx2's per-block operations, acc = acc + (float)isum *
 * (d_w * d_x): the four chains run side by side.
 */
#define DOT4_BODY(LOADW, DW)                                                          \
	const __m256i ones = _mm256_set1_epi16(1);                                    \
	const struct hc_block_q8_0 *x0 = x, *x1 = x + nb, *x2 = x + 2 * (size_t)nb;  \
	const struct hc_block_q8_0 *x3 = x + 3 * (size_t)nb;                          \
	__m128 acc = _mm_setzero_ps();                                                \
	for (uint32_t b = 0; b < nb; b++) {                                           \
		const __m256i vw = LOADW;                                             \
		const __m256i aw = _mm256_sign_epi8(vw, vw);                          \
		const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(aw,         \
			_mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)x0[b].qs), \
					 vw)), ones);                                  \
		const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(aw,         \
			_mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)x1[b].qs), \
					 vw)), ones);                                  \
		const __m256i p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(aw,         \
			_mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)x2[b].qs), \
					 vw)), ones);                                  \
		const __m256i p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(aw,         \
			_mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)x3[b].qs), \
					 vw)), ones);                                  \
		const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1),        \
						    _mm256_hadd_epi32(p2, p3));       \
		const __m128 s = _mm_cvtepi32_ps(_mm_add_epi32(                       \
			_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));  \
		const __m128 dx = _mm_loadu_ps(xd4 + (size_t)b * 4);                  \
		const __m128 sc = _mm_mul_ps(_mm_set1_ps(fp16[DW]), dx);              \
		acc = _mm_add_ps(acc, _mm_mul_ps(s, sc));                             \
	}                                                                             \
	_mm_storeu_ps(out, acc);

AVX2 static void dot4_q8_avx2(const float *fp16, const struct hc_block_q8_0 *w,
			      const struct hc_block_q8_0 *x, const float *xd4, uint32_t nb,
			      float *out)
{
	DOT4_BODY(_mm256_loadu_si256((const __m256i *)w[b].qs), w[b].d)
}

AVX2 static void dot4_q4_avx2(const float *fp16, const struct hc_block_q4_0 *w,
			      const struct hc_block_q8_0 *x, const float *xd4, uint32_t nb,
			      float *out)
{
	const __m256i lo4 = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);

	DOT4_BODY(_mm256_sub_epi8(_mm256_and_si256(_mm256_inserti128_si256(
			_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)w[b].qs)),
			_mm_srli_epi16(_mm_loadu_si128((const __m128i *)w[b].qs), 4), 1), lo4),
			eight), w[b].d)
}

/*
 * Repacked groups of 8 rows (struct hc_q8_x8 / hc_q4_x8) against one token. Per block, the
 * 8 rows' integer sums are reduced together into the lanes of one vector (exact, so the
 * reduction order is free), then lane i runs row i's chain with dot_q8_avx2's operations,
 * acc = acc + (float)isum * (d_w * d_x): eight outputs for one horizontal reduction instead
 * of eight, and one stream of weights. The scales are converted by F16C (exact).
 */

/* p[i]: 8 int32 partial sums of row i -> lane i: their total. */
AVX2 static inline __m256i reduce8_i32(const __m256i p[8])
{
	const __m256i g0 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]),
					     _mm256_hadd_epi32(p[2], p[3]));
	const __m256i g1 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]),
					     _mm256_hadd_epi32(p[6], p[7]));

	/* g0 = rows 0-3 (low half of their partials) | rows 0-3 (high half); g1 rows 4-7 */
	return _mm256_add_epi32(_mm256_permute2x128_si256(g0, g1, 0x20),
				_mm256_permute2x128_si256(g0, g1, 0x31));
}

AVX2_F16C static inline __m256 x8_step(__m256 acc, __m256i isum, const uint16_t *d, float dx)
{
	const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)d));

	return _mm256_add_ps(acc, _mm256_mul_ps(_mm256_cvtepi32_ps(isum),
						_mm256_mul_ps(dw, _mm256_set1_ps(dx))));
}

AVX2_F16C static void x8_q8_avx2(const float *fp16, const struct hc_q8_x8 *g,
				 const struct hc_block_q8_0 *x, uint32_t nb, float *out)
{
	const __m256i ones = _mm256_set1_epi16(1);
	__m256 acc = _mm256_setzero_ps();

	for (uint32_t b = 0; b < nb; b++) {
		const __m256i vx = _mm256_loadu_si256((const __m256i *)x[b].qs);
		__m256i p[8];

		for (int i = 0; i < 8; i++) {
			const __m256i vw = _mm256_loadu_si256((const __m256i *)g[b].qs[i]);

			p[i] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(vw, vw),
								      _mm256_sign_epi8(vx, vw)),
						 ones);
		}
		acc = x8_step(acc, reduce8_i32(p), g[b].d, fp16[x[b].d]);
	}
	_mm256_storeu_ps(out, acc);
}

/*
 * Q4_0: sum((n - 8) * x) = sum(n * x) - 8 * sum(x) with the nibble n unsigned, so maddubs
 * takes it as it is (a pair is at most 2 * 15 * 127, two pairs' sum 7620: no saturation).
 * A 32-byte load holds rows i and i + 4: the low nibbles are their elements 0-15 against
 * x[0..15] in both halves, the high nibbles elements 16-31 against x[16..31].
 */
AVX2_F16C static void x8_q4_avx2(const float *fp16, const struct hc_q4_x8 *g,
				 const struct hc_block_q8_0 *x, uint32_t nb, float *out)
{
	const __m256i ones = _mm256_set1_epi16(1), lo4 = _mm256_set1_epi8(0x0F);
	const __m256i eights = _mm256_set1_epi16(8);
	__m256 acc = _mm256_setzero_ps();

	for (uint32_t b = 0; b < nb; b++) {
		const __m256i vx = _mm256_loadu_si256((const __m256i *)x[b].qs);
		const __m256i xl = _mm256_permute2x128_si256(vx, vx, 0x00);
		const __m256i xh = _mm256_permute2x128_si256(vx, vx, 0x11);
		/* 8 * sum(x) in every lane */
		__m256i sx = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), vx),
					       eights);
		__m256i p[4];

		sx = _mm256_add_epi32(sx, _mm256_shuffle_epi32(sx, _MM_SHUFFLE(1, 0, 3, 2)));
		sx = _mm256_add_epi32(sx, _mm256_shuffle_epi32(sx, _MM_SHUFFLE(2, 3, 0, 1)));
		sx = _mm256_add_epi32(sx, _mm256_permute2x128_si256(sx, sx, 0x01));
		for (int i = 0; i < 4; i++) {
			const __m256i v = _mm256_loadu_si256((const __m256i *)g[b].qs[i]);
			const __m256i nl = _mm256_and_si256(v, lo4);
			const __m256i nh = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4);

			p[i] = _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(nl, xl),
								  _mm256_maddubs_epi16(nh, xh)),
						 ones);
		}
		/* p[i] = row i | row i + 4: two rounds of hadd leave rows 0-3 | rows 4-7 */
		acc = x8_step(acc, _mm256_sub_epi32(
				      _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]),
							_mm256_hadd_epi32(p[2], p[3])), sx),
			      g[b].d, fp16[x[b].d]);
	}
	_mm256_storeu_ps(out, acc);
}

/*
 * Eight rows against one token, lanes = rows: load an 8x8 tile, transpose it, then for
 * each of the 8 columns in order acc = acc + col * x[j]. Per lane, hc_dot_f32_ref exactly.
 */
AVX2 static void f32_rows8_avx2(const float *w, size_t ld, const float *x, uint32_t n,
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

AVX2 static void f32_tok16x4_avx2(const float *w, size_t ld, const float *xt0,
				  const float *xt1, uint32_t n, float *out)
{
	F32_TOK16X4_BODY
}

AVX2 static void f32_tok8x4_avx2(const float *w, size_t ld, const float *xt, uint32_t n,
				 float *out)
{
	F32_TOK8X4_BODY
}

AVX2 static void f32_tok8_avx2(const float *w, const float *xt, uint32_t n, float *out)
{
	F32_TOK8_BODY
}

const struct hc_kernels hc_kernels_avx2 = {
	.name = "avx2",
	.dot_f32 = hc_dot_f32_ref,
	.dot_q8 = dot_q8_avx2,
	.dot_q4 = dot_q4_avx2,
	.dot4_q8 = dot4_q8_avx2,
	.dot4_q4 = dot4_q4_avx2,
	.x8_q8 = x8_q8_avx2,
	.x8_q4 = x8_q4_avx2,
	.f32_rows8 = f32_rows8_avx2,
	.f32_tok8x4 = f32_tok8x4_avx2,
	.f32_tok16x4 = f32_tok16x4_avx2,
	.f32_tok8 = f32_tok8_avx2,
};
#endif
