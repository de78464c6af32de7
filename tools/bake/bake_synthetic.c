// SPDX-License-Identifier: MIT
/*
 * Synthetic checkpoints: real Llama shapes with deterministic pseudo-random weights, for
 * tests and benchmarks without multi-gigabyte downloads. Every weight is a pure function
 * of (seed, tensor slot, element index) through a counter-based RNG, generated row by row,
 * so even the 8B preset needs no memory beyond the bake's row buffer.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bake.h"
#include "bake_tokfile.h"
#include "rom.h"

struct preset {
	const char *name;
	struct hc_rom_arch arch;
	int tied;
};

#define ARCH(v, d, l, h, kv, f, ctx, theta) \
	{ .vocab_size = v, .dim = d, .n_layers = l, .n_heads = h, .n_kv_heads = kv, \
	  .head_dim = (d) / (h), .ffn_dim = f, .max_ctx = ctx, .rope_theta = theta, \
	  .norm_eps = 1e-5f }

static const struct preset presets[] = {
	{ "tiny", ARCH(512, 128, 4, 4, 2, 384, 512, 10000.0f), 0 },
	{ "15M", ARCH(32000, 288, 6, 6, 6, 768, 256, 10000.0f), 1 },
	{ "110M", ARCH(32000, 768, 12, 12, 12, 2048, 1024, 10000.0f), 1 },
	{ "llama3.1-8b", ARCH(128256, 4096, 32, 32, 8, 14336, 8192, 500000.0f), 0 },
};

struct synth {
	uint64_t seed;
	uint32_t *slot;		/* per source tensor: its ROM slot (the RNG stream id) */
};

static uint64_t splitmix64(uint64_t x)
{
	x += UINT64_C(0x9E3779B97F4A7C15);
	x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
	return x ^ (x >> 31);
}

/*
 * Roughly N(0, 1): the sum of four 16-bit uniforms has variance 4/12, hence the sqrt(3).
 * Integer arithmetic up to one exact conversion, so the value is the same everywhere.
 */
static float normalish(uint64_t r)
{
	int64_t s = (int64_t)(r & 0xFFFF) + (int64_t)((r >> 16) & 0xFFFF) +
		    (int64_t)((r >> 32) & 0xFFFF) + (int64_t)(r >> 48) - 2 * 65535;

	return (float)s * (1.7320508f / 65536.0f);
}

static int synth_read(struct bake_source *src, uint32_t i, uint64_t row0, uint64_t n,
		      float *dst, char *err, size_t errlen)
{
	struct synth *s = src->priv;
	const struct bake_tensor *t = &src->tensors[i];
	const uint64_t len = t->shape[0];
	/* real inits scale by 1/sqrt(fan_in) so activations stay O(1) through the layers */
	const float scale = 1.0f / sqrtf((float)len);
	const uint64_t key = splitmix64(s->seed ^ splitmix64(s->slot[i] + 1));

	if (t->n_dims == 1) {
		for (uint64_t j = 0; j < len; j++)
			dst[j] = 1.0f;
		return 0;
	}
	for (uint64_t r = 0; r < n; r++) {
		const uint64_t base = (row0 + r) * len;

		for (uint64_t j = 0; j < len; j++)
			dst[r * len + j] = normalish(splitmix64(key + base + j)) * scale;
	}
	return 0;
}

static void synth_close(struct bake_source *src)
{
	struct synth *s;

	if (!src)
		return;
	s = src->priv;
	if (s)
		free(s->slot);
	free(s);
	hc_tok_spec_free(src->tok);
	free(src->tensors);
	free(src);
}

/* Fill @src->tensors with every tensor of @src->arch, in slot order. */
static int bake_synth_tensors(struct bake_source *src, uint32_t **slots)
{
	const struct hc_rom_arch *a = &src->arch;
	static const char *const kinds[] = {
		"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
		"ffn_norm", "ffn_gate", "ffn_up", "ffn_down",
	};
	uint32_t n = hc_rom_n_expected(a), k = 0;

	src->tensors = calloc(n, sizeof(*src->tensors));
	*slots = calloc(n, sizeof(**slots));
	if (!src->tensors || !*slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct bake_tensor *t = &src->tensors[k];
		int slot;

		if (i == 0)
			snprintf(t->name, sizeof(t->name), "token_embd.weight");
		else if (i <= 9 * a->n_layers)
			snprintf(t->name, sizeof(t->name), "blk.%u.%s.weight", (i - 1) / 9,
				 kinds[(i - 1) % 9]);
		else if (i == 9 * a->n_layers + 1)
			snprintf(t->name, sizeof(t->name), "output_norm.weight");
		else
			snprintf(t->name, sizeof(t->name), "output.weight");
		slot = hc_rom_tensor_slot(a, t->name, &t->n_dims, t->shape);
		if (slot < 0)
			return -EINVAL;
		t->type = HC_WTYPE_F32;
		(*slots)[k++] = (uint32_t)slot;
	}
	src->n_tensors = k;
	return 0;
}

int bake_open_synthetic_tok(const char *preset, uint64_t seed, const char *tokenizer_path,
			    struct bake_source **out, char *err, size_t errlen)
{
	const struct preset *p = NULL;
	struct bake_source *src;
	struct synth *s;
	char why[256];
	int ret;

	*out = NULL;
	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (strcmp(presets[i].name, preset) == 0)
			p = &presets[i];
	if (!p) {
		snprintf(err, errlen,
			 "unknown synthetic preset '%s' (tiny, 15M, 110M, llama3.1-8b)", preset);
		return -EINVAL;
	}
	src = calloc(1, sizeof(*src));
	s = calloc(1, sizeof(*s));
	if (!src || !s) {
		free(src);
		free(s);
		snprintf(err, errlen, "synthetic %s: out of memory", preset);
		return -ENOMEM;
	}
	src->priv = s;
	src->read_rows_f32 = synth_read;
	src->close = synth_close;
	s->seed = seed;
	snprintf(src->name, sizeof(src->name), "synthetic-%s", p->name);
	src->arch = p->arch;
	if (p->tied)
		src->arch.flags |= HC_ARCH_TIED_CLASSIFIER;
	if (strcmp(p->name, "llama3.1-8b") == 0) {
		src->arch.rope_scaling = HC_ROPE_LLAMA3;
		src->arch.rope_factor = 8.0f;
		src->arch.rope_low_freq_factor = 1.0f;
		src->arch.rope_high_freq_factor = 4.0f;
		src->arch.rope_orig_ctx = 8192;
	}

	if (tokenizer_path && strcmp(tokenizer_path, "builtin") != 0) {
		/* the vocabulary follows the tokenizer file */
		ret = bake_tokfile_open(tokenizer_path, 0, &src->tok, err, errlen);
		if (ret)
			goto fail;
		src->arch.vocab_size = src->tok->n_vocab;
	} else {
		ret = hc_tok_spec_builtin(src->arch.vocab_size, &src->tok, why, sizeof(why));
		if (ret) {
			snprintf(err, errlen, "synthetic %s: built-in tokenizer: %s", preset, why);
			goto fail;
		}
	}
	ret = hc_rom_check_arch(&src->arch, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "synthetic %s: %s", preset, why);
		goto fail;
	}
	ret = bake_synth_tensors(src, &s->slot);
	if (ret) {
		snprintf(err, errlen, "synthetic %s: cannot build the tensor list", preset);
		goto fail;
	}
	*out = src;
	return 0;
fail:
	synth_close(src);
	return ret;
}

int bake_open_synthetic(const char *preset, uint64_t seed, struct bake_source **out,
			char *err, size_t errlen)
{
	return bake_open_synthetic_tok(preset, seed, NULL, out, err, errlen);
}
