/* SPDX-License-Identifier: MIT */
/*
 * Tokenizers shared by hc-bake, the emulator and libhc: SentencePiece-style BPE
 * (llama2.c, GGUF "llama") and Llama 3 byte-level BPE (GGUF "gpt2", tokenizer.json).
 *
 * A tokenizer lives in a ROM as a self-contained blob (docs/rom-format.md): built by
 * hc-bake from a struct hc_tok_spec, loaded by everyone else with hc_tok_load().
 * All functions return 0 or a negative errno; those taking @err write one line there.
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

/* Builder side: a plain description that hc-bake fills from any source, then serialises. */
struct hc_tok_spec {
	uint32_t kind;		/* enum hc_tok_kind */
	uint32_t n_vocab;
	char   **pieces;	/* n_vocab NUL-terminated UTF-8 strings (as in the source file) */
	float   *scores;	/* n_vocab, or NULL (BPE) */
	uint8_t *types;		/* n_vocab enum hc_tok_type, or NULL: derived */
	uint32_t n_merges;
	char   **merges;	/* BPE: "left right" per rank, or NULL (SPM) */
	int32_t  bos_id, eos_id, eot_id, unk_id, pad_id;	/* -1 when absent */
	uint32_t add_bos;	/* the model expects BOS before text */
	uint32_t add_space_prefix;	/* SPM dummy prefix */
	char    *pretok_regex;	/* BPE pre-tokenizer split regex (PCRE2), or NULL: Llama 3's */
	char    *chat_template;	/* Jinja text as shipped, or NULL; kept for reference */
	uint32_t chat_format;	/* enum hc_chat_format */
	/* BPE: a pre-token that is already a vocab entry is not split (Llama 3 / HF
	 * "ignore_merges"). Also implied when pretok_regex is NULL (Llama 3's). */
	uint32_t ignore_merges;
	/* More end-of-generation ids (e.g. config.json's eos_token_id list): the first n. */
	uint32_t n_extra_stop;
	int32_t  extra_stop[8];
};
/*
 * Pieces: SPM pieces use "▁" for space and "<0xNN>" for byte tokens (sentencepiece/GGUF
 * form); BPE pieces use the GPT-2 byte-to-unicode form ("Ġ"); special tokens their text.
 * hc_tok_spec_free() frees every pointer member with free(): fill them from malloc.
 */

enum hc_chat_format {
	HC_CHAT_NONE = 0,
	HC_CHAT_LLAMA3 = 1,	/* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
	HC_CHAT_LLAMA2 = 2,	/* [INST] ... [/INST] */
	HC_CHAT_LLAMA31 = 3,	/* LLAMA3 plus the 3.1 system header ("Cutting Knowledge Date") */
};

/* Sources. Each allocates a spec to be freed with hc_tok_spec_free(). */
int hc_tok_spec_from_llama2c(const char *path, uint32_t vocab_size, struct hc_tok_spec **out,
			     char *err, size_t errlen);
/*
 * @config_path (tokenizer_config.json) may be NULL. eos_token_id of generation_config.json
 * and config.json next to tokenizer.json, when present, become extra stop ids.
 */
int hc_tok_spec_from_hf(const char *tokenizer_json_path, const char *config_path,
			struct hc_tok_spec **out, char *err, size_t errlen);
/* The project's built-in tokenizer for synthetic models: every token is valid UTF-8. */
int hc_tok_spec_builtin(uint32_t vocab_size, struct hc_tok_spec **out, char *err, size_t errlen);
void hc_tok_spec_free(struct hc_tok_spec *spec);

/* Serialise to a malloc'ed blob for the ROM. */
int hc_tok_spec_serialize(const struct hc_tok_spec *spec, void **blob, size_t *len);

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
