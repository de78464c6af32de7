/* SPDX-License-Identifier: MIT */
/*
 * lib/tokenizer: the run-time tokenizer, what libhc needs to encode, decode, stream and
 * format chats: SentencePiece-style BPE (llama2.c, GGUF "llama") and Llama 3 byte-level BPE
 * (GGUF "gpt2", tokenizer.json). Uses lib/util and PCRE2; used by libhc, hc-run, hc-bench
 * and hc-bake (which builds blobs: tools/bake/tokenizer/tok_spec.h).
 *
 * A tokenizer lives in a ROM as a self-contained blob (tok_blob.h, docs/rom-format.md),
 * loaded with hc_tok_load(). All functions return 0 or a negative errno; those taking @err
 * write one line there.
 */
#ifndef HC_TOKENIZER_H
#define HC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

enum hc_tok_kind {
	HC_TOK_SPM = 1,		/* SentencePiece BPE by scores, "▁" for space, <0xNN> byte fallback */
	HC_TOK_BPE = 2,		/* byte-level BPE by merge rank, GPT-2 byte-to-unicode map */
};

/* Token types, as in GGUF tokenizer.ggml.token_type. */
enum hc_tok_type {
	HC_TT_NORMAL = 1,
	HC_TT_UNKNOWN = 2,
	HC_TT_CONTROL = 3,	/* special: <s>, <|eot_id|>, ... */
	HC_TT_USER_DEFINED = 4,
	HC_TT_UNUSED = 5,
	HC_TT_BYTE = 6,		/* <0xNN> */
};

enum hc_chat_format {
	HC_CHAT_NONE = 0,
	HC_CHAT_LLAMA3 = 1,	/* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
	HC_CHAT_LLAMA2 = 2,	/* [INST] ... [/INST] */
	HC_CHAT_LLAMA31 = 3,	/* LLAMA3 plus the 3.1 system header ("Cutting Knowledge Date") */
};

/* Run-time side. */
struct hc_tokenizer;

/* Parse and validate a blob (untrusted: every length and index is checked). */
int hc_tok_load(const void *blob, size_t len, struct hc_tokenizer **out, char *err,
		size_t errlen);
void hc_tok_free(struct hc_tokenizer *tok);

uint32_t hc_tok_vocab_size(const struct hc_tokenizer *tok);
int32_t hc_tok_bos(const struct hc_tokenizer *tok);
int32_t hc_tok_eos(const struct hc_tokenizer *tok);
/* End-of-generation ids (eos, eot, ...); returns the count written (at most @cap). */
uint32_t hc_tok_stop_ids(const struct hc_tokenizer *tok, int32_t *ids, uint32_t cap);

#define HC_ENC_BOS           (1u << 0)	/* prepend BOS */
#define HC_ENC_PARSE_SPECIAL (1u << 1)	/* text "<|eot_id|>" becomes the special token */

/*
 * Encode @len bytes of UTF-8. Writes at most @cap ids; *n_out is the full count, so a
 * caller can retry with a bigger buffer on -ENOSPC. -EILSEQ if @text is not valid UTF-8.
 */
int hc_tok_encode(const struct hc_tokenizer *tok, const char *text, size_t len,
		  unsigned flags, int32_t *ids, size_t cap, size_t *n_out);

/* Raw bytes of a token's text (byte tokens give their byte; specials their text). */
const char *hc_tok_piece(const struct hc_tokenizer *tok, int32_t id, size_t *len);

/*
 * Streaming decode: feed ids one at a time, get only complete UTF-8 out. A byte
 * sequence that can never become valid UTF-8 comes out as U+FFFD, never broken.
 */
struct hc_detok {
	uint8_t  pending[8];
	uint32_t n_pending;
	uint32_t prev_id_valid;	/* SPM: strip the dummy-prefix space after BOS */
	int32_t  prev_id;
};
void hc_detok_init(struct hc_detok *d);
/*
 * Returns bytes written to @out (never more than @cap; 64 + 3 x the longest piece is always
 * enough, 256 for every shipped vocabulary). SPM: control tokens give nothing and the piece
 * after BOS loses its leading space; push a prompt's ids first to continue after it.
 * BPE: special tokens give their text. Details: docs/tokenizers.md.
 */
size_t hc_detok_push(const struct hc_tokenizer *tok, struct hc_detok *d, int32_t id,
		     char *out, size_t cap);
/* Flush what is left at end of stream (incomplete bytes become U+FFFD). */
size_t hc_detok_flush(struct hc_detok *d, char *out, size_t cap);

/* Chat formatting with the ROM's chat format. */
struct hc_chat_msg {
	const char *role;	/* "system", "user", "assistant" */
	const char *content;
};
/* Token ids of @msgs in the ROM's chat format, BOS first; generation prompt appended. */
int hc_tok_chat(const struct hc_tokenizer *tok, const struct hc_chat_msg *msgs, size_t n_msgs,
		int add_generation_prompt, int32_t *ids, size_t cap, size_t *n_out);

#endif
