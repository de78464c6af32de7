// SPDX-License-Identifier: MIT
/*
 * The forward pass and sampler: bit-identical across thread counts and code paths,
 * prefill == decode steps, context isolation, error handling; sampler rules.
 * ROMs are synthetic "tiny" models baked by build/hc-bake into a temporary directory.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include "forward_util.h"
#include "hc_test.h"
#include "matmul.h"
#include "model.h"
#include "quant.h"
#include "rom.h"

static const char *const types[] = { "F32", "Q8", "Q4" };
#define N_TYPES 3
static char tmpdir[64];
static char rom_path[N_TYPES][128];
static int baked[N_TYPES];

static void bake_all(void)
{
	strcpy(tmpdir, "/tmp/hc-fwd-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		tmpdir[0] = 0;
		return;
	}
	for (int i = 0; i < N_TYPES; i++) {
		char log[160];
		char *argv[] = { "hc-bake", "--synthetic", "tiny", "--seed", "7", "--quant",
				 (char *)types[i], "-o", rom_path[i], NULL };

		snprintf(rom_path[i], sizeof(rom_path[i]), "%s/tiny-%s.rom", tmpdir, types[i]);
		snprintf(log, sizeof(log), "%s/bake-%s.log", tmpdir, types[i]);
		baked[i] = access("build/hc-bake", X_OK) == 0 && ft_bake(argv, log) == 0;
		if (!baked[i] && access("build/hc-bake", X_OK) == 0)
			ft_show_log(log);
	}
}

static void remove_all(void)
{
	ft_rmdir(tmpdir);
}

struct fx {
	struct hc_rom *rom;
	struct hc_model *m;
	struct hc_kv *kv;
	uint32_t vocab;
};

static void fx_open(struct fx *f, int type, int threads, enum hc_path path)
{
	char err[256];
	int rc = hc_rom_open(rom_path[type], &f->rom, err, sizeof(err));

	ck_assert_msg(rc == 0, "%s", err);
	rc = hc_model_new(f->rom, threads, path, &f->m, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	f->kv = hc_kv_new(f->m, 0);
	ck_assert_ptr_nonnull(f->kv);
	f->vocab = hc_model_arch(f->m)->vocab_size;
}

static void fx_close(struct fx *f)
{
	hc_kv_free(f->kv);
	hc_model_free(f->m);
	hc_rom_close(f->rom);
}

#define N_SEQ 140	/* crosses the 128-token chunk boundary (forward.c CHUNK) */
#define N_GEN 24

static int32_t seq_id(uint32_t i, uint32_t vocab)
{
	return (int32_t)((i * 2654435761u + 12345u) % vocab);
}

/* Logits after each of N_SEQ single steps, then N_GEN greedy ids. */
static float *steps(int type, int threads, enum hc_path path, int32_t *gen)
{
	struct fx f;
	float *all;

	fx_open(&f, type, threads, path);
	all = malloc((size_t)N_SEQ * f.vocab * sizeof(float));
	ck_assert_ptr_nonnull(all);
	for (uint32_t i = 0; i < N_SEQ; i++) {
		int32_t id = seq_id(i, f.vocab);

		ck_assert_int_eq(hc_forward(f.m, f.kv, &id, 1, all + (size_t)i * f.vocab), 0);
	}
	ck_assert_uint_eq(hc_kv_pos(f.kv), N_SEQ);
	if (gen) {
		float *l = malloc(f.vocab * sizeof(float));

		memcpy(l, all + (size_t)(N_SEQ - 1) * f.vocab, f.vocab * sizeof(float));
		for (int i = 0; i < N_GEN; i++) {
			gen[i] = hc_sample(l, f.vocab, &(struct hc_sampling){ 0 }, (uint64_t)i, NULL);
			ck_assert_int_eq(hc_forward(f.m, f.kv, &gen[i], 1, l), 0);
		}
		free(l);
	}
	fx_close(&f);
	return all;
}

#define NEED_ROM(t)                                                                  \
	do {                                                                         \
		if (!baked[t])                                                       \
			HC_SKIP("no %s ROM: build/hc-bake missing or failed", types[t]); \
	} while (0)

/* Same bits for the reference on 1 thread and every (threads, kernel table) below. */
START_TEST(threads_and_paths_identical)
{
	int32_t g0[N_GEN], g1[N_GEN];
	float *ref, *other;
	const struct { int threads; enum hc_path path; } cfg[] = {
		{ 1, HC_PATH_AUTO }, { 2, HC_PATH_AUTO }, { 2, HC_PATH_REFERENCE },
		{ 3, HC_PATH_AUTO }, { 1, HC_PATH_GENERIC }, { 2, HC_PATH_GENERIC },
		{ 2, HC_PATH_AVX2 },	/* where the CPU has it and AUTO picks a newer table */
	};
	struct fx f;
	int finite = 1, varied = 0;

	NEED_ROM(_i);
	fx_open(&f, _i, 1, HC_PATH_REFERENCE);
	fx_close(&f);
	ref = steps(_i, 1, HC_PATH_REFERENCE, g0);
	for (size_t k = 0; k < (size_t)N_SEQ * f.vocab; k++) {
		finite &= isfinite(ref[k]);
		varied |= ref[k] != ref[0];
	}
	ck_assert_msg(finite && varied, "%s: logits not finite or all equal", types[_i]);
	for (size_t c = 0; c < sizeof(cfg) / sizeof(cfg[0]); c++) {
		if (!hc_kernels_pick(cfg[c].path))
			continue;
		other = steps(_i, cfg[c].threads, cfg[c].path, g1);
		ck_assert_msg(memcmp(ref, other, (size_t)N_SEQ * f.vocab * sizeof(float)) == 0,
			      "%s: logits differ with %d threads, path %d", types[_i],
			      cfg[c].threads, cfg[c].path);
		ck_assert_msg(memcmp(g0, g1, sizeof(g0)) == 0, "%s: generated ids differ",
			      types[_i]);
		free(other);
	}
	free(ref);
}
END_TEST

/* Prefill of n tokens (in any split) == n single steps; also after a reset. */
START_TEST(prefill_equals_steps)
{
	const uint32_t splits[][3] = { { N_SEQ, 0, 0 }, { 5, 130, 5 }, { 1, 135, 4 },
				       { 129, 10, 1 }, { 33, 11, 96 } };
	float *ref;

	NEED_ROM(_i);
	ref = steps(_i, 1, HC_PATH_AUTO, NULL);

	for (int threads = 1; threads <= 2; threads++) {
		struct fx f;
		int32_t ids[N_SEQ];
		float *l;

		fx_open(&f, _i, threads, HC_PATH_AUTO);
		l = malloc(f.vocab * sizeof(float));
		for (uint32_t i = 0; i < N_SEQ; i++)
			ids[i] = seq_id(i, f.vocab);
		for (size_t s = 0; s < sizeof(splits) / sizeof(splits[0]); s++) {
			uint32_t done = 0;

			hc_kv_reset(f.kv);
			ck_assert_uint_eq(hc_kv_pos(f.kv), 0);
			for (int k = 0; k < 3 && splits[s][k]; k++) {
				ck_assert_int_eq(hc_forward(f.m, f.kv, ids + done, splits[s][k], l), 0);
				done += splits[s][k];
				ck_assert_msg(memcmp(l, ref + (size_t)(done - 1) * f.vocab,
						     f.vocab * sizeof(float)) == 0,
					      "%s: prefill split %zu part %d differs from steps",
					      types[_i], s, k);
			}
		}
		/* NULL logits skips the classifier but still fills the cache */
		hc_kv_reset(f.kv);
		ck_assert_int_eq(hc_forward(f.m, f.kv, ids, N_SEQ - 1, NULL), 0);
		ck_assert_int_eq(hc_forward(f.m, f.kv, ids + N_SEQ - 1, 1, l), 0);
		ck_assert(memcmp(l, ref + (size_t)(N_SEQ - 1) * f.vocab, f.vocab * 4) == 0);
		free(l);
		fx_close(&f);
	}
	free(ref);
}
END_TEST

/*
 * hc_forward_batch: 130 contexts (more than one chunk) at different positions, stepped
 * together, give each the logits of its own solo run on a separate model, step for step;
 * also on 2 threads and the reference table. Full caches and bad arguments change nothing.
 */
START_TEST(batch_equals_solo)
{
	enum { NC = 130, STEPS = 6 };
	const struct { int threads; enum hc_path path; } cfg[] = {
		{ 1, HC_PATH_AUTO }, { 2, HC_PATH_AUTO }, { 1, HC_PATH_REFERENCE },
	};
	struct fx solo, f;
	struct hc_kv *kv[NC], *skv[NC];
	int32_t tok[NC];
	float *bl, *sl;

	NEED_ROM(_i);
	fx_open(&solo, _i, 1, HC_PATH_REFERENCE);
	bl = malloc((size_t)NC * solo.vocab * sizeof(float));
	sl = malloc((size_t)solo.vocab * sizeof(float));
	for (size_t c = 0; c < sizeof(cfg) / sizeof(cfg[0]); c++) {
		fx_open(&f, _i, cfg[c].threads, cfg[c].path);
		for (uint32_t k = 0; k < NC; k++) {
			int32_t ids[8];
			const uint32_t np = k % 7;	/* 0..6 prompt tokens: different positions */

			kv[k] = hc_kv_new(f.m, 64);
			skv[k] = hc_kv_new(solo.m, 64);
			ck_assert(kv[k] && skv[k]);
			for (uint32_t i = 0; i < np; i++)
				ids[i] = seq_id(k * 8 + i, f.vocab);
			if (np) {
				ck_assert_int_eq(hc_forward(f.m, kv[k], ids, np, NULL), 0);
				ck_assert_int_eq(hc_forward(solo.m, skv[k], ids, np, NULL), 0);
			}
			tok[k] = seq_id(1000 + k, f.vocab);
		}
		for (int st = 0; st < STEPS; st++) {
			ck_assert_int_eq(hc_forward_batch(f.m, kv, tok, NC, bl), 0);
			for (uint32_t k = 0; k < NC; k++) {
				ck_assert_int_eq(hc_forward(solo.m, skv[k], &tok[k], 1, sl), 0);
				ck_assert_msg(memcmp(bl + (size_t)k * f.vocab, sl,
						     f.vocab * sizeof(float)) == 0,
					      "%s, %d threads, path %d: context %u step %d differs",
					      types[_i], cfg[c].threads, cfg[c].path, k, st);
				ck_assert_uint_eq(hc_kv_pos(kv[k]), hc_kv_pos(skv[k]));
				tok[k] = hc_sample(sl, f.vocab, &(struct hc_sampling){ 0 }, 0, NULL);
			}
		}
		/* refused as a whole: a cache given twice, a bad id, a full cache */
		{
			struct hc_kv *twice[2] = { kv[0], kv[0] }, *full = hc_kv_new(f.m, 1);
			struct hc_kv *with_full[2] = { kv[1], full };
			const uint32_t p1 = hc_kv_pos(kv[1]);
			int32_t bad[2] = { 0, (int32_t)f.vocab };

			ck_assert_int_eq(hc_forward_batch(f.m, twice, tok, 2, bl), -EINVAL);
			ck_assert_int_eq(hc_forward_batch(f.m, kv, bad, 2, bl), -EINVAL);
			ck_assert_int_eq(hc_forward(f.m, full, tok, 1, NULL), 0);
			ck_assert_int_eq(hc_forward_batch(f.m, with_full, tok, 2, bl), -ENOSPC);
			ck_assert_uint_eq(hc_kv_pos(kv[1]), p1);
			hc_kv_free(full);
		}
		for (uint32_t k = 0; k < NC; k++) {
			hc_kv_free(kv[k]);
			hc_kv_free(skv[k]);
		}
		fx_close(&f);
	}
	free(bl);
	free(sl);
	fx_close(&solo);
}
END_TEST

/*
 * hc_forward_items: contexts decoding one token and contexts prefilling chunks (one of 133
 * tokens, so items span the 128-token passes) in one call, each with its own logits buffer
 * or none, more than 32 of them wanting logits: every item has the bits of its own
 * hc_forward on the reference path. Bad calls are refused as a whole.
 */
START_TEST(items_equal_solo)
{
	enum { NC = 40, ROUNDS = 4, MAXN = 133 };
	const struct { int threads; enum hc_path path; } cfg[] = {
		{ 1, HC_PATH_AUTO }, { 2, HC_PATH_AUTO }, { 1, HC_PATH_REFERENCE },
	};
	struct fx solo, f;
	struct hc_kv *kv[NC], *skv[NC];
	struct hc_fwd_item it[NC];
	int32_t ids[NC][MAXN];
	float *il[NC], *sl;

	NEED_ROM(_i);
	fx_open(&solo, _i, 1, HC_PATH_REFERENCE);
	sl = malloc(solo.vocab * sizeof(float));
	for (uint32_t k = 0; k < NC; k++)
		il[k] = malloc(solo.vocab * sizeof(float));
	for (size_t c = 0; c < sizeof(cfg) / sizeof(cfg[0]); c++) {
		fx_open(&f, _i, cfg[c].threads, cfg[c].path);
		for (uint32_t k = 0; k < NC; k++) {
			kv[k] = hc_kv_new(f.m, 4 * MAXN);
			skv[k] = hc_kv_new(solo.m, 4 * MAXN);
			ck_assert(kv[k] && skv[k]);
		}
		for (uint32_t r = 0; r < ROUNDS; r++) {
			for (uint32_t k = 0; k < NC; k++) {
				/* mostly single tokens; a few chunks, one long; some without logits */
				const uint32_t sel = (k * 7 + r * 3) % 13;
				const uint32_t n = k == r * 11 ? MAXN : sel < 3 ? 2 + (k + r) % 9 : 1;

				for (uint32_t t = 0; t < n; t++)
					ids[k][t] = seq_id(r * 100000 + k * 1000 + t, f.vocab);
				it[k] = (struct hc_fwd_item){ kv[k], ids[k], n,
							      (k + r) % 5 == 4 ? NULL : il[k] };
			}
			ck_assert_int_eq(hc_forward_items(f.m, it, NC), 0);
			for (uint32_t k = 0; k < NC; k++) {
				ck_assert_int_eq(hc_forward(solo.m, skv[k], ids[k], it[k].n,
							    it[k].logits ? sl : NULL), 0);
				ck_assert_uint_eq(hc_kv_pos(kv[k]), hc_kv_pos(skv[k]));
				ck_assert_msg(!it[k].logits ||
					      !memcmp(il[k], sl, f.vocab * sizeof(float)),
					      "%s, %d threads, path %d: item %u (%u tokens) round %u "
					      "differs", types[_i], cfg[c].threads, cfg[c].path, k,
					      it[k].n, r);
			}
		}
		/* refused as a whole, nothing run: empty, twice, bad id, overflow */
		{
			struct hc_kv *full = hc_kv_new(f.m, 1);
			const uint32_t p0 = hc_kv_pos(kv[0]);
			int32_t bad = (int32_t)f.vocab;
			struct hc_fwd_item two[2] = { { kv[0], ids[0], 1, il[0] } };

			two[1] = (struct hc_fwd_item){ kv[1], ids[1], 0, NULL };
			ck_assert_int_eq(hc_forward_items(f.m, two, 2), -EINVAL);
			two[1] = (struct hc_fwd_item){ kv[0], ids[1], 1, NULL };
			ck_assert_int_eq(hc_forward_items(f.m, two, 2), -EINVAL);
			two[1] = (struct hc_fwd_item){ kv[1], &bad, 1, NULL };
			ck_assert_int_eq(hc_forward_items(f.m, two, 2), -EINVAL);
			two[1] = (struct hc_fwd_item){ full, ids[1], 2, NULL };
			ck_assert_int_eq(hc_forward_items(f.m, two, 2), -ENOSPC);
			ck_assert_uint_eq(hc_kv_pos(kv[0]), p0);
			ck_assert_uint_eq(hc_kv_pos(full), 0);
			ck_assert_int_eq(hc_forward_items(f.m, NULL, 0), 0);
			hc_kv_free(full);
		}
		for (uint32_t k = 0; k < NC; k++) {
			hc_kv_free(kv[k]);
			hc_kv_free(skv[k]);
		}
		fx_close(&f);
	}
	for (uint32_t k = 0; k < NC; k++)
		free(il[k]);
	free(sl);
	fx_close(&solo);
}
END_TEST

/* Two contexts on one model do not see each other's positions. */
START_TEST(contexts_isolated)
{
	struct fx f;
	struct hc_kv *kv2;
	float *l1, *l2, *ref;

	NEED_ROM(_i);
	ref = steps(_i, 2, HC_PATH_AUTO, NULL);

	fx_open(&f, _i, 2, HC_PATH_AUTO);
	kv2 = hc_kv_new(f.m, N_SEQ + 3);
	ck_assert_ptr_nonnull(kv2);
	ck_assert_uint_eq(hc_kv_capacity(kv2), N_SEQ + 3);
	l1 = malloc(f.vocab * sizeof(float));
	l2 = malloc(f.vocab * sizeof(float));
	for (uint32_t i = 0; i < N_SEQ; i++) {
		int32_t a = seq_id(i, f.vocab), b = (int32_t)((i * 7 + 3) % f.vocab);

		ck_assert_int_eq(hc_forward(f.m, f.kv, &a, 1, l1), 0);
		ck_assert_int_eq(hc_forward(f.m, kv2, &b, 1, l2), 0);
		ck_assert(memcmp(l1, ref + (size_t)i * f.vocab, f.vocab * sizeof(float)) == 0);
	}
	ck_assert(memcmp(l1, l2, f.vocab * sizeof(float)) != 0);
	free(l1);
	free(l2);
	hc_kv_free(kv2);
	fx_close(&f);
	free(ref);
}
END_TEST

START_TEST(errors_leave_state_unchanged)
{
	struct fx f;
	struct hc_kv *small;
	int32_t ids[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, bad[2] = { 1, 0 };
	float *l;

	NEED_ROM(0);
	fx_open(&f, 0, 1, HC_PATH_AUTO);
	l = malloc(f.vocab * sizeof(float));
	small = hc_kv_new(f.m, 5);
	ck_assert_ptr_nonnull(small);
	ck_assert_int_eq(hc_forward(f.m, small, ids, 6, l), -ENOSPC);
	ck_assert_uint_eq(hc_kv_pos(small), 0);
	ck_assert_int_eq(hc_forward(f.m, small, ids, 5, l), 0);
	ck_assert_int_eq(hc_forward(f.m, small, ids, 1, l), -ENOSPC);
	ck_assert_uint_eq(hc_kv_pos(small), 5);
	bad[1] = (int32_t)f.vocab;
	ck_assert_int_eq(hc_forward(f.m, f.kv, bad, 2, l), -EINVAL);
	bad[1] = -1;
	ck_assert_int_eq(hc_forward(f.m, f.kv, bad, 2, l), -EINVAL);
	ck_assert_uint_eq(hc_kv_pos(f.kv), 0);
	ck_assert_int_eq(hc_forward(f.m, f.kv, ids, 0, l), 0);
	/* a cache belongs to the model it was made for */
	{
		struct hc_model *m2;
		char err[128];

		ck_assert_int_eq(hc_model_new(f.rom, 1, HC_PATH_AUTO, &m2, err, sizeof(err)), 0);
		ck_assert_int_eq(hc_forward(m2, f.kv, ids, 1, l), -EINVAL);
		hc_model_free(m2);
		ck_assert_int_eq(hc_model_new(f.rom, 0, HC_PATH_AUTO, &m2, err, sizeof(err)),
				 -EINVAL);
		ck_assert_ptr_null(m2);
	}
	hc_kv_free(small);
	free(l);
	fx_close(&f);
}
END_TEST

/* Quantized models approximate the F32 one (a broken kernel would be far off). */
START_TEST(quantized_close_to_f32)
{
	float *f32, *q;
	double num = 0, den = 0;

	NEED_ROM(0);
	NEED_ROM(_i);
	f32 = steps(0, 1, HC_PATH_AUTO, NULL);
	q = steps(_i, 1, HC_PATH_AUTO, NULL);
	for (size_t k = 0; k < (size_t)N_SEQ * 512; k++) {
		num += (double)(q[k] - f32[k]) * (q[k] - f32[k]);
		den += (double)f32[k] * f32[k];
	}
	printf("%s vs f32: relative RMS logit error %.4f\n", types[_i], sqrt(num / den));
	ck_assert_msg(sqrt(num / den) < (_i == 1 ? 0.06 : 0.6), "%s: error %.4f", types[_i],
		      sqrt(num / den));
	free(f32);
	free(q);
}
END_TEST

/* ---- matmul kernels against the contract, written out independently ---- */

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

static float rndf(void)
{
	return ((float)(rnd() >> 8) / 16777216.0f - 0.5f) * 2.0f;
}

/* Every kernel table a contract test checks (hc_kernels_pick is NULL for one the CPU lacks) */
static const enum hc_path all_paths[4] = { HC_PATH_REFERENCE, HC_PATH_GENERIC, HC_PATH_AVX2,
					   HC_PATH_AUTO };

START_TEST(matmul_kernels_follow_contract)
{
	/* 10 blocks: groups of 8 + tail; 21 tokens: F32 batches as a pair of groups of 8 and
	 * one group of 5, quantized ones as 5 groups of 4 and one alone */
	enum { COLS = 320, ROWS = 69, TOK = 21 };
	static float w[ROWS * COLS], x[TOK * COLS], want[TOK * ROWS], got[TOK * ROWS];
	static float xt[24 * COLS];
	static struct hc_block_q8_0 wq8[ROWS * COLS / 32], xq[TOK * COLS / 32];
	static int32_t xsum[TOK * COLS / 32];
	static struct hc_block_q4_0 wq4[ROWS * COLS / 32];
	static float fp16[65536];
	const uint32_t nb = COLS / 32;
	int packed_seen = 0;

	for (uint32_t i = 0; i < 65536; i++)
		fp16[i] = hc_fp16_to_f32((uint16_t)i);
	for (int i = 0; i < ROWS * COLS; i++)
		w[i] = rndf();
	for (int i = 0; i < TOK * COLS; i++)
		x[i] = rndf() * 3.0f;
	w[5] = -1.0f;	/* row 0 block 0: make a -128 after scaling (see below) */
	for (int r = 0; r < ROWS; r++) {
		hc_quantize_row_q8_0(w + r * COLS, wq8 + r * nb, COLS);
		hc_quantize_row_q4_0(w + r * COLS, wq4 + r * nb, COLS);
	}
	wq8[0].qs[5] = -128;	/* legal in a block; the SIMD path must not saturate */
	for (int t = 0; t < TOK; t++)
		hc_quantize_row_q8_0(x + t * COLS, xq + t * nb, COLS);
	hc_act_sums(xq, (size_t)TOK * nb, xsum);

	for (int type = 0; type < 3; type++) {
		/* F32 rows are 314 long (not a multiple of 8) in a 320-float stride */
		const uint32_t cols = type == 0 ? COLS - 6 : COLS;
		struct hc_mat m = { .cols = cols, .rows = ROWS };
		struct hc_act a = { .x = x, .x_stride = COLS, .xq = xq, .xsum = xsum,
				    .n_tok = TOK };

		m.type = type == 0 ? HC_WTYPE_F32 : type == 1 ? HC_WTYPE_Q8_0 : HC_WTYPE_Q4_0;
		m.data = type == 0 ? (void *)w : type == 1 ? (void *)wq8 : (void *)wq4;
		m.row_bytes = hc_row_size(m.type, COLS);
		for (int t = 0; t < TOK; t++) {
			for (int r = 0; r < ROWS; r++) {
				float acc = 0.0f;

				for (uint32_t b = 0; b < nb && type; b++) {
					const struct hc_block_q8_0 *xb = &xq[t * nb + b];
					int32_t s = 0;
					float d;

					for (int j = 0; j < 32; j++) {
						int wv;

						if (type == 1) {
							wv = wq8[r * nb + b].qs[j];
						} else {
							uint8_t byte = wq4[r * nb + b].qs[j % 16];

							wv = (j < 16 ? byte & 15 : byte >> 4) - 8;
						}
						s += wv * xb->qs[j];
					}
					d = fp16[type == 1 ? wq8[r * nb + b].d : wq4[r * nb + b].d];
					acc += (float)s * (d * fp16[xb->d]);
				}
				for (uint32_t j = 0; j < cols && !type; j++)
					acc += w[r * COLS + j] * x[t * COLS + j];
				want[t * ROWS + r] = acc;
			}
		}
		/* every kernel table, F32 batches also transposed (xt) */
		for (int k = 0; k < 8; k++) {
			struct hc_mm_ctx c = { .fp16 = fp16, .k = hc_kernels_pick(all_paths[k % 4]) };

			if (!c.k)	/* no such table on this CPU */
				continue;

			a.xt = NULL;
			if (k >= 4 && hc_mm_wants_xt(&c)) {
				hc_act_transpose(&a, cols, xt);
				a.xt = xt;
			}
			/* rows also packed where the table has kernels for it (groups of 8
			 * quantized rows, 32 F32 rows): all in one call, then odd splits
			 * (partial groups) */
			m.packed = NULL;
			ck_assert_int_eq(hc_mm_pack(&c, &m), 0);
			for (int split = 0; split < 3; split++) {
				memset(got, 0, sizeof(got));
				if (split == 1) {
					/* odd split points: rows are independent */
					hc_matmul_rows(&c, &m, &a, got, ROWS, 0, 3);
					hc_matmul_rows(&c, &m, &a, got, ROWS, 3, 20);
					hc_matmul_rows(&c, &m, &a, got, ROWS, 20, 65);
					hc_matmul_rows(&c, &m, &a, got, ROWS, 65, ROWS);
				} else if (split == 2) {
					/* an odd number of whole groups of 16: a pair, then one */
					hc_matmul_rows(&c, &m, &a, got, ROWS, 0, 48);
					hc_matmul_rows(&c, &m, &a, got, ROWS, 48, ROWS);
				} else {
					hc_matmul_rows(&c, &m, &a, got, ROWS, 0, ROWS);
				}
				ck_assert_msg(memcmp(got, want, sizeof(got)) == 0,
					      "type %d, %s kernels%s%s, %s differ from the contract",
					      type, hc_mm_kernels_name(&c),
					      a.xt ? " (transposed)" : "", m.packed ? " (packed)" : "",
					      split ? "split" : "one call");
			}
			packed_seen += m.packed != NULL;
			free((void *)m.packed);
		}
	}
	{
		const struct hc_mm_ctx auto_c = { .k = hc_kernels_pick(HC_PATH_AUTO) };

		printf("matmul_kernels_follow_contract: %d packed runs on this CPU "
		       "(auto: %s)\n", packed_seen, hc_mm_kernels_name(&auto_c));
		/* an x86 table packs all three types (twice each: plain and transposed) */
		if (hc_kernels_pick(HC_PATH_AVX2))
			ck_assert_int_ge(packed_seen, 6);
	}
}
END_TEST

/* Activation quantization: every table gives hc_quantize_row_q8_0's bits, halves included. */
START_TEST(quantize_kernels_follow_contract)
{
	enum { NB = 9 };
	static float x[NB * 32];
	static struct hc_block_q8_0 want[NB], got[NB];

	for (int i = 0; i < NB * 32; i++)
		x[i] = rndf() * 7.0f;
	/* block 1: amax 127, so d = 1 and x * id = x: exact halves round away from zero */
	for (int j = 0; j < 32; j++)
		x[32 + j] = (float)(j - 16) + (j % 2 ? 0.5f : -0.5f);
	x[32] = 127.0f;
	x[33] = -126.5f;
	for (int j = 0; j < 32; j++)	/* block 2: zeros, one negative */
		x[64 + j] = j == 3 ? -0.0f : 0.0f;
	x[96 + 7] = NAN;		/* block 3: a NaN; block 4: an infinity */
	x[128 + 30] = -INFINITY;
	x[160 + 5] = 1e-40f;		/* block 5: a denormal maximum */
	for (int j = 0; j < 32; j++)
		if (j != 5)
			x[160 + j] = 0.0f;
	hc_quantize_row_q8_0(x, want, NB * 32);
	for (int c = 0; c < 4; c++) {
		const struct hc_mm_ctx mc = { .k = hc_kernels_pick(all_paths[c]) };

		if (!mc.k)
			continue;
		memset(got, 0x55, sizeof(got));
		hc_act_quantize(&mc, x, got, NB);
		for (int b = 0; b < NB; b++)
			ck_assert_msg(memcmp(&got[b], &want[b], sizeof(want[b])) == 0,
				      "%s: block %d quantized differently", hc_mm_kernels_name(&mc), b);
	}
}
END_TEST

/* Attention's scores against keys transposed in blocks of 8: every table, the definition. */
START_TEST(scores_kernels_follow_contract)
{
	/* 101 positions = eight blocks at once, then five (the last with 5); 20 = three, 3 =
	 * one; blocks 8 * 70 apart */
	enum { N = 101, LEN = 67, LD = 8 * 70 };
	static float q[LEN], k[13 * LD], want[N], got[N + 8];
	const uint32_t ns[] = { N, 20, 3 };

	for (int i = 0; i < LEN; i++)
		q[i] = rndf();
	for (int i = 0; i < 13 * LD; i++)
		k[i] = rndf() * 5.0f;
	for (int p = 0; p < N; p++) {
		float acc = 0.0f;

		for (int i = 0; i < LEN; i++)
			acc += q[i] * k[p / 8 * LD + i * 8 + p % 8];
		want[p] = acc;
	}
	for (int c = 0; c < 4 * 3; c++) {
		const struct hc_mm_ctx mc = { .k = hc_kernels_pick(all_paths[c % 4]) };
		const uint32_t n = ns[c / 4];

		if (!mc.k)
			continue;
		memset(got, 0x7f, sizeof(got));
		hc_scores_rows(&mc, q, k, LD, n, LEN, got);
		ck_assert_msg(memcmp(got, want, n * sizeof(float)) == 0,
			      "%s attention scores of %u positions differ from the contract",
			      hc_mm_kernels_name(&mc), n);
		/* nothing written past the last position */
		for (uint32_t p = n; p < N + 8; p++)
			ck_assert_msg(memcmp(&got[p], &(uint32_t){ 0x7f7f7f7f }, 4) == 0,
				      "%s wrote score %u of %u", hc_mm_kernels_name(&mc), p, n);
	}
}
END_TEST

/* Attention's weighted sum of values: every table against the definition written out. */
START_TEST(wsum_kernels_follow_contract)
{
	/* 109 = 64 + 32 + 8 and 5 left over; rows 112 floats apart */
	enum { N = 13, LEN = 109, LD = 112 };
	static float a[N], v[N * LD], want[LEN], got[LEN];

	for (int p = 0; p < N; p++)
		a[p] = rndf();
	for (int i = 0; i < N * LD; i++)
		v[i] = rndf() * 5.0f;
	for (int i = 0; i < LEN; i++) {
		float acc = 0.0f;

		for (int p = 0; p < N; p++)
			acc += a[p] * v[p * LD + i];
		want[i] = acc;
	}
	for (int k = 0; k < 4; k++) {
		const struct hc_mm_ctx c = { .k = hc_kernels_pick(all_paths[k]) };

		if (!c.k)
			continue;
		memset(got, 0xff, sizeof(got));
		hc_wsum_rows(&c, a, v, LD, N, LEN, got);
		ck_assert_msg(memcmp(got, want, sizeof(got)) == 0,
			      "%s weighted sum differs from the contract", hc_mm_kernels_name(&c));
	}
}
END_TEST

/* ---- sampler ---- */

static void fill_logits(float *l, uint32_t n, uint32_t salt)
{
	for (uint32_t i = 0; i < n; i++)
		l[i] = (float)((i * 2654435761u + salt) % 1000) / 100.0f;
}

START_TEST(sample_greedy_ties_lowest_id)
{
	float l[8] = { 0.5f, 2.0f, -1.0f, 2.0f, 1.0f, 2.0f, NAN, 0.0f };
	struct hc_sampling g = { 0 };

	ck_assert_int_eq(hc_sample(l, 8, &g, 0, NULL), 1);
	l[1] = 1.5f;
	ck_assert_int_eq(hc_sample(l, 8, &g, 0, NULL), 3);
}
END_TEST

/*
 * Sampling parameters a client may send, on logits a model may give, that leave no nucleus
 * or no finite z: each draws the greedy token, never an index outside the vocabulary.
 *  - top_p below 1 / vocab on a flat distribution: the top token is the whole nucleus,
 *    though its p is below the candidates' cutoff (it read scratch[-1] before);
 *  - a temperature so small, or logits so large, that logit / T overflows (NaN p before);
 *  - no logit but NaN and -inf.
 */
START_TEST(sample_degenerate_is_greedy)
{
	enum { V = 64 };
	struct hc_prob_index scratch[V];
	float flat[V], big[V], dead[V];

	for (uint32_t i = 0; i < V; i++) {
		flat[i] = 1.0f;
		big[i] = i == 54 ? 3e38f : i == 10 ? 2.9e38f : -3e38f;
		dead[i] = i % 2 ? NAN : -INFINITY;
	}
	for (uint64_t step = 0; step < 50; step++) {
		const struct hc_sampling tiny_p = { .temperature = 1.0f, .top_p = 1e-4f,
						    .seed = step };
		const struct hc_sampling tiny_t = { .temperature = 1e-40f, .top_p = 0.9f,
						    .seed = step };
		const struct hc_sampling plain = { .temperature = 0.5f, .seed = step };
		const struct hc_sampling topk = { .temperature = 0.5f, .top_k = 8, .seed = step };

		ck_assert_int_eq(hc_sample(flat, V, &tiny_p, step, scratch), 0);
		ck_assert_int_eq(hc_sample(flat, V, &tiny_t, step, scratch), 0);
		ck_assert_int_eq(hc_sample(big, V, &plain, step, scratch), 54);
		ck_assert_int_eq(hc_sample(big, V, &tiny_p, step, scratch), 54);
		ck_assert_int_eq(hc_sample(big, V, &topk, step, scratch), 54);
		ck_assert_int_eq(hc_sample(dead, V, &plain, step, scratch), 0);
		ck_assert_int_eq(hc_sample(dead, V, &tiny_t, step, scratch), 0);
	}
}
END_TEST

/* Greedy is the first index of the maximum, as one scan with "x > best" finds it, NaN never
 * winning: checked on lengths around the vector width with ties, signed zeros, infinities
 * and NaN in every lane. */
START_TEST(sample_greedy_matches_scan)
{
	static const float pool[] = { 0.0f, -0.0f, 1.0f, 1.0f, -1.0f, 2.5f, INFINITY, -INFINITY,
				      NAN, NAN, -NAN, 2.5f };
	const struct hc_sampling g = { 0 };
	float l[67];

	for (uint32_t n = 1; n <= 67; n++) {
		for (int round = 0; round < 200; round++) {
			int32_t want = -1;

			for (uint32_t i = 0; i < n; i++)
				l[i] = pool[rnd() % (sizeof(pool) / sizeof(pool[0]))];
			if (round % 3 == 0)	/* mostly one value: ties and all-NaN rows */
				for (uint32_t i = 0; i < n; i++)
					l[i] = rnd() % 4 ? l[0] : l[i];
			for (uint32_t i = 0; i < n; i++)
				if (!isnan(l[i]) && (want < 0 || l[i] > l[want]))
					want = (int32_t)i;
			ck_assert_int_eq(hc_sample(l, n, &g, 0, NULL), (want < 0 ? 0 : want));
		}
	}
}
END_TEST

/* Sampling reads the logits and leaves them as they were; a NaN logit is never drawn. */
START_TEST(sample_leaves_logits_and_skips_nan)
{
	enum { V = 100 };
	float l[V], copy[V];
	struct hc_prob_index scratch[V];
	const struct hc_sampling s[] = {
		{ .temperature = 1.5f, .seed = 3 },
		{ .temperature = 1.0f, .top_k = 10, .seed = 4 },
		{ .temperature = 0.8f, .top_p = 0.9f, .seed = 5 },
	};

	fill_logits(l, V, 7);
	for (uint32_t i = 0; i < V; i += 3)
		l[i] = NAN;
	memcpy(copy, l, sizeof(l));
	for (size_t k = 0; k < sizeof(s) / sizeof(s[0]); k++) {
		for (uint64_t step = 0; step < 200; step++) {
			const int32_t t = hc_sample(l, V, &s[k], step, scratch);

			ck_assert_int_ge(t, 0);
			ck_assert_int_lt(t, V);
			ck_assert_msg(!isnan(l[t]), "params %zu step %llu drew NaN logit %d", k,
				      (unsigned long long)step, t);
		}
		ck_assert_msg(memcmp(l, copy, sizeof(l)) == 0, "params %zu changed the logits", k);
	}
}
END_TEST

START_TEST(sample_deterministic_and_seeded)
{
	enum { V = 300, STEPS = 64 };
	static struct hc_prob_index scratch[V];
	const struct hc_sampling cfgs[] = {
		{ .temperature = 1.0f, .seed = 1 },
		{ .temperature = 0.8f, .top_k = 40, .seed = 1 },
		{ .temperature = 1.2f, .top_p = 0.9f, .seed = 1 },
		{ .temperature = 0.7f, .top_p = 0.95f, .top_k = 50, .seed = 1 },
	};

	for (size_t c = 0; c < sizeof(cfgs) / sizeof(cfgs[0]); c++) {
		int32_t a[STEPS], b[STEPS], d[STEPS];
		int differ = 0;

		for (int run = 0; run < 3; run++) {
			struct hc_sampling s = cfgs[c];
			int32_t *out = run == 0 ? a : run == 1 ? b : d;

			if (run == 2)
				s.seed = 2;
			for (int i = 0; i < STEPS; i++) {
				float l[V];

				fill_logits(l, V, 17);
				out[i] = hc_sample(l, V, &s, (uint64_t)i, scratch);
				ck_assert(out[i] >= 0 && out[i] < V);
			}
		}
		ck_assert_msg(memcmp(a, b, sizeof(a)) == 0, "config %zu not deterministic", c);
		for (int i = 0; i < STEPS; i++)
			differ |= a[i] != d[i];
		ck_assert_msg(differ, "config %zu: seeds 1 and 2 gave the same %d tokens", c, STEPS);
	}
}
END_TEST

START_TEST(sample_topk1_and_tiny_topp_are_greedy)
{
	enum { V = 1000 };
	static struct hc_prob_index scratch[V];

	for (uint32_t salt = 0; salt < 50; salt++) {
		float l[V], l2[V];
		int32_t g;

		fill_logits(l, V, salt);
		l[salt * 7] = l[salt * 13] = 12.0f;	/* a tie: the lower id must win */
		memcpy(l2, l, sizeof(l));
		g = hc_sample(l2, V, &(struct hc_sampling){ 0 }, 0, NULL);
		ck_assert_int_eq(g, (int32_t)(salt * 7 < salt * 13 ? salt * 7 : salt * 13));
		for (uint64_t step = 0; step < 4; step++) {
			struct hc_sampling k1 = { .temperature = 1.5f, .top_k = 1, .seed = salt };
			struct hc_sampling p0 = { .temperature = 1.5f, .top_p = 1e-6f, .seed = salt };

			memcpy(l2, l, sizeof(l));
			ck_assert_int_eq(hc_sample(l2, V, &k1, step, scratch), g);
			memcpy(l2, l, sizeof(l));
			ck_assert_int_eq(hc_sample(l2, V, &p0, step, scratch), g);
		}
	}
}
END_TEST

/* top-k only ever returns the k best; the frequencies follow the probabilities. */
START_TEST(sample_topk_topp_sets_and_frequencies)
{
	enum { V = 6, DRAWS = 20000 };
	struct hc_prob_index scratch[V];
	const float logits[V] = { 1.0f, 3.0f, 0.0f, 2.0f, 2.5f, -1.0f };
	double p[V], sum = 0;
	int count[V] = { 0 };

	for (int i = 0; i < V; i++)
		sum += p[i] = exp(logits[i]);
	for (uint64_t step = 0; step < DRAWS; step++) {
		float l[V];
		int32_t id;

		memcpy(l, logits, sizeof(l));
		id = hc_sample(l, V, &(struct hc_sampling){ .temperature = 1.0f, .seed = 9 }, step,
			       scratch);
		count[id]++;
		memcpy(l, logits, sizeof(l));
		id = hc_sample(l, V, &(struct hc_sampling){ .temperature = 1.0f, .top_k = 2,
							   .seed = 9 }, step, scratch);
		ck_assert(id == 1 || id == 4);
		/* probabilities 0.45 0.27 0.17 ...: top_p 0.6 keeps ids 1 and 4 */
		memcpy(l, logits, sizeof(l));
		id = hc_sample(l, V, &(struct hc_sampling){ .temperature = 1.0f, .top_p = 0.6f,
							   .seed = 9 }, step, scratch);
		ck_assert(id == 1 || id == 4);
	}
	for (int i = 0; i < V; i++)
		ck_assert_msg(fabs(count[i] / (double)DRAWS - p[i] / sum) < 0.01,
			      "id %d drawn %d times, p %.3f", i, count[i], p[i] / sum);
}
END_TEST

/* top-k picks exactly the k best (ties: lower id) out of a large vocabulary. */
START_TEST(sample_topk_exact_set)
{
	enum { V = 5000, K = 5 };
	static struct hc_prob_index scratch[V];
	static float l[V], l2[V];
	int32_t best[K];
	int seen[K] = { 0 };

	for (uint32_t i = 0; i < V; i++)
		l[i] = (float)((i * 7919u) % 1013u);	/* many equal values */
	/* brute force: K times the first maximum not taken yet */
	for (int k = 0; k < K; k++) {
		best[k] = -1;
		for (int32_t i = 0; i < V; i++) {
			int taken = 0;

			for (int q = 0; q < k; q++)
				taken |= best[q] == i;
			if (!taken && (best[k] < 0 || l[i] > l[best[k]]))
				best[k] = i;
		}
	}
	for (uint64_t step = 0; step < 400; step++) {
		int32_t id;
		int k;

		memcpy(l2, l, sizeof(l));
		id = hc_sample(l2, V, &(struct hc_sampling){ .temperature = 1e4f, .top_k = K,
							    .seed = 5 }, step, scratch);
		for (k = 0; k < K && best[k] != id; k++)
			;
		ck_assert_msg(k < K, "step %llu: id %d is not among the top %d",
			      (unsigned long long)step, id, K);
		seen[k]++;
	}
	for (int k = 0; k < K; k++)
		ck_assert_msg(seen[k] > 0, "top-%d id %d never drawn", k, best[k]);
}
END_TEST

static Suite *forward_suite(void)
{
	Suite *s = suite_create("forward");
	TCase *tc = hc_tcase(s, "model", 300);
	TCase *ts = hc_tcase(s, "sample", 60);

	tcase_add_unchecked_fixture(tc, bake_all, remove_all);
	tcase_add_loop_test(tc, threads_and_paths_identical, 0, N_TYPES);
	tcase_add_loop_test(tc, prefill_equals_steps, 0, N_TYPES);
	tcase_add_loop_test(tc, contexts_isolated, 0, N_TYPES);
	tcase_add_loop_test(tc, batch_equals_solo, 0, N_TYPES);
	tcase_add_loop_test(tc, items_equal_solo, 0, N_TYPES);
	tcase_add_test(tc, errors_leave_state_unchanged);
	tcase_add_loop_test(tc, quantized_close_to_f32, 1, N_TYPES);
	tcase_add_test(tc, matmul_kernels_follow_contract);
	tcase_add_test(tc, wsum_kernels_follow_contract);
	tcase_add_test(tc, scores_kernels_follow_contract);
	tcase_add_test(tc, quantize_kernels_follow_contract);
	tcase_add_test(ts, sample_greedy_ties_lowest_id);
	tcase_add_test(ts, sample_greedy_matches_scan);
	tcase_add_test(ts, sample_degenerate_is_greedy);
	tcase_add_test(ts, sample_leaves_logits_and_skips_nan);
	tcase_add_test(ts, sample_deterministic_and_seeded);
	tcase_add_test(ts, sample_topk1_and_tiny_topp_are_greedy);
	tcase_add_test(ts, sample_topk_topp_sets_and_frequencies);
	tcase_add_test(ts, sample_topk_exact_set);
	return s;
}

HC_TEST_MAIN(forward_suite)
