// SPDX-License-Identifier: MIT
/*
 * Checkpoint writers for tests (see ckpt_writer.h): the crafted tiny Llama model as a GGUF
 * file and as a Hugging Face checkpoint, built in memory, and checked file writes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include "ckpt_writer.h"
#include "quant.h"
#include "rom.h"

/* ---- building a file in memory ---- */

static void put(struct cw_buf *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 256;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void put_u32(struct cw_buf *b, uint32_t v)
{
	put(b, &v, 4);
}

static void put_u64(struct cw_buf *b, uint64_t v)
{
	put(b, &v, 8);
}

static void put_str(struct cw_buf *b, const char *s)
{
	put_u64(b, strlen(s));
	put(b, s, strlen(s));
}

/* GGUF metadata entries: the key, the value's type, the value. */
static void kv_u32(struct cw_buf *b, const char *k, uint32_t v)
{
	put_str(b, k);
	put_u32(b, 4);
	put_u32(b, v);
}

static void kv_f32(struct cw_buf *b, const char *k, float v)
{
	put_str(b, k);
	put_u32(b, 6);
	put(b, &v, 4);
}

static void kv_str(struct cw_buf *b, const char *k, const char *v)
{
	put_str(b, k);
	put_u32(b, 8);
	put_str(b, v);
}

/* A row of @n floats in weight type @type (F32, F16, BF16, Q8_0, Q4_0). */
static void put_row(struct cw_buf *b, uint32_t type, const float *x, uint64_t n)
{
	uint8_t tmp[4 * 256];

	switch (type) {
	case HC_WTYPE_F32:
		put(b, x, n * 4);
		return;
	case HC_WTYPE_F16:
	case HC_WTYPE_BF16:
		for (uint64_t k = 0; k < n; k++) {
			uint16_t h;

			if (type == HC_WTYPE_F16) {
				h = hc_f32_to_fp16(x[k]);
			} else {
				uint32_t w;

				memcpy(&w, &x[k], 4);
				h = (uint16_t)(w >> 16);	/* values are exact in bf16 */
			}
			put(b, &h, 2);
		}
		return;
	case HC_WTYPE_Q8_0:
		hc_quantize_row_q8_0(x, (void *)tmp, n);
		put(b, tmp, hc_row_size(type, n));
		return;
	case HC_WTYPE_Q4_0:
		hc_quantize_row_q4_0(x, (void *)tmp, n);
		put(b, tmp, hc_row_size(type, n));
		return;
	}
}

static void put_pad(struct cw_buf *b, uint32_t align)
{
	static const uint8_t zero[64];

	while (b->n % align)
		put(b, zero, 1);
}

/* ---- GGUF ---- */

const struct cw_gguf_tensor cw_gguf_tensors[CW_N_GGUF] = {
	{ "output.weight", CW_DIM, CW_VOCAB },
	{ "blk.0.ffn_down.weight", CW_FFN, CW_DIM },
	{ "token_embd.weight", CW_DIM, CW_VOCAB },
	{ "blk.0.attn_norm.weight", CW_DIM, 1 },
	{ "blk.0.attn_q.weight", CW_DIM, CW_DIM },
	{ "blk.0.attn_k.weight", CW_DIM, 16 },
	{ "blk.0.attn_v.weight", CW_DIM, 16 },
	{ "blk.0.attn_output.weight", CW_DIM, CW_DIM },
	{ "blk.0.ffn_norm.weight", CW_DIM, 1 },
	{ "blk.0.ffn_gate.weight", CW_DIM, CW_FFN },
	{ "blk.0.ffn_up.weight", CW_DIM, CW_FFN },
	{ "output_norm.weight", CW_DIM, 1 },
};

float cw_gguf_value(size_t t, uint64_t row, uint64_t col)
{
	return (float)((int)((t * 131 + row * 17 + col * 5) % 61) - 30) / 16.0f;
}

static uint32_t gguf_type(const struct cw_gguf_opt *o, size_t t)
{
	return cw_gguf_tensors[t].ne1 == 1 ? HC_WTYPE_F32 : o->mat_type;
}

struct cw_buf cw_gguf(const struct cw_gguf_opt *o, struct cw_gguf_offs *off)
{
	struct cw_buf b = { 0 }, data = { 0 };
	uint32_t align = o->alignment ? o->alignment : 32;
	uint64_t n_kv = 0, n_t = 0, offsets[CW_N_GGUF], rope_off;
	size_t kvcount_at;
	char tok[16];

	put(&b, "GGUF", 4);
	put_u32(&b, o->version ? o->version : 3);
	off->n_tensors = b.n;
	put_u64(&b, 0);		/* patched */
	off->n_kv = kvcount_at = b.n;
	put_u64(&b, 0);		/* patched */
	off->first_key = b.n;
	kv_str(&b, "general.architecture", "llama"); n_kv++;
	kv_str(&b, "general.name", "crafted"); n_kv++;
	if (o->alignment) {
		kv_u32(&b, "general.alignment", o->alignment); n_kv++;
	}
	kv_u32(&b, "llama.context_length", 64); n_kv++;
	kv_u32(&b, "llama.embedding_length", CW_DIM); n_kv++;
	kv_u32(&b, "llama.block_count", 1); n_kv++;
	kv_u32(&b, "llama.feed_forward_length", CW_FFN); n_kv++;
	kv_u32(&b, "llama.attention.head_count", 2); n_kv++;
	kv_u32(&b, "llama.attention.head_count_kv", 1); n_kv++;
	kv_f32(&b, "llama.rope.freq_base", o->rope_freqs ? 500000.0f : 10000.0f); n_kv++;
	if (o->low_freq_factor) {
		kv_f32(&b, "llama.rope.scaling.low_freq_factor", o->low_freq_factor); n_kv++;
	}
	kv_f32(&b, "llama.attention.layer_norm_rms_epsilon", 1e-5f); n_kv++;
	/* every other scalar type, and nested arrays, which the reader must skip cleanly */
	{
		uint8_t u8 = 7; int8_t i8 = -7; uint16_t u16 = 700; int16_t i16 = -700;
		int32_t i32 = -70000; uint64_t u64 = 1ull << 40; int64_t i64 = -(1ll << 40);
		double f64 = 0.5; uint8_t bl = 1;
		struct { const char *k; uint32_t t; const void *v; size_t n; } x[] = {
			{ "x.u8", 0, &u8, 1 }, { "x.i8", 1, &i8, 1 }, { "x.u16", 2, &u16, 2 },
			{ "x.i16", 3, &i16, 2 }, { "x.i32", 5, &i32, 4 }, { "x.bool", 7, &bl, 1 },
			{ "x.u64", 10, &u64, 8 }, { "x.i64", 11, &i64, 8 }, { "x.f64", 12, &f64, 8 },
		};

		for (size_t k = 0; k < sizeof(x) / sizeof(x[0]); k++) {
			put_str(&b, x[k].k);
			put_u32(&b, x[k].t);
			put(&b, x[k].v, x[k].n);
			n_kv++;
		}
		put_str(&b, "x.nested");
		put_u32(&b, 9);
		put_u32(&b, 9);		/* array of arrays */
		put_u64(&b, 2);
		put_u32(&b, 8);		/* [ ["a", "bc"], [] of u16 ] */
		put_u64(&b, 2);
		put_str(&b, "a");
		put_str(&b, "bc");
		put_u32(&b, 2);
		put_u64(&b, 0);
		n_kv++;
	}
	kv_str(&b, "tokenizer.ggml.model", "llama"); n_kv++;
	put_str(&b, "tokenizer.ggml.tokens");
	put_u32(&b, 9);
	put_u32(&b, 8);
	off->tokens_count = b.n;
	put_u64(&b, CW_VOCAB);
	for (int k = 0; k < CW_VOCAB; k++) {
		if (k < 3)
			snprintf(tok, sizeof(tok), "%s", k == 0 ? "<unk>" : k == 1 ? "<s>" : "</s>");
		else
			snprintf(tok, sizeof(tok), "\xe2\x96\x81t%d", k);
		put_str(&b, tok);
	}
	n_kv++;
	put_str(&b, "tokenizer.ggml.scores");
	put_u32(&b, 9);
	put_u32(&b, 6);
	put_u64(&b, CW_VOCAB);
	for (int k = 0; k < CW_VOCAB; k++) {
		float s = -(float)k;

		put(&b, &s, 4);
	}
	n_kv++;
	put_str(&b, "tokenizer.ggml.token_type");
	put_u32(&b, 9);
	put_u32(&b, 5);
	put_u64(&b, CW_VOCAB);
	for (int k = 0; k < CW_VOCAB; k++)
		put_u32(&b, k == 0 ? 2 : k < 3 ? 3 : 1);
	n_kv++;
	kv_u32(&b, "tokenizer.ggml.bos_token_id", 1); n_kv++;
	kv_u32(&b, "tokenizer.ggml.eos_token_id", 2); n_kv++;
	kv_u32(&b, "tokenizer.ggml.padding_token_id", UINT32_MAX); n_kv++;
	memcpy(b.p + kvcount_at, &n_kv, 8);

	/* tensor data first (to know offsets), then infos */
	for (size_t t = 0; t < CW_N_GGUF; t++) {
		uint32_t type = gguf_type(o, t);
		float row[CW_FFN];

		if (o->tied && !strcmp(cw_gguf_tensors[t].name, "output.weight")) {
			offsets[t] = UINT64_MAX;
			continue;
		}
		put_pad(&data, align);
		offsets[t] = data.n;
		for (uint64_t r = 0; r < cw_gguf_tensors[t].ne1; r++) {
			for (uint64_t c = 0; c < cw_gguf_tensors[t].ne0; c++)
				row[c] = cw_gguf_value(t, r, c);
			put_row(&data, type, row, cw_gguf_tensors[t].ne0);
		}
	}
	if (o->rope_freqs) {
		put_pad(&data, align);
		rope_off = data.n;
		put(&data, o->rope_freqs, 8 * sizeof(float));
		put_str(&b, "rope_freqs.weight");
		put_u32(&b, 1);
		put_u64(&b, 8);
		put_u32(&b, HC_WTYPE_F32);
		put_u64(&b, rope_off);
		n_t++;
	}
	for (size_t t = 0; t < CW_N_GGUF; t++) {
		int bad_shape = o->bad_shape_tensor && !strcmp(o->bad_shape_tensor,
							       cw_gguf_tensors[t].name);

		if (offsets[t] == UINT64_MAX)
			continue;
		put_str(&b, cw_gguf_tensors[t].name);
		put_u32(&b, cw_gguf_tensors[t].ne1 == 1 ? 1 : 2);
		put_u64(&b, cw_gguf_tensors[t].ne0);
		if (cw_gguf_tensors[t].ne1 != 1)
			put_u64(&b, cw_gguf_tensors[t].ne1 - (bad_shape ? 1 : 0));
		if (n_t == (o->rope_freqs ? 1 : 0))
			off->first_tensor_type = b.n;
		if (o->bad_type_tensor && !strcmp(o->bad_type_tensor, cw_gguf_tensors[t].name))
			put_u32(&b, 12);
		else
			put_u32(&b, gguf_type(o, t));
		put_u64(&b, offsets[t] + (o->misalign && t == 0 ? 4 : 0));
		n_t++;
	}
	memcpy(b.p + off->n_tensors, &n_t, 8);
	put_pad(&b, align);
	off->data = b.n;
	put(&b, data.p, data.n);
	free(data.p);
	return b;
}

/* ---- Hugging Face ---- */

const char cw_hf_config[] =
	"{\"model_type\": \"llama\", \"hidden_size\": 32, \"num_hidden_layers\": 1,"
	" \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"intermediate_size\": 64,"
	" \"vocab_size\": 32, \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0,"
	" \"max_position_embeddings\": 64, \"tie_word_embeddings\": true}";

const struct cw_hf_tensor cw_hf_tensors[CW_N_HF] = {
	{ "model.embed_tokens.weight", CW_VOCAB, CW_DIM },
	{ "model.layers.0.input_layernorm.weight", CW_DIM, 0 },
	{ "model.layers.0.self_attn.q_proj.weight", CW_DIM, CW_DIM },
	{ "model.layers.0.self_attn.k_proj.weight", 16, CW_DIM },
	{ "model.layers.0.self_attn.v_proj.weight", 16, CW_DIM },
	{ "model.layers.0.self_attn.o_proj.weight", CW_DIM, CW_DIM },
	{ "model.layers.0.post_attention_layernorm.weight", CW_DIM, 0 },
	{ "model.layers.0.mlp.gate_proj.weight", CW_FFN, CW_DIM },
	{ "model.layers.0.mlp.up_proj.weight", CW_FFN, CW_DIM },
	{ "model.layers.0.mlp.down_proj.weight", CW_DIM, CW_FFN },
	{ "model.norm.weight", CW_DIM, 0 },
};

float cw_hf_value(size_t t, uint64_t row, uint64_t col)
{
	return (float)((int)((t * 7 + row * 29 + col * 3) % 53) - 26) / 8.0f;
}

/* One tensor in a safetensors header: @sep, then "name": {dtype, shape, data_offsets}. */
static void st_entry(struct cw_buf *json, const char *sep, const char *name, const char *dt,
		     uint64_t out, uint64_t in, uint64_t start, uint64_t end)
{
	char ent[512];

	if (in)
		snprintf(ent, sizeof(ent), "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [%" PRIu64
			 ", %" PRIu64 "], \"data_offsets\": [%" PRIu64 ", %" PRIu64 "]}", sep, name,
			 dt, out, in, start, end);
	else
		snprintf(ent, sizeof(ent), "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [%" PRIu64
			 "], \"data_offsets\": [%" PRIu64 ", %" PRIu64 "]}", sep, name, dt, out,
			 start, end);
	put(json, ent, strlen(ent));
}

struct cw_buf cw_st_zeros(const char *skip, const char *alter, const char *dtype, int bump,
			  uint64_t extra_len)
{
	struct cw_buf json = { 0 }, b = { 0 };
	uint64_t off = 0, hlen;

	put(&json, "{\"__metadata__\": {\"format\": \"pt\"}",
	    strlen("{\"__metadata__\": {\"format\": \"pt\"}"));
	for (size_t k = 0; k < CW_N_HF; k++) {
		const char *dt = "F32";
		uint64_t out = cw_hf_tensors[k].out, n, bytes;

		if (skip && !strcmp(skip, cw_hf_tensors[k].name))
			continue;
		if (alter && !strcmp(alter, cw_hf_tensors[k].name)) {
			dt = dtype ? dtype : dt;
			out += (uint64_t)bump;
		}
		n = out * (cw_hf_tensors[k].in ? cw_hf_tensors[k].in : 1);
		bytes = n * (!strcmp(dt, "F32") ? 4 : !strcmp(dt, "I8") ? 1 : 2);
		st_entry(&json, ", ", cw_hf_tensors[k].name, dt, out, cw_hf_tensors[k].in, off,
			 off + bytes);
		off += bytes;
	}
	put(&json, "}", 1);
	hlen = json.n + extra_len;
	put_u64(&b, hlen);
	put(&b, json.p, json.n);
	free(json.p);
	{
		uint8_t *z = calloc(1, off + 1);

		put(&b, z, off);
		free(z);
	}
	return b;
}

struct cw_buf cw_st_values(const char *dt)
{
	struct cw_buf json = { 0 }, data = { 0 }, b = { 0 };
	uint32_t type = !strcmp(dt, "F32") ? HC_WTYPE_F32 : !strcmp(dt, "F16") ? HC_WTYPE_F16 :
			HC_WTYPE_BF16;

	put(&json, "{", 1);
	for (size_t k = 0; k < CW_N_HF; k++) {
		uint64_t in = cw_hf_tensors[k].in ? cw_hf_tensors[k].in : cw_hf_tensors[k].out;
		uint64_t rows = cw_hf_tensors[k].in ? cw_hf_tensors[k].out : 1, start = data.n;
		float row[CW_FFN];

		for (uint64_t r = 0; r < rows; r++) {
			for (uint64_t c = 0; c < in; c++)
				row[c] = cw_hf_value(k, r, c);
			put_row(&data, type, row, in);
		}
		st_entry(&json, k ? ", " : "", cw_hf_tensors[k].name, dt, cw_hf_tensors[k].out,
			 cw_hf_tensors[k].in, start, data.n);
	}
	put(&json, "}", 1);
	put_u64(&b, json.n);
	put(&b, json.p, json.n);
	put(&b, data.p, data.n);
	free(json.p);
	free(data.p);
	return b;
}

void cw_hf_tokenizer(const char *dir)
{
	struct cw_buf b = { 0 };
	char e[64];

	snprintf(e, sizeof(e), "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
	put(&b, e, strlen(e));
	for (int k = 0; k < CW_VOCAB; k++) {
		snprintf(e, sizeof(e), "%s\"%c\": %d", k ? ", " : "", 'a' + k % 26 - (k >= 26) * 32,
			 k);
		put(&b, e, strlen(e));
	}
	snprintf(e, sizeof(e), "}, \"merges\": []}, ");
	put(&b, e, strlen(e));
	snprintf(e, sizeof(e), "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, ");
	put(&b, e, strlen(e));
	snprintf(e, sizeof(e), "\"added_tokens\": []}");
	put(&b, e, strlen(e) + 1);
	cw_write_text(dir, "tokenizer.json", (const char *)b.p);
	free(b.p);
}

/* ---- files ---- */

void cw_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f, "cannot create %s", path);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

void cw_write_in(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cw_write_file(path, data, len);
}

void cw_write_text(const char *dir, const char *name, const char *text)
{
	cw_write_in(dir, name, text, strlen(text));
}
