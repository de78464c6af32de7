// SPDX-License-Identifier: MIT
/*
 * The x86-64 tables, chosen at run time: "avx2" (AVX2 + F16C) and "avx512vnni" (AVX-512
 * F/BW/VL + VNNI, which runs the packed batch kernels in 512-bit vectors). Quantized rows use
 * SIMD for each block's integer sum, which is exact in any order; the float operations around
 * it are the reference ones, one chain per output in a lane. F32 rows keep one sequential
 * accumulator per lane. Each function carries its own target attribute, so the file builds
 * for baseline x86-64. Built with -ffp-contract=off: no FMA, as the reference.
 */
#include "kernels.h"
#include "f32_tok8.h"
#include "pq_body.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))
#define AVX2_F16C __attribute__((target("avx2,f16c")))
#define AVX512 __attribute__((target("avx2,f16c,avx512f,avx512vl,avx512bw")))
/* AVX-512 with VNNI's dpbusd, as on Zen 4 and Ice Lake on */
#define AVX512_VNNI __attribute__((target("avx2,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))

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

/* Packed groups of 8 rows (pq_body.h): how a chunk of 4 elements adds to the sums */
#define ISUM0_AVX2(s) _mm256_setzero_si256()
#define DOT_Q8_AVX2(is, w, aw, t, k)                                                  \
	_mm256_add_epi32(is, _mm256_madd_epi16(_mm256_maddubs_epi16(                  \
		aw, _mm256_sign_epi8(_mm256_set1_epi32(PQ_QUAD(t, k)), w)),            \
		_mm256_set1_epi16(1)))
#define PQ_SIG(NAME) \
	static void NAME(const float *fp16, const uint8_t *g, const struct hc_block_q8_0 *x, \
			 const int32_t *xsum, size_t xs, uint32_t nb, float *out,    \
			 size_t os, const uint8_t *pf, uint32_t pfl)

AVX2_F16C PQ_SIG(pq8_q8_avx2) { PQ8_Q8_BODY(1, ISUM0_AVX2, DOT_Q8_AVX2) }
AVX2_F16C PQ_SIG(pq8_q8_n_avx2) { PQ8_Q8_BODY(HC_PQ_NT, ISUM0_AVX2, DOT_Q8_AVX2) }
AVX2_F16C PQ_SIG(pq8_q4_avx2) { PQ8_Q4_BODY(1) }
AVX2_F16C PQ_SIG(pq8_q4_n_avx2) { PQ8_Q4_BODY(HC_PQ_NT) }
AVX512_VNNI PQ_SIG(pq16_q8_vnni) { PQ16_Q8_BODY(1, 1) }
AVX512_VNNI PQ_SIG(pq16_q8_n_vnni) { PQ16_Q8_BODY(1, HC_PQ_NT) }
AVX512_VNNI PQ_SIG(pq16_q8_n2_vnni) { PQ16_Q8_BODY(2, HC_PQ_NT) }
AVX512_VNNI PQ_SIG(pq16_q4_vnni) { PQ16_Q4_BODY(1, 1) }
AVX512_VNNI PQ_SIG(pq16_q4_n_vnni) { PQ16_Q4_BODY(1, HC_PQ_NT) }
AVX512_VNNI PQ_SIG(pq16_q4_n2_vnni) { PQ16_Q4_BODY(2, HC_PQ_NT) }

/*
 * Activations to Q8_0 with hc_quantize_row_q8_0's bits: the block's maximum |x| is exact in
 * any order, d and 1/d are the same scalar operations, and roundf (half away from zero) is
 * trunc(v) plus the sign of v where |v - trunc(v)| >= 0.5 (v - trunc(v) is exact). A block
 * with a NaN or an infinity (the maximum's order matters), or whose 1/d overflows, goes to
 * the reference.
 */
AVX2 static void quantize_q8_avx2(const float *x, struct hc_block_q8_0 *y, uint32_t nb)
{
	const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
	const __m256 half = _mm256_set1_ps(0.5f);

	for (uint32_t b = 0; b < nb; b++) {
		const float *xb = x + (size_t)b * HC_QK;
		__m256 v[4], m;
		__m128 h;
		__m256i q[4];
		float amax, d, id;

		for (int k = 0; k < 4; k++)
			v[k] = _mm256_loadu_ps(xb + 8 * k);
		m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]),
						_mm256_andnot_ps(sign, v[1])),
				  _mm256_max_ps(_mm256_andnot_ps(sign, v[2]),
						_mm256_andnot_ps(sign, v[3])));
		h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
		h = _mm_max_ps(h, _mm_movehl_ps(h, h));
		h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
		amax = _mm_cvtss_f32(h);
		d = amax / ((1 << 7) - 1);
		id = d ? 1.0f / d : 0.0f;
		if (!(amax <= 3.4028235e38f) || !(id <= 3.4028235e38f) ||
		    _mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(v[0], v[1], _CMP_UNORD_Q),
						    _mm256_cmp_ps(v[2], v[3], _CMP_UNORD_Q)))) {
			/* 1/d overflows for a tiny maximum: x * inf is NaN or inf, which
			 * the reference turns into 0 */
			hc_quantize_row_q8_0(xb, &y[b], HC_QK);
			continue;
		}
		y[b].d = hc_f32_to_fp16(d);
		for (int k = 0; k < 4; k++) {
			const __m256 s = _mm256_mul_ps(v[k], _mm256_set1_ps(id));
			const __m256 t = _mm256_round_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
			const __m256 up = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(s, t)),
							half, _CMP_GE_OQ);
			const __m256 away = _mm256_or_ps(_mm256_and_ps(s, sign), one);

			q[k] = _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(up, away)));
		}
		/* 32 int32 to int8 (all in [-127, 127]); the packs interleave 128-bit halves */
		_mm256_storeu_si256((__m256i *)y[b].qs, _mm256_permutevar8x32_epi32(
			_mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]),
					   _mm256_packs_epi32(q[2], q[3])),
			_mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
	}
}

/*
 * Attention's scores: lane l of a vector is position 8b + l (the keys are stored transposed
 * in blocks of 8), updated in i order (hc_scores_f32_ref's operations); up to eight blocks
 * at once so that their add chains overlap (a short context is one pass).
 */
#define SCORES_BODY(NB)                                                               \
	__m256 sc[NB];                                                                \
	PQ_UNROLL for (int c = 0; c < NB; c++)                                        \
		sc[c] = _mm256_setzero_ps();                                          \
	for (uint32_t i = 0; i < len; i++) {                                          \
		const __m256 qi = _mm256_set1_ps(q[i]);                               \
		PQ_UNROLL for (int c = 0; c < NB; c++)                                \
			sc[c] = _mm256_add_ps(sc[c], _mm256_mul_ps(qi,                \
				_mm256_loadu_ps(k + (b + c) * ld + i * 8)));          \
	}                                                                             \
	PQ_UNROLL for (int c = 0; c < NB; c++)                                        \
		_mm256_storeu_ps(res + c * 8, sc[c]);

AVX2 static void scores_f32_avx2(const float *q, const float *k, size_t ld, uint32_t n,
				 uint32_t len, float *out)
{
	const uint32_t nblk = (n + 7) / 8;

	for (uint32_t b = 0; b < nblk; ) {
		const uint32_t nb = nblk - b >= 8 ? 8 : nblk - b;
		float res[64];

		switch (nb) {
		case 8: { SCORES_BODY(8) } break;
		case 7: { SCORES_BODY(7) } break;
		case 6: { SCORES_BODY(6) } break;
		case 5: { SCORES_BODY(5) } break;
		case 4: { SCORES_BODY(4) } break;
		case 3: { SCORES_BODY(3) } break;
		case 2: { SCORES_BODY(2) } break;
		default: { SCORES_BODY(1) } break;
		}
		/* the last block may hold fewer than 8 positions */
		memcpy(out + b * 8, res, (n - b * 8 < nb * 8 ? n - b * 8 : nb * 8) * sizeof(float));
		b += nb;
	}
}

/*
 * Attention's weighted sum: up to 64 outputs (a head) kept in eight vectors while the rows
 * pass once, lane = output element, each updated in p order (hc_wsum_f32_ref's operations).
 */
#define WSUM_BODY(NV)                                                                 \
	__m256 s[NV];                                                                 \
	PQ_UNROLL for (int k = 0; k < NV; k++)                                        \
		s[k] = _mm256_setzero_ps();                                           \
	for (uint32_t p = 0; p < n; p++) {                                            \
		const __m256 ap = _mm256_set1_ps(a[p]);                               \
		PQ_UNROLL for (int k = 0; k < NV; k++)                                \
			s[k] = _mm256_add_ps(s[k], _mm256_mul_ps(ap,                  \
				_mm256_loadu_ps(v + p * ld + i + 8 * k)));            \
	}                                                                             \
	PQ_UNROLL for (int k = 0; k < NV; k++)                                        \
		_mm256_storeu_ps(out + i + 8 * k, s[k]);

AVX2 static void wsum_f32_avx2(const float *a, const float *v, size_t ld, uint32_t n,
			       uint32_t len, float *out)
{
	uint32_t i = 0;

	for (; i + 64 <= len; i += 64) {
		WSUM_BODY(8)
	}
	for (; i + 32 <= len; i += 32) {
		WSUM_BODY(4)
	}
	for (; i + 8 <= len; i += 8) {
		WSUM_BODY(1)
	}
	if (i < len)
		hc_wsum_f32_ref(a, v + i, ld, n, len - i, out + i);
}

/*
 * 32 packed F32 rows against one token: one stream of weights, lane = row, four add chains
 * side by side; per lane hc_dot_f32_ref's operations in j order.
 */
AVX2 static void f32_x32_avx2(const float *g, const float *x, uint32_t n, float *out)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;

	for (uint32_t j = 0; j < n; j++, g += 32) {
		const __m256 xj = _mm256_set1_ps(x[j]);

		s0 = _mm256_add_ps(s0, _mm256_mul_ps(_mm256_loadu_ps(g), xj));
		s1 = _mm256_add_ps(s1, _mm256_mul_ps(_mm256_loadu_ps(g + 8), xj));
		s2 = _mm256_add_ps(s2, _mm256_mul_ps(_mm256_loadu_ps(g + 16), xj));
		s3 = _mm256_add_ps(s3, _mm256_mul_ps(_mm256_loadu_ps(g + 24), xj));
	}
	_mm256_storeu_ps(out, s0);
	_mm256_storeu_ps(out + 8, s1);
	_mm256_storeu_ps(out + 16, s2);
	_mm256_storeu_ps(out + 24, s3);
}

/*
 * 32 packed F32 rows against 8 tokens in 512-bit vectors (AVX-512 has the 32 registers the
 * 16 accumulators need): per column two weight vectors, then for each token acc = acc +
 * w * x[j], lane = row, in j order (hc_dot_f32_ref's operations).
 */
AVX512 static void f32_x32_n_avx512(const float *g, const float *x, size_t xs, uint32_t n,
				    float *out)
{
	__m512 lo[HC_F32_NT], hi[HC_F32_NT];

	PQ_UNROLL for (int t = 0; t < HC_F32_NT; t++)
		lo[t] = hi[t] = _mm512_setzero_ps();
	for (uint32_t j = 0; j < n; j++, g += 32) {
		const __m512 w0 = _mm512_loadu_ps(g), w1 = _mm512_loadu_ps(g + 16);

		PQ_UNROLL for (int t = 0; t < HC_F32_NT; t++) {
			const __m512 xj = _mm512_set1_ps(x[t * xs + j]);

			lo[t] = _mm512_add_ps(lo[t], _mm512_mul_ps(w0, xj));
			hi[t] = _mm512_add_ps(hi[t], _mm512_mul_ps(w1, xj));
		}
	}
	PQ_UNROLL for (int t = 0; t < HC_F32_NT; t++) {
		_mm512_storeu_ps(out + t * 32, lo[t]);
		_mm512_storeu_ps(out + t * 32 + 16, hi[t]);
	}
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

/* What both x86 tables run: the row kernels, quantization, attention, F32 single tokens */
#define X86_SHARED_KERNELS                                                            \
	.dot_f32 = hc_dot_f32_ref,                                                    \
	.quantize_q8 = quantize_q8_avx2,                                              \
	.scores_f32 = scores_f32_avx2,                                                \
	.wsum_f32 = wsum_f32_avx2,                                                    \
	.dot_q8 = dot_q8_avx2,                                                        \
	.dot_q4 = dot_q4_avx2,                                                        \
	.dot4_q8 = dot4_q8_avx2,                                                      \
	.dot4_q4 = dot4_q4_avx2,                                                      \
	.f32_x32 = f32_x32_avx2,                                                      \
	.f32_rows8 = f32_rows8_avx2

const struct hc_kernels hc_kernels_avx2 = {
	.name = "avx2",
	X86_SHARED_KERNELS,
	.pq_rows = 8,
	.pq_q8 = pq8_q8_avx2,
	.pq_q4 = pq8_q4_avx2,
	.pq_q8_n = pq8_q8_n_avx2,
	.pq_q4_n = pq8_q4_n_avx2,
	.f32_tok8x4 = f32_tok8x4_avx2,
	.f32_tok16x4 = f32_tok16x4_avx2,
	.f32_tok8 = f32_tok8_avx2,
};

/*
 * AVX2's table with the quantized and F32 batch kernels in 512-bit vectors, the integer sums
 * on VNNI; F32 batches need no transposed copy.
 */
const struct hc_kernels hc_kernels_avx512vnni = {
	.name = "avx512vnni",
	X86_SHARED_KERNELS,
	.pq_rows = 16,
	.pq_q8_xor = 0x80,
	.pq_q8 = pq16_q8_vnni,
	.pq_q4 = pq16_q4_vnni,
	.pq_q8_n = pq16_q8_n_vnni,
	.pq_q4_n = pq16_q4_n_vnni,
	.pq_q8_n2 = pq16_q8_n2_vnni,
	.pq_q4_n2 = pq16_q4_n2_vnni,
	.f32_x32_n = f32_x32_n_avx512,
};
#endif
