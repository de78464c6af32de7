// SPDX-License-Identifier: MIT
/*
 * ROM loader and number formats: a baked ROM loads; any changed byte, truncation or
 * inconsistent field is refused with one line naming the file; fp16 and Q8_0/Q4_0 follow
 * ggml's reference arithmetic bit for bit.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include "ckpt_writer.h"
#include "hc_test.h"
#include "bake.h"
#include "quant.h"
#include "rom.h"

struct tmp {
	char dir[64];
	char rom[128];
	char copy[128];
};

static void tmp_init(struct tmp *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/hc-test-rom-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(t->rom, sizeof(t->rom), "%s/a.rom", t->dir);
	snprintf(t->copy, sizeof(t->copy), "%s/b.rom", t->dir);
}

static void tmp_fini(struct tmp *t)
{
	unlink(t->rom);
	unlink(t->copy);
	rmdir(t->dir);
}

static void bake(const char *preset, uint32_t wtype, const char *out)
{
	struct bake_source *src;
	char err[512] = "";
	int ret;

	ret = bake_open_synthetic(preset, 1, &src, err, sizeof(err));
	ck_assert_msg(ret == 0, "open %s: %s", preset, err);
	ret = bake_write_rom(src, wtype, out, 0, err, sizeof(err));
	ck_assert_msg(ret == 0, "bake %s: %s", preset, err);
	src->close(src);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* Recompute the identity so a test reaches the structural check it targets. */
static void resign(uint8_t *buf, size_t len)
{
	struct hc_rom_header *h = (void *)buf;
	unsigned int n;

	memset(h->identity, 0, sizeof(h->identity));
	EVP_Digest(buf, len, h->identity, &n, EVP_sha256(), NULL);
}

/* hc_rom_open must fail, with one line that starts with the path (and contains @what). */
static void expect_reject(const char *path, const char *what, const char *ctx)
{
	struct hc_rom *rom = NULL;
	char err[512] = "";
	int ret = hc_rom_open(path, &rom, err, sizeof(err));

	ck_assert_msg(ret < 0, "%s: accepted", ctx);
	ck_assert_ptr_null(rom);
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':',
		      "%s: message does not name the file: '%s'", ctx, err);
	ck_assert_msg(!strchr(err, '\n'), "%s: multi-line message '%s'", ctx, err);
	if (what)
		ck_assert_msg(strstr(err, what), "%s: expected '%s' in '%s'", ctx, what, err);
}

START_TEST(test_load_ok)
{
	const struct hc_rom_header *h;
	const struct hc_rom_tensor *t;
	struct hc_rom *rom;
	struct tmp tp;
	char err[512] = "", line[512];
	size_t len, blen;
	uint8_t *file;
	int ret, found = 0;
	FILE *maps;

	tmp_init(&tp);
	bake("tiny", HC_WTYPE_F32, tp.rom);
	ret = hc_rom_open(tp.rom, &rom, err, sizeof(err));
	ck_assert_msg(ret == 0, "%s", err);
	h = hc_rom_header(rom);
	ck_assert_int_eq(h->arch.dim, 128);
	ck_assert_int_eq(h->arch.n_layers, 4);
	ck_assert_int_eq(h->arch.n_kv_heads, 2);
	ck_assert_int_eq(h->n_tensors, 3 + 9 * 4);
	ck_assert_str_eq(hc_rom_path(rom), tp.rom);
	t = hc_rom_find(rom, "blk.3.attn_k.weight");
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->shape[0], 128);
	ck_assert_int_eq(t->shape[1], 2 * 32);
	ck_assert_ptr_null(hc_rom_find(rom, "blk.4.attn_k.weight"));
	ck_assert_ptr_eq(hc_rom_tensor_at(rom, 0), hc_rom_find(rom, "token_embd.weight"));
	ck_assert_ptr_null(hc_rom_tensor_at(rom, h->n_tensors));

	/* accessors point at the bytes the file holds */
	file = slurp(tp.rom, &len);
	ck_assert_int_eq(len, h->file_size);
	ck_assert_int_eq(memcmp(hc_rom_data(rom, t), file + t->offset, t->size), 0);
	ck_assert_int_eq(memcmp(hc_rom_tokenizer_blob(rom, &blen), file + h->tokenizer_offset,
				h->tokenizer_size), 0);
	ck_assert_int_eq(blen, h->tokenizer_size);
	/* norms are 1.0, matrices small and finite */
	t = hc_rom_find(rom, "output_norm.weight");
	ck_assert(((const float *)hc_rom_data(rom, t))[5] == 1.0f);
	t = hc_rom_find(rom, "blk.0.ffn_up.weight");
	for (uint64_t i = 0; i < t->shape[0] * t->shape[1]; i++) {
		float v = ((const float *)hc_rom_data(rom, t))[i];

		ck_assert(isfinite(v) && fabsf(v) < 1.0f);
	}

	/* the mapping is read-only */
	maps = fopen("/proc/self/maps", "r");
	ck_assert_ptr_nonnull(maps);
	while (fgets(line, sizeof(line), maps))
		if (strstr(line, tp.rom)) {
			found = 1;
			ck_assert_msg(strstr(line, " r--p "), "mapping not read-only: %s", line);
		}
	fclose(maps);
	ck_assert(found);
	hc_rom_close(rom);
	free(file);
	tmp_fini(&tp);
}
END_TEST

/* Every byte of the first 4 KiB (header and tensor table) and a spread of the rest. */
START_TEST(test_flipped_bytes)
{
	const struct hc_rom_header *h;
	struct hc_rom *rom;
	struct tmp tp;
	char err[512], ctx[64];
	uint8_t *file, b;
	size_t len;
	uint64_t marks[8];
	int fd, n = 0;

	tmp_init(&tp);
	bake("tiny", HC_WTYPE_Q4_0, tp.rom);
	file = slurp(tp.rom, &len);
	cw_write_file(tp.copy, file, len);
	h = (const void *)file;
	marks[0] = h->tokenizer_offset;
	marks[1] = h->tokenizer_offset + h->tokenizer_size - 1;
	marks[2] = h->data_offset;
	marks[3] = h->data_offset + 1;
	marks[4] = len / 2;
	marks[5] = len - 2;
	marks[6] = len - 1;
	marks[7] = h->tokenizer_offset + h->tokenizer_size / 2;
	fd = open(tp.copy, O_RDWR);
	ck_assert_int_ge(fd, 0);
	for (uint64_t pos = 0, m = 0; m < 8; ) {
		uint64_t p = pos < len ? pos : marks[m++];

		pos += pos < 4096 ? 1 : 1531 + (pos % 7);
		b = file[p] ^ (p % 2 ? 0x01 : 0x80);
		ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)p), 1);
		snprintf(ctx, sizeof(ctx), "byte %llu", (unsigned long long)p);
		expect_reject(tp.copy, NULL, ctx);
		ck_assert_int_eq(pwrite(fd, &file[p], 1, (off_t)p), 1);
		n++;
	}
	close(fd);
	ck_assert_int_gt(n, 4096 + 8);
	/* and the restored copy loads again */
	ck_assert_int_eq(hc_rom_open(tp.copy, &rom, err, sizeof(err)), 0);
	hc_rom_close(rom);
	free(file);
	tmp_fini(&tp);
}
END_TEST

START_TEST(test_truncated_and_extended)
{
	struct tmp tp;
	uint8_t *file;
	size_t len;
	const size_t cuts[] = { 0, 1, 100, 511, 512, 4096 };

	tmp_init(&tp);
	bake("tiny", HC_WTYPE_Q8_0, tp.rom);
	file = slurp(tp.rom, &len);
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		cw_write_file(tp.copy, file, cuts[i]);
		expect_reject(tp.copy, NULL, "cut");
	}
	cw_write_file(tp.copy, file, len / 2);
	expect_reject(tp.copy, "truncated", "half");
	cw_write_file(tp.copy, file, len - 1);
	expect_reject(tp.copy, "truncated", "len-1");
	file = realloc(file, len + 1);
	file[len] = 0;
	cw_write_file(tp.copy, file, len + 1);
	expect_reject(tp.copy, "extended", "len+1");
	expect_reject("/nonexistent/x.rom", "cannot open", "missing");
	expect_reject(tp.dir, "not a regular file", "directory");
	free(file);
	tmp_fini(&tp);
}
END_TEST

static struct hc_rom_tensor *find_tab(uint8_t *file, const char *name)
{
	struct hc_rom_header *h = (void *)file;
	struct hc_rom_tensor *tab = (void *)(file + h->tensors_offset);

	for (uint32_t i = 0; i < h->n_tensors; i++)
		if (strcmp(tab[i].name, name) == 0)
			return &tab[i];
	ck_abort_msg("no tensor %s", name);
	return NULL;
}

/* Each structural rule, with the identity recomputed so only that rule can catch it. */
START_TEST(test_structural_rules)
{
	struct hc_rom *rom;
	struct hc_rom_header *h;
	struct hc_rom_tensor *t;
	struct tmp tp;
	uint8_t *orig, *f;
	char err[512];
	size_t len;

	tmp_init(&tp);
	bake("tiny", HC_WTYPE_Q8_0, tp.rom);
	orig = slurp(tp.rom, &len);
	f = malloc(len);

#define CASE(what, ...) do {						\
		memcpy(f, orig, len);					\
		h = (void *)f;						\
		(void)h;						\
		__VA_ARGS__;						\
		resign(f, len);						\
		cw_write_file(tp.copy, f, len);				\
		expect_reject(tp.copy, what, #__VA_ARGS__);		\
	} while (0)

	/* the re-signing itself is sound */
	memcpy(f, orig, len);
	resign(f, len);
	ck_assert_int_eq(memcmp(f, orig, len), 0);
	cw_write_file(tp.copy, f, len);
	ck_assert_int_eq(hc_rom_open(tp.copy, &rom, err, sizeof(err)), 0);
	hc_rom_close(rom);

	CASE("bad magic", h->magic[0] = 'X');
	CASE("version", h->version = 2);
	CASE("header_size", h->header_size = 256);
	CASE("reserved", h->reserved[100] = 1);
	CASE("arch.reserved", h->arch.reserved[3] = 1);
	CASE("name", memset(h->name, 'a', sizeof(h->name)));
	CASE("n_kv_heads", h->arch.n_kv_heads = 3);
	CASE("head_dim", h->arch.head_dim = 16);
	CASE("arch.dim", h->arch.dim = 0);
	CASE("arch.vocab_size", h->arch.vocab_size = 0xFFFFFFFFu);
	CASE("rope_theta", h->arch.rope_theta = NAN);
	CASE("rope_scaling", h->arch.rope_scaling = 7);
	CASE("flags", h->arch.flags = 0x80);
	CASE("matrix type", h->wtype = HC_WTYPE_F16);
	CASE("n_tensors", h->n_tensors = 38);
	CASE("tensor table", h->tensors_offset = len - 64);
	CASE("tensor table", h->tensors_offset = 0xFFFFFFFFFFFFFFC0ull);
	CASE("tokenizer", h->tokenizer_size = 0xFFFFFFFFFFFFFF00ull);
	CASE("tokenizer", h->tokenizer_offset = 512);
	CASE("data area", h->data_offset += 64; h->data_size -= 64);
	CASE("data area", h->data_size += 1);
	CASE("not 64-byte aligned", find_tab(f, "blk.3.attn_q.weight")->offset += 4);
	CASE("overlap", find_tab(f, "blk.1.ffn_up.weight")->offset =
			find_tab(f, "blk.1.ffn_gate.weight")->offset);
	CASE("outside the data area", find_tab(f, "output.weight")->offset = len);
	CASE("outside the data area", find_tab(f, "token_embd.weight")->offset = 0);
	CASE("unsupported type", find_tab(f, "blk.0.attn_v.weight")->type = HC_WTYPE_BF16);
	CASE("unsupported type", find_tab(f, "blk.0.attn_v.weight")->type = 77);
	CASE("matrix type", t = find_tab(f, "blk.0.attn_v.weight"); t->type = HC_WTYPE_Q4_0;
	     t->size = t->size / 34 * 18);
	CASE("norms must be F32", t = find_tab(f, "blk.2.ffn_norm.weight");
	     t->type = HC_WTYPE_Q8_0; t->size = 4 * 34);
	CASE("shape", find_tab(f, "blk.0.attn_q.weight")->shape[1] = 64);
	CASE("shape", find_tab(f, "blk.0.attn_q.weight")->n_dims = 1);
	CASE("shape", find_tab(f, "blk.0.attn_q.weight")->n_dims = 3);
	CASE("size", find_tab(f, "blk.0.attn_q.weight")->size -= 34);
	CASE("reserved", find_tab(f, "blk.0.attn_q.weight")->reserved[0] = 1);
	CASE("not part of this architecture", find_tab(f, "output.weight")->name[12] = 0);
	CASE("not part of this architecture", strcpy(find_tab(f, "blk.1.ffn_up.weight")->name,
						     "blk.01.ffn_up.weight"));
	CASE("not part of this architecture", strcpy(find_tab(f, "blk.1.ffn_up.weight")->name,
						     "blk.4.ffn_up.weight"));
	CASE("twice", strcpy(find_tab(f, "blk.1.ffn_up.weight")->name, "blk.1.ffn_gate.weight"));
	CASE("name", find_tab(f, "blk.1.ffn_up.weight")->name[40] = 'x');
	/* a tied ROM must not carry output.weight */
	CASE("n_tensors", h->arch.flags = HC_ARCH_TIED_CLASSIFIER);
	/* identity alone */
	memcpy(f, orig, len);
	f[len - 1] ^= 1;
	cw_write_file(tp.copy, f, len);
	expect_reject(tp.copy, "identity mismatch", "last byte");
#undef CASE
	free(f);
	free(orig);
	tmp_fini(&tp);
}
END_TEST

/*
 * Random damage to the header and table with the identity re-signed, so only the
 * structural checks stand between the bytes and the accessors: never a crash, and
 * whatever loads is consistent.
 */
START_TEST(test_resigned_random_damage)
{
	const struct hc_rom_header *h;
	struct hc_rom *rom;
	struct tmp tp;
	uint8_t *orig, *f;
	uint64_t s = 42, table_end;
	size_t len;
	int accepted = 0, tried = 0, fd;

	tmp_init(&tp);
	bake("tiny", HC_WTYPE_Q4_0, tp.rom);
	orig = slurp(tp.rom, &len);
	h = (const void *)orig;
	table_end = h->tensors_offset + h->n_tensors * sizeof(struct hc_rom_tensor);
	f = malloc(len);
	cw_write_file(tp.copy, orig, len);
	fd = open(tp.copy, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	for (int it = 0; it < 3000; it++) {
		char err[512] = "";
		int n;

		memcpy(f, orig, len);
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		n = 1 + (int)((s >> 60) & 3);
		for (int k = 0; k < n; k++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			/* a byte of the header or table, set to a random or an edge value */
			size_t pos = (size_t)((s >> 20) % table_end);
			static const uint8_t edge[] = { 0x00, 0xFF, 0x80, 0x7F, 0x01, 0x40 };

			f[pos] = (s >> 8) & 1 ? (uint8_t)(s >> 40) : edge[(s >> 50) % 6];
		}
		if (memcmp(f, orig, len) == 0 || memcmp(f + 24, orig + 24, 32) != 0)
			continue;	/* unchanged, or the identity itself was hit */
		resign(f, len);
		tried++;
		/* only the header and table differ from the copy on disk */
		ck_assert_int_eq(pwrite(fd, f, table_end, 0), (ssize_t)table_end);
		if (hc_rom_open(tp.copy, &rom, err, sizeof(err)) == 0) {
			const struct hc_rom_header *rh = hc_rom_header(rom);

			/* accepted: only fields the format leaves free were changed */
			for (uint32_t i = 0; i < rh->n_tensors; i++) {
				const struct hc_rom_tensor *t = hc_rom_tensor_at(rom, i);

				ck_assert(t->offset + t->size <= rh->file_size);
				ck_assert_ptr_eq(hc_rom_find(rom, t->name), t);
			}
			hc_rom_close(rom);
			accepted++;
		} else {
			ck_assert_msg(err[0] && !strchr(err, '\n'), "bad message '%s'", err);
		}
	}
	close(fd);
	printf("random damage: %d of %d re-signed variants accepted\n", accepted, tried);
	/* a few changes (name letters, rope_theta, eps, max_ctx) are legitimately free */
	ck_assert_int_gt(tried, 2500);
	ck_assert_int_lt(accepted, tried / 20);
	free(f);
	free(orig);
	tmp_fini(&tp);
}
END_TEST

START_TEST(test_fp16)
{
	union { float f; uint32_t u; } v;

	ck_assert_uint_eq(hc_f32_to_fp16(1.0f), 0x3C00);
	ck_assert_uint_eq(hc_f32_to_fp16(-2.0f), 0xC000);
	ck_assert_uint_eq(hc_f32_to_fp16(65504.0f), 0x7BFF);
	ck_assert_uint_eq(hc_f32_to_fp16(65520.0f), 0x7C00);	/* rounds up to infinity */
	ck_assert_uint_eq(hc_f32_to_fp16(0x1p-24f), 0x0001);	/* smallest subnormal */
	ck_assert_uint_eq(hc_f32_to_fp16(0x1p-26f), 0x0000);
	ck_assert_uint_eq(hc_f32_to_fp16(1.0f + 0x1p-11f), 0x3C00);	/* tie to even */
	ck_assert_uint_eq(hc_f32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3C02);	/* tie to even */
	ck_assert_uint_eq(hc_f32_to_fp16(NAN), 0x7E00);
	ck_assert_uint_eq(hc_f32_to_fp16(-INFINITY), 0xFC00);
	ck_assert(hc_fp16_to_f32(0x3555) == 0x1.554p-2f);
	ck_assert(hc_fp16_to_f32(0x8001) == -0x1p-24f);
	ck_assert(isinf(hc_fp16_to_f32(0x7C00)));
	ck_assert(isnan(hc_fp16_to_f32(0x7E01)));
	ck_assert(hc_bf16_to_f32(0x3F80) == 1.0f);
	ck_assert(hc_bf16_to_f32(0xC049) == -3.140625f);
	/* every non-NaN half survives a round trip */
	for (uint32_t x = 0; x < 0x10000; x++) {
		if ((x & 0x7C00) == 0x7C00 && (x & 0x3FF))
			continue;
		ck_assert_uint_eq(hc_f32_to_fp16(hc_fp16_to_f32((uint16_t)x)), x);
	}
#ifdef __FLT16_MAX__
	/* the compiler's IEEE conversion rounds to nearest even too */
	uint64_t s = 12345;

	for (int i = 0; i < 2000000; i++) {
		_Float16 hf;
		uint16_t hb;

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		v.u = (uint32_t)(s >> 32);
		if (isnan(v.f))
			continue;
		hf = (_Float16)v.f;
		memcpy(&hb, &hf, 2);
		ck_assert_msg(hc_f32_to_fp16(v.f) == hb, "%a: %04x vs %04x", (double)v.f,
			      hc_f32_to_fp16(v.f), hb);
	}
#else
	(void)v;
#endif
}
END_TEST

START_TEST(test_row_size)
{
	ck_assert_uint_eq(hc_row_size(HC_WTYPE_F32, 7), 28);
	ck_assert_uint_eq(hc_row_size(HC_WTYPE_F16, 7), 14);
	ck_assert_uint_eq(hc_row_size(HC_WTYPE_BF16, 8), 16);
	ck_assert_uint_eq(hc_row_size(HC_WTYPE_Q8_0, 64), 68);
	ck_assert_uint_eq(hc_row_size(HC_WTYPE_Q4_0, 64), 36);
	ck_assert_uint_eq(hc_row_size(HC_WTYPE_Q8_0, 172), 0);
	ck_assert_uint_eq(hc_row_size(HC_WTYPE_Q4_0, 33), 0);
	ck_assert_uint_eq(hc_row_size(HC_WTYPE_F32, 0), 0);
	ck_assert_uint_eq(hc_row_size(99, 32), 0);
	ck_assert_uint_eq(hc_row_size(HC_WTYPE_F32, UINT64_MAX / 2), 0);
}
END_TEST

START_TEST(test_q4_0_rules)
{
	float x[32] = { 0 }, y[32];
	struct hc_block_q4_0 b;

	/* max |x| is -8: d = 1, id = 1; q = MIN(15, (int8_t)(x + 8.5f)) truncates */
	x[0] = -8.0f;
	x[1] = 7.6f;	/* 16.1 -> 16 -> clamped to 15 */
	x[2] = -0.6f;	/* 7.9 -> 7 (truncation, not rounding) */
	x[3] = 0.4f;	/* 8.9 -> 8 */
	x[16] = -7.6f;	/* 0.9 -> 0 */
	x[17] = 7.0f;	/* 15.5 -> 15 */
	hc_quantize_row_q4_0(x, &b, 32);
	ck_assert_uint_eq(b.d, 0x3C00);
	ck_assert_uint_eq(b.qs[0], 0x00);
	ck_assert_uint_eq(b.qs[1], 0xFF);
	ck_assert_uint_eq(b.qs[2], 0x87);
	ck_assert_uint_eq(b.qs[3], 0x88);
	hc_dequantize_row(HC_WTYPE_Q4_0, &b, y, 32);
	ck_assert(y[0] == -8.0f && y[1] == 7.0f && y[2] == -1.0f && y[17] == 7.0f);
	/* positive extreme: d = -1, so the largest value maps to nibble 0 */
	memset(x, 0, sizeof(x));
	x[5] = 8.0f;
	hc_quantize_row_q4_0(x, &b, 32);
	ck_assert_uint_eq(b.d, 0xBC00);
	ck_assert_uint_eq(b.qs[5] & 0xF, 0);
	ck_assert_uint_eq(b.qs[4], 0x88);
	/* all zero */
	memset(x, 0, sizeof(x));
	hc_quantize_row_q4_0(x, &b, 32);
	ck_assert_uint_eq(b.d, 0x8000);	/* 0.0f / -8 is -0.0 in ggml too */
	ck_assert_uint_eq(b.qs[7], 0x88);
}
END_TEST

START_TEST(test_q8_0_rules)
{
	float x[64], y[64];
	struct hc_block_q8_0 b[2];

	for (int j = 0; j < 64; j++)
		x[j] = (j - 20) * 0.37f;
	hc_quantize_row_q8_0(x, b, 64);
	ck_assert_uint_eq(b[0].d, hc_f32_to_fp16(20 * 0.37f / 127));
	ck_assert_int_eq(b[0].qs[0], -127);
	ck_assert_int_eq(b[0].qs[20], 0);
	ck_assert_int_eq(b[1].qs[31], 127);
	hc_dequantize_row(HC_WTYPE_Q8_0, b, y, 64);
	for (int j = 0; j < 64; j++)
		ck_assert(fabsf(y[j] - x[j]) <= hc_fp16_to_f32(b[j / 32].d) * 0.51f + 1e-3f);
	/* roundf: half away from zero. 63.5/127 of amax lands exactly on .5 */
	memset(x, 0, sizeof(x));
	x[0] = 127.0f;
	x[1] = 63.5f;
	x[2] = -63.5f;
	hc_quantize_row_q8_0(x, b, 32);
	ck_assert_int_eq(b[0].qs[1], 64);
	ck_assert_int_eq(b[0].qs[2], -64);
	ck_assert_uint_eq(b[0].d, 0x3C00);
}
END_TEST

/* --- minimal GGUF reader, just enough to find tensors in llama.cpp's fixtures --- */
struct gguf_t {
	char name[96];
	uint32_t type, n_dims;
	uint64_t ne[4], off;
};
struct gguf {
	uint8_t *map;
	size_t len, pos, data;
	uint32_t n;
	struct gguf_t *t;
};

static uint64_t g_u64(struct gguf *g, int sz)
{
	uint64_t v = 0;

	ck_assert(g->pos + (size_t)sz <= g->len);
	memcpy(&v, g->map + g->pos, (size_t)sz);
	g->pos += (size_t)sz;
	return v;
}

static void g_skip(struct gguf *g, uint32_t type)
{
	static const int sizes[] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

	ck_assert_uint_le(type, 12);
	if (type == 8) {
		g->pos += g_u64(g, 8);
	} else if (type == 9) {
		uint32_t et = (uint32_t)g_u64(g, 4);
		uint64_t n = g_u64(g, 8);

		if (et != 8 && et != 9)
			g->pos += n * (uint64_t)sizes[et];
		else
			for (uint64_t i = 0; i < n; i++)
				g_skip(g, et);
	} else {
		g->pos += (size_t)sizes[type];
	}
	ck_assert(g->pos <= g->len);
}

static void gguf_open(struct gguf *g, const char *path)
{
	uint64_t n_kv, align = 32;
	struct stat st;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	fstat(fd, &st);
	g->len = (size_t)st.st_size;
	g->map = mmap(NULL, g->len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	ck_assert(g->map != MAP_FAILED);
	ck_assert_int_eq(memcmp(g->map, "GGUF", 4), 0);
	g->pos = 8;
	g->n = (uint32_t)g_u64(g, 8);
	n_kv = g_u64(g, 8);
	for (uint64_t i = 0; i < n_kv; i++) {
		uint64_t kl = g_u64(g, 8);
		int is_align = kl == 17 && !memcmp(g->map + g->pos, "general.alignment", 17);
		uint32_t type;

		g->pos += kl;
		type = (uint32_t)g_u64(g, 4);
		if (is_align && type == 4)
			align = g_u64(g, 4);
		else
			g_skip(g, type);
	}
	g->t = calloc(g->n, sizeof(*g->t));
	for (uint32_t i = 0; i < g->n; i++) {
		uint64_t nl = g_u64(g, 8);

		ck_assert_uint_lt(nl, sizeof(g->t[i].name));
		memcpy(g->t[i].name, g->map + g->pos, nl);
		g->pos += nl;
		g->t[i].n_dims = (uint32_t)g_u64(g, 4);
		ck_assert_uint_le(g->t[i].n_dims, 4);
		for (uint32_t d = 0; d < g->t[i].n_dims; d++)
			g->t[i].ne[d] = g_u64(g, 8);
		g->t[i].type = (uint32_t)g_u64(g, 4);
		g->t[i].off = g_u64(g, 8);
	}
	g->data = (g->pos + align - 1) / align * align;
}

static const struct gguf_t *gguf_find(const struct gguf *g, const char *name)
{
	for (uint32_t i = 0; i < g->n; i++)
		if (strcmp(g->t[i].name, name) == 0)
			return &g->t[i];
	return NULL;
}

/* Re-quantizing llama.cpp's BF16 fixture must give exactly llama-quantize's Q8_0 blocks. */
START_TEST(test_q8_0_matches_llama_cpp)
{
	char p1[512], p2[512];
	struct gguf bf, q8;
	int compared = 0;

	HC_REQUIRE_SHARED("models/gguf/tiny-llama3-BF16.gguf", p1);
	HC_REQUIRE_SHARED("models/gguf/tiny-llama3-Q8_0.gguf", p2);
	gguf_open(&bf, p1);
	gguf_open(&q8, p2);
	for (uint32_t i = 0; i < q8.n; i++) {
		const struct gguf_t *tq = &q8.t[i], *tb = gguf_find(&bf, tq->name);
		uint64_t n = tq->ne[0], rows = 1;

		if (tq->type != HC_WTYPE_Q8_0 || !tb || tb->type != HC_WTYPE_BF16)
			continue;
		for (uint32_t d = 1; d < tq->n_dims; d++)
			rows *= tq->ne[d];
		ck_assert_uint_eq(tb->ne[0], n);
		float *x = malloc(n * sizeof(float));
		struct hc_block_q8_0 *y = malloc(hc_row_size(HC_WTYPE_Q8_0, n));

		for (uint64_t r = 0; r < rows; r++) {
			const uint8_t *src = bf.map + bf.data + tb->off + r * n * 2;
			const uint8_t *ref = q8.map + q8.data + tq->off +
					     r * hc_row_size(HC_WTYPE_Q8_0, n);

			hc_dequantize_row(HC_WTYPE_BF16, src, x, n);
			hc_quantize_row_q8_0(x, y, n);
			ck_assert_msg(memcmp(y, ref, hc_row_size(HC_WTYPE_Q8_0, n)) == 0,
				      "%s row %llu differs from llama.cpp", tq->name,
				      (unsigned long long)r);
		}
		free(x);
		free(y);
		compared++;
	}
	ck_assert_int_gt(compared, 10);
	munmap(bf.map, bf.len);
	munmap(q8.map, q8.len);
	free(bf.t);
	free(q8.t);
}
END_TEST

static Suite *rom_suite(void)
{
	Suite *s = suite_create("rom");
	TCase *tc = hc_tcase(s, "rom", 300);

	tcase_add_test(tc, test_load_ok);
	tcase_add_test(tc, test_flipped_bytes);
	tcase_add_test(tc, test_truncated_and_extended);
	tcase_add_test(tc, test_structural_rules);
	tcase_add_test(tc, test_resigned_random_damage);
	tcase_add_test(tc, test_fp16);
	tcase_add_test(tc, test_row_size);
	tcase_add_test(tc, test_q4_0_rules);
	tcase_add_test(tc, test_q8_0_rules);
	tcase_add_test(tc, test_q8_0_matches_llama_cpp);
	return s;
}

HC_TEST_MAIN(rom_suite)
