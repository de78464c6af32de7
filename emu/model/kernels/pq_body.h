/* SPDX-License-Identifier: MIT */
/*
 * The pq kernels' bodies: a group of R packed quantized rows (kernels.h) against NT tokens,
 * compiled once per x86 table (x86_avx2.c): R = 8 in 256-bit vectors, R = 16 in 512-bit.
 * Internal to kernels/.
 *
 * The layout puts 4 consecutive elements of the R rows in the R lanes of one vector, so a
 * block's integer sums build up lane by lane (lane i = row i) from 4-element dot products
 * against the token's matching 4 bytes, broadcast: no horizontal reduction at all. The sums
 * are exact in any order; then lane i runs row i's chain with the reference's operations,
 * acc = acc + (float)isum * (d_w * d_x). Each weight vector is loaded (and unpacked) once
 * for all NT tokens.
 *
 * The unsigned operand of maddubs / dpbusd:
 *  - Q8_0 with maddubs (AVX2): |w| times x with w's sign; a pair of products is at most
 *    2 * 128 * 127 < 32767 because activations are in [-127, 127] (hc_quantize_row_q8_0),
 *    so maddubs never saturates.
 *  - Q8_0 with dpbusd (VNNI): the weights are stored as w + 128 (pq_q8_xor), and
 *    sum((w + 128) * x) - 128 * sum(x) = sum(w * x); dpbusd sums into int32, exactly.
 *  - Q4_0: the nibble n as it is: sum((n - 8) * x) = sum(n * x) - 8 * sum(x) (with
 *    maddubs, a block's int16 sums stay below 32767: PQ8_Q4_BODY). Byte j of lane i holds row i's elements 4k + j
 *    (low nibble) and 16 + 4k + j (high nibble).
 * sum(x) comes with the activations (hc_act.xsum).
 */
#ifndef HC_EMU_PQ_BODY_H
#define HC_EMU_PQ_BODY_H

#include <immintrin.h>
#include <string.h>

/* The token loops must be unrolled, or the NT accumulators live in memory and every
 * block's float add waits for a store and a load. */
#define PQ_UNROLL _Pragma("GCC unroll 8")

/*
 * The caller's prefetch, spread over the blocks: pfl cache lines from pf per block (the
 * next tile of weights, kernels.h). Issued in one burst, they stall the core.
 */
#define PQ_PREFETCH(b)                                                                \
	for (uint32_t l = 0; l < pfl; l++)                                            \
		__builtin_prefetch(pf + ((size_t)(b) * pfl + l) * 64, 0, 3)

/* Bytes 4k..4k+3 of token t's block b (a misaligned int32: memcpy), for a broadcast */
static inline __attribute__((always_inline)) int32_t pq_quad(const int8_t *qs, int k)
{
	int32_t v;

	memcpy(&v, qs + 4 * k, sizeof(v));
	return v;
}
#define PQ_QUAD(t, k) pq_quad(x[(t) * xs + b].qs, k)

/* ---- R = 8, 256-bit vectors ---- */

/*
 * A block's chunks stay a loop: unrolled, its 8 chunks times NT tokens need more than AVX2's
 * 16 registers and the accumulators spill to the stack (7% of a 32-context batch).
 */
#define PQ8_CHUNK_LOOP _Pragma("GCC unroll 1")

/* acc + (float)isum * (d_w * d_x), lane by lane; the scales converted by F16C (exact) */
#define PQ8_STEP(acc, isum, d, dx)                                                   \
	_mm256_add_ps(acc, _mm256_mul_ps(_mm256_cvtepi32_ps(isum),                   \
		_mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(d))), \
			      _mm256_set1_ps(dx))))

#define PQ8_PROLOGUE(NT)                                                              \
	__m256 acc[NT];                                                               \
	PQ_UNROLL for (int t = 0; t < NT; t++)                                        \
		acc[t] = _mm256_setzero_ps();

#define PQ8_EPILOGUE_BLOCK(NT, gb)                                                    \
	PQ_UNROLL for (int t = 0; t < NT; t++)                                        \
		acc[t] = PQ8_STEP(acc[t], is[t], gb, fp16[x[t * xs + b].d]);

#define PQ8_STORE(NT)                                                                 \
	PQ_UNROLL for (int t = 0; t < NT; t++)                                        \
		_mm256_storeu_ps(out + t * os, acc[t]);

/*
 * Token t at x + t * xs blocks (sum(x) at xsum + t * xs), out[t * os + i] for row i.
 * ISUM_INIT(s): a block's starting integer sum for sum(x) = s; DOT_Q8(isum, w, aw, t, k):
 * add chunk k's products for token t (aw = |w|, for the tables that need it).
 */
#define PQ8_Q8_BODY(NT, ISUM_INIT, DOT_Q8)                                            \
	PQ8_PROLOGUE(NT)                                                              \
	for (uint32_t b = 0; b < nb; b++) {                                           \
		const uint8_t *gb = g + b * HC_PQ_Q8_BLOCK(8);                        \
		__m256i is[NT];                                                       \
		PQ_PREFETCH(b);                                                       \
		PQ_UNROLL for (int t = 0; t < NT; t++)                                \
			is[t] = ISUM_INIT(xsum[t * xs + b]);                          \
		PQ8_CHUNK_LOOP for (int k = 0; k < 8; k++) {                          \
			const __m256i w = _mm256_loadu_si256(                         \
				(const __m256i *)(gb + 16 + 32 * k));                 \
			const __m256i aw = _mm256_sign_epi8(w, w);                    \
			(void)aw;                                                     \
			PQ_UNROLL for (int t = 0; t < NT; t++)                        \
				is[t] = DOT_Q8(is[t], w, aw, t, k);                   \
		}                                                                     \
		PQ8_EPILOGUE_BLOCK(NT, gb)                                            \
	}                                                                             \
	PQ8_STORE(NT)

/*
 * Q4_0 through maddubs: a pair of nibble products is at most 2 * 15 * 128, so a lane's
 * int16 sums of all 8 pairs of a block (4 chunks, low and high nibbles) stay within
 * 30720 < 32767 and widen to int32 once per block, not once per chunk.
 */
#define PQ8_Q4_BODY(NT)                                                               \
	const __m256i lo4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);      \
	PQ8_PROLOGUE(NT)                                                              \
	for (uint32_t b = 0; b < nb; b++) {                                           \
		const uint8_t *gb = g + b * HC_PQ_Q4_BLOCK(8);                        \
		__m256i p16[NT], is[NT];                                              \
		PQ_PREFETCH(b);                                                       \
		PQ_UNROLL for (int t = 0; t < NT; t++)                                \
			p16[t] = _mm256_setzero_si256();                              \
		PQ8_CHUNK_LOOP for (int k = 0; k < 4; k++) {                          \
			const __m256i v = _mm256_loadu_si256(                         \
				(const __m256i *)(gb + 16 + 32 * k));                 \
			const __m256i lo = _mm256_and_si256(v, lo4);                  \
			const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4); \
			PQ_UNROLL for (int t = 0; t < NT; t++)                        \
				p16[t] = _mm256_add_epi16(p16[t], _mm256_add_epi16(   \
					_mm256_maddubs_epi16(lo, _mm256_set1_epi32(PQ_QUAD(t, k))), \
					_mm256_maddubs_epi16(hi,                      \
						_mm256_set1_epi32(PQ_QUAD(t, k + 4))))); \
		}                                                                     \
		PQ_UNROLL for (int t = 0; t < NT; t++)                                \
			is[t] = _mm256_add_epi32(_mm256_set1_epi32(-8 * xsum[t * xs + b]), \
						 _mm256_madd_epi16(p16[t], ones));    \
		PQ8_EPILOGUE_BLOCK(NT, gb)                                            \
	}                                                                             \
	PQ8_STORE(NT)

/* ---- R = 16, 512-bit vectors, dpbusd (AVX-512 VNNI) ---- */

/*
 * G consecutive groups (G * 16 rows, the second nb blocks after the first) against NT tokens:
 * out[t * os + j * 16 + i] for row i of group j. Two groups share each token's broadcast
 * and give 2 * NT independent dpbusd chains: with one group of 4 tokens the chains' latency,
 * not the multipliers, bounds the batch kernel.
 */
#define PQ16_STEP(acc, isum, d, dx) \
	_mm512_add_ps(acc, _mm512_mul_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, dx)))

#define PQ16_PROLOGUE(G, NT, BLOCK)                                                  \
	const size_t gstride = nb * BLOCK(16);                                        \
	__m512 acc[G][NT];                                                            \
	PQ_UNROLL for (int j = 0; j < G; j++)                                         \
		PQ_UNROLL for (int t = 0; t < NT; t++)                                \
			acc[j][t] = _mm512_setzero_ps();

/* Every group's integer sum of block b for token t starts at @m * sum(x) */
#define PQ16_ISUM_START(G, NT, m)                                                     \
	PQ_UNROLL for (int t = 0; t < NT; t++) {                                      \
		const __m512i s0 = _mm512_set1_epi32((m) * xsum[t * xs + b]);         \
		PQ_UNROLL for (int j = 0; j < G; j++)                                 \
			is[j][t] = s0;                                                \
	}

/* The block's float step for every group and token; the scales converted by F16C (exact) */
#define PQ16_EPILOGUE_BLOCK(G, NT, gb)                                               \
	PQ_UNROLL for (int j = 0; j < G; j++) {                                       \
		const __m512 d = _mm512_cvtph_ps(                                     \
			_mm256_loadu_si256((const __m256i *)((gb) + j * gstride)));   \
		PQ_UNROLL for (int t = 0; t < NT; t++)                                \
			acc[j][t] = PQ16_STEP(acc[j][t], is[j][t], d,                 \
					      _mm512_set1_ps(fp16[x[t * xs + b].d])); \
	}

#define PQ16_STORE(G, NT)                                                            \
	PQ_UNROLL for (int t = 0; t < NT; t++)                                        \
		PQ_UNROLL for (int j = 0; j < G; j++)                                 \
			_mm512_storeu_ps(out + t * os + j * 16, acc[j][t]);

/* Q8_0 stored as w + 128: each block starts at -128 * sum(x) */
#define PQ16_Q8_BODY(G, NT)                                                           \
	PQ16_PROLOGUE(G, NT, HC_PQ_Q8_BLOCK)                                          \
	for (uint32_t b = 0; b < nb; b++) {                                           \
		const uint8_t *gb = g + b * HC_PQ_Q8_BLOCK(16);                       \
		__m512i is[G][NT];                                                    \
		PQ_PREFETCH(b);                                                       \
		PQ16_ISUM_START(G, NT, -128)                                          \
		PQ_UNROLL for (int k = 0; k < 8; k++) {                               \
			__m512i w[G];                                                 \
			PQ_UNROLL for (int j = 0; j < G; j++)                         \
				w[j] = _mm512_loadu_si512(gb + j * gstride + 32 + 64 * k); \
			PQ_UNROLL for (int t = 0; t < NT; t++) {                      \
				const __m512i xq = _mm512_set1_epi32(PQ_QUAD(t, k));  \
				PQ_UNROLL for (int j = 0; j < G; j++)                 \
					is[j][t] = _mm512_dpbusd_epi32(is[j][t], w[j], xq); \
			}                                                             \
		}                                                                     \
		PQ16_EPILOGUE_BLOCK(G, NT, gb)                                        \
	}                                                                             \
	PQ16_STORE(G, NT)

#define PQ16_Q4_BODY(G, NT)                                                           \
	const __m512i lo4 = _mm512_set1_epi8(0x0F);                                   \
	PQ16_PROLOGUE(G, NT, HC_PQ_Q4_BLOCK)                                          \
	for (uint32_t b = 0; b < nb; b++) {                                           \
		const uint8_t *gb = g + b * HC_PQ_Q4_BLOCK(16);                       \
		__m512i is[G][NT];                                                    \
		PQ_PREFETCH(b);                                                       \
		PQ16_ISUM_START(G, NT, -8)                                            \
		PQ_UNROLL for (int k = 0; k < 4; k++) {                               \
			__m512i lo[G], hi[G];                                         \
			PQ_UNROLL for (int j = 0; j < G; j++) {                       \
				const __m512i v = _mm512_loadu_si512(                 \
					gb + j * gstride + 32 + 64 * k);              \
				lo[j] = _mm512_and_si512(v, lo4);                     \
				hi[j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4); \
			}                                                             \
			PQ_UNROLL for (int t = 0; t < NT; t++) {                      \
				const __m512i xl = _mm512_set1_epi32(PQ_QUAD(t, k));  \
				const __m512i xh = _mm512_set1_epi32(PQ_QUAD(t, k + 4)); \
				PQ_UNROLL for (int j = 0; j < G; j++)                 \
					is[j][t] = _mm512_dpbusd_epi32(               \
						_mm512_dpbusd_epi32(is[j][t], lo[j], xl), \
						hi[j], xh);                           \
			}                                                             \
		}                                                                     \
		PQ16_EPILOGUE_BLOCK(G, NT, gb)                                        \
	}                                                                             \
	PQ16_STORE(G, NT)

#endif
