// SPDX-License-Identifier: MIT
/*
 * Number formats. The fp16 conversions and the Q8_0 / Q4_0 quantizers replicate ggml's
 * reference C code (ggml-impl.h, ggml-quants.c *_ref) operation for operation, so a ROM
 * baked here holds the same blocks llama.cpp would write.
 */
#include <math.h>
#include <string.h>
#include "quant.h"

static inline float bits_to_f32(uint32_t w)
{
	float f;

	memcpy(&f, &w, sizeof(f));
	return f;
}

static inline uint32_t f32_to_bits(float f)
{
	uint32_t w;

	memcpy(&w, &f, sizeof(w));
	return w;
}

/* ggml_compute_fp16_to_fp32: exact for every half value, subnormals included. */
float hc_fp16_to_f32(uint16_t h)
{
	const uint32_t w = (uint32_t)h << 16;
	const uint32_t sign = w & UINT32_C(0x80000000);
	const uint32_t two_w = w + w;
	const uint32_t exp_offset = UINT32_C(0xE0) << 23;
	const float exp_scale = 0x1.0p-112f;
	const float normalized = bits_to_f32((two_w >> 4) + exp_offset) * exp_scale;
	const uint32_t magic_mask = UINT32_C(126) << 23;
	const float magic_bias = 0.5f;
	const float denormalized = bits_to_f32((two_w >> 17) | magic_mask) - magic_bias;
	const uint32_t denormalized_cutoff = UINT32_C(1) << 27;
	const uint32_t result = sign | (two_w < denormalized_cutoff ? f32_to_bits(denormalized)
								     : f32_to_bits(normalized));

	return bits_to_f32(result);
}

/* ggml_compute_fp32_to_fp16: round to nearest even via float addition, NaN -> 0x7E00. */
uint16_t hc_f32_to_fp16(float f)
{
	const float scale_to_inf = 0x1.0p+112f;
	const float scale_to_zero = 0x1.0p-110f;
	float base = (fabsf(f) * scale_to_inf) * scale_to_zero;
	const uint32_t w = f32_to_bits(f);
	const uint32_t shl1_w = w + w;
	const uint32_t sign = w & UINT32_C(0x80000000);
	uint32_t bias = shl1_w & UINT32_C(0xFF000000);
	uint32_t bits, exp_bits, mantissa_bits, nonsign;

	if (bias < UINT32_C(0x71000000))
		bias = UINT32_C(0x71000000);
	base = bits_to_f32((bias >> 1) + UINT32_C(0x07800000)) + base;
	bits = f32_to_bits(base);
	exp_bits = (bits >> 13) & UINT32_C(0x00007C00);
	mantissa_bits = bits & UINT32_C(0x00000FFF);
	nonsign = exp_bits + mantissa_bits;
	return (uint16_t)((sign >> 16) | (shl1_w > UINT32_C(0xFF000000) ? UINT16_C(0x7E00) : nonsign));
}

float hc_bf16_to_f32(uint16_t b)
{
	return bits_to_f32((uint32_t)b << 16);
}

const char *hc_wtype_name(uint32_t type)
{
	switch (type) {
	case HC_WTYPE_F32: return "F32";
	case HC_WTYPE_F16: return "F16";
	case HC_WTYPE_Q4_0: return "Q4_0";
	case HC_WTYPE_Q8_0: return "Q8_0";
	case HC_WTYPE_BF16: return "BF16";
	default: return "unknown";
	}
}

size_t hc_row_size(uint32_t type, uint64_t n)
{
	/* Rows longer than 2^40 elements are nonsense for any model; refusing them keeps
	 * every later multiplication far from overflow. */
	if (n == 0 || n > (UINT64_C(1) << 40))
		return 0;
	switch (type) {
	case HC_WTYPE_F32:
		return (size_t)n * 4;
	case HC_WTYPE_F16:
	case HC_WTYPE_BF16:
		return (size_t)n * 2;
	case HC_WTYPE_Q8_0:
		return n % HC_QK ? 0 : (size_t)(n / HC_QK) * sizeof(struct hc_block_q8_0);
	case HC_WTYPE_Q4_0:
		return n % HC_QK ? 0 : (size_t)(n / HC_QK) * sizeof(struct hc_block_q4_0);
	default:
		return 0;
	}
}

/*
 * float -> int8 as x86 has always done it (cvttss2si, then the low byte): NaN and values out
 * of int32 range give 0. A plain cast is undefined for NaN and for anything out of int8 range,
 * which non-finite or huge weights in a ROM or checkpoint produce (a NaN also spoils amax
 * below, so other values leave [-127, 127]). tests/fuzz's rom target found both
 * (tests/fuzz/crashes/rom/).
 */
static inline int8_t to_int8(float v)
{
	if (!(v > -2147483648.0f && v < 2147483648.0f))
		return 0;
	return (int8_t)(int32_t)v;
}

/* quantize_row_q8_0_ref */
void hc_quantize_row_q8_0(const float *x, struct hc_block_q8_0 *y, uint64_t n)
{
	const uint64_t nb = n / HC_QK;

	for (uint64_t i = 0; i < nb; i++) {
		float amax = 0.0f;

		for (int j = 0; j < HC_QK; j++) {
			const float v = fabsf(x[i * HC_QK + j]);

			amax = amax > v ? amax : v;	/* MAX(amax, fabsf(v)) */
		}
		const float d = amax / ((1 << 7) - 1);
		const float id = d ? 1.0f / d : 0.0f;

		y[i].d = hc_f32_to_fp16(d);
		for (int j = 0; j < HC_QK; j++) {
			const float x0 = x[i * HC_QK + j] * id;

			y[i].qs[j] = to_int8(roundf(x0));
		}
	}
}

/* quantize_row_q4_0_ref, including its +8.5f truncation and MIN(15) clamp */
void hc_quantize_row_q4_0(const float *x, struct hc_block_q4_0 *y, uint64_t n)
{
	const uint64_t nb = n / HC_QK;

	for (uint64_t i = 0; i < nb; i++) {
		float amax = 0.0f;
		float max = 0.0f;

		for (int j = 0; j < HC_QK; j++) {
			const float v = x[i * HC_QK + j];

			if (amax < fabsf(v)) {
				amax = fabsf(v);
				max = v;
			}
		}
		const float d = max / -8;
		const float id = d ? 1.0f / d : 0.0f;

		y[i].d = hc_f32_to_fp16(d);
		for (int j = 0; j < HC_QK / 2; j++) {
			const float x0 = x[i * HC_QK + j] * id;
			const float x1 = x[i * HC_QK + HC_QK / 2 + j] * id;
			const int8_t t0 = to_int8(x0 + 8.5f);
			const int8_t t1 = to_int8(x1 + 8.5f);
			const uint8_t xi0 = (uint8_t)(t0 < 15 ? t0 : 15);
			const uint8_t xi1 = (uint8_t)(t1 < 15 ? t1 : 15);

			y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
		}
	}
}

void hc_dequantize_row(uint32_t type, const void *src, float *dst, uint64_t n)
{
	switch (type) {
	case HC_WTYPE_F32:
		memcpy(dst, src, n * sizeof(float));
		break;
	case HC_WTYPE_F16: {
		const uint8_t *p = src;

		for (uint64_t i = 0; i < n; i++) {
			uint16_t h;

			memcpy(&h, p + 2 * i, 2);
			dst[i] = hc_fp16_to_f32(h);
		}
		break;
	}
	case HC_WTYPE_BF16: {
		const uint8_t *p = src;

		for (uint64_t i = 0; i < n; i++) {
			uint16_t h;

			memcpy(&h, p + 2 * i, 2);
			dst[i] = hc_bf16_to_f32(h);
		}
		break;
	}
	case HC_WTYPE_Q8_0: {
		const struct hc_block_q8_0 *b = src;

		for (uint64_t i = 0; i < n / HC_QK; i++) {
			const float d = hc_fp16_to_f32(b[i].d);

			for (int j = 0; j < HC_QK; j++)
				dst[i * HC_QK + j] = b[i].qs[j] * d;
		}
		break;
	}
	case HC_WTYPE_Q4_0: {
		const struct hc_block_q4_0 *b = src;

		for (uint64_t i = 0; i < n / HC_QK; i++) {
			const float d = hc_fp16_to_f32(b[i].d);

			for (int j = 0; j < HC_QK / 2; j++) {
				const int x0 = (b[i].qs[j] & 0x0F) - 8;
				const int x1 = (b[i].qs[j] >> 4) - 8;

				dst[i * HC_QK + j] = x0 * d;
				dst[i * HC_QK + j + HC_QK / 2] = x1 * d;
			}
		}
		break;
	}
	default:
		memset(dst, 0, n * sizeof(float));
		break;
	}
}
