// SPDX-License-Identifier: MIT
/*
 * hc-bake's GGUF and Hugging Face readers: the shared fixtures bake to identical ROMs,
 * re-quantization matches llama.cpp bit for bit, crafted files (ckpt_writer.h) read back
 * exactly, and crafted hostile ones give clear errors instead of crashes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include "ckpt_writer.h"
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

/* Open a crafted GGUF; returns rc, the source in *src if it opened. */
static int open_crafted(const char *dir, const char *name, const void *p, size_t n,
			struct bake_source **src, char *err)
{
	char path[256];

	cw_write_in(dir, name, p, n);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	err[0] = 0;
	*src = NULL;
	return bake_open_gguf(path, src, err, ERRLEN);
}

static void expect_fail(const char *dir, const struct cw_buf *b, const char *needle)
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
	float row[CW_VOCAB * CW_FFN];

	for (uint32_t i = 0; i < s->n_tensors; i++) {
		const struct bake_tensor *bt = &s->tensors[i];
		size_t t;

		for (t = 0; t < CW_N_GGUF && strcmp(cw_gguf_tensors[t].name, bt->name); t++)
			;
		ck_assert_uint_lt(t, CW_N_GGUF);
		ck_assert_uint_eq(bt->type, bt->n_dims == 1 ? HC_WTYPE_F32 : mat_type);
		ck_assert_int_eq(s->read_rows_f32(s, i, 0, bt->shape[1], row, err, sizeof(err)),
				 0);
		for (uint64_t r = 0; r < bt->shape[1]; r++) {
			float want[CW_FFN];

			for (uint64_t c = 0; c < bt->shape[0]; c++)
				want[c] = cw_gguf_value(t, r, c);
			if (mat_type == HC_WTYPE_Q8_0 && bt->n_dims == 2) {
				struct hc_block_q8_0 q[CW_FFN / HC_QK];

				hc_quantize_row_q8_0(want, q, bt->shape[0]);
				hc_dequantize_row(HC_WTYPE_Q8_0, q, want, bt->shape[0]);
			} else if (mat_type == HC_WTYPE_Q4_0 && bt->n_dims == 2) {
				struct hc_block_q4_0 q[CW_FFN / HC_QK];

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
	struct cw_gguf_offs off;

	tmp_make(dir, sizeof(dir));
	for (uint32_t v = 2; v <= 3; v++) {
		for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
			struct cw_gguf_opt o = { .version = v, .mat_type = types[k],
					  .alignment = k == 1 ? 64 : 0, .tied = k == 2 };
			struct cw_buf b = cw_gguf(&o, &off);
			int rc = open_crafted(dir, "ok.gguf", b.p, b.n, &s, err);

			ck_assert_msg(rc == 0, "v%u type %u: %s", v, types[k], err);
			ck_assert_str_eq(s->name, "crafted");
			ck_assert_uint_eq(s->arch.dim, CW_DIM);
			ck_assert_uint_eq(s->arch.n_layers, 1);
			ck_assert_uint_eq(s->arch.n_heads, 2);
			ck_assert_uint_eq(s->arch.n_kv_heads, 1);
			ck_assert_uint_eq(s->arch.head_dim, 16);
			ck_assert_uint_eq(s->arch.ffn_dim, CW_FFN);
			ck_assert_uint_eq(s->arch.vocab_size, CW_VOCAB);	/* from the tokens */
			ck_assert_uint_eq(s->arch.max_ctx, 64);
			ck_assert_uint_eq(s->arch.rope_scaling, HC_ROPE_NONE);
			ck_assert_uint_eq(!!(s->arch.flags & HC_ARCH_TIED_CLASSIFIER), o.tied);
			ck_assert_uint_eq(s->n_tensors, o.tied ? CW_N_GGUF - 1 : CW_N_GGUF);
			/* canonical order whatever the file order */
			ck_assert_str_eq(s->tensors[0].name, "token_embd.weight");
			ck_assert_str_eq(s->tensors[1].name, "blk.0.attn_norm.weight");
			ck_assert_str_eq(s->tensors[10].name, "output_norm.weight");
			ck_assert_ptr_nonnull(s->tok);
			ck_assert_uint_eq(s->tok->kind, HC_TOK_SPM);
			ck_assert_uint_eq(s->tok->n_vocab, CW_VOCAB);
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
	struct cw_gguf_opt o = { 0 };
	struct cw_gguf_offs off;
	struct cw_buf good = cw_gguf(&o, &off), b;
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
		struct cw_gguf_opt v[] = {
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
			b = cw_gguf(&v[k], &off);
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
	struct cw_gguf_offs off;
	struct cw_gguf_opt o = { .rope_freqs = good };
	struct cw_buf b = cw_gguf(&o, &off);

	tmp_make(dir, sizeof(dir));
	ck_assert_msg(open_crafted(dir, "r.gguf", b.p, b.n, &s, err) == 0, "%s", err);
	free(b.p);
	ck_assert_uint_eq(s->arch.rope_scaling, HC_ROPE_LLAMA3);
	ck_assert_float_eq(s->arch.rope_factor, 8.0f);
	ck_assert_float_eq(s->arch.rope_low_freq_factor, 1.0f);
	ck_assert_float_eq(s->arch.rope_high_freq_factor, 4.0f);
	ck_assert_uint_eq(s->arch.rope_orig_ctx, 8192);
	ck_assert_float_eq(s->arch.rope_theta, 500000.0f);
	ck_assert_uint_eq(s->n_tensors, CW_N_GGUF);	/* rope_freqs is not a ROM tensor */
	s->close(s);

	o.rope_freqs = ones;
	b = cw_gguf(&o, &off);
	ck_assert_msg(open_crafted(dir, "r.gguf", b.p, b.n, &s, err) == 0, "%s", err);
	free(b.p);
	ck_assert_uint_eq(s->arch.rope_scaling, HC_ROPE_NONE);
	s->close(s);

	memcpy(bad, good, sizeof(bad));
	bad[4] = 2.5f;
	o.rope_freqs = bad;
	b = cw_gguf(&o, &off);
	expect_fail(dir, &b, "rope_freqs.weight[4] = 2.5 but Llama 3 scaling (factor 8, "
		    "low_freq_factor 1, high_freq_factor 4, original context 8192) gives 2.69");
	free(b.p);
	bad[4] = 0.5f;
	b = cw_gguf(&o, &off);
	expect_fail(dir, &b, "rope_freqs.weight[4] = 0.5 is not a Llama 3 scaling divisor");
	free(b.p);
	/* the keys, when present, take part in the check */
	o.rope_freqs = good;
	o.low_freq_factor = 2.0f;
	b = cw_gguf(&o, &off);
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
	struct cw_gguf_opt o = { .mat_type = HC_WTYPE_Q8_0 };
	struct cw_gguf_offs off;
	struct cw_buf good = cw_gguf(&o, &off);
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
				float row[CW_FFN * CW_VOCAB];

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
	struct cw_buf b;

	tmp_make(dir, sizeof(dir));
	expect_hf_fail(dir, "config.json");	/* nothing there */
	cw_write_text(dir, "config.json", "{\"model_type\": \"llama\", ");
	expect_hf_fail(dir, "config.json: not valid JSON");
	cw_write_text(dir, "config.json", "{\"model_type\": \"mistral\"}");
	expect_hf_fail(dir, "model_type 'mistral' is not supported; supported: llama");
	cw_write_text(dir, "config.json", "{\"model_type\": \"llama\", \"hidden_size\": 32}");
	expect_hf_fail(dir, "missing \"num_hidden_layers\"");
	cw_write_text(dir, "config.json", cw_hf_config);

	expect_hf_fail(dir, "model.safetensors: cannot open: No such file");
	b = cw_st_zeros(NULL, NULL, NULL, 0, 0);
	cw_write_in(dir, "model.safetensors", b.p, 5);
	expect_hf_fail(dir, "too short for a safetensors header");
	cw_write_in(dir, "model.safetensors", b.p, b.n - 1);
	expect_hf_fail(dir, "truncated: tensor 'model.norm.weight' data");
	free(b.p);
	b = cw_st_zeros(NULL, NULL, NULL, 0, 1u << 30);
	cw_write_in(dir, "model.safetensors", b.p, b.n);
	expect_hf_fail(dir, "truncated: header length");
	free(b.p);
	b = cw_st_zeros(NULL, NULL, NULL, 0, 0);
	b.p[8 + 1] = ',';	/* break the JSON: "{,"__metadata__"..." */
	cw_write_in(dir, "model.safetensors", b.p, b.n);
	expect_hf_fail(dir, "header is not valid JSON");
	free(b.p);
	b = cw_st_zeros(NULL, "model.layers.0.mlp.up_proj.weight", "I8", 0, 0);
	cw_write_in(dir, "model.safetensors", b.p, b.n);
	expect_hf_fail(dir, "tensor 'model.layers.0.mlp.up_proj.weight' dtype I8 is not "
		       "supported; supported: F32, F16, BF16");
	free(b.p);
	b = cw_st_zeros(NULL, "model.layers.0.mlp.up_proj.weight", NULL, 1, 0);
	cw_write_in(dir, "model.safetensors", b.p, b.n);
	expect_hf_fail(dir, "model.safetensors: tensor 'model.layers.0.mlp.up_proj.weight' has "
		       "shape [65, 32], expected [64, 32]");
	free(b.p);
	b = cw_st_zeros("model.layers.0.self_attn.k_proj.weight", NULL, NULL, 0, 0);
	cw_write_in(dir, "model.safetensors", b.p, b.n);
	expect_hf_fail(dir, "missing tensor 'model.layers.0.self_attn.k_proj.weight'");
	free(b.p);

	/* a complete, valid checkpoint but no tokenizer */
	b = cw_st_zeros(NULL, NULL, NULL, 0, 0);
	cw_write_in(dir, "model.safetensors", b.p, b.n);
	free(b.p);
	expect_hf_fail(dir, "tokenizer.json: missing tokenizer");

	/* sharded: the index may not point outside the directory */
	cw_write_text(dir, "model.safetensors.index.json",
		   "{\"weight_map\": {\"model.norm.weight\": \"../evil.safetensors\"}}");
	expect_hf_fail(dir, "is not a file name in the directory");
	cw_write_text(dir, "model.safetensors.index.json",
		   "{\"weight_map\": {\"model.norm.weight\": \"model.safetensors\", "
		   "\"model.layers.0.self_attn.rotary_emb.inv_freq\": \"model.safetensors\"}}");
	expect_hf_fail(dir, "(listed in model.safetensors.index.json) is not in the file");
	tmp_remove(dir);
}
END_TEST

/* Names, shapes, tying and the q/k permutation on a crafted checkpoint of each dtype. */
START_TEST(test_crafted_hf_valid)
{
	static const char *const dts[] = { "F32", "F16", "BF16" };
	char dir[64], err[ERRLEN];

	tmp_make(dir, sizeof(dir));
	cw_write_text(dir, "config.json", cw_hf_config);
	cw_hf_tokenizer(dir);
	for (size_t d = 0; d < 3; d++) {
		struct cw_buf b = cw_st_values(dts[d]);
		struct bake_source *s = NULL;
		float row[CW_VOCAB * CW_FFN];
		int rc;

		cw_write_in(dir, "model.safetensors", b.p, b.n);
		free(b.p);
		rc = bake_open_hf(dir, &s, err, sizeof(err));
		ck_assert_msg(rc == 0, "%s: %s", dts[d], err);
		ck_assert_str_eq(s->name, strrchr(dir, '/') + 1);
		ck_assert(s->arch.flags & HC_ARCH_TIED_CLASSIFIER);
		ck_assert_uint_eq(s->arch.rope_scaling, HC_ROPE_NONE);
		ck_assert_uint_eq(s->arch.head_dim, 16);
		ck_assert_uint_eq(s->n_tensors, CW_N_HF);
		ck_assert_ptr_nonnull(s->tok);
		ck_assert_uint_eq(s->tok->n_vocab, CW_VOCAB);
		for (uint32_t i = 0; i < s->n_tensors; i++) {
			const struct bake_tensor *bt = &s->tensors[i];
			uint32_t heads = strstr(bt->name, "attn_q") ? 2 :
					 strstr(bt->name, "attn_k") ? 1 : 0;
			size_t k = i;	/* cw_hf_tensors is in canonical order */

			ck_assert_uint_eq(bt->n_dims, cw_hf_tensors[k].in ? 2 : 1);
			ck_assert_uint_eq(bt->shape[0], cw_hf_tensors[k].in ? cw_hf_tensors[k].in :
					  cw_hf_tensors[k].out);
			ck_assert_uint_eq(bt->shape[1], cw_hf_tensors[k].in ? cw_hf_tensors[k].out : 1);
			ck_assert_int_eq(s->read_rows_f32(s, i, 0, bt->shape[1], row, err,
							  sizeof(err)), 0);
			for (uint64_t r = 0; r < bt->shape[1]; r++) {
				/* interleaved row 2i+j of a head = rotate-half row j*8+i */
				uint64_t src = heads ? (r / 16) * 16 + (r % 2) * 8 + (r % 16) / 2 : r;

				for (uint64_t c = 0; c < bt->shape[0]; c++)
					ck_assert_msg(row[r * bt->shape[0] + c] == cw_hf_value(k, src, c),
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
	struct cw_buf good = cw_st_values("BF16");
	uint64_t hlen;
	uint8_t *p = malloc(good.n);
	float row[CW_VOCAB * CW_FFN];

	memcpy(&hlen, good.p, 8);
	tmp_make(dir, sizeof(dir));
	cw_write_text(dir, "config.json", cw_hf_config);
	cw_hf_tokenizer(dir);
	for (size_t n = 0; n < good.n; n += n < 8 + hlen ? 7 : 501) {
		struct bake_source *s = NULL;

		cw_write_in(dir, "model.safetensors", good.p, n);
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
			cw_write_in(dir, "model.safetensors", p, good.n);
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
