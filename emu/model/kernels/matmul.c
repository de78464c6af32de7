// SPDX-License-Identifier: MIT
/*
 * Matmul: walks the rows and tokens of one matrix product and hands the inner loops to
 * the kernel table chosen at model creation (kernels.h). Whatever table runs, each output
 * element is the reference kernel's sequence of operations (docs/numerics.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "matmul.h"
#include "kernels.h"
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#if defined(__x86_64__)
/* AVX2 and F16C: every AVX2 CPU has F16C, but a hypervisor may hide it (clang's
 * __builtin_cpu_supports does not know the name). */
static int cpu_has_avx2(void)
{
	unsigned int a, b, c, d;

	return __builtin_cpu_supports("avx2") && __get_cpuid(1, &a, &b, &c, &d) &&
	       (c & bit_F16C);
}
#endif

const struct hc_kernels *hc_kernels_pick(enum hc_path path)
{
	switch (path) {
	case HC_PATH_REFERENCE:
		return &hc_kernels_ref;
	case HC_PATH_GENERIC:
		return &hc_kernels_generic;
	case HC_PATH_AUTO:
#if defined(__x86_64__)
		__builtin_cpu_init();
		if (cpu_has_avx2() && __builtin_cpu_supports("avx512vl") &&
		    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni"))
			return &hc_kernels_avx512vnni;
		if (cpu_has_avx2())
			return &hc_kernels_avx2;
#endif
		return &hc_kernels_generic;
	case HC_PATH_AVX2:
#if defined(__x86_64__)
		__builtin_cpu_init();
		if (cpu_has_avx2())
			return &hc_kernels_avx2;
#endif
		return NULL;
	}
	return NULL;
}

const char *hc_mm_kernels_name(const struct hc_mm_ctx *c)
{
	return c->k->name;
}

/* A packed copy: cache-line aligned (aligned_alloc wants a multiple of the alignment). */
static void *pack_alloc(size_t size)
{
	return aligned_alloc(64, (size + 63) & ~(size_t)63);
}

/* The whole groups of @R rows of @w inside [r0, r1): [*g0, *g1), empty when not packed. */
static void packed_groups(const struct hc_mat *w, uint32_t R, uint32_t r0, uint32_t r1,
			  uint32_t *g0, uint32_t *g1)
{
	*g0 = *g1 = 0;
	if (w->packed) {	/* (a table without packed kernels has R 0 and packs nothing) */
		*g0 = (r0 + R - 1) / R;
		*g1 = (r1 < w->rows ? r1 : w->rows) / R;
	}
}

static uint8_t *pack_q(const struct hc_mm_ctx *c, const struct hc_mat *w)
{
	const uint32_t R = c->k->pq_rows, nb = w->cols / HC_QK, ng = w->rows / R;
	const int q8 = w->type == HC_WTYPE_Q8_0;
	const size_t bb = q8 ? HC_PQ_Q8_BLOCK(R) : HC_PQ_Q4_BLOCK(R);
	uint8_t *buf = pack_alloc((size_t)ng * nb * bb);

	if (!buf)
		return NULL;
	for (uint32_t g = 0; g < ng; g++)
		for (uint32_t i = 0; i < R; i++) {
			const uint8_t *row = w->data + ((size_t)g * R + i) * w->row_bytes;

			for (uint32_t b = 0; b < nb; b++) {
				uint8_t *d = buf + ((size_t)g * nb + b) * bb;
				uint8_t *qs = d + 2 * R + 4 * i;

				if (q8) {
					const struct hc_block_q8_0 *s =
						(const struct hc_block_q8_0 *)row + b;

					memcpy(d + 2 * i, &s->d, 2);
					for (uint32_t j = 0; j < HC_QK; j++)
						qs[j / 4 * 4 * R + j % 4] =
							(uint8_t)s->qs[j] ^ c->k->pq_q8_xor;
				} else {
					const struct hc_block_q4_0 *s =
						(const struct hc_block_q4_0 *)row + b;

					memcpy(d + 2 * i, &s->d, 2);
					for (uint32_t j = 0; j < HC_QK / 2; j++)
						qs[j / 4 * 4 * R + j % 4] = s->qs[j];
				}
			}
		}
	return buf;
}

/* F32: group g of 32 rows as [column j][row i], buf[(g * cols + j) * 32 + i]. */
static uint8_t *pack_f32(const struct hc_mat *w)
{
	const uint32_t ng = w->rows / 32;
	float *buf = pack_alloc((size_t)ng * w->cols * 32 * sizeof(float));

	if (!buf)
		return NULL;
	for (uint32_t g = 0; g < ng; g++)
		for (uint32_t i = 0; i < 32; i++) {
			const float *row = (const float *)(w->data +
							   ((size_t)g * 32 + i) * w->row_bytes);

			for (uint32_t j = 0; j < w->cols; j++)
				buf[((size_t)g * w->cols + j) * 32 + i] = row[j];
		}
	return (uint8_t *)buf;
}

int hc_mm_pack(const struct hc_mm_ctx *c, struct hc_mat *w)
{
	uint8_t *buf;

	if (w->type == HC_WTYPE_F32) {
		if (!c->k->f32_x32 || w->rows < 32 || !w->cols)
			return 0;
		buf = pack_f32(w);
	} else {
		if (!c->k->pq_q8 || !c->k->pq_q4 || w->rows < c->k->pq_rows || w->cols < HC_QK)
			return 0;
		buf = pack_q(c, w);
	}
	if (!buf)
		return -ENOMEM;
	w->packed = buf;
	return 0;
}

int hc_mm_wants_xt(const struct hc_mm_ctx *c)
{
	return c->k->f32_tok8x4 != NULL;
}

void hc_scores_rows(const struct hc_mm_ctx *c, const float *q, const float *k, size_t ld,
		    uint32_t n, uint32_t len, float *out)
{
	c->k->scores_f32(q, k, ld, n, len, out);
}

void hc_wsum_rows(const struct hc_mm_ctx *c, const float *a, const float *v, size_t ld,
		  uint32_t n, uint32_t len, float *out)
{
	c->k->wsum_f32(a, v, ld, n, len, out);
}

void hc_act_quantize(const struct hc_mm_ctx *c, const float *x, struct hc_block_q8_0 *y,
		     uint32_t nb)
{
	c->k->quantize_q8(x, y, nb);
}

void hc_act_sums(const struct hc_block_q8_0 *xq, size_t n_blocks, int32_t *xsum)
{
	for (size_t i = 0; i < n_blocks; i++) {
		int32_t sum = 0;

		for (int j = 0; j < HC_QK; j++)
			sum += xq[i].qs[j];
		xsum[i] = sum;
	}
}

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

/* Rows r.. (@nr of them) of groups g.. (@ngr of them) from a kernel's res[h * 32 + i * 8 + l]. */
static void put_tok8(float *out, size_t os, uint32_t r, uint32_t nr, uint32_t g, uint32_t ngr,
		     const float *res, uint32_t n_tok)
{
	for (uint32_t h = 0; h < ngr; h++)
		for (uint32_t i = 0; i < nr; i++)
			for (uint32_t l = 0; l < 8 && (g + h) * 8 + l < n_tok; l++)
				out[((g + h) * 8 + l) * os + r + i] = res[h * 32 + i * 8 + l];
}

/* Batches: every group of 8 tokens (transposed in a->xt) against 4 rows, then 1; pairs of
 * groups at once where the table has the kernel (eight chains instead of four). */
static void f32_tok8(const struct hc_kernels *k, const struct hc_mat *w,
		     const struct hc_act *a, float *out, size_t os, uint32_t r, uint32_t r1)
{
	const size_t ld = w->row_bytes / sizeof(float);
	const size_t gs = (size_t)w->cols * 8;	/* floats per group in xt */
	const uint32_t ng = (a->n_tok + 7) / 8;
	float res[64];

	for (; r < r1; ) {
		const float *wr = (const float *)(w->data + (size_t)r * w->row_bytes);
		const uint32_t nr = r + 4 <= r1 ? 4 : 1;

		for (uint32_t g = 0; g < ng; ) {
			const float *xt = a->xt + g * gs;

			if (nr == 4 && k->f32_tok16x4 && g + 1 < ng) {
				k->f32_tok16x4(wr, ld, xt, xt + gs, w->cols, res);
				put_tok8(out, os, r, nr, g, 2, res, a->n_tok);
				g += 2;
				continue;
			}
			if (nr == 4)
				k->f32_tok8x4(wr, ld, xt, w->cols, res);
			else
				k->f32_tok8(wr, xt, w->cols, res);
			put_tok8(out, os, r, nr, g, 1, res, a->n_tok);
			g++;
		}
		r += nr;
	}
}

static void matmul_f32_rows(const struct hc_kernels *k, const struct hc_mat *w,
			    const struct hc_act *a, float *out, size_t os, uint32_t r,
			    uint32_t r1);

/* Rows outside the packed groups: batches transposed where the table takes them, else
 * one token at a time. */
static void matmul_f32_rest(const struct hc_kernels *k, const struct hc_mat *w,
			    const struct hc_act *a, float *out, size_t os, uint32_t r0,
			    uint32_t r1)
{
	if (r0 >= r1)
		return;
	if (k->f32_tok8x4 && a->xt)
		f32_tok8(k, w, a, out, os, r0, r1);
	else
		matmul_f32_rows(k, w, a, out, os, r0, r1);
}

/*
 * Packed groups of 32 rows serve single tokens, and batches where the table has the batch
 * kernel (groups of HC_F32_NT tokens, then single ones; the group's 32 rows stay in L2 while
 * the batch passes). Otherwise batches go transposed through the f32_tok kernels.
 */
static void matmul_f32(const struct hc_kernels *k, const struct hc_mat *w,
		       const struct hc_act *a, float *out, size_t os, uint32_t r0, uint32_t r1)
{
	float res[HC_F32_NT * 32];
	uint32_t g0, g1;

	packed_groups(w, 32, r0, r1, &g0, &g1);
	if (g0 >= g1 || (a->n_tok > 1 && !k->f32_x32_n && a->xt)) {
		matmul_f32_rest(k, w, a, out, os, r0, r1);
		return;
	}
	matmul_f32_rest(k, w, a, out, os, r0, g0 * 32);
	for (uint32_t g = g0; g < g1; g++) {
		const float *gw = (const float *)w->packed + (size_t)g * w->cols * 32;

		for (uint32_t t = 0; t < a->n_tok; ) {
			const uint32_t nt = k->f32_x32_n && t + HC_F32_NT <= a->n_tok ? HC_F32_NT : 1;

			if (nt > 1)
				k->f32_x32_n(gw, a->x + t * a->x_stride, a->x_stride, w->cols, res);
			else
				k->f32_x32(gw, a->x + t * a->x_stride, w->cols, res);
			for (uint32_t i = 0; i < nt; i++)
				memcpy(out + (t + i) * os + (size_t)g * 32, res + i * 32,
				       32 * sizeof(float));
			t += nt;
		}
	}
	matmul_f32_rest(k, w, a, out, os, g1 * 32, r1);
}

/* One token at a time: eight rows at once where the table can, then single rows. */
static void matmul_f32_rows(const struct hc_kernels *k, const struct hc_mat *w,
			    const struct hc_act *a, float *out, size_t os, uint32_t r, uint32_t r1)
{
	const size_t ld = w->row_bytes / sizeof(float);

	if (k->f32_rows8) {
		float res[8];

		for (; r + 8 <= r1; r += 8) {
			const float *wr = (const float *)(w->data + (size_t)r * w->row_bytes);

			for (uint32_t t = 0; t < a->n_tok; t++) {
				k->f32_rows8(wr, ld, a->x + t * a->x_stride, w->cols, res);
				for (int i = 0; i < 8; i++)
					out[t * os + r + i] = res[i];
			}
		}
	}
	for (; r < r1; r++) {
		const float *wr = (const float *)(w->data + (size_t)r * w->row_bytes);

		for (uint32_t t = 0; t < a->n_tok; t++)
			out[t * os + r] = k->dot_f32(wr, a->x + t * a->x_stride, w->cols);
	}
}

/* Rows of up to 16384 columns take the 4-token kernels (their scales fit on the stack). */
#define DOT4_MAX_BLOCKS 512

/* The rows [r0, r1) of @w against every token of @a: groups of 4 tokens, then single ones. */
static void matmul_q_tile(const struct hc_mm_ctx *c, const struct hc_mat *w,
			  const struct hc_act *a, float *out, size_t os, uint32_t r0, uint32_t r1)
{
	const struct hc_kernels *k = c->k;
	const uint32_t nb = w->cols / HC_QK;
	const int q8 = w->type == HC_WTYPE_Q8_0;
	uint32_t t = 0;

	if ((q8 ? k->dot4_q8 != NULL : k->dot4_q4 != NULL) && nb <= DOT4_MAX_BLOCKS) {
		for (; t + 4 <= a->n_tok; t += 4) {
			const struct hc_block_q8_0 *xq = a->xq + (size_t)t * nb;
			float xd4[4 * DOT4_MAX_BLOCKS];

			/* the group's scales, looked up once for the tile's rows */
			for (uint32_t b = 0; b < nb; b++)
				for (uint32_t l = 0; l < 4; l++)
					xd4[b * 4 + l] = c->fp16[xq[l * nb + b].d];
			for (uint32_t r = r0; r < r1; r++) {
				const void *wr = w->data + (size_t)r * w->row_bytes;
				float res[4];

				if (q8)
					k->dot4_q8(c->fp16, wr, xq, xd4, nb, res);
				else
					k->dot4_q4(c->fp16, wr, xq, xd4, nb, res);
				for (int i = 0; i < 4; i++)
					out[(t + i) * os + r] = res[i];
			}
		}
	}
	for (; t < a->n_tok; t++) {
		const struct hc_block_q8_0 *xq = a->xq + (size_t)t * nb;

		for (uint32_t r = r0; r < r1; r++) {
			const void *wr = w->data + (size_t)r * w->row_bytes;

			out[t * os + r] = q8 ? k->dot_q8(c->fp16, wr, xq, nb)
					     : k->dot_q4(c->fp16, wr, xq, nb);
		}
	}
}

/*
 * Tiles of rows (about 64 KB of weights) outside, token groups inside, rows innermost: the
 * tile's rows stay in L2 while every token group passes, and a group's activations (4
 * tokens of Q8_0 blocks, 9 KB for 2048 columns) stay in L1 while the tile's rows pass.
 * (Each row against all tokens streams the whole batch's activations from L2 once per row:
 * half the speed for a 32-token batch of Q8_0 rows.) Single tokens (decode) take the rows
 * in one sweep.
 */
static void matmul_q_rows(const struct hc_mm_ctx *c, const struct hc_mat *w,
			  const struct hc_act *a, float *out, size_t os, uint32_t r0, uint32_t r1)
{
	uint32_t rows = (uint32_t)((64u << 10) / w->row_bytes);

	if (a->n_tok == 1 || rows < 4)
		rows = r1 - r0;
	for (uint32_t r = r0; r < r1; r += rows)
		matmul_q_tile(c, w, a, out, os, r, r1 - r < rows ? r1 : r + rows);
}

/*
 * The rows of groups [g, g + ng) against tokens [t, t + nt), ng = 2 through pq_*_n2. The
 * kernel also prefetches @pf_bytes from @pf, spread over its blocks.
 */
static void pq_call(const struct hc_mm_ctx *c, const struct hc_mat *w, const struct hc_act *a,
		    float *out, size_t os, uint32_t g, uint32_t ng, uint32_t t, uint32_t nt,
		    const uint8_t *pf, size_t pf_bytes)
{
	const struct hc_kernels *k = c->k;
	const uint32_t R = k->pq_rows, nb = w->cols / HC_QK;
	const int q8 = w->type == HC_WTYPE_Q8_0;
	const size_t gb = nb * (q8 ? HC_PQ_Q8_BLOCK(R) : HC_PQ_Q4_BLOCK(R));
	const uint8_t *gw = (const uint8_t *)w->packed + (size_t)g * gb;
	const struct hc_block_q8_0 *xq = a->xq + (size_t)t * nb;
	const int32_t *xs = a->xsum + (size_t)t * nb;
	const uint32_t pfl = (uint32_t)((pf_bytes + 64 * nb - 1) / (64 * nb));
	float *o = out + t * os + (size_t)g * R;

	if (ng == 2)
		(q8 ? k->pq_q8_n2 : k->pq_q4_n2)(c->fp16, gw, xq, xs, nb, nb, o, os, pf, pfl);
	else if (nt > 1)
		(q8 ? k->pq_q8_n : k->pq_q4_n)(c->fp16, gw, xq, xs, nb, nb, o, os, pf, pfl);
	else
		(q8 ? k->pq_q8 : k->pq_q4)(c->fp16, gw, xq, xs, nb, nb, o, os, pf, pfl);
}

/*
 * Packed rows: the whole groups of R = pq_rows in [r0, r1) through the pq kernels, in tiles
 * of about 64 KB of weights, each against every token in turn (the tile stays in L2, the
 * tokens' activations in L1); the rows around them, if any, as above.
 */
static void matmul_q(const struct hc_mm_ctx *c, const struct hc_mat *w, const struct hc_act *a,
		     float *out, size_t os, uint32_t r0, uint32_t r1)
{
	const struct hc_kernels *k = c->k;
	const uint32_t R = k->pq_rows, nb = w->cols / HC_QK;
	const int q8 = w->type == HC_WTYPE_Q8_0;
	const size_t gb = nb * (q8 ? HC_PQ_Q8_BLOCK(R) : HC_PQ_Q4_BLOCK(R));
	const int pair = (q8 ? k->pq_q8_n2 : k->pq_q4_n2) != NULL;
	const uint32_t batched = a->n_tok / HC_PQ_NT, single = a->n_tok % HC_PQ_NT;
	uint32_t g0, g1, tile;

	packed_groups(w, R, r0, r1, &g0, &g1);
	if (g0 >= g1) {
		matmul_q_rows(c, w, a, out, os, r0, r1);
		return;
	}
	tile = (uint32_t)((64u << 10) / gb);
	if (r0 < g0 * R)
		matmul_q_rows(c, w, a, out, os, r0, g0 * R);
	if (pair)	/* whole pairs: a 64 KB tile of 2048-column rows is one group */
		tile = tile < 2 ? 2 : tile & ~1u;
	if (a->n_tok == 1 || !tile)
		tile = g1 - g0;
	for (uint32_t gs = g0; gs < g1; gs += tile) {
		const uint32_t ge = g1 - gs < tile ? g1 : gs + tile;
		const uint32_t next = g1 - ge < tile ? g1 - ge : tile;
		const uint8_t *pf = (const uint8_t *)w->packed + (size_t)ge * gb;
		/*
		 * A batch reads each tile from memory once and then from L2 for every token
		 * group; without a prefetch the first group waits for memory with the
		 * multipliers idle. So every kernel call on this tile prefetches its share of
		 * the next one (none for a single token, which reads each weight once).
		 */
		const size_t pf_all = a->n_tok > 1 ? (size_t)next * gb : 0;
		const uint32_t calls = batched * (pair ? (ge - gs + 1) / 2 : ge - gs) +
				       single * (ge - gs);
		uint32_t call = 0;

		for (uint32_t t = 0; t < a->n_tok; ) {
			const uint32_t nt = t + HC_PQ_NT <= a->n_tok ? HC_PQ_NT : 1;

			for (uint32_t g = gs; g < ge; call++) {
				const uint32_t ng = pair && nt > 1 && g + 1 < ge ? 2 : 1;
				const size_t lo = (pf_all * call / calls) & ~(size_t)63;
				const size_t hi = pf_all * (call + 1) / calls;

				pq_call(c, w, a, out, os, g, ng, t, nt, pf + lo, hi - lo);
				g += ng;
			}
			t += nt;
		}
	}
	if (g1 * R < r1)
		matmul_q_rows(c, w, a, out, os, g1 * R, r1);
}

void hc_matmul_rows(const struct hc_mm_ctx *c, const struct hc_mat *w, const struct hc_act *a,
		    float *out, size_t out_stride, uint32_t r0, uint32_t r1)
{
	if (w->type == HC_WTYPE_F32)
		matmul_f32(c->k, w, a, out, out_stride, r0, r1);
	else
		matmul_q(c, w, a, out, out_stride, r0, r1);
}
