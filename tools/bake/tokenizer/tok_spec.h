/* SPDX-License-Identifier: MIT */
/*
 * hc-bake's tokenizer importers (tools/bake/tokenizer): a struct hc_tok_spec filled from
 * llama2.c's tokenizer.bin, Hugging Face's tokenizer.json (jansson) or the built-in
 * tokenizer, then serialised to the blob that lib/tokenizer loads (tok_blob.h).
 */
#ifndef HC_TOK_SPEC_H
#define HC_TOK_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tokenizer.h"

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

/* An empty spec of @n_vocab pieces (and scores); NULL without memory. */
struct hc_tok_spec *hc_tok_spec_alloc(uint32_t kind, uint32_t n_vocab, bool scores);

/* SentencePiece-style tokenizer.json (tools/bake/tokenizer/tok_hf_spm.c). */
struct json_t;
/* Is @root SPM-style? Checks its normalizer / pre-tokenizer; -EINVAL with @why if odd. */
int hc_hf_spm_detect(struct json_t *root, bool *spm, bool *prefix, const char **why);
/* Turn a parsed BPE spec (pieces, types, merges) into an SPM one with scores. */
int hc_hf_spm_finish(struct hc_tok_spec *s, struct json_t *model, bool prefix, char *why,
		     size_t whylen);

#endif
