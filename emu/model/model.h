/* SPDX-License-Identifier: MIT */
/*
 * The exact forward pass of a baked Llama model (docs/numerics.md) and on-card sampling.
 * Results are bit-identical across runs, thread counts and code paths.
 */
#ifndef HC_EMU_MODEL_H
#define HC_EMU_MODEL_H

#include <stdint.h>
#include "rom.h"

struct hc_model;	/* weights bound from a ROM, plus a worker pool; shared by contexts */
struct hc_kv;		/* one context's KV cache (a "KV slot") */

enum hc_path {
	HC_PATH_AUTO = 0,	/* fastest path available; identical bits to the reference */
	HC_PATH_REFERENCE = 1,	/* plain C, obviously right */
	HC_PATH_GENERIC = 2,	/* the portable fast kernels, as on a CPU without SIMD tables */
	HC_PATH_AVX2 = 3,	/* x86-64: the AVX2 table where AUTO picks a newer one (tests,
				 * benchmarks); -EINVAL on a CPU without AVX2 */
};

/* Bind @rom (which must outlive the model). @n_threads >= 1. Negative errno on error.
 * Calls on one model (any of its caches) are serialised internally. */
/* "auto", "avx2", "generic", "reference": the command lines' names of the paths */
const char *hc_path_name(enum hc_path path);
/* The path called @name in *@path: 0, or -EINVAL for no such name */
int hc_path_from_name(const char *name, enum hc_path *path);

/* The default thread count: the CPUs this process may run on (its affinity), 1 to 256 */
int hc_model_default_threads(void);

int hc_model_new(const struct hc_rom *rom, int n_threads, enum hc_path path,
		 struct hc_model **out, char *err, size_t errlen);
void hc_model_free(struct hc_model *m);
const struct hc_rom_arch *hc_model_arch(const struct hc_model *m);
/* The kernel table the model runs ("avx512vnni", "avx2", "generic", "reference") */
const char *hc_model_kernels(const struct hc_model *m);

/* A KV cache for up to @max_ctx positions (0 or more than the ROM's max_ctx: the ROM's
 * max_ctx). Memory is touched only as positions fill. NULL on ENOMEM. */
struct hc_kv *hc_kv_new(struct hc_model *m, uint32_t max_ctx);
void hc_kv_free(struct hc_kv *kv);
void hc_kv_reset(struct hc_kv *kv);		/* forget all positions */
uint32_t hc_kv_pos(const struct hc_kv *kv);	/* positions filled so far */
uint32_t hc_kv_capacity(const struct hc_kv *kv);

/*
 * Run @n tokens at the next positions of @kv (prefill when n > 1, decode when n == 1) and
 * write the vocab_size logits of the last one to @logits (may be NULL to skip the
 * classifier). -ENOSPC if the context would overflow, -EINVAL for an id out of range.
 */
int hc_forward(struct hc_model *m, struct hc_kv *kv, const int32_t *tokens, uint32_t n,
	       float *logits);

/*
 * One decode step of @n contexts at once: token @tokens[i] at the next position of @kvs[i]
 * (distinct caches of @m), its logits at @logits + i * vocab_size. Each context gets the
 * bits hc_forward(m, kvs[i], &tokens[i], 1, ...) would give it; the weights are read once
 * for all of them. -ENOSPC (nothing run) if a cache is full, -EINVAL for a bad id, a cache
 * of another model or one given twice.
 */
int hc_forward_batch(struct hc_model *m, struct hc_kv *const *kvs, const int32_t *tokens,
		     uint32_t n, float *logits);

/* One context's part of a forward pass (hc_forward_items) */
struct hc_fwd_item {
	struct hc_kv *kv;
	const int32_t *tokens;	/* run at the next positions of kv */
	uint32_t n;		/* >= 1 */
	float *logits;		/* the last token's vocab_size logits, or NULL */
};

/*
 * Several contexts in one pass, each with one token or more: a decode step of many streams
 * with prompt chunks riding along. Item i gets the bits of hc_forward(m, kv, tokens, n,
 * logits); the weights are read once per 128 tokens of all items together. -ENOSPC
 * (nothing run) if an item would overflow its cache; -EINVAL for a bad id, an empty item, a
 * cache of another model or one given twice; -ENOMEM.
 */
int hc_forward_items(struct hc_model *m, const struct hc_fwd_item *items, uint32_t n);

/* Sampling parameters: temperature 0 means greedy (lowest id wins ties). */
struct hc_sampling {
	float    temperature;
	float    top_p;		/* 0 or >= 1: off */
	uint32_t top_k;		/* 0: off */
	uint32_t pad;
	uint64_t seed;
};

/*
 * Pick the next token from @logits (not modified; a NaN logit counts as -inf). @step is the index of the token
 * being generated: the random draw is a pure function of (seed, step), a counter-based
 * RNG, so the same inputs always give the same token. @scratch holds vocab_size entries
 * of struct hc_prob_index (or is NULL for greedy).
 */
struct hc_prob_index {
	float p;
	int32_t id;
};
int32_t hc_sample(const float *logits, uint32_t vocab_size, const struct hc_sampling *s,
		  uint64_t step, struct hc_prob_index *scratch);

#endif
