// SPDX-License-Identifier: MIT
/*
 * hc-bake's GGUF and Hugging Face readers: the shared fixtures bake to identical ROMs,
 * re-quantization matches llama.cpp bit for bit, and crafted hostile files give clear
 * errors instead of crashes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include "hc_test.h"
#include "bake.h"
#include "bake_io.h"
#include "quant.h"
#include "rom.h"
#include "tokenizer.h"

#define ERRLEN 512

/* ---- temp dirs ---------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void tmp_make(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/hc-test-readers-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void tmp_remove(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	write_file(dir, name, text, strlen(text));
}

/* ---- ROM comparisons ---------------------------------------------------------------- */

static struct hc_rom *bake_to_rom(struct bake_source *src, uint32_t wtype, const char *path)
{
	char err[ERRLEN] = "";
	struct hc_rom *rom = NULL;
	int rc = bake_write_rom(src, wtype, path, 0, err, sizeof(err));

	ck_assert_msg(rc == 0, "bake %s: %s", path, err);
	rc = hc_rom_open(path, &rom, err, sizeof(err));
	ck_assert_msg(rc == 0, "open %s: %s", path, err);
	return rom;
}

static void assert_tensor_same(const struct hc_rom *a, const struct hc_rom_tensor *ta,
			       const struct hc_rom *b, const struct hc_rom_tensor *tb)
{
	ck_assert_msg(ta && tb, "tensor missing");
	ck_assert_msg(ta->type == tb->type && ta->n_dims == tb->n_dims &&
		      ta->shape[0] == tb->shape[0] && ta->shape[1] == tb->shape[1] &&
		      ta->size == tb->size, "tensor '%s' / '%s': type or shape differs",
		      ta->name, tb->name);
	ck_assert_msg(memcmp(hc_rom_data(a, ta), hc_rom_data(b, tb), ta->size) == 0,
		      "tensor '%s' data differs from '%s'", ta->name, tb->name);
}

static void open_source(int gguf, const char *path, struct bake_source **src)
{
	char err[ERRLEN] = "";
	int rc = gguf ? bake_open_gguf(path, src, err, sizeof(err)) :
		 bake_open_hf(path, src, err, sizeof(err));

	ck_assert_msg(rc == 0, "%s: %s", path, err);
}

static struct hc_tokenizer *rom_tokenizer(const struct hc_rom *rom)
{
	struct hc_tokenizer *tok = NULL;
	char err[ERRLEN] = "";
	size_t len;
	const void *blob = hc_rom_tokenizer_blob(rom, &len);

	ck_assert_ptr_nonnull(blob);
	ck_assert_msg(hc_tok_load(blob, len, &tok, err, sizeof(err)) == 0, "%s", err);
	return tok;
}

/* ---- GGUF vs Hugging Face: the same model -------------------------------------------- */

START_TEST(test_gguf_hf_rows_agree)
{
	char g[512], h[512];
	struct bake_source *sg, *sh;
	float *fa, *fb;

	HC_REQUIRE_SHARED("models/gguf/tiny-llama3-BF16.gguf", g);
	HC_REQUIRE_SHARED("models/tiny-llama3-hf/config.json", h);
	hc_test_shared("models/tiny-llama3-hf", h, sizeof(h));
	open_source(1, g, &sg);
	open_source(0, h, &sh);
	ck_assert_uint_eq(sg->n_tensors, sh->n_tensors);
	ck_assert_uint_eq(sg->n_tensors, 1 + 9 * 4 + 2);
	ck_assert_int_eq(memcmp(&sg->arch, &sh->arch, sizeof(sg->arch)), 0);
	ck_assert_uint_eq(sg->arch.rope_scaling, HC_ROPE_LLAMA3);
	ck_assert_float_eq(sg->arch.rope_factor, 8.0f);
	ck_assert_float_eq(sg->arch.rope_low_freq_factor, 1.0f);
	ck_assert_float_eq(sg->arch.rope_high_freq_factor, 4.0f);
	ck_assert_uint_eq(sg->arch.rope_orig_ctx, 8192);
	ck_assert_uint_eq(sg->arch.n_kv_heads, 2);
	ck_assert_uint_eq(sg->arch.flags, 0);
	ck_assert_str_eq(sh->name, "tiny-llama3-hf");
	for (uint32_t i = 0; i < sg->n_tensors; i++) {
		const struct bake_tensor *a = &sg->tensors[i], *b = &sh->tensors[i];
		uint64_t rows = a->shape[1], n = a->shape[0];
		char err[ERRLEN];

		ck_assert_str_eq(a->name, b->name);
		ck_assert_uint_eq(a->shape[0], b->shape[0]);
		ck_assert_uint_eq(a->shape[1], b->shape[1]);
		ck_assert_uint_eq(a->n_dims, b->n_dims);
		if (strstr(a->name, "attn_q") == NULL && strstr(a->name, "attn_k") == NULL)
			continue;
		/* odd row ranges: the permutation must hold for any window */
		fa = malloc(rows * n * sizeof(float));
		fb = malloc(rows * n * sizeof(float));
		for (uint64_t r0 = 0; r0 < rows; r0 += 7) {
			uint64_t k = rows - r0 < 7 ? rows - r0 : 7;

			ck_assert_int_eq(sg->read_rows_f32(sg, i, r0, k, fa, err, sizeof(err)), 0);
			ck_assert_int_eq(sh->read_rows_f32(sh, i, r0, k, fb, err, sizeof(err)), 0);
			ck_assert_msg(memcmp(fa, fb, k * n * sizeof(float)) == 0,
				      "%s rows %" PRIu64 "..: GGUF and HF differ", a->name, r0);
		}
		free(fa);
		free(fb);
	}
	sg->close(sg);
	sh->close(sh);
}
END_TEST

START_TEST(test_gguf_hf_same_rom)
{
	char g[512], h[512], dir[64], pg[128], ph[128];
	struct bake_source *sg, *sh;
	struct hc_rom *rg, *rh;
	const struct hc_rom_header *hg, *hh;
	struct hc_tokenizer *tg, *th;
	static const char *const texts[] = {
		"Hello, world! The quick brown fox jumps over the lazy dog.",
		"  leading spaces, tabs\tand\nnewlines\n\n  1234567 numbers, émojis 🦙 and ünïcödé",
		"<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
	};

	HC_REQUIRE_SHARED("models/gguf/tiny-llama3-BF16.gguf", g);
	HC_REQUIRE_SHARED("models/tiny-llama3-hf/config.json", h);
	hc_test_shared("models/tiny-llama3-hf", h, sizeof(h));
	tmp_make(dir, sizeof(dir));
	snprintf(pg, sizeof(pg), "%s/gguf.rom", dir);
	snprintf(ph, sizeof(ph), "%s/hf.rom", dir);
	open_source(1, g, &sg);
	rg = bake_to_rom(sg, HC_WTYPE_F32, pg);
	sg->close(sg);
	open_source(0, h, &sh);
	rh = bake_to_rom(sh, HC_WTYPE_F32, ph);
	sh->close(sh);

	hg = hc_rom_header(rg);
	hh = hc_rom_header(rh);
	ck_assert_int_eq(memcmp(&hg->arch, &hh->arch, sizeof(hg->arch)), 0);
	ck_assert_uint_eq(hg->n_tensors, hh->n_tensors);
	for (uint32_t i = 0; i < hg->n_tensors; i++) {
		const struct hc_rom_tensor *a = hc_rom_tensor_at(rg, i);

		assert_tensor_same(rg, a, rh, hc_rom_find(rh, a->name));
	}

	tg = rom_tokenizer(rg);
	th = rom_tokenizer(rh);
	ck_assert_uint_eq(hc_tok_vocab_size(tg), 128256);
	ck_assert_uint_eq(hc_tok_vocab_size(tg), hc_tok_vocab_size(th));
	ck_assert_int_eq(hc_tok_bos(tg), 128000);
	ck_assert_int_eq(hc_tok_bos(tg), hc_tok_bos(th));
	ck_assert_int_eq(hc_tok_eos(tg), hc_tok_eos(th));
	{
		/* GGUF has no generation_config.json: its stops are llama.cpp's (eos and tokens
		 * named like <|end_of_text|>), a subset of the HF list 128001, 128008, 128009 */
		int32_t sg[16], sh[16];
		uint32_t ng = hc_tok_stop_ids(tg, sg, 16), nh = hc_tok_stop_ids(th, sh, 16);
		int has_eot = 0, has_eot_text = 0;

		for (uint32_t k = 0; k < ng; k++) {
			int found = 0;

			for (uint32_t j = 0; j < nh; j++)
				found |= sg[k] == sh[j];
			ck_assert_msg(found, "GGUF stop id %d is not a HF stop id", sg[k]);
			has_eot |= sg[k] == 128009;
			has_eot_text |= sg[k] == 128001;
		}
		ck_assert(has_eot && has_eot_text);
	}
	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		for (unsigned fl = 0; fl < 4; fl++) {
			int32_t ia[256], ib[256];
			size_t na = 0, nb = 0;

			ck_assert_int_eq(hc_tok_encode(tg, texts[t], strlen(texts[t]), fl, ia, 256,
						       &na), 0);
			ck_assert_int_eq(hc_tok_encode(th, texts[t], strlen(texts[t]), fl, ib, 256,
						       &nb), 0);
			ck_assert_uint_eq(na, nb);
			ck_assert_int_eq(memcmp(ia, ib, na * sizeof(int32_t)), 0);
		}
	}
	{
		struct hc_chat_msg m[2] = { { "system", "Be brief." }, { "user", "Hi there" } };
		int32_t ia[128], ib[128];
		size_t na = 0, nb = 0;

		ck_assert_int_eq(hc_tok_chat(tg, m, 2, 1, ia, 128, &na), 0);
		ck_assert_int_eq(hc_tok_chat(th, m, 2, 1, ib, 128, &nb), 0);
		ck_assert_uint_eq(na, nb);
		ck_assert_int_eq(memcmp(ia, ib, na * sizeof(int32_t)), 0);
	}
	hc_tok_free(tg);
	hc_tok_free(th);
	hc_rom_close(rg);
	hc_rom_close(rh);
	tmp_remove(dir);
}
END_TEST

/* ---- Q8_0 re-quantization matches llama-quantize ------------------------------------ */

/*
 * Explain one differing block: re-quantize the source floats with candidate rules and
 * say which reproduces llama.cpp's block. ggml's quantize_row_q8_0_ref is
 * d = amax / 127, id = 1 / d, q = roundf(x * id) (half away from zero).
 */
static void explain_block(const float *x, const struct hc_block_q8_0 *ours,
			  const struct hc_block_q8_0 *theirs, char *out, size_t len)
{
	float amax = 0;
	int j0 = -1;
	const char *rule = "none of: roundf(x*id), nearbyintf(x*id), roundf(x/d), "
			   "roundf(x/fp16(d))";

	for (int j = 0; j < HC_QK; j++)
		amax = fmaxf(amax, fabsf(x[j]));
	for (int j = 0; j < HC_QK && j0 < 0; j++)
		if (ours->qs[j] != theirs->qs[j])
			j0 = j;
	{
		const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
		const float dh = hc_fp16_to_f32(hc_f32_to_fp16(d));
		int ok[4] = { 1, 1, 1, 1 };

		for (int j = 0; j < HC_QK; j++) {
			ok[0] &= (int8_t)roundf(x[j] * id) == theirs->qs[j];
			ok[1] &= (int8_t)nearbyintf(x[j] * id) == theirs->qs[j];
			ok[2] &= d && (int8_t)roundf(x[j] / d) == theirs->qs[j];
			ok[3] &= dh && (int8_t)roundf(x[j] / dh) == theirs->qs[j];
		}
		if (ok[0])
			rule = "roundf(x * (1/d)) (ggml reference; our block differs elsewhere)";
		else if (ok[1])
			rule = "nearbyintf(x * (1/d)): round half to even (SIMD path)";
		else if (ok[2])
			rule = "roundf(x / d): division instead of multiplication by 1/d";
		else if (ok[3])
			rule = "roundf(x / fp16(d)): scale rounded to fp16 before use";
	}
	snprintf(out, len, "scale bits ours 0x%04x theirs 0x%04x, first differing quant %d: "
		 "ours %d theirs %d (x = %.9g); llama.cpp's block matches %s", ours->d, theirs->d,
		 j0, j0 >= 0 ? ours->qs[j0] : 0, j0 >= 0 ? theirs->qs[j0] : 0,
		 j0 >= 0 ? x[j0] : 0.0f, rule);
}

START_TEST(test_q8_requant_matches_llama_quantize)
{
	char b16[512], q8[512], dir[64], path[128], err[ERRLEN], why[256];
	struct bake_source *sb, *sq;
	struct hc_rom *rom;
	uint32_t compared = 0, n2d = 0;
	uint64_t bad = 0;

	HC_REQUIRE_SHARED("models/gguf/tiny-llama3-BF16.gguf", b16);
	HC_REQUIRE_SHARED("models/gguf/tiny-llama3-Q8_0.gguf", q8);
	tmp_make(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/q8.rom", dir);
	open_source(1, b16, &sb);
	rom = bake_to_rom(sb, HC_WTYPE_Q8_0, path);
	open_source(1, q8, &sq);
	ck_assert_uint_eq(sq->n_tensors, sb->n_tensors);
	for (uint32_t i = 0; i < sq->n_tensors; i++) {
		const struct bake_tensor *t = &sq->tensors[i];
		const struct hc_rom_tensor *rt = hc_rom_find(rom, t->name);
		const struct hc_block_q8_0 *ours;
		struct hc_block_q8_0 *theirs;
		uint64_t nb;

		ck_assert_ptr_nonnull(rt);
		ck_assert_str_eq(sb->tensors[i].name, t->name);
		if (t->n_dims == 2)
			n2d++;
		if (t->type != HC_WTYPE_Q8_0 || rt->type != HC_WTYPE_Q8_0)
			continue;
		ck_assert_uint_eq(rt->size, hc_row_size(HC_WTYPE_Q8_0, t->shape[0]) * t->shape[1]);
		theirs = malloc(rt->size);
		ck_assert_int_eq(sq->read_rows_raw(sq, i, 0, t->shape[1], theirs, err,
						   sizeof(err)), 0);
		ours = hc_rom_data(rom, rt);
		nb = rt->size / sizeof(*ours);
		for (uint64_t k = 0; k < nb; k++) {
			uint64_t per_row = t->shape[0] / HC_QK, row = k / per_row;
			float x[HC_QK * 8192 / HC_QK];

			if (!memcmp(&ours[k], &theirs[k], sizeof(ours[k])))
				continue;
			if (++bad > 20)
				continue;	/* count the rest */
			ck_assert_uint_le(t->shape[0], sizeof(x) / sizeof(x[0]));
			ck_assert_int_eq(sb->read_rows_f32(sb, i, row, 1, x, err, sizeof(err)), 0);
			explain_block(x + (k % per_row) * HC_QK, &ours[k], &theirs[k], why,
				      sizeof(why));
			printf("DIFF: tensor '%s' block %" PRIu64 ": %s\n", t->name, k, why);
		}
		free(theirs);
		compared++;
	}
	ck_assert_msg(bad == 0, "%" PRIu64 " Q8_0 blocks differ from llama-quantize's (see DIFF "
		      "lines)", bad);
	/* every matrix was compared: token_embd, output and 7 per layer */
	ck_assert_uint_eq(compared, n2d);
	ck_assert_uint_eq(compared, 2 + 7 * 4);
	sb->close(sb);
	sq->close(sq);
	hc_rom_close(rom);
	tmp_remove(dir);
}
END_TEST

/* A Q8_0 GGUF baked to a Q8 ROM keeps its blocks (read_rows_raw), and f32 rows agree. */
START_TEST(test_q8_gguf_rows)
{
	char q8[512], err[ERRLEN];
	struct bake_source *s;
	const struct bake_tensor *t;
	uint32_t i;

	HC_REQUIRE_SHARED("models/gguf/tiny-llama3-Q8_0.gguf", q8);
	open_source(1, q8, &s);
	for (i = 0; i < s->n_tensors && strcmp(s->tensors[i].name, "blk.2.ffn_down.weight"); i++)
		;
	ck_assert_uint_lt(i, s->n_tensors);
	t = &s->tensors[i];
	ck_assert_uint_eq(t->type, HC_WTYPE_Q8_0);
	ck_assert_uint_eq(t->shape[0], 192);
	ck_assert_uint_eq(t->shape[1], 64);
	{
		struct hc_block_q8_0 raw[6 * 3];
		float f[192 * 3], g[192 * 3];

		ck_assert_int_eq(s->read_rows_raw(s, i, 61, 3, raw, err, sizeof(err)), 0);
		ck_assert_int_eq(s->read_rows_f32(s, i, 61, 3, f, err, sizeof(err)), 0);
		for (int r = 0; r < 3; r++)
			hc_dequantize_row(HC_WTYPE_Q8_0, raw + 6 * r, g + 192 * r, 192);
		ck_assert_int_eq(memcmp(f, g, sizeof(f)), 0);
		/* out of range rows are refused with a message */
		ck_assert_int_lt(s->read_rows_raw(s, i, 62, 3, raw, err, sizeof(err)), 0);
		ck_assert_ptr_nonnull(strstr(err, "blk.2.ffn_down.weight"));
	}
	s->close(s);
}
END_TEST

/* ---- stories260K: GGUF F32 vs llama2.c ------------------------------------------------ */

START_TEST(test_stories_gguf_equals_llama2c)
{
	char g[512], b[512], dir[64], pg[128], pb[128], err[ERRLEN];
	struct bake_source *sg, *sb;
	struct hc_rom *rg, *rb;
	const struct hc_rom_header *hg, *hb;

	HC_REQUIRE_SHARED("models/gguf/stories260K-F32.gguf", g);
	HC_REQUIRE_SHARED("models/stories260K.bin", b);
	tmp_make(dir, sizeof(dir));
	snprintf(pg, sizeof(pg), "%s/gguf.rom", dir);
	snprintf(pb, sizeof(pb), "%s/bin.rom", dir);
	open_source(1, g, &sg);
	ck_assert_ptr_nonnull(sg->tok);
	ck_assert_uint_eq(sg->tok->kind, HC_TOK_SPM);
	ck_assert_uint_eq(sg->tok->n_vocab, 512);
	ck_assert_int_eq(sg->tok->bos_id, 1);
	ck_assert_int_eq(sg->tok->eos_id, 2);
	ck_assert_int_eq(sg->tok->pad_id, -1);	/* 0xffffffff in the file */
	ck_assert_uint_eq(sg->arch.ffn_dim, 172);
	rg = bake_to_rom(sg, HC_WTYPE_F32, pg);
	sg->close(sg);
	ck_assert_msg(bake_open_llama2c(b, "builtin", &sb, err, sizeof(err)) == 0, "%s", err);
	rb = bake_to_rom(sb, HC_WTYPE_F32, pb);
	sb->close(sb);

	hg = hc_rom_header(rg);
	hb = hc_rom_header(rb);
#define SAME(f) ck_assert_msg(hg->arch.f == hb->arch.f, "arch." #f " differs")
	SAME(vocab_size); SAME(dim); SAME(n_layers); SAME(n_heads); SAME(n_kv_heads);
	SAME(head_dim); SAME(ffn_dim); SAME(rope_theta); SAME(norm_eps); SAME(rope_scaling);
#undef SAME
	/* llama2.c's classifier is tied; the converter wrote it out as output.weight */
	ck_assert(hb->arch.flags & HC_ARCH_TIED_CLASSIFIER);
	ck_assert(!(hg->arch.flags & HC_ARCH_TIED_CLASSIFIER));
	ck_assert_uint_eq(hg->n_tensors, hb->n_tensors + 1);
	for (uint32_t i = 0; i < hb->n_tensors; i++) {
		const struct hc_rom_tensor *t = hc_rom_tensor_at(rb, i);

		assert_tensor_same(rb, t, rg, hc_rom_find(rg, t->name));
	}
	assert_tensor_same(rb, hc_rom_find(rb, "token_embd.weight"), rg,
			   hc_rom_find(rg, "output.weight"));
	hc_rom_close(rg);
	hc_rom_close(rb);
	tmp_remove(dir);
}
END_TEST

/* ---- crafted GGUF files ------------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 256;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void put_u32(struct buf *b, uint32_t v)
{
	put(b, &v, 4);
}

static void put_u64(struct buf *b, uint64_t v)
{
	put(b, &v, 8);
}

static void put_str(struct buf *b, const char *s)
{
	put_u64(b, strlen(s));
	put(b, s, strlen(s));
}

static void kv_u32(struct buf *b, const char *k, uint32_t v)
{
	put_str(b, k);
	put_u32(b, 4);
	put_u32(b, v);
}

static void kv_f32(struct buf *b, const char *k, float v)
{
	put_str(b, k);
	put_u32(b, 6);
	put(b, &v, 4);
}

static void kv_str(struct buf *b, const char *k, const char *v)
{
	put_str(b, k);
	put_u32(b, 8);
	put_str(b, v);
}

/* Tiny model: dim 32, 1 layer, 2 heads, 1 KV head, ffn 64, vocab 32, context 64. */
#define T_DIM 32
#define T_FFN 64
#define T_VOCAB 32

struct gopt {
	uint32_t version;	/* 0: 3 */
	uint32_t alignment;	/* 0: default (key absent) */
	uint32_t mat_type;	/* type of the matrices: F32 (0), F16, BF16, Q8_0, Q4_0 */
	int tied;		/* omit output.weight */
	const char *bad_type_tensor;	/* this tensor claims type 12 (Q4_K) */
	const char *bad_shape_tensor;	/* this tensor gets one row more */
	int misalign;		/* first tensor offset + 4 */
	const float *rope_freqs;	/* add rope_freqs.weight [8] and freq_base 500000 */
	float low_freq_factor;	/* non-zero: write llama.rope.scaling.low_freq_factor */
};

struct goffs {
	size_t n_tensors, n_kv, first_key, tokens_count, first_tensor_type, data;
};

static const struct {
	const char *name;
	uint64_t ne0, ne1;
} t_tensors[] = {	/* deliberately not in canonical order */
	{ "output.weight", T_DIM, T_VOCAB },
	{ "blk.0.ffn_down.weight", T_FFN, T_DIM },
	{ "token_embd.weight", T_DIM, T_VOCAB },
	{ "blk.0.attn_norm.weight", T_DIM, 1 },
	{ "blk.0.attn_q.weight", T_DIM, T_DIM },
	{ "blk.0.attn_k.weight", T_DIM, 16 },
	{ "blk.0.attn_v.weight", T_DIM, 16 },
	{ "blk.0.attn_output.weight", T_DIM, T_DIM },
	{ "blk.0.ffn_norm.weight", T_DIM, 1 },
	{ "blk.0.ffn_gate.weight", T_DIM, T_FFN },
	{ "blk.0.ffn_up.weight", T_DIM, T_FFN },
	{ "output_norm.weight", T_DIM, 1 },
};
#define N_T (sizeof(t_tensors) / sizeof(t_tensors[0]))

/* Value of element (row, col) of tensor @t: distinct and exactly representable in BF16. */
static float t_value(size_t t, uint64_t row, uint64_t col)
{
	return (float)((int)((t * 131 + row * 17 + col * 5) % 61) - 30) / 16.0f;
}

static uint32_t t_type(const struct gopt *o, size_t t)
{
	return t_tensors[t].ne1 == 1 ? HC_WTYPE_F32 : o->mat_type;
}

static void put_row(struct buf *b, uint32_t type, const float *x, uint64_t n)
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

static void put_pad(struct buf *b, uint32_t align)
{
	static const uint8_t zero[64];

	while (b->n % align)
		put(b, zero, 1);
}

/* A complete GGUF in memory. Exercises every metadata value type. */
static struct buf make_gguf(const struct gopt *o, struct goffs *off)
{
	struct buf b = { 0 }, data = { 0 };
	uint32_t align = o->alignment ? o->alignment : 32;
	uint64_t n_kv = 0, n_t = 0, offsets[N_T], rope_off;
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
	kv_u32(&b, "llama.embedding_length", T_DIM); n_kv++;
	kv_u32(&b, "llama.block_count", 1); n_kv++;
	kv_u32(&b, "llama.feed_forward_length", T_FFN); n_kv++;
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
	put_u64(&b, T_VOCAB);
	for (int k = 0; k < T_VOCAB; k++) {
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
	put_u64(&b, T_VOCAB);
	for (int k = 0; k < T_VOCAB; k++) {
		float s = -(float)k;

		put(&b, &s, 4);
	}
	n_kv++;
	put_str(&b, "tokenizer.ggml.token_type");
	put_u32(&b, 9);
	put_u32(&b, 5);
	put_u64(&b, T_VOCAB);
	for (int k = 0; k < T_VOCAB; k++)
		put_u32(&b, k == 0 ? 2 : k < 3 ? 3 : 1);
	n_kv++;
	kv_u32(&b, "tokenizer.ggml.bos_token_id", 1); n_kv++;
	kv_u32(&b, "tokenizer.ggml.eos_token_id", 2); n_kv++;
	kv_u32(&b, "tokenizer.ggml.padding_token_id", UINT32_MAX); n_kv++;
	memcpy(b.p + kvcount_at, &n_kv, 8);

	/* tensor data first (to know offsets), then infos */
	for (size_t t = 0; t < N_T; t++) {
		uint32_t type = t_type(o, t);
		float row[T_FFN];

		if (o->tied && !strcmp(t_tensors[t].name, "output.weight")) {
			offsets[t] = UINT64_MAX;
			continue;
		}
		put_pad(&data, align);
		offsets[t] = data.n;
		for (uint64_t r = 0; r < t_tensors[t].ne1; r++) {
			for (uint64_t c = 0; c < t_tensors[t].ne0; c++)
				row[c] = t_value(t, r, c);
			put_row(&data, type, row, t_tensors[t].ne0);
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
	for (size_t t = 0; t < N_T; t++) {
		int bad_shape = o->bad_shape_tensor && !strcmp(o->bad_shape_tensor,
							       t_tensors[t].name);

		if (offsets[t] == UINT64_MAX)
			continue;
		put_str(&b, t_tensors[t].name);
		put_u32(&b, t_tensors[t].ne1 == 1 ? 1 : 2);
		put_u64(&b, t_tensors[t].ne0);
		if (t_tensors[t].ne1 != 1)
			put_u64(&b, t_tensors[t].ne1 - (bad_shape ? 1 : 0));
		if (n_t == (o->rope_freqs ? 1 : 0))
			off->first_tensor_type = b.n;
		if (o->bad_type_tensor && !strcmp(o->bad_type_tensor, t_tensors[t].name))
			put_u32(&b, 12);
		else
			put_u32(&b, t_type(o, t));
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

/* Open a crafted GGUF; returns rc, the source in *src if it opened. */
static int open_crafted(const char *dir, const char *name, const void *p, size_t n,
			struct bake_source **src, char *err)
{
	char path[256];

	write_file(dir, name, p, n);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	err[0] = 0;
	*src = NULL;
	return bake_open_gguf(path, src, err, ERRLEN);
}

static void expect_fail(const char *dir, const struct buf *b, const char *needle)
{
	struct bake_source *src;
	char err[ERRLEN];
	int rc = open_crafted(dir, "bad.gguf", b->p, b->n, &src, err);

	ck_assert_msg(rc < 0, "crafted file opened but should fail with '%s'", needle);
	ck_assert_ptr_null(src);
	ck_assert_msg(strstr(err, needle), "error '%s' lacks '%s'", err, needle);
	ck_assert_msg(strstr(err, "bad.gguf"), "error '%s' does not name the file", err);
	ck_assert_msg(!strchr(err, '\n'), "error is not one line: '%s'", err);
}

/* Every element of every tensor reads back as written (F32/BF16 exact, F16 exact). */
static void check_crafted_values(struct bake_source *s, uint32_t mat_type)
{
	char err[ERRLEN];
	float row[T_VOCAB * T_FFN];

	for (uint32_t i = 0; i < s->n_tensors; i++) {
		const struct bake_tensor *bt = &s->tensors[i];
		size_t t;

		for (t = 0; t < N_T && strcmp(t_tensors[t].name, bt->name); t++)
			;
		ck_assert_uint_lt(t, N_T);
		ck_assert_uint_eq(bt->type, bt->n_dims == 1 ? HC_WTYPE_F32 : mat_type);
		ck_assert_int_eq(s->read_rows_f32(s, i, 0, bt->shape[1], row, err, sizeof(err)),
				 0);
		for (uint64_t r = 0; r < bt->shape[1]; r++) {
			float want[T_FFN];

			for (uint64_t c = 0; c < bt->shape[0]; c++)
				want[c] = t_value(t, r, c);
			if (mat_type == HC_WTYPE_Q8_0 && bt->n_dims == 2) {
				struct hc_block_q8_0 q[T_FFN / HC_QK];

				hc_quantize_row_q8_0(want, q, bt->shape[0]);
				hc_dequantize_row(HC_WTYPE_Q8_0, q, want, bt->shape[0]);
			} else if (mat_type == HC_WTYPE_Q4_0 && bt->n_dims == 2) {
				struct hc_block_q4_0 q[T_FFN / HC_QK];

				hc_quantize_row_q4_0(want, q, bt->shape[0]);
				hc_dequantize_row(HC_WTYPE_Q4_0, q, want, bt->shape[0]);
			}
			ck_assert_msg(!memcmp(want, row + r * bt->shape[0],
					      bt->shape[0] * sizeof(float)),
				      "%s row %" PRIu64 " differs", bt->name, r);
		}
	}
}

START_TEST(test_crafted_gguf_valid)
{
	static const uint32_t types[] = { HC_WTYPE_F32, HC_WTYPE_F16, HC_WTYPE_BF16,
					  HC_WTYPE_Q8_0, HC_WTYPE_Q4_0 };
	char dir[64], err[ERRLEN];
	struct bake_source *s;
	struct goffs off;

	tmp_make(dir, sizeof(dir));
	for (uint32_t v = 2; v <= 3; v++) {
		for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
			struct gopt o = { .version = v, .mat_type = types[k],
					  .alignment = k == 1 ? 64 : 0, .tied = k == 2 };
			struct buf b = make_gguf(&o, &off);
			int rc = open_crafted(dir, "ok.gguf", b.p, b.n, &s, err);

			ck_assert_msg(rc == 0, "v%u type %u: %s", v, types[k], err);
			ck_assert_str_eq(s->name, "crafted");
			ck_assert_uint_eq(s->arch.dim, T_DIM);
			ck_assert_uint_eq(s->arch.n_layers, 1);
			ck_assert_uint_eq(s->arch.n_heads, 2);
			ck_assert_uint_eq(s->arch.n_kv_heads, 1);
			ck_assert_uint_eq(s->arch.head_dim, 16);
			ck_assert_uint_eq(s->arch.ffn_dim, T_FFN);
			ck_assert_uint_eq(s->arch.vocab_size, T_VOCAB);	/* from the tokens */
			ck_assert_uint_eq(s->arch.max_ctx, 64);
			ck_assert_uint_eq(s->arch.rope_scaling, HC_ROPE_NONE);
			ck_assert_uint_eq(!!(s->arch.flags & HC_ARCH_TIED_CLASSIFIER), o.tied);
			ck_assert_uint_eq(s->n_tensors, o.tied ? N_T - 1 : N_T);
			/* canonical order whatever the file order */
			ck_assert_str_eq(s->tensors[0].name, "token_embd.weight");
			ck_assert_str_eq(s->tensors[1].name, "blk.0.attn_norm.weight");
			ck_assert_str_eq(s->tensors[10].name, "output_norm.weight");
			ck_assert_ptr_nonnull(s->tok);
			ck_assert_uint_eq(s->tok->kind, HC_TOK_SPM);
			ck_assert_uint_eq(s->tok->n_vocab, T_VOCAB);
			ck_assert_str_eq(s->tok->pieces[5], "\xe2\x96\x81t5");
			ck_assert_float_eq(s->tok->scores[7], -7.0f);
			ck_assert_uint_eq(s->tok->types[0], HC_TT_UNKNOWN);
			ck_assert_uint_eq(s->tok->types[1], HC_TT_CONTROL);
			ck_assert_int_eq(s->tok->bos_id, 1);
			ck_assert_int_eq(s->tok->eos_id, 2);
			ck_assert_int_eq(s->tok->pad_id, -1);
			ck_assert_int_eq(s->tok->unk_id, -1);
			check_crafted_values(s, types[k]);
			s->close(s);
			free(b.p);
		}
	}
	tmp_remove(dir);
}
END_TEST

START_TEST(test_crafted_gguf_hostile)
{
	char dir[64];
	struct gopt o = { 0 };
	struct goffs off;
	struct buf good = make_gguf(&o, &off), b;
	uint64_t huge = UINT64_MAX / 2;

	tmp_make(dir, sizeof(dir));
#define MUT(code, needle)                                              \
	do {                                                           \
		b.n = good.n;                                          \
		b.p = malloc(good.n);                                  \
		memcpy(b.p, good.p, good.n);                           \
		code;                                                  \
		expect_fail(dir, &b, needle);                          \
		free(b.p);                                             \
	} while (0)
	MUT(memcpy(b.p, "GGML", 4), "not a GGUF file");
	MUT(b.p[4] = 1, "version 1 is not supported");
	MUT(b.p[4] = 9, "version 9 is not supported");
	MUT(memcpy(b.p + off.n_tensors, &huge, 8), "cannot hold");
	MUT(memcpy(b.p + off.n_kv, &huge, 8), "metadata entries");
	MUT(memcpy(b.p + off.first_key, &huge, 8), "runs past the end of the file");
	MUT(memcpy(b.p + off.tokens_count, &huge, 8), "cannot fit in a file");
	MUT(b.n = off.data + 100, "truncated: tensor");
	MUT(b.n = off.data - 1, "truncated");
	MUT(b.n = 3, "truncated");
	MUT(memset(b.p + off.first_tensor_type, 0xee, 1), "type 238 (unknown) is not supported");
	free(good.p);

	/* structural variants */
	{
		struct gopt v[] = {
			{ .bad_type_tensor = "blk.0.ffn_up.weight" },
			{ .bad_shape_tensor = "blk.0.attn_k.weight" },
			{ .misalign = 1 },
		};
		const char *needle[] = {
			("tensor 'blk.0.ffn_up.weight' type 12 (Q4_K) is not supported; supported: "
			 "F32, F16, BF16, Q8_0, Q4_0"),
			"tensor 'blk.0.attn_k.weight' has shape [32, 15], expected [32, 16]",
			"is not a multiple of the alignment 32",
		};

		for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
			b = make_gguf(&v[k], &off);
			expect_fail(dir, &b, needle[k]);
			free(b.p);
		}
	}
	tmp_remove(dir);
#undef MUT
}
END_TEST

/* Llama 3.1 scaling recovered from rope_freqs.weight, and refused when inconsistent. */
START_TEST(test_crafted_gguf_rope_freqs)
{
	/* what convert_hf_to_gguf.py writes for head_dim 16, theta 500000, Llama 3.1 */
	static const float good[8] = { 1, 1, 1, 1, 2.69453001f, 8, 8, 8 };
	static const float ones[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
	float bad[8];
	char dir[64], err[ERRLEN];
	struct bake_source *s;
	struct goffs off;
	struct gopt o = { .rope_freqs = good };
	struct buf b = make_gguf(&o, &off);

	tmp_make(dir, sizeof(dir));
	ck_assert_msg(open_crafted(dir, "r.gguf", b.p, b.n, &s, err) == 0, "%s", err);
	free(b.p);
	ck_assert_uint_eq(s->arch.rope_scaling, HC_ROPE_LLAMA3);
	ck_assert_float_eq(s->arch.rope_factor, 8.0f);
	ck_assert_float_eq(s->arch.rope_low_freq_factor, 1.0f);
	ck_assert_float_eq(s->arch.rope_high_freq_factor, 4.0f);
	ck_assert_uint_eq(s->arch.rope_orig_ctx, 8192);
	ck_assert_float_eq(s->arch.rope_theta, 500000.0f);
	ck_assert_uint_eq(s->n_tensors, N_T);	/* rope_freqs is not a ROM tensor */
	s->close(s);

	o.rope_freqs = ones;
	b = make_gguf(&o, &off);
	ck_assert_msg(open_crafted(dir, "r.gguf", b.p, b.n, &s, err) == 0, "%s", err);
	free(b.p);
	ck_assert_uint_eq(s->arch.rope_scaling, HC_ROPE_NONE);
	s->close(s);

	memcpy(bad, good, sizeof(bad));
	bad[4] = 2.5f;
	o.rope_freqs = bad;
	b = make_gguf(&o, &off);
	expect_fail(dir, &b, "rope_freqs.weight[4] = 2.5 but Llama 3 scaling (factor 8, "
		    "low_freq_factor 1, high_freq_factor 4, original context 8192) gives 2.69");
	free(b.p);
	bad[4] = 0.5f;
	b = make_gguf(&o, &off);
	expect_fail(dir, &b, "rope_freqs.weight[4] = 0.5 is not a Llama 3 scaling divisor");
	free(b.p);
	/* the keys, when present, take part in the check */
	o.rope_freqs = good;
	o.low_freq_factor = 2.0f;
	b = make_gguf(&o, &off);
	expect_fail(dir, &b, "low_freq_factor 2");
	free(b.p);
	tmp_remove(dir);
}
END_TEST

/* Every truncation and many single-byte corruptions of a valid file: error or success,
 * never a crash or an out-of-bounds read (run under valgrind to see the latter). */
START_TEST(test_crafted_gguf_fuzz)
{
	char dir[64], err[ERRLEN];
	struct gopt o = { .mat_type = HC_WTYPE_Q8_0 };
	struct goffs off;
	struct buf good = make_gguf(&o, &off);
	struct bake_source *s;
	uint8_t *p = malloc(good.n);
	static const uint8_t vals[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };

	tmp_make(dir, sizeof(dir));
	for (size_t n = 0; n < good.n; n += n < off.data ? 1 : 97) {
		int rc = open_crafted(dir, "t.gguf", good.p, n, &s, err);

		ck_assert_msg(rc < 0, "truncated to %zu bytes yet opened", n);
		ck_assert_msg(err[0] && strstr(err, "t.gguf"), "no message at %zu", n);
	}
	for (size_t at = 0; at < off.data; at++) {
		for (size_t v = 0; v < sizeof(vals); v++) {
			memcpy(p, good.p, good.n);
			if (p[at] == vals[v])
				continue;
			p[at] = vals[v];
			if (open_crafted(dir, "c.gguf", p, good.n, &s, err) == 0) {
				char e2[ERRLEN];
				float row[T_FFN * T_VOCAB];

				/* a corruption that still parses must still read in bounds */
				for (uint32_t i = 0; i < s->n_tensors; i++)
					if (s->tensors[i].shape[0] * s->tensors[i].shape[1] <=
					    sizeof(row) / sizeof(row[0]))
						s->read_rows_f32(s, i, 0, s->tensors[i].shape[1], row, e2,
							 sizeof(e2));
				s->close(s);
			} else {
				ck_assert_msg(err[0] != 0, "corrupt byte %zu: no message", at);
			}
		}
	}
	free(p);
	free(good.p);
	tmp_remove(dir);
}
END_TEST

/* ---- crafted Hugging Face directories ------------------------------------------------- */

static const char hf_config[] =
	"{\"model_type\": \"llama\", \"hidden_size\": 32, \"num_hidden_layers\": 1,"
	" \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"intermediate_size\": 64,"
	" \"vocab_size\": 32, \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0,"
	" \"max_position_embeddings\": 64, \"tie_word_embeddings\": true}";

/* HF shapes ([out, in]) of the tied tiny model. */
static const struct {
	const char *name;
	uint64_t out, in;	/* in == 0: 1-D */
} hf_tensors[] = {
	{ "model.embed_tokens.weight", T_VOCAB, T_DIM },
	{ "model.layers.0.input_layernorm.weight", T_DIM, 0 },
	{ "model.layers.0.self_attn.q_proj.weight", T_DIM, T_DIM },
	{ "model.layers.0.self_attn.k_proj.weight", 16, T_DIM },
	{ "model.layers.0.self_attn.v_proj.weight", 16, T_DIM },
	{ "model.layers.0.self_attn.o_proj.weight", T_DIM, T_DIM },
	{ "model.layers.0.post_attention_layernorm.weight", T_DIM, 0 },
	{ "model.layers.0.mlp.gate_proj.weight", T_FFN, T_DIM },
	{ "model.layers.0.mlp.up_proj.weight", T_FFN, T_DIM },
	{ "model.layers.0.mlp.down_proj.weight", T_DIM, T_FFN },
	{ "model.norm.weight", T_DIM, 0 },
};
#define N_HF (sizeof(hf_tensors) / sizeof(hf_tensors[0]))

/* A safetensors file of zeros; @skip drops a tensor, @dtype/@bump alter one. */
static struct buf make_st(const char *skip, const char *alter, const char *dtype, int bump,
			  uint64_t extra_len)
{
	struct buf json = { 0 }, b = { 0 };
	uint64_t off = 0, hlen;
	char ent[512];

	put(&json, "{\"__metadata__\": {\"format\": \"pt\"}",
	    strlen("{\"__metadata__\": {\"format\": \"pt\"}"));
	for (size_t k = 0; k < N_HF; k++) {
		const char *dt = "F32";
		uint64_t out = hf_tensors[k].out, n, bytes;

		if (skip && !strcmp(skip, hf_tensors[k].name))
			continue;
		if (alter && !strcmp(alter, hf_tensors[k].name)) {
			dt = dtype ? dtype : dt;
			out += (uint64_t)bump;
		}
		n = out * (hf_tensors[k].in ? hf_tensors[k].in : 1);
		bytes = n * (!strcmp(dt, "F32") ? 4 : !strcmp(dt, "I8") ? 1 : 2);
		if (hf_tensors[k].in)
			snprintf(ent, sizeof(ent), ", \"%s\": {\"dtype\": \"%s\", \"shape\": [%" PRIu64
				 ", %" PRIu64 "], \"data_offsets\": [%" PRIu64 ", %" PRIu64 "]}",
				 hf_tensors[k].name, dt, out, hf_tensors[k].in, off, off + bytes);
		else
			snprintf(ent, sizeof(ent), ", \"%s\": {\"dtype\": \"%s\", \"shape\": [%" PRIu64
				 "], \"data_offsets\": [%" PRIu64 ", %" PRIu64 "]}",
				 hf_tensors[k].name, dt, out, off, off + bytes);
		put(&json, ent, strlen(ent));
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

static void expect_hf_fail(const char *dir, const char *needle)
{
	struct bake_source *src = NULL;
	char err[ERRLEN] = "";
	int rc = bake_open_hf(dir, &src, err, sizeof(err));

	ck_assert_msg(rc < 0, "crafted directory opened but should fail with '%s'", needle);
	ck_assert_ptr_null(src);
	ck_assert_msg(strstr(err, needle), "error '%s' lacks '%s'", err, needle);
	ck_assert_msg(!strchr(err, '\n'), "error is not one line: '%s'", err);
}

START_TEST(test_crafted_hf_hostile)
{
	char dir[64];
	struct buf b;

	tmp_make(dir, sizeof(dir));
	expect_hf_fail(dir, "config.json");	/* nothing there */
	write_text(dir, "config.json", "{\"model_type\": \"llama\", ");
	expect_hf_fail(dir, "config.json: not valid JSON");
	write_text(dir, "config.json", "{\"model_type\": \"mistral\"}");
	expect_hf_fail(dir, "model_type 'mistral' is not supported; supported: llama");
	write_text(dir, "config.json", "{\"model_type\": \"llama\", \"hidden_size\": 32}");
	expect_hf_fail(dir, "missing \"num_hidden_layers\"");
	write_text(dir, "config.json", hf_config);

	expect_hf_fail(dir, "model.safetensors: No such file");
	b = make_st(NULL, NULL, NULL, 0, 0);
	write_file(dir, "model.safetensors", b.p, 5);
	expect_hf_fail(dir, "too short for a safetensors header");
	write_file(dir, "model.safetensors", b.p, b.n - 1);
	expect_hf_fail(dir, "truncated: tensor 'model.norm.weight' data");
	free(b.p);
	b = make_st(NULL, NULL, NULL, 0, 1u << 30);
	write_file(dir, "model.safetensors", b.p, b.n);
	expect_hf_fail(dir, "truncated: header length");
	free(b.p);
	b = make_st(NULL, NULL, NULL, 0, 0);
	b.p[8 + 1] = ',';	/* break the JSON: "{,"__metadata__"..." */
	write_file(dir, "model.safetensors", b.p, b.n);
	expect_hf_fail(dir, "header is not valid JSON");
	free(b.p);
	b = make_st(NULL, "model.layers.0.mlp.up_proj.weight", "I8", 0, 0);
	write_file(dir, "model.safetensors", b.p, b.n);
	expect_hf_fail(dir, "tensor 'model.layers.0.mlp.up_proj.weight' dtype I8 is not "
		       "supported; supported: F32, F16, BF16");
	free(b.p);
	b = make_st(NULL, "model.layers.0.mlp.up_proj.weight", NULL, 1, 0);
	write_file(dir, "model.safetensors", b.p, b.n);
	expect_hf_fail(dir, "model.safetensors: tensor 'model.layers.0.mlp.up_proj.weight' has "
		       "shape [65, 32], expected [64, 32]");
	free(b.p);
	b = make_st("model.layers.0.self_attn.k_proj.weight", NULL, NULL, 0, 0);
	write_file(dir, "model.safetensors", b.p, b.n);
	expect_hf_fail(dir, "missing tensor 'model.layers.0.self_attn.k_proj.weight'");
	free(b.p);

	/* a complete, valid checkpoint but no tokenizer */
	b = make_st(NULL, NULL, NULL, 0, 0);
	write_file(dir, "model.safetensors", b.p, b.n);
	free(b.p);
	expect_hf_fail(dir, "tokenizer.json: missing tokenizer");

	/* sharded: the index may not point outside the directory */
	write_text(dir, "model.safetensors.index.json",
		   "{\"weight_map\": {\"model.norm.weight\": \"../evil.safetensors\"}}");
	expect_hf_fail(dir, "is not a file name in the directory");
	write_text(dir, "model.safetensors.index.json",
		   "{\"weight_map\": {\"model.norm.weight\": \"model.safetensors\", "
		   "\"model.layers.0.self_attn.rotary_emb.inv_freq\": \"model.safetensors\"}}");
	expect_hf_fail(dir, "(listed in model.safetensors.index.json) is not in the file");
	tmp_remove(dir);
}
END_TEST

/* Minimal byte-level BPE tokenizer.json with the model's 32 tokens. */
static void write_hf_tokenizer(const char *dir)
{
	struct buf b = { 0 };
	char e[64];

	snprintf(e, sizeof(e), "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
	put(&b, e, strlen(e));
	for (int k = 0; k < T_VOCAB; k++) {
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
	write_text(dir, "tokenizer.json", (const char *)b.p);
	free(b.p);
}

/* Element (row, col) of HF tensor @t, exact in F16 and BF16. */
static float hf_value(size_t t, uint64_t row, uint64_t col)
{
	return (float)((int)((t * 7 + row * 29 + col * 3) % 53) - 26) / 8.0f;
}

/* A safetensors file with every tensor of dtype @dt filled with hf_value. */
static struct buf make_st_values(const char *dt)
{
	struct buf json = { 0 }, data = { 0 }, b = { 0 };
	uint32_t type = !strcmp(dt, "F32") ? HC_WTYPE_F32 : !strcmp(dt, "F16") ? HC_WTYPE_F16 :
			HC_WTYPE_BF16;
	char ent[512];

	put(&json, "{", 1);
	for (size_t k = 0; k < N_HF; k++) {
		uint64_t in = hf_tensors[k].in ? hf_tensors[k].in : hf_tensors[k].out;
		uint64_t rows = hf_tensors[k].in ? hf_tensors[k].out : 1, start = data.n;
		float row[T_FFN];

		for (uint64_t r = 0; r < rows; r++) {
			for (uint64_t c = 0; c < in; c++)
				row[c] = hf_value(k, r, c);
			put_row(&data, type, row, in);
		}
		if (hf_tensors[k].in)
			snprintf(ent, sizeof(ent), "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [%" PRIu64
				 ", %" PRIu64 "], \"data_offsets\": [%zu, %zu]}", k ? ", " : "",
				 hf_tensors[k].name, dt, rows, in, (size_t)start, data.n);
		else
			snprintf(ent, sizeof(ent), "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [%" PRIu64
				 "], \"data_offsets\": [%zu, %zu]}", k ? ", " : "",
				 hf_tensors[k].name, dt, in, (size_t)start, data.n);
		put(&json, ent, strlen(ent));
	}
	put(&json, "}", 1);
	put_u64(&b, json.n);
	put(&b, json.p, json.n);
	put(&b, data.p, data.n);
	free(json.p);
	free(data.p);
	return b;
}

/* Names, shapes, tying and the q/k permutation on a crafted checkpoint of each dtype. */
START_TEST(test_crafted_hf_valid)
{
	static const char *const dts[] = { "F32", "F16", "BF16" };
	char dir[64], err[ERRLEN];

	tmp_make(dir, sizeof(dir));
	write_text(dir, "config.json", hf_config);
	write_hf_tokenizer(dir);
	for (size_t d = 0; d < 3; d++) {
		struct buf b = make_st_values(dts[d]);
		struct bake_source *s = NULL;
		float row[T_VOCAB * T_FFN];
		int rc;

		write_file(dir, "model.safetensors", b.p, b.n);
		free(b.p);
		rc = bake_open_hf(dir, &s, err, sizeof(err));
		ck_assert_msg(rc == 0, "%s: %s", dts[d], err);
		ck_assert_str_eq(s->name, strrchr(dir, '/') + 1);
		ck_assert(s->arch.flags & HC_ARCH_TIED_CLASSIFIER);
		ck_assert_uint_eq(s->arch.rope_scaling, HC_ROPE_NONE);
		ck_assert_uint_eq(s->arch.head_dim, 16);
		ck_assert_uint_eq(s->n_tensors, N_HF);
		ck_assert_ptr_nonnull(s->tok);
		ck_assert_uint_eq(s->tok->n_vocab, T_VOCAB);
		for (uint32_t i = 0; i < s->n_tensors; i++) {
			const struct bake_tensor *bt = &s->tensors[i];
			uint32_t heads = strstr(bt->name, "attn_q") ? 2 :
					 strstr(bt->name, "attn_k") ? 1 : 0;
			size_t k = i;	/* hf_tensors is in canonical order */

			ck_assert_uint_eq(bt->n_dims, hf_tensors[k].in ? 2 : 1);
			ck_assert_uint_eq(bt->shape[0], hf_tensors[k].in ? hf_tensors[k].in :
					  hf_tensors[k].out);
			ck_assert_uint_eq(bt->shape[1], hf_tensors[k].in ? hf_tensors[k].out : 1);
			ck_assert_int_eq(s->read_rows_f32(s, i, 0, bt->shape[1], row, err,
							  sizeof(err)), 0);
			for (uint64_t r = 0; r < bt->shape[1]; r++) {
				/* interleaved row 2i+j of a head = rotate-half row j*8+i */
				uint64_t src = heads ? (r / 16) * 16 + (r % 2) * 8 + (r % 16) / 2 : r;

				for (uint64_t c = 0; c < bt->shape[0]; c++)
					ck_assert_msg(row[r * bt->shape[0] + c] == hf_value(k, src, c),
						      "%s %s row %" PRIu64 " col %" PRIu64, dts[d],
						      bt->name, r, c);
			}
		}
		s->close(s);
	}
	tmp_remove(dir);
}
END_TEST

/* Truncations and byte flips of a safetensors header: an error or a clean open. */
START_TEST(test_crafted_hf_fuzz)
{
	static const uint8_t vals[] = { 0x00, '"', '9', 0xff };
	char dir[64], err[ERRLEN];
	struct buf good = make_st_values("BF16");
	uint64_t hlen;
	uint8_t *p = malloc(good.n);
	float row[T_VOCAB * T_FFN];

	memcpy(&hlen, good.p, 8);
	tmp_make(dir, sizeof(dir));
	write_text(dir, "config.json", hf_config);
	write_hf_tokenizer(dir);
	for (size_t n = 0; n < good.n; n += n < 8 + hlen ? 7 : 501) {
		struct bake_source *s = NULL;

		write_file(dir, "model.safetensors", good.p, n);
		err[0] = 0;
		ck_assert_msg(bake_open_hf(dir, &s, err, sizeof(err)) < 0,
			      "truncated to %zu bytes yet opened", n);
		ck_assert_msg(strstr(err, "model.safetensors"), "truncated to %zu: '%s'", n, err);
	}
	for (size_t at = 0; at < 8 + hlen; at++) {
		for (size_t v = 0; v < sizeof(vals); v++) {
			struct bake_source *s = NULL;

			memcpy(p, good.p, good.n);
			if (p[at] == vals[v])
				continue;
			p[at] = vals[v];
			write_file(dir, "model.safetensors", p, good.n);
			err[0] = 0;
			if (bake_open_hf(dir, &s, err, sizeof(err)) == 0) {
				char e2[ERRLEN];

				for (uint32_t i = 0; i < s->n_tensors; i++)
					s->read_rows_f32(s, i, 0, s->tensors[i].shape[1], row, e2,
							 sizeof(e2));
				s->close(s);
			} else {
				ck_assert_msg(err[0] && !strchr(err, '\n'), "byte %zu: bad message '%s'",
					      at, err);
			}
		}
	}
	free(p);
	free(good.p);
	tmp_remove(dir);
}
END_TEST

START_TEST(test_perm_row)
{
	/* head_dim 8: output rows 0..7 come from 0,4,1,5,2,6,3,7 (per head) */
	static const uint64_t want[16] = { 0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15 };

	for (uint64_t r = 0; r < 16; r++)
		ck_assert_uint_eq(bake_perm_row(r, 8), want[r]);
	ck_assert_str_eq(bake_type_name(12), "Q4_K");
	ck_assert_str_eq(bake_type_name(30), "BF16");
	ck_assert_str_eq(bake_type_name(1000), "unknown");
}
END_TEST

static Suite *readers_suite(void)
{
	Suite *s = suite_create("readers");
	TCase *tc = hc_tcase(s, "readers", 600);

	tcase_add_test(tc, test_perm_row);
	tcase_add_test(tc, test_crafted_gguf_valid);
	tcase_add_test(tc, test_crafted_gguf_hostile);
	tcase_add_test(tc, test_crafted_gguf_rope_freqs);
	tcase_add_test(tc, test_crafted_gguf_fuzz);
	tcase_add_test(tc, test_crafted_hf_hostile);
	tcase_add_test(tc, test_crafted_hf_valid);
	tcase_add_test(tc, test_crafted_hf_fuzz);
	tcase_add_test(tc, test_gguf_hf_rows_agree);
	tcase_add_test(tc, test_gguf_hf_same_rom);
	tcase_add_test(tc, test_q8_requant_matches_llama_quantize);
	tcase_add_test(tc, test_q8_gguf_rows);
	tcase_add_test(tc, test_stories_gguf_equals_llama2c);
	return s;
}

HC_TEST_MAIN(readers_suite)
