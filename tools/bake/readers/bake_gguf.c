// SPDX-License-Identifier: MIT
/*
 * hc-bake reader for llama.cpp GGUF files (architecture "llama"): model shape from the
 * llama.* keys, Llama 3.1 RoPE scaling from the rope_freqs.weight tensor, tokenizer
 * from tokenizer.ggml.*, tensors streamed with pread (docs/checkpoint-formats.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bake.h"
#include "bake_io.h"
#include "gguf.h"
#include "rom.h"

struct gguf_src {
	struct gguf_file *g;
	char *path;
	uint32_t *tidx;		/* bake tensor i -> g->tensors index */
};

/* GPT-2's pre-tokenizer split, for tokenizer.ggml.pre "default" / "gpt2". */
static const char gpt2_regex[] =
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static const char *const capture_keys[] = {
	"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
	"tokenizer.ggml.merges", NULL,
};

/* Integer key of any integer type into [0, max]. -ENOENT if absent and !required. */
static int get_uint(const struct gguf_file *g, const char *path, const char *key,
		    uint64_t max, int required, uint64_t *out, char *err, size_t errlen)
{
	const struct gguf_kv *kv = gguf_find(g, key);

	if (!kv) {
		if (!required)
			return -ENOENT;
		return hc_err(-EINVAL, err, errlen, "%s: missing key '%s'", path, key);
	}
	switch (kv->type) {
	case GGUF_U8: case GGUF_U16: case GGUF_U32: case GGUF_U64:
		*out = kv->v.u;
		break;
	case GGUF_I8: case GGUF_I16: case GGUF_I32: case GGUF_I64:
		if (kv->v.i < 0)
			return hc_err(-EINVAL, err, errlen, "%s: key '%s' is negative (%" PRId64
					")", path, key, kv->v.i);
		*out = (uint64_t)kv->v.i;
		break;
	default:
		return hc_err(-EINVAL, err, errlen, "%s: key '%s' has type %s, expected an "
				"integer", path, key, gguf_vtype_name(kv->type));
	}
	if (*out > max)
		return hc_err(-EINVAL, err, errlen, "%s: key '%s' = %" PRIu64 " is out of range "
				"(at most %" PRIu64 ")", path, key, *out, max);
	return 0;
}

static int get_u32(const struct gguf_file *g, const char *path, const char *key, int required,
		   uint32_t dflt, uint32_t *out, char *err, size_t errlen)
{
	uint64_t v = 0;
	int rc = get_uint(g, path, key, UINT32_MAX, required, &v, err, errlen);

	if (rc == -ENOENT) {
		*out = dflt;
		return 0;
	}
	if (!rc)
		*out = (uint32_t)v;
	return rc;
}

static int get_float(const struct gguf_file *g, const char *path, const char *key,
		     int required, float dflt, float *out, char *err, size_t errlen)
{
	const struct gguf_kv *kv = gguf_find(g, key);

	if (!kv) {
		if (required)
			return hc_err(-EINVAL, err, errlen, "%s: missing key '%s'", path, key);
		*out = dflt;
		return 0;
	}
	if (kv->type != GGUF_F32 && kv->type != GGUF_F64)
		return hc_err(-EINVAL, err, errlen, "%s: key '%s' has type %s, expected float32",
				path, key, gguf_vtype_name(kv->type));
	if (!isfinite(kv->v.f) || kv->v.f <= 0)
		return hc_err(-EINVAL, err, errlen, "%s: key '%s' = %g must be a positive number",
				path, key, kv->v.f);
	*out = (float)kv->v.f;
	return 0;
}

/* String key or NULL if absent; error if present with another type. */
static int get_str(const struct gguf_file *g, const char *path, const char *key,
		   const char **out, char *err, size_t errlen)
{
	const struct gguf_kv *kv = gguf_find(g, key);

	*out = NULL;
	if (!kv)
		return 0;
	if (kv->type != GGUF_STRING)
		return hc_err(-EINVAL, err, errlen, "%s: key '%s' has type %s, expected string",
				path, key, gguf_vtype_name(kv->type));
	*out = kv->str;
	return 0;
}

static int get_bool(const struct gguf_file *g, const char *path, const char *key,
		    uint32_t *out, char *err, size_t errlen)
{
	const struct gguf_kv *kv = gguf_find(g, key);

	if (!kv)
		return 0;	/* keep the default */
	if (kv->type != GGUF_BOOL)
		return hc_err(-EINVAL, err, errlen, "%s: key '%s' has type %s, expected bool",
				path, key, gguf_vtype_name(kv->type));
	*out = kv->v.u != 0;
	return 0;
}

static const struct gguf_tensor_info *find_tensor(const struct gguf_file *g, const char *name)
{
	for (uint64_t k = 0; k < g->n_tensors; k++)
		if (!strcmp(g->tensors[k].name, name))
			return &g->tensors[k];
	return NULL;
}

/*
 * Llama 3.1 RoPE scaling. llama.cpp's convert_hf_to_gguf.py writes no scaling keys for
 * rope_type "llama3"; it stores the per-frequency divisors as rope_freqs.weight (F32,
 * head_dim / 2 values: 1 for high frequencies, factor for low ones, a smooth blend
 * between). The blend cannot be inverted uniquely from a few values, so we take factor
 * from the lowest frequency, low/high_freq_factor and the original context from the keys
 * llama.rope.scaling.* when present, else Meta's Llama 3.1 values (1, 4, 8192, also the
 * converter's defaults), recompute the tensor the converter's way, and refuse the file
 * unless every value matches.
 */
static int read_rope_scaling(const struct gguf_file *g, const char *path,
			     struct hc_rom_arch *a, char *err, size_t errlen)
{
	const struct gguf_tensor_info *t = find_tensor(g, "rope_freqs.weight");
	const char *type;
	uint32_t n = a->head_dim / 2;
	float f[512], factor, lo, hi;
	uint32_t orig;
	int rc, scaled = 0;

	rc = get_str(g, path, "llama.rope.scaling.type", &type, err, errlen);
	if (rc)
		return rc;
	if (type && strcmp(type, "none"))
		return hc_err(-EINVAL, err, errlen, "%s: llama.rope.scaling.type '%s' is not "
				"supported; supported: none, or Llama 3 scaling via rope_freqs.weight",
				path, type);
	a->rope_scaling = HC_ROPE_NONE;
	if (!t)
		return 0;
	if (t->type != HC_WTYPE_F32 || t->ne[0] != n || t->ne[1] * t->ne[2] * t->ne[3] != 1 ||
	    n > sizeof(f) / sizeof(f[0]))
		return hc_err(-EINVAL, err, errlen, "%s: tensor 'rope_freqs.weight' has type %s "
				"and shape [%" PRIu64 ", %" PRIu64 "], expected F32 [%" PRIu32 "]",
				path, bake_type_name(t->type), t->ne[0], t->ne[1], n);
	rc = bake_pread(g->fd, f, n * sizeof(float), t->offset);
	if (rc)
		return hc_err(rc, err, errlen, "%s: tensor 'rope_freqs.weight': %s", path,
				strerror(-rc));
	for (uint32_t k = 0; k < n; k++) {
		if (!isfinite(f[k]) || f[k] < 1.0f)
			return hc_err(-EINVAL, err, errlen, "%s: rope_freqs.weight[%" PRIu32 "] = "
					"%g is not a Llama 3 scaling divisor (>= 1)", path, k, f[k]);
		scaled |= f[k] != 1.0f;
	}
	if (!scaled)
		return 0;	/* all ones: scaling is a no-op */
	factor = f[n - 1];
	rc = get_float(g, path, "llama.rope.scaling.low_freq_factor", 0, 1.0f, &lo, err, errlen);
	if (!rc)
		rc = get_float(g, path, "llama.rope.scaling.high_freq_factor", 0, 4.0f, &hi, err,
			       errlen);
	if (!rc)
		rc = get_u32(g, path, "llama.rope.scaling.original_context_length", 0, 8192, &orig,
			     err, errlen);
	if (rc)
		return rc;
	if (!(hi > lo) || orig == 0)
		return hc_err(-EINVAL, err, errlen, "%s: Llama 3 RoPE scaling needs "
				"high_freq_factor > low_freq_factor and an original context", path);
	for (uint32_t k = 0; k < n; k++) {
		/* convert_hf_to_gguf.py: freqs = 1 / base ** (arange(0, dim, 2) / dim) */
		double freq = 1.0 / pow(a->rope_theta, (double)(2 * k) / a->head_dim);
		double wavelen = 2 * M_PI / freq, want;

		if (wavelen < orig / hi) {
			want = 1;
		} else if (wavelen > orig / lo) {
			want = factor;
		} else {
			double smooth = (orig / wavelen - lo) / (hi - lo);

			want = 1 / ((1 - smooth) / factor + smooth);
		}
		if (fabs(f[k] - want) > 1e-5 * want)
			return hc_err(-EINVAL, err, errlen, "%s: rope_freqs.weight[%" PRIu32 "] = %.9g "
					"but Llama 3 scaling (factor %g, low_freq_factor %g, "
					"high_freq_factor %g, original context %" PRIu32 ") gives %.9g",
					path, k, f[k], factor, lo, hi, orig, want);
	}
	a->rope_scaling = HC_ROPE_LLAMA3;
	a->rope_factor = factor;
	a->rope_low_freq_factor = lo;
	a->rope_high_freq_factor = hi;
	a->rope_orig_ctx = orig;
	return 0;
}

/* The loader's limits, checked now so the error names the input file. */
static int check_arch(const struct hc_rom_arch *a, const char *path, char *err, size_t errlen)
{
	char why[256];

	if (hc_rom_check_arch(a, why, sizeof(why)))
		return hc_err(-EINVAL, err, errlen, "%s: %s", path, why);
	return 0;
}

static int read_arch(const struct gguf_file *g, const char *path, struct hc_rom_arch *a,
		     char *err, size_t errlen)
{
	const struct gguf_kv *toks = gguf_find(g, "tokenizer.ggml.tokens");
	const struct gguf_tensor_info *emb = find_tensor(g, "token_embd.weight");
	const char *arch;
	uint32_t rope_dims, v_len;
	int rc;

	rc = get_str(g, path, "general.architecture", &arch, err, errlen);
	if (rc)
		return rc;
	if (!arch)
		return hc_err(-EINVAL, err, errlen, "%s: missing key 'general.architecture'",
				path);
	if (strcmp(arch, "llama"))
		return hc_err(-EINVAL, err, errlen, "%s: general.architecture '%s' is not "
				"supported; supported: llama", path, arch);
	memset(a, 0, sizeof(*a));
#define U32(key, req, dflt, field) \
	do { rc = get_u32(g, path, key, req, dflt, &a->field, err, errlen); \
	     if (rc) return rc; } while (0)
	U32("llama.embedding_length", 1, 0, dim);
	U32("llama.block_count", 1, 0, n_layers);
	U32("llama.feed_forward_length", 1, 0, ffn_dim);
	U32("llama.attention.head_count", 1, 0, n_heads);
	U32("llama.context_length", 1, 0, max_ctx);
	if (a->dim == 0 || a->n_layers == 0 || a->ffn_dim == 0 || a->n_heads == 0 ||
	    a->max_ctx == 0 || a->n_layers > 4096)
		return hc_err(-EINVAL, err, errlen, "%s: model shape out of range (dim %" PRIu32
				", layers %" PRIu32 ", ffn %" PRIu32 ", heads %" PRIu32 ", ctx %"
				PRIu32 ")", path, a->dim, a->n_layers, a->ffn_dim, a->n_heads,
				a->max_ctx);
	U32("llama.attention.head_count_kv", 0, a->n_heads, n_kv_heads);
	if (a->n_kv_heads == 0 || a->n_heads % a->n_kv_heads)
		return hc_err(-EINVAL, err, errlen, "%s: attention.head_count %" PRIu32 " is not "
				"a multiple of head_count_kv %" PRIu32, path, a->n_heads,
				a->n_kv_heads);
	if (a->dim % a->n_heads)
		return hc_err(-EINVAL, err, errlen, "%s: embedding_length %" PRIu32 " is not a "
				"multiple of head_count %" PRIu32, path, a->dim, a->n_heads);
	U32("llama.attention.key_length", 0, a->dim / a->n_heads, head_dim);
	rc = get_u32(g, path, "llama.attention.value_length", 0, a->head_dim, &v_len, err,
		     errlen);
	if (!rc)
		rc = get_u32(g, path, "llama.rope.dimension_count", 0, a->head_dim, &rope_dims,
			     err, errlen);
	if (rc)
		return rc;
	if (a->head_dim == 0 || a->head_dim % 2 || v_len != a->head_dim ||
	    rope_dims != a->head_dim)
		return hc_err(-EINVAL, err, errlen, "%s: head size %" PRIu32 " (value %" PRIu32
				", rope dimensions %" PRIu32 ") is not supported: it must be even "
				"and RoPE must cover the whole head", path, a->head_dim, v_len,
				rope_dims);
	rc = get_float(g, path, "llama.rope.freq_base", 0, 10000.0f, &a->rope_theta, err,
		       errlen);
	if (!rc)
		rc = get_float(g, path, "llama.attention.layer_norm_rms_epsilon", 1, 0,
			       &a->norm_eps, err, errlen);
	if (rc)
		return rc;
	if (gguf_find(g, "llama.vocab_size")) {
		U32("llama.vocab_size", 1, 0, vocab_size);
	} else if (toks && toks->type == GGUF_ARRAY && toks->arr_n <= UINT32_MAX) {
		a->vocab_size = (uint32_t)toks->arr_n;
	} else if (emb && emb->n_dims == 2 && emb->ne[1] <= UINT32_MAX) {
		a->vocab_size = (uint32_t)emb->ne[1];
	}
#undef U32
	if (a->vocab_size == 0)
		return hc_err(-EINVAL, err, errlen, "%s: vocabulary size unknown (no "
				"llama.vocab_size, tokenizer.ggml.tokens or token_embd.weight)",
				path);
	rc = read_rope_scaling(g, path, a, err, errlen);
	if (rc)
		return rc;
	return check_arch(a, path, err, errlen);
}

/* Array key: present with element type @et, or absent (NULL). */
static int get_array(struct gguf_file *g, const char *path, const char *key, uint32_t et,
		     uint64_t n_expect, struct gguf_kv **out, char *err, size_t errlen)
{
	struct gguf_kv *kv = (struct gguf_kv *)gguf_find(g, key);

	*out = NULL;
	if (!kv)
		return 0;
	if (kv->type != GGUF_ARRAY || kv->arr_type != et)
		return hc_err(-EINVAL, err, errlen, "%s: key '%s' has type %s%s%s, expected "
				"array of %s", path, key, gguf_vtype_name(kv->type),
				kv->type == GGUF_ARRAY ? " of " : "",
				kv->type == GGUF_ARRAY ? gguf_vtype_name(kv->arr_type) : "",
				gguf_vtype_name(et));
	if (n_expect != UINT64_MAX && kv->arr_n != n_expect)
		return hc_err(-EINVAL, err, errlen, "%s: key '%s' has %" PRIu64 " entries but "
				"there are %" PRIu64 " tokens", path, key, kv->arr_n, n_expect);
	*out = kv;
	return 0;
}

/* Token id key: -1 when absent or 0xffffffff (llama.cpp's "none"). */
static int get_id(const struct gguf_file *g, const char *path, const char *key,
		  uint32_t n_vocab, int32_t *out, char *err, size_t errlen)
{
	const struct gguf_kv *kv = gguf_find(g, key);
	int64_t v;

	*out = -1;
	if (!kv)
		return 0;
	if (kv->type == GGUF_U32)
		v = kv->v.u == UINT32_MAX ? -1 : (int64_t)kv->v.u;
	else if (kv->type == GGUF_I32)
		v = kv->v.i;
	else
		return hc_err(-EINVAL, err, errlen, "%s: key '%s' has type %s, expected uint32",
				path, key, gguf_vtype_name(kv->type));
	if (v < -1 || v >= (int64_t)n_vocab)
		return hc_err(-EINVAL, err, errlen, "%s: key '%s' = %" PRId64 " is not a token "
				"id (vocabulary has %" PRIu32 " tokens)", path, key, v, n_vocab);
	*out = (int32_t)v;
	return 0;
}

static int32_t find_piece(const struct hc_tok_spec *s, const char *text)
{
	for (uint32_t k = 0; k < s->n_vocab; k++)
		if (!strcmp(s->pieces[k], text))
			return (int32_t)k;
	return -1;
}

/*
 * More end-of-generation ids, found by token text as llama.cpp's llama_vocab does
 * (Llama 3.1: <|end_of_text|>, <|eom_id|>, <|eot_id|>; the same ids a Hugging Face
 * generation_config.json lists).
 */
static void add_eog_tokens(struct hc_tok_spec *s)
{
	static const char *const eog[] = {
		"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>", "<|end|>",
		"<end_of_turn>", "<|endoftext|>", "<EOT>",
	};
	const uint32_t cap = sizeof(s->extra_stop) / sizeof(s->extra_stop[0]);

	for (uint32_t k = 0; k < s->n_vocab && s->n_extra_stop < cap; k++) {
		if (s->pieces[k][0] != '<')
			continue;
		for (size_t e = 0; e < sizeof(eog) / sizeof(eog[0]); e++)
			if (!strcmp(s->pieces[k], eog[e]))
				s->extra_stop[s->n_extra_stop++] = (int32_t)k;
	}
}

static int read_tokenizer(struct gguf_file *g, const char *path, uint32_t vocab_size,
			  struct hc_tok_spec **out, char *err, size_t errlen)
{
	struct gguf_kv *toks, *scores, *types, *merges;
	struct hc_tok_spec *s;
	const char *model, *pre, *tmpl;
	uint32_t n;
	int rc;

	*out = NULL;
	rc = get_str(g, path, "tokenizer.ggml.model", &model, err, errlen);
	if (rc || !model)
		return rc;	/* no tokenizer in the file */
	if (strcmp(model, "llama") && strcmp(model, "gpt2"))
		return hc_err(-EINVAL, err, errlen, "%s: tokenizer.ggml.model '%s' is not "
				"supported; supported: llama, gpt2", path, model);
	rc = get_array(g, path, "tokenizer.ggml.tokens", GGUF_STRING, UINT64_MAX, &toks, err,
		       errlen);
	if (rc)
		return rc;
	if (!toks || toks->arr_n == 0)
		return hc_err(-EINVAL, err, errlen, "%s: missing tokenizer.ggml.tokens", path);
	if (toks->arr_n > vocab_size)
		return hc_err(-EINVAL, err, errlen, "%s: tokenizer has %" PRIu64 " tokens but "
				"the model's vocabulary is %" PRIu32, path, toks->arr_n,
				vocab_size);
	n = (uint32_t)toks->arr_n;
	rc = get_array(g, path, "tokenizer.ggml.scores", GGUF_F32, n, &scores, err, errlen);
	if (!rc)
		rc = get_array(g, path, "tokenizer.ggml.token_type", GGUF_I32, n, &types, err,
			       errlen);
	if (!rc)
		rc = get_array(g, path, "tokenizer.ggml.merges", GGUF_STRING, UINT64_MAX, &merges,
			       err, errlen);
	if (!rc)
		rc = get_str(g, path, "tokenizer.ggml.pre", &pre, err, errlen);
	if (!rc)
		rc = get_str(g, path, "tokenizer.chat_template", &tmpl, err, errlen);
	if (rc)
		return rc;
	if (!strcmp(model, "llama") && !scores)
		return hc_err(-EINVAL, err, errlen, "%s: tokenizer.ggml.model 'llama' needs "
				"tokenizer.ggml.scores", path);
	if (!strcmp(model, "gpt2") && !merges)
		return hc_err(-EINVAL, err, errlen, "%s: tokenizer.ggml.model 'gpt2' needs "
				"tokenizer.ggml.merges", path);
	if (!strcmp(model, "gpt2") && pre && strcmp(pre, "llama-bpe") && strcmp(pre, "llama3") &&
	    strcmp(pre, "llama-v3") && strcmp(pre, "default") && strcmp(pre, "gpt2"))
		return hc_err(-EINVAL, err, errlen, "%s: tokenizer.ggml.pre '%s' is not "
				"supported; supported: llama-bpe, default", path, pre);
	if (types) {
		const uint8_t *b = types->arr;

		for (uint32_t k = 0; k < n; k++) {
			int32_t t = (int32_t)((uint32_t)b[4 * k] | (uint32_t)b[4 * k + 1] << 8 |
					      (uint32_t)b[4 * k + 2] << 16 |
					      (uint32_t)b[4 * k + 3] << 24);

			if (t < HC_TT_NORMAL || t > HC_TT_BYTE)
				return hc_err(-EINVAL, err, errlen, "%s: tokenizer.ggml.token_type"
						"[%" PRIu32 "] = %" PRId32 " is not a token type",
						path, k, t);
		}
	}
	for (uint32_t k = 0; scores && k < n; k++) {
		float f;

		memcpy(&f, (const uint8_t *)scores->arr + 4 * k, 4);
		if (!isfinite(f))
			return hc_err(-EINVAL, err, errlen, "%s: tokenizer.ggml.scores[%" PRIu32
					"] is not a finite number", path, k);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return hc_err(-ENOMEM, err, errlen, "%s: out of memory", path);
	s->n_vocab = n;
	if (!strcmp(model, "llama")) {
		s->kind = HC_TOK_SPM;
		s->add_bos = 1;
		s->add_space_prefix = 1;
	} else {
		s->kind = HC_TOK_BPE;
		s->add_bos = pre && strcmp(pre, "default") && strcmp(pre, "gpt2");
		s->ignore_merges = s->add_bos;	/* llama.cpp: Llama 3 pre-tokenizer only */
		if (!pre || !strcmp(pre, "default") || !strcmp(pre, "gpt2")) {
			s->pretok_regex = strdup(gpt2_regex);
			if (!s->pretok_regex)
				goto nomem;
		}
	}
	/* Take the captured arrays instead of copying them (128K pieces, 280K merges). */
	s->pieces = toks->arr;
	toks->arr = NULL;
	if (scores) {
		s->scores = malloc(n * sizeof(float));
		if (!s->scores)
			goto nomem;
		memcpy(s->scores, scores->arr, n * sizeof(float));	/* LE host */
	}
	if (types) {
		const uint8_t *b = types->arr;

		s->types = malloc(n);
		if (!s->types)
			goto nomem;
		for (uint32_t k = 0; k < n; k++)
			s->types[k] = b[4 * k];	/* range checked above */
	}
	if (merges && s->kind == HC_TOK_BPE) {
		if (merges->arr_n > UINT32_MAX) {
			hc_tok_spec_free(s);
			return hc_err(-EINVAL, err, errlen, "%s: too many merges", path);
		}
		s->n_merges = (uint32_t)merges->arr_n;
		s->merges = merges->arr;
		merges->arr = NULL;
	}
	if (tmpl) {
		s->chat_template = strdup(tmpl);
		if (!s->chat_template)
			goto nomem;
	}
	/* Same rules as hc_tok_spec_from_hf, so both sources of one model agree. */
	if (tmpl && strstr(tmpl, "<|start_header_id|>"))
		s->chat_format = strstr(tmpl, "Cutting Knowledge Date") ? HC_CHAT_LLAMA31 :
				 HC_CHAT_LLAMA3;
	else if (tmpl && strstr(tmpl, "[INST]"))
		s->chat_format = HC_CHAT_LLAMA2;
	else if (!tmpl && find_piece(s, "<|start_header_id|>") >= 0)
		s->chat_format = HC_CHAT_LLAMA3;
	rc = get_id(g, path, "tokenizer.ggml.bos_token_id", n, &s->bos_id, err, errlen);
	if (!rc)
		rc = get_id(g, path, "tokenizer.ggml.eos_token_id", n, &s->eos_id, err, errlen);
	if (!rc)
		rc = get_id(g, path, "tokenizer.ggml.eot_token_id", n, &s->eot_id, err, errlen);
	if (!rc && s->eot_id < 0)	/* llama.cpp finds Llama 3's end of turn by its text */
		s->eot_id = find_piece(s, "<|eot_id|>");
	if (!rc)
		add_eog_tokens(s);
	if (!rc)
		rc = get_id(g, path, "tokenizer.ggml.unknown_token_id", n, &s->unk_id, err, errlen);
	if (!rc)
		rc = get_id(g, path, "tokenizer.ggml.padding_token_id", n, &s->pad_id, err, errlen);
	if (!rc)
		rc = get_bool(g, path, "tokenizer.ggml.add_bos_token", &s->add_bos, err, errlen);
	if (!rc)
		rc = get_bool(g, path, "tokenizer.ggml.add_space_prefix", &s->add_space_prefix,
			      err, errlen);
	if (rc) {
		hc_tok_spec_free(s);
		return rc;
	}
	*out = s;
	return 0;
nomem:
	hc_tok_spec_free(s);
	return hc_err(-ENOMEM, err, errlen, "%s: out of memory", path);
}

static int gguf_rows(struct bake_source *src, uint32_t i, uint64_t row0, uint64_t n,
		     void *dst, int f32, char *err, size_t errlen)
{
	struct gguf_src *p = src->priv;
	const struct gguf_tensor_info *t;
	int rc;

	if (i >= src->n_tensors)
		return hc_err(-EINVAL, err, errlen, "%s: no tensor #%" PRIu32, p->path, i);
	t = &p->g->tensors[p->tidx[i]];
	if (row0 > src->tensors[i].shape[1] || n > src->tensors[i].shape[1] - row0)
		return hc_err(-EINVAL, err, errlen, "%s: tensor '%s': rows [%" PRIu64 ", %" PRIu64
				") out of range (%" PRIu64 " rows)", p->path, t->name, row0,
				row0 + n, src->tensors[i].shape[1]);
	rc = bake_read_rows(p->g->fd, t->offset, t->type, t->ne[0], src->tensors[i].shape[1], 0,
			    row0, n, f32, dst);
	if (rc)
		return hc_err(rc, err, errlen, "%s: tensor '%s': reading rows [%" PRIu64 ", %"
				PRIu64 "): %s", p->path, t->name, row0, row0 + n,
				rc == -EIO ? "file is shorter than its header says" :
				strerror(-rc));
	return 0;
}

static int gguf_read_f32(struct bake_source *src, uint32_t i, uint64_t row0, uint64_t n,
			 float *dst, char *err, size_t errlen)
{
	return gguf_rows(src, i, row0, n, dst, 1, err, errlen);
}

static int gguf_read_raw(struct bake_source *src, uint32_t i, uint64_t row0, uint64_t n,
			 void *dst, char *err, size_t errlen)
{
	return gguf_rows(src, i, row0, n, dst, 0, err, errlen);
}

static void gguf_src_close(struct bake_source *src)
{
	struct gguf_src *p;

	if (!src)
		return;
	p = src->priv;
	if (p) {
		gguf_close(p->g);
		free(p->path);
		free(p->tidx);
		free(p);
	}
	if (src->tok)
		hc_tok_spec_free(src->tok);
	free(src->tensors);
	free(src);
}

/* Place every tensor at its canonical slot; check types and shapes; find missing ones. */
static int map_tensors(struct bake_source *src, struct gguf_src *p, char *err, size_t errlen)
{
	const struct gguf_file *g = p->g;
	const struct hc_rom_arch *a = &src->arch;
	uint32_t n_slots = bake_n_slots(a), out_idx = n_slots - 1;
	uint64_t *slot;
	char name[64];
	int rc = 0;

	slot = calloc(n_slots, sizeof(*slot));	/* tensor index + 1, 0 = missing */
	src->tensors = calloc(n_slots, sizeof(*src->tensors));
	p->tidx = calloc(n_slots, sizeof(*p->tidx));
	if (!slot || !src->tensors || !p->tidx) {
		free(slot);
		return hc_err(-ENOMEM, err, errlen, "%s: out of memory", p->path);
	}
	for (uint64_t k = 0; k < g->n_tensors; k++) {
		const struct gguf_tensor_info *t = &g->tensors[k];
		uint64_t shape[2];
		uint32_t nd;
		int idx = bake_slot(a, t->name, &nd, shape);

		if (!strcmp(t->name, "rope_freqs.weight"))
			continue;	/* folded into arch.rope_* */
		if (idx < 0) {
			rc = hc_err(-EINVAL, err, errlen, "%s: unexpected tensor '%s' (not part of "
				      "a %" PRIu32 "-layer Llama model)", p->path, t->name,
				      a->n_layers);
			goto out;
		}
		if (slot[idx]) {
			rc = hc_err(-EINVAL, err, errlen, "%s: duplicate tensor '%s'", p->path,
				      t->name);
			goto out;
		}
		if (!bake_type_supported(t->type)) {
			rc = hc_err(-EINVAL, err, errlen, "%s: tensor '%s' type %" PRIu32 " (%s) is "
				      "not supported; supported: F32, F16, BF16, Q8_0, Q4_0",
				      p->path, t->name, t->type, bake_type_name(t->type));
			goto out;
		}
		if (t->ne[2] != 1 || t->ne[3] != 1 || t->ne[0] != shape[0] ||
		    (t->n_dims >= 2 ? t->ne[1] : 1) != shape[1] ||
		    (nd == 2 && t->n_dims < 2)) {
			rc = hc_err(-EINVAL, err, errlen, "%s: tensor '%s' has shape [%" PRIu64
				      ", %" PRIu64 "], expected [%" PRIu64 ", %" PRIu64 "]",
				      p->path, t->name, t->ne[0], t->ne[1], shape[0], shape[1]);
			goto out;
		}
		slot[idx] = k + 1;
	}
	if (!slot[out_idx])
		src->arch.flags |= HC_ARCH_TIED_CLASSIFIER;
	for (uint32_t s = 0; s < n_slots; s++) {
		struct bake_tensor *bt = &src->tensors[src->n_tensors];
		const struct gguf_tensor_info *t;

		if (!slot[s]) {
			if (s == out_idx)
				continue;
			bake_slot_name(a, s, name, sizeof(name));
			rc = hc_err(-EINVAL, err, errlen, "%s: missing tensor '%s'", p->path, name);
			goto out;
		}
		t = &g->tensors[slot[s] - 1];
		memcpy(bt->name, t->name, sizeof(bt->name));
		bt->type = t->type;
		bake_slot(a, t->name, &bt->n_dims, bt->shape);
		p->tidx[src->n_tensors++] = (uint32_t)(slot[s] - 1);
	}
out:
	free(slot);
	return rc;
}

static void set_name(struct bake_source *src, const struct gguf_file *g, const char *path)
{
	const struct gguf_kv *kv = gguf_find(g, "general.name");
	const char *base = strrchr(path, '/');
	size_t len;

	if (kv && kv->type == GGUF_STRING && kv->str[0]) {
		snprintf(src->name, sizeof(src->name), "%s", kv->str);
		return;
	}
	snprintf(src->name, sizeof(src->name), "%s", base ? base + 1 : path);
	len = strlen(src->name);
	if (len > 5 && !strcmp(src->name + len - 5, ".gguf"))
		src->name[len - 5] = 0;
}

int bake_open_gguf(const char *path, struct bake_source **out, char *err, size_t errlen)
{
	struct bake_source *src;
	struct gguf_src *p;
	int rc;

	*out = NULL;
	src = calloc(1, sizeof(*src));
	p = calloc(1, sizeof(*p));
	if (!src || !p || !(p->path = strdup(path))) {
		free(src);
		free(p);
		return hc_err(-ENOMEM, err, errlen, "%s: out of memory", path);
	}
	src->priv = p;
	src->read_rows_f32 = gguf_read_f32;
	src->read_rows_raw = gguf_read_raw;
	src->close = gguf_src_close;
	rc = gguf_open(path, capture_keys, &p->g, err, errlen);
	if (!rc)
		rc = read_arch(p->g, path, &src->arch, err, errlen);
	if (!rc)
		rc = map_tensors(src, p, err, errlen);
	if (!rc)
		rc = read_tokenizer(p->g, path, src->arch.vocab_size, &src->tok, err, errlen);
	if (rc) {
		gguf_src_close(src);
		return rc;
	}
	set_name(src, p->g, path);
	*out = src;
	return 0;
}
