// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the run-time tokenizer blob (lib/tokenizer, tok_blob.h), as libhc reads it from
 * a card's memory and hc-emud from a ROM. A blob that loads is then used: every piece, a
 * streaming decode of every id, encodes with and without special tokens, a chat.
 */
#include <string.h>
#include "fuzz.h"
#include "tokenizer.h"

#define MAX_IDS 4096	/* bounds the work per input, not the vocabulary */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const texts[] = {
		"Hello, world!", " leading space", "<|eot_id|><s></s>[INST]", ("caf\xc3\xa9 \xe2\x96\x81"
		 "\xf0\x9f\x98\x80 \t\n\r 0123456789"), "",
	};
	static const struct hc_chat_msg chat[] = {
		{ "system", "Be brief." }, { "user", "Hi <|eot_id|>" }, { "assistant", "Hello" },
		{ "user", "" },
	};
	struct hc_tokenizer *tok;
	struct hc_detok d;
	char err[256], out[4096];
	int32_t ids[256], stop[16];
	size_t n, i;
	uint32_t vocab, id;

	if (hc_tok_load(data, size, &tok, err, sizeof(err)))
		return 0;
	vocab = hc_tok_vocab_size(tok);
	hc_tok_bos(tok);
	hc_tok_eos(tok);
	hc_tok_stop_ids(tok, stop, 16);
	hc_detok_init(&d);
	for (id = 0; id < vocab && id < MAX_IDS; id++) {
		size_t len;

		hc_tok_piece(tok, (int32_t)id, &len);
		hc_detok_push(tok, &d, (int32_t)id, out, sizeof(out));
	}
	hc_detok_flush(&d, out, sizeof(out));
	hc_tok_piece(tok, -1, &n);
	hc_tok_piece(tok, (int32_t)vocab, &n);
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		hc_tok_encode(tok, texts[i], strlen(texts[i]), 0, ids, 256, &n);
		hc_tok_encode(tok, texts[i], strlen(texts[i]), HC_ENC_BOS | HC_ENC_PARSE_SPECIAL,
			      ids, 256, &n);
	}
	hc_tok_chat(tok, chat, 4, 1, ids, 256, &n);
	hc_tok_free(tok);
	return 0;
}
