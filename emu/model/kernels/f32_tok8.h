/* SPDX-License-Identifier: MIT */
/*
 * The F32 batch kernels' bodies, compiled once per table (generic.c, x86_avx2.c) so the
 * compiler vectorises the same code for each instruction set. Internal to kernels/.
 *
 * F32_TOK8X4_BODY: four weight rows (@ld floats apart) against 8 tokens transposed as
 * hc_act.xt. Lane l of acc_k is token l's accumulator for row k, updated in j order, so
 * each lane performs exactly hc_dot_f32_ref's operations; four independent chains hide
 * the add latency. F32_TOK8_BODY: the same for one row, for the rows left over.
 */
#ifndef HC_EMU_F32_TOK8_H
#define HC_EMU_F32_TOK8_H

#include <string.h>

typedef float hc_v8f __attribute__((vector_size(32)));

#define F32_TOK8X4_BODY                                                      \
	hc_v8f a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };               \
	const float *w0 = w, *w1 = w + ld, *w2 = w + 2 * ld, *w3 = w + 3 * ld; \
	for (uint32_t j = 0; j < n; j++) {                                   \
		hc_v8f xv;                                                   \
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

/*
 * F32_TOK16X4_BODY: F32_TOK8X4_BODY for two groups of 8 tokens (@xt0, @xt1) at once: eight
 * independent chains instead of four, so the adds are no longer waiting on each other's
 * latency (4 chains x 8 lanes: one column per add latency; 8: as fast as the adders go).
 * out[k * 8 + l]: group 0, out[32 + k * 8 + l]: group 1.
 */
#define F32_TOK16X4_BODY                                                     \
	hc_v8f a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };               \
	hc_v8f b0 = { 0 }, b1 = { 0 }, b2 = { 0 }, b3 = { 0 };               \
	const float *w0 = w, *w1 = w + ld, *w2 = w + 2 * ld, *w3 = w + 3 * ld; \
	for (uint32_t j = 0; j < n; j++) {                                   \
		hc_v8f xv, yv;                                               \
		memcpy(&xv, xt0 + (size_t)j * 8, sizeof(xv));                \
		memcpy(&yv, xt1 + (size_t)j * 8, sizeof(yv));                \
		a0 = a0 + xv * w0[j];                                        \
		b0 = b0 + yv * w0[j];                                        \
		a1 = a1 + xv * w1[j];                                        \
		b1 = b1 + yv * w1[j];                                        \
		a2 = a2 + xv * w2[j];                                        \
		b2 = b2 + yv * w2[j];                                        \
		a3 = a3 + xv * w3[j];                                        \
		b3 = b3 + yv * w3[j];                                        \
	}                                                                    \
	memcpy(out, &a0, sizeof(a0));                                        \
	memcpy(out + 8, &a1, sizeof(a1));                                    \
	memcpy(out + 16, &a2, sizeof(a2));                                   \
	memcpy(out + 24, &a3, sizeof(a3));                                   \
	memcpy(out + 32, &b0, sizeof(b0));                                   \
	memcpy(out + 40, &b1, sizeof(b1));                                   \
	memcpy(out + 48, &b2, sizeof(b2));                                   \
	memcpy(out + 56, &b3, sizeof(b3));

#define F32_TOK8_BODY                                                    \
	hc_v8f acc = { 0 };                                              \
	for (uint32_t j = 0; j < n; j++) {                               \
		hc_v8f xv;                                               \
		memcpy(&xv, xt + (size_t)j * 8, sizeof(xv));             \
		acc = acc + xv * w[j];                                   \
	}                                                                \
	memcpy(out, &acc, sizeof(acc));

#endif
