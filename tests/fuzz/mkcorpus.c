// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/NAME/) with the project's own
 * writers: ckpt_writer's GGUF, safetensors and Hugging Face files, hc-bake's ROM writer and
 * tokenizer serialiser, the card interface's structures. Small on purpose (a few KB each):
 * the fuzzer grows its own corpus outside the tree. `make fuzz-corpus` runs it.
 * ckpt_writer asserts with Check, which needs a running test: the writing is one Check test.
 * Usage: fuzz-mkcorpus DIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <check.h>
#include "bake.h"
#include "ckpt_writer.h"
#include "fuzz.h"
#include "rom.h"
#include "tok_spec.h"
#include "uapi/hc_card.h"

static const char *root;

static void put(const char *target, const char *name, const void *p, size_t n)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
		perror(path);
		exit(1);
	}
	printf("%-48s %6zu bytes\n", path, n);
}

/* A growing buffer of parts joined by FZ_SPLIT. */
struct buf {
	uint8_t *p;
	size_t n;
};

static void add(struct buf *b, const void *p, size_t n)
{
	b->p = realloc(b->p, b->n + n + 1);
	if (!b->p)
		abort();
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void adds(struct buf *b, const char *s)
{
	add(b, s, strlen(s));
}

static void split(struct buf *b)
{
	adds(b, FZ_SPLIT);
}

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long len;

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
	    !(p = malloc((size_t)len + 1)) || fread(p, 1, (size_t)len, f) != (size_t)len) {
		perror(path);
		exit(1);
	}
	fclose(f);
	*n = (size_t)len;
	return p;
}

static void gguf(void)
{
	struct cw_gguf_opt o = { 0 };
	struct cw_gguf_offs off;
	struct cw_buf b;

	o.mat_type = HC_WTYPE_Q4_0;
	b = cw_gguf(&o, &off);
	put("gguf", "q4_0", b.p, b.n);
	free(b.p);
	o.tied = 1;
	o.version = 2;
	o.alignment = 64;
	b = cw_gguf(&o, &off);
	put("gguf", "q4_0-tied-v2-align64", b.p, b.n);
	free(b.p);
	o.low_freq_factor = 1.0f;
	o.mat_type = HC_WTYPE_Q8_0;
	o.tied = 0;
	b = cw_gguf(&o, &off);
	put("gguf", "q8_0-rope-scaling", b.p, b.n);
	free(b.p);
}

static void safetensors(void)
{
	static const char hdr[] =
		"{\"__metadata__\": {\"format\": \"pt\"}, "
		"\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}, "
		"\"b\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [24, 32]}, "
		"\"c\": {\"dtype\": \"F16\", \"shape\": [1, 2], \"data_offsets\": [32, 36]}, "
		"\"d\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [36, 44]}}";
	struct cw_buf b = cw_st_values("BF16");
	struct buf s = { 0 };
	uint64_t len = sizeof(hdr) - 1;
	uint8_t data[44] = { 0 };

	put("safetensors", "crafted-model-bf16", b.p, b.n);
	free(b.p);
	add(&s, &len, 8);
	add(&s, hdr, len);
	add(&s, data, sizeof(data));
	put("safetensors", "four-dtypes", s.p, s.n);
	free(s.p);
}

static void json_str(struct buf *b, const char *s)
{
	adds(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			adds(b, "\\");
		add(b, s, 1);
	}
	adds(b, "\"");
}

/* fz_bpe_spec() as a Hugging Face tokenizer.json. */
static void bpe_json(struct buf *b)
{
	struct hc_tok_spec *s = fz_bpe_spec();
	char num[64];

	adds(b, "{\"added_tokens\": [");
	for (uint32_t i = 0, k = 0; i < s->n_vocab; i++) {
		if (s->types[i] != HC_TT_CONTROL)
			continue;
		snprintf(num, sizeof(num), "%s{\"id\": %u, \"content\": ", k++ ? ", " : "", i);
		adds(b, num);
		json_str(b, s->pieces[i]);
		adds(b, ", \"special\": true}");
	}
	adds(b, "], \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, "
		"\"model\": {\"type\": \"BPE\", \"vocab\": {");
	for (uint32_t i = 0; i < s->n_vocab; i++) {
		if (i)
			adds(b, ", ");
		json_str(b, s->pieces[i]);
		snprintf(num, sizeof(num), ": %u", i);
		adds(b, num);
	}
	adds(b, "}, \"merges\": [");
	for (uint32_t i = 0; i < s->n_merges; i++) {
		if (i)
			adds(b, ", ");
		json_str(b, s->merges[i]);
	}
	adds(b, "]}}");
	hc_tok_spec_free(s);
}

static void hf(void)
{
	static const char tc[] =
		"{\"bos_token\": \"a\", \"eos_token\": {\"content\": \"b\"}, \"add_bos_token\": true, "
		"\"chat_template\": \"{% for m in messages %}<|start_header_id|>{{ m.role }}"
		"<|end_header_id|>{% endfor %}\"}";
	struct buf b = { 0 };
	uint8_t *tj;
	size_t n;
	char path[512];

	cw_hf_tokenizer(fz_dir());
	snprintf(path, sizeof(path), "%s/tokenizer.json", fz_dir());
	tj = slurp(path, &n);
	while (n && !tj[n - 1])		/* written with its NUL */
		n--;
	adds(&b, cw_hf_config);
	split(&b);
	add(&b, tj, n);
	put("hf", "config-tokenizer", b.p, b.n);
	split(&b);
	adds(&b, tc);
	split(&b);
	adds(&b, "{\"eos_token_id\": [1, 2], \"bos_token_id\": 0}");
	put("hf", "config-tokenizer-tokconfig-genconfig", b.p, b.n);
	free(b.p);
	free(tj);
	/* a tokenizer the run-time loader takes too (the crafted one has no byte symbols) */
	b = (struct buf){ 0 };
	adds(&b, cw_hf_config);
	split(&b);
	bpe_json(&b);
	split(&b);
	adds(&b, tc);
	put("hf", "config-bytelevel-tokenizer", b.p, b.n);
	free(b.p);
}

/* llama2.c's tokenizer.bin: max_token_length, then per token score, length, bytes. */
static void l2c_tokenizer(struct buf *b, uint32_t vocab)
{
	int32_t max = 8;

	add(b, &max, 4);
	for (uint32_t i = 0; i < vocab; i++) {
		char piece[16];
		float score = -(float)i;
		int32_t len;

		if (i < 3)
			snprintf(piece, sizeof(piece), "%s", (const char *[]){ "<unk>", "\n<s>\n",
								       "\n</s>\n" }[i]);
		else if (i < 3 + 4)
			snprintf(piece, sizeof(piece), "<0x%02X>", 0x20 + i);
		else
			snprintf(piece, sizeof(piece), " %c%c", 'a' + (int)i % 26, 'a' + (int)i / 26);
		len = (int32_t)strlen(piece);
		add(b, &score, 4);
		add(b, &len, 4);
		add(b, piece, (size_t)len);
	}
}

/* A llama2.c checkpoint (legacy version 0: 7 int32, then float32 weights in file order). */
static void llama2c(void)
{
	/* dim, hidden, layers, heads, kv heads, vocab (positive: shared classifier), seq_len */
	int32_t h[7] = { 8, 16, 1, 2, 2, 128, 4 };	/* the built-in tokenizer has >= 100 */
	const size_t floats = 128 * 8 + 8 + 4 * 8 * 8 + 8 + 3 * 8 * 16 + 8 + 4 * 4 / 2 * 2;
	struct buf b = { 0 };
	float *w = calloc(floats, sizeof(float));

	for (size_t i = 0; i < floats; i++)
		w[i] = (float)((int)(i % 7) - 3) / 8.0f;
	add(&b, h, sizeof(h));
	add(&b, w, floats * sizeof(float));
	put("llama2c", "v0-builtin-tokenizer", b.p, b.n);
	split(&b);
	l2c_tokenizer(&b, 128);
	put("llama2c", "v0-tokenizer-bin", b.p, b.n);
	free(b.p);
	free(w);
}

/* A ROM as small as a ROM gets: dim 16, one layer, the built-in tokenizer's 128 tokens. */
static int small_rows(struct bake_source *src, uint32_t i, uint64_t row0, uint64_t n,
		      float *dst, char *err, size_t errlen)
{
	const struct bake_tensor *t = &src->tensors[i];

	for (uint64_t k = 0; k < n * t->shape[0]; k++)
		dst[k] = t->n_dims == 1 ? 1.0f : (float)((int)((row0 * t->shape[0] + k + i) % 9) - 4) / 16.0f;
	return 0;
}

static void small_close(struct bake_source *src)
{
	hc_tok_spec_free(src->tok);
	free(src->tensors);
}

static void rom(const char *dir)
{
	static const char *const kinds[] = {
		"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
		"ffn_up", "ffn_down",
	};
	struct bake_source src = { 0 };
	struct hc_rom_arch *a = &src.arch;
	static const uint32_t wtypes[] = { HC_WTYPE_Q4_0, HC_WTYPE_Q8_0 };
	char err[512], path[512];

	snprintf(src.name, sizeof(src.name), "fuzz-seed");
	*a = (struct hc_rom_arch){ .vocab_size = 128, .dim = 32, .n_layers = 1, .n_heads = 2,
				   .n_kv_heads = 1, .head_dim = 16, .ffn_dim = 32, .max_ctx = 16,
				   .rope_theta = 10000.0f, .norm_eps = 1e-5f,
				   .flags = HC_ARCH_TIED_CLASSIFIER };
	if (hc_tok_spec_builtin(a->vocab_size, &src.tok, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	src.tensors = calloc(11, sizeof(*src.tensors));
	snprintf(src.tensors[src.n_tensors++].name, 64, "token_embd.weight");
	for (int k = 0; k < 9; k++)
		snprintf(src.tensors[src.n_tensors++].name, 64, "blk.0.%s.weight", kinds[k]);
	snprintf(src.tensors[src.n_tensors++].name, 64, "output_norm.weight");
	for (uint32_t i = 0; i < src.n_tensors; i++) {
		struct bake_tensor *t = &src.tensors[i];

		hc_rom_tensor_slot(a, t->name, &t->n_dims, t->shape);
		t->type = HC_WTYPE_F32;
	}
	src.read_rows_f32 = small_rows;
	src.close = small_close;
	for (int w = 0; w < 2; w++) {
		uint8_t *p;
		size_t n;

		snprintf(path, sizeof(path), "%s/seed.rom", dir);
		if (bake_write_rom(&src, wtypes[w], path, 0, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			exit(1);
		}
		p = slurp(path, &n);
		put("rom", w ? "dim32-q8_0" : "dim32-q4_0", p, n);
		free(p);
		unlink(path);
	}
	small_close(&src);
}

static void blob(const char *target, const char *name, struct hc_tok_spec *s)
{
	void *p;
	size_t n;

	if (hc_tok_spec_serialize(s, &p, &n))
		abort();
	put(target, name, p, n);
	free(p);
	hc_tok_spec_free(s);
}

static void tok_blob(void)
{
	struct hc_tok_spec *s;
	char err[512];

	if (hc_tok_spec_builtin(128, &s, err, sizeof(err)))
		abort();
	blob("tok_blob", "builtin-spm-128", s);
	blob("tok_blob", "bpe-bytelevel-llama3-chat", fz_bpe_spec());
}

static void tok_text(void)
{
	static const char chat[] = "\x03\x05user\0Hello <|eot_id|> there\0assistant\0Hi\0system";
	struct buf b = { 0 };
	int32_t ids[] = { 0, 1, 2, 3, 100, 255, 260, 265, -1, 511, 512, 0x7fffffff };

	put("tok_text", "spm-text", "\x00\x41Hello, world! caf\xc3\xa9 \xf0\x9f\x98\x80", 26);
	put("tok_text", "bpe-specials", "\x03\xfe<|begin_of_text|>the other <|eot_id|>x", 40);
	put("tok_text", "chat-llama31", chat + 0, sizeof(chat) - 1);
	add(&b, "\x01\x00", 2);
	add(&b, ids, sizeof(ids));
	put("tok_text", "ids", b.p, b.n);
	free(b.p);
}

/*
 * A well-behaved client's session as fuzz_emud.c reads it (its op numbers), on the null model
 * or (@model) the forward pass.
 */
static void emud_session(const char *name, int model)
{
	struct buf b = { 0 };
	struct hc_sqe sqe;
	uint8_t len = sizeof(sqe);

#define OP(...) add(&b, (uint8_t[]){ __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ }))
#define SQE(fix) do { OP(3, 0, fix, len); add(&b, &sqe, sizeof(sqe)); } while (0)
	OP(model ? 4 : 0);		/* flags: no faults; the forward pass or not */
	OP(2, 0, 4 + 5 * 5, 1, 1, 0);	/* qp 0: 16 SQEs, 32 CQEs, vector 1 */
	OP(5, 1, 5, 1);
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = HC_OP_CONTEXT_OPEN;
	sqe.user_data = 1;
	SQE(1 | 4 | 8 | (16 << 3));
	OP(5, 1, 5, 1, 6, 0);
	OP(9, 0, 5, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0);	/* prompt tokens 1..5 */
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = HC_OP_PREFILL;
	sqe.user_data = 2;
	sqe.prefill.n_tokens = 5;
	SQE(1 | 2 | 4 | 8);
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = HC_OP_DECODE;
	sqe.user_data = 3;
	sqe.decode.stream_entries = 4;	/* 16 */
	sqe.decode.max_tokens = 20;
	sqe.decode.n_stop = 1;
	sqe.decode.stop[0] = 2;
	SQE(1 | 2 | 4 | 8);
	OP(5, 0, 5, 0, 5, 0, 6, 0, 5, 0, 5, 0, 6, 0, 5, 1, 7);
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = HC_OP_CONTEXT_CLOSE;
	SQE(1 | 2 | 8);
	OP(5, 1, 6, 0, 8, 5, 1);
	put("emud", name, b.p, b.n);
	free(b.p);
}

static void emud(void)
{
	struct buf b = { 0 };
	struct hc_sqe sqe;
	uint8_t len = sizeof(sqe);

	emud_session("open-prefill-decode-close", 0);
	emud_session("model-open-prefill-decode-close", 1);
	OP(1);				/* faults allowed */
	OP(2, 1, 2 + 5 * 3, 2, 3, 3);	/* qp 1 */
	OP(1, 0x40, 0, 0xff, 0xff, 0xff, 0xff);	/* a register scribbled over */
	OP(4, 5, 0, 0, 0x10, 0x02, 0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = HC_OP_CONTEXT_OPEN;
	SQE(1 | 4 | 8);
	OP(3, 1, 8, 16, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9);
	OP(10, 1, 0, 0xff, 0xff, 0, 0, 5, 1, 6, 1, 5, 0);
	put("emud", "garbage", b.p, b.n);
	free(b.p);
#undef SQE
#undef OP
}

START_TEST(write_corpora)
{
	gguf();
	safetensors();
	hf();
	llama2c();
	rom(fz_dir());
	tok_blob();
	tok_text();
	emud();
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s = suite_create("mkcorpus");
	TCase *tc = tcase_create("write");
	SRunner *sr;
	int failed;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	root = argv[1];
	mkdir(root, 0755);
	setvbuf(stdout, NULL, _IOLBF, 0);
	tcase_add_test(tc, write_corpora);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
