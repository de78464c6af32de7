/* SPDX-License-Identifier: MIT */
/* Number formats: fp16/bf16 conversion and GGUF-compatible Q8_0 / Q4_0 blocks. */
#ifndef HC_EMU_QUANT_H
#define HC_EMU_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include "rom_format.h"

/* Bit-compatible with ggml's block_q8_0 / block_q4_0. */
struct hc_block_q8_0 {
	uint16_t d;		/* fp16 scale */
	int8_t   qs[HC_QK];
};
struct hc_block_q4_0 {
	uint16_t d;		/* fp16 scale */
	uint8_t  qs[HC_QK / 2];	/* element j in low nibble of qs[j], j+16 in the high nibble */
};
_Static_assert(sizeof(struct hc_block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(struct hc_block_q4_0) == 18, "q4_0 block");

float hc_fp16_to_f32(uint16_t h);
uint16_t hc_f32_to_fp16(float f);	/* round to nearest even, as ggml's reference */
float hc_bf16_to_f32(uint16_t b);

/* "F32", "F16", "BF16", "Q8_0", "Q4_0", or "unknown" for any other @type. */
const char *hc_wtype_name(uint32_t type);

/* Bytes taken by one row of @n elements of @type; 0 if @n does not fit the type's blocks. */
size_t hc_row_size(uint32_t type, uint64_t n);

/* Quantize @n floats (n % 32 == 0) exactly as ggml's quantize_row_*_ref. */
void hc_quantize_row_q8_0(const float *x, struct hc_block_q8_0 *y, uint64_t n);
void hc_quantize_row_q4_0(const float *x, struct hc_block_q4_0 *y, uint64_t n);

/* Widen one row of any type to float. */
void hc_dequantize_row(uint32_t type, const void *src, float *dst, uint64_t n);

#endif
