// SPDX-License-Identifier: MIT
/*
 * Portable kernels for any CPU: several independent accumulator chains, each one the
 * reference sequence of operations, which the compiler may pack into vector lanes.
 * Quantized rows use the reference dot products (their speed comes from SIMD integer
 * sums, which need an ISA table such as x86_avx2.c).
 */
#include "kernels.h"
#include "f32_tok8.h"

/* Eight rows against one token: 8 scalar chains. */
static void f32_rows8(const float *w, size_t ld, const float *x, uint32_t n, float *out)
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
	out[1] = a1;
	out[2] = a2;
	out[3] = a3;
	out[4] = a4;
	out[5] = a5;
	out[6] = a6;
	out[7] = a7;
}

static void f32_tok16x4(const float *w, size_t ld, const float *xt0, const float *xt1,
			uint32_t n, float *out)
{
	F32_TOK16X4_BODY
}

static void f32_tok8x4(const float *w, size_t ld, const float *xt, uint32_t n, float *out)
{
	F32_TOK8X4_BODY
}

static void f32_tok8(const float *w, const float *xt, uint32_t n, float *out)
{
	F32_TOK8_BODY
}

const struct hc_kernels hc_kernels_generic = {
	.name = "generic",
	.dot_f32 = hc_dot_f32_ref,
	.quantize_q8 = hc_quantize_q8_ref,
	.scores_f32 = hc_scores_f32_ref,
	.wsum_f32 = hc_wsum_f32_ref,
	.dot_q8 = hc_dot_q8_ref,
	.dot_q4 = hc_dot_q4_ref,
	.f32_rows8 = f32_rows8,
	.f32_tok8x4 = f32_tok8x4,
	.f32_tok16x4 = f32_tok16x4,
	.f32_tok8 = f32_tok8,
};
