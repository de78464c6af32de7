// SPDX-License-Identifier: MIT
/*
 * The reference kernels: the definition of every number the model computes
 * (docs/numerics.md), one output element at a time.
 *   F32:        acc = 0; for j in order: acc = acc + w[j] * x[j]        (llama2.c run.c)
 *   Q8_0/Q4_0:  acc = 0; for block b in order:
 *                 acc = acc + (float)isum_b * (d_w[b] * d_x[b])
 *               with isum_b the exact int32 sum of the 32 products of the block.
 * Built with -ffp-contract=off (as every kernel), so no FMA sneaks in.
 */
#include "kernels.h"

float hc_dot_f32_ref(const float *w, const float *x, uint32_t n)
{
	float acc = 0.0f;

	for (uint32_t j = 0; j < n; j++)
		acc += w[j] * x[j];
	return acc;
}

/* ggml's quantize_row_q8_0_ref (emu/rom/quant.c) */
void hc_quantize_q8_ref(const float *x, struct hc_block_q8_0 *y, uint32_t nb)
{
	hc_quantize_row_q8_0(x, y, (uint64_t)nb * HC_QK);
}

/* Attention: score_p = 0; score_p = score_p + q[i] * k_p[i] for i in order (llama2.c). */
void hc_scores_f32_ref(const float *q, const float *k, size_t ld, uint32_t n, uint32_t len,
		       float *out)
{
	for (uint32_t p = 0; p < n; p++) {
		const float *kp = k + p / 8 * ld + p % 8;
		float acc = 0.0f;

		for (uint32_t i = 0; i < len; i++)
			acc += q[i] * kp[i * 8];
		out[p] = acc;
	}
}

/* Attention: out[i] = 0; out[i] = out[i] + a[p] * v_p[i] for p in order (llama2.c). */
void hc_wsum_f32_ref(const float *a, const float *v, size_t ld, uint32_t n, uint32_t len,
		     float *out)
{
	for (uint32_t i = 0; i < len; i++)
		out[i] = 0.0f;
	for (uint32_t p = 0; p < n; p++)
		for (uint32_t i = 0; i < len; i++)
			out[i] += a[p] * v[p * ld + i];
}

static int32_t isum_q8(const int8_t *w, const int8_t *x)
{
	int32_t s = 0;

	for (int j = 0; j < HC_QK; j++)
		s += (int32_t)w[j] * (int32_t)x[j];
	return s;
}

static int32_t isum_q4(const uint8_t *w, const int8_t *x)
{
	int32_t s0 = 0, s1 = 0;

	for (int j = 0; j < HC_QK / 2; j++) {
		s0 += ((int32_t)(w[j] & 0x0F) - 8) * (int32_t)x[j];
		s1 += ((int32_t)(w[j] >> 4) - 8) * (int32_t)x[j + HC_QK / 2];
	}
	return s0 + s1;
}

float hc_dot_q8_ref(const float *fp16, const struct hc_block_q8_0 *w,
		    const struct hc_block_q8_0 *x, uint32_t nb)
{
	float acc = 0.0f;

	for (uint32_t b = 0; b < nb; b++)
		acc += (float)isum_q8(w[b].qs, x[b].qs) * (fp16[w[b].d] * fp16[x[b].d]);
	return acc;
}

float hc_dot_q4_ref(const float *fp16, const struct hc_block_q4_0 *w,
		    const struct hc_block_q8_0 *x, uint32_t nb)
{
	float acc = 0.0f;

	for (uint32_t b = 0; b < nb; b++)
		acc += (float)isum_q4(w[b].qs, x[b].qs) * (fp16[w[b].d] * fp16[x[b].d]);
	return acc;
}

const struct hc_kernels hc_kernels_ref = {
	.name = "reference",
	.dot_f32 = hc_dot_f32_ref,
	.quantize_q8 = hc_quantize_q8_ref,
	.scores_f32 = hc_scores_f32_ref,
	.wsum_f32 = hc_wsum_f32_ref,
	.dot_q8 = hc_dot_q8_ref,
	.dot_q4 = hc_dot_q4_ref,
};
