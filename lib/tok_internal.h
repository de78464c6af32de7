/* SPDX-License-Identifier: MIT */
/* Tokenizer internals shared by lib/tok_*.c: the loaded tokenizer, hash maps, helpers. */
#ifndef HC_TOK_INTERNAL_H
#define HC_TOK_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tokenizer.h"

#define HC_TOK_BLOB_MAGIC	"HCTK"
#define HC_TOK_BLOB_VERSION	1
#define HC_TOK_BLOB_HDR		72
#define HC_TOK_MAX_VOCAB	(1u << 24)
#define HC_TOK_MAX_MERGES	(1u << 24)
#define HC_TOK_MAX_TEXT		(1u << 24)	/* regex, chat template */
#define HC_TOK_MAX_PIECE	1024		/* bytes of one piece's text */

/* Blob flags. */
#define HC_TOKF_ADD_BOS		(1u << 0)
#define HC_TOKF_SPACE_PREFIX	(1u << 1)
#define HC_TOKF_IGNORE_MERGES	(1u << 2)
#define HC_TOKF_SCORES		(1u << 3)
#define HC_TOKF_ALL		0xfu

/* Llama 3's pre-tokenizer split (tokenizer.json pre_tokenizer, "Isolated"). */
extern const char hc_tok_llama3_regex[];

/* String -> id map (open addressing over borrowed bytes); first insert of a key wins. */
struct hc_strmap {
	uint32_t *slots;	/* id + 1, 0 = empty */
	uint32_t mask;
	const char *const *keys;	/* keys[id], lens[id]: borrowed */
	const uint32_t *lens;
};
int hc_strmap_init(struct hc_strmap *m, uint32_t n);
void hc_strmap_free(struct hc_strmap *m);
/* Returns 1 if inserted, 0 if the key was already present. */
int hc_strmap_put(struct hc_strmap *m, uint32_t id);
int32_t hc_strmap_get(const struct hc_strmap *m, const char *s, size_t len);

/* (left, right) id pair -> merge rank and result id. */
struct hc_pairmap {
	uint64_t *keys;		/* (left << 32 | right) + 1, 0 = empty */
	uint32_t *rank;
	int32_t *result;
	uint32_t mask;
};
int hc_pairmap_init(struct hc_pairmap *m, uint32_t n);
void hc_pairmap_free(struct hc_pairmap *m);
/* Returns 1 if inserted, 0 if present (the earlier, lower rank wins). */
int hc_pairmap_put(struct hc_pairmap *m, uint32_t l, uint32_t r, uint32_t rank, int32_t result);
bool hc_pairmap_get(const struct hc_pairmap *m, uint32_t l, uint32_t r, uint32_t *rank,
		    int32_t *result);

struct pcre2_real_code_8;

struct hc_tokenizer {
	uint32_t kind, n_vocab, n_merges, flags, chat_format;
	int32_t bos, eos, eot, unk, pad;
	const char **piece;	/* piece text as in the source (▁, Ġ forms), NUL-terminated */
	uint32_t *piece_len;
	const char **raw;	/* decoded bytes of each token */
	uint32_t *raw_len;
	uint8_t *type;
	float *score;		/* SPM */
	uint32_t (*merge)[2];	/* BPE, by rank */
	char *regex;
	char *chat_template;
	struct hc_strmap vocab;
	struct hc_pairmap merges;
	int32_t byte_tok[256];	/* SPM <0xNN> or BPE byte symbol, -1 if absent */
	/* Specials matched in text: per first byte, ids longest first. */
	uint32_t *special_ids;
	uint32_t special_start[257];
	uint32_t max_piece;
	int32_t xstop[8];	/* extra stop ids from the blob */
	uint32_t n_xstop;
	int32_t stop[16];	/* all stop ids, deduplicated */
	uint32_t n_stop;
	struct pcre2_real_code_8 *re;
	char *mem;		/* one allocation holding texts */
};

/* Growable id vector. */
struct hc_idvec {
	int32_t *v;
	size_t n, cap;
};
int hc_idvec_push(struct hc_idvec *iv, int32_t id);

/* UTF-8 helpers. */
/* Length of the valid UTF-8 sequence at @s (at most @n bytes), or 0 if invalid. */
size_t hc_utf8_valid_len(const uint8_t *s, size_t n);
bool hc_utf8_valid(const char *s, size_t n);
size_t hc_utf8_put(uint32_t cp, char *out);

/* GPT-2 bytes_to_unicode: code point for byte @b, and the inverse (-1 if none). */
uint32_t hc_gpt2_byte_cp(uint8_t b);
int hc_gpt2_cp_byte(uint32_t cp);

/* Parse "<0xNN>" exactly; -1 if @s is not a byte token text. */
int hc_tok_parse_byte_piece(const char *s, size_t len);

/* Encoders of one plain-text fragment (no special tokens inside). */
int hc_spm_encode(const struct hc_tokenizer *tok, const char *text, size_t len, bool prefix,
		  struct hc_idvec *out);
int hc_bpe_encode(const struct hc_tokenizer *tok, const char *text, size_t len,
		  struct hc_idvec *out);
int hc_bpe_compile(struct hc_tokenizer *tok, char *err, size_t errlen);
void hc_bpe_release(struct hc_tokenizer *tok);

/* Full encode into a vector (special-token split, then fragments). */
int hc_tok_encode_vec(const struct hc_tokenizer *tok, const char *text, size_t len,
		      unsigned flags, struct hc_idvec *out);

/* SentencePiece-style tokenizer.json (lib/tok_hf_spm.c). */
struct json_t;
/* Is @root SPM-style? Checks its normalizer / pre-tokenizer; -EINVAL with @why if odd. */
int hc_hf_spm_detect(struct json_t *root, bool *spm, bool *prefix, const char **why);
/* Turn a parsed BPE spec (pieces, types, merges) into an SPM one with scores. */
int hc_hf_spm_finish(struct hc_tok_spec *s, struct json_t *model, bool prefix, char *why,
		     size_t whylen);

/* Spec helpers. */
struct hc_tok_spec *hc_tok_spec_alloc(uint32_t kind, uint32_t n_vocab, bool scores);
void hc_tok_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* zlib CRC-32; start with @crc = 0, continue with the previous result. */
uint32_t hc_crc32(uint32_t crc, const void *p, size_t n);

#endif
