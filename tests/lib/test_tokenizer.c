// SPDX-License-Identifier: MIT
/*
 * Tokenizers: golden encodings from sentencepiece (Llama 2) and Hugging Face tokenizers
 * (Llama 3.1), decode and streaming decode, the Llama 3 chat format, blob round trips,
 * hostile blobs and source files, and the built-in tokenizer.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include "hc_test.h"
#include "tok_spec.h"

#define L2_TOK "models/llama2-tokenizer/tokenizer.bin"
#define L2_GOLD "golden/tokenizers/llama2_spm.json"
#define L3_TOK "models/tiny-llama3-hf/tokenizer.json"
#define L3_CFG "models/tiny-llama3-hf/tokenizer_config.json"
#define L3_GOLD "golden/tokenizers/llama3.json"
#define L3_GEN "golden/tiny-llama3/generate.json"

/* Independent of the library's own checker. */
static int utf8_ok(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned c = u[i], len, cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			len = 2, cp = c & 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0)
			len = 3, cp = c & 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0)
			len = 4, cp = c & 0x07, min = 0x10000;
		else
			return 0;
		if (i + len > n)
			return 0;
		for (unsigned k = 1; k < len; k++) {
			if ((u[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (u[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

static struct hc_tokenizer *from_spec(struct hc_tok_spec *s)
{
	struct hc_tokenizer *t = NULL;
	char err[256] = "";
	void *blob;
	size_t len;

	ck_assert_int_eq(hc_tok_spec_serialize(s, &blob, &len), 0);
	ck_assert_msg(hc_tok_load(blob, len, &t, err, sizeof(err)) == 0, "load: %s", err);
	free(blob);
	return t;
}

static struct hc_tokenizer *load_llama2(void)
{
	struct hc_tok_spec *s;
	char path[512], err[256] = "";
	struct hc_tokenizer *t;

	hc_test_shared(L2_TOK, path, sizeof(path));
	ck_assert_msg(hc_tok_spec_from_llama2c(path, 32000, &s, err, sizeof(err)) == 0, "%s", err);
	t = from_spec(s);
	hc_tok_spec_free(s);
	return t;
}

static struct hc_tokenizer *load_llama3(void)
{
	struct hc_tok_spec *s;
	char p1[512], p2[512], err[256] = "";
	struct hc_tokenizer *t;

	hc_test_shared(L3_TOK, p1, sizeof(p1));
	hc_test_shared(L3_CFG, p2, sizeof(p2));
	ck_assert_msg(hc_tok_spec_from_hf(p1, p2, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(s->n_vocab, 128256);
	ck_assert_uint_eq(s->n_merges, 280147);
	ck_assert_uint_eq(s->chat_format, HC_CHAT_LLAMA3);
	ck_assert_ptr_nonnull(s->chat_template);
	t = from_spec(s);
	hc_tok_spec_free(s);
	return t;
}

static json_t *load_json(const char *rel)
{
	char path[512];
	json_error_t je;
	json_t *j = json_load_file(hc_test_shared(rel, path, sizeof(path)), 0, &je);

	ck_assert_msg(j != NULL, "%s: %s", path, je.text);
	return j;
}

static void check_ids(const int32_t *got, size_t n, json_t *want, const char *what)
{
	ck_assert_msg(n == json_array_size(want), "%s: %zu ids, want %zu", what, n,
		      json_array_size(want));
	for (size_t k = 0; k < n; k++)
		ck_assert_msg(got[k] == json_integer_value(json_array_get(want, k)),
			      "%s: id %zu is %d, want %lld", what, k, got[k],
			      json_integer_value(json_array_get(want, k)));
}

/* Stream @ids through the decoder one at a time; every chunk must be valid UTF-8. */
static char *stream_decode(const struct hc_tokenizer *t, int32_t first, const int32_t *ids,
			   size_t n, size_t *len)
{
	char *out = malloc(1024 * (n + 2)), chunk[1024];
	struct hc_detok d;
	size_t o = 0, k;

	hc_detok_init(&d);
	if (first >= 0)
		o += hc_detok_push(t, &d, first, out + o, 1024);
	for (size_t i = 0; i < n; i++) {
		k = hc_detok_push(t, &d, ids[i], chunk, sizeof(chunk));
		ck_assert_msg(utf8_ok(chunk, k), "chunk after id %d is not valid UTF-8", ids[i]);
		memcpy(out + o, chunk, k);
		o += k;
	}
	k = hc_detok_flush(&d, chunk, sizeof(chunk));
	ck_assert(utf8_ok(chunk, k));
	memcpy(out + o, chunk, k);
	o += k;
	out[o] = 0;
	*len = o;
	return out;
}

/* Every golden case: encode ==, decode == text, streaming chunks valid UTF-8. */
static void run_golden(const struct hc_tokenizer *t, json_t *cases, unsigned flags, int32_t first)
{
	size_t i;
	json_t *c;

	ck_assert_uint_gt(json_array_size(cases), 30);
	json_array_foreach(cases, i, c) {
		const char *text = json_string_value(json_object_get(c, "text"));
		json_t *want = json_object_get(c, "ids");
		int32_t ids[4096];
		size_t n = 0, dl;
		char *dec;

		ck_assert_ptr_nonnull(text);
		ck_assert_str_eq(json_string_value(json_object_get(c, "decoded")), text);
		ck_assert_int_eq(hc_tok_encode(t, text, strlen(text), flags, ids, 4096, &n), 0);
		check_ids(ids, n, want, text);
		dec = stream_decode(t, first, ids, n, &dl);
		ck_assert_msg(dl == strlen(text) && !memcmp(dec, text, dl),
			      "decode of case %zu: \"%s\", want \"%s\"", i, dec, text);
		free(dec);
	}
}

START_TEST(llama2_spm_golden)
{
	char buf[512];
	struct hc_tokenizer *t;
	json_t *j;

	HC_REQUIRE_SHARED(L2_GOLD, buf);
	HC_REQUIRE_SHARED(L2_TOK, buf);
	t = load_llama2();
	j = load_json(L2_GOLD);
	ck_assert_uint_eq(hc_tok_vocab_size(t), 32000);
	ck_assert_int_eq(hc_tok_bos(t), 1);
	ck_assert_int_eq(hc_tok_eos(t), 2);
	{
		int32_t stop[4];

		ck_assert_uint_eq(hc_tok_stop_ids(t, stop, 4), 1);
		ck_assert_int_eq(stop[0], 2);
	}
	/* sentencepiece's decode drops the dummy-prefix space: the stream starts with BOS. */
	run_golden(t, json_object_get(j, "cases"), 0, hc_tok_bos(t));
	json_decref(j);
	hc_tok_free(t);
}
END_TEST

/* Raw piece bytes: "▁" is a space, <0xNN> is the byte. */
START_TEST(llama2_pieces)
{
	char buf[512];
	struct hc_tokenizer *t;
	json_t *j, *c;
	size_t i, len;
	const char *p;

	HC_REQUIRE_SHARED(L2_GOLD, buf);
	HC_REQUIRE_SHARED(L2_TOK, buf);
	t = load_llama2();
	j = load_json(L2_GOLD);
	json_array_foreach(json_object_get(j, "cases"), i, c) {
		json_t *ids = json_object_get(c, "ids"), *pieces = json_object_get(c, "pieces");

		ck_assert_uint_eq(json_array_size(ids), json_array_size(pieces));
		for (size_t k = 0; k < json_array_size(ids); k++) {
			const char *want = json_string_value(json_array_get(pieces, k));
			int32_t id = (int32_t)json_integer_value(json_array_get(ids, k));
			char exp[64];
			size_t e = 0;

			p = hc_tok_piece(t, id, &len);
			ck_assert_ptr_nonnull(p);
			if (!strncmp(want, "<0x", 3)) {
				ck_assert_uint_eq(len, 1);
				ck_assert_uint_eq((unsigned char)p[0], strtoul(want + 3, NULL, 16));
				continue;
			}
			for (const char *w = want; *w; w++) {
				if (!strncmp(w, "\xe2\x96\x81", 3)) {
					exp[e++] = ' ';
					w += 2;
				} else {
					exp[e++] = *w;
				}
			}
			ck_assert_msg(len == e && !memcmp(p, exp, e), "piece of %d", id);
		}
	}
	p = hc_tok_piece(t, 1, &len);
	ck_assert(len == 3 && !memcmp(p, "<s>", 3));
	ck_assert_ptr_null(hc_tok_piece(t, 32000, &len));
	ck_assert_ptr_null(hc_tok_piece(t, -1, &len));
	json_decref(j);
	hc_tok_free(t);
}
END_TEST

START_TEST(llama3_bpe_golden)
{
	char buf[512];
	struct hc_tokenizer *t;
	int32_t stop[8];
	uint32_t ns;
	json_t *j;

	HC_REQUIRE_SHARED(L3_GOLD, buf);
	HC_REQUIRE_SHARED(L3_TOK, buf);
	t = load_llama3();
	j = load_json(L3_GOLD);
	ck_assert_uint_eq(hc_tok_vocab_size(t), 128256);
	ck_assert_int_eq(hc_tok_bos(t), 128000);
	ck_assert_int_eq(hc_tok_eos(t), 128009);	/* tokenizer_config.json eos_token */
	ns = hc_tok_stop_ids(t, stop, 8);
	ck_assert_uint_eq(ns, 3);
	for (int32_t want = 128000; want <= 128009; want++) {
		int found = 0;

		for (uint32_t k = 0; k < ns; k++)
			found |= stop[k] == want;
		ck_assert_int_eq(found, want == 128001 || want == 128008 || want == 128009);
	}
	ck_assert_uint_eq(hc_tok_stop_ids(t, stop, 1), 1);
	run_golden(t, json_object_get(j, "cases"), HC_ENC_PARSE_SPECIAL, -1);
	json_decref(j);
	hc_tok_free(t);
}
END_TEST

/* Without HC_ENC_PARSE_SPECIAL special-token text is plain text. */
START_TEST(llama3_special_flag)
{
	static const char text[] = "<|eot_id|>";
	char buf[512];
	struct hc_tokenizer *t;
	int32_t ids[32];
	size_t n;

	HC_REQUIRE_SHARED(L3_TOK, buf);
	t = load_llama3();
	ck_assert_int_eq(hc_tok_encode(t, text, strlen(text), HC_ENC_PARSE_SPECIAL, ids, 32, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ids[0], 128009);
	ck_assert_int_eq(hc_tok_encode(t, text, strlen(text), HC_ENC_BOS, ids, 32, &n), 0);
	ck_assert_uint_gt(n, 2);
	ck_assert_int_eq(ids[0], 128000);
	for (size_t i = 1; i < n; i++)
		ck_assert_int_lt(ids[i], 128000);
	/* -ENOSPC tells the full count. */
	ck_assert_int_eq(hc_tok_encode(t, text, strlen(text), 0, ids, 1, &n), -ENOSPC);
	ck_assert_uint_gt(n, 1);
	/* Invalid UTF-8 is refused, not mangled. */
	ck_assert_int_eq(hc_tok_encode(t, "a\xff", 2, 0, ids, 32, &n), -EILSEQ);
	hc_tok_free(t);
}
END_TEST

/* The model goldens' prompts (incl. the 2,341-token one) and the chat case. */
START_TEST(llama3_prompts_and_chat)
{
	char buf[512];
	struct hc_tokenizer *t;
	struct hc_chat_msg msgs[8];
	json_t *j, *c, *chat, *m;
	int32_t *ids;
	size_t i, n;

	HC_REQUIRE_SHARED(L3_GEN, buf);
	HC_REQUIRE_SHARED(L3_TOK, buf);
	/* after the skips: a skipped test must not leak it (LeakSanitizer, make check-sanitize) */
	ids = malloc(8192 * sizeof(*ids));
	t = load_llama3();
	j = load_json(L3_GEN);
	json_array_foreach(json_object_get(j, "cases"), i, c) {
		const char *text = json_string_value(json_object_get(c, "text"));

		ck_assert_int_eq(hc_tok_encode(t, text, strlen(text), HC_ENC_BOS, ids, 8192, &n), 0);
		check_ids(ids, n, json_object_get(c, "prompt_ids"), "prompt");
	}
	chat = json_object_get(j, "chat");
	ck_assert_uint_le(json_array_size(json_object_get(chat, "messages")), 8);
	json_array_foreach(json_object_get(chat, "messages"), i, m) {
		msgs[i].role = json_string_value(json_object_get(m, "role"));
		msgs[i].content = json_string_value(json_object_get(m, "content"));
	}
	n = 0;
	ck_assert_int_eq(hc_tok_chat(t, msgs, i, 1, ids, 8192, &n), 0);
	check_ids(ids, n, json_object_get(chat, "prompt_ids"), "chat");
	/* The rendered text parsed with specials gives the same ids. */
	{
		const char *text = json_string_value(json_object_get(chat, "text"));
		size_t n2;
		int32_t *ids2 = malloc(8192 * sizeof(*ids2));

		ck_assert_int_eq(hc_tok_encode(t, text, strlen(text), HC_ENC_PARSE_SPECIAL, ids2,
					       8192, &n2), 0);
		ck_assert_uint_eq(n2, n);
		ck_assert(!memcmp(ids, ids2, n * sizeof(*ids)));
		free(ids2);
	}
	/* Message text is never parsed for specials; surrounding whitespace is trimmed. */
	msgs[0].role = "user";
	msgs[0].content = "  <|eot_id|>\n";
	ck_assert_int_eq(hc_tok_chat(t, msgs, 1, 0, ids, 8192, &n), 0);
	ck_assert_int_eq(ids[0], 128000);
	ck_assert_int_eq(ids[n - 1], 128009);
	for (size_t k = 4; k < n - 1; k++)
		ck_assert_int_lt(ids[k], 128000);
	ck_assert_int_eq(hc_tok_chat(t, msgs, 1, 0, ids, 2, &n), -ENOSPC);
	json_decref(j);
	hc_tok_free(t);
	free(ids);
}
END_TEST

/* The Llama 3.1 template's system header (date lines), with and without a system message. */
START_TEST(llama31_chat_format)
{
	static const char *const want[2] = {
		"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge "
		"Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|>"
		"<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
		"<|start_header_id|>assistant<|end_header_id|>\n\n",
		"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge "
		"Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
		"<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
	};
	struct hc_chat_msg m[2] = { { "system", " Be brief.\n" }, { "user", "Hi" } };
	char p1[512], p2[512], err[256];
	struct hc_tok_spec *s;
	struct hc_tokenizer *t;
	int32_t ids[256], ref[256];
	size_t n, nr;

	HC_REQUIRE_SHARED(L3_TOK, p1);
	hc_test_shared(L3_CFG, p2, sizeof(p2));
	ck_assert_int_eq(hc_tok_spec_from_hf(p1, p2, &s, err, sizeof(err)), 0);
	s->chat_format = HC_CHAT_LLAMA31;
	t = from_spec(s);
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(hc_tok_chat(t, m + k, 2 - k, k == 0, ids, 256, &n), 0);
		ck_assert_int_eq(hc_tok_encode(t, want[k], strlen(want[k]), HC_ENC_PARSE_SPECIAL, ref,
					       256, &nr), 0);
		ck_assert_uint_eq(n, nr);
		ck_assert(!memcmp(ids, ref, n * sizeof(*ids)));
	}
	hc_tok_free(t);
	hc_tok_spec_free(s);
}
END_TEST

START_TEST(llama2_chat_format)
{
	char buf[512];
	struct hc_tokenizer *t;
	struct hc_chat_msg m[4] = {
		{ "system", "Be brief." }, { "user", " Hi " }, { "assistant", "Hello." },
		{ "user", "Bye" },
	};
	int32_t ids[256], want[256];
	size_t n, w = 0, k;
	static const char *const parts[] = {
		"[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. ", "[INST] Bye [/INST]",
	};

	HC_REQUIRE_SHARED(L2_TOK, buf);
	t = load_llama2();
	ck_assert_int_eq(hc_tok_chat(t, m, 4, 1, ids, 256, &n), 0);
	for (int p = 0; p < 2; p++) {
		ck_assert_int_eq(hc_tok_encode(t, parts[p], strlen(parts[p]), HC_ENC_BOS, want + w,
					       256 - w, &k), 0);
		w += k;
		if (p == 0)
			want[w++] = 2;
	}
	ck_assert_uint_eq(n, w);
	ck_assert(!memcmp(ids, want, n * sizeof(*ids)));
	/* Llama 2 chat alternates user and assistant. */
	m[2].role = "user";
	ck_assert_int_eq(hc_tok_chat(t, m, 4, 1, ids, 256, &n), -EINVAL);
	hc_tok_free(t);
}
END_TEST

/* Bytes of one character split across byte tokens come out whole; junk becomes U+FFFD. */
START_TEST(detok_utf8)
{
	char buf[512], out[256];
	struct hc_tokenizer *t;
	struct hc_detok d;
	/* <0xNN> is id 3 + NN in Llama 2 */
	int32_t e6 = 3 + 0xe6, x9d = 3 + 0x9d, xb1 = 3 + 0xb1, ff = 3 + 0xff;

	HC_REQUIRE_SHARED(L2_TOK, buf);
	t = load_llama2();
	hc_detok_init(&d);
	ck_assert_uint_eq(hc_detok_push(t, &d, e6, out, sizeof(out)), 0);
	ck_assert_uint_eq(hc_detok_push(t, &d, x9d, out, sizeof(out)), 0);
	ck_assert_uint_eq(hc_detok_push(t, &d, xb1, out, sizeof(out)), 3);
	ck_assert(!memcmp(out, "\xe6\x9d\xb1", 3));		/* 東 */
	ck_assert_uint_eq(hc_detok_push(t, &d, ff, out, sizeof(out)), 3);
	ck_assert(!memcmp(out, "\xef\xbf\xbd", 3));
	ck_assert_uint_eq(hc_detok_push(t, &d, e6, out, sizeof(out)), 0);
	/* a piece interrupting a started character: U+FFFD, then the piece */
	ck_assert_uint_eq(hc_detok_push(t, &d, 450, out, sizeof(out)), 3 + 4);	/* "▁The" */
	ck_assert(!memcmp(out, "\xef\xbf\xbd The", 7));
	ck_assert_uint_eq(hc_detok_push(t, &d, e6, out, sizeof(out)), 0);
	ck_assert_uint_eq(hc_detok_flush(&d, out, sizeof(out)), 3);
	ck_assert_uint_eq(hc_detok_flush(&d, out, sizeof(out)), 0);
	/* surrogate encodings are never valid */
	hc_detok_init(&d);
	ck_assert_uint_eq(hc_detok_push(t, &d, 3 + 0xed, out, sizeof(out)), 0);
	ck_assert_uint_eq(hc_detok_push(t, &d, 3 + 0xa0, out, sizeof(out)), 6);
	ck_assert(!memcmp(out, "\xef\xbf\xbd\xef\xbf\xbd", 6));
	/* BOS and the leading space after it */
	hc_detok_init(&d);
	ck_assert_uint_eq(hc_detok_push(t, &d, 1, out, sizeof(out)), 0);
	ck_assert_uint_eq(hc_detok_push(t, &d, 450, out, sizeof(out)), 3);
	ck_assert(!memcmp(out, "The", 3));
	ck_assert_uint_eq(hc_detok_push(t, &d, 450, out, sizeof(out)), 4);
	hc_tok_free(t);
}
END_TEST

static void check_builtin(uint32_t vocab)
{
	struct hc_tok_spec *s, *s2;
	struct hc_tokenizer *t;
	char err[256], out[256];
	void *b1, *b2;
	size_t l1, l2, n;
	int32_t ids[4096];
	unsigned seed = vocab;
	static const char text[] =
		"Once upon a time, there was a little girl named Lily.\n\tShe said: \"Hello!\" "
		"#42 ~ {x} [y] (z) <w> @ $5 ^ & * _ + = | \\ / ? ; : ' ` 0123456789 QWERTY zz";

	ck_assert_msg(hc_tok_spec_builtin(vocab, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(s->n_vocab, vocab);
	ck_assert_int_eq(hc_tok_spec_builtin(vocab, &s2, err, sizeof(err)), 0);
	ck_assert_int_eq(hc_tok_spec_serialize(s, &b1, &l1), 0);
	ck_assert_int_eq(hc_tok_spec_serialize(s2, &b2, &l2), 0);
	ck_assert(l1 == l2 && !memcmp(b1, b2, l1));	/* deterministic */
	for (uint32_t i = 0; i < vocab; i++) {
		ck_assert_uint_gt(strlen(s->pieces[i]), 0);
		ck_assert(utf8_ok(s->pieces[i], strlen(s->pieces[i])));
	}
	ck_assert_int_eq(hc_tok_load(b1, l1, &t, err, sizeof(err)), 0);
	ck_assert_uint_eq(hc_tok_vocab_size(t), vocab);
	/* ASCII round trip */
	ck_assert_int_eq(hc_tok_encode(t, text, strlen(text), HC_ENC_BOS, ids, 4096, &n), 0);
	ck_assert_int_eq(ids[0], hc_tok_bos(t));
	for (size_t i = 1; i < n; i++)
		ck_assert_int_ne(ids[i], 0);	/* no <unk> for ASCII */
	if (vocab >= 4096) {
		static const char words[] = "Once upon a time, there was a little girl named Lily.";

		/* words really merge: "▁Once", "▁upon", ... */
		ck_assert_int_eq(hc_tok_encode(t, words, strlen(words), 0, ids, 4096, &n), 0);
		ck_assert_uint_le(n, 14);
		ck_assert_int_eq(hc_tok_encode(t, text, strlen(text), HC_ENC_BOS, ids, 4096, &n), 0);
	}
	{
		size_t dl;
		char *dec = stream_decode(t, -1, ids, n, &dl);

		ck_assert_str_eq(dec, text);
		free(dec);
	}
	/* random id sequences decode to valid UTF-8 */
	for (int r = 0; r < 2000; r++) {
		struct hc_detok d;
		size_t k;

		hc_detok_init(&d);
		for (int i = 0; i < 16; i++) {
			k = hc_detok_push(t, &d, (int32_t)(rand_r(&seed) % vocab), out, sizeof(out));
			ck_assert(utf8_ok(out, k));
		}
		ck_assert_uint_eq(hc_detok_flush(&d, out, sizeof(out)), 0);
	}
	/* non-ASCII becomes <unk> */
	ck_assert_int_eq(hc_tok_encode(t, "\xc3\xa9", 2, 0, ids, 4096, &n), 0);
	ck_assert_int_eq(ids[n - 1], 0);
	hc_tok_free(t);
	free(b1);
	free(b2);
	hc_tok_spec_free(s);
	hc_tok_spec_free(s2);
}

START_TEST(builtin_tokenizer)
{
	static const uint32_t sizes[] = { 100, 300, 512, 4096, 32000, 128256, 200000 };
	struct hc_tok_spec *s;
	char err[256];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_builtin(sizes[i]);
	ck_assert_int_eq(hc_tok_spec_builtin(99, &s, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "vocab_size"));
}
END_TEST

/* A small byte-level BPE spec built by hand: the 256 byte symbols and a few merges. */
static struct hc_tok_spec *tiny_bpe(void)
{
	static const char *const extra[] = { "he", "ll", "hell", "hello", "<|eot_id|>", "<|eot" };
	static const char *const merges[] = { "h e", "l l", "he ll", "hell o" };
	struct hc_tok_spec *s = calloc(1, sizeof(*s));
	uint32_t n = 0;

	s->kind = HC_TOK_BPE;
	s->n_vocab = 256 + 6;
	s->pieces = calloc(s->n_vocab, sizeof(char *));
	s->types = calloc(s->n_vocab, 1);
	for (int b = 0; b < 256; b++) {
		unsigned cp = b;
		char u[4] = { 0 };

		if (!((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae)) {
			cp = 256;
			for (int i = 0; i < b; i++)
				cp += !((i >= 0x21 && i <= 0x7e) || (i >= 0xa1 && i <= 0xac) || i >= 0xae);
		}
		if (cp < 0x80) {
			u[0] = (char)cp;
		} else {
			u[0] = (char)(0xc0 | cp >> 6);
			u[1] = (char)(0x80 | (cp & 0x3f));
		}
		s->pieces[n] = strdup(u);
		s->types[n++] = HC_TT_NORMAL;
	}
	for (int i = 0; i < 6; i++) {
		s->pieces[n] = strdup(extra[i]);
		s->types[n++] = i == 4 ? HC_TT_CONTROL : i == 5 ? HC_TT_USER_DEFINED : HC_TT_NORMAL;
	}
	s->n_merges = 4;
	s->merges = calloc(4, sizeof(char *));
	for (int i = 0; i < 4; i++)
		s->merges[i] = strdup(merges[i]);
	s->bos_id = s->unk_id = s->pad_id = -1;
	s->eos_id = s->eot_id = 260;
	s->pretok_regex = strdup("\\s+|\\S+");
	return s;
}

START_TEST(blob_round_trip_tiny_bpe)
{
	struct hc_tok_spec *s = tiny_bpe();
	struct hc_tokenizer *t = from_spec(s);
	int32_t ids[32];
	size_t n;

	ck_assert_int_eq(hc_tok_encode(t, "hello hell<|eot_id|>", 20, HC_ENC_PARSE_SPECIAL, ids, 32,
				       &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(ids[0], 259);		/* hello */
	ck_assert_int_eq(ids[1], 0x20);		/* the byte symbol "Ġ" */
	ck_assert_int_eq(ids[2], 258);		/* hell */
	ck_assert_int_eq(ids[3], 260);
	/* user-defined text always matches; the longer control token only with the flag */
	ck_assert_int_eq(hc_tok_encode(t, "<|eot_id|><|eo", 14, 0, ids, 32, &n), 0);
	ck_assert_uint_eq(n, 1 + 9);	/* "<|eot", then the 9 bytes of "_id|><|eo" */
	ck_assert_int_eq(ids[0], 261);
	ck_assert_int_eq(hc_tok_encode(t, "<|eot_id|><|eot", 15, HC_ENC_PARSE_SPECIAL, ids, 32, &n),
			 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(ids[0], 260);
	ck_assert_int_eq(ids[1], 261);
	hc_tok_free(t);
	/* a merge whose halves are missing from the vocab is refused at serialise time */
	free(s->merges[3]);
	s->merges[3] = strdup("hell x");
	{
		void *b;
		size_t l;

		ck_assert_int_eq(hc_tok_spec_serialize(s, &b, &l), -EINVAL);
	}
	hc_tok_spec_free(s);
}
END_TEST

static uint32_t crc32_le(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & -(c & 1));
	}
	return ~c;
}

/* Recompute the blob's CRC so that mutations reach the structural checks. */
static void fix_crc(uint8_t *b, size_t len)
{
	uint32_t c;

	memset(b + 12, 0, 4);
	c = crc32_le(b, len);
	memcpy(b + 12, &c, 4);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);	/* test host is little-endian like the blob */
}

static int try_load(const uint8_t *b, size_t len, char *err, size_t errlen)
{
	struct hc_tokenizer *t = NULL;
	int ret = hc_tok_load(b, len, &t, err, errlen);

	if (!ret) {
		int32_t ids[64];
		size_t n;
		char out[256];
		struct hc_detok d;

		/* whatever loads must also work */
		hc_tok_encode(t, "hello world <s>", 15, HC_ENC_PARSE_SPECIAL | HC_ENC_BOS, ids, 64, &n);
		hc_detok_init(&d);
		for (uint32_t i = 0; i < 64 && i < hc_tok_vocab_size(t); i++)
			hc_detok_push(t, &d, (int32_t)i, out, sizeof(out));
		hc_tok_free(t);
	} else {
		ck_assert_msg(err[0] != 0, "an error without a message");
		ck_assert_ptr_null(t);
	}
	return ret;
}

static void hostile(struct hc_tok_spec *s)
{
	uint8_t *b, *m;
	size_t len;
	char err[256];
	unsigned seed = 7;

	ck_assert_int_eq(hc_tok_spec_serialize(s, (void **)&b, &len), 0);
	m = malloc(len);
	err[0] = 0;
	ck_assert_int_eq(try_load(b, len, err, sizeof(err)), 0);
	/* every truncation */
	for (size_t l = 0; l < len; l++) {
		memcpy(m, b, l);
		err[0] = 0;
		ck_assert_int_eq(try_load(m, l, err, sizeof(err)), -EINVAL);
	}
	/* every single-bit flip is caught */
	for (size_t i = 0; i < len; i++) {
		memcpy(m, b, len);
		m[i] ^= (uint8_t)(1u << (i % 8));
		err[0] = 0;
		ck_assert_int_eq(try_load(m, len, err, sizeof(err)), -EINVAL);
	}
	/* bad counts, with a valid checksum */
	for (int f = 16; f < 72; f += 4) {
		static const uint32_t vals[] = { 0, 1, 0x7fffffff, 0xffffffff, 300, 0x1000000 };

		for (size_t v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
			memcpy(m, b, len);
			put_u32(m + f, vals[v]);
			fix_crc(m, len);
			err[0] = 0;
			try_load(m, len, err, sizeof(err));	/* must not crash or leak */
		}
	}
	/* random byte damage with a valid checksum: error or a working tokenizer */
	for (int r = 0; r < 3000; r++) {
		memcpy(m, b, len);
		for (int k = 0; k < 1 + r % 4; k++)
			m[rand_r(&seed) % len] = (uint8_t)rand_r(&seed);
		fix_crc(m, len);
		err[0] = 0;
		try_load(m, len, err, sizeof(err));
	}
	free(m);
	free(b);
}

START_TEST(hostile_blobs)
{
	struct hc_tok_spec *s;
	char err[256];
	uint8_t *b;
	size_t len;

	ck_assert_int_eq(hc_tok_spec_builtin(300, &s, err, sizeof(err)), 0);
	hostile(s);
	hc_tok_spec_free(s);
	s = tiny_bpe();
	hostile(s);
	/* a merge pointing past the vocab, checksum fixed: named in the error */
	ck_assert_int_eq(hc_tok_spec_serialize(s, (void **)&b, &len), 0);
	put_u32(b + 72 + 4 * s->n_vocab, 5000);
	fix_crc(b, len);
	ck_assert_int_eq(try_load(b, len, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "merge 0") != NULL, "%s", err);
	/* an invalid regex */
	free(b);
	free(s->pretok_regex);
	s->pretok_regex = strdup("(unclosed");
	ck_assert_int_eq(hc_tok_spec_serialize(s, (void **)&b, &len), 0);
	ck_assert_int_eq(try_load(b, len, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "regex") != NULL, "%s", err);
	free(b);
	hc_tok_spec_free(s);
}
END_TEST

static const char *write_tmp(const void *data, size_t len, char *path)
{
	FILE *f;

	strcpy(path, "/tmp/hc_tok_XXXXXX");
	ck_assert_int_ge(mkstemp(path), 0);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	fclose(f);
	return path;
}

/* llama2.c tokenizer files: counts, truncation, conversion of the exported pieces. */
START_TEST(llama2c_files)
{
	uint8_t file[256];
	size_t o = 0;
	char path[64], err[256];
	struct hc_tok_spec *s;
	static const char *const pieces[] = { "<unk>", "\n<s>\n", "\n</s>\n", "<0x41>", " a", "b" };

#define PUT32(v) do { uint32_t _v = (v); memcpy(file + o, &_v, 4); o += 4; } while (0)
	PUT32(6);
	for (int i = 0; i < 6; i++) {
		float sc = -(float)i;

		memcpy(file + o, &sc, 4);
		o += 4;
		PUT32((uint32_t)strlen(pieces[i]));
		memcpy(file + o, pieces[i], strlen(pieces[i]));
		o += strlen(pieces[i]);
	}
	write_tmp(file, o, path);
	ck_assert_msg(hc_tok_spec_from_llama2c(path, 0, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(s->n_vocab, 6);
	ck_assert_str_eq(s->pieces[1], "<s>");
	ck_assert_str_eq(s->pieces[2], "</s>");
	ck_assert_str_eq(s->pieces[4], "\xe2\x96\x81" "a");
	ck_assert_uint_eq(s->types[0], HC_TT_UNKNOWN);
	ck_assert_uint_eq(s->types[1], HC_TT_CONTROL);
	ck_assert_uint_eq(s->types[3], HC_TT_BYTE);
	ck_assert_uint_eq(s->types[5], HC_TT_NORMAL);
	hc_tok_spec_free(s);
	ck_assert_int_eq(hc_tok_spec_from_llama2c(path, 6, &s, err, sizeof(err)), 0);
	hc_tok_spec_free(s);
	ck_assert_int_eq(hc_tok_spec_from_llama2c(path, 5, &s, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "vocab_size"));
	ck_assert_int_eq(hc_tok_spec_from_llama2c(path, 7, &s, err, sizeof(err)), -EINVAL);
	/* Without a count in the format, only the expected vocab size catches a cut at an
	 * entry boundary. */
	for (size_t l = 0; l < o; l++) {
		write_tmp(file, l, path);
		ck_assert_int_eq(hc_tok_spec_from_llama2c(path, 6, &s, err, sizeof(err)), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, path));
		unlink(path);
	}
	unlink(path);
	ck_assert_int_eq(hc_tok_spec_from_llama2c("/nonexistent/tok.bin", 0, &s, err, sizeof(err)),
			 -ENOENT);
#undef PUT32
}
END_TEST

/* tokenizer.json: merges in the [a, b] form, added tokens, config objects; bad models. */
START_TEST(hf_json_forms)
{
	char tj[64], cj[64], err[256];
	struct hc_tok_spec *s;
	struct hc_tokenizer *t;
	int32_t ids[16];
	size_t n, o = 0;
	static char json[65536];
	static const char cfg[] = "{\"bos_token\": {\"content\": \"<|begin_of_text|>\"}, "
				  "\"eos_token\": \"<|eot_id|>\", \"model_max_length\": "
				  "1000000000000000019884624838656, \"chat_template\": "
				  "\"<|start_header_id|>\"}";

	o += sprintf(json + o, "{\"added_tokens\": [{\"id\": 261, \"content\": "
		     "\"<|begin_of_text|>\", \"special\": true}, {\"id\": 262, \"content\": "
		     "\"<|eot_id|>\", \"special\": true}], \"normalizer\": null, "
		     "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
		     "\"use_regex\": true}, \"model\": {\"type\": \"BPE\", \"vocab\": {");
	for (int b = 0; b < 256; b++) {
		unsigned cp = b;

		if (!((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae)) {
			cp = 256;
			for (int i = 0; i < b; i++)
				cp += !((i >= 0x21 && i <= 0x7e) || (i >= 0xa1 && i <= 0xac) || i >= 0xae);
		}
		if (cp == '"' || cp == '\\')
			o += sprintf(json + o, "\"\\%c\": %d, ", cp, b);
		else
			o += sprintf(json + o, "\"\\u%04x\": %d, ", cp, b);
	}
	o += sprintf(json + o, "\"he\": 256, \"ll\": 257, \"hell\": 258, \"hello\": 259, "
		     "\"\\u0120hello\": 260}, \"merges\": [[\"h\", \"e\"], \"l l\", [\"he\", \"ll\"], "
		     "[\"hell\", \"o\"], [\"\\u0120\", \"hello\"]]}}");
	write_tmp(json, o, tj);
	write_tmp(cfg, strlen(cfg), cj);
	ck_assert_msg(hc_tok_spec_from_hf(tj, cj, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(s->n_vocab, 263);
	ck_assert_int_eq(s->bos_id, 261);
	ck_assert_int_eq(s->eos_id, 262);
	ck_assert_uint_eq(s->types[262], HC_TT_CONTROL);
	ck_assert_uint_eq(s->chat_format, HC_CHAT_LLAMA3);
	t = from_spec(s);
	ck_assert_int_eq(hc_tok_encode(t, "hello hello", 11, HC_ENC_BOS, ids, 16, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(ids[0], 261);
	ck_assert_int_eq(ids[1], 259);
	ck_assert_int_eq(ids[2], 260);
	hc_tok_free(t);
	hc_tok_spec_free(s);
	ck_assert_int_eq(hc_tok_spec_from_hf(tj, NULL, &s, err, sizeof(err)), 0);
	ck_assert_int_eq(s->bos_id, 261);
	hc_tok_spec_free(s);

	/* not a BPE model */
	o = (size_t)sprintf(json, "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
	unlink(tj);
	write_tmp(json, o, tj);
	ck_assert_int_eq(hc_tok_spec_from_hf(tj, NULL, &s, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "unsupported tokenizer.json model") != NULL, "%s", err);
	/* broken JSON names the file and line */
	unlink(tj);
	write_tmp("{\"model\": ", 10, tj);
	ck_assert_int_eq(hc_tok_spec_from_hf(tj, NULL, &s, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, tj));
	unlink(tj);
	unlink(cj);
}
END_TEST

static const float *sort_scores;

static int by_score(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	if (sort_scores[x] != sort_scores[y])
		return sort_scores[x] > sort_scores[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

/*
 * Llama 2's tokenizer.json as transformers' converter writes it: the vocab, and for every
 * piece in score order all its splits into two vocab pieces as merges.
 */
static void write_llama2_hf(const struct hc_tok_spec *s, const char *path, int metaspace)
{
	json_t *root = json_object(), *vocab = json_object(), *merges = json_array();
	json_t *model = json_object(), *added = json_array(), *pre;
	uint32_t *order = malloc(s->n_vocab * sizeof(*order));
	char a[256];

	for (uint32_t i = 0; i < s->n_vocab; i++) {
		json_object_set_new(vocab, s->pieces[i], json_integer(i));
		order[i] = i;
	}
	sort_scores = s->scores;
	qsort(order, s->n_vocab, sizeof(*order), by_score);
	for (uint32_t k = 0; k < s->n_vocab; k++) {
		const char *t = s->pieces[order[k]];
		size_t len = strlen(t);

		if (s->types[order[k]] != HC_TT_NORMAL)
			continue;
		for (size_t cut = 1; cut < len; cut++) {
			if (((unsigned char)t[cut] & 0xc0) == 0x80)
				continue;
			memcpy(a, t, cut);
			a[cut] = 0;
			if (json_object_get(vocab, a) && json_object_get(vocab, t + cut)) {
				char m[512];

				snprintf(m, sizeof(m), "%s %s", a, t + cut);
				json_array_append_new(merges, json_string(m));
			}
		}
	}
	for (int i = 0; i < 3; i++)
		json_array_append_new(added, json_pack("{s:i, s:s, s:b}", "id", i, "content",
						       s->pieces[i], "special", 1));
	json_object_set_new(model, "type", json_string("BPE"));
	json_object_set_new(model, "vocab", vocab);
	json_object_set_new(model, "merges", merges);
	json_object_set_new(model, "byte_fallback", json_true());
	json_object_set_new(model, "unk_token", json_string("<unk>"));
	json_object_set_new(root, "added_tokens", added);
	json_object_set_new(root, "model", model);
	if (metaspace) {
		pre = json_pack("{s:s, s:s, s:s, s:b}", "type", "Metaspace", "replacement",
				"\xe2\x96\x81", "prepend_scheme", "first", "split", 0);
		json_object_set_new(root, "normalizer", json_null());
		json_object_set_new(root, "pre_tokenizer", pre);
	} else {
		json_object_set_new(root, "normalizer", json_pack(
			"{s:s, s:[{s:s, s:s}, {s:s, s:{s:s}, s:s}]}", "type", "Sequence",
			"normalizers", "type", "Prepend", "prepend", "\xe2\x96\x81", "type", "Replace",
			"pattern", "String", " ", "content", "\xe2\x96\x81"));
		json_object_set_new(root, "pre_tokenizer", json_null());
	}
	ck_assert_int_eq(json_dump_file(root, path, 0), 0);
	json_decref(root);
	free(order);
}

/* SentencePiece-style tokenizer.json (Llama 2 HF): both converter layouts match sentencepiece. */
START_TEST(llama2_hf_json)
{
	char buf[512], path[64], err[256];
	struct hc_tok_spec *l2, *s;
	struct hc_tokenizer *t;
	json_t *j;

	HC_REQUIRE_SHARED(L2_GOLD, buf);
	HC_REQUIRE_SHARED(L2_TOK, buf);
	hc_test_shared(L2_TOK, buf, sizeof(buf));
	ck_assert_int_eq(hc_tok_spec_from_llama2c(buf, 32000, &l2, err, sizeof(err)), 0);
	j = load_json(L2_GOLD);
	for (int meta = 0; meta < 2; meta++) {
		strcpy(path, "/tmp/hc_tok_XXXXXX");
		ck_assert_int_ge(mkstemp(path), 0);
		write_llama2_hf(l2, path, meta);
		ck_assert_msg(hc_tok_spec_from_hf(path, NULL, &s, err, sizeof(err)) == 0, "%s", err);
		unlink(path);
		ck_assert_uint_eq(s->kind, HC_TOK_SPM);
		ck_assert_int_eq(s->bos_id, 1);
		ck_assert_int_eq(s->unk_id, 0);
		ck_assert_uint_eq(s->chat_format, HC_CHAT_LLAMA2);
		t = from_spec(s);
		run_golden(t, json_object_get(j, "cases"), 0, hc_tok_bos(t));
		hc_tok_free(t);
		hc_tok_spec_free(s);
	}
	json_decref(j);
	hc_tok_spec_free(l2);
}
END_TEST

static Suite *tokenizer_suite(void)
{
	Suite *s = suite_create("tokenizer");
	TCase *tc = hc_tcase(s, "core", 300);

	tcase_add_test(tc, llama2_spm_golden);
	tcase_add_test(tc, llama2_pieces);
	tcase_add_test(tc, llama3_bpe_golden);
	tcase_add_test(tc, llama3_special_flag);
	tcase_add_test(tc, llama3_prompts_and_chat);
	tcase_add_test(tc, llama31_chat_format);
	tcase_add_test(tc, llama2_chat_format);
	tcase_add_test(tc, detok_utf8);
	tcase_add_test(tc, builtin_tokenizer);
	tcase_add_test(tc, blob_round_trip_tiny_bpe);
	tcase_add_test(tc, hostile_blobs);
	tcase_add_test(tc, llama2c_files);
	tcase_add_test(tc, hf_json_forms);
	tcase_add_test(tc, llama2_hf_json);
	return s;
}

HC_TEST_MAIN(tokenizer_suite)
