// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the tokenizer's text operations with arbitrary bytes and ids. Tokenizers are
 * built once from the project's own importers: the built-in SentencePiece one (hc-bake's
 * synthetic models) in its three chat formats, and a byte-level BPE one with Llama 3's
 * special tokens and a few merges (fz_bpe_spec). Input: byte 0 picks the tokenizer, byte 1 the encode
 * flags and the output capacity; the rest is text to encode, the same bytes as little-endian
 * ids to decode, and as NUL-separated role/content pairs to chat.
 */
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "tok_spec.h"
#include "tokenizer.h"

#define N_TOK 4
static struct hc_tokenizer *toks[N_TOK];

static struct hc_tokenizer *load(struct hc_tok_spec *s)
{
	struct hc_tokenizer *t;
	void *blob;
	size_t len;
	char err[256];

	if (hc_tok_spec_serialize(s, &blob, &len) || hc_tok_load(blob, len, &t, err, sizeof(err)))
		abort();
	free(blob);
	return t;
}

static void init(void)
{
	static const uint32_t chat[] = { HC_CHAT_LLAMA2, HC_CHAT_LLAMA3, HC_CHAT_LLAMA31 };
	struct hc_tok_spec *s;
	char err[256];

	for (int i = 0; i < 3; i++) {
		if (hc_tok_spec_builtin(512, &s, err, sizeof(err)))
			abort();
		s->chat_format = chat[i];
		toks[i] = load(s);
		hc_tok_spec_free(s);
	}
	s = fz_bpe_spec();
	toks[3] = load(s);
	hc_tok_spec_free(s);
}

static void decode(const struct hc_tokenizer *tok, const int32_t *ids, size_t n)
{
	struct hc_detok d;
	char out[256];	/* the documented bound for every shipped vocabulary */
	size_t len;

	hc_detok_init(&d);
	for (size_t i = 0; i < n; i++) {
		hc_tok_piece(tok, ids[i], &len);
		if (hc_detok_push(tok, &d, ids[i], out, sizeof(out)) > sizeof(out))
			__builtin_trap();
	}
	if (hc_detok_flush(&d, out, sizeof(out)) > sizeof(out))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct hc_tokenizer *tok;
	struct hc_chat_msg msgs[8];
	const char *text;
	int32_t *ids, *big;
	size_t len, cap, n = 0, n_msgs = 0, i;
	unsigned flags;
	char *copy;

	if (!toks[0])
		init();
	if (size < 2)
		return 0;
	tok = toks[data[0] % N_TOK];
	flags = data[1] & (HC_ENC_BOS | HC_ENC_PARSE_SPECIAL);
	cap = data[1] >> 2;
	text = (const char *)data + 2;
	len = size - 2;

	/* encode with a small buffer, then again with the size it asked for */
	ids = malloc((cap ? cap : 1) * sizeof(*ids));
	if (!ids)
		return 0;
	if (hc_tok_encode(tok, text, len, flags, ids, cap, &n) == 0 && n > cap)
		__builtin_trap();
	if (n > cap && (big = malloc(n * sizeof(*big)))) {
		size_t n2;

		if (hc_tok_encode(tok, text, len, flags, big, n, &n2) == 0) {
			if (n2 != n)
				__builtin_trap();
			decode(tok, big, n2);
		}
		free(big);
	} else if (n <= cap) {
		decode(tok, ids, n);
	}
	free(ids);

	/* the same bytes as ids: negative, huge and valid alike */
	if (len >= 4) {
		int32_t *raw = malloc(len / 4 * sizeof(*raw));

		if (raw) {
			memcpy(raw, text, len / 4 * sizeof(*raw));
			decode(tok, raw, len / 4);
			free(raw);
		}
	}

	/* and as a chat: NUL-separated role, content, role, content... */
	copy = malloc(len + 1);
	if (!copy)
		return 0;
	memcpy(copy, text, len);
	copy[len] = 0;
	for (i = 0; i < len + 1 && n_msgs < 8;) {
		const char *role = copy + i;

		i += strlen(role) + 1;
		if (i >= len + 1)
			break;
		msgs[n_msgs].role = role;
		msgs[n_msgs++].content = copy + i;
		i += strlen(copy + i) + 1;
	}
	ids = malloc((cap ? cap : 1) * sizeof(*ids));
	if (ids) {
		hc_tok_chat(tok, msgs, n_msgs, data[1] & 1, ids, cap, &n);
		free(ids);
	}
	free(copy);
	return 0;
}
